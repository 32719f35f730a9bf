/* daemon.c — start-up, signals and reload shared by knoop-broker and
 * knoop-node. See daemon.h. */
#include "daemon.h"
#include "crypto.h"
#include "link.h"
#include "trust_reload.h"

#include <limits.h>
#include <malloc.h>
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

/* A daemon sends frames of up to a MiB, each copied into a buffer that
 * libzmq's I/O thread frees once it is on the wire. With glibc's dynamic
 * thresholds those frees kept trimming the top of the heap (brk, and a TLB
 * shootdown on every core) and the next frame faulted the pages back in: a
 * quarter of a catch-up broker's samples. Large blocks stay in the heap and
 * it is trimmed only past 64 MiB free at its top. */
static void s_malloc_tune(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int knoop_daemon_main(const knoop_daemon_t *cls, int argc, char **argv)
{
    s_malloc_tune();
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
    void *daemon = NULL;
    rc = cls->start(cfg, &daemon, &status);
    if (rc) {
        if (status != 2)
            knoop_error("%s did not start: %s", cls->prog, knoop_strerror(rc));
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

int knoop_daemon_identity(const knoop_daemon_setup_t *o, const knoop_daemon_parts_t *p,
                          const knoop_cert_t **mine)
{
    *p->key = NULL;
    *p->trust = NULL;
    *p->learned = NULL;
    if (mine)
        *mine = NULL;
    int rc = knoop_key_load(o->key_file, p->key);
    if (rc) {
        knoop_error("%s: cannot load key %s: %s", o->who, o->key_file, knoop_strerror(rc));
        return rc;
    }
    if (strcmp(knoop_key_id(*p->key), o->id) != 0) {
        knoop_error("%s: key %s belongs to '%s', not to '%s'", o->who, o->key_file,
                    knoop_key_id(*p->key), o->id);
        rc = KNOOP_EPERM;
        goto fail;
    }
    /* What the mesh taught this daemon (issued certificates, revocations)
     * is kept beside its journal, and rebuilt from it when missing. */
    size_t llen = strlen(o->data) + sizeof "/trust";
    *p->learned = malloc(llen);
    if (!*p->learned) {
        rc = KNOOP_ENOMEM;
        goto fail;
    }
    snprintf(*p->learned, llen, "%s/trust", o->data);
    rc = knoop_trust_refresh(NULL, o->trust_dir, *p->learned, p->trust_stamp, p->trust);
    if (rc < 0)
        goto fail;                               /* logged there */
    /* Any key of ours the store holds: after a rotation it holds both. */
    const knoop_cert_t *c = knoop_trust_by_sign(*p->trust, knoop_key_public(*p->key));
    if (!c || strcmp(c->id, o->id) != 0) {
        knoop_error("%s: the trust store %s has no certificate for '%s' matching its key", o->who,
                    o->trust_dir, o->id);
        rc = KNOOP_EPERM;
        goto fail;
    }
    if (mine)
        *mine = c;
    return KNOOP_OK;

fail:
    knoop_key_destroy(p->key);
    knoop_trust_destroy(p->trust);
    free(*p->learned);
    *p->learned = NULL;
    return rc;
}

uint64_t knoop_daemon_usecs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void knoop_daemon_timing(int *heartbeat_ms, int *timeout_ms)
{
    if (*heartbeat_ms <= 0)
        *heartbeat_ms = 1000;
    if (*timeout_ms <= 0)
        *timeout_ms = 5 * *heartbeat_ms;
}

int knoop_daemon_open(const knoop_daemon_setup_t *o, const knoop_daemon_parts_t *p)
{
    char err[512];
    int rc = o->types_file ? knoop_typemap_load(o->types_file, p->types, err, sizeof err)
                           : KNOOP_OK;
    if (rc) {
        knoop_error("%s: %s", o->who, err);
        return rc;
    }
    knoop_journal_opts_t jo = { .path = o->data, .partner = o->id, .trust = *p->trust,
                                .flags = o->journal_flags, .map_max = o->map_max };
    rc = knoop_journal_open(&jo, p->journal);
    if (rc) {
        knoop_error("%s: cannot open journal %s: %s", o->who, o->data, knoop_strerror(rc));
        return rc;
    }
    return knoop_daemon_where_init(p->where, o->data, o->trust_dir);
}

void knoop_daemon_close(const knoop_daemon_parts_t *p)
{
    knoop_metrics_destroy(p->metrics);
    knoop_journal_destroy(p->journal);
    knoop_typemap_destroy(p->types);
    knoop_trust_destroy(p->trust);
    knoop_trust_watch_close(p->trust_stamp);
    knoop_u64map_clear(p->trust_applied);
    free(*p->learned);
    *p->learned = NULL;
    knoop_daemon_where_clear(p->where);
    knoop_key_destroy(p->key);
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

json_t *knoop_daemon_status_journal(knoop_journal_t *journal, knoop_journal_stats_t *st)
{
    knoop_journal_stats(journal, st);
    json_t *jo = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
        "stored", (json_int_t) st->stored, "duplicates", (json_int_t) st->duplicates,
        "forks", (json_int_t) st->forks, "sig_errors", (json_int_t) st->sig_errors,
        "map_size", (json_int_t) st->map_size, "full_errors", (json_int_t) st->full_errors,
        "map_max", (json_int_t) st->map_max, "full",
        st->full == KNOOP_JOURNAL_FULL_MAP ? "map"
        : st->full == KNOOP_JOURNAL_FULL_DISK ? "disk" : "");
    /* the crypto the daemon spends: head signatures verified (a node's own
     * are not), and those not verified again because a signed copy was held
     * (duplicates) */
    json_object_set_new(jo, "sig_verified", json_integer((json_int_t) st->sig_verified));
    json_object_set_new(jo, "sig_skipped", json_integer((json_int_t) st->sig_skipped));
    /* the work per message, so that the parse-once claims can be checked:
     * of the messages a head signature newly covered, those the append read
     * back and parsed, and those it took from what their commit kept (both
     * 0 when every head arrives in the batch with what it covers) */
    json_object_set_new(jo, "reparsed", json_integer((json_int_t) st->reparsed));
    json_object_set_new(jo, "pending_taken", json_integer((json_int_t) st->pending_taken));
    /* 4: made before schema 5, its checks are BLAKE2b (docs/design-notes.md) */
    json_object_set_new(jo, "schema", json_integer((json_int_t) st->schema));
    return jo;
}

void knoop_daemon_status_alarm(json_t *o, knoop_journal_t *journal,
                               const knoop_journal_stats_t *st)
{
    /* raised by a write refused for want of room, gone with the next write
     * that commits */
    if (st->full)
        json_object_set_new(o, "storage_alarm", json_sprintf("%s: %s",
            st->full == KNOOP_JOURNAL_FULL_MAP ? "JOURNAL FULL" : "DISK FULL",
            knoop_journal_error(journal, NULL)));
}
