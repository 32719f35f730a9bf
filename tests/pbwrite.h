/*
 * pbwrite.h — a minimal protobuf writer for the unit tests: bytes the
 * project's encoders will not make (a field left out, repeated, of the
 * wrong wire type, an explicit default, an unknown field), for the
 * decoders' tests. One copy for test_api, test_msg, test_wire and
 * test_badinput. Every append failure fails the running test.
 */
#ifndef KNOOP_TEST_PBWRITE_H
#define KNOOP_TEST_PBWRITE_H

#include "knoop.h"

#include <stddef.h>
#include <stdint.h>

void tu_pb_raw(knoop_buf_t *b, const void *data, size_t len);   /* bytes as they are */
void tu_pb_byte(knoop_buf_t *b, uint8_t c);
void tu_pb_varint(knoop_buf_t *b, uint64_t v);                  /* base 128, no tag */
void tu_pb_tag(knoop_buf_t *b, uint32_t field, uint32_t wire);  /* wire 0 varint, 1 fixed64, 2 bytes */
void tu_pb_uint(knoop_buf_t *b, uint32_t field, uint64_t v);    /* a varint field */
void tu_pb_fixed64(knoop_buf_t *b, uint32_t field, uint64_t v); /* little-endian */
void tu_pb_bytes(knoop_buf_t *b, uint32_t field, const void *data, size_t len);
void tu_pb_str(knoop_buf_t *b, uint32_t field, const char *s);  /* bytes of strlen(s) */

#endif
