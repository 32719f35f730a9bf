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

#define S_AT(base, off)  ((char *) (base) + (off))
#define S_CAT(base, off) ((const char *) (base) + (off))
#define S_STEPS_MAX      16     /* fields in one map */

/* How a field goes: numbers are the same bits on both sides (32-bit ones,
 * enums too: the C enums mapped are int-sized; 64-bit ones); the rest
 * converts. */
typedef enum { S_U32, S_U64, S_STR, S_BOOL, S_BYTES, S_STRS, S_BINS, S_ROWS } s_how_t;

/* A map resolved against its descriptor: one step per field, with both
 * offsets. Made once per message and once per list, not per row. */
typedef struct {
    const knoop_pbc_field_t *f;
    size_t                   pb, pb_n;  /* in the message: the member, a list's count */
    size_t                   c, c_n;    /* in the C struct */
    s_how_t                  how;
} s_step_t;

typedef struct {
    const knoop_pbc_msg_t *m;
    s_step_t               step[S_STEPS_MAX];
    bool                   takes;       /* encode takes scratch of its own */
} s_plan_t;

static s_how_t s_how(const ProtobufCFieldDescriptor *fd)
{
    bool list = fd->label == PROTOBUF_C_LABEL_REPEATED;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        assert(!list);
        return S_U32;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        assert(!list);
        return S_U64;
    case PROTOBUF_C_TYPE_BOOL:
        assert(!list);
        return S_BOOL;
    case PROTOBUF_C_TYPE_STRING:
        return list ? S_STRS : S_STR;
    case PROTOBUF_C_TYPE_BYTES:
        return list ? S_BINS : S_BYTES;
    default:
        assert(fd->type == PROTOBUF_C_TYPE_MESSAGE && list);   /* a single one: a hook's */
        return S_ROWS;
    }
}

/* Maps list fields in number order, as descriptors do, so one pass over
 * both finds them all. */
static void s_plan(s_plan_t *p, const knoop_pbc_msg_t *m)
{
    const ProtobufCMessageDescriptor *d = m->pb;
    assert(m->nfields <= S_STEPS_MAX);
    p->m = m;
    p->takes = m->need != NULL;
    unsigned j = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const knoop_pbc_field_t *f = &m->fields[i];
        while (j < d->n_fields && d->fields[j].id < f->num)
            j++;
        assert(j < d->n_fields && d->fields[j].id == f->num);
        const ProtobufCFieldDescriptor *fd = &d->fields[j];
        s_step_t *s = &p->step[i];
        *s = (s_step_t) { f, fd->offset, fd->quantifier_offset, f->c, f->c_n, s_how(fd) };
        p->takes |= s->how == S_BINS || s->how == S_ROWS;
    }
}

/* A list's count and pointer in the C struct, and whether knoop_pbc_out
 * takes it (else: KNOOP_ETOOBIG beyond max, KNOOP_EINVAL without pointer). */
static int s_list(const s_step_t *s, const void *c, size_t *n, const void **v)
{
    *n = *(const size_t *) S_CAT(c, s->c_n);
    memcpy(v, S_CAT(c, s->c), sizeof *v);
    if (s->f->max && *n > s->f->max)
        return KNOOP_ETOOBIG;
    return *n && !*v ? KNOOP_EINVAL : KNOOP_OK;
}

/* A number: the same bits either way. False for anything else. */
static inline bool s_number(s_how_t how, char *dst, const char *src)
{
    if (how == S_U32)
        memcpy(dst, src, 4);
    else if (how == S_U64)
        memcpy(dst, src, 8);
    return how == S_U32 || how == S_U64;
}

static int s_in(const s_plan_t *p, void *c, const void *pb, knoop_pbc_arena_t *a);

static int s_list_in(const s_step_t *s, size_t n, const void *src, void *dst,
                     knoop_pbc_arena_t *a)
{
    int rc = KNOOP_OK;
    if (s->how == S_STRS) {
        memcpy(dst, &src, sizeof src);         /* char ** -> const char *const * */
    } else if (s->how == S_BINS) {
        const ProtobufCBinaryData *b = src;
        knoop_bytes_t *v = s_rows(a, n, sizeof *v, &rc);
        for (size_t i = 0; v && i < n; i++) {
            v[i].data = b[i].data;          /* into the message: no second copy */
            v[i].len = b[i].len;
        }
        memcpy(dst, &v, sizeof v);
    } else {
        s_plan_t sub;
        s_plan(&sub, s->f->rows);
        size_t size = s->f->rows->csize;
        void *const *pb = src;
        unsigned char *v = s_rows(a, n, size, &rc);       /* filled by the row's map */
        for (size_t i = 0; v && i < n && rc == KNOOP_OK; i++)
            rc = pb[i] ? s_in(&sub, v + i * size, pb[i], a) : KNOOP_EMALFORMED;
        memcpy(dst, &v, sizeof v);
    }
    return rc;
}

static int s_in(const s_plan_t *p, void *c, const void *pb, knoop_pbc_arena_t *a)
{
    for (const s_step_t *s = p->step, *end = s + p->m->nfields; s < end; s++) {
        const char *src = S_CAT(pb, s->pb);
        char *dst = S_AT(c, s->c);
        if (s_number(s->how, dst, src))
            continue;
        switch (s->how) {
        case S_STR:
            memcpy(dst, src, sizeof(void *));
            break;
        case S_BOOL:
            *(bool *) dst = *(const protobuf_c_boolean *) src != 0;
            break;
        case S_BYTES: {
            const ProtobufCBinaryData *b = (const void *) src;
            *(knoop_bytes_t *) dst = (knoop_bytes_t) { b->data, b->len };
            break;
        }
        default: {
            size_t n = *(const size_t *) S_CAT(pb, s->pb_n);
            if (s->f->max && n > s->f->max)
                return KNOOP_ETOOBIG;
            const void *v;
            memcpy(&v, src, sizeof v);
            int rc = s_list_in(s, n, v, dst, a);
            if (rc)
                return rc;
            *(size_t *) S_AT(c, s->c_n) = n;
        }
        }
    }
    return p->m->in ? p->m->in(c, pb, a) : KNOOP_OK;
}

int knoop_pbc_in(const knoop_pbc_msg_t *m, void *c, const void *pb, knoop_pbc_arena_t *a)
{
    s_plan_t p;
    s_plan(&p, m);
    return s_in(&p, c, pb, a);
}

size_t knoop_pbc_in_size(const knoop_pbc_msg_t *m, const void *pb)
{
    s_plan_t p;
    s_plan(&p, m);
    size_t size = 0;
    for (size_t i = 0; i < m->nfields; i++) {
        const s_step_t *s = &p.step[i];
        if (s->how != S_BINS && s->how != S_ROWS)
            continue;
        size_t n = *(const size_t *) S_CAT(pb, s->pb_n);
        size += S_ROUND(n * (s->how == S_BINS ? sizeof(knoop_bytes_t) : s->f->rows->csize));
    }
    return size;
}

static size_t s_need(const s_plan_t *p, const void *c)
{
    size_t need = p->m->need ? p->m->need(c) : 0;
    for (size_t i = 0; i < p->m->nfields; i++) {
        const s_step_t *s = &p->step[i];
        size_t n;
        const void *v;
        if ((s->how != S_BINS && s->how != S_ROWS) || s_list(s, c, &n, &v))
            continue;
        if (s->how == S_BINS) {
            need += n * sizeof(ProtobufCBinaryData);
            continue;
        }
        const knoop_pbc_msg_t *rows = s->f->rows;
        need += n * (S_ROUND8(rows->pb->sizeof_message) + sizeof(void *));
        s_plan_t sub;
        s_plan(&sub, rows);
        for (size_t k = 0; sub.takes && k < n; k++)
            need += s_need(&sub, S_CAT(v, k * rows->csize));
    }
    return need;
}

static int s_out(const s_plan_t *p, void *pb, const void *c, knoop_pbc_scratch_t *sc);

static int s_list_out(const s_step_t *s, size_t n, const void *v, void *dst,
                      knoop_pbc_scratch_t *sc)
{
    if (s->how == S_STRS) {
        memcpy(dst, &v, sizeof v);             /* const char *const * -> char ** */
        return KNOOP_OK;
    }
    if (s->how == S_BINS) {
        const knoop_bytes_t *in = v;
        ProtobufCBinaryData *b = n ? knoop_pbc_scratch_take(sc, n * sizeof *b) : NULL;
        for (size_t i = 0; i < n; i++) {
            if (in[i].len && !in[i].data)
                return KNOOP_EINVAL;
            b[i].data = (uint8_t *) in[i].data;
            b[i].len = in[i].len;
        }
        memcpy(dst, &b, sizeof b);
        return KNOOP_OK;
    }
    const knoop_pbc_msg_t *rows = s->f->rows;
    s_plan_t sub;
    s_plan(&sub, rows);
    size_t size = S_ROUND8(rows->pb->sizeof_message);
    unsigned char *r = n ? knoop_pbc_scratch_take(sc, n * size) : NULL;
    void **ptrs = n ? knoop_pbc_scratch_take(sc, n * sizeof *ptrs) : NULL;
    for (size_t i = 0; i < n; i++) {
        protobuf_c_message_init(rows->pb, r + i * size);
        int rc = s_out(&sub, r + i * size, S_CAT(v, i * rows->csize), sc);
        if (rc)
            return rc;
        ptrs[i] = r + i * size;
    }
    memcpy(dst, &ptrs, sizeof ptrs);
    return KNOOP_OK;
}

static int s_out(const s_plan_t *p, void *pb, const void *c, knoop_pbc_scratch_t *sc)
{
    int rc;
    if (p->m->out && (rc = p->m->out(pb, c, sc)))
        return rc;
    for (const s_step_t *s = p->step, *end = s + p->m->nfields; s < end; s++) {
        const char *src = S_CAT(c, s->c);
        char *dst = S_AT(pb, s->pb);
        if (s_number(s->how, dst, src))
            continue;
        switch (s->how) {
        case S_STR: {
            const char *str;
            memcpy(&str, src, sizeof str);
            if (!str)
                str = "";
            memcpy(dst, &str, sizeof str);
            break;
        }
        case S_BOOL:
            *(protobuf_c_boolean *) dst = *(const bool *) src;
            break;
        case S_BYTES: {
            const knoop_bytes_t *b = (const void *) src;
            if (b->len && !b->data)
                return KNOOP_EINVAL;
            *(ProtobufCBinaryData *) dst = (ProtobufCBinaryData) { b->len, (uint8_t *) b->data };
            break;
        }
        default: {
            size_t n;
            const void *v;
            if ((rc = s_list(s, c, &n, &v)))
                return rc;
            *(size_t *) S_AT(pb, s->pb_n) = n;
            if ((rc = s_list_out(s, n, v, dst, sc)))
                return rc;
        }
        }
    }
    return KNOOP_OK;
}

int knoop_pbc_out(const knoop_pbc_msg_t *m, void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    s_plan_t p;
    s_plan(&p, m);
    return s_out(&p, pb, c, s);
}

int knoop_pbc_build(const knoop_pbc_msg_t *m, void *pb, const void *c, knoop_pbc_scratch_t *s)
{
    s_plan_t p;
    s_plan(&p, m);
    int rc = knoop_pbc_scratch_init(s, s_need(&p, c));
    return rc ? rc : s_out(&p, pb, c, s);
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
