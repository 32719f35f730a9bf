#define _GNU_SOURCE
/* test_audit.c — `knoop audit verify|replay|digest` on journals written here
 * with real keys, and on copies of them altered on disk the way an attacker
 * or a bad disk would: a changed payload, a changed prev, a forged head
 * signature, a head signed by another partner, an unknown signer. */
#include "fixture.h"
#include "testutil.h"
#include "audit.h"
#include "crypto.h"
#include "journal.h"
#include "json.h"
#include "keys.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static tu_fixture_t *s_fx;
static const char *s_trust;                /* s_fx->trust */
static char s_journal[PATH_MAX];           /* DIR/journal */
static knoop_key_t *s_zl, *s_ws;
static uint8_t s_sig7[KNOOP_SIG_LEN], s_prev9[KNOOP_HASH_LEN];
static char s_digest[2 * KNOOP_HASH_LEN + 1];

static void s_save_cert(knoop_key_t *k, const char *dir)
{
    assert_int_equal(knoop_key_save(k, dir, time(NULL) - 3600, time(NULL) + 86400), KNOOP_OK);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.key", dir, knoop_key_id(k));
    unlink(path);       /* a trust store holds certificates only */
}

/* Append one payload message of `type` built from JSON. */
static void s_publish(knoop_journal_t *j, tu_stream_t *s, const char *type, const char *json,
                      uint64_t hlc, const char *key, bool sign)
{
    json_error_t jerr;
    json_t *obj = json_loads(json, 0, &jerr);
    assert_non_null(obj);
    knoop_buf_t payload = { 0 }, env = { 0 };
    char err[200];
    assert_int_equal(knoop_payload_from_json(type, obj, &payload, err, sizeof err), KNOOP_OK);
    json_decref(obj);
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = s->origin, .topic = s->topic,
        .epoch = s->epoch, .seq = s->seq + 1, .hlc = hlc, .key = key ? key : "",
        .type = type, .priority = KNOOP_PRIO_IMMEDIATE, .status = KNOOP_STATUS_ACTUAL,
        .tlp = KNOOP_TLP_AMBER, .payload = payload.data, .payload_len = payload.len,
    };
    memcpy(b.prev, s->head, KNOOP_HASH_LEN);
    assert_int_equal(knoop_msg_build(&b, sign ? s->sk : NULL, &env, s->head), KNOOP_OK);
    s->seq++;
    knoop_msg_t m;
    assert_int_equal(knoop_msg_parse(&m, env.data, env.len), KNOOP_OK);
    if (s->seq == 7 && m.sig)
        memcpy(s_sig7, m.sig, KNOOP_SIG_LEN);
    if (s->seq == 9)
        memcpy(s_prev9, m.b.prev, KNOOP_HASH_LEN);
    const knoop_msg_t *ms[1] = { &m };
    int res;
    assert_int_equal(knoop_journal_append(j, ms, 1, &res), KNOOP_OK);
    assert_int_equal(res, KNOOP_OK);
    knoop_msg_clear(&m);
    knoop_buf_free(&payload);
    knoop_buf_free(&env);
}

static int setup(void **state)
{
    s_fx = tu_fixture_new("audit");
    s_trust = s_fx->trust;
    tu_fixture_path(s_fx, "journal", s_journal, sizeof s_journal);
    s_zl = tu_fixture_partner(s_fx, "vr-zuid-limburg", "region");
    s_ws = tu_fixture_partner(s_fx, "ws-limburg", "waterschap");
    tu_fixture_trust(s_fx);
    knoop_journal_t *j = tu_fixture_journal(s_fx, "journal", 0);

    tu_stream_t zl, ws;
    tu_stream_init(&zl, "vr-zuid-limburg", "grip.vr-zuid-limburg", 0xabc, knoop_key_secret(s_zl));
    tu_stream_init(&ws, "ws-limburg", "water.ws-limburg.peil", 0xdef, knoop_key_secret(s_ws));
    uint64_t t0 = (uint64_t) 1626220800000ull << 16;     /* 2021-07-14T00:00:00Z */
    for (int i = 0; i < 12; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"source_organisation\":\"ws-limburg\",\"gauge_id\":\"geul-%02d-TAMPER\","
                 "\"level_cm_nap\":%d}", i, 5000 + 10 * i);
        /* Batches of three: only every third message carries a head signature. */
        s_publish(j, &ws, "knoop.crisis.v1.WaterLevel", json,
                  t0 + ((uint64_t) (i * 60000) << 16), NULL, i % 3 == 2 || i == 6);
    }
    const char *levels[] = { "GRIP_2", "GRIP_4" };
    for (int i = 0; i < 2; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"incident_id\":\"zl-2021-0714\",\"region\":\"vr-zuid-limburg\","
                 "\"level\":\"%s\",\"declared_by\":\"burgemeester\"}", levels[i]);
        s_publish(j, &zl, "knoop.crisis.v1.GripLevel", json,
                  t0 + ((uint64_t) (i * 90000 + 30000) << 16), "zl-2021-0714", true);
    }
    knoop_stream_info_t *rows;
    size_t n;
    assert_int_equal(knoop_journal_vector(j, NULL, &rows, &n), KNOOP_OK);
    uint8_t d[KNOOP_HASH_LEN];
    knoop_vector_digest(rows, n, d);
    knoop_hex_encode(s_digest, d, sizeof d);
    free(rows);
    tu_fixture_journal_close(s_fx, &j);       /* the CLI opens it next */
    return 0;
}

static int teardown(void **state)
{
    knoop_key_destroy(&s_zl);
    knoop_key_destroy(&s_ws);
    tu_fixture_destroy(&s_fx);
    return 0;
}

static void test_verify_ok(void **state)
{
    char *out = NULL;
    int rc = tu_run(&out, "%s audit verify --journal %s --trust %s", tu_knoop_bin(),
                    s_journal, s_trust);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "verify: OK: 2 streams, 14 messages, 0 broken"));
    /* 12 water messages: signed at seq 3, 6, 7, 9, 12: nothing unverified. */
    assert_non_null(strstr(out, "water.ws-limburg.peil epoch 0000000000000def seq 1..12 "
                                "verified 1..12 unverified tail 0"));
    free(out);
    /* Without a trust store the tool insists on saying what it did not check. */
    rc = tu_run(&out, "%s audit verify --journal %s 2>&1", tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--trust DIR is required"));
    free(out);
    rc = tu_run(&out, "%s audit verify --journal %s --chains-only", tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "signatures NOT checked"));
    free(out);
}

static void test_digest(void **state)
{
    char *out = NULL;
    int rc = tu_run(&out, "%s audit digest --journal %s", tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, s_digest));
    assert_non_null(strstr(out, "streams 2 messages 14"));
    free(out);
    rc = tu_run(&out, "%s audit digest --journal %s --pattern 'grip.>' --streams --json",
                tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 0);
    json_error_t e;
    json_t *o = json_loads(out, 0, &e);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "streams")), 1);
    assert_int_equal(json_array_size(json_object_get(o, "rows")), 1);
    assert_string_not_equal(json_string_value(json_object_get(o, "digest")), s_digest);
    json_decref(o);
    free(out);
    rc = tu_run(NULL, "%s audit digest --journal %s --pattern 'grip..' 2>/dev/null",
                tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 2);
}

static void test_replay(void **state)
{
    char *out = NULL;
    int rc = tu_run(&out, "%s audit replay --journal %s", tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 0);
    int lines = 0;
    json_int_t last = 0;
    bool saw_grip4 = false;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        assert_non_null(o);
        /* 64-bit values are decimal strings (proto3 JSON) */
        assert_true(json_is_string(json_object_get(o, "hlc")));
        json_int_t hlc = (json_int_t) strtoull(json_string_value(json_object_get(o, "hlc")),
                                               NULL, 10);
        assert_true(hlc >= last);       /* HLC order across streams */
        last = hlc;
        json_t *p = json_object_get(o, "payload");
        assert_true(json_is_object(p));
        if (!strcmp(json_string_value(json_object_get(o, "type")), "knoop.crisis.v1.GripLevel")) {
            const char *lvl = json_string_value(json_object_get(p, "level"));
            assert_non_null(lvl);
            if (!strcmp(lvl, "GRIP_4"))
                saw_grip4 = true;
        } else {
            assert_non_null(json_object_get(p, "gauge_id"));
        }
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, 14);
    assert_true(saw_grip4);
    free(out);

    rc = tu_run(&out, "%s audit replay --journal %s --origin vr-zuid-limburg "
                "--since 2021-07-14T00:00:30Z --until 2021-07-14T00:02:00Z",
                tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "GRIP_2"));
    assert_null(strstr(out, "GRIP_4"));          /* at 00:02:00, excluded */
    assert_null(strstr(out, "ws-limburg\""));
    free(out);
    rc = tu_run(NULL, "%s audit replay --journal %s --since yesterday 2>/dev/null",
                tu_knoop_bin(), s_journal);
    assert_int_equal(rc, 2);
}

/* Copy the journal and replace every occurrence of `find` in its data file
 * with `repl` (same length). Every one: LMDB is copy-on-write, so the file
 * also holds stale copies of pages in its free space. */
static char *s_tampered_copy(const void *find, const void *repl, size_t len)
{
    char *dir = tu_tmpdir("audit-tampered");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", s_journal);
    size_t sz;
    char *data = tu_read_file(path, &sz);
    assert_non_null(data);
    int hits = 0;
    for (char *p = data; (p = memmem(p, sz - (size_t) (p - data), find, len)) != NULL; p += len) {
        memcpy(p, repl, len);
        hits++;
    }
    assert_true(hits > 0);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    tu_write_file(path, data, sz, 0644);
    free(data);
    return dir;
}

static void s_expect_broken(const char *dir, const char *trust, const char *what)
{
    char *out = NULL;
    int rc = tu_run(&out, "%s audit verify --journal %s --trust %s --quiet", tu_knoop_bin(),
                    dir, trust);
    if (rc != 1 || !strstr(out, what))
        fail_msg("expected exit 1 naming '%s', got %d:\n%s", what, rc, out ? out : "");
    assert_non_null(strstr(out, "verify: FAILED"));
    free(out);
}

/* A copy of the journal in which byte `at` of (every copy of) the len bytes
 * find has mask flipped fails verification, naming what. */
static void s_expect_flipped(const void *find, size_t len, size_t at, uint8_t mask,
                             const char *what)
{
    uint8_t repl[KNOOP_SIG_LEN];
    assert_true(len <= sizeof repl && at < len);
    memcpy(repl, find, len);
    repl[at] ^= mask;
    char *dir = s_tampered_copy(find, repl, len);
    s_expect_broken(dir, s_trust, what);
    tu_rmtree(dir);
}

static void test_tampered_payload(void **state)
{
    /* geul-04-TAMPER becomes geul-04-TAMPFR: the altered bytes no longer
     * match the check stored with them */
    s_expect_flipped("geul-04-TAMPER", 14, 12, 'E' ^ 'F', "at seq 5: damaged on disk");
}

static void test_tampered_prev(void **state)
{
    s_expect_flipped(s_prev9, KNOOP_HASH_LEN, 5, 0x40, "at seq 9: damaged on disk");
}

static void test_forged_signature(void **state)
{
    s_expect_flipped(s_sig7, KNOOP_SIG_LEN, 10, 1, "at seq 7: damaged on disk");
}

/* A trust store in which ws-limburg's certificate carries another key: the
 * heads are then "signed by another partner's key" as far as it knows. */
static void test_other_key_and_unknown_signer(void **state)
{
    char *trust2 = tu_tmpdir("audit-trust2");
    knoop_key_t *impostor = tu_key("ws-limburg", "waterschap");
    s_save_cert(impostor, trust2);
    s_save_cert(s_zl, trust2);
    s_expect_broken(s_journal, trust2, "head signature does not verify");
    knoop_key_destroy(&impostor);
    tu_rmtree(trust2);

    char *trust3 = tu_tmpdir("audit-trust3");
    s_save_cert(s_zl, trust3);
    s_expect_broken(s_journal, trust3, "signer 'ws-limburg' not in the trust store");
    tu_rmtree(trust3);
}

int main(void)
{
    knoop_crypto_init();
    knoop_log_set_level(KNOOP_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_ok),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_prev),
        cmocka_unit_test(test_forged_signature),
        cmocka_unit_test(test_other_key_and_unknown_signer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
