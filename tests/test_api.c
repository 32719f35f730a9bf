/*
 * test_api.c — the local API: the codec and its checked gate (round trips of
 * every request and reply kind, version, malformed input, bad names, limits,
 * truncations and random bytes), then the client library and the knoop pub,
 * sub, status and beeld commands against a fake node: a real ZeroMQ ROUTER
 * on ipc:// in a temp dir, in a thread of this process, answering with
 * api.h-encoded replies, including stale replies, foreign deliveries,
 * redeliveries and a flood beyond the window.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "pbwrite.h"
#include "api.h"
#include "client.h"
#include "crypto.h"
#include "hlc.h"
#include "json.h"
#include "msg.h"

#include <czmq.h>          /* the fake node only: the client keeps czmq inside libknoop */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPE_GRIP "knoop.crisis.v1.GripLevel"

/* ---- bytes the encoder will not make (tests/pbwrite.h) ---- */

/* version 1, id 7, then one kind `field` holding `inner`. */
static void s_raw_msg(knoop_buf_t *out, uint32_t field, const knoop_buf_t *inner)
{
    tu_pb_uint(out, 1, KNOOP_API_VERSION);
    tu_pb_uint(out, 2, 7);
    tu_pb_bytes(out, field, inner ? inner->data : NULL, inner ? inner->len : 0);
}

/* ---- encode/decode helpers ---- */

/* s_P_rt: encode (which must succeed), then decode into out; s_P_raw:
 * decode bytes, and a failed decode leaves nothing to clear. Written once
 * for requests (P = req) and replies (P = rep). */
#define S_CODEC_HELPERS(P, T)                                                  \
    static int s_##P##_rt(const T *in, T *out)                                 \
    {                                                                          \
        knoop_buf_t b = { 0 };                                                 \
        int rc = knoop_api_##P##_encode(in, &b);                               \
        assert_int_equal(rc, KNOOP_OK);                                        \
        rc = knoop_api_##P##_decode(out, b.data, b.len);                       \
        knoop_buf_free(&b);                                                    \
        return rc;                                                             \
    }                                                                          \
    static int s_##P##_raw(const knoop_buf_t *b)                               \
    {                                                                          \
        T r;                                                                   \
        int rc = knoop_api_##P##_decode(&r, b->data, b->len);                  \
        if (rc == KNOOP_OK)                                                    \
            knoop_api_##P##_clear(&r);                                         \
        else                                                                   \
            assert_null(r.priv_);                                              \
        return rc;                                                             \
    }

S_CODEC_HELPERS(req, knoop_api_req_t)
S_CODEC_HELPERS(rep, knoop_api_rep_t)

/* A publish request of one item on topic (through the encoder: it does not
 * check content), decoded. */
static int s_publish_one(const char *topic, const char *type, const char *key)
{
    knoop_api_item_t it = { .topic = topic, .type = type, .key = key, .status = 1, .tlp = 3 };
    knoop_api_req_t req = { .id = 1, .kind = KNOOP_API_PUBLISH, .u.publish = { &it, 1 } };
    knoop_api_req_t out;
    int rc = s_req_rt(&req, &out);
    knoop_api_req_clear(&out);
    return rc;
}

static int s_subscribe(const char *pattern, const char *durable, uint32_t status,
                       bool from_start, uint64_t since, uint32_t window)
{
    knoop_api_req_t req = { .id = 2, .kind = KNOOP_API_SUBSCRIBE };
    req.u.subscribe.pattern = pattern;
    req.u.subscribe.durable = durable;
    req.u.subscribe.status = status;
    req.u.subscribe.from_start = from_start;
    req.u.subscribe.since_ms = since;
    req.u.subscribe.window = window;
    knoop_api_req_t out;
    int rc = s_req_rt(&req, &out);
    knoop_api_req_clear(&out);
    return rc;
}

/* ---- round trips ---- */

static void test_req_publish(void **state)
{
    static const uint8_t bin[] = { 0x00, 0xff, 0x00, 0x0a, 'x' };
    static const char *const rcpt[] = { "vr-zeeland", "kcr2" };
    knoop_api_item_t items[3] = {
        { .topic = "grip.vr-utrecht", .type = TYPE_GRIP, .key = "", .priority = 2,
          .status = 1, .tlp = 5, .payload = bin, .payload_len = sizeof bin,
          .recipients = rcpt, .nrecipients = 2 },
        { .topic = "water.ws-limburg.peil", .type = "knoop.crisis.v1.WaterLevel",
          .key = "Maas, Sint Pieter", .priority = 0, .status = 2, .tlp = 1 },
        { .topic = "x", .type = "t", .key = NULL, .priority = 9, .status = 0, .tlp = 7 },
    };
    knoop_api_req_t req = { .id = 0xfedcba9876543210ull, .kind = KNOOP_API_PUBLISH,
                            .u.publish = { items, 3, 4000 } };
    knoop_api_req_t r;
    assert_int_equal(s_req_rt(&req, &r), KNOOP_OK);
    assert_int_equal(r.u.publish.wait_ms, 4000);
    assert_int_equal(r.u.publish.items[0].nrecipients, 2);
    assert_string_equal(r.u.publish.items[0].recipients[1], "kcr2");
    assert_int_equal(r.u.publish.items[1].nrecipients, 0);
    assert_int_equal(r.version, KNOOP_API_VERSION);
    assert_true(r.id == 0xfedcba9876543210ull);
    assert_int_equal(r.kind, KNOOP_API_PUBLISH);
    assert_int_equal(r.u.publish.n, 3);
    const knoop_api_item_t *it = r.u.publish.items;
    assert_string_equal(it[0].topic, "grip.vr-utrecht");
    assert_string_equal(it[0].type, TYPE_GRIP);
    assert_string_equal(it[0].key, "");
    assert_int_equal(it[0].priority, 2);
    assert_int_equal(it[0].status, 1);
    assert_int_equal(it[0].tlp, 5);
    assert_int_equal(it[0].payload_len, sizeof bin);
    assert_memory_equal(it[0].payload, bin, sizeof bin);
    assert_string_equal(it[1].key, "Maas, Sint Pieter");
    assert_int_equal(it[1].payload_len, 0);
    /* enum values are the node's to check, not the gate's */
    assert_string_equal(it[2].key, "");
    assert_int_equal(it[2].priority, 9);
    assert_int_equal(it[2].tlp, 7);
    knoop_api_req_clear(&r);
    knoop_api_req_clear(&r);            /* twice is harmless */
    assert_null(r.priv_);

    /* a recipient that is not a partner id is refused at the gate */
    static const char *const bad[] = { "Vr Zeeland" };
    items[0].recipients = bad;
    items[0].nrecipients = 1;
    assert_int_equal(s_req_rt(&req, &r), KNOOP_EMALFORMED);
}

static void test_req_subscribe(void **state)
{
    char name64[65];
    memset(name64, 'a', 64);
    name64[64] = '\0';
    knoop_api_req_t req = { .id = 9, .kind = KNOOP_API_SUBSCRIBE };
    req.u.subscribe.pattern = "grip.*";
    req.u.subscribe.durable = name64;
    req.u.subscribe.since_ms = 1626220800000ull;
    req.u.subscribe.status = KNOOP_API_STATUS_ALL;
    req.u.subscribe.window = 256;
    knoop_api_req_t r;
    assert_int_equal(s_req_rt(&req, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_SUBSCRIBE);
    assert_int_equal(r.id, 9);
    assert_string_equal(r.u.subscribe.pattern, "grip.*");
    assert_string_equal(r.u.subscribe.durable, name64);
    assert_false(r.u.subscribe.from_start);
    assert_true(r.u.subscribe.since_ms == 1626220800000ull);
    assert_int_equal(r.u.subscribe.status, KNOOP_API_STATUS_ALL);
    assert_int_equal(r.u.subscribe.window, 256);
    knoop_api_req_clear(&r);

    /* not durable, from the start, defaults */
    req.u.subscribe.durable = NULL;
    req.u.subscribe.since_ms = 0;
    req.u.subscribe.from_start = true;
    req.u.subscribe.status = 0;
    req.u.subscribe.window = 0;
    req.u.subscribe.pattern = ">";
    assert_int_equal(s_req_rt(&req, &r), KNOOP_OK);
    assert_string_equal(r.u.subscribe.durable, "");
    assert_true(r.u.subscribe.from_start);
    assert_int_equal(r.u.subscribe.status, 0);
    assert_string_equal(r.u.subscribe.pattern, ">");
    knoop_api_req_clear(&r);

    for (uint32_t s = 1; s <= 4; s++)
        assert_int_equal(s_subscribe("a.>", "x_y-1", s, false, 0, 1), KNOOP_OK);
}

static void test_req_small_kinds(void **state)
{
    knoop_api_req_t r;
    knoop_api_req_t ack = { .id = 3, .kind = KNOOP_API_ACK, .u.ack = { 77, 123456 } };
    assert_int_equal(s_req_rt(&ack, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_ACK);
    assert_int_equal(r.u.ack.sub, 77);
    assert_int_equal(r.u.ack.position, 123456);
    knoop_api_req_clear(&r);

    knoop_api_req_t st = { .id = 4, .kind = KNOOP_API_STATUS };
    assert_int_equal(s_req_rt(&st, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_STATUS);
    assert_int_equal(r.id, 4);
    knoop_api_req_clear(&r);

    knoop_api_req_t beeld = { .id = 5, .kind = KNOOP_API_BEELD };
    assert_int_equal(s_req_rt(&beeld, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_BEELD);
    assert_string_equal(r.u.beeld.pattern, ">");       /* empty means everything */
    knoop_api_req_clear(&r);
    beeld.u.beeld.pattern = "water.*.peil";
    assert_int_equal(s_req_rt(&beeld, &r), KNOOP_OK);
    assert_string_equal(r.u.beeld.pattern, "water.*.peil");
    knoop_api_req_clear(&r);

    knoop_api_req_t close = { .id = 6, .kind = KNOOP_API_CLOSE, .u.close.sub = 77 };
    assert_int_equal(s_req_rt(&close, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_CLOSE);
    assert_int_equal(r.u.close.sub, 77);
    knoop_api_req_clear(&r);

    knoop_api_req_t role = { .id = 7, .kind = KNOOP_API_ROLE,
                             .u.role = { .active = true, .reason = "failback" } };
    assert_int_equal(s_req_rt(&role, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_ROLE);
    assert_true(r.u.role.active);
    assert_string_equal(r.u.role.reason, "failback");
    knoop_api_req_clear(&r);
    char long_reason[202];
    memset(long_reason, 'x', 201);
    long_reason[201] = '\0';
    role.u.role.active = false;
    role.u.role.reason = long_reason;                  /* above 200 bytes: refused */
    assert_int_equal(s_req_rt(&role, &r), KNOOP_EMALFORMED);
    long_reason[200] = '\0';
    assert_int_equal(s_req_rt(&role, &r), KNOOP_OK);
    assert_false(r.u.role.active);
    knoop_api_req_clear(&r);
}

static void test_rep_kinds(void **state)
{
    knoop_api_rep_t r;
    knoop_api_seq_t seqs[2] = {
        { "vr-utrecht", "grip.vr-utrecht", 1, KNOOP_VERDICT_ACCEPTED, "" },
        { "vr-utrecht", "grip.vr-utrecht", 2, KNOOP_VERDICT_REFUSED, "policy: no" } };
    knoop_api_rep_t pub = { .id = 11, .kind = KNOOP_API_R_PUBLISHED,
                            .u.published = { seqs, 2, true } };
    assert_int_equal(s_rep_rt(&pub, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_R_PUBLISHED);
    assert_int_equal(r.id, 11);
    assert_int_equal(r.u.published.n, 2);
    assert_string_equal(r.u.published.items[1].origin, "vr-utrecht");
    assert_string_equal(r.u.published.items[1].topic, "grip.vr-utrecht");
    assert_int_equal(r.u.published.items[1].seq, 2);
    assert_int_equal(r.u.published.items[0].verdict, KNOOP_VERDICT_ACCEPTED);
    assert_int_equal(r.u.published.items[1].verdict, KNOOP_VERDICT_REFUSED);
    assert_string_equal(r.u.published.items[1].reason, "policy: no");
    assert_true(r.u.published.link_up);
    knoop_api_rep_clear(&r);

    static const uint8_t e1[] = { 1, 2, 3 }, e2[] = { 0, 0, 0, 0 };
    knoop_api_env_t envs[2] = { { 5, e1, sizeof e1 }, { 9, e2, sizeof e2 } };
    knoop_api_rep_t del = { .id = 77, .kind = KNOOP_API_R_DELIVERY,
                            .u.delivery = { envs, 2, false } };
    assert_int_equal(s_rep_rt(&del, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_R_DELIVERY);
    assert_int_equal(r.u.delivery.n, 2);
    assert_int_equal(r.u.delivery.msgs[0].position, 5);
    assert_int_equal(r.u.delivery.msgs[1].position, 9);
    assert_int_equal(r.u.delivery.msgs[1].len, 4);
    assert_memory_equal(r.u.delivery.msgs[1].envelope, e2, 4);
    knoop_api_rep_clear(&r);

    /* the picture: positions may be absent; an empty last batch */
    envs[0].position = 0;
    knoop_api_rep_t beeld = { .id = 12, .kind = KNOOP_API_R_BEELD,
                              .u.delivery = { envs, 1, false } };
    assert_int_equal(s_rep_rt(&beeld, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_R_BEELD);
    assert_int_equal(r.u.delivery.n, 1);
    assert_false(r.u.delivery.done);
    knoop_api_rep_clear(&r);
    beeld.u.delivery.n = 0;
    beeld.u.delivery.done = true;
    assert_int_equal(s_rep_rt(&beeld, &r), KNOOP_OK);
    assert_int_equal(r.u.delivery.n, 0);
    assert_true(r.u.delivery.done);
    knoop_api_rep_clear(&r);

    knoop_api_rep_t st = { .id = 13, .kind = KNOOP_API_R_STATUS,
                           .u.status.json = "{\"partner\": \"vr-utrecht\"}" };
    assert_int_equal(s_rep_rt(&st, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_R_STATUS);
    assert_string_equal(r.u.status.json, "{\"partner\": \"vr-utrecht\"}");
    knoop_api_rep_clear(&r);

    knoop_api_rep_t err = { .id = 14, .kind = KNOOP_API_R_ERROR,
                            .u.error = { KNOOP_EPERM, "policy: no publish on grip.x", 3 } };
    assert_int_equal(s_rep_rt(&err, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_R_ERROR);
    assert_int_equal(r.u.error.code, KNOOP_EPERM);
    assert_string_equal(r.u.error.reason, "policy: no publish on grip.x");
    assert_int_equal(r.u.error.index, 3);
    knoop_api_rep_clear(&r);

    knoop_api_rep_t sub = { .id = 15, .kind = KNOOP_API_R_SUBSCRIBED, .u.subscribed.sub = 78 };
    assert_int_equal(s_rep_rt(&sub, &r), KNOOP_OK);
    assert_int_equal(r.kind, KNOOP_API_R_SUBSCRIBED);
    assert_int_equal(r.u.subscribed.sub, 78);
    knoop_api_rep_clear(&r);
}

/* ---- refusals ---- */

static void test_version(void **state)
{
    knoop_api_req_t req = { .id = 42, .kind = KNOOP_API_STATUS };
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_api_req_encode(&req, &b), KNOOP_OK);
    assert_int_equal(b.data[0], 0x08);           /* field 1, varint */
    assert_int_equal(b.data[1], KNOOP_API_VERSION);
    b.data[1] = 2;
    knoop_api_req_t r;
    assert_int_equal(knoop_api_req_decode(&r, b.data, b.len), KNOOP_EVERSION);
    assert_int_equal(r.version, 2);              /* the node can say what it got */
    assert_int_equal(r.id, 42);                  /* ... and to whom */
    assert_null(r.priv_);
    knoop_buf_free(&b);

    /* no version at all */
    knoop_buf_t raw = { 0 };
    tu_pb_uint(&raw, 2, 5);
    tu_pb_bytes(&raw, 13, NULL, 0);
    assert_int_equal(knoop_api_req_decode(&r, raw.data, raw.len), KNOOP_EVERSION);
    assert_int_equal(r.version, 0);
    assert_int_equal(r.id, 5);
    knoop_buf_free(&raw);

    /* another version with a layout we do not know */
    tu_pb_uint(&raw, 1, 3);
    tu_pb_uint(&raw, 2, 6);
    tu_pb_bytes(&raw, 13, NULL, 0);
    tu_pb_bytes(&raw, 14, NULL, 0);
    assert_int_equal(knoop_api_req_decode(&r, raw.data, raw.len), KNOOP_EVERSION);
    assert_int_equal(r.version, 3);
    knoop_buf_free(&raw);

    /* replies too */
    knoop_api_rep_t rep = { .id = 43, .kind = KNOOP_API_R_SUBSCRIBED, .u.subscribed.sub = 1 };
    assert_int_equal(knoop_api_rep_encode(&rep, &b), KNOOP_OK);
    assert_int_equal(b.data[1], KNOOP_API_VERSION);
    b.data[1] = 0x7f;
    knoop_api_rep_t rr;
    assert_int_equal(knoop_api_rep_decode(&rr, b.data, b.len), KNOOP_EVERSION);
    assert_int_equal(rr.version, 0x7f);
    assert_int_equal(rr.id, 43);
    knoop_buf_free(&b);
}

static void test_malformed(void **state)
{
    knoop_api_req_t r;
    knoop_api_rep_t rr;
    assert_int_equal(knoop_api_req_decode(&r, NULL, 0), KNOOP_EMALFORMED);
    assert_int_equal(knoop_api_req_decode(&r, (const uint8_t *) "", 0), KNOOP_EMALFORMED);
    assert_int_equal(knoop_api_rep_decode(&rr, NULL, 0), KNOOP_EMALFORMED);

    knoop_buf_t b = { 0 }, inner = { 0 };
    /* no kind */
    tu_pb_uint(&b, 1, 1);
    tu_pb_uint(&b, 2, 1);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    assert_int_equal(s_rep_raw(&b), KNOOP_EMALFORMED);
    /* two kinds: protobuf-c would keep the last one silently */
    tu_pb_bytes(&b, 13, NULL, 0);
    assert_int_equal(s_req_raw(&b), KNOOP_OK);
    tu_pb_bytes(&b, 13, NULL, 0);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    b.len = 0;
    tu_pb_uint(&b, 1, 1);
    tu_pb_bytes(&b, 13, NULL, 0);
    tu_pb_str(&inner, 1, "");
    tu_pb_bytes(&b, 14, inner.data, inner.len);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    /* trailing garbage: a truncated tag, a length beyond the end, a group */
    b.len = 0;
    s_raw_msg(&b, 13, NULL);
    uint8_t junk = 0x80;
    assert_int_equal(knoop_buf_append(&b, &junk, 1), KNOOP_OK);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    b.len = 0;
    s_raw_msg(&b, 13, NULL);
    tu_pb_varint(&b, (20 << 3) | 2);
    tu_pb_varint(&b, 100);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    b.len = 0;
    s_raw_msg(&b, 13, NULL);
    tu_pb_varint(&b, (20 << 3) | 3);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    /* field number 0 */
    b.len = 0;
    s_raw_msg(&b, 13, NULL);
    tu_pb_varint(&b, 0);
    tu_pb_varint(&b, 1);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    /* an unknown field is tolerated (a newer minor addition) */
    b.len = 0;
    s_raw_msg(&b, 13, NULL);
    tu_pb_uint(&b, 99, 1);
    assert_int_equal(s_req_raw(&b), KNOOP_OK);

    /* NUL inside a string: the C view would differ from the bytes */
    inner.len = 0;
    knoop_buf_t item = { 0 };
    tu_pb_bytes(&item, 1, "grip.a\0evil", 11);
    tu_pb_str(&item, 2, TYPE_GRIP);
    tu_pb_bytes(&inner, 1, item.data, item.len);
    b.len = 0;
    s_raw_msg(&b, 10, &inner);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    /* the same item without the NUL is fine */
    item.len = 0;
    inner.len = 0;
    tu_pb_str(&item, 1, "grip.a");
    tu_pb_bytes(&inner, 1, item.data, item.len);
    b.len = 0;
    s_raw_msg(&b, 10, &inner);
    assert_int_equal(s_req_raw(&b), KNOOP_OK);
    /* publish without items */
    b.len = 0;
    s_raw_msg(&b, 10, NULL);
    assert_int_equal(s_req_raw(&b), KNOOP_EMALFORMED);
    /* ack and close need a subscription */
    knoop_api_req_t ack = { .id = 1, .kind = KNOOP_API_ACK };
    assert_int_equal(s_req_rt(&ack, &r), KNOOP_EMALFORMED);
    knoop_api_req_t close = { .id = 1, .kind = KNOOP_API_CLOSE };
    assert_int_equal(s_req_rt(&close, &r), KNOOP_EMALFORMED);

    /* replies */
    knoop_api_rep_t err = { .id = 1, .kind = KNOOP_API_R_ERROR, .u.error = { 0, "ok?", 0 } };
    assert_int_equal(s_rep_rt(&err, &rr), KNOOP_EMALFORMED);
    err.u.error.code = 3;
    assert_int_equal(s_rep_rt(&err, &rr), KNOOP_EMALFORMED);
    char longreason[1100];
    memset(longreason, 'r', sizeof longreason - 1);
    longreason[sizeof longreason - 1] = '\0';
    err.u.error.code = KNOOP_EIO;
    err.u.error.reason = longreason;
    assert_int_equal(s_rep_rt(&err, &rr), KNOOP_EMALFORMED);
    knoop_api_rep_t sub = { .id = 1, .kind = KNOOP_API_R_SUBSCRIBED };
    assert_int_equal(s_rep_rt(&sub, &rr), KNOOP_EMALFORMED);
    static const uint8_t e[] = { 1 };
    knoop_api_env_t env = { 0, e, 1 };
    knoop_api_rep_t del = { .id = 1, .kind = KNOOP_API_R_DELIVERY, .u.delivery = { &env, 1 } };
    assert_int_equal(s_rep_rt(&del, &rr), KNOOP_EMALFORMED);      /* position 0 */
    env.position = 1;
    env.len = 0;
    assert_int_equal(s_rep_rt(&del, &rr), KNOOP_EMALFORMED);      /* empty envelope */
    knoop_api_seq_t seq = { "Not-An-Id", "grip.x", 1, KNOOP_VERDICT_STORED, "" };
    knoop_api_rep_t pub = { .id = 1, .kind = KNOOP_API_R_PUBLISHED, .u.published = { &seq, 1 } };
    assert_int_equal(s_rep_rt(&pub, &rr), KNOOP_EMALFORMED);
    seq.origin = "vr-x";
    seq.seq = 0;
    assert_int_equal(s_rep_rt(&pub, &rr), KNOOP_EMALFORMED);
    seq.seq = 1;
    seq.topic = "grip.>";
    assert_int_equal(s_rep_rt(&pub, &rr), KNOOP_ETOPIC);

    /* encoder refusals */
    knoop_api_req_t bad = { .kind = (knoop_api_req_kind_t) 99 };
    assert_int_equal(knoop_api_req_encode(&bad, &b), KNOOP_EINVAL);
    knoop_api_rep_t badr = { .kind = (knoop_api_rep_kind_t) 3 };
    assert_int_equal(knoop_api_rep_encode(&badr, &b), KNOOP_EINVAL);
    knoop_api_req_t nul = { .kind = KNOOP_API_PUBLISH, .u.publish = { NULL, 2 } };
    assert_int_equal(knoop_api_req_encode(&nul, &b), KNOOP_EINVAL);
    knoop_api_item_t nopay = { .topic = "a", .payload_len = 3 };
    knoop_api_req_t np = { .kind = KNOOP_API_PUBLISH, .u.publish = { &nopay, 1 } };
    assert_int_equal(knoop_api_req_encode(&np, &b), KNOOP_EINVAL);
    knoop_api_env_t noenv = { 1, NULL, 3 };
    knoop_api_rep_t ne = { .kind = KNOOP_API_R_DELIVERY, .u.delivery = { &noenv, 1 } };
    assert_int_equal(knoop_api_rep_encode(&ne, &b), KNOOP_EINVAL);

    knoop_buf_free(&b);
    knoop_buf_free(&inner);
    knoop_buf_free(&item);
}

static void test_bad_names(void **state)
{
    assert_int_equal(s_publish_one("grip.vr-utrecht", TYPE_GRIP, ""), KNOOP_OK);
    assert_int_equal(s_publish_one("Grip.vr-utrecht", TYPE_GRIP, ""), KNOOP_ETOPIC);
    assert_int_equal(s_publish_one("grip..x", TYPE_GRIP, ""), KNOOP_ETOPIC);
    assert_int_equal(s_publish_one("grip.*", TYPE_GRIP, ""), KNOOP_ETOPIC);   /* not a topic */
    assert_int_equal(s_publish_one("grip.>", TYPE_GRIP, ""), KNOOP_ETOPIC);
    assert_int_equal(s_publish_one("", TYPE_GRIP, ""), KNOOP_ETOPIC);
    char type[KNOOP_TYPE_MAX + 2], key[KNOOP_KEY_MAX + 2];
    memset(type, 't', sizeof type - 1);
    type[sizeof type - 1] = '\0';
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_int_equal(s_publish_one("grip.x", type, ""), KNOOP_EMALFORMED);
    assert_int_equal(s_publish_one("grip.x", TYPE_GRIP, key), KNOOP_EMALFORMED);
    type[KNOOP_TYPE_MAX] = '\0';
    key[KNOOP_KEY_MAX] = '\0';
    assert_int_equal(s_publish_one("grip.x", type, key), KNOOP_OK);

    /* one bad item among good ones spoils the request */
    knoop_api_item_t items[3] = { { .topic = "a" }, { .topic = "b.c" }, { .topic = "b..c" } };
    knoop_api_req_t req = { .kind = KNOOP_API_PUBLISH, .u.publish = { items, 3 } };
    knoop_api_req_t r;
    assert_int_equal(s_req_rt(&req, &r), KNOOP_ETOPIC);

    assert_int_equal(s_subscribe("grip.>", "", 0, false, 0, 0), KNOOP_OK);
    assert_int_equal(s_subscribe("", "", 0, false, 0, 0), KNOOP_ETOPIC);
    assert_int_equal(s_subscribe("grip.>.x", "", 0, false, 0, 0), KNOOP_ETOPIC);
    assert_int_equal(s_subscribe("gr*p", "", 0, false, 0, 0), KNOOP_ETOPIC);
    assert_int_equal(s_subscribe(">", "Dashboard", 0, false, 0, 0), KNOOP_EMALFORMED);
    assert_int_equal(s_subscribe(">", "a.b", 0, false, 0, 0), KNOOP_EMALFORMED);
    assert_int_equal(s_subscribe(">", "with space", 0, false, 0, 0), KNOOP_EMALFORMED);
    char name[66];
    memset(name, 'n', 65);
    name[65] = '\0';
    assert_int_equal(s_subscribe(">", name, 0, false, 0, 0), KNOOP_EMALFORMED);
    name[64] = '\0';
    assert_int_equal(s_subscribe(">", name, 0, false, 0, 0), KNOOP_OK);
    assert_int_equal(s_subscribe(">", "", 5, false, 0, 0), KNOOP_EMALFORMED);
    assert_int_equal(s_subscribe(">", "", 254, false, 0, 0), KNOOP_EMALFORMED);
    assert_int_equal(s_subscribe(">", "", 0, true, 1000, 0), KNOOP_EMALFORMED);
    assert_int_equal(s_subscribe(">", "", 0, false, 0, KNOOP_API_ITEMS + 1), KNOOP_EMALFORMED);

    knoop_api_req_t beeld = { .kind = KNOOP_API_BEELD, .u.beeld.pattern = "water..peil" };
    assert_int_equal(s_req_rt(&beeld, &r), KNOOP_ETOPIC);
}

static void test_limits(void **state)
{
    /* the size limit comes before anything else looks at the bytes */
    size_t big = KNOOP_API_MAX + 1;
    uint8_t *buf = calloc(1, big);
    assert_non_null(buf);
    knoop_api_req_t r;
    knoop_api_rep_t rr;
    assert_int_equal(knoop_api_req_decode(&r, buf, big), KNOOP_ETOOBIG);
    assert_int_equal(knoop_api_rep_decode(&rr, buf, big), KNOOP_ETOOBIG);
    free(buf);

    /* item counts are checked before protobuf-c allocates them */
    knoop_buf_t inner = { 0 }, b = { 0 };
    static const uint8_t empty_item[] = { 0x0a, 0x00 };
    for (int i = 0; i <= KNOOP_API_ITEMS; i++)
        assert_int_equal(knoop_buf_append(&inner, empty_item, 2), KNOOP_OK);
    s_raw_msg(&b, 10, &inner);
    assert_int_equal(s_req_raw(&b), KNOOP_ETOOBIG);
    /* the same count of envelopes in a delivery */
    b.len = 0;
    s_raw_msg(&b, 11, &inner);
    assert_int_equal(s_rep_raw(&b), KNOOP_ETOOBIG);

    /* exactly KNOOP_API_ITEMS is fine */
    knoop_api_item_t *items = calloc(KNOOP_API_ITEMS + 1, sizeof *items);
    for (int i = 0; i <= KNOOP_API_ITEMS; i++)
        items[i] = (knoop_api_item_t) { .topic = "t", .type = "x" };
    knoop_api_req_t req = { .kind = KNOOP_API_PUBLISH, .u.publish = { items, KNOOP_API_ITEMS } };
    assert_int_equal(s_req_rt(&req, &r), KNOOP_OK);
    assert_int_equal(r.u.publish.n, KNOOP_API_ITEMS);
    knoop_api_req_clear(&r);
    req.u.publish.n = KNOOP_API_ITEMS + 1;
    b.len = 0;
    assert_int_equal(knoop_api_req_encode(&req, &b), KNOOP_ETOOBIG);

    /* payload and request size */
    uint8_t *payload = calloc(1, KNOOP_ENVELOPE_MAX);
    items[0].payload = payload;
    items[0].payload_len = KNOOP_PAYLOAD_MAX + 1;
    req.u.publish.n = 1;
    knoop_api_req_t out;
    assert_int_equal(s_req_rt(&req, &out), KNOOP_ETOOBIG);
    for (int i = 0; i < 17; i++) {
        items[i].payload = payload;
        items[i].payload_len = KNOOP_PAYLOAD_MAX;
    }
    req.u.publish.n = 17;
    b.len = 0;
    assert_int_equal(knoop_api_req_encode(&req, &b), KNOOP_ETOOBIG);
    assert_int_equal(b.len, 0);                /* nothing appended on failure */

    /* envelopes above KNOOP_ENVELOPE_MAX */
    knoop_api_env_t env = { 1, payload, KNOOP_ENVELOPE_MAX };
    knoop_api_rep_t del = { .id = 1, .kind = KNOOP_API_R_DELIVERY, .u.delivery = { &env, 1 } };
    assert_int_equal(s_rep_rt(&del, &rr), KNOOP_OK);
    knoop_api_rep_clear(&rr);
    uint8_t *large = calloc(1, KNOOP_ENVELOPE_MAX + 1);
    env.envelope = large;
    env.len = KNOOP_ENVELOPE_MAX + 1;
    assert_int_equal(s_rep_rt(&del, &rr), KNOOP_ETOOBIG);

    free(large);
    free(payload);
    free(items);
    knoop_buf_free(&inner);
    knoop_buf_free(&b);
}

/* ---- never crash ---- */

static void s_decode_any(const uint8_t *data, size_t len)
{
    knoop_api_req_t r;
    if (knoop_api_req_decode(&r, data, len) == KNOOP_OK) {
        assert_int_equal(r.version, KNOOP_API_VERSION);
        if (r.kind == KNOOP_API_PUBLISH) {
            assert_true(r.u.publish.n >= 1);
            for (size_t i = 0; i < r.u.publish.n; i++) {
                assert_non_null(r.u.publish.items[i].topic);
                assert_non_null(r.u.publish.items[i].key);
            }
        } else if (r.kind == KNOOP_API_SUBSCRIBE) {
            assert_non_null(r.u.subscribe.pattern);
        } else if (r.kind == KNOOP_API_BEELD) {
            assert_non_null(r.u.beeld.pattern);
        }
        knoop_api_req_clear(&r);
    } else {
        assert_null(r.priv_);
    }
    knoop_api_rep_t rr;
    if (knoop_api_rep_decode(&rr, data, len) == KNOOP_OK) {
        if (rr.kind == KNOOP_API_R_DELIVERY || rr.kind == KNOOP_API_R_BEELD)
            for (size_t i = 0; i < rr.u.delivery.n; i++)
                assert_true(rr.u.delivery.msgs[i].len >= 1);
        if (rr.kind == KNOOP_API_R_ERROR)
            assert_true(rr.u.error.code < 0);
        knoop_api_rep_clear(&rr);
    } else {
        assert_null(rr.priv_);
    }
}

static void s_samples(knoop_buf_t *s, size_t *n)
{
    static const uint8_t bin[] = { 0, 1, 2, 0xff };
    knoop_api_item_t items[2] = {
        { "grip.vr-utrecht", TYPE_GRIP, "k", 1, 1, 3, bin, sizeof bin, NULL, 0 },
        { "water.ws-limburg.peil", "knoop.crisis.v1.WaterLevel", "", 0, 2, 2, NULL, 0, NULL, 0 },
    };
    knoop_api_req_t pub = { .id = 300, .kind = KNOOP_API_PUBLISH, .u.publish = { items, 2 } };
    knoop_api_req_t sub = { .id = 301, .kind = KNOOP_API_SUBSCRIBE };
    sub.u.subscribe.pattern = "grip.>";
    sub.u.subscribe.durable = "dash";
    sub.u.subscribe.since_ms = 12345;
    sub.u.subscribe.status = 255;
    sub.u.subscribe.window = 10;
    knoop_api_req_t ack = { .id = 302, .kind = KNOOP_API_ACK, .u.ack = { 1, 2 } };
    knoop_api_req_t beeld = { .id = 303, .kind = KNOOP_API_BEELD, .u.beeld.pattern = "a.*" };
    knoop_api_seq_t seqs[1] = { { "vr-a", "grip.a", 3, KNOOP_VERDICT_STORED, "" } };
    knoop_api_rep_t published = { .id = 1, .kind = KNOOP_API_R_PUBLISHED,
                                  .u.published = { seqs, 1 } };
    knoop_api_env_t envs[2] = { { 1, bin, sizeof bin }, { 2, bin, 2 } };
    knoop_api_rep_t del = { .id = 2, .kind = KNOOP_API_R_DELIVERY, .u.delivery = { envs, 2 } };
    knoop_api_rep_t err = { .id = 3, .kind = KNOOP_API_R_ERROR,
                            .u.error = { KNOOP_EPERM, "no", 1 } };
    knoop_api_rep_t st = { .id = 4, .kind = KNOOP_API_R_STATUS, .u.status.json = "{}" };
    *n = 0;
    assert_int_equal(knoop_api_req_encode(&pub, &s[(*n)++]), KNOOP_OK);
    assert_int_equal(knoop_api_req_encode(&sub, &s[(*n)++]), KNOOP_OK);
    assert_int_equal(knoop_api_req_encode(&ack, &s[(*n)++]), KNOOP_OK);
    assert_int_equal(knoop_api_req_encode(&beeld, &s[(*n)++]), KNOOP_OK);
    assert_int_equal(knoop_api_rep_encode(&published, &s[(*n)++]), KNOOP_OK);
    assert_int_equal(knoop_api_rep_encode(&del, &s[(*n)++]), KNOOP_OK);
    assert_int_equal(knoop_api_rep_encode(&err, &s[(*n)++]), KNOOP_OK);
    assert_int_equal(knoop_api_rep_encode(&st, &s[(*n)++]), KNOOP_OK);
}

static void test_truncations(void **state)
{
    knoop_buf_t s[8] = { { 0 } };
    size_t n;
    s_samples(s, &n);
    for (size_t k = 0; k < n; k++) {
        for (size_t len = 0; len <= s[k].len; len++) {
            /* a fresh copy of exactly len bytes, so ASan sees any overread */
            uint8_t *copy = malloc(len ? len : 1);
            memcpy(copy, s[k].data, len);
            s_decode_any(copy, len);
            free(copy);
        }
        knoop_buf_free(&s[k]);
    }
}

static void test_random_bytes(void **state)
{
    unsigned seed = tu_seed();
    int rounds = tu_soak() ? 1000000 : 20000;
    uint8_t buf[512];
    for (int i = 0; i < rounds; i++) {
        size_t len = (size_t) (rand_r(&seed) % (int) sizeof buf);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t) rand_r(&seed);
        /* half of them start like a message, so they get past the first byte */
        if (len >= 2 && (i & 1)) {
            buf[0] = 0x08;
            buf[1] = 0x01;
        }
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        s_decode_any(copy, len);
        free(copy);
    }
    /* mutations of valid messages */
    knoop_buf_t s[8] = { { 0 } };
    size_t n;
    s_samples(s, &n);
    for (int i = 0; i < rounds; i++) {
        knoop_buf_t *src = &s[i % n];
        uint8_t *copy = malloc(src->len);
        memcpy(copy, src->data, src->len);
        int flips = 1 + rand_r(&seed) % 4;
        for (int f = 0; f < flips; f++)
            copy[rand_r(&seed) % (int) src->len] ^= (uint8_t) (1 + rand_r(&seed) % 255);
        s_decode_any(copy, src->len);
        free(copy);
    }
    for (size_t k = 0; k < n; k++)
        knoop_buf_free(&s[k]);
}

/* ---- a fake node ---- */

#define FAKE_STATUS "{\"partner\":\"vr-test\",\"link\":{\"state\":\"up\"," \
    "\"broker\":\"tcp://kcr2-a:7400\",\"since\":\"2026-01-01T00:00:00Z\"}," \
    "\"outbox\":{\"backlog\":0},\"streams\":[{\"origin\":\"vr-test\"," \
    "\"topic\":\"grip.vr-test\",\"hwm\":5,\"verified\":5}],\"last_error\":null}"
#define FAKE_ENVS 5
#define FLOOD_BATCH 256
#define FLOOD_BATCHES 5

typedef struct {
    char        *dir;
    char         endpoint[512];
    zsock_t     *router;
    pthread_t    thread;
    atomic_int   stop;
    atomic_int   failures;            /* what the fake node could not do */
    atomic_ullong acked;              /* highest acked position */
    atomic_ullong acked_sub;          /* the subscription of the last ack */
    atomic_ullong acked_last;         /* the position of the last ack */
    atomic_int   closes;
    atomic_int   publish_requests;
    uint64_t     seq;                 /* the node's thread only */
    uint64_t     next_sub;
    uint64_t     sub;                 /* the last subscription made */
    knoop_buf_t  envs[FAKE_ENVS];     /* real envelopes, env[2] an exercise */
} fake_t;

static void s_fake_send(fake_t *f, zframe_t *who, const knoop_api_rep_t *rep, int version)
{
    knoop_buf_t b = { 0 };
    if (knoop_api_rep_encode(rep, &b) != KNOOP_OK) {
        atomic_fetch_add(&f->failures, 1);
        return;
    }
    if (version)
        b.data[1] = (uint8_t) version;
    zmsg_t *m = zmsg_new();
    zframe_t *to = zframe_dup(who);
    zmsg_append(m, &to);
    zmsg_addmem(m, b.data, b.len);
    if (zmsg_send(&m, f->router) != 0) {
        zmsg_destroy(&m);
        atomic_fetch_add(&f->failures, 1);
    }
    knoop_buf_free(&b);
}

static void s_fake_deliver(fake_t *f, zframe_t *who, uint64_t sub, const uint64_t *pos,
                           const int *env, size_t n)
{
    knoop_api_env_t e[8];
    for (size_t i = 0; i < n; i++)
        e[i] = (knoop_api_env_t) { pos[i], f->envs[env[i]].data, f->envs[env[i]].len };
    knoop_api_rep_t rep = { .id = sub, .kind = KNOOP_API_R_DELIVERY, .u.delivery = { e, n } };
    s_fake_send(f, who, &rep, 0);
}

static void s_fake_handle(fake_t *f, zframe_t *who, const knoop_api_req_t *req)
{
    knoop_api_rep_t rep = { .id = req->id };
    switch (req->kind) {
    case KNOOP_API_PUBLISH: {
        atomic_fetch_add(&f->publish_requests, 1);
        for (size_t i = 0; i < req->u.publish.n; i++)
            if (!strcmp(req->u.publish.items[i].topic, "refuse.me")) {
                rep.kind = KNOOP_API_R_ERROR;
                rep.u.error.code = KNOOP_EPERM;
                char reason[96];
                snprintf(reason, sizeof reason, "item %zu: policy: vr-test may not publish "
                         "on refuse.me", i);
                rep.u.error.reason = reason;
                rep.u.error.index = (uint32_t) i;
                s_fake_send(f, who, &rep, 0);
                return;
            }
        size_t n = req->u.publish.n;
        knoop_api_seq_t *seqs = calloc(n, sizeof *seqs);
        /* Asked to wait, the fake plays a node with its link up: the
         * broker takes everything except on broker.refuses. */
        for (size_t i = 0; i < n; i++) {
            bool no = !strcmp(req->u.publish.items[i].topic, "broker.refuses");
            seqs[i] = (knoop_api_seq_t) {
                "vr-test", req->u.publish.items[i].topic, 0,
                !req->u.publish.wait_ms ? KNOOP_VERDICT_STORED
                : no ? KNOOP_VERDICT_REFUSED : KNOOP_VERDICT_ACCEPTED,
                no ? "policy: vr-test may not publish on broker.refuses" : "" };
        }
        rep.u.published.link_up = req->u.publish.wait_ms > 0;
        /* first a stale answer to some older request: to be skipped */
        rep.id = req->id + 1000;
        rep.kind = KNOOP_API_R_PUBLISHED;
        rep.u.published.items = seqs;
        rep.u.published.n = n;
        for (size_t i = 0; i < n; i++)
            seqs[i].seq = 999999;
        s_fake_send(f, who, &rep, 0);
        rep.id = req->id;
        for (size_t i = 0; i < n; i++)
            seqs[i].seq = ++f->seq;
        s_fake_send(f, who, &rep, 0);
        free(seqs);
        return;
    }
    case KNOOP_API_SUBSCRIBE: {
        if (!strcmp(req->u.subscribe.pattern, "slow.>"))
            zclock_sleep(400);                 /* later than the client waits */
        f->sub = f->next_sub++;
        rep.kind = KNOOP_API_R_SUBSCRIBED;
        rep.u.subscribed.sub = f->sub;
        s_fake_send(f, who, &rep, 0);
        if (!strcmp(req->u.subscribe.pattern, "flood.>")) {
            /* beyond the window, before the client asks anything else */
            static const uint8_t x[] = { 'x' };
            knoop_api_env_t *e = calloc(FLOOD_BATCH, sizeof *e);
            for (int b = 0; b < FLOOD_BATCHES; b++) {
                for (int i = 0; i < FLOOD_BATCH; i++)
                    e[i] = (knoop_api_env_t) { (uint64_t) (b * FLOOD_BATCH + i + 1), x, 1 };
                knoop_api_rep_t d = { .id = f->sub, .kind = KNOOP_API_R_DELIVERY,
                                      .u.delivery = { e, FLOOD_BATCH } };
                s_fake_send(f, who, &d, 0);
            }
            free(e);
            return;
        }
        if (!strcmp(req->u.subscribe.pattern, "garbage.>")) {
            /* 1, then a delivery that does not decode (position 0), then 3 */
            s_fake_deliver(f, who, f->sub, (uint64_t[]) { 1 }, (int[]) { 0 }, 1);
            knoop_api_env_t e = { 0, f->envs[1].data, f->envs[1].len };
            knoop_api_rep_t d = { .id = f->sub, .kind = KNOOP_API_R_DELIVERY,
                                  .u.delivery = { &e, 1 } };
            s_fake_send(f, who, &d, 0);
            s_fake_deliver(f, who, f->sub, (uint64_t[]) { 3 }, (int[]) { 2 }, 1);
            return;
        }
        s_fake_deliver(f, who, f->sub, (uint64_t[]) { 1, 2, 3 }, (int[]) { 0, 1, 2 }, 3);
        s_fake_deliver(f, who, 99, (uint64_t[]) { 50 }, (int[]) { 3 }, 1);   /* not ours */
        s_fake_deliver(f, who, f->sub, (uint64_t[]) { 2, 3, 4 }, (int[]) { 1, 2, 3 }, 3);
        return;
    }
    case KNOOP_API_ACK: {
        unsigned long long prev = atomic_load(&f->acked);
        if (req->u.ack.position > prev)
            atomic_store(&f->acked, req->u.ack.position);
        atomic_store(&f->acked_sub, req->u.ack.sub);
        atomic_store(&f->acked_last, req->u.ack.position);
        return;
    }
    case KNOOP_API_CLOSE:
        atomic_fetch_add(&f->closes, 1);
        return;
    case KNOOP_API_IMPORT:             /* not played by the fake: test_bundle, cli_bundle */
        return;
    case KNOOP_API_ROLE:            /* not used by the client library */
        return;
    case KNOOP_API_STATUS:
        if (f->sub)       /* a delivery while the client waits for its reply */
            s_fake_deliver(f, who, f->sub, (uint64_t[]) { 5 }, (int[]) { 4 }, 1);
        rep.id = req->id + 7;                  /* stale */
        rep.kind = KNOOP_API_R_STATUS;
        rep.u.status.json = "{\"stale\":true}";
        s_fake_send(f, who, &rep, 0);
        rep.id = req->id;
        rep.u.status.json = FAKE_STATUS;
        s_fake_send(f, who, &rep, 0);
        return;
    case KNOOP_API_BEELD: {
        if (!strcmp(req->u.beeld.pattern, "old.>")) {
            rep.kind = KNOOP_API_R_STATUS;
            rep.u.status.json = "{}";
            s_fake_send(f, who, &rep, 2);      /* a node from the future */
            return;
        }
        knoop_api_env_t e[2] = { { 0, f->envs[0].data, f->envs[0].len },
                                 { 0, f->envs[1].data, f->envs[1].len } };
        rep.kind = KNOOP_API_R_BEELD;
        rep.u.delivery.msgs = e;
        rep.u.delivery.n = 2;
        s_fake_send(f, who, &rep, 0);
        e[0] = (knoop_api_env_t) { 0, f->envs[3].data, f->envs[3].len };
        rep.u.delivery.n = 1;
        rep.u.delivery.done = true;
        s_fake_send(f, who, &rep, 0);
        return;
    }
    }
}

static void *s_fake_run(void *arg)
{
    fake_t *f = arg;
    while (!atomic_load(&f->stop)) {
        zmsg_t *m = zmsg_recv(f->router);
        if (!m)
            continue;                          /* the 50 ms receive timeout */
        zframe_t *who = zmsg_pop(m);
        zframe_t *body = zmsg_pop(m);
        knoop_api_req_t req;
        if (who && body && zmsg_size(m) == 0 &&
            knoop_api_req_decode(&req, zframe_data(body), zframe_size(body)) == KNOOP_OK) {
            s_fake_handle(f, who, &req);
            knoop_api_req_clear(&req);
        } else {
            atomic_fetch_add(&f->failures, 1);
        }
        zframe_destroy(&who);
        zframe_destroy(&body);
        zmsg_destroy(&m);
    }
    return NULL;
}

static void s_fake_envs(fake_t *f)
{
    static const char *levels[FAKE_ENVS] = { "GRIP_1", "GRIP_2", "GRIP_3", "GRIP_2", "GRIP_0" };
    static const char *keys[FAKE_ENVS] = { "", "", "", "zuid", "noord" };
    uint8_t prev[KNOOP_HASH_LEN] = { 0 };
    for (int i = 0; i < FAKE_ENVS; i++) {
        json_t *p = json_pack("{s:s, s:s, s:s}", "region", "vr-test", "level", levels[i],
                              "reason", "brand in woonwijk");
        knoop_buf_t payload = { 0 };
        char err[128];
        assert_int_equal(knoop_payload_from_json(TYPE_GRIP, p, &payload, err, sizeof err),
                         KNOOP_OK);
        json_decref(p);
        knoop_body_t b = { 0 };
        b.version = KNOOP_BODY_VERSION;
        b.origin = "vr-test";
        b.topic = "grip.vr-test";
        b.epoch = 0x1234;
        b.seq = (uint64_t) i + 1;
        b.hlc = KNOOP_HLC_MAKE(1700000000000ull + (uint64_t) i * 1000, 0);
        memcpy(b.prev, prev, sizeof prev);
        b.key = keys[i];
        b.type = TYPE_GRIP;
        b.priority = KNOOP_PRIO_ROUTINE;
        b.status = i == 2 ? KNOOP_STATUS_EXERCISE : KNOOP_STATUS_ACTUAL;
        b.tlp = KNOOP_TLP_AMBER;
        b.payload = payload.data;
        b.payload_len = payload.len;
        assert_int_equal(knoop_msg_build(&b, NULL, &f->envs[i], prev), KNOOP_OK);
        knoop_buf_free(&payload);
    }
}

static fake_t *s_fake_start(const char *name)
{
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_tmpdir(name);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s/api.sock", f->dir);
    f->next_sub = 77;
    s_fake_envs(f);
    /* made and bound here, used only by the node's thread from now on */
    f->router = zsock_new(ZMQ_ROUTER);
    assert_non_null(f->router);
    zsock_set_linger(f->router, 0);
    zsock_set_rcvtimeo(f->router, 50);
    zsock_set_sndhwm(f->router, 100000);
    assert_int_equal(zsock_bind(f->router, "%s", f->endpoint), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, s_fake_run, f), 0);
    return f;
}

static void s_fake_stop(fake_t *f)
{
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    zsock_destroy(&f->router);
    assert_int_equal(atomic_load(&f->failures), 0);
    for (int i = 0; i < FAKE_ENVS; i++)
        knoop_buf_free(&f->envs[i]);
    tu_rmtree(f->dir);
    free(f);
}

/* Wait until *v reaches want (2 s at most). */
static bool s_eventually(atomic_ullong *v, unsigned long long want)
{
    for (int i = 0; i < 200 && atomic_load(v) < want; i++)
        zclock_sleep(10);
    return atomic_load(v) >= want;
}

static bool s_eventually_int(atomic_int *v, int want)
{
    for (int i = 0; i < 200 && atomic_load(v) < want; i++)
        zclock_sleep(10);
    return atomic_load(v) >= want;
}

/* ---- the client against the fake node ---- */

typedef struct {
    fake_t *f;
    int     calls;
    int     stop_after;
    int     order[4];
} beeld_seen_t;

static int s_beeld_fn(void *arg, const uint8_t *env, size_t len)
{
    beeld_seen_t *s = arg;
    int which = -1;
    for (int i = 0; i < FAKE_ENVS; i++)
        if (s->f->envs[i].len == len && !memcmp(s->f->envs[i].data, env, len))
            which = i;
    if (s->calls < 4)
        s->order[s->calls] = which;
    s->calls++;
    return s->stop_after && s->calls == s->stop_after ? 7 : 0;
}

static void s_expect_next(knoop_client_t *c, fake_t *f, uint64_t pos, int env)
{
    uint64_t p = 0;
    const uint8_t *e = NULL;
    size_t len = 0;
    int rc = knoop_client_next(c, &p, &e, &len, 2000);
    if (rc)
        fprintf(stderr, "next: %s: %s\n", knoop_strerror(rc), knoop_client_error(c));
    assert_int_equal(rc, KNOOP_OK);
    assert_int_equal(p, pos);
    assert_int_equal(len, f->envs[env].len);
    assert_memory_equal(e, f->envs[env].data, len);
}

static void test_client(void **state)
{
    fake_t *f = s_fake_start("api-client");
    knoop_client_t *c = NULL;
    assert_int_equal(knoop_client_new(f->endpoint, &c), KNOOP_OK);
    char err[256];

    /* status, past a stale reply */
    char *json = NULL;
    assert_int_equal(knoop_client_status(c, &json, 5000), KNOOP_OK);
    assert_string_equal(json, FAKE_STATUS);
    free(json);

    /* publish: the committed seqs, past a stale reply */
    knoop_api_item_t items[2] = {
        { .topic = "grip.vr-test", .type = TYPE_GRIP, .status = 1, .tlp = 3 },
        { .topic = "grip.other", .type = TYPE_GRIP, .status = 1, .tlp = 3 },
    };
    knoop_api_seq_t res[2];
    assert_int_equal(knoop_client_publish(c, items, 2, res, 5000, err, sizeof err), KNOOP_OK);
    assert_string_equal(res[0].origin, "vr-test");
    assert_string_equal(res[0].topic, "grip.vr-test");
    assert_int_equal(res[0].seq, 1);
    assert_string_equal(res[1].topic, "grip.other");
    assert_int_equal(res[1].seq, 2);

    /* a refusal carries the node's reason and the item */
    items[1].topic = "refuse.me";
    int rc = knoop_client_publish(c, items, 2, res, 5000, err, sizeof err);
    assert_int_equal(rc, KNOOP_EPERM);
    assert_non_null(strstr(err, "item 1"));
    assert_non_null(strstr(err, "policy: vr-test may not publish on refuse.me"));
    assert_true(knoop_client_refused(c));
    assert_string_equal(knoop_client_error(c), err);
    assert_int_equal(knoop_client_publish(c, items, 1, res, 5000, err, sizeof err), KNOOP_OK);
    assert_int_equal(res[0].seq, 3);
    assert_false(knoop_client_refused(c));

    /* no subscription yet */
    uint64_t pos;
    const uint8_t *env;
    size_t len;
    assert_int_equal(knoop_client_next(c, &pos, &env, &len, 10), KNOOP_EINVAL);
    assert_int_equal(knoop_client_ack(c, 1), KNOOP_EINVAL);
    assert_int_equal(knoop_client_subscribe(c, "grip.>.x", NULL, false, 0, 0, 1000, err,
                                            sizeof err), KNOOP_ETOPIC);
    assert_int_equal(knoop_client_subscribe(c, ">", "No Good", false, 0, 0, 1000, err,
                                            sizeof err), KNOOP_EINVAL);

    /* subscribe: 1, 2, 3; a foreign delivery dropped; 2, 3 again skipped, 4 */
    rc = knoop_client_subscribe(c, ">", "test-durable", false, 0, 0, 5000, err, sizeof err);
    assert_int_equal(rc, KNOOP_OK);
    s_expect_next(c, f, 1, 0);
    s_expect_next(c, f, 2, 1);
    s_expect_next(c, f, 3, 2);
    s_expect_next(c, f, 4, 3);
    /* a delivery that arrives while status waits is queued, not lost */
    assert_int_equal(knoop_client_status(c, &json, 5000), KNOOP_OK);
    free(json);
    s_expect_next(c, f, 5, 4);
    assert_int_equal(knoop_client_ack(c, 5), KNOOP_OK);
    assert_int_equal(knoop_client_next(c, &pos, &env, &len, 200), KNOOP_ETIMEDOUT);
    assert_true(s_eventually(&f->acked, 5));
    /* the same durable name again: nothing handed out twice (1..4 are
     * delivered again by the fake node, 5 once more on status) */
    rc = knoop_client_subscribe(c, ">", "test-durable", false, 0, 0, 5000, err, sizeof err);
    assert_int_equal(rc, KNOOP_OK);
    assert_true(s_eventually_int(&f->closes, 1));          /* the old one closed */
    assert_int_equal(knoop_client_status(c, &json, 5000), KNOOP_OK);
    free(json);
    assert_int_equal(knoop_client_next(c, &pos, &env, &len, 200), KNOOP_ETIMEDOUT);
    /* ... but the client acked them for the application, which had: a node
     * waits for the ack of a batch before it sends the next */
    assert_true(s_eventually(&f->acked_sub, 78));
    assert_int_equal(atomic_load(&f->acked_sub), 78);
    assert_int_equal(atomic_load(&f->acked_last), 5);

    /* the picture, in two batches */
    beeld_seen_t seen = { .f = f };
    assert_int_equal(knoop_client_beeld(c, NULL, s_beeld_fn, &seen, 5000), KNOOP_OK);
    assert_int_equal(seen.calls, 3);
    assert_int_equal(seen.order[0], 0);
    assert_int_equal(seen.order[1], 1);
    assert_int_equal(seen.order[2], 3);
    beeld_seen_t stop = { .f = f, .stop_after = 1 };
    assert_int_equal(knoop_client_beeld(c, "grip.>", s_beeld_fn, &stop, 5000), 7);
    assert_int_equal(stop.calls, 1);
    /* the rest of that picture is dropped; the next call is not confused */
    assert_int_equal(knoop_client_status(c, &json, 5000), KNOOP_OK);
    assert_string_equal(json, FAKE_STATUS);
    free(json);
    /* a node that speaks another version */
    assert_int_equal(knoop_client_beeld(c, "old.>", s_beeld_fn, &seen, 5000), KNOOP_EVERSION);
    assert_non_null(strstr(knoop_client_error(c), "version 2"));

    /* a node that sends beyond the window: what fits is handed out, then
     * the subscription reports the loss for good */
    rc = knoop_client_subscribe(c, "flood.>", NULL, true, 0, KNOOP_API_STATUS_ALL, 5000, err,
                                sizeof err);
    assert_int_equal(rc, KNOOP_OK);
    assert_int_equal(knoop_client_status(c, &json, 5000), KNOOP_OK);
    free(json);
    uint64_t expect = 1;
    while ((rc = knoop_client_next(c, &pos, &env, &len, 2000)) == KNOOP_OK) {
        assert_int_equal(pos, expect);
        expect++;
    }
    assert_int_equal(rc, KNOOP_EFULL);
    assert_int_equal(expect - 1, 4 * 256);          /* four windows fit, the fifth not */
    assert_non_null(strstr(knoop_client_error(c), "subscribe again"));
    assert_int_equal(knoop_client_next(c, &pos, &env, &len, 10), KNOOP_EFULL);

    /* a delivery that does not decode: no message is handed out past it */
    rc = knoop_client_subscribe(c, "garbage.>", NULL, false, 0, 0, 5000, err, sizeof err);
    assert_int_equal(rc, KNOOP_OK);
    assert_true(s_eventually_int(&f->closes, 3));          /* the flood one */
    s_expect_next(c, f, 1, 0);
    assert_int_equal(knoop_client_next(c, &pos, &env, &len, 500), KNOOP_EMALFORMED);
    assert_non_null(strstr(knoop_client_error(c), "does not decode"));
    assert_int_equal(knoop_client_next(c, &pos, &env, &len, 200), KNOOP_EMALFORMED);

    /* a subscription the node confirms too late is closed, not leaked */
    rc = knoop_client_subscribe(c, "slow.>", NULL, false, 0, 0, 100, err, sizeof err);
    assert_int_equal(rc, KNOOP_ETIMEDOUT);
    assert_non_null(strstr(err, "did not answer"));
    assert_true(s_eventually_int(&f->closes, 4));          /* the garbage one */
    assert_int_equal(knoop_client_status(c, &json, 5000), KNOOP_OK);
    free(json);
    assert_true(s_eventually_int(&f->closes, 5));          /* the late one */
    assert_int_equal(knoop_client_next(c, &pos, &env, &len, 10), KNOOP_EINVAL);

    rc = knoop_client_subscribe(c, "grip.>", "last", false, 0, 0, 5000, err, sizeof err);
    assert_int_equal(rc, KNOOP_OK);
    knoop_client_destroy(&c);
    knoop_client_destroy(&c);                  /* twice is harmless */
    assert_null(c);
    assert_true(s_eventually_int(&f->closes, 6));          /* closed on destroy */
    s_fake_stop(f);
}

static void test_client_no_node(void **state)
{
    char *dir = tu_tmpdir("api-nonode");
    char ep[512];
    snprintf(ep, sizeof ep, "ipc://%s/api.sock", dir);
    knoop_client_t *c = NULL;
    assert_int_equal(knoop_client_new("", &c), KNOOP_EINVAL);
    assert_int_equal(knoop_client_new("nonsense", &c), KNOOP_EINVAL);
    assert_int_equal(knoop_client_new("bogus://x", &c), KNOOP_EINVAL);
    assert_null(c);
    assert_int_equal(knoop_client_new(ep, &c), KNOOP_OK);
    char *json = NULL;
    int64_t t0 = zclock_mono();
    assert_int_equal(knoop_client_status(c, &json, 300), KNOOP_EGONE);
    assert_true(zclock_mono() - t0 < 2000);
    assert_null(json);
    assert_non_null(strstr(knoop_client_error(c), "knoop-node"));
    assert_false(knoop_client_refused(c));
    knoop_client_destroy(&c);

    char out[64];
    setenv("KNOOP_DATA", "/var/lib/knoop", 1);
    assert_int_equal(knoop_client_default_endpoint(out, sizeof out), KNOOP_OK);
    assert_string_equal(out, "ipc:///var/lib/knoop/api.sock");
    assert_int_equal(knoop_client_default_endpoint(out, 10), KNOOP_ETOOBIG);
    unsetenv("KNOOP_DATA");
    assert_int_equal(knoop_client_default_endpoint(out, sizeof out), KNOOP_ENOTFOUND);
    tu_rmtree(dir);
}

/* ---- the CLI against the fake node ---- */

static size_t s_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* Runs a command line (a printf format), checks its exit code and, unless
 * want is NULL, that its output holds want. Returns the output for more
 * checks: the caller frees it (S_CLI when there are none). */
static char *s_cli(int want_rc, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *s_cli(int want_rc, const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    char *out = NULL;
    int rc = tu_run(&out, "%s", cmd);
    free(cmd);
    assert_int_equal(rc, want_rc);
    if (want)
        assert_non_null(strstr(out, want));
    return out;
}

#define S_CLI(rc, want, ...) free(s_cli((rc), (want), __VA_ARGS__))

static void test_cli(void **state)
{
    fake_t *f = s_fake_start("api-cli");
    const char *k = tu_knoop_bin();
    const char *ep = f->endpoint;
    char *out = NULL;

    /* pub --json */
    out = s_cli(0, NULL,
                "%s pub --api %s --topic grip.vr-test --type %s "
                "--json '{\"region\": \"vr-test\", \"level\": \"GRIP_2\"}' 2>&1",
                k, ep, TYPE_GRIP);
    assert_string_equal(out, "vr-test grip.vr-test 1\n");
    free(out);
    /* the payload error names the field; an unknown type lists the known */
    S_CLI(2, "levle",
          "%s pub --api %s --topic grip.vr-test --type %s --json "
          "'{\"levle\": \"GRIP_2\"}' 2>&1", k, ep, TYPE_GRIP);
    S_CLI(2, TYPE_GRIP, "%s pub --api %s --topic grip.x --type nope.Nope --json '{}' 2>&1", k, ep);
    /* refused by the node: exit 1 and the node's reason */
    S_CLI(1, "policy: vr-test may not publish on refuse.me",
          "%s pub --api %s --topic refuse.me --type %s --json '{}' 2>&1",
          k, ep, TYPE_GRIP);
    /* refused by the broker: committed (the line), exit 1 and the broker's reason */
    out = s_cli(1, "the broker refused vr-test broker.refuses",
                "%s pub --api %s --topic broker.refuses --type %s --json '{}' 2>&1",
                k, ep, TYPE_GRIP);
    assert_non_null(strstr(out, "policy: vr-test may not publish on broker.refuses"));
    free(out);
    /* --no-wait: the fake answers "stored" without a link verdict */
    out = s_cli(0, NULL,
                "%s pub --api %s --no-wait --topic broker.refuses --type %s "
                "--json '{}' 2>&1", k, ep, TYPE_GRIP);
    assert_null(strstr(out, "refused"));
    free(out);
    /* restricted TLP needs recipients */
    S_CLI(2, "--recipient",
          "%s pub --api %s --tlp red --topic grip.vr-test --type %s "
          "--json '{}' 2>&1", k, ep, TYPE_GRIP);

    /* pub --file: 2500 lines in three requests */
    char path[1024];
    snprintf(path, sizeof path, "%s/in.jsonl", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 2500; i++)
        fprintf(fp, "{\"region\": \"vr-test\", \"level\": \"GRIP_%d\"}\n%s", i % 6,
                i % 100 ? "" : "\n");
    fclose(fp);
    int before = atomic_load(&f->publish_requests);
    out = s_cli(0, NULL,
                "%s pub --api %s --topic grip.vr-test --type %s --key k "
                "--priority flash --status exercise --tlp red --recipient vr-a,vr-b --file %s",
                k, ep, TYPE_GRIP, path);
    assert_int_equal(s_lines(out), 2500);
    assert_true(strncmp(out, "vr-test grip.vr-test 4\n", 23) == 0);
    assert_int_equal(atomic_load(&f->publish_requests) - before, 3);
    free(out);
    /* a bad line in a file: nothing published, the line named */
    fp = fopen(path, "w");
    for (int i = 0; i < 1500; i++)
        fprintf(fp, "{\"level\": \"GRIP_1\"}\n");
    fprintf(fp, "{\"level\": \"GRIP_9\"}\n");
    fclose(fp);
    before = atomic_load(&f->publish_requests);
    out = s_cli(2, "in.jsonl:1501",
                "%s pub --api %s --topic grip.vr-test --type %s --file %s 2>&1",
                k, ep, TYPE_GRIP, path);
    assert_non_null(strstr(out, "nothing published"));
    assert_int_equal(atomic_load(&f->publish_requests), before);
    free(out);
    /* from a pipe */
    out = s_cli(0, NULL,
                "printf '{}\\n{}\\n' | %s pub --api %s --topic grip.vr-test --type %s "
                "--file -", k, ep, TYPE_GRIP);
    assert_int_equal(s_lines(out), 2);
    free(out);

    /* sub: exercise traffic stays out unless asked for */
    out = s_cli(0, NULL, "%s sub --api %s --pattern 'grip.>' --durable cli --count 3", k, ep);
    assert_int_equal(s_lines(out), 3);
    json_error_t jerr;
    json_t *line = json_loadb(out, strcspn(out, "\n"), 0, &jerr);
    assert_non_null(line);
    assert_int_equal(json_integer_value(json_object_get(line, "position")), 1);
    assert_string_equal(json_string_value(json_object_get(line, "origin")), "vr-test");
    assert_string_equal(json_string_value(json_object_get(line, "status")), "actual");
    json_t *payload = json_object_get(line, "payload");
    assert_string_equal(json_string_value(json_object_get(payload, "level")), "GRIP_1");
    json_decref(line);
    assert_null(strstr(out, "exercise"));
    assert_non_null(strstr(out, "\"position\":4"));
    free(out);
    assert_true(s_eventually(&f->acked, 4));          /* acked what it printed */
    S_CLI(0, "\"status\":\"exercise\"",
          "%s sub --api %s --pattern '>' --status all --count 4", k, ep);
    out = s_cli(0, NULL, "%s sub --api %s --pattern '>' --timeout 1", k, ep);
    assert_int_equal(s_lines(out), 3);
    free(out);
    /* stopped by a signal: what was printed stays printed, exit 0 */
    out = s_cli(0, NULL,
                "%s sub --api %s --pattern '>' & p=$!; sleep 1; kill -TERM $p; "
                "wait $p; echo rc=$?", k, ep);
    assert_int_equal(s_lines(out), 4);
    assert_non_null(strstr(out, "\nrc=0\n"));
    free(out);
    S_CLI(1, "3 of 10", "%s sub --api %s --pattern '>' --count 10 --timeout 1 2>&1", k, ep);

    /* status */
    out = s_cli(0, "vr-test", "%s status --api %s", k, ep);
    assert_non_null(strstr(out, "backlog 0"));
    assert_non_null(strstr(out, "tcp://kcr2-a:7400"));
    assert_non_null(strstr(out, "grip.vr-test"));
    assert_non_null(strstr(out, "last error  none"));
    free(out);
    out = s_cli(0, NULL, "%s status --api %s --json", k, ep);
    json_t *got = json_loads(out, 0, &jerr), *want = json_loads(FAKE_STATUS, 0, &jerr);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    free(out);
    /* the default endpoint from KNOOP_DATA */
    S_CLI(0, NULL, "KNOOP_DATA=%s %s status --json", f->dir, k);

    /* beeld */
    out = s_cli(0, NULL, "%s beeld --api %s", k, ep);
    assert_int_equal(s_lines(out), 3);
    assert_true(strncmp(out, "grip.vr-test\t-\tvr-test\t2023-11-14T22:13:20.000Z\tGripLevel\t",
                        58) == 0);
    assert_non_null(strstr(out, "level=GRIP_1"));
    assert_non_null(strstr(out, "reason=\"brand in woonwijk\""));
    assert_non_null(strstr(out, "\tzuid\t"));
    free(out);
    out = s_cli(0, NULL, "%s beeld --api %s --pattern 'grip.*' --json", k, ep);
    assert_int_equal(s_lines(out), 3);
    assert_non_null(strstr(out, "\"type\":\"knoop.crisis.v1.GripLevel\""));
    free(out);

    /* usage errors name their cause */
    S_CLI(2, "--pattern", "%s sub --api %s 2>&1", k, ep);
    S_CLI(2, "--bogus",
          "%s pub --api %s --topic a --type %s --json '{}' --bogus 2>&1", k, ep,
          TYPE_GRIP);
    S_CLI(2, "--api", "env -u KNOOP_DATA %s status 2>&1", k);
    S_CLI(2, "grip.*",
          "%s pub --api %s --topic 'grip.*' --type %s --json '{}' 2>&1", k, ep,
          TYPE_GRIP);
    S_CLI(2, "yesterday", "%s sub --api %s --pattern '>' --since yesterday 2>&1", k, ep);
    static const char *cmds[] = { "pub", "sub", "status", "beeld" };
    for (int i = 0; i < 4; i++) {
        out = s_cli(0, "NAME", "%s %s --help", k, cmds[i]);
        assert_non_null(strstr(out, "SYNOPSIS"));
        assert_non_null(strstr(out, "DESCRIPTION"));
        assert_non_null(strstr(out, "OPTIONS"));
        assert_non_null(strstr(out, "EXIT STATUS"));
        assert_non_null(strstr(out, "EXAMPLES"));
        free(out);
    }
    s_fake_stop(f);
}

int main(void)
{
    if (knoop_crypto_init() != KNOOP_OK)
        return 1;
    knoop_log_set_level(KNOOP_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_publish),
        cmocka_unit_test(test_req_subscribe),
        cmocka_unit_test(test_req_small_kinds),
        cmocka_unit_test(test_rep_kinds),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_client),
        cmocka_unit_test(test_client_no_node),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
