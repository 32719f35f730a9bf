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
 */
#include "broker.h"

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
    if (s->fair_head == s->fair_n)
        s->fair_head = s->fair_n = 0;
}

void broker_fair_pass(knoop_broker_t *self)
{
    self->pass++;
    for (session_t *s = self->sessions; s; s = s->next)
        s_drain(self, s, self->opts.fair_share);
}

void broker_fair_topup(knoop_broker_t *self)
{
    if (!self->opts.fair_share)
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
    for (const session_t *s = self->sessions; s; s = s->next)
        if (s->fair_head < s->fair_n)
            return true;
    return false;
}

void broker_fair_free(session_t *s)
{
    for (size_t i = s->fair_head; i < s->fair_n; i++)
        free(s->fair_q[i].data);
    free(s->fair_q);
    s->fair_q = NULL;
    s->fair_n = s->fair_head = s->fair_cap = s->fair_bytes = 0;
}
