/* test_bundle.c — journal bundles (lib/bundle.h) with real keys, files and
 * journals: a bundle written and read back byte for byte; every truncation
 * and every single changed byte of a real bundle refused, never taken as
 * whole; the check naming the stream and seq of a broken link, a fork, a
 * run not covered by a signature and an unknown partner; an import that is
 * all or nothing, deduplicated, and leaves a node's own streams out; a
 * stream the allow function refuses left out, the others stored; the
 * whole-bundle signature (version 2): signed and verified, any changed byte
 * refused, a wrong or unknown key refused by knoop_bundle_signer, and
 * version 1 (unsigned) bundles still read. */
#include "fixture.h"
#include "testutil.h"
#include "bundle.h"
#include "crypto.h"
#include "journal.h"
#include "keys.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N 12

static knoop_key_t *s_zl, *s_other;
static tu_fixture_t *s_fx;
static knoop_trust_t *s_trust;          /* s_fx's */
static knoop_buf_t s_envs[N];          /* vr-zeeland sitrep, seq 1..12, signed at 6 and 12 */
static knoop_msg_t s_msgs[N];

static int setup(void **state)
{
    (void) state;
    s_fx = tu_fixture_new("bundle");
    s_zl = tu_fixture_partner(s_fx, "vr-zeeland", "region");
    s_other = tu_key("vr-other", "region");     /* not in the trust store */
    s_trust = tu_fixture_trust(s_fx);
    tu_stream_t st;
    tu_stream_init(&st, "vr-zeeland", "sitrep.vr-zeeland", 0x1234, NULL);
    uint64_t hlc = (uint64_t) knoop_now_ms() << 16;
    for (int i = 0; i < N; i++) {
        st.sk = (i == 5 || i == N - 1) ? knoop_key_secret(s_zl) : NULL;
        char payload[32];
        snprintf(payload, sizeof payload, "melding %d", i + 1);
        tu_stream_next(&st, &s_envs[i], &s_msgs[i], hlc + (uint64_t) i, NULL,
                       KNOOP_STATUS_ACTUAL, payload);
    }
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    for (int i = 0; i < N; i++) {
        knoop_msg_clear(&s_msgs[i]);
        knoop_buf_free(&s_envs[i]);
    }
    knoop_key_destroy(&s_zl);
    knoop_key_destroy(&s_other);
    tu_fixture_destroy(&s_fx);
    s_trust = NULL;
    return 0;
}

/* A bundle of the 12 messages, signed by key (version 2) or, with NULL,
 * unsigned (version 1). */
static void s_write_key(const char *path, const knoop_key_t *key)
{
    knoop_bundle_header_t h = { .exporter = "vr-zeeland", .created_ms = 1234567,
                                .pattern = "sitrep.>", .since_ms = 42 };
    knoop_bundle_writer_t *w = NULL;
    assert_int_equal(knoop_bundle_writer_new(path, &h, key, &w), KNOOP_OK);
    assert_int_equal(knoop_bundle_write_cert(w, "cert text", 9), KNOOP_OK);
    assert_int_equal(knoop_bundle_write_revocations(w, "list text", 9), KNOOP_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(knoop_bundle_write_envelope(w, s_envs[i].data, s_envs[i].len),
                         KNOOP_OK);
    assert_int_equal(knoop_bundle_writer_envelopes(w), N);
    assert_int_equal(knoop_bundle_writer_finish(&w), KNOOP_OK);
    assert_null(w);
}

static void s_write(const char *path)
{
    s_write_key(path, s_zl);
}

static void test_roundtrip(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("bundle-rt");
    char path[PATH_MAX], part[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/b.bundle", dir);
    s_write(path);
    snprintf(part, sizeof part, "%s.part", path);
    assert_int_not_equal(access(part, F_OK), 0);            /* renamed into place */
    knoop_bundle_t *b = NULL;
    assert_int_equal(knoop_bundle_open(path, &b), KNOOP_OK);
    const char *why;
    assert_int_equal(knoop_bundle_intact(b, &why), KNOOP_OK);
    const knoop_bundle_header_t *h = knoop_bundle_header(b);
    assert_int_equal(h->version, KNOOP_BUNDLE_VERSION);
    assert_string_equal(h->exporter, "vr-zeeland");
    assert_string_equal(h->pattern, "sitrep.>");
    assert_int_equal(h->created_ms, 1234567);
    assert_int_equal(h->since_ms, 42);
    assert_string_equal(h->signer, "vr-zeeland");
    const knoop_bundle_seal_t *seal = knoop_bundle_seal(b);
    assert_non_null(seal);
    assert_string_equal(seal->signer, "vr-zeeland");
    assert_memory_equal(seal->signer_key, knoop_key_public(s_zl), KNOOP_PK_LEN);
    assert_int_equal(seal->records, 3 + N);          /* header, cert, list, envelopes */
    assert_int_equal(seal->envelopes, N);
    const knoop_bytes_t *l;
    assert_int_equal(knoop_bundle_certs(b, &l), 1);
    assert_int_equal(l[0].len, 9);
    assert_memory_equal(l[0].data, "cert text", 9);
    assert_int_equal(knoop_bundle_revocations(b, &l), 1);
    assert_memory_equal(l[0].data, "list text", 9);
    assert_int_equal(knoop_bundle_envelopes(b, &l), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(l[i].len, s_envs[i].len);
        assert_memory_equal(l[i].data, s_envs[i].data, s_envs[i].len);
    }
    knoop_bundle_destroy(&b);
    knoop_bundle_destroy(&b);                               /* safe twice */

    /* Never overwritten; an abandoned writer leaves nothing. */
    knoop_bundle_header_t hh = { .pattern = ">" };
    knoop_bundle_writer_t *w = NULL;
    assert_int_equal(knoop_bundle_writer_new(path, &hh, s_zl, &w), KNOOP_EEXIST);
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s/c.bundle", dir);
    assert_int_equal(knoop_bundle_writer_new(other, &hh, NULL, &w), KNOOP_OK);
    knoop_bundle_writer_destroy(&w);
    snprintf(part, sizeof part, "%s.part", other);
    assert_int_not_equal(access(part, F_OK), 0);
    assert_int_not_equal(access(other, F_OK), 0);
    assert_int_equal(knoop_bundle_open(other, &b), KNOOP_ENOTFOUND);
    tu_rmtree(dir);
}

/* Every prefix of a real bundle and every single changed byte: refused. */
static void test_damage(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("bundle-dmg");
    char path[PATH_MAX], bad[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/b.bundle", dir);
    snprintf(bad, sizeof bad, "%s/bad.bundle", dir);
    s_write(path);
    size_t len;
    char *data = tu_read_file(path, &len);
    assert_non_null(data);
    size_t truncated = 0, changed = 0, named = 0;
    for (size_t cut = 0; cut < len; cut++) {
        tu_write_file(bad, data, cut, 0644);
        knoop_bundle_t *b = NULL;
        assert_int_equal(knoop_bundle_open(bad, &b), KNOOP_OK);
        const char *why;
        int rc = knoop_bundle_intact(b, &why);
        assert_int_not_equal(rc, KNOOP_OK);
        if (cut >= KNOOP_BUNDLE_MAGIC_LEN) {
            assert_int_equal(rc, KNOOP_ECORRUPT);
            assert_non_null(strstr(why, "truncated"));
        }
        if (strstr(why, "vr-zeeland/sitrep.vr-zeeland seq "))
            named++;
        truncated++;
        knoop_bundle_destroy(&b);
    }
    /* A cut after the first envelope names the last one complete. */
    assert_true(named > len / 2);
    for (size_t at = 0; at < len; at++) {
        data[at] ^= 0x20;
        tu_write_file(bad, data, len, 0644);
        data[at] ^= 0x20;
        knoop_bundle_t *b = NULL;
        assert_int_equal(knoop_bundle_open(bad, &b), KNOOP_OK);
        assert_int_not_equal(knoop_bundle_intact(b, NULL), KNOOP_OK);
        changed++;
        knoop_bundle_destroy(&b);
    }
    assert_int_equal(truncated, len);
    assert_int_equal(changed, len);
    free(data);
    tu_rmtree(dir);
}

static int s_check(const knoop_trust_t *trust, const knoop_msg_t *msgs, size_t n, char *why,
                   size_t size, knoop_bundle_stream_t **rows, size_t *nrows)
{
    return knoop_bundle_check(trust, msgs, n, rows, nrows, why, size);
}

static void test_check(void **state)
{
    (void) state;
    char why[600];
    knoop_bundle_stream_t *rows = NULL;
    size_t nrows = 0;
    /* Whole and in any order: verifies, one stream row. */
    knoop_msg_t shuffled[N];
    for (int i = 0; i < N; i++)
        shuffled[i] = s_msgs[(i * 5) % N];
    assert_int_equal(s_check(s_trust, shuffled, N, why, sizeof why, &rows, &nrows), KNOOP_OK);
    assert_int_equal(nrows, 1);
    assert_int_equal(rows[0].first, 1);
    assert_int_equal(rows[0].last, N);
    assert_int_equal(rows[0].count, N);
    assert_int_equal(rows[0].runs, 1);
    assert_non_null(strstr(rows[0].signer, "vr-zeeland key "));
    free(rows);
    /* A duplicate is counted once. */
    knoop_msg_t dup[N + 1];
    memcpy(dup, s_msgs, sizeof s_msgs);
    dup[N] = s_msgs[3];
    assert_int_equal(s_check(s_trust, dup, N + 1, why, sizeof why, &rows, &nrows), KNOOP_OK);
    assert_int_equal(rows[0].count, N);
    free(rows);
    /* A gap: two runs, each must end signed; 1..6 and 9..12 do. */
    knoop_msg_t gap[N - 2];
    memcpy(gap, s_msgs, 6 * sizeof *gap);
    memcpy(gap + 6, s_msgs + 8, 4 * sizeof *gap);
    assert_int_equal(s_check(s_trust, gap, N - 2, why, sizeof why, &rows, &nrows), KNOOP_OK);
    assert_int_equal(rows[0].runs, 2);
    free(rows);
    /* 1..7: the run ends unsigned at 7. */
    assert_int_equal(s_check(s_trust, s_msgs, 7, why, sizeof why, &rows, &nrows), KNOOP_ESIG);
    assert_non_null(strstr(why, "stream vr-zeeland/sitrep.vr-zeeland (epoch 0000000000001234) "
                                "seq 7: not covered by a head signature"));
    free(rows);
    /* Without a trust store the chains and coverage still count. */
    assert_int_equal(s_check(NULL, s_msgs, 7, why, sizeof why, &rows, &nrows), KNOOP_ESIG);
    free(rows);
    /* A message left out in the middle of a run that claims to link. */
    knoop_msg_t altered[N];
    memcpy(altered, s_msgs, sizeof s_msgs);
    knoop_msg_t m4;
    knoop_buf_t e4 = { 0 };
    tu_stream_t st;
    tu_stream_init(&st, "vr-zeeland", "sitrep.vr-zeeland", 0x1234, NULL);
    st.seq = 3;
    memset(st.head, 0x55, KNOOP_HASH_LEN);        /* a prev that is not chain(3) */
    tu_stream_next(&st, &e4, &m4, s_msgs[3].b.hlc, NULL, KNOOP_STATUS_ACTUAL, "melding 4");
    altered[3] = m4;
    assert_int_equal(s_check(NULL, altered, N, why, sizeof why, &rows, &nrows), KNOOP_ECHAIN);
    assert_non_null(strstr(why, "seq 4: does not link to seq 3"));
    free(rows);
    /* The same seq twice with other content: a fork. */
    knoop_msg_t forked[N + 1];
    memcpy(forked, s_msgs, sizeof s_msgs);
    forked[N] = m4;
    assert_int_equal(s_check(NULL, forked, N + 1, why, sizeof why, &rows, &nrows),
                     KNOOP_EFORK);
    assert_non_null(strstr(why, "seq 4: two different messages under one seq"));
    free(rows);
    knoop_msg_clear(&m4);
    knoop_buf_free(&e4);
    /* A partner this store does not know. */
    knoop_msg_t om[2];
    knoop_buf_t oe[2] = { { 0 }, { 0 } };
    tu_stream_init(&st, "vr-other", "sitrep.vr-other", 7, knoop_key_secret(s_other));
    tu_stream_next(&st, &oe[0], &om[0], s_msgs[0].b.hlc, NULL, KNOOP_STATUS_ACTUAL, "x");
    tu_stream_next(&st, &oe[1], &om[1], s_msgs[0].b.hlc + 1, NULL, KNOOP_STATUS_ACTUAL, "y");
    assert_int_equal(s_check(s_trust, om, 2, why, sizeof why, &rows, &nrows), KNOOP_EUNKNOWN);
    assert_non_null(strstr(why, "stream vr-other/sitrep.vr-other (epoch 0000000000000007) "
                                "seq 1: unknown partner vr-other"));
    free(rows);
    /* Signed with another key than the origin's: forged. */
    knoop_msg_t fm;
    knoop_buf_t fe = { 0 };
    tu_stream_init(&st, "vr-zeeland", "sitrep.vr-zeeland", 9, knoop_key_secret(s_other));
    tu_stream_next(&st, &fe, &fm, s_msgs[0].b.hlc, NULL, KNOOP_STATUS_ACTUAL, "forged");
    assert_int_equal(s_check(s_trust, &fm, 1, why, sizeof why, &rows, &nrows), KNOOP_ESIG);
    assert_non_null(strstr(why, "seq 1: the head signature does not verify"));
    free(rows);
    knoop_msg_clear(&fm);
    knoop_buf_free(&fe);
    for (int i = 0; i < 2; i++) {
        knoop_msg_clear(&om[i]);
        knoop_buf_free(&oe[i]);
    }
}

static size_t s_count(knoop_journal_t *j)
{
    knoop_stream_info_t *rows = NULL;
    size_t n = 0, total = 0;
    assert_int_equal(knoop_journal_vector(j, NULL, &rows, &n), KNOOP_OK);
    for (size_t i = 0; i < n; i++)
        total += rows[i].max_seq;
    free(rows);
    return total;
}

static void test_import(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("bundle-import");
    knoop_journal_opts_t o = { .path = dir, .partner = "vr-utrecht", .trust = s_trust };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    knoop_bytes_t envs[N + 1];
    for (int i = 0; i < N; i++)
        envs[i] = (knoop_bytes_t) { s_envs[i].data, s_envs[i].len };
    knoop_bundle_import_t r;
    char why[600];
    /* Not a message: nothing stored, the message named. */
    envs[N] = (knoop_bytes_t) { (const uint8_t *) "garbage", 7 };
    assert_int_not_equal(knoop_bundle_import(j, s_trust, envs, N + 1, NULL, NULL, NULL, NULL, NULL, false,
                                             &r, why, sizeof why), KNOOP_OK);
    assert_non_null(strstr(why, "message 13 of the import does not parse"));
    assert_int_equal(s_count(j), 0);
    /* The later part first: its run 7..12 is held beyond the gap. */
    assert_int_equal(knoop_bundle_import(j, s_trust, envs + 6, 6, NULL, NULL, NULL, NULL, NULL, false, &r,
                                         why, sizeof why), KNOOP_OK);
    assert_int_equal(r.stored, 6);
    knoop_stream_info_t info;
    assert_int_equal(knoop_journal_stream(j, s_msgs[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 0);
    assert_int_equal(info.max_seq, N);
    /* A dry run of everything stores nothing. */
    assert_int_equal(knoop_bundle_import(j, s_trust, envs, N, NULL, NULL, NULL, NULL, NULL, true, &r, why,
                                         sizeof why), KNOOP_OK);
    assert_int_equal(r.stored, 0);
    assert_int_equal(s_count(j), N);
    assert_int_equal(knoop_journal_stream(j, s_msgs[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 0);
    /* Then all: the gap fills, six new, six held. */
    assert_int_equal(knoop_bundle_import(j, s_trust, envs, N, NULL, NULL, NULL, NULL, NULL, false, &r, why,
                                         sizeof why), KNOOP_OK);
    assert_int_equal(r.stored, 6);
    assert_int_equal(r.duplicates, 6);
    assert_int_equal(knoop_journal_stream(j, s_msgs[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, N);
    assert_int_equal(info.verified, N);
    /* Twice: nothing new. */
    assert_int_equal(knoop_bundle_import(j, s_trust, envs, N, NULL, NULL, NULL, NULL, NULL, false, &r, why,
                                         sizeof why), KNOOP_OK);
    assert_int_equal(r.stored, 0);
    assert_int_equal(r.duplicates, N);
    char *json = knoop_bundle_import_json(&r, false);
    assert_non_null(strstr(json, "\"duplicates\":12"));
    free(json);
    knoop_journal_destroy(&j);

    /* A second journal: a node's own streams are left out; one bad message
     * among good ones and nothing at all is stored. */
    char *dir2 = tu_tmpdir("bundle-import2");
    o.path = dir2;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    assert_int_equal(knoop_bundle_import(j, s_trust, envs, N, "vr-zeeland", NULL, NULL, NULL, NULL, false,
                                         &r, why, sizeof why), KNOOP_OK);
    assert_int_equal(r.skipped, 1);
    assert_int_equal(r.stored, 0);
    assert_int_equal(s_count(j), 0);
    knoop_msg_t om;
    knoop_buf_t oe = { 0 };
    tu_stream_t st;
    tu_stream_init(&st, "vr-other", "sitrep.vr-other", 7, knoop_key_secret(s_other));
    tu_stream_next(&st, &oe, &om, s_msgs[0].b.hlc, NULL, KNOOP_STATUS_ACTUAL, "x");
    envs[N] = (knoop_bytes_t) { oe.data, oe.len };
    assert_int_equal(knoop_bundle_import(j, s_trust, envs, N + 1, NULL, NULL, NULL, NULL, NULL, false, &r,
                                         why, sizeof why), KNOOP_EUNKNOWN);
    assert_non_null(strstr(why, "unknown partner vr-other"));
    assert_int_equal(s_count(j), 0);
    assert_int_equal(knoop_bundle_import(j, NULL, envs, N, NULL, NULL, NULL, NULL, NULL, false, &r, why,
                                         sizeof why), KNOOP_EUNKNOWN);
    assert_int_equal(s_count(j), 0);
    knoop_msg_clear(&om);
    knoop_buf_free(&oe);
    knoop_journal_destroy(&j);
    tu_rmtree(dir);
    tu_rmtree(dir2);
}

/* An allow function (a broker's policy and payload rules) that refuses
 * message 2 of grip.vr-zeeland. */
static int s_allow_no_grip2(void *arg, const knoop_msg_t *m, char *why, size_t why_size)
{
    int *asked = arg;
    (*asked)++;
    if (!strcmp(m->b.topic, "grip.vr-zeeland") && m->b.seq == 2) {
        snprintf(why, why_size, "payload: level: 'GRIP_9' is no GRIP level");
        return KNOOP_EMALFORMED;
    }
    return KNOOP_OK;
}

/* The allow function refuses one stream, named and counted; the other
 * streams of the same import are stored. */
static void test_import_allow(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("bundle-allow");
    knoop_journal_opts_t o = { .path = dir, .partner = "kcr2-broker", .trust = s_trust };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    knoop_msg_t gm[3];
    knoop_buf_t ge[3] = { { 0 }, { 0 }, { 0 } };
    tu_stream_t st;
    tu_stream_init(&st, "vr-zeeland", "grip.vr-zeeland", 0x99, knoop_key_secret(s_zl));
    for (int i = 0; i < 3; i++)
        tu_stream_next(&st, &ge[i], &gm[i], s_msgs[0].b.hlc + (uint64_t) i, NULL,
                       KNOOP_STATUS_ACTUAL, "grip");
    knoop_bytes_t envs[N + 3];
    for (int i = 0; i < N; i++)
        envs[i] = (knoop_bytes_t) { s_envs[i].data, s_envs[i].len };
    for (int i = 0; i < 3; i++)
        envs[N + i] = (knoop_bytes_t) { ge[i].data, ge[i].len };
    knoop_bundle_import_t r;
    char why[600];
    int asked = 0;
    assert_int_equal(knoop_bundle_import(j, s_trust, envs, N + 3, NULL, s_allow_no_grip2, &asked,
                                         NULL, NULL, false, &r, why, sizeof why), KNOOP_OK);
    assert_int_equal(r.messages, N + 3);
    assert_int_equal(r.stored, N);                  /* the sitrep stream */
    assert_int_equal(r.refused, 3);                 /* the whole grip stream */
    assert_non_null(strstr(r.first_refusal, "stream vr-zeeland/grip.vr-zeeland (epoch "
                                            "0000000000000099) seq 2: payload: level: "));
    assert_int_equal(s_count(j), N);
    knoop_stream_info_t info;
    assert_int_equal(knoop_journal_stream(j, gm[0].stream, &info), KNOOP_ENOTFOUND);
    /* Once its stream is refused, its later messages are not asked about. */
    assert_int_equal(asked, N + 2);
    char *json = knoop_bundle_import_json(&r, false);
    assert_non_null(strstr(json, "\"refused\":3"));
    free(json);
    for (int i = 0; i < 3; i++) {
        knoop_msg_clear(&gm[i]);
        knoop_buf_free(&ge[i]);
    }
    knoop_journal_destroy(&j);
    tu_rmtree(dir);
}

/* The statement's byte order is the documented one (docs/protocol.md). */
static void test_statement(void **state)
{
    (void) state;
    uint8_t hash[KNOOP_HASH_LEN], st[KNOOP_BUNDLE_STATEMENT_LEN];
    for (int i = 0; i < KNOOP_HASH_LEN; i++)
        hash[i] = (uint8_t) i;
    knoop_bundle_statement(st, hash, 0x0102030405060708ull, 0x1112131415161718ull);
    assert_int_equal(sizeof st, 64);
    assert_memory_equal(st, "knoop-bundle-v2\n", 16);
    assert_memory_equal(st + 16, hash, KNOOP_HASH_LEN);
    static const uint8_t counts[16] = { 1, 2, 3, 4, 5, 6, 7, 8,
                                        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18 };
    assert_memory_equal(st + 48, counts, 16);
}

/* Signer checks against the trust store: the right key passes; a key of an
 * unknown id, a second key under a known id, and any change to what the
 * signature covers are refused, each with its own code and words. */
static void test_signer(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("bundle-sig");
    char path[PATH_MAX], why[400];
    const char *iw;
    knoop_bundle_t *b = NULL;
    snprintf(path, sizeof path, "%s/ok.bundle", dir);
    s_write(path);
    assert_int_equal(knoop_bundle_open(path, &b), KNOOP_OK);
    assert_int_equal(knoop_bundle_intact(b, &iw), KNOOP_OK);
    const knoop_bundle_seal_t *seal = knoop_bundle_seal(b);
    assert_non_null(seal);
    assert_int_equal(knoop_bundle_signer(seal, s_trust, why, sizeof why), KNOOP_OK);
    assert_non_null(strstr(why, "signed by vr-zeeland key "));
    /* Without a store nobody is known. */
    assert_int_equal(knoop_bundle_signer(seal, NULL, why, sizeof why), KNOOP_EUNKNOWN);
    /* Each field the signature covers, changed in a copy of the seal. */
    for (size_t f = 0; f < 5; f++) {
        knoop_bundle_seal_t x = *seal;
        switch (f) {
        case 0: x.hash[7] ^= 1; break;
        case 1: x.records++; break;
        case 2: x.envelopes--; break;
        case 3: x.signature[63] ^= 0x80; break;
        default: x.signer_key[0] ^= 1; break;
        }
        assert_int_equal(knoop_bundle_signer(&x, s_trust, why, sizeof why), KNOOP_ESIG);
        assert_non_null(strstr(why, "does not verify"));
    }
    /* Unsigned: no seal. The daemons' gate takes it, unless signed
     * bundles are required; a seal goes through knoop_bundle_signer. */
    assert_int_equal(knoop_bundle_signer(NULL, s_trust, why, sizeof why), KNOOP_ENOTFOUND);
    assert_non_null(strstr(why, "unsigned"));
    assert_int_equal(knoop_bundle_seal_gate(NULL, false, s_trust, why, sizeof why), KNOOP_OK);
    assert_int_equal(knoop_bundle_seal_gate(NULL, true, s_trust, why, sizeof why), KNOOP_EPERM);
    assert_non_null(strstr(why, "unsigned bundle (format version 1) refused: --require-signed"));
    assert_int_equal(knoop_bundle_seal_gate(seal, true, s_trust, why, sizeof why), KNOOP_OK);
    assert_int_equal(knoop_bundle_seal_gate(seal, false, NULL, why, sizeof why), KNOOP_EUNKNOWN);
    knoop_bundle_destroy(&b);

    /* Signed by a partner the store does not know: whole, but refused. */
    snprintf(path, sizeof path, "%s/other.bundle", dir);
    s_write_key(path, s_other);
    assert_int_equal(knoop_bundle_open(path, &b), KNOOP_OK);
    assert_int_equal(knoop_bundle_intact(b, &iw), KNOOP_OK);
    assert_int_equal(knoop_bundle_signer(knoop_bundle_seal(b), s_trust, why, sizeof why),
                     KNOOP_EUNKNOWN);
    assert_non_null(strstr(why, "bundle signer vr-other is unknown here"));
    knoop_bundle_destroy(&b);

    /* A key that calls itself vr-zeeland but is not its key: refused. */
    knoop_key_t *fake = tu_key("vr-zeeland", "region");
    assert_non_null(fake);
    snprintf(path, sizeof path, "%s/fake.bundle", dir);
    s_write_key(path, fake);
    knoop_key_destroy(&fake);
    assert_int_equal(knoop_bundle_open(path, &b), KNOOP_OK);
    assert_int_equal(knoop_bundle_intact(b, &iw), KNOOP_OK);
    assert_int_equal(knoop_bundle_signer(knoop_bundle_seal(b), s_trust, why, sizeof why),
                     KNOOP_EUNKNOWN);
    assert_non_null(strstr(why, "is not a key of vr-zeeland"));
    knoop_bundle_destroy(&b);

    /* Version 1 (no key) is still read: whole, unsigned, no seal. */
    snprintf(path, sizeof path, "%s/v1.bundle", dir);
    s_write_key(path, NULL);
    assert_int_equal(knoop_bundle_open(path, &b), KNOOP_OK);
    assert_int_equal(knoop_bundle_intact(b, &iw), KNOOP_OK);
    assert_int_equal(knoop_bundle_header(b)->version, KNOOP_BUNDLE_VERSION_UNSIGNED);
    assert_string_equal(knoop_bundle_header(b)->signer, "");
    assert_null(knoop_bundle_seal(b));
    const knoop_bytes_t *l;
    assert_int_equal(knoop_bundle_envelopes(b, &l), N);
    knoop_bundle_destroy(&b);

    /* One bit of the signature changed in the file (the content hash does
     * not cover the trailer, so the rest is whole): refused as KNOOP_ESIG,
     * which names the signer, not as damage. */
    snprintf(path, sizeof path, "%s/ok.bundle", dir);
    size_t len;
    char *data = tu_read_file(path, &len);
    assert_non_null(data);
    data[len - 1] ^= 0x01;                  /* the signature ends the file */
    snprintf(path, sizeof path, "%s/sig.bundle", dir);
    tu_write_file(path, data, len, 0644);
    free(data);
    assert_int_equal(knoop_bundle_open(path, &b), KNOOP_OK);
    assert_int_equal(knoop_bundle_intact(b, &iw), KNOOP_ESIG);
    assert_non_null(strstr(iw, "signature does not verify with the key its header names "
                               "(signer vr-zeeland key "));
    assert_null(knoop_bundle_seal(b));
    /* What it claims is there for a daemon to refuse and count. */
    const knoop_bundle_seal_t *claimed = knoop_bundle_seal_claimed(b);
    assert_non_null(claimed);
    assert_string_equal(claimed->signer, "vr-zeeland");
    assert_int_equal(knoop_bundle_signer(claimed, s_trust, why, sizeof why), KNOOP_ESIG);
    knoop_bundle_destroy(&b);
    tu_rmtree(dir);
}

int main(void)
{
    if (knoop_crypto_init() != KNOOP_OK)
        return 1;
    knoop_log_set_level(KNOOP_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_import_allow),
        cmocka_unit_test(test_statement),
        cmocka_unit_test(test_signer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
