/* handle_publish.c — PUBLISH: check each envelope where it enters (parse,
 * origin is the authenticated partner, policy allows the topic), collect the
 * good ones into the loop pass's batch, commit the batch durably in one
 * transaction, then ACK each stream cumulatively. The journal checks chain
 * links and head signatures; what it refuses is reported to the sender. */
#include "broker_int.h"
#include "cap.h"
#include "hlc.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

static int s_batch_reserve(knoop_broker_t *self)
{
    if (self->nbatch < self->batch_cap)
        return KNOOP_OK;
    size_t cap = self->batch_cap ? self->batch_cap * 2 : 1024;
    knoop_msg_t *b = realloc(self->batch, cap * sizeof *b);
    if (!b)
        return KNOOP_ENOMEM;
    self->batch = b;
    uint8_t (*r)[256] = realloc(self->batch_rid, cap * sizeof *r);
    if (!r)
        return KNOOP_ENOMEM;
    self->batch_rid = r;
    size_t *rl = realloc(self->batch_rid_len, cap * sizeof *rl);
    if (!rl)
        return KNOOP_ENOMEM;
    self->batch_rid_len = rl;
    int *res = realloc(self->batch_res, cap * sizeof *res);
    if (!res)
        return KNOOP_ENOMEM;
    self->batch_res = res;
    session_t **bs = realloc(self->batch_sess, cap * sizeof *bs);
    if (!bs)
        return KNOOP_ENOMEM;
    self->batch_sess = bs;
    self->batch_cap = cap;
    return KNOOP_OK;
}

void handle_publish(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    for (size_t i = 0; i < f->u.batch.n; i++) {
        const knoop_bytes_t *e = &f->u.batch.envs[i];
        if (s_batch_reserve(self) != KNOOP_OK) {
            broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_FULL, 0, 0, false,
                              "broker out of memory; retry later");
            return;
        }
        knoop_msg_t *m = &self->batch[self->nbatch];
        int rc = knoop_msg_parse(m, e->data, e->len);
        if (rc) {
            self->envelopes_refused++;
            broker_send_error(self, s, s->rid, s->rid_len,
                              rc == KNOOP_ETOOBIG ? KNOOP_WERR_TOO_BIG : KNOOP_WERR_MALFORMED,
                              0, 0, false, "envelope %zu of a batch from %s refused: %s", i,
                              s->partner, knoop_strerror(rc));
            continue;
        }
        if (strcmp(m->b.origin, s->partner) != 0) {
            self->envelopes_refused++;
            broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_IDENTITY, m->stream,
                              m->b.seq, false,
                              "identity: %s may not publish as '%s' (origin must be the sender)",
                              s->partner, m->b.origin);
            knoop_msg_clear(m);
            continue;
        }
        uint64_t now = knoop_now_ms();
        if (KNOOP_HLC_MS(m->b.hlc) > now + KNOOP_HLC_MAX_SKEW_MS) {
            self->envelopes_refused++;
            broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_CLOCK, m->stream,
                              m->b.seq, false,
                              "%s on %s seq %llu is dated %llu s in the future; "
                              "check the sender's clock", s->partner, m->b.topic,
                              (unsigned long long) m->b.seq,
                              (unsigned long long) ((KNOOP_HLC_MS(m->b.hlc) - now) / 1000));
            knoop_msg_clear(m);
            continue;
        }
        if (!broker_may_publish(self, s, m->b.topic)) {
            char reason[400];
            knoop_policy_explain_publish(self->policy, s->partner, s->role, m->b.topic, reason,
                                         sizeof reason);
            self->envelopes_refused++;
            broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_POLICY, m->stream,
                              m->b.seq, false, "%s", reason);
            knoop_msg_clear(m);
            continue;
        }
        /* The payload: the type its topic family carries, the content
         * rules, and a sender field naming the publisher or a partner it
         * may speak for (docs/protocol.md, "Payload types and topics"). */
        char why[300], sender[KNOOP_ID_MAX + 1];
        rc = knoop_payload_check(self->types, m->b.topic, m->b.type, m->b.payload, m->b.payload_len, sender,
                                 sizeof sender, why, sizeof why);
        if (rc == KNOOP_OK && !strcmp(m->b.type, KNOOP_CAP_TYPE))
            rc = knoop_cap_check_status(m->b.payload, m->b.payload_len, m->b.status, why,
                                        sizeof why);
        if (rc == KNOOP_OK && *sender &&
            !broker_may_speak_for(self, s, sender)) {
            self->envelopes_refused++;
            self->payloads_refused++;
            broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_IDENTITY, m->stream,
                              m->b.seq, false,
                              "sender: %s on %s names %s as %s; %s may only name itself or "
                              "a partner a speak-for rule of the policy allows", s->partner,
                              m->b.topic, sender, knoop_payload_sender_field(m->b.type),
                              s->partner);
            knoop_msg_clear(m);
            continue;
        }
        if (rc) {
            self->envelopes_refused++;
            self->payloads_refused++;
            broker_send_error(self, s, s->rid, s->rid_len,
                              rc == KNOOP_EPERM ? KNOOP_WERR_POLICY : KNOOP_WERR_MALFORMED,
                              m->stream, m->b.seq, false, "payload: %s on %s seq %llu: %s",
                              s->partner, m->b.topic, (unsigned long long) m->b.seq, why);
            knoop_msg_clear(m);
            continue;
        }
        memcpy(self->batch_rid[self->nbatch], s->rid, s->rid_len);
        self->batch_rid_len[self->nbatch] = s->rid_len;
        self->batch_sess[self->nbatch] = s;
        self->nbatch++;
    }
}

/* The node holds what it published: live delivery of its own origin (for
 * the other instance of a pair) skips it on this session. True when batch
 * item i was stored or held already. */
static bool s_held_by_sender(knoop_broker_t *self, size_t i)
{
    session_t *s = self->batch_sess[i];
    int r = self->batch_res[i];
    if (!s || (r != KNOOP_OK && r != KNOOP_EDUPLICATE))
        return false;
    uint64_t had = 0, stream = self->batch[i].stream;
    knoop_u64map_get(&s->acked, stream, &had);
    if (self->batch[i].b.seq > had)
        knoop_u64map_put(&s->acked, stream, self->batch[i].b.seq);
    return true;
}

/* The ACKs of a commit, in one pass over the batch: each session gets one
 * ACK frame naming each stream it published on in the batch at the
 * stream's contiguous hwm now stored, which is read once per stream. */
static void s_ack_all(knoop_broker_t *self)
{
    uint64_t commit = self->commits;
    session_t *list = NULL;
    for (size_t i = 0; i < self->nbatch; i++) {
        if (!s_held_by_sender(self, i))
            continue;
        session_t *s = self->batch_sess[i];
        s->published++;
        uint64_t stream = self->batch[i].stream;
        if (s->ack_commit != commit) {
            s->ack_commit = commit;
            s->nack_streams = 0;
            s->ack_next = list;
            list = s;
        }
        uint64_t seen;
        if (knoop_u64map_get(&s->ack_seen, stream, &seen) && seen == commit)
            continue;
        if (s->nack_streams == s->ack_cap) {
            size_t cap = s->ack_cap ? s->ack_cap * 2 : 16;
            uint64_t *na = realloc(s->ack_streams, cap * sizeof *na);
            if (!na)
                continue;            /* no ACK for it now: the node sends it again */
            s->ack_streams = na;
            s->ack_cap = cap;
        }
        if (knoop_u64map_put(&s->ack_seen, stream, commit) != KNOOP_OK)
            continue;
        s->ack_streams[s->nack_streams++] = stream;
    }
    knoop_u64map_t hwms = { 0 };   /* stream -> hwm + 1 (0: not stored) */
    knoop_wire_ack_t *acks = NULL;
    size_t cap = 0;
    for (session_t *s = list; s; s = s->ack_next) {
        size_t nacks = 0;
        for (size_t k = 0; k < s->nack_streams; k++) {
            uint64_t stream = s->ack_streams[k], h1;
            if (!knoop_u64map_get(&hwms, stream, &h1)) {
                knoop_stream_info_t info;
                h1 = knoop_journal_stream(self->journal, stream, &info) == KNOOP_OK
                         ? info.hwm + 1 : 0;
                knoop_u64map_put(&hwms, stream, h1);
            }
            if (h1 <= 1)
                continue;
            if (nacks == cap) {
                size_t nc = cap ? cap * 2 : 16;
                knoop_wire_ack_t *na = realloc(acks, nc * sizeof *na);
                if (!na)
                    break;
                acks = na;
                cap = nc;
            }
            acks[nacks].stream = stream;
            acks[nacks].seq = h1 - 1;
            nacks++;
        }
        s->nack_streams = 0;
        if (nacks) {
            knoop_frame_t f = { .kind = KNOOP_FRAME_ACK };
            f.u.ack.acks = acks;
            f.u.ack.n = nacks;
            broker_send(self, s, &f);
        }
    }
    free(acks);
    knoop_u64map_clear(&hwms);
}

/* Delivery before the commit (docs/design-notes.md, "Delivery before the
 * commit"): with the batch written and its syncs still ahead, the live
 * nodes get what is theirs of it now, so that the broker's fsyncs overlap
 * the subscriber's instead of preceding them. Nothing acknowledged depends
 * on it: the publishers are ACKed only after the commit, and keep every
 * message until then; a subscribing node commits before its application
 * sees anything, and takes a message it has again as a duplicate. If the
 * commit fails, each session goes back to where it was, and gets what is
 * stored at those positions later. Peers get it after the commit: what a
 * broker holds is what it passes on. Not while the journal's last write
 * failed (a full disk): the same messages would go out again each pass. */
static void s_deliver_early(void *arg)
{
    knoop_broker_t *self = arg;
    int64_t t0 = knoop_daemon_usecs();
    for (size_t i = 0; i < self->nbatch; i++)
        s_held_by_sender(self, i);
    session_t *next;
    for (session_t *s = self->sessions; s; s = next) {
        next = s->next;
        if (s->peer || !s->live)
            continue;
        if (!s->early) {
            s->early = true;
            s->early_pos = s->log_pos;
        }
        send_deliver(self, s);
    }
    self->early_usecs += knoop_daemon_usecs() - t0;
}

void handle_publish_commit(knoop_broker_t *self)
{
    const knoop_msg_t **ptrs = malloc(self->nbatch * sizeof *ptrs);
    int rc = ptrs ? KNOOP_OK : KNOOP_ENOMEM;
    if (ptrs) {
        for (size_t i = 0; i < self->nbatch; i++)
            ptrs[i] = &self->batch[i];
        /* An origin sends its streams in order: a gap is refused, so that
         * nothing unlinkable is stored and forwarded on its word. */
        int64_t t0 = knoop_daemon_usecs();
        self->early_usecs = 0;     /* the hook's sends are not the commit's time */
        bool early = self->opts.deliver_early && !*knoop_journal_error(self->journal, NULL);
        rc = knoop_journal_append_then(self->journal, ptrs, self->nbatch, self->batch_res,
                                       KNOOP_APPEND_CONTIGUOUS, early ? s_deliver_early : NULL,
                                       self);
        knoop_metrics_commit(self->metrics,
                             (double) (knoop_daemon_usecs() - t0 - self->early_usecs) / 1e6,
                             self->nbatch);
        free(ptrs);
    }
    for (session_t *s = self->sessions; s; s = s->next) {
        if (s->early && rc != KNOOP_OK) {
            s->log_pos = s->early_pos;
            self->early_rewinds++;
        }
        s->early = false;
    }
    if (rc != KNOOP_OK)
        knoop_u64map_clear(&self->tlp_seen);   /* its positions go to other messages */
    if (rc == KNOOP_OK) {
        self->commits++;
        for (size_t i = 0; i < self->nbatch; i++) {
            int r = self->batch_res[i];
            if (r == KNOOP_OK)
                knoop_metrics_message_in(self->metrics, self->batch[i].b.topic,
                                         knoop_priority_name(self->batch[i].b.priority));
            if (r == KNOOP_OK || r == KNOOP_EDUPLICATE || self->batch_rid_len[i] == 0)
                continue;
            self->envelopes_refused++;
            session_t *s = self->batch_sess[i];
            const knoop_msg_t *m = &self->batch[i];
            broker_send_error(self, s, self->batch_rid[i], self->batch_rid_len[i],
                              knoop_wire_err_from(r), m->stream, m->b.seq, false,
                              "%s on %s seq %llu refused: %s", m->b.origin, m->b.topic,
                              (unsigned long long) m->b.seq, knoop_strerror(r));
        }
        s_ack_all(self);
    } else {
        /* Nothing of the batch is stored: no ACKs; the nodes keep the
         * messages and send them again. Tell each sender once. */
        knoop_error("broker: batch of %zu not stored: %s", self->nbatch, knoop_strerror(rc));
        for (session_t *s = self->sessions; s; s = s->next)
            for (size_t i = 0; i < self->nbatch; i++)
                if (self->batch_rid_len[i] == s->rid_len &&
                    memcmp(self->batch_rid[i], s->rid, s->rid_len) == 0) {
                    const char *why = knoop_journal_error(self->journal, NULL);
                    broker_send_error(self, s, s->rid, s->rid_len, knoop_wire_err_from(rc), 0, 0,
                                      false,
                                      "broker %s could not store your messages: %s; "
                                      "they stay in your outbox", self->id,
                                      *why ? why : knoop_strerror(rc));
                    break;
                }
    }
    for (size_t i = 0; i < self->nbatch; i++)
        knoop_msg_clear(&self->batch[i]);
    self->nbatch = 0;
}
