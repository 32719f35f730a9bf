/* handle_ack.c — ACK and CREDIT from a node: its window for deliveries.
 * An ACK says the node has stored everything up to seq of a stream; the
 * messages it covers leave the in-flight count. */
#include "broker.h"

#define MAX_WINDOW 65536

void handle_ack(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    s->last_ack = knoop_now_ms();
    for (size_t i = 0; i < f->u.ack.n; i++) {
        const knoop_wire_ack_t *a = &f->u.ack.acks[i];
        uint64_t prev = 0;
        knoop_u64map_get(&s->acked, a->stream, &prev);
        if (a->seq <= prev)
            continue;
        uint64_t done = a->seq - prev;
        s->inflight = done >= s->inflight ? 0 : s->inflight - done;
        knoop_u64map_put(&s->acked, a->stream, a->seq);
    }
}

void handle_credit(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    s->window += f->u.credit.msgs;
    if (s->window > MAX_WINDOW)
        s->window = MAX_WINDOW;
}
