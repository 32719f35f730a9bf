/* handle_instances.c — primary/standby pairs (docs/design.md, "Standby
 * node"). Two nodes of one partner, with the same key, may run at once: a
 * primary and a standby at the backup location. Each node of a pair says
 * what it is (INSTANCES with itself: its publishing epoch as id, active or
 * standby, its term, since when and why) right after HELLO and whenever that
 * changes. The broker keeps it in the session and tells every pair session
 * of the partner the list of the others, whenever a session of the partner
 * says something new or goes away. The standby decides on that list whether
 * to take over; the broker decides nothing. */
#include "broker.h"

#include <stdio.h>
#include <string.h>

void broker_instances_notify(knoop_broker_t *self, const char *partner)
{
    knoop_wire_instance_t list[KNOOP_INSTANCES_MAX];
    for (session_t *t = self->sessions; t; t = t->next) {
        if (!t->pair || t->peer || strcmp(t->partner, partner) != 0)
            continue;
        size_t n = 0;
        for (session_t *u = self->sessions; u && n < KNOOP_INSTANCES_MAX; u = u->next)
            if (u != t && u->pair && !u->peer && strcmp(u->partner, partner) == 0)
                list[n++] = u->inst;
        knoop_frame_t f = { .kind = KNOOP_FRAME_INSTANCES };
        f.u.instances.v = list;
        f.u.instances.n = n;
        /* A session whose connection is gone is found and dropped by the
         * housekeeping (its heartbeat fails): not here, while others are
         * being told. */
        broker_send(self, t, &f);
    }
}

void handle_instances(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    if (s->peer || f->u.instances.n != 1) {
        broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_PROTOCOL, 0, 0, false,
                          "INSTANCES from %s must name exactly one instance, itself (got %zu)",
                          s->partner, f->u.instances.n);
        return;
    }
    const knoop_wire_instance_t *in = &f->u.instances.v[0];
    bool changed = !s->pair || s->inst.id != in->id || s->inst.active != in->active ||
                   s->inst.term != in->term;
    s->pair = true;
    s->inst = *in;
    snprintf(s->inst_reason, sizeof s->inst_reason, "%s", in->reason ? in->reason : "");
    s->inst.reason = s->inst_reason;
    if (changed)
        knoop_info("%s instance %016llx is %s (term %llu): %s", s->partner,
                   (unsigned long long) in->id, in->active ? "active" : "standby",
                   (unsigned long long) in->term, s->inst_reason);
    broker_instances_notify(self, s->partner);
}
