/*
 * partners.h — the load generator of bench_pubsub's W7: many partners in
 * one process, each with its own identity key, its own certificate issued
 * by a test root, and its own CurveZMQ session to a broker, speaking the
 * real wire protocol (lib/wire.h, lib/link.h) as a node does: HELLO with
 * its vector, WELCOME, catch-up DELIVERs answered with ACK and CREDIT,
 * CAUGHT_UP, PUBLISH of its own chained, head-signed envelopes (kept until
 * the broker ACKs them and sent again from WELCOME.own after a reconnect),
 * HEARTBEAT when idle, and a new session (new socket, new handshake, HELLO)
 * on a fatal ERROR or when nothing was heard for five heartbeats.
 *
 * What it leaves out of a node: no journal (what a partner holds is one
 * hwm and head per stream of its group, in memory), no signature
 * verification of what it receives (the broker verified; this measures the
 * broker). Partner i is named PREFIX-pNNNN, belongs to group i / group_size,
 * publishes on w7.gGGG.ID and subscribes to w7.gGGG.* (so each message goes
 * to the group_size - 1 other members), and is homed on broker i % nbrokers,
 * connecting from its own loopback address (127.0.x.y), as partners on
 * their own machines would: the broker's per-address handshake cap then
 * sees one connection per address. With per_address N, N partners of each
 * broker share one address instead, as partners behind one NAT do.
 *
 * Threading: partners_start runs every session in one thread of its own;
 * the caller steers it with the partners_* calls below (atomics), and reads
 * partners_result after partners_stop.
 */
#ifndef KNOOP_BENCH_PARTNERS_H
#define KNOOP_BENCH_PARTNERS_H

#include "keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARTNERS_BROKERS_MAX 3

typedef struct partners_t partners_t;

typedef struct {
    size_t      n;                 /* partners */
    size_t      group;             /* partners per group (>= 2) */
    size_t      nbrokers;          /* 1..PARTNERS_BROKERS_MAX */
    const char *broker_id[PARTNERS_BROKERS_MAX];
    const char *broker_ep[PARTNERS_BROKERS_MAX];   /* tcp://127.0.0.1:PORT */
    const char *trust_dir;         /* brokers' certificates are read here; the
                                    * partners' issued certificates written here */
    const knoop_key_t *root;       /* issues the partners' certificates */
    const char *type;              /* payload type and bytes of every message */
    const uint8_t *payload;
    size_t      payload_len;
    double      rate;              /* messages per second per partner */
    size_t      per_address;       /* partners of one broker behind one source address,
                                    * as behind a NAT (0 or 1: each its own) */
} partners_opts_t;

/* Before the process makes its first ZeroMQ socket: raise the descriptor
 * limit and libzmq's socket limit for n sessions. KNOOP_EIO (printed) when
 * the hard limit is too low. */
int partners_prepare(size_t n);

/* Make the partners: a key each, its certificate issued by opts->root and
 * written to opts->trust_dir. No connection yet. NULL on error (printed). */
partners_t *partners_new(const partners_opts_t *opts);
void partners_destroy(partners_t **self_p);

/* Start the thread: every partner connects and says HELLO. */
int  partners_start(partners_t *self);
/* Stop the thread (sessions closed); idempotent. */
void partners_stop(partners_t *self);

/* Publishing at opts->rate on/off. */
void partners_publish(partners_t *self, bool on);
/* Latency samples of live deliveries (after the session's CAUGHT_UP) on/off. */
void partners_sample(partners_t *self, bool on);

/* A mark: from now, a partner counts as ready only once it has had a
 * WELCOME after the mark, the CAUGHT_UP of that session, and holds every
 * message its group had published at the mark. */
void partners_mark(partners_t *self);
/* Partners ready since the last mark (taken a moment after the mark). */
size_t partners_ready(const partners_t *self);
/* Partners that had a WELCOME since the last mark. */
size_t partners_welcomed(const partners_t *self);
/* Partners whose session is up now (WELCOME received, not lost). */
size_t partners_linked(const partners_t *self);
/* Live counters: envelopes built, acknowledged by the brokers, deliveries
 * received in order, deliveries due (built x (group - 1)). */
void partners_progress(const partners_t *self, uint64_t *published, uint64_t *acked,
                       uint64_t *delivered, uint64_t *expected);

typedef struct {
    uint64_t published;         /* envelopes built */
    uint64_t acked;             /* of them acknowledged by the brokers */
    uint64_t expected;          /* deliveries due: published x (group - 1) */
    uint64_t delivered;         /* distinct messages received in order */
    uint64_t duplicates, gaps;  /* received again; received out of order */
    uint64_t sessions;          /* WELCOMEs received */
    uint64_t resets;            /* sessions started again (fatal ERROR, timeout) */
    uint64_t errors;            /* ERROR frames received */
    uint64_t refused_frames;    /* frames that did not decode */
    double  *lat_ms;            /* live delivery latencies (sorted), owned by self */
    size_t   nlat;
} partners_result_t;

/* Counters and the sorted latency samples; call after partners_stop. */
void partners_result(partners_t *self, partners_result_t *out);

#endif
