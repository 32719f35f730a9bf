/*
 * strmap.h — a hash map from byte-string keys (partner ids, topics, routing
 * ids, state keys) to pointers. The daemons' per-session and per-origin
 * tables use it; the keys come from partners, so the hash is SipHash
 * (libsodium's crypto_shorthash) under a random key per map: nobody can
 * choose keys that pile into one slot. Keys are copied; values are the
 * caller's unless the map was given a destructor.
 */
#ifndef KNOOP_STRMAP_H
#define KNOOP_STRMAP_H

#include "knoop.h"

#include <string.h>

typedef void (knoop_strmap_free_fn)(void *val);

typedef struct {
    uint8_t  hkey[16];    /* SipHash key, random per map */
    struct knoop_strmap_slot *slots;
    size_t   cap;         /* power of two, 0 when empty */
    size_t   count;
    knoop_strmap_free_fn *free_val;   /* called on values replaced, deleted, cleared */
} knoop_strmap_t;         /* zero-initialise to start (then set free_val if wanted) */

/* The value stored under key[0..len), or NULL. */
void *knoop_strmap_get(const knoop_strmap_t *m, const void *key, size_t len);
/* The map's own copy of key[0..len), NUL-terminated, or NULL when absent.
 * Borrowed: valid until the key is deleted or the map cleared (the map
 * growing does not move it), so a value may keep it as its name instead
 * of a copy of its own. */
const char *knoop_strmap_key(const knoop_strmap_t *m, const void *key, size_t len);
/* Store val under the key, replacing (and freeing, with a destructor) what
 * was there. val may not be NULL. KNOOP_ENOMEM on failure (map unchanged). */
int   knoop_strmap_put(knoop_strmap_t *m, const void *key, size_t len, void *val);
/* Remove the key; its value is freed with the destructor. False if absent. */
bool  knoop_strmap_del(knoop_strmap_t *m, const void *key, size_t len);
/* Walk the entries in no particular order: start with *it = 0; each call
 * gives the next entry (its key NUL-terminated: a key with NUL bytes in it reads short) and false at the end. The map
 * may not change during a walk. */
bool  knoop_strmap_next(const knoop_strmap_t *m, size_t *it, const char **key, void **val);
/* Remove every entry (values freed with the destructor) and the storage;
 * the map stays usable. */
void  knoop_strmap_clear(knoop_strmap_t *m);

/* The same for NUL-terminated keys. */
static inline void *knoop_strmap_sget(const knoop_strmap_t *m, const char *key)
{
    return knoop_strmap_get(m, key, strlen(key));
}
static inline int knoop_strmap_sput(knoop_strmap_t *m, const char *key, void *val)
{
    return knoop_strmap_put(m, key, strlen(key), val);
}
static inline bool knoop_strmap_sdel(knoop_strmap_t *m, const char *key)
{
    return knoop_strmap_del(m, key, strlen(key));
}

#endif
