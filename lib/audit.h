/*
 * audit.h — what an auditor asks of a journal: is every stream intact and
 * signed by its origin (verify), what was said and when (replay), and does
 * it hold the same as another journal (digest, in journal.h).
 *
 * Everything here reads; it works on a read-only open of a live journal or
 * of a copy.
 */
#ifndef KNOOP_AUDIT_H
#define KNOOP_AUDIT_H

#include "journal.h"
#include "keys.h"
#include "msg.h"

/* The verdict on one stream. */
typedef struct {
    knoop_stream_info_t info;        /* the row as stored */
    uint64_t checked;                /* contiguous messages checked from seq 1 */
    uint64_t verified;               /* highest seq covered by a valid head signature */
    uint64_t pending;                /* messages stored beyond hwm (out of order) */
    int      error;                  /* KNOOP_OK, or the first problem found */
    uint64_t error_seq;              /* where */
    char     reason[192];            /* what, for a person */
} knoop_audit_stream_t;

typedef struct {
    size_t   streams;
    size_t   broken;                 /* streams with error != KNOOP_OK */
    size_t   forked;                 /* streams flagged as forked */
    uint64_t messages;               /* contiguous messages checked */
    uint64_t unverified;             /* messages after the last valid signature */
    uint64_t damaged;                /* messages whose bytes fail their stored check */
    uint64_t rows;                   /* log and vlog rows checked */
    uint64_t damaged_rows;           /* rows naming no message, or the wrong one */
} knoop_audit_summary_t;

/* Called once per stream, in stream id order; return non-zero to stop. */
typedef int (knoop_audit_stream_fn)(void *arg, const knoop_audit_stream_t *row);

/* Verify every stream matching pattern (NULL: all): each stored message
 * parses and sits under its own (stream, seq); seqs 1..hwm are all present;
 * each prev is the chain of the message before; the stored head equals the
 * recomputed chain at hwm; and, with a trust store, every head signature
 * verifies against the origin's certificate (an unknown origin is an error).
 * Without a trust store only the chains are checked and nothing counts as
 * verified. A forked stream is an error too: its evidence needs a person.
 * Returns KNOOP_OK when the walk completed (see sum->broken for the verdict),
 * or a read error. */
int knoop_audit_verify(knoop_journal_t *j, const knoop_trust_t *trust, const char *pattern,
                       knoop_audit_stream_fn *fn, void *arg, knoop_audit_summary_t *sum);

typedef struct {
    const char *pattern;             /* topic pattern or NULL */
    const char *origin;              /* partner id or NULL */
    uint64_t    since_ms;            /* hlc wall time >= since (0: no bound) */
    uint64_t    until_ms;            /* hlc wall time <  until (0: no bound) */
} knoop_replay_filter_t;

/* Called per message in (hlc, origin, stream, seq) order; `pending` is true
 * for a message stored beyond its stream's hwm. m is valid during the call. */
typedef int (knoop_replay_fn)(void *arg, const knoop_msg_t *m, bool pending);

int knoop_audit_replay(knoop_journal_t *j, const knoop_replay_filter_t *filter,
                       knoop_replay_fn *fn, void *arg);

#endif
