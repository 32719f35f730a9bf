/*
 * journal.h — the LMDB journal: a set of hash-chained streams, the arrival
 * log, the state view (beeld), cursors and metadata. Only the journal's own
 * files (lib/journal_*.c, split by concern: see journal_int.h) include
 * lmdb.h.
 *
 * Layout (docs/design.md, "The journal"): named databases
 *   msg     stream(8 BE) || seq(8 BE)      -> check(16) || envelope bytes
 *   log     position(8 BE)                 -> stream || seq || check[0..8)
 *   stream  stream(8 BE)                   -> hwm, max seq, verified seq, epoch,
 *                                             head hash at hwm, flags, hlc at hwm,
 *                                             highest priority held, origin, topic
 *   state   topic 0 key                    -> hlc || stream || seq || origin
 *   cursor  name                           -> opaque bytes
 *   meta    name                           -> schema version, partner id, epoch
 *   fork    stream || seq || chain         -> envelope bytes of a conflicting copy
 *   vlog    position(8 BE)                 -> as log, in the order messages
 *                                             became verified (with a trust store)
 *
 * Semantics of append:
 *   - (stream, seq) already stored with the same chain: duplicate, dropped
 *     (KNOOP_EDUPLICATE in the per-message result; not an error);
 *     with a different chain: a fork, the copy kept in `fork` as evidence,
 *     the stream flagged, KNOOP_EFORK.
 *   - seq == hwm + 1 must link: prev == head, else KNOOP_ECHAIN (refused).
 *   - seq > hwm + 1 is kept (out of order); hwm advances only over the
 *     contiguous prefix, checking every link on the way.
 *   - with a trust store, a signed head is verified first (KNOOP_ESIG,
 *     KNOOP_EUNKNOWN refuse the message); `verified` is the highest seq <= hwm
 *     covered by a valid head signature.
 *   - the state view takes every ACTUAL message once a valid head signature
 *     covers it (without a trust store: as it enters the contiguous prefix);
 *     the winner per (topic, key) is the highest (hlc, origin), so journals
 *     holding the same streams hold the same picture.
 *   - with a trust store, each message enters the verified log exactly once,
 *     when it becomes verified: what a node feeds its applications from.
 *
 * Integrity: every msg value is check || envelope, the check being 16 bytes
 * bound to the key: SipHash-128 of the envelope under the key (schema 5),
 * or BLAKE2b(key || envelope) in a journal made before; every log and vlog
 * row is stream || seq ||
 * the first 8 bytes of that check. Every read checks what it hands out:
 * damage on disk is never passed on. A damaged message makes the read stop
 * there with KNOOP_ECORRUPT (not consumed), is logged once and remembered
 * (knoop_journal_damaged) until a good copy arrives through append: one that
 * links where the damaged one was (or carries a verified head signature)
 * takes its place, with its log and vlog rows kept, so it is handed out
 * once, at its place. knoop_journal_scan checks everything and rebuilds
 * damaged log and vlog rows.
 *
 * Durability: by default a returned append has been fsynced (no MDB_NOSYNC,
 * no MDB_NOMETASYNC, no MDB_WRITEMAP). KNOOP_JOURNAL_RELAXED trades that for
 * speed and is logged as "relaxed durability" when used. A full map grows
 * (doubling, up to map_max); a full disk or map at its limit is KNOOP_EFULL.
 *
 * Threading: one knoop_journal_t per thread; other processes may open the
 * same journal read-only while one process writes. Callback data (envelope
 * bytes) is valid only during the callback: copy what you keep.
 */
#ifndef KNOOP_JOURNAL_H
#define KNOOP_JOURNAL_H

#include "knoop.h"
#include "keys.h"
#include "msg.h"

/* 3: a check with every message and row; 4: last_hlc and prio in the
 * stream row; 5: the check is SipHash-128, not BLAKE2b. A new journal is
 * made at 5; one of schema 4 is read and written as it is (with its
 * BLAKE2b checks), and 2 and 3 are upgraded to 4 when a daemon opens them. */
#define KNOOP_JOURNAL_SCHEMA 5

typedef struct knoop_journal_t knoop_journal_t;

#define KNOOP_JOURNAL_READONLY 1u   /* open an existing journal read-only */
#define KNOOP_JOURNAL_RELAXED  2u   /* relaxed durability: no fsync per commit */
/* Walk every page of data.mdb before use (lib/journal_pages.c), as a
 * read-only open always does and a writer does when the last writer did
 * not close the journal: for one that reads the whole journal at start
 * anyway (a node's scan), so that damage is refused, not crashed on. */
#define KNOOP_JOURNAL_CHECK_PAGES 4u

typedef struct {
    const char          *path;      /* directory; created for writing if missing */
    unsigned             flags;     /* KNOOP_JOURNAL_* */
    size_t               map_size;  /* initial map size; 0 = 64 MiB */
    size_t               map_max;   /* growth limit; 0 = 1 TiB */
    const char          *partner;   /* recorded at creation when not NULL */
    const knoop_trust_t *trust;     /* verify head signatures on append when set */
} knoop_journal_opts_t;

/* Open or create. Errors: KNOOP_ENOTFOUND (read-only and absent),
 * KNOOP_EBUSY (another process has it open for writing), KNOOP_EVERSION,
 * KNOOP_EIO, KNOOP_EPERM. */
int  knoop_journal_open(const knoop_journal_opts_t *opts, knoop_journal_t **out);
void knoop_journal_destroy(knoop_journal_t **self_p);

/* The arrival log position the next stored message will get: a tail from
 * here sees only what arrives later. */
uint64_t    knoop_journal_next_pos(const knoop_journal_t *self);

/* The random epoch made when this journal was created (never 0). */
uint64_t    knoop_journal_epoch(const knoop_journal_t *self);
/* Partner id recorded at creation, or "" (borrowed, lives with self). */
const char *knoop_journal_partner(const knoop_journal_t *self);
/* The journal's directory, as opened (borrowed, lives with self). */
const char *knoop_journal_path(const knoop_journal_t *self);
/* Free bytes on the journal's volume, as this process may use them (root
 * may use the blocks reserved for it), into *out; -1 when statvfs fails. */
int         knoop_journal_free_bytes(const knoop_journal_t *self, uint64_t *out);

/* Append a batch in one write transaction. results[i] gets the outcome of
 * msgs[i]: KNOOP_OK (stored), KNOOP_EDUPLICATE, KNOOP_EFORK, KNOOP_ECHAIN, KNOOP_EGAP,
 * KNOOP_ESIG, KNOOP_EUNKNOWN, KNOOP_ECOLLISION. The return value is the fate
 * of the transaction: KNOOP_OK (committed and, unless relaxed, durable) or
 * KNOOP_EFULL / KNOOP_EIO / KNOOP_EPERM (read-only), in which case nothing of
 * the batch was stored. */
int  knoop_journal_append(knoop_journal_t *self, const knoop_msg_t *const *msgs,
                          size_t n, int *results);

/* As append, with flags: KNOOP_APPEND_CONTIGUOUS refuses (KNOOP_EGAP) a
 * message that would leave a gap (seq > hwm + 1): what a broker demands of
 * an origin, which always sends its streams in order. */
#define KNOOP_APPEND_CONTIGUOUS 1u
int  knoop_journal_append_ex(knoop_journal_t *self, const knoop_msg_t *const *msgs,
                             size_t n, int *results, unsigned flags);

/* As append_ex, and before the transaction commits, with the batch written
 * and every results[i] known, fn(arg) runs: reads of this journal from the
 * calling thread inside fn (tail, stream, get, next_pos, ...) see the batch
 * as if committed, so a broker can hand the new messages to its subscribers
 * while the commit's syncs are still ahead (docs/design-notes.md, "Delivery
 * before the commit"). fn must not write to the journal (a write there fails
 * with KNOOP_EBUSY). fn may run and then the commit fail (the return value
 * says so); if the map has to grow, it can run again for the same batch. */
typedef void knoop_journal_precommit_fn(void *arg);
int  knoop_journal_append_then(knoop_journal_t *self, const knoop_msg_t *const *msgs,
                               size_t n, int *results, unsigned flags,
                               knoop_journal_precommit_fn *fn, void *arg);

/* A named cursor to write (knoop_journal_cursor_put, knoop_journal_commit). */
typedef struct {
    const char *name;            /* 1..255 bytes */
    const void *data;
    size_t      len;
} knoop_journal_cursor_t;

/* One durable commit for a daemon's loop pass: append msgs[0..n) as
 * knoop_journal_append_ex does and write the cursors, all in one write
 * transaction (one fsync pair instead of one per kind of write). n or
 * ncursors may be 0. Returns as append; on failure nothing of either was
 * written. KNOOP_EINVAL for a cursor name that is empty or too long. */
int  knoop_journal_commit(knoop_journal_t *self, const knoop_msg_t *const *msgs, size_t n,
                          int *results, unsigned flags, const knoop_journal_cursor_t *cursors,
                          size_t ncursors);

/* knoop_journal_commit with the precommit hook of knoop_journal_append_then:
 * a node sends its new messages to its broker while its own commit syncs
 * (docs/design-notes.md, "The origin sends before its commit"). */
int  knoop_journal_commit_then(knoop_journal_t *self, const knoop_msg_t *const *msgs, size_t n,
                               int *results, unsigned flags,
                               const knoop_journal_cursor_t *cursors, size_t ncursors,
                               knoop_journal_precommit_fn *fn, void *arg);

/* What the last failed write (append or cursor) ran into, in words an
 * operator can act on, e.g. "disk full on /var/lib/knoop: 0 bytes free;
 * batch of 3 messages not stored (...)": a short write on a full volume,
 * which LMDB reports as EIO, is named as the full disk it is. *at_ms (may be
 * NULL) gets when it happened (Unix ms). "" and 0 once a later write
 * commits: the condition is gone. Borrowed, valid until the next call on
 * self. */
const char *knoop_journal_error(const knoop_journal_t *self, uint64_t *at_ms);

/* Replace the trust store used to verify appends (e.g. after a reload). The
 * caller keeps ownership; the old one may be freed after this returns. */
void knoop_journal_set_trust(knoop_journal_t *self, const knoop_trust_t *trust);

typedef struct {
    uint64_t stream;
    char     origin[KNOOP_ID_MAX + 1];
    char     topic[KNOOP_TOPIC_MAX + 1];
    uint64_t epoch;
    uint64_t hwm;          /* highest contiguous seq */
    uint64_t max_seq;      /* highest seq stored */
    uint64_t verified;     /* highest seq covered by a valid head signature */
    uint8_t  head[KNOOP_HASH_LEN];   /* chain(hwm); zeros when hwm == 0 */
    uint32_t flags;        /* KNOOP_STREAM_* */
    uint64_t last_hlc;     /* hlc of the message at hwm; 0 when hwm == 0 */
    uint32_t prio;         /* highest knoop_priority_t of any message held */
} knoop_stream_info_t;

#define KNOOP_STREAM_FORKED     1u
/* It holds a TLP AMBER+STRICT or RED message: not every reader of its topic
 * gets all of it (the settled summary asks who does, settled.h). */
#define KNOOP_STREAM_RESTRICTED 2u

/* One stream's row. KNOOP_ENOTFOUND if absent. */
int  knoop_journal_stream(knoop_journal_t *self, uint64_t stream, knoop_stream_info_t *out);

/* The stream vector for a pattern (NULL or ">" for all), sorted by stream
 * id. *rows is malloc'd (free()); *n may be 0. */
int  knoop_journal_vector(knoop_journal_t *self, const char *pattern,
                          knoop_stream_info_t **rows, size_t *n);
/* Convergence digest over rows with hwm > 0: BLAKE2b-256 of the sorted
 * (stream, hwm, head) list. Equal digests = same information. */
void knoop_vector_digest(const knoop_stream_info_t *rows, size_t n,
                         uint8_t out[KNOOP_HASH_LEN]);

/* Callback for reads: return non-zero to stop early (the read then returns
 * that value). `env` is valid only during the call. */
typedef int (knoop_journal_msg_fn)(void *arg, uint64_t pos, uint64_t stream,
                                   uint64_t seq, const uint8_t *env, size_t len);

/* Messages of one stream with from <= seq <= to (to = UINT64_MAX for all),
 * in seq order, pos = 0. Gaps are skipped. */
int  knoop_journal_read_stream(knoop_journal_t *self, uint64_t stream, uint64_t from,
                               uint64_t to, knoop_journal_msg_fn *fn, void *arg);
/* As knoop_journal_tail, over the verified log: each message once, when a
 * head signature covers it, in that order. Positions are the verified log's. */
int  knoop_journal_tail_verified(knoop_journal_t *self, uint64_t from, size_t max,
                                 knoop_journal_msg_fn *fn, void *arg, uint64_t *next);
uint64_t knoop_journal_next_vpos(const knoop_journal_t *self);

/* Messages in arrival order from log position `from` (first is 1), at most
 * max (0 = no limit). *next receives the position to continue from: after
 * the last message for which fn returned 0 (a message at which fn stops is
 * not consumed, so a reader can stop when its budget is spent). */
int  knoop_journal_tail(knoop_journal_t *self, uint64_t from, size_t max,
                        knoop_journal_msg_fn *fn, void *arg, uint64_t *next);
/* A frame's worth of messages read from the journal within a budget: the
 * one way every reader (a node's outbox and subscriptions and beeld, a
 * broker's deliveries) collects envelopes before sending them as one frame.
 * Start it with the budget, take messages from a read callback until take
 * says it is full, send, start again. The envelopes are copies: they stay
 * valid after the read, until the next start or free. */
#define KNOOP_BATCH_MAX 1024
typedef struct {
    uint64_t pos, stream, seq;    /* as the read handed them out */
    size_t   off, len;            /* the envelope: arena.data + off */
} knoop_batch_item_t;
typedef struct {
    knoop_buf_t        arena;
    knoop_batch_item_t item[KNOOP_BATCH_MAX];
    size_t             n;
    size_t             max_msgs;  /* at most this many (<= KNOOP_BATCH_MAX) */
    size_t             max_bytes; /* and this many bytes (0: no limit); the first always fits */
} knoop_batch_t;
/* Empty the batch and set its budget (messages are capped at KNOOP_BATCH_MAX). */
void knoop_batch_start(knoop_batch_t *b, size_t max_msgs, size_t max_bytes);
/* Would an envelope of len bytes not fit? */
bool knoop_batch_full(const knoop_batch_t *b, size_t len);
/* Take a copy: 0 taken, 1 not taken (full, or no memory): send what is there. */
int  knoop_batch_take(knoop_batch_t *b, uint64_t pos, uint64_t stream, uint64_t seq,
                      const uint8_t *env, size_t len);
/* The envelope of item i (borrowed, valid until the next start or free). */
const uint8_t *knoop_batch_env(const knoop_batch_t *b, size_t i);
void knoop_batch_free(knoop_batch_t *b);

/* One message, copied into out (appended). KNOOP_ENOTFOUND if absent. */
int  knoop_journal_get(knoop_journal_t *self, uint64_t stream, uint64_t seq,
                       knoop_buf_t *out);

/* The state view (beeld): the winner per (topic, key) for topics matching
 * pattern, in (topic, key) order. `key` is "" when the topic is the key. */
typedef int (knoop_journal_state_fn)(void *arg, const char *topic, const char *key,
                                     uint64_t stream, uint64_t seq,
                                     const uint8_t *env, size_t len);
int  knoop_journal_state(knoop_journal_t *self, const char *pattern,
                         knoop_journal_state_fn *fn, void *arg);

/* Named cursors (durable subscribers, peers): opaque bytes. get appends to
 * out; KNOOP_ENOTFOUND when unset. put commits durably. */
int  knoop_journal_cursor_get(knoop_journal_t *self, const char *name, knoop_buf_t *out);
int  knoop_journal_cursor_put(knoop_journal_t *self, const char *name,
                              const void *data, size_t len);

typedef struct {
    uint64_t stored, duplicates, forks, chain_errors, sig_errors, unknown_origin,
             collisions, commits, map_grows, full_errors;
    uint64_t damaged;        /* messages found damaged on disk */
    uint64_t damaged_rows;   /* log/vlog rows found damaged (each time met) */
    uint64_t repaired;       /* damaged messages replaced by a good copy */
    uint64_t sig_verified;   /* head signatures verified on append */
    uint64_t sig_skipped;    /* not verified: a signed copy was held already, or
                              * the caller signed it (knoop_msg_sign) */
    uint64_t reparsed;       /* messages a head signature newly covered that the
                              * append read back and parsed (not in its batch) */
    uint64_t pending_taken;  /* ... that it took from what the commit that stored
                              * them kept (no read back; journal_stream.c) */
    size_t   map_size;
    size_t   map_max;        /* the limit the map may grow to */
    size_t   used_bytes;     /* pages in use (LMDB's last page + 1, times the page size) */
    unsigned full;           /* KNOOP_JOURNAL_FULL_*: the last write failed for
                              * want of room; NONE again once a write commits */
    unsigned schema;         /* KNOOP_JOURNAL_SCHEMA, or 4: made before it */
} knoop_journal_stats_t;

#define KNOOP_JOURNAL_FULL_NONE 0u
#define KNOOP_JOURNAL_FULL_MAP  1u   /* the map is at map_max */
#define KNOOP_JOURNAL_FULL_DISK 2u   /* the volume (or a quota) has no room */
void knoop_journal_stats(const knoop_journal_t *self, knoop_journal_stats_t *out);

/* Change the limit the map may grow to (bytes; 0 = 1 TiB), e.g. when an
 * operator raises it after the map filled: the next append grows the map
 * again, no reopen needed. KNOOP_EINVAL when below the current map size (a
 * map never shrinks; compact a copy with mdb_copy -c instead). */
int  knoop_journal_set_map_max(knoop_journal_t *self, size_t map_max);

/* A damaged message: its stream and seq. */
typedef struct {
    uint64_t stream, seq;
} knoop_journal_damage_t;

/* The damaged messages met so far by reads or scans and not yet repaired
 * (at most 4096 remembered). *list is borrowed: valid until the next call
 * on self. */
size_t knoop_journal_damaged(const knoop_journal_t *self, const knoop_journal_damage_t **list);

/* For a HELLO vector: when `stream` has a damaged message at or below
 * *hwm + 1, lower *hwm to just before the first one (further while the one
 * there is unreadable too) and set head to the chain at the new *hwm, so the
 * other side sends the rest again (append then repairs in place). false when
 * the stream has no known damage there. */
bool knoop_journal_damage_floor(knoop_journal_t *self, uint64_t stream, uint64_t *hwm,
                                uint8_t head[KNOOP_HASH_LEN]);

typedef struct {
    uint64_t messages;      /* stored messages checked */
    uint64_t damaged;       /* damaged messages known (knoop_journal_damaged) */
    uint64_t rows;          /* log and vlog rows checked */
    uint64_t damaged_rows;  /* rows that cannot be trusted */
    uint64_t rebuilt_rows;  /* of which rebuilt (repair) */
    uint64_t unindexed;     /* messages no row names after the rebuild */
    bool     read_all;      /* every message and row was read: an error
                             * returned after it is the rebuild's (its
                             * write, or a read or allocation it needed) */
} knoop_journal_scan_t;

/* Check every stored message against its check and every log and vlog row
 * against the message it names; damaged messages are logged and remembered.
 * With repair (writable journals), damaged rows are rebuilt in place: each
 * gets a message no intact row names, matched by what survives of it.
 * Cost: one pass over the journal. KNOOP_OK (the findings are in *out, and
 * logged as an error when there are any) or a read/write error (with
 * out->read_all, the findings are complete and only the rebuild failed). */
int  knoop_journal_scan(knoop_journal_t *self, bool repair, knoop_journal_scan_t *out);

/* Clear reader slots of dead processes (also done at open and every 10 s of
 * appends). Returns the number cleared, or a negative error. */
int  knoop_journal_reader_check(knoop_journal_t *self);

#endif
