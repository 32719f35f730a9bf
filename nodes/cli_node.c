/* cli_node.c — `knoop node promote|demote`: the operator's switch of a
 * primary/standby pair (docs/design.md, "Standby node"). */
#include "cli.h"
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_help_node[] =
"usage: knoop node promote|demote [--api ENDPOINT] [--reason TEXT] [--timeout SEC]\n"
"\n"
"  promote   make this node the active instance of its primary/standby pair\n"
"  demote    make it the standby, until it is promoted\n"
"\n"
"  knoop node promote --help   more\n";

#define S_DESCRIPTION \
"A partner may run two nodes with the same key, a primary and a standby\n" \
"(knoop-node --pair primary|standby). One of them is active: it publishes;\n" \
"the other holds everything live and refuses to publish. A standby takes\n" \
"over by itself when its broker shows no active instance for\n" \
"--takeover-ms; going back is never automatic.\n" \
"\n"

static const knoop_cmd_t s_cmd_promote = {
    .prog = "knoop node promote",
    .section = "node",
    .summary = "make this node the active one of its pair",
    .description = S_DESCRIPTION
"promote makes this node active with a term above every term seen: the\n"
"instance active until now sees that and becomes standby. Use it for the\n"
"failback to the primary once it runs again. Publishing continues on\n"
"streams of this node's own epoch: nothing the other published can be\n"
"overwritten or forked. Prints the node's new state as knoop status does.",
    .exit_status = "0 done, 2 usage error, no answer, or the node is not one of a pair.",
    .examples = "knoop node promote --api ipc:///var/lib/knoop/api.sock \\\n"
                "    --reason 'failback after repair'",
};

static const knoop_cmd_t s_cmd_demote = {
    .prog = "knoop node demote",
    .section = "node",
    .summary = "make this node the standby of its pair",
    .description = S_DESCRIPTION
"demote makes this node the standby and keeps it so (it does not take over\n"
"by itself) until it is promoted; the other instance takes over after its\n"
"--takeover-ms. Prints the node's new state as knoop status does.",
    .exit_status = "0 done, 2 usage error, no answer, or the node is not one of a pair.",
    .examples = "knoop node demote --reason 'maintenance of the primary site'",
};

static const knoop_opt_spec_t s_spec[] = {
    CLI_OPT_API,
    { "reason", KNOOP_OPT_STRING, NULL, "TEXT", "why, for the node's log and status "
      "(at most 200 bytes)", false },
    CLI_OPT_TIMEOUT("5"),
    { NULL },
};

int knoop_cli_node(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(s_help_node, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    bool active = !strcmp(verb, "promote");
    if (!active && strcmp(verb, "demote") != 0) {
        fprintf(stderr, "knoop node: unknown subcommand '%s' (promote or demote)\n", verb);
        return 2;
    }
    knoop_config_t *cfg = NULL;
    int rc = cli_options(active ? &s_cmd_promote : &s_cmd_demote, s_spec, argc - 1, argv + 1,
                         &cfg);
    if (rc != -1)
        return rc;
    char api_default[512];
    int timeout_ms = 5000;
    const char *api = cli_api("node", cfg, api_default, sizeof api_default);
    const char *reason = knoop_config_str(cfg, "reason");
    if (!api || cli_timeout("node", cfg, 3600, &timeout_ms)) {
        knoop_config_destroy(&cfg);
        return 2;
    }
    if (reason && strlen(reason) > 200) {
        fprintf(stderr, "knoop node: --reason: at most 200 bytes\n");
        knoop_config_destroy(&cfg);
        return 2;
    }
    knoop_client_t *cl = cli_client("node", api);
    if (!cl) {
        knoop_config_destroy(&cfg);
        return 2;
    }
    char *text = NULL;
    rc = knoop_client_role(cl, active, reason ? reason : "", &text, timeout_ms);
    if (rc)
        fprintf(stderr, "knoop node %s: %s\n", verb, knoop_client_error(cl));
    else
        cli_status_instance(text);
    free(text);
    knoop_client_destroy(&cl);
    knoop_config_destroy(&cfg);
    return rc ? 2 : 0;
}
