/*
 * web.h — knoop-web: the operational picture of one partner's node in a
 * browser. The main thread reads the node through the local API (client.h)
 * into the store (web_store.h); libmicrohttpd's threads serve the page, its
 * assets, the Server-Sent Events stream and the publishing forms
 * (web_http.c), and publish through a client of their own per request.
 */
#ifndef KNOOP_WEB_H
#define KNOOP_WEB_H

#include "knoop.h"
#include "web_auth.h"
#include "web_store.h"

#include <stdatomic.h>

/* Limits on what a browser may send. */
#define WEB_BODY_MAX    (16u * 1024u)   /* form body, bytes */
#define WEB_FIELD_MAX   4000            /* one form field, bytes */
#define WEB_URL_MAX     512

typedef struct {
    web_store_t  *store;
    web_auth_t   *auth;
    const char   *api;                  /* the node's local API endpoint */
    int           assets_fd;            /* directory of index.html, app.js, app.css */
    bool          public_read;          /* the picture without login */
    char          partner[KNOOP_ID_MAX + 1];   /* the node's partner id */
    atomic_ulong  refused;              /* requests refused as bad input or unauthorised */
    atomic_ulong  published;            /* messages published from the page */
} web_t;

typedef struct web_http_t web_http_t;

/* Start serving on HOST:PORT (IPv4, or [IPv6]:PORT). On failure err says
 * why. Errors: KNOOP_EINVAL (address), KNOOP_EIO (cannot listen). */
int  web_http_start(web_t *web, const char *listen, web_http_t **out, char *err,
                    size_t err_size);
/* Stop: the store must be closed first, so that event streams end. */
void web_http_stop(web_http_t **self_p);

#endif
