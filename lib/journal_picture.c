/* journal_picture.c — the state view (beeld): per (topic, key) the winning
 * ACTUAL message, the highest (hlc, origin), so journals holding the same
 * streams hold the same picture. */
#include "journal_int.h"
#include "topic.h"

#include <string.h>

/* ---- the state view ---- */

/* State value: hlc(8) || stream(8) || seq(8) || origin. */
/* Reads of m only status, topic, key, hlc, origin, stream and seq: the
 * verified-log walk passes a message made of its pending record and the
 * stream row (journal_stream.c, "pending messages"). */
int journal_state_take(knoop_journal_t *self, MDB_txn *txn, const knoop_msg_t *m)
{
    if (m->b.status != KNOOP_STATUS_ACTUAL)
        return KNOOP_OK;
    uint8_t kbuf[KNOOP_TOPIC_MAX + 1 + KNOOP_KEY_MAX];
    size_t tl = strlen(m->b.topic), kl = strlen(m->b.key);
    memcpy(kbuf, m->b.topic, tl);
    kbuf[tl] = 0;
    memcpy(kbuf + tl + 1, m->b.key, kl);
    MDB_val key = { tl + 1 + kl, kbuf }, cur;
    int rc = journal_read_err(mdb_get(txn, self->state, &key, &cur));
    if (rc == KNOOP_OK && cur.mv_size >= 24) {
        const uint8_t *c = cur.mv_data;
        uint64_t chlc = knoop_get_be64(c);
        size_t col = cur.mv_size - 24;
        char corigin[KNOOP_ID_MAX + 1] = "";
        if (col <= KNOOP_ID_MAX)
            memcpy(corigin, c + 24, col);
        int cmp = m->b.hlc > chlc ? 1 : m->b.hlc < chlc ? -1 : strcmp(m->b.origin, corigin);
        if (cmp == 0) {
            /* Same origin and instant: a restarted node (new epoch) or a
             * repeated key; stream id, then seq decide, identically
             * everywhere. */
            uint64_t cs = knoop_get_be64(c + 8), cq = knoop_get_be64(c + 16);
            cmp = m->stream > cs ? 1 : m->stream < cs ? -1 : m->b.seq > cq ? 1 : -1;
        }
        if (cmp <= 0)
            return KNOOP_OK;
    } else if (rc != KNOOP_ENOTFOUND && rc != KNOOP_OK) {
        return rc;
    }
    uint8_t vbuf[24 + KNOOP_ID_MAX];
    size_t ol = strlen(m->b.origin);
    knoop_put_be64(vbuf, m->b.hlc);
    knoop_put_be64(vbuf + 8, m->stream);
    knoop_put_be64(vbuf + 16, m->b.seq);
    memcpy(vbuf + 24, m->b.origin, ol);
    MDB_val val = { 24 + ol, vbuf };
    return journal_err(self, mdb_put(txn, self->state, &key, &val, 0));
}

int knoop_journal_state(knoop_journal_t *self, const char *pattern,
                        knoop_journal_state_fn *fn, void *arg)
{
    if (pattern && knoop_pattern_validate(pattern) != KNOOP_OK)
        return KNOOP_ETOPIC;
    journal_read_t r;
    int rc = journal_read_begin(self, &self->state, &r);
    if (rc)
        return rc;
    MDB_cursor *cur = r.cur;
    MDB_val k, v;
    int ret = KNOOP_OK, g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char topic[KNOOP_TOPIC_MAX + 1], key[KNOOP_KEY_MAX + 1];
        const uint8_t *kp = k.mv_data;
        const uint8_t *z = memchr(kp, 0, k.mv_size);
        if (!z || v.mv_size < 24 || (size_t) (z - kp) > KNOOP_TOPIC_MAX ||
            k.mv_size - (size_t) (z - kp) - 1 > KNOOP_KEY_MAX) {
            ret = KNOOP_ECORRUPT;
            break;
        }
        size_t tl = (size_t) (z - kp), kl = k.mv_size - tl - 1;
        memcpy(topic, kp, tl);
        topic[tl] = 0;
        memcpy(key, z + 1, kl);
        key[kl] = 0;
        if (pattern && !knoop_topic_match(pattern, topic))
            continue;
        uint64_t stream = knoop_get_be64((uint8_t *) v.mv_data + 8);
        uint64_t seq = knoop_get_be64((uint8_t *) v.mv_data + 16);
        uint8_t mkb[16];
        journal_key16(mkb, stream, seq);
        MDB_val mk = { 16, mkb }, mv;
        int grc = journal_read_err(mdb_get(r.txn, self->msg, &mk, &mv));
        if (grc) {
            /* the state view names a message that is not stored */
            ret = grc == KNOOP_ENOTFOUND ? KNOOP_ECORRUPT : grc;
            break;
        }
        const uint8_t *env;
        size_t len;
        if (journal_msg_open(self, mkb, &mv, &env, &len) != KNOOP_OK)
            continue;       /* damaged (logged): left out of the picture until repaired */
        ret = fn(arg, topic, key, stream, seq, env, len);
        if (ret)
            break;
    }
    return journal_walk_end(&r, g, ret);
}

