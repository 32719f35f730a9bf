/*
 * test_msg.c — the envelope codec: build/parse round trips, the hash chain,
 * head signatures, tampering, the checks of the parse gate, enum names.
 * Real crypto throughout (libsodium through crypto.h).
 */
#include "testutil.h"
#include "pbwrite.h"
#include "crypto.h"
#include "msg.h"
#include "topic.h"

#include <stdlib.h>
#include <string.h>

#define TYPE_GRIP "knoop.crisis.v1.GripLevel"

/* ---- envelopes the builder refuses (tests/pbwrite.h) ---- */

/* Encode b as a Body without any validation (every field written, even
 * zero ones: the parser must accept explicit defaults). */
static void s_body_raw(knoop_buf_t *out, const knoop_body_t *b)
{
    tu_pb_uint(out, 1, b->version);
    tu_pb_str(out, 2, b->origin);
    tu_pb_str(out, 3, b->topic);
    tu_pb_fixed64(out, 4, b->epoch);
    tu_pb_uint(out, 5, b->seq);
    tu_pb_fixed64(out, 6, b->hlc);
    tu_pb_bytes(out, 7, b->prev, KNOOP_HASH_LEN);
    tu_pb_str(out, 8, b->key);
    tu_pb_str(out, 9, b->type);
    tu_pb_uint(out, 10, (uint64_t) (int64_t) b->priority);
    tu_pb_uint(out, 11, (uint64_t) (int64_t) b->status);
    tu_pb_uint(out, 12, (uint64_t) (int64_t) b->tlp);
    if (b->payload_len)
        tu_pb_bytes(out, 13, b->payload, b->payload_len);
}

static void s_envelope_raw(knoop_buf_t *out, const uint8_t *body, size_t body_len,
                           const uint8_t *sig)
{
    tu_pb_bytes(out, 1, body, body_len);
    if (sig)
        tu_pb_bytes(out, 2, sig, KNOOP_SIG_LEN);
}

/* Parse a hand-encoded (unvalidated) body wrapped in an unsigned envelope. */
static int s_parse_raw(const knoop_body_t *b)
{
    knoop_buf_t body = { 0 }, env = { 0 };
    s_body_raw(&body, b);
    s_envelope_raw(&env, body.data, body.len, NULL);
    knoop_msg_t m;
    int rc = knoop_msg_parse(&m, env.data, env.len);
    if (rc == KNOOP_OK)
        knoop_msg_clear(&m);
    else
        assert_null(m.priv_);       /* a failed parse leaves nothing to free */
    knoop_buf_free(&body);
    knoop_buf_free(&env);
    return rc;
}

/* ---- fixtures ---- */

typedef struct {
    uint8_t pk[KNOOP_PK_LEN], sk[KNOOP_SK_LEN];      /* vr-utrecht */
    uint8_t pk2[KNOOP_PK_LEN], sk2[KNOOP_SK_LEN];    /* another partner */
} s_keys_t;

static int s_setup(void **state)
{
    if (knoop_crypto_init() != KNOOP_OK)
        return -1;
    s_keys_t *k = calloc(1, sizeof *k);
    uint8_t seed[KNOOP_SEED_LEN];
    knoop_sign_keypair(k->pk, k->sk, seed);
    knoop_sign_keypair(k->pk2, k->sk2, seed);
    knoop_wipe(seed, sizeof seed);
    *state = k;
    return 0;
}

static int s_teardown(void **state)
{
    free(*state);
    return 0;
}

static const uint8_t s_payload[] = { 0x08, 0x03, 0x00, 0xff, 0x00, 'g', 'r', 'i', 'p' };

static knoop_body_t s_body(uint64_t seq)
{
    knoop_body_t b;
    memset(&b, 0, sizeof b);
    b.version = KNOOP_BODY_VERSION;
    b.origin = "vr-utrecht";
    b.topic = "grip.vr-utrecht";
    b.epoch = 0xfedcba9876543210ull;
    b.seq = seq;
    b.hlc = (1700000000000ull << 16) | 5;
    b.key = "";
    b.type = TYPE_GRIP;
    b.priority = KNOOP_PRIO_ROUTINE;
    b.status = KNOOP_STATUS_ACTUAL;
    b.tlp = KNOOP_TLP_GREEN;
    b.payload = s_payload;
    b.payload_len = sizeof s_payload;
    return b;
}

/* Independent computations of what parse must report. */
static uint64_t s_ref_stream(const char *origin, const char *topic, uint64_t epoch)
{
    uint8_t buf[KNOOP_ID_MAX + KNOOP_TOPIC_MAX + 16], h[KNOOP_HASH_LEN];
    size_t ol = strlen(origin), tl = strlen(topic), n = 0;
    memcpy(buf + n, origin, ol); n += ol;
    buf[n++] = 0;
    memcpy(buf + n, topic, tl); n += tl;
    buf[n++] = 0;
    knoop_put_be64(buf + n, epoch); n += 8;
    knoop_hash(h, buf, n);
    return knoop_get_be64(h);
}

static void s_assert_body_equal(const knoop_body_t *want, const knoop_body_t *got)
{
    assert_int_equal(got->version, want->version);
    assert_string_equal(got->origin, want->origin);
    assert_string_equal(got->topic, want->topic);
    assert_true(got->epoch == want->epoch);
    assert_true(got->seq == want->seq);
    assert_true(got->hlc == want->hlc);
    assert_memory_equal(got->prev, want->prev, KNOOP_HASH_LEN);
    assert_string_equal(got->key, want->key);
    assert_string_equal(got->type, want->type);
    assert_int_equal(got->priority, want->priority);
    assert_int_equal(got->status, want->status);
    assert_int_equal(got->tlp, want->tlp);
    assert_int_equal(got->payload_len, want->payload_len);
    if (want->payload_len)
        assert_memory_equal(got->payload, want->payload, want->payload_len);
    assert_int_equal(got->nrecipients, want->nrecipients);
    for (size_t i = 0; i < want->nrecipients; i++)
        assert_string_equal(got->recipients[i], want->recipients[i]);
}

/* Build b (signed with sk when non-NULL), parse it back into m. */
static void s_build_parse(const knoop_body_t *b, const uint8_t *sk, knoop_msg_t *m,
                          knoop_buf_t *env, uint8_t chain[KNOOP_HASH_LEN])
{
    assert_int_equal(knoop_msg_build(b, sk, env, chain), KNOOP_OK);
    assert_true(env->len <= KNOOP_ENVELOPE_MAX);
    assert_int_equal(knoop_msg_parse(m, env->data, env->len), KNOOP_OK);
}

/* The body bytes inside an envelope built by knoop_msg_build: field 1 first. */
static size_t s_body_offset(const uint8_t *env, size_t env_len, const knoop_msg_t *m)
{
    assert_int_equal(env[0], 0x0a);
    size_t off = 1;
    while (env[off] & 0x80)
        off++;
    off++;
    assert_true(off + m->body_len <= env_len);
    assert_memory_equal(env + off, m->body, m->body_len);
    return off;
}

/* ---- round trips ---- */

static void test_roundtrip_fields(void **state)
{
    knoop_body_t b = s_body(7);
    b.origin = "ws-rijnland";
    b.topic = "water.ws-rijnland.peil";
    b.epoch = 1;
    b.hlc = 0x0123456789abcdefull;
    for (int i = 0; i < KNOOP_HASH_LEN; i++)
        b.prev[i] = (uint8_t) (0xa0 + i);
    b.key = "meetpunt-12/Katwijk aan Zee \xe2\x80\x94 \xc3\xa9\xf0\x9f\x8c\x8a";
    b.type = "knoop.water.v1.Peil";
    b.priority = KNOOP_PRIO_FLASH;
    b.status = KNOOP_STATUS_EXERCISE;
    b.tlp = KNOOP_TLP_AMBER;

    knoop_buf_t env = { 0 };
    knoop_msg_t m;
    uint8_t chain[KNOOP_HASH_LEN], ref[KNOOP_HASH_LEN];
    s_build_parse(&b, NULL, &m, &env, chain);
    s_assert_body_equal(&b, &m.b);
    assert_null(m.sig);
    assert_non_null(m.body);
    assert_true(m.body_len > 0);
    assert_memory_equal(m.chain, chain, KNOOP_HASH_LEN);
    knoop_chain(ref, b.prev, m.body, m.body_len);
    assert_memory_equal(m.chain, ref, KNOOP_HASH_LEN);
    assert_true(m.stream == knoop_stream_id(b.origin, b.topic, b.epoch));
    assert_true(m.stream == s_ref_stream(b.origin, b.topic, b.epoch));
    s_body_offset(env.data, env.len, &m);

    /* m owns copies: the input can go */
    memset(env.data, 0xee, env.len);
    knoop_buf_free(&env);
    s_assert_body_equal(&b, &m.b);
    knoop_chain(ref, m.b.prev, m.body, m.body_len);
    assert_memory_equal(m.chain, ref, KNOOP_HASH_LEN);

    knoop_msg_clear(&m);
    assert_null(m.priv_);
    knoop_msg_clear(&m);            /* twice is fine */
}

/* knoop_stream_id remembers the last stream it computed: calls that go back
 * and forth between streams, and streams that differ in one part only (or
 * whose parts shift bytes between origin and topic), still get their own
 * ids; ids of parts too long to remember are right too. */
static void test_stream_id_memo(void **state)
{
    (void) state;
    /* the longest a memo holds, and one byte more (never remembered:
     * knoop_stream_id hashes whatever it is given) */
    char long_topic[KNOOP_TOPIC_MAX + 1], longer_topic[KNOOP_TOPIC_MAX + 2];
    char longer_origin[KNOOP_ID_MAX + 2];
    memset(long_topic, 'x', KNOOP_TOPIC_MAX);
    long_topic[KNOOP_TOPIC_MAX] = 0;
    memset(longer_topic, 'x', KNOOP_TOPIC_MAX + 1);
    longer_topic[KNOOP_TOPIC_MAX + 1] = 0;
    memset(longer_origin, 'o', KNOOP_ID_MAX + 1);
    longer_origin[KNOOP_ID_MAX + 1] = 0;
    const struct { const char *origin, *topic; uint64_t epoch; } s[] = {
        { "vr-utrecht", "sitrep.vr-utrecht", 1 },
        { "vr-utrecht", "sitrep.vr-utrecht", 2 },
        { "vr-utrecht", "sitrep.vr-utrechT", 1 },
        { "vr-utrech", "tsitrep.vr-utrecht", 1 },
        { "vr-zeeland", "sitrep.vr-utrecht", 1 },
        { "vr-utrecht", long_topic, 1 },
        { "vr-utrecht", long_topic, 2 },
        { "vr-utrecht", longer_topic, 1 },
        { "vr-utrecht", longer_topic, 2 },
        { longer_origin, "sitrep.vr-utrecht", 1 },
    };
    size_t n = sizeof s / sizeof s[0];
    uint64_t want[sizeof s / sizeof s[0]];
    for (size_t i = 0; i < n; i++)
        want[i] = s_ref_stream(s[i].origin, s[i].topic, s[i].epoch);
    /* every order of pairs, twice in a row too */
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            assert_true(knoop_stream_id(s[a].origin, s[a].topic, s[a].epoch) == want[a]);
            assert_true(knoop_stream_id(s[b].origin, s[b].topic, s[b].epoch) == want[b]);
            assert_true(knoop_stream_id(s[b].origin, s[b].topic, s[b].epoch) == want[b]);
        }
}

/* A stored parse: the same fields and checks as a parse, the caller's
 * stream, no chain. */
static void test_parse_stored(void **state)
{
    (void) state;
    knoop_body_t b = s_body(3);
    knoop_buf_t env = { 0 };
    knoop_msg_t m, st;
    uint8_t chain[KNOOP_HASH_LEN], zero[KNOOP_HASH_LEN] = { 0 };
    s_build_parse(&b, NULL, &m, &env, chain);
    assert_int_equal(knoop_msg_parse_stored(&st, env.data, env.len, 0x1234), KNOOP_OK);
    s_assert_body_equal(&b, &st.b);
    assert_true(st.stream == 0x1234);
    assert_memory_equal(st.chain, zero, KNOOP_HASH_LEN);
    assert_int_equal(st.body_len, m.body_len);
    assert_memory_equal(st.body, m.body, m.body_len);
    knoop_msg_clear(&st);
    assert_int_equal(knoop_msg_parse_stored(&st, env.data, env.len, 0), KNOOP_OK);
    assert_true(st.stream == m.stream);
    knoop_msg_clear(&st);
    /* the gate's checks stay: a cut envelope is refused */
    assert_int_not_equal(knoop_msg_parse_stored(&st, env.data, env.len - 1, 0x1234), KNOOP_OK);
    knoop_msg_clear(&m);
    knoop_buf_free(&env);
}

/* Every enum value, empty and maximal strings, empty and maximal payloads. */
static void test_roundtrip_ranges(void **state)
{
    s_keys_t *k = *state;
    for (int p = KNOOP_PRIO_ROUTINE; p <= KNOOP_PRIO_FLASH; p++)
        for (int s = KNOOP_STATUS_ACTUAL; s <= KNOOP_STATUS_SYSTEM; s++)
            for (int t = KNOOP_TLP_CLEAR; t <= KNOOP_TLP_AMBER_STRICT; t++) {
                static const char *const rcpt[] = { "vr-zeeland", "kcr2-broker-1" };
                knoop_body_t b = s_body(1);
                b.priority = (knoop_priority_t) p;
                b.status = (knoop_status_t) s;
                b.tlp = (knoop_tlp_t) t;
                b.recipients = rcpt;
                b.nrecipients = knoop_tlp_restricted(b.tlp) ? 2 : (size_t) (t & 1);
                knoop_buf_t env = { 0 };
                knoop_msg_t m;
                s_build_parse(&b, NULL, &m, &env, NULL);
                s_assert_body_equal(&b, &m.b);
                knoop_msg_clear(&m);
                knoop_buf_free(&env);
            }

    /* the largest fields everywhere, with the largest payload, signed */
    char origin[KNOOP_ID_MAX + 1], topic[KNOOP_TOPIC_MAX + 1];
    char key[KNOOP_KEY_MAX + 1], type[KNOOP_TYPE_MAX + 1];
    memset(origin, 'o', KNOOP_ID_MAX);
    origin[KNOOP_ID_MAX] = '\0';
    for (int i = 0; i < KNOOP_TOPIC_MAX; i++)
        topic[i] = (i % 64 == 63) ? '.' : 't';
    topic[KNOOP_TOPIC_MAX] = '\0';
    assert_int_equal(knoop_topic_validate(topic), KNOOP_OK);
    memset(key, 'k', KNOOP_KEY_MAX);
    key[KNOOP_KEY_MAX] = '\0';
    memset(type, 'T', KNOOP_TYPE_MAX);
    type[KNOOP_TYPE_MAX] = '\0';
    uint8_t *payload = malloc(KNOOP_PAYLOAD_MAX);
    assert_non_null(payload);
    for (size_t i = 0; i < KNOOP_PAYLOAD_MAX; i++)
        payload[i] = (uint8_t) (i * 31);

    knoop_body_t b = s_body(UINT64_MAX);
    b.origin = origin;
    b.topic = topic;
    b.epoch = UINT64_MAX;
    b.hlc = UINT64_MAX;
    memset(b.prev, 0xff, KNOOP_HASH_LEN);
    b.key = key;
    b.type = type;
    b.payload = payload;
    b.payload_len = KNOOP_PAYLOAD_MAX;
    knoop_buf_t env = { 0 };
    knoop_msg_t m;
    s_build_parse(&b, k->sk, &m, &env, NULL);
    s_assert_body_equal(&b, &m.b);
    assert_int_equal(knoop_msg_verify_sig(&m, k->pk), KNOOP_OK);
    knoop_msg_clear(&m);
    knoop_buf_free(&env);

    /* empty payload, empty type and key, smallest epoch and hlc 0 */
    b = s_body(1);
    b.payload = NULL;
    b.payload_len = 0;
    b.type = "";
    b.key = "";
    b.epoch = 1;
    b.hlc = 0;
    s_build_parse(&b, NULL, &m, &env, NULL);
    s_assert_body_equal(&b, &m.b);
    knoop_msg_clear(&m);
    knoop_buf_free(&env);
    free(payload);
}

/* knoop_env_for_partner (a walk over the envelope's bytes) answers as the
 * parsed message does (knoop_msg_for_partner), for every label, with and
 * without recipients, for the origin, each recipient, a stranger and ""; and
 * no for bytes that do not walk or carry a field of the wrong wire type. */
static void test_env_for_partner(void **state)
{
    (void) state;
    static const char *const rcpt[] = { "vr-zeeland", "kcr2-broker-1", "wsrl" };
    static const char *const asks[] = { "vr-utrecht", "vr-zeeland", "kcr2-broker-1", "wsrl",
                                        "vr-zeelan", "vr-zeeland2", "" };
    size_t checked = 0, yes = 0;
    for (int t = KNOOP_TLP_CLEAR; t <= KNOOP_TLP_AMBER_STRICT; t++)
        for (size_t nr = 0; nr <= 3; nr++) {
            knoop_body_t b = s_body(1);
            b.tlp = (knoop_tlp_t) t;
            b.recipients = rcpt;
            b.nrecipients = nr;
            knoop_buf_t env = { 0 };
            if (knoop_msg_build(&b, NULL, &env, NULL) != KNOOP_OK) {
                assert_true(knoop_tlp_restricted(b.tlp) && nr == 0);   /* needs recipients */
                continue;
            }
            knoop_msg_t m;
            assert_int_equal(knoop_msg_parse(&m, env.data, env.len), KNOOP_OK);
            for (size_t a = 0; a < sizeof asks / sizeof *asks; a++) {
                bool want = knoop_msg_for_partner(&m, asks[a]);
                if (knoop_env_for_partner(env.data, env.len, asks[a]) != want)
                    fail_msg("tlp %d, %zu recipients, asked for '%s': walk says %d, parse %d",
                             t, nr, asks[a], !want, want);
                checked++;
                yes += want;
            }
            if (knoop_tlp_restricted(b.tlp))      /* cut short: the walk fails, so no */
                assert_false(knoop_env_for_partner(env.data, env.len - 1, "vr-utrecht"));
            knoop_msg_clear(&m);
            knoop_buf_free(&env);
        }
    assert_true(yes > 0 && yes < checked);      /* both answers were given */

    /* classification sent as a length-delimited field: protobuf-c refuses
     * the body, so no one is named */
    knoop_buf_t body = { 0 }, env = { 0 };
    knoop_body_t b = s_body(1);
    s_body_raw(&body, &b);
    tu_pb_str(&body, 12, "red");
    s_envelope_raw(&env, body.data, body.len, NULL);
    assert_false(knoop_env_for_partner(env.data, env.len, "vr-utrecht"));
    knoop_buf_free(&env);
    knoop_buf_free(&body);
    /* the envelope's body field given twice: the last counts, as in protobuf */
    knoop_buf_t red = { 0 }, green = { 0 };
    b.tlp = KNOOP_TLP_RED;
    s_body_raw(&red, &b);
    b.tlp = KNOOP_TLP_GREEN;
    s_body_raw(&green, &b);
    s_envelope_raw(&env, green.data, green.len, NULL);
    s_envelope_raw(&env, red.data, red.len, NULL);
    assert_false(knoop_env_for_partner(env.data, env.len, "vr-zeeland"));
    assert_true(knoop_env_for_partner(env.data, env.len, "vr-utrecht"));   /* the origin */
    knoop_buf_free(&env);
    s_envelope_raw(&env, red.data, red.len, NULL);
    s_envelope_raw(&env, green.data, green.len, NULL);
    assert_true(knoop_env_for_partner(env.data, env.len, "vr-zeeland"));
    knoop_buf_free(&env);
    knoop_buf_free(&red);
    knoop_buf_free(&green);
}

/* knoop_msg_build appends: several envelopes in one buffer. */
static void test_build_appends(void **state)
{
    knoop_buf_t out = { 0 };
    assert_int_equal(knoop_buf_append(&out, "prefix", 6), KNOOP_OK);
    knoop_body_t b1 = s_body(1);
    uint8_t c1[KNOOP_HASH_LEN];
    assert_int_equal(knoop_msg_build(&b1, NULL, &out, c1), KNOOP_OK);
    size_t mid = out.len;
    knoop_body_t b2 = s_body(2);
    memcpy(b2.prev, c1, KNOOP_HASH_LEN);
    assert_int_equal(knoop_msg_build(&b2, NULL, &out, NULL), KNOOP_OK);
    assert_memory_equal(out.data, "prefix", 6);

    knoop_msg_t m;
    assert_int_equal(knoop_msg_parse(&m, out.data + 6, mid - 6), KNOOP_OK);
    assert_true(m.b.seq == 1);
    knoop_msg_clear(&m);
    assert_int_equal(knoop_msg_parse(&m, out.data + mid, out.len - mid), KNOOP_OK);
    assert_true(m.b.seq == 2);
    assert_memory_equal(m.b.prev, c1, KNOOP_HASH_LEN);
    knoop_msg_clear(&m);
    knoop_buf_free(&out);
}

/* ---- the hash chain ---- */

static void test_chain_three(void **state)
{
    s_keys_t *k = *state;
    uint8_t prev[KNOOP_HASH_LEN] = { 0 };
    uint64_t stream = knoop_stream_id("vr-utrecht", "grip.vr-utrecht", 0xfedcba9876543210ull);
    uint8_t chains[3][KNOOP_HASH_LEN];
    for (int i = 0; i < 3; i++) {
        knoop_body_t b = s_body((uint64_t) i + 1);
        memcpy(b.prev, prev, KNOOP_HASH_LEN);
        knoop_buf_t env = { 0 };
        knoop_msg_t m;
        uint8_t chain[KNOOP_HASH_LEN], ref[KNOOP_HASH_LEN];
        /* only the last one is signed: one head signature for the batch */
        s_build_parse(&b, i == 2 ? k->sk : NULL, &m, &env, chain);
        assert_memory_equal(m.b.prev, prev, KNOOP_HASH_LEN);
        assert_memory_equal(m.chain, chain, KNOOP_HASH_LEN);
        knoop_chain(ref, prev, m.body, m.body_len);
        assert_memory_equal(m.chain, ref, KNOOP_HASH_LEN);
        assert_true(m.stream == stream);
        assert_true(m.stream == s_ref_stream("vr-utrecht", "grip.vr-utrecht", b.epoch));
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(chain, chains[j], KNOOP_HASH_LEN);
        memcpy(chains[i], chain, KNOOP_HASH_LEN);
        if (i == 2)
            assert_int_equal(knoop_msg_verify_sig(&m, k->pk), KNOOP_OK);
        else
            assert_int_equal(knoop_msg_verify_sig(&m, k->pk), KNOOP_ENOTFOUND);
        memcpy(prev, chain, KNOOP_HASH_LEN);
        knoop_msg_clear(&m);
        knoop_buf_free(&env);
    }

    /* the stream id separates origin, topic and epoch */
    assert_true(stream != knoop_stream_id("vr-utrecht", "grip.vr-utrecht", 1));
    assert_true(stream != knoop_stream_id("vr-utrech", "grip.vr-utrecht", 0xfedcba9876543210ull));
    assert_true(knoop_stream_id("ab", "c", 1) != knoop_stream_id("a", "bc", 1));
    assert_true(knoop_stream_id("a", "b.c", 1) != knoop_stream_id("a", "b", 1));
}

/* ---- head signatures ---- */

static void test_signature(void **state)
{
    s_keys_t *k = *state;
    knoop_body_t b = s_body(1);
    knoop_buf_t env = { 0 };
    knoop_msg_t m;
    uint8_t chain[KNOOP_HASH_LEN];
    s_build_parse(&b, k->sk, &m, &env, chain);
    assert_non_null(m.sig);
    assert_int_equal(knoop_msg_verify_sig(&m, k->pk), KNOOP_OK);
    assert_int_equal(knoop_head_verify(m.sig, k->pk, "vr-utrecht", "grip.vr-utrecht",
                                       b.epoch, 1, chain), KNOOP_OK);
    /* another partner's key */
    assert_int_equal(knoop_msg_verify_sig(&m, k->pk2), KNOOP_ESIG);
    /* the statement binds every field it names */
    assert_int_equal(knoop_head_verify(m.sig, k->pk, "vr-utrechT", "grip.vr-utrecht",
                                       b.epoch, 1, chain), KNOOP_ESIG);
    assert_int_equal(knoop_head_verify(m.sig, k->pk, "vr-utrecht", "grip.vr-utrechT",
                                       b.epoch, 1, chain), KNOOP_ESIG);
    assert_int_equal(knoop_head_verify(m.sig, k->pk, "vr-utrecht", "grip.vr-utrecht",
                                       b.epoch + 1, 1, chain), KNOOP_ESIG);
    assert_int_equal(knoop_head_verify(m.sig, k->pk, "vr-utrecht", "grip.vr-utrecht",
                                       b.epoch, 2, chain), KNOOP_ESIG);
    /* moving bytes between origin and topic changes the statement */
    assert_int_equal(knoop_head_verify(m.sig, k->pk, "vr-utrechtg", "rip.vr-utrecht",
                                       b.epoch, 1, chain), KNOOP_ESIG);

    /* forged signatures: every single bit flipped fails */
    uint8_t sig[KNOOP_SIG_LEN];
    memcpy(sig, m.sig, KNOOP_SIG_LEN);
    for (int bit = 0; bit < KNOOP_SIG_LEN * 8; bit++) {
        uint8_t forged[KNOOP_SIG_LEN];
        memcpy(forged, sig, KNOOP_SIG_LEN);
        forged[bit / 8] ^= (uint8_t) (1u << (bit % 8));
        assert_int_equal(knoop_head_verify(forged, k->pk, "vr-utrecht", "grip.vr-utrecht",
                                           b.epoch, 1, chain), KNOOP_ESIG);
    }
    /* the same through the envelope: flip a bit of the sig field on the wire */
    size_t sig_off = env.len - KNOOP_SIG_LEN;
    assert_memory_equal(env.data + sig_off, sig, KNOOP_SIG_LEN);
    env.data[sig_off + 17] ^= 0x04;
    knoop_msg_t f;
    assert_int_equal(knoop_msg_parse(&f, env.data, env.len), KNOOP_OK);
    assert_int_equal(knoop_msg_verify_sig(&f, k->pk), KNOOP_ESIG);
    knoop_msg_clear(&f);
    /* all-zero and all-ones signatures */
    uint8_t zero[KNOOP_SIG_LEN] = { 0 }, ones[KNOOP_SIG_LEN];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(knoop_head_verify(zero, k->pk, "vr-utrecht", "grip.vr-utrecht",
                                       b.epoch, 1, chain), KNOOP_ESIG);
    assert_int_equal(knoop_head_verify(ones, k->pk, "vr-utrecht", "grip.vr-utrecht",
                                       b.epoch, 1, chain), KNOOP_ESIG);
    knoop_msg_clear(&m);
    knoop_buf_free(&env);

    /* unsigned */
    s_build_parse(&b, NULL, &m, &env, NULL);
    assert_null(m.sig);
    assert_int_equal(knoop_msg_verify_sig(&m, k->pk), KNOOP_ENOTFOUND);
    knoop_msg_clear(&m);
    knoop_buf_free(&env);

    /* the same seed gives the same key pair and so the same signature */
    uint8_t seed[KNOOP_SEED_LEN], pk_a[KNOOP_PK_LEN], sk_a[KNOOP_SK_LEN];
    uint8_t pk_b[KNOOP_PK_LEN], sk_b[KNOOP_SK_LEN];
    knoop_sign_keypair(pk_a, sk_a, seed);
    knoop_sign_seed_keypair(pk_b, sk_b, seed);
    assert_memory_equal(pk_a, pk_b, KNOOP_PK_LEN);
    uint8_t s1[KNOOP_SIG_LEN], s2[KNOOP_SIG_LEN];
    knoop_head_sign(s1, sk_a, "a", "b", 1, 1, chain);
    knoop_head_sign(s2, sk_b, "a", "b", 1, 1, chain);
    assert_memory_equal(s1, s2, KNOOP_SIG_LEN);
    knoop_wipe(sk_a, sizeof sk_a);
    knoop_wipe(sk_b, sizeof sk_b);
    knoop_wipe(seed, sizeof seed);
}

/* ---- tampering ---- */

static void test_tamper_body(void **state)
{
    s_keys_t *k = *state;
    knoop_body_t b = s_body(3);
    knoop_random(b.prev, KNOOP_HASH_LEN);
    knoop_buf_t env = { 0 };
    knoop_msg_t m;
    s_build_parse(&b, k->sk, &m, &env, NULL);
    size_t off = s_body_offset(env.data, env.len, &m);

    uint8_t *copy = malloc(env.len);
    assert_non_null(copy);
    int parsed = 0, refused = 0;
    for (size_t i = 0; i < m.body_len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, env.data, env.len);
            copy[off + i] ^= (uint8_t) (1u << bit);
            knoop_msg_t t;
            int rc = knoop_msg_parse(&t, copy, env.len);
            if (rc != KNOOP_OK) {
                refused++;
                continue;
            }
            parsed++;
            assert_memory_not_equal(t.chain, m.chain, KNOOP_HASH_LEN);
            assert_non_null(t.sig);
            if (knoop_msg_verify_sig(&t, k->pk) != KNOOP_ESIG)
                fail_msg("body byte %zu bit %d flipped and the signature still verifies", i, bit);
            knoop_msg_clear(&t);
        }
    }
    /* both outcomes must have happened, or the test proves little */
    assert_true(parsed > 0);
    assert_true(refused > 0);
    free(copy);
    knoop_msg_clear(&m);
    knoop_buf_free(&env);
}

static void test_tamper_prev(void **state)
{
    s_keys_t *k = *state;
    knoop_body_t b1 = s_body(1);
    knoop_buf_t env1 = { 0 }, env2 = { 0 }, env2x = { 0 }, forged = { 0 };
    uint8_t c1[KNOOP_HASH_LEN], c2[KNOOP_HASH_LEN], c2x[KNOOP_HASH_LEN];
    assert_int_equal(knoop_msg_build(&b1, NULL, &env1, c1), KNOOP_OK);

    knoop_body_t b2 = s_body(2);
    memcpy(b2.prev, c1, KNOOP_HASH_LEN);
    knoop_msg_t m2;
    s_build_parse(&b2, k->sk, &m2, &env2, c2);
    assert_int_equal(knoop_msg_verify_sig(&m2, k->pk), KNOOP_OK);

    /* the same message claiming another predecessor */
    knoop_body_t b2x = b2;
    b2x.prev[5] ^= 0x20;
    knoop_msg_t m2x;
    s_build_parse(&b2x, NULL, &m2x, &env2x, c2x);
    assert_memory_not_equal(c2x, c2, KNOOP_HASH_LEN);
    assert_memory_not_equal(m2x.chain, m2.chain, KNOOP_HASH_LEN);
    /* the old head signature does not cover the new chain */
    assert_int_equal(knoop_head_verify(m2.sig, k->pk, "vr-utrecht", "grip.vr-utrecht",
                                       b2.epoch, 2, m2x.chain), KNOOP_ESIG);
    /* nor when it is put into the altered envelope */
    s_envelope_raw(&forged, m2x.body, m2x.body_len, m2.sig);
    knoop_msg_t mf;
    assert_int_equal(knoop_msg_parse(&mf, forged.data, forged.len), KNOOP_OK);
    assert_memory_equal(mf.b.prev, b2x.prev, KNOOP_HASH_LEN);
    assert_int_equal(knoop_msg_verify_sig(&mf, k->pk), KNOOP_ESIG);
    knoop_msg_clear(&mf);

    knoop_msg_clear(&m2);
    knoop_msg_clear(&m2x);
    knoop_buf_free(&env1);
    knoop_buf_free(&env2);
    knoop_buf_free(&env2x);
    knoop_buf_free(&forged);
}

/* ---- resign ---- */

static void test_resign(void **state)
{
    s_keys_t *k = *state;
    knoop_body_t b = s_body(1);
    knoop_buf_t env = { 0 }, out = { 0 };
    knoop_msg_t m;
    s_build_parse(&b, NULL, &m, &env, NULL);
    assert_int_equal(knoop_msg_verify_sig(&m, k->pk), KNOOP_ENOTFOUND);

    assert_int_equal(knoop_buf_append(&out, "xy", 2), KNOOP_OK);
    assert_int_equal(knoop_msg_resign(&m, k->sk, &out), KNOOP_OK);
    assert_memory_equal(out.data, "xy", 2);
    knoop_msg_t r;
    assert_int_equal(knoop_msg_parse(&r, out.data + 2, out.len - 2), KNOOP_OK);
    /* body untouched: same bytes, same chain, now verifiable */
    assert_int_equal(r.body_len, m.body_len);
    assert_memory_equal(r.body, m.body, m.body_len);
    assert_memory_equal(r.chain, m.chain, KNOOP_HASH_LEN);
    assert_true(r.stream == m.stream);
    assert_int_equal(knoop_msg_verify_sig(&r, k->pk), KNOOP_OK);
    assert_int_equal(knoop_msg_verify_sig(&r, k->pk2), KNOOP_ESIG);

    /* re-signing a signed message with another key replaces the signature */
    knoop_buf_t out2 = { 0 };
    assert_int_equal(knoop_msg_resign(&r, k->sk2, &out2), KNOOP_OK);
    knoop_msg_t r2;
    assert_int_equal(knoop_msg_parse(&r2, out2.data, out2.len), KNOOP_OK);
    assert_memory_equal(r2.body, m.body, m.body_len);
    assert_int_equal(knoop_msg_verify_sig(&r2, k->pk), KNOOP_ESIG);
    assert_int_equal(knoop_msg_verify_sig(&r2, k->pk2), KNOOP_OK);
    /* the resigned envelope is what build would have made when signing */
    knoop_buf_t signed_env = { 0 };
    assert_int_equal(knoop_msg_build(&b, k->sk, &signed_env, NULL), KNOOP_OK);
    assert_int_equal(signed_env.len, out.len - 2);
    assert_memory_equal(signed_env.data, out.data + 2, signed_env.len);

    knoop_msg_clear(&r2);
    knoop_msg_clear(&r);
    knoop_msg_clear(&m);
    knoop_buf_free(&env);
    knoop_buf_free(&out);
    knoop_buf_free(&out2);
    knoop_buf_free(&signed_env);
}

/* ---- the view built at publish (knoop_msg_build_view, knoop_msg_sign) ---- */

/* The view is what parsing the envelope knoop_msg_build makes gives: the
 * same body bytes, chain, stream and fields; signing it gives the envelope
 * build makes with the key. Its strings are its own copies. */
static void s_view_matches(const knoop_body_t *b, const s_keys_t *k)
{
    knoop_buf_t env = { 0 }, packed = { 0 }, signed_env = { 0 };
    knoop_msg_t parsed, view;
    s_build_parse(b, NULL, &parsed, &env, NULL);

    /* the caller's strings and payload go away after the build */
    char *origin = strdup(b->origin), *topic = strdup(b->topic), *key = strdup(b->key),
         *type = strdup(b->type);
    uint8_t *payload = b->payload_len ? malloc(b->payload_len) : NULL;
    if (b->payload_len)
        memcpy(payload, b->payload, b->payload_len);
    char *rcpt[KNOOP_RECIPIENTS_MAX];
    for (size_t i = 0; i < b->nrecipients; i++)
        rcpt[i] = strdup(b->recipients[i]);
    knoop_body_t c = *b;
    c.origin = origin; c.topic = topic; c.key = key; c.type = type; c.payload = payload;
    c.recipients = (const char *const *) rcpt;
    assert_int_equal(knoop_msg_build_view(&c, 0, &view), KNOOP_OK);
    memset(origin, 'x', strlen(origin)); free(origin);
    memset(topic, 'x', strlen(topic)); free(topic);
    memset(key, 'x', strlen(key)); free(key);
    memset(type, 'x', strlen(type)); free(type);
    if (payload)
        memset(payload, 0xee, b->payload_len);
    free(payload);
    for (size_t i = 0; i < b->nrecipients; i++) {
        memset(rcpt[i], 'x', strlen(rcpt[i]));
        free(rcpt[i]);
    }

    s_assert_body_equal(b, &view.b);
    assert_int_equal(view.body_len, parsed.body_len);
    assert_memory_equal(view.body, parsed.body, parsed.body_len);
    assert_memory_equal(view.chain, parsed.chain, KNOOP_HASH_LEN);
    assert_true(view.stream == parsed.stream);
    assert_null(view.sig);
    assert_false(view.signed_here);
    assert_int_equal(knoop_msg_pack(&view, &packed), KNOOP_OK);
    assert_int_equal(packed.len, env.len);
    assert_memory_equal(packed.data, env.data, env.len);

    /* signed in place: the envelope build makes with the key, verifiable */
    knoop_msg_sign(&view, k->sk);
    assert_true(view.signed_here);
    assert_int_equal(knoop_msg_verify_sig(&view, k->pk), KNOOP_OK);
    assert_int_equal(knoop_msg_verify_sig(&view, k->pk2), KNOOP_ESIG);
    packed.len = 0;
    assert_int_equal(knoop_msg_pack(&view, &packed), KNOOP_OK);
    assert_int_equal(knoop_msg_build(b, k->sk, &signed_env, NULL), KNOOP_OK);
    assert_int_equal(packed.len, signed_env.len);
    assert_memory_equal(packed.data, signed_env.data, signed_env.len);
    /* what the parse gate makes of it is never "signed here" */
    knoop_msg_t back;
    assert_int_equal(knoop_msg_parse(&back, packed.data, packed.len), KNOOP_OK);
    assert_false(back.signed_here);
    assert_int_equal(knoop_msg_verify_sig(&back, k->pk), KNOOP_OK);

    /* a known stream id is taken as given */
    knoop_msg_t v2;
    assert_int_equal(knoop_msg_build_view(b, parsed.stream, &v2), KNOOP_OK);
    assert_true(v2.stream == parsed.stream);
    knoop_msg_clear(&v2);

    knoop_msg_clear(&back);
    knoop_msg_clear(&view);
    assert_null(view.priv_);
    knoop_msg_clear(&view);
    knoop_msg_clear(&parsed);
    knoop_buf_free(&env);
    knoop_buf_free(&packed);
    knoop_buf_free(&signed_env);
}

static void test_build_view(void **state)
{
    const s_keys_t *k = *state;
    knoop_body_t b = s_body(1);
    s_view_matches(&b, k);

    b = s_body(42);
    for (int i = 0; i < KNOOP_HASH_LEN; i++)
        b.prev[i] = (uint8_t) i;
    b.key = "meetpunt \xc3\xa9";
    b.payload = NULL;
    b.payload_len = 0;
    b.priority = KNOOP_PRIO_FLASH;
    b.status = KNOOP_STATUS_TEST;
    s_view_matches(&b, k);

    static const char *const rcpt[] = { "vr-utrecht", "ws-rijnland", "nctv" };
    b = s_body(3);
    b.prev[0] = 1;
    b.tlp = KNOOP_TLP_RED;
    b.recipients = rcpt;
    b.nrecipients = 3;
    s_view_matches(&b, k);

    /* the builder's checks: nothing is held after a refusal */
    knoop_msg_t m;
    b = s_body(1);
    b.epoch = 0;
    assert_int_equal(knoop_msg_build_view(&b, 0, &m), KNOOP_EMALFORMED);
    assert_null(m.priv_);
    b = s_body(1);
    b.payload = NULL;                 /* a length without bytes */
    assert_int_equal(knoop_msg_build_view(&b, 0, &m), KNOOP_EINVAL);
    assert_null(m.priv_);
}

/* ---- refusals: the builder and the parser agree ---- */

/* Expect `want` from knoop_msg_build and from parsing the same fields
 * encoded by hand. */
static void s_refuse(const knoop_body_t *b, int want, const char *what)
{
    knoop_buf_t out = { 0 };
    uint8_t chain[KNOOP_HASH_LEN];
    int rc = knoop_msg_build(b, NULL, &out, chain);
    if (rc != want)
        fail_msg("%s: build gave %d (%s), want %d (%s)", what, rc, knoop_strerror(rc),
                 want, knoop_strerror(want));
    assert_int_equal(out.len, 0);          /* nothing appended on failure */
    knoop_buf_free(&out);
    knoop_msg_t view;
    rc = knoop_msg_build_view(b, 0, &view);
    if (rc != want)
        fail_msg("%s: build_view gave %d (%s), want %d (%s)", what, rc, knoop_strerror(rc),
                 want, knoop_strerror(want));
    assert_null(view.priv_);
    rc = s_parse_raw(b);
    if (rc != want)
        fail_msg("%s: parse gave %d (%s), want %d (%s)", what, rc, knoop_strerror(rc),
                 want, knoop_strerror(want));
}

static void test_refusals(void **state)
{
    knoop_body_t b;
    /* the reference body is accepted by both ways */
    b = s_body(1);
    assert_int_equal(s_parse_raw(&b), KNOOP_OK);

    b = s_body(0);
    s_refuse(&b, KNOOP_EMALFORMED, "seq 0");
    b = s_body(1); b.epoch = 0;
    s_refuse(&b, KNOOP_EMALFORMED, "epoch 0");
    b = s_body(1); b.prev[31] = 1;
    s_refuse(&b, KNOOP_ECHAIN, "seq 1 with non-zero prev");
    b = s_body(1); b.version = 0;
    s_refuse(&b, KNOOP_EVERSION, "version 0");
    b = s_body(1); b.version = 2;
    s_refuse(&b, KNOOP_EVERSION, "version 2");

    static const char *bad_topics[] = {
        "", "grip.*", "grip.>", ">", "Grip.vr-utrecht", "grip..x", "grip.", "a b",
    };
    for (size_t i = 0; i < sizeof bad_topics / sizeof *bad_topics; i++) {
        b = s_body(1); b.topic = bad_topics[i];
        s_refuse(&b, KNOOP_ETOPIC, bad_topics[i]);
    }
    char long_id[KNOOP_ID_MAX + 2];
    memset(long_id, 'a', KNOOP_ID_MAX + 1);
    long_id[KNOOP_ID_MAX + 1] = '\0';
    static const char *bad_origins[] = { "", "VR-utrecht", "-vr", "vr utrecht", "vr.utrecht" };
    for (size_t i = 0; i < sizeof bad_origins / sizeof *bad_origins; i++) {
        b = s_body(1); b.origin = bad_origins[i];
        s_refuse(&b, KNOOP_EMALFORMED, bad_origins[i]);
    }
    b = s_body(1); b.origin = long_id;
    s_refuse(&b, KNOOP_EMALFORMED, "origin of 65 bytes");

    b = s_body(1); b.status = KNOOP_STATUS_UNSPECIFIED;
    s_refuse(&b, KNOOP_EMALFORMED, "status unspecified");
    b = s_body(1); b.status = (knoop_status_t) 5;
    s_refuse(&b, KNOOP_EMALFORMED, "status 5");
    b = s_body(1); b.status = (knoop_status_t) -1;
    s_refuse(&b, KNOOP_EMALFORMED, "status -1");
    b = s_body(1); b.tlp = KNOOP_TLP_UNSPECIFIED;
    s_refuse(&b, KNOOP_EMALFORMED, "tlp unspecified");
    b = s_body(1); b.tlp = (knoop_tlp_t) 6;
    s_refuse(&b, KNOOP_EMALFORMED, "tlp 6");
    b = s_body(1); b.tlp = KNOOP_TLP_RED;
    s_refuse(&b, KNOOP_EMALFORMED, "tlp red without recipients");
    b = s_body(1); b.tlp = KNOOP_TLP_AMBER_STRICT;
    s_refuse(&b, KNOOP_EMALFORMED, "tlp amber+strict without recipients");
    static const char *const dup[] = { "vr-a", "vr-a" }, *const badid[] = { "VR A" };
    b = s_body(1); b.tlp = KNOOP_TLP_RED; b.recipients = dup; b.nrecipients = 2;
    s_refuse(&b, KNOOP_EMALFORMED, "a recipient named twice");
    b = s_body(1); b.tlp = KNOOP_TLP_RED; b.recipients = badid; b.nrecipients = 1;
    s_refuse(&b, KNOOP_EMALFORMED, "a recipient that is not a partner id");
    b = s_body(1); b.priority = (knoop_priority_t) 3;
    s_refuse(&b, KNOOP_EMALFORMED, "priority 3");
    b = s_body(1); b.priority = (knoop_priority_t) -1;
    s_refuse(&b, KNOOP_EMALFORMED, "priority -1");

    char long_type[KNOOP_TYPE_MAX + 2];
    memset(long_type, 'T', KNOOP_TYPE_MAX + 1);
    long_type[KNOOP_TYPE_MAX + 1] = '\0';
    static const char *bad_types[] = {
        "knoop crisis", "knoop-crisis.v1", "knoop/v1", "type\n", "knoop.crisis.v1.Grip\x7f",
        "ünicode",
    };
    for (size_t i = 0; i < sizeof bad_types / sizeof *bad_types; i++) {
        b = s_body(1); b.type = bad_types[i];
        s_refuse(&b, KNOOP_EMALFORMED, bad_types[i]);
    }
    b = s_body(1); b.type = long_type;
    s_refuse(&b, KNOOP_EMALFORMED, "type of 129 bytes");

    char long_key[KNOOP_KEY_MAX + 2];
    memset(long_key, 'k', KNOOP_KEY_MAX + 1);
    long_key[KNOOP_KEY_MAX + 1] = '\0';
    b = s_body(1); b.key = long_key;
    s_refuse(&b, KNOOP_EMALFORMED, "key of 256 bytes");
    b = s_body(1); b.key = "line\nbreak";
    s_refuse(&b, KNOOP_EMALFORMED, "key with a newline");
    b = s_body(1); b.key = "del\x7f";
    s_refuse(&b, KNOOP_EMALFORMED, "key with DEL");
    b = s_body(1); b.key = "latin-1 \xfc";
    s_refuse(&b, KNOOP_EMALFORMED, "key not UTF-8");
    b = s_body(1); b.key = "\xc0\xaf";
    s_refuse(&b, KNOOP_EMALFORMED, "key with an overlong UTF-8 form");
    b = s_body(1); b.key = "meetpunt-\xc3\xbc \xf0\x9f\x9a\x92";
    assert_int_equal(s_parse_raw(&b), KNOOP_OK);

    /* a payload one byte over the limit */
    uint8_t *big = calloc(1, KNOOP_PAYLOAD_MAX + 1);
    assert_non_null(big);
    b = s_body(1); b.payload = big; b.payload_len = KNOOP_PAYLOAD_MAX + 1;
    s_refuse(&b, KNOOP_ETOOBIG, "payload of KNOOP_PAYLOAD_MAX + 1");
    b.payload_len = KNOOP_PAYLOAD_MAX;
    assert_int_equal(s_parse_raw(&b), KNOOP_OK);
    free(big);
}

/* Arguments the builder must refuse rather than crash on. */
static void test_build_bad_arguments(void **state)
{
    knoop_buf_t out = { 0 };
    knoop_body_t b;
    b = s_body(1); b.origin = NULL;
    assert_int_not_equal(knoop_msg_build(&b, NULL, &out, NULL), KNOOP_OK);
    b = s_body(1); b.topic = NULL;
    assert_int_not_equal(knoop_msg_build(&b, NULL, &out, NULL), KNOOP_OK);
    b = s_body(1); b.key = NULL;
    assert_int_not_equal(knoop_msg_build(&b, NULL, &out, NULL), KNOOP_OK);
    b = s_body(1); b.type = NULL;
    assert_int_not_equal(knoop_msg_build(&b, NULL, &out, NULL), KNOOP_OK);
    b = s_body(1); b.payload = NULL; b.payload_len = 10;
    assert_int_equal(knoop_msg_build(&b, NULL, &out, NULL), KNOOP_EINVAL);
    assert_int_equal(out.len, 0);
    knoop_buf_free(&out);
}

/* Envelope size limits on the parse side (the builder cannot exceed them
 * with valid fields: KNOOP_PAYLOAD_MAX leaves room for the rest). */
static void test_envelope_limits(void **state)
{
    s_keys_t *k = *state;
    knoop_msg_t m;
    uint8_t *big = calloc(1, KNOOP_ENVELOPE_MAX + 1);
    assert_non_null(big);
    assert_int_equal(knoop_msg_parse(&m, big, KNOOP_ENVELOPE_MAX + 1), KNOOP_ETOOBIG);
    assert_int_equal(knoop_msg_parse(&m, big, SIZE_MAX), KNOOP_ETOOBIG);
    assert_int_equal(knoop_msg_parse(&m, big, 0), KNOOP_EMALFORMED);
    assert_int_equal(knoop_msg_parse(&m, NULL, 10), KNOOP_EMALFORMED);
    free(big);

    /* A body padded with an unknown field to make the unsigned envelope
     * exactly KNOOP_ENVELOPE_MAX: accepted (unknown fields are forward
     * compatible and hashed like the rest). One byte more is refused. */
    knoop_body_t b = s_body(1);
    for (size_t extra = 0; extra <= 1; extra++) {
        knoop_buf_t body = { 0 }, env = { 0 };
        s_body_raw(&body, &b);
        /* unknown field 31, wire type 2; sizes: envelope = 1 + 3 (len varint)
         * + body, body = base + 2 (tag) + 3 (len varint) + pad */
        size_t want_body = KNOOP_ENVELOPE_MAX - 4 + extra;
        size_t pad = want_body - body.len - 2 - 3;
        uint8_t *padding = calloc(1, pad);
        assert_non_null(padding);
        tu_pb_bytes(&body, 31, padding, pad);
        free(padding);
        assert_int_equal(body.len, want_body);
        s_envelope_raw(&env, body.data, body.len, NULL);
        assert_int_equal(env.len, KNOOP_ENVELOPE_MAX + extra);
        int rc = knoop_msg_parse(&m, env.data, env.len);
        if (extra) {
            assert_int_equal(rc, KNOOP_ETOOBIG);
        } else {
            assert_int_equal(rc, KNOOP_OK);
            assert_int_equal(m.body_len, want_body);
            /* signing it would overflow the envelope limit: refused, and
             * nothing appended */
            knoop_buf_t out = { 0 };
            assert_int_equal(knoop_msg_resign(&m, k->sk, &out), KNOOP_ETOOBIG);
            assert_int_equal(out.len, 0);
            knoop_buf_free(&out);
            knoop_msg_clear(&m);
        }
        knoop_buf_free(&body);
        knoop_buf_free(&env);
    }
}

/* ---- enum names ---- */

static void test_enum_names(void **state)
{
    static const char *prio[] = { "routine", "immediate", "flash" };
    for (int i = 0; i < 3; i++) {
        assert_string_equal(knoop_priority_name((knoop_priority_t) i), prio[i]);
        knoop_priority_t p = (knoop_priority_t) -1;
        assert_int_equal(knoop_priority_parse(prio[i], &p), KNOOP_OK);
        assert_int_equal(p, i);
    }
    static const char *status[] = { "unspecified", "actual", "exercise", "test", "system" };
    for (int i = 0; i < 5; i++) {
        assert_string_equal(knoop_status_name((knoop_status_t) i), status[i]);
        knoop_status_t s = KNOOP_STATUS_UNSPECIFIED;
        if (i == 0) {
            /* unset is never a choice, also not by name */
            assert_int_equal(knoop_status_parse(status[i], &s), KNOOP_EINVAL);
        } else {
            assert_int_equal(knoop_status_parse(status[i], &s), KNOOP_OK);
            assert_int_equal(s, i);
        }
    }
    static const char *tlp[] = { "unspecified", "clear", "green", "amber", "red",
                                 "amber+strict" };
    for (int i = 0; i < 6; i++) {
        assert_string_equal(knoop_tlp_name((knoop_tlp_t) i), tlp[i]);
        knoop_tlp_t t = KNOOP_TLP_UNSPECIFIED;
        if (i == 0) {
            assert_int_equal(knoop_tlp_parse(tlp[i], &t), KNOOP_EINVAL);
        } else {
            assert_int_equal(knoop_tlp_parse(tlp[i], &t), KNOOP_OK);
            assert_int_equal(t, i);
        }
    }
    /* case-insensitive on input, lower case on output */
    knoop_priority_t p;
    knoop_status_t s;
    knoop_tlp_t t;
    assert_int_equal(knoop_priority_parse("FLASH", &p), KNOOP_OK);
    assert_int_equal(p, KNOOP_PRIO_FLASH);
    assert_int_equal(knoop_status_parse("Exercise", &s), KNOOP_OK);
    assert_int_equal(s, KNOOP_STATUS_EXERCISE);
    assert_int_equal(knoop_tlp_parse("AMBER", &t), KNOOP_OK);
    assert_int_equal(t, KNOOP_TLP_AMBER);
    /* unknown names, and out-of-range values */
    assert_int_equal(knoop_tlp_parse("TLP:AMBER+STRICT", &t), KNOOP_OK);
    assert_int_equal(t, KNOOP_TLP_AMBER_STRICT);
    assert_string_equal(knoop_tlp_name(KNOOP_TLP_AMBER_STRICT), "amber+strict");
    static const char *junk[] = { "", "urgent", "flash ", " red", "amber+", "white", "0", "1" };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        p = KNOOP_PRIO_IMMEDIATE;
        s = KNOOP_STATUS_TEST;
        t = KNOOP_TLP_RED;
        assert_int_equal(knoop_priority_parse(junk[i], &p), KNOOP_EINVAL);
        assert_int_equal(knoop_status_parse(junk[i], &s), KNOOP_EINVAL);
        assert_int_equal(knoop_tlp_parse(junk[i], &t), KNOOP_EINVAL);
        /* a failed parse leaves the output alone */
        assert_int_equal(p, KNOOP_PRIO_IMMEDIATE);
        assert_int_equal(s, KNOOP_STATUS_TEST);
        assert_int_equal(t, KNOOP_TLP_RED);
    }
    assert_string_equal(knoop_priority_name((knoop_priority_t) 3), "invalid");
    assert_string_equal(knoop_priority_name((knoop_priority_t) -1), "invalid");
    assert_string_equal(knoop_status_name((knoop_status_t) 5), "invalid");
    assert_string_equal(knoop_tlp_name((knoop_tlp_t) 99), "invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_fields),
        cmocka_unit_test(test_roundtrip_ranges),
        cmocka_unit_test(test_env_for_partner),
        cmocka_unit_test(test_stream_id_memo),
        cmocka_unit_test(test_parse_stored),
        cmocka_unit_test(test_build_appends),
        cmocka_unit_test(test_chain_three),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_tamper_body),
        cmocka_unit_test(test_tamper_prev),
        cmocka_unit_test(test_resign),
        cmocka_unit_test(test_build_view),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_build_bad_arguments),
        cmocka_unit_test(test_envelope_limits),
        cmocka_unit_test(test_enum_names),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
