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
 *
 * Each kind is one row of s_kinds: its protobuf-c message, the map of its
 * fields onto the kind's member of knoop_frame_t (pbcodec.h; hooks for the
 * fixed-size hashes and the open Error.code), its check, and what an item
 * of each repeated field costs the decode budget. Encode and decode both
 * run from that row, so a field is named once.
 */
#include "wire.h"
#include "msg.h"
#include "topic.h"
#include "utf8.h"
#include "varint.h"
#include "pbcodec.h"

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

/* ---- field checks, shared by decode and encode ---- */

/* Text meant for a person (software name, reasons) is checked with
 * knoop_utf8_text_valid: bounded, valid UTF-8 (JSON and terminals need it)
 * and no control characters, so that a peer cannot forge log lines. */
static const uint8_t s_zero_hash[KNOOP_HASH_LEN];

/* A list of n rows of size bytes: at most max (else KNOOP_ETOOBIG), a
 * pointer when n > 0 (KNOOP_EINVAL: a caller's mistake), and each row passing
 * check, in order; the first failure is the answer. */
static int s_check_rows(const void *v, size_t n, size_t size, size_t max,
                        int (*check)(const void *row))
{
    if (n > max)
        return KNOOP_ETOOBIG;
    if (n && !v)
        return KNOOP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rc = check((const char *) v + i * size);
        if (rc)
            return rc;
    }
    return KNOOP_OK;
}

static int s_check_pos(const void *row)
{
    const knoop_wire_pos_t *p = row;
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

static int s_check_pattern(const void *row)
{
    return knoop_pattern_validate(*(const char *const *) row) != KNOOP_OK ? KNOOP_ETOPIC
                                                                          : KNOOP_OK;
}

static int s_check_id(const void *row)
{
    return knoop_id_valid(*(const char *const *) row) ? KNOOP_OK : KNOOP_EMALFORMED;
}

static int s_check_refusal(const void *row)
{
    const knoop_wire_refusal_t *r = row;
    if (knoop_pattern_validate(r->pattern) != KNOOP_OK)
        return KNOOP_ETOPIC;
    return knoop_utf8_text_valid(r->reason, S_REASON_MAX) ? KNOOP_OK : KNOOP_EMALFORMED;
}

/* Only emptiness here: each envelope goes through knoop_msg_parse on its
 * own, so one bad envelope does not sink its batch. */
static int s_check_envelope(const void *row)
{
    const knoop_bytes_t *e = row;
    return e->len == 0 || !e->data ? KNOOP_EMALFORMED : KNOOP_OK;
}

static int s_check_cert(const void *row)
{
    const char *c = *(const char *const *) row;
    return !c || !c[0] || strlen(c) > KNOOP_WIRE_FWD_CERT_MAX ? KNOOP_EMALFORMED : KNOOP_OK;
}

static int s_check_ack_row(const void *row)
{
    return ((const knoop_wire_ack_t *) row)->seq == 0 ? KNOOP_EMALFORMED : KNOOP_OK;
}

static int s_check_instance(const void *row)
{
    const knoop_wire_instance_t *in = row;
    return in->id == 0 || !knoop_utf8_text_valid(in->reason, S_REASON_MAX) ? KNOOP_EMALFORMED
                                                                            : KNOOP_OK;
}

static int s_check_mesh_peer(const void *row)
{
    return s_check_id(&((const knoop_wire_mesh_peer_t *) row)->peer);
}

static int s_check_bucket(const void *row)
{
    const knoop_wire_bucket_t *b = row;
    return b->bucket >= KNOOP_WIRE_BUCKETS || b->count == 0 ? KNOOP_EMALFORMED : KNOOP_OK;
}

#define S_ROWS(v, n, max, check)  s_check_rows((v), (n), sizeof *(v), (max), (check))

/* The settled summary: each bucket in range and named once, a T with it
 * (a summary without T would say nothing). */
static int s_check_settled(const knoop_frame_t *f)
{
    int rc = S_ROWS(f->u.hello.settled, f->u.hello.nsettled, KNOOP_WIRE_BUCKETS,
                    s_check_bucket);
    if (rc)
        return rc;
    if (f->u.hello.nsettled && !f->u.hello.settled_hlc)
        return KNOOP_EMALFORMED;
    uint8_t seen[KNOOP_WIRE_BUCKETS / 8] = { 0 };
    for (size_t i = 0; i < f->u.hello.nsettled; i++) {
        uint32_t b = f->u.hello.settled[i].bucket;
        if (seen[b / 8] & (1u << (b % 8)))
            return KNOOP_EMALFORMED;
        seen[b / 8] |= (uint8_t) (1u << (b % 8));
    }
    return KNOOP_OK;
}

/* One check per kind with fields to check (the kind table names it). */

static int s_check_hello(const knoop_frame_t *f)
{
    int rc;
    if (!knoop_id_valid(f->u.hello.partner))
        return KNOOP_EMALFORMED;
    if ((rc = S_ROWS(f->u.hello.subs, f->u.hello.nsubs, KNOOP_FRAME_ITEMS, s_check_pattern)) ||
        (rc = S_ROWS(f->u.hello.vector, f->u.hello.nvector, KNOOP_FRAME_ITEMS, s_check_pos)))
        return rc;
    if (!knoop_utf8_text_valid(f->u.hello.software, S_SOFTWARE_MAX))
        return KNOOP_EMALFORMED;
    if ((rc = s_check_settled(f)))
        return rc;
    return S_ROWS(f->u.hello.linked, f->u.hello.nlinked, KNOOP_WIRE_LINKED_MAX, s_check_id);
}

static int s_check_welcome(const knoop_frame_t *f)
{
    int rc;
    if (!knoop_id_valid(f->u.welcome.broker))
        return KNOOP_EMALFORMED;
    if ((rc = S_ROWS(f->u.welcome.accepted, f->u.welcome.naccepted, KNOOP_FRAME_ITEMS,
                     s_check_pattern)) ||
        (rc = S_ROWS(f->u.welcome.refused, f->u.welcome.nrefused, KNOOP_FRAME_ITEMS,
                     s_check_refusal)))
        return rc;
    return S_ROWS(f->u.welcome.own, f->u.welcome.nown, KNOOP_FRAME_ITEMS, s_check_pos);
}

/* PUBLISH and DELIVER; certificates only with a forwarded PUBLISH. */
static int s_check_batch(const knoop_frame_t *f)
{
    int rc = S_ROWS(f->u.batch.envs, f->u.batch.n, KNOOP_FRAME_ITEMS, s_check_envelope);
    if (rc)
        return rc;
    if (f->u.batch.ncerts && (f->kind != KNOOP_FRAME_PUBLISH || !f->u.batch.forwarded ||
                              f->u.batch.ncerts > KNOOP_WIRE_FWD_CERTS))
        return KNOOP_EINVAL;
    return S_ROWS(f->u.batch.certs, f->u.batch.ncerts, KNOOP_WIRE_FWD_CERTS, s_check_cert);
}

static int s_check_ack(const knoop_frame_t *f)
{
    return S_ROWS(f->u.ack.acks, f->u.ack.n, KNOOP_FRAME_ITEMS, s_check_ack_row);
}

static int s_check_error(const knoop_frame_t *f)
{
    if ((unsigned) f->u.error.code > KNOOP_WERR_LAST)
        return KNOOP_EINVAL;        /* decode maps these to UNSPECIFIED */
    if (!knoop_utf8_text_valid(f->u.error.reason, S_REASON_MAX))
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static int s_check_instances(const knoop_frame_t *f)
{
    int rc = S_ROWS(f->u.instances.v, f->u.instances.n, KNOOP_INSTANCES_MAX, s_check_instance);
    if (rc)
        return rc;
    if (f->u.instances.partner && *f->u.instances.partner &&
        !knoop_id_valid(f->u.instances.partner))
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static int s_check_heartbeat(const knoop_frame_t *f)
{
    return S_ROWS(f->u.heartbeat.mesh, f->u.heartbeat.nmesh, KNOOP_WIRE_MESH_MAX,
                  s_check_mesh_peer);
}

/* ---- maps: each kind's protobuf fields and where they live in wire.h ---- */

#define S_F     KNOOP_PBC_FIELD
/* ... of the frame's union member for a kind */
#define S_K(num, m)                    KNOOP_PBC_FIELD(num, knoop_frame_t, u.m)
#define S_KL(num, m, count, max, rows) KNOOP_PBC_LIST(num, knoop_frame_t, u.m, u.count, max, rows)
#define S_MAP(desc, T, fields, in, out) KNOOP_PBC_MAP(desc, T, fields, in, NULL, out)

_Static_assert(sizeof(knoop_wire_err_t) == sizeof(int32_t), "Error.code maps onto the C enum");

/* A bytes field of exactly len bytes into dst. */
static int s_bytes_in(uint8_t *dst, const ProtobufCBinaryData *b, size_t len)
{
    if (b->len != len)
        return KNOOP_EMALFORMED;
    memcpy(dst, b->data, len);
    return KNOOP_OK;
}

/* A bytes field of exactly len bytes, or nothing (*has stays false). */
static int s_bytes_opt_in(uint8_t *dst, bool *has, const ProtobufCBinaryData *b, size_t len)
{
    if (b->len == 0)
        return KNOOP_OK;
    int rc = s_bytes_in(dst, b, len);
    *has = rc == KNOOP_OK;
    return rc;
}

/* Points the field at src (borrowed until the message is packed). */
static void s_bytes_out(ProtobufCBinaryData *b, const uint8_t *src, size_t len)
{
    b->data = (uint8_t *) src;
    b->len = len;
}

/* StreamPos.head: chain(hwm), 32 bytes; nothing on the wire when hwm == 0. */
static int s_pos_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_wire_pos_t *out = c;
    const Knoop__V1__StreamPos *p = pb;
    if (p->head.len == KNOOP_HASH_LEN)
        memcpy(out->head, p->head.data, KNOOP_HASH_LEN);
    else if (p->head.len == 0 && p->hwm == 0)
        memset(out->head, 0, KNOOP_HASH_LEN);
    else
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static int s_pos_out(void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    Knoop__V1__StreamPos *p = pb;
    const knoop_wire_pos_t *in = c;
    p->head.data = (uint8_t *) in->head;
    p->head.len = in->hwm ? KNOOP_HASH_LEN : 0;
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_pos_fields[] = {
    S_F(1, knoop_wire_pos_t, stream), S_F(2, knoop_wire_pos_t, origin),
    S_F(3, knoop_wire_pos_t, topic),  S_F(4, knoop_wire_pos_t, epoch),
    S_F(5, knoop_wire_pos_t, hwm),
};
static const knoop_pbc_msg_t s_pos_map =
    S_MAP(knoop__v1__stream_pos__descriptor, knoop_wire_pos_t, s_pos_fields, s_pos_in, s_pos_out);

/* SettledBucket.digest: exactly 16 bytes. */
static int s_bucket_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_wire_bucket_t *out = c;
    const Knoop__V1__SettledBucket *b = pb;
    return s_bytes_in(out->digest, &b->digest, KNOOP_WIRE_BUCKET_DIGEST);
}

static int s_bucket_out(void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    Knoop__V1__SettledBucket *b = pb;
    const knoop_wire_bucket_t *in = c;
    s_bytes_out(&b->digest, in->digest, KNOOP_WIRE_BUCKET_DIGEST);
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_bucket_fields[] = {
    S_F(1, knoop_wire_bucket_t, bucket), S_F(2, knoop_wire_bucket_t, count),
};
static const knoop_pbc_msg_t s_bucket_map =
    S_MAP(knoop__v1__settled_bucket__descriptor, knoop_wire_bucket_t, s_bucket_fields,
          s_bucket_in, s_bucket_out);

static const knoop_pbc_field_t s_refusal_fields[] = {
    S_F(1, knoop_wire_refusal_t, pattern), S_F(2, knoop_wire_refusal_t, reason),
};
static const knoop_pbc_msg_t s_refusal_map =
    S_MAP(knoop__v1__refusal__descriptor, knoop_wire_refusal_t, s_refusal_fields, NULL, NULL);

static const knoop_pbc_field_t s_ack_row_fields[] = {
    S_F(1, knoop_wire_ack_t, stream), S_F(2, knoop_wire_ack_t, seq),
};
static const knoop_pbc_msg_t s_ack_row_map =
    S_MAP(knoop__v1__stream_ack__descriptor, knoop_wire_ack_t, s_ack_row_fields, NULL, NULL);

static const knoop_pbc_field_t s_mesh_fields[] = {
    S_F(1, knoop_wire_mesh_peer_t, peer),    S_F(2, knoop_wire_mesh_peer_t, up),
    S_F(3, knoop_wire_mesh_peer_t, in_sync), S_F(4, knoop_wire_mesh_peer_t, last_sync_ms),
};
static const knoop_pbc_msg_t s_mesh_map =
    S_MAP(knoop__v1__mesh_peer__descriptor, knoop_wire_mesh_peer_t, s_mesh_fields, NULL, NULL);

static const knoop_pbc_field_t s_instance_fields[] = {
    S_F(1, knoop_wire_instance_t, id),       S_F(2, knoop_wire_instance_t, active),
    S_F(3, knoop_wire_instance_t, term),     S_F(4, knoop_wire_instance_t, since_ms),
    S_F(5, knoop_wire_instance_t, reason),
};
static const knoop_pbc_msg_t s_instance_map =
    S_MAP(knoop__v1__instance__descriptor, knoop_wire_instance_t, s_instance_fields, NULL, NULL);

static const knoop_pbc_field_t s_hello_fields[] = {
    S_K(1, hello.partner),
    S_KL(2, hello.subs, hello.nsubs, 0, NULL),
    S_KL(3, hello.vector, hello.nvector, 0, &s_pos_map),
    S_K(4, hello.credit_msgs), S_K(5, hello.credit_bytes),
    S_K(6, hello.software),    S_K(7, hello.peer),
    S_KL(8, hello.linked, hello.nlinked, 0, NULL),
    S_K(9, hello.settled_hlc),
    S_KL(10, hello.settled, hello.nsettled, 0, &s_bucket_map),
};

/* Welcome.settled_matched_set: 128 bytes, or nothing without a summary. */
static int s_welcome_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_frame_t *f = c;
    const Knoop__V1__Welcome *w = pb;
    return s_bytes_opt_in(f->u.welcome.matched_set, &f->u.welcome.has_matched_set,
                          &w->settled_matched_set, sizeof f->u.welcome.matched_set);
}

static int s_welcome_out(void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    const knoop_frame_t *f = c;
    Knoop__V1__Welcome *w = pb;
    if (f->u.welcome.has_matched_set)
        s_bytes_out(&w->settled_matched_set, f->u.welcome.matched_set,
                    sizeof f->u.welcome.matched_set);
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_welcome_fields[] = {
    S_K(1, welcome.broker),
    S_KL(2, welcome.accepted, welcome.naccepted, 0, NULL),
    S_KL(3, welcome.refused, welcome.nrefused, 0, &s_refusal_map),
    S_KL(4, welcome.own, welcome.nown, 0, &s_pos_map),
    S_K(5, welcome.heartbeat_ms), S_K(6, welcome.credit_msgs),
    S_K(7, welcome.credit_bytes), S_K(8, welcome.planned),
    S_K(9, welcome.settled_matched), S_K(10, welcome.settled_missed),
};

/* Publish and Deliver fill the same C member; only Publish forwards. */
static const knoop_pbc_field_t s_publish_fields[] = {
    S_KL(1, batch.envs, batch.n, 0, NULL),
    S_K(2, batch.forwarded),
    S_KL(3, batch.certs, batch.ncerts, 0, NULL),
};
static const knoop_pbc_field_t s_deliver_fields[] = {
    S_KL(1, batch.envs, batch.n, 0, NULL),
};

static const knoop_pbc_field_t s_ack_fields[] = {
    S_KL(1, ack.acks, ack.n, 0, &s_ack_row_map),
};

static const knoop_pbc_field_t s_credit_fields[] = {
    S_K(1, credit.msgs), S_K(2, credit.bytes),
};

/* Heartbeat.mesh_digest: 32 bytes, or nothing when the broker has none. */
static int s_heartbeat_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_frame_t *f = c;
    const Knoop__V1__Heartbeat *h = pb;
    return s_bytes_opt_in(f->u.heartbeat.digest, &f->u.heartbeat.has_digest, &h->mesh_digest,
                          KNOOP_HASH_LEN);
}

static int s_heartbeat_out(void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    const knoop_frame_t *f = c;
    Knoop__V1__Heartbeat *h = pb;
    if (f->u.heartbeat.has_digest)
        s_bytes_out(&h->mesh_digest, f->u.heartbeat.digest, KNOOP_HASH_LEN);
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_heartbeat_fields[] = {
    S_K(1, heartbeat.time_ms),
    S_KL(2, heartbeat.mesh, heartbeat.nmesh, KNOOP_WIRE_MESH_MAX, &s_mesh_map),
};

/* proto3 enums are open: a newer peer may send codes we do not know. They
 * are still errors, just unnamed ones. */
static int s_error_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_frame_t *f = c;
    if ((unsigned) f->u.error.code > KNOOP_WERR_LAST)
        f->u.error.code = KNOOP_WERR_UNSPECIFIED;
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_error_fields[] = {
    S_K(1, error.code),   S_K(2, error.reason), S_K(3, error.stream),
    S_K(4, error.seq),    S_K(5, error.fatal),
};

static const knoop_pbc_field_t s_caught_up_fields[] = {
    S_K(1, caught_up.messages), S_K(2, caught_up.streams),
};

/* Sync.digest: always 32 bytes. */
static int s_sync_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_frame_t *f = c;
    const Knoop__V1__Sync *k = pb;
    return s_bytes_in(f->u.sync.digest, &k->digest, KNOOP_HASH_LEN);
}

static int s_sync_out(void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    const knoop_frame_t *f = c;
    Knoop__V1__Sync *k = pb;
    s_bytes_out(&k->digest, f->u.sync.digest, KNOOP_HASH_LEN);
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_sync_fields[] = {
    S_K(2, sync.streams), S_K(3, sync.messages),
};

static const knoop_pbc_field_t s_instances_fields[] = {
    S_KL(1, instances.v, instances.n, KNOOP_INSTANCES_MAX, &s_instance_map),
    S_K(2, instances.partner),
};

/* ---- the kinds ---- */

#define S_FIELDS 11     /* repeated fields up to number 10 are costed */
typedef struct {
    knoop_pbc_msg_t map;                        /* the kind's message <-> f->u */
    int           (*check)(const knoop_frame_t *f);   /* NULL: nothing to check */
    uint16_t        cost[S_FIELDS];   /* memory one item of repeated field n earns (s_scan) */
} s_kind_t;

/* Unpacked memory one item of a repeated field may take beyond its copied
 * bytes: protobuf-c's scan slot (32 bytes; slabs double, so up to 2 per
 * item), array slot, struct, allocation rounding, plus our converted row.
 * Measured at 65536 items: 104 bytes a string, 128 an envelope, 152 an
 * ack, about 300 a StreamPos. */
#define S_KIND(desc, fields, in, out, check, ...) \
    { S_MAP(desc, knoop_frame_t, fields, in, out), (check), { __VA_ARGS__ } }

static const s_kind_t s_kinds[] = {
    [KNOOP_FRAME_HELLO - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__hello__descriptor, s_hello_fields, NULL, NULL, s_check_hello,
               [2] = 192, [3] = 512, [10] = 192),
    [KNOOP_FRAME_WELCOME - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__welcome__descriptor, s_welcome_fields, s_welcome_in, s_welcome_out,
               s_check_welcome,
               [2] = 192, [3] = 320, [4] = 512),
    [KNOOP_FRAME_PUBLISH - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__publish__descriptor, s_publish_fields, NULL, NULL, s_check_batch,
               [1] = 192, [3] = 192),
    [KNOOP_FRAME_ACK - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__ack__descriptor, s_ack_fields, NULL, NULL, s_check_ack, [1] = 256),
    [KNOOP_FRAME_DELIVER - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__deliver__descriptor, s_deliver_fields, NULL, NULL, s_check_batch,
               [1] = 192),
    [KNOOP_FRAME_CREDIT - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__credit__descriptor, s_credit_fields, NULL, NULL, NULL, 0),
    [KNOOP_FRAME_HEARTBEAT - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__heartbeat__descriptor, s_heartbeat_fields, s_heartbeat_in,
               s_heartbeat_out, s_check_heartbeat, [2] = 256),
    [KNOOP_FRAME_ERROR - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__error__descriptor, s_error_fields, s_error_in, NULL, s_check_error, 0),
    [KNOOP_FRAME_CAUGHT_UP - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__caught_up__descriptor, s_caught_up_fields, NULL, NULL, NULL, 0),
    [KNOOP_FRAME_SYNC - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__sync__descriptor, s_sync_fields, s_sync_in, s_sync_out, NULL, 0),
    [KNOOP_FRAME_INSTANCES - KNOOP_FRAME_HELLO] =
        S_KIND(knoop__v1__instances__descriptor, s_instances_fields, NULL, NULL,
               s_check_instances, [1] = 256),
};

static const s_kind_t *s_kind(unsigned kind)
{
    return kind >= KNOOP_FRAME_HELLO && kind <= KNOOP_FRAME_INSTANCES
               ? &s_kinds[kind - KNOOP_FRAME_HELLO] : NULL;
}

/* The check the decoder runs on what it received and the encoder on what
 * it is asked to send, so a peer never sends what the other side refuses. */
static int s_check_frame(const knoop_frame_t *f)
{
    const s_kind_t *k = s_kind(f->kind);
    if (!k)
        return KNOOP_EINVAL;
    return k->check ? k->check(f) : KNOOP_OK;
}

/* One of each kind's message, for an encode to build in. */
typedef union {
    Knoop__V1__Hello     hello;
    Knoop__V1__Welcome   welcome;
    Knoop__V1__Publish   publish;
    Knoop__V1__Ack       ack;
    Knoop__V1__Deliver   deliver;
    Knoop__V1__Credit    credit;
    Knoop__V1__Heartbeat heartbeat;
    Knoop__V1__Error     error;
    Knoop__V1__CaughtUp  caught_up;
    Knoop__V1__Sync      sync;
    Knoop__V1__Instances instances;
} s_kind_pb_t;

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
    size_t   items[S_FIELDS];   /* occurrences of the kind's repeated fields */
    size_t   cost;              /* memory budget they earn */
} s_scan_t;

/* Memory one item of a kind's repeated field earns (s_kinds). */
static size_t s_item_cost(uint32_t kind, uint32_t field)
{
    const s_kind_t *k = s_kind(kind);
    return k && field < S_FIELDS ? k->cost[field] : 0;
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

/* ---- decode ---- */

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
    for (int i = 1; i < S_FIELDS; i++)
        if (scan.items[i] > KNOOP_FRAME_ITEMS)
            return KNOOP_ETOOBIG;
    if (scan.kind == KNOOP_FRAME_HELLO && scan.items[10] > KNOOP_WIRE_BUCKETS)
        return KNOOP_ETOOBIG;           /* the settled summary's buckets */

    /* Counts are bounded now, and so is the budget: twice the length plus,
     * at most, 64 MiB for a WELCOME with 65536 rows in each list (which
     * needs ~37). A big batch fits the first chunk: one malloc, not one per
     * envelope. */
    size_t budget = 2 * len + scan.cost + S_BUDGET_FIXED;
    knoop_pbc_arena_t *a = knoop_pbc_arena_new(len + len / 4 + scan.cost / 2 + 1024, budget);
    if (!a)
        return KNOOP_ENOMEM;
    ProtobufCAllocator alloc = knoop_pbc_arena_allocator(a);
    Knoop__V1__Frame *pb = knoop__v1__frame__unpack(&alloc, len, data);
    int rc;
    if (!pb) {
        rc = knoop_pbc_arena_error(a);
        if (rc == KNOOP_OK)
            rc = KNOOP_EMALFORMED;
        goto fail;
    }
    if (pb->version != KNOOP_WIRE_VERSION) {       /* the scan said otherwise */
        f->version = pb->version;
        rc = KNOOP_EVERSION;
        goto fail;
    }
    f->version = pb->version;
    f->priv_ = a;
    const s_kind_t *k = s_kind(pb->kind_case);
    const void *inner = knoop_pbc_oneof(&pb->base, pb->kind_case);
    f->kind = (knoop_frame_kind_t) pb->kind_case;
    rc = k && inner ? knoop_pbc_in(&k->map, f, inner, a) : KNOOP_EMALFORMED;
    if (rc == KNOOP_OK)
        rc = s_check_frame(f);
    if (rc == KNOOP_EINVAL)         /* what a caller may not encode, received: malformed */
        rc = KNOOP_EMALFORMED;
    if (rc == KNOOP_OK)
        return KNOOP_OK;
    f->priv_ = NULL;
fail:
    knoop_pbc_arena_free(a);
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
    knoop_pbc_arena_free(f->priv_);
    memset(f, 0, sizeof *f);
}

/* ---- encode ---- */

int knoop_frame_encode(const knoop_frame_t *f, knoop_buf_t *out)
{
    assert(f && out);
    int rc = s_check_frame(f);
    if (rc)
        return rc == KNOOP_ETOOBIG ? rc : KNOOP_EINVAL;
    const s_kind_t *k = s_kind(f->kind);

    Knoop__V1__Frame pb = KNOOP__V1__FRAME__INIT;
    s_kind_pb_t inner;
    assert(k->map.pb->sizeof_message <= sizeof inner);
    protobuf_c_message_init(k->map.pb, &inner);
    pb.version = KNOOP_WIRE_VERSION;
    knoop_pbc_oneof_set(&pb.base, f->kind, &inner);

    /* The rows on the stack for small frames, else in one malloc. */
    knoop_pbc_scratch_t s;
    rc = knoop_pbc_build(&k->map, &inner, f, &s);
    if (rc == KNOOP_OK)
        rc = knoop_pbc_pack(&pb.base, KNOOP_FRAME_MAX, out);
    knoop_pbc_scratch_fini(&s);
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

