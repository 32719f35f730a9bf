#define _GNU_SOURCE
/* bench_pubsub.c — end-to-end rates and latency of real knoop-broker and
 * knoop-node processes. Prints one JSON line per workload.
 *
 *   bench_pubsub [DIR] [--quick] [--only W1,...,W6] [options]
 *
 * Everything runs for real: the bench generates identity keys, a trust store
 * and a policy in a temporary directory under DIR (default: the current
 * directory; it must be on the disk under test, not tmpfs, which ignores
 * fsync), starts knoop-broker and knoop-node (fork/exec) on 127.0.0.1 with
 * CURVE on and durable journals, and talks to the nodes through the client
 * library (client.h) like any application. Each workload gets a fresh broker
 * and fresh nodes; all of them are stopped (SIGTERM, then SIGKILL) and the
 * directory removed at the end, also on error or Ctrl-C.
 *
 *   W1  durable publish: one application publishes N messages in requests of
 *       R items; each request returns after the node's durable commit.
 *   W2  fan-out: K nodes subscribe; N published; until the last node's
 *       journal holds all N.
 *   W3  catch-up: the broker holds M messages; a fresh node subscribes; until
 *       its journal holds all M.
 *   W4  latency: one message per ms (single-item requests), publisher and
 *       subscriber applications on different nodes; receive time minus the
 *       message's HLC wall time.
 *   W5  mesh throughput: brokers A, B, C in a full mesh; N published on A;
 *       until the subscribing node on C, and every broker, holds all N.
 *   W6  re-convergence: C's peer links run through cuttable proxies; M
 *       published on C during a partition of P seconds; after healing, until
 *       A and B, and a subscribing node on A, hold all M.
 *
 * Journals are watched by opening them read-only from this process (LMDB
 * allows readers beside the writing daemon); nodes are asked for their
 * status through the local API. */
#include "batch.h"
#include "kit.h"
#include "client.h"
#include "crypto.h"
#include "hlc.h"
#include "journal.h"
#include "json.h"
#include "keys.h"
#include "knoop.h"
#include "msg.h"
#include "partners.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BROKER_ID   "kcr2-broker-1"   /* the broker of W1-W4; A of the mesh in W5, W6 */
#define BROKER_B    "kcr2-broker-2"
#define BROKER_C    "kcr2-broker-3"
#define PUB_ID      "vr-utrecht"
#define LATE_ID     "vr-zeeland"
#define TOPIC       "bench." PUB_ID
#define PATTERN     "bench.>"
#define PAYLOAD     256
#define MAX_PROCS   64
#define MAX_NODES   48
#define BASE_MAX    2000        /* longest DIR argument */
#define DIR_LEN     (BASE_MAX + 64)
#define FILE_LEN    (DIR_LEN + 128)

enum { PROC_BROKER, PROC_NODE, PROC_PROXY };

typedef struct {
    pid_t  pid;
    int    kind;             /* PROC_* */
    char   name[64];
    char   log[FILE_LEN];
    bool   running;
    int    status;           /* wait status once reaped */
    double cpu_s;            /* user + system seconds, once reaped */
    bool   retired;          /* stopped on purpose during the workload (W7's restart) */
} proc_t;

typedef struct {
    /* options */
    const char *base;
    bool        quick, keep, opaque;
    bool        only[8];
    size_t      messages;        /* W1, W2, W5, W6 */
    size_t      batch;           /* items per publish request, W1 W2 W3 fill */
    size_t      window;          /* publish requests in flight (1: stop-and-wait) */
    size_t      nodes;           /* W2 */
    size_t      catchup;         /* W3 */
    bool        fill_publish;    /* W3: fill the broker through a node */
    double      seconds;         /* W4 */
    unsigned    rate;            /* W4, messages per second */
    unsigned    pub_threads;     /* W4 */
    const char *trace;           /* W4: per-message latencies to TRACE.{remote,local}.tsv */
    double      partition;       /* W6: seconds C is cut off */
    unsigned    anti_entropy_ms; /* W5, W6: the brokers' --anti-entropy-ms */
    size_t      partners;        /* W7: partners in the load generator */
    size_t      group;           /* W7: partners per group (subscription pattern) */
    size_t      nat;             /* W7: partners of a broker behind one address (--w7-nat) */
    double      w7_seconds;      /* W7: publishing at 1 msg/s per partner */
    double      idle_seconds;    /* W7: the idle window measured */
    int         ports[3];        /* W7: the brokers' ports (--ports), or 0 */
    partners_t *ps;              /* W7's load generator while it runs */
    /* W6: C's peer links are cut from cut_ms to heal_ms (wall clock, ms);
     * their loss is expected then */
    bool        partitioned;
    double      cut_ms, heal_ms;
    /* paths */
    char        bin_broker[PATH_MAX], bin_node[PATH_MAX], bin_proxy[PATH_MAX];
    char        root[BASE_MAX + 32];
    char        keys[DIR_LEN], trust[DIR_LEN], policy[DIR_LEN];
    char        wdir[DIR_LEN];   /* the current workload's directory */
    /* the payload every message carries */
    const char *type;
    knoop_buf_t payload;
    /* processes of the current workload */
    proc_t      procs[MAX_PROCS];
    size_t      nprocs;
    char        broker_ep[64];
} bench_t;

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    s_interrupted = 1;
}


static double s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void s_sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    time_t secs = (time_t) (ms / 1000);
    struct timespec ts = { .tv_sec = secs,
                           .tv_nsec = (long) ((ms - (double) secs * 1000) * 1e6) };
    nanosleep(&ts, NULL);
}

/* ---- clean-up ---- */



static void s_reap(proc_t *p, int options)
{
    if (p->running && kit_reap(p->pid, options, &p->status, &p->cpu_s))
        p->running = false;
}

/* SIGTERM every process of the workload, SIGKILL what is left after 5 s. */
static void s_stop_all(bench_t *self)
{
    for (size_t i = 0; i < self->nprocs; i++)
        if (self->procs[i].running)
            kill(self->procs[i].pid, SIGTERM);
    double deadline = kit_now() + 5;
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < self->nprocs; i++) {
            s_reap(&self->procs[i], WNOHANG);
            any |= self->procs[i].running;
        }
        if (!any || kit_now() > deadline)
            break;
        s_sleep_ms(20);
    }
    for (size_t i = 0; i < self->nprocs; i++)
        if (self->procs[i].running) {
            fprintf(stderr, "bench_pubsub: %s did not stop on SIGTERM within 5 s: SIGKILL\n",
                    self->procs[i].name);
            kill(self->procs[i].pid, SIGKILL);
            s_reap(&self->procs[i], 0);
        }
}

static void s_cleanup(bench_t *self)
{
    partners_destroy(&self->ps);     /* its thread first: it uses ZeroMQ */
    s_stop_all(self);
    if (self->root[0]) {
        if (self->keep)
            fprintf(stderr, "bench_pubsub: kept %s\n", self->root);
        else
            kit_rmtree(self->root);
    }
    knoop_buf_free(&self->payload);
}


static void s_die(bench_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void s_die(bench_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_pubsub: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    s_cleanup(self);
    exit(1);
}

static void s_check_interrupt(bench_t *self)
{
    if (s_interrupted)
        s_die(self, "interrupted");
}

/* ---- set-up ---- */

static void s_copy_file(bench_t *self, const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!in || !out)
        s_die(self, "cannot copy %s to %s: %s", from, to, strerror(errno));
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    if (fclose(out) != 0)
        s_die(self, "cannot write %s: %s", to, strerror(errno));
}

static void s_make_partner(bench_t *self, const char *id, const char *role)
{
    knoop_key_t *k = NULL;
    int rc = knoop_key_generate(id, role, &k);
    if (rc)
        s_die(self, "cannot generate a key for %s: %s", id, knoop_strerror(rc));
    int64_t now = (int64_t) time(NULL);
    rc = knoop_key_save(k, self->keys, now - 3600, now + 400 * 86400);
    knoop_key_destroy(&k);
    if (rc)
        s_die(self, "cannot save the key of %s: %s", id, knoop_strerror(rc));
    char from[FILE_LEN], to[FILE_LEN];
    snprintf(from, sizeof from, "%s/%.64s.cert", self->keys, id);
    snprintf(to, sizeof to, "%s/%.64s.cert", self->trust, id);
    s_copy_file(self, from, to);
}

static void s_sub_id(char *out, size_t size, size_t i)
{
    snprintf(out, size, "vr-sub-%02zu", i + 1);
}

/* Keys for every partner any workload uses, the trust store, the policy. */
static void s_setup(bench_t *self)
{
    snprintf(self->root, sizeof self->root, "%.2000s/bench-pubsub-XXXXXX", self->base);
    if (!mkdtemp(self->root)) {
        self->root[0] = 0;
        s_die(self, "cannot make a directory under %s: %s", self->base, strerror(errno));
    }
    snprintf(self->keys, sizeof self->keys, "%s/keys", self->root);
    snprintf(self->trust, sizeof self->trust, "%s/trust", self->root);
    snprintf(self->policy, sizeof self->policy, "%s/policy", self->root);
    if (mkdir(self->keys, 0700) || mkdir(self->trust, 0700))
        s_die(self, "cannot make %s: %s", self->keys, strerror(errno));
    s_make_partner(self, BROKER_ID, "broker");
    s_make_partner(self, BROKER_B, "broker");
    s_make_partner(self, BROKER_C, "broker");
    s_make_partner(self, PUB_ID, "region");
    s_make_partner(self, LATE_ID, "region");
    for (size_t i = 0; i < self->nodes; i++) {
        char id[32];
        s_sub_id(id, sizeof id, i);
        s_make_partner(self, id, "region");
    }
    FILE *f = fopen(self->policy, "w");
    if (!f)
        s_die(self, "cannot write %s: %s", self->policy, strerror(errno));
    fprintf(f, "role:region publish bench.{id}\nrole:region subscribe bench.>\n"
            "role:region publish w7.*.{id}\nrole:region subscribe w7.>\n");
    fclose(f);

    /* The payload: a SitRep of exactly PAYLOAD bytes (the node decodes it
     * once on publish, as it does for every known type), or opaque bytes. */
    if (self->opaque) {
        self->type = "bench.Opaque";
        uint8_t raw[PAYLOAD];
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (uint8_t) (i * 7 + 1);
        knoop_buf_append(&self->payload, raw, sizeof raw);
    } else {
        self->type = "knoop.crisis.v1.SitRep";
        char summary[PAYLOAD + 1];
        for (size_t slen = 200; slen < PAYLOAD; slen++) {
            for (size_t i = 0; i < slen; i++)
                summary[i] = "wateroverlast dijkring 43 "[i % 26];
            summary[slen] = 0;
            json_t *o = json_pack("{s:s, s:s}", "incident_id", "bench-000001", "summary", summary);
            self->payload.len = 0;
            char err[256];
            int rc = knoop_payload_from_json(self->type, o, &self->payload, err, sizeof err);
            json_decref(o);
            if (rc)
                s_die(self, "cannot encode the SitRep payload: %s", err);
            if (self->payload.len >= PAYLOAD)
                break;
        }
    }
}


static void s_workload_dir(bench_t *self, const char *name)
{
    snprintf(self->wdir, sizeof self->wdir, "%s/%.16s", self->root, name);
    if (mkdir(self->wdir, 0700))
        s_die(self, "cannot make %s: %s", self->wdir, strerror(errno));
}

/* ---- processes ---- */

static proc_t *s_spawn(bench_t *self, int kind, const char *name, char *const argv[])
{
    if (self->nprocs == MAX_PROCS)
        s_die(self, "too many processes");
    proc_t *p = &self->procs[self->nprocs];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->log, sizeof p->log, "%s/%.64s.log", self->wdir, name);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        s_die(self, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (!kit_child_init(parent, p->log))
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        dprintf(2, "bench_pubsub: cannot exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    p->running = true;
    self->nprocs++;
    return p;
}

static bool s_file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

static void s_fail_start(bench_t *self, proc_t *p, const char *what)
{
    s_reap(p, WNOHANG);
    char how[64] = "still running";
    if (!p->running) {
        if (WIFEXITED(p->status))
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(p->status));
        else if (WIFSIGNALED(p->status))
            snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(p->status));
    }
    kit_log_tail(p->log, 15);
    s_die(self, "%s did not start: %s (%s)%s", p->name, what, how,
          self->keep ? "" : "; the last lines of its log are above (--keep keeps all logs)");
}

/* Wait until ready() or the process exits or `secs` pass. */
static void s_wait_start(bench_t *self, proc_t *p, double secs, const char *what,
                         bool (*ready)(const char *arg, const char *arg2), const char *arg,
                         const char *arg2)
{
    double deadline = kit_now() + secs;
    for (;;) {
        s_check_interrupt(self);
        if (ready(arg, arg2))
            return;
        s_reap(p, WNOHANG);
        if (!p->running)
            s_fail_start(self, p, what);
        if (kit_now() > deadline)
            s_fail_start(self, p, what);
        s_sleep_ms(10);
    }
}

static bool s_exists(const char *path, const char *unused)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The arguments every daemon of a workload starts with, into argv: bin,
 * the partner id, its data directory in the workload's (written to data),
 * its key (to key), the trust store and info logging. Returns how many. */
static int s_daemon_argv(bench_t *self, char **argv, char *bin, const char *id,
                         char data[FILE_LEN], char key[FILE_LEN])
{
    snprintf(data, FILE_LEN, "%s/%.64s", self->wdir, id);
    snprintf(key, FILE_LEN, "%s/%.64s.key", self->keys, id);
    int a = 0;
    argv[a++] = bin;
    argv[a++] = "--id";        argv[a++] = (char *) id;
    argv[a++] = "--data";      argv[a++] = data;
    argv[a++] = "--key";       argv[a++] = key;
    argv[a++] = "--trust";     argv[a++] = self->trust;
    argv[a++] = "--log-level"; argv[a++] = "info";
    return a;
}

/* Start a broker listening on 127.0.0.1:port, with peers ("ID@ENDPOINT")
 * if it is part of a mesh; returns once it listens. */
static proc_t *s_start_broker_at(bench_t *self, const char *id, int port,
                                 const char *const *peers, size_t npeers)
{
    char ep[64], data[FILE_LEN], key[FILE_LEN], ae[16];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    snprintf(ae, sizeof ae, "%u", self->anti_entropy_ms);
    char *argv[32];
    int a = s_daemon_argv(self, argv, self->bin_broker, id, data, key);
    argv[a++] = "--listen";    argv[a++] = ep;
    argv[a++] = "--policy";    argv[a++] = self->policy;
    for (size_t i = 0; i < npeers && i < 4; i++) {
        argv[a++] = "--peer";
        argv[a++] = (char *) peers[i];
    }
    if (npeers) {
        argv[a++] = "--anti-entropy-ms";
        argv[a++] = ae;
    }
    argv[a] = NULL;
    proc_t *p = s_spawn(self, PROC_BROKER, id, argv);
    s_wait_start(self, p, 20, "no \"listening on\" in its log within 20 s", s_file_has, p->log,
                 "listening on");
    return p;
}

static int s_port(bench_t *self)
{
    int port = kit_free_port();
    if (port < 0)
        s_die(self, "no free TCP port on 127.0.0.1");
    return port;
}

/* n different free ports. */
static void s_ports(bench_t *self, int *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool again;
        int tries = 0;
        do {
            out[i] = s_port(self);
            again = false;
            for (size_t k = 0; k < i; k++)
                again |= out[k] == out[i];
        } while (again && ++tries < 100);
        if (again)
            s_die(self, "cannot find %zu different free TCP ports", n);
    }
}

/* The single broker of W1-W4. */
static proc_t *s_start_broker(bench_t *self)
{
    int port = s_port(self);
    snprintf(self->broker_ep, sizeof self->broker_ep, "tcp://127.0.0.1:%d", port);
    return s_start_broker_at(self, BROKER_ID, port, NULL, 0);
}

/* Start a node linked to broker_id at broker_ep; returns once its API socket
 * exists. */
static proc_t *s_start_node_at(bench_t *self, const char *id, bool subscribe,
                               const char *broker_id, const char *broker_ep)
{
    char data[FILE_LEN], key[FILE_LEN], broker[160], sock[FILE_LEN + 16];
    char *argv[20];
    int a = s_daemon_argv(self, argv, self->bin_node, id, data, key);
    snprintf(broker, sizeof broker, "%.64s@%.80s", broker_id, broker_ep);
    snprintf(sock, sizeof sock, "%s/api.sock", data);
    argv[a++] = "--broker";    argv[a++] = broker;
    if (subscribe) {
        argv[a++] = "--subscribe";
        argv[a++] = PATTERN;
    }
    argv[a] = NULL;
    proc_t *p = s_spawn(self, PROC_NODE, id, argv);
    s_wait_start(self, p, 20, "no API socket within 20 s", s_exists, sock, NULL);
    return p;
}

static proc_t *s_start_node(bench_t *self, const char *id, bool subscribe)
{
    return s_start_node_at(self, id, subscribe, BROKER_ID, self->broker_ep);
}

/* A ready() for s_wait_start: port (in text) accepts connections. */
static bool s_port_open(const char *port, const char *unused)
{
    return kit_port_open(atoi(port));
}

/* knoop-test-proxy from 127.0.0.1:listen to 127.0.0.1:target: SIGUSR1 cuts
 * every connection through it (and refuses new ones), SIGUSR2 heals. */
static proc_t *s_start_proxy(bench_t *self, const char *name, int listen, int target)
{
    char l[16], t[16];
    snprintf(l, sizeof l, "%d", listen);
    snprintf(t, sizeof t, "%d", target);
    char *argv[] = { self->bin_proxy, l, t, NULL };
    proc_t *p = s_spawn(self, PROC_PROXY, name, argv);
    s_wait_start(self, p, 10, "not listening within 10 s", s_port_open, l, NULL);
    return p;
}

static void s_api(bench_t *self, const char *id, char *out, size_t size)
{
    snprintf(out, size, "ipc://%s/%.64s/api.sock", self->wdir, id);
}

static knoop_client_t *s_client(bench_t *self, const char *id)
{
    char ep[FILE_LEN];
    s_api(self, id, ep, sizeof ep);
    knoop_client_t *c = NULL;
    if (knoop_client_new(ep, &c))
        s_die(self, "cannot make a client for %s", ep);
    return c;
}

/* The node's status, parsed (caller json_decref), or NULL. */
static json_t *s_status(knoop_client_t *c)
{
    char *text = NULL;
    if (knoop_client_status(c, &text, 5000) != KNOOP_OK)
        return NULL;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    return o;
}

static uint64_t s_backlog(bench_t *self, knoop_client_t *c)
{
    json_t *o = s_status(c);
    if (!o)
        s_die(self, "the publishing node does not answer status: %s", knoop_client_error(c));
    uint64_t b = (uint64_t) json_integer_value(json_object_get(json_object_get(o, "outbox"),
                                                               "backlog"));
    json_decref(o);
    return b;
}

/* Wait until the node's link is up (and, for a subscriber, caught up). */
static void s_wait_link(bench_t *self, proc_t *p, knoop_client_t *c, bool caught_up)
{
    double deadline = kit_now() + 30;
    for (;;) {
        s_check_interrupt(self);
        json_t *o = s_status(c);
        json_t *link = o ? json_object_get(o, "link") : NULL;
        bool up = link && json_is_string(json_object_get(link, "state")) &&
                  strcmp(json_string_value(json_object_get(link, "state")), "up") == 0 &&
                  (!caught_up || json_is_true(json_object_get(link, "caught_up")));
        json_decref(o);
        if (up)
            return;
        s_reap(p, WNOHANG);
        if (!p->running || kit_now() > deadline)
            s_fail_start(self, p, "its link to the broker did not come up within 30 s");
        s_sleep_ms(20);
    }
}

/* ---- journals, watched read-only ---- */

static knoop_journal_t *s_journal_ro(bench_t *self, const char *id)
{
    char dir[FILE_LEN];
    snprintf(dir, sizeof dir, "%s/%.64s", self->wdir, id);
    knoop_journal_opts_t o = { .path = dir, .flags = KNOOP_JOURNAL_READONLY };
    knoop_journal_t *j = NULL;
    int rc = knoop_journal_open(&o, &j);
    if (rc)
        s_die(self, "cannot open the journal %s read-only: %s", dir, knoop_strerror(rc));
    return j;
}

/* Messages the journal holds on PATTERN (contiguous, so verifiable). */
static uint64_t s_journal_count(knoop_journal_t *j)
{
    knoop_stream_info_t *rows = NULL;
    size_t n = 0;
    uint64_t total = 0;
    if (knoop_journal_vector(j, PATTERN, &rows, &n) == KNOOP_OK)
        for (size_t i = 0; i < n; i++)
            total += rows[i].hwm;
    free(rows);
    return total;
}

/* ---- statistics ---- */



/* The wall time (ms) of a daemon's log line ("2026-01-31T12:00:00.123Z ..."),
 * or 0. The daemons stamp their lines with the wall clock in UTC. */
static double s_line_ms(const char *line)
{
    struct tm tm = { 0 };
    int ms;
    if (sscanf(line, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double) timegm(&tm) * 1e3 + ms;
}

/* A broker's "peer X: link lost: nothing heard within the timeout" that the
 * partition explains: the link crosses the cut (C and A or B) and the loss
 * falls between the cut and the heal. Any other loss (say A-B, which is
 * never cut) is a warning like any other. */
static bool s_expected_loss(bench_t *self, const proc_t *p, const char *line)
{
    const char *at = strstr(line, "Z WARN  peer ");
    char peer[96];
    if (!self->partitioned || p->kind != PROC_BROKER || !at ||
        !strstr(line, ": link lost: nothing heard within the timeout") ||
        sscanf(at, "Z WARN  peer %95[^:]:", peer) != 1)
        return false;
    double t = s_line_ms(line);
    bool crosses = (strcmp(p->name, BROKER_C) == 0) != (strcmp(peer, BROKER_C) == 0);
    return crosses && t >= self->cut_ms - 1 && self->heal_ms > 0 && t <= self->heal_ms + 1;
}

/* Warnings and errors the daemons of this workload logged. The peer links
 * lost to a partition are what it should be, and counted apart in *lost. */
static void s_log_counts(bench_t *self, unsigned *warns, unsigned *errors, unsigned *lost)
{
    *warns = *errors = *lost = 0;
    for (size_t i = 0; i < self->nprocs; i++) {
        if (self->procs[i].kind == PROC_PROXY)
            continue;
        FILE *f = fopen(self->procs[i].log, "r");
        if (!f)
            continue;
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            /* Expected, not counted: the broker's start-up self-check (a
             * random key refused), and nodes and brokers saying goodbye to
             * their links at SIGTERM. */
            if (strstr(line, "refused unknown key") || strstr(line, "lost: node stopping") ||
                strstr(line, "lost: broker stopping"))
                continue;
            if (s_expected_loss(self, &self->procs[i], line)) {
                (*lost)++;
                continue;
            }
            if (strstr(line, "Z WARN "))
                (*warns)++;
            else if (strstr(line, "Z ERROR "))
                (*errors)++;
        }
        fclose(f);
    }
}

/* What the daemons of a workload left behind. */
typedef struct {
    double   cpu[3];         /* CPU seconds: broker(s), publisher, all other nodes */
    double   cpu_broker[3];  /* per broker of a mesh: A, B, C */
    double   cpu_proxies;
    unsigned nbrokers;
    unsigned warns, errors;  /* WARN and ERROR lines in their logs */
    unsigned links_lost;     /* peer links the brokers saw lost to a partition (W6) */
    unsigned bad_exits;      /* exits other than 0 after SIGTERM (a crash, a sanitizer) */
} end_t;

/* Stop the workload's processes (collecting their CPU time and exit status)
 * and remove its directory. */
static void s_end_workload(bench_t *self, end_t *e)
{
    s_stop_all(self);
    memset(e, 0, sizeof *e);
    s_log_counts(self, &e->warns, &e->errors, &e->links_lost);
    for (size_t i = 0; i < self->nprocs; i++) {
        const proc_t *p = &self->procs[i];
        if (p->kind == PROC_BROKER) {
            e->cpu[0] += p->cpu_s;
            if (e->nbrokers < 3)
                e->cpu_broker[e->nbrokers] = p->cpu_s;
            e->nbrokers++;
        } else if (p->kind == PROC_PROXY)
            e->cpu_proxies += p->cpu_s;
        else if (strcmp(p->name, PUB_ID) == 0)
            e->cpu[1] += p->cpu_s;
        else
            e->cpu[2] += p->cpu_s;
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
            e->bad_exits++;
            fprintf(stderr, "bench_pubsub: %s ended with %s %d\n", p->name,
                    WIFEXITED(p->status) ? "exit status" : "signal",
                    WIFEXITED(p->status) ? WEXITSTATUS(p->status) : WTERMSIG(p->status));
            kit_log_tail(p->log, 10);
        }
    }
    if (e->warns || e->errors)
        fprintf(stderr, "bench_pubsub: the daemons logged %u warning(s), %u error(s) in %s%s\n",
                e->warns, e->errors, self->wdir, self->keep ? "" : " (use --keep to read them)");
    self->nprocs = 0;
    self->partitioned = false;
    self->cut_ms = self->heal_ms = 0;
    if (!self->keep)
        kit_rmtree(self->wdir);
}

/* ---- publishing ---- */

typedef struct {
    double secs;            /* all requests */
    double req_p50_ms, req_max_ms;
} pub_result_t;

/* Publish n messages through client c in requests of `batch` items. */
static pub_result_t s_publish(bench_t *self, knoop_client_t *c, size_t n, size_t batch)
{
    knoop_api_item_t *items = calloc(batch, sizeof *items);
    knoop_api_seq_t *res = calloc(batch, sizeof *res);
    size_t nreq = (n + batch - 1) / batch;
    double *req_ms = calloc(nreq ? nreq : 1, sizeof *req_ms);
    if (!items || !res || !req_ms)
        s_die(self, "out of memory");
    for (size_t i = 0; i < batch; i++) {
        items[i].topic = TOPIC;
        items[i].type = self->type;
        items[i].status = KNOOP_STATUS_ACTUAL;
        items[i].tlp = KNOOP_TLP_GREEN;
        items[i].payload = self->payload.data;
        items[i].payload_len = self->payload.len;
    }
    /* Up to `window` requests in flight (knoop_client_publish_send), each
     * timed from its send to its reply; the oldest is taken first. */
    struct { uint64_t ticket; size_t k; double ts; } fl[KNOOP_CLIENT_PIPELINE];
    size_t window = self->window ? self->window : 1, head = 0, nfl = 0;
    double t0 = kit_now();
    size_t sent = 0, done = 0, r = 0;
    while (done < n) {
        s_check_interrupt(self);
        char err[512];
        if (sent < n && nfl < window) {
            size_t k = n - sent < batch ? n - sent : batch;
            size_t at = (head + nfl) % KNOOP_CLIENT_PIPELINE;
            fl[at].ts = kit_now();
            fl[at].k = k;
            int rc = knoop_client_publish_send(c, items, k, 0, 60000, &fl[at].ticket, err,
                                               sizeof err);
            if (rc)
                s_die(self, "publish failed after %zu messages: %s: %s", done,
                      knoop_strerror(rc), err);
            sent += k;
            nfl++;
            continue;
        }
        int rc = knoop_client_publish_recv(c, fl[head].ticket, res, fl[head].k, 60000, NULL,
                                           err, sizeof err);
        req_ms[r++] = (kit_now() - fl[head].ts) * 1e3;
        s_check_interrupt(self);
        if (rc)
            s_die(self, "publish refused after %zu messages: %s: %s", done, knoop_strerror(rc),
                  err);
        done += fl[head].k;
        head = (head + 1) % KNOOP_CLIENT_PIPELINE;
        nfl--;
    }
    pub_result_t out = { .secs = kit_now() - t0 };
    qsort(req_ms, r, sizeof *req_ms, kit_cmp_double);
    out.req_p50_ms = kit_pct(req_ms, r, 50);
    out.req_max_ms = r ? req_ms[r - 1] : 0;
    free(items);
    free(res);
    free(req_ms);
    return out;
}

/* Poll the publisher's outbox until the broker has acknowledged everything;
 * returns the time (monotonic) it reached 0, or -1 after `secs`. */
static double s_wait_backlog_zero(bench_t *self, knoop_client_t *c, double secs)
{
    double deadline = kit_now() + secs;
    while (kit_now() < deadline) {
        s_check_interrupt(self);
        if (s_backlog(self, c) == 0)
            return kit_now();
        s_sleep_ms(5);
    }
    return -1;
}

static void s_print_common(bench_t *self, const char *w)
{
    printf("{\"bench\":\"pubsub\",\"workload\":\"%s\",\"quick\":%s,\"payload_bytes\":%zu,"
           "\"payload_type\":\"%s\",\"durable\":true,\"curve\":true,", w,
           self->quick ? "true" : "false", self->payload.len, self->type);
}

static void s_print_tail(const end_t *e)
{
    printf("\"cpu_s\":{\"broker\":%.2f,", e->cpu[0]);
    if (e->nbrokers == 3)       /* a mesh: "broker" is all three */
        printf("\"broker_a\":%.2f,\"broker_b\":%.2f,\"broker_c\":%.2f,", e->cpu_broker[0],
               e->cpu_broker[1], e->cpu_broker[2]);
    printf("\"publisher\":%.2f,\"other_nodes\":%.2f", e->cpu[1], e->cpu[2]);
    if (e->cpu_proxies > 0)
        printf(",\"proxies\":%.2f", e->cpu_proxies);
    printf("},\"daemon_warnings\":%u,\"daemon_errors\":%u,\"daemon_bad_exits\":%u}\n",
           e->warns, e->errors, e->bad_exits);
    fflush(stdout);
}

/* ---- W1: durable publish rate ---- */

static void s_w1(bench_t *self)
{
    fprintf(stderr, "bench_pubsub: W1 durable publish: %zu messages in requests of %zu\n",
            self->messages, self->batch);
    s_workload_dir(self, "w1");
    s_start_broker(self);
    proc_t *pub = s_start_node(self, PUB_ID, false);
    knoop_client_t *c = s_client(self, PUB_ID);
    s_wait_link(self, pub, c, false);

    double t0 = kit_now();
    pub_result_t r = s_publish(self, c, self->messages, self->batch);
    double acked = s_wait_backlog_zero(self, c, 300);
    knoop_client_destroy(&c);

    end_t e;
    s_end_workload(self, &e);
    s_print_common(self, "W1");
    printf("\"messages\":%zu,\"request_items\":%zu,\"window\":%zu,\"node_acked_s\":%.3f,"
           "\"node_acked_msgs_per_s\":%.0f,\"request_p50_ms\":%.2f,\"request_max_ms\":%.2f,"
           "\"broker_acked\":%s,\"broker_acked_s\":%.3f,\"broker_acked_msgs_per_s\":%.0f,",
           self->messages, self->batch, self->window, r.secs, (double) self->messages / r.secs,
           r.req_p50_ms, r.req_max_ms, acked > 0 ? "true" : "false",
           acked > 0 ? acked - t0 : -1.0,
           acked > 0 ? (double) self->messages / (acked - t0) : 0.0);
    s_print_tail(&e);
}

/* ---- W2: fan-out ---- */

static void s_w2(bench_t *self)
{
    fprintf(stderr, "bench_pubsub: W2 fan-out: %zu messages to %zu subscribing nodes\n",
            self->messages, self->nodes);
    s_workload_dir(self, "w2");
    s_start_broker(self);
    proc_t *subs[MAX_NODES];
    char ids[MAX_NODES][32];
    for (size_t i = 0; i < self->nodes; i++) {
        s_sub_id(ids[i], sizeof ids[i], i);
        subs[i] = s_start_node(self, ids[i], true);
    }
    proc_t *pub = s_start_node(self, PUB_ID, false);
    knoop_client_t *c = s_client(self, PUB_ID);
    s_wait_link(self, pub, c, false);
    knoop_journal_t *js[MAX_NODES];
    for (size_t i = 0; i < self->nodes; i++) {
        knoop_client_t *sc = s_client(self, ids[i]);
        s_wait_link(self, subs[i], sc, true);
        knoop_client_destroy(&sc);
        js[i] = s_journal_ro(self, ids[i]);
    }

    double t0 = kit_now();
    pub_result_t r = s_publish(self, c, self->messages, self->batch);
    double acked = s_wait_backlog_zero(self, c, 600);
    knoop_client_destroy(&c);

    /* Until every subscriber's journal holds all N. */
    double done_at[MAX_NODES] = { 0 };
    uint64_t have[MAX_NODES] = { 0 };
    size_t complete = 0;
    double deadline = kit_now() + 600;
    while (complete < self->nodes && kit_now() < deadline) {
        s_check_interrupt(self);
        for (size_t i = 0; i < self->nodes; i++) {
            if (done_at[i] > 0)
                continue;
            have[i] = s_journal_count(js[i]);
            if (have[i] >= self->messages) {
                done_at[i] = kit_now();
                complete++;
            }
        }
        if (complete < self->nodes)
            s_sleep_ms(20);
    }
    double first = 0, last = 0;
    uint64_t delivered = 0;
    for (size_t i = 0; i < self->nodes; i++) {
        if (done_at[i] > 0) {
            if (first == 0 || done_at[i] < first)
                first = done_at[i];
            if (done_at[i] > last)
                last = done_at[i];
        }
        delivered += have[i] < self->messages ? have[i] : self->messages;
        knoop_journal_destroy(&js[i]);
    }
    double end = complete == self->nodes ? last : kit_now();

    end_t e;
    s_end_workload(self, &e);
    s_print_common(self, "W2");
    printf("\"messages\":%zu,\"request_items\":%zu,\"subscribing_nodes\":%zu,"
           "\"node_acked_s\":%.3f,\"node_acked_msgs_per_s\":%.0f,\"broker_acked_s\":%.3f,"
           "\"complete\":%s,\"nodes_complete\":%zu,\"first_node_all_s\":%.3f,"
           "\"last_node_all_s\":%.3f,\"delivered\":%llu,\"aggregate_delivered_msgs_per_s\":%.0f,",
           self->messages, self->batch, self->nodes, r.secs, (double) self->messages / r.secs,
           acked > 0 ? acked - t0 : -1.0, complete == self->nodes ? "true" : "false", complete,
           first > 0 ? first - t0 : -1.0, complete == self->nodes ? last - t0 : -1.0,
           (unsigned long long) delivered, (double) delivered / (end - t0));
    s_print_tail(&e);
}

/* ---- W3: catch-up ---- */

/* Fill the broker's journal directly, before it starts: the publisher's
 * messages, chained and head-signed per batch exactly as its node would make
 * them, appended with the signatures verified against the trust store (as
 * the broker does). Only the catch-up is measured, so the fill may take the
 * short way. */
static double s_fill_journal(bench_t *self, size_t m)
{
    char dir[FILE_LEN], keyfile[FILE_LEN];
    snprintf(dir, sizeof dir, "%s/" BROKER_ID, self->wdir);
    snprintf(keyfile, sizeof keyfile, "%s/" PUB_ID ".key", self->keys);
    knoop_key_t *key = NULL;
    knoop_trust_t *trust = NULL;
    knoop_journal_t *j = NULL;
    if (knoop_key_load(keyfile, &key) || knoop_trust_load(self->trust, 0, &trust))
        s_die(self, "cannot load %s or the trust store", keyfile);
    knoop_journal_opts_t o = { .path = dir, .partner = BROKER_ID, .trust = trust };
    int rc = knoop_journal_open(&o, &j);
    if (rc)
        s_die(self, "cannot create the broker journal %s: %s", dir, knoop_strerror(rc));
    size_t batch = 1024;
    batch_t bt;
    if (!batch_init(&bt, batch))
        s_die(self, "out of memory");
    uint64_t epoch = 0;
    while (epoch == 0)
        epoch = ((uint64_t) rand() << 32) ^ (uint64_t) rand() ^ (uint64_t) time(NULL);
    knoop_hlc_t hlc;
    knoop_hlc_init(&hlc, 0);
    uint8_t head[KNOOP_HASH_LEN] = { 0 };
    uint64_t seq = 0;
    double t0 = kit_now();
    for (size_t done = 0; done < m;) {
        s_check_interrupt(self);
        size_t k = m - done < batch ? m - done : batch;
        for (size_t i = 0; i < k; i++) {
            knoop_body_t b = {
                .version = KNOOP_BODY_VERSION, .origin = PUB_ID, .topic = TOPIC,
                .epoch = epoch, .seq = ++seq, .hlc = knoop_hlc_now(&hlc), .key = "",
                .type = self->type, .status = KNOOP_STATUS_ACTUAL, .tlp = KNOOP_TLP_GREEN,
                .payload = self->payload.data, .payload_len = self->payload.len,
            };
            if (batch_put(&bt, i, &b, head, i == k - 1 ? knoop_key_secret(key) : NULL))
                s_die(self, "cannot build a message");
        }
        rc = knoop_journal_append(j, bt.ptrs, k, bt.res);
        for (size_t i = 0; i < k && rc == KNOOP_OK; i++)
            rc = bt.res[i];
        batch_clear(&bt, k);
        if (rc)
            s_die(self, "filling the broker journal: %s", knoop_strerror(rc));
        done += k;
    }
    double secs = kit_now() - t0;
    batch_free(&bt);
    knoop_journal_destroy(&j);
    knoop_trust_destroy(&trust);
    knoop_key_destroy(&key);
    return secs;
}

/* "caught up from B: N messages in S streams in T ms" from a node's log. */
static bool s_parse_caught_up(const char *log, unsigned long long *n, unsigned long long *ms)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "caught up from ");
        p = p ? strstr(p, ": ") : NULL;
        unsigned long long streams;
        if (p && sscanf(p, ": %llu messages in %llu streams in %llu ms", n, &streams, ms) == 3)
            found = true;
    }
    fclose(f);
    return found;
}

static void s_w3(bench_t *self)
{
    fprintf(stderr, "bench_pubsub: W3 catch-up of %zu messages (fill: %s)\n", self->catchup,
            self->fill_publish ? "published through a node" : "written to the broker journal");
    s_workload_dir(self, "w3");
    double fill_s;
    if (self->fill_publish) {
        s_start_broker(self);
        proc_t *pub = s_start_node(self, PUB_ID, false);
        knoop_client_t *c = s_client(self, PUB_ID);
        s_wait_link(self, pub, c, false);
        double t0 = kit_now();
        s_publish(self, c, self->catchup, self->batch);
        if (s_wait_backlog_zero(self, c, 900) < 0)
            s_die(self, "the broker did not acknowledge the %zu messages of the fill",
                  self->catchup);
        fill_s = kit_now() - t0;
        knoop_client_destroy(&c);
    } else {
        fill_s = s_fill_journal(self, self->catchup);
        s_start_broker(self);
    }

    double t0 = kit_now();
    proc_t *late = s_start_node(self, LATE_ID, true);
    double api_up = kit_now() - t0;
    knoop_journal_t *j = s_journal_ro(self, LATE_ID);
    uint64_t have = 0;
    double deadline = kit_now() + 900, done = -1;
    while (kit_now() < deadline) {
        s_check_interrupt(self);
        have = s_journal_count(j);
        if (have >= self->catchup) {
            done = kit_now();
            break;
        }
        s_reap(late, WNOHANG);
        if (!late->running)
            s_fail_start(self, late, "it exited during the catch-up");
        s_sleep_ms(10);
    }
    knoop_journal_destroy(&j);
    /* The node logs the catch-up when CAUGHT_UP arrives, just after the last
     * delivery is stored: give it a moment. */
    unsigned long long logged_n = 0, logged_ms = 0;
    for (int i = 0; i < 100 && !s_parse_caught_up(late->log, &logged_n, &logged_ms); i++)
        s_sleep_ms(20);

    end_t e;
    s_end_workload(self, &e);
    s_print_common(self, "W3");
    printf("\"messages\":%zu,\"fill\":\"%s\",\"fill_s\":%.2f,\"complete\":%s,\"held\":%llu,"
           "\"node_api_up_s\":%.3f,\"catchup_s\":%.3f,\"catchup_msgs_per_s\":%.0f,"
           "\"node_logged_messages\":%llu,\"node_logged_ms\":%llu,",
           self->catchup, self->fill_publish ? "publish" : "journal", fill_s,
           done > 0 ? "true" : "false", (unsigned long long) have, api_up,
           done > 0 ? done - t0 : -1.0, done > 0 ? (double) self->catchup / (done - t0) : 0.0,
           logged_n, logged_ms);
    s_print_tail(&e);
}

/* ---- W4: latency ---- */

typedef struct {
    bench_t        *bench;
    knoop_client_t *c;
    unsigned        k, nthreads;
    size_t          total;       /* messages over all threads */
    double          t0, period;  /* schedule: message i is due at t0 + i * period */
    double         *rtt_ms;      /* per message of this thread */
    double         *sent_at;     /* shared: when each seq's publish call began */
    size_t          cap;         /* entries of sent_at */
    size_t          n;
    double          end;         /* when its last request returned */
    int             rc;
    char            err[512];
    atomic_int     *finished;
} pacer_t;

static void *s_pacer(void *arg)
{
    pacer_t *p = arg;
    knoop_api_item_t it = {
        .topic = TOPIC, .type = p->bench->type, .status = KNOOP_STATUS_ACTUAL,
        .tlp = KNOOP_TLP_GREEN, .payload = p->bench->payload.data,
        .payload_len = p->bench->payload.len,
    };
    knoop_api_seq_t res;
    for (size_t i = p->k; i < p->total && !s_interrupted; i += p->nthreads) {
        double due = p->t0 + (double) i * p->period;
        double wait = due - kit_now();
        if (wait > 0)
            s_sleep_ms(wait * 1e3);
        double ts = kit_now();
        p->rc = knoop_client_publish(p->c, &it, 1, &res, 10000, p->err, sizeof p->err);
        if (p->rc)
            break;
        p->end = kit_now();
        p->rtt_ms[p->n++] = (p->end - ts) * 1e3;
        if (res.seq < p->cap)
            p->sent_at[res.seq] = ts;        /* each seq is one thread's */
    }
    atomic_fetch_add(p->finished, 1);
    return NULL;
}

/* A subscribing application. Its latency is taken, once every thread has
 * finished, as arrival minus the start of the publish call that gave the
 * seq (s_latency_from_send): as the peers measure, from the application's
 * send, with the clock's resolution. The HLC's wall time would leave out
 * the request's way to the node and its wait there, and count up to 1 ms
 * more (it keeps whole milliseconds). */
typedef struct {
    knoop_client_t *c;
    size_t          total;
    double         *lat_ms;
    double         *at_s;        /* arrival times (monotonic), for --trace */
    uint64_t       *seq;
    size_t          got;
    double          end;         /* when the last message arrived */
    int             rc;          /* what stopped knoop_client_next, if anything */
    atomic_int     *finished;    /* publishers done */
    unsigned        npub;
} receiver_t;

static void *s_receiver(void *arg)
{
    receiver_t *r = arg;
    double pubs_done_at = 0;
    while (r->got < r->total && !s_interrupted) {
        uint64_t pos;
        const uint8_t *env;
        size_t len;
        int rc = knoop_client_next(r->c, &pos, &env, &len, 100);
        double now = s_wall_ms();
        if (rc == KNOOP_OK) {
            knoop_msg_t m;
            if (knoop_msg_parse(&m, env, len) == KNOOP_OK) {
                if (strcmp(m.b.origin, PUB_ID) == 0) {
                    r->end = kit_now();
                    r->at_s[r->got] = r->end;
                    r->seq[r->got] = m.b.seq;
                    r->lat_ms[r->got++] = now - (double) KNOOP_HLC_MS(m.b.hlc);   /* if unmatched */
                }
                knoop_msg_clear(&m);
            }
            knoop_client_ack(r->c, pos);
        } else if (rc != KNOOP_ETIMEDOUT) {
            r->rc = rc;
            break;
        }
        if (atomic_load(r->finished) == (int) r->npub) {
            if (pubs_done_at == 0)
                pubs_done_at = kit_now();
            else if (kit_now() - pubs_done_at > 15)
                break;                        /* what is still missing is lost */
        }
    }
    return NULL;
}

static void s_receiver_start(bench_t *self, receiver_t *r, pthread_t *tid, const char *id,
                             size_t total, atomic_int *finished, unsigned npub)
{
    memset(r, 0, sizeof *r);
    r->c = s_client(self, id);
    r->total = total;
    r->finished = finished;
    r->npub = npub;
    r->lat_ms = calloc(total ? total : 1, sizeof *r->lat_ms);
    r->at_s = calloc(total ? total : 1, sizeof *r->at_s);
    r->seq = calloc(total ? total : 1, sizeof *r->seq);
    if (!r->lat_ms || !r->at_s || !r->seq)
        s_die(self, "out of memory");
    char err[512];
    int rc = knoop_client_subscribe(r->c, PATTERN, NULL, false, 0, 0, 5000, err, sizeof err);
    if (rc)
        s_die(self, "subscribe on %s: %s: %s", id, knoop_strerror(rc), err);
    if (pthread_create(tid, NULL, s_receiver, r) != 0)
        s_die(self, "cannot start a receiving thread");
}

/* Every latency of r from the publish call of its seq (see receiver_t);
 * returns how many had no known send (they keep the HLC's figure). */
static size_t s_latency_from_send(receiver_t *r, const double *sent_at, size_t cap)
{
    size_t unmatched = 0;
    for (size_t i = 0; i < r->got; i++) {
        if (r->seq[i] < cap && sent_at[r->seq[i]] > 0)
            r->lat_ms[i] = (r->at_s[i] - sent_at[r->seq[i]]) * 1e3;
        else
            unmatched++;
    }
    return unmatched;
}

/* One line per message: arrival (s since the first was due), seq, latency. */
static void s_trace(bench_t *self, const char *name, const receiver_t *r, double t0)
{
    if (!self->trace)
        return;
    char path[FILE_LEN];
    snprintf(path, sizeof path, "%.2000s.%s.tsv", self->trace, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_pubsub: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "# t0 (CLOCK_MONOTONIC) %.6f\narrival_s\tseq\tlatency_ms\n", t0);
    for (size_t i = 0; i < r->got; i++)
        fprintf(f, "%.4f\t%llu\t%.2f\n", r->at_s[i] - t0, (unsigned long long) r->seq[i],
                r->lat_ms[i]);
    fclose(f);
}

static void s_print_latency(const char *name, receiver_t *r, double t0)
{
    qsort(r->lat_ms, r->got, sizeof *r->lat_ms, kit_cmp_double);
    double sum = 0;
    for (size_t i = 0; i < r->got; i++)
        sum += r->lat_ms[i];
    printf("\"%s\":{\"samples\":%zu,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f,"
           "\"mean\":%.2f,\"last_received_s\":%.2f},", name, r->got,
           kit_pct(r->lat_ms, r->got, 50), kit_pct(r->lat_ms, r->got, 90),
           kit_pct(r->lat_ms, r->got, 99), r->got ? r->lat_ms[r->got - 1] : 0,
           r->got ? sum / (double) r->got : 0, r->got ? r->end - t0 : 0);
}

static void s_w4(bench_t *self)
{
    size_t total = (size_t) (self->seconds * self->rate);
    unsigned nthreads = self->pub_threads;
    fprintf(stderr, "bench_pubsub: W4 latency: %zu messages at %u/s from %u threads\n", total,
            self->rate, nthreads);
    s_workload_dir(self, "w4");
    s_start_broker(self);
    proc_t *sub = s_start_node(self, LATE_ID, true);
    proc_t *pub = s_start_node(self, PUB_ID, false);
    knoop_client_t *c = s_client(self, LATE_ID);
    s_wait_link(self, sub, c, true);
    knoop_client_destroy(&c);
    c = s_client(self, PUB_ID);
    s_wait_link(self, pub, c, false);
    knoop_client_destroy(&c);

    /* Two receivers: "remote" on the other node (publisher's node, broker,
     * subscriber's node: three durable commits) and "local" on the
     * publisher's own node (one commit), which splits the figure. */
    atomic_int finished = 0;
    receiver_t remote, local;
    pthread_t rtid[2];
    s_receiver_start(self, &remote, &rtid[0], LATE_ID, total, &finished, nthreads);
    s_receiver_start(self, &local, &rtid[1], PUB_ID, total, &finished, nthreads);

    /* A synchronous client waits a durable commit (two fsyncs, a few ms on
     * this disk) per request: pace from several threads, each with its own
     * client, so that the offered rate does not depend on that wait. */
    pacer_t pacers[16];
    pthread_t tids[16];
    size_t cap = total + 64;             /* seqs from 1; room for a few before */
    double *sent_at = calloc(cap, sizeof *sent_at);
    if (!sent_at)
        s_die(self, "out of memory");
    double t0 = kit_now() + 0.05;
    for (unsigned k = 0; k < nthreads; k++) {
        pacer_t *p = &pacers[k];
        memset(p, 0, sizeof *p);
        p->bench = self;
        p->c = s_client(self, PUB_ID);
        p->k = k;
        p->nthreads = nthreads;
        p->total = total;
        p->t0 = t0;
        p->period = 1.0 / self->rate;
        p->sent_at = sent_at;
        p->cap = cap;
        p->rtt_ms = calloc(total / nthreads + 2, sizeof *p->rtt_ms);
        p->finished = &finished;
        if (!p->rtt_ms || pthread_create(&tids[k], NULL, s_pacer, p) != 0)
            s_die(self, "cannot start publishing thread %u", k);
    }
    for (unsigned k = 0; k < nthreads; k++)
        pthread_join(tids[k], NULL);
    pthread_join(rtid[0], NULL);
    pthread_join(rtid[1], NULL);
    s_check_interrupt(self);

    size_t published = 0;
    double pub_end = t0;
    double *rtt = calloc(total ? total : 1, sizeof *rtt);
    if (!rtt)
        s_die(self, "out of memory");
    for (unsigned k = 0; k < nthreads; k++) {
        pacer_t *p = &pacers[k];
        if (p->rc)
            fprintf(stderr, "bench_pubsub: W4 publishing thread %u stopped: %s: %s\n", k,
                    knoop_strerror(p->rc), p->err);
        memcpy(rtt + published, p->rtt_ms, p->n * sizeof *rtt);
        published += p->n;
        if (p->end > pub_end)
            pub_end = p->end;
        free(p->rtt_ms);
        knoop_client_destroy(&p->c);
    }
    if (remote.rc)
        fprintf(stderr, "bench_pubsub: W4 remote subscriber stopped: %s\n",
                knoop_strerror(remote.rc));
    if (local.rc)
        fprintf(stderr, "bench_pubsub: W4 local subscriber stopped: %s\n",
                knoop_strerror(local.rc));
    knoop_client_destroy(&remote.c);
    knoop_client_destroy(&local.c);
    qsort(rtt, published, sizeof *rtt, kit_cmp_double);
    size_t unmatched = s_latency_from_send(&remote, sent_at, cap) +
                       s_latency_from_send(&local, sent_at, cap);
    if (unmatched)
        fprintf(stderr, "bench_pubsub: W4: %zu received message(s) without a known send "
                "(a publish call that failed or timed out after the node stored it): timed "
                "from their HLC\n", unmatched);
    free(sent_at);
    s_trace(self, "remote", &remote, t0);
    s_trace(self, "local", &local, t0);

    end_t e;
    s_end_workload(self, &e);
    s_print_common(self, "W4");
    printf("\"offered_msgs_per_s\":%u,\"seconds\":%.1f,\"publisher_threads\":%u,"
           "\"published\":%zu,\"achieved_msgs_per_s\":%.0f,\"lost\":%zu,",
           self->rate, self->seconds, nthreads, published,
           pub_end > t0 ? (double) published / (pub_end - t0) : 0.0,
           published > remote.got ? published - remote.got : 0);
    s_print_latency("latency_ms", &remote, t0);
    s_print_latency("local_latency_ms", &local, t0);
    printf("\"publish_rtt_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},",
           kit_pct(rtt, published, 50), kit_pct(rtt, published, 99),
           published ? rtt[published - 1] : 0);
    s_print_tail(&e);
    free(remote.lat_ms);
    free(local.lat_ms);
    free(remote.at_s);
    free(local.at_s);
    free(remote.seq);
    free(local.seq);
    free(rtt);
}

/* ---- the mesh: W5, W6 ---- */

/* Every daemon of the workload still runs (a crash during a measurement
 * ends the bench with its log, rather than a timeout much later). */
static void s_check_alive(bench_t *self, const char *during)
{
    for (size_t i = 0; i < self->nprocs; i++) {
        proc_t *p = &self->procs[i];
        if (p->retired)
            continue;
        s_reap(p, WNOHANG);
        if (!p->running) {
            kit_log_tail(p->log, 15);
            s_die(self, "%s exited during %s (%s %d)", p->name, during,
                  WIFEXITED(p->status) ? "exit status" : "signal",
                  WIFEXITED(p->status) ? WEXITSTATUS(p->status) : WTERMSIG(p->status));
        }
    }
}

/* The state of a broker's link to one of its peers, from its status
 * endpoint: "up" (caught up), "catching-up", "connecting", "down"; "" if
 * it does not answer. */
static void s_peer_state(knoop_client_t *c, const char *peer, char *out, size_t size)
{
    out[0] = 0;
    json_t *o = s_status(c);
    size_t i;
    json_t *row;
    json_array_foreach(o ? json_object_get(o, "peers") : NULL, i, row)
        if (strcmp(json_string_value(json_object_get(row, "id")) ?: "", peer) == 0)
            snprintf(out, size, "%s", json_string_value(json_object_get(row, "state")) ?: "");
    json_decref(o);
}

/* Every broker's link to each of its peers is up and caught up. */
static void s_wait_mesh(bench_t *self, const char *const *ids, size_t n)
{
    double deadline = kit_now() + 60;
    for (size_t k = 0; k < n; k++) {
        knoop_client_t *c = s_client(self, ids[k]);
        for (size_t o = 0; o < n; o++) {
            if (o == k)
                continue;
            char state[32];
            for (;;) {
                s_check_interrupt(self);
                s_check_alive(self, "the start of the mesh");
                s_peer_state(c, ids[o], state, sizeof state);
                if (strcmp(state, "up") == 0)
                    break;
                if (kit_now() > deadline)
                    s_die(self, "the mesh did not come up within 60 s: %s's link to %s is %s "
                          "(--keep keeps the logs)", ids[k], ids[o], state[0] ? state : "unknown");
                s_sleep_ms(20);
            }
        }
        knoop_client_destroy(&c);
    }
}

/* A journal watched until it holds a number of messages on PATTERN. */
typedef struct {
    knoop_journal_t *j;
    uint64_t         have;
    double           at;      /* when it was first seen to hold them all; 0 until then */
} watch_t;

/* One look at every journal not yet complete; returns how many are. */
static size_t s_watch_step(watch_t *w, size_t n, uint64_t want)
{
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].at == 0) {
            w[i].have = s_journal_count(w[i].j);
            if (w[i].have >= want)
                w[i].at = kit_now();
        }
        done += w[i].at > 0;
    }
    return done;
}

/* Start A, B, C on the given ports. Each lists the other two as peers, at
 * peer_port[k][o] (the broker's own port, or a proxy in front of it). */
static void s_start_mesh(bench_t *self, const char *const *ids, const int *port,
                         int peer_port[3][3])
{
    for (size_t k = 0; k < 3; k++) {
        char spec[2][160];
        const char *peers[2];
        size_t np = 0;
        for (size_t o = 0; o < 3; o++)
            if (o != k) {
                snprintf(spec[np], sizeof spec[np], "%s@tcp://127.0.0.1:%d", ids[o],
                         peer_port[k][o]);
                peers[np] = spec[np];
                np++;
            }
        s_start_broker_at(self, ids[k], port[k], peers, np);
    }
}

/* W5's and W6's nodes: the late subscriber LATE_ID on broker sub_broker
 * (at sub_ep) and the publisher PUB_ID on pub_broker (pub_ep), both linked,
 * the mesh of ids up. Returns a client of the publisher's node. */
static knoop_client_t *s_start_late_and_pub(bench_t *self, const char *const *ids,
                                            const char *sub_broker, const char *sub_ep,
                                            const char *pub_broker, const char *pub_ep)
{
    proc_t *sub = s_start_node_at(self, LATE_ID, true, sub_broker, sub_ep);
    proc_t *pub = s_start_node_at(self, PUB_ID, false, pub_broker, pub_ep);
    knoop_client_t *c = s_client(self, LATE_ID);
    s_wait_link(self, sub, c, true);
    knoop_client_destroy(&c);
    c = s_client(self, PUB_ID);
    s_wait_link(self, pub, c, false);
    s_wait_mesh(self, ids, 3);
    return c;
}

static void s_print_mesh(bench_t *self, const char *w)
{
    s_print_common(self, w);
    printf("\"brokers\":3,\"anti_entropy_ms\":%u,", self->anti_entropy_ms);
}

/* ---- W5: mesh throughput ---- */

static void s_w5(bench_t *self)
{
    size_t n = self->messages;
    fprintf(stderr, "bench_pubsub: W5 mesh throughput: %zu messages, publisher on broker A, "
            "subscriber on broker C\n", n);
    s_workload_dir(self, "w5");
    const char *ids[3] = { BROKER_ID, BROKER_B, BROKER_C };
    int port[3], peer_port[3][3];
    char ep[3][64];
    s_ports(self, port, 3);
    for (size_t k = 0; k < 3; k++)
        snprintf(ep[k], sizeof ep[k], "tcp://127.0.0.1:%d", port[k]);
    for (size_t k = 0; k < 3; k++)
        for (size_t o = 0; o < 3; o++)
            peer_port[k][o] = port[o];
    s_start_mesh(self, ids, port, peer_port);
    knoop_client_t *c = s_start_late_and_pub(self, ids, BROKER_C, ep[2], BROKER_ID, ep[0]);
    /* w[0]: the subscriber on C; w[1..3]: brokers A, B, C. */
    watch_t w[4] = { { .j = s_journal_ro(self, LATE_ID) } };
    for (size_t k = 0; k < 3; k++)
        w[1 + k].j = s_journal_ro(self, ids[k]);

    double t0 = kit_now();
    pub_result_t r = s_publish(self, c, n, self->batch);
    double acked = -1, deadline = kit_now() + 600;
    size_t done = 0;
    while (kit_now() < deadline) {
        s_check_interrupt(self);
        s_check_alive(self, "W5");
        done = s_watch_step(w, 4, n);
        if (acked < 0 && s_backlog(self, c) == 0)
            acked = kit_now();
        if (done == 4 && acked > 0)
            break;
        s_sleep_ms(5);
    }
    knoop_client_destroy(&c);
    for (size_t i = 0; i < 4; i++)
        knoop_journal_destroy(&w[i].j);
    double brokers_all = 0;
    for (size_t k = 1; k < 4; k++)
        brokers_all = w[k].at > 0 && w[k].at > brokers_all ? w[k].at : brokers_all;
    bool complete = done == 4;

    end_t e;
    s_end_workload(self, &e);
    s_print_mesh(self, "W5");
    printf("\"messages\":%zu,\"request_items\":%zu,\"node_acked_s\":%.3f,"
           "\"node_acked_msgs_per_s\":%.0f,\"broker_a_acked_s\":%.3f,\"complete\":%s,"
           "\"subscriber_held\":%llu,\"subscriber_all_s\":%.3f,\"subscriber_msgs_per_s\":%.0f,"
           "\"brokers_all_s\":%.3f,\"broker_all_s\":{\"a\":%.3f,\"b\":%.3f,\"c\":%.3f},",
           n, self->batch, r.secs, (double) n / r.secs, acked > 0 ? acked - t0 : -1.0,
           complete ? "true" : "false", (unsigned long long) w[0].have,
           w[0].at > 0 ? w[0].at - t0 : -1.0, w[0].at > 0 ? (double) n / (w[0].at - t0) : 0.0,
           complete ? brokers_all - t0 : -1.0, w[1].at > 0 ? w[1].at - t0 : -1.0,
           w[2].at > 0 ? w[2].at - t0 : -1.0, w[3].at > 0 ? w[3].at - t0 : -1.0);
    s_print_tail(&e);
}

/* ---- W6: re-convergence after a partition ---- */

/* The wall time (ms) of the first line of a broker's log at or after
 * `since_ms` that says its link to `peer` is up ("peer P at EP: link up"),
 * or 0. */
static double s_log_link_up(bench_t *self, const char *broker, const char *peer,
                            double since_ms)
{
    char path[FILE_LEN], what[96];
    snprintf(path, sizeof path, "%s/%.64s.log", self->wdir, broker);
    snprintf(what, sizeof what, "peer %.64s at ", peer);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    double at = 0;
    while (at == 0 && fgets(line, sizeof line, f)) {
        if (!strstr(line, what) || !strstr(line, ": link up"))
            continue;
        double t = s_line_ms(line);
        if (t >= since_ms)
            at = t;
    }
    fclose(f);
    return at;
}

static void s_signal_all(bench_t *self, proc_t **px, size_t n, int sig)
{
    for (size_t i = 0; i < n; i++)
        if (kill(px[i]->pid, sig) != 0)
            s_die(self, "cannot signal %s: %s", px[i]->name, strerror(errno));
}

static void s_w6(bench_t *self)
{
    size_t m = self->messages;
    fprintf(stderr, "bench_pubsub: W6 re-convergence: %zu messages published on broker C "
            "during a partition of %.0f s\n", m, self->partition);
    s_workload_dir(self, "w6");
    self->partitioned = true;
    const char *ids[3] = { BROKER_ID, BROKER_B, BROKER_C };
    enum { A, B, C };
    int ports[6];
    s_ports(self, ports, 6);
    int *port = ports, toc = ports[3], ca = ports[4], cb = ports[5];
    /* A and B reach C through one proxy; C reaches A and B through two more.
     * The nodes' links are direct: only the brokers are partitioned. */
    proc_t *px[3];
    px[0] = s_start_proxy(self, "proxy-to-c", toc, port[C]);
    px[1] = s_start_proxy(self, "proxy-c-to-a", ca, port[A]);
    px[2] = s_start_proxy(self, "proxy-c-to-b", cb, port[B]);
    int peer_port[3][3] = {
        [A] = { [B] = port[B], [C] = toc },
        [B] = { [A] = port[A], [C] = toc },
        [C] = { [A] = ca, [B] = cb },
    };
    s_start_mesh(self, ids, port, peer_port);
    char ep_a[64], ep_c[64];
    snprintf(ep_a, sizeof ep_a, "tcp://127.0.0.1:%d", port[A]);
    snprintf(ep_c, sizeof ep_c, "tcp://127.0.0.1:%d", port[C]);
    knoop_client_t *c = s_start_late_and_pub(self, ids, BROKER_ID, ep_a, BROKER_C, ep_c);
    /* w[0], w[1]: brokers A and B; w[2]: the subscriber on A. */
    watch_t w[3] = { { .j = s_journal_ro(self, ids[A]) }, { .j = s_journal_ro(self, ids[B]) },
                     { .j = s_journal_ro(self, LATE_ID) } };

    /* The cut, then the publishing, then the rest of the partition. */
    self->cut_ms = s_wall_ms();
    s_signal_all(self, px, 3, SIGUSR1);
    double cut = kit_now();
    pub_result_t r = s_publish(self, c, m, self->batch);
    double c_acked = s_wait_backlog_zero(self, c, 600);
    knoop_client_destroy(&c);
    if (c_acked < 0)
        s_die(self, "broker C did not acknowledge the %zu messages within 600 s", m);
    while (kit_now() < cut + self->partition) {
        s_check_interrupt(self);
        s_check_alive(self, "the partition");
        double left = cut + self->partition - kit_now();
        s_sleep_ms(left < 0.1 ? left * 1e3 : 100);
    }
    s_watch_step(w, 3, m);
    uint64_t leaked = w[0].have + w[1].have + w[2].have;  /* 0 if C was really cut off */
    char state_at_heal[32];
    knoop_client_t *sa = s_client(self, ids[A]);
    s_peer_state(sa, ids[C], state_at_heal, sizeof state_at_heal);
    knoop_client_destroy(&sa);

    /* Heal; from here on only the journals are read (a status request would
     * wait for the busy broker and hold up the watching). */
    double heal_wall = self->heal_ms = s_wall_ms();
    s_signal_all(self, px, 3, SIGUSR2);
    double heal = kit_now(), deadline = heal + 600;
    size_t done = 0;
    while (kit_now() < deadline) {
        s_check_interrupt(self);
        s_check_alive(self, "W6");
        done = s_watch_step(w, 3, m);
        if (done == 3)
            break;
        s_sleep_ms(5);
    }
    /* When A and B logged their link to C up again (millisecond stamps). */
    double link_a = s_log_link_up(self, ids[A], ids[C], heal_wall - 1);
    double link_b = s_log_link_up(self, ids[B], ids[C], heal_wall - 1);
    for (size_t i = 0; i < 3; i++)
        knoop_journal_destroy(&w[i].j);
    bool complete = done == 3;
    double brokers_at = w[0].at > w[1].at ? w[0].at : w[1].at;

    end_t e;
    s_end_workload(self, &e);
    s_print_mesh(self, "W6");
    printf("\"messages\":%zu,\"request_items\":%zu,\"partition_planned_s\":%.1f,"
           "\"partition_s\":%.2f,\"publish_s\":%.3f,\"publish_msgs_per_s\":%.0f,"
           "\"broker_c_acked_s\":%.3f,\"publish_fits\":%s,\"held_elsewhere_during_partition\":%llu,"
           "\"a_link_to_c_at_heal\":\"%s\",\"complete\":%s,"
           "\"link_up_s\":{\"a\":%.3f,\"b\":%.3f},"
           "\"brokers_converged_s\":%.3f,\"broker_converged_s\":{\"a\":%.3f,\"b\":%.3f},"
           "\"node_converged_s\":%.3f,\"held\":{\"a\":%llu,\"b\":%llu,\"node\":%llu},"
           "\"peer_links_lost\":%u,",
           m, self->batch, self->partition, heal - cut, r.secs, (double) m / r.secs,
           c_acked - cut, c_acked - cut <= self->partition ? "true" : "false",
           (unsigned long long) leaked, state_at_heal, complete ? "true" : "false",
           link_a > 0 ? (link_a - heal_wall) / 1e3 : -1.0,
           link_b > 0 ? (link_b - heal_wall) / 1e3 : -1.0,
           w[0].at > 0 && w[1].at > 0 ? brokers_at - heal : -1.0,
           w[0].at > 0 ? w[0].at - heal : -1.0, w[1].at > 0 ? w[1].at - heal : -1.0,
           w[2].at > 0 ? w[2].at - heal : -1.0, (unsigned long long) w[0].have,
           (unsigned long long) w[1].have, (unsigned long long) w[2].have, e.links_lost);
    s_print_tail(&e);
}

/* ---- main ---- */

/* ---- W7: 1,000 partners on a 3-broker mesh ---- */

/* Resident memory of a running process, KiB (VmRSS), or 0. */
static long s_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* User + system CPU seconds of a running process so far, or 0. */
static double s_cpu_now(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* after the name: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        return 0;
    return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

/* A broker's gate counters from its status (refused_over_cap and
 * handshake_timeouts), added to out. */
static void s_gate_counts(bench_t *self, const char *id, uint64_t out[2])
{
    knoop_client_t *c = s_client(self, id);
    json_t *o = s_status(c);
    json_t *g = o ? json_object_get(o, "gate") : NULL;
    out[0] += (uint64_t) json_integer_value(json_object_get(g, "refused_over_cap"));
    out[1] += (uint64_t) json_integer_value(json_object_get(g, "handshake_timeouts"));
    json_decref(o);
    knoop_client_destroy(&c);
}

/* Wait until `count()` reaches n, or `secs` pass; returns the time taken
 * (s) or -1. */
static double s_wait_partners(bench_t *self, partners_t *ps, size_t (*count)(const partners_t *),
                              size_t n, double secs, const char *during)
{
    double t0 = kit_now(), deadline = t0 + secs;
    while (kit_now() < deadline) {
        s_check_interrupt(self);
        s_check_alive(self, during);
        if (count(ps) >= n)
            return kit_now() - t0;
        s_sleep_ms(10);
    }
    return -1;
}

/* Until every message published has been acknowledged by its broker and
 * received by every other member of its group; the time (s) or -1. */
static double s_w7_drain(bench_t *self, partners_t *ps, double secs)
{
    double t0 = kit_now(), deadline = t0 + secs;
    while (kit_now() < deadline) {
        s_check_interrupt(self);
        s_check_alive(self, "W7");
        uint64_t pub, acked, got, due;
        partners_progress(ps, &pub, &acked, &got, &due);
        if (acked >= pub && got >= due)
            return kit_now() - t0;
        s_sleep_ms(20);
    }
    return -1;
}

static void s_w7(bench_t *self)
{
    size_t n = self->partners;
    fprintf(stderr, "bench_pubsub: W7 %zu partners on a 3-broker mesh, groups of %zu, 1 msg/s "
            "each for %.0f s, then a restart of the brokers\n", n, self->group, self->w7_seconds);
    s_workload_dir(self, "w7");
    /* A test root issues every partner's certificate. */
    knoop_key_t *root = NULL;
    knoop_cert_t rc_cert;
    char path[FILE_LEN];
    snprintf(path, sizeof path, "%s/w7-root.cert", self->trust);
    int64_t now = (int64_t) time(NULL);
    if (knoop_key_generate("w7-root", "root", &root) ||
        knoop_key_cert(root, now - 3600, now + 400 * 86400, &rc_cert) ||
        knoop_cert_issue(&rc_cert, root) || knoop_cert_write(&rc_cert, path))
        s_die(self, "cannot make the W7 root certificate %s", path);
    const char *ids[3] = { BROKER_ID, BROKER_B, BROKER_C };
    int port[3], peer_port[3][3];
    char ep[3][64];
    if (self->ports[0])
        memcpy(port, self->ports, sizeof port);
    else
        s_ports(self, port, 3);
    for (size_t k = 0; k < 3; k++) {
        snprintf(ep[k], sizeof ep[k], "tcp://127.0.0.1:%d", port[k]);
        for (size_t o = 0; o < 3; o++)
            peer_port[k][o] = port[o];
    }
    partners_opts_t po = { .n = n, .group = self->group, .nbrokers = 3, .trust_dir = self->trust,
                           .root = root, .type = self->type, .payload = self->payload.data,
                           .payload_len = self->payload.len, .rate = 1,
                           .per_address = self->nat };
    for (size_t k = 0; k < 3; k++) {
        po.broker_id[k] = ids[k];
        po.broker_ep[k] = ep[k];
    }
    double t_keys = kit_now();
    partners_t *ps = self->ps = partners_new(&po);
    knoop_key_destroy(&root);
    if (!ps)
        s_die(self, "cannot make the W7 partners");
    t_keys = kit_now() - t_keys;
    s_start_mesh(self, ids, port, peer_port);
    s_wait_mesh(self, ids, 3);
    pid_t pid[3];
    long rss0[3], rss_idle[3], rss_load[3];
    for (size_t k = 0; k < 3; k++) {
        pid[k] = self->procs[k].pid;
        rss0[k] = s_rss_kib(pid[k]);
    }
    double link_limit = 120 + (double) n / 10;

    /* 1. All connect; until each is linked, caught up. */
    partners_mark(ps);
    if (partners_start(ps))
        s_die(self, "cannot start the W7 partners");
    double linked_s = s_wait_partners(self, ps, partners_ready, n, link_limit, "W7's start");
    if (linked_s < 0)
        fprintf(stderr, "bench_pubsub: W7: only %zu of %zu partners linked and caught up "
                "within %.0f s\n", partners_ready(ps), n, link_limit);

    /* 2. Idle: what the sessions cost at rest (heartbeats, anti-entropy). */
    s_sleep_ms(1000);
    double cpu_a[3], cpu_b[3], idle_pct[3], idle_total = 0;
    for (size_t k = 0; k < 3; k++)
        cpu_a[k] = s_cpu_now(pid[k]);
    double t_idle = kit_now();
    while (kit_now() - t_idle < self->idle_seconds) {
        s_check_interrupt(self);
        s_check_alive(self, "W7's idle window");
        s_sleep_ms(50);
    }
    t_idle = kit_now() - t_idle;
    long rss_delta = 0;
    for (size_t k = 0; k < 3; k++) {
        cpu_b[k] = s_cpu_now(pid[k]);
        idle_pct[k] = 100 * (cpu_b[k] - cpu_a[k]) / t_idle;
        idle_total += idle_pct[k];
        rss_idle[k] = s_rss_kib(pid[k]);
        rss_delta += rss_idle[k] - rss0[k];
    }

    /* 3. Load: 1 msg/s each for w7_seconds, latencies sampled. */
    for (size_t k = 0; k < 3; k++)
        cpu_a[k] = s_cpu_now(pid[k]);
    partners_sample(ps, true);
    partners_publish(ps, true);
    double t_load = kit_now();
    while (kit_now() - t_load < self->w7_seconds) {
        s_check_interrupt(self);
        s_check_alive(self, "W7's load");
        s_sleep_ms(50);
    }
    partners_publish(ps, false);
    t_load = kit_now() - t_load;
    double load_drain_s = s_w7_drain(self, ps, 60);
    partners_sample(ps, false);
    double load_pct[3], load_total = 0;
    for (size_t k = 0; k < 3; k++) {
        cpu_b[k] = s_cpu_now(pid[k]);
        load_pct[k] = 100 * (cpu_b[k] - cpu_a[k]) / t_load;
        load_total += load_pct[k];
        rss_load[k] = s_rss_kib(pid[k]);
    }
    uint64_t gate[2] = { 0, 0 };
    for (size_t k = 0; k < 3; k++)
        s_gate_counts(self, ids[k], gate);

    /* 4. The brokers restart at once while the partners go on publishing;
     * every partner must find its broker again (new handshake, HELLO) and
     * catch up on what its group published. */
    partners_publish(ps, true);
    s_sleep_ms(1500);
    double t_kill = kit_now();
    for (size_t k = 0; k < 3; k++)
        kill(self->procs[k].pid, SIGTERM);
    for (size_t k = 0; k < 3; k++) {
        proc_t *p = &self->procs[k];
        double deadline = kit_now() + 10;
        while (p->running && kit_now() < deadline) {
            s_reap(p, WNOHANG);
            if (p->running)
                s_sleep_ms(10);
        }
        if (p->running) {
            kill(p->pid, SIGKILL);
            s_reap(p, 0);
        }
        p->retired = true;
        /* its log moves aside: the new one is waited for on its own */
        char old[FILE_LEN];
        snprintf(old, sizeof old, "%s/%.64s.1.log", self->wdir, p->name);
        if (rename(p->log, old) == 0)
            memcpy(p->log, old, sizeof old);
    }
    /* The old brokers are gone: any WELCOME from now on is a new one's. */
    double t_start = kit_now();
    double down_s = t_start - t_kill;
    partners_mark(ps);
    s_start_mesh(self, ids, port, peer_port);
    double listening_s = kit_now() - t_start;
    double relinked_s = s_wait_partners(self, ps, partners_welcomed, n, link_limit,
                                        "W7's restart");
    if (relinked_s >= 0)
        relinked_s = kit_now() - t_start;
    double caught_s = relinked_s < 0 ? -1
                    : s_wait_partners(self, ps, partners_ready, n, link_limit, "W7's restart");
    if (caught_s >= 0)
        caught_s = kit_now() - t_start;
    else
        fprintf(stderr, "bench_pubsub: W7: after the restart only %zu of %zu partners linked, "
                "%zu caught up within %.0f s\n", partners_welcomed(ps), n, partners_ready(ps),
                link_limit);
    partners_publish(ps, false);
    double restart_drain_s = s_w7_drain(self, ps, 60);
    for (size_t k = 0; k < 3; k++)
        s_gate_counts(self, ids[k], gate);
    partners_stop(ps);
    partners_result_t r;
    partners_result(ps, &r);

    end_t e;
    s_end_workload(self, &e);
    s_print_mesh(self, "W7");
    printf("\"partners\":%zu,\"group\":%zu,\"per_address\":%zu,\"msgs_per_s_per_partner\":1,"
           "\"seconds\":%.1f,\"keys_s\":%.3f,\"linked_s\":%.3f,\"all_linked\":%s,",
           n, self->group, self->nat ? self->nat : 1, t_load, t_keys, linked_s, linked_s >= 0 ? "true" : "false");
    printf("\"rss_kib\":{\"before\":[%ld,%ld,%ld],\"idle\":[%ld,%ld,%ld],\"load\":[%ld,%ld,%ld]},"
           "\"rss_per_session_kib\":%.1f,", rss0[0], rss0[1], rss0[2], rss_idle[0], rss_idle[1],
           rss_idle[2], rss_load[0], rss_load[1], rss_load[2], (double) rss_delta / (double) n);
    printf("\"idle_s\":%.1f,\"idle_cpu_pct\":{\"total\":%.2f,\"a\":%.2f,\"b\":%.2f,\"c\":%.2f},"
           "\"load_cpu_pct\":{\"total\":%.2f,\"a\":%.2f,\"b\":%.2f,\"c\":%.2f},",
           t_idle, idle_total, idle_pct[0], idle_pct[1], idle_pct[2], load_total, load_pct[0],
           load_pct[1], load_pct[2]);
    double mean = 0;
    for (size_t i = 0; i < r.nlat; i++)
        mean += r.lat_ms[i];
    mean = r.nlat ? mean / (double) r.nlat : 0;
    printf("\"latency_ms\":{\"samples\":%zu,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f,"
           "\"mean\":%.2f},\"load_drain_s\":%.3f,", r.nlat, kit_pct(r.lat_ms, r.nlat, 50),
           kit_pct(r.lat_ms, r.nlat, 90), kit_pct(r.lat_ms, r.nlat, 99),
           r.nlat ? r.lat_ms[r.nlat - 1] : 0.0, mean, load_drain_s);
    printf("\"restart\":{\"stop_s\":%.3f,\"listening_s\":%.3f,\"relinked_s\":%.3f,"
           "\"caught_up_s\":%.3f,\"complete\":%s,\"drain_s\":%.3f},", down_s, listening_s,
           relinked_s, caught_s,
           caught_s >= 0 ? "true" : "false", restart_drain_s);
    printf("\"published\":%llu,\"acked\":%llu,\"deliveries_due\":%llu,\"delivered\":%llu,"
           "\"missing\":%llu,\"duplicates\":%llu,\"gaps\":%llu,\"sessions\":%llu,\"resets\":%llu,"
           "\"errors_received\":%llu,\"frames_refused\":%llu,"
           "\"gate\":{\"refused_over_cap\":%llu,\"handshake_timeouts\":%llu},",
           (unsigned long long) r.published, (unsigned long long) r.acked,
           (unsigned long long) r.expected, (unsigned long long) r.delivered,
           (unsigned long long) (r.expected > r.delivered ? r.expected - r.delivered : 0),
           (unsigned long long) r.duplicates, (unsigned long long) r.gaps,
           (unsigned long long) r.sessions, (unsigned long long) r.resets,
           (unsigned long long) r.errors, (unsigned long long) r.refused_frames,
           (unsigned long long) gate[0], (unsigned long long) gate[1]);
    s_print_tail(&e);
    partners_destroy(&self->ps);
}

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: bench_pubsub [DIR] [--quick] [--only W1,...,W7] [--keep] [--bin BUILD_DIR]\n"
        "                    [--messages N] [--batch R] [--window W] [--nodes K] [--catchup M]\n"
        "                    [--fill-publish] [--seconds S] [--rate R] [--threads T]\n"
        "                    [--partition P] [--anti-entropy-ms MS] [--opaque]\n"
        "                    [--trace PREFIX] [--partners N] [--group G]\n"
        "                    [--w7-seconds S] [--idle-seconds S] [--ports A,B,C] [--w7-nat K]\n"
        "\n"
        "Starts knoop-broker and knoop-node processes (keys, trust store, policy made\n"
        "in a temporary directory under DIR, default the current directory: put it on\n"
        "the disk under test, not tmpfs) on 127.0.0.1 with CURVE and durable journals,\n"
        "and prints one JSON line per workload:\n"
        "  W1  durable publish rate: N messages (100,000; --quick 20,000) in requests\n"
        "      of R (1,000) items; rate acknowledged by the node, time until the\n"
        "      broker has acknowledged all; --window W keeps W requests in flight\n"
        "      (1, stop-and-wait; at most 64), in W1, W2, W5, W6 and the W3 fill\n"
        "  W2  fan-out to K (25) subscribing nodes: N published; time until the last\n"
        "      node's journal holds all; aggregate delivery rate\n"
        "  W3  catch-up: a fresh node subscribes after the broker holds M messages\n"
        "      (1,000,000; --quick 100,000); time until its journal holds all. The\n"
        "      broker journal is filled directly (chained, signed, verified) unless\n"
        "      --fill-publish sends the M through a node and the broker\n"
        "  W4  latency at R (1,000) msg/s for S (10; --quick 5) seconds: single-item\n"
        "      requests paced from T (8) threads; subscriber on another node\n"
        "      (--trace PREFIX: each W4 sample to PREFIX.remote.tsv, PREFIX.local.tsv)\n"
        "  W5  mesh throughput: brokers A, B, C in a full mesh (--anti-entropy-ms,\n"
        "      3000); N published on A; time until a subscribing node on C, and\n"
        "      every broker, holds all N\n"
        "  W6  re-convergence: C's peer links run through proxies that are cut for P\n"
        "      (60; --quick 10) seconds while N are published on C; after healing,\n"
        "      time until A, B and a subscribing node on A hold all N\n"
        "  W7  (only with --only W7) N (1,000) partners in this process, each with its\n"
        "      own key, certificate (issued by a test root) and CURVE session, spread\n"
        "      over a 3-broker mesh (--ports, else free ports); groups of G (10)\n"
        "      subscribe to their group's topics; idle window (--idle-seconds, 10;\n"
        "      --quick 3), then 1 msg/s each for S (--w7-seconds, 60; --quick 10),\n"
        "      then all three brokers restart at once: broker RSS per session, idle\n"
        "      CPU, time until all are linked and caught up, p99 delivery latency;\n"
        "      --w7-nat K: K partners of each broker share one source address, as\n"
        "      behind a NAT (default: each its own)\n"
        "Payloads: 256-byte knoop.crisis.v1.SitRep (--opaque: bench.Opaque bytes).\n"
        "Binaries: BUILD_DIR/broker/knoop-broker, BUILD_DIR/nodes/knoop-node and, for\n"
        "W6, BUILD_DIR/tests/knoop-test-proxy; BUILD_DIR defaults to the directory\n"
        "above this program's.\n");
}

static size_t s_size_arg(bench_t *self, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        s_die(self, "%s needs a value", argv[*i]);
    char *end;
    unsigned long long v = strtoull(argv[++*i], &end, 10);
    if (*end || v == 0)
        s_die(self, "%s: not a positive number: %s", argv[*i - 1], argv[*i]);
    return (size_t) v;
}

int main(int argc, char **argv)
{
    bench_t b = { .base = ".", .batch = 1000, .window = 1, .nodes = 25, .rate = 1000,
                  .pub_threads = 8, .anti_entropy_ms = 3000, .partners = 1000, .group = 10 };
    bench_t *self = &b;
    size_t messages = 0, catchup = 0;
    double seconds = 0, partition = 0, w7_seconds = 0, idle_seconds = 0;
    const char *bindir = NULL;
    bool only_given = false;
    /* the options that set one value: a flag, a positive number, or a text */
    enum { FLAG, SIZE, UINT, SECS, TEXT };
    const struct {
        const char *name;
        int kind;
        void *to;
        const char *what; /* TEXT: what the value is, for "needs" */
    } opt[] = {
        { "--quick", FLAG, &self->quick, NULL },
        { "--keep", FLAG, &self->keep, NULL },
        { "--opaque", FLAG, &self->opaque, NULL },
        { "--fill-publish", FLAG, &self->fill_publish, NULL },
        { "--messages", SIZE, &messages, NULL },
        { "--batch", SIZE, &self->batch, NULL },
        { "--window", SIZE, &self->window, NULL },
        { "--nodes", SIZE, &self->nodes, NULL },
        { "--catchup", SIZE, &catchup, NULL },
        { "--partners", SIZE, &self->partners, NULL },
        { "--group", SIZE, &self->group, NULL },
        { "--w7-nat", SIZE, &self->nat, NULL },
        { "--rate", UINT, &self->rate, NULL },
        { "--threads", UINT, &self->pub_threads, NULL },
        { "--anti-entropy-ms", UINT, &self->anti_entropy_ms, NULL },
        { "--seconds", SECS, &seconds, NULL },
        { "--partition", SECS, &partition, NULL },
        { "--w7-seconds", SECS, &w7_seconds, NULL },
        { "--idle-seconds", SECS, &idle_seconds, NULL },
        { "--trace", TEXT, &self->trace, "a file prefix" },
        { "--bin", TEXT, &bindir, "a build directory" },
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0;
        while (k < sizeof opt / sizeof *opt && strcmp(a, opt[k].name))
            k++;
        if (k < sizeof opt / sizeof *opt) {
            switch (opt[k].kind) {
            case FLAG:
                *(bool *) opt[k].to = true;
                break;
            case SIZE:
                *(size_t *) opt[k].to = s_size_arg(self, argc, argv, &i);
                break;
            case UINT:
                *(unsigned *) opt[k].to = (unsigned) s_size_arg(self, argc, argv, &i);
                break;
            case SECS:
                *(double *) opt[k].to = (double) s_size_arg(self, argc, argv, &i);
                break;
            default:
                if (i + 1 >= argc)
                    s_die(self, "%s needs %s", a, opt[k].what);
                *(const char **) opt[k].to = argv[++i];
            }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--ports")) {
            if (i + 1 >= argc || sscanf(argv[i + 1], "%d,%d,%d", &self->ports[0], &self->ports[1],
                                        &self->ports[2]) != 3 ||
                self->ports[0] <= 0 || self->ports[1] <= 0 || self->ports[2] <= 0)
                s_die(self, "--ports needs three TCP ports, e.g. 7401,7402,7403");
            i++;
        } else if (!strcmp(a, "--only")) {
            if (i + 1 >= argc)
                s_die(self, "--only needs a list, e.g. W1,W5");
            only_given = true;
            char list[64];
            snprintf(list, sizeof list, "%s", argv[++i]);
            for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                if ((t[0] != 'W' && t[0] != 'w') || t[1] < '1' || t[1] > '7' || t[2])
                    s_die(self, "--only: unknown workload '%s' (W1 ... W7)", t);
                self->only[t[1] - '0'] = true;
            }
        } else if (a[0] == '-') {
            s_usage(stderr);
            return 2;
        } else
            self->base = a;
    }
    if (!only_given)
        for (int w = 1; w <= 6; w++)
            self->only[w] = true;
    self->messages = messages ? messages : self->quick ? 20000 : 100000;
    self->catchup = catchup ? catchup : self->quick ? 100000 : 1000000;
    self->seconds = seconds > 0 ? seconds : self->quick ? 5 : 10;
    self->partition = partition > 0 ? partition : self->quick ? 10 : 60;
    self->w7_seconds = w7_seconds > 0 ? w7_seconds : self->quick ? 10 : 60;
    self->idle_seconds = idle_seconds > 0 ? idle_seconds : self->quick ? 3 : 10;
    if (self->group < 2 || self->group > self->partners)
        s_die(self, "--group: from 2 to --partners (%zu)", self->partners);
    if (self->partners > 60000)
        s_die(self, "--partners: at most 60000 (one loopback address each)");
    if (strlen(self->base) > BASE_MAX)
        s_die(self, "DIR: at most %d characters", BASE_MAX);
    if (self->nodes > MAX_NODES)
        s_die(self, "--nodes: at most %d", MAX_NODES);
    if (self->pub_threads > 16)
        s_die(self, "--threads: at most 16");
    if (self->window < 1 || self->window > KNOOP_CLIENT_PIPELINE)
        s_die(self, "--window: 1 to %d requests in flight", KNOOP_CLIENT_PIPELINE);
    if (self->batch > 65536)
        s_die(self, "--batch: at most 65536 (the API's limit per request)");

    /* The daemons, next to this program's build directory unless told. */
    char exe[PATH_MAX], build[PATH_MAX];
    if (bindir)
        snprintf(build, sizeof build, "%s", bindir);
    else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            s_die(self, "cannot find this program's path; give --bin BUILD_DIR");
        exe[n] = 0;
        *strrchr(exe, '/') = 0;               /* .../bench */
        char *up = strrchr(exe, '/');
        if (up)
            *up = 0;                          /* the build directory */
        snprintf(build, sizeof build, "%s", exe);
    }
    snprintf(self->bin_broker, sizeof self->bin_broker, "%.4000s/broker/knoop-broker", build);
    snprintf(self->bin_node, sizeof self->bin_node, "%.4000s/nodes/knoop-node", build);
    snprintf(self->bin_proxy, sizeof self->bin_proxy, "%.4000s/tests/knoop-test-proxy", build);
    if (access(self->bin_broker, X_OK) || access(self->bin_node, X_OK))
        s_die(self, "no knoop-broker or knoop-node under %s (build first, or give --bin)", build);
    if (self->only[6] && access(self->bin_proxy, X_OK))
        s_die(self, "W6 needs %s (built with everything else; or give --bin, or leave W6 out "
              "with --only)", self->bin_proxy);

    /* Our handlers, not czmq's: Ctrl-C stops the daemons and removes the
     * directory. No SA_RESTART, so that waits return. */
    setenv("ZSYS_SIGHANDLER", "false", 1);
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    knoop_crypto_init();
    knoop_log_set_level(KNOOP_LOG_WARN);
    srand((unsigned) time(NULL) ^ (unsigned) getpid());

    if (self->only[7] && partners_prepare(self->partners))
        s_die(self, "W7 cannot hold %zu sessions in this process", self->partners);
    s_setup(self);
    void (*const workload[])(bench_t *) = { NULL, s_w1, s_w2, s_w3, s_w4, s_w5, s_w6, s_w7 };
    for (int w = 1; w <= 7; w++)
        if (self->only[w])
            workload[w](self);
    s_cleanup(self);
    return 0;
}
