/* test_journal.c — the LMDB journal on real files in temporary directories. */
#include "testutil.h"
#include "journal.h"
#include "crypto.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char            *dir;
    knoop_journal_t *j;
} fixture_t;

static knoop_journal_t *s_open(const char *dir, unsigned flags, size_t map, size_t max)
{
    knoop_journal_opts_t o = { .path = dir, .flags = flags, .map_size = map, .map_max = max };
    knoop_journal_t *j = NULL;
    assert_int_equal(knoop_journal_open(&o, &j), KNOOP_OK);
    return j;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("journal");
    f->j = s_open(f->dir, 0, 0, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    knoop_journal_destroy(&f->j);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* Append one message, return its per-message result. */
static int s_append1(knoop_journal_t *j, const knoop_msg_t *m)
{
    int res = 99;
    const knoop_msg_t *ms[1] = { m };
    assert_int_equal(knoop_journal_append(j, ms, 1, &res), KNOOP_OK);
    return res;
}

/* Build n messages of a stream into msgs[] (caller clears). */
static void s_build(tu_stream_t *s, knoop_msg_t *msgs, int n, uint64_t hlc0)
{
    knoop_buf_t b = { 0 };
    for (int i = 0; i < n; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "p%d", i);
        tu_stream_next(s, &b, &msgs[i], hlc0 + (uint64_t) i, NULL, KNOOP_STATUS_ACTUAL, payload);
    }
    knoop_buf_free(&b);
}

static void s_clear(knoop_msg_t *msgs, int n)
{
    for (int i = 0; i < n; i++)
        knoop_msg_clear(&msgs[i]);
}

static int s_count_fn(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                      const uint8_t *env, size_t len)
{
    (*(int *) arg)++;
    return 0;
}

static void test_in_order_and_duplicates(void **state)
{
    fixture_t *f = *state;
    tu_stream_t s;
    tu_stream_init(&s, "vr-utrecht", "grip.vr-utrecht", 42, NULL);
    knoop_msg_t m[3];
    s_build(&s, m, 3, 1000);
    const knoop_msg_t *ms[3] = { &m[0], &m[1], &m[2] };
    int res[3];
    assert_int_equal(knoop_journal_append(f->j, ms, 3, res), KNOOP_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(res[i], KNOOP_OK);

    knoop_stream_info_t info;
    assert_int_equal(knoop_journal_stream(f->j, m[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 3);
    assert_int_equal(info.max_seq, 3);
    assert_memory_equal(info.head, m[2].chain, KNOOP_HASH_LEN);
    assert_int_equal(info.last_hlc, 1002);          /* the hlc of the message at hwm */
    assert_int_equal(info.prio, KNOOP_PRIO_ROUTINE);
    assert_string_equal(info.origin, "vr-utrecht");
    assert_string_equal(info.topic, "grip.vr-utrecht");

    /* Duplicates are dropped and add no arrivals. */
    assert_int_equal(knoop_journal_append(f->j, ms, 3, res), KNOOP_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(res[i], KNOOP_EDUPLICATE);
    int count = 0;
    uint64_t next = 0;
    assert_int_equal(knoop_journal_tail(f->j, 1, 0, s_count_fn, &count, &next), KNOOP_OK);
    assert_int_equal(count, 3);
    assert_int_equal(next, 4);

    count = 0;
    assert_int_equal(knoop_journal_read_stream(f->j, m[0].stream, 2, UINT64_MAX, s_count_fn,
                                               &count), KNOOP_OK);
    assert_int_equal(count, 2);

    knoop_buf_t got = { 0 };
    assert_int_equal(knoop_journal_get(f->j, m[1].stream, 2, &got), KNOOP_OK);
    knoop_msg_t back;
    assert_int_equal(knoop_msg_parse(&back, got.data, got.len), KNOOP_OK);
    assert_memory_equal(back.chain, m[1].chain, KNOOP_HASH_LEN);
    knoop_msg_clear(&back);
    knoop_buf_free(&got);
    assert_int_equal(knoop_journal_get(f->j, m[1].stream, 9, &got), KNOOP_ENOTFOUND);

    knoop_journal_stats_t st;
    knoop_journal_stats(f->j, &st);
    assert_int_equal(st.stored, 3);
    assert_int_equal(st.duplicates, 3);
    s_clear(m, 3);
}

static void test_out_of_order(void **state)
{
    fixture_t *f = *state;
    tu_stream_t s;
    tu_stream_init(&s, "ws-limburg", "water.ws-limburg.peil", 7, NULL);
    knoop_msg_t m[5];
    s_build(&s, m, 5, 2000);
    knoop_stream_info_t info;

    assert_int_equal(s_append1(f->j, &m[0]), KNOOP_OK);
    assert_int_equal(s_append1(f->j, &m[2]), KNOOP_OK);
    assert_int_equal(s_append1(f->j, &m[4]), KNOOP_OK);
    assert_int_equal(knoop_journal_stream(f->j, m[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 1);
    assert_int_equal(info.max_seq, 5);
    assert_memory_equal(info.head, m[0].chain, KNOOP_HASH_LEN);
    assert_int_equal(info.last_hlc, 2000);          /* at hwm, not at max_seq */

    assert_int_equal(s_append1(f->j, &m[1]), KNOOP_OK);     /* fills 2, runs over 3 */
    assert_int_equal(knoop_journal_stream(f->j, m[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 3);
    assert_int_equal(info.last_hlc, 2002);          /* moved with the gap fill */
    assert_int_equal(s_append1(f->j, &m[3]), KNOOP_OK);
    assert_int_equal(knoop_journal_stream(f->j, m[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 5);
    assert_memory_equal(info.head, m[4].chain, KNOOP_HASH_LEN);
    s_clear(m, 5);
}

static void test_chain_break_and_fork(void **state)
{
    fixture_t *f = *state;
    tu_stream_t a, b;
    /* Two histories of one stream: same origin, topic and epoch. */
    tu_stream_init(&a, "vr-zeeland", "sitrep.vr-zeeland", 9, NULL);
    tu_stream_init(&b, "vr-zeeland", "sitrep.vr-zeeland", 9, NULL);
    knoop_msg_t ma[3], mb[3];
    s_build(&a, ma, 3, 100);
    knoop_buf_t buf = { 0 };
    for (int i = 0; i < 3; i++)
        tu_stream_next(&b, &buf, &mb[i], 100 + (uint64_t) i, NULL, KNOOP_STATUS_ACTUAL, "other");
    knoop_buf_free(&buf);

    assert_int_equal(s_append1(f->j, &ma[0]), KNOOP_OK);
    /* b's seq 2 links to b's seq 1, not to a's: refused. */
    assert_int_equal(s_append1(f->j, &mb[1]), KNOOP_ECHAIN);
    /* b's seq 1 at the same (stream, seq): a fork, kept as evidence. */
    assert_int_equal(s_append1(f->j, &mb[0]), KNOOP_EFORK);
    knoop_stream_info_t info;
    assert_int_equal(knoop_journal_stream(f->j, ma[0].stream, &info), KNOOP_OK);
    assert_true(info.flags & KNOOP_STREAM_FORKED);
    assert_int_equal(info.hwm, 1);
    /* The stored copy is still a's. */
    knoop_buf_t got = { 0 };
    assert_int_equal(knoop_journal_get(f->j, ma[0].stream, 1, &got), KNOOP_OK);
    knoop_msg_t back;
    assert_int_equal(knoop_msg_parse(&back, got.data, got.len), KNOOP_OK);
    assert_memory_equal(back.chain, ma[0].chain, KNOOP_HASH_LEN);
    knoop_msg_clear(&back);
    knoop_buf_free(&got);

    /* An out-of-order message from b that turns out not to link is moved
     * out of the stream when the gap fills, and hwm stops before it. */
    assert_int_equal(s_append1(f->j, &mb[2]), KNOOP_OK);       /* pending seq 3 */
    assert_int_equal(s_append1(f->j, &ma[1]), KNOOP_OK);       /* seq 2 from a */
    assert_int_equal(knoop_journal_stream(f->j, ma[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 2);
    assert_int_equal(s_append1(f->j, &ma[2]), KNOOP_OK);       /* a's seq 3 fits now */
    assert_int_equal(knoop_journal_stream(f->j, ma[0].stream, &info), KNOOP_OK);
    assert_int_equal(info.hwm, 3);
    assert_memory_equal(info.head, ma[2].chain, KNOOP_HASH_LEN);
    knoop_journal_stats_t st;
    knoop_journal_stats(f->j, &st);
    assert_true(st.forks >= 2);
    s_clear(ma, 3);
    s_clear(mb, 3);
}

typedef struct {
    int  n;
    char topic[8][64];
    char key[8][64];
    char payload[8][64];
} state_rows_t;

static int s_state_fn(void *arg, const char *topic, const char *key, uint64_t stream,
                      uint64_t seq, const uint8_t *env, size_t len)
{
    state_rows_t *r = arg;
    knoop_msg_t m;
    assert_int_equal(knoop_msg_parse(&m, env, len), KNOOP_OK);
    assert_true(r->n < 8);
    snprintf(r->topic[r->n], 64, "%s", topic);
    snprintf(r->key[r->n], 64, "%s", key);
    snprintf(r->payload[r->n], 64, "%.*s", (int) m.b.payload_len, m.b.payload);
    r->n++;
    knoop_msg_clear(&m);
    return 0;
}

static void test_state_view(void **state)
{
    fixture_t *f = *state;
    knoop_buf_t buf = { 0 };
    knoop_msg_t m;
    tu_stream_t a, b;
    tu_stream_init(&a, "vr-zuid-limburg", "grip.limburg", 1, NULL);
    tu_stream_init(&b, "vr-limburg-noord", "grip.limburg", 2, NULL);

    tu_stream_next(&a, &buf, &m, 500, "inc-1", KNOOP_STATUS_ACTUAL, "a-first");
    assert_int_equal(s_append1(f->j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    /* Later hlc wins regardless of arrival order. */
    tu_stream_next(&b, &buf, &m, 700, "inc-1", KNOOP_STATUS_ACTUAL, "b-later");
    assert_int_equal(s_append1(f->j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    tu_stream_next(&a, &buf, &m, 600, "inc-1", KNOOP_STATUS_ACTUAL, "a-older");
    assert_int_equal(s_append1(f->j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    /* Exercise traffic never enters the picture. */
    tu_stream_next(&a, &buf, &m, 900, "inc-1", KNOOP_STATUS_EXERCISE, "exercise");
    assert_int_equal(s_append1(f->j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    /* Equal hlc: the higher origin id wins. */
    tu_stream_next(&a, &buf, &m, 800, "inc-2", KNOOP_STATUS_ACTUAL, "zl-tie");
    assert_int_equal(s_append1(f->j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    tu_stream_next(&b, &buf, &m, 800, "inc-2", KNOOP_STATUS_ACTUAL, "ln-tie");
    assert_int_equal(s_append1(f->j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    /* Empty key: the topic is the key. */
    tu_stream_t c;
    tu_stream_init(&c, "kcr2", "duiding.nl", 3, NULL);
    tu_stream_next(&c, &buf, &m, 10, NULL, KNOOP_STATUS_ACTUAL, "duiding-1");
    assert_int_equal(s_append1(f->j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    knoop_buf_free(&buf);

    state_rows_t r = { 0 };
    assert_int_equal(knoop_journal_state(f->j, NULL, s_state_fn, &r), KNOOP_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.topic[0], "duiding.nl");
    assert_string_equal(r.key[0], "");
    assert_string_equal(r.payload[0], "duiding-1");
    assert_string_equal(r.key[1], "inc-1");
    assert_string_equal(r.payload[1], "b-later");
    assert_string_equal(r.key[2], "inc-2");
    assert_string_equal(r.payload[2], "zl-tie");   /* "vr-zuid-limburg" > "vr-limburg-noord" */

    memset(&r, 0, sizeof r);
    assert_int_equal(knoop_journal_state(f->j, "grip.>", s_state_fn, &r), KNOOP_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(knoop_journal_state(f->j, "grip..x", s_state_fn, &r), KNOOP_ETOPIC);
}

/* Two journals fed the same messages in different orders converge to the
 * same digest; a difference in one stream changes it. */
static void test_vector_digest(void **state)
{
    fixture_t *f = *state;
    char *dir2 = tu_tmpdir("journal2");
    knoop_journal_t *j2 = s_open(dir2, 0, 0, 0);
    tu_stream_t s1, s2;
    tu_stream_init(&s1, "vr-utrecht", "grip.vr-utrecht", 5, NULL);
    tu_stream_init(&s2, "ws-rijnland", "water.ws-rijnland.peil", 6, NULL);
    knoop_msg_t a[6], b[4];
    s_build(&s1, a, 6, 10);
    s_build(&s2, b, 4, 10);
    for (int i = 0; i < 6; i++)
        s_append1(f->j, &a[i]);
    for (int i = 0; i < 4; i++)
        s_append1(f->j, &b[i]);
    for (int i = 3; i >= 0; i--)
        s_append1(j2, &b[i]);
    for (int i = 5; i >= 0; i--)
        s_append1(j2, &a[i]);

    knoop_stream_info_t *r1, *r2;
    size_t n1, n2;
    uint8_t d1[32], d2[32];
    assert_int_equal(knoop_journal_vector(f->j, NULL, &r1, &n1), KNOOP_OK);
    assert_int_equal(knoop_journal_vector(j2, ">", &r2, &n2), KNOOP_OK);
    assert_int_equal(n1, 2);
    assert_int_equal(n2, 2);
    assert_true(r1[0].stream < r1[1].stream);
    knoop_vector_digest(r1, n1, d1);
    knoop_vector_digest(r2, n2, d2);
    assert_memory_equal(d1, d2, 32);
    free(r1);
    free(r2);

    /* Pattern filter. */
    assert_int_equal(knoop_journal_vector(f->j, "water.>", &r1, &n1), KNOOP_OK);
    assert_int_equal(n1, 1);
    assert_string_equal(r1[0].topic, "water.ws-rijnland.peil");
    free(r1);

    /* One more message on one side: digests differ. */
    knoop_msg_t extra;
    knoop_buf_t buf = { 0 };
    tu_stream_next(&s1, &buf, &extra, 99, NULL, KNOOP_STATUS_ACTUAL, "x");
    s_append1(j2, &extra);
    knoop_msg_clear(&extra);
    knoop_buf_free(&buf);
    assert_int_equal(knoop_journal_vector(j2, NULL, &r2, &n2), KNOOP_OK);
    knoop_vector_digest(r2, n2, d2);
    assert_memory_not_equal(d1, d2, 32);
    free(r2);

    s_clear(a, 6);
    s_clear(b, 4);
    knoop_journal_destroy(&j2);
    tu_rmtree(dir2);
}

static void test_reopen_and_cursor(void **state)
{
    fixture_t *f = *state;
    uint64_t epoch = knoop_journal_epoch(f->j);
    assert_true(epoch != 0);
    tu_stream_t s;
    tu_stream_init(&s, "kcr2", "duiding.nl", 11, NULL);
    knoop_msg_t m[2];
    s_build(&s, m, 2, 1);
    s_append1(f->j, &m[0]);
    assert_int_equal(knoop_journal_cursor_put(f->j, "sub-a", "abc", 3), KNOOP_OK);
    knoop_journal_destroy(&f->j);

    f->j = s_open(f->dir, 0, 0, 0);
    assert_int_equal(knoop_journal_epoch(f->j), epoch);
    knoop_buf_t c = { 0 };
    assert_int_equal(knoop_journal_cursor_get(f->j, "sub-a", &c), KNOOP_OK);
    assert_int_equal(c.len, 3);
    assert_memory_equal(c.data, "abc", 3);
    knoop_buf_free(&c);
    assert_int_equal(knoop_journal_cursor_get(f->j, "nope", &c), KNOOP_ENOTFOUND);
    /* The arrival log continues after reopening. */
    s_append1(f->j, &m[1]);
    uint64_t next = 0;
    int count = 0;
    assert_int_equal(knoop_journal_tail(f->j, 2, 0, s_count_fn, &count, &next), KNOOP_OK);
    assert_int_equal(count, 1);
    assert_int_equal(next, 3);
    s_clear(m, 2);

    /* A fresh journal gets a different epoch. */
    char *d2 = tu_tmpdir("journal-epoch");
    knoop_journal_t *j2 = s_open(d2, 0, 0, 0);
    assert_true(knoop_journal_epoch(j2) != epoch);
    knoop_journal_destroy(&j2);
    tu_rmtree(d2);
}

/* A second process: read-only open works while we hold the writer; a second
 * writer is refused. */
static void test_multi_process(void **state)
{
    fixture_t *f = *state;
    tu_stream_t s;
    tu_stream_init(&s, "vr-twente", "sitrep.vr-twente", 3, NULL);
    knoop_msg_t m[4];
    s_build(&s, m, 4, 1);
    const knoop_msg_t *ms[4] = { &m[0], &m[1], &m[2], &m[3] };
    int res[4];
    assert_int_equal(knoop_journal_append(f->j, ms, 4, res), KNOOP_OK);
    uint64_t stream = m[0].stream;
    s_clear(m, 4);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        knoop_journal_opts_t o = { .path = f->dir, .flags = KNOOP_JOURNAL_READONLY };
        knoop_journal_t *r = NULL;
        if (knoop_journal_open(&o, &r) != KNOOP_OK)
            _exit(10);
        knoop_stream_info_t info;
        int rc = knoop_journal_stream(r, stream, &info);
        if (rc != KNOOP_OK || info.hwm != 4) {
            fprintf(stderr, "child: stream: %s hwm %llu\n", knoop_strerror(rc),
                    (unsigned long long) info.hwm);
            _exit(11);
        }
        knoop_journal_destroy(&r);
        knoop_journal_opts_t w = { .path = f->dir };
        if (knoop_journal_open(&w, &r) != KNOOP_EBUSY)
            _exit(12);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    /* Read-only open of a missing journal names the problem. */
    knoop_journal_opts_t o = { .path = "/nonexistent/knoop", .flags = KNOOP_JOURNAL_READONLY };
    knoop_journal_t *r = NULL;
    assert_int_equal(knoop_journal_open(&o, &r), KNOOP_ENOTFOUND);
    assert_null(r);
}

/* The map grows when full; at its limit an append fails cleanly with
 * KNOOP_EFULL and the journal keeps serving what it has. */
static void test_map_growth_and_full(void **state)
{
    char *dir = tu_tmpdir("journal-grow");
    knoop_journal_t *j = s_open(dir, 0, 1 << 20, 8 << 20);
    tu_stream_t s;
    tu_stream_init(&s, "vp-enexis", "vitaal.energie.vp-enexis", 4, NULL);
    char payload[4001];
    memset(payload, 'x', 4000);
    payload[4000] = 0;
    knoop_buf_t buf = { 0 };
    int full = 0;
    uint64_t stored = 0;
    for (int i = 0; i < 4000 && !full; i++) {
        knoop_msg_t m;
        uint8_t head[KNOOP_HASH_LEN];
        memcpy(head, s.head, sizeof head);
        tu_stream_next(&s, &buf, &m, (uint64_t) i, NULL, KNOOP_STATUS_ACTUAL, payload);
        const knoop_msg_t *ms[1] = { &m };
        int res;
        int rc = knoop_journal_append(j, ms, 1, &res);
        if (rc == KNOOP_EFULL)
            full = 1;
        else {
            assert_int_equal(rc, KNOOP_OK);
            stored++;
        }
        if (full) {     /* not stored: the next try reuses its seq */
            s.seq--;
            memcpy(s.head, head, sizeof head);
        }
        knoop_msg_clear(&m);
    }
    knoop_buf_free(&buf);
    assert_true(full);
    knoop_journal_stats_t st;
    knoop_journal_stats(j, &st);
    assert_true(st.map_grows >= 3);
    assert_int_equal(st.map_size, 8 << 20);
    knoop_stream_info_t *rows;
    size_t n;
    assert_int_equal(knoop_journal_vector(j, NULL, &rows, &n), KNOOP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].hwm, stored);
    free(rows);
    knoop_journal_destroy(&j);

    /* Reopened with a larger limit, it takes more. */
    j = s_open(dir, 0, 0, 64 << 20);
    knoop_msg_t m;
    knoop_buf_t b2 = { 0 };
    tu_stream_next(&s, &b2, &m, 99999, NULL, KNOOP_STATUS_ACTUAL, payload);
    assert_int_equal(s_append1(j, &m), KNOOP_OK);
    knoop_msg_clear(&m);
    knoop_buf_free(&b2);
    knoop_journal_destroy(&j);
    tu_rmtree(dir);
}

/* The one frame batch: a budget of messages and bytes (the first always
 * fits), copies that outlive the read, and a start that empties it. */
/* Cut the msg database's tree: the second child of each of its branch pages
 * (keys of 16 bytes: stream || seq) points past the end of the file, as a
 * damaged page would. A walk then fails part of the way (LMDB:
 * MDB_PAGE_NOTFOUND). Returns how many branch pages were cut. */
static int s_cut_msg_tree(const char *dir)
{
    char *path = tu_path(dir, "data.mdb");
    size_t len = 0;
    uint8_t *d = (uint8_t *) tu_read_file(path, &len);
    assert_non_null(d);
    const size_t psize = 4096;
    int cut = 0;
    for (size_t p = 2; (p + 1) * psize <= len; p++) {
        uint8_t *pg = d + p * psize;
        uint64_t pgno;
        uint16_t flags, lower;
        memcpy(&pgno, pg, 8);
        memcpy(&flags, pg + 10, 2);
        memcpy(&lower, pg + 12, 2);
        if (pgno != p || flags != 0x01 || lower < 16 + 3 * 2)   /* P_BRANCH, >= 3 children */
            continue;
        uint16_t at, ksize;
        memcpy(&at, pg + 16 + 2, 2);                            /* the second node */
        if (at + 8u > psize)
            continue;
        memcpy(&ksize, pg + at + 6, 2);
        if (ksize != 16)
            continue;
        pg[at + 2] = pg[at + 3] = 0xff;                         /* mn_hi: page 0xffff0000+ */
        cut++;
    }
    tu_write_file(path, d, len, 0600);
    free(d);
    free(path);
    return cut;
}

/* writer.lock as a clean close leaves it for data.mdb as it is now: what
 * damage that leaves the file's inode, size and ctime alone (bit rot)
 * looks like to the next open. */
static void s_mark_clean_as_is(const char *dir)
{
    char path[4096], line[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(stat(path, &st), 0);
    snprintf(line, sizeof line, "clean %llu %llu %lld.%09ld\n", (unsigned long long) st.st_ino,
             (unsigned long long) st.st_size, (long long) st.st_ctim.tv_sec,
             (long) st.st_ctim.tv_nsec);
    snprintf(path, sizeof path, "%s/writer.lock", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(line, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

/* A walk that fails part of the way is an error, not the end of the walk:
 * the scan over a msg tree cut in the middle says the journal is damaged
 * (not an I/O error from a transaction LMDB refused after the failure, nor
 * a clean scan of the messages it happened to reach). */
static void test_walk_fails_part_way(void **state)
{
    fixture_t *f = *state;
    tu_stream_t s;
    tu_stream_init(&s, "vr-utrecht", "grip.vr-utrecht", 42, NULL);
    enum { N = 400 };
    knoop_msg_t *m = calloc(N, sizeof *m);
    assert_non_null(m);
    const knoop_msg_t **ms = calloc(N, sizeof *ms);
    assert_non_null(ms);
    int *res = calloc(N, sizeof *res);
    assert_non_null(res);
    knoop_buf_t b = { 0 };
    char payload[400];
    for (int i = 0; i < N; i++) {
        snprintf(payload, sizeof payload, "%0300d", i);
        tu_stream_next(&s, &b, &m[i], 1000 + (uint64_t) i, NULL, KNOOP_STATUS_ACTUAL, payload);
        ms[i] = &m[i];
    }
    knoop_buf_free(&b);
    assert_int_equal(knoop_journal_append(f->j, ms, N, res), KNOOP_OK);
    knoop_journal_scan_t sc;
    assert_int_equal(knoop_journal_scan(f->j, false, &sc), KNOOP_OK);
    assert_int_equal(sc.messages, N);
    knoop_journal_destroy(&f->j);

    /* a file's ctime moves with the kernel's coarse clock (a tick, 1-10
     * ms): the cut must fall after the close's tick to be seen */
    usleep(50000);
    assert_true(s_cut_msg_tree(f->dir) > 0);
    /* data.mdb changed since its clean close: a writer walks the pages
     * first and refuses the journal */
    knoop_journal_opts_t o = { .path = f->dir };
    assert_int_equal(knoop_journal_open(&o, &f->j), KNOOP_ECORRUPT);
    assert_null(f->j);
    /* the same damage unseen by the file's identity (bit rot): the open
     * does not walk, and the scan fails part of the way */
    s_mark_clean_as_is(f->dir);
    f->j = s_open(f->dir, 0, 0, 0);
    assert_int_equal(knoop_journal_scan(f->j, false, &sc), KNOOP_ECORRUPT);
    assert_true(sc.messages < N);
    assert_int_equal(knoop_journal_scan(f->j, true, &sc), KNOOP_ECORRUPT);
    s_clear(m, N);
    free(m);
    free(ms);
    free(res);
}

static void test_batch_budget(void **state)
{
    (void) state;
    knoop_batch_t *b = calloc(1, sizeof *b);
    assert_non_null(b);
    uint8_t env[100];
    for (size_t i = 0; i < sizeof env; i++)
        env[i] = (uint8_t) i;

    knoop_batch_start(b, 3, 0);                         /* 3 messages, no byte limit */
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(knoop_batch_take(b, 10 + i, 7, 20 + i, env, sizeof env), 0);
    assert_true(knoop_batch_full(b, 1));
    assert_int_equal(knoop_batch_take(b, 13, 7, 23, env, sizeof env), 1);
    assert_int_equal(b->n, 3);
    assert_int_equal(b->item[2].pos, 12);
    assert_int_equal(b->item[2].stream, 7);
    assert_int_equal(b->item[2].seq, 22);
    memset(env, 0xff, sizeof env);                      /* the batch holds copies */
    assert_int_equal(knoop_batch_env(b, 1)[5], 5);
    assert_int_equal(b->item[1].len, sizeof env);

    knoop_batch_start(b, 100000, 250);                  /* capped; 250 bytes */
    assert_int_equal(b->n, 0);
    assert_int_equal(b->max_msgs, KNOOP_BATCH_MAX);
    knoop_batch_start(b, 10, 50);
    assert_int_equal(knoop_batch_take(b, 1, 1, 1, env, 100), 0);   /* first always fits */
    assert_int_equal(knoop_batch_take(b, 2, 1, 2, env, 1), 1);
    knoop_batch_start(b, 10, 250);
    assert_int_equal(knoop_batch_take(b, 1, 1, 1, env, 100), 0);
    assert_int_equal(knoop_batch_take(b, 2, 1, 2, env, 100), 0);
    assert_true(knoop_batch_full(b, 51));
    assert_false(knoop_batch_full(b, 50));
    assert_int_equal(knoop_batch_take(b, 3, 1, 3, env, 100), 1);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->arena.len, 200);

    knoop_batch_free(b);
    knoop_batch_free(b);                                /* twice is safe */
    free(b);
}

int main(void)
{
    knoop_crypto_init();
    knoop_log_set_level(KNOOP_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_order_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_break_and_fork, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vector_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_process, setup, teardown),
        cmocka_unit_test(test_map_growth_and_full),
        cmocka_unit_test(test_batch_budget),
        cmocka_unit_test_setup_teardown(test_walk_fails_part_way, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
