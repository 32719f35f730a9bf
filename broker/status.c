/* status.c — the broker's local status endpoint (ipc://DATA/api.sock by
 * default): answers the local API's STATUS request with JSON — the digest of
 * everything held, the connected nodes and peers, the links to peers with
 * their last anti-entropy, and any forked stream (an alarm). `knoop status`
 * and `knoop mesh check` read it. It also takes one publication: an issued
 * certificate or revocation list for the trust topics (knoop keys issue /
 * revoke / publish --api), see handle_trust.c. Other requests are refused: a
 * broker has no applications. */
#include "broker_int.h"
#include "api.h"
#include "trust_mesh.h"
#include "crypto.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VECTOR_ROWS_MAX 20000

int broker_api_init(knoop_broker_t *self)
{
    char ep[4200];
    if (self->opts.api)
        snprintf(ep, sizeof ep, "%s", self->opts.api);
    else
        snprintf(ep, sizeof ep, "ipc://%s/api.sock", self->opts.data);
    self->api = knoop_link_router();
    int rc = self->api ? knoop_sock_bind(self->api, ep) : KNOOP_ENOMEM;
    if (rc)
        knoop_error("broker: cannot bind the status endpoint %s: %s", ep, knoop_strerror(rc));
    return rc;
}

static json_t *s_status(knoop_broker_t *self)
{
    uint64_t now = knoop_now_ms();
    json_t *o = json_object();
    json_object_set_new(o, "broker", json_string(self->id));
    json_object_set_new(o, "role", json_string("broker"));

    knoop_stream_info_t *rows = NULL;
    size_t n = 0;
    knoop_journal_vector(self->journal, NULL, &rows, &n);
    uint8_t d[KNOOP_HASH_LEN];
    char hex[2 * KNOOP_HASH_LEN + 1], head[2 * KNOOP_HASH_LEN + 1], sid[17];
    knoop_vector_digest(rows, n, d);
    knoop_hex_encode(hex, d, sizeof d);
    uint64_t msgs = 0, streams = 0;
    json_t *vector = json_array(), *forks = json_array();
    for (size_t i = 0; i < n; i++) {
        snprintf(sid, sizeof sid, "%016llx", (unsigned long long) rows[i].stream);
        knoop_hex_encode(head, rows[i].head, KNOOP_HASH_LEN);
        if (rows[i].hwm) {
            streams++;
            msgs += rows[i].hwm;
            if (n <= VECTOR_ROWS_MAX)
                json_array_append_new(vector, json_pack("{s:s, s:s, s:s, s:I, s:s}",
                    "stream", sid, "origin", rows[i].origin, "topic", rows[i].topic,
                    "hwm", (json_int_t) rows[i].hwm, "head", head));
        }
        if (rows[i].flags & KNOOP_STREAM_FORKED)
            json_array_append_new(forks, json_pack("{s:s, s:s, s:s, s:I, s:s}",
                "stream", sid, "origin", rows[i].origin, "topic", rows[i].topic,
                "hwm", (json_int_t) rows[i].hwm,
                "alarm", "FORK: two different messages under one seq; delivery stopped past hwm"));
    }
    free(rows);
    json_object_set_new(o, "digest", json_string(hex));
    json_object_set_new(o, "streams_count", json_integer((json_int_t) streams));
    json_object_set_new(o, "messages", json_integer((json_int_t) msgs));
    json_object_set_new(o, "forks", forks);

    json_t *peers = json_array();
    size_t peers_up = 0;
    for (size_t i = 0; i < self->npeers; i++) {
        peer_t *p = &self->peers[i];
        peers_up += p->state == 2;
        const char *state = p->state == 2 ? (p->caught_up ? "up" : "catching-up")
                          : p->state == 1 ? "connecting" : "down";
        uint64_t behind = p->caught_up || p->received >= p->planned ? 0 : p->planned - p->received;
        json_t *po = json_pack("{s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:I}",
            "id", p->id, "endpoint", p->endpoint, "state", state,
            "since_ms", (json_int_t) p->since, "in_sync", p->in_sync,
            "last_anti_entropy_ms", (json_int_t) p->last_sync_at,
            "last_anti_entropy_ago_ms", (json_int_t) (p->last_sync_at ? now - p->last_sync_at : 0),
            "messages_behind", (json_int_t) behind);
        /* what crossed this link towards us: the transfers the mesh costs */
        json_object_set_new(po, "received", json_pack("{s:I, s:I, s:I, s:I}",
            "messages", (json_int_t) p->in_msgs, "stored", (json_int_t) p->in_stored,
            "duplicates", (json_int_t) p->in_duplicates, "refused", (json_int_t) p->in_refused));
        json_array_append_new(peers, po);
    }
    json_object_set_new(o, "peers", peers);
    /* A broker with peers and none of them up is cut off from the mesh (a
     * regional broker during an outage): it serves its own nodes, and what
     * it holds is not the mesh's picture until a peer is back. */
    json_object_set_new(o, "mesh", json_pack("{s:I, s:I, s:b}",
        "peers", (json_int_t) self->npeers, "up", (json_int_t) peers_up,
        "isolated", self->npeers > 0 && peers_up == 0));

    json_t *sessions = json_array();
    for (session_t *s = self->sessions; s; s = s->next) {
        json_t *row = json_pack("{s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I}",
            "partner", s->partner, "role", s->role, "peer", s->peer, "live", s->live,
            "inflight", (json_int_t) s->inflight, "window", (json_int_t) s->window,
            "delivered", (json_int_t) s->delivered, "published", (json_int_t) s->published,
            "withheld", (json_int_t) s->withheld);
        if (row)   /* fair.c: frames that waited for a later pass, and waiting now */
            json_object_set_new(row, "throttled", json_pack("{s:I, s:I}",
                "frames", (json_int_t) s->throttled,
                "waiting", (json_int_t) (s->fair_n - s->fair_head)));
        if (row && s->pair) {
            /* one of a primary/standby pair: what it says it is */
            char id[17];
            snprintf(id, sizeof id, "%016llx", (unsigned long long) s->inst.id);
            json_object_set_new(row, "instance", json_pack("{s:s, s:s, s:I, s:I, s:s}",
                "id", id, "mode", s->inst.active ? "active" : "standby",
                "term", (json_int_t) s->inst.term, "since_ms", (json_int_t) s->inst.since_ms,
                "reason", s->inst_reason));
        }
        if (row && s->peer) {  /* what live delivery did not send: back, or round */
            json_object_set_new(row, "echo_skipped", json_integer((json_int_t) s->echo_skipped));
            json_object_set_new(row, "relay_skipped", json_integer((json_int_t) s->relay_skipped));
            json_t *l = json_array();
            for (size_t i = 0; i < s->nlinked; i++)
                json_array_append_new(l, json_string(s->linked[i]));
            json_object_set_new(row, "linked", l);
        }
        json_array_append_new(sessions, row);
    }
    json_object_set_new(o, "sessions", sessions);
    /* sessions dropped because their partner was silent past the timeout */
    json_object_set_new(o, "sessions_silent", json_integer((json_int_t) self->sessions_silent));
    knoop_journal_stats_t st;
    json_object_set_new(o, "journal", knoop_daemon_status_journal(self->journal, &st));
    knoop_daemon_status_alarm(o, self->journal, &st);
    uint64_t err_at;
    const char *err = knoop_journal_error(self->journal, &err_at);
    /* the journal's last failed write, until a write succeeds again */
    json_object_set_new(o, "last_error", json_string(err));
    json_object_set_new(o, "last_error_ms", json_integer((json_int_t) err_at));
    knoop_gate_stats_t g;
    knoop_gate_stats(self->gate, &g);
    json_object_set_new(o, "gate", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "accepted", (json_int_t) g.accepted, "handshakes_ok", (json_int_t) g.handshakes_ok,
        "handshakes_refused", (json_int_t) g.handshakes_refused,
        "handshakes_failed", (json_int_t) g.handshakes_failed,
        "handshake_timeouts", (json_int_t) g.handshake_timeouts,
        "refused_over_cap", (json_int_t) g.refused_over_cap,
        "accept_failed", (json_int_t) g.accept_failed, "in_handshake", (json_int_t) g.pending,
        "open", (json_int_t) g.open, "descriptor_limit", (json_int_t) self->nofile));
    json_object_set_new(o, "fair", broker_fair_status(self));
    json_object_set_new(o, "frames_in", json_integer((json_int_t) self->frames_in));
    json_object_set_new(o, "frames_bad", json_integer((json_int_t) self->frames_bad));
    json_object_set_new(o, "hellos_too_big", json_integer((json_int_t) self->hellos_too_big));
    json_object_set_new(o, "settled_matched", json_integer((json_int_t) self->settled_matched));
    json_object_set_new(o, "settled_missed", json_integer((json_int_t) self->settled_missed));
    json_object_set_new(o, "envelopes_refused", json_integer((json_int_t) self->envelopes_refused));
    json_object_set_new(o, "payloads_refused", json_integer((json_int_t) self->payloads_refused));
    json_t *early = json_object();
    json_object_set_new(early, "enabled", json_boolean(self->opts.deliver_early));
    json_object_set_new(early, "rewinds", json_integer((json_int_t) self->early_rewinds));
    json_object_set_new(o, "deliver_before_commit", early);
    json_object_set_new(o, "policy", json_pack("{s:s, s:I, s:I, s:I}",
        "file", self->opts.policy_file, "rules", (json_int_t) knoop_policy_rules(self->policy),
        "reloads", (json_int_t) self->policy_reloads,
        "reload_errors", (json_int_t) self->policy_reload_errors));
    /* Where the journal and the trust store are (absolute), for tools on
     * this machine that read them: knoop bundle export --api. */
    knoop_daemon_status_where(o, &self->where, self->imported, self->imports_refused,
                              self->trust_reloads);
    json_t *bundles = json_object_get(o, "bundles");      /* nodes' forwards (handle_import.c) */
    json_object_set_new(bundles, "forwarded", json_integer((json_int_t) self->forwarded));
    json_object_set_new(bundles, "forwards_refused",
                        json_integer((json_int_t) self->forwards_refused));
    json_object_set_new(o, "vector", vector);
    json_object_set_new(o, "certificates_expiring",
                        knoop_trust_expiring_json(self->trust, (int64_t) time(NULL)));
    json_object_set_new(o, "revocation_list", json_integer(
        (json_int_t) knoop_trust_revocation_number(self->trust)));
    return o;
}

void broker_api_read(knoop_broker_t *self)
{
    for (int i = 0; i < 64; i++) {
        int rc = knoop_link_recv_plain(self->api, &self->rid, &self->data);
        if (rc == KNOOP_EAGAIN)
            return;
        if (rc)
            continue;
        knoop_api_req_t req;
        knoop_api_rep_t rep = { .kind = KNOOP_API_R_ERROR };
        char *text = NULL;
        knoop_api_seq_t seq;
        char why[600];
        rc = knoop_api_req_decode(&req, self->data.data, self->data.len);
        if (rc) {
            rep.u.error.code = rc;
            rep.u.error.reason = "request refused: does not parse";
        } else {
            rep.id = req.id;
            if (req.kind == KNOOP_API_STATUS) {
                json_t *o = s_status(self);
                text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
                json_decref(o);
                rep.kind = KNOOP_API_R_STATUS;
                rep.u.status.json = text ? text : "{}";
            } else if (req.kind == KNOOP_API_PUBLISH && req.u.publish.n == 1) {
                /* The one thing published at a broker: an issued certificate
                 * or a revocation list, already signed by a root. */
                rc = broker_trust_publish(self, &req.u.publish.items[0], &seq, why, sizeof why);
                if (rc == KNOOP_OK) {
                    rep.kind = KNOOP_API_R_PUBLISHED;
                    rep.u.published.items = &seq;
                    rep.u.published.n = 1;
                } else {
                    rep.u.error.code = rc;
                    rep.u.error.reason = why;
                }
            } else if (req.kind == KNOOP_API_IMPORT) {
                rc = broker_import(self, &req, &text, why, sizeof why);
                if (rc == KNOOP_OK) {
                    rep.kind = KNOOP_API_R_IMPORTED;
                    rep.u.status.json = text;
                } else {
                    rep.u.error.code = rc;
                    rep.u.error.reason = why;
                }
            } else {
                rep.u.error.code = KNOOP_EPERM;
                rep.u.error.reason = "this is a broker: only status, importing a bundle, and "
                                     "publishing one trust.certs or trust.revocations item, "
                                     "are available here";
            }
            knoop_api_req_clear(&req);
        }
        self->out.len = 0;
        if (knoop_api_rep_encode(&rep, &self->out) == KNOOP_OK)
            knoop_link_send(self->api, self->rid.data, self->rid.len, self->out.data,
                            self->out.len);
        free(text);
    }
}
