/* wire.c — the wire protocol codec and the checked gate for frames. See wire.h.
 *
 * Decoding runs in four steps, each refusing what the next must not see:
 *   1. size limit (KNOOP_FRAME_MAX), before touching the bytes;
 *   2. a pre-scan that walks the protobuf framing without allocating: it
 *      reads the version (field 1 is fixed forever, so a frame of another
 *      version is refused as KNOOP_EVERSION even when the rest of it would
 *      not parse as version 1), checks that exactly one kind is present and
 *      counts the items of the kind's repeated fields (KNOOP_ETOOBIG before
 *      protobuf-c allocates an array for them);
 *   3. protobuf-c unpack into an arena with a byte budget derived from the
 *      frame's length and item count, so that a small frame cannot make us
 *      allocate a large amount (protobuf-c allocates per field, unknown
 *      fields included) and a big batch costs a few mallocs, not one per
 *      envelope;
 *   4. conversion to the C structs of wire.h, pointing into the arena, and
 *      one check of every field (s_check_frame), the same check the encoder
 *      runs, so a peer never sends what the other side refuses.
 */
#include "wire.h"
#include "msg.h"
#include "topic.h"
#include "utf8.h"
#include "varint.h"

#include "knoop/v1/wire.pb-c.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define S_SOFTWARE_MAX  128     /* Hello.software, bytes */
#define S_REASON_MAX    1024    /* Error.reason and Refusal.reason, bytes */

/* Memory the unpacked form of one frame may take: twice its length (the
 * copied bytes and strings, their rounding) plus a cost per item of its
 * repeated fields (s_item_cost) plus this. Beyond it is padding an attacker
 * stuffed in: protobuf-c spends ~60 bytes on every 2-byte unknown field. */
#define S_BUDGET_FIXED      (64u << 10)

/* ---- names ---- */

static const char *s_err_names[] = {
    "unspecified", "version", "malformed", "too_big", "identity", "policy",
    "chain", "signature", "fork", "full", "protocol", "unknown", "clock",
};

const char *knoop_wire_err_name(knoop_wire_err_t code)
{
    return (unsigned) code <= KNOOP_WERR_LAST ? s_err_names[code] : "invalid";
}

knoop_wire_err_t knoop_wire_err_from(int rc)
{
    switch (rc) {
    case KNOOP_ECHAIN:
    case KNOOP_EGAP:     return KNOOP_WERR_CHAIN;
    case KNOOP_ESIG:     return KNOOP_WERR_SIGNATURE;
    case KNOOP_EFORK:    return KNOOP_WERR_FORK;
    case KNOOP_EUNKNOWN: return KNOOP_WERR_UNKNOWN;
    case KNOOP_EFULL:    return KNOOP_WERR_FULL;
    case KNOOP_EPERM:    return KNOOP_WERR_POLICY;
    default:             return KNOOP_WERR_MALFORMED;
    }
}

/* ---- arena: protobuf-c's allocator for one decoded frame ---- */

typedef struct s_chunk {
    struct s_chunk *next;
    size_t          cap;
    size_t          used;
    max_align_t     data[];
} s_chunk_t;

typedef struct {
    s_chunk_t *chunks;          /* newest first; the oldest holds this struct */
    size_t     total;           /* bytes handed out */
    size_t     budget;
    size_t     next_cap;
    bool       over;            /* a request broke the budget */
    bool       oom;             /* malloc failed */
} s_arena_t;

#define S_ALIGN  sizeof(max_align_t)
#define S_ROUND(n)  (((n) + S_ALIGN - 1) & ~(S_ALIGN - 1))

static s_chunk_t *s_chunk_new(size_t cap)
{
    s_chunk_t *c = malloc(sizeof *c + cap);
    if (c) {
        c->next = NULL;
        c->cap = cap;
        c->used = 0;
    }
    return c;
}

/* The arena lives in its own first chunk: one malloc for a small frame. */
static s_arena_t *s_arena_new(size_t first, size_t budget)
{
    first = S_ROUND(first) + S_ROUND(sizeof(s_arena_t));
    s_chunk_t *c = s_chunk_new(first);
    if (!c)
        return NULL;
    s_arena_t *a = (s_arena_t *) c->data;
    c->used = S_ROUND(sizeof *a);
    memset(a, 0, sizeof *a);
    a->chunks = c;
    a->budget = budget;
    a->next_cap = first;
    return a;
}

static void s_arena_free(s_arena_t *a)
{
    if (!a)
        return;
    s_chunk_t *c = a->chunks;   /* a itself dies with the last chunk */
    while (c) {
        s_chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

static void *s_arena_alloc(void *arg, size_t size)
{
    s_arena_t *a = arg;
    if (size > a->budget)
        size = a->budget + 1;           /* fails below, without overflow */
    size = S_ROUND(size ? size : 1);
    if (size > a->budget - a->total) {
        a->over = true;
        return NULL;
    }
    s_chunk_t *c = a->chunks;
    if (c->cap - c->used < size) {
        size_t cap = a->next_cap < a->budget / 2 ? a->next_cap * 2 : a->next_cap;
        if (cap < size)
            cap = size;
        c = s_chunk_new(cap);
        if (!c) {
            a->oom = true;
            return NULL;
        }
        c->next = a->chunks;
        a->chunks = c;
        a->next_cap = cap;
    }
    void *p = (unsigned char *) c->data + c->used;
    c->used += size;
    a->total += size;
    return p;
}

static void s_arena_nofree(void *arg, void *ptr)
{
    /* Everything goes at once in s_arena_free. */
}

/* ---- pre-scan: protobuf framing without allocation ---- */

/* Read one field at *p: its number, wire type and, for varints, the value;
 * for length-delimited fields the contents. Advances *p past the field.
 * Refuses what protobuf-c refuses: field 0, groups, truncation. */
static bool s_field(const uint8_t **p, const uint8_t *end, uint32_t *num, int *wt,
                    uint64_t *v, const uint8_t **sub, size_t *sublen)
{
    knoop_pb_field_t f;
    if (!knoop_pb_field_next(p, end, &f) || f.num == 0 || f.num > 0x1fffffff)
        return false;
    *num = (uint32_t) f.num;
    *wt = f.wt;
    *v = f.v;
    *sub = f.data;
    *sublen = f.len;
    return true;
}

typedef struct {
    uint32_t version;           /* 0 when absent */
    bool     version_bad;       /* field 1 not a varint */
    uint32_t kind;              /* field number of the kind, 0 = none */
    size_t   nkinds;            /* occurrences of kind fields */
    bool     inner_bad;         /* the kind's contents do not walk */
    size_t   items[5];          /* occurrences of the kind's repeated fields */
    size_t   cost;              /* memory budget they earn */
} s_scan_t;

/* Unpacked memory one item of a repeated field may take beyond its copied
 * bytes: protobuf-c's scan slot (32 bytes; slabs double, so up to 2 per
 * item), array slot, struct, allocation rounding, plus our converted row.
 * Measured at 65536 items: 104 bytes a string, 128 an envelope, 152 an
 * ack, about 300 a StreamPos. */
static size_t s_item_cost(uint32_t kind, uint32_t field)
{
    switch (kind) {
    case KNOOP_FRAME_HELLO:     /* 2 subscriptions, 3 vector */
        return field == 2 ? 192 : field == 3 ? 512 : 0;
    case KNOOP_FRAME_WELCOME:   /* 2 accepted, 3 refused, 4 own */
        return field == 2 ? 192 : field == 3 ? 320 : field == 4 ? 512 : 0;
    case KNOOP_FRAME_PUBLISH:   /* 1 envelopes, 3 certificates */
        return field == 1 || field == 3 ? 192 : 0;
    case KNOOP_FRAME_DELIVER:
        return field == 1 ? 192 : 0;
    case KNOOP_FRAME_ACK:       /* 1 streams */
        return field == 1 ? 256 : 0;
    case KNOOP_FRAME_INSTANCES: /* 1 instances */
        return field == 1 ? 256 : 0;
    case KNOOP_FRAME_HEARTBEAT: /* 2 mesh */
        return field == 2 ? 256 : 0;
    default:
        return 0;
    }
}

static void s_scan_kind(s_scan_t *s, uint32_t kind, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint32_t num;
        int wt;
        uint64_t v;
        const uint8_t *sub;
        size_t sublen;
        if (!s_field(&p, end, &num, &wt, &v, &sub, &sublen)) {
            s->inner_bad = true;
            return;
        }
        size_t cost = s_item_cost(kind, num);
        if (cost) {
            s->items[num]++;
            s->cost += cost;
        }
    }
}

/* False when the top-level framing is broken. */
static bool s_scan(s_scan_t *s, const uint8_t *data, size_t len)
{
    memset(s, 0, sizeof *s);
    if (len == 0)
        return true;                    /* no version: 0 */
    const uint8_t *p = data, *end = data + len;
    while (p < end) {
        uint32_t num;
        int wt;
        uint64_t v;
        const uint8_t *sub;
        size_t sublen;
        if (!s_field(&p, end, &num, &wt, &v, &sub, &sublen))
            return false;
        if (num == 1) {
            if (wt != 0)
                s->version_bad = true;
            /* Low 32 bits, last one wins: what protobuf-c would read. */
            s->version = (uint32_t) v;
        } else if (num >= KNOOP_FRAME_HELLO && num <= KNOOP_FRAME_INSTANCES) {
            s->nkinds++;
            s->kind = num;
            if (wt != 2)
                s->inner_bad = true;
            else
                s_scan_kind(s, num, sub, sublen);
        }
    }
    return true;
}

/* ---- field checks, shared by decode and encode ---- */

/* Text meant for a person (software name, reasons) is checked with
 * knoop_utf8_text_valid: bounded, valid UTF-8 (JSON and terminals need it)
 * and no control characters, so that a peer cannot forge log lines. */
static const uint8_t s_zero_hash[KNOOP_HASH_LEN];

static int s_check_pos(const knoop_wire_pos_t *p)
{
    if (!knoop_id_valid(p->origin))
        return KNOOP_EMALFORMED;
    if (knoop_topic_validate(p->topic) != KNOOP_OK)
        return KNOOP_ETOPIC;
    /* No stream has epoch 0 (the envelope parser refuses it), and the id
     * must be the one its names give: a row that names one stream and
     * carries the id of another would let a peer steer catch-up and policy
     * checks apart. */
    if (p->epoch == 0 || p->stream != knoop_stream_id(p->origin, p->topic, p->epoch))
        return KNOOP_EMALFORMED;
    if (p->hwm == 0 && memcmp(p->head, s_zero_hash, KNOOP_HASH_LEN) != 0)
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static int s_check_pos_list(const knoop_wire_pos_t *v, size_t n)
{
    if (n > KNOOP_FRAME_ITEMS)
        return KNOOP_ETOOBIG;
    if (n && !v)
        return KNOOP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = s_check_pos(&v[i]);
        if (rc)
            return rc;
    }
    return KNOOP_OK;
}

static int s_check_patterns(const char *const *v, size_t n)
{
    if (n > KNOOP_FRAME_ITEMS)
        return KNOOP_ETOOBIG;
    if (n && !v)
        return KNOOP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (knoop_pattern_validate(v[i]) != KNOOP_OK)
            return KNOOP_ETOPIC;
    return KNOOP_OK;
}

static int s_check_frame(const knoop_frame_t *f)
{
    int rc;
    switch (f->kind) {
    case KNOOP_FRAME_HELLO: {
        if (!knoop_id_valid(f->u.hello.partner))
            return KNOOP_EMALFORMED;
        if ((rc = s_check_patterns(f->u.hello.subs, f->u.hello.nsubs)))
            return rc;
        if ((rc = s_check_pos_list(f->u.hello.vector, f->u.hello.nvector)))
            return rc;
        if (!knoop_utf8_text_valid(f->u.hello.software, S_SOFTWARE_MAX))
            return KNOOP_EMALFORMED;
        if (f->u.hello.nlinked > KNOOP_WIRE_LINKED_MAX)
            return KNOOP_ETOOBIG;
        for (size_t i = 0; i < f->u.hello.nlinked; i++)
            if (!knoop_id_valid(f->u.hello.linked[i]))
                return KNOOP_EMALFORMED;
        return KNOOP_OK;
    }
    case KNOOP_FRAME_WELCOME: {
        if (!knoop_id_valid(f->u.welcome.broker))
            return KNOOP_EMALFORMED;
        if ((rc = s_check_patterns(f->u.welcome.accepted, f->u.welcome.naccepted)))
            return rc;
        if (f->u.welcome.nrefused > KNOOP_FRAME_ITEMS)
            return KNOOP_ETOOBIG;
        if (f->u.welcome.nrefused && !f->u.welcome.refused)
            return KNOOP_EINVAL;
        for (size_t i = 0; i < f->u.welcome.nrefused; i++) {
            const knoop_wire_refusal_t *r = &f->u.welcome.refused[i];
            if (knoop_pattern_validate(r->pattern) != KNOOP_OK)
                return KNOOP_ETOPIC;
            if (!knoop_utf8_text_valid(r->reason, S_REASON_MAX))
                return KNOOP_EMALFORMED;
        }
        return s_check_pos_list(f->u.welcome.own, f->u.welcome.nown);
    }
    case KNOOP_FRAME_PUBLISH:
    case KNOOP_FRAME_DELIVER:
        if (f->u.batch.n > KNOOP_FRAME_ITEMS)
            return KNOOP_ETOOBIG;
        if (f->u.batch.n && !f->u.batch.envs)
            return KNOOP_EINVAL;
        /* Only emptiness here: each envelope goes through knoop_msg_parse
         * on its own, so one bad envelope does not sink its batch. */
        for (size_t i = 0; i < f->u.batch.n; i++)
            if (f->u.batch.envs[i].len == 0 || !f->u.batch.envs[i].data)
                return KNOOP_EMALFORMED;
        if (f->u.batch.ncerts && (f->kind != KNOOP_FRAME_PUBLISH || !f->u.batch.forwarded ||
                                  f->u.batch.ncerts > KNOOP_WIRE_FWD_CERTS || !f->u.batch.certs))
            return KNOOP_EINVAL;
        for (size_t i = 0; i < f->u.batch.ncerts; i++)
            if (!f->u.batch.certs[i] || !f->u.batch.certs[i][0] ||
                strlen(f->u.batch.certs[i]) > KNOOP_WIRE_FWD_CERT_MAX)
                return KNOOP_EMALFORMED;
        return KNOOP_OK;
    case KNOOP_FRAME_ACK:
        if (f->u.ack.n > KNOOP_FRAME_ITEMS)
            return KNOOP_ETOOBIG;
        if (f->u.ack.n && !f->u.ack.acks)
            return KNOOP_EINVAL;
        for (size_t i = 0; i < f->u.ack.n; i++)
            if (f->u.ack.acks[i].seq == 0)
                return KNOOP_EMALFORMED;
        return KNOOP_OK;
    case KNOOP_FRAME_ERROR:
        if ((unsigned) f->u.error.code > KNOOP_WERR_LAST)
            return KNOOP_EINVAL;        /* decode maps these to UNSPECIFIED */
        if (!knoop_utf8_text_valid(f->u.error.reason, S_REASON_MAX))
            return KNOOP_EMALFORMED;
        return KNOOP_OK;
    case KNOOP_FRAME_INSTANCES:
        if (f->u.instances.n > KNOOP_INSTANCES_MAX)
            return KNOOP_ETOOBIG;
        if (f->u.instances.n && !f->u.instances.v)
            return KNOOP_EINVAL;
        for (size_t i = 0; i < f->u.instances.n; i++)
            if (f->u.instances.v[i].id == 0 ||
                !knoop_utf8_text_valid(f->u.instances.v[i].reason, S_REASON_MAX))
                return KNOOP_EMALFORMED;
        if (f->u.instances.partner && *f->u.instances.partner &&
            !knoop_id_valid(f->u.instances.partner))
            return KNOOP_EMALFORMED;
        return KNOOP_OK;
    case KNOOP_FRAME_HEARTBEAT:
        if (f->u.heartbeat.nmesh > KNOOP_WIRE_MESH_MAX)
            return KNOOP_ETOOBIG;
        if (f->u.heartbeat.nmesh && !f->u.heartbeat.mesh)
            return KNOOP_EINVAL;
        for (size_t i = 0; i < f->u.heartbeat.nmesh; i++)
            if (!knoop_id_valid(f->u.heartbeat.mesh[i].peer))
                return KNOOP_EMALFORMED;
        return KNOOP_OK;
    case KNOOP_FRAME_CREDIT:
    case KNOOP_FRAME_CAUGHT_UP:
    case KNOOP_FRAME_SYNC:
        return KNOOP_OK;
    }
    return KNOOP_EINVAL;
}

/* ---- decode ---- */

static int s_pos_from_pb(knoop_wire_pos_t *out, const Knoop__V1__StreamPos *pb)
{
    if (!pb)
        return KNOOP_EMALFORMED;
    out->stream = pb->stream;
    out->origin = pb->origin;
    out->topic = pb->topic;
    out->epoch = pb->epoch;
    out->hwm = pb->hwm;
    if (pb->head.len == KNOOP_HASH_LEN)
        memcpy(out->head, pb->head.data, KNOOP_HASH_LEN);
    else if (pb->head.len == 0 && pb->hwm == 0)
        memset(out->head, 0, KNOOP_HASH_LEN);
    else
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

/* An array of n rows from the arena; n == 0 gives NULL. */
static void *s_rows(s_arena_t *a, size_t n, size_t size, int *rc)
{
    if (n == 0)
        return NULL;
    void *p = s_arena_alloc(a, n * size);   /* n <= KNOOP_FRAME_ITEMS: no overflow */
    if (!p)
        *rc = a->oom ? KNOOP_ENOMEM : KNOOP_ETOOBIG;
    return p;
}

static int s_pos_list_from_pb(s_arena_t *a, Knoop__V1__StreamPos **pb, size_t n,
                              const knoop_wire_pos_t **out)
{
    int rc = KNOOP_OK;
    knoop_wire_pos_t *v = s_rows(a, n, sizeof *v, &rc);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == KNOOP_OK; i++)
        rc = s_pos_from_pb(&v[i], pb[i]);
    *out = v;
    return rc;
}

static int s_from_pb(knoop_frame_t *f, s_arena_t *a, const Knoop__V1__Frame *pb)
{
    int rc = KNOOP_OK;
    f->kind = (knoop_frame_kind_t) pb->kind_case;
    switch (pb->kind_case) {
    case KNOOP__V1__FRAME__KIND_HELLO: {
        const Knoop__V1__Hello *h = pb->hello;
        if (!h)
            return KNOOP_EMALFORMED;
        f->u.hello.partner = h->partner;
        f->u.hello.subs = (const char *const *) h->subscriptions;
        f->u.hello.nsubs = h->n_subscriptions;
        f->u.hello.nvector = h->n_vector;
        f->u.hello.credit_msgs = h->credit_msgs;
        f->u.hello.credit_bytes = h->credit_bytes;
        f->u.hello.software = h->software;
        f->u.hello.peer = h->peer;
        f->u.hello.linked = (const char *const *) h->linked;
        f->u.hello.nlinked = h->n_linked;
        return s_pos_list_from_pb(a, h->vector, h->n_vector, &f->u.hello.vector);
    }
    case KNOOP__V1__FRAME__KIND_WELCOME: {
        const Knoop__V1__Welcome *w = pb->welcome;
        if (!w)
            return KNOOP_EMALFORMED;
        f->u.welcome.broker = w->broker;
        f->u.welcome.accepted = (const char *const *) w->accepted;
        f->u.welcome.naccepted = w->n_accepted;
        f->u.welcome.heartbeat_ms = w->heartbeat_ms;
        f->u.welcome.credit_msgs = w->credit_msgs;
        f->u.welcome.credit_bytes = w->credit_bytes;
        f->u.welcome.planned = w->planned;
        knoop_wire_refusal_t *r = s_rows(a, w->n_refused, sizeof *r, &rc);
        if (rc)
            return rc;
        for (size_t i = 0; i < w->n_refused; i++) {
            if (!w->refused[i])
                return KNOOP_EMALFORMED;
            r[i].pattern = w->refused[i]->pattern;
            r[i].reason = w->refused[i]->reason;
        }
        f->u.welcome.refused = r;
        f->u.welcome.nrefused = w->n_refused;
        f->u.welcome.nown = w->n_own;
        return s_pos_list_from_pb(a, w->own, w->n_own, &f->u.welcome.own);
    }
    case KNOOP__V1__FRAME__KIND_PUBLISH:
    case KNOOP__V1__FRAME__KIND_DELIVER: {
        /* Publish and Deliver have the same shape; read whichever is set. */
        size_t n;
        const ProtobufCBinaryData *src;
        if (pb->kind_case == KNOOP__V1__FRAME__KIND_PUBLISH) {
            if (!pb->publish)
                return KNOOP_EMALFORMED;
            n = pb->publish->n_envelopes;
            src = pb->publish->envelopes;
            f->u.batch.forwarded = pb->publish->forwarded;
            /* checked with the rest of the frame (s_check_frame) */
            f->u.batch.certs = (const char *const *) pb->publish->certificates;
            f->u.batch.ncerts = pb->publish->n_certificates;
        } else {
            if (!pb->deliver)
                return KNOOP_EMALFORMED;
            n = pb->deliver->n_envelopes;
            src = pb->deliver->envelopes;
        }
        knoop_bytes_t *v = s_rows(a, n, sizeof *v, &rc);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++) {
            v[i].data = src[i].data;    /* into the arena: no second copy */
            v[i].len = src[i].len;
        }
        f->u.batch.envs = v;
        f->u.batch.n = n;
        return KNOOP_OK;
    }
    case KNOOP__V1__FRAME__KIND_ACK: {
        const Knoop__V1__Ack *k = pb->ack;
        if (!k)
            return KNOOP_EMALFORMED;
        knoop_wire_ack_t *v = s_rows(a, k->n_streams, sizeof *v, &rc);
        if (rc)
            return rc;
        for (size_t i = 0; i < k->n_streams; i++) {
            if (!k->streams[i])
                return KNOOP_EMALFORMED;
            v[i].stream = k->streams[i]->stream;
            v[i].seq = k->streams[i]->seq;
        }
        f->u.ack.acks = v;
        f->u.ack.n = k->n_streams;
        return KNOOP_OK;
    }
    case KNOOP__V1__FRAME__KIND_CREDIT:
        if (!pb->credit)
            return KNOOP_EMALFORMED;
        f->u.credit.msgs = pb->credit->msgs;
        f->u.credit.bytes = pb->credit->bytes;
        return KNOOP_OK;
    case KNOOP__V1__FRAME__KIND_HEARTBEAT: {
        const Knoop__V1__Heartbeat *h = pb->heartbeat;
        if (!h)
            return KNOOP_EMALFORMED;
        f->u.heartbeat.time_ms = h->time_ms;
        if (h->n_mesh > KNOOP_WIRE_MESH_MAX)
            return KNOOP_ETOOBIG;
        knoop_wire_mesh_peer_t *v = s_rows(a, h->n_mesh, sizeof *v, &rc);
        if (rc)
            return rc;
        for (size_t i = 0; i < h->n_mesh; i++) {
            if (!h->mesh[i])
                return KNOOP_EMALFORMED;
            v[i].peer = h->mesh[i]->peer;
            v[i].up = h->mesh[i]->up;
            v[i].in_sync = h->mesh[i]->in_sync;
            v[i].last_sync_ms = h->mesh[i]->last_sync_ms;
        }
        f->u.heartbeat.mesh = v;
        f->u.heartbeat.nmesh = h->n_mesh;
        if (h->mesh_digest.len == KNOOP_HASH_LEN) {
            f->u.heartbeat.has_digest = true;
            memcpy(f->u.heartbeat.digest, h->mesh_digest.data, KNOOP_HASH_LEN);
        } else if (h->mesh_digest.len != 0) {
            return KNOOP_EMALFORMED;
        }
        return KNOOP_OK;
    }
    case KNOOP__V1__FRAME__KIND_ERROR: {
        const Knoop__V1__Error *e = pb->error;
        if (!e)
            return KNOOP_EMALFORMED;
        /* proto3 enums are open: a newer peer may send codes we do not
         * know. They are still errors, just unnamed ones. */
        int code = (int) e->code;
        f->u.error.code = code >= 0 && code <= KNOOP_WERR_LAST
                              ? (knoop_wire_err_t) code : KNOOP_WERR_UNSPECIFIED;
        f->u.error.reason = e->reason;
        f->u.error.stream = e->stream;
        f->u.error.seq = e->seq;
        f->u.error.fatal = e->fatal;
        return KNOOP_OK;
    }
    case KNOOP__V1__FRAME__KIND_CAUGHT_UP:
        if (!pb->caught_up)
            return KNOOP_EMALFORMED;
        f->u.caught_up.messages = pb->caught_up->messages;
        f->u.caught_up.streams = pb->caught_up->streams;
        return KNOOP_OK;
    case KNOOP__V1__FRAME__KIND_SYNC:
        if (!pb->sync || pb->sync->digest.len != KNOOP_HASH_LEN)
            return KNOOP_EMALFORMED;
        memcpy(f->u.sync.digest, pb->sync->digest.data, KNOOP_HASH_LEN);
        f->u.sync.streams = pb->sync->streams;
        f->u.sync.messages = pb->sync->messages;
        return KNOOP_OK;
    case KNOOP__V1__FRAME__KIND_INSTANCES: {
        const Knoop__V1__Instances *k = pb->instances;
        if (!k)
            return KNOOP_EMALFORMED;
        if (k->n_instances > KNOOP_INSTANCES_MAX)
            return KNOOP_ETOOBIG;
        knoop_wire_instance_t *v = s_rows(a, k->n_instances, sizeof *v, &rc);
        if (rc)
            return rc;
        for (size_t i = 0; i < k->n_instances; i++) {
            const Knoop__V1__Instance *in = k->instances[i];
            if (!in)
                return KNOOP_EMALFORMED;
            v[i].id = in->id;
            v[i].active = in->active;
            v[i].term = in->term;
            v[i].since_ms = in->since_ms;
            v[i].reason = in->reason;
        }
        f->u.instances.v = v;
        f->u.instances.n = k->n_instances;
        f->u.instances.partner = k->partner;
        return KNOOP_OK;
    }
    default:
        return KNOOP_EMALFORMED;
    }
}

int knoop_frame_decode(knoop_frame_t *f, const uint8_t *data, size_t len)
{
    assert(f);
    assert(data || len == 0);
    memset(f, 0, sizeof *f);
    if (len > KNOOP_FRAME_MAX)
        return KNOOP_ETOOBIG;

    s_scan_t scan;
    if (!s_scan(&scan, data, len) || scan.version_bad)
        return KNOOP_EMALFORMED;
    if (scan.version != KNOOP_WIRE_VERSION) {
        f->version = scan.version;
        return KNOOP_EVERSION;
    }
    /* Exactly one kind: protobuf-c would silently keep the last of several,
     * and no encoder of ours writes two. */
    if (scan.nkinds != 1 || scan.inner_bad)
        return KNOOP_EMALFORMED;
    for (int i = 1; i < 5; i++)
        if (scan.items[i] > KNOOP_FRAME_ITEMS)
            return KNOOP_ETOOBIG;

    /* Counts are bounded now, and so is the budget: twice the length plus,
     * at most, 64 MiB for a WELCOME with 65536 rows in each list (which
     * needs ~37). A big batch fits the first chunk: one malloc, not one per
     * envelope. */
    size_t budget = 2 * len + scan.cost + S_BUDGET_FIXED;
    s_arena_t *a = s_arena_new(len + len / 4 + scan.cost / 2 + 1024, budget);
    if (!a)
        return KNOOP_ENOMEM;
    ProtobufCAllocator alloc = { s_arena_alloc, s_arena_nofree, a };
    Knoop__V1__Frame *pb = knoop__v1__frame__unpack(&alloc, len, data);
    int rc;
    if (!pb) {
        rc = a->oom ? KNOOP_ENOMEM : a->over ? KNOOP_ETOOBIG : KNOOP_EMALFORMED;
        goto fail;
    }
    if (pb->version != KNOOP_WIRE_VERSION) {       /* the scan said otherwise */
        f->version = pb->version;
        rc = KNOOP_EVERSION;
        goto fail;
    }
    f->version = pb->version;
    f->priv_ = a;
    rc = s_from_pb(f, a, pb);
    if (rc == KNOOP_OK)
        rc = s_check_frame(f);
    if (rc == KNOOP_EINVAL)         /* what a caller may not encode, received: malformed */
        rc = KNOOP_EMALFORMED;
    if (rc == KNOOP_OK)
        return KNOOP_OK;
    f->priv_ = NULL;
fail:
    s_arena_free(a);
    uint32_t version = f->version;
    memset(f, 0, sizeof *f);
    if (rc == KNOOP_EVERSION)
        f->version = version;
    return rc;
}

void knoop_frame_clear(knoop_frame_t *f)
{
    if (!f)
        return;
    s_arena_free(f->priv_);
    memset(f, 0, sizeof *f);
}

/* ---- encode ---- */

/* Scratch for the protobuf-c structs of one encode: on the stack for small
 * frames, else one malloc for all rows. */
typedef struct {
    max_align_t    stack[256];
    unsigned char *heap;
    unsigned char *next;
    size_t         left;
} s_scratch_t;

static int s_scratch_init(s_scratch_t *s, size_t need)
{
    s->heap = NULL;
    if (need <= sizeof s->stack) {
        s->next = (unsigned char *) s->stack;
        s->left = sizeof s->stack;
    } else {
        s->heap = malloc(need);
        if (!s->heap)
            return KNOOP_ENOMEM;
        s->next = s->heap;
        s->left = need;
    }
    return KNOOP_OK;
}

/* Rows are multiples of 8 bytes (pointers and uint64s), so carving them one
 * after the other keeps each aligned. */
static void *s_scratch_take(s_scratch_t *s, size_t size)
{
    assert(size <= s->left && size % 8 == 0);
    void *p = s->next;
    s->next += size;
    s->left -= size;
    return p;
}

static size_t s_pos_need(size_t n)
{
    return n * (sizeof(Knoop__V1__StreamPos) + sizeof(Knoop__V1__StreamPos *));
}

static Knoop__V1__StreamPos **s_pos_list_to_pb(s_scratch_t *s, const knoop_wire_pos_t *v,
                                               size_t n)
{
    if (n == 0)
        return NULL;
    Knoop__V1__StreamPos *rows = s_scratch_take(s, n * sizeof *rows);
    Knoop__V1__StreamPos **ptrs = s_scratch_take(s, n * sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        knoop__v1__stream_pos__init(&rows[i]);
        rows[i].stream = v[i].stream;
        rows[i].origin = (char *) v[i].origin;
        rows[i].topic = (char *) v[i].topic;
        rows[i].epoch = v[i].epoch;
        rows[i].hwm = v[i].hwm;
        /* chain(0) is all zeros and goes on the wire as nothing. */
        rows[i].head.data = (uint8_t *) v[i].head;
        rows[i].head.len = v[i].hwm ? KNOOP_HASH_LEN : 0;
        ptrs[i] = &rows[i];
    }
    return ptrs;
}

int knoop_frame_encode(const knoop_frame_t *f, knoop_buf_t *out)
{
    assert(f && out);
    int rc = s_check_frame(f);
    if (rc)
        return rc == KNOOP_ETOOBIG ? rc : KNOOP_EINVAL;

    Knoop__V1__Frame pb = KNOOP__V1__FRAME__INIT;
    Knoop__V1__Hello hello = KNOOP__V1__HELLO__INIT;
    Knoop__V1__Welcome welcome = KNOOP__V1__WELCOME__INIT;
    Knoop__V1__Publish publish = KNOOP__V1__PUBLISH__INIT;
    Knoop__V1__Deliver deliver = KNOOP__V1__DELIVER__INIT;
    Knoop__V1__Ack ack = KNOOP__V1__ACK__INIT;
    Knoop__V1__Credit credit = KNOOP__V1__CREDIT__INIT;
    Knoop__V1__Heartbeat heartbeat = KNOOP__V1__HEARTBEAT__INIT;
    Knoop__V1__Error error = KNOOP__V1__ERROR__INIT;
    Knoop__V1__CaughtUp caught_up = KNOOP__V1__CAUGHT_UP__INIT;
    Knoop__V1__Sync sync = KNOOP__V1__SYNC__INIT;
    Knoop__V1__Instances instances = KNOOP__V1__INSTANCES__INIT;
    pb.version = KNOOP_WIRE_VERSION;
    pb.kind_case = (Knoop__V1__Frame__KindCase) f->kind;

    size_t need = 0;
    switch (f->kind) {
    case KNOOP_FRAME_HELLO:
        need = s_pos_need(f->u.hello.nvector);
        break;
    case KNOOP_FRAME_WELCOME:
        need = s_pos_need(f->u.welcome.nown) +
               f->u.welcome.nrefused * (sizeof(Knoop__V1__Refusal) +
                                        sizeof(Knoop__V1__Refusal *));
        break;
    case KNOOP_FRAME_PUBLISH:
    case KNOOP_FRAME_DELIVER:
        need = f->u.batch.n * sizeof(ProtobufCBinaryData);
        break;
    case KNOOP_FRAME_ACK:
        need = f->u.ack.n * (sizeof(Knoop__V1__StreamAck) + sizeof(Knoop__V1__StreamAck *));
        break;
    case KNOOP_FRAME_INSTANCES:
        need = f->u.instances.n * (sizeof(Knoop__V1__Instance) + sizeof(Knoop__V1__Instance *));
        break;
    case KNOOP_FRAME_HEARTBEAT:
        need = f->u.heartbeat.nmesh * (sizeof(Knoop__V1__MeshPeer) + sizeof(Knoop__V1__MeshPeer *));
        break;
    default:
        break;
    }
    s_scratch_t s;
    if ((rc = s_scratch_init(&s, need)))
        return rc;

    switch (f->kind) {
    case KNOOP_FRAME_HELLO:
        hello.partner = (char *) f->u.hello.partner;
        hello.n_subscriptions = f->u.hello.nsubs;
        hello.subscriptions = (char **) f->u.hello.subs;
        hello.n_vector = f->u.hello.nvector;
        hello.vector = s_pos_list_to_pb(&s, f->u.hello.vector, f->u.hello.nvector);
        hello.credit_msgs = f->u.hello.credit_msgs;
        hello.credit_bytes = f->u.hello.credit_bytes;
        hello.software = (char *) f->u.hello.software;
        hello.peer = f->u.hello.peer;
        hello.n_linked = f->u.hello.nlinked;
        hello.linked = (char **) f->u.hello.linked;
        pb.hello = &hello;
        break;
    case KNOOP_FRAME_WELCOME: {
        welcome.broker = (char *) f->u.welcome.broker;
        welcome.n_accepted = f->u.welcome.naccepted;
        welcome.accepted = (char **) f->u.welcome.accepted;
        size_t nr = f->u.welcome.nrefused;
        if (nr) {
            Knoop__V1__Refusal *rows = s_scratch_take(&s, nr * sizeof *rows);
            Knoop__V1__Refusal **ptrs = s_scratch_take(&s, nr * sizeof *ptrs);
            for (size_t i = 0; i < nr; i++) {
                knoop__v1__refusal__init(&rows[i]);
                rows[i].pattern = (char *) f->u.welcome.refused[i].pattern;
                rows[i].reason = (char *) f->u.welcome.refused[i].reason;
                ptrs[i] = &rows[i];
            }
            welcome.refused = ptrs;
        }
        welcome.n_refused = nr;
        welcome.n_own = f->u.welcome.nown;
        welcome.own = s_pos_list_to_pb(&s, f->u.welcome.own, f->u.welcome.nown);
        welcome.heartbeat_ms = f->u.welcome.heartbeat_ms;
        welcome.credit_msgs = f->u.welcome.credit_msgs;
        welcome.credit_bytes = f->u.welcome.credit_bytes;
        welcome.planned = f->u.welcome.planned;
        pb.welcome = &welcome;
        break;
    }
    case KNOOP_FRAME_PUBLISH:
    case KNOOP_FRAME_DELIVER: {
        size_t n = f->u.batch.n;
        ProtobufCBinaryData *v = n ? s_scratch_take(&s, n * sizeof *v) : NULL;
        for (size_t i = 0; i < n; i++) {
            v[i].data = (uint8_t *) f->u.batch.envs[i].data;
            v[i].len = f->u.batch.envs[i].len;
        }
        if (f->kind == KNOOP_FRAME_PUBLISH) {
            publish.n_envelopes = n;
            publish.envelopes = v;
            publish.forwarded = f->u.batch.forwarded;
            publish.n_certificates = f->u.batch.forwarded ? f->u.batch.ncerts : 0;
            publish.certificates = (char **) f->u.batch.certs;
            pb.publish = &publish;
        } else {
            deliver.n_envelopes = n;
            deliver.envelopes = v;
            pb.deliver = &deliver;
        }
        break;
    }
    case KNOOP_FRAME_ACK: {
        size_t n = f->u.ack.n;
        if (n) {
            Knoop__V1__StreamAck *rows = s_scratch_take(&s, n * sizeof *rows);
            Knoop__V1__StreamAck **ptrs = s_scratch_take(&s, n * sizeof *ptrs);
            for (size_t i = 0; i < n; i++) {
                knoop__v1__stream_ack__init(&rows[i]);
                rows[i].stream = f->u.ack.acks[i].stream;
                rows[i].seq = f->u.ack.acks[i].seq;
                ptrs[i] = &rows[i];
            }
            ack.streams = ptrs;
        }
        ack.n_streams = n;
        pb.ack = &ack;
        break;
    }
    case KNOOP_FRAME_CREDIT:
        credit.msgs = f->u.credit.msgs;
        credit.bytes = f->u.credit.bytes;
        pb.credit = &credit;
        break;
    case KNOOP_FRAME_HEARTBEAT: {
        heartbeat.time_ms = f->u.heartbeat.time_ms;
        size_t n = f->u.heartbeat.nmesh;
        if (n) {
            Knoop__V1__MeshPeer *rows = s_scratch_take(&s, n * sizeof *rows);
            Knoop__V1__MeshPeer **ptrs = s_scratch_take(&s, n * sizeof *ptrs);
            for (size_t i = 0; i < n; i++) {
                knoop__v1__mesh_peer__init(&rows[i]);
                rows[i].peer = (char *) f->u.heartbeat.mesh[i].peer;
                rows[i].up = f->u.heartbeat.mesh[i].up;
                rows[i].in_sync = f->u.heartbeat.mesh[i].in_sync;
                rows[i].last_sync_ms = f->u.heartbeat.mesh[i].last_sync_ms;
                ptrs[i] = &rows[i];
            }
            heartbeat.mesh = ptrs;
        }
        heartbeat.n_mesh = n;
        if (f->u.heartbeat.has_digest) {
            heartbeat.mesh_digest.data = (uint8_t *) f->u.heartbeat.digest;
            heartbeat.mesh_digest.len = KNOOP_HASH_LEN;
        }
        pb.heartbeat = &heartbeat;
        break;
    }
    case KNOOP_FRAME_ERROR:
        error.code = (Knoop__V1__Error__Code) f->u.error.code;
        error.reason = (char *) f->u.error.reason;
        error.stream = f->u.error.stream;
        error.seq = f->u.error.seq;
        error.fatal = f->u.error.fatal;
        pb.error = &error;
        break;
    case KNOOP_FRAME_CAUGHT_UP:
        caught_up.messages = f->u.caught_up.messages;
        caught_up.streams = f->u.caught_up.streams;
        pb.caught_up = &caught_up;
        break;
    case KNOOP_FRAME_SYNC:
        sync.digest.data = (uint8_t *) f->u.sync.digest;
        sync.digest.len = KNOOP_HASH_LEN;
        sync.streams = f->u.sync.streams;
        sync.messages = f->u.sync.messages;
        pb.sync = &sync;
        break;
    case KNOOP_FRAME_INSTANCES: {
        size_t n = f->u.instances.n;
        if (n) {
            Knoop__V1__Instance *rows = s_scratch_take(&s, n * sizeof *rows);
            Knoop__V1__Instance **ptrs = s_scratch_take(&s, n * sizeof *ptrs);
            for (size_t i = 0; i < n; i++) {
                const knoop_wire_instance_t *in = &f->u.instances.v[i];
                knoop__v1__instance__init(&rows[i]);
                rows[i].id = in->id;
                rows[i].active = in->active;
                rows[i].term = in->term;
                rows[i].since_ms = in->since_ms;
                rows[i].reason = (char *) (in->reason ? in->reason : "");
                ptrs[i] = &rows[i];
            }
            instances.instances = ptrs;
        }
        instances.n_instances = n;
        instances.partner = (char *) (f->u.instances.partner ? f->u.instances.partner : "");
        pb.instances = &instances;
        break;
    }
    }

    size_t n = knoop__v1__frame__get_packed_size(&pb);
    if (n > KNOOP_FRAME_MAX)
        rc = KNOOP_ETOOBIG;
    else if ((rc = knoop_buf_reserve(out, n)) == KNOOP_OK)
        out->len += knoop__v1__frame__pack(&pb, out->data + out->len);
    free(s.heap);
    return rc;
}

/* ---- sizes ---- */

size_t knoop_frame_batch_size(size_t n, size_t total_bytes)
{
    /* Per envelope: tag (1 byte) and a length no longer than that of the
     * whole. Around them: version (tag + 1), kind tag (1), kind length. */
    size_t per = 1 + knoop_varint_len(total_bytes);
    if (total_bytes > SIZE_MAX / 2 || n > (SIZE_MAX - total_bytes - 16) / per)
        return SIZE_MAX;
    size_t inner = n * per + total_bytes;
    return 2 + 1 + knoop_varint_len(inner) + inner;
}
