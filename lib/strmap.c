/* strmap.c — see strmap.h. Linear probing at most 3/4 full; deletion
 * shifts the rest of the probe run back, so there are no tombstones and a
 * table with churn (sessions coming and going) never degrades. */
#include "strmap.h"
#include "crypto.h"

#include <sodium.h>
#include <stdlib.h>

struct knoop_strmap_slot {
    uint64_t hash;
    char    *key;         /* NULL: the slot is free */
    size_t   len;
    void    *val;
};

static uint64_t s_hash(const knoop_strmap_t *m, const void *key, size_t len)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, len, m->hkey);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

/* The slot holding the key, or the free slot that ends its probe run. */
static size_t s_find(const knoop_strmap_t *m, uint64_t h, const void *key, size_t len)
{
    size_t i = (size_t) h & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        const struct knoop_strmap_slot *sl = &m->slots[i];
        if (!sl->key || (sl->hash == h && sl->len == len && memcmp(sl->key, key, len) == 0))
            return i;
    }
}

void *knoop_strmap_get(const knoop_strmap_t *m, const void *key, size_t len)
{
    if (!m->cap)
        return NULL;
    size_t i = s_find(m, s_hash(m, key, len), key, len);
    return m->slots[i].key ? m->slots[i].val : NULL;
}

const char *knoop_strmap_key(const knoop_strmap_t *m, const void *key, size_t len)
{
    if (!m->cap)
        return NULL;
    return m->slots[s_find(m, s_hash(m, key, len), key, len)].key;
}

static int s_grow(knoop_strmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct knoop_strmap_slot *n = calloc(cap, sizeof *n);
    if (!n)
        return KNOOP_ENOMEM;
    if (sodium_is_zero(m->hkey, sizeof m->hkey))
        knoop_random(m->hkey, sizeof m->hkey);
    for (size_t i = 0; i < m->cap; i++) {
        struct knoop_strmap_slot *sl = &m->slots[i];
        if (!sl->key)
            continue;
        size_t j = (size_t) sl->hash & (cap - 1);
        while (n[j].key)
            j = (j + 1) & (cap - 1);
        n[j] = *sl;
    }
    free(m->slots);
    m->slots = n;
    m->cap = cap;
    return KNOOP_OK;
}

int knoop_strmap_put(knoop_strmap_t *m, const void *key, size_t len, void *val)
{
    if (!val)
        return KNOOP_EINVAL;
    if ((m->count + 1) * 4 > m->cap * 3) {
        int rc = s_grow(m);
        if (rc)
            return rc;
    }
    uint64_t h = s_hash(m, key, len);
    struct knoop_strmap_slot *sl = &m->slots[s_find(m, h, key, len)];
    if (sl->key) {
        if (sl->val != val && m->free_val)
            m->free_val(sl->val);
        sl->val = val;
        return KNOOP_OK;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return KNOOP_ENOMEM;
    memcpy(copy, key, len);
    copy[len] = '\0';
    *sl = (struct knoop_strmap_slot) { h, copy, len, val };
    m->count++;
    return KNOOP_OK;
}

bool knoop_strmap_del(knoop_strmap_t *m, const void *key, size_t len)
{
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1;
    size_t i = s_find(m, s_hash(m, key, len), key, len);
    if (!m->slots[i].key)
        return false;
    free(m->slots[i].key);
    if (m->free_val)
        m->free_val(m->slots[i].val);
    m->count--;
    /* Close the hole: an entry further along the run moves into it unless
     * its home slot lies (cyclically) after the hole, where a lookup for it
     * starts past the hole anyway. */
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        struct knoop_strmap_slot *sl = &m->slots[j];
        if (!sl->key)
            break;
        size_t home = (size_t) sl->hash & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        m->slots[i] = *sl;
        i = j;
    }
    m->slots[i] = (struct knoop_strmap_slot) { 0 };
    return true;
}

bool knoop_strmap_next(const knoop_strmap_t *m, size_t *it, const char **key, void **val)
{
    for (; *it < m->cap; (*it)++) {
        const struct knoop_strmap_slot *sl = &m->slots[*it];
        if (sl->key) {
            if (key)
                *key = sl->key;
            if (val)
                *val = sl->val;
            (*it)++;
            return true;
        }
    }
    return false;
}

void knoop_strmap_clear(knoop_strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        free(m->slots[i].key);
        if (m->free_val)
            m->free_val(m->slots[i].val);
    }
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
    /* the hash key stays: a cleared map keeps resisting chosen keys */
}
