/* cli_edxl.c — `knoop edxl wrap` and `knoop edxl unwrap`: crisis payloads in
 * and out of EDXL-DE 2.0 distribution envelopes (the codec is lib/edxl.c). */
#include "cli.h"
#include "edxl.h"
#include "timefmt.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INPUT_MAX (64u << 20)
#define ADDR_MAX  256

static const char s_group_help[] =
"usage: knoop edxl wrap [OPTIONS] [FILE | -]     JSON lines to an EDXL-DE 2.0 document\n"
"       knoop edxl unwrap [--lines] [FILE | -]   an EDXL-DE 2.0 document to JSON\n"
"\n"
"knoop edxl wrap --help and knoop edxl unwrap --help explain each.\n";

static const char s_exit[] =
"0 done; 1 the input was refused (the reason names the field or element);\n"
"2 usage or input/output error.";

static const char s_examples[] =
"knoop sub --pattern 'grip.>' --from-start --timeout 2 |\n"
"    knoop edxl wrap --sender kcr2 --to vr-utrecht > grip.edxl.xml\n"
"knoop edxl unwrap --lines grip.edxl.xml | jq -c .payload";

static const knoop_cmd_t s_cmd_wrap = {
    .prog = "knoop edxl wrap",
    .section = "edxl-wrap",
    .summary = "crisis payloads into an EDXL-DE 2.0 distribution",
    .description =
"Reads messages as JSON lines (FILE, or stdin for '-' or none) — what\n"
"knoop sub and knoop audit replay print, or knoop play scenario lines:\n"
"objects with \"type\" and \"payload\" — and writes one EDXL-DE 2.0\n"
"distribution (OASIS Emergency Data Exchange Language, Distribution\n"
"Element) holding each payload as a content object: a\n"
"knoop.crisis.v1.Alert as an embedded CAP 1.2 <alert>, any other type as\n"
"NonXMLContent of \"application/x-protobuf; messageType=TYPE\" (the\n"
"payload's protobuf bytes, base64). Lines without \"type\" (a scenario's\n"
"\"say\") and lines starting with '#' are skipped and counted on stderr.\n"
"wrap also takes one distribution object as unwrap prints it, and writes\n"
"it back as XML (the header options do not apply to it).\n"
"\n"
"unwrap(wrap(x)) gives x back; wrap(unwrap(doc)) gives doc back equal under\n"
"XML canonicalisation, whitespace between EDXL elements aside.",
    .operands = "[FILE | -]",
    .operands_max = 1,
    .exit_status = s_exit,
    .examples = s_examples,
};

static const knoop_opt_spec_t s_spec_wrap[] = {
    { "sender", KNOOP_OPT_STRING, NULL, "ID",
      "senderID (default: \"origin\" or \"as\" of the first line)", false },
    { "id", KNOOP_OPT_STRING, NULL, "ID", "distributionID (default SENDER-UNIXMILLIS)", false },
    { "sent", KNOOP_OPT_STRING, NULL, "TIME",
      "dateTimeSent, e.g. 2021-07-15T01:00:00+02:00 (default now)", false },
    { "expires", KNOOP_OPT_STRING, NULL, "TIME",
      "dateTimeExpires (default one day after --sent)", false },
    { "status", KNOOP_OPT_STRING, NULL, "S",
      "Actual, Exercise, System, Test (default from the first line's \"status\", else "
      "Actual)", false },
    { "kind", KNOOP_OPT_STRING, NULL, "K",
      "Report (default), Update, Cancel, Request, Response, ...", false },
    { "language", KNOOP_OPT_STRING, NULL, "L", "descriptor/language, e.g. nl-NL", false },
    { "to", KNOOP_OPT_LIST, NULL, "[SCHEME:]ADDRESS",
      "an explicitAddress; SCHEME defaults to \"knooppunt\" (partner ids)", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_unwrap = {
    .prog = "knoop edxl unwrap",
    .section = "edxl-unwrap",
    .summary = "an EDXL-DE 2.0 distribution to JSON",
    .description =
"Reads an EDXL-DE 2.0 document (FILE, or stdin for '-' or none) and prints\n"
"the distribution as one JSON object: the header (distributionID,\n"
"senderID, dateTimeSent, dateTimeExpires, distributionStatus,\n"
"distributionKind, language, explicitAddress, targetArea as XML text) and\n"
"\"content\", each with \"type\", \"payload\" (as knoop pub takes it) and\n"
"\"description\". A content object that is not a knooppunt payload is\n"
"refused, naming it; an embedded CAP alert is checked as knoop cap import\n"
"checks it. The element names are the OASIS schema's (DistributionID,\n"
"SenderID, ..., ct:ValueListURI and ct:Value); a document in the\n"
"lowerCamelCase spelling earlier knooppunt versions wrote (distributionID,\n"
"...) is read too.",
    .operands = "[FILE | -]",
    .operands_max = 1,
    .exit_status = s_exit,
    .examples = s_examples,
};

static const knoop_opt_spec_t s_spec_unwrap[] = {
    { "lines", KNOOP_OPT_BOOL, "false", NULL,
      "print one line per content object, {\"type\", \"payload\"}, instead of the "
      "distribution", false },
    { NULL },
};

typedef struct {
    const char *cmd;
    const char *sender, *id, *sent, *expires, *status, *kind, *language;
    const char *to[ADDR_MAX];
    int         nto;
    bool        lines, header_opts;
    const char *file;
} edxl_args_t;

static int s_read(const char *cmd, const char *file, knoop_buf_t *out)
{
    bool is_stdin = !strcmp(file, "-");
    FILE *f = is_stdin ? stdin : fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "knoop %s: cannot open %s: %s\n", cmd, file, strerror(errno));
        return 2;
    }
    char chunk[65536];
    size_t n;
    int status = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > INPUT_MAX) {
            fprintf(stderr, "knoop %s: %s is larger than %u bytes\n", cmd, file, INPUT_MAX);
            status = 2;
            break;
        }
        if (knoop_buf_append(out, chunk, n)) {
            fprintf(stderr, "knoop %s: out of memory\n", cmd);
            status = 2;
            break;
        }
    }
    if (status == 0 && ferror(f)) {
        fprintf(stderr, "knoop %s: %s: read error: %s\n", cmd, file, strerror(errno));
        status = 2;
    }
    if (!is_stdin)
        fclose(f);
    return status;
}

static const char *s_cap_status(const char *envelope_status)
{
    static const char *const map[][2] = { { "actual", "Actual" }, { "exercise", "Exercise" },
                                          { "test", "Test" }, { "system", "System" } };
    for (size_t i = 0; envelope_status && i < 4; i++)
        if (!strcmp(map[i][0], envelope_status))
            return map[i][1];
    return NULL;
}

/* JSON lines of messages -> a distribution object. */
static json_t *s_from_lines(const edxl_args_t *a, char *text)
{
    json_t *content = json_array();
    const char *sender = a->sender, *status = a->status;
    char *save = NULL;
    unsigned long lineno = 0, skipped = 0;
    json_t *keep = json_array();        /* lines whose strings we borrow */
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line += strspn(line, " \t\r");
        if (!*line || *line == '#') {
            skipped += *line == '#';
            continue;
        }
        json_error_t je;
        json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o)) {
            fprintf(stderr, "knoop %s: line %lu: not a JSON object%s%s\n", a->cmd, lineno,
                    o ? "" : ": ", o ? "" : je.text);
            json_decref(o);
            json_decref(content);
            json_decref(keep);
            return NULL;
        }
        json_array_append_new(keep, o);
        const json_t *type = json_object_get(o, "type");
        if (!type) {
            skipped++;
            continue;
        }
        if (!sender)
            sender = json_string_value(json_object_get(o, "origin"));
        if (!sender)
            sender = json_string_value(json_object_get(o, "as"));
        if (!status)
            status = s_cap_status(json_string_value(json_object_get(o, "status")));
        json_t *item = json_pack("{s:O, s:O}", "type", type, "payload",
                                 json_object_get(o, "payload"));
        const char *topic = json_string_value(json_object_get(o, "topic"));
        if (item && topic && json_is_string(type)) {
            char desc[512];
            snprintf(desc, sizeof desc, "%s on %s", json_string_value(type), topic);
            json_object_set_new(item, "description", json_string(desc));
        }
        if (!item) {
            fprintf(stderr, "knoop %s: line %lu: needs \"type\" and \"payload\"\n", a->cmd,
                    lineno);
            json_decref(content);
            json_decref(keep);
            return NULL;
        }
        json_array_append_new(content, item);
    }
    if (skipped)
        fprintf(stderr, "knoop %s: %lu lines without a payload skipped\n", a->cmd, skipped);
    if (!sender) {
        fprintf(stderr, "knoop %s: no --sender and no \"origin\" in the input\n", a->cmd);
        json_decref(content);
        json_decref(keep);
        return NULL;
    }
    time_t now = time(NULL);
    char sent[32], expires[32], id[256];
    if (a->sent)
        snprintf(sent, sizeof sent, "%s", a->sent);
    else
        knoop_time_format_cap(sent, (int64_t) now, 0);
    if (a->expires) {
        snprintf(expires, sizeof expires, "%s", a->expires);
    } else {
        /* one day after sent, in sent's own zone offset */
        int64_t t;
        int off;
        if (knoop_time_parse_cap(sent, &t, &off) == KNOOP_OK) {
            knoop_time_format_cap(expires, t + 86400, off);
        } else {
            snprintf(expires, sizeof expires, "%s", sent);   /* refused by wrap, named */
        }
    }
    if (a->id)
        snprintf(id, sizeof id, "%s", a->id);
    else
        snprintf(id, sizeof id, "%s-%lld", sender, (long long) now * 1000);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "distributionID", id, "senderID",
                          sender, "dateTimeSent", sent, "dateTimeExpires", expires,
                          "distributionStatus", status ? status : "Actual",
                          "distributionKind", a->kind ? a->kind : "Report");
    if (d && a->language)
        json_object_set_new(d, "language", json_string(a->language));
    if (d && a->nto) {
        json_t *addr = json_array();
        for (int i = 0; i < a->nto; i++) {
            const char *colon = strchr(a->to[i], ':');
            char scheme[128];
            snprintf(scheme, sizeof scheme, "%.*s", colon ? (int) (colon - a->to[i]) : 9,
                     colon ? a->to[i] : "knooppunt");
            const char *value = colon ? colon + 1 : a->to[i];
            json_t *one = NULL;
            size_t j;
            json_t *x;
            json_array_foreach(addr, j, x)
                if (!strcmp(json_string_value(json_object_get(x, "scheme")), scheme))
                    one = x;
            if (!one) {
                one = json_pack("{s:s, s:[]}", "scheme", scheme, "value");
                json_array_append_new(addr, one);
            }
            json_array_append_new(json_object_get(one, "value"), json_string(value));
        }
        json_object_set_new(d, "explicitAddress", addr);
    }
    if (d)
        json_object_set_new(d, "content", content);
    else
        json_decref(content);
    json_decref(keep);
    return d;
}

static int s_wrap(const edxl_args_t *a)
{
    knoop_buf_t in = { 0 };
    int status = s_read(a->cmd, a->file, &in);
    if (status == 0 && knoop_buf_append(&in, "", 1))
        status = 2;
    json_t *dist = NULL;
    if (status == 0) {
        json_t *whole = json_loads((const char *) in.data, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(whole) && json_object_get(whole, "content")) {
            if (a->header_opts) {
                fprintf(stderr, "knoop %s: the input is a whole distribution; header options "
                        "apply to JSON lines of messages only\n", a->cmd);
                status = 2;
            }
            dist = whole;
        } else {
            json_decref(whole);
            dist = s_from_lines(a, (char *) in.data);
            if (!dist)
                status = 1;
        }
    }
    knoop_buf_t xml = { 0 };
    char err[512];
    if (status == 0) {
        int rc = knoop_edxl_wrap(dist, &xml, err, sizeof err);
        if (rc) {
            fprintf(stderr, "knoop %s: %s\n", a->cmd, err);
            status = rc == KNOOP_ENOMEM ? 2 : 1;
        } else if (fwrite(xml.data, 1, xml.len, stdout) != xml.len || fflush(stdout)) {
            fprintf(stderr, "knoop %s: cannot write: %s\n", a->cmd, strerror(errno));
            status = 2;
        }
    }
    json_decref(dist);
    knoop_buf_free(&in);
    knoop_buf_free(&xml);
    return status;
}

static int s_unwrap(const edxl_args_t *a)
{
    knoop_buf_t in = { 0 };
    int status = s_read(a->cmd, a->file, &in);
    json_t *dist = NULL;
    char err[512];
    if (status == 0) {
        int rc = knoop_edxl_unwrap(in.data ? (const char *) in.data : "", in.len, &dist, err,
                                   sizeof err);
        if (rc) {
            fprintf(stderr, "knoop %s: %s refused: %s\n", a->cmd,
                    strcmp(a->file, "-") ? a->file : "stdin", err);
            status = rc == KNOOP_ENOMEM ? 2 : 1;
        }
    }
    if (status == 0 && a->lines) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(dist, "content"), i, item) {
            json_t *line = json_pack("{s:O, s:O}", "type", json_object_get(item, "type"),
                                     "payload", json_object_get(item, "payload"));
            char *s = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            if (s)
                puts(s);
            free(s);
            json_decref(line);
        }
    } else if (status == 0) {
        char *s = json_dumps(dist, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        free(s);
    }
    if (status == 0 && fflush(stdout)) {
        fprintf(stderr, "knoop %s: cannot write: %s\n", a->cmd, strerror(errno));
        status = 2;
    }
    json_decref(dist);
    knoop_buf_free(&in);
    return status;
}

int knoop_cli_edxl(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(s_group_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    edxl_args_t a = { 0 };
    bool wrap = !strcmp(argv[1], "wrap");
    if (!wrap && strcmp(argv[1], "unwrap")) {
        fprintf(stderr, "knoop edxl: unknown subcommand '%s' (wrap or unwrap; see --help)\n",
                argv[1]);
        return 2;
    }
    a.cmd = wrap ? "edxl wrap" : "edxl unwrap";
    knoop_config_t *cfg;
    int rc = cli_options(wrap ? &s_cmd_wrap : &s_cmd_unwrap, wrap ? s_spec_wrap : s_spec_unwrap,
                         argc - 1, argv + 1, &cfg);
    if (rc != -1)
        return rc;
    if (wrap) {
        static const char *const names[] = { "sender", "id", "sent", "expires", "status",
                                             "kind", "language" };
        const char **slots[] = { &a.sender, &a.id, &a.sent, &a.expires, &a.status, &a.kind,
                                 &a.language };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if ((*slots[i] = knoop_config_str(cfg, names[i])))
                a.header_opts = true;
        const char *const *to;
        size_t nto = knoop_config_list(cfg, "to", &to);
        if (nto > ADDR_MAX) {
            fprintf(stderr, "knoop %s: at most %d --to\n", a.cmd, ADDR_MAX);
            knoop_config_destroy(&cfg);
            return 2;
        }
        for (size_t i = 0; i < nto; i++)
            a.to[a.nto++] = to[i];
        if (nto)
            a.header_opts = true;
    } else
        a.lines = knoop_config_bool(cfg, "lines");
    const char *const *files;
    a.file = knoop_config_operands(cfg, &files) ? files[0] : "-";
    rc = wrap ? s_wrap(&a) : s_unwrap(&a);
    knoop_config_destroy(&cfg);
    return rc;
}
