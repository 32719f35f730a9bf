/* common.c — error names, the byte buffer, logging, the clock. */
#include "knoop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *knoop_strerror(int err)
{
    switch (err) {
    case KNOOP_OK:         return "success";
    case KNOOP_EINVAL:     return "invalid argument";
    case KNOOP_EMALFORMED: return "malformed input";
    case KNOOP_ETOOBIG:    return "input exceeds size limit";
    case KNOOP_ETOPIC:     return "invalid topic or pattern";
    case KNOOP_ECHAIN:     return "hash chain broken";
    case KNOOP_ESIG:       return "signature does not verify";
    case KNOOP_EFORK:      return "fork: same stream and seq with different content";
    case KNOOP_EUNKNOWN:   return "unknown partner or key";
    case KNOOP_EEXPIRED:   return "certificate not valid now";
    case KNOOP_EPERM:      return "not permitted";
    case KNOOP_EFULL:      return "storage full";
    case KNOOP_EIO:        return "input/output error";
    case KNOOP_ENOMEM:     return "out of memory";
    case KNOOP_ENOTFOUND:  return "not found";
    case KNOOP_EEXIST:     return "already exists";
    case KNOOP_ECOLLISION: return "stream id collision";
    case KNOOP_EVERSION:   return "unsupported version";
    case KNOOP_EDUPLICATE: return "duplicate";
    case KNOOP_ECORRUPT:   return "stored data corrupt";
    case KNOOP_EBUSY:      return "resource busy: in use by another process, or full for now "
                                  "(a journal or address another daemon holds: stop that one, "
                                  "or give this one its own; a full queue: retry)";
    case KNOOP_ETIMEDOUT:  return "no answer in time (is the other side running and "
                                  "reachable? retry, or allow a longer timeout)";
    case KNOOP_EGONE:      return "peer gone: no connection to it, nothing was sent (is it "
                                  "running, at that address? sending again is safe; a "
                                  "daemon's peer resumes from its acknowledged position)";
    case KNOOP_EAGAIN:     return "nothing waiting now (try again later)";
    case KNOOP_EGAP:       return "sequence gap: an earlier message of this stream is not "
                                  "stored (it is taken once the earlier one is sent again)";
    case KNOOP_EINTR:      return "interrupted by a signal before it finished (run it again "
                                  "unless the signal was meant to stop it)";
    default:               return "unknown error";
    }
}

int knoop_err_from_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR: return KNOOP_ENOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:   return KNOOP_EPERM;
    case EEXIST:  return KNOOP_EEXIST;
    case ENOMEM:  return KNOOP_ENOMEM;
    case ENOSPC:
    case EDQUOT:  return KNOOP_EFULL;
    default:      return KNOOP_EIO;
    }
}

int knoop_buf_reserve(knoop_buf_t *buf, size_t extra)
{
    if (buf->cap - buf->len >= extra)
        return KNOOP_OK;
    if (extra > SIZE_MAX - buf->len)         /* len + extra would wrap */
        return KNOOP_ENOMEM;
    size_t want = buf->len + extra;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return KNOOP_ENOMEM;
        cap *= 2;
    }
    uint8_t *p = realloc(buf->data, cap);
    if (!p)
        return KNOOP_ENOMEM;
    buf->data = p;
    buf->cap = cap;
    return KNOOP_OK;
}

int knoop_buf_append(knoop_buf_t *buf, const void *data, size_t len)
{
    int rc = knoop_buf_reserve(buf, len);
    if (rc)
        return rc;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return KNOOP_OK;
}

void knoop_buf_free(knoop_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

void *knoop_array_grow(void *items, size_t len, size_t *cap, size_t size, size_t first)
{
    if (len < *cap)
        return items;
    size_t n = *cap ? *cap * 2 : first;
    if (n <= *cap || n > SIZE_MAX / size)
        return NULL;
    void *p = realloc(items, n * size);
    if (p)
        *cap = n;
    return p;
}

char *knoop_err_buf(char *err, size_t *err_size, char *scratch, size_t scratch_size)
{
    if (!err || !*err_size) {
        err = scratch;
        *err_size = scratch_size;
    }
    *err = '\0';
    return err;
}

static atomic_int s_log_level = KNOOP_LOG_INFO;

void knoop_log_set_level(knoop_log_level_t level)
{
    atomic_store(&s_log_level, (int) level);
}

int knoop_log_parse_level(const char *name, knoop_log_level_t *out)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (knoop_log_level_t) i;
            return KNOOP_OK;
        }
    return KNOOP_EINVAL;
}

void knoop_log(knoop_log_level_t level, const char *fmt, ...)
{
    if ((int) level > atomic_load(&s_log_level))
        return;
    static const char *tags[] = { "ERROR", "WARN", "INFO", "DEBUG" };
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, ap);
    va_end(ap);
    /* One write per line so lines from several processes do not interleave. */
    size_t len = strlen(line);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

uint64_t knoop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t knoop_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}
