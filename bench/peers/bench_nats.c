/* bench_nats.c — bench_pubsub's workloads W1-W4 on NATS JetStream, for
 * bench/compare.sh. See bench/README.md ("The peers").
 *
 * Starts Debian's nats-server with JetStream on a file store in a temp dir on
 * 127.0.0.1 (plaintext, no auth), one server for all four workloads, a fresh
 * stream per workload (deleted after it). Clients are libnats connections in
 * this process; each consumer has its own connection.
 *
 * What JetStream acknowledges: a publish ack means the stream's leader wrote
 * the message to its file store, in the page cache: nats-server does not
 * fsync before it acks (with one replica, a power loss can lose acked
 * messages). */
#include "peer_common.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    peer_opts_t opts;
    peer_run_t run;
    peer_proc_t *server;
    char url[64];
    char system[64];
    peer_line_t line; /* what its JSON lines name */
} bench_t;

/* ---- the server ---- */

static void s_version(bench_t *self)
{
    snprintf(self->system, sizeof self->system, "NATS JetStream");
    FILE *p = popen("nats-server --version 2>&1", "r");
    if (!p)
        return;
    char line[128] = "";
    if (fgets(line, sizeof line, p)) {
        char *v = strstr(line, " v");
        if (v) {
            v += 2;
            v[strcspn(v, " \r\n")] = 0;
            snprintf(self->system, sizeof self->system, "NATS JetStream %.32s", v);
        }
    }
    pclose(p);
}

static void s_start_server(bench_t *self)
{
    int port = kit_free_port();
    if (port < 0)
        peer_die(&self->run, "no free TCP port on 127.0.0.1");
    char conf[4200], store[4200];
    snprintf(conf, sizeof conf, "%s/nats.conf", self->run.root);
    snprintf(store, sizeof store, "%s/jetstream", self->run.root);
    FILE *f = fopen(conf, "w");
    if (!f)
        peer_die(&self->run, "cannot write %s", conf);
    fprintf(f,
            "listen: 127.0.0.1:%d\n"
            "jetstream {\n  store_dir: \"%s\"\n}\n",
            port, store);
    fclose(f);
    s_version(self);
    char *argv[] = { "nats-server", "-c", conf, NULL };
    self->server = peer_spawn(&self->run, "nats-server", argv, NULL, false);
    snprintf(self->url, sizeof self->url, "nats://127.0.0.1:%d", port);
    double deadline = kit_now() + 30;
    while (!kit_port_open(port)) {
        peer_check_interrupt(&self->run);
        if (!peer_alive(self->server))
            peer_die(&self->run, "nats-server exited at start (is the nats-server package "
                                 "installed? deploy/install-deps.sh --bench)");
        if (kit_now() > deadline)
            peer_die(&self->run, "nats-server does not accept on port %d after 30 s", port);
        peer_sleep_s(0.02);
    }
    fprintf(stderr, "bench_nats: %s on %s, store in %s\n", self->system, self->url, store);
}

static natsConnection *s_connect(bench_t *self)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, self->url);
    if (s == NATS_OK) /* consumers: never drop as a slow consumer */
        s = natsOptions_SetMaxPendingMsgs(o, 10 * 1000 * 1000);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        peer_die(&self->run, "cannot connect to %s: %s", self->url, natsStatus_GetText(s));
    return nc;
}

/* A JetStream context whose async publishes keep `window` in flight. */
static jsCtx *s_js(bench_t *self, natsConnection *nc, size_t window, jsPubAckHandler ah,
                   jsPubAckErrHandler eh, void *closure)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 30000;
    jo.PublishAsync.MaxPending = (int64_t) window;
    jo.PublishAsync.AckHandler = ah;
    jo.PublishAsync.AckHandlerClosure = closure;
    jo.PublishAsync.ErrHandler = eh;
    jo.PublishAsync.ErrHandlerClosure = closure;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK)
        peer_die(&self->run, "JetStream context: %s", natsStatus_GetText(s));
    return js;
}

/* A fresh file-backed stream NAME on bench.NAME.>, one replica. */
static void s_add_stream(bench_t *self, jsCtx *js, const char *name)
{
    char subj[64];
    snprintf(subj, sizeof subj, "bench.%s.>", name);
    const char *subjects[] = { subj };
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 1;
    jsErrCode je = 0;
    jsStreamInfo *si = NULL;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, &je);
    if (s != NATS_OK)
        peer_die(&self->run, "cannot add stream %s: %s (JetStream error %d)", name,
                 natsStatus_GetText(s), (int) je);
    jsStreamInfo_Destroy(si);
}

static void s_delete_stream(jsCtx *js, const char *name)
{
    jsErrCode je = 0;
    natsStatus s = js_DeleteStream(js, name, NULL, &je);
    if (s != NATS_OK)
        fprintf(stderr, "bench_nats: cannot delete stream %s: %s\n", name, natsStatus_GetText(s));
}

/* ---- publishing ---- */

typedef struct {
    atomic_size_t failed;
    /* W4: per-message ack latency, indexed by seq */
    double *ack_ms;
    atomic_size_t acks;
} pub_t;

static void s_on_pub_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    pub_t *p = closure;
    if (atomic_fetch_add(&p->failed, 1) == 0)
        fprintf(stderr, "bench_nats: publish not acknowledged: %s (%s)\n",
                natsStatus_GetText(pae->Err), pae->ErrText ? pae->ErrText : "");
}

static void s_on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    pub_t *p = closure;
    if (pa) {
        uint64_t now = peer_now_ns();
        const char *d = natsMsg_GetData(msg);
        int len = natsMsg_GetDataLength(msg);
        uint64_t seq = peer_payload_seq(d, (size_t) len);
        uint64_t sent = peer_payload_sent_ns(d, (size_t) len);
        size_t k = atomic_fetch_add(&p->acks, 1);
        (void) seq;
        if (p->ack_ms)
            p->ack_ms[k] = (double) (now - sent) / 1e6;
    } else if (pae)
        s_on_pub_err(js, pae, closure);
    natsMsg_Destroy(msg);
}

/* Publishes n messages on `subj` with at most `window` unacknowledged, then
 * waits for every ack. Returns the seconds from the first publish to the
 * last ack. */
static double s_publish(bench_t *self, jsCtx *js, const char *subj, size_t n, pub_t *pub)
{
    uint8_t buf[PEER_PAYLOAD_BYTES];
    double t0 = kit_now();
    for (size_t i = 0; i < n; i++) {
        peer_payload(buf, i, peer_now_ns());
        natsStatus s;
        while ((s = js_PublishAsync(js, subj, buf, sizeof buf, NULL)) == NATS_TIMEOUT)
            peer_check_interrupt(&self->run); /* the window was full for StallWait */
        if (s != NATS_OK)
            peer_die(&self->run, "publish %zu: %s", i, natsStatus_GetText(s));
        if ((i & 1023) == 0)
            peer_check_interrupt(&self->run);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 300000;
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK)
        peer_die(&self->run, "waiting for the publish acks: %s", natsStatus_GetText(s));
    double secs = kit_now() - t0;
    size_t failed = atomic_load(&pub->failed);
    if (failed)
        peer_die(&self->run, "%zu of %zu publishes were not acknowledged", failed, n);
    return secs;
}

/* ---- consuming ---- */

typedef struct {
    peer_tally_t tally;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
} consumer_t;

/* One thread per subscription (libnats' delivery thread) calls this. */
static void s_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    consumer_t *c = closure;
    if (peer_tally_add(&c->tally, natsMsg_GetData(msg), (size_t) natsMsg_GetDataLength(msg)))
        natsMsg_Ack(msg, NULL); /* AckAll: everything up to here */
    natsMsg_Destroy(msg);
}

/* A push consumer of the whole stream on its own connection. */
static void s_consumer_start(bench_t *self, consumer_t *c, const char *stream, size_t want,
                             double *lat_ms)
{
    memset(c, 0, sizeof *c);
    peer_tally_init(&c->tally, want, lat_ms);
    c->nc = s_connect(self);
    c->js = s_js(self, c->nc, 256, NULL, NULL, NULL);
    char subj[64];
    snprintf(subj, sizeof subj, "bench.%s.>", stream);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.ManualAck = true;
    so.Config.AckPolicy = js_AckAll;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = 65536;
    jsErrCode je = 0;
    natsStatus s = js_Subscribe(&c->sub, c->js, subj, s_on_msg, c, NULL, &so, &je);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(c->sub, -1, -1);
    if (s != NATS_OK)
        peer_die(&self->run, "cannot subscribe to %s: %s (JetStream error %d)", subj,
                 natsStatus_GetText(s), (int) je);
}

static void s_consumer_stop(consumer_t *c)
{
    if (c->sub) {
        natsSubscription_Unsubscribe(c->sub);
        natsSubscription_Destroy(c->sub);
    }
    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
    peer_tally_destroy(&c->tally);
    c->sub = NULL;
    c->js = NULL;
    c->nc = NULL;
}

/* ---- the workloads ---- */

static void s_w1(void *arg)
{
    bench_t *self = arg;
    size_t n = self->opts.messages;
    fprintf(stderr, "bench_nats: W1 durable publish: %zu messages, async, window %zu\n", n,
            self->opts.window);
    peer_cpu_mark_t m = peer_cpu_mark(self->server);
    natsConnection *nc = s_connect(self);
    pub_t pub = { 0 };
    jsCtx *js = s_js(self, nc, self->opts.window, NULL, s_on_pub_err, &pub);
    s_add_stream(self, js, "W1");
    double secs = s_publish(self, js, "bench.W1.pub", n, &pub);
    s_delete_stream(js, "W1");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    peer_print_w1(&self->line, m, n, secs);
}

static void s_w2(void *arg)
{
    bench_t *self = arg;
    size_t n = self->opts.messages, nc_count = self->opts.consumers;
    fprintf(stderr, "bench_nats: W2 fan-out: %zu messages to %zu consumers\n", n, nc_count);
    peer_cpu_mark_t m = peer_cpu_mark(self->server);
    natsConnection *nc = s_connect(self);
    pub_t pub = { 0 };
    jsCtx *js = s_js(self, nc, self->opts.window, NULL, s_on_pub_err, &pub);
    s_add_stream(self, js, "W2");
    consumer_t *cs = calloc(nc_count, sizeof *cs);
    if (!cs)
        peer_die(&self->run, "out of memory");
    for (size_t i = 0; i < nc_count; i++)
        s_consumer_start(self, &cs[i], "W2", n, NULL);

    peer_tally_t *ts[PEER_MAX_CONSUMERS];
    for (size_t i = 0; i < nc_count; i++)
        ts[i] = &cs[i].tally;
    double t0 = kit_now();
    double secs = s_publish(self, js, "bench.W2.pub", n, &pub);
    peer_tally_wait(&self->run, ts, nc_count, 600, NULL, NULL);
    peer_print_w2(&self->line, m, n, secs, ts, nc_count, t0);

    for (size_t i = 0; i < nc_count; i++)
        s_consumer_stop(&cs[i]);
    free(cs);
    s_delete_stream(js, "W2");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void s_w3(void *arg)
{
    bench_t *self = arg;
    size_t n = self->opts.catchup;
    fprintf(stderr, "bench_nats: W3 catch-up of %zu messages by a fresh consumer\n", n);
    natsConnection *nc = s_connect(self);
    pub_t pub = { 0 };
    size_t fill_window = self->opts.window > 1024 ? self->opts.window : 1024;
    jsCtx *js = s_js(self, nc, fill_window, NULL, s_on_pub_err, &pub);
    s_add_stream(self, js, "W3");
    double fill_s = s_publish(self, js, "bench.W3.pub", n, &pub);
    fprintf(stderr, "bench_nats: W3 filled in %.1f s\n", fill_s);
    peer_cpu_mark_t m2 = peer_cpu_mark(self->server); /* the fill is not part of the result */

    double t0 = kit_now();
    consumer_t c;
    s_consumer_start(self, &c, "W3", n, NULL);
    peer_tally_t *t = &c.tally;
    peer_tally_wait(&self->run, &t, 1, 900, NULL, NULL);
    double done = peer_tally_done(&c.tally);
    size_t held = peer_tally_got(&c.tally);
    s_consumer_stop(&c);
    s_delete_stream(js, "W3");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);

    peer_print_w3(&self->line, m2, n, fill_s, held, t0, done);
}

static void s_w4(void *arg)
{
    bench_t *self = arg;
    size_t total = (size_t) (self->opts.seconds * self->opts.rate);
    fprintf(stderr, "bench_nats: W4 latency: %zu messages at %u/s\n", total, self->opts.rate);
    peer_cpu_mark_t m = peer_cpu_mark(self->server);
    natsConnection *nc = s_connect(self);
    pub_t pub = { 0 };
    pub.ack_ms = calloc(total + 1, sizeof *pub.ack_ms);
    double *lat = calloc(total + 1, sizeof *lat);
    if (!pub.ack_ms || !lat)
        peer_die(&self->run, "out of memory");
    jsCtx *js = s_js(self, nc, self->opts.window, s_on_pub_ack, NULL, &pub);
    s_add_stream(self, js, "W4");
    consumer_t c;
    s_consumer_start(self, &c, "W4", total, lat);

    uint8_t buf[PEER_PAYLOAD_BYTES];
    double period = 1.0 / self->opts.rate;
    double t0 = kit_now() + 0.05, pub_end = t0;
    size_t published = 0;
    for (size_t i = 0; i < total; i++) {
        peer_sleep_until(t0 + (double) i * period);
        peer_check_interrupt(&self->run);
        peer_payload(buf, i, peer_now_ns());
        natsStatus s;
        while ((s = js_PublishAsync(js, "bench.W4.pub", buf, sizeof buf, NULL)) == NATS_TIMEOUT)
            peer_check_interrupt(&self->run);
        if (s != NATS_OK) {
            fprintf(stderr, "bench_nats: W4 publish %zu: %s\n", i, natsStatus_GetText(s));
            break;
        }
        published++;
        pub_end = kit_now();
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 30000;
    js_PublishAsyncComplete(js, &po);
    double deadline = kit_now() + 15;
    while (peer_tally_got(&c.tally) < published && kit_now() < deadline) {
        peer_check_interrupt(&self->run);
        peer_sleep_s(0.01);
    }
    s_consumer_stop(&c); /* no callback runs after this */
    size_t got = peer_tally_got(&c.tally);
    size_t acks = atomic_load(&pub.acks);
    s_delete_stream(js, "W4");
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);

    peer_print_w4(&self->line, m, published, got, t0, pub_end, lat, got < total ? got : total,
                  pub.ack_ms, acks < total ? acks : total);
    free(lat);
    free(pub.ack_ms);
}

int main(int argc, char **argv)
{
    bench_t self_;
    bench_t *self = &self_;
    memset(self, 0, sizeof *self);
    int rc = peer_opts_parse(&self->opts, "bench_nats",
                             "NATS JetStream (Debian nats-server), file store, one replica;\n"
                             "async publish with --window acks in flight; push consumers\n"
                             "with AckAll, acking every 256 messages.\n",
                             argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    natsStatus s = nats_Open(-1);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_nats: cannot start libnats: %s\n", natsStatus_GetText(s));
        return 1;
    }
    peer_run_init(&self->run, &self->opts);
    s_start_server(self);
    self->line = (peer_line_t){ &self->opts, "nats", self->system, false, self->server };
    peer_run_workloads(&self->run, (peer_workload_t *const[]){ NULL, s_w1, s_w2, s_w3, s_w4 },
                       self);
    nats_CloseAndWait(5000);
    return 0;
}
