/* cli_beeld.c — `knoop beeld`: the current operational picture, the latest
 * message per state key, as the partner's node holds it. */
#include "cli.h"
#include "client.h"
#include "hlc.h"
#include "json.h"
#include "msg_json.h"
#include "topic.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT 10
#define SUMMARY_MAX     200             /* characters of payload summary */

static const knoop_cmd_t s_cmd = {
    .prog = "knoop beeld",
    .section = "beeld",
    .summary = "show the current operational picture",
    .description =
"The picture (beeld) is the latest ACTUAL message per state key (topic\n"
"and key), the same on every partner once they have converged: the winner\n"
"is the message with the highest hybrid logical clock, then origin.\n"
"Prints one line per state key, tab-separated:\n"
"\n"
"    TOPIC  KEY  ORIGIN  TIME  TYPE  SUMMARY\n"
"\n"
"KEY is '-' where the topic itself is the state key; TIME is the\n"
"message's time (RFC 3339 UTC, from its clock); TYPE the last part of the\n"
"payload type; SUMMARY the payload's fields as name=value, shortened,\n"
"those a person reads first in front: an Alert's headline, severity,\n"
"urgency and area; GRIP's region, level and incident; a SitRep's region,\n"
"summary and casualties; a water level's gauge, level, trend and norm; an\n"
"outage's provider, status, sector, area and customers; a bijstand step's\n"
"kind, what, quantity and parties; a duiding's title and confidence.",
    .exit_status =
"0 the picture was printed (possibly empty), 2 usage or connection\n"
"error, or the node refused.",
    .examples =
"knoop beeld\n"
"knoop beeld --pattern 'grip.>'\n"
"knoop beeld --pattern 'water.*.peil' --json | jq -r .payload.level_cm_nap",
};

static const knoop_opt_spec_t s_spec[] = {
    CLI_OPT_API,
    { "pattern", KNOOP_OPT_STRING, ">", "P", "only topics matching P ('>': everything)", false },
    { "json", KNOOP_OPT_BOOL, "false", NULL,
      "one JSON object per line, as knoop sub prints them", false },
    CLI_OPT_TIMEOUT("10"),
    { NULL },
};

typedef struct {
    const char *api, *pattern;
    bool json;
    int timeout_ms;
    char api_default[512];
} beeld_args_t;

/* -1 to run with *cfg holding the strings a points at; else the exit status. */
static int s_parse(int argc, char **argv, beeld_args_t *a, knoop_config_t **cfg)
{
    memset(a, 0, sizeof *a);
    int rc = cli_options(&s_cmd, s_spec, argc, argv, cfg);
    if (rc != -1)
        return rc;
    a->pattern = knoop_config_str(*cfg, "pattern");
    a->json = knoop_config_bool(*cfg, "json");
    if (!(a->api = cli_api("beeld", *cfg, a->api_default, sizeof a->api_default))
        || cli_timeout("beeld", *cfg, 3600, &a->timeout_ms))
        goto fail;
    if (knoop_pattern_validate(a->pattern) != KNOOP_OK) {
        fprintf(stderr, "knoop beeld: invalid pattern '%s' (tokens of [a-z0-9_-], '*' for "
                "one token, '>' for the rest)\n", a->pattern);
        goto fail;
    }
    return -1;
fail:
    knoop_config_destroy(cfg);
    return 2;
}

/* Append text to the summary, keeping it within SUMMARY_MAX. */
static void s_add(char *out, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len >= SUMMARY_MAX)
        return;
    if (*len + n > SUMMARY_MAX) {
        n = SUMMARY_MAX - *len;
        memcpy(out + *len, text, n);
        *len += n;
        memcpy(out + *len, "...", 4);
        *len = SUMMARY_MAX;
        return;
    }
    memcpy(out + *len, text, n + 1);
    *len += n;
}

/* What a person reads first, per type: label and path into the payload
 * JSON ("a.0.b": member, array index; "*" joins every element). The rest of
 * the top-level fields follow. */
typedef struct { const char *label, *path; } lead_t;
static const struct {
    const char *type;
    lead_t      lead[6];
} s_leads[] = {
    { "knoop.crisis.v1.Alert", { { "headline", "info.0.headline" },
        { "severity", "info.0.severity" }, { "urgency", "info.0.urgency" },
        { "area", "info.0.area.*.area_desc" }, { "msg_type", "msg_type" } } },
    { "knoop.crisis.v1.GripLevel", { { "region", "region" }, { "level", "level" },
        { "incident", "incident_name" }, { "ended", "ended" } } },
    { "knoop.crisis.v1.SitRep", { { "region", "reporting_region" }, { "summary", "summary" },
        { "casualties", "casualties" }, { "report", "report_number" } } },
    { "knoop.crisis.v1.Duiding", { { "title", "title" }, { "confidence", "confidence" },
        { "valid_until", "valid_until" } } },
    { "knoop.crisis.v1.WaterLevel", { { "gauge", "gauge_name" }, { "level_cm_nap", "level_cm_nap" },
        { "trend", "trend" }, { "exceeded", "threshold_exceeded" }, { "kind", "kind" } } },
    { "knoop.crisis.v1.VitalOutage", { { "provider", "provider" }, { "status", "status" },
        { "sector", "sector" }, { "area", "area.name" }, { "customers", "customers_affected" },
        { "112", "emergency_number_reachable" } } },
    { "knoop.crisis.v1.ResourceRequest", { { "kind", "kind" }, { "what", "what" },
        { "quantity", "quantity" }, { "for", "requesting_region" }, { "from", "sender" },
        { "needed_by", "needed_by" } } },
};

/* The value at path, as text (malloc'd), or NULL when absent. */
static char *s_at(json_t *v, const char *path)
{
    char head[64];
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t) (dot - path) : strlen(path);
    if (n >= sizeof head)
        return NULL;
    memcpy(head, path, n);
    head[n] = '\0';
    json_t *next = NULL;
    if (!strcmp(head, "*") && json_is_array(v)) {
        /* every element, comma-joined */
        char buf[512] = "";
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            char *t = dot ? s_at(e, dot + 1) : json_dumps(e, JSON_ENCODE_ANY);
            if (t && strlen(buf) + strlen(t) + 2 < sizeof buf) {
                if (*buf)
                    strcat(buf, ", ");
                strcat(buf, t);
            }
            free(t);
        }
        return *buf ? strdup(buf) : NULL;
    }
    if (json_is_array(v) && head[0] >= '0' && head[0] <= '9')
        next = json_array_get(v, (size_t) strtoul(head, NULL, 10));
    else if (json_is_object(v))
        next = json_object_get(v, head);
    if (!next)
        return NULL;
    if (dot)
        return s_at(next, dot + 1);
    if (json_is_string(next))
        return strdup(json_string_value(next));
    return json_dumps(next, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

/* One "name=value", the value quoted when it holds blanks or quotes. */
static void s_pair(char *out, size_t *len, const char *name, const char *val)
{
    if (*len)
        s_add(out, len, " ");
    s_add(out, len, name);
    s_add(out, len, "=");
    if (strpbrk(val, " \t\"") || !*val) {
        json_t *q = json_string(val);
        char *t = q ? json_dumps(q, JSON_ENCODE_ANY) : NULL;
        s_add(out, len, t ? t : "?");
        free(t);
        json_decref(q);
    }
    else
        s_add(out, len, val);
}

/* "region=vr-utrecht level=GRIP_2 incident=\"brand\" ...": first the fields
 * a person reads first for the type (an Alert's headline, severity, urgency
 * and area; GRIP's region, level and incident name), then the other
 * top-level fields, nested objects and arrays as compact JSON. */
static void s_summary(const knoop_msg_t *m, char out[SUMMARY_MAX + 4])
{
    size_t len = 0;
    out[0] = '\0';
    json_t *p = NULL;
    if (knoop_payload_to_json(m->b.type, m->b.payload, m->b.payload_len, &p) != KNOOP_OK) {
        snprintf(out, SUMMARY_MAX + 4, "(%zu bytes, not decoded)", m->b.payload_len);
        return;
    }
    const lead_t *lead = NULL;
    for (size_t i = 0; i < sizeof s_leads / sizeof s_leads[0]; i++)
        if (!strcmp(s_leads[i].type, m->b.type))
            lead = s_leads[i].lead;
    /* top-level keys the leads used: not repeated in the rest */
    char used[6][64];
    size_t nused = 0;
    for (size_t i = 0; lead && i < 6 && lead[i].label; i++) {
        size_t n = strcspn(lead[i].path, ".");
        snprintf(used[nused++], sizeof used[0], "%.*s", (int) (n < 63 ? n : 63), lead[i].path);
        char *val = s_at(p, lead[i].path);
        if (val)
            s_pair(out, &len, lead[i].label, val);
        free(val);
    }
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) {
        bool seen = false;
        for (size_t i = 0; i < nused && !seen; i++)
            seen = !strcmp(used[i], k);
        if (seen)
            continue;
        char *val = json_is_string(v) ? strdup(json_string_value(v))
                                      : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                                      JSON_PRESERVE_ORDER);
        s_pair(out, &len, k, val ? val : "?");
        free(val);
    }
    json_decref(p);
    /* A state key or reason may hold anything printable but a tab would
     * break the columns: the summary is the last one, keep it on its line. */
    for (char *c = out; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r')
            *c = ' ';
}

typedef struct {
    bool   json;
    size_t shown;
} beeld_out_t;

static int s_one(void *arg, const uint8_t *env, size_t len)
{
    beeld_out_t *o = arg;
    knoop_msg_t m;
    int rc = knoop_msg_parse(&m, env, len);
    if (rc) {
        fprintf(stderr, "knoop beeld: the node sent an envelope that does not parse (%s); "
                "skipped\n", knoop_strerror(rc));
        return 0;
    }
    if (o->json) {
        json_t *j = knoop_msg_to_json(&m);
        char *line = j ? knoop_json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!line) {
            knoop_msg_clear(&m);
            return KNOOP_ENOMEM;
        }
        puts(line);
        free(line);
    } else {
        char when[25], summary[SUMMARY_MAX + 4];
        knoop_time_format_ms(when, KNOOP_HLC_MS(m.b.hlc));
        const char *type = strrchr(m.b.type, '.');
        type = type && type[1] ? type + 1 : m.b.type;
        s_summary(&m, summary);
        printf("%s\t%s\t%s\t%s\t%s\t%s\n", m.b.topic, *m.b.key ? m.b.key : "-", m.b.origin,
               when, type, summary);
    }
    o->shown++;
    knoop_msg_clear(&m);
    return 0;
}

int knoop_cli_beeld(int argc, char **argv)
{
    beeld_args_t a;
    knoop_config_t *cfg;
    int rc = s_parse(argc, argv, &a, &cfg);
    if (rc != -1)
        return rc;
    knoop_client_t *c = cli_client("beeld", a.api);
    if (!c) {
        knoop_config_destroy(&cfg);
        return 2;
    }
    beeld_out_t out = { .json = a.json };
    rc = knoop_client_beeld(c, a.pattern, s_one, &out, a.timeout_ms);
    int status = 0;
    if (rc == KNOOP_ENOMEM && !*knoop_client_error(c)) {
        fprintf(stderr, "knoop beeld: out of memory\n");
        status = 2;
    } else if (rc) {
        fprintf(stderr, "knoop beeld: %s\n", knoop_client_error(c));
        status = 2;
    }
    knoop_client_destroy(&c);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "knoop beeld: cannot write to stdout: %s\n", strerror(errno));
        status = 2;
    }
    knoop_config_destroy(&cfg);
    return status;
}
