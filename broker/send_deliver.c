/* send_deliver.c — deliveries to one node within its window: first the
 * catch-up planned at HELLO (FLASH streams first, each stream in seq order),
 * then CAUGHT_UP, then live messages from the journal's arrival log. The
 * journal is the only queue: nothing is buffered per node, so a node that
 * stops reading costs the broker nothing but its session record. */
#include "broker_int.h"
#include "trust_mesh.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_BYTES     KNOOP_BATCH_BYTES

typedef struct {
    knoop_broker_t *self;
    session_t      *s;
    knoop_batch_t   batch;       /* this frame, within what the window allows */
    size_t          budget;      /* messages the window still allows */
    uint64_t        byte_budget; /* bytes likewise */
    uint64_t        first_pos;   /* log position of the first message taken */
    uint64_t        first_seq;   /* read_stream: seq of the first taken */
    uint64_t        last_seq;    /* read_stream: last seq taken */
    bool            cut;         /* read_stream: stopped at a restricted message */
} frame_fill_t;

/* TLP AMBER+STRICT and RED go only to the partners a message names (and its
 * origin); peers carry everything, the broker of the last hop decides. A
 * message the partner may not have cuts its stream for this session there:
 * what follows could not be verified without it (the hash chain runs
 * through it), so it is not sent either. Nodes keep restricted messages on
 * streams of their own (docs/protocol.md), so honest streams are never
 * cut. The allow cache records a cut as CUT_BASE + (last seq << 2). */
#define CUT_BASE 4u

static void s_cut(session_t *s, uint64_t stream, uint64_t seq)
{
    knoop_u64map_put(&s->allow, stream, CUT_BASE + ((seq - 1) << 2));
}

void send_deliver_forget(session_t *s)
{
    knoop_u64map_t keep = { 0 };
    for (size_t i = 0; i < s->allow.cap; i++)
        if (s->allow.used[i] && s->allow.vals[i] >= CUT_BASE)
            knoop_u64map_put(&keep, s->allow.keys[i], s->allow.vals[i]);
    knoop_u64map_clear(&s->allow);
    s->allow = keep;
}

/* Whether a message is restricted at all is the same for every session, so
 * the answer is kept per log position (1 open, 2 restricted; never for
 * position 0, which every message of a stream walk carries): a fan-out to
 * many nodes parses each envelope once, not once per node (two protobuf
 * unpacks each). Cleared when it grows large and when positions may be
 * given to other messages (a failed commit, handle_publish.c). */
#define TLP_SEEN_MAX 65536

static bool s_restricted_out(knoop_broker_t *self, const session_t *s, uint64_t pos,
                             const uint8_t *env, size_t len)
{
    if (s->peer)
        return false;
    uint64_t v;
    if (pos == 0 || !knoop_u64map_get(&self->tlp_seen, pos, &v)) {
        v = knoop_env_for_partner(env, len, "") ? 1 : 2;   /* "" is named by no message */
        if (self->tlp_seen.count >= TLP_SEEN_MAX)
            knoop_u64map_clear(&self->tlp_seen);
        if (pos)                /* a stream walk's messages all carry 0 */
            knoop_u64map_put(&self->tlp_seen, pos, v);
    }
    return v == 2 && !knoop_env_for_partner(env, len, s->partner);
}

/* The next frame's budget: what the window still allows, in one frame (the
 * first message always fits). */
static void s_start(frame_fill_t *ff)
{
    size_t bytes = ff->byte_budget < FRAME_BYTES ? (size_t) ff->byte_budget : FRAME_BYTES;
    knoop_batch_start(&ff->batch, ff->budget, bytes ? bytes : 1);
}

static bool s_full(const frame_fill_t *ff, size_t len)
{
    return knoop_batch_full(&ff->batch, len);
}

static int s_take(frame_fill_t *ff, uint64_t pos, uint64_t stream, uint64_t seq,
                  const uint8_t *env, size_t len)
{
    if (knoop_batch_take(&ff->batch, pos, stream, seq, env, len))
        return 1;
    uint64_t sent = 0;
    knoop_u64map_get(&ff->s->sent, stream, &sent);
    if (seq > sent)
        knoop_u64map_put(&ff->s->sent, stream, seq);
    return 0;
}

static int s_from_stream(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                         const uint8_t *env, size_t len)
{
    frame_fill_t *ff = arg;
    if (s_restricted_out(ff->self, ff->s, pos, env, len)) {
        s_cut(ff->s, stream, seq);
        ff->s->withheld++;
        ff->cut = true;
        return 1;
    }
    if (s_full(ff, len) || s_take(ff, pos, stream, seq, env, len))
        return 1;
    if (!ff->first_seq)
        ff->first_seq = seq;
    ff->last_seq = seq;
    return 0;
}

/* Does this session get this message live? The per-stream verdict is
 * cached (1 yes, 2 no, 3 yes up to the stream's hwm: it forked). */
static bool s_allowed(knoop_broker_t *self, session_t *s, uint64_t stream, uint64_t seq)
{
    uint64_t v;
    knoop_stream_info_t info;
    if (!knoop_u64map_get(&s->allow, stream, &v)) {
        bool ok = false;
        bool found = knoop_journal_stream(self->journal, stream, &info) == KNOOP_OK;
        if (found && !s->peer && strcmp(info.origin, s->partner) == 0) {
            /* Its own origin: published by another instance of the partner
             * (a primary/standby pair), which must see it live. What this
             * session published itself is acked already, not echoed. */
            ok = true;
        } else if (found &&
                   (s->peer || knoop_policy_may_read(self->policy, s->partner, s->role,
                                                     info.topic))) {
            for (size_t i = 0; i < s->nsubs && !ok; i++)
                ok = knoop_topic_match(s->subs[i], info.topic);
        }
        /* Issued certificates and revocations go to every node: each needs
         * them to verify what it receives (docs/protocol.md, Trust). */
        if (!ok && found && !s->peer && knoop_trust_topic(info.topic))
            ok = true;
        v = !ok ? 2 : info.flags & KNOOP_STREAM_FORKED ? 3 : 1;
        knoop_u64map_put(&s->allow, stream, v);
    }
    if (v >= CUT_BASE)
        return seq <= (v - CUT_BASE) >> 2;
    if (v == 3)
        return knoop_journal_stream(self->journal, stream, &info) == KNOOP_OK && seq <= info.hwm;
    return v == 1;
}

static int s_from_log(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                      const uint8_t *env, size_t len)
{
    frame_fill_t *ff = arg;
    if (!s_allowed(ff->self, ff->s, stream, seq))
        return 0;
    if (ff->s->peer) {
        /* No echo: a peer is never sent what it delivered to us; and what
         * came from a broker it pulls from itself is not relayed to it: each
         * message crosses each link once. A gap (its link there was cut) is
         * repaired by its next HELLO, which it sends when the link drops. */
        const peer_t *from = broker_log_source(ff->self, pos);
        if (from && strcmp(from->id, ff->s->partner) == 0) {
            ff->s->echo_skipped++;
            return 0;
        }
        for (size_t i = 0; from && i < ff->s->nlinked; i++)
            if (strcmp(from->id, ff->s->linked[i]) == 0) {
                ff->s->relay_skipped++;
                return 0;
            }
    }
    uint64_t acked = 0;
    knoop_u64map_get(&ff->s->acked, stream, &acked);
    if (seq <= acked)
        return 0;                      /* the node has it already */
    if (s_restricted_out(ff->self, ff->s, pos, env, len)) {
        s_cut(ff->s, stream, seq);
        ff->s->withheld++;
        return 0;
    }
    if (s_full(ff, len) || s_take(ff, pos, stream, seq, env, len))
        return 1;
    if (!ff->first_pos)
        ff->first_pos = pos;
    return 0;
}

/* Send what the fill holds as one DELIVER. KNOOP_OK, KNOOP_EBUSY (the
 * caller rewinds to what was not sent), or KNOOP_EGONE (session gone). */
static int s_flush(frame_fill_t *ff)
{
    size_t n = ff->batch.n, bytes = ff->batch.arena.len;
    if (!n)
        return KNOOP_OK;
    knoop_bytes_t envs[KNOOP_BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        envs[i].data = knoop_batch_env(&ff->batch, i);
        envs[i].len = ff->batch.item[i].len;
    }
    knoop_frame_t f = { .kind = KNOOP_FRAME_DELIVER };
    f.u.batch.envs = envs;
    f.u.batch.n = n;
    int rc = broker_send(ff->self, ff->s, &f);
    if (rc == KNOOP_OK) {
        ff->s->inflight += n;
        ff->s->inflight_bytes += bytes;
        ff->s->delivered += n;
        if (ff->self->metrics) {
            /* one count per run of a stream: catch-up sends whole runs */
            const char *phase = ff->s->live ? "phase=\"live\"" : "phase=\"catchup\"";
            for (size_t i = 0, j; i < n; i = j) {
                uint64_t stream = ff->batch.item[i].stream;
                for (j = i + 1; j < n && ff->batch.item[j].stream == stream; j++)
                    ;
                knoop_metrics_stream_out(ff->self->metrics, "knoop_messages_out_total", stream,
                                         envs[i].data, envs[i].len, phase, (double) (j - i));
            }
        }
        if (!ff->s->live)
            ff->s->catchup_msgs += n;
        ff->budget = ff->budget > n ? ff->budget - n : 0;
        ff->byte_budget = ff->byte_budget > bytes ? ff->byte_budget - bytes : 0;
    } else {
        ff->budget = 0;                     /* try again next pass */
    }
    s_start(ff);
    return rc;
}

void send_sync_reply(knoop_broker_t *self, session_t *s)
{
    knoop_frame_t f = { .kind = KNOOP_FRAME_SYNC };
    broker_digest(self, f.u.sync.digest, &f.u.sync.streams, &f.u.sync.messages);
    broker_send(self, s, &f);
}

void send_deliver(knoop_broker_t *self, session_t *s)
{
    if (s->inflight >= s->window || s->inflight_bytes >= s->window_bytes) {
        if (!s->live || s->log_pos < knoop_journal_next_pos(self->journal))
            knoop_metrics_add(self->metrics, "knoop_credit_stalls_total", "", 1);
        return;
    }
    /* A live session at the log's end has nothing to take: most of them in
     * every loop pass of a broker with many idle sessions (the fill below
     * clears a batch of KNOOP_BATCH_MAX items, 40 KB). */
    if (s->live && s->log_pos >= knoop_journal_next_pos(self->journal))
        return;
    frame_fill_t *ff = calloc(1, sizeof *ff);
    if (!ff)
        return;
    ff->self = self;
    ff->s = s;
    ff->budget = s->window - s->inflight;
    ff->byte_budget = s->window_bytes - s->inflight_bytes;
    s_start(ff);
    int rc = KNOOP_OK;

    while (!s->live && rc == KNOOP_OK && ff->budget > 0) {
        if (s->iplan == s->nplan) {
            knoop_frame_t f = { .kind = KNOOP_FRAME_CAUGHT_UP };
            f.u.caught_up.messages = s->catchup_msgs;
            f.u.caught_up.streams = s->nplan;
            rc = broker_send(self, s, &f);
            if (rc != KNOOP_OK)
                break;
            s->live = true;
            knoop_metrics_observe(self->metrics, "knoop_catchup_seconds", "",
                                  (double) (knoop_now_ms() - s->catchup_start) / 1000.0);
            knoop_info("catch-up of %s done: %llu messages in %zu streams in %llu ms", s->partner,
                       (unsigned long long) s->catchup_msgs, s->nplan,
                       (unsigned long long) (knoop_now_ms() - s->catchup_start));
            break;
        }
        plan_entry_t *e = &s->plan[s->iplan];
        ff->first_seq = ff->last_seq = 0;
        ff->cut = false;
        bool damaged = knoop_journal_read_stream(self->journal, e->stream, e->next, e->to,
                                                 s_from_stream, ff) == KNOOP_ECORRUPT;
        if (damaged)
            broker_peers_refetch(self);
        rc = s_flush(ff);
        if (rc == KNOOP_OK) {
            if (ff->last_seq)
                e->next = ff->last_seq + 1;
            if (damaged)
                break;      /* nothing skipped: the catch-up waits for the repair */
            if (e->next > e->to || ff->last_seq == 0 || ff->cut)
                s->iplan++;
        }
    }

    while (s->live && rc == KNOOP_OK && ff->budget > 0 &&
           s->log_pos < knoop_journal_next_pos(self->journal)) {
        uint64_t next = s->log_pos;
        ff->first_pos = 0;
        if (knoop_journal_tail(self->journal, s->log_pos, 4096, s_from_log, ff, &next) ==
            KNOOP_ECORRUPT)
            broker_peers_refetch(self);    /* delivery waits at the damage */
        rc = s_flush(ff);
        if (rc != KNOOP_OK)
            break;                         /* log_pos stays: nothing skipped */
        bool progressed = next != s->log_pos;
        s->log_pos = next;
        if (!progressed)
            break;
    }
    knoop_batch_free(&ff->batch);
    free(ff);
    if (rc == KNOOP_EGONE)
        broker_session_drop(self, s, "connection gone");
}
