/*
 * client.h — the local client library: what an application (and the knoop
 * CLI) uses to talk to its partner's node over the local API (api.h).
 *
 * One knoop_client_t is one DEALER connection to the node's API endpoint
 * (default ipc://DATA/api.sock). Not thread-safe: one client per thread.
 *
 * Timeouts are in milliseconds; a negative timeout waits for ever. Every
 * failure leaves its reason (the node's ApiError.reason when the node
 * refused) in knoop_client_error(). The library uses czmq, which installs
 * SIGINT/SIGTERM handlers when the first socket is made (unless
 * ZSYS_SIGHANDLER=false); a call interrupted by a signal returns KNOOP_EINTR.
 *
 * Every call that talks to the node can fail with: KNOOP_EGONE (not sent,
 * so safe to send again), KNOOP_ETIMEDOUT (sent, but no answer in time:
 * the node may still have acted on it), KNOOP_EINTR, or KNOOP_EIO (any
 * other socket failure).
 *
 * What KNOOP_EGONE means exactly: the request could not be handed to a
 * connection to the node before the timeout, and was dropped unsent. The
 * socket queues only on a connection whose handshake completed (ZeroMQ's
 * immediate option), so this is "no connection": the node is not running,
 * not at this endpoint, or its socket cannot be reached. ZeroMQ does not
 * tell the one case it shares a symptom with apart: a node that stopped
 * reading its API while connected, once a million requests wait unread on
 * each side of the connection (the high-water marks of the client's DEALER
 * and the node's ROUTER, knoop_link_dealer and knoop_link_router); a client
 * waits for each reply, so only a client that sent that many without one
 * (acks) can meet it.
 *
 * One subscription per client: subscribing again closes the previous one.
 * Deliveries that arrive while another call waits for its reply are queued
 * for knoop_client_next, at most 4 windows (the node keeps at most one
 * window, 256, unacknowledged in flight).
 */
#ifndef KNOOP_CLIENT_H
#define KNOOP_CLIENT_H

#include "api.h"
#include "msg.h"

typedef struct knoop_client_t knoop_client_t;

/* Connect to a node's API endpoint. The connection is lazy (ZeroMQ): a node
 * that is not running shows as KNOOP_EGONE on the first call.
 * Errors: KNOOP_EINVAL (bad endpoint), KNOOP_ENOMEM, KNOOP_EIO (no socket:
 * e.g. too many open files). */
int  knoop_client_new(const char *endpoint, knoop_client_t **out);
/* Closes the subscription; acks not yet sent get up to a second to leave. */
void knoop_client_destroy(knoop_client_t **self_p);

/* The default endpoint "ipc://$KNOOP_DATA/api.sock" into out.
 * Errors: KNOOP_ENOTFOUND (KNOOP_DATA unset or empty), KNOOP_ETOOBIG. */
int  knoop_client_default_endpoint(char *out, size_t size);

/* Reason of the last failure on this client, for a person ("" if none).
 * Borrowed, valid until the next call on this client. */
const char *knoop_client_error(const knoop_client_t *self);
/* True when the last failure was a refusal by the node (an ApiError: its
 * code and reason), false for a local or transport failure. Lets a caller
 * tell "do not retry" from "try again". */
bool        knoop_client_refused(const knoop_client_t *self);

/* Publish items; returns when the node has committed them (or timeout_ms
 * passed: KNOOP_ETIMEDOUT, "node did not answer"). results[i] receive the assigned
 * (origin, topic, seq), strings valid until the next call on this client.
 * A refusal of item i by the node returns its error code with the node's
 * reason in err. */
int  knoop_client_publish(knoop_client_t *self, const knoop_api_item_t *items, size_t n,
                          knoop_api_seq_t *results, int timeout_ms, char *err, size_t err_size);

/* As knoop_client_publish, and while the node's link is up it waits up to
 * wait_ms for the broker's verdict on each item: results[i].verdict is
 * KNOOP_VERDICT_ACCEPTED (the broker stored it), KNOOP_VERDICT_REFUSED
 * (results[i].reason says why; the node keeps it but the broker will not
 * take it) or KNOOP_VERDICT_STORED (committed by the node only: the link
 * was down, went down, or the wait ran out). *link_up (may be NULL) tells
 * whether the node had a link when it answered. timeout_ms bounds the
 * wait for the node beyond wait_ms. */
int  knoop_client_publish_wait(knoop_client_t *self, const knoop_api_item_t *items, size_t n,
                               knoop_api_seq_t *results, uint32_t wait_ms, int timeout_ms,
                               bool *link_up, char *err, size_t err_size);

/* Pipelining: keep up to KNOOP_CLIENT_PIPELINE publish requests in flight
 * instead of waiting for each reply. knoop_client_publish_send sends one and
 * returns at once with its *ticket (the request id the node's reply
 * carries); knoop_client_publish_recv waits for the reply to one ticket,
 * keeping replies to other tickets that arrive meanwhile. The node takes
 * what arrives together into one commit, so a window of requests costs
 * about one fsync where stop-and-wait costs one each. A request's items
 * may be reused as soon as send returns. recv's n must be the request's
 * item count; results and errors are as for knoop_client_publish_wait
 * (which is send + recv). A ticket whose recv failed (timeout, refusal) is
 * finished: a late reply is dropped.
 * send errors: KNOOP_EINVAL, KNOOP_ETOOBIG, KNOOP_EFULL (the window is
 * full: recv first), KNOOP_EGONE, KNOOP_EINTR, KNOOP_EIO. */
#define KNOOP_CLIENT_PIPELINE 64
int  knoop_client_publish_send(knoop_client_t *self, const knoop_api_item_t *items, size_t n,
                               uint32_t wait_ms, int timeout_ms, uint64_t *ticket,
                               char *err, size_t err_size);
int  knoop_client_publish_recv(knoop_client_t *self, uint64_t ticket, knoop_api_seq_t *results,
                               size_t n, int timeout_ms, bool *link_up, char *err,
                               size_t err_size);
/* Publish requests sent and not yet taken by knoop_client_publish_recv. */
size_t knoop_client_in_flight(const knoop_client_t *self);

/* Start a subscription. Deliveries then arrive through knoop_client_next.
 * status: 0 ACTUAL only, a knoop_status_t, or KNOOP_API_STATUS_ALL.
 * Errors: KNOOP_ETOPIC (pattern), KNOOP_EINVAL (durable name, status, both
 * from_start and since_ms), KNOOP_ETIMEDOUT (no answer), KNOOP_EGONE (no
 * node), KNOOP_EINTR, KNOOP_EIO, or the node's refusal. */
int  knoop_client_subscribe(knoop_client_t *self, const char *pattern, const char *durable,
                            bool from_start, uint64_t since_ms, uint32_t status,
                            int timeout_ms, char *err, size_t err_size);
/* Next delivered message of the subscription: *position and the envelope
 * bytes (valid until the next call). KNOOP_ETIMEDOUT on timeout. Messages
 * the client has already returned in this process (position <= last) are
 * skipped, so a node that redelivers after a restart shows nothing twice
 * (kept across a resubscription under the same durable name). A skipped
 * message the application has acknowledged before is acknowledged again by
 * the client, so that the node, which waits for acks, sends on.
 * Also returns, once queued messages are handed out: an error the node
 * reported about the subscription or an ack (its code, reason in
 * knoop_client_error); or, for good, KNOOP_EFULL when the node sent beyond
 * the window, KNOOP_EMALFORMED when it sent a delivery that does not decode:
 * deliveries were lost, and later ones are dropped rather than handed out
 * past the gap (subscribe again; a durable cursor resumes at the gap). */
int  knoop_client_next(knoop_client_t *self, uint64_t *position, const uint8_t **env,
                       size_t *len, int timeout_ms);
/* Acknowledge everything up to position (durable subscriptions commit it).
 * One-way: a refusal by the node shows in a later knoop_client_next. */
int  knoop_client_ack(knoop_client_t *self, uint64_t position);

/* The node's status as JSON text (malloc'd, caller frees). */
int  knoop_client_status(knoop_client_t *self, char **json, int timeout_ms);
/* A node of a primary/standby pair: become active (promote) or standby
 * (demote), with a reason for its log; *json is its status afterwards
 * (malloc'd, caller frees). The node refuses when it is not one of a pair. */
int  knoop_client_role(knoop_client_t *self, bool active, const char *reason, char **json,
                       int timeout_ms);

/* Hand a bundle's content to the node or broker (KNOOP_API_IMPORT):
 * certificate and revocation list texts and envelopes, checked there
 * against its trust and stored only when everything passes. seal (may be
 * NULL: an unsigned bundle) is a signed bundle's seal (bundle.h), checked
 * there too; require_signed refuses a bundle without one. *json gets the
 * summary (malloc'd, caller frees). A refusal returns its code with the
 * daemon's reason, naming stream and seq or the signer, in
 * knoop_client_error. */
int  knoop_client_import(knoop_client_t *self, const knoop_bytes_t *certs, size_t ncerts,
                         const knoop_bytes_t *revocations, size_t nrevocations,
                         const knoop_bytes_t *envs, size_t nenvs,
                         const struct knoop_bundle_seal *seal, bool require_signed,
                         bool dry_run, char **json, int timeout_ms);

/* The current picture: calls fn once per state-key winner. timeout_ms
 * bounds the wait for each batch. A non-zero return of fn stops the walk
 * and is returned. */
typedef int (knoop_client_msg_fn)(void *arg, const uint8_t *env, size_t len);
int  knoop_client_beeld(knoop_client_t *self, const char *pattern, knoop_client_msg_fn *fn,
                        void *arg, int timeout_ms);

#endif
