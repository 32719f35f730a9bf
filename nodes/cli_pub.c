/* cli_pub.c — `knoop pub`: publish messages through the partner's node, from
 * JSON on the command line or a file of JSON lines. */
#include "cli.h"
#include "client.h"
#include "json.h"
#include "msg.h"
#include "topic.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BATCH_ITEMS   1000              /* items per publish request */
#define BATCH_BYTES   (4u << 20)        /* payload bytes per request, well under KNOOP_API_MAX */
#define LINE_MAX_LEN  (4u << 20)        /* a JSON line; a payload is at most 1 MiB */
#define PROGRESS_MS   2000
#define DEFAULT_TIMEOUT 30
#define DEFAULT_WAIT    5               /* seconds for the broker's verdict */

static const char s_help[] =
"NAME\n"
"    knoop pub - publish messages through the partner's node\n"
"\n"
"SYNOPSIS\n"
"    knoop pub [--api ENDPOINT] --topic TOPIC --type TYPE [--key KEY]\n"
"              [--priority P] [--status S] [--tlp TLP] [--recipient ID]...\n"
"              [--wait SEC | --no-wait] [--timeout SEC] (--json OBJECT | --file FILE)\n"
"\n"
"DESCRIPTION\n"
"    Encodes the payload JSON as protobuf of TYPE and hands the message to the\n"
"    node, which commits it to its journal (it is then sent upstream, also\n"
"    after a link loss). While the node's link to its broker is up, pub then\n"
"    waits (up to --wait seconds) for the broker's verdict: a refusal (policy,\n"
"    payload type, sender) is printed with the broker's reason and pub exits\n"
"    1. While the link is down it returns after the local commit and says the\n"
"    message is stored and waiting for the broker. Prints one line per\n"
"    message committed: ORIGIN TOPIC SEQ, as the node assigned them.\n"
"\n"
"    With --file every non-empty line is one payload object, published with\n"
"    the same topic, type, key and labels, in batches of up to 1000 messages\n"
"    per request (progress on stderr for long files). A regular file is\n"
"    checked completely before anything is published: a bad line publishes\n"
"    nothing. From a pipe ('-' is stdin) lines are checked batch by batch, and\n"
"    the batches before a bad line are published.\n"
"\n"
"OPTIONS\n"
"    --api ENDPOINT   the node's local API (default ipc://$KNOOP_DATA/api.sock)\n"
"    --topic TOPIC    e.g. grip.vr-utrecht (tokens of a-z 0-9 _ -, dot-separated)\n"
"    --type TYPE      payload type, e.g. knoop.crisis.v1.GripLevel\n"
"    --key KEY        state key within the topic (default: the topic itself);\n"
"                     the picture keeps the latest message per topic and key\n"
"    --priority P     flash, immediate or routine (default routine)\n"
"    --status S       actual, exercise, test or system (default actual)\n"
"    --tlp TLP        clear, green, amber, amber+strict or red (default amber);\n"
"                     amber+strict and red go only to the partners named with\n"
"                     --recipient (and the publisher)\n"
"    --recipient ID   a partner the message is for (repeat, or ID,ID,...)\n"
"    --wait SEC       how long to wait for the broker's verdict while the link\n"
"                     is up (default 5; 0 = do not wait)\n"
"    --no-wait        return after the local commit, as --wait 0\n"
"    --json OBJECT    the payload as one JSON object\n"
"    --file FILE      a file of JSON lines, one payload per line; '-' for stdin\n"
"    --timeout SEC    how long to wait for the node per request (default 30)\n"
"    --help           this text\n"
"\n"
"    The payload is proto3 JSON: field names as in the .proto or lowerCamelCase\n"
"    (incident_id or incidentId), enums by name (\"GRIP_4\"), 64-bit integers\n"
"    as strings or numbers, bytes as base64. knoop audit replay shows real\n"
"    examples.\n"
"\n"
"EXIT STATUS\n"
"    0 every message committed (and, with the link up, stored by the broker or\n"
"    still waiting for it: said on stderr), 1 the node or the broker refused\n"
"    a message (the reason is printed; with --file, what was published before\n"
"    is listed), 2 usage, input or connection error.\n"
"\n"
"EXAMPLES\n"
"    knoop pub --topic grip.vr-utrecht --type knoop.crisis.v1.GripLevel \\\n"
"        --json '{\"region\": \"vr-utrecht\", \"level\": \"GRIP_2\", \"reason\": \"brand\"}'\n"
"    knoop pub --api ipc:///var/lib/knoop/api.sock --topic water.ws-limburg.peil \\\n"
"        --type knoop.crisis.v1.WaterLevel --key SINTPTR --file peil.jsonl\n"
"    knoop pub --topic grip.vr-utrecht --type knoop.crisis.v1.GripLevel \\\n"
"        --status exercise --json '{\"level\": \"GRIP_1\"}'\n";

enum { OPT_API = 1, OPT_TOPIC, OPT_TYPE, OPT_KEY, OPT_PRIORITY, OPT_STATUS, OPT_TLP,
       OPT_JSON, OPT_FILE, OPT_TIMEOUT, OPT_HELP, OPT_RECIPIENT, OPT_WAIT, OPT_NO_WAIT };

static const struct option s_opts[] = {
    { "api", required_argument, NULL, OPT_API },
    { "topic", required_argument, NULL, OPT_TOPIC },
    { "type", required_argument, NULL, OPT_TYPE },
    { "key", required_argument, NULL, OPT_KEY },
    { "priority", required_argument, NULL, OPT_PRIORITY },
    { "status", required_argument, NULL, OPT_STATUS },
    { "tlp", required_argument, NULL, OPT_TLP },
    { "json", required_argument, NULL, OPT_JSON },
    { "file", required_argument, NULL, OPT_FILE },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "recipient", required_argument, NULL, OPT_RECIPIENT },
    { "wait", required_argument, NULL, OPT_WAIT },
    { "no-wait", no_argument, NULL, OPT_NO_WAIT },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

typedef struct {
    const char *api, *topic, *type, *key, *json, *file;
    knoop_priority_t priority;
    knoop_status_t status;
    knoop_tlp_t tlp;
    int timeout_ms;
    int wait_ms;
    char api_default[512];
    const char *rcpt[KNOOP_RECIPIENTS_MAX];
    size_t nrcpt;
} pub_args_t;

/* Add the ids of one --recipient argument (ID or ID,ID,...). The ids are
 * split in place: argv lives as long as the program. */
static int s_add_recipients(pub_args_t *a, char *arg)
{
    char *save = NULL;
    for (char *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!knoop_id_valid(t)) {
            fprintf(stderr, "knoop pub: --recipient '%s' is not a partner id (1..%d of a-z "
                    "0-9 -)\n", t, KNOOP_ID_MAX);
            return 2;
        }
        for (size_t i = 0; i < a->nrcpt; i++)
            if (!strcmp(a->rcpt[i], t)) {
                fprintf(stderr, "knoop pub: --recipient %s named twice\n", t);
                return 2;
            }
        if (a->nrcpt == KNOOP_RECIPIENTS_MAX) {
            fprintf(stderr, "knoop pub: more than %d recipients\n", KNOOP_RECIPIENTS_MAX);
            return 2;
        }
        a->rcpt[a->nrcpt++] = t;
    }
    return 0;
}

static int s_parse(int argc, char **argv, pub_args_t *a, bool *help)
{
    memset(a, 0, sizeof *a);
    a->priority = KNOOP_PRIO_ROUTINE;
    a->status = KNOOP_STATUS_ACTUAL;
    a->tlp = KNOOP_TLP_AMBER;
    a->timeout_ms = DEFAULT_TIMEOUT * 1000;
    a->wait_ms = DEFAULT_WAIT * 1000;
    *help = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", s_opts, NULL)) != -1) {
        switch (c) {
        case OPT_API:   a->api = optarg; break;
        case OPT_TOPIC: a->topic = optarg; break;
        case OPT_TYPE:  a->type = optarg; break;
        case OPT_KEY:   a->key = optarg; break;
        case OPT_JSON:  a->json = optarg; break;
        case OPT_FILE:  a->file = optarg; break;
        case OPT_PRIORITY:
            if (knoop_priority_parse(optarg, &a->priority) != KNOOP_OK) {
                fprintf(stderr, "knoop pub: --priority '%s' is not flash, immediate or "
                        "routine\n", optarg);
                return 2;
            }
            break;
        case OPT_STATUS:
            if (knoop_status_parse(optarg, &a->status) != KNOOP_OK) {
                fprintf(stderr, "knoop pub: --status '%s' is not actual, exercise, test or "
                        "system\n", optarg);
                return 2;
            }
            break;
        case OPT_TLP:
            if (knoop_tlp_parse(optarg, &a->tlp) != KNOOP_OK) {
                fprintf(stderr, "knoop pub: --tlp '%s' is not clear, green, amber, "
                        "amber+strict or red\n", optarg);
                return 2;
            }
            break;
        case OPT_RECIPIENT:
            if (s_add_recipients(a, optarg))
                return 2;
            break;
        case OPT_WAIT: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 0 || v > 3600) {
                fprintf(stderr, "knoop pub: --wait '%s' is not a number of seconds "
                        "(0..3600)\n", optarg);
                return 2;
            }
            a->wait_ms = (int) v * 1000;
            break;
        }
        case OPT_NO_WAIT:
            a->wait_ms = 0;
            break;
        case OPT_TIMEOUT:
            if (cli_seconds("pub", optarg, 86400, &a->timeout_ms))
                return 2;
            break;
        case OPT_HELP:
            *help = true;
            return 0;
        default:
            return cli_getopt_error("pub", c, argv);
        }
    }
    if (cli_finish_args("pub", argc, argv, &a->api, a->api_default, sizeof a->api_default))
        return 2;
    if (!a->topic) {
        fprintf(stderr, "knoop pub: --topic TOPIC is required\n");
        return 2;
    }
    if (!a->type) {
        fprintf(stderr, "knoop pub: --type TYPE is required\n");
        return 2;
    }
    if (knoop_tlp_restricted(a->tlp) && a->nrcpt == 0) {
        fprintf(stderr, "knoop pub: --tlp %s goes only to the partners named: give them with "
                "--recipient ID\n", knoop_tlp_name(a->tlp));
        return 2;
    }
    if (!a->json == !a->file) {
        fprintf(stderr, "knoop pub: give the payload with either --json OBJECT or "
                "--file FILE\n");
        return 2;
    }
    if (knoop_topic_validate(a->topic) != KNOOP_OK) {
        fprintf(stderr, "knoop pub: invalid topic '%s' (1..16 dot-separated tokens of "
                "a-z 0-9 _ -, no wildcards)\n", a->topic);
        return 2;
    }
    if (!knoop_payload_type_known(a->type)) {
        fprintf(stderr, "knoop pub: unknown payload type '%s'; known:", a->type);
        for (const char *const *t = knoop_payload_types(); *t; t++)
            fprintf(stderr, " %s", *t);
        fprintf(stderr, "\n");
        return 2;
    }
    if (a->key && strlen(a->key) > KNOOP_KEY_MAX) {
        fprintf(stderr, "knoop pub: --key is longer than %d bytes\n", KNOOP_KEY_MAX);
        return 2;
    }
    for (const unsigned char *k = (const unsigned char *) a->key; k && *k; k++)
        if (*k < 0x20 || *k == 0x7f) {
            fprintf(stderr, "knoop pub: --key holds a control character (a state key is "
                    "printable UTF-8 text)\n");
            return 2;
        }
    return 0;
}

/* JSON text -> payload bytes appended to out. On failure *why names the cause. */
static int s_encode(const pub_args_t *a, const char *text, size_t len, knoop_buf_t *out,
                    char *why, size_t why_size)
{
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        snprintf(why, why_size, "not JSON: %s (column %d)", jerr.text, jerr.column);
        return KNOOP_EMALFORMED;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        snprintf(why, why_size, "not a JSON object");
        return KNOOP_EMALFORMED;
    }
    char err[256] = "";
    int rc = knoop_payload_from_json(a->type, obj, out, err, sizeof err);
    json_decref(obj);
    if (rc)
        snprintf(why, why_size, "payload for %s: %s", a->type,
                 *err ? err : knoop_strerror(rc));
    return rc;
}

static knoop_api_item_t s_item(const pub_args_t *a)
{
    return (knoop_api_item_t) {
        .topic = a->topic, .type = a->type, .key = a->key ? a->key : "",
        .priority = a->priority, .status = a->status, .tlp = a->tlp,
        .recipients = a->rcpt, .nrecipients = a->nrcpt,
    };
}

/* Print what the node committed; tell on stderr what the broker said.
 * Returns 1 when the broker refused any item, else 0. */
static int s_print(const pub_args_t *a, const knoop_api_seq_t *r, size_t n, bool link_up)
{
    size_t stored = 0, refused = 0;
    for (size_t i = 0; i < n; i++) {
        printf("%s %s %llu\n", r[i].origin, r[i].topic, (unsigned long long) r[i].seq);
        if (r[i].verdict == KNOOP_VERDICT_STORED)
            stored++;
    }
    fflush(stdout);
    for (size_t i = 0; i < n; i++)
        if (r[i].verdict == KNOOP_VERDICT_REFUSED && refused++ < 5)
            fprintf(stderr, "knoop pub: the broker refused %s %s %llu: %s\n", r[i].origin,
                    r[i].topic, (unsigned long long) r[i].seq, r[i].reason);
    if (refused > 5)
        fprintf(stderr, "knoop pub: the broker refused %zu messages in all\n", refused);
    if (refused)
        fprintf(stderr, "knoop pub: the node keeps refused messages but the broker will not "
                "take them; see knoop status\n");
    else if (stored && a->wait_ms && !link_up)
        fprintf(stderr, "knoop pub: %zu message%s stored by the node; no link to a broker now: "
                "%s sent when the link returns\n", stored, stored == 1 ? "" : "s",
                stored == 1 ? "it is" : "they are");
    else if (stored && a->wait_ms)
        fprintf(stderr, "knoop pub: %zu message%s stored by the node; the broker did not answer "
                "within %d s: %s sent, see knoop status\n", stored, stored == 1 ? "" : "s",
                a->wait_ms / 1000, stored == 1 ? "it is being" : "they are being");
    return refused ? 1 : 0;
}

static int s_publish_one(const pub_args_t *a, knoop_client_t *c)
{
    knoop_buf_t payload = { 0 };
    char why[512];
    if (s_encode(a, a->json, strlen(a->json), &payload, why, sizeof why) != KNOOP_OK) {
        fprintf(stderr, "knoop pub: --json: %s\n", why);
        knoop_buf_free(&payload);
        return 2;
    }
    knoop_api_item_t item = s_item(a);
    item.payload = payload.data;
    item.payload_len = payload.len;
    knoop_api_seq_t res;
    char err[512];
    bool link_up = false;
    int rc = knoop_client_publish_wait(c, &item, 1, &res, (uint32_t) a->wait_ms, a->timeout_ms,
                                       &link_up, err, sizeof err);
    knoop_buf_free(&payload);
    if (rc) {
        bool refused = knoop_client_refused(c);
        fprintf(stderr, "knoop pub: %s: %s\n", refused ? "node refused the message" :
                "publish failed", err);
        return refused ? 1 : 2;
    }
    return s_print(a, &res, 1, link_up);
}

/* ---- a file of JSON lines ---- */

typedef struct {
    const pub_args_t *a;
    knoop_client_t   *c;
    const char       *name;
    knoop_buf_t       payloads;         /* the batch's payloads, back to back */
    knoop_api_item_t  items[BATCH_ITEMS];
    size_t            offsets[BATCH_ITEMS];
    unsigned long     lines[BATCH_ITEMS];
    knoop_api_seq_t   results[BATCH_ITEMS];
    size_t            n;
    size_t            published;
    uint64_t          last_progress;
} batch_t;

/* Read the next non-blank line: 1 with the line in *line (length *len),
 * 0 at the end, -1 on a read error or an over-long line (reported). */
static int s_next_line(FILE *f, const char *name, char **line, size_t *cap, size_t *len,
                       unsigned long *lineno)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(line, cap, f);
        if (n < 0) {
            if (ferror(f)) {
                fprintf(stderr, "knoop pub: %s: read error: %s\n", name, strerror(errno));
                return -1;
            }
            return 0;
        }
        (*lineno)++;
        if ((size_t) n > LINE_MAX_LEN) {
            fprintf(stderr, "knoop pub: %s:%lu: line longer than %u bytes\n", name, *lineno,
                    LINE_MAX_LEN);
            return -1;
        }
        while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
            n--;
        size_t i = 0;
        while (i < (size_t) n && ((*line)[i] == ' ' || (*line)[i] == '\t'))
            i++;
        if (i == (size_t) n)
            continue;
        *len = (size_t) n;
        return 1;
    }
}

static int s_flush(batch_t *b)
{
    if (b->n == 0)
        return 0;
    for (size_t i = 0; i < b->n; i++)
        b->items[i].payload = b->payloads.data ? b->payloads.data + b->offsets[i] : NULL;
    char err[512];
    bool link_up = false;
    int rc = knoop_client_publish_wait(b->c, b->items, b->n, b->results,
                                       (uint32_t) b->a->wait_ms, b->a->timeout_ms, &link_up,
                                       err, sizeof err);
    if (rc) {
        bool refused = knoop_client_refused(b->c);
        fprintf(stderr, "knoop pub: %s: lines %lu..%lu: %s: %s\n", b->name, b->lines[0],
                b->lines[b->n - 1], refused ? "node refused a message" : "publish failed",
                err);
        fprintf(stderr, "knoop pub: %zu messages published before line %lu\n", b->published,
                b->lines[0]);
        return refused ? 1 : 2;
    }
    int verdict = s_print(b->a, b->results, b->n, link_up);
    b->published += b->n;
    if (verdict) {
        b->n = 0;
        return verdict;
    }
    b->n = 0;
    b->payloads.len = 0;
    uint64_t now = knoop_now_ms();
    if (now - b->last_progress >= PROGRESS_MS) {
        fprintf(stderr, "knoop pub: %s: %zu messages published\n", b->name, b->published);
        b->last_progress = now;
    }
    return 0;
}

/* Check every line (publish == false) or publish them. */
static int s_pass(batch_t *b, FILE *f, bool publish, size_t *count)
{
    char *line = NULL, why[512];
    size_t cap = 0, len;
    unsigned long lineno = 0;
    knoop_buf_t scratch = { 0 };
    int rc, status = 0;
    *count = 0;
    while ((rc = s_next_line(f, b->name, &line, &cap, &len, &lineno)) > 0) {
        knoop_buf_t *out = publish ? &b->payloads : &scratch;
        size_t off = out->len;
        if (s_encode(b->a, line, len, out, why, sizeof why) != KNOOP_OK) {
            fprintf(stderr, "knoop pub: %s:%lu: %s\n", b->name, lineno, why);
            if (publish && b->published)
                fprintf(stderr, "knoop pub: %zu messages published before line %lu\n",
                        b->published, b->n ? b->lines[0] : lineno);
            else
                fprintf(stderr, "knoop pub: nothing published\n");
            status = 2;
            break;
        }
        (*count)++;
        if (!publish) {
            scratch.len = 0;
            continue;
        }
        b->items[b->n] = s_item(b->a);
        b->items[b->n].payload_len = out->len - off;
        b->offsets[b->n] = off;
        b->lines[b->n] = lineno;
        b->n++;
        if (b->n == BATCH_ITEMS || b->payloads.len >= BATCH_BYTES) {
            status = s_flush(b);
            if (status)
                break;
        }
    }
    if (rc < 0)
        status = 2;
    if (status == 0 && publish)
        status = s_flush(b);
    free(line);
    knoop_buf_free(&scratch);
    return status;
}

static int s_publish_file(const pub_args_t *a, knoop_client_t *c)
{
    bool is_stdin = !strcmp(a->file, "-");
    FILE *f = is_stdin ? stdin : fopen(a->file, "r");
    if (!f) {
        fprintf(stderr, "knoop pub: cannot open %s: %s\n", a->file, strerror(errno));
        return 2;
    }
    batch_t *b = calloc(1, sizeof *b);
    if (!b) {
        fprintf(stderr, "knoop pub: out of memory\n");
        if (!is_stdin)
            fclose(f);
        return 2;
    }
    b->a = a;
    b->c = c;
    b->name = is_stdin ? "stdin" : a->file;
    b->last_progress = knoop_now_ms();
    struct stat st;
    bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    size_t count = 0;
    int status = 0;
    if (regular) {
        status = s_pass(b, f, false, &count);
        if (status == 0 && count == 0) {
            fprintf(stderr, "knoop pub: %s holds no JSON lines\n", b->name);
            status = 2;
        }
        if (status == 0 && fseek(f, 0, SEEK_SET) != 0) {
            fprintf(stderr, "knoop pub: cannot rewind %s: %s\n", b->name, strerror(errno));
            status = 2;
        }
    }
    if (status == 0)
        status = s_pass(b, f, true, &count);
    if (status == 0 && b->published >= 10000)
        fprintf(stderr, "knoop pub: %s: %zu messages published\n", b->name, b->published);
    knoop_buf_free(&b->payloads);
    free(b);
    if (!is_stdin)
        fclose(f);
    return status;
}

int knoop_cli_pub(int argc, char **argv)
{
    pub_args_t a;
    bool help;
    int rc = s_parse(argc, argv, &a, &help);
    if (help) {
        fputs(s_help, stdout);
        return 0;
    }
    if (rc)
        return rc;
    knoop_client_t *c = cli_client("pub", a.api);
    if (!c)
        return 2;
    int status = a.json ? s_publish_one(&a, c) : s_publish_file(&a, c);
    knoop_client_destroy(&c);
    return status;
}
