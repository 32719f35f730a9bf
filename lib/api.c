/* api.c — the local API codec and its checked gate. See api.h.
 *
 * Decoding is done in three steps, each refusing before the next one spends
 * memory on the input:
 *   1. size limit (KNOOP_API_MAX);
 *   2. a walk over the raw protobuf fields, driven by the generated
 *      descriptors: every tag, length and nesting level is checked, repeated
 *      fields are counted (so that 16 MiB of two-byte items is refused before
 *      protobuf-c allocates eight million structs), a NUL inside a string is
 *      refused (protobuf-c would hand over a shorter C string than the bytes
 *      say), and the request or reply must carry exactly one kind (protobuf-c
 *      silently keeps the last of several oneof members);
 *   3. protobuf_c_message_unpack, then each field validated once.
 * Decoded pointers point into the unpacked message: nothing is copied again.
 *
 * Each kind of request and of reply is one map (s_req_kinds, s_rep_kinds;
 * pbcodec.h): its protobuf-c message, where each field lives in the kind's
 * member of knoop_api_req_t / knoop_api_rep_t, and a hook that checks what
 * the map copied (and fills what it cannot say: the import's texts and
 * seal). Encode and decode of both run from the same maps, through one
 * s_encode and one s_decode.
 */
#include "api.h"
#include "bundle.h"
#include "crypto.h"
#include "msg.h"
#include "topic.h"
#include "varint.h"
#include "pbcodec.h"

#include "knoop/v1/api.pb-c.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DEPTH_MAX   4           /* Reply > Delivery > Envelope is 3 deep */
#define S_FIELDS_MAX  16          /* fields per message in api.proto, with room */
#define S_REASON_MAX  1024        /* ApiError.reason, bytes */

/* What a decoded request or reply owns: the unpacked message its strings
 * and bytes point into, and the arena of its rows (which holds this too). */
typedef struct {
    ProtobufCMessage  *pb;
    knoop_pbc_arena_t *arena;
} s_priv_t;

/* No budget beyond the walk's counts: rows are bounded by KNOOP_API_ITEMS. */
#define S_BUDGET      (SIZE_MAX / 4)
#define S_KIND_FIRST  10          /* the oneof's first field number, both messages */

/* The top-level version and id, seen during the walk: a failed decode still
 * reports them, so that the node can address its error reply. */
typedef struct {
    uint32_t version;
    uint64_t id;
    bool     versioned;     /* a version field was seen */
} s_top_t;

/* ---- step 2: the raw walk ---- */

static int s_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                  unsigned depth, s_top_t *top)
{
    assert(d->n_fields <= S_FIELDS_MAX);
    unsigned counts[S_FIELDS_MAX] = { 0 };
    unsigned kinds = 0;
    const uint8_t *end = p + len;
    while (p < end) {
        knoop_pb_field_t f;
        if (!knoop_pb_field_next(&p, end, &f))
            return KNOOP_EMALFORMED;
        uint64_t num = f.num;
        if (num == 0 || num > UINT32_MAX)
            return KNOOP_EMALFORMED;
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, (unsigned) num);
        if (f.wt == KNOOP_WT_VARINT && top && num == 1) {
            top->version = (uint32_t) f.v;
            top->versioned = true;
        } else if (f.wt == KNOOP_WT_VARINT && top && num == 2) {
            top->id = f.v;
        } else if (f.wt == KNOOP_WT_LEN && fd) {
            if (fd->type == PROTOBUF_C_TYPE_STRING && memchr(f.data, 0, f.len))
                return KNOOP_EMALFORMED;
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 >= S_DEPTH_MAX)
                    return KNOOP_EMALFORMED;
                int rc = s_walk(fd->descriptor, f.data, f.len, depth + 1, NULL);
                if (rc)
                    return rc;
            }
        }
        if (fd) {
            if (fd->label == PROTOBUF_C_LABEL_REPEATED &&
                ++counts[fd - d->fields] > KNOOP_API_ITEMS)
                return KNOOP_ETOOBIG;
            if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                kinds++;
        }
    }
    if (top && kinds != 1)
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

/* Steps 1 and 2, and the version. */
static int s_gate(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                  s_top_t *top)
{
    memset(top, 0, sizeof *top);
    if (!data || len == 0)
        return KNOOP_EMALFORMED;
    if (len > KNOOP_API_MAX)
        return KNOOP_ETOOBIG;
    int rc = s_walk(d, data, len, 0, top);
    /* A different version may well be a different layout: say so, rather
     * than that it does not parse. Bytes without any version field are
     * just malformed. */
    if ((rc == KNOOP_OK || top->versioned) && top->version != KNOOP_API_VERSION)
        return KNOOP_EVERSION;
    return rc;
}

/* ---- field checks ---- */

static bool s_bounded(const char *s, size_t max)
{
    return s && strnlen(s, max + 1) <= max;
}

static bool s_status_filter_valid(uint32_t s)
{
    return s == 0 || s == KNOOP_API_STATUS_ALL ||
           (s >= 1 && s <= 4);          /* knoop_status_t ACTUAL..SYSTEM */
}

/* ---- maps: each kind's protobuf fields and where they live in api.h ---- */

#define S_F    KNOOP_PBC_FIELD
#define S_L    KNOOP_PBC_LIST
#define S_MAP  KNOOP_PBC_MAP
/* A kind of request or reply: its fields are members of r->u. */
#define S_RQ(num, m)  S_F(num, knoop_api_req_t, u.m)
#define S_RQL(num, m, count, rows) \
    S_L(num, knoop_api_req_t, u.m, u.count, KNOOP_API_ITEMS, rows)
#define S_RP(num, m)  S_F(num, knoop_api_rep_t, u.m)
#define S_RPL(num, m, count, rows) \
    S_L(num, knoop_api_rep_t, u.m, u.count, KNOOP_API_ITEMS, rows)

/* bytes fields map onto a pointer followed by its length */
_Static_assert(offsetof(knoop_api_item_t, payload_len) ==
               offsetof(knoop_api_item_t, payload) + sizeof(void *), "payload as knoop_bytes_t");
_Static_assert(offsetof(knoop_api_env_t, len) ==
               offsetof(knoop_api_env_t, envelope) + sizeof(void *), "envelope as knoop_bytes_t");
_Static_assert(sizeof(knoop_verdict_t) == sizeof(int32_t), "ApiSeq.verdict maps onto the C enum");
_Static_assert(sizeof(knoop_api_req_kind_t) == sizeof(uint32_t) &&
               sizeof(knoop_api_rep_kind_t) == sizeof(uint32_t), "kinds are oneof field numbers");

/* ---- requests ---- */

static int s_item_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_item_t *it = c;
    if (knoop_topic_validate(it->topic) != KNOOP_OK)
        return KNOOP_ETOPIC;
    if (!s_bounded(it->type, KNOOP_TYPE_MAX) || !s_bounded(it->key, KNOOP_KEY_MAX))
        return KNOOP_EMALFORMED;
    if (it->payload_len > KNOOP_PAYLOAD_MAX)
        return KNOOP_ETOOBIG;
    if (it->nrecipients > KNOOP_RECIPIENTS_MAX)
        return KNOOP_EMALFORMED;
    for (size_t k = 0; k < it->nrecipients; k++)
        if (!knoop_id_valid(it->recipients[k]))
            return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_item_fields[] = {
    S_F(1, knoop_api_item_t, topic),    S_F(2, knoop_api_item_t, type),
    S_F(3, knoop_api_item_t, key),      S_F(4, knoop_api_item_t, priority),
    S_F(5, knoop_api_item_t, status),   S_F(6, knoop_api_item_t, tlp),
    S_F(7, knoop_api_item_t, payload),
    S_L(8, knoop_api_item_t, recipients, nrecipients, 0, NULL),
};
static const knoop_pbc_msg_t s_item_map =
    S_MAP(knoop__v1__api_item__descriptor, knoop_api_item_t, s_item_fields, s_item_in, NULL, NULL);

static int s_publish_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_req_t *r = c;
    return r->u.publish.n == 0 ? KNOOP_EMALFORMED : KNOOP_OK;
}

static const knoop_pbc_field_t s_publish_fields[] = {
    S_RQL(1, publish.items, publish.n, &s_item_map), S_RQ(2, publish.wait_ms),
};

static int s_subscribe_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_req_t *r = c;
    if (knoop_pattern_validate(r->u.subscribe.pattern) != KNOOP_OK)
        return KNOOP_ETOPIC;
    if ((*r->u.subscribe.durable && !knoop_name_valid(r->u.subscribe.durable, KNOOP_DURABLE_MAX)) ||
        !s_status_filter_valid(r->u.subscribe.status) || r->u.subscribe.window > KNOOP_API_ITEMS ||
        (r->u.subscribe.from_start && r->u.subscribe.since_ms))
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_subscribe_fields[] = {
    S_RQ(1, subscribe.pattern),    S_RQ(2, subscribe.durable), S_RQ(3, subscribe.from_start),
    S_RQ(4, subscribe.since_ms),   S_RQ(5, subscribe.status),  S_RQ(6, subscribe.window),
};

static int s_ack_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_req_t *r = c;
    return r->u.ack.sub == 0 ? KNOOP_EMALFORMED : KNOOP_OK;
}

static const knoop_pbc_field_t s_ack_fields[] = {
    S_RQ(1, ack.sub), S_RQ(2, ack.position),
};

/* An empty pattern is the whole picture. */
static int s_beeld_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_api_req_t *r = c;
    const char *pat = r->u.beeld.pattern;
    if (!pat || !*pat)
        r->u.beeld.pattern = ">";
    else if (knoop_pattern_validate(pat) != KNOOP_OK)
        return KNOOP_ETOPIC;
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_beeld_fields[] = {
    S_RQ(1, beeld.pattern),
};

static int s_close_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_req_t *r = c;
    return r->u.close.sub == 0 ? KNOOP_EMALFORMED : KNOOP_OK;
}

static const knoop_pbc_field_t s_close_fields[] = {
    S_RQ(1, close.sub),
};

/* Certificates and revocation lists are strings on the wire and bytes in
 * api.h; the seal's keys and hashes are fixed-size arrays. */
static int s_import_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_api_req_t *r = c;
    const Knoop__V1__ApiImport *im = pb;
    size_t nc = im->n_certificates, nt = nc + im->n_revocations;
    if (nt + im->n_envelopes == 0)
        return KNOOP_EMALFORMED;
    knoop_bytes_t *b = nt ? knoop_pbc_arena_alloc(a, nt * sizeof *b) : NULL;
    if (nt && !b)
        return knoop_pbc_arena_error(a);
    for (size_t i = 0; i < nt; i++) {
        const char *t = i < nc ? im->certificates[i] : im->revocations[i - nc];
        b[i] = (knoop_bytes_t) { (const uint8_t *) t, strlen(t) };
    }
    r->u.import.certs = b;
    r->u.import.ncerts = nc;
    r->u.import.revocations = b ? b + nc : NULL;
    r->u.import.nrevocations = im->n_revocations;
    for (size_t i = 0; i < r->u.import.nenvs; i++) {
        if (r->u.import.envs[i].len == 0)
            return KNOOP_EMALFORMED;
        if (r->u.import.envs[i].len > KNOOP_ENVELOPE_MAX)
            return KNOOP_ETOOBIG;
    }
    const Knoop__V1__ApiBundleSeal *se = im->seal;
    if (se) {
        if (!knoop_id_valid(se->signer) || se->signer_key.len != KNOOP_PK_LEN ||
            se->hash.len != KNOOP_HASH_LEN || se->signature.len != KNOOP_SIG_LEN)
            return KNOOP_EMALFORMED;
        knoop_bundle_seal_t *seal = knoop_pbc_arena_alloc(a, sizeof *seal);
        if (!seal)
            return knoop_pbc_arena_error(a);
        snprintf(seal->signer, sizeof seal->signer, "%s", se->signer);
        memcpy(seal->signer_key, se->signer_key.data, KNOOP_PK_LEN);
        memcpy(seal->hash, se->hash.data, KNOOP_HASH_LEN);
        memcpy(seal->signature, se->signature.data, KNOOP_SIG_LEN);
        seal->records = se->records;
        seal->envelopes = se->envelopes;
        r->u.import.seal = seal;
    }
    return KNOOP_OK;
}

/* The lists s_import_out refuses, before it takes scratch for them. */
static int s_import_lists(const knoop_api_req_t *r)
{
    size_t nc = r->u.import.ncerts, nr = r->u.import.nrevocations, ne = r->u.import.nenvs;
    if (nc > KNOOP_API_ITEMS || nr > KNOOP_API_ITEMS || ne > KNOOP_API_ITEMS)
        return KNOOP_ETOOBIG;
    if ((nc && !r->u.import.certs) || (nr && !r->u.import.revocations) ||
        (ne && !r->u.import.envs))
        return KNOOP_EINVAL;
    return KNOOP_OK;
}

static const knoop_bytes_t *s_import_text(const knoop_api_req_t *r, size_t i)
{
    return i < r->u.import.ncerts ? &r->u.import.certs[i]
                                  : &r->u.import.revocations[i - r->u.import.ncerts];
}

/* protobuf-c strings end in NUL: the texts are copied, up to a NUL in them
 * (as strndup would). */
static size_t s_import_need(const void *c)
{
    const knoop_api_req_t *r = c;
    if (s_import_lists(r))
        return 0;
    size_t nt = r->u.import.ncerts + r->u.import.nrevocations;
    size_t need = nt * sizeof(char *) + sizeof(Knoop__V1__ApiBundleSeal) + 8;
    for (size_t i = 0; i < nt; i++)
        need += (s_import_text(r, i)->len + 1 + 7) & ~(size_t) 7;
    return need;
}

static int s_import_out(void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    const knoop_api_req_t *r = c;
    Knoop__V1__ApiImport *im = pb;
    int rc = s_import_lists(r);
    if (rc)
        return rc;
    size_t nc = r->u.import.ncerts, nt = nc + r->u.import.nrevocations;
    char **texts = nt ? knoop_pbc_scratch_take(s, nt * sizeof *texts) : NULL;
    for (size_t i = 0; i < nt; i++) {
        const knoop_bytes_t *t = s_import_text(r, i);
        size_t n = t->len ? strnlen((const char *) t->data, t->len) : 0;
        texts[i] = knoop_pbc_scratch_take(s, n + 1);
        if (n)
            memcpy(texts[i], t->data, n);
        texts[i][n] = '\0';
    }
    im->n_certificates = nc;
    im->certificates = texts;
    im->n_revocations = r->u.import.nrevocations;
    im->revocations = texts ? texts + nc : NULL;
    const knoop_bundle_seal_t *seal = r->u.import.seal;
    if (seal) {
        Knoop__V1__ApiBundleSeal *se = knoop_pbc_scratch_take(s, sizeof *se);
        knoop__v1__api_bundle_seal__init(se);
        se->signer = (char *) seal->signer;
        se->signer_key = (ProtobufCBinaryData) { KNOOP_PK_LEN, (uint8_t *) seal->signer_key };
        se->hash = (ProtobufCBinaryData) { KNOOP_HASH_LEN, (uint8_t *) seal->hash };
        se->signature = (ProtobufCBinaryData) { KNOOP_SIG_LEN, (uint8_t *) seal->signature };
        se->records = seal->records;
        se->envelopes = seal->envelopes;
        im->seal = se;
    }
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_import_fields[] = {
    S_RQ(1, import.dry_run),
    S_RQL(4, import.envs, import.nenvs, NULL),
    S_RQ(5, import.require_signed),
};

static int s_role_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    knoop_api_req_t *r = c;
    if (r->u.role.reason && strlen(r->u.role.reason) > 200)
        return KNOOP_EMALFORMED;
    if (!r->u.role.reason)
        r->u.role.reason = "";
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_role_fields[] = {
    S_RQ(1, role.active), S_RQ(2, role.reason),
};

#define S_KIND(desc, T, fields, in) S_MAP(desc, T, fields, in, NULL, NULL)

/* By kind - S_KIND_FIRST. */
static const knoop_pbc_msg_t s_req_kinds[] = {
    [KNOOP_API_PUBLISH - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_publish__descriptor, knoop_api_req_t, s_publish_fields, s_publish_in),
    [KNOOP_API_SUBSCRIBE - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_subscribe__descriptor, knoop_api_req_t, s_subscribe_fields,
               s_subscribe_in),
    [KNOOP_API_ACK - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_ack__descriptor, knoop_api_req_t, s_ack_fields, s_ack_in),
    [KNOOP_API_STATUS - S_KIND_FIRST] =
        { &knoop__v1__api_status__descriptor, sizeof(knoop_api_req_t), NULL, 0, NULL, NULL, NULL },
    [KNOOP_API_BEELD - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_beeld__descriptor, knoop_api_req_t, s_beeld_fields, s_beeld_in),
    [KNOOP_API_CLOSE - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_close__descriptor, knoop_api_req_t, s_close_fields, s_close_in),
    [KNOOP_API_IMPORT - S_KIND_FIRST] =
        S_MAP(knoop__v1__api_import__descriptor, knoop_api_req_t, s_import_fields, s_import_in,
              s_import_need, s_import_out),
    [KNOOP_API_ROLE - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_role__descriptor, knoop_api_req_t, s_role_fields, s_role_in),
};

/* ---- replies ---- */

static int s_seq_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_seq_t *s = c;
    if (!knoop_id_valid(s->origin) || s->seq == 0)
        return KNOOP_EMALFORMED;
    if (knoop_topic_validate(s->topic) != KNOOP_OK)
        return KNOOP_ETOPIC;
    if ((unsigned) s->verdict > KNOOP_VERDICT_REFUSED || !s_bounded(s->reason, S_REASON_MAX))
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_seq_fields[] = {
    S_F(1, knoop_api_seq_t, origin), S_F(2, knoop_api_seq_t, topic),
    S_F(3, knoop_api_seq_t, seq),    S_F(4, knoop_api_seq_t, verdict),
    S_F(5, knoop_api_seq_t, reason),
};
static const knoop_pbc_msg_t s_seq_map =
    S_MAP(knoop__v1__api_seq__descriptor, knoop_api_seq_t, s_seq_fields, s_seq_in, NULL, NULL);

static const knoop_pbc_field_t s_published_fields[] = {
    S_RPL(1, published.items, published.n, &s_seq_map), S_RP(2, published.link_up),
};

/* Envelopes are NOT parsed here (knoop_msg_parse's job), only sized. */
static int s_env_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_env_t *e = c;
    if (e->len == 0)
        return KNOOP_EMALFORMED;
    return e->len > KNOOP_ENVELOPE_MAX ? KNOOP_ETOOBIG : KNOOP_OK;
}

/* Positions in the journal's log start at 1; a picture is not read from
 * the log and may leave them out. */
static int s_delivered_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    int rc = s_env_in(c, pb, a);
    return rc ? rc : ((const knoop_api_env_t *) c)->position == 0 ? KNOOP_EMALFORMED : KNOOP_OK;
}

static const knoop_pbc_field_t s_env_fields[] = {
    S_F(1, knoop_api_env_t, position), S_F(2, knoop_api_env_t, envelope),
};
static const knoop_pbc_msg_t s_delivered_map =
    S_MAP(knoop__v1__api_envelope__descriptor, knoop_api_env_t, s_env_fields, s_delivered_in,
          NULL, NULL);
static const knoop_pbc_msg_t s_pictured_map =
    S_MAP(knoop__v1__api_envelope__descriptor, knoop_api_env_t, s_env_fields, s_env_in,
          NULL, NULL);

static const knoop_pbc_field_t s_delivery_fields[] = {
    S_RPL(1, delivery.msgs, delivery.n, &s_delivered_map), S_RP(2, delivery.done),
};
static const knoop_pbc_field_t s_beeld_rep_fields[] = {
    S_RPL(1, delivery.msgs, delivery.n, &s_pictured_map), S_RP(2, delivery.done),
};

static const knoop_pbc_field_t s_text_fields[] = {
    S_RP(1, status.json),
};

static int s_error_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_rep_t *r = c;
    if (r->u.error.code >= 0 || !s_bounded(r->u.error.reason, S_REASON_MAX))
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

static const knoop_pbc_field_t s_error_fields[] = {
    S_RP(1, error.code), S_RP(2, error.reason), S_RP(3, error.index),
};

static int s_subscribed_in(void *c, const void *pb, knoop_pbc_arena_t *a)
{
    const knoop_api_rep_t *r = c;
    return r->u.subscribed.sub == 0 ? KNOOP_EMALFORMED : KNOOP_OK;
}

static const knoop_pbc_field_t s_subscribed_fields[] = {
    S_RP(1, subscribed.sub),
};

static const knoop_pbc_msg_t s_rep_kinds[] = {
    [KNOOP_API_R_PUBLISHED - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_published__descriptor, knoop_api_rep_t, s_published_fields, NULL),
    [KNOOP_API_R_DELIVERY - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_delivery__descriptor, knoop_api_rep_t, s_delivery_fields, NULL),
    [KNOOP_API_R_STATUS - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_text__descriptor, knoop_api_rep_t, s_text_fields, NULL),
    [KNOOP_API_R_BEELD - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_delivery__descriptor, knoop_api_rep_t, s_beeld_rep_fields, NULL),
    [KNOOP_API_R_ERROR - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_error__descriptor, knoop_api_rep_t, s_error_fields, s_error_in),
    [KNOOP_API_R_SUBSCRIBED - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_subscribed__descriptor, knoop_api_rep_t, s_subscribed_fields,
               s_subscribed_in),
    [KNOOP_API_R_IMPORTED - S_KIND_FIRST] =
        S_KIND(knoop__v1__api_text__descriptor, knoop_api_rep_t, s_text_fields, NULL),
};

/* ---- requests and replies alike ---- */

/* The header both carry, for the encoder's map. */
typedef struct {
    uint32_t version;
    uint64_t id;
} s_head_t;

static const knoop_pbc_field_t s_head_fields[] = {
    S_F(1, s_head_t, version), S_F(2, s_head_t, id),
};

typedef struct {
    const ProtobufCMessageDescriptor *pb;   /* ApiRequest or ApiReply */
    knoop_pbc_msg_t        head;            /* its version and id */
    const knoop_pbc_msg_t *kinds;           /* by kind - S_KIND_FIRST */
    size_t                 nkinds;
    size_t                 size;            /* the C struct: its size, where its */
    size_t                 version, id, kind, priv;   /* members are */
} s_codec_t;

#define S_CODEC(desc, T, kinds) \
    { &(desc), S_MAP(desc, s_head_t, s_head_fields, NULL, NULL, NULL), (kinds), \
      sizeof(kinds) / sizeof *(kinds), sizeof(T), offsetof(T, version), offsetof(T, id), \
      offsetof(T, kind), offsetof(T, priv_) }

static const s_codec_t s_req_codec =
    S_CODEC(knoop__v1__api_request__descriptor, knoop_api_req_t, s_req_kinds);
static const s_codec_t s_rep_codec =
    S_CODEC(knoop__v1__api_reply__descriptor, knoop_api_rep_t, s_rep_kinds);

#define S_MEMBER(r, off)  ((char *) (r) + (off))

static const knoop_pbc_msg_t *s_kind(const s_codec_t *cd, uint32_t kind)
{
    return kind >= S_KIND_FIRST && kind - S_KIND_FIRST < cd->nkinds
               ? &cd->kinds[kind - S_KIND_FIRST] : NULL;
}

static void s_clear(const s_codec_t *cd, void *r)
{
    s_priv_t *priv;
    memcpy(&priv, S_MEMBER(r, cd->priv), sizeof priv);
    if (priv) {
        protobuf_c_message_free_unpacked(priv->pb, NULL);
        knoop_pbc_arena_free(priv->arena);      /* priv lives in it */
    }
    memset(r, 0, cd->size);
}

/* Step 3: unpack, then the kind's map fills r and checks each field. */
static int s_fill(const s_codec_t *cd, void *r, const uint8_t *data, size_t len)
{
    ProtobufCMessage *pb = protobuf_c_message_unpack(cd->pb, NULL, len, data);
    if (!pb)
        return KNOOP_EMALFORMED;
    uint32_t kind = knoop_pbc_oneof_which(pb, S_KIND_FIRST);
    const knoop_pbc_msg_t *m = s_kind(cd, kind);
    const void *inner = knoop_pbc_oneof(pb, kind);
    /* One malloc for priv and the rows of the kind's lists. */
    knoop_pbc_arena_t *a = knoop_pbc_arena_new(
        sizeof(s_priv_t) + (m && inner ? knoop_pbc_in_size(m, inner) : 0), S_BUDGET);
    s_priv_t *priv = a ? knoop_pbc_arena_alloc(a, sizeof *priv) : NULL;
    if (!priv) {
        knoop_pbc_arena_free(a);
        protobuf_c_message_free_unpacked(pb, NULL);
        return KNOOP_ENOMEM;
    }
    priv->pb = pb;
    priv->arena = a;
    memcpy(S_MEMBER(r, cd->priv), &priv, sizeof priv);
    memcpy(S_MEMBER(r, cd->kind), &kind, sizeof kind);
    return m && inner ? knoop_pbc_in(m, r, inner, a) : KNOOP_EMALFORMED;
}

/* On failure r holds only the version and id the bytes carried. */
static int s_decode(const s_codec_t *cd, void *r, const uint8_t *data, size_t len)
{
    memset(r, 0, cd->size);
    s_top_t top;
    int rc = s_gate(cd->pb, data, len, &top);
    if (rc == KNOOP_OK && (rc = s_fill(cd, r, data, len)))
        s_clear(cd, r);
    memcpy(S_MEMBER(r, cd->version), &top.version, sizeof top.version);
    memcpy(S_MEMBER(r, cd->id), &top.id, sizeof top.id);
    return rc;
}

/* One of each kind's message, and of the two tops, for an encode. */
typedef union {
    Knoop__V1__ApiPublish    publish;
    Knoop__V1__ApiSubscribe  subscribe;
    Knoop__V1__ApiAck        ack;
    Knoop__V1__ApiStatus     status;
    Knoop__V1__ApiBeeld      beeld;
    Knoop__V1__ApiClose      close;
    Knoop__V1__ApiImport     import;
    Knoop__V1__ApiRole       role;
    Knoop__V1__ApiPublished  published;
    Knoop__V1__ApiDelivery   delivery;
    Knoop__V1__ApiText       text;
    Knoop__V1__ApiError      error;
    Knoop__V1__ApiSubscribed subscribed;
} s_kind_pb_t;

typedef union {
    Knoop__V1__ApiRequest req;
    Knoop__V1__ApiReply   rep;
} s_top_pb_t;

static int s_encode(const s_codec_t *cd, const void *r, knoop_buf_t *out)
{
    if (!r || !out)
        return KNOOP_EINVAL;
    uint32_t kind;
    s_head_t head = { KNOOP_API_VERSION, 0 };
    memcpy(&kind, S_MEMBER(r, cd->kind), sizeof kind);
    memcpy(&head.id, S_MEMBER(r, cd->id), sizeof head.id);
    const knoop_pbc_msg_t *m = s_kind(cd, kind);
    if (!m)
        return KNOOP_EINVAL;

    s_top_pb_t top;
    s_kind_pb_t inner;
    assert(cd->pb->sizeof_message <= sizeof top && m->pb->sizeof_message <= sizeof inner);
    protobuf_c_message_init(cd->pb, &top);
    protobuf_c_message_init(m->pb, &inner);
    knoop_pbc_oneof_set((ProtobufCMessage *) &top, kind, &inner);

    knoop_pbc_scratch_t s;
    int rc = knoop_pbc_build(m, &inner, r, &s);
    if (rc == KNOOP_OK && (rc = knoop_pbc_out(&cd->head, &top, &head, &s)) == KNOOP_OK)
        rc = knoop_pbc_pack((const ProtobufCMessage *) &top, KNOOP_API_MAX, out);
    knoop_pbc_scratch_fini(&s);
    return rc;
}

int knoop_api_req_decode(knoop_api_req_t *r, const uint8_t *data, size_t len)
{
    return s_decode(&s_req_codec, r, data, len);
}

void knoop_api_req_clear(knoop_api_req_t *r)
{
    s_clear(&s_req_codec, r);
}

int knoop_api_req_encode(const knoop_api_req_t *r, knoop_buf_t *out)
{
    return s_encode(&s_req_codec, r, out);
}

int knoop_api_rep_decode(knoop_api_rep_t *r, const uint8_t *data, size_t len)
{
    return s_decode(&s_rep_codec, r, data, len);
}

void knoop_api_rep_clear(knoop_api_rep_t *r)
{
    s_clear(&s_rep_codec, r);
}

int knoop_api_rep_encode(const knoop_api_rep_t *r, knoop_buf_t *out)
{
    return s_encode(&s_rep_codec, r, out);
}
