/* test_mesh_fork.c — two real brokers in a mesh, and a partner that
 * equivocates: with its own key it publishes one message at (stream, seq 1)
 * to broker 1 and a different one at the same (stream, seq) to broker 2.
 * The fork must be detected and reported, not silently resolved: both
 * copies kept as evidence, the stream flagged, an ERROR line naming it, a
 * status alarm, `knoop mesh check` and `knoop audit verify` failing on it.
 * Also: a key without the broker role may not peer. */
#define _GNU_SOURCE
#include "fixture.h"
#include "testutil.h"
#include "crypto.h"
#include "keys.h"
#include "link.h"
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
static char s_ep[2][256];
static pid_t s_pid[2];
static knoop_key_t *s_ut;
static knoop_cert_t s_bcert[2];

static bool s_log_has(int b, const char *text)
{
    char *out = NULL;
    tu_run(&out, "grep -c -- '%s' %s/b%d.log", text, s_dir, b + 1);
    bool yes = out && atoi(out) > 0;
    free(out);
    return yes;
}

static void s_start(int b)
{
    char id[32], data[24], log[24], peer[512];
    snprintf(id, sizeof id, "kcr2-broker-%d", b + 1);
    snprintf(data, sizeof data, "b%d", b + 1);
    snprintf(log, sizeof log, "b%d.log", b + 1);
    snprintf(peer, sizeof peer, "kcr2-broker-%d@%s", 2 - b, s_ep[1 - b]);
    const char *const extra[] = { "--peer", peer, "--anti-entropy-ms", "300", "--heartbeat-ms",
                                  "200", "--timeout-ms", "2000", NULL };
    s_pid[b] = tu_fixture_broker(s_fx, id, s_ep[b], data, log, extra);
}

static int setup(void **state)
{
    s_fx = tu_fixture_new("mesh-fork");
    s_dir = s_fx->dir;
    knoop_log_set_level(KNOOP_LOG_ERROR);
    tu_fixture_partner_files(s_fx, "kcr2-broker-1", "broker");
    tu_fixture_partner_files(s_fx, "kcr2-broker-2", "broker");
    s_ut = tu_fixture_partner(s_fx, "vr-utrecht", "region");
    for (int b = 0; b < 2; b++) {
        char id[32];
        snprintf(id, sizeof id, "kcr2-broker-%d", b + 1);
        tu_fixture_cert(s_fx, id, &s_bcert[b]);
        snprintf(s_ep[b], sizeof s_ep[b], "ipc://%s/b%d.sock", s_dir, b + 1);
    }
    tu_fixture_policy(s_fx, "role:region publish sitrep.{id}\nrole:region subscribe sitrep.>\n");
    s_start(0);
    s_start(1);
    return 0;
}

static int teardown(void **state)
{
    for (int b = 0; b < 2; b++) {
        kill(s_pid[b], SIGCONT);        /* a failed check may leave one paused */
        kill(s_pid[b], SIGTERM);
        waitpid(s_pid[b], NULL, 0);
    }
    knoop_key_destroy(&s_ut);
    tu_fixture_destroy(&s_fx);
    return 0;
}

static zsock_t *s_client(int b, const knoop_key_t *key)
{
    zsock_t *d = knoop_link_dealer();
    assert_int_equal(knoop_link_curve_client(d, key, &s_bcert[b], 3000), KNOOP_OK);
    assert_int_equal(zsock_connect(d, "%s", s_ep[b]), 0);
    return d;
}

static void s_send(zsock_t *d, const knoop_frame_t *f)
{
    knoop_buf_t out = { 0 };
    assert_int_equal(knoop_frame_encode(f, &out), KNOOP_OK);
    zframe_t *fr = zframe_new(out.data, out.len);
    zframe_send(&fr, d, 0);
    knoop_buf_free(&out);
}

static bool s_expect(zsock_t *d, knoop_frame_kind_t kind, knoop_frame_t *out, int ms)
{
    zpoller_t *p = zpoller_new(d, NULL);
    int64_t deadline = zclock_mono() + ms;
    bool found = false;
    while (!found && zclock_mono() < deadline && zpoller_wait(p, (int) (deadline - zclock_mono()))) {
        zframe_t *fr = zframe_recv(d);
        knoop_frame_t f;
        if (fr && knoop_frame_decode(&f, zframe_data(fr), zframe_size(fr)) == KNOOP_OK) {
            found = f.kind == kind;
            if (found && out)
                *out = f;
            else
                knoop_frame_clear(&f);
        }
        zframe_destroy(&fr);
    }
    zpoller_destroy(&p);
    return found;
}

static void s_hello(zsock_t *d, const char *partner, bool peer)
{
    knoop_frame_t f = { .kind = KNOOP_FRAME_HELLO };
    f.u.hello.partner = partner;
    f.u.hello.peer = peer;
    s_send(d, &f);
}

/* Publish one signed envelope (seq 1 of a fixed stream) with this summary. */
static void s_publish_seq1(int b, const char *summary)
{
    zsock_t *d = s_client(b, s_ut);
    s_hello(d, "vr-utrecht", false);
    assert_true(s_expect(d, KNOOP_FRAME_WELCOME, NULL, 5000));
    /* SitRep{summary = 3}, encoded by hand: a payload the brokers' content
     * rules accept for the topic family sitrep.* */
    uint8_t payload[128];
    size_t slen = strlen(summary);
    assert_true(slen < 120);
    payload[0] = (3 << 3) | 2;
    payload[1] = (uint8_t) slen;
    memcpy(payload + 2, summary, slen);
    knoop_body_t body = {
        .version = KNOOP_BODY_VERSION, .origin = "vr-utrecht", .topic = "sitrep.vr-utrecht",
        .epoch = 0x5eed, .seq = 1, .hlc = 1, .key = "", .type = "knoop.crisis.v1.SitRep",
        .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
        .payload = payload, .payload_len = slen + 2,
    };
    knoop_buf_t env = { 0 };
    assert_int_equal(knoop_msg_build(&body, knoop_key_secret(s_ut), &env, NULL), KNOOP_OK);
    knoop_bytes_t e = { env.data, env.len };
    knoop_frame_t p = { .kind = KNOOP_FRAME_PUBLISH };
    p.u.batch.envs = &e;
    p.u.batch.n = 1;
    s_send(d, &p);
    /* The broker takes its copy (ACK), or — when the mesh already brought
     * it the other version — refuses this one as a fork. Either way the
     * equivocation is on record. */
    bool acked = false, refused = false;
    zpoller_t *poller = zpoller_new(d, NULL);
    int64_t deadline = zclock_mono() + 5000;
    while (!acked && !refused && zclock_mono() < deadline &&
           zpoller_wait(poller, (int) (deadline - zclock_mono()))) {
        zframe_t *fr = zframe_recv(d);
        knoop_frame_t a;
        if (fr && knoop_frame_decode(&a, zframe_data(fr), zframe_size(fr)) == KNOOP_OK) {
            acked = a.kind == KNOOP_FRAME_ACK;
            refused = a.kind == KNOOP_FRAME_ERROR && a.u.error.code == KNOOP_WERR_FORK;
            knoop_frame_clear(&a);
        }
        zframe_destroy(&fr);
    }
    zpoller_destroy(&poller);
    assert_true(acked || refused);
    knoop_buf_free(&env);
    zsock_destroy(&d);
}

static void test_fork_detected(void **state)
{
    /* Each broker must take one version before the mesh shows it the
     * other: broker 2 is paused while broker 1 takes the first, broker 1
     * while broker 2 takes the second. Then both run again and meet. */
    kill(s_pid[1], SIGSTOP);
    s_publish_seq1(0, "dijk houdt");
    kill(s_pid[0], SIGSTOP);
    kill(s_pid[1], SIGCONT);
    s_publish_seq1(1, "dijk bezweken");
    kill(s_pid[0], SIGCONT);
    /* Whichever broker met the second version first holds the evidence:
     * a broker that took one version by PUBLISH and then got the other from
     * its peer, or one that got the first from its peer and then refused
     * the second at the door. Either is a fork on record, never resolved. */
    int fb = -1;
    for (int i = 0; i < 50 && fb < 0; i++) {
        if (s_log_has(0, "FORK in stream"))
            fb = 0;
        else if (s_log_has(1, "FORK in stream"))
            fb = 1;
        else
            usleep(100000);
    }
    assert_true(fb >= 0);
    char *out = NULL;
    int rc = tu_run(&out, "%s mesh check --broker ipc://%s/b1/api.sock --broker ipc://%s/b2/api.sock",
                    tu_knoop_bin(), s_dir, s_dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "ALARM fork: vr-utrecht sitrep.vr-utrecht"));
    free(out);
    rc = tu_run(&out, "%s status --api ipc://%s/b%d/api.sock --json", tu_knoop_bin(), s_dir, fb + 1);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "FORK: two different messages under one seq"));
    free(out);
    /* The auditor sees it too, on a copy (the broker holds the writer lock). */
    rc = tu_run(&out, "cp -r %s/b%d %s/copy && rm -f %s/copy/writer.lock && "
                "%s audit verify --journal %s/copy --trust %s/trust --quiet",
                s_dir, fb + 1, s_dir, s_dir, tu_knoop_bin(), s_dir, s_dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "two different messages under one seq"));
    free(out);
}

static void test_non_broker_may_not_peer(void **state)
{
    zsock_t *d = s_client(0, s_ut);
    s_hello(d, "vr-utrecht", true);
    knoop_frame_t e;
    assert_true(s_expect(d, KNOOP_FRAME_ERROR, &e, 5000));
    assert_int_equal(e.u.error.code, KNOOP_WERR_IDENTITY);
    assert_non_null(strstr(e.u.error.reason, "peering refused: 'vr-utrecht' has role 'region'"));
    assert_true(e.u.error.fatal);
    knoop_frame_clear(&e);
    zsock_destroy(&d);
}

int main(void)
{
    knoop_crypto_init();
    zsys_init();
    zsys_set_linger(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_broker_may_not_peer),
        cmocka_unit_test(test_fork_detected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
