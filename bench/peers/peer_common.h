/* peer_common.h — what the peer benches (bench_nats, bench_rabbitmq) share:
 * options, the throwaway server process, the timed payload, percentiles and
 * the JSON line's common fields.
 *
 * The peer benches run the workloads W1-W4 of bench_pubsub against another
 * system, so that bench/compare.sh can print them side by side. Each starts
 * its own server on 127.0.0.1 in a temp dir (never a system service) and
 * stops it at the end, also on an error or Ctrl-C. The server and its helpers
 * die with the bench if it is killed (PR_SET_PDEATHSIG), except the Erlang VM
 * under RabbitMQ's start script, which the bench stops by its process group.
 *
 * Not thread-safe except where a function says so: the benches call these
 * from their main thread. */
#ifndef KNOOP_PEER_COMMON_H
#define KNOOP_PEER_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kit.h"

#define PEER_PAYLOAD_BYTES 256
#define PEER_MAX_CONSUMERS 64
#define PEER_ACK_EVERY 256 /* consumers acknowledge every N messages (cumulatively) */

/* The options every peer bench takes, with bench_pubsub's defaults. */
typedef struct {
    const char *prog; /* "bench_nats": for messages */
    const char *base; /* DIR: where the temp dir goes */
    bool quick, keep;
    bool only[5]; /* only[1..4]: run W1..W4 */
    size_t messages; /* W1, W2 */
    size_t consumers; /* W2 */
    size_t catchup; /* W3 */
    size_t window; /* W1, W2, W3 fill: publishes in flight */
    double seconds; /* W4 */
    unsigned rate; /* W4 */
} peer_opts_t;

/* Parses argv into opts (defaults first). Prints the usage for --help
 * (returns 1: exit 0) or a bad option (returns 2: exit 2); 0 to go on.
 * `extra_help` is the bench's own paragraph for --help. */
int peer_opts_parse(peer_opts_t *opts, const char *prog, const char *extra_help, int argc,
                    char **argv);

/* A child process: a server, or a helper such as epmd. */
typedef struct {
    char name[32];
    char log[4096];
    pid_t pid;
    bool running, own_group;
    int status;
    double cpu_s; /* user + system, from wait4 (with its children) */
} peer_proc_t;

/* The bench's run: its temp dir and its processes. */
typedef struct {
    const peer_opts_t *opts;
    char root[4096]; /* DIR/bench-NAME-XXXXXX */
    peer_proc_t procs[4];
    size_t nprocs;
} peer_run_t;

/* Makes the temp dir and installs the SIGINT/SIGTERM handling; exits 1 with
 * the reason if the dir cannot be made. */
void peer_run_init(peer_run_t *run, const peer_opts_t *opts);

/* Starts argv[0] with `env` (NULL-terminated "K=V", added to the bench's
 * environment) in `cwd`, its output to ROOT/NAME.log. `own_group` puts it in
 * a process group of its own, for servers whose start script forks the real
 * server: peer_run_stop then signals the whole group. Exits on failure. */
peer_proc_t *peer_spawn(peer_run_t *run, const char *name, char *const argv[], char *const env[],
                        bool own_group);

/* True while the process runs; reaps it if it exited. */
bool peer_alive(peer_proc_t *p);

/* Stops one process: SIGTERM, then SIGKILL after `grace_s`. Returns its CPU
 * seconds (0 if unknown). */
double peer_stop(peer_proc_t *p, double grace_s);

/* Stops every process (reverse order), removes the temp dir unless --keep. */
void peer_run_end(peer_run_t *run);

/* Says why, shows the last lines of every process's log, stops everything
 * and exits 1. */
void peer_die(peer_run_t *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Exits (cleanly, through peer_run_end) if SIGINT or SIGTERM arrived. */
void peer_check_interrupt(peer_run_t *run);

void peer_sleep_s(double s);
void peer_sleep_until(double t); /* CLOCK_MONOTONIC deadline */
double peer_self_cpu(void); /* this process's CPU seconds so far */

/* A 256-byte payload: seq, then the CLOCK_MONOTONIC time it was sent (ns),
 * then filler. Thread-safe. */
void peer_payload(uint8_t out[PEER_PAYLOAD_BYTES], uint64_t seq, uint64_t sent_ns);
uint64_t peer_payload_seq(const void *payload, size_t len);
uint64_t peer_payload_sent_ns(const void *payload, size_t len);
uint64_t peer_now_ns(void);

/* Sorts `v` and prints `"NAME":{"samples":..,"p50":..,"p90":..,"p99":..,
 * "max":..,"mean":..},` (nearest rank, ms), as bench_pubsub does. */
void peer_print_latency(const char *name, double *v, size_t n);

/* CPU seconds of the server and of the bench at the start of a workload. */
typedef struct {
    double server0, bench0;
} peer_cpu_mark_t;
peer_cpu_mark_t peer_cpu_mark(const peer_proc_t *server);

/* What every JSON line of a bench names: the bench ("nats"), the system it
 * measured with its version, whether that acknowledges only after an fsync,
 * and the server whose CPU seconds the line counts. */
typedef struct {
    const peer_opts_t *opts;
    const char *bench, *system;
    bool fsync_before_ack;
    const peer_proc_t *server;
} peer_line_t;

/* A bench's workload, called with the bench it was given. */
typedef void peer_workload_t(void *bench);

/* Runs the workloads w[1..4] that opts->only asks for, in order, each with
 * bench; then peer_run_end. */
void peer_run_workloads(peer_run_t *run, peer_workload_t *const w[5], void *bench);

/* What one consumer has received. peer_tally_add runs on the consumer's
 * thread, the others on any thread. */
typedef struct {
    size_t want;
    atomic_size_t got;
    size_t unacked; /* the consumer's thread only */
    pthread_mutex_t mu;
    double done_at; /* under mu; 0 until `want` arrived */
    double *lat_ms; /* arrival minus send time per message, or NULL */
} peer_tally_t;

void peer_tally_init(peer_tally_t *t, size_t want, double *lat_ms);
void peer_tally_destroy(peer_tally_t *t);

/* Counts one delivery (its payload from peer_payload). Returns true when
 * the consumer should acknowledge now, cumulatively: every PEER_ACK_EVERY
 * messages and at the last one. */
bool peer_tally_add(peer_tally_t *t, const void *payload, size_t len);

double peer_tally_done(peer_tally_t *t); /* when all arrived, or 0 */
size_t peer_tally_got(peer_tally_t *t);

/* Waits until every tally is done or `secs` pass, calling check(arg, i) on
 * each while it waits (to stop on a consumer's error), and Ctrl-C. Returns
 * how many are done. */
size_t peer_tally_wait(peer_run_t *run, peer_tally_t *const *t, size_t n, double secs,
                       void (*check)(void *arg, size_t i), void *arg);

/* W2's outcome over n consumers of `want` messages each, counted from t0:
 * prints "complete", "consumers_complete", "first_consumer_all_s",
 * "last_consumer_all_s", "delivered", "aggregate_delivered_msgs_per_s". */
void peer_print_fanout(peer_tally_t *const *t, size_t n, size_t want, double t0);

/* Each workload's JSON line, whole, written once for both benches so that
 * compare.sh finds the fields under one name: first bench, workload, quick,
 * payload_bytes, system, fsync_before_ack, tls; then the workload's fields;
 * last "cpu_s":{"server":..,"bench":..}, the CPU seconds used since `since`.
 * W1: n messages acknowledged in secs. W2: the same, fanned out to the
 * consumers of the tallies t (peer_print_fanout, from t0). W3: a catch-up of
 * n, held by t0 + done (done 0: not complete) after a fill of fill_s. W4:
 * published of the offered rate between t0 and pub_end, got of them
 * delivered; the latencies lat and the publish acknowledgements' ack_ms
 * (peer_print_latency, which sorts them). */
void peer_print_w1(const peer_line_t *l, peer_cpu_mark_t since, size_t n, double secs);
void peer_print_w2(const peer_line_t *l, peer_cpu_mark_t since, size_t n, double secs,
                   peer_tally_t *const *t, size_t nt, double t0);
void peer_print_w3(const peer_line_t *l, peer_cpu_mark_t since, size_t n, double fill_s,
                   size_t held, double t0, double done);
void peer_print_w4(const peer_line_t *l, peer_cpu_mark_t since, size_t published, size_t got,
                   double t0, double pub_end, double *lat, size_t nlat, double *ack_ms,
                   size_t nack);

/* The server's CPU seconds so far, from /proc/PID/stat (utime + stime) of
 * the process and, for a process group, of every process in it. 0 if it
 * cannot be read. Lets one server serve all four workloads and still give
 * each its own figure. */
double peer_proc_cpu(const peer_proc_t *p);

#endif
