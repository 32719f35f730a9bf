/*
 * node.h — knoop-node as node_main.c starts it: the options, start, run,
 * reload, stop. The node object and its parts are in node_int.h, which only
 * the node's own files include (czmq and the library's internals stay out
 * of this header).
 */
#ifndef KNOOP_NODE_H
#define KNOOP_NODE_H

#include "knoop.h"

typedef struct {
    const char  *id;
    const char  *data;
    const char  *key_file;
    const char  *trust_dir;
    const char *const *brokers;   /* "ID@ENDPOINT" or "ENDPOINT" */
    size_t       nbrokers;
    const char *const *subs;
    size_t       nsubs;
    const char *const *speak_for; /* ids (or "*") a payload may name as sender */
    const char  *types_file;      /* NULL: the built-in registry of topic families */
    size_t       nspeak_for;
    const char  *api;             /* NULL: ipc://DATA/api.sock */
    int          heartbeat_ms;
    int          timeout_ms;
    int          failback_ms;     /* probe a better-ranked broker this often when elsewhere */
    unsigned     journal_flags;
    size_t       map_max;         /* journal map limit in bytes; 0: 1 TiB */
    const char  *metrics;         /* HOST:PORT of the Prometheus endpoint; NULL: none */
    const char  *pair;            /* NULL: not one of a pair; "primary" or "standby" */
    int          takeover_ms;     /* pair: no active instance this long: take over */
    int          settled_margin_ms; /* HELLO's T: complete_hlc minus this (0: 60 s) */
    bool         send_late;       /* send new messages only after their commit (the
                                     default sends them while it syncs) */
} knoop_node_opts_t;

typedef struct knoop_node_t knoop_node_t;

/* Start into *out (the caller destroys it): load key and trust store, open
 * the journal, bind the local API, set up the link. Each failure is logged
 * with the file or endpoint it concerns, and returned (*out NULL): the key's
 * or the trust store's (KNOOP_ENOTFOUND, KNOOP_EPERM: not this id's key or
 * no certificate for it, ...), the journal's (KNOOP_EBUSY: another process
 * has it open for writing; KNOOP_EFULL, KNOOP_ECORRUPT, KNOOP_EVERSION),
 * KNOOP_EBUSY when the API address is in use (knoop_sock_bind), KNOOP_EIO
 * when the metrics address cannot be served, KNOOP_EUNKNOWN, KNOOP_EPERM
 * or KNOOP_EINVAL for a --broker, KNOOP_ENOMEM. */
int  knoop_node_new(const knoop_node_opts_t *opts, knoop_node_t **out);
/* Run until *stop becomes true; commits what is open first. With *stop =
 * KNOOP_RUN_AGAIN it returns without a word about stopping, to be called
 * again (main does so after SIGHUP). */
int  knoop_node_run(knoop_node_t *self, volatile int *stop);
void knoop_node_destroy(knoop_node_t **self_p);
/* The limit the journal's map may grow to, in bytes (0: 1 TiB), changed
 * while running: KNOOP_EINVAL below the map's current size. */
int  knoop_node_set_map_max(knoop_node_t *self, size_t map_max);
/* Read the type registry again (SIGHUP), as knoop_broker_reload_types. */
int  knoop_node_reload_types(knoop_node_t *self, const char *path);
/* Load the trust store again if it changed (the loop checks every second;
 * SIGHUP checks at once), and follow the trust topics of the journal. */
void knoop_node_reload_files(knoop_node_t *self);
/* The partners a payload may name as its sender (--speak-for; "*" any),
 * replaced while running (SIGHUP): ids is copied. KNOOP_EINVAL (nothing
 * changed, the cause logged) when one is neither "*" nor a partner id. */
int  knoop_node_set_speak_for(knoop_node_t *self, const char *const *ids, size_t n);

#endif
