/* cli_audit.c — placeholder until the audit commands land. */
#include "cli.h"
#include <stdio.h>

int knoop_cli_audit(int argc, char **argv)
{
    fprintf(stderr, "knoop audit: not available in this build\n");
    return 2;
}
