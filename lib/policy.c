/* policy.c — the broker's access policy and pattern algebra. See policy.h.
 *
 * Rules are kept as written ({id} unexpanded) in file order; every query
 * expands {id} with the asking partner's id into a stack buffer and tests
 * the result. Nothing is cached per partner, so a policy object never
 * changes after load and needs no lock.
 *
 * Pattern algebra works on lengths: a pattern matches topics of one length
 * (no '>') or of every length from its fixed tokens + 1 up to
 * KNOOP_TOPIC_DEPTH ('>'). At one length both patterns are rows of
 * literals and wildcards, where containment and intersection are a
 * token-by-token comparison. Tokens come from an alphabet far larger than
 * any policy, so a wildcard is never covered by a set of literals.
 */
#include "policy.h"
#include "file.h"
#include "topic.h"
#include "keys.h"      /* knoop_role_valid: a role names what a certificate carries */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POLICY_ID_TOKEN     "{id}"
/* Load-time stand-in for {id}: the shortest id, so that the check refuses
 * only what no partner could use. */
#define POLICY_PLACEHOLDER  "x"
/* A raw pattern: at most KNOOP_TOPIC_MAX once each {id} (4 bytes) became
 * the 1-byte placeholder, and there are at most KNOOP_TOPIC_DEPTH of them. */
#define POLICY_PATTERN_MAX  (KNOOP_TOPIC_MAX + 3 * KNOOP_TOPIC_DEPTH)
/* How much of a field from the file we quote in an error. */
#define POLICY_QUOTE_MAX    64
/* Read the file in pieces of this size (files are small; no stat trust). */

typedef enum { WHO_ANY, WHO_ID, WHO_ROLE } s_who_t;
typedef enum { VERB_PUBLISH, VERB_SUBSCRIBE, VERB_SPEAK_FOR } s_verb_t;

typedef struct {
    s_who_t  who;
    s_verb_t verb;
    bool     has_id;                          /* pattern holds {id} */
    char     name[KNOOP_ID_MAX + 1];          /* partner id or role name */
    char     pattern[POLICY_PATTERN_MAX + 1]; /* as written */
} s_rule_t;

struct knoop_policy_t {
    s_rule_t *rules;
    size_t    size;
    size_t    cap;
};

/* ------------------------------------------------------------------ */
/* bounded text output: error texts and refusal reasons
 *
 * Everything written here may end in a log line or on a partner's screen,
 * so text from a file or the network is quoted through s_out_quote, which
 * replaces anything unprintable: it cannot forge lines or send escapes.
 * Overflow never writes past the buffer; it ends the text with "...". */

typedef struct {
    char  *buf;
    size_t size;
    size_t len;          /* buf[len] == '\0' whenever size > 0 */
    bool   full;
} s_out_t;

static void s_out_init(s_out_t *o, char *buf, size_t size)
{
    o->buf = buf;
    o->size = buf ? size : 0;
    o->len = 0;
    o->full = false;
    if (o->size > 0)
        o->buf[0] = '\0';
}

/* Mark the text as cut: the reader must see that something is missing. */
static void s_out_cut(s_out_t *o)
{
    o->full = true;
    o->len = o->size - 1;
    if (o->size >= 4)
        memcpy(o->buf + o->size - 4, "...", 4);
    else
        o->buf[o->size - 1] = '\0';
}

static void s_out_char(s_out_t *o, char c)
{
    if (o->size == 0 || o->full)
        return;
    if (o->len + 1 >= o->size) {
        s_out_cut(o);
        return;
    }
    o->buf[o->len++] = c;
    o->buf[o->len] = '\0';
}

static void s_out_fmt(s_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_out_fmt(s_out_t *o, const char *fmt, ...)
{
    if (o->size == 0 || o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= o->size - o->len)
        s_out_cut(o);
    else
        o->len += (size_t) n;
}

/* Untrusted text, made printable and clipped to `clip` characters. */
static void s_out_quote(s_out_t *o, const char *text, size_t clip)
{
    for (size_t i = 0; text[i]; i++) {
        if (i == clip) {
            s_out_fmt(o, "...");
            return;
        }
        char c = text[i];
        s_out_char(o, (c >= 0x20 && c < 0x7f) ? c : '?');
    }
}

/* ------------------------------------------------------------------ */
/* rules */

static bool s_rule_applies(const s_rule_t *r, s_verb_t verb, const char *id, const char *role)
{
    if (r->verb != verb)
        return false;
    switch (r->who) {
    case WHO_ANY:  return true;
    case WHO_ID:   return strcmp(r->name, id) == 0;
    case WHO_ROLE: return role && strcmp(r->name, role) == 0;
    }
    return false;
}

/* The rule's pattern for partner `id` (a valid id): r->pattern itself, or
 * buf with each {id} token replaced. NULL when the expansion is longer than
 * any topic can be: such a rule then matches nothing for this partner. */
static const char *s_expand(const s_rule_t *r, const char *id, char buf[KNOOP_TOPIC_MAX + 1])
{
    if (!r->has_id)
        return r->pattern;
    size_t id_len = strlen(id);
    size_t n = 0;
    const char *p = r->pattern;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t tl = dot ? (size_t) (dot - p) : strlen(p);
        const char *src = p;
        size_t sl = tl;
        if (tl == 4 && memcmp(p, POLICY_ID_TOKEN, 4) == 0) {
            src = id;
            sl = id_len;
        }
        if (n + sl + (dot ? 1 : 0) > KNOOP_TOPIC_MAX)
            return NULL;
        memcpy(buf + n, src, sl);
        n += sl;
        if (!dot)
            break;
        buf[n++] = '.';
        p = dot + 1;
    }
    buf[n] = '\0';
    return buf;
}

/* ------------------------------------------------------------------ */
/* parsing */

typedef struct {
    const char *name;        /* file name for errors */
    unsigned    line;        /* 0: about the whole input */
    s_out_t     err;
} s_ctx_t;

/* Start the error text "policy NAME:LINE: what" and return rc. Callers with
 * specifics (a quoted field, a number) append them to ctx->err after. */
static int s_fail(s_ctx_t *ctx, int rc, const char *what)
{
    s_out_init(&ctx->err, ctx->err.buf, ctx->err.size);
    s_out_fmt(&ctx->err, "policy ");
    s_out_quote(&ctx->err, ctx->name, SIZE_MAX);
    if (ctx->line > 0)
        s_out_fmt(&ctx->err, ":%u", ctx->line);
    s_out_fmt(&ctx->err, ": %s", what);
    return rc;
}

/* Why `s` (no {id} in it any more) is not a valid pattern, in words; the
 * authority stays knoop_pattern_validate, this only explains. */
static void s_explain_pattern(s_out_t *o, const char *s)
{
    size_t len = strlen(s);
    if (len == 0) {
        s_out_fmt(o, "empty");
        return;
    }
    if (len > KNOOP_TOPIC_MAX) {
        s_out_fmt(o, "longer than %d bytes", KNOOP_TOPIC_MAX);
        return;
    }
    /* "alert.>#why" is a comment the author forgot to space off. */
    if (strchr(s, '#')) {
        s_out_fmt(o, "'#' starts a comment only after whitespace");
        return;
    }
    int depth = 0;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t tl = dot ? (size_t) (dot - p) : strlen(p);
        if (tl == 0) {
            s_out_fmt(o, "empty token (a doubled dot, or a dot at either end)");
            return;
        }
        if (tl > KNOOP_TOKEN_MAX) {
            s_out_fmt(o, "a token is longer than %d bytes", KNOOP_TOKEN_MAX);
            return;
        }
        if (++depth > KNOOP_TOPIC_DEPTH) {
            s_out_fmt(o, "more than %d tokens", KNOOP_TOPIC_DEPTH);
            return;
        }
        if (tl == 1 && *p == '>' && dot) {
            s_out_fmt(o, "'>' must be the last token");
            return;
        }
        if (!(tl == 1 && (*p == '*' || *p == '>'))) {
            for (size_t i = 0; i < tl; i++) {
                char c = p[i];
                if (knoop_name_char(c))
                    continue;
                if (c == '*' || c == '>')
                    s_out_fmt(o, "wildcard '%c' must be a whole token", c);
                else if (c > 0x20 && c < 0x7f)
                    s_out_fmt(o, "character '%c' is not allowed (tokens use a-z 0-9 _ -)", c);
                else
                    s_out_fmt(o, "byte 0x%02x is not allowed (tokens use a-z 0-9 _ -)",
                              (unsigned) (unsigned char) c);
                return;
            }
        }
        if (!dot)
            break;
        p = dot + 1;
    }
    s_out_fmt(o, "not a valid pattern");
}

static int s_parse_who(s_ctx_t *ctx, const char *field, s_rule_t *r)
{
    if (strcmp(field, "*") == 0) {
        r->who = WHO_ANY;
        return KNOOP_OK;
    }
    if (strncmp(field, "role:", 5) == 0) {
        if (!knoop_role_valid(field + 5)) {
            s_fail(ctx, KNOOP_EMALFORMED, "bad role '");
            s_out_quote(&ctx->err, field, POLICY_QUOTE_MAX);
            s_out_fmt(&ctx->err, "' (role:NAME, NAME 1..%d of a-z 0-9 _ -)", KNOOP_ROLE_MAX);
            return KNOOP_EMALFORMED;
        }
        r->who = WHO_ROLE;
        snprintf(r->name, sizeof r->name, "%s", field + 5);
        return KNOOP_OK;
    }
    if (!knoop_id_valid(field)) {
        s_fail(ctx, KNOOP_EMALFORMED, "bad partner '");
        s_out_quote(&ctx->err, field, POLICY_QUOTE_MAX);
        s_out_fmt(&ctx->err, "' (a partner id of a-z 0-9 - such as vr-utrecht, "
                  "role:NAME, or * for everyone)");
        return KNOOP_EMALFORMED;
    }
    r->who = WHO_ID;
    snprintf(r->name, sizeof r->name, "%s", field);
    return KNOOP_OK;
}

static int s_parse_verb(s_ctx_t *ctx, const char *field, s_rule_t *r)
{
    if (strcmp(field, "publish") == 0)
        r->verb = VERB_PUBLISH;
    else if (strcmp(field, "subscribe") == 0)
        r->verb = VERB_SUBSCRIBE;
    else if (strcmp(field, "speak-for") == 0)
        r->verb = VERB_SPEAK_FOR;
    else {
        s_fail(ctx, KNOOP_EMALFORMED, "unknown verb '");
        s_out_quote(&ctx->err, field, POLICY_QUOTE_MAX);
        s_out_fmt(&ctx->err, "' (publish, subscribe or speak-for)");
        return KNOOP_EMALFORMED;
    }
    return KNOOP_OK;
}

static int s_parse_pattern(s_ctx_t *ctx, const char *field, s_rule_t *r)
{
    /* Braces anywhere but a whole {id} token would otherwise surface as a
     * bare "character '{'" complaint; say what the author most likely
     * meant instead. */
    r->has_id = false;
    const char *p = field;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t tl = dot ? (size_t) (dot - p) : strlen(p);
        bool whole = tl == 4 && memcmp(p, POLICY_ID_TOKEN, 4) == 0;
        if (whole)
            r->has_id = true;
        else if (memchr(p, '{', tl) || memchr(p, '}', tl)) {
            s_fail(ctx, KNOOP_EMALFORMED, "bad pattern '");
            s_out_quote(&ctx->err, field, POLICY_QUOTE_MAX);
            s_out_fmt(&ctx->err, "': {id} must be a whole token, as in grip.{id}.>, "
                      "and is the only placeholder");
            return KNOOP_EMALFORMED;
        }
        if (!dot)
            break;
        p = dot + 1;
    }
    if (strlen(field) > POLICY_PATTERN_MAX) {
        s_fail(ctx, KNOOP_EMALFORMED, "bad pattern '");
        s_out_quote(&ctx->err, field, POLICY_QUOTE_MAX);
        s_out_fmt(&ctx->err, "': longer than %d bytes", KNOOP_TOPIC_MAX);
        return KNOOP_EMALFORMED;
    }
    snprintf(r->pattern, sizeof r->pattern, "%s", field);

    char buf[KNOOP_TOPIC_MAX + 1];
    const char *expanded = s_expand(r, POLICY_PLACEHOLDER, buf);
    if (!expanded || knoop_pattern_validate(expanded) != KNOOP_OK) {
        s_fail(ctx, KNOOP_EMALFORMED, "bad pattern '");
        s_out_quote(&ctx->err, field, POLICY_QUOTE_MAX);
        s_out_fmt(&ctx->err, "': ");
        if (expanded)
            s_explain_pattern(&ctx->err, expanded);
        else
            s_out_fmt(&ctx->err, "longer than %d bytes", KNOOP_TOPIC_MAX);
        return KNOOP_EMALFORMED;
    }
    return KNOOP_OK;
}

static int s_add_rule(s_ctx_t *ctx, knoop_policy_t *self, const s_rule_t *r)
{
    if (self->size == KNOOP_POLICY_RULES_MAX) {
        s_fail(ctx, KNOOP_ETOOBIG, "");
        s_out_fmt(&ctx->err, "more than %d rules", KNOOP_POLICY_RULES_MAX);
        return KNOOP_ETOOBIG;
    }
    if (self->size == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        if (cap > KNOOP_POLICY_RULES_MAX)
            cap = KNOOP_POLICY_RULES_MAX;
        s_rule_t *rules = realloc(self->rules, cap * sizeof *rules);
        if (!rules)
            return s_fail(ctx, KNOOP_ENOMEM, "out of memory");
        self->rules = rules;
        self->cap = cap;
    }
    self->rules[self->size++] = *r;
    return KNOOP_OK;
}

static bool s_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* One line, NUL-terminated and writable (fields are cut in place). */
static int s_parse_line(s_ctx_t *ctx, knoop_policy_t *self, char *line)
{
    for (char *c = line; *c; c++) {
        unsigned char u = (unsigned char) *c;
        if ((u < 0x20 && !s_space(*c)) || u == 0x7f) {
            s_fail(ctx, KNOOP_EMALFORMED, "");
            s_out_fmt(&ctx->err, "control character 0x%02x", u);
            return KNOOP_EMALFORMED;
        }
    }
    char *field[3];
    int nf = 0;
    char *p = line;
    for (;;) {
        while (s_space(*p))
            p++;
        if (*p == '\0' || *p == '#')
            break;
        if (nf == 3)
            return s_fail(ctx, KNOOP_EMALFORMED, "too many fields: expected WHO VERB PATTERN "
                          "(a comment starts with #)");
        field[nf++] = p;
        while (*p && !s_space(*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    if (nf == 0)
        return KNOOP_OK;
    if (nf < 3)
        return s_fail(ctx, KNOOP_EMALFORMED, nf == 1
                      ? "missing VERB and PATTERN: expected WHO VERB PATTERN"
                      : "missing PATTERN: expected WHO VERB PATTERN");
    s_rule_t r;
    memset(&r, 0, sizeof r);
    int rc = s_parse_who(ctx, field[0], &r);
    if (rc == KNOOP_OK)
        rc = s_parse_verb(ctx, field[1], &r);
    if (rc == KNOOP_OK)
        rc = s_parse_pattern(ctx, field[2], &r);
    if (rc == KNOOP_OK)
        rc = s_add_rule(ctx, self, &r);
    return rc;
}

/* Parse `len` bytes of text (NUL bytes included, which are refused). */
static int s_parse(const char *text, size_t len, const char *name,
                   knoop_policy_t **out, char *err, size_t err_size)
{
    s_ctx_t ctx = { .name = name ? name : "(text)", .line = 0 };
    s_out_init(&ctx.err, err, err_size);
    *out = NULL;
    if (len > KNOOP_POLICY_FILE_MAX) {
        s_fail(&ctx, KNOOP_ETOOBIG, "");
        s_out_fmt(&ctx.err, "larger than %u bytes", KNOOP_POLICY_FILE_MAX);
        return KNOOP_ETOOBIG;
    }
    knoop_policy_t *self = calloc(1, sizeof *self);
    if (!self)
        return s_fail(&ctx, KNOOP_ENOMEM, "out of memory");

    char line[KNOOP_POLICY_LINE_MAX + 1];
    size_t pos = 0;
    int rc = KNOOP_OK;
    while (rc == KNOOP_OK && pos < len) {
        ctx.line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t ll = nl ? (size_t) (nl - start) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll > KNOOP_POLICY_LINE_MAX) {
            s_fail(&ctx, KNOOP_EMALFORMED, "");
            s_out_fmt(&ctx.err, "line longer than %d bytes", KNOOP_POLICY_LINE_MAX);
            rc = KNOOP_EMALFORMED;
            break;
        }
        if (memchr(start, '\0', ll)) {
            rc = s_fail(&ctx, KNOOP_EMALFORMED, "NUL byte; not a policy text file");
            break;
        }
        memcpy(line, start, ll);
        line[ll] = '\0';
        rc = s_parse_line(&ctx, self, line);
    }
    if (rc != KNOOP_OK) {
        knoop_policy_destroy(&self);
        return rc;
    }
    *out = self;
    return KNOOP_OK;
}

int knoop_policy_parse(const char *text, const char *name_for_errors,
                       knoop_policy_t **out, char *err, size_t err_size)
{
    assert(text);
    assert(out);
    /* Bounded scan: a huge text is refused without reading all of it. */
    size_t len = strnlen(text, (size_t) KNOOP_POLICY_FILE_MAX + 1);
    return s_parse(text, len, name_for_errors, out, err, err_size);
}

int knoop_policy_load(const char *path, knoop_policy_t **out, char *err, size_t err_size)
{
    assert(path);
    assert(out);
    *out = NULL;
    s_ctx_t ctx = { .name = path, .line = 0 };
    s_out_init(&ctx.err, err, err_size);

    /* A directory or a FIFO is a configuration mistake (a FIFO would also
     * block the broker's start forever): file.h refuses both. A NUL byte is
     * left to the parser, which names its line. */
    knoop_buf_t data = { 0 };
    char why[160];
    int rc = knoop_file_read(path, KNOOP_POLICY_FILE_MAX, 0, &data, why, sizeof why);
    if (rc)
        s_fail(&ctx, rc, why);
    else
        rc = s_parse((const char *) data.data, data.len, path, out, err, err_size);
    knoop_buf_free(&data);
    return rc;
}

void knoop_policy_destroy(knoop_policy_t **self_p)
{
    assert(self_p);
    knoop_policy_t *self = *self_p;
    if (!self)
        return;
    free(self->rules);
    free(self);
    *self_p = NULL;
}

size_t knoop_policy_rules(const knoop_policy_t *self)
{
    assert(self);
    return self->size;
}

/* ------------------------------------------------------------------ */
/* queries */

static bool s_may(const knoop_policy_t *self, s_verb_t verb, const char *id,
                  const char *role, const char *topic)
{
    assert(self);
    if (!knoop_id_valid(id) || knoop_topic_validate(topic) != KNOOP_OK)
        return false;
    char buf[KNOOP_TOPIC_MAX + 1];
    for (size_t i = 0; i < self->size; i++) {
        const s_rule_t *r = &self->rules[i];
        if (!s_rule_applies(r, verb, id, role))
            continue;
        const char *pattern = s_expand(r, id, buf);
        if (pattern && knoop_topic_match(pattern, topic))
            return true;
    }
    return false;
}

bool knoop_policy_may_publish(const knoop_policy_t *self, const char *id,
                              const char *role, const char *topic)
{
    return s_may(self, VERB_PUBLISH, id, role, topic);
}

bool knoop_policy_may_read(const knoop_policy_t *self, const char *id,
                           const char *role, const char *topic)
{
    return s_may(self, VERB_SUBSCRIBE, id, role, topic);
}

bool knoop_policy_may_speak_for(const knoop_policy_t *self, const char *id,
                                const char *role, const char *other)
{
    if (id && other && strcmp(id, other) == 0)
        return knoop_id_valid(id);
    /* A partner id is a one-token topic: the rule's pattern matches it. */
    return knoop_id_valid(other) && s_may(self, VERB_SPEAK_FOR, id, role, other);
}

/* Is `item` already in the ", "-separated list o->buf[start..len]? Patterns
 * hold neither ',' nor ' ', so the split is exact. */
static bool s_listed(const s_out_t *o, size_t start, const char *item)
{
    size_t il = strlen(item);
    const char *p = o->buf + start;
    const char *end = o->buf + o->len;
    while (p < end) {
        const char *sep = strstr(p, ", ");
        const char *e = sep ? sep : end;
        if ((size_t) (e - p) == il && memcmp(p, item, il) == 0)
            return true;
        if (!sep)
            break;
        p = sep + 2;
    }
    return false;
}

/* Append what partner id may publish on / read, each pattern once, in file
 * order; stop at the end of the buffer so a huge policy costs no more than
 * the reason can show. */
static void s_list_allowed(const knoop_policy_t *self, s_out_t *o, s_verb_t verb,
                           const char *id, const char *role)
{
    size_t start = o->len;
    bool any = false;
    size_t too_long = 0;
    char buf[KNOOP_TOPIC_MAX + 1];
    for (size_t i = 0; i < self->size && !o->full; i++) {
        const s_rule_t *r = &self->rules[i];
        if (!s_rule_applies(r, verb, id, role))
            continue;
        const char *pattern = s_expand(r, id, buf);
        if (!pattern) {
            too_long++;
            continue;
        }
        if (s_listed(o, start, pattern))
            continue;
        s_out_fmt(o, "%s%s", any ? ", " : "", pattern);
        any = true;
    }
    if (!any && too_long) {
        /* Rules name it, but its id is too long for them: say so, or the
         * operator hunts for a missing rule that is there. */
        s_out_fmt(o, "nothing (with its id, %zu %s longer than %d bytes)", too_long,
                  too_long == 1 ? "rule's pattern is" : "rules' patterns are", KNOOP_TOPIC_MAX);
    } else if (!any) {
        s_out_fmt(o, "nothing (no %s rule names %s, ",
                  verb == VERB_PUBLISH ? "publish" : "subscribe", id);
        if (role) {
            s_out_fmt(o, "role:");
            s_out_quote(o, role, POLICY_QUOTE_MAX);
            s_out_fmt(o, " or *)");
        } else {
            s_out_fmt(o, "its role (it has none) or *)");
        }
    }
}

/* Start a reason in (reason, reason_size). False when the id itself is
 * unusable: the reason then says so, and nothing else can be said. */
static bool s_reason_begin(s_out_t *o, char *reason, size_t reason_size, const char *id)
{
    s_out_init(o, reason, reason_size);
    if (knoop_id_valid(id))
        return true;
    s_out_fmt(o, "policy: '");
    s_out_quote(o, id ? id : "(null)", POLICY_QUOTE_MAX);
    s_out_fmt(o, "' is not a valid partner id; it may do nothing");
    return false;
}

int knoop_policy_check_subscription(const knoop_policy_t *self, const char *id,
                                    const char *role, const char *pattern,
                                    char *reason, size_t reason_size)
{
    assert(self);
    s_out_t o;
    if (!s_reason_begin(&o, reason, reason_size, id))
        return KNOOP_EPERM;
    knoop_pattern_t want;
    if (!knoop_pattern_parse(pattern, &want)) {
        s_out_fmt(&o, "policy: %s may not subscribe to '", id);
        s_out_quote(&o, pattern ? pattern : "(null)", POLICY_QUOTE_MAX);
        s_out_fmt(&o, "': not a valid pattern (");
        if (pattern)
            s_explain_pattern(&o, pattern);
        s_out_fmt(&o, ")");
        return KNOOP_ETOPIC;
    }
    /* One bit per topic length the request matches; each allowed pattern
     * clears the lengths it covers. Several patterns may share the work
     * (grip.* and grip.*.> cover grip.>), but at one length a single
     * pattern must cover on its own (see the top of this file). */
    uint32_t open = 0;
    for (int len = knoop_pattern_min(&want); len <= knoop_pattern_max(&want); len++)
        open |= 1u << len;
    char buf[KNOOP_TOPIC_MAX + 1];
    for (size_t i = 0; i < self->size && open; i++) {
        const s_rule_t *r = &self->rules[i];
        if (!s_rule_applies(r, VERB_SUBSCRIBE, id, role))
            continue;
        knoop_pattern_t have;
        const char *expanded = s_expand(r, id, buf);
        if (!expanded || !knoop_pattern_parse(expanded, &have))
            continue;
        for (int len = knoop_pattern_min(&want); len <= knoop_pattern_max(&want); len++)
            if ((open & (1u << len)) && knoop_pattern_covers_at(&have, &want, len))
                open &= ~(1u << len);
    }
    if (!open)
        return KNOOP_OK;
    s_out_fmt(&o, "policy: %s may not subscribe to '%s'; it may read: ", id, pattern);
    s_list_allowed(self, &o, VERB_SUBSCRIBE, id, role);
    return KNOOP_EPERM;
}

void knoop_policy_explain_publish(const knoop_policy_t *self, const char *id,
                                  const char *role, const char *topic,
                                  char *reason, size_t reason_size)
{
    assert(self);
    s_out_t o;
    if (!s_reason_begin(&o, reason, reason_size, id))
        return;
    if (knoop_topic_validate(topic) != KNOOP_OK) {
        s_out_fmt(&o, "policy: %s may not publish on '", id);
        s_out_quote(&o, topic ? topic : "(null)", POLICY_QUOTE_MAX);
        s_out_fmt(&o, "': not a valid topic; it may publish on: ");
    } else if (s_may(self, VERB_PUBLISH, id, role, topic)) {
        s_out_fmt(&o, "policy: %s may publish on %s", id, topic);
        return;
    } else {
        s_out_fmt(&o, "policy: %s may not publish on %s; it may publish on: ", id, topic);
    }
    s_list_allowed(self, &o, VERB_PUBLISH, id, role);
}
