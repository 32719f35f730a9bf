/* cli_common.c — what the client commands (pub, sub, status, beeld, cap) share:
 * the option system, --timeout in seconds, the default --api, verdicts; and
 * the scratch trust stores of audit and bundle. */
#include "cli.h"
#include "client.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

knoop_client_t *cli_client(const char *cmd, const char *api)
{
    knoop_log_set_level(KNOOP_LOG_WARN);
    knoop_client_t *c = NULL;
    int rc = knoop_client_new(api, &c);
    if (rc) {
        fprintf(stderr, "knoop %s: cannot use API endpoint '%s': %s\n", cmd, api,
                knoop_strerror(rc));
        return NULL;
    }
    /* czmq catches SIGINT/SIGTERM with its first socket; an operator's
     * Ctrl-C must stop this command, also while it reads its input. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return c;
}

int cli_options(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec, int argc, char **argv,
                knoop_config_t **cfg)
{
    return knoop_config_command(cmd, spec, argc, argv, cfg);
}

const char *cli_api(const char *cmd, const knoop_config_t *cfg, char *buf, size_t size)
{
    const char *api = knoop_config_str(cfg, "api");
    if (api)
        return api;
    if (knoop_client_default_endpoint(buf, size) != KNOOP_OK) {
        fprintf(stderr, "knoop %s: --api ENDPOINT is required (or set KNOOP_DATA)\n", cmd);
        return NULL;
    }
    return buf;
}

int cli_timeout(const char *cmd, const knoop_config_t *cfg, long max, int *ms)
{
    if (!knoop_config_str(cfg, "timeout"))
        return 0;                       /* unset, no default: *ms stays */
    long long v = knoop_config_int(cfg, "timeout");
    if (v < 1 || v > max) {
        fprintf(stderr, "knoop %s: --timeout %lld is not a number of seconds (1..%ld)\n", cmd,
                v, max);
        return 2;
    }
    *ms = v > INT_MAX / 1000 ? INT_MAX : (int) v * 1000;
    return 0;
}

int cli_report_verdicts(const char *cmd, const knoop_api_seq_t *r, size_t n, int wait_ms,
                        bool link_up)
{
    size_t stored = 0, refused = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].verdict == KNOOP_VERDICT_STORED)
            stored++;
        if (r[i].verdict == KNOOP_VERDICT_REFUSED && refused++ < 5)
            fprintf(stderr, "knoop %s: the broker refused %s %s %llu: %s\n", cmd, r[i].origin,
                    r[i].topic, (unsigned long long) r[i].seq, r[i].reason);
    }
    if (refused > 5)
        fprintf(stderr, "knoop %s: the broker refused %zu messages in all\n", cmd, refused);
    if (refused)
        fprintf(stderr, "knoop %s: the node keeps refused messages but the broker will not "
                "take them; see knoop status\n", cmd);
    else if (stored && wait_ms && !link_up)
        fprintf(stderr, "knoop %s: %zu message%s stored by the node; no link to a broker now: "
                "%s sent when the link returns\n", cmd, stored, stored == 1 ? "" : "s",
                stored == 1 ? "it is" : "they are");
    else if (stored && wait_ms)
        fprintf(stderr, "knoop %s: %zu message%s stored by the node; the broker did not answer "
                "within %d s: %s sent, see knoop status\n", cmd, stored, stored == 1 ? "" : "s",
                wait_ms / 1000, stored == 1 ? "it is being" : "they are being");
    return refused ? 1 : 0;
}

bool cli_scratch_dir(const char *tag, char *path, size_t size)
{
    const char *tmpdir = getenv("TMPDIR");
    if ((size_t) snprintf(path, size, "%s/knoop-%s-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp",
                          tag) >= size) {
        errno = ENAMETOOLONG;
        return false;
    }
    return mkdtemp(path) != NULL;
}

void cli_scratch_remove(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char f[PATH_MAX];
            if ((size_t) snprintf(f, sizeof f, "%s/%s", path, e->d_name) < sizeof f)
                unlink(f);
        }
        closedir(d);
    }
    rmdir(path);
}

void cli_trust_dir_each(const char *dir, cli_trust_file_fn *fn, void *arg)
{
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if ((size_t) snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        if (knoop_trust_file_is_cert(e->d_name)) {
            knoop_cert_t cert;
            if (knoop_cert_load(path, &cert) == KNOOP_OK)
                fn(arg, &cert, NULL);
        } else if (!strcmp(e->d_name, KNOOP_REVOCATIONS_FILE)) {
            knoop_revlist_t *l = NULL;
            if (knoop_revlist_load(path, &l) == KNOOP_OK)
                fn(arg, NULL, l);
            knoop_revlist_destroy(&l);
        }
    }
    closedir(d);
}
