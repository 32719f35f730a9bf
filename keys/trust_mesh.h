/*
 * trust_mesh.h — what the mesh teaches a trust store: issued certificates
 * and revocation lists travel as SYSTEM messages on the topics
 * trust.certs and trust.revocations (docs/protocol.md, "Trust"). A daemon
 * (broker, node) or an auditor follows those streams in its journal, checks
 * each payload against its roots, and remembers what checks in its
 * `learned` directory, from where knoop_trust_load_ex reads it.
 *
 * The journal is the truth: the learned directory is a cache of it and can
 * be rebuilt by following from the start (a fresh `applied` map).
 */
#ifndef KNOOP_TRUST_MESH_H
#define KNOOP_TRUST_MESH_H

#include "journal.h"
#include "keys.h"
#include "msg.h"
#include "u64map.h"

/* jansson's value (callers that use the result include "json.h") */
struct json_t;

/* Is `topic` one of the trust topics? */
bool knoop_trust_topic(const char *topic);

/* Check a trust payload of `type` (KNOOP_TRUST_TYPE_*) against the store:
 * an issued certificate valid at `now` (0: validity in time not checked,
 * for auditors of old journals) by a trusted root, or a revocation list
 * signed by a trusted root. KNOOP_OK, or an error with a sentence in why.
 * *is_new is set when it would change the store (a certificate not known
 * by its key, a list numbered higher than the one applied). */
int  knoop_trust_payload_check(const knoop_trust_t *trust, const char *type,
                               const uint8_t *payload, size_t len, int64_t now,
                               bool *is_new, char *why, size_t why_size);

/* The publication gate for a revocation list (a broker's local API): a
 * list numbered below the one applied, or under the same number but
 * different from it (learned/revocations.list), would change nothing, while
 * the operator believes a key revoked: the root's list file is old, or was
 * lost and its numbering restarted. KNOOP_OK for a newer list or the very
 * list applied; KNOOP_EFORK with what to do in why. Call it after
 * knoop_trust_payload_check accepted the payload. */
int  knoop_trust_revocations_gate(const knoop_trust_t *trust, const char *learned,
                                  const uint8_t *payload, size_t len, char *why,
                                  size_t why_size);

/* Apply every message on the trust topics stored in j since the last call
 * (`applied`: stream -> seq applied, owned by the caller; start empty).
 * What checks is written to `learned`; what does not is logged and skipped.
 * Returns the number of changes (> 0: reload the store), or a negative
 * error of the journal. */
int  knoop_trust_follow(knoop_journal_t *j, knoop_u64map_t *applied,
                        const knoop_trust_t *trust, const char *learned, int64_t now);

/* Which key of m's origin speaks for m (an origin may hold several keys
 * after a rotation): with a head signature, the key whose signature
 * verifies; without, the newest key. KNOOP_OK with *cert; KNOOP_EUNKNOWN
 * when the origin has no key here; KNOOP_ESIG when no key of it verifies
 * the signature; KNOOP_EPERM when m is dated (HLC) at or after the
 * revocation of that key (*cert is then set: the revoked key). */
int  knoop_trust_msg_key(const knoop_trust_t *trust, const knoop_msg_t *m,
                         const knoop_cert_t **cert);
/* The same, with the origin's keys already looked up (knoop_trust_id_keys:
 * KEYS, N; NULL, 0 when it has none), for a batch from one origin. */
int  knoop_trust_msg_key_of(const knoop_cert_t *keys, size_t n, const knoop_msg_t *m,
                            const knoop_cert_t **cert);

/* The certificates of the store that expire within 30 days (or have
 * expired), for the status of broker and node: a new JSON array of
 * {id, role, valid_until, days_left}. */
struct json_t *knoop_trust_expiring_json(const knoop_trust_t *trust, int64_t now);

#endif
