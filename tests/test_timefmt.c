/* test_timefmt.c — the text forms of time (lib/timefmt.h): our own UTC
 * form, RFC 3339 and the CAP dateTime, against timegm and against each
 * other, with every field at and past its bound. */
#include "testutil.h"
#include "timefmt.h"
#include "knoop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void test_utc_round_trip(void **state)
{
    srand(tu_seed());
    char text[21];
    int64_t back;
    for (int i = 0; i < 20000; i++) {
        int64_t t = KNOOP_TIME_MIN + (int64_t) (((uint64_t) rand() << 31 | (uint64_t) rand()) %
                                                (uint64_t) (KNOOP_TIME_MAX - KNOOP_TIME_MIN));
        knoop_time_format(text, t);
        assert_int_equal(knoop_time_parse(text, &back), KNOOP_OK);
        assert_true(back == t);
    }
    knoop_time_format(text, KNOOP_TIME_MAX + 1000);       /* clamped */
    assert_string_equal(text, "9999-12-31T23:59:59Z");
    knoop_time_format(text, KNOOP_TIME_MIN - 1000);
    assert_string_equal(text, "0000-01-01T00:00:00Z");
    assert_int_equal(knoop_time_parse("2026-12-01T06:20:44Z", &back), KNOOP_OK);
    assert_true(back == 1796106044);
}

static void test_rfc3339(void **state)
{
    int64_t t;
    assert_int_equal(knoop_time_parse_rfc3339("2021-07-14T18:00:00+02:00", &t), KNOOP_OK);
    assert_true(t == 1626278400);
    assert_int_equal(knoop_time_parse_rfc3339("2021-07-14T16:00:00.250Z", &t), KNOOP_OK);
    assert_true(t == 1626278400);
    assert_int_equal(knoop_time_parse_rfc3339("2021-07-14t16:00:00z", &t), KNOOP_OK);
    assert_int_equal(knoop_time_parse_rfc3339("2021-07-14T10:30:00-05:30", &t), KNOOP_OK);
    assert_true(t == 1626278400);
    static const char *const bad[] = {
        "2021-07-14T18:00:00", "2021-07-14 18:00:00Z", "2021-02-30T00:00:00Z",
        "2021-07-14T18:00:00.Z", "2021-07-14T18:00:00.1234567890Z", "2021-07-14T18:00:00+2:00",
        "2021-07-14T18:00:00+24:00", "2021-07-14T24:00:00Z", "", "x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (knoop_time_parse_rfc3339(bad[i], &t) != KNOOP_EMALFORMED)
            fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(knoop_time_parse_rfc3339(NULL, &t), KNOOP_EMALFORMED);
}

static void test_cap_parse(void **state)
{
    int64_t t;
    int off;
    assert_int_equal(knoop_time_parse_cap("2021-07-14T23:45:00+02:00", &t, &off), KNOOP_OK);
    assert_true(t == 1626299100);
    assert_int_equal(off, 7200);
    assert_int_equal(knoop_time_parse_cap("2021-07-14T21:45:00-00:00", &t, &off), KNOOP_OK);
    assert_true(t == 1626299100);
    assert_int_equal(off, 0);
    assert_int_equal(knoop_time_parse_cap("2021-07-14T16:15:00-05:30", &t, &off), KNOOP_OK);
    assert_true(t == 1626299100);
    assert_int_equal(off, -19800);
    /* Check only. */
    assert_int_equal(knoop_time_parse_cap("2024-02-29T00:00:00+14:59", NULL, NULL), KNOOP_OK);
    /* A leap second is a CAP dateTime; in Unix time it is the next one. */
    assert_int_equal(knoop_time_parse_cap("2016-12-31T23:59:60+00:00", &t, NULL), KNOOP_OK);
    assert_true(t == 1483228800);
    static const char *const bad[] = {
        "2021-07-14T23:45:00Z",          /* CAP: no Z */
        "2021-07-14T23:45:00.5+02:00",   /* no fraction */
        "2021-07-14T23:45:00",           /* zone required */
        "2021-07-14 23:45:00+02:00", "2021-07-14T23:45:00+0200", "2021-7-14T23:45:00+02:00",
        "2021-13-14T23:45:00+02:00", "2021-00-14T23:45:00+02:00", "2021-07-32T23:45:00+02:00",
        "2021-07-00T23:45:00+02:00", "2021-04-31T00:00:00+00:00", "2023-02-29T00:00:00+00:00",
        "1900-02-29T00:00:00+00:00", "2021-07-14T24:00:00+02:00", "2021-07-14T23:60:00+02:00",
        "2021-07-14T23:45:61+02:00", "2021-07-14T23:45:00+15:00", "2021-07-14T23:45:00+02:60",
        "2021-07-14T23:45:00+02:00 ", "+021-07-14T23:45:00+02:00", "", "x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (knoop_time_parse_cap(bad[i], &t, &off) != KNOOP_EMALFORMED)
            fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(knoop_time_parse_cap(NULL, &t, &off), KNOOP_EMALFORMED);
    assert_int_equal(knoop_time_parse_cap("2000-02-29T12:00:00+01:00", &t, NULL), KNOOP_OK);
}

static void test_cap_format_round_trip(void **state)
{
    static const int offsets[] = { 0, 3600, 7200, -18000, -19800, 20700, 14 * 3600 + 59 * 60,
                                   -(14 * 3600 + 59 * 60) };
    srand(tu_seed());
    char text[26];
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++)
        for (int i = 0; i < 2000; i++) {
            int64_t t = (int64_t) (((uint64_t) rand() << 31 | (uint64_t) rand()) % 4102444800u);
            knoop_time_format_cap(text, t, offsets[k]);
            assert_int_equal(strlen(text), 25);
            int64_t back;
            int off;
            if (knoop_time_parse_cap(text, &back, &off) != KNOOP_OK)
                fail_msg("'%s' does not parse", text);
            assert_true(back == t);
            assert_int_equal(off, offsets[k]);
            /* The same instant in our UTC form. */
            char utc[21];
            knoop_time_format(utc, t);
            int64_t u;
            assert_int_equal(knoop_time_parse(utc, &u), KNOOP_OK);
            assert_true(u == t);
            /* And RFC 3339 reads a CAP dateTime as the same instant. */
            assert_int_equal(knoop_time_parse_rfc3339(text, &u), KNOOP_OK);
            assert_true(u == t);
        }
    knoop_time_format_cap(text, 1626299100, 7200);
    assert_string_equal(text, "2021-07-14T23:45:00+02:00");
    knoop_time_format_cap(text, 1626299100, -19800);
    assert_string_equal(text, "2021-07-14T16:15:00-05:30");
    knoop_time_format_cap(text, 0, 0);
    assert_string_equal(text, "1970-01-01T00:00:00+00:00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc_round_trip),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_cap_parse),
        cmocka_unit_test(test_cap_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
