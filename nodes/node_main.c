/* node_main.c — knoop-node: its options and how they start it. Start-up,
 * signals and the SIGHUP reload are lib/daemon.c's, shared with knoop-broker. */
#include "config.h"
#include "daemon.h"
#include "journal.h"
#include "node.h"
#include "topic.h"

#include <stdio.h>
#include <string.h>

static const knoop_opt_spec_t s_spec[] = {
    { "id", KNOOP_OPT_STRING, NULL, "ID", "this partner's id, e.g. vr-utrecht", true },
    { "data", KNOOP_OPT_STRING, NULL, "DIR", "journal directory (created 0700 if missing)", true },
    { "key", KNOOP_OPT_STRING, NULL, "FILE", "this partner's identity key (ID.key, mode 0600)", true },
    { "trust", KNOOP_OPT_STRING, NULL, "DIR", "trust store: directory of partner certificates", true },
    { "broker", KNOOP_OPT_LIST, NULL, "ID@ENDPOINT", "a broker, e.g. kcr2-broker-1@tcp://10.0.0.1:7400 "
      "(repeatable; tried in order; a bare ENDPOINT when the trust store holds one broker)", false },
    { "subscribe", KNOOP_OPT_LIST, NULL, "PATTERN", "topics to receive, e.g. 'duiding.>' (repeatable)", false },
    { "speak-for", KNOOP_OPT_LIST, NULL, "ID", "a partner this one may name as the sender in a "
      "payload (GripLevel region, VitalOutage provider, ...), e.g. for an LCMS gateway; the "
      "broker's policy must allow it too (speak-for rules) (repeatable; * for any)", false },
    { "types", KNOOP_OPT_STRING, NULL, "FILE", "registry of topic families and their payload "
      "type, PATTERN TYPE per line, as the broker's (default: the built-in one)", false },
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT", "local API endpoint (default ipc://DATA/api.sock)", false },
    { "heartbeat-ms", KNOOP_OPT_INT, "1000", "MS", "heartbeat interval on the broker link", false },
    { "timeout-ms", KNOOP_OPT_INT, "5000", "MS", "link declared lost after this long without a frame", false },
    { "failback-ms", KNOOP_OPT_INT, "10000", "MS", "when not on the first broker of the list, "
      "ask one ranked higher this often whether it is back, and return to it", false },
    { "pair", KNOOP_OPT_STRING, NULL, "primary|standby", "this node is one of a primary/standby "
      "pair of the partner (same key, e.g. the standby at the backup location): 'primary' "
      "starts active at its first start, 'standby' holds everything live and takes over when "
      "no active instance is left at the broker; `knoop node promote|demote` switch by hand",
      false },
    { "takeover-ms", KNOOP_OPT_INT, "2000", "MS", "with --pair: a standby takes over after the "
      "broker has shown no active instance for this long", false },
    { "settled-margin-ms", KNOOP_OPT_INT, "60000", "MS", "the HELLO names every stream that "
      "changed within this long before the node's last complete catch-up and summarises the "
      "others (docs/protocol.md, \"The settled summary\"); a shorter margin sends fewer rows, "
      "and a clock skew above it costs resends, never a message", false },
    { "metrics", KNOOP_OPT_STRING, NULL, "HOST:PORT", "serve Prometheus metrics at "
      "http://HOST:PORT/metrics, e.g. 127.0.0.1:9401", false },
    { "log-level", KNOOP_OPT_STRING, "info", "LEVEL", "error, warn, info or debug", false },
    { "map-max", KNOOP_OPT_INT, "0", "MIB", "the journal's LMDB map grows up to this many MiB "
      "(0: 1 TiB, in practice the disk). At the limit, publishing is refused as 'journal full' "
      "while reads and delivery go on; raise it and send SIGHUP to write again without a "
      "restart", false },
    { "send-before-commit", KNOOP_OPT_BOOL, "true", NULL, "send new messages to the broker "
      "while the node's own commit of them is still syncing (applications are answered only "
      "after the commit either way; a commit that fails then starts new streams and takes "
      "back from the mesh what had gone out); =false sends after the commit", false },
    { NULL },
};

static int s_start(const knoop_config_t *cfg, void **daemon, int *exit_status)
{
    const char *const *subs = NULL, *const *brokers = NULL, *const *speak = NULL;
    size_t nsubs = knoop_config_list(cfg, "subscribe", &subs);
    size_t nspeak = knoop_config_list(cfg, "speak-for", &speak);
    for (size_t i = 0; i < nspeak; i++)
        if (strcmp(speak[i], "*") != 0 && !knoop_id_valid(speak[i])) {
            fprintf(stderr, "knoop-node: --speak-for '%s': not a partner id (or *)\n", speak[i]);
            *exit_status = 2;
            return KNOOP_EINVAL;
        }
    size_t nbrokers = knoop_config_list(cfg, "broker", &brokers);
    const char *pair = knoop_config_str(cfg, "pair");
    if (pair && strcmp(pair, "primary") != 0 && strcmp(pair, "standby") != 0) {
        fprintf(stderr, "knoop-node: --pair '%s': must be primary or standby\n", pair);
        *exit_status = 2;
        return KNOOP_EINVAL;
    }
    if (knoop_config_int(cfg, "takeover-ms") < 0 || knoop_config_int(cfg, "takeover-ms") > 3600000) {
        fprintf(stderr, "knoop-node: --takeover-ms: must be 0..3600000\n");
        *exit_status = 2;
        return KNOOP_EINVAL;
    }
    for (size_t i = 0; i < nsubs; i++)
        if (knoop_pattern_validate(subs[i]) != KNOOP_OK) {
            fprintf(stderr, "knoop-node: --subscribe '%s': not a topic pattern (tokens of "
                    "[a-z0-9_-], '*' for one token, '>' for the rest)\n", subs[i]);
            *exit_status = 2;
            return KNOOP_EINVAL;
        }
    knoop_node_opts_t o = {
        .id = knoop_config_str(cfg, "id"),
        .data = knoop_config_str(cfg, "data"),
        .key_file = knoop_config_str(cfg, "key"),
        .trust_dir = knoop_config_str(cfg, "trust"),
        .brokers = brokers, .nbrokers = nbrokers,
        .subs = subs, .nsubs = nsubs,
        .speak_for = speak, .nspeak_for = nspeak,
        .types_file = knoop_config_str(cfg, "types"),
        .api = knoop_config_str(cfg, "api"),
        .heartbeat_ms = (int) knoop_config_int(cfg, "heartbeat-ms"),
        .timeout_ms = (int) knoop_config_int(cfg, "timeout-ms"),
        .failback_ms = (int) knoop_config_int(cfg, "failback-ms"),
        .metrics = knoop_config_str(cfg, "metrics"),
        .pair = pair,
        .takeover_ms = (int) knoop_config_int(cfg, "takeover-ms"),
        .settled_margin_ms = (int) knoop_config_int(cfg, "settled-margin-ms"),
        .map_max = (size_t) knoop_config_int(cfg, "map-max") << 20,
        .send_late = !knoop_config_bool(cfg, "send-before-commit"),
    };
    if (knoop_config_int(cfg, "settled-margin-ms") < 0) {
        fprintf(stderr, "knoop-node: --settled-margin-ms must be at least 0\n");
        *exit_status = 2;
        return KNOOP_EINVAL;
    }
    if (knoop_config_int(cfg, "map-max") < 0) {
        fprintf(stderr, "knoop-node: --map-max must be at least 0 (MiB; 0: no limit)\n");
        *exit_status = 2;
        return KNOOP_EINVAL;
    }
    *exit_status = 1;
    knoop_node_t *self;
    int rc = knoop_node_new(&o, &self);
    *daemon = self;
    return rc;
}

KNOOP_DAEMON_HOOKS(node)

/* SIGHUP, beyond map-max and --types: the node's policy (the partners it
 * may speak for) and its trust store, through the loop's own check. */
static void s_reload(void *n, const knoop_config_t *cfg)
{
    if (cfg) {
        const char *const *speak = NULL;
        size_t nspeak = knoop_config_list(cfg, "speak-for", &speak);
        knoop_node_set_speak_for(n, speak, nspeak);
    }
    knoop_node_reload_files(n);
}

int main(int argc, char **argv)
{
    static const knoop_daemon_t node = {
        .prog = "knoop-node",
        .section = "node",
        .summary = "a partner's knooppunt node",
        .description =
        "Journals what the partner's applications publish (seq, hash chain, a head\n"
        "signature per batch) and acknowledges them only after a durable commit; sends\n"
        "them to its broker until the broker acknowledges, again after every reconnect;\n"
        "receives the subscribed topics, stores and verifies them, and only then offers\n"
        "them to local applications. Publishing keeps working while the link is down.\n"
        "When the broker stops answering it moves to the next one in its list.\n"
        "With --pair, two nodes of one partner run as primary and standby: the standby\n"
        "receives everything live, refuses to publish, and takes over (on streams of\n"
        "its own epoch: no fork possible) when no active instance is left.\n"
        "SIGTERM or SIGINT: commits what is open and exits 0.\n"
        "SIGHUP: the configuration is read again; map-max, --types, --speak-for and\n"
        "the trust store take effect without a restart.",
        .spec = s_spec,
        .start = s_start,
        KNOOP_DAEMON_HOOK_FIELDS,
        .reload = s_reload,
    };
    return knoop_daemon_main(&node, argc, argv);
}
