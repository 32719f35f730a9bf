/* node_import.c — a journal bundle's content handed to the node over its
 * local API (knoop bundle import; docs/design.md, "Bundles"). The node
 * learns the certificates and revocation lists its roots vouch for, then
 * checks every message (chain, head signature, revocation) against its
 * trust and stores them only when all pass, in one transaction. Stored
 * messages of other origins are received messages like those from a
 * broker: they reach local subscribers through the verified log, once. The
 * node's own streams are left out: they come back from its broker. */
#include "node.h"
#include "bundle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int node_import(knoop_node_t *self, const knoop_api_req_t *req, char **json, char *why,
                size_t why_size)
{
    *json = NULL;
    size_t refused_trust = 0;
    int learned = knoop_bundle_trust_new(self->trust, req->u.import.certs, req->u.import.ncerts,
                                         req->u.import.revocations, req->u.import.nrevocations,
                                         (int64_t) time(NULL), knoop_bundle_learn,
                                         self->learned, &refused_trust);
    if (learned > 0)
        node_trust_update(self);
    knoop_bundle_import_t res;
    int rc = knoop_bundle_import(self->journal, self->trust, req->u.import.envs,
                                 req->u.import.nenvs, self->id, NULL, NULL,
                                 req->u.import.dry_run, &res, why, why_size);
    if (rc) {
        self->imports_refused++;
        if (rc == KNOOP_EFULL || rc == KNOOP_EIO)
            node_set_journal_error(self, rc);
        knoop_warn("node: bundle import refused: %s", why);
        return rc;
    }
    if (res.stored) {
        self->journal_grew = true;
        node_trust_update(self);            /* trust topics may have come with it */
    }
    self->imported += res.stored;
    knoop_info("node: bundle import%s: %llu messages in %llu streams, %llu stored, %llu held "
               "already, %llu refused by the journal, %llu own streams left out; %d "
               "certificates or lists learned", req->u.import.dry_run ? " (dry run)" : "",
               (unsigned long long) res.messages, (unsigned long long) res.streams,
               (unsigned long long) res.stored, (unsigned long long) res.duplicates,
               (unsigned long long) res.refused, (unsigned long long) res.skipped,
               learned > 0 ? learned : 0);
    *json = knoop_bundle_import_json(&res, req->u.import.dry_run);
    return *json ? KNOOP_OK : KNOOP_ENOMEM;
}
