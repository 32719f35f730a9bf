#define _GNU_SOURCE
/* partners.c — many partners in one process on real CURVE sessions; see
 * partners.h. */
#include "partners.h"

#include "hlc.h"
#include "keys.h"
#include "knoop.h"
#include "link.h"
#include "msg.h"
#include "wire.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define OUTBOX_MAX   1024      /* own envelopes not yet acknowledged */
#define CREDIT_MSGS  1024
#define READ_FRAMES  64        /* frames read from one session per pass */
#define RETRY_MS     500       /* wait before a new session after a reset (+ up to as much again) */
/* How long a partner waits for WELCOME before it starts again with a new
 * socket. Longer than a node's 5 s link timeout: libzmq repeats a handshake
 * that timed out by itself, and 1,000 partners that all throw their socket
 * away after 5 s on a slow (loaded) machine keep the brokers busy with
 * handshakes that are abandoned before they finish. */
#define WELCOME_WAIT_MS 30000
/* Sessions waiting for their WELCOME at once. Partners in the field do the
 * client half of the CURVE handshake on their own machines; here all of them
 * would do it on the brokers' cores, and a thousand handshakes started at
 * once on a loaded 2-core machine all run into the 5 s handshake timeout and
 * start over, so that hardly any finishes. */
#define PENDING_MAX  64

/* A stream of the group as a partner holds it. */
typedef struct {
    uint64_t stream;
    size_t   origin;           /* partner index */
    uint64_t hwm;
    uint8_t  head[KNOOP_HASH_LEN];
} held_t;

typedef struct {
    char         id[32], topic[64], pattern[64];
    knoop_key_t *key;
    size_t       broker;
    char         endpoint[128];    /* source address;broker */
    zsock_t     *dealer;
    bool         up, caught_up;
    bool         welcomed_since_mark;
    bool         ready;            /* counted in nready since the mark */
    uint64_t     last_sent, last_heard, retry_at;
    uint32_t     heartbeat_ms;
    /* own stream */
    uint64_t     epoch, stream, seq, acked;
    uint8_t      head[KNOOP_HASH_LEN];
    knoop_buf_t  outbox[OUTBOX_MAX];   /* seq s at outbox[s % OUTBOX_MAX] */
    uint64_t     sent;                 /* highest seq sent in this session */
    uint64_t     next_pub_ms;
    uint64_t     target;               /* seq published at the mark */
    /* the group's streams (the other members) */
    held_t      *held;
    size_t       nheld;
} partner_t;

struct partners_t {
    partners_opts_t  o;
    partner_t       *p;
    knoop_cert_t     broker_cert[PARTNERS_BROKERS_MAX];
    knoop_hlc_t      hlc;
    pthread_t        thread;
    bool             running;
    atomic_bool      stop, publishing, sampling;
    atomic_uint      mark_gen, mark_done;   /* asked; taken by the thread */
    atomic_size_t    nready, nlinked, nwelcomed;
    atomic_uint_fast64_t published, acked, delivered, expected;
    uint64_t         duplicates, gaps, sessions, resets, errors, refused;
    size_t           pending;      /* sessions waiting for WELCOME */
    double          *lat;
    size_t           nlat, caplat;
    knoop_buf_t      data, enc;
};

static uint64_t s_rand64(void)
{
    uint64_t v = 0;
    while (v == 0)
        v = ((uint64_t) random() << 33) ^ ((uint64_t) random() << 11) ^ (uint64_t) random();
    return v;
}

partners_t *partners_new(const partners_opts_t *opts)
{
    assert(opts && opts->n && opts->group >= 2 && opts->nbrokers >= 1 &&
           opts->nbrokers <= PARTNERS_BROKERS_MAX);
    partners_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->o = *opts;
    self->p = calloc(opts->n, sizeof *self->p);
    if (!self->p)
        goto fail;
    for (size_t b = 0; b < opts->nbrokers; b++) {
        char path[4200];
        snprintf(path, sizeof path, "%.4000s/%.64s.cert", opts->trust_dir, opts->broker_id[b]);
        if (knoop_cert_load(path, &self->broker_cert[b])) {
            fprintf(stderr, "partners: cannot load %s\n", path);
            goto fail;
        }
    }
    int64_t now = (int64_t) time(NULL);
    for (size_t i = 0; i < opts->n; i++) {
        partner_t *p = &self->p[i];
        size_t g = i / opts->group;
        snprintf(p->id, sizeof p->id, "w7-p%04zu", i + 1);
        snprintf(p->topic, sizeof p->topic, "w7.g%03zu.%s", g + 1, p->id);
        snprintf(p->pattern, sizeof p->pattern, "w7.g%03zu.*", g + 1);
        knoop_cert_t cert;
        char path[4200];
        snprintf(path, sizeof path, "%.4000s/%s.cert", opts->trust_dir, p->id);
        if (knoop_key_generate(p->id, "region", &p->key) ||
            knoop_key_cert(p->key, now - 3600, now + 400 * 86400, &cert) ||
            knoop_cert_issue(&cert, opts->root) || knoop_cert_write(&cert, path)) {
            fprintf(stderr, "partners: cannot make the key and certificate of %s\n", p->id);
            goto fail;
        }
        p->broker = i % opts->nbrokers;
        /* 127.0.x.y from 127.0.0.2 on: its own address, as on its own machine;
         * or per_address of each broker's partners on one, as behind a NAT */
        size_t a = opts->per_address > 1 ? i / (opts->per_address * opts->nbrokers) + 2 : i + 2;
        const char *ep = opts->broker_ep[p->broker];
        if (strncmp(ep, "tcp://", 6) == 0)
            ep += 6;
        snprintf(p->endpoint, sizeof p->endpoint, "tcp://127.0.%zu.%zu:0;%s", a / 250, a % 250 + 1,
                 ep);
        p->epoch = s_rand64();
        p->stream = knoop_stream_id(p->id, p->topic, p->epoch);
    }
    /* The group's streams, once every stream id is known. */
    for (size_t i = 0; i < opts->n; i++) {
        partner_t *p = &self->p[i];
        size_t g0 = i / opts->group * opts->group;
        size_t g1 = g0 + opts->group < opts->n ? g0 + opts->group : opts->n;
        p->held = calloc(g1 - g0, sizeof *p->held);
        if (!p->held)
            goto fail;
        for (size_t k = g0; k < g1; k++)
            if (k != i)
                p->held[p->nheld++] = (held_t) { .stream = self->p[k].stream, .origin = k };
    }
    knoop_hlc_init(&self->hlc, 0);
    return self;
fail:
    partners_destroy(&self);
    return NULL;
}

void partners_destroy(partners_t **self_p)
{
    partners_t *self = *self_p;
    if (!self)
        return;
    partners_stop(self);
    for (size_t i = 0; self->p && i < self->o.n; i++) {
        partner_t *p = &self->p[i];
        knoop_key_destroy(&p->key);
        zsock_destroy(&p->dealer);
        for (size_t k = 0; k < OUTBOX_MAX; k++)
            knoop_buf_free(&p->outbox[k]);
        free(p->held);
    }
    free(self->p);
    free(self->lat);
    knoop_buf_free(&self->data);
    knoop_buf_free(&self->enc);
    free(self);
    *self_p = NULL;
}

/* ---- sending ---- */

static int s_send(partners_t *self, partner_t *p, const knoop_frame_t *f)
{
    self->enc.len = 0;
    int rc = knoop_frame_encode(f, &self->enc);
    if (rc == KNOOP_OK && p->dealer)
        rc = knoop_link_send_dealer(p->dealer, self->enc.data, self->enc.len);
    if (rc == KNOOP_OK)
        p->last_sent = knoop_now_ms();
    return rc;
}

/* PUBLISH what the broker has not acknowledged and this session has not
 * sent, in batches of at most KNOOP_BATCH_BYTES. */
static void s_flush_outbox(partners_t *self, partner_t *p)
{
    if (!p->up)
        return;
    knoop_bytes_t envs[64];
    while (p->sent < p->seq) {
        size_t n = 0, bytes = 0;
        uint64_t s = p->sent;
        while (s < p->seq && n < 64) {
            const knoop_buf_t *e = &p->outbox[(s + 1) % OUTBOX_MAX];
            if (n && bytes + e->len > KNOOP_BATCH_BYTES)
                break;
            envs[n++] = (knoop_bytes_t) { e->data, e->len };
            bytes += e->len;
            s++;
        }
        knoop_frame_t f = { .kind = KNOOP_FRAME_PUBLISH };
        f.u.batch.envs = envs;
        f.u.batch.n = n;
        if (s_send(self, p, &f))
            return;         /* the pipe is full: next pass */
        p->sent = s;
    }
}

/* One new message on the partner's own stream, signed as its head. */
static void s_build(partners_t *self, partner_t *p)
{
    if (p->seq - p->acked >= OUTBOX_MAX - 1)
        return;             /* the brokers are far behind: do not grow */
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = p->id, .topic = p->topic,
        .epoch = p->epoch, .seq = p->seq + 1, .hlc = knoop_hlc_now(&self->hlc), .key = "",
        .type = self->o.type, .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
        .payload = self->o.payload, .payload_len = self->o.payload_len,
    };
    memcpy(b.prev, p->head, KNOOP_HASH_LEN);
    knoop_buf_t *e = &p->outbox[(p->seq + 1) % OUTBOX_MAX];
    e->len = 0;
    if (knoop_msg_build(&b, knoop_key_secret(p->key), e, p->head)) {
        fprintf(stderr, "partners: %s: cannot build a message\n", p->id);
        return;
    }
    p->seq++;
    atomic_fetch_add(&self->published, 1);
    atomic_fetch_add(&self->expected, p->nheld);     /* the other members get it */
    s_flush_outbox(self, p);
}

/* ---- sessions ---- */

static void s_close(partners_t *self, partner_t *p)
{
    if (p->up)
        atomic_fetch_sub(&self->nlinked, 1);
    else if (p->dealer)
        self->pending--;
    p->up = p->caught_up = false;
    zsock_destroy(&p->dealer);
}

static void s_hello(partners_t *self, partner_t *p)
{
    p->dealer = knoop_link_dealer();
    if (!p->dealer || knoop_link_curve_client(p->dealer, p->key, &self->broker_cert[p->broker],
                                              5000) ||
        zsock_connect(p->dealer, "%s", p->endpoint) != 0) {
        fprintf(stderr, "partners: %s: cannot connect to %s\n", p->id, p->endpoint);
        zsock_destroy(&p->dealer);
        p->retry_at = knoop_now_ms() + RETRY_MS + (uint64_t) (random() % RETRY_MS);
        return;
    }
    knoop_wire_pos_t vec[p->nheld + 1];
    size_t nvec = 0;
    for (size_t k = 0; k < p->nheld; k++) {
        const held_t *h = &p->held[k];
        if (!h->hwm)
            continue;
        const partner_t *o = &self->p[h->origin];
        vec[nvec] = (knoop_wire_pos_t) { .stream = h->stream, .origin = o->id, .topic = o->topic,
                                         .epoch = o->epoch, .hwm = h->hwm };
        memcpy(vec[nvec++].head, h->head, KNOOP_HASH_LEN);
    }
    if (p->seq) {
        vec[nvec] = (knoop_wire_pos_t) { .stream = p->stream, .origin = p->id, .topic = p->topic,
                                         .epoch = p->epoch, .hwm = p->seq };
        memcpy(vec[nvec++].head, p->head, KNOOP_HASH_LEN);
    }
    self->pending++;
    const char *subs[1] = { p->pattern };
    knoop_frame_t f = { .kind = KNOOP_FRAME_HELLO,
                        .u.hello = { .partner = p->id, .subs = subs, .nsubs = 1,
                                     .vector = vec, .nvector = nvec,
                                     .credit_msgs = CREDIT_MSGS, .credit_bytes = 64u << 20,
                                     .software = "bench-w7-partner" } };
    s_send(self, p, &f);
    p->last_heard = knoop_now_ms();
    p->heartbeat_ms = 1000;
    p->sent = p->acked;
}

static void s_reset(partners_t *self, partner_t *p)
{
    s_close(self, p);
    self->resets++;
    p->retry_at = knoop_now_ms() + RETRY_MS + (uint64_t) (random() % RETRY_MS);
}

static bool s_holds_targets(const partners_t *self, const partner_t *p)
{
    for (size_t k = 0; k < p->nheld; k++)
        if (p->held[k].hwm < self->p[p->held[k].origin].target)
            return false;
    return true;
}

static void s_check_ready(partners_t *self, partner_t *p)
{
    if (!p->ready && p->welcomed_since_mark && p->caught_up && s_holds_targets(self, p)) {
        p->ready = true;
        atomic_fetch_add(&self->nready, 1);
    }
}

static void s_on_deliver(partners_t *self, partner_t *p, const knoop_frame_t *f)
{
    knoop_wire_ack_t acks[f->u.batch.n ? f->u.batch.n : 1];
    size_t nacks = 0;
    uint64_t bytes = 0;
    double now_ms = 0;
    bool sample = p->caught_up && atomic_load(&self->sampling);
    if (sample) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_ms = (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
    }
    for (size_t i = 0; i < f->u.batch.n; i++) {
        bytes += f->u.batch.envs[i].len;
        knoop_msg_t m;
        if (knoop_msg_parse(&m, f->u.batch.envs[i].data, f->u.batch.envs[i].len))
            continue;
        held_t *h = NULL;
        for (size_t k = 0; k < p->nheld && !h; k++)
            if (p->held[k].stream == m.stream)
                h = &p->held[k];
        if (h && m.b.seq == h->hwm + 1) {
            h->hwm = m.b.seq;
            memcpy(h->head, m.chain, KNOOP_HASH_LEN);
            atomic_fetch_add(&self->delivered, 1);
            size_t a = 0;
            while (a < nacks && acks[a].stream != h->stream)
                a++;
            if (a == nacks)
                nacks++;
            acks[a] = (knoop_wire_ack_t) { h->stream, h->hwm };
            if (sample) {
                if (self->nlat == self->caplat) {
                    size_t cap = self->caplat ? self->caplat * 2 : 65536;
                    double *v = realloc(self->lat, cap * sizeof *v);
                    if (v) {
                        self->lat = v;
                        self->caplat = cap;
                    }
                }
                if (self->nlat < self->caplat)
                    self->lat[self->nlat++] = now_ms - (double) KNOOP_HLC_MS(m.b.hlc);
            }
        } else if (h && m.b.seq <= h->hwm)
            self->duplicates++;
        else if (h)
            self->gaps++;
        knoop_msg_clear(&m);
    }
    if (nacks) {
        knoop_frame_t a = { .kind = KNOOP_FRAME_ACK };
        a.u.ack.acks = acks;
        a.u.ack.n = nacks;
        s_send(self, p, &a);
    }
    knoop_frame_t c = { .kind = KNOOP_FRAME_CREDIT };
    c.u.credit.msgs = (uint32_t) f->u.batch.n;
    c.u.credit.bytes = bytes;
    s_send(self, p, &c);
}

static void s_heartbeat(partners_t *self, partner_t *p, uint64_t now)
{
    knoop_frame_t h = { .kind = KNOOP_FRAME_HEARTBEAT };
    h.u.heartbeat.time_ms = now;
    s_send(self, p, &h);
}

static void s_on_frame(partners_t *self, partner_t *p, const knoop_frame_t *f)
{
    switch (f->kind) {
    case KNOOP_FRAME_WELCOME:
        if (!p->up) {
            atomic_fetch_add(&self->nlinked, 1);
            self->pending--;
        }
        p->up = true;
        p->caught_up = false;
        if (!p->welcomed_since_mark)
            atomic_fetch_add(&self->nwelcomed, 1);
        p->welcomed_since_mark = true;
        self->sessions++;
        if (f->u.welcome.heartbeat_ms)
            p->heartbeat_ms = f->u.welcome.heartbeat_ms;
        for (size_t i = 0; i < f->u.welcome.nown; i++)
            if (f->u.welcome.own[i].stream == p->stream && f->u.welcome.own[i].hwm > p->acked &&
                f->u.welcome.own[i].hwm <= p->seq) {
                atomic_fetch_add(&self->acked, f->u.welcome.own[i].hwm - p->acked);
                p->acked = f->u.welcome.own[i].hwm;
            }
        p->sent = p->acked;
        s_flush_outbox(self, p);
        break;
    case KNOOP_FRAME_DELIVER:
        s_on_deliver(self, p, f);
        break;
    case KNOOP_FRAME_CAUGHT_UP:
        p->caught_up = true;
        break;
    case KNOOP_FRAME_ACK:
        for (size_t i = 0; i < f->u.ack.n; i++)
            if (f->u.ack.acks[i].stream == p->stream && f->u.ack.acks[i].seq > p->acked &&
                f->u.ack.acks[i].seq <= p->seq) {
                atomic_fetch_add(&self->acked, f->u.ack.acks[i].seq - p->acked);
                p->acked = f->u.ack.acks[i].seq;
            }
        break;
    case KNOOP_FRAME_ERROR:
        self->errors++;
        /* "say HELLO again" after a broker restart is the normal way back */
        if (f->u.error.code != KNOOP_WERR_PROTOCOL && self->errors <= 5)
            fprintf(stderr, "partners: %s: ERROR %s from %s: %s%s\n", p->id,
                    knoop_wire_err_name(f->u.error.code), self->o.broker_id[p->broker],
                    f->u.error.reason ? f->u.error.reason : "",
                    f->u.error.fatal ? " (fatal: new session)" : "");
        if (f->u.error.fatal)
            s_reset(self, p);
        break;
    case KNOOP_FRAME_HEARTBEAT: {
        /* answered at once after half an interval of quiet, as a node does
         * (nodes/node_link.c) */
        uint64_t now = knoop_now_ms();
        if (p->up && now - p->last_sent >= p->heartbeat_ms / 2)
            s_heartbeat(self, p, now);
        break;
    }
    default:
        break;      /* CREDIT, INSTANCES: heard is enough */
    }
}

static void s_read(partners_t *self, partner_t *p)
{
    for (int i = 0; p->dealer && i < READ_FRAMES; i++) {
        int rc = knoop_link_recv_dealer(p->dealer, &self->data);
        if (rc == KNOOP_EAGAIN)
            break;
        if (rc)
            continue;
        p->last_heard = knoop_now_ms();
        knoop_frame_t f;
        if (knoop_frame_decode(&f, self->data.data, self->data.len)) {
            self->refused++;
            continue;
        }
        s_on_frame(self, p, &f);
        knoop_frame_clear(&f);
    }
    s_check_ready(self, p);
}

/* Per partner, at most every few ms: publish when due, heartbeat when idle,
 * a new session when the old one is dead. */
static void s_timers(partners_t *self, uint64_t now, bool publishing, double interval_ms)
{
    for (size_t i = 0; i < self->o.n; i++) {
        partner_t *p = &self->p[i];
        if (!p->dealer) {
            if (now >= p->retry_at && self->pending < PENDING_MAX)
                s_hello(self, p);
            continue;
        }
        if (publishing && now >= p->next_pub_ms) {
            s_build(self, p);
            p->next_pub_ms += (uint64_t) interval_ms;
            if (p->next_pub_ms < now)          /* fell behind: do not burst */
                p->next_pub_ms = now + (uint64_t) interval_ms;
        }
        if (now - p->last_heard > (p->up ? 5ull * p->heartbeat_ms : WELCOME_WAIT_MS)) {
            s_reset(self, p);
            continue;
        }
        if (now - p->last_sent >= 2 * (uint64_t) p->heartbeat_ms)   /* the broker's did not come */
            s_heartbeat(self, p, now);
        s_check_ready(self, p);
    }
}

static void s_mark(partners_t *self)
{
    atomic_store(&self->nready, 0);
    atomic_store(&self->nwelcomed, 0);
    for (size_t i = 0; i < self->o.n; i++) {
        partner_t *p = &self->p[i];
        p->target = p->seq;
        p->welcomed_since_mark = false;
        p->ready = false;
    }
}

static void *s_run(void *arg)
{
    partners_t *self = arg;
    size_t n = self->o.n;
    zmq_pollitem_t *items = calloc(n, sizeof *items);
    size_t *who = calloc(n, sizeof *who);
    if (!items || !who) {
        fprintf(stderr, "partners: out of memory\n");
        free(items);
        free(who);
        return NULL;
    }
    double interval_ms = self->o.rate > 0 ? 1000.0 / self->o.rate : 1000;
    bool was_publishing = false;
    uint64_t last_timers = 0;
    while (!atomic_load(&self->stop)) {
        unsigned gen = atomic_load(&self->mark_gen);
        if (gen != atomic_load(&self->mark_done)) {
            s_mark(self);
            atomic_store(&self->mark_done, gen);
        }
        bool publishing = atomic_load(&self->publishing);
        uint64_t now = knoop_now_ms();
        if (publishing && !was_publishing)        /* spread the partners over a second */
            for (size_t i = 0; i < n; i++)
                self->p[i].next_pub_ms = now + (uint64_t) (interval_ms * (double) i / (double) n);
        was_publishing = publishing;
        if (now - last_timers >= 5) {
            s_timers(self, now, publishing, interval_ms);
            last_timers = now;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (self->p[i].dealer) {
                items[k] = (zmq_pollitem_t) { .socket = zsock_resolve(self->p[i].dealer),
                                              .events = ZMQ_POLLIN };
                who[k++] = i;
            }
        int rc = zmq_poll(items, (int) k, 5);
        if (rc <= 0)
            continue;
        for (size_t i = 0; i < k; i++)
            if (items[i].revents & ZMQ_POLLIN)
                s_read(self, &self->p[who[i]]);
    }
    for (size_t i = 0; i < n; i++)
        s_close(self, &self->p[i]);
    free(items);
    free(who);
    return NULL;
}

int partners_prepare(size_t n)
{
    /* Two descriptors per session (the socket's mailbox and its TCP
     * connection), and more sockets than libzmq's default of 1023. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 3 * n + 256) {
        fprintf(stderr, "partners: %zu sessions need about %zu descriptors; the limit is %llu "
                "(raise it with ulimit -n)\n", n, 3 * n + 256, (unsigned long long) rl.rlim_cur);
        return KNOOP_EIO;
    }
    zsys_set_max_sockets(n * 2 + 256);
    zsys_set_io_threads(2);
    return KNOOP_OK;
}

int partners_start(partners_t *self)
{
    atomic_store(&self->stop, false);
    if (pthread_create(&self->thread, NULL, s_run, self) != 0)
        return KNOOP_EIO;
    self->running = true;
    return KNOOP_OK;
}

void partners_stop(partners_t *self)
{
    if (!self->running)
        return;
    atomic_store(&self->stop, true);
    pthread_join(self->thread, NULL);
    self->running = false;
}

void partners_publish(partners_t *self, bool on)
{
    atomic_store(&self->publishing, on);
}

void partners_sample(partners_t *self, bool on)
{
    atomic_store(&self->sampling, on);
}

size_t partners_welcomed(const partners_t *self)
{
    if (atomic_load(&self->mark_done) != atomic_load(&self->mark_gen))
        return 0;
    return atomic_load(&self->nwelcomed);
}

void partners_mark(partners_t *self)
{
    atomic_fetch_add(&self->mark_gen, 1);
}

size_t partners_ready(const partners_t *self)
{
    if (atomic_load(&self->mark_done) != atomic_load(&self->mark_gen))
        return 0;           /* the thread has not taken the mark yet */
    return atomic_load(&self->nready);
}

size_t partners_linked(const partners_t *self)
{
    return atomic_load(&self->nlinked);
}

void partners_progress(const partners_t *self, uint64_t *published, uint64_t *acked,
                       uint64_t *delivered, uint64_t *expected)
{
    *published = atomic_load(&self->published);
    *acked = atomic_load(&self->acked);
    *delivered = atomic_load(&self->delivered);
    *expected = atomic_load(&self->expected);
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

void partners_result(partners_t *self, partners_result_t *out)
{
    memset(out, 0, sizeof *out);
    partners_progress(self, &out->published, &out->acked, &out->delivered, &out->expected);
    out->duplicates = self->duplicates;
    out->gaps = self->gaps;
    out->sessions = self->sessions;
    out->resets = self->resets;
    out->errors = self->errors;
    out->refused_frames = self->refused;
    qsort(self->lat, self->nlat, sizeof *self->lat, s_cmp);
    out->lat_ms = self->lat;
    out->nlat = self->nlat;
}
