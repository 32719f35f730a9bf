/* test_names.c — names, tokens and partner ids: the one definition every
 * part of knooppunt checks against (lib/names.h). */
#include "testutil.h"
#include "names.h"
#include "knoop.h"

#include <stdlib.h>
#include <string.h>

static void test_name_char(void **state)
{
    for (int c = 1; c < 256; c++) {
        bool want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        assert_int_equal(knoop_name_char((char) c), want);
    }
    assert_false(knoop_name_char('\0'));
}

typedef bool (*valid_fn)(const char *);

/* valid (named what) takes every one of good and none of bad; of `fill`
 * repeated, it takes max characters and refuses max + 1. */
static void s_check(const char *what, valid_fn valid, const char *const *good, size_t ngood,
                    const char *const *bad, size_t nbad, size_t max, char fill)
{
    for (size_t i = 0; i < ngood; i++)
        if (!valid(good[i]))
            fail_msg("%s refuses '%s'", what, good[i]);
    for (size_t i = 0; i < nbad; i++)
        if (valid(bad[i]))
            fail_msg("%s takes '%s'", what, bad[i] ? bad[i] : "(null)");
    char *s = malloc(max + 2);
    assert_non_null(s);
    memset(s, fill, max + 1);
    s[max + 1] = '\0';
    if (valid(s))
        fail_msg("%s takes %zu characters", what, max + 1);
    s[max] = '\0';
    if (!valid(s))
        fail_msg("%s refuses %zu characters", what, max);
    free(s);
}

#define S_CHECK(valid, good, bad, max, fill)                                      \
    s_check(#valid, valid, good, sizeof (good) / sizeof (good)[0], bad,           \
            sizeof (bad) / sizeof (bad)[0], max, fill)

static void test_name_valid(void **state)
{
    assert_true(knoop_name_valid("dashboard", 64));
    assert_true(knoop_name_valid("a", 1));
    assert_true(knoop_name_valid("_x-1", 8));
    assert_false(knoop_name_valid(NULL, 64));
    assert_false(knoop_name_valid("", 64));
    assert_false(knoop_name_valid("Dashboard", 64));
    assert_false(knoop_name_valid("a.b", 64));
    assert_false(knoop_name_valid("a b", 64));
    assert_false(knoop_name_valid("\xc3\xa9", 64));   /* é */
    char s[70];
    memset(s, 'x', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    s[64] = '\0';
    assert_true(knoop_name_valid(s, 64));
    s[64] = 'x';
    s[65] = '\0';
    assert_false(knoop_name_valid(s, 64));
    /* Not read past max + 1: a string without a terminator within reach. */
    char unterminated[4] = { 'a', 'b', 'c', 'd' };
    assert_false(knoop_name_valid(unterminated, 2));
}

static void test_id_valid(void **state)
{
    static const char *const good[] = { "vr-utrecht", "kcr2-broker-1", "9" };
    static const char *const bad[] = {
        "-vr", "vr_utrecht" /* ids appear in topics and files */, "VR-Utrecht", "", NULL,
        "vr/../x",
    };
    S_CHECK(knoop_id_valid, good, bad, KNOOP_ID_MAX, 'a');
}

static void test_type_name_valid(void **state)
{
    static const char *const good[] = {
        "" /* untyped bytes */, "knoop.crisis.v1.Sitrep", "a_b.C9",
    };
    static const char *const bad[] = { NULL, "knoop/crisis", "a-b", "a b", "\xc3\xa9" };
    S_CHECK(knoop_type_name_valid, good, bad, KNOOP_TYPE_MAX, 'T');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_char),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_type_name_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
