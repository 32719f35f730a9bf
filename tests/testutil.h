/*
 * testutil.h — helpers for the test programs: temporary directories, running
 * the knoop CLI, reading files. Tests use cmocka.
 */
#ifndef KNOOP_TESTUTIL_H
#define KNOOP_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <sys/types.h>
#include <cmocka.h>

#include "knoop.h"

/* Make a fresh directory under $TMPDIR (default /tmp): "knoop-test-NAME-XXXXXX".
 * Returns a malloc'd path. Aborts the test on failure. */
char *tu_tmpdir(const char *name);
/* rm -rf path (best effort) and free it. */
void  tu_rmtree(char *path);
/* Path of the knoop CLI under test (from $KNOOP_BIN). */
const char *tu_knoop_bin(void);
/* Run a shell command line; capture stdout into *out (malloc'd, NUL-ended,
 * may be NULL to discard). Returns the exit status, or -1. */
int   tu_run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Read a whole file (malloc'd, NUL-terminated); NULL if unreadable. */
char *tu_read_file(const char *path, size_t *len);
/* "dir/name", malloc'd (caller frees). */
char *tu_path(const char *dir, const char *name);
/* Write len bytes to path, created or truncated, with mode whatever the
 * umask and whatever mode the file had. Fails the running test on any
 * error: a test must not go on against a file that was not written. */
void  tu_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* Seed for randomised tests: $KNOOP_SEED or the clock; printed once. */
unsigned tu_seed(void);
/* True when $KNOOP_SOAK is set: run the long variants. */
int   tu_soak(void);

#include "msg.h"

/* A stream under construction for tests: builds consecutive messages. */
typedef struct {
    const char *origin;
    const char *topic;
    uint64_t    epoch;
    uint64_t    seq;                    /* last built */
    uint8_t     head[KNOOP_HASH_LEN];   /* chain of the last built */
    const uint8_t *sk;                  /* sign every message when set */
} tu_stream_t;

void tu_stream_init(tu_stream_t *s, const char *origin, const char *topic,
                    uint64_t epoch, const uint8_t *sk);
/* Build the next message into out (replacing its content) and parse it
 * into m (caller knoop_msg_clear). key may be NULL. */
void tu_stream_next(tu_stream_t *s, knoop_buf_t *out, knoop_msg_t *m, uint64_t hlc,
                    const char *key, knoop_status_t status, const char *payload);

#endif
