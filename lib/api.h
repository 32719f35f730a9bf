/*
 * api.h — the local API codec (proto/knoop/v1/api.proto) between a node and
 * its partner's applications, as plain C structs; the node's checked gate
 * for requests from local applications, and the client's for replies.
 *
 * Same conventions as wire.h: decoded strings, arrays and byte ranges point
 * into storage owned by the struct until knoop_api_*_clear; for encoding the
 * caller fills the struct with its own pointers.
 */
#ifndef KNOOP_API_H
#define KNOOP_API_H

#include "knoop.h"
#include "wire.h"       /* knoop_bytes_t */

#define KNOOP_API_VERSION   1
#define KNOOP_API_MAX       (16u << 20)
#define KNOOP_API_ITEMS     65536
#define KNOOP_API_STATUS_ALL 255

typedef enum {
    KNOOP_API_PUBLISH   = 10,
    KNOOP_API_SUBSCRIBE = 11,
    KNOOP_API_ACK       = 12,
    KNOOP_API_STATUS    = 13,
    KNOOP_API_BEELD     = 14,
    KNOOP_API_CLOSE     = 15,
    KNOOP_API_IMPORT    = 16,
    KNOOP_API_ROLE      = 17,      /* primary/standby: promote or demote */
} knoop_api_req_kind_t;

typedef struct {
    const char    *topic;
    const char    *type;
    const char    *key;
    uint32_t       priority;
    uint32_t       status;
    uint32_t       tlp;
    const uint8_t *payload;
    size_t         payload_len;
    const char *const *recipients;   /* partner ids (AMBER+STRICT, RED) */
    size_t         nrecipients;
} knoop_api_item_t;

typedef struct {
    uint32_t             version;
    uint64_t             id;
    knoop_api_req_kind_t kind;
    union {
        struct {
            const knoop_api_item_t *items;
            size_t n;
            uint32_t wait_ms;            /* 0: reply after the local commit */
        } publish;
        struct {
            const char *pattern;
            const char *durable;         /* "" or NULL: not durable */
            bool        from_start;
            uint64_t    since_ms;
            uint32_t    status;          /* 0 actual only, KNOOP_API_STATUS_ALL, or a status */
            uint32_t    window;
        } subscribe;
        struct { uint64_t sub; uint64_t position; } ack;
        struct { const char *pattern; } beeld;
        struct { uint64_t sub; } close;
        struct {
            bool                 dry_run;
            const knoop_bytes_t *certs;        /* certificate texts */
            size_t               ncerts;
            const knoop_bytes_t *revocations;  /* revocation list texts */
            size_t               nrevocations;
            const knoop_bytes_t *envs;         /* envelopes, NOT parsed here */
            size_t               nenvs;
            bool                 require_signed;
            /* A signed bundle's seal (bundle.h), NULL for an unsigned one;
             * the gate checks its field sizes and the signer's id form. */
            const struct knoop_bundle_seal *seal;
        } import;
        struct { bool active; const char *reason; } role;   /* reason <= 200 bytes */
    } u;
    void *priv_;
} knoop_api_req_t;

typedef enum {
    KNOOP_API_R_PUBLISHED  = 10,
    KNOOP_API_R_DELIVERY   = 11,
    KNOOP_API_R_STATUS     = 12,
    KNOOP_API_R_BEELD      = 13,
    KNOOP_API_R_ERROR      = 14,
    KNOOP_API_R_SUBSCRIBED = 15,
    KNOOP_API_R_IMPORTED   = 16,    /* u.status.json: the import's summary */
} knoop_api_rep_kind_t;

/* ApiSeq.verdict: what the broker said about a published item. */
typedef enum {
    KNOOP_VERDICT_STORED = 0,       /* committed by the node, broker not heard */
    KNOOP_VERDICT_ACCEPTED = 1,     /* stored by the broker */
    KNOOP_VERDICT_REFUSED = 2,      /* refused by the broker: reason */
} knoop_verdict_t;

typedef struct {
    const char     *origin;
    const char     *topic;
    uint64_t        seq;
    knoop_verdict_t verdict;
    const char     *reason;         /* "" unless refused */
} knoop_api_seq_t;

typedef struct {
    uint64_t       position;
    const uint8_t *envelope;
    size_t         len;
} knoop_api_env_t;

typedef struct {
    uint32_t             version;
    uint64_t             id;
    knoop_api_rep_kind_t kind;
    union {
        struct { const knoop_api_seq_t *items; size_t n; bool link_up; } published;
        struct { const knoop_api_env_t *msgs; size_t n; bool done; } delivery;   /* DELIVERY and BEELD */
        struct { const char *json; } status;
        struct { int32_t code; const char *reason; uint32_t index; } error;
        struct { uint64_t sub; } subscribed;
    } u;
    void *priv_;
} knoop_api_rep_t;

/* Decode and validate (size limit first; version; one kind; topics and
 * patterns syntax; counts <= KNOOP_API_ITEMS). Caller clears on success.
 * Errors: KNOOP_ETOOBIG, KNOOP_EVERSION, KNOOP_EMALFORMED, KNOOP_ETOPIC,
 * KNOOP_ENOMEM. Payload types and enum values are checked by the node when it
 * builds the envelope, not here.
 *
 * What the gate checks beyond the schema: no NUL inside any string; exactly
 * one kind (several oneof members on the wire are refused, not merged);
 * publish: 1..KNOOP_API_ITEMS items, topics valid, type <= KNOOP_TYPE_MAX and
 * key <= KNOOP_KEY_MAX bytes, payload <= KNOOP_PAYLOAD_MAX, at most
 * KNOOP_RECIPIENTS_MAX recipients, each a partner id; subscribe:
 * pattern valid, durable "" or 1..64 of [a-z0-9_-], status 0, 1..4 or
 * KNOOP_API_STATUS_ALL, window <= KNOOP_API_ITEMS, not both from_start and
 * since_ms; beeld: an empty pattern decodes as ">"; ack/close: sub != 0;
 * import: at least one certificate, list or envelope, each envelope
 * 1..KNOOP_ENVELOPE_MAX bytes (parsed by knoop_msg_parse in the daemon), a
 * seal with a partner id as signer and keys, hash and signature of their
 * exact sizes (verified in the daemon, knoop_bundle_signer).
 * Replies: published origins are partner ids, topics valid, seq >= 1,
 * verdict known, reason <= 1024 bytes;
 * envelopes 1..KNOOP_ENVELOPE_MAX bytes (NOT parsed: that is
 * knoop_msg_parse's job), delivery positions >= 1; error code < 0, reason
 * <= 1024 bytes; subscribed sub != 0.
 *
 * On failure nothing needs clearing, but r->version and r->id hold what the
 * bytes carried when they could be read (0 otherwise), so that the node can
 * address an ApiError to the request and say which version it got.
 *
 * Encode writes version KNOOP_API_VERSION (r->version is ignored) and checks
 * structure only: kind, or bytes with a length but no pointer (KNOOP_EINVAL),
 * counts and total size (KNOOP_ETOOBIG
 * above KNOOP_API_ITEMS or KNOOP_API_MAX), KNOOP_ENOMEM. NULL strings encode
 * as "". The receiver's decode is the gate for content. */
int  knoop_api_req_decode(knoop_api_req_t *r, const uint8_t *data, size_t len);
void knoop_api_req_clear(knoop_api_req_t *r);
int  knoop_api_req_encode(const knoop_api_req_t *r, knoop_buf_t *out);

int  knoop_api_rep_decode(knoop_api_rep_t *r, const uint8_t *data, size_t len);
void knoop_api_rep_clear(knoop_api_rep_t *r);
int  knoop_api_rep_encode(const knoop_api_rep_t *r, knoop_buf_t *out);

#endif
