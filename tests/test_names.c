/* test_names.c — names, tokens and partner ids: the one definition every
 * part of knooppunt checks against (lib/names.h). */
#include "testutil.h"
#include "names.h"
#include "knoop.h"

#include <string.h>

static void test_name_char(void **state)
{
    for (int c = 1; c < 256; c++) {
        bool want = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        assert_int_equal(knoop_name_char((char) c), want);
    }
    assert_false(knoop_name_char('\0'));
}

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
    assert_true(knoop_id_valid("vr-utrecht"));
    assert_true(knoop_id_valid("kcr2-broker-1"));
    assert_true(knoop_id_valid("9"));
    assert_false(knoop_id_valid("-vr"));
    assert_false(knoop_id_valid("vr_utrecht"));      /* ids appear in topics and files */
    assert_false(knoop_id_valid("VR-Utrecht"));
    assert_false(knoop_id_valid(""));
    assert_false(knoop_id_valid(NULL));
    assert_false(knoop_id_valid("vr/../x"));
    char s[KNOOP_ID_MAX + 2];
    memset(s, 'a', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    assert_false(knoop_id_valid(s));
    s[KNOOP_ID_MAX] = '\0';
    assert_true(knoop_id_valid(s));
}

static void test_type_name_valid(void **state)
{
    assert_true(knoop_type_name_valid(""));                      /* untyped bytes */
    assert_true(knoop_type_name_valid("knoop.crisis.v1.Sitrep"));
    assert_true(knoop_type_name_valid("a_b.C9"));
    assert_false(knoop_type_name_valid(NULL));
    assert_false(knoop_type_name_valid("knoop/crisis"));
    assert_false(knoop_type_name_valid("a-b"));
    assert_false(knoop_type_name_valid("a b"));
    assert_false(knoop_type_name_valid("\xc3\xa9"));
    char s[KNOOP_TYPE_MAX + 2];
    memset(s, 'T', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    assert_false(knoop_type_name_valid(s));
    s[KNOOP_TYPE_MAX] = '\0';
    assert_true(knoop_type_name_valid(s));
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
