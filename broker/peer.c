/* peer.c — the broker's pull links to the other brokers of the mesh.
 *
 * Each broker connects to every peer it is configured with, as a CURVE
 * client under its own broker identity, and says HELLO{peer} with the full
 * vector of what it holds. The peer answers as it does for a node — catch-up
 * of everything we lack, FLASH first, then live delivery of everything it
 * stores — with no policy filter: brokers hold every message. Messages reach
 * us by as many routes as there are peers; the journal stores each once.
 *
 * Anti-entropy: every anti_entropy_ms we send SYNC with the digest of our
 * whole journal and the peer answers with its own. Equal: in sync. Different
 * twice in a row (live traffic makes a single difference normal): we say
 * HELLO again with our full vector, and the peer sends what we lack. With
 * every broker pulling from every other, each pair converges both ways. */
#include "broker_int.h"
#include "crypto.h"
#include "ingest.h"
#include "settled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_MS   500
#define WINDOW     8192

void broker_digest(knoop_broker_t *self, uint8_t digest[KNOOP_HASH_LEN], uint64_t *streams,
                   uint64_t *messages)
{
    knoop_stream_info_t *rows = NULL;
    size_t n = 0;
    knoop_journal_vector(self->journal, NULL, &rows, &n);
    knoop_vector_digest(rows, n, digest);
    uint64_t s = 0, m = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].hwm) {
            s++;
            m += rows[i].hwm;
        }
    if (streams)
        *streams = s;
    if (messages)
        *messages = m;
    free(rows);
}

/* The journal cursor keeping complete_hlc for peer p. */
static void s_complete_name(const peer_t *p, char *out, size_t size)
{
    snprintf(out, size, "peer.complete_hlc.%s", p->id);
}

static void s_complete_load(knoop_broker_t *self, peer_t *p)
{
    char name[KNOOP_ID_MAX + 32];
    s_complete_name(p, name, sizeof name);
    knoop_buf_t b = { 0 };
    if (knoop_journal_cursor_get(self->journal, name, &b) == KNOOP_OK && b.len == 8)
        p->complete_hlc = p->complete_saved = knoop_get_be64(b.data);
    knoop_buf_free(&b);
}

/* Record p's complete_hlc when it changed (a small durable write: at a
 * caught-up, and while live at most every KNOOP_SETTLED_WRITE_MS). */
static void s_complete_save(knoop_broker_t *self, peer_t *p)
{
    if (p->complete_hlc == p->complete_saved)
        return;
    char name[KNOOP_ID_MAX + 32];
    uint8_t v[8];
    s_complete_name(p, name, sizeof name);
    knoop_put_be64(v, p->complete_hlc);
    p->complete_written_at = knoop_now_ms();
    if (knoop_journal_cursor_put(self->journal, name, v, sizeof v) == KNOOP_OK)
        p->complete_saved = p->complete_hlc;
}

int broker_peers_init(knoop_broker_t *self)
{
    self->peers = calloc(self->opts.npeers ? self->opts.npeers : 1, sizeof *self->peers);
    if (!self->peers)
        return KNOOP_ENOMEM;
    for (size_t i = 0; i < self->opts.npeers; i++) {
        const char *spec = self->opts.peers[i];
        const char *at = strchr(spec, '@');
        peer_t *p = &self->peers[self->npeers];
        if (!at || at == spec) {
            knoop_error("broker: --peer %s: write it as ID@ENDPOINT, e.g. "
                        "kcr2-broker-2@tcp://10.0.2.1:7400", spec);
            return KNOOP_EINVAL;
        }
        snprintf(p->id, sizeof p->id, "%.*s", (int) (at - spec), spec);
        snprintf(p->endpoint, sizeof p->endpoint, "%s", at + 1);
        const knoop_cert_t *c = knoop_trust_by_id(self->trust, p->id);
        if (!c) {
            knoop_error("broker: --peer %s: no certificate for '%s' in the trust store", spec, p->id);
            return KNOOP_EUNKNOWN;
        }
        if (strcmp(c->role, "broker") != 0) {
            knoop_error("broker: --peer %s: '%s' has role '%s'; only brokers peer", spec, p->id,
                        c->role);
            return KNOOP_EPERM;
        }
        if (strcmp(p->id, self->id) == 0) {
            knoop_error("broker: --peer %s: a broker does not peer with itself", spec);
            return KNOOP_EINVAL;
        }
        p->cert = *c;
        s_complete_load(self, p);
        self->npeers++;
    }
    return KNOOP_OK;
}

static int s_send(knoop_broker_t *self, peer_t *p, const knoop_frame_t *f)
{
    self->out.len = 0;
    int rc = knoop_frame_encode(f, &self->out);
    if (rc == KNOOP_OK)
        rc = knoop_link_send_dealer(p->dealer, self->out.data, self->out.len);
    if (rc == KNOOP_OK)
        p->last_sent = knoop_now_ms();
    return rc;
}

static void s_hello(knoop_broker_t *self, peer_t *p);

/* A link came up or went down: the other peers hear at once (a new HELLO)
 * which brokers we now get messages from directly, so that they relay
 * what we no longer get ourselves, or stop relaying what we do. The HELLO's
 * vector makes them send any gap the change left. */
static void s_links_changed(knoop_broker_t *self, const peer_t *changed)
{
    for (size_t i = 0; i < self->npeers; i++) {
        peer_t *o = &self->peers[i];
        if (o != changed && o->dealer)     /* up, or its HELLO on the way */
            s_hello(self, o);
    }
}

/* Close the link to p; `why` is logged as a warning when the link was up,
 * unless quiet (the caller logged the matter of course itself). */
static void s_close_as(knoop_broker_t *self, peer_t *p, const char *why, bool quiet)
{
    if (!p->dealer)
        return;
    if (p->state == 2 && !quiet)
        knoop_warn("peer %s: link lost: %s", p->id, why);
    if (p->state == 1)
        p->key_try++;               /* never got in: try its next key */
    knoop_sock_destroy(&p->dealer);
    broker_instances_peer_gone(self, p->id);     /* its pair rows are no longer live */
    p->state = 0;
    p->in_sync = false;
    p->caught_up = false;
    p->next_attempt = knoop_now_ms() + RETRY_MS;
    if (p->linked) {
        p->linked = false;
        if (self->peers)
            s_links_changed(self, p);
    }
}

static void s_close(knoop_broker_t *self, peer_t *p, const char *why)
{
    s_close_as(self, p, why, false);
}

void broker_peers_close(knoop_broker_t *self)
{
    for (size_t i = 0; i < self->npeers; i++) {
        self->peers[i].linked = false;     /* stopping: no new HELLOs */
        s_complete_save(self, &self->peers[i]);
    }
    for (size_t i = 0; i < self->npeers; i++)
        s_close(self, &self->peers[i], "broker stopping");
    free(self->peers);
    self->peers = NULL;
    self->npeers = 0;
    free(self->sources);
    self->sources = NULL;
    self->nsources = self->sources_cap = 0;
}

/* HELLO with everything we hold: by name what may still change, the rest
 * summarised as of our last complete catch-up from p (docs/protocol.md,
 * "The settled summary"). */
static void s_hello(knoop_broker_t *self, peer_t *p)
{
    knoop_stream_info_t *rows = NULL;
    size_t n = 0;
    knoop_journal_vector(self->journal, NULL, &rows, &n);
    knoop_wire_pos_t *vec = calloc(n ? n : 1, sizeof *vec);
    p->hello_hlc = knoop_hlc_now(&self->hlc);
    uint64_t t = knoop_settled_as_of(p->complete_hlc, self->opts.settled_margin_ms, n,
                                     p->hello_hlc);
    knoop_settled_t *st = t && vec ? malloc(sizeof *st) : NULL;
    if (!st)
        t = 0;
    size_t nv = 0;
    char who[KNOOP_ID_MAX + 8];
    snprintf(who, sizeof who, "peer %s", p->id);
    if (vec)
        t = knoop_settled_hello(self->journal, rows, n, t,
                                knoop_settled_since(p->hello_hlc, self->opts.settled_margin_ms),
                                self->id, true, NULL, 0, who, vec, &nv, st, NULL);
    /* The peers we pull from directly, links up (see s_links_changed). */
    const char **linked = calloc(self->npeers ? self->npeers : 1, sizeof *linked);
    size_t nlinked = 0;
    for (size_t i = 0; linked && i < self->npeers; i++)
        if (&self->peers[i] != p && self->peers[i].linked)
            linked[nlinked++] = self->peers[i].id;
    const char *all[1] = { ">" };
    knoop_frame_t f = { .kind = KNOOP_FRAME_HELLO,
                        .u.hello = { .partner = self->id, .subs = all, .nsubs = 1,
                                     .vector = vec, .nvector = nv,
                                     .credit_msgs = WINDOW, .credit_bytes = 256u << 20,
                                     .software = "knoop-broker " KNOOP_VERSION, .peer = true,
                                     .linked = linked, .nlinked = nlinked,
                                     .settled_hlc = t, .settled = st ? st->bucket : NULL,
                                     .nsettled = st ? st->n : 0 } };
    int rc = s_send(self, p, &f);
    knoop_info("peer %s: HELLO: %zu streams named, %llu settled in %zu buckets", p->id, nv,
               (unsigned long long) (st ? st->rows : 0), st ? st->n : (size_t) 0);
    free(st);
    free(linked);
    if (rc)
        knoop_warn("peer %s: HELLO not sent: %s", p->id, knoop_strerror(rc));
    p->state = 1;
    p->hellos++;                /* a new session: the window starts again */
    p->since = p->last_heard = knoop_now_ms();
    p->received = 0;
    p->caught_up = false;
    p->sync_diffs = 0;
    free(vec);
    free(rows);
}

static void s_connect(knoop_broker_t *self, peer_t *p)
{
    /* After its key rotation was announced the store holds both keys; a
     * failed handshake moves key_try on (s_close): the peer is reached on
     * whichever key it runs. */
    knoop_trust_pin_server(self->trust, "peer", p->id, p->key_try, &p->cert);
    p->dealer = knoop_link_dealer();
    if (!p->dealer || knoop_link_curve_client(p->dealer, self->key, &p->cert, 5000) ||
        knoop_sock_connect(p->dealer, p->endpoint) != KNOOP_OK) {
        knoop_error("peer %s: cannot connect to %s", p->id, p->endpoint);
        knoop_sock_destroy(&p->dealer);
        p->next_attempt = knoop_now_ms() + RETRY_MS;
        return;
    }
    s_hello(self, p);
}

void broker_peers_step(knoop_broker_t *self)
{
    uint64_t now = knoop_now_ms();
    for (size_t i = 0; i < self->npeers; i++) {
        peer_t *p = &self->peers[i];
        switch (p->state) {
        case 0:
            if (now >= p->next_attempt)
                s_connect(self, p);
            break;
        case 1:
            if (now - p->since > (uint64_t) self->opts.timeout_ms) {
                knoop_debug("peer %s: no WELCOME within %d ms; retrying", p->id,
                            self->opts.timeout_ms);
                s_close(self, p, "no answer to HELLO");
            }
            break;
        case 2:
            if (now - p->last_heard > (uint64_t) self->opts.timeout_ms) {
                s_close(self, p, "nothing heard within the timeout (partition?)");
                break;
            }
            if (p->caught_up && KNOOP_HLC_MAKE(now - KNOOP_SETTLED_LAG_MS, 0) > p->complete_hlc) {
                /* live and caught up: what it stores reaches us */
                p->complete_hlc = KNOOP_HLC_MAKE(now - KNOOP_SETTLED_LAG_MS, 0);
                if (now - p->complete_written_at >= KNOOP_SETTLED_WRITE_MS)
                    s_complete_save(self, p);
            }
            if (now - p->last_sync_sent >= (uint64_t) self->opts.anti_entropy_ms && p->caught_up) {
                knoop_frame_t f = { .kind = KNOOP_FRAME_SYNC };
                broker_digest(self, f.u.sync.digest, &f.u.sync.streams, &f.u.sync.messages);
                s_send(self, p, &f);
                p->last_sync_sent = now;
            } else if (now - p->last_sent >= (uint64_t) self->opts.heartbeat_ms) {
                knoop_frame_t f = { .kind = KNOOP_FRAME_HEARTBEAT };
                f.u.heartbeat.time_ms = now;
                s_send(self, p, &f);
            }
            break;
        }
    }
}

void broker_mesh_view(knoop_broker_t *self, knoop_wire_mesh_peer_t *rows, knoop_frame_t *hb)
{
    size_t n = self->npeers < KNOOP_WIRE_MESH_MAX ? self->npeers : KNOOP_WIRE_MESH_MAX;
    for (size_t i = 0; i < n; i++) {
        const peer_t *p = &self->peers[i];
        rows[i] = (knoop_wire_mesh_peer_t) { .peer = p->id, .up = p->state == 2,
                                             .in_sync = p->in_sync,
                                             .last_sync_ms = p->last_sync_at };
    }
    hb->u.heartbeat.mesh = rows;
    hb->u.heartbeat.nmesh = n;
    hb->u.heartbeat.has_digest = self->has_mesh_digest;
    memcpy(hb->u.heartbeat.digest, self->mesh_digest, KNOOP_HASH_LEN);
}

static void s_on_sync(knoop_broker_t *self, peer_t *p, const knoop_frame_t *f)
{
    uint8_t mine[KNOOP_HASH_LEN];
    uint64_t streams, messages;
    broker_digest(self, mine, &streams, &messages);
    p->last_sync_at = knoop_now_ms();
    memcpy(self->mesh_digest, mine, KNOOP_HASH_LEN);
    self->has_mesh_digest = true;
    if (memcmp(mine, f->u.sync.digest, KNOOP_HASH_LEN) == 0) {
        if (!p->in_sync)
            knoop_info("peer %s: in sync (%llu streams, %llu messages)", p->id,
                       (unsigned long long) streams, (unsigned long long) messages);
        p->in_sync = true;
        p->sync_diffs = 0;
        return;
    }
    p->in_sync = false;
    if (++p->sync_diffs >= 2) {
        knoop_info("peer %s: digests differ (we hold %llu messages, it %llu): comparing vectors",
                   p->id, (unsigned long long) messages, (unsigned long long) f->u.sync.messages);
        s_hello(self, p);
    }
}

#define PEER_FRAMES 8

/* Drop the sources no peer session can still meet in live delivery: those
 * wholly before the lowest log position of any peer session. */
static void s_sources_prune(knoop_broker_t *self)
{
    uint64_t low = knoop_journal_next_pos(self->journal);
    for (session_t *s = self->sessions; s; s = s->next)
        if (s->peer && s->log_pos < low)
            low = s->log_pos;
    size_t k = 0;
    while (k < self->nsources && self->sources[k].to <= low)
        k++;
    if (k) {
        memmove(self->sources, self->sources + k, (self->nsources - k) * sizeof *self->sources);
        self->nsources -= k;
    }
}

/* Remember that log positions [from, to) came from peer p. */
static void s_source(knoop_broker_t *self, const peer_t *p, uint64_t from, uint64_t to)
{
    if (to <= from)
        return;
    size_t idx = (size_t) (p - self->peers);
    if (self->nsources && self->sources[self->nsources - 1].peer == idx &&
        self->sources[self->nsources - 1].to == from) {
        self->sources[self->nsources - 1].to = to;
        return;
    }
    if (self->nsources >= 64)
        s_sources_prune(self);
    log_source_t *ns = knoop_array_grow(self->sources, self->nsources, &self->sources_cap,
                                        sizeof *ns, 64);
    if (!ns)
        return;     /* unknown source: it is sent back, as before (an echo, not a loss) */
    self->sources = ns;
    self->sources[self->nsources++] = (log_source_t) { from, to, idx };
}

const peer_t *broker_log_source(const knoop_broker_t *self, uint64_t pos)
{
    size_t lo = 0, hi = self->nsources;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->sources[mid].to <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < self->nsources && self->sources[lo].from <= pos)
        return &self->peers[self->sources[lo].peer];
    return NULL;
}

/* The DELIVERs read from p in one pass: their envelopes within their
 * origin's share of the pass (fair.c) are stored in one commit, the others
 * kept for a later pass; then the ACK, and the window returned for what is
 * not kept. False when the link was dropped (nothing stored). */
static bool s_store(knoop_broker_t *self, peer_t *p, knoop_frame_t *frames, size_t *n)
{
    if (!*n)
        return true;
    knoop_ingest_batch_t b;
    knoop_ingest_t in;
    uint64_t pos0 = knoop_journal_next_pos(self->journal);
    uint32_t kept = 0;
    uint64_t kept_bytes = 0;
    const knoop_msg_t **now = NULL;
    int *res = NULL;
    size_t k = 0;
    int rc = knoop_ingest_parse(frames, *n, NULL, p->id, &b, &in);
    if (rc == KNOOP_OK && b.n) {
        now = malloc(b.n * sizeof *now);
        res = calloc(b.n, sizeof *res);
        if (!now || !res)
            rc = KNOOP_ENOMEM;
    }
    /* Of more than one origin: they compete for the pass, whatever their order. */
    bool mixed = false;
    for (size_t i = 1; i < b.n && !mixed; i++)
        mixed = strcmp(b.ptrs[i]->b.origin, b.ptrs[0]->b.origin) != 0;
    for (size_t i = 0; rc == KNOOP_OK && i < b.n; i++) {
        const char *origin = b.ptrs[i]->b.origin;
        if (broker_fair_forwarded_take(self, origin, mixed)) {
            now[k++] = b.ptrs[i];
        } else if (broker_fair_forwarded_keep(self, p, origin, b.envs[i]) == KNOOP_OK) {
            kept++;
            kept_bytes += b.envs[i].len;
        }
        /* else not kept (logged and counted): its window comes back, the
         * next HELLO or anti-entropy fetches it again */
    }
    if (rc == KNOOP_OK && k)
        rc = knoop_journal_append(self->journal, now, k, res);
    if (rc == KNOOP_OK && k) {
        s_source(self, p, pos0, knoop_journal_next_pos(self->journal));
        knoop_ingest_batch_t v = { .ptrs = now, .n = k };
        knoop_ingest_finish(self->journal, &v, res, p->id, &in);
    }
    free(now);
    free(res);
    knoop_ingest_batch_clear(&b);
    for (size_t i = 0; i < *n; i++)
        knoop_frame_clear(&frames[i]);
    *n = 0;
    if (rc) {
        /* Not stored: drop the link; the next HELLO asks again. */
        free(in.acks);
        s_close(self, p, "deliveries could not be stored");
        return false;
    }
    p->received += in.msgs;
    p->in_msgs += in.msgs;
    p->in_stored += in.stored;
    p->in_duplicates += in.duplicates;
    p->in_refused += in.refused;
    if (in.nacks) {
        knoop_frame_t a = { .kind = KNOOP_FRAME_ACK };
        a.u.ack.acks = in.acks;
        a.u.ack.n = in.nacks;
        s_send(self, p, &a);
    }
    /* What is kept holds its share of the window until it is stored. */
    knoop_frame_t c = { .kind = KNOOP_FRAME_CREDIT };
    c.u.credit.msgs = in.msgs - kept;
    c.u.credit.bytes = in.bytes - kept_bytes;
    if (c.u.credit.msgs)
        s_send(self, p, &c);
    free(in.acks);
    return true;
}

/* The forwarded envelopes kept in earlier passes whose origin is within its
 * share now (fair.c), stored per peer they came from: one commit each, the
 * positions recorded as that peer's (so they are not echoed back to it,
 * send_deliver.c), then to that peer (in the same session) the ACK of its
 * streams and their window back. */
static void s_store_kept_from(knoop_broker_t *self, size_t j, const fair_fwd_t *due, size_t n,
                              knoop_bytes_t *envs, int *res)
{
    peer_t *p = &self->peers[j];
    size_t k = 0;
    knoop_frame_t c = { .kind = KNOOP_FRAME_CREDIT };
    for (size_t i = 0; i < n; i++) {
        if (due[i].peer != j)
            continue;
        envs[k++] = (knoop_bytes_t) { due[i].data, due[i].len };
        if (due[i].hello == p->hellos) {
            c.u.credit.msgs++;
            c.u.credit.bytes += due[i].len;
        }
    }
    if (!k)
        return;
    knoop_ingest_batch_t b = { 0 };
    knoop_ingest_t in = { 0 };
    knoop_frame_t f = { .kind = KNOOP_FRAME_DELIVER };
    f.u.batch.envs = envs;
    f.u.batch.n = k;
    uint64_t pos0 = knoop_journal_next_pos(self->journal);
    memset(res, 0, k * sizeof *res);
    int rc = knoop_ingest_parse(&f, 1, NULL, p->id, &b, &in);
    /* They parsed when they came: b.n == k. */
    if (rc == KNOOP_OK && b.n != k)
        rc = KNOOP_EINVAL;
    if (rc == KNOOP_OK)
        rc = knoop_journal_append(self->journal, b.ptrs, b.n, res);
    if (rc == KNOOP_OK) {
        s_source(self, p, pos0, knoop_journal_next_pos(self->journal));
        knoop_ingest_finish(self->journal, &b, res, p->id, &in);
        for (size_t i = 0; i < k; i++) {
            p->in_stored += res[i] == KNOOP_OK;
            p->in_duplicates += res[i] == KNOOP_EDUPLICATE;
            p->in_refused += res[i] != KNOOP_OK && res[i] != KNOOP_EDUPLICATE;
        }
    } else {
        knoop_warn("broker: %zu forwarded messages from %s kept for fairness not stored: %s; "
                   "it sends them again after the next HELLO", k, p->id, knoop_strerror(rc));
    }
    if (c.u.credit.msgs && p->dealer) {
        if (rc != KNOOP_OK) {
            s_close(self, p, "forwarded messages kept for fairness could not be stored");
        } else {
            if (in.nacks) {
                knoop_frame_t a = { .kind = KNOOP_FRAME_ACK };
                a.u.ack.acks = in.acks;
                a.u.ack.n = in.nacks;
                s_send(self, p, &a);
            }
            s_send(self, p, &c);
        }
    }
    free(in.acks);
    knoop_ingest_batch_clear(&b);
}

static void s_store_kept(knoop_broker_t *self)
{
    fair_fwd_t *due = NULL;
    size_t n = broker_fair_forwarded_due(self, &due);
    if (!n)
        return;
    knoop_bytes_t *envs = malloc(n * sizeof *envs);
    int *res = malloc(n * sizeof *res);
    if (envs && res)
        for (size_t j = 0; j < self->npeers; j++)
            s_store_kept_from(self, j, due, n, envs, res);
    else    /* their windows would stay taken: a new session gives them back */
        for (size_t i = 0; i < n; i++)
            if (self->peers[due[i].peer].dealer)
                s_close(self, &self->peers[due[i].peer], "out of memory for forwarded "
                        "messages kept for fairness; they are sent again after the HELLO");
    for (size_t i = 0; i < n; i++)
        free(due[i].data);
    free(due);
    free(envs);
    free(res);
}

static void s_read_one(knoop_broker_t *self, peer_t *p)
{
    knoop_frame_t frames[PEER_FRAMES];
    size_t nd = 0;
    /* A few DELIVERs per pass: a large catch-up must not keep the loop from
     * its nodes, its other peers and its heartbeats. */
    for (int k = 0; p->dealer && k < 64 && nd < PEER_FRAMES; k++) {
        int rc = knoop_link_recv_dealer(p->dealer, &self->data);
        if (rc == KNOOP_EAGAIN)
            break;
        if (rc)
            continue;
        knoop_frame_t f;
        if (knoop_frame_decode(&f, self->data.data, self->data.len) != KNOOP_OK) {
            knoop_warn("peer %s: frame refused", p->id);
            continue;
        }
        p->last_heard = knoop_now_ms();
        if (f.kind == KNOOP_FRAME_DELIVER) {
            frames[nd++] = f;
            continue;
        }
        /* Anything else comes after the deliveries before it. */
        if (!s_store(self, p, frames, &nd)) {
            knoop_frame_clear(&f);
            return;
        }
        switch (f.kind) {
        case KNOOP_FRAME_WELCOME:
            p->state = 2;
            p->planned = f.u.welcome.planned;
            p->catchup_start = knoop_now_ms();
            knoop_info("peer %s at %s: link up; catch-up of %llu messages", p->id, p->endpoint,
                       (unsigned long long) p->planned);
            if (!p->linked) {
                p->linked = true;
                s_links_changed(self, p);
            }
            break;
        case KNOOP_FRAME_CAUGHT_UP:
            p->caught_up = true;
            p->last_sync_sent = 0;       /* compare digests at once */
            if (p->hello_hlc > p->complete_hlc) {
                p->complete_hlc = p->hello_hlc;
                s_complete_save(self, p);
            }
            knoop_info("peer %s: caught up: %llu messages in %llu streams in %llu ms", p->id,
                       (unsigned long long) f.u.caught_up.messages,
                       (unsigned long long) f.u.caught_up.streams,
                       (unsigned long long) (knoop_now_ms() - p->catchup_start));
            break;
        case KNOOP_FRAME_SYNC:
            s_on_sync(self, p, &f);
            break;
        case KNOOP_FRAME_INSTANCES:
            broker_instances_on_peer(self, p->id, &f);
            break;
        case KNOOP_FRAME_ERROR:
            if (f.u.error.fatal && f.u.error.code == KNOOP_WERR_PROTOCOL && f.u.error.reason &&
                strncmp(f.u.error.reason, KNOOP_WIRE_NO_SESSION,
                        strlen(KNOOP_WIRE_NO_SESSION)) == 0) {
                /* It dropped our session after a silence (we, or the link,
                 * were paused): not a protocol error; link again. */
                knoop_info("peer %s dropped our session after a silence (this broker or the "
                           "link was paused?): linking again with HELLO", p->id);
                s_close_as(self, p, "session dropped by the peer", true);
                break;
            }
            knoop_warn("peer %s: %s: %s", p->id, knoop_wire_err_name(f.u.error.code),
                       f.u.error.reason);
            if (f.u.error.fatal)
                s_close(self, p, "the peer closed the session");
            break;
        default:
            break;
        }
        knoop_frame_clear(&f);
    }
    s_store(self, p, frames, &nd);
}

void broker_peers_read(knoop_broker_t *self)
{
    s_store_kept(self);      /* before anything new: order per origin */
    for (size_t i = 0; i < self->npeers; i++)
        s_read_one(self, &self->peers[i]);
}

void broker_peers_refetch(knoop_broker_t *self)
{
    size_t n = knoop_journal_damaged(self->journal, NULL);
    uint64_t now = knoop_now_ms();
    if (!n || (n == self->damage_asked_n && now - self->damage_asked_at < 30000))
        return;
    self->damage_asked_n = n;
    self->damage_asked_at = now;
    size_t asked = 0;
    for (size_t i = 0; i < self->npeers; i++)
        if (self->peers[i].state == 2) {
            s_hello(self, &self->peers[i]);
            asked++;
        }
    if (asked)
        knoop_warn("broker: %zu damaged message(s) in the journal: asked %zu peer(s) for them "
                   "again", n, asked);
    else
        knoop_error("broker: %zu damaged message(s) in the journal and no peer up to take "
                    "them from: they are not delivered until one is", n);
}
