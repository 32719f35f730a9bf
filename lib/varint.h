/*
 * varint.h — the protobuf wire format below protobuf-c: varints and the
 * walk over a message's fields, for the places that must look at the bytes
 * before (or beside) unpacking them: the frame pre-scanner (wire.c), the
 * API gate (api.c) and the envelope's NUL check (msg.c).
 *
 * Every reader takes a cursor *p and the end of the buffer, never reads at
 * or past end, and advances *p only over what it accepted. Pure functions,
 * thread-safe, no allocation.
 */
#ifndef KNOOP_VARINT_H
#define KNOOP_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest varint: 10 bytes carry 64 bits. */
#define KNOOP_VARINT_MAX 10

/* Read a varint at *p into *v and advance *p past it. False when it is
 * truncated or longer than KNOOP_VARINT_MAX bytes (*v is then 0). Bits past
 * the 64th of a tenth byte are dropped, as protobuf-c drops them. */
bool knoop_varint_read(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* Bytes the varint encoding of v takes (1..10). */
size_t knoop_varint_len(uint64_t v);

/* Wire types (the low 3 bits of a tag). */
enum {
    KNOOP_WT_VARINT = 0,
    KNOOP_WT_I64    = 1,
    KNOOP_WT_LEN    = 2,
    KNOOP_WT_I32    = 5,
};

/* One field as it stands in the bytes. */
typedef struct {
    uint64_t       num;     /* field number (tag >> 3); 0 is for the caller to refuse */
    int            wt;      /* wire type */
    uint64_t       v;       /* a varint's value, or a LEN field's length; else 0 */
    const uint8_t *data;    /* a LEN field's contents (len bytes), else NULL */
    size_t         len;
} knoop_pb_field_t;

/* Read the field at *p into *f and advance *p past it. False when the tag or
 * the value is truncated or an over-long varint, a length runs past end, or
 * the wire type is a group (3, 4) or undefined (6, 7): what protobuf-c
 * refuses. Field numbers are not checked (callers differ in their bound). */
bool knoop_pb_field_next(const uint8_t **p, const uint8_t *end, knoop_pb_field_t *f);

#endif
