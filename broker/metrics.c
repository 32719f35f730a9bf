/* metrics.c — the broker's Prometheus metrics (lib/metrics.h): families,
 * the values read at scrape time, and the counters the loop feeds. */
#include "broker.h"

#include <stdio.h>

/* Commit (fsync) latency in seconds, and batch sizes in messages. */
static const double s_commit_buckets[] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                           0.1, 0.25, 0.5, 1, 2.5 };
static const double s_batch_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
static const double s_catchup_buckets[] = { 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300 };

static void s_collect(void *arg, knoop_metrics_t *m)
{
    knoop_broker_t *self = arg;
    size_t sessions = 0;
    for (session_t *s = self->sessions; s; s = s->next)
        sessions++;
    knoop_metrics_set(m, "knoop_sessions", "", (double) sessions);
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    knoop_metrics_set(m, "knoop_journal_messages_stored_total", "", (double) st.stored);
    knoop_metrics_set(m, "knoop_journal_duplicates_total", "", (double) st.duplicates);
    knoop_metrics_set(m, "knoop_forks_total", "", (double) st.forks);
    knoop_metrics_set(m, "knoop_journal_map_bytes", "", (double) st.map_size);
    knoop_metrics_set(m, "knoop_journal_full_errors_total", "", (double) st.full_errors);
    knoop_metrics_set(m, "knoop_frames_in_total", "", (double) self->frames_in);
    knoop_metrics_set(m, "knoop_frames_bad_total", "", (double) self->frames_bad);
    uint64_t now = knoop_now_ms();
    knoop_metrics_clear(m, "knoop_peer_up");
    knoop_metrics_clear(m, "knoop_peer_lag_seconds");
    knoop_metrics_clear(m, "knoop_peer_last_anti_entropy_timestamp_seconds");
    knoop_metrics_clear(m, "knoop_peer_in_sync");
    knoop_metrics_clear(m, "knoop_peer_messages_in_total");
    for (size_t i = 0; i < self->npeers; i++) {
        const peer_t *p = &self->peers[i];
        char l[KNOOP_ID_MAX + 16];
        snprintf(l, sizeof l, "peer=\"%s\"", p->id);
        knoop_metrics_set(m, "knoop_peer_up", l, p->state == 2);
        /* how long since the peer was last heard: its lag as seen here */
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
    knoop_metrics_family(m, "knoop_messages_in_total", KNOOP_METRIC_COUNTER,
                         "messages from nodes stored (new), by topic family and priority", NULL, 0);
    knoop_metrics_family(m, "knoop_messages_out_total", KNOOP_METRIC_COUNTER,
                         "messages delivered to nodes, by phase (catchup or live)", NULL, 0);
    knoop_metrics_family(m, "knoop_refusals_total", KNOOP_METRIC_COUNTER,
                         "refusals sent to nodes and peers, by reason", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_commits_total", KNOOP_METRIC_COUNTER,
                         "journal commits of published batches", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_commit_seconds", KNOOP_METRIC_HISTOGRAM,
                         "time of a durable journal commit (fsync included)", s_commit_buckets,
                         sizeof s_commit_buckets / sizeof s_commit_buckets[0]);
    knoop_metrics_family(m, "knoop_batch_size", KNOOP_METRIC_HISTOGRAM,
                         "messages per group commit", s_batch_buckets,
                         sizeof s_batch_buckets / sizeof s_batch_buckets[0]);
    knoop_metrics_family(m, "knoop_catchup_seconds", KNOOP_METRIC_HISTOGRAM,
                         "duration of a node's catch-up after it connected", s_catchup_buckets,
                         sizeof s_catchup_buckets / sizeof s_catchup_buckets[0]);
    knoop_metrics_family(m, "knoop_credit_stalls_total", KNOOP_METRIC_COUNTER,
                         "loop passes in which a node had messages waiting but no credit", NULL, 0);
    knoop_metrics_family(m, "knoop_sessions", KNOOP_METRIC_GAUGE, "node sessions open", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_messages_stored_total", KNOOP_METRIC_COUNTER,
                         "messages stored in the journal since start", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_duplicates_total", KNOOP_METRIC_COUNTER,
                         "duplicates dropped by the journal since start", NULL, 0);
    knoop_metrics_family(m, "knoop_forks_total", KNOOP_METRIC_COUNTER,
                         "forked streams detected since start", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_map_bytes", KNOOP_METRIC_GAUGE,
                         "size of the journal's LMDB map", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_full_errors_total", KNOOP_METRIC_COUNTER,
                         "commits refused because the journal was full", NULL, 0);
    knoop_metrics_family(m, "knoop_frames_in_total", KNOOP_METRIC_COUNTER,
                         "frames received from nodes", NULL, 0);
    knoop_metrics_family(m, "knoop_frames_bad_total", KNOOP_METRIC_COUNTER,
                         "frames from nodes that did not parse", NULL, 0);
    knoop_metrics_family(m, "knoop_peer_up", KNOOP_METRIC_GAUGE,
                         "1 when the pull link to the peer broker is up", NULL, 0);
    knoop_metrics_family(m, "knoop_peer_lag_seconds", KNOOP_METRIC_GAUGE,
                         "seconds since the peer broker was last heard", NULL, 0);
    knoop_metrics_family(m, "knoop_peer_last_anti_entropy_timestamp_seconds", KNOOP_METRIC_GAUGE,
                         "when the last digest comparison with the peer was answered", NULL, 0);
    knoop_metrics_family(m, "knoop_peer_in_sync", KNOOP_METRIC_GAUGE,
                         "1 when the last digest comparison with the peer agreed", NULL, 0);
    knoop_metrics_family(m, "knoop_peer_messages_in_total", KNOOP_METRIC_COUNTER,
                         "messages received from the peer broker", NULL, 0);
    knoop_metrics_family(m, "knoop_certificate_expiry_timestamp_seconds", KNOOP_METRIC_GAUGE,
                         "end of validity of the broker's own certificate and of the earliest "
                         "in its trust store", NULL, 0);
    knoop_info("broker: metrics on http://%s/metrics", listen);
    return KNOOP_OK;
}

void broker_metrics_commit(knoop_broker_t *self, double seconds, size_t batch)
{
    knoop_metrics_add(self->metrics, "knoop_journal_commits_total", "", 1);
    knoop_metrics_observe(self->metrics, "knoop_journal_commit_seconds", "", seconds);
    knoop_metrics_observe(self->metrics, "knoop_batch_size", "", (double) batch);
}

void broker_metrics_message_in(knoop_broker_t *self, const knoop_msg_t *m)
{
    if (!self->metrics)
        return;
    char fam[32], l[96];
    knoop_metrics_topic_family(m->b.topic, fam);
    snprintf(l, sizeof l, "family=\"%s\",priority=\"%s\"", fam,
             knoop_priority_name(m->b.priority));
    knoop_metrics_add(self->metrics, "knoop_messages_in_total", l, 1);
}
