/*
 * client.h — the local client library: what an application (and the knoop
 * CLI) uses to talk to its partner's node over the local API (api.h).
 *
 * One knoop_client_t is one DEALER connection to the node's API endpoint
 * (default ipc://DATA/api.sock). Not thread-safe: one client per thread.
 */
#ifndef KNOOP_CLIENT_H
#define KNOOP_CLIENT_H

#include "api.h"
#include "msg.h"

typedef struct knoop_client_t knoop_client_t;

/* Connect to a node's API endpoint. The connection is lazy (ZeroMQ): a node
 * that is not running shows as a timeout on the first call.
 * Errors: KNOOP_EINVAL (bad endpoint), KNOOP_EIO. */
int  knoop_client_new(const char *endpoint, knoop_client_t **out);
void knoop_client_destroy(knoop_client_t **self_p);

/* Publish items; returns when the node has committed them (or timeout_ms
 * passed: KNOOP_EIO, "node did not answer"). results[i] receive the assigned
 * (origin, topic, seq), strings valid until the next call on this client.
 * A refusal of item i by the node returns its error code with the node's
 * reason in err. */
int  knoop_client_publish(knoop_client_t *self, const knoop_api_item_t *items, size_t n,
                          knoop_api_seq_t *results, int timeout_ms, char *err, size_t err_size);

/* Start a subscription. Deliveries then arrive through knoop_client_next. */
int  knoop_client_subscribe(knoop_client_t *self, const char *pattern, const char *durable,
                            bool from_start, uint64_t since_ms, uint32_t status,
                            int timeout_ms, char *err, size_t err_size);
/* Next delivered message of the subscription: *position and the envelope
 * bytes (valid until the next call). KNOOP_ENOTFOUND on timeout. Messages
 * the client has already returned in this process (position <= last) are
 * skipped, so a node that redelivers after a restart shows nothing twice. */
int  knoop_client_next(knoop_client_t *self, uint64_t *position, const uint8_t **env,
                       size_t *len, int timeout_ms);
/* Acknowledge everything up to position (durable subscriptions commit it). */
int  knoop_client_ack(knoop_client_t *self, uint64_t position);

/* The node's status as JSON text (malloc'd, caller frees). */
int  knoop_client_status(knoop_client_t *self, char **json, int timeout_ms);

/* The current picture: calls fn once per state-key winner. */
typedef int (knoop_client_msg_fn)(void *arg, const uint8_t *env, size_t len);
int  knoop_client_beeld(knoop_client_t *self, const char *pattern, knoop_client_msg_fn *fn,
                        void *arg, int timeout_ms);

#endif
