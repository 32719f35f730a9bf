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
/* Seed for randomised tests: $KNOOP_SEED or the clock; printed once. */
unsigned tu_seed(void);
/* True when $KNOOP_SOAK is set: run the long variants. */
int   tu_soak(void);

#endif
