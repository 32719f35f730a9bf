/* config.c — daemon configuration from flags and an INI file. See config.h.
 *
 * Three layers per option — default, file, flags — are gathered separately
 * and resolved at the end, so precedence is one rule in one place
 * (s_resolve) rather than an accident of the order things were read in.
 * Every value is checked where it was read, so its error can name the flag
 * or the file line it came from.
 */
#include "config.h"
#include "file.h"
#include "names.h"

#include <ini.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(KNOOP_CONFIG_LINE_MAX + 2 <= INI_MAX_LINE,
               "a line of KNOOP_CONFIG_LINE_MAX, its newline and NUL fit inih's buffer");

/* Input quoted in a message: enough to recognise it, too little to flood. */
#define S_SHOWN_MAX   48
/* inih keeps the section name in a 50-byte buffer and truncates longer ones. */
#define S_SECTION_MAX 49
/* getopt_long values: below 256 are short options. */
#define S_VAL_HELP    'h'
#define S_VAL_CONFIG  256
#define S_VAL_OPT     257

/* The values of an option from one source. */
typedef struct {
    char  **items;
    size_t  count;
    size_t  cap;
    int     line;           /* file layer: where the key first appeared */
} s_layer_t;

typedef struct {
    char            *name;
    knoop_opt_kind_t kind;
    s_layer_t        def, file, flag;
    const s_layer_t *value;  /* the layer in effect; NULL when unset */
    long long        ival;
    bool             bval;
} s_slot_t;

struct knoop_config_t {
    s_slot_t     *slots;
    size_t        size;
    char         *file;
    const char  **operands;     /* borrowed from argv */
    size_t        noperands;
};

/* ------------------------------------------------------------------ */
/* small helpers */

static void s_fail(char *err, size_t size, const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_fail(char *err, size_t size, const char *prog, const char *fmt, ...)
{
    if (!err || size == 0)
        return;
    int n = snprintf(err, size, "%s: ", prog);
    if (n < 0 || (size_t) n >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, size - (size_t) n, fmt, ap);
    va_end(ap);
}

/* Copy input into a message-safe form: printable ASCII, cut at `stop` (a
 * flag's "=value" may be a secret), at most S_SHOWN_MAX characters. Input
 * must not be able to forge log lines or terminal escapes. */
static void s_shown(char out[S_SHOWN_MAX + 4], const char *text, char stop)
{
    size_t n = 0;
    for (; *text && *text != stop && n < S_SHOWN_MAX; text++)
        out[n++] = (*text >= 0x20 && *text < 0x7f) ? *text : '?';
    if (*text && *text != stop) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* The one rule for hiding values: by the option's name, so it needs no
 * per-option flag that someone could forget to set. */
static bool s_is_secret(const char *name)
{
    return strstr(name, "key") || strstr(name, "secret");
}

/* Decimal long long, whole text. -1: not a number, -2: out of range. */
static int s_parse_int(const char *text, long long *out)
{
    /* strtoll would skip leading blanks and accept "0x"-less garbage after
     * the digits; neither belongs in a config value. */
    if (!(*text == '-' || *text == '+' || isdigit((unsigned char) *text)))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0')
        return -1;
    if (errno == ERANGE)
        return -2;
    *out = v;
    return 0;
}

static int s_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(text, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(text, no[i]) == 0)  { *out = false; return 0; }
    }
    return -1;
}

/* Check a value against its kind; on failure write why (without prefix). */
static bool s_value_ok(const char *name, knoop_opt_kind_t kind, const char *text,
                       char *why, size_t size)
{
    if (!*text) {
        snprintf(why, size, "empty value");
        return false;
    }
    char shown[S_SHOWN_MAX + 4];
    s_shown(shown, text, '\0');
    bool hide = s_is_secret(name);
    if (kind == KNOOP_OPT_INT) {
        long long v;
        int rc = s_parse_int(text, &v);
        if (rc == 0)
            return true;
        const char *what = rc == -2 ? "is out of range" : "is not an integer";
        if (hide)
            snprintf(why, size, "value %s", what);
        else
            snprintf(why, size, "'%s' %s", shown, what);
        return false;
    }
    if (kind == KNOOP_OPT_BOOL) {
        bool b;
        if (s_parse_bool(text, &b) == 0)
            return true;
        const char *what = "is not a boolean (true/false, yes/no, on/off, 1/0)";
        if (hide)
            snprintf(why, size, "value %s", what);
        else
            snprintf(why, size, "'%s' %s", shown, what);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* layers and slots */

/* Add a copy of text; `replace` empties the layer first (scalars). */
static int s_layer_put(s_layer_t *layer, const char *text, bool replace)
{
    char *copy = strdup(text);
    if (!copy)
        return KNOOP_ENOMEM;
    if (replace) {
        for (size_t i = 0; i < layer->count; i++)
            free(layer->items[i]);
        layer->count = 0;
    }
    char **items = knoop_array_grow(layer->items, layer->count, &layer->cap, sizeof *items, 4);
    if (!items) {
        free(copy);
        return KNOOP_ENOMEM;
    }
    layer->items = items;
    layer->items[layer->count++] = copy;
    return KNOOP_OK;
}

static void s_layer_free(s_layer_t *layer)
{
    for (size_t i = 0; i < layer->count; i++)
        free(layer->items[i]);
    free(layer->items);
    memset(layer, 0, sizeof *layer);
}

static s_slot_t *s_find(const knoop_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->size; i++)
        if (strcmp(self->slots[i].name, name) == 0)
            return &self->slots[i];
    return NULL;
}

/* A spec is program text, but a bad one would surface as baffling operator
 * errors (or none), and assertions are off in release builds: check it. */
static int s_spec_check(const char *prog, const char *section,
                        const knoop_opt_spec_t *spec, size_t *count,
                        char *err, size_t err_size)
{
    if (!knoop_name_valid(section, S_SECTION_MAX)) {
        s_fail(err, err_size, prog, "internal: bad section name");
        return KNOOP_EINVAL;
    }
    size_t n = 0;
    for (; spec[n].name; n++) {
        const knoop_opt_spec_t *s = &spec[n];
        char why[128];
        const char *problem = NULL;
        if (!knoop_name_valid(s->name, 64) || strcmp(s->name, "config") == 0
            || strcmp(s->name, "help") == 0)
            problem = "name is not [a-z0-9_-]{1,64} or is reserved";
        else if (s->kind != KNOOP_OPT_STRING && s->kind != KNOOP_OPT_INT
                 && s->kind != KNOOP_OPT_BOOL && s->kind != KNOOP_OPT_LIST)
            problem = "unknown kind";
        else if (s->required && s->def)
            problem = "required with a default";
        else if (s->def && !s_value_ok(s->name, s->kind, s->def, why, sizeof why))
            problem = "default does not parse";
        for (size_t j = 0; !problem && j < n; j++)
            if (strcmp(spec[j].name, s->name) == 0)
                problem = "given twice";
        if (problem) {
            char shown[S_SHOWN_MAX + 4];
            s_shown(shown, s->name, '\0');
            s_fail(err, err_size, prog, "internal: option spec '%s': %s", shown, problem);
            return KNOOP_EINVAL;
        }
    }
    *count = n;
    return KNOOP_OK;
}

static knoop_config_t *s_new(const knoop_opt_spec_t *spec, size_t count)
{
    knoop_config_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc(count ? count : 1, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        s_slot_t *slot = &self->slots[i];
        self->size++;
        slot->kind = spec[i].kind;
        if (!(slot->name = strdup(spec[i].name))
            || (spec[i].def && s_layer_put(&slot->def, spec[i].def, true) != KNOOP_OK)) {
            knoop_config_destroy(&self);
            return NULL;
        }
    }
    return self;
}

/* ------------------------------------------------------------------ */
/* --help */

static const char *s_arg(const knoop_opt_spec_t *s)
{
    if (s->arg)
        return s->arg;
    switch (s->kind) {
    case KNOOP_OPT_INT:  return "N";
    case KNOOP_OPT_BOOL: return "BOOL";
    default:             return "VALUE";
    }
}

/* Print a word of the synopsis, wrapping under the program name. */
static void s_word(FILE *out, size_t *col, size_t indent, const char *word)
{
    size_t len = strlen(word);
    if (*col + 1 + len > 79 && *col > indent) {
        fprintf(out, "\n%*s", (int) indent, "");
        *col = indent;
    }
    else {
        fputc(' ', out);
        (*col)++;
    }
    fputs(word, out);
    *col += len;
}

/* Words of text[0..len) printed from column *col, wrapped under `indent`. */
static void s_words(FILE *out, size_t *col, size_t indent, const char *text, size_t len,
                    bool first)
{
    while (len) {
        size_t n = strcspn(text, " ");
        if (n > len)
            n = len;
        if (n) {
            char word[256];
            snprintf(word, sizeof word, "%.*s", (int) n, text);
            if (first) {
                fputs(word, out);
                *col += strlen(word);
                first = false;
            } else
                s_word(out, col, indent, word);
        }
        text += n;
        len -= n;
        while (len && *text == ' ') {
            text++;
            len--;
        }
    }
}

/* Text indented, as man(1) renders it. Lines that start at the margin are
 * prose: a run of them is one paragraph, filled to the terminal's width.
 * Lines that start with spaces (a table, a JSON sample, an example) are kept
 * as they are; one too long is wrapped at a space, continued `hang` further
 * in. With reflow false every line is kept that way (examples). */
static void s_indented(FILE *out, int indent, const char *text, bool reflow, int hang)
{
    while (*text) {
        size_t len = strcspn(text, "\n");
        size_t lead = strspn(text, " ");
        if (len == 0)
            fputc('\n', out);
        else if (reflow && lead == 0) {
            /* a paragraph: this line and the prose lines that follow it */
            size_t col = (size_t) indent;
            fprintf(out, "%*s", indent, "");
            bool first = true;
            for (;;) {
                s_words(out, &col, (size_t) indent, text, len, first);
                first = false;
                const char *next = text + len + (text[len] == '\n');
                if (text[len] != '\n' || *next == '\n' || *next == ' ' || !*next)
                    break;
                text = next;
                len = strcspn(text, "\n");
            }
            fputc('\n', out);
        } else if ((size_t) indent + len <= 79 || lead >= len)
            fprintf(out, "%*s%.*s\n", indent, "", (int) len, text);
        else {
            size_t first = (size_t) indent + lead;
            size_t col = first;
            fprintf(out, "%*s", (int) first, "");
            s_words(out, &col, first + (size_t) hang, text + lead, len - lead, true);
            fputc('\n', out);
        }
        text += len;
        if (*text)
            text++;
    }
}

/* A section of text after OPTIONS, e.g. "EXIT STATUS". */
static void s_section(FILE *out, const char *title, const char *text, bool reflow)
{
    if (text && *text) {
        fprintf(out, "\n%s\n", title);
        s_indented(out, 7, text, reflow, 4);
    }
}

static void s_help(FILE *out, const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec)
{
    const char *prog = cmd->prog;
    fprintf(out, "NAME\n       %s - %s\n\nSYNOPSIS\n", prog, cmd->summary ? cmd->summary : "");
    size_t indent = 8 + strlen(prog);
    size_t col = indent - 1;
    fprintf(out, "       %s", prog);
    s_word(out, &col, indent, "[--config FILE]");
    for (const knoop_opt_spec_t *s = spec; s->name; s++) {
        char word[160];
        if (s->kind == KNOOP_OPT_BOOL)
            snprintf(word, sizeof word, "[--%s[=%s]]", s->name, s_arg(s));
        else
            snprintf(word, sizeof word, "%s--%s %s%s%s", s->required ? "" : "[", s->name,
                     s_arg(s), s->required ? "" : "]",
                     s->kind == KNOOP_OPT_LIST ? "..." : "");
        s_word(out, &col, indent, word);
    }
    if (cmd->operands)
        s_word(out, &col, indent, cmd->operands);
    fprintf(out, "\n       %s --help\n", prog);

    s_section(out, "DESCRIPTION", cmd->description, true);

    fputs("\nOPTIONS\n", out);
    for (const knoop_opt_spec_t *s = spec; s->name; s++) {
        if (s->kind == KNOOP_OPT_BOOL)
            fprintf(out, "       --%s[=%s]\n", s->name, s_arg(s));
        else
            fprintf(out, "       --%s %s\n", s->name, s_arg(s));
        /* One sentence, so that "Default: ..." reads as the next one;
         * wrapped to the terminal like the synopsis. */
        const char *help = s->help ? s->help : "";
        size_t len = strlen(help);
        char text[1024];
        snprintf(text, sizeof text, "%s%s%s%s%s%s%s", help,
                 len && help[len - 1] != '.' ? "." : "",
                 s->kind == KNOOP_OPT_LIST ? " Repeatable." : "",
                 s->required ? " Required." : "", s->def ? " Default: " : "",
                 s->def ? s->def : "", s->def ? "." : "");
        s_indented(out, 14, text, true, 0);
    }
    fputs("       --config FILE\n"
          "              Read options from FILE (see FILES).\n"
          "       --help, -h\n"
          "              Show this help and exit.\n", out);

    const char *section = cmd->section;
    fprintf(out,
            "\nFILES\n"
            "       --config FILE: the same keys as the flags, in section\n"
            "       [%s], e.g.\n\n"
            "              [%s]\n", section, section);
    /* The example: what must be given, and how a list is written. */
    bool shown = false;
    for (const knoop_opt_spec_t *s = spec; s->name; s++)
        if (s->required) {
            fprintf(out, "              %s = %s\n", s->name, s_arg(s));
            shown = true;
        }
    for (const knoop_opt_spec_t *s = spec; s->name; s++)
        if (s->kind == KNOOP_OPT_LIST) {
            fprintf(out, "              %s = %s\n", s->name, s_arg(s));
            fprintf(out, "              %s = %s\n", s->name, s_arg(s));
            shown = true;
            break;
        }
    if (!shown && spec[0].name)
        fprintf(out, "              %s = %s\n", spec[0].name, s_arg(&spec[0]));
    fputs("\n"
          "       A flag overrides the file. A list given as flags replaces the\n"
          "       file's list; in the file, a repeated list key adds an item.\n"
          "       Lines starting with # or ; are comments.\n", out);
    s_section(out, "EXIT STATUS", cmd->exit_status, true);
    s_section(out, "EXAMPLES", cmd->examples, false);
}

/* ------------------------------------------------------------------ */
/* flags */

typedef struct {
    knoop_config_t   *self;
    const knoop_cmd_t *cmd;
    const char       *prog;
    char             *err;
    size_t            err_size;
    const char       *config;   /* --config FILE, borrowed from argv */
    bool              help;
} s_flags_t;

/* A value of a flag: check and store it. `element` is the argv element of
 * the flag itself. */
static int s_flag_value(s_flags_t *f, size_t i, const char *element, const char *value)
{
    s_slot_t *slot = &f->self->slots[i];
    /* A separate value that looks like a flag: "--key --trust DIR" means
     * the value of --key was forgotten, not that it is "--trust". */
    bool separate = value && !strchr(element, '=');
    if (separate && strncmp(value, "--", 2) == 0) {
        s_fail(f->err, f->err_size, f->prog, "--%s: missing value", slot->name);
        return KNOOP_EINVAL;
    }
    if (!value)
        value = "true";     /* a bare BOOL flag */
    char why[160];
    if (!s_value_ok(slot->name, slot->kind, value, why, sizeof why)) {
        s_fail(f->err, f->err_size, f->prog, "--%s: %s", slot->name, why);
        return KNOOP_EINVAL;
    }
    return s_layer_put(&slot->flag, value, slot->kind != KNOOP_OPT_LIST);
}

static int s_flag_config(s_flags_t *f, const char *element, const char *value)
{
    if (!strchr(element, '=') && strncmp(value, "--", 2) == 0) {
        s_fail(f->err, f->err_size, f->prog, "--config: missing value");
        return KNOOP_EINVAL;
    }
    if (!*value) {
        s_fail(f->err, f->err_size, f->prog, "--config: empty value");
        return KNOOP_EINVAL;
    }
    /* One file: a second one would either be ignored or need merge rules
     * nobody could guess. */
    if (f->config) {
        s_fail(f->err, f->err_size, f->prog, "--config: given more than once (one file only)");
        return KNOOP_EINVAL;
    }
    f->config = value;
    return KNOOP_OK;
}

/* The name of the option that optopt refers to, after a ':' return. */
static const char *s_optopt_name(const s_flags_t *f, int opt)
{
    if (opt == S_VAL_CONFIG)
        return "config";
    if (opt >= S_VAL_OPT && (size_t) (opt - S_VAL_OPT) < f->self->size)
        return f->self->slots[opt - S_VAL_OPT].name;
    return "?";
}

/* A positional argument of a command that takes operands. */
static int s_operand(s_flags_t *f, const char *arg)
{
    knoop_config_t *self = f->self;
    size_t max = f->cmd->operands_max;
    if (max && self->noperands == max) {
        char shown[S_SHOWN_MAX + 4];
        s_shown(shown, arg, '\0');
        s_fail(f->err, f->err_size, f->prog, "unexpected argument '%s' (at most %zu: %s)",
               shown, max, f->cmd->operands);
        return KNOOP_EINVAL;
    }
    const char **grown = realloc(self->operands, (self->noperands + 1) * sizeof *grown);
    if (!grown)
        return KNOOP_ENOMEM;
    self->operands = grown;
    self->operands[self->noperands++] = arg;
    return KNOOP_OK;
}

static int s_parse_flags(s_flags_t *f, int argc, char **argv)
{
    size_t n = f->self->size;
    struct option *opts = calloc(n + 3, sizeof *opts);
    if (!opts)
        return KNOOP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        opts[i].name = f->self->slots[i].name;
        opts[i].has_arg = f->self->slots[i].kind == KNOOP_OPT_BOOL ? optional_argument
                                                                 : required_argument;
        opts[i].val = S_VAL_OPT + (int) i;
    }
    opts[n] = (struct option) { "config", required_argument, NULL, S_VAL_CONFIG };
    opts[n + 1] = (struct option) { "help", no_argument, NULL, S_VAL_HELP };

    /* optind 0 asks glibc for a full re-initialisation, forgetting any
     * state a previous parse left. "+": stop at the first non-option rather
     * than permute argv; ":": report a missing value as ':' and print
     * nothing, so every message comes from here, in one format. */
    optind = 0;
    int rc = KNOOP_OK;
    while (rc == KNOOP_OK) {
        int before = optind < 1 ? 1 : optind;
        int index = -1;
        int c = getopt_long(argc, argv, "+:h", opts, &index);
        if (c == -1) {
            if (!f->cmd->operands || optind >= argc)
                break;
            /* "--" ends the options: the rest are operands, even "-x". */
            if (optind > before && strcmp(argv[optind - 1], "--") == 0) {
                while (rc == KNOOP_OK && optind < argc)
                    rc = s_operand(f, argv[optind++]);
                break;
            }
            /* An operand; options may follow it ("import a.xml --api EP"). */
            rc = s_operand(f, argv[optind++]);
            continue;
        }
        char shown[S_SHOWN_MAX + 4];
        if (c == '?') {
            if (optopt)
                s_fail(f->err, f->err_size, f->prog, "-%c: unknown option",
                       isprint(optopt) ? optopt : '?');
            else {
                s_shown(shown, argv[optind - 1], '=');
                s_fail(f->err, f->err_size, f->prog, "%s: unknown option", shown);
            }
            rc = KNOOP_EINVAL;
            break;
        }
        if (c == ':') {
            s_fail(f->err, f->err_size, f->prog, "--%s: missing value",
                   s_optopt_name(f, optopt));
            rc = KNOOP_EINVAL;
            break;
        }
        /* A long option must be spelled in full: getopt also accepts any
         * unique prefix, which breaks scripts when a longer option is added. */
        if (index >= 0) {
            const char *element = argv[before];
            size_t len = strlen(opts[index].name);
            if (strncmp(element, "--", 2) != 0 || strncmp(element + 2, opts[index].name, len) != 0
                || (element[2 + len] != '\0' && element[2 + len] != '=')) {
                s_shown(shown, element, '=');
                s_fail(f->err, f->err_size, f->prog,
                       "%s: unknown option (did you mean --%s? options are not abbreviated)",
                       shown, opts[index].name);
                rc = KNOOP_EINVAL;
                break;
            }
        }
        if (c == S_VAL_HELP) {
            /* Help wins over everything after it: the operator asked how. */
            f->help = true;
            break;
        }
        if (c == S_VAL_CONFIG)
            rc = s_flag_config(f, argv[before], optarg);
        else
            rc = s_flag_value(f, (size_t) (c - S_VAL_OPT), argv[before], optarg);
    }
    if (rc == KNOOP_OK && !f->help && optind < argc) {
        char shown[S_SHOWN_MAX + 4];
        s_shown(shown, argv[optind], '\0');
        /* The likely cause: "--foreground yes", where a BOOL takes no
         * separate value. */
        const char *prev = optind > 1 ? argv[optind - 1] : "";
        const s_slot_t *slot = strncmp(prev, "--", 2) == 0 ? s_find(f->self, prev + 2) : NULL;
        if (slot && slot->kind == KNOOP_OPT_BOOL)
            s_fail(f->err, f->err_size, f->prog,
                   "unexpected argument '%s' (a BOOL flag takes its value as --%s=VALUE)",
                   shown, slot->name);
        else
            s_fail(f->err, f->err_size, f->prog, "unexpected argument '%s'", shown);
        rc = KNOOP_EINVAL;
    }
    free(opts);
    return rc;
}

/* ------------------------------------------------------------------ */
/* the file */

typedef struct {
    knoop_config_t *self;
    const char     *section;
    const char     *pos;         /* reader: next line */
    int             line;        /* reader: number of the line last handed out */
    int             header_line; /* reader: last line that opened a section */
    int             too_long;    /* line refused by the reader; parsing stopped there */
    int             limit;       /* the line length limit in force */
    int             why_at;      /* line of the first problem the handler found */
    int             why_line;    /* line to report it at */
    int             rc;          /* its error code */
    char            why[256];
} s_file_t;

/* inih's line source. Hands out whole lines or nothing: a line too long for
 * inih's buffer stops the parse here (see config.h). Leading whitespace is
 * removed so that inih never sees an indented line, which it would take as a
 * continuation of the previous value. */
static char *s_reader(char *str, int num, void *stream)
{
    s_file_t *f = stream;
    if (f->too_long || !*f->pos)
        return NULL;
    const char *p = f->pos;
    size_t len = strcspn(p, "\n");
    f->pos = p + len + (p[len] == '\n');
    f->line++;
    /* Room for the line, a newline and the NUL. */
    f->limit = num - 2 < KNOOP_CONFIG_LINE_MAX ? num - 2 : KNOOP_CONFIG_LINE_MAX;
    if (f->limit < 0 || len > (size_t) f->limit) {
        f->too_long = f->line;
        return NULL;
    }
    size_t skip = 0;
    while (skip < len && isspace((unsigned char) p[skip]))
        skip++;
    if (p[skip] == '[')
        f->header_line = f->line;
    memcpy(str, p + skip, len - skip);
    str[len - skip] = '\n';
    str[len - skip + 1] = '\0';
    return str;
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    s_file_t *f = user;
    if (f->why_at)
        return 0;       /* report the first problem only */
    char shown[S_SHOWN_MAX + 4];
    s_shown(shown, name, '\0');
    int line = f->line;
    s_slot_t *slot = NULL;
    if (strcmp(section, f->section) != 0) {
        char where[S_SHOWN_MAX + 4];
        s_shown(where, section, '\0');
        if (!*section)
            snprintf(f->why, sizeof f->why, "key '%s' is outside [%s]", shown, f->section);
        else {
            /* Point at the header: that is where the typo usually is. */
            line = f->header_line ? f->header_line : line;
            snprintf(f->why, sizeof f->why, "section [%s] is not [%s]", where, f->section);
        }
    }
    else if (!(slot = s_find(f->self, name)))
        snprintf(f->why, sizeof f->why, "unknown key '%s' in [%s]", shown, f->section);
    else if (slot->kind != KNOOP_OPT_LIST && slot->file.count)
        snprintf(f->why, sizeof f->why, "key '%s' given twice (first on line %d)", shown,
                 slot->file.line);
    else {
        char why[160];
        if (s_value_ok(slot->name, slot->kind, value, why, sizeof why)) {
            if (!slot->file.count)
                slot->file.line = f->line;
            int rc = s_layer_put(&slot->file, value, false);
            if (rc == KNOOP_OK)
                return 1;
            f->rc = rc;
            snprintf(f->why, sizeof f->why, "%s", knoop_strerror(rc));
        }
        else
            snprintf(f->why, sizeof f->why, "key '%s': %s", shown, why);
    }
    if (!f->rc)
        f->rc = KNOOP_EMALFORMED;
    f->why_at = f->line;
    f->why_line = line;
    return 0;
}

/* The whole file, a bounded text (file.h), NUL-terminated in *text_out. */
static int s_read_file(const char *prog, const char *path, char **text_out,
                       char *err, size_t err_size)
{
    knoop_buf_t buf = { 0 };
    char why[160];
    int rc = knoop_file_read(path, KNOOP_CONFIG_FILE_MAX, KNOOP_FILE_TEXT, &buf, why,
                             sizeof why);
    if (rc) {
        knoop_buf_free(&buf);
        s_fail(err, err_size, prog, "%s: %s", path, why);
        return rc;
    }
    *text_out = (char *) buf.data;
    return KNOOP_OK;
}

static int s_parse_file(knoop_config_t *self, const char *prog, const char *section,
                        const char *path, char *err, size_t err_size)
{
    char *text = NULL;
    int rc = s_read_file(prog, path, &text, err, err_size);
    if (rc)
        return rc;
    s_file_t f = { .self = self, .section = section, .pos = text };
    int line = ini_parse_stream(s_reader, &f, s_handler, &f);
    free(text);
    if (line == -2)
        return KNOOP_ENOMEM;
    /* inih returns the first line it found wrong, counting our handler's
     * refusals; one earlier than the handler's first is inih's own. */
    if (line > 0 && (!f.why_at || line < f.why_at)) {
        s_fail(err, err_size, prog, "%s:%d: not INI syntax (expected 'key = value' or "
               "'[section]')", path, line);
        return KNOOP_EMALFORMED;
    }
    if (f.why_at) {
        s_fail(err, err_size, prog, "%s:%d: %s", path, f.why_line, f.why);
        return f.rc;
    }
    if (f.too_long) {
        s_fail(err, err_size, prog, "%s:%d: line longer than %d characters", path,
               f.too_long, f.limit);
        return KNOOP_ETOOBIG;
    }
    return KNOOP_OK;
}

/* ------------------------------------------------------------------ */
/* resolution */

/* Apply precedence: flags, then file, then default. */
static int s_resolve(knoop_config_t *self, const char *prog, const char *section,
                     const knoop_opt_spec_t *spec, char *err, size_t err_size)
{
    char missing[256] = "";
    size_t used = 0;
    size_t nmissing = 0;
    for (size_t i = 0; i < self->size; i++) {
        s_slot_t *slot = &self->slots[i];
        slot->value = slot->flag.count ? &slot->flag
                    : slot->file.count ? &slot->file
                    : slot->def.count  ? &slot->def : NULL;
        if (slot->value && slot->kind == KNOOP_OPT_INT)
            s_parse_int(slot->value->items[0], &slot->ival);
        if (slot->value && slot->kind == KNOOP_OPT_BOOL)
            s_parse_bool(slot->value->items[0], &slot->bval);
        if (spec[i].required && !slot->value) {
            int n = snprintf(missing + used, sizeof missing - used, "%s--%s",
                             nmissing ? ", " : "", slot->name);
            if (n > 0 && used + (size_t) n < sizeof missing)
                used += (size_t) n;
            nmissing++;
        }
    }
    if (nmissing) {
        s_fail(err, err_size, prog, "missing required option%s %s (as flags, or as keys "
               "in [%s] of --config FILE)", nmissing > 1 ? "s" : "", missing, section);
        return KNOOP_EINVAL;
    }
    return KNOOP_OK;
}

/* ------------------------------------------------------------------ */
/* public API */

int knoop_config_parse_cmd(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec,
                           int argc, char **argv, knoop_config_t **out, bool *help_shown,
                           char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    if (out)
        *out = NULL;
    if (help_shown)
        *help_shown = false;
    assert(cmd && cmd->prog && cmd->section && spec && argv && argc >= 1 && out
           && help_shown);
    if (!cmd || !cmd->prog || !cmd->section || !spec || !argv || argc < 1 || !out
        || !help_shown)
        return KNOOP_EINVAL;
    const char *prog = cmd->prog;
    const char *section = cmd->section;

    size_t count;
    int rc = s_spec_check(prog, section, spec, &count, err, err_size);
    if (rc)
        return rc;
    knoop_config_t *self = s_new(spec, count);
    if (!self)
        return KNOOP_ENOMEM;

    s_flags_t flags = { .self = self, .cmd = cmd, .prog = prog, .err = err,
                        .err_size = err_size };
    rc = s_parse_flags(&flags, argc, argv);
    if (rc == KNOOP_OK && flags.help) {
        s_help(stdout, cmd, spec);
        fflush(stdout);
        *help_shown = true;
        knoop_config_destroy(&self);
        return KNOOP_OK;
    }
    if (rc == KNOOP_OK && flags.config) {
        if (!(self->file = strdup(flags.config)))
            rc = KNOOP_ENOMEM;
        else
            rc = s_parse_file(self, prog, section, flags.config, err, err_size);
    }
    if (rc == KNOOP_OK)
        rc = s_resolve(self, prog, section, spec, err, err_size);
    if (rc == KNOOP_OK && self->noperands < cmd->operands_min) {
        s_fail(err, err_size, prog, "missing %s", cmd->operands);
        rc = KNOOP_EINVAL;
    }
    if (rc == KNOOP_ENOMEM && err && err_size && !err[0])
        s_fail(err, err_size, prog, "%s", knoop_strerror(rc));
    if (rc) {
        knoop_config_destroy(&self);
        return rc;
    }
    *out = self;
    return KNOOP_OK;
}

int knoop_config_parse(const char *prog, const char *section, const char *summary,
                       const char *description, const knoop_opt_spec_t *spec,
                       int argc, char **argv, knoop_config_t **out, bool *help_shown,
                       char *err, size_t err_size)
{
    knoop_cmd_t cmd = { .prog = prog, .section = section, .summary = summary,
                        .description = description };
    return knoop_config_parse_cmd(&cmd, spec, argc, argv, out, help_shown, err, err_size);
}

void knoop_config_destroy(knoop_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    knoop_config_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++) {
        free(self->slots[i].name);
        s_layer_free(&self->slots[i].def);
        s_layer_free(&self->slots[i].file);
        s_layer_free(&self->slots[i].flag);
    }
    free(self->slots);
    free(self->file);
    free(self->operands);
    free(self);
    *self_p = NULL;
}

const char *knoop_config_str(const knoop_config_t *self, const char *name)
{
    const s_slot_t *slot = s_find(self, name);
    assert(slot && slot->kind != KNOOP_OPT_LIST);
    if (!slot || slot->kind == KNOOP_OPT_LIST || !slot->value)
        return NULL;
    return slot->value->items[0];
}

long long knoop_config_int(const knoop_config_t *self, const char *name)
{
    const s_slot_t *slot = s_find(self, name);
    assert(slot && slot->kind == KNOOP_OPT_INT);
    return slot && slot->kind == KNOOP_OPT_INT ? slot->ival : 0;
}

bool knoop_config_bool(const knoop_config_t *self, const char *name)
{
    const s_slot_t *slot = s_find(self, name);
    assert(slot && slot->kind == KNOOP_OPT_BOOL);
    return slot && slot->kind == KNOOP_OPT_BOOL ? slot->bval : false;
}

size_t knoop_config_list(const knoop_config_t *self, const char *name,
                         const char *const **items)
{
    const s_slot_t *slot = s_find(self, name);
    assert(slot && slot->kind == KNOOP_OPT_LIST);
    bool some = slot && slot->kind == KNOOP_OPT_LIST && slot->value;
    if (items)
        *items = some ? (const char *const *) slot->value->items : NULL;
    return some ? slot->value->count : 0;
}

bool knoop_config_is_set(const knoop_config_t *self, const char *name)
{
    const s_slot_t *slot = s_find(self, name);
    assert(slot);
    return slot && (slot->flag.count || slot->file.count);
}

const char *knoop_config_file(const knoop_config_t *self)
{
    return self->file;
}

int knoop_config_apply_log_level(const knoop_config_t *self, const char *prog)
{
    knoop_log_level_t level;
    const char *v = knoop_config_str(self, "log-level");
    if (!v || knoop_log_parse_level(v, &level) != KNOOP_OK) {
        fprintf(stderr, "%s: --log-level: use error, warn, info or debug\n", prog);
        return KNOOP_EINVAL;
    }
    knoop_log_set_level(level);
    return KNOOP_OK;
}

size_t knoop_config_operands(const knoop_config_t *self, const char *const **items)
{
    if (items)
        *items = self->operands;
    return self->noperands;
}

int knoop_config_command(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec, int argc,
                         char **argv, knoop_config_t **out)
{
    *out = NULL;
    knoop_config_t *cfg = NULL;
    bool help = false;
    char err[512];
    if (knoop_config_parse_cmd(cmd, spec, argc, argv, &cfg, &help, err, sizeof err)
        != KNOOP_OK) {
        fprintf(stderr, "%s\n", err);
        /* A hint that costs one line and saves a trip to the manual. */
        if (strstr(err, "unknown option") || strstr(err, "unexpected argument")
            || strstr(err, "missing"))
            fprintf(stderr, "%s: see '%s --help'\n", cmd->prog, cmd->prog);
        return 2;
    }
    if (help)
        return 0;
    *out = cfg;
    return -1;
}

int knoop_config_daemon(const char *prog, const char *section, const char *summary,
                        const char *description, const knoop_opt_spec_t *spec,
                        int argc, char **argv, knoop_config_t **out)
{
    knoop_cmd_t cmd = { .prog = prog, .section = section, .summary = summary,
                        .description = description };
    int rc = knoop_config_command(&cmd, spec, argc, argv, out);
    if (rc != -1)
        return rc;
    if (knoop_config_apply_log_level(*out, prog) != KNOOP_OK) {
        knoop_config_destroy(out);
        return 2;
    }
    return -1;
}
