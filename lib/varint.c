/* varint.c — protobuf varints and fields. See varint.h. */
#include "varint.h"

bool knoop_varint_read(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    const uint8_t *q = *p;
    for (unsigned shift = 0; shift < 7 * KNOOP_VARINT_MAX && q < end; shift += 7) {
        uint8_t b = *q++;
        if (shift < 64)
            x |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *p = q;
            *v = x;
            return true;
        }
    }
    *v = 0;
    return false;                       /* truncated or longer than 10 bytes */
}

size_t knoop_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

bool knoop_pb_field_next(const uint8_t **p, const uint8_t *end, knoop_pb_field_t *f)
{
    const uint8_t *q = *p;
    uint64_t tag;
    f->v = 0;
    f->data = NULL;
    f->len = 0;
    if (!knoop_varint_read(&q, end, &tag))
        return false;
    f->num = tag >> 3;
    f->wt = (int) (tag & 7);
    switch (f->wt) {
    case KNOOP_WT_VARINT:
        if (!knoop_varint_read(&q, end, &f->v))
            return false;
        break;
    case KNOOP_WT_I64:
        if (end - q < 8)
            return false;
        q += 8;
        break;
    case KNOOP_WT_I32:
        if (end - q < 4)
            return false;
        q += 4;
        break;
    case KNOOP_WT_LEN:
        if (!knoop_varint_read(&q, end, &f->v) || f->v > (uint64_t) (end - q))
            return false;
        f->data = q;
        f->len = (size_t) f->v;
        q += f->len;
        break;
    default:                            /* groups (3, 4) and 6, 7 */
        return false;
    }
    *p = q;
    return true;
}
