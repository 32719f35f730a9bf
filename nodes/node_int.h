/*
 * node_int.h — knoop-node internals: the partner's daemon.
 *
 *   node.c       the object, the event loop, publishing (seq, prev, head
 *                signature per flushed batch, commit before the app's ACK)
 *   node_link.c  the link to a broker: connect, HELLO/WELCOME, the outbox
 *                (resent until ACKed, again after every reconnect), DELIVER
 *                (commit, verify, ACK), heartbeats and failover
 *   node_api.c   the local API for the partner's applications: publish,
 *                subscribe (durable cursors, verified messages only), status,
 *                beeld
 *   node_standby.c  a primary/standby pair of one partner: which instance
 *                is active, takeover, yielding, promote/demote
 *
 * Publishing epoch: a node picks a fresh random epoch every time it starts,
 * so its streams after a restart are new streams. A node whose journal was
 * lost or restored from an old backup therefore can never publish a second,
 * different message under a seq it used before, even while offline; what
 * the mesh holds of its older streams comes back to it in the catch-up.
 * The same holds within a run: a key rotation, and a commit that failed
 * after its messages had gone to the broker (sent before the commit), draw
 * a new publishing epoch (pub_epoch) and the streams go on as new ones.
 *
 * One thread, no global state.
 */
#ifndef KNOOP_NODE_INT_H
#define KNOOP_NODE_INT_H

#include "api.h"
#include "daemon.h"
#include "hlc.h"
#include "ingest.h"
#include "journal.h"
#include "json.h"
#include "keys.h"
#include "link.h"
#include "metrics.h"
#include "msg.h"
#include "topic.h"
#include "trust_reload.h"
#include "u64map.h"
#include "wire.h"

#include "node.h"

/* The journal cursor keeping the settled summary's complete_hlc (8 bytes,
 * big-endian; docs/protocol.md, "The settled summary"). */
#define COMPLETE_CURSOR "node.complete_hlc"

typedef struct {
    uint64_t stream;
    char     topic[KNOOP_TOPIC_MAX + 1];
    uint64_t epoch;
    uint64_t hwm;                    /* last seq stored locally */
    uint8_t  head[KNOOP_HASH_LEN];
    uint64_t acked;                  /* highest seq the broker has ACKed */
    uint64_t sent;                   /* highest seq sent on this link */
    bool     blocked;                /* the broker refused a message: stop */
    uint64_t blocked_seq;            /* the seq it refused */
    char     blocked_reason[256];
    uint64_t retry_at;               /* blocked by the clock: offer again then
                                        (monotonic ms: wall clocks get fixed) */
    bool     settled;                /* summarised in this link's HELLO ... */
    uint64_t settled_hwm;            /* ... at this hwm */
} own_stream_t;

/* A stream of another origin this node imported from a bundle and carries
 * on to its broker (node_import.c; docs/protocol.md, "Forwarding imported
 * streams"). */
typedef struct {
    uint64_t stream;
    uint64_t hwm;                    /* highest seq imported */
    uint64_t acked;                  /* the broker holds every seq <= acked */
    uint64_t sent;                   /* highest seq sent on this link */
    bool     refused;                /* the broker refused it: not again on this link */
    char     reason[300];
} fwd_stream_t;

typedef enum { LINK_DOWN, LINK_HELLO, LINK_UP } link_state_t;

/* A peer of the broker this node is linked to, as that broker last said in
 * a HEARTBEAT (status "mesh"). */
typedef struct {
    char     id[KNOOP_ID_MAX + 1];
    bool     up, in_sync;
    uint64_t last_sync_ms;
} mesh_peer_t;

typedef struct {
    char         id[KNOOP_ID_MAX + 1];
    char         endpoint[256];
    knoop_cert_t cert;             /* the key pinned for the current attempt */
    unsigned     key_try;          /* which of its keys: moves on when a handshake fails */
} broker_ref_t;

typedef struct api_sub {
    uint8_t   rid[256];
    size_t    rid_len;
    uint64_t  id;
    char      pattern[KNOOP_TOPIC_MAX + 1];
    char      durable[72];
    uint32_t  status;
    uint64_t  since_ms;
    uint64_t  pos;                   /* next log position to look at */
    uint64_t  acked;                 /* last position the app acknowledged */
    uint64_t  sent;                  /* last position sent */
    uint64_t  sent_at;               /* when */
    uint32_t  window;
    bool      cursor_dirty;          /* acked moved: write the durable cursor */
    bool      cursor_committing;     /* ... in the commit of this pass */
    uint8_t   cursor_val[8];         /* what that commit writes */
    struct api_sub *next;
} api_sub_t;

typedef struct {
    uint8_t  rid[256];
    size_t   rid_len;
    uint64_t id;
    size_t   first, n;               /* range in the publish batch */
    int      error;
    uint32_t error_index;
    uint32_t wait_ms;                /* wait for the broker's verdict */
    char     reason[256];
} pub_req_t;

/* A publish request answered once the broker has ACKed or refused every
 * item, its wait is over, or the link went down. */
typedef struct pub_wait {
    uint8_t   rid[256];
    size_t    rid_len;
    uint64_t  id;
    uint64_t  deadline;
    size_t    n;
    struct { uint64_t stream, seq; } *items;
    struct pub_wait *next;
} pub_wait_t;

struct knoop_node_t {
    knoop_node_opts_t opts;
    char            *id;
    char            *api_ep;
    knoop_key_t     *key;
    knoop_trust_t   *trust;
    knoop_typemap_t *types;            /* NULL: the built-in registry */
    knoop_trust_watch_t trust_stamp;
    uint64_t         trust_checked;
    uint64_t         trust_reloads;    /* the trust store loaded again (files or mesh) */
    char            *learned;        /* DATA/trust: what the mesh taught (trust_mesh.h) */
    knoop_daemon_where_t where;      /* data and trust dirs, absolute (status) */
    char           **speak_for;      /* set by SIGHUP: opts.speak_for's own copy */
    knoop_u64map_t   trust_applied;  /* trust stream -> seq applied */
    uint64_t         trust_pos;      /* journal position when last followed */
    uint64_t         expiry_warned;  /* ms; certificates expiring: warned daily */
    uint64_t         key_stamp;      /* of the key file: replaced = a rotated key */
    uint64_t         key_waiting;    /* stamp of a new key waiting for its certificate */
    bool             trust_resync;   /* deliveries refused: ask again once trust grows */
    knoop_journal_t *journal;
    uint64_t         epoch;          /* this run's: its instance id at the broker */
    uint64_t         pub_epoch;      /* of new own streams: epoch, until a key rotation
                                        or a failed commit of what had gone out */
    knoop_hlc_t      hlc;
    /* own streams */
    own_stream_t    *own;
    size_t           nown, own_cap;
    /* the publish batch of this loop pass: views built once
     * (knoop_msg_build_view), signed in place, appended as they are */
    knoop_msg_t     *pub_msgs;
    size_t           npub, pub_cap;
    pub_req_t       *reqs;
    size_t           nreqs, reqs_cap;
    /* DELIVER frames of this loop pass, stored by its one commit (node.c);
     * a frame of another kind that came after them waits in stash */
#define NODE_DELIVER_FRAMES 16
    knoop_frame_t    in_frames[NODE_DELIVER_FRAMES];
    size_t           nin;
    knoop_frame_t    stash;
    bool             stashed;
    /* link */
    broker_ref_t    *brokers;
    size_t           nbrokers;
    size_t           broker_idx;
    knoop_sock_t    *dealer;
    knoop_sock_t    *probe;            /* failback probe to brokers[probe_idx] */
    size_t           probe_idx;        /* ranked above broker_idx */
    uint64_t         probe_since, last_probe;
    link_state_t     link;
    uint64_t         link_since, last_heard, last_sent, next_attempt, last_upstream_ack;
    /* Heartbeats: the broker's interval (WELCOME), ours sent in answer to
     * its and on our own timer (status link.heartbeats_*; node_link.c) */
    uint32_t         broker_heartbeat_ms;
    uint64_t         heartbeats_answered, heartbeats_unasked;
    uint64_t         window, inflight;
    bool             caught_up;
    uint64_t         catchup_start;
    /* The settled summary (docs/protocol.md): complete_hlc as recorded in
     * the journal (cursor node.complete_hlc), the HLC at this link's HELLO,
     * and when complete_hlc was last queued for the pass's commit. */
    uint64_t         complete_hlc;
    uint64_t         hello_hlc;
    uint64_t         complete_written_at;
    uint64_t         complete_saved;   /* the value in the journal */
    bool             complete_dirty;   /* write it with the next commit */
    uint8_t          complete_val[8];  /* the bytes being committed */
    /* the last catch-up done (status "catchup", the web picture) */
    uint64_t         catchup_done_at, catchup_ms, catchup_msgs, catchup_streams;
    uint32_t         settled_matched, settled_missed;   /* this link's WELCOME */
    char             catchup_broker[KNOOP_ID_MAX + 1];
    /* the mesh's verdict from the current broker's heartbeats (status "mesh") */
    mesh_peer_t     *mesh;
    size_t           nmesh;
    uint64_t         mesh_at;           /* when heard; 0: not since the link came up */
    bool             has_mesh_digest;
    uint8_t          mesh_digest[KNOOP_HASH_LEN];
    uint64_t         delivered_in, failovers;
    uint64_t         sent_early;     /* messages sent while a commit that then
                                        succeeded synced (backlog included) */
    uint64_t         early_failed;   /* commits that failed after sending: new epochs */
    bool             early_lost;     /* this pass's commit failed after sending */
    uint64_t         late_low_room;  /* batches sent after their commit: little free space */
    /* What a failed commit left out after the hook had sent it: kept and
     * stored by a later commit (docs/design-notes.md, "The origin sends
     * before its commit"), for the broker may have lost it too. */
    knoop_buf_t     *limbo;          /* packed envelopes */
    size_t           nlimbo;
    uint64_t         limbo_tried;    /* ms: a retry at most every LIMBO_RETRY_MS */
    unsigned         limbo_failures; /* tries in a row that failed, not for room */
    knoop_metrics_t *metrics;           /* NULL without --metrics */
    char             last_error[512];
    uint64_t         last_error_at;     /* Unix ms; 0 when none */
    bool             last_error_journal;  /* it came from the journal: cleared by a commit */
    bool             last_error_repair;   /* a failed scan: cleared when one succeeds */
    bool             last_error_refusal;  /* the broker refused (ERROR): cleared by its next ACK */
    uint64_t         last_ack_at;         /* Unix ms of the broker's last ACK */
    /* local API */
    knoop_sock_t    *api;
    knoop_poll_t    *poll;             /* what the loop waits on */
    api_sub_t       *subs;
    pub_wait_t      *waits;
    uint64_t         next_sub_id;
    uint64_t         api_parsed;       /* messages parsed to match subscriptions */
    bool             journal_grew;     /* new messages since the last pump */
    uint64_t         imported, imports_refused;  /* bundles (node_import.c) */
    fwd_stream_t    *fwd;              /* imported streams to forward (node_import.c) */
    size_t           nfwd, fwd_cap;
    bool             fwd_loaded;
    uint64_t         forwarded, forwards_refused;
    /* the broker's clock as seen in its heartbeats (node_link.c) */
    int64_t          clock_offset_ms;  /* broker minus ours; 0 until measured */
    uint64_t         clock_measured_at, clock_warned_at;
    bool             clock_skewed;
    char             clock_warning[256];
    /* repair of a damaged journal (node_repair.c) */
    uint64_t         repair_scan_at, repair_rows_seen, repair_asked_at;
    uint64_t         repair_retry_ms;   /* the last scan failed: again after this (doubling) */
    size_t           repair_asked_n;
    /* primary/standby pair (node_standby.c) */
    bool             pair;             /* started with --pair */
    bool             active;           /* publishes; always true when not a pair */
    bool             held;             /* demoted by the operator: no takeover by itself */
    bool             resume;           /* was active before this start */
    uint64_t         term;             /* grows with every takeover or promotion */
    uint64_t         mode_since;       /* Unix ms */
    char             mode_reason[256];
    uint64_t         prev_epoch;       /* our previous run: its session is a ghost */
    knoop_wire_instance_t siblings[KNOOP_INSTANCES_MAX];
    char             sibling_reasons[KNOOP_INSTANCES_MAX][256];
    size_t           nsiblings;
    bool             siblings_known;   /* the broker told us on this link */
    uint64_t         none_active_since; /* ms: no active instance seen since */
    uint64_t         started_ms;       /* this run's start (Unix ms) */
    bool             told;             /* a broker listed the instances on this run */
    /* scratch */
    knoop_buf_t      rid, data, out;
};

/* node.c */
/* When this node's own certificate is outside its validity: true, and what
 * to tell the operator in out. */
bool node_own_cert_problem(knoop_node_t *self, char *out, size_t size);
own_stream_t *node_own_find(knoop_node_t *self, uint64_t stream);
void node_set_error(knoop_node_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The journal's own account of a failed write (e.g. "disk full on DIR: 0
 * bytes free; ...") becomes the last error, logged; rc when the journal has
 * none. Cleared by node_error_check once the journal writes again. */
void node_set_journal_error(knoop_node_t *self, int rc);
/* Clear the last error when its condition is gone: a journal error once the
 * journal commits again, a link error once the link is up. */
void node_error_check(knoop_node_t *self);

/* node_metrics.c */
int  node_metrics_init(knoop_node_t *self, const char *listen);

/* node_link.c */
int  node_link_init(knoop_node_t *self);
void node_link_step(knoop_node_t *self);        /* connect / time out / heartbeat */
void node_link_read(knoop_node_t *self);        /* frames from the broker */
/* The pass's deliveries through the gate into b, and, after the commit
 * (rc: its result; res: the append's results for b->ptrs), their ACK and
 * CREDIT to the broker. */
int  node_link_deliveries_parse(knoop_node_t *self, knoop_ingest_batch_t *b, knoop_ingest_t *in);
void node_link_deliveries_done(knoop_node_t *self, int rc, knoop_ingest_batch_t *b,
                               const int *res, knoop_ingest_t *in);
void node_link_send_outbox(knoop_node_t *self); /* unacked own messages */
void node_link_close(knoop_node_t *self, const char *why);
void node_link_read_probe(knoop_node_t *self);

/* node_repair.c */
int  node_repair_start(knoop_node_t *self);     /* check the journal at start */
void node_repair_retry(knoop_node_t *self);     /* again, after a failed check */
/* After a read met damage: rebuild rows, ask the broker for damaged messages
 * again (a new HELLO, whose vector knoop_settled_hello lowers). */
void node_repair_step(knoop_node_t *self);

/* node_api.c */
int  node_api_init(knoop_node_t *self);
void node_api_read(knoop_node_t *self);
/* The publish batch of the pass: sign its heads before the commit; after
 * it (rc: its result; res: the append's results for pub_msgs) answer the
 * applications. */
int  node_api_publish_sign(knoop_node_t *self);
void node_api_publish_done(knoop_node_t *self, int rc, const int *res);
/* The durable subscriptions' cursors that changed, for the pass's commit
 * (*out malloc'd, names and data borrowed from the subscriptions until
 * node_api_cursors_done); done marks them written when rc is KNOOP_OK. */
size_t node_api_cursors(knoop_node_t *self, knoop_journal_cursor_t **out);
void node_api_cursors_done(knoop_node_t *self, int rc);
void node_api_verdicts(knoop_node_t *self);     /* answer publish waits */
void node_api_pump(knoop_node_t *self);
void node_api_close(knoop_node_t *self);

/* node_import.c: a bundle's content (KNOOP_API_IMPORT). KNOOP_OK with the
 * summary in *json (malloc'd), or the refusal's code with why naming the
 * stream and seq. */
int  node_import(knoop_node_t *self, const knoop_api_req_t *req, char **json, char *why,
                 size_t why_size);
/* Streams of other origins the node imported are forwarded to its broker
 * (a PUBLISH marked forwarded) once the link is up and caught up, until the
 * broker ACKs them; the list survives restarts (journal cursor
 * "node.forward"). send: once per loop pass; on_ack / on_error: the
 * broker's answers (frames for other streams are ignored); link_down:
 * what was in flight is sent again on the next link; json: for status;
 * destroy: frees the list. */
void node_forward_send(knoop_node_t *self);
void node_forward_on_ack(knoop_node_t *self, const knoop_frame_t *f);
void node_forward_on_error(knoop_node_t *self, const knoop_frame_t *f);
void node_forward_link_down(knoop_node_t *self);
json_t *node_forward_json(knoop_node_t *self);
void node_forward_destroy(knoop_node_t *self);
/* node_standby.c: primary/standby pairs (docs/design.md, "Standby node").
 * init reads the instance record from the journal and picks the mode to
 * start in; hello sends this instance to the broker (after HELLO and on every
 * change); on_instances takes the broker's list of the other instances;
 * step decides takeover and yielding; set is promote/demote. */
int  node_standby_init(knoop_node_t *self);
void node_standby_hello(knoop_node_t *self);
void node_standby_on_instances(knoop_node_t *self, const knoop_frame_t *f);
void node_standby_link_down(knoop_node_t *self);
void node_standby_step(knoop_node_t *self);
int  node_standby_set(knoop_node_t *self, bool active, const char *reason);
/* The "instance" object of the status. */
json_t *node_standby_json(const knoop_node_t *self);

/* node.c: follow the trust topics in the journal now and reload the trust
 * store; when it grew after deliveries were refused (a certificate that
 * arrived after the messages it vouches for), reconnect so the broker sends
 * them again. */
void node_trust_update(knoop_node_t *self);

#endif
