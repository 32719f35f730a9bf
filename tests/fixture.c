/* fixture.c — the unit tests' fixture builder. See fixture.h. */
#include "fixture.h"

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
    FILE *out = fopen(dst, "w");
    assert_non_null(out);
    assert_int_equal(fwrite(text, 1, len, out), len);
    assert_int_equal(fclose(out), 0);
    free(text);
    return k;
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
