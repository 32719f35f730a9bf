/* web_store.c — the picture knoop-web serves, shared by its threads. */
#include "web_store.h"
#include "strmap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t id;
    char    *text;          /* "id: N\nevent: msg\ndata: JSON\n\n" */
    size_t   len;
} entry_t;

typedef struct {
    uint64_t hlc;
    char    *origin;
    char    *text;
    size_t   len;
    uint64_t id;            /* its ring id */
} winner_t;

struct web_store_t {
    pthread_mutex_t lock;
    pthread_cond_t  news;
    entry_t        *ring;
    size_t          cap;
    uint64_t        first, next;        /* ring holds ids [first, next) */
    knoop_strmap_t  winners;            /* state key -> winner_t (owned) */
    char           *status;             /* "event: status\ndata: JSON\n\n" */
    size_t          status_len;
    uint64_t        status_ver;
    bool            closed;
};

static void s_winner_free(void *item)
{
    winner_t *w = item;
    free(w->origin);
    free(w->text);
    free(w);
}

/* printf into a new string, or NULL. */
static char *s_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *s_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *out = n < 0 ? NULL : malloc((size_t) n + 1);
    if (out) {
        va_start(ap, fmt);
        vsnprintf(out, (size_t) n + 1, fmt, ap);
        va_end(ap);
    }
    return out;
}

web_store_t *web_store_new(size_t history)
{
    web_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = history < 16 ? 16 : history;
    self->ring = calloc(self->cap, sizeof *self->ring);
    if (!self->ring) {
        free(self);
        return NULL;
    }
    self->winners.free_val = s_winner_free;
    self->first = self->next = 1;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->news, &ca);
    pthread_condattr_destroy(&ca);
    return self;
}

void web_store_destroy(web_store_t **self_p)
{
    web_store_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->cap; i++)
        free(self->ring[i].text);
    free(self->ring);
    knoop_strmap_clear(&self->winners);
    free(self->status);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->news);
    free(self);
    *self_p = NULL;
}

void web_cursor_clear(web_cursor_t *cur)
{
    knoop_buf_free(&cur->pending);
    memset(cur, 0, sizeof *cur);
}

int web_store_add(web_store_t *self, const char *json, const char *state, uint64_t hlc,
                  const char *origin)
{
    pthread_mutex_lock(&self->lock);
    uint64_t id = self->next;
    char *text = s_format("id: %llu\nevent: msg\ndata: %s\n\n", (unsigned long long) id,
                              json);
    if (!text) {
        pthread_mutex_unlock(&self->lock);
        return KNOOP_ENOMEM;
    }
    size_t len = strlen(text);
    if (state) {
        winner_t *w = knoop_strmap_sget(&self->winners, state);
        bool wins = !w || hlc > w->hlc || (hlc == w->hlc && strcmp(origin, w->origin) > 0);
        if (wins) {
            winner_t *nw = calloc(1, sizeof *nw);
            char *o = strdup(origin), *t = strdup(text);
            if (!nw || !o || !t) {
                free(nw);
                free(o);
                free(t);
                free(text);
                pthread_mutex_unlock(&self->lock);
                return KNOOP_ENOMEM;
            }
            *nw = (winner_t) { hlc, o, t, len, id };
            if (knoop_strmap_sput(&self->winners, state, nw) != KNOOP_OK) {
                s_winner_free(nw);
                free(text);
                pthread_mutex_unlock(&self->lock);
                return KNOOP_ENOMEM;
            }
        }
    }
    entry_t *e = &self->ring[id % self->cap];
    if (e->text) {                      /* the oldest leaves the ring */
        free(e->text);
        self->first = e->id + 1;
    }
    *e = (entry_t) { id, text, len };
    self->next = id + 1;
    pthread_cond_broadcast(&self->news);
    pthread_mutex_unlock(&self->lock);
    return KNOOP_OK;
}

int web_store_set_status(web_store_t *self, const char *json)
{
    char *text = s_format("event: status\ndata: %s\n\n", json);
    if (!text)
        return KNOOP_ENOMEM;
    pthread_mutex_lock(&self->lock);
    if (self->status && strcmp(self->status, text) == 0) {
        pthread_mutex_unlock(&self->lock);
        free(text);
        return KNOOP_OK;
    }
    free(self->status);
    self->status = text;
    self->status_len = strlen(text);
    self->status_ver++;
    pthread_cond_broadcast(&self->news);
    pthread_mutex_unlock(&self->lock);
    return KNOOP_OK;
}

void web_store_close(web_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->closed = true;
    pthread_cond_broadcast(&self->news);
    pthread_mutex_unlock(&self->lock);
}

/* Append everything cur has not seen to cur->pending (lock held). */
static int s_take(web_store_t *self, web_cursor_t *cur)
{
    int rc = KNOOP_OK;
    if (!cur->started) {
        size_t it = 0;
        void *v;
        while (!rc && knoop_strmap_next(&self->winners, &it, NULL, &v)) {
            const winner_t *w = v;
            if (w->id < self->first)
                rc = knoop_buf_append(&cur->pending, w->text, w->len);
        }
        cur->next = self->first;
        cur->started = true;
    }
    if (cur->next < self->first)        /* fell behind the ring: skip ahead */
        cur->next = self->first;
    for (; cur->next < self->next && !rc; cur->next++) {
        entry_t *e = &self->ring[cur->next % self->cap];
        rc = knoop_buf_append(&cur->pending, e->text, e->len);
    }
    if (!rc && self->status && cur->status_ver != self->status_ver) {
        rc = knoop_buf_append(&cur->pending, self->status, self->status_len);
        cur->status_ver = self->status_ver;
    }
    return rc;
}

static bool s_has_news(const web_store_t *self, const web_cursor_t *cur)
{
    return !cur->started || cur->next < self->next ||
           (self->status && cur->status_ver != self->status_ver);
}

long web_store_read(web_store_t *self, web_cursor_t *cur, char *buf, size_t max,
                    int timeout_ms)
{
    if (cur->sent == cur->pending.len) {
        cur->pending.len = cur->sent = 0;
        pthread_mutex_lock(&self->lock);
        if (!self->closed && !s_has_news(self, cur)) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += timeout_ms / 1000;
            until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (!self->closed && !s_has_news(self, cur))
                if (pthread_cond_timedwait(&self->news, &self->lock, &until) == ETIMEDOUT)
                    break;
        }
        if (self->closed) {
            pthread_mutex_unlock(&self->lock);
            return -1;
        }
        int rc = s_take(self, cur);
        pthread_mutex_unlock(&self->lock);
        if (rc)
            return -1;
        if (cur->pending.len == 0)
            return 0;
    }
    size_t n = cur->pending.len - cur->sent;
    if (n > max)
        n = max;
    memcpy(buf, cur->pending.data + cur->sent, n);
    cur->sent += n;
    return (long) n;
}

void web_store_counts(web_store_t *self, size_t *ring, size_t *winners)
{
    pthread_mutex_lock(&self->lock);
    *ring = (size_t) (self->next - self->first);
    *winners = self->winners.count;
    pthread_mutex_unlock(&self->lock);
}
