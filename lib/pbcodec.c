/* pbcodec.c — field maps, arena, scratch and packing for the protobuf
 * codecs (wire.c, api.c). See pbcodec.h. */
#include "pbcodec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

typedef struct s_chunk {
    struct s_chunk *next;
    size_t          cap;
    size_t          used;
    max_align_t     data[];
} s_chunk_t;

struct knoop_pbc_arena {
    s_chunk_t *chunks;          /* newest first; the oldest holds this struct */
    size_t     total;           /* bytes handed out */
    size_t     budget;
    size_t     next_cap;
    bool       over;            /* a request broke the budget */
    bool       oom;             /* malloc failed */
};

#define S_ALIGN  sizeof(max_align_t)
#define S_ROUND(n)  (((n) + S_ALIGN - 1) & ~(S_ALIGN - 1))

static s_chunk_t *s_chunk_new(size_t cap)
{
    s_chunk_t *c = malloc(sizeof *c + cap);
    if (c) {
        c->next = NULL;
        c->cap = cap;
        c->used = 0;
    }
    return c;
}

/* The arena lives in its own first chunk: one malloc for a small frame. */
knoop_pbc_arena_t *knoop_pbc_arena_new(size_t first, size_t budget)
{
    first = S_ROUND(first) + S_ROUND(sizeof(knoop_pbc_arena_t));
    s_chunk_t *c = s_chunk_new(first);
    if (!c)
        return NULL;
    knoop_pbc_arena_t *a = (knoop_pbc_arena_t *) c->data;
    c->used = S_ROUND(sizeof *a);
    memset(a, 0, sizeof *a);
    a->chunks = c;
    a->budget = budget;
    a->next_cap = first;
    return a;
}

void knoop_pbc_arena_free(knoop_pbc_arena_t *a)
{
    if (!a)
        return;
    s_chunk_t *c = a->chunks;   /* a itself dies with the last chunk */
    while (c) {
        s_chunk_t *next = c->next;
        free(c);
        c = next;
    }
}

void *knoop_pbc_arena_alloc(knoop_pbc_arena_t *a, size_t size)
{
    if (size > a->budget)
        size = a->budget + 1;           /* fails below, without overflow */
    size = S_ROUND(size ? size : 1);
    if (size > a->budget - a->total) {
        a->over = true;
        return NULL;
    }
    s_chunk_t *c = a->chunks;
    if (c->cap - c->used < size) {
        size_t cap = a->next_cap < a->budget / 2 ? a->next_cap * 2 : a->next_cap;
        if (cap < size)
            cap = size;
        c = s_chunk_new(cap);
        if (!c) {
            a->oom = true;
            return NULL;
        }
        c->next = a->chunks;
        a->chunks = c;
        a->next_cap = cap;
    }
    void *p = (unsigned char *) c->data + c->used;
    c->used += size;
    a->total += size;
    return p;
}

int knoop_pbc_arena_error(const knoop_pbc_arena_t *a)
{
    return a->oom ? KNOOP_ENOMEM : a->over ? KNOOP_ETOOBIG : KNOOP_OK;
}

static void *s_arena_alloc(void *arg, size_t size)
{
    return knoop_pbc_arena_alloc(arg, size);
}

static void s_arena_nofree(void *arg, void *ptr)
{
    /* Everything goes at once in knoop_pbc_arena_free. */
}

ProtobufCAllocator knoop_pbc_arena_allocator(knoop_pbc_arena_t *a)
{
    return (ProtobufCAllocator) { s_arena_alloc, s_arena_nofree, a };
}

/* An array of n rows from the arena; n == 0 gives NULL. Callers bound n
 * (the codecs' pre-scans count every repeated field), so no overflow. */
static void *s_rows(knoop_pbc_arena_t *a, size_t n, size_t size, int *rc)
{
    if (n == 0)
        return NULL;
    void *p = knoop_pbc_arena_alloc(a, n * size);
    if (!p)
        *rc = knoop_pbc_arena_error(a);
    return p;
}

/* ---- scratch ---- */

#define S_ROUND8(n)  (((n) + 7) & ~(size_t) 7)

int knoop_pbc_scratch_init(knoop_pbc_scratch_t *s, size_t need)
{
    s->heap = NULL;
    if (need <= sizeof s->stack) {
        s->next = (unsigned char *) s->stack;
        s->left = sizeof s->stack;
    } else {
        s->heap = malloc(need);
        if (!s->heap)
            return KNOOP_ENOMEM;
        s->next = s->heap;
        s->left = need;
    }
    return KNOOP_OK;
}

/* Rows are multiples of 8 bytes (pointers and uint64s), so carving them one
 * after the other keeps each aligned. */
void *knoop_pbc_scratch_take(knoop_pbc_scratch_t *s, size_t size)
{
    size = S_ROUND8(size);
    assert(size <= s->left);
    void *p = s->next;
    s->next += size;
    s->left -= size;
    return p;
}

void knoop_pbc_scratch_fini(knoop_pbc_scratch_t *s)
{
    free(s->heap);
    s->heap = NULL;
}

/* ---- maps ---- */

/* A walk over a map's fields with their descriptors. Maps list fields in
 * number order, as descriptors do, so one pass over both finds them all. */
typedef struct {
    const knoop_pbc_msg_t *m;
    size_t                 i;       /* the map's next field */
    unsigned               j;       /* where the descriptor's last one was */
} s_walk_t;

static const knoop_pbc_field_t *s_next(s_walk_t *w, const ProtobufCFieldDescriptor **fd)
{
    if (w->i == w->m->nfields)
        return NULL;
    const knoop_pbc_field_t *f = &w->m->fields[w->i++];
    const ProtobufCMessageDescriptor *d = w->m->pb;
    while (w->j < d->n_fields && d->fields[w->j].id < f->num)
        w->j++;
    assert(w->j < d->n_fields && d->fields[w->j].id == f->num);
    *fd = &d->fields[w->j];
    return f;
}

/* Numbers are the same bits on both sides: 32-bit ones (enums too: the C
 * enums mapped are int-sized) and 64-bit ones. 0: not a plain number. */
static size_t s_scalar_width(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(uint32_t);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return sizeof(uint64_t);
    default:
        return 0;
    }
}

/* One field that is not repeated, from the message to the C struct or
 * (to_pb) back. Errors: KNOOP_EINVAL (bytes with a length but no pointer,
 * or a type no map uses). */
static int s_plain(ProtobufCType t, void *dst, const void *src, bool to_pb)
{
    size_t width = s_scalar_width(t);
    if (width) {
        memcpy(dst, src, width);
        return KNOOP_OK;
    }
    switch (t) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *str;
        memcpy(&str, src, sizeof str);
        *(const char **) dst = str || !to_pb ? str : "";
        return KNOOP_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (to_pb)
            *(protobuf_c_boolean *) dst = *(const bool *) src;
        else
            *(bool *) dst = *(const protobuf_c_boolean *) src != 0;
        return KNOOP_OK;
    case PROTOBUF_C_TYPE_BYTES:
        if (to_pb) {
            const knoop_bytes_t *b = src;
            if (b->len && !b->data)
                return KNOOP_EINVAL;
            *(ProtobufCBinaryData *) dst = (ProtobufCBinaryData) { b->len, (uint8_t *) b->data };
        } else {
            const ProtobufCBinaryData *b = src;
            *(knoop_bytes_t *) dst = (knoop_bytes_t) { b->data, b->len };
        }
        return KNOOP_OK;
    default:
        assert(!"no map for this type");
        return KNOOP_EINVAL;
    }
}

#define S_AT(base, off)  ((char *) (base) + (off))
#define S_CAT(base, off) ((const char *) (base) + (off))

static int s_list_in(const knoop_pbc_field_t *f, const ProtobufCFieldDescriptor *fd, size_t n,
                     const void *src, void *dst, knoop_pbc_arena_t *a)
{
    int rc = KNOOP_OK;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        memcpy(dst, &src, sizeof src);         /* char ** -> const char *const * */
        return KNOOP_OK;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = src;
        knoop_bytes_t *v = s_rows(a, n, sizeof *v, &rc);
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++) {
            v[i].data = b[i].data;          /* into the message: no second copy */
            v[i].len = b[i].len;
        }
        *(knoop_bytes_t **) dst = v;
        return KNOOP_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const knoop_pbc_msg_t *sub = f->rows;
        void *const *pb = src;
        unsigned char *v = s_rows(a, n, sub->csize, &rc);
        if (rc)
            return rc;
        if (n)
            memset(v, 0, n * sub->csize);
        for (size_t i = 0; i < n && rc == KNOOP_OK; i++)
            rc = pb[i] ? knoop_pbc_in(sub, v + i * sub->csize, pb[i], a) : KNOOP_EMALFORMED;
        *(void **) dst = v;
        return rc;
    }
    default:
        assert(!"no map for this repeated type");
        return KNOOP_EINVAL;
    }
}

int knoop_pbc_in(const knoop_pbc_msg_t *m, void *c, const void *pb, knoop_pbc_arena_t *a)
{
    s_walk_t w = { m, 0, 0 };
    const knoop_pbc_field_t *f;
    const ProtobufCFieldDescriptor *fd;
    while ((f = s_next(&w, &fd))) {
        const char *src = S_CAT(pb, fd->offset);
        char *dst = S_AT(c, f->c);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *) S_CAT(pb, fd->quantifier_offset);
            if (f->max && n > f->max)
                return KNOOP_ETOOBIG;
            int rc = s_list_in(f, fd, n, *(void *const *) src, dst, a);
            if (rc)
                return rc;
            *(size_t *) S_AT(c, f->c_n) = n;
            continue;
        }
        int rc = s_plain(fd->type, dst, src, false);
        if (rc)
            return rc;
    }
    return m->in ? m->in(c, pb, a) : KNOOP_OK;
}

size_t knoop_pbc_in_size(const knoop_pbc_msg_t *m, const void *pb)
{
    size_t size = 0;
    s_walk_t w = { m, 0, 0 };
    const knoop_pbc_field_t *f;
    const ProtobufCFieldDescriptor *fd;
    while ((f = s_next(&w, &fd))) {
        if (fd->label != PROTOBUF_C_LABEL_REPEATED)
            continue;
        size_t n = *(const size_t *) S_CAT(pb, fd->quantifier_offset);
        if (fd->type == PROTOBUF_C_TYPE_BYTES)
            size += S_ROUND(n * sizeof(knoop_bytes_t));
        else if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
            size += S_ROUND(n * f->rows->csize);
    }
    return size;
}

/* The C list of a repeated field: its count and pointer, and whether
 * knoop_pbc_out would refuse it before taking scratch. */
static bool s_list(const knoop_pbc_field_t *f, const void *c, size_t *n, const void **v)
{
    *n = *(const size_t *) S_CAT(c, f->c_n);
    memcpy(v, S_CAT(c, f->c), sizeof *v);
    return !(f->max && *n > f->max) && !(*n && !*v);
}

/* Whether rows by map m take scratch of their own. */
static bool s_rows_take(const knoop_pbc_msg_t *m)
{
    if (m->need)
        return true;
    s_walk_t w = { m, 0, 0 };
    const ProtobufCFieldDescriptor *fd;
    while (s_next(&w, &fd)) {
        if (fd->label == PROTOBUF_C_LABEL_REPEATED && fd->type != PROTOBUF_C_TYPE_STRING)
            return true;
    }
    return false;
}

size_t knoop_pbc_need(const knoop_pbc_msg_t *m, const void *c)
{
    size_t need = m->need ? m->need(c) : 0;
    s_walk_t w = { m, 0, 0 };
    const knoop_pbc_field_t *f;
    const ProtobufCFieldDescriptor *fd;
    while ((f = s_next(&w, &fd))) {
        size_t n;
        const void *v;
        if (fd->label != PROTOBUF_C_LABEL_REPEATED || !s_list(f, c, &n, &v))
            continue;
        if (fd->type == PROTOBUF_C_TYPE_BYTES) {
            need += n * sizeof(ProtobufCBinaryData);
        } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            need += n * (S_ROUND8(f->rows->pb->sizeof_message) + sizeof(void *));
            if (s_rows_take(f->rows))
                for (size_t k = 0; k < n; k++)
                    need += knoop_pbc_need(f->rows, S_CAT(v, k * f->rows->csize));
        }
    }
    return need;
}

static int s_list_out(const knoop_pbc_field_t *f, const ProtobufCFieldDescriptor *fd,
                      size_t n, const void *v, void *dst, knoop_pbc_scratch_t *s)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        memcpy(dst, &v, sizeof v);             /* const char *const * -> char ** */
        return KNOOP_OK;
    case PROTOBUF_C_TYPE_BYTES: {
        const knoop_bytes_t *in = v;
        ProtobufCBinaryData *b = n ? knoop_pbc_scratch_take(s, n * sizeof *b) : NULL;
        for (size_t i = 0; i < n; i++) {
            if (in[i].len && !in[i].data)
                return KNOOP_EINVAL;
            b[i].data = (uint8_t *) in[i].data;
            b[i].len = in[i].len;
        }
        *(ProtobufCBinaryData **) dst = b;
        return KNOOP_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const knoop_pbc_msg_t *sub = f->rows;
        size_t size = S_ROUND8(sub->pb->sizeof_message);
        unsigned char *rows = n ? knoop_pbc_scratch_take(s, n * size) : NULL;
        void **ptrs = n ? knoop_pbc_scratch_take(s, n * sizeof *ptrs) : NULL;
        for (size_t i = 0; i < n; i++) {
            protobuf_c_message_init(sub->pb, rows + i * size);
            int rc = knoop_pbc_out(sub, rows + i * size, S_CAT(v, i * sub->csize), s);
            if (rc)
                return rc;
            ptrs[i] = rows + i * size;
        }
        *(void ***) dst = ptrs;
        return KNOOP_OK;
    }
    default:
        assert(!"no map for this repeated type");
        return KNOOP_EINVAL;
    }
}

int knoop_pbc_out(const knoop_pbc_msg_t *m, void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    int rc;
    if (m->out && (rc = m->out(pb, c, s)))
        return rc;
    s_walk_t w = { m, 0, 0 };
    const knoop_pbc_field_t *f;
    const ProtobufCFieldDescriptor *fd;
    while ((f = s_next(&w, &fd))) {
        const char *src = S_CAT(c, f->c);
        char *dst = S_AT(pb, fd->offset);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            const void *v;
            if (!s_list(f, c, &n, &v))
                return f->max && n > f->max ? KNOOP_ETOOBIG : KNOOP_EINVAL;
            *(size_t *) S_AT(pb, fd->quantifier_offset) = n;
            if ((rc = s_list_out(f, fd, n, v, dst, s)))
                return rc;
            continue;
        }
        if ((rc = s_plain(fd->type, dst, src, true)))
            return rc;
    }
    return KNOOP_OK;
}

/* ---- oneof and packing ---- */

unsigned knoop_pbc_oneof_which(const ProtobufCMessage *msg, unsigned num)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(msg->descriptor, num);
    uint32_t which;
    if (!fd || !(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return 0;
    memcpy(&which, S_CAT(msg, fd->quantifier_offset), sizeof which);
    return which;
}

void *knoop_pbc_oneof(const ProtobufCMessage *msg, unsigned num)
{
    if (num == 0 || knoop_pbc_oneof_which(msg, num) != num)
        return NULL;
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(msg->descriptor, num);
    void *member;
    memcpy(&member, S_CAT(msg, fd->offset), sizeof member);
    return member;
}

void knoop_pbc_oneof_set(ProtobufCMessage *msg, unsigned num, void *member)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(msg->descriptor, num);
    assert(fd && (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF));
    uint32_t which = num;
    memcpy(S_AT(msg, fd->quantifier_offset), &which, sizeof which);
    memcpy(S_AT(msg, fd->offset), &member, sizeof member);
}

int knoop_pbc_pack(const ProtobufCMessage *msg, size_t max, knoop_buf_t *out)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > max)
        return KNOOP_ETOOBIG;
    int rc = knoop_buf_reserve(out, n);
    if (rc)
        return rc;
    out->len += protobuf_c_message_pack(msg, out->data + out->len);
    return KNOOP_OK;
}
