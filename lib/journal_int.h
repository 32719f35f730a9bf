/*
 * journal_int.h — what the journal's files share; included by lib/journal_*.c
 * only (the public API is journal.h). The journal is split by concern:
 *   journal_store.c    LMDB environment, open/close and schema upgrade,
 *                      transactions (the one read-transaction helper, the one
 *                      write-transaction helper), error mapping, stored bytes
 *                      and their check
 *   journal_stream.c   the stream state machine: chain, gaps, forks, head
 *                      signatures, repair in place; the stream vector
 *   journal_picture.c  the state view (beeld)
 *   journal_log.c      reading out: per stream, the arrival log, the verified
 *                      log; filling a frame within a budget
 *   journal_cursor.c   named cursors
 *   journal_damage.c   damage found on disk: remembered, scanned, rebuilt
 *   journal_pages.c    the B-trees of data.mdb checked page by page before LMDB
 *                      reads them (read-only opens: the auditor's tools)
 * Only these files include lmdb.h. Every function here returns a KNOOP code:
 * an LMDB (or errno) code is mapped by journal_err (a write's) or
 * journal_read_err (a read's) where the LMDB call returns it, and never
 * passed on; a write's is kept for the report of a failed write
 * (journal_write_failed).
 */
#ifndef KNOOP_JOURNAL_INT_H
#define KNOOP_JOURNAL_INT_H

#include "journal.h"
#include "u64map.h"

#include <lmdb.h>

#include <stdbool.h>
#include <sys/types.h>

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

/* Stream row: fixed header, then origin and topic. Schema 3 rows ended
 * their header at SROW_LAST_HLC (SROW_HDR3); schema 4 added last_hlc and
 * prio (the upgrade rewrites every row). */
#define SROW_HWM      0
#define SROW_MAX      8
#define SROW_VERIFIED 16
#define SROW_EPOCH    24
#define SROW_HEAD     32
#define SROW_FLAGS    64
#define SROW_OLEN     68
#define SROW_TLEN     69
#define SROW_LAST_HLC 70
#define SROW_PRIO     78
#define SROW_HDR      79
#define SROW_HDR3     70

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
    bool                 clear_mark; /* close marks writer.lock clean: the open succeeded, or
                                        failed for another reason than damage on a
                                        journal closed cleanly before */
    uint64_t             next_pos;          /* next arrival log position */
    uint64_t             next_vpos;         /* next verified log position */
    uint64_t             txn_vpos;          /* ... within the open write txn */
    uint64_t             txn_pos;           /* next_pos within the open write txn */
    /* The hook of knoop_journal_append_then, and the write transaction
     * while it runs: this thread's reads borrow it (journal_read_begin). */
    knoop_journal_precommit_fn *precommit;
    void                *precommit_arg;
    MDB_txn             *open_txn;
    unsigned             append_flags;      /* of the append in progress */
    bool                 txn_stored_none;   /* the write stored no message (journal_write) */
    uint64_t             last_reader_check;
    knoop_journal_stats_t stats;
    char                 error[512];        /* last failed write, "" after a commit */
    uint64_t             error_at;          /* when (Unix ms), 0 when none */
    /* LMDB's (or errno) code of the last write that failed (journal_err;
     * reads are not recorded): what a failed write reports, and what tells
     * a full map (grown) from a full disk (not). Reset when a write
     * transaction begins. */
    int                  mdb_cause;
    unsigned             full;              /* KNOOP_JOURNAL_FULL_*, until a commit */
    knoop_buf_t          scratch;           /* check || envelope being stored */
    knoop_journal_damage_t *damage;         /* damaged messages, until repaired */
    size_t               ndamage, cap_damage;
    uint64_t             last_row_report;   /* damaged index rows: log rate */
    uint64_t             upgrade_from;      /* schema 2 or 3 found: upgrade at open */
    uint64_t             schema;            /* as found (4 or 5 once upgraded), or made */
    bool                 check_blake2b;     /* made before schema 5: the old check */
    /* The stream rows an append transaction touches: read once, written
     * once when the batch is done (journal_stream.c). */
    knoop_u64map_t       txn_rows_at;       /* stream -> index in txn_rows */
    knoop_stream_info_t *txn_rows;
    size_t               ntxn_rows, cap_txn_rows;
    /* The batch of the append in progress: the messages it stored in this
     * transaction, by (stream, seq), with their log rows, so that the
     * verified-log walk (s_verify_to) takes them from the caller's views
     * instead of reading back and parsing what it has just written. */
    knoop_u64map_t       txn_stored_at;     /* s_seq_key(stream, seq) -> index */
    const knoop_msg_t *const *txn_msgs;     /* the caller's, during the append */
    uint8_t            (*txn_msg_rows)[IDX_LEN];
    /* One cursor on the message tree for the append's lookups and puts:
     * a batch's keys (stream, seq) follow each other, so after the first
     * both usually stay on the leaf page where the cursor already is
     * (LMDB looks there before it descends from the root). */
    MDB_cursor          *txn_msg_cur;
    /* What the verified-log walk needs of the messages stored by earlier
     * commits that no head signature covers yet, per stream, so that it
     * does not read them back and parse them (journal_stream.c, "pending
     * messages"). A cache: a miss reads back. */
    knoop_u64map_t       pend_at;           /* stream -> index + 1 in pend */
    struct journal_pend *pend;
    size_t               npend, cap_pend, npend_recs;
    char                *path;
};

/* Free the pending messages' records (journal_stream.c). */
void journal_pend_free(knoop_journal_t *self);

/* ---- store (journal_store.c) ---- */

/* LMDB or errno code -> KNOOP code, the one mapping, in two forms.
 * journal_err for a write (put, del, commit; begin, grow, open): the
 * failure (not MDB_NOTFOUND, which is an answer) is kept in self->mdb_cause,
 * the cause a failed write reports and what tells a full map from a full
 * disk. journal_read_err for a read (get, a cursor's open and moves),
 * whether its caller passes the failure on or tolerates it: nothing is
 * kept, so a read that failed cannot lend its words to a later failure. */
int  journal_err(knoop_journal_t *self, int mdb_rc);
int  journal_read_err(int mdb_rc);
/* Begin a transaction, adopting a map grown by another process. Logged
 * when it fails. */
int  journal_begin(knoop_journal_t *self, unsigned flags, MDB_txn **txn);
/* Double the map, bounded by map_max. Caller holds no transaction.
 * KNOOP_EFULL at the limit (self->mdb_cause stays MDB_MAP_FULL). */
int  journal_grow(knoop_journal_t *self);
/* A write transaction needing about `need` bytes failed with rc: the cause
 * (self->mdb_cause, its LMDB text) recorded for knoop_journal_error in words
 * an operator can act on, logged and counted. Returns rc, or KNOOP_EFULL for
 * an I/O error on a volume with no room left. */
int  journal_write_failed(knoop_journal_t *self, int rc, const char *what, uint64_t need);
/* A write transaction committed: a recorded failure is over. */
void journal_write_done(knoop_journal_t *self);

/* The one read transaction: a read-only snapshot, and a cursor on *dbi
 * when dbi is not NULL. Returns a KNOOP code (nothing to end on failure). */
typedef struct {
    MDB_txn    *txn;
    MDB_cursor *cur;
    bool        borrowed;      /* txn is the open write txn (a precommit hook) */
} journal_read_t;
int  journal_read_begin(knoop_journal_t *self, const MDB_dbi *dbi, journal_read_t *r);
void journal_read_end(journal_read_t *r);
/* Ends a read that walked its cursor and returns ret, or, when ret is
 * KNOOP_OK, the failure of the cursor move g that stopped the walk (0 or
 * MDB_NOTFOUND: the walk was stopped or ran to the end, no failure). */
int  journal_walk_end(journal_read_t *r, int g, int ret);

/* The one write transaction: fn runs inside it and returns a KNOOP code;
 * the transaction commits when fn succeeds. A full map (an LMDB failure
 * with cause MDB_MAP_FULL) grows and fn runs again from the start (it must
 * reset what it changed in self); any other failure is
 * journal_write_failed(what, need). */
/* `what` of a subscriber's cursor write: bookkeeping of a few bytes that may
 * still fit in a full map, so it does not clear a storage-full alarm (only a
 * message stored again does). */
#define JOURNAL_WHAT_CURSOR "cursor"
typedef int (journal_write_fn)(knoop_journal_t *self, MDB_txn *txn, void *arg);
int  journal_write(knoop_journal_t *self, journal_write_fn *fn, void *arg, const char *what,
                   uint64_t need);

void journal_key16(uint8_t key[16], uint64_t stream, uint64_t seq);
/* The check stored before an envelope, 16 bytes, bound to the row key so
 * that a value found under another key fails too: SipHash-128 (schema 5),
 * or BLAKE2b in a journal made before schema 5 (check_blake2b). */
void journal_check(const knoop_journal_t *self, uint8_t out[MSG_CHECK], const uint8_t key[16],
                   const uint8_t *env, size_t len);
/* self->scratch = check || canonical envelope of m, ready to store under key. */
int  journal_pack(knoop_journal_t *self, const knoop_msg_t *m, const uint8_t key[16]);

/* ---- damage (journal_damage.c) ---- */

/* A message found damaged: remembered (until repaired), counted, logged once. */
void journal_msg_damaged(knoop_journal_t *self, uint64_t stream, uint64_t seq, const char *how);
void journal_undamaged(knoop_journal_t *self, uint64_t stream, uint64_t seq);
/* The envelope of a stored msg value, if its bytes still match their check.
 * KNOOP_ECORRUPT (remembered and logged) when they do not. */
int  journal_msg_open(knoop_journal_t *self, const uint8_t key[16], const MDB_val *val,
                      const uint8_t **env, size_t *len);
enum { ROW_OK = 0, ROW_GONE = 1, ROW_DAMAGED = 2, ROW_MSG_DAMAGED = 3 };
/* Check one log/vlog row and find its message. ROW_OK with the envelope;
 * ROW_GONE when the message moved to fork evidence; ROW_DAMAGED for a row
 * that cannot be trusted; ROW_MSG_DAMAGED when the message itself is damaged
 * (remembered); a negative KNOOP error for a failed read. */
int  journal_row_open(knoop_journal_t *self, MDB_txn *txn, const char *db, const MDB_val *k,
                      const MDB_val *v, const uint8_t **env, size_t *len);
/* A log/vlog row: key || the start of the message's check. */
void journal_row(uint8_t row[IDX_LEN], const uint8_t key[16], const uint8_t *check);

/* ---- streams (journal_stream.c) ---- */

/* Decode a stream row. KNOOP_ECORRUPT when it has the wrong shape. */
int  journal_stream_decode(const MDB_val *v, uint64_t stream, knoop_stream_info_t *out);
/* KNOOP_OK, KNOOP_ENOTFOUND, KNOOP_ECORRUPT (a damaged row), or the mapped
 * LMDB failure. */
int  journal_stream_get(knoop_journal_t *self, MDB_txn *txn, uint64_t stream,
                        knoop_stream_info_t *out);
int  journal_stream_put(knoop_journal_t *self, MDB_txn *txn, const knoop_stream_info_t *s);

/* ---- picture (journal_picture.c) ---- */

/* Write the named cursor within txn. */
int  journal_cursor_write(knoop_journal_t *self, MDB_txn *txn, const knoop_journal_cursor_t *c);

/* m (ACTUAL only) takes its (topic, key) in the state view when it wins
 * there. */
int  journal_state_take(knoop_journal_t *self, MDB_txn *txn, const knoop_msg_t *m);

/* The B-trees of PATH/data.mdb in the snapshot of transaction TXNID (or a
 * later one), checked page by page with pread: every page LMDB would follow
 * is inside the snapshot and reached once, and has the kind, the node
 * offsets and the sizes LMDB trusts. KNOOP_ECORRUPT with WHY naming the
 * page when not (journal_pages.c). */
int journal_check_pages(const char *path, uint64_t txnid, char *why, size_t why_len);

#endif
