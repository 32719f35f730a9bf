/*
 * gate.h — the door of a CURVE server socket: every TCP connection from its
 * accept to the end of its handshake, watched through the socket's monitor
 * (knoop_link_monitor_new), so that connections that never authenticate cannot use up the
 * server's descriptors and lock legitimate partners out.
 *
 * What it does, per accepted connection:
 *   - counts it as pending until it authenticates, fails, or is older than
 *     the socket's handshake timeout (libzmq closes it then: ZMQ_HANDSHAKE_IVL
 *     must be set, knoop_link_curve_server does);
 *   - refuses it at once (shutdown(2) of its descriptor; libzmq then closes it)
 *     when its source address already has max_per_address pending, or when
 *     max_pending are pending in total: then the newest pending connection of
 *     the address holding the most is the one refused, so one flooding
 *     address (or a few) cannot crowd out partners connecting from others;
 *   - counts handshake timeouts, refused handshakes and failed accepts
 *     (EMFILE: out of descriptors) and logs them, at most one summary line
 *     per 10 s while it goes on, naming the address that sent the most.
 *
 * Caveats: libzmq 4.3's monitor names no connection in its
 * HANDSHAKE_SUCCEEDED event, so an authenticated connection stays "pending"
 * until its handshake window has passed (its address then holds one slot for
 * at most handshake_ms; caps are meant to be far above what a partner needs).
 * Before shutting a descriptor down the gate checks that it still is the
 * accepted connection (same local and peer address and port): a descriptor
 * closed and reused meanwhile is left alone.
 *
 * Threading: use from the thread that owns the server socket; the monitor
 * is read with knoop_gate_read from that thread's poll loop.
 */
#ifndef KNOOP_GATE_H
#define KNOOP_GATE_H

#include "knoop.h"
#include "link.h"

typedef struct knoop_gate_t knoop_gate_t;

typedef struct {
    int    handshake_ms;      /* the server's handshake timeout (> 0) */
    size_t max_pending;       /* connections in handshake at once; 0: 512 */
    size_t max_per_address;   /* ... from one source address; 0: 128 */
} knoop_gate_opts_t;

typedef struct {
    uint64_t accepted;            /* TCP connections accepted */
    uint64_t handshakes_ok;       /* CURVE handshakes completed (ZAP said yes) */
    uint64_t handshakes_refused;  /* ZAP refused the key (logged by ZAP) */
    uint64_t handshakes_failed;   /* broken greetings, resets before the end */
    uint64_t handshake_timeouts;  /* closed by the handshake timeout */
    uint64_t refused_over_cap;    /* shut down by the gate: too many pending */
    uint64_t accept_failed;       /* accept(2) failed, e.g. EMFILE */
    uint64_t pending;             /* now in handshake */
    uint64_t open;                /* now open (pending or authenticated) */
} knoop_gate_stats_t;

/* Watch `server` (a ROUTER secured with knoop_link_curve_server; call before
 * bind so no connection is missed) into *out. Caps of 0 take the defaults.
 * Errors: KNOOP_EIO (the monitor cannot be set up: logged), KNOOP_ENOMEM. */
int  knoop_gate_new(knoop_sock_t *server, const knoop_gate_opts_t *opts, knoop_gate_t **out);
/* Stop watching; safe on NULL and twice. */
void knoop_gate_destroy(knoop_gate_t **self_p);

/* The monitor socket, for the loop's poll set (knoop_poll_add). */
knoop_sock_t *knoop_gate_sock(knoop_gate_t *self);

/* Take every waiting event: enforce the caps, update the counters, log.
 * Never blocks. Call each loop pass (also when the poll said nothing). */
void knoop_gate_read(knoop_gate_t *self);

void knoop_gate_stats(const knoop_gate_t *self, knoop_gate_stats_t *out);

/* The caps in force (after defaults). */
void knoop_gate_caps(const knoop_gate_t *self, size_t *max_pending, size_t *max_per_address);

#endif
