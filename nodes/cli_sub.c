/* cli_sub.c — `knoop sub`: follow the messages on a topic pattern as JSON
 * lines, acknowledging each once it is printed. */
#include "cli.h"
#include "json.h"
#include "client.h"
#include "timefmt.h"
#include "msg_json.h"
#include "topic.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUBSCRIBE_TIMEOUT_MS 10000

static const knoop_cmd_t s_cmd = {
    .prog = "knoop sub",
    .section = "sub",
    .summary = "print the messages on a topic pattern as they arrive",
    .description =
"Subscribes at the partner's node and prints one JSON object per line per\n"
"message: position (the node's arrival position), origin, topic, epoch,\n"
"seq, hlc, time, key, type, priority, status, tlp, signed, chain and the\n"
"payload decoded from its protobuf type. The node hands out verified\n"
"messages only. Each line is flushed before the message is acknowledged,\n"
"so a durable subscriber that stops (or is stopped) resumes after the last\n"
"line it printed.\n"
"\n"
"Without --from-start or --since only new messages are printed; a durable\n"
"subscription continues where its name left off. Only ACTUAL messages are\n"
"printed unless --status asks for others: exercise traffic must be asked\n"
"for.\n"
"\n"
"With --durable NAME the node keeps the subscription's position under NAME\n"
"and redelivers what was not acknowledged, also across restarts; knoop sub\n"
"then outlives its node: when the node goes away it waits for it and\n"
"continues where the node's cursor is, without printing a message twice.",
    .exit_status =
"0 after --count messages, after --timeout seconds without a message, or\n"
"when stopped by SIGINT or SIGTERM; 1 when --timeout ended the wait\n"
"before --count messages arrived; 2 usage or connection error (at the\n"
"start; later only without --durable), or the node refused or ended the\n"
"subscription.",
    .examples =
"knoop sub --pattern 'grip.>'\n"
"knoop sub --pattern 'water.*.peil' --durable dashboard | jq .payload\n"
"knoop sub --pattern '>' --from-start --timeout 5 > alles.jsonl\n"
"knoop sub --pattern 'grip.>' --status exercise --since 2021-07-14T00:00:00Z",
};

static const knoop_opt_spec_t s_spec[] = {
    CLI_OPT_API,
    { "pattern", KNOOP_OPT_STRING, NULL, "P",
      "topic pattern: '*' one token, '>' the rest (e.g. 'grip.>', or '>' for everything)",
      true },
    { "durable", KNOOP_OPT_STRING, NULL, "NAME",
      "keep this subscription's position at the node under NAME (1..64 of a-z 0-9 _ -)",
      false },
    { "from-start", KNOOP_OPT_BOOL, "false", NULL, "from the first message the node holds",
      false },
    { "since", KNOOP_OPT_STRING, NULL, "TIME",
      "from this time on (RFC 3339 UTC, 2021-07-14T00:00:00Z)", false },
    { "count", KNOOP_OPT_INT, NULL, "N", "stop after N messages", false },
    { "timeout", KNOOP_OPT_INT, NULL, "SEC", "stop after SEC seconds without a message",
      false },
    { "status", KNOOP_OPT_STRING, "actual", "S", "actual, exercise, test, system, or all",
      false },
    { NULL },
};

typedef struct {
    const char *api, *pattern, *durable;
    bool from_start;
    uint64_t since_ms;
    unsigned long long count;     /* 0: no limit */
    int timeout_ms;               /* -1: none */
    uint32_t status;              /* 0 actual only, a status, KNOOP_API_STATUS_ALL */
    char api_default[512];
} sub_args_t;

#define RESUBSCRIBE_MS 2000

static int s_check(const knoop_config_t *cfg, sub_args_t *a)
{
    a->pattern = knoop_config_str(cfg, "pattern");
    a->durable = knoop_config_str(cfg, "durable");
    a->from_start = knoop_config_bool(cfg, "from-start");
    const char *since = knoop_config_str(cfg, "since");
    if (!(a->api = cli_api("sub", cfg, a->api_default, sizeof a->api_default))
        || cli_timeout("sub", cfg, 86400L * 365, &a->timeout_ms))
        return 2;
    if (knoop_config_str(cfg, "count")) {
        long long v = knoop_config_int(cfg, "count");
        if (v < 1) {
            fprintf(stderr, "knoop sub: --count %lld is not a positive number\n", v);
            return 2;
        }
        a->count = (unsigned long long) v;
    }
    const char *status = knoop_config_str(cfg, "status");
    knoop_status_t st;
    if (!strcmp(status, "all"))
        a->status = KNOOP_API_STATUS_ALL;
    else if (knoop_status_parse(status, &st) == KNOOP_OK)
        a->status = st == KNOOP_STATUS_ACTUAL ? 0 : (uint32_t) st;
    else {
        fprintf(stderr, "knoop sub: --status '%s' is not actual, exercise, test, system or "
                "all\n", status);
        return 2;
    }
    if (knoop_pattern_validate(a->pattern) != KNOOP_OK) {
        fprintf(stderr, "knoop sub: invalid pattern '%s' (tokens of [a-z0-9_-], '*' for one "
                "token, '>' for the rest)\n", a->pattern);
        return 2;
    }
    if (a->durable && !knoop_name_valid(a->durable, KNOOP_DURABLE_MAX)) {
        fprintf(stderr, "knoop sub: invalid durable name '%s' (1..64 of a-z 0-9 _ -)\n",
                a->durable);
        return 2;
    }
    if (since) {
        int64_t t;
        if (knoop_time_parse(since, &t) != KNOOP_OK || t < 0) {
            fprintf(stderr, "knoop sub: --since '%s' is not an RFC 3339 UTC time like "
                    "2021-07-14T00:00:00Z\n", since);
            return 2;
        }
        a->since_ms = (uint64_t) t * 1000;
        if (a->since_ms == 0)
            a->from_start = true;    /* the epoch itself: everything */
    }
    if (a->from_start && since && a->since_ms) {
        fprintf(stderr, "knoop sub: give --from-start or --since, not both\n");
        return 2;
    }
    return 0;
}

/* -1 to run with *cfg holding the strings a points at; else the exit status. */
static int s_parse(int argc, char **argv, sub_args_t *a, knoop_config_t **cfg)
{
    memset(a, 0, sizeof *a);
    a->timeout_ms = -1;
    int rc = cli_options(&s_cmd, s_spec, argc, argv, cfg);
    if (rc != -1)
        return rc;
    rc = s_check(*cfg, a);
    if (rc)
        knoop_config_destroy(cfg);
    return rc ? rc : -1;
}


static bool s_wanted(uint32_t filter, knoop_status_t s)
{
    if (filter == KNOOP_API_STATUS_ALL)
        return true;
    return s == (filter ? (knoop_status_t) filter : KNOOP_STATUS_ACTUAL);
}

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

/* czmq installs its own SIGINT/SIGTERM handlers with the first socket;
 * replace them with ours, without SA_RESTART, so a blocked wait returns. */
static void s_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Print one message with its position; false when stdout fails. */
static bool s_print(uint64_t position, const knoop_msg_t *m)
{
    json_t *o = json_object();
    json_t *mj = knoop_msg_to_json(m);
    if (!o || !mj || json_object_set_new(o, "position", json_integer((json_int_t) position)) ||
        json_object_update(o, mj)) {
        json_decref(o);
        json_decref(mj);
        fprintf(stderr, "knoop sub: out of memory\n");
        return false;
    }
    json_decref(mj);
    char *line = knoop_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line) {
        fprintf(stderr, "knoop sub: out of memory\n");
        return false;
    }
    bool ok = puts(line) >= 0 && fflush(stdout) == 0;
    free(line);
    if (!ok)
        fprintf(stderr, "knoop sub: cannot write to stdout: %s\n", strerror(errno));
    return ok;
}

int knoop_cli_sub(int argc, char **argv)
{
    sub_args_t a;
    knoop_config_t *cfg;
    int rc = s_parse(argc, argv, &a, &cfg);
    if (rc != -1)
        return rc;
    knoop_client_t *c = cli_client("sub", a.api);
    if (!c) {
        knoop_config_destroy(&cfg);
        return 2;
    }
    s_catch_signals();
    char err[512];
    rc = knoop_client_subscribe(c, a.pattern, a.durable, a.from_start, a.since_ms, a.status,
                                SUBSCRIBE_TIMEOUT_MS, err, sizeof err);
    if (rc) {
        fprintf(stderr, "knoop sub: cannot subscribe to '%s': %s\n", a.pattern, err);
        knoop_client_destroy(&c);
        knoop_config_destroy(&cfg);
        return 2;
    }
    unsigned long long printed = 0;
    int status = 0;
    int quiet_ms = 0;                   /* without a message, towards --timeout */
    bool subscribed = true;
    while (!s_stop && (a.count == 0 || printed < a.count)) {
        if (a.timeout_ms >= 0 && quiet_ms >= a.timeout_ms) {
            if (a.count) {
                fprintf(stderr, "knoop sub: %llu of %llu messages within the timeout\n",
                        printed, a.count);
                status = 1;
            }
            break;
        }
        int left = a.timeout_ms < 0 ? -1 : a.timeout_ms - quiet_ms;
        uint64_t t0 = knoop_now_ms();
        if (!subscribed) {
            /* Durable only: subscribe again under the name, so a node that
             * was restarted resumes from its committed cursor (positions
             * already printed are skipped by the client library). A node
             * that is away is waited for; a node that refuses ends it. */
            int wait = left < 0 || left > SUBSCRIBE_TIMEOUT_MS ? SUBSCRIBE_TIMEOUT_MS : left;
            rc = knoop_client_subscribe(c, a.pattern, a.durable, a.from_start, a.since_ms,
                                        a.status, wait, err, sizeof err);
            if (s_stop)
                break;
            if (rc == KNOOP_OK) {
                subscribed = true;
            } else if (knoop_client_refused(c)) {
                fprintf(stderr, "knoop sub: cannot subscribe to '%s' again: %s\n", a.pattern,
                        err);
                status = 2;
                break;
            } else if (knoop_now_ms() - t0 < 100) {
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);         /* no busy loop on a quick failure */
            }
            quiet_ms += (int) (knoop_now_ms() - t0);
            continue;
        }
        /* A durable subscriber outlives its node: after a quiet spell it
         * subscribes again (above). */
        int wait = left;
        if (a.durable && (wait < 0 || wait > RESUBSCRIBE_MS))
            wait = RESUBSCRIBE_MS;
        uint64_t pos;
        const uint8_t *env;
        size_t len;
        rc = knoop_client_next(c, &pos, &env, &len, wait);
        if (s_stop)
            break;
        if (rc == KNOOP_ETIMEDOUT) {
            quiet_ms += wait;
            if (a.durable)
                subscribed = false;
            continue;
        }
        if (rc && a.durable && !knoop_client_refused(c)) {
            /* deliveries were lost on the way (or the node went away): the
             * durable cursor resumes at the gap */
            fprintf(stderr, "knoop sub: %s; subscribing again\n", knoop_client_error(c));
            quiet_ms += (int) (knoop_now_ms() - t0);
            subscribed = false;
            continue;
        }
        if (rc) {
            fprintf(stderr, "knoop sub: subscription ended: %s\n", knoop_client_error(c));
            status = 2;
            break;
        }
        quiet_ms = 0;
        knoop_msg_t m;
        rc = knoop_msg_parse(&m, env, len);
        if (rc) {
            fprintf(stderr, "knoop sub: position %llu: the node delivered an envelope that "
                    "does not parse (%s); skipped\n", (unsigned long long) pos,
                    knoop_strerror(rc));
        } else {
            /* The node filters too; this keeps exercise traffic out of a real
             * picture even if it did not. */
            bool ok = true;
            if (s_wanted(a.status, m.b.status)) {
                ok = s_print(pos, &m);
                printed++;
            }
            knoop_msg_clear(&m);
            if (!ok) {
                status = 2;
                break;
            }
        }
        rc = knoop_client_ack(c, pos);
        if (rc && a.durable) {
            /* the node went away: it redelivers from its cursor, and the
             * client acks what was printed here again */
            subscribed = false;
        } else if (rc) {
            fprintf(stderr, "knoop sub: cannot acknowledge position %llu: %s\n",
                    (unsigned long long) pos, knoop_client_error(c));
            status = 2;
            break;
        }
    }
    knoop_client_destroy(&c);
    knoop_config_destroy(&cfg);
    return status;
}
