/*
 * settled.h — the settled summary of a HELLO (docs/protocol.md, "The settled
 * summary"): the one place for the rule both sides of a HELLO apply. The
 * sender (a node, or a broker pulling from a peer) names in the vector only
 * the streams that may still change and puts every other candidate stream
 * into its bucket (stream >> 54) as of T; the receiver recomputes, from its
 * own journal, where each stream it holds stood at T (knoop_settled_point)
 * and compares bucket by bucket. A match proves the sender holds exactly
 * those (stream, hwm, head) rows, whatever T was: T only decides how often
 * buckets match.
 *
 * A knoop_settled_t is a plain value (about 33 KiB: allocate it), filled
 * with rows in ascending stream order, as knoop_journal_vector returns them.
 * Not thread-safe; no allocation inside.
 */
#ifndef KNOOP_SETTLED_H
#define KNOOP_SETTLED_H

#include "knoop.h"
#include "crypto.h"
#include "journal.h"
#include "wire.h"

/* T = the last complete catch-up's HLC minus this margin (clock skew,
 * messages in flight). */
#define KNOOP_SETTLED_MARGIN_MS 60000
/* While a link is live and caught up, complete_hlc advances to now minus
 * this, written at most every KNOOP_SETTLED_WRITE_MS. */
#define KNOOP_SETTLED_LAG_MS    2000
#define KNOOP_SETTLED_WRITE_MS  10000

typedef struct {
    knoop_wire_bucket_t bucket[KNOOP_WIRE_BUCKETS];   /* the non-empty ones, ascending */
    size_t              n;
    uint64_t            rows;                         /* rows added */
    uint64_t            last;                         /* the last stream added */
    bool                open;                         /* h hashes bucket[n - 1] */
    knoop_hasher_t      h;
    uint8_t             poisoned[KNOOP_WIRE_BUCKETS / 8];  /* never match (knoop_settled_poison) */
} knoop_settled_t;

/* The bucket of a stream: its id's top 10 bits. */
static inline uint32_t knoop_settled_bucket(uint64_t stream)
{
    return (uint32_t) (stream >> KNOOP_WIRE_BUCKET_SHIFT);
}

/* T for a HELLO from the recorded complete_hlc, margin_ms before it
 * (margin_ms <= 0: KNOOP_SETTLED_MARGIN_MS). 0 when none was recorded: no
 * summary. */
uint64_t knoop_settled_since(uint64_t complete_hlc, int margin_ms);
/* T for a HELLO over a journal of nrows streams: as knoop_settled_since;
 * with nothing recorded (a journal of an older release, a first start), 0
 * (name everything, as before) while every row fits in a vector, else
 * margin_ms before now_hlc: a vector above KNOOP_WIRE_VECTOR_MAX would be
 * refused, so guess — a guess only costs misses. */
uint64_t knoop_settled_as_of(uint64_t complete_hlc, int margin_ms, size_t nrows,
                             uint64_t now_hlc);

/* Is r a candidate row of a HELLO from `partner` with these subscriptions
 * (as sent)? Its own streams, those on its subscriptions, the trust topics;
 * for a peer HELLO every row. */
bool knoop_settled_candidate(const knoop_stream_info_t *r, const char *partner, bool peer,
                             const char *const *subs, size_t nsubs);

/* The sender's rule for a candidate row with hwm > 0: true when it goes into
 * the vector (it may still change: newer than t, holes beyond hwm, forked,
 * or `lowered` for damage), false when it is settled. Every row is named
 * when t is 0. */
bool knoop_settled_named(const knoop_stream_info_t *r, uint64_t t, bool lowered);

/* The sender's side of a HELLO, from its journal's rows (sorted, as
 * knoop_journal_vector gives them): each candidate row with hwm > 0 that
 * may still change goes into vec (room for n rows; *nvec set), lowered to
 * before a damaged message (logged, prefixed with `who`: the other side
 * sends the rest again); the others go into st as of t (st ended here).
 * With t 0 or st NULL every candidate row is named. When more than
 * KNOOP_WIRE_VECTOR_MAX rows would be named at t, all is done again at the
 * later t_fit (if later): a broker would refuse the HELLO. Returns the T
 * used (0: no summary). settled[i], when not NULL, says whether rows[i] was
 * summarised. vec's strings point into rows. */
uint64_t knoop_settled_hello(knoop_journal_t *j, const knoop_stream_info_t *rows, size_t n,
                             uint64_t t, uint64_t t_fit, const char *partner, bool peer,
                             const char *const *subs, size_t nsubs, const char *who,
                             knoop_wire_pos_t *vec, size_t *nvec, knoop_settled_t *st,
                             bool *settled);

/* A HELLO vector row (or a WELCOME.own row) from a stream row: its
 * strings point into r. */
void knoop_settled_pos(knoop_wire_pos_t *p, const knoop_stream_info_t *r);

void knoop_settled_init(knoop_settled_t *s);
/* Count and hash (stream, hwm, head) into the stream's bucket. Rows come in
 * ascending stream order (asserted); hwm > 0. */
void knoop_settled_add(knoop_settled_t *s, uint64_t stream, uint64_t hwm,
                       const uint8_t head[KNOOP_HASH_LEN]);
/* The bucket of this stream never matches: the receiver could not tell
 * where it stood at T (a message it cannot read). */
void knoop_settled_poison(knoop_settled_t *s, uint64_t stream);
/* No more rows: the last bucket's digest is final. */
void knoop_settled_end(knoop_settled_t *s);

/* The receiver's side for a row r it holds: p = the highest seq <= r->hwm
 * whose message's hlc <= t, and head = the chain at p (zeros for 0). No
 * envelope is read when r->last_hlc <= t; otherwise a binary search over
 * seq. KNOOP_OK (p may be 0), or the journal's error when a message on the
 * way cannot be read (the caller poisons the bucket). */
int  knoop_settled_point(knoop_journal_t *j, const knoop_stream_info_t *r, uint64_t t,
                         uint64_t *p, uint8_t head[KNOOP_HASH_LEN]);

/* The receiver's side, for a node's session: does `partner` hold none of
 * r because the stream's first message is TLP-restricted to others? The
 * catch-up cuts such a stream at seq 1 for it (send_deliver.c), so it is
 * left out of the receiver's buckets: counted, it would miss at every
 * HELLO. Honest origins keep restricted messages on streams of their own
 * (docs/protocol.md), so this one read, made only for a stream flagged
 * KNOOP_STREAM_RESTRICTED, decides; a stream mixing audiences still costs
 * misses, never a wrong match. */
bool knoop_settled_withheld(knoop_journal_t *j, const knoop_stream_info_t *r,
                            const char *partner);

/* Compare ours (ended) with the sender's buckets (checked at the gate: each
 * once, in range). matched gets bit b for every bucket b both hold with the
 * same count and digest; *nmatched, *nmissed count the buckets that match
 * and those either side holds that do not. */
void knoop_settled_compare(const knoop_settled_t *ours, const knoop_wire_bucket_t *theirs,
                           size_t ntheirs, uint8_t matched[KNOOP_WIRE_BUCKETS / 8],
                           uint32_t *nmatched, uint32_t *nmissed);

static inline bool knoop_settled_bit(const uint8_t set[KNOOP_WIRE_BUCKETS / 8], uint32_t b)
{
    return (set[b / 8] >> (b % 8)) & 1u;
}

#endif
