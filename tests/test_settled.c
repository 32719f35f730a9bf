/* test_settled.c — the settled summary of a HELLO (lib/settled.h) on real
 * journals: a node's summary against a broker's recomputation from its own
 * journal, bucket by bucket. */
#include "testutil.h"
#include "hlc.h"
#include "journal.h"
#include "settled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTREAMS 24
#define NMSGS    5

typedef struct {
    char            *dir[2];
    knoop_journal_t *node, *broker;
    tu_stream_t      s[NSTREAMS];
    uint64_t         id[NSTREAMS];
} fixture_t;

static uint64_t s_ms(uint64_t ms)
{
    return KNOOP_HLC_MAKE(ms, 0);
}

static knoop_journal_t *s_open(const char *dir)
{
    knoop_journal_opts_t o = { .path = dir };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    return j;
}

/* The next message of stream i, dated ms, appended to each journal given. */
static void s_put(fixture_t *f, int i, uint64_t at_ms, knoop_journal_t *a, knoop_journal_t *b)
{
    knoop_buf_t buf = { 0 };
    knoop_msg_t m;
    tu_stream_next(&f->s[i], &buf, &m, s_ms(at_ms), NULL, KNOOP_STATUS_ACTUAL, "p");
    const knoop_msg_t *ms[1] = { &m };
    int res;
    knoop_journal_t *js[2] = { a, b };
    for (int k = 0; k < 2; k++)
        if (js[k]) {
            assert_int_equal(knoop_journal_append(js[k], ms, 1, &res), KNOOP_OK);
            assert_int_equal(res, KNOOP_OK);
        }
    f->id[i] = m.stream;
    knoop_msg_clear(&m);
    knoop_buf_free(&buf);
}

/* NSTREAMS streams of NMSGS messages (dated 1000 ms on) in both journals,
 * each stream in a bucket of its own. */
static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir[0] = tu_tmpdir("settled-node");
    f->dir[1] = tu_tmpdir("settled-broker");
    f->node = s_open(f->dir[0]);
    f->broker = s_open(f->dir[1]);
    uint8_t used[KNOOP_WIRE_BUCKETS] = { 0 };
    uint64_t epoch = 1;
    for (int i = 0; i < NSTREAMS; i++) {
        for (;; epoch++) {
            uint64_t id = knoop_stream_id("vr-utrecht", "sitrep.vr-utrecht", epoch);
            if (!used[knoop_settled_bucket(id)]) {
                used[knoop_settled_bucket(id)] = 1;
                break;
            }
        }
        tu_stream_init(&f->s[i], "vr-utrecht", "sitrep.vr-utrecht", epoch++, NULL);
        for (int k = 0; k < NMSGS; k++)
            s_put(f, i, 1000 + (uint64_t) k, f->node, f->broker);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    knoop_journal_destroy(&f->node);
    knoop_journal_destroy(&f->broker);
    for (int k = 0; k < 2; k++)
        tu_rmtree(f->dir[k]);
    free(f);
    return 0;
}

/* The node's HELLO as of t: what it names (counted in *named), the rest in
 * its buckets. */
static void s_node_summary(knoop_journal_t *j, uint64_t t, knoop_settled_t *st, size_t *named)
{
    knoop_stream_info_t *rows;
    size_t n;
    assert_int_equal(knoop_journal_vector(j, NULL, &rows, &n), KNOOP_OK);
    knoop_settled_init(st);
    *named = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].hwm || !knoop_settled_candidate(&rows[i], "vr-zeeland", true, NULL, 0))
            continue;
        if (knoop_settled_named(&rows[i], t, false))
            (*named)++;
        else
            knoop_settled_add(st, rows[i].stream, rows[i].hwm, rows[i].head);
    }
    knoop_settled_end(st);
    free(rows);
}

typedef struct {
    uint8_t  matched[KNOOP_WIRE_BUCKETS / 8];
    uint32_t nmatched, nmissed;
    uint64_t p[NSTREAMS];           /* where the broker plans stream i from */
} verdict_t;

/* The broker's side: every stream recomputed as of t, compared. */
static void s_broker_verdict(fixture_t *f, uint64_t t, const knoop_settled_t *node,
                             verdict_t *v)
{
    knoop_stream_info_t *rows;
    size_t n;
    assert_int_equal(knoop_journal_vector(f->broker, NULL, &rows, &n), KNOOP_OK);
    knoop_settled_t *st = malloc(sizeof *st);
    assert_non_null(st);
    knoop_settled_init(st);
    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        uint64_t p;
        uint8_t head[KNOOP_HASH_LEN];
        assert_int_equal(knoop_settled_point(f->broker, &rows[i], t, &p, head), KNOOP_OK);
        if (p)
            knoop_settled_add(st, rows[i].stream, p, head);
        for (int k = 0; k < NSTREAMS; k++)
            if (f->id[k] == rows[i].stream)
                v->p[k] = p;
    }
    knoop_settled_end(st);
    knoop_settled_compare(st, node->bucket, node->n, v->matched, &v->nmatched, &v->nmissed);
    free(st);
    free(rows);
}

/* The node's HELLO as of t and the broker's verdict on it. */
static void s_verdict_at(fixture_t *f, uint64_t t, verdict_t *v)
{
    knoop_settled_t *node = malloc(sizeof *node);
    assert_non_null(node);
    size_t named;
    s_node_summary(f->node, t, node, &named);
    s_broker_verdict(f, t, node, v);
    free(node);
}

static void test_same_content_matches(void **state)
{
    fixture_t *f = *state;
    uint64_t t = s_ms(2000);
    knoop_settled_t *node = malloc(sizeof *node);
    size_t named;
    s_node_summary(f->node, t, node, &named);
    assert_int_equal(named, 0);
    assert_int_equal(node->n, NSTREAMS);             /* a bucket each */
    assert_true(node->rows == NSTREAMS);
    verdict_t v;
    s_broker_verdict(f, t, node, &v);
    assert_int_equal(v.nmatched, NSTREAMS);
    assert_int_equal(v.nmissed, 0);
    for (int i = 0; i < NSTREAMS; i++)
        assert_true(v.p[i] == NMSGS);

    /* T before everything: the node names every stream. */
    s_node_summary(f->node, s_ms(500), node, &named);
    assert_int_equal(named, NSTREAMS);
    assert_int_equal(node->n, 0);
    free(node);
}

static void test_newer_at_broker_still_matches(void **state)
{
    fixture_t *f = *state;
    uint64_t t = s_ms(2000);
    for (int k = 0; k < 7; k++)                      /* after T: the node lacks them */
        s_put(f, 3, 3000 + (uint64_t) k, f->broker, NULL);
    knoop_stream_info_t r;
    assert_int_equal(knoop_journal_stream(f->broker, f->id[3], &r), KNOOP_OK);
    assert_true(r.hwm == NMSGS + 7);
    assert_true(r.last_hlc == s_ms(3006));
    /* and a stream begun after T, which the node does not have yet */
    tu_stream_t fresh;
    tu_stream_init(&fresh, "vr-zeeland", "sitrep.vr-zeeland", 77, NULL);
    knoop_buf_t buf = { 0 };
    for (int k = 0; k < 3; k++) {
        knoop_msg_t m;
        tu_stream_next(&fresh, &buf, &m, s_ms(3100 + (uint64_t) k), NULL, KNOOP_STATUS_ACTUAL,
                       "f");
        const knoop_msg_t *ms[1] = { &m };
        int res;
        assert_int_equal(knoop_journal_append(f->broker, ms, 1, &res), KNOOP_OK);
        if (k == 2) {
            assert_int_equal(knoop_journal_stream(f->broker, m.stream, &r), KNOOP_OK);
            uint64_t p = 99;
            uint8_t head[KNOOP_HASH_LEN];
            assert_int_equal(knoop_settled_point(f->broker, &r, t, &p, head), KNOOP_OK);
            assert_true(p == 0);                     /* sent whole, not counted */
        }
        knoop_msg_clear(&m);
    }
    knoop_buf_free(&buf);
    verdict_t v;
    s_verdict_at(f, t, &v);
    assert_int_equal(v.nmissed, 0);
    assert_int_equal(v.nmatched, NSTREAMS);
    assert_true(v.p[3] == NMSGS);                    /* planned from NMSGS + 1 */
}

static void test_late_arrival_misses_its_bucket(void **state)
{
    fixture_t *f = *state;
    uint64_t t = s_ms(2000);
    s_put(f, 5, 1500, f->broker, NULL);              /* dated before T, the node lacks it */
    verdict_t v;
    s_verdict_at(f, t, &v);
    assert_int_equal(v.nmissed, 1);
    assert_int_equal(v.nmatched, NSTREAMS - 1);
    for (int i = 0; i < NSTREAMS; i++)
        assert_int_equal(knoop_settled_bit(v.matched, knoop_settled_bucket(f->id[i])), i != 5);
}

static void test_row_broker_lacks_misses(void **state)
{
    fixture_t *f = *state;
    uint64_t t = s_ms(2000);
    tu_stream_t extra;
    uint64_t epoch = 100000, id;
    /* a stream in a bucket none of the others has */
    for (;; epoch++) {
        id = knoop_stream_id("vr-utrecht", "sitrep.vr-utrecht", epoch);
        bool taken = false;
        for (int i = 0; i < NSTREAMS; i++)
            taken |= knoop_settled_bucket(id) == knoop_settled_bucket(f->id[i]);
        if (!taken)
            break;
    }
    tu_stream_init(&extra, "vr-utrecht", "sitrep.vr-utrecht", epoch, NULL);
    knoop_buf_t buf = { 0 };
    knoop_msg_t m;
    tu_stream_next(&extra, &buf, &m, s_ms(1200), NULL, KNOOP_STATUS_ACTUAL, "x");
    const knoop_msg_t *ms[1] = { &m };
    int res;
    assert_int_equal(knoop_journal_append(f->node, ms, 1, &res), KNOOP_OK);
    knoop_msg_clear(&m);
    knoop_buf_free(&buf);

    knoop_settled_t *node = malloc(sizeof *node);
    size_t named;
    s_node_summary(f->node, t, node, &named);
    assert_int_equal(node->n, NSTREAMS + 1);
    verdict_t v;
    s_broker_verdict(f, t, node, &v);
    assert_int_equal(v.nmissed, 1);
    assert_int_equal(v.nmatched, NSTREAMS);
    assert_false(knoop_settled_bit(v.matched, knoop_settled_bucket(id)));
    free(node);
}

/* A stream with a hole beyond its hwm, or forked, or lowered for damage, is
 * named whatever its last hlc. */
static void test_named_rule(void **state)
{
    knoop_stream_info_t r = { .hwm = 4, .max_seq = 4, .last_hlc = s_ms(1000) };
    assert_false(knoop_settled_named(&r, s_ms(2000), false));
    assert_true(knoop_settled_named(&r, 0, false));               /* no T: all named */
    assert_true(knoop_settled_named(&r, s_ms(999), false));
    assert_true(knoop_settled_named(&r, s_ms(2000), true));
    r.max_seq = 6;
    assert_true(knoop_settled_named(&r, s_ms(2000), false));
    r.max_seq = 4;
    r.flags = KNOOP_STREAM_FORKED;
    assert_true(knoop_settled_named(&r, s_ms(2000), false));
    assert_true(knoop_settled_since(0, 0) == 0);
    assert_true(knoop_settled_since(s_ms(90000), 0) == s_ms(30000));
    assert_true(knoop_settled_since(s_ms(90000), 1000) == s_ms(89000));
    /* nothing recorded: name everything while it fits, else guess */
    assert_true(knoop_settled_as_of(0, 0, KNOOP_WIRE_VECTOR_MAX, s_ms(90000)) == 0);
    assert_true(knoop_settled_as_of(0, 0, KNOOP_WIRE_VECTOR_MAX + 1, s_ms(90000)) ==
                s_ms(30000));
    assert_true(knoop_settled_as_of(s_ms(80000), 0, KNOOP_WIRE_VECTOR_MAX + 1, s_ms(90000)) ==
                s_ms(20000));
}

/* More rows changed since T than a HELLO may name: the sender summarises as
 * of the later T it is given instead of sending a vector a broker refuses. */
static void test_too_many_named_fall_back_to_a_later_t(void **state)
{
    fixture_t *f = *state;
    size_t n = KNOOP_WIRE_VECTOR_MAX + 1;
    knoop_stream_info_t *rows = calloc(n, sizeof *rows);
    knoop_wire_pos_t *vec = calloc(n, sizeof *vec);
    knoop_settled_t *st = malloc(sizeof *st);
    assert_non_null(rows);
    assert_non_null(vec);
    assert_non_null(st);
    for (size_t i = 0; i < n; i++) {
        rows[i].stream = (uint64_t) (i + 1) << 20;        /* ascending, many buckets */
        snprintf(rows[i].origin, sizeof rows[i].origin, "vr-utrecht");
        snprintf(rows[i].topic, sizeof rows[i].topic, "sitrep.vr-utrecht");
        rows[i].epoch = i + 1;
        rows[i].hwm = rows[i].max_seq = rows[i].verified = 3;
        rows[i].head[0] = (uint8_t) i;
        rows[i].last_hlc = s_ms(5000);
    }
    size_t nvec = 99;
    /* no later T to fall back on: every row named, as before */
    uint64_t t = knoop_settled_hello(f->node, rows, n, s_ms(1000), s_ms(1000), "vr-utrecht",
                                     false, NULL, 0, "test", vec, &nvec, st, NULL);
    assert_true(t == s_ms(1000));
    assert_int_equal(nvec, n);
    /* a later T: all of them settle */
    t = knoop_settled_hello(f->node, rows, n, s_ms(1000), s_ms(9000), "vr-utrecht", false,
                            NULL, 0, "test", vec, &nvec, st, NULL);
    assert_true(t == s_ms(9000));
    assert_int_equal(nvec, 0);
    assert_true(st->rows == n);
    /* within the limit: the first T stands */
    t = knoop_settled_hello(f->node, rows, n - 1, s_ms(1000), s_ms(9000), "vr-utrecht", false,
                            NULL, 0, "test", vec, &nvec, st, NULL);
    assert_true(t == s_ms(1000));
    assert_int_equal(nvec, n - 1);
    free(st);
    free(vec);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_content_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_at_broker_still_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_arrival_misses_its_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_broker_lacks_misses, setup, teardown),
        cmocka_unit_test(test_named_rule),
        cmocka_unit_test_setup_teardown(test_too_many_named_fall_back_to_a_later_t, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
