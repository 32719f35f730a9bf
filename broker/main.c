/* main.c — knoop-broker: its options and how they start it. Start-up,
 * signals and the SIGHUP reload are lib/daemon.c's, shared with knoop-node. */
#include "broker.h"
#include "config.h"
#include "daemon.h"
#include "journal.h"

#include <stdio.h>

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
    { "settled-margin-ms", KNOOP_OPT_INT, "60000", "MS", "a HELLO to a peer names every stream "
      "that changed within this long before the last complete catch-up from it and summarises "
      "the others (docs/protocol.md, \"The settled summary\")", false },
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
    { "max-handshakes-per-address", KNOOP_OPT_INT, "128", "N", "connections in handshake at once "
      "from one address (IPv6: one /64); more are refused at once and logged. Partners behind "
      "one NAT address that connect together (after a broker restart) need this many", false },
    { "log-level", KNOOP_OPT_STRING, "info", "LEVEL", "error, warn, info or debug", false },
    { "map-max", KNOOP_OPT_INT, "0", "MIB", "the journal's LMDB map grows up to this many MiB "
      "(0: 1 TiB, in practice the disk). At the limit, publishing is refused as 'journal full' "
      "while reads and delivery go on; raise it and send SIGHUP to write again without a "
      "restart", false },
    { "fair-share", KNOOP_OPT_INT, "64", "N", "messages one partner may have checked and "
      "committed in one loop pass while others publish too; the rest waits for the next "
      "passes, so that a partner flooding does not delay the others (0: no bound)", false },
    { "deliver-before-commit", KNOOP_OPT_BOOL, "true", NULL, "send a publish batch to the "
      "live nodes subscribed to it while its commit is still syncing (publishers are "
      "acknowledged only after the commit either way); =false sends after the commit",
      false },
    { "relaxed-durability", KNOOP_OPT_BOOL, "false", NULL,
      "do not fsync journal commits (benchmarks only: a power loss can lose acknowledged messages)", false },
    { NULL },
};

static int s_start(const knoop_config_t *cfg, void **daemon, int *exit_status)
{
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
        .settled_margin_ms = (int) knoop_config_int(cfg, "settled-margin-ms"),
        .api = knoop_config_str(cfg, "api"),
        .map_max = (size_t) knoop_config_int(cfg, "map-max") << 20,
        .fair_share = (size_t) knoop_config_int(cfg, "fair-share"),
        .deliver_early = knoop_config_bool(cfg, "deliver-before-commit"),
    };
    if (o.handshake_ms < 100 || knoop_config_int(cfg, "max-handshakes") < 1 ||
        knoop_config_int(cfg, "max-handshakes-per-address") < 1 ||
        knoop_config_int(cfg, "map-max") < 0 || knoop_config_int(cfg, "fair-share") < 0) {
        fprintf(stderr, "knoop-broker: --handshake-ms must be at least 100, --max-handshakes and "
                "--max-handshakes-per-address at least 1, --map-max and --fair-share at least "
                "0\n");
        *exit_status = 2;
        return KNOOP_EINVAL;
    }
    o.npeers = knoop_config_list(cfg, "peer", &o.peers);
    *exit_status = 1;
    knoop_broker_t *self;
    int rc = knoop_broker_new(&o, &self);
    *daemon = self;
    return rc;
}

KNOOP_DAEMON_HOOKS(broker)

/* SIGHUP, beyond map-max and --types: the policy and the trust store,
 * through the check the loop makes every 200 ms. */
static void s_reload(void *b, const knoop_config_t *cfg)
{
    (void) cfg;
    knoop_broker_reload_files(b);
}

int main(int argc, char **argv)
{
    static const knoop_daemon_t broker = {
        .prog = "knoop-broker",
        .section = "broker",
        .summary = "the KCR2 broker of knooppunt",
        .description =
        "Accepts CurveZMQ connections from partner nodes whose keys are in the trust\n"
        "store, checks every message (the sender is its origin, the policy allows the\n"
        "topic, the chain links, the head signature verifies), stores it durably in its\n"
        "LMDB journal, acknowledges it, and delivers it to every connected node that\n"
        "subscribed and may read it. A node that reconnects gets everything it missed,\n"
        "FLASH first. SIGTERM or SIGINT: the open batch is committed, then it exits 0.\n"
        "SIGHUP: the configuration is read again; map-max, --types, the policy and the\n"
        "trust store take effect without a restart.",
        .spec = s_spec,
        .start = s_start,
        KNOOP_DAEMON_HOOK_FIELDS,
        .reload = s_reload,
    };
    return knoop_daemon_main(&broker, argc, argv);
}
