/*
 * trust_reload.h — keeping a daemon's trust store current: the operator's
 * trust directory plus what the daemon learned over the mesh (trust_mesh.h)
 * are loaded again when either changed on disk. The daemons call it from
 * their loops, the ZAP handler from its thread (each with its own store).
 *
 * Plain and reentrant: it touches only what it is given.
 */
#ifndef KNOOP_TRUST_RELOAD_H
#define KNOOP_TRUST_RELOAD_H

#include "keys.h"

#include <stdbool.h>
#include <stdint.h>

/* journal.h's class: the journal verifies appends with the store. */
typedef struct knoop_journal_t knoop_journal_t;

/* How a caller knows whether the directories changed. A stamp
 * (knoop_trust_stamp) stats and hashes every certificate file: with a
 * thousand partners that is milliseconds, and a broker looks five times a
 * second. So the directories are watched with inotify, and walked only
 * when it reports a change, at the first call, and at least every
 * KNOOP_TRUST_WALK_MS (what inotify cannot see: a symlinked directory
 * swapped, a lost event). Where a watch cannot be set (no `learned`
 * directory yet, no inotify), every call walks, as before. Zeroed is the
 * initial state; one per caller (not shared between threads). */
typedef struct {
    uint64_t stamp;          /* knoop_trust_stamp at the last walk; 0 = walk now */
    uint64_t walked_at;      /* knoop_now_ms of the last walk */
    int      fd;             /* the inotify instance, when armed */
    bool     armed;
} knoop_trust_watch_t;

#define KNOOP_TRUST_WALK_MS 30000

/* Close the watch (safe on a zeroed or closed one). */
void knoop_trust_watch_close(knoop_trust_watch_t *w);

/* Reload the trust store in dir, plus what the daemon learned over the mesh
 * in `learned` (NULL: nothing; knoop_trust_load_ex), when either changed
 * since the last call (w; w->stamp = 0 forces a walk), or when *trust is
 * NULL: the new store goes to the journal (NULL: none) before the old one
 * in *trust is freed. Returns 1 reloaded, 0 unchanged, or a negative error
 * with the previous store kept (and logged, naming dir). Expired
 * certificates are kept: daemons check validity where they authenticate. */
int knoop_trust_refresh(knoop_journal_t *journal, const char *dir, const char *learned,
                        knoop_trust_watch_t *w, knoop_trust_t **trust);

#endif
