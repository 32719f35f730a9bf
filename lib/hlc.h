/*
 * hlc.h — hybrid logical clock (Kulkarni et al.): a 64-bit timestamp
 * (Unix milliseconds << 16 | counter) that never runs backwards, stays close
 * to wall time, and orders a message after every message its sender had seen.
 * Partners use it to agree on display order and on the winner of a state key
 * (highest (hlc, origin)), even with skewed clocks.
 *
 * Not thread-safe: one clock per event loop.
 */
#ifndef KNOOP_HLC_H
#define KNOOP_HLC_H

#include "knoop.h"

typedef struct {
    uint64_t last;      /* last timestamp issued or observed */
} knoop_hlc_t;

#define KNOOP_HLC_MS(t)      ((t) >> 16)
#define KNOOP_HLC_COUNT(t)   ((t) & 0xffffu)
#define KNOOP_HLC_MAKE(ms, c) (((uint64_t) (ms) << 16) | ((c) & 0xffffu))

/* Start a clock; `last` may be a persisted value (0 for none). */
void     knoop_hlc_init(knoop_hlc_t *self, uint64_t last);
/* Timestamp for a local event, given the wall clock in ms. */
uint64_t knoop_hlc_tick(knoop_hlc_t *self, uint64_t wall_ms);
/* Take a remote timestamp into account (on receive); returns the new time. */
uint64_t knoop_hlc_observe(knoop_hlc_t *self, uint64_t remote, uint64_t wall_ms);
/* As observe, but a remote timestamp more than max_skew_ms ahead of the
 * wall clock is ignored (the clock just ticks): one message from a partner
 * with a wrong clock must not drag every receiver's clock into the future. */
#define KNOOP_HLC_MAX_SKEW_MS (5u * 60u * 1000u)
uint64_t knoop_hlc_observe_bounded(knoop_hlc_t *self, uint64_t remote, uint64_t wall_ms,
                                   uint64_t max_skew_ms);

/* Timestamp for now, using the real wall clock. */
uint64_t knoop_hlc_now(knoop_hlc_t *self);

#endif
