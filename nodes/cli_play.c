/* cli_play.c — `knoop play`: play a scenario of messages, each published at
 * its relative time through the node of the partner that says it. */
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
#include <time.h>

#define MAX_PARTNERS 128

static const knoop_cmd_t s_cmd = {
    .prog = "knoop play",
    .section = "play",
    .summary = "play a crisis scenario through the partners' nodes",
    .description =
"The scenario holds one JSON object per line, in time order:\n"
"  {\"at\": 12.5, \"as\": \"vr-zuid-limburg\",\n"
"   \"topic\": \"grip.vr-zuid-limburg\", \"type\": \"knoop.crisis.v1.GripLevel\",\n"
"   \"key\": \"...\", \"priority\": \"flash\", \"status\": \"actual\",\n"
"   \"tlp\": \"amber\", \"recipients\": [\"kcr2\"], \"payload\": {...}}\n"
"  {\"at\": 30, \"say\": \"text to print at that moment\"}\n"
"\"at\" is seconds from the start. Each message is published through the\n"
"node of its partner (\"as\"), whose API endpoint is the template with {id}\n"
"replaced, e.g. ipc:///run/knoop/{id}/api.sock, and is committed by that\n"
"node before the next line is played. Lines starting with # are comments.\n"
"Without \"key\" the topic is the state key; a knoop.crisis.v1.Alert takes\n"
"the key CAP gives it (\"sender,identifier\", or for an Update or Cancel the\n"
"key of the alert it references earlier in the scenario), as knoop pub does.",
    .exit_status =
"0 every message committed by its node, 1 a node refused or did not\n"
"answer (named on stderr; the rest is still played), 2 usage or a bad\n"
"scenario line (named by line number; nothing after it is played).",
    .examples =
"knoop play --scenario deploy/scenarios/limburg-2021.jsonl \\\n"
"           --api-template 'ipc:///run/knoop/{id}/api.sock' --speed 10",
};

static const knoop_opt_spec_t s_spec[] = {
    { "scenario", KNOOP_OPT_STRING, NULL, "FILE", "the scenario (JSON lines; - for stdin)",
      true },
    { "api-template", KNOOP_OPT_STRING, NULL, "T", "the nodes' API endpoints, with {id}",
      true },
    { "speed", KNOOP_OPT_STRING, "1", "X", "play X times faster", false },
    { "quiet", KNOOP_OPT_BOOL, "false", NULL, "no line per message", false },
    { NULL },
};

typedef struct {
    char            id[KNOOP_ID_MAX + 1];
    knoop_client_t *c;
} partner_t;

static volatile sig_atomic_t s_stop;
static void s_on_signal(int sig) { s_stop = 1; }

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static knoop_client_t *s_client(partner_t *ps, size_t *np, const char *tmpl, const char *id)
{
    for (size_t i = 0; i < *np; i++)
        if (!strcmp(ps[i].id, id))
            return ps[i].c;
    if (*np == MAX_PARTNERS)
        return NULL;
    char ep[1024];
    const char *at = strstr(tmpl, "{id}");
    if (at)
        snprintf(ep, sizeof ep, "%.*s%s%s", (int) (at - tmpl), tmpl, id, at + 4);
    else
        snprintf(ep, sizeof ep, "%s", tmpl);
    partner_t *p = &ps[(*np)++];
    snprintf(p->id, sizeof p->id, "%s", id);
    if (knoop_client_new(ep, &p->c) != KNOOP_OK)
        p->c = NULL;
    return p->c;
}

static const char *s_str(json_t *o, const char *k, const char *def)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : def;
}

int knoop_cli_play(int argc, char **argv)
{
    knoop_config_t *cfg;
    int rc0 = cli_options(&s_cmd, s_spec, argc, argv, &cfg);
    if (rc0 != -1)
        return rc0;
    const char *file = knoop_config_str(cfg, "scenario");
    const char *tmpl = knoop_config_str(cfg, "api-template");
    bool quiet = knoop_config_bool(cfg, "quiet");
    const char *speed_text = knoop_config_str(cfg, "speed");
    char *end;
    errno = 0;
    double speed = strtod(speed_text, &end);
    if (errno || *end || end == speed_text || !(speed > 0 && speed < 1e6)) {
        fprintf(stderr, "knoop play: --speed '%s' is not a positive number\n", speed_text);
        knoop_config_destroy(&cfg);
        return 2;
    }
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f) {
        fprintf(stderr, "knoop play: cannot read %s: %s\n", file, strerror(errno));
        knoop_config_destroy(&cfg);
        return 2;
    }
    knoop_log_set_level(KNOOP_LOG_ERROR);
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    partner_t *ps = calloc(MAX_PARTNERS, sizeof *ps);
    size_t np = 0, lineno = 0, played = 0, failed = 0;
    char *line = NULL;
    size_t cap = 0;
    double t0 = s_now();
    knoop_cap_keys_t *alert_keys = NULL;    /* of the scenario's alerts */
    int status = 0;
    while (!s_stop && getline(&line, &cap, f) > 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        json_error_t je;
        json_t *o = json_loads(p, 0, &je);
        if (!o || !json_is_object(o) || !json_is_number(json_object_get(o, "at"))) {
            fprintf(stderr, "knoop play: %s:%zu: not a scenario line (%s)\n", file, lineno,
                    o ? "needs a number \"at\"" : je.text);
            json_decref(o);
            status = 2;
            break;
        }
        double due = t0 + json_number_value(json_object_get(o, "at")) / speed;
        while (!s_stop && s_now() < due) {
            double left = due - s_now();
            struct timespec ts = { (time_t) left, (long) ((left - (double) (time_t) left) * 1e9) };
            if (left > 0.2)
                ts = (struct timespec) { 0, 200000000L };
            nanosleep(&ts, NULL);
        }
        if (s_stop) {
            json_decref(o);
            break;
        }
        const char *say = s_str(o, "say", NULL);
        if (say) {
            printf("[%6.1fs] %s\n", s_now() - t0, say);
            fflush(stdout);
            json_decref(o);
            continue;
        }
        const char *as = s_str(o, "as", NULL), *topic = s_str(o, "topic", NULL),
                   *type = s_str(o, "type", NULL);
        knoop_api_item_t it = { .topic = topic, .type = type, .key = s_str(o, "key", "") };
        knoop_priority_t prio = KNOOP_PRIO_ROUTINE;
        knoop_status_t st = KNOOP_STATUS_ACTUAL;
        knoop_tlp_t tlp = KNOOP_TLP_AMBER;
        knoop_buf_t payload = { 0 };
        char err[512] = "";
        /* "recipients": ["vr-a", ...] for TLP amber+strict and red */
        const char *rcpt[KNOOP_RECIPIENTS_MAX];
        size_t nrcpt = 0;
        bool rcpt_ok = true;
        json_t *ra = json_object_get(o, "recipients");
        if (ra && (!json_is_array(ra) || json_array_size(ra) > KNOOP_RECIPIENTS_MAX))
            rcpt_ok = false;
        for (size_t i = 0; rcpt_ok && ra && i < json_array_size(ra); i++) {
            const char *id = json_string_value(json_array_get(ra, i));
            rcpt_ok = id && knoop_id_valid(id);
            rcpt[nrcpt++] = id;
        }
        if (!rcpt_ok)
            snprintf(err, sizeof err, "recipients: an array of partner ids");
        if (!rcpt_ok || !as || !knoop_id_valid(as) || !topic || knoop_topic_validate(topic) || !type ||
            knoop_priority_parse(s_str(o, "priority", "routine"), &prio) ||
            knoop_status_parse(s_str(o, "status", "actual"), &st) ||
            knoop_tlp_parse(s_str(o, "tlp", "amber"), &tlp) ||
            !json_is_object(json_object_get(o, "payload")) ||
            knoop_payload_from_json(type, json_object_get(o, "payload"), &payload, err,
                                    sizeof err)) {
            fprintf(stderr, "knoop play: %s:%zu: bad message line%s%s (needs as, topic, type, "
                    "payload; priority/status/tlp by name)\n", file, lineno, *err ? ": " : "", err);
            knoop_buf_free(&payload);
            json_decref(o);
            status = 2;
            break;
        }
        it.priority = prio;
        it.status = st;
        it.tlp = tlp;
        it.recipients = rcpt;
        it.nrecipients = nrcpt;
        it.payload = payload.data;
        it.payload_len = payload.len;
        /* an Alert without "key" takes the key CAP gives it (cap.h), so that
         * an Update or Cancel later in the scenario supersedes it */
        char akey[KNOOP_KEY_MAX + 1];
        if (!*it.key && !strcmp(type, KNOOP_CAP_TYPE)) {
            knoop_cap_summary_t sum = { 0 };
            if (!alert_keys)
                alert_keys = knoop_cap_keys_new();
            if (alert_keys && knoop_cap_summary(payload.data, payload.len, &sum) == KNOOP_OK &&
                knoop_cap_keys_assign(alert_keys, &sum, akey, sizeof akey) == KNOOP_OK)
                it.key = akey;
            knoop_cap_summary_clear(&sum);
        }
        knoop_client_t *cl = s_client(ps, &np, tmpl, as);
        knoop_api_seq_t res;
        if (!cl)
            snprintf(err, sizeof err, "no API endpoint for it (more than %d partners, or "
                     "--api-template does not make a ZeroMQ endpoint)", MAX_PARTNERS);
        int rc = cl ? knoop_client_publish(cl, &it, 1, &res, 10000, err, sizeof err)
                    : KNOOP_EINVAL;
        if (rc) {
            fprintf(stderr, "knoop play: %s:%zu: %s could not publish on %s: %s\n", file, lineno,
                    as, topic, *err ? err : knoop_strerror(rc));
            failed++;
        } else {
            played++;
            if (!quiet) {
                printf("[%6.1fs] %-22s %-32s seq %llu%s%s\n", s_now() - t0, as, topic,
                       (unsigned long long) res.seq, st == KNOOP_STATUS_EXERCISE ? "  (OEFENING)" : "",
                       prio == KNOOP_PRIO_FLASH ? "  FLASH" : "");
                fflush(stdout);
            }
        }
        knoop_buf_free(&payload);
        json_decref(o);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    for (size_t i = 0; i < np; i++)
        knoop_client_destroy(&ps[i].c);
    free(ps);
    knoop_cap_keys_destroy(&alert_keys);
    fprintf(stderr, "knoop play: %zu messages committed, %zu failed, in %.1f s\n", played, failed,
            s_now() - t0);
    if (status == 0 && failed)
        status = 1;
    knoop_config_destroy(&cfg);
    return status;
}
