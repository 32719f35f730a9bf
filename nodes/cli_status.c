/* cli_status.c — `knoop status`: what the partner's node says about itself. */
#include "cli.h"
#include "client.h"
#include "msg_json.h"       /* knoop_time_format_ms */

#include "json.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const knoop_cmd_t s_cmd = {
    .prog = "knoop status",
    .section = "status",
    .summary = "show the state of the partner's node",
    .description =
"Asks the node for its status and prints a summary: the partner, for a\n"
"node of a primary/standby pair whether it is ACTIVE or STANDBY, since\n"
"when and why, and the other instances its broker reports; the\n"
"link to the brokers (state, broker, since when), the outbox backlog\n"
"(messages committed locally that no broker has acknowledged yet) and\n"
"topics a broker refuses (BLOCKED), the streams the node holds (origin,\n"
"topic, high-water mark, verified up to; a gap or a fork is flagged) and\n"
"the last error. Fields the node does not report are left out; --json\n"
"shows everything.",
    .exit_status =
"0 the node answered, 2 usage error, or the node did not answer or\n"
"answered something that is not a JSON object.",
    .examples =
"knoop status\n"
"knoop status --api ipc:///var/lib/knoop/api.sock --json | jq .outbox",
};

static const knoop_opt_spec_t s_spec[] = {
    CLI_OPT_API,
    { "json", KNOOP_OPT_BOOL, "false", NULL,
      "print the node's status JSON as given, pretty-printed", false },
    CLI_OPT_TIMEOUT("5"),
    { NULL },
};

typedef struct {
    const char *api;
    bool json;
    int timeout_ms;
    char api_default[512];
} status_args_t;

/* A JSON value as short text: strings as they are, numbers, true/false,
 * anything else compact JSON. Caller frees. */
static char *s_text(const json_t *v)
{
    char *s = NULL, num[64];
    if (json_is_string(v))
        s = strdup(json_string_value(v));
    else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = strdup(num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%g", json_real_value(v));
        s = strdup(num);
    } else if (json_is_true(v))
        s = strdup("yes");
    else if (json_is_false(v))
        s = strdup("no");
    else if (json_is_null(v) || !v)
        s = strdup("-");
    else
        s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return s ? s : strdup("?");
}

/* obj[key] as s_text gives it, in buf (cut to its size), "?" when that
 * cannot be made: for a field printed at once. Returns buf. */
static const char *s_get(const json_t *obj, const char *key, char *buf, size_t size)
{
    char *t = s_text(json_object_get(obj, key));
    snprintf(buf, size, "%s", t ? t : "?");
    free(t);
    return buf;
}

/* "LABEL  value" for obj[key] when present. */
static void s_field(const char *label, const json_t *obj, const char *key)
{
    if (!json_object_get(obj, key))
        return;
    char t[1024];
    printf("%-12s%s\n", label, s_get(obj, key, t, sizeof t));
}

/* A time given as RFC 3339 text ("since") or Unix ms ("since_ms"), in buf
 * (s_get); NULL when neither is given. */
static const char *s_time(const json_t *obj, const char *text_key, const char *ms_key,
                          char *buf, size_t size)
{
    if (json_object_get(obj, text_key))
        return s_get(obj, text_key, buf, size);
    json_t *v = json_object_get(obj, ms_key);
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        char when[25];
        knoop_time_format_ms(when, (uint64_t) json_integer_value(v));
        snprintf(buf, size, "%s", when);
        return buf;
    }
    return NULL;
}

static void s_link(const json_t *link)
{
    char t[256];
    printf("%-12s%s", "link", s_get(link, "state", t, sizeof t));
    json_t *broker = json_object_get(link, "broker");
    json_t *endpoint = json_object_get(link, "endpoint");
    if (broker || endpoint)
        printf("  broker %s", s_get(link, broker ? "broker" : "endpoint", t, sizeof t));
    if (broker && endpoint)
        printf(" (%s)", s_get(link, "endpoint", t, sizeof t));
    json_t *rank = json_object_get(link, "rank"), *nb = json_object_get(link, "brokers");
    if (json_is_integer(rank) && json_is_integer(nb) && json_integer_value(rank) > 1)
        printf("  fall-back: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " in the list",
               json_integer_value(rank), json_integer_value(nb));
    const char *since = s_time(link, "since", "since_ms", t, sizeof t);
    if (since)
        printf("  since %s", since);
    if (json_is_true(json_object_get(link, "caught_up")))
        printf("  caught up");
    printf("\n");
}

/* The mesh as the node's broker last told it: how many of its peers are
 * up. A broker with none up (a regional broker cut off from KCR2) serves
 * only what reaches it: say so, so that nobody takes its picture for the
 * nation's. */
static void s_mesh(const json_t *mesh)
{
    json_t *peers = json_object_get(mesh, "peers");
    if (!json_is_array(peers) || !json_array_size(peers))
        return;
    size_t i, up = 0;
    json_t *p;
    json_array_foreach(peers, i, p)
        up += json_is_true(json_object_get(p, "up"));
    char b[256];
    printf("%-12s%s: %zu of %zu peers up, %s", "mesh", s_get(mesh, "broker", b, sizeof b), up,
           json_array_size(peers),
           json_is_true(json_object_get(mesh, "agree")) ? "digests agree" : "not in agreement");
    if (!up)
        printf("  ISOLATED: the broker has no link to the mesh; what others publish "
               "reaches this node only when it has");
    printf("\n");
}

/* A primary/standby pair: which instance this is, since when and why, and
 * the other instances its broker reports. */
static void s_instance(const json_t *in)
{
    if (!json_is_object(in) || !json_is_true(json_object_get(in, "pair")))
        return;
    char mode[32], since[64], term[32], reason[512];
    const char *t = s_time(in, "since", "since_ms", since, sizeof since);
    printf("%-12s%s since %s (term %s): %s\n", "instance",
           !strcmp(s_get(in, "mode", mode, sizeof mode), "active") ? "ACTIVE" : "STANDBY",
           t ? t : "?", s_get(in, "term", term, sizeof term),
           s_get(in, "reason", reason, sizeof reason));
    json_t *others = json_object_get(in, "others");
    size_t i;
    json_t *row;
    if (!json_is_true(json_object_get(in, "siblings_known")))
        printf("  other instances: not known (no link to a broker)\n");
    else if (json_array_size(others) == 0)
        printf("  other instances: none at the broker\n");
    json_array_foreach(others, i, row) {
        char id[128];
        t = s_time(row, "since", "since_ms", since, sizeof since);
        printf("  other     %s %s since %s: %s\n", s_get(row, "id", id, sizeof id),
               s_get(row, "mode", mode, sizeof mode), t ? t : "?",
               s_get(row, "reason", reason, sizeof reason));
    }
}

void cli_status_instance(const char *json_text)
{
    json_t *st = json_loads(json_text, 0, NULL);
    s_instance(json_object_get(st, "instance"));
    json_decref(st);
}

static void s_summary(const json_t *st)
{
    s_field("partner", st, "partner");
    s_field("epoch", st, "epoch");
    /* New streams after a commit that failed once its batch had gone out
     * (docs/design-notes.md, "The origin sends before its commit"). */
    const char *ep = json_string_value(json_object_get(st, "epoch"));
    const char *pe = json_string_value(json_object_get(st, "publishing_epoch"));
    if (ep && pe && strcmp(ep, pe) != 0) {
        json_t *early = json_object_get(st, "send_before_commit");
        printf("%-12s%s (a new one after %" JSON_INTEGER_FORMAT " failed commit(s) of "
               "messages already sent)\n", "publishing", pe,
               json_integer_value(json_object_get(early, "failed_commits")));
    }
    s_instance(json_object_get(st, "instance"));

    json_t *link = json_object_get(st, "link");
    if (json_is_object(link))
        s_link(link);
    else if (link)
        s_field("link", st, "link");
    json_t *mesh = json_object_get(st, "mesh");
    if (json_is_object(mesh))
        s_mesh(mesh);

    json_t *outbox = json_object_get(st, "outbox");
    if (json_is_object(outbox)) {
        char t[64];
        printf("%-12sbacklog %s\n", "outbox", s_get(outbox, "backlog", t, sizeof t));
        /* topics the broker refuses: they stay in the outbox until fixed */
        json_t *blocked = json_object_get(outbox, "blocked");
        size_t i;
        json_t *row;
        json_array_foreach(blocked, i, row) {
            char topic[256], reason[512];
            printf("  BLOCKED   %s: %s\n", s_get(row, "topic", topic, sizeof topic),
                   s_get(row, "reason", reason, sizeof reason));
        }
    } else if (outbox) {
        s_field("outbox", st, "outbox");
    }

    json_t *streams = json_object_get(st, "streams");
    if (json_is_array(streams)) {
        printf("%-12s%zu\n", "streams", json_array_size(streams));
        size_t i;
        json_t *row;
        json_array_foreach(streams, i, row) {
            if (!json_is_object(row))
                continue;
            char origin[128], topic[256], hwm[32], ver[32];
            printf("  %-20s %-32s hwm %-8s verified %s",
                   s_get(row, "origin", origin, sizeof origin),
                   s_get(row, "topic", topic, sizeof topic), s_get(row, "hwm", hwm, sizeof hwm),
                   s_get(row, "verified", ver, sizeof ver));
            json_t *max = json_object_get(row, "max_seq"), *h = json_object_get(row, "hwm");
            if (json_is_integer(max) && json_is_integer(h) &&
                json_integer_value(max) > json_integer_value(h))
                printf("  gap: held up to %" JSON_INTEGER_FORMAT, json_integer_value(max));
            if (json_is_true(json_object_get(row, "forked")))
                printf("  FORKED");
            printf("\n");
        }
    }

    if (json_is_string(json_object_get(st, "alarm")))
        s_field("ALARM", st, "alarm");
    if (json_is_string(json_object_get(st, "storage_alarm")))
        s_field("ALARM", st, "storage_alarm");

    /* Certificates expiring within 30 days, or expired (keys/ warns). */
    json_t *exp = json_object_get(st, "certificates_expiring");
    size_t ei;
    json_t *row;
    json_array_foreach(exp, ei, row) {
        char id[128], until[64];
        json_t *days = json_object_get(row, "days_left");
        bool gone = json_is_integer(days) && json_integer_value(days) < 0;
        printf("%-12s%s %s %s%s\n", ei ? "" : "CERTIFICATE", s_get(row, "id", id, sizeof id),
               gone ? "EXPIRED at" : "expires", s_get(row, "valid_until", until, sizeof until),
               gone ? "" : " (within 30 days: issue a new one)");
    }

    json_t *le = json_object_get(st, "last_error");
    if (le) {
        if (json_is_null(le) || (json_is_string(le) && !*json_string_value(le)))
            printf("%-12snone\n", "last error");
        else {
            s_field("last error", st, "last_error");
            char buf[64];
            const char *at = s_time(st, "last_error_at", "last_error_ms", buf, sizeof buf);
            if (at)
                printf("%-12s%s\n", "  at", at);
        }
    }
}

static int s_run(const status_args_t *args)
{
    status_args_t a = *args;
    int rc;
    knoop_client_t *c = cli_client("status", a.api);
    if (!c)
        return 2;
    char *text = NULL;
    rc = knoop_client_status(c, &text, a.timeout_ms);
    if (rc) {
        fprintf(stderr, "knoop status: %s\n", knoop_client_error(c));
        knoop_client_destroy(&c);
        return 2;
    }
    knoop_client_destroy(&c);
    json_error_t jerr;
    json_t *st = json_loads(text, 0, &jerr);
    free(text);
    if (!json_is_object(st)) {
        fprintf(stderr, "knoop status: the node's status is not a JSON object%s%s\n",
                st ? "" : ": ", st ? "" : jerr.text);
        json_decref(st);
        return 2;
    }
    if (a.json) {
        char *out = json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (out)
            puts(out);
        free(out);
    } else {
        s_summary(st);
    }
    json_decref(st);
    return 0;
}

int knoop_cli_status(int argc, char **argv)
{
    knoop_config_t *cfg;
    int rc = cli_options(&s_cmd, s_spec, argc, argv, &cfg);
    if (rc != -1)
        return rc;
    status_args_t a = { .json = knoop_config_bool(cfg, "json") };
    if (!(a.api = cli_api("status", cfg, a.api_default, sizeof a.api_default))
        || cli_timeout("status", cfg, 3600, &a.timeout_ms))
        rc = 2;
    else
        rc = s_run(&a);
    knoop_config_destroy(&cfg);
    return rc;
}
