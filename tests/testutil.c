/* testutil.c — see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *tu_tmpdir(const char *name)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *path = NULL;
    if (asprintf(&path, "%s/knoop-test-%s-XXXXXX", base, name) < 0)
        abort();
    if (!mkdtemp(path)) {
        fprintf(stderr, "mkdtemp %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void tu_rmtree(char *path)
{
    if (!path)
        return;
    if (!getenv("KNOOP_KEEP_TMP"))
        nftw(path, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

const char *tu_knoop_bin(void)
{
    const char *bin = getenv("KNOOP_BIN");
    return bin && *bin ? bin : "knoop";
}

int tu_run(char **out, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (cap - len < 2) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    if (buf)
        buf[len] = '\0';
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t) sz + 1);
    if (buf && fread(buf, 1, (size_t) sz, f) != (size_t) sz) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[sz] = '\0';
        if (len)
            *len = (size_t) sz;
    }
    return buf;
}

char *tu_path(const char *dir, const char *name)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    return path;
}

void tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

unsigned tu_seed(void)
{
    static unsigned seed;
    static int done;
    if (!done) {
        const char *s = getenv("KNOOP_SEED");
        seed = s ? (unsigned) strtoul(s, NULL, 10) : (unsigned) time(NULL) ^ (unsigned) getpid();
        fprintf(stderr, "# seed %u (rerun with KNOOP_SEED=%u)\n", seed, seed);
        done = 1;
    }
    return seed;
}

int tu_soak(void)
{
    const char *s = getenv("KNOOP_SOAK");
    return s && *s && strcmp(s, "0") != 0;
}

void tu_stream_init(tu_stream_t *s, const char *origin, const char *topic,
                    uint64_t epoch, const uint8_t *sk)
{
    memset(s, 0, sizeof *s);
    s->origin = origin;
    s->topic = topic;
    s->epoch = epoch;
    s->sk = sk;
}

void tu_stream_next(tu_stream_t *s, knoop_buf_t *out, knoop_msg_t *m, uint64_t hlc,
                    const char *key, knoop_status_t status, const char *payload)
{
    knoop_body_t b = { 0 };
    b.version = KNOOP_BODY_VERSION;
    b.origin = s->origin;
    b.topic = s->topic;
    b.epoch = s->epoch;
    b.seq = s->seq + 1;
    b.hlc = hlc;
    memcpy(b.prev, s->head, KNOOP_HASH_LEN);
    b.key = key ? key : "";
    b.type = "test.Opaque";
    b.priority = KNOOP_PRIO_ROUTINE;
    b.status = status;
    b.tlp = KNOOP_TLP_GREEN;
    b.payload = (const uint8_t *) (payload ? payload : "");
    b.payload_len = payload ? strlen(payload) : 0;
    out->len = 0;
    int rc = knoop_msg_build(&b, s->sk, out, s->head);
    assert_int_equal(rc, KNOOP_OK);
    s->seq++;
    rc = knoop_msg_parse(m, out->data, out->len);
    assert_int_equal(rc, KNOOP_OK);
}
