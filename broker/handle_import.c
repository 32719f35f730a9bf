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
#include "broker.h"
#include "bundle.h"
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

/* The policy, as for a publishing origin: brokers speak on the trust
 * topics, everyone else where the policy lets it publish. */
static int s_allow(void *arg, const knoop_msg_t *m, char *why, size_t why_size)
{
    knoop_broker_t *self = arg;
    const knoop_cert_t *c = knoop_trust_by_id(self->trust, m->b.origin);
    const char *role = c ? c->role : "";
    if (knoop_trust_topic(m->b.topic) && !strcmp(role, "broker"))
        return KNOOP_OK;
    if (knoop_policy_may_publish(self->policy, m->b.origin, role, m->b.topic))
        return KNOOP_OK;
    knoop_policy_explain_publish(self->policy, m->b.origin, role, m->b.topic, why, why_size);
    return KNOOP_EPERM;
}

int broker_import(knoop_broker_t *self, const knoop_api_req_t *req, char **json, char *why,
                  size_t why_size)
{
    *json = NULL;
    int taken = req->u.import.dry_run ? 0
        : knoop_bundle_trust_new(self->trust, req->u.import.certs, req->u.import.ncerts,
                                 req->u.import.revocations, req->u.import.nrevocations,
                                 (int64_t) time(NULL), s_journal_trust, self, NULL);
    knoop_bundle_import_t res;
    int rc = knoop_bundle_import(self->journal, self->trust, req->u.import.envs,
                                 req->u.import.nenvs, NULL, s_allow, self,
                                 req->u.import.dry_run, &res, why, why_size);
    if (rc) {
        self->envelopes_refused += req->u.import.nenvs;
        self->imports_refused++;
        knoop_warn("broker: bundle import refused: %s", why);
        return rc;
    }
    self->imported += res.stored;
    if (res.stored)
        broker_trust_step(self);            /* trust topics may have come with it */
    knoop_info("broker: bundle import%s: %llu messages in %llu streams, %llu stored, %llu held "
               "already, %llu refused by the journal; %d certificates or lists journaled",
               req->u.import.dry_run ? " (dry run)" : "", (unsigned long long) res.messages,
               (unsigned long long) res.streams, (unsigned long long) res.stored,
               (unsigned long long) res.duplicates, (unsigned long long) res.refused, taken);
    *json = knoop_bundle_import_json(&res, req->u.import.dry_run);
    return *json ? KNOOP_OK : KNOOP_ENOMEM;
}
