/* node_metrics.c — the node's Prometheus metrics (lib/metrics.h): families,
 * the values read at scrape time, and the counters the loop feeds. */
#include "node.h"

#include <stdio.h>

static const double s_commit_buckets[] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                           0.1, 0.25, 0.5, 1, 2.5 };
static const double s_batch_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
static const double s_catchup_buckets[] = { 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300 };

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
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    knoop_metrics_set(m, "knoop_journal_messages_stored_total", "", (double) st.stored);
    knoop_metrics_set(m, "knoop_forks_total", "", (double) st.forks);
    knoop_metrics_set(m, "knoop_journal_map_bytes", "", (double) st.map_size);
    knoop_metrics_set(m, "knoop_journal_full_errors_total", "", (double) st.full_errors);
    knoop_metrics_set(m, "knoop_signature_errors_total", "", (double) st.sig_errors);
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
    knoop_metrics_family(m, "knoop_messages_in_total", KNOOP_METRIC_COUNTER,
                         "messages published by local applications and committed, by topic "
                         "family and priority", NULL, 0);
    knoop_metrics_family(m, "knoop_messages_out_total", KNOOP_METRIC_COUNTER,
                         "messages sent to the broker (resends included)", NULL, 0);
    knoop_metrics_family(m, "knoop_messages_delivered_total", KNOOP_METRIC_COUNTER,
                         "messages received from brokers and stored", NULL, 0);
    knoop_metrics_family(m, "knoop_refusals_total", KNOOP_METRIC_COUNTER,
                         "refusals received from the broker, by reason", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_commits_total", KNOOP_METRIC_COUNTER,
                         "journal commits (publish batches and deliveries)", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_commit_seconds", KNOOP_METRIC_HISTOGRAM,
                         "time of a durable journal commit (fsync included)", s_commit_buckets,
                         sizeof s_commit_buckets / sizeof s_commit_buckets[0]);
    knoop_metrics_family(m, "knoop_batch_size", KNOOP_METRIC_HISTOGRAM,
                         "messages per group commit of local publishes", s_batch_buckets,
                         sizeof s_batch_buckets / sizeof s_batch_buckets[0]);
    knoop_metrics_family(m, "knoop_catchup_seconds", KNOOP_METRIC_HISTOGRAM,
                         "from link up to caught up with the broker", s_catchup_buckets,
                         sizeof s_catchup_buckets / sizeof s_catchup_buckets[0]);
    knoop_metrics_family(m, "knoop_outbox_backlog", KNOOP_METRIC_GAUGE,
                         "own messages the broker has not acknowledged", NULL, 0);
    knoop_metrics_family(m, "knoop_outbox_blocked_streams", KNOOP_METRIC_GAUGE,
                         "own streams stopped by a refusal the broker will not lift", NULL, 0);
    knoop_metrics_family(m, "knoop_link_up", KNOOP_METRIC_GAUGE,
                         "1 when the link to a broker is up", NULL, 0);
    knoop_metrics_family(m, "knoop_link_caught_up", KNOOP_METRIC_GAUGE,
                         "1 when the catch-up on this link is done", NULL, 0);
    knoop_metrics_family(m, "knoop_link_failovers_total", KNOOP_METRIC_COUNTER,
                         "moves to another broker", NULL, 0);
    knoop_metrics_family(m, "knoop_clock_offset_seconds", KNOOP_METRIC_GAUGE,
                         "the broker's clock minus this node's, from its heartbeats", NULL, 0);
    knoop_metrics_family(m, "knoop_clock_skewed", KNOOP_METRIC_GAUGE,
                         "1 while the clocks differ by 30 s or more", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_messages_stored_total", KNOOP_METRIC_COUNTER,
                         "messages stored in the journal since start", NULL, 0);
    knoop_metrics_family(m, "knoop_forks_total", KNOOP_METRIC_COUNTER,
                         "forked streams detected since start", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_map_bytes", KNOOP_METRIC_GAUGE,
                         "size of the journal's LMDB map", NULL, 0);
    knoop_metrics_family(m, "knoop_journal_full_errors_total", KNOOP_METRIC_COUNTER,
                         "commits refused because the journal was full", NULL, 0);
    knoop_metrics_family(m, "knoop_signature_errors_total", KNOOP_METRIC_COUNTER,
                         "head signatures that did not verify", NULL, 0);
    knoop_metrics_family(m, "knoop_certificate_expiry_timestamp_seconds", KNOOP_METRIC_GAUGE,
                         "end of validity of the partner's own certificate", NULL, 0);
    knoop_info("node: metrics on http://%s/metrics", listen);
    return KNOOP_OK;
}

void node_metrics_commit(knoop_node_t *self, int64_t t0_us, size_t batch, bool publish)
{
    if (!self->metrics)
        return;
    knoop_metrics_add(self->metrics, "knoop_journal_commits_total", "", 1);
    knoop_metrics_observe(self->metrics, "knoop_journal_commit_seconds", "",
                          (double) (zclock_usecs() - t0_us) / 1e6);
    if (publish)
        knoop_metrics_observe(self->metrics, "knoop_batch_size", "", (double) batch);
}

void node_metrics_message_in(knoop_node_t *self, const knoop_msg_t *m)
{
    if (!self->metrics)
        return;
    char fam[32], l[96];
    knoop_metrics_topic_family(m->b.topic, fam);
    snprintf(l, sizeof l, "family=\"%s\",priority=\"%s\"", fam,
             knoop_priority_name(m->b.priority));
    knoop_metrics_add(self->metrics, "knoop_messages_in_total", l, 1);
}
