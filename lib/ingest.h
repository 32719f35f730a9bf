/*
 * ingest.h — storing a DELIVER batch from an upstream (a node's broker, or a
 * broker's peer): parse each envelope through the checked gate, take its
 * hybrid logical clock into account, append the batch in one durable
 * transaction (the journal verifies chains and signed heads), and build the
 * cumulative ACK: per stream, the contiguous hwm now stored.
 */
#ifndef KNOOP_INGEST_H
#define KNOOP_INGEST_H

#include "hlc.h"
#include "journal.h"
#include "wire.h"

typedef struct {
    knoop_wire_ack_t *acks;       /* malloc'd; free() */
    size_t            nacks;
    size_t            stored;     /* new messages */
    size_t            duplicates;
    size_t            refused;    /* malformed, chain, signature, fork, unknown */
    uint32_t          msgs;       /* envelopes the frames carried */
    uint64_t          bytes;      /* and their bytes */
} knoop_ingest_t;

/* Store the envelopes of n DELIVER frames in one transaction (group commit).
 * `from` names the upstream in log lines. hlc may be NULL. out->msgs and
 * out->bytes say what the frames carried: the CREDIT to return. Returns the
 * journal's verdict on the transaction (KNOOP_OK, or e.g. KNOOP_EFULL: then
 * nothing was stored and no ACK must be sent). */
int knoop_ingest(knoop_journal_t *j, const knoop_frame_t *frames, size_t n, knoop_hlc_t *hlc,
                 const char *from, knoop_ingest_t *out);

/* knoop_ingest in its three steps, for a daemon that commits the deliveries
 * together with other writes of its loop pass (one durable commit):
 * knoop_ingest_parse takes the frames' envelopes through the gate into
 * b->ptrs[0..b->n) (what to append; refused ones counted in out),
 * the caller appends them (with whatever else) in one transaction, and
 * knoop_ingest_finish counts the results and builds the ACK. Clear b with
 * knoop_ingest_batch_clear in every case. */
typedef struct {
    knoop_msg_t        *msgs;
    const knoop_msg_t **ptrs;
    /* envs[i]: the envelope ptrs[i] was parsed from, its bytes borrowed from
     * the frames (valid while they are): a broker's fairness (broker/fair.c)
     * keeps a copy of those it stores later, and returns their length as
     * CREDIT when it does */
    knoop_bytes_t      *envs;
    size_t              n;
} knoop_ingest_batch_t;
int  knoop_ingest_parse(const knoop_frame_t *frames, size_t nframes, knoop_hlc_t *hlc,
                        const char *from, knoop_ingest_batch_t *b, knoop_ingest_t *out);
/* res[i]: the append's result for b->ptrs[i]; call only when the
 * transaction committed. Only b->ptrs and b->n are read: b may be a view of
 * part of a parsed batch. KNOOP_ENOMEM when the ACK could not be built. */
int  knoop_ingest_finish(knoop_journal_t *j, const knoop_ingest_batch_t *b, const int *res,
                         const char *from, knoop_ingest_t *out);
void knoop_ingest_batch_clear(knoop_ingest_batch_t *b);

#endif
