/*
 * crypto.h — every cryptographic primitive knooppunt uses, behind one file
 * (the only one that includes sodium.h).
 *
 *   chain(m)  = BLAKE2b-256(prev || body)
 *   head sig  = Ed25519( "knoop-head-v1" || origin || topic || epoch || seq || chain )
 *               every field prefixed with its length as 4 bytes big-endian;
 *               epoch and seq are 8 bytes big-endian.
 *
 * A head signature covers the chain value of one message, and through the
 * chain every message of its stream before it.
 *
 * knoop_crypto_init() must run once before anything else here (it is cheap
 * and idempotent; key, trust and journal constructors call it).
 */
#ifndef KNOOP_CRYPTO_H
#define KNOOP_CRYPTO_H

#include "knoop.h"

#define KNOOP_SEED_LEN   32   /* Ed25519 seed: the secret in a key file */
#define KNOOP_SK_LEN     64   /* expanded Ed25519 secret key */
#define KNOOP_CURVE_LEN  32   /* Curve25519 key, public or secret */

/* Initialise libsodium. KNOOP_EIO if it cannot be. */
int  knoop_crypto_init(void);

/* out = BLAKE2b-256 of data. */
void knoop_hash(uint8_t out[KNOOP_HASH_LEN], const void *data, size_t len);
/* out = BLAKE2b-256(prev || body). */
void knoop_chain(uint8_t out[KNOOP_HASH_LEN], const uint8_t prev[KNOOP_HASH_LEN],
                 const uint8_t *body, size_t body_len);
/* Incremental BLAKE2b-256 for digests over many rows. */
typedef struct { uint8_t opaque[384] __attribute__((aligned(64))); } knoop_hasher_t;
void knoop_hasher_init(knoop_hasher_t *h);
void knoop_hasher_update(knoop_hasher_t *h, const void *data, size_t len);
void knoop_hasher_final(knoop_hasher_t *h, uint8_t out[KNOOP_HASH_LEN]);
/* As init and final, for BLAKE2b of another output length (16..64 bytes;
 * BLAKE2b-128 is not a cut BLAKE2b-256): the same outlen for both. */
void knoop_hasher_init_len(knoop_hasher_t *h, size_t outlen);
void knoop_hasher_final_len(knoop_hasher_t *h, uint8_t *out, size_t outlen);

/* out = SipHash-2-4 with 128-bit output (libsodium's siphashx24) of data
 * under key. Not a digest anyone may rely on against an adversary (the key
 * is no secret where it is used): a fast check of stored bytes against bit
 * rot and misplaced values, where signatures and the chain already stand
 * against forgery. */
void knoop_check128(uint8_t out[16], const uint8_t key[16], const void *data, size_t len);

/* Fill buf with cryptographically random bytes. */
void knoop_random(void *buf, size_t len);

/* New Ed25519 key pair from random or from a given seed. */
void knoop_sign_keypair(uint8_t pk[KNOOP_PK_LEN], uint8_t sk[KNOOP_SK_LEN],
                        uint8_t seed_out[KNOOP_SEED_LEN]);
void knoop_sign_seed_keypair(uint8_t pk[KNOOP_PK_LEN], uint8_t sk[KNOOP_SK_LEN],
                             const uint8_t seed[KNOOP_SEED_LEN]);
/* The Curve25519 keys for CurveZMQ derived from the Ed25519 ones.
 * KNOOP_EINVAL for a public key that is not a valid curve point. */
int  knoop_curve_from_sign_pk(uint8_t curve_pk[KNOOP_CURVE_LEN], const uint8_t pk[KNOOP_PK_LEN]);
void knoop_curve_from_sign_sk(uint8_t curve_sk[KNOOP_CURVE_LEN], const uint8_t sk[KNOOP_SK_LEN]);

/* Sign / verify a stream head (see top of file). origin and topic are
 * NUL-terminated. verify returns KNOOP_OK or KNOOP_ESIG. */
void knoop_head_sign(uint8_t sig[KNOOP_SIG_LEN], const uint8_t sk[KNOOP_SK_LEN],
                     const char *origin, const char *topic, uint64_t epoch,
                     uint64_t seq, const uint8_t chain[KNOOP_HASH_LEN]);
int  knoop_head_verify(const uint8_t sig[KNOOP_SIG_LEN], const uint8_t pk[KNOOP_PK_LEN],
                       const char *origin, const char *topic, uint64_t epoch,
                       uint64_t seq, const uint8_t chain[KNOOP_HASH_LEN]);

/* Sign / verify a statement with an Ed25519 key: the caller's bytes are
 * signed as they are, so each kind of statement must start with its own
 * domain tag (certificates: "knoop-cert-v1\n", revocation lists:
 * "knoop-revocations-v1\n"), never one a stream head could carry.
 * verify returns KNOOP_OK or KNOOP_ESIG. */
void knoop_sign_statement(uint8_t sig[KNOOP_SIG_LEN], const uint8_t sk[KNOOP_SK_LEN],
                          const void *data, size_t len);
int  knoop_verify_statement(const uint8_t sig[KNOOP_SIG_LEN], const uint8_t pk[KNOOP_PK_LEN],
                            const void *data, size_t len);

/* Secrets at rest under a passphrase: the key comes from crypto_pwhash
 * (Argon2id) over the passphrase and a random salt, the box is
 * crypto_secretbox (XSalsa20-Poly1305) with a random nonce. seal fills salt,
 * nonce, box (len + KNOOP_SEAL_MAC_LEN bytes) and the cost it used
 * (*ops, *mem). open returns KNOOP_ESIG when the passphrase is wrong or the
 * box was altered (the two cannot be told apart, by design), KNOOP_EINVAL
 * for a cost outside [interactive, sensitive] (a file asking for more would
 * be a way to exhaust the machine), KNOOP_ENOMEM when the memory cost
 * cannot be had. */
#define KNOOP_SEAL_SALT_LEN  16
#define KNOOP_SEAL_NONCE_LEN 24
#define KNOOP_SEAL_MAC_LEN   16
/* Cost of the passphrase hash: libsodium's three levels. */
typedef enum {
    KNOOP_PWCOST_INTERACTIVE = 0,   /* 64 MiB, a fraction of a second */
    KNOOP_PWCOST_MODERATE = 1,      /* 256 MiB, about a second (default) */
    KNOOP_PWCOST_SENSITIVE = 2,     /* 1 GiB, several seconds: the offline root */
} knoop_pwcost_t;
int  knoop_seal_passphrase(uint8_t *box, const uint8_t *plain, size_t len,
                           const char *pass, size_t pass_len, knoop_pwcost_t cost,
                           uint8_t salt[KNOOP_SEAL_SALT_LEN],
                           uint8_t nonce[KNOOP_SEAL_NONCE_LEN],
                           uint64_t *ops, uint64_t *mem);
int  knoop_open_passphrase(uint8_t *plain, const uint8_t *box, size_t box_len,
                           const char *pass, size_t pass_len,
                           const uint8_t salt[KNOOP_SEAL_SALT_LEN],
                           const uint8_t nonce[KNOOP_SEAL_NONCE_LEN],
                           uint64_t ops, uint64_t mem);

/* Wipe secret material. */
void knoop_wipe(void *p, size_t len);

/* Constant-time comparison of two byte strings of length len (session
 * tokens, CSRF tokens): true when equal. */
bool knoop_equal_ct(const void *a, const void *b, size_t len);

/* Password hashes for the people who log in to knoop-web: libsodium's
 * crypto_pwhash_str (Argon2id, interactive limits), the "$argon2id$..."
 * string, NUL-terminated, at most KNOOP_PWHASH_MAX bytes with the NUL.
 * hash: KNOOP_ENOMEM when the memory the hash needs cannot be had.
 * verify: KNOOP_OK on a match, KNOOP_EPERM on a wrong password or a stored
 * hash that is not a valid hash string (both are a refusal to log in). */
#define KNOOP_PWHASH_MAX 128
int  knoop_password_hash(char out[KNOOP_PWHASH_MAX], const char *password);
int  knoop_password_verify(const char *hash, const char *password);

/* Hex and base64 (standard alphabet, padded). Encoders NUL-terminate and
 * need out_size >= 2*len+1 resp. knoop_base64_size(len). Decoders return the
 * decoded length or a negative KNOOP_E* code (KNOOP_EMALFORMED, KNOOP_ETOOBIG). */
void   knoop_hex_encode(char *out, const uint8_t *data, size_t len);
long   knoop_hex_decode(uint8_t *out, size_t out_max, const char *hex);
size_t knoop_base64_size(size_t len);
void   knoop_base64_encode(char *out, size_t out_size, const uint8_t *data, size_t len);
long   knoop_base64_decode(uint8_t *out, size_t out_max, const char *b64);

/* Short public-key fingerprint for logs: first 8 bytes of BLAKE2b(pk) in hex
 * (17 bytes with NUL). Never derived from secret material. */
void knoop_fingerprint(char out[17], const uint8_t *pk, size_t len);

#endif
