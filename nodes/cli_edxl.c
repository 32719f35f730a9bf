/* cli_edxl.c — `knoop edxl wrap` and `knoop edxl unwrap`: crisis payloads in
 * and out of EDXL-DE 2.0 distribution envelopes (the codec is lib/edxl.c). */
#include "cli.h"
#include "edxl.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INPUT_MAX (64u << 20)
#define ADDR_MAX  256

static const char s_help[] =
"NAME\n"
"    knoop edxl - crisis payloads in and out of EDXL-DE 2.0 envelopes\n"
"\n"
"SYNOPSIS\n"
"    knoop edxl wrap [--sender ID] [--id ID] [--sent TIME] [--expires TIME]\n"
"                    [--status S] [--kind K] [--language L]\n"
"                    [--to [SCHEME:]ADDRESS]... [FILE | -]\n"
"    knoop edxl unwrap [--lines] [FILE | -]\n"
"\n"
"DESCRIPTION\n"
"    wrap reads messages as JSON lines — what knoop sub and knoop audit replay\n"
"    print, or knoop play scenario lines: objects with \"type\" and \"payload\"\n"
"    — and writes one EDXL-DE 2.0 distribution (OASIS Emergency Data Exchange\n"
"    Language, Distribution Element) holding each payload as a content object:\n"
"    a knoop.crisis.v1.Alert as an embedded CAP 1.2 <alert>, any other type as\n"
"    nonXMLContent of \"application/x-protobuf; messageType=TYPE\" (the payload's\n"
"    protobuf bytes, base64). Lines without \"type\" (a scenario's \"say\") and\n"
"    lines starting with '#' are skipped and counted on stderr. wrap also takes\n"
"    one distribution object as unwrap prints it, and writes it back as XML.\n"
"\n"
"    unwrap reads an EDXL-DE 2.0 document and prints the distribution as one\n"
"    JSON object: the header (distributionID, senderID, dateTimeSent,\n"
"    dateTimeExpires, distributionStatus, distributionKind, language,\n"
"    explicitAddress, targetArea as XML text) and \"content\", each with\n"
"    \"type\", \"payload\" (as knoop pub takes it) and \"description\". A content\n"
"    object that is not a knooppunt payload is refused, naming it; an embedded\n"
"    CAP alert is checked as knoop cap import checks it.\n"
"\n"
"    unwrap(wrap(x)) gives x back; wrap(unwrap(doc)) gives doc back equal under\n"
"    XML canonicalisation, whitespace between EDXL elements aside.\n"
"\n"
"OPTIONS (wrap, for JSON lines)\n"
"    --sender ID      senderID (default: \"origin\" or \"as\" of the first line)\n"
"    --id ID          distributionID (default SENDER-UNIXMILLIS)\n"
"    --sent TIME      dateTimeSent, e.g. 2021-07-15T01:00:00+02:00 (default now)\n"
"    --expires TIME   dateTimeExpires (default one day after --sent)\n"
"    --status S       Actual, Exercise, System, Test (default from the first\n"
"                     line's \"status\", else Actual)\n"
"    --kind K         Report (default), Update, Cancel, Request, Response, ...\n"
"    --language L     descriptor/language, e.g. nl-NL\n"
"    --to ADDRESS     an explicitAddress; SCHEME defaults to \"knooppunt\"\n"
"                     (partner ids); may repeat\n"
"OPTIONS (unwrap)\n"
"    --lines          print one line per content object, {\"type\", \"payload\"},\n"
"                     instead of the distribution\n"
"    --help           this text\n"
"\n"
"EXIT STATUS\n"
"    0 done; 1 the input was refused (the reason names the field or element);\n"
"    2 usage or input/output error.\n"
"\n"
"EXAMPLES\n"
"    knoop sub --pattern 'grip.>' --from-start --timeout 2 |\n"
"        knoop edxl wrap --sender kcr2 --to vr-utrecht > grip.edxl.xml\n"
"    knoop edxl unwrap --lines grip.edxl.xml | jq -c .payload\n";

enum { OPT_SENDER = 1, OPT_ID, OPT_SENT, OPT_EXPIRES, OPT_STATUS, OPT_KIND, OPT_LANGUAGE,
       OPT_TO, OPT_LINES, OPT_HELP };

static const struct option s_opts[] = {
    { "sender", required_argument, NULL, OPT_SENDER },
    { "id", required_argument, NULL, OPT_ID },
    { "sent", required_argument, NULL, OPT_SENT },
    { "expires", required_argument, NULL, OPT_EXPIRES },
    { "status", required_argument, NULL, OPT_STATUS },
    { "kind", required_argument, NULL, OPT_KIND },
    { "language", required_argument, NULL, OPT_LANGUAGE },
    { "to", required_argument, NULL, OPT_TO },
    { "lines", no_argument, NULL, OPT_LINES },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
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
    struct tm tm;
    if (a->sent) {
        snprintf(sent, sizeof sent, "%s", a->sent);
    } else {
        gmtime_r(&now, &tm);
        strftime(sent, sizeof sent, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    }
    if (a->expires) {
        snprintf(expires, sizeof expires, "%s", a->expires);
    } else {
        /* one day after sent, in sent's own zone offset */
        struct tm t = { 0 };
        int zh = 0, zm = 0;
        char sign = '+';
        if (sscanf(sent, "%d-%d-%dT%d:%d:%d%c%d:%d", &t.tm_year, &t.tm_mon, &t.tm_mday,
                   &t.tm_hour, &t.tm_min, &t.tm_sec, &sign, &zh, &zm) == 9) {
            t.tm_year -= 1900;
            t.tm_mon -= 1;
            t.tm_mday += 1;
            time_t later = timegm(&t);
            gmtime_r(&later, &t);
            char base[24];
            strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &t);
            snprintf(expires, sizeof expires, "%s%.6s", base, sent + 19);
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
        fputs(s_help, argc < 2 ? stderr : stdout);
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
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", s_opts, NULL)) != -1) {
        if (c == OPT_HELP) {
            fputs(s_help, stdout);
            return 0;
        }
        if (c == OPT_LINES && !wrap) {
            a.lines = true;
            continue;
        }
        if (!wrap || c == OPT_LINES || c == ':' || c == '?')
            return cli_getopt_error(a.cmd, c == ':' ? ':' : '?', argv);
        a.header_opts = true;
        switch (c) {
        case OPT_SENDER:   a.sender = optarg; break;
        case OPT_ID:       a.id = optarg; break;
        case OPT_SENT:     a.sent = optarg; break;
        case OPT_EXPIRES:  a.expires = optarg; break;
        case OPT_STATUS:   a.status = optarg; break;
        case OPT_KIND:     a.kind = optarg; break;
        case OPT_LANGUAGE: a.language = optarg; break;
        case OPT_TO:
            if (a.nto == ADDR_MAX) {
                fprintf(stderr, "knoop %s: at most %d --to\n", a.cmd, ADDR_MAX);
                return 2;
            }
            a.to[a.nto++] = optarg;
            break;
        default:
            return cli_getopt_error(a.cmd, c, argv);
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "knoop %s: one input FILE (or '-'), not %d\n", a.cmd, argc - optind);
        return 2;
    }
    a.file = optind < argc ? argv[optind] : "-";
    return wrap ? s_wrap(&a) : s_unwrap(&a);
}
