/*
 * powercut.c — simulated power loss for the daemons (LD_PRELOAD), F2 of the
 * reliability catalogue. kill -9 keeps the page cache, so it cannot tell a
 * journal that fsyncs before it acknowledges from one that does not; this
 * library can.
 *
 * For every file whose name ends in one of KNOOP_POWERCUT_FILES (a
 * comma-separated list, default "data.mdb") it keeps what the disk would
 * hold after a power cut:
 *   - a shadow copy, NAME.durable, of what was made durable: the file as it
 *     was at open, plus every write through an O_DSYNC/O_SYNC descriptor at
 *     once, plus every other write once fsync or fdatasync on that file
 *     returned;
 *   - the writes not yet made durable, in order.
 * The Nth write or sync on such files (N = KNOOP_POWERCUT_AT) is the power
 * cut: the library rebuilds each file from its shadow and a random subset of
 * the pending writes (each one applied, left out, or torn at a 4 KiB page
 * boundary, as the kernel's writeback could have left it), and kills the
 * process with SIGKILL before the Nth call reaches the kernel. Other threads
 * wait on the library's lock meanwhile, so nothing else reaches the files.
 * KNOOP_POWERCUT_SEED seeds the choice; the log line on stderr says what was
 * kept. With KNOOP_POWERCUT_ORDERED=1 the disk kept the pending writes in
 * the order they were made, up to a random point, none torn: a file system
 * that preserves write order, under which LMDB without fsync stays readable
 * and loses only its last transactions (without that order it may be left
 * unreadable).
 *
 * Without KNOOP_POWERCUT_AT the library only keeps the shadow (nothing is
 * cut). Test helper, not shipped.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD     1024
#define MAX_FILES  8
#define PAGE       4096

typedef struct {
    off_t   off;
    size_t  len;
    uint8_t *data;
} pending_t;

typedef struct {
    char       path[4096];
    int        shadow;           /* fd of PATH.durable */
    pending_t *pend;
    size_t     npend, cap;
} tracked_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static tracked_t s_files[MAX_FILES];
static size_t    s_nfiles;
static int       s_fd_file[MAX_FD];    /* index + 1 into s_files, 0 untracked */
static int       s_fd_dsync[MAX_FD];
static long      s_ops, s_cut_at = -1;
static int       s_ordered;            /* KNOOP_POWERCUT_ORDERED: keep a prefix */
static uint64_t  s_rng = 0x9e3779b97f4a7c15ull;
static int       s_init_done;

static int     (*real_open)(const char *, int, ...);
static int     (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int     (*real_fsync)(int);
static int     (*real_fdatasync)(int);
static int     (*real_close)(int);

static void s_say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && real_write)
        real_write(2, buf, (size_t) n < sizeof buf ? (size_t) n : sizeof buf - 1);
}

static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void s_init(void)
{
    if (s_init_done)
        return;
    real_open = dlsym(RTLD_NEXT, "open");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_close = dlsym(RTLD_NEXT, "close");
    const char *at = getenv("KNOOP_POWERCUT_AT");
    if (at && *at)
        s_cut_at = atol(at);
    const char *ordered = getenv("KNOOP_POWERCUT_ORDERED");
    s_ordered = ordered && !strcmp(ordered, "1");
    const char *seed = getenv("KNOOP_POWERCUT_SEED");
    if (seed && *seed)
        s_rng ^= (uint64_t) strtoull(seed, NULL, 10) * 0x2545f4914f6cdd1dull;
    if (!s_rng)
        s_rng = 1;
    s_init_done = 1;
}

static int s_wanted(const char *path)
{
    const char *list = getenv("KNOOP_POWERCUT_FILES");
    if (!list || !*list)
        list = "data.mdb";
    size_t pl = strlen(path);
    while (*list) {
        const char *end = strchr(list, ',');
        size_t n = end ? (size_t) (end - list) : strlen(list);
        if (n && pl >= n && memcmp(path + pl - n, list, n) == 0 &&
            (pl == n || path[pl - n - 1] == '/'))
            return 1;
        list += n + (end ? 1 : 0);
    }
    return 0;
}

static void s_copy_all(int from, int to)
{
    uint8_t buf[65536];
    off_t off = 0;
    ssize_t n;
    while ((n = pread(from, buf, sizeof buf, off)) > 0) {
        real_pwrite(to, buf, (size_t) n, off);
        off += n;
    }
    if (ftruncate(to, off) != 0)
        s_say("powercut: cannot size shadow: %s\n", strerror(errno));
}

/* A descriptor on a tracked file was opened (caller holds s_lock). */
static void s_track(int fd, const char *path, int flags)
{
    if (fd < 0 || fd >= MAX_FD)
        return;
    char abs[4096];
    if (path[0] != '/') {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd))
            return;
        snprintf(abs, sizeof abs, "%s/%s", cwd, path);
    } else {
        snprintf(abs, sizeof abs, "%s", path);
    }
    size_t i;
    for (i = 0; i < s_nfiles; i++)
        if (strcmp(s_files[i].path, abs) == 0)
            break;
    if (i == s_nfiles) {
        if (s_nfiles == MAX_FILES)
            return;
        tracked_t *t = &s_files[s_nfiles];
        memset(t, 0, sizeof *t);
        snprintf(t->path, sizeof t->path, "%s", abs);
        char sp[4200];
        snprintf(sp, sizeof sp, "%s.durable", abs);
        t->shadow = real_open(sp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (t->shadow < 0) {
            s_say("powercut: cannot create %s: %s\n", sp, strerror(errno));
            return;
        }
        int src = real_open(abs, O_RDONLY | O_CLOEXEC);
        if (src >= 0) {
            s_copy_all(src, t->shadow);   /* what is there at open is durable */
            real_close(src);
        }
        s_nfiles++;
    }
    s_fd_file[fd] = (int) i + 1;
    s_fd_dsync[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
}

static void s_flush_pending(tracked_t *t)
{
    for (size_t i = 0; i < t->npend; i++) {
        real_pwrite(t->shadow, t->pend[i].data, t->pend[i].len, t->pend[i].off);
        free(t->pend[i].data);
    }
    t->npend = 0;
}

/* Power cut: rebuild each file from its shadow and some of its pending
 * writes, then die. Never returns. */
static void s_cut(void)
{
    for (size_t f = 0; f < s_nfiles; f++) {
        tracked_t *t = &s_files[f];
        size_t kept = 0, torn = 0;
        size_t upto = s_ordered ? (size_t) (s_rand() % (t->npend + 1)) : t->npend;
        for (size_t i = 0; i < upto; i++) {
            pending_t *p = &t->pend[i];
            unsigned r = s_ordered ? 1 : (unsigned) (s_rand() % 3);
            if (r == 0)
                continue;
            size_t len = p->len;
            if (r == 2 && len > PAGE) {
                len = PAGE * (1 + s_rand() % (len / PAGE));
                if (len > p->len)
                    len = p->len;
                torn++;
            }
            real_pwrite(t->shadow, p->data, len, p->off);
            kept++;
        }
        int dst = real_open(t->path, O_WRONLY | O_CLOEXEC);
        if (dst >= 0) {
            s_copy_all(t->shadow, dst);
            real_fsync(dst);
            real_close(dst);
        }
        s_say("powercut: cut at operation %ld: %s rebuilt from what was durable, "
              "%zu of %zu unsynced writes kept (%zu torn)\n",
              s_ops, t->path, kept, t->npend, torn);
        size_t pl = strlen(t->path);
        char sp[sizeof t->path + 16];
        memcpy(sp, t->path, pl);
        memcpy(sp + pl, ".durable", 9);
        unlink(sp);
    }
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

/* One write or sync on a tracked file is about to happen (lock held). */
static void s_op(void)
{
    s_ops++;
    if (s_cut_at > 0 && s_ops >= s_cut_at)
        s_cut();
}

static void s_record(int fd, const struct iovec *iov, int cnt, off_t off, ssize_t done)
{
    tracked_t *t = &s_files[s_fd_file[fd] - 1];
    for (int i = 0; i < cnt && done > 0; i++) {
        size_t len = iov[i].iov_len < (size_t) done ? iov[i].iov_len : (size_t) done;
        if (s_fd_dsync[fd]) {
            real_pwrite(t->shadow, iov[i].iov_base, len, off);
        } else {
            if (t->npend == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 64;
                pending_t *np = realloc(t->pend, cap * sizeof *np);
                if (!np)
                    abort();
                t->pend = np;
                t->cap = cap;
            }
            pending_t *p = &t->pend[t->npend++];
            p->off = off;
            p->len = len;
            p->data = malloc(len ? len : 1);
            if (!p->data)
                abort();
            memcpy(p->data, iov[i].iov_base, len);
        }
        off += (off_t) len;
        done -= (ssize_t) len;
    }
}

static int s_tracked(int fd)
{
    return fd >= 0 && fd < MAX_FD && s_fd_file[fd];
}

int openat(int dirfd, const char *path, int flags, ...)
{
    s_init();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = flags & (O_CREAT | O_TMPFILE) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    int fd = real_openat(dirfd, path, flags, mode);
    if (fd >= 0 && s_wanted(path) && (dirfd == AT_FDCWD || path[0] == '/')) {
        pthread_mutex_lock(&s_lock);
        s_track(fd, path, flags);
        pthread_mutex_unlock(&s_lock);
    }
    return fd;
}
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

/* open(path) is openat(AT_FDCWD, path): one place tracks both */
int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = flags & (O_CREAT | O_TMPFILE) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    return openat(AT_FDCWD, path, flags, mode);
}
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int close(int fd)
{
    s_init();
    if (s_tracked(fd)) {
        pthread_mutex_lock(&s_lock);
        s_fd_file[fd] = 0;
        s_fd_dsync[fd] = 0;
        pthread_mutex_unlock(&s_lock);
    }
    return real_close(fd);
}

static ssize_t s_writev_at(int fd, const struct iovec *iov, int cnt, off_t off, int positioned)
{
    pthread_mutex_lock(&s_lock);
    s_op();
    if (!positioned)
        off = lseek(fd, 0, SEEK_CUR);
    ssize_t n = positioned ? real_pwritev(fd, iov, cnt, off) : real_writev(fd, iov, cnt);
    if (n > 0)
        s_record(fd, iov, cnt, off, n);
    pthread_mutex_unlock(&s_lock);
    return n;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    s_init();
    if (!s_tracked(fd))
        return real_write(fd, buf, len);
    struct iovec v = { (void *) buf, len };
    return s_writev_at(fd, &v, 1, 0, 0);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    s_init();
    if (!s_tracked(fd))
        return real_pwrite(fd, buf, len, off);
    struct iovec v = { (void *) buf, len };
    return s_writev_at(fd, &v, 1, off, 1);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    s_init();
    if (!s_tracked(fd))
        return real_pwrite64(fd, buf, len, off);
    struct iovec v = { (void *) buf, len };
    return s_writev_at(fd, &v, 1, off, 1);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    s_init();
    if (!s_tracked(fd))
        return real_writev(fd, iov, cnt);
    return s_writev_at(fd, iov, cnt, 0, 0);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    s_init();
    if (!s_tracked(fd))
        return real_pwritev(fd, iov, cnt, off);
    return s_writev_at(fd, iov, cnt, off, 1);
}

static int s_sync(int fd, int (*real)(int))
{
    s_init();
    if (!s_tracked(fd))
        return real(fd);
    pthread_mutex_lock(&s_lock);
    s_op();
    int rc = real(fd);
    if (rc == 0)
        s_flush_pending(&s_files[s_fd_file[fd] - 1]);
    pthread_mutex_unlock(&s_lock);
    return rc;
}

int fsync(int fd) { return s_sync(fd, real_fsync); }
int fdatasync(int fd) { return s_sync(fd, real_fdatasync); }
