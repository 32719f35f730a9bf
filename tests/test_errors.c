/* test_errors.c — the error space (lib/knoop.h): every knoop_err_t code from
 * KNOOP_OK down to KNOOP_ERR_LAST has its own text in knoop_strerror, no two
 * codes share one, and a code outside the range reads "unknown error". The
 * enum in lib/knoop.h is read as text, so a code added without moving
 * KNOOP_ERR_LAST (or without a text) fails here. Then each condition that
 * has a code of its own is provoked with the real parts (sockets, an LMDB
 * journal, files) and must come back as that code, not as a neighbour. */
#include "testutil.h"
#include "client.h"
#include "journal.h"
#include "keys.h"
#include "knoop.h"
#include "link.h"

#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

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

/* ---- each condition, provoked ---- */

static void s_path(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t) n < size);
}

/* The node's side of the local API, bound and silent: the client's request
 * goes out and nothing comes back. */
static knoop_sock_t *s_silent_node(const char *dir, char *ep, size_t size)
{
    int n = snprintf(ep, size, "ipc://%s/api.sock", dir);
    assert_true(n > 0 && (size_t) n < size);
    knoop_sock_t *node = knoop_link_router();
    assert_non_null(node);
    assert_int_equal(knoop_sock_bind(node, ep), KNOOP_OK);
    return node;
}

/* No node at the endpoint: the request cannot leave (EGONE). A node that
 * takes the request and does not answer: ETIMEDOUT. */
static void test_client_gone_and_timeout(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("errors-client");
    char ep[600];
    snprintf(ep, sizeof ep, "ipc://%s/api.sock", dir);
    knoop_client_t *c = NULL;
    assert_int_equal(knoop_client_new(ep, &c), KNOOP_OK);
    char *json = NULL;
    assert_int_equal(knoop_client_status(c, &json, 200), KNOOP_EGONE);
    assert_null(json);
    assert_non_null(strstr(knoop_client_error(c), "not reachable"));

    knoop_sock_t *node = s_silent_node(dir, ep, sizeof ep);
    assert_int_equal(knoop_client_status(c, &json, 300), KNOOP_ETIMEDOUT);
    assert_null(json);
    assert_non_null(strstr(knoop_client_error(c), "did not answer"));
    knoop_client_destroy(&c);
    knoop_sock_destroy(&node);
    tu_rmtree(dir);
}

static volatile sig_atomic_t s_alarms;

static void s_on_alarm(int sig)
{
    (void) sig;
    s_alarms++;
}

/* A signal while the client waits: EINTR at once, not a timeout later. */
static void test_client_interrupted(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("errors-intr");
    char ep[600];
    knoop_sock_t *node = s_silent_node(dir, ep, sizeof ep);
    knoop_client_t *c = NULL;
    assert_int_equal(knoop_client_new(ep, &c), KNOOP_OK);
    struct sigaction sa = { .sa_handler = s_on_alarm }, old;
    sigemptyset(&sa.sa_mask);                   /* no SA_RESTART: the wait ends */
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    struct itimerval t = { .it_value = { 0, 200 * 1000 } };
    assert_int_equal(setitimer(ITIMER_REAL, &t, NULL), 0);
    int64_t t0 = zclock_mono();
    char *json = NULL;
    int rc = knoop_client_status(c, &json, 10000);
    int64_t took = zclock_mono() - t0;
    setitimer(ITIMER_REAL, &(struct itimerval) { 0 }, NULL);   /* no alarm left to fire later */
    sigaction(SIGALRM, &old, NULL);
    assert_int_equal(s_alarms, 1);
    assert_int_equal(rc, KNOOP_EINTR);
    assert_true(took < 5000);
    assert_null(json);
    knoop_client_destroy(&c);
    knoop_sock_destroy(&node);
    tu_rmtree(dir);
}

/* A ROUTER's read with nothing there (EAGAIN) and a send to a peer that is
 * not connected (EGONE). */
static void test_link_nothing_waiting_and_gone(void **state)
{
    (void) state;
    knoop_sock_t *r = knoop_link_router();
    assert_non_null(r);
    assert_int_equal(knoop_sock_bind(r, "inproc://errors-link"), KNOOP_OK);
    knoop_buf_t rid = { 0 }, data = { 0 };
    assert_int_equal(knoop_link_recv_plain(r, &rid, &data), KNOOP_EAGAIN);
    assert_int_equal(knoop_link_send(r, (const uint8_t *) "nobody", 6, "x", 1), KNOOP_EGONE);
    knoop_buf_free(&rid);
    knoop_buf_free(&data);
    knoop_sock_destroy(&r);
}

/* A journal whose map is at its limit: KNOOP_EFULL, told as the map (not
 * the disk), with what to do. */
static void test_journal_map_full(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("errors-full");
    knoop_journal_opts_t o = { .path = dir, .map_size = 1 << 20, .map_max = 2 << 20 };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    static uint8_t blob[64 * 1024];
    memset(blob, 0xa5, sizeof blob);
    int rc = KNOOP_OK;
    int stored = 0;
    for (int i = 0; i < 100 && rc == KNOOP_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        rc = knoop_journal_cursor_put(j, name, blob, sizeof blob);
        stored += rc == KNOOP_OK;
    }
    assert_int_equal(rc, KNOOP_EFULL);
    assert_true(stored > 10);                     /* it grew to 2 MiB first */
    knoop_journal_stats_t st;
    knoop_journal_stats(j, &st);
    assert_int_equal(st.full, KNOOP_JOURNAL_FULL_MAP);
    assert_true(st.map_grows >= 1);
    assert_int_equal(st.full_errors, 1);
    const char *why = knoop_journal_error(j, NULL);
    assert_non_null(strstr(why, "map is at the limit of 2 MiB"));
    assert_non_null(strstr(why, "raise map-max"));
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_journal_cursor_get(j, "c0", &b), KNOOP_OK);   /* reads go on */
    assert_int_equal(b.len, sizeof blob);
    knoop_buf_free(&b);
    knoop_journal_destroy(&j);
    tu_rmtree(dir);
}

/* What is not there: a journal, a cursor, a key file, a trust directory. */
static void test_not_found(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("errors-absent");
    char path[600];
    s_path(path, sizeof path, dir, "nojournal");
    knoop_journal_opts_t o = { .path = path, .flags = KNOOP_JOURNAL_READONLY };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_ENOTFOUND);
    assert_null(j);

    s_path(path, sizeof path, dir, "journal");
    o = (knoop_journal_opts_t) { .path = path };
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    knoop_buf_t b = { 0 };
    assert_int_equal(knoop_journal_cursor_get(j, "never-written", &b), KNOOP_ENOTFOUND);
    assert_int_equal(knoop_journal_get(j, 1, 1, &b), KNOOP_ENOTFOUND);
    knoop_journal_destroy(&j);

    s_path(path, sizeof path, dir, "vr-none.key");
    knoop_key_t *k = NULL;
    assert_int_equal(knoop_key_load(path, &k), KNOOP_ENOTFOUND);
    assert_null(k);

    s_path(path, sizeof path, dir, "no-trust");
    knoop_zap_t *zap = NULL;
    assert_int_equal(knoop_zap_new(path, NULL, &zap), KNOOP_ENOTFOUND);
    assert_null(zap);
    tu_rmtree(dir);
}

/* A second ZAP handler in one process: the endpoint is taken (EBUSY). */
static void test_zap_busy(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("errors-zap");
    knoop_zap_t *first = NULL, *second = NULL;
    assert_int_equal(knoop_zap_new(dir, NULL, &first), KNOOP_OK);
    assert_non_null(first);
    assert_int_equal(knoop_zap_new(dir, NULL, &second), KNOOP_EBUSY);
    assert_null(second);
    knoop_zap_destroy(&first);
    tu_rmtree(dir);
}

/* A data file that is not LMDB's: stored data damaged, not an I/O error. */
static void test_journal_corrupt(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("errors-corrupt");
    char path[600];
    s_path(path, sizeof path, dir, "data.mdb");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static uint8_t junk[16384];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    assert_int_equal(fclose(f), 0);
    knoop_journal_opts_t o = { .path = dir, .flags = KNOOP_JOURNAL_READONLY };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_ECORRUPT);
    assert_null(j);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_its_own_text),
        cmocka_unit_test(test_enum_matches_range),
        cmocka_unit_test(test_client_gone_and_timeout),
        cmocka_unit_test(test_client_interrupted),
        cmocka_unit_test(test_link_nothing_waiting_and_gone),
        cmocka_unit_test(test_journal_map_full),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_zap_busy),
        cmocka_unit_test(test_journal_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
