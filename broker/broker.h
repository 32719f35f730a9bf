/*
 * broker.h — knoop-broker as main.c starts it: the options, start, run,
 * reload, stop. The broker object and the steps of the protocol are in
 * broker_int.h, which only the broker's own files include (czmq and the
 * library's internals stay out of this header).
 */
#ifndef KNOOP_BROKER_H
#define KNOOP_BROKER_H

#include "knoop.h"

typedef struct {
    const char *id;
    const char *listen;
    const char *data;
    const char *key_file;
    const char *trust_dir;
    const char *policy_file;
    const char *types_file;       /* NULL: the built-in registry of topic families */
    int         heartbeat_ms;     /* interval of heartbeats to idle nodes */
    int         timeout_ms;       /* a node silent this long is gone */
    int         handshake_ms;     /* a connection not authenticated by then is closed */
    size_t      max_handshakes;   /* connections in handshake at once (0: default) */
    size_t      max_handshakes_per_address;  /* ... from one address (0: default) */
    unsigned    journal_flags;    /* e.g. KNOOP_JOURNAL_RELAXED for benchmarks */
    size_t      map_max;          /* journal map limit in bytes; 0: 1 TiB */
    const char *const *peers;     /* "ID@ENDPOINT" of other brokers */
    size_t      npeers;
    int         anti_entropy_ms;  /* digest comparison with each peer */
    int         settled_margin_ms; /* T of HELLOs to peers: complete_hlc minus this (0: 60 s) */
    const char *api;              /* local status endpoint; NULL: ipc://DATA/api.sock */
    const char *metrics;          /* HOST:PORT of the Prometheus endpoint; NULL: none */
    size_t      fair_share;       /* envelopes one session may put in a loop pass (fair.c); 0: no bound */
    bool        deliver_early;    /* send a batch to live nodes before its commit (handle_publish.c) */
} knoop_broker_opts_t;

typedef struct knoop_broker_t knoop_broker_t;

/* Start into *out (the caller destroys it): load key, trust store, policy;
 * open the journal; start ZAP, bind, self-check. Each failure is logged
 * with the file or endpoint it concerns, and returned (*out NULL): the key's
 * or the trust store's (KNOOP_ENOTFOUND, KNOOP_EPERM: not this id's key or
 * no certificate for it, ...), the policy's, the journal's (KNOOP_EBUSY:
 * another process has it open for writing; KNOOP_EFULL, KNOOP_ECORRUPT,
 * KNOOP_EVERSION), KNOOP_EBUSY when the listen or status address is in
 * use (knoop_sock_bind), KNOOP_EIO when the metrics address cannot be
 * served, KNOOP_EINVAL or KNOOP_EUNKNOWN for a --peer, KNOOP_EPERM when
 * the self-check let a random key in, KNOOP_ENOMEM. */
int  knoop_broker_new(const knoop_broker_opts_t *opts, knoop_broker_t **out);
/* Run until *stop becomes true (set from a signal handler); finishes the
 * open batch first. Returns 0. *stop = KNOOP_RUN_AGAIN returns without a
 * word about stopping, to be called again (main does so after SIGHUP, once
 * it has applied the configuration read again). */
int  knoop_broker_run(knoop_broker_t *self, volatile int *stop);
void knoop_broker_destroy(knoop_broker_t **self_p);
/* The limit the journal's map may grow to, in bytes (0: 1 TiB), changed
 * while running (knoop_journal_set_map_max): KNOOP_EINVAL below the map's
 * current size. */
int  knoop_broker_set_map_max(knoop_broker_t *self, size_t map_max);
/* Read the type registry again (SIGHUP): from path, or the built-in table
 * when path is NULL. All or nothing: on an error (KNOOP_E*, logged with
 * file and line) the registry in force stays. */
int  knoop_broker_reload_types(knoop_broker_t *self, const char *path);
/* Load the policy and the trust store again if their files changed (the
 * loop checks every 200 ms; SIGHUP checks at once): the same code path for
 * both. A policy that does not load is logged and counted, and the rules in
 * force stay; likewise the trust store. */
void knoop_broker_reload_files(knoop_broker_t *self);

#endif
