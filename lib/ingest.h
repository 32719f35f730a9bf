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

#endif
