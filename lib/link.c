/* link.c — CurveZMQ set-up, ZAP handler, self-check, framed I/O. See link.h. */
#include "link.h"
#include "crypto.h"
#include "trust_reload.h"
#include "wire.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93     /* draft option in libzmq 4.3 */
#endif

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

int knoop_link_curve_server(knoop_sock_t *sock, const knoop_key_t *key, int handshake_ms)
{
    uint8_t pk[KNOOP_CURVE_LEN], sk[KNOOP_CURVE_LEN];
    knoop_key_curve(key, pk, sk);
    zsock_set_curve_server(sock, 1);
    zsock_set_curve_publickey_bin(sock, pk);
    zsock_set_curve_secretkey_bin(sock, sk);
    knoop_wipe(sk, sizeof sk);
    zsock_set_zap_domain(sock, KNOOP_ZAP_DOMAIN);
    int one = 1;
    if (zmq_setsockopt(zsock_resolve(sock), ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0) {
        knoop_error("link: ZMQ_ZAP_ENFORCE_DOMAIN refused by libzmq: %s", zmq_strerror(errno));
        return KNOOP_EIO;
    }
    zsock_set_maxmsgsize(sock, (int) KNOOP_FRAME_MAX);
    /* Without it a connection that never completes its handshake holds a
     * descriptor for ever (knoop_gate_t caps how many may be pending). */
    zsock_set_handshake_ivl(sock, handshake_ms);
    /* A burst of connections waits in the kernel's accept queue rather than
     * having its ACKs dropped (libzmq's default is 100). */
    zsock_set_backlog(sock, 1024);
    return zsock_curve_server(sock) == 1 ? KNOOP_OK : KNOOP_EIO;
}

int knoop_link_curve_client(knoop_sock_t *sock, const knoop_key_t *key,
                            const knoop_cert_t *server, int handshake_ms)
{
    uint8_t pk[KNOOP_CURVE_LEN], sk[KNOOP_CURVE_LEN];
    knoop_key_curve(key, pk, sk);
    zsock_set_curve_publickey_bin(sock, pk);
    zsock_set_curve_secretkey_bin(sock, sk);
    knoop_wipe(sk, sizeof sk);
    zsock_set_curve_serverkey_bin(sock, server->curve_pk);
    zsock_set_maxmsgsize(sock, (int) KNOOP_FRAME_MAX);
    zsock_set_handshake_ivl(sock, handshake_ms);
    return KNOOP_OK;
}

/* ---- sockets and the poll set ---- */

/* What libzmq's errno after a refused bind or connect means. */
static int s_endpoint_err(void)
{
    switch (zmq_errno()) {
    case EADDRINUSE:      return KNOOP_EBUSY;
    case EINVAL:
    case EPROTONOSUPPORT:
    case EADDRNOTAVAIL:
    case ENODEV:          return KNOOP_EINVAL;
    default:              return knoop_err_from_errno(zmq_errno());
    }
}

int knoop_sock_bind(knoop_sock_t *self, const char *endpoint)
{
    return zsock_bind(self, "%s", endpoint) < 0 ? s_endpoint_err() : KNOOP_OK;
}

int knoop_sock_connect(knoop_sock_t *self, const char *endpoint)
{
    return zsock_connect(self, "%s", endpoint) != 0 ? s_endpoint_err() : KNOOP_OK;
}

void knoop_sock_destroy(knoop_sock_t **self_p)
{
    zsock_destroy(self_p);
}

void knoop_sock_set_max_message(knoop_sock_t *self, size_t bytes)
{
    zsock_set_maxmsgsize(self, bytes > INT_MAX ? INT_MAX : (int) bytes);
}

void knoop_sock_set_linger(knoop_sock_t *self, int ms)
{
    zsock_set_linger(self, ms);
}

void knoop_sock_set_immediate(knoop_sock_t *self, bool on)
{
    zsock_set_immediate(self, on ? 1 : 0);
}

void knoop_sock_endpoint(knoop_sock_t *self, char *out, size_t size)
{
    char *ep = zsock_last_endpoint(self);
    snprintf(out, size, "%s", ep ? ep : "");
    zstr_free(&ep);
}

const char *knoop_link_strerror(void)
{
    return zmq_strerror(zmq_errno());
}

void knoop_link_signals_off(void)
{
    zsys_handler_set(NULL);
}

struct knoop_poll_t {
    size_t         n, max;
    zmq_pollitem_t items[];
};

knoop_poll_t *knoop_poll_new(size_t max)
{
    knoop_poll_t *self = calloc(1, sizeof *self + max * sizeof self->items[0]);
    if (self)
        self->max = max;
    return self;
}

void knoop_poll_destroy(knoop_poll_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void knoop_poll_clear(knoop_poll_t *self)
{
    self->n = 0;
}

void knoop_poll_add(knoop_poll_t *self, knoop_sock_t *sock)
{
    if (!sock)
        return;
    assert(self->n < self->max);
    self->items[self->n++] = (zmq_pollitem_t) { zsock_resolve(sock), 0, ZMQ_POLLIN, 0 };
}

void knoop_poll_add_fd(knoop_poll_t *self, int fd)
{
    if (fd < 0)
        return;
    assert(self->n < self->max);
    self->items[self->n++] = (zmq_pollitem_t) { NULL, fd, ZMQ_POLLIN, 0 };
}

int knoop_poll_wait(knoop_poll_t *self, long timeout_ms)
{
    int rc = zmq_poll(self->items, (int) self->n, timeout_ms);
    return rc < 0 ? 0 : rc;
}

knoop_sock_t *knoop_link_router(void)
{
    zsock_t *s = zsock_new(ZMQ_ROUTER);
    if (!s)
        return NULL;
    zsock_set_router_mandatory(s, 1);
    zsock_set_linger(s, 0);
    zsock_set_sndhwm(s, 1000000);
    zsock_set_rcvhwm(s, 1000000);
    return s;
}

knoop_sock_t *knoop_link_dealer(void)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!s)
        return NULL;
    zsock_set_linger(s, 0);
    zsock_set_sndhwm(s, 1000000);
    zsock_set_rcvhwm(s, 1000000);
    return s;
}

/* ---- ZAP handler ---- */

typedef struct {
    char          *dir;
    char          *learned;                /* NULL: nothing learned over the mesh */
    knoop_trust_t *trust;
    knoop_trust_watch_t stamp;
    uint64_t       last_check;
} zap_t;

/* Expired certificates are kept so that a refusal can say "expired" rather
 * than "unknown"; the validity is checked at every handshake. Revocation is
 * removing (or rewriting) a cert file: the refresh sees it. */
static int s_zap_refresh(zap_t *z)
{
    int rc = knoop_trust_refresh(NULL, z->dir, z->learned, &z->stamp, &z->trust);
    if (rc == 1)
        knoop_info("zap: trust store %s loaded: %zu certificates", z->dir,
                   knoop_trust_size(z->trust));
    return rc < 0 ? rc : KNOOP_OK;
}

/* The ZAP reply; an accepted one carries the partner's Ed25519 key as the
 * connection property KNOOP_LINK_KEY_PROP (ZMTP metadata: name length, name,
 * value length big-endian, value), so that every message says which of the
 * partner's keys its connection was opened with (knoop_link_recv). */
static void s_zap_reply(zsock_t *handler, const char *req_id, const char *code,
                        const char *text, const char *user, const uint8_t *pk)
{
    zmsg_t *rep = zmsg_new();
    zmsg_addstr(rep, "1.0");
    zmsg_addstr(rep, req_id);
    zmsg_addstr(rep, code);
    zmsg_addstr(rep, text);
    zmsg_addstr(rep, user);
    if (pk) {
        static const char name[] = KNOOP_LINK_KEY_PROP;
        uint8_t meta[1 + sizeof name - 1 + 4 + 2 * KNOOP_PK_LEN + 1];
        size_t n = 0;
        meta[n++] = (uint8_t) (sizeof name - 1);
        memcpy(meta + n, name, sizeof name - 1);
        n += sizeof name - 1;
        uint32_t vlen = 2 * KNOOP_PK_LEN;
        meta[n++] = (uint8_t) (vlen >> 24);
        meta[n++] = (uint8_t) (vlen >> 16);
        meta[n++] = (uint8_t) (vlen >> 8);
        meta[n++] = (uint8_t) vlen;
        knoop_hex_encode((char *) meta + n, pk, KNOOP_PK_LEN);   /* writes a NUL after */
        n += vlen;
        zmsg_addmem(rep, meta, n);
    } else
        zmsg_addmem(rep, NULL, 0);
    zmsg_send(&rep, handler);
}

static void s_zap_handle(zap_t *z, zsock_t *handler)
{
    zmsg_t *req = zmsg_recv(handler);
    if (!req)
        return;
    char *version = zmsg_popstr(req), *req_id = zmsg_popstr(req),
         *domain = zmsg_popstr(req), *address = zmsg_popstr(req),
         *identity = zmsg_popstr(req), *mechanism = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    const char *code = "400", *text = "refused";
    const char *user = "";
    const uint8_t *pk = NULL;
    char fp[17] = "-";
    if (!version || strcmp(version, "1.0") != 0 || !req_id) {
        knoop_error("zap: malformed request");
    } else if (!domain || strcmp(domain, KNOOP_ZAP_DOMAIN) != 0) {
        text = "wrong ZAP domain";
        knoop_warn("zap: refused connection from %s: ZAP domain '%s'", address ? address : "?",
                   domain ? domain : "");
    } else if (!mechanism || strcmp(mechanism, "CURVE") != 0 || !cred ||
               zframe_size(cred) != KNOOP_CURVE_LEN) {
        text = "CURVE required";
        knoop_warn("zap: refused connection from %s: mechanism %s", address ? address : "?",
                   mechanism ? mechanism : "?");
    } else {
        const knoop_cert_t *c = knoop_trust_by_curve(z->trust, zframe_data(cred));
        /* The fingerprint `knoop keys show` prints: of the Ed25519 key. An
         * unknown key shows only its CurveZMQ key (the Ed25519 key cannot be
         * told from it): its fingerprint, and in full, as `curve-key`. */
        if (c)
            knoop_fingerprint(fp, c->pk, KNOOP_PK_LEN);
        else
            knoop_fingerprint(fp, zframe_data(cred), KNOOP_CURVE_LEN);
        if (!c) {
            char curve_hex[2 * KNOOP_CURVE_LEN + 1];
            knoop_hex_encode(curve_hex, zframe_data(cred), KNOOP_CURVE_LEN);
            text = "unknown key";
            knoop_warn("zap: refused unknown key %s from %s: no certificate in the trust store "
                       "has curve-key %s (compare `knoop keys show` on the partner's side)",
                       fp, address, curve_hex);
        } else if (knoop_cert_revoked(c, (int64_t) time(NULL))) {
            char at[21];
            knoop_time_format(at, c->revoked_at);
            text = "key revoked";
            knoop_warn("zap: refused %s (key %s) from %s: key revoked at %s", c->id, fp,
                       address, at);
        } else if (strcmp(c->role, KNOOP_ROLE_ROOT) == 0) {
            text = "a root key does not connect";
            knoop_warn("zap: refused %s (key %s) from %s: a root key never connects", c->id,
                       fp, address);
        } else if (knoop_cert_check_time(c, (int64_t) time(NULL)) != KNOOP_OK) {
            char until[21];
            knoop_time_format(until, c->valid_until);
            text = "certificate not valid now";
            knoop_warn("zap: refused %s (key %s) from %s: certificate valid until %s", c->id, fp,
                       address, until);
        } else {
            code = "200";
            text = "OK";
            user = c->id;
            pk = c->pk;
            knoop_debug("zap: accepted %s (key %s) from %s", c->id, fp, address);
        }
    }
    if (req_id)
        s_zap_reply(handler, req_id, code, text, user, pk);
    zstr_free(&version);
    zstr_free(&req_id);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&identity);
    zstr_free(&mechanism);
    zframe_destroy(&cred);
    zmsg_destroy(&req);
}

typedef struct {
    const char *dir;        /* the operator's trust directory */
    const char *learned;    /* what the daemon learned over the mesh, or NULL */
} zap_src_t;

static void s_zap_actor(zsock_t *pipe, void *args)
{
    const zap_src_t *src = args;
    zap_t z = { .dir = strdup(src->dir), .learned = src->learned ? strdup(src->learned) : NULL };
    zsock_t *handler = NULL;
    int rc = KNOOP_OK;
    if (!z.dir || (src->learned && !z.learned))
        rc = KNOOP_ENOMEM;
    else if ((rc = s_zap_refresh(&z)) != KNOOP_OK)
        ;                                   /* logged there; nothing bound */
    else if (!(handler = zsock_new(ZMQ_REP)))
        rc = KNOOP_EIO;
    else if (zsock_bind(handler, ZAP_ENDPOINT) != 0) {
        knoop_error("zap: cannot bind %s (another ZAP handler in this process?)", ZAP_ENDPOINT);
        rc = KNOOP_EBUSY;
    }
    /* zactor_new takes the signal and drops its value: how the start went
     * follows it, for knoop_zap_new. */
    zsock_signal(pipe, rc ? 1 : 0);
    zsock_send(pipe, "i", rc);
    if (rc) {
        zsock_destroy(&handler);            /* never bound */
        knoop_trust_destroy(&z.trust);
        knoop_trust_watch_close(&z.stamp);
        free(z.dir);
        free(z.learned);
        return;
    }
    zpoller_t *poller = zpoller_new(pipe, handler, NULL);
    for (;;) {
        void *which = zpoller_wait(poller, 1000);
        if (which == pipe) {
            char *cmd = zstr_recv(pipe);
            bool term = !cmd || strcmp(cmd, "$TERM") == 0;
            if (cmd && strcmp(cmd, "RELOAD") == 0) {
                z.stamp.stamp = 0;
                s_zap_refresh(&z);
            }
            zstr_free(&cmd);
            if (term)
                break;
        } else if (which == handler) {
            s_zap_handle(&z, handler);
        } else if (zpoller_terminated(poller)) {
            break;
        }
        /* Revocation is removing a cert file: the directory changes. */
        uint64_t now = knoop_now_ms();
        if (now - z.last_check >= 1000) {
            z.last_check = now;
            s_zap_refresh(&z);
        }
    }
    zpoller_destroy(&poller);
    /* Closing a socket is finished later by libzmq's reaper thread, and the
     * inproc endpoint stays taken until then; unbinding frees it at once, so
     * a handler started right after this one has stopped can bind. */
    zsock_unbind(handler, "%s", ZAP_ENDPOINT);
    zsock_destroy(&handler);
    knoop_trust_destroy(&z.trust);
    knoop_trust_watch_close(&z.stamp);
    free(z.dir);
    free(z.learned);
}

int knoop_zap_new(const char *trust_dir, const char *learned, knoop_zap_t **out)
{
    /* The actor copies both before it signals, so stack storage is fine. */
    zap_src_t src = { .dir = trust_dir, .learned = learned };
    *out = NULL;
    zactor_t *a = zactor_new(s_zap_actor, &src);
    if (!a)
        return KNOOP_ENOMEM;
    int rc = KNOOP_EIO;
    if (zsock_recv(a, "i", &rc) != 0)
        rc = KNOOP_EIO;
    if (rc) {
        zactor_destroy(&a);
        return rc;
    }
    *out = a;
    return KNOOP_OK;
}

void knoop_zap_reload(knoop_zap_t *self)
{
    zstr_send(self, "RELOAD");
}

void knoop_zap_destroy(knoop_zap_t **self_p)
{
    zactor_destroy(self_p);
}

/* ---- self-check ---- */

int knoop_link_self_check(knoop_sock_t *server, const knoop_cert_t *server_cert, int timeout_ms)
{
    char *ep = zsock_last_endpoint(server);
    if (!ep)
        return KNOOP_EIO;
    char target[512];
    const char *port = strrchr(ep, ':');
    if (strncmp(ep, "tcp://", 6) == 0 && port &&
        (strstr(ep, "0.0.0.0") || strstr(ep, "://*") || strstr(ep, "[::]")))
        snprintf(target, sizeof target, "tcp://127.0.0.1%s", port);
    else
        snprintf(target, sizeof target, "%s", ep);
    zstr_free(&ep);

    uint8_t pk[KNOOP_CURVE_LEN], sk[KNOOP_CURVE_LEN];
    /* A random Curve25519 key pair: derive the public key from a random
     * Ed25519 identity, as real partners do. */
    uint8_t epk[KNOOP_PK_LEN], esk[KNOOP_SK_LEN], seed[KNOOP_SEED_LEN];
    knoop_sign_keypair(epk, esk, seed);
    knoop_curve_from_sign_pk(pk, epk);
    knoop_curve_from_sign_sk(sk, esk);
    knoop_wipe(esk, sizeof esk);
    knoop_wipe(seed, sizeof seed);

    void *ctx = zsys_init();
    void *client = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(client, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(client, ZMQ_CURVE_SERVERKEY, server_cert->curve_pk, KNOOP_CURVE_LEN);
    zmq_setsockopt(client, ZMQ_CURVE_PUBLICKEY, pk, KNOOP_CURVE_LEN);
    zmq_setsockopt(client, ZMQ_CURVE_SECRETKEY, sk, KNOOP_CURVE_LEN);
    knoop_wipe(sk, sizeof sk);
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://knoop-selfcheck-%p", client);
    zmq_socket_monitor(client, mon_ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(mon, mon_ep);
    zmq_setsockopt(mon, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    int rc = KNOOP_EIO;
    if (zmq_connect(client, target) == 0) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, mon, 0) >= 2) {
            uint16_t id;
            memcpy(&id, zmq_msg_data(&ev), 2);
            rc = id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? KNOOP_EPERM : KNOOP_OK;
            /* the second frame (endpoint) follows */
            zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT);
        }
        zmq_msg_close(&ev);
    }
    zmq_socket_monitor(client, NULL, 0);
    zmq_close(mon);
    zmq_close(client);
    return rc;
}

/* ---- framed I/O ---- */

/* One frame into msg: KNOOP_EAGAIN when none came (flags ZMQ_DONTWAIT, or
 * the receive timeout), KNOOP_EINTR when a signal came first, else
 * KNOOP_EIO. */
static int s_recv_frame(void *sock, zmq_msg_t *msg, int flags)
{
    if (zmq_msg_recv(msg, sock, flags) >= 0)
        return KNOOP_OK;
    return errno == EAGAIN ? KNOOP_EAGAIN : errno == EINTR ? KNOOP_EINTR : KNOOP_EIO;
}

static void s_drain(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more)
        if (zmq_msg_recv(&m, sock, 0) < 0)
            break;
    zmq_msg_close(&m);
}

/* [rid, data] from a ROUTER; the data frame stays in *m for metadata. */
static int s_recv_pair(void *s, knoop_buf_t *rid, zmq_msg_t *m)
{
    int rc = s_recv_frame(s, m, ZMQ_DONTWAIT);
    if (rc)
        return rc;
    rid->len = 0;
    knoop_buf_append(rid, zmq_msg_data(m), zmq_msg_size(m));
    if (!zmq_msg_more(m))
        return KNOOP_EMALFORMED;
    rc = s_recv_frame(s, m, 0);
    if (rc)
        return KNOOP_EMALFORMED;
    if (zmq_msg_more(m)) {
        s_drain(s);
        return KNOOP_EMALFORMED;
    }
    return KNOOP_OK;
}

int knoop_link_recv_plain(knoop_sock_t *router, knoop_buf_t *rid, knoop_buf_t *data)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = s_recv_pair(zsock_resolve(router), rid, &m);
    if (rc == KNOOP_OK) {
        data->len = 0;
        rc = knoop_buf_append(data, zmq_msg_data(&m), zmq_msg_size(&m));
    }
    zmq_msg_close(&m);
    return rc;
}

int knoop_link_recv(knoop_sock_t *router, knoop_buf_t *rid, char user[KNOOP_ID_MAX + 1],
                    uint8_t key[KNOOP_PK_LEN], knoop_buf_t *data)
{
    void *s = zsock_resolve(router);
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = s_recv_pair(s, rid, &m);
    if (rc) {
        zmq_msg_close(&m);
        return rc;
    }
    const char *uid = zmq_msg_gets(&m, "User-Id");
    if (!uid || !*uid || strlen(uid) > KNOOP_ID_MAX) {
        zmq_msg_close(&m);
        return KNOOP_EUNKNOWN;
    }
    strcpy(user, uid);
    const char *hex = zmq_msg_gets(&m, KNOOP_LINK_KEY_PROP);
    if (!hex || strlen(hex) != 2 * KNOOP_PK_LEN ||
        knoop_hex_decode(key, KNOOP_PK_LEN, hex) != KNOOP_PK_LEN)
        memset(key, 0, KNOOP_PK_LEN);
    data->len = 0;
    rc = knoop_buf_append(data, zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    return rc;
}

int knoop_link_send(knoop_sock_t *router, const uint8_t *rid, size_t rid_len,
                    const void *data, size_t len)
{
    void *s = zsock_resolve(router);
    if (zmq_send(s, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? KNOOP_EBUSY : errno == EHOSTUNREACH ? KNOOP_EGONE : KNOOP_EIO;
    /* Once the first frame is queued the rest goes atomically. */
    if (zmq_send(s, data, len, 0) < 0)
        return KNOOP_EIO;
    return KNOOP_OK;
}

int knoop_link_send_dealer(knoop_sock_t *dealer, const void *data, size_t len)
{
    if (zmq_send(zsock_resolve(dealer), data, len, ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? KNOOP_EBUSY : KNOOP_EIO;
    return KNOOP_OK;
}

/* One single-part message from a DEALER into data: KNOOP_EAGAIN when none
 * came (flags ZMQ_DONTWAIT, or the receive timeout), KNOOP_EINTR, KNOOP_EIO,
 * or KNOOP_EMALFORMED for a multi-part message (received whole). */
static int s_recv_single(void *s, knoop_buf_t *data, int flags)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = s_recv_frame(s, &m, flags);
    if (rc == KNOOP_OK && zmq_msg_more(&m)) {
        s_drain(s);
        rc = KNOOP_EMALFORMED;
    }
    if (rc == KNOOP_OK) {
        data->len = 0;
        rc = knoop_buf_append(data, zmq_msg_data(&m), zmq_msg_size(&m));
    }
    zmq_msg_close(&m);
    return rc;
}

int knoop_link_recv_dealer(knoop_sock_t *dealer, knoop_buf_t *data)
{
    int rc = s_recv_single(zsock_resolve(dealer), data, ZMQ_DONTWAIT);
    return rc == KNOOP_EINTR ? KNOOP_EIO : rc;
}

int knoop_link_send_wait(knoop_sock_t *dealer, const void *data, size_t len, int timeout_ms)
{
    zsock_set_sndtimeo(dealer, timeout_ms);
    if (zmq_send(zsock_resolve(dealer), data, len, 0) >= 0)
        return KNOOP_OK;
    return errno == EAGAIN ? KNOOP_ETIMEDOUT : errno == EINTR ? KNOOP_EINTR : KNOOP_EIO;
}

int knoop_link_recv_wait(knoop_sock_t *dealer, knoop_buf_t *data, int timeout_ms)
{
    zsock_set_rcvtimeo(dealer, timeout_ms);
    int rc = s_recv_single(zsock_resolve(dealer), data, 0);
    return rc == KNOOP_EAGAIN ? KNOOP_ETIMEDOUT : rc;
}

/* ---- the monitor of a server socket ---- */

int knoop_link_monitor_new(knoop_sock_t *server, knoop_sock_t **out)
{
    *out = NULL;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://knoop-monitor-%p", (void *) server);
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_DISCONNECTED |
                 ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor(zsock_resolve(server), ep, events) != 0) {
        knoop_error("link: cannot monitor the server socket: %s", zmq_strerror(errno));
        return KNOOP_EIO;
    }
    /* libzmq's I/O thread sends events with a blocking send: a full pipe
     * would stall every connection. No receive limit on our side: the
     * backlog is bounded by how fast connections can be made. */
    zsock_t *mon = zsock_new(ZMQ_PAIR);
    if (mon) {
        zsock_set_rcvhwm(mon, 0);
        zsock_set_linger(mon, 0);
    }
    if (!mon || zsock_connect(mon, "%s", ep) != 0) {
        knoop_error("link: cannot connect to the monitor of the server socket");
        knoop_link_monitor_destroy(server, &mon);
        return KNOOP_EIO;
    }
    *out = mon;
    return KNOOP_OK;
}

void knoop_link_monitor_destroy(knoop_sock_t *server, knoop_sock_t **mon_p)
{
    if (server)
        zmq_socket_monitor(zsock_resolve(server), NULL, 0);
    zsock_destroy(mon_p);
}

int knoop_link_monitor_read(knoop_sock_t *mon, knoop_link_event_t *event, uint32_t *value)
{
    void *s = zsock_resolve(mon);
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return KNOOP_EAGAIN;
    }
    uint16_t id = 0;
    bool ok = zmq_msg_size(&m) == 6 && zmq_msg_more(&m);
    if (ok) {
        memcpy(&id, zmq_msg_data(&m), 2);
        memcpy(value, (uint8_t *) zmq_msg_data(&m) + 2, 4);
    }
    /* the second frame (the endpoint) */
    while (zmq_msg_more(&m))
        if (zmq_msg_recv(&m, s, 0) < 0)
            break;
    zmq_msg_close(&m);
    if (!ok)
        return KNOOP_EMALFORMED;
    switch (id) {
    case ZMQ_EVENT_ACCEPTED:
        *event = KNOOP_LINK_EV_ACCEPTED;
        break;
    case ZMQ_EVENT_DISCONNECTED:
        *event = KNOOP_LINK_EV_DISCONNECTED;
        break;
    case ZMQ_EVENT_ACCEPT_FAILED:
        *event = KNOOP_LINK_EV_ACCEPT_FAILED;
        break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        *event = KNOOP_LINK_EV_HANDSHAKE_OK;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        *event = KNOOP_LINK_EV_HANDSHAKE_REFUSED;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        *event = KNOOP_LINK_EV_HANDSHAKE_FAILED;
        break;
    default:
        *event = KNOOP_LINK_EV_OTHER;
        break;
    }
    return KNOOP_OK;
}
