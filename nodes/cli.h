/*
 * cli.h — the knoop command line tool: one function per command group.
 * Each takes the arguments after the group name (argv[0] is the group name)
 * and returns the process exit status: 0 success, 1 a failed check (e.g.
 * audit verify found a break), 2 usage or operational error.
 */
#ifndef KNOOP_CLI_H
#define KNOOP_CLI_H

int knoop_cli_keys(int argc, char **argv);
int knoop_cli_audit(int argc, char **argv);
int knoop_cli_pub(int argc, char **argv);
int knoop_cli_sub(int argc, char **argv);
int knoop_cli_status(int argc, char **argv);
int knoop_cli_beeld(int argc, char **argv);
int knoop_cli_mesh(int argc, char **argv);
int knoop_cli_policy(int argc, char **argv);
int knoop_cli_play(int argc, char **argv);
int knoop_cli_payload(int argc, char **argv);
int knoop_cli_cap(int argc, char **argv);
int knoop_cli_edxl(int argc, char **argv);
int knoop_cli_bundle(int argc, char **argv);
int knoop_cli_node(int argc, char **argv);

/* Shared by the client commands (cli_common.c); each returns 0 or 2 after a
 * one-line error naming the command. */
#include <stddef.h>
/* A client of the node at api, with the CLI's log level and signals; NULL
 * after a one-line error. */
typedef struct knoop_client_t knoop_client_t;
knoop_client_t *cli_client(const char *cmd, const char *api);

/* The one option system (config.h), as the commands use it. */
#include "config.h"
#include "api.h"
/* Options and operands of one command (argv[0] is the command's name):
 * -1 to run with *cfg set (the caller destroys it), else the exit status
 * (0 after --help, 2 after a one-line error naming the cause). */
int cli_options(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec, int argc, char **argv,
                knoop_config_t **cfg);
/* The "api" option, or ipc://$KNOOP_DATA/api.sock in buf; NULL after an
 * error naming cmd. */
const char *cli_api(const char *cmd, const knoop_config_t *cfg, char *buf, size_t size);
/* The INT option "timeout" in seconds (1..max) as milliseconds (*ms is
 * left alone when it is unset and has no default); 2 after an error. */
int cli_timeout(const char *cmd, const knoop_config_t *cfg, long max, int *ms);
/* Tell on stderr what the broker said of published items (results of
 * knoop_client_publish_wait): each refusal with its reason (the first five),
 * or that items are only stored by the node (link down, or no verdict within
 * wait_ms). Returns 1 when the broker refused any item, else 0. */
int cli_report_verdicts(const char *cmd, const knoop_api_seq_t *r, size_t n, int wait_ms,
                        bool link_up);
/* Spec entries the client commands share. */
#define CLI_OPT_API \
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT", \
      "the node's local API (default ipc://$KNOOP_DATA/api.sock)", false }
#define CLI_OPT_TIMEOUT(def) \
    { "timeout", KNOOP_OPT_INT, def, "SEC", "how long to wait for the node, in seconds", false }

/* Scratch directories for a trust store a command builds for itself: a new
 * private one, $TMPDIR/knoop-<tag>-XXXXXX (/tmp without TMPDIR), into path;
 * false with errno set when it cannot be made. */
bool cli_scratch_dir(const char *tag, char *path, size_t size);
/* Remove a scratch directory: the files directly in it, then itself. */
void cli_scratch_remove(const char *path);
/* Each certificate (knoop_trust_file_is_cert: no hidden file) and
 * revocation list in a trust directory dir, loaded, handed to fn (one of
 * cert and list is NULL; both are the caller's only during the call). A
 * file that does not load is passed over: a missing dir is an empty one. */
#include "keys.h"
typedef void cli_trust_file_fn(void *arg, const knoop_cert_t *cert, const knoop_revlist_t *list);
void cli_trust_dir_each(const char *dir, cli_trust_file_fn *fn, void *arg);

/* cli_status.c: print the "instance" lines of a node's status JSON text
 * (nothing when the node is not one of a primary/standby pair). */
void cli_status_instance(const char *json_text);

#endif
