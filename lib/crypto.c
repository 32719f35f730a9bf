/* crypto.c — the only file that includes sodium.h. See crypto.h. */
#include "crypto.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(knoop_hasher_t) >= sizeof(crypto_generichash_state),
               "knoop_hasher_t too small for crypto_generichash_state");

int knoop_crypto_init(void)
{
    return sodium_init() < 0 ? KNOOP_EIO : KNOOP_OK;
}

void knoop_hash(uint8_t out[KNOOP_HASH_LEN], const void *data, size_t len)
{
    crypto_generichash(out, KNOOP_HASH_LEN, data, len, NULL, 0);
}

void knoop_chain(uint8_t out[KNOOP_HASH_LEN], const uint8_t prev[KNOOP_HASH_LEN],
                 const uint8_t *body, size_t body_len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, KNOOP_HASH_LEN);
    crypto_generichash_update(&st, prev, KNOOP_HASH_LEN);
    crypto_generichash_update(&st, body, body_len);
    crypto_generichash_final(&st, out, KNOOP_HASH_LEN);
}

void knoop_hasher_init(knoop_hasher_t *h)
{
    crypto_generichash_init((crypto_generichash_state *) h->opaque, NULL, 0, KNOOP_HASH_LEN);
}

void knoop_hasher_update(knoop_hasher_t *h, const void *data, size_t len)
{
    crypto_generichash_update((crypto_generichash_state *) h->opaque, data, len);
}

void knoop_hasher_final(knoop_hasher_t *h, uint8_t out[KNOOP_HASH_LEN])
{
    crypto_generichash_final((crypto_generichash_state *) h->opaque, out, KNOOP_HASH_LEN);
}

void knoop_hasher_init_len(knoop_hasher_t *h, size_t outlen)
{
    assert(outlen >= crypto_generichash_BYTES_MIN && outlen <= crypto_generichash_BYTES_MAX);
    crypto_generichash_init((crypto_generichash_state *) h->opaque, NULL, 0, outlen);
}

void knoop_hasher_final_len(knoop_hasher_t *h, uint8_t *out, size_t outlen)
{
    crypto_generichash_final((crypto_generichash_state *) h->opaque, out, outlen);
}

_Static_assert(crypto_shorthash_siphashx24_BYTES == 16 && crypto_shorthash_siphashx24_KEYBYTES == 16,
               "knoop_check128 is 16 bytes under a 16-byte key");

void knoop_check128(uint8_t out[16], const uint8_t key[16], const void *data, size_t len)
{
    crypto_shorthash_siphashx24(out, data, len, key);
}

void knoop_random(void *buf, size_t len)
{
    randombytes_buf(buf, len);
}

void knoop_sign_keypair(uint8_t pk[KNOOP_PK_LEN], uint8_t sk[KNOOP_SK_LEN],
                        uint8_t seed_out[KNOOP_SEED_LEN])
{
    randombytes_buf(seed_out, KNOOP_SEED_LEN);
    crypto_sign_seed_keypair(pk, sk, seed_out);
}

void knoop_sign_seed_keypair(uint8_t pk[KNOOP_PK_LEN], uint8_t sk[KNOOP_SK_LEN],
                             const uint8_t seed[KNOOP_SEED_LEN])
{
    crypto_sign_seed_keypair(pk, sk, seed);
}

int knoop_curve_from_sign_pk(uint8_t curve_pk[KNOOP_CURVE_LEN], const uint8_t pk[KNOOP_PK_LEN])
{
    return crypto_sign_ed25519_pk_to_curve25519(curve_pk, pk) == 0 ? KNOOP_OK : KNOOP_EINVAL;
}

void knoop_curve_from_sign_sk(uint8_t curve_sk[KNOOP_CURVE_LEN], const uint8_t sk[KNOOP_SK_LEN])
{
    crypto_sign_ed25519_sk_to_curve25519(curve_sk, sk);
}

/* The signed statement, fields length-prefixed so no two different heads
 * serialise alike. */
static size_t s_head_statement(uint8_t *out, size_t cap, const char *origin,
                               const char *topic, uint64_t epoch, uint64_t seq,
                               const uint8_t chain[KNOOP_HASH_LEN])
{
    static const char tag[] = "knoop-head-v1";
    const void *parts[6];
    size_t lens[6];
    uint8_t e[8], s[8];
    knoop_put_be64(e, epoch);
    knoop_put_be64(s, seq);
    parts[0] = tag;    lens[0] = sizeof tag - 1;
    parts[1] = origin; lens[1] = strlen(origin);
    parts[2] = topic;  lens[2] = strlen(topic);
    parts[3] = e;      lens[3] = 8;
    parts[4] = s;      lens[4] = 8;
    parts[5] = chain;  lens[5] = KNOOP_HASH_LEN;
    size_t n = 0;
    for (int i = 0; i < 6; i++) {
        if (n + 4 + lens[i] > cap)
            return 0;
        out[n++] = (uint8_t) (lens[i] >> 24);
        out[n++] = (uint8_t) (lens[i] >> 16);
        out[n++] = (uint8_t) (lens[i] >> 8);
        out[n++] = (uint8_t) lens[i];
        memcpy(out + n, parts[i], lens[i]);
        n += lens[i];
    }
    return n;
}

#define HEAD_STATEMENT_MAX (6 * 4 + 13 + KNOOP_ID_MAX + KNOOP_TOPIC_MAX + 16 + KNOOP_HASH_LEN)

void knoop_head_sign(uint8_t sig[KNOOP_SIG_LEN], const uint8_t sk[KNOOP_SK_LEN],
                     const char *origin, const char *topic, uint64_t epoch,
                     uint64_t seq, const uint8_t chain[KNOOP_HASH_LEN])
{
    uint8_t st[HEAD_STATEMENT_MAX];
    size_t n = s_head_statement(st, sizeof st, origin, topic, epoch, seq, chain);
    /* Origin and topic are validated before signing; an overlong one is a
     * programmer error, and an all-zero signature never verifies. */
    if (n == 0) {
        memset(sig, 0, KNOOP_SIG_LEN);
        return;
    }
    crypto_sign_detached(sig, NULL, st, n, sk);
}

int knoop_head_verify(const uint8_t sig[KNOOP_SIG_LEN], const uint8_t pk[KNOOP_PK_LEN],
                      const char *origin, const char *topic, uint64_t epoch,
                      uint64_t seq, const uint8_t chain[KNOOP_HASH_LEN])
{
    uint8_t st[HEAD_STATEMENT_MAX];
    size_t n = s_head_statement(st, sizeof st, origin, topic, epoch, seq, chain);
    if (n == 0)
        return KNOOP_ESIG;
    return crypto_sign_verify_detached(sig, st, n, pk) == 0 ? KNOOP_OK : KNOOP_ESIG;
}

void knoop_sign_statement(uint8_t sig[KNOOP_SIG_LEN], const uint8_t sk[KNOOP_SK_LEN],
                          const void *data, size_t len)
{
    crypto_sign_detached(sig, NULL, data, len, sk);
}

int knoop_verify_statement(const uint8_t sig[KNOOP_SIG_LEN], const uint8_t pk[KNOOP_PK_LEN],
                           const void *data, size_t len)
{
    return crypto_sign_verify_detached(sig, data, len, pk) == 0 ? KNOOP_OK : KNOOP_ESIG;
}

_Static_assert(KNOOP_SEAL_SALT_LEN == crypto_pwhash_SALTBYTES, "pwhash salt size");
_Static_assert(KNOOP_SEAL_NONCE_LEN == crypto_secretbox_NONCEBYTES, "secretbox nonce size");
_Static_assert(KNOOP_SEAL_MAC_LEN == crypto_secretbox_MACBYTES, "secretbox MAC size");

/* The box key from the passphrase. An offline root key is opened a few
 * times a year: MODERATE cost (256 MiB, about a second) by default makes
 * guessing expensive without making the ceremony slow; the cost a file
 * was sealed with is stored in it. */
static int s_pw_key(uint8_t key[crypto_secretbox_KEYBYTES], const char *pass, size_t pass_len,
                    const uint8_t salt[KNOOP_SEAL_SALT_LEN], uint64_t ops, uint64_t mem)
{
    if (ops < crypto_pwhash_OPSLIMIT_INTERACTIVE || ops > crypto_pwhash_OPSLIMIT_SENSITIVE
        || mem < crypto_pwhash_MEMLIMIT_INTERACTIVE || mem > crypto_pwhash_MEMLIMIT_SENSITIVE)
        return KNOOP_EINVAL;
    if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, pass_len, salt,
                      (unsigned long long) ops, (size_t) mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return KNOOP_ENOMEM;
    return KNOOP_OK;
}

int knoop_seal_passphrase(uint8_t *box, const uint8_t *plain, size_t len,
                          const char *pass, size_t pass_len, knoop_pwcost_t cost,
                          uint8_t salt[KNOOP_SEAL_SALT_LEN],
                          uint8_t nonce[KNOOP_SEAL_NONCE_LEN],
                          uint64_t *ops, uint64_t *mem)
{
    uint8_t key[crypto_secretbox_KEYBYTES];
    switch (cost) {
    case KNOOP_PWCOST_INTERACTIVE:
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        break;
    case KNOOP_PWCOST_SENSITIVE:
        *ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
        *mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
        break;
    default:
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
        break;
    }
    randombytes_buf(salt, KNOOP_SEAL_SALT_LEN);
    randombytes_buf(nonce, KNOOP_SEAL_NONCE_LEN);
    int rc = s_pw_key(key, pass, pass_len, salt, *ops, *mem);
    if (rc == KNOOP_OK)
        crypto_secretbox_easy(box, plain, len, nonce, key);
    sodium_memzero(key, sizeof key);
    return rc;
}

int knoop_open_passphrase(uint8_t *plain, const uint8_t *box, size_t box_len,
                          const char *pass, size_t pass_len,
                          const uint8_t salt[KNOOP_SEAL_SALT_LEN],
                          const uint8_t nonce[KNOOP_SEAL_NONCE_LEN],
                          uint64_t ops, uint64_t mem)
{
    if (box_len < KNOOP_SEAL_MAC_LEN)
        return KNOOP_EINVAL;
    uint8_t key[crypto_secretbox_KEYBYTES];
    int rc = s_pw_key(key, pass, pass_len, salt, ops, mem);
    if (rc == KNOOP_OK && crypto_secretbox_open_easy(plain, box, box_len, nonce, key) != 0)
        rc = KNOOP_ESIG;
    sodium_memzero(key, sizeof key);
    return rc;
}

void knoop_wipe(void *p, size_t len)
{
    sodium_memzero(p, len);
}

bool knoop_equal_ct(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

int knoop_password_hash(char out[KNOOP_PWHASH_MAX], const char *password)
{
    _Static_assert(KNOOP_PWHASH_MAX >= crypto_pwhash_STRBYTES, "hash string size");
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return KNOOP_ENOMEM;
    return KNOOP_OK;
}

int knoop_password_verify(const char *hash, const char *password)
{
    if (strnlen(hash, KNOOP_PWHASH_MAX) >= KNOOP_PWHASH_MAX)
        return KNOOP_EPERM;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? KNOOP_OK
                                                                           : KNOOP_EPERM;
}

void knoop_hex_encode(char *out, const uint8_t *data, size_t len)
{
    sodium_bin2hex(out, 2 * len + 1, data, len);
}

long knoop_hex_decode(uint8_t *out, size_t out_max, const char *hex)
{
    size_t n = 0;
    const char *end = NULL;
    size_t hl = strlen(hex);
    if (hl % 2)
        return KNOOP_EMALFORMED;
    if (hl / 2 > out_max)
        return KNOOP_ETOOBIG;
    if (sodium_hex2bin(out, out_max, hex, hl, NULL, &n, &end) != 0 || (end && *end))
        return KNOOP_EMALFORMED;
    return (long) n;
}

size_t knoop_base64_size(size_t len)
{
    return sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
}

void knoop_base64_encode(char *out, size_t out_size, const uint8_t *data, size_t len)
{
    sodium_bin2base64(out, out_size, data, len, sodium_base64_VARIANT_ORIGINAL);
}

long knoop_base64_decode(uint8_t *out, size_t out_max, const char *b64)
{
    size_t n = 0;
    const char *end = NULL;
    size_t bl = strlen(b64);
    if (bl / 4 * 3 > out_max + 2)
        return KNOOP_ETOOBIG;
    if (sodium_base642bin(out, out_max, b64, bl, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || (end && *end))
        return KNOOP_EMALFORMED;
    return (long) n;
}

void knoop_fingerprint(char out[17], const uint8_t *pk, size_t len)
{
    uint8_t h[8];
    crypto_generichash(h, sizeof h, pk, len, NULL, 0);
    sodium_bin2hex(out, 17, h, sizeof h);
}
