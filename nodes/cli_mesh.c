/* cli_mesh.c — `knoop mesh check`: do the brokers of the mesh hold the same?
 * Asks each broker's status endpoint for its digest; when they differ,
 * names the streams that differ and how. */
#include "cli.h"
#include "client.h"
#include "knoop.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BROKERS 16

static const knoop_cmd_t s_cmd = {
    .prog = "knoop mesh check",
    .section = "mesh-check",
    .summary = "do the brokers of the mesh hold the same messages?",
    .description =
"Asks each broker's status endpoint (its --api, by default\n"
"ipc://DATA/api.sock on the broker's machine) for the digest of\n"
"everything it holds, and says whether they agree. When they do not, it\n"
"lists every stream that differs: missing on a broker, or at another\n"
"high-water mark or head. It also reports forks and peers that are down.",
    .exit_status =
"0 all agree, 1 they differ (or a fork is reported), 2 a broker did not\n"
"answer or a usage error.",
    .examples =
"knoop mesh check --broker ipc:///var/lib/knoop/b1/api.sock \\\n"
"                 --broker ipc:///var/lib/knoop/b2/api.sock",
};

static const knoop_opt_spec_t s_spec[] = {
    { "broker", KNOOP_OPT_LIST, NULL, "ENDPOINT", "a broker's status endpoint (2..16)", true },
    { "json", KNOOP_OPT_BOOL, "false", NULL, "one JSON object instead of text", false },
    { "timeout", KNOOP_OPT_INT, "5", "SEC", "how long to wait for each broker, in seconds",
      false },
    { NULL },
};

typedef struct {
    const char *ep;
    json_t     *status;
} broker_t;

static json_t *s_row(json_t *vector, const char *stream)
{
    size_t i;
    json_t *r;
    json_array_foreach(vector, i, r)
        if (!strcmp(json_string_value(json_object_get(r, "stream")), stream))
            return r;
    return NULL;
}

int knoop_cli_mesh(int argc, char **argv)
{
    bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    if (!help && (argc < 2 || strcmp(argv[1], "check") != 0)) {
        fprintf(stderr, "usage: knoop mesh check --broker ENDPOINT ... "
                "(see knoop mesh check --help)\n");
        return 2;
    }
    knoop_config_t *cfg;
    int rc0 = cli_options(&s_cmd, s_spec, help ? argc : argc - 1, help ? argv : argv + 1, &cfg);
    if (rc0 != -1)
        return rc0;
    broker_t b[MAX_BROKERS];
    const char *const *eps;
    size_t nb = knoop_config_list(cfg, "broker", &eps);
    bool as_json = knoop_config_bool(cfg, "json");
    int timeout_ms;
    if (cli_timeout("mesh check", cfg, 3600, &timeout_ms)) {
        knoop_config_destroy(&cfg);
        return 2;
    }
    if (nb < 2 || nb > MAX_BROKERS) {
        fprintf(stderr, "knoop mesh check: give 2..%d --broker endpoints (%zu given)\n",
                MAX_BROKERS, nb);
        knoop_config_destroy(&cfg);
        return 2;
    }
    for (size_t i = 0; i < nb; i++)
        b[i] = (broker_t) { eps[i], NULL };
    knoop_log_set_level(KNOOP_LOG_ERROR);
    int status = 0;
    for (size_t i = 0; i < nb; i++) {
        knoop_client_t *cl = NULL;
        char *text = NULL;
        int rc = knoop_client_new(b[i].ep, &cl);
        if (rc == KNOOP_OK)
            rc = knoop_client_status(cl, &text, timeout_ms);
        knoop_client_destroy(&cl);
        json_error_t e;
        if (rc == KNOOP_OK)
            b[i].status = json_loads(text, 0, &e);
        free(text);
        if (!b[i].status || !json_object_get(b[i].status, "digest")) {
            fprintf(stderr, "knoop mesh check: %s: %s\n", b[i].ep,
                    rc ? "no answer (is the broker running, is this its status endpoint?)"
                       : "not a broker's status");
            status = 2;
        }
    }
    if (status) {
        for (size_t i = 0; i < nb; i++)
            json_decref(b[i].status);
        knoop_config_destroy(&cfg);
        return status;
    }
    const char *ref = json_string_value(json_object_get(b[0].status, "digest"));
    bool agree = true, forks = false;
    for (size_t i = 0; i < nb; i++) {
        if (strcmp(ref, json_string_value(json_object_get(b[i].status, "digest"))) != 0)
            agree = false;
        if (json_array_size(json_object_get(b[i].status, "forks")))
            forks = true;
    }
    json_t *out = json_pack("{s:b, s:b, s:[]}", "agree", agree, "forks", forks, "brokers");
    json_t *arr = json_object_get(out, "brokers");
    for (size_t i = 0; i < nb; i++) {
        json_t *s = b[i].status;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:O, s:O, s:O, s:O, s:O}", "endpoint",
            b[i].ep, "broker", json_string_value(json_object_get(s, "broker")),
            "digest", json_object_get(s, "digest"), "streams", json_object_get(s, "streams_count"),
            "messages", json_object_get(s, "messages"), "peers", json_object_get(s, "peers"),
            "forks", json_object_get(s, "forks")));
        json_t *mesh = json_object_get(s, "mesh");
        if (mesh)
            json_object_set(json_array_get(arr, i), "mesh", mesh);
    }
    json_t *diffs = json_array();
    if (!agree) {
        /* Every stream any broker has, compared across all. */
        for (size_t i = 0; i < nb; i++) {
            size_t k;
            json_t *r;
            json_array_foreach(json_object_get(b[i].status, "vector"), k, r) {
                const char *sid = json_string_value(json_object_get(r, "stream"));
                bool seen = false;
                size_t d;
                json_t *x;
                json_array_foreach(diffs, d, x)
                    if (!strcmp(json_string_value(json_object_get(x, "stream")), sid))
                        seen = true;
                if (seen)
                    continue;
                json_t *per = json_array();
                bool differ = false;
                const char *head0 = json_string_value(json_object_get(r, "head"));
                for (size_t j = 0; j < nb; j++) {
                    json_t *o = s_row(json_object_get(b[j].status, "vector"), sid);
                    const char *bid = json_string_value(json_object_get(b[j].status, "broker"));
                    if (!o) {
                        differ = true;
                        json_array_append_new(per, json_pack("{s:s, s:I}", "broker", bid, "hwm",
                                                             (json_int_t) 0));
                    } else {
                        if (strcmp(head0, json_string_value(json_object_get(o, "head"))))
                            differ = true;
                        json_array_append_new(per, json_pack("{s:s, s:O}", "broker", bid, "hwm",
                                                             json_object_get(o, "hwm")));
                    }
                }
                if (differ)
                    json_array_append_new(diffs, json_pack("{s:s, s:O, s:O, s:o}", "stream", sid,
                        "origin", json_object_get(r, "origin"), "topic", json_object_get(r, "topic"),
                        "per_broker", per));
                else
                    json_decref(per);
            }
        }
    }
    json_object_set_new(out, "differences", diffs);
    if (as_json) {
        char *t = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(t);
        free(t);
    } else {
        size_t i;
        json_t *x;
        json_array_foreach(arr, i, x) {
            printf("%-20s digest %.16s… %6lld streams %9lld messages", json_string_value(
                   json_object_get(x, "broker")), json_string_value(json_object_get(x, "digest")),
                   (long long) json_integer_value(json_object_get(x, "streams")),
                   (long long) json_integer_value(json_object_get(x, "messages")));
            size_t k;
            json_t *p;
            json_array_foreach(json_object_get(x, "peers"), k, p)
                printf("  peer %s %s", json_string_value(json_object_get(p, "id")),
                       json_string_value(json_object_get(p, "state")));
            if (json_is_true(json_object_get(json_object_get(x, "mesh"), "isolated")))
                printf("  ISOLATED: no peer up, it serves its own nodes only");
            printf("\n");
            json_array_foreach(json_object_get(x, "forks"), k, p)
                printf("  ALARM fork: %s %s stream %s\n", json_string_value(json_object_get(p, "origin")),
                       json_string_value(json_object_get(p, "topic")),
                       json_string_value(json_object_get(p, "stream")));
        }
        json_array_foreach(diffs, i, x) {
            printf("differs: %s %s (stream %s):", json_string_value(json_object_get(x, "origin")),
                   json_string_value(json_object_get(x, "topic")),
                   json_string_value(json_object_get(x, "stream")));
            size_t k;
            json_t *p;
            json_array_foreach(json_object_get(x, "per_broker"), k, p)
                printf(" %s hwm %lld", json_string_value(json_object_get(p, "broker")),
                       (long long) json_integer_value(json_object_get(p, "hwm")));
            printf("\n");
        }
        printf("mesh: %zu brokers %s%s\n", nb, agree ? "AGREE" : "DIFFER",
               forks ? " (FORK reported)" : "");
    }
    json_decref(out);
    for (size_t i = 0; i < nb; i++)
        json_decref(b[i].status);
    knoop_config_destroy(&cfg);
    return agree && !forks ? 0 : 1;
}
