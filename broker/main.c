/* main.c — knoop-broker: options, signals, run. */
#include "broker.h"
#include "config.h"
#include "crypto.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

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

static const knoop_opt_spec_t s_spec[] = {
    { "id", KNOOP_OPT_STRING, NULL, "ID", "this broker's partner id (role broker in the trust store)", true },
    { "listen", KNOOP_OPT_STRING, NULL, "ENDPOINT", "where nodes connect, e.g. tcp://0.0.0.0:7400", true },
    { "data", KNOOP_OPT_STRING, NULL, "DIR", "journal directory (created if missing)", true },
    { "key", KNOOP_OPT_STRING, NULL, "FILE", "this broker's identity key (ID.key, mode 0600)", true },
    { "trust", KNOOP_OPT_STRING, NULL, "DIR", "trust store: directory of partner certificates; "
      "reloaded when it changes (remove a cert to revoke)", true },
    { "policy", KNOOP_OPT_STRING, NULL, "FILE", "access policy (WHO publish|subscribe|speak-for PATTERN)", true },
    { "types", KNOOP_OPT_STRING, NULL, "FILE", "registry of topic families and their payload "
      "type, PATTERN TYPE per line (default: the built-in one, see docs/protocol.md)", false },
    { "peer", KNOOP_OPT_LIST, NULL, "ID@ENDPOINT", "another broker of the mesh, e.g. "
      "kcr2-broker-2@tcp://10.0.2.1:7400 (repeatable)", false },
    { "anti-entropy-ms", KNOOP_OPT_INT, "3000", "MS", "how often digests are compared with each peer", false },
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT", "local status endpoint (default ipc://DATA/api.sock)", false },
    { "heartbeat-ms", KNOOP_OPT_INT, "1000", "MS", "heartbeat interval towards idle nodes and peers", false },
    { "timeout-ms", KNOOP_OPT_INT, "5000", "MS", "a node silent this long is disconnected", false },
    { "metrics", KNOOP_OPT_STRING, NULL, "HOST:PORT", "serve Prometheus metrics at "
      "http://HOST:PORT/metrics, e.g. 127.0.0.1:9400", false },
    { "handshake-ms", KNOOP_OPT_INT, "5000", "MS", "a connection that has not completed its "
      "CURVE handshake by then is closed", false },
    { "max-handshakes", KNOOP_OPT_INT, "512", "N", "connections in handshake at once; beyond it "
      "the newest from the address holding the most is refused (at most a quarter of the "
      "descriptor limit)", false },
    { "max-handshakes-per-address", KNOOP_OPT_INT, "32", "N", "connections in handshake at once "
      "from one address (IPv6: one /64); more are refused at once", false },
    { "log-level", KNOOP_OPT_STRING, "info", "LEVEL", "error, warn, info or debug", false },
    { "map-max", KNOOP_OPT_INT, "0", "MIB", "the journal's LMDB map grows up to this many MiB "
      "(0: 1 TiB, in practice the disk). At the limit, publishing is refused as 'journal full' "
      "while reads and delivery go on; raise it and send SIGHUP to write again without a "
      "restart", false },
    { "fair-share", KNOOP_OPT_INT, "64", "N", "messages one partner may have checked and "
      "committed in one loop pass while others publish too; the rest waits for the next "
      "passes, so that a partner flooding does not delay the others (0: no bound)", false },
    { "relaxed-durability", KNOOP_OPT_BOOL, "false", NULL,
      "do not fsync journal commits (benchmarks only: a power loss can lose acknowledged messages)", false },
    { NULL },
};

/* SIGHUP: the command line and the config file read again; what can change
 * while running is applied (the journal's map limit, the type registry
 * --types), the rest is kept. */
static void s_reload(knoop_broker_t *d, int argc, char **argv)
{
    knoop_config_t *cfg = NULL;
    bool help = false;
    char err[256] = "";
    if (knoop_config_parse("knoop-broker", "broker", "", NULL, s_spec, argc, argv, &cfg, &help, err,
                           sizeof err) != KNOOP_OK || !cfg) {
        knoop_error("SIGHUP: configuration not read again (%s); running on unchanged", err);
        return;
    }
    long long mib = knoop_config_int(cfg, "map-max");
    if (mib < 0 || knoop_broker_set_map_max(d, (size_t) mib << 20) != KNOOP_OK)
        knoop_error("SIGHUP: map-max %lld MiB refused: below the journal's current map (a map "
                    "never shrinks); the limit is unchanged", mib);
    else
        knoop_info("SIGHUP: configuration read again; map limit %lld MiB%s; running on", mib,
                   mib ? "" : " (none)");
    knoop_broker_reload_types(d, knoop_config_str(cfg, "types"));
    knoop_config_destroy(&cfg);
}

int main(int argc, char **argv)
{
    if (knoop_crypto_init() != KNOOP_OK) {
        fprintf(stderr, "knoop-broker: cannot initialise libsodium\n");
        return 2;
    }
    knoop_config_t *cfg = NULL;
    int rc = knoop_config_daemon("knoop-broker", "broker",
        "the KCR2 broker of knooppunt",
        "Accepts CurveZMQ connections from partner nodes whose keys are in the trust\n"
        "store, checks every message (the sender is its origin, the policy allows the\n"
        "topic, the chain links, the head signature verifies), stores it durably in its\n"
        "LMDB journal, acknowledges it, and delivers it to every connected node that\n"
        "subscribed and may read it. A node that reconnects gets everything it missed,\n"
        "FLASH first. SIGTERM or SIGINT: the open batch is committed, then it exits 0.",
        s_spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;

    knoop_broker_opts_t o = {
        .id = knoop_config_str(cfg, "id"),
        .listen = knoop_config_str(cfg, "listen"),
        .data = knoop_config_str(cfg, "data"),
        .key_file = knoop_config_str(cfg, "key"),
        .trust_dir = knoop_config_str(cfg, "trust"),
        .policy_file = knoop_config_str(cfg, "policy"),
        .types_file = knoop_config_str(cfg, "types"),
        .heartbeat_ms = (int) knoop_config_int(cfg, "heartbeat-ms"),
        .timeout_ms = (int) knoop_config_int(cfg, "timeout-ms"),
        .metrics = knoop_config_str(cfg, "metrics"),
        .handshake_ms = (int) knoop_config_int(cfg, "handshake-ms"),
        .max_handshakes = (size_t) knoop_config_int(cfg, "max-handshakes"),
        .max_handshakes_per_address = (size_t) knoop_config_int(cfg, "max-handshakes-per-address"),
        .journal_flags = knoop_config_bool(cfg, "relaxed-durability") ? KNOOP_JOURNAL_RELAXED : 0,
        .anti_entropy_ms = (int) knoop_config_int(cfg, "anti-entropy-ms"),
        .api = knoop_config_str(cfg, "api"),
        .map_max = (size_t) knoop_config_int(cfg, "map-max") << 20,
        .fair_share = (size_t) knoop_config_int(cfg, "fair-share"),
    };
    if (o.handshake_ms < 100 || knoop_config_int(cfg, "max-handshakes") < 1 ||
        knoop_config_int(cfg, "max-handshakes-per-address") < 1 ||
        knoop_config_int(cfg, "map-max") < 0 || knoop_config_int(cfg, "fair-share") < 0) {
        fprintf(stderr, "knoop-broker: --handshake-ms must be at least 100, --max-handshakes and "
                "--max-handshakes-per-address at least 1, --map-max and --fair-share at least "
                "0\n");
        knoop_config_destroy(&cfg);
        return 2;
    }
    o.npeers = knoop_config_list(cfg, "peer", &o.peers);
    /* czmq must not install its own SIGINT handler: ours finishes the batch. */
    zsys_handler_set(NULL);
    struct sigaction sa = { .sa_handler = s_on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    knoop_broker_t *b = knoop_broker_new(&o);
    if (!b) {
        knoop_config_destroy(&cfg);
        return 1;
    }
    for (;;) {
        knoop_broker_run(b, &s_wake);
        s_wake = 0;
        if (s_stop)
            break;
        if (s_hup) {
            s_hup = 0;
            s_reload(b, argc, argv);
        }
    }
    knoop_broker_destroy(&b);
    knoop_config_destroy(&cfg);
    return 0;
}
