/*
 * keys.h — partner identity keys, certificates and the trust store.
 *
 * One Ed25519 key per partner signs its stream heads; the Curve25519 key for
 * CurveZMQ is derived from it (crypto.h), so one key file is the partner's
 * whole identity.
 *
 * Files (both readable text, parsed with inih):
 *   ID.key   the secret: [key] id, role, seed (hex). Created 0600 with
 *            O_EXCL (never overwritten); refused on load when group- or
 *            world-accessible (KNOOP_EPERM), like ssh does.
 *   ID.cert  the public certificate: [cert] id, role, public-key (hex),
 *            curve-key (hex, derived, for operators), valid-from,
 *            valid-until (RFC 3339 UTC, e.g. 2026-11-29T00:00:00Z).
 *
 * Roots and issued certificates (docs/protocol.md, "Trust"):
 *   A root certificate has role "root" and is self-signed: issuer = its own
 *   id, issuer-key = its own key, signature over the statement below. Its key
 *   file is sealed under a passphrase ([sealed-key], crypto_pwhash +
 *   crypto_secretbox) and kept offline.
 *   An issued certificate carries three more fields: issuer (the root's
 *   id), issuer-key (the root's public key, hex) and signature (hex), the
 *   root's Ed25519 signature over
 *     "knoop-cert-v1\nid=ID\nrole=ROLE\npublic-key=HEX\nvalid-from=T\n"
 *     "valid-until=T\nissuer=ID\nissuer-key=HEX\n".
 *   A certificate without them is "pinned": trusted only by being in an
 *   operator's trust directory, as before roots existed.
 *
 * A trust store is a directory of *.cert files. It answers which partner
 * owns a Curve key or a signing key. Expired or not-yet-valid certs are
 * refused (skipped with a WARN log line naming the file) unless the store is
 * loaded with KNOOP_TRUST_KEEP_EXPIRED, which auditors use to check old
 * signatures; two certs for one id, or one key under two ids, make the load
 * fail with an ERROR log line naming both files.
 *
 * Never logs or prints secret material.
 */
#ifndef KNOOP_KEYS_H
#define KNOOP_KEYS_H

#include "knoop.h"
#include "crypto.h"
#include "timefmt.h"

#define KNOOP_ROLE_MAX 32
/* The role of a trust anchor. A root never connects or publishes. */
#define KNOOP_ROLE_ROOT "root"
/* The system topics trust travels on (docs/protocol.md, "Trust"): payloads
 * are the text forms of an issued certificate and of a revocation list. */
#define KNOOP_TRUST_TOPIC_CERTS       "trust.certs"
#define KNOOP_TRUST_TOPIC_REVOCATIONS "trust.revocations"
#define KNOOP_TRUST_TYPE_CERT         "knoop.trust.Certificate"
#define KNOOP_TRUST_TYPE_REVOCATIONS  "knoop.trust.RevocationList"
/* The revocation list a daemon keeps among what it learned. */
#define KNOOP_REVOCATIONS_FILE "revocations.list"

typedef struct {
    char    id[KNOOP_ID_MAX + 1];
    char    role[KNOOP_ROLE_MAX + 1];
    uint8_t pk[KNOOP_PK_LEN];            /* Ed25519 signing key */
    uint8_t curve_pk[KNOOP_CURVE_LEN];   /* derived Curve25519 key */
    int64_t valid_from;                  /* unix seconds */
    int64_t valid_until;                 /* unix seconds */
    char    issuer[KNOOP_ID_MAX + 1];    /* "" = pinned (unsigned) */
    uint8_t issuer_pk[KNOOP_PK_LEN];
    uint8_t sig[KNOOP_SIG_LEN];
    int64_t revoked_at;                  /* 0 = not revoked; set by the trust store */
} knoop_cert_t;

typedef struct knoop_key_t knoop_key_t;

/* A role is 1..KNOOP_ROLE_MAX of [a-z0-9_-]: what certificates carry and
 * what policy rules name. */
bool knoop_role_valid(const char *role);

/* A new random key for partner `id` (knoop_id_valid) with `role`
 * ([a-z0-9_-], 1..32) into *out (the caller destroys it). Errors:
 * KNOOP_EINVAL (id or role), KNOOP_EIO (libsodium cannot start: no
 * randomness), KNOOP_ENOMEM. */
int  knoop_key_generate(const char *id, const char *role, knoop_key_t **out);
/* Write DIR/ID.key (0600, refuses to overwrite: KNOOP_EEXIST) and DIR/ID.cert
 * with the given validity (unix seconds). The cert is written first-time only
 * as well. Errors: KNOOP_EEXIST, KNOOP_EIO. */
int  knoop_key_save(const knoop_key_t *self, const char *dir,
                    int64_t valid_from, int64_t valid_until);
/* Load a key file. KNOOP_EPERM when its mode allows group/other access,
 * KNOOP_EMALFORMED when it does not parse, KNOOP_EIO/KNOOP_ENOTFOUND. */
int  knoop_key_load(const char *path, knoop_key_t **out);
void knoop_key_destroy(knoop_key_t **self_p);
/* A stamp of the key file at path (device, inode, size, modification
 * time; a symbolic link is followed): it changes when the file is replaced
 * (`mv new.key ID.key`, or a link turned to another file), so a daemon can
 * take up a rotated key without a restart. 0 when it cannot be read. */
uint64_t knoop_key_file_stamp(const char *path);

const char    *knoop_key_id(const knoop_key_t *self);      /* borrowed, lives with self */
const char    *knoop_key_role(const knoop_key_t *self);
const uint8_t *knoop_key_public(const knoop_key_t *self);  /* KNOOP_PK_LEN bytes */
const uint8_t *knoop_key_secret(const knoop_key_t *self);  /* KNOOP_SK_LEN bytes, for knoop_msg_build */
void           knoop_key_curve(const knoop_key_t *self, uint8_t pk[KNOOP_CURVE_LEN],
                               uint8_t sk[KNOOP_CURVE_LEN]);

/* Load a certificate file; parse one from bytes (a message payload; `name`
 * names it in log lines). KNOOP_EMALFORMED / KNOOP_ETOOBIG with the reason
 * logged. */
int  knoop_cert_load(const char *path, knoop_cert_t *out);
int  knoop_cert_parse(const char *data, size_t len, const char *name, knoop_cert_t *out);
/* Write a new certificate file (0644, never overwrites: KNOOP_EEXIST). */
int  knoop_cert_write(const knoop_cert_t *cert, const char *path);
/* The (unsigned) certificate of a key for the given validity. */
int  knoop_key_cert(const knoop_key_t *self, int64_t valid_from, int64_t valid_until,
                    knoop_cert_t *cert);
/* Sign cert with a root key (role root): fills issuer, issuer_pk, sig.
 * KNOOP_EINVAL when root is not a root key. */
int  knoop_cert_issue(knoop_cert_t *cert, const knoop_key_t *root);
/* KNOOP_OK when root issued cert and the signature verifies; KNOOP_EUNKNOWN
 * when cert names another issuer (or none); KNOOP_ESIG for a bad signature.
 * Validity in time is not checked here. */
int  knoop_cert_verify(const knoop_cert_t *cert, const knoop_cert_t *root);
/* Role root and issued by itself (the signature is checked by verify). */
bool knoop_cert_is_root(const knoop_cert_t *cert);
/* True when cert is revoked at unix time t (t >= its revocation time).
 * Messages signed before still verify; later ones do not. */
bool knoop_cert_revoked(const knoop_cert_t *cert, int64_t t);

/* Root keys at rest: DIR/ID.key sealed under the passphrase (0600, O_EXCL)
 * and DIR/ID.cert, the self-signed root certificate. The key must have role
 * root. Errors: KNOOP_EINVAL, KNOOP_EEXIST, KNOOP_EIO, KNOOP_ENOMEM. */
int  knoop_key_save_sealed(const knoop_key_t *self, const char *dir, const char *pass,
                           size_t pass_len, knoop_pwcost_t cost, int64_t valid_from,
                           int64_t valid_until);
/* Open a sealed root key. KNOOP_ESIG for a wrong passphrase (or an altered
 * file), KNOOP_EPERM for a file group or others may access,
 * KNOOP_EMALFORMED for a file that is not a sealed key. knoop_key_load
 * refuses a sealed file with KNOOP_EPERM. */
int  knoop_key_load_sealed(const char *path, const char *pass, size_t pass_len,
                           knoop_key_t **out);
/* Append the cert's text form (the file format) to out. */
int  knoop_cert_format(const knoop_cert_t *cert, knoop_buf_t *out);
/* Clock-skew tolerance at both ends of a certificate's validity: a
 * certificate is accepted from valid-from minus this until valid-until plus
 * this (docs/protocol.md, "Clocks"), the same 5 minutes a broker allows a
 * message's HLC to run ahead (KNOOP_HLC_MAX_SKEW_MS). */
#define KNOOP_CERT_SKEW_SECONDS 300
/* KNOOP_OK when valid at `now` (unix seconds) within KNOOP_CERT_SKEW_SECONDS
 * at either end, else KNOOP_EEXPIRED. Every refusal of an expired or
 * not-yet-valid certificate (trust store, ZAP, sessions, learning) goes
 * through here. */
int  knoop_cert_check_time(const knoop_cert_t *cert, int64_t now);
/* As knoop_cert_check_time with an explicit tolerance in seconds (0:
 * exact; negative counts as 0). */
int  knoop_cert_check_time_skew(const knoop_cert_t *cert, int64_t now, int64_t skew);

/* Certificate times are RFC 3339 UTC: knoop_time_parse, knoop_time_format
 * (timefmt.h). */

typedef struct knoop_trust_t knoop_trust_t;

#define KNOOP_TRUST_KEEP_EXPIRED 1u

/* Load every *.cert in dir. Errors: KNOOP_ENOTFOUND (no such directory),
 * KNOOP_EDUPLICATE (same id or key twice), KNOOP_EMALFORMED (a cert that
 * does not parse: the load fails rather than silently trusting less). */
int  knoop_trust_load(const char *dir, unsigned flags, knoop_trust_t **out);
void knoop_trust_destroy(knoop_trust_t **self_p);
size_t knoop_trust_size(const knoop_trust_t *self);
/* Lookups: borrowed cert pointer valid while the store lives, or NULL. */
const knoop_cert_t *knoop_trust_by_id(const knoop_trust_t *self, const char *id);
const knoop_cert_t *knoop_trust_by_curve(const knoop_trust_t *self,
                                         const uint8_t curve_pk[KNOOP_CURVE_LEN]);
const knoop_cert_t *knoop_trust_by_sign(const knoop_trust_t *self,
                                        const uint8_t pk[KNOOP_PK_LEN]);
/* A fingerprint of the certificates in a trust directory (file names,
 * sizes, modification times): it changes when a certificate is added,
 * removed or rewritten in place, so daemons can reload exactly then.
 * 0 when the directory cannot be read. */
uint64_t knoop_trust_dir_stamp(const char *dir);
/* Is a file of that name (in a trust directory, or what the mesh taught) a
 * certificate the trust store takes? NAME.cert, as the shell glob *.cert:
 * hidden files (.NAME.cert, editor leftovers) are not. The one rule for
 * every walk of such a directory (the store, its stamp, the CLI's). */
bool knoop_trust_file_is_cert(const char *name);

/* All keys of an id (rotation keeps old ones): *n certificates from the
 * returned one on, oldest valid-from first; NULL and *n = 0 when unknown.
 * knoop_trust_by_id returns the newest of them that is not revoked (else
 * the newest). Borrowed, valid while the store lives. */
const knoop_cert_t *knoop_trust_id_keys(const knoop_trust_t *self, const char *id, size_t *n);
/* The certificate of id for that very key, or NULL (O(log n + keys of id)). */
const knoop_cert_t *knoop_trust_id_key(const knoop_trust_t *self, const char *id,
                                       const uint8_t pk[KNOOP_PK_LEN]);

/* The key a client pins for its `attempt`-th connection to a server id of
 * `role` (a broker): the id's usable keys (that role, valid at now, not
 * revoked at now), newest first, taken in turn as attempts count up. A
 * broker whose next key was announced (issued and learned over the mesh)
 * before it switched is so reached on either key: a client that fails to
 * connect with one moves to the next (broker key rotation, docs/protocol.md
 * "Trust"). *n gets the number of usable keys; NULL when there is none. */
const knoop_cert_t *knoop_trust_server_key(const knoop_trust_t *self, const char *id,
                                           const char *role, int64_t now, unsigned attempt,
                                           size_t *n);

/* Pin the server key (role broker) a client uses for its attempt-th
 * connection to server `id`: knoop_trust_server_key's choice at the current
 * time is copied into *pinned, and logged as "LABEL ID: connecting with its
 * key FP" when it differs from the key pinned before. With no usable key
 * *pinned is kept (the handshake then fails and says why). One helper for
 * the node's broker links and the broker's mesh peers. */
void knoop_trust_pin_server(const knoop_trust_t *self, const char *label, const char *id,
                            unsigned attempt, knoop_cert_t *pinned);

/* i-th cert, 0 <= i < size, in id order. */
const knoop_cert_t *knoop_trust_at(const knoop_trust_t *self, size_t i);

/* As knoop_trust_load, plus what the daemon learned over the mesh in
 * `learned` (NULL: nothing; a missing directory: nothing yet): issued
 * certificates (*.cert, each re-checked against the roots; a reissue for an
 * id replaces the one with the earlier valid-from) and revocations.list
 * (applied to every certificate's revoked_at). In `dir`, certificates with
 * role root are the trust anchors (refused unless validly self-signed), and
 * an issued certificate whose root is not there, or whose signature does
 * not verify, fails the load. */
int  knoop_trust_load_ex(const char *dir, const char *learned, unsigned flags,
                         knoop_trust_t **out);
/* The stamp of both directories (see knoop_trust_dir_stamp). */
uint64_t knoop_trust_stamp(const char *dir, const char *learned);
size_t knoop_trust_roots(const knoop_trust_t *self);
const knoop_cert_t *knoop_trust_root_at(const knoop_trust_t *self, size_t i);
/* Number of the revocation list applied, 0 when none. */
uint64_t knoop_trust_revocation_number(const knoop_trust_t *self);
/* May this issued certificate be learned? KNOOP_OK, or KNOOP_EUNKNOWN (no
 * issuer, or not a root here), KNOOP_ESIG, KNOOP_EPERM (role root),
 * KNOOP_EEXPIRED (outside its validity at now), with a sentence in why. */
int  knoop_trust_check_issued(const knoop_trust_t *self, const knoop_cert_t *cert, int64_t now,
                              char *why, size_t why_size);

/* Daemons warn this long before a certificate they hold expires. */
#define KNOOP_EXPIRY_WARN_SECONDS (30 * 86400)
typedef void (knoop_trust_cert_fn)(void *arg, const knoop_cert_t *cert, int64_t seconds_left);
/* Calls fn for every certificate (roots included, revoked ones not) that
 * expires within `within` seconds of now or has expired (seconds_left < 0).
 * Returns how many. */
size_t knoop_trust_expiring(const knoop_trust_t *self, int64_t now, int64_t within,
                            knoop_trust_cert_fn *fn, void *arg);
/* Log a WARN line for each certificate expiring within 30 days (who:
 * "broker"/"node", for the line). Returns how many. */
size_t knoop_trust_warn_expiring(const knoop_trust_t *self, const char *who, int64_t now);

/* ---- revocation lists ----
 * A root-signed, numbered list; each one replaces the ones with lower
 * numbers. Text:
 *   knoop-revocations-v1
 *   issuer ROOT-ID
 *   issuer-key HEX
 *   number N
 *   revoked ID|- FINGERPRINT|- TIME REASON...      (any number of lines)
 *   signature HEX      (over the lines above, each ending in \n)
 * Lines starting with # are comments. */
typedef struct {
    char    id[KNOOP_ID_MAX + 1];        /* "-": by fingerprint only */
    char    fingerprint[17];             /* "-": every key of the id */
    int64_t at;                          /* unix seconds */
    char    reason[201];
} knoop_revoked_t;

typedef struct knoop_revlist_t knoop_revlist_t;

/* An empty list of issuer (a partner id) into *out (the caller destroys
 * it). Errors: KNOOP_EINVAL (issuer), KNOOP_ENOMEM. */
int  knoop_revlist_new(const char *issuer, knoop_revlist_t **out);
void knoop_revlist_destroy(knoop_revlist_t **self_p);
/* Parse (syntax only; verify separately). Reasons logged. */
int  knoop_revlist_parse(const char *data, size_t len, const char *name, knoop_revlist_t **out);
int  knoop_revlist_load(const char *path, knoop_revlist_t **out);
/* Replace the file at path atomically with the list's text. */
int  knoop_revlist_save(const knoop_revlist_t *self, const char *path);
int  knoop_revlist_format(const knoop_revlist_t *self, knoop_buf_t *out);
/* Add an entry (id or fingerprint or both; reason printable ASCII, up to
 * 200 characters). KNOOP_EINVAL, KNOOP_ETOOBIG (4096 entries). */
int  knoop_revlist_add(knoop_revlist_t *self, const char *id, const char *fingerprint,
                       int64_t at, const char *reason);
/* Number it one higher and sign it with the root key of its issuer. */
int  knoop_revlist_sign(knoop_revlist_t *self, const knoop_key_t *root);
int  knoop_revlist_verify(const knoop_revlist_t *self, const knoop_cert_t *root);
/* Against the store's roots: KNOOP_OK, KNOOP_EUNKNOWN, KNOOP_ESIG + why. */
int  knoop_trust_check_revocations(const knoop_trust_t *self, const knoop_revlist_t *list,
                                   char *why, size_t why_size);
uint64_t    knoop_revlist_number(const knoop_revlist_t *self);
const char *knoop_revlist_issuer(const knoop_revlist_t *self);
size_t      knoop_revlist_size(const knoop_revlist_t *self);
const knoop_revoked_t *knoop_revlist_at(const knoop_revlist_t *self, size_t i);
/* Earliest revocation time of cert in the list, 0 if not revoked. */
int64_t     knoop_revlist_revoked_at(const knoop_revlist_t *self, const knoop_cert_t *cert);

/* Remember, in the daemon's `learned` directory (created 0700), a
 * certificate or revocation list it checked. KNOOP_EEXIST for a cert
 * learned before. Files are replaced atomically. */
int  knoop_trust_learn_cert(const char *learned, const knoop_cert_t *cert);
int  knoop_trust_learn_revocations(const char *learned, const knoop_revlist_t *list);

#endif
