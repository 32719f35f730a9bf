/*
 * web_store.h — what knoop-web knows of its node's picture, shared between
 * the thread that reads the node (the main thread) and the HTTP threads that
 * stream it to browsers as Server-Sent Events.
 *
 * The store holds, as ready-made SSE text:
 *   - the last `history` messages (a ring), each "event: msg" with the
 *     message as JSON (msg_json.h) on one data line;
 *   - for every state key (status, topic, key) the winning message (highest
 *     hlc, then origin — the rule of the node's beeld), so the picture
 *     survives a history ring that has moved on;
 *   - the latest node status, "event: status".
 * A browser that connects gets the winners no longer in the ring, then the
 * ring, then the status, then every change as it comes (web_store_read).
 *
 * Threading: this is the one structure the threads share; every function
 * takes the store's mutex. web_store_read blocks on a condition variable
 * until there is news, the timeout passes or web_store_close is called.
 */
#ifndef KNOOP_WEB_STORE_H
#define KNOOP_WEB_STORE_H

#include "knoop.h"

typedef struct web_store_t web_store_t;

/* A reader's place: start zeroed, end with web_cursor_clear. */
typedef struct {
    uint64_t    next;          /* next ring id to send */
    uint64_t    status_ver;    /* status version sent */
    bool        started;       /* winners before the ring sent */
    knoop_buf_t pending;       /* SSE text taken from the store, not yet sent */
    size_t      sent;          /* bytes of pending already sent */
} web_cursor_t;

void web_cursor_clear(web_cursor_t *cur);

/* New store keeping `history` messages (at least 16). NULL on ENOMEM. */
web_store_t *web_store_new(size_t history);
void web_store_destroy(web_store_t **self_p);

/* Add a message. json: its one-line JSON text (copied). state: status, topic
 * and key joined by '\n', or NULL when the message has no state key; hlc
 * and origin decide the state key's winner. KNOOP_ENOMEM on failure. */
int  web_store_add(web_store_t *self, const char *json, const char *state, uint64_t hlc,
                   const char *origin);
/* Replace the status (one-line JSON, copied) when it differs from the last. */
int  web_store_set_status(web_store_t *self, const char *json);
/* Wake every reader and make them end. */
void web_store_close(web_store_t *self);

/* Copy SSE text for what cur has not seen into buf (at most max bytes; the
 * rest stays in cur->pending for the next call), waiting up to timeout_ms
 * when there is nothing. Returns the bytes copied, 0 after the timeout (send
 * a keep-alive), -1 when the store is closed or memory ran out. */
long web_store_read(web_store_t *self, web_cursor_t *cur, char *buf, size_t max,
                    int timeout_ms);

/* Counts for the log and tests: messages held in the ring, state keys. */
void web_store_counts(web_store_t *self, size_t *ring, size_t *winners);

#endif
