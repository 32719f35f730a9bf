/* daemon.c — start-up, signals and reload shared by knoop-broker and
 * knoop-node. See daemon.h. */
#include "daemon.h"
#include "crypto.h"
#include "link.h"
#include "trust_reload.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The one process-wide state: a signal handler can reach nothing else. */
static volatile int s_stop, s_hup, s_wake;   /* s_wake: the loop returns */

static void s_on_signal(int sig)
{
    if (sig == SIGHUP) {
        s_hup = 1;
        if (!s_wake)
            s_wake = KNOOP_RUN_AGAIN;
    } else {
        s_stop = 1;
        s_wake = 1;
    }
}

static void s_signals(void)
{
    /* czmq must not install its own SIGINT handler: ours lets the loop
     * commit its open batch before the process exits. */
    knoop_link_signals_off();
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* What both daemons apply from the configuration read again. */
static void s_reload_config(const knoop_daemon_t *cls, void *daemon, const knoop_config_t *cfg)
{
    long long mib = knoop_config_int(cfg, "map-max");
    if (mib < 0 || (unsigned long long) mib > SIZE_MAX >> 20 ||
        cls->set_map_max(daemon, (size_t) mib << 20) != KNOOP_OK)
        knoop_error("SIGHUP: map-max %lld MiB refused: below the journal's current map (a map "
                    "never shrinks); the limit is unchanged", mib);
    else
        knoop_info("SIGHUP: configuration read again; map limit %lld MiB%s; running on", mib,
                   mib ? "" : " (none)");
    cls->reload_types(daemon, knoop_config_str(cfg, "types"));
}

/* SIGHUP: the same command line, the config file as it is now. */
static void s_reload(const knoop_daemon_t *cls, void *daemon, int argc, char **argv)
{
    knoop_config_t *cfg = NULL;
    bool help = false;
    char err[256] = "";
    if (knoop_config_parse(cls->prog, cls->section, "", NULL, cls->spec, argc, argv, &cfg, &help,
                           err, sizeof err) != KNOOP_OK || !cfg) {
        knoop_error("SIGHUP: configuration not read again (%s); running on unchanged", err);
        knoop_config_destroy(&cfg);
        cls->reload(daemon, NULL);
        return;
    }
    s_reload_config(cls, daemon, cfg);
    cls->reload(daemon, cfg);
    knoop_config_destroy(&cfg);
}

int knoop_daemon_main(const knoop_daemon_t *cls, int argc, char **argv)
{
    if (knoop_crypto_init() != KNOOP_OK) {
        fprintf(stderr, "%s: cannot initialise libsodium\n", cls->prog);
        return 2;
    }
    knoop_config_t *cfg = NULL;
    int rc = knoop_config_daemon(cls->prog, cls->section, cls->summary, cls->description,
                                 cls->spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    s_signals();
    int status = 1;
    void *daemon = cls->start(cfg, &status);
    if (!daemon) {
        knoop_config_destroy(&cfg);
        return status;
    }
    for (;;) {
        cls->run(daemon, &s_wake);
        s_wake = 0;
        if (s_stop)
            break;
        if (s_hup) {
            s_hup = 0;
            s_reload(cls, daemon, argc, argv);
        }
    }
    cls->destroy(&daemon);
    knoop_config_destroy(&cfg);
    return 0;
}

int knoop_daemon_identity(const char *who, const char *id, const char *key_file,
                          const char *data, const char *trust_dir, knoop_key_t **key,
                          knoop_trust_t **trust, uint64_t *trust_stamp, char **learned,
                          const knoop_cert_t **mine)
{
    *key = NULL;
    *trust = NULL;
    *learned = NULL;
    if (mine)
        *mine = NULL;
    int rc = knoop_key_load(key_file, key);
    if (rc) {
        knoop_error("%s: cannot load key %s: %s", who, key_file, knoop_strerror(rc));
        return rc;
    }
    if (strcmp(knoop_key_id(*key), id) != 0) {
        knoop_error("%s: key %s belongs to '%s', not to '%s'", who, key_file, knoop_key_id(*key),
                    id);
        rc = KNOOP_EPERM;
        goto fail;
    }
    /* What the mesh taught this daemon (issued certificates, revocations)
     * is kept beside its journal, and rebuilt from it when missing. */
    size_t llen = strlen(data) + sizeof "/trust";
    *learned = malloc(llen);
    if (!*learned) {
        rc = KNOOP_ENOMEM;
        goto fail;
    }
    snprintf(*learned, llen, "%s/trust", data);
    rc = knoop_trust_refresh(NULL, trust_dir, *learned, trust_stamp, trust);
    if (rc < 0)
        goto fail;                               /* logged there */
    /* Any key of ours the store holds: after a rotation it holds both. */
    const knoop_cert_t *c = knoop_trust_by_sign(*trust, knoop_key_public(*key));
    if (!c || strcmp(c->id, id) != 0) {
        knoop_error("%s: the trust store %s has no certificate for '%s' matching its key", who,
                    trust_dir, id);
        rc = KNOOP_EPERM;
        goto fail;
    }
    if (mine)
        *mine = c;
    return KNOOP_OK;

fail:
    knoop_key_destroy(key);
    knoop_trust_destroy(trust);
    free(*learned);
    *learned = NULL;
    return rc;
}

uint64_t knoop_daemon_usecs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

int knoop_daemon_where_init(knoop_daemon_where_t *self, const char *data, const char *trust_dir)
{
    self->data_dir = realpath(data, NULL);
    if (!self->data_dir)
        self->data_dir = strdup(data);
    self->trust_dir = realpath(trust_dir, NULL);
    if (!self->trust_dir)
        self->trust_dir = strdup(trust_dir);
    if (self->data_dir && self->trust_dir)
        return KNOOP_OK;
    knoop_daemon_where_clear(self);
    return KNOOP_ENOMEM;
}

void knoop_daemon_where_clear(knoop_daemon_where_t *self)
{
    free(self->data_dir);
    free(self->trust_dir);
    self->data_dir = self->trust_dir = NULL;
}

void knoop_daemon_status_where(json_t *o, const knoop_daemon_where_t *where, uint64_t imported,
                               uint64_t imports_refused, uint64_t trust_reloads)
{
    json_object_set_new(o, "data_dir", json_string(where->data_dir ? where->data_dir : ""));
    json_object_set_new(o, "trust_dir", json_string(where->trust_dir ? where->trust_dir : ""));
    json_object_set_new(o, "bundles", json_pack("{s:I, s:I}", "imported", (json_int_t) imported,
                                                "refused", (json_int_t) imports_refused));
    json_object_set_new(o, "trust_reloads", json_integer((json_int_t) trust_reloads));
}
