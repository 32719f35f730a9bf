/*
 * pbcodec.h — what the two protobuf codecs share (wire.c for the broker
 * protocol, api.c for the node's local API): field maps between a
 * protobuf-c message and the plain C struct of wire.h / api.h, the arena a
 * decoded frame lives in, the scratch an encode builds its messages in, and
 * the packing under a size limit.
 *
 * Only the codecs include this header (it brings in protobuf-c): broker and
 * node see wire.h and api.h.
 *
 * A map (knoop_pbc_msg_t) names, per protobuf field number, where the field
 * lives in the C struct; the descriptor says the field's type, so the copy
 * both ways is one loop:
 *   string          <-> const char *            (NULL encodes as "")
 *   uint32/fixed32  <-> uint32_t
 *   int32/enum      <-> int32_t or a C enum of that size
 *   uint64/fixed64  <-> uint64_t
 *   bool            <-> bool
 *   bytes           <-> knoop_bytes_t layout: a pointer, then a size_t
 *   repeated string <-> const char *const * and a size_t count (c_n)
 *   repeated bytes  <-> knoop_bytes_t array and a size_t count
 *   repeated message<-> an array of C rows (csize each, their own map)
 * What a map cannot say (fixed-size hashes, a nested single message, checks
 * that belong to the row) goes in the message's hooks. Decoded C strings,
 * arrays and bytes point into the protobuf-c message; only row arrays are
 * allocated, from the arena, and not zeroed: a row's map and its in hook
 * must fill every member. Each map is resolved against its descriptor once
 * per message and once per list, not per row.
 *
 * Not thread-safe per object; the maps are constant and shared.
 */
#ifndef KNOOP_PBCODEC_H
#define KNOOP_PBCODEC_H

#include "knoop.h"
#include "wire.h"       /* knoop_bytes_t */

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* ---- arena: the memory of one decoded frame or request ---- */

typedef struct knoop_pbc_arena knoop_pbc_arena_t;

/* An arena whose first chunk holds first bytes (one malloc for a small
 * frame) and that hands out at most budget bytes in all. NULL: no memory. */
knoop_pbc_arena_t *knoop_pbc_arena_new(size_t first, size_t budget);
/* Frees everything the arena handed out, and the arena. NULL is fine. */
void knoop_pbc_arena_free(knoop_pbc_arena_t *a);
/* size bytes, aligned for any type; NULL when over budget or out of memory
 * (knoop_pbc_arena_error says which). */
void *knoop_pbc_arena_alloc(knoop_pbc_arena_t *a, size_t size);
/* KNOOP_ENOMEM after a failed malloc, KNOOP_ETOOBIG after a request beyond
 * the budget, else 0. */
int  knoop_pbc_arena_error(const knoop_pbc_arena_t *a);
/* The arena as protobuf-c's allocator (frees are no-ops). */
ProtobufCAllocator knoop_pbc_arena_allocator(knoop_pbc_arena_t *a);

/* ---- scratch: the protobuf-c rows of one encode ---- */

/* On the stack for small messages, else one malloc for all rows. */
typedef struct {
    max_align_t    stack[256];
    unsigned char *heap;
    unsigned char *next;
    size_t         left;
} knoop_pbc_scratch_t;

/* Room for need bytes (what knoop_pbc_build computes). Errors: KNOOP_ENOMEM. */
int   knoop_pbc_scratch_init(knoop_pbc_scratch_t *s, size_t need);
/* size bytes (rounded up to 8) of what init made room for. */
void *knoop_pbc_scratch_take(knoop_pbc_scratch_t *s, size_t size);
void  knoop_pbc_scratch_fini(knoop_pbc_scratch_t *s);

/* ---- maps ---- */

typedef struct knoop_pbc_msg knoop_pbc_msg_t;

typedef struct {
    uint32_t               num;     /* the protobuf field number */
    uint16_t               c;       /* offset of the C member */
    uint16_t               c_n;     /* repeated: offset of the C count (size_t) */
    uint32_t               max;     /* repeated: more items are KNOOP_ETOOBIG; 0: unchecked here */
    const knoop_pbc_msg_t *rows;    /* repeated message: the rows' map */
} knoop_pbc_field_t;

struct knoop_pbc_msg {
    const ProtobufCMessageDescriptor *pb;
    size_t                   csize;     /* one C row (maps of rows only) */
    const knoop_pbc_field_t *fields;    /* in field number order */
    size_t                   nfields;
    /* Decode, after the fields: the rest, and checks that belong here.
     * Returns 0 or the error the decode fails with. */
    int    (*in)(void *c, const void *pb, knoop_pbc_arena_t *a);
    /* Encode: scratch bytes out takes beyond what the fields take
     * (knoop_pbc_build asks before it fills). */
    size_t (*need)(const void *c);
    /* Encode, before the fields: the rest. Returns 0 or the error. */
    int    (*out)(void *pb, const void *c, knoop_pbc_scratch_t *s);
};

/* Table rows: field num at member m of C struct T; a repeated one with its
 * count; and a map of T (fields an array, in number order). */
#define KNOOP_PBC_FIELD(num, T, m)  { (num), offsetof(T, m), 0, 0, NULL }
#define KNOOP_PBC_LIST(num, T, m, count, max, rows) \
    { (num), offsetof(T, m), offsetof(T, count), (max), (rows) }
#define KNOOP_PBC_MAP(desc, T, fields, in, need, out) \
    { &(desc), sizeof(T), (fields), sizeof(fields) / sizeof *(fields), (in), (need), (out) }

/* Fill the C struct c from the unpacked message pb by map m, rows from a.
 * Errors: KNOOP_EMALFORMED (a missing row), KNOOP_ETOOBIG (more rows than a
 * field's max, or the arena's budget), KNOOP_ENOMEM, or a hook's. */
int    knoop_pbc_in(const knoop_pbc_msg_t *m, void *c, const void *pb, knoop_pbc_arena_t *a);
/* Fill the initialised message pb from c by map m. Errors: KNOOP_ETOOBIG
 * (more items than a field's max), KNOOP_EINVAL (a count or length without
 * a pointer), or a hook's. */
int    knoop_pbc_out(const knoop_pbc_msg_t *m, void *pb, const void *c, knoop_pbc_scratch_t *s);

/* Arena bytes knoop_pbc_in takes for the rows of pb's own lists (a first
 * chunk of this size saves the later mallocs). */
size_t knoop_pbc_in_size(const knoop_pbc_msg_t *m, const void *pb);

/* Which field of the oneof that field num belongs to msg carries (0: none). */
unsigned knoop_pbc_oneof_which(const ProtobufCMessage *msg, unsigned num);
/* knoop_pbc_scratch_init(s, what c's rows and hooks take: lists
 * knoop_pbc_out would refuse count 0), then knoop_pbc_out: the usual
 * encode in one pass over the map. knoop_pbc_scratch_fini(s) after,
 * whatever it returns. Errors: those of both. */
int    knoop_pbc_build(const knoop_pbc_msg_t *m, void *pb, const void *c, knoop_pbc_scratch_t *s);

/* The member of msg's oneof that field num is, or NULL. */
void  *knoop_pbc_oneof(const ProtobufCMessage *msg, unsigned num);
/* Make member (an initialised message) the oneof field num of msg. */
void   knoop_pbc_oneof_set(ProtobufCMessage *msg, unsigned num, void *member);

/* Pack msg, appending to out. Errors: KNOOP_ETOOBIG (packed size above
 * max), KNOOP_ENOMEM. */
int    knoop_pbc_pack(const ProtobufCMessage *msg, size_t max, knoop_buf_t *out);

#endif
