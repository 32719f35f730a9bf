#define _GNU_SOURCE
/* test_journal_view.c — the parse-once path into a journal with a trust
 * store (issue 14): a node's publish batch as views built once
 * (knoop_msg_build_view) and signed in place (knoop_msg_sign) is stored
 * without verifying its own signature and without reading back, checking
 * and parsing what the append has just written; what it stores is exactly
 * what the parsed envelopes of the same messages store. The counters
 * (sig_verified, sig_skipped, reparsed) show the work done. */
#include "testutil.h"
#include "fixture.h"
#include "crypto.h"
#include "journal.h"
#include "keys.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN "vr-utrecht"
#define TOPIC  "grip.vr-utrecht"
#define EPOCH  0x5eedull

typedef struct {
    char           *trust_dir, *dir_view, *dir_parsed;
    knoop_key_t    *key;
    knoop_trust_t  *trust;
    knoop_journal_t *jv, *jp;           /* fed views, fed parsed envelopes */
} s_fix_t;

static int setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    f->trust_dir = tu_tmpdir("jview-trust");
    f->dir_view = tu_tmpdir("jview-view");
    f->dir_parsed = tu_tmpdir("jview-parsed");
    f->key = tu_key(ORIGIN, "region");
    assert_non_null(f->key);
    assert_int_equal(knoop_key_save(f->key, f->trust_dir, time(NULL) - 3600,
                                    time(NULL) + 86400), KNOOP_OK);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.key", f->trust_dir, ORIGIN);
    unlink(path);                       /* a trust store holds certificates only */
    assert_int_equal(knoop_trust_load(f->trust_dir, 0, &f->trust), KNOOP_OK);
    knoop_journal_opts_t o = { .path = f->dir_view, .trust = f->trust };
    assert_int_equal(knoop_journal_open(&o, &f->jv), KNOOP_OK);
    o.path = f->dir_parsed;
    assert_int_equal(knoop_journal_open(&o, &f->jp), KNOOP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    s_fix_t *f = *state;
    knoop_journal_destroy(&f->jv);
    knoop_journal_destroy(&f->jp);
    knoop_trust_destroy(&f->trust);
    knoop_key_destroy(&f->key);
    tu_rmtree(f->trust_dir);
    tu_rmtree(f->dir_view);
    tu_rmtree(f->dir_parsed);
    free(f);
    return 0;
}

/* The stream as the node builds it: seq, prev and hlc assigned here. */
typedef struct {
    uint64_t seq;
    uint8_t  head[KNOOP_HASH_LEN];
} s_stream_t;

static void s_view(s_stream_t *s, knoop_msg_t *m, const char *key)
{
    char payload[64];
    int n = snprintf(payload, sizeof payload, "level %llu", (unsigned long long) s->seq + 1);
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = ORIGIN, .topic = TOPIC, .epoch = EPOCH,
        .seq = s->seq + 1, .hlc = ((uint64_t) 1700000000000ull + s->seq) << 16,
        .key = key, .type = "bench.Opaque", .priority = KNOOP_PRIO_ROUTINE,
        .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
        .payload = (const uint8_t *) payload, .payload_len = (size_t) n,
    };
    memcpy(b.prev, s->head, KNOOP_HASH_LEN);
    assert_int_equal(knoop_msg_build_view(&b, 0, m), KNOOP_OK);
    s->seq++;
    memcpy(s->head, m->chain, KNOOP_HASH_LEN);
}

/* The same message as the wire carries it: packed and parsed (not signed
 * here, so the journal verifies a signature). */
static void s_parsed(const knoop_msg_t *view, knoop_msg_t *out)
{
    knoop_buf_t env = { 0 };
    assert_int_equal(knoop_msg_pack(view, &env), KNOOP_OK);
    assert_int_equal(knoop_msg_parse(out, env.data, env.len), KNOOP_OK);
    assert_false(out->signed_here);
    knoop_buf_free(&env);
}

/* Append views[0..n) to the view journal and their parsed copies to the
 * other; every message stored in both. */
static void s_append_both(s_fix_t *f, knoop_msg_t *views, size_t n)
{
    const knoop_msg_t *pv[64], *pp[64];
    knoop_msg_t parsed[64];
    int rv[64], rp[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        s_parsed(&views[i], &parsed[i]);
        pv[i] = &views[i];
        pp[i] = &parsed[i];
    }
    assert_int_equal(knoop_journal_append(f->jv, pv, n, rv), KNOOP_OK);
    assert_int_equal(knoop_journal_append(f->jp, pp, n, rp), KNOOP_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rv[i], KNOOP_OK);
        assert_int_equal(rp[i], KNOOP_OK);
        knoop_msg_clear(&parsed[i]);
    }
}

typedef struct {
    uint64_t seqs[128];
    uint8_t  envs[128][KNOOP_HASH_LEN];     /* hash of each envelope */
    size_t   n;
} s_seen_t;

static int s_take(void *arg, uint64_t pos, uint64_t stream, uint64_t seq, const uint8_t *env,
                  size_t len)
{
    (void) pos;
    (void) stream;
    s_seen_t *s = arg;
    assert_true(s->n < 128);
    s->seqs[s->n] = seq;
    knoop_hash(s->envs[s->n], env, len);
    s->n++;
    return 0;
}

static int s_state_take(void *arg, const char *topic, const char *key, uint64_t stream,
                        uint64_t seq, const uint8_t *env, size_t len)
{
    (void) topic;
    (void) key;
    return s_take(arg, 0, stream, seq, env, len);
}

/* Both journals hold the same: verified log (order and bytes), stream rows
 * (vector digest) and picture. */
static void s_assert_same(s_fix_t *f, size_t want_verified)
{
    s_seen_t a = { 0 }, b = { 0 };
    uint64_t next;
    assert_int_equal(knoop_journal_tail_verified(f->jv, 1, 0, s_take, &a, &next), KNOOP_OK);
    assert_int_equal(knoop_journal_tail_verified(f->jp, 1, 0, s_take, &b, &next), KNOOP_OK);
    assert_int_equal(a.n, want_verified);
    assert_int_equal(b.n, want_verified);
    for (size_t i = 0; i < a.n; i++) {
        assert_true(a.seqs[i] == i + 1);
        assert_true(b.seqs[i] == i + 1);
        assert_memory_equal(a.envs[i], b.envs[i], KNOOP_HASH_LEN);
    }
    knoop_stream_info_t *ra, *rb;
    size_t na, nb;
    uint8_t da[KNOOP_HASH_LEN], db[KNOOP_HASH_LEN];
    assert_int_equal(knoop_journal_vector(f->jv, NULL, &ra, &na), KNOOP_OK);
    assert_int_equal(knoop_journal_vector(f->jp, NULL, &rb, &nb), KNOOP_OK);
    assert_int_equal(na, 1);
    assert_int_equal(nb, 1);
    assert_true(ra[0].verified == want_verified);
    assert_true(rb[0].verified == want_verified);
    knoop_vector_digest(ra, na, da);
    knoop_vector_digest(rb, nb, db);
    assert_memory_equal(da, db, KNOOP_HASH_LEN);
    free(ra);
    free(rb);
    s_seen_t sa = { 0 }, sb = { 0 };
    assert_int_equal(knoop_journal_state(f->jv, NULL, s_state_take, &sa), KNOOP_OK);
    assert_int_equal(knoop_journal_state(f->jp, NULL, s_state_take, &sb), KNOOP_OK);
    assert_int_equal(sa.n, sb.n);
    for (size_t i = 0; i < sa.n; i++) {
        assert_true(sa.seqs[i] == sb.seqs[i]);
        assert_memory_equal(sa.envs[i], sb.envs[i], KNOOP_HASH_LEN);
    }
}

static void test_publish_batch_parse_once(void **state)
{
    s_fix_t *f = *state;
    s_stream_t s = { 0 };
    knoop_msg_t views[64];
    const uint8_t *sk = knoop_key_secret(f->key);

    /* A publish batch of 10, head signed in place: nothing read back, the
     * own signature not verified (but counted as skipped). */
    for (int i = 0; i < 10; i++)
        s_view(&s, &views[i], i % 2 ? "a" : "b");
    knoop_msg_sign(&views[9], sk);
    s_append_both(f, views, 10);
    knoop_journal_stats_t sv, sp;
    knoop_journal_stats(f->jv, &sv);
    knoop_journal_stats(f->jp, &sp);
    assert_true(sv.stored == 10);
    assert_true(sv.sig_verified == 0);
    assert_true(sv.sig_skipped == 1);
    assert_true(sv.reparsed == 0);
    /* the journal fed parsed envelopes verifies the same head, and it too
     * takes the batch's own views for the walk */
    assert_true(sp.sig_verified == 1);
    assert_true(sp.reparsed == 0);
    s_assert_same(f, 10);
    for (int i = 0; i < 10; i++)
        knoop_msg_clear(&views[i]);

    /* Five unsigned in one batch, their head in the next: the walk takes
     * the five the earlier commit stored from what that commit kept of
     * them, and reads nothing back. */
    for (int i = 0; i < 6; i++)
        s_view(&s, &views[i], "a");
    s_append_both(f, views, 5);
    s_assert_same(f, 10);               /* not verified yet */
    knoop_msg_sign(&views[5], sk);
    s_append_both(f, views + 5, 1);
    knoop_journal_stats(f->jv, &sv);
    knoop_journal_stats(f->jp, &sp);
    assert_true(sv.reparsed == 0);
    assert_true(sp.reparsed == 0);
    assert_true(sv.pending_taken == 5);
    assert_true(sp.pending_taken == 5);
    assert_true(sv.sig_verified == 0);
    assert_true(sv.sig_skipped == 2);
    assert_true(sp.sig_verified == 2);
    s_assert_same(f, 16);
    for (int i = 0; i < 6; i++)
        knoop_msg_clear(&views[i]);

    /* The same messages again: duplicates, nothing changes. */
    s_stream_t again = { 0 };
    for (int i = 0; i < 10; i++)
        s_view(&again, &views[i], i % 2 ? "a" : "b");
    knoop_msg_sign(&views[9], sk);
    const knoop_msg_t *pv[10];
    int rv[10];
    for (int i = 0; i < 10; i++)
        pv[i] = &views[i];
    assert_int_equal(knoop_journal_append(f->jv, pv, 10, rv), KNOOP_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(rv[i], KNOOP_EDUPLICATE);
    s_assert_same(f, 16);
    for (int i = 0; i < 10; i++)
        knoop_msg_clear(&views[i]);
}

/* What a commit keeps of messages no head covers yet is a cache: after a
 * restart (nothing kept) the walk reads them back, and when the stored
 * bytes of one change before its head comes (the same message arrives
 * signed, and the signed copy replaces the unsigned one) the walk must not
 * write a row naming the old bytes. Either way the verified log, rows and
 * picture are those of a journal that got everything in one batch. */
static void test_pending_is_a_cache(void **state)
{
    s_fix_t *f = *state;
    s_stream_t s = { 0 };
    knoop_msg_t views[16];
    const uint8_t *sk = knoop_key_secret(f->key);

    /* 1..4 unsigned, then the view journal restarts, then the head (5) */
    for (int i = 0; i < 5; i++)
        s_view(&s, &views[i], i % 2 ? "x" : "y");
    s_append_both(f, views, 4);
    knoop_journal_destroy(&f->jv);
    knoop_journal_opts_t o = { .path = f->dir_view, .trust = f->trust };
    assert_int_equal(knoop_journal_open(&o, &f->jv), KNOOP_OK);
    knoop_msg_sign(&views[4], sk);
    s_append_both(f, views + 4, 1);
    knoop_journal_stats_t sv, sp;
    knoop_journal_stats(f->jv, &sv);
    knoop_journal_stats(f->jp, &sp);
    assert_true(sv.reparsed == 4 && sv.pending_taken == 0);
    assert_true(sp.reparsed == 0 && sp.pending_taken == 4);
    s_assert_same(f, 5);
    for (int i = 0; i < 5; i++)
        knoop_msg_clear(&views[i]);

    /* 6..9 unsigned; then 9 again, signed: it replaces the stored copy
     * (new bytes, new check) and covers 6..9 */
    for (int i = 0; i < 4; i++)
        s_view(&s, &views[i], "z");
    s_append_both(f, views, 4);
    knoop_msg_sign(&views[3], sk);      /* the same body, now a head */
    const knoop_msg_t *pv[1] = { &views[3] };
    knoop_msg_t parsed;
    s_parsed(&views[3], &parsed);
    const knoop_msg_t *pp[1] = { &parsed };
    int rv[1], rp[1];
    assert_int_equal(knoop_journal_append(f->jv, pv, 1, rv), KNOOP_OK);
    assert_int_equal(knoop_journal_append(f->jp, pp, 1, rp), KNOOP_OK);
    assert_int_equal(rv[0], KNOOP_EDUPLICATE);
    assert_int_equal(rp[0], KNOOP_EDUPLICATE);
    knoop_msg_clear(&parsed);
    /* every row the walk wrote names the bytes now stored: the verified
     * log reads through without meeting "damage" */
    s_assert_same(f, 9);
    knoop_journal_stats(f->jv, &sv);
    assert_true(sv.damaged_rows == 0 && sv.damaged == 0);
    knoop_journal_stats(f->jp, &sp);
    assert_true(sp.damaged_rows == 0 && sp.damaged == 0);
    for (int i = 0; i < 4; i++)
        knoop_msg_clear(&views[i]);
}

/* A view signed here is still refused when its origin is unknown to the
 * trust store: only the signature check is skipped. */
static void test_signed_here_unknown_origin(void **state)
{
    s_fix_t *f = *state;
    knoop_key_t *other = tu_key("ws-rijnland", "waterschap");
    assert_non_null(other);
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = "ws-rijnland", .topic = "water.ws-rijnland",
        .epoch = 1, .seq = 1, .hlc = (uint64_t) 1700000000000ull << 16, .key = "",
        .type = "bench.Opaque", .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
    };
    knoop_msg_t m;
    assert_int_equal(knoop_msg_build_view(&b, 0, &m), KNOOP_OK);
    knoop_msg_sign(&m, knoop_key_secret(other));
    const knoop_msg_t *pm[1] = { &m };
    int r;
    assert_int_equal(knoop_journal_append(f->jv, pm, 1, &r), KNOOP_OK);
    assert_int_equal(r, KNOOP_EUNKNOWN);
    knoop_msg_clear(&m);
    knoop_key_destroy(&other);
}

/* knoop_journal_commit: messages and cursors in one transaction (one
 * commit), cursors alone, and a bad cursor name refuses the whole commit. */
static void test_commit_with_cursors(void **state)
{
    s_fix_t *f = *state;
    s_stream_t s = { 0 };
    knoop_msg_t views[3];
    for (int i = 0; i < 3; i++)
        s_view(&s, &views[i], "");
    knoop_msg_sign(&views[2], knoop_key_secret(f->key));
    const knoop_msg_t *pv[3] = { &views[0], &views[1], &views[2] };
    int res[3];
    knoop_journal_stats_t st0, st1;
    knoop_journal_stats(f->jv, &st0);
    knoop_journal_cursor_t cur[2] = { { "sub:a", "\0\0\0\0\0\0\0\3", 8 },
                                      { "sub:b", "xyz", 3 } };
    assert_int_equal(knoop_journal_commit(f->jv, pv, 3, res, 0, cur, 2), KNOOP_OK);
    knoop_journal_stats(f->jv, &st1);
    assert_true(st1.commits == st0.commits + 1);      /* one transaction */
    assert_true(st1.stored == st0.stored + 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(res[i], KNOOP_OK);
    knoop_buf_t c = { 0 };
    assert_int_equal(knoop_journal_cursor_get(f->jv, "sub:a", &c), KNOOP_OK);
    assert_int_equal(c.len, 8);
    assert_memory_equal(c.data, "\0\0\0\0\0\0\0\3", 8);
    c.len = 0;
    assert_int_equal(knoop_journal_cursor_get(f->jv, "sub:b", &c), KNOOP_OK);
    assert_int_equal(c.len, 3);
    assert_memory_equal(c.data, "xyz", 3);

    /* cursors alone: a commit of its own */
    knoop_journal_cursor_t one = { "sub:a", "\0\0\0\0\0\0\0\5", 8 };
    assert_int_equal(knoop_journal_commit(f->jv, NULL, 0, NULL, 0, &one, 1), KNOOP_OK);
    knoop_journal_stats(f->jv, &st0);
    assert_true(st0.commits == st1.commits + 1);
    c.len = 0;
    assert_int_equal(knoop_journal_cursor_get(f->jv, "sub:a", &c), KNOOP_OK);
    assert_memory_equal(c.data, "\0\0\0\0\0\0\0\5", 8);

    /* nothing at all: no transaction */
    assert_int_equal(knoop_journal_commit(f->jv, NULL, 0, NULL, 0, NULL, 0), KNOOP_OK);
    knoop_journal_stats(f->jv, &st1);
    assert_true(st1.commits == st0.commits);

    /* a cursor without a name: refused before anything is written */
    for (int i = 0; i < 3; i++)
        knoop_msg_clear(&views[i]);
    s_view(&s, &views[0], "");
    knoop_msg_sign(&views[0], knoop_key_secret(f->key));
    knoop_journal_cursor_t bad[2] = { { "sub:a", "\0\0\0\0\0\0\0\11", 8 }, { "", "x", 1 } };
    assert_int_equal(knoop_journal_commit(f->jv, pv, 1, res, 0, bad, 2), KNOOP_EINVAL);
    knoop_journal_stats(f->jv, &st0);
    assert_true(st0.stored == st1.stored);
    c.len = 0;
    assert_int_equal(knoop_journal_cursor_get(f->jv, "sub:a", &c), KNOOP_OK);
    assert_memory_equal(c.data, "\0\0\0\0\0\0\0\5", 8);
    knoop_buf_free(&c);
    knoop_msg_clear(&views[0]);
}

int main(void)
{
    if (knoop_crypto_init() != KNOOP_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_batch_parse_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_is_a_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_here_unknown_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_with_cursors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
