/* bench_rabbitmq.c — bench_pubsub's workloads W1-W4 on RabbitMQ quorum queues
 * with publisher confirms, for bench/compare.sh. See bench/README.md ("The
 * peers").
 *
 * Starts Debian's rabbitmq-server as a throwaway node in a temp dir: its own
 * node name, AMQP and distribution ports, epmd (started by the bench on a port
 * of its own), RABBITMQ_MNESIA_BASE, config and enabled-plugins file, and HOME
 * (for the Erlang cookie); never the system service. One node serves all four
 * workloads; each workload declares fresh quorum queues and deletes them
 * after. Clients are librabbitmq connections in this process, one per
 * publisher and one per consumer (a connection is not thread-safe).
 *
 * What RabbitMQ confirms: a quorum queue confirms a publish once the message
 * is in its Raft log on a majority of members, and a member fsyncs
 * (fdatasync) its write-ahead log before it counts: with one member, the ack
 * means "on disk", as knooppunt's. */
#include "peer_common.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define PREFETCH 2048 /* unacknowledged deliveries per consumer */
#define CHANNEL 1

typedef struct {
    peer_opts_t opts;
    peer_run_t run;
    peer_proc_t *server, *epmd;
    int port;
    char system[64];
    peer_line_t line; /* what its JSON lines name */
} bench_t;

/* ---- connections ---- */

static const char *s_reply_text(amqp_rpc_reply_t r, char *buf, size_t size)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return "ok";
    case AMQP_RESPONSE_NONE:
        return "no reply (connection lost?)";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, size, "server closed the connection: %u %.*s", m->reply_code,
                     (int) m->reply_text.len, (char *) m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, size, "server closed the channel: %u %.*s", m->reply_code,
                     (int) m->reply_text.len, (char *) m->reply_text.bytes);
        } else
            snprintf(buf, size, "server error, method 0x%08x", r.reply.id);
        return buf;
    }
    return "unknown reply";
}

/* Connects, logs in as guest and opens channel 1. NULL with `err` filled if
 * that fails (the server may still be starting). */
static amqp_connection_state_t s_try_connect(int port, char *err, size_t errsize)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = conn ? amqp_tcp_socket_new(conn) : NULL;
    if (!sock) {
        snprintf(err, errsize, "out of memory");
        if (conn)
            amqp_destroy_connection(conn);
        return NULL;
    }
    int st = amqp_socket_open(sock, "127.0.0.1", port);
    if (st != AMQP_STATUS_OK) {
        snprintf(err, errsize, "connect to 127.0.0.1:%d: %s", port, amqp_error_string2(st));
        amqp_destroy_connection(conn);
        return NULL;
    }
    char buf[256];
    amqp_rpc_reply_t r =
        amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        amqp_channel_open(conn, CHANNEL);
        r = amqp_get_rpc_reply(conn);
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(err, errsize, "login: %s", s_reply_text(r, buf, sizeof buf));
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static amqp_connection_state_t s_connect(bench_t *self)
{
    char err[300];
    amqp_connection_state_t c = s_try_connect(self->port, err, sizeof err);
    if (!c)
        peer_die(&self->run, "%s", err);
    return c;
}

static void s_close(amqp_connection_state_t conn)
{
    if (!conn)
        return;
    amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

static void s_check(bench_t *self, amqp_connection_state_t conn, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    char buf[256];
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        peer_die(&self->run, "%s: %s", what, s_reply_text(r, buf, sizeof buf));
}

static void s_declare_quorum(bench_t *self, amqp_connection_state_t conn, const char *queue)
{
    amqp_table_entry_t e = { .key = amqp_cstring_bytes("x-queue-type"),
                             .value = { .kind = AMQP_FIELD_KIND_UTF8,
                                        .value.bytes = amqp_cstring_bytes("quorum") } };
    amqp_table_t args = { .num_entries = 1, .entries = &e };
    amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
    char what[128];
    snprintf(what, sizeof what, "declare quorum queue %s", queue);
    s_check(self, conn, what);
}

static void s_delete_queue(bench_t *self, amqp_connection_state_t conn, const char *queue)
{
    amqp_queue_delete(conn, CHANNEL, amqp_cstring_bytes(queue), 0, 0);
    char what[128];
    snprintf(what, sizeof what, "delete queue %s", queue);
    s_check(self, conn, what);
}

/* ---- the server ---- */

static void s_server_version(bench_t *self, amqp_connection_state_t conn)
{
    snprintf(self->system, sizeof self->system, "RabbitMQ quorum queues");
    amqp_table_t *props = amqp_get_server_properties(conn);
    for (int i = 0; props && i < props->num_entries; i++) {
        amqp_table_entry_t *e = &props->entries[i];
        if (e->key.len == 7 && !memcmp(e->key.bytes, "version", 7) &&
            e->value.kind == AMQP_FIELD_KIND_UTF8)
            snprintf(self->system, sizeof self->system, "RabbitMQ %.*s quorum queues",
                     (int) (e->value.value.bytes.len < 20 ? e->value.value.bytes.len : 20),
                     (char *) e->value.value.bytes.bytes);
    }
}

static void s_start_server(bench_t *self)
{
    const char *root = self->run.root;
    int epmd_port = kit_free_port(), dist_port = kit_free_port();
    self->port = kit_free_port();
    if (epmd_port < 0 || dist_port < 0 || self->port < 0)
        peer_die(&self->run, "no free TCP port on 127.0.0.1");
    char conf[4200], plugins[4200], envconf[4200];
    snprintf(conf, sizeof conf, "%s/rabbitmq.conf", root);
    snprintf(plugins, sizeof plugins, "%s/enabled_plugins", root);
    snprintf(envconf, sizeof envconf, "%s/rabbitmq-env.conf", root);
    FILE *f = fopen(conf, "w");
    FILE *g = fopen(plugins, "w");
    FILE *h = fopen(envconf, "w");
    if (!f || !g || !h)
        peer_die(&self->run, "cannot write the server's config in %s", root);
    fprintf(f, "listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", self->port);
    fprintf(g, "[].\n");
    fclose(f);
    fclose(g);
    fclose(h);

    /* epmd first, on a port of our own, so that the node finds it and does
     * not start a system-wide one that would outlive the bench. */
    char eport[16];
    snprintf(eport, sizeof eport, "%d", epmd_port);
    char *eargv[] = { "epmd", "-port", eport, NULL };
    self->epmd = peer_spawn(&self->run, "epmd", eargv, NULL, false);
    double deadline = kit_now() + 10;
    while (!kit_port_open(epmd_port)) {
        if (!peer_alive(self->epmd) || kit_now() > deadline)
            peer_die(&self->run,
                     "epmd did not start on port %d (is the rabbitmq-server "
                     "package installed? deploy/install-deps.sh --bench)",
                     epmd_port);
        peer_sleep_s(0.02);
    }

    char e[14][4300];
    int k = 0;
    snprintf(e[k++], sizeof e[0], "HOME=%s", root);
    snprintf(e[k++], sizeof e[0], "ERL_EPMD_PORT=%d", epmd_port);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_NODENAME=knoopbench%d@localhost", (int) getpid());
    snprintf(e[k++], sizeof e[0], "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1");
    snprintf(e[k++], sizeof e[0], "RABBITMQ_NODE_PORT=%d", self->port);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_DIST_PORT=%d", dist_port);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_MNESIA_BASE=%s/mnesia", root);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_LOG_BASE=%s/log", root);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_LOGS=-");
    snprintf(e[k++], sizeof e[0], "RABBITMQ_CONFIG_FILE=%s", conf);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_ENABLED_PLUGINS_FILE=%s", plugins);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_CONF_ENV_FILE=%s", envconf);
    snprintf(e[k++], sizeof e[0], "RABBITMQ_PID_FILE=%s/rabbitmq.pid", root);
    char *env[15];
    for (int i = 0; i < k; i++)
        env[i] = e[i];
    env[k] = NULL;
    char *argv[] = { "/usr/lib/rabbitmq/bin/rabbitmq-server", NULL };
    if (access(argv[0], X_OK) != 0)
        peer_die(&self->run,
                 "%s not found: install the rabbitmq-server package "
                 "(deploy/install-deps.sh --bench)",
                 argv[0]);
    /* Its own process group: the start script runs the Erlang VM as a child
     * and the bench must be able to stop both. */
    self->server = peer_spawn(&self->run, "rabbitmq-server", argv, env, true);

    double t0 = kit_now();
    deadline = t0 + 240;
    char err[300] = "";
    amqp_connection_state_t conn = NULL;
    while (!conn) {
        peer_check_interrupt(&self->run);
        if (!peer_alive(self->server))
            peer_die(&self->run, "rabbitmq-server exited at start");
        if (kit_now() > deadline)
            peer_die(&self->run, "rabbitmq-server not ready after 240 s: %s", err);
        if (kit_port_open(self->port))
            conn = s_try_connect(self->port, err, sizeof err);
        if (!conn)
            peer_sleep_s(0.2);
    }
    s_server_version(self, conn);
    s_close(conn);
    fprintf(stderr, "bench_rabbitmq: %s on 127.0.0.1:%d, ready after %.1f s, data in %s/mnesia\n",
            self->system, self->port, kit_now() - t0, root);
}

/* ---- publishing with confirms ---- */

typedef struct {
    bench_t *bench;
    amqp_connection_state_t conn;
    size_t n; /* messages to publish */
    size_t published; /* delivery tags 1..published sent */
    size_t confirmed, nacked;
    size_t lowest; /* lowest tag not yet confirmed */
    uint8_t *done; /* [1..n]: confirmed */
    uint64_t *sent_ns; /* W4: send time per tag, or NULL */
    double *ack_ms; /* W4: confirm latency per confirm */
    size_t nack_ms;
} pub_t;

static void s_pub_init(bench_t *self, pub_t *p, size_t n, bool timed)
{
    memset(p, 0, sizeof *p);
    p->bench = self;
    p->n = n;
    p->lowest = 1;
    p->done = calloc(n + 2, 1);
    if (timed) {
        p->sent_ns = calloc(n + 2, sizeof *p->sent_ns);
        p->ack_ms = calloc(n + 2, sizeof *p->ack_ms);
    }
    if (!p->done || (timed && (!p->sent_ns || !p->ack_ms)))
        peer_die(&self->run, "out of memory");
    p->conn = s_connect(self);
    amqp_confirm_select(p->conn, CHANNEL);
    s_check(self, p->conn, "confirm.select");
}

static void s_pub_free(pub_t *p)
{
    s_close(p->conn);
    free(p->done);
    free(p->sent_ns);
    free(p->ack_ms);
    p->conn = NULL;
}

static void s_mark(pub_t *p, size_t tag, bool nack, uint64_t now)
{
    if (tag < 1 || tag > p->published || p->done[tag])
        return;
    p->done[tag] = 1;
    p->confirmed++;
    if (nack)
        p->nacked++;
    else if (p->sent_ns)
        p->ack_ms[p->nack_ms++] = (double) (now - p->sent_ns[tag]) / 1e6;
}

/* Reads confirms for up to `timeout_s` (0: only what is already there). */
static void s_pub_pump(pub_t *p, double timeout_s)
{
    for (;;) {
        struct timeval tv = { .tv_sec = (time_t) timeout_s,
                              .tv_usec =
                                  (suseconds_t) ((timeout_s - (double) (time_t) timeout_s) * 1e6) };
        amqp_frame_t frame;
        int st = amqp_simple_wait_frame_noblock(p->conn, &frame, &tv);
        if (st == AMQP_STATUS_TIMEOUT)
            return;
        if (st != AMQP_STATUS_OK)
            peer_die(&p->bench->run, "reading publisher confirms: %s", amqp_error_string2(st));
        timeout_s = 0; /* got one: drain the rest without waiting */
        if (frame.frame_type != AMQP_FRAME_METHOD)
            continue;
        uint64_t now = peer_now_ns();
        uint64_t tag;
        bool multiple, nack = false;
        switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            amqp_basic_ack_t *a = frame.payload.method.decoded;
            tag = a->delivery_tag;
            multiple = a->multiple;
            break;
        }
        case AMQP_BASIC_NACK_METHOD: {
            amqp_basic_nack_t *a = frame.payload.method.decoded;
            tag = a->delivery_tag;
            multiple = a->multiple;
            nack = true;
            break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            amqp_channel_close_t *m = frame.payload.method.decoded;
            peer_die(&p->bench->run, "server closed the publishing channel: %u %.*s", m->reply_code,
                     (int) m->reply_text.len, (char *) m->reply_text.bytes);
        }
        case AMQP_CONNECTION_CLOSE_METHOD:
            peer_die(&p->bench->run, "server closed the publishing connection");
        default:
            continue;
        }
        if (multiple)
            for (size_t t = p->lowest; t <= tag && t <= p->published; t++)
                s_mark(p, t, nack, now);
        else
            s_mark(p, (size_t) tag, nack, now);
        while (p->lowest <= p->published && p->done[p->lowest])
            p->lowest++;
        amqp_maybe_release_buffers(p->conn);
    }
}

static void s_pub_one(pub_t *p, amqp_bytes_t exchange, amqp_bytes_t key, uint64_t seq)
{
    uint8_t buf[PEER_PAYLOAD_BYTES];
    uint64_t now = peer_now_ns();
    peer_payload(buf, seq, now);
    amqp_basic_properties_t props = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2 };
    amqp_bytes_t body = { .len = sizeof buf, .bytes = buf };
    int st = amqp_basic_publish(p->conn, CHANNEL, exchange, key, 0, 0, &props, body);
    if (st != AMQP_STATUS_OK)
        peer_die(&p->bench->run, "publish %llu: %s", (unsigned long long) seq,
                 amqp_error_string2(st));
    p->published++;
    if (p->sent_ns)
        p->sent_ns[p->published] = now;
}

/* Waits until fewer than `window` publishes are unconfirmed. */
static void s_pub_window(pub_t *p, size_t window)
{
    double deadline = kit_now() + 300;
    while (p->published - p->confirmed >= window) {
        peer_check_interrupt(&p->bench->run);
        if (kit_now() > deadline)
            peer_die(&p->bench->run, "no publisher confirm for 300 s (%zu unconfirmed)",
                     p->published - p->confirmed);
        s_pub_pump(p, 0.5);
    }
}

/* Waits until every published message is confirmed (at most `secs`). */
static void s_pub_drain(pub_t *p, double secs)
{
    double deadline = kit_now() + secs;
    while (p->confirmed < p->published) {
        peer_check_interrupt(&p->bench->run);
        if (kit_now() > deadline)
            peer_die(&p->bench->run, "%zu of %zu publishes not confirmed after %.0f s",
                     p->published - p->confirmed, p->published, secs);
        s_pub_pump(p, 0.1);
    }
    if (p->nacked)
        peer_die(&p->bench->run, "the server refused (nack) %zu of %zu publishes", p->nacked,
                 p->published);
}

/* Publishes p->n messages with at most `window` unconfirmed, then waits for
 * every confirm. Returns the seconds from the first publish to the last
 * confirm. */
static double s_publish(pub_t *p, const char *exchange, const char *key, size_t window)
{
    amqp_bytes_t ex = amqp_cstring_bytes(exchange), rk = amqp_cstring_bytes(key);
    double t0 = kit_now();
    for (size_t i = 0; i < p->n; i++) {
        s_pub_window(p, window);
        s_pub_one(p, ex, rk, i);
        if ((i & 1023) == 0) {
            peer_check_interrupt(&p->bench->run);
            s_pub_pump(p, 0);
        }
    }
    s_pub_drain(p, 300);
    return kit_now() - t0;
}

/* ---- consuming ---- */

typedef struct {
    bench_t *bench;
    char queue[32];
    peer_tally_t tally;
    atomic_int ready, stop;
    pthread_mutex_t mu;
    char err[300]; /* under mu: why the thread stopped early */
    pthread_t tid;
} consumer_t;

static void s_consumer_fail(consumer_t *c, const char *what, const char *why)
{
    pthread_mutex_lock(&c->mu);
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "consumer of %s: %s: %.200s", c->queue, what, why);
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->ready, 1);
}

static void *s_consumer_run(void *arg)
{
    consumer_t *c = arg;
    char err[300], buf[256];
    amqp_connection_state_t conn = s_try_connect(c->bench->port, err, sizeof err);
    if (!conn) {
        s_consumer_fail(c, "connect", err);
        return NULL;
    }
    amqp_basic_qos(conn, CHANNEL, 0, PREFETCH, 0);
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        amqp_basic_consume(conn, CHANNEL, amqp_cstring_bytes(c->queue), amqp_empty_bytes, 0, 0, 0,
                           amqp_empty_table);
        r = amqp_get_rpc_reply(conn);
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        s_consumer_fail(c, "basic.consume", s_reply_text(r, buf, sizeof buf));
        s_close(conn);
        return NULL;
    }
    atomic_store(&c->ready, 1);
    while (!atomic_load(&c->stop)) {
        struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
        amqp_envelope_t env;
        amqp_maybe_release_buffers(conn);
        r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            amqp_frame_t frame; /* not a delivery: read it and look */
            if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) {
                s_consumer_fail(c, "reading", "connection lost");
                break;
            }
            if (frame.frame_type == AMQP_FRAME_METHOD &&
                (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                 frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
                 frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD)) {
                s_consumer_fail(c, "reading", "the server closed or cancelled the consumer");
                break;
            }
            continue;
        }
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            s_consumer_fail(c, "reading", s_reply_text(r, buf, sizeof buf));
            break;
        }
        if (peer_tally_add(&c->tally, env.message.body.bytes, env.message.body.len))
            amqp_basic_ack(conn, CHANNEL, env.delivery_tag, 1); /* multiple: up to here */
        amqp_destroy_envelope(&env);
    }
    s_close(conn);
    return NULL;
}

static void s_consumer_start(bench_t *self, consumer_t *c, const char *queue, size_t want,
                             double *lat_ms)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    peer_tally_init(&c->tally, want, lat_ms);
    c->bench = self;
    snprintf(c->queue, sizeof c->queue, "%s", queue);
    if (pthread_create(&c->tid, NULL, s_consumer_run, c) != 0)
        peer_die(&self->run, "cannot start a consumer thread");
}

/* Dies with the thread's reason if it stopped early. */
static void s_consumer_check(bench_t *self, consumer_t *c)
{
    pthread_mutex_lock(&c->mu);
    char err[300];
    snprintf(err, sizeof err, "%s", c->err);
    pthread_mutex_unlock(&c->mu);
    if (err[0])
        peer_die(&self->run, "%s", err);
}

static void s_consumer_wait_ready(bench_t *self, consumer_t *c)
{
    double deadline = kit_now() + 60;
    while (!atomic_load(&c->ready)) {
        peer_check_interrupt(&self->run);
        if (kit_now() > deadline)
            peer_die(&self->run, "consumer of %s not ready after 60 s", c->queue);
        peer_sleep_s(0.005);
    }
    s_consumer_check(self, c);
}

static void s_consumer_stop(consumer_t *c)
{
    atomic_store(&c->stop, 1);
    pthread_join(c->tid, NULL);
    pthread_mutex_destroy(&c->mu);
    peer_tally_destroy(&c->tally);
}

/* ---- the workloads ---- */

typedef struct {
    bench_t *self;
    consumer_t *cs;
} check_t;

/* For peer_tally_wait: stop on a consumer thread's error. */
static void s_check_each(void *arg, size_t i)
{
    check_t *c = arg;
    s_consumer_check(c->self, &c->cs[i]);
}

static void s_w1(void *arg)
{
    bench_t *self = arg;
    size_t n = self->opts.messages;
    fprintf(stderr, "bench_rabbitmq: W1 durable publish: %zu messages, confirms, window %zu\n", n,
            self->opts.window);
    peer_cpu_mark_t m = peer_cpu_mark(self->server);
    pub_t p;
    s_pub_init(self, &p, n, false);
    s_declare_quorum(self, p.conn, "w1");
    double secs = s_publish(&p, "", "w1", self->opts.window);
    s_delete_queue(self, p.conn, "w1");
    s_pub_free(&p);
    peer_print_w1(&self->line, m, n, secs);
}

static void s_w2(void *arg)
{
    bench_t *self = arg;
    size_t n = self->opts.messages, nq = self->opts.consumers;
    fprintf(stderr,
            "bench_rabbitmq: W2 fan-out: %zu messages to %zu quorum queues, a consumer "
            "each\n",
            n, nq);
    peer_cpu_mark_t m = peer_cpu_mark(self->server);
    pub_t p;
    s_pub_init(self, &p, n, false);
    amqp_exchange_declare(p.conn, CHANNEL, amqp_cstring_bytes("bench.w2"),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
    s_check(self, p.conn, "declare exchange bench.w2");
    consumer_t *cs = calloc(nq, sizeof *cs);
    if (!cs)
        peer_die(&self->run, "out of memory");
    for (size_t i = 0; i < nq; i++) {
        char q[32];
        snprintf(q, sizeof q, "w2-%02zu", i + 1);
        s_declare_quorum(self, p.conn, q);
        amqp_queue_bind(p.conn, CHANNEL, amqp_cstring_bytes(q), amqp_cstring_bytes("bench.w2"),
                        amqp_cstring_bytes("bench.#"), amqp_empty_table);
        s_check(self, p.conn, "queue.bind");
        s_consumer_start(self, &cs[i], q, n, NULL);
    }
    for (size_t i = 0; i < nq; i++)
        s_consumer_wait_ready(self, &cs[i]);

    peer_tally_t *ts[PEER_MAX_CONSUMERS];
    for (size_t i = 0; i < nq; i++)
        ts[i] = &cs[i].tally;
    double t0 = kit_now();
    double secs = s_publish(&p, "bench.w2", "bench.pub", self->opts.window);
    check_t chk = { self, cs };
    peer_tally_wait(&self->run, ts, nq, 600, s_check_each, &chk);
    peer_print_w2(&self->line, m, n, secs, ts, nq, t0);

    for (size_t i = 0; i < nq; i++) {
        s_consumer_stop(&cs[i]);
        s_delete_queue(self, p.conn, cs[i].queue);
    }
    free(cs);
    amqp_exchange_delete(p.conn, CHANNEL, amqp_cstring_bytes("bench.w2"), 0);
    s_check(self, p.conn, "delete exchange bench.w2");
    s_pub_free(&p);
}

static void s_w3(void *arg)
{
    bench_t *self = arg;
    size_t n = self->opts.catchup;
    fprintf(stderr, "bench_rabbitmq: W3 catch-up of %zu messages by a fresh consumer\n", n);
    pub_t p;
    s_pub_init(self, &p, n, false);
    s_declare_quorum(self, p.conn, "w3");
    size_t fill_window = self->opts.window > 1024 ? self->opts.window : 1024;
    double fill_s = s_publish(&p, "", "w3", fill_window);
    fprintf(stderr, "bench_rabbitmq: W3 filled in %.1f s\n", fill_s);
    peer_cpu_mark_t m = peer_cpu_mark(self->server); /* the fill is not part of the result */

    double t0 = kit_now();
    consumer_t c;
    s_consumer_start(self, &c, "w3", n, NULL);
    peer_tally_t *t = &c.tally;
    check_t chk = { self, &c };
    peer_tally_wait(&self->run, &t, 1, 900, s_check_each, &chk);
    double done = peer_tally_done(&c.tally);
    size_t held = peer_tally_got(&c.tally);
    s_consumer_stop(&c);
    s_delete_queue(self, p.conn, "w3");
    s_pub_free(&p);

    peer_print_w3(&self->line, m, n, fill_s, held, t0, done);
}

static void s_w4(void *arg)
{
    bench_t *self = arg;
    size_t total = (size_t) (self->opts.seconds * self->opts.rate);
    fprintf(stderr, "bench_rabbitmq: W4 latency: %zu messages at %u/s\n", total, self->opts.rate);
    peer_cpu_mark_t m = peer_cpu_mark(self->server);
    pub_t p;
    s_pub_init(self, &p, total, true);
    s_declare_quorum(self, p.conn, "w4");
    double *lat = calloc(total + 1, sizeof *lat);
    if (!lat)
        peer_die(&self->run, "out of memory");
    consumer_t c;
    s_consumer_start(self, &c, "w4", total, lat);
    s_consumer_wait_ready(self, &c);

    amqp_bytes_t ex = amqp_cstring_bytes(""), rk = amqp_cstring_bytes("w4");
    double period = 1.0 / self->opts.rate;
    double t0 = kit_now() + 0.05, pub_end = t0;
    for (size_t i = 0; i < total; i++) {
        /* Read confirms while waiting for the next message's due time. */
        double due = t0 + (double) i * period;
        double wait;
        while ((wait = due - kit_now()) > 0.0002)
            s_pub_pump(&p, wait - 0.0001);
        peer_sleep_until(due);
        peer_check_interrupt(&self->run);
        s_pub_window(&p, self->opts.window);
        s_pub_one(&p, ex, rk, i);
        pub_end = kit_now();
    }
    s_pub_drain(&p, 30);
    double deadline = kit_now() + 15;
    while (peer_tally_got(&c.tally) < p.published && kit_now() < deadline) {
        peer_check_interrupt(&self->run);
        s_consumer_check(self, &c);
        peer_sleep_s(0.01);
    }
    s_consumer_stop(&c);
    size_t got = peer_tally_got(&c.tally);
    s_delete_queue(self, p.conn, "w4");

    peer_print_w4(&self->line, m, p.published, got, t0, pub_end, lat, got < total ? got : total,
                  p.ack_ms, p.nack_ms);
    s_pub_free(&p);
    free(lat);
}

int main(int argc, char **argv)
{
    bench_t self_;
    bench_t *self = &self_;
    memset(self, 0, sizeof *self);
    int rc = peer_opts_parse(&self->opts, "bench_rabbitmq",
                             "RabbitMQ (Debian rabbitmq-server) quorum queues, one member;\n"
                             "persistent messages, publisher confirms with --window in flight;\n"
                             "consumers with prefetch 2048, acking (multiple) every 256.\n"
                             "W2 binds one quorum queue per consumer to a topic exchange.\n"
                             "The node takes 10-30 s to start; that is not measured.\n",
                             argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    peer_run_init(&self->run, &self->opts);
    s_start_server(self);
    self->line = (peer_line_t){ &self->opts, "rabbitmq", self->system, true, self->server };
    peer_run_workloads(&self->run, (peer_workload_t *const[]){ NULL, s_w1, s_w2, s_w3, s_w4 },
                       self);
    return 0;
}
