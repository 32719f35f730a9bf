/* journal.c — the LMDB journal; the only file that includes lmdb.h.
 * See journal.h for the layout and the append semantics. */
#include "journal.h"
#include "crypto.h"
#include "hlc.h"
#include "topic.h"
#include "trust_mesh.h"

#include <lmdb.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MIB ((size_t) 1 << 20)
#define DEFAULT_MAP_SIZE   (64 * MIB)
#define DEFAULT_MAP_MAX    ((size_t) 1 << 40)
#define READER_CHECK_MS    10000
/* Every stored message carries a check of its exact bytes, and every log and
 * vlog row the start of that check: damage on disk is found by the read that
 * meets it, before anything is handed out. */
#define MSG_CHECK          16     /* msg value: check || envelope */
#define IDX_LEN            24     /* log/vlog value: stream || seq || check[0..8) */
#define IDX_CHECK          8
#define DAMAGE_MAX         4096   /* damaged messages remembered until repaired */
/* Less room than this left on the journal's file system when a write fails:
 * the failure is a full disk, whatever errno LMDB passed on. */
#define FULL_MARGIN        ((uint64_t) 1 << 20)

/* Stream row: fixed header, then origin and topic. */
#define SROW_HWM      0
#define SROW_MAX      8
#define SROW_VERIFIED 16
#define SROW_EPOCH    24
#define SROW_HEAD     32
#define SROW_FLAGS    64
#define SROW_OLEN     68
#define SROW_TLEN     69
#define SROW_HDR      70

struct knoop_journal_t {
    MDB_env             *env;
    MDB_dbi              msg, log, stream, state, cursor, meta, fork, vlog;
    unsigned             flags;
    size_t               map_size;
    size_t               map_max;
    uint64_t             epoch;
    char                 partner[KNOOP_ID_MAX + 1];
    const knoop_trust_t *trust;
    int                  lock_fd;
    uint64_t             next_pos;          /* next arrival log position */
    uint64_t             next_vpos;         /* next verified log position */
    uint64_t             txn_vpos;          /* ... within the open write txn */
    unsigned             append_flags;      /* of the append in progress */
    uint64_t             last_reader_check;
    knoop_journal_stats_t stats;
    char                 error[512];        /* last failed write, "" after a commit */
    uint64_t             error_at;          /* when (Unix ms), 0 when none */
    unsigned             full;              /* KNOOP_JOURNAL_FULL_*, until a commit */
    knoop_buf_t          scratch;           /* check || envelope being stored */
    knoop_journal_damage_t *damage;         /* damaged messages, until repaired */
    size_t               ndamage;
    uint64_t             last_row_report;   /* damaged index rows: log rate */
    bool                 upgrade;           /* schema 2 found: add the checks */
    char                *path;
};

static const uint8_t s_zero_hash[KNOOP_HASH_LEN];

/* ---- error mapping ---- */

static int s_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:          return KNOOP_OK;
    case MDB_NOTFOUND:         return KNOOP_ENOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:               return KNOOP_EFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:          return KNOOP_ECORRUPT;
    case MDB_VERSION_MISMATCH: return KNOOP_EVERSION;
    case MDB_READERS_FULL:     return KNOOP_EBUSY;
    case EACCES:
    case EPERM:
    case EROFS:                return KNOOP_EPERM;
    case ENOMEM:               return KNOOP_ENOMEM;
    case ENOENT:               return KNOOP_ENOTFOUND;
    default:                   return KNOOP_EIO;
    }
}

/* Free bytes on the journal's file system, as this process may use them
 * (root may use the blocks reserved for it). */
static int s_free_bytes(const knoop_journal_t *self, uint64_t *out)
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

/* A write transaction needing about `need` bytes failed (mdb_rc, or
 * KNOOP_EFULL from s_grow): map the
 * cause, record it in words an operator can act on, log and count it.
 * LMDB turns a short write on a full file system into EIO: a failure on a
 * volume with no room left is reported as the full disk it is. */
static int s_write_failed(knoop_journal_t *self, int mdb_rc, const char *what, uint64_t need)
{
    int rc = mdb_rc == KNOOP_EFULL ? KNOOP_EFULL : s_err(mdb_rc);
    uint64_t room = 0;
    bool known = s_free_bytes(self, &room) == 0;
    char free_text[32];
    s_human_bytes(free_text, sizeof free_text, room);
    self->full = KNOOP_JOURNAL_FULL_NONE;
    if (rc == KNOOP_EFULL && (mdb_rc == KNOOP_EFULL || mdb_rc == MDB_MAP_FULL)) {
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
                 self->path, mdb_strerror(mdb_rc), free_text, what);
    else if (rc == KNOOP_EFULL || (rc == KNOOP_EIO && known && room < FULL_MARGIN + need)) {
        rc = KNOOP_EFULL;
        if (known)
            snprintf(self->error, sizeof self->error,
                     "disk full on %s: %s free; %s not stored (free space on that volume, "
                     "or move the journal to a larger one)", self->path, free_text, what);
        else
            snprintf(self->error, sizeof self->error,
                     "disk full on %s (%s); %s not stored (free space on that volume, "
                     "or move the journal to a larger one)", self->path,
                     mdb_strerror(mdb_rc), what);
    } else
        snprintf(self->error, sizeof self->error,
                 "journal %s: %s not stored: %s (%s free; check the disk and the kernel log)",
                 self->path, what, mdb_strerror(mdb_rc), free_text);
    self->error_at = knoop_now_ms();
    if (rc == KNOOP_EFULL && self->full == KNOOP_JOURNAL_FULL_NONE)
        self->full = KNOOP_JOURNAL_FULL_DISK;
    if (rc == KNOOP_EFULL)
        self->stats.full_errors++;
    knoop_error("%s", self->error);
    return rc;
}

/* A write transaction committed: a recorded failure is over. */
static void s_write_done(knoop_journal_t *self)
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
static int s_begin(knoop_journal_t *self, unsigned flags, MDB_txn **txn)
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
    return rc;
}

/* Double the map, bounded by map_max. Caller holds no transaction. Returns
 * KNOOP_OK, KNOOP_EFULL at the limit, or LMDB's error. */
static int s_grow(knoop_journal_t *self)
{
    if (self->map_size >= self->map_max)
        return KNOOP_EFULL;   /* the caller says so (s_write_failed) */
    size_t want = self->map_size * 2;
    if (want > self->map_max)
        want = self->map_max;
    int rc = mdb_env_set_mapsize(self->env, want);
    if (rc) {
        knoop_error("journal %s: cannot grow map to %zu MiB: %s", self->path,
                    want / MIB, mdb_strerror(rc));
        return rc;   /* LMDB's code, for s_write_failed */
    }
    knoop_info("journal %s: map grown from %zu MiB to %zu MiB", self->path,
               self->map_size / MIB, want / MIB);
    self->map_size = want;
    self->stats.map_grows++;
    return KNOOP_OK;
}

/* ---- stream rows ---- */

static void s_key16(uint8_t key[16], uint64_t stream, uint64_t seq)
{
    knoop_put_be64(key, stream);
    knoop_put_be64(key + 8, seq);
}

/* ---- integrity of stored messages and index rows ---- */

/* The check stored before an envelope: BLAKE2b(key || envelope), 16 bytes.
 * The key is in it, so a value found under another key fails too. */
static void s_check(uint8_t out[MSG_CHECK], const uint8_t key[16], const uint8_t *env,
                    size_t len)
{
    knoop_hasher_t h;
    uint8_t full[KNOOP_HASH_LEN];
    knoop_hasher_init(&h);
    knoop_hasher_update(&h, key, 16);
    knoop_hasher_update(&h, env, len);
    knoop_hasher_final(&h, full);
    memcpy(out, full, MSG_CHECK);
}

/* scratch = check || canonical envelope of m, ready to store under key. */
static int s_pack(knoop_journal_t *self, const knoop_msg_t *m, const uint8_t key[16])
{
    self->scratch.len = 0;
    int rc = knoop_buf_reserve(&self->scratch, MSG_CHECK);
    if (rc)
        return rc;
    self->scratch.len = MSG_CHECK;
    rc = knoop_msg_pack(m, &self->scratch);
    if (rc)
        return rc;
    s_check(self->scratch.data, key, self->scratch.data + MSG_CHECK,
            self->scratch.len - MSG_CHECK);
    return KNOOP_OK;
}

static ssize_t s_damage_find(const knoop_journal_t *self, uint64_t stream, uint64_t seq)
{
    for (size_t i = 0; i < self->ndamage; i++)
        if (self->damage[i].stream == stream && self->damage[i].seq == seq)
            return (ssize_t) i;
    return -1;
}

/* A message found damaged: remembered (until repaired), counted, logged once. */
static void s_damaged(knoop_journal_t *self, uint64_t stream, uint64_t seq, const char *how)
{
    if (s_damage_find(self, stream, seq) >= 0)
        return;
    self->stats.damaged++;
    if (self->ndamage < DAMAGE_MAX) {
        knoop_journal_damage_t *nd = realloc(self->damage, (self->ndamage + 1) * sizeof *nd);
        if (nd) {
            self->damage = nd;
            self->damage[self->ndamage++] = (knoop_journal_damage_t) { stream, seq };
        }
    }
    knoop_error("journal %s: DAMAGED on disk: stream %016llx seq %llu (%s); it is not "
                "handed out; it must be fetched again from a broker or peer",
                self->path, (unsigned long long) stream, (unsigned long long) seq, how);
}

static void s_undamaged(knoop_journal_t *self, uint64_t stream, uint64_t seq)
{
    ssize_t i = s_damage_find(self, stream, seq);
    if (i < 0)
        return;
    self->damage[i] = self->damage[--self->ndamage];
    self->stats.repaired++;
}

/* The envelope of a stored msg value, if its bytes still match their check.
 * KNOOP_ECORRUPT (remembered and logged) when they do not. */
static int s_msg_open(knoop_journal_t *self, const uint8_t key[16], const MDB_val *val,
                      const uint8_t **env, size_t *len)
{
    if (val->mv_size > MSG_CHECK) {
        uint8_t c[MSG_CHECK];
        s_check(c, key, (const uint8_t *) val->mv_data + MSG_CHECK, val->mv_size - MSG_CHECK);
        if (memcmp(c, val->mv_data, MSG_CHECK) == 0) {
            *env = (const uint8_t *) val->mv_data + MSG_CHECK;
            *len = val->mv_size - MSG_CHECK;
            return KNOOP_OK;
        }
    }
    s_damaged(self, knoop_get_be64(key), knoop_get_be64(key + 8),
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
 * there is not damage. */
static bool s_fork_has(knoop_journal_t *self, MDB_txn *txn, const uint8_t key[16])
{
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, self->fork, &cur) != 0)
        return false;
    MDB_val k = { 16, (void *) key }, v;
    bool has = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size >= 16 &&
               memcmp(k.mv_data, key, 16) == 0;
    mdb_cursor_close(cur);
    return has;
}

enum { ROW_OK = 0, ROW_GONE = 1, ROW_DAMAGED = 2, ROW_MSG_DAMAGED = 3 };

/* Check one log/vlog row and find its message. ROW_OK with the envelope;
 * ROW_GONE when the message moved to fork evidence; ROW_DAMAGED for a row
 * that cannot be trusted; ROW_MSG_DAMAGED when the message itself is damaged
 * (remembered); a negative KNOOP error for a failed read. */
static int s_row_open(knoop_journal_t *self, MDB_txn *txn, const char *db, const MDB_val *k,
                      const MDB_val *v, const uint8_t **env, size_t *len)
{
    uint64_t pos = k->mv_size == 8 ? knoop_get_be64(k->mv_data) : 0;
    if (k->mv_size != 8 || v->mv_size != IDX_LEN) {
        s_row_damaged(self, db, pos, "wrong size");
        return ROW_DAMAGED;
    }
    MDB_val mk = { 16, v->mv_data }, mv;
    int grc = mdb_get(txn, self->msg, &mk, &mv);
    if (grc == MDB_NOTFOUND) {
        if (s_fork_has(self, txn, v->mv_data))
            return ROW_GONE;
        s_row_damaged(self, db, pos, "it names a message that is not stored");
        return ROW_DAMAGED;
    }
    if (grc)
        return s_err(grc);
    if (mv.mv_size < IDX_CHECK ||
        memcmp(mv.mv_data, (const uint8_t *) v->mv_data + 16, IDX_CHECK) != 0) {
        s_row_damaged(self, db, pos, "it does not match the message it names");
        return ROW_DAMAGED;
    }
    if (s_msg_open(self, v->mv_data, &mv, env, len) != KNOOP_OK)
        return ROW_MSG_DAMAGED;
    return ROW_OK;
}

static void s_row(uint8_t row[IDX_LEN], const uint8_t key[16], const uint8_t *check)
{
    memcpy(row, key, 16);
    memcpy(row + 16, check, IDX_CHECK);
}

static int s_stream_decode(const MDB_val *v, uint64_t stream, knoop_stream_info_t *out)
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
    memcpy(out->origin, p + SROW_HDR, olen);
    memcpy(out->topic, p + SROW_HDR + olen, tlen);
    return KNOOP_OK;
}

static int s_stream_get(knoop_journal_t *self, MDB_txn *txn, uint64_t stream,
                        knoop_stream_info_t *out)
{
    uint8_t k[8];
    knoop_put_be64(k, stream);
    MDB_val key = { 8, k }, val;
    int rc = mdb_get(txn, self->stream, &key, &val);
    if (rc)
        return rc == MDB_NOTFOUND ? KNOOP_ENOTFOUND : s_err(rc);
    return s_stream_decode(&val, stream, out);
}

/* Returns an LMDB code. */
static int s_stream_put(knoop_journal_t *self, MDB_txn *txn, const knoop_stream_info_t *s)
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
    memcpy(row + SROW_HDR, s->origin, olen);
    memcpy(row + SROW_HDR + olen, s->topic, tlen);
    uint8_t k[8];
    knoop_put_be64(k, s->stream);
    MDB_val key = { 8, k }, val = { SROW_HDR + olen + tlen, row };
    return mdb_put(txn, self->stream, &key, &val, 0);
}

/* ---- the state view ---- */

/* State value: hlc(8) || stream(8) || seq(8) || origin. Returns an LMDB code. */
static int s_state_take(knoop_journal_t *self, MDB_txn *txn, const knoop_msg_t *m)
{
    if (m->b.status != KNOOP_STATUS_ACTUAL)
        return MDB_SUCCESS;
    uint8_t kbuf[KNOOP_TOPIC_MAX + 1 + KNOOP_KEY_MAX];
    size_t tl = strlen(m->b.topic), kl = strlen(m->b.key);
    memcpy(kbuf, m->b.topic, tl);
    kbuf[tl] = 0;
    memcpy(kbuf + tl + 1, m->b.key, kl);
    MDB_val key = { tl + 1 + kl, kbuf }, cur;
    int rc = mdb_get(txn, self->state, &key, &cur);
    if (rc == MDB_SUCCESS && cur.mv_size >= 24) {
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
            return MDB_SUCCESS;
    } else if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS) {
        return rc;
    }
    uint8_t vbuf[24 + KNOOP_ID_MAX];
    size_t ol = strlen(m->b.origin);
    knoop_put_be64(vbuf, m->b.hlc);
    knoop_put_be64(vbuf + 8, m->stream);
    knoop_put_be64(vbuf + 16, m->b.seq);
    memcpy(vbuf + 24, m->b.origin, ol);
    MDB_val val = { 24 + ol, vbuf };
    return mdb_put(txn, self->state, &key, &val, 0);
}

/* ---- open / close ---- */

static int s_meta_get(knoop_journal_t *self, MDB_txn *txn, const char *name, MDB_val *val)
{
    MDB_val key = { strlen(name), (void *) name };
    return mdb_get(txn, self->meta, &key, val);
}

static int s_meta_put(knoop_journal_t *self, MDB_txn *txn, const char *name,
                      const void *data, size_t len)
{
    MDB_val key = { strlen(name), (void *) name }, val = { len, (void *) data };
    return mdb_put(txn, self->meta, &key, &val, 0);
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
                return s_err(errno);
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return s_err(errno);
    return KNOOP_OK;
}

/* Open the named databases and read or write the metadata. */
static int s_init_dbs(knoop_journal_t *self, const char *partner)
{
    bool ro = self->flags & KNOOP_JOURNAL_READONLY;
    MDB_txn *txn;
    int rc = s_begin(self, ro ? MDB_RDONLY : 0, &txn);
    if (rc)
        return s_err(rc);
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
            return rc == MDB_NOTFOUND ? KNOOP_EVERSION : s_err(rc);
        }
    }

    MDB_val v;
    rc = s_meta_get(self, txn, "schema", &v);
    if (rc == MDB_NOTFOUND && !ro) {
        uint8_t b[8];
        knoop_put_be64(b, KNOOP_JOURNAL_SCHEMA);
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
            return s_err(rc);
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
        if (schema == 2 && !ro) {
            self->upgrade = true;       /* s_upgrade, after this transaction */
        } else if (schema == 2) {
            knoop_error("journal %s: schema version 2 (before checks were stored with every "
                        "message); open it once with a knoop daemon of this version to "
                        "upgrade it, or read it with an older knoop", self->path);
            mdb_txn_abort(txn);
            return KNOOP_EVERSION;
        } else if (schema != KNOOP_JOURNAL_SCHEMA) {
            knoop_error("journal %s: schema version %llu, this build reads %d", self->path,
                        (unsigned long long) schema, KNOOP_JOURNAL_SCHEMA);
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
    MDB_cursor *cur;
    MDB_val k;
    self->next_pos = 1;
    if (mdb_cursor_open(txn, self->log, &cur) == 0) {
        if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            self->next_pos = knoop_get_be64(k.mv_data) + 1;
        mdb_cursor_close(cur);
    }
    self->next_vpos = 1;
    if (mdb_cursor_open(txn, self->vlog, &cur) == 0) {
        if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            self->next_vpos = knoop_get_be64(k.mv_data) + 1;
        mdb_cursor_close(cur);
    }
    /* Committing (also a read-only transaction) keeps the dbi handles: an
     * aborted transaction closes the handles it opened. */
    rc = mdb_txn_commit(txn);
    return s_err(rc);
}

/* The keys of one database (copies: values are rewritten after). */
static int s_keys(MDB_txn *txn, MDB_dbi dbi, size_t klen, uint8_t **keys, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    size_t cap = 0;
    *keys = NULL;
    *n = 0;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    for (int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != klen)
            continue;           /* not a row of this schema: the scan reports it */
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            uint8_t *nk = realloc(*keys, cap * klen);
            if (!nk) {
                rc = ENOMEM;
                break;
            }
            *keys = nk;
        }
        memcpy(*keys + *n * klen, k.mv_data, klen);
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc;
}

/* Schema 2 to 3 in one transaction: a check before every message, its
 * start in every log and vlog row. LMDB code. */
static int s_upgrade_txn(knoop_journal_t *self, MDB_txn *txn, uint64_t *n)
{
    uint8_t *keys = NULL;
    size_t nk = 0;
    knoop_buf_t b = { 0 };
    int rc = s_keys(txn, self->msg, 16, &keys, &nk);
    for (size_t i = 0; !rc && i < nk; i++) {
        MDB_val k = { 16, keys + 16 * i }, v;
        rc = mdb_get(txn, self->msg, &k, &v);
        if (rc)
            break;
        b.len = 0;
        if (knoop_buf_reserve(&b, MSG_CHECK + v.mv_size) != KNOOP_OK) {
            rc = ENOMEM;
            break;
        }
        s_check(b.data, k.mv_data, v.mv_data, v.mv_size);
        memcpy(b.data + MSG_CHECK, v.mv_data, v.mv_size);
        MDB_val nv = { MSG_CHECK + v.mv_size, b.data };
        rc = mdb_put(txn, self->msg, &k, &nv, 0);
        (*n)++;
    }
    free(keys);
    knoop_buf_free(&b);
    MDB_dbi idx[2] = { self->log, self->vlog };
    for (int d = 0; d < 2 && !rc; d++) {
        rc = s_keys(txn, idx[d], 8, &keys, &nk);
        for (size_t i = 0; !rc && i < nk; i++) {
            MDB_val k = { 8, keys + 8 * i }, v, mv;
            rc = mdb_get(txn, idx[d], &k, &v);
            if (rc || v.mv_size != 16)
                continue;           /* damaged already: the scan reports it */
            uint8_t row[IDX_LEN] = { 0 };
            memcpy(row, v.mv_data, 16);
            MDB_val mk = { 16, row };
            if (mdb_get(txn, self->msg, &mk, &mv) == 0 && mv.mv_size >= IDX_CHECK)
                memcpy(row + 16, mv.mv_data, IDX_CHECK);
            MDB_val nv = { IDX_LEN, row };
            rc = mdb_put(txn, idx[d], &k, &nv, 0);
        }
        free(keys);
        keys = NULL;
    }
    if (!rc) {
        uint8_t sv[8];
        knoop_put_be64(sv, KNOOP_JOURNAL_SCHEMA);
        rc = s_meta_put(self, txn, "schema", sv, 8);
    }
    return rc;
}

static int s_upgrade(knoop_journal_t *self)
{
    for (;;) {
        MDB_txn *txn;
        int rc = s_begin(self, 0, &txn);
        if (rc)
            return s_err(rc);
        uint64_t n = 0;
        rc = s_upgrade_txn(self, txn, &n);
        if (!rc)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL && s_grow(self) == KNOOP_OK)
            continue;
        if (rc)
            return s_write_failed(self, rc, "the upgrade to schema 3", 0);
        knoop_info("journal %s: upgraded to schema %d: a check stored with each of its %llu "
                   "messages and its log rows", self->path, KNOOP_JOURNAL_SCHEMA,
                   (unsigned long long) n);
        self->upgrade = false;
        return KNOOP_OK;
    }
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
    bool ro = self->flags & KNOOP_JOURNAL_READONLY;
    char file[4200];

    if (ro) {
        snprintf(file, sizeof file, "%s/data.mdb", self->path);
        if (access(file, R_OK) != 0) {
            rc = errno == ENOENT ? KNOOP_ENOTFOUND : s_err(errno);
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
        self->lock_fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (self->lock_fd < 0) {
            rc = s_err(errno);
            knoop_error("journal %s: cannot open %s: %s", self->path, file, strerror(errno));
            goto fail;
        }
        if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            rc = KNOOP_EBUSY;
            knoop_error("journal %s: already open for writing by another process", self->path);
            goto fail;
        }
    }

    rc = mdb_env_create(&self->env);
    if (rc) {
        rc = s_err(rc);
        goto fail;
    }
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
        rc = s_err(rc);
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
    int dead = 0;
    mdb_reader_check(self->env, &dead);
    if (dead)
        knoop_info("journal %s: cleared %d stale reader slot(s)", self->path, dead);
    self->last_reader_check = knoop_now_ms();

    rc = s_init_dbs(self, opts->partner);
    if (rc == KNOOP_OK && self->upgrade)
        rc = s_upgrade(self);
    if (rc)
        goto fail;
    MDB_envinfo info;
    mdb_env_info(self->env, &info);
    self->map_size = info.me_mapsize;
    if (self->map_max < self->map_size)
        self->map_max = self->map_size;
    *out = self;
    return KNOOP_OK;

fail:
    knoop_journal_destroy(&self);
    return rc;
}

void knoop_journal_destroy(knoop_journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    knoop_journal_t *self = *self_p;
    if (self->env)
        mdb_env_close(self->env);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    knoop_buf_free(&self->scratch);
    free(self->damage);
    free(self->path);
    free(self);
    *self_p = NULL;
}

uint64_t knoop_journal_next_pos(const knoop_journal_t *self)
{
    return self->next_pos;
}

uint64_t knoop_journal_epoch(const knoop_journal_t *self)
{
    return self->epoch;
}

const char *knoop_journal_partner(const knoop_journal_t *self)
{
    return self->partner;
}

int knoop_journal_reader_check(knoop_journal_t *self)
{
    int dead = 0;
    int rc = mdb_reader_check(self->env, &dead);
    self->last_reader_check = knoop_now_ms();
    if (rc)
        return s_err(rc);
    if (dead)
        knoop_info("journal %s: cleared %d stale reader slot(s)", self->path, dead);
    return dead;
}

/* ---- append ---- */

/* Keep a conflicting copy as evidence and flag the stream. LMDB code. */
static int s_keep_fork(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s,
                       uint64_t seq, const uint8_t chain[KNOOP_HASH_LEN],
                       const uint8_t *env, size_t len)
{
    uint8_t k[16 + KNOOP_HASH_LEN];
    s_key16(k, s->stream, seq);
    memcpy(k + 16, chain, KNOOP_HASH_LEN);
    MDB_val key = { sizeof k, k }, val = { len, (void *) env };
    s->flags |= KNOOP_STREAM_FORKED;
    self->stats.forks++;
    knoop_error("journal %s: FORK in stream %016llx (%s on %s) at seq %llu: "
                "two different messages; both kept as evidence", self->path,
                (unsigned long long) s->stream, s->origin, s->topic,
                (unsigned long long) seq);
    return mdb_put(txn, self->fork, &key, &val, 0);
}

/* The stream's verified prefix grows to `to`: every message it newly covers
 * enters the verified log (what applications are fed from, in this order)
 * and the state view. LMDB code. */
static int s_verify_to(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s, uint64_t to)
{
    for (uint64_t seq = s->verified + 1; seq <= to; seq++) {
        uint8_t k[16], pk[8];
        s_key16(k, s->stream, seq);
        MDB_val key = { 16, k }, val;
        int rc = mdb_get(txn, self->msg, &key, &val);
        if (rc)
            return rc;
        knoop_msg_t m;
        const uint8_t *env;
        size_t len;
        if (s_msg_open(self, k, &val, &env, &len) == KNOOP_OK &&
            knoop_msg_parse(&m, env, len) == KNOOP_OK) {
            rc = s_state_take(self, txn, &m);
            knoop_msg_clear(&m);
            if (rc)
                return rc;
        }
        uint8_t row[IDX_LEN];
        s_row(row, k, val.mv_data);
        knoop_put_be64(pk, self->txn_vpos);
        MDB_val vk = { 8, pk }, vv = { IDX_LEN, row };
        rc = mdb_put(txn, self->vlog, &vk, &vv, MDB_APPEND);
        if (rc)
            return rc;
        self->txn_vpos++;
    }
    if (to > s->verified)
        s->verified = to;
    return MDB_SUCCESS;
}

/* A message entered the contiguous prefix at s->hwm. With a trust store the
 * picture and the verified log wait for a head signature covering it;
 * without one (no verification) the picture takes it now. LMDB code. */
static int s_linked(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s,
                    const knoop_msg_t *m)
{
    if (!self->trust)
        return s_state_take(self, txn, m);
    if (m->sig)
        return s_verify_to(self, txn, s, s->hwm);
    return MDB_SUCCESS;
}

/* Walk the contiguous prefix forward over out-of-order messages already
 * stored. LMDB code; link failures end the walk and become fork evidence. */
static int s_advance(knoop_journal_t *self, MDB_txn *txn, knoop_stream_info_t *s)
{
    while (s->hwm < s->max_seq) {
        uint8_t k[16];
        s_key16(k, s->stream, s->hwm + 1);
        MDB_val key = { 16, k }, val;
        int rc = mdb_get(txn, self->msg, &key, &val);
        if (rc == MDB_NOTFOUND)
            return MDB_SUCCESS;
        if (rc)
            return rc;
        const uint8_t *env;
        size_t len;
        if (s_msg_open(self, k, &val, &env, &len) != KNOOP_OK)
            return MDB_SUCCESS;      /* damaged: the walk resumes once it is repaired */
        knoop_msg_t m;
        int prc = knoop_msg_parse(&m, env, len);
        if (prc == KNOOP_OK && memcmp(m.b.prev, s->head, KNOOP_HASH_LEN) == 0) {
            s->hwm++;
            memcpy(s->head, m.chain, KNOOP_HASH_LEN);
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
            rc = mdb_del(txn, self->msg, &key, NULL);
        return rc;
    }
    return MDB_SUCCESS;
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
    s_key16(k, stream, seq);
    MDB_val key = { 16, k }, val;
    const uint8_t *env;
    size_t len;
    knoop_msg_t m;
    if (mdb_get(txn, self->msg, &key, &val) != 0 || s_msg_open(self, k, &val, &env, &len) ||
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
    int rc = s_pack(self, m, k);
    if (rc)
        return rc;
    MDB_val key = { 16, (void *) k }, val = { self->scratch.len, self->scratch.data };
    *txn_rc = mdb_put(txn, self->msg, &key, &val, 0);
    if (*txn_rc)
        return s_err(*txn_rc);
    s_undamaged(self, s->stream, seq);
    knoop_info("journal %s: repaired stream %016llx (%s on %s) seq %llu with a good copy",
               self->path, (unsigned long long) s->stream, s->origin, s->topic,
               (unsigned long long) seq);
    /* The walk over the contiguous prefix stopped at the damaged message. */
    if (seq == s->hwm + 1 && memcmp(m->b.prev, s->hwm ? s->head : s_zero_hash,
                                    KNOOP_HASH_LEN) == 0) {
        s->hwm = seq;
        memcpy(s->head, m->chain, KNOOP_HASH_LEN);
        *txn_rc = s_linked(self, txn, s, m);
        if (!*txn_rc)
            *txn_rc = s_advance(self, txn, s);
        if (!*txn_rc)
            *txn_rc = s_stream_put(self, txn, s);
        if (*txn_rc)
            return s_err(*txn_rc);
    } else if (seq <= s->hwm && seq > s->verified && m->sig && self->trust) {
        *txn_rc = s_verify_to(self, txn, s, seq);
        if (!*txn_rc)
            *txn_rc = s_stream_put(self, txn, s);
        if (*txn_rc)
            return s_err(*txn_rc);
    }
    return KNOOP_OK;
}

/* One message inside the batch transaction. Returns the per-message result;
 * an LMDB failure goes to *txn_rc and aborts the batch. */
static int s_append_one(knoop_journal_t *self, MDB_txn *txn, const knoop_msg_t *m,
                        uint64_t *pos, int *txn_rc)
{
    knoop_stream_info_t s;
    int rc = s_stream_get(self, txn, m->stream, &s);
    if (rc == KNOOP_ENOTFOUND) {
        memset(&s, 0, sizeof s);
        s.stream = m->stream;
        s.epoch = m->b.epoch;
        snprintf(s.origin, sizeof s.origin, "%s", m->b.origin);
        snprintf(s.topic, sizeof s.topic, "%s", m->b.topic);
    } else if (rc) {
        *txn_rc = MDB_CORRUPTED;
        return rc;
    } else if (s.epoch != m->b.epoch || strcmp(s.origin, m->b.origin) != 0 ||
               strcmp(s.topic, m->b.topic) != 0) {
        self->stats.collisions++;
        knoop_error("journal %s: stream id %016llx collision: (%s, %s) vs stored (%s, %s); refused",
                    self->path, (unsigned long long) m->stream, m->b.origin, m->b.topic,
                    s.origin, s.topic);
        return KNOOP_ECOLLISION;
    }

    uint8_t k[16];
    s_key16(k, m->stream, m->b.seq);
    MDB_val key = { 16, k }, val;
    int mrc = mdb_get(txn, self->msg, &key, &val);
    const uint8_t *oenv;
    size_t olen;
    if (mrc == MDB_SUCCESS && s_msg_open(self, k, &val, &oenv, &olen) != KNOOP_OK)
        return s_repair(self, txn, &s, m, k, txn_rc);
    if (mrc == MDB_SUCCESS) {
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
            *txn_rc = s_keep_fork(self, txn, &s, m->b.seq, m->chain,
                                  self->scratch.data, self->scratch.len);
            if (!*txn_rc)
                *txn_rc = s_stream_put(self, txn, &s);
            return KNOOP_EFORK;
        }
        self->stats.duplicates++;
        if (upgrade) {
            /* The same message, now with its (verified) head signature:
             * keep the signed copy so the head stays provable. */
            if (s_pack(self, m, k) != KNOOP_OK)
                return KNOOP_EDUPLICATE;
            MDB_val nv = { self->scratch.len, self->scratch.data };
            *txn_rc = mdb_put(txn, self->msg, &key, &nv, 0);
            if (!*txn_rc && m->b.seq <= s.hwm && m->b.seq > s.verified) {
                *txn_rc = s_verify_to(self, txn, &s, m->b.seq);
                if (!*txn_rc)
                    *txn_rc = s_stream_put(self, txn, &s);
            }
        }
        return KNOOP_EDUPLICATE;
    }
    if (mrc != MDB_NOTFOUND) {
        *txn_rc = mrc;
        return s_err(mrc);
    }
    if (m->b.seq <= s.hwm) {
        *txn_rc = MDB_CORRUPTED;
        knoop_error("journal %s: stream %016llx misses seq %llu below its hwm %llu",
                    self->path, (unsigned long long) s.stream,
                    (unsigned long long) m->b.seq, (unsigned long long) s.hwm);
        return KNOOP_ECORRUPT;
    }
    if (m->b.seq > s.hwm + 1 && (self->append_flags & KNOOP_APPEND_CONTIGUOUS)) {
        self->stats.chain_errors++;
        knoop_warn("journal %s: %s on %s seq %llu leaves a gap after seq %llu; refused",
                   self->path, m->b.origin, m->b.topic, (unsigned long long) m->b.seq,
                   (unsigned long long) s.hwm);
        return KNOOP_ECHAIN;
    }
    if (m->b.seq == s.hwm + 1 &&
        memcmp(m->b.prev, s.hwm ? s.head : s_zero_hash, KNOOP_HASH_LEN) != 0) {
        self->stats.chain_errors++;
        knoop_warn("journal %s: %s on %s seq %llu does not link to seq %llu; refused",
                   self->path, m->b.origin, m->b.topic, (unsigned long long) m->b.seq,
                   (unsigned long long) s.hwm);
        return KNOOP_ECHAIN;
    }

    /* Store the message (check, canonical envelope: exact body, sig) and its
     * arrival. */
    rc = s_pack(self, m, k);
    if (rc)
        return rc;
    val.mv_size = self->scratch.len;
    val.mv_data = self->scratch.data;
    *txn_rc = mdb_put(txn, self->msg, &key, &val, 0);
    if (*txn_rc)
        return s_err(*txn_rc);
    uint8_t pk[8], row[IDX_LEN];
    knoop_put_be64(pk, *pos);
    s_row(row, k, self->scratch.data);
    MDB_val lkey = { 8, pk }, lval = { IDX_LEN, row };
    *txn_rc = mdb_put(txn, self->log, &lkey, &lval, MDB_APPEND);
    if (*txn_rc)
        return s_err(*txn_rc);
    (*pos)++;

    if (m->b.seq > s.max_seq)
        s.max_seq = m->b.seq;
    if (m->b.seq == s.hwm + 1) {
        s.hwm = m->b.seq;
        memcpy(s.head, m->chain, KNOOP_HASH_LEN);
        *txn_rc = s_linked(self, txn, &s, m);
        if (!*txn_rc)
            *txn_rc = s_advance(self, txn, &s);
    }
    if (!*txn_rc)
        *txn_rc = s_stream_put(self, txn, &s);
    if (*txn_rc)
        return s_err(*txn_rc);
    self->stats.stored++;
    return KNOOP_OK;
}

/* Is m's signature known good already: the journal holds m (same chain)
 * with a signature? Then append finds it a duplicate and verifying it again
 * adds no trust. A copy kept unsigned is not enough: the signed one replaces
 * it, so it must verify. LMDB code (read transaction). */
static bool s_held_signed(knoop_journal_t *self, MDB_txn *txn, const knoop_msg_t *m)
{
    uint8_t k[16];
    s_key16(k, m->stream, m->b.seq);
    MDB_val key = { 16, k }, val;
    const uint8_t *env;
    size_t len;
    if (mdb_get(txn, self->msg, &key, &val) != MDB_SUCCESS ||
        s_msg_open(self, k, &val, &env, &len) != KNOOP_OK)
        return false;
    knoop_msg_t old;
    if (knoop_msg_parse(&old, env, len) != KNOOP_OK)
        return false;
    bool held = old.sig && memcmp(old.chain, m->chain, KNOOP_HASH_LEN) == 0;
    knoop_msg_clear(&old);
    return held;
}

/* Checks that need no transaction: signatures against the trust store. */
static int s_precheck(knoop_journal_t *self, const knoop_msg_t *m)
{
    if (!self->trust)
        return KNOOP_OK;
    const knoop_cert_t *cert = NULL;
    if (m->sig)
        self->stats.sig_verified++;
    int rc = knoop_trust_msg_key(self->trust, m, &cert);
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

void knoop_journal_set_trust(knoop_journal_t *self, const knoop_trust_t *trust)
{
    self->trust = trust;
}

int knoop_journal_trust_refresh(knoop_journal_t *self, const char *dir, const char *learned,
                                uint64_t *stamp, knoop_trust_t **trust)
{
    uint64_t st = knoop_trust_stamp(dir, learned);
    if (*trust && st == *stamp)
        return 0;
    *stamp = st;
    knoop_trust_t *t = NULL;
    int rc = knoop_trust_load_ex(dir, learned, KNOOP_TRUST_KEEP_EXPIRED, &t);
    if (rc) {
        knoop_error("trust store %s does not load: %s%s", dir, knoop_strerror(rc),
                    *trust ? "; keeping the previous one" : "");
        return rc;
    }
    if (self)
        self->trust = t;
    knoop_trust_destroy(trust);
    *trust = t;
    return 1;
}

uint64_t knoop_journal_next_vpos(const knoop_journal_t *self)
{
    return self->next_vpos;
}

int knoop_journal_append_ex(knoop_journal_t *self, const knoop_msg_t *const *msgs,
                            size_t n, int *results, unsigned flags)
{
    self->append_flags = flags;
    if (self->flags & KNOOP_JOURNAL_READONLY)
        return KNOOP_EPERM;
    if (n == 0)
        return KNOOP_OK;
    int *pre = malloc(n * sizeof *pre);
    if (!pre)
        return KNOOP_ENOMEM;
    /* Duplicates first: a signed head already held is not verified again
     * (in a mesh most arrivals can be copies of what another link brought). */
    MDB_txn *rtxn = NULL;
    int rtxn_rc = -1;                /* not begun */
    for (size_t i = 0; i < n; i++) {
        if (self->trust && msgs[i]->sig) {
            if (rtxn_rc < 0)
                rtxn_rc = s_begin(self, MDB_RDONLY, &rtxn);
            if (rtxn_rc == 0 && s_held_signed(self, rtxn, msgs[i])) {
                self->stats.sig_skipped++;
                pre[i] = KNOOP_OK;   /* append finds it a duplicate */
                continue;
            }
        }
        pre[i] = s_precheck(self, msgs[i]);
    }
    if (rtxn_rc == 0)
        mdb_txn_abort(rtxn);

    uint64_t now = knoop_now_ms();
    if (now - self->last_reader_check > READER_CHECK_MS)
        knoop_journal_reader_check(self);

    knoop_journal_stats_t saved = self->stats;
    int rc;
    for (;;) {
        MDB_txn *txn;
        rc = s_begin(self, 0, &txn);
        if (rc) {
            rc = s_err(rc);
            break;
        }
        uint64_t pos = self->next_pos;
        self->txn_vpos = self->next_vpos;
        int txn_rc = MDB_SUCCESS;
        for (size_t i = 0; i < n && txn_rc == MDB_SUCCESS; i++)
            results[i] = pre[i] ? pre[i] : s_append_one(self, txn, msgs[i], &pos, &txn_rc);
        if (txn_rc == MDB_SUCCESS)
            txn_rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (txn_rc == MDB_SUCCESS) {
            self->next_pos = pos;
            self->next_vpos = self->txn_vpos;
            self->stats.commits++;
            s_write_done(self);
            rc = KNOOP_OK;
            break;
        }
        self->stats = saved;
        char what[64];
        snprintf(what, sizeof what, "batch of %zu message%s", n, n == 1 ? "" : "s");
        uint64_t need = 0;   /* what the batch needs on disk, roughly: pages are copied */
        for (size_t i = 0; i < n; i++)
            need += 2 * (uint64_t) msgs[i]->body_len;
        if (txn_rc == MDB_MAP_FULL) {
            rc = s_grow(self);
            if (rc == KNOOP_OK)
                continue;
            rc = s_write_failed(self, rc, what, need);
            break;
        }
        rc = s_write_failed(self, txn_rc, what, need);
        break;
    }
    free(pre);
    return rc;
}

/* ---- reads ---- */

int knoop_journal_stream(knoop_journal_t *self, uint64_t stream, knoop_stream_info_t *out)
{
    MDB_txn *txn;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    rc = s_stream_get(self, txn, stream, out);
    mdb_txn_abort(txn);
    return rc;
}

int knoop_journal_vector(knoop_journal_t *self, const char *pattern,
                         knoop_stream_info_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (pattern && knoop_pattern_validate(pattern) != KNOOP_OK)
        return KNOOP_ETOPIC;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    rc = mdb_cursor_open(txn, self->stream, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return s_err(rc);
    }
    size_t cap = 0, cnt = 0;
    knoop_stream_info_t *out = NULL;
    MDB_val k, v;
    int err = KNOOP_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8) {
            err = KNOOP_ECORRUPT;
            break;
        }
        knoop_stream_info_t s;
        err = s_stream_decode(&v, knoop_get_be64(k.mv_data), &s);
        if (err)
            break;
        if (pattern && !knoop_topic_match(pattern, s.topic))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            knoop_stream_info_t *nr = realloc(out, cap * sizeof *out);
            if (!nr) {
                err = KNOOP_ENOMEM;
                break;
            }
            out = nr;
        }
        out[cnt++] = s;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
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
        s_key16(row, rows[i].stream, rows[i].hwm);
        memcpy(row + 16, rows[i].head, KNOOP_HASH_LEN);
        knoop_hasher_update(&h, row, sizeof row);
    }
    knoop_hasher_final(&h, out);
}

int knoop_journal_read_stream(knoop_journal_t *self, uint64_t stream, uint64_t from,
                              uint64_t to, knoop_journal_msg_fn *fn, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    rc = mdb_cursor_open(txn, self->msg, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return s_err(rc);
    }
    uint8_t kb[16];
    s_key16(kb, stream, from);
    MDB_val k = { 16, kb }, v;
    int ret = KNOOP_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || knoop_get_be64(k.mv_data) != stream)
            break;
        uint64_t seq = knoop_get_be64((uint8_t *) k.mv_data + 8);
        if (seq > to)
            break;
        const uint8_t *env;
        size_t len;
        ret = s_msg_open(self, k.mv_data, &v, &env, &len);
        if (ret)
            break;          /* damaged: nothing from here on is handed out */
        ret = fn(arg, 0, stream, seq, env, len);
        if (ret)
            break;
    }
    if (rc && rc != MDB_NOTFOUND && !ret)
        ret = s_err(rc);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return ret;
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
    MDB_txn *txn;
    MDB_cursor *cur;
    if (next)
        *next = from;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return s_err(rc);
    }
    uint8_t kb[8];
    knoop_put_be64(kb, from ? from : 1);
    MDB_val k = { 8, kb }, v;
    int ret = KNOOP_OK;
    size_t count = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (max && count >= max)
            break;
        const uint8_t *env = NULL;
        size_t len = 0;
        int orc = s_row_open(self, txn, db, &k, &v, &env, &len);
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
    if (rc && rc != MDB_NOTFOUND && !ret)
        ret = s_err(rc);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return ret;
}

int knoop_journal_get(knoop_journal_t *self, uint64_t stream, uint64_t seq,
                      knoop_buf_t *out)
{
    MDB_txn *txn;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    uint8_t kb[16];
    s_key16(kb, stream, seq);
    MDB_val k = { 16, kb }, v;
    rc = mdb_get(txn, self->msg, &k, &v);
    const uint8_t *env;
    size_t len;
    int ret = rc ? s_err(rc) : s_msg_open(self, kb, &v, &env, &len);
    if (ret == KNOOP_OK)
        ret = knoop_buf_append(out, env, len);
    mdb_txn_abort(txn);
    return ret;
}

int knoop_journal_state(knoop_journal_t *self, const char *pattern,
                        knoop_journal_state_fn *fn, void *arg)
{
    if (pattern && knoop_pattern_validate(pattern) != KNOOP_OK)
        return KNOOP_ETOPIC;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    rc = mdb_cursor_open(txn, self->state, &cur);
    if (rc) {
        mdb_txn_abort(txn);
        return s_err(rc);
    }
    MDB_val k, v;
    int ret = KNOOP_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
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
        s_key16(mkb, stream, seq);
        MDB_val mk = { 16, mkb }, mv;
        int grc = mdb_get(txn, self->msg, &mk, &mv);
        if (grc) {
            ret = grc == MDB_NOTFOUND ? KNOOP_ECORRUPT : s_err(grc);
            break;
        }
        const uint8_t *env;
        size_t len;
        if (s_msg_open(self, mkb, &mv, &env, &len) != KNOOP_OK)
            continue;       /* damaged (logged): left out of the picture until repaired */
        ret = fn(arg, topic, key, stream, seq, env, len);
        if (ret)
            break;
    }
    if (rc && rc != MDB_NOTFOUND && !ret)
        ret = s_err(rc);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return ret;
}

/* ---- cursors ---- */

int knoop_journal_cursor_get(knoop_journal_t *self, const char *name, knoop_buf_t *out)
{
    MDB_txn *txn;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    MDB_val k = { strlen(name), (void *) name }, v;
    rc = mdb_get(txn, self->cursor, &k, &v);
    int ret = rc ? s_err(rc) : knoop_buf_append(out, v.mv_data, v.mv_size);
    mdb_txn_abort(txn);
    return ret;
}

int knoop_journal_cursor_put(knoop_journal_t *self, const char *name,
                             const void *data, size_t len)
{
    if (self->flags & KNOOP_JOURNAL_READONLY)
        return KNOOP_EPERM;
    size_t nl = strlen(name);
    if (nl == 0 || nl > 255)
        return KNOOP_EINVAL;
    for (;;) {
        MDB_txn *txn;
        int rc = s_begin(self, 0, &txn);
        if (rc)
            return s_err(rc);
        MDB_val k = { nl, (void *) name }, v = { len, (void *) data };
        rc = mdb_put(txn, self->cursor, &k, &v, 0);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL) {
            int grc = s_grow(self);
            if (grc)
                return s_write_failed(self, grc, "cursor", len);
            continue;
        }
        if (rc)
            return s_write_failed(self, rc, "cursor", len);
        s_write_done(self);
        return KNOOP_OK;
    }
}

void knoop_journal_stats(const knoop_journal_t *self, knoop_journal_stats_t *out)
{
    *out = self->stats;
    out->map_size = self->map_size;
    out->map_max = self->map_max;
    out->full = self->full;
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
    MDB_txn *txn;
    int rc = s_begin(self, 0, &txn);
    if (rc)
        return s_err(rc);
    candidate_t *cand = NULL;
    size_t ncand = 0, cap = 0;
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, self->msg, &cur);
    knoop_stream_info_t si = { 0 };
    bool have_si = false;
    MDB_val k, v;
    for (int g = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || v.mv_size < IDX_CHECK ||
            bsearch(k.mv_data, refs, nrefs, 16, s_key_cmp))
            continue;
        uint64_t stream = knoop_get_be64(k.mv_data), seq = knoop_get_be64((uint8_t *) k.mv_data + 8);
        if (vlog) {
            if (!have_si || si.stream != stream)
                have_si = s_stream_get(self, txn, stream, &si) == KNOOP_OK;
            if (!have_si || seq > si.verified)
                continue;
        }
        if (ncand == cap) {
            cap = cap ? 2 * cap : 64;
            candidate_t *nc = realloc(cand, cap * sizeof *nc);
            if (!nc) {
                rc = KNOOP_ENOMEM;
                break;
            }
            cand = nc;
        }
        memcpy(cand[ncand].key, k.mv_data, 16);
        memcpy(cand[ncand].check, v.mv_data, IDX_CHECK);
        cand[ncand++].used = false;
    }
    if (!rc)
        mdb_cursor_close(cur);
    /* what survives in the row first, then order */
    for (size_t i = 0; !rc && i < nbad; i++)
        for (size_t j = 0; bad[i].whole && j < ncand && !bad[i].fixed; j++)
            if (!cand[j].used && (memcmp(bad[i].row, cand[j].key, 16) == 0 ||
                                  memcmp(bad[i].row + 16, cand[j].check, IDX_CHECK) == 0)) {
                s_row(bad[i].row, cand[j].key, cand[j].check);
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
            s_row(bad[i].row, cand[j].key, cand[j].check);
            bad[i].fixed = cand[j].used = true;
        }
    for (size_t i = 0; !rc && i < nbad; i++) {
        if (!bad[i].fixed)
            continue;
        uint8_t pk[8];
        knoop_put_be64(pk, bad[i].pos);
        MDB_val rk = { 8, pk }, rv = { IDX_LEN, bad[i].row };
        rc = mdb_put(txn, dbi, &rk, &rv, 0);
        if (!rc)
            out->rebuilt_rows++;
    }
    for (size_t j = 0; j < ncand; j++)
        out->unindexed += !cand[j].used;
    free(cand);
    if (rc) {
        mdb_txn_abort(txn);
        out->rebuilt_rows = 0;
        return rc < 0 ? rc : s_write_failed(self, rc, "rebuilt index rows", 0);
    }
    rc = mdb_txn_commit(txn);
    if (rc) {
        out->rebuilt_rows = 0;
        return s_write_failed(self, rc, "rebuilt index rows", 0);
    }
    s_write_done(self);
    return KNOOP_OK;
}

int knoop_journal_scan(knoop_journal_t *self, bool repair, knoop_journal_scan_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = s_begin(self, MDB_RDONLY, &txn);
    if (rc)
        return s_err(rc);
    MDB_cursor *cur;
    MDB_val k, v;
    rc = mdb_cursor_open(txn, self->msg, &cur);
    for (int g = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *env;
        size_t len;
        out->messages++;
        if (k.mv_size != 16)
            continue;
        s_msg_open(self, k.mv_data, &v, &env, &len);
    }
    if (!rc)
        mdb_cursor_close(cur);
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
        rc = mdb_cursor_open(txn, idx[d].dbi, &cur);
        for (int g = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && !rc;
             g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const uint8_t *env;
            size_t len;
            out->rows++;
            int orc = s_row_open(self, txn, idx[d].name, &k, &v, &env, &len);
            if (orc < 0) {
                rc = orc;
                break;
            }
            if (orc == ROW_GONE)
                continue;
            if (orc == ROW_DAMAGED) {
                out->damaged_rows++;
                if (nbad[d] == capb) {
                    capb = capb ? 2 * capb : 16;
                    bad_row_t *nb = realloc(bad[d], capb * sizeof *nb);
                    if (!nb) {
                        rc = KNOOP_ENOMEM;
                        break;
                    }
                    bad[d] = nb;
                }
                bad_row_t *b = &bad[d][nbad[d]++];
                memset(b, 0, sizeof *b);
                b->pos = k.mv_size == 8 ? knoop_get_be64(k.mv_data) : 0;
                b->whole = k.mv_size == 8 && v.mv_size == IDX_LEN;
                if (b->whole)
                    memcpy(b->row, v.mv_data, IDX_LEN);
                continue;
            }
            if (nrefs[d] == capr) {
                capr = capr ? 2 * capr : 1024;
                uint8_t (*nr)[16] = realloc(refs[d], capr * 16);
                if (!nr) {
                    rc = KNOOP_ENOMEM;
                    break;
                }
                refs[d] = nr;
            }
            memcpy(refs[d][nrefs[d]++], v.mv_data, 16);
        }
        if (cur)
            mdb_cursor_close(cur);
        cur = NULL;
    }
    mdb_txn_abort(txn);
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
