/* web_main.c — knoop-web: options, the loop that reads the node into the
 * store, signals. */
#include "client.h"
#include "config.h"
#include "crypto.h"
#include "link.h"
#include "msg_json.h"
#include "topic.h"
#include "web.h"
#include "json.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef KNOOP_WEB_ASSETS
#define KNOOP_WEB_ASSETS "/usr/share/knooppunt/web"
#endif

#define STATUS_EVERY_MS 500
#define NODE_TIMEOUT_MS 1000

static volatile int s_stop;

static void s_on_signal(int sig)
{
    s_stop = 1;
}

static const knoop_opt_spec_t s_spec[] = {
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT", "the node's local API (default "
      "ipc://$KNOOP_DATA/api.sock)", false },
    { "listen", KNOOP_OPT_STRING, "127.0.0.1:8080", "HOST:PORT", "where the page is served "
      "(numeric address; put TLS in front for anything beyond this machine)", false },
    { "assets", KNOOP_OPT_STRING, NULL, "DIR", "the page's files (index.html, "
      "app.js, app.css); default ../share/knooppunt/web beside the program, "
      "else " KNOOP_WEB_ASSETS, false },
    { "users", KNOOP_OPT_STRING, NULL, "FILE", "users who may log in and publish: NAME:HASH "
      "lines (see --add-user)", false },
    { "public-read", KNOOP_OPT_BOOL, "false", NULL, "show the picture without login "
      "(publishing always needs one)", false },
    { "history", KNOOP_OPT_INT, "5000", "N", "messages kept for the timeline and charts "
      "(the latest per state key is always kept)", false },
    { "add-user", KNOOP_OPT_STRING, NULL, "NAME", "add NAME to the --users file with the "
      "password read from standard input, then exit", false },
    { "log-level", KNOOP_OPT_STRING, "info", "LEVEL", "error, warn, info or debug", false },
    { NULL },
};

/* The page's directory when --assets is not given: beside the program
 * (BIN/../share/knooppunt/web, where the package puts it whatever the
 * prefix), else where this build installs it. */
static const char *s_default_assets(char *buf, size_t size)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, size, "%s/../share/knooppunt/web/index.html", exe);
            if (access(buf, R_OK) == 0) {
                buf[strlen(buf) - strlen("/index.html")] = '\0';
                return buf;
            }
        }
    }
    return KNOOP_WEB_ASSETS;
}

/* "ACTUAL\ntopic\nkey" for a message with a state key, in buf. */
static const char *s_state_key(const knoop_msg_t *m, char *buf, size_t size)
{
    if (!*m->b.key)
        return NULL;
    snprintf(buf, size, "%u\n%s\n%s", (unsigned) m->b.status, m->b.topic, m->b.key);
    return buf;
}

/* One delivered envelope into the store. */
static void s_take(web_t *web, const uint8_t *env, size_t len)
{
    knoop_msg_t m;
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK) {
        knoop_warn("web: the node delivered an envelope that does not parse; skipped");
        return;
    }
    json_t *j = knoop_msg_to_json(&m);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char state[KNOOP_TOPIC_MAX + KNOOP_KEY_MAX + 16];
    if (!text || web_store_add(web->store, text, s_state_key(&m, state, sizeof state), m.b.hlc,
                               m.b.origin) != KNOOP_OK)
        knoop_error("web: out of memory keeping a message of %s; the page misses it",
                    m.b.topic);
    free(text);
    knoop_msg_clear(&m);
}

typedef struct {
    knoop_client_t *sub, *st;
    uint64_t last_pos, acked;
    uint64_t lost_since;        /* when the link was first seen not up, or 0 */
    bool     was_up, node_ok;
    int64_t  next_status;
} feed_t;

static int s_subscribe(web_t *web, feed_t *f)
{
    knoop_client_destroy(&f->sub);
    char err[256];
    int rc = knoop_client_new(web->api, &f->sub);
    if (!rc)
        rc = knoop_client_subscribe(f->sub, ">", NULL, true, 0, KNOOP_API_STATUS_ALL,
                                    NODE_TIMEOUT_MS, err, sizeof err);
    if (rc) {
        knoop_warn("web: cannot subscribe at the node %s: %s; trying again", web->api,
                   f->sub && *knoop_client_error(f->sub) ? knoop_client_error(f->sub)
                                                         : knoop_strerror(rc));
        knoop_client_destroy(&f->sub);
    }
    return rc;
}

/* The node's status into the store, with the link's state as the page needs
 * it: when the link was lost (seen from here), and whether the node answers. */
static void s_status(web_t *web, feed_t *f)
{
    char *text = NULL;
    json_t *o = NULL;
    int rc = f->st ? knoop_client_status(f->st, &text, NODE_TIMEOUT_MS) : KNOOP_EIO;
    if (!rc)
        o = json_loads(text, 0, NULL);
    free(text);
    uint64_t now = knoop_now_ms();
    if (!o) {
        if (f->node_ok)
            knoop_warn("web: the node at %s does not answer", web->api);
        f->node_ok = false;
        if (!f->lost_since)
            f->lost_since = now;
        /* a fresh client: the old one may hold a stale request */
        knoop_client_destroy(&f->st);
        knoop_client_new(web->api, &f->st);
        o = json_pack("{s:s, s:{s:s}}", "partner", web->partner, "link", "state", "node-down");
    } else {
        if (!f->node_ok)
            knoop_info("web: node %s answers", web->api);
        f->node_ok = true;
        json_object_del(o, "streams");      /* long, and not shown */
        const char *state = json_string_value(json_object_get(json_object_get(o, "link"),
                                                              "state"));
        bool up = state && strcmp(state, "up") == 0;
        if (up)
            f->lost_since = 0;
        else if (!f->lost_since)
            f->lost_since = now;
        if (up != f->was_up)
            knoop_info("web: the node's link is %s", state ? state : "?");
        f->was_up = up;
    }
    json_object_set_new(o, "node_ok", json_boolean(f->node_ok));
    if (f->lost_since)
        json_object_set_new(o, "lost_since_ms", json_integer((json_int_t) f->lost_since));
    char *line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (line)
        web_store_set_status(web->store, line);
    free(line);
}

static void s_run(web_t *web)
{
    feed_t f = { 0 };
    knoop_client_new(web->api, &f.st);
    int64_t next_sub = 0;
    while (!s_stop) {
        int64_t now = zclock_mono();
        if (now >= f.next_status) {
            s_status(web, &f);
            f.next_status = now + STATUS_EVERY_MS;
        }
        if (!f.sub) {
            if (now < next_sub || s_subscribe(web, &f) != KNOOP_OK) {
                if (now >= next_sub)
                    next_sub = now + 1000;
                zclock_sleep(100);
                continue;
            }
        }
        uint64_t pos;
        const uint8_t *env;
        size_t len;
        int rc = knoop_client_next(f.sub, &pos, &env, &len, 100);
        if (rc == KNOOP_OK) {
            if (pos > f.last_pos) {     /* after a resubscription: seen already */
                s_take(web, env, len);
                f.last_pos = pos;
            }
            if (pos - f.acked >= 64) {
                knoop_client_ack(f.sub, pos);
                f.acked = pos;
            }
        } else if (rc == KNOOP_ETIMEDOUT) {
            if (f.last_pos > f.acked) {
                knoop_client_ack(f.sub, f.last_pos);
                f.acked = f.last_pos;
            }
        } else {
            knoop_warn("web: the subscription at the node ended: %s; subscribing again",
                       *knoop_client_error(f.sub) ? knoop_client_error(f.sub)
                                                  : knoop_strerror(rc));
            knoop_client_destroy(&f.sub);
            f.acked = 0;
            next_sub = now + 1000;
        }
    }
    knoop_client_destroy(&f.sub);
    knoop_client_destroy(&f.st);
}

/* The partner id, from the node's status; waits for the node. */
static int s_partner(web_t *web)
{
    knoop_client_t *c = NULL;
    if (knoop_client_new(web->api, &c) != KNOOP_OK) {
        fprintf(stderr, "knoop-web: --api '%s' is not a ZeroMQ endpoint\n", web->api);
        return KNOOP_EINVAL;
    }
    bool said = false;
    while (!s_stop) {
        char *text = NULL;
        if (knoop_client_status(c, &text, 2000) == KNOOP_OK) {
            json_t *o = json_loads(text, 0, NULL);
            free(text);
            const char *p = json_string_value(json_object_get(o, "partner"));
            if (p && strlen(p) <= KNOOP_ID_MAX && knoop_id_valid(p)) {
                snprintf(web->partner, sizeof web->partner, "%s", p);
                json_decref(o);
                knoop_client_destroy(&c);
                return KNOOP_OK;
            }
            json_decref(o);
        }
        if (!said)
            knoop_warn("web: waiting for the node at %s to answer (%s)", web->api,
                       *knoop_client_error(c) ? knoop_client_error(c) : "no partner id");
        said = true;
        knoop_client_destroy(&c);
        knoop_client_new(web->api, &c);
    }
    knoop_client_destroy(&c);
    return KNOOP_EIO;
}

static int s_add_user(const knoop_config_t *cfg)
{
    const char *file = knoop_config_str(cfg, "users");
    if (!file) {
        fprintf(stderr, "knoop-web: --add-user needs --users FILE\n");
        return 2;
    }
    char pw[512];
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "knoop-web: --add-user reads the password from standard input; "
                "none was given\n");
        return 2;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    char err[256];
    int rc = web_auth_add_user(file, knoop_config_str(cfg, "add-user"), pw, err, sizeof err);
    knoop_wipe(pw, sizeof pw);
    if (rc) {
        fprintf(stderr, "knoop-web: %s\n", err);
        return 2;
    }
    printf("knoop-web: user %s added to %s\n", knoop_config_str(cfg, "add-user"), file);
    return 0;
}

int main(int argc, char **argv)
{
    if (knoop_crypto_init() != KNOOP_OK) {
        fprintf(stderr, "knoop-web: cannot initialise libsodium\n");
        return 2;
    }
    knoop_config_t *cfg = NULL;
    int rc = knoop_config_daemon("knoop-web", "web",
        "the operational picture of a partner's node in a browser",
        "Serves one page (Dutch) with the picture the node holds: the 25\n"
        "veiligheidsregio's by GRIP level, KCR2's duiding, water levels, vital\n"
        "outages, requests for assistance, alerts, a timeline and the health of the\n"
        "link, pushed to the browser as Server-Sent Events. Talks to the node only\n"
        "through its local API. Logged-in users (--users) publish the partner's GRIP\n"
        "level and SitReps. Everything the page needs is served from --assets: it\n"
        "works without internet. /alerts.atom is the picture's alerts (alert.>) as\n"
        "an Atom feed, each entry holding its CAP 1.2 document.\n"
        "SIGTERM or SIGINT: ends the event streams and exits 0.",
        s_spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    if (knoop_config_str(cfg, "add-user")) {
        rc = s_add_user(cfg);
        knoop_config_destroy(&cfg);
        return rc;
    }
    long long history = knoop_config_int(cfg, "history");
    if (history < 16 || history > 1000000) {
        fprintf(stderr, "knoop-web: --history %lld: give 16 to 1000000 messages\n", history);
        knoop_config_destroy(&cfg);
        return 2;
    }
    char api[512];
    const char *api_opt = knoop_config_str(cfg, "api");
    if (!api_opt && knoop_client_default_endpoint(api, sizeof api) != KNOOP_OK) {
        fprintf(stderr, "knoop-web: give --api ENDPOINT (or set KNOOP_DATA to the node's data "
                "directory)\n");
        knoop_config_destroy(&cfg);
        return 2;
    }
    web_t web = { .api = api_opt ? api_opt : api, .public_read = knoop_config_bool(cfg,
                                                                                  "public-read") };
    char assets_buf[4200];
    const char *assets = knoop_config_str(cfg, "assets");
    if (!assets)
        assets = s_default_assets(assets_buf, sizeof assets_buf);
    web.assets_fd = open(assets, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (web.assets_fd < 0 || faccessat(web.assets_fd, "index.html", R_OK, 0) != 0) {
        fprintf(stderr, "knoop-web: --assets %s: no index.html there (%s); point it at the "
                "installed web files\n", assets, strerror(errno));
        if (web.assets_fd >= 0)
            close(web.assets_fd);
        knoop_config_destroy(&cfg);
        return 2;
    }
    char err[512];
    rc = web_auth_new(knoop_config_str(cfg, "users"), &web.auth, err, sizeof err);
    if (rc) {
        fprintf(stderr, "knoop-web: %s\n", rc == KNOOP_ENOMEM ? "out of memory" : err);
        close(web.assets_fd);
        knoop_config_destroy(&cfg);
        return 2;
    }
    web.store = web_store_new((size_t) history);
    knoop_link_signals_off();
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    web_http_t *http = NULL;
    int status = 0;
    if (!web.store) {
        fprintf(stderr, "knoop-web: out of memory\n");
        status = 1;
    } else if (s_partner(&web) == KNOOP_OK) {
        rc = web_http_start(&web, knoop_config_str(cfg, "listen"), &http, err, sizeof err);
        if (rc) {
            fprintf(stderr, "knoop-web: %s\n", err);
            status = 2;
        } else {
            knoop_info("web: serving the picture of %s on http://%s/ (%zu users, %s)",
                       web.partner, knoop_config_str(cfg, "listen"), web_auth_users(web.auth),
                       web.public_read ? "read without login" : "login to read");
            s_run(&web);
        }
    }
    if (web.store)
        web_store_close(web.store);
    web_http_stop(&http);
    knoop_info("web: stopped (%lu published from the page, %lu requests refused)",
               (unsigned long) atomic_load(&web.published),
               (unsigned long) atomic_load(&web.refused));
    web_store_destroy(&web.store);
    web_auth_destroy(&web.auth);
    close(web.assets_fd);
    knoop_config_destroy(&cfg);
    return status;
}
