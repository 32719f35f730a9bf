/* test_config.c — daemon configuration from flags and INI files: precedence,
 * lists, defaults, and an error naming the cause for every kind of mistake. */
#include "testutil.h"
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The broker's options, plus an INT, a BOOL and a secret for the kinds. */
static const knoop_opt_spec_t s_spec[] = {
    { "id",         KNOOP_OPT_STRING, NULL, "ID", "Partner id of this broker.", true },
    { "listen",     KNOOP_OPT_STRING, "tcp://0.0.0.0:7400", "ENDPOINT",
      "ZeroMQ endpoint to bind.", false },
    { "data",       KNOOP_OPT_STRING, "/var/lib/knoop", "DIR", "Journal directory.", false },
    { "key",        KNOOP_OPT_STRING, NULL, "FILE", "Identity key file.", false },
    { "trust",      KNOOP_OPT_STRING, NULL, "DIR", "Trust store directory.", false },
    { "policy",     KNOOP_OPT_STRING, NULL, "FILE", "Topic policy file.", false },
    { "peer",       KNOOP_OPT_LIST,   NULL, "ENDPOINT", "Peer broker to replicate with.", false },
    { "log-level",  KNOOP_OPT_STRING, "info", "LEVEL", "error, warn, info or debug.", false },
    { "max-peers",  KNOOP_OPT_INT,    "16", NULL, "Most peers at once.", false },
    { "foreground", KNOOP_OPT_BOOL,   "false", NULL, "Stay in the foreground.", false },
    { "secret-pin", KNOOP_OPT_INT,    NULL, "PIN", "A number that must not be shown.", false },
    { NULL },
};

#define PROG "knoop-broker"

/* ---- helpers ---- */

typedef struct {
    knoop_config_t *cfg;
    bool            help;
    char            err[512];
} s_result_t;

/* Parse PROG followed by the NULL-terminated arguments. */
static int s_parse_spec(s_result_t *r, const knoop_opt_spec_t *spec, const char *first, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = strdup(PROG);
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(argc < 63);
        argv[argc++] = strdup(a);
    }
    va_end(ap);
    argv[argc] = NULL;
    /* Poison the outputs: the parser must set all of them. */
    r->cfg = (knoop_config_t *) r;
    r->help = true;
    strcpy(r->err, "unset");
    int rc = knoop_config_parse(PROG, "broker", "knooppunt message broker",
                                "Relays messages between partners.\nKeeps a journal.",
                                spec, argc, argv, &r->cfg, &r->help, r->err, sizeof r->err);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    if (rc == KNOOP_OK)
        assert_string_equal(r->err, "");
    else {
        assert_null(r->cfg);
        assert_false(r->help);
        /* One line, naming the program. */
        assert_int_equal(strncmp(r->err, PROG ": ", strlen(PROG ": ")), 0);
        assert_null(strchr(r->err, '\n'));
    }
    return rc;
}

#define s_parse(r, ...) s_parse_spec(r, s_spec, __VA_ARGS__)

/* Write DIR/NAME; returns the malloc'd path. */
static char *s_write(const char *dir, const char *name, const char *text, size_t len)
{
    char *path = tu_path(dir, name);
    tu_write_file(path, text, len, 0600);
    return path;
}

static char *s_conf(const char *dir, const char *text)
{
    return s_write(dir, "broker.conf", text, strlen(text));
}

static void s_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("'%s' does not contain '%s'", haystack, needle);
}

static void s_lacks(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle))
        fail_msg("'%s' contains '%s'", haystack, needle);
}

/* ---- values from the two places ---- */

static void test_flags_only(void **state)
{
    s_result_t r;
    assert_int_equal(s_parse(&r, "--id", "kcr2-broker-1", "--listen=tcp://*:7401",
                             "--peer", "tcp://b2:7400", "--peer=tcp://b3:7400",
                             "--max-peers", "-5", "--foreground", "--key", "/k/b1.key", NULL),
                     KNOOP_OK);
    assert_false(r.help);
    assert_non_null(r.cfg);
    assert_string_equal(knoop_config_str(r.cfg, "id"), "kcr2-broker-1");
    assert_string_equal(knoop_config_str(r.cfg, "listen"), "tcp://*:7401");
    assert_string_equal(knoop_config_str(r.cfg, "key"), "/k/b1.key");
    assert_int_equal(knoop_config_int(r.cfg, "max-peers"), -5);
    assert_string_equal(knoop_config_str(r.cfg, "max-peers"), "-5");
    assert_true(knoop_config_bool(r.cfg, "foreground"));
    assert_string_equal(knoop_config_str(r.cfg, "foreground"), "true");
    const char *const *peers;
    assert_int_equal(knoop_config_list(r.cfg, "peer", &peers), 2);
    assert_string_equal(peers[0], "tcp://b2:7400");
    assert_string_equal(peers[1], "tcp://b3:7400");
    assert_true(knoop_config_is_set(r.cfg, "listen"));
    assert_false(knoop_config_is_set(r.cfg, "data"));
    assert_null(knoop_config_file(r.cfg));
    knoop_config_destroy(&r.cfg);
    assert_null(r.cfg);
    knoop_config_destroy(&r.cfg);

    /* A scalar flag given twice: the last counts. BOOL takes =VALUE. */
    assert_int_equal(s_parse(&r, "--id", "a", "--id", "b", "--foreground=off",
                             "--foreground=YES", "--foreground=0", NULL), KNOOP_OK);
    assert_string_equal(knoop_config_str(r.cfg, "id"), "b");
    assert_false(knoop_config_bool(r.cfg, "foreground"));
    assert_true(knoop_config_is_set(r.cfg, "foreground"));
    knoop_config_destroy(&r.cfg);
}

static void test_file_only(void **state)
{
    char *dir = tu_tmpdir("config");
    char *path = s_conf(dir,
        "# knoop-broker configuration\n"
        "; also a comment\n"
        "\n"
        "[broker]\n"
        "id = kcr2-broker-1\n"
        "  listen = tcp://0.0.0.0:7400   ; indented, with an inline comment\n"
        "peer = tcp://b2:7400\n"
        "peer=tcp://b3:7400\n"
        "max-peers = +42\n"
        "foreground = Yes\n"
        "data = /srv/knoop\r\n"
        "log-level = debug");        /* no final newline */
    s_result_t r;
    assert_int_equal(s_parse(&r, "--config", path, NULL), KNOOP_OK);
    assert_string_equal(knoop_config_file(r.cfg), path);
    assert_string_equal(knoop_config_str(r.cfg, "id"), "kcr2-broker-1");
    assert_string_equal(knoop_config_str(r.cfg, "listen"), "tcp://0.0.0.0:7400");
    assert_string_equal(knoop_config_str(r.cfg, "data"), "/srv/knoop");
    assert_string_equal(knoop_config_str(r.cfg, "log-level"), "debug");
    assert_int_equal(knoop_config_int(r.cfg, "max-peers"), 42);
    assert_true(knoop_config_bool(r.cfg, "foreground"));
    const char *const *peers;
    assert_int_equal(knoop_config_list(r.cfg, "peer", &peers), 2);
    assert_string_equal(peers[0], "tcp://b2:7400");
    assert_string_equal(peers[1], "tcp://b3:7400");
    assert_true(knoop_config_is_set(r.cfg, "id"));
    assert_false(knoop_config_is_set(r.cfg, "key"));
    knoop_config_destroy(&r.cfg);

    /* --config=FILE works as well; an empty file leaves only defaults. */
    char *empty = s_write(dir, "empty.conf", "", 0);
    char arg[512];
    snprintf(arg, sizeof arg, "--config=%s", empty);
    assert_int_equal(s_parse(&r, arg, "--id", "x", NULL), KNOOP_OK);
    assert_string_equal(knoop_config_str(r.cfg, "listen"), "tcp://0.0.0.0:7400");
    knoop_config_destroy(&r.cfg);
    free(empty);
    free(path);
    tu_rmtree(dir);
}

static void test_flag_overrides_file(void **state)
{
    char *dir = tu_tmpdir("config");
    char *path = s_conf(dir,
        "[broker]\n"
        "id = from-file\n"
        "listen = tcp://file:1\n"
        "foreground = true\n");
    s_result_t r;
    /* Order on the command line does not matter: flags beat the file. */
    assert_int_equal(s_parse(&r, "--listen", "tcp://flag:2", "--config", path,
                             "--foreground=false", NULL), KNOOP_OK);
    assert_string_equal(knoop_config_str(r.cfg, "listen"), "tcp://flag:2");
    assert_string_equal(knoop_config_str(r.cfg, "id"), "from-file");
    assert_false(knoop_config_bool(r.cfg, "foreground"));
    knoop_config_destroy(&r.cfg);
    free(path);
    tu_rmtree(dir);
}

static void test_lists(void **state)
{
    char *dir = tu_tmpdir("config");
    char *path = s_conf(dir,
        "[broker]\n"
        "id = b1\n"
        "peer = tcp://b2:7400\n"
        "peer = tcp://b3:7400\n"
        "peer = tcp://b4:7400\n");
    s_result_t r;
    const char *const *items;

    /* The file's repeated keys append, in order. */
    assert_int_equal(s_parse(&r, "--config", path, NULL), KNOOP_OK);
    assert_int_equal(knoop_config_list(r.cfg, "peer", &items), 3);
    assert_string_equal(items[0], "tcp://b2:7400");
    assert_string_equal(items[2], "tcp://b4:7400");
    knoop_config_destroy(&r.cfg);

    /* Any flag replaces the whole list. */
    assert_int_equal(s_parse(&r, "--config", path, "--peer", "tcp://x:1", NULL), KNOOP_OK);
    assert_int_equal(knoop_config_list(r.cfg, "peer", &items), 1);
    assert_string_equal(items[0], "tcp://x:1");
    assert_int_equal(knoop_config_list(r.cfg, "peer", NULL), 1);
    knoop_config_destroy(&r.cfg);

    /* Unset: zero items and a NULL array. */
    assert_int_equal(s_parse(&r, "--id", "b1", NULL), KNOOP_OK);
    items = (const char *const *) &r;
    assert_int_equal(knoop_config_list(r.cfg, "peer", &items), 0);
    assert_null(items);
    knoop_config_destroy(&r.cfg);

    /* A LIST default is one item. */
    static const knoop_opt_spec_t spec[] = {
        { "seed", KNOOP_OPT_LIST, "tcp://seed:1", NULL, "Seed.", false },
        { NULL },
    };
    assert_int_equal(s_parse_spec(&r, spec, NULL), KNOOP_OK);
    assert_int_equal(knoop_config_list(r.cfg, "seed", &items), 1);
    assert_string_equal(items[0], "tcp://seed:1");
    assert_false(knoop_config_is_set(r.cfg, "seed"));
    knoop_config_destroy(&r.cfg);
    free(path);
    tu_rmtree(dir);
}

static void test_defaults(void **state)
{
    s_result_t r;
    assert_int_equal(s_parse(&r, "--id", "b1", NULL), KNOOP_OK);
    assert_string_equal(knoop_config_str(r.cfg, "listen"), "tcp://0.0.0.0:7400");
    assert_string_equal(knoop_config_str(r.cfg, "data"), "/var/lib/knoop");
    assert_string_equal(knoop_config_str(r.cfg, "log-level"), "info");
    assert_int_equal(knoop_config_int(r.cfg, "max-peers"), 16);
    assert_false(knoop_config_bool(r.cfg, "foreground"));
    assert_null(knoop_config_str(r.cfg, "key"));
    assert_int_equal(knoop_config_int(r.cfg, "secret-pin"), 0);
    assert_false(knoop_config_is_set(r.cfg, "listen"));
    assert_false(knoop_config_is_set(r.cfg, "max-peers"));
    knoop_config_destroy(&r.cfg);
}

static void test_required_missing(void **state)
{
    s_result_t r;
    assert_int_equal(s_parse(&r, NULL), KNOOP_EINVAL);
    s_contains(r.err, "missing required option --id");
    s_contains(r.err, "[broker]");

    static const knoop_opt_spec_t spec[] = {
        { "id",     KNOOP_OPT_STRING, NULL, NULL, "Id.", true },
        { "listen", KNOOP_OPT_STRING, NULL, NULL, "Endpoint.", true },
        { "trust",  KNOOP_OPT_STRING, NULL, NULL, "Trust.", true },
        { NULL },
    };
    assert_int_equal(s_parse_spec(&r, spec, "--listen", "tcp://x:1", NULL), KNOOP_EINVAL);
    s_contains(r.err, "missing required options --id, --trust");
    s_lacks(r.err, "--listen");

    /* A required option given in the file is given. */
    char *dir = tu_tmpdir("config");
    char *path = s_conf(dir, "[broker]\nid = b1\ntrust = /t\n");
    assert_int_equal(s_parse_spec(&r, spec, "--listen", "tcp://x:1", "--config", path, NULL),
                     KNOOP_OK);
    knoop_config_destroy(&r.cfg);
    free(path);
    tu_rmtree(dir);
}

/* ---- the file's mistakes, by file:line ---- */

/* Parse `text` as the config file; returns the error with the path cut. */
static int s_file_error(const char *text, char *err, size_t size)
{
    char *dir = tu_tmpdir("config");
    char *path = s_conf(dir, text);
    s_result_t r;
    int rc = s_parse(&r, "--id", "b1", "--config", path, NULL);
    if (rc == KNOOP_OK)
        knoop_config_destroy(&r.cfg);
    else {
        s_contains(r.err, path);
        /* "knoop-broker: DIR/broker.conf:7: ..." -> "broker.conf:7: ..." */
        snprintf(err, size, "%s", strstr(r.err, "broker.conf"));
    }
    free(path);
    tu_rmtree(dir);
    return rc;
}

static void test_unknown_key(void **state)
{
    char err[512];
    assert_int_equal(s_file_error("[broker]\n# comment\nlisen = tcp://x:1\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:3: unknown key 'lisen' in [broker]");
    /* Keys are not case-folded, and the file cannot name another file. */
    assert_int_equal(s_file_error("[broker]\nListen = x\n", err, sizeof err), KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:2: unknown key 'Listen' in [broker]");
    assert_int_equal(s_file_error("[broker]\nconfig = /etc/other\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:2: unknown key 'config' in [broker]");
}

static void test_wrong_section(void **state)
{
    char err[512];
    assert_int_equal(s_file_error("# broker\n[brokr]\nlisten = tcp://x:1\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:2: section [brokr] is not [broker]");
    /* A second section after a good one. */
    assert_int_equal(s_file_error("[broker]\nid = b1\n\n[node]\nid = n1\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:4: section [node] is not [broker]");
    assert_int_equal(s_file_error("listen = tcp://x:1\n[broker]\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:1: key 'listen' is outside [broker]");
}

static void test_file_value_errors(void **state)
{
    char err[512];
    assert_int_equal(s_file_error("[broker]\nlisten = a\nlisten = b\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:3: key 'listen' given twice (first on line 2)");
    assert_int_equal(s_file_error("[broker]\nlisten =\n", err, sizeof err), KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:2: key 'listen': empty value");
    assert_int_equal(s_file_error("[broker]\nmax-peers = 12x\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:2: key 'max-peers': '12x' is not an integer");
    assert_int_equal(s_file_error("[broker]\nforeground = maybe\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    s_contains(err, "broker.conf:2: key 'foreground': 'maybe' is not a boolean");
    assert_int_equal(s_file_error("[broker]\nsecret-pin = 12ab\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    assert_string_equal(err, "broker.conf:2: key 'secret-pin': value is not an integer");
}

static void test_syntax_errors(void **state)
{
    char err[512];
    assert_int_equal(s_file_error("[broker]\nthis is not ini\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    s_contains(err, "broker.conf:2: not INI syntax");
    assert_int_equal(s_file_error("[broker\nid = b1\n", err, sizeof err), KNOOP_EMALFORMED);
    s_contains(err, "broker.conf:1: not INI syntax");
    /* An earlier syntax error is reported before a later unknown key. */
    assert_int_equal(s_file_error("[broker]\nnonsense\nlisen = x\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    s_contains(err, "broker.conf:2: not INI syntax");
    /* No continuation lines: an indented line does not add a list item. */
    assert_int_equal(s_file_error("[broker]\npeer = tcp://b2:7400\n    b3\n", err, sizeof err),
                     KNOOP_EMALFORMED);
    s_contains(err, "broker.conf:3: not INI syntax");
}

static void test_long_lines(void **state)
{
    char err[512];
    char text[1024];
    char line[KNOOP_CONFIG_LINE_MAX + 2];

    /* Exactly at the limit is fine. */
    memset(line, 'x', sizeof line);
    line[0] = '#';
    line[KNOOP_CONFIG_LINE_MAX] = '\0';
    snprintf(text, sizeof text, "[broker]\n%s\nid = b1\n", line);
    assert_int_equal(s_file_error(text, err, sizeof err), KNOOP_OK);

    /* One over, and the tail would have been "id = evil" to inih. */
    memset(line, ' ', sizeof line);
    line[0] = '#';
    snprintf(line + KNOOP_CONFIG_LINE_MAX - 8, 10, "id = evil");
    assert_int_equal(strlen(line), KNOOP_CONFIG_LINE_MAX + 1);
    snprintf(text, sizeof text, "[broker]\n%s\n", line);
    assert_int_equal(s_file_error(text, err, sizeof err), KNOOP_ETOOBIG);
    snprintf(text, sizeof text, "broker.conf:2: line longer than %d characters",
             KNOOP_CONFIG_LINE_MAX);
    assert_string_equal(err, text);
}

static void test_file_size_and_bytes(void **state)
{
    char *dir = tu_tmpdir("config");
    s_result_t r;

    /* Over the size bound, in lines that are each fine. */
    size_t len = KNOOP_CONFIG_FILE_MAX + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    for (size_t i = 99; i < len; i += 100)
        big[i] = '\n';
    char *path = s_write(dir, "big.conf", big, len);
    assert_int_equal(s_parse(&r, "--id", "b1", "--config", path, NULL), KNOOP_ETOOBIG);
    s_contains(r.err, "big.conf: larger than");
    free(path);
    /* At the bound it is read. */
    path = s_write(dir, "big.conf", big, len - 1);
    assert_int_equal(s_parse(&r, "--id", "b1", "--config", path, NULL), KNOOP_OK);
    knoop_config_destroy(&r.cfg);
    free(path);
    free(big);

    /* A NUL would end inih's view of the file early. */
    static const char nul[] = "[broker]\nid = b1\n\0lisen = x\n";
    path = s_write(dir, "nul.conf", nul, sizeof nul - 1);
    assert_int_equal(s_parse(&r, "--config", path, NULL), KNOOP_EMALFORMED);
    s_contains(r.err, "NUL");
    free(path);

    /* A directory is not a config file. */
    assert_int_equal(s_parse(&r, "--id", "b1", "--config", dir, NULL), KNOOP_EMALFORMED);
    s_contains(r.err, "not a regular file");
    tu_rmtree(dir);
}

static void test_config_missing_file(void **state)
{
    char *dir = tu_tmpdir("config");
    char path[512];
    snprintf(path, sizeof path, "%s/no-such.conf", dir);
    s_result_t r;
    assert_int_equal(s_parse(&r, "--id", "b1", "--config", path, NULL), KNOOP_ENOTFOUND);
    s_contains(r.err, path);
    s_contains(r.err, "cannot open");

    /* One file only. */
    char *conf = s_conf(dir, "[broker]\n");
    assert_int_equal(s_parse(&r, "--config", conf, "--config", conf, NULL), KNOOP_EINVAL);
    s_contains(r.err, "--config: given more than once");
    assert_int_equal(s_parse(&r, "--config", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --config: missing value");
    free(conf);
    tu_rmtree(dir);
}

/* ---- the command line's mistakes ---- */

static void test_bad_values(void **state)
{
    s_result_t r;
    assert_int_equal(s_parse(&r, "--id", "b1", "--max-peers", "12x", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --max-peers: '12x' is not an integer");
    assert_int_equal(s_parse(&r, "--id", "b1", "--max-peers", " 12", NULL), KNOOP_EINVAL);
    assert_int_equal(s_parse(&r, "--id", "b1", "--max-peers", "", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --max-peers: empty value");
    assert_int_equal(s_parse(&r, "--id", "b1", "--max-peers=99999999999999999999", NULL),
                     KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --max-peers: '99999999999999999999' is out of range");
    assert_int_equal(s_parse(&r, "--id", "b1", "--max-peers=-9223372036854775808", NULL),
                     KNOOP_OK);
    assert_true(knoop_config_int(r.cfg, "max-peers") == -9223372036854775807LL - 1);
    knoop_config_destroy(&r.cfg);
    assert_int_equal(s_parse(&r, "--id", "b1", "--foreground=maybe", NULL), KNOOP_EINVAL);
    s_contains(r.err, PROG ": --foreground: 'maybe' is not a boolean");
    /* The value of a secret is never shown, even when it does not parse. */
    assert_int_equal(s_parse(&r, "--id", "b1", "--secret-pin", "12ab", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --secret-pin: value is not an integer");
    assert_int_equal(s_parse(&r, "--id=", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --id: empty value");
}

static void test_missing_value(void **state)
{
    s_result_t r;
    assert_int_equal(s_parse(&r, "--id", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --id: missing value");
    /* "--key --id b1": the key path was forgotten, --id is not it. */
    assert_int_equal(s_parse(&r, "--key", "--id", "b1", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --key: missing value");
    /* Written with '=', a value may start with dashes. */
    assert_int_equal(s_parse(&r, "--id=--odd", NULL), KNOOP_OK);
    assert_string_equal(knoop_config_str(r.cfg, "id"), "--odd");
    knoop_config_destroy(&r.cfg);
}

static void test_unknown_flags(void **state)
{
    s_result_t r;
    assert_int_equal(s_parse(&r, "--id", "b1", "--lisen", "x", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --lisen: unknown option");
    /* The value after '=' may be a secret: not shown. */
    assert_int_equal(s_parse(&r, "--id", "b1", "--secret-key=hunter2", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": --secret-key: unknown option");
    assert_int_equal(s_parse(&r, "-x", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": -x: unknown option");
    /* No abbreviations, unique or not. */
    assert_int_equal(s_parse(&r, "--id", "b1", "--lis", "tcp://x:1", NULL), KNOOP_EINVAL);
    s_contains(r.err, PROG ": --lis: unknown option (did you mean --listen?");
    assert_int_equal(s_parse(&r, "--i=b1", NULL), KNOOP_EINVAL);
    s_contains(r.err, "--i: unknown option");
    /* Not even of --help: no usage is printed for "--hel". */
    assert_int_equal(s_parse(&r, "--hel", NULL), KNOOP_EINVAL);
    s_contains(r.err, "did you mean --help?");
}

static void test_positional(void **state)
{
    s_result_t r;
    assert_int_equal(s_parse(&r, "--id", "b1", "extra", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": unexpected argument 'extra'");
    /* Not permuted: an argument before the flags is named, too. */
    assert_int_equal(s_parse(&r, "start", "--id", "b1", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": unexpected argument 'start'");
    assert_int_equal(s_parse(&r, "--id", "b1", "--", "--listen", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": unexpected argument '--listen'");
    /* A BOOL never takes a separate value; the message says how. */
    assert_int_equal(s_parse(&r, "--id", "b1", "--foreground", "yes", NULL), KNOOP_EINVAL);
    s_contains(r.err, "unexpected argument 'yes' (a BOOL flag takes its value as "
                      "--foreground=VALUE)");
    /* Control characters do not reach the terminal. */
    assert_int_equal(s_parse(&r, "--id", "b1", "a\033[2Jb", NULL), KNOOP_EINVAL);
    assert_string_equal(r.err, PROG ": unexpected argument 'a?[2Jb'");
}

/* ---- --help ---- */

/* Run a parse with stdout sent to a file; returns what was printed. */
static char *s_capture(s_result_t *r, int *rc, const char *first, const char *second)
{
    char *dir = tu_tmpdir("config-help");
    char path[512];
    snprintf(path, sizeof path, "%s/stdout", dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);
    *rc = s_parse(r, first, second, NULL);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    tu_rmtree(dir);
    return text;
}

static void test_help(void **state)
{
    s_result_t r;
    int rc;
    char *text = s_capture(&r, &rc, "--help", NULL);
    assert_int_equal(rc, KNOOP_OK);
    assert_true(r.help);
    assert_null(r.cfg);
    s_contains(text, "NAME\n       knoop-broker - knooppunt message broker\n");
    s_contains(text, "\nSYNOPSIS\n       knoop-broker [--config FILE] --id ID [--listen ENDPOINT]");
    s_contains(text, "[--peer ENDPOINT]...");
    s_contains(text, "[--foreground[=BOOL]]");
    /* Prose is one paragraph, filled to the terminal's width. */
    s_contains(text, "\nDESCRIPTION\n       Relays messages between partners. Keeps a journal.\n");
    s_contains(text, "\nOPTIONS\n");
    s_contains(text, "\nFILES\n       --config FILE: the same keys as the flags, in section\n"
                     "       [broker]");
    for (const knoop_opt_spec_t *s = s_spec; s->name; s++) {
        char flag[80];
        snprintf(flag, sizeof flag, "\n       --%s", s->name);
        s_contains(text, flag);
        s_contains(text, s->help);
        if (s->def) {
            snprintf(flag, sizeof flag, "Default: %s.", s->def);
            s_contains(text, flag);
        }
    }
    s_contains(text, "              [broker]\n              id = ID\n"
                     "              peer = ENDPOINT\n              peer = ENDPOINT\n");
    s_contains(text, "Partner id of this broker. Required.");
    s_contains(text, "--max-peers N");
    s_contains(text, "\n       --config FILE\n");
    s_contains(text, "\n       --help, -h\n");
    /* No line is wider than a terminal. */
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        assert_true(len <= 79);
        p += len + (p[len] == '\n');
    }
    free(text);

    /* Help wins over missing required options; -h too. */
    text = s_capture(&r, &rc, "-h", NULL);
    assert_int_equal(rc, KNOOP_OK);
    assert_true(r.help);
    s_contains(text, "OPTIONS");
    free(text);
    /* An error before --help is still an error, and prints nothing. */
    text = s_capture(&r, &rc, "--lisen", "--help");
    assert_int_equal(rc, KNOOP_EINVAL);
    assert_string_equal(text, "");
    free(text);
}

/* ---- the spec itself ---- */

static void test_bad_spec(void **state)
{
    s_result_t r;
    static const knoop_opt_spec_t required_default[] = {
        { "id", KNOOP_OPT_STRING, "x", NULL, "Id.", true }, { NULL },
    };
    assert_int_equal(s_parse_spec(&r, required_default, NULL), KNOOP_EINVAL);
    s_contains(r.err, "internal: option spec 'id'");
    static const knoop_opt_spec_t bad_default[] = {
        { "n", KNOOP_OPT_INT, "ten", NULL, "N.", false }, { NULL },
    };
    assert_int_equal(s_parse_spec(&r, bad_default, NULL), KNOOP_EINVAL);
    static const knoop_opt_spec_t reserved[] = {
        { "config", KNOOP_OPT_STRING, NULL, NULL, "Clash.", false }, { NULL },
    };
    assert_int_equal(s_parse_spec(&r, reserved, NULL), KNOOP_EINVAL);
    static const knoop_opt_spec_t twice[] = {
        { "a", KNOOP_OPT_STRING, NULL, NULL, "A.", false },
        { "a", KNOOP_OPT_INT, NULL, NULL, "A again.", false },
        { NULL },
    };
    assert_int_equal(s_parse_spec(&r, twice, NULL), KNOOP_EINVAL);
    static const knoop_opt_spec_t bad_name[] = {
        { "a=b", KNOOP_OPT_STRING, NULL, NULL, "A.", false }, { NULL },
    };
    assert_int_equal(s_parse_spec(&r, bad_name, NULL), KNOOP_EINVAL);
}

/* knoop_config_daemon: run (-1, config kept, log level applied) or an exit
 * status for main() with nothing to free. */
static void test_daemon_start(void **state)
{
    char *ok[] = { PROG, "--id", "b1", "--log-level", "error", NULL };
    char *badlevel[] = { PROG, "--id", "b1", "--log-level", "loud", NULL };
    char *badopt[] = { PROG, "--bogus", NULL };
    knoop_config_t *cfg = (knoop_config_t *) ok;   /* poisoned: must be set */
    assert_int_equal(knoop_config_daemon(PROG, "broker", "s", "d", s_spec, 5, ok, &cfg), -1);
    assert_non_null(cfg);
    assert_string_equal(knoop_config_str(cfg, "id"), "b1");
    knoop_config_destroy(&cfg);
    cfg = (knoop_config_t *) ok;
    assert_int_equal(knoop_config_daemon(PROG, "broker", "s", "d", s_spec, 5, badlevel, &cfg), 2);
    assert_null(cfg);
    cfg = (knoop_config_t *) ok;
    assert_int_equal(knoop_config_daemon(PROG, "broker", "s", "d", s_spec, 2, badopt, &cfg), 2);
    assert_null(cfg);
}

/* A command with operands: they may stand between options, "--" ends the
 * options, the count is bounded both ways, and help shows them with the
 * exit status and examples. */
static const knoop_opt_spec_t s_cmd_spec[] = {
    { "api",  KNOOP_OPT_STRING, NULL, "ENDPOINT", "The node.", false },
    { "wait", KNOOP_OPT_BOOL,   "true", NULL, "Wait for the verdict.", false },
    { NULL },
};

static int s_cmd(const knoop_cmd_t *cmd, knoop_config_t **cfg, bool *help, char *err,
                 char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return knoop_config_parse_cmd(cmd, s_cmd_spec, argc, argv, cfg, help, err, 512);
}

static void test_operands(void **state)
{
    const knoop_cmd_t cmd = {
        .prog = "knoop cap import", .section = "cap-import", .summary = "CAP in",
        .operands = "FILE...", .operands_min = 1, .operands_max = 3,
        .exit_status = "0 all imported, 1 one refused", .examples = "knoop cap import a.xml",
    };
    knoop_config_t *cfg;
    bool help;
    char err[512];
    const char *const *items;

    char *mixed[] = { "knoop", "a.xml", "--api", "ipc://x", "b.xml", "--wait=false", NULL };
    assert_int_equal(s_cmd(&cmd, &cfg, &help, err, mixed), KNOOP_OK);
    assert_int_equal(knoop_config_operands(cfg, &items), 2);
    assert_string_equal(items[0], "a.xml");
    assert_string_equal(items[1], "b.xml");
    assert_string_equal(knoop_config_str(cfg, "api"), "ipc://x");
    assert_false(knoop_config_bool(cfg, "wait"));
    knoop_config_destroy(&cfg);

    /* After "--", what looks like an option is an operand; "-" is one too. */
    char *dashes[] = { "knoop", "--api", "e", "-", "--", "--wait", NULL };
    assert_int_equal(s_cmd(&cmd, &cfg, &help, err, dashes), KNOOP_OK);
    assert_int_equal(knoop_config_operands(cfg, &items), 2);
    assert_string_equal(items[0], "-");
    assert_string_equal(items[1], "--wait");
    assert_true(knoop_config_bool(cfg, "wait"));
    knoop_config_destroy(&cfg);

    char *none[] = { "knoop", "--api", "e", NULL };
    assert_int_equal(s_cmd(&cmd, &cfg, &help, err, none), KNOOP_EINVAL);
    assert_null(cfg);
    assert_string_equal(err, "knoop cap import: missing FILE...");

    char *four[] = { "knoop", "a", "b", "c", "d", NULL };
    assert_int_equal(s_cmd(&cmd, &cfg, &help, err, four), KNOOP_EINVAL);
    assert_non_null(strstr(err, "unexpected argument 'd' (at most 3: FILE...)"));

    /* Abbreviations are refused here too. */
    char *abbrev[] = { "knoop", "a", "--wai", NULL };
    assert_int_equal(s_cmd(&cmd, &cfg, &help, err, abbrev), KNOOP_EINVAL);
    assert_non_null(strstr(err, "did you mean --wait?"));

    /* A command without operands refuses any. */
    const knoop_cmd_t bare = { .prog = "knoop status", .section = "status" };
    char *stray[] = { "knoop", "x", NULL };
    assert_int_equal(s_cmd(&bare, &cfg, &help, err, stray), KNOOP_EINVAL);
    assert_string_equal(err, "knoop status: unexpected argument 'x'");

    /* knoop_config_command: -1 to run, 0 after help, 2 after an error. */
    assert_int_equal(knoop_config_command(&bare, s_cmd_spec, 2, stray, &cfg), 2);
    assert_null(cfg);
    assert_int_equal(knoop_config_command(&cmd, s_cmd_spec, 2, (char *[]) { "k", "f", NULL },
                                          &cfg), -1);
    assert_int_equal(knoop_config_operands(cfg, NULL), 1);
    knoop_config_destroy(&cfg);
}

static void test_command_help(void **state)
{
    const knoop_cmd_t cmd = {
        .prog = "knoop cap import", .section = "cap-import", .summary = "CAP in",
        .operands = "FILE...", .operands_min = 1,
        .exit_status = "0 all imported, 1 one refused", .examples = "knoop cap import a.xml",
    };
    char path[] = "/tmp/test_config_helpXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    knoop_config_t *cfg = NULL;
    int rc = knoop_config_command(&cmd, s_cmd_spec, 2, (char *[]) { "k", "--help", NULL }, &cfg);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_int_equal(rc, 0);
    assert_null(cfg);
    char text[4096];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    text[n] = '\0';
    s_contains(text, "SYNOPSIS\n       knoop cap import [--config FILE] [--api ENDPOINT]"
                     " [--wait[=BOOL]]\n                        FILE...\n");
    s_contains(text, "\nEXIT STATUS\n       0 all imported, 1 one refused\n");
    s_contains(text, "\nEXAMPLES\n       knoop cap import a.xml\n");
    s_contains(text, "[cap-import]\n              api = ENDPOINT\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_only),
        cmocka_unit_test(test_file_only),
        cmocka_unit_test(test_flag_overrides_file),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_required_missing),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_section),
        cmocka_unit_test(test_file_value_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_file_size_and_bytes),
        cmocka_unit_test(test_config_missing_file),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_unknown_flags),
        cmocka_unit_test(test_positional),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_daemon_start),
        cmocka_unit_test(test_operands),
        cmocka_unit_test(test_command_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
