/* test_wire.c — the wire protocol codec: round trips of every frame kind,
 * and the checked gate against version mismatches, bad fields, oversized,
 * truncated, random and bit-flipped input.
 *
 * Bad frames are built with a small protobuf writer of our own (pb_*), not
 * with the codec under test: the encoder refuses to write them, and a second
 * implementation of the format checks the first. */
#include "testutil.h"
#include "pbwrite.h"
#include "wire.h"
#include "msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_REASON_MAX_TEST 1024   /* wire.c: Error.reason, Refusal.reason */

/* ---- frames the encoder will not make (tests/pbwrite.h) ---- */

/* Frame { version (when >= 0), kind = inner }; inner is freed. */
static knoop_buf_t pb_frame(int64_t version, uint32_t kind, knoop_buf_t *inner)
{
    knoop_buf_t b = { 0 };
    if (version >= 0)
        tu_pb_uint(&b, 1, (uint64_t) version);
    tu_pb_bytes(&b, kind, inner->data, inner->len);
    knoop_buf_free(inner);
    return b;
}

/* StreamPos with its stream id computed from the names unless given. */
static void pb_pos(knoop_buf_t *b, uint32_t field, const char *origin, const char *topic,
                   uint64_t epoch, uint64_t hwm, const uint8_t *head, size_t head_len,
                   const uint64_t *stream)
{
    knoop_buf_t in = { 0 };
    tu_pb_fixed64(&in, 1, stream ? *stream : knoop_stream_id(origin, topic, epoch));
    tu_pb_str(&in, 2, origin);
    tu_pb_str(&in, 3, topic);
    tu_pb_fixed64(&in, 4, epoch);
    if (hwm)
        tu_pb_uint(&in, 5, hwm);
    if (head_len)
        tu_pb_bytes(&in, 6, head, head_len);
    tu_pb_bytes(b, field, in.data, in.len);
    knoop_buf_free(&in);
}

static int s_decode_buf(const knoop_buf_t *b, knoop_frame_t *f)
{
    return knoop_frame_decode(f, b->data, b->len);
}

/* Decode b, expect rc, clean up; frees b. */
static void s_expect(knoop_buf_t *b, int rc)
{
    knoop_frame_t f;
    int got = s_decode_buf(b, &f);
    if (got != rc)
        fprintf(stderr, "# expected %s, got %s\n", knoop_strerror(rc), knoop_strerror(got));
    assert_int_equal(got, rc);
    knoop_frame_clear(&f);
    knoop_buf_free(b);
}

/* ---- fixtures: one full and one default frame of every kind ---- */

static const char *s_subs[] = { "grip.>", "duiding.nl", "water.*.peil" };
static const char *s_accepted[] = { "grip.>", "duiding.nl" };
static knoop_wire_refusal_t s_refused[] = {
    { "water.*.peil", "policy: vr-utrecht may not subscribe to water.*.peil" },
    { "vitaal.>", "beleid: geen inzage — vraag het KCR2" },   /* UTF-8 */
};
static knoop_wire_pos_t s_vector[3];
static knoop_wire_pos_t s_own[2];
static knoop_wire_ack_t s_acks[] = { { 1, 1 }, { 0, 7 }, { UINT64_MAX, UINT64_MAX } };
static knoop_wire_mesh_peer_t s_mesh[] = { { "kcr2-broker-2", true, true, 1790000000000ull },
                                             { "kcr2-broker-3", false, false, 0 } };

static void s_pos(knoop_wire_pos_t *p, const char *origin, const char *topic,
                  uint64_t epoch, uint64_t hwm, uint8_t fill)
{
    memset(p, 0, sizeof *p);
    p->origin = origin;
    p->topic = topic;
    p->epoch = epoch;
    p->stream = knoop_stream_id(origin, topic, epoch);
    p->hwm = hwm;
    if (hwm)
        for (int i = 0; i < KNOOP_HASH_LEN; i++)
            p->head[i] = (uint8_t) (fill + i);
}

/* Real envelopes for PUBLISH and DELIVER. */
typedef struct {
    knoop_buf_t   store[6];
    knoop_bytes_t envs[6];
    size_t        n;
} envs_t;

static void s_envs_init(envs_t *e)
{
    memset(e, 0, sizeof *e);
    tu_stream_t s;
    tu_stream_init(&s, "vr-utrecht", "grip.vr-utrecht", 42, NULL);
    for (int i = 0; i < 6; i++) {
        knoop_msg_t m;
        char payload[64];
        snprintf(payload, sizeof payload, "{\"niveau\": %d}", i);
        tu_stream_next(&s, &e->store[i], &m, 1000 + (uint64_t) i, NULL,
                       KNOOP_STATUS_EXERCISE, payload);
        knoop_msg_clear(&m);
        e->envs[i].data = e->store[i].data;
        e->envs[i].len = e->store[i].len;
    }
    e->n = 6;
}

static void s_envs_free(envs_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        knoop_buf_free(&e->store[i]);
}

#define NFIXTURES 21

static const knoop_wire_instance_t s_instances[] = {
    { 0xa2c9a90c7c7e4019ull, true, 3, 1790000000123ull, "took over: no instance active" },
    { UINT64_MAX, false, 0, 0, NULL },
};

/* Each kind full, then its default (zeros). */
static void s_fixtures(knoop_frame_t *fx, const envs_t *e)
{
    s_pos(&s_vector[0], "vr-utrecht", "grip.vr-utrecht", 0x1122334455667788ull, 17, 1);
    s_pos(&s_vector[1], "ws-rijnland", "water.ws-rijnland.peil", 9, 0, 0);
    s_pos(&s_vector[2], "kcr2", "duiding.nl", UINT64_MAX, UINT64_MAX, 200);
    s_pos(&s_own[0], "vr-utrecht", "grip.vr-utrecht", 0x1122334455667788ull, 40, 3);
    s_pos(&s_own[1], "vr-utrecht", "beeld.vr-utrecht.ongeval", 5, 0, 0);

    const knoop_frame_t all[NFIXTURES] = {
        { .kind = KNOOP_FRAME_HELLO,
          .u.hello = { .partner = "vr-utrecht", .subs = s_subs, .nsubs = 3,
                       .vector = s_vector, .nvector = 3, .credit_msgs = 4096,
                       .credit_bytes = 64u << 20, .software = "knoop-node 0.1.0",
                       .peer = true } },
        { .kind = KNOOP_FRAME_HELLO, .u.hello.partner = "vr-utrecht" },
        { .kind = KNOOP_FRAME_WELCOME,
          .u.welcome = { .broker = "kcr2-a", .accepted = s_accepted, .naccepted = 2,
                         .refused = s_refused, .nrefused = 2, .own = s_own, .nown = 2,
                         .heartbeat_ms = 1000, .credit_msgs = UINT32_MAX,
                         .credit_bytes = UINT64_MAX } },
        { .kind = KNOOP_FRAME_WELCOME, .u.welcome.broker = "kcr2-a" },
        { .kind = KNOOP_FRAME_PUBLISH, .u.batch = { .envs = e->envs, .n = e->n } },
        { .kind = KNOOP_FRAME_PUBLISH },
        { .kind = KNOOP_FRAME_DELIVER, .u.batch = { .envs = e->envs + 1, .n = e->n - 1 } },
        { .kind = KNOOP_FRAME_DELIVER },
        { .kind = KNOOP_FRAME_ACK, .u.ack = { s_acks, 3 } },
        { .kind = KNOOP_FRAME_ACK },
        { .kind = KNOOP_FRAME_CREDIT, .u.credit = { UINT32_MAX, UINT64_MAX } },
        { .kind = KNOOP_FRAME_CREDIT },
        { .kind = KNOOP_FRAME_HEARTBEAT, .u.heartbeat.time_ms = 1790000000123ull },
        /* broker -> node with the mesh's verdict (digest below) */
        { .kind = KNOOP_FRAME_HEARTBEAT,
          .u.heartbeat = { .time_ms = 1790000000456ull, .mesh = s_mesh, .nmesh = 2,
                           .has_digest = true } },
        { .kind = KNOOP_FRAME_HEARTBEAT },
        { .kind = KNOOP_FRAME_ERROR,
          .u.error = { KNOOP_WERR_POLICY, "policy: vr-utrecht may not publish on grip.vr-zeeland",
                       0xfeedfacecafebeefull, 12, true } },
        { .kind = KNOOP_FRAME_ERROR },
        { .kind = KNOOP_FRAME_CAUGHT_UP, .u.caught_up = { 123456, 78 } },
        { .kind = KNOOP_FRAME_CAUGHT_UP },
        { .kind = KNOOP_FRAME_INSTANCES, .u.instances = { s_instances, 2 } },
        { .kind = KNOOP_FRAME_INSTANCES },   /* the empty list: no other instance */
    };
    memcpy(fx, all, sizeof all);
    memset(fx[13].u.heartbeat.digest, 0xa5, KNOOP_HASH_LEN);
}

static const char *s_str(const char *s)
{
    return s ? s : "";
}

static void s_pos_equal(const knoop_wire_pos_t *a, const knoop_wire_pos_t *b)
{
    assert_true(a->stream == b->stream);
    assert_string_equal(a->origin, b->origin);
    assert_string_equal(a->topic, b->topic);
    assert_true(a->epoch == b->epoch);
    assert_true(a->hwm == b->hwm);
    assert_memory_equal(a->head, b->head, KNOOP_HASH_LEN);
}

static void s_strs_equal(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], b[i]);
}

/* Deep equality of what a frame says (pointers may differ). */
static void s_frame_equal(const knoop_frame_t *a, const knoop_frame_t *b)
{
    assert_int_equal(a->kind, b->kind);
    switch (a->kind) {
    case KNOOP_FRAME_HELLO:
        assert_string_equal(a->u.hello.partner, b->u.hello.partner);
        s_strs_equal(a->u.hello.subs, a->u.hello.nsubs, b->u.hello.subs, b->u.hello.nsubs);
        assert_int_equal(a->u.hello.nvector, b->u.hello.nvector);
        for (size_t i = 0; i < a->u.hello.nvector; i++)
            s_pos_equal(&a->u.hello.vector[i], &b->u.hello.vector[i]);
        assert_int_equal(a->u.hello.credit_msgs, b->u.hello.credit_msgs);
        assert_true(a->u.hello.credit_bytes == b->u.hello.credit_bytes);
        assert_string_equal(s_str(a->u.hello.software), s_str(b->u.hello.software));
        assert_int_equal(a->u.hello.peer, b->u.hello.peer);
        break;
    case KNOOP_FRAME_WELCOME:
        assert_string_equal(a->u.welcome.broker, b->u.welcome.broker);
        s_strs_equal(a->u.welcome.accepted, a->u.welcome.naccepted,
                     b->u.welcome.accepted, b->u.welcome.naccepted);
        assert_int_equal(a->u.welcome.nrefused, b->u.welcome.nrefused);
        for (size_t i = 0; i < a->u.welcome.nrefused; i++) {
            assert_string_equal(a->u.welcome.refused[i].pattern, b->u.welcome.refused[i].pattern);
            assert_string_equal(s_str(a->u.welcome.refused[i].reason),
                                s_str(b->u.welcome.refused[i].reason));
        }
        assert_int_equal(a->u.welcome.nown, b->u.welcome.nown);
        for (size_t i = 0; i < a->u.welcome.nown; i++)
            s_pos_equal(&a->u.welcome.own[i], &b->u.welcome.own[i]);
        assert_int_equal(a->u.welcome.heartbeat_ms, b->u.welcome.heartbeat_ms);
        assert_int_equal(a->u.welcome.credit_msgs, b->u.welcome.credit_msgs);
        assert_true(a->u.welcome.credit_bytes == b->u.welcome.credit_bytes);
        break;
    case KNOOP_FRAME_PUBLISH:
    case KNOOP_FRAME_DELIVER:
        assert_int_equal(a->u.batch.n, b->u.batch.n);
        for (size_t i = 0; i < a->u.batch.n; i++) {
            assert_int_equal(a->u.batch.envs[i].len, b->u.batch.envs[i].len);
            assert_memory_equal(a->u.batch.envs[i].data, b->u.batch.envs[i].data,
                                a->u.batch.envs[i].len);
        }
        break;
    case KNOOP_FRAME_ACK:
        assert_int_equal(a->u.ack.n, b->u.ack.n);
        for (size_t i = 0; i < a->u.ack.n; i++) {
            assert_true(a->u.ack.acks[i].stream == b->u.ack.acks[i].stream);
            assert_true(a->u.ack.acks[i].seq == b->u.ack.acks[i].seq);
        }
        break;
    case KNOOP_FRAME_CREDIT:
        assert_int_equal(a->u.credit.msgs, b->u.credit.msgs);
        assert_true(a->u.credit.bytes == b->u.credit.bytes);
        break;
    case KNOOP_FRAME_HEARTBEAT:
        assert_true(a->u.heartbeat.time_ms == b->u.heartbeat.time_ms);
        assert_int_equal(a->u.heartbeat.nmesh, b->u.heartbeat.nmesh);
        for (size_t i = 0; i < a->u.heartbeat.nmesh; i++) {
            assert_string_equal(a->u.heartbeat.mesh[i].peer, b->u.heartbeat.mesh[i].peer);
            assert_int_equal(a->u.heartbeat.mesh[i].up, b->u.heartbeat.mesh[i].up);
            assert_int_equal(a->u.heartbeat.mesh[i].in_sync, b->u.heartbeat.mesh[i].in_sync);
            assert_true(a->u.heartbeat.mesh[i].last_sync_ms == b->u.heartbeat.mesh[i].last_sync_ms);
        }
        assert_int_equal(a->u.heartbeat.has_digest, b->u.heartbeat.has_digest);
        if (a->u.heartbeat.has_digest)
            assert_memory_equal(a->u.heartbeat.digest, b->u.heartbeat.digest, KNOOP_HASH_LEN);
        break;
    case KNOOP_FRAME_ERROR:
        assert_int_equal(a->u.error.code, b->u.error.code);
        assert_string_equal(s_str(a->u.error.reason), s_str(b->u.error.reason));
        assert_true(a->u.error.stream == b->u.error.stream);
        assert_true(a->u.error.seq == b->u.error.seq);
        assert_int_equal(a->u.error.fatal, b->u.error.fatal);
        break;
    case KNOOP_FRAME_CAUGHT_UP:
        assert_true(a->u.caught_up.messages == b->u.caught_up.messages);
        assert_true(a->u.caught_up.streams == b->u.caught_up.streams);
        break;
    case KNOOP_FRAME_SYNC:
        assert_memory_equal(a->u.sync.digest, b->u.sync.digest, KNOOP_HASH_LEN);
        assert_true(a->u.sync.streams == b->u.sync.streams);
        assert_true(a->u.sync.messages == b->u.sync.messages);
        break;
    case KNOOP_FRAME_INSTANCES:
        assert_int_equal(a->u.instances.n, b->u.instances.n);
        for (size_t i = 0; i < a->u.instances.n; i++) {
            const knoop_wire_instance_t *x = &a->u.instances.v[i], *y = &b->u.instances.v[i];
            assert_true(x->id == y->id && x->active == y->active && x->term == y->term &&
                        x->since_ms == y->since_ms);
            assert_string_equal(s_str(x->reason), s_str(y->reason));
        }
        break;
    default:
        fail_msg("unknown kind %d", a->kind);
    }
}

static knoop_buf_t s_encode(const knoop_frame_t *f)
{
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_frame_encode(f, &b), KNOOP_OK);
    return b;
}

/* The fixtures of every kind (s_fixtures) and their encodings, made once
 * per test by s_fixtures_make. */
typedef struct {
    envs_t        e;
    knoop_frame_t fx[NFIXTURES];
    knoop_buf_t   b[NFIXTURES];
} fixtures_t;

static void s_fixtures_make(fixtures_t *t)
{
    s_envs_init(&t->e);
    s_fixtures(t->fx, &t->e);
    for (int i = 0; i < NFIXTURES; i++)
        t->b[i] = s_encode(&t->fx[i]);
}

static void s_fixtures_free(fixtures_t *t)
{
    for (int i = 0; i < NFIXTURES; i++)
        knoop_buf_free(&t->b[i]);
    s_envs_free(&t->e);
}

/* ---- round trips ---- */

static void test_roundtrip(void **state)
{
    fixtures_t t;
    s_fixtures_make(&t);
    for (int i = 0; i < NFIXTURES; i++) {
        const knoop_buf_t *b = &t.b[i];
        /* Decode from a copy that dies before we look: decoded fields must
         * live in the frame's own storage. */
        uint8_t *copy = malloc(b->len + 1);
        assert_non_null(copy);
        memcpy(copy, b->data, b->len);
        knoop_frame_t f;
        assert_int_equal(knoop_frame_decode(&f, copy, b->len), KNOOP_OK);
        memset(copy, 0xa5, b->len);
        free(copy);
        assert_int_equal(f.version, KNOOP_WIRE_VERSION);
        s_frame_equal(&t.fx[i], &f);

        /* Re-encoding a decoded frame gives the same bytes. */
        knoop_buf_t b2 = s_encode(&f);
        assert_int_equal(b2.len, b->len);
        assert_memory_equal(b2.data, b->data, b->len);
        knoop_frame_clear(&f);
        knoop_frame_clear(&f);                  /* twice is safe */
        knoop_buf_free(&b2);
    }
    s_fixtures_free(&t);
}

static void test_encode_appends(void **state)
{
    knoop_frame_t f = { .kind = KNOOP_FRAME_HEARTBEAT, .u.heartbeat.time_ms = 5 };
    f.version = 99;                             /* ignored by encode */
    knoop_buf_t b = { 0 };
    tu_pb_raw(&b, "xyz", 3);
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_OK);
    assert_memory_equal(b.data, "xyz", 3);
    knoop_frame_t g;
    assert_int_equal(knoop_frame_decode(&g, b.data + 3, b.len - 3), KNOOP_OK);
    assert_int_equal(g.version, KNOOP_WIRE_VERSION);
    assert_true(g.u.heartbeat.time_ms == 5);
    knoop_frame_clear(&g);
    knoop_buf_free(&b);
}

static void test_encode_refuses(void **state)
{
    knoop_buf_t b = { 0 };
    knoop_frame_t f = { .kind = (knoop_frame_kind_t) 99 };
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_EINVAL);
    f.kind = KNOOP_FRAME_HELLO;                 /* no partner */
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_EINVAL);
    f.u.hello.partner = "Vr Utrecht";
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_EINVAL);
    f.u.hello.partner = "vr-utrecht";
    const char *bad[] = { "grip.>.x" };
    f.u.hello.subs = bad;
    f.u.hello.nsubs = 1;
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_EINVAL);
    f.u.hello.nsubs = 0;
    char soft[130];
    memset(soft, 'x', 129);
    soft[129] = '\0';
    f.u.hello.software = soft;
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_EINVAL);
    soft[128] = '\0';
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_OK);
    b.len = 0;

    knoop_wire_pos_t p;
    s_pos(&p, "vr-utrecht", "grip.vr-utrecht", 1, 0, 0);
    p.head[0] = 1;                              /* head at hwm 0 must be zeros */
    f.u.hello.vector = &p;
    f.u.hello.nvector = 1;
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_EINVAL);
    s_pos(&p, "vr-utrecht", "grip.vr-utrecht", 1, 0, 0);
    p.stream ^= 1;                              /* id not of these names */
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_EINVAL);

    knoop_frame_t e = { .kind = KNOOP_FRAME_ERROR,
                        .u.error.code = (knoop_wire_err_t) (KNOOP_WERR_LAST + 1) };
    assert_int_equal(knoop_frame_encode(&e, &b), KNOOP_EINVAL);
    e.u.error.code = KNOOP_WERR_FORK;
    e.u.error.reason = "two\nlines";
    assert_int_equal(knoop_frame_encode(&e, &b), KNOOP_EINVAL);

    knoop_wire_ack_t a = { 5, 0 };
    knoop_frame_t k = { .kind = KNOOP_FRAME_ACK, .u.ack = { &a, 1 } };
    assert_int_equal(knoop_frame_encode(&k, &b), KNOOP_EINVAL);

    knoop_bytes_t env = { (const uint8_t *) "", 0 };
    knoop_frame_t pub = { .kind = KNOOP_FRAME_PUBLISH, .u.batch = { &env, 1 } };
    assert_int_equal(knoop_frame_encode(&pub, &b), KNOOP_EINVAL);

    /* INSTANCES: id 0 is no instance; at most KNOOP_INSTANCES_MAX rows */
    knoop_wire_instance_t in[KNOOP_INSTANCES_MAX + 1] = { { 0 } };
    knoop_frame_t ins = { .kind = KNOOP_FRAME_INSTANCES, .u.instances = { in, 1 } };
    assert_int_equal(knoop_frame_encode(&ins, &b), KNOOP_EINVAL);
    for (size_t j = 0; j <= KNOOP_INSTANCES_MAX; j++)
        in[j].id = j + 1;
    in[0].reason = "two\nlines";
    assert_int_equal(knoop_frame_encode(&ins, &b), KNOOP_EINVAL);
    in[0].reason = NULL;
    ins.u.instances.n = KNOOP_INSTANCES_MAX + 1;
    assert_int_equal(knoop_frame_encode(&ins, &b), KNOOP_ETOOBIG);
    assert_int_equal(b.len, 0);                 /* nothing appended on failure */
    knoop_buf_free(&b);
}

/* ---- versions ---- */

/* HEARTBEAT{77} with the given version field (none when < 0). */
static knoop_buf_t s_heartbeat_frame(int64_t version)
{
    knoop_buf_t in = { 0 };
    tu_pb_fixed64(&in, 1, 77);
    return pb_frame(version, KNOOP_FRAME_HEARTBEAT, &in);
}

static void test_version(void **state)
{
    knoop_frame_t f = { .kind = KNOOP_FRAME_HEARTBEAT, .u.heartbeat.time_ms = 77 };
    knoop_buf_t b = s_encode(&f);
    /* Field 1 comes first and holds 1: tag 0x08, varint 0x01. */
    assert_true(b.len >= 2);
    assert_int_equal(b.data[0], 0x08);
    assert_int_equal(b.data[1], 0x01);
    b.data[1] = 0x02;
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_EVERSION);
    assert_int_equal(f.version, 2);
    assert_null(f.priv_);
    knoop_frame_clear(&f);
    knoop_buf_free(&b);

    /* Absent (= 0) is not version 1 either. */
    b = s_heartbeat_frame(-1);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_EVERSION);
    assert_int_equal(f.version, 0);
    knoop_buf_free(&b);
    b = s_heartbeat_frame(0);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_EVERSION);
    assert_int_equal(f.version, 0);
    knoop_buf_free(&b);
    assert_int_equal(knoop_frame_decode(&f, NULL, 0), KNOOP_EVERSION);
    assert_int_equal(f.version, 0);

    /* A multi-byte version, and the last of two occurrences wins. */
    b = s_heartbeat_frame(300);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_EVERSION);
    assert_int_equal(f.version, 300);
    knoop_buf_free(&b);
    b = s_heartbeat_frame(1);
    tu_pb_uint(&b, 1, 2);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_EVERSION);
    assert_int_equal(f.version, 2);
    knoop_buf_free(&b);
    b = s_heartbeat_frame(2);
    tu_pb_uint(&b, 1, 1);
    s_expect(&b, KNOOP_OK);

    /* A version-2 frame whose body version 1 cannot parse (field 10 as a
     * varint, a group inside a kind) still reads as "version 2": field 1 is
     * fixed forever. */
    tu_pb_uint(&b, 1, 2);
    tu_pb_uint(&b, 10, 5);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_EVERSION);
    assert_int_equal(f.version, 2);
    knoop_buf_free(&b);
    tu_pb_uint(&b, 1, 2);
    tu_pb_bytes(&b, 11, "\x0b\x0c", 2);
    tu_pb_bytes(&b, 12, "\x09", 1);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_EVERSION);
    assert_int_equal(f.version, 2);
    knoop_buf_free(&b);

    /* Version with the wrong wire type: no version can be read. */
    tu_pb_bytes(&b, 1, "\x01", 1);
    tu_pb_bytes(&b, KNOOP_FRAME_HEARTBEAT, "", 0);
    s_expect(&b, KNOOP_EMALFORMED);
}

/* ---- kinds ---- */

static void test_kind(void **state)
{
    knoop_buf_t b = { 0 };
    tu_pb_uint(&b, 1, 1);                          /* no kind */
    s_expect(&b, KNOOP_EMALFORMED);

    tu_pb_uint(&b, 1, 1);                          /* two kinds */
    tu_pb_bytes(&b, KNOOP_FRAME_HEARTBEAT, "", 0);
    tu_pb_bytes(&b, KNOOP_FRAME_CREDIT, "", 0);
    s_expect(&b, KNOOP_EMALFORMED);

    tu_pb_uint(&b, 1, 1);                          /* the same kind twice */
    tu_pb_bytes(&b, KNOOP_FRAME_HEARTBEAT, "", 0);
    tu_pb_bytes(&b, KNOOP_FRAME_HEARTBEAT, "", 0);
    s_expect(&b, KNOOP_EMALFORMED);

    tu_pb_uint(&b, 1, 1);                          /* a kind as a varint */
    tu_pb_uint(&b, KNOOP_FRAME_HEARTBEAT, 0);
    s_expect(&b, KNOOP_EMALFORMED);

    tu_pb_uint(&b, 1, 1);                          /* a group: protobuf-c refuses */
    tu_pb_bytes(&b, KNOOP_FRAME_HEARTBEAT, "", 0);
    tu_pb_tag(&b, 5, 3);
    tu_pb_tag(&b, 5, 4);
    s_expect(&b, KNOOP_EMALFORMED);

    /* Every kind with an empty body is a valid frame except HELLO and
     * WELCOME, whose ids are required, and SYNC, whose digest is. */
    for (uint32_t k = KNOOP_FRAME_HELLO; k <= KNOOP_FRAME_INSTANCES; k++) {
        tu_pb_uint(&b, 1, 1);
        tu_pb_bytes(&b, k, "", 0);
        knoop_frame_t f;
        int rc = s_decode_buf(&b, &f);
        if (k == KNOOP_FRAME_HELLO || k == KNOOP_FRAME_WELCOME || k == KNOOP_FRAME_SYNC) {
            assert_int_equal(rc, KNOOP_EMALFORMED);
        } else {
            assert_int_equal(rc, KNOOP_OK);
            assert_int_equal(f.kind, k);
        }
        knoop_frame_clear(&f);
        knoop_buf_free(&b);
    }

    /* Unknown fields (a newer minor addition) are skipped, at both levels. */
    knoop_buf_t in = { 0 };
    tu_pb_fixed64(&in, 1, 9);
    tu_pb_str(&in, 7, "future");
    b = pb_frame(1, KNOOP_FRAME_HEARTBEAT, &in);
    tu_pb_uint(&b, 3, 5);
    knoop_frame_t f;
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
    assert_true(f.u.heartbeat.time_ms == 9);
    knoop_frame_clear(&f);
    knoop_buf_free(&b);
}

/* ---- fields ---- */

static knoop_buf_t s_hello(const char *partner, const char *sub, const char *software)
{
    knoop_buf_t in = { 0 };
    tu_pb_str(&in, 1, partner);
    if (sub)
        tu_pb_str(&in, 2, sub);
    if (software)
        tu_pb_str(&in, 6, software);
    return pb_frame(1, KNOOP_FRAME_HELLO, &in);
}

static knoop_buf_t s_hello_pos(const char *origin, const char *topic, uint64_t epoch,
                               uint64_t hwm, const uint8_t *head, size_t head_len,
                               const uint64_t *stream)
{
    knoop_buf_t in = { 0 };
    tu_pb_str(&in, 1, "vr-utrecht");
    pb_pos(&in, 3, origin, topic, epoch, hwm, head, head_len, stream);
    return pb_frame(1, KNOOP_FRAME_HELLO, &in);
}

static knoop_buf_t s_welcome_refused(const char *pattern, const char *reason)
{
    knoop_buf_t in = { 0 }, r = { 0 };
    tu_pb_str(&in, 1, "kcr2-a");
    tu_pb_str(&r, 1, pattern);
    tu_pb_str(&r, 2, reason);
    tu_pb_bytes(&in, 3, r.data, r.len);
    knoop_buf_free(&r);
    return pb_frame(1, KNOOP_FRAME_WELCOME, &in);
}

static knoop_buf_t s_error(uint64_t code, const char *reason)
{
    knoop_buf_t in = { 0 };
    tu_pb_uint(&in, 1, code);
    if (reason)
        tu_pb_str(&in, 2, reason);
    return pb_frame(1, KNOOP_FRAME_ERROR, &in);
}

static void test_ids_topics_patterns(void **state)
{
    knoop_buf_t b = s_hello("vr-utrecht", "grip.>", "knoop-node 0.1.0");
    s_expect(&b, KNOOP_OK);

    b = s_hello("VR-Utrecht", NULL, NULL);
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello("", NULL, NULL);
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello("-vr", NULL, NULL);
    s_expect(&b, KNOOP_EMALFORMED);
    char longid[KNOOP_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    b = s_hello(longid, NULL, NULL);
    s_expect(&b, KNOOP_EMALFORMED);
    longid[KNOOP_ID_MAX] = '\0';
    b = s_hello(longid, NULL, NULL);
    s_expect(&b, KNOOP_OK);

    const char *bad_patterns[] = { "", "grip.>.x", "gr*p", "grip..x", "Grip", ".grip", "a b" };
    for (size_t i = 0; i < sizeof bad_patterns / sizeof *bad_patterns; i++) {
        b = s_hello("vr-utrecht", bad_patterns[i], NULL);
        s_expect(&b, KNOOP_ETOPIC);
        b = s_welcome_refused(bad_patterns[i], "no");
        s_expect(&b, KNOOP_ETOPIC);
        knoop_buf_t in = { 0 };
        tu_pb_str(&in, 1, "kcr2-a");
        tu_pb_str(&in, 2, bad_patterns[i]);
        b = pb_frame(1, KNOOP_FRAME_WELCOME, &in);
        s_expect(&b, KNOOP_ETOPIC);
    }

    knoop_buf_t in = { 0 };
    tu_pb_str(&in, 1, "kcr2 a");                   /* broker id */
    b = pb_frame(1, KNOOP_FRAME_WELCOME, &in);
    s_expect(&b, KNOOP_EMALFORMED);

    uint8_t head[40];
    memset(head, 7, sizeof head);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 9, head, 32, NULL);
    s_expect(&b, KNOOP_OK);
    b = s_hello_pos("vr-utrecht", "grip.*", 3, 9, head, 32, NULL);       /* a pattern */
    s_expect(&b, KNOOP_ETOPIC);
    b = s_hello_pos("vr-utrecht", "", 3, 9, head, 32, NULL);
    s_expect(&b, KNOOP_ETOPIC);
    b = s_hello_pos("vr_utrecht", "grip.vr-utrecht", 3, 9, head, 32, NULL);
    s_expect(&b, KNOOP_EMALFORMED);
    uint64_t other = 12345;
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 9, head, 32, &other);
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 0, 9, head, 32, NULL);  /* epoch 0 */
    s_expect(&b, KNOOP_EMALFORMED);
}

static void test_heads(void **state)
{
    uint8_t head[33], zeros[32] = { 0 };
    memset(head, 7, sizeof head);
    knoop_buf_t b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 9, head, 31, NULL);
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 9, head, 33, NULL);
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 9, head, 0, NULL);   /* hwm > 0 */
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 0, head, 0, NULL);
    s_expect(&b, KNOOP_OK);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 0, zeros, 32, NULL);
    s_expect(&b, KNOOP_OK);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 0, head, 32, NULL);  /* not chain(0) */
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 0, head, 31, NULL);
    s_expect(&b, KNOOP_EMALFORMED);

    /* In WELCOME.own too. */
    knoop_buf_t in = { 0 };
    tu_pb_str(&in, 1, "kcr2-a");
    pb_pos(&in, 4, "vr-utrecht", "grip.vr-utrecht", 3, 9, head, 31, NULL);
    b = pb_frame(1, KNOOP_FRAME_WELCOME, &in);
    s_expect(&b, KNOOP_EMALFORMED);

    /* A decoded row carries its head. */
    b = s_hello_pos("vr-utrecht", "grip.vr-utrecht", 3, 9, head, 32, NULL);
    knoop_frame_t f;
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
    assert_int_equal(f.u.hello.nvector, 1);
    assert_memory_equal(f.u.hello.vector[0].head, head, 32);
    assert_true(f.u.hello.vector[0].hwm == 9);
    knoop_frame_clear(&f);
    knoop_buf_free(&b);
}

/* A HELLO with T and n buckets (bucket b[i], digest of dlen[i] bytes). */
static knoop_buf_t s_hello_settled(uint64_t t, const uint32_t *b, const size_t *dlen, size_t n)
{
    knoop_buf_t in = { 0 };
    uint8_t digest[32];
    memset(digest, 0x5a, sizeof digest);
    tu_pb_str(&in, 1, "vr-utrecht");
    if (t)
        tu_pb_uint(&in, 9, t);
    for (size_t i = 0; i < n; i++) {
        knoop_buf_t r = { 0 };
        tu_pb_uint(&r, 1, b[i]);
        tu_pb_uint(&r, 2, 3);
        tu_pb_bytes(&r, 3, digest, dlen[i]);
        tu_pb_bytes(&in, 10, r.data, r.len);
        knoop_buf_free(&r);
    }
    return pb_frame(1, KNOOP_FRAME_HELLO, &in);
}

/* The settled summary at the gate: buckets in range, each once, at most
 * 1024, a 16-byte digest, and T with them; WELCOME's matched set 128 bytes. */
static void test_settled(void **state)
{
    uint32_t bk[2] = { 5, 1023 };
    size_t dl[2] = { 16, 16 };
    knoop_buf_t b = s_hello_settled(77, bk, dl, 2);
    knoop_frame_t f;
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
    assert_true(f.u.hello.settled_hlc == 77);
    assert_int_equal(f.u.hello.nsettled, 2);
    assert_int_equal(f.u.hello.settled[1].bucket, 1023);
    assert_true(f.u.hello.settled[1].count == 3);
    assert_int_equal(f.u.hello.settled[1].digest[15], 0x5a);
    knoop_buf_t again = s_encode(&f);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    knoop_buf_free(&again);
    knoop_frame_clear(&f);
    knoop_buf_free(&b);

    bk[1] = 1024;                                   /* out of range */
    b = s_hello_settled(77, bk, dl, 2);
    s_expect(&b, KNOOP_EMALFORMED);
    bk[1] = 5;                                      /* twice */
    b = s_hello_settled(77, bk, dl, 2);
    s_expect(&b, KNOOP_EMALFORMED);
    bk[1] = 6;
    dl[1] = 15;                                     /* a short digest */
    b = s_hello_settled(77, bk, dl, 2);
    s_expect(&b, KNOOP_EMALFORMED);
    dl[1] = 32;
    b = s_hello_settled(77, bk, dl, 2);
    s_expect(&b, KNOOP_EMALFORMED);
    dl[1] = 16;
    b = s_hello_settled(0, bk, dl, 2);              /* buckets without T */
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_hello_settled(77, bk, dl, 2);
    s_expect(&b, KNOOP_OK);

    /* 1024 buckets pass, 1025 are too many (before anything is unpacked). */
    uint32_t *many = malloc(1025 * sizeof *many);
    size_t *mdl = malloc(1025 * sizeof *mdl);
    assert_non_null(many);
    assert_non_null(mdl);
    for (size_t i = 0; i < 1025; i++) {
        many[i] = (uint32_t) (i % 1024);
        mdl[i] = 16;
    }
    b = s_hello_settled(77, many, mdl, 1024);
    s_expect(&b, KNOOP_OK);
    b = s_hello_settled(77, many, mdl, 1025);
    s_expect(&b, KNOOP_ETOOBIG);
    free(many);
    free(mdl);

    /* WELCOME: the matched set round-trips; 127 bytes are malformed. */
    knoop_frame_t w = { .kind = KNOOP_FRAME_WELCOME };
    w.u.welcome.broker = "kcr2-a";
    w.u.welcome.settled_matched = 2;
    w.u.welcome.settled_missed = 1;
    w.u.welcome.has_matched_set = true;
    w.u.welcome.matched_set[127] = 0x80;            /* bucket 1023 */
    b = s_encode(&w);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
    assert_true(f.u.welcome.has_matched_set);
    assert_int_equal(f.u.welcome.matched_set[127], 0x80);
    assert_int_equal(f.u.welcome.settled_matched, 2);
    assert_int_equal(f.u.welcome.settled_missed, 1);
    knoop_frame_clear(&f);
    knoop_buf_free(&b);
    knoop_buf_t in = { 0 };
    uint8_t set[127] = { 0 };
    tu_pb_str(&in, 1, "kcr2-a");
    tu_pb_bytes(&in, 11, set, sizeof set);
    b = pb_frame(1, KNOOP_FRAME_WELCOME, &in);
    s_expect(&b, KNOOP_EMALFORMED);
}

static void test_strings(void **state)
{
    char s[S_REASON_MAX_TEST + 2];
    memset(s, 'x', sizeof s);
    s[128] = '\0';
    knoop_buf_t b = s_hello("vr-utrecht", NULL, s);
    s_expect(&b, KNOOP_OK);
    s[128] = 'x';
    s[129] = '\0';
    b = s_hello("vr-utrecht", NULL, s);
    s_expect(&b, KNOOP_EMALFORMED);

    memset(s, 'r', sizeof s);
    s[1024] = '\0';
    b = s_error(KNOOP_WERR_FULL, s);
    s_expect(&b, KNOOP_OK);
    b = s_welcome_refused("grip.>", s);
    s_expect(&b, KNOOP_OK);
    s[1024] = 'r';
    s[1025] = '\0';
    b = s_error(KNOOP_WERR_FULL, s);
    s_expect(&b, KNOOP_EMALFORMED);
    b = s_welcome_refused("grip.>", s);
    s_expect(&b, KNOOP_EMALFORMED);

    /* Text for people: valid UTF-8, no control characters (no forged log
     * lines). */
    const char *ok[] = { "", "schijf vol — probeer later", "grip \xf0\x9f\x9a\xa8", "€" };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        b = s_error(KNOOP_WERR_FULL, ok[i]);
        s_expect(&b, KNOOP_OK);
    }
    const char *bad[] = {
        "two\nlines", "tab\there", "esc\x1b[31m", "del\x7f", "\xc0\xaf", "\xe0\x80\xaf",
        "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "cut \xe2\x82", "\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        b = s_error(KNOOP_WERR_FULL, bad[i]);
        s_expect(&b, KNOOP_EMALFORMED);
        b = s_welcome_refused("grip.>", bad[i]);
        s_expect(&b, KNOOP_EMALFORMED);
        b = s_hello("vr-utrecht", NULL, bad[i]);
        s_expect(&b, KNOOP_EMALFORMED);
    }
}

static void test_error_codes(void **state)
{
    for (uint64_t c = 0; c <= KNOOP_WERR_LAST; c++) {
        knoop_buf_t b = s_error(c, "x");
        knoop_frame_t f;
        assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
        assert_int_equal(f.u.error.code, (int) c);
        knoop_frame_clear(&f);
        knoop_buf_free(&b);
    }
    /* Codes from a newer peer, and a negative int32 (10-byte varint), are
     * errors without a name, not malformed frames. */
    uint64_t odd[] = { KNOOP_WERR_LAST + 1, 99, 1u << 31, (uint64_t) -1, (uint64_t) (int64_t) INT32_MIN };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        knoop_buf_t b = s_error(odd[i], "later");
        knoop_frame_t f;
        assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
        assert_int_equal(f.u.error.code, KNOOP_WERR_UNSPECIFIED);
        assert_string_equal(f.u.error.reason, "later");
        knoop_frame_clear(&f);
        knoop_buf_free(&b);
    }

    assert_string_equal(knoop_wire_err_name(KNOOP_WERR_VERSION), "version");
    assert_string_equal(knoop_wire_err_name(KNOOP_WERR_MALFORMED), "malformed");
    assert_string_equal(knoop_wire_err_name(KNOOP_WERR_UNKNOWN), "unknown");
    assert_string_equal(knoop_wire_err_name(KNOOP_WERR_CLOCK), "clock");
    assert_string_equal(knoop_wire_err_name((knoop_wire_err_t) (KNOOP_WERR_LAST + 1)), "invalid");
    assert_string_equal(knoop_wire_err_name((knoop_wire_err_t) -1), "invalid");
}

static void test_ack_and_envelopes(void **state)
{
    knoop_buf_t in = { 0 }, row = { 0 };
    tu_pb_fixed64(&row, 1, 5);
    tu_pb_uint(&row, 2, 3);
    tu_pb_bytes(&in, 1, row.data, row.len);
    row.len = 0;
    tu_pb_fixed64(&row, 1, 6);                     /* seq absent = 0 */
    tu_pb_bytes(&in, 1, row.data, row.len);
    knoop_buf_free(&row);
    knoop_buf_t b = pb_frame(1, KNOOP_FRAME_ACK, &in);
    s_expect(&b, KNOOP_EMALFORMED);

    for (uint32_t kind = KNOOP_FRAME_PUBLISH; kind <= KNOOP_FRAME_DELIVER; kind += 2) {
        tu_pb_bytes(&in, 1, "abc", 3);
        tu_pb_bytes(&in, 1, "", 0);
        tu_pb_bytes(&in, 1, "def", 3);
        b = pb_frame(1, kind, &in);
        s_expect(&b, KNOOP_EMALFORMED);

        /* Envelopes are not parsed here: any non-empty bytes pass. */
        tu_pb_bytes(&in, 1, "abc", 3);
        tu_pb_bytes(&in, 1, "\0", 1);
        b = pb_frame(1, kind, &in);
        knoop_frame_t f;
        assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
        assert_int_equal(f.kind, kind);
        assert_int_equal(f.u.batch.n, 2);
        assert_int_equal(f.u.batch.envs[1].len, 1);
        knoop_frame_clear(&f);
        knoop_buf_free(&b);
    }
}

/* ---- limits ---- */

static void test_too_many_items(void **state)
{
    /* One past the limit of each repeated field, ETOOBIG; at the limit, OK. */
    for (int over = 0; over <= 1; over++) {
        size_t n = KNOOP_FRAME_ITEMS + (size_t) over;
        int want = over ? KNOOP_ETOOBIG : KNOOP_OK;
        knoop_buf_t in = { 0 }, b;

        for (size_t i = 0; i < n; i++)
            tu_pb_bytes(&in, 1, "e", 1);
        b = pb_frame(1, KNOOP_FRAME_PUBLISH, &in);
        s_expect(&b, want);

        tu_pb_str(&in, 1, "vr-utrecht");
        for (size_t i = 0; i < n; i++)
            tu_pb_str(&in, 2, "grip.>");
        b = pb_frame(1, KNOOP_FRAME_HELLO, &in);
        s_expect(&b, want);

        knoop_buf_t row = { 0 };
        tu_pb_fixed64(&row, 1, 5);
        tu_pb_uint(&row, 2, 1);
        for (size_t i = 0; i < n; i++)
            tu_pb_bytes(&in, 1, row.data, row.len);
        knoop_buf_free(&row);
        b = pb_frame(1, KNOOP_FRAME_ACK, &in);
        s_expect(&b, want);

        /* The largest WELCOME: every list at the limit (rows minimal). */
        if (!over) {
            tu_pb_str(&in, 1, "kcr2-a");
            knoop_buf_t r = { 0 };
            tu_pb_str(&r, 1, "a.>");
            tu_pb_str(&r, 2, "policy");
            knoop_buf_t pos = { 0 };
            pb_pos(&pos, 4, "a", "b", 1, 0, NULL, 0, NULL);
            for (size_t i = 0; i < n; i++) {
                tu_pb_str(&in, 2, "a.>");
                tu_pb_bytes(&in, 3, r.data, r.len);
                tu_pb_raw(&in, pos.data, pos.len);
            }
            knoop_buf_free(&r);
            knoop_buf_free(&pos);
            b = pb_frame(1, KNOOP_FRAME_WELCOME, &in);
            knoop_frame_t f;
            assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
            assert_int_equal(f.u.welcome.naccepted, n);
            assert_int_equal(f.u.welcome.nrefused, n);
            assert_int_equal(f.u.welcome.nown, n);
            assert_string_equal(f.u.welcome.own[n - 1].topic, "b");
            knoop_frame_clear(&f);
            knoop_buf_free(&b);
        }
    }

    /* The encoder keeps the same limit. */
    knoop_bytes_t *envs = calloc(KNOOP_FRAME_ITEMS + 1, sizeof *envs);
    assert_non_null(envs);
    for (size_t i = 0; i <= KNOOP_FRAME_ITEMS; i++) {
        envs[i].data = (const uint8_t *) "e";
        envs[i].len = 1;
    }
    knoop_frame_t f = { .kind = KNOOP_FRAME_DELIVER, .u.batch = { envs, KNOOP_FRAME_ITEMS + 1 } };
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_ETOOBIG);
    f.u.batch.n = KNOOP_FRAME_ITEMS;
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_OK);
    knoop_frame_t g;
    assert_int_equal(s_decode_buf(&b, &g), KNOOP_OK);
    assert_int_equal(g.u.batch.n, KNOOP_FRAME_ITEMS);
    knoop_frame_clear(&g);
    knoop_buf_free(&b);
    free(envs);
}

static size_t s_vlen(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Frame{1, PUBLISH{16 envelopes of `big` bytes, one of `fill`}}: its size,
 * and the frame itself. */
static size_t s_publish_size(size_t big, size_t fill)
{
    size_t inner = 16 * (1 + s_vlen(big) + big) + 1 + s_vlen(fill) + fill;
    return 2 + 1 + s_vlen(inner) + inner;
}

static knoop_buf_t s_publish(const uint8_t *env, size_t big, size_t fill)
{
    knoop_buf_t in = { 0 };
    for (int i = 0; i < 16; i++)
        tu_pb_bytes(&in, 1, env, big);
    tu_pb_bytes(&in, 1, env, fill);
    return pb_frame(1, KNOOP_FRAME_PUBLISH, &in);
}

static void test_oversized(void **state)
{
    size_t big = (1u << 20) - 64;
    uint8_t *env = malloc(big);
    assert_non_null(env);
    memset(env, 0x5a, big);
    size_t fill = 0;
    while (s_publish_size(big, fill) < KNOOP_FRAME_MAX + 1)
        fill++;
    assert_int_equal(s_publish_size(big, fill), KNOOP_FRAME_MAX + 1);

    /* A well-formed PUBLISH one byte over the limit: refused on its length
     * alone, before anything is allocated. */
    knoop_buf_t b = s_publish(env, big, fill);
    assert_int_equal(b.len, KNOOP_FRAME_MAX + 1);
    knoop_frame_t f;
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_ETOOBIG);
    assert_null(f.priv_);
    memset(b.data, 0, b.len);                   /* garbage of that size too */
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_ETOOBIG);
    knoop_buf_free(&b);

    /* At the limit it passes. */
    b = s_publish(env, big, fill - 1);
    assert_int_equal(b.len, KNOOP_FRAME_MAX);
    assert_int_equal(s_decode_buf(&b, &f), KNOOP_OK);
    assert_int_equal(f.u.batch.n, 17);
    assert_int_equal(f.u.batch.envs[16].len, fill - 1);
    knoop_frame_clear(&f);
    knoop_buf_free(&b);

    /* The encoder writes the first and refuses the second. */
    knoop_bytes_t envs[17];
    for (int i = 0; i < 17; i++) {
        envs[i].data = env;
        envs[i].len = i < 16 ? big : fill - 1;
    }
    knoop_frame_t g = { .kind = KNOOP_FRAME_PUBLISH, .u.batch = { envs, 17 } };
    assert_int_equal(knoop_frame_encode(&g, &b), KNOOP_OK);
    assert_int_equal(b.len, KNOOP_FRAME_MAX);
    assert_true(knoop_frame_batch_size(17, 16 * big + fill - 1) >= b.len);
    envs[16].len = fill;
    assert_int_equal(knoop_frame_encode(&g, &b), KNOOP_ETOOBIG);
    assert_int_equal(b.len, KNOOP_FRAME_MAX);   /* nothing appended */
    knoop_buf_free(&b);
    free(env);
}

/* A frame padded with unknown fields must not make the decoder allocate
 * many times its size: protobuf-c would spend ~60 bytes on each 2-byte
 * field. */
static void test_stuffed(void **state)
{
    knoop_buf_t b = { 0 };
    tu_pb_uint(&b, 1, 1);
    tu_pb_bytes(&b, KNOOP_FRAME_HEARTBEAT, "", 0);
    while (b.len < (8u << 20))
        tu_pb_uint(&b, 3, 0);
    s_expect(&b, KNOOP_ETOOBIG);

    /* Inside the kind, and inside every row of a list. */
    knoop_buf_t in = { 0 };
    tu_pb_str(&in, 1, "vr-utrecht");
    while (in.len < (4u << 20))
        tu_pb_uint(&in, 9, 0);
    b = pb_frame(1, KNOOP_FRAME_HELLO, &in);
    s_expect(&b, KNOOP_ETOOBIG);

    knoop_buf_t row = { 0 };
    tu_pb_fixed64(&row, 1, 5);
    tu_pb_uint(&row, 2, 1);
    while (row.len < 200)
        tu_pb_uint(&row, 3, 0);
    for (int i = 0; i < 20000; i++)
        tu_pb_bytes(&in, 1, row.data, row.len);
    knoop_buf_free(&row);
    b = pb_frame(1, KNOOP_FRAME_ACK, &in);
    s_expect(&b, KNOOP_ETOOBIG);

    /* Repeats of a singular field. */
    tu_pb_fixed64(&in, 1, 1);
    while (in.len < (1u << 20))
        tu_pb_str(&in, 2, "x");
    b = pb_frame(1, KNOOP_FRAME_ERROR, &in);
    s_expect(&b, KNOOP_ETOOBIG);
}

/* ---- hostile input: prefixes, random bytes, bit flips ---- */

/* Whatever decodes must be a frame the encoder accepts, and survive a round
 * trip unchanged. */
static int s_decode_any(const uint8_t *p, size_t len)
{
    knoop_frame_t f;
    int rc = knoop_frame_decode(&f, p, len);
    if (rc == KNOOP_OK) {
        knoop_buf_t b = s_encode(&f);
        knoop_frame_t g;
        assert_int_equal(s_decode_buf(&b, &g), KNOOP_OK);
        s_frame_equal(&f, &g);
        knoop_frame_clear(&g);
        knoop_buf_free(&b);
    } else {
        assert_null(f.priv_);
        assert_true(rc == KNOOP_EMALFORMED || rc == KNOOP_ETOPIC || rc == KNOOP_ETOOBIG ||
                    rc == KNOOP_EVERSION);
    }
    knoop_frame_clear(&f);
    return rc;
}

static void test_truncated(void **state)
{
    fixtures_t t;
    s_fixtures_make(&t);
    for (int i = 0; i < NFIXTURES; i++) {
        for (size_t len = 0; len < t.b[i].len; len++) {
            /* An exact-size heap copy, so ASan sees any read past it. */
            uint8_t *p = malloc(len ? len : 1);
            assert_non_null(p);
            memcpy(p, t.b[i].data, len);
            s_decode_any(len ? p : NULL, len);
            free(p);
        }
    }
    s_fixtures_free(&t);
}

static uint32_t s_rand(uint64_t *st)
{
    /* xorshift64*: reproducible from tu_seed() on every platform. */
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return (uint32_t) ((*st * 0x2545f4914f6cdd1dull) >> 32);
}

static void test_random_bytes(void **state)
{
    uint64_t st = (uint64_t) tu_seed() * 0x9e3779b97f4a7c15ull + 1;
    int rounds = tu_soak() ? 1000000 : 20000;
    uint8_t buf[512];
    int ok = 0;
    for (int r = 0; r < rounds; r++) {
        size_t len = s_rand(&st) % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t) s_rand(&st);
        /* Half of them start like a frame, to get past the first checks. */
        if (r % 2 && len >= 4) {
            buf[0] = 0x08;
            buf[1] = 0x01;
            buf[2] = (uint8_t) (((KNOOP_FRAME_HELLO + s_rand(&st) % 9) << 3) | 2);
            buf[3] = (uint8_t) ((len - 4) & 0x7f);
            if (len - 4 >= 0x80) {
                len = 4 + 0x7f;
                buf[3] = 0x7f;
            }
        }
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, buf, len);
        ok += s_decode_any(p, len) == KNOOP_OK;
        free(p);
    }
    fprintf(stderr, "# %d random inputs, %d decoded\n", rounds, ok);
}

static void test_bit_flips(void **state)
{
    uint64_t st = (uint64_t) tu_seed() * 0xd1b54a32d192ed03ull + 7;
    int rounds = tu_soak() ? 100000 : 2000;
    fixtures_t t;
    s_fixtures_make(&t);
    int ok = 0, total = 0;
    for (int i = 0; i < NFIXTURES; i++) {
        const knoop_buf_t *b = &t.b[i];
        uint8_t *p = malloc(b->len);
        assert_non_null(p);
        for (int r = 0; r < rounds; r++) {
            memcpy(p, b->data, b->len);
            int flips = 1 + (int) (s_rand(&st) % 4);
            for (int k = 0; k < flips; k++) {
                size_t at = s_rand(&st) % b->len;
                if (s_rand(&st) % 4 == 0)
                    p[at] = (uint8_t) s_rand(&st);      /* a whole byte */
                else
                    p[at] ^= (uint8_t) (1u << (s_rand(&st) % 8));
            }
            ok += s_decode_any(p, b->len) == KNOOP_OK;
            total++;
        }
        free(p);
    }
    fprintf(stderr, "# %d flipped frames, %d decoded\n", total, ok);
    s_fixtures_free(&t);
}

/* ---- sizes ---- */

/* PUBLISH forwarded carries the origins' certificates: they survive the
 * round trip in the frame's own storage; without forwarded, more than
 * KNOOP_WIRE_FWD_CERTS, or an empty one, they are refused. */
static void test_forward_certs(void **state)
{
    (void) state;
    envs_t e;
    s_envs_init(&e);
    const char *certs[KNOOP_WIRE_FWD_CERTS + 1];
    for (int i = 0; i <= KNOOP_WIRE_FWD_CERTS; i++)
        certs[i] = i % 2 ? "knoop-cert v1\nid vr-zeeland\n" : "knoop-cert v1\nid vr-utrecht\n";
    knoop_frame_t f = { .kind = KNOOP_FRAME_PUBLISH };
    f.u.batch.envs = e.envs;
    f.u.batch.n = 1;
    f.u.batch.forwarded = true;
    f.u.batch.certs = certs;
    f.u.batch.ncerts = 2;
    knoop_buf_t b = s_encode(&f);
    uint8_t *copy = malloc(b.len);
    assert_non_null(copy);
    memcpy(copy, b.data, b.len);
    knoop_frame_t d;
    assert_int_equal(knoop_frame_decode(&d, copy, b.len), KNOOP_OK);
    memset(copy, 0xa5, b.len);
    free(copy);
    assert_true(d.u.batch.forwarded);
    assert_int_equal(d.u.batch.ncerts, 2);
    assert_string_equal(d.u.batch.certs[0], certs[0]);
    assert_string_equal(d.u.batch.certs[1], certs[1]);
    knoop_frame_clear(&d);
    knoop_buf_free(&b);

    knoop_buf_t out = { 0 };
    f.u.batch.forwarded = false;                /* certificates only with forwarded */
    assert_int_equal(knoop_frame_encode(&f, &out), KNOOP_EINVAL);
    f.u.batch.forwarded = true;
    f.u.batch.ncerts = KNOOP_WIRE_FWD_CERTS + 1;
    assert_int_equal(knoop_frame_encode(&f, &out), KNOOP_EINVAL);
    f.u.batch.ncerts = KNOOP_WIRE_FWD_CERTS;
    assert_int_equal(knoop_frame_encode(&f, &out), KNOOP_OK);
    certs[3] = "";
    assert_int_not_equal(knoop_frame_encode(&f, &out), KNOOP_OK);
    knoop_buf_free(&out);
    s_envs_free(&e);
}

static void test_batch_size(void **state)
{
    uint64_t st = (uint64_t) tu_seed() + 99;
    size_t counts[] = { 0, 1, 2, 3, 10, 127, 128, 1000, 4096 };
    size_t avgs[] = { 1, 50, 126, 127, 128, 300, 4000, 16383, 16384, 100000, 1u << 20 };
    uint8_t *pool = malloc(2u << 20);
    assert_non_null(pool);
    memset(pool, 0x33, 2u << 20);
    knoop_bytes_t *envs = calloc(4096, sizeof *envs);
    assert_non_null(envs);
    for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
        for (size_t ai = 0; ai < sizeof avgs / sizeof *avgs; ai++) {
            size_t n = counts[ci], avg = avgs[ai];
            if (n * avg > (12u << 20))
                continue;
            for (int variant = 0; variant < 3; variant++) {
                size_t total = 0;
                for (size_t i = 0; i < n; i++) {
                    /* equal sizes, random sizes, one big and the rest tiny */
                    size_t len = variant == 0 ? avg
                               : variant == 1 ? 1 + s_rand(&st) % (2 * avg)
                               : i == 0 ? avg * n - (n - 1) : 1;
                    if (len > (2u << 20))
                        len = 2u << 20;
                    envs[i].data = pool;
                    envs[i].len = len;
                    total += len;
                }
                knoop_frame_t f = { .kind = variant == 1 ? KNOOP_FRAME_DELIVER
                                                         : KNOOP_FRAME_PUBLISH,
                                    .u.batch = { envs, n } };
                knoop_buf_t b = { 0 };
                if (knoop_frame_encode(&f, &b) != KNOOP_OK)
                    fail_msg("encode n=%zu total=%zu", n, total);
                size_t bound = knoop_frame_batch_size(n, total);
                if (bound < b.len || bound > b.len + 8 + 3 * n)
                    fail_msg("n=%zu total=%zu: bound %zu, encoded %zu", n, total, bound, b.len);
                knoop_buf_free(&b);
            }
        }
    }
    assert_int_equal(knoop_frame_batch_size(SIZE_MAX / 2, SIZE_MAX / 2), SIZE_MAX);
    free(envs);
    free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_ids_topics_patterns),
        cmocka_unit_test(test_heads),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_ack_and_envelopes),
        cmocka_unit_test(test_too_many_items),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_stuffed),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_batch_size),
        cmocka_unit_test(test_forward_certs),
        cmocka_unit_test(test_settled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
