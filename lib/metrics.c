/* metrics.c — Prometheus text exposition and its endpoint (libmicrohttpd in
 * the daemon's own loop). */
#include "metrics.h"
#include "hostport.h"
#include "msg.h"
#include "strmap.h"
#include "u64map.h"

#include <assert.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILIES_MAX 64
#define STREAM_LABELS_MAX 128    /* distinct family+priority labels of streams */
#define STREAM_LABEL_LEN  80

typedef struct {
    const char *labels;                          /* as given, e.g. peer="b": the
                                                  * series map's key (borrowed) */
    double   value;                              /* counter, gauge */
    uint64_t counts[KNOOP_METRICS_BUCKETS_MAX + 1];  /* histogram: per bucket, last is +Inf */
    double   sum;
    uint64_t count;
} series_t;

typedef struct {
    char               *name, *help;
    knoop_metric_kind_t kind;
    double              bounds[KNOOP_METRICS_BUCKETS_MAX];
    size_t              nbounds;
    knoop_strmap_t      series;                  /* labels -> series_t (owned) */
    series_t          **order;                   /* in order of creation: the scrape's */
    size_t              nseries, cap;
} family_t;

struct knoop_metrics_t {
    struct MHD_Daemon        *d;
    knoop_metrics_collect_fn *collect;
    void                     *arg;
    family_t                  fam[FAMILIES_MAX];
    size_t                    nfam;
    uint64_t                  dropped;
    uint64_t                  scrapes;
    /* knoop_metrics_stream_out: stream id -> 1 + index into labels */
    knoop_u64map_t            stream_label;
    char                      labels[STREAM_LABELS_MAX][STREAM_LABEL_LEN];
    size_t                    nlabels;
};

static family_t *s_family(knoop_metrics_t *self, const char *name)
{
    for (size_t i = 0; i < self->nfam; i++)
        if (strcmp(self->fam[i].name, name) == 0)
            return &self->fam[i];
    return NULL;
}

void knoop_metrics_family(knoop_metrics_t *self, const char *name, knoop_metric_kind_t kind,
                          const char *help, const double *buckets, size_t nbuckets)
{
    if (!self || s_family(self, name))
        return;
    assert(self->nfam < FAMILIES_MAX && nbuckets <= KNOOP_METRICS_BUCKETS_MAX);
    family_t *f = &self->fam[self->nfam];
    f->name = strdup(name);
    f->help = strdup(help);
    if (!f->name || !f->help) {
        free(f->name);
        free(f->help);
        memset(f, 0, sizeof *f);
        return;
    }
    f->series.free_val = free;
    f->kind = kind;
    for (size_t i = 0; i < nbuckets; i++)
        f->bounds[i] = buckets[i];
    f->nbounds = nbuckets;
    self->nfam++;
}

static series_t *s_series(knoop_metrics_t *self, const char *name, const char *labels)
{
    family_t *f = s_family(self, name);
    assert(f);          /* a family used before it is declared: programmer error */
    if (!f)
        return NULL;
    series_t *s = knoop_strmap_sget(&f->series, labels);
    if (s)
        return s;
    if (f->nseries >= KNOOP_METRICS_SERIES_MAX) {
        self->dropped++;
        return NULL;
    }
    series_t **o = knoop_array_grow(f->order, f->nseries, &f->cap, sizeof *o, 8);
    if (!o)
        return NULL;
    f->order = o;
    s = calloc(1, sizeof *s);
    if (!s || knoop_strmap_sput(&f->series, labels, s) != KNOOP_OK) {
        free(s);
        return NULL;
    }
    s->labels = knoop_strmap_key(&f->series, labels, strlen(labels));
    f->order[f->nseries++] = s;
    return s;
}

void knoop_metrics_add(knoop_metrics_t *self, const char *name, const char *labels, double v)
{
    series_t *s = self ? s_series(self, name, labels) : NULL;
    if (s)
        s->value += v;
}

void knoop_metrics_set(knoop_metrics_t *self, const char *name, const char *labels, double v)
{
    series_t *s = self ? s_series(self, name, labels) : NULL;
    if (s)
        s->value = v;
}

void knoop_metrics_observe(knoop_metrics_t *self, const char *name, const char *labels,
                           double v)
{
    series_t *s = self ? s_series(self, name, labels) : NULL;
    if (!s)
        return;
    family_t *f = s_family(self, name);
    size_t i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    s->counts[i]++;
    s->sum += v;
    s->count++;
}

void knoop_metrics_clear(knoop_metrics_t *self, const char *name)
{
    family_t *f = self ? s_family(self, name) : NULL;
    if (f) {
        knoop_strmap_clear(&f->series);
        f->nseries = 0;
    }
}

static int s_printf(knoop_buf_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_printf(knoop_buf_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || knoop_buf_reserve(out, (size_t) n + 1) != KNOOP_OK)
        return KNOOP_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *) out->data + out->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    out->len += (size_t) n;
    return KNOOP_OK;
}

/* A number as Prometheus reads it. */
static void s_num(char out[40], double v)
{
    if (isnan(v))
        snprintf(out, 40, "NaN");
    else if (isinf(v))
        snprintf(out, 40, v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(out, 40, "%.15g", v);
}

int knoop_metrics_render(knoop_metrics_t *self, knoop_buf_t *out)
{
    if (!self)
        return KNOOP_OK;
    static const char *const kinds[] = { "counter", "gauge", "histogram" };
    int rc = KNOOP_OK;
    for (size_t i = 0; i < self->nfam && !rc; i++) {
        family_t *f = &self->fam[i];
        rc = s_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                      kinds[f->kind]);
        for (size_t k = 0; k < f->nseries && !rc; k++) {
            const series_t *s = f->order[k];
            const char *l = s->labels;
            char v[40];
            if (f->kind != KNOOP_METRIC_HISTOGRAM) {
                s_num(v, s->value);
                rc = *l ? s_printf(out, "%s{%s} %s\n", f->name, l, v)
                        : s_printf(out, "%s %s\n", f->name, v);
                continue;
            }
            uint64_t cum = 0;
            const char *sep = *l ? "," : "";
            for (size_t b = 0; b <= f->nbounds && !rc; b++) {
                cum += s->counts[b];
                if (b < f->nbounds)
                    s_num(v, f->bounds[b]);
                else
                    snprintf(v, sizeof v, "+Inf");
                rc = s_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, l, sep, v,
                              (unsigned long long) cum);
            }
            s_num(v, s->sum);
            if (!rc)
                rc = *l ? s_printf(out, "%s_sum{%s} %s\n%s_count{%s} %llu\n", f->name, l, v,
                                   f->name, l, (unsigned long long) s->count)
                        : s_printf(out, "%s_sum %s\n%s_count %llu\n", f->name, v, f->name,
                                   (unsigned long long) s->count);
        }
    }
    if (!rc)
        rc = s_printf(out, "# HELP knoop_metrics_dropped_series_total values dropped because "
                      "a family had %d series already\n# TYPE knoop_metrics_dropped_series_total "
                      "counter\nknoop_metrics_dropped_series_total %llu\n",
                      KNOOP_METRICS_SERIES_MAX, (unsigned long long) self->dropped);
    return rc;
}

static enum MHD_Result s_answer(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    knoop_metrics_t *self = cls;
    unsigned status = MHD_HTTP_OK;
    knoop_buf_t body = { 0 };
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        s_printf(&body, "only GET\n");
    } else if (strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        s_printf(&body, "metrics are at /metrics\n");
    } else {
        self->scrapes++;
        if (self->collect)
            self->collect(self->arg, self);
        if (knoop_metrics_render(self, &body) != KNOOP_OK) {
            knoop_buf_free(&body);
            return MHD_NO;
        }
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(body.len, body.data ? body.data : (void *) "",
                                                             MHD_RESPMEM_MUST_COPY);
    knoop_buf_free(&body);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

int knoop_metrics_new(const char *listen, knoop_metrics_collect_fn *collect, void *arg,
                      knoop_metrics_t **out, char *err, size_t err_size)
{
    *out = NULL;
    struct sockaddr_storage addr;
    socklen_t alen;
    if (knoop_hostport_parse(listen, &addr, &alen) != KNOOP_OK) {
        snprintf(err, err_size, "--metrics '%s' is not a numeric HOST:PORT, e.g. "
                 "127.0.0.1:9400", listen);
        return KNOOP_EINVAL;
    }
    knoop_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    self->collect = collect;
    self->arg = arg;
    /* No thread of its own: the daemon's loop polls the epoll fd. */
    unsigned flags = MHD_USE_EPOLL | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    self->d = MHD_start_daemon(flags, 0, NULL, NULL, s_answer, self,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned) 16,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 10,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (16 * 1024),
                               MHD_OPTION_END);
    if (!self->d) {
        snprintf(err, err_size, "cannot serve metrics on %s (address in use, or not of this "
                 "machine?)", listen);
        free(self);
        return KNOOP_EIO;
    }
    *out = self;
    return KNOOP_OK;
}

void knoop_metrics_destroy(knoop_metrics_t **self_p)
{
    knoop_metrics_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon(self->d);
    for (size_t i = 0; i < self->nfam; i++) {
        family_t *f = &self->fam[i];
        free(f->name);
        free(f->help);
        knoop_strmap_clear(&f->series);
        free(f->order);
    }
    knoop_u64map_clear(&self->stream_label);
    free(self);
    *self_p = NULL;
}

int knoop_metrics_fd(const knoop_metrics_t *self)
{
    if (!self)
        return -1;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(self->d, MHD_DAEMON_INFO_EPOLL_FD);
    return i ? i->epoll_fd : -1;
}

void knoop_metrics_serve(knoop_metrics_t *self)
{
    if (self)
        MHD_run(self->d);
}

static const double s_commit_buckets[] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                           0.1, 0.25, 0.5, 1, 2.5 };
static const double s_batch_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
static const double s_catchup_buckets[] = { 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300 };
#define NB(a) (sizeof a / sizeof a[0])

void knoop_metrics_daemon_families(knoop_metrics_t *self, const char *in_help)
{
    static const struct { const char *name; knoop_metric_kind_t kind; const char *help; } f[] = {
        { "knoop_journal_commits_total", KNOOP_METRIC_COUNTER, "durable journal commits" },
        { "knoop_refusals_total", KNOOP_METRIC_COUNTER, "refusals, by reason" },
        { "knoop_journal_messages_stored_total", KNOOP_METRIC_COUNTER,
          "messages stored in the journal since start" },
        { "knoop_journal_duplicates_total", KNOOP_METRIC_COUNTER,
          "duplicates dropped by the journal since start" },
        { "knoop_forks_total", KNOOP_METRIC_COUNTER, "forked streams detected since start" },
        { "knoop_journal_map_bytes", KNOOP_METRIC_GAUGE, "size of the journal's LMDB map" },
        { "knoop_journal_used_bytes", KNOOP_METRIC_GAUGE,
          "bytes of the journal in use (LMDB pages up to the last one written)" },
        { "knoop_journal_map_used_ratio", KNOOP_METRIC_GAUGE,
          "journal bytes in use / current map size (the map grows when it nears 1)" },
        { "knoop_journal_limit_used_ratio", KNOOP_METRIC_GAUGE,
          "journal bytes in use / the map's growth limit (full at 1: back-pressure)" },
        { "knoop_journal_full_errors_total", KNOOP_METRIC_COUNTER,
          "commits refused because the journal was full" },
        { "knoop_journal_map_limit_bytes", KNOOP_METRIC_GAUGE,
          "the limit the journal's map may grow to (map-max)" },
        { "knoop_journal_full", KNOOP_METRIC_GAUGE,
          "1 while the journal cannot write for want of room: what=\"map\" (map at its "
          "limit) or what=\"disk\" (volume full); 0 once a write commits" },
        { "knoop_signature_errors_total", KNOOP_METRIC_COUNTER,
          "head signatures that did not verify" },
        { "knoop_certificate_expiry_timestamp_seconds", KNOOP_METRIC_GAUGE,
          "end of validity of the daemon's own certificate (which=\"own\") and of the "
          "earliest in its trust store" },
    };
    knoop_metrics_family(self, "knoop_messages_in_total", KNOOP_METRIC_COUNTER, in_help, NULL, 0);
    for (size_t i = 0; i < NB(f); i++)
        knoop_metrics_family(self, f[i].name, f[i].kind, f[i].help, NULL, 0);
    knoop_metrics_family(self, "knoop_journal_commit_seconds", KNOOP_METRIC_HISTOGRAM,
                         "time of a durable journal commit (fsync included)", s_commit_buckets,
                         NB(s_commit_buckets));
    knoop_metrics_family(self, "knoop_batch_size", KNOOP_METRIC_HISTOGRAM,
                         "messages per group commit", s_batch_buckets, NB(s_batch_buckets));
    knoop_metrics_family(self, "knoop_catchup_seconds", KNOOP_METRIC_HISTOGRAM,
                         "duration of a catch-up, from link up to caught up", s_catchup_buckets,
                         NB(s_catchup_buckets));
}

void knoop_metrics_commit(knoop_metrics_t *self, double seconds, size_t batch)
{
    knoop_metrics_add(self, "knoop_journal_commits_total", "", 1);
    knoop_metrics_observe(self, "knoop_journal_commit_seconds", "", seconds);
    if (batch)
        knoop_metrics_observe(self, "knoop_batch_size", "", (double) batch);
}

void knoop_metrics_message_in(knoop_metrics_t *self, const char *topic, const char *priority)
{
    if (!self)
        return;
    char fam[32], l[96];
    knoop_metrics_topic_family(topic, fam);
    snprintf(l, sizeof l, "family=\"%s\",priority=\"%s\"", fam, priority);
    knoop_metrics_add(self, "knoop_messages_in_total", l, 1);
}

/* The family+priority label of a stream: read from one of its envelopes the
 * first time the stream is seen, then from the cache. */
static const char *s_stream_label(knoop_metrics_t *self, uint64_t stream, const uint8_t *env,
                                  size_t len)
{
    uint64_t v;
    if (knoop_u64map_get(&self->stream_label, stream, &v) && v >= 1 && v <= self->nlabels)
        return self->labels[v - 1];
    knoop_msg_t m = { 0 };
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return "family=\"unparsed\",priority=\"unknown\"";
    char fam[32], l[STREAM_LABEL_LEN];
    knoop_metrics_topic_family(m.b.topic, fam);
    snprintf(l, sizeof l, "family=\"%s\",priority=\"%s\"", fam,
             knoop_priority_name(m.b.priority));
    knoop_msg_clear(&m);
    size_t i = 0;
    while (i < self->nlabels && strcmp(self->labels[i], l) != 0)
        i++;
    if (i == self->nlabels) {
        if (self->nlabels == STREAM_LABELS_MAX)
            return "family=\"other\",priority=\"unknown\"";
        memcpy(self->labels[self->nlabels++], l, sizeof l);
    }
    if (knoop_u64map_put(&self->stream_label, stream, i + 1) != KNOOP_OK)
        return "family=\"other\",priority=\"unknown\"";
    return self->labels[i];
}

void knoop_metrics_stream_out(knoop_metrics_t *self, const char *name, uint64_t stream,
                              const uint8_t *env, size_t len, const char *extra, double n)
{
    if (!self)
        return;
    const char *base = s_stream_label(self, stream, env, len);
    if (!extra || !*extra) {
        knoop_metrics_add(self, name, base, n);
        return;
    }
    char l[STREAM_LABEL_LEN + 64];
    snprintf(l, sizeof l, "%s,%s", base, extra);
    knoop_metrics_add(self, name, l, n);
}

void knoop_metrics_refusal(knoop_metrics_t *self, const char *reason)
{
    if (!self)
        return;
    char l[64];
    snprintf(l, sizeof l, "reason=\"%s\"", reason);
    knoop_metrics_add(self, "knoop_refusals_total", l, 1);
}

void knoop_metrics_journal(knoop_metrics_t *self, const knoop_journal_stats_t *st)
{
    knoop_metrics_set(self, "knoop_journal_messages_stored_total", "", (double) st->stored);
    knoop_metrics_set(self, "knoop_journal_duplicates_total", "", (double) st->duplicates);
    knoop_metrics_set(self, "knoop_forks_total", "", (double) st->forks);
    knoop_metrics_set(self, "knoop_journal_full_errors_total", "", (double) st->full_errors);
    knoop_metrics_set(self, "knoop_signature_errors_total", "", (double) st->sig_errors);
    knoop_metrics_set(self, "knoop_journal_map_bytes", "", (double) st->map_size);
    knoop_metrics_set(self, "knoop_journal_used_bytes", "", (double) st->used_bytes);
    knoop_metrics_set(self, "knoop_journal_map_used_ratio", "",
                      st->map_size ? (double) st->used_bytes / (double) st->map_size : 0);
    knoop_metrics_set(self, "knoop_journal_limit_used_ratio", "",
                      st->map_max ? (double) st->used_bytes / (double) st->map_max : 0);
}

void knoop_metrics_storage(knoop_metrics_t *self, size_t map_max, bool map_full, bool disk_full)
{
    knoop_metrics_set(self, "knoop_journal_map_limit_bytes", "", (double) map_max);
    knoop_metrics_set(self, "knoop_journal_full", "what=\"map\"", map_full);
    knoop_metrics_set(self, "knoop_journal_full", "what=\"disk\"", disk_full);
}

const char *knoop_metrics_reason(int rc)
{
    static const char *const names[] = {
        "ok", "einval", "emalformed", "etoobig", "etopic", "echain", "esig", "efork",
        "eunknown", "eexpired", "eperm", "efull", "eio", "enomem", "enotfound", "eexist",
        "ecollision", "eversion", "eduplicate", "ecorrupt", "ebusy",
    };
    int i = -rc;
    return i >= 0 && (size_t) i < sizeof names / sizeof names[0] ? names[i] : "other";
}

void knoop_metrics_topic_family(const char *topic, char out[32])
{
    size_t n = strcspn(topic, ".");
    if (n >= 32)
        n = 31;
    memcpy(out, topic, n);
    out[n] = '\0';
}
