/* fair.c — per-partner fairness in the broker's loop (catalogue S9).
 *
 * Each loop pass builds one batch and commits it once (broker.c). Without a
 * bound, a partner publishing at a hundred times the others' rate fills
 * that batch with its own envelopes (up to its PUBLISH window of 4,096), and
 * every other partner's message waits for their checks and their commit.
 * So each session may put at most opts.fair_share envelopes into one pass.
 * What is beyond the share (the rest of a frame, or whole frames) is kept,
 * in order, on the session and handled at the start of a later pass, before
 * anything new is read: the flooder is served at its share per pass,
 * round-robin with the others, and the others' messages go into the next
 * commit. Order is kept: while a session has envelopes waiting, its new
 * frames wait behind them. Work-conserving: when no other session put
 * anything into the pass, the one publisher's waiting envelopes fill it up
 * (broker_fair_topup), so a partner alone is not slowed.
 *
 * What waits is bounded by the partner's window; a partner that ignores
 * its window and has more than FAIR_MAX_BYTES waiting gets ERROR FULL
 * ("retry later") for the excess, and resends it as for any FULL.
 *
 * Counted per session (status: sessions[].throttled) and in total (status
 * fair.throttled_frames, metric knoop_fair_throttled_frames_total), and
 * logged when a partner starts being throttled, at most every 10 s each.
 *
 * Across the mesh (the forwarded path): what a peer broker delivers is
 * stored by peer.c, outside the batch, in a commit of its own each pass. A
 * partner flooding at broker A reaches broker B that way, so B counts each
 * forwarded envelope against its ORIGIN's share of the pass, whichever peer
 * link it came over: neither the peer (which carries every origin) is
 * throttled for it, nor can the flood bypass the bound by arriving from a
 * peer. An origin over its share while others compete (they have forwarded
 * envelopes in the pass or read with its own, or some waiting, or B's own
 * partners published in the last pass) has the rest kept (a copy, in arrival order) and stored in later
 * passes, before anything new of that origin; alone, it may take up to
 * FAIR_TOPUP a pass. Kept envelopes hold their CREDIT until they are
 * stored, so the peer's window bounds them; a peer ignoring its window gets
 * no more than FAIR_MAX_BYTES kept in all (the excess is not stored: the
 * next HELLO or anti-entropy fetches it again). Counted per origin (status
 * fair.forwarded.origins[]: kept, waiting, the most stored in one pass while
 * others competed) and in total (fair.forwarded, metric
 * knoop_fair_forwarded_kept_total).
 */
#include "broker_int.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

#define FAIR_MAX_BYTES (64u << 20)  /* kept per session before FULL */
#define FAIR_LOG_MS    10000
#define FAIR_TOPUP     4096         /* envelopes a lone publisher may add to a pass */

struct fair_frame {
    uint8_t *data;
    size_t   len;
    size_t   envelopes;
    size_t   from;       /* envelopes before this one were handled already */
};

static size_t s_taken(const knoop_broker_t *self, session_t *s)
{
    if (s->fair_pass != self->pass) {
        s->fair_pass = self->pass;
        s->fair_taken = 0;
    }
    return s->fair_taken;
}

/* Handle envelopes [from, from + n) of a decoded PUBLISH frame. */
static void s_handle(knoop_broker_t *self, session_t *s, const knoop_frame_t *f, size_t from,
                     size_t n)
{
    knoop_frame_t part = *f;
    part.u.batch.envs = f->u.batch.envs + from;
    part.u.batch.n = n;
    if (n && !s->fair_taken)
        self->fair_takers++;            /* s_taken has put s in this pass */
    s->fair_taken += n;
    handle_publish(self, s, &part);   /* never drops the session */
}

static bool s_keep(knoop_broker_t *self, session_t *s, const uint8_t *raw, size_t len,
                   size_t envelopes, size_t from)
{
    if (s->fair_bytes + len > FAIR_MAX_BYTES)
        return false;
    if (s->fair_n == s->fair_cap) {
        if (s->fair_head) {   /* compact before growing */
            memmove(s->fair_q, s->fair_q + s->fair_head,
                    (s->fair_n - s->fair_head) * sizeof *s->fair_q);
            s->fair_n -= s->fair_head;
            s->fair_head = 0;
        }
        if (s->fair_n == s->fair_cap) {
            size_t cap = s->fair_cap ? 2 * s->fair_cap : 16;
            struct fair_frame *q = realloc(s->fair_q, cap * sizeof *q);
            if (!q)
                return false;
            s->fair_q = q;
            s->fair_cap = cap;
        }
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return false;
    memcpy(copy, raw, len);
    if (s->fair_head == s->fair_n)
        self->fair_queued++;
    s->fair_q[s->fair_n++] = (struct fair_frame) { copy, len, envelopes, from };
    s->fair_bytes += len;
    s->throttled++;
    self->throttled_frames++;
    uint64_t now = knoop_now_ms();
    if (s->fair_n - s->fair_head == 1 && now - s->throttled_logged >= FAIR_LOG_MS) {
        s->throttled_logged = now;
        knoop_warn("broker: partner %s throttled: over its fair share of %zu messages per loop "
                   "pass while others publish; the rest waits its turn (%llu frames so far)",
                   s->partner, self->opts.fair_share, (unsigned long long) s->throttled);
    }
    return true;
}

void broker_fair_publish(knoop_broker_t *self, session_t *s, const knoop_frame_t *f,
                         const uint8_t *raw, size_t len)
{
    size_t share = self->opts.fair_share;
    size_t n = f->u.batch.n;
    size_t taken = s_taken(self, s);
    if (!share || (s->fair_head == s->fair_n && taken + n <= share)) {
        s_handle(self, s, f, 0, n);
        return;
    }
    size_t now = s->fair_head == s->fair_n && taken < share ? share - taken : 0;
    if (now)
        s_handle(self, s, f, 0, now);
    if (!s_keep(self, s, raw, len, n, now)) {
        self->throttle_refused++;
        broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_FULL, 0, 0, false,
                          "%s is over its fair share with %zu bytes waiting; retry later",
                          s->partner, s->fair_bytes);
    }
}

/* Handle s's waiting envelopes until it has `limit` in this pass. */
static void s_drain(knoop_broker_t *self, session_t *s, size_t limit)
{
    if (s->fair_head == s->fair_n)
        return;
    while (s->fair_head < s->fair_n) {
        size_t taken = s_taken(self, s);
        if (taken >= limit)
            break;
        struct fair_frame *q = &s->fair_q[s->fair_head];
        knoop_frame_t f;
        if (knoop_frame_decode(&f, q->data, q->len) != KNOOP_OK) {
            q->from = q->envelopes;    /* decoded once before: cannot happen */
        } else {
            size_t k = q->envelopes - q->from;
            if (k > limit - taken)
                k = limit - taken;
            s_handle(self, s, &f, q->from, k);
            q->from += k;
            knoop_frame_clear(&f);
        }
        if (q->from < q->envelopes)
            break;
        s->fair_bytes -= q->len;
        free(q->data);
        s->fair_head++;
    }
    if (s->fair_head == s->fair_n) {
        s->fair_head = s->fair_n = 0;
        self->fair_queued--;
    }
}

/* The walks over every session below are skipped when no session has
 * frames kept and none published in the pass: a broker with many idle
 * sessions would otherwise walk them all in every loop pass, woken by each
 * heartbeat. */
void broker_fair_pass(knoop_broker_t *self)
{
    self->pass++;
    self->fair_takers = 0;
    if (!self->fair_queued)
        return;
    for (session_t *s = self->sessions; s; s = s->next)
        s_drain(self, s, self->opts.fair_share);
}

void broker_fair_topup(knoop_broker_t *self)
{
    if (!self->opts.fair_share || (!self->fair_queued && !self->fair_takers))
        return;
    session_t *alone = NULL;
    for (session_t *s = self->sessions; s; s = s->next) {
        bool in_pass = s->fair_pass == self->pass && s->fair_taken;
        if (!in_pass && s->fair_head == s->fair_n)
            continue;
        if (alone)
            return;           /* two publish: each keeps to its share */
        alone = s;
    }
    if (alone)
        s_drain(self, alone, FAIR_TOPUP);
}

bool broker_fair_waiting(const knoop_broker_t *self)
{
    return self->fwd_n || self->fair_queued;
}

void broker_fair_free(knoop_broker_t *self, session_t *s)
{
    if (s->fair_head < s->fair_n)
        self->fair_queued--;
    for (size_t i = s->fair_head; i < s->fair_n; i++)
        free(s->fair_q[i].data);
    free(s->fair_q);
    s->fair_q = NULL;
    s->fair_n = s->fair_head = s->fair_cap = s->fair_bytes = 0;
}

/* ---- the forwarded path: envelopes from peer brokers, by origin ---- */

struct fair_origin {
    uint64_t pass;        /* the pass `taken` counts in */
    size_t   taken;       /* envelopes of this origin stored in that pass */
    size_t   competing;   /* ... of which while others competed: at most the share */
    size_t   waiting;     /* kept in self->fwd_q */
    size_t   max_competing;  /* most `competing` in one pass */
    uint64_t kept;        /* envelopes kept for a later pass, in all */
    uint64_t logged;      /* ms of the last "held" log line */
};

static struct fair_origin *s_origin(knoop_broker_t *self, const char *origin)
{
    struct fair_origin *o = knoop_strmap_sget(&self->fwd_origins, origin);
    if (o)
        return o;
    o = calloc(1, sizeof *o);
    if (o && knoop_strmap_sput(&self->fwd_origins, origin, o) != 0) {
        free(o);
        o = NULL;
    }
    return o;
}

static void s_origin_pass(knoop_broker_t *self, struct fair_origin *o)
{
    if (o->pass != self->pass) {
        o->pass = self->pass;
        o->taken = o->competing = 0;
    }
}

static void s_origin_take(knoop_broker_t *self, struct fair_origin *o)
{
    if (o->taken++ == 0) {
        if (self->fwd_pass != self->pass) {
            self->fwd_pass = self->pass;
            self->fwd_pass_origins = 0;
        }
        self->fwd_pass_origins++;
    }
}

/* Does o compete in this pass: other origins forwarded or waiting, or this
 * broker's own partners publishing (in the pass just before: peers are read
 * before the nodes)? */
static bool s_contended(knoop_broker_t *self, const struct fair_origin *o, bool others_waiting)
{
    size_t others = self->fwd_pass == self->pass ? self->fwd_pass_origins : 0;
    if (o->taken && others)
        others--;
    if (others || others_waiting)
        return true;
    if (self->fwd_local_pass != self->pass) {
        self->fwd_local_pass = self->pass;
        self->fwd_local = false;
        for (const session_t *s = self->sessions; s && !self->fwd_local; s = s->next)
            self->fwd_local = (s->fair_pass == self->pass && s->fair_taken) ||
                              s->fair_head < s->fair_n;
    }
    return self->fwd_local;
}

/* May one more envelope of o be stored in this pass? Counts it when so.
 * While others compete, an origin may store its share in the pass; what
 * it stored alone before they came does not count against it (that commit
 * was done when they arrived), up to FAIR_TOPUP in all. */
static bool s_origin_may(knoop_broker_t *self, struct fair_origin *o, bool others_waiting)
{
    s_origin_pass(self, o);
    bool competing = s_contended(self, o, others_waiting);
    if (competing ? o->competing >= self->opts.fair_share : o->taken >= FAIR_TOPUP)
        return false;
    s_origin_take(self, o);
    if (competing && ++o->competing > o->max_competing)
        o->max_competing = o->competing;
    return true;
}

bool broker_fair_forwarded_take(knoop_broker_t *self, const char *origin, bool mixed)
{
    if (!self->opts.fair_share)
        return true;
    struct fair_origin *o = s_origin(self, origin);
    if (!o)
        return true;             /* cannot count it: store it rather than lose it */
    s_origin_pass(self, o);
    if (o->waiting)
        return false;            /* behind its kept ones: order within a stream */
    return s_origin_may(self, o, mixed || self->fwd_n > 0);
}

int broker_fair_forwarded_keep(knoop_broker_t *self, const peer_t *p, const char *origin,
                               knoop_bytes_t env)
{
    struct fair_origin *o = s_origin(self, origin);
    if (!o || self->fwd_bytes + env.len > FAIR_MAX_BYTES) {
        self->fwd_refused++;
        uint64_t now = knoop_now_ms();
        if (now - self->fwd_refused_logged >= FAIR_LOG_MS) {
            self->fwd_refused_logged = now;
            knoop_warn("broker: peer %s delivers past its window: %zu bytes of forwarded "
                       "messages wait their turn already; %s's message not stored now (the "
                       "next HELLO or anti-entropy fetches it again; %llu so far)",
                       p->id, self->fwd_bytes, origin, (unsigned long long) self->fwd_refused);
        }
        return KNOOP_EFULL;
    }
    if (self->fwd_n == self->fwd_cap) {
        size_t cap = self->fwd_cap ? 2 * self->fwd_cap : 64;
        fair_fwd_t *q = realloc(self->fwd_q, cap * sizeof *q);
        if (!q)
            return KNOOP_ENOMEM;
        self->fwd_q = q;
        self->fwd_cap = cap;
    }
    uint8_t *copy = malloc(env.len ? env.len : 1);
    if (!copy)
        return KNOOP_ENOMEM;
    memcpy(copy, env.data, env.len);
    self->fwd_q[self->fwd_n++] = (fair_fwd_t) { copy, env.len, (size_t) (p - self->peers),
                                                p->hellos, o };
    self->fwd_bytes += env.len;
    self->fwd_kept++;
    o->kept++;
    uint64_t now = knoop_now_ms();
    if (o->waiting++ == 0 && now - o->logged >= FAIR_LOG_MS) {
        o->logged = now;
        knoop_warn("broker: %s's messages forwarded by peer %s held to its fair share of %zu "
                   "per loop pass while others publish; the rest waits its turn (%llu kept "
                   "so far)", origin, p->id, self->opts.fair_share, (unsigned long long) o->kept);
    }
    return KNOOP_OK;
}

size_t broker_fair_forwarded_due(knoop_broker_t *self, fair_fwd_t **due_p)
{
    *due_p = NULL;
    if (!self->fwd_n)
        return 0;
    fair_fwd_t *due = malloc(self->fwd_n * sizeof *due);
    if (!due)
        return 0;                /* they wait for a pass with memory */
    /* Order per origin holds: once one of o's is held in a pass, every
     * later one is (its count for the pass only grows). */
    bool mixed = false;
    for (size_t i = 1; i < self->fwd_n && !mixed; i++)
        mixed = self->fwd_q[i].o != self->fwd_q[0].o;
    size_t n = 0, left = 0;
    for (size_t i = 0; i < self->fwd_n; i++) {
        fair_fwd_t *e = &self->fwd_q[i];
        if (!self->opts.fair_share || s_origin_may(self, e->o, mixed)) {
            e->o->waiting--;
            self->fwd_bytes -= e->len;
            due[n++] = *e;
        } else {
            self->fwd_q[left++] = *e;
        }
    }
    self->fwd_n = left;
    if (!n) {
        free(due);
        due = NULL;
    }
    *due_p = due;
    return n;
}

json_t *broker_fair_status(knoop_broker_t *self)
{
    json_t *origins = json_array();
    size_t it = 0;
    const char *name;
    void *v;
    while (knoop_strmap_next(&self->fwd_origins, &it, &name, &v)) {
        const struct fair_origin *o = v;
        json_array_append_new(origins, json_pack("{s:s, s:I, s:I, s:I}",
            "origin", name,
            "kept", (json_int_t) o->kept, "waiting", (json_int_t) o->waiting,
            "max_competing", (json_int_t) o->max_competing));
    }
    json_t *fwd = json_pack("{s:I, s:I, s:I, s:I, s:o}",
        "kept", (json_int_t) self->fwd_kept, "waiting", (json_int_t) self->fwd_n,
        "waiting_bytes", (json_int_t) self->fwd_bytes, "refused", (json_int_t) self->fwd_refused,
        "origins", origins);
    /* sessions_waiting: the count the loop's fair-share walks depend on;
     * it must equal the sessions whose throttled.waiting is above 0 */
    return json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}",
        "enabled", self->opts.fair_share > 0, "share", (json_int_t) self->opts.fair_share,
        "throttled_frames", (json_int_t) self->throttled_frames,
        "refused", (json_int_t) self->throttle_refused,
        "sessions_waiting", (json_int_t) self->fair_queued, "forwarded", fwd);
}

void broker_fair_init(knoop_broker_t *self)
{
    self->fwd_origins.free_val = free;      /* the map owns its origins */
}

void broker_fair_destroy(knoop_broker_t *self)
{
    for (size_t i = 0; i < self->fwd_n; i++)
        free(self->fwd_q[i].data);
    free(self->fwd_q);
    self->fwd_q = NULL;
    self->fwd_n = self->fwd_cap = self->fwd_bytes = 0;
    knoop_strmap_clear(&self->fwd_origins);
}
