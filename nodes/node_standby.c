/* node_standby.c — a primary/standby pair of one partner (docs/design.md,
 * "Standby node"; the decision and its alternatives in design-notes.md).
 *
 * Two nodes with the same identity run at once, a primary and a standby at
 * the backup location. Both hold the same journal content: the broker
 * delivers a partner's own-origin streams live to its other sessions, so
 * each sees what the other publishes as it is published, besides everything
 * both subscribe to. Exactly one of them should publish (the active one);
 * the other refuses the local API's publish requests.
 *
 * No fork by construction: a node publishes only on streams of its own
 * epoch, drawn at random when it starts, and a stream is written by one
 * process only. A standby that takes over therefore continues on new
 * streams, never on the primary's; even two instances active at once (a
 * partition hides one from the other) write different streams, so no
 * (stream, seq) can ever carry two different messages. The mode decides
 * who publishes, not what is consistent.
 *
 * Who is active: each instance tells its broker what it is (INSTANCES: its
 * epoch as id, active or not, its term, since when, why), and the broker
 * tells each the others it has sessions with. A standby that sees no active
 * instance for --takeover-ms (a killed primary's session is dropped when its
 * connection goes or its heartbeats stop) takes over with a higher term. An
 * active instance that sees another active one with a higher (term, id)
 * yields: that settles a promotion by the operator and a simultaneous
 * takeover alike. Failback is never automatic: a node that was active and is
 * started again comes up as standby, and resumes only when its broker shows
 * no active instance at all; a node demoted by the operator waits for
 * `knoop node promote`.
 *
 * Restarted without a link: a node that was active and hears from no broker
 * for --takeover-ms plus the link timeout after its start resumes
 * publishing offline, on the new streams of this run (its outbox goes out
 * when a link returns). Should the other instance have taken over
 * meanwhile, it has the higher term, and this one yields as soon as a
 * broker shows both: two actives for a while, never a fork. A node that was
 * standby stays standby without a link: it cannot tell a dead primary from
 * its own lost link.
 *
 * The mode is kept in the journal (cursor "node.instance"), committed
 * durably at every change, so that a restart knows what it was. */
#include "node_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR "node.instance"      /* durable names are [a-z0-9_-]: no clash */

static void s_persist(knoop_node_t *self)
{
    char text[128];
    int n = snprintf(text, sizeof text, "v1 active=%d held=%d term=%llu epoch=%016llx since=%llu",
                     self->active, self->held, (unsigned long long) self->term,
                     (unsigned long long) self->epoch, (unsigned long long) self->mode_since);
    int rc = knoop_journal_cursor_put(self->journal, CURSOR, text, (size_t) n);
    if (rc)
        knoop_error("node: cannot record this instance's mode in the journal: %s; after a "
                    "restart it starts as standby", knoop_strerror(rc));
}

static void s_mode(knoop_node_t *self, bool active, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_mode(knoop_node_t *self, bool active, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->mode_reason, sizeof self->mode_reason, fmt, ap);
    va_end(ap);
    self->active = active;
    self->mode_since = knoop_now_ms();
    self->none_active_since = 0;
    if (active)
        self->resume = false;
    s_persist(self);
    knoop_warn("instance %016llx of %s is now %s (term %llu): %s",
               (unsigned long long) self->epoch, self->id, active ? "ACTIVE" : "STANDBY",
               (unsigned long long) self->term, self->mode_reason);
    node_standby_hello(self);
}

int node_standby_init(knoop_node_t *self)
{
    self->active = true;
    self->mode_since = knoop_now_ms();
    self->started_ms = knoop_now_ms();
    if (!self->opts.pair) {
        snprintf(self->mode_reason, sizeof self->mode_reason, "not one of a pair");
        return KNOOP_OK;
    }
    self->pair = true;
    bool primary = strcmp(self->opts.pair, "primary") == 0;
    knoop_buf_t b = { 0 };
    int rc = knoop_journal_cursor_get(self->journal, CURSOR, &b);
    if (rc == KNOOP_ENOTFOUND) {
        self->term = primary ? 1 : 0;
        if (primary)
            s_mode(self, true, "first start of the primary");
        else
            s_mode(self, false, "started as standby; takes over when no instance is active");
        return KNOOP_OK;
    }
    if (rc) {
        knoop_error("node: cannot read this instance's mode from the journal: %s",
                    knoop_strerror(rc));
        return rc;
    }
    char text[160];
    snprintf(text, sizeof text, "%.*s", (int) (b.len < sizeof text - 1 ? b.len : sizeof text - 1),
             (const char *) b.data);
    knoop_buf_free(&b);
    int was_active = 0, held = 0;
    unsigned long long term = 0, epoch = 0, since = 0;
    if (sscanf(text, "v1 active=%d held=%d term=%llu epoch=%llx since=%llu", &was_active, &held,
               &term, &epoch, &since) != 5) {
        knoop_warn("node: the journal's instance record is unreadable ('%s'): starting as "
                   "standby", text);
        was_active = 0;
    }
    self->term = term;
    self->prev_epoch = epoch;
    self->held = held != 0;
    if (was_active) {
        self->resume = true;
        s_mode(self, false, "restarted; was active: resumes only when no other instance is "
                            "active at the broker");
    } else if (self->held) {
        s_mode(self, false, "demoted by the operator; stays standby until knoop node promote");
    } else {
        s_mode(self, false, "restarted as standby; takes over when no instance is active");
    }
    return KNOOP_OK;
}

void node_standby_hello(knoop_node_t *self)
{
    if (!self->pair || !self->dealer || self->link == LINK_DOWN)
        return;
    knoop_wire_instance_t me = {
        .id = self->epoch, .active = self->active, .term = self->term,
        .since_ms = self->mode_since, .reason = self->mode_reason,
    };
    knoop_frame_t f = { .kind = KNOOP_FRAME_INSTANCES };
    f.u.instances.v = &me;
    f.u.instances.n = 1;
    self->out.len = 0;
    if (knoop_frame_encode(&f, &self->out) == KNOOP_OK &&
        knoop_link_send_dealer(self->dealer, self->out.data, self->out.len) == KNOOP_OK)
        self->last_sent = knoop_now_ms();
}

void node_standby_on_instances(knoop_node_t *self, const knoop_frame_t *f)
{
    if (!self->pair)
        return;                         /* a broker sends it only to pairs */
    self->nsiblings = 0;
    for (size_t i = 0; i < f->u.instances.n && self->nsiblings < KNOOP_INSTANCES_MAX; i++) {
        const knoop_wire_instance_t *in = &f->u.instances.v[i];
        /* Our own previous run, killed before its broker noticed: a ghost. */
        if (in->id == self->epoch || (self->prev_epoch && in->id == self->prev_epoch))
            continue;
        /* A standby keeps the highest term it has seen (durably): a
         * takeover after the active one is gone must win over it, also
         * when that one comes back with the term it had. */
        if (!self->active && in->term > self->term) {
            self->term = in->term;
            s_persist(self);
        }
        size_t k = self->nsiblings++;
        self->siblings[k] = *in;
        snprintf(self->sibling_reasons[k], sizeof self->sibling_reasons[k], "%s",
                 in->reason ? in->reason : "");
        self->siblings[k].reason = self->sibling_reasons[k];
    }
    self->siblings_known = true;
    self->told = true;
    node_standby_step(self);
}

void node_standby_link_down(knoop_node_t *self)
{
    self->siblings_known = false;
    self->nsiblings = 0;
    self->none_active_since = 0;
}

/* The active sibling with the highest (term, id), or NULL. */
static const knoop_wire_instance_t *s_best_active(const knoop_node_t *self, uint64_t *max_term)
{
    const knoop_wire_instance_t *best = NULL;
    *max_term = 0;
    for (size_t i = 0; i < self->nsiblings; i++) {
        const knoop_wire_instance_t *in = &self->siblings[i];
        if (in->term > *max_term)
            *max_term = in->term;
        if (in->active && (!best || in->term > best->term ||
                           (in->term == best->term && in->id > best->id)))
            best = in;
    }
    return best;
}

/* A node that was active, restarted where no broker answers: it resumes
 * offline once a link had time to come up (see the top of this file). */
static void s_resume_offline(knoop_node_t *self)
{
    if (!self->resume || self->active || self->held || self->told || self->link == LINK_UP)
        return;
    uint64_t wait = (uint64_t) self->opts.takeover_ms + (uint64_t) self->opts.timeout_ms;
    uint64_t waited = knoop_now_ms() - self->started_ms;
    if (waited < wait)
        return;
    s_mode(self, true, "restarted without a link (no broker answered in %llu ms); was active: "
           "resumed publishing offline; yields if the other instance took over meanwhile",
           (unsigned long long) waited);
}

void node_standby_step(knoop_node_t *self)
{
    if (self->pair)
        s_resume_offline(self);
    /* Without a broker's word nothing else changes: a standby that cannot
     * see its broker cannot tell a dead primary from its own lost link. */
    if (!self->pair || self->link != LINK_UP || !self->siblings_known)
        return;
    uint64_t max_term;
    const knoop_wire_instance_t *best = s_best_active(self, &max_term);
    const char *broker = self->brokers[self->broker_idx].id;
    if (self->active) {
        if (best && (best->term > self->term ||
                     (best->term == self->term && best->id > self->epoch))) {
            if (best->term > self->term)
                self->term = best->term;
            s_mode(self, false, "instance %016llx is active with term %llu (%s); this one yields",
                   (unsigned long long) best->id, (unsigned long long) best->term,
                   best->reason);
        }
        return;
    }
    if (best) {
        self->none_active_since = 0;
        return;
    }
    if (self->held)
        return;
    uint64_t now = knoop_now_ms();
    if (!self->none_active_since)
        self->none_active_since = now;
    uint64_t wait = self->resume ? 0 : (uint64_t) self->opts.takeover_ms;
    if (now - self->none_active_since < wait)
        return;
    uint64_t quiet = now - self->none_active_since;
    self->term = (max_term > self->term ? max_term : self->term) + 1;
    if (self->resume)
        s_mode(self, true, "restarted; no other instance active at %s: resumed", broker);
    else
        s_mode(self, true, "took over: no instance active at %s for %llu ms", broker,
               (unsigned long long) quiet);
}

int node_standby_set(knoop_node_t *self, bool active, const char *reason)
{
    if (!self->pair)
        return KNOOP_EINVAL;
    const char *why = reason && *reason ? reason : "by the operator";
    if (active) {
        uint64_t max_term;
        s_best_active(self, &max_term);
        self->held = false;
        if (self->active)
            return KNOOP_OK;
        /* Above every term seen: an active instance yields when it sees it. */
        self->term = (max_term > self->term ? max_term : self->term) + 1;
        s_mode(self, true, "promoted: %s", why);
    } else {
        self->held = true;
        self->resume = false;
        if (!self->active) {
            s_persist(self);
            return KNOOP_OK;
        }
        s_mode(self, false, "demoted: %s; stays standby until knoop node promote", why);
    }
    return KNOOP_OK;
}

json_t *node_standby_json(const knoop_node_t *self)
{
    char id[17];
    snprintf(id, sizeof id, "%016llx", (unsigned long long) self->epoch);
    json_t *o = json_pack("{s:s, s:b, s:s, s:I, s:I, s:s}", "id", id, "pair", self->pair,
                          "mode", self->active ? "active" : "standby",
                          "term", (json_int_t) self->term,
                          "since_ms", (json_int_t) self->mode_since,
                          "reason", self->mode_reason);
    if (!o || !self->pair)
        return o;
    json_object_set_new(o, "held", json_boolean(self->held));
    json_object_set_new(o, "siblings_known", json_boolean(self->siblings_known));
    json_t *sib = json_array();
    for (size_t i = 0; i < self->nsiblings; i++) {
        const knoop_wire_instance_t *in = &self->siblings[i];
        char sid[17];
        snprintf(sid, sizeof sid, "%016llx", (unsigned long long) in->id);
        json_array_append_new(sib, json_pack("{s:s, s:s, s:I, s:I, s:s}", "id", sid,
                              "mode", in->active ? "active" : "standby",
                              "term", (json_int_t) in->term,
                              "since_ms", (json_int_t) in->since_ms, "reason", in->reason));
    }
    json_object_set_new(o, "others", sib);
    return o;
}
