/* test_crash.c — a writer killed with SIGKILL at random moments never leaves
 * a journal that fails to open or verify, and every batch it had reported
 * committed is there.
 *
 * The child appends signed batches of random size to one stream in a loop
 * and, after each commit returns, writes the batch's last seq to a pipe. The
 * parent kills it after a random delay, then opens the journal (read-only,
 * as an auditor would, and then for writing, as the restarted daemon would),
 * runs the full audit, and checks hwm >= every seq the child reported.
 *
 * The journal lives under the working directory (the build tree on a real
 * disk), not in $TMPDIR, which may be tmpfs. KNOOP_SOAK=1 runs 200 kills. */
#include "fixture.h"
#include "testutil.h"
#include "audit.h"
#include "crypto.h"
#include "journal.h"
#include "keys.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN "vr-zuid-limburg"
#define TOPIC  "sitrep.vr-zuid-limburg"
#define EPOCH  0x1234

static char *s_dir;
static tu_fixture_t *s_fx;                 /* the partner's key and trust store */

/* The child: continue the stream from what the journal holds. Never returns. */
static void s_child(int wfd, unsigned seed, const knoop_key_t *key)
{
    knoop_log_set_level(KNOOP_LOG_ERROR);
    knoop_journal_opts_t o = { .path = s_dir, .partner = ORIGIN };
    knoop_journal_t *j = NULL;
    if (knoop_journal_open(&o, &j) != KNOOP_OK)
        _exit(3);
    tu_stream_t s;
    tu_stream_init(&s, ORIGIN, TOPIC, EPOCH, NULL);
    knoop_stream_info_t info;
    if (knoop_journal_stream(j, knoop_stream_id(ORIGIN, TOPIC, EPOCH), &info) == KNOOP_OK) {
        s.seq = info.hwm;
        memcpy(s.head, info.head, KNOOP_HASH_LEN);
    }
    srand(seed);
    enum { MAXB = 256 };
    knoop_buf_t bufs[MAXB] = { 0 };
    knoop_msg_t msgs[MAXB];
    const knoop_msg_t *ptrs[MAXB];
    int res[MAXB];
    char payload[300];
    for (;;) {
        int n = 1 + rand() % MAXB;
        for (int i = 0; i < n; i++) {
            snprintf(payload, sizeof payload, "message %llu %0*d",
                     (unsigned long long) s.seq + 1, 200, i);
            /* Sign the last message of the batch: its head covers the rest. */
            s.sk = i == n - 1 ? knoop_key_secret(key) : NULL;
            tu_stream_next(&s, &bufs[i], &msgs[i], knoop_now_ms() << 16, NULL,
                           KNOOP_STATUS_ACTUAL, payload);
            ptrs[i] = &msgs[i];
        }
        int rc = knoop_journal_append(j, ptrs, (size_t) n, res);
        for (int i = 0; i < n; i++)
            knoop_msg_clear(&msgs[i]);
        if (rc != KNOOP_OK)
            _exit(4);
        for (int i = 0; i < n; i++)
            if (res[i] != KNOOP_OK)
                _exit(5);
        uint64_t last = s.seq;
        if (write(wfd, &last, sizeof last) != (ssize_t) sizeof last)
            _exit(6);
    }
}

/* Read every complete seq report from the pipe; return the highest. */
static uint64_t s_drain(int rfd, uint64_t best)
{
    uint64_t v;
    ssize_t r;
    while ((r = read(rfd, &v, sizeof v)) == (ssize_t) sizeof v)
        if (v > best)
            best = v;
    return best;
}

static void s_check(uint64_t committed, const knoop_trust_t *trust, unsigned flags)
{
    knoop_journal_opts_t o = { .path = s_dir, .flags = flags };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    knoop_audit_summary_t sum;
    assert_int_equal(knoop_audit_verify(j, trust, NULL, NULL, NULL, &sum), KNOOP_OK);
    assert_int_equal(sum.broken, 0);
    knoop_stream_info_t info;
    if (committed) {
        assert_int_equal(knoop_journal_stream(j, knoop_stream_id(ORIGIN, TOPIC, EPOCH), &info),
                         KNOOP_OK);
        if (info.hwm < committed)
            fail_msg("reported committed up to seq %llu, journal has hwm %llu",
                     (unsigned long long) committed, (unsigned long long) info.hwm);
        /* Every batch ends with a signed head: nothing unverified remains. */
        assert_int_equal(sum.unverified, 0);
    }
    knoop_journal_destroy(&j);
}

static void test_sigkill_writer(void **state)
{
    unsigned seed = tu_seed();
    srand(seed);
    int kills = tu_soak() ? 200 : 25;
    knoop_key_t *key = tu_fixture_partner(s_fx, ORIGIN, "region");
    knoop_trust_t *trust = tu_fixture_trust(s_fx);

    uint64_t committed = 0;
    for (int k = 0; k < kills; k++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            s_child(p[1], seed + (unsigned) k, key);
        }
        close(p[1]);
        /* Let it run a random while (5..150 ms), then kill it mid-work. */
        struct timespec ts = { 0, (5 + rand() % 145) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
            fail_msg("child ended by itself (status %d) instead of being killed", st);
        committed = s_drain(p[0], committed);
        close(p[0]);

        /* The auditor's view, then the restarted writer's. A child killed before
         * its first commit may leave a journal whose tables were never created:
         * only the writer can open that (and creates them). */
        if (committed > 0)
            s_check(committed, trust, KNOOP_JOURNAL_READONLY);
        s_check(committed, trust, 0);
    }
    fprintf(stderr, "# %d kills, %llu messages committed and verified\n", kills,
            (unsigned long long) committed);
    assert_true(committed > 0);

    /* The CLI agrees. */
    int rc = tu_run(NULL, "%s audit verify --journal %s --trust %s --quiet", tu_knoop_bin(),
                    s_dir, s_fx->trust);
    assert_int_equal(rc, 0);
    knoop_key_destroy(&key);
}

int main(void)
{
    knoop_crypto_init();
    knoop_log_set_level(KNOOP_LOG_ERROR);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return 1;
    setenv("TMPDIR", cwd, 1);   /* real disk, see top of file */
    s_dir = tu_tmpdir("crash");
    s_fx = tu_fixture_new("crash-trust");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_writer),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmtree(s_dir);
    tu_fixture_destroy(&s_fx);
    return rc;
}
