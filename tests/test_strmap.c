/* test_strmap.c — the string-keyed map (lib/strmap.h) against a plain
 * reference table under random churn: every get, put, replace and delete
 * agrees, deletion closes its hole (lookups past it still succeed), the
 * walk visits each entry once, binary keys with NUL bytes work, and the
 * destructor runs exactly once per value that leaves the map. */
#include "testutil.h"
#include "strmap.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_freed;

static void s_count_free(void *v)
{
    g_freed++;
    free(v);
}

static int *s_int(int v)
{
    int *p = malloc(sizeof *p);
    assert_non_null(p);
    *p = v;
    return p;
}

#define NKEYS 600

static void test_churn_against_reference(void **state)
{
    (void) state;
    knoop_strmap_t m = { .free_val = s_count_free };
    static int ref[NKEYS];          /* 0 absent, else the value stored */
    memset(ref, 0, sizeof ref);
    int live = 0;
    g_freed = 0;
    int made = 0;
    uint32_t r = 12345;
    for (int step = 0; step < 40000; step++) {
        r = r * 1103515245u + 12345u;
        int k = (int) ((r >> 8) % NKEYS);
        char key[32];
        snprintf(key, sizeof key, "partner-%d", k);
        int op = (int) ((r >> 20) % 3);
        if (op < 2) {
            int v = step + 1;
            assert_int_equal(knoop_strmap_sput(&m, key, s_int(v)), KNOOP_OK);
            made++;
            if (!ref[k])
                live++;
            ref[k] = v;
        } else {
            assert_int_equal(knoop_strmap_sdel(&m, key), ref[k] != 0);
            if (ref[k])
                live--;
            ref[k] = 0;
        }
        assert_int_equal(m.count, (size_t) live);
        if (step % 997 == 0) {
            for (int i = 0; i < NKEYS; i++) {
                snprintf(key, sizeof key, "partner-%d", i);
                int *got = knoop_strmap_sget(&m, key);
                if (ref[i]) {
                    assert_non_null(got);
                    assert_int_equal(*got, ref[i]);
                } else {
                    assert_null(got);
                }
            }
        }
    }
    /* every value that left (replaced or deleted) was freed once */
    assert_int_equal(g_freed, made - live);

    size_t it = 0, seen = 0;
    const char *key;
    void *val;
    static bool visited[NKEYS];
    memset(visited, 0, sizeof visited);
    while (knoop_strmap_next(&m, &it, &key, &val)) {
        int k = atoi(key + strlen("partner-"));
        assert_true(k >= 0 && k < NKEYS);
        assert_false(visited[k]);
        visited[k] = true;
        assert_int_equal(*(int *) val, ref[k]);
        seen++;
    }
    assert_int_equal(seen, (size_t) live);

    knoop_strmap_clear(&m);
    assert_int_equal(g_freed, made);
    assert_int_equal(m.count, 0);
    assert_null(knoop_strmap_sget(&m, "partner-1"));
    assert_false(knoop_strmap_sdel(&m, "partner-1"));
    /* usable again after clear */
    assert_int_equal(knoop_strmap_sput(&m, "partner-1", s_int(7)), KNOOP_OK);
    assert_int_equal(*(int *) knoop_strmap_sget(&m, "partner-1"), 7);
    knoop_strmap_clear(&m);
}

static void test_binary_keys(void **state)
{
    (void) state;
    knoop_strmap_t m = { 0 };
    /* routing ids are bytes: "a\0b" and "a\0c" and "a" are three keys */
    int a = 1, b = 2, c = 3;
    assert_int_equal(knoop_strmap_put(&m, "a\0b", 3, &a), KNOOP_OK);
    assert_int_equal(knoop_strmap_put(&m, "a\0c", 3, &b), KNOOP_OK);
    assert_int_equal(knoop_strmap_put(&m, "a", 1, &c), KNOOP_OK);
    assert_int_equal(m.count, 3);
    assert_ptr_equal(knoop_strmap_get(&m, "a\0b", 3), &a);
    assert_ptr_equal(knoop_strmap_get(&m, "a\0c", 3), &b);
    assert_ptr_equal(knoop_strmap_get(&m, "a", 1), &c);
    assert_null(knoop_strmap_get(&m, "a\0", 2));
    /* the empty key is a key */
    assert_int_equal(knoop_strmap_put(&m, "", 0, &a), KNOOP_OK);
    assert_ptr_equal(knoop_strmap_get(&m, "", 0), &a);
    /* a NULL value is refused: NULL is "absent" to get */
    assert_int_equal(knoop_strmap_put(&m, "x", 1, NULL), KNOOP_EINVAL);
    assert_null(knoop_strmap_get(&m, "x", 1));
    /* without a destructor the values stay the caller's (ASan would see
     * a free of these stack values) */
    knoop_strmap_clear(&m);
    assert_int_equal(m.count, 0);
    assert_null(knoop_strmap_get(&m, "a", 1));
}

/* The map's own key copy: found for a key stored, NULL for one that is
 * not, and the same pointer (same text) after the map has grown many times
 * and after the value under it was replaced: a value may keep it as its
 * name (metrics.c does). */
static void test_key_copy_stays(void **state)
{
    (void) state;
    knoop_strmap_t m = { .free_val = free };
    assert_null(knoop_strmap_key(&m, "a", 1));
    assert_int_equal(knoop_strmap_sput(&m, "first", s_int(1)), KNOOP_OK);
    const char *k = knoop_strmap_key(&m, "first", 5);
    assert_non_null(k);
    assert_string_equal(k, "first");
    char name[32];
    const char *borrowed[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(name, sizeof name, "k%d", i);
        assert_int_equal(knoop_strmap_sput(&m, name, s_int(i)), KNOOP_OK);
        borrowed[i] = knoop_strmap_key(&m, name, strlen(name));
        assert_non_null(borrowed[i]);
        assert_ptr_not_equal(borrowed[i], name);     /* the map's copy, not ours */
    }
    assert_int_equal(knoop_strmap_sput(&m, "first", s_int(2)), KNOOP_OK);
    assert_ptr_equal(knoop_strmap_key(&m, "first", 5), k);
    assert_string_equal(k, "first");
    for (int i = 0; i < NKEYS; i++) {
        snprintf(name, sizeof name, "k%d", i);
        assert_ptr_equal(knoop_strmap_key(&m, name, strlen(name)), borrowed[i]);
        assert_string_equal(borrowed[i], name);
    }
    assert_null(knoop_strmap_key(&m, "k", 1));
    knoop_strmap_clear(&m);
    assert_null(knoop_strmap_key(&m, "first", 5));
}

static void test_delete_closes_holes(void **state)
{
    (void) state;
    /* Many keys in a small table make long probe runs; deleting from the
     * middle of runs, in every order, must leave every other key found. */
    for (int round = 0; round < 20; round++) {
        knoop_strmap_t m = { 0 };
        static int vals[200];
        char key[16];
        for (int i = 0; i < 200; i++) {
            vals[i] = i;
            snprintf(key, sizeof key, "k%d", i);
            assert_int_equal(knoop_strmap_sput(&m, key, &vals[i]), KNOOP_OK);
        }
        /* even rounds delete upwards, odd ones downwards */
        for (int j = 0; j * 3 + round < 200; j++) {
            int last = round + 3 * ((199 - round) / 3);
            int i = round % 2 ? last - 3 * j : round + 3 * j;
            snprintf(key, sizeof key, "k%d", i);
            assert_true(knoop_strmap_sdel(&m, key));
        }
        for (int i = 0; i < 200; i++) {
            snprintf(key, sizeof key, "k%d", i);
            bool gone = i >= round && (i - round) % 3 == 0;
            if (gone)
                assert_null(knoop_strmap_sget(&m, key));
            else
                assert_ptr_equal(knoop_strmap_sget(&m, key), &vals[i]);
        }
        knoop_strmap_clear(&m);
    }
}

int main(void)
{
    knoop_crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_churn_against_reference),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_delete_closes_holes),
        cmocka_unit_test(test_key_copy_stays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
