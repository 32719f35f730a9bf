/* fuzz_common.h — what the fuzz targets share: the logging set once (errors
 * only), a check that aborts (libFuzzer then saves the input) and untrusted
 * bytes as a file, for the decoders that read files (certificates,
 * configuration). Header-only: each target is one program. */
#ifndef KNOOP_FUZZ_COMMON_H
#define KNOOP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "knoop.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer calls this once, before the first input: the decoders log
 * nothing. Their words on bad input (a certificate that does not parse is an
 * ERROR line in a daemon) would drown the fuzzer's own output, about 12 MB
 * of it in one CI run; a failed check or a sanitizer still reports. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    knoop_log_set_level(KNOOP_LOG_OFF);
    return 0;
}

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The bytes as a file: a memfd, named by /proc/self/fd/N in path. Returns
 * the fd to close, or -1. */
static inline int fuzz_as_file(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("knoop-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t) n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
