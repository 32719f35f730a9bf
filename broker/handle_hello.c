/* handle_hello.c — HELLO: check who it is, apply the policy to its
 * subscriptions, answer WELCOME, and plan the catch-up: everything the node
 * lacks on what it may read and of its own streams, FLASH first. */
#include "broker_int.h"
#include "settled.h"
#include "trust_mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WINDOW 1024
#define MAX_WINDOW     65536
#define DEFAULT_WINDOW_BYTES (64u << 20)
#define MAX_WINDOW_BYTES     (256u << 20)
#define MAX_SESSIONS_PER_PARTNER 4
#define PUBLISH_WINDOW 4096

typedef struct {
    knoop_u64map_t hwm;      /* stream -> node's hwm */
    const knoop_frame_t *f;
} node_vector_t;

static bool s_matches_any(char **subs, size_t n, const char *topic)
{
    for (size_t i = 0; i < n; i++)
        if (knoop_topic_match(subs[i], topic))
            return true;
    return false;
}

/* Does the session get this stream: its own, on an accepted subscription
 * the policy lets it read, or a trust topic (every node gets those)? A
 * peer gets everything its subscriptions match. */
static bool s_wanted(knoop_broker_t *self, const session_t *s, const knoop_stream_info_t *r)
{
    bool mine = !s->peer && strcmp(r->origin, s->partner) == 0;
    return mine || (s_matches_any(s->subs, s->nsubs, r->topic) &&
                    (s->peer || knoop_policy_may_read(self->policy, s->partner, s->role,
                                                      r->topic)))
           || knoop_trust_topic(r->topic);
}

/* The HELLO's settled summary against our journal (docs/protocol.md, "The
 * settled summary"): for every row the session gets and the vector does not
 * name, where it stood at T (p[i], head[i]); which buckets match. false
 * when there is no summary to use (none sent, or no memory: then every
 * unnamed stream is planned from 0, as for an older node). The rows the
 * broker counts are those it would deliver (s_wanted): a subscription the
 * policy refused holds nothing at the node either, so it costs no miss. */
typedef struct {
    uint64_t *p;
    uint8_t (*head)[KNOOP_HASH_LEN];
    uint8_t   matched[KNOOP_WIRE_BUCKETS / 8];
    uint32_t  nmatched, nmissed;
} settled_plan_t;

static bool s_settled_plan(knoop_broker_t *self, const session_t *s, const knoop_frame_t *f,
                           const knoop_u64map_t *named, const knoop_stream_info_t *rows,
                           size_t nrows, settled_plan_t *sp)
{
    uint64_t t = f->u.hello.settled_hlc;
    memset(sp, 0, sizeof *sp);
    if (!t)
        return false;
    knoop_settled_t *st = malloc(sizeof *st);
    sp->p = calloc(nrows ? nrows : 1, sizeof *sp->p);
    sp->head = calloc(nrows ? nrows : 1, sizeof *sp->head);
    if (!st || !sp->p || !sp->head) {
        knoop_warn("%s: no memory for its settled summary: its unnamed streams are sent whole",
                   s->partner);
        free(st);
        free(sp->p);
        free(sp->head);
        memset(sp, 0, sizeof *sp);
        return false;
    }
    knoop_settled_init(st);
    for (size_t i = 0; i < nrows; i++) {
        const knoop_stream_info_t *r = &rows[i];
        uint64_t idx;
        if (!s_wanted(self, s, r) || knoop_u64map_get(named, r->stream, &idx) ||
            (!s->peer && knoop_settled_withheld(self->journal, r, s->partner)))
            continue;
        if (knoop_settled_point(self->journal, r, t, &sp->p[i], sp->head[i]) != KNOOP_OK) {
            knoop_settled_poison(st, r->stream);    /* we cannot tell: a miss */
            sp->p[i] = 0;
            continue;
        }
        if (sp->p[i])
            knoop_settled_add(st, r->stream, sp->p[i], sp->head[i]);
    }
    knoop_settled_end(st);
    knoop_settled_compare(st, f->u.hello.settled, f->u.hello.nsettled, sp->matched,
                          &sp->nmatched, &sp->nmissed);
    free(st);
    self->settled_matched += sp->nmatched;
    self->settled_missed += sp->nmissed;
    return true;
}

static int s_plan_cmp(const void *a, const void *b)
{
    const plan_entry_t *x = a, *y = b;
    if (x->prio != y->prio)
        return y->prio - x->prio;            /* FLASH (2) first */
    return x->stream < y->stream ? -1 : x->stream > y->stream;
}

/* True when the node's head at its hwm is not our chain at that seq. */
static bool s_forked(knoop_broker_t *self, const knoop_stream_info_t *row, uint64_t node_hwm,
                     const uint8_t *node_head)
{
    if (node_hwm == 0 || node_hwm > row->hwm)
        return false;
    if (node_hwm == row->hwm)
        return memcmp(row->head, node_head, KNOOP_HASH_LEN) != 0;
    knoop_buf_t buf = { 0 };
    bool forked = false;
    if (knoop_journal_get(self->journal, row->stream, node_hwm, &buf) == KNOOP_OK) {
        knoop_msg_t m;
        if (knoop_msg_parse(&m, buf.data, buf.len) == KNOOP_OK) {
            forked = memcmp(m.chain, node_head, KNOOP_HASH_LEN) != 0;
            knoop_msg_clear(&m);
        }
    }
    knoop_buf_free(&buf);
    return forked;
}

void handle_hello(knoop_broker_t *self, const uint8_t *rid, size_t rid_len,
                  const char *user, const knoop_frame_t *f)
{
    session_t *old = broker_session_find(self, rid, rid_len);
    if (old)
        broker_session_drop(self, old, "new HELLO on the same connection");
    if (strcmp(f->u.hello.partner, user) != 0) {
        broker_send_error(self, NULL, rid, rid_len, KNOOP_WERR_IDENTITY, 0, 0, true,
                          "HELLO says '%s' but the key is %s's", f->u.hello.partner, user);
        return;
    }
    /* A bounded vector: the catch-up plan is built from it in one loop pass,
     * and an encoder of ours can always send one that fits (wire.h). */
    if (f->u.hello.nvector > KNOOP_WIRE_VECTOR_MAX) {
        self->hellos_too_big++;
        knoop_warn("HELLO of %s refused: its vector names %zu streams, above the limit of %d",
                   user, f->u.hello.nvector, KNOOP_WIRE_VECTOR_MAX);
        broker_send_error(self, NULL, rid, rid_len, KNOOP_WERR_TOO_BIG, 0, 0, true,
                          "HELLO refused: its vector names %zu streams, above the limit of %d "
                          "a broker takes (docs/protocol.md, HELLO); narrow the subscriptions",
                          f->u.hello.nvector, KNOOP_WIRE_VECTOR_MAX);
        return;
    }
    /* The certificate of the key this connection was admitted on: its role
     * decides, not that of another key of the same id. */
    const knoop_cert_t *cert = broker_key_cert(self, user, self->frame_key);
    if (!cert)
        return;
    bool peer = f->u.hello.peer;
    if (peer && strcmp(cert->role, "broker") != 0) {
        broker_send_error(self, NULL, rid, rid_len, KNOOP_WERR_IDENTITY, 0, 0, true,
                          "peering refused: '%s' has role '%s'; only role broker may peer",
                          user, cert->role);
        return;
    }
    size_t same = 0;
    for (session_t *o = self->sessions; o; o = o->next)
        same += strcmp(o->partner, user) == 0;
    if (same >= MAX_SESSIONS_PER_PARTNER) {
        broker_send_error(self, NULL, rid, rid_len, KNOOP_WERR_PROTOCOL, 0, 0, true,
                          "%s already has %zu sessions on %s; refusing another", user, same,
                          self->id);
        return;
    }
    session_t *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->peer = peer;
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    snprintf(s->partner, sizeof s->partner, "%s", user);
    memcpy(s->key, self->frame_key, KNOOP_PK_LEN);
    snprintf(s->role, sizeof s->role, "%s", cert->role);
    s->last_heard = s->last_sent = knoop_now_ms();
    s->window = f->u.hello.credit_msgs ? f->u.hello.credit_msgs : DEFAULT_WINDOW;
    if (s->window > MAX_WINDOW)
        s->window = MAX_WINDOW;
    s->window_bytes = f->u.hello.credit_bytes ? f->u.hello.credit_bytes : DEFAULT_WINDOW_BYTES;
    if (s->window_bytes > MAX_WINDOW_BYTES)
        s->window_bytes = MAX_WINDOW_BYTES;

    /* A peer names the brokers it pulls from directly: what came from them
     * it gets from them (send_deliver.c, no relay). */
    if (peer && f->u.hello.nlinked) {
        s->linked = calloc(f->u.hello.nlinked, sizeof *s->linked);
        for (size_t i = 0; s->linked && i < f->u.hello.nlinked; i++)
            snprintf(s->linked[s->nlinked++], sizeof s->linked[0], "%s", f->u.hello.linked[i]);
    }

    /* Subscriptions through the policy. */
    size_t nsubs = f->u.hello.nsubs;
    s->subs = calloc(nsubs ? nsubs : 1, sizeof *s->subs);
    knoop_wire_refusal_t *refused = calloc(nsubs ? nsubs : 1, sizeof *refused);
    char (*reasons)[400] = calloc(nsubs ? nsubs : 1, sizeof *reasons);
    size_t nrefused = 0;
    for (size_t i = 0; i < nsubs; i++) {
        const char *p = f->u.hello.subs[i];
        if (peer) {
            /* Brokers hold every message: no policy between them. */
            s->subs[s->nsubs++] = strdup(p);
            continue;
        }
        if (knoop_policy_check_subscription(self->policy, s->partner, s->role, p, reasons[nrefused],
                                            sizeof reasons[nrefused]) == KNOOP_OK) {
            s->subs[s->nsubs++] = strdup(p);
        } else {
            refused[nrefused].pattern = p;
            refused[nrefused].reason = reasons[nrefused];
            knoop_warn("refused subscription of %s: %s", s->partner, reasons[nrefused]);
            nrefused++;
        }
    }

    /* The node's vector. */
    node_vector_t nv = { .f = f };
    for (size_t i = 0; i < f->u.hello.nvector; i++)
        knoop_u64map_put(&nv.hwm, f->u.hello.vector[i].stream, i);

    /* Plan: every stream it may read on its subscriptions, and its own. */
    knoop_stream_info_t *rows = NULL;
    size_t nrows = 0;
    knoop_journal_vector(self->journal, NULL, &rows, &nrows);
    settled_plan_t sp;
    bool summary = s_settled_plan(self, s, f, &nv.hwm, rows, nrows, &sp);
    s->plan = calloc(nrows ? nrows : 1, sizeof *s->plan);
    knoop_wire_pos_t *own = calloc(nrows ? nrows : 1, sizeof *own);
    size_t nown = 0;
    uint64_t planned = 0;
    for (size_t i = 0; i < nrows; i++) {
        const knoop_stream_info_t *r = &rows[i];
        bool mine = !peer && strcmp(r->origin, s->partner) == 0;
        uint64_t idx, node_hwm = 0;
        const uint8_t *node_head = NULL;
        bool named = knoop_u64map_get(&nv.hwm, r->stream, &idx);
        /* in a matched bucket: the node holds it up to p, with our head */
        bool settled = !named && summary && sp.p[i] &&
                       knoop_settled_bit(sp.matched, knoop_settled_bucket(r->stream));
        if (named) {
            node_hwm = f->u.hello.vector[idx].hwm;
            node_head = f->u.hello.vector[idx].head;
        } else if (settled) {
            node_hwm = sp.p[i];
            node_head = sp.head[i];
        }
        /* Own streams it holds at our hwm, as its matched bucket proves, are
         * left out (WELCOME.settled_matched_set tells it which). */
        if (mine && !(settled && node_hwm == r->hwm))
            knoop_settled_pos(&own[nown++], r);
        bool wanted = s_wanted(self, s, r);
        /* Its own streams too, live: the other instance of a primary/standby
         * pair publishes them (what this session publishes itself is not
         * echoed: handle_publish marks it acked). */
        knoop_u64map_put(&s->allow, r->stream,
                         !wanted ? 2 : r->flags & KNOOP_STREAM_FORKED ? 3 : 1);
        if (!wanted)
            continue;
        if (!settled && s_forked(self, r, node_hwm, node_head)) {
            broker_send_error(self, s, rid, rid_len, KNOOP_WERR_FORK, r->stream, node_hwm, false,
                              "fork: %s holds a different message at %s %s seq %llu than %s",
                              s->partner, r->origin, r->topic, (unsigned long long) node_hwm,
                              self->id);
            continue;
        }
        knoop_u64map_put(&s->acked, r->stream, node_hwm);
        knoop_u64map_put(&s->sent, r->stream, node_hwm);
        /* Past a fork nothing is delivered: which history is true needs a
         * person. */
        uint64_t last = r->flags & KNOOP_STREAM_FORKED ? r->hwm : r->max_seq;
        if (last > node_hwm) {
            plan_entry_t *e = &s->plan[s->nplan++];
            e->stream = r->stream;
            e->next = node_hwm + 1;
            e->to = last;
            e->prio = (int) r->prio;       /* the highest it holds: no envelope read */
            planned += e->to - node_hwm;
        }
    }
    qsort(s->plan, s->nplan, sizeof *s->plan, s_plan_cmp);
    s->log_pos = knoop_journal_next_pos(self->journal);
    s->catchup_start = knoop_now_ms();

    knoop_frame_t w = { .kind = KNOOP_FRAME_WELCOME };
    w.u.welcome.broker = self->id;
    w.u.welcome.accepted = (const char *const *) s->subs;
    w.u.welcome.naccepted = s->nsubs;
    w.u.welcome.refused = refused;
    w.u.welcome.nrefused = nrefused;
    w.u.welcome.own = own;
    w.u.welcome.nown = nown;
    w.u.welcome.heartbeat_ms = (uint32_t) self->opts.heartbeat_ms;
    w.u.welcome.credit_msgs = PUBLISH_WINDOW;
    w.u.welcome.credit_bytes = 64u << 20;
    w.u.welcome.planned = planned;
    if (summary) {
        w.u.welcome.settled_matched = sp.nmatched;
        w.u.welcome.settled_missed = sp.nmissed;
        w.u.welcome.has_matched_set = true;
        memcpy(w.u.welcome.matched_set, sp.matched, sizeof sp.matched);
    }
    free(sp.p);
    free(sp.head);
    if (broker_session_add(self, s) != KNOOP_OK) {
        broker_send_error(self, NULL, rid, rid_len, KNOOP_WERR_FULL, 0, 0, true,
                          "broker %s is out of memory; try again later", self->id);
        broker_session_drop(self, s, "out of memory");
        free(own);
        free(rows);
        free(refused);
        free(reasons);
        knoop_u64map_clear(&nv.hwm);
        return;
    }
    int rc = broker_send(self, s, &w);
    char settled_text[96] = "";
    if (summary)
        snprintf(settled_text, sizeof settled_text, "; settled: %u buckets matched, %u missed",
                 sp.nmatched, sp.nmissed);
    knoop_info("%s %s (%s): %zu subscriptions accepted, %zu refused; catch-up: "
               "%zu streams, %llu messages%s", peer ? "peer" : "node", s->partner, s->role,
               s->nsubs, nrefused, s->nplan, (unsigned long long) planned, settled_text);
    free(own);
    free(rows);
    free(refused);
    free(reasons);
    knoop_u64map_clear(&nv.hwm);
    if (rc == KNOOP_EGONE)
        broker_session_drop(self, s, "connection gone");
    else if (peer)
        broker_instances_announce(self, s);     /* pairs split over two brokers */
}
