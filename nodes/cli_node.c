/* cli_node.c — `knoop node promote|demote`: the operator's switch of a
 * primary/standby pair (docs/design.md, "Standby node"). */
#include "cli.h"
#include "client.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT 5

static const char s_help[] =
"NAME\n"
"    knoop node - switch a node of a primary/standby pair\n"
"\n"
"SYNOPSIS\n"
"    knoop node promote [--api ENDPOINT] [--reason TEXT] [--timeout SEC]\n"
"    knoop node demote  [--api ENDPOINT] [--reason TEXT] [--timeout SEC]\n"
"\n"
"DESCRIPTION\n"
"    A partner may run two nodes with the same key, a primary and a standby\n"
"    (knoop-node --pair primary|standby). One of them is active: it\n"
"    publishes; the other holds everything live and refuses to publish. A\n"
"    standby takes over by itself when its broker shows no active instance\n"
"    for --takeover-ms; going back is never automatic.\n"
"\n"
"    promote makes this node the active one, above every term seen: the\n"
"    instance active until now sees that and becomes standby. Use it for the\n"
"    failback to the primary once it runs again.\n"
"\n"
"    demote makes this node the standby and keeps it so (it does not take\n"
"    over by itself) until it is promoted; the other instance takes over\n"
"    after --takeover-ms.\n"
"\n"
"    Either prints the node's new state, as knoop status does. Publishing\n"
"    on the new active node continues on streams of its own epoch: no\n"
"    message of the old one can be overwritten or forked.\n"
"\n"
"OPTIONS\n"
"    --api ENDPOINT   the node's local API (default ipc://$KNOOP_DATA/api.sock)\n"
"    --reason TEXT    why, for the node's log and status (at most 200 bytes)\n"
"    --timeout SEC    how long to wait for the node (default 5)\n"
"    --help           this text\n"
"\n"
"EXIT STATUS\n"
"    0 done, 2 usage error, no answer, or the node is not one of a pair.\n"
"\n"
"EXAMPLES\n"
"    knoop node promote --api ipc:///var/lib/knoop/api.sock --reason 'failback after repair'\n"
"    knoop node demote --reason 'maintenance of the primary site'\n";

enum { OPT_API = 1, OPT_REASON, OPT_TIMEOUT, OPT_HELP };

static const struct option s_opts[] = {
    { "api", required_argument, NULL, OPT_API },
    { "reason", required_argument, NULL, OPT_REASON },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

int knoop_cli_node(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(s_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    bool active;
    if (!strcmp(verb, "promote"))
        active = true;
    else if (!strcmp(verb, "demote"))
        active = false;
    else {
        fprintf(stderr, "knoop node: unknown subcommand '%s' (promote or demote)\n", verb);
        return 2;
    }
    const char *api = NULL, *reason = "";
    int timeout_ms = DEFAULT_TIMEOUT * 1000;
    char api_default[512];
    optind = 1;
    opterr = 0;
    int c;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, ":", s_opts, NULL)) != -1) {
        switch (c) {
        case OPT_API:    api = optarg; break;
        case OPT_REASON:
            if (strlen(optarg) > 200) {
                fprintf(stderr, "knoop node: --reason: at most 200 bytes\n");
                return 2;
            }
            reason = optarg;
            break;
        case OPT_TIMEOUT:
            if (cli_seconds("node", optarg, 3600, &timeout_ms))
                return 2;
            break;
        case OPT_HELP:
            fputs(s_help, stdout);
            return 0;
        default:
            return cli_getopt_error("node", c, argv);
        }
    }
    if (cli_finish_args("node", argc, argv, &api, api_default, sizeof api_default))
        return 2;
    knoop_client_t *cl = cli_client("node", api);
    if (!cl)
        return 2;
    char *text = NULL;
    int rc = knoop_client_role(cl, active, reason, &text, timeout_ms);
    if (rc) {
        fprintf(stderr, "knoop node %s: %s\n", verb, knoop_client_error(cl));
        knoop_client_destroy(&cl);
        return 2;
    }
    knoop_client_destroy(&cl);
    cli_status_instance(text);
    free(text);
    return 0;
}
