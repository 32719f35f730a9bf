/* send_deliver.c — deliveries to one node within its window: first the
 * catch-up planned at HELLO (FLASH streams first, each stream in seq order),
 * then CAUGHT_UP, then live messages from the journal's arrival log. The
 * journal is the only queue: nothing is buffered per node, so a node that
 * stops reading costs the broker nothing but its session record. */
#include "broker.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_MSGS      1024
#define FRAME_BYTES     (4u << 20)
#define STALL_MS        5000     /* no ACK for this long: assume the window lost */

typedef struct {
    knoop_broker_t *self;
    session_t      *s;
    knoop_buf_t     arena;
    size_t          offs[FRAME_MSGS];
    size_t          lens[FRAME_MSGS];
    size_t          n;
    size_t          budget;      /* messages this frame may still take */
    uint64_t        last_seq;    /* read_stream: last seq taken */
} frame_fill_t;

static bool s_full(const frame_fill_t *ff, size_t len)
{
    return ff->n >= ff->budget || ff->n >= FRAME_MSGS ||
           (ff->n > 0 && ff->arena.len + len > FRAME_BYTES);
}

static int s_take(frame_fill_t *ff, const uint8_t *env, size_t len)
{
    if (knoop_buf_append(&ff->arena, env, len) != KNOOP_OK)
        return 1;
    ff->offs[ff->n] = ff->arena.len - len;
    ff->lens[ff->n] = len;
    ff->n++;
    return 0;
}

static int s_from_stream(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                         const uint8_t *env, size_t len)
{
    frame_fill_t *ff = arg;
    if (s_full(ff, len) || s_take(ff, env, len))
        return 1;
    ff->last_seq = seq;
    return 0;
}

/* Does this node get this stream live? Cached per session. */
static bool s_allowed(knoop_broker_t *self, session_t *s, uint64_t stream)
{
    uint64_t v;
    if (knoop_u64map_get(&s->allow, stream, &v))
        return v == 1;
    knoop_stream_info_t info;
    bool ok = false;
    if (knoop_journal_stream(self->journal, stream, &info) == KNOOP_OK &&
        strcmp(info.origin, s->partner) != 0 &&
        knoop_policy_may_read(self->policy, s->partner, s->role, info.topic)) {
        for (size_t i = 0; i < s->nsubs && !ok; i++)
            ok = knoop_topic_match(s->subs[i], info.topic);
    }
    knoop_u64map_put(&s->allow, stream, ok ? 1 : 2);
    return ok;
}

static int s_from_log(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                      const uint8_t *env, size_t len)
{
    frame_fill_t *ff = arg;
    if (!s_allowed(ff->self, ff->s, stream))
        return 0;
    uint64_t acked = 0;
    knoop_u64map_get(&ff->s->acked, stream, &acked);
    if (seq <= acked)
        return 0;                      /* the node has it already */
    if (s_full(ff, len) || s_take(ff, env, len))
        return 1;
    return 0;
}

/* Send what the fill holds as one DELIVER. False when the session is gone. */
static bool s_flush(frame_fill_t *ff)
{
    if (!ff->n)
        return true;
    knoop_bytes_t envs[FRAME_MSGS];
    for (size_t i = 0; i < ff->n; i++) {
        envs[i].data = ff->arena.data + ff->offs[i];
        envs[i].len = ff->lens[i];
    }
    knoop_frame_t f = { .kind = KNOOP_FRAME_DELIVER };
    f.u.batch.envs = envs;
    f.u.batch.n = ff->n;
    int rc = broker_send(ff->self, ff->s, &f);
    if (rc == KNOOP_OK) {
        ff->s->inflight += ff->n;
        ff->s->delivered += ff->n;
        if (!ff->s->live)
            ff->s->catchup_msgs += ff->n;
    }
    ff->budget = ff->budget > ff->n ? ff->budget - ff->n : 0;
    ff->n = 0;
    ff->arena.len = 0;
    return rc != KNOOP_ENOTFOUND;
}

void send_deliver(knoop_broker_t *self, session_t *s)
{
    uint64_t now = knoop_now_ms();
    if (s->inflight >= s->window) {
        if (now - s->last_ack < STALL_MS || now - s->last_sent < STALL_MS)
            return;
        knoop_debug("%s: no ACK for %d ms with %llu in flight: reopening the window",
                    s->partner, STALL_MS, (unsigned long long) s->inflight);
        s->inflight = 0;
        s->last_ack = now;
    }
    frame_fill_t *ff = calloc(1, sizeof *ff);
    if (!ff)
        return;
    ff->self = self;
    ff->s = s;
    ff->budget = s->window - s->inflight;
    bool alive = true;

    while (!s->live && alive && ff->budget > 0) {
        if (s->iplan == s->nplan) {
            alive = s_flush(ff);
            if (!alive)
                break;
            knoop_frame_t f = { .kind = KNOOP_FRAME_CAUGHT_UP };
            f.u.caught_up.messages = s->catchup_msgs;
            f.u.caught_up.streams = s->nplan;
            alive = broker_send(self, s, &f) != KNOOP_ENOTFOUND;
            s->live = true;
            knoop_info("catch-up of %s done: %llu messages in %zu streams in %llu ms", s->partner,
                       (unsigned long long) s->catchup_msgs, s->nplan,
                       (unsigned long long) (knoop_now_ms() - s->catchup_start));
            break;
        }
        plan_entry_t *e = &s->plan[s->iplan];
        ff->last_seq = 0;
        knoop_journal_read_stream(self->journal, e->stream, e->next, e->to, s_from_stream, ff);
        if (ff->last_seq)
            e->next = ff->last_seq + 1;
        bool stream_done = e->next > e->to || ff->last_seq == 0;
        if (stream_done)
            s->iplan++;
        if (!stream_done || s_full(ff, 0))
            alive = s_flush(ff);
    }

    while (s->live && alive && ff->budget > 0 &&
           s->log_pos < knoop_journal_next_pos(self->journal)) {
        uint64_t next = s->log_pos;
        knoop_journal_tail(self->journal, s->log_pos, 4096, s_from_log, ff, &next);
        bool progressed = next != s->log_pos;
        s->log_pos = next;
        alive = s_flush(ff);
        if (!progressed)
            break;
    }
    if (alive)
        alive = s_flush(ff);
    knoop_buf_free(&ff->arena);
    free(ff);
    if (!alive)
        broker_session_drop(self, s, "connection gone");
}
