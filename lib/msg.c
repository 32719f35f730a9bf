/* msg.c — envelope build and the checked parse gate. See msg.h. */
#include "msg.h"
#include "crypto.h"
#include "names.h"
#include "pbcodec.h"
#include "topic.h"
#include "utf8.h"
#include "varint.h"

#include "knoop/v1/envelope.pb-c.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a knoop_msg_t owns: the unpacked protobuf of a parsed message (in
 * one arena, which also holds this header), or, for a view built here
 * (knoop_msg_build_view), one block holding the strings, payload and body
 * bytes after this header. */
typedef struct {
    knoop_pbc_arena_t   *arena;                 /* a parse's; NULL for a build */
    Knoop__V1__Envelope *env;
    Knoop__V1__Body     *body;
    uint8_t              sig[KNOOP_SIG_LEN];    /* knoop_msg_sign's signature */
} s_priv_t;

static const uint8_t s_zero_hash[KNOOP_HASH_LEN];

uint64_t knoop_stream_id(const char *origin, const char *topic, uint64_t epoch)
{
    /* The last stream this thread computed: a catch-up, a fan-out or a
     * publish batch is mostly one stream after the other message, and two
     * string compares cost a fraction of the hash. */
    static _Thread_local struct {
        uint64_t epoch, id;
        char     origin[KNOOP_ID_MAX + 1], topic[KNOOP_TOPIC_MAX + 1];
    } last;
    if (last.id && epoch == last.epoch && strcmp(origin, last.origin) == 0 &&
        strcmp(topic, last.topic) == 0)
        return last.id;
    knoop_hasher_t h;
    uint8_t zero = 0, e[8], out[KNOOP_HASH_LEN];
    size_t ol = strlen(origin), tl = strlen(topic);
    knoop_put_be64(e, epoch);
    knoop_hasher_init(&h);
    knoop_hasher_update(&h, origin, ol);
    knoop_hasher_update(&h, &zero, 1);
    knoop_hasher_update(&h, topic, tl);
    knoop_hasher_update(&h, &zero, 1);
    knoop_hasher_update(&h, e, 8);
    knoop_hasher_final(&h, out);
    uint64_t id = knoop_get_be64(out);
    if (ol < sizeof last.origin && tl < sizeof last.topic) {
        memcpy(last.origin, origin, ol + 1);
        memcpy(last.topic, topic, tl + 1);
        last.epoch = epoch;
        last.id = id;
    } else {
        last.id = 0;
    }
    return id;
}

/* protobuf-c hands string fields over NUL-terminated, without their length:
 * a string holding a NUL would show a C view ("vr-utrecht") that differs from
 * the bytes that are hashed and signed ("vr-utrecht\0kcr2") and from what any
 * other protobuf reader sees. Walk the body's top-level fields (already
 * unpacked, so well-formed; checked again anyway) and refuse a NUL inside any
 * string field of Body. */
static bool s_strings_nul_free(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    while (p < end) {
        knoop_pb_field_t f;
        if (!knoop_pb_field_next(&p, end, &f))
            return false;
        if (f.wt != KNOOP_WT_LEN)
            continue;
        const ProtobufCFieldDescriptor *fd = f.num <= UINT32_MAX
            ? protobuf_c_message_descriptor_get_field(&knoop__v1__body__descriptor,
                                                      (unsigned) f.num)
            : NULL;
        if (fd && fd->type == PROTOBUF_C_TYPE_STRING && memchr(f.data, 0, f.len))
            return false;
    }
    return true;
}

/* Field checks shared by the parser and the builder. */
static int s_check_body(const knoop_body_t *b)
{
    if (b->version != KNOOP_BODY_VERSION)
        return KNOOP_EVERSION;
    if (!knoop_id_valid(b->origin))
        return KNOOP_EMALFORMED;
    if (knoop_topic_validate(b->topic) != KNOOP_OK)
        return KNOOP_ETOPIC;
    if (b->epoch == 0 || b->seq == 0)
        return KNOOP_EMALFORMED;
    if (b->seq == 1 && memcmp(b->prev, s_zero_hash, KNOOP_HASH_LEN) != 0)
        return KNOOP_ECHAIN;
    /* A state key is free text: UTF-8 (as proto3 requires of every string,
     * so that other protobuf readers accept what we accept), no control
     * characters. */
    if (!b->key || !knoop_utf8_text_valid(b->key, KNOOP_KEY_MAX) || !b->type ||
        !knoop_type_name_valid(b->type))
        return KNOOP_EMALFORMED;
    if ((unsigned) b->priority > KNOOP_PRIO_FLASH)
        return KNOOP_EMALFORMED;
    if (b->status < KNOOP_STATUS_ACTUAL || b->status > KNOOP_STATUS_SYSTEM)
        return KNOOP_EMALFORMED;
    if (b->tlp < KNOOP_TLP_CLEAR || b->tlp > KNOOP_TLP_AMBER_STRICT)
        return KNOOP_EMALFORMED;
    if (b->nrecipients > KNOOP_RECIPIENTS_MAX || (b->nrecipients && !b->recipients))
        return KNOOP_EMALFORMED;
    if (knoop_tlp_restricted(b->tlp) && b->nrecipients == 0)
        return KNOOP_EMALFORMED;
    for (size_t i = 0; i < b->nrecipients; i++) {
        if (!knoop_id_valid(b->recipients[i]))
            return KNOOP_EMALFORMED;
        for (size_t k = 0; k < i; k++)
            if (strcmp(b->recipients[i], b->recipients[k]) == 0)
                return KNOOP_EMALFORMED;
    }
    if (b->payload_len > KNOOP_PAYLOAD_MAX)
        return KNOOP_ETOOBIG;
    return KNOOP_OK;
}

static int s_parse(knoop_msg_t *m, const uint8_t *env, size_t len, uint64_t stream,
                   bool chain);

int knoop_msg_parse(knoop_msg_t *m, const uint8_t *env, size_t len)
{
    return s_parse(m, env, len, 0, true);
}

int knoop_msg_parse_stored(knoop_msg_t *m, const uint8_t *env, size_t len, uint64_t stream)
{
    return s_parse(m, env, len, stream, false);
}

static int s_parse(knoop_msg_t *m, const uint8_t *env, size_t len, uint64_t stream,
                   bool chain)
{
    memset(m, 0, sizeof *m);
    if (!env || len == 0)
        return KNOOP_EMALFORMED;
    if (len > KNOOP_ENVELOPE_MAX)
        return KNOOP_ETOOBIG;

    /* One arena for the header and both unpacks: a parse is on every hot
     * path (a node parses each envelope it receives), and protobuf-c would
     * otherwise malloc each string and byte field on its own. The unpacked
     * form takes about twice the envelope; the budget only stops an
     * envelope of many tiny repeated fields from growing without bound
     * (their count is refused after the unpack anyway). */
    knoop_pbc_arena_t *arena = knoop_pbc_arena_new(2 * len + 1024, 4 * len + 65536);
    s_priv_t *priv = arena ? knoop_pbc_arena_alloc(arena, sizeof *priv) : NULL;
    if (!priv) {
        knoop_pbc_arena_free(arena);
        return KNOOP_ENOMEM;
    }
    memset(priv, 0, sizeof *priv);
    priv->arena = arena;
    m->priv_ = priv;
    int rc = KNOOP_EMALFORMED;
    ProtobufCAllocator alloc = knoop_pbc_arena_allocator(arena);

    priv->env = knoop__v1__envelope__unpack(&alloc, len, env);
    if (!priv->env)
        goto unpack_failed;
    if (priv->env->body.len == 0)
        goto fail;
    if (priv->env->sig.len != 0 && priv->env->sig.len != KNOOP_SIG_LEN)
        goto fail;
    priv->body = knoop__v1__body__unpack(&alloc, priv->env->body.len, priv->env->body.data);
    if (!priv->body)
        goto unpack_failed;
    if (!s_strings_nul_free(priv->env->body.data, priv->env->body.len))
        goto fail;

    Knoop__V1__Body *pb = priv->body;
    if (pb->prev.len != KNOOP_HASH_LEN) {
        rc = KNOOP_EMALFORMED;
        goto fail;
    }
    knoop_body_t *b = &m->b;
    b->version = pb->version;
    b->origin = pb->origin;
    b->topic = pb->topic;
    b->epoch = pb->epoch;
    b->seq = pb->seq;
    b->hlc = pb->hlc;
    memcpy(b->prev, pb->prev.data, KNOOP_HASH_LEN);
    b->key = pb->key;
    b->type = pb->type;
    b->priority = (knoop_priority_t) pb->priority;
    b->status = (knoop_status_t) pb->status;
    b->tlp = (knoop_tlp_t) pb->classification;
    b->payload = pb->payload.data;
    b->payload_len = pb->payload.len;
    b->recipients = (const char *const *) pb->recipients;
    b->nrecipients = pb->n_recipients;
    rc = s_check_body(b);
    if (rc)
        goto fail;

    m->body = priv->env->body.data;
    m->body_len = priv->env->body.len;
    m->sig = priv->env->sig.len ? priv->env->sig.data : NULL;
    if (chain)
        knoop_chain(m->chain, b->prev, m->body, m->body_len);
    m->stream = stream ? stream : knoop_stream_id(b->origin, b->topic, b->epoch);
    return KNOOP_OK;

unpack_failed:
    if (knoop_pbc_arena_error(arena) == KNOOP_ENOMEM)
        rc = KNOOP_ENOMEM;          /* else malformed, or over the budget */
fail:
    knoop_msg_clear(m);
    return rc;
}

void knoop_msg_clear(knoop_msg_t *m)
{
    s_priv_t *priv = m->priv_;
    if (priv && priv->arena) {
        knoop_pbc_arena_free(priv->arena);     /* priv lives in it */
    } else if (priv) {
        if (priv->body)
            knoop__v1__body__free_unpacked(priv->body, NULL);
        if (priv->env)
            knoop__v1__envelope__free_unpacked(priv->env, NULL);
        free(priv);
    }
    memset(m, 0, sizeof *m);
}

int knoop_msg_verify_sig(const knoop_msg_t *m, const uint8_t pk[KNOOP_PK_LEN])
{
    if (!m->sig)
        return KNOOP_ENOTFOUND;
    return knoop_head_verify(m->sig, pk, m->b.origin, m->b.topic, m->b.epoch,
                             m->b.seq, m->chain);
}

static int s_pack_envelope(const uint8_t *body, size_t body_len, const uint8_t *sig,
                           knoop_buf_t *out)
{
    Knoop__V1__Envelope env = KNOOP__V1__ENVELOPE__INIT;
    env.body.data = (uint8_t *) body;
    env.body.len = body_len;
    if (sig) {
        env.sig.data = (uint8_t *) sig;
        env.sig.len = KNOOP_SIG_LEN;
    }
    size_t n = knoop__v1__envelope__get_packed_size(&env);
    if (n > KNOOP_ENVELOPE_MAX)
        return KNOOP_ETOOBIG;
    int rc = knoop_buf_reserve(out, n);
    if (rc)
        return rc;
    out->len += knoop__v1__envelope__pack(&env, out->data + out->len);
    return KNOOP_OK;
}

static void s_body_pb(const knoop_body_t *b, Knoop__V1__Body *pb_out)
{
    Knoop__V1__Body pb = KNOOP__V1__BODY__INIT;
    pb.version = b->version;
    pb.origin = (char *) b->origin;
    pb.topic = (char *) b->topic;
    pb.epoch = b->epoch;
    pb.seq = b->seq;
    pb.hlc = b->hlc;
    pb.prev.data = (uint8_t *) b->prev;
    pb.prev.len = KNOOP_HASH_LEN;
    pb.key = (char *) b->key;
    pb.type = (char *) b->type;
    pb.priority = (Knoop__V1__Priority) b->priority;
    pb.status = (Knoop__V1__Status) b->status;
    pb.classification = (Knoop__V1__Tlp) b->tlp;
    pb.payload.data = (uint8_t *) b->payload;
    pb.payload.len = b->payload_len;
    pb.recipients = (char **) b->recipients;
    pb.n_recipients = b->nrecipients;
    *pb_out = pb;
}

/* A caller's body checked and laid out for protobuf-c in pb, with the size
 * it packs to (*len), which must leave room for the envelope around it. */
static int s_body_prepare(const knoop_body_t *b, Knoop__V1__Body *pb, size_t *len)
{
    if (!b || (b->payload_len && !b->payload))
        return KNOOP_EINVAL;
    int rc = s_check_body(b);
    if (rc)
        return rc;
    s_body_pb(b, pb);
    *len = knoop__v1__body__get_packed_size(pb);
    return *len + 128 > KNOOP_ENVELOPE_MAX ? KNOOP_ETOOBIG : KNOOP_OK;
}

int knoop_msg_build(const knoop_body_t *b, const uint8_t *sk, knoop_buf_t *out,
                    uint8_t chain_out[KNOOP_HASH_LEN])
{
    if (!out)
        return KNOOP_EINVAL;
    Knoop__V1__Body pb;
    size_t n;
    int rc = s_body_prepare(b, &pb, &n);
    if (rc)
        return rc;
    uint8_t stackbuf[4096];
    uint8_t *body = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!body)
        return KNOOP_ENOMEM;
    knoop__v1__body__pack(&pb, body);

    uint8_t chain[KNOOP_HASH_LEN], sig[KNOOP_SIG_LEN];
    knoop_chain(chain, b->prev, body, n);
    if (sk)
        knoop_head_sign(sig, sk, b->origin, b->topic, b->epoch, b->seq, chain);
    rc = s_pack_envelope(body, n, sk ? sig : NULL, out);
    if (body != stackbuf)
        free(body);
    if (rc == KNOOP_OK && chain_out)
        memcpy(chain_out, chain, KNOOP_HASH_LEN);
    return rc;
}

/* A string copied into the view's block at *at. */
static const char *s_put_str(uint8_t **at, const char *str)
{
    size_t n = strlen(str) + 1;
    memcpy(*at, str, n);
    const char *copy = (const char *) *at;
    *at += n;
    return copy;
}

int knoop_msg_build_view(const knoop_body_t *b, uint64_t stream, knoop_msg_t *m)
{
    memset(m, 0, sizeof *m);
    Knoop__V1__Body pb;
    size_t body_len;
    int rc = s_body_prepare(b, &pb, &body_len);
    if (rc)
        return rc;
    /* One block: header, recipient pointers, strings, payload, body. */
    size_t strs = strlen(b->origin) + strlen(b->topic) + strlen(b->key) + strlen(b->type) + 4;
    for (size_t i = 0; i < b->nrecipients; i++)
        strs += strlen(b->recipients[i]) + 1;
    size_t ptrs = b->nrecipients * sizeof(const char *);
    s_priv_t *priv = calloc(1, sizeof *priv + ptrs + strs + b->payload_len + body_len);
    if (!priv)
        return KNOOP_ENOMEM;
    const char **rcpt = (const char **) (priv + 1);
    uint8_t *at = (uint8_t *) (priv + 1) + ptrs;
    m->priv_ = priv;
    m->b = *b;
    m->b.origin = s_put_str(&at, b->origin);
    m->b.topic = s_put_str(&at, b->topic);
    m->b.key = s_put_str(&at, b->key);
    m->b.type = s_put_str(&at, b->type);
    for (size_t i = 0; i < b->nrecipients; i++)
        rcpt[i] = s_put_str(&at, b->recipients[i]);
    m->b.recipients = b->nrecipients ? rcpt : NULL;
    if (b->payload_len)
        memcpy(at, b->payload, b->payload_len);
    m->b.payload = b->payload_len ? at : NULL;
    at += b->payload_len;
    knoop__v1__body__pack(&pb, at);
    m->body = at;
    m->body_len = body_len;
    knoop_chain(m->chain, b->prev, m->body, m->body_len);
    m->stream = stream ? stream : knoop_stream_id(b->origin, b->topic, b->epoch);
    return KNOOP_OK;
}

void knoop_msg_sign(knoop_msg_t *m, const uint8_t *sk)
{
    s_priv_t *priv = m->priv_;
    knoop_head_sign(priv->sig, sk, m->b.origin, m->b.topic, m->b.epoch, m->b.seq, m->chain);
    m->sig = priv->sig;
    m->signed_here = true;
}

int knoop_msg_resign(const knoop_msg_t *m, const uint8_t *sk, knoop_buf_t *out)
{
    uint8_t sig[KNOOP_SIG_LEN];
    knoop_head_sign(sig, sk, m->b.origin, m->b.topic, m->b.epoch, m->b.seq, m->chain);
    return s_pack_envelope(m->body, m->body_len, sig, out);
}

int knoop_msg_pack(const knoop_msg_t *m, knoop_buf_t *out)
{
    return s_pack_envelope(m->body, m->body_len, m->sig, out);
}

bool knoop_tlp_restricted(knoop_tlp_t t)
{
    return t == KNOOP_TLP_RED || t == KNOOP_TLP_AMBER_STRICT;
}

static bool s_named(const char *partner, const char *origin, char *const *rcpt, size_t n)
{
    if (strcmp(partner, origin) == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(partner, rcpt[i]) == 0)
            return true;
    return false;
}

bool knoop_msg_for_partner(const knoop_msg_t *m, const char *partner)
{
    if (!knoop_tlp_restricted(m->b.tlp))
        return true;
    return s_named(partner, m->b.origin, (char *const *) m->b.recipients, m->b.nrecipients);
}

/* The next field, refused (false) when it does not walk or when a field
 * that needs a wire type comes with another (which protobuf-c refuses):
 * need[num] is that wire type + 1 for num < n, 0 where any goes. */
static bool s_field_typed(const uint8_t **p, const uint8_t *end, knoop_pb_field_t *f,
                          const uint8_t *need, size_t n)
{
    return knoop_pb_field_next(p, end, f) &&
           (f->num >= n || !need[f->num] || f->wt + 1 == need[f->num]);
}

static bool s_bytes_are(const knoop_pb_field_t *f, const char *s, size_t slen)
{
    return f->len == slen && memcmp(f->data, s, slen) == 0;
}

bool knoop_env_for_partner(const uint8_t *env, size_t len, const char *partner)
{
    /* One walk over the fields, nothing unpacked or allocated: a broker asks
     * this of every message of a catch-up. The bytes come from the broker's
     * own journal, parsed and checked when they entered; a field of the
     * wrong wire type (which protobuf-c would refuse) still answers no. A
     * field given twice counts as protobuf counts it: the last one. */
    static const uint8_t env_wt[] = { [1] = KNOOP_WT_LEN + 1 };
    static const uint8_t body_wt[] = { [2] = KNOOP_WT_LEN + 1, [12] = KNOOP_WT_VARINT + 1,
                                       [14] = KNOOP_WT_LEN + 1 };
    const uint8_t *p = env, *end = env + len, *body = env;   /* none: empty */
    size_t blen = 0;
    knoop_pb_field_t f;
    while (p < end) {
        if (!s_field_typed(&p, end, &f, env_wt, sizeof env_wt))
            return false;
        if (f.num == 1) {
            body = f.data;
            blen = f.len;
        }
    }
    size_t plen = strlen(partner);
    uint32_t tlp = 0;
    bool by_origin = plen == 0;         /* an absent origin reads as "" */
    bool by_recipient = false;
    for (p = body, end = body + blen; p < end;) {
        if (!s_field_typed(&p, end, &f, body_wt, sizeof body_wt))
            return false;
        if (f.num == 12)
            tlp = (uint32_t) f.v;       /* an enum is an int32 */
        else if (f.num == 2)
            by_origin = s_bytes_are(&f, partner, plen);
        else if (f.num == 14)
            by_recipient = by_recipient || s_bytes_are(&f, partner, plen);
    }
    return !knoop_tlp_restricted((knoop_tlp_t) tlp) || by_origin || by_recipient;
}

/* ---- enum names ---- */
static const char *s_prio_names[] = { "routine", "immediate", "flash" };
static const char *s_status_names[] = { "unspecified", "actual", "exercise", "test", "system" };
static const char *s_tlp_names[] = { "unspecified", "clear", "green", "amber", "red",
                                     "amber+strict" };

static int s_lookup(const char **names, int n, const char *name, int first)
{
    for (int i = first; i < n; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *knoop_priority_name(knoop_priority_t p)
{
    return (unsigned) p <= KNOOP_PRIO_FLASH ? s_prio_names[p] : "invalid";
}

const char *knoop_status_name(knoop_status_t s)
{
    return (unsigned) s <= KNOOP_STATUS_SYSTEM ? s_status_names[s] : "invalid";
}

const char *knoop_tlp_name(knoop_tlp_t t)
{
    return (unsigned) t <= KNOOP_TLP_AMBER_STRICT ? s_tlp_names[t] : "invalid";
}

int knoop_priority_parse(const char *name, knoop_priority_t *out)
{
    int i = s_lookup(s_prio_names, 3, name, 0);
    if (i < 0)
        return KNOOP_EINVAL;
    *out = (knoop_priority_t) i;
    return KNOOP_OK;
}

int knoop_status_parse(const char *name, knoop_status_t *out)
{
    int i = s_lookup(s_status_names, 5, name, 1);
    if (i < 0)
        return KNOOP_EINVAL;
    *out = (knoop_status_t) i;
    return KNOOP_OK;
}

int knoop_tlp_parse(const char *name, knoop_tlp_t *out)
{
    if (strncasecmp(name, "TLP:", 4) == 0)
        name += 4;
    if (strcasecmp(name, "amber-strict") == 0 || strcasecmp(name, "amber_strict") == 0)
        name = "amber+strict";
    int i = s_lookup(s_tlp_names, 6, name, 1);
    if (i < 0)
        return KNOOP_EINVAL;
    *out = (knoop_tlp_t) i;
    return KNOOP_OK;
}
