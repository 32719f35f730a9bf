/* gate.c — caps on connections that have not authenticated yet. See gate.h. */
#include "gate.h"
#include "u64map.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_MAX_PENDING     512
/* Partners behind one NAT address that connect at once (a broker restart)
 * each hold a slot for up to the handshake timeout (gate.h, caveats): 128
 * lets a site of that many in at once, while a flood from one address still
 * leaves the other slots of max_pending to everyone else. */
#define DEFAULT_MAX_PER_ADDRESS 128
#define BITES_LOGGED            4       /* per-address refusals named per summary window */
#define MAX_EVENTS_PER_READ     20000   /* bound the work of one loop pass */
#define SWEEP_MS                250
#define SUMMARY_MS              10000
#define TIMER_SLACK_MS          100     /* libzmq's timers fire on its poll ticks */

typedef struct {
    bool                    used;
    bool                    pending;   /* counted against the caps */
    bool                    refused;   /* shut down by the gate */
    uint64_t                addr;      /* source address key (IPv6: its /64) */
    uint64_t                at;        /* accepted, ms */
    struct sockaddr_storage peer, local;
    socklen_t               peer_len, local_len;
} conn_t;

struct knoop_gate_t {
    knoop_gate_opts_t  opts;
    knoop_sock_t      *server;
    knoop_sock_t      *mon;
    char               endpoint[256];
    conn_t            *conns;      /* indexed by descriptor */
    size_t             nconns;
    knoop_u64map_t     per_addr;   /* address -> pending connections */
    knoop_gate_stats_t st;
    uint64_t           last_sweep;
    /* the current summary window */
    uint64_t           last_summary;
    knoop_gate_stats_t at_summary;
    knoop_u64map_t     win_refused; /* address -> refused in this window */
    uint64_t           top_count;
    char               top_text[INET6_ADDRSTRLEN];
    /* the per-address cap's own lines: each address at most once, and at
     * most BITES_LOGGED addresses, per SUMMARY_MS */
    uint64_t           bite_window;
    size_t             bites_logged;
    knoop_u64map_t     bitten;
    int                last_accept_errno;
};

/* ---- addresses ---- */

/* IPv4 (also IPv4-mapped IPv6) is its own key; IPv6 counts per /64, the
 * block one subscriber line gets. */
static uint64_t s_addr_key(const struct sockaddr_storage *ss, char text[INET6_ADDRSTRLEN])
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *) ss;
        inet_ntop(AF_INET, &a->sin_addr, text, INET6_ADDRSTRLEN);
        return (4ull << 56) | ntohl(a->sin_addr.s_addr);
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ss;
        const uint8_t *b = a->sin6_addr.s6_addr;
        inet_ntop(AF_INET6, &a->sin6_addr, text, INET6_ADDRSTRLEN);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            return (4ull << 56) | ((uint64_t) b[12] << 24) | ((uint64_t) b[13] << 16) |
                   ((uint64_t) b[14] << 8) | b[15];
        return knoop_get_be64(b);
    }
    snprintf(text, INET6_ADDRSTRLEN, "(family %d)", ss->ss_family);
    return 0;
}

static uint64_t s_count(const knoop_u64map_t *m, uint64_t key)
{
    uint64_t v = 0;
    knoop_u64map_get(m, key, &v);
    return v;
}

/* ---- bookkeeping ---- */

static conn_t *s_slot(knoop_gate_t *self, int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t) fd >= self->nconns) {
        size_t n = self->nconns ? self->nconns : 256;
        while (n <= (size_t) fd)
            n *= 2;
        conn_t *nc = realloc(self->conns, n * sizeof *nc);
        if (!nc)
            return NULL;
        memset(nc + self->nconns, 0, (n - self->nconns) * sizeof *nc);
        self->conns = nc;
        self->nconns = n;
    }
    return &self->conns[fd];
}

static void s_unpend(knoop_gate_t *self, conn_t *c)
{
    if (!c->pending)
        return;
    c->pending = false;
    uint64_t n = s_count(&self->per_addr, c->addr);
    knoop_u64map_put(&self->per_addr, c->addr, n ? n - 1 : 0);
    self->st.pending--;
}

static bool s_same_addr(const struct sockaddr_storage *a, socklen_t alen,
                        const struct sockaddr_storage *b, socklen_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Shut the connection on fd down, if fd still is that connection. */
static bool s_refuse(knoop_gate_t *self, int fd, conn_t *c, const char *why)
{
    struct sockaddr_storage peer, local;
    socklen_t pl = sizeof peer, ll = sizeof local;
    memset(&peer, 0, sizeof peer);
    memset(&local, 0, sizeof local);
    if (getpeername(fd, (struct sockaddr *) &peer, &pl) != 0 ||
        getsockname(fd, (struct sockaddr *) &local, &ll) != 0 ||
        !s_same_addr(&peer, pl, &c->peer, c->peer_len) ||
        !s_same_addr(&local, ll, &c->local, c->local_len))
        return false;       /* gone or reused meanwhile: not ours to touch */
    shutdown(fd, SHUT_RDWR);
    s_unpend(self, c);
    c->refused = true;
    self->st.refused_over_cap++;
    char text[INET6_ADDRSTRLEN];
    s_addr_key(&c->peer, text);
    uint64_t n = s_count(&self->win_refused, c->addr) + 1;
    knoop_u64map_put(&self->win_refused, c->addr, n);
    if (n > self->top_count) {
        self->top_count = n;
        snprintf(self->top_text, sizeof self->top_text, "%s", text);
    }
    knoop_debug("gate %s: refused a connection from %s: %s", self->endpoint, text, why);
    return true;
}

/* Over the total cap: refuse the newest pending connection of the address
 * that holds the most. */
static void s_evict(knoop_gate_t *self)
{
    int victim = -1;
    uint64_t best = 0, best_at = 0;
    for (size_t fd = 0; fd < self->nconns; fd++) {
        conn_t *c = &self->conns[fd];
        if (!c->used || !c->pending)
            continue;
        uint64_t n = s_count(&self->per_addr, c->addr);
        if (n > best || (n == best && c->at >= best_at)) {
            best = n;
            best_at = c->at;
            victim = (int) fd;
        }
    }
    if (victim >= 0 && !s_refuse(self, victim, &self->conns[victim],
                                 "too many connections in handshake"))
        s_unpend(self, &self->conns[victim]);   /* stale entry: stop counting it */
}

static void s_accepted(knoop_gate_t *self, int fd)
{
    self->st.accepted++;
    conn_t *c = s_slot(self, fd);
    if (!c)
        return;
    if (c->used) {              /* its end was not seen: forget it */
        s_unpend(self, c);
        self->st.open--;
    }
    memset(c, 0, sizeof *c);
    c->peer_len = sizeof c->peer;
    c->local_len = sizeof c->local;
    if (getpeername(fd, (struct sockaddr *) &c->peer, &c->peer_len) != 0 ||
        getsockname(fd, (struct sockaddr *) &c->local, &c->local_len) != 0) {
        memset(c, 0, sizeof *c);
        return;                 /* already gone */
    }
    char text[INET6_ADDRSTRLEN];
    c->addr = s_addr_key(&c->peer, text);
    c->at = knoop_now_ms();
    c->used = c->pending = true;
    self->st.open++;
    self->st.pending++;
    uint64_t n = s_count(&self->per_addr, c->addr) + 1;
    knoop_u64map_put(&self->per_addr, c->addr, n);
    if (n > self->opts.max_per_address) {
        uint64_t now = knoop_now_ms(), seen;
        if (now - self->bite_window >= SUMMARY_MS) {
            self->bite_window = now;
            self->bites_logged = 0;
            knoop_u64map_clear(&self->bitten);
        }
        if (s_refuse(self, fd, c, "too many connections in handshake from this address") &&
            !knoop_u64map_get(&self->bitten, c->addr, &seen) &&
            self->bites_logged < BITES_LOGGED) {
            /* Said at once, not only in the summary: a site whose partners
             * share one address (NAT) sees its partners refused here. */
            self->bites_logged++;
            knoop_u64map_put(&self->bitten, c->addr, now);
            knoop_warn("gate %s: %s has %zu connections in handshake, the per-address cap; "
                       "more from it are refused at once (partners behind one NAT address "
                       "that connect together need a higher --max-handshakes-per-address)",
                       self->endpoint, text, self->opts.max_per_address);
        }
    }
    else if (self->st.pending > self->opts.max_pending)
        s_evict(self);
}

static void s_disconnected(knoop_gate_t *self, int fd)
{
    if (fd < 0 || (size_t) fd >= self->nconns || !self->conns[fd].used)
        return;
    conn_t *c = &self->conns[fd];
    if (c->pending && !c->refused &&
        knoop_now_ms() - c->at + TIMER_SLACK_MS >= (uint64_t) self->opts.handshake_ms)
        self->st.handshake_timeouts++;
    s_unpend(self, c);
    self->st.open--;
    memset(c, 0, sizeof *c);
}

/* A connection older than the handshake timeout that libzmq has not closed
 * has authenticated: it stops counting against the caps. */
static void s_sweep(knoop_gate_t *self, uint64_t now)
{
    if (now - self->last_sweep < SWEEP_MS)
        return;
    self->last_sweep = now;
    uint64_t limit = (uint64_t) self->opts.handshake_ms + TIMER_SLACK_MS;
    for (size_t fd = 0; fd < self->nconns && self->st.pending; fd++) {
        conn_t *c = &self->conns[fd];
        if (c->used && c->pending && now - c->at > limit)
            s_unpend(self, c);
    }
}

static void s_summary(knoop_gate_t *self, uint64_t now)
{
    const knoop_gate_stats_t *a = &self->at_summary, *b = &self->st;
    uint64_t refused = b->refused_over_cap - a->refused_over_cap;
    uint64_t timeouts = b->handshake_timeouts - a->handshake_timeouts;
    uint64_t failed_accepts = b->accept_failed - a->accept_failed;
    if (!refused && !timeouts && !failed_accepts)
        return;
    if (now - self->last_summary < SUMMARY_MS)
        return;
    char accept_text[160] = "";
    if (failed_accepts)
        snprintf(accept_text, sizeof accept_text, "; %llu accepts failed (%s%s)",
                 (unsigned long long) failed_accepts, strerror(self->last_accept_errno),
                 self->last_accept_errno == EMFILE || self->last_accept_errno == ENFILE
                     ? ": out of descriptors, raise LimitNOFILE or find the flood" : "");
    char top[INET6_ADDRSTRLEN + 64] = "";
    if (refused && self->top_count)
        snprintf(top, sizeof top, ", most from %s (%llu)", self->top_text,
                 (unsigned long long) self->top_count);
    knoop_warn("gate %s: connections that did not authenticate: %llu refused over the caps "
               "(%zu per address, %zu in handshake)%s; %llu closed by the %d ms handshake "
               "timeout%s; now %llu in handshake, %llu open",
               self->endpoint, (unsigned long long) refused, self->opts.max_per_address,
               self->opts.max_pending, top, (unsigned long long) timeouts,
               self->opts.handshake_ms, accept_text, (unsigned long long) b->pending,
               (unsigned long long) b->open);
    self->last_summary = now;
    self->at_summary = self->st;
    knoop_u64map_clear(&self->win_refused);
    self->top_count = 0;
    self->top_text[0] = 0;
}

/* ---- public ---- */

int knoop_gate_new(knoop_sock_t *server, const knoop_gate_opts_t *opts, knoop_gate_t **out)
{
    assert(server && opts && opts->handshake_ms > 0);
    *out = NULL;
    knoop_gate_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    self->opts = *opts;
    if (!self->opts.max_pending)
        self->opts.max_pending = DEFAULT_MAX_PENDING;
    if (!self->opts.max_per_address)
        self->opts.max_per_address = DEFAULT_MAX_PER_ADDRESS;
    if (self->opts.max_per_address > self->opts.max_pending)
        self->opts.max_per_address = self->opts.max_pending;
    self->server = server;
    int rc = knoop_link_monitor_new(server, &self->mon);
    if (rc) {
        free(self);
        return rc;
    }
    /* For the log: the server's endpoint once bound; until then "server". */
    snprintf(self->endpoint, sizeof self->endpoint, "server");
    self->last_summary = 0;
    *out = self;
    return KNOOP_OK;
}

void knoop_gate_destroy(knoop_gate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    knoop_gate_t *self = *self_p;
    knoop_link_monitor_destroy(self->server, &self->mon);
    knoop_u64map_clear(&self->per_addr);
    knoop_u64map_clear(&self->win_refused);
    knoop_u64map_clear(&self->bitten);
    free(self->conns);
    free(self);
    *self_p = NULL;
}

knoop_sock_t *knoop_gate_sock(knoop_gate_t *self)
{
    return self->mon;
}

void knoop_gate_read(knoop_gate_t *self)
{
    if (strcmp(self->endpoint, "server") == 0) {
        char ep[sizeof self->endpoint];
        knoop_sock_endpoint(self->server, ep, sizeof ep);
        if (*ep)
            snprintf(self->endpoint, sizeof self->endpoint, "%s", ep);
    }
    for (int i = 0; i < MAX_EVENTS_PER_READ; i++) {
        knoop_link_event_t event;
        uint32_t value = 0;
        int rc = knoop_link_monitor_read(self->mon, &event, &value);
        if (rc == KNOOP_EAGAIN)
            break;
        if (rc != KNOOP_OK)
            continue;
        switch (event) {
        case KNOOP_LINK_EV_ACCEPTED:
            s_accepted(self, (int) value);
            break;
        case KNOOP_LINK_EV_DISCONNECTED:
            s_disconnected(self, (int) value);
            break;
        case KNOOP_LINK_EV_ACCEPT_FAILED:
            self->st.accept_failed++;
            self->last_accept_errno = (int) value;
            break;
        case KNOOP_LINK_EV_HANDSHAKE_OK:
            self->st.handshakes_ok++;
            break;
        case KNOOP_LINK_EV_HANDSHAKE_REFUSED:
            self->st.handshakes_refused++;
            break;
        case KNOOP_LINK_EV_HANDSHAKE_FAILED:
            self->st.handshakes_failed++;
            break;
        case KNOOP_LINK_EV_OTHER:
            break;
        }
    }
    uint64_t now = knoop_now_ms();
    s_sweep(self, now);
    s_summary(self, now);
}

void knoop_gate_stats(const knoop_gate_t *self, knoop_gate_stats_t *out)
{
    *out = self->st;
}

void knoop_gate_caps(const knoop_gate_t *self, size_t *max_pending, size_t *max_per_address)
{
    *max_pending = self->opts.max_pending;
    *max_per_address = self->opts.max_per_address;
}
