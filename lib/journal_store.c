/* journal_store.c — the LMDB environment under the journal: open and close,
 * the schema and its upgrade, transactions (the one read helper, the one
 * write helper, map growth), what a failed write ran into, and the bytes
 * stored for a message with their check. See journal_int.h for the split. */
#include "journal_int.h"
#include "crypto.h"
#include "trust_mesh.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- error mapping ---- */

/* A write's failure: its own code stays in self->mdb_cause, so that the
 * failed write reports LMDB's words for it, and journal_write grows the map
 * for MDB_MAP_FULL only (a full disk is EFULL too, and a larger map does not
 * help it). */
int journal_err(knoop_journal_t *self, int mdb_rc)
{
    if (mdb_rc != MDB_SUCCESS && mdb_rc != MDB_NOTFOUND)
        self->mdb_cause = mdb_rc;
    return journal_read_err(mdb_rc);
}

/* The only place an LMDB code becomes a KNOOP code. A read's failure is not
 * recorded: its caller may take it as an answer ("not there", "not proven")
 * and go on, and a write that fails later must not be reported with it. */
/* Set once this process met a damaged B-tree in any journal (LMDB's own
 * MDB_CORRUPTED or MDB_PAGE_NOTFOUND, on a read or a write): a clean close
 * then keeps writer.lock's mark, so that the next start walks the pages. */
static atomic_bool s_tree_damage;

int journal_read_err(int mdb_rc)
{
    if (mdb_rc == MDB_CORRUPTED || mdb_rc == MDB_PAGE_NOTFOUND)
        atomic_store(&s_tree_damage, true);
    switch (mdb_rc) {
    case MDB_SUCCESS:          return KNOOP_OK;
    case MDB_NOTFOUND:         return KNOOP_ENOTFOUND;
    case MDB_KEYEXIST:         return KNOOP_EEXIST;
    case MDB_MAP_FULL:         return KNOOP_EFULL;
    case MDB_TXN_FULL:                    /* one batch dirties too many pages */
    case MDB_BAD_VALSIZE:      return KNOOP_ETOOBIG;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:          return KNOOP_ECORRUPT;
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:     return KNOOP_EVERSION;
    case MDB_READERS_FULL:
    case MDB_TLS_FULL:         return KNOOP_EBUSY;
    default:                   return knoop_err_from_errno(mdb_rc);   /* errno, or EIO */
    }
}

/* Free bytes on the journal's file system, as this process may use them
 * (root may use the blocks reserved for it). */
int knoop_journal_free_bytes(const knoop_journal_t *self, uint64_t *out)
{
    struct statvfs sv;
    if (statvfs(self->path, &sv) != 0)
        return -1;
    uint64_t blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
    *out = blocks * (uint64_t) sv.f_frsize;
    return 0;
}

static void s_human_bytes(char *out, size_t size, uint64_t b)
{
    if (b < 10 * 1024)
        snprintf(out, size, "%llu bytes", (unsigned long long) b);
    else if (b < 10 * (uint64_t) MIB)
        snprintf(out, size, "%llu KiB", (unsigned long long) (b / 1024));
    else
        snprintf(out, size, "%llu MiB", (unsigned long long) (b / MIB));
}

/* A write transaction needing about `need` bytes failed with rc: record
 * the cause in words an operator can act on, log and count it. LMDB turns a
 * short write on a full file system into EIO: a failure on a volume with no
 * room left is reported as the full disk it is. */
int journal_write_failed(knoop_journal_t *self, int rc, const char *what, uint64_t need)
{
    /* LMDB's words when LMDB failed; ours for a failure of our own (a
     * damaged stream row, no memory). */
    const char *cause = self->mdb_cause ? mdb_strerror(self->mdb_cause) : knoop_strerror(rc);
    uint64_t room = 0;
    bool known = knoop_journal_free_bytes(self, &room) == 0;
    char free_text[32];
    s_human_bytes(free_text, sizeof free_text, room);
    self->full = KNOOP_JOURNAL_FULL_NONE;
    if (rc == KNOOP_EFULL && self->mdb_cause == MDB_MAP_FULL) {
        self->full = KNOOP_JOURNAL_FULL_MAP;
        snprintf(self->error, sizeof self->error,
                 "journal %s full: its map is at the limit of %zu MiB; %s not stored "
                 "(raise map-max and send the daemon SIGHUP: it writes again without a "
                 "restart; reads and delivery go on meanwhile)",
                 self->path, self->map_max / MIB, what);
    } else if (rc == KNOOP_EFULL && known && room >= FULL_MARGIN + need)
        snprintf(self->error, sizeof self->error,
                 "no space for the journal on %s (%s, with %s free on the volume: a quota, "
                 "or a thin or overcommitted device?); %s not stored",
                 self->path, cause, free_text, what);
    else if (rc == KNOOP_EFULL || (rc == KNOOP_EIO && known && room < FULL_MARGIN + need)) {
        rc = KNOOP_EFULL;
        if (known)
            snprintf(self->error, sizeof self->error,
                     "disk full on %s: %s free; %s not stored (free space on that volume, "
                     "or move the journal to a larger one)", self->path, free_text, what);
        else
            snprintf(self->error, sizeof self->error,
                     "disk full on %s (%s); %s not stored (free space on that volume, "
                     "or move the journal to a larger one)", self->path, cause, what);
    } else
        snprintf(self->error, sizeof self->error,
                 "journal %s: %s not stored: %s (%s free; check the disk and the kernel log)",
                 self->path, what, cause, free_text);
    self->error_at = knoop_now_ms();
    if (rc == KNOOP_EFULL && self->full == KNOOP_JOURNAL_FULL_NONE)
        self->full = KNOOP_JOURNAL_FULL_DISK;
    if (rc == KNOOP_EFULL)
        self->stats.full_errors++;
    knoop_error("%s", self->error);
    return rc;
}

/* A write transaction committed: a recorded failure is over. */
void journal_write_done(knoop_journal_t *self)
{
    if (self->error_at) {
        knoop_info("journal %s: writing again (after: %s)", self->path, self->error);
        self->error[0] = 0;
        self->error_at = 0;
        self->full = KNOOP_JOURNAL_FULL_NONE;
    }
}

const char *knoop_journal_error(const knoop_journal_t *self, uint64_t *at_ms)
{
    if (at_ms)
        *at_ms = self->error_at;
    return self->error;
}

/* ---- transactions ---- */

/* Begin a transaction, adopting a map grown by another process. */
int journal_begin(knoop_journal_t *self, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(self->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(self->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(self->env, NULL, flags, txn);
    }
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(self->env, &info);
        self->map_size = info.me_mapsize;
    } else {
        knoop_error("journal %s: cannot begin transaction: %s", self->path, mdb_strerror(rc));
    }
    return journal_err(self, rc);
}

int journal_grow(knoop_journal_t *self)
{
    if (self->map_size >= self->map_max)
        return KNOOP_EFULL;   /* the caller says so (journal_write_failed) */
    size_t want = self->map_size * 2;
    if (want > self->map_max)
        want = self->map_max;
    int rc = mdb_env_set_mapsize(self->env, want);
    if (rc) {
        knoop_error("journal %s: cannot grow map to %zu MiB: %s", self->path,
                    want / MIB, mdb_strerror(rc));
        return journal_err(self, rc);
    }
    knoop_info("journal %s: map grown from %zu MiB to %zu MiB", self->path,
               self->map_size / MIB, want / MIB);
    self->map_size = want;
    self->stats.map_grows++;
    return KNOOP_OK;
}

int journal_read_begin(knoop_journal_t *self, const MDB_dbi *dbi, journal_read_t *r)
{
    r->txn = NULL;
    r->cur = NULL;
    r->borrowed = self->open_txn != NULL;
    int rc = 0;
    if (r->borrowed)
        r->txn = self->open_txn;
    else
        rc = journal_begin(self, MDB_RDONLY, &r->txn);
    if (rc)
        return rc;
    if (dbi) {
        rc = mdb_cursor_open(r->txn, *dbi, &r->cur);
        if (rc) {
            knoop_error("journal %s: cannot open a read cursor: %s", self->path,
                        mdb_strerror(rc));
            if (!r->borrowed)
                mdb_txn_abort(r->txn);
            r->txn = NULL;
            return journal_read_err(rc);
        }
    }
    return KNOOP_OK;
}

void journal_read_end(journal_read_t *r)
{
    if (r->cur)
        mdb_cursor_close(r->cur);
    if (r->txn && !r->borrowed)
        mdb_txn_abort(r->txn);
    r->cur = NULL;
    r->txn = NULL;
}

int journal_walk_end(journal_read_t *r, int g, int ret)
{
    if (g && g != MDB_NOTFOUND && !ret)
        ret = journal_read_err(g);
    journal_read_end(r);
    return ret;
}

int journal_write(knoop_journal_t *self, journal_write_fn *fn, void *arg, const char *what,
                  uint64_t need)
{
    if (self->open_txn) {
        knoop_error("journal %s: %s written from inside a precommit hook; refused", self->path,
                    what);
        return KNOOP_EBUSY;
    }
    for (;;) {
        self->txn_stored_none = false;
        self->mdb_cause = MDB_SUCCESS;
        MDB_txn *txn;
        int rc = journal_begin(self, 0, &txn);
        if (rc)
            return rc;                  /* logged by journal_begin */
        rc = fn(self, txn, arg);
        /* A transaction that changed nothing (every message refused, e.g.
         * as a gap after one the full map did not take) commits without a
         * write: it is no sign that writing works again, and must not clear
         * a storage alarm (LMDB advances the last txnid only on a write);
         * nor does a cursor's few bytes that still fit in a full map, nor a
         * batch whose every message was refused (its stream rows are
         * written, no message is). */
        MDB_envinfo before = { 0 }, after = { 0 };
        mdb_env_info(self->env, &before);
        if (rc == KNOOP_OK && self->precommit) {
            self->open_txn = txn;
            self->precommit(self->precommit_arg);
            self->open_txn = NULL;
        }
        if (rc == KNOOP_OK)
            rc = journal_err(self, mdb_txn_commit(txn));
        else
            mdb_txn_abort(txn);
        if (rc == KNOOP_OK) {
            mdb_env_info(self->env, &after);
            if (after.me_last_txnid != before.me_last_txnid &&
                !(self->full && (strcmp(what, JOURNAL_WHAT_CURSOR) == 0 ||
                                 self->txn_stored_none)))
                journal_write_done(self);
            return KNOOP_OK;
        }
        if (rc == KNOOP_EFULL && self->mdb_cause == MDB_MAP_FULL) {
            rc = journal_grow(self);
            if (rc == KNOOP_OK)
                continue;
        }
        return journal_write_failed(self, rc, what, need);
    }
}

void journal_key16(uint8_t key[16], uint64_t stream, uint64_t seq)
{
    knoop_put_be64(key, stream);
    knoop_put_be64(key + 8, seq);
}

/* ---- integrity of stored messages and index rows ---- */

/* The check stored before an envelope, 16 bytes, of the row key (stream,
 * seq) and the envelope, so that a value found under another key fails too:
 * SipHash-128 of the envelope under the key since schema 5, the first 16
 * bytes of BLAKE2b-256(key || envelope) in journals made before it (kept: rewriting every message of
 * a large journal to change its check would buy nothing but speed). */
void journal_check(const knoop_journal_t *self, uint8_t out[MSG_CHECK], const uint8_t key[16],
                   const uint8_t *env, size_t len)
{
    if (self->check_blake2b) {
        knoop_hasher_t h;
        uint8_t full[KNOOP_HASH_LEN];
        knoop_hasher_init(&h);
        knoop_hasher_update(&h, key, 16);
        knoop_hasher_update(&h, env, len);
        knoop_hasher_final(&h, full);
        memcpy(out, full, MSG_CHECK);
        return;
    }
    knoop_check128(out, key, env, len);
}

/* scratch = check || canonical envelope of m, ready to store under key. */
int journal_pack(knoop_journal_t *self, const knoop_msg_t *m, const uint8_t key[16])
{
    self->scratch.len = 0;
    int rc = knoop_buf_reserve(&self->scratch, MSG_CHECK);
    if (rc)
        return rc;
    self->scratch.len = MSG_CHECK;
    rc = knoop_msg_pack(m, &self->scratch);
    if (rc)
        return rc;
    journal_check(self, self->scratch.data, key, self->scratch.data + MSG_CHECK,
            self->scratch.len - MSG_CHECK);
    return KNOOP_OK;
}

/* ---- open / close ---- */

static int s_meta_get(knoop_journal_t *self, MDB_txn *txn, const char *name, MDB_val *val)
{
    MDB_val key = { strlen(name), (void *) name };
    return journal_read_err(mdb_get(txn, self->meta, &key, val));
}

static int s_meta_put(knoop_journal_t *self, MDB_txn *txn, const char *name,
                      const void *data, size_t len)
{
    MDB_val key = { strlen(name), (void *) name }, val = { len, (void *) data };
    return journal_err(self, mdb_put(txn, self->meta, &key, &val, 0));
}

static int s_mkdirs(const char *path)
{
    char tmp[4096];
    if (strlen(path) >= sizeof tmp)
        return KNOOP_EINVAL;
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return knoop_err_from_errno(errno);
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return knoop_err_from_errno(errno);
    return KNOOP_OK;
}

/* Open the named databases and read or write the metadata. */
/* *next = the position after the last row of a log (1 when it is empty).
 * A failed read is an error: a log read short would hand out positions
 * again. */
static int s_next_after_last(knoop_journal_t *self, MDB_txn *txn, MDB_dbi dbi, uint64_t *next)
{
    MDB_cursor *cur;
    MDB_val k, v;
    *next = 1;
    int rc = journal_read_err(mdb_cursor_open(txn, dbi, &cur));
    if (rc)
        return rc;
    rc = journal_read_err(mdb_cursor_get(cur, &k, &v, MDB_LAST));
    mdb_cursor_close(cur);
    if (rc == KNOOP_ENOTFOUND)
        return KNOOP_OK;
    if (!rc && k.mv_size == 8)
        *next = knoop_get_be64(k.mv_data) + 1;
    return rc;
}

static int s_init_dbs(knoop_journal_t *self, const char *partner)
{
    bool ro = self->flags & KNOOP_JOURNAL_READONLY;
    MDB_txn *txn;
    int rc = journal_begin(self, ro ? MDB_RDONLY : 0, &txn);
    if (rc)
        return rc;
    unsigned dflags = ro ? 0 : MDB_CREATE;
    struct { const char *name; MDB_dbi *dbi; } dbs[] = {
        { "msg", &self->msg }, { "log", &self->log }, { "stream", &self->stream },
        { "state", &self->state }, { "cursor", &self->cursor }, { "meta", &self->meta },
        { "fork", &self->fork }, { "vlog", &self->vlog },
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, dflags, dbs[i].dbi);
        if (rc) {
            knoop_error("journal %s: database '%s' %s: %s", self->path, dbs[i].name,
                        ro ? "missing (not a knooppunt journal?)" : "cannot be opened",
                        mdb_strerror(rc));
            mdb_txn_abort(txn);
            rc = journal_err(self, rc);
            return rc == KNOOP_ENOTFOUND ? KNOOP_EVERSION : rc;
        }
    }

    MDB_val v;
    rc = s_meta_get(self, txn, "schema", &v);
    if (rc == KNOOP_ENOTFOUND && !ro) {
        uint8_t b[8];
        knoop_put_be64(b, KNOOP_JOURNAL_SCHEMA);
        self->schema = KNOOP_JOURNAL_SCHEMA;
        do
            knoop_random(&self->epoch, sizeof self->epoch);
        while (self->epoch == 0);
        uint8_t e[8], c[8];
        knoop_put_be64(e, self->epoch);
        knoop_put_be64(c, knoop_now_ms());
        rc = s_meta_put(self, txn, "schema", b, 8);
        if (!rc) rc = s_meta_put(self, txn, "epoch", e, 8);
        if (!rc) rc = s_meta_put(self, txn, "created", c, 8);
        if (!rc && partner) rc = s_meta_put(self, txn, "partner", partner, strlen(partner));
        if (rc) {
            mdb_txn_abort(txn);
            return rc;
        }
        if (partner)
            snprintf(self->partner, sizeof self->partner, "%s", partner);
        knoop_info("journal %s: created (epoch %016llx%s%s)", self->path,
                   (unsigned long long) self->epoch, partner ? ", partner " : "",
                   partner ? partner : "");
    } else if (rc) {
        knoop_error("journal %s: no schema version: not a knooppunt journal", self->path);
        mdb_txn_abort(txn);
        return KNOOP_EVERSION;
    } else {
        uint64_t schema = v.mv_size == 8 ? knoop_get_be64(v.mv_data) : 0;
        self->schema = schema;
        self->check_blake2b = schema >= 2 && schema <= 4;
        if ((schema == 2 || schema == 3) && !ro) {
            self->upgrade_from = schema;  /* s_upgrade, after this transaction */
        } else if (schema == 2 || schema == 3) {
            knoop_error("journal %s: schema version %llu (%s); open it once with a knoop "
                        "daemon of this version to upgrade it, or read it with an older knoop",
                        self->path, (unsigned long long) schema,
                        schema == 2 ? "before checks were stored with every message"
                                    : "before stream rows kept their last hlc and priority");
            mdb_txn_abort(txn);
            return KNOOP_EVERSION;
        } else if (schema != 4 && schema != KNOOP_JOURNAL_SCHEMA) {
            knoop_error("journal %s: schema version %llu, this build reads 2 to %d%s", self->path,
                        (unsigned long long) schema, KNOOP_JOURNAL_SCHEMA,
                        schema > KNOOP_JOURNAL_SCHEMA ? " (it was written by a newer knoop)" : "");
            mdb_txn_abort(txn);
            return KNOOP_EVERSION;
        }
        if (s_meta_get(self, txn, "epoch", &v) == 0 && v.mv_size == 8)
            self->epoch = knoop_get_be64(v.mv_data);
        if (s_meta_get(self, txn, "partner", &v) == 0 && v.mv_size <= KNOOP_ID_MAX) {
            memcpy(self->partner, v.mv_data, v.mv_size);
            self->partner[v.mv_size] = 0;
        }
        if (partner && *self->partner && strcmp(partner, self->partner) != 0) {
            knoop_error("journal %s belongs to partner '%s', not '%s'", self->path,
                        self->partner, partner);
            mdb_txn_abort(txn);
            return KNOOP_EPERM;
        }
    }

    /* The next arrival position follows the last one in the log. */
    rc = s_next_after_last(self, txn, self->log, &self->next_pos);
    if (!rc)
        rc = s_next_after_last(self, txn, self->vlog, &self->next_vpos);
    if (rc) {
        knoop_error("journal %s: cannot read the last log position: %s", self->path,
                    knoop_strerror(rc));
        mdb_txn_abort(txn);
        return rc;
    }
    /* Committing (also a read-only transaction) keeps the dbi handles: an
     * aborted transaction closes the handles it opened. */
    return journal_err(self, mdb_txn_commit(txn));
}

/* The keys of one database (copies: values are rewritten after). */
static int s_keys(knoop_journal_t *self, MDB_txn *txn, MDB_dbi dbi, size_t klen,
                  uint8_t **keys, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    size_t cap = 0;
    *keys = NULL;
    *n = 0;
    int rc = journal_read_err(mdb_cursor_open(txn, dbi, &cur));
    if (rc)
        return rc;
    int g;
    for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != klen)
            continue;           /* not a row of this schema: the scan reports it */
        uint8_t *nk = knoop_array_grow(*keys, *n, &cap, klen, 1024);
        if (!nk) {
            rc = KNOOP_ENOMEM;
            break;
        }
        *keys = nk;
        memcpy(*keys + *n * klen, k.mv_data, klen);
        (*n)++;
    }
    if (!rc && g != MDB_NOTFOUND)
        rc = journal_read_err(g);      /* the walk failed on the way: not all keys */
    mdb_cursor_close(cur);
    return rc;
}

/* One row of an upgrade: k (a copy of the key) and v (its value, valid
 * until the first write) of dbi; an error stops the walk. */
typedef int s_row_fn(knoop_journal_t *self, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                     const MDB_val *v, void *arg);

/* Calls fn on every row of dbi whose key is klen bytes. The keys are copied
 * first: fn rewrites the rows a cursor would run through. */
static int s_upgrade_rows(knoop_journal_t *self, MDB_txn *txn, MDB_dbi dbi, size_t klen,
                          s_row_fn *fn, void *arg)
{
    uint8_t *keys = NULL;
    size_t nk = 0;
    int rc = s_keys(self, txn, dbi, klen, &keys, &nk);
    for (size_t i = 0; !rc && i < nk; i++) {
        MDB_val k = { klen, keys + klen * i }, v;
        rc = journal_read_err(mdb_get(txn, dbi, &k, &v));
        if (!rc)
            rc = fn(self, txn, dbi, &k, &v, arg);
    }
    free(keys);
    return rc;
}

typedef struct {
    uint64_t   *n;          /* messages rewritten */
    knoop_buf_t b;          /* the new value, reused */
} s_upgrade3_t;

/* A message row gets its check in front. */
static int s_upgrade3_msg(knoop_journal_t *self, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                          const MDB_val *v, void *arg)
{
    s_upgrade3_t *u = arg;
    u->b.len = 0;
    int rc = knoop_buf_reserve(&u->b, MSG_CHECK + v->mv_size);
    if (rc)
        return rc;
    journal_check(self, u->b.data, k->mv_data, v->mv_data, v->mv_size);
    memcpy(u->b.data + MSG_CHECK, v->mv_data, v->mv_size);
    MDB_val nv = { MSG_CHECK + v->mv_size, u->b.data };
    rc = journal_err(self, mdb_put(txn, dbi, k, &nv, 0));
    (*u->n)++;
    return rc;
}

/* A log or vlog row gets the start of its message's check. */
static int s_upgrade3_idx(knoop_journal_t *self, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                          const MDB_val *v, void *arg)
{
    if (v->mv_size != 16)
        return KNOOP_OK;            /* damaged already: the scan reports it */
    uint8_t row[IDX_LEN] = { 0 };
    memcpy(row, v->mv_data, 16);
    MDB_val mk = { 16, row }, mv;
    int rc = journal_read_err(mdb_get(txn, self->msg, &mk, &mv));
    if (rc == KNOOP_OK && mv.mv_size >= IDX_CHECK)
        memcpy(row + 16, mv.mv_data, IDX_CHECK);
    else if (rc != KNOOP_OK && rc != KNOOP_ENOTFOUND)
        return rc;                  /* a failed read: no row is written without its check */
    MDB_val nv = { IDX_LEN, row };
    return journal_err(self, mdb_put(txn, dbi, k, &nv, 0));
}

/* Schema 2 to 3 in one transaction: a check before every message, its
 * start in every log and vlog row. */
static int s_upgrade_txn(knoop_journal_t *self, MDB_txn *txn, void *arg)
{
    s_upgrade3_t u = { .n = arg };
    *u.n = 0;
    int rc = s_upgrade_rows(self, txn, self->msg, 16, s_upgrade3_msg, &u);
    knoop_buf_free(&u.b);
    if (!rc)
        rc = s_upgrade_rows(self, txn, self->log, 8, s_upgrade3_idx, NULL);
    if (!rc)
        rc = s_upgrade_rows(self, txn, self->vlog, 8, s_upgrade3_idx, NULL);
    if (!rc) {
        uint8_t sv[8];
        knoop_put_be64(sv, 3);
        rc = s_meta_put(self, txn, "schema", sv, 8);
    }
    return rc;
}

/* The highest priority of the stream's messages from (stream, 1) on,
 * whether any is restricted, and the hlc of the one at hwm: what schema 4
 * keeps in the row. A message that does not open (damaged) is left out: a
 * repair counts it. */
static int s_stream_scan(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s)
{
    MDB_cursor *cur;
    int rc = journal_err(self, mdb_cursor_open(txn, self->msg, &cur));
    if (rc)
        return rc;
    uint8_t k0[16];
    journal_key16(k0, s->stream, 1);
    MDB_val k = { 16, k0 }, v;
    for (int g = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || knoop_get_be64(k.mv_data) != s->stream)
            break;
        const uint8_t *env;
        size_t len;
        knoop_msg_t m;
        if (journal_msg_open(self, k.mv_data, &v, &env, &len) != KNOOP_OK ||
            knoop_msg_parse(&m, env, len) != KNOOP_OK)
            continue;
        if ((uint32_t) m.b.priority > s->prio)
            s->prio = (uint32_t) m.b.priority;
        if (knoop_tlp_restricted(m.b.tlp))
            s->flags |= KNOOP_STREAM_RESTRICTED;
        if (m.b.seq == s->hwm)
            s->last_hlc = m.b.hlc;
        knoop_msg_clear(&m);
    }
    mdb_cursor_close(cur);
    return KNOOP_OK;
}

/* A stream row gets the hlc of its message at hwm and the highest priority
 * it holds; arg counts the rows. */
static int s_upgrade4_row(knoop_journal_t *self, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                          const MDB_val *v, void *arg)
{
    uint64_t *n = arg;
    /* the schema-3 row with the new fields inserted (zero), decoded */
    uint8_t row[SROW_HDR + KNOOP_ID_MAX + KNOOP_TOPIC_MAX] = { 0 };
    if (v->mv_size < SROW_HDR3 || v->mv_size - SROW_HDR3 > sizeof row - SROW_HDR)
        return KNOOP_OK;                /* damaged already: append names it */
    memcpy(row, v->mv_data, SROW_HDR3);
    memcpy(row + SROW_HDR, (const uint8_t *) v->mv_data + SROW_HDR3, v->mv_size - SROW_HDR3);
    MDB_val nv = { SROW_HDR + v->mv_size - SROW_HDR3, row };
    knoop_stream_info_t s;
    if (journal_stream_decode(&nv, knoop_get_be64(k->mv_data), &s) != KNOOP_OK)
        return KNOOP_OK;
    int rc = s_stream_scan(self, txn, &s);
    if (!rc)
        rc = journal_stream_put(self, txn, &s);
    (*n)++;
    return rc;
}

/* Schema 3 to 4 in one transaction: every stream row gets the hlc of its
 * message at hwm and the highest priority it holds (one pass over the
 * messages). */
static int s_upgrade4_txn(knoop_journal_t *self, MDB_txn *txn, void *arg)
{
    uint64_t *n = arg;
    *n = 0;
    int rc = s_upgrade_rows(self, txn, self->stream, 8, s_upgrade4_row, n);
    if (!rc) {
        uint8_t sv[8];
        knoop_put_be64(sv, 4);
        rc = s_meta_put(self, txn, "schema", sv, 8);
    }
    return rc;
}

static int s_upgrade(knoop_journal_t *self)
{
    uint64_t n = 0;
    int rc;
    if (self->upgrade_from == 2) {
        rc = journal_write(self, s_upgrade_txn, &n, "the upgrade to schema 3", 0);
        if (rc)
            return rc;
        knoop_info("journal %s: upgraded to schema 3: a check stored with each of its %llu "
                   "messages and its log rows", self->path, (unsigned long long) n);
    }
    rc = journal_write(self, s_upgrade4_txn, &n, "the upgrade to schema 4", 0);
    if (rc)
        return rc;
    knoop_info("journal %s: upgraded to schema 4: the last hlc and the priority kept in each "
               "of its %llu stream rows", self->path, (unsigned long long) n);
    self->upgrade_from = 0;
    self->schema = 4;
    return KNOOP_OK;
}

/* What an operator does with a journal LMDB cannot open. */
static void s_beyond_use(const char *path)
{
    knoop_error("journal %s is damaged beyond use. Keep it for analysis: move the directory "
                "aside (or restore a backup made with mdb_copy) and start again. A node takes "
                "back from its broker everything the mesh holds, its own acknowledged messages "
                "included (those no broker acknowledged are lost without a backup); a broker "
                "takes everything back from its peers.", path);
}

/* The pages of data.mdb walked before LMDB reads them (journal_pages.c), in
 * the snapshot of a read transaction held meanwhile, so that a writer
 * beside us cannot reuse them. A meta page read while a writer rewrites it
 * can be torn: damage is believed only when a second snapshot shows it too. */
static int s_check_pages(knoop_journal_t *self)
{
    char why[256] = "cannot begin a read transaction";
    int rc = KNOOP_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        MDB_txn *snap;
        rc = journal_err(self, mdb_txn_begin(self->env, NULL, MDB_RDONLY, &snap));
        if (rc)
            break;
        rc = journal_check_pages(self->path, mdb_txn_id(snap), why, sizeof why);
        mdb_txn_abort(snap);
        if (rc != KNOOP_ECORRUPT)
            break;
    }
    if (rc && rc != KNOOP_ECORRUPT)
        knoop_error("journal %s: data.mdb: %s", self->path, why);
    if (rc == KNOOP_ECORRUPT) {
        knoop_error("journal %s: data.mdb DAMAGED on disk: %s", self->path, why);
        s_beyond_use(self->path);
    }
    return rc;
}

/* The identity of data.mdb that a clean close writes into writer.lock:
 * inode, size and ctime (which no program sets back: a copy over it, an
 * edit, a restore into place all change it). -1, out untouched, when
 * there is no data.mdb. */
static int s_data_identity(const char *dir, char *out, size_t size)
{
    char file[4200];
    struct stat st;
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    if (stat(file, &st) != 0)
        return -1;
    snprintf(out, size, "clean %llu %llu %lld.%09ld\n", (unsigned long long) st.st_ino,
             (unsigned long long) st.st_size, (long long) st.st_ctim.tv_sec,
             (long) st.st_ctim.tv_nsec);
    return 0;
}

/* writer.lock says "open" while a process writes the journal; a clean
 * close writes "clean" and data.mdb's identity (s_data_identity). Returns
 * why the pages must be walked before use, or NULL: the last writer did
 * not close the journal (a crash, kill -9, a power cut); data.mdb changed
 * since its clean close, or was never closed here (restored or copied into
 * place). An empty writer.lock is a clean close by a release before
 * 2026-12-03. A file's ctime moves with the kernel's coarse clock: an edit
 * within the same tick as the close (or the same second, on a file system
 * with second timestamps) and of the same size goes unseen. The "open"
 * mark is made durable here (one sync at open), so that a power cut
 * leaves it. */
static const char *s_mark_open(knoop_journal_t *self, const char *lock_file, bool created)
{
    char was[96] = { 0 }, now[96];
    ssize_t n = pread(self->lock_fd, was, sizeof was - 1, 0);
    bool has_data = s_data_identity(self->path, now, sizeof now) == 0;
    const char *why = NULL;
    if (n < 0 || (n >= 4 && memcmp(was, "open", 4) == 0))
        why = "the last process writing it did not close it (a crash, kill -9 or a power cut)";
    else if (created && has_data)
        why = "data.mdb was not closed here (no writer.lock: restored or copied into place?)";
    else if (n > 0 && has_data && strcmp(was, now) != 0)
        why = "data.mdb changed since the journal was closed cleanly (replaced, copied over "
              "or edited)";
    errno = EIO;
    if (pwrite(self->lock_fd, "open\n", 5, 0) != 5 || ftruncate(self->lock_fd, 5) != 0 ||
        fdatasync(self->lock_fd) != 0)
        knoop_warn("journal %s: cannot write %s (%s): a crash will not be noticed at the "
                   "next start", self->path, lock_file, strerror(errno));
    return why;
}

int knoop_journal_open(const knoop_journal_opts_t *opts, knoop_journal_t **out)
{
    *out = NULL;
    if (!opts || !opts->path || !*opts->path)
        return KNOOP_EINVAL;
    int rc = knoop_crypto_init();
    if (rc)
        return rc;
    knoop_journal_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    self->lock_fd = -1;
    self->flags = opts->flags;
    self->trust = opts->trust;
    self->map_size = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    self->map_max = opts->map_max ? opts->map_max : DEFAULT_MAP_MAX;
    if (!opts->map_size && self->map_size > self->map_max)
        self->map_size = self->map_max;   /* a limit below the default first map */
    if (self->map_max < self->map_size)
        self->map_max = self->map_size;
    self->path = strdup(opts->path);
    if (!self->path) {
        free(self);
        return KNOOP_ENOMEM;
    }
    bool ro = self->flags & KNOOP_JOURNAL_READONLY, marked = false;
    const char *unclean = NULL;   /* why the pages are walked (s_mark_open) */
    char file[4200];

    if (ro) {
        snprintf(file, sizeof file, "%s/data.mdb", self->path);
        if (access(file, R_OK) != 0) {
            rc = knoop_err_from_errno(errno);
            knoop_error("journal %s: cannot read %s: %s", self->path, file, strerror(errno));
            goto fail;
        }
    } else {
        rc = s_mkdirs(self->path);
        if (rc) {
            knoop_error("journal %s: cannot create directory: %s", self->path, strerror(errno));
            goto fail;
        }
        /* One writing process per journal: a second daemon on the same data
         * directory would interleave sequence numbers. */
        snprintf(file, sizeof file, "%s/writer.lock", self->path);
        self->lock_fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        bool created = self->lock_fd >= 0;
        if (self->lock_fd < 0 && errno == EEXIST)
            self->lock_fd = open(file, O_RDWR | O_CLOEXEC);
        if (self->lock_fd < 0) {
            rc = knoop_err_from_errno(errno);
            knoop_error("journal %s: cannot open %s: %s", self->path, file, strerror(errno));
            goto fail;
        }
        if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            rc = KNOOP_EBUSY;
            knoop_error("journal %s: already open for writing by another process", self->path);
            goto fail;
        }
        unclean = s_mark_open(self, file, created);
        marked = true;
    }

    rc = journal_err(self, mdb_env_create(&self->env));
    if (rc)
        goto fail;
    mdb_env_set_maxdbs(self->env, 10);
    mdb_env_set_mapsize(self->env, self->map_size);
    unsigned eflags = MDB_NOTLS;
    if (ro)
        eflags |= MDB_RDONLY;
    if (self->flags & KNOOP_JOURNAL_RELAXED) {
        eflags |= MDB_NOSYNC;
        knoop_warn("journal %s: RELAXED DURABILITY: commits are not fsynced; "
                   "a power loss can lose acknowledged messages", self->path);
    }
    rc = mdb_env_open(self->env, self->path, eflags, 0600);
    if (rc && ro && (rc == EACCES || rc == EROFS)) {
        /* A copy on read-only media (an auditor's): no lock file can be made.
         * Safe without locking only because nobody writes to such a copy. */
        knoop_warn("journal %s: read-only medium, opening without lock file", self->path);
        mdb_env_close(self->env);
        mdb_env_create(&self->env);
        mdb_env_set_maxdbs(self->env, 10);
        rc = mdb_env_open(self->env, self->path, eflags | MDB_NOLOCK, 0600);
    }
    if (rc) {
        knoop_error("journal %s: cannot open: %s", self->path, mdb_strerror(rc));
        rc = journal_err(self, rc);
        if (rc == KNOOP_ECORRUPT)
            s_beyond_use(self->path);
        goto fail;
    }
    /* A data file shorter than its pages (truncated: a bad copy, a full
     * disk at the wrong moment) would fault (SIGBUS) at the first read past
     * its end: refused here instead. */
    MDB_envinfo ei;
    MDB_stat est;
    struct stat fst;
    snprintf(file, sizeof file, "%s/data.mdb", self->path);
    if (mdb_env_info(self->env, &ei) == 0 && mdb_env_stat(self->env, &est) == 0 &&
        stat(file, &fst) == 0 &&
        (uint64_t) (ei.me_last_pgno + 1) * est.ms_psize > (uint64_t) fst.st_size) {
        knoop_error("journal %s: data.mdb is truncated: %llu bytes, but its pages reach "
                    "%llu bytes", self->path, (unsigned long long) fst.st_size,
                    (unsigned long long) (ei.me_last_pgno + 1) * est.ms_psize);
        s_beyond_use(self->path);
        rc = KNOOP_ECORRUPT;
        goto fail;
    }
    /* An auditor's tool reads whatever it is handed: a damaged page must
     * be named, not followed (LMDB trusts its pages). A writer checks when
     * the last writer did not close the journal: a crash (perhaps on a
     * damaged page: it would crash again at every start), kill -9 or a
     * power cut; at every start only when it asks (KNOOP_JOURNAL_CHECK_PAGES:
     * a node, which reads everything at start anyway). Otherwise its reads
     * find damaged messages by their checks. */
    if (ro || unclean || (self->flags & KNOOP_JOURNAL_CHECK_PAGES)) {
        if (unclean)
            knoop_info("journal %s: %s: checking every page of data.mdb (%llu MiB) before use",
                       self->path, unclean,
                       (unsigned long long) (stat(file, &fst) == 0 ? fst.st_size >> 20 : 0));
        uint64_t t0 = knoop_now_ms();
        rc = s_check_pages(self);
        if (rc)
            goto fail;
        if (!ro)
            knoop_info("journal %s: pages checked in %.1f s: no damage", self->path,
                       (double) (knoop_now_ms() - t0) / 1000.0);
    }
    int dead = 0;
    mdb_reader_check(self->env, &dead);
    if (dead)
        knoop_info("journal %s: cleared %d stale reader slot(s)", self->path, dead);
    self->last_reader_check = knoop_now_ms();

    rc = s_init_dbs(self, opts->partner);
    if (rc == KNOOP_OK && self->upgrade_from)
        rc = s_upgrade(self);
    if (rc)
        goto fail;
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    self->map_size = info.me_mapsize;
    if (self->map_max < self->map_size)
        self->map_max = self->map_size;
    self->clear_mark = true;
    *out = self;
    return KNOOP_OK;

fail:
    /* The mark stays for damage, and when it was there before (the walk
     * has not cleared the journal); an open refused for another reason (a
     * partner mismatch, a version) puts back the clean state it found. */
    self->clear_mark = marked && rc != KNOOP_ECORRUPT && !unclean;   /* see clear_mark */
    knoop_journal_destroy(&self);
    return rc;
}

void knoop_journal_destroy(knoop_journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    knoop_journal_t *self = *self_p;
    bool clear = self->clear_mark && !atomic_load(&s_tree_damage);
    /* Relaxed durability syncs nothing per commit: the data reaches the
     * disk here, before the mark says the journal was closed cleanly. */
    if (clear && self->env && (self->flags & KNOOP_JOURNAL_RELAXED) &&
        mdb_env_sync(self->env, 1) != MDB_SUCCESS)
        clear = false;
    if (self->env)
        mdb_env_close(self->env);
    if (self->lock_fd >= 0) {
        /* Closed cleanly: no walk at the next start (see clear_mark) while
         * data.mdb is the file closed here. One short write over "open" (a
         * power cut before it reaches the disk leaves "open": a walk). No
         * data.mdb (a journal never opened fully): "clean -", which a
         * data.mdb put there later does not match. */
        char id[96] = "clean -\n";     /* left so when there is no data.mdb */
        if (clear)
            s_data_identity(self->path, id, sizeof id);
        size_t idl = strlen(id);
        if (clear && (pwrite(self->lock_fd, id, idl, 0) != (ssize_t) idl ||
                      ftruncate(self->lock_fd, (off_t) idl) != 0))
            knoop_warn("journal %s: cannot mark writer.lock clean: %s", self->path,
                       strerror(errno));
        close(self->lock_fd);
    }
    knoop_buf_free(&self->scratch);
    knoop_u64map_clear(&self->txn_rows_at);
    knoop_u64map_clear(&self->txn_stored_at);
    journal_pend_free(self);
    free(self->txn_rows);
    free(self->damage);
    free(self->path);
    free(self);
    *self_p = NULL;
}

uint64_t knoop_journal_next_pos(const knoop_journal_t *self)
{
    return self->open_txn ? self->txn_pos : self->next_pos;
}

uint64_t knoop_journal_epoch(const knoop_journal_t *self)
{
    return self->epoch;
}

const char *knoop_journal_partner(const knoop_journal_t *self)
{
    return self->partner;
}

const char *knoop_journal_path(const knoop_journal_t *self)
{
    return self->path;
}

int knoop_journal_reader_check(knoop_journal_t *self)
{
    int dead = 0;
    int rc = mdb_reader_check(self->env, &dead);
    self->last_reader_check = knoop_now_ms();
    if (rc)
        return journal_err(self, rc);
    if (dead)
        knoop_info("journal %s: cleared %d stale reader slot(s)", self->path, dead);
    return dead;
}

void knoop_journal_set_trust(knoop_journal_t *self, const knoop_trust_t *trust)
{
    self->trust = trust;
}

uint64_t knoop_journal_next_vpos(const knoop_journal_t *self)
{
    return self->next_vpos;
}

void knoop_journal_stats(const knoop_journal_t *self, knoop_journal_stats_t *out)
{
    *out = self->stats;
    out->map_size = self->map_size;
    out->map_max = self->map_max;
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(self->env, &info) == 0 && mdb_env_stat(self->env, &st) == 0)
        out->used_bytes = (size_t) (info.me_last_pgno + 1) * st.ms_psize;
    out->full = self->full;
    out->schema = (unsigned) self->schema;
}

int knoop_journal_set_map_max(knoop_journal_t *self, size_t map_max)
{
    if (!map_max)
        map_max = DEFAULT_MAP_MAX;
    if (map_max < self->map_size)
        return KNOOP_EINVAL;   /* a map never shrinks */
    if (map_max != self->map_max)
        knoop_info("journal %s: map limit %zu MiB (was %zu MiB)", self->path,
                   map_max / MIB, self->map_max / MIB);
    self->map_max = map_max;
    return KNOOP_OK;
}

