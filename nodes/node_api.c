/* node_api.c — the local API: applications publish (the node assigns seq,
 * prev and hlc, signs the head of each stream's batch, commits, and only
 * then answers), subscribe (verified messages only, in arrival order; a
 * durable subscription's cursor is kept in the journal), ask for status and
 * for the picture (beeld). */
#include "node_int.h"
#include "cap.h"
#include "crypto.h"
#include "names.h"
#include "json.h"
#include "trust_mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#define DELIVERY_MAX   256
/* Envelope bytes per delivery: with the reply's framing well under
 * KNOOP_API_MAX (a window of 1-MiB messages would not fit one reply). */
#define DELIVERY_BYTES (KNOOP_API_MAX / 2)   /* also per beeld reply */
#define BEELD_BATCH    256
#define SUB_SILENT_MS  120000

const char *node_link_state_name(const knoop_node_t *self);

int node_api_init(knoop_node_t *self)
{
    char ep[4200];
    if (self->opts.api)
        snprintf(ep, sizeof ep, "%s", self->opts.api);
    else
        snprintf(ep, sizeof ep, "ipc://%s/api.sock", self->opts.data);
    self->api_ep = strdup(ep);
    self->api = knoop_link_router();
    if (!self->api || !self->api_ep)
        return KNOOP_ENOMEM;
    knoop_sock_set_max_message(self->api, KNOOP_API_MAX);
    /* The ipc socket lives in the data directory (0700): only the node's
     * user reaches it. */
    int rc = knoop_sock_bind(self->api, self->api_ep);
    if (rc)
        knoop_error("node: cannot bind the local API on %s: %s", self->api_ep,
                    knoop_link_strerror());
    return rc;
}

static void s_sub_free(api_sub_t *s)
{
    free(s);
}

static void s_wait_free(pub_wait_t *w);

void node_api_close(knoop_node_t *self)
{
    while (self->waits) {
        pub_wait_t *w = self->waits;
        self->waits = w->next;
        s_wait_free(w);
    }
    while (self->subs) {
        api_sub_t *s = self->subs;
        self->subs = s->next;
        s_sub_free(s);
    }
    knoop_sock_destroy(&self->api);
}

static int s_reply(knoop_node_t *self, const uint8_t *rid, size_t rid_len,
                   const knoop_api_rep_t *rep)
{
    self->out.len = 0;
    int rc = knoop_api_rep_encode(rep, &self->out);
    if (rc)
        return rc;
    return knoop_link_send(self->api, rid, rid_len, self->out.data, self->out.len);
}

static void s_reply_error(knoop_node_t *self, const uint8_t *rid, size_t rid_len, uint64_t id,
                          int code, uint32_t index, const char *reason)
{
    knoop_api_rep_t rep = { .id = id, .kind = KNOOP_API_R_ERROR };
    rep.u.error.code = code;
    rep.u.error.reason = reason;
    rep.u.error.index = index;
    s_reply(self, rid, rid_len, &rep);
}

/* ---- publish ---- */

/* A broker cuts a stream for a partner at the first message that partner
 * may not read (the hash chain runs through it, docs/protocol.md "TLP").
 * So each audience of a topic gets a stream of its own: the open messages
 * on the node's epoch, each set of recipients of TLP amber+strict/red on an
 * epoch derived from it. Nobody then loses open messages to a restricted
 * one, and a topic may carry both. */
static uint64_t s_epoch_for(const knoop_node_t *self, uint64_t audience)
{
    uint64_t e = audience ? self->pub_epoch ^ audience : self->pub_epoch;
    return e ? e : 1;
}

static own_stream_t *s_stream_for(knoop_node_t *self, const char *topic, uint64_t audience)
{
    uint64_t epoch = s_epoch_for(self, audience);
    for (size_t i = 0; i < self->nown; i++)
        if (self->own[i].epoch == epoch && strcmp(self->own[i].topic, topic) == 0)
            return &self->own[i];
    own_stream_t *no = knoop_array_grow(self->own, self->nown, &self->own_cap, sizeof *no, 16);
    if (!no)
        return NULL;
    self->own = no;
    own_stream_t *o = &self->own[self->nown++];
    memset(o, 0, sizeof *o);
    o->stream = knoop_stream_id(self->id, topic, epoch);
    o->epoch = epoch;
    snprintf(o->topic, sizeof o->topic, "%s", topic);
    return o;
}

static int s_pub_reserve(knoop_node_t *self, size_t extra)
{
    if (self->npub + extra <= self->pub_cap)
        return KNOOP_OK;
    size_t cap = self->pub_cap ? self->pub_cap : 256;
    while (cap < self->npub + extra)
        cap *= 2;
    knoop_msg_t *m = realloc(self->pub_msgs, cap * sizeof *m);
    if (!m)
        return KNOOP_ENOMEM;
    self->pub_msgs = m;
    self->pub_cap = cap;
    return KNOOP_OK;
}

static pub_req_t *s_new_req(knoop_node_t *self)
{
    pub_req_t *r = knoop_array_grow(self->reqs, self->nreqs, &self->reqs_cap, sizeof *r, 16);
    if (!r)
        return NULL;
    self->reqs = r;
    r = &self->reqs[self->nreqs++];
    memset(r, 0, sizeof *r);
    return r;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Who may read an item, as one number: 0 for an open TLP, else a hash of
 * the sorted recipients (never 0). */
static uint64_t s_audience(const knoop_api_item_t *it)
{
    if (!knoop_tlp_restricted((knoop_tlp_t) it->tlp))
        return 0;
    const char *ids[KNOOP_RECIPIENTS_MAX];
    size_t n = it->nrecipients < KNOOP_RECIPIENTS_MAX ? it->nrecipients : KNOOP_RECIPIENTS_MAX;
    memcpy(ids, it->recipients, n * sizeof *ids);
    qsort(ids, n, sizeof *ids, s_cmp_str);
    knoop_hasher_t h;
    uint8_t zero = 0, out[KNOOP_HASH_LEN];
    knoop_hasher_init(&h);
    for (size_t i = 0; i < n; i++) {
        knoop_hasher_update(&h, ids[i], strlen(ids[i]));
        knoop_hasher_update(&h, &zero, 1);
    }
    knoop_hasher_final(&h, out);
    uint64_t v = knoop_get_be64(out);
    return v ? v : 1;
}

/* May this node name `who` as the sender inside a payload? */
static bool s_may_speak_for(const knoop_node_t *self, const char *who)
{
    if (strcmp(who, self->id) == 0)
        return true;
    for (size_t i = 0; i < self->opts.nspeak_for; i++)
        if (!strcmp(self->opts.speak_for[i], "*") || !strcmp(self->opts.speak_for[i], who))
            return true;
    return false;
}

static void s_on_publish(knoop_node_t *self, const knoop_api_req_t *req)
{
    pub_req_t *r = s_new_req(self);
    if (!r)
        return;
    memcpy(r->rid, self->rid.data, self->rid.len);
    r->rid_len = self->rid.len;
    r->id = req->id;
    r->wait_ms = req->u.publish.wait_ms;
    r->first = self->npub;
    size_t n = req->u.publish.n;
    if (!self->active) {
        /* One instance of a pair publishes: the standby only holds. */
        const char *other = "none at the moment";
        char who[64];
        for (size_t i = 0; i < self->nsiblings; i++)
            if (self->siblings[i].active) {
                snprintf(who, sizeof who, "instance %016llx",
                         (unsigned long long) self->siblings[i].id);
                other = who;
            }
        r->error = KNOOP_EPERM;
        snprintf(r->reason, sizeof r->reason, "this node is the standby of %s (active: %s); "
                 "publish at the active node, or make this one active with knoop node promote",
                 self->id, other);
        return;
    }
    /* Check every item before building any: a request is taken whole or
     * not at all. */
    for (size_t i = 0; i < n; i++) {
        const knoop_api_item_t *it = &req->u.publish.items[i];
        const char *why = NULL;
        if (!it->type[0] || !knoop_type_name_valid(it->type))
            why = "type: not a protobuf message name";
        else if (it->status < KNOOP_STATUS_ACTUAL || it->status > KNOOP_STATUS_SYSTEM)
            why = "status: must be actual, exercise, test or system";
        else if (it->tlp < KNOOP_TLP_CLEAR || it->tlp > KNOOP_TLP_AMBER_STRICT)
            why = "tlp: must be clear, green, amber, amber+strict or red";
        else if (knoop_tlp_restricted((knoop_tlp_t) it->tlp) && it->nrecipients == 0)
            why = "recipients: TLP amber+strict and red go only to the partners named; "
                  "name at least one";
        else if (it->priority > KNOOP_PRIO_FLASH)
            why = "priority: must be routine, immediate or flash";
        else if (it->payload_len > KNOOP_PAYLOAD_MAX)
            why = "payload too big";
        char detail[320] = "", sender[KNOOP_ID_MAX + 1] = "";
        int prc = why ? KNOOP_OK
                      : knoop_payload_check(self->types, it->topic, it->type, it->payload, it->payload_len,
                                            sender, sizeof sender, detail, sizeof detail);
        if (!why && prc == KNOOP_OK && !strcmp(it->type, KNOOP_CAP_TYPE))
            prc = knoop_cap_check_status(it->payload, it->payload_len,
                                         (knoop_status_t) it->status, detail, sizeof detail);
        if (prc) {
            why = detail;
            r->error = prc == KNOOP_EPERM ? KNOOP_EPERM : KNOOP_EINVAL;
        } else if (!why && *sender && !s_may_speak_for(self, sender)) {
            snprintf(detail, sizeof detail, "%s names %s as its sender; %s may only name "
                     "itself (or start the node with --speak-for %s)",
                     knoop_payload_sender_field(it->type), sender, self->id, sender);
            why = detail;
            r->error = KNOOP_EPERM;
        }
        if (why) {
            if (!r->error)
                r->error = KNOOP_EINVAL;
            r->error_index = (uint32_t) i;
            snprintf(r->reason, sizeof r->reason, "item %zu: %.225s", i, why);   /* fits */
            return;
        }
    }
    if (s_pub_reserve(self, n) != KNOOP_OK) {
        r->error = KNOOP_ENOMEM;
        snprintf(r->reason, sizeof r->reason, "node out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const knoop_api_item_t *it = &req->u.publish.items[i];
        uint64_t aud = s_audience(it);
        own_stream_t *o = s_stream_for(self, it->topic, aud);
        if (!o) {
            r->error = KNOOP_ENOMEM;
            snprintf(r->reason, sizeof r->reason, "node out of memory");
            return;
        }
        knoop_body_t b = {
            .version = KNOOP_BODY_VERSION, .origin = self->id, .topic = it->topic,
            .epoch = o->epoch, .seq = o->hwm + 1, .hlc = knoop_hlc_now(&self->hlc),
            .key = it->key ? it->key : "", .type = it->type,
            .priority = (knoop_priority_t) it->priority, .status = (knoop_status_t) it->status,
            .tlp = (knoop_tlp_t) it->tlp, .payload = it->payload, .payload_len = it->payload_len,
            .recipients = it->recipients, .nrecipients = it->nrecipients,
        };
        memcpy(b.prev, o->head, KNOOP_HASH_LEN);
        /* The view is built once here and carried through sign, append,
         * ack and reply: no parse of what we just encoded. */
        int rc = knoop_msg_build_view(&b, o->stream, &self->pub_msgs[self->npub]);
        if (rc) {
            r->error = rc;
            r->error_index = (uint32_t) i;
            snprintf(r->reason, sizeof r->reason, "item %zu: %s", i, knoop_strerror(rc));
            /* Items already built stay: their seqs are taken and they are
             * committed with the batch, just not confirmed to this app. */
            return;
        }
        o->hwm++;
        memcpy(o->head, self->pub_msgs[self->npub].chain, KNOOP_HASH_LEN);
        self->npub++;
        r->n++;
    }
}

/* ---- waiting for the broker's verdict ---- */

static int s_wait_add(knoop_node_t *self, const pub_req_t *r)
{
    pub_wait_t *w = calloc(1, sizeof *w);
    if (!w)
        return KNOOP_ENOMEM;
    w->items = calloc(r->n ? r->n : 1, sizeof *w->items);
    if (!w->items) {
        free(w);
        return KNOOP_ENOMEM;
    }
    memcpy(w->rid, r->rid, r->rid_len);
    w->rid_len = r->rid_len;
    w->id = r->id;
    w->deadline = knoop_now_ms() + r->wait_ms;
    w->n = r->n;
    for (size_t i = 0; i < r->n; i++) {
        w->items[i].stream = self->pub_msgs[r->first + i].stream;
        w->items[i].seq = self->pub_msgs[r->first + i].b.seq;
    }
    w->next = self->waits;
    self->waits = w;
    return KNOOP_OK;
}

static void s_wait_free(pub_wait_t *w)
{
    free(w->items);
    free(w);
}

/* The verdict on one item so far; reason into buf for a refusal. */
static knoop_verdict_t s_verdict(knoop_node_t *self, uint64_t stream, uint64_t seq,
                                 char *buf, size_t size)
{
    own_stream_t *o = node_own_find(self, stream);
    buf[0] = '\0';
    if (!o)
        return KNOOP_VERDICT_STORED;
    if (o->acked >= seq)
        return KNOOP_VERDICT_ACCEPTED;
    if (o->blocked && o->blocked_seq <= seq) {
        if (o->blocked_seq == seq)
            snprintf(buf, size, "%s", o->blocked_reason);
        else
            snprintf(buf, size, "not sent: the broker refused an earlier message of "
                     "this stream (%s)", o->blocked_reason);
        return KNOOP_VERDICT_REFUSED;
    }
    return KNOOP_VERDICT_STORED;
}

void node_api_verdicts(knoop_node_t *self)
{
    uint64_t now = knoop_now_ms();
    pub_wait_t **pp = &self->waits;
    while (*pp) {
        pub_wait_t *w = *pp;
        bool done = self->link != LINK_UP || now >= w->deadline;
        char reason[400];
        for (size_t i = 0; !done && i < w->n; i++)
            if (s_verdict(self, w->items[i].stream, w->items[i].seq, reason, sizeof reason) ==
                KNOOP_VERDICT_STORED)
                break;
            else if (i + 1 == w->n)
                done = true;
        if (!done) {
            pp = &w->next;
            continue;
        }
        knoop_api_seq_t *items = calloc(w->n ? w->n : 1, sizeof *items);
        char (*reasons)[400] = calloc(w->n ? w->n : 1, sizeof *reasons);
        for (size_t i = 0; items && reasons && i < w->n; i++) {
            own_stream_t *o = node_own_find(self, w->items[i].stream);
            items[i].origin = self->id;
            items[i].topic = o ? o->topic : "unknown";
            items[i].seq = w->items[i].seq;
            items[i].verdict = s_verdict(self, w->items[i].stream, w->items[i].seq, reasons[i],
                                         sizeof reasons[i]);
            items[i].reason = reasons[i];
        }
        if (items && reasons) {
            knoop_api_rep_t rep = { .id = w->id, .kind = KNOOP_API_R_PUBLISHED };
            rep.u.published.items = items;
            rep.u.published.n = w->n;
            rep.u.published.link_up = self->link == LINK_UP;
            s_reply(self, w->rid, w->rid_len, &rep);
        } else
            s_reply_error(self, w->rid, w->rid_len, w->id, KNOOP_ENOMEM, 0,
                          "node out of memory while answering; the messages are stored");
        free(items);
        free(reasons);
        *pp = w->next;
        s_wait_free(w);
    }
}

/* The last message of each stream in the batch carries the head signature:
 * one signature covers the batch. */
static int s_sign_heads(knoop_node_t *self)
{
    knoop_u64map_t seen = { 0 };
    int rc = KNOOP_OK;
    for (size_t i = self->npub; i-- > 0 && rc == KNOOP_OK;) {
        knoop_msg_t *m = &self->pub_msgs[i];
        if (knoop_u64map_get(&seen, m->stream, NULL))
            continue;
        rc = knoop_u64map_put(&seen, m->stream, 1);
        if (rc == KNOOP_OK)
            knoop_msg_sign(m, knoop_key_secret(self->key));
    }
    knoop_u64map_clear(&seen);
    return rc;
}

static int s_reload_own(knoop_node_t *self)
{
    /* After a failed commit the seqs handed out in memory are not in the
     * journal: take the journal's word for where each stream stands. */
    for (size_t i = 0; i < self->nown; i++) {
        knoop_stream_info_t info;
        if (knoop_journal_stream(self->journal, self->own[i].stream, &info) == KNOOP_OK) {
            self->own[i].hwm = info.hwm;
            memcpy(self->own[i].head, info.head, KNOOP_HASH_LEN);
        } else {
            self->own[i].hwm = 0;
            memset(self->own[i].head, 0, KNOOP_HASH_LEN);
        }
    }
    return KNOOP_OK;
}

/* A commit failed after the hook had sent part of its batch: what went out
 * is kept, packed, for a later commit to store (node.c, s_limbo_store). The
 * broker may hold it and deliver it, or have lost it in a failed commit of
 * its own after delivering it: either way the origin must come to hold it,
 * or a subscriber could keep a message that neither the origin nor any
 * broker has. Called after s_reload_own, so o->hwm is the journal's: a
 * stream with anything sent above it keeps all of its part of the batch, up
 * to the message that carries the head signature (a signed prefix only;
 * never an unsigned tail), and a message that cannot be kept drops the rest
 * of its stream's part (never a gap). */
static void s_limbo_keep(knoop_node_t *self)
{
    size_t want = 0;
    for (size_t i = 0; i < self->npub; i++) {
        own_stream_t *o = node_own_find(self, self->pub_msgs[i].stream);
        want += o && o->sent > o->hwm;
    }
    knoop_buf_t *nl = want ? realloc(self->limbo, (self->nlimbo + want) * sizeof *nl) : NULL;
    if (!want)
        return;
    if (!nl) {
        knoop_error("node %s: out of memory keeping %zu message(s) sent before a commit that "
                    "failed: the node will hold them only if the mesh gives them back",
                    self->id, want);
        return;
    }
    self->limbo = nl;
    knoop_u64map_t dropped = { 0 };
    for (size_t i = 0; i < self->npub; i++) {
        const knoop_msg_t *m = &self->pub_msgs[i];
        own_stream_t *o = node_own_find(self, m->stream);
        if (!o || o->sent <= o->hwm || knoop_u64map_get(&dropped, m->stream, NULL))
            continue;
        knoop_buf_t *b = &self->limbo[self->nlimbo];
        memset(b, 0, sizeof *b);
        if (knoop_msg_pack(m, b) != KNOOP_OK) {
            knoop_buf_free(b);
            knoop_u64map_put(&dropped, m->stream, 1);
            knoop_error("node %s: out of memory keeping %s from seq %llu on, sent before a "
                        "commit that failed: the node will hold it only if the mesh gives it "
                        "back", self->id, m->b.topic, (unsigned long long) m->b.seq);
            continue;
        }
        self->nlimbo++;
    }
    knoop_u64map_clear(&dropped);
}

int node_api_publish_sign(knoop_node_t *self)
{
    return self->npub ? s_sign_heads(self) : KNOOP_OK;
}

void node_api_publish_done(knoop_node_t *self, int rc, const int *res)
{
    if (self->npub) {
        if (rc) {
            node_set_journal_error(self, rc);
            s_reload_own(self);
            if (self->early_lost)
                s_limbo_keep(self);
        } else {
            self->journal_grew = true;
            for (size_t i = 0; i < self->npub; i++)
                if (res[i] == KNOOP_OK)
                    knoop_metrics_message_in(self->metrics, self->pub_msgs[i].b.topic,
                                             knoop_priority_name(self->pub_msgs[i].b.priority));
        }
    }
    for (size_t k = 0; k < self->nreqs; k++) {
        pub_req_t *r = &self->reqs[k];
        int err = r->error ? r->error : rc;
        for (size_t i = r->first; !err && i < r->first + r->n; i++)
            if (res[i] != KNOOP_OK) {
                err = res[i];
                r->error_index = (uint32_t) (i - r->first);
                snprintf(r->reason, sizeof r->reason, "item %zu: journal refused it: %s",
                         i - r->first, knoop_strerror(err));
            }
        if (err) {
            /* a batch the journal could not store: its own words ("disk full
             * on DIR: 0 bytes free; ..."), not a bare errno */
            const char *why = r->reason[0] ? r->reason
                            : !r->error && self->last_error_journal ? self->last_error
                            : knoop_strerror(err);
            char text[sizeof self->last_error + 256];
            if (self->early_lost && !r->error) {
                snprintf(text, sizeof text, "%s; the batch had already gone to the broker "
                         "(sent before the commit) and may still be delivered: the node "
                         "keeps it and stores it as soon as its journal writes again, so "
                         "check before publishing it again",
                         why);
                why = text;
            }
            s_reply_error(self, r->rid, r->rid_len, r->id, err, r->error_index, why);
            continue;
        }
        if (r->wait_ms && self->link == LINK_UP && s_wait_add(self, r) == KNOOP_OK)
            continue;                   /* answered by node_api_verdicts */
        knoop_api_seq_t *items = calloc(r->n ? r->n : 1, sizeof *items);
        for (size_t i = 0; items && i < r->n; i++) {
            const knoop_msg_t *m = &self->pub_msgs[r->first + i];
            items[i].origin = m->b.origin;
            items[i].topic = m->b.topic;
            items[i].seq = m->b.seq;
            items[i].reason = "";
        }
        knoop_api_rep_t rep = { .id = r->id, .kind = KNOOP_API_R_PUBLISHED };
        rep.u.published.items = items;
        rep.u.published.n = items ? r->n : 0;
        rep.u.published.link_up = self->link == LINK_UP;
        s_reply(self, r->rid, r->rid_len, &rep);
        free(items);
    }
    for (size_t i = 0; i < self->npub; i++)
        knoop_msg_clear(&self->pub_msgs[i]);
    self->npub = 0;
    self->nreqs = 0;
}

size_t node_api_cursors(knoop_node_t *self, knoop_journal_cursor_t **out)
{
    size_t n = 0;
    *out = NULL;
    for (api_sub_t *s = self->subs; s; s = s->next)
        n += s->cursor_dirty;
    if (!n || !(*out = calloc(n, sizeof **out)))
        return 0;
    size_t k = 0;
    for (api_sub_t *s = self->subs; s; s = s->next)
        if (s->cursor_dirty) {
            knoop_put_be64(s->cursor_val, s->acked);
            s->cursor_committing = true;
            (*out)[k++] = (knoop_journal_cursor_t) { s->durable, s->cursor_val, 8 };
        }
    return n;
}

void node_api_cursors_done(knoop_node_t *self, int rc)
{
    for (api_sub_t *s = self->subs; s; s = s->next) {
        if (s->cursor_committing && rc == KNOOP_OK &&
            knoop_get_be64(s->cursor_val) == s->acked)
            s->cursor_dirty = false;
        s->cursor_committing = false;
    }
}

/* ---- subscribe ---- */

static api_sub_t *s_sub_find(knoop_node_t *self, uint64_t id)
{
    for (api_sub_t *s = self->subs; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static void s_sub_drop(knoop_node_t *self, api_sub_t *sub, const char *why)
{
    /* Acks that came with the close (a client's last acks, then CLOSE, read
     * in one pass) are not lost with the subscription. */
    if (sub->cursor_dirty) {
        uint8_t c[8];
        knoop_put_be64(c, sub->acked);
        if (knoop_journal_cursor_put(self->journal, sub->durable, c, 8) != KNOOP_OK)
            knoop_warn("local subscription %llu: cursor %s not saved at close: %s",
                       (unsigned long long) sub->id, sub->durable,
                       knoop_journal_error(self->journal, NULL));
    }
    for (api_sub_t **pp = &self->subs; *pp; pp = &(*pp)->next)
        if (*pp == sub) {
            *pp = sub->next;
            break;
        }
    knoop_info("local subscription %llu (%s%s%s) closed: %s", (unsigned long long) sub->id,
               sub->pattern, sub->durable[0] ? ", durable " : "", sub->durable, why);
    s_sub_free(sub);
}

static void s_on_subscribe(knoop_node_t *self, const knoop_api_req_t *req)
{
    const char *durable = req->u.subscribe.durable;
    api_sub_t *sub = calloc(1, sizeof *sub);
    if (!sub)
        return;
    memcpy(sub->rid, self->rid.data, self->rid.len);
    sub->rid_len = self->rid.len;
    sub->id = self->next_sub_id++;
    snprintf(sub->pattern, sizeof sub->pattern, "%s", req->u.subscribe.pattern);
    sub->status = req->u.subscribe.status;
    sub->since_ms = req->u.subscribe.since_ms;
    sub->window = req->u.subscribe.window ? req->u.subscribe.window : DELIVERY_MAX;
    if (sub->window > DELIVERY_MAX)
        sub->window = DELIVERY_MAX;
    bool resumed = false;
    if (durable && *durable) {
        snprintf(sub->durable, sizeof sub->durable, "sub:%s", durable);
        /* One subscriber per durable name: a new one replaces the old
         * (an application that reconnected), after saving its cursor. */
        for (api_sub_t *old = self->subs; old; old = old->next)
            if (strcmp(old->durable, sub->durable) == 0) {
                s_sub_drop(self, old, "replaced by a new subscriber under the same name");
                break;
            }
        knoop_buf_t c = { 0 };
        if (knoop_journal_cursor_get(self->journal, sub->durable, &c) == KNOOP_OK && c.len == 8) {
            sub->acked = sub->sent = knoop_get_be64(c.data);
            sub->pos = sub->acked + 1;
            resumed = true;
        }
        knoop_buf_free(&c);
    }
    if (!resumed) {
        if (req->u.subscribe.from_start || req->u.subscribe.since_ms)
            sub->pos = 1;
        else
            sub->pos = knoop_journal_next_vpos(self->journal);
        sub->acked = sub->sent = sub->pos - 1;
    }
    sub->next = self->subs;
    self->subs = sub;
    knoop_api_rep_t rep = { .id = req->id, .kind = KNOOP_API_R_SUBSCRIBED };
    rep.u.subscribed.sub = sub->id;
    s_reply(self, sub->rid, sub->rid_len, &rep);
    knoop_info("local subscription %llu on %s%s%s from position %llu%s",
               (unsigned long long) sub->id, sub->pattern, sub->durable[0] ? ", durable " : "",
               sub->durable[0] ? sub->durable + 4 : "", (unsigned long long) sub->pos,
               resumed ? " (resumed)" : "");
}

/* One subscriber's share of a scan: its batch, and where it stopped. */
typedef struct {
    api_sub_t       *sub;
    knoop_batch_t    batch;
    knoop_api_env_t  envs[DELIVERY_MAX];
    uint64_t         stop;               /* position it stopped at (full), or 0 */
} sub_fill_t;

/* Subscribers whose positions lie this close together share one scan of the
 * log; a subscriber far behind scans on its own, so that it does not hold
 * back the ones at the tail. */
#define SCAN_MAX       4096

/* One scan of the log for several subscribers: each message is parsed once
 * and matched against every subscriber that has reached it. */
typedef struct {
    knoop_node_t *node;
    sub_fill_t  **fill;
    size_t        n;
    size_t        open;                  /* fills not stopped yet */
} sub_scan_t;

static bool s_sub_wants(const api_sub_t *sub, const knoop_msg_t *m)
{
    return knoop_topic_match(sub->pattern, m->b.topic) &&
           (sub->status == KNOOP_API_STATUS_ALL ||
            (sub->status == 0 ? m->b.status == KNOOP_STATUS_ACTUAL
                              : (uint32_t) m->b.status == sub->status)) &&
           (!sub->since_ms || KNOOP_HLC_MS(m->b.hlc) >= sub->since_ms);
}

static int s_sub_take(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                      const uint8_t *env, size_t len)
{
    sub_scan_t *sc = arg;
    bool parsed = false;
    knoop_msg_t m;
    for (size_t i = 0; i < sc->n; i++) {
        sub_fill_t *f = sc->fill[i];
        if (f->stop || pos < f->sub->pos)
            continue;
        if (knoop_batch_full(&f->batch, len)) {
            f->stop = pos;
            sc->open--;
            continue;
        }
        if (!parsed) {
            int prc = knoop_msg_parse_stored(&m, env, len, stream);
            if (prc != KNOOP_OK) {
                /* It passed the journal's check: it was stored like this. */
                knoop_error("node: stored message at position %llu does not parse (%s); "
                            "skipped", (unsigned long long) pos, knoop_strerror(prc));
                return sc->open ? 0 : 1;
            }
            sc->node->api_parsed++;
            parsed = true;
        }
        if (s_sub_wants(f->sub, &m) &&
            knoop_batch_take(&f->batch, pos, stream, seq, env, len) != 0) {
            f->stop = pos;
            sc->open--;
        }
    }
    if (parsed)
        knoop_msg_clear(&m);
    /* Stopped at pos when every subscriber is full: pos is not consumed. */
    return sc->open ? 0 : 1;
}

/* The batch as API envelopes (envs has room for b->n). */
static void s_api_envs(const knoop_batch_t *b, knoop_api_env_t *envs)
{
    for (size_t i = 0; i < b->n; i++) {
        envs[i].position = b->item[i].pos;
        envs[i].envelope = knoop_batch_env(b, i);
        envs[i].len = b->item[i].len;
    }
}

/* Send what one subscriber's share of the scan collected. */
static void s_sub_send(knoop_node_t *self, sub_fill_t *f)
{
    api_sub_t *sub = f->sub;
    knoop_api_env_t *envs = f->envs;
    size_t n = f->batch.n;
    if (n) {
        s_api_envs(&f->batch, envs);
        knoop_api_rep_t rep = { .id = sub->id, .kind = KNOOP_API_R_DELIVERY };
        rep.u.delivery.msgs = envs;
        rep.u.delivery.n = n;
        int rc = s_reply(self, sub->rid, sub->rid_len, &rep);
        if (rc == KNOOP_OK) {
            sub->sent = envs[n - 1].position;
            sub->sent_at = knoop_now_ms();
        }
        else if (rc == KNOOP_EGONE)
            s_sub_drop(self, sub, "application gone");
        else
            sub->pos = envs[0].position;      /* try again next pass */
    } else if (sub->sent == sub->acked) {
        /* Nothing for this subscriber in what was scanned: it is
         * acknowledged implicitly, so a durable cursor moves on too. */
        sub->acked = sub->sent = sub->pos - 1;
    }
}

static int s_fill_by_pos(const void *a, const void *b)
{
    const sub_fill_t *x = *(sub_fill_t *const *) a, *y = *(sub_fill_t *const *) b;
    return x->sub->pos < y->sub->pos ? -1 : x->sub->pos > y->sub->pos;
}

void node_api_pump(knoop_node_t *self)
{
    api_sub_t *next;
    size_t nready = 0;
    uint64_t tail = knoop_journal_next_vpos(self->journal);
    for (api_sub_t *sub = self->subs; sub; sub = next) {
        next = sub->next;
        /* One batch in flight per subscriber: the next goes when it is
         * acknowledged. An application that stays silent on a batch for
         * SUB_SILENT_MS is gone (or hung): its subscription goes too; a
         * durable one resumes from its cursor when it subscribes again. */
        if (sub->sent > sub->acked && knoop_now_ms() - sub->sent_at > SUB_SILENT_MS) {
            s_sub_drop(self, sub, "application silent on a delivered batch");
            continue;
        }
        if (sub->sent == sub->acked && sub->pos < tail)
            nready++;
    }
    if (!nready)
        return;
    sub_fill_t **fill = calloc(nready, sizeof *fill);
    if (!fill)
        return;
    size_t n = 0;
    for (api_sub_t *sub = self->subs; sub && n < nready; sub = sub->next) {
        if (sub->sent != sub->acked || sub->pos >= tail)
            continue;
        sub_fill_t *f = calloc(1, sizeof *f);
        if (!f)
            break;
        f->sub = sub;
        knoop_batch_start(&f->batch, sub->window, DELIVERY_BYTES);
        fill[n++] = f;
    }
    qsort(fill, n, sizeof *fill, s_fill_by_pos);
    /* Applications are fed from the verified log: each message once, when a
     * valid head signature covers it. Subscribers within SCAN_MAX positions
     * of each other share a scan, which reaches SCAN_MAX past the last of
     * them: each sees at least as much of the log as a scan of its own. */
    bool repair = false;
    for (size_t first = 0, last; first < n; first = last) {
        uint64_t from = fill[first]->sub->pos;
        for (last = first + 1; last < n && fill[last]->sub->pos - from < SCAN_MAX; last++)
            ;
        sub_scan_t sc = { .node = self, .fill = fill + first, .n = last - first,
                          .open = last - first };
        uint64_t nextpos = from;
        size_t max = (size_t) (fill[last - 1]->sub->pos - from) + SCAN_MAX;
        int trc = knoop_journal_tail_verified(self->journal, from, max, s_sub_take, &sc,
                                              &nextpos);
        if (trc == KNOOP_ECORRUPT)
            repair = true;
        for (size_t i = first; i < last; i++) {
            api_sub_t *sub = fill[i]->sub;
            if (fill[i]->stop)
                sub->pos = fill[i]->stop;
            else if (nextpos > sub->pos)
                sub->pos = nextpos;
        }
    }
    if (repair)
        node_repair_step(self);         /* delivery waits at the damage */
    /* Sent after the scans: a subscriber dropped here is freed. */
    for (size_t i = 0; i < n; i++) {
        s_sub_send(self, fill[i]);
        knoop_batch_free(&fill[i]->batch);
        free(fill[i]);
    }
    free(fill);
}

static void s_on_ack(knoop_node_t *self, const knoop_api_req_t *req)
{
    api_sub_t *sub = s_sub_find(self, req->u.ack.sub);
    if (!sub || req->u.ack.position <= sub->acked)
        return;
    sub->acked = req->u.ack.position > sub->sent ? sub->sent : req->u.ack.position;
    if (sub->durable[0])
        sub->cursor_dirty = true;
    self->journal_grew = true;           /* pump again without waiting */
}

/* ---- status and beeld ---- */

/* The last catch-up: when it ended, from which broker, how many messages in
 * how many streams, how long it took, and how many buckets of its HELLO's
 * settled summary matched and missed ({} before the first). */
static json_t *s_catchup_json(const knoop_node_t *self)
{
    if (!self->catchup_done_at)
        return json_object();
    return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I}",
                     "done_ms", (json_int_t) self->catchup_done_at, "broker", self->catchup_broker,
                     "messages", (json_int_t) self->catchup_msgs,
                     "streams", (json_int_t) self->catchup_streams,
                     "duration_ms", (json_int_t) self->catchup_ms,
                     "settled_matched", (json_int_t) self->settled_matched,
                     "settled_missed", (json_int_t) self->settled_missed);
}

/* The mesh's verdict as the current broker last told it in a heartbeat:
 * per peer up, in sync (digests equal at the last comparison) and when that
 * was; "agree" when every peer is. {} before the first heartbeat of a link. */
static json_t *s_mesh_json(const knoop_node_t *self)
{
    json_t *o = json_object();
    if (!self->mesh_at)
        return o;
    json_object_set_new(o, "broker", json_string(self->brokers[self->broker_idx].id));
    json_object_set_new(o, "heard_ms", json_integer((json_int_t) self->mesh_at));
    if (self->has_mesh_digest) {
        char hex[2 * KNOOP_HASH_LEN + 1];
        knoop_hex_encode(hex, self->mesh_digest, KNOOP_HASH_LEN);
        json_object_set_new(o, "digest", json_string(hex));
    }
    json_t *peers = json_array();
    bool agree = self->nmesh > 0;
    for (size_t i = 0; i < self->nmesh; i++) {
        const mesh_peer_t *p = &self->mesh[i];
        agree = agree && p->up && p->in_sync;
        json_array_append_new(peers, json_pack("{s:s, s:b, s:b, s:I}", "peer", p->id,
                                               "up", p->up, "in_sync", p->in_sync,
                                               "last_sync_ms", (json_int_t) p->last_sync_ms));
    }
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "agree", json_boolean(agree));
    return o;
}

static void s_on_status(knoop_node_t *self, const knoop_api_req_t *req)
{
    json_t *o = json_object();
    char ep[17];
    snprintf(ep, sizeof ep, "%016llx", (unsigned long long) self->epoch);
    json_object_set_new(o, "partner", json_string(self->id));
    json_object_set_new(o, "epoch", json_string(ep));
    snprintf(ep, sizeof ep, "%016llx", (unsigned long long) self->pub_epoch);
    json_object_set_new(o, "publishing_epoch", json_string(ep));
    json_t *early = json_object();
    json_object_set_new(early, "enabled", json_boolean(!self->opts.send_late));
    json_object_set_new(early, "sent", json_integer((json_int_t) self->sent_early));
    json_object_set_new(early, "failed_commits",
                        json_integer((json_int_t) self->early_failed));
    json_object_set_new(early, "late_low_space",
                        json_integer((json_int_t) self->late_low_room));
    json_object_set_new(early, "held_for_retry", json_integer((json_int_t) self->nlimbo));
    json_object_set_new(o, "send_before_commit", early);
    json_t *link = json_object();
    json_object_set_new(link, "state", json_string(node_link_state_name(self)));
    if (self->nbrokers) {
        json_object_set_new(link, "broker", json_string(self->brokers[self->broker_idx].id));
        json_object_set_new(link, "endpoint",
                            json_string(self->brokers[self->broker_idx].endpoint));
        /* its place in the node's order of preference, 1 = first choice;
         * above 1 the node asks the better-ranked ones to come back */
        json_object_set_new(link, "rank", json_integer((json_int_t) self->broker_idx + 1));
        json_object_set_new(link, "brokers", json_integer((json_int_t) self->nbrokers));
    }
    json_object_set_new(link, "since_ms", json_integer((json_int_t) self->link_since));
    json_object_set_new(link, "caught_up", json_boolean(self->caught_up));
    json_object_set_new(link, "failovers", json_integer((json_int_t) self->failovers));
    json_object_set_new(link, "delivered_in", json_integer((json_int_t) self->delivered_in));
    json_object_set_new(link, "heartbeats_answered",
                        json_integer((json_int_t) self->heartbeats_answered));
    json_object_set_new(link, "heartbeats_unasked",
                        json_integer((json_int_t) self->heartbeats_unasked));
    json_object_set_new(o, "link", link);
    json_object_set_new(o, "instance", node_standby_json(self));
    json_object_set_new(o, "catchup", s_catchup_json(self));
    json_object_set_new(o, "mesh", s_mesh_json(self));
    uint64_t backlog = 0;
    json_t *blocked = json_array();
    for (size_t i = 0; i < self->nown; i++) {
        backlog += self->own[i].hwm - self->own[i].acked;
        if (self->own[i].blocked)
            json_array_append_new(blocked, json_pack("{s:s, s:s}", "topic", self->own[i].topic,
                                                     "reason", self->own[i].blocked_reason));
    }
    json_object_set_new(o, "clock", json_pack("{s:I, s:I, s:s}",
        "offset_ms", (json_int_t) self->clock_offset_ms,
        "measured_ms", (json_int_t) self->clock_measured_at, "warning", self->clock_warning));
    json_object_set_new(o, "outbox", json_pack("{s:I, s:o}", "backlog", (json_int_t) backlog,
                                               "blocked", blocked));
    knoop_stream_info_t *rows = NULL;
    size_t n = 0;
    json_t *streams = json_array();
    if (knoop_journal_vector(self->journal, NULL, &rows, &n) == KNOOP_OK) {
        for (size_t i = 0; i < n; i++) {
            json_t *row = json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}",
                "origin", rows[i].origin, "topic", rows[i].topic,
                "hwm", (json_int_t) rows[i].hwm, "max_seq", (json_int_t) rows[i].max_seq,
                "verified", (json_int_t) rows[i].verified,
                "forked", (rows[i].flags & KNOOP_STREAM_FORKED) != 0);
            /* own streams: what the current broker has acknowledged on this link */
            own_stream_t *mine = node_own_find(self, rows[i].stream);
            if (row && mine) {
                char stream_epoch[17];
                snprintf(stream_epoch, sizeof stream_epoch, "%016llx", (unsigned long long) rows[i].epoch);
                json_object_set_new(row, "epoch", json_string(stream_epoch));
                json_object_set_new(row, "acked", json_integer((json_int_t) mine->acked));
            }
            json_array_append_new(streams, row);
        }
        free(rows);
    }
    json_object_set_new(o, "streams", streams);
    json_object_set_new(o, "certificates_expiring",
                        knoop_trust_expiring_json(self->trust, (int64_t) time(NULL)));
    knoop_journal_stats_t st;
    json_t *jo = knoop_daemon_status_journal(self->journal, &st);
    json_object_set_new(jo, "commits", json_integer((json_int_t) st.commits));
    json_object_set_new(o, "journal", jo);
    /* local subscriptions, and the messages parsed to match them: once per
     * message scanned however many subscribers share the scan */
    size_t nsubs = 0;
    for (const api_sub_t *s = self->subs; s; s = s->next)
        nsubs++;
    json_object_set_new(o, "subscriptions", json_pack("{s:I, s:I}", "count", (json_int_t) nsubs,
                                                      "parsed", (json_int_t) self->api_parsed));
    knoop_daemon_status_alarm(o, self->journal, &st);
    size_t ndamaged = knoop_journal_damaged(self->journal, NULL);
    json_object_set_new(o, "damage", json_pack("{s:I, s:I, s:I, s:I}",
        "damaged_now", (json_int_t) ndamaged, "damaged_found", (json_int_t) st.damaged,
        "repaired", (json_int_t) st.repaired, "damaged_rows", (json_int_t) st.damaged_rows));
    if (ndamaged)
        json_object_set_new(o, "alarm", json_sprintf("DAMAGED: %zu message(s) in the journal "
                            "fail their check; not delivered; fetching them again", ndamaged));
    /* Where the journal and the trust store are (absolute), for tools on
     * this machine that read them: knoop bundle export --api. */
    knoop_daemon_status_where(o, &self->where, self->imported, self->imports_refused,
                              self->trust_reloads);
    json_t *bundles = json_object_get(o, "bundles");      /* forwarding (node_import.c) */
    json_object_set_new(bundles, "forwarded", json_integer((json_int_t) self->forwarded));
    json_object_set_new(bundles, "forwards_refused",
                        json_integer((json_int_t) self->forwards_refused));
    json_object_set_new(bundles, "forwarding", node_forward_json(self));
    json_object_set_new(o, "last_error", json_string(self->last_error));
    json_object_set_new(o, "last_error_ms", json_integer((json_int_t) self->last_error_at));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    knoop_api_rep_t rep = { .id = req->id, .kind = KNOOP_API_R_STATUS };
    rep.u.status.json = text ? text : "{}";
    s_reply(self, self->rid.data, self->rid.len, &rep);
    free(text);
}

typedef struct {
    knoop_node_t   *self;
    const uint8_t  *rid;
    size_t          rid_len;
    uint64_t        id;
    knoop_batch_t   batch;
    knoop_api_env_t envs[BEELD_BATCH];
} beeld_fill_t;

static void s_beeld_flush(beeld_fill_t *b, bool done)
{
    s_api_envs(&b->batch, b->envs);
    for (size_t i = 0; i < b->batch.n; i++)
        b->envs[i].position = 0;
    knoop_api_rep_t rep = { .id = b->id, .kind = KNOOP_API_R_BEELD };
    rep.u.delivery.msgs = b->envs;
    rep.u.delivery.n = b->batch.n;
    rep.u.delivery.done = done;
    s_reply(b->self, b->rid, b->rid_len, &rep);
    knoop_batch_start(&b->batch, BEELD_BATCH, DELIVERY_BYTES);
}

static int s_beeld_take(void *arg, const char *topic, const char *key, uint64_t stream,
                        uint64_t seq, const uint8_t *env, size_t len)
{
    beeld_fill_t *b = arg;
    if (knoop_batch_full(&b->batch, len))
        s_beeld_flush(b, false);
    return knoop_batch_take(&b->batch, 0, stream, seq, env, len);
}

static void s_on_beeld(knoop_node_t *self, const knoop_api_req_t *req)
{
    beeld_fill_t *b = calloc(1, sizeof *b);
    if (!b)
        return;
    b->self = self;
    b->rid = self->rid.data;
    b->rid_len = self->rid.len;
    b->id = req->id;
    knoop_batch_start(&b->batch, BEELD_BATCH, DELIVERY_BYTES);
    const char *p = req->u.beeld.pattern && *req->u.beeld.pattern ? req->u.beeld.pattern : ">";
    int rc = knoop_journal_state(self->journal, p, s_beeld_take, b);
    if (rc)
        s_reply_error(self, b->rid, b->rid_len, req->id, rc, 0, knoop_strerror(rc));
    else
        s_beeld_flush(b, true);
    knoop_batch_free(&b->batch);
    free(b);
}

/* knoop node promote | demote: answered with the status. */
static void s_on_role(knoop_node_t *self, const knoop_api_req_t *req)
{
    if (!self->pair) {
        s_reply_error(self, self->rid.data, self->rid.len, req->id, KNOOP_EINVAL, 0,
                      "this node is not one of a primary/standby pair (start it with --pair "
                      "primary or --pair standby); it is always active");
        return;
    }
    node_standby_set(self, req->u.role.active, req->u.role.reason);
    s_on_status(self, req);
}

static void s_on_import(knoop_node_t *self, const knoop_api_req_t *req)
{
    char why[600];
    char *json = NULL;
    int rc = node_import(self, req, &json, why, sizeof why);
    if (rc) {
        s_reply_error(self, self->rid.data, self->rid.len, req->id, rc, 0, why);
        return;
    }
    knoop_api_rep_t rep = { .id = req->id, .kind = KNOOP_API_R_IMPORTED };
    rep.u.status.json = json;
    s_reply(self, self->rid.data, self->rid.len, &rep);
    free(json);
}

void node_api_read(knoop_node_t *self)
{
    for (int i = 0; i < 1024; i++) {
        int rrc = knoop_link_recv_plain(self->api, &self->rid, &self->data);
        if (rrc == KNOOP_EAGAIN)
            break;
        if (rrc || self->rid.len > 255)
            continue;
        knoop_api_req_t req;
        int rc = knoop_api_req_decode(&req, self->data.data, self->data.len);
        if (rc) {
            char why[160];
            snprintf(why, sizeof why, "request refused: %s%s", knoop_strerror(rc),
                     rc == KNOOP_EVERSION ? " (client and node speak different API versions)" : "");
            s_reply_error(self, self->rid.data, self->rid.len, 0, rc, 0, why);
        } else {
            switch (req.kind) {
            case KNOOP_API_PUBLISH:   s_on_publish(self, &req); break;
            case KNOOP_API_SUBSCRIBE: s_on_subscribe(self, &req); break;
            case KNOOP_API_ACK:       s_on_ack(self, &req); break;
            case KNOOP_API_STATUS:    s_on_status(self, &req); break;
            case KNOOP_API_BEELD:     s_on_beeld(self, &req); break;
            case KNOOP_API_ROLE:      s_on_role(self, &req); break;
            case KNOOP_API_IMPORT:    s_on_import(self, &req); break;
            case KNOOP_API_CLOSE: {
                api_sub_t *sub = s_sub_find(self, req.u.close.sub);
                if (sub)
                    s_sub_drop(self, sub, "closed by the application");
                break;
            }
            }
            knoop_api_req_clear(&req);
        }
    }
}
