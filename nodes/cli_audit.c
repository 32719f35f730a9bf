/* cli_audit.c — `knoop audit verify|replay|digest`: what an auditor runs on
 * a journal (a live one, read-only, or a copy). */
#include "cli.h"
#include "json.h"
#include "audit.h"
#include "crypto.h"
#include "hlc.h"
#include "journal.h"
#include "keys.h"
#include "msg_json.h"
#include "topic.h"
#include "trust_mesh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const knoop_cmd_t s_cmd_verify = {
    .prog = "knoop audit verify",
    .section = "audit-verify",
    .summary = "prove a journal intact and signed by its origins",
    .description =
"Walks every stream of the journal from seq 1: each message must parse,\n"
"link to the one before (prev = BLAKE2b-256 chain), and the chain at the\n"
"stream's high-water mark must equal the stored head. Every signed head\n"
"is checked against the origin's certificate in the trust store (expired\n"
"certificates count: they were valid when they signed). Prints one line\n"
"per stream with its verified part and its unverified tail (messages\n"
"after the last signed head), then a summary. Opens the journal\n"
"read-only; safe while a node or broker writes to it.\n"
"\n"
"--trust DIR is required to check signatures; --chains-only checks the\n"
"hash chains alone (and says so).",
    .exit_status =
"0 every stream intact, 1 a break, fork or bad signature (the line names\n"
"stream and seq) or a damaged message, 2 usage or read error, or a journal\n"
"that cannot be opened (truncated, or pages damaged: the log names them).",
    .examples = "knoop audit verify --journal /var/lib/knoop/node --trust /etc/knoop/trust",
};

static const knoop_opt_spec_t s_spec_verify[] = {
    { "journal", KNOOP_OPT_STRING, NULL, "DIR", "the journal directory (holds data.mdb)", true },
    { "trust", KNOOP_OPT_STRING, NULL, "DIR",
      "trust store: root and partner certificates (*.cert)", false },
    { "chains-only", KNOOP_OPT_BOOL, "false", NULL,
      "check hash chains only, no signatures", false },
    { "pattern", KNOOP_OPT_STRING, NULL, "P",
      "only streams whose topic matches P (e.g. 'grip.>')", false },
    { "quiet", KNOOP_OPT_BOOL, "false", NULL, "print only broken streams and the summary",
      false },
    { NULL },
};

static const knoop_cmd_t s_cmd_replay = {
    .prog = "knoop audit replay",
    .section = "audit-replay",
    .summary = "print a journal's messages as JSON, in HLC order",
    .description =
"Prints one JSON object per line: origin, topic, epoch, seq, hlc, time,\n"
"key, type, priority, status, tlp, signed, chain, and the payload decoded\n"
"from its protobuf type. Ordered by hybrid logical clock, then origin:\n"
"the order every partner agrees on. Messages stored beyond a gap in\n"
"their stream carry \"pending\": true.",
    .exit_status = "0 done, 2 usage or read error.",
    .examples = "knoop audit replay --journal kcr2/ --pattern 'grip.>' "
                "--since 2021-07-14T00:00:00Z",
};

static const knoop_opt_spec_t s_spec_replay[] = {
    { "journal", KNOOP_OPT_STRING, NULL, "DIR", "the journal directory", true },
    { "pattern", KNOOP_OPT_STRING, NULL, "P", "topic pattern ('*' one token, '>' the rest)",
      false },
    { "origin", KNOOP_OPT_STRING, NULL, "ID", "only messages of this partner", false },
    { "since", KNOOP_OPT_STRING, NULL, "TIME",
      "from this time on (RFC 3339 UTC, 2021-07-14T00:00:00Z)", false },
    { "until", KNOOP_OPT_STRING, NULL, "TIME", "before this time", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_digest = {
    .prog = "knoop audit digest",
    .section = "audit-digest",
    .summary = "the convergence digest of a journal",
    .description =
"BLAKE2b-256 over the sorted (stream, hwm, head) rows of every stream\n"
"whose topic matches P. Two journals print the same digest for a\n"
"pattern exactly when they hold the same messages on it: compare a\n"
"partner's journal with a broker's to prove they converged.",
    .exit_status = "0 done, 2 usage or read error.",
    .examples = "knoop audit digest --journal kcr2/ --pattern 'grip.>'",
};

static const knoop_opt_spec_t s_spec_digest[] = {
    { "journal", KNOOP_OPT_STRING, NULL, "DIR", "the journal directory", true },
    { "pattern", KNOOP_OPT_STRING, NULL, "P", "topic pattern (default '>': everything)",
      false },
    { "streams", KNOOP_OPT_BOOL, "false", NULL, "also print the per-stream rows", false },
    { "json", KNOOP_OPT_BOOL, "false", NULL, "print one JSON object instead of text", false },
    { NULL },
};

static const char s_help_audit[] =
"usage: knoop audit (verify|replay|digest) --journal DIR [OPTIONS]\n"
"       knoop audit SUBCOMMAND --help\n";

typedef struct {
    const char *journal, *trust, *pattern, *origin, *since, *until;
    bool streams, json, quiet, chains_only;
} audit_args_t;

/* The option of the verb's spec, or NULL / false where it has none. */
static const char *s_opt(const knoop_config_t *cfg, const knoop_opt_spec_t *spec,
                         const char *name)
{
    for (; spec->name; spec++)
        if (!strcmp(spec->name, name))
            return spec->kind == KNOOP_OPT_BOOL ? (knoop_config_bool(cfg, name) ? "" : NULL)
                                                : knoop_config_str(cfg, name);
    return NULL;
}

static int s_parse(const char *cmd, const knoop_config_t *cfg, const knoop_opt_spec_t *spec,
                   audit_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->journal = s_opt(cfg, spec, "journal");
    a->trust = s_opt(cfg, spec, "trust");
    a->pattern = s_opt(cfg, spec, "pattern");
    a->origin = s_opt(cfg, spec, "origin");
    a->since = s_opt(cfg, spec, "since");
    a->until = s_opt(cfg, spec, "until");
    a->streams = s_opt(cfg, spec, "streams") != NULL;
    a->json = s_opt(cfg, spec, "json") != NULL;
    a->quiet = s_opt(cfg, spec, "quiet") != NULL;
    a->chains_only = s_opt(cfg, spec, "chains-only") != NULL;
    if (a->pattern && knoop_pattern_validate(a->pattern) != KNOOP_OK) {
        fprintf(stderr, "knoop audit %s: invalid pattern '%s' (tokens of [a-z0-9_-], "
                "'*' for one token, '>' for the rest)\n", cmd, a->pattern);
        return 2;
    }
    return 0;
}

/* The journal, read-only; NULL when it cannot be opened. A journal whose
 * pages are damaged (KNOOP_ECORRUPT; the log names the page) is not read
 * at all: LMDB would follow the damage out of its map. */
static knoop_journal_t *s_open(const char *cmd, const char *path)
{
    knoop_journal_opts_t o = { .path = path, .flags = KNOOP_JOURNAL_READONLY };
    knoop_journal_t *j = NULL;
    int rc = knoop_journal_open(&o, &j);
    if (rc == KNOOP_ECORRUPT)
        fprintf(stderr, "knoop audit %s: journal %s is DAMAGED on disk (the damage is named "
                "above): it cannot be read safely, so none of it was read\n", cmd, path);
    else if (rc)
        fprintf(stderr, "knoop audit %s: cannot open journal %s: %s\n", cmd, path,
                knoop_strerror(rc));
    return j;
}

/* ---- verify ---- */

typedef struct {
    bool     quiet;
    size_t   done, total;
    uint64_t last_progress;
} verify_out_t;

static int s_verify_row(void *arg, const knoop_audit_stream_t *r)
{
    verify_out_t *o = arg;
    o->done++;
    if (r->error) {
        printf("BROKEN  %s %s epoch %016llx stream %016llx at seq %llu: %s\n",
               r->info.origin, r->info.topic, (unsigned long long) r->info.epoch,
               (unsigned long long) r->info.stream, (unsigned long long) r->error_seq,
               r->reason);
    } else if (!o->quiet) {
        printf("ok      %s %s epoch %016llx seq 1..%llu verified 1..%llu unverified tail %llu",
               r->info.origin, r->info.topic, (unsigned long long) r->info.epoch,
               (unsigned long long) r->info.hwm, (unsigned long long) r->verified,
               (unsigned long long) (r->checked - r->verified));
        if (r->pending)
            printf(" pending beyond gap %llu", (unsigned long long) r->pending);
        printf("\n");
    }
    uint64_t now = knoop_now_ms();
    if (now - o->last_progress > 2000) {
        fprintf(stderr, "knoop audit verify: %zu/%zu streams checked\n", o->done, o->total);
        o->last_progress = now;
    }
    return 0;
}

/* The certificates and revocations that travel with the data: follow the
 * trust topics of the journal into a scratch directory, each checked
 * against the roots of the auditor's trust directory, and reload the store
 * with them. An auditor holding only the root certificate then verifies
 * any journal (docs/protocol.md, Trust). */
/* Copy what a daemon learned (its DIR/trust) into the scratch directory,
 * so that a reload with what the journal carries keeps it. */
static void s_learn_file(void *arg, const knoop_cert_t *cert, const knoop_revlist_t *list)
{
    const char *to = arg;
    if (cert)
        knoop_trust_learn_cert(to, cert);
    else
        knoop_trust_learn_revocations(to, list);
}

static int s_learn_from_journal(const char *cmd, knoop_journal_t *j, const char *dir,
                                const char *learned, knoop_trust_t **trust)
{
    if (knoop_trust_roots(*trust) == 0)
        return KNOOP_OK;
    char path[4096];
    if (!cli_scratch_dir("audit-trust", path, sizeof path)) {
        fprintf(stderr, "knoop audit %s: cannot make a scratch directory: %s\n", cmd,
                strerror(errno));
        return KNOOP_EIO;
    }
    cli_trust_dir_each(learned, s_learn_file, path);
    knoop_u64map_t applied = { 0 };
    int rc = 0;
    /* Twice: a revocation list may need a certificate learned in pass one
     * only in principle; certs and lists are independent, but a second pass
     * is cheap and makes the order of streams irrelevant. */
    for (int pass = 0; pass < 2 && rc >= 0; pass++) {
        rc = knoop_trust_follow(j, &applied, *trust, path, 0);
        if (rc > 0) {
            knoop_trust_t *t = NULL;
            int lrc = knoop_trust_load_ex(dir, path, KNOOP_TRUST_KEEP_EXPIRED, &t);
            if (lrc == KNOOP_OK) {
                knoop_trust_destroy(trust);
                *trust = t;
            }
            knoop_u64map_clear(&applied);
        }
    }
    knoop_u64map_clear(&applied);
    cli_scratch_remove(path);             /* certificates and one list, all public */
    if (rc < 0) {
        fprintf(stderr, "knoop audit %s: cannot read the trust topics: %s\n", cmd,
                knoop_strerror(rc));
        return rc;
    }
    printf("trust: %zu certificates (%zu roots), revocation list %llu, with what the journal "
           "carries\n", knoop_trust_size(*trust), knoop_trust_roots(*trust),
           (unsigned long long) knoop_trust_revocation_number(*trust));
    return KNOOP_OK;
}

static int s_verify(const audit_args_t *args)
{
    audit_args_t a = *args;
    int rc;
    if (!a.trust && !a.chains_only) {
        fprintf(stderr, "knoop audit verify: --trust DIR is required to check signatures "
                "(or --chains-only to check hash chains alone)\n");
        return 2;
    }
    knoop_trust_t *trust = NULL;
    /* What the daemon learned beside its journal (DIR/trust: from the mesh,
     * or from a bundle it imported) counts too, each certificate checked
     * again against the roots of --trust. */
    char learned[4200];
    struct stat st;
    snprintf(learned, sizeof learned, "%s/trust", a.journal);
    bool has_learned = stat(learned, &st) == 0 && S_ISDIR(st.st_mode);
    if (a.trust) {
        rc = knoop_trust_load_ex(a.trust, has_learned ? learned : NULL,
                                 KNOOP_TRUST_KEEP_EXPIRED, &trust);
        if (rc) {
            fprintf(stderr, "knoop audit verify: cannot load trust store %s: %s\n", a.trust,
                    knoop_strerror(rc));
            return 2;
        }
    }
    knoop_journal_t *j = s_open("verify", a.journal);
    if (!j) {
        knoop_trust_destroy(&trust);
        return 2;
    }
    if (!trust)
        printf("note: --chains-only: signatures NOT checked\n");
    else if (s_learn_from_journal("verify", j, a.trust, has_learned ? learned : NULL, &trust) != KNOOP_OK) {
        knoop_journal_destroy(&j);
        knoop_trust_destroy(&trust);
        return 2;
    }
    knoop_stream_info_t *rows;
    size_t n = 0;
    if (knoop_journal_vector(j, a.pattern, &rows, &n) == KNOOP_OK)
        free(rows);
    verify_out_t out = { .quiet = a.quiet, .total = n, .last_progress = knoop_now_ms() };
    knoop_audit_summary_t sum;
    rc = knoop_audit_verify(j, trust, a.pattern, s_verify_row, &out, &sum);
    int status;
    if (rc) {
        fprintf(stderr, "knoop audit verify: read error: %s\n", knoop_strerror(rc));
        status = 2;
    } else {
        bool failed = sum.broken || sum.damaged || sum.damaged_rows;
        if (sum.damaged_rows)
            printf("FAILED  log/vlog: %llu of %llu rows damaged (they name no message, or "
                   "not the one they were written for)\n",
                   (unsigned long long) sum.damaged_rows, (unsigned long long) sum.rows);
        printf("verify: %s: %zu streams, %llu messages, %zu broken, %zu forked, "
               "%llu in unverified tails, %llu damaged on disk, %llu log/vlog rows "
               "(%llu damaged)%s\n", failed ? "FAILED" : "OK", sum.streams,
               (unsigned long long) sum.messages, sum.broken, sum.forked,
               (unsigned long long) sum.unverified, (unsigned long long) sum.damaged,
               (unsigned long long) sum.rows, (unsigned long long) sum.damaged_rows,
               trust ? "" : " (chains only)");
        status = failed ? 1 : 0;
    }
    knoop_journal_destroy(&j);
    knoop_trust_destroy(&trust);
    return status;
}

/* ---- replay ---- */

static int s_replay_one(void *arg, const knoop_msg_t *m, bool pending)
{
    json_t *o = knoop_msg_to_json(m);
    if (!o)
        return KNOOP_ENOMEM;
    if (pending)
        json_object_set_new(o, "pending", json_true());
    char *line = knoop_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return KNOOP_ENOMEM;
    puts(line);
    free(line);
    return 0;
}

/* The time option --name as Unix milliseconds in *ms (left alone when the
 * option is unset): 0, or 2 after an error that shows example. */
static int s_time_opt(const char *name, const char *value, const char *example, uint64_t *ms)
{
    if (!value)
        return 0;
    int64_t t;
    if (knoop_time_parse(value, &t) != KNOOP_OK || t < 0) {
        fprintf(stderr, "knoop audit replay: --%s '%s' is not an RFC 3339 UTC time like %s\n",
                name, value, example);
        return 2;
    }
    *ms = (uint64_t) t * 1000;
    return 0;
}

static int s_replay(const audit_args_t *args)
{
    audit_args_t a = *args;
    int rc;
    knoop_replay_filter_t f = { .pattern = a.pattern, .origin = a.origin };
    if (s_time_opt("since", a.since, "2021-07-14T00:00:00Z", &f.since_ms)
        || s_time_opt("until", a.until, "2021-07-15T00:00:00Z", &f.until_ms))
        return 2;
    if (a.origin && !knoop_id_valid(a.origin)) {
        fprintf(stderr, "knoop audit replay: '%s' is not a partner id\n", a.origin);
        return 2;
    }
    knoop_journal_t *j = s_open("replay", a.journal);
    if (!j)
        return 2;
    rc = knoop_audit_replay(j, &f, s_replay_one, NULL);
    knoop_journal_destroy(&j);
    if (rc) {
        fprintf(stderr, "knoop audit replay: %s\n", knoop_strerror(rc));
        return 2;
    }
    return 0;
}

/* ---- digest ---- */

static int s_digest(const audit_args_t *args)
{
    audit_args_t a = *args;
    int rc;
    knoop_journal_t *j = s_open("digest", a.journal);
    if (!j)
        return 2;
    const char *pattern = a.pattern ? a.pattern : ">";
    knoop_stream_info_t *rows;
    size_t n;
    rc = knoop_journal_vector(j, pattern, &rows, &n);
    knoop_journal_destroy(&j);
    if (rc) {
        fprintf(stderr, "knoop audit digest: %s\n", knoop_strerror(rc));
        return 2;
    }
    uint8_t d[KNOOP_HASH_LEN];
    char hex[2 * KNOOP_HASH_LEN + 1], head[2 * KNOOP_HASH_LEN + 1];
    knoop_vector_digest(rows, n, d);
    knoop_hex_encode(hex, d, sizeof d);
    uint64_t messages = 0;
    size_t streams = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].hwm) {
            messages += rows[i].hwm;
            streams++;
        }
    if (a.json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "pattern", pattern, "digest", hex,
                              "streams", (json_int_t) streams, "messages", (json_int_t) messages);
        if (a.streams) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++) {
                if (!rows[i].hwm)
                    continue;
                char sid[17], ep[17];
                snprintf(sid, sizeof sid, "%016llx", (unsigned long long) rows[i].stream);
                snprintf(ep, sizeof ep, "%016llx", (unsigned long long) rows[i].epoch);
                knoop_hex_encode(head, rows[i].head, KNOOP_HASH_LEN);
                char last_hlc[24];
                snprintf(last_hlc, sizeof last_hlc, "%llu",
                         (unsigned long long) rows[i].last_hlc);
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}",
                    "stream", sid, "origin", rows[i].origin, "topic", rows[i].topic,
                    "epoch", ep, "hwm", (json_int_t) rows[i].hwm, "head", head,
                    "last_hlc", last_hlc,
                    "priority", knoop_priority_name((knoop_priority_t) rows[i].prio)));
            }
            json_object_set_new(o, "rows", arr);
        }
        char *s = knoop_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        json_decref(o);
    } else {
        if (a.streams)
            for (size_t i = 0; i < n; i++) {
                if (!rows[i].hwm)
                    continue;
                knoop_hex_encode(head, rows[i].head, KNOOP_HASH_LEN);
                printf("%016llx %s %s epoch %016llx hwm %llu head %s\n",
                       (unsigned long long) rows[i].stream, rows[i].origin, rows[i].topic,
                       (unsigned long long) rows[i].epoch, (unsigned long long) rows[i].hwm,
                       head);
            }
        printf("digest %s pattern %s streams %zu messages %llu\n", hex, pattern, streams,
               (unsigned long long) messages);
    }
    free(rows);
    return 0;
}

int knoop_cli_audit(int argc, char **argv)
{
    if (argc < 2) {
        fputs(s_help_audit, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        fputs(s_help_audit, stdout);
        return 0;
    }
    static const struct {
        const char             *verb;
        const knoop_cmd_t      *cmd;
        const knoop_opt_spec_t *spec;
        int                   (*run)(const audit_args_t *a);
    } verbs[] = {
        { "verify", &s_cmd_verify, s_spec_verify, s_verify },
        { "replay", &s_cmd_replay, s_spec_replay, s_replay },
        { "digest", &s_cmd_digest, s_spec_digest, s_digest },
    };
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(sub, verbs[i].verb))
            continue;
        knoop_config_t *cfg;
        int rc = cli_options(verbs[i].cmd, verbs[i].spec, argc - 1, argv + 1, &cfg);
        if (rc != -1)
            return rc;
        audit_args_t a;
        rc = s_parse(sub, cfg, verbs[i].spec, &a);
        if (rc == 0) {
            knoop_log_set_level(KNOOP_LOG_WARN);
            rc = verbs[i].run(&a);
        }
        knoop_config_destroy(&cfg);
        return rc;
    }
    fprintf(stderr, "knoop audit: unknown subcommand '%s' (verify, replay, digest)\n", sub);
    return 2;
}
