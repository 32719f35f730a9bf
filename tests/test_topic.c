/*
 * test_topic.c — topic and pattern syntax, wildcard matching, partner ids.
 * See topic.h for the rules under test.
 */
#include "testutil.h"
#include "topic.h"

#include <stdlib.h>
#include <string.h>

/* "t0.t1.t2..." with n tokens of one character each. */
static void s_tokens(char *out, size_t cap, int n, const char *tok)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t tl = strlen(tok);
        assert_true(len + tl + 2 <= cap);
        if (i)
            out[len++] = '.';
        memcpy(out + len, tok, tl);
        len += tl;
        out[len] = '\0';
    }
}

/* A string of `len` copies of c. */
static void s_fill(char *out, size_t len, char c)
{
    memset(out, c, len);
    out[len] = '\0';
}

static void test_topic_valid(void **state)
{
    static const char *valid[] = {
        "grip.vr-utrecht", "a", "duiding.nl", "water.ws-limburg.peil",
        "a_b.c-d.0", "0", "-", "_", "a.b.c.d", "x--y.__",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        assert_int_equal(knoop_topic_validate(valid[i]), KNOOP_OK);
        /* every valid topic is also a valid pattern (matching itself) */
        assert_int_equal(knoop_pattern_validate(valid[i]), KNOOP_OK);
        assert_true(knoop_topic_match(valid[i], valid[i]));
    }

    char buf[512];
    s_tokens(buf, sizeof buf, KNOOP_TOPIC_DEPTH, "a");
    assert_int_equal(knoop_topic_validate(buf), KNOOP_OK);

    /* one token of the maximum length */
    s_fill(buf, KNOOP_TOKEN_MAX, 'z');
    assert_int_equal(knoop_topic_validate(buf), KNOOP_OK);

    /* exactly KNOOP_TOPIC_MAX bytes: 4 tokens of 63 + 3 dots = 255 */
    char tok[KNOOP_TOKEN_MAX + 1];
    s_fill(tok, 63, 'q');
    s_tokens(buf, sizeof buf, 4, tok);
    assert_int_equal(strlen(buf), KNOOP_TOPIC_MAX);
    assert_int_equal(knoop_topic_validate(buf), KNOOP_OK);
    assert_int_equal(knoop_pattern_validate(buf), KNOOP_OK);
}

static void test_topic_invalid(void **state)
{
    static const char *invalid[] = {
        "", ".", "a.", ".a", "a..b", "..", "A", "grip.VR-utrecht", "Grip",
        "a b", " a", "a ", "a.b c", "gr*p", "gr>p", "a*", "*a", ">a",
        "*", ">", "a.*", "a.>", "*.a", "a.*.b", "a/b", "a\tb", "a\nb",
        "é", "grip.vr-ütrecht", "a,b", "a:b", "a#b", "a+b", "a$", "\x7f",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        if (knoop_topic_validate(invalid[i]) != KNOOP_ETOPIC)
            fail_msg("topic \"%s\" accepted", invalid[i]);
    }
    assert_int_equal(knoop_topic_validate(NULL), KNOOP_ETOPIC);

    char buf[1024];
    s_tokens(buf, sizeof buf, KNOOP_TOPIC_DEPTH + 1, "a");
    assert_int_equal(knoop_topic_validate(buf), KNOOP_ETOPIC);
    assert_int_equal(knoop_pattern_validate(buf), KNOOP_ETOPIC);

    s_fill(buf, KNOOP_TOKEN_MAX + 1, 'z');
    assert_int_equal(knoop_topic_validate(buf), KNOOP_ETOPIC);
    assert_int_equal(knoop_pattern_validate(buf), KNOOP_ETOPIC);
    /* the long token in the middle of a topic */
    memcpy(buf, "a.", 2);
    s_fill(buf + 2, KNOOP_TOKEN_MAX + 1, 'z');
    strcat(buf, ".b");
    assert_int_equal(knoop_topic_validate(buf), KNOOP_ETOPIC);

    /* 256 bytes: tokens of 63 chars, the last one 64, all otherwise legal */
    char tok[KNOOP_TOKEN_MAX + 1];
    s_fill(tok, 63, 'q');
    s_tokens(buf, sizeof buf, 4, tok);
    strcat(buf, "q");
    assert_int_equal(strlen(buf), KNOOP_TOPIC_MAX + 1);
    assert_int_equal(knoop_topic_validate(buf), KNOOP_ETOPIC);
    assert_int_equal(knoop_pattern_validate(buf), KNOOP_ETOPIC);

    /* a very long string: the validator must not read it all */
    size_t big = 1 << 16;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    s_fill(huge, big, 'a');
    assert_int_equal(knoop_topic_validate(huge), KNOOP_ETOPIC);
    free(huge);
}

static void test_pattern_validate(void **state)
{
    static const char *valid[] = {
        "*", ">", "a.*.c", "a.>", "*.b.>", "*.*", "*.*.*", "grip.*", "a.*.>",
        "*.>", "grip.vr-utrecht", "water.>",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
        if (knoop_pattern_validate(valid[i]) != KNOOP_OK)
            fail_msg("pattern \"%s\" refused", valid[i]);

    static const char *invalid[] = {
        "", ".", "a.>.b", ">.a", ">.>", ">x", "x>", "**", "*x", "a*", "gr*p",
        "a.", ".a", "a..b", ".*", "*.", "> ", " >", "A.*", "a.**", "a.>>", ">*",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        if (knoop_pattern_validate(invalid[i]) != KNOOP_ETOPIC)
            fail_msg("pattern \"%s\" accepted", invalid[i]);
    assert_int_equal(knoop_pattern_validate(NULL), KNOOP_ETOPIC);

    /* 16 wildcard tokens are fine, 17 are not */
    char buf[128];
    s_tokens(buf, sizeof buf, KNOOP_TOPIC_DEPTH, "*");
    assert_int_equal(knoop_pattern_validate(buf), KNOOP_OK);
    s_tokens(buf, sizeof buf, KNOOP_TOPIC_DEPTH + 1, "*");
    assert_int_equal(knoop_pattern_validate(buf), KNOOP_ETOPIC);
}

typedef struct {
    const char *pattern;
    const char *topic;
    bool        match;
} s_case_t;

static void test_match(void **state)
{
    static const s_case_t cases[] = {
        /* '>' alone matches every topic */
        { ">", "a", true },
        { ">", "a.b", true },
        { ">", "grip.vr-utrecht", true },
        { ">", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", true },
        /* "a.>" needs at least one more token */
        { "a.>", "a.b", true },
        { "a.>", "a.b.c", true },
        { "a.>", "a", false },
        { "a.>", "b.a", false },
        { "a.>", "ab.c", false },
        { "a.>", "b", false },
        /* '*' is exactly one token */
        { "a.*", "a.b", true },
        { "a.*", "a", false },
        { "a.*", "a.b.c", false },
        { "a.*", "b.a", false },
        { "*", "a", true },
        { "*", "grip", true },
        { "*", "a.b", false },
        { "*", "grip.vr-utrecht", false },
        { "*.*", "a.b", true },
        { "*.*", "a", false },
        { "*.*", "a.b.c", false },
        { "a.*.c", "a.b.c", true },
        { "a.*.c", "a.x.c", true },
        { "a.*.c", "a.b.d", false },
        { "a.*.c", "a.c", false },
        { "a.*.c", "a.b.b.c", false },
        { "*.b.>", "a.b.c", true },
        { "*.b.>", "x.b.c.d.e", true },
        { "*.b.>", "a.b", false },
        { "*.b.>", "a.c.d", false },
        { "*.b.>", "b.c", false },
        { "*.>", "a", false },
        { "*.>", "a.b", true },
        { "a.*.>", "a.b", false },
        { "a.*.>", "a.b.c", true },
        /* tokens that share a prefix are different tokens */
        { "grip.vr", "grip.vr-utrecht", false },
        { "grip.vr-utrecht", "grip.vr", false },
        { "grip.vr.>", "grip.vr-utrecht.x", false },
        { "grip.vr-utrecht", "grip.vr-utrecht2", false },
        { "grip", "grip.vr-utrecht", false },
        { "grip.vr-utrecht", "grip", false },
        { "gri", "grip", false },
        { "grip", "gri", false },
        { "grip.*", "grip.vr-utrecht", true },
        { "grip.>", "grip.vr-utrecht", true },
        { "grip.>", "gripx.vr-utrecht", false },
        { "*.vr-utrecht", "grip.vr-utrecht", true },
        { "*.vr-utrecht", "grip.vr-utrechtx", false },
        { "*.vr", "grip.vr-utrecht", false },
        /* exact match */
        { "grip.vr-utrecht", "grip.vr-utrecht", true },
        { "water.ws-limburg.peil", "water.ws-limburg.peil", true },
        { "water.ws-limburg.peil", "water.ws-limburg.peilx", false },
        { "water.ws-limburg.peil", "water.ws-limburg", false },
        { "a.b", "a.c", false },
        { "a.b", "b.b", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const s_case_t *c = &cases[i];
        assert_int_equal(knoop_pattern_validate(c->pattern), KNOOP_OK);
        assert_int_equal(knoop_topic_validate(c->topic), KNOOP_OK);
        if (knoop_topic_match(c->pattern, c->topic) != c->match)
            fail_msg("match(\"%s\", \"%s\") should be %s", c->pattern, c->topic,
                     c->match ? "true" : "false");
    }
}

/* Deep topics: the maximum depth and '*' or '>' at every position. */
static void test_match_depth(void **state)
{
    char topic[128], pattern[128];
    s_tokens(topic, sizeof topic, KNOOP_TOPIC_DEPTH, "t");
    assert_int_equal(knoop_topic_validate(topic), KNOOP_OK);
    for (int n = 1; n <= KNOOP_TOPIC_DEPTH; n++) {
        /* n stars match exactly the n-token topic */
        s_tokens(pattern, sizeof pattern, n, "*");
        char t[128];
        s_tokens(t, sizeof t, n, "t");
        assert_true(knoop_topic_match(pattern, t));
        assert_int_equal(knoop_topic_match(pattern, topic), n == KNOOP_TOPIC_DEPTH);
        /* n-1 tokens then '>' matches every topic with at least n tokens */
        s_tokens(pattern, sizeof pattern, n - 1, "t");
        strcat(pattern, n > 1 ? ".>" : ">");
        assert_int_equal(knoop_pattern_validate(pattern), KNOOP_OK);
        assert_true(knoop_topic_match(pattern, topic));
        if (n > 1) {
            s_tokens(t, sizeof t, n - 1, "t");
            assert_false(knoop_topic_match(pattern, t));
        }
    }
}

/* Randomised cross-check of the matcher against a token-array reference. */
static bool s_ref_match(char **pt, int pn, char **tt, int tn)
{
    for (int i = 0; i < pn; i++) {
        if (strcmp(pt[i], ">") == 0)
            return tn > i;
        if (i >= tn)
            return false;
        if (strcmp(pt[i], "*") != 0 && strcmp(pt[i], tt[i]) != 0)
            return false;
    }
    return pn == tn;
}

static int s_split(char *s, char **tok)
{
    int n = 0;
    for (char *p = s;; p++) {
        tok[n++] = p;
        p = strchr(p, '.');
        if (!p)
            break;
        *p = '\0';
    }
    return n;
}

static void test_match_random(void **state)
{
    srand(tu_seed());
    static const char *alphabet[] = { "a", "b", "ab", "a-b" };
    int iters = tu_soak() ? 500000 : 20000;
    for (int it = 0; it < iters; it++) {
        char topic[128] = "", pattern[128] = "";
        int tn = 1 + rand() % 5, pn = 1 + rand() % 5;
        for (int i = 0; i < tn; i++) {
            if (i)
                strcat(topic, ".");
            strcat(topic, alphabet[rand() % 4]);
        }
        for (int i = 0; i < pn; i++) {
            if (i)
                strcat(pattern, ".");
            int r = rand() % 7;
            if (r == 4 && i == pn - 1)
                strcat(pattern, ">");
            else if (r >= 4)
                strcat(pattern, "*");
            else
                strcat(pattern, alphabet[r]);
        }
        assert_int_equal(knoop_topic_validate(topic), KNOOP_OK);
        assert_int_equal(knoop_pattern_validate(pattern), KNOOP_OK);
        char tcopy[128], pcopy[128], *tt[16], *pt[16];
        strcpy(tcopy, topic);
        strcpy(pcopy, pattern);
        int tcount = s_split(tcopy, tt), pcount = s_split(pcopy, pt);
        bool want = s_ref_match(pt, pcount, tt, tcount);
        if (knoop_topic_match(pattern, topic) != want)
            fail_msg("match(\"%s\", \"%s\") should be %d", pattern, topic, want);
    }
}

static void test_id_valid(void **state)
{
    static const char *valid[] = {
        "vr-utrecht", "ws-rijnland", "vp-tennet", "kcr2", "a", "0", "9a",
        "a-", "a--b", "abc-123",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
        if (!knoop_id_valid(valid[i]))
            fail_msg("id \"%s\" refused", valid[i]);

    static const char *invalid[] = {
        "", "-", "-a", "VR-utrecht", "vr_utrecht", "vr.utrecht", "vr utrecht",
        " a", "a ", "a*", "a>", "é", "a\n", "a/b", "a:b",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        if (knoop_id_valid(invalid[i]))
            fail_msg("id \"%s\" accepted", invalid[i]);
    assert_false(knoop_id_valid(NULL));

    char buf[KNOOP_ID_MAX + 2];
    s_fill(buf, KNOOP_ID_MAX, 'a');
    assert_true(knoop_id_valid(buf));
    s_fill(buf, KNOOP_ID_MAX + 1, 'a');
    assert_false(knoop_id_valid(buf));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_valid),
        cmocka_unit_test(test_topic_invalid),
        cmocka_unit_test(test_pattern_validate),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_match_depth),
        cmocka_unit_test(test_match_random),
        cmocka_unit_test(test_id_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
