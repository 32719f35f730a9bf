/* handle_import.c — a journal bundle's content handed to the broker over
 * its local API (knoop bundle import --api; docs/design.md, "Bundles"). The
 * broker takes what a courier carried as it takes what a peer sends: the
 * certificates and revocation lists its roots vouch for are journaled on
 * its trust streams (so the mesh and the nodes learn them), every message
 * is checked (chain, head signature, revocation, and the policy: its origin
 * may publish on its topic) and stored only when all pass, in one
 * transaction, deduplicated. From the journal the messages go where every
 * stored message goes: live to the sessions whose subscriptions and policy
 * allow them, and to the peers, which pull everything. */
#include "broker_int.h"
#include "bundle.h"
#include "cap.h"
#include "json.h"
#include "trust_mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int s_journal_trust(void *arg, const char *type, const uint8_t *text, size_t len)
{
    knoop_broker_t *self = arg;
    bool certs = strcmp(type, KNOOP_TRUST_TYPE_CERT) == 0;
    knoop_api_item_t it = {
        .topic = certs ? KNOOP_TRUST_TOPIC_CERTS : KNOOP_TRUST_TOPIC_REVOCATIONS,
        .type = type, .key = "", .payload = text, .payload_len = len,
    };
    knoop_api_seq_t res;
    char why[400];
    return broker_trust_publish(self, &it, &res, why, sizeof why);
}

/* The rules of ingest, as for the origin publishing itself: brokers speak
 * on the trust topics, everyone else where the policy lets it publish, with
 * the payload its topic family carries, its content rules, and a sender
 * field naming the origin or a partner it may speak for (as
 * handle_publish.c checks a PUBLISH). */
static int s_allow(void *arg, const knoop_msg_t *m, char *why, size_t why_size)
{
    knoop_broker_t *self = arg;
    const knoop_cert_t *c = knoop_trust_by_id(self->trust, m->b.origin);
    const char *role = c ? c->role : "";
    if (knoop_trust_topic(m->b.topic))
        return !strcmp(role, "broker") ? KNOOP_OK
             : (snprintf(why, why_size, "policy: %s (role '%s') may not publish on the trust "
                         "topic %s; only brokers do", m->b.origin, role, m->b.topic), KNOOP_EPERM);
    if (!knoop_policy_may_publish(self->policy, m->b.origin, role, m->b.topic)) {
        knoop_policy_explain_publish(self->policy, m->b.origin, role, m->b.topic, why, why_size);
        return KNOOP_EPERM;
    }
    char reason[300], sender[KNOOP_ID_MAX + 1];
    int rc = knoop_payload_check(self->types, m->b.topic, m->b.type, m->b.payload,
                                 m->b.payload_len, sender, sizeof sender, reason, sizeof reason);
    if (rc == KNOOP_OK && !strcmp(m->b.type, KNOOP_CAP_TYPE))
        rc = knoop_cap_check_status(m->b.payload, m->b.payload_len, m->b.status, reason,
                                    sizeof reason);
    if (rc == KNOOP_OK && *sender &&
        !knoop_policy_may_speak_for(self->policy, m->b.origin, role, sender)) {
        self->payloads_refused++;
        snprintf(why, why_size, "sender: %s on %s names %s as %s; %s may only name itself or "
                 "a partner a speak-for rule of the policy allows", m->b.origin, m->b.topic,
                 sender, knoop_payload_sender_field(m->b.type), m->b.origin);
        return KNOOP_EPERM;
    }
    if (rc) {
        self->payloads_refused++;
        snprintf(why, why_size, "payload: %s", reason);
        return rc == KNOOP_EPERM ? KNOOP_EPERM : KNOOP_EMALFORMED;
    }
    return KNOOP_OK;
}

int broker_import(knoop_broker_t *self, const knoop_api_req_t *req, char **json, char *why,
                  size_t why_size)
{
    *json = NULL;
    int taken = req->u.import.dry_run ? 0
        : knoop_bundle_trust_new(self->trust, req->u.import.certs, req->u.import.ncerts,
                                 req->u.import.revocations, req->u.import.nrevocations,
                                 (int64_t) time(NULL), s_journal_trust, self, NULL);
    /* The bundle's seal, against this daemon's trust (with what the bundle
     * carried learned above): a refused signer refuses the whole part. */
    int src = knoop_bundle_seal_gate(req->u.import.seal, req->u.import.require_signed,
                                     self->trust, why, why_size);
    if (src) {
        self->imports_refused++;
        knoop_warn("broker: bundle import refused: %s", why);
        return src;
    }
    knoop_bundle_import_t res;
    int rc = knoop_bundle_import(self->journal, self->trust, req->u.import.envs,
                                 req->u.import.nenvs, NULL, s_allow, self, NULL, NULL,
                                 req->u.import.dry_run, &res, why, why_size);
    if (rc) {
        self->envelopes_refused += req->u.import.nenvs;
        self->imports_refused++;
        knoop_warn("broker: bundle import refused: %s", why);
        return rc;
    }
    self->imported += res.stored;
    self->envelopes_refused += res.refused;
    if (res.refused)
        knoop_warn("broker: bundle import: %llu messages refused, the first: %s",
                   (unsigned long long) res.refused, res.first_refusal);
    if (res.stored)
        broker_trust_step(self);            /* trust topics may have come with it */
    knoop_info("broker: bundle import%s: %llu messages in %llu streams, %llu stored, %llu held "
               "already, %llu refused; %d certificates or lists journaled",
               req->u.import.dry_run ? " (dry run)" : "", (unsigned long long) res.messages,
               (unsigned long long) res.streams, (unsigned long long) res.stored,
               (unsigned long long) res.duplicates, (unsigned long long) res.refused, taken);
    *json = knoop_bundle_import_json(&res, req->u.import.dry_run);
    return *json ? KNOOP_OK : KNOOP_ENOMEM;
}

/* ---- streams a node forwards from a bundle it imported ---- */

#define FORWARD_ROWS 64          /* a node forwards one stream per frame */

typedef struct {
    knoop_wire_ack_t acks[FORWARD_ROWS];
    size_t           nacks;
    struct { uint64_t stream, seq; int code; char text[768]; } err[FORWARD_ROWS];
    size_t           nerr;
    size_t           rows;
} forward_t;

/* Each stream's verdict: stored or held, an ACK up to the highest seq the
 * node sent (what it may stop sending); refused, an ERROR naming it. Sent
 * after the import (a send may drop the session). */
static void s_forward_row(void *arg, const knoop_bundle_stream_t *r, int rc)
{
    forward_t *fw = arg;
    fw->rows++;
    if (!r->error && !rc) {
        if (fw->nacks < FORWARD_ROWS)
            fw->acks[fw->nacks++] = (knoop_wire_ack_t) { .stream = r->stream, .seq = r->last };
        return;
    }
    if (fw->nerr == FORWARD_ROWS)
        return;
    uint64_t seq = r->error ? r->error_seq : r->first;
    fw->err[fw->nerr].stream = r->stream;
    fw->err[fw->nerr].seq = seq;
    fw->err[fw->nerr].code = r->error ? r->error : rc;
    snprintf(fw->err[fw->nerr].text, sizeof fw->err[fw->nerr].text,
             "stream %s/%s (epoch %016llx) seq %llu: %s", r->origin, r->topic,
             (unsigned long long) r->epoch, (unsigned long long) seq,
             r->error ? r->reason : "not stored: another stream of the frame was refused");
    fw->nerr++;
}

void handle_forward(knoop_broker_t *self, session_t *s, const knoop_frame_t *f)
{
    forward_t *fw = calloc(1, sizeof *fw);
    if (!fw) {
        broker_send_error(self, s, s->rid, s->rid_len, KNOOP_WERR_FULL, 0, 0, false,
                          "out of memory: forwarded streams not taken; sent again later");
        return;
    }
    /* The origins' certificates the node sent along: those our roots vouch
     * for are journaled on the trust stream, as from a bundle. */
    if (f->u.batch.ncerts) {
        knoop_bytes_t certs[KNOOP_WIRE_FWD_CERTS];
        size_t nc = f->u.batch.ncerts < KNOOP_WIRE_FWD_CERTS ? f->u.batch.ncerts
                                                              : KNOOP_WIRE_FWD_CERTS;
        for (size_t i = 0; i < nc; i++)
            certs[i] = (knoop_bytes_t) { (const uint8_t *) f->u.batch.certs[i],
                                         strlen(f->u.batch.certs[i]) };
        int taken = knoop_bundle_trust_new(self->trust, certs, nc, NULL, 0, (int64_t) time(NULL),
                                           s_journal_trust, self, NULL);
        if (taken > 0)      /* journaled, and the trust store follows (handle_trust.c) */
            knoop_info("broker: learned %d certificate(s) sent by %s with forwarded streams",
                       taken, s->partner);
    }
    knoop_bundle_import_t res;
    char why[512];
    int rc = knoop_bundle_import(self->journal, self->trust, f->u.batch.envs, f->u.batch.n,
                                 NULL, s_allow, self, s_forward_row, fw, false, &res, why,
                                 sizeof why);
    if (rc) {
        self->envelopes_refused += f->u.batch.n;
        self->forwards_refused++;
        knoop_warn("broker: streams forwarded by %s refused: %s", s->partner, why);
    } else {
        self->forwarded += res.stored;
        self->envelopes_refused += res.refused;
        self->forwards_refused += fw->nerr;      /* streams the policy or journal refused */
        if (res.stored)
            knoop_info("broker: %s forwarded %llu messages of %llu streams of other origins "
                       "(%llu held already), verified as a bundle import", s->partner,
                       (unsigned long long) res.stored, (unsigned long long) res.streams,
                       (unsigned long long) res.duplicates);
    }
    int sent = KNOOP_OK;
    if (fw->nacks) {
        knoop_frame_t a = { .kind = KNOOP_FRAME_ACK };
        a.u.ack.acks = fw->acks;
        a.u.ack.n = fw->nacks;
        sent = broker_send(self, s, &a);
    }
    /* Only the first error: the session may be gone after a send. */
    if (sent == KNOOP_OK && fw->nerr)
        broker_send_error(self, s, s->rid, s->rid_len, knoop_wire_err_from(fw->err[0].code),
                          fw->err[0].stream, fw->err[0].seq, false, "forwarded by %s: %s",
                          s->partner, fw->err[0].text);
    else if (sent == KNOOP_OK && rc && !fw->rows)       /* did not parse: no stream to name */
        broker_send_error(self, s, s->rid, s->rid_len, knoop_wire_err_from(rc), 0, 0, false,
                          "forwarded by %s: %s", s->partner, why);
    free(fw);
}
