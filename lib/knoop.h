/*
 * knoop.h — the common ground of libknoop: error codes, limits, a growable
 * byte buffer and logging. Every other libknoop header includes this one.
 *
 * Errors: every fallible function returns 0 (KNOOP_OK) or a negative
 * KNOOP_E* code. The codes are coarse on purpose: a caller must be able to
 * tell malformed input (drop it) from unauthorised input (refuse it) from a
 * full store (back-pressure) from a vanished peer (drop the session) from a
 * timeout (retry later) from "nothing waiting" (not an error at all): one
 * code for each, never one code for two of them.
 * knoop_strerror() names each code in words an operator can act on.
 *
 * Threading: the functions here are thread-safe. The log level is the one
 * process-wide setting in the library (like syslog's mask).
 */
#ifndef KNOOP_H
#define KNOOP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum {
    KNOOP_OK         = 0,
    KNOOP_EINVAL     = -1,   /* bad argument or option */
    KNOOP_EMALFORMED = -2,   /* input bytes do not parse or violate the format */
    KNOOP_ETOOBIG    = -3,   /* input exceeds a size limit */
    KNOOP_ETOPIC     = -4,   /* topic or pattern syntax */
    KNOOP_ECHAIN     = -5,   /* hash chain does not link */
    KNOOP_ESIG       = -6,   /* signature does not verify */
    KNOOP_EFORK      = -7,   /* same (stream, seq) with different content */
    KNOOP_EUNKNOWN   = -8,   /* unknown partner or key */
    KNOOP_EEXPIRED   = -9,   /* certificate outside its validity */
    KNOOP_EPERM      = -10,  /* not allowed (policy, file mode) */
    KNOOP_EFULL      = -11,  /* storage full: map at its limit or disk full */
    KNOOP_EIO        = -12,  /* input/output error from the OS */
    KNOOP_ENOMEM     = -13,  /* out of memory */
    KNOOP_ENOTFOUND  = -14,  /* no such item */
    KNOOP_EEXIST     = -15,  /* already exists */
    KNOOP_ECOLLISION = -16,  /* stream id collision between different streams */
    KNOOP_EVERSION   = -17,  /* unsupported format or schema version */
    KNOOP_EDUPLICATE = -18,  /* duplicate where uniqueness is required */
    KNOOP_ECORRUPT   = -19,  /* stored data is damaged */
    KNOOP_EBUSY      = -20,  /* resource in use (journal open for writing elsewhere, address bound) */
    KNOOP_ETIMEDOUT  = -21,  /* no answer within the time allowed */
    KNOOP_EGONE      = -22,  /* no connection to the peer (gone, or never there): not sent */
    KNOOP_EAGAIN     = -23,  /* nothing waiting now (non-blocking read): try again later */
    KNOOP_EGAP       = -24,  /* seq leaves a gap: an earlier message of the stream is missing */
    KNOOP_EINTR      = -25,  /* a signal interrupted the call before it finished */
} knoop_err_t;
/* The lowest code: a new code takes the next number below it and becomes
 * KNOOP_ERR_LAST (tests/test_errors.c checks every code from 0 down to it). */
#define KNOOP_ERR_LAST KNOOP_EINTR

/* Human-readable name of an error code. Static string, never NULL. */
const char *knoop_strerror(int err);

/* The knoop code for an errno value from the OS (open, read, write, mkdir,
 * fsync...): ENOENT/ENOTDIR -> KNOOP_ENOTFOUND, EACCES/EPERM/EROFS ->
 * KNOOP_EPERM, EEXIST -> KNOOP_EEXIST, ENOMEM -> KNOOP_ENOMEM,
 * ENOSPC/EDQUOT -> KNOOP_EFULL, anything else -> KNOOP_EIO. */
int knoop_err_from_errno(int e);

/* ---- limits (the one checked gate enforces these) ---- */
#define KNOOP_ENVELOPE_MAX   (1u << 20)  /* whole envelope, bytes */
#define KNOOP_PAYLOAD_MAX    ((1u << 20) - 4096)
#define KNOOP_ID_MAX         64          /* partner id */
#define KNOOP_TOPIC_MAX      255         /* topic or pattern, bytes */
#define KNOOP_TOPIC_DEPTH    16          /* tokens */
#define KNOOP_TOKEN_MAX      64          /* bytes per token */
#define KNOOP_KEY_MAX        255         /* state key */
#define KNOOP_TYPE_MAX       128         /* payload type name */
#define KNOOP_RUN_AGAIN      2           /* a daemon loop's *stop: return, to be run again (SIGHUP) */
#define KNOOP_HASH_LEN       32
#define KNOOP_SIG_LEN        64
#define KNOOP_PK_LEN         32

/* ---- growable byte buffer ---- */
typedef struct {
    uint8_t *data;
    size_t   len;
    size_t   cap;
} knoop_buf_t;

/* Make room for `extra` more bytes beyond len. KNOOP_ENOMEM on failure. */
int  knoop_buf_reserve(knoop_buf_t *buf, size_t extra);
/* Append bytes. */
int  knoop_buf_append(knoop_buf_t *buf, const void *data, size_t len);
/* Free the storage and zero the struct; safe on a zeroed buffer. */
void knoop_buf_free(knoop_buf_t *buf);

/* ---- growable arrays (items, len, cap kept by the caller) ---- */
/* Room for one more element in an array of *cap elements of `size` bytes
 * that holds len: items itself while len < *cap, else the array moved to a
 * larger one (`first` elements the first time, then twice as many) and *cap
 * raised. NULL when memory runs out or the size would overflow; items and
 * *cap are then unchanged and the caller still owns items. */
void *knoop_array_grow(void *items, size_t len, size_t *cap, size_t size, size_t first);

/* ---- error text a caller may not want ---- */
/* Where a function that takes (err, err_size) writes its message: err when
 * the caller gave a buffer (err and err_size > 0), else scratch (a buffer of
 * scratch_size > 0 in the function's frame). *err_size becomes the size of
 * the buffer returned, which is emptied. */
char *knoop_err_buf(char *err, size_t *err_size, char *scratch, size_t scratch_size);

/* ---- logging: one line per event to stderr, "TIME LEVEL message" ---- */
typedef enum {
    KNOOP_LOG_OFF   = -1,   /* nothing: for fuzz targets, where every input is bad */
    KNOOP_LOG_ERROR = 0,
    KNOOP_LOG_WARN  = 1,
    KNOOP_LOG_INFO  = 2,
    KNOOP_LOG_DEBUG = 3,
} knoop_log_level_t;

void knoop_log_set_level(knoop_log_level_t level);
/* Parse "error", "warn", "info", "debug"; KNOOP_EINVAL otherwise. */
int  knoop_log_parse_level(const char *name, knoop_log_level_t *out);
void knoop_log(knoop_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define knoop_error(...) knoop_log(KNOOP_LOG_ERROR, __VA_ARGS__)
#define knoop_warn(...)  knoop_log(KNOOP_LOG_WARN, __VA_ARGS__)
#define knoop_info(...)  knoop_log(KNOOP_LOG_INFO, __VA_ARGS__)
#define knoop_debug(...) knoop_log(KNOOP_LOG_DEBUG, __VA_ARGS__)

/* ---- small helpers shared by every module ---- */
static inline void knoop_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t) v; v >>= 8; }
}
static inline uint64_t knoop_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* Wall clock in Unix milliseconds. */
uint64_t knoop_now_ms(void);
/* Monotonic milliseconds (for intervals and deadlines; no wall-clock jumps). */
uint64_t knoop_mono_ms(void);

#endif
