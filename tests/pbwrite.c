/* pbwrite.c — the unit tests' minimal protobuf writer. See pbwrite.h. */
#include "pbwrite.h"

#include <stdarg.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

void tu_pb_raw(knoop_buf_t *b, const void *data, size_t len)
{
    assert_int_equal(knoop_buf_append(b, data, len), KNOOP_OK);
}

void tu_pb_byte(knoop_buf_t *b, uint8_t c)
{
    tu_pb_raw(b, &c, 1);
}

void tu_pb_varint(knoop_buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t) (v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    tu_pb_raw(b, tmp, n);
}

void tu_pb_tag(knoop_buf_t *b, uint32_t field, uint32_t wire)
{
    tu_pb_varint(b, ((uint64_t) field << 3) | wire);
}

void tu_pb_uint(knoop_buf_t *b, uint32_t field, uint64_t v)
{
    tu_pb_tag(b, field, 0);
    tu_pb_varint(b, v);
}

void tu_pb_fixed64(knoop_buf_t *b, uint32_t field, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t) (v >> (8 * i));
    tu_pb_tag(b, field, 1);
    tu_pb_raw(b, le, sizeof le);
}

void tu_pb_bytes(knoop_buf_t *b, uint32_t field, const void *data, size_t len)
{
    tu_pb_tag(b, field, 2);
    tu_pb_varint(b, len);
    if (len)
        tu_pb_raw(b, data, len);
}

void tu_pb_str(knoop_buf_t *b, uint32_t field, const char *s)
{
    tu_pb_bytes(b, field, s, strlen(s));
}
