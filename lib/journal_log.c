/* journal_log.c — reading messages out: one stream in seq order, the arrival
 * log, the verified log, one message; and the frame batch every reader fills
 * within its budget. Every read checks what it hands out (journal_damage.c). */
#include "journal_int.h"

#include <string.h>

int knoop_journal_read_stream(knoop_journal_t *self, uint64_t stream, uint64_t from,
                              uint64_t to, knoop_journal_msg_fn *fn, void *arg)
{
    journal_read_t r;
    int rc = journal_read_begin(self, &self->msg, &r);
    if (rc)
        return rc;
    MDB_cursor *cur = r.cur;
    uint8_t kb[16];
    journal_key16(kb, stream, from);
    MDB_val k = { 16, kb }, v;
    int ret = KNOOP_OK, g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || knoop_get_be64(k.mv_data) != stream)
            break;
        uint64_t seq = knoop_get_be64((uint8_t *) k.mv_data + 8);
        if (seq > to)
            break;
        const uint8_t *env;
        size_t len;
        ret = journal_msg_open(self, k.mv_data, &v, &env, &len);
        if (ret)
            break;          /* damaged: nothing from here on is handed out */
        ret = fn(arg, 0, stream, seq, env, len);
        if (ret)
            break;
    }
    return journal_walk_end(&r, g, ret);
}

static int s_tail(knoop_journal_t *self, MDB_dbi dbi, const char *db, uint64_t from,
                  size_t max, knoop_journal_msg_fn *fn, void *arg, uint64_t *next);

int knoop_journal_tail(knoop_journal_t *self, uint64_t from, size_t max,
                       knoop_journal_msg_fn *fn, void *arg, uint64_t *next)
{
    return s_tail(self, self->log, "log", from, max, fn, arg, next);
}

int knoop_journal_tail_verified(knoop_journal_t *self, uint64_t from, size_t max,
                                knoop_journal_msg_fn *fn, void *arg, uint64_t *next)
{
    return s_tail(self, self->vlog, "vlog", from, max, fn, arg, next);
}

static int s_tail(knoop_journal_t *self, MDB_dbi dbi, const char *db, uint64_t from,
                  size_t max, knoop_journal_msg_fn *fn, void *arg, uint64_t *next)
{
    if (next)
        *next = from;
    journal_read_t r;
    int rc = journal_read_begin(self, &dbi, &r);
    if (rc)
        return rc;
    MDB_cursor *cur = r.cur;
    uint8_t kb[8];
    knoop_put_be64(kb, from ? from : 1);
    MDB_val k = { 8, kb }, v;
    int ret = KNOOP_OK, g;
    size_t count = 0;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (max && count >= max)
            break;
        const uint8_t *env = NULL;
        size_t len = 0;
        int orc = journal_row_open(self, r.txn, db, &k, &v, &env, &len);
        if (orc < 0) {
            ret = orc;
            break;
        }
        if (orc == ROW_DAMAGED || orc == ROW_MSG_DAMAGED) {
            ret = KNOOP_ECORRUPT;   /* not consumed: delivery waits for the repair */
            break;
        }
        uint64_t pos = knoop_get_be64(k.mv_data);
        if (orc == ROW_GONE) {
            if (next)
                *next = pos + 1;
            continue;   /* moved to fork evidence */
        }
        ret = fn(arg, pos, knoop_get_be64(v.mv_data),
                 knoop_get_be64((uint8_t *) v.mv_data + 8), env, len);
        if (ret)
            break;          /* not consumed: *next stays at pos */
        count++;
        if (next)
            *next = pos + 1;
    }
    return journal_walk_end(&r, g, ret);
}

int knoop_journal_get(knoop_journal_t *self, uint64_t stream, uint64_t seq,
                      knoop_buf_t *out)
{
    journal_read_t r;
    int rc = journal_read_begin(self, NULL, &r);
    if (rc)
        return rc;
    uint8_t kb[16];
    journal_key16(kb, stream, seq);
    MDB_val k = { 16, kb }, v;
    rc = journal_read_err(mdb_get(r.txn, self->msg, &k, &v));
    const uint8_t *env;
    size_t len;
    int ret = rc ? rc : journal_msg_open(self, kb, &v, &env, &len);
    if (ret == KNOOP_OK)
        ret = knoop_buf_append(out, env, len);
    journal_read_end(&r);
    return ret;
}


/* ---- a frame's worth, within a budget ---- */

void knoop_batch_start(knoop_batch_t *b, size_t max_msgs, size_t max_bytes)
{
    b->n = 0;
    b->arena.len = 0;
    b->max_msgs = max_msgs < KNOOP_BATCH_MAX ? max_msgs : KNOOP_BATCH_MAX;
    b->max_bytes = max_bytes;
}

bool knoop_batch_full(const knoop_batch_t *b, size_t len)
{
    return b->n >= b->max_msgs ||
           (b->n > 0 && b->max_bytes && b->arena.len + len > b->max_bytes);
}

int knoop_batch_take(knoop_batch_t *b, uint64_t pos, uint64_t stream, uint64_t seq,
                     const uint8_t *env, size_t len)
{
    if (knoop_batch_full(b, len) || knoop_buf_append(&b->arena, env, len) != KNOOP_OK)
        return 1;
    b->item[b->n++] = (knoop_batch_item_t) { .pos = pos, .stream = stream, .seq = seq,
                                             .off = b->arena.len - len, .len = len };
    return 0;
}

const uint8_t *knoop_batch_env(const knoop_batch_t *b, size_t i)
{
    return b->arena.data + b->item[i].off;
}

void knoop_batch_free(knoop_batch_t *b)
{
    knoop_buf_free(&b->arena);
    b->n = 0;
}
