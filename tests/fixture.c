/* fixture.c — the unit tests' fixture builder. See fixture.h. */
#include "fixture.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

tu_fixture_t *tu_fixture_new(const char *name)
{
    tu_fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_tmpdir(name);
    snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
    snprintf(f->trust, sizeof f->trust, "%s/trust", f->dir);
    snprintf(f->policy, sizeof f->policy, "%s/policy", f->dir);
    assert_int_equal(mkdir(f->keys, 0700), 0);
    assert_int_equal(mkdir(f->trust, 0700), 0);
    return f;
}

knoop_key_t *tu_key(const char *id, const char *role)
{
    knoop_key_t *k = NULL;
    assert_int_equal(knoop_key_generate(id, role, &k), KNOOP_OK);
    assert_non_null(k);
    return k;
}

knoop_key_t *tu_fixture_partner(tu_fixture_t *f, const char *id, const char *role)
{
    knoop_key_t *k = tu_key(id, role);
    assert_int_equal(knoop_key_save(k, f->keys, time(NULL) - 3600, time(NULL) + 86400),
                     KNOOP_OK);
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/%s.cert", f->keys, id);
    snprintf(dst, sizeof dst, "%s/%s.cert", f->trust, id);
    size_t len = 0;
    char *text = tu_read_file(src, &len);
    assert_non_null(text);
    tu_write_file(dst, text, len, 0644);
    free(text);
    return k;
}

void tu_fixture_partner_files(tu_fixture_t *f, const char *id, const char *role)
{
    knoop_key_t *k = tu_fixture_partner(f, id, role);
    knoop_key_destroy(&k);
}

void tu_fixture_cert(tu_fixture_t *f, const char *id, knoop_cert_t *out)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s.cert", f->trust, id);
    assert_int_equal(knoop_cert_load(path, out), KNOOP_OK);
}

knoop_trust_t *tu_fixture_trust(tu_fixture_t *f)
{
    knoop_trust_destroy(&f->store);
    assert_int_equal(knoop_trust_load(f->trust, 0, &f->store), KNOOP_OK);
    return f->store;
}

const char *tu_fixture_policy(tu_fixture_t *f, const char *text)
{
    tu_write_file(f->policy, text, strlen(text), 0644);
    return f->policy;
}

pid_t tu_fixture_broker(tu_fixture_t *f, const char *id, const char *listen, const char *data,
                        const char *log, const char *const *extra)
{
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s", tu_knoop_bin());
    char *slash = strrchr(bin, '/');
    assert_non_null(slash);
    *slash = 0;                                    /* .../build/nodes */
    char broker[PATH_MAX + 64], key[PATH_MAX + 64], data_path[PATH_MAX], log_path[PATH_MAX];
    snprintf(broker, sizeof broker, "%s/../broker/knoop-broker", bin);
    snprintf(key, sizeof key, "%s/%s.key", f->keys, id);
    tu_fixture_path(f, data, data_path, sizeof data_path);
    tu_fixture_path(f, log, log_path, sizeof log_path);
    const char *argv[64] = { broker, "--id", id, "--listen", listen, "--data", data_path,
                             "--key", key, "--trust", f->trust, "--policy", f->policy };
    size_t argc = 13;
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(argc < sizeof argv / sizeof argv[0] - 1);
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(log_path, "w", stderr))
            _exit(126);
        execv(broker, (char *const *) argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        char *out = NULL;
        tu_run(&out, "grep -c 'listening on' %s 2>/dev/null", log_path);
        bool up = out && atoi(out) > 0;
        free(out);
        if (up)
            return pid;
        usleep(100000);
    }
    fail_msg("%s did not start; see %s", id, log_path);
    return pid;
}

void tu_fixture_path(const tu_fixture_t *f, const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", f->dir, name);
    assert_true(n > 0 && (size_t) n < size);
}

knoop_journal_t *tu_fixture_journal(tu_fixture_t *f, const char *name, unsigned flags)
{
    size_t slot = 0;
    while (slot < TU_FIXTURE_JOURNALS && f->journals[slot])
        slot++;
    assert_true(slot < TU_FIXTURE_JOURNALS);
    char path[PATH_MAX];
    tu_fixture_path(f, name, path, sizeof path);
    knoop_journal_opts_t o = { .path = path, .trust = f->store, .flags = flags };
    assert_int_equal(knoop_journal_open(&o, &f->journals[slot]), KNOOP_OK);
    return f->journals[slot];
}

void tu_fixture_journal_close(tu_fixture_t *f, knoop_journal_t **j)
{
    for (size_t i = 0; i < TU_FIXTURE_JOURNALS; i++)
        if (f->journals[i] && f->journals[i] == *j)
            f->journals[i] = NULL;
    knoop_journal_destroy(j);
}

void tu_fixture_destroy(tu_fixture_t **f_p)
{
    if (!f_p || !*f_p)
        return;
    tu_fixture_t *f = *f_p;
    for (size_t i = 0; i < TU_FIXTURE_JOURNALS; i++)
        knoop_journal_destroy(&f->journals[i]);
    knoop_trust_destroy(&f->store);
    tu_rmtree(f->dir);
    free(f);
    *f_p = NULL;
}
