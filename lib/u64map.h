/*
 * u64map.h — a small open-addressing hash map from 64-bit keys (stream
 * ids, which are already uniformly distributed hashes) to 64-bit values.
 * Used for per-session stream bookkeeping in the daemons' hot paths, where
 * a lookup per message must not allocate.
 */
#ifndef KNOOP_U64MAP_H
#define KNOOP_U64MAP_H

#include "knoop.h"

typedef struct {
    uint64_t  salt;       /* random per map: keys from a peer cannot be
                             chosen to collide */
    uint64_t *keys;
    uint64_t *vals;
    uint8_t  *used;
    size_t    cap;        /* power of two, 0 when empty */
    size_t    count;
} knoop_u64map_t;         /* zero-initialise to start */

/* Value for key, or false. */
bool knoop_u64map_get(const knoop_u64map_t *m, uint64_t key, uint64_t *val);
/* Insert or replace. KNOOP_ENOMEM on failure (map unchanged). */
int  knoop_u64map_put(knoop_u64map_t *m, uint64_t key, uint64_t val);
void knoop_u64map_clear(knoop_u64map_t *m);   /* frees storage */

#endif
