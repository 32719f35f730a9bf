/* handle_ack.c — ACK and CREDIT from a node.
 *
 * ACK says the node has stored everything up to seq of a stream: catch-up
 * and live delivery skip what it has. Only streams this session was sent are
 * taken, and never beyond what was sent, so a peer cannot fill our tables.
 *
 * CREDIT is the flow control: the node returns the messages and bytes of each
 * DELIVER once it has processed them, whatever became of them (stored,
 * duplicate, refused). What the broker may have in flight is the window
 * minus what has not come back. */
#include "broker_int.h"

void handle_ack(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    for (size_t i = 0; i < f->u.ack.n; i++) {
        const knoop_wire_ack_t *a = &f->u.ack.acks[i];
        uint64_t sent, prev = 0;
        if (!knoop_u64map_get(&s->sent, a->stream, &sent))
            continue;
        uint64_t seq = a->seq < sent ? a->seq : sent;
        knoop_u64map_get(&s->acked, a->stream, &prev);
        if (seq > prev)
            knoop_u64map_put(&s->acked, a->stream, seq);
    }
}

void handle_credit(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    s->inflight = f->u.credit.msgs >= s->inflight ? 0 : s->inflight - f->u.credit.msgs;
    s->inflight_bytes = f->u.credit.bytes >= s->inflight_bytes
                            ? 0 : s->inflight_bytes - f->u.credit.bytes;
}
