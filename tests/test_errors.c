/* test_errors.c — the error space (lib/knoop.h): every knoop_err_t code from
 * KNOOP_OK down to KNOOP_ERR_LAST has its own text in knoop_strerror, no two
 * codes share one, and a code outside the range reads "unknown error". The
 * enum in lib/knoop.h is read as text, so a code added without moving
 * KNOOP_ERR_LAST (or without a text) fails here. */
#include "testutil.h"
#include "knoop.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNKNOWN "unknown error"

static void test_every_code_has_its_own_text(void **state)
{
    (void) state;
    assert_true(KNOOP_ERR_LAST < 0);
    int n = 1 - KNOOP_ERR_LAST;                 /* 0, -1, ..., KNOOP_ERR_LAST */
    for (int i = 0; i < n; i++) {
        const char *t = knoop_strerror(-i);
        assert_non_null(t);
        if (t[0] == '\0' || strcmp(t, UNKNOWN) == 0)
            fail_msg("code %d has no text of its own: \"%s\"", -i, t);
        for (int j = 0; j < i; j++)
            if (strcmp(t, knoop_strerror(-j)) == 0)
                fail_msg("codes %d and %d share the text \"%s\"", -j, -i, t);
    }
    assert_string_equal(knoop_strerror(KNOOP_ERR_LAST - 1), UNKNOWN);
    assert_string_equal(knoop_strerror(1), UNKNOWN);
    assert_string_equal(knoop_strerror(-1000), UNKNOWN);
}

/* The codes as lib/knoop.h declares them: every "KNOOP_E... = -N" inside the
 * knoop_err_t enum lies in the range, each number once, the range full. */
static void test_enum_matches_range(void **state)
{
    (void) state;
    const char *src = getenv("KNOOP_SRC");
    if (!src)
        fail_msg("KNOOP_SRC is not set (ctest sets it to the source tree)");
    char path[4096];
    snprintf(path, sizeof path, "%s/lib/knoop.h", src);
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    if (!text)
        fail_msg("cannot read %s", path);
    char *start = strstr(text, "typedef enum {");
    char *end = start ? strstr(start, "} knoop_err_t;") : NULL;
    assert_non_null(start);
    assert_non_null(end);
    *end = '\0';

    regex_t re;
    assert_int_equal(regcomp(&re, "KNOOP_E[A-Z]+ *= *-([0-9]+)", REG_EXTENDED), 0);
    int n = 1 - KNOOP_ERR_LAST;
    char *seen = calloc((size_t) n, 1);
    assert_non_null(seen);
    int count = 0;
    regmatch_t m[2];
    for (const char *p = start; regexec(&re, p, 2, m, 0) == 0; p += m[0].rm_eo) {
        int v = atoi(p + m[1].rm_so);
        if (v < 1 || v >= n)
            fail_msg("lib/knoop.h declares code -%d outside 0..%d: move KNOOP_ERR_LAST",
                     v, KNOOP_ERR_LAST);
        if (seen[v])
            fail_msg("lib/knoop.h declares code -%d twice", v);
        seen[v] = 1;
        count++;
    }
    assert_int_equal(count, n - 1);              /* every code but KNOOP_OK */
    regfree(&re);
    free(seen);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_its_own_text),
        cmocka_unit_test(test_enum_matches_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
