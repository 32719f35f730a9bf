/* file.c — bounded reading of a whole regular file. See file.h. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Read in pieces of this size once the size the file had at open is read
 * (it may grow while we read). */
#define S_CHUNK 65536u

static int s_why(char *why, size_t size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_why(char *why, size_t size, int rc, const char *fmt, ...)
{
    if (why && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int s_read_fd(int fd, const struct stat *st, size_t max, unsigned flags,
                     knoop_buf_t *out, char *why, size_t why_size)
{
    if (!S_ISREG(st->st_mode))
        return s_why(why, why_size, KNOOP_EMALFORMED, "not a regular file");
    if ((flags & KNOOP_FILE_SECRET) && (st->st_mode & 077))
        return s_why(why, why_size, KNOOP_EPERM,
                     "permissions %04o are too open: group or others may access this "
                     "secret; refusing it (chmod 600 it, and replace the secret if others "
                     "may have read it)", (unsigned) (st->st_mode & 07777));
    if (st->st_size > 0 && (uint64_t) st->st_size > (uint64_t) max)
        return s_why(why, why_size, KNOOP_ETOOBIG, "larger than %zu bytes", max);
    /* Room for the whole file as it is now, the byte that tells "larger"
     * and the NUL: a secret is then read without a realloc leaving copies. */
    size_t start = out->len;
    size_t want = (flags & KNOOP_FILE_SECRET) ? max : (size_t) st->st_size;
    if (want > max)
        want = max;
    if (knoop_buf_reserve(out, want + 2) != KNOOP_OK)
        return s_why(why, why_size, KNOOP_ENOMEM, "out of memory");
    for (;;) {
        size_t got = out->len - start;
        if (got > max)
            return s_why(why, why_size, KNOOP_ETOOBIG, "larger than %zu bytes", max);
        if (out->cap - out->len < 2) {
            size_t more = max + 1 - got < S_CHUNK ? max + 1 - got : S_CHUNK;
            if (knoop_buf_reserve(out, more + 1) != KNOOP_OK)
                return s_why(why, why_size, KNOOP_ENOMEM, "out of memory");
        }
        /* Never read past max + 1 bytes in all, and keep one byte for NUL. */
        size_t room = out->cap - out->len - 1;
        if (room > max + 1 - got)
            room = max + 1 - got;
        ssize_t n = read(fd, out->data + out->len, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return s_why(why, why_size, knoop_err_from_errno(e), "cannot read: %s",
                         strerror(e));
        }
        if (n == 0)
            break;
        out->len += (size_t) n;
    }
    out->data[out->len] = '\0';
    if ((flags & KNOOP_FILE_TEXT) && memchr(out->data + start, '\0', out->len - start))
        return s_why(why, why_size, KNOOP_EMALFORMED, "contains a NUL byte; not a text file");
    return KNOOP_OK;
}

int knoop_file_read(const char *path, size_t max, unsigned flags, knoop_buf_t *out,
                    char *why, size_t why_size)
{
    if (why && why_size)
        why[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return s_why(why, why_size, knoop_err_from_errno(e), "cannot open: %s", strerror(e));
    }
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        rc = s_why(why, why_size, knoop_err_from_errno(e), "cannot stat: %s", strerror(e));
    } else {
        rc = s_read_fd(fd, &st, max, flags, out, why, why_size);
    }
    close(fd);
    return rc;
}
