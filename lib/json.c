/* json.c — payloads as JSON through the protobuf-c descriptors. See json.h.
 *
 * One generic walker serves every registered type: it reads field names,
 * types, labels and offsets from the ProtobufCMessageDescriptor, so a new
 * payload type needs one line in s_types and nothing else.
 *
 * Decoding (pb -> JSON) goes through protobuf_c_message_unpack, the checked
 * parser. Encoding (JSON -> pb) builds the C struct with malloc'd members
 * exactly as unpack would have built it, so that one
 * protobuf_c_message_free_unpacked (default allocator) frees both, also a
 * half-built message after an error.
 *
 * Choices beyond json.h that a JSON user sees:
 *  - uint64/fixed64 values above INT64_MAX (jansson's integer range) are
 *    written as decimal strings; every 64-bit field also accepts a decimal
 *    string on input, as the proto3 JSON mapping does.
 *  - float/double NaN and infinities are written and read as "NaN",
 *    "Infinity", "-Infinity" (JSON numbers cannot hold them).
 *  - an enum number without a name (from a newer schema) is written as a
 *    number; on input only numbers that name a value are accepted, so that
 *    a typo cannot declare a level nobody can read.
 *  - null for a field means "not set"; unknown protobuf fields in payload
 *    bytes are skipped (JSON has no place for them).
 */
#include "json.h"
#include "crypto.h"
#include "keys.h"
#include "topic.h"
#include "file.h"
#include "utf8.h"

#include "knoop/crisis/v1/alert.pb-c.h"
#include "knoop/crisis/v1/duiding.pb-c.h"
#include "knoop/crisis/v1/grip_level.pb-c.h"
#include "knoop/crisis/v1/resource_request.pb-c.h"
#include "knoop/crisis/v1/sitrep.pb-c.h"
#include "knoop/crisis/v1/vital_outage.pb-c.h"
#include "knoop/crisis/v1/water_level.pb-c.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Our schemas nest four deep at most; the bound only stops a future
 * recursive type (or a hostile JSON document) from eating the stack. */
#define S_DEPTH_MAX 32

/* The registry. s_type_names must list the same types as s_types: lookups
 * compare against descriptor->name, so a misspelt name here shows up as an
 * unknown type in the self-test. */
static const ProtobufCMessageDescriptor *const s_types[] = {
    &knoop__crisis__v1__grip_level__descriptor,
    &knoop__crisis__v1__sit_rep__descriptor,
    &knoop__crisis__v1__duiding__descriptor,
    &knoop__crisis__v1__water_level__descriptor,
    &knoop__crisis__v1__vital_outage__descriptor,
    &knoop__crisis__v1__alert__descriptor,
    &knoop__crisis__v1__resource_request__descriptor,
};
#define S_NTYPES (sizeof s_types / sizeof s_types[0])

static const char *const s_type_names[S_NTYPES + 1] = {
    "knoop.crisis.v1.GripLevel",
    "knoop.crisis.v1.SitRep",
    "knoop.crisis.v1.Duiding",
    "knoop.crisis.v1.WaterLevel",
    "knoop.crisis.v1.VitalOutage",
    "knoop.crisis.v1.Alert",
    "knoop.crisis.v1.ResourceRequest",
    NULL,
};

static const ProtobufCMessageDescriptor *s_lookup(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < S_NTYPES; i++)
        if (strcmp(s_types[i]->name, type) == 0)
            return s_types[i];
    return NULL;
}

bool knoop_payload_type_known(const char *type)
{
    return s_lookup(type) != NULL;
}

const char *const *knoop_payload_types(void)
{
    return s_type_names;
}

/* ---- field storage helpers ---- */

#define S_MEMBER(msg, off) ((void *) ((uint8_t *) (msg) + (off)))
#define S_CMEMBER(msg, off) ((const void *) ((const uint8_t *) (msg) + (off)))

/* The ten integer types come in four kinds: the wire encodings differ
 * (varint, zigzag, fixed), but protobuf-c stores and proto3 JSON spells
 * each kind one way. NULL for a type that is not an integer. */
typedef struct {
    bool        is_signed;
    bool        wide;                     /* 8 bytes, else 4 */
    const char *name;                     /* for range errors */
} s_int_kind_t;

static const s_int_kind_t *s_int_kind(ProtobufCType type)
{
    static const s_int_kind_t i32 = { true, false, "int32" }, i64 = { true, true, "int64" },
                              u32 = { false, false, "uint32" }, u64 = { false, true, "uint64" };
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return &i32;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return &i64;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:  return &u32;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:  return &u64;
    default:                       return NULL;
    }
}

/* Size of one element of a repeated field, as protobuf-c lays arrays out. */
static size_t s_elem_size(ProtobufCType type)
{
    const s_int_kind_t *k = s_int_kind(type);
    if (k)
        return k->wide ? 8 : 4;
    switch (type) {
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0;
    }
}

/* ==== protobuf -> JSON ==== */

static json_t *s_real_to_json(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

/* An integer of kind k at p; NULL when out of memory. */
static json_t *s_int_to_json(const s_int_kind_t *k, const void *p)
{
    if (!k)
        return NULL;                      /* a type no switch knows: refused, not read */
    if (!k->wide)
        return k->is_signed ? json_integer(*(const int32_t *) p)
                            : json_integer(*(const uint32_t *) p);
    /* proto3 JSON: 64-bit integers are strings (a JSON number loses
     * precision above 2^53 in JavaScript and jq). */
    char buf[24];
    if (k->is_signed)
        snprintf(buf, sizeof buf, "%" PRId64, *(const int64_t *) p);
    else
        snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *) p);
    return json_string(buf);
}

static int s_msg_to_json(const ProtobufCMessage *msg, int depth, json_t **out);

/* One value (a singular member or one array element) at p. */
static int s_value_to_json(const ProtobufCFieldDescriptor *f, const void *p, int depth,
                           json_t **out)
{
    json_t *v = NULL;
    switch (f->type) {
    default:
        v = s_int_to_json(s_int_kind(f->type), p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        v = json_boolean(*(const protobuf_c_boolean *) p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        v = s_real_to_json(*(const float *) p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        v = s_real_to_json(*(const double *) p);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t n = *(const int32_t *) p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, n);
        v = ev ? json_string(ev->name) : json_integer(n);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *) p;
        size_t len = s ? strlen(s) : 0;
        /* jansson refuses bad UTF-8 too; checking first tells that apart
         * from out-of-memory (utf8.h: the same rule). */
        if (!knoop_utf8_valid(s ? s : "", len))
            return KNOOP_EMALFORMED;
        v = json_stringn_nocheck(s ? s : "", len);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        int rc = knoop_crypto_init();
        if (rc)
            return rc;
        size_t n = knoop_base64_size(b->len);
        char *s = malloc(n);
        if (!s)
            return KNOOP_ENOMEM;
        knoop_base64_encode(s, n, b->data, b->len);
        v = json_string_nocheck(s);
        free(s);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *) p;
        if (!sub)
            return KNOOP_EMALFORMED;
        return s_msg_to_json(sub, depth + 1, out);
    }
    }
    if (!v)
        return KNOOP_ENOMEM;
    *out = v;
    return KNOOP_OK;
}

/* True when a plain proto3 field holds its default, i.e. is not on the wire
 * and therefore not in the JSON either. Mirrors protobuf-c's packer. */
static bool s_is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    default: {                                /* the integers */
        const s_int_kind_t *k = s_int_kind(f->type);
        if (!k)
            return false;
        return k->wide ? *(const uint64_t *) p == 0 : *(const uint32_t *) p == 0;
    }
    case PROTOBUF_C_TYPE_ENUM:
        return *(const uint32_t *) p == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *) p == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *) p == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *) p == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *) p;
        return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *) p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *) p == NULL;
    }
    return true;
}

/* Whether field f of msg is present: what goes on the wire goes in the JSON. */
static bool s_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *p = S_CMEMBER(msg, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *) S_CMEMBER(msg, f->quantifier_offset) != f->id)
            return false;
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
            return *(void *const *) p != NULL;
        return true;
    }
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return true;
    case PROTOBUF_C_LABEL_OPTIONAL:       /* proto2 only; here for completeness */
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
            return *(void *const *) p != NULL && *(void *const *) p != f->default_value;
        return *(const protobuf_c_boolean *) S_CMEMBER(msg, f->quantifier_offset);
    case PROTOBUF_C_LABEL_REPEATED:
        return *(const size_t *) S_CMEMBER(msg, f->quantifier_offset) > 0;
    case PROTOBUF_C_LABEL_NONE:
        return !s_is_default(f, p);
    }
    return false;
}

static int s_msg_to_json(const ProtobufCMessage *msg, int depth, json_t **out)
{
    if (depth > S_DEPTH_MAX)
        return KNOOP_EMALFORMED;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    json_t *obj = json_object();
    if (!obj)
        return KNOOP_ENOMEM;
    int rc = KNOOP_OK;
    for (unsigned i = 0; i < d->n_fields && rc == KNOOP_OK; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!s_present(msg, f))
            continue;
        json_t *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *) S_CMEMBER(msg, f->quantifier_offset);
            const uint8_t *arr = *(const uint8_t *const *) S_CMEMBER(msg, f->offset);
            size_t es = s_elem_size(f->type);
            v = json_array();
            if (!v) {
                rc = KNOOP_ENOMEM;
                break;
            }
            for (size_t k = 0; k < n && rc == KNOOP_OK; k++) {
                json_t *e = NULL;
                rc = s_value_to_json(f, arr + k * es, depth, &e);
                if (rc == KNOOP_OK && json_array_append_new(v, e) != 0)
                    rc = KNOOP_ENOMEM;
            }
        }
        else
            rc = s_value_to_json(f, S_CMEMBER(msg, f->offset), depth, &v);
        if (rc == KNOOP_OK && json_object_set_new_nocheck(obj, f->name, v) != 0)
            rc = KNOOP_ENOMEM;
        else if (rc != KNOOP_OK)
            json_decref(v);
    }
    if (rc != KNOOP_OK) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return KNOOP_OK;
}

int knoop_payload_to_json(const char *type, const uint8_t *data, size_t len, json_t **out)
{
    assert(out);
    *out = NULL;
    const ProtobufCMessageDescriptor *d = s_lookup(type);
    if (!d)
        return KNOOP_ENOTFOUND;
    if (len > KNOOP_PAYLOAD_MAX)
        return KNOOP_ETOOBIG;
    if (len > 0 && !data)
        return KNOOP_EINVAL;
    static const uint8_t s_empty[1];
    ProtobufCMessage *msg = protobuf_c_message_unpack(d, NULL, len, data ? data : s_empty);
    if (!msg)
        return KNOOP_EMALFORMED;
    int rc = s_msg_to_json(msg, 0, out);
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

/* ==== JSON -> protobuf ==== */

typedef struct {
    char   *err;            /* caller's buffer or NULL */
    size_t  err_size;
    char    path[256];      /* "info[0].area[1].area_desc" */
    size_t  path_len;
} s_ctx_t;

/* Record the first error as "path: message" and return rc. */
__attribute__((format(printf, 3, 4)))
static int s_fail(s_ctx_t *ctx, int rc, const char *fmt, ...)
{
    if (ctx->err && ctx->err_size) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (ctx->path_len)
            snprintf(ctx->err, ctx->err_size, "%s: %s", ctx->path, msg);
        else
            snprintf(ctx->err, ctx->err_size, "%s", msg);
    }
    return rc;
}

/* Append ".name" (or "[index]" when name is NULL) to the path; returns the
 * old length for s_path_pop. A path too long for the buffer is cut short:
 * the error still names its start. */
static size_t s_path_push(s_ctx_t *ctx, const char *name, size_t index)
{
    size_t old = ctx->path_len;
    size_t room = sizeof ctx->path - old;
    char num[24];
    if (!name) {
        snprintf(num, sizeof num, "[%zu]", index);
        name = num;
    } else if (old && room > 1) {
        ctx->path[old] = '.';    /* every field of every payload passes here: no printf */
        room--;
        ctx->path_len++;
    }
    size_t n = strlen(name);
    if (n >= room)
        n = room - 1;
    memcpy(ctx->path + ctx->path_len, name, n);
    ctx->path_len += n;
    ctx->path[ctx->path_len] = '\0';
    return old;
}

static void s_path_pop(s_ctx_t *ctx, size_t old)
{
    ctx->path_len = old;
    ctx->path[old] = '\0';
}

static const char *s_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "object";
    case JSON_ARRAY:   return "array";
    case JSON_STRING:  return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL:    return "number";
    case JSON_TRUE:
    case JSON_FALSE:   return "boolean";
    case JSON_NULL:    return "null";
    }
    return "value";
}

/* A decimal string as the proto3 mapping writes 64-bit values: optional
 * '-', then 1..20 digits, nothing else (strtoll alone would skip blanks and
 * let "-1" wrap into an unsigned). */
static bool s_decimal(const char *s, bool allow_minus)
{
    if (allow_minus && *s == '-')
        s++;
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 20 && s[n] == '\0';
}

/* proto3 JSON readers take an integer written as a number with an exponent
 * or a fraction of zero ("1e3", "4.0"): exact up to 2^53. */
static bool s_integral_real(const json_t *v, double *out)
{
    if (!json_is_real(v))
        return false;
    double r = json_real_value(v);
    if (!isfinite(r) || r != floor(r) || fabs(r) > 9007199254740992.0)
        return false;
    *out = r;
    return true;
}

static int s_get_signed(s_ctx_t *ctx, const json_t *v, bool allow_string, int64_t lo,
                        int64_t hi, const char *type, int64_t *out)
{
    int64_t x;
    double r;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (s_integral_real(v, &r))
        x = (int64_t) r;
    else if (allow_string && json_is_string(v) && s_decimal(json_string_value(v), true)) {
        errno = 0;
        long long ll = strtoll(json_string_value(v), NULL, 10);
        if (errno == ERANGE)
            return s_fail(ctx, KNOOP_EMALFORMED, "value %s out of range for %s",
                          json_string_value(v), type);
        x = ll;
    }
    else
        return s_fail(ctx, KNOOP_EMALFORMED, "expected integer, got %s", s_json_kind(v));
    if (x < lo || x > hi)
        return s_fail(ctx, KNOOP_EMALFORMED, "value %" PRId64 " out of range for %s", x, type);
    *out = x;
    return KNOOP_OK;
}

static int s_get_unsigned(s_ctx_t *ctx, const json_t *v, bool allow_string, uint64_t hi,
                          const char *type, uint64_t *out)
{
    uint64_t x;
    double r;
    if (json_is_integer(v) || s_integral_real(v, &r)) {
        json_int_t i = json_is_integer(v) ? json_integer_value(v) : (json_int_t) r;
        if (i < 0)
            return s_fail(ctx, KNOOP_EMALFORMED, "value %" PRId64 " out of range for %s",
                          (int64_t) i, type);
        x = (uint64_t) i;
    }
    else if (allow_string && json_is_string(v) && s_decimal(json_string_value(v), false)) {
        errno = 0;
        unsigned long long ull = strtoull(json_string_value(v), NULL, 10);
        if (errno == ERANGE)
            return s_fail(ctx, KNOOP_EMALFORMED, "value %s out of range for %s",
                          json_string_value(v), type);
        x = ull;
    }
    else
        return s_fail(ctx, KNOOP_EMALFORMED, "expected integer, got %s", s_json_kind(v));
    if (x > hi)
        return s_fail(ctx, KNOOP_EMALFORMED, "value %" PRIu64 " out of range for %s", x, type);
    *out = x;
    return KNOOP_OK;
}

static int s_get_real(s_ctx_t *ctx, const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return KNOOP_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0) { *out = NAN; return KNOOP_OK; }
        if (strcmp(s, "Infinity") == 0) { *out = INFINITY; return KNOOP_OK; }
        if (strcmp(s, "-Infinity") == 0) { *out = -INFINITY; return KNOOP_OK; }
    }
    return s_fail(ctx, KNOOP_EMALFORMED, "expected number, got %s", s_json_kind(v));
}

/* An integer of kind k from v into p, at the width protobuf-c stores it. */
static int s_int_from_json(s_ctx_t *ctx, const s_int_kind_t *k, const json_t *v, void *p)
{
    if (!k)
        return s_fail(ctx, KNOOP_EMALFORMED, "a field of a type this codec does not know");
    if (k->is_signed) {
        int64_t i = 0;
        int rc = s_get_signed(ctx, v, true, k->wide ? INT64_MIN : INT32_MIN,
                              k->wide ? INT64_MAX : INT32_MAX, k->name, &i);
        if (rc)
            return rc;
        if (k->wide)
            *(int64_t *) p = i;
        else
            *(int32_t *) p = (int32_t) i;
        return KNOOP_OK;
    }
    uint64_t u = 0;
    int rc = s_get_unsigned(ctx, v, true, k->wide ? UINT64_MAX : UINT32_MAX, k->name, &u);
    if (rc)
        return rc;
    if (k->wide)
        *(uint64_t *) p = u;
    else
        *(uint32_t *) p = (uint32_t) u;
    return KNOOP_OK;
}

static int s_msg_from_json(s_ctx_t *ctx, const ProtobufCMessageDescriptor *d,
                           const json_t *obj, int depth, ProtobufCMessage **out);
static int s_check_msg(s_ctx_t *ctx, const ProtobufCMessage *msg, int depth);

/* Parse one JSON value into the storage at p (a singular member or one
 * array element). On error p holds nothing that needs freeing. */
static int s_value_from_json(s_ctx_t *ctx, const ProtobufCFieldDescriptor *f,
                             const json_t *v, int depth, void *p)
{
    int rc;
    double r;
    switch (f->type) {
    default:                                  /* the integers */
        return s_int_from_json(ctx, s_int_kind(f->type), v, p);
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return s_fail(ctx, KNOOP_EMALFORMED, "expected boolean, got %s", s_json_kind(v));
        *(protobuf_c_boolean *) p = json_is_true(v);
        return KNOOP_OK;
    case PROTOBUF_C_TYPE_FLOAT:
        rc = s_get_real(ctx, v, &r);
        if (rc == KNOOP_OK && isfinite(r) && fabs(r) > FLT_MAX)
            return s_fail(ctx, KNOOP_EMALFORMED, "value %g out of range for float", r);
        if (rc == KNOOP_OK)
            *(float *) p = (float) r;
        return rc;
    case PROTOBUF_C_TYPE_DOUBLE:
        rc = s_get_real(ctx, v, &r);
        if (rc == KNOOP_OK)
            *(double *) p = r;
        return rc;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(v)) {
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
            if (!ev)
                return s_fail(ctx, KNOOP_EMALFORMED, "unknown enum value '%.64s'",
                              json_string_value(v));
        }
        else if (json_is_integer(v)) {
            json_int_t n = json_integer_value(v);
            if (n >= INT32_MIN && n <= INT32_MAX)
                ev = protobuf_c_enum_descriptor_get_value(ed, (int) n);
            if (!ev)
                return s_fail(ctx, KNOOP_EMALFORMED, "unknown enum value %" PRId64,
                              (int64_t) n);
        }
        else
            return s_fail(ctx, KNOOP_EMALFORMED, "expected enum name, got %s",
                          s_json_kind(v));
        *(int32_t *) p = ev->value;
        return KNOOP_OK;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return s_fail(ctx, KNOOP_EMALFORMED, "expected string, got %s", s_json_kind(v));
        size_t len = json_string_length(v);
        const char *s = json_string_value(v);
        if (len > KNOOP_PAYLOAD_MAX)
            return s_fail(ctx, KNOOP_ETOOBIG, "string of %zu bytes exceeds the payload limit",
                          len);
        /* protobuf-c strings end at the first NUL: refuse rather than cut. */
        if (memchr(s, '\0', len))
            return s_fail(ctx, KNOOP_EMALFORMED, "string contains a NUL character");
        char *copy = malloc(len + 1);
        if (!copy)
            return s_fail(ctx, KNOOP_ENOMEM, "out of memory");
        memcpy(copy, s, len + 1);
        *(char **) p = copy;
        return KNOOP_OK;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            return s_fail(ctx, KNOOP_EMALFORMED, "expected base64 string, got %s",
                          s_json_kind(v));
        size_t len = json_string_length(v);
        if (len / 4 * 3 > KNOOP_PAYLOAD_MAX)
            return s_fail(ctx, KNOOP_ETOOBIG, "bytes exceed the payload limit");
        ProtobufCBinaryData *b = p;
        if (len == 0) {
            b->data = NULL;
            b->len = 0;
            return KNOOP_OK;
        }
        rc = knoop_crypto_init();
        if (rc)
            return s_fail(ctx, rc, "cannot initialise base64 decoder");
        size_t max = len / 4 * 3 + 3;
        uint8_t *buf = malloc(max);
        if (!buf)
            return s_fail(ctx, KNOOP_ENOMEM, "out of memory");
        long n = memchr(json_string_value(v), '\0', len)
                     ? KNOOP_EMALFORMED
                     : knoop_base64_decode(buf, max, json_string_value(v));
        if (n < 0) {
            free(buf);
            return s_fail(ctx, KNOOP_EMALFORMED, "invalid base64");
        }
        if (n == 0) {
            free(buf);
            buf = NULL;
        }
        b->data = buf;
        b->len = (size_t) n;
        return KNOOP_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub = NULL;
        rc = s_msg_from_json(ctx, f->descriptor, v, depth + 1, &sub);
        if (rc == KNOOP_OK)
            *(ProtobufCMessage **) p = sub;
        return rc;
    }
    }
    return s_fail(ctx, KNOOP_EMALFORMED, "unsupported field type");
}

static int s_repeated_from_json(s_ctx_t *ctx, ProtobufCMessage *msg,
                                const ProtobufCFieldDescriptor *f, const json_t *v, int depth)
{
    if (!json_is_array(v))
        return s_fail(ctx, KNOOP_EMALFORMED, "expected array, got %s", s_json_kind(v));
    size_t n = json_array_size(v);
    if (n == 0)
        return KNOOP_OK;
    /* Every element costs at least a byte on the wire: refuse before
     * allocating for what cannot fit. */
    if (n > KNOOP_PAYLOAD_MAX)
        return s_fail(ctx, KNOOP_ETOOBIG, "%zu elements exceed the payload limit", n);
    size_t es = s_elem_size(f->type);
    uint8_t *arr = calloc(n, es);
    if (!arr)
        return s_fail(ctx, KNOOP_ENOMEM, "out of memory");
    /* Hand the array to the message at once and count elements as they are
     * filled, so free_unpacked frees exactly what exists after an error. */
    size_t *count = S_MEMBER(msg, f->quantifier_offset);
    *(uint8_t **) S_MEMBER(msg, f->offset) = arr;
    *count = 0;
    for (size_t k = 0; k < n; k++) {
        const json_t *e = json_array_get(v, k);
        size_t old = s_path_push(ctx, NULL, k);
        int rc = json_is_null(e)
                     ? s_fail(ctx, KNOOP_EMALFORMED, "null in array")
                     : s_value_from_json(ctx, f, e, depth, arr + k * es);
        s_path_pop(ctx, old);
        if (rc)
            return rc;
        *count = k + 1;
    }
    return KNOOP_OK;
}

/* Set one field of msg from JSON value v. */
static int s_field_from_json(s_ctx_t *ctx, ProtobufCMessage *msg,
                             const ProtobufCFieldDescriptor *f, const json_t *v, int depth)
{
    /* null means "not set", as in the proto3 JSON mapping. */
    if (json_is_null(v))
        return KNOOP_OK;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return s_repeated_from_json(ctx, msg, f, v, depth);

    void *p = S_MEMBER(msg, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = S_MEMBER(msg, f->quantifier_offset);
        if (*which != 0 && *which != f->id) {
            const ProtobufCFieldDescriptor *other =
                protobuf_c_message_descriptor_get_field(msg->descriptor, *which);
            return s_fail(ctx, KNOOP_EMALFORMED, "conflicts with '%s' (only one may be set)",
                          other ? other->name : "?");
        }
        int rc = s_value_from_json(ctx, f, v, depth, p);
        if (rc == KNOOP_OK)
            *which = f->id;
        return rc;
    }

    /* A plain field at its default stays unset, so that the bytes come
     * out canonical (what unpack -> pack would give) whatever the JSON
     * spelled out. Only strings allocate for it. */
    if (f->label == PROTOBUF_C_LABEL_NONE && f->type == PROTOBUF_C_TYPE_STRING &&
        json_is_string(v) && json_string_length(v) == 0)
        return KNOOP_OK;
    int rc = s_value_from_json(ctx, f, v, depth, p);
    if (rc == KNOOP_OK && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
        f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *) S_MEMBER(msg, f->quantifier_offset) = 1;
    return rc;
}

/* The proto3 JSON name of a field: lowerCamelCase of the .proto name
 * ("level_cm_nap" -> "levelCmNap"), as protoc derives json_name. */
static const char *s_camel(const char *name, char *buf, size_t size)
{
    size_t k = 0;
    bool up = false;
    for (const char *p = name; *p && k + 1 < size; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        buf[k++] = up && *p >= 'a' && *p <= 'z' ? (char) (*p - 'a' + 'A') : *p;
        up = false;
    }
    buf[k] = '\0';
    return buf;
}

/* A field by either spelling the proto3 JSON mapping accepts. */
static const ProtobufCFieldDescriptor *s_field_by_json_name(const ProtobufCMessageDescriptor *d,
                                                            const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    if (f)
        return f;
    char buf[128];
    for (unsigned i = 0; i < d->n_fields; i++)
        if (strcmp(s_camel(d->fields[i].name, buf, sizeof buf), key) == 0)
            return &d->fields[i];
    return NULL;
}

static int s_msg_from_json(s_ctx_t *ctx, const ProtobufCMessageDescriptor *d,
                           const json_t *obj, int depth, ProtobufCMessage **out)
{
    if (!json_is_object(obj))
        return s_fail(ctx, KNOOP_EMALFORMED, "expected object, got %s", s_json_kind(obj));
    if (depth > S_DEPTH_MAX)
        return s_fail(ctx, KNOOP_EMALFORMED, "nested deeper than %d", S_DEPTH_MAX);
    ProtobufCMessage *msg = malloc(d->sizeof_message);
    if (!msg)
        return s_fail(ctx, KNOOP_ENOMEM, "out of memory");
    protobuf_c_message_init(d, msg);

    const char *key;
    const json_t *v;
    int rc = KNOOP_OK;
    uint8_t *seen = calloc(d->n_fields ? d->n_fields : 1, 1);
    if (!seen) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return s_fail(ctx, KNOOP_ENOMEM, "out of memory");
    }
    json_object_foreach((json_t *) obj, key, v) {
        size_t old = s_path_push(ctx, key, 0);
        const ProtobufCFieldDescriptor *f = s_field_by_json_name(d, key);
        if (!f)
            rc = s_fail(ctx, KNOOP_EMALFORMED, "unknown field");
        else if (seen[f - d->fields]++)
            rc = s_fail(ctx, KNOOP_EMALFORMED, "field given twice (as %s and %s)", f->name,
                        s_camel(f->name, (char[128]) { 0 }, 128));
        else
            rc = s_field_from_json(ctx, msg, f, v, depth);
        if (rc == KNOOP_OK)
            s_path_pop(ctx, old);
        else
            break;           /* keep the path for the caller's message */
    }
    free(seen);
    if (rc) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return rc;
    }
    *out = msg;
    return KNOOP_OK;
}

int knoop_payload_from_json(const char *type, const json_t *obj, knoop_buf_t *out,
                            char *err, size_t err_size)
{
    assert(out);
    s_ctx_t ctx = { .err = err, .err_size = err_size };
    if (err && err_size)
        err[0] = '\0';
    const ProtobufCMessageDescriptor *d = s_lookup(type);
    if (!d)
        return s_fail(&ctx, KNOOP_ENOTFOUND, "unknown payload type '%.128s'",
                      type ? type : "(null)");
    if (!obj)
        return s_fail(&ctx, KNOOP_EMALFORMED, "expected object, got nothing");

    ProtobufCMessage *msg = NULL;
    int rc = s_msg_from_json(&ctx, d, obj, 0, &msg);
    if (rc)
        return rc;
    /* The content rules a node and a broker apply, said here at once with
     * the field's path. */
    rc = s_check_msg(&ctx, msg, 0);
    if (rc) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return rc;
    }
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > KNOOP_PAYLOAD_MAX)
        rc = s_fail(&ctx, KNOOP_ETOOBIG, "payload of %zu bytes exceeds the limit of %u",
                    n, KNOOP_PAYLOAD_MAX);
    else
        rc = knoop_buf_reserve(out, n);
    if (rc == KNOOP_OK && n > 0)   /* an all-default message is 0 bytes */
        out->len += protobuf_c_message_pack(msg, out->data + out->len);
    else if (rc == KNOOP_ENOMEM)
        s_fail(&ctx, rc, "out of memory");
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

/* ==== text ==== */

/* Fewest significant digits (1..17) that give v back exactly. */
static int s_digits(double v)
{
    char buf[40];
    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return p;
    }
    return 17;
}

static int s_max_digits(const json_t *j)
{
    int m = 1;
    if (json_is_real(j) && isfinite(json_real_value(j)))
        return s_digits(json_real_value(j));
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *) j, k, v) {
            int d = s_max_digits(v);
            m = d > m ? d : m;
        }
    }
    else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int d = s_max_digits(v);
            m = d > m ? d : m;
        }
    }
    return m;
}

char *knoop_json_dumps(const json_t *j, size_t flags)
{
    /* jansson prints every real with one precision per document: the
     * fewest digits that give each of them back. */
    return json_dumps(j, flags | JSON_REAL_PRECISION(s_max_digits(j)));
}

/* ==== payload rules: topic families, times, coordinates, senders ==== */

/* The registry of topic families and their payload type, and the field of
 * each type that names who speaks. One table, read by node (publish) and
 * broker (ingest); docs/protocol.md lists it for partners. */
static const struct {
    const char *family;          /* topic pattern */
    const char *type;
} s_families[] = {
    { "grip.>",     "knoop.crisis.v1.GripLevel" },
    { "sitrep.>",   "knoop.crisis.v1.SitRep" },
    { "duiding.>",  "knoop.crisis.v1.Duiding" },
    { "water.>",    "knoop.crisis.v1.WaterLevel" },
    { "vitaal.>",   "knoop.crisis.v1.VitalOutage" },
    { "alert.>",    "knoop.crisis.v1.Alert" },
    { "bijstand.>", "knoop.crisis.v1.ResourceRequest" },
};

static const struct {
    const char *type;
    const char *field;
} s_sender_fields[] = {
    { "knoop.crisis.v1.GripLevel",       "region" },
    { "knoop.crisis.v1.SitRep",          "reporting_region" },
    { "knoop.crisis.v1.WaterLevel",      "source_organisation" },
    { "knoop.crisis.v1.VitalOutage",     "provider" },
    { "knoop.crisis.v1.ResourceRequest", "sender" },
};

/* String fields that hold times, and fields that hold partner ids. */
static const char *const s_time_fields[] = {
    "start", "end", "valid_until", "needed_by", "expected_restore", "forecast_for", NULL,
};
static const char *const s_id_fields[] = {
    "region", "provider", "requesting_region", "coordinating_region", "source_organisation",
    "sender", "reporting_region", "responder", "affected_regions", NULL,
};

static bool s_in(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

static bool s_time_field(const char *name)
{
    size_t n = strlen(name);
    return (n > 3 && strcmp(name + n - 3, "_at") == 0) || strcmp(name, "at") == 0 ||
           s_in(s_time_fields, name);
}

/* What a string field holds, by its name: a time, a partner id, or text.
 * Every string of every payload a node or broker checks asks this, so the
 * answer is kept per field descriptor (static data of the generated code)
 * in a small direct-mapped cache of this thread's. */
enum { S_TEXT = 1, S_TIME = 2, S_ID = 3 };

static int s_string_kind(const ProtobufCFieldDescriptor *f)
{
    static _Thread_local struct { const ProtobufCFieldDescriptor *f; int kind; } cache[256];
    size_t at = ((uintptr_t) f / sizeof *f) % 256;
    if (cache[at].f != f) {
        cache[at].kind = s_time_field(f->name) ? S_TIME
                       : s_in(s_id_fields, f->name) ? S_ID : S_TEXT;
        cache[at].f = f;
    }
    return cache[at].kind;
}

#define S_TYPEMAP_MAX 256

struct knoop_typemap_t {
    size_t n;
    char   family[S_TYPEMAP_MAX][KNOOP_TOPIC_MAX + 1];
    char   type[S_TYPEMAP_MAX][KNOOP_TYPE_MAX + 1];
};

int knoop_typemap_parse(const char *text, const char *name, knoop_typemap_t **out, char *err,
                        size_t err_size)
{
    *out = NULL;
    if (err && err_size)
        err[0] = '\0';
    name = name ? name : "(text)";
    knoop_typemap_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    unsigned line = 0;
    int rc = KNOOP_OK;
    for (const char *p = text; rc == KNOOP_OK && p && *p;) {
        line++;
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen(p);
        char buf[512];
        if (len >= sizeof buf) {
            snprintf(err, err_size, "types %s:%u: line longer than %zu bytes", name, line,
                     sizeof buf - 1);
            rc = KNOOP_EMALFORMED;
            break;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        p = nl ? nl + 1 : p + len;
        char *save = NULL, *f[3];
        f[0] = strtok_r(buf, " \t\r", &save);
        if (!f[0] || f[0][0] == '#')
            continue;
        f[1] = strtok_r(NULL, " \t\r", &save);
        f[2] = strtok_r(NULL, " \t\r", &save);
        if (!f[1] || (f[2] && f[2][0] != '#')) {
            snprintf(err, err_size, "types %s:%u: expected PATTERN TYPE", name, line);
            rc = KNOOP_EMALFORMED;
        } else if (knoop_pattern_validate(f[0]) != KNOOP_OK) {
            snprintf(err, err_size, "types %s:%u: '%.64s' is not a topic pattern", name, line,
                     f[0]);
            rc = KNOOP_EMALFORMED;
        } else if (!knoop_payload_type_known(f[1])) {
            snprintf(err, err_size, "types %s:%u: unknown payload type '%.128s'", name, line,
                     f[1]);
            rc = KNOOP_EMALFORMED;
        } else if (self->n == S_TYPEMAP_MAX) {
            snprintf(err, err_size, "types %s:%u: more than %d families", name, line,
                     S_TYPEMAP_MAX);
            rc = KNOOP_ETOOBIG;
        } else {
            snprintf(self->family[self->n], sizeof self->family[0], "%s", f[0]);
            snprintf(self->type[self->n], sizeof self->type[0], "%s", f[1]);
            self->n++;
        }
    }
    if (rc) {
        free(self);
        return rc;
    }
    *out = self;
    return KNOOP_OK;
}

int knoop_typemap_load(const char *path, knoop_typemap_t **out, char *err, size_t err_size)
{
    *out = NULL;
    knoop_buf_t text = { 0 };
    char why[160];
    int rc = knoop_file_read(path, 65536, KNOOP_FILE_TEXT, &text, why, sizeof why);
    if (rc)
        snprintf(err, err_size, "types %s: %s", path, why);
    else
        rc = knoop_typemap_parse((const char *) text.data, path, out, err, err_size);
    knoop_buf_free(&text);
    return rc;
}

int knoop_typemap_reload(knoop_typemap_t **types, const char *path, const char *who)
{
    if (!path) {
        if (*types)
            knoop_info("%s: type registry: the built-in table again (no --types)", who);
        knoop_typemap_destroy(types);
        return KNOOP_OK;
    }
    knoop_typemap_t *fresh = NULL;
    char err[512];
    int rc = knoop_typemap_load(path, &fresh, err, sizeof err);
    if (rc) {
        knoop_error("%s: %s; the type registry in force stays", who, err);
        return rc;
    }
    knoop_typemap_destroy(types);
    *types = fresh;
    knoop_info("%s: type registry %s read again (%zu families)", who, path, fresh->n);
    return KNOOP_OK;
}

void knoop_typemap_destroy(knoop_typemap_t **self_p)
{
    if (self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

const char *knoop_typemap_type_for(const knoop_typemap_t *self, const char *topic)
{
    if (!topic)
        return NULL;
    if (self) {
        for (size_t i = 0; i < self->n; i++)
            if (knoop_topic_match(self->family[i], topic))
                return self->type[i];
        return NULL;
    }
    for (size_t i = 0; i < sizeof s_families / sizeof s_families[0]; i++)
        if (knoop_topic_match(s_families[i].family, topic))
            return s_families[i].type;
    return NULL;
}

const char *knoop_payload_type_for_topic(const char *topic)
{
    return knoop_typemap_type_for(NULL, topic);
}

const char *knoop_payload_sender_field(const char *type)
{
    for (size_t i = 0; type && i < sizeof s_sender_fields / sizeof s_sender_fields[0]; i++)
        if (strcmp(s_sender_fields[i].type, type) == 0)
            return s_sender_fields[i].field;
    return NULL;
}

static int s_check_point(s_ctx_t *ctx, const Knoop__Crisis__V1__Point *pt)
{
    if (!isfinite(pt->lat) || pt->lat < -90 || pt->lat > 90)
        return s_fail(ctx, KNOOP_EMALFORMED, "latitude %g outside WGS84 -90..90", pt->lat);
    if (!isfinite(pt->lon) || pt->lon < -180 || pt->lon > 180)
        return s_fail(ctx, KNOOP_EMALFORMED, "longitude %g outside WGS84 -180..180", pt->lon);
    return KNOOP_OK;
}

static int s_check_msg(s_ctx_t *ctx, const ProtobufCMessage *msg, int depth);

static int s_check_value(s_ctx_t *ctx, const ProtobufCFieldDescriptor *f, const void *p,
                         int depth)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *v = *(char *const *) p;
        if (!v || !*v)
            return KNOOP_OK;
        int64_t t;
        int kind = s_string_kind(f);
        if (kind == S_TIME && knoop_time_parse_rfc3339(v, &t) != KNOOP_OK)
            return s_fail(ctx, KNOOP_EMALFORMED, "'%.64s' is not an RFC 3339 time with a zone "
                          "(e.g. 2021-07-14T18:00:00+02:00)", v);
        if (kind == S_ID && !knoop_id_valid(v))
            return s_fail(ctx, KNOOP_EMALFORMED, "'%.64s' is not a partner id (a-z 0-9 -)", v);
        return KNOOP_OK;
    }
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
        return KNOOP_OK;
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *) p;
    if (!sub)
        return KNOOP_OK;
    if (sub->descriptor == &knoop__crisis__v1__point__descriptor)
        return s_check_point(ctx, (const Knoop__Crisis__V1__Point *) sub);
    if (sub->descriptor == &knoop__crisis__v1__polygon__descriptor) {
        const Knoop__Crisis__V1__Polygon *pg = (const Knoop__Crisis__V1__Polygon *) sub;
        if (pg->n_points < 4)
            return s_fail(ctx, KNOOP_EMALFORMED, "a polygon needs at least 4 points (a closed "
                          "ring: the last repeats the first), got %zu", pg->n_points);
        for (size_t i = 0; i < pg->n_points; i++) {
            size_t old = s_path_push(ctx, "points", 0);
            s_path_push(ctx, NULL, i);
            int rc = s_check_point(ctx, pg->points[i]);
            if (rc)
                return rc;
            s_path_pop(ctx, old);
        }
        const Knoop__Crisis__V1__Point *a = pg->points[0], *b = pg->points[pg->n_points - 1];
        if (a->lat != b->lat || a->lon != b->lon)
            return s_fail(ctx, KNOOP_EMALFORMED, "polygon not closed: the last point must "
                          "repeat the first");
        return KNOOP_OK;
    }
    return s_check_msg(ctx, sub, depth + 1);
}

static int s_check_msg(s_ctx_t *ctx, const ProtobufCMessage *msg, int depth)
{
    /* An Alert is CAP 1.2 and follows CAP's rules (its sender is a CAP
     * sender, its times CAP dateTimes): those are checked where CAP comes
     * in, not here. */
    if (msg->descriptor == &knoop__crisis__v1__alert__descriptor)
        return KNOOP_OK;
    if (depth > S_DEPTH_MAX)
        return s_fail(ctx, KNOOP_EMALFORMED, "nested deeper than %d", S_DEPTH_MAX);
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!s_present(msg, f))
            continue;
        size_t old = s_path_push(ctx, f->name, 0);
        int rc = KNOOP_OK;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *) S_CMEMBER(msg, f->quantifier_offset);
            const uint8_t *arr = *(const uint8_t *const *) S_CMEMBER(msg, f->offset);
            size_t es = s_elem_size(f->type);
            for (size_t k = 0; k < n && rc == KNOOP_OK; k++) {
                size_t o2 = s_path_push(ctx, NULL, k);
                rc = s_check_value(ctx, f, arr + k * es, depth);
                if (rc == KNOOP_OK)
                    s_path_pop(ctx, o2);
            }
        }
        else
            rc = s_check_value(ctx, f, S_CMEMBER(msg, f->offset), depth);
        if (rc)
            return rc;
        s_path_pop(ctx, old);
    }
    return KNOOP_OK;
}

/* The sender field's value, "" when the type has none or it is unset. */
static void s_sender_of(const ProtobufCMessage *msg, const char *field, char *out, size_t size)
{
    if (!out || !size)
        return;
    out[0] = '\0';
    if (!field)
        return;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, field);
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return;
    const char *v = *(char *const *) S_CMEMBER(msg, f->offset);
    snprintf(out, size, "%s", v ? v : "");
}

int knoop_payload_check(const knoop_typemap_t *types, const char *topic, const char *type,
                        const uint8_t *data, size_t len, char *sender, size_t sender_size,
                        char *err, size_t err_size)
{
    s_ctx_t ctx = { .err = err, .err_size = err_size };
    if (err && err_size)
        err[0] = '\0';
    if (sender && sender_size)
        sender[0] = '\0';
    const char *bound = knoop_typemap_type_for(types, topic);
    if (bound && (!type || strcmp(bound, type) != 0))
        return s_fail(&ctx, KNOOP_EPERM, "topic %.128s carries %s, not %.128s", topic, bound,
                      type ? type : "(none)");
    const ProtobufCMessageDescriptor *d = s_lookup(type);
    if (!d)
        return KNOOP_OK;                /* an opaque type outside the families */
    if (len > KNOOP_PAYLOAD_MAX)
        return s_fail(&ctx, KNOOP_ETOOBIG, "payload of %zu bytes exceeds the limit", len);
    static const uint8_t s_empty[1];
    ProtobufCMessage *msg = protobuf_c_message_unpack(d, NULL, len, data ? data : s_empty);
    if (!msg)
        return s_fail(&ctx, KNOOP_EMALFORMED, "payload does not decode as %s", type);
    int rc = s_check_msg(&ctx, msg, 0);
    if (rc == KNOOP_OK)
        s_sender_of(msg, knoop_payload_sender_field(type), sender, sender_size);
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}
