/* hlc.c — hybrid logical clock. See hlc.h. */
#include "hlc.h"

void knoop_hlc_init(knoop_hlc_t *self, uint64_t last)
{
    self->last = last;
}

/* The next timestamp strictly above `floor`, at least at wall time. When the
 * 16-bit counter is exhausted in one millisecond, the logical time borrows
 * the next millisecond rather than wrapping. At the very top of the range
 * (reachable only through a hostile or broken remote or persisted value) the
 * clock saturates: repeating UINT64_MAX is wrong, wrapping to 0 is worse. */
static uint64_t s_after(uint64_t floor, uint64_t wall_ms)
{
    uint64_t wall = KNOOP_HLC_MAKE(wall_ms, 0);
    if (wall > floor)
        return wall;
    return floor == UINT64_MAX ? floor : floor + 1;
}

uint64_t knoop_hlc_tick(knoop_hlc_t *self, uint64_t wall_ms)
{
    self->last = s_after(self->last, wall_ms);
    return self->last;
}

uint64_t knoop_hlc_observe(knoop_hlc_t *self, uint64_t remote, uint64_t wall_ms)
{
    uint64_t floor = remote > self->last ? remote : self->last;
    self->last = s_after(floor, wall_ms);
    return self->last;
}

uint64_t knoop_hlc_now(knoop_hlc_t *self)
{
    return knoop_hlc_tick(self, knoop_now_ms());
}

uint64_t knoop_hlc_observe_bounded(knoop_hlc_t *self, uint64_t remote, uint64_t wall_ms,
                                   uint64_t max_skew_ms)
{
    if (KNOOP_HLC_MS(remote) > wall_ms + max_skew_ms)
        return knoop_hlc_tick(self, wall_ms);
    return knoop_hlc_observe(self, remote, wall_ms);
}
