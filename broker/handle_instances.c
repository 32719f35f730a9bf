/* handle_instances.c — primary/standby pairs (docs/design.md, "Standby
 * node"). Two nodes of one partner, with the same key, may run at once: a
 * primary and a standby at the backup location. Each node of a pair says
 * what it is (INSTANCES with itself: the epoch of its run as id, active or
 * standby, its term, since when and why) right after HELLO and whenever that
 * changes. The broker keeps it in the session and tells every pair session
 * of the partner the list of the others, whenever a session of the partner
 * says something new or goes away. The standby decides on that list whether
 * to take over; the broker decides nothing.
 *
 * A pair may be split over two brokers (the standby at the backup location
 * on another broker). Each broker therefore tells the peers that pull from
 * it, over their sessions, the rows of its own pair sessions per partner
 * (INSTANCES with `partner`), whenever they change and when the peer says
 * HELLO; a broker keeps what each peer told it and lists those rows too.
 * Only a broker's own rows travel, never what it heard: no loops, and a row
 * is as fresh as the link it came over. When the pull link to a peer goes,
 * its rows go with it: a standby then sees no active instance and takes
 * over, as it would if the primary had died (a partition between the
 * brokers looks the same as a dead primary; no fork either way). */
#include "broker_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct remote_inst {
    char                  peer[KNOOP_ID_MAX + 1];
    char                  partner[KNOOP_ID_MAX + 1];
    knoop_wire_instance_t inst;
    char                  reason[256];
};

/* This broker's own pair rows of partner, for its peers. */
static size_t s_local_rows(knoop_broker_t *self, const char *partner,
                           knoop_wire_instance_t *list)
{
    size_t n = 0;
    for (session_t *u = self->sessions; u && n < KNOOP_INSTANCES_MAX; u = u->next)
        if (u->pair && !u->peer && strcmp(u->partner, partner) == 0)
            list[n++] = u->inst;
    return n;
}

static void s_tell_peer(knoop_broker_t *self, session_t *peer, const char *partner)
{
    knoop_wire_instance_t list[KNOOP_INSTANCES_MAX];
    knoop_frame_t f = { .kind = KNOOP_FRAME_INSTANCES };
    f.u.instances.n = s_local_rows(self, partner, list);
    f.u.instances.v = list;
    f.u.instances.partner = partner;
    broker_send(self, peer, &f);
}

/* Tell every peer session partner's rows, also when there are none left. */
static void s_tell_peers(knoop_broker_t *self, const char *partner)
{
    session_t *next;
    for (session_t *t = self->sessions; t; t = next) {
        next = t->next;
        if (t->peer)
            s_tell_peer(self, t, partner);
    }
}

void broker_instances_announce(knoop_broker_t *self, session_t *peer)
{
    /* Each partner with pair sessions here once. */
    for (session_t *u = self->sessions; u; u = u->next) {
        if (!u->pair || u->peer)
            continue;
        bool seen = false;
        for (session_t *v = self->sessions; v != u && !seen; v = v->next)
            seen = v->pair && !v->peer && strcmp(v->partner, u->partner) == 0;
        if (!seen)
            s_tell_peer(self, peer, u->partner);
    }
}

/* Tell the local pair sessions of partner the others, local and remote. */
static void s_tell_local(knoop_broker_t *self, const char *partner)
{
    knoop_wire_instance_t list[KNOOP_INSTANCES_MAX];
    for (session_t *t = self->sessions; t; t = t->next) {
        if (!t->pair || t->peer || strcmp(t->partner, partner) != 0)
            continue;
        size_t n = 0;
        for (session_t *u = self->sessions; u && n < KNOOP_INSTANCES_MAX; u = u->next)
            if (u != t && u->pair && !u->peer && strcmp(u->partner, partner) == 0)
                list[n++] = u->inst;
        for (size_t r = 0; r < self->nremote_inst && n < KNOOP_INSTANCES_MAX; r++)
            if (strcmp(self->remote_inst[r].partner, partner) == 0)
                list[n++] = self->remote_inst[r].inst;
        knoop_frame_t f = { .kind = KNOOP_FRAME_INSTANCES };
        f.u.instances.v = list;
        f.u.instances.n = n;
        /* A session whose connection is gone is found and dropped by the
         * housekeeping (its heartbeat fails): not here, while others are
         * being told. */
        broker_send(self, t, &f);
    }
}

void broker_instances_notify(knoop_broker_t *self, const char *partner)
{
    s_tell_local(self, partner);
    s_tell_peers(self, partner);
}

/* Forget what peer said of partner (NULL: of every partner); tells the
 * local sessions of each partner concerned. */
static void s_forget(knoop_broker_t *self, const char *peer, const char *partner)
{
    for (size_t r = 0; r < self->nremote_inst;) {
        struct remote_inst *x = &self->remote_inst[r];
        if (strcmp(x->peer, peer) != 0 || (partner && strcmp(x->partner, partner) != 0)) {
            r++;
            continue;
        }
        char gone[KNOOP_ID_MAX + 1];
        snprintf(gone, sizeof gone, "%s", x->partner);
        *x = self->remote_inst[--self->nremote_inst];
        if (x != &self->remote_inst[self->nremote_inst])
            x->inst.reason = x->reason;
        if (!partner)
            s_tell_local(self, gone);
    }
}

void broker_instances_on_peer(knoop_broker_t *self, const char *peer, const knoop_frame_t *f)
{
    const char *partner = f->u.instances.partner;
    if (!partner || !*partner) {
        knoop_warn("peer %s: INSTANCES without a partner: ignored", peer);
        return;
    }
    s_forget(self, peer, partner);
    size_t need = self->nremote_inst + f->u.instances.n;
    if (need > self->remote_inst_cap) {
        size_t cap = need * 2;
        struct remote_inst *v = realloc(self->remote_inst, cap * sizeof *v);
        if (!v) {
            knoop_error("broker: out of memory: instances of %s at %s not kept; its pair "
                        "members here may take over", partner, peer);
            s_tell_local(self, partner);
            return;
        }
        self->remote_inst = v;
        self->remote_inst_cap = cap;
        for (size_t r = 0; r < self->nremote_inst; r++)
            self->remote_inst[r].inst.reason = self->remote_inst[r].reason;
    }
    for (size_t i = 0; i < f->u.instances.n; i++) {
        struct remote_inst *x = &self->remote_inst[self->nremote_inst++];
        snprintf(x->peer, sizeof x->peer, "%s", peer);
        snprintf(x->partner, sizeof x->partner, "%s", partner);
        x->inst = f->u.instances.v[i];
        snprintf(x->reason, sizeof x->reason, "%s (at %s)",
                 f->u.instances.v[i].reason ? f->u.instances.v[i].reason : "", peer);
        x->inst.reason = x->reason;
    }
    knoop_debug("peer %s: %zu instance(s) of %s", peer, f->u.instances.n, partner);
    s_tell_local(self, partner);
}

void broker_instances_peer_gone(knoop_broker_t *self, const char *peer)
{
    s_forget(self, peer, NULL);
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
