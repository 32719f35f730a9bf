/* cli_policy.c — `knoop policy check`: does a policy file load, and what
 * does it allow a partner? For the people who manage the policy. */
#include "cli.h"
#include "knoop.h"
#include "policy.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char s_help[] =
"NAME\n"
"    knoop policy check - load a policy and ask what it allows\n"
"\n"
"SYNOPSIS\n"
"    knoop policy check --policy FILE\n"
"    knoop policy check --policy FILE --partner ID --role ROLE\n"
"                       (--publish TOPIC | --subscribe PATTERN)\n"
"\n"
"DESCRIPTION\n"
"    Loads the policy the way knoop-broker does (lines WHO VERB PATTERN,\n"
"    default deny) and reports the first error with file and line. With a\n"
"    partner it answers whether that partner may publish on a topic or\n"
"    subscribe to a pattern, and why not.\n"
"\n"
"EXIT STATUS\n"
"    0 loads / allowed, 1 refused, 2 the policy does not load or usage error.\n"
"\n"
"EXAMPLE\n"
"    knoop policy check --policy deploy/policy --partner vr-utrecht --role region \\\n"
"                       --publish grip.vr-zeeland\n";

int knoop_cli_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        fputs(s_help, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const char *file = NULL, *partner = NULL, *role = NULL, *pub = NULL, *sub = NULL;
    static const struct option opts[] = {
        { "policy", required_argument, NULL, 'f' }, { "partner", required_argument, NULL, 'p' },
        { "role", required_argument, NULL, 'r' }, { "publish", required_argument, NULL, 'P' },
        { "subscribe", required_argument, NULL, 'S' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case 'p': partner = optarg; break;
        case 'r': role = optarg; break;
        case 'P': pub = optarg; break;
        case 'S': sub = optarg; break;
        case 'h': fputs(s_help, stdout); return 0;
        default:
            fprintf(stderr, "knoop policy check: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "knoop policy check: --policy FILE is required\n");
        return 2;
    }
    knoop_policy_t *p = NULL;
    char err[512];
    if (knoop_policy_load(file, &p, err, sizeof err) != KNOOP_OK) {
        fprintf(stderr, "knoop policy check: %s\n", err);
        return 2;
    }
    int status = 0;
    if (!partner) {
        printf("policy %s: %zu rules, loads\n", file, knoop_policy_rules(p));
    } else if (!!pub == !!sub) {
        fprintf(stderr, "knoop policy check: give --publish TOPIC or --subscribe PATTERN\n");
        status = 2;
    } else if (pub) {
        char reason[1024];
        bool ok = knoop_policy_may_publish(p, partner, role, pub);
        knoop_policy_explain_publish(p, partner, role, pub, reason, sizeof reason);
        printf("%s\n", reason);
        status = ok ? 0 : 1;
    } else {
        char reason[1024];
        int rc = knoop_policy_check_subscription(p, partner, role, sub, reason, sizeof reason);
        printf("%s\n", rc == KNOOP_OK ? "allowed" : reason);
        status = rc == KNOOP_OK ? 0 : rc == KNOOP_EPERM ? 1 : 2;
    }
    knoop_policy_destroy(&p);
    return status;
}
