/* u64map.c — see u64map.h. Linear probing; keys are hashes already, but
 * they are mixed once more so that sequential test ids spread too. */
#include "u64map.h"
#include "crypto.h"

#include <stdlib.h>

static size_t s_slot(uint64_t salt, uint64_t key, size_t cap)
{
    key ^= salt;
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t) key & (cap - 1);
}

bool knoop_u64map_get(const knoop_u64map_t *m, uint64_t key, uint64_t *val)
{
    if (!m->cap)
        return false;
    for (size_t i = s_slot(m->salt, key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i])
            return false;
        if (m->keys[i] == key) {
            if (val)
                *val = m->vals[i];
            return true;
        }
    }
}

static int s_grow(knoop_u64map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    knoop_u64map_t n = { m->salt, calloc(cap, 8), calloc(cap, 8), calloc(cap, 1), cap, 0 };
    if (!n.salt)
        knoop_random(&n.salt, sizeof n.salt);
    if (!n.keys || !n.vals || !n.used) {
        free(n.keys);
        free(n.vals);
        free(n.used);
        return KNOOP_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i])
            knoop_u64map_put(&n, m->keys[i], m->vals[i]);
    knoop_u64map_clear(m);
    *m = n;
    return KNOOP_OK;
}

int knoop_u64map_put(knoop_u64map_t *m, uint64_t key, uint64_t val)
{
    if ((m->count + 1) * 4 > m->cap * 3) {
        int rc = s_grow(m);
        if (rc)
            return rc;
    }
    for (size_t i = s_slot(m->salt, key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i]) {
            m->used[i] = 1;
            m->keys[i] = key;
            m->vals[i] = val;
            m->count++;
            return KNOOP_OK;
        }
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return KNOOP_OK;
        }
    }
}

void knoop_u64map_clear(knoop_u64map_t *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    m->keys = m->vals = NULL;
    m->used = NULL;
    m->cap = m->count = 0;
    /* the salt stays: a cleared map keeps resisting chosen keys */
}
