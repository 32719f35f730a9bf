/*
 * link.h — CurveZMQ links between partners: socket security set-up from
 * knooppunt identity keys, the ZAP handler that authenticates every
 * connecting key against the trust store, the start-up self-check, framed
 * send/receive on ROUTER and DEALER sockets, the monitor of a server
 * socket's connections, and the poll set a daemon's loop waits on. Broker
 * and node share it.
 *
 * The one door to libzmq and czmq: the daemons hold knoop_sock_t and
 * knoop_poll_t and call only the functions below. (czmq.h is still included
 * here for the tests and tools that drive a broker with raw frames on a
 * knoop_link_dealer; the daemons' own headers include no czmq.)
 *
 * Security notes (libzmq 4.3.4):
 *   - a CURVE server lets ANY client in when no ZAP handler answers. The
 *     handler (knoop_zap_new) must run before the server socket binds, the
 *     server socket sets a ZAP domain and ZMQ_ZAP_ENFORCE_DOMAIN, and
 *     knoop_link_self_check proves at start-up that a random key is refused.
 *   - the handler sets the ZAP User-Id to the partner id; the receiving side
 *     reads it from every message (knoop_link_recv) and re-checks it against
 *     its own trust store, so a key revoked while connected stops being
 *     served.
 *
 * Threading: a socket and a poll set belong to the thread that made them.
 * The ZAP handler is a czmq actor (its own thread) with its own copy of the
 * trust store, reloaded when the trust directory changes.
 */
#ifndef KNOOP_LINK_H
#define KNOOP_LINK_H

#include <czmq.h>

#include "keys.h"

/* A libzmq socket (it is czmq's zsock_t: the tests that drive raw frames
 * use it as one). Made by knoop_link_router or knoop_link_dealer, closed by
 * knoop_sock_destroy. */
typedef struct _zsock_t knoop_sock_t;

/* Bind or connect to endpoint (tcp://, ipc://, inproc://). When libzmq
 * refuses (knoop_link_strerror() then says why): KNOOP_EBUSY for an address
 * in use, KNOOP_EINVAL for an endpoint that is malformed, of an unknown
 * transport or not of this machine, KNOOP_EPERM for one this process may
 * not use (a port below 1024, an ipc directory it cannot write),
 * KNOOP_ENOTFOUND for an ipc directory that is not there, else KNOOP_EIO. */
int knoop_sock_bind(knoop_sock_t *self, const char *endpoint);
int knoop_sock_connect(knoop_sock_t *self, const char *endpoint);
/* Close; safe on NULL and twice (sets *self_p to NULL). */
void knoop_sock_destroy(knoop_sock_t **self_p);
/* Refuse inbound messages over `bytes` (the connection is dropped). */
void knoop_sock_set_max_message(knoop_sock_t *self, size_t bytes);
/* How long close may still send what is queued (ms; 0 drops it). */
void knoop_sock_set_linger(knoop_sock_t *self, int ms);
/* Queue messages only on a live connection (a send finds none: it waits). */
void knoop_sock_set_immediate(knoop_sock_t *self, bool on);
/* The endpoint last bound or connected ("" before) into out. */
void knoop_sock_endpoint(knoop_sock_t *self, char *out, size_t size);
/* What libzmq said about the last call that failed in this thread. */
const char *knoop_link_strerror(void);
/* Keep czmq from installing its own SIGINT/SIGTERM handlers (it does with
 * its first socket): for a process that handles them itself. Call before
 * the first socket is made. */
void knoop_link_signals_off(void);

/* A poll set: what a daemon's loop waits on, sockets and plain descriptors
 * (a listening HTTP socket) alike. Filled each pass (clear, add), then
 * waited on; the caller then reads every source without blocking, so the
 * set says only that something is ready. */
typedef struct knoop_poll_t knoop_poll_t;
/* A set for up to `max` sources. NULL when out of memory. */
knoop_poll_t *knoop_poll_new(size_t max);
void knoop_poll_destroy(knoop_poll_t **self_p);
void knoop_poll_clear(knoop_poll_t *self);
/* Wait for input on sock (NULL: nothing added). At most `max` in all: the
 * caller sizes the set for every source it has (asserted). */
void knoop_poll_add(knoop_poll_t *self, knoop_sock_t *sock);
/* Wait for input on a descriptor (< 0: nothing added). */
void knoop_poll_add_fd(knoop_poll_t *self, int fd);
/* Wait up to timeout_ms (0: look only; -1: for ever) for input on any;
 * returns how many are ready, 0 on timeout or when a signal came. */
int  knoop_poll_wait(knoop_poll_t *self, long timeout_ms);

#define KNOOP_ZAP_DOMAIN "knoop"

/* Secure `sock` as a CURVE server with `key`'s derived Curve25519 keys, the
 * ZAP domain enforced, KNOOP_FRAME_MAX as max message size, a handshake
 * timeout (handshake_ms > 0: a connection not authenticated by then is
 * closed) and an accept backlog of 1024. Call before bind. KNOOP_EIO when an
 * option is refused. */
int knoop_link_curve_server(knoop_sock_t *sock, const knoop_key_t *key, int handshake_ms);

/* Secure `sock` as a CURVE client of the server whose certificate is given.
 * Call before connect. */
int knoop_link_curve_client(knoop_sock_t *sock, const knoop_key_t *key,
                            const knoop_cert_t *server, int handshake_ms);

/* Start the ZAP handler for trust_dir (plus `learned`, may be NULL: see
 * knoop_trust_refresh) into *out. Only keys whose certificate is valid now
 * are let in. Every refusal is logged with the key's fingerprint and the
 * reason. Errors: the trust store's (it cannot be loaded: logged),
 * KNOOP_EBUSY (the ZAP endpoint is taken: another handler in this
 * process), KNOOP_ENOMEM, KNOOP_EIO. */
typedef struct _zactor_t knoop_zap_t;     /* czmq's actor: its own thread */
int  knoop_zap_new(const char *trust_dir, const char *learned, knoop_zap_t **out);
/* Reload the trust store now (it also looks every second by itself). */
void knoop_zap_reload(knoop_zap_t *self);
/* Stop the handler thread; safe on NULL and twice. */
void knoop_zap_destroy(knoop_zap_t **self_p);

/* Prove that the server at endpoint refuses a random key: connect with one
 * and wait for the handshake verdict. KNOOP_OK when refused; KNOOP_EPERM
 * when the random key got in (the caller must refuse to run); KNOOP_EIO
 * when no verdict came within timeout_ms. A bind endpoint like
 * tcp://0.0.0.0:7400 or tcp://\*:7400 is checked through 127.0.0.1. */
int knoop_link_self_check(knoop_sock_t *server, const knoop_cert_t *server_cert, int timeout_ms);

/* The connection property in which our ZAP handler names the Ed25519 key
 * (hex) of the certificate a partner was admitted on. */
#define KNOOP_LINK_KEY_PROP "X-Knoop-Key"

/* Receive one message from a ROUTER socket without blocking: the routing id
 * (replaced in rid), the ZAP User-Id (the authenticated partner id), the
 * Ed25519 key its connection was admitted on (all zero if the connection
 * names none) and one data frame (replaced in data). KNOOP_EAGAIN when
 * nothing is waiting, KNOOP_EMALFORMED for a message that is not exactly
 * [rid, data] (consumed and dropped), KNOOP_EUNKNOWN when it carries no
 * User-Id, KNOOP_EINTR when a signal came first, KNOOP_EIO otherwise. */
int knoop_link_recv(knoop_sock_t *router, knoop_buf_t *rid, char user[KNOOP_ID_MAX + 1],
                    uint8_t key[KNOOP_PK_LEN], knoop_buf_t *data);

/* As knoop_link_recv, for a ROUTER without CURVE (the node's local API,
 * reachable only through the file system): no User-Id. */
int knoop_link_recv_plain(knoop_sock_t *router, knoop_buf_t *rid, knoop_buf_t *data);

/* Send one data frame to a peer of a ROUTER without blocking.
 * KNOOP_EBUSY when the peer's pipe is full, KNOOP_EGONE when the peer is
 * gone (the socket must have ZMQ_ROUTER_MANDATORY, see knoop_link_router). */
int knoop_link_send(knoop_sock_t *router, const uint8_t *rid, size_t rid_len,
                    const void *data, size_t len);

/* Send one data frame on a DEALER without blocking: KNOOP_EBUSY when full. */
int knoop_link_send_dealer(knoop_sock_t *dealer, const void *data, size_t len);

/* Receive one data frame from a DEALER without blocking (replaced in data).
 * KNOOP_EAGAIN when nothing waits; KNOOP_EMALFORMED for multi-part. */
int knoop_link_recv_dealer(knoop_sock_t *dealer, knoop_buf_t *data);

/* The same, waiting up to timeout_ms (-1: for ever): KNOOP_ETIMEDOUT when
 * the time ran out (on send: no connection took it), KNOOP_EINTR when a
 * signal came, KNOOP_EIO otherwise (knoop_link_strerror() says why). A
 * multi-part message is received whole and refused, KNOOP_EMALFORMED. */
int knoop_link_send_wait(knoop_sock_t *dealer, const void *data, size_t len, int timeout_ms);
int knoop_link_recv_wait(knoop_sock_t *dealer, knoop_buf_t *data, int timeout_ms);

/* A ROUTER with the options every knooppunt router wants: mandatory routing
 * (sends to gone peers fail instead of vanishing), no linger, high HWMs (flow
 * control is ours, by credit; nothing may depend on HWM). Not bound. */
knoop_sock_t *knoop_link_router(void);
/* A DEALER likewise. Not connected. */
knoop_sock_t *knoop_link_dealer(void);

/* The monitor of a server socket's connections (knoop_gate_t): each
 * connection from its accept to the end of its handshake. */
typedef enum {
    KNOOP_LINK_EV_OTHER,
    KNOOP_LINK_EV_ACCEPTED,          /* value: the connection's descriptor */
    KNOOP_LINK_EV_ACCEPT_FAILED,     /* value: errno of accept(2) */
    KNOOP_LINK_EV_DISCONNECTED,      /* value: the descriptor */
    KNOOP_LINK_EV_HANDSHAKE_OK,
    KNOOP_LINK_EV_HANDSHAKE_REFUSED, /* ZAP said no */
    KNOOP_LINK_EV_HANDSHAKE_FAILED   /* broken greeting, reset, protocol */
} knoop_link_event_t;

/* Start monitoring server (before it binds, so no connection is missed):
 * *out receives the events (poll it, read them with knoop_link_monitor_read).
 * KNOOP_EIO when libzmq refuses (logged). */
int  knoop_link_monitor_new(knoop_sock_t *server, knoop_sock_t **out);
/* Stop monitoring server and close *mon_p; safe when *mon_p is NULL. */
void knoop_link_monitor_destroy(knoop_sock_t *server, knoop_sock_t **mon_p);
/* Take one event without blocking. KNOOP_EAGAIN when none waits,
 * KNOOP_EMALFORMED for one that is not a libzmq event (consumed). */
int knoop_link_monitor_read(knoop_sock_t *mon, knoop_link_event_t *event, uint32_t *value);

#endif
