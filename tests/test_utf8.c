/* test_utf8.c — the one UTF-8 check (lib/utf8.h), against an independent
 * reference: a sequence is valid exactly when it is the shortest encoding of
 * a Unicode scalar value. Every 1-, 2- and 3-byte sequence is tried, and the
 * 4-byte ones around every boundary. */
#include "testutil.h"
#include "utf8.h"
#include "knoop.h"

#include <string.h>

/* Encode cp the canonical way; returns the length. */
static size_t s_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char) (0xc0 | cp >> 6);
        out[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char) (0xe0 | cp >> 12);
        out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char) (0xf0 | cp >> 18);
    out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char) (0x80 | (cp & 0x3f));
    return 4;
}

/* Reference: the n bytes are one character when the lead byte announces n
 * bytes, the rest are continuation bytes, and the code point they carry is
 * a scalar value whose canonical encoding is these very bytes. */
static bool s_ref_one(const unsigned char *p, size_t n)
{
    size_t want;
    uint32_t cp;
    if (p[0] < 0x80) { want = 1; cp = p[0]; }
    else if ((p[0] & 0xe0) == 0xc0) { want = 2; cp = p[0] & 0x1f; }
    else if ((p[0] & 0xf0) == 0xe0) { want = 3; cp = p[0] & 0x0f; }
    else if ((p[0] & 0xf8) == 0xf0) { want = 4; cp = p[0] & 0x07; }
    else return false;
    if (want != n)
        return false;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return false;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return false;
    unsigned char enc[4];
    return s_encode(cp, enc) == n && memcmp(enc, p, n) == 0;
}

static void test_every_short_sequence(void **state)
{
    unsigned char b[3];
    size_t valid[4] = { 0 };
    for (unsigned a = 0; a < 256; a++) {
        b[0] = (unsigned char) a;
        bool ref = s_ref_one(b, 1);
        assert_int_equal(knoop_utf8_valid(b, 1), ref);
        assert_int_equal(knoop_utf8_seq(b, 1) == 1, ref);
        valid[1] += ref;
        for (unsigned c = 0; c < 256; c++) {
            b[1] = (unsigned char) c;
            bool two = s_ref_one(b, 2);
            /* Two bytes are valid text as one character or as two ASCII. */
            assert_int_equal(knoop_utf8_valid(b, 2), two || (a < 0x80 && c < 0x80));
            valid[2] += two;
            for (unsigned d = 0x00; d < 256; d++) {
                b[2] = (unsigned char) d;
                bool three = s_ref_one(b, 3);
                valid[3] += three;
                if (a >= 0xe0 && a <= 0xef)   /* a 3-byte lead: one character or none */
                    assert_int_equal(knoop_utf8_seq(b, 3) == 3, three);
                if (three)
                    assert_true(knoop_utf8_valid(b, 3));
            }
        }
    }
    /* The counts Unicode gives: 128 ASCII, 1920 two-byte, 61440 three-byte
     * (63488 minus 2048 surrogates). */
    assert_int_equal(valid[1], 128);
    assert_int_equal(valid[2], 1920);
    assert_int_equal(valid[3], 61440);
}

static void test_every_code_point(void **state)
{
    unsigned char b[4];
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        size_t n = s_encode(cp, b);
        bool want = !(cp >= 0xd800 && cp <= 0xdfff);
        assert_int_equal(knoop_utf8_valid(b, n), want);
        assert_int_equal(knoop_utf8_seq(b, n), want ? n : 0);
        /* Cut short, it is never one character. */
        for (size_t k = 1; k < n; k++)
            assert_int_equal(knoop_utf8_seq(b, k), 0);
    }
}

static void test_four_byte_edges(void **state)
{
    unsigned char b[4];
    for (unsigned a = 0xf0; a < 0x100; a++)
        for (unsigned c = 0; c < 256; c++)
            for (unsigned d = 0x7f; d <= 0xc0; d++) {
                b[0] = (unsigned char) a;
                b[1] = (unsigned char) c;
                b[2] = (unsigned char) d;
                b[3] = 0x80;
                assert_int_equal(knoop_utf8_valid(b, 4), s_ref_one(b, 4));
                b[3] = 0xbf;
                assert_int_equal(knoop_utf8_valid(b, 4), s_ref_one(b, 4));
            }
}

static void test_named_cases(void **state)
{
    static const struct { const char *s; bool ok; } cases[] = {
        { "", true },
        { "grip.vr-utrecht", true },
        { "Utrechtse Heuvelrug \xe2\x80\x94 evacuatie", true },   /* em dash */
        { "\xf0\x9f\x9a\x92", true },                           /* fire engine */
        { "\xc0\xaf", false },                                  /* overlong '/' */
        { "\xe0\x80\xaf", false },                              /* overlong, 3 bytes */
        { "\xf0\x80\x80\xaf", false },                          /* overlong, 4 bytes */
        { "\xed\xa0\x80", false },                              /* U+D800 surrogate */
        { "\xed\xbf\xbf", false },                              /* U+DFFF */
        { "\xf4\x90\x80\x80", false },                          /* U+110000 */
        { "\xf8\x88\x80\x80\x80", false },                      /* 5-byte form */
        { "\x80", false },                                      /* lone continuation */
        { "abc\xc3", false },                                   /* truncated at end */
        { "\xc3(", false },                                     /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (knoop_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
            fail_msg("case %zu: want %d", i, cases[i].ok);
    }
    /* A NUL is a character here: the length decides. */
    assert_true(knoop_utf8_valid("a\0b", 3));
}

static void test_text_valid(void **state)
{
    assert_true(knoop_utf8_text_valid(NULL, 10));
    assert_true(knoop_utf8_text_valid("", 0));
    assert_true(knoop_utf8_text_valid("knoop-node 1.0", 64));
    assert_true(knoop_utf8_text_valid("\xc3\xa9\xc3\xa9", 4));      /* bytes, not chars */
    assert_false(knoop_utf8_text_valid("\xc3\xa9\xc3\xa9", 3));
    assert_false(knoop_utf8_text_valid("line\nforged", 64));
    assert_false(knoop_utf8_text_valid("bell\a", 64));
    assert_false(knoop_utf8_text_valid("del\x7f", 64));
    assert_false(knoop_utf8_text_valid("esc\x1b[31m", 64));
    assert_false(knoop_utf8_text_valid("bad \xed\xa0\x80", 64));
    assert_false(knoop_utf8_text_valid("cut \xe2\x80", 64));
    /* A multi-byte character cut by the bound is not read past it. */
    char s[5] = { 'a', 'b', (char) 0xe2, (char) 0x80, (char) 0x94 };
    assert_false(knoop_utf8_text_valid(s, 4));
    char t[6] = { 'a', 'b', 'c', 'd', 'e', 'f' };       /* no NUL within max + 1 */
    assert_false(knoop_utf8_text_valid(t, 4));
    for (int c = 1; c < 0x20; c++) {
        char one[2] = { (char) c, 0 };
        assert_false(knoop_utf8_text_valid(one, 4));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_short_sequence),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_four_byte_edges),
        cmocka_unit_test(test_named_cases),
        cmocka_unit_test(test_text_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
