/* metrics.c — the broker's Prometheus metrics (lib/metrics.h): its own
 * families beside the ones every daemon has, and the values read at scrape
 * time. The loop feeds the counters where the events happen. */
#include "broker_int.h"

#include <stdio.h>

static void s_collect(void *arg, knoop_metrics_t *m)
{
    knoop_broker_t *self = arg;
    size_t sessions = 0;
    for (session_t *s = self->sessions; s; s = s->next)
        sessions++;
    knoop_metrics_set(m, "knoop_sessions", "", (double) sessions);
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    knoop_metrics_journal(m, &st);
    knoop_metrics_storage(m, st.map_max, st.full == KNOOP_JOURNAL_FULL_MAP,
                          st.full == KNOOP_JOURNAL_FULL_DISK);
    knoop_metrics_set(m, "knoop_sessions_silent_total", "", (double) self->sessions_silent);
    knoop_metrics_set(m, "knoop_frames_in_total", "", (double) self->frames_in);
    knoop_metrics_set(m, "knoop_frames_bad_total", "", (double) self->frames_bad);
    knoop_metrics_set(m, "knoop_trust_reloads_total", "", (double) self->trust_reloads);
    knoop_metrics_set(m, "knoop_fair_throttled_frames_total", "", (double) self->throttled_frames);
    knoop_metrics_set(m, "knoop_fair_forwarded_kept_total", "", (double) self->fwd_kept);
    uint64_t now = knoop_now_ms();
    static const char *const per_peer[] = {
        "knoop_peer_up", "knoop_peer_lag_seconds", "knoop_peer_last_anti_entropy_timestamp_seconds",
        "knoop_peer_in_sync", "knoop_peer_messages_in_total",
    };
    for (size_t i = 0; i < sizeof per_peer / sizeof per_peer[0]; i++)
        knoop_metrics_clear(m, per_peer[i]);
    for (size_t i = 0; i < self->npeers; i++) {
        const peer_t *p = &self->peers[i];
        char l[KNOOP_ID_MAX + 16];
        snprintf(l, sizeof l, "peer=\"%s\"", p->id);
        knoop_metrics_set(m, "knoop_peer_up", l, p->state == 2);
        /* how long since the peer was last heard: its lag as seen from here */
        knoop_metrics_set(m, "knoop_peer_lag_seconds", l,
                          p->last_heard && now > p->last_heard ? (now - p->last_heard) / 1000.0 : 0);
        knoop_metrics_set(m, "knoop_peer_last_anti_entropy_timestamp_seconds", l,
                          p->last_sync_at / 1000.0);
        knoop_metrics_set(m, "knoop_peer_in_sync", l, p->in_sync);
        knoop_metrics_set(m, "knoop_peer_messages_in_total", l, (double) p->received);
    }
    const knoop_cert_t *mine = knoop_trust_by_id(self->trust, self->id);
    if (mine)
        knoop_metrics_set(m, "knoop_certificate_expiry_timestamp_seconds", "which=\"own\"",
                          (double) mine->valid_until);
    int64_t earliest = 0;
    for (size_t i = 0; i < knoop_trust_size(self->trust); i++) {
        const knoop_cert_t *c = knoop_trust_at(self->trust, i);
        if (c && (!earliest || c->valid_until < earliest))
            earliest = c->valid_until;
    }
    if (earliest)
        knoop_metrics_set(m, "knoop_certificate_expiry_timestamp_seconds",
                          "which=\"earliest_in_trust_store\"", (double) earliest);
}

int broker_metrics_init(knoop_broker_t *self, const char *listen)
{
    if (!listen)
        return KNOOP_OK;
    char err[256];
    int rc = knoop_metrics_new(listen, s_collect, self, &self->metrics, err, sizeof err);
    if (rc) {
        knoop_error("broker: %s", err);
        return rc;
    }
    knoop_metrics_t *m = self->metrics;
    knoop_metrics_daemon_families(m, "messages from nodes stored (new), by topic family and "
                                  "priority");
    static const struct { const char *name; knoop_metric_kind_t kind; const char *help; } f[] = {
        { "knoop_messages_out_total", KNOOP_METRIC_COUNTER,
          "messages delivered to nodes and peer brokers, by topic family, priority and "
          "phase (catchup or live)" },
        { "knoop_credit_stalls_total", KNOOP_METRIC_COUNTER,
          "loop passes in which a node had messages waiting but no credit" },
        { "knoop_sessions", KNOOP_METRIC_GAUGE, "node sessions open" },
        { "knoop_sessions_silent_total", KNOOP_METRIC_COUNTER,
          "sessions dropped because the partner was silent past the heartbeat timeout" },
        { "knoop_frames_in_total", KNOOP_METRIC_COUNTER, "frames received from nodes" },
        { "knoop_frames_bad_total", KNOOP_METRIC_COUNTER, "frames from nodes that did not parse" },
        { "knoop_trust_reloads_total", KNOOP_METRIC_COUNTER,
          "trust store loaded again: its files changed or the mesh taught something" },
        { "knoop_fair_throttled_frames_total", KNOOP_METRIC_COUNTER,
          "PUBLISH frames kept for a later loop pass: their partner was over its fair share" },
        { "knoop_fair_forwarded_kept_total", KNOOP_METRIC_COUNTER,
          "messages from peer brokers kept for a later loop pass: their origin was over its "
          "fair share" },
        { "knoop_peer_up", KNOOP_METRIC_GAUGE, "1 when the pull link to the peer broker is up" },
        { "knoop_peer_lag_seconds", KNOOP_METRIC_GAUGE,
          "seconds since the peer broker was last heard" },
        { "knoop_peer_last_anti_entropy_timestamp_seconds", KNOOP_METRIC_GAUGE,
          "when the last digest comparison with the peer was answered" },
        { "knoop_peer_in_sync", KNOOP_METRIC_GAUGE,
          "1 when the last digest comparison with the peer agreed" },
        { "knoop_peer_messages_in_total", KNOOP_METRIC_COUNTER,
          "messages received from the peer broker" },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        knoop_metrics_family(m, f[i].name, f[i].kind, f[i].help, NULL, 0);
    knoop_info("broker: metrics on http://%s/metrics", listen);
    return KNOOP_OK;
}
