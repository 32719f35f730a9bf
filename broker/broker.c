/* broker.c — the broker object and its event loop. See broker.h. */
#include "broker_int.h"
#include "crypto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define MAX_FRAMES_PER_PASS 4096      /* bound the work before a commit */
#define MAX_BATCH           16384     /* envelopes per group commit */

/* ---- sessions ---- */

/* A routing id is 1..255 bytes (ZeroMQ's own are 5; a client may set its
 * own) and a session keeps up to 256; anything else names no session. */
static bool s_rid_ok(size_t len)
{
    return len > 0 && len <= 256;
}

session_t *broker_session_find(knoop_broker_t *self, const uint8_t *rid, size_t len)
{
    return s_rid_ok(len) ? knoop_strmap_get(&self->by_rid, rid, len) : NULL;
}

int broker_session_add(knoop_broker_t *self, session_t *s)
{
    if (!s_rid_ok(s->rid_len) || knoop_strmap_put(&self->by_rid, s->rid, s->rid_len, s) != 0)
        return KNOOP_ENOMEM;     /* the caller dropped any session on this rid first */
    s->next = self->sessions;
    self->sessions = s;
    return KNOOP_OK;
}

static void s_session_free(knoop_broker_t *self, session_t *s)
{
    for (size_t i = 0; i < s->nsubs; i++)
        free(s->subs[i]);
    free(s->subs);
    free(s->plan);
    knoop_u64map_clear(&s->acked);
    knoop_u64map_clear(&s->sent);
    knoop_u64map_clear(&s->allow);
    knoop_u64map_clear(&s->ack_seen);
    free(s->ack_streams);
    free(s->linked);
    knoop_strmap_clear(&s->verdicts);
    broker_fair_free(self, s);
    free(s);
}

void broker_session_drop(knoop_broker_t *self, session_t *s, const char *why)
{
    bool linked = false;
    for (session_t **pp = &self->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            linked = true;
            break;
        }
    if (linked)
        knoop_strmap_del(&self->by_rid, s->rid, s->rid_len);
    /* Envelopes of this session still in the open batch stay there: they
     * are committed with it (durable is durable); only their ACK is lost,
     * and the node resends them after it reconnects. */
    for (size_t i = 0; i < self->nbatch; i++)
        if (self->batch_sess[i] == s) {
            self->batch_sess[i] = NULL;
            self->batch_rid_len[i] = 0;
        }
    knoop_info("session %s closed: %s (published %llu, delivered %llu, refused %llu)",
               s->partner, why, (unsigned long long) s->published,
               (unsigned long long) s->delivered, (unsigned long long) s->refused);
    if (s->pair)
        broker_instances_notify(self, s->partner);   /* its standby may take over */
    s_session_free(self, s);
}

int broker_send(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    self->out.len = 0;
    int rc = knoop_frame_encode(f, &self->out);
    if (rc) {
        knoop_error("broker: cannot encode frame %d for %s: %s", f->kind,
                    s ? s->partner : "?", knoop_strerror(rc));
        return rc;
    }
    const uint8_t *rid = s->rid;
    rc = knoop_link_send(self->router, rid, s->rid_len, self->out.data, self->out.len);
    if (rc == KNOOP_OK)
        s->last_sent = knoop_now_ms();
    return rc;
}

void broker_send_error(knoop_broker_t *self, session_t *s, const uint8_t *rid,
                       size_t rid_len, knoop_wire_err_t code, uint64_t stream,
                       uint64_t seq, bool fatal, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    knoop_frame_t f = { .kind = KNOOP_FRAME_ERROR,
                        .u.error = { .code = code, .reason = reason, .stream = stream,
                                     .seq = seq, .fatal = fatal } };
    self->out.len = 0;
    if (knoop_frame_encode(&f, &self->out) == KNOOP_OK)
        knoop_link_send(self->router, rid, rid_len, self->out.data, self->out.len);
    knoop_warn("refused %s: %s: %s", s ? s->partner : "(no session)",
               knoop_wire_err_name(code), reason);
    if (s)
        s->refused++;
    knoop_metrics_refusal(self->metrics, knoop_wire_err_name(code));
}

/* ---- policy ---- */

#define VERDICTS_MAX 4096      /* cached verdicts per session; then start over */
#define VERDICT_YES  ((void *) 1)
#define VERDICT_NO   ((void *) 2)

/* kind 'p' publish on a topic, 's' speak for a partner */
static bool s_verdict(knoop_broker_t *self, session_t *s, char kind, const char *what)
{
    char key[KNOOP_TOPIC_MAX + 3];
    if (strlen(what) > KNOOP_TOPIC_MAX)
        return false;               /* no valid topic or id is that long */
    snprintf(key, sizeof key, "%c:%s", kind, what);
    void *v = knoop_strmap_sget(&s->verdicts, key);
    if (v)
        return v == VERDICT_YES;
    bool ok = kind == 'p'
                  ? knoop_policy_may_publish(self->policy, s->partner, s->role, what)
                  : knoop_policy_may_speak_for(self->policy, s->partner, s->role, what);
    if (s->verdicts.count >= VERDICTS_MAX)
        knoop_strmap_clear(&s->verdicts);
    knoop_strmap_sput(&s->verdicts, key, ok ? VERDICT_YES : VERDICT_NO);   /* a cache */
    return ok;
}

bool broker_may_publish(knoop_broker_t *self, session_t *s, const char *topic)
{
    return s_verdict(self, s, 'p', topic);
}

bool broker_may_speak_for(knoop_broker_t *self, session_t *s, const char *sender)
{
    return s_verdict(self, s, 's', sender);
}

static void s_policy_stamp(const char *path, uint64_t *ino, uint64_t *size, uint64_t *mtime)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *ino = *size = *mtime = 0;
        return;
    }
    *ino = (uint64_t) st.st_ino;
    *size = (uint64_t) st.st_size;
    *mtime = (uint64_t) st.st_mtim.tv_sec * 1000000000ull + (uint64_t) st.st_mtim.tv_nsec;
}

int broker_policy_reload(knoop_broker_t *self)
{
    uint64_t ino, size, mtime;
    s_policy_stamp(self->opts.policy_file, &ino, &size, &mtime);
    if (ino == self->policy_stamp.ino && size == self->policy_stamp.size &&
        mtime == self->policy_stamp.mtime_ns)
        return 0;
    self->policy_stamp.ino = ino;
    self->policy_stamp.size = size;
    self->policy_stamp.mtime_ns = mtime;
    char err[512];
    knoop_policy_t *p = NULL;
    int rc = knoop_policy_load(self->opts.policy_file, &p, err, sizeof err);
    if (rc) {
        self->policy_reload_errors++;
        knoop_metrics_refusal(self->metrics, "policy_reload");
        knoop_error("broker: the changed policy does not load, the rules in force stay "
                    "(%zu rules): %s; correct the file and save it again",
                    knoop_policy_rules(self->policy), err);
        return -1;
    }
    knoop_policy_destroy(&self->policy);
    self->policy = p;
    self->policy_reloads++;
    /* Every cached verdict was the old policy's. A node's subscriptions were
     * accepted under it: one the new policy refuses ends the session, and
     * the node's new HELLO gets the refusal in its WELCOME. */
    size_t ended = 0;
    session_t *next;
    for (session_t *s = self->sessions; s; s = next) {
        next = s->next;
        knoop_strmap_clear(&s->verdicts);
        send_deliver_forget(s);
        if (s->peer)
            continue;
        char reason[400];
        for (size_t i = 0; i < s->nsubs; i++)
            if (knoop_policy_check_subscription(self->policy, s->partner, s->role, s->subs[i],
                                                reason, sizeof reason) != KNOOP_OK) {
                broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_POLICY, 0, 0, true,
                                  "the policy changed: %s; say HELLO again", reason);
                broker_session_drop(self, s, "subscription no longer allowed by the policy");
                ended++;
                break;
            }
    }
    knoop_info("broker: policy %s reloaded (%zu rules); %zu session(s) ended for "
               "subscriptions it no longer allows", self->opts.policy_file,
               knoop_policy_rules(self->policy), ended);
    return 1;
}

/* ---- start-up ---- */

/* Every connection, authenticated or not, takes a descriptor: run with the
 * hard limit rather than the (often 1024) soft one, and keep the gate's caps
 * well inside it so that partners, the journal and the trust store always
 * find one. */
static void s_descriptors(knoop_broker_t *self)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t) 1 << 20 : rl.rlim_max;
        struct rlimit nl = { want, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl.rlim_cur = want;
    }
    self->nofile = rl.rlim_cur;
    size_t room = (size_t) (self->nofile / 4);
    if (!self->opts.max_handshakes || self->opts.max_handshakes > room) {
        if (self->opts.max_handshakes > room)
            knoop_info("broker: --max-handshakes %zu lowered to %zu: a quarter of the "
                       "descriptor limit %llu", self->opts.max_handshakes, room,
                       (unsigned long long) self->nofile);
        self->opts.max_handshakes = room < 512 ? room : 512;
    }
}

int knoop_broker_new(const knoop_broker_opts_t *opts, knoop_broker_t **out)
{
    *out = NULL;
    knoop_broker_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    self->opts = *opts;
    broker_fair_init(self);
    knoop_daemon_timing(&self->opts.heartbeat_ms, &self->opts.timeout_ms);
    if (self->opts.handshake_ms <= 0)
        self->opts.handshake_ms = 5000;
    s_descriptors(self);
    if (self->opts.anti_entropy_ms <= 0)
        self->opts.anti_entropy_ms = 3000;
    self->id = strdup(opts->id);
    int rc = self->id ? KNOOP_OK : KNOOP_ENOMEM;
    if (rc)
        goto fail;

    knoop_hlc_init(&self->hlc, 0);
    knoop_daemon_setup_t setup = {
        .who = "broker", .id = opts->id, .key_file = opts->key_file, .data = opts->data,
        .trust_dir = opts->trust_dir, .types_file = opts->types_file,
        .journal_flags = opts->journal_flags, .map_max = opts->map_max };
    const knoop_cert_t *mine;
    rc = knoop_daemon_identity(&setup, &KNOOP_DAEMON_PARTS(self), &mine);
    if (rc)
        goto fail;
    char err[512];
    s_policy_stamp(opts->policy_file, &self->policy_stamp.ino, &self->policy_stamp.size,
                   &self->policy_stamp.mtime_ns);
    rc = knoop_policy_load(opts->policy_file, &self->policy, err, sizeof err);
    if (rc) {
        knoop_error("broker: %s", err);
        goto fail;
    }
    rc = knoop_daemon_open(&setup, &KNOOP_DAEMON_PARTS(self));
    if (rc)
        goto fail;

    /* ZAP first: a CURVE server without a ZAP handler lets anyone in. */
    rc = knoop_zap_new(opts->trust_dir, self->learned, &self->zap);
    if (rc) {
        knoop_error("broker: ZAP handler did not start: %s", knoop_strerror(rc));
        goto fail;
    }
    self->router = knoop_link_router();
    rc = self->router ? knoop_link_curve_server(self->router, self->key, self->opts.handshake_ms)
                      : KNOOP_ENOMEM;
    if (rc) {
        knoop_error("broker: cannot set up CURVE server socket: %s", knoop_strerror(rc));
        goto fail;
    }
    knoop_gate_opts_t go = { .handshake_ms = self->opts.handshake_ms,
                             .max_pending = self->opts.max_handshakes,
                             .max_per_address = self->opts.max_handshakes_per_address };
    rc = knoop_gate_new(self->router, &go, &self->gate);
    if (rc)
        goto fail;
    rc = knoop_sock_bind(self->router, opts->listen);
    if (rc) {
        knoop_error("broker: cannot listen on %s: %s", opts->listen, knoop_link_strerror());
        goto fail;
    }
    rc = knoop_link_self_check(self->router, mine, 3000);
    if (rc == KNOOP_EPERM) {
        knoop_error("broker: SECURITY: a random unknown key was let in on %s; refusing to run",
                    opts->listen);
        goto fail;
    }
    if (rc) {
        knoop_error("broker: self-check on %s gave no verdict; refusing to run", opts->listen);
        goto fail;
    }
    rc = broker_peers_init(self);
    if (!rc)
        rc = broker_api_init(self);
    if (!rc)
        rc = broker_metrics_init(self, opts->metrics);
    if (rc)
        goto fail;
    /* metrics, router, API, gate, and a link per peer */
    self->poll = knoop_poll_new(4 + self->npeers);
    rc = self->poll ? KNOOP_OK : KNOOP_ENOMEM;
    if (rc)
        goto fail;
    broker_trust_announce(self);
    broker_trust_step(self);
    size_t maxp, maxa;
    knoop_gate_caps(self->gate, &maxp, &maxa);
    knoop_info("broker %s listening on %s (journal %s, %zu certificates, %zu policy rules); "
               "self-check: unknown keys are refused", opts->id, opts->listen, opts->data,
               knoop_trust_size(self->trust), knoop_policy_rules(self->policy));
    knoop_info("broker %s: handshake timeout %d ms; at most %zu connections in handshake, "
               "%zu per address; descriptor limit %llu", opts->id, self->opts.handshake_ms,
               maxp, maxa, (unsigned long long) self->nofile);
    *out = self;
    return KNOOP_OK;

fail:
    knoop_broker_destroy(&self);
    return rc;
}

void knoop_broker_destroy(knoop_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    knoop_broker_t *self = *self_p;
    while (self->sessions)
        broker_session_drop(self, self->sessions, "broker stopping");
    broker_peers_close(self);
    broker_fair_destroy(self);
    free(self->remote_inst);
    knoop_poll_destroy(&self->poll);
    knoop_sock_destroy(&self->api);
    knoop_gate_destroy(&self->gate);
    knoop_sock_destroy(&self->router);
    knoop_zap_destroy(&self->zap);
    for (size_t i = 0; i < self->nbatch; i++)
        knoop_msg_clear(&self->batch[i]);
    free(self->batch);
    free(self->batch_rid);
    free(self->batch_rid_len);
    free(self->batch_sess);
    free(self->batch_res);
    knoop_strmap_clear(&self->by_rid);
    knoop_daemon_close(&KNOOP_DAEMON_PARTS(self));
    knoop_policy_destroy(&self->policy);
    knoop_u64map_clear(&self->tlp_seen);
    knoop_buf_free(&self->rid);
    knoop_buf_free(&self->data);
    knoop_buf_free(&self->out);
    free(self->id);
    free(self);
    *self_p = NULL;
}

/* How often the loop looks after its sessions and links when idle: the
 * grain of heartbeats and silence (docs/protocol.md, HEARTBEAT). */
#define HOUSEKEEPING_MS 200

/* ---- the loop ---- */

const knoop_cert_t *broker_key_cert(const knoop_broker_t *self, const char *id,
                                    const uint8_t key[KNOOP_PK_LEN])
{
    static const uint8_t zero[KNOOP_PK_LEN];
    if (memcmp(key, zero, KNOOP_PK_LEN) == 0)
        return knoop_trust_by_id(self->trust, id);
    return knoop_trust_id_key(self->trust, id, key);
}

/* A key may speak now: known, within its validity, not revoked. */
static bool s_cert_good(const knoop_cert_t *c, int64_t now)
{
    return c && knoop_cert_check_time(c, now) == KNOOP_OK && !knoop_cert_revoked(c, now);
}

/* Is `user`, authenticated at handshake on `key`, still trusted now? That
 * key revoked (or its certificate removed) or expired while connected stops
 * being served, whatever other keys the partner has. */
static bool s_still_trusted(knoop_broker_t *self, const char *user,
                            const uint8_t key[KNOOP_PK_LEN])
{
    return s_cert_good(broker_key_cert(self, user, key), (int64_t) time(NULL));
}

/* s_still_trusted for a session, its certificate looked up only once per
 * trust store (with 1,000 idle sessions, five lookups each a second were
 * 2-3% of a broker's idle samples); its time and revocation are checked
 * every pass. Every frame a session sends is still checked in full
 * (s_dispatch). */
static bool s_session_trusted(knoop_broker_t *self, session_t *s, int64_t now)
{
    if (s->trusted_gen != self->trust_reloads + 1) {
        s->trusted_cert = broker_key_cert(self, s->partner, s->key);
        s->trusted_gen = self->trust_reloads + 1;
    }
    return s_cert_good(s->trusted_cert, now);
}

static void s_dispatch(knoop_broker_t *self, const char *user)
{
    const uint8_t *rid = self->rid.data;
    size_t rid_len = self->rid.len;
    session_t *s = broker_session_find(self, rid, rid_len);
    if (!s_still_trusted(self, user, self->frame_key)) {
        broker_send_error(self, s, rid, rid_len, KNOOP_WERR_UNKNOWN, 0, 0, true,
                          "key of '%s' is no longer trusted (revoked or expired)", user);
        if (s)
            broker_session_drop(self, s, "key revoked");
        return;
    }
    knoop_frame_t f;
    int rc = knoop_frame_decode(&f, self->data.data, self->data.len);
    if (rc) {
        self->frames_bad++;
        if (rc == KNOOP_EVERSION)
            broker_send_error(self, s, rid, rid_len, KNOOP_WERR_VERSION, 0, 0, true,
                              "protocol version %u not supported; this broker speaks %d",
                              f.version, KNOOP_WIRE_VERSION);
        else
            broker_send_error(self, s, rid, rid_len,
                              rc == KNOOP_ETOOBIG ? KNOOP_WERR_TOO_BIG : KNOOP_WERR_MALFORMED,
                              0, 0, false, "frame from %s (%zu bytes) refused: %s", user,
                              self->data.len, knoop_strerror(rc));
        if (s && rc == KNOOP_EVERSION)
            broker_session_drop(self, s, "protocol version mismatch");
        return;
    }
    if (s && strcmp(s->partner, user) != 0) {
        /* Cannot happen with one key per connection; guard anyway. */
        knoop_frame_clear(&f);
        broker_session_drop(self, s, "identity changed on the connection");
        return;
    }
    if (s)
        s->last_heard = knoop_now_ms();
    switch (f.kind) {
    case KNOOP_FRAME_HELLO:
        handle_hello(self, rid, rid_len, user, &f);
        break;
    case KNOOP_FRAME_PUBLISH:
        if (s && f.u.batch.forwarded && !s->peer)
            handle_forward(self, s, &f);
        else if (s)
            broker_fair_publish(self, s, &f, self->data.data, self->data.len);
        break;
    case KNOOP_FRAME_ACK:
        if (s)
            handle_ack(self, s, &f);
        break;
    case KNOOP_FRAME_CREDIT:
        if (s)
            handle_credit(self, s, &f);
        break;
    case KNOOP_FRAME_HEARTBEAT:
        if (!s && f.u.heartbeat.time_ms == 0) {
            /* A probe (time 0): a node failed over elsewhere asks whether we
             * are back. Answer without a session. */
            knoop_frame_t h = { .kind = KNOOP_FRAME_HEARTBEAT };
            h.u.heartbeat.time_ms = knoop_now_ms();
            self->out.len = 0;
            if (knoop_frame_encode(&h, &self->out) == KNOOP_OK)
                knoop_link_send(self->router, rid, rid_len, self->out.data, self->out.len);
            knoop_frame_clear(&f);
            return;
        }
        break;
    case KNOOP_FRAME_SYNC:
        if (s && s->peer)
            send_sync_reply(self, s);
        break;
    case KNOOP_FRAME_INSTANCES:
        if (s)
            handle_instances(self, s, &f);
        break;
    case KNOOP_FRAME_ERROR:
        if (s)
            knoop_warn("%s reports: %s: %s", s->partner, knoop_wire_err_name(f.u.error.code),
                       f.u.error.reason);
        break;
    default:
        if (s)
            broker_send_error(self, s, rid, rid_len, KNOOP_WERR_PROTOCOL, 0, 0, false,
                              "frame kind %d is not for a broker", f.kind);
        break;
    }
    if (!s && f.kind != KNOOP_FRAME_HELLO && f.kind != KNOOP_FRAME_HEARTBEAT) {
        /* An authenticated partner without a session: in practice one whose
         * session was dropped after silence (this broker or the link was
         * paused) while the connection stayed. Not a protocol error: it is
         * asked to say HELLO again, which it does by reconnecting. */
        knoop_info("%s: " KNOOP_WIRE_NO_SESSION " (dropped after silence?): asking for "
                   "HELLO again", user);
        knoop_frame_t e = { .kind = KNOOP_FRAME_ERROR };
        e.u.error.code = KNOOP_WERR_PROTOCOL;
        e.u.error.reason = KNOOP_WIRE_NO_SESSION " (dropped after silence): say HELLO again";
        e.u.error.fatal = true;
        self->out.len = 0;
        if (knoop_frame_encode(&e, &self->out) == KNOOP_OK)
            knoop_link_send(self->router, rid, rid_len, self->out.data, self->out.len);
    }
    knoop_frame_clear(&f);
}

/* A partner heard nothing from for longer than the timeout (paused with
 * SIGSTOP, hung, or its link gone without a close): its session is dropped,
 * counted (status sessions_silent, metric knoop_sessions_silent_total) and
 * logged with its id and the fingerprint of its Ed25519 key, as the ZAP
 * handler and `knoop keys show` print it. When it resumes it finds no
 * session, says HELLO again and catches up from what it acknowledged. */
static void s_session_silent(knoop_broker_t *self, session_t *s, uint64_t now)
{
    char fp[17] = "-";
    const knoop_cert_t *c = broker_key_cert(self, s->partner, s->key);
    if (c)
        knoop_fingerprint(fp, c->pk, KNOOP_PK_LEN);
    self->sessions_silent++;
    knoop_warn("broker: %s %s (key %s) silent for %llu ms, over the timeout of %d ms "
               "(paused, hung, or its link lost): session dropped; it says HELLO again "
               "when it is back (%llu sessions dropped for silence so far)",
               s->peer ? "peer broker" : "partner", s->partner, fp,
               (unsigned long long) (now - s->last_heard), self->opts.timeout_ms,
               (unsigned long long) self->sessions_silent);
    broker_session_drop(self, s, "silent too long (heartbeat timeout)");
}

static void s_housekeeping(knoop_broker_t *self)
{
    uint64_t now = knoop_now_ms();
    if (now - self->last_housekeeping < HOUSEKEEPING_MS)
        return;
    self->last_housekeeping = now;
    broker_trust_step(self);
    knoop_broker_reload_files(self);
    session_t *next;
    int64_t now_s = (int64_t) time(NULL);
    /* The idle sessions' heartbeats go out in one batch an interval, not
     * spread over every pass: when one falls due, every session idle for at least half an
     * interval gets its heartbeat with it (early, once; from then on they
     * fall due together). Each batch wakes the I/O thread and, with the
     * answers, this loop: with 1,000 idle partners the wakeups were most of
     * a broker's idle CPU. */
    uint64_t hb = (uint64_t) self->opts.heartbeat_ms, due_after = hb;
    for (session_t *s = self->sessions; s; s = s->next)
        if (now - s->last_sent >= hb) {
            due_after = hb / 2;
            break;
        }
    for (session_t *s = self->sessions; s; s = next) {
        next = s->next;
        if (!s_session_trusted(self, s, now_s)) {
            broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_UNKNOWN, 0, 0, true,
                              "key of '%s' is no longer trusted (revoked or expired)", s->partner);
            broker_session_drop(self, s, "key revoked");
            continue;
        }
        if (now - s->last_heard > (uint64_t) self->opts.timeout_ms) {
            s_session_silent(self, s, now);
            continue;
        }
        /* A node hears the mesh's verdict in heartbeats: when idle, and at
         * least every two intervals on a busy link. */
        bool mesh_due = !s->peer && self->npeers &&
                        now - s->last_mesh >= 2 * (uint64_t) self->opts.heartbeat_ms;
        if (now - s->last_sent >= due_after || mesh_due) {
            knoop_frame_t f = { .kind = KNOOP_FRAME_HEARTBEAT };
            knoop_wire_mesh_peer_t rows[KNOOP_WIRE_MESH_MAX];
            f.u.heartbeat.time_ms = now;
            if (!s->peer) {
                broker_mesh_view(self, rows, &f);
                s->last_mesh = now;
            }
            if (broker_send(self, s, &f) == KNOOP_EGONE)
                broker_session_drop(self, s, "connection gone");
        }
    }
}

/* A new fork changes what may be delivered: forget cached verdicts. */
static void s_check_forks(knoop_broker_t *self)
{
    knoop_journal_stats_t st;
    knoop_journal_stats(self->journal, &st);
    if (st.forks == self->forks_seen)
        return;
    self->forks_seen = st.forks;
    for (session_t *s = self->sessions; s; s = s->next)
        knoop_u64map_clear(&s->allow);
}

static void s_wait(knoop_broker_t *self, long timeout_ms)
{
    knoop_poll_t *p = self->poll;
    knoop_poll_clear(p);
    if (self->metrics)
        knoop_poll_add_fd(p, knoop_metrics_fd(self->metrics));
    knoop_poll_add(p, self->router);
    knoop_poll_add(p, self->api);
    knoop_poll_add(p, knoop_gate_sock(self->gate));
    for (size_t i = 0; i < self->npeers; i++)
        knoop_poll_add(p, self->peers[i].dealer);
    knoop_poll_wait(p, timeout_ms);
    knoop_metrics_serve(self->metrics);
}

/* The loop itself did not run for a while (the process was paused with
 * SIGSTOP, or starved): the partners' frames of that time wait unread in
 * our queues, so their silence was ours. Each session and peer link gets a
 * full timeout from now before it counts as silent; without this a resumed
 * broker dropped every session in its first pass, before it had read their
 * heartbeats, and each partner then heard "no session on this connection". */
static void s_check_stall(knoop_broker_t *self)
{
    uint64_t now = knoop_now_ms();
    uint64_t gap = self->last_pass && now > self->last_pass ? now - self->last_pass : 0;
    self->last_pass = now;
    if (gap <= (uint64_t) self->opts.timeout_ms / 2)
        return;
    knoop_warn("broker: the loop did not run for %llu ms (process paused or starved?): "
               "partners get a full timeout from now before they count as silent",
               (unsigned long long) gap);
    for (session_t *s = self->sessions; s; s = s->next)
        s->last_heard = now;
    for (size_t i = 0; i < self->npeers; i++)
        if (self->peers[i].last_heard)
            self->peers[i].last_heard = now;
}

int knoop_broker_run(knoop_broker_t *self, volatile int *stop)
{
    while (!*stop) {
        s_check_stall(self);
        /* Wait for input unless deliveries are still pending. */
        bool busy = broker_fair_waiting(self);
        for (session_t *s = self->sessions; s && !busy; s = s->next)
            busy = s->inflight < s->window && s->inflight_bytes < s->window_bytes &&
                   (!s->live || s->log_pos < knoop_journal_next_pos(self->journal));
        /* Idle, it wakes for input or for the next housekeeping, whose
         * timers (heartbeats, silence, peers' steps) need nothing finer. */
        long idle_ms = 0;
        if (!busy) {
            uint64_t now = knoop_now_ms(), next = self->last_housekeeping + HOUSEKEEPING_MS;
            idle_ms = next > now ? (long) (next - now) : 0;
            if (idle_ms > HOUSEKEEPING_MS)
                idle_ms = HOUSEKEEPING_MS;
        }
        s_wait(self, idle_ms);
        knoop_gate_read(self->gate);
        broker_api_read(self);
        broker_peers_read(self);
        broker_peers_step(self);
        s_check_forks(self);

        /* 1. The frames kept from earlier passes, each partner up to its
         * share (fair.c); then everything ready (bounded), building one
         * batch. */
        broker_fair_pass(self);
        for (int i = 0; i < MAX_FRAMES_PER_PASS && self->nbatch < MAX_BATCH; i++) {
            char user[KNOOP_ID_MAX + 1];
            int rc = knoop_link_recv(self->router, &self->rid, user, self->frame_key, &self->data);
            if (rc == KNOOP_EAGAIN)
                break;
            self->frames_in++;
            if (rc) {
                self->frames_bad++;
                knoop_warn("broker: dropped a message that is not [routing id, frame]: %s",
                           knoop_strerror(rc));
                continue;
            }
            s_dispatch(self, user);
        }
        broker_fair_topup(self);
        /* 2. One durable commit for the batch, then the ACKs. */
        if (self->nbatch)
            handle_publish_commit(self);
        /* 3. Deliveries within each node's window. */
        session_t *next;
        for (session_t *s = self->sessions; s; s = next) {
            next = s->next;
            send_deliver(self, s);
        }
        s_housekeeping(self);
    }
    if (self->nbatch)
        handle_publish_commit(self);
    if (*stop != KNOOP_RUN_AGAIN)
        knoop_info("broker %s stopping: %llu frames in, %llu bad, %llu envelopes refused, "
               "%llu commits", self->id, (unsigned long long) self->frames_in,
               (unsigned long long) self->frames_bad, (unsigned long long) self->envelopes_refused,
               (unsigned long long) self->commits);
    return 0;
}

void knoop_broker_reload_files(knoop_broker_t *self)
{
    broker_policy_reload(self);
    if (knoop_trust_refresh(self->journal, self->opts.trust_dir, self->learned,
                            &self->trust_stamp, &self->trust) == 1) {
        self->trust_reloads++;
        knoop_info("broker: trust store reloaded (%zu certificates)", knoop_trust_size(self->trust));
    }
}

int knoop_broker_reload_types(knoop_broker_t *self, const char *path)
{
    return knoop_typemap_reload(&self->types, path, "broker");
}

int knoop_broker_set_map_max(knoop_broker_t *self, size_t map_max)
{
    return knoop_journal_set_map_max(self->journal, map_max);
}
