/* node_link.c — the node's link to a broker: connect and HELLO, WELCOME,
 * the outbox (own messages until ACKed, resent after every reconnect),
 * DELIVER (commit, verify, ACK), heartbeats, failover to the next broker. */
#include "node_int.h"
#include "settled.h"
#include "ingest.h"

static void s_clock_retry(knoop_node_t *self, uint64_t now);
static uint64_t s_mono_ms(void);

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_BYTES  KNOOP_BATCH_BYTES
#define RESEND_MS    10000       /* no ACK for this long: send the outbox again */
#define RETRY_MS     500         /* pause before the next connection attempt */
#define WINDOW       4096        /* deliveries in flight we allow the broker */

static const char *s_state_name(link_state_t s)
{
    return s == LINK_UP ? "up" : s == LINK_HELLO ? "connecting" : "down";
}

int node_link_init(knoop_node_t *self)
{
    self->brokers = calloc(self->opts.nbrokers ? self->opts.nbrokers : 1, sizeof *self->brokers);
    if (!self->brokers)
        return KNOOP_ENOMEM;
    for (size_t i = 0; i < self->opts.nbrokers; i++) {
        const char *spec = self->opts.brokers[i];
        broker_ref_t *b = &self->brokers[self->nbrokers];
        const char *at = strchr(spec, '@');
        const knoop_cert_t *cert = NULL;
        if (at) {
            snprintf(b->id, sizeof b->id, "%.*s", (int) (at - spec), spec);
            snprintf(b->endpoint, sizeof b->endpoint, "%s", at + 1);
            cert = knoop_trust_by_id(self->trust, b->id);
            if (!cert) {
                knoop_error("node: --broker %s: no certificate for '%s' in the trust store",
                            spec, b->id);
                return KNOOP_EUNKNOWN;
            }
        } else {
            /* A bare endpoint names the one broker the trust store knows. */
            snprintf(b->endpoint, sizeof b->endpoint, "%s", spec);
            size_t found = 0;
            for (size_t k = 0; k < knoop_trust_size(self->trust); k++) {
                const knoop_cert_t *c = knoop_trust_at(self->trust, k);
                if (strcmp(c->role, "broker") == 0) {
                    cert = c;
                    found++;
                }
            }
            if (found != 1) {
                knoop_error("node: --broker %s: the trust store holds %zu broker certificates; "
                            "name the broker as ID@ENDPOINT", spec, found);
                return KNOOP_EINVAL;
            }
            snprintf(b->id, sizeof b->id, "%s", cert->id);
        }
        if (strcmp(cert->role, "broker") != 0) {
            knoop_error("node: --broker %s: '%s' has role '%s', not broker", spec, cert->id,
                        cert->role);
            return KNOOP_EPERM;
        }
        b->cert = *cert;
        self->nbrokers++;
    }
    if (!self->nbrokers)
        knoop_warn("node: no --broker given: publishing and local delivery only");
    return KNOOP_OK;
}

void node_link_close(knoop_node_t *self, const char *why)
{
    if (self->probe && !strcmp(why, "node stopping"))
        knoop_sock_destroy(&self->probe);
    if (!self->dealer)
        return;
    if (self->link == LINK_UP)
        knoop_warn("link to %s lost: %s", self->brokers[self->broker_idx].id, why);
    if (self->link == LINK_HELLO)
        self->brokers[self->broker_idx].key_try++;  /* never got in: try its next key */
    knoop_sock_destroy(&self->dealer);
    /* What this link delivered and the pass has not committed yet is
     * dropped unacknowledged: the broker sends it again. */
    for (size_t i = 0; i < self->nin; i++)
        knoop_frame_clear(&self->in_frames[i]);
    self->nin = 0;
    if (self->stashed) {
        knoop_frame_clear(&self->stash);
        self->stashed = false;
    }
    node_standby_link_down(self);
    node_forward_link_down(self);
    if (self->link != LINK_DOWN)
        self->link_since = knoop_now_ms();     /* "down since" is from now */
    self->link = LINK_DOWN;
    self->caught_up = false;
    self->mesh_at = 0;                          /* that broker's view no longer */
    self->nmesh = 0;
    self->has_mesh_digest = false;
}

static int s_send(knoop_node_t *self, const knoop_frame_t *f)
{
    self->out.len = 0;
    int rc = knoop_frame_encode(f, &self->out);
    if (rc == KNOOP_OK)
        rc = knoop_link_send_dealer(self->dealer, self->out.data, self->out.len);
    if (rc == KNOOP_OK)
        self->last_sent = knoop_now_ms();
    return rc;
}

static void s_connect(knoop_node_t *self)
{
    broker_ref_t *b = &self->brokers[self->broker_idx];
    knoop_trust_pin_server(self->trust, "broker", b->id, b->key_try, &b->cert);
    self->dealer = knoop_link_dealer();
    if (!self->dealer || knoop_link_curve_client(self->dealer, self->key, &b->cert, 5000) ||
        knoop_sock_connect(self->dealer, b->endpoint) != KNOOP_OK) {
        node_set_error(self, "cannot connect to %s at %s", b->id, b->endpoint);
        knoop_error("node: %s", self->last_error);
        knoop_sock_destroy(&self->dealer);
        self->next_attempt = knoop_now_ms() + RETRY_MS;
        return;
    }
    /* HELLO: what we hold on our subscriptions, of our own streams and on
     * the trust topics: the streams that may still change by name, the
     * others summarised per bucket as of T (docs/protocol.md, "The settled
     * summary"). */
    knoop_stream_info_t *rows = NULL;
    size_t nrows = 0;
    knoop_journal_vector(self->journal, NULL, &rows, &nrows);
    knoop_wire_pos_t *vec = calloc(nrows ? nrows : 1, sizeof *vec);
    bool *settled = calloc(nrows ? nrows : 1, sizeof *settled);
    self->hello_hlc = knoop_hlc_now(&self->hlc);
    uint64_t t = knoop_settled_as_of(self->complete_hlc, self->opts.settled_margin_ms, nrows,
                                     self->hello_hlc);
    knoop_settled_t *st = t && vec && settled ? malloc(sizeof *st) : NULL;
    if (!st)
        t = 0;                          /* none recorded, or no memory: name every stream */
    size_t nvec = 0;
    if (vec)
        t = knoop_settled_hello(self->journal, rows, nrows, t,
                                knoop_settled_since(self->hello_hlc, self->opts.settled_margin_ms),
                                self->id, false,
                            (const char *const *) self->opts.subs, self->opts.nsubs, "node",
                            vec, &nvec, st, settled);
    for (size_t i = 0; i < self->nown; i++)
        self->own[i].settled = false;
    for (size_t i = 0; vec && settled && i < nrows; i++) {
        own_stream_t *o = settled[i] && strcmp(rows[i].origin, self->id) == 0
                        ? node_own_find(self, rows[i].stream) : NULL;
        if (o) {
            o->settled = true;
            o->settled_hwm = rows[i].hwm;
        }
    }
    free(settled);
    knoop_frame_t f = { .kind = KNOOP_FRAME_HELLO,
                        .u.hello = { .partner = self->id, .subs = self->opts.subs,
                                     .nsubs = self->opts.nsubs, .vector = vec, .nvector = nvec,
                                     .credit_msgs = WINDOW, .credit_bytes = 64u << 20,
                                     .software = "knoop-node " KNOOP_VERSION,
                                     .settled_hlc = t, .settled = st ? st->bucket : NULL,
                                     .nsettled = st ? st->n : 0 } };
    int rc = s_send(self, &f);
    knoop_info("HELLO: %zu streams named, %llu settled in %zu buckets", nvec,
               (unsigned long long) (st ? st->rows : 0), st ? st->n : (size_t) 0);
    free(st);
    free(vec);
    free(rows);
    uint64_t now = knoop_now_ms();
    self->link = LINK_HELLO;
    self->link_since = self->last_heard = now;
    if (rc)
        knoop_warn("node: HELLO to %s not queued: %s", b->id, knoop_strerror(rc));
    node_standby_hello(self);          /* a pair member says what it is */
    knoop_info("connecting to broker %s at %s", b->id, b->endpoint);
}

/* Next broker in the list, and try soon. */
static void s_failover(knoop_node_t *self, const char *why)
{
    size_t from = self->broker_idx;
    node_link_close(self, why);
    if (self->nbrokers > 1) {
        self->broker_idx = (self->broker_idx + 1) % self->nbrokers;
        self->failovers++;
        knoop_warn("failover: %s -> %s (%s)", self->brokers[from].id,
                   self->brokers[self->broker_idx].id, why);
    }
    self->next_attempt = knoop_now_ms() + RETRY_MS;
}

/* Failback: while on a broker other than the first of the list, ask the
 * brokers ranked above it, one per failback_ms in list order, whether they
 * answer (a HEARTBEAT with time 0 is answered without a session), and move
 * to the one that does. The list is an order of preference (KCR2 brokers
 * first, a regional broker as the fall-back): a node on a fall-back returns
 * to the mesh as soon as any better-ranked broker is back, not only the
 * first. */
static void s_probe_step(knoop_node_t *self, uint64_t now)
{
    if (self->broker_idx == 0 || self->link != LINK_UP) {
        knoop_sock_destroy(&self->probe);
        return;
    }
    if (self->probe) {
        if (now - self->probe_since > (uint64_t) self->opts.timeout_ms) {
            knoop_sock_destroy(&self->probe);            /* not back yet */
            self->brokers[self->probe_idx].key_try++;  /* or on its other key */
        }
        return;
    }
    if (now - self->last_probe < (uint64_t) self->opts.failback_ms)
        return;
    /* the next better-ranked broker after the one asked last, from the top */
    if (self->probe_idx + 1 >= self->broker_idx || self->last_probe == 0)
        self->probe_idx = 0;
    else
        self->probe_idx++;
    self->last_probe = self->probe_since = now;
    broker_ref_t *b = &self->brokers[self->probe_idx];
    knoop_trust_pin_server(self->trust, "broker", b->id, b->key_try, &b->cert);
    self->probe = knoop_link_dealer();
    if (!self->probe || knoop_link_curve_client(self->probe, self->key, &b->cert, 5000) ||
        knoop_sock_connect(self->probe, b->endpoint) != KNOOP_OK) {
        knoop_sock_destroy(&self->probe);
        return;
    }
    knoop_frame_t f = { .kind = KNOOP_FRAME_HEARTBEAT };
    self->out.len = 0;
    if (knoop_frame_encode(&f, &self->out) == KNOOP_OK)
        knoop_link_send_dealer(self->probe, self->out.data, self->out.len);
}

void node_link_read_probe(knoop_node_t *self)
{
    if (!self->probe)
        return;
    int rc = knoop_link_recv_dealer(self->probe, &self->data);
    if (rc != KNOOP_OK)
        return;
    knoop_sock_destroy(&self->probe);
    size_t to = self->probe_idx < self->broker_idx ? self->probe_idx : 0;
    knoop_info("failback: %s answers again; moving back from %s",
               self->brokers[to].id, self->brokers[self->broker_idx].id);
    node_link_close(self, "failback to a broker ranked higher in the list");
    self->broker_idx = to;
    self->next_attempt = 0;
}

/* While the link is up and caught up, what arrives live keeps the node
 * complete: complete_hlc follows the clock (a little behind), written with
 * a commit at most every KNOOP_SETTLED_WRITE_MS. */
static void s_complete_advance(knoop_node_t *self)
{
    if (self->link != LINK_UP || !self->caught_up)
        return;
    uint64_t now = knoop_now_ms();
    uint64_t hlc = KNOOP_HLC_MAKE(now - KNOOP_SETTLED_LAG_MS, 0);
    if (hlc <= self->complete_hlc)
        return;
    self->complete_hlc = hlc;
    if (now - self->complete_written_at >= KNOOP_SETTLED_WRITE_MS)
        self->complete_dirty = true;
}

/* The interval the link runs at: the broker's (WELCOME), else ours. */
static uint64_t s_heartbeat_ms(const knoop_node_t *self)
{
    return self->broker_heartbeat_ms ? self->broker_heartbeat_ms
                                     : (uint64_t) self->opts.heartbeat_ms;
}

static void s_heartbeat(knoop_node_t *self, uint64_t now)
{
    knoop_frame_t f = { .kind = KNOOP_FRAME_HEARTBEAT };
    f.u.heartbeat.time_ms = now;
    s_send(self, &f);
}

void node_link_step(knoop_node_t *self)
{
    if (!self->nbrokers)
        return;
    uint64_t now = knoop_now_ms();
    s_probe_step(self, now);
    switch (self->link) {
    case LINK_DOWN:
        if (now >= self->next_attempt)
            s_connect(self);
        break;
    case LINK_HELLO:
        if (now - self->link_since > (uint64_t) self->opts.timeout_ms) {
            char cert_problem[200];
            if (node_own_cert_problem(self, cert_problem, sizeof cert_problem))
                node_set_error(self, "no WELCOME from %s within %d ms: %s",
                               self->brokers[self->broker_idx].id, self->opts.timeout_ms,
                               cert_problem);
            else
                node_set_error(self, "no WELCOME from %s within %d ms (unreachable, or our "
                               "key refused)", self->brokers[self->broker_idx].id,
                               self->opts.timeout_ms);
            knoop_warn("%s", self->last_error);
            s_failover(self, "no answer to HELLO");
        }
        break;
    case LINK_UP:
        if (now - self->last_heard > (uint64_t) self->opts.timeout_ms) {
            char why[96];
            snprintf(why, sizeof why, "nothing heard for %d ms", self->opts.timeout_ms);
            node_set_error(self, "link to %s lost: %s", self->brokers[self->broker_idx].id, why);
            s_failover(self, why);
            break;
        }
        s_clock_retry(self, now);
        s_complete_advance(self);
        /* Our heartbeat answers the broker's (s_on_frame); this timer is the
         * fall-back for a broker whose own did not come (two intervals: the
         * broker's come every interval plus up to 200 ms). */
        if (now - self->last_sent >= 2 * (uint64_t) s_heartbeat_ms(self)) {
            s_heartbeat(self, now);
            self->heartbeats_unasked++;
        }
        if (self->inflight && now - self->last_upstream_ack > RESEND_MS) {
            knoop_warn("no ACK from %s for %d ms: sending the outbox again",
                       self->brokers[self->broker_idx].id, RESEND_MS);
            for (size_t i = 0; i < self->nown; i++)
                self->own[i].sent = self->own[i].acked;
            self->inflight = 0;
            self->last_upstream_ack = now;
        }
        break;
    }
}

static void s_on_welcome(knoop_node_t *self, const knoop_frame_t *f)
{
    broker_ref_t *b = &self->brokers[self->broker_idx];
    if (strcmp(f->u.welcome.broker, b->id) != 0)
        knoop_warn("broker at %s calls itself '%s', expected '%s'", b->endpoint,
                   f->u.welcome.broker, b->id);
    self->link = LINK_UP;
    self->link_since = knoop_now_ms();
    self->catchup_start = self->link_since;
    self->window = f->u.welcome.credit_msgs ? f->u.welcome.credit_msgs : 1024;
    self->broker_heartbeat_ms = f->u.welcome.heartbeat_ms;
    self->inflight = 0;
    self->last_upstream_ack = self->link_since;
    for (size_t i = 0; i < self->nown; i++) {
        own_stream_t *o = &self->own[i];
        /* Summarised in our HELLO, its bucket matched, and not in `own`
         * (the loop below): the broker holds it exactly at our hwm then. */
        o->acked = o->settled && f->u.welcome.has_matched_set &&
                   knoop_settled_bit(f->u.welcome.matched_set,
                                     knoop_settled_bucket(o->stream)) ? o->settled_hwm : 0;
        o->blocked = false;
    }
    self->settled_matched = f->u.welcome.settled_matched;
    self->settled_missed = f->u.welcome.settled_missed;
    if (f->u.welcome.has_matched_set)
        knoop_info("settled summary at %s: %u buckets matched, %u missed", b->id,
                   f->u.welcome.settled_matched, f->u.welcome.settled_missed);
    uint64_t ahead = 0;
    for (size_t i = 0; i < f->u.welcome.nown; i++) {
        const knoop_wire_pos_t *p = &f->u.welcome.own[i];
        own_stream_t *o = node_own_find(self, p->stream);
        if (o)
            o->acked = p->hwm < o->hwm ? p->hwm : o->hwm;
        if (!o || p->hwm > o->hwm)
            ahead++;
    }
    uint64_t backlog = 0;
    for (size_t i = 0; i < self->nown; i++) {
        self->own[i].sent = self->own[i].acked;
        backlog += self->own[i].hwm - self->own[i].acked;
    }
    knoop_info("link up to %s at %s: %zu subscriptions accepted, %zu refused; outbox %llu "
               "message(s) to send%s", b->id, b->endpoint, f->u.welcome.naccepted,
               f->u.welcome.nrefused, (unsigned long long) backlog,
               ahead ? "; the mesh holds later messages of our own streams: taking them back" : "");
    for (size_t i = 0; i < f->u.welcome.nrefused; i++) {
        node_set_error(self, "subscription refused: %s", f->u.welcome.refused[i].reason);
        knoop_warn("%s", self->last_error);
    }
}

/* DELIVER frames that arrived in one loop pass are stored together: one
 * durable commit (group commit), one ACK, and the CREDIT that gives the
 * broker its window back — for every envelope processed, stored or not. A
 * journal that cannot store (disk full) drops the link: nothing is ACKed, and
 * the next HELLO asks for it all again. */
int node_link_deliveries_parse(knoop_node_t *self, knoop_ingest_batch_t *b, knoop_ingest_t *in)
{
    return knoop_ingest_parse(self->in_frames, self->nin, &self->hlc,
                              self->brokers[self->broker_idx].id, b, in);
}

void node_link_deliveries_done(knoop_node_t *self, int rc, knoop_ingest_batch_t *b,
                               const int *res, knoop_ingest_t *in)
{
    if (rc == KNOOP_OK)
        knoop_ingest_finish(self->journal, b, res, self->brokers[self->broker_idx].id, in);
    knoop_ingest_batch_clear(b);
    for (size_t i = 0; i < self->nin; i++)
        knoop_frame_clear(&self->in_frames[i]);
    self->nin = 0;
    if (rc) {
        node_set_journal_error(self, rc);
        node_link_close(self, "deliveries could not be stored");
        self->next_attempt = knoop_now_ms() + 2000;
    } else {
        self->delivered_in += in->stored;
        if (in->stored)
            self->journal_grew = true;
        for (size_t i = 0; i < in->nacks; i++) {
            own_stream_t *o = node_own_find(self, in->acks[i].stream);
            knoop_stream_info_t info;
            if (o && in->acks[i].seq > o->hwm &&       /* our own, taken back */
                knoop_journal_stream(self->journal, o->stream, &info) == KNOOP_OK) {
                o->hwm = info.hwm;
                memcpy(o->head, info.head, KNOOP_HASH_LEN);
                /* The broker holds what it delivered (the other instance of a
                 * pair publishes this stream): nothing of it to send back. */
                if (o->acked < info.hwm)
                    o->acked = info.hwm;
                if (o->sent < o->acked)
                    o->sent = o->acked;
            }
        }
        if (in->nacks) {
            knoop_frame_t a = { .kind = KNOOP_FRAME_ACK };
            a.u.ack.acks = in->acks;
            a.u.ack.n = in->nacks;
            s_send(self, &a);
        }
        knoop_frame_t c = { .kind = KNOOP_FRAME_CREDIT };
        c.u.credit.msgs = in->msgs;
        c.u.credit.bytes = in->bytes;
        s_send(self, &c);
    }
    free(in->acks);
    in->acks = NULL;
    /* A certificate may arrive after messages it vouches for (another
     * stream, another batch): learn at once, and have them sent again. */
    if (rc == KNOOP_OK && in->refused) {
        self->trust_resync = true;
        node_trust_update(self);
    }
}

static void s_on_ack(knoop_node_t *self, const knoop_frame_t *f)
{
    self->last_upstream_ack = self->last_ack_at = knoop_now_ms();
    for (size_t i = 0; i < f->u.ack.n; i++) {
        own_stream_t *o = node_own_find(self, f->u.ack.acks[i].stream);
        if (!o)
            continue;
        /* A broker acknowledges its hwm, which can be beyond ours (what it
         * holds and our journal does not comes back in a catch-up). */
        uint64_t seq = f->u.ack.acks[i].seq < o->hwm ? f->u.ack.acks[i].seq : o->hwm;
        if (seq <= o->acked)
            continue;
        uint64_t done = seq - o->acked;
        self->inflight = done >= self->inflight ? 0 : self->inflight - done;
        o->acked = seq;
        if (o->sent < seq)
            o->sent = seq;
    }
}

/* ---- the broker's clock ---- */

#define CLOCK_WARN_MS      30000     /* a difference that is not network delay */
#define CLOCK_REWARN_MS    600000    /* repeated while it lasts */
#define CLOCK_RETRY_MAX_MS 60000     /* a clock-blocked stream is looked at again */

/* A broker's heartbeat carries its mesh's verdict (its peers, up and in
 * sync): kept as the broker said it, for status and the web picture. */
static void s_on_mesh(knoop_node_t *self, const knoop_frame_t *f)
{
    size_t n = f->u.heartbeat.nmesh;
    if (n > self->nmesh) {
        mesh_peer_t *m = realloc(self->mesh, n * sizeof *m);
        if (!m)
            return;                 /* keep the old view; the next heartbeat tries again */
        self->mesh = m;
    }
    for (size_t i = 0; i < n; i++) {
        const knoop_wire_mesh_peer_t *r = &f->u.heartbeat.mesh[i];
        mesh_peer_t *m = &self->mesh[i];
        snprintf(m->id, sizeof m->id, "%s", r->peer);
        m->up = r->up;
        m->in_sync = r->in_sync;
        m->last_sync_ms = r->last_sync_ms;
    }
    self->nmesh = n;
    self->has_mesh_digest = f->u.heartbeat.has_digest;
    memcpy(self->mesh_digest, f->u.heartbeat.digest, KNOOP_HASH_LEN);
    self->mesh_at = knoop_now_ms();
}

/* Heartbeats carry the broker's wall clock: a node whose clock is off is
 * told so (log, status, metrics), ahead or behind. Network delay is small
 * against the threshold. */
static void s_on_heartbeat(knoop_node_t *self, uint64_t broker_ms)
{
    if (!broker_ms)
        return;
    uint64_t now = knoop_now_ms();
    int64_t off = (int64_t) broker_ms - (int64_t) now;
    int64_t change = off - self->clock_offset_ms;
    if (self->clock_measured_at && (change > CLOCK_WARN_MS / 2 || change < -CLOCK_WARN_MS / 2))
        /* a clock was put right (or went wrong): what waits for the clock is
         * looked at again now, with the new offset */
        for (size_t i = 0; i < self->nown; i++)
            if (self->own[i].retry_at)
                self->own[i].retry_at = s_mono_ms();
    self->clock_offset_ms = off;
    self->clock_measured_at = now;
    int64_t mag = off < 0 ? -off : off;
    const char *bid = self->brokers[self->broker_idx].id;
    if (mag >= CLOCK_WARN_MS) {
        if (off < 0)
            snprintf(self->clock_warning, sizeof self->clock_warning,
                     "this node's clock is %lld s ahead of broker %s: messages dated more than "
                     "%u s ahead are refused until they are due (check NTP)",
                     (long long) (mag / 1000), bid, KNOOP_HLC_MAX_SKEW_MS / 1000);
        else
            snprintf(self->clock_warning, sizeof self->clock_warning,
                     "this node's clock is %lld s behind broker %s: its messages carry old "
                     "times and may lose to older news in the picture (check NTP)",
                     (long long) (mag / 1000), bid);
        if (!self->clock_skewed || now - self->clock_warned_at >= CLOCK_REWARN_MS) {
            knoop_warn("clock: %s", self->clock_warning);
            self->clock_warned_at = now;
        }
        self->clock_skewed = true;
    } else if (self->clock_skewed && mag < CLOCK_WARN_MS / 2) {
        knoop_info("clock: this node's clock agrees with broker %s again (%lld ms apart)", bid,
                   (long long) off);
        self->clock_skewed = false;
        self->clock_warning[0] = 0;
    }
}

/* A message refused as dated in the future becomes acceptable once the
 * broker's clock plus the allowed skew reaches it: when to offer it again,
 * by our clock and the broker's offset, looked at again at least every
 * CLOCK_RETRY_MAX_MS (clocks get fixed). */
static uint64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static uint64_t s_clock_retry_at(knoop_node_t *self, uint64_t stream, uint64_t seq)
{
    uint64_t now = knoop_now_ms(), at = now + CLOCK_RETRY_MAX_MS;
    knoop_buf_t b = { 0 };
    knoop_msg_t m;
    if (knoop_journal_get(self->journal, stream, seq, &b) == KNOOP_OK &&
        knoop_msg_parse(&m, b.data, b.len) == KNOOP_OK) {
        int64_t due = (int64_t) KNOOP_HLC_MS(m.b.hlc) - (int64_t) KNOOP_HLC_MAX_SKEW_MS -
                      self->clock_offset_ms + 1000;
        knoop_msg_clear(&m);
        if (due < (int64_t) now + 1000)
            due = (int64_t) now + 1000;
        if ((uint64_t) due < at)
            at = (uint64_t) due;
    }
    knoop_buf_free(&b);
    return s_mono_ms() + (at - now);
}

static void s_clock_retry(knoop_node_t *self, uint64_t wall)
{
    (void) wall;
    uint64_t now = s_mono_ms();
    for (size_t i = 0; i < self->nown; i++) {
        own_stream_t *o = &self->own[i];
        if (!o->blocked || !o->retry_at || now < o->retry_at)
            continue;
        knoop_info("offering %s from seq %llu again (refused before as dated in the future)",
                   o->topic, (unsigned long long) (o->acked + 1));
        o->blocked = false;
        o->retry_at = 0;
        uint64_t out = o->sent > o->acked ? o->sent - o->acked : 0;
        self->inflight = out >= self->inflight ? 0 : self->inflight - out;
        o->sent = o->acked;
    }
}

static void s_on_error(knoop_node_t *self, const knoop_frame_t *f)
{
    const char *bid = self->brokers[self->broker_idx].id;
    if (f->u.error.fatal && f->u.error.code == KNOOP_WERR_PROTOCOL && f->u.error.reason &&
        strncmp(f->u.error.reason, KNOOP_WIRE_NO_SESSION, strlen(KNOOP_WIRE_NO_SESSION)) == 0) {
        /* The broker dropped our session after a silence (this node, or the
         * link, was paused): not a refusal; say HELLO again to it. */
        knoop_info("broker %s dropped our session after a silence (this node or the link was "
                   "paused?): saying HELLO again", bid);
        node_link_close(self, "session dropped by the broker after a silence");
        self->next_attempt = knoop_now_ms();
        return;
    }
    own_stream_t *o = f->u.error.stream ? node_own_find(self, f->u.error.stream) : NULL;
    knoop_metrics_refusal(self->metrics, knoop_wire_err_name(f->u.error.code));
    if (o && !f->u.error.fatal && f->u.error.code == KNOOP_WERR_CHAIN &&
        f->u.error.seq > o->acked + 1 && self->last_error_at && self->last_error_refusal) {
        /* A gap behind a refusal that still stands (the broker could not
         * store an earlier message, e.g. its journal is full): the resend
         * from the first unacknowledged seq closes it. The earlier refusal
         * is the cause an operator must see, not this consequence. */
        knoop_debug("broker %s: %s (follows the refusal: %s)", bid, f->u.error.reason,
                    self->last_error);
        return;
    }
    node_set_error(self, "%s: %s: %s", bid, knoop_wire_err_name(f->u.error.code),
                   f->u.error.reason);
    self->last_error_refusal = !f->u.error.fatal;   /* fatal: the link goes down */
    knoop_warn("broker %s", self->last_error);
    /* CHAIN (a gap: earlier messages were lost on the way, e.g. the broker
     * could not store them) and FULL heal by sending again, which the
     * resend timer does; FORK needs a person, not a retry loop. The rest
     * (policy, identity, signature) the broker will never accept. */
    if (o && f->u.error.code != KNOOP_WERR_FULL && f->u.error.code != KNOOP_WERR_FORK &&
        f->u.error.code != KNOOP_WERR_CHAIN) {
        /* The broker will never take this message: sending it again would
         * block the stream forever. Stop and show it in status. */
        if (!o->blocked || f->u.error.seq < o->blocked_seq) {
            o->blocked_seq = f->u.error.seq;
            snprintf(o->blocked_reason, sizeof o->blocked_reason, "seq %llu: %s",
                     (unsigned long long) f->u.error.seq, f->u.error.reason);
        }
        o->blocked = true;
        /* Dated in the future: it becomes acceptable by itself. */
        o->retry_at = f->u.error.code == KNOOP_WERR_CLOCK
                          ? s_clock_retry_at(self, o->stream, o->blocked_seq) : 0;
        if (o->retry_at && !strstr(o->blocked_reason, "offered again"))
            snprintf(o->blocked_reason + strlen(o->blocked_reason),
                     sizeof o->blocked_reason - strlen(o->blocked_reason),
                     " (kept; offered again when due)");
    }
    if (f->u.error.fatal)
        s_failover(self, "broker closed the session");
}

/* One frame other than DELIVER, after the deliveries before it. */
static void s_on_frame(knoop_node_t *self, const knoop_frame_t *f)
{
    switch (f->kind) {
    case KNOOP_FRAME_WELCOME:
        s_on_welcome(self, f);
        break;
    case KNOOP_FRAME_CAUGHT_UP:
        self->caught_up = true;
        /* Everything the broker held when it read our HELLO is here now:
         * what a later HELLO may summarise as settled. */
        if (self->hello_hlc > self->complete_hlc) {
            self->complete_hlc = self->hello_hlc;
            self->complete_dirty = true;
        }
        self->catchup_done_at = knoop_now_ms();
        self->catchup_ms = self->catchup_done_at - self->catchup_start;
        self->catchup_msgs = f->u.caught_up.messages;
        self->catchup_streams = f->u.caught_up.streams;
        snprintf(self->catchup_broker, sizeof self->catchup_broker, "%s",
                 self->brokers[self->broker_idx].id);
        knoop_metrics_observe(self->metrics, "knoop_catchup_seconds", "",
                              (double) self->catchup_ms / 1000.0);
        knoop_metrics_set(self->metrics, "knoop_catchup_last_messages", "",
                          (double) self->catchup_msgs);
        knoop_info("caught up from %s: %llu messages in %llu streams in %llu ms",
                   self->brokers[self->broker_idx].id,
                   (unsigned long long) f->u.caught_up.messages,
                   (unsigned long long) f->u.caught_up.streams,
                   (unsigned long long) (knoop_now_ms() - self->catchup_start));
        break;
    case KNOOP_FRAME_ACK:
        s_on_ack(self, f);
        node_forward_on_ack(self, f);
        break;
    case KNOOP_FRAME_ERROR:
        s_on_error(self, f);
        node_forward_on_error(self, f);
        break;
    case KNOOP_FRAME_HEARTBEAT: {
        s_on_heartbeat(self, f->u.heartbeat.time_ms);
        s_on_mesh(self, f);
        /* Answered at once when we have been quiet for half an interval: a
         * broker sends its heartbeats in batches (every 200 ms, to the
         * sessions that fell due), so the answers of its idle sessions come
         * back together and its loop wakes for a batch instead of once per
         * partner at a time of the partner's choosing. */
        uint64_t now = knoop_now_ms();
        if (self->link == LINK_UP && now - self->last_sent >= s_heartbeat_ms(self) / 2) {
            s_heartbeat(self, now);
            self->heartbeats_answered++;
        }
        break;
    }
    case KNOOP_FRAME_INSTANCES:
        node_standby_on_instances(self, f);
        break;
    default:
        break;
    }
}

/* Frames from the broker. DELIVERs are collected in self->in_frames and
 * stored by the pass's one commit (node.c), with the publish batch and the
 * durable cursors. A frame of another kind that follows deliveries waits
 * (self->stash) until they are committed, so it still comes after them;
 * the next pass handles it first. */
void node_link_read(knoop_node_t *self)
{
    if (self->stashed) {
        self->stashed = false;
        s_on_frame(self, &self->stash);
        knoop_frame_clear(&self->stash);
    }
    for (int i = 0; self->dealer && i < 1024; i++) {
        int rc = knoop_link_recv_dealer(self->dealer, &self->data);
        if (rc == KNOOP_EAGAIN)
            break;
        if (rc)
            continue;
        knoop_frame_t f;
        rc = knoop_frame_decode(&f, self->data.data, self->data.len);
        if (rc) {
            knoop_warn("frame from broker refused: %s", knoop_strerror(rc));
            continue;
        }
        self->last_heard = knoop_now_ms();
        if (f.kind == KNOOP_FRAME_DELIVER) {
            self->in_frames[self->nin++] = f;   /* stored by the pass's commit */
            if (self->nin == NODE_DELIVER_FRAMES)
                break;          /* one group commit per pass, then the rest of the loop */
            continue;
        }
        if (self->nin) {
            self->stash = f;                    /* after the commit of what came before */
            self->stashed = true;
            break;
        }
        s_on_frame(self, &f);
        knoop_frame_clear(&f);
    }
}

static int s_outbox_take(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                         const uint8_t *env, size_t len)
{
    return knoop_batch_take(arg, pos, stream, seq, env, len);
}

void node_link_send_outbox(knoop_node_t *self)
{
    if (self->link != LINK_UP)
        return;
    knoop_batch_t *o = NULL;
    for (size_t i = 0; i < self->nown && self->inflight < self->window; i++) {
        own_stream_t *s = &self->own[i];
        while (!s->blocked && s->sent < s->hwm && self->inflight < self->window) {
            if (!o && !(o = calloc(1, sizeof *o)))
                return;
            knoop_batch_start(o, self->window - self->inflight, FRAME_BYTES);
            knoop_journal_read_stream(self->journal, s->stream, s->sent + 1, s->hwm,
                                      s_outbox_take, o);
            if (!o->n)
                break;
            knoop_bytes_t envs[KNOOP_BATCH_MAX];
            for (size_t k = 0; k < o->n; k++) {
                envs[k].data = knoop_batch_env(o, k);
                envs[k].len = o->item[k].len;
            }
            knoop_frame_t f = { .kind = KNOOP_FRAME_PUBLISH };
            f.u.batch.envs = envs;
            f.u.batch.n = o->n;
            /* The ACK timer runs from the first message in flight, not from
             * the last ACK of an idle spell (that resent at once). */
            if (!self->inflight)
                self->last_upstream_ack = knoop_now_ms();
            if (s_send(self, &f) != KNOOP_OK)
                break;
            s->sent = o->item[o->n - 1].seq;
            self->inflight += o->n;
            knoop_metrics_stream_out(self->metrics, "knoop_messages_out_total", s->stream,
                                     envs[0].data, envs[0].len, NULL, (double) o->n);
        }
    }
    if (o) {
        knoop_batch_free(o);
        free(o);
    }
}

/* For status: link state as JSON fields. */
const char *node_link_state_name(const knoop_node_t *self);
const char *node_link_state_name(const knoop_node_t *self)
{
    return s_state_name(self->link);
}
