/* kit.h — what the benches (bench_journal, bench_pubsub, peers/) share: the clock,
 * a free port, the child processes each bench starts and their logs, and
 * percentiles. Plain C and libc only: the peer benches do not link libknoop.
 * Not thread-safe except kit_now and kit_pct. */
#ifndef KNOOP_BENCH_KIT_H
#define KNOOP_BENCH_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

double kit_now(void);                 /* CLOCK_MONOTONIC, seconds */
int    kit_free_port(void);           /* a free TCP port on 127.0.0.1 (asks the kernel), or -1 */
bool   kit_port_open(int port);       /* something accepts connections on 127.0.0.1:port */

/* In a child just forked from `parent`: die with the parent, even when it is
 * SIGKILLed, and read /dev/null, write stdout and stderr to `log` (appended).
 * False when that cannot be done: the child should _exit(127). */
bool kit_child_init(pid_t parent, const char *log);
/* Reap pid (wait4 with `options`, e.g. WNOHANG). True when it is gone: then
 * *status and *cpu_s (user + system seconds) are set if it was reaped here,
 * left alone if it was not our child any more. False while it runs. */
bool kit_reap(pid_t pid, int options, int *status, double *cpu_s);
/* The last `lines` lines of a log (of its last 4 KiB) to stderr, under a
 * "--- last lines of PATH ---" line. Nothing when it cannot be read. */
void kit_log_tail(const char *path, int lines);
/* Remove dir and everything below it, not following links. */
void kit_rmtree(const char *dir);

/* qsort comparison of doubles, and the nearest-rank percentile (0..100) of
 * n sorted values (0 for none). */
int    kit_cmp_double(const void *a, const void *b);
double kit_pct(const double *sorted, size_t n, double pct);

#endif
