/*
 * broker_int.h — knoop-broker internals: the broker object, its sessions (one
 * per connected node), and the steps of the protocol, one file each:
 *
 *   broker.c          the event loop: read everything ready, commit the
 *                     journal once, then acks and deliveries (group commit)
 *   handle_hello.c    HELLO: identity, policy on subscriptions, WELCOME, plan
 *                     the catch-up
 *   handle_publish.c  PUBLISH: the per-envelope checks, the batch commit, ACKs
 *   handle_ack.c      ACK, CREDIT, HEARTBEAT from a node
 *   send_deliver.c    catch-up and live delivery within each node's window
 *   handle_trust.c    issued certificates and revocations: publish, follow
 *   handle_instances.c primary/standby pairs: which instance of a partner is
 *                     active, told to the other instances
 *   fair.c            per-partner fairness: a bounded share of each loop pass
 *
 * One thread. No global state: everything hangs off knoop_broker_t.
 */
#ifndef KNOOP_BROKER_INT_H
#define KNOOP_BROKER_INT_H

#include "api.h"
#include "daemon.h"
#include "hlc.h"
#include "gate.h"
#include "journal.h"
#include "keys.h"
#include "link.h"
#include "msg.h"
#include "policy.h"
#include "json.h"
#include "metrics.h"
#include "topic.h"
#include "trust_reload.h"
#include "strmap.h"
#include "u64map.h"
#include "wire.h"

#include "broker.h"

typedef struct {
    uint64_t stream;
    uint64_t next;         /* next seq to send */
    uint64_t to;           /* last seq to send */
    int      prio;
} plan_entry_t;

typedef struct session {
    bool      peer;         /* another broker pulling from us */
    uint8_t   rid[256];
    size_t    rid_len;
    char      partner[KNOOP_ID_MAX + 1];
    uint8_t   key[KNOOP_PK_LEN];  /* the Ed25519 key its connection was admitted on */
    char      role[KNOOP_ROLE_MAX + 1];
    char    **subs;         /* accepted subscriptions */
    size_t    nsubs;
    uint64_t  last_heard;
    uint64_t  last_sent;
    uint64_t  last_mesh;    /* when the mesh view last went out in a HEARTBEAT */
    /* The certificate of its key in the trust store of reload number
     * trusted_gen - 1 (0: not looked up yet). A store is never changed in
     * place, and every replacement counts in trust_reloads, so the pointer
     * lives exactly as long as it is used. */
    uint64_t            trusted_gen;
    const knoop_cert_t *trusted_cert;
    /* downstream window */
    uint64_t  window;       /* messages in flight allowed */
    uint64_t  window_bytes; /* bytes in flight allowed */
    uint64_t  inflight;     /* sent, not yet returned by CREDIT */
    uint64_t  inflight_bytes;
    knoop_u64map_t acked;   /* stream -> highest seq the node has acked / had */
    knoop_u64map_t sent;    /* stream -> highest seq sent on this session */
    knoop_u64map_t allow;   /* stream -> 1 deliver, 2 do not */
    /* catch-up, then live */
    plan_entry_t *plan;
    size_t    nplan, iplan;
    bool      live;
    uint64_t  catchup_msgs, catchup_start;
    uint64_t  log_pos;
    bool      early;        /* sent from a batch before its commit (handle_publish.c) */
    uint64_t  early_pos;    /* ... and log_pos before that, to rewind to if it fails */
    /* counters */
    uint64_t  published, delivered, refused;
    uint64_t  withheld;     /* restricted TLP messages not for this partner */
    uint64_t  echo_skipped; /* peer sessions: messages not sent back to where they came from */
    uint64_t  relay_skipped;/* peer sessions: not relayed, it gets them over a link of its own */
    char    (*linked)[KNOOP_ID_MAX + 1];  /* peer sessions: the brokers it pulls from */
    size_t    nlinked;
    /* policy verdicts for what this partner publishes, by topic (and speak-for
     * by sender): cleared on a policy reload (broker_policy_reload) */
    knoop_strmap_t verdicts;
    /* ACKs of the commit being acknowledged: streams this session published
     * on in it (handle_publish_commit) */
    uint64_t  ack_commit;   /* commit number the list below belongs to */
    knoop_u64map_t ack_seen;
    uint64_t *ack_streams;
    size_t    nack_streams, ack_cap;
    struct session *ack_next;
    /* primary/standby pairs (handle_instances.c): what the node said it is */
    bool      pair;         /* it sent INSTANCES: it is one of a pair */
    knoop_wire_instance_t inst;
    char      inst_reason[256];
    /* fairness (fair.c): envelopes taken into pass fair_pass, and the PUBLISH
     * frames kept for a later pass, in order */
    uint64_t  fair_pass;
    size_t    fair_taken;
    struct fair_frame *fair_q;
    size_t    fair_head, fair_n, fair_cap, fair_bytes;
    uint64_t  throttled;        /* PUBLISH frames that waited for a later pass */
    uint64_t  throttled_logged; /* ms of the last "throttled" log line */

    struct session *next;
} session_t;

/* Our pull link to another broker: we are its client, it delivers to us
 * everything we lack (catch-up, then live), and we compare digests with it
 * every anti_entropy_ms. */
typedef struct {
    char         id[KNOOP_ID_MAX + 1];
    char         endpoint[256];
    knoop_cert_t cert;              /* the key pinned for the current attempt */
    unsigned     key_try;           /* which of its keys: moves on when a handshake fails */
    knoop_sock_t *dealer;
    int          state;             /* 0 down, 1 HELLO sent, 2 up */
    uint64_t     since, last_heard, last_sent, next_attempt;
    uint64_t     last_sync_sent, last_sync_at;   /* last SYNC answer */
    bool         in_sync;
    int          sync_diffs;        /* consecutive differing digests */
    uint64_t     planned, received, catchup_start;
    bool         caught_up;
    /* what came over this link (since start): envelopes, of which stored
     * new, already held, refused */
    uint64_t     in_msgs, in_stored, in_duplicates, in_refused;
    bool         linked;            /* named in our HELLOs to the other peers */
    uint64_t     hellos;            /* HELLOs said: each starts a session and its window */
    /* The settled summary of our HELLOs to it (docs/protocol.md): the last
     * complete catch-up from it as recorded in our journal (cursor
     * peer.complete_hlc.ID), the HLC at our last HELLO, the value and time
     * of the last write. */
    uint64_t     complete_hlc, hello_hlc, complete_saved, complete_written_at;
} peer_t;

/* A forwarded envelope kept for a later pass (fair.c): its bytes, the peer
 * link it came over, and in which of its sessions (its CREDIT goes back only
 * to that one). */
typedef struct fair_fwd {
    uint8_t            *data;
    size_t              len;
    size_t              peer;       /* index in self->peers */
    uint64_t            hello;      /* peer_t.hellos when it came */
    struct fair_origin *o;
} fair_fwd_t;

/* Log positions [from, to) were stored from what peer `peer` delivered:
 * live delivery does not send them back to it (no echo). */
typedef struct {
    uint64_t from, to;
    size_t   peer;
} log_source_t;

struct knoop_broker_t {
    knoop_broker_opts_t opts;
    char            *id;
    knoop_key_t     *key;
    knoop_trust_t   *trust;
    knoop_trust_watch_t trust_stamp;
    char            *learned;        /* DATA/trust: what the mesh taught (trust_mesh.h) */
    knoop_daemon_where_t where;      /* data and trust dirs, absolute (status) */
    knoop_u64map_t   trust_applied;  /* trust stream -> seq applied */
    uint64_t         trust_pos;      /* journal position when last followed */
    uint64_t         expiry_warned;  /* ms; certificates expiring: warned daily */
    knoop_hlc_t      hlc;            /* for the broker's own (trust) messages */
    knoop_policy_t  *policy;
    knoop_typemap_t *types;           /* NULL: the built-in registry */
    knoop_journal_t *journal;
    knoop_zap_t     *zap;
    knoop_sock_t    *router;
    knoop_gate_t    *gate;           /* caps on unauthenticated connections */
    uint64_t         nofile;         /* descriptor limit in force */
    session_t       *sessions;
    knoop_strmap_t   by_rid;         /* routing id -> session: O(1) per frame */
    peer_t          *peers;
    size_t           npeers;
    log_source_t    *sources;        /* ascending; pruned behind the peers' sessions */
    size_t           nsources, sources_cap;
    uint8_t          mesh_digest[KNOOP_HASH_LEN];  /* ours at the last peer comparison */
    bool             has_mesh_digest;
    knoop_sock_t    *api;
    knoop_poll_t    *poll;           /* what the loop waits on (s_wait) */
    uint64_t         forks_seen;
    uint64_t         damage_asked_at;  /* damaged messages last asked of the peers */
    size_t           damage_asked_n;
    /* the batch being built in this loop pass */
    knoop_msg_t     *batch;
    uint8_t        (*batch_rid)[256];
    size_t          *batch_rid_len;
    session_t      **batch_sess;     /* the sender; NULL once its session is dropped */
    int             *batch_res;
    size_t           nbatch, batch_cap;
    /* scratch */
    knoop_buf_t      rid, data, out;
    uint8_t          frame_key[KNOOP_PK_LEN];  /* key of the connection of the frame in hand */
    uint64_t         last_housekeeping;
    uint64_t         last_pass;      /* ms: the loop's last pass (s_check_stall) */
    /* the policy file as last loaded (broker_policy_reload) */
    struct { uint64_t ino, size, mtime_ns; } policy_stamp;
    uint64_t         policy_reloads, policy_reload_errors;
    uint64_t         trust_reloads;  /* the trust store loaded again (files or mesh) */
    /* counters for status and logs */
    uint64_t         frames_in, frames_bad, envelopes_refused, commits;
    uint64_t         hellos_too_big;    /* HELLOs refused: vector above KNOOP_WIRE_VECTOR_MAX */
    uint64_t         settled_matched;   /* buckets of HELLOs' settled summaries that matched */
    uint64_t         settled_missed;    /* ... that did not: their streams were sent whole */
    uint64_t         sessions_silent;  /* sessions dropped after the heartbeat timeout */
    uint64_t         imported, imports_refused;   /* bundles (handle_import.c) */
    uint64_t         forwarded, forwards_refused; /* streams nodes forwarded (handle_import.c) */
    struct remote_inst *remote_inst;  /* pair rows peers told us (handle_instances.c) */
    size_t           nremote_inst, remote_inst_cap;
    uint64_t         payloads_refused;  /* type on the wrong topic, bad content, sender */
    uint64_t         early_rewinds;     /* sessions sent from a batch whose commit failed */
    knoop_u64map_t   tlp_seen;          /* log position -> 1 open, 2 restricted (send_deliver.c) */
    int64_t          early_usecs;       /* time in the precommit hook of the commit in progress */
    knoop_metrics_t *metrics;           /* NULL without --metrics */
    /* fairness (fair.c) */
    uint64_t         pass;              /* loop passes */
    size_t           fair_queued;       /* sessions with PUBLISH frames kept */
    size_t           fair_takers;       /* sessions that published in this pass */
    uint64_t         throttled_frames;  /* PUBLISH frames kept for a later pass */
    uint64_t         throttle_refused;  /* ... refused FULL: too much kept already */
    /* ... on the forwarded path: envelopes from peer brokers, counted
     * against their origin's share (per origin, struct fair_origin) */
    knoop_strmap_t   fwd_origins;       /* origin -> struct fair_origin (owned) */
    fair_fwd_t      *fwd_q;             /* kept, in arrival order */
    size_t           fwd_n, fwd_cap, fwd_bytes;
    uint64_t         fwd_kept, fwd_refused, fwd_refused_logged;
    uint64_t         fwd_pass;          /* the pass fwd_pass_origins counts in */
    size_t           fwd_pass_origins;  /* origins that stored forwarded envelopes in it */
    uint64_t         fwd_local_pass;    /* the pass fwd_local was found for */
    bool             fwd_local;         /* our own partners published in it */
};

/* metrics.c */
int  broker_metrics_init(knoop_broker_t *self, const char *listen);

session_t *broker_session_find(knoop_broker_t *self, const uint8_t *rid, size_t len);
/* The certificate of `id` for the very key a connection was admitted on
 * (knoop_link_recv): a partner with two keys (rotation) is held to the one
 * it connected with, so revoking that key cuts it although the other stays
 * valid. An all-zero key (a connection that names none) falls back to the
 * id's newest usable certificate. NULL when the store has no such key. */
const knoop_cert_t *broker_key_cert(const knoop_broker_t *self, const char *id,
                                    const uint8_t key[KNOOP_PK_LEN]);
/* Link a new session in (list and routing-id index). KNOOP_ENOMEM: not linked. */
int        broker_session_add(knoop_broker_t *self, session_t *s);
void       broker_session_drop(knoop_broker_t *self, session_t *s, const char *why);
/* Encode and send a frame to a session; drops the session when it is gone. */
int        broker_send(knoop_broker_t *self, session_t *s, const knoop_frame_t *f);
/* Send an ERROR frame. */
void       broker_send_error(knoop_broker_t *self, session_t *s, const uint8_t *rid,
                             size_t rid_len, knoop_wire_err_t code, uint64_t stream,
                             uint64_t seq, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

/* Policy verdicts for a session, cached per (partner, topic) in the session
 * until the policy is reloaded. */
bool broker_may_publish(knoop_broker_t *self, session_t *s, const char *topic);
bool broker_may_speak_for(knoop_broker_t *self, session_t *s, const char *sender);
/* Reload the policy file when it changed since it was loaded (checked in
 * housekeeping, every 200 ms): the new rules apply to the next message. A
 * file that does not load is logged and counted, and the rules in force
 * stay. Returns 1 reloaded, 0 unchanged, -1 refused. */
int  broker_policy_reload(knoop_broker_t *self);

void handle_hello(knoop_broker_t *self, const uint8_t *rid, size_t rid_len,
                  const char *user, const knoop_frame_t *f);
void handle_publish(knoop_broker_t *self, session_t *s, const knoop_frame_t *f);
void handle_publish_commit(knoop_broker_t *self);
/* handle_import.c: a PUBLISH marked forwarded from a node: streams of
 * other origins it imported from a bundle, checked and stored as a bundle
 * import (all or nothing), ACKed per stream, the first refusal an ERROR. */
void handle_forward(knoop_broker_t *self, session_t *s, const knoop_frame_t *f);
void handle_ack(knoop_broker_t *self, session_t *s, const knoop_frame_t *f);
void handle_credit(knoop_broker_t *self, session_t *s, const knoop_frame_t *f);
void send_deliver(knoop_broker_t *self, session_t *s);
void send_sync_reply(knoop_broker_t *self, session_t *s);
/* Forget the cached delivery verdicts (the policy changed), keeping where a
 * stream was cut for this session (a restricted message it may not have). */
void send_deliver_forget(session_t *s);

/* handle_instances.c: a node of a primary/standby pair says what it is
 * (active or standby); every pair session of that partner is told about the
 * others. broker_instances_notify after any change (also a session gone). */
void handle_instances(knoop_broker_t *self, session_t *s, const knoop_frame_t *f);
void broker_instances_notify(knoop_broker_t *self, const char *partner);
/* Across the mesh: every partner's local pair rows are told to the peers
 * that pull from this broker (announce: all of them to one peer session,
 * after its HELLO); a peer's rows (INSTANCES with partner, read on the pull
 * link) are kept per (peer, partner) and included in what local pair
 * sessions are told, until the peer says otherwise or the pull link to it
 * goes (peer_gone). */
void broker_instances_announce(knoop_broker_t *self, session_t *peer);
void broker_instances_on_peer(knoop_broker_t *self, const char *peer, const knoop_frame_t *f);
void broker_instances_peer_gone(knoop_broker_t *self, const char *peer);

/* peer.c */
/* A read met damage in the journal: ask the peers for the damaged messages
 * again (a new HELLO whose vector stops before them), at most every 30 s for
 * the same damage. */
void broker_peers_refetch(knoop_broker_t *self);
int  broker_peers_init(knoop_broker_t *self);
void broker_peers_step(knoop_broker_t *self);
void broker_peers_read(knoop_broker_t *self);
void broker_peers_close(knoop_broker_t *self);
/* The peer link a log position was stored from, or NULL (a node, the
 * broker itself, or before this process started). */
const peer_t *broker_log_source(const knoop_broker_t *self, uint64_t pos);
/* The mesh view for a node's HEARTBEAT: one row per peer into rows (at
 * least KNOOP_WIRE_MESH_MAX), and the digest of the last comparison. Strings
 * are borrowed from self until the peers change. */
void broker_mesh_view(knoop_broker_t *self, knoop_wire_mesh_peer_t *rows, knoop_frame_t *hb);
/* Digest, stream and message count of everything this broker holds. */
void broker_digest(knoop_broker_t *self, uint8_t digest[KNOOP_HASH_LEN], uint64_t *streams,
                   uint64_t *messages);

/* handle_trust.c */
/* Apply what is new on the trust topics in the journal; reloads the store
 * and the ZAP handler when something changed. */
void broker_trust_step(knoop_broker_t *self);
/* Journal the broker's own issued certificate on trust.certs, once per
 * journal. */
void broker_trust_announce(knoop_broker_t *self);
/* A trust payload from the local API onto the broker's own trust stream.
 * KNOOP_OK with *res filled (strings borrowed from self, or static), or an
 * error with the reason in why. */
int  broker_trust_publish(knoop_broker_t *self, const knoop_api_item_t *it,
                          knoop_api_seq_t *res, char *why, size_t why_size);

/* fair.c: per-partner fairness. A PUBLISH frame from s: its envelopes
 * within the session's share of this pass are handled now, the rest kept
 * for later passes (over FAIR_MAX_BYTES kept: refused FULL, resent). */
void broker_fair_publish(knoop_broker_t *self, session_t *s, const knoop_frame_t *f,
                         const uint8_t *raw, size_t len);
/* Start of a loop pass: the kept envelopes, each session up to its share. */
void broker_fair_pass(knoop_broker_t *self);
/* After reading: when one session alone publishes in this pass, its kept
 * envelopes fill the pass up (work-conserving). */
void broker_fair_topup(knoop_broker_t *self);
bool broker_fair_waiting(const knoop_broker_t *self);
void broker_fair_free(knoop_broker_t *self, session_t *s);
/* The forwarded path (peer.c): may an envelope of `origin` from a peer be
 * stored in this pass? mixed: the envelopes read with it are of more than
 * one origin (they compete). Counts it when so; false: keep it
 * (broker_fair_forwarded_keep) for a later pass. */
bool broker_fair_forwarded_take(knoop_broker_t *self, const char *origin, bool mixed);
/* Keep a copy of env, come over p, for a later pass. KNOOP_EFULL (over
 * FAIR_MAX_BYTES kept: logged, counted) or KNOOP_ENOMEM: not kept. */
int  broker_fair_forwarded_keep(knoop_broker_t *self, const peer_t *p, const char *origin,
                                knoop_bytes_t env);
/* Start of a pass: the kept envelopes whose origin is within its share now,
 * in order, moved into *due (malloc'd; the caller frees each data and the
 * array). Returns how many. */
size_t broker_fair_forwarded_due(knoop_broker_t *self, fair_fwd_t **due);
/* The status's "fair" object. */
json_t *broker_fair_status(knoop_broker_t *self);
/* At construction, on the zeroed broker: what the fairness state needs
 * before its first use. broker_fair_destroy frees it. */
void broker_fair_init(knoop_broker_t *self);
void broker_fair_destroy(knoop_broker_t *self);
/* status.c */
/* handle_import.c: a bundle's content from the local API. KNOOP_OK with the
 * summary in *json (malloc'd), or the refusal's code with why naming the
 * stream and seq. */
int  broker_import(knoop_broker_t *self, const knoop_api_req_t *req, char **json, char *why,
                   size_t why_size);

int  broker_api_init(knoop_broker_t *self);
void broker_api_read(knoop_broker_t *self);

#endif
