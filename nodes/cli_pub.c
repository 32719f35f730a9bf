/* cli_pub.c — `knoop pub`: publish messages through the partner's node, from
 * JSON on the command line or a file of JSON lines. */
#include "cap.h"
#include "cli.h"
#include "client.h"
#include "json.h"
#include "msg.h"
#include "topic.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BATCH_ITEMS   1000              /* items per publish request */
#define BATCH_BYTES   (4u << 20)        /* payload bytes per request, well under KNOOP_API_MAX */
#define LINE_MAX_LEN  (4u << 20)        /* a JSON line; a payload is at most 1 MiB */
#define PROGRESS_MS   2000
#define WINDOW        8                 /* requests in flight with --file */
#define KEEP_BYTES    (64u << 20)       /* payloads kept from the check of a file */

static const knoop_cmd_t s_cmd = {
    .prog = "knoop pub",
    .section = "pub",
    .summary = "publish messages through the partner's node",
    .description =
"Encodes the payload JSON as protobuf of TYPE and hands the message to the\n"
"node, which commits it to its journal (it is then sent upstream, also\n"
"after a link loss). While the node's link to its broker is up, pub then\n"
"waits (up to --wait seconds) for the broker's verdict: a refusal (policy,\n"
"payload type, sender) is printed with the broker's reason and pub exits\n"
"1. While the link is down it returns after the local commit and says the\n"
"message is stored and waiting for the broker. Prints one line per\n"
"message committed: ORIGIN TOPIC SEQ, as the node assigned them.\n"
"\n"
"Give the payload with either --json OBJECT or --file FILE. With --file\n"
"every non-empty line is one payload object, published with the same\n"
"topic, type, key and labels, in batches of up to 1000 messages per\n"
"request, up to 8 requests in flight at a time (the node commits what\n"
"arrives together at once; progress on stderr for long files). Results\n"
"are printed in file order. A regular file is checked\n"
"completely before anything is published: a bad line publishes nothing.\n"
"From a pipe ('-' is stdin) lines are checked batch by batch, and the\n"
"batches before a bad line are published.\n"
"\n"
"The payload is proto3 JSON: field names as in the .proto or lowerCamelCase\n"
"(incident_id or incidentId), enums by name (\"GRIP_4\"), 64-bit integers\n"
"as strings or numbers, bytes as base64. knoop audit replay shows real\n"
"examples. --tlp amber+strict and red go only to the partners named with\n"
"--recipient (and the publisher).",
    .exit_status =
"0 every message committed (and, with the link up, stored by the broker or\n"
"still waiting for it: said on stderr), 1 the node or the broker refused\n"
"a message (the reason is printed; with --file, what was published before\n"
"is listed, and so are later batches that were already in flight and\n"
"were published too), 2 usage, input or connection error.",
    .examples =
"knoop pub --topic grip.vr-utrecht --type knoop.crisis.v1.GripLevel \\\n"
"    --json '{\"region\": \"vr-utrecht\", \"level\": \"GRIP_2\", \"reason\": \"brand\"}'\n"
"knoop pub --api ipc:///var/lib/knoop/api.sock --topic water.ws-limburg.peil \\\n"
"    --type knoop.crisis.v1.WaterLevel --key SINTPTR --file peil.jsonl\n"
"knoop pub --topic grip.vr-utrecht --type knoop.crisis.v1.GripLevel \\\n"
"    --status exercise --json '{\"level\": \"GRIP_1\"}'",
};

static const knoop_opt_spec_t s_spec[] = {
    CLI_OPT_API,
    { "topic", KNOOP_OPT_STRING, NULL, "TOPIC",
      "e.g. grip.vr-utrecht (tokens of a-z 0-9 _ -, dot-separated)", true },
    { "type", KNOOP_OPT_STRING, NULL, "TYPE", "payload type, e.g. knoop.crisis.v1.GripLevel",
      true },
    { "key", KNOOP_OPT_STRING, NULL, "KEY",
      "state key within the topic (default: the topic itself; for a knoop.crisis.v1.Alert "
      "\"sender,identifier\", or for an Update or Cancel the key of the alert it "
      "references, as knoop cap import gives it); the picture keeps the latest message "
      "per topic and key", false },
    { "priority", KNOOP_OPT_STRING, "routine", "P", "flash, immediate or routine", false },
    { "status", KNOOP_OPT_STRING, "actual", "S", "actual, exercise, test or system", false },
    { "tlp", KNOOP_OPT_STRING, "amber", "TLP", "clear, green, amber, amber+strict or red",
      false },
    { "recipient", KNOOP_OPT_LIST, NULL, "ID", "a partner the message is for (or ID,ID,...)",
      false },
    { "wait", KNOOP_OPT_INT, "5", "SEC",
      "how long to wait for the broker's verdict while the link is up (0: do not wait)",
      false },
    { "no-wait", KNOOP_OPT_BOOL, "false", NULL, "return after the local commit, as --wait 0",
      false },
    { "json", KNOOP_OPT_STRING, NULL, "OBJECT", "the payload as one JSON object", false },
    { "file", KNOOP_OPT_STRING, NULL, "FILE",
      "a file of JSON lines, one payload per line; '-' for stdin", false },
    CLI_OPT_TIMEOUT("30"),
    { NULL },
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
    char *rcpt_text;            /* the --recipient items joined, split in place */
    knoop_cap_keys_t *alert_keys;   /* an Alert without --key: the keys CAP gives */
} pub_args_t;

/* Add the ids of --recipient text (ID or ID,ID,...), split in place. */
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

/* The --recipient items as one "ID,ID,..." text, split into a->rcpt. */
static int s_recipients(const knoop_config_t *cfg, pub_args_t *a)
{
    const char *const *items;
    size_t n = knoop_config_list(cfg, "recipient", &items);
    size_t size = 1;
    for (size_t i = 0; i < n; i++)
        size += strlen(items[i]) + 1;
    if (!(a->rcpt_text = calloc(1, size))) {
        fprintf(stderr, "knoop pub: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        strcat(a->rcpt_text, items[i]);
        strcat(a->rcpt_text, ",");
    }
    return s_add_recipients(a, a->rcpt_text);
}

static int s_check(const knoop_config_t *cfg, pub_args_t *a)
{
    a->topic = knoop_config_str(cfg, "topic");
    a->type = knoop_config_str(cfg, "type");
    a->key = knoop_config_str(cfg, "key");
    a->json = knoop_config_str(cfg, "json");
    a->file = knoop_config_str(cfg, "file");
    const char *v;
    if (knoop_priority_parse(v = knoop_config_str(cfg, "priority"), &a->priority)) {
        fprintf(stderr, "knoop pub: --priority '%s' is not flash, immediate or routine\n", v);
        return 2;
    }
    if (knoop_status_parse(v = knoop_config_str(cfg, "status"), &a->status)) {
        fprintf(stderr, "knoop pub: --status '%s' is not actual, exercise, test or "
                "system\n", v);
        return 2;
    }
    if (knoop_tlp_parse(v = knoop_config_str(cfg, "tlp"), &a->tlp)) {
        fprintf(stderr, "knoop pub: --tlp '%s' is not clear, green, amber, amber+strict or "
                "red\n", v);
        return 2;
    }
    if (s_recipients(cfg, a))
        return 2;
    long long wait = knoop_config_int(cfg, "wait");
    if (wait < 0 || wait > 3600) {
        fprintf(stderr, "knoop pub: --wait %lld is not a number of seconds (0..3600)\n", wait);
        return 2;
    }
    a->wait_ms = knoop_config_bool(cfg, "no-wait") ? 0 : (int) wait * 1000;
    if (!(a->api = cli_api("pub", cfg, a->api_default, sizeof a->api_default))
        || cli_timeout("pub", cfg, 86400, &a->timeout_ms))
        return 2;
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

/* The state key of an Alert published without --key (see cap.h): so that
 * an Update or Cancel supersedes the alert it references in the picture. */
static int s_alert_key(const pub_args_t *a, const knoop_buf_t *payload, size_t off, char *key,
                       size_t size, char *why, size_t why_size)
{
    knoop_cap_summary_t sum;
    int rc = knoop_cap_summary(payload->data + off, payload->len - off, &sum);
    if (rc == KNOOP_OK)
        rc = knoop_cap_keys_assign(a->alert_keys, &sum, key, size);
    if (rc)
        snprintf(why, why_size, "the alert's state key (\"%s,%s\"): %s",
                 sum.sender ? sum.sender : "", sum.identifier ? sum.identifier : "",
                 rc == KNOOP_ETOOBIG ? "sender and identifier are too long for a state key"
                                     : knoop_strerror(rc));
    knoop_cap_summary_clear(&sum);
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
    for (size_t i = 0; i < n; i++)
        printf("%s %s %llu\n", r[i].origin, r[i].topic, (unsigned long long) r[i].seq);
    fflush(stdout);
    return cli_report_verdicts("pub", r, n, a->wait_ms, link_up);
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
    char key[KNOOP_KEY_MAX + 1];
    if (a->alert_keys) {
        if (s_alert_key(a, &payload, 0, key, sizeof key, why, sizeof why) != KNOOP_OK) {
            fprintf(stderr, "knoop pub: --json: %s\n", why);
            knoop_buf_free(&payload);
            return 2;
        }
        item.key = key;
    }
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
    char              keys[BATCH_ITEMS][KNOOP_KEY_MAX + 1];    /* of alerts */
    size_t            n;
    size_t            published;
    uint64_t          last_progress;
    /* requests sent and not answered yet, oldest first: the node takes
     * the window in one commit instead of one commit per request */
    struct {
        uint64_t      ticket;
        size_t        n;
        unsigned long first_line, last_line;
    } flight[WINDOW];
    size_t            nflight, flight_head;
    int               failed;           /* exit status of the first failure */
} batch_t;

/* The payloads encoded while a file is checked, kept for the publish pass
 * so that each line is encoded once (KEEP_BYTES at most: the lines after
 * them are encoded again when published, from the file offset `resume`). */
typedef struct {
    knoop_buf_t    bytes;               /* back to back */
    size_t        *off;
    unsigned long *line;
    size_t         n, cap;
    bool           all;                 /* every line of the file is kept */
    long           resume;              /* else: the file offset after the last kept line */
    unsigned long  resume_line;         /* and its line number */
} kept_t;

static void s_kept_free(kept_t *k)
{
    knoop_buf_free(&k->bytes);
    free(k->off);
    free(k->line);
    memset(k, 0, sizeof *k);
}

/* Keep the payload just encoded at k->bytes[off..]: false when out of memory. */
static bool s_kept_add(kept_t *k, size_t off, unsigned long lineno)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1024;
        size_t *o = realloc(k->off, cap * sizeof *o);
        if (o)
            k->off = o;
        unsigned long *l = o ? realloc(k->line, cap * sizeof *l) : NULL;
        if (!l)
            return false;
        k->line = l;
        k->cap = cap;
    }
    k->off[k->n] = off;
    k->line[k->n] = lineno;
    k->n++;
    return true;
}

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

/* Take the reply to the oldest request in flight and print it. After a
 * failure the rest of the window is still answered: what the node
 * committed of it is printed and said. Returns the exit status so far. */
static int s_receive(batch_t *b)
{
    size_t at = b->flight_head;
    b->flight_head = (b->flight_head + 1) % WINDOW;
    b->nflight--;
    char err[512];
    bool link_up = false;
    int rc = knoop_client_publish_recv(b->c, b->flight[at].ticket, b->results, b->flight[at].n,
                                       b->a->timeout_ms, &link_up, err, sizeof err);
    if (rc) {
        bool refused = knoop_client_refused(b->c);
        fprintf(stderr, "knoop pub: %s: lines %lu..%lu: %s: %s\n", b->name,
                b->flight[at].first_line, b->flight[at].last_line,
                refused ? "node refused a message" : "publish failed", err);
        if (!b->failed)
            fprintf(stderr, "knoop pub: %zu messages published before line %lu\n",
                    b->published, b->flight[at].first_line);
        if (!b->failed)
            b->failed = refused ? 1 : 2;
        return b->failed;
    }
    if (b->failed)
        fprintf(stderr, "knoop pub: %s: lines %lu..%lu were in flight and are published too\n",
                b->name, b->flight[at].first_line, b->flight[at].last_line);
    int verdict = s_print(b->a, b->results, b->flight[at].n, link_up);
    b->published += b->flight[at].n;
    if (verdict && !b->failed)
        b->failed = verdict;
    uint64_t now = knoop_now_ms();
    if (!b->failed && now - b->last_progress >= PROGRESS_MS) {
        fprintf(stderr, "knoop pub: %s: %zu messages published\n", b->name, b->published);
        b->last_progress = now;
    }
    return b->failed;
}

/* Answer every request in flight. */
static int s_drain(batch_t *b)
{
    while (b->nflight)
        s_receive(b);
    return b->failed;
}

/* Send the batch, keeping up to WINDOW requests in flight. */
static int s_flush(batch_t *b)
{
    if (b->n == 0)
        return b->failed;
    if (b->nflight == WINDOW && s_receive(b))
        return s_drain(b);
    for (size_t i = 0; i < b->n; i++)
        b->items[i].payload = b->payloads.data ? b->payloads.data + b->offsets[i] : NULL;
    char err[512];
    uint64_t ticket;
    int rc = knoop_client_publish_send(b->c, b->items, b->n, (uint32_t) b->a->wait_ms,
                                       b->a->timeout_ms, &ticket, err, sizeof err);
    if (rc) {
        fprintf(stderr, "knoop pub: %s: lines %lu..%lu: publish failed: %s\n", b->name,
                b->lines[0], b->lines[b->n - 1], err);
        int status = s_drain(b);
        if (!status)
            fprintf(stderr, "knoop pub: %zu messages published before line %lu\n",
                    b->published, b->lines[0]);
        b->failed = status ? status : 2;
        return b->failed;
    }
    size_t at = (b->flight_head + b->nflight) % WINDOW;
    b->flight[at].ticket = ticket;
    b->flight[at].n = b->n;
    b->flight[at].first_line = b->lines[0];
    b->flight[at].last_line = b->lines[b->n - 1];
    b->nflight++;
    b->n = 0;
    b->payloads.len = 0;
    return 0;
}

/* Add the payload at b->payloads[off..] to the batch and send the batch
 * when it is full. Returns the exit status so far. */
static int s_add(batch_t *b, size_t off, unsigned long lineno)
{
    char why[512];
    b->items[b->n] = s_item(b->a);
    if (b->a->alert_keys) {
        if (s_alert_key(b->a, &b->payloads, off, b->keys[b->n], sizeof b->keys[b->n], why,
                        sizeof why) != KNOOP_OK) {
            fprintf(stderr, "knoop pub: %s:%lu: %s\n", b->name, lineno, why);
            if (b->published)
                fprintf(stderr, "knoop pub: %zu messages published before line %lu\n",
                        b->published, b->n ? b->lines[0] : lineno);
            return 2;
        }
        b->items[b->n].key = b->keys[b->n];
    }
    b->items[b->n].payload_len = b->payloads.len - off;
    b->offsets[b->n] = off;
    b->lines[b->n] = lineno;
    b->n++;
    if (b->n == BATCH_ITEMS || b->payloads.len >= BATCH_BYTES)
        return s_flush(b);
    return 0;
}

/* Publish the payloads kept from the check. */
static int s_add_kept(batch_t *b, const kept_t *k)
{
    for (size_t i = 0; i < k->n; i++) {
        size_t end = i + 1 < k->n ? k->off[i + 1] : k->bytes.len;
        size_t off = b->payloads.len;
        if (knoop_buf_append(&b->payloads, k->bytes.data + k->off[i], end - k->off[i])) {
            fprintf(stderr, "knoop pub: out of memory\n");
            return 2;
        }
        int status = s_add(b, off, k->line[i]);
        if (status)
            return status;
    }
    return 0;
}

/* Check every line (publish == false; with keep, their payloads are kept
 * up to KEEP_BYTES) or publish them (after what keep holds). */
static int s_pass(batch_t *b, FILE *f, bool publish, kept_t *keep, size_t *count)
{
    char *line = NULL, why[512];
    size_t cap = 0, len;
    unsigned long lineno = 0;
    knoop_buf_t scratch = { 0 };
    int rc = 0, status = 0;
    bool keeping = !publish && keep;
    *count = 0;
    if (publish && keep && keep->n) {
        status = s_add_kept(b, keep);
        if (status == 0 && !keep->all) {
            if (fseek(f, keep->resume, SEEK_SET) != 0) {
                fprintf(stderr, "knoop pub: cannot seek in %s: %s\n", b->name,
                        strerror(errno));
                status = 2;
            }
            lineno = keep->resume_line;
        }
        *count = keep->n;
    }
    while (status == 0 && !(publish && keep && keep->all) &&
           (rc = s_next_line(f, b->name, &line, &cap, &len, &lineno)) > 0) {
        knoop_buf_t *out = publish ? &b->payloads : keeping ? &keep->bytes : &scratch;
        size_t off = out->len;
        if (s_encode(b->a, line, len, out, why, sizeof why) != KNOOP_OK) {
            fprintf(stderr, "knoop pub: %s:%lu: %s\n", b->name, lineno, why);
            if (publish)
                s_drain(b);             /* what was sent before the line is answered */
            if (publish && b->published)
                fprintf(stderr, "knoop pub: %zu messages published before line %lu\n",
                        b->published, b->n ? b->lines[0] : lineno);
            else
                fprintf(stderr, "knoop pub: nothing published\n");
            status = 2;
            break;
        }
        (*count)++;
        if (keeping) {
            if (!s_kept_add(keep, off, lineno)) {
                fprintf(stderr, "knoop pub: out of memory\n");
                status = 2;
                break;
            }
            if (keep->bytes.len >= KEEP_BYTES) {
                /* the rest is checked, and encoded again when published */
                keeping = false;
                keep->resume = ftell(f);
                keep->resume_line = lineno;
                if (keep->resume < 0) {
                    fprintf(stderr, "knoop pub: cannot tell the offset in %s: %s\n",
                            b->name, strerror(errno));
                    status = 2;
                    break;
                }
            }
            continue;
        }
        if (!publish) {
            scratch.len = 0;
            continue;
        }
        status = s_add(b, off, lineno);
    }
    if (!publish && keep && keeping && status == 0 && rc == 0)
        keep->all = true;
    if (publish) {
        /* a bad line: what is in flight is still answered and printed */
        int sent = status == 0 ? s_flush(b) : 0;
        int drained = s_drain(b);
        if (status == 0)
            status = sent ? sent : drained;
    }
    if (rc < 0 && status == 0)
        status = 2;
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
    kept_t keep = { 0 };
    if (regular) {
        status = s_pass(b, f, false, &keep, &count);
        if (status == 0 && count == 0) {
            fprintf(stderr, "knoop pub: %s holds no JSON lines\n", b->name);
            status = 2;
        }
        if (status == 0 && !keep.all && keep.n == 0 && fseek(f, 0, SEEK_SET) != 0) {
            fprintf(stderr, "knoop pub: cannot rewind %s: %s\n", b->name, strerror(errno));
            status = 2;
        }
    }
    if (status == 0)
        status = s_pass(b, f, true, regular ? &keep : NULL, &count);
    s_kept_free(&keep);
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
    knoop_config_t *cfg;
    int rc = cli_options(&s_cmd, s_spec, argc, argv, &cfg);
    if (rc != -1)
        return rc;
    pub_args_t a = { 0 };
    int status = s_check(cfg, &a);
    knoop_client_t *c = status ? NULL : cli_client("pub", a.api);
    if (!status && !c)
        status = 2;
    if (c && !a.key && !strcmp(a.type, KNOOP_CAP_TYPE)) {
        a.alert_keys = knoop_cap_keys_new();
        if (!a.alert_keys) {
            fprintf(stderr, "knoop pub: out of memory\n");
            status = 2;
        } else if (knoop_client_beeld(c, a.topic, knoop_cap_keys_add_message, a.alert_keys,
                                      a.timeout_ms)) {
            fprintf(stderr, "knoop pub: cannot read the picture of %s from the node (to find "
                    "the alert an Update or Cancel supersedes): %s\n", a.topic,
                    knoop_client_error(c));
            status = 2;
        }
    }
    if (c && !status)
        status = a.json ? s_publish_one(&a, c) : s_publish_file(&a, c);
    knoop_cap_keys_destroy(&a.alert_keys);
    knoop_client_destroy(&c);
    free(a.rcpt_text);
    knoop_config_destroy(&cfg);
    return status;
}
