/* test_broker_input.c — a real knoop-broker process fed bad input by an
 * authenticated client speaking CURVE for real: garbage, truncated and
 * oversized frames, wrong protocol versions, multi-part messages, frames
 * before HELLO, a HELLO in another partner's name, envelopes with another
 * partner's origin, on a forbidden topic, with a forged signature, and
 * replayed envelopes (same link, another partner's, another topic, later). The
 * offender gets an ERROR (or is disconnected); the broker survives and keeps
 * serving a well-behaved client. Runs under the sanitizer build too (the
 * broker binary is then sanitized as well). */
#define _GNU_SOURCE
#include "fixture.h"
#include "testutil.h"
#include "json.h"
#include "crypto.h"
#include "keys.h"
#include "link.h"
#include "hlc.h"
#include "msg.h"
#include "wire.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tu_fixture_t *s_fx;                 /* keys/, trust/ */
static const char *s_dir;                  /* s_fx->dir */
static char s_ep[256];
static pid_t s_broker;
static knoop_key_t *s_ut, *s_zl;
static knoop_cert_t s_bcert;

static int setup(void **state)
{
    s_fx = tu_fixture_new("broker-input");
    s_dir = s_fx->dir;
    knoop_log_set_level(KNOOP_LOG_ERROR);
    tu_fixture_partner_files(s_fx, "kcr2-broker-1", "broker");
    s_ut = tu_fixture_partner(s_fx, "vr-utrecht", "region");
    s_zl = tu_fixture_partner(s_fx, "vr-zeeland", "region");
    tu_fixture_cert(s_fx, "kcr2-broker-1", &s_bcert);
    tu_fixture_policy(s_fx, "role:region publish sitrep.{id}\nrole:region subscribe sitrep.>\n"
                            "role:region publish grip.{id}\nrole:region publish vitaal.>\n"
                            "role:region publish alert.{id}\n"
                            "vr-utrecht speak-for vr-gooi\n");
    snprintf(s_ep, sizeof s_ep, "ipc://%s/broker.sock", s_dir);
    static const char *const debug[] = { "--log-level", "debug", NULL };
    s_broker = tu_fixture_broker(s_fx, "kcr2-broker-1", s_ep, "b", "broker.log", debug);
    return 0;
}

static int teardown(void **state)
{
    kill(s_broker, SIGTERM);
    int st;
    waitpid(s_broker, &st, 0);
    knoop_key_destroy(&s_ut);
    knoop_key_destroy(&s_zl);
    tu_fixture_destroy(&s_fx);
    /* The broker exits 0 on SIGTERM after closing cleanly. */
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static zsock_t *s_client(const knoop_key_t *key)
{
    zsock_t *d = knoop_link_dealer();
    assert_non_null(d);
    assert_int_equal(knoop_link_curve_client(d, key, &s_bcert, 3000), KNOOP_OK);
    assert_int_equal(zsock_connect(d, "%s", s_ep), 0);
    return d;
}

static void s_send_raw(zsock_t *d, const void *data, size_t len)
{
    zframe_t *f = zframe_new(data, len);
    assert_int_equal(zframe_send(&f, d, 0), 0);
}

static void s_send_frame(zsock_t *d, const knoop_frame_t *f)
{
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_frame_encode(f, &b), KNOOP_OK);
    s_send_raw(d, b.data, b.len);
    knoop_buf_free(&b);
}

/* Next frame of a kind (skipping heartbeats); false on timeout. */
static bool s_expect(zsock_t *d, knoop_frame_kind_t kind, knoop_frame_t *out, int ms)
{
    zpoller_t *p = zpoller_new(d, NULL);
    int64_t deadline = zclock_mono() + ms;
    bool found = false;
    while (!found && zclock_mono() < deadline) {
        if (!zpoller_wait(p, (int) (deadline - zclock_mono())))
            break;
        zframe_t *fr = zframe_recv(d);
        if (!fr)
            break;
        knoop_frame_t f;
        if (knoop_frame_decode(&f, zframe_data(fr), zframe_size(fr)) == KNOOP_OK) {
            if (f.kind == kind) {
                found = true;
                if (out) {
                    /* re-decode into the caller's struct (it owns it) */
                    knoop_frame_clear(&f);
                    assert_int_equal(knoop_frame_decode(out, zframe_data(fr), zframe_size(fr)),
                                     KNOOP_OK);
                } else {
                    knoop_frame_clear(&f);
                }
            } else {
                knoop_frame_clear(&f);
            }
        }
        zframe_destroy(&fr);
    }
    zpoller_destroy(&p);
    return found;
}

static void s_hello(zsock_t *d, const char *partner, const char *sub)
{
    knoop_frame_t f = { .kind = KNOOP_FRAME_HELLO };
    const char *subs[1] = { sub };
    f.u.hello.partner = partner;
    f.u.hello.subs = subs;
    f.u.hello.nsubs = sub ? 1 : 0;
    f.u.hello.credit_msgs = 100;
    s_send_frame(d, &f);
}

/* The broker is alive and serves a well-behaved partner. */
static void s_assert_serving(void)
{
    zsock_t *d = s_client(s_zl);
    s_hello(d, "vr-zeeland", "sitrep.>");
    knoop_frame_t w;
    if (!s_expect(d, KNOOP_FRAME_WELCOME, &w, 5000))
        fail_msg("broker no longer serves a good client");
    assert_int_equal(w.u.welcome.naccepted, 1);
    knoop_frame_clear(&w);
    zsock_destroy(&d);
    assert_int_equal(waitpid(s_broker, NULL, WNOHANG), 0);    /* still running */
}

static void test_garbage_and_truncated(void **state)
{
    zsock_t *d = s_client(s_ut);
    unsigned seed = tu_seed();
    srand(seed);
    uint8_t junk[512];
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t) (rand() % (int) sizeof junk);
        for (size_t k = 0; k < n; k++)
            junk[k] = (uint8_t) rand();
        s_send_raw(d, junk, n);
    }
    /* Every prefix of a valid HELLO. */
    knoop_frame_t f = { .kind = KNOOP_FRAME_HELLO };
    const char *subs[1] = { "sitrep.>" };
    f.u.hello.partner = "vr-utrecht";
    f.u.hello.subs = subs;
    f.u.hello.nsubs = 1;
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_frame_encode(&f, &b), KNOOP_OK);
    for (size_t n = 0; n < b.len; n++)
        s_send_raw(d, b.data, n);
    knoop_buf_free(&b);
    knoop_frame_t e;
    assert_true(s_expect(d, KNOOP_FRAME_ERROR, &e, 5000));
    assert_true(e.u.error.code == KNOOP_WERR_MALFORMED || e.u.error.code == KNOOP_WERR_VERSION ||
                e.u.error.code == KNOOP_WERR_PROTOCOL);
    knoop_frame_clear(&e);
    zsock_destroy(&d);
    s_assert_serving();
}

static void test_version_and_order(void **state)
{
    zsock_t *d = s_client(s_ut);
    /* A frame of protocol version 2: field 1 = 2, then a HEARTBEAT. */
    const uint8_t v2[] = { 0x08, 0x02, 0x82, 0x01, 0x00 };
    s_send_raw(d, v2, sizeof v2);
    knoop_frame_t e;
    assert_true(s_expect(d, KNOOP_FRAME_ERROR, &e, 5000));
    assert_int_equal(e.u.error.code, KNOOP_WERR_VERSION);
    assert_non_null(strstr(e.u.error.reason, "version 2 not supported"));
    knoop_frame_clear(&e);
    zsock_destroy(&d);

    /* PUBLISH before HELLO. */
    d = s_client(s_ut);
    knoop_frame_t p = { .kind = KNOOP_FRAME_PUBLISH };
    knoop_bytes_t env = { (const uint8_t *) "x", 1 };
    p.u.batch.envs = &env;
    p.u.batch.n = 1;
    s_send_frame(d, &p);
    assert_true(s_expect(d, KNOOP_FRAME_ERROR, &e, 5000));
    assert_int_equal(e.u.error.code, KNOOP_WERR_PROTOCOL);
    knoop_frame_clear(&e);

    /* HELLO in another partner's name. */
    s_hello(d, "vr-zeeland", NULL);
    assert_true(s_expect(d, KNOOP_FRAME_ERROR, &e, 5000));
    assert_int_equal(e.u.error.code, KNOOP_WERR_IDENTITY);
    knoop_frame_clear(&e);

    /* A multi-part message. */
    zmsg_t *mm = zmsg_new();
    zmsg_addstr(mm, "a");
    zmsg_addstr(mm, "b");
    zmsg_send(&mm, d);
    zsock_destroy(&d);
    s_assert_serving();
}

static void test_oversized(void **state)
{
    zsock_t *d = s_client(s_ut);
    size_t n = KNOOP_FRAME_MAX + 1024;
    uint8_t *big = calloc(1, n);
    s_send_raw(d, big, n);     /* ZMQ_MAXMSGSIZE: the broker drops the connection */
    free(big);
    zsock_destroy(&d);
    s_assert_serving();
}

/* Envelopes with a wrong origin, a forbidden topic, a forged signature. */
static void test_bad_envelopes(void **state)
{
    zsock_t *d = s_client(s_ut);
    s_hello(d, "vr-utrecht", "sitrep.>");
    assert_true(s_expect(d, KNOOP_FRAME_WELCOME, NULL, 5000));

    knoop_buf_t e1 = { 0 }, e2 = { 0 }, e3 = { 0 }, e4 = { 0 };
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = "vr-zeeland", .topic = "sitrep.vr-zeeland",
        .epoch = 5, .seq = 1, .hlc = 1, .key = "", .type = "knoop.crisis.v1.SitRep",
        .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
    };
    assert_int_equal(knoop_msg_build(&b, knoop_key_secret(s_ut), &e1, NULL), KNOOP_OK);
    b.origin = "vr-utrecht";
    b.topic = "sitrep.vr-zeeland";
    assert_int_equal(knoop_msg_build(&b, knoop_key_secret(s_ut), &e2, NULL), KNOOP_OK);
    b.topic = "sitrep.vr-utrecht";
    assert_int_equal(knoop_msg_build(&b, knoop_key_secret(s_zl), &e3, NULL), KNOOP_OK);
    assert_int_equal(knoop_msg_build(&b, knoop_key_secret(s_ut), &e4, NULL), KNOOP_OK);
    knoop_bytes_t envs[4] = { { e1.data, e1.len }, { e2.data, e2.len }, { e3.data, e3.len },
                              { (const uint8_t *) "garbage", 7 } };
    knoop_frame_t p = { .kind = KNOOP_FRAME_PUBLISH };
    p.u.batch.envs = envs;
    p.u.batch.n = 4;
    s_send_frame(d, &p);
    int seen[16] = { 0 };
    for (int i = 0; i < 4; i++) {
        knoop_frame_t e;
        if (!s_expect(d, KNOOP_FRAME_ERROR, &e, 5000))
            break;
        if (e.u.error.code < 16)
            seen[e.u.error.code]++;
        if (e.u.error.code == KNOOP_WERR_POLICY)
            assert_non_null(strstr(e.u.error.reason,
                                   "vr-utrecht may not publish on sitrep.vr-zeeland"));
        knoop_frame_clear(&e);
    }
    assert_int_equal(seen[KNOOP_WERR_IDENTITY], 1);
    assert_int_equal(seen[KNOOP_WERR_POLICY], 1);
    assert_int_equal(seen[KNOOP_WERR_SIGNATURE], 1);
    assert_int_equal(seen[KNOOP_WERR_MALFORMED], 1);

    /* The good one is stored and acknowledged. */
    envs[0] = (knoop_bytes_t) { e4.data, e4.len };
    p.u.batch.n = 1;
    s_send_frame(d, &p);
    knoop_frame_t a;
    assert_true(s_expect(d, KNOOP_FRAME_ACK, &a, 5000));
    assert_int_equal(a.u.ack.n, 1);
    assert_int_equal(a.u.ack.acks[0].seq, 1);
    knoop_frame_clear(&a);
    knoop_buf_free(&e1);
    knoop_buf_free(&e2);
    knoop_buf_free(&e3);
    knoop_buf_free(&e4);
    zsock_destroy(&d);
    s_assert_serving();
}

/* One envelope of vr-utrecht on its own stream (epoch), payload as given. */
static void s_env(knoop_buf_t *out, const char *topic, const char *type, uint64_t epoch,
                  const uint8_t *payload, size_t len)
{
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = "vr-utrecht", .topic = topic,
        .epoch = epoch, .seq = 1, .hlc = 1, .key = "", .type = type,
        .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
        .payload = payload, .payload_len = len,
    };
    assert_int_equal(knoop_msg_build(&b, knoop_key_secret(s_ut), out, NULL), KNOOP_OK);
}

static void s_json_payload(knoop_buf_t *out, const char *type, const char *json)
{
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    assert_non_null(o);
    assert_int_equal(knoop_payload_from_json(type, o, out, NULL, 0), KNOOP_OK);
    json_decref(o);
}

/* The broker's own payload gate, with a client that skips the node's: a
 * type on another family's topic, a sender field naming someone else, and
 * content against the rules are refused with the reason; a partner the
 * policy lets the sender speak for is fine. */
static void test_payload_rules(void **state)
{
    zsock_t *d = s_client(s_ut);
    s_hello(d, "vr-utrecht", "sitrep.>");
    assert_true(s_expect(d, KNOOP_FRAME_WELCOME, NULL, 5000));

    knoop_buf_t e[4] = { { 0 } }, outage = { 0 }, gooi = { 0 };
    s_env(&e[0], "grip.vr-utrecht", "knoop.crisis.v1.SitRep", 101, NULL, 0);
    s_json_payload(&outage, "knoop.crisis.v1.VitalOutage",
                   "{\"sector\": \"SECTOR_ENERGY\", \"provider\": \"vp-stedin\"}");
    s_env(&e[1], "vitaal.energie.vp-stedin", "knoop.crisis.v1.VitalOutage", 102, outage.data,
          outage.len);
    /* SitRep{location{point{lat 512, lon 5.8}}}, by hand: the JSON side
     * would refuse to build it. */
    uint8_t bad[22] = { 0x12, 20, 0x12, 18, 0x09 };
    double lat = 512.0, lon = 5.8;
    memcpy(bad + 5, &lat, 8);
    bad[13] = 0x11;
    memcpy(bad + 14, &lon, 8);
    s_env(&e[2], "sitrep.vr-utrecht", "knoop.crisis.v1.SitRep", 103, bad, sizeof bad);
    s_json_payload(&gooi, "knoop.crisis.v1.GripLevel",
                   "{\"region\": \"vr-gooi\", \"level\": \"GRIP_1\"}");
    s_env(&e[3], "grip.vr-utrecht", "knoop.crisis.v1.GripLevel", 104, gooi.data, gooi.len);

    knoop_bytes_t envs[4];
    for (int i = 0; i < 4; i++)
        envs[i] = (knoop_bytes_t) { e[i].data, e[i].len };
    knoop_frame_t p = { .kind = KNOOP_FRAME_PUBLISH };
    p.u.batch.envs = envs;
    p.u.batch.n = 4;
    s_send_frame(d, &p);
    int seen[16] = { 0 }, acked = 0;
    for (int i = 0; i < 3; i++) {
        knoop_frame_t f;
        if (!s_expect(d, KNOOP_FRAME_ERROR, &f, 5000))
            break;
        if (f.u.error.code < 16)
            seen[f.u.error.code]++;
        if (f.u.error.code == KNOOP_WERR_POLICY)
            assert_non_null(strstr(f.u.error.reason, "grip.vr-utrecht carries "
                                   "knoop.crisis.v1.GripLevel, not knoop.crisis.v1.SitRep"));
        if (f.u.error.code == KNOOP_WERR_IDENTITY)
            assert_non_null(strstr(f.u.error.reason, "names vp-stedin as provider"));
        if (f.u.error.code == KNOOP_WERR_MALFORMED)
            assert_non_null(strstr(f.u.error.reason, "latitude 512 outside WGS84"));
        knoop_frame_clear(&f);
        if (i == 2) {
            knoop_frame_t a;
            if (s_expect(d, KNOOP_FRAME_ACK, &a, 5000)) {
                acked = (int) a.u.ack.n;
                knoop_frame_clear(&a);
            }
        }
    }
    assert_int_equal(seen[KNOOP_WERR_POLICY], 1);
    assert_int_equal(seen[KNOOP_WERR_IDENTITY], 1);
    assert_int_equal(seen[KNOOP_WERR_MALFORMED], 1);
    assert_int_equal(acked, 1);                      /* vr-gooi, spoken for by policy */
    for (int i = 0; i < 4; i++)
        knoop_buf_free(&e[i]);
    knoop_buf_free(&outage);
    knoop_buf_free(&gooi);
    zsock_destroy(&d);
    s_assert_serving();
}

/* A CAP alert whose <status> is not its envelope's (an Exercise alert in an
 * ACTUAL envelope would enter the real picture) is refused by the broker
 * itself, from a client that skips the node's check; the matching one is
 * taken. */
static void test_cap_status(void **state)
{
    zsock_t *d = s_client(s_ut);
    s_hello(d, "vr-utrecht", "sitrep.>");
    assert_true(s_expect(d, KNOOP_FRAME_WELCOME, NULL, 5000));
    knoop_buf_t ex = { 0 }, act = { 0 }, e[2] = { { 0 } };
    s_json_payload(&ex, "knoop.crisis.v1.Alert",
                   "{\"identifier\": \"oef-1\", \"sender\": \"vr-utrecht\", "
                   "\"sent\": \"2026-11-30T21:40:00+01:00\", \"status\": \"CAP_STATUS_EXERCISE\", "
                   "\"msg_type\": \"CAP_MSG_TYPE_ALERT\", \"scope\": \"CAP_SCOPE_PUBLIC\"}");
    s_json_payload(&act, "knoop.crisis.v1.Alert",
                   "{\"identifier\": \"echt-1\", \"sender\": \"vr-utrecht\", "
                   "\"sent\": \"2026-11-30T21:41:00+01:00\", \"status\": \"CAP_STATUS_ACTUAL\", "
                   "\"msg_type\": \"CAP_MSG_TYPE_ALERT\", \"scope\": \"CAP_SCOPE_PUBLIC\"}");
    s_env(&e[0], "alert.vr-utrecht", "knoop.crisis.v1.Alert", 201, ex.data, ex.len);
    s_env(&e[1], "alert.vr-utrecht", "knoop.crisis.v1.Alert", 202, act.data, act.len);
    knoop_bytes_t envs[2] = { { e[0].data, e[0].len }, { e[1].data, e[1].len } };
    knoop_frame_t p = { .kind = KNOOP_FRAME_PUBLISH };
    p.u.batch.envs = envs;
    p.u.batch.n = 2;
    s_send_frame(d, &p);
    knoop_frame_t f;
    assert_true(s_expect(d, KNOOP_FRAME_ERROR, &f, 5000));
    assert_false(f.u.error.fatal);
    assert_non_null(strstr(f.u.error.reason, "CAP status is Exercise, the envelope's actual"));
    assert_true(f.u.error.stream == knoop_stream_id("vr-utrecht", "alert.vr-utrecht", 201));
    knoop_frame_clear(&f);
    knoop_frame_t a;
    assert_true(s_expect(d, KNOOP_FRAME_ACK, &a, 5000));
    assert_int_equal(a.u.ack.n, 1);                  /* the ACTUAL one only */
    assert_true(a.u.ack.acks[0].stream == knoop_stream_id("vr-utrecht", "alert.vr-utrecht", 202));
    knoop_frame_clear(&a);
    for (int i = 0; i < 2; i++)
        knoop_buf_free(&e[i]);
    knoop_buf_free(&ex);
    knoop_buf_free(&act);
    zsock_destroy(&d);
    s_assert_serving();
}

/* The broker's "hellos_too_big" counter, read from its status endpoint. */
static long s_hellos_too_big(void)
{
    char *out = NULL;
    tu_run(&out, "%s status --api ipc://%s/b/api.sock --json | tr -d ' \\n' | "
           "grep -o '\"hellos_too_big\":[0-9]*' | grep -o '[0-9]*$'", tu_knoop_bin(), s_dir);
    long n = out && *out ? strtol(out, NULL, 10) : -1;
    free(out);
    return n;
}

/* A HELLO whose vector names n distinct streams of the partner (hwm 0). */
static void s_hello_vector(zsock_t *d, size_t n)
{
    knoop_wire_pos_t *v = calloc(n, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i].origin = "vr-utrecht";
        v[i].topic = "sitrep.vr-utrecht";
        v[i].epoch = 1000000 + i;
        v[i].stream = knoop_stream_id(v[i].origin, v[i].topic, v[i].epoch);
    }
    knoop_frame_t f = { .kind = KNOOP_FRAME_HELLO };
    const char *subs[1] = { "sitrep.>" };
    f.u.hello.partner = "vr-utrecht";
    f.u.hello.subs = subs;
    f.u.hello.nsubs = 1;
    f.u.hello.vector = v;
    f.u.hello.nvector = n;
    s_send_frame(d, &f);
    free(v);
}

/* The HELLO vector is bounded (docs/protocol.md, HELLO): one row above the
 * limit is refused with a fatal TOO_BIG that says so, and counted; a vector
 * at the limit is welcome. */
static void test_hello_vector_bound(void **state)
{
    long before = s_hellos_too_big();
    assert_true(before >= 0);
    zsock_t *d = s_client(s_ut);
    s_hello_vector(d, KNOOP_WIRE_VECTOR_MAX + 1);
    knoop_frame_t e;
    assert_true(s_expect(d, KNOOP_FRAME_ERROR, &e, 10000));
    assert_int_equal(e.u.error.code, KNOOP_WERR_TOO_BIG);
    assert_true(e.u.error.fatal);
    char want[128];
    snprintf(want, sizeof want, "vector names %d streams, above the limit of %d",
             KNOOP_WIRE_VECTOR_MAX + 1, KNOOP_WIRE_VECTOR_MAX);
    if (!strstr(e.u.error.reason, want))
        fail_msg("reason '%s' does not say '%s'", e.u.error.reason, want);
    knoop_frame_clear(&e);
    assert_int_equal(s_hellos_too_big(), before + 1);

    s_hello_vector(d, KNOOP_WIRE_VECTOR_MAX);
    assert_true(s_expect(d, KNOOP_FRAME_WELCOME, NULL, 10000));
    assert_int_equal(s_hellos_too_big(), before + 1);
    zsock_destroy(&d);
    s_assert_serving();
}

/* A key not in the trust store never gets a frame through. */
static void test_unknown_key(void **state)
{
    knoop_key_t *stranger = tu_key("vr-utrecht", "region");
    zsock_t *d = s_client(stranger);
    s_hello(d, "vr-utrecht", "sitrep.>");
    assert_false(s_expect(d, KNOOP_FRAME_WELCOME, NULL, 1500));
    zsock_destroy(&d);
    knoop_key_destroy(&stranger);
    char *out = NULL;
    tu_run(&out, "grep -c 'refused unknown key' %s/broker.log", s_dir);
    assert_true(out && atoi(out) >= 1);
    free(out);
    s_assert_serving();
}

/* Envelopes from DELIVER frames on d within ms whose stream has `epoch`. */
static int s_count_delivered(zsock_t *d, uint64_t epoch, int ms)
{
    int n = 0;
    int64_t deadline = zclock_mono() + ms;
    while (zclock_mono() < deadline) {
        knoop_frame_t f;
        if (!s_expect(d, KNOOP_FRAME_DELIVER, &f, (int) (deadline - zclock_mono())))
            break;
        for (size_t i = 0; i < f.u.batch.n; i++) {
            knoop_msg_t m;
            if (knoop_msg_parse(&m, f.u.batch.envs[i].data, f.u.batch.envs[i].len) == KNOOP_OK) {
                n += m.b.epoch == epoch;
                knoop_msg_clear(&m);
            }
        }
        knoop_frame_clear(&f);
    }
    return n;
}

/* A broker status field (a JSON path for jq) as a number; -1 if unreadable. */
static long s_broker_status(const char *path)
{
    char *out = NULL;
    tu_run(&out, "%s status --api ipc://%s/b/api.sock --json | jq -r '%s'", tu_knoop_bin(),
           s_dir, path);
    long v = out && *out >= '0' && *out <= '9' ? atol(out) : -1;
    free(out);
    return v;
}

static void s_publish_one(zsock_t *d, const knoop_buf_t *env)
{
    knoop_bytes_t b = { env->data, env->len };
    knoop_frame_t p = { .kind = KNOOP_FRAME_PUBLISH };
    p.u.batch.envs = &b;
    p.u.batch.n = 1;
    s_send_frame(d, &p);
}

/* S1, replayed envelopes (issue 8, item 7): a signed envelope captured and
 * sent again on the same link, on another partner's link, spliced onto
 * another topic, and again on a new session with a date three days old.
 * None is delivered a second time: the same link gets its ACK again (the
 * journal keeps (stream, seq) for ever, so a replay is a duplicate whenever
 * it comes, and is counted as one); another partner's link is refused as
 * IDENTITY, another topic as SIGNATURE (the topic is inside the signed
 * body); each refusal is counted. */
static void test_replay(void **state)
{
    const uint64_t epoch = 201;
    zsock_t *zl = s_client(s_zl);
    s_hello(zl, "vr-zeeland", "sitrep.>");
    assert_true(s_expect(zl, KNOOP_FRAME_WELCOME, NULL, 5000));
    zsock_t *ut = s_client(s_ut);
    s_hello(ut, "vr-utrecht", NULL);
    assert_true(s_expect(ut, KNOOP_FRAME_WELCOME, NULL, 5000));

    uint64_t three_days_ago = (uint64_t) time(NULL) * 1000 - 3ull * 86400 * 1000;
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = "vr-utrecht", .topic = "sitrep.vr-utrecht",
        .epoch = epoch, .seq = 1, .hlc = KNOOP_HLC_MAKE(three_days_ago, 0), .key = "",
        .type = "knoop.crisis.v1.SitRep", .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
    };
    knoop_buf_t captured = { 0 };
    assert_int_equal(knoop_msg_build(&b, knoop_key_secret(s_ut), &captured, NULL), KNOOP_OK);
    long dup0 = s_broker_status(".journal.duplicates");
    long refused0 = s_broker_status(".envelopes_refused");
    assert_true(dup0 >= 0 && refused0 >= 0);

    /* the original, then three replays on the same link: each ACKed */
    for (int i = 0; i < 4; i++) {
        s_publish_one(ut, &captured);
        knoop_frame_t a;
        assert_true(s_expect(ut, KNOOP_FRAME_ACK, &a, 5000));
        assert_int_equal(a.u.ack.n, 1);
        assert_int_equal(a.u.ack.acks[0].seq, 1);
        knoop_frame_clear(&a);
    }

    /* on another partner's link: refused, the origin is not the sender */
    zsock_t *zl2 = s_client(s_zl);
    s_hello(zl2, "vr-zeeland", NULL);
    assert_true(s_expect(zl2, KNOOP_FRAME_WELCOME, NULL, 5000));
    s_publish_one(zl2, &captured);
    knoop_frame_t e;
    assert_true(s_expect(zl2, KNOOP_FRAME_ERROR, &e, 5000));
    assert_int_equal(e.u.error.code, KNOOP_WERR_IDENTITY);
    knoop_frame_clear(&e);
    zsock_destroy(&zl2);

    /* spliced onto another topic: its signature no longer verifies */
    knoop_msg_t orig;
    assert_int_equal(knoop_msg_parse(&orig, captured.data, captured.len), KNOOP_OK);
    assert_non_null(orig.sig);
    knoop_buf_t gooi = { 0 }, other = { 0 }, spliced = { 0 };
    s_json_payload(&gooi, "knoop.crisis.v1.GripLevel",
                   "{\"region\": \"vr-utrecht\", \"level\": \"GRIP_2\"}");
    b.topic = "grip.vr-utrecht";
    b.type = "knoop.crisis.v1.GripLevel";
    b.payload = gooi.data;
    b.payload_len = gooi.len;
    assert_int_equal(knoop_msg_build(&b, NULL, &other, NULL), KNOOP_OK);
    knoop_msg_t m;
    assert_int_equal(knoop_msg_parse(&m, other.data, other.len), KNOOP_OK);
    m.sig = orig.sig;                       /* the captured head signature */
    assert_int_equal(knoop_msg_pack(&m, &spliced), KNOOP_OK);
    s_publish_one(ut, &spliced);
    assert_true(s_expect(ut, KNOOP_FRAME_ERROR, &e, 5000));
    assert_int_equal(e.u.error.code, KNOOP_WERR_SIGNATURE);
    knoop_frame_clear(&e);
    m.sig = NULL;
    knoop_msg_clear(&m);
    knoop_msg_clear(&orig);
    zsock_destroy(&ut);

    /* later, on a new session: a duplicate still */
    ut = s_client(s_ut);
    s_hello(ut, "vr-utrecht", NULL);
    assert_true(s_expect(ut, KNOOP_FRAME_WELCOME, NULL, 5000));
    s_publish_one(ut, &captured);
    knoop_frame_t a;
    assert_true(s_expect(ut, KNOOP_FRAME_ACK, &a, 5000));
    assert_int_equal(a.u.ack.acks[0].seq, 1);
    knoop_frame_clear(&a);

    /* the subscriber got it once */
    assert_int_equal(s_count_delivered(zl, epoch, 2000), 1);
    /* and the broker counted: 4 duplicates (3 + the later one), 2 refusals */
    assert_int_equal(s_broker_status(".journal.duplicates") - dup0, 4);
    assert_int_equal(s_broker_status(".envelopes_refused") - refused0, 2);
    knoop_buf_free(&captured);
    knoop_buf_free(&gooi);
    knoop_buf_free(&other);
    knoop_buf_free(&spliced);
    zsock_destroy(&ut);
    zsock_destroy(&zl);
    s_assert_serving();
}

int main(void)
{
    knoop_crypto_init();
    zsys_init();
    zsys_set_linger(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_and_truncated),
        cmocka_unit_test(test_version_and_order),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_bad_envelopes),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_payload_rules),
        cmocka_unit_test(test_cap_status),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_hello_vector_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
