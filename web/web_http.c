/* web_http.c — knoop-web's HTTP side (libmicrohttpd, a thread per
 * connection): the page and its assets, the event stream, login, logout and
 * the two publishing forms. Every refusal answers with the status that names
 * its cause and a one-line reason, and is counted and logged. */
#include "web.h"
#include "cap.h"
#include "client.h"
#include "crypto.h"
#include "hostport.h"
#include "json.h"
#include "msg.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SSE_KEEPALIVE_MS 15000
#define PUBLISH_TIMEOUT_MS 5000
#define COOKIE "knoop_sessie"

struct web_http_t {
    struct MHD_Daemon *d;
};

/* ---- one request's state (POST bodies) ---- */

typedef enum { F_CSRF, F_USER, F_PASSWORD, F_INCIDENT, F_LEVEL, F_REASON, F_DECLARED_BY,
               F_SUMMARY, F_LOCATION, F_DEAD, F_INJURED, F_MISSING, F_EVACUATED, F_MEASURES,
               F_NEEDS, F_EXERCISE, F_COUNT } field_t;

static const char *const s_field_names[F_COUNT] = {
    "csrf", "user", "password", "incident_id", "level", "reason", "declared_by",
    "summary", "location", "dead", "injured", "missing", "evacuated", "measures_taken",
    "needs", "oefening",
};

typedef struct {
    struct MHD_PostProcessor *pp;
    size_t   body;                      /* bytes received */
    int      status;                    /* a refusal decided while reading, or 0 */
    char     why[160];
    char    *field[F_COUNT];
    size_t   flen[F_COUNT];
} req_t;

static void s_req_free(req_t *r)
{
    if (!r)
        return;
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    for (int i = 0; i < F_COUNT; i++) {
        if (i == F_PASSWORD && r->field[i])
            knoop_wipe(r->field[i], r->flen[i]);
        free(r->field[i]);
    }
    free(r);
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    s_req_free(*con_cls);
    *con_cls = NULL;
}

static void s_refuse(req_t *r, int status, const char *why)
{
    if (!r->status) {
        r->status = status;
        snprintf(r->why, sizeof r->why, "%s", why);
    }
}

static enum MHD_Result s_field(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    req_t *r = cls;
    int f = -1;
    for (int i = 0; i < F_COUNT; i++)
        if (strcmp(key, s_field_names[i]) == 0)
            f = i;
    if (f < 0) {
        char why[120];
        snprintf(why, sizeof why, "unknown form field '%.40s'", key);
        s_refuse(r, MHD_HTTP_BAD_REQUEST, why);
        return MHD_NO;
    }
    if (filename) {
        s_refuse(r, MHD_HTTP_BAD_REQUEST, "file uploads are not accepted");
        return MHD_NO;
    }
    if (off != r->flen[f] || (off == 0 && r->field[f])) {
        s_refuse(r, MHD_HTTP_BAD_REQUEST, "form field given twice");
        return MHD_NO;
    }
    if (r->flen[f] + size > WEB_FIELD_MAX) {
        s_refuse(r, MHD_HTTP_CONTENT_TOO_LARGE, "form field too long");
        return MHD_NO;
    }
    char *n = realloc(r->field[f], r->flen[f] + size + 1);
    if (!n) {
        s_refuse(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return MHD_NO;
    }
    memcpy(n + r->flen[f], data, size);
    r->flen[f] += size;
    n[r->flen[f]] = '\0';
    r->field[f] = n;
    return MHD_YES;
}

/* ---- responses ---- */

static void s_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static enum MHD_Result s_json(struct MHD_Connection *c, unsigned status, json_t *body,
                              const char *cookie)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text,
                                                                MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    s_headers(resp);
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    if (cookie)
        MHD_add_response_header(resp, "Set-Cookie", cookie);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A refusal: counted, logged (without the request's content), answered as
 * {"fout": why}. */
static enum MHD_Result s_error(web_t *web, struct MHD_Connection *c, unsigned status,
                               const char *method, const char *url, const char *why)
{
    unsigned long n = atomic_fetch_add(&web->refused, 1) + 1;
    char u[80];
    snprintf(u, sizeof u, "%s", url);
    for (char *p = u; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            *p = '?';
    knoop_info("web: refused %s %s: %u %s (%lu refused so far)", method, u, status, why, n);
    return s_json(c, status, json_pack("{s:s}", "fout", why), NULL);
}

/* ---- static assets ---- */

static const char *s_mime(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const char *const map[][2] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" }, { ".svg", "image/svg+xml" },
        { ".png", "image/png" }, { ".woff2", "font/woff2" }, { ".ico", "image/x-icon" },
    };
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* A plain file name: no directory part, no leading dot, a known type. */
static bool s_asset_name_ok(const char *name)
{
    if (!*name || name[0] == '.' || strlen(name) > 64 || !s_mime(name))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

static enum MHD_Result s_asset(web_t *web, struct MHD_Connection *c, const char *method,
                               const char *url, const char *name)
{
    if (!s_asset_name_ok(name))
        return s_error(web, c, MHD_HTTP_NOT_FOUND, method, url, "no such page");
    int fd = openat(web->assets_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return s_error(web, c, MHD_HTTP_NOT_FOUND, method, url, "no such page");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t) st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    s_headers(resp);
    MHD_add_response_header(resp, "Content-Type", s_mime(name));
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the event stream ---- */

typedef struct {
    web_cursor_t cur;
    web_store_t *store;
} sse_t;

static ssize_t s_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_t *sse = cls;
    long n = web_store_read(sse->store, &sse->cur, buf, max, SSE_KEEPALIVE_MS);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == 0) {
        static const char ka[] = ": wacht\n\n";
        if (max < sizeof ka - 1)
            return 0;
        memcpy(buf, ka, sizeof ka - 1);
        return (ssize_t) (sizeof ka - 1);
    }
    return (ssize_t) n;
}

static void s_sse_free(void *cls)
{
    sse_t *sse = cls;
    web_cursor_clear(&sse->cur);
    free(sse);
}

static enum MHD_Result s_events(web_t *web, struct MHD_Connection *c)
{
    sse_t *sse = calloc(1, sizeof *sse);
    if (!sse)
        return MHD_NO;
    sse->store = web->store;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                                  s_sse_read, sse, s_sse_free);
    if (!resp) {
        s_sse_free(sse);
        return MHD_NO;
    }
    s_headers(resp);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- publishing ---- */

static const char *const s_grip_levels[] = { "GRIP_0", "GRIP_1", "GRIP_2", "GRIP_3",
                                             "GRIP_4", "GRIP_5", "GRIP_RIJK", NULL };

static void s_now_rfc3339(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A non-negative count from a form field ("" or absent: not given). */
static int s_count(const char *text, json_t *obj, const char *name)
{
    if (!text || !*text)
        return 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (*end || v < 0 || v > 100000000L || text[0] == '-' || text[0] == '+')
        return -1;
    json_object_set_new(obj, name, json_integer(v));
    return 0;
}

/* Non-empty lines of a textarea as a JSON array. NULL on a bad string. */
static json_t *s_lines(const char *text)
{
    json_t *arr = json_array();
    if (!text)
        return arr;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\r\n");
        if (n) {
            json_t *s = json_stringn(p, n);
            if (!s) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, s);
        }
        p += n;
        p += strspn(p, "\r\n");
    }
    return arr;
}

/* A printable one-line text (no control characters), valid UTF-8 by
 * jansson's check later. */
static bool s_line_ok(const char *s, size_t max)
{
    if (!s || !*s || strlen(s) > max)
        return false;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static enum MHD_Result s_publish(web_t *web, struct MHD_Connection *c, const char *method,
                                 const char *url, req_t *r, bool grip, const char *user)
{
    const char *incident = r->field[F_INCIDENT];
    if (!s_line_ok(incident, 128))
        return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url,
                       "incident_id ontbreekt of is ongeldig (1-128 tekens, geen regeleinden)");
    bool exercise = r->field[F_EXERCISE] && strcmp(r->field[F_EXERCISE], "ja") == 0;
    if (r->field[F_EXERCISE] && !exercise && strcmp(r->field[F_EXERCISE], "nee") != 0)
        return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url, "oefening must be ja or nee");
    char now[32], topic[KNOOP_TOPIC_MAX + 1], key[KNOOP_KEY_MAX + 1];
    s_now_rfc3339(now);
    json_t *p = json_object();
    const char *type;
    uint32_t priority = KNOOP_PRIO_IMMEDIATE;
    if (grip) {
        const char *level = r->field[F_LEVEL];
        int li = -1;
        for (int i = 0; level && s_grip_levels[i]; i++)
            if (strcmp(level, s_grip_levels[i]) == 0)
                li = i;
        if (li < 0) {
            json_decref(p);
            return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url,
                           "level must be GRIP_0 .. GRIP_5 or GRIP_RIJK");
        }
        if (li >= 4)
            priority = KNOOP_PRIO_FLASH;
        type = "knoop.crisis.v1.GripLevel";
        snprintf(topic, sizeof topic, "grip.%s", web->partner);
        snprintf(key, sizeof key, "%s/%s", incident, web->partner);
        const char *by = r->field[F_DECLARED_BY] && *r->field[F_DECLARED_BY]
                             ? r->field[F_DECLARED_BY] : user;
        json_object_set_new(p, "incident_id", json_string(incident));
        json_object_set_new(p, "region", json_string(web->partner));
        json_object_set_new(p, "level", json_string(level));
        json_object_set_new(p, "declared_at", json_string(now));
        json_object_set_new(p, "declared_by", json_string(by));
        if (r->field[F_REASON] && *r->field[F_REASON])
            json_object_set_new(p, "reason", json_string(r->field[F_REASON]));
    } else {
        if (!r->field[F_SUMMARY] || !*r->field[F_SUMMARY]) {
            json_decref(p);
            return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url, "summary ontbreekt");
        }
        type = "knoop.crisis.v1.SitRep";
        snprintf(topic, sizeof topic, "sitrep.%s", web->partner);
        snprintf(key, sizeof key, "%s", incident);
        json_object_set_new(p, "incident_id", json_string(incident));
        json_object_set_new(p, "summary", json_string(r->field[F_SUMMARY]));
        json_object_set_new(p, "reported_at", json_string(now));
        if (r->field[F_LOCATION] && *r->field[F_LOCATION])
            json_object_set_new(p, "location", json_pack("{s:s?}", "name", r->field[F_LOCATION]));
        json_t *cas = json_object();
        if (s_count(r->field[F_DEAD], cas, "dead") || s_count(r->field[F_INJURED], cas, "injured") ||
            s_count(r->field[F_MISSING], cas, "missing") ||
            s_count(r->field[F_EVACUATED], cas, "evacuated")) {
            json_decref(cas);
            json_decref(p);
            return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url,
                           "aantallen (doden, gewonden, vermisten, geëvacueerden) must be "
                           "whole numbers from 0");
        }
        if (json_object_size(cas))
            json_object_set_new(p, "casualties", cas);
        else
            json_decref(cas);
        json_t *m = s_lines(r->field[F_MEASURES]), *n = s_lines(r->field[F_NEEDS]);
        if (m && json_array_size(m))
            json_object_set(p, "measures_taken", m);
        if (n && json_array_size(n))
            json_object_set(p, "needs", n);
        bool bad = !m || !n;
        json_decref(m);
        json_decref(n);
        if (bad) {
            json_decref(p);
            return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url, "text is not UTF-8");
        }
    }
    /* json_string() returns NULL for text that is not UTF-8, and a NULL
     * value makes json_object_set_new fail silently: check every field. */
    knoop_buf_t bytes = { 0 };
    char err[256] = "";
    int rc = knoop_payload_from_json(type, p, &bytes, err, sizeof err);
    bool utf8_ok = (!grip || (json_object_get(p, "incident_id") && json_object_get(p, "declared_by") &&
                              (!r->field[F_REASON] || !*r->field[F_REASON] ||
                               json_object_get(p, "reason")))) &&
                   (grip || (json_object_get(p, "incident_id") && json_object_get(p, "summary") &&
                             (!r->field[F_LOCATION] || !*r->field[F_LOCATION] ||
                              json_object_get(p, "location"))));
    json_decref(p);
    if (rc || !utf8_ok) {
        knoop_buf_free(&bytes);
        char why[300];
        snprintf(why, sizeof why, "%s", !utf8_ok ? "text is not UTF-8" : err);
        return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url, why);
    }
    knoop_api_item_t item = {
        .topic = topic, .type = type, .key = key, .priority = priority,
        .status = exercise ? KNOOP_STATUS_EXERCISE : KNOOP_STATUS_ACTUAL,
        .tlp = KNOOP_TLP_AMBER, .payload = bytes.data, .payload_len = bytes.len,
    };
    knoop_client_t *cl = NULL;
    knoop_api_seq_t res;
    rc = knoop_client_new(web->api, &cl);
    if (!rc)
        rc = knoop_client_publish(cl, &item, 1, &res, PUBLISH_TIMEOUT_MS, err, sizeof err);
    knoop_buf_free(&bytes);
    if (rc) {
        char why[400];
        snprintf(why, sizeof why, "de node nam het bericht niet aan: %s",
                 cl && *knoop_client_error(cl) ? knoop_client_error(cl) : knoop_strerror(rc));
        bool refused = cl && knoop_client_refused(cl);
        knoop_client_destroy(&cl);
        return s_error(web, c, refused ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_BAD_GATEWAY, method,
                       url, why);
    }
    json_t *out = json_pack("{s:b, s:s, s:s, s:I}", "ok", 1, "topic", res.topic, "key", key,
                            "seq", (json_int_t) res.seq);
    knoop_client_destroy(&cl);
    atomic_fetch_add(&web->published, 1);
    knoop_info("web: %s published %s seq %llu (%s) from the page", user, topic,
               (unsigned long long) json_integer_value(json_object_get(out, "seq")),
               exercise ? "exercise" : "actual");
    return s_json(c, MHD_HTTP_OK, out, NULL);
}

/* ---- the alerts of the picture as a CAP Atom feed ---- */

typedef struct {
    knoop_buf_t     payloads;       /* back to back */
    size_t         *len;
    size_t          n, cap;
} atom_acc_t;

static int s_atom_take(void *arg, const uint8_t *env, size_t len)
{
    atom_acc_t *a = arg;
    knoop_msg_t m = { 0 };
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return 0;
    int rc = 0;
    if (!strcmp(m.b.type, KNOOP_CAP_TYPE)) {
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 64;
            size_t *nl = realloc(a->len, cap * sizeof *nl);
            if (nl) {
                a->len = nl;
                a->cap = cap;
            }
        }
        if (a->n < a->cap && knoop_buf_append(&a->payloads, m.b.payload, m.b.payload_len) == 0)
            a->len[a->n++] = m.b.payload_len;
        else
            rc = KNOOP_ENOMEM;
    }
    knoop_msg_clear(&m);
    return rc;
}

/* GET /alerts.atom: every alert of the node's picture on alert.> (an Update
 * or Cancel in place of what it superseded), each entry holding the CAP
 * document (cap.h). */
static enum MHD_Result s_atom(web_t *web, struct MHD_Connection *c, const char *method,
                              const char *url)
{
    atom_acc_t a = { 0 };
    knoop_client_t *cl = NULL;
    int rc = knoop_client_new(web->api, &cl);
    if (!rc)
        rc = knoop_client_beeld(cl, "alert.>", s_atom_take, &a, PUBLISH_TIMEOUT_MS);
    knoop_buf_t xml = { 0 };
    size_t skipped = 0;
    if (!rc) {
        const uint8_t **p = calloc(a.n ? a.n : 1, sizeof *p);
        size_t off = 0;
        for (size_t i = 0; p && i < a.n; i++) {
            p[i] = a.payloads.data + off;
            off += a.len[i];
        }
        char feed_id[KNOOP_ID_MAX + 64], title[KNOOP_ID_MAX + 64];
        snprintf(feed_id, sizeof feed_id, "urn:knooppunt:alerts:%s", web->partner);
        snprintf(title, sizeof title, "Alerts in the picture of %s (knooppunt)", web->partner);
        rc = p ? knoop_cap_atom(feed_id, title, p, a.len, a.n, &xml, &skipped) : KNOOP_ENOMEM;
        free(p);
    }
    char why[300];
    snprintf(why, sizeof why, "the node's picture cannot be read: %s",
             cl && *knoop_client_error(cl) ? knoop_client_error(cl) : knoop_strerror(rc));
    knoop_client_destroy(&cl);
    knoop_buf_free(&a.payloads);
    free(a.len);
    if (rc) {
        knoop_buf_free(&xml);
        return s_error(web, c, MHD_HTTP_BAD_GATEWAY, method, url, why);
    }
    if (skipped)
        knoop_warn("web: %zu alerts of the picture cannot be written as CAP; left out of "
                   "the feed", skipped);
    struct MHD_Response *resp = MHD_create_response_from_buffer(xml.len, xml.data,
                                                                MHD_RESPMEM_MUST_COPY);
    knoop_buf_free(&xml);
    if (!resp)
        return MHD_NO;
    s_headers(resp);
    MHD_add_response_header(resp, "Content-Type", "application/atom+xml; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- routing ---- */

static enum MHD_Result s_post(web_t *web, struct MHD_Connection *c, const char *method,
                              const char *url, req_t *r)
{
    const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    if (r->status)
        return s_error(web, c, (unsigned) r->status, method, url, r->why);
    if (strcmp(url, "/api/login") == 0) {
        if (!r->field[F_USER] || !r->field[F_PASSWORD])
            return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url,
                           "user and password are required");
        char session[WEB_AUTH_TOKEN_HEX], csrf[WEB_AUTH_TOKEN_HEX];
        if (web_auth_login(web->auth, r->field[F_USER], r->field[F_PASSWORD], session, csrf))
            return s_error(web, c, MHD_HTTP_UNAUTHORIZED, method, url,
                           "onbekende gebruiker of verkeerd wachtwoord");
        knoop_info("web: user %s logged in", r->field[F_USER]);
        char cookie[160];
        snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d",
                 session, WEB_AUTH_TTL_S);
        return s_json(c, MHD_HTTP_OK, json_pack("{s:s, s:s}", "gebruiker", r->field[F_USER],
                                                "csrf", csrf), cookie);
    }
    char user[WEB_AUTH_NAME_MAX], csrf[WEB_AUTH_TOKEN_HEX];
    if (!sid || web_auth_session(web->auth, sid, user, csrf) != KNOOP_OK)
        return s_error(web, c, MHD_HTTP_UNAUTHORIZED, method, url, "niet ingelogd");
    if (!web_auth_csrf_ok(web->auth, sid, r->field[F_CSRF]))
        return s_error(web, c, MHD_HTTP_FORBIDDEN, method, url,
                       "CSRF-token ontbreekt of klopt niet: herlaad de pagina");
    if (strcmp(url, "/api/logout") == 0) {
        web_auth_logout(web->auth, sid);
        return s_json(c, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1),
                      COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
    if (strcmp(url, "/api/grip") == 0)
        return s_publish(web, c, method, url, r, true, user);
    if (strcmp(url, "/api/sitrep") == 0)
        return s_publish(web, c, method, url, r, false, user);
    return s_error(web, c, MHD_HTTP_NOT_FOUND, method, url, "no such page");
}

static enum MHD_Result s_get(web_t *web, struct MHD_Connection *c, const char *method,
                             const char *url)
{
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return s_asset(web, c, method, url, "index.html");
    if (strncmp(url, "/static/", 8) == 0)
        return s_asset(web, c, method, url, url + 8);
    const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    char user[WEB_AUTH_NAME_MAX] = "", csrf[WEB_AUTH_TOKEN_HEX] = "";
    bool in = sid && web_auth_session(web->auth, sid, user, csrf) == KNOOP_OK;
    if (strcmp(url, "/api/me") == 0) {
        json_t *o = json_pack("{s:s, s:b, s:b, s:b}", "partner", web->partner, "lezen",
                              in || web->public_read, "publiceren", in, "inloggen",
                              web_auth_users(web->auth) > 0);
        if (in) {
            json_object_set_new(o, "gebruiker", json_string(user));
            json_object_set_new(o, "csrf", json_string(csrf));
        }
        return s_json(c, MHD_HTTP_OK, o, NULL);
    }
    if (strcmp(url, "/events") == 0) {
        if (!in && !web->public_read)
            return s_error(web, c, MHD_HTTP_UNAUTHORIZED, method, url,
                           "log in om het beeld te zien");
        return s_events(web, c);
    }
    if (strcmp(url, "/alerts.atom") == 0) {
        if (!in && !web->public_read)
            return s_error(web, c, MHD_HTTP_UNAUTHORIZED, method, url,
                           "log in om het beeld te zien");
        return s_atom(web, c, method, url);
    }
    return s_error(web, c, MHD_HTTP_NOT_FOUND, method, url, "no such page");
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    web_t *web = cls;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    req_t *r = *con_cls;
    if (!r) {                               /* headers are in */
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        if (strlen(url) > WEB_URL_MAX)
            return s_error(web, c, MHD_HTTP_URI_TOO_LONG, method, "(long)", "URL too long");
        if (!get && !post)
            return s_error(web, c, MHD_HTTP_METHOD_NOT_ALLOWED, method, url,
                           "only GET and POST");
        if (post) {
            const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (len && strtoull(len, NULL, 10) > WEB_BODY_MAX)
                return s_error(web, c, MHD_HTTP_CONTENT_TOO_LARGE, method, url,
                               "request body too large");
            const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_TYPE);
            if (!ct || strncasecmp(ct, MHD_HTTP_POST_ENCODING_FORM_URLENCODED,
                                   strlen(MHD_HTTP_POST_ENCODING_FORM_URLENCODED)) != 0)
                return s_error(web, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, method, url,
                               "send a form (application/x-www-form-urlencoded)");
            r->pp = MHD_create_post_processor(c, 4096, s_field, r);
            if (!r->pp)
                return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url, "malformed form");
        }
        return MHD_YES;
    }
    if (post && *upload_data_size) {        /* a piece of the body */
        r->body += *upload_data_size;
        if (r->body > WEB_BODY_MAX)
            s_refuse(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        else if (!r->status && MHD_post_process(r->pp, upload_data, *upload_data_size) != MHD_YES)
            s_refuse(r, MHD_HTTP_BAD_REQUEST, "malformed form");
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (get) {
        if (r->body || *upload_data_size)
            return s_error(web, c, MHD_HTTP_BAD_REQUEST, method, url, "GET with a body");
        return s_get(web, c, method, url);
    }
    return s_post(web, c, method, url, r);
}

int web_http_start(web_t *web, const char *listen, web_http_t **out, char *err,
                   size_t err_size)
{
    *out = NULL;
    struct sockaddr_storage addr;
    socklen_t alen;
    if (knoop_hostport_parse(listen, &addr, &alen) != KNOOP_OK) {
        snprintf(err, err_size, "--listen '%s' is not a numeric HOST:PORT, e.g. 127.0.0.1:8080",
                 listen);
        return KNOOP_EINVAL;
    }
    web_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    self->d = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, web,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64,
                               MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) 32,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (32 * 1024),
                               MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
                               MHD_OPTION_END);
    if (!self->d) {
        snprintf(err, err_size, "cannot listen on %s (in use, or not an address of this "
                 "machine?)", listen);
        free(self);
        return KNOOP_EIO;
    }
    *out = self;
    return KNOOP_OK;
}

void web_http_stop(web_http_t **self_p)
{
    web_http_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon(self->d);
    free(self);
    *self_p = NULL;
}
