/* journal_damage.c — damage found on disk: a message whose bytes no longer
 * match their check, a log or vlog row that names the wrong message. Reads
 * meet it (journal_msg_open, journal_row_open); it is remembered until a good
 * copy repairs it (journal_stream.c); knoop_journal_scan checks everything
 * and rebuilds damaged rows. */
#include "journal_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ssize_t s_damage_find(const knoop_journal_t *self, uint64_t stream, uint64_t seq)
{
    for (size_t i = 0; i < self->ndamage; i++)
        if (self->damage[i].stream == stream && self->damage[i].seq == seq)
            return (ssize_t) i;
    return -1;
}

/* A message found damaged: remembered (until repaired), counted, logged once. */
void journal_msg_damaged(knoop_journal_t *self, uint64_t stream, uint64_t seq, const char *how)
{
    if (s_damage_find(self, stream, seq) >= 0)
        return;
    self->stats.damaged++;
    if (self->ndamage < DAMAGE_MAX) {
        knoop_journal_damage_t *nd = knoop_array_grow(self->damage, self->ndamage,
                                                      &self->cap_damage, sizeof *nd, 16);
        if (nd) {
            self->damage = nd;
            self->damage[self->ndamage++] = (knoop_journal_damage_t) { stream, seq };
        }
    }
    knoop_error("journal %s: DAMAGED on disk: stream %016llx seq %llu (%s); it is not "
                "handed out; it must be fetched again from a broker or peer",
                self->path, (unsigned long long) stream, (unsigned long long) seq, how);
}

void journal_undamaged(knoop_journal_t *self, uint64_t stream, uint64_t seq)
{
    ssize_t i = s_damage_find(self, stream, seq);
    if (i < 0)
        return;
    self->damage[i] = self->damage[--self->ndamage];
    self->stats.repaired++;
}

/* The envelope of a stored msg value, if its bytes still match their check.
 * KNOOP_ECORRUPT (remembered and logged) when they do not. */
int journal_msg_open(knoop_journal_t *self, const uint8_t key[16], const MDB_val *val,
                      const uint8_t **env, size_t *len)
{
    if (val->mv_size > MSG_CHECK) {
        uint8_t c[MSG_CHECK];
        journal_check(self, c, key, (const uint8_t *) val->mv_data + MSG_CHECK, val->mv_size - MSG_CHECK);
        if (memcmp(c, val->mv_data, MSG_CHECK) == 0) {
            *env = (const uint8_t *) val->mv_data + MSG_CHECK;
            *len = val->mv_size - MSG_CHECK;
            return KNOOP_OK;
        }
    }
    journal_msg_damaged(self, knoop_get_be64(key), knoop_get_be64(key + 8),
              "its bytes do not match the check stored with them");
    return KNOOP_ECORRUPT;
}

/* A log or vlog row that cannot be trusted (it would point at the wrong
 * message, or at none). Counted; logged at most every 10 s. */
static void s_row_damaged(knoop_journal_t *self, const char *db, uint64_t pos, const char *how)
{
    self->stats.damaged_rows++;
    uint64_t now = knoop_now_ms();
    if (now - self->last_row_report < 10000)
        return;
    self->last_row_report = now;
    knoop_error("journal %s: DAMAGED on disk: %s row at position %llu (%s); delivery stops "
                "there until the row is rebuilt (knoop_journal_scan; the node does it itself)",
                self->path, db, (unsigned long long) pos, how);
}

/* Is there fork evidence for (stream, seq)? A log row whose message moved
 * there is not damage. KNOOP_OK when there is, KNOOP_ENOTFOUND when not,
 * else the failed read's error. */
static int s_fork_has(knoop_journal_t *self, MDB_txn *txn, const uint8_t key[16])
{
    MDB_cursor *cur;
    int rc = journal_read_err(mdb_cursor_open(txn, self->fork, &cur));
    if (rc)
        return rc;
    MDB_val k = { 16, (void *) key }, v;
    rc = journal_read_err(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
    if (!rc && (k.mv_size < 16 || memcmp(k.mv_data, key, 16) != 0))
        rc = KNOOP_ENOTFOUND;
    mdb_cursor_close(cur);
    return rc;
}


/* Check one log/vlog row and find its message. ROW_OK with the envelope;
 * ROW_GONE when the message moved to fork evidence; ROW_DAMAGED for a row
 * that cannot be trusted; ROW_MSG_DAMAGED when the message itself is damaged
 * (remembered); a negative KNOOP error for a failed read. */
int journal_row_open(knoop_journal_t *self, MDB_txn *txn, const char *db, const MDB_val *k,
                      const MDB_val *v, const uint8_t **env, size_t *len)
{
    uint64_t pos = k->mv_size == 8 ? knoop_get_be64(k->mv_data) : 0;
    if (k->mv_size != 8 || v->mv_size != IDX_LEN) {
        s_row_damaged(self, db, pos, "wrong size");
        return ROW_DAMAGED;
    }
    MDB_val mk = { 16, v->mv_data }, mv;
    int grc = journal_read_err(mdb_get(txn, self->msg, &mk, &mv));
    if (grc == KNOOP_ENOTFOUND) {
        grc = s_fork_has(self, txn, v->mv_data);
        if (grc == KNOOP_OK)
            return ROW_GONE;
        if (grc != KNOOP_ENOTFOUND)
            return grc;
        s_row_damaged(self, db, pos, "it names a message that is not stored");
        return ROW_DAMAGED;
    }
    if (grc)
        return grc;
    if (mv.mv_size < IDX_CHECK ||
        memcmp(mv.mv_data, (const uint8_t *) v->mv_data + 16, IDX_CHECK) != 0) {
        s_row_damaged(self, db, pos, "it does not match the message it names");
        return ROW_DAMAGED;
    }
    /* A message this very write transaction stored (a precommit hook reads
     * what it is about to commit) was packed and checked in memory a moment
     * ago and has not been to the disk: checking it again would cost a
     * hash of the envelope per reader — per session, in a broker's fan-out. */
    if (txn == self->open_txn && mv.mv_size > MSG_CHECK &&
        pos >= (strcmp(db, "vlog") == 0 ? self->next_vpos : self->next_pos)) {
        *env = (const uint8_t *) mv.mv_data + MSG_CHECK;
        *len = mv.mv_size - MSG_CHECK;
        return ROW_OK;
    }
    if (journal_msg_open(self, v->mv_data, &mv, env, len) != KNOOP_OK)
        return ROW_MSG_DAMAGED;
    return ROW_OK;
}

void journal_row(uint8_t row[IDX_LEN], const uint8_t key[16], const uint8_t *check)
{
    memcpy(row, key, 16);
    memcpy(row + 16, check, IDX_CHECK);
}

/* ---- scan and repair ---- */

size_t knoop_journal_damaged(const knoop_journal_t *self, const knoop_journal_damage_t **list)
{
    if (list)
        *list = self->damage;
    return self->ndamage;
}

typedef struct {
    uint64_t pos;
    uint8_t  row[IDX_LEN];
    bool     whole;       /* the row had IDX_LEN bytes */
    bool     fixed;
} bad_row_t;

typedef struct {
    uint8_t key[16];
    uint8_t check[IDX_CHECK];
    bool    used;
} candidate_t;

static int s_key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Rebuild the damaged rows of one index: each names one of the messages no
 * intact row names (for vlog: of those a head signature covers), matched by
 * what survives in the row (its key or its check), else in order when the
 * counts agree. Positions stay, so nothing is handed out twice. */
static int s_rebuild_rows(knoop_journal_t *self, MDB_dbi dbi, bool vlog, bad_row_t *bad,
                          size_t nbad, uint8_t (*refs)[16], size_t nrefs,
                          knoop_journal_scan_t *out)
{
    qsort(refs, nrefs, 16, s_key_cmp);
    self->mdb_cause = MDB_SUCCESS;
    MDB_txn *txn;
    int rc = journal_begin(self, 0, &txn);
    if (rc)
        return rc;
    candidate_t *cand = NULL;
    size_t ncand = 0, cap = 0;
    MDB_cursor *cur;
    rc = journal_read_err(mdb_cursor_open(txn, self->msg, &cur));
    bool cur_open = rc == KNOOP_OK;
    knoop_stream_info_t si = { 0 };
    bool have_si = false;
    MDB_val k, v;
    int g;
    for (g = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || v.mv_size < IDX_CHECK ||
            bsearch(k.mv_data, refs, nrefs, 16, s_key_cmp))
            continue;
        uint64_t stream = knoop_get_be64(k.mv_data), seq = knoop_get_be64((uint8_t *) k.mv_data + 8);
        if (vlog) {
            if (!have_si || si.stream != stream)
                have_si = journal_stream_get(self, txn, stream, &si) == KNOOP_OK;
            if (!have_si || seq > si.verified)
                continue;
        }
        candidate_t *nc = knoop_array_grow(cand, ncand, &cap, sizeof *nc, 64);
        if (!nc) {
            rc = KNOOP_ENOMEM;
            break;
        }
        cand = nc;
        memcpy(cand[ncand].key, k.mv_data, 16);
        memcpy(cand[ncand].check, v.mv_data, IDX_CHECK);
        cand[ncand++].used = false;
    }
    if (!rc && g != MDB_NOTFOUND)
        rc = journal_read_err(g);      /* the walk failed on the way: not every candidate */
    if (cur_open)
        mdb_cursor_close(cur);
    /* what survives in the row first, then order */
    for (size_t i = 0; !rc && i < nbad; i++)
        for (size_t j = 0; bad[i].whole && j < ncand && !bad[i].fixed; j++)
            if (!cand[j].used && (memcmp(bad[i].row, cand[j].key, 16) == 0 ||
                                  memcmp(bad[i].row + 16, cand[j].check, IDX_CHECK) == 0)) {
                journal_row(bad[i].row, cand[j].key, cand[j].check);
                bad[i].fixed = cand[j].used = true;
            }
    size_t left_bad = 0, left_cand = 0;
    for (size_t i = 0; i < nbad; i++)
        left_bad += !bad[i].fixed;
    for (size_t j = 0; j < ncand; j++)
        left_cand += !cand[j].used;
    if (!rc && left_bad && left_bad == left_cand)
        for (size_t i = 0, j = 0; i < nbad; i++) {
            if (bad[i].fixed)
                continue;
            while (cand[j].used)
                j++;
            journal_row(bad[i].row, cand[j].key, cand[j].check);
            bad[i].fixed = cand[j].used = true;
        }
    for (size_t i = 0; !rc && i < nbad; i++) {
        if (!bad[i].fixed)
            continue;
        uint8_t pk[8];
        knoop_put_be64(pk, bad[i].pos);
        MDB_val rk = { 8, pk }, rv = { IDX_LEN, bad[i].row };
        rc = journal_err(self, mdb_put(txn, dbi, &rk, &rv, 0));
        if (!rc)
            out->rebuilt_rows++;
    }
    for (size_t j = 0; j < ncand; j++)
        out->unindexed += !cand[j].used;
    free(cand);
    if (rc) {
        mdb_txn_abort(txn);
        out->rebuilt_rows = 0;
        /* a put LMDB refused is a failed write (journal_err kept its
         * cause); a failed read or no memory for the candidates is not */
        return self->mdb_cause ? journal_write_failed(self, rc, "rebuilt index rows", 0) : rc;
    }
    rc = journal_err(self, mdb_txn_commit(txn));
    if (rc) {
        out->rebuilt_rows = 0;
        return journal_write_failed(self, rc, "rebuilt index rows", 0);
    }
    journal_write_done(self);
    return KNOOP_OK;
}

int knoop_journal_scan(knoop_journal_t *self, bool repair, knoop_journal_scan_t *out)
{
    memset(out, 0, sizeof *out);
    journal_read_t r;
    int rc = journal_read_begin(self, &self->msg, &r);
    if (rc)
        return rc;
    MDB_txn *txn = r.txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int g;
    for (g = mdb_cursor_get(r.cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(r.cur, &k, &v, MDB_NEXT)) {
        const uint8_t *env;
        size_t len;
        out->messages++;
        if (k.mv_size != 16)
            continue;
        journal_msg_open(self, k.mv_data, &v, &env, &len);
    }
    if (g != MDB_NOTFOUND)
        rc = journal_read_err(g);      /* the walk failed on the way: not every message */
    /* damaged messages (also those found before this scan) */
    out->damaged = self->ndamage;

    struct { MDB_dbi dbi; const char *name; bool vlog; } idx[2] = {
        { self->log, "log", false }, { self->vlog, "vlog", true } };
    bad_row_t *bad[2] = { NULL, NULL };
    size_t nbad[2] = { 0, 0 };
    uint8_t (*refs[2])[16] = { NULL, NULL };
    size_t nrefs[2] = { 0, 0 };
    for (int d = 0; d < 2 && !rc; d++) {
        size_t capb = 0, capr = 0;
        cur = NULL;
        rc = journal_read_err(mdb_cursor_open(txn, idx[d].dbi, &cur));
        for (g = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && !rc;
             g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const uint8_t *env;
            size_t len;
            out->rows++;
            int orc = journal_row_open(self, txn, idx[d].name, &k, &v, &env, &len);
            if (orc < 0) {
                rc = orc;
                break;
            }
            if (orc == ROW_GONE)
                continue;
            if (orc == ROW_DAMAGED) {
                out->damaged_rows++;
                bad_row_t *nb = knoop_array_grow(bad[d], nbad[d], &capb, sizeof *nb, 16);
                if (!nb) {
                    rc = KNOOP_ENOMEM;
                    break;
                }
                bad[d] = nb;
                bad_row_t *b = &bad[d][nbad[d]++];
                memset(b, 0, sizeof *b);
                b->pos = k.mv_size == 8 ? knoop_get_be64(k.mv_data) : 0;
                b->whole = k.mv_size == 8 && v.mv_size == IDX_LEN;
                if (b->whole)
                    memcpy(b->row, v.mv_data, IDX_LEN);
                continue;
            }
            uint8_t (*nr)[16] = knoop_array_grow(refs[d], nrefs[d], &capr, sizeof *nr, 1024);
            if (!nr) {
                rc = KNOOP_ENOMEM;
                break;
            }
            refs[d] = nr;
            memcpy(refs[d][nrefs[d]++], v.mv_data, 16);
        }
        if (!rc && g != MDB_NOTFOUND)
            rc = journal_read_err(g);  /* the walk failed on the way: not every row */
        if (cur)
            mdb_cursor_close(cur);
        cur = NULL;
    }
    journal_read_end(&r);
    out->read_all = rc == KNOOP_OK;
    bool can = repair && !(self->flags & KNOOP_JOURNAL_READONLY);
    for (int d = 0; d < 2 && !rc; d++)
        if (nbad[d] && can)
            rc = s_rebuild_rows(self, idx[d].dbi, idx[d].vlog, bad[d], nbad[d], refs[d],
                                nrefs[d], out);
    for (int d = 0; d < 2; d++) {
        free(bad[d]);
        free(refs[d]);
    }
    if (out->damaged || out->damaged_rows)
        knoop_error("journal %s: scan: %llu of %llu messages damaged, %llu of %llu log/vlog "
                    "rows damaged (%llu rebuilt)%s", self->path,
                    (unsigned long long) out->damaged, (unsigned long long) out->messages,
                    (unsigned long long) out->damaged_rows, (unsigned long long) out->rows,
                    (unsigned long long) out->rebuilt_rows,
                    out->damaged ? "; the damaged messages must be fetched again" : "");
    return rc;
}

bool knoop_journal_damage_floor(knoop_journal_t *self, uint64_t stream, uint64_t *hwm,
                                uint8_t head[KNOOP_HASH_LEN])
{
    uint64_t first = UINT64_MAX;
    for (size_t k = 0; k < self->ndamage; k++)
        if (self->damage[k].stream == stream && self->damage[k].seq < first)
            first = self->damage[k].seq;
    if (first == UINT64_MAX || first > *hwm + 1)
        return false;
    uint64_t h = first - 1;
    for (;; h--) {
        memset(head, 0, KNOOP_HASH_LEN);
        if (h == 0)
            break;
        knoop_buf_t b = { 0 };
        knoop_msg_t m;
        bool ok = knoop_journal_get(self, stream, h, &b) == KNOOP_OK &&
                  knoop_msg_parse(&m, b.data, b.len) == KNOOP_OK;
        if (ok) {
            memcpy(head, m.chain, KNOOP_HASH_LEN);
            knoop_msg_clear(&m);
        }
        knoop_buf_free(&b);
        if (ok)
            break;
    }
    *hwm = h;
    return true;
}

