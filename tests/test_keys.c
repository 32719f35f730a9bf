/* test_keys.c — identity keys, certificate files and the trust store, on
 * real files in temporary directories. */
#include "fixture.h"
#include "testutil.h"
#include "keys.h"
#include "trust_reload.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400

/* ---- helpers ---- */

static void s_write(const char *dir, const char *name, const void *data, size_t len,
                    mode_t mode)
{
    char *path = tu_path(dir, name);
    tu_write_file(path, data, len, mode);
    free(path);
}

static void s_write_text(const char *dir, const char *name, const char *text, mode_t mode)
{
    s_write(dir, name, text, strlen(text), mode);
}

static mode_t s_mode(const char *dir, const char *name)
{
    char *path = tu_path(dir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    free(path);
    return st.st_mode & 07777;
}

static int64_t s_now(void)
{
    return (int64_t) time(NULL);
}

/* A cert for `key` with the given validity, in its file form. */
static char *s_cert_text(const knoop_key_t *key, const char *id, int64_t from, int64_t until)
{
    knoop_cert_t cert;
    memset(&cert, 0, sizeof cert);
    snprintf(cert.id, sizeof cert.id, "%s", id ? id : knoop_key_id(key));
    snprintf(cert.role, sizeof cert.role, "%s", knoop_key_role(key));
    memcpy(cert.pk, knoop_key_public(key), KNOOP_PK_LEN);
    knoop_key_curve(key, cert.curve_pk, NULL);
    cert.valid_from = from;
    cert.valid_until = until;
    knoop_buf_t buf = { 0 };
    assert_int_equal(knoop_cert_format(&cert, &buf), KNOOP_OK);
    assert_int_equal(knoop_buf_append(&buf, "", 1), KNOOP_OK);
    return (char *) buf.data;
}

/* Write DIR/FILE holding a cert for a fresh key; returns the key. */
static knoop_key_t *s_put_cert(const char *dir, const char *file, const char *id,
                               int64_t from, int64_t until)
{
    knoop_key_t *key = tu_key(id, "region");
    assert_non_null(key);
    char *text = s_cert_text(key, NULL, from, until);
    s_write_text(dir, file, text, 0644);
    free(text);
    return key;
}

/* A fresh key of id and role with a certificate valid from..until issued
 * by root into *cert; returns the key. */
static knoop_key_t *s_issued(const knoop_key_t *root, const char *id, const char *role,
                             int64_t from, int64_t until, knoop_cert_t *cert)
{
    knoop_key_t *key = tu_key(id, role);
    assert_non_null(key);
    assert_int_equal(knoop_key_cert(key, from, until, cert), KNOOP_OK);
    assert_int_equal(knoop_cert_issue(cert, root), KNOOP_OK);
    return key;
}

/* A fresh root id whose self-issued certificate (from a day ago for 400
 * days) is written to DIR/ID.cert; returns the root's key. */
static knoop_key_t *s_root_cert(const char *dir, const char *id)
{
    knoop_cert_t cert;
    knoop_key_t *root = tu_key(id, KNOOP_ROLE_ROOT);
    assert_non_null(root);
    assert_int_equal(knoop_key_cert(root, s_now() - DAY, s_now() + 400 * DAY, &cert), KNOOP_OK);
    assert_int_equal(knoop_cert_issue(&cert, root), KNOOP_OK);
    char name[KNOOP_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.cert", id);
    char *path = tu_path(dir, name);
    assert_int_equal(knoop_cert_write(&cert, path), KNOOP_OK);
    free(path);
    return root;
}

/* Replace the first occurrence of `from` in text (malloc'd result). */
static char *s_replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t head = (size_t) (at - text), flen = strlen(from), tlen = strlen(to);
    size_t len = strlen(text) - flen + tlen;
    char *out = malloc(len + 1);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, to, tlen);
    strcpy(out + head + tlen, at + flen);
    return out;
}

/* The whole line starting with `prefix` (e.g. "curve-key = "), malloc'd,
 * without the newline. */
static char *s_line(const char *text, const char *prefix)
{
    const char *at = strstr(text, prefix);
    assert_non_null(at);
    size_t len = strcspn(at, "\n");
    char *out = strndup(at, len);
    assert_non_null(out);
    return out;
}

/* Capture what the library logs to stderr between begin and end. */
typedef struct {
    int   saved;
    char *path;
} capture_t;

static void s_capture_begin(capture_t *c, const char *dir)
{
    fflush(stderr);
    c->path = tu_path(dir, "stderr.log");
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
}

static char *s_capture_end(capture_t *c)
{
    fflush(stderr);
    assert_int_equal(dup2(c->saved, 2), 2);
    close(c->saved);
    char *text = tu_read_file(c->path, NULL);
    assert_non_null(text);
    unlink(c->path);
    free(c->path);
    /* Show it too: a failing test should not hide the log it looked at. */
    fputs(text, stderr);
    return text;
}

/* knoop_key_load and knoop_trust_load with what they log captured (the
 * capture file lives in dir) into *log, which the caller frees. */
static int s_key_load_logged(const char *dir, const char *path, knoop_key_t **out, char **log)
{
    capture_t cap;
    s_capture_begin(&cap, dir);
    int rc = knoop_key_load(path, out);
    *log = s_capture_end(&cap);
    return rc;
}

static int s_trust_load_logged(const char *dir, knoop_trust_t **out, char **log)
{
    capture_t cap;
    s_capture_begin(&cap, dir);
    int rc = knoop_trust_load(dir, 0, out);
    *log = s_capture_end(&cap);
    return rc;
}

/* The trust store in dir refuses to load with want, and its log names
 * every one of words (NULL ended). */
static void s_trust_refused(const char *dir, int want, const char *const *words)
{
    knoop_trust_t *trust = NULL;
    char *log;
    assert_int_equal(s_trust_load_logged(dir, &trust, &log), want);
    assert_null(trust);
    for (size_t i = 0; words[i]; i++)
        if (!strstr(log, words[i]))
            fail_msg("the log does not name '%s'", words[i]);
    free(log);
}

/* ---- keys ---- */

static void test_generate_validates(void **state)
{
    knoop_key_t *key = NULL;
    static const char *bad[][2] = {
        { "Bad", "region" }, { "-x", "region" }, { "vr-utrecht", "" },
        { "vr-utrecht", "Region" }, { "vr-utrecht", "a23456789012345678901234567890123" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(knoop_key_generate(bad[i][0], bad[i][1], &key), KNOOP_EINVAL);
        assert_null(key);
    }
    assert_int_equal(knoop_key_generate("vr-utrecht", "a2345678901234567890123456789012", &key),
                     KNOOP_OK);
    assert_non_null(key);
    knoop_key_destroy(&key);
    assert_null(key);
    knoop_key_destroy(&key);            /* safe twice */
    knoop_key_t *a = tu_key("vr-utrecht", "region");
    knoop_key_t *b = tu_key("vr-utrecht", "region");
    assert_memory_not_equal(knoop_key_public(a), knoop_key_public(b), KNOOP_PK_LEN);
    knoop_key_destroy(&a);
    knoop_key_destroy(&b);
}

static void test_round_trip(void **state)
{
    char *dir = tu_tmpdir("keys-rt");
    knoop_key_t *key = tu_key("vr-utrecht", "region");
    assert_non_null(key);
    int64_t from = s_now() - DAY, until = s_now() + 730 * (int64_t) DAY;
    assert_int_equal(knoop_key_save(key, dir, from, until), KNOOP_OK);

    char *key_path = tu_path(dir, "vr-utrecht.key");
    char *cert_path = tu_path(dir, "vr-utrecht.cert");
    knoop_key_t *loaded = NULL;
    assert_int_equal(knoop_key_load(key_path, &loaded), KNOOP_OK);
    assert_string_equal(knoop_key_id(loaded), "vr-utrecht");
    assert_string_equal(knoop_key_role(loaded), "region");
    assert_memory_equal(knoop_key_public(loaded), knoop_key_public(key), KNOOP_PK_LEN);
    assert_memory_equal(knoop_key_secret(loaded), knoop_key_secret(key), KNOOP_SK_LEN);
    uint8_t c1[KNOOP_CURVE_LEN], s1[KNOOP_CURVE_LEN], c2[KNOOP_CURVE_LEN], s2[KNOOP_CURVE_LEN];
    knoop_key_curve(key, c1, s1);
    knoop_key_curve(loaded, c2, s2);
    assert_memory_equal(c1, c2, KNOOP_CURVE_LEN);
    assert_memory_equal(s1, s2, KNOOP_CURVE_LEN);

    knoop_cert_t cert;
    assert_int_equal(knoop_cert_load(cert_path, &cert), KNOOP_OK);
    assert_string_equal(cert.id, "vr-utrecht");
    assert_string_equal(cert.role, "region");
    assert_memory_equal(cert.pk, knoop_key_public(key), KNOOP_PK_LEN);
    assert_memory_equal(cert.curve_pk, c1, KNOOP_CURVE_LEN);
    assert_int_equal(cert.valid_from, from);
    assert_int_equal(cert.valid_until, until);
    assert_int_equal(knoop_cert_check_time(&cert, s_now()), KNOOP_OK);

    /* The file is exactly the cert's text form. */
    char *text = tu_read_file(cert_path, NULL);
    knoop_buf_t buf = { 0 };
    assert_int_equal(knoop_cert_format(&cert, &buf), KNOOP_OK);
    assert_int_equal(buf.len, strlen(text));
    assert_memory_equal(buf.data, text, buf.len);
    knoop_buf_free(&buf);
    assert_non_null(strstr(text, "\n[cert]\n"));
    assert_true(text[0] == '#');           /* readable header comment */
    free(text);

    /* The key file holds the seed as hex, and the cert holds no secret. */
    char *ktext = tu_read_file(key_path, NULL);
    assert_non_null(strstr(ktext, "\n[key]\n"));
    assert_non_null(strstr(ktext, "\nid = vr-utrecht\n"));
    assert_non_null(strstr(ktext, "\nrole = region\n"));
    char *seed_line = s_line(ktext, "seed = ");
    assert_int_equal(strlen(seed_line), strlen("seed = ") + 2 * KNOOP_SEED_LEN);
    char *ctext = tu_read_file(cert_path, NULL);
    assert_null(strstr(ctext, seed_line + strlen("seed = ")));
    char sk_hex[2 * KNOOP_SK_LEN + 1];
    knoop_hex_encode(sk_hex, knoop_key_secret(key), KNOOP_SK_LEN);
    assert_null(strstr(ctext, sk_hex));
    free(seed_line);
    free(ktext);
    free(ctext);

    knoop_key_destroy(&key);
    knoop_key_destroy(&loaded);
    free(key_path);
    free(cert_path);
    tu_rmtree(dir);
}

static void test_sign_verify_loaded(void **state)
{
    tu_fixture_t *f = tu_fixture_new("keys-sig");
    tu_fixture_partner_files(f, "ws-rijnland", "waterschap");

    char *key_path = tu_path(f->keys, "ws-rijnland.key");
    char *cert_path = tu_path(f->keys, "ws-rijnland.cert");
    knoop_key_t *signer = NULL;
    assert_int_equal(knoop_key_load(key_path, &signer), KNOOP_OK);
    knoop_cert_t cert;
    assert_int_equal(knoop_cert_load(cert_path, &cert), KNOOP_OK);

    uint8_t chain[KNOOP_HASH_LEN], sig[KNOOP_SIG_LEN];
    knoop_hash(chain, "body", 4);
    knoop_head_sign(sig, knoop_key_secret(signer), "ws-rijnland", "water.ws-rijnland.peil",
                    42, 7, chain);
    assert_int_equal(knoop_head_verify(sig, cert.pk, "ws-rijnland", "water.ws-rijnland.peil",
                                       42, 7, chain), KNOOP_OK);
    assert_int_equal(knoop_head_verify(sig, cert.pk, "ws-rijnland", "water.ws-rijnland.peil",
                                       42, 8, chain), KNOOP_ESIG);
    chain[0] ^= 1;
    assert_int_equal(knoop_head_verify(sig, cert.pk, "ws-rijnland", "water.ws-rijnland.peil",
                                       42, 7, chain), KNOOP_ESIG);
    knoop_key_destroy(&signer);
    free(key_path);
    free(cert_path);
    tu_fixture_destroy(&f);
}

static void test_key_mode_0600_whatever_umask(void **state)
{
    static const mode_t masks[] = { 0, 022, 0277 };
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        char *dir = tu_tmpdir("keys-umask");
        knoop_key_t *key = tu_key("vp-tennet", "vital");
        mode_t old = umask(masks[i]);
        int rc = knoop_key_save(key, dir, s_now() - DAY, s_now() + DAY);
        umask(old);
        assert_int_equal(rc, KNOOP_OK);
        assert_int_equal(s_mode(dir, "vp-tennet.key"), 0600);
        char *path = tu_path(dir, "vp-tennet.key");
        knoop_key_t *loaded = NULL;
        assert_int_equal(knoop_key_load(path, &loaded), KNOOP_OK);
        knoop_key_destroy(&loaded);
        knoop_key_destroy(&key);
        free(path);
        tu_rmtree(dir);
    }
}

static void test_key_load_refuses_open_modes(void **state)
{
    tu_fixture_t *f = tu_fixture_new("keys-mode");
    const char *dir = f->keys;
    knoop_key_t *key = tu_fixture_partner(f, "vr-utrecht", "region");
    char *path = tu_path(dir, "vr-utrecht.key");
    static const mode_t refused[] = { 0644, 0640, 0604, 0660, 0606, 0610, 0601, 0700 | 0004 };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(chmod(path, refused[i]), 0);
        knoop_key_t *loaded = NULL;
        char *log;
        assert_int_equal(s_key_load_logged(dir, path, &loaded, &log), KNOOP_EPERM);
        assert_null(loaded);
        /* Like ssh: a WARN naming the file and its mode. */
        char mode_text[8];
        snprintf(mode_text, sizeof mode_text, "%04o", (unsigned) refused[i]);
        assert_non_null(strstr(log, "WARN"));
        assert_non_null(strstr(log, path));
        assert_non_null(strstr(log, mode_text));
        free(log);
    }
    static const mode_t accepted[] = { 0600, 0400 };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        assert_int_equal(chmod(path, accepted[i]), 0);
        knoop_key_t *loaded = NULL;
        assert_int_equal(knoop_key_load(path, &loaded), KNOOP_OK);
        assert_memory_equal(knoop_key_public(loaded), knoop_key_public(key), KNOOP_PK_LEN);
        knoop_key_destroy(&loaded);
    }
    /* Missing file. */
    char *missing = tu_path(dir, "nobody.key");
    knoop_key_t *loaded = NULL;
    assert_int_equal(knoop_key_load(missing, &loaded), KNOOP_ENOTFOUND);
    free(missing);
    knoop_key_destroy(&key);
    free(path);
    tu_fixture_destroy(&f);
}

static void test_save_refuses_overwrite(void **state)
{
    tu_fixture_t *f = tu_fixture_new("keys-excl");
    const char *dir = f->keys;
    knoop_key_t *first = tu_fixture_partner(f, "vr-utrecht", "region");
    knoop_key_t *second = tu_key("vr-utrecht", "region");
    char *key_path = tu_path(dir, "vr-utrecht.key");
    char *cert_path = tu_path(dir, "vr-utrecht.cert");
    char *key_before = tu_read_file(key_path, NULL);
    char *cert_before = tu_read_file(cert_path, NULL);

    assert_int_equal(knoop_key_save(second, dir, s_now() - DAY, s_now() + DAY), KNOOP_EEXIST);
    char *key_after = tu_read_file(key_path, NULL);
    char *cert_after = tu_read_file(cert_path, NULL);
    assert_string_equal(key_before, key_after);
    assert_string_equal(cert_before, cert_after);

    /* Cert present, key gone: still refused, and no new key is left behind
     * beside a cert it does not match. */
    assert_int_equal(unlink(key_path), 0);
    assert_int_equal(knoop_key_save(second, dir, s_now() - DAY, s_now() + DAY), KNOOP_EEXIST);
    assert_int_equal(access(key_path, F_OK), -1);
    free(cert_after);
    cert_after = tu_read_file(cert_path, NULL);
    assert_string_equal(cert_before, cert_after);

    /* A planted symlink at the key's name is not followed. */
    assert_int_equal(unlink(cert_path), 0);
    char *target = tu_path(dir, "target");
    assert_int_equal(symlink(target, key_path), 0);
    assert_int_equal(knoop_key_save(second, dir, s_now() - DAY, s_now() + DAY), KNOOP_EEXIST);
    assert_int_equal(access(target, F_OK), -1);

    /* Bad arguments. */
    assert_int_equal(knoop_key_save(second, dir, s_now(), s_now()), KNOOP_EINVAL);
    char *nodir = tu_path(dir, "no/such/dir");
    assert_int_equal(knoop_key_save(second, nodir, s_now() - DAY, s_now() + DAY),
                     KNOOP_ENOTFOUND);

    free(nodir);
    free(target);
    free(key_before);
    free(cert_before);
    free(key_after);
    free(cert_after);
    free(key_path);
    free(cert_path);
    knoop_key_destroy(&first);
    knoop_key_destroy(&second);
    tu_fixture_destroy(&f);
}

static void test_key_load_rejects_bad_files(void **state)
{
    tu_fixture_t *f = tu_fixture_new("keys-badkey");
    const char *dir = f->keys;
    knoop_key_t *key = tu_fixture_partner(f, "vr-utrecht", "region");
    char *good_path = tu_path(dir, "vr-utrecht.key");
    char *good = tu_read_file(good_path, NULL);
    char *seed_line = s_line(good, "seed = ");
    const char *seed_hex = seed_line + strlen("seed = ");

    char *variants[16];
    size_t n = 0;
    char short_seed[80];
    snprintf(short_seed, sizeof short_seed, "seed = %.62s", seed_hex);
    variants[n++] = s_replace(good, seed_line, short_seed);
    char bad_hex[80];
    snprintf(bad_hex, sizeof bad_hex, "seed = %.63sg", seed_hex);
    variants[n++] = s_replace(good, seed_line, bad_hex);
    char long_seed[120];
    snprintf(long_seed, sizeof long_seed, "seed = %s00", seed_hex);
    variants[n++] = s_replace(good, seed_line, long_seed);
    char twice[200];
    snprintf(twice, sizeof twice, "%s\n%s", seed_line, seed_line);
    variants[n++] = s_replace(good, seed_line, twice);
    char other_section[200];
    snprintf(other_section, sizeof other_section, "[other]\n%s", seed_line);
    variants[n++] = s_replace(good, seed_line, other_section);
    variants[n++] = s_replace(good, seed_line, seed_hex);       /* no "seed =" */
    variants[n++] = s_replace(good, seed_line, "");              /* missing */
    variants[n++] = s_replace(good, "role = region", "role = Region!");
    variants[n++] = s_replace(good, "id = vr-utrecht", "id = VR utrecht");
    variants[n++] = s_replace(good, "[key]", "[cert]");
    variants[n++] = strdup("");

    for (size_t i = 0; i < n; i++) {
        s_write_text(dir, "bad.key", variants[i], 0600);
        char *path = tu_path(dir, "bad.key");
        knoop_key_t *loaded = NULL;
        char *log;
        assert_int_equal(s_key_load_logged(dir, path, &loaded, &log), KNOOP_EMALFORMED);
        assert_null(loaded);
        assert_non_null(strstr(log, path));
        /* Never the secret, not even a damaged one, not even part of it. */
        char part[17];
        snprintf(part, sizeof part, "%.16s", seed_hex);
        assert_null(strstr(log, part));
        free(log);
        free(path);
        free(variants[i]);
    }
    free(seed_line);
    free(good);
    free(good_path);
    knoop_key_destroy(&key);
    tu_fixture_destroy(&f);
}

/* ---- certificates ---- */

static void test_cert_rejects_bad_files(void **state)
{
    char *dir = tu_tmpdir("keys-badcert");
    knoop_key_t *key = tu_key("vr-utrecht", "region");
    knoop_key_t *other = tu_key("vr-utrecht", "region");
    char *good = s_cert_text(key, NULL, s_now() - DAY, s_now() + DAY);
    s_write_text(dir, "good.cert", good, 0644);
    char *path = tu_path(dir, "good.cert");
    knoop_cert_t cert;
    assert_int_equal(knoop_cert_load(path, &cert), KNOOP_OK);
    free(path);

    char *curve_line = s_line(good, "curve-key = ");
    char *pk_line = s_line(good, "public-key = ");
    char *from_line = s_line(good, "valid-from = ");
    char *until_line = s_line(good, "valid-until = ");

    char *variants[48];
    size_t n = 0;
    /* Tampered curve key: one digit changed. */
    char tampered[120];
    snprintf(tampered, sizeof tampered, "%s", curve_line);
    size_t last = strlen(tampered) - 1;
    tampered[last] = tampered[last] == '0' ? '1' : '0';
    variants[n++] = s_replace(good, curve_line, tampered);
    /* Curve key of another partner's signing key. */
    char *other_text = s_cert_text(other, NULL, s_now() - DAY, s_now() + DAY);
    char *other_curve = s_line(other_text, "curve-key = ");
    variants[n++] = s_replace(good, curve_line, other_curve);
    /* Public key swapped, curve key kept. */
    char *other_pk = s_line(other_text, "public-key = ");
    variants[n++] = s_replace(good, pk_line, other_pk);
    /* Bad hex. */
    char bad[120];
    snprintf(bad, sizeof bad, "public-key = zz%s", pk_line + strlen("public-key = ") + 2);
    variants[n++] = s_replace(good, pk_line, bad);
    snprintf(bad, sizeof bad, "public-key = %.62s", pk_line + strlen("public-key = "));
    variants[n++] = s_replace(good, pk_line, bad);
    snprintf(bad, sizeof bad, "%s00", curve_line);
    variants[n++] = s_replace(good, curve_line, bad);
    variants[n++] = s_replace(good, curve_line, "curve-key =");
    /* Bad times. */
    variants[n++] = s_replace(good, from_line, "valid-from = yesterday");
    variants[n++] = s_replace(good, until_line, "valid-until = 2026-13-01T00:00:00Z");
    variants[n++] = s_replace(good, until_line, "valid-until = 2000-01-01T00:00:00Z");
    variants[n++] = s_replace(good, from_line, "valid-from = 2026-01-01T00:00:00+01:00");
    /* Missing fields, one at a time. */
    static const char *const fields[] = {
        "id = ", "role = ", "public-key = ", "curve-key = ", "valid-from = ", "valid-until = ",
    };
    for (size_t i = 0; i < 6; i++) {
        char *line = s_line(good, fields[i]);
        variants[n++] = s_replace(good, line, "");
        free(line);
    }
    /* Structure. */
    variants[n++] = s_replace(good, "[cert]", "[key]");
    variants[n++] = s_replace(good, "[cert]\n", "");
    variants[n++] = s_replace(good, "role = region", "role = region\nrevoked = no");
    variants[n++] = s_replace(good, "role = region", "role = region\nrole = broker");
    variants[n++] = s_replace(good, "role = region", "role = region\n  continued");
    variants[n++] = s_replace(good, "id = vr-utrecht", "id = ../../etc");
    variants[n++] = s_replace(good, "id = vr-utrecht", "id = vr-utrecht\x1b[31m");
    /* inih splits long lines: the tail of a long comment must not become
     * a field. Try every split point around inih's line buffer. */
    for (size_t pad = 190; pad < 200; pad++) {
        char hidden[300];
        memset(hidden, 'x', sizeof hidden);
        hidden[0] = '#';
        strcpy(hidden + pad, "role = broker\n[cert]\n");
        char *no_role = s_replace(good, "role = region\n", "");
        variants[n++] = s_replace(no_role, "[cert]\n", hidden);
        free(no_role);
    }
    variants[n++] = strdup("");
    variants[n++] = strdup("this is not a certificate\n");
    variants[n++] = strdup("[cert\nid = x\n");
    assert_true(n <= sizeof variants / sizeof variants[0]);

    for (size_t i = 0; i < n; i++) {
        s_write_text(dir, "bad.cert", variants[i], 0644);
        path = tu_path(dir, "bad.cert");
        capture_t cap;
        s_capture_begin(&cap, dir);
        int rc = knoop_cert_load(path, &cert);
        char *log = s_capture_end(&cap);
        if (rc != KNOOP_EMALFORMED)
            fprintf(stderr, "variant %zu accepted:\n%s\n", i, variants[i]);
        assert_int_equal(rc, KNOOP_EMALFORMED);
        assert_non_null(strstr(log, path));     /* names the file */
        assert_null(strchr(log, '\x1b'));       /* and no terminal escapes */
        free(log);
        free(path);
        free(variants[i]);
    }

    /* Garbage bytes: random, with NULs, and too big. */
    unsigned seed = tu_seed();
    srand(seed);
    uint8_t junk[6000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t) rand();
    static const size_t sizes[] = { 1, 17, 300, 4000, sizeof junk };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        s_write(dir, "junk.cert", junk, sizes[i], 0644);
        path = tu_path(dir, "junk.cert");
        assert_int_equal(knoop_cert_load(path, &cert), KNOOP_EMALFORMED);
        free(path);
    }
    /* A good cert followed by a NUL and more text is not quietly cut short. */
    size_t glen = strlen(good);
    char *nul = malloc(glen + 10);
    memcpy(nul, good, glen);
    memcpy(nul + glen, "\0role = x\n", 10);
    s_write(dir, "nul.cert", nul, glen + 10, 0644);
    path = tu_path(dir, "nul.cert");
    assert_int_equal(knoop_cert_load(path, &cert), KNOOP_EMALFORMED);
    free(path);
    free(nul);
    /* A directory is not a cert. */
    path = tu_path(dir, "dir.cert");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(knoop_cert_load(path, &cert), KNOOP_EMALFORMED);
    free(path);

    free(curve_line);
    free(pk_line);
    free(from_line);
    free(until_line);
    free(other_curve);
    free(other_pk);
    free(other_text);
    free(good);
    knoop_key_destroy(&key);
    knoop_key_destroy(&other);
    tu_rmtree(dir);
}

static void test_cert_format_refuses_injection(void **state)
{
    knoop_key_t *key = tu_key("vr-utrecht", "region");
    knoop_cert_t cert;
    memset(&cert, 0, sizeof cert);
    snprintf(cert.id, sizeof cert.id, "vr-utrecht\nrole = broker");
    snprintf(cert.role, sizeof cert.role, "region");
    memcpy(cert.pk, knoop_key_public(key), KNOOP_PK_LEN);
    knoop_key_curve(key, cert.curve_pk, NULL);
    cert.valid_from = 0;
    cert.valid_until = 1;
    knoop_buf_t buf = { 0 };
    assert_int_equal(knoop_cert_format(&cert, &buf), KNOOP_EINVAL);
    snprintf(cert.id, sizeof cert.id, "vr-utrecht");
    snprintf(cert.role, sizeof cert.role, "region\nx = y");
    assert_int_equal(knoop_cert_format(&cert, &buf), KNOOP_EINVAL);
    assert_int_equal(buf.len, 0);
    knoop_buf_free(&buf);
    knoop_key_destroy(&key);
}

static void test_cert_check_time(void **state)
{
    /* Exact (no tolerance): both ends inclusive. */
    knoop_cert_t cert = { .valid_from = 100000, .valid_until = 200000 };
    assert_int_equal(knoop_cert_check_time_skew(&cert, 99999, 0), KNOOP_EEXPIRED);
    assert_int_equal(knoop_cert_check_time_skew(&cert, 100000, 0), KNOOP_OK);
    assert_int_equal(knoop_cert_check_time_skew(&cert, 200000, 0), KNOOP_OK);
    assert_int_equal(knoop_cert_check_time_skew(&cert, 200001, 0), KNOOP_EEXPIRED);
    assert_int_equal(knoop_cert_check_time_skew(&cert, 99999, -5), KNOOP_EEXPIRED);

    /* The daemons' check allows KNOOP_CERT_SKEW_SECONDS at either end. */
    const int64_t skew = KNOOP_CERT_SKEW_SECONDS;
    assert_true(skew >= 60 && skew <= 600);
    /* not yet valid: inside the tolerance accepted, outside refused */
    assert_int_equal(knoop_cert_check_time(&cert, 100000 - 1), KNOOP_OK);
    assert_int_equal(knoop_cert_check_time(&cert, 100000 - skew), KNOOP_OK);
    assert_int_equal(knoop_cert_check_time(&cert, 100000 - skew - 1), KNOOP_EEXPIRED);
    /* expired: likewise */
    assert_int_equal(knoop_cert_check_time(&cert, 200000 + 1), KNOOP_OK);
    assert_int_equal(knoop_cert_check_time(&cert, 200000 + skew), KNOOP_OK);
    assert_int_equal(knoop_cert_check_time(&cert, 200000 + skew + 1), KNOOP_EEXPIRED);
}

/* A client pins a server's usable keys in turn, newest first: after a
 * broker's next key is announced it reaches the broker on either. */
static void test_trust_server_key(void **state)
{
    char *dir = tu_tmpdir("keys-server");
    int64_t now = s_now();
    enum { GONE, OLD, NEXT, REG };
    static const struct { const char *id, *role; int64_t from, until; } w[] = {
        [GONE] = { "kcr2-broker-1", "broker", -30 * DAY, -20 * DAY },
        [OLD] = { "kcr2-broker-1", "broker", -2 * DAY, DAY },
        [NEXT] = { "kcr2-broker-1", "broker", -DAY, DAY },
        [REG] = { "vr-a", "region", -DAY, DAY },
    };
    /* Several keys of an id come from a root, learned over the mesh. */
    knoop_key_t *root = s_root_cert(dir, "kcr2-root"), *k[4];
    char *learned = tu_path(dir, "learned");
    for (size_t i = 0; i < 4; i++) {
        knoop_cert_t c;
        k[i] = s_issued(root, w[i].id, w[i].role, now + w[i].from, now + w[i].until, &c);
        assert_int_equal(knoop_trust_learn_cert(learned, &c), KNOOP_OK);
    }
    knoop_trust_t *t = NULL;
    assert_int_equal(knoop_trust_load_ex(dir, learned, KNOOP_TRUST_KEEP_EXPIRED, &t), KNOOP_OK);
    size_t n = 99;
    const knoop_cert_t *c0 = knoop_trust_server_key(t, "kcr2-broker-1", "broker", now, 0, &n);
    assert_int_equal(n, 2);                     /* the expired one is not usable */
    assert_non_null(c0);
    assert_memory_equal(c0->pk, knoop_key_public(k[NEXT]), KNOOP_PK_LEN);
    const knoop_cert_t *c1 = knoop_trust_server_key(t, "kcr2-broker-1", "broker", now, 1, &n);
    assert_memory_equal(c1->pk, knoop_key_public(k[OLD]), KNOOP_PK_LEN);
    assert_ptr_equal(knoop_trust_server_key(t, "kcr2-broker-1", "broker", now, 2, &n), c0);
    assert_null(knoop_trust_server_key(t, "vr-a", "broker", now, 0, &n));  /* wrong role */
    assert_int_equal(n, 0);
    assert_null(knoop_trust_server_key(t, "nobody", "broker", now, 0, &n));
    knoop_trust_destroy(&t);
    for (size_t i = 0; i < 4; i++)
        knoop_key_destroy(&k[i]);
    knoop_key_destroy(&root);
    free(learned);
    tu_rmtree(dir);
}

/* The tolerance holds where daemons refuse: loading a trust directory and
 * learning an issued certificate, with the reason named outside it. */
static void test_cert_skew_in_store(void **state)
{
    char *dir = tu_tmpdir("keys-skew");
    knoop_key_t *root = s_root_cert(dir, "kcr2-root");
    int64_t now = s_now();
    const int64_t skew = KNOOP_CERT_SKEW_SECONDS;
    /* Four partners at the edges: expired / not yet valid, by 60 s (inside
     * the tolerance) and by the tolerance plus 60 s (outside it). */
    struct { const char *id; int64_t from, until; bool ok; } c[] = {
        { "vr-exp-in",  now - DAY, now - 60,        true },
        { "vr-exp-out", now - DAY, now - skew - 60, false },
        { "vr-fut-in",  now + 60,        now + DAY, true },
        { "vr-fut-out", now + skew + 60, now + DAY, false },
    };
    knoop_key_t *keys[4];
    char why[300];
    knoop_trust_t *t = NULL;
    assert_int_equal(knoop_trust_load(dir, 0, &t), KNOOP_OK);
    for (size_t i = 0; i < 4; i++) {
        knoop_cert_t pc;
        keys[i] = s_issued(root, c[i].id, "region", c[i].from, c[i].until, &pc);
        int rc = knoop_trust_check_issued(t, &pc, now, why, sizeof why);
        assert_int_equal(rc, c[i].ok ? KNOOP_OK : KNOOP_EEXPIRED);
        if (!c[i].ok)
            assert_non_null(strstr(why, i == 1 ? "expired" : "not yet valid"));
        char name[64];
        snprintf(name, sizeof name, "%s.cert", c[i].id);
        char *p = tu_path(dir, name);
        assert_int_equal(knoop_cert_write(&pc, p), KNOOP_OK);
        free(p);
    }
    knoop_trust_destroy(&t);
    assert_int_equal(knoop_trust_load(dir, 0, &t), KNOOP_OK);
    assert_non_null(knoop_trust_by_id(t, "vr-exp-in"));
    assert_null(knoop_trust_by_id(t, "vr-exp-out"));
    assert_non_null(knoop_trust_by_id(t, "vr-fut-in"));
    assert_null(knoop_trust_by_id(t, "vr-fut-out"));
    knoop_trust_destroy(&t);
    for (size_t i = 0; i < 4; i++)
        knoop_key_destroy(&keys[i]);
    knoop_key_destroy(&root);
    tu_rmtree(dir);
}

/* ---- time ---- */

static void test_time_known_values(void **state)
{
    static const struct { const char *text; int64_t t; } cases[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "1969-12-31T23:59:59Z", -1 },
        { "2000-02-29T12:34:56Z", 951827696 },
        { "2026-11-29T00:00:00Z", 1795910400 },
        { "2038-01-19T03:14:08Z", 2147483648LL },
        { "0000-01-01T00:00:00Z", -62167219200LL },
        { "9999-12-31T23:59:59Z", 253402300799LL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = 12345;
        assert_int_equal(knoop_time_parse(cases[i].text, &t), KNOOP_OK);
        assert_int_equal(t, cases[i].t);
        char out[21];
        knoop_time_format(out, cases[i].t);
        assert_string_equal(out, cases[i].text);
    }
}

static void test_time_round_trip(void **state)
{
    unsigned seed = tu_seed();
    srand(seed);
    for (int i = 0; i < 20000; i++) {
        int64_t t = ((int64_t) rand() << 16 ^ rand()) % 253402300800LL;
        if (i & 1)
            t = -t % 62167219200LL;
        char out[21];
        knoop_time_format(out, t);
        int64_t back = 0;
        assert_int_equal(knoop_time_parse(out, &back), KNOOP_OK);
        assert_int_equal(back, t);
    }
    /* Out of range values clamp to what the format holds. */
    char out[21];
    knoop_time_format(out, INT64_MAX);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    knoop_time_format(out, INT64_MIN);
    assert_string_equal(out, "0000-01-01T00:00:00Z");
}

static void test_time_rejects(void **state)
{
    static const char *const bad[] = {
        "", "2026", "2026-11-29", "2026-11-29T00:00:00", "2026-11-29T00:00:00z",
        "2026-11-29t00:00:00Z", "2026-11-29 00:00:00Z", "2026-11-29T00:00:00+00:00",
        "2026-11-29T00:00:00.000Z", "2026-11-29T00:00:00Z ", " 2026-11-29T00:00:00Z",
        "2026-1-29T00:00:00Z", "2026-00-10T00:00:00Z", "2026-13-10T00:00:00Z",
        "2026-11-00T00:00:00Z", "2026-11-31T00:00:00Z", "2025-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z", "2026-11-29T24:00:00Z", "2026-11-29T23:60:00Z",
        "2026-11-29T23:59:60Z", "+026-11-29T00:00:00Z", "2026-11-29T0a:00:00Z",
        "２026-11-29T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = 777;
        if (knoop_time_parse(bad[i], &t) != KNOOP_EMALFORMED)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(t, 777);
    }
    int64_t t;
    assert_int_equal(knoop_time_parse(NULL, &t), KNOOP_EMALFORMED);
    assert_int_equal(knoop_time_parse("2024-02-29T00:00:00Z", &t), KNOOP_OK);
    assert_int_equal(knoop_time_parse("2000-02-29T00:00:00Z", &t), KNOOP_OK);
}

/* ---- trust store ---- */

static void test_trust_lookups(void **state)
{
    char *dir = tu_tmpdir("keys-trust");
    int64_t from = s_now() - DAY, until = s_now() + DAY;
    knoop_key_t *keys[3];
    /* File names in a different order than ids, to see the store sort. */
    keys[0] = s_put_cert(dir, "c.cert", "ws-rijnland", from, until);
    keys[1] = s_put_cert(dir, "a.cert", "vr-utrecht", from, until);
    keys[2] = s_put_cert(dir, "b.cert", "kcr2", from, until);
    s_write_text(dir, "README", "not a cert\n", 0644);
    s_write_text(dir, ".hidden.cert", "editor leftover\n", 0644);
    s_write_text(dir, "x.cert~", "backup\n", 0644);

    knoop_trust_t *trust = NULL;
    assert_int_equal(knoop_trust_load(dir, 0, &trust), KNOOP_OK);
    assert_int_equal(knoop_trust_size(trust), 3);
    assert_string_equal(knoop_trust_at(trust, 0)->id, "kcr2");
    assert_string_equal(knoop_trust_at(trust, 1)->id, "vr-utrecht");
    assert_string_equal(knoop_trust_at(trust, 2)->id, "ws-rijnland");
    assert_null(knoop_trust_at(trust, 3));

    for (int i = 0; i < 3; i++) {
        const char *id = knoop_key_id(keys[i]);
        const knoop_cert_t *c = knoop_trust_by_id(trust, id);
        assert_non_null(c);
        assert_string_equal(c->id, id);
        assert_memory_equal(c->pk, knoop_key_public(keys[i]), KNOOP_PK_LEN);
        assert_ptr_equal(knoop_trust_by_sign(trust, knoop_key_public(keys[i])), c);
        uint8_t curve[KNOOP_CURVE_LEN];
        knoop_key_curve(keys[i], curve, NULL);
        assert_ptr_equal(knoop_trust_by_curve(trust, curve), c);
    }
    assert_null(knoop_trust_by_id(trust, "vr-zeeland"));
    assert_null(knoop_trust_by_id(trust, ""));
    knoop_key_t *stranger = tu_key("vr-zeeland", "region");
    uint8_t curve[KNOOP_CURVE_LEN];
    knoop_key_curve(stranger, curve, NULL);
    assert_null(knoop_trust_by_sign(trust, knoop_key_public(stranger)));
    assert_null(knoop_trust_by_curve(trust, curve));
    /* The signing key is not accepted where the curve key is asked, and
     * the other way round. */
    knoop_key_curve(keys[0], curve, NULL);
    assert_null(knoop_trust_by_sign(trust, curve));
    assert_null(knoop_trust_by_curve(trust, knoop_key_public(keys[0])));

    knoop_trust_destroy(&trust);
    assert_null(trust);
    knoop_trust_destroy(&trust);
    knoop_key_destroy(&stranger);
    for (int i = 0; i < 3; i++)
        knoop_key_destroy(&keys[i]);
    tu_rmtree(dir);
}

static void test_trust_empty_and_missing(void **state)
{
    char *dir = tu_tmpdir("keys-trust-empty");
    knoop_trust_t *trust = NULL;
    assert_int_equal(knoop_trust_load(dir, 0, &trust), KNOOP_OK);
    assert_int_equal(knoop_trust_size(trust), 0);
    assert_null(knoop_trust_by_id(trust, "kcr2"));
    assert_null(knoop_trust_at(trust, 0));
    knoop_trust_destroy(&trust);
    char *missing = tu_path(dir, "nope");
    assert_int_equal(knoop_trust_load(missing, 0, &trust), KNOOP_ENOTFOUND);
    assert_null(trust);
    free(missing);
    tu_rmtree(dir);
}

static void test_trust_validity(void **state)
{
    char *dir = tu_tmpdir("keys-trust-time");
    int64_t now = s_now();
    knoop_key_t *valid = s_put_cert(dir, "valid.cert", "vr-utrecht", now - DAY, now + DAY);
    knoop_key_t *expired = s_put_cert(dir, "expired.cert", "vr-oud", now - 10 * DAY, now - DAY);
    knoop_key_t *future = s_put_cert(dir, "future.cert", "vr-nieuw", now + DAY, now + 10 * DAY);

    knoop_trust_t *trust = NULL;
    char *log;
    assert_int_equal(s_trust_load_logged(dir, &trust, &log), KNOOP_OK);
    assert_int_equal(knoop_trust_size(trust), 1);
    assert_non_null(knoop_trust_by_id(trust, "vr-utrecht"));
    assert_null(knoop_trust_by_id(trust, "vr-oud"));
    assert_null(knoop_trust_by_id(trust, "vr-nieuw"));
    assert_null(knoop_trust_by_sign(trust, knoop_key_public(expired)));
    /* One WARN per skipped file, naming it. */
    char *line = strstr(log, "expired.cert");
    assert_non_null(line);
    assert_non_null(strstr(log, "future.cert"));
    assert_null(strstr(log, "valid.cert"));
    assert_non_null(strstr(log, "WARN"));
    free(log);
    knoop_trust_destroy(&trust);

    /* Auditors keep them, to check old signatures. */
    assert_int_equal(knoop_trust_load(dir, KNOOP_TRUST_KEEP_EXPIRED, &trust), KNOOP_OK);
    assert_int_equal(knoop_trust_size(trust), 3);
    const knoop_cert_t *old = knoop_trust_by_id(trust, "vr-oud");
    assert_non_null(old);
    assert_int_equal(knoop_cert_check_time(old, now), KNOOP_EEXPIRED);
    assert_ptr_equal(knoop_trust_by_sign(trust, knoop_key_public(expired)), old);
    assert_non_null(knoop_trust_by_id(trust, "vr-nieuw"));
    knoop_trust_destroy(&trust);

    knoop_key_destroy(&valid);
    knoop_key_destroy(&expired);
    knoop_key_destroy(&future);
    tu_rmtree(dir);
}

static void test_trust_duplicate_id(void **state)
{
    char *dir = tu_tmpdir("keys-trust-dupid");
    int64_t now = s_now();
    knoop_key_t *a = s_put_cert(dir, "one.cert", "vr-utrecht", now - DAY, now + DAY);
    knoop_key_t *b = s_put_cert(dir, "two.cert", "vr-utrecht", now - DAY, now + DAY);
    knoop_key_t *c = s_put_cert(dir, "three.cert", "kcr2", now - DAY, now + DAY);
    s_trust_refused(dir, KNOOP_EDUPLICATE,
                    (const char *const[]) { "ERROR", "one.cert", "two.cert", NULL });
    knoop_key_destroy(&a);
    knoop_key_destroy(&b);
    knoop_key_destroy(&c);
    tu_rmtree(dir);
}

static void test_trust_same_key_two_ids(void **state)
{
    char *dir = tu_tmpdir("keys-trust-dupkey");
    int64_t now = s_now();
    knoop_key_t *key = s_put_cert(dir, "vr-utrecht.cert", "vr-utrecht", now - DAY, now + DAY);
    char *text = s_cert_text(key, "vr-zeeland", now - DAY, now + DAY);
    s_write_text(dir, "vr-zeeland.cert", text, 0644);
    free(text);
    s_trust_refused(dir, KNOOP_EDUPLICATE,
                    (const char *const[]) { "vr-utrecht.cert", "vr-zeeland.cert", NULL });
    knoop_trust_t *trust = NULL;

    /* An expired duplicate is not trusted, so it makes nothing ambiguous;
     * an auditor who keeps expired certs gets the refusal. */
    text = s_cert_text(key, "vr-zeeland", now - 10 * DAY, now - DAY);
    s_write_text(dir, "vr-zeeland.cert", text, 0644);
    free(text);
    assert_int_equal(knoop_trust_load(dir, 0, &trust), KNOOP_OK);
    assert_int_equal(knoop_trust_size(trust), 1);
    knoop_trust_destroy(&trust);
    assert_int_equal(knoop_trust_load(dir, KNOOP_TRUST_KEEP_EXPIRED, &trust),
                     KNOOP_EDUPLICATE);
    knoop_key_destroy(&key);
    tu_rmtree(dir);
}

static void test_trust_malformed(void **state)
{
    char *dir = tu_tmpdir("keys-trust-bad");
    int64_t now = s_now();
    knoop_key_t *a = s_put_cert(dir, "a.cert", "vr-utrecht", now - DAY, now + DAY);
    s_write_text(dir, "broken.cert", "[cert]\nid = vr-zeeland\n", 0644);
    s_trust_refused(dir, KNOOP_EMALFORMED, (const char *const[]) { "broken.cert", "ERROR", NULL });
    /* An expired cert that does not parse still fails the load: we cannot
     * know it is expired. */
    knoop_key_destroy(&a);
    tu_rmtree(dir);
}

/* ---- roots, issued certificates, revocation lists ---- */

#define PASS "correct horse battery staple"

/* A root saved sealed into dir (the caller destroys it), and its
 * self-signed certificate as saved, loaded back from DIR/ID.cert into
 * *cert. */
static knoop_key_t *s_root(const char *dir, const char *id, knoop_cert_t *cert)
{
    knoop_key_t *root = tu_key(id, KNOOP_ROLE_ROOT);
    assert_non_null(root);
    assert_int_equal(knoop_key_save_sealed(root, dir, PASS, strlen(PASS),
                                           KNOOP_PWCOST_INTERACTIVE, s_now() - DAY,
                                           s_now() + 100 * DAY), KNOOP_OK);
    char name[KNOOP_ID_MAX + 8];
    snprintf(name, sizeof name, "%s.cert", id);
    char *path = tu_path(dir, name);
    assert_int_equal(knoop_cert_load(path, cert), KNOOP_OK);
    free(path);
    return root;
}

static void test_root_sealed(void **state)
{
    char *dir = tu_tmpdir("keys-root");
    knoop_cert_t rc;
    knoop_key_t *root = s_root(dir, "kcr2-root", &rc);
    char *path = tu_path(dir, "kcr2-root.key");
    assert_int_equal(s_mode(dir, "kcr2-root.key"), 0600);
    /* No plain seed field: the seed is only inside the box. */
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_null(strstr(text, "\nseed"));
    free(text);
    knoop_key_t *k = NULL;
    assert_int_equal(knoop_key_load_sealed(path, PASS, strlen(PASS), &k), KNOOP_OK);
    assert_memory_equal(knoop_key_public(k), knoop_key_public(root), KNOOP_PK_LEN);
    assert_string_equal(knoop_key_role(k), KNOOP_ROLE_ROOT);
    knoop_key_destroy(&k);
    /* Wrong passphrase, and the plain loader: both refuse. */
    assert_int_equal(knoop_key_load_sealed(path, "wrong", 5, &k), KNOOP_ESIG);
    assert_null(k);
    assert_int_equal(knoop_key_load(path, &k), KNOOP_EPERM);
    /* One flipped digit of the box: refused like a wrong passphrase. */
    text = tu_read_file(path, &len);
    char *box = strstr(text, "box = ");
    assert_non_null(box);
    box[8] = box[8] == '0' ? '1' : '0';
    s_write(dir, "kcr2-root.key", text, len, 0600);
    assert_int_equal(knoop_key_load_sealed(path, PASS, strlen(PASS), &k), KNOOP_ESIG);
    free(text);
    /* Readable by others: refused before the passphrase is tried. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(knoop_key_load_sealed(path, PASS, strlen(PASS), &k), KNOOP_EPERM);
    /* The root cert is self-signed and verifies against itself. */
    assert_true(knoop_cert_is_root(&rc));
    assert_int_equal(knoop_cert_verify(&rc, &rc), KNOOP_OK);
    free(path);
    knoop_key_destroy(&root);
    tu_rmtree(dir);
}

static void test_issue_verify(void **state)
{
    char *dir = tu_tmpdir("keys-issue");
    knoop_cert_t rootc, c, d;
    knoop_key_t *root = s_root(dir, "kcr2-root", &rootc);
    knoop_key_t *other = tu_key("other-root", KNOOP_ROLE_ROOT);
    knoop_key_t *p = tu_key("vr-utrecht", "region");
    assert_int_equal(knoop_key_cert(p, s_now() - DAY, s_now() + DAY, &c), KNOOP_OK);
    assert_int_equal(knoop_cert_verify(&c, &rootc), KNOOP_EUNKNOWN);   /* not issued */
    /* Only a root key issues. */
    assert_int_equal(knoop_cert_issue(&c, p), KNOOP_EINVAL);
    assert_int_equal(knoop_cert_issue(&c, root), KNOOP_OK);
    assert_int_equal(knoop_cert_verify(&c, &rootc), KNOOP_OK);
    /* Through the file form and back. */
    knoop_buf_t buf = { 0 };
    assert_int_equal(knoop_cert_format(&c, &buf), KNOOP_OK);
    assert_int_equal(knoop_cert_parse((const char *) buf.data, buf.len, "t", &d), KNOOP_OK);
    assert_int_equal(knoop_cert_verify(&d, &rootc), KNOOP_OK);
    assert_string_equal(d.issuer, "kcr2-root");
    /* Any signed field changed: the signature fails. */
    d.valid_until += 1;
    assert_int_equal(knoop_cert_verify(&d, &rootc), KNOOP_ESIG);
    d = c;
    snprintf(d.role, sizeof d.role, "national");
    assert_int_equal(knoop_cert_verify(&d, &rootc), KNOOP_ESIG);
    /* Issued by another root: unknown issuer for this one. */
    d = c;
    assert_int_equal(knoop_cert_issue(&d, other), KNOOP_OK);
    assert_int_equal(knoop_cert_verify(&d, &rootc), KNOOP_EUNKNOWN);
    /* Only some of the issuer fields: malformed. */
    buf.len = 0;
    assert_int_equal(knoop_cert_format(&c, &buf), KNOOP_OK);
    char *text = strndup((const char *) buf.data, buf.len);
    *strstr(text, "signature = ") = '\0';
    assert_int_equal(knoop_cert_parse(text, strlen(text), "t", &d), KNOOP_EMALFORMED);
    free(text);
    knoop_buf_free(&buf);
    knoop_key_destroy(&root);
    knoop_key_destroy(&other);
    knoop_key_destroy(&p);
    tu_rmtree(dir);
}

static void test_revlist(void **state)
{
    char *dir = tu_tmpdir("keys-rev");
    knoop_cert_t rootc, c;
    knoop_key_t *root = s_root(dir, "kcr2-root", &rootc);
    knoop_key_t *p = tu_key("vr-x", "region");
    assert_int_equal(knoop_key_cert(p, s_now() - DAY, s_now() + DAY, &c), KNOOP_OK);
    knoop_revlist_t *l = NULL;
    assert_int_equal(knoop_revlist_new("Not-an-id", &l), KNOOP_EINVAL);
    assert_null(l);
    assert_int_equal(knoop_revlist_new("kcr2-root", &l), KNOOP_OK);
    assert_int_equal(knoop_revlist_add(l, NULL, NULL, 5, "x"), KNOOP_EINVAL);
    assert_int_equal(knoop_revlist_add(l, "vr-x", NULL, 0, "x"), KNOOP_EINVAL);
    assert_int_equal(knoop_revlist_add(l, "vr-x", NULL, 1000, "bad\nreason"), KNOOP_EINVAL);
    assert_int_equal(knoop_revlist_add(l, "vr-x", NULL, 2000000000, "key lost"), KNOOP_OK);
    assert_int_equal(knoop_revlist_sign(l, root), KNOOP_OK);
    assert_int_equal(knoop_revlist_number(l), 1);
    assert_int_equal(knoop_revlist_verify(l, &rootc), KNOOP_OK);
    assert_int_equal(knoop_revlist_revoked_at(l, &c), 2000000000);
    knoop_buf_t buf = { 0 };
    assert_int_equal(knoop_revlist_format(l, &buf), KNOOP_OK);
    knoop_revlist_t *m = NULL;
    assert_int_equal(knoop_revlist_parse((const char *) buf.data, buf.len, "t", &m), KNOOP_OK);
    assert_int_equal(knoop_revlist_verify(m, &rootc), KNOOP_OK);
    assert_int_equal(knoop_revlist_size(m), 1);
    assert_string_equal(knoop_revlist_at(m, 0)->reason, "key lost");
    knoop_revlist_destroy(&m);
    /* Tampered: a revocation removed or the number lowered. */
    char *text = strndup((const char *) buf.data, buf.len);
    char *num = strstr(text, "number 1");
    num[7] = '7';
    assert_int_equal(knoop_revlist_parse(text, strlen(text), "t", &m), KNOOP_OK);
    assert_int_equal(knoop_revlist_verify(m, &rootc), KNOOP_ESIG);
    knoop_revlist_destroy(&m);
    free(text);
    assert_int_equal(knoop_revlist_parse("knoop-revocations-v1\nissuer x\n", 30, "t", &m),
                     KNOOP_EMALFORMED);
    /* Applied by the trust store from a learned directory. */
    char *trust = tu_tmpdir("keys-rev-trust");
    char *learned = tu_path(trust, "learned");
    char *rcopy = tu_path(trust, "kcr2-root.cert");
    assert_int_equal(knoop_cert_write(&rootc, rcopy), KNOOP_OK);
    assert_int_equal(knoop_cert_issue(&c, root), KNOOP_OK);
    assert_int_equal(knoop_trust_learn_cert(learned, &c), KNOOP_OK);
    assert_int_equal(knoop_trust_learn_cert(learned, &c), KNOOP_EEXIST);
    knoop_trust_t *t = NULL;
    assert_int_equal(knoop_trust_load_ex(trust, learned, 0, &t), KNOOP_OK);
    assert_int_equal(knoop_trust_roots(t), 1);
    assert_non_null(knoop_trust_by_id(t, "vr-x"));
    assert_int_equal(knoop_trust_by_id(t, "vr-x")->revoked_at, 0);
    knoop_trust_destroy(&t);
    assert_int_equal(knoop_trust_learn_revocations(learned, l), KNOOP_OK);
    assert_int_equal(knoop_trust_load_ex(trust, learned, 0, &t), KNOOP_OK);
    const knoop_cert_t *x = knoop_trust_by_id(t, "vr-x");
    assert_non_null(x);
    assert_int_equal(x->revoked_at, 2000000000);
    assert_false(knoop_cert_revoked(x, 1999999999));
    assert_true(knoop_cert_revoked(x, 2000000000));
    assert_int_equal(knoop_trust_revocation_number(t), 1);
    char why[300];
    assert_int_equal(knoop_trust_check_revocations(t, l, why, sizeof why), KNOOP_OK);
    knoop_trust_destroy(&t);
    free(rcopy);
    free(learned);
    tu_rmtree(trust);
    knoop_buf_free(&buf);
    knoop_revlist_destroy(&l);
    knoop_key_destroy(&root);
    knoop_key_destroy(&p);
    tu_rmtree(dir);
}

static void test_trust_roots(void **state)
{
    char *dir = tu_tmpdir("keys-roots");
    char *keys = tu_tmpdir("keys-roots-k");
    knoop_cert_t rootc, c, e;
    knoop_key_t *root = s_root(keys, "kcr2-root", &rootc);
    knoop_key_t *other = tu_key("other-root", KNOOP_ROLE_ROOT);
    char *rcopy = tu_path(dir, "kcr2-root.cert");
    assert_int_equal(knoop_cert_write(&rootc, rcopy), KNOOP_OK);
    knoop_key_t *p = s_issued(root, "vr-a", "region", s_now() - DAY, s_now() + DAY, &c);
    char *ppath = tu_path(dir, "vr-a.cert");
    assert_int_equal(knoop_cert_write(&c, ppath), KNOOP_OK);
    knoop_trust_t *t = NULL;
    assert_int_equal(knoop_trust_load(dir, 0, &t), KNOOP_OK);
    assert_int_equal(knoop_trust_roots(t), 1);
    assert_int_equal(knoop_trust_size(t), 1);       /* the root is not a partner */
    char why[300];
    /* check_issued: the reasons a mesh-learned certificate is refused. */
    e = c;
    assert_int_equal(knoop_trust_check_issued(t, &e, s_now(), why, sizeof why), KNOOP_OK);
    assert_int_equal(knoop_trust_check_issued(t, &e, s_now() + 2 * DAY, why, sizeof why),
                     KNOOP_EEXPIRED);
    assert_non_null(strstr(why, "expired"));
    assert_int_equal(knoop_cert_issue(&e, other), KNOOP_OK);
    assert_int_equal(knoop_trust_check_issued(t, &e, s_now(), why, sizeof why), KNOOP_EUNKNOWN);
    assert_non_null(strstr(why, "other-root"));
    e = c;
    e.valid_until -= 1;
    assert_int_equal(knoop_trust_check_issued(t, &e, s_now(), why, sizeof why), KNOOP_ESIG);
    e = c;
    snprintf(e.role, sizeof e.role, "%s", KNOOP_ROLE_ROOT);
    assert_int_equal(knoop_trust_check_issued(t, &e, s_now(), why, sizeof why), KNOOP_EPERM);
    knoop_trust_destroy(&t);
    /* An issued cert whose root is not in the directory fails the load. */
    unlink(rcopy);
    assert_int_equal(knoop_trust_load(dir, 0, &t), KNOOP_EUNKNOWN);
    assert_null(t);
    free(rcopy);
    free(ppath);
    knoop_key_destroy(&root);
    knoop_key_destroy(&other);
    knoop_key_destroy(&p);
    tu_rmtree(dir);
    tu_rmtree(keys);
}

/* knoop_trust_refresh walks the directories only when its watch saw a
 * change (or at the first call): unchanged, it does not stat a thousand
 * files five times a second. Each kind of change is still seen at once:
 * a new file, a file rewritten in place, one removed, and the learned
 * directory made after the first call. */
static void test_trust_watch(void **state)
{
    (void) state;
    char *dir = tu_tmpdir("trustwatch");
    char *data = tu_tmpdir("trustwatch-data");
    char *learned = tu_path(data, "trust");       /* not made yet */
    knoop_key_t *a = s_put_cert(dir, "vr-utrecht.cert", "vr-utrecht", s_now() - DAY,
                                s_now() + DAY);
    knoop_trust_watch_t w = { 0 };
    knoop_trust_t *t = NULL;
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 1);
    assert_int_equal(knoop_trust_size(t), 1);
    assert_true(w.armed);                         /* the parent of learned is watched */
    uint64_t walked = w.walked_at;
    usleep(20000);
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 0);
    assert_true(w.walked_at == walked);           /* no change: no walk */

    knoop_key_t *b = s_put_cert(dir, "vr-zeeland.cert", "vr-zeeland", s_now() - DAY,
                                s_now() + DAY);
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 1);
    assert_int_equal(knoop_trust_size(t), 2);
    assert_non_null(knoop_trust_by_id(t, "vr-zeeland"));

    /* rewritten in place with another key: the same name */
    knoop_key_t *b2 = s_put_cert(dir, "vr-zeeland.cert", "vr-zeeland", s_now() - DAY,
                                 s_now() + DAY);
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 1);
    assert_memory_equal(knoop_trust_by_id(t, "vr-zeeland")->pk, knoop_key_public(b2),
                        KNOOP_PK_LEN);

    /* the learned directory made, with a certificate in it (a store takes
     * from it only what a root it trusts issued: here the walk, seeing a
     * change, loads again and the store stays as it was) */
    knoop_key_t *c = tu_key("ws-rijnland", "waterschap");
    knoop_cert_t cert;
    assert_int_equal(knoop_key_cert(c, s_now() - DAY, s_now() + DAY, &cert), KNOOP_OK);
    assert_int_equal(knoop_trust_learn_cert(learned, &cert), KNOOP_OK);
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 1);
    assert_int_equal(knoop_trust_size(t), 2);
    assert_true(w.armed);                         /* learned itself now */
    walked = w.walked_at;
    usleep(20000);
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 0);
    assert_true(w.walked_at == walked);

    /* removed */
    char *path = tu_path(dir, "vr-utrecht.cert");
    assert_int_equal(unlink(path), 0);
    free(path);
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 1);
    assert_null(knoop_trust_by_id(t, "vr-utrecht"));

    /* a forced walk (stamp 0) loads again */
    w.stamp = 0;
    assert_int_equal(knoop_trust_refresh(NULL, dir, learned, &w, &t), 1);
    knoop_trust_watch_close(&w);
    assert_false(w.armed);
    knoop_trust_destroy(&t);
    knoop_key_destroy(&a);
    knoop_key_destroy(&b);
    knoop_key_destroy(&b2);
    knoop_key_destroy(&c);
    tu_rmtree(dir);
    tu_rmtree(data);
    free(learned);
}

int main(void)
{
    if (knoop_crypto_init() != KNOOP_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_validates),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sign_verify_loaded),
        cmocka_unit_test(test_key_mode_0600_whatever_umask),
        cmocka_unit_test(test_key_load_refuses_open_modes),
        cmocka_unit_test(test_save_refuses_overwrite),
        cmocka_unit_test(test_key_load_rejects_bad_files),
        cmocka_unit_test(test_cert_rejects_bad_files),
        cmocka_unit_test(test_cert_format_refuses_injection),
        cmocka_unit_test(test_cert_check_time),
        cmocka_unit_test(test_cert_skew_in_store),
        cmocka_unit_test(test_trust_server_key),
        cmocka_unit_test(test_time_known_values),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_time_rejects),
        cmocka_unit_test(test_trust_lookups),
        cmocka_unit_test(test_trust_empty_and_missing),
        cmocka_unit_test(test_trust_validity),
        cmocka_unit_test(test_trust_duplicate_id),
        cmocka_unit_test(test_trust_same_key_two_ids),
        cmocka_unit_test(test_trust_malformed),
        cmocka_unit_test(test_root_sealed),
        cmocka_unit_test(test_issue_verify),
        cmocka_unit_test(test_revlist),
        cmocka_unit_test(test_trust_roots),
        cmocka_unit_test(test_trust_watch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
