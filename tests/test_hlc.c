/*
 * test_hlc.c — the hybrid logical clock never runs backwards, stays at wall
 * time when it can, and orders a receive after what was received.
 */
#include "testutil.h"
#include "hlc.h"

#include <stdbool.h>
#include <stdlib.h>

#define T0 1700000000000ull     /* a plausible wall clock in ms */

/* The clock's tick at wall time `wall`, which must come after *prev (an
 * HLC never repeats or goes back); *prev becomes it. */
static uint64_t s_next(knoop_hlc_t *c, uint64_t wall, uint64_t *prev)
{
    uint64_t t = knoop_hlc_tick(c, wall);
    assert_true(t > *prev);
    *prev = t;
    return t;
}

static void test_make_and_fields(void **state)
{
    uint64_t t = KNOOP_HLC_MAKE(T0, 7);
    assert_true(KNOOP_HLC_MS(t) == T0);
    assert_true(KNOOP_HLC_COUNT(t) == 7);
    /* the counter is masked to 16 bits */
    assert_true(KNOOP_HLC_MAKE(T0, 0x10005) == KNOOP_HLC_MAKE(T0, 5));
    /* timestamps order by ms first, then counter */
    assert_true(KNOOP_HLC_MAKE(T0, 0xffff) < KNOOP_HLC_MAKE(T0 + 1, 0));
}

static void test_first_tick_is_wall(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t t = knoop_hlc_tick(&c, T0);
    assert_true(t == KNOOP_HLC_MAKE(T0, 0));
    assert_true(c.last == t);
}

static void test_counter_within_ms(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t prev = knoop_hlc_tick(&c, T0);
    for (unsigned i = 1; i < 100; i++) {
        uint64_t t = s_next(&c, T0, &prev);
        assert_true(KNOOP_HLC_MS(t) == T0);
        assert_true(KNOOP_HLC_COUNT(t) == i);
    }
    /* the wall clock moves on: back to counter 0 at the new ms */
    uint64_t t = knoop_hlc_tick(&c, T0 + 1);
    assert_true(t == KNOOP_HLC_MAKE(T0 + 1, 0));
}

static void test_wall_backwards(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t prev = knoop_hlc_tick(&c, T0);
    /* the wall clock jumps back an hour, then creeps forward */
    for (uint64_t w = T0 - 3600000; w < T0 - 3600000 + 50; w++) {
        uint64_t t = s_next(&c, w, &prev);
        assert_true(KNOOP_HLC_MS(t) == T0);   /* held at the old time */
    }
    /* a clock that goes back and forth at random still never repeats */
    srand(tu_seed());
    for (int i = 0; i < 100000; i++) {
        uint64_t w = T0 + (uint64_t) (rand() % 2000) - 1000;
        bool wall_ahead = w > KNOOP_HLC_MS(prev);
        uint64_t t = s_next(&c, w, &prev);
        if (wall_ahead)
            assert_true(t == KNOOP_HLC_MAKE(w, 0));
    }
}

static void test_stays_at_wall(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t prev = 0;
    for (uint64_t w = T0; w < T0 + 1000; w += 3) {
        uint64_t t = s_next(&c, w, &prev);
        /* wall is ahead of the clock: the ms part is the wall */
        assert_true(KNOOP_HLC_MS(t) == w);
        assert_true(KNOOP_HLC_COUNT(t) == 0);
    }
    /* after a burst ran ahead in the counter, the clock rejoins the wall
     * as soon as the wall passes it */
    for (int i = 0; i < 70000; i++)
        prev = knoop_hlc_tick(&c, T0 + 1000);
    assert_true(KNOOP_HLC_MS(prev) == T0 + 1001);
    uint64_t t = knoop_hlc_tick(&c, T0 + 1002);
    assert_true(t == KNOOP_HLC_MAKE(T0 + 1002, 0));
}

static void test_counter_exhaustion(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t prev = knoop_hlc_tick(&c, T0);
    /* 65536 ticks in one ms and beyond: strictly increasing, and borrowing
     * the next ms instead of wrapping the counter */
    for (unsigned i = 1; i < 3 * 65536u; i++) {
        uint64_t before = prev;
        assert_true(s_next(&c, T0, &prev) == before + 1);
    }
    assert_true(KNOOP_HLC_MS(prev) == T0 + 2);
    assert_true(KNOOP_HLC_COUNT(prev) == 0xffff);
    uint64_t t = knoop_hlc_tick(&c, T0);
    assert_true(t == KNOOP_HLC_MAKE(T0 + 3, 0));
}

static void test_observe_ahead(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    knoop_hlc_tick(&c, T0);
    /* a remote clock 5 s ahead of ours */
    uint64_t remote = KNOOP_HLC_MAKE(T0 + 5000, 42);
    uint64_t t = knoop_hlc_observe(&c, remote, T0 + 1);
    assert_true(t > remote);
    assert_true(c.last == t);
    /* our next event comes after what we received */
    uint64_t t2 = knoop_hlc_tick(&c, T0 + 2);
    assert_true(t2 > remote);
    assert_true(t2 > t);
    /* and once wall catches up, the clock follows the wall again */
    uint64_t t3 = knoop_hlc_tick(&c, T0 + 6000);
    assert_true(t3 == KNOOP_HLC_MAKE(T0 + 6000, 0));
}

static void test_observe_behind(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t now = knoop_hlc_tick(&c, T0 + 10);
    uint64_t t = knoop_hlc_observe(&c, KNOOP_HLC_MAKE(T0 - 5000, 3), T0 + 10);
    assert_true(t > now);                       /* never back */
    assert_true(KNOOP_HLC_MS(t) == T0 + 10);
    /* an old remote with a wall clock ahead: the wall wins */
    t = knoop_hlc_observe(&c, KNOOP_HLC_MAKE(T0, 0), T0 + 20);
    assert_true(t == KNOOP_HLC_MAKE(T0 + 20, 0));
    /* the same timestamp as ours: strictly after it */
    uint64_t same = c.last;
    t = knoop_hlc_observe(&c, same, T0 + 20);
    assert_true(t > same);
    /* zero (no clock) from the remote changes nothing but the tick */
    uint64_t before = c.last;
    t = knoop_hlc_observe(&c, 0, 0);
    assert_true(t == before + 1);
}

static void test_init_persisted(void **state)
{
    knoop_hlc_t c;
    uint64_t persisted = KNOOP_HLC_MAKE(T0 + 100, 9);
    knoop_hlc_init(&c, persisted);
    /* a restart with the wall clock behind the persisted value */
    uint64_t t = knoop_hlc_tick(&c, T0);
    assert_true(t > persisted);
    assert_true(t == persisted + 1);
}

/* A hostile or broken remote timestamp at the very top of the range must
 * not wrap the clock back to zero. */
static void test_observe_extreme(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t prev = knoop_hlc_tick(&c, T0);
    uint64_t extremes[] = { UINT64_MAX - 2, UINT64_MAX - 1, UINT64_MAX, UINT64_MAX };
    for (size_t i = 0; i < sizeof extremes / sizeof *extremes; i++) {
        uint64_t t = knoop_hlc_observe(&c, extremes[i], T0);
        assert_true(t >= prev);
        assert_true(t >= extremes[i]);
        prev = t;
    }
    for (int i = 0; i < 3; i++) {
        uint64_t t = knoop_hlc_tick(&c, T0);
        assert_true(t >= prev);
        prev = t;
    }
    /* also from a persisted value at the top */
    knoop_hlc_init(&c, UINT64_MAX);
    assert_true(knoop_hlc_tick(&c, T0) == UINT64_MAX);
}

/* Two clocks exchanging messages: every receive is ordered after its send
 * (the causality property), whatever the clock skew. */
static void test_two_clocks_causality(void **state)
{
    knoop_hlc_t a, b;
    knoop_hlc_init(&a, 0);
    knoop_hlc_init(&b, 0);
    srand(tu_seed() + 1);
    uint64_t wa = T0 + 3000, wb = T0;     /* a runs 3 s ahead of b */
    uint64_t last_a = 0, last_b = 0;
    for (int i = 0; i < 20000; i++) {
        wa += (uint64_t) (rand() % 2);
        wb += (uint64_t) (rand() % 2);
        knoop_hlc_t *from = (rand() & 1) ? &a : &b;
        knoop_hlc_t *to = from == &a ? &b : &a;
        uint64_t sent = knoop_hlc_tick(from, from == &a ? wa : wb);
        uint64_t got = knoop_hlc_observe(to, sent, to == &a ? wa : wb);
        assert_true(got > sent);
        uint64_t *la = from == &a ? &last_a : &last_b;
        uint64_t *lb = to == &a ? &last_a : &last_b;
        assert_true(sent > *la);
        assert_true(got > *lb);
        *la = sent;
        *lb = got;
    }
    /* b was dragged along by a's clock, but only by what it received */
    assert_true(KNOOP_HLC_MS(b.last) <= wa + 1);
}

static void test_now(void **state)
{
    knoop_hlc_t c;
    knoop_hlc_init(&c, 0);
    uint64_t before = knoop_now_ms();
    uint64_t prev = knoop_hlc_now(&c);
    assert_true(KNOOP_HLC_MS(prev) >= before);
    for (int i = 0; i < 1000; i++) {
        uint64_t t = knoop_hlc_now(&c);
        assert_true(t > prev);
        prev = t;
    }
    assert_true(KNOOP_HLC_MS(prev) <= knoop_now_ms() + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_and_fields),
        cmocka_unit_test(test_first_tick_is_wall),
        cmocka_unit_test(test_counter_within_ms),
        cmocka_unit_test(test_wall_backwards),
        cmocka_unit_test(test_stays_at_wall),
        cmocka_unit_test(test_counter_exhaustion),
        cmocka_unit_test(test_observe_ahead),
        cmocka_unit_test(test_observe_behind),
        cmocka_unit_test(test_init_persisted),
        cmocka_unit_test(test_observe_extreme),
        cmocka_unit_test(test_two_clocks_causality),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
