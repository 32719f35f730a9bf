/* cli_cap.c — `knoop cap import` and `knoop cap export`: CAP 1.2 documents
 * in and out through the partner's node (the codec is lib/cap.c). */
#include "cap.h"
#include "cli.h"
#include "client.h"
#include "crypto.h"         /* knoop_hash */
#include "hlc.h"
#include "json.h"
#include "keys.h"           /* knoop_time_parse */
#include "topic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT 30
#define DOCS_MAX        1000        /* documents per import */
#define DEFAULT_WAIT    5           /* seconds for the broker's verdict, as knoop pub */

/* `knoop cap` alone or with --help: the two subcommands. */
static const char s_help[] =
"usage: knoop cap import [OPTIONS] FILE... | -\n"
"       knoop cap export --out DIR [OPTIONS]\n"
"       knoop cap SUBCOMMAND --help\n";

static const knoop_cmd_t s_cmd_import = {
    .prog = "knoop cap import",
    .section = "cap-import",
    .summary = "validate CAP 1.2 alerts and publish them",
    .description =
"Validates each CAP 1.2 document (OASIS Common Alerting Protocol; '-'\n"
"reads one document from stdin) and publishes it as a\n"
"knoop.crisis.v1.Alert. Every document is checked before anything is\n"
"published: one refused document publishes nothing. A refusal names the\n"
"element and the rule (alert/info[2]/area[1]/polygon[1]: not closed ...).\n"
"The envelope status follows CAP <status>: Actual, Exercise, Test, System\n"
"(exercise and test alerts never enter the real picture); Draft is\n"
"refused. The state key is \"sender,identifier\" of the alert; an Update\n"
"or Cancel takes the key of the alert it references, so that it\n"
"supersedes it in the picture (knoop beeld), also along a chain of\n"
"updates. As knoop pub, while the node's link is up it waits (up to\n"
"--wait seconds) for the broker's verdict: a refusal (policy, payload\n"
"rules) is told on stderr with the broker's reason and exits 1; with the\n"
"link down the alerts are stored by the node and sent when it returns\n"
"(said on stderr).\n"
"\n"
"--priority defaults to flash when an <info> has urgency Immediate, else\n"
"immediate. --tlp defaults from <scope>: Public clear, Restricted amber,\n"
"Private red to the partner ids its <addresses> names (amber when it\n"
"names none); red and amber+strict go only to those partners.",
    .operands = "FILE...",
    .operands_min = 1,
    .exit_status =
"0 done; 1 a document was refused (by the CAP check, the node or the\n"
"broker); 2 usage, input or connection error.",
    .examples =
"knoop cap import --topic alert.vr-zuid-limburg nl-alert-0714.xml\n"
"curl -s https://example.org/cap/latest.xml | knoop cap import -",
};

static const knoop_opt_spec_t s_spec_import[] = {
    CLI_OPT_API,
    { "topic", KNOOP_OPT_STRING, NULL, "TOPIC",
      "where to publish (default alert.PARTNER, the node's id)", false },
    { "priority", KNOOP_OPT_STRING, NULL, "P", "flash, immediate or routine", false },
    { "tlp", KNOOP_OPT_STRING, NULL, "TLP", "traffic light: clear, green, amber, red", false },
    { "check", KNOOP_OPT_BOOL, "false", NULL, "validate only; publish nothing (no node needed)",
      false },
    { "wait", KNOOP_OPT_INT, "5", "SEC",
      "how long to wait for the broker's verdict while the link is up (0: do not wait)",
      false },
    { "no-wait", KNOOP_OPT_BOOL, "false", NULL, "return after the node's commit, as --wait 0",
      false },
    CLI_OPT_TIMEOUT("30"),
    { NULL },
};

static const knoop_cmd_t s_cmd_export = {
    .prog = "knoop cap export",
    .section = "cap-export",
    .summary = "write the node's CAP alerts as CAP 1.2 documents",
    .description =
"Writes one CAP document per alert message the node holds on the\n"
"pattern: the history, superseded alerts and all statuses included, not\n"
"only the current picture. A file is named after the identifier\n"
"(characters outside A-Z a-z 0-9 . _ - replaced by '_', then .xml); a\n"
"second message with the same identifier but other content is written as\n"
"NAME-2.xml, NAME-3.xml, ... An alert that came in through import comes\n"
"out equal to the document that went in under XML canonicalisation\n"
"(C14N), ds:Signature included, so a signed alert still verifies.",
    .exit_status =
"0 done; 1 an alert could not be exported; 2 usage, input or connection\n"
"error.",
    .examples =
"knoop cap export --pattern 'alert.>' --since 2021-07-14T00:00:00Z --out cap/",
};

static const knoop_opt_spec_t s_spec_export[] = {
    CLI_OPT_API,
    { "out", KNOOP_OPT_STRING, NULL, "DIR", "the directory to write to (made if missing)",
      true },
    { "pattern", KNOOP_OPT_STRING, "alert.>", "P", "the topics to export", false },
    { "since", KNOOP_OPT_STRING, NULL, "TIME",
      "only messages from then on (RFC 3339 UTC, 2021-07-14T00:00:00Z)", false },
    CLI_OPT_TIMEOUT("30"),
    { NULL },
};

typedef struct {
    bool              import;
    const char       *cmd;          /* "cap import" / "cap export" */
    const char       *api, *topic, *pattern, *out;
    bool              has_priority, has_tlp, check;
    knoop_priority_t  priority;
    knoop_tlp_t       tlp;
    int64_t           since;        /* unix seconds, 0 = all */
    int               timeout_ms;
    int               wait_ms;      /* import: the broker's verdict */
    bool              has_wait;
    const char *const *files;
    int               nfiles;
    char              api_default[512];
} cap_args_t;

/* The options of cfg (parsed with the subcommand's spec) into a. */
static int s_parse(const knoop_config_t *cfg, cap_args_t *a)
{
    a->api = knoop_config_str(cfg, "api");
    a->timeout_ms = DEFAULT_TIMEOUT * 1000;
    if (cli_timeout(a->cmd, cfg, 86400, &a->timeout_ms))
        return 2;
    if (a->import) {
        a->topic = knoop_config_str(cfg, "topic");
        a->check = knoop_config_bool(cfg, "check");
        const char *prio = knoop_config_str(cfg, "priority");
        if (prio && knoop_priority_parse(prio, &a->priority) != KNOOP_OK) {
            fprintf(stderr, "knoop %s: --priority '%s' is not flash, immediate or "
                    "routine\n", a->cmd, prio);
            return 2;
        }
        a->has_priority = prio != NULL;
        const char *tlp = knoop_config_str(cfg, "tlp");
        if (tlp && knoop_tlp_parse(tlp, &a->tlp) != KNOOP_OK) {
            fprintf(stderr, "knoop %s: --tlp '%s' is not a TLP label (clear, green, "
                    "amber, red)\n", a->cmd, tlp);
            return 2;
        }
        a->has_tlp = tlp != NULL;
        long long wait = knoop_config_int(cfg, "wait");
        if (wait < 0 || wait > 3600) {
            fprintf(stderr, "knoop %s: --wait %lld is not a number of seconds (0..3600)\n",
                    a->cmd, wait);
            return 2;
        }
        a->wait_ms = knoop_config_bool(cfg, "no-wait") ? 0 : (int) wait * 1000;
        size_t n = knoop_config_operands(cfg, &a->files);
        if (n > DOCS_MAX) {
            fprintf(stderr, "knoop %s: at most %d documents per import\n", a->cmd, DOCS_MAX);
            return 2;
        }
        a->nfiles = (int) n;
        if (a->topic && knoop_topic_validate(a->topic) != KNOOP_OK) {
            fprintf(stderr, "knoop %s: invalid topic '%s' (1..16 dot-separated tokens of "
                    "a-z 0-9 _ -, no wildcards)\n", a->cmd, a->topic);
            return 2;
        }
    } else {
        a->out = knoop_config_str(cfg, "out");
        a->pattern = knoop_config_str(cfg, "pattern");
        const char *since = knoop_config_str(cfg, "since");
        if (since && (knoop_time_parse(since, &a->since) != KNOOP_OK || a->since <= 0)) {
            fprintf(stderr, "knoop %s: --since '%s' is not an RFC 3339 UTC time "
                    "(2021-07-14T00:00:00Z)\n", a->cmd, since);
            return 2;
        }
        if (knoop_pattern_validate(a->pattern) != KNOOP_OK) {
            fprintf(stderr, "knoop %s: invalid pattern '%s' (tokens of [a-z0-9_-], '*' for "
                    "one token, '>' for the rest)\n", a->cmd, a->pattern);
            return 2;
        }
    }
    if (!(a->import && a->check) && !a->api) {
        a->api = cli_api(a->cmd, cfg, a->api_default, sizeof a->api_default);
        if (!a->api)
            return 2;
    }
    return 0;
}

/* ---- import ---- */

static int s_read_all(FILE *f, knoop_buf_t *out, const char *name, const char *cmd)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > KNOOP_CAP_DOC_MAX) {
            fprintf(stderr, "knoop %s: %s: larger than %u bytes\n", cmd, name,
                    KNOOP_CAP_DOC_MAX);
            return 2;
        }
        if (knoop_buf_append(out, chunk, n)) {
            fprintf(stderr, "knoop %s: out of memory\n", cmd);
            return 2;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "knoop %s: %s: read error: %s\n", cmd, name, strerror(errno));
        return 2;
    }
    return 0;
}

typedef struct {
    const char         *name;
    knoop_buf_t         payload;
    knoop_cap_summary_t sum;
    char                key[KNOOP_KEY_MAX + 1];
    char                rcpt_buf[1024];      /* the recipients' ids, NUL-separated */
    const char         *rcpt[KNOOP_RECIPIENTS_MAX];
    size_t              nrcpt;
} doc_t;

/* A Private alert travels as TLP RED, which brokers deliver only to the
 * partners the envelope names: take them from CAP <addresses> (space
 * separated, multi-word names in double quotes), keeping what are partner
 * ids ("kcr2 vr-limburg-noord \"LVNL Maastricht\"" names two). */
static void s_recipients(doc_t *d)
{
    d->nrcpt = 0;
    json_t *j = NULL;
    if (knoop_payload_to_json(KNOOP_CAP_TYPE, d->payload.data, d->payload.len, &j) != KNOOP_OK)
        return;
    const char *addr = json_string_value(json_object_get(j, "addresses"));
    size_t used = 0;
    for (const char *p = addr; p && *p && d->nrcpt < KNOOP_RECIPIENTS_MAX;) {
        while (*p == ' ')
            p++;
        if (*p == '"') {                       /* a quoted name: not an id */
            const char *q = strchr(p + 1, '"');
            p = q ? q + 1 : p + strlen(p);
            continue;
        }
        size_t n = strcspn(p, " ");
        if (n > 0 && n <= KNOOP_ID_MAX && used + n + 1 <= sizeof d->rcpt_buf) {
            char *id = d->rcpt_buf + used;
            memcpy(id, p, n);
            id[n] = '\0';
            bool dup = false;
            for (size_t i = 0; i < d->nrcpt; i++)
                dup = dup || !strcmp(d->rcpt[i], id);
            if (knoop_id_valid(id) && !dup) {
                d->rcpt[d->nrcpt++] = id;
                used += n + 1;
            }
        }
        p += n;
    }
    json_decref(j);
}

static int s_partner_topic(const cap_args_t *a, knoop_client_t *c, char *out, size_t size)
{
    char *json = NULL;
    int rc = knoop_client_status(c, &json, a->timeout_ms);
    if (rc) {
        fprintf(stderr, "knoop %s: cannot ask the node for its id: %s\n", a->cmd,
                knoop_client_error(c));
        return 2;
    }
    json_t *o = json_loads(json, 0, NULL);
    free(json);
    const char *id = json_string_value(json_object_get(o, "partner"));
    int status = 0;
    if (!id || snprintf(out, size, "alert.%s", id) >= (int) size ||
        knoop_topic_validate(out) != KNOOP_OK) {
        fprintf(stderr, "knoop %s: the node's status names no partner id; give --topic\n",
                a->cmd);
        status = 2;
    }
    json_decref(o);
    return status;
}

static int s_import(cap_args_t *a)
{
    doc_t *docs = calloc((size_t) a->nfiles, sizeof *docs);
    if (!docs) {
        fprintf(stderr, "knoop %s: out of memory\n", a->cmd);
        return 2;
    }
    int status = 0, refused = 0;
    for (int i = 0; i < a->nfiles && status != 2; i++) {
        doc_t *d = &docs[i];
        bool is_stdin = !strcmp(a->files[i], "-");
        d->name = is_stdin ? "stdin" : a->files[i];
        FILE *f = is_stdin ? stdin : fopen(a->files[i], "rb");
        if (!f) {
            fprintf(stderr, "knoop %s: cannot open %s: %s\n", a->cmd, d->name, strerror(errno));
            status = 2;
            break;
        }
        knoop_buf_t text = { 0 };
        status = s_read_all(f, &text, d->name, a->cmd);
        if (!is_stdin)
            fclose(f);
        if (status == 0) {
            char err[512];
            int rc = knoop_cap_import(text.data ? (const char *) text.data : "", text.len,
                                      &d->payload, &d->sum, err, sizeof err);
            if (rc) {
                fprintf(stderr, "knoop %s: %s refused: %s\n", a->cmd, d->name, err);
                refused++;
            }
        }
        knoop_buf_free(&text);
    }
    if (status == 0 && refused) {
        fprintf(stderr, "knoop %s: %d of %d documents refused; nothing published\n", a->cmd,
                refused, a->nfiles);
        status = 1;
    }
    if (status == 0 && a->check) {
        for (int i = 0; i < a->nfiles; i++)
            printf("%s: valid CAP 1.2 (%s)\n", docs[i].name, docs[i].sum.identifier);
    }
    knoop_client_t *c = NULL;
    knoop_cap_keys_t *map = knoop_cap_keys_new();
    if (!map) {
        fprintf(stderr, "knoop %s: out of memory\n", a->cmd);
        status = 2;
    }
    char topic[KNOOP_TOPIC_MAX + 1];
    if (status == 0 && !a->check) {
        c = cli_client(a->cmd, a->api);
        if (!c)
            status = 2;
        if (status == 0 && !a->topic)
            status = s_partner_topic(a, c, topic, sizeof topic);
        else if (status == 0)
            snprintf(topic, sizeof topic, "%s", a->topic);
        if (status == 0 && knoop_client_beeld(c, topic, knoop_cap_keys_add_message, map,
                                             a->timeout_ms)) {
            fprintf(stderr, "knoop %s: cannot read the picture of %s from the node: %s\n",
                    a->cmd, topic, knoop_client_error(c));
            status = 2;
        }
    }
    knoop_api_item_t *items = NULL;
    knoop_api_seq_t *res = NULL;
    if (status == 0 && !a->check) {
        items = calloc((size_t) a->nfiles, sizeof *items);
        res = calloc((size_t) a->nfiles, sizeof *res);
        if (!items || !res) {
            fprintf(stderr, "knoop %s: out of memory\n", a->cmd);
            status = 2;
        }
    }
    for (int i = 0; status == 0 && !a->check && i < a->nfiles; i++) {
        doc_t *d = &docs[i];
        if (knoop_cap_keys_assign(map, &d->sum, d->key, sizeof d->key)) {
            fprintf(stderr, "knoop %s: %s: sender and identifier are too long for a state "
                    "key (%d bytes)\n", a->cmd, d->name, KNOOP_KEY_MAX);
            status = 2;
            break;
        }
        s_recipients(d);
        /* Private naming partners: RED to exactly those; Private naming
         * none (only outside addresses): AMBER, as Restricted. */
        knoop_tlp_t tlp = a->has_tlp ? a->tlp : d->sum.is_public ? KNOOP_TLP_CLEAR :
                          d->sum.is_private && d->nrcpt ? KNOOP_TLP_RED : KNOOP_TLP_AMBER;
        bool named = knoop_tlp_restricted(tlp);
        items[i] = (knoop_api_item_t) {
            .recipients = named ? d->rcpt : NULL, .nrecipients = named ? d->nrcpt : 0,
            .topic = topic, .type = KNOOP_CAP_TYPE, .key = d->key,
            .priority = a->has_priority ? a->priority :
                        d->sum.immediate ? KNOOP_PRIO_FLASH : KNOOP_PRIO_IMMEDIATE,
            .status = d->sum.status,
            .tlp = tlp,
            .payload = d->payload.data, .payload_len = d->payload.len,
        };
    }
    if (status == 0 && !a->check) {
        char err[512];
        bool link_up = false;
        if (knoop_client_publish_wait(c, items, (size_t) a->nfiles, res, (uint32_t) a->wait_ms,
                                      a->timeout_ms, &link_up, err, sizeof err)) {
            bool no = knoop_client_refused(c);
            fprintf(stderr, "knoop %s: %s: %s; nothing published\n", a->cmd,
                    no ? "node refused the alerts" : "publish failed", err);
            status = no ? 1 : 2;
        } else {
            for (int i = 0; i < a->nfiles; i++)
                printf("%s: %s %s %s %llu key %s\n", docs[i].name, docs[i].sum.identifier,
                       res[i].origin, res[i].topic, (unsigned long long) res[i].seq,
                       docs[i].key);
            fflush(stdout);
            status = cli_report_verdicts(a->cmd, res, (size_t) a->nfiles, a->wait_ms, link_up);
        }
    }
    free(items);
    free(res);
    knoop_client_destroy(&c);
    knoop_cap_keys_destroy(&map);
    for (int i = 0; i < a->nfiles; i++) {
        knoop_buf_free(&docs[i].payload);
        knoop_cap_summary_clear(&docs[i].sum);
    }
    free(docs);
    return status;
}

/* ---- export ---- */

/* How many messages a subscription from the start delivers on the pattern:
 * the verified messages of the matching streams. */
static int s_expected(const cap_args_t *a, knoop_client_t *c, uint64_t *n)
{
    char *json = NULL;
    if (knoop_client_status(c, &json, a->timeout_ms)) {
        fprintf(stderr, "knoop %s: cannot ask the node what it holds: %s\n", a->cmd,
                knoop_client_error(c));
        return 2;
    }
    json_t *o = json_loads(json, 0, NULL);
    free(json);
    json_t *streams = json_object_get(o, "streams"), *s;
    size_t i;
    *n = 0;
    json_array_foreach(streams, i, s) {
        const char *topic = json_string_value(json_object_get(s, "topic"));
        if (topic && knoop_topic_match(a->pattern, topic))
            *n += (uint64_t) json_integer_value(json_object_get(s, "verified"));
    }
    json_decref(o);
    return 0;
}

/* Write data to DIR/NAME (via a temporary file and rename). */
static int s_write_file(const char *dir, const char *name, const knoop_buf_t *data)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < data->len) {
        ssize_t w = write(fd, data->data + off, data->len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t) w;
    }
    if (fsync(fd) || close(fd) || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Names written in this run and a digest of their content. */
typedef struct {
    char    **name;
    uint8_t (*hash)[KNOOP_HASH_LEN];
    size_t    n, cap;
} written_t;

static int s_export(cap_args_t *a)
{
    if (mkdir(a->out, 0755) && errno != EEXIST) {
        fprintf(stderr, "knoop %s: cannot make %s: %s\n", a->cmd, a->out, strerror(errno));
        return 2;
    }
    struct stat st;
    if (stat(a->out, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "knoop %s: --out %s is not a directory\n", a->cmd, a->out);
        return 2;
    }
    knoop_client_t *c = cli_client(a->cmd, a->api);
    if (!c)
        return 2;
    uint64_t expected = 0, got = 0;
    int status = s_expected(a, c, &expected);
    char err[512];
    if (status == 0 && expected > 0 &&
        knoop_client_subscribe(c, a->pattern, NULL, true, 0, KNOOP_API_STATUS_ALL,
                               a->timeout_ms, err, sizeof err)) {
        fprintf(stderr, "knoop %s: the node refused the subscription to %s: %s\n", a->cmd,
                a->pattern, err);
        status = 2;
    }
    written_t wr = { 0 };
    size_t exported = 0, failed = 0;
    knoop_buf_t xml = { 0 };
    while (status == 0 && got < expected) {
        uint64_t pos;
        const uint8_t *env;
        size_t len;
        int rc = knoop_client_next(c, &pos, &env, &len, a->timeout_ms);
        if (rc) {
            fprintf(stderr, "knoop %s: the node sent %llu of the %llu messages it holds on "
                    "%s, then %s\n", a->cmd, (unsigned long long) got,
                    (unsigned long long) expected, a->pattern,
                    rc == KNOOP_ETIMEDOUT ? "nothing within --timeout" : knoop_client_error(c));
            status = 2;
            break;
        }
        got++;
        knoop_msg_t m = { 0 };
        if (knoop_msg_parse(&m, env, len) == KNOOP_OK && !strcmp(m.b.type, KNOOP_CAP_TYPE) &&
            (!a->since || (int64_t) (KNOOP_HLC_MS(m.b.hlc) / 1000) >= a->since)) {
            knoop_cap_summary_t s;
            xml.len = 0;
            int erc = knoop_cap_export(m.b.payload, m.b.payload_len, &xml, err, sizeof err);
            if (erc == KNOOP_OK && knoop_cap_summary(m.b.payload, m.b.payload_len, &s) == 0) {
                uint8_t h[KNOOP_HASH_LEN];
                knoop_hash(h, xml.data, xml.len);
                char base[208], name[240];
                knoop_cap_file_name(s.identifier, base, sizeof base);
                knoop_cap_summary_clear(&s);
                bool same = false;
                snprintf(name, sizeof name, "%s", base);
                for (int k = 2;; k++) {
                    size_t j = 0;
                    while (j < wr.n && strcmp(wr.name[j], name))
                        j++;
                    if (j == wr.n)
                        break;
                    if (!memcmp(wr.hash[j], h, sizeof h)) {
                        same = true;
                        break;
                    }
                    snprintf(name, sizeof name, "%.*s-%d.xml", (int) strlen(base) - 4, base, k);
                }
                if (!same) {
                    if (s_write_file(a->out, name, &xml)) {
                        fprintf(stderr, "knoop %s: cannot write %s/%s: %s\n", a->cmd, a->out,
                                name, strerror(errno));
                        status = 2;
                    } else if (wr.n == wr.cap) {
                        size_t cap = wr.cap ? wr.cap * 2 : 64;
                        char **nn = realloc(wr.name, cap * sizeof *nn);
                        if (nn)
                            wr.name = nn;
                        void *hh = nn ? realloc(wr.hash, cap * sizeof *wr.hash) : NULL;
                        if (hh)
                            wr.hash = hh;
                        if (!nn || !hh) {
                            fprintf(stderr, "knoop %s: out of memory\n", a->cmd);
                            status = 2;
                        } else {
                            wr.cap = cap;
                        }
                    }
                    if (status == 0) {
                        wr.name[wr.n] = strdup(name);
                        memcpy(wr.hash[wr.n], h, sizeof h);
                        if (wr.name[wr.n])
                            wr.n++;
                        exported++;
                        printf("%s/%s\n", a->out, name);
                    }
                }
            } else {
                fprintf(stderr, "knoop %s: %s %s seq %llu: cannot be written as CAP: %s\n",
                        a->cmd, m.b.origin, m.b.topic, (unsigned long long) m.b.seq,
                        erc ? err : "payload does not decode");
                failed++;
            }
        }
        knoop_msg_clear(&m);
        knoop_client_ack(c, pos);
    }
    if (status == 0)
        fprintf(stderr, "knoop %s: %zu CAP documents written to %s\n", a->cmd, exported,
                a->out);
    if (status == 0 && failed)
        status = 1;
    for (size_t i = 0; i < wr.n; i++)
        free(wr.name[i]);
    free(wr.name);
    free(wr.hash);
    knoop_buf_free(&xml);
    knoop_client_destroy(&c);
    return status;
}

int knoop_cli_cap(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(s_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cap_args_t a = { 0 };
    const knoop_cmd_t *cmd;
    const knoop_opt_spec_t *spec;
    if (!strcmp(argv[1], "import")) {
        a.import = true;
        a.cmd = "cap import";
        cmd = &s_cmd_import;
        spec = s_spec_import;
    } else if (!strcmp(argv[1], "export")) {
        a.cmd = "cap export";
        cmd = &s_cmd_export;
        spec = s_spec_export;
    } else {
        fprintf(stderr, "knoop cap: unknown subcommand '%s' (import or export; see --help)\n",
                argv[1]);
        return 2;
    }
    knoop_config_t *cfg = NULL;
    int rc = cli_options(cmd, spec, argc - 1, argv + 1, &cfg);
    if (rc >= 0)
        return rc;
    rc = s_parse(cfg, &a);
    if (rc == 0)
        rc = a.import ? s_import(&a) : s_export(&a);
    knoop_config_destroy(&cfg);
    return rc;
}
