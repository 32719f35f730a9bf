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

#define KNOOP_ROLE_MAX 32

typedef struct {
    char    id[KNOOP_ID_MAX + 1];
    char    role[KNOOP_ROLE_MAX + 1];
    uint8_t pk[KNOOP_PK_LEN];            /* Ed25519 signing key */
    uint8_t curve_pk[KNOOP_CURVE_LEN];   /* derived Curve25519 key */
    int64_t valid_from;                  /* unix seconds */
    int64_t valid_until;                 /* unix seconds */
} knoop_cert_t;

typedef struct knoop_key_t knoop_key_t;

/* A new random key for partner `id` (knoop_id_valid) with `role`
 * ([a-z0-9_-], 1..32). NULL on invalid arguments. */
knoop_key_t *knoop_key_generate(const char *id, const char *role);
/* Write DIR/ID.key (0600, refuses to overwrite: KNOOP_EEXIST) and DIR/ID.cert
 * with the given validity (unix seconds). The cert is written first-time only
 * as well. Errors: KNOOP_EEXIST, KNOOP_EIO. */
int  knoop_key_save(const knoop_key_t *self, const char *dir,
                    int64_t valid_from, int64_t valid_until);
/* Load a key file. KNOOP_EPERM when its mode allows group/other access,
 * KNOOP_EMALFORMED when it does not parse, KNOOP_EIO/KNOOP_ENOTFOUND. */
int  knoop_key_load(const char *path, knoop_key_t **out);
void knoop_key_destroy(knoop_key_t **self_p);

const char    *knoop_key_id(const knoop_key_t *self);      /* borrowed, lives with self */
const char    *knoop_key_role(const knoop_key_t *self);
const uint8_t *knoop_key_public(const knoop_key_t *self);  /* KNOOP_PK_LEN bytes */
const uint8_t *knoop_key_secret(const knoop_key_t *self);  /* KNOOP_SK_LEN bytes, for knoop_msg_build */
void           knoop_key_curve(const knoop_key_t *self, uint8_t pk[KNOOP_CURVE_LEN],
                               uint8_t sk[KNOOP_CURVE_LEN]);

/* Load / write a certificate file. */
int  knoop_cert_load(const char *path, knoop_cert_t *out);
/* Append the cert's text form (the file format) to out. */
int  knoop_cert_format(const knoop_cert_t *cert, knoop_buf_t *out);
/* KNOOP_OK when valid at `now` (unix seconds), else KNOOP_EEXPIRED. */
int  knoop_cert_check_time(const knoop_cert_t *cert, int64_t now);

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" <-> unix seconds. */
int  knoop_time_parse(const char *text, int64_t *out);
void knoop_time_format(char out[21], int64_t t);
/* Any RFC 3339 date-time with its zone: "2021-07-14T18:00:00+02:00",
 * "...T16:00:00.250Z"; a date that does not exist, no zone, or anything
 * else is KNOOP_EMALFORMED. *out gets unix seconds (fraction dropped). */
int  knoop_time_parse_rfc3339(const char *text, int64_t *out);

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

/* i-th cert, 0 <= i < size, in id order. */
const knoop_cert_t *knoop_trust_at(const knoop_trust_t *self, size_t i);

#endif
