/* test_varint.c — protobuf varints and the field walk (lib/varint.h): the
 * encodings the protobuf documentation gives, every length boundary, every
 * truncation, over-long forms, and a walk over a message of every wire
 * type, cut at every byte. */
#include "testutil.h"
#include "varint.h"
#include "knoop.h"

#include <stdlib.h>
#include <string.h>

/* Write v as a varint (independent of the module); returns the length. */
static size_t s_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        out[n++] = (uint8_t) (b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

static void test_known_encodings(void **state)
{
    static const struct { uint64_t v; uint8_t b[10]; size_t n; } cases[] = {
        { 0, { 0x00 }, 1 },
        { 1, { 0x01 }, 1 },
        { 127, { 0x7f }, 1 },
        { 128, { 0x80, 0x01 }, 2 },
        { 150, { 0x96, 0x01 }, 2 },            /* the protobuf documentation's */
        { 300, { 0xac, 0x02 }, 2 },
        { UINT32_MAX, { 0xff, 0xff, 0xff, 0xff, 0x0f }, 5 },
        { UINT64_MAX, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 10 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *p = cases[i].b;
        uint64_t v = 12345;
        assert_true(knoop_varint_read(&p, cases[i].b + cases[i].n, &v));
        assert_true(v == cases[i].v);
        assert_ptr_equal(p, cases[i].b + cases[i].n);
        assert_int_equal(knoop_varint_len(cases[i].v), cases[i].n);
    }
}

static void test_boundaries_and_truncation(void **state)
{
    uint8_t buf[16];
    for (unsigned bits = 0; bits <= 64; bits++) {
        uint64_t vals[3] = { bits ? (bits == 64 ? UINT64_MAX : (1ull << bits) - 1) : 0,
                             bits < 64 ? 1ull << bits : 0, bits < 64 ? (1ull << bits) + 1 : 1 };
        for (int k = 0; k < 3; k++) {
            uint64_t v = vals[k];
            size_t n = s_put(buf, v);
            assert_int_equal(knoop_varint_len(v), n);
            const uint8_t *p = buf;
            uint64_t got;
            assert_true(knoop_varint_read(&p, buf + n, &got));
            assert_true(got == v);
            /* Every cut is refused, the cursor left alone and *v zeroed. */
            for (size_t cut = 0; cut < n; cut++) {
                p = buf;
                got = 99;
                assert_false(knoop_varint_read(&p, buf + cut, &got));
                assert_ptr_equal(p, buf);
                assert_true(got == 0);
            }
        }
    }
}

static void test_overlong(void **state)
{
    /* Ten bytes is the most: an eleventh continuation is refused. */
    uint8_t b[12];
    memset(b, 0x80, sizeof b);
    b[10] = 0x00;
    const uint8_t *p = b;
    uint64_t v;
    assert_false(knoop_varint_read(&p, b + 11, &v));
    /* A padded zero within ten bytes is still a varint (protobuf-c reads it). */
    b[9] = 0x00;
    p = b;
    assert_true(knoop_varint_read(&p, b + 10, &v));
    assert_true(v == 0);
    assert_ptr_equal(p, b + 10);
    /* Random values round-trip. */
    srand(tu_seed());
    for (int i = 0; i < 100000; i++) {
        uint64_t x = ((uint64_t) rand() << 42) ^ ((uint64_t) rand() << 21) ^ (uint64_t) rand();
        x >>= rand() % 64;
        size_t n = s_put(b, x);
        p = b;
        assert_true(knoop_varint_read(&p, b + n, &v));
        assert_true(v == x);
        assert_int_equal(knoop_varint_len(x), n);
    }
}

/* A message: 1 varint 150, 2 fixed64, 3 bytes "abc", 4 fixed32, 5 an empty
 * LEN, 536870911 (the highest field number) varint 1. */
static size_t s_message(uint8_t *m)
{
    size_t n = 0;
    n += s_put(m + n, 1 << 3 | 0);
    n += s_put(m + n, 150);
    n += s_put(m + n, 2 << 3 | 1);
    for (int i = 0; i < 8; i++)
        m[n++] = (uint8_t) i;
    n += s_put(m + n, 3 << 3 | 2);
    n += s_put(m + n, 3);
    memcpy(m + n, "abc", 3);
    n += 3;
    n += s_put(m + n, 4 << 3 | 5);
    for (int i = 0; i < 4; i++)
        m[n++] = 0xee;
    n += s_put(m + n, 5 << 3 | 2);
    n += s_put(m + n, 0);
    n += s_put(m + n, (uint64_t) 536870911 << 3 | 0);
    n += s_put(m + n, 1);
    return n;
}

static void test_field_walk(void **state)
{
    uint8_t m[64];
    size_t len = s_message(m);
    assert_int_equal(len, 30);
    const uint8_t *p = m, *end = m + len;
    knoop_pb_field_t f;
    assert_true(knoop_pb_field_next(&p, end, &f));
    assert_true(f.num == 1 && f.wt == KNOOP_WT_VARINT && f.v == 150 && !f.data);
    assert_true(knoop_pb_field_next(&p, end, &f));
    assert_true(f.num == 2 && f.wt == KNOOP_WT_I64 && f.v == 0 && !f.data);
    assert_true(knoop_pb_field_next(&p, end, &f));
    assert_true(f.num == 3 && f.wt == KNOOP_WT_LEN && f.len == 3);
    assert_memory_equal(f.data, "abc", 3);
    assert_true(knoop_pb_field_next(&p, end, &f));
    assert_true(f.num == 4 && f.wt == KNOOP_WT_I32);
    assert_true(knoop_pb_field_next(&p, end, &f));
    assert_true(f.num == 5 && f.wt == KNOOP_WT_LEN && f.len == 0 && f.data == p);
    assert_true(knoop_pb_field_next(&p, end, &f));
    assert_true(f.num == 536870911 && f.v == 1);
    assert_ptr_equal(p, end);

    /* Cut at every byte: the walk reads whole fields up to the cut and
     * then refuses, never reading past it (ASan watches the heap copy). */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, m, cut);
        const uint8_t *q = copy, *qe = copy + cut;
        size_t fields = 0;
        bool ok = true;
        while (q < qe && (ok = knoop_pb_field_next(&q, qe, &f)))
            fields++;
        /* The fields end after 3, 12, 17, 22 and 24 bytes. */
        bool at_end = cut == 0 || cut == 3 || cut == 12 || cut == 17 || cut == 22 || cut == 24;
        if (ok != at_end)
            fail_msg("cut %zu: walk %s", cut, ok ? "accepted" : "refused");
        free(copy);
        (void) fields;
    }
}

static void test_field_refusals(void **state)
{
    knoop_pb_field_t f;
    /* Groups (3, 4) and the undefined wire types 6, 7. */
    for (int wt = 3; wt <= 7; wt++) {
        if (wt == 5)
            continue;
        uint8_t m[4] = { (uint8_t) (1 << 3 | wt), 0, 0, 0 };
        const uint8_t *p = m;
        assert_false(knoop_pb_field_next(&p, m + sizeof m, &f));
        assert_ptr_equal(p, m);
    }
    /* A length past the end, and a length that would wrap a pointer. */
    uint8_t m[16];
    size_t n = s_put(m, 1 << 3 | 2);
    n += s_put(m + n, 5);
    m[n++] = 'x';
    const uint8_t *p = m;
    assert_false(knoop_pb_field_next(&p, m + n, &f));
    n = s_put(m, 1 << 3 | 2);
    n += s_put(m + n, UINT64_MAX);
    p = m;
    assert_false(knoop_pb_field_next(&p, m + n, &f));
    /* Field number 0 is walked (the caller decides): it is refused by all
     * three callers, each with its own bound above. */
    uint8_t z[2] = { 0 << 3 | 0, 7 };
    p = z;
    assert_true(knoop_pb_field_next(&p, z + 2, &f));
    assert_true(f.num == 0 && f.v == 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_encodings),
        cmocka_unit_test(test_boundaries_and_truncation),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_field_walk),
        cmocka_unit_test(test_field_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
