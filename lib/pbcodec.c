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

/* The descriptor of field num. Maps list fields in number order, as the
 * descriptor does, so one pass over both finds them all: *j is where the
 * last one was. */
static const ProtobufCFieldDescriptor *s_fd(const ProtobufCMessageDescriptor *d, unsigned *j,
                                            uint32_t num)
{
    while (*j < d->n_fields && d->fields[*j].id < num)
        (*j)++;
    assert(*j < d->n_fields && d->fields[*j].id == num);
    return &d->fields[*j];
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
    const ProtobufCMessageDescriptor *d = m->pb;
    unsigned j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const knoop_pbc_field_t *f = &m->fields[i];
        const ProtobufCFieldDescriptor *fd = s_fd(d, &j, f->num);
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
        switch (fd->type) {
        case PROTOBUF_C_TYPE_STRING:
            *(const char **) dst = *(char *const *) src;
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_ENUM:
            memcpy(dst, src, sizeof(uint32_t));
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            memcpy(dst, src, sizeof(uint64_t));
            break;
        case PROTOBUF_C_TYPE_BOOL:
            *(bool *) dst = *(const protobuf_c_boolean *) src != 0;
            break;
        case PROTOBUF_C_TYPE_BYTES: {
            const ProtobufCBinaryData *b = (const ProtobufCBinaryData *) src;
            *(knoop_bytes_t *) dst = (knoop_bytes_t) { b->data, b->len };
            break;
        }
        default:
            assert(!"no map for this type");
            return KNOOP_EINVAL;
        }
    }
    return m->in ? m->in(c, pb, a) : KNOOP_OK;
}

size_t knoop_pbc_in_size(const knoop_pbc_msg_t *m, const void *pb)
{
    size_t size = 0;
    unsigned j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const knoop_pbc_field_t *f = &m->fields[i];
        const ProtobufCFieldDescriptor *fd = s_fd(m->pb, &j, f->num);
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
    unsigned j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const ProtobufCFieldDescriptor *fd = s_fd(m->pb, &j, m->fields[i].num);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED && fd->type != PROTOBUF_C_TYPE_STRING)
            return true;
    }
    return false;
}

size_t knoop_pbc_need(const knoop_pbc_msg_t *m, const void *c)
{
    size_t need = m->need ? m->need(c) : 0;
    unsigned j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const knoop_pbc_field_t *f = &m->fields[i];
        const ProtobufCFieldDescriptor *fd = s_fd(m->pb, &j, f->num);
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
    const ProtobufCMessageDescriptor *d = m->pb;
    unsigned j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const knoop_pbc_field_t *f = &m->fields[i];
        const ProtobufCFieldDescriptor *fd = s_fd(d, &j, f->num);
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
        switch (fd->type) {
        case PROTOBUF_C_TYPE_STRING: {
            const char *str;
            memcpy(&str, src, sizeof str);
            *(const char **) dst = str ? str : "";
            break;
        }
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_ENUM:
            memcpy(dst, src, sizeof(uint32_t));
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            memcpy(dst, src, sizeof(uint64_t));
            break;
        case PROTOBUF_C_TYPE_BOOL:
            *(protobuf_c_boolean *) dst = *(const bool *) src;
            break;
        case PROTOBUF_C_TYPE_BYTES: {
            const knoop_bytes_t *b = (const knoop_bytes_t *) src;
            if (b->len && !b->data)
                return KNOOP_EINVAL;
            *(ProtobufCBinaryData *) dst = (ProtobufCBinaryData) { b->len, (uint8_t *) b->data };
            break;
        }
        default:
            assert(!"no map for this type");
            return KNOOP_EINVAL;
        }
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
