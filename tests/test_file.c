/* test_file.c — bounded reading of a whole regular file (lib/file.h) and
 * the errno mapping (knoop_err_from_errno), on real files in a temp dir:
 * sizes at and around the bound, a file that grows, directories, FIFOs,
 * missing and unreadable files, NUL bytes, secret modes. */
#include "testutil.h"
#include "file.h"
#include "knoop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *s_dir;

static int s_setup(void **state)
{
    s_dir = tu_tmpdir("file");
    return 0;
}

static int s_teardown(void **state)
{
    tu_rmtree(s_dir);
    return 0;
}

/* Write n bytes of `fill` to DIR/name with mode; returns the path (static). */
static const char *s_make(const char *name, size_t n, char fill, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    unlink(path);
    char *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    memset(buf, fill, n);
    tu_write_file(path, buf, n, mode);
    free(buf);
    return path;
}

static void test_sizes_around_the_bound(void **state)
{
    const size_t max = 1000;
    size_t sizes[] = { 0, 1, 999, 1000, 1001, 5000, 200000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *path = s_make("sized", sizes[i], 'x', 0644);
        knoop_buf_t b = { 0 };
        char why[200];
        int rc = knoop_file_read(path, max, KNOOP_FILE_TEXT, &b, why, sizeof why);
        if (sizes[i] <= max) {
            assert_int_equal(rc, KNOOP_OK);
            assert_string_equal(why, "");
            assert_int_equal(b.len, sizes[i]);
            assert_non_null(b.data);
            assert_int_equal(b.data[b.len], '\0');
            assert_int_equal(strlen((char *) b.data), sizes[i]);
        } else {
            assert_int_equal(rc, KNOOP_ETOOBIG);
            assert_string_equal(why, "larger than 1000 bytes");
        }
        knoop_buf_free(&b);
    }
}

static void test_appends_to_the_buffer(void **state)
{
    const char *path = s_make("tail", 3, 'z', 0644);
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_buf_append(&b, "head:", 5), KNOOP_OK);
    assert_int_equal(knoop_file_read(path, 3, 0, &b, NULL, 0), KNOOP_OK);
    assert_int_equal(b.len, 8);
    assert_string_equal((char *) b.data, "head:zzz");
    /* The bound counts the file, not what the buffer held before. */
    assert_int_equal(knoop_file_read(path, 2, 0, &b, NULL, 0), KNOOP_ETOOBIG);
    knoop_buf_free(&b);
}

static void test_not_regular(void **state)
{
    knoop_buf_t b = { 0 };
    char why[200];
    assert_int_equal(knoop_file_read(s_dir, 100, 0, &b, why, sizeof why), KNOOP_EMALFORMED);
    assert_string_equal(why, "not a regular file");
    /* A FIFO with no writer: refused at once, not waited on (O_RDONLY open
     * of a FIFO blocks, so give it a writer that never writes). */
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", s_dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int wfd = open(fifo, O_RDWR | O_NONBLOCK);
    assert_true(wfd >= 0);
    assert_int_equal(knoop_file_read(fifo, 100, 0, &b, why, sizeof why), KNOOP_EMALFORMED);
    assert_string_equal(why, "not a regular file");
    close(wfd);
    /* /dev/zero would never end. */
    assert_int_equal(knoop_file_read("/dev/zero", 100, 0, &b, why, sizeof why),
                     KNOOP_EMALFORMED);
    knoop_buf_free(&b);
}

static void test_open_errors(void **state)
{
    knoop_buf_t b = { 0 };
    char why[200], path[512];
    snprintf(path, sizeof path, "%s/absent", s_dir);
    assert_int_equal(knoop_file_read(path, 100, 0, &b, why, sizeof why), KNOOP_ENOTFOUND);
    assert_string_equal(why, "cannot open: No such file or directory");
    /* A path through a regular file: ENOTDIR, also "not found". */
    const char *reg = s_make("plain", 1, 'a', 0644);
    snprintf(path, sizeof path, "%s/below", reg);
    assert_int_equal(knoop_file_read(path, 100, 0, &b, why, sizeof why), KNOOP_ENOTFOUND);
    assert_non_null(strstr(why, "Not a directory"));
    if (geteuid() != 0) {
        const char *locked = s_make("locked", 10, 'a', 0000);
        assert_int_equal(knoop_file_read(locked, 100, 0, &b, why, sizeof why), KNOOP_EPERM);
        assert_string_equal(why, "cannot open: Permission denied");
    }
    knoop_buf_free(&b);
}

static void test_text_and_nul(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/nul", s_dir);
    tu_write_file(path, "id = a\0rest = b\n", 16, 0644);
    knoop_buf_t b = { 0 };
    char why[200];
    assert_int_equal(knoop_file_read(path, 100, KNOOP_FILE_TEXT, &b, why, sizeof why),
                     KNOOP_EMALFORMED);
    assert_string_equal(why, "contains a NUL byte; not a text file");
    knoop_buf_free(&b);
    /* Without the flag the bytes are data. */
    assert_int_equal(knoop_file_read(path, 100, 0, &b, why, sizeof why), KNOOP_OK);
    assert_int_equal(b.len, 16);
    assert_memory_equal(b.data, "id = a\0rest = b\n", 16);
    knoop_buf_free(&b);
}

static void test_secret_modes(void **state)
{
    static const struct { mode_t mode; bool ok; } cases[] = {
        { 0600, true }, { 0400, true }, { 0640, false }, { 0604, false },
        { 0660, false }, { 0644, false }, { 0610, false }, { 0601, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = s_make("secret", 32, 's', cases[i].mode);
        knoop_buf_t b = { 0 };
        char why[200];
        int rc = knoop_file_read(path, 100, KNOOP_FILE_SECRET | KNOOP_FILE_TEXT, &b, why,
                                 sizeof why);
        if (cases[i].ok) {
            assert_int_equal(rc, KNOOP_OK);
            assert_int_equal(b.len, 32);
        } else {
            assert_int_equal(rc, KNOOP_EPERM);
            char want[64];
            snprintf(want, sizeof want, "permissions %04o are too open", (unsigned) cases[i].mode);
            assert_non_null(strstr(why, want));
            assert_non_null(strstr(why, "chmod 600"));
        }
        /* The same file read as public data: mode does not matter. */
        knoop_buf_free(&b);
        assert_int_equal(knoop_file_read(path, 100, 0, &b, NULL, 0), KNOOP_OK);
        knoop_buf_free(&b);
    }
}

static void test_why_is_optional_and_bounded(void **state)
{
    knoop_buf_t b = { 0 };
    char tiny[8];
    assert_int_equal(knoop_file_read("/nonexistent/x", 10, 0, &b, NULL, 0), KNOOP_ENOTFOUND);
    assert_int_equal(knoop_file_read("/nonexistent/x", 10, 0, &b, tiny, sizeof tiny),
                     KNOOP_ENOTFOUND);
    assert_string_equal(tiny, "cannot ");
    knoop_buf_free(&b);
}

static void test_errno_mapping(void **state)
{
    static const struct { int e; int want; } cases[] = {
        { ENOENT, KNOOP_ENOTFOUND }, { ENOTDIR, KNOOP_ENOTFOUND },
        { EACCES, KNOOP_EPERM },     { EPERM, KNOOP_EPERM },     { EROFS, KNOOP_EPERM },
        { EEXIST, KNOOP_EEXIST },    { ENOMEM, KNOOP_ENOMEM },
        { ENOSPC, KNOOP_EFULL },     { EDQUOT, KNOOP_EFULL },
        { EIO, KNOOP_EIO },          { EBADF, KNOOP_EIO },       { 0, KNOOP_EIO },
        { ELOOP, KNOOP_EIO },        { 999999, KNOOP_EIO },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (knoop_err_from_errno(cases[i].e) != cases[i].want)
            fail_msg("errno %d: %d, want %d", cases[i].e, knoop_err_from_errno(cases[i].e),
                     cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_around_the_bound),
        cmocka_unit_test(test_appends_to_the_buffer),
        cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_text_and_nul),
        cmocka_unit_test(test_secret_modes),
        cmocka_unit_test(test_why_is_optional_and_bounded),
        cmocka_unit_test(test_errno_mapping),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
