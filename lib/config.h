/*
 * config.h — daemon configuration: one option spec, read from flags and from
 * an INI file.
 *
 * A daemon describes its options once, as an array of knoop_opt_spec_t. Each
 * option is then both a long flag and a key of one section of an INI file
 * named with --config FILE, so an operator can move a setting between the
 * unit file and the config file without renaming it:
 *
 *     knoop-broker --id kcr2-broker-1 --listen tcp://0.0.0.0:7400 \
 *                  --peer tcp://b2:7400 --peer tcp://b3:7400
 *
 *     [broker]
 *     id = kcr2-broker-1
 *     listen = tcp://0.0.0.0:7400
 *     peer = tcp://b2:7400
 *     peer = tcp://b3:7400
 *
 * Precedence, per option: a flag beats the file, the file beats the default.
 * A LIST option takes its items from one place only: if it is given as a flag
 * at all, the flags' items replace the file's list (so the command line shows
 * the whole list); otherwise the file's repeated keys, in order; otherwise the
 * default (one item).
 *
 * Flags:
 *   --NAME VALUE or --NAME=VALUE for STRING, INT and LIST options. A BOOL is
 *   --NAME (true) or --NAME=VALUE only, so that it never swallows the next
 *   argument. Names must be spelled in full: getopt's unique-prefix
 *   abbreviations are refused, because a script using one would break the
 *   day an option sharing the prefix is added. A scalar flag given twice:
 *   the last one counts (so a wrapper can override). A separate value that
 *   starts with "--" is taken as a forgotten value and refused. Options end
 *   at "--" or at the first argument that is not an option; any such
 *   positional argument is an error. Always accepted besides the spec:
 *   --config FILE (at most once) and --help / -h.
 *
 * The file (parsed by inih; this module only decides what keys mean):
 *   - a regular file of at most KNOOP_CONFIG_FILE_MAX bytes, without NUL;
 *   - no line longer than KNOOP_CONFIG_LINE_MAX characters: inih would split
 *     a longer line and parse its tail as a line of its own;
 *   - '#' or ';' starts a comment line, " ;" an inline comment; leading
 *     whitespace is ignored, and there are no continuation lines (inih would
 *     otherwise append an indented line to the previous value, which for a
 *     LIST silently adds an item);
 *   - every key must be an option of the spec in [SECTION]; a key anywhere
 *     else is an error, including a key before any section header. A section
 *     without keys is not seen and so not checked;
 *   - a key other than a LIST key may appear once; LIST keys append;
 *   - the file cannot name another file: "config" is not a key.
 * No value may be empty, in either place: an empty value is far more often a
 * slip than an intent, and each option has one meaning of "not set": absent.
 *
 * Errors: knoop_config_parse writes one line to err, without a newline,
 * starting "PROG: " and naming the cause: the flag, or FILE:LINE and the key,
 * or the missing options. It quotes input only where that helps and cannot
 * leak a secret: unknown option and key names (cut at '=', made printable),
 * a positional argument, and the text of a bad INT or BOOL value — but never
 * a value of an option whose name contains "key" or "secret".
 *
 * Threading: knoop_config_parse uses getopt_long, whose state (optind,
 * optarg, optopt) is process-wide, and prints --help to stdout: call it from
 * one thread, before starting others, as main() does. It resets optind
 * itself, so it may be called more than once (tests do). It does not permute
 * or modify argv. A parsed knoop_config_t is read-only and may be read from
 * any thread.
 */
#ifndef KNOOP_CONFIG_H
#define KNOOP_CONFIG_H

#include "knoop.h"

/* Larger than any config file we expect by two orders of magnitude; the
 * bound exists so that a wrong path (a log, a device) fails fast. */
#define KNOOP_CONFIG_FILE_MAX (256u * 1024u)
/* inih's line buffer holds INI_MAX_LINE bytes including "\n" and NUL. */
#define KNOOP_CONFIG_LINE_MAX 198

typedef enum {
    KNOOP_OPT_STRING,   /* any non-empty text */
    KNOOP_OPT_INT,      /* decimal, optional sign, must fit long long */
    KNOOP_OPT_BOOL,     /* true/false, yes/no, on/off, 1/0 (any case) */
    KNOOP_OPT_LIST,     /* repeatable; items in the order given */
} knoop_opt_kind_t;

/* One option. Arrays of specs end with an entry whose name is NULL. */
typedef struct {
    const char      *name;      /* long flag and INI key: [a-z0-9_-]+, e.g. "listen";
                                   not "config" or "help" */
    knoop_opt_kind_t kind;
    const char      *def;       /* default as text (must parse as `kind`), or NULL */
    const char      *arg;       /* placeholder for help, e.g. "ENDPOINT"; NULL: by kind */
    const char      *help;      /* one line, for --help */
    bool             required;  /* must be set by flag or file; then `def` is NULL */
} knoop_opt_spec_t;

typedef struct knoop_config_t knoop_config_t;

/* A command (a daemon, or one command of the knoop tool): what --help shows
 * beside its options, and the positional arguments (operands) it takes.
 * Without `operands`, any positional argument is an error (daemons). With
 * them, operands may stand between options ("import a.xml --api EP"); after
 * "--" everything is an operand. */
typedef struct {
    const char *prog;         /* name in messages and help, e.g. "knoop beeld" */
    const char *section;      /* the config file's section, e.g. "beeld" */
    const char *summary;      /* one line for NAME */
    const char *description;  /* DESCRIPTION (may hold newlines), or NULL */
    const char *operands;     /* synopsis of the operands, e.g. "FILE...", or NULL */
    size_t      operands_min; /* fewer: "missing FILE..." */
    size_t      operands_max; /* more: an error; 0 = no limit */
    const char *exit_status;  /* EXIT STATUS text, or NULL */
    const char *examples;     /* EXAMPLES text, or NULL */
} knoop_cmd_t;

/* Parse argv (as main received it: argv[0] is skipped) and, when --config
 * FILE is given, FILE's [section]; apply defaults; check required options.
 *
 * prog      in: name in messages and help, e.g. "knoop-broker"
 * section   in: the file's section, e.g. "broker" ([a-z0-9_-], < 50 chars)
 * summary   in: one line for NAME in --help, e.g. "knooppunt message broker"
 * description in: text for DESCRIPTION in --help (may hold newlines), or NULL
 * spec      in: the options; names and kinds are copied, so it need not
 *           outlive the call
 * out       out: the configuration on success (caller destroys); NULL otherwise
 * help_shown out: true when --help was given: usage went to stdout, nothing
 *           else was checked, *out is NULL and the return is KNOOP_OK (the
 *           daemon exits 0)
 * err       out: one-line message on failure, "" on success (may be NULL)
 *
 * Returns KNOOP_OK, or:
 *   KNOOP_EINVAL     the command line (unknown or abbreviated option, missing,
 *                    empty or bad INT/BOOL value, positional argument, a second
 *                    --config), missing required options, or a bad spec (a
 *                    programmer error; the message says "internal")
 *   KNOOP_ENOTFOUND, KNOOP_EPERM, KNOOP_EIO  FILE cannot be opened or read
 *   KNOOP_ETOOBIG    FILE larger than KNOOP_CONFIG_FILE_MAX, or a line of it
 *                    longer than KNOOP_CONFIG_LINE_MAX
 *   KNOOP_EMALFORMED FILE is not a regular file, holds a NUL, is not INI, or
 *                    has an unknown, misplaced, repeated, empty or bad value
 *   KNOOP_ENOMEM
 */
int  knoop_config_parse(const char *prog, const char *section, const char *summary,
                        const char *description, const knoop_opt_spec_t *spec,
                        int argc, char **argv, knoop_config_t **out, bool *help_shown,
                        char *err, size_t err_size);

/* knoop_config_parse for a command described by cmd (operands, exit status
 * and examples in --help). knoop_config_parse is this with a daemon's cmd. */
int  knoop_config_parse_cmd(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec,
                            int argc, char **argv, knoop_config_t **out, bool *help_shown,
                            char *err, size_t err_size);

/* The operands in the order given: returns the count and, when items is
 * not NULL, sets *items (NULL when none). Borrowed from argv. */
size_t knoop_config_operands(const knoop_config_t *self, const char *const **items);

/* Free the configuration and NULL the caller's pointer; safe on NULL. */
void knoop_config_destroy(knoop_config_t **self_p);

/* The getters take a name from the spec given to knoop_config_parse; any
 * other name, or a getter of the wrong kind, is a programmer error (asserted;
 * without assertions the "unset" value is returned). */

/* Value of a STRING, INT or BOOL option as text (a bare BOOL flag reads
 * "true"); NULL when unset without default. Borrowed until destroy. */
const char *knoop_config_str(const knoop_config_t *self, const char *name);
/* Value of an INT option; 0 when unset without default. */
long long   knoop_config_int(const knoop_config_t *self, const char *name);
/* Value of a BOOL option; false when unset without default. */
bool        knoop_config_bool(const knoop_config_t *self, const char *name);
/* Items of a LIST option: returns the count and, when items is not NULL,
 * sets *items to them (NULL when the count is 0). Borrowed until destroy. */
size_t      knoop_config_list(const knoop_config_t *self, const char *name,
                              const char *const **items);
/* True when the option was given in the file or as a flag (not a default). */
bool        knoop_config_is_set(const knoop_config_t *self, const char *name);
/* The --config FILE path as given, for the startup log; NULL without one.
 * Borrowed until destroy. */
const char *knoop_config_file(const knoop_config_t *self);

/* Set the process's log level from the "log-level" option (error, warn,
 * info, debug). KNOOP_EINVAL, after a one-line error naming prog, when the
 * value is none of those. */
int knoop_config_apply_log_level(const knoop_config_t *self, const char *prog);

/* A command's start: knoop_config_parse_cmd and --help. Returns -1 with
 * *out set when the command should run (the caller destroys *out);
 * otherwise the exit status (0 after --help, 2 after an error on stderr
 * naming the cause and pointing at --help) with *out NULL. */
int knoop_config_command(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec, int argc,
                         char **argv, knoop_config_t **out);

/* A daemon's start: knoop_config_parse, --help, then the log level. Returns
 * -1 with *out set when the daemon should run (the caller destroys *out);
 * otherwise the exit status for main() (0 after --help, 2 after a one-line
 * error on stderr) with *out NULL. */
int knoop_config_daemon(const char *prog, const char *section, const char *summary,
                        const char *description, const knoop_opt_spec_t *spec,
                        int argc, char **argv, knoop_config_t **out);

#endif
