/* node_metrics.c — the node's Prometheus metrics (lib/metrics.h): its own
 * families beside the ones every daemon has, and the values read at scrape
 * time. The loop feeds the counters where the events happen. */
#include "node_int.h"

#include <stdio.h>

static void s_collect(void *arg, knoop_metrics_t *m)
{
    knoop_node_t *self = arg;
    uint64_t backlog = 0;
    size_t blocked = 0;
    for (size_t i = 0; i < self->nown; i++) {
        backlog += self->own[i].hwm - self->own[i].acked;
        blocked += self->own[i].blocked;
    }
    knoop_metrics_set(m, "knoop_outbox_backlog", "", (double) backlog);
    knoop_metrics_set(m, "knoop_outbox_blocked_streams", "", (double) blocked);
    knoop_metrics_set(m, "knoop_link_up", "", self->link == LINK_UP);
    knoop_metrics_set(m, "knoop_link_caught_up", "", self->caught_up);
    knoop_metrics_set(m, "knoop_link_failovers_total", "", (double) self->failovers);
    knoop_metrics_set(m, "knoop_clock_offset_seconds", "",
                      (double) self->clock_offset_ms / 1000.0);
    knoop_metrics_set(m, "knoop_clock_skewed", "", self->clock_skewed);
    knoop_metrics_set(m, "knoop_messages_delivered_total", "", (double) self->delivered_in);
    knoop_metrics_set(m, "knoop_trust_reloads_total", "", (double) self->trust_reloads);
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    knoop_metrics_journal(m, &st);
    knoop_metrics_storage(m, st.map_max, st.full == KNOOP_JOURNAL_FULL_MAP,
                          st.full == KNOOP_JOURNAL_FULL_DISK);
    const knoop_cert_t *mine = knoop_trust_by_id(self->trust, self->id);
    if (mine)
        knoop_metrics_set(m, "knoop_certificate_expiry_timestamp_seconds", "which=\"own\"",
                          (double) mine->valid_until);
}

int node_metrics_init(knoop_node_t *self, const char *listen)
{
    if (!listen)
        return KNOOP_OK;
    char err[256];
    int rc = knoop_metrics_new(listen, s_collect, self, &self->metrics, err, sizeof err);
    if (rc) {
        knoop_error("node: %s", err);
        return rc;
    }
    knoop_metrics_t *m = self->metrics;
    knoop_metrics_daemon_families(m, "messages published by local applications and committed, "
                                  "by topic family and priority");
    static const struct { const char *name; knoop_metric_kind_t kind; const char *help; } f[] = {
        { "knoop_messages_out_total", KNOOP_METRIC_COUNTER,
          "messages sent to the broker (resends included), by topic family and priority" },
        { "knoop_messages_delivered_total", KNOOP_METRIC_COUNTER,
          "messages received from brokers and stored" },
        { "knoop_outbox_backlog", KNOOP_METRIC_GAUGE,
          "own messages the broker has not acknowledged" },
        { "knoop_outbox_blocked_streams", KNOOP_METRIC_GAUGE,
          "own streams stopped by a refusal the broker will not lift" },
        { "knoop_link_up", KNOOP_METRIC_GAUGE, "1 when the link to a broker is up" },
        { "knoop_link_caught_up", KNOOP_METRIC_GAUGE, "1 when the catch-up on this link is done" },
        { "knoop_link_failovers_total", KNOOP_METRIC_COUNTER, "moves to another broker" },
        { "knoop_clock_offset_seconds", KNOOP_METRIC_GAUGE,
          "the broker's clock minus this node's, from its heartbeats" },
        { "knoop_clock_skewed", KNOOP_METRIC_GAUGE, "1 while the clocks differ by 30 s or more" },
        { "knoop_catchup_last_messages", KNOOP_METRIC_GAUGE,
          "messages the last catch-up from a broker delivered" },
        { "knoop_trust_reloads_total", KNOOP_METRIC_COUNTER,
          "trust store loaded again: its files changed or the mesh taught something" },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        knoop_metrics_family(m, f[i].name, f[i].kind, f[i].help, NULL, 0);
    knoop_info("node: metrics on http://%s/metrics", listen);
    return KNOOP_OK;
}
