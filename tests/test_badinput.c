/*
 * test_badinput.c — hostile bytes at the one checked gate (knoop_msg_parse):
 * every truncation of valid envelopes, random bytes, bit flips and other
 * mutations of valid envelopes, structured random protobuf, and hand-made
 * nasty encodings. Every call must return an error code, or KNOOP_OK with a
 * struct that satisfies every promise of msg.h; never crash or leak (the
 * sanitizer build checks that). Randomised parts print their seed; set
 * KNOOP_SEED to replay, KNOOP_SOAK=1 for many more iterations.
 */
#include "testutil.h"
#include "pbwrite.h"
#include "crypto.h"
#include "msg.h"
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hand-made bytes: tests/pbwrite.h ---- */

/* Body fields, each writable on its own so tests can leave one out, repeat
 * it or write it with the wrong wire type. */
enum { F_VERSION = 1, F_ORIGIN, F_TOPIC, F_EPOCH, F_SEQ, F_HLC, F_PREV, F_KEY,
       F_TYPE, F_PRIO, F_STATUS, F_TLP, F_PAYLOAD };

static const uint8_t s_zero32[KNOOP_HASH_LEN];

static void s_good_field(knoop_buf_t *b, int f)
{
    switch (f) {
    case F_VERSION: tu_pb_uint(b, F_VERSION, 1); break;
    case F_ORIGIN:  tu_pb_str(b, F_ORIGIN, "vr-utrecht"); break;
    case F_TOPIC:   tu_pb_str(b, F_TOPIC, "grip.vr-utrecht"); break;
    case F_EPOCH:   tu_pb_fixed64(b, F_EPOCH, 0x1122334455667788ull); break;
    case F_SEQ:     tu_pb_uint(b, F_SEQ, 1); break;
    case F_HLC:     tu_pb_fixed64(b, F_HLC, 1700000000000ull << 16); break;
    case F_PREV:    tu_pb_bytes(b, F_PREV, s_zero32, KNOOP_HASH_LEN); break;
    case F_KEY:     tu_pb_str(b, F_KEY, "key"); break;
    case F_TYPE:    tu_pb_str(b, F_TYPE, "knoop.crisis.v1.GripLevel"); break;
    case F_PRIO:    tu_pb_uint(b, F_PRIO, 2); break;
    case F_STATUS:  tu_pb_uint(b, F_STATUS, 1); break;
    case F_TLP:     tu_pb_uint(b, F_TLP, 3); break;
    case F_PAYLOAD: tu_pb_bytes(b, F_PAYLOAD, "\x08\x01", 2); break;
    }
}

/* A valid body with field `skip` left out and, when `replace` is non-NULL,
 * `replace` written in its place. */
static void s_body_with(knoop_buf_t *b, int skip, const knoop_buf_t *replace)
{
    for (int f = F_VERSION; f <= F_PAYLOAD; f++) {
        if (f == skip) {
            if (replace)
                tu_pb_raw(b, replace->data, replace->len);
            continue;
        }
        s_good_field(b, f);
    }
}

static void s_envelope(knoop_buf_t *out, const knoop_buf_t *body, const uint8_t *sig,
                       size_t sig_len)
{
    tu_pb_bytes(out, 1, body->data, body->len);
    if (sig)
        tu_pb_bytes(out, 2, sig, sig_len);
}

/* ---- the promise of a successful parse ---- */

static bool s_type_ok(const char *t)
{
    size_t n = strlen(t);
    if (n > KNOOP_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool s_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n > KNOOP_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) k[i] < 0x20 || k[i] == 0x7f)
            return false;
    return true;
}

/* Check everything msg.h promises about a parsed message, touching every
 * byte it points to (so the sanitizer sees any bad pointer). */
static void s_check_parsed(const knoop_msg_t *m)
{
    const knoop_body_t *b = &m->b;
    assert_int_equal(b->version, KNOOP_BODY_VERSION);
    assert_true(knoop_id_valid(b->origin));
    assert_int_equal(knoop_topic_validate(b->topic), KNOOP_OK);
    assert_true(b->epoch != 0);
    assert_true(b->seq >= 1);
    if (b->seq == 1)
        assert_memory_equal(b->prev, s_zero32, KNOOP_HASH_LEN);
    assert_non_null(b->key);
    assert_true(s_key_ok(b->key));
    assert_non_null(b->type);
    assert_true(s_type_ok(b->type));
    assert_true((unsigned) b->priority <= KNOOP_PRIO_FLASH);
    assert_true(b->status >= KNOOP_STATUS_ACTUAL && b->status <= KNOOP_STATUS_SYSTEM);
    assert_true(b->tlp >= KNOOP_TLP_CLEAR && b->tlp <= KNOOP_TLP_AMBER_STRICT);
    assert_true(!knoop_tlp_restricted(b->tlp) || b->nrecipients > 0);
    assert_true(b->payload_len <= KNOOP_PAYLOAD_MAX);
    assert_true(b->payload_len == 0 || b->payload != NULL);
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < b->payload_len; i++)
        sink ^= b->payload[i];
    assert_non_null(m->body);
    assert_true(m->body_len > 0 && m->body_len <= KNOOP_ENVELOPE_MAX);
    if (m->sig)
        for (size_t i = 0; i < KNOOP_SIG_LEN; i++)
            sink ^= m->sig[i];
    (void) sink;
    uint8_t chain[KNOOP_HASH_LEN];
    knoop_chain(chain, b->prev, m->body, m->body_len);
    assert_memory_equal(chain, m->chain, KNOOP_HASH_LEN);
    assert_true(m->stream == knoop_stream_id(b->origin, b->topic, b->epoch));
}

typedef struct {
    unsigned long calls, ok;
} s_stats_t;

/* Parse `len` bytes from a private heap copy (so the sanitizer catches any
 * read past the end), check the outcome, clean up. Returns the code. */
static int s_feed(s_stats_t *st, const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    knoop_msg_t m;
    memset(&m, 0xa5, sizeof m);              /* parse must not trust m */
    int rc = knoop_msg_parse(&m, copy, len);
    if (st)
        st->calls++;
    if (rc == KNOOP_OK) {
        if (st)
            st->ok++;
        /* the input may go before m is used */
        memset(copy, 0x5a, len);
        free(copy);
        copy = NULL;
        s_check_parsed(&m);
        knoop_msg_clear(&m);
        assert_null(m.priv_);
    } else {
        assert_true(rc < 0);
        if (strcmp(knoop_strerror(rc), "unknown error") == 0)
            fail_msg("parse returned an undefined code %d", rc);
        assert_null(m.priv_);                         /* nothing to clear */
        knoop_msg_clear(&m);
    }
    free(copy);
    return rc;
}

/* ---- valid envelopes to start from ---- */

#define N_SAMPLES 5

typedef struct {
    uint8_t     pk[KNOOP_PK_LEN], sk[KNOOP_SK_LEN];
    knoop_buf_t env[N_SAMPLES];
} s_fixture_t;

static int s_setup(void **state)
{
    if (knoop_crypto_init() != KNOOP_OK)
        return -1;
    s_fixture_t *fx = calloc(1, sizeof *fx);
    uint8_t seed[KNOOP_SEED_LEN];
    knoop_sign_keypair(fx->pk, fx->sk, seed);

    uint8_t payload[400];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t) (i * 7 + 1);
    uint8_t prev[KNOOP_HASH_LEN] = { 0 };
    for (int i = 0; i < N_SAMPLES; i++) {
        knoop_body_t b;
        memset(&b, 0, sizeof b);
        b.version = KNOOP_BODY_VERSION;
        b.origin = i % 2 ? "ws-rijnland" : "vr-utrecht";
        b.topic = i % 2 ? "water.ws-rijnland.peil" : "grip.vr-utrecht";
        b.epoch = 0x0102030405060708ull;
        b.seq = (uint64_t) i + 1;
        memcpy(b.prev, prev, KNOOP_HASH_LEN);
        b.hlc = (1700000000000ull + (uint64_t) i) << 16;
        b.key = i == 3 ? "meetpunt 7" : "";
        b.type = i == 4 ? "" : "knoop.crisis.v1.GripLevel";
        b.priority = (knoop_priority_t) (i % 3);
        b.status = (knoop_status_t) (1 + i % 4);
        b.tlp = (knoop_tlp_t) (1 + i % 4);
        static const char *const rcpt[] = { "vr-zeeland" };
        b.recipients = rcpt;
        b.nrecipients = knoop_tlp_restricted(b.tlp) ? 1 : 0;
        b.payload = payload;
        /* payload sizes around the one/two byte varint boundary */
        static const size_t sizes[N_SAMPLES] = { 0, 1, 127, 128, 400 };
        b.payload_len = sizes[i];
        if (knoop_msg_build(&b, i % 2 ? NULL : fx->sk, &fx->env[i], prev) != KNOOP_OK)
            return -1;
    }
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fixture_t *fx = *state;
    for (int i = 0; i < N_SAMPLES; i++)
        knoop_buf_free(&fx->env[i]);
    free(fx);
    return 0;
}

static void test_samples_valid(void **state)
{
    s_fixture_t *fx = *state;
    for (int i = 0; i < N_SAMPLES; i++)
        assert_int_equal(s_feed(NULL, fx->env[i].data, fx->env[i].len), KNOOP_OK);
}

/* ---- truncations ---- */

static void test_truncations(void **state)
{
    s_fixture_t *fx = *state;
    s_stats_t st = { 0 };
    for (int i = 0; i < N_SAMPLES; i++) {
        const knoop_buf_t *e = &fx->env[i];
        for (size_t n = 0; n < e->len; n++) {
            int rc = s_feed(&st, e->data, n);     /* prefix */
            if (rc == KNOOP_OK) {
                /* only cutting the signature off whole leaves a message */
                knoop_msg_t m;
                assert_int_equal(knoop_msg_parse(&m, e->data, n), KNOOP_OK);
                assert_null(m.sig);
                assert_int_equal(n, e->len - 2 - KNOOP_SIG_LEN);
                knoop_msg_clear(&m);
            }
            s_feed(&st, e->data + n, e->len - n); /* suffix */
        }
    }
    printf("# truncations: %lu parses, %lu ok\n", st.calls, st.ok);
}

/* ---- random bytes ---- */

static uint64_t s_rng;

static uint32_t s_rand(void)
{
    /* xorshift64*: fast, seeded from tu_seed(), the same on every libc */
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return (uint32_t) ((s_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static void s_seed_rng(unsigned salt)
{
    s_rng = ((uint64_t) tu_seed() << 32 | salt) ^ 0x9E3779B97F4A7C15ull;
    if (!s_rng)
        s_rng = 1;
}

static void test_random_bytes(void **state)
{
    s_seed_rng(1);
    s_stats_t st = { 0 };
    int iters = tu_soak() ? 2000000 : 50000;
    uint8_t buf[600];
    for (int it = 0; it < iters; it++) {
        size_t len = s_rand() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t) s_rand();
        /* a third start like an envelope, to get past the first byte */
        if (len > 2 && it % 3 == 0) {
            buf[0] = 0x0a;
            buf[1] = (uint8_t) ((len - 2) & 0x7f);
        }
        s_feed(&st, buf, len);
    }
    printf("# random bytes: %lu parses, %lu ok\n", st.calls, st.ok);
}

/* ---- mutations of valid envelopes ---- */

static size_t s_mutate(uint8_t *buf, size_t len, size_t cap)
{
    int n = 1 + (int) (s_rand() % 4);
    for (int k = 0; k < n; k++) {
        switch (s_rand() % 6) {
        case 0:
        case 1:     /* flip a bit */
            if (len)
                buf[s_rand() % len] ^= (uint8_t) (1u << (s_rand() % 8));
            break;
        case 2:     /* replace a byte with an interesting value */
            if (len) {
                static const uint8_t v[] = { 0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x40 };
                buf[s_rand() % len] = v[s_rand() % sizeof v];
            }
            break;
        case 3:     /* delete a byte */
            if (len) {
                size_t at = s_rand() % len;
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        case 4:     /* insert a byte */
            if (len < cap) {
                size_t at = s_rand() % (len + 1);
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t) s_rand();
                len++;
            }
            break;
        case 5:     /* duplicate a slice at the end */
            if (len) {
                size_t at = s_rand() % len, n2 = 1 + s_rand() % (len - at);
                if (len + n2 <= cap) {
                    memcpy(buf + len, buf + at, n2);
                    len += n2;
                }
            }
            break;
        }
    }
    return len;
}

static void test_mutations(void **state)
{
    s_fixture_t *fx = *state;
    s_seed_rng(2);
    s_stats_t st = { 0 };
    int iters = tu_soak() ? 2000000 : 100000;
    uint8_t buf[2048];
    for (int it = 0; it < iters; it++) {
        const knoop_buf_t *e = &fx->env[it % N_SAMPLES];
        memcpy(buf, e->data, e->len);
        size_t len = s_mutate(buf, e->len, sizeof buf);
        s_feed(&st, buf, len);
    }
    printf("# mutations: %lu parses, %lu ok\n", st.calls, st.ok);

    /* every single bit of every sample flipped, one at a time: when the
     * result still parses it must not pass as the signed original */
    const s_fixture_t *f = fx;
    for (int i = 0; i < N_SAMPLES; i++) {
        const knoop_buf_t *e = &f->env[i];
        knoop_msg_t orig;
        assert_int_equal(knoop_msg_parse(&orig, e->data, e->len), KNOOP_OK);
        for (size_t bit = 0; bit < e->len * 8; bit++) {
            memcpy(buf, e->data, e->len);
            buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
            knoop_msg_t m;
            if (knoop_msg_parse(&m, buf, e->len) != KNOOP_OK)
                continue;
            s_check_parsed(&m);
            bool same_body = m.body_len == orig.body_len &&
                             memcmp(m.body, orig.body, m.body_len) == 0;
            if (!same_body) {
                assert_memory_not_equal(m.chain, orig.chain, KNOOP_HASH_LEN);
                if (m.sig)
                    assert_int_equal(knoop_msg_verify_sig(&m, f->pk), KNOOP_ESIG);
            } else if (m.sig && orig.sig && memcmp(m.sig, orig.sig, KNOOP_SIG_LEN) != 0) {
                /* the flip hit the signature */
                assert_int_equal(knoop_msg_verify_sig(&m, f->pk), KNOOP_ESIG);
            }
            knoop_msg_clear(&m);
        }
        knoop_msg_clear(&orig);
    }
}

/* ---- structured random protobuf: gets deeper than random bytes ---- */

static void s_random_field(knoop_buf_t *b)
{
    static const char *strs[] = {
        "", "vr-utrecht", "grip.vr-utrecht", "grip.*", "A", "knoop.crisis.v1.X",
        "a\nb", "é", "\xff\xfe", "a.b.c",
    };
    uint32_t r = s_rand() % 20;
    if (r < 13) {
        s_good_field(b, (int) r + 1);
        return;
    }
    uint32_t field = 1 + s_rand() % 40;
    switch (r) {
    case 13: tu_pb_uint(b, field, s_rand() % 5); break;
    case 14: tu_pb_uint(b, field, ((uint64_t) s_rand() << 32) | s_rand()); break;
    case 15: tu_pb_fixed64(b, field, ((uint64_t) s_rand() << 32) | s_rand()); break;
    case 16: tu_pb_str(b, field, strs[s_rand() % 10]); break;
    case 17: {
        uint8_t junk[40];
        size_t n = s_rand() % sizeof junk;
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t) s_rand();
        tu_pb_bytes(b, field, junk, n);
        break;
    }
    case 18: /* fixed32 */
        tu_pb_tag(b, field, 5);
        for (int i = 0; i < 4; i++)
            tu_pb_byte(b, (uint8_t) s_rand());
        break;
    default: /* a bad wire type or a group */
        tu_pb_tag(b, field, 3 + s_rand() % 5);
        break;
    }
}

static void test_structured_random(void **state)
{
    s_seed_rng(3);
    s_stats_t st = { 0 };
    int iters = tu_soak() ? 1000000 : 50000;
    for (int it = 0; it < iters; it++) {
        knoop_buf_t body = { 0 }, env = { 0 };
        if (it % 2) {
            /* a valid body with one or two fields disturbed */
            int skip = 1 + (int) (s_rand() % 13);
            knoop_buf_t rep = { 0 };
            int n = (int) (s_rand() % 3);
            for (int i = 0; i < n; i++)
                s_random_field(&rep);
            s_body_with(&body, skip, &rep);
            knoop_buf_free(&rep);
        } else {
            int n = (int) (s_rand() % 20);
            for (int i = 0; i < n; i++)
                s_random_field(&body);
        }
        uint8_t sig[KNOOP_SIG_LEN + 1];
        for (size_t i = 0; i < sizeof sig; i++)
            sig[i] = (uint8_t) s_rand();
        uint32_t sr = s_rand() % 4;
        s_envelope(&env, &body, sr ? sig : NULL, sr == 3 ? (size_t) (s_rand() % 66) : KNOOP_SIG_LEN);
        if (s_rand() % 8 == 0)
            tu_pb_uint(&env, 1 + s_rand() % 20, s_rand());
        s_feed(&st, env.data, env.len);
        knoop_buf_free(&body);
        knoop_buf_free(&env);
    }
    printf("# structured: %lu parses, %lu ok\n", st.calls, st.ok);
    assert_true(st.ok > 0);
}

/* ---- hand-made nasty encodings ---- */

/* Parse an unsigned envelope around `body` and return the code. */
static int s_feed_body(const knoop_buf_t *body)
{
    knoop_buf_t env = { 0 };
    s_envelope(&env, body, NULL, 0);
    int rc = s_feed(NULL, env.data, env.len);
    knoop_buf_free(&env);
    return rc;
}

/* A valid body with field f replaced by the bytes in rep. */
static int s_feed_replaced(int f, const knoop_buf_t *rep)
{
    knoop_buf_t body = { 0 };
    s_body_with(&body, f, rep);
    int rc = s_feed_body(&body);
    knoop_buf_free(&body);
    return rc;
}

static void test_nasty_envelope(void **state)
{
    knoop_buf_t body = { 0 }, e = { 0 };
    s_body_with(&body, 0, NULL);
    uint8_t sig[KNOOP_SIG_LEN + 1] = { 0 };

    /* the reference: valid, unsigned and with a 64-byte sig */
    s_envelope(&e, &body, NULL, 0);
    assert_int_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);
    s_envelope(&e, &body, sig, KNOOP_SIG_LEN);
    assert_int_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);

    /* signatures of the wrong length */
    static const size_t bad_sig[] = { 1, 32, 63, 65 };
    for (size_t i = 0; i < sizeof bad_sig / sizeof *bad_sig; i++) {
        s_envelope(&e, &body, sig, bad_sig[i]);
        assert_int_equal(s_feed(NULL, e.data, e.len), KNOOP_EMALFORMED);
        knoop_buf_free(&e);
    }
    /* an empty or missing body */
    tu_pb_bytes(&e, 1, "", 0);
    assert_int_equal(s_feed(NULL, e.data, e.len), KNOOP_EMALFORMED);
    knoop_buf_free(&e);
    tu_pb_bytes(&e, 2, sig, KNOOP_SIG_LEN);
    assert_int_equal(s_feed(NULL, e.data, e.len), KNOOP_EMALFORMED);
    knoop_buf_free(&e);

    /* body length prefixes far beyond the data: 2^32-1, 2^63, 2^64-1, and
     * an 11-byte varint */
    static const uint64_t huge[] = { 0xffffffffull, 1ull << 32, 1ull << 63, UINT64_MAX,
                                     (uint64_t) KNOOP_ENVELOPE_MAX + 1 };
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        tu_pb_tag(&e, 1, 2);
        tu_pb_varint(&e, huge[i]);
        tu_pb_raw(&e, body.data, body.len);
        assert_int_not_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
        knoop_buf_free(&e);
    }
    tu_pb_tag(&e, 1, 2);
    for (int i = 0; i < 10; i++)
        tu_pb_byte(&e, 0x80);
    tu_pb_byte(&e, 0x01);
    tu_pb_raw(&e, body.data, body.len);
    assert_int_not_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);
    /* a length that ends in the middle of the signature field */
    s_envelope(&e, &body, sig, KNOOP_SIG_LEN);
    e.len -= 10;
    assert_int_not_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);

    /* wrong wire types for body and sig */
    tu_pb_uint(&e, 1, 5);
    assert_int_not_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);
    tu_pb_fixed64(&e, 1, 5);
    assert_int_not_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);
    s_envelope(&e, &body, NULL, 0);
    tu_pb_uint(&e, 2, 64);
    assert_int_not_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);

    /* field number 0, groups, wire types 6 and 7, a truncated tag */
    static const uint8_t tags[][2] = {
        { 0x02, 0x00 }, { 0x00, 0x00 }, { 0x0b, 0x0c }, { 0x0c, 0x00 }, { 0x0e, 0x00 },
        { 0x0f, 0x00 }, { 0x80, 0x80 },
    };
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
        s_envelope(&e, &body, NULL, 0);
        tu_pb_raw(&e, tags[i], 2);
        s_feed(NULL, e.data, e.len);
        knoop_buf_free(&e);
        tu_pb_raw(&e, tags[i], 2);
        s_envelope(&e, &body, NULL, 0);
        s_feed(NULL, e.data, e.len);
        knoop_buf_free(&e);
    }

    /* two bodies: whatever wins, the result is consistent */
    knoop_buf_t body2 = { 0 };
    s_body_with(&body2, F_SEQ, NULL);
    tu_pb_uint(&body2, F_SEQ, 9);
    s_envelope(&e, &body, NULL, 0);
    s_envelope(&e, &body2, sig, KNOOP_SIG_LEN);
    s_feed(NULL, e.data, e.len);
    knoop_buf_free(&e);
    /* a body that is itself an envelope */
    knoop_buf_t inner = { 0 };
    s_envelope(&inner, &body, sig, KNOOP_SIG_LEN);
    s_envelope(&e, &inner, NULL, 0);
    assert_int_not_equal(s_feed(NULL, e.data, e.len), KNOOP_OK);
    knoop_buf_free(&e);
    /* unknown (reserved) envelope fields are tolerated, not trusted */
    s_envelope(&e, &body, NULL, 0);
    tu_pb_bytes(&e, 3, "junk", 4);
    tu_pb_uint(&e, 15, 7);
    tu_pb_fixed64(&e, 1000, 7);
    s_feed(NULL, e.data, e.len);
    knoop_buf_free(&e);

    knoop_buf_free(&inner);
    knoop_buf_free(&body2);
    knoop_buf_free(&body);
}

static void test_nasty_body(void **state)
{
    knoop_buf_t rep = { 0 };
    uint8_t h31[31] = { 0 }, h33[33] = { 0 };

    /* every field missing in turn: version, origin, topic, epoch, seq, prev,
     * status and tlp are required; the rest may be absent */
    for (int f = F_VERSION; f <= F_PAYLOAD; f++) {
        int rc = s_feed_replaced(f, NULL);
        bool optional = f == F_HLC || f == F_KEY || f == F_TYPE || f == F_PRIO ||
                        f == F_PAYLOAD;
        if (optional)
            assert_int_equal(rc, KNOOP_OK);
        else if (rc == KNOOP_OK)
            fail_msg("body without field %d accepted", f);
    }

    /* prev of 31, 33 and 0 bytes; prev as another wire type */
    tu_pb_bytes(&rep, F_PREV, h31, sizeof h31);
    assert_int_equal(s_feed_replaced(F_PREV, &rep), KNOOP_EMALFORMED);
    knoop_buf_free(&rep);
    tu_pb_bytes(&rep, F_PREV, h33, sizeof h33);
    assert_int_equal(s_feed_replaced(F_PREV, &rep), KNOOP_EMALFORMED);
    knoop_buf_free(&rep);
    tu_pb_bytes(&rep, F_PREV, "", 0);
    assert_int_equal(s_feed_replaced(F_PREV, &rep), KNOOP_EMALFORMED);
    knoop_buf_free(&rep);
    tu_pb_fixed64(&rep, F_PREV, 0);
    assert_int_not_equal(s_feed_replaced(F_PREV, &rep), KNOOP_OK);
    knoop_buf_free(&rep);

    /* wrong wire types for every field */
    for (int f = F_VERSION; f <= F_PAYLOAD; f++) {
        tu_pb_fixed64(&rep, (uint32_t) f, 1);
        s_feed_replaced(f, &rep);
        knoop_buf_free(&rep);
        tu_pb_tag(&rep, (uint32_t) f, 5);
        tu_pb_raw(&rep, "\x01\x00\x00\x00", 4);
        s_feed_replaced(f, &rep);
        knoop_buf_free(&rep);
        tu_pb_bytes(&rep, (uint32_t) f, "\x01", 1);
        s_feed_replaced(f, &rep);
        knoop_buf_free(&rep);
        tu_pb_uint(&rep, (uint32_t) f, 1);
        s_feed_replaced(f, &rep);
        knoop_buf_free(&rep);
    }
    /* epoch as a varint (it is fixed64): not the field the schema says */
    tu_pb_uint(&rep, F_EPOCH, 5);
    assert_int_not_equal(s_feed_replaced(F_EPOCH, &rep), KNOOP_OK);
    knoop_buf_free(&rep);

    /* string and bytes lengths past the end of the body */
    static const uint64_t huge[] = { 200, 0x7fffffff, 0xffffffffull, 1ull << 40, UINT64_MAX };
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        static const int fields[] = { F_ORIGIN, F_TOPIC, F_PREV, F_KEY, F_TYPE, F_PAYLOAD };
        for (size_t j = 0; j < sizeof fields / sizeof *fields; j++) {
            tu_pb_tag(&rep, (uint32_t) fields[j], 2);
            tu_pb_varint(&rep, huge[i]);
            tu_pb_raw(&rep, "abc", 3);
            assert_int_not_equal(s_feed_replaced(fields[j], &rep), KNOOP_OK);
            knoop_buf_free(&rep);
        }
    }

    /* enum values: negative (10-byte varint), huge, just out of range. An
     * enum is an int32 on the wire: wider varints are truncated, as by every
     * protobuf implementation, so (1 << 35) | 7 reads as 7. */
    static const uint64_t enums[] = { UINT64_MAX, 0x80000000ull, 0xffffffffull, 5,
                                      (1ull << 35) | 7 };
    for (size_t i = 0; i < sizeof enums / sizeof *enums; i++) {
        for (int f = F_PRIO; f <= F_TLP; f++) {
            tu_pb_uint(&rep, (uint32_t) f, enums[i]);
            assert_int_not_equal(s_feed_replaced(f, &rep), KNOOP_OK);
            knoop_buf_free(&rep);
        }
    }
    /* a version that is 1 in its low 32 bits only: truncated like every
     * protobuf implementation does; either way the result is consistent */
    tu_pb_uint(&rep, F_VERSION, (1ull << 32) | 1);
    s_feed_replaced(F_VERSION, &rep);
    knoop_buf_free(&rep);
    /* seq 0 written explicitly, seq 2^64-1 */
    tu_pb_uint(&rep, F_SEQ, 0);
    assert_int_equal(s_feed_replaced(F_SEQ, &rep), KNOOP_EMALFORMED);
    knoop_buf_free(&rep);

    /* overlong (non-minimal) varints: valid protobuf, still the same fields */
    tu_pb_tag(&rep, F_STATUS, 0);
    tu_pb_raw(&rep, "\x81\x80\x80\x00", 4);
    s_feed_replaced(F_STATUS, &rep);
    knoop_buf_free(&rep);
    /* an 11-byte varint */
    tu_pb_tag(&rep, F_SEQ, 0);
    tu_pb_raw(&rep, "\x81\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11);
    assert_int_not_equal(s_feed_replaced(F_SEQ, &rep), KNOOP_OK);
    knoop_buf_free(&rep);

    /* repeated singular fields: the last one wins, consistently */
    s_good_field(&rep, F_TOPIC);
    tu_pb_str(&rep, F_TOPIC, "grip.*");
    assert_int_equal(s_feed_replaced(F_TOPIC, &rep), KNOOP_ETOPIC);
    knoop_buf_free(&rep);
    tu_pb_str(&rep, F_TOPIC, "grip.*");
    s_good_field(&rep, F_TOPIC);
    assert_int_equal(s_feed_replaced(F_TOPIC, &rep), KNOOP_OK);
    knoop_buf_free(&rep);

    /* nested garbage: a Body inside the payload, a Body inside the topic */
    knoop_buf_t inner = { 0 };
    s_body_with(&inner, 0, NULL);
    tu_pb_bytes(&rep, F_PAYLOAD, inner.data, inner.len);
    assert_int_equal(s_feed_replaced(F_PAYLOAD, &rep), KNOOP_OK);
    knoop_buf_free(&rep);
    tu_pb_bytes(&rep, F_TOPIC, inner.data, inner.len);
    assert_int_not_equal(s_feed_replaced(F_TOPIC, &rep), KNOOP_OK);
    knoop_buf_free(&rep);
    knoop_buf_free(&inner);

    /* unknown fields with every wire type, including a high field number */
    s_good_field(&rep, F_PAYLOAD);
    tu_pb_uint(&rep, 15, 1);
    tu_pb_fixed64(&rep, 31, 1);
    tu_pb_bytes(&rep, 536870911, "x", 1);        /* 2^29 - 1, the largest */
    tu_pb_tag(&rep, 20, 5);
    tu_pb_raw(&rep, "abcd", 4);
    assert_int_equal(s_feed_replaced(F_PAYLOAD, &rep), KNOOP_OK);
    knoop_buf_free(&rep);
    /* field numbers past the largest */
    s_good_field(&rep, F_PAYLOAD);
    tu_pb_uint(&rep, 536870912, 1);
    s_feed_replaced(F_PAYLOAD, &rep);
    knoop_buf_free(&rep);

    /* state keys: UTF-8 as proto3 requires (other readers refuse anything
     * else), no control characters */
    static const char *bad_keys[] = {
        "\xff\xfe\xfd", "a\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "ok\xe2\x82", "\xc3\x28",
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
        tu_pb_str(&rep, F_KEY, bad_keys[i]);
        if (s_feed_replaced(F_KEY, &rep) != KNOOP_EMALFORMED)
            fail_msg("key %zu (not UTF-8) accepted", i);
        knoop_buf_free(&rep);
    }
    static const char *good_keys[] = {
        "meetpunt-ü", "\xe2\x82\xac 12", "\xf0\x9f\x9a\x92", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf",
        "\xed\x9f\xbf", "\xc2\xa0",
    };
    for (size_t i = 0; i < sizeof good_keys / sizeof *good_keys; i++) {
        tu_pb_str(&rep, F_KEY, good_keys[i]);
        if (s_feed_replaced(F_KEY, &rep) != KNOOP_OK)
            fail_msg("key %zu (UTF-8) refused", i);
        knoop_buf_free(&rep);
    }
    tu_pb_str(&rep, F_KEY, "a\x1b[31mred");
    assert_int_equal(s_feed_replaced(F_KEY, &rep), KNOOP_EMALFORMED);
    knoop_buf_free(&rep);
}

/* Strings whose bytes hold a NUL: the C view ("vr-utrecht") would differ
 * from the bytes that are hashed and signed ("vr-utrecht\0kcr2"), so two
 * readers of one message could disagree on who sent it or where. */
static void test_embedded_nul(void **state)
{
    static const int fields[] = { F_ORIGIN, F_TOPIC, F_KEY, F_TYPE };
    static const char *good[] = { "vr-utrecht", "grip.vr-utrecht", "key",
                                  "knoop.crisis.v1.GripLevel" };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        knoop_buf_t rep = { 0 };
        char s[128];
        size_t n = strlen(good[i]);
        memcpy(s, good[i], n);
        memcpy(s + n, "\0kcr2", 5);
        tu_pb_bytes(&rep, (uint32_t) fields[i], s, n + 5);
        int rc = s_feed_replaced(fields[i], &rep);
        if (rc == KNOOP_OK)
            fail_msg("field %d with an embedded NUL accepted", fields[i]);
        knoop_buf_free(&rep);
        /* a lone NUL, and a NUL at the end */
        tu_pb_bytes(&rep, (uint32_t) fields[i], "\0", 1);
        assert_int_not_equal(s_feed_replaced(fields[i], &rep), KNOOP_OK);
        knoop_buf_free(&rep);
        memcpy(s + n, "\0", 1);
        tu_pb_bytes(&rep, (uint32_t) fields[i], s, n + 1);
        assert_int_not_equal(s_feed_replaced(fields[i], &rep), KNOOP_OK);
        knoop_buf_free(&rep);
    }
}

/* The payload is bytes: a NUL in it is fine. */
static void test_payload_nul(void **state)
{
    knoop_buf_t rep = { 0 };
    tu_pb_bytes(&rep, F_PAYLOAD, "\0\0\0", 3);
    assert_int_equal(s_feed_replaced(F_PAYLOAD, &rep), KNOOP_OK);
    knoop_buf_free(&rep);
}

/* ---- hostile sizes to the byte buffer ---- */

static void test_buf_sizes(void **state)
{
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_buf_append(&b, "0123456789", 10), KNOOP_OK);
    /* sizes that wrap len + extra must fail, not succeed with a small buffer */
    assert_int_equal(knoop_buf_reserve(&b, SIZE_MAX), KNOOP_ENOMEM);
    assert_int_equal(knoop_buf_reserve(&b, SIZE_MAX - 5), KNOOP_ENOMEM);
    assert_int_equal(knoop_buf_reserve(&b, SIZE_MAX / 2 + 2), KNOOP_ENOMEM);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "0123456789", 10);
    /* and the buffer still works */
    assert_int_equal(knoop_buf_append(&b, "ab", 2), KNOOP_OK);
    assert_memory_equal(b.data, "0123456789ab", 12);
    assert_int_equal(knoop_buf_append(&b, NULL, 0), KNOOP_OK);
    assert_int_equal(b.len, 12);
    knoop_buf_free(&b);
    knoop_buf_free(&b);
    assert_null(b.data);
    /* an empty buffer and a zero reserve */
    assert_int_equal(knoop_buf_reserve(&b, 0), KNOOP_OK);
    assert_int_equal(knoop_buf_reserve(&b, SIZE_MAX), KNOOP_ENOMEM);
    knoop_buf_free(&b);
}

/* ---- the growable array: steps, and sizes that would overflow ---- */

static void test_array_grow(void **state)
{
    uint32_t *v = NULL;
    size_t len = 0, cap = 0;
    for (uint32_t i = 0; i < 100; i++) {
        uint32_t *nv = knoop_array_grow(v, len, &cap, sizeof *v, 4);
        assert_non_null(nv);
        v = nv;
        v[len++] = i;
        /* 4 the first time, then doubling: never more than twice what is held */
        assert_true(cap >= len && cap <= (len < 4 ? 4 : 2 * len));
    }
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(v[i], i);
    /* room left: the same array, cap untouched */
    size_t was = cap;
    assert_ptr_equal(knoop_array_grow(v, len, &cap, sizeof *v, 4), v);
    assert_int_equal(cap, was);
    /* a size that would wrap fails and leaves array and cap as they were */
    size_t big = SIZE_MAX / 2 + 1;
    assert_null(knoop_array_grow(v, big, &big, 1, 4));
    assert_int_equal(big, SIZE_MAX / 2 + 1);
    assert_null(knoop_array_grow(v, cap, &cap, SIZE_MAX / 4, 4));
    assert_int_equal(cap, was);
    assert_int_equal(v[99], 99);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_valid),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_structured_random),
        cmocka_unit_test(test_nasty_envelope),
        cmocka_unit_test(test_nasty_body),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_payload_nul),
        cmocka_unit_test(test_buf_sizes),
        cmocka_unit_test(test_array_grow),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
