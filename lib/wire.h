/*
 * wire.h — the wire protocol codec (proto/knoop/v1/wire.proto): frames as
 * plain C structs, so that broker and node never include protobuf-c, and the
 * one checked gate for frames received from the network.
 *
 * One ZeroMQ message carries one frame. knoop_frame_decode checks the size
 * limit before unpacking, then the version (KNOOP_EVERSION, with f->version
 * set so the caller can say which version it got), then every field once:
 * partner ids, topics and patterns, 32-byte heads, bounded counts and string
 * lengths. Envelopes inside PUBLISH/DELIVER are NOT parsed here: they go
 * through knoop_msg_parse one by one, so one bad envelope does not hide the
 * good ones in its batch.
 *
 * Decoded strings and arrays point into storage owned by the frame, valid
 * until knoop_frame_clear. For encoding the caller fills the same struct
 * with its own pointers.
 */
#ifndef KNOOP_WIRE_H
#define KNOOP_WIRE_H

#include "knoop.h"

#define KNOOP_WIRE_VERSION   1
#define KNOOP_FRAME_MAX      (16u << 20)   /* also the ZMQ_MAXMSGSIZE */
/* What a sender packs into one DELIVER or PUBLISH batch (a single larger
 * message still goes, alone). A ZMQ message is received whole or not at all,
 * and the link's liveness is "a frame heard within the timeout": on a
 * regional line of 256 kbit/s a 64 KiB frame takes 2 s, a 4 MiB one over two
 * minutes, during which the receiver hears nothing, drops the link and the
 * catch-up starts again, forever (tests/cli_net_thin.sh). */
#define KNOOP_BATCH_BYTES    (64u << 10)
#define KNOOP_FRAME_ITEMS    65536         /* envelopes, acks, vector rows, subscriptions */
#define KNOOP_WIRE_LINKED_MAX 256          /* brokers named in a peer HELLO's linked */
/* Rows in a HELLO's vector: 32,768 rows of the longest names (390 bytes
 * each) still fit one frame, beside the subscriptions; a broker refuses a
 * larger vector (docs/protocol.md, HELLO). */
#define KNOOP_WIRE_VECTOR_MAX 32768
#define KNOOP_WIRE_MESH_MAX  256           /* peer rows in a HEARTBEAT */
/* The settled summary of a HELLO (docs/protocol.md): a stream's bucket is
 * its id's top 10 bits; a bucket's digest is BLAKE2b-128. */
#define KNOOP_WIRE_BUCKETS       1024
#define KNOOP_WIRE_BUCKET_SHIFT  54
#define KNOOP_WIRE_BUCKET_DIGEST 16

/* Certificates a node may send with a forwarded PUBLISH, and their size. */
#define KNOOP_WIRE_FWD_CERTS     16
#define KNOOP_WIRE_FWD_CERT_MAX  8192

typedef enum {
    KNOOP_FRAME_HELLO     = 10,
    KNOOP_FRAME_WELCOME   = 11,
    KNOOP_FRAME_PUBLISH   = 12,
    KNOOP_FRAME_ACK       = 13,
    KNOOP_FRAME_DELIVER   = 14,
    KNOOP_FRAME_CREDIT    = 15,
    KNOOP_FRAME_HEARTBEAT = 16,
    KNOOP_FRAME_ERROR     = 17,
    KNOOP_FRAME_CAUGHT_UP = 18,
    KNOOP_FRAME_SYNC      = 19,
    KNOOP_FRAME_INSTANCES = 20,   /* primary/standby pairs: who is active */
} knoop_frame_kind_t;

#define KNOOP_INSTANCES_MAX  16     /* rows in one INSTANCES frame */

/* The reason of the fatal ERROR PROTOCOL a broker sends for a frame on a
 * connection whose session it dropped after a silence (the sender, or the
 * link, was paused): the sender says HELLO again. Receivers match this
 * prefix to log it as the matter of course it is (docs/protocol.md). */
#define KNOOP_WIRE_NO_SESSION "no session on this connection"

/* Error codes carried in ERROR frames (wire.proto Error.Code). */
typedef enum {
    KNOOP_WERR_UNSPECIFIED = 0,
    KNOOP_WERR_VERSION     = 1,
    KNOOP_WERR_MALFORMED   = 2,
    KNOOP_WERR_TOO_BIG     = 3,
    KNOOP_WERR_IDENTITY    = 4,
    KNOOP_WERR_POLICY      = 5,
    KNOOP_WERR_CHAIN       = 6,
    KNOOP_WERR_SIGNATURE   = 7,
    KNOOP_WERR_FORK        = 8,
    KNOOP_WERR_FULL        = 9,
    KNOOP_WERR_PROTOCOL    = 10,
    KNOOP_WERR_UNKNOWN     = 11,
    KNOOP_WERR_CLOCK       = 12,   /* dated too far ahead of the receiver's clock */
    KNOOP_WERR_LAST        = KNOOP_WERR_CLOCK,
} knoop_wire_err_t;

/* "version", "malformed", ... for logs. */
const char *knoop_wire_err_name(knoop_wire_err_t code);
/* The ERROR code that tells a sender why a message was not stored, from
 * the library's error (KNOOP_ECHAIN, KNOOP_EGAP -> CHAIN, KNOOP_EPERM -> POLICY, ...;
 * anything without a wire equivalent -> MALFORMED). */
knoop_wire_err_t knoop_wire_err_from(int rc);

typedef struct {
    uint64_t    stream;
    const char *origin;
    const char *topic;
    uint64_t    epoch;
    uint64_t    hwm;
    uint8_t     head[KNOOP_HASH_LEN];   /* zeros when hwm == 0 */
} knoop_wire_pos_t;

/* One bucket of a HELLO's settled summary. */
typedef struct {
    uint32_t bucket;                            /* < KNOOP_WIRE_BUCKETS */
    uint64_t count;                             /* streams in it, > 0 */
    uint8_t  digest[KNOOP_WIRE_BUCKET_DIGEST];
} knoop_wire_bucket_t;

typedef struct {
    const uint8_t *data;
    size_t         len;
} knoop_bytes_t;

typedef struct {
    const char *pattern;
    const char *reason;
} knoop_wire_refusal_t;

typedef struct {
    uint64_t stream;
    uint64_t seq;
} knoop_wire_ack_t;

/* One running node of a partner (wire.proto Instance). */
typedef struct {
    uint64_t    id;                 /* its publishing epoch, never 0 */
    bool        active;
    uint64_t    term;
    uint64_t    since_ms;
    const char *reason;             /* NULL encodes as "" */
} knoop_wire_instance_t;

/* One peer broker as a broker sees it (HEARTBEAT broker -> node). */
typedef struct {
    const char *peer;
    bool        up;
    bool        in_sync;
    uint64_t    last_sync_ms;          /* 0: no comparison answered yet */
} knoop_wire_mesh_peer_t;

typedef struct {
    uint32_t           version;   /* set by decode, ignored by encode (always current) */
    knoop_frame_kind_t kind;
    union {
        struct {
            const char        *partner;
            const char *const *subs;
            size_t             nsubs;
            const knoop_wire_pos_t *vector;
            size_t             nvector;
            uint32_t           credit_msgs;
            uint64_t           credit_bytes;
            const char        *software;
            bool               peer;
            const char *const *linked;   /* peer: brokers it pulls from directly */
            size_t             nlinked;  /* at most KNOOP_WIRE_LINKED_MAX */
            /* the settled summary: T (0: none) and its non-empty buckets,
             * at most KNOOP_WIRE_BUCKETS, each bucket once */
            uint64_t           settled_hlc;
            const knoop_wire_bucket_t *settled;
            size_t             nsettled;
        } hello;
        struct {
            const char        *broker;
            const char *const *accepted;
            size_t             naccepted;
            const knoop_wire_refusal_t *refused;
            size_t             nrefused;
            const knoop_wire_pos_t *own;
            size_t             nown;
            uint32_t           heartbeat_ms;
            uint32_t           credit_msgs;
            uint64_t           credit_bytes;
            uint64_t           planned;
            uint32_t           settled_matched;   /* buckets of the summary */
            uint32_t           settled_missed;
            /* bit b (byte b / 8, bit b % 8): bucket b matched; has_matched_set
             * false when there was no summary (nothing on the wire) */
            bool               has_matched_set;
            uint8_t            matched_set[KNOOP_WIRE_BUCKETS / 8];
        } welcome;
        struct {                       /* PUBLISH and DELIVER */
            const knoop_bytes_t *envs;
            size_t               n;
            bool                 forwarded;  /* PUBLISH: other origins' streams */
            const char *const   *certs;      /* forwarded: origins' certificate texts */
            size_t               ncerts;     /* <= KNOOP_WIRE_FWD_CERTS */
        } batch;
        struct {
            const knoop_wire_ack_t *acks;
            size_t                  n;
        } ack;
        struct {
            uint32_t msgs;
            uint64_t bytes;
        } credit;
        struct {
            uint64_t time_ms;
            /* broker -> node: its peers (at most KNOOP_WIRE_MESH_MAX) and
             * its digest at the last comparison (has_digest) */
            const knoop_wire_mesh_peer_t *mesh;
            size_t             nmesh;
            bool               has_digest;
            uint8_t            digest[KNOOP_HASH_LEN];
        } heartbeat;
        struct {
            knoop_wire_err_t code;
            const char      *reason;
            uint64_t         stream;
            uint64_t         seq;
            bool             fatal;
        } error;
        struct {
            uint64_t messages;
            uint64_t streams;
        } caught_up;
        struct {
            uint8_t  digest[KNOOP_HASH_LEN];
            uint64_t streams;
            uint64_t messages;
        } sync;
        struct {
            const knoop_wire_instance_t *v;   /* at most KNOOP_INSTANCES_MAX */
            size_t                       n;
            const char                  *partner;  /* broker -> peer: whose; NULL or "" otherwise */
        } instances;
    } u;
    void *priv_;
} knoop_frame_t;

/* Decode and validate. On success the caller must knoop_frame_clear(f).
 * Errors: KNOOP_ETOOBIG (len > KNOOP_FRAME_MAX, or counts above
 * KNOOP_FRAME_ITEMS), KNOOP_EVERSION (f->version holds what was received),
 * KNOOP_EMALFORMED (does not parse, no kind, a field out of bounds),
 * KNOOP_ETOPIC (a topic or pattern with bad syntax), KNOOP_ENOMEM. */
int  knoop_frame_decode(knoop_frame_t *f, const uint8_t *data, size_t len);
void knoop_frame_clear(knoop_frame_t *f);

/* Encode f (version KNOOP_WIRE_VERSION), appending to out.
 * Errors: KNOOP_EINVAL (unknown kind), KNOOP_ETOOBIG, KNOOP_ENOMEM. */
int  knoop_frame_encode(const knoop_frame_t *f, knoop_buf_t *out);

/* Encoded size of a PUBLISH/DELIVER frame holding envelopes of these total
 * bytes and count: lets a sender fill a frame up to a byte budget. An upper
 * bound, cheap. */
size_t knoop_frame_batch_size(size_t n, size_t total_bytes);

#endif
