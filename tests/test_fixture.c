/* test_fixture.c — the unit tests' fixture builder (tests/fixture.h) does what
 * the tests built on it take for granted: keys 0600 beside their
 * certificates, a trust store of certificates only that loads, the policy
 * file, files written with the mode asked, journals that open with the
 * store, and nothing left behind. (tu_fixture_broker is exercised by
 * test_broker_input and test_mesh_fork, which need the daemon anyway.) */
#include "fixture.h"
#include "testutil.h"
#include "crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void test_fixture_builds_and_cleans_up(void **state)
{
    (void) state;
    tu_fixture_t *f = tu_fixture_new("fixture");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", f->dir);
    knoop_key_t *a = tu_fixture_partner(f, "vr-utrecht", "region");
    knoop_key_t *b = tu_fixture_partner(f, "kcr2-broker-1", "broker");

    char path[PATH_MAX + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/vr-utrecht.key", f->keys);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/vr-utrecht.key", f->trust);
    assert_int_not_equal(access(path, F_OK), 0);        /* certificates only */

    knoop_trust_t *t = tu_fixture_trust(f);
    assert_int_equal(knoop_trust_size(t), 2);
    const knoop_cert_t *c = knoop_trust_by_sign(t, knoop_key_public(a));
    assert_non_null(c);
    assert_string_equal(c->id, "vr-utrecht");
    assert_string_equal(c->role, "region");
    assert_int_equal(knoop_cert_check_time(c, (int64_t) time(NULL)), KNOOP_OK);
    knoop_cert_t bc;
    tu_fixture_cert(f, "kcr2-broker-1", &bc);
    assert_memory_equal(bc.pk, knoop_key_public(b), KNOOP_PK_LEN);

    /* A partner on disk only: its key saved, its certificate trusted. */
    tu_fixture_partner_files(f, "kcr2-broker-2", "broker");
    snprintf(path, sizeof path, "%s/kcr2-broker-2.key", f->keys);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(knoop_trust_size(tu_fixture_trust(f)), 3);

    /* The policy file, written again over a longer one: replaced whole. */
    assert_string_equal(tu_fixture_policy(f, "kcr2 publish duiding.>\n* subscribe >\n"),
                        f->policy);
    tu_fixture_policy(f, "* subscribe >\n");
    char *text = tu_read_file(f->policy, NULL);
    assert_non_null(text);
    assert_string_equal(text, "* subscribe >\n");
    free(text);

    /* tu_write_file sets the mode it is given, not the umask's or the old one. */
    char *file = tu_path(f->dir, "file");
    snprintf(path, sizeof path, "%s/file", f->dir);
    assert_string_equal(file, path);
    mode_t old = umask(0277);
    tu_write_file(file, "ab", 2, 0640);
    umask(old);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    tu_write_file(file, "c", 1, 0600);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 1);
    free(file);

    knoop_journal_t *j1 = tu_fixture_journal(f, "j1", 0);
    knoop_journal_t *j2 = tu_fixture_journal(f, "j2", KNOOP_JOURNAL_RELAXED);
    assert_non_null(j1);
    assert_non_null(j2);
    assert_ptr_not_equal(j1, j2);
    tu_fixture_journal_close(f, &j1);
    assert_null(j1);
    snprintf(path, sizeof path, "%s/j1/data.mdb", dir);
    assert_int_equal(access(path, F_OK), 0);

    knoop_key_destroy(&a);
    knoop_key_destroy(&b);
    tu_fixture_destroy(&f);                 /* closes j2 too */
    assert_null(f);
    tu_fixture_destroy(&f);                 /* safe twice */
    assert_int_not_equal(access(dir, F_OK), 0);
}

int main(void)
{
    knoop_crypto_init();
    knoop_log_set_level(KNOOP_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_builds_and_cleans_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
