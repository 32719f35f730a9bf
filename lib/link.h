/*
 * link.h — CurveZMQ links between partners: socket security set-up from
 * knooppunt identity keys, the ZAP handler that authenticates every
 * connecting key against the trust store, the start-up self-check, and
 * framed send/receive on ROUTER sockets. Broker and node share it.
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
 * Threading: the ZAP handler is a czmq actor (its own thread) with its own
 * copy of the trust store, reloaded when the trust directory changes.
 */
#ifndef KNOOP_LINK_H
#define KNOOP_LINK_H

#include <czmq.h>

#include "keys.h"

#define KNOOP_ZAP_DOMAIN "knoop"

/* Secure `sock` as a CURVE server with `key`'s derived Curve25519 keys, the
 * ZAP domain enforced, KNOOP_FRAME_MAX as max message size, a handshake
 * timeout (handshake_ms > 0: a connection not authenticated by then is
 * closed) and an accept backlog of 1024. Call before bind. KNOOP_EIO when an
 * option is refused. */
int knoop_link_curve_server(zsock_t *sock, const knoop_key_t *key, int handshake_ms);

/* Secure `sock` as a CURVE client of the server whose certificate is given.
 * Call before connect. */
int knoop_link_curve_client(zsock_t *sock, const knoop_key_t *key,
                            const knoop_cert_t *server, int handshake_ms);

/* Start the ZAP handler for trust_dir. Only keys whose certificate is valid
 * now are let in; `roles` (NULL: any) is a NULL-terminated list of roles
 * allowed to connect. Every refusal is logged with the key's fingerprint and
 * the reason. NULL when the trust store cannot be loaded or the ZAP endpoint
 * is taken. Destroy with zactor_destroy. Send it "RELOAD" to reload now. */
typedef struct {
    const char *dir;        /* the operator's trust directory */
    const char *learned;    /* what the daemon learned over the mesh, or NULL */
} knoop_zap_src_t;
zactor_t *knoop_zap_new(const char *trust_dir, const char *learned);

/* Prove that the server at endpoint refuses a random key: connect with one
 * and wait for the handshake verdict. KNOOP_OK when refused; KNOOP_EPERM
 * when the random key got in (the caller must refuse to run); KNOOP_EIO
 * when no verdict came within timeout_ms. A bind endpoint like
 * tcp://0.0.0.0:7400 or tcp://\*:7400 is checked through 127.0.0.1. */
int knoop_link_self_check(zsock_t *server, const knoop_cert_t *server_cert, int timeout_ms);

/* The connection property in which our ZAP handler names the Ed25519 key
 * (hex) of the certificate a partner was admitted on. */
#define KNOOP_LINK_KEY_PROP "X-Knoop-Key"

/* Receive one message from a ROUTER socket without blocking: the routing id
 * (replaced in rid), the ZAP User-Id (the authenticated partner id), the
 * Ed25519 key its connection was admitted on (all zero if the connection
 * names none) and one data frame (replaced in data). KNOOP_EAGAIN when
 * nothing is waiting, KNOOP_EMALFORMED for a message that is not exactly
 * [rid, data] (consumed and dropped), KNOOP_EUNKNOWN when it carries no
 * User-Id. */
int knoop_link_recv(zsock_t *router, knoop_buf_t *rid, char user[KNOOP_ID_MAX + 1],
                    uint8_t key[KNOOP_PK_LEN], knoop_buf_t *data);

/* As knoop_link_recv, for a ROUTER without CURVE (the node's local API,
 * reachable only through the file system): no User-Id. */
int knoop_link_recv_plain(zsock_t *router, knoop_buf_t *rid, knoop_buf_t *data);

/* Send one data frame to a peer of a ROUTER without blocking.
 * KNOOP_EBUSY when the peer's pipe is full, KNOOP_EGONE when the peer is
 * gone (the socket must have ZMQ_ROUTER_MANDATORY, see knoop_link_router). */
int knoop_link_send(zsock_t *router, const uint8_t *rid, size_t rid_len,
                    const void *data, size_t len);

/* Send one data frame on a DEALER without blocking: KNOOP_EBUSY when full. */
int knoop_link_send_dealer(zsock_t *dealer, const void *data, size_t len);

/* Receive one data frame from a DEALER without blocking (replaced in data).
 * KNOOP_EAGAIN when nothing waits; KNOOP_EMALFORMED for multi-part. */
int knoop_link_recv_dealer(zsock_t *dealer, knoop_buf_t *data);

/* A ROUTER with the options every knooppunt router wants: mandatory routing
 * (sends to gone peers fail instead of vanishing), no linger, high HWMs (flow
 * control is ours, by credit; nothing may depend on HWM). Not bound. */
zsock_t *knoop_link_router(void);
/* A DEALER likewise. Not connected. */
zsock_t *knoop_link_dealer(void);

#endif
