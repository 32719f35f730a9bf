/*
 * metrics.h — a daemon's Prometheus metrics and the HTTP endpoint that
 * serves them (GET /metrics, text exposition format 0.0.4), for knoop-broker
 * and knoop-node (--metrics HOST:PORT, or the "metrics" key of their config).
 *
 * Threading: none of its own. libmicrohttpd runs without a thread: the
 * daemon polls knoop_metrics_fd() with its other sockets and calls
 * knoop_metrics_serve() once per loop pass, so a scrape is answered on the
 * thread that writes the values and nothing needs a lock. A scrape first
 * calls the daemon's collect function, which sets the gauges that are cheaper
 * to read on demand (sessions, backlog, journal size, peers).
 *
 * Every function accepts self == NULL and then does nothing, so a daemon
 * started without --metrics calls the same code.
 *
 * A series is a family name and a label text already in exposition form,
 * e.g. "family=\"grip\",priority=\"flash\"" ("" for none). Label values must
 * be ids, topic tokens or names from this project ([a-z0-9_.-]): they are
 * not escaped. Each family holds at most KNOOP_METRICS_SERIES_MAX series;
 * values for more are dropped and counted in knoop_metrics_dropped_series_total.
 */
#ifndef KNOOP_METRICS_H
#define KNOOP_METRICS_H

#include "knoop.h"
#include "journal.h"

#define KNOOP_METRICS_SERIES_MAX 256
#define KNOOP_METRICS_BUCKETS_MAX 16

typedef enum {
    KNOOP_METRIC_COUNTER,
    KNOOP_METRIC_GAUGE,
    KNOOP_METRIC_HISTOGRAM,
} knoop_metric_kind_t;

typedef struct knoop_metrics_t knoop_metrics_t;
typedef void (knoop_metrics_collect_fn)(void *arg, knoop_metrics_t *m);

/* Listen on HOST:PORT (hostport.h). collect (may be NULL) is called with arg
 * before each scrape. Errors: KNOOP_EINVAL (address), KNOOP_EIO (cannot
 * listen: in use?), KNOOP_ENOMEM; err says which. */
int  knoop_metrics_new(const char *listen, knoop_metrics_collect_fn *collect, void *arg,
                       knoop_metrics_t **out, char *err, size_t err_size);
void knoop_metrics_destroy(knoop_metrics_t **self_p);

/* The file descriptor to poll for input (POLLIN), or -1 (self NULL). */
int  knoop_metrics_fd(const knoop_metrics_t *self);
/* Answer what is ready; never blocks. */
void knoop_metrics_serve(knoop_metrics_t *self);

/* Declare a family (before its first value). buckets: the upper bounds of a
 * histogram, ascending, at most KNOOP_METRICS_BUCKETS_MAX (NULL otherwise).
 * A family declared twice keeps the first declaration. */
void knoop_metrics_family(knoop_metrics_t *self, const char *name, knoop_metric_kind_t kind,
                          const char *help, const double *buckets, size_t nbuckets);

/* Add v to a counter. */
void knoop_metrics_add(knoop_metrics_t *self, const char *name, const char *labels, double v);
/* Set a gauge, or a counter the daemon itself counts (its total so far). */
void knoop_metrics_set(knoop_metrics_t *self, const char *name, const char *labels, double v);
/* Observe one value of a histogram. */
void knoop_metrics_observe(knoop_metrics_t *self, const char *name, const char *labels,
                           double v);
/* Forget every series of a family (before a collect that sets them anew,
 * e.g. per-peer gauges of peers that are gone). */
void knoop_metrics_clear(knoop_metrics_t *self, const char *name);

/* The exposition text of every family, appended to out (tests, and the
 * endpoint). KNOOP_ENOMEM on failure. */
int  knoop_metrics_render(knoop_metrics_t *self, knoop_buf_t *out);

/* ---- what broker and node both report ----
 * Declares knoop_messages_in_total, knoop_journal_commits_total,
 * knoop_journal_commit_seconds, knoop_batch_size, knoop_catchup_seconds,
 * knoop_refusals_total, knoop_journal_messages_stored_total,
 * knoop_journal_duplicates_total, knoop_forks_total, knoop_journal_map_bytes,
 * knoop_journal_full_errors_total, knoop_journal_map_limit_bytes,
 * knoop_journal_full, knoop_signature_errors_total and
 * knoop_certificate_expiry_timestamp_seconds; `in_help` says what "in" means
 * for the daemon. */
void knoop_metrics_daemon_families(knoop_metrics_t *self, const char *in_help);
/* One durable commit: its time and, when batch > 0, its size in messages. */
void knoop_metrics_commit(knoop_metrics_t *self, double seconds, size_t batch);
/* One message in, labelled by topic family and priority name. */
void knoop_metrics_message_in(knoop_metrics_t *self, const char *topic, const char *priority);
/* n messages of one stream counted in the counter `name`, labelled by topic
 * family and priority as one envelope of the stream says (env, len; parsed
 * the first time the stream is seen, then cached by stream id: topics are
 * uniform in priority in practice), plus extra labels (e.g.
 * "phase=\"live\"", or "" / NULL). For paths that carry envelope bytes. */
void knoop_metrics_stream_out(knoop_metrics_t *self, const char *name, uint64_t stream,
                              const uint8_t *env, size_t len, const char *extra, double n);
/* A refusal, labelled by its reason (a wire error name). */
void knoop_metrics_refusal(knoop_metrics_t *self, const char *reason);
/* The journal's counters and size (journal.h) at scrape time. */
void knoop_metrics_journal(knoop_metrics_t *self, const knoop_journal_stats_t *st);

/* The journal's room at scrape time: its map limit, and whether the last
 * write failed for want of room in the map or on the disk (alarms). */
void knoop_metrics_storage(knoop_metrics_t *self, size_t map_max, bool map_full, bool disk_full);

/* A label-safe name for an error code, e.g. "eperm" for KNOOP_EPERM. */
const char *knoop_metrics_reason(int rc);

/* The first token of a topic ("grip" for grip.vr-utrecht) into out. */
void knoop_metrics_topic_family(const char *topic, char out[32]);

#endif
