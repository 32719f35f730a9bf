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

#include <stdint.h>

/* journal.h's class: the journal verifies appends with the store. */
typedef struct knoop_journal_t knoop_journal_t;

/* Reload the trust store in dir, plus what the daemon learned over the mesh
 * in `learned` (NULL: nothing; knoop_trust_load_ex), when either changed
 * since *stamp (knoop_trust_stamp; 0 = never loaded), or when *trust is
 * NULL: the new store goes to the journal (NULL: none) before the old one
 * in *trust is freed. Returns 1 reloaded, 0 unchanged, or a negative error
 * with the previous store kept (and logged, naming dir). Expired
 * certificates are kept: daemons check validity where they authenticate. */
int knoop_trust_refresh(knoop_journal_t *journal, const char *dir, const char *learned,
                        uint64_t *stamp, knoop_trust_t **trust);

#endif
