/*
 * daemon.h — what knoop-broker and knoop-node share at start-up and while
 * running, written once: the identity they run as (key, id, certificate in
 * the trust store), where their journal and trust store are, the signals,
 * and the SIGHUP reload.
 *
 * A daemon's main() describes itself in a knoop_daemon_t and hands it to
 * knoop_daemon_main, which reads the configuration (flags and --config
 * file, --help, the log level), starts the daemon, installs the signal
 * handlers and runs its loop:
 *   - SIGTERM or SIGINT: the loop returns (the daemon commits what is open),
 *     the daemon is destroyed, exit 0;
 *   - SIGHUP: the loop returns with KNOOP_RUN_AGAIN, the configuration is
 *     read again (the same command line, the config file as it is now) and
 *     what can change while running is applied through the daemon's reload
 *     hook: the journal's map limit, the type registry, and the daemon's
 *     files (trust store; the broker's policy, the node's speak-for list),
 *     then the loop runs on. A configuration that no longer reads is logged
 *     and the files are still checked.
 *
 * Threading: knoop_daemon_main runs in the main thread and owns the process's
 * signal dispositions (SIGTERM, SIGINT, SIGHUP handled, SIGPIPE ignored,
 * czmq's own handler off). The other functions are plain and reentrant.
 */
#ifndef KNOOP_DAEMON_H
#define KNOOP_DAEMON_H

#include "config.h"
#include "journal.h"
#include "json.h"
#include "keys.h"
#include "metrics.h"
#include "trust_reload.h"
#include "u64map.h"

#include <stdint.h>

typedef struct {
    const char *prog;                /* "knoop-broker" */
    const char *section;             /* config file section: "broker" */
    const char *summary;             /* --help: one line */
    const char *description;         /* --help: what it does, the signals */
    const knoop_opt_spec_t *spec;    /* options, NULL-terminated */
    /* Check what the spec cannot (ranges, combinations) and start the
     * daemon from cfg, which outlives it, into *daemon. Returns KNOOP_OK, or
     * with *daemon NULL: KNOOP_EINVAL with *exit_status 2 (bad options, said
     * on stderr), or the cause with *exit_status 1 (did not start: logged
     * where it failed; knoop_daemon_main's last line names the cause). */
    int   (*start)(const knoop_config_t *cfg, void **daemon, int *exit_status);
    /* The daemon's loop: returns when *stop is set (knoop.h KNOOP_RUN_AGAIN:
     * to be run again). */
    int   (*run)(void *daemon, volatile int *stop);
    /* SIGHUP, what both daemons can change while running: the journal's map
     * limit in bytes (KNOOP_EINVAL below the current map) and the type
     * registry (path NULL: the built-in one). */
    int   (*set_map_max)(void *daemon, size_t bytes);
    int   (*reload_types)(void *daemon, const char *path);
    /* SIGHUP, then the rest: the daemon's own settings from cfg, the
     * configuration read again (valid during the call only; NULL when it
     * did not read: nothing of it changes), and its files (trust store,
     * policy) checked again through the same code path as its loop's. */
    void  (*reload)(void *daemon, const knoop_config_t *cfg);
    void  (*destroy)(void **daemon_p);
} knoop_daemon_t;

/* The four hooks that only forward to the daemon's class, written once for
 * both daemons: KNOOP_DAEMON_HOOKS(broker) defines s_daemon_run,
 * s_daemon_set_map_max, s_daemon_reload_types and s_daemon_destroy, each
 * calling knoop_broker_<verb> on its knoop_broker_t; KNOOP_DAEMON_HOOK_FIELDS
 * names them in the knoop_daemon_t. A macro rather than a function in
 * daemon.c: lib/ does not know knoop_broker_t or knoop_node_t (broker/ and
 * nodes/ sit above it), and calling a knoop_broker_t * function through a
 * void * function pointer is undefined behaviour. Used at file scope, once
 * per daemon, without a semicolon after it. */
#define KNOOP_DAEMON_HOOKS(cls)                                                   \
    static int s_daemon_run(void *self, volatile int *stop)                       \
    {                                                                             \
        return knoop_##cls##_run(self, stop);                                     \
    }                                                                             \
    static int s_daemon_set_map_max(void *self, size_t bytes)                     \
    {                                                                             \
        return knoop_##cls##_set_map_max(self, bytes);                            \
    }                                                                             \
    static int s_daemon_reload_types(void *self, const char *path)                \
    {                                                                             \
        return knoop_##cls##_reload_types(self, path);                            \
    }                                                                             \
    static void s_daemon_destroy(void **self_p)                                   \
    {                                                                             \
        knoop_##cls##_t *self = *self_p;                                          \
        knoop_##cls##_destroy(&self);                                             \
        *self_p = NULL;                                                           \
    }

#define KNOOP_DAEMON_HOOK_FIELDS                                                  \
    .run = s_daemon_run, .set_map_max = s_daemon_set_map_max,                     \
    .reload_types = s_daemon_reload_types, .destroy = s_daemon_destroy

/* A daemon's whole main(): libsodium, the configuration, start, signals,
 * loop, SIGHUP reloads, stop. Returns the process exit status: 0 after a
 * clean stop or --help, 2 for bad options, 1 when the daemon did not start
 * (logged last: "PROG did not start: " and the cause's knoop_strerror). */
int knoop_daemon_main(const knoop_daemon_t *cls, int argc, char **argv);

/* Monotonic microseconds, for timing a step of the loop (a commit). */
uint64_t knoop_daemon_usecs(void);

/* Where a daemon's journal and trust store are, as absolute paths for the
 * tools on the same machine that read them (knoop bundle export --api),
 * resolved once at start-up (after the journal directory exists); a path
 * that does not resolve is kept as given. */
typedef struct {
    char *data_dir;
    char *trust_dir;
} knoop_daemon_where_t;

/* The heartbeat and the silence timeout both daemons default alike:
 * heartbeat 1000 ms when <= 0, timeout five heartbeats when <= 0. */
void knoop_daemon_timing(int *heartbeat_ms, int *timeout_ms);

/* What both daemons hold from start-up to the end, opened and closed in
 * one order for both. The parts stay fields of each daemon's own object
 * (its files use them by name); this names where they are. */
typedef struct {
    knoop_key_t          **key;
    knoop_trust_t        **trust;
    knoop_trust_watch_t   *trust_stamp;
    char                 **learned;        /* DATA/trust */
    knoop_u64map_t        *trust_applied;  /* trust stream -> seq applied (trust_mesh.h) */
    knoop_typemap_t      **types;          /* NULL: the built-in registry */
    knoop_journal_t      **journal;
    knoop_daemon_where_t  *where;
    knoop_metrics_t      **metrics;        /* opened by the daemon itself (its families) */
} knoop_daemon_parts_t;

typedef struct {
    const char *who;            /* "broker", "node": prefixes the log lines */
    const char *id;
    const char *key_file;
    const char *data;           /* the journal's directory */
    const char *trust_dir;
    const char *types_file;     /* NULL: the built-in type registry */
    unsigned    journal_flags;  /* KNOOP_JOURNAL_* */
    size_t      map_max;        /* the journal's map limit in bytes; 0: none */
} knoop_daemon_setup_t;

/* The identity a daemon runs as, checked at start-up: the key in key_file
 * must be id's, and the trust store (trust_dir plus what the mesh taught,
 * kept in DATA/trust) must hold a certificate of id for that key (after a
 * rotation, either key). Fills the key, the trust store, its stamp and
 * learned (the path DATA/trust); *mine (when not NULL) is borrowed from the
 * trust store: the certificate of the key. On error (logged, naming the file
 * and the cause) those parts are left NULL. */
int  knoop_daemon_identity(const knoop_daemon_setup_t *o, const knoop_daemon_parts_t *p,
                           const knoop_cert_t **mine);
/* After knoop_daemon_identity: load the type registry, open the journal
 * (verifying appends with the trust store) and resolve where it is. Errors (logged, naming the file and the cause):
 * the type registry's or the journal's; what was opened stays in the parts
 * for knoop_daemon_close. */
int  knoop_daemon_open(const knoop_daemon_setup_t *o, const knoop_daemon_parts_t *p);
/* Free every part, the metrics first and the key last, setting each to
 * NULL (or empty); safe on parts never opened, and twice. */
void knoop_daemon_close(const knoop_daemon_parts_t *p);
/* The parts of a daemon object whose fields bear these names (both
 * daemons' do). A macro for the reason KNOOP_DAEMON_HOOKS is one: lib/ does
 * not know knoop_broker_t or knoop_node_t. */
#define KNOOP_DAEMON_PARTS(self)                                                    \
    ((knoop_daemon_parts_t) { .key = &(self)->key, .trust = &(self)->trust,         \
                              .trust_stamp = &(self)->trust_stamp,                  \
                              .learned = &(self)->learned,                          \
                              .trust_applied = &(self)->trust_applied,              \
                              .types = &(self)->types, .journal = &(self)->journal, \
                              .where = &(self)->where, .metrics = &(self)->metrics })

/* Fill *self; KNOOP_ENOMEM when out of memory (nothing left allocated). */
int  knoop_daemon_where_init(knoop_daemon_where_t *self, const char *data, const char *trust_dir);
void knoop_daemon_where_clear(knoop_daemon_where_t *self);

/* Add the keys both daemons' status share to the status object o:
 * "data_dir", "trust_dir", "bundles" {imported, refused} and
 * "trust_reloads" (the trust store loaded again since start: its files
 * changed, or the mesh taught something; knoop_trust_refresh said 1). */
void knoop_daemon_status_where(json_t *o, const knoop_daemon_where_t *where, uint64_t imported,
                               uint64_t imports_refused, uint64_t trust_reloads);

/* The journal's counters both daemons' status shows under "journal", as a
 * new object (the caller owns it and may add its own), and the stats read
 * into *st. NULL when out of memory. */
json_t *knoop_daemon_status_journal(knoop_journal_t *journal, knoop_journal_stats_t *st);
/* While the journal is full (st from knoop_daemon_status_journal), add
 * "storage_alarm" to o: "JOURNAL FULL: ..." or "DISK FULL: ...". */
void knoop_daemon_status_alarm(json_t *o, knoop_journal_t *journal,
                               const knoop_journal_stats_t *st);

#endif
