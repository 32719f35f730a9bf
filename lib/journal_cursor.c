/* journal_cursor.c — named cursors: opaque bytes per durable subscriber or
 * peer, written durably. */
#include "journal_int.h"

#include <string.h>

int knoop_journal_cursor_get(knoop_journal_t *self, const char *name, knoop_buf_t *out)
{
    journal_read_t r;
    int rc = journal_read_begin(self, NULL, &r);
    if (rc)
        return rc;
    MDB_val k = { strlen(name), (void *) name }, v;
    rc = journal_read_err(mdb_get(r.txn, self->cursor, &k, &v));
    int ret = rc ? rc : knoop_buf_append(out, v.mv_data, v.mv_size);
    journal_read_end(&r);
    return ret;
}

int journal_cursor_write(knoop_journal_t *self, MDB_txn *txn, const knoop_journal_cursor_t *c)
{
    MDB_val k = { strlen(c->name), (void *) c->name }, v = { c->len, (void *) c->data };
    return journal_err(self, mdb_put(txn, self->cursor, &k, &v, 0));
}

static int s_cursor_put(knoop_journal_t *self, MDB_txn *txn, void *arg)
{
    return journal_cursor_write(self, txn, arg);
}

int knoop_journal_cursor_put(knoop_journal_t *self, const char *name,
                             const void *data, size_t len)
{
    if (self->flags & KNOOP_JOURNAL_READONLY)
        return KNOOP_EPERM;
    size_t nl = strlen(name);
    if (nl == 0 || nl > 255)
        return KNOOP_EINVAL;
    knoop_journal_cursor_t c = { name, data, len };
    return journal_write(self, s_cursor_put, &c, JOURNAL_WHAT_CURSOR, len);
}
