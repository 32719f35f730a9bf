/* peer_common.c — see peer_common.h. */
#define _GNU_SOURCE
#include "peer_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    s_interrupted = sig;
}


uint64_t peer_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void peer_sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = { .tv_sec = (time_t) s,
                           .tv_nsec = (long) ((s - (double) (time_t) s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !s_interrupted)
        ;
}

void peer_sleep_until(double t)
{
    struct timespec ts = { .tv_sec = (time_t) t,
                           .tv_nsec = (long) ((t - (double) (time_t) t) * 1e9) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !s_interrupted)
        ;
}

double peer_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- payload ---- */

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t s_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t) p[i] << (8 * i);
    return v;
}

void peer_payload(uint8_t out[PEER_PAYLOAD_BYTES], uint64_t seq, uint64_t sent_ns)
{
    s_put64(out, seq);
    s_put64(out + 8, sent_ns);
    memset(out + 16, 'k', PEER_PAYLOAD_BYTES - 16);
}

uint64_t peer_payload_seq(const void *payload, size_t len)
{
    return len >= 16 ? s_get64(payload) : UINT64_MAX;
}

uint64_t peer_payload_sent_ns(const void *payload, size_t len)
{
    return len >= 16 ? s_get64((const uint8_t *) payload + 8) : 0;
}

/* ---- statistics and output ---- */



void peer_print_latency(const char *name, double *v, size_t n)
{
    qsort(v, n, sizeof *v, kit_cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    printf("\"%s\":{\"samples\":%zu,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f,"
           "\"mean\":%.2f},",
           name, n, kit_pct(v, n, 50), kit_pct(v, n, 90), kit_pct(v, n, 99), n ? v[n - 1] : 0,
           n ? sum / (double) n : 0);
}

/* The opening of a JSON line, up to the workload's own fields. */
static void s_head(const peer_line_t *l, const char *workload)
{
    printf("{\"bench\":\"%s\",\"workload\":\"%s\",\"quick\":%s,\"payload_bytes\":%d,"
           "\"system\":\"%s\",\"fsync_before_ack\":%s,\"tls\":false,",
           l->bench, workload, l->opts->quick ? "true" : "false", PEER_PAYLOAD_BYTES, l->system,
           l->fsync_before_ack ? "true" : "false");
}

peer_cpu_mark_t peer_cpu_mark(const peer_proc_t *server)
{
    return (peer_cpu_mark_t){ peer_proc_cpu(server), peer_self_cpu() };
}

/* The end of a JSON line: the CPU seconds used since `since`. */
static void s_tail(const peer_line_t *l, peer_cpu_mark_t since)
{
    printf("\"cpu_s\":{\"server\":%.2f,\"bench\":%.2f}}\n",
           peer_proc_cpu(l->server) - since.server0, peer_self_cpu() - since.bench0);
    fflush(stdout);
}

void peer_print_w1(const peer_line_t *l, peer_cpu_mark_t since, size_t n, double secs)
{
    s_head(l, "W1");
    printf("\"messages\":%zu,\"window\":%zu,\"acked_s\":%.3f,\"acked_msgs_per_s\":%.0f,", n,
           l->opts->window, secs, (double) n / secs);
    s_tail(l, since);
}

void peer_print_w2(const peer_line_t *l, peer_cpu_mark_t since, size_t n, double secs,
                   peer_tally_t *const *t, size_t nt, double t0)
{
    s_head(l, "W2");
    printf("\"messages\":%zu,\"window\":%zu,\"consumers\":%zu,\"acked_s\":%.3f,"
           "\"acked_msgs_per_s\":%.0f,",
           n, l->opts->window, l->opts->consumers, secs, (double) n / secs);
    peer_print_fanout(t, nt, n, t0);
    s_tail(l, since);
}

void peer_print_w3(const peer_line_t *l, peer_cpu_mark_t since, size_t n, double fill_s,
                   size_t held, double t0, double done)
{
    s_head(l, "W3");
    printf("\"messages\":%zu,\"fill_s\":%.2f,\"complete\":%s,\"held\":%zu,"
           "\"catchup_s\":%.3f,\"catchup_msgs_per_s\":%.0f,",
           n, fill_s, done > 0 ? "true" : "false", held, done > 0 ? done - t0 : -1.0,
           done > 0 ? (double) n / (done - t0) : 0.0);
    s_tail(l, since);
}

void peer_print_w4(const peer_line_t *l, peer_cpu_mark_t since, size_t published, size_t got,
                   double t0, double pub_end, double *lat, size_t nlat, double *ack_ms,
                   size_t nack)
{
    s_head(l, "W4");
    printf("\"offered_msgs_per_s\":%u,\"seconds\":%.1f,\"published\":%zu,"
           "\"achieved_msgs_per_s\":%.0f,\"lost\":%zu,",
           l->opts->rate, l->opts->seconds, published,
           pub_end > t0 ? (double) published / (pub_end - t0) : 0.0,
           published > got ? published - got : 0);
    peer_print_latency("latency_ms", lat, nlat);
    peer_print_latency("publish_ack_ms", ack_ms, nack);
    s_tail(l, since);
}

void peer_run_workloads(peer_run_t *run, peer_workload_t *const w[5], void *bench)
{
    for (int i = 1; i <= 4; i++)
        if (run->opts->only[i])
            w[i](bench);
    peer_run_end(run);
}

/* ---- what consumers received ---- */

void peer_tally_init(peer_tally_t *t, size_t want, double *lat_ms)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->got, 0);
    t->want = want;
    t->lat_ms = lat_ms;
}

void peer_tally_destroy(peer_tally_t *t)
{
    pthread_mutex_destroy(&t->mu);
}

bool peer_tally_add(peer_tally_t *t, const void *payload, size_t len)
{
    uint64_t now = peer_now_ns();
    size_t k = atomic_load(&t->got);
    if (t->lat_ms && k < t->want)
        t->lat_ms[k] = (double) (now - peer_payload_sent_ns(payload, len)) / 1e6;
    atomic_store(&t->got, k + 1);
    if (k + 1 == t->want) {
        pthread_mutex_lock(&t->mu);
        t->done_at = kit_now();
        pthread_mutex_unlock(&t->mu);
    }
    if (++t->unacked >= PEER_ACK_EVERY || k + 1 == t->want) {
        t->unacked = 0;
        return true;
    }
    return false;
}

double peer_tally_done(peer_tally_t *t)
{
    pthread_mutex_lock(&t->mu);
    double d = t->done_at;
    pthread_mutex_unlock(&t->mu);
    return d;
}

size_t peer_tally_got(peer_tally_t *t)
{
    return atomic_load(&t->got);
}

size_t peer_tally_wait(peer_run_t *run, peer_tally_t *const *t, size_t n, double secs,
                       void (*check)(void *arg, size_t i), void *arg)
{
    double deadline = kit_now() + secs;
    for (;;) {
        peer_check_interrupt(run);
        size_t complete = 0;
        for (size_t i = 0; i < n; i++) {
            if (check)
                check(arg, i);
            complete += peer_tally_done(t[i]) > 0;
        }
        if (complete == n || kit_now() > deadline)
            return complete;
        peer_sleep_s(0.005);
    }
}

void peer_print_fanout(peer_tally_t *const *t, size_t n, size_t want, double t0)
{
    double first = 0, last = 0;
    size_t delivered = 0, complete = 0;
    for (size_t i = 0; i < n; i++) {
        double d = peer_tally_done(t[i]);
        if (d > 0) {
            complete++;
            if (first == 0 || d < first)
                first = d;
            if (d > last)
                last = d;
        }
        size_t got = peer_tally_got(t[i]);
        delivered += got < want ? got : want;
    }
    double end = complete == n ? last : kit_now();
    printf("\"complete\":%s,\"consumers_complete\":%zu,\"first_consumer_all_s\":%.3f,"
           "\"last_consumer_all_s\":%.3f,\"delivered\":%zu,"
           "\"aggregate_delivered_msgs_per_s\":%.0f,",
           complete == n ? "true" : "false", complete, first > 0 ? first - t0 : -1.0,
           complete == n ? last - t0 : -1.0, delivered, (double) delivered / (end - t0));
}

/* ---- options ---- */

static int s_usage(const peer_opts_t *o, const char *extra, FILE *out)
{
    fprintf(out,
            "usage: %s [DIR] [--quick] [--only W1,...,W4] [--keep] [options]\n"
            "\n"
            "Runs bench_pubsub's workloads W1-W4 against a peer system, 256-byte payloads,\n"
            "and prints one JSON line per workload on stdout (progress on stderr).\n"
            "The server is started on 127.0.0.1 in DIR/%s-XXXXXX (default DIR: the\n"
            "current directory; not tmpfs, which ignores fsync) and stopped at the end.\n"
            "\n"
            "  --quick           small sizes: 20,000 messages, catch-up of 100,000, 5 s of W4\n"
            "  --only LIST       run only these workloads, e.g. W1,W4\n"
            "  --messages N      W1, W2: messages published (100,000)\n"
            "  --consumers N     W2: consumers, each getting every message (25)\n"
            "  --catchup N       W3: messages a fresh consumer catches up on (1,000,000)\n"
            "  --window N        publishes in flight before waiting for acks (256)\n"
            "  --seconds N       W4: how long to publish (10)\n"
            "  --rate N          W4: messages per second, paced (1,000)\n"
            "  --keep            keep the temp dir (server data and log)\n"
            "  --help            this text\n"
            "\n%s",
            o->prog, o->prog, extra ? extra : "");
    return out == stdout ? 1 : 2;
}

static bool s_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s || v == 0 || s[0] == '-')
        return false;
    *out = (size_t) v;
    return true;
}

int peer_opts_parse(peer_opts_t *o, const char *prog, const char *extra_help, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->prog = prog;
    o->base = ".";
    o->window = 256;
    o->consumers = 25;
    o->rate = 1000;
    size_t messages = 0, catchup = 0, seconds = 0, rate = 0;
    bool only_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t *dst = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return s_usage(o, extra_help, stdout);
        else if (!strcmp(a, "--quick"))
            o->quick = true;
        else if (!strcmp(a, "--keep"))
            o->keep = true;
        else if (!strcmp(a, "--messages"))
            dst = &messages;
        else if (!strcmp(a, "--consumers"))
            dst = &o->consumers;
        else if (!strcmp(a, "--catchup"))
            dst = &catchup;
        else if (!strcmp(a, "--window"))
            dst = &o->window;
        else if (!strcmp(a, "--seconds"))
            dst = &seconds;
        else if (!strcmp(a, "--rate"))
            dst = &rate;
        else if (!strcmp(a, "--only")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --only needs a list, e.g. W1,W4\n", prog);
                return 2;
            }
            only_given = true;
            char list[64];
            snprintf(list, sizeof list, "%s", argv[++i]);
            for (char *save = NULL, *w = strtok_r(list, ",", &save); w;
                 w = strtok_r(NULL, ",", &save)) {
                if ((w[0] != 'W' && w[0] != 'w') || w[1] < '1' || w[1] > '4' || w[2]) {
                    fprintf(stderr, "%s: --only: unknown workload '%s' (W1 to W4)\n", prog, w);
                    return 2;
                }
                o->only[w[1] - '0'] = true;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "%s: unknown option '%s'\n\n", prog, a);
            return s_usage(o, extra_help, stderr);
        } else
            o->base = a;
        if (dst) {
            if (i + 1 >= argc || !s_size(argv[i + 1], dst)) {
                fprintf(stderr, "%s: %s needs a positive number\n", prog, a);
                return 2;
            }
            i++;
        }
    }
    if (!only_given)
        for (int w = 1; w <= 4; w++)
            o->only[w] = true;
    if (o->consumers > PEER_MAX_CONSUMERS) {
        fprintf(stderr, "%s: --consumers: at most %d\n", prog, PEER_MAX_CONSUMERS);
        return 2;
    }
    o->messages = messages ? messages : o->quick ? 20000 : 100000;
    o->catchup = catchup ? catchup : o->quick ? 100000 : 1000000;
    o->seconds = seconds ? (double) seconds : o->quick ? 5 : 10;
    if (rate)
        o->rate = (unsigned) rate;
    return 0;
}

/* ---- the run: temp dir and processes ---- */

void peer_run_init(peer_run_t *run, const peer_opts_t *opts)
{
    memset(run, 0, sizeof *run);
    run->opts = opts;
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    snprintf(run->root, sizeof run->root, "%.2000s/%s-XXXXXX", opts->base, opts->prog);
    if (!mkdtemp(run->root)) {
        fprintf(stderr, "%s: cannot make a temp dir in %s: %s\n", opts->prog, opts->base,
                strerror(errno));
        exit(1);
    }
    char *abs = realpath(run->root, NULL);
    if (abs) {
        snprintf(run->root, sizeof run->root, "%s", abs);
        free(abs);
    }
}

static void s_reap(peer_proc_t *p, int options)
{
    if (p->running && kit_reap(p->pid, options, &p->status, &p->cpu_s))
        p->running = false;
}

bool peer_alive(peer_proc_t *p)
{
    s_reap(p, WNOHANG);
    return p->running;
}

peer_proc_t *peer_spawn(peer_run_t *run, const char *name, char *const argv[], char *const env[],
                        bool own_group)
{
    if (run->nprocs == sizeof run->procs / sizeof run->procs[0])
        peer_die(run, "too many processes");
    peer_proc_t *p = &run->procs[run->nprocs];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->log, sizeof p->log, "%.4000s/%.30s.log", run->root, name);
    p->own_group = own_group;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        peer_die(run, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (own_group)
            setpgid(0, 0);
        if (!kit_child_init(parent, p->log) || chdir(run->root) != 0)
            _exit(127);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGINT, &dfl, NULL);
        sigaction(SIGTERM, &dfl, NULL);
        sigaction(SIGPIPE, &dfl, NULL);
        execvp(argv[0], argv);
        dprintf(2, "%s: cannot exec %s: %s\n", run->opts->prog, argv[0], strerror(errno));
        _exit(127);
    }
    if (own_group)
        setpgid(pid, pid); /* also here: no race with the first kill */
    p->pid = pid;
    p->running = true;
    run->nprocs++;
    return p;
}

static double s_stat_cpu(const char *stat_path, pid_t want_pgrp)
{
    FILE *f = fopen(stat_path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* after the command name */
    if (!p)
        return -1;
    /* fields after ')': state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime */
    char state;
    int ppid, pgrp;
    unsigned long long skip, ut, st;
    if (sscanf(p + 2, "%c %d %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &state, &ppid,
               &pgrp, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &ut, &st) != 13)
        return -1;
    if (want_pgrp > 0 && pgrp != want_pgrp)
        return -1;
    return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

double peer_proc_cpu(const peer_proc_t *p)
{
    if (!p->running)
        return p->cpu_s;
    char path[64];
    if (!p->own_group) {
        snprintf(path, sizeof path, "/proc/%d/stat", (int) p->pid);
        double c = s_stat_cpu(path, 0);
        return c < 0 ? 0 : c;
    }
    double sum = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        double c = s_stat_cpu(path, p->pid);
        if (c > 0)
            sum += c;
    }
    closedir(d);
    return sum;
}

double peer_stop(peer_proc_t *p, double grace_s)
{
    if (p->running)
        kill(p->own_group ? -p->pid : p->pid, SIGTERM);
    double deadline = kit_now() + grace_s;
    while (peer_alive(p) && kit_now() < deadline)
        peer_sleep_s(0.02);
    if (p->running) {
        fprintf(stderr, "peer bench: %s did not stop on SIGTERM within %.0f s: SIGKILL\n", p->name,
                grace_s);
        kill(p->own_group ? -p->pid : p->pid, SIGKILL);
        s_reap(p, 0);
    }
    if (p->own_group)
        kill(-p->pid, SIGKILL); /* whatever the start script left behind */
    return p->cpu_s;
}


void peer_run_end(peer_run_t *run)
{
    for (size_t i = run->nprocs; i-- > 0;)
        peer_stop(&run->procs[i], 30);
    if (run->root[0]) {
        if (run->opts->keep)
            fprintf(stderr, "%s: kept %s\n", run->opts->prog, run->root);
        else
            kit_rmtree(run->root);
        run->root[0] = 0;
    }
}


void peer_die(peer_run_t *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", run->opts->prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    for (size_t i = 0; i < run->nprocs; i++) {
        kit_log_tail(run->procs[i].log, 12);
        fputc('\n', stderr);             /* a blank line after each log, as always here */
    }
    peer_run_end(run);
    exit(1);
}

void peer_check_interrupt(peer_run_t *run)
{
    if (!s_interrupted)
        return;
    fprintf(stderr, "%s: interrupted: stopping the server\n", run->opts->prog);
    peer_run_end(run);
    exit(130);
}
