/* cli_policy.c — `knoop policy check`: does a policy file load, and what
 * does it allow a partner? For the people who manage the policy. */
#include "cli.h"
#include "knoop.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

static const knoop_cmd_t s_cmd = {
    .prog = "knoop policy check",
    .section = "policy-check",
    .summary = "load a policy and ask what it allows",
    .description =
"Loads the policy the way knoop-broker does (lines WHO VERB PATTERN,\n"
"default deny) and reports the first error with file and line. With a\n"
"partner (--partner ID --role ROLE) it answers whether that partner may\n"
"publish on a topic (--publish TOPIC) or subscribe to a pattern\n"
"(--subscribe PATTERN), and why not.",
    .exit_status = "0 loads / allowed, 1 refused, 2 the policy does not load or usage error.",
    .examples =
"knoop policy check --policy deploy/policy\n"
"knoop policy check --policy deploy/policy --partner vr-utrecht --role region \\\n"
"                   --publish grip.vr-zeeland",
};

static const knoop_opt_spec_t s_spec[] = {
    { "policy", KNOOP_OPT_STRING, NULL, "FILE", "the policy file", true },
    { "partner", KNOOP_OPT_STRING, NULL, "ID", "the partner to ask about", false },
    { "role", KNOOP_OPT_STRING, NULL, "ROLE", "the partner's role", false },
    { "publish", KNOOP_OPT_STRING, NULL, "TOPIC", "may the partner publish on TOPIC?", false },
    { "subscribe", KNOOP_OPT_STRING, NULL, "PATTERN",
      "may the partner subscribe to PATTERN?", false },
    { NULL },
};

int knoop_cli_policy(int argc, char **argv)
{
    bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    if (!help && (argc < 2 || strcmp(argv[1], "check") != 0)) {
        fprintf(stderr, "usage: knoop policy check --policy FILE [...] "
                "(see knoop policy check --help)\n");
        return 2;
    }
    knoop_config_t *cfg;
    int rc = cli_options(&s_cmd, s_spec, help ? argc : argc - 1, help ? argv : argv + 1, &cfg);
    if (rc != -1)
        return rc;
    const char *file = knoop_config_str(cfg, "policy");
    const char *partner = knoop_config_str(cfg, "partner");
    const char *role = knoop_config_str(cfg, "role");
    const char *pub = knoop_config_str(cfg, "publish");
    const char *sub = knoop_config_str(cfg, "subscribe");
    knoop_policy_t *p = NULL;
    char err[512];
    if (knoop_policy_load(file, &p, err, sizeof err) != KNOOP_OK) {
        fprintf(stderr, "knoop policy check: %s\n", err);
        knoop_config_destroy(&cfg);
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
        rc = knoop_policy_check_subscription(p, partner, role, sub, reason, sizeof reason);
        printf("%s\n", rc == KNOOP_OK ? "allowed" : reason);
        status = rc == KNOOP_OK ? 0 : rc == KNOOP_EPERM ? 1 : 2;
    }
    knoop_policy_destroy(&p);
    knoop_config_destroy(&cfg);
    return status;
}
