/* client.c — the local client library over a DEALER (lib/link.h). See client.h.
 *
 * Every request gets the next id; the call then reads replies until the one
 * with its id arrives. What else arrives meanwhile is sorted out in
 * s_dispatch: deliveries of the active subscription are queued for
 * knoop_client_next (bounded: the node may not have more than the window in
 * flight), errors about the subscription or its acks are kept for
 * knoop_client_next to report, and anything else (a late answer to a call
 * that timed out, a delivery of a closed subscription) is dropped.
 */
#include "client.h"
#include "link.h"
#include "topic.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WINDOW       256                 /* deliveries in flight before acks */
#define S_QUEUE_MSGS   (4 * S_WINDOW)      /* more than the node may send unacked */
#define S_QUEUE_BYTES  ((size_t) S_WINDOW * KNOOP_ENVELOPE_MAX)
#define S_ONEWAY       16                  /* ack/close ids remembered for late errors */
#define S_SEND_MS      1000                /* an ack or close that cannot leave in time */
#define S_LINGER_MS    1000                /* at destroy, for acks still on their way */

/* A publish request sent and not yet answered (pipelining). */
typedef struct {
    uint64_t        id;                    /* 0: free */
    size_t          n;                     /* items sent */
    uint32_t        wait_ms;               /* the node may hold the reply this long */
    bool            done;                  /* rep holds the node's reply ... */
    int             bad;                   /* ... or this: it did not decode */
    knoop_api_rep_t rep;
} s_pending_t;

typedef struct s_batch_t {
    struct s_batch_t *next;
    knoop_api_rep_t   rep;                 /* a DELIVERY */
    size_t            i;                   /* next message to hand out */
} s_batch_t;

struct knoop_client_t {
    knoop_sock_t   *sock;
    knoop_buf_t     in;                    /* the message last received ... */
    bool            in_multi;              /* ... or it had several parts */
    char           *endpoint;
    uint64_t        next_id;
    knoop_buf_t     buf;                   /* encode buffer, reused */
    knoop_api_rep_t last;                  /* the reply publish results point into */
    char            error[512];            /* reason of the last failure */
    bool            refused;               /* ... and it was the node's ApiError */

    /* the subscription */
    uint64_t        sub;                   /* 0: none */
    char           *durable;
    s_batch_t      *head, *tail;
    size_t          queued_msgs, queued_bytes;
    uint64_t        last_pos;              /* highest position handed out */
    uint64_t        app_acked;             /* highest position the application acked */
    uint64_t        skip_ack;              /* a redelivered, skipped position to ack */
    int             sub_err;               /* to report from knoop_client_next */
    char            sub_reason[512];
    bool            sub_refused;           /* sub_err came from an ApiError */
    bool            broken;                /* deliveries were lost: resubscribe */
    uint64_t        oneway[S_ONEWAY];      /* ids of recent acks and closes */
    size_t          oneway_n;
    bool            oneway_sent;           /* set linger at destroy */

    /* publish requests in flight (knoop_client_publish_send) */
    s_pending_t     pending[KNOOP_CLIENT_PIPELINE];
    size_t          npending;
};

static int s_fail(knoop_client_t *self, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(knoop_client_t *self, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
    self->refused = false;
    return rc;
}

static void s_copy_err(const knoop_client_t *self, char *err, size_t err_size)
{
    if (err && err_size)
        snprintf(err, err_size, "%s", self->error);
}

static int64_t s_mono_ms(void)
{
    return (int64_t) knoop_mono_ms();
}

static int64_t s_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : s_mono_ms() + timeout_ms;
}

/* Milliseconds left until deadline: -1 forever, else >= 0. */
static int s_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - s_mono_ms();
    return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int) left;
}

int knoop_client_default_endpoint(char *out, size_t size)
{
    const char *data = getenv("KNOOP_DATA");
    if (!data || !*data)
        return KNOOP_ENOTFOUND;
    int n = snprintf(out, size, "ipc://%s/api.sock", data);
    if (n < 0 || (size_t) n >= size)
        return KNOOP_ETOOBIG;
    return KNOOP_OK;
}

int knoop_client_new(const char *endpoint, knoop_client_t **out)
{
    *out = NULL;
    if (!endpoint || !*endpoint || !strstr(endpoint, "://"))
        return KNOOP_EINVAL;
    knoop_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    self->endpoint = strdup(endpoint);
    self->sock = knoop_link_dealer();
    if (!self->endpoint || !self->sock) {
        int rc = self->endpoint ? KNOOP_EIO : KNOOP_ENOMEM;
        knoop_client_destroy(&self);
        return rc;
    }
    /* Never hang at exit for a node that is not there; queue only on a live
     * connection, so that a request that timed out is not delivered to a
     * node that starts later; and refuse replies beyond the API limit. */
    knoop_sock_set_linger(self->sock, 0);
    knoop_sock_set_immediate(self->sock, true);
    knoop_sock_set_max_message(self->sock, KNOOP_API_MAX);
    if (knoop_sock_connect(self->sock, endpoint) != KNOOP_OK) {
        knoop_client_destroy(&self);
        return KNOOP_EINVAL;
    }
    *out = self;
    return KNOOP_OK;
}

/* ---- the subscription's queue ---- */

static void s_queue_clear(knoop_client_t *self)
{
    while (self->head) {
        s_batch_t *b = self->head;
        self->head = b->next;
        knoop_api_rep_clear(&b->rep);
        free(b);
    }
    self->tail = NULL;
    self->queued_msgs = 0;
    self->queued_bytes = 0;
}

static void s_sub_error(knoop_client_t *self, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_sub_error(knoop_client_t *self, int code, const char *fmt, ...)
{
    if (self->sub_err)
        return;                /* keep the first: it explains the rest */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->sub_reason, sizeof self->sub_reason, fmt, ap);
    va_end(ap);
    self->sub_err = code;
    self->sub_refused = false;
}

/* Take r (a DELIVERY of the active subscription) into the queue. */
static void s_queue_push(knoop_client_t *self, knoop_api_rep_t *r)
{
    size_t n = r->u.delivery.n, bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += r->u.delivery.msgs[i].len;
    if (n == 0 || self->broken) {
        knoop_api_rep_clear(r);
        return;
    }
    if (self->queued_msgs + n > S_QUEUE_MSGS || self->queued_bytes + bytes > S_QUEUE_BYTES) {
        /* The node sent beyond the window. Dropping one batch and handing out
         * later ones would hide a gap, so drop everything from here on: the
         * application resubscribes and a durable cursor resumes at the gap. */
        knoop_api_rep_clear(r);
        self->broken = true;
        self->sub_err = 0;
        s_sub_error(self, KNOOP_EFULL, "node sent more than %d unacknowledged deliveries; "
                    "deliveries from here on were dropped: subscribe again", S_QUEUE_MSGS);
        return;
    }
    s_batch_t *b = calloc(1, sizeof *b);
    if (!b) {
        knoop_api_rep_clear(r);
        self->broken = true;
        s_sub_error(self, KNOOP_ENOMEM, "out of memory queueing deliveries: subscribe again");
        return;
    }
    b->rep = *r;
    memset(r, 0, sizeof *r);
    if (self->tail)
        self->tail->next = b;
    else
        self->head = b;
    self->tail = b;
    self->queued_msgs += n;
    self->queued_bytes += bytes;
}

static bool s_oneway_has(const knoop_client_t *self, uint64_t id)
{
    size_t n = self->oneway_n < S_ONEWAY ? self->oneway_n : S_ONEWAY;
    for (size_t i = 0; i < n; i++)
        if (self->oneway[i] == id)
            return true;
    return false;
}

/* ---- send and receive ---- */

static s_pending_t *s_pending_find(knoop_client_t *self, uint64_t id)
{
    for (size_t i = 0; id && i < KNOOP_CLIENT_PIPELINE; i++)
        if (self->pending[i].id == id)
            return &self->pending[i];
    return NULL;
}

static void s_pending_drop(knoop_client_t *self, s_pending_t *p)
{
    knoop_api_rep_clear(&p->rep);
    memset(p, 0, sizeof *p);
    self->npending--;
}

static int s_send(knoop_client_t *self, const knoop_api_req_t *req, int64_t deadline)
{
    self->buf.len = 0;
    int rc = knoop_api_req_encode(req, &self->buf);
    if (rc == KNOOP_ETOOBIG)
        return s_fail(self, rc, "request of more than %u bytes: send fewer items at a time",
                      KNOOP_API_MAX);
    if (rc)
        return s_fail(self, rc, "cannot encode request: %s", knoop_strerror(rc));
    rc = knoop_link_send_wait(self->sock, self->buf.data, self->buf.len, s_left(deadline));
    /* The socket queues only on a live connection (immediate): a send
     * that could not go in time found no connection to the node (or, in
     * principle, a connected node that left a million requests unread:
     * client.h says what EGONE means). Either way nothing was sent. */
    if (rc == KNOOP_ETIMEDOUT)
        return s_fail(self, KNOOP_EGONE, "node at %s is not reachable (is knoop-node "
                      "running, at this endpoint?); the request was not sent",
                      self->endpoint);
    if (rc == KNOOP_EINTR)
        return s_fail(self, rc, "interrupted by a signal");
    if (rc)
        return s_fail(self, KNOOP_EIO, "cannot send to node at %s: %s", self->endpoint,
                      knoop_link_strerror());
    return KNOOP_OK;
}

/* One message from the node into self->in (self->in_multi when it had
 * several parts: s_dispatch refuses it). KNOOP_ETIMEDOUT when the deadline
 * passed. */
static int s_recv(knoop_client_t *self, int64_t deadline)
{
    int rc = knoop_link_recv_wait(self->sock, &self->in, s_left(deadline));
    self->in_multi = rc == KNOOP_EMALFORMED;
    if (self->in_multi)
        return KNOOP_OK;                   /* a message all the same: s_dispatch refuses it */
    if (rc == KNOOP_OK || rc == KNOOP_ETIMEDOUT)
        return rc;
    if (rc == KNOOP_EINTR)
        return s_fail(self, rc, "interrupted by a signal");
    if (rc == KNOOP_ENOMEM)
        return s_fail(self, rc, "out of memory for a reply of the node");
    return s_fail(self, KNOOP_EIO, "cannot receive from node at %s: %s", self->endpoint,
                  knoop_link_strerror());
}

static int s_oneway(knoop_client_t *self, knoop_api_req_t *req);

/* Sort out one message from the node. Returns 1 when it is the reply to
 * `want` (moved into *rep), 0 when it was queued or dropped, or an error
 * for the call that waits for `want` (0: nobody waits, knoop_client_next). */
static int s_dispatch(knoop_client_t *self, uint64_t want, knoop_api_rep_t *rep)
{
    knoop_api_rep_t r;
    int rc;
    if (self->in_multi) {
        memset(&r, 0, sizeof r);
        rc = KNOOP_EMALFORMED;
    } else {
        rc = knoop_api_rep_decode(&r, self->in.data, self->in.len);
    }

    if (rc) {
        /* A node that speaks another version answers nothing we can use. */
        if (rc == KNOOP_EVERSION)
            return s_fail(self, rc, "node at %s speaks local API version %u, this client %u",
                          self->endpoint, r.version, KNOOP_API_VERSION);
        if (want && (r.id == want || r.id == 0))
            return s_fail(self, rc, "node sent a reply that does not decode: %s",
                          knoop_strerror(rc));
        s_pending_t *p = s_pending_find(self, r.id);
        if (p && !p->done) {
            p->done = true;
            p->bad = rc;
            return 0;
        }
        if (self->sub && (r.id == self->sub || r.id == 0) && !self->broken) {
            /* Messages lost: handing out later ones would hide the gap. */
            self->sub_err = 0;
            s_sub_error(self, rc, "node sent a delivery that does not decode (%s); "
                        "deliveries from here on were dropped: subscribe again",
                        knoop_strerror(rc));
            self->broken = true;
        }
        return 0;
    }
    if (r.kind == KNOOP_API_R_DELIVERY) {
        if (self->sub && r.id == self->sub)
            s_queue_push(self, &r);
        else
            knoop_api_rep_clear(&r);       /* a closed subscription's */
        return 0;
    }
    if (want && r.id == want) {
        *rep = r;
        return 1;
    }
    s_pending_t *p = s_pending_find(self, r.id);
    if (p && !p->done) {
        p->rep = r;                        /* for knoop_client_publish_recv */
        p->done = true;
        return 0;
    }
    if (r.kind == KNOOP_API_R_SUBSCRIBED && r.u.subscribed.sub != self->sub) {
        /* A subscription whose request timed out here: without a close the
         * node would keep it, and its window, until we disconnect. */
        knoop_api_req_t close = { .kind = KNOOP_API_CLOSE, .u.close.sub = r.u.subscribed.sub };
        knoop_api_rep_clear(&r);
        s_oneway(self, &close);
        return 0;
    }
    if (r.kind == KNOOP_API_R_ERROR && self->sub && !self->sub_err &&
        (r.id == self->sub || s_oneway_has(self, r.id))) {
        s_sub_error(self, r.u.error.code, "%s", *r.u.error.reason ? r.u.error.reason
                                                                : knoop_strerror(r.u.error.code));
        self->sub_refused = true;
    }
    knoop_api_rep_clear(&r);
    return 0;
}

/* Wait for the reply with id `want` until deadline. */
static int s_wait(knoop_client_t *self, uint64_t want, int64_t deadline, int timeout_ms,
                  knoop_api_rep_t *rep)
{
    for (;;) {
        int rc = s_recv(self, deadline);
        if (rc == KNOOP_ETIMEDOUT)
            return s_fail(self, rc, "node at %s did not answer within %d ms "
                          "(is knoop-node running?)", self->endpoint, timeout_ms);
        if (rc)
            return rc;
        rc = s_dispatch(self, want, rep);
        if (rc == 1)
            return KNOOP_OK;
        if (rc)
            return rc;
    }
}

/* Send req with a new id and wait for its reply. */
static int s_call(knoop_client_t *self, knoop_api_req_t *req, int timeout_ms,
                  knoop_api_rep_t *rep)
{
    int64_t deadline = s_deadline(timeout_ms);
    req->id = ++self->next_id;
    int rc = s_send(self, req, deadline);
    if (rc)
        return rc;
    return s_wait(self, req->id, deadline, timeout_ms, rep);
}

/* An ApiError reply: its code, its reason in self->error. Clears rep. */
static int s_node_error(knoop_client_t *self, knoop_api_rep_t *rep)
{
    int code = rep->u.error.code;
    s_fail(self, code, "%s", *rep->u.error.reason ? rep->u.error.reason
                                                  : knoop_strerror(code));
    self->refused = true;
    knoop_api_rep_clear(rep);
    return code;
}

static int s_unexpected(knoop_client_t *self, knoop_api_rep_t *rep)
{
    int kind = rep->kind;
    knoop_api_rep_clear(rep);
    return s_fail(self, KNOOP_EMALFORMED, "node answered with an unexpected reply (kind %d)",
                  kind);
}

/* Send req and wait for a reply of kind want: an ApiError comes back as the
 * node's code (its reason in self->error), another kind as KNOOP_EMALFORMED;
 * in both cases rep is cleared. On KNOOP_OK the caller owns rep. */
/* A reply of the kind wanted: an ApiError is the node's refusal, any other
 * kind a protocol error (both clear rep). */
static int s_expect(knoop_client_t *self, knoop_api_rep_t *rep, knoop_api_rep_kind_t want)
{
    if (rep->kind == KNOOP_API_R_ERROR)
        return s_node_error(self, rep);
    if (rep->kind != want)
        return s_unexpected(self, rep);
    return KNOOP_OK;
}

static int s_call_expect(knoop_client_t *self, knoop_api_req_t *req, knoop_api_rep_kind_t want,
                         int timeout_ms, knoop_api_rep_t *rep)
{
    int rc = s_call(self, req, timeout_ms, rep);
    if (rc)
        return rc;
    return s_expect(self, rep, want);
}

/* A request answered with a JSON text (status, role, import): the text is
 * the caller's to free. */
static int s_call_json(knoop_client_t *self, knoop_api_req_t *req, knoop_api_rep_kind_t want,
                       char **json, int timeout_ms)
{
    *json = NULL;
    self->error[0] = '\0';
    self->refused = false;
    knoop_api_rep_t rep;
    int rc = s_call_expect(self, req, want, timeout_ms, &rep);
    if (rc)
        return rc;
    *json = strdup(rep.u.status.json);
    knoop_api_rep_clear(&rep);
    return *json ? KNOOP_OK : s_fail(self, KNOOP_ENOMEM, "out of memory");
}

/* Send a request that gets no reply (ack, close). */
static int s_oneway(knoop_client_t *self, knoop_api_req_t *req)
{
    req->id = ++self->next_id;
    int rc = s_send(self, req, s_deadline(S_SEND_MS));
    if (rc)
        return rc;
    self->oneway[self->oneway_n++ % S_ONEWAY] = req->id;
    self->oneway_sent = true;
    return KNOOP_OK;
}

static void s_sub_end(knoop_client_t *self)
{
    if (self->sub) {
        knoop_api_req_t req = { .kind = KNOOP_API_CLOSE, .u.close.sub = self->sub };
        s_oneway(self, &req);            /* best effort: the node drops it with us */
    }
    s_queue_clear(self);
    self->sub = 0;
    self->sub_err = 0;
    self->broken = false;
    self->oneway_n = 0;
}

void knoop_client_destroy(knoop_client_t **self_p)
{
    knoop_client_t *self = *self_p;
    if (!self)
        return;
    if (self->sock) {
        s_sub_end(self);
        /* Acks still queued would be discarded with linger 0, and a durable
         * subscriber would see its last messages again. */
        if (self->oneway_sent)
            knoop_sock_set_linger(self->sock, S_LINGER_MS);
        knoop_sock_destroy(&self->sock);
    }
    knoop_api_rep_clear(&self->last);
    for (size_t i = 0; i < KNOOP_CLIENT_PIPELINE; i++)
        knoop_api_rep_clear(&self->pending[i].rep);
    knoop_buf_free(&self->buf);
    knoop_buf_free(&self->in);
    free(self->durable);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

const char *knoop_client_error(const knoop_client_t *self)
{
    return self->error;
}

bool knoop_client_refused(const knoop_client_t *self)
{
    return self->refused;
}

/* ---- calls ---- */

int knoop_client_publish(knoop_client_t *self, const knoop_api_item_t *items, size_t n,
                         knoop_api_seq_t *results, int timeout_ms, char *err, size_t err_size)
{
    return knoop_client_publish_wait(self, items, n, results, 0, timeout_ms, NULL, err,
                                     err_size);
}

int knoop_client_publish_wait(knoop_client_t *self, const knoop_api_item_t *items, size_t n,
                              knoop_api_seq_t *results, uint32_t wait_ms, int timeout_ms,
                              bool *link_up, char *err, size_t err_size)
{
    if (!results) {
        int rc = s_fail(self, KNOOP_EINVAL, "nothing to publish");
        s_copy_err(self, err, err_size);
        return rc;
    }
    uint64_t ticket;
    int rc = knoop_client_publish_send(self, items, n, wait_ms, timeout_ms, &ticket, err,
                                       err_size);
    if (rc)
        return rc;
    return knoop_client_publish_recv(self, ticket, results, n, timeout_ms, link_up, err,
                                     err_size);
}

int knoop_client_publish_send(knoop_client_t *self, const knoop_api_item_t *items, size_t n,
                              uint32_t wait_ms, int timeout_ms, uint64_t *ticket,
                              char *err, size_t err_size)
{
    self->error[0] = '\0';
    self->refused = false;
    *ticket = 0;
    int rc = KNOOP_OK;
    if (n == 0 || !items)
        rc = s_fail(self, KNOOP_EINVAL, "nothing to publish");
    else if (n > KNOOP_API_ITEMS)
        rc = s_fail(self, KNOOP_ETOOBIG, "%zu items in one request, at most %d", n,
                    KNOOP_API_ITEMS);
    else if (self->npending == KNOOP_CLIENT_PIPELINE)
        rc = s_fail(self, KNOOP_EFULL, "%d publish requests in flight already: take a reply "
                    "first (knoop_client_publish_recv)", KNOOP_CLIENT_PIPELINE);
    if (rc == KNOOP_OK) {
        knoop_api_req_t req = { .kind = KNOOP_API_PUBLISH, .u.publish = { items, n, wait_ms } };
        req.id = ++self->next_id;
        rc = s_send(self, &req, s_deadline(timeout_ms));
        if (rc == KNOOP_OK) {
            s_pending_t *p = NULL;
            for (size_t i = 0; !p && i < KNOOP_CLIENT_PIPELINE; i++)
                if (!self->pending[i].id)
                    p = &self->pending[i];
            *p = (s_pending_t) { .id = req.id, .n = n, .wait_ms = wait_ms };
            self->npending++;
            *ticket = req.id;
        }
    }
    s_copy_err(self, err, err_size);
    return rc;
}

int knoop_client_publish_recv(knoop_client_t *self, uint64_t ticket, knoop_api_seq_t *results,
                              size_t n, int timeout_ms, bool *link_up, char *err,
                              size_t err_size)
{
    knoop_api_rep_clear(&self->last);
    self->error[0] = '\0';
    self->refused = false;
    int rc = KNOOP_OK;
    knoop_api_rep_t rep;
    memset(&rep, 0, sizeof rep);
    s_pending_t *p = s_pending_find(self, ticket);
    if (!p) {
        rc = s_fail(self, KNOOP_EINVAL, "no publish request %llu in flight",
                    (unsigned long long) ticket);
        goto out;
    }
    if (!results || n != p->n) {
        size_t sent = p->n;
        s_pending_drop(self, p);
        rc = s_fail(self, KNOOP_EINVAL, "room for %zu results, the request had %zu items", n,
                    sent);
        goto out;
    }
    /* The node holds the reply up to wait_ms: wait for it beyond that. */
    if (timeout_ms >= 0 && p->wait_ms)
        timeout_ms = (int) ((int64_t) timeout_ms + p->wait_ms > INT32_MAX
                                ? INT32_MAX : (int64_t) timeout_ms + p->wait_ms);
    int64_t deadline = s_deadline(timeout_ms);
    while (!p->done) {
        rc = s_recv(self, deadline);
        if (rc == KNOOP_ETIMEDOUT)
            rc = s_fail(self, rc, "node at %s did not answer within %d ms "
                        "(is knoop-node running?); the messages may still be published",
                        self->endpoint, timeout_ms);
        if (rc == KNOOP_OK)
            rc = s_dispatch(self, 0, NULL);
        if (rc) {
            s_pending_drop(self, p);     /* a late reply is dropped */
            goto out;
        }
    }
    rep = p->rep;
    memset(&p->rep, 0, sizeof p->rep);
    int bad = p->bad;
    s_pending_drop(self, p);
    if (bad)
        rc = s_fail(self, bad, "node sent a reply that does not decode: %s",
                    knoop_strerror(bad));
    else
        rc = s_expect(self, &rep, KNOOP_API_R_PUBLISHED);   /* a refusal names the item */
    if (rc)
        goto out;
    if (rep.u.published.n != n) {
        size_t got = rep.u.published.n;
        knoop_api_rep_clear(&rep);
        rc = s_fail(self, KNOOP_EMALFORMED, "node confirmed %zu of %zu items", got, n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        results[i] = rep.u.published.items[i];
    if (link_up)
        *link_up = rep.u.published.link_up;
    self->last = rep;
out:
    s_copy_err(self, err, err_size);
    return rc;
}

size_t knoop_client_in_flight(const knoop_client_t *self)
{
    return self->npending;
}

int knoop_client_subscribe(knoop_client_t *self, const char *pattern, const char *durable,
                           bool from_start, uint64_t since_ms, uint32_t status,
                           int timeout_ms, char *err, size_t err_size)
{
    self->error[0] = '\0';
    self->refused = false;
    int rc;
    if (!durable)
        durable = "";
    if (!pattern || knoop_pattern_validate(pattern) != KNOOP_OK) {
        rc = s_fail(self, KNOOP_ETOPIC, "invalid pattern '%s'", pattern ? pattern : "");
        goto out;
    }
    if (*durable && !knoop_name_valid(durable, KNOOP_DURABLE_MAX)) {
        rc = s_fail(self, KNOOP_EINVAL, "invalid durable name '%s' (1..64 of a-z 0-9 _ -)",
                    durable);
        goto out;
    }
    if (!(status <= KNOOP_STATUS_SYSTEM || status == KNOOP_API_STATUS_ALL) ||
        (from_start && since_ms)) {
        rc = s_fail(self, KNOOP_EINVAL, "invalid status filter or start position");
        goto out;
    }
    /* A durable subscriber that subscribes again under its name continues:
     * what it was handed already is not handed out twice. */
    bool resume = *durable && self->durable && !strcmp(durable, self->durable);
    s_sub_end(self);
    if (!resume)
        self->last_pos = self->app_acked = 0;
    self->skip_ack = 0;
    free(self->durable);
    self->durable = NULL;

    knoop_api_req_t req = { .kind = KNOOP_API_SUBSCRIBE,
                            .u.subscribe = { .pattern = pattern, .durable = durable,
                                             .from_start = from_start, .since_ms = since_ms,
                                             .status = status, .window = S_WINDOW } };
    knoop_api_rep_t rep;
    rc = s_call_expect(self, &req, KNOOP_API_R_SUBSCRIBED, timeout_ms, &rep);
    if (rc)
        goto out;
    self->sub = rep.u.subscribed.sub;
    knoop_api_rep_clear(&rep);
    if (*durable && !(self->durable = strdup(durable))) {
        rc = s_fail(self, KNOOP_ENOMEM, "out of memory");
        goto out;
    }
out:
    s_copy_err(self, err, err_size);
    return rc;
}

int knoop_client_next(knoop_client_t *self, uint64_t *position, const uint8_t **env,
                      size_t *len, int timeout_ms)
{
    if (!self->sub)
        return s_fail(self, KNOOP_EINVAL, "no subscription");
    int64_t deadline = s_deadline(timeout_ms);
    for (;;) {
        /* The batch handed out from last time may go now. */
        while (self->head && self->head->i == self->head->rep.u.delivery.n) {
            s_batch_t *b = self->head;
            self->head = b->next;
            if (!self->head)
                self->tail = NULL;
            knoop_api_rep_clear(&b->rep);
            free(b);
        }
        if (self->head) {
            const knoop_api_env_t *e = &self->head->rep.u.delivery.msgs[self->head->i++];
            self->queued_msgs--;
            self->queued_bytes -= e->len;
            if (e->position <= self->last_pos) {
                /* Redelivered: handed out before. The node waits for an ack
                 * of its batch before it sends more; where the application
                 * has acked this position already, ack it again for it. */
                if (e->position <= self->app_acked && e->position > self->skip_ack)
                    self->skip_ack = e->position;
                continue;
            }
            self->last_pos = e->position;
            *position = e->position;
            *env = e->envelope;
            *len = e->len;
            return KNOOP_OK;
        }
        if (self->sub_err) {
            int rc = self->sub_err;
            s_fail(self, rc, "%s", self->sub_reason);
            self->refused = self->sub_refused;
            if (!self->broken)
                self->sub_err = 0;
            return rc;
        }
        if (self->skip_ack) {
            knoop_api_req_t req = { .kind = KNOOP_API_ACK,
                                    .u.ack = { .sub = self->sub, .position = self->skip_ack } };
            self->skip_ack = 0;
            int rc = s_oneway(self, &req);
            if (rc)
                return rc;
        }
        int rc = s_recv(self, deadline);
        if (rc == KNOOP_ETIMEDOUT)
            return s_fail(self, rc, "no message within %d ms", timeout_ms);
        if (rc)
            return rc;
        rc = s_dispatch(self, 0, NULL);
        if (rc < 0)
            return rc;
    }
}

int knoop_client_ack(knoop_client_t *self, uint64_t position)
{
    if (!self->sub)
        return s_fail(self, KNOOP_EINVAL, "no subscription");
    knoop_api_req_t req = { .kind = KNOOP_API_ACK,
                            .u.ack = { .sub = self->sub, .position = position } };
    /* The application's word counts even if it does not reach the node:
     * a redelivery of this position is then acked again (knoop_client_next). */
    if (position > self->app_acked)
        self->app_acked = position;
    return s_oneway(self, &req);
}

int knoop_client_status(knoop_client_t *self, char **json, int timeout_ms)
{
    knoop_api_req_t req = { .kind = KNOOP_API_STATUS };
    return s_call_json(self, &req, KNOOP_API_R_STATUS, json, timeout_ms);
}

int knoop_client_role(knoop_client_t *self, bool active, const char *reason, char **json,
                      int timeout_ms)
{
    knoop_api_req_t req = { .kind = KNOOP_API_ROLE,
                            .u.role = { .active = active, .reason = reason } };
    return s_call_json(self, &req, KNOOP_API_R_STATUS, json, timeout_ms);
}

int knoop_client_import(knoop_client_t *self, const knoop_bytes_t *certs, size_t ncerts,
                        const knoop_bytes_t *revocations, size_t nrevocations,
                        const knoop_bytes_t *envs, size_t nenvs,
                        const struct knoop_bundle_seal *seal, bool require_signed,
                        bool dry_run, char **json, int timeout_ms)
{
    knoop_api_req_t req = { .kind = KNOOP_API_IMPORT,
                            .u.import = { .dry_run = dry_run, .seal = seal,
                                          .require_signed = require_signed,
                                          .certs = certs, .ncerts = ncerts,
                                          .revocations = revocations,
                                          .nrevocations = nrevocations,
                                          .envs = envs, .nenvs = nenvs } };
    return s_call_json(self, &req, KNOOP_API_R_IMPORTED, json, timeout_ms);
}

int knoop_client_beeld(knoop_client_t *self, const char *pattern, knoop_client_msg_fn *fn,
                       void *arg, int timeout_ms)
{
    self->error[0] = '\0';
    self->refused = false;
    if (!pattern || !*pattern)
        pattern = ">";
    if (knoop_pattern_validate(pattern) != KNOOP_OK)
        return s_fail(self, KNOOP_ETOPIC, "invalid pattern '%s'", pattern);
    knoop_api_req_t req = { .kind = KNOOP_API_BEELD, .u.beeld.pattern = pattern };
    knoop_api_rep_t rep;
    int rc = s_call(self, &req, timeout_ms, &rep);
    for (;;) {
        if (rc)
            return rc;
        if (rep.kind == KNOOP_API_R_ERROR)
            return s_node_error(self, &rep);
        if (rep.kind != KNOOP_API_R_BEELD)
            return s_unexpected(self, &rep);
        for (size_t i = 0; i < rep.u.delivery.n; i++) {
            rc = fn(arg, rep.u.delivery.msgs[i].envelope, rep.u.delivery.msgs[i].len);
            if (rc) {
                /* The rest of the picture arrives under an id nobody waits
                 * for any more, and is dropped. */
                knoop_api_rep_clear(&rep);
                return rc;
            }
        }
        bool done = rep.u.delivery.done;
        knoop_api_rep_clear(&rep);
        if (done)
            return KNOOP_OK;
        rc = s_wait(self, req.id, s_deadline(timeout_ms), timeout_ms, &rep);
    }
}
