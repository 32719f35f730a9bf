/* keys.c — partner identity keys, certificates and the trust store. See keys.h.
 *
 * Both file formats are INI text parsed by inih; this file only decides what
 * the fields mean. Every file is read whole into one bounded buffer through
 * the descriptor whose mode was checked (no stat-then-open race), parsed
 * with ini_parse_string, and the buffer is wiped afterwards: a key file's
 * bytes never linger in a stdio buffer.
 */
#include "keys.h"
#include "file.h"
#include "topic.h"

#include <ini.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Our files are a few hundred bytes; anything near this is not one of them. */
#define KEYS_FILE_MAX   4096
/* Longest field value we accept (a signature in hex is 128). */
#define KEYS_VALUE_MAX  130
/* Revocation lists: bounded so a damaged one cannot exhaust memory. */
#define REVLIST_MAX_ENTRIES 4096
#define REVLIST_REASON_MAX  200
#define REVLIST_TEXT_MAX    (REVLIST_MAX_ENTRIES * 320 + 1024)

struct knoop_key_t {
    char    id[KNOOP_ID_MAX + 1];
    char    role[KNOOP_ROLE_MAX + 1];
    uint8_t seed[KNOOP_SEED_LEN];         /* the secret a key file holds */
    uint8_t pk[KNOOP_PK_LEN];
    uint8_t sk[KNOOP_SK_LEN];             /* expanded from seed */
};

struct knoop_trust_t {
    knoop_cert_t *certs;                  /* sorted by id */
    size_t        size;
    knoop_cert_t *roots;                  /* trust anchors (role root, self-signed) */
    size_t        nroots;
    uint64_t      revocations;            /* number of the revocation list applied; 0 none */
};

/* ------------------------------------------------------------------ */
/* small helpers */

bool knoop_role_valid(const char *role)
{
    return knoop_name_valid(role, KNOOP_ROLE_MAX);
}

/* Copy text from a file into a log-safe form: a name from a damaged or
 * hostile file must not be able to forge log lines or terminal escapes. */
static void s_printable(char *out, size_t size, const char *text)
{
    size_t n = 0;
    for (; *text && n + 1 < size; text++)
        out[n++] = (*text >= 0x20 && *text < 0x7f) ? *text : '?';
    out[n] = '\0';
}

/* Copy a validated string into a fixed field (truncating, never overflowing). */
static void s_copy(char *dst, size_t size, const char *src)
{
    size_t len = strnlen(src, size - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int s_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/* A whole key or certificate file (file.h; with `secret`, refused when
 * group or others may access it, as ssh does: a key that others could read
 * must be treated as leaked, and loading it quietly would hide that) into
 * text, NUL-terminated; at most size - 1 bytes. Logs the cause. Reads
 * only: the loaders that check what it read with the crypto library start
 * the library themselves. */
static int s_load_text(const char *path, bool secret, char *text, size_t size)
{
    knoop_buf_t buf = { 0 };
    char why[200];
    int rc = knoop_file_read(path, size - 1,
                             KNOOP_FILE_TEXT | (secret ? KNOOP_FILE_SECRET : 0u), &buf,
                             why, sizeof why);
    if (rc == KNOOP_OK) {
        memcpy(text, buf.data, buf.len + 1);
    } else if (rc == KNOOP_ETOOBIG || rc == KNOOP_EMALFORMED) {
        knoop_error("%s: %s; not a knooppunt key or cert file", path, why);
        rc = KNOOP_EMALFORMED;
    } else if (secret && rc == KNOOP_EPERM && strncmp(why, "permissions", 11) == 0) {
        knoop_warn("%s: %s", path, why);      /* like ssh: a warning naming the mode */
    } else {
        knoop_error("%s: %s", path, why);
    }
    if (buf.data)
        knoop_wipe(buf.data, buf.cap);
    knoop_buf_free(&buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* INI fields: one table per file kind; values are copied, checked after. */

typedef struct {
    const char *section;                  /* the one section the file may have */
    const char *const *names;             /* field names, NULL-terminated */
    unsigned    optional;                 /* bit i: names[i] may be absent */
    char        values[12][KEYS_VALUE_MAX + 1];
    unsigned    seen;                     /* bit i: names[i] was given */
    char        why[160];                 /* first problem, for the log */
} s_fields_t;

static const char *const s_key_names[] = { "id", "role", "seed", NULL };
enum { KEY_ID, KEY_ROLE, KEY_SEED };
/* A root key at rest: the seed sealed under a passphrase (crypto.h). */
static const char *const s_sealed_names[] = {
    "id", "role", "public-key", "ops", "mem", "salt", "nonce", "box", NULL
};
enum { SEAL_ID, SEAL_ROLE, SEAL_PK, SEAL_OPS, SEAL_MEM, SEAL_SALT, SEAL_NONCE, SEAL_BOX };
static const char *const s_cert_names[] = {
    "id", "role", "public-key", "curve-key", "valid-from", "valid-until",
    "issuer", "issuer-key", "signature", NULL
};
enum { CERT_ID, CERT_ROLE, CERT_PK, CERT_CURVE, CERT_FROM, CERT_UNTIL,
       CERT_ISSUER, CERT_ISSUER_PK, CERT_SIG, CERT_FIELDS };
/* Unsigned certificates (pinned by being in a trust directory) have no
 * issuer fields; issued ones have all three. */
#define CERT_OPTIONAL ((1u << CERT_ISSUER) | (1u << CERT_ISSUER_PK) | (1u << CERT_SIG))

/* inih handler. Never puts a value in `why`: in a key file it may be the
 * secret. Unknown sections or fields, and any field given twice (which is
 * also how inih reports a continuation line), are errors: a security file
 * that says more than we understand is not silently half-read. */
static int s_field(void *user, const char *section, const char *name, const char *value)
{
    s_fields_t *f = user;
    char shown[40];
    if (strcmp(section, f->section) != 0) {
        s_printable(shown, sizeof shown, section);
        if (!f->why[0])
            snprintf(f->why, sizeof f->why, "field outside the [%s] section (in [%s])",
                     f->section, shown);
        return 0;
    }
    for (unsigned i = 0; f->names[i]; i++) {
        if (strcmp(name, f->names[i]) != 0)
            continue;
        if (f->seen & (1u << i)) {
            if (!f->why[0])
                snprintf(f->why, sizeof f->why, "field '%s' given twice", f->names[i]);
            return 0;
        }
        size_t len = strlen(value);
        if (len > KEYS_VALUE_MAX) {
            if (!f->why[0])
                snprintf(f->why, sizeof f->why, "field '%s' too long", f->names[i]);
            return 0;
        }
        memcpy(f->values[i], value, len + 1);
        f->seen |= 1u << i;
        return 1;
    }
    s_printable(shown, sizeof shown, name);
    if (!f->why[0])
        snprintf(f->why, sizeof f->why, "unknown field '%s'", shown);
    return 0;
}

/* Parse text into f; on failure log "path: reason" and return an error. */
static int s_parse(const char *text, s_fields_t *f, const char *path)
{
    /* inih reads lines into a fixed buffer and parses the rest of a longer
     * line as a line of its own: text hidden at the end of a long comment
     * would become a field. No line of ours comes near the limit. */
    int lineno = 1;
    for (const char *p = text; *p; lineno++) {
        size_t len = strcspn(p, "\n");
        if (len > INI_MAX_LINE - 3) {
            knoop_error("%s: line %d is longer than %d characters", path, lineno,
                        INI_MAX_LINE - 3);
            return KNOOP_EMALFORMED;
        }
        p += len;
        if (*p)
            p++;
    }
    int line = ini_parse_string(text, s_field, f);
    if (line == -2)
        return KNOOP_ENOMEM;
    if (line != 0) {
        if (f->why[0])
            knoop_error("%s: line %d: %s", path, line, f->why);
        else
            knoop_error("%s: line %d: not INI syntax", path, line);
        return KNOOP_EMALFORMED;
    }
    for (unsigned i = 0; f->names[i]; i++)
        if (!(f->seen & (1u << i)) && !(f->optional & (1u << i))) {
            knoop_error("%s: [%s] lacks field '%s'", path, f->section, f->names[i]);
            return KNOOP_EMALFORMED;
        }
    return KNOOP_OK;
}

/* Exactly `len` bytes of hex, else KNOOP_EMALFORMED. */
static int s_hex_exact(uint8_t *out, size_t len, const char *hex)
{
    if (strlen(hex) != 2 * len)
        return KNOOP_EMALFORMED;
    long n = knoop_hex_decode(out, len, hex);
    return n == (long) len ? KNOOP_OK : KNOOP_EMALFORMED;
}

/* ------------------------------------------------------------------ */
/* keys */

/* A key from a seed (NULL: a fresh random one). id and role are valid. */
static knoop_key_t *s_key_new(const char *id, const char *role,
                              const uint8_t seed[KNOOP_SEED_LEN])
{
    knoop_key_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    s_copy(self->id, sizeof self->id, id);
    s_copy(self->role, sizeof self->role, role);
    if (seed) {
        memcpy(self->seed, seed, KNOOP_SEED_LEN);
        knoop_sign_seed_keypair(self->pk, self->sk, self->seed);
    }
    else
        knoop_sign_keypair(self->pk, self->sk, self->seed);
    return self;
}

int knoop_key_generate(const char *id, const char *role, knoop_key_t **out)
{
    *out = NULL;
    if (!knoop_id_valid(id) || !knoop_role_valid(role))
        return KNOOP_EINVAL;
    int rc = knoop_crypto_init();
    if (rc)
        return rc;
    *out = s_key_new(id, role, NULL);
    return *out ? KNOOP_OK : KNOOP_ENOMEM;
}

void knoop_key_destroy(knoop_key_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    knoop_wipe(*self_p, sizeof **self_p);
    free(*self_p);
    *self_p = NULL;
}

const char *knoop_key_id(const knoop_key_t *self)        { return self->id; }
const char *knoop_key_role(const knoop_key_t *self)      { return self->role; }
const uint8_t *knoop_key_public(const knoop_key_t *self) { return self->pk; }
const uint8_t *knoop_key_secret(const knoop_key_t *self) { return self->sk; }

void knoop_key_curve(const knoop_key_t *self, uint8_t pk[KNOOP_CURVE_LEN],
                     uint8_t sk[KNOOP_CURVE_LEN])
{
    /* Either output may be NULL when the caller needs only the other. Our
     * own public key always converts: it came from a seed. */
    if (pk && knoop_curve_from_sign_pk(pk, self->pk) != KNOOP_OK)
        memset(pk, 0, KNOOP_CURVE_LEN);
    if (sk)
        knoop_curve_from_sign_sk(sk, self->sk);
}

/* The key file text, into a caller buffer that the caller wipes. */
static int s_key_text(const knoop_key_t *self, char *out, size_t size)
{
    char seed_hex[2 * KNOOP_SEED_LEN + 1];
    char fp[17];
    knoop_hex_encode(seed_hex, self->seed, KNOOP_SEED_LEN);
    knoop_fingerprint(fp, self->pk, KNOOP_PK_LEN);
    int n = snprintf(out, size,
        "# knooppunt partner identity key -- SECRET.\n"
        "# Whoever holds this file can sign and connect as %s: keep it mode 0600\n"
        "# on the partner's node only; never copy, mail or commit it.\n"
        "# The public half is %s.cert (fingerprint %s).\n"
        "[key]\n"
        "id = %s\n"
        "role = %s\n"
        "seed = %s\n",
        self->id, self->id, fp, self->id, self->role, seed_hex);
    knoop_wipe(seed_hex, sizeof seed_hex);
    return (n < 0 || (size_t) n >= size) ? KNOOP_ETOOBIG : n;
}

/* The cert this key makes for the given validity. */
static int s_key_cert(const knoop_key_t *self, int64_t valid_from, int64_t valid_until,
                      knoop_cert_t *cert)
{
    memset(cert, 0, sizeof *cert);
    s_copy(cert->id, sizeof cert->id, self->id);
    s_copy(cert->role, sizeof cert->role, self->role);
    memcpy(cert->pk, self->pk, KNOOP_PK_LEN);
    if (knoop_curve_from_sign_pk(cert->curve_pk, self->pk) != KNOOP_OK)
        return KNOOP_EINVAL;
    cert->valid_from = valid_from;
    cert->valid_until = valid_until;
    return KNOOP_OK;
}

/* Write a new file's contents durably and close it; 0 or an errno value.
 * With `secret`, first make its mode exactly 0600. Closes fd either way. */
static int s_fill(int fd, const void *data, size_t len, bool secret)
{
    int e = 0;
    if (len == 0)
        e = EINVAL;
    else if ((secret && fchmod(fd, 0600) != 0) || s_write_all(fd, data, len) != 0
             || fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    return e;
}

static int s_fsync_dir(int dirfd)
{
    /* The new names must survive a crash, not just the bytes behind them. */
    return fsync(dirfd) == 0 || errno == EINVAL ? 0 : -1;
}

/* Create name in dirfd (dir, for the log; NULL when name is a whole path
 * and dirfd AT_FDCWD) for writing, refusing one that exists: O_EXCL also
 * refuses to follow a planted symlink. */
static int s_create(int dirfd, const char *dir, const char *name, mode_t mode, int *fd)
{
    *fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (*fd >= 0)
        return KNOOP_OK;
    int e = errno;
    const char *sep = dir ? "/" : "";
    if (!dir)
        dir = "";
    if (e == EEXIST)
        knoop_error("%s%s%s already exists; refusing to overwrite", dir, sep, name);
    else
        knoop_error("%s%s%s: cannot create: %s", dir, sep, name, strerror(e));
    return e == EEXIST ? KNOOP_EEXIST : knoop_err_from_errno(e);
}

int knoop_key_save(const knoop_key_t *self, const char *dir,
                   int64_t valid_from, int64_t valid_until)
{
    if (!self || !dir || valid_from >= valid_until
        || valid_from < KNOOP_TIME_MIN || valid_until > KNOOP_TIME_MAX)
        return KNOOP_EINVAL;
    char key_name[KNOOP_ID_MAX + 8], cert_name[KNOOP_ID_MAX + 8];
    snprintf(key_name, sizeof key_name, "%s.key", self->id);
    snprintf(cert_name, sizeof cert_name, "%s.cert", self->id);

    knoop_cert_t cert;
    int rc = s_key_cert(self, valid_from, valid_until, &cert);
    if (rc)
        return rc;
    knoop_buf_t cert_text = { 0 };
    rc = knoop_cert_format(&cert, &cert_text);
    if (rc)
        return rc;

    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        int e = errno;
        knoop_error("%s: cannot open directory: %s", dir, strerror(e));
        knoop_buf_free(&cert_text);
        return knoop_err_from_errno(e);
    }
    /* Claim both names before writing either, so a failure never leaves a
     * new key beside an old cert (or the reverse). */
    int key_fd, cert_fd;
    rc = s_create(dirfd, dir, key_name, 0600, &key_fd);
    if (rc == KNOOP_OK) {
        rc = s_create(dirfd, dir, cert_name, 0644, &cert_fd);
        if (rc) {
            close(key_fd);
            unlinkat(dirfd, key_name, 0);
        }
    }
    if (rc) {
        close(dirfd);
        knoop_buf_free(&cert_text);
        return rc;
    }

    char key_text[1024];
    int key_len = s_key_text(self, key_text, sizeof key_text);
    /* The umask only ever takes bits away, and may take the owner's too;
     * fchmod makes the mode exactly 0600 whatever it was. */
    const char *failed = NULL;
    int e = s_fill(key_fd, key_text, key_len < 0 ? 0 : (size_t) key_len, true);
    if (e) {
        failed = key_name;
        close(cert_fd);
    }
    else if ((e = s_fill(cert_fd, cert_text.data, cert_text.len, false)) != 0)
        failed = cert_name;
    else if (s_fsync_dir(dirfd) != 0) {
        failed = dir;
        e = errno;
    }
    knoop_wipe(key_text, sizeof key_text);
    knoop_buf_free(&cert_text);
    if (failed) {
        knoop_error("%s: cannot write %s: %s", dir, failed, strerror(e));
        /* The names are ours (O_EXCL): remove the half-written pair. */
        unlinkat(dirfd, key_name, 0);
        unlinkat(dirfd, cert_name, 0);
        close(dirfd);
        return knoop_err_from_errno(e) == KNOOP_EFULL ? KNOOP_EFULL : KNOOP_EIO;
    }
    close(dirfd);
    return KNOOP_OK;
}

static bool s_is_sealed(const char *text)
{
    const char *p = strstr(text, "[sealed-key]");
    return p && (p == text || p[-1] == '\n');
}

/* What a key loader holds of the secret while it works, together so that
 * one wipe covers all of it on every path. */
typedef struct {
    char       text[KEYS_FILE_MAX + 1];
    s_fields_t f;
    uint8_t    seed[KNOOP_SEED_LEN];
} s_secret_t;

/* The end of both key loaders: while rc is KNOOP_OK, the key from s->seed
 * under id and role into *out; with pk (a sealed file names its public
 * key), the seed must make that key. The secret is wiped whatever happened. */
static int s_key_finish(int rc, s_secret_t *s, const char *id, const char *role,
                        const uint8_t *pk, const char *path, knoop_key_t **out)
{
    knoop_key_t *self = NULL;
    if (rc == KNOOP_OK) {
        self = s_key_new(id, role, s->seed);
        if (!self)
            rc = KNOOP_ENOMEM;
        else if (pk && memcmp(self->pk, pk, KNOOP_PK_LEN) != 0) {
            knoop_error("%s: the sealed seed does not make the public-key the file names", path);
            knoop_key_destroy(&self);
            rc = KNOOP_ECORRUPT;
        }
    }
    knoop_wipe(s, sizeof *s);
    if (rc)
        return rc;
    *out = self;
    return KNOOP_OK;
}

int knoop_key_load(const char *path, knoop_key_t **out)
{
    if (!path || !out)
        return KNOOP_EINVAL;
    int rc = knoop_crypto_init();      /* the seed becomes the key pair */
    if (rc)
        return rc;
    s_secret_t s = { .f = { .section = "key", .names = s_key_names } };
    rc = s_load_text(path, true, s.text, sizeof s.text);
    if (rc == KNOOP_OK && s_is_sealed(s.text)) {
        knoop_error("%s: is a key sealed under a passphrase (a root key); it opens only "
                    "with its passphrase (--passphrase-file or the terminal)", path);
        rc = KNOOP_EPERM;
    }
    if (rc == KNOOP_OK)
        rc = s_parse(s.text, &s.f, path);
    if (rc == KNOOP_OK && !knoop_id_valid(s.f.values[KEY_ID])) {
        knoop_error("%s: id is not a valid partner id", path);
        rc = KNOOP_EMALFORMED;
    }
    if (rc == KNOOP_OK && !knoop_role_valid(s.f.values[KEY_ROLE])) {
        knoop_error("%s: role is not [a-z0-9_-]{1,32}", path);
        rc = KNOOP_EMALFORMED;
    }
    if (rc == KNOOP_OK
        && s_hex_exact(s.seed, sizeof s.seed, s.f.values[KEY_SEED]) != KNOOP_OK) {
        knoop_error("%s: seed is not %d hex digits", path, 2 * KNOOP_SEED_LEN);
        rc = KNOOP_EMALFORMED;
    }
    return s_key_finish(rc, &s, s.f.values[KEY_ID], s.f.values[KEY_ROLE], NULL, path, out);
}

/* ------------------------------------------------------------------ */
/* certificates */

int knoop_cert_format(const knoop_cert_t *cert, knoop_buf_t *out)
{
    /* A caller-filled id or role with a newline would write fields of its
     * own into the file. */
    if (!knoop_id_valid(cert->id) || !knoop_role_valid(cert->role))
        return KNOOP_EINVAL;
    char pk[2 * KNOOP_PK_LEN + 1], curve[2 * KNOOP_CURVE_LEN + 1];
    char from[21], until[21], fp[17];
    knoop_hex_encode(pk, cert->pk, KNOOP_PK_LEN);
    knoop_hex_encode(curve, cert->curve_pk, KNOOP_CURVE_LEN);
    knoop_time_format(from, cert->valid_from);
    knoop_time_format(until, cert->valid_until);
    knoop_fingerprint(fp, cert->pk, KNOOP_PK_LEN);
    char text[1024];
    int n = snprintf(text, sizeof text,
        "# knooppunt partner certificate -- public; no secrets in here.\n"
        "# Issued by a root (issuer fields below), the mesh learns it; an unsigned\n"
        "# one must be copied into the trust store of every broker and auditor.\n"
        "# public-key is the Ed25519 key that signs this partner's stream heads\n"
        "# (fingerprint %s); curve-key is the CurveZMQ key derived from it.\n"
        "[cert]\n"
        "id = %s\n"
        "role = %s\n"
        "public-key = %s\n"
        "curve-key = %s\n"
        "valid-from = %s\n"
        "valid-until = %s\n",
        fp, cert->id, cert->role, pk, curve, from, until);
    if (n < 0 || (size_t) n >= sizeof text)
        return KNOOP_EINVAL;
    if (cert->issuer[0]) {
        if (!knoop_id_valid(cert->issuer))
            return KNOOP_EINVAL;
        char ipk[2 * KNOOP_PK_LEN + 1], sig[2 * KNOOP_SIG_LEN + 1];
        knoop_hex_encode(ipk, cert->issuer_pk, KNOOP_PK_LEN);
        knoop_hex_encode(sig, cert->sig, KNOOP_SIG_LEN);
        int m = snprintf(text + n, sizeof text - (size_t) n,
            "issuer = %s\n"
            "issuer-key = %s\n"
            "signature = %s\n", cert->issuer, ipk, sig);
        if (m < 0 || (size_t) m >= sizeof text - (size_t) n)
            return KNOOP_EINVAL;
        n += m;
    }
    return knoop_buf_append(out, text, (size_t) n);
}

/* Fill cert from parsed fields; log "path: reason" on the first problem. */
static int s_cert_fields(const s_fields_t *f, const char *path, knoop_cert_t *cert)
{
    const char *why = NULL;
    memset(cert, 0, sizeof *cert);
    uint8_t curve[KNOOP_CURVE_LEN];
    if (!knoop_id_valid(f->values[CERT_ID]))
        why = "id is not a valid partner id";
    else if (!knoop_role_valid(f->values[CERT_ROLE]))
        why = "role is not [a-z0-9_-]{1,32}";
    else if (s_hex_exact(cert->pk, KNOOP_PK_LEN, f->values[CERT_PK]) != KNOOP_OK)
        why = "public-key is not 64 hex digits";
    else if (s_hex_exact(curve, KNOOP_CURVE_LEN, f->values[CERT_CURVE]) != KNOOP_OK)
        why = "curve-key is not 64 hex digits";
    else if (knoop_curve_from_sign_pk(cert->curve_pk, cert->pk) != KNOOP_OK)
        why = "public-key is not a valid Ed25519 key";
    /* The curve key is what CurveZMQ authenticates; one that is not derived
     * from the signing key would let a connection speak for a partner whose
     * signatures it cannot make. */
    else if (memcmp(curve, cert->curve_pk, KNOOP_CURVE_LEN) != 0)
        why = "curve-key does not match the one derived from public-key";
    else if (knoop_time_parse(f->values[CERT_FROM], &cert->valid_from) != KNOOP_OK)
        why = "valid-from is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)";
    else if (knoop_time_parse(f->values[CERT_UNTIL], &cert->valid_until) != KNOOP_OK)
        why = "valid-until is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)";
    else if (cert->valid_from >= cert->valid_until)
        why = "valid-until is not after valid-from";
    else if ((f->seen & CERT_OPTIONAL) != 0 && (f->seen & CERT_OPTIONAL) != CERT_OPTIONAL)
        why = "issuer, issuer-key and signature go together: some are missing";
    else if ((f->seen & CERT_OPTIONAL) && !knoop_id_valid(f->values[CERT_ISSUER]))
        why = "issuer is not a valid id";
    else if ((f->seen & CERT_OPTIONAL)
             && s_hex_exact(cert->issuer_pk, KNOOP_PK_LEN, f->values[CERT_ISSUER_PK]) != KNOOP_OK)
        why = "issuer-key is not 64 hex digits";
    else if ((f->seen & CERT_OPTIONAL)
             && s_hex_exact(cert->sig, KNOOP_SIG_LEN, f->values[CERT_SIG]) != KNOOP_OK)
        why = "signature is not 128 hex digits";
    if (why) {
        knoop_error("%s: %s", path, why);
        memset(cert, 0, sizeof *cert);
        return KNOOP_EMALFORMED;
    }
    s_copy(cert->id, sizeof cert->id, f->values[CERT_ID]);
    s_copy(cert->role, sizeof cert->role, f->values[CERT_ROLE]);
    if (f->seen & CERT_OPTIONAL)
        s_copy(cert->issuer, sizeof cert->issuer, f->values[CERT_ISSUER]);
    return KNOOP_OK;
}

int knoop_cert_load(const char *path, knoop_cert_t *out)
{
    if (!path || !out)
        return KNOOP_EINVAL;
    char text[KEYS_FILE_MAX + 1];
    int rc = s_load_text(path, false, text, sizeof text);
    if (rc)
        return rc;
    return knoop_cert_parse(text, strlen(text), path, out);
}

int knoop_cert_parse(const char *data, size_t len, const char *name, knoop_cert_t *out)
{
    if (!data || !name || !out)
        return KNOOP_EINVAL;
    if (len > KEYS_FILE_MAX) {
        knoop_error("%s: larger than %d bytes; not a knooppunt certificate", name,
                    KEYS_FILE_MAX);
        return KNOOP_ETOOBIG;
    }
    char text[KEYS_FILE_MAX + 1];
    memcpy(text, data, len);
    text[len] = '\0';
    if (strlen(text) != len) {
        knoop_error("%s: contains NUL bytes; not a knooppunt certificate", name);
        return KNOOP_EMALFORMED;
    }
    int rc = knoop_crypto_init();      /* the curve key is derived and compared */
    if (rc)
        return rc;
    s_fields_t f = { .section = "cert", .names = s_cert_names, .optional = CERT_OPTIONAL };
    rc = s_parse(text, &f, name);
    if (rc)
        return rc;
    return s_cert_fields(&f, name, out);
}

int knoop_cert_check_time_skew(const knoop_cert_t *cert, int64_t now, int64_t skew)
{
    /* Both ends inclusive, as X.509's notBefore and notAfter, each widened
     * by the skew: a clock that is a little off on either side must not cut
     * a partner off at the edge of its validity. */
    if (skew < 0)
        skew = 0;
    return now >= cert->valid_from - skew && now <= cert->valid_until + skew ? KNOOP_OK
                                                                             : KNOOP_EEXPIRED;
}

int knoop_cert_check_time(const knoop_cert_t *cert, int64_t now)
{
    return knoop_cert_check_time_skew(cert, now, KNOOP_CERT_SKEW_SECONDS);
}

/* ------------------------------------------------------------------ */
/* trust store */

typedef struct {
    knoop_cert_t cert;
    char        *file;
} s_entry_t;

static int s_cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* By id, then by valid-from: an id's keys sit together, oldest first. */
static int s_cmp_entry(const void *a, const void *b)
{
    const knoop_cert_t *x = &((const s_entry_t *) a)->cert, *y = &((const s_entry_t *) b)->cert;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->valid_from < y->valid_from ? -1 : x->valid_from > y->valid_from;
}

bool knoop_trust_file_is_cert(const char *name)
{
    /* As the shell glob *.cert: hidden files (editor leftovers) excluded. */
    size_t len = strlen(name);
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".cert") == 0;
}

/* The sorted *.cert names in dir. */
static int s_list_certs(const char *dir, char ***names_out, size_t *count_out)
{
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        knoop_error("trust store %s: cannot open: %s", dir, strerror(e));
        return knoop_err_from_errno(e);
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = KNOOP_OK;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!knoop_trust_file_is_cert(de->d_name))
            continue;
        char **nn = knoop_array_grow(names, count, &cap, sizeof *nn, 64);
        if (!nn) { rc = KNOOP_ENOMEM; break; }
        names = nn;
        if (!(names[count] = strdup(de->d_name))) { rc = KNOOP_ENOMEM; break; }
        count++;
        errno = 0;
    }
    if (rc == KNOOP_OK && errno != 0) {
        int e = errno;
        knoop_error("trust store %s: cannot read: %s", dir, strerror(e));
        rc = knoop_err_from_errno(e);
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (count > 1)
        qsort(names, count, sizeof *names, s_cmp_name);
    *names_out = names;
    *count_out = count;
    return KNOOP_OK;
}

/* Refuse ambiguity: each id, signing key and curve key names one partner.
 * Curve keys are checked apart from signing keys because the Ed25519 to
 * Curve25519 map forgets the sign of x: two signing keys can share one. */
static int s_check_unique(const char *dir, const s_entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            const char *what = NULL;
            if (strcmp(e[i].cert.id, e[j].cert.id) == 0)
                what = "the same partner id";
            else if (memcmp(e[i].cert.pk, e[j].cert.pk, KNOOP_PK_LEN) == 0)
                what = "the same public key";
            else if (memcmp(e[i].cert.curve_pk, e[j].cert.curve_pk, KNOOP_CURVE_LEN) == 0)
                what = "the same curve key";
            if (what) {
                knoop_error("trust store %s: %s and %s hold %s (%s / %s); refusing to "
                            "load an ambiguous trust store", dir, e[i].file, e[j].file,
                            what, e[i].cert.id, e[j].cert.id);
                return KNOOP_EDUPLICATE;
            }
        }
    }
    return KNOOP_OK;
}

int knoop_trust_load(const char *dir, unsigned flags, knoop_trust_t **out)
{
    return knoop_trust_load_ex(dir, NULL, flags, out);
}

static const knoop_cert_t *s_root_of(const knoop_cert_t *roots, size_t n, const knoop_cert_t *c)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(roots[i].id, c->issuer) == 0
            && memcmp(roots[i].pk, c->issuer_pk, KNOOP_PK_LEN) == 0)
            return &roots[i];
    return NULL;
}

/* Roots out of entries into roots[]; issued certs checked against them.
 * The operator's own directory must be right: any bad one fails the load. */
static int s_split_roots(const char *dir, s_entry_t *entries, size_t *kept,
                         knoop_cert_t **roots_out, size_t *nroots_out)
{
    knoop_cert_t *roots = calloc(*kept ? *kept : 1, sizeof *roots);
    if (!roots)
        return KNOOP_ENOMEM;
    size_t nroots = 0, w = 0;
    int rc = KNOOP_OK;
    for (size_t i = 0; i < *kept; i++) {
        if (strcmp(entries[i].cert.role, KNOOP_ROLE_ROOT) != 0) {
            entries[w++] = entries[i];
            continue;
        }
        if (!knoop_cert_is_root(&entries[i].cert)
            || knoop_cert_verify(&entries[i].cert, &entries[i].cert) != KNOOP_OK) {
            knoop_error("trust store %s: %s has role root but is not a validly self-signed "
                        "root certificate; refusing the trust store", dir, entries[i].file);
            rc = KNOOP_ESIG;
        }
        roots[nroots++] = entries[i].cert;
        free(entries[i].file);
    }
    *kept = w;
    for (size_t i = 0; rc == KNOOP_OK && i < w; i++) {
        const knoop_cert_t *c = &entries[i].cert;
        if (!c->issuer[0])
            continue;                         /* pinned: trusted by being here */
        const knoop_cert_t *root = s_root_of(roots, nroots, c);
        if (!root) {
            knoop_error("trust store %s: %s (%s) is issued by '%s', which is not a root in "
                        "this trust store; refusing the trust store", dir, entries[i].file,
                        c->id, c->issuer);
            rc = KNOOP_EUNKNOWN;
        } else if (knoop_cert_verify(c, root) != KNOOP_OK) {
            knoop_error("trust store %s: %s (%s): the signature of root '%s' does not "
                        "verify; refusing the trust store", dir, entries[i].file, c->id,
                        c->issuer);
            rc = KNOOP_ESIG;
        }
    }
    if (rc) {
        free(roots);
        return rc;
    }
    *roots_out = roots;
    *nroots_out = nroots;
    return KNOOP_OK;
}

/* A whole public file (at most max bytes) into out; logs the cause. */
static int s_read_file(const char *path, size_t max, knoop_buf_t *out)
{
    char why[200];
    int rc = knoop_file_read(path, max, 0, out, why, sizeof why);
    if (rc)
        knoop_error("%s: %s", path, why);
    return rc;
}

/* Certificates and the revocation list a daemon learned over the mesh
 * (knoop_trust_learn_*): each re-checked against the roots, and skipped with
 * a warning when it does not check (the operator's directory is what fails
 * loudly; this one is the daemon's own cache of the journal). */
static int s_load_learned(const char *learned, const knoop_cert_t *roots, size_t nroots,
                          unsigned flags, s_entry_t **entries, size_t *kept, size_t *cap,
                          knoop_revlist_t **revs)
{
    struct stat st;
    if (stat(learned, &st) != 0)
        return KNOOP_OK;                      /* nothing learned yet */
    char **names = NULL;
    size_t count = 0;
    int rc = s_list_certs(learned, &names, &count);
    if (rc)
        return rc;
    int64_t now = (int64_t) time(NULL);
    for (size_t i = 0; rc == KNOOP_OK && i < count; i++) {
        char path[PATH_MAX];
        if ((size_t) snprintf(path, sizeof path, "%s/%s", learned, names[i]) >= sizeof path)
            continue;
        knoop_cert_t c;
        if (knoop_cert_load(path, &c) != KNOOP_OK)
            continue;
        const knoop_cert_t *root = s_root_of(roots, nroots, &c);
        if (!root || strcmp(c.role, KNOOP_ROLE_ROOT) == 0 || knoop_cert_verify(&c, root)) {
            knoop_warn("trust: learned certificate %s is not issued by a trusted root; "
                       "ignoring it", path);
            continue;
        }
        if (!(flags & KNOOP_TRUST_KEEP_EXPIRED) && knoop_cert_check_time(&c, now) != KNOOP_OK)
            continue;
        /* Every key of an id is kept (rotation: old keys still verify what
         * they signed). The same key reissued: the later validity wins. A
         * key already owned by another id is refused. */
        bool skip = false;
        for (size_t k = 0; k < *kept && !skip; k++) {
            knoop_cert_t *o = &(*entries)[k].cert;
            bool same_pk = memcmp(o->pk, c.pk, KNOOP_PK_LEN) == 0;
            bool same_curve = memcmp(o->curve_pk, c.curve_pk, KNOOP_CURVE_LEN) == 0;
            if (!same_pk && !same_curve)
                continue;
            skip = true;
            if (strcmp(o->id, c.id) != 0)
                knoop_warn("trust: learned certificate %s holds the key of '%s'; ignoring it",
                           path, o->id);
            else if (same_pk && o->issuer[0] && o->valid_until < c.valid_until) {
                *o = c;
                free((*entries)[k].file);
                (*entries)[k].file = strdup(path);
            }
        }
        if (skip)
            continue;
        s_entry_t *ne = knoop_array_grow(*entries, *kept, cap, sizeof *ne, 64);
        if (!ne) {
            rc = KNOOP_ENOMEM;
            break;
        }
        *entries = ne;
        (*entries)[*kept].cert = c;
        (*entries)[*kept].file = strdup(path);
        (*kept)++;
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (rc)
        return rc;

    char path[PATH_MAX];
    if ((size_t) snprintf(path, sizeof path, "%s/%s", learned, KNOOP_REVOCATIONS_FILE)
        < sizeof path && stat(path, &st) == 0) {
        knoop_buf_t text = { 0 };
        knoop_revlist_t *l = NULL;
        if (s_read_file(path, REVLIST_TEXT_MAX, &text) == KNOOP_OK
            && knoop_revlist_parse((const char *) text.data, text.len, path, &l) == KNOOP_OK) {
            const knoop_cert_t *root = NULL;
            for (size_t i = 0; i < nroots; i++)
                if (strcmp(roots[i].id, knoop_revlist_issuer(l)) == 0)
                    root = &roots[i];
            if (root && knoop_revlist_verify(l, root) == KNOOP_OK)
                *revs = l;
            else {
                knoop_warn("trust: %s is not signed by a trusted root; ignoring it", path);
                knoop_revlist_destroy(&l);
            }
        }
        knoop_buf_free(&text);
    }
    return KNOOP_OK;
}

int knoop_trust_load_ex(const char *dir, const char *learned, unsigned flags,
                        knoop_trust_t **out)
{
    if (!dir || !out)
        return KNOOP_EINVAL;
    int rc = knoop_crypto_init();
    if (rc)
        return rc;
    char **names = NULL;
    size_t count = 0;
    rc = s_list_certs(dir, &names, &count);
    if (rc)
        return rc;

    s_entry_t *entries = count ? calloc(count, sizeof *entries) : NULL;
    if (count && !entries)
        rc = KNOOP_ENOMEM;
    size_t kept = 0;
    int64_t now = (int64_t) time(NULL);
    for (size_t i = 0; rc == KNOOP_OK && i < count; i++) {
        char *path = NULL;
        size_t plen = strlen(dir) + 1 + strlen(names[i]) + 1;
        if (!(path = malloc(plen))) {
            rc = KNOOP_ENOMEM;
            break;
        }
        snprintf(path, plen, "%s/%s", dir, names[i]);
        knoop_cert_t cert;
        rc = knoop_cert_load(path, &cert);
        if (rc) {
            /* cert_load has logged the detail; the load as a whole fails
             * rather than quietly trusting fewer partners than configured. */
            knoop_error("trust store %s: %s does not load (%s); refusing the trust store",
                        dir, path, knoop_strerror(rc));
            free(path);
            break;
        }
        if (!(flags & KNOOP_TRUST_KEEP_EXPIRED)
            && knoop_cert_check_time(&cert, now) != KNOOP_OK) {
            char from[21], until[21];
            knoop_time_format(from, cert.valid_from);
            knoop_time_format(until, cert.valid_until);
            knoop_warn("trust store: skipping %s (%s): %s, valid %s until %s", path,
                       cert.id, now < cert.valid_from ? "not yet valid" : "expired",
                       from, until);
            free(path);
            continue;
        }
        entries[kept].cert = cert;
        entries[kept].file = path;
        kept++;
    }
    knoop_cert_t *roots = NULL;
    size_t nroots = 0, cap = count;
    knoop_revlist_t *revs = NULL;
    if (rc == KNOOP_OK)
        rc = s_split_roots(dir, entries, &kept, &roots, &nroots);
    if (rc == KNOOP_OK)
        rc = s_check_unique(dir, entries, kept);
    if (rc == KNOOP_OK && learned)
        rc = s_load_learned(learned, roots, nroots, flags, &entries, &kept, &cap, &revs);
    for (size_t i = 0; revs && i < kept; i++)
        entries[i].cert.revoked_at = knoop_revlist_revoked_at(revs, &entries[i].cert);

    knoop_trust_t *self = NULL;
    if (rc == KNOOP_OK) {
        self = calloc(1, sizeof *self);
        if (self && kept) {
            qsort(entries, kept, sizeof *entries, s_cmp_entry);
            self->certs = malloc(kept * sizeof *self->certs);
            if (!self->certs) {
                free(self);
                self = NULL;
            }
        }
        if (!self)
            rc = KNOOP_ENOMEM;
    }
    if (rc == KNOOP_OK) {
        for (size_t i = 0; i < kept; i++)
            self->certs[i] = entries[i].cert;
        self->size = kept;
        self->roots = roots;
        self->nroots = nroots;
        roots = NULL;
        self->revocations = revs ? knoop_revlist_number(revs) : 0;
        knoop_debug("trust store %s: %zu partner certificates, %zu roots", dir, kept, nroots);
    }
    free(roots);
    knoop_revlist_destroy(&revs);
    for (size_t i = 0; i < kept; i++)
        free(entries[i].file);
    free(entries);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (rc)
        return rc;
    *out = self;
    return KNOOP_OK;
}

void knoop_trust_destroy(knoop_trust_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->certs);
    free((*self_p)->roots);
    free(*self_p);
    *self_p = NULL;
}

size_t knoop_trust_size(const knoop_trust_t *self)
{
    return self->size;
}

const knoop_cert_t *knoop_trust_id_keys(const knoop_trust_t *self, const char *id, size_t *n)
{
    /* Lower bound of id, then the run of its keys. */
    size_t lo = 0, hi = self->size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(self->certs[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < self->size && strcmp(self->certs[end].id, id) == 0)
        end++;
    *n = end - lo;
    return *n ? &self->certs[lo] : NULL;
}

const knoop_cert_t *knoop_trust_by_id(const knoop_trust_t *self, const char *id)
{
    size_t n;
    const knoop_cert_t *c = knoop_trust_id_keys(self, id, &n);
    if (!c)
        return NULL;
    /* The newest key that is not revoked; else the newest. */
    for (size_t i = n; i-- > 0;)
        if (!c[i].revoked_at)
            return &c[i];
    return &c[n - 1];
}

const knoop_cert_t *knoop_trust_server_key(const knoop_trust_t *self, const char *id,
                                           const char *role, int64_t now, unsigned attempt,
                                           size_t *n)
{
    size_t all;
    const knoop_cert_t *c = knoop_trust_id_keys(self, id, &all);
    size_t usable = 0;
    for (size_t i = 0; c && i < all; i++)
        if (strcmp(c[i].role, role) == 0 && knoop_cert_check_time(&c[i], now) == KNOOP_OK
            && !knoop_cert_revoked(&c[i], now))
            usable++;
    *n = usable;
    if (!usable)
        return NULL;
    size_t want = attempt % usable;
    for (size_t i = all; i-- > 0;)
        if (strcmp(c[i].role, role) == 0 && knoop_cert_check_time(&c[i], now) == KNOOP_OK
            && !knoop_cert_revoked(&c[i], now) && want-- == 0)
            return &c[i];
    return NULL;
}

void knoop_trust_pin_server(const knoop_trust_t *self, const char *label, const char *id,
                            unsigned attempt, knoop_cert_t *pinned)
{
    size_t n;
    const knoop_cert_t *c = knoop_trust_server_key(self, id, "broker", (int64_t) time(NULL),
                                                   attempt, &n);
    if (!c)
        return;
    if (memcmp(c->pk, pinned->pk, KNOOP_PK_LEN) != 0) {
        char fp[17];
        knoop_fingerprint(fp, c->pk, KNOOP_PK_LEN);
        knoop_info("%s %s: connecting with its key %s (%zu usable keys known)", label, id, fp, n);
    }
    *pinned = *c;
}

/* Linear: a store holds some 70 partners, and these run once per
 * connection, not per message. */
const knoop_cert_t *knoop_trust_by_curve(const knoop_trust_t *self,
                                         const uint8_t curve_pk[KNOOP_CURVE_LEN])
{
    for (size_t i = 0; i < self->size; i++)
        if (memcmp(self->certs[i].curve_pk, curve_pk, KNOOP_CURVE_LEN) == 0)
            return &self->certs[i];
    return NULL;
}

const knoop_cert_t *knoop_trust_id_key(const knoop_trust_t *self, const char *id,
                                       const uint8_t pk[KNOOP_PK_LEN])
{
    size_t n = 0;
    const knoop_cert_t *keys = knoop_trust_id_keys(self, id, &n);
    for (size_t i = 0; i < n; i++)
        if (memcmp(keys[i].pk, pk, KNOOP_PK_LEN) == 0)
            return &keys[i];
    return NULL;
}

const knoop_cert_t *knoop_trust_by_sign(const knoop_trust_t *self,
                                        const uint8_t pk[KNOOP_PK_LEN])
{
    for (size_t i = 0; i < self->size; i++)
        if (memcmp(self->certs[i].pk, pk, KNOOP_PK_LEN) == 0)
            return &self->certs[i];
    return NULL;
}

const knoop_cert_t *knoop_trust_at(const knoop_trust_t *self, size_t i)
{
    return i < self->size ? &self->certs[i] : NULL;
}

uint64_t knoop_key_file_stamp(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    uint64_t f[5] = { (uint64_t) st.st_dev, (uint64_t) st.st_ino, (uint64_t) st.st_size,
                      (uint64_t) st.st_mtim.tv_sec, (uint64_t) st.st_mtim.tv_nsec };
    uint64_t h = 0xcbf29ce484222325ull;             /* FNV-1a over the fields */
    for (size_t i = 0; i < sizeof f; i++) {
        h ^= ((const uint8_t *) f)[i];
        h *= 0x100000001b3ull;
    }
    return h ? h : 1;
}

uint64_t knoop_trust_dir_stamp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    /* Order-independent: readdir order is not stable across changes. */
    uint64_t acc = 0x6b6e6f6f70ull;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!knoop_trust_file_is_cert(e->d_name))
            continue;
        size_t len = strlen(e->d_name);
        char path[4096];
        struct stat st;
        if ((size_t) snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path ||
            stat(path, &st) != 0)
            continue;
        uint8_t h[KNOOP_HASH_LEN];
        knoop_hasher_t hs;
        knoop_hasher_init(&hs);
        knoop_hasher_update(&hs, e->d_name, len);
        knoop_hasher_update(&hs, &st.st_size, sizeof st.st_size);
        knoop_hasher_update(&hs, &st.st_mtim, sizeof st.st_mtim);
        knoop_hasher_update(&hs, &st.st_ino, sizeof st.st_ino);
        knoop_hasher_final(&hs, h);
        acc += knoop_get_be64(h);
    }
    closedir(d);
    return acc ? acc : 1;
}

/* ------------------------------------------------------------------ */
/* issued certificates */

bool knoop_cert_is_root(const knoop_cert_t *cert)
{
    return strcmp(cert->role, KNOOP_ROLE_ROOT) == 0 && strcmp(cert->issuer, cert->id) == 0
        && memcmp(cert->issuer_pk, cert->pk, KNOOP_PK_LEN) == 0;
}

/* What a root signs: every field that gives a certificate its meaning, in
 * one fixed text form, behind a tag no stream head begins with. The curve
 * key is derived from public-key, so it needs no signature of its own. */
static int s_cert_statement(const knoop_cert_t *c, char *out, size_t size)
{
    char pk[2 * KNOOP_PK_LEN + 1], ipk[2 * KNOOP_PK_LEN + 1], from[21], until[21];
    knoop_hex_encode(pk, c->pk, KNOOP_PK_LEN);
    knoop_hex_encode(ipk, c->issuer_pk, KNOOP_PK_LEN);
    knoop_time_format(from, c->valid_from);
    knoop_time_format(until, c->valid_until);
    int n = snprintf(out, size,
                     "knoop-cert-v1\nid=%s\nrole=%s\npublic-key=%s\nvalid-from=%s\n"
                     "valid-until=%s\nissuer=%s\nissuer-key=%s\n",
                     c->id, c->role, pk, from, until, c->issuer, ipk);
    return (n < 0 || (size_t) n >= size) ? -1 : n;
}

int knoop_cert_issue(knoop_cert_t *cert, const knoop_key_t *root)
{
    if (!cert || !root || strcmp(root->role, KNOOP_ROLE_ROOT) != 0
        || !knoop_id_valid(cert->id) || !knoop_role_valid(cert->role))
        return KNOOP_EINVAL;
    s_copy(cert->issuer, sizeof cert->issuer, root->id);
    memcpy(cert->issuer_pk, root->pk, KNOOP_PK_LEN);
    char st[600];
    int n = s_cert_statement(cert, st, sizeof st);
    if (n < 0)
        return KNOOP_EINVAL;
    knoop_sign_statement(cert->sig, root->sk, st, (size_t) n);
    return KNOOP_OK;
}

int knoop_cert_verify(const knoop_cert_t *cert, const knoop_cert_t *root)
{
    if (!cert->issuer[0])
        return KNOOP_EUNKNOWN;
    if (strcmp(cert->issuer, root->id) != 0
        || memcmp(cert->issuer_pk, root->pk, KNOOP_PK_LEN) != 0)
        return KNOOP_EUNKNOWN;
    char st[600];
    int n = s_cert_statement(cert, st, sizeof st);
    if (n < 0)
        return KNOOP_ESIG;
    return knoop_verify_statement(cert->sig, root->pk, st, (size_t) n);
}

int knoop_key_cert(const knoop_key_t *self, int64_t valid_from, int64_t valid_until,
                   knoop_cert_t *cert)
{
    if (!self || !cert || valid_from >= valid_until
        || valid_from < KNOOP_TIME_MIN || valid_until > KNOOP_TIME_MAX)
        return KNOOP_EINVAL;
    return s_key_cert(self, valid_from, valid_until, cert);
}

/* Create path exclusively (mode) with text, durably. */
static int s_write_new(const char *path, const void *text, size_t len, mode_t mode, bool secret)
{
    int fd;
    int rc = s_create(AT_FDCWD, NULL, path, mode, &fd);
    if (rc)
        return rc;
    int e = s_fill(fd, text, len, secret);
    if (e) {
        knoop_error("%s: cannot write: %s", path, strerror(e));
        unlink(path);
        return knoop_err_from_errno(e) == KNOOP_EFULL ? KNOOP_EFULL : KNOOP_EIO;
    }
    return KNOOP_OK;
}

/* Replace path with text atomically (temp file, fsync, rename). */
static int s_write_replace(const char *path, const void *text, size_t len)
{
    char tmp[PATH_MAX];
    if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return KNOOP_EINVAL;
    unlink(tmp);
    int rc = s_write_new(tmp, text, len, 0644, false);
    if (rc)
        return rc;
    if (rename(tmp, path) != 0) {
        int e = errno;
        knoop_error("%s: cannot replace: %s", path, strerror(e));
        unlink(tmp);
        return knoop_err_from_errno(e);
    }
    return KNOOP_OK;
}

/* cert as a file at path: a new one, or with `replace` in place of one. */
static int s_cert_save(const knoop_cert_t *cert, const char *path, bool replace)
{
    knoop_buf_t text = { 0 };
    int rc = knoop_cert_format(cert, &text);
    if (rc == KNOOP_OK)
        rc = replace ? s_write_replace(path, text.data, text.len)
                     : s_write_new(path, text.data, text.len, 0644, false);
    knoop_buf_free(&text);
    return rc;
}

int knoop_cert_write(const knoop_cert_t *cert, const char *path)
{
    return s_cert_save(cert, path, false);
}

/* ------------------------------------------------------------------ */
/* root keys, sealed under a passphrase */

int knoop_key_save_sealed(const knoop_key_t *self, const char *dir, const char *pass,
                          size_t pass_len, knoop_pwcost_t cost, int64_t valid_from,
                          int64_t valid_until)
{
    if (!self || !dir || !pass || strcmp(self->role, KNOOP_ROLE_ROOT) != 0)
        return KNOOP_EINVAL;
    knoop_cert_t cert;
    int rc = knoop_key_cert(self, valid_from, valid_until, &cert);
    if (rc == KNOOP_OK)
        rc = knoop_cert_issue(&cert, self);          /* self-signed */
    if (rc)
        return rc;
    uint8_t salt[KNOOP_SEAL_SALT_LEN], nonce[KNOOP_SEAL_NONCE_LEN];
    uint8_t box[KNOOP_SEED_LEN + KNOOP_SEAL_MAC_LEN];
    uint64_t ops, mem;
    rc = knoop_seal_passphrase(box, self->seed, KNOOP_SEED_LEN, pass, pass_len, cost, salt,
                               nonce, &ops, &mem);
    if (rc) {
        knoop_error("%s: cannot derive a key from the passphrase: %s", dir, knoop_strerror(rc));
        return rc;
    }
    char salt_hex[2 * sizeof salt + 1], nonce_hex[2 * sizeof nonce + 1];
    char box_hex[2 * sizeof box + 1], pk_hex[2 * KNOOP_PK_LEN + 1];
    knoop_hex_encode(salt_hex, salt, sizeof salt);
    knoop_hex_encode(nonce_hex, nonce, sizeof nonce);
    knoop_hex_encode(box_hex, box, sizeof box);
    knoop_hex_encode(pk_hex, self->pk, KNOOP_PK_LEN);
    char text[1200];
    int n = snprintf(text, sizeof text,
        "# knooppunt ROOT key, sealed: the seed is encrypted under a passphrase\n"
        "# (Argon2id crypto_pwhash + XSalsa20-Poly1305 crypto_secretbox).\n"
        "# Keep it offline, mode 0600; the passphrase never on the same medium.\n"
        "[sealed-key]\n"
        "id = %s\n"
        "role = %s\n"
        "public-key = %s\n"
        "ops = %llu\n"
        "mem = %llu\n"
        "salt = %s\n"
        "nonce = %s\n"
        "box = %s\n",
        self->id, self->role, pk_hex, (unsigned long long) ops, (unsigned long long) mem,
        salt_hex, nonce_hex, box_hex);
    if (n < 0 || (size_t) n >= sizeof text)
        return KNOOP_EINVAL;
    char key_path[PATH_MAX], cert_path[PATH_MAX];
    if ((size_t) snprintf(key_path, sizeof key_path, "%s/%s.key", dir, self->id) >= sizeof key_path
        || (size_t) snprintf(cert_path, sizeof cert_path, "%s/%s.cert", dir, self->id)
               >= sizeof cert_path)
        return KNOOP_EINVAL;
    rc = s_write_new(key_path, text, (size_t) n, 0600, true);
    if (rc)
        return rc;
    rc = knoop_cert_write(&cert, cert_path);
    if (rc)
        unlink(key_path);
    return rc;
}

static int s_dec_u64(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-')
        return KNOOP_EMALFORMED;
    *out = v;
    return KNOOP_OK;
}

int knoop_key_load_sealed(const char *path, const char *pass, size_t pass_len,
                          knoop_key_t **out)
{
    if (!path || !pass || !out)
        return KNOOP_EINVAL;
    int rc = knoop_crypto_init();      /* the passphrase opens the seed */
    if (rc)
        return rc;
    s_secret_t s = { .f = { .section = "sealed-key", .names = s_sealed_names } };
    rc = s_load_text(path, true, s.text, sizeof s.text);
    if (rc == KNOOP_OK && !s_is_sealed(s.text)) {
        knoop_error("%s: not a sealed root key (no [sealed-key] section); a root key is "
                    "made with knoop keys root", path);
        rc = KNOOP_EMALFORMED;
    }
    if (rc == KNOOP_OK)
        rc = s_parse(s.text, &s.f, path);
    uint8_t salt[KNOOP_SEAL_SALT_LEN], nonce[KNOOP_SEAL_NONCE_LEN], pk[KNOOP_PK_LEN];
    uint8_t box[KNOOP_SEED_LEN + KNOOP_SEAL_MAC_LEN];
    uint64_t ops = 0, mem = 0;
    const char *why = NULL;
    if (rc == KNOOP_OK) {
        if (!knoop_id_valid(s.f.values[SEAL_ID]))
            why = "id is not a valid id";
        else if (strcmp(s.f.values[SEAL_ROLE], KNOOP_ROLE_ROOT) != 0)
            why = "role is not root";
        else if (s_hex_exact(pk, sizeof pk, s.f.values[SEAL_PK]) != KNOOP_OK)
            why = "public-key is not 64 hex digits";
        else if (s_dec_u64(s.f.values[SEAL_OPS], &ops)
                 || s_dec_u64(s.f.values[SEAL_MEM], &mem))
            why = "ops and mem are not numbers";
        else if (s_hex_exact(salt, sizeof salt, s.f.values[SEAL_SALT]) != KNOOP_OK
                 || s_hex_exact(nonce, sizeof nonce, s.f.values[SEAL_NONCE]) != KNOOP_OK
                 || s_hex_exact(box, sizeof box, s.f.values[SEAL_BOX]) != KNOOP_OK)
            why = "salt, nonce or box has the wrong length";
        if (why) {
            knoop_error("%s: %s", path, why);
            rc = KNOOP_EMALFORMED;
        }
    }
    if (rc == KNOOP_OK) {
        rc = knoop_open_passphrase(s.seed, box, sizeof box, pass, pass_len, salt, nonce, ops,
                                   mem);
        if (rc == KNOOP_ESIG)
            knoop_error("%s: wrong passphrase (or the file was altered): the key does not open",
                        path);
        else if (rc == KNOOP_EINVAL)
            knoop_error("%s: ops/mem outside what knooppunt accepts; refusing", path);
        else if (rc)
            knoop_error("%s: cannot derive the key: %s", path, knoop_strerror(rc));
    }
    return s_key_finish(rc, &s, s.f.values[SEAL_ID], KNOOP_ROLE_ROOT, pk, path, out);
}

/* ------------------------------------------------------------------ */
/* revocation lists */


struct knoop_revlist_t {
    char             issuer[KNOOP_ID_MAX + 1];
    uint8_t          issuer_pk[KNOOP_PK_LEN];
    uint64_t         number;
    knoop_revoked_t *entries;
    size_t           size, cap;
    uint8_t          sig[KNOOP_SIG_LEN];
};

int knoop_revlist_new(const char *issuer, knoop_revlist_t **out)
{
    *out = NULL;
    if (!knoop_id_valid(issuer))
        return KNOOP_EINVAL;
    knoop_revlist_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    s_copy(self->issuer, sizeof self->issuer, issuer);
    *out = self;
    return KNOOP_OK;
}

void knoop_revlist_destroy(knoop_revlist_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->entries);
    free(*self_p);
    *self_p = NULL;
}

uint64_t knoop_revlist_number(const knoop_revlist_t *self) { return self->number; }
const char *knoop_revlist_issuer(const knoop_revlist_t *self) { return self->issuer; }
size_t knoop_revlist_size(const knoop_revlist_t *self) { return self->size; }
const knoop_revoked_t *knoop_revlist_at(const knoop_revlist_t *self, size_t i)
{
    return i < self->size ? &self->entries[i] : NULL;
}

static bool s_reason_valid(const char *r)
{
    size_t len = strnlen(r, REVLIST_REASON_MAX + 1);
    if (len > REVLIST_REASON_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (r[i] < 0x20 || r[i] >= 0x7f)
            return false;
    return true;
}

static bool s_fp_valid(const char *fp)
{
    if (strlen(fp) != 16)
        return false;
    for (size_t i = 0; i < 16; i++)
        if (!((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f')))
            return false;
    return true;
}

int knoop_revlist_add(knoop_revlist_t *self, const char *id, const char *fingerprint,
                      int64_t at, const char *reason)
{
    if (!self || (!id && !fingerprint) || (id && !knoop_id_valid(id))
        || (fingerprint && !s_fp_valid(fingerprint)) || !reason || !s_reason_valid(reason)
        || at <= 0 || at > KNOOP_TIME_MAX)
        return KNOOP_EINVAL;
    if (self->size >= REVLIST_MAX_ENTRIES)
        return KNOOP_ETOOBIG;
    knoop_revoked_t *e = knoop_array_grow(self->entries, self->size, &self->cap, sizeof *e, 16);
    if (!e)
        return KNOOP_ENOMEM;
    self->entries = e;
    e = &self->entries[self->size++];
    memset(e, 0, sizeof *e);
    s_copy(e->id, sizeof e->id, id ? id : "-");
    s_copy(e->fingerprint, sizeof e->fingerprint, fingerprint ? fingerprint : "-");
    e->at = at;
    s_copy(e->reason, sizeof e->reason, reason);
    return KNOOP_OK;
}

/* The signed part: everything but the comments and the signature line. */
static int s_revlist_body(const knoop_revlist_t *self, knoop_buf_t *out)
{
    char ipk[2 * KNOOP_PK_LEN + 1], line[512];
    knoop_hex_encode(ipk, self->issuer_pk, KNOOP_PK_LEN);
    int n = snprintf(line, sizeof line, "knoop-revocations-v1\nissuer %s\nissuer-key %s\nnumber %llu\n",
                     self->issuer, ipk, (unsigned long long) self->number);
    int rc = knoop_buf_append(out, line, (size_t) n);
    for (size_t i = 0; rc == KNOOP_OK && i < self->size; i++) {
        const knoop_revoked_t *e = &self->entries[i];
        char at[21];
        knoop_time_format(at, e->at);
        n = snprintf(line, sizeof line, "revoked %s %s %s %s\n", e->id, e->fingerprint, at,
                     e->reason);
        if (n < 0 || (size_t) n >= sizeof line)
            return KNOOP_EINVAL;
        rc = knoop_buf_append(out, line, (size_t) n);
    }
    return rc;
}

int knoop_revlist_sign(knoop_revlist_t *self, const knoop_key_t *root)
{
    if (!self || !root || strcmp(root->role, KNOOP_ROLE_ROOT) != 0
        || strcmp(root->id, self->issuer) != 0)
        return KNOOP_EINVAL;
    memcpy(self->issuer_pk, root->pk, KNOOP_PK_LEN);
    self->number++;
    knoop_buf_t body = { 0 };
    int rc = s_revlist_body(self, &body);
    if (rc == KNOOP_OK)
        knoop_sign_statement(self->sig, root->sk, body.data, body.len);
    knoop_buf_free(&body);
    return rc;
}

int knoop_revlist_verify(const knoop_revlist_t *self, const knoop_cert_t *root)
{
    if (strcmp(self->issuer, root->id) != 0
        || memcmp(self->issuer_pk, root->pk, KNOOP_PK_LEN) != 0)
        return KNOOP_EUNKNOWN;
    knoop_buf_t body = { 0 };
    int rc = s_revlist_body(self, &body);
    if (rc == KNOOP_OK)
        rc = knoop_verify_statement(self->sig, root->pk, body.data, body.len);
    knoop_buf_free(&body);
    return rc;
}

int knoop_revlist_format(const knoop_revlist_t *self, knoop_buf_t *out)
{
    static const char head[] =
        "# knooppunt revocation list -- public, signed by the root named below.\n"
        "# Brokers apply the highest number they hold; never edit by hand.\n";
    int rc = knoop_buf_append(out, head, sizeof head - 1);
    if (rc == KNOOP_OK)
        rc = s_revlist_body(self, out);
    if (rc == KNOOP_OK) {
        char sig[2 * KNOOP_SIG_LEN + 1], line[160];
        knoop_hex_encode(sig, self->sig, KNOOP_SIG_LEN);
        int n = snprintf(line, sizeof line, "signature %s\n", sig);
        rc = knoop_buf_append(out, line, (size_t) n);
    }
    return rc;
}

/* One line of a revocation list into self; why on failure. */
static const char *s_revlist_line(knoop_revlist_t *self, char *line, unsigned *seen)
{
    char *sp = strchr(line, ' ');
    if (!sp)
        return "a line without a value";
    *sp = '\0';
    const char *word = line, *rest = sp + 1;
    if (strcmp(word, "issuer") == 0 && !(*seen & 1)) {
        if (!knoop_id_valid(rest))
            return "issuer is not a valid id";
        s_copy(self->issuer, sizeof self->issuer, rest);
        *seen |= 1;
    } else if (strcmp(word, "issuer-key") == 0 && !(*seen & 2)) {
        if (s_hex_exact(self->issuer_pk, KNOOP_PK_LEN, rest) != KNOOP_OK)
            return "issuer-key is not 64 hex digits";
        *seen |= 2;
    } else if (strcmp(word, "number") == 0 && !(*seen & 4)) {
        if (s_dec_u64(rest, &self->number) != KNOOP_OK || self->number == 0)
            return "number is not a positive whole number";
        *seen |= 4;
    } else if (strcmp(word, "revoked") == 0 && (*seen & 7) == 7 && !(*seen & 8)) {
        char id[KNOOP_ID_MAX + 2], fp[18], at_text[22];
        int used = 0;
        if (sscanf(rest, "%65s %17s %21s %n", id, fp, at_text, &used) != 3)
            return "revoked wants: ID|- FINGERPRINT|- TIME REASON";
        int64_t at;
        if (knoop_time_parse(at_text, &at) != KNOOP_OK)
            return "revocation time is not RFC 3339 UTC";
        bool any_id = strcmp(id, "-") == 0, any_fp = strcmp(fp, "-") == 0;
        if (any_id && any_fp)
            return "a revocation names neither an id nor a fingerprint";
        if (knoop_revlist_add(self, any_id ? NULL : id, any_fp ? NULL : fp, at,
                              rest + used) != KNOOP_OK)
            return "a revocation entry is not valid";
    } else if (strcmp(word, "signature") == 0 && (*seen & 7) == 7 && !(*seen & 8)) {
        if (s_hex_exact(self->sig, KNOOP_SIG_LEN, rest) != KNOOP_OK)
            return "signature is not 128 hex digits";
        *seen |= 8;
    } else
        return "unexpected, repeated or misplaced line";
    return NULL;
}

int knoop_revlist_parse(const char *data, size_t len, const char *name, knoop_revlist_t **out)
{
    if (!data || !name || !out)
        return KNOOP_EINVAL;
    if (len > REVLIST_TEXT_MAX) {
        knoop_error("%s: larger than %d bytes; not a knooppunt revocation list", name,
                    REVLIST_TEXT_MAX);
        return KNOOP_ETOOBIG;
    }
    if (memchr(data, '\0', len)) {
        knoop_error("%s: contains NUL bytes; not a revocation list", name);
        return KNOOP_EMALFORMED;
    }
    knoop_revlist_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    unsigned seen = 0;
    bool tagged = false;
    const char *why = NULL;
    int lineno = 0;
    char line[512];
    for (size_t pos = 0; pos < len && !why;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t l = nl ? (size_t) (nl - (data + pos)) : len - pos;
        lineno++;
        if (l >= sizeof line) {
            why = "line too long";
            break;
        }
        memcpy(line, data + pos, l);
        line[l] = '\0';
        pos += l + (nl ? 1 : 0);
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (!tagged) {
            if (strcmp(line, "knoop-revocations-v1") != 0)
                why = "does not start with knoop-revocations-v1";
            tagged = true;
            continue;
        }
        if (seen & 8)
            why = "text after the signature";
        else
            why = s_revlist_line(self, line, &seen);
    }
    if (!why && seen != 15)
        why = "incomplete: issuer, issuer-key, number and signature are required";
    if (why) {
        knoop_error("%s: line %d: %s", name, lineno, why);
        knoop_revlist_destroy(&self);
        return KNOOP_EMALFORMED;
    }
    *out = self;
    return KNOOP_OK;
}

int64_t knoop_revlist_revoked_at(const knoop_revlist_t *self, const knoop_cert_t *cert)
{
    char fp[17];
    knoop_fingerprint(fp, cert->pk, KNOOP_PK_LEN);
    int64_t at = 0;
    for (size_t i = 0; i < self->size; i++) {
        const knoop_revoked_t *e = &self->entries[i];
        if (strcmp(e->id, cert->id) == 0 || strcmp(e->fingerprint, fp) == 0)
            if (at == 0 || e->at < at)
                at = e->at;
    }
    return at;
}

bool knoop_cert_revoked(const knoop_cert_t *cert, int64_t t)
{
    return cert->revoked_at != 0 && t >= cert->revoked_at;
}

/* ------------------------------------------------------------------ */
/* the trust store and what the mesh teaches it */

size_t knoop_trust_roots(const knoop_trust_t *self)
{
    return self->nroots;
}

const knoop_cert_t *knoop_trust_root_at(const knoop_trust_t *self, size_t i)
{
    return i < self->nroots ? &self->roots[i] : NULL;
}

uint64_t knoop_trust_revocation_number(const knoop_trust_t *self)
{
    return self->revocations;
}

int knoop_trust_check_issued(const knoop_trust_t *self, const knoop_cert_t *cert, int64_t now,
                             char *why, size_t why_size)
{
    char fp[17];
    knoop_fingerprint(fp, cert->pk, KNOOP_PK_LEN);
    if (!cert->issuer[0]) {
        snprintf(why, why_size, "certificate of %s (key %s) is not issued by any root", cert->id, fp);
        return KNOOP_EUNKNOWN;
    }
    if (strcmp(cert->role, KNOOP_ROLE_ROOT) == 0) {
        snprintf(why, why_size, "certificate of %s has role root: a root certificate is a "
                 "trust anchor, installed by the operator, never learned", cert->id);
        return KNOOP_EPERM;
    }
    const knoop_cert_t *root = s_root_of(self->roots, self->nroots, cert);
    if (!root) {
        snprintf(why, why_size, "certificate of %s (key %s) is issued by '%s', which is not "
                 "a trusted root here", cert->id, fp, cert->issuer);
        return KNOOP_EUNKNOWN;
    }
    if (knoop_cert_verify(cert, root) != KNOOP_OK) {
        snprintf(why, why_size, "certificate of %s (key %s): the signature of root '%s' "
                 "does not verify", cert->id, fp, cert->issuer);
        return KNOOP_ESIG;
    }
    if (knoop_cert_check_time(cert, now) != KNOOP_OK) {
        char from[21], until[21];
        knoop_time_format(from, cert->valid_from);
        knoop_time_format(until, cert->valid_until);
        snprintf(why, why_size, "certificate of %s (key %s) is %s: valid %s until %s", cert->id,
                 fp, now < cert->valid_from ? "not yet valid" : "expired", from, until);
        return KNOOP_EEXPIRED;
    }
    return KNOOP_OK;
}

int knoop_trust_check_revocations(const knoop_trust_t *self, const knoop_revlist_t *list,
                                  char *why, size_t why_size)
{
    for (size_t i = 0; i < self->nroots; i++) {
        if (strcmp(self->roots[i].id, list->issuer) != 0)
            continue;
        if (knoop_revlist_verify(list, &self->roots[i]) == KNOOP_OK)
            return KNOOP_OK;
        snprintf(why, why_size, "revocation list %llu: the signature of root '%s' does not "
                 "verify", (unsigned long long) list->number, list->issuer);
        return KNOOP_ESIG;
    }
    snprintf(why, why_size, "revocation list %llu is signed by '%s', which is not a trusted "
             "root here", (unsigned long long) list->number, list->issuer);
    return KNOOP_EUNKNOWN;
}

static int s_mkdir_private(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        knoop_error("%s: cannot create: %s", dir, strerror(e));
        return knoop_err_from_errno(e);
    }
    return KNOOP_OK;
}

int knoop_trust_learn_cert(const char *learned, const knoop_cert_t *cert)
{
    int rc = s_mkdir_private(learned);
    if (rc)
        return rc;
    char fp[17], path[PATH_MAX];
    knoop_fingerprint(fp, cert->pk, KNOOP_PK_LEN);
    if ((size_t) snprintf(path, sizeof path, "%s/%s-%s.cert", learned, cert->id, fp)
        >= sizeof path)
        return KNOOP_EINVAL;
    struct stat st;
    if (stat(path, &st) == 0)
        return KNOOP_EEXIST;                  /* learned before: nothing to do */
    return s_cert_save(cert, path, true);
}

int knoop_trust_learn_revocations(const char *learned, const knoop_revlist_t *list)
{
    int rc = s_mkdir_private(learned);
    if (rc)
        return rc;
    char path[PATH_MAX];
    if ((size_t) snprintf(path, sizeof path, "%s/%s", learned, KNOOP_REVOCATIONS_FILE)
        >= sizeof path)
        return KNOOP_EINVAL;
    return knoop_revlist_save(list, path);
}

int knoop_revlist_load(const char *path, knoop_revlist_t **out)
{
    knoop_buf_t text = { 0 };
    int rc = s_read_file(path, REVLIST_TEXT_MAX, &text);
    if (rc == KNOOP_OK)
        rc = knoop_revlist_parse((const char *) text.data, text.len, path, out);
    knoop_buf_free(&text);
    return rc;
}

int knoop_revlist_save(const knoop_revlist_t *self, const char *path)
{
    knoop_buf_t text = { 0 };
    int rc = knoop_revlist_format(self, &text);
    if (rc == KNOOP_OK)
        rc = s_write_replace(path, text.data, text.len);
    knoop_buf_free(&text);
    return rc;
}

uint64_t knoop_trust_stamp(const char *dir, const char *learned)
{
    uint64_t a = knoop_trust_dir_stamp(dir);
    if (!learned)
        return a;
    uint64_t b = knoop_trust_dir_stamp(learned);
    char path[PATH_MAX];
    struct stat st;
    if ((size_t) snprintf(path, sizeof path, "%s/%s", learned, KNOOP_REVOCATIONS_FILE)
        < sizeof path && stat(path, &st) == 0)
        b += (uint64_t) st.st_size * 0x9e3779b97f4a7c15ull + (uint64_t) st.st_mtim.tv_nsec
           + (uint64_t) st.st_mtim.tv_sec * 1000003u + (uint64_t) st.st_ino;
    return a * 31 + b;
}

size_t knoop_trust_expiring(const knoop_trust_t *self, int64_t now, int64_t within,
                            knoop_trust_cert_fn *fn, void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nroots + self->size; i++) {
        const knoop_cert_t *c = i < self->nroots ? &self->roots[i] : &self->certs[i - self->nroots];
        if (c->revoked_at || c->valid_until - now > within)
            continue;
        n++;
        if (fn)
            fn(arg, c, c->valid_until - now);
    }
    return n;
}

static void s_warn_one(void *arg, const knoop_cert_t *c, int64_t left)
{
    const char *who = arg;
    char until[21];
    knoop_time_format(until, c->valid_until);
    if (left < 0)
        knoop_warn("%s: certificate of %s (%s) EXPIRED at %s; it is refused until a new one "
                   "is issued", who, c->id, c->role, until);
    else
        knoop_warn("%s: certificate of %s (%s) expires in %lld days (%s); issue a new one "
                   "before then", who, c->id, c->role, (long long) (left / 86400), until);
}

size_t knoop_trust_warn_expiring(const knoop_trust_t *self, const char *who, int64_t now)
{
    return knoop_trust_expiring(self, now, KNOOP_EXPIRY_WARN_SECONDS, s_warn_one, (void *) who);
}
