/* batch.h — a batch of messages for knoop_journal_append, built as a node
 * builds them: each chained on the one before, the caller choosing which to
 * head-sign (a node signs the last of a batch). bench_journal and
 * bench_pubsub's W3 fill build theirs with it. */
#ifndef KNOOP_BENCH_BATCH_H
#define KNOOP_BENCH_BATCH_H

#include "msg.h"

typedef struct {
    size_t              cap;
    knoop_buf_t        *bufs;             /* the envelopes */
    knoop_msg_t        *msgs;             /* their parsed views */
    const knoop_msg_t **ptrs;             /* &msgs[i], as the append takes them */
    int                *res;              /* the append's result per message */
} batch_t;

/* Room for cap messages; false when out of memory (then nothing is held). */
bool batch_init(batch_t *b, size_t cap);
/* Message i from body, whose prev is set from head; head becomes the new
 * message's chain hash. Head-signed with sk unless sk is NULL. KNOOP_OK, or
 * the error of the build or of the parse. */
int  batch_put(batch_t *b, size_t i, knoop_body_t *body, uint8_t head[KNOOP_HASH_LEN],
               const uint8_t *sk);
/* Clear the parsed views of the first n messages (after the append). */
void batch_clear(batch_t *b, size_t n);
void batch_free(batch_t *b);

#endif
