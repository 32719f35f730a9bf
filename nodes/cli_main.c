/* cli_main.c — `knoop`: dispatch to the command groups. */
#include "cli.h"
#include "knoop.h"
#include "crypto.h"

#include <stdio.h>
#include <string.h>

static void s_usage(FILE *out)
{
    fprintf(out,
"knoop — the knooppunt command line tool\n"
"\n"
"usage: knoop COMMAND [ARGS...]\n"
"\n"
"commands:\n"
"  pub --topic T --type TYPE --json OBJ     publish through the node (or --file JSONL)\n"
"  sub --pattern P [--durable NAME]         print messages as JSON lines as they arrive\n"
"  status [--json]                          the node's link, outbox and streams\n"
"  node promote|demote                      a primary/standby pair: make this node\n"
"                                           the active one, or the standby\n"
"  beeld [--pattern P]                      the current picture: latest per state key\n"
"  mesh check --broker EP --broker EP ...   do the brokers of the mesh hold the same?\n"
"  policy check --policy FILE [...]         does a policy load; what does it allow?\n"
"  play --scenario FILE --api-template T    play a scenario through the nodes\n"
"  payload encode|decode --type TYPE [FILE] a payload between proto3 JSON and bytes\n"
"  keys new --id ID --role ROLE --out DIR   make a partner identity key and cert\n"
"  keys show FILE                           print a certificate (or a key's public part)\n"
"  audit verify --journal DIR               check every chain and signed head\n"
"  audit replay --journal DIR [filters]     print messages as JSON lines, HLC order\n"
"  audit digest --journal DIR [--pattern P] print the convergence digest\n"
"  bundle export --journal DIR --out FILE   streams to a signed bundle (USB, courier)\n"
"  bundle inspect FILE                      what a bundle holds; does it verify?\n"
"  bundle import --api EP FILE              merge a bundle into a node or broker\n"
"  cap import FILE... / cap export --out DIR CAP 1.2 alerts in and out\n"
"  edxl wrap / edxl unwrap                  EDXL-DE 2.0 distribution envelopes\n"
"\n"
"  pub, sub, status and beeld talk to the node at --api ENDPOINT\n"
"  (default ipc://$KNOOP_DATA/api.sock)\n"
"\n"
"  knoop COMMAND --help   help for one command\n"
"  knoop --version        print the version\n");
}

int main(int argc, char **argv)
{
    if (knoop_crypto_init() != KNOOP_OK) {
        fprintf(stderr, "knoop: cannot initialise libsodium\n");
        return 2;
    }
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        s_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("knoop %s\n", KNOOP_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "keys"))
        return knoop_cli_keys(argc - 1, argv + 1);
    if (!strcmp(cmd, "audit"))
        return knoop_cli_audit(argc - 1, argv + 1);
    if (!strcmp(cmd, "pub"))
        return knoop_cli_pub(argc - 1, argv + 1);
    if (!strcmp(cmd, "sub"))
        return knoop_cli_sub(argc - 1, argv + 1);
    if (!strcmp(cmd, "status"))
        return knoop_cli_status(argc - 1, argv + 1);
    if (!strcmp(cmd, "node"))
        return knoop_cli_node(argc - 1, argv + 1);
    if (!strcmp(cmd, "play"))
        return knoop_cli_play(argc - 1, argv + 1);
    if (!strcmp(cmd, "policy"))
        return knoop_cli_policy(argc - 1, argv + 1);
    if (!strcmp(cmd, "mesh"))
        return knoop_cli_mesh(argc - 1, argv + 1);
    if (!strcmp(cmd, "payload"))
        return knoop_cli_payload(argc - 1, argv + 1);
    if (!strcmp(cmd, "cap"))
        return knoop_cli_cap(argc - 1, argv + 1);
    if (!strcmp(cmd, "edxl"))
        return knoop_cli_edxl(argc - 1, argv + 1);
    if (!strcmp(cmd, "bundle"))
        return knoop_cli_bundle(argc - 1, argv + 1);
    if (!strcmp(cmd, "beeld"))
        return knoop_cli_beeld(argc - 1, argv + 1);
    fprintf(stderr, "knoop: unknown command '%s' (try knoop --help)\n", cmd);
    return 2;
}
