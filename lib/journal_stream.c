/* journal_stream.c — the stream state machine: each message appended links
 * into its stream's hash chain (or waits in a gap, or is kept as fork
 * evidence), head signatures are checked against the trust store, the
 * verified prefix feeds the verified log and the picture, and a damaged
 * message is repaired in place by a proven copy. Also the stream rows and
 * the vector read from them. See journal.h for the semantics. */
#include "journal_int.h"
#include "crypto.h"
#include "topic.h"
#include "trust_mesh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t s_zero_hash[KNOOP_HASH_LEN];

int journal_stream_decode(const MDB_val *v, uint64_t stream, knoop_stream_info_t *out)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < SROW_HDR)
        return KNOOP_ECORRUPT;
    size_t olen = p[SROW_OLEN], tlen = p[SROW_TLEN];
    if (v->mv_size != SROW_HDR + olen + tlen || olen > KNOOP_ID_MAX || tlen > KNOOP_TOPIC_MAX)
        return KNOOP_ECORRUPT;
    memset(out, 0, sizeof *out);
    out->stream = stream;
    out->hwm = knoop_get_be64(p + SROW_HWM);
    out->max_seq = knoop_get_be64(p + SROW_MAX);
    out->verified = knoop_get_be64(p + SROW_VERIFIED);
    out->epoch = knoop_get_be64(p + SROW_EPOCH);
    memcpy(out->head, p + SROW_HEAD, KNOOP_HASH_LEN);
    out->flags = (uint32_t) knoop_get_be64(p + SROW_FLAGS - 4) & 0xffffffffu;
    out->last_hlc = knoop_get_be64(p + SROW_LAST_HLC);
    out->prio = p[SROW_PRIO];
    memcpy(out->origin, p + SROW_HDR, olen);
    memcpy(out->topic, p + SROW_HDR + olen, tlen);
    return KNOOP_OK;
}

int journal_stream_get(knoop_journal_t *self, MDB_txn *txn, uint64_t stream,
                       knoop_stream_info_t *out)
{
    uint8_t k[8];
    knoop_put_be64(k, stream);
    MDB_val key = { 8, k }, val;
    int rc = journal_read_err(mdb_get(txn, self->stream, &key, &val));
    if (rc)
        return rc;
    return journal_stream_decode(&val, stream, out);
}

int journal_stream_put(knoop_journal_t *self, MDB_txn *txn, const knoop_stream_info_t *s)
{
    uint8_t row[SROW_HDR + KNOOP_ID_MAX + KNOOP_TOPIC_MAX];
    size_t olen = strlen(s->origin), tlen = strlen(s->topic);
    knoop_put_be64(row + SROW_HWM, s->hwm);
    knoop_put_be64(row + SROW_MAX, s->max_seq);
    knoop_put_be64(row + SROW_VERIFIED, s->verified);
    knoop_put_be64(row + SROW_EPOCH, s->epoch);
    memcpy(row + SROW_HEAD, s->head, KNOOP_HASH_LEN);
    row[SROW_FLAGS] = (uint8_t) (s->flags >> 24);
    row[SROW_FLAGS + 1] = (uint8_t) (s->flags >> 16);
    row[SROW_FLAGS + 2] = (uint8_t) (s->flags >> 8);
    row[SROW_FLAGS + 3] = (uint8_t) s->flags;
    row[SROW_OLEN] = (uint8_t) olen;
    row[SROW_TLEN] = (uint8_t) tlen;
    knoop_put_be64(row + SROW_LAST_HLC, s->last_hlc);
    row[SROW_PRIO] = (uint8_t) s->prio;
    memcpy(row + SROW_HDR, s->origin, olen);
    memcpy(row + SROW_HDR + olen, s->topic, tlen);
    uint8_t k[8];
    knoop_put_be64(k, s->stream);
    MDB_val key = { 8, k }, val = { SROW_HDR + olen + tlen, row };
    return journal_err(self, mdb_put(txn, self->stream, &key, &val, 0));
}

/* ---- append ---- */

/* Keep a conflicting copy as evidence and flag the stream. */
static int s_keep_fork(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s,
                       uint64_t seq, const uint8_t chain[KNOOP_HASH_LEN],
                       const uint8_t *env, size_t len)
{
    uint8_t k[16 + KNOOP_HASH_LEN];
    journal_key16(k, s->stream, seq);
    memcpy(k + 16, chain, KNOOP_HASH_LEN);
    MDB_val key = { sizeof k, k }, val = { len, (void *) env };
    s->flags |= KNOOP_STREAM_FORKED;
    self->stats.forks++;
    knoop_error("journal %s: FORK in stream %016llx (%s on %s) at seq %llu: "
                "two different messages; both kept as evidence", self->path,
                (unsigned long long) s->stream, s->origin, s->topic,
                (unsigned long long) seq);
    return journal_err(self, mdb_put(txn, self->fork, &key, &val, 0));
}

static uint64_t s_seq_key(uint64_t stream, uint64_t seq)
{
    return stream ^ (seq * 0x9e3779b97f4a7c15ull);
}

/* The message at (stream, seq) when this append stored it from the caller's
 * batch: its view and its log row. NULL otherwise (read it back). */
static const knoop_msg_t *s_batch_msg(knoop_journal_t *self, uint64_t stream, uint64_t seq,
                                      const uint8_t **row)
{
    uint64_t at;
    if (!self->txn_msgs || !knoop_u64map_get(&self->txn_stored_at, s_seq_key(stream, seq), &at))
        return NULL;
    const knoop_msg_t *m = self->txn_msgs[at];
    if (m->stream != stream || m->b.seq != seq)
        return NULL;                    /* another message with the same key */
    *row = self->txn_msg_rows[at];
    return m;
}

/* ---- pending messages ----
 *
 * A node's or broker's journal stores most messages before the head
 * signature that covers them arrives (an origin signs one head per request;
 * a loop pass commits what it has read). When the head comes, the walk
 * (s_verify_to) needs of each such message only its log row and what the
 * state view takes (status, key, hlc; origin and topic are the stream's).
 * Those are kept here after the commit that stored the message, a run of
 * consecutive seqs per stream, and dropped once verified. A cache only: a
 * message not found here is read back, checked and parsed as before.
 * Every change of a stored message's bytes (a repair, a signed copy in
 * place of the unsigned one, a fork moved out) drops its stream's run, as a
 * run could otherwise name the old bytes' check. */

#define PEND_RECS_MAX 65536    /* records over all streams */
#define PEND_RUNS_MAX 4096     /* streams with a run; beyond, all are dropped */

typedef struct {
    uint64_t hlc;
    char    *key;              /* NULL for "" */
    uint8_t  row[IDX_LEN];
    uint8_t  status;
} pend_rec_t;

struct journal_pend {
    uint64_t    stream;
    uint64_t    first;         /* seq of rec[head] */
    size_t      head, n, cap;  /* rec[head .. head + n) */
    pend_rec_t *rec;
};

static void s_pend_trim(knoop_journal_t *self, struct journal_pend *p, size_t k)
{
    for (size_t i = 0; i < k; i++)
        free(p->rec[p->head + i].key);
    p->head += k;
    p->n -= k;
    p->first += k;
    self->npend_recs -= k;
    if (p->n == 0)
        p->head = 0;
}

void journal_pend_free(knoop_journal_t *self)
{
    for (size_t i = 0; i < self->npend; i++) {
        s_pend_trim(self, &self->pend[i], self->pend[i].n);
        free(self->pend[i].rec);
    }
    free(self->pend);
    self->pend = NULL;
    self->npend = self->cap_pend = self->npend_recs = 0;
    knoop_u64map_clear(&self->pend_at);
}

static struct journal_pend *s_pend_run(knoop_journal_t *self, uint64_t stream)
{
    uint64_t at;
    return knoop_u64map_get(&self->pend_at, stream, &at) ? &self->pend[at - 1] : NULL;
}

/* The stored bytes of a message of `stream` changed: its run may name the
 * old ones. */
static void s_pend_drop(knoop_journal_t *self, uint64_t stream)
{
    struct journal_pend *p = s_pend_run(self, stream);
    if (p)
        s_pend_trim(self, p, p->n);
}

static const pend_rec_t *s_pend_get(knoop_journal_t *self, uint64_t stream, uint64_t seq)
{
    struct journal_pend *p = s_pend_run(self, stream);
    if (!p || seq < p->first || seq - p->first >= p->n)
        return NULL;
    return &p->rec[p->head + (seq - p->first)];
}

/* m (stored by this commit, log row `row`) is not verified yet: keep what
 * the walk will need. Out of memory or over the limits: not kept. */
static void s_pend_add(knoop_journal_t *self, const knoop_msg_t *m, const uint8_t *row)
{
    if (self->npend_recs >= PEND_RECS_MAX)
        return;
    struct journal_pend *p = s_pend_run(self, m->stream);
    if (!p) {
        if (self->npend >= PEND_RUNS_MAX) {
            journal_pend_free(self);
            return;
        }
        struct journal_pend *np = knoop_array_grow(self->pend, self->npend, &self->cap_pend,
                                                   sizeof *np, 16);
        if (!np)
            return;
        self->pend = np;
        if (knoop_u64map_put(&self->pend_at, m->stream, self->npend + 1) != KNOOP_OK)
            return;
        p = &self->pend[self->npend++];
        *p = (struct journal_pend) { .stream = m->stream };
    }
    if (p->n && m->b.seq != p->first + p->n)
        s_pend_trim(self, p, p->n);     /* not the next one: start again from it */
    if (p->n == 0)
        p->first = m->b.seq;
    if (p->head + p->n == p->cap) {
        if (p->head) {                  /* room at the front: move down */
            memmove(p->rec, p->rec + p->head, p->n * sizeof *p->rec);
            p->head = 0;
        }
        if (p->n == p->cap) {
            pend_rec_t *nr = knoop_array_grow(p->rec, p->n, &p->cap, sizeof *nr, 64);
            if (!nr)
                return;
            p->rec = nr;
        }
    }
    char *key = NULL;
    if (m->b.key && *m->b.key && !(key = strdup(m->b.key)))
        return;
    pend_rec_t *r = &p->rec[p->head + p->n++];
    r->hlc = m->b.hlc;
    r->key = key;
    r->status = (uint8_t) m->b.status;
    memcpy(r->row, row, IDX_LEN);
    self->npend_recs++;
}

/* After a commit: drop what the walk verified, keep what this batch stored
 * and no head covers yet. The batch's views, rows and stream rows are those
 * of the transaction that committed. */
static void s_pend_commit(knoop_journal_t *self, size_t n)
{
    if (!self->trust)
        return;                         /* no walk: nothing waits for a head */
    for (size_t i = 0; i < self->ntxn_rows; i++) {
        const knoop_stream_info_t *r = &self->txn_rows[i];
        struct journal_pend *p = s_pend_run(self, r->stream);
        if (p && p->n && r->verified >= p->first)
            s_pend_trim(self, p, r->verified - p->first + 1 < p->n
                                 ? (size_t) (r->verified - p->first + 1) : p->n);
    }
    for (size_t i = 0; i < n; i++) {
        const knoop_msg_t *m = self->txn_msgs[i];
        uint64_t at, rat;
        if (!knoop_u64map_get(&self->txn_stored_at, s_seq_key(m->stream, m->b.seq), &at) ||
            at != i || !knoop_u64map_get(&self->txn_rows_at, m->stream, &rat))
            continue;                   /* not stored by this batch's append */
        if (m->b.seq > self->txn_rows[rat].verified)
            s_pend_add(self, m, self->txn_msg_rows[i]);
    }
}

/* The stream's verified prefix grows to `to`: every message it newly covers
 * enters the verified log (what applications are fed from, in this order)
 * and the state view. */
static int s_verify_to(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s, uint64_t to)
{
    for (uint64_t seq = s->verified + 1; seq <= to; seq++) {
        uint8_t k[16], pk[8], row[IDX_LEN];
        int rc;
        const uint8_t *brow;
        const pend_rec_t *pr;
        const knoop_msg_t *bm = s_batch_msg(self, s->stream, seq, &brow);
        if (bm) {
            /* Stored by this very append: the caller's view is what was
             * written; no read, no check, no parse. */
            rc = journal_state_take(self, txn, bm);
            if (rc)
                return rc;
            memcpy(row, brow, IDX_LEN);
        } else if ((pr = s_pend_get(self, s->stream, seq)) != NULL) {
            /* Stored by an earlier commit, kept since (pending messages) */
            knoop_msg_t pm;
            memset(&pm, 0, sizeof pm);
            pm.stream = s->stream;
            pm.b.origin = s->origin;
            pm.b.topic = s->topic;
            pm.b.seq = seq;
            pm.b.hlc = pr->hlc;
            pm.b.key = pr->key ? pr->key : "";
            pm.b.status = (knoop_status_t) pr->status;
            rc = journal_state_take(self, txn, &pm);
            if (rc)
                return rc;
            memcpy(row, pr->row, IDX_LEN);
            self->stats.pending_taken++;
        } else {
            journal_key16(k, s->stream, seq);
            MDB_val key = { 16, k }, val;
            rc = journal_read_err(mdb_get(txn, self->msg, &key, &val));
            if (rc)
                return rc;
            knoop_msg_t m;
            const uint8_t *env;
            size_t len;
            if (journal_msg_open(self, k, &val, &env, &len) == KNOOP_OK &&
                knoop_msg_parse_stored(&m, env, len, s->stream) == KNOOP_OK) {
                self->stats.reparsed++;
                rc = journal_state_take(self, txn, &m);
                knoop_msg_clear(&m);
                if (rc)
                    return rc;
            }
            journal_row(row, k, val.mv_data);
        }
        knoop_put_be64(pk, self->txn_vpos);
        MDB_val vk = { 8, pk }, vv = { IDX_LEN, row };
        rc = journal_err(self, mdb_put(txn, self->vlog, &vk, &vv, MDB_APPEND));
        if (rc)
            return rc;
        self->txn_vpos++;
    }
    if (to > s->verified)
        s->verified = to;
    return KNOOP_OK;
}

/* A message entered the contiguous prefix at s->hwm. With a trust store the
 * picture and the verified log wait for a head signature covering it;
 * without one (no verification) the picture takes it now. */
static int s_linked(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s,
                    const knoop_msg_t *m)
{
    if (!self->trust)
        return journal_state_take(self, txn, m);
    if (m->sig)
        return s_verify_to(self, txn, s, s->hwm);
    return KNOOP_OK;
}

/* Walk the contiguous prefix forward over out-of-order messages already
 * stored. Link failures end the walk and become fork evidence. */
static int s_advance(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s)
{
    while (s->hwm < s->max_seq) {
        uint8_t k[16];
        journal_key16(k, s->stream, s->hwm + 1);
        MDB_val key = { 16, k }, val;
        int rc = journal_read_err(mdb_get(txn, self->msg, &key, &val));
        if (rc == KNOOP_ENOTFOUND)
            return KNOOP_OK;
        if (rc)
            return rc;
        const uint8_t *env;
        size_t len;
        if (journal_msg_open(self, k, &val, &env, &len) != KNOOP_OK)
            return KNOOP_OK;         /* damaged: the walk resumes once it is repaired */
        knoop_msg_t m;
        int prc = knoop_msg_parse(&m, env, len);
        if (prc == KNOOP_OK && memcmp(m.b.prev, s->head, KNOOP_HASH_LEN) == 0) {
            s->hwm++;
            memcpy(s->head, m.chain, KNOOP_HASH_LEN);
            s->last_hlc = m.b.hlc;
            rc = s_linked(self, txn, s, &m);
            knoop_msg_clear(&m);
            if (rc)
                return rc;
            continue;
        }
        /* It does not link to what we now know is its predecessor: the
         * origin has two histories. Keep it as evidence, out of the way. */
        uint8_t chain[KNOOP_HASH_LEN] = { 0 };
        if (prc == KNOOP_OK)
            memcpy(chain, m.chain, KNOOP_HASH_LEN);
        self->stats.chain_errors++;
        rc = s_keep_fork(self, txn, s, s->hwm + 1, chain, env, len);
        knoop_msg_clear(&m);
        if (!rc)
            rc = journal_err(self, mdb_del(txn, self->msg, &key, NULL));
        s_pend_drop(self, s->stream);
        return rc;
    }
    return KNOOP_OK;
}

/* The chain of the stored, undamaged message at seq (zeros for seq 0).
 * false when it is not there or damaged. */
static bool s_chain_at(knoop_journal_t *self, MDB_txn *txn, uint64_t stream, uint64_t seq,
                       uint8_t out[KNOOP_HASH_LEN], uint8_t prev_out[KNOOP_HASH_LEN])
{
    if (seq == 0) {
        memset(out, 0, KNOOP_HASH_LEN);
        return !prev_out;
    }
    uint8_t k[16];
    journal_key16(k, stream, seq);
    MDB_val key = { 16, k }, val;
    const uint8_t *env;
    size_t len;
    knoop_msg_t m;
    if (mdb_get(txn, self->msg, &key, &val) != 0 || journal_msg_open(self, k, &val, &env, &len) ||
        knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return false;
    memcpy(out, m.chain, KNOOP_HASH_LEN);
    if (prev_out)
        memcpy(prev_out, m.b.prev, KNOOP_HASH_LEN);
    knoop_msg_clear(&m);
    return true;
}

/* m arrives for a (stream, seq) whose stored copy is damaged: take it in
 * place of the damaged bytes when the chain around it proves it is the one
 * that was there (its successor's prev, or the head, and its predecessor's
 * chain), or a verified head signature covers it. The log and vlog rows
 * stay: each message is still handed out once, at its place. */
static int s_repair(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s,
                    const knoop_msg_t *m, const uint8_t k[16], int *txn_rc)
{
    uint64_t seq = m->b.seq;
    uint8_t want[KNOOP_HASH_LEN], c[KNOOP_HASH_LEN];
    int proofs = 0, against = 0;
    if (seq == s->hwm) {
        proofs++;
        against += memcmp(s->head, m->chain, KNOOP_HASH_LEN) != 0;
    } else if (seq < s->hwm && s_chain_at(self, txn, s->stream, seq + 1, c, want)) {
        proofs++;
        against += memcmp(want, m->chain, KNOOP_HASH_LEN) != 0;
    }
    if (s_chain_at(self, txn, s->stream, seq - 1, c, NULL)) {
        proofs++;
        against += memcmp(c, m->b.prev, KNOOP_HASH_LEN) != 0;
    }
    bool signed_ok = m->sig && self->trust;     /* s_precheck verified it */
    if (against || (!proofs && !signed_ok)) {
        self->stats.chain_errors++;
        knoop_warn("journal %s: a copy of damaged stream %016llx seq %llu %s; not taken",
                   self->path, (unsigned long long) s->stream, (unsigned long long) seq,
                   against ? "does not link where the damaged one was"
                           : "cannot be proven (its neighbours are damaged too, and it is unsigned)");
        return KNOOP_ECHAIN;
    }
    int rc = journal_pack(self, m, k);
    if (rc)
        return rc;
    MDB_val key = { 16, (void *) k }, val = { self->scratch.len, self->scratch.data };
    *txn_rc = journal_err(self, mdb_put(txn, self->msg, &key, &val, 0));
    s_pend_drop(self, s->stream);
    if (*txn_rc)
        return *txn_rc;
    journal_undamaged(self, s->stream, seq);
    if ((uint32_t) m->b.priority > s->prio)
        s->prio = (uint32_t) m->b.priority;     /* the damaged copy may not have been counted */
    if (knoop_tlp_restricted(m->b.tlp))
        s->flags |= KNOOP_STREAM_RESTRICTED;
    knoop_info("journal %s: repaired stream %016llx (%s on %s) seq %llu with a good copy",
               self->path, (unsigned long long) s->stream, s->origin, s->topic,
               (unsigned long long) seq);
    /* The walk over the contiguous prefix stopped at the damaged message. */
    if (seq == s->hwm + 1 && memcmp(m->b.prev, s->hwm ? s->head : s_zero_hash,
                                    KNOOP_HASH_LEN) == 0) {
        s->hwm = seq;
        memcpy(s->head, m->chain, KNOOP_HASH_LEN);
        s->last_hlc = m->b.hlc;
        *txn_rc = s_linked(self, txn, s, m);
        if (!*txn_rc)
            *txn_rc = s_advance(self, txn, s);
    } else if (seq <= s->hwm && seq > s->verified && m->sig && self->trust) {
        *txn_rc = s_verify_to(self, txn, s, seq);
    }
    return *txn_rc;
}

/* The row of m's stream within the append transaction: read from the
 * table the first time the batch meets the stream, then kept here and
 * written once when the batch is done (s_rows_put), however many of the
 * batch's messages it takes. A new stream gets a fresh row. */
static int s_row_for(knoop_journal_t *self, MDB_txn *txn, const knoop_msg_t *m,
                     knoop_stream_info_t **out)
{
    uint64_t at;
    if (knoop_u64map_get(&self->txn_rows_at, m->stream, &at)) {
        *out = &self->txn_rows[at];
        return KNOOP_OK;
    }
    knoop_stream_info_t *nr = knoop_array_grow(self->txn_rows, self->ntxn_rows,
                                               &self->cap_txn_rows, sizeof *nr, 16);
    if (!nr)
        return KNOOP_ENOMEM;
    self->txn_rows = nr;
    knoop_stream_info_t *s = &self->txn_rows[self->ntxn_rows];
    int rc = journal_stream_get(self, txn, m->stream, s);
    if (rc == KNOOP_ENOTFOUND) {
        memset(s, 0, sizeof *s);
        s->stream = m->stream;
        s->epoch = m->b.epoch;
        snprintf(s->origin, sizeof s->origin, "%s", m->b.origin);
        snprintf(s->topic, sizeof s->topic, "%s", m->b.topic);
    } else if (rc) {
        return rc;
    }
    if (knoop_u64map_put(&self->txn_rows_at, m->stream, self->ntxn_rows) != KNOOP_OK)
        return KNOOP_ENOMEM;
    self->ntxn_rows++;
    *out = s;
    return KNOOP_OK;
}

/* The rows the batch touched, each written once; a new stream none of
 * whose messages was taken gets no row. */
static int s_rows_put(knoop_journal_t *self, MDB_txn *txn)
{
    for (size_t i = 0; i < self->ntxn_rows; i++) {
        const knoop_stream_info_t *r = &self->txn_rows[i];
        if (r->max_seq == 0 && r->hwm == 0 && r->flags == 0)
            continue;
        int rc = journal_stream_put(self, txn, r);
        if (rc)
            return rc;
    }
    return KNOOP_OK;
}

static void s_rows_reset(knoop_journal_t *self)
{
    self->ntxn_rows = 0;
    knoop_u64map_clear(&self->txn_rows_at);
}

/* One message inside the batch transaction. Returns the per-message result;
 * a failure of the transaction also goes to *txn_rc and aborts the batch.
 * The stream's row is changed in the batch's copy (s_row_for), written once
 * at the end. */
static int s_append_one(knoop_journal_t *self, MDB_txn *txn, size_t idx, uint64_t *pos,
                        int *txn_rc)
{
    const knoop_msg_t *m = self->txn_msgs[idx];
    knoop_stream_info_t *sp;
    int rc = s_row_for(self, txn, m, &sp);
    if (rc) {
        /* The batch stops here: the stream's state is unknown. A damaged
         * stream row is named as what it is, not as a failed read. */
        if (rc == KNOOP_ECORRUPT)
            knoop_error("journal %s: the row of stream %016llx (%s on %s) is DAMAGED on disk "
                        "(wrong size); batch not stored; the journal must be restored or "
                        "rebuilt from its broker", self->path, (unsigned long long) m->stream,
                        m->b.origin, m->b.topic);
        *txn_rc = rc;
        return rc;
    } else if (sp->epoch != m->b.epoch || strcmp(sp->origin, m->b.origin) != 0 ||
               strcmp(sp->topic, m->b.topic) != 0) {
        self->stats.collisions++;
        knoop_error("journal %s: stream id %016llx collision: (%s, %s) vs stored (%s, %s); refused",
                    self->path, (unsigned long long) m->stream, m->b.origin, m->b.topic,
                    sp->origin, sp->topic);
        return KNOOP_ECOLLISION;
    }

    uint8_t k[16];
    journal_key16(k, m->stream, m->b.seq);
    MDB_val key = { 16, k }, val;
    int mrc = journal_read_err(mdb_cursor_get(self->txn_msg_cur, &key, &val, MDB_SET));
    const uint8_t *oenv;
    size_t olen;
    if (mrc == KNOOP_OK && journal_msg_open(self, k, &val, &oenv, &olen) != KNOOP_OK)
        return s_repair(self, txn, sp, m, k, txn_rc);
    if (mrc == KNOOP_OK) {
        knoop_msg_t old;
        int prc = knoop_msg_parse(&old, oenv, olen);
        bool same = prc == KNOOP_OK && memcmp(old.chain, m->chain, KNOOP_HASH_LEN) == 0;
        bool upgrade = same && !old.sig && m->sig && self->trust;
        knoop_msg_clear(&old);
        if (!same) {
            self->scratch.len = 0;
            int brc = knoop_msg_pack(m, &self->scratch);
            if (brc)
                return brc;
            *txn_rc = s_keep_fork(self, txn, sp, m->b.seq, m->chain,
                                  self->scratch.data, self->scratch.len);
            return KNOOP_EFORK;
        }
        self->stats.duplicates++;
        if (upgrade) {
            /* The same message, now with its (verified) head signature:
             * keep the signed copy so the head stays provable. */
            if (journal_pack(self, m, k) != KNOOP_OK)
                return KNOOP_EDUPLICATE;
            MDB_val nv = { self->scratch.len, self->scratch.data };
            *txn_rc = journal_err(self, mdb_put(txn, self->msg, &key, &nv, 0));
            s_pend_drop(self, sp->stream);
            if (!*txn_rc && m->b.seq <= sp->hwm && m->b.seq > sp->verified) {
                *txn_rc = s_verify_to(self, txn, sp, m->b.seq);
            }
        }
        return KNOOP_EDUPLICATE;
    }
    if (mrc != KNOOP_ENOTFOUND) {
        *txn_rc = mrc;
        return mrc;
    }
    if (m->b.seq <= sp->hwm) {
        *txn_rc = KNOOP_ECORRUPT;
        knoop_error("journal %s: stream %016llx misses seq %llu below its hwm %llu",
                    self->path, (unsigned long long) sp->stream,
                    (unsigned long long) m->b.seq, (unsigned long long) sp->hwm);
        return KNOOP_ECORRUPT;
    }
    if (m->b.seq > sp->hwm + 1 && (self->append_flags & KNOOP_APPEND_CONTIGUOUS)) {
        self->stats.chain_errors++;
        knoop_warn("journal %s: %s on %s seq %llu leaves a gap after seq %llu; refused",
                   self->path, m->b.origin, m->b.topic, (unsigned long long) m->b.seq,
                   (unsigned long long) sp->hwm);
        return KNOOP_EGAP;
    }
    if (m->b.seq == sp->hwm + 1 &&
        memcmp(m->b.prev, sp->hwm ? sp->head : s_zero_hash, KNOOP_HASH_LEN) != 0) {
        self->stats.chain_errors++;
        knoop_warn("journal %s: %s on %s seq %llu does not link to seq %llu; refused",
                   self->path, m->b.origin, m->b.topic, (unsigned long long) m->b.seq,
                   (unsigned long long) sp->hwm);
        return KNOOP_ECHAIN;
    }

    /* Store the message (check, canonical envelope: exact body, sig) and its
     * arrival. */
    rc = journal_pack(self, m, k);
    if (rc)
        return rc;
    val.mv_size = self->scratch.len;
    val.mv_data = self->scratch.data;
    *txn_rc = journal_err(self, mdb_cursor_put(self->txn_msg_cur, &key, &val, 0));
    if (*txn_rc)
        return *txn_rc;
    uint8_t pk[8], *row = self->txn_msg_rows[idx];
    knoop_put_be64(pk, *pos);
    journal_row(row, k, self->scratch.data);
    MDB_val lkey = { 8, pk }, lval = { IDX_LEN, row };
    *txn_rc = journal_err(self, mdb_put(txn, self->log, &lkey, &lval, MDB_APPEND));
    if (*txn_rc)
        return *txn_rc;
    (*pos)++;
    if (knoop_u64map_put(&self->txn_stored_at, s_seq_key(m->stream, m->b.seq), idx) != KNOOP_OK) {
        *txn_rc = KNOOP_ENOMEM;
        return KNOOP_ENOMEM;
    }

    if (m->b.seq > sp->max_seq)
        sp->max_seq = m->b.seq;
    if ((uint32_t) m->b.priority > sp->prio)
        sp->prio = (uint32_t) m->b.priority;
    if (knoop_tlp_restricted(m->b.tlp))
        sp->flags |= KNOOP_STREAM_RESTRICTED;
    if (m->b.seq == sp->hwm + 1) {
        sp->hwm = m->b.seq;
        memcpy(sp->head, m->chain, KNOOP_HASH_LEN);
        sp->last_hlc = m->b.hlc;
        *txn_rc = s_linked(self, txn, sp, m);
        if (!*txn_rc)
            *txn_rc = s_advance(self, txn, sp);
    }
    if (*txn_rc)
        return *txn_rc;
    self->stats.stored++;
    return KNOOP_OK;
}

/* Is m's signature known good already: the journal holds m (same chain)
 * with a signature? Then append finds it a duplicate and verifying it again
 * adds no trust. A copy kept unsigned is not enough: the signed one replaces
 * it, so it must verify. */
static bool s_held_signed(knoop_journal_t *self, MDB_txn *txn, const knoop_msg_t *m)
{
    uint8_t k[16];
    journal_key16(k, m->stream, m->b.seq);
    MDB_val key = { 16, k }, val;
    const uint8_t *env;
    size_t len;
    if (mdb_get(txn, self->msg, &key, &val) != MDB_SUCCESS ||
        journal_msg_open(self, k, &val, &env, &len) != KNOOP_OK)
        return false;
    knoop_msg_t old;
    if (knoop_msg_parse(&old, env, len) != KNOOP_OK)
        return false;
    bool held = old.sig && memcmp(old.chain, m->chain, KNOOP_HASH_LEN) == 0;
    knoop_msg_clear(&old);
    return held;
}

/* The keys of the origin s_precheck saw last in one batch: a batch is
 * mostly one origin's, and the trust store does not change during it. */
typedef struct {
    const char         *origin;
    const knoop_cert_t *keys;
    size_t              n;
} origin_memo_t;

/* Checks that need no transaction: signatures against the trust store. */
static int s_precheck(knoop_journal_t *self, const knoop_msg_t *m, origin_memo_t *memo)
{
    if (!self->trust)
        return KNOOP_OK;
    const knoop_cert_t *cert = NULL;
    int rc;
    if (!memo->origin || strcmp(memo->origin, m->b.origin) != 0) {
        memo->keys = knoop_trust_id_keys(self->trust, m->b.origin, &memo->n);
        memo->origin = m->b.origin;
    }
    if (m->signed_here) {
        /* Signed a moment ago by this process with the key it holds:
         * verifying adds no trust. The origin's key and its revocation
         * are still checked, as for a message that is not a head. */
        knoop_msg_t unsigned_view = *m;
        unsigned_view.sig = NULL;
        self->stats.sig_skipped++;
        rc = knoop_trust_msg_key_of(memo->keys, memo->n, &unsigned_view, &cert);
    } else {
        if (m->sig)
            self->stats.sig_verified++;
        rc = knoop_trust_msg_key_of(memo->keys, memo->n, m, &cert);
    }
    if (rc == KNOOP_EUNKNOWN) {
        self->stats.unknown_origin++;
        knoop_warn("journal %s: message from unknown partner '%s' on %s refused",
                   self->path, m->b.origin, m->b.topic);
        return KNOOP_EUNKNOWN;
    }
    /* Revocation has a time: what the partner signed before it stands,
     * anything dated at or after it is refused (docs/protocol.md, Trust). */
    if (rc == KNOOP_EPERM) {
        self->stats.unknown_origin++;
        knoop_warn("journal %s: message from '%s' on %s seq %llu is dated after its key was "
                   "revoked; refused", self->path, m->b.origin, m->b.topic,
                   (unsigned long long) m->b.seq);
        return KNOOP_EUNKNOWN;
    }
    if (rc == KNOOP_ESIG) {
        self->stats.sig_errors++;
        knoop_warn("journal %s: bad head signature from '%s' on %s seq %llu; refused",
                   self->path, m->b.origin, m->b.topic, (unsigned long long) m->b.seq);
        return KNOOP_ESIG;
    }
    return KNOOP_OK;
}

int knoop_journal_append(knoop_journal_t *self, const knoop_msg_t *const *msgs,
                         size_t n, int *results)
{
    return knoop_journal_append_ex(self, msgs, n, results, 0);
}

typedef struct {
    const knoop_msg_t *const *msgs;
    size_t                    n;
    const knoop_journal_cursor_t *cursors;   /* written in the same transaction */
    size_t                    ncursors;
    int                      *results;
    const int                *pre;       /* s_precheck's verdicts */
    knoop_journal_stats_t     saved;     /* the counters before the batch */
    uint64_t                  pos;       /* the next log position, in the txn */
} append_t;

/* The message counters as before a batch that did not commit; what the
 * store counted meanwhile (map growth, full errors) stays. */
static void s_stats_restore(knoop_journal_t *self, const knoop_journal_stats_t *saved)
{
    uint64_t grows = self->stats.map_grows, full = self->stats.full_errors;
    self->stats = *saved;
    self->stats.map_grows = grows;
    self->stats.full_errors = full;
}

/* The batch inside one write transaction; run again from the start when the
 * map had to grow. */
static int s_append_txn(knoop_journal_t *self, MDB_txn *txn, void *arg)
{
    append_t *a = arg;
    s_stats_restore(self, &a->saved);
    s_rows_reset(self);
    knoop_u64map_clear(&self->txn_stored_at);
    a->pos = self->next_pos;
    self->txn_vpos = self->next_vpos;
    int txn_rc = a->n ? journal_err(self, mdb_cursor_open(txn, self->msg, &self->txn_msg_cur))
                      : KNOOP_OK;
    for (size_t i = 0; i < a->n && txn_rc == KNOOP_OK; i++)
        a->results[i] = a->pre[i] ? a->pre[i] : s_append_one(self, txn, i, &a->pos, &txn_rc);
    if (self->txn_msg_cur)
        mdb_cursor_close(self->txn_msg_cur);
    self->txn_msg_cur = NULL;
    if (txn_rc == KNOOP_OK)
        txn_rc = s_rows_put(self, txn);
    for (size_t i = 0; i < a->ncursors && txn_rc == KNOOP_OK; i++)
        txn_rc = journal_cursor_write(self, txn, &a->cursors[i]);
    /* Refusals (gaps, forks) still write their stream rows: no sign that
     * there is room again (journal_write keeps a storage alarm then). */
    self->txn_stored_none = self->stats.stored == a->saved.stored;
    self->txn_pos = a->pos;
    return txn_rc;
}

int knoop_journal_append_ex(knoop_journal_t *self, const knoop_msg_t *const *msgs,
                            size_t n, int *results, unsigned flags)
{
    return knoop_journal_commit(self, msgs, n, results, flags, NULL, 0);
}

int knoop_journal_append_then(knoop_journal_t *self, const knoop_msg_t *const *msgs,
                              size_t n, int *results, unsigned flags,
                              knoop_journal_precommit_fn *fn, void *arg)
{
    return knoop_journal_commit_then(self, msgs, n, results, flags, NULL, 0, fn, arg);
}

int knoop_journal_commit_then(knoop_journal_t *self, const knoop_msg_t *const *msgs, size_t n,
                              int *results, unsigned flags,
                              const knoop_journal_cursor_t *cursors, size_t ncursors,
                              knoop_journal_precommit_fn *fn, void *arg)
{
    self->precommit = fn;
    self->precommit_arg = arg;
    int rc = knoop_journal_commit(self, msgs, n, results, flags, cursors, ncursors);
    self->precommit = NULL;
    self->precommit_arg = NULL;
    return rc;
}

int knoop_journal_commit(knoop_journal_t *self, const knoop_msg_t *const *msgs, size_t n,
                         int *results, unsigned flags, const knoop_journal_cursor_t *cursors,
                         size_t ncursors)
{
    self->append_flags = flags;
    if (self->flags & KNOOP_JOURNAL_READONLY)
        return KNOOP_EPERM;
    if (n == 0 && ncursors == 0)
        return KNOOP_OK;
    for (size_t i = 0; i < ncursors; i++) {
        size_t nl = strlen(cursors[i].name);
        if (nl == 0 || nl > 255)
            return KNOOP_EINVAL;
    }
    int *pre = malloc((n ? n : 1) * sizeof *pre);
    uint8_t (*rows)[IDX_LEN] = malloc((n ? n : 1) * IDX_LEN);
    if (!pre || !rows) {
        free(pre);
        free(rows);
        return KNOOP_ENOMEM;
    }
    /* Duplicates first: a signed head already held is not verified again
     * (in a mesh most arrivals can be copies of what another link brought). */
    journal_read_t r = { 0 };
    int r_rc = -1;                   /* not begun */
    origin_memo_t memo = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (self->trust && msgs[i]->sig && !msgs[i]->signed_here) {
            if (r_rc < 0)
                r_rc = journal_read_begin(self, NULL, &r);
            if (r_rc == KNOOP_OK && s_held_signed(self, r.txn, msgs[i])) {
                self->stats.sig_skipped++;
                pre[i] = KNOOP_OK;   /* append finds it a duplicate */
                continue;
            }
        }
        pre[i] = s_precheck(self, msgs[i], &memo);
    }
    if (r_rc == KNOOP_OK)
        journal_read_end(&r);

    uint64_t now = knoop_now_ms();
    if (now - self->last_reader_check > READER_CHECK_MS)
        knoop_journal_reader_check(self);

    append_t a = { .msgs = msgs, .n = n, .results = results, .pre = pre,
                   .cursors = cursors, .ncursors = ncursors, .saved = self->stats };
    char what[64];
    if (n)
        snprintf(what, sizeof what, "batch of %zu message%s", n, n == 1 ? "" : "s");
    else
        snprintf(what, sizeof what, "cursor");
    uint64_t need = 0;   /* what the batch needs on disk, roughly: pages are copied */
    for (size_t i = 0; i < n; i++)
        need += 2 * (uint64_t) msgs[i]->body_len;
    for (size_t i = 0; i < ncursors; i++)
        need += cursors[i].len;
    self->txn_msgs = msgs;
    self->txn_msg_rows = rows;
    int rc = journal_write(self, s_append_txn, &a, what, need);
    if (rc == KNOOP_OK)
        s_pend_commit(self, n);
    self->txn_msgs = NULL;
    self->txn_msg_rows = NULL;
    knoop_u64map_clear(&self->txn_stored_at);
    if (rc == KNOOP_OK) {
        self->next_pos = a.pos;
        self->next_vpos = self->txn_vpos;
        self->stats.commits++;
    } else {
        s_stats_restore(self, &a.saved);
    }
    free(pre);
    free(rows);
    return rc;
}

/* ---- the stream rows, read ---- */

int knoop_journal_stream(knoop_journal_t *self, uint64_t stream, knoop_stream_info_t *out)
{
    journal_read_t r;
    int rc = journal_read_begin(self, NULL, &r);
    if (rc)
        return rc;
    rc = journal_stream_get(self, r.txn, stream, out);
    journal_read_end(&r);
    return rc;
}

int knoop_journal_vector(knoop_journal_t *self, const char *pattern,
                         knoop_stream_info_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (pattern && knoop_pattern_validate(pattern) != KNOOP_OK)
        return KNOOP_ETOPIC;
    journal_read_t r;
    int rc = journal_read_begin(self, &self->stream, &r);
    if (rc)
        return rc;
    MDB_cursor *cur = r.cur;
    size_t cap = 0, cnt = 0;
    knoop_stream_info_t *out = NULL;
    MDB_val k, v;
    int err = KNOOP_OK, g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8) {
            err = KNOOP_ECORRUPT;
            break;
        }
        knoop_stream_info_t s;
        err = journal_stream_decode(&v, knoop_get_be64(k.mv_data), &s);
        if (err)
            break;
        if (pattern && !knoop_topic_match(pattern, s.topic))
            continue;
        knoop_stream_info_t *nr = knoop_array_grow(out, cnt, &cap, sizeof *out, 64);
        if (!nr) {
            err = KNOOP_ENOMEM;
            break;
        }
        out = nr;
        out[cnt++] = s;
    }
    if (!err && g != MDB_NOTFOUND)
        err = journal_read_err(g);     /* the read failed on the way */
    journal_read_end(&r);
    if (err) {
        free(out);
        return err;
    }
    *rows = out;
    *n = cnt;
    return KNOOP_OK;
}

void knoop_vector_digest(const knoop_stream_info_t *rows, size_t n,
                         uint8_t out[KNOOP_HASH_LEN])
{
    static const char tag[] = "knoop-digest-v1";
    knoop_hasher_t h;
    knoop_hasher_init(&h);
    knoop_hasher_update(&h, tag, sizeof tag - 1);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].hwm == 0)
            continue;
        uint8_t row[16 + KNOOP_HASH_LEN];
        journal_key16(row, rows[i].stream, rows[i].hwm);
        memcpy(row + 16, rows[i].head, KNOOP_HASH_LEN);
        knoop_hasher_update(&h, row, sizeof row);
    }
    knoop_hasher_final(&h, out);
}

