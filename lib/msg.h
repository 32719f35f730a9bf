/*
 * msg.h — the envelope codec: build a message, and the one checked gate that
 * parses and validates untrusted envelope bytes. The only envelope code that
 * includes the generated protobuf-c header.
 *
 * A message is Envelope{body, sig}. Hashes and signatures cover the exact
 * body bytes received (never a re-encoding):
 *     chain  = BLAKE2b-256(prev || body)
 *     stream = first 8 bytes (big-endian) of BLAKE2b(origin || 0 || topic || 0 || epoch_be64)
 * See crypto.h for the head signature.
 */
#ifndef KNOOP_MSG_H
#define KNOOP_MSG_H

#include "knoop.h"

#define KNOOP_BODY_VERSION 1

typedef enum {
    KNOOP_PRIO_ROUTINE = 0,
    KNOOP_PRIO_IMMEDIATE = 1,
    KNOOP_PRIO_FLASH = 2,
} knoop_priority_t;

typedef enum {
    KNOOP_STATUS_UNSPECIFIED = 0,   /* refused by the parser */
    KNOOP_STATUS_ACTUAL = 1,
    KNOOP_STATUS_EXERCISE = 2,
    KNOOP_STATUS_TEST = 3,
    KNOOP_STATUS_SYSTEM = 4,
} knoop_status_t;

typedef enum {
    KNOOP_TLP_UNSPECIFIED = 0,      /* refused by the parser */
    KNOOP_TLP_CLEAR = 1,
    KNOOP_TLP_GREEN = 2,
    KNOOP_TLP_AMBER = 3,
    KNOOP_TLP_RED = 4,
    KNOOP_TLP_AMBER_STRICT = 5,     /* TLP 2.0 AMBER+STRICT */
} knoop_tlp_t;

/* Most recipients a message may name. */
#define KNOOP_RECIPIENTS_MAX 64

/* True for the labels brokers deliver only to the named recipients
 * (AMBER+STRICT, RED). */
bool knoop_tlp_restricted(knoop_tlp_t t);

/* The fields of a Body. For knoop_msg_build the caller fills it; in a parsed
 * knoop_msg_t the strings and payload point into the message's own storage. */
typedef struct {
    uint32_t         version;
    const char      *origin;
    const char      *topic;
    uint64_t         epoch;
    uint64_t         seq;
    uint64_t         hlc;
    uint8_t          prev[KNOOP_HASH_LEN];
    const char      *key;            /* "" = the topic is the state key */
    const char      *type;
    knoop_priority_t priority;
    knoop_status_t   status;
    knoop_tlp_t      tlp;
    const uint8_t   *payload;
    size_t           payload_len;
    const char *const *recipients;   /* partner ids; required for restricted TLP */
    size_t           nrecipients;
} knoop_body_t;

/* A parsed, validated message. */
typedef struct {
    knoop_body_t   b;
    const uint8_t *body;             /* exact body bytes */
    size_t         body_len;
    const uint8_t *sig;              /* NULL or KNOOP_SIG_LEN bytes */
    uint8_t        chain[KNOOP_HASH_LEN];
    uint64_t       stream;
    bool           signed_here;      /* sig made by knoop_msg_sign in this process:
                                      * nothing to verify (never set by parse) */
    void          *priv_;            /* unpacked protobuf, or the built view's block */
} knoop_msg_t;

/* Parse and validate envelope bytes: size limits before unpacking, then
 * version, origin id, topic syntax, epoch != 0, seq >= 1, prev of 32 bytes,
 * status and tlp set and known, type and key bounded, sig empty or 64 bytes,
 * recipients valid partner ids without duplicates (at most
 * KNOOP_RECIPIENTS_MAX), at least one for a restricted TLP.
 * Computes chain and stream. The signature is NOT verified here (that needs
 * the trust store): see knoop_msg_verify_sig.
 * On success the caller must knoop_msg_clear(m). The input buffer may be freed
 * afterwards; m owns copies of everything.
 * Errors: KNOOP_ETOOBIG, KNOOP_EMALFORMED, KNOOP_ETOPIC, KNOOP_EVERSION,
 * KNOOP_ENOMEM. */
int  knoop_msg_parse(knoop_msg_t *m, const uint8_t *env, size_t len);
/* As knoop_msg_parse, every check of the bytes included, for an envelope
 * read back from the caller's own journal (its stored check held, and the
 * journal linked its chain when it stored it): m->chain is NOT computed
 * (left zero) and m->stream is the caller's stream (computed when 0). For
 * readers that filter or index by the body's fields; never for one that
 * links, verifies or forwards by chain. */
int  knoop_msg_parse_stored(knoop_msg_t *m, const uint8_t *env, size_t len, uint64_t stream);
/* Release what parse allocated; safe on a zeroed or cleared msg. */
void knoop_msg_clear(knoop_msg_t *m);

/* Verify m's head signature against the origin's public key.
 * KNOOP_OK, KNOOP_ESIG, or KNOOP_ENOTFOUND when m carries no signature. */
int  knoop_msg_verify_sig(const knoop_msg_t *m, const uint8_t pk[KNOOP_PK_LEN]);

/* Build an envelope from b (validated as the parser would), appending its
 * bytes to out. When sk is non-NULL the message is signed as a stream head.
 * chain_out receives chain(m), the prev of the next message.
 * Errors: as knoop_msg_parse, plus KNOOP_EINVAL. */
int  knoop_msg_build(const knoop_body_t *b, const uint8_t *sk, knoop_buf_t *out,
                     uint8_t chain_out[KNOOP_HASH_LEN]);

/* Build the message b describes straight into the view m, as if
 * knoop_msg_parse had parsed what knoop_msg_build makes (unsigned): the same
 * checks of b, the body bytes encoded once and hashed once (chain), and no
 * unpacking. m owns copies of everything (one allocation); b's strings and
 * payload may be freed afterwards. stream: the stream id of (origin, topic,
 * epoch) when the caller knows it, else 0 to compute it. On success the
 * caller must knoop_msg_clear(m).
 * Errors: as knoop_msg_build. */
int  knoop_msg_build_view(const knoop_body_t *b, uint64_t stream, knoop_msg_t *m);

/* Make m, a view from knoop_msg_build_view or knoop_msg_parse, a stream head:
 * sign it with sk and keep the signature in m (m->sig). Sets m->signed_here,
 * which tells the journal that the signature needs no verification: it was
 * made here, with the key this process holds. */
void knoop_msg_sign(knoop_msg_t *m, const uint8_t *sk);

/* The canonical envelope of a parsed message (its exact body and sig),
 * appended to out. This is what journals store. */
int  knoop_msg_pack(const knoop_msg_t *m, knoop_buf_t *out);

/* Re-wrap an existing message with a head signature (body untouched). */
int  knoop_msg_resign(const knoop_msg_t *m, const uint8_t *sk, knoop_buf_t *out);

/* May `partner` receive m? Everyone may, unless m's TLP is restricted
 * (knoop_tlp_restricted): then only its origin and the partners named in
 * its recipients. */
bool knoop_msg_for_partner(const knoop_msg_t *m, const char *partner);

/* The same from envelope bytes, for a broker deciding a delivery without
 * keeping a parsed message: false also when env does not parse. */
bool knoop_env_for_partner(const uint8_t *env, size_t len, const char *partner);

/* Stream id of (origin, topic, epoch). */
uint64_t knoop_stream_id(const char *origin, const char *topic, uint64_t epoch);

/* Names of the enums as they appear in JSON and on the command line
 * ("flash", "actual", "amber", "amber+strict"), and back (tlp also takes
 * "amber-strict" and the TLP: prefix, "TLP:RED"). Parse returns KNOOP_EINVAL for an
 * unknown name. */
const char *knoop_priority_name(knoop_priority_t p);
const char *knoop_status_name(knoop_status_t s);
const char *knoop_tlp_name(knoop_tlp_t t);
int knoop_priority_parse(const char *name, knoop_priority_t *out);
int knoop_status_parse(const char *name, knoop_status_t *out);
int knoop_tlp_parse(const char *name, knoop_tlp_t *out);

#endif
