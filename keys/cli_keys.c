/* cli_keys.c — `knoop keys ...`: make a partner identity, read one back for
 * humans, and the root's work: make the root, issue certificates, revoke,
 * publish to the mesh, list a trust store. Never prints secret material. */
#include "cli.h"
#include "client.h"
#include "file.h"
#include "keys.h"
#include "msg.h"
#include "topic.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_VALID_DAYS 730
#define MAX_VALID_DAYS     36500
/* A new cert starts this long before now, so that a partner whose clock
 * runs a little behind accepts it at once (Let's Encrypt backdates too). */
#define BACKDATE_SECONDS   3600
/* 9999-12-31T23:59:59Z: the last instant RFC 3339's four-digit year holds. */
#define LAST_TIME          253402300799LL

static void s_keys_usage(FILE *out)
{
    fprintf(out,
"NAME\n"
"    knoop keys - make and inspect partner identity keys and certificates\n"
"\n"
"SYNOPSIS\n"
"    knoop keys new --id ID --role ROLE --out DIR [--valid-days N] [--valid-from TIME]\n"
"    knoop keys show FILE\n"
"    knoop keys root --id ID --out DIR [--valid-days N] [--passphrase-file F]\n"
"    knoop keys issue --root ROOT.key --cert ID.cert --out DIR [--days N]\n"
"                     [--passphrase-file F] [--api EP]\n"
"    knoop keys revoke --root ROOT.key (--id ID | --fingerprint F) [--reason T]\n"
"                      [--list FILE] [--passphrase-file F] [--api EP]\n"
"    knoop keys publish FILE --api EP\n"
"    knoop keys list --trust DIR [--learned DIR]\n"
"    knoop keys rotate --key DIR/ID.key --out NEWDIR [--valid-days N]\n"
"    knoop keys COMMAND --help\n"
"\n"
"DESCRIPTION\n"
"    Every partner has one Ed25519 identity key. It signs the partner's stream\n"
"    heads, and the CurveZMQ key its node connects with is derived from it.\n"
"    ID.key holds the secret (mode 0600, never shared); ID.cert is the public\n"
"    certificate. A root (knoop keys root) issues certificates; brokers,\n"
"    nodes and auditors that trust the root learn issued certificates and\n"
"    revocations over the mesh (system topics trust.certs and\n"
"    trust.revocations), so nothing is copied to them by hand.\n"
"\n"
"COMMANDS\n"
"    new     make a new key and certificate (request)\n"
"    show    print a certificate, or the public part of a key file\n"
"    root    make the KCR2 root key (sealed under a passphrase) and certificate\n"
"    issue   sign a partner's certificate request with the root\n"
"    revoke  add a key to the root-signed revocation list and publish it\n"
"    publish hand an issued certificate or revocation list to a broker\n"
"    list    list the certificates of a trust store\n"
"    rotate  make the next key of a partner (same id and role)\n"
"\n"
"EXIT STATUS\n"
"    0 success, 2 usage or operational error.\n"
"\n"
"EXAMPLES\n"
"    knoop keys new --id vr-utrecht --role region --out /etc/knoop/keys\n"
"    knoop keys show /etc/knoop/keys/vr-utrecht.cert\n");
}

static const knoop_cmd_t s_cmd_new = {
    .prog = "knoop keys new",
    .section = "keys-new",
    .summary = "make a partner identity key and its certificate",
    .description =
"Generates a random Ed25519 key for partner ID and writes two files:\n"
"\n"
"    DIR/ID.key    the secret key, created with mode 0600. Keep it on the\n"
"                  partner's node only; never mail, copy or commit it.\n"
"    DIR/ID.cert   the public certificate (id, role, public key, derived\n"
"                  CurveZMQ key, validity). Copy it into the trust store\n"
"                  of every broker and auditor.\n"
"\n"
"DIR is created with mode 0700 when missing. Existing files are never\n"
"overwritten: if either file exists, nothing is written. Prints the\n"
"paths and the public key's fingerprint; never the secret.\n"
"\n"
"ID: 1 to 64 characters of a-z, 0-9 and '-', not starting with '-';\n"
"conventionally vr-NAME (veiligheidsregio), ws-NAME (waterschap),\n"
"vp-NAME (vital provider), kcr2 (national). ROLE: 1 to 32 characters of\n"
"a-z, 0-9, '_' and '-'; the policy grants topics by role (conventional:\n"
"region, waterschap, vital, national, broker).",
    .exit_status =
"0 both files written; 2 usage error, or the files could not be written\n"
"(for example because one of them already exists).",
    .examples =
"knoop keys new --id vr-utrecht --role region --out /etc/knoop/keys\n"
"knoop keys new --id ws-rijnland --role waterschap --out keys \\\n"
"    --valid-from 2026-01-01T00:00:00Z --valid-days 365",
};

static const knoop_opt_spec_t s_spec_new[] = {
    { "id", KNOOP_OPT_STRING, NULL, "ID", "partner id, e.g. vr-utrecht", true },
    { "role", KNOOP_OPT_STRING, NULL, "ROLE", "role the policy grants topics by, e.g. region",
      true },
    { "out", KNOOP_OPT_STRING, NULL, "DIR", "directory to write ID.key and ID.cert to", true },
    { "valid-days", KNOOP_OPT_INT, "730", "N", "days the certificate is valid, 1 to 36500",
      false },
    { "valid-from", KNOOP_OPT_STRING, NULL, "TIME",
      "start of validity, RFC 3339 UTC (default: an hour ago)", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_show = {
    .prog = "knoop keys show",
    .section = "keys-show",
    .summary = "print a certificate, or the public part of a key",
    .description =
"For a certificate (any FILE not ending in .key), prints the partner id,\n"
"role, public key, CurveZMQ key, fingerprint and validity, and whether\n"
"the certificate is valid now, expired or not yet valid.\n"
"\n"
"For a key file (FILE ending in .key), first checks that group and\n"
"others cannot access it, as ssh does, then prints only its public part:\n"
"id, role, public key, CurveZMQ key and fingerprint, and whether the\n"
"ID.cert beside it belongs to this key. The secret is never printed.",
    .operands = "FILE",
    .operands_min = 1,
    .operands_max = 1,
    .exit_status =
"0 the file was read and printed (also when the certificate has expired:\n"
"the output says so); 2 usage error, or the file is missing, unreadable,\n"
"does not parse, or is a key file that group or others may access.",
    .examples =
"knoop keys show /etc/knoop/trust/vr-utrecht.cert\n"
"knoop keys show /etc/knoop/keys/vr-utrecht.key",
};

static const knoop_opt_spec_t s_spec_show[] = {
    { NULL },
};

static bool s_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* mkdir -p with mode 0700 for each directory it creates: the key directory
 * should not be listable by others. Existing directories keep their mode. */
static int s_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* The INT option `name`, a number of days (its default is in the spec):
 * 1..MAX_VALID_DAYS, else 2 after an error naming it. */
static int s_days(const char *cmd, const knoop_config_t *cfg, const char *name, long *out)
{
    long long d = knoop_config_int(cfg, name);
    if (d < 1 || d > MAX_VALID_DAYS) {
        fprintf(stderr, "%s: invalid --%s %lld: want a whole number of days from 1 to %d\n",
                cmd, name, d, MAX_VALID_DAYS);
        return 2;
    }
    *out = (long) d;
    return 0;
}

static int s_new_run(const knoop_config_t *cfg)
{
    const char *id = knoop_config_str(cfg, "id"), *role = knoop_config_str(cfg, "role");
    const char *out = knoop_config_str(cfg, "out");
    const char *from_arg = knoop_config_str(cfg, "valid-from");
    if (!knoop_id_valid(id)) {
        fprintf(stderr, "knoop keys new: invalid --id '%s': use 1 to %d characters of "
                        "a-z, 0-9 and '-', not starting with '-'\n", id, KNOOP_ID_MAX);
        return 2;
    }
    if (!knoop_role_valid(role)) {
        fprintf(stderr, "knoop keys new: invalid --role '%s': use 1 to %d characters of "
                        "a-z, 0-9, '_' and '-' (conventional: region, waterschap, vital, "
                        "national, broker)\n", role, KNOOP_ROLE_MAX);
        return 2;
    }
    long days;
    if (s_days("knoop keys new", cfg, "valid-days", &days))
        return 2;
    int64_t from = (int64_t) time(NULL) - BACKDATE_SECONDS;
    if (from_arg && knoop_time_parse(from_arg, &from) != KNOOP_OK) {
        fprintf(stderr, "knoop keys new: invalid --valid-from '%s': want RFC 3339 UTC "
                        "like 2026-01-01T00:00:00Z\n", from_arg);
        return 2;
    }
    int64_t until = from + (int64_t) days * 86400;
    if (until > LAST_TIME) {
        fprintf(stderr, "knoop keys new: validity would end after the year 9999\n");
        return 2;
    }
    char until_text[21];
    knoop_time_format(until_text, until);

    char key_path[PATH_MAX], cert_path[PATH_MAX];
    if (snprintf(key_path, sizeof key_path, "%s/%s.key", out, id) >= (int) sizeof key_path
        || snprintf(cert_path, sizeof cert_path, "%s/%s.cert", out, id)
               >= (int) sizeof cert_path) {
        fprintf(stderr, "knoop keys new: --out path too long\n");
        return 2;
    }
    /* Checked here for a message that names the file; the library checks
     * again with O_EXCL, which is what actually protects the key. */
    const char *existing = s_exists(key_path) ? key_path
                         : s_exists(cert_path) ? cert_path : NULL;
    if (existing) {
        fprintf(stderr, "knoop keys new: %s already exists; refusing to overwrite\n", existing);
        return 2;
    }
    if (s_mkdirs(out) != 0) {
        fprintf(stderr, "knoop keys new: cannot create directory %s: %s\n", out,
                strerror(errno));
        return 2;
    }

    knoop_key_t *key = NULL;
    int rc = knoop_key_generate(id, role, &key);
    if (rc) {
        fprintf(stderr, "knoop keys new: cannot generate a key: %s\n", knoop_strerror(rc));
        return 2;
    }
    rc = knoop_key_save(key, out, from, until);
    if (rc != KNOOP_OK) {
        if (rc == KNOOP_EEXIST)
            fprintf(stderr, "knoop keys new: %s or %s already exists; refusing to "
                            "overwrite\n", key_path, cert_path);
        else
            fprintf(stderr, "knoop keys new: cannot write %s and %s: %s\n", key_path,
                    cert_path, knoop_strerror(rc));
        knoop_key_destroy(&key);
        return 2;
    }
    char fp[17], from_text[21];
    knoop_fingerprint(fp, knoop_key_public(key), KNOOP_PK_LEN);
    knoop_time_format(from_text, from);
    knoop_key_destroy(&key);
    printf("key:          %s (secret, mode 0600: keep it on this partner's node)\n"
           "certificate:  %s (public: copy it to the trust stores)\n"
           "fingerprint:  %s\n"
           "valid:        %s until %s\n",
           key_path, cert_path, fp, from_text, until_text);
    return 0;
}

static int s_new(int argc, char **argv)
{
    knoop_config_t *cfg = NULL;
    int rc = cli_options(&s_cmd_new, s_spec_new, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    int ret = s_new_run(cfg);
    knoop_config_destroy(&cfg);
    return ret;
}

static void s_print_public(const char *id, const char *role, const uint8_t pk[KNOOP_PK_LEN],
                           const uint8_t curve[KNOOP_CURVE_LEN])
{
    char pk_hex[2 * KNOOP_PK_LEN + 1], curve_hex[2 * KNOOP_CURVE_LEN + 1], fp[17];
    knoop_hex_encode(pk_hex, pk, KNOOP_PK_LEN);
    knoop_hex_encode(curve_hex, curve, KNOOP_CURVE_LEN);
    knoop_fingerprint(fp, pk, KNOOP_PK_LEN);
    printf("id:           %s\n"
           "role:         %s\n"
           "public-key:   %s\n"
           "curve-key:    %s\n"
           "fingerprint:  %s\n",
           id, role, pk_hex, curve_hex, fp);
}

static void s_print_validity(const knoop_cert_t *cert, int64_t now)
{
    char from[21], until[21];
    knoop_time_format(from, cert->valid_from);
    knoop_time_format(until, cert->valid_until);
    printf("valid-from:   %s\n"
           "valid-until:  %s\n", from, until);
    if (knoop_cert_check_time(cert, now) == KNOOP_OK)
        printf("status:       valid now (expires in %lld days)\n",
               (long long) ((cert->valid_until - now) / 86400));
    else if (now < cert->valid_from)
        printf("status:       NOT YET VALID (starts in %lld days)\n",
               (long long) ((cert->valid_from - now) / 86400));
    else
        printf("status:       EXPIRED (%lld days ago)\n",
               (long long) ((now - cert->valid_until) / 86400));
}

static int s_show_key(const char *path)
{
    knoop_key_t *key = NULL;
    int rc = knoop_key_load(path, &key);
    if (rc == KNOOP_EPERM) {
        struct stat st;
        if (stat(path, &st) == 0 && (st.st_mode & 077))
            fprintf(stderr, "knoop keys show: %s has mode %04o: group or others may "
                            "access this secret key; refusing to read it\n",
                    path, (unsigned) (st.st_mode & 07777));
        else
            fprintf(stderr, "knoop keys show: %s: permission denied\n", path);
        return 2;
    }
    if (rc != KNOOP_OK) {
        fprintf(stderr, "knoop keys show: %s: %s\n", path, knoop_strerror(rc));
        return 2;
    }
    uint8_t curve[KNOOP_CURVE_LEN];
    knoop_key_curve(key, curve, NULL);
    printf("file:         %s (secret key; the secret is not shown)\n", path);
    s_print_public(knoop_key_id(key), knoop_key_role(key), knoop_key_public(key), curve);

    /* The cert beside it: the commonest mistake after a rotation is a key
     * and a cert that do not belong together. */
    char cert_path[PATH_MAX];
    size_t len = strlen(path);
    if (len - 4 + 6 <= sizeof cert_path) {
        memcpy(cert_path, path, len - 4);
        memcpy(cert_path + len - 4, ".cert", 6);
        knoop_cert_t cert;
        if (!s_exists(cert_path))
            printf("certificate:  none at %s\n", cert_path);
        else if (knoop_cert_load(cert_path, &cert) != KNOOP_OK)
            printf("certificate:  %s does not load\n", cert_path);
        else if (memcmp(cert.pk, knoop_key_public(key), KNOOP_PK_LEN) != 0
                 || strcmp(cert.id, knoop_key_id(key)) != 0)
            printf("certificate:  %s does NOT belong to this key\n", cert_path);
        else
            printf("certificate:  %s belongs to this key\n", cert_path);
    }
    knoop_key_destroy(&key);
    return 0;
}

static int s_show_cert(const char *path)
{
    knoop_cert_t cert;
    int rc = knoop_cert_load(path, &cert);
    if (rc != KNOOP_OK) {
        fprintf(stderr, "knoop keys show: %s: %s\n", path, knoop_strerror(rc));
        return 2;
    }
    printf("file:         %s (certificate)\n", path);
    s_print_public(cert.id, cert.role, cert.pk, cert.curve_pk);
    s_print_validity(&cert, (int64_t) time(NULL));
    return 0;
}

static int s_show(int argc, char **argv)
{
    knoop_config_t *cfg = NULL;
    int rc = cli_options(&s_cmd_show, s_spec_show, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    const char *const *ops = NULL;
    knoop_config_operands(cfg, &ops);
    const char *path = ops[0];
    int ret;
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".key") == 0)
        ret = s_show_key(path);
    else
        ret = s_show_cert(path);
    knoop_config_destroy(&cfg);
    return ret;
}

/* ------------------------------------------------------------------ */
/* the root's commands */

#define PASS_MAX 1024

/* The passphrase from FILE (its first line; the file must be 0600 like a
 * key) or, without FILE, from the terminal without echo (twice when
 * `confirm`). Returns its length, or -1 with the reason printed. */
static long s_passphrase(const char *cmd, const char *file, bool confirm, char *out, size_t size)
{
    size_t len = 0;
    if (file) {
        /* A secret: refused when group or others may access it; its size is
         * bounded by what the buffer holds, and the copy read is wiped. */
        knoop_buf_t buf = { 0 };
        char why[256];
        int rc = knoop_file_read(file, size - 1, KNOOP_FILE_TEXT | KNOOP_FILE_SECRET, &buf, why,
                                 sizeof why);
        if (rc == KNOOP_OK) {
            len = strcspn((const char *) buf.data, "\r\n");
            memcpy(out, buf.data, len);
            out[len] = '\0';
        }
        if (buf.data)
            knoop_wipe(buf.data, buf.cap);
        knoop_buf_free(&buf);
        if (rc != KNOOP_OK) {
            fprintf(stderr, "%s: --passphrase-file %s: %s\n", cmd, file, why);
            return -1;
        }
    } else {
        int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
        if (tty < 0) {
            fprintf(stderr, "%s: no terminal to ask the passphrase on; give "
                            "--passphrase-file FILE\n", cmd);
            return -1;
        }
        struct termios old, quiet;
        bool restore = tcgetattr(tty, &old) == 0;
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        for (int round = 0; round < (confirm ? 2 : 1); round++) {
            char again[PASS_MAX];
            char *buf = round ? again : out;
            dprintf(tty, round ? "Passphrase again: " : "Root key passphrase: ");
            if (restore)
                tcsetattr(tty, TCSAFLUSH, &quiet);
            ssize_t n = read(tty, buf, size - 1);
            if (restore)
                tcsetattr(tty, TCSAFLUSH, &old);
            dprintf(tty, "\n");
            if (n < 0)
                n = 0;
            buf[n] = '\0';
            buf[strcspn(buf, "\r\n")] = '\0';
            if (round && strcmp(again, out) != 0) {
                knoop_wipe(again, sizeof again);
                fprintf(stderr, "%s: the passphrases differ\n", cmd);
                close(tty);
                return -1;
            }
            knoop_wipe(again, sizeof again);
        }
        close(tty);
        len = strlen(out);
    }
    if (len == 0) {
        fprintf(stderr, "%s: empty passphrase\n", cmd);
        return -1;
    }
    if (confirm && len < 12) {
        fprintf(stderr, "%s: passphrase shorter than 12 characters; a root key deserves more\n",
                cmd);
        return -1;
    }
    return (long) len;
}

static knoop_key_t *s_open_root(const char *cmd, const char *path, const char *pass_file)
{
    char pass[PASS_MAX];
    long n = s_passphrase(cmd, pass_file, false, pass, sizeof pass);
    if (n < 0)
        return NULL;
    knoop_key_t *root = NULL;
    int rc = knoop_key_load_sealed(path, pass, (size_t) n, &root);
    knoop_wipe(pass, sizeof pass);
    if (rc == KNOOP_ESIG)
        fprintf(stderr, "%s: wrong passphrase for %s (the root key does not open)\n", cmd, path);
    else if (rc == KNOOP_EPERM)
        fprintf(stderr, "%s: %s: group or others may access it; refusing (chmod 600)\n", cmd,
                path);
    else if (rc)
        fprintf(stderr, "%s: cannot open root key %s: %s\n", cmd, path, knoop_strerror(rc));
    return rc ? NULL : root;
}

/* Hand a trust payload (cert or revocation list text) to a broker's local
 * API; the broker checks it against its roots and journals it on the
 * system topic, from where the mesh carries it. */
static int s_publish_trust(const char *cmd, const char *api, const char *topic, const char *type,
                           const uint8_t *text, size_t len)
{
    knoop_client_t *c = NULL;
    int rc = knoop_client_new(api, &c);
    if (rc) {
        fprintf(stderr, "%s: cannot connect to %s: %s\n", cmd, api, knoop_strerror(rc));
        return 2;
    }
    knoop_api_item_t item = {
        .topic = topic, .type = type, .key = "", .priority = KNOOP_PRIO_FLASH,
        .status = KNOOP_STATUS_SYSTEM, .tlp = KNOOP_TLP_GREEN, .payload = text,
        .payload_len = len,
    };
    knoop_api_seq_t res;
    char err[512] = "";
    rc = knoop_client_publish(c, &item, 1, &res, 10000, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: %s refused or did not answer: %s\n", cmd, api,
                err[0] ? err : knoop_client_error(c));
        knoop_client_destroy(&c);
        return 2;
    }
    printf("published:    %s %s seq %llu (the mesh carries it to every broker)\n", res.origin,
           res.topic, (unsigned long long) res.seq);
    knoop_client_destroy(&c);
    return 0;
}

static const knoop_cmd_t s_cmd_root = {
    .prog = "knoop keys root",
    .section = "keys-root",
    .summary = "make the KCR2 root of trust",
    .description =
"Makes the root key and writes DIR/ID.key, the key sealed under a\n"
"passphrase (Argon2id + XSalsa20-Poly1305; mode 0600) and DIR/ID.cert,\n"
"the self-signed root certificate (role root) that goes into the trust\n"
"directory of every broker, node and auditor. The passphrase is asked on\n"
"the terminal twice, or read from the first line of --passphrase-file\n"
"(mode 0600). Keep the key offline: it is needed only to issue and\n"
"revoke. Default validity 3650 days.\n"
"\n"
"--kdf-cost sets how hard the passphrase is to guess: moderate (default,\n"
"256 MiB and about a second per use), sensitive (1 GiB, several seconds;\n"
"for the national root on its offline machine) or interactive (64 MiB;\n"
"demos and tests). The cost is stored in the key file.",
    .exit_status =
"0 written, 2 usage or operational error.",
    .examples =
"knoop keys root --id kcr2-root --out /media/offline/root",
};

static const knoop_opt_spec_t s_spec_root[] = {
    { "id", KNOOP_OPT_STRING, NULL, "ID", "the root's id, e.g. kcr2-root", true },
    { "out", KNOOP_OPT_STRING, NULL, "DIR", "directory to write ID.key and ID.cert to", true },
    { "valid-days", KNOOP_OPT_INT, "3650", "N", "days the root certificate is valid", false },
    { "passphrase-file", KNOOP_OPT_STRING, NULL, "FILE",
      "read the passphrase from FILE's first line (mode 0600)", false },
    { "kdf-cost", KNOOP_OPT_STRING, "moderate", "COST",
      "interactive, moderate or sensitive", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_issue = {
    .prog = "knoop keys issue",
    .section = "keys-issue",
    .summary = "sign a partner's certificate with the root",
    .description =
"Reads the certificate request ID.cert that the partner made with\n"
"knoop keys new (the partner's secret never leaves its site), and writes\n"
"DIR/ID.cert signed by the root for --days (default 730) from now (an\n"
"hour back, for clocks behind). With --api (a broker's local API, e.g.\n"
"ipc:///var/lib/knoop/b1/api.sock) the issued certificate is also handed\n"
"to the mesh on the system topic trust.certs: every broker, node and\n"
"journal then knows it, and the partner can connect at once. --cert may\n"
"be given many times: the root is opened once for all of them; the\n"
"first failure stops the batch.",
    .exit_status =
"0 issued (and published), 2 usage or operational error.",
    .examples =
"knoop keys issue --root root/kcr2-root.key --out issued \\\n"
"    --cert vr-utrecht.cert --api ipc:///var/lib/knoop/b1/api.sock",
};

static const knoop_opt_spec_t s_spec_issue[] = {
    { "root", KNOOP_OPT_STRING, NULL, "ROOT.key", "the sealed root key", true },
    { "cert", KNOOP_OPT_LIST, NULL, "ID.cert", "a certificate request", true },
    { "out", KNOOP_OPT_STRING, NULL, "DIR", "directory to write the issued ID.cert to", true },
    { "days", KNOOP_OPT_INT, "730", "N", "days the certificate is valid", false },
    { "valid-from", KNOOP_OPT_STRING, NULL, "TIME",
      "start of validity, RFC 3339 UTC (default: an hour ago)", false },
    { "passphrase-file", KNOOP_OPT_STRING, NULL, "FILE",
      "read the root's passphrase from FILE (mode 0600)", false },
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT",
      "also publish it through this broker's local API", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_revoke = {
    .prog = "knoop keys revoke",
    .section = "keys-revoke",
    .summary = "withdraw a partner's key, everywhere",
    .description =
"Adds the id (all its keys) or the key with fingerprint F to the\n"
"root's revocation list, numbers it one higher, signs it, writes it back\n"
"to --list (default: ROOT-ID.revocations beside the root key) and, with\n"
"--api (a broker's local API), publishes it on the system topic\n"
"trust.revocations. Each broker applies it the moment it holds it: the\n"
"partner's handshakes are refused and its sessions closed. The time of\n"
"revocation (--at, default now rounded up to the whole second) divides\n"
"its messages: signed before, they still verify in knoop audit verify;\n"
"at or after, they are refused.",
    .exit_status =
"0 signed (and published), 2 usage or operational error.",
    .examples =
"knoop keys revoke --root root/kcr2-root.key --id vr-x \\\n"
"    --reason 'key lost' --api ipc:///var/lib/knoop/b1/api.sock",
};

static const knoop_opt_spec_t s_spec_revoke[] = {
    { "root", KNOOP_OPT_STRING, NULL, "ROOT.key", "the sealed root key", true },
    { "id", KNOOP_OPT_STRING, NULL, "ID", "revoke every key of this partner", false },
    { "fingerprint", KNOOP_OPT_STRING, NULL, "F",
      "revoke the key with this fingerprint (16 hex digits)", false },
    { "reason", KNOOP_OPT_STRING, NULL, "TEXT", "why (printable ASCII, up to 200)", false },
    { "at", KNOOP_OPT_STRING, NULL, "TIME", "time of revocation, RFC 3339 UTC (default now)",
      false },
    { "list", KNOOP_OPT_STRING, NULL, "FILE",
      "the revocation list (default ROOT-ID.revocations beside the root key)", false },
    { "passphrase-file", KNOOP_OPT_STRING, NULL, "FILE",
      "read the root's passphrase from FILE (mode 0600)", false },
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT",
      "also publish it through this broker's local API", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_publish = {
    .prog = "knoop keys publish",
    .section = "keys-publish",
    .summary = "publish a certificate or revocation list",
    .description =
"FILE is an issued certificate (.cert) or a revocation list. The broker\n"
"at EP (its local API) checks it against its roots and journals it on\n"
"trust.certs or trust.revocations; the mesh carries it everywhere.\n"
"Needs no root key: what is published is already signed by the root.",
    .operands = "FILE",
    .operands_min = 1,
    .operands_max = 1,
    .exit_status =
"0 published, 2 refused or error (the broker's reason is printed).",
};

static const knoop_opt_spec_t s_spec_publish[] = {
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT", "the broker's local API", true },
    { NULL },
};

static const knoop_cmd_t s_cmd_rotate = {
    .prog = "knoop keys rotate",
    .section = "keys-rotate",
    .summary = "make the next key of a partner",
    .description =
"Makes a new key for the same id and role as the current key, in NEWDIR\n"
"(NEWDIR/ID.key, 0600, and the request NEWDIR/ID.cert). Then: have the\n"
"request issued and published (knoop keys issue --api), restart the node\n"
"with --key NEWDIR/ID.key and the issued certificate in its trust\n"
"directory. Both keys are valid meanwhile (overlap): messages the old key\n"
"signed still verify, unacknowledged ones are sent after the restart, and\n"
"new messages go out under a new epoch signed by the new key. When the\n"
"node runs on the new key, revoke the old one by fingerprint (printed).",
    .exit_status =
"0 written, 2 usage or operational error.",
};

static const knoop_opt_spec_t s_spec_rotate[] = {
    { "key", KNOOP_OPT_STRING, NULL, "DIR/ID.key", "the partner's current key", true },
    { "out", KNOOP_OPT_STRING, NULL, "NEWDIR", "directory for the new key and request", true },
    { "valid-days", KNOOP_OPT_INT, "730", "N", "days the new certificate is valid", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_list = {
    .prog = "knoop keys list",
    .section = "keys-list",
    .summary = "list the certificates a trust store holds",
    .description =
"One line per certificate: id, role, fingerprint, issuer (or pinned),\n"
"valid until, and revoked (time) or expires-soon (within 30 days) or\n"
"expired. Roots first. --learned adds what a daemon learned over the\n"
"mesh (its DATA/trust directory).",
    .exit_status =
"0 listed, 2 the trust store does not load (the reason is printed).",
};

static const knoop_opt_spec_t s_spec_list[] = {
    { "trust", KNOOP_OPT_STRING, NULL, "DIR", "the trust store (root and partner *.cert)",
      true },
    { "learned", KNOOP_OPT_STRING, NULL, "DIR",
      "also what a daemon learned over the mesh (its DATA/trust)", false },
    { NULL },
};

/* Options shared by the root's commands. */
typedef struct {
    const char *id, *out, *root, *pass_file, *api, *fp, *reason, *list, *trust, *learned,
               *from, *at, *cost, *keyfile;
} s_args_t;

/* The option of the command's spec, or NULL where it has none. */
static const char *s_opt(const knoop_config_t *cfg, const knoop_opt_spec_t *spec,
                         const char *name)
{
    for (; spec->name; spec++)
        if (!strcmp(spec->name, name))
            return spec->kind == KNOOP_OPT_LIST ? NULL : knoop_config_str(cfg, name);
    return NULL;
}

typedef int (*s_run_fn)(const char *cmd, const knoop_config_t *cfg, const s_args_t *a);

/* Parse the options of one of the root's commands and run it. */
static int s_run(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec, s_run_fn run, int argc,
                 char **argv)
{
    knoop_config_t *cfg = NULL;
    int rc = cli_options(cmd, spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    s_args_t a = {
        .id = s_opt(cfg, spec, "id"), .out = s_opt(cfg, spec, "out"),
        .root = s_opt(cfg, spec, "root"), .pass_file = s_opt(cfg, spec, "passphrase-file"),
        .api = s_opt(cfg, spec, "api"), .fp = s_opt(cfg, spec, "fingerprint"),
        .reason = s_opt(cfg, spec, "reason"), .list = s_opt(cfg, spec, "list"),
        .trust = s_opt(cfg, spec, "trust"), .learned = s_opt(cfg, spec, "learned"),
        .from = s_opt(cfg, spec, "valid-from"), .at = s_opt(cfg, spec, "at"),
        .cost = s_opt(cfg, spec, "kdf-cost"), .keyfile = s_opt(cfg, spec, "key"),
    };
    rc = run(cmd->prog, cfg, &a);
    knoop_config_destroy(&cfg);
    return rc;
}

static int s_root_run(const char *cmd, const knoop_config_t *cfg, const s_args_t *ap)
{
    s_args_t a = *ap;
    int rc;
    if (!knoop_id_valid(a.id)) {
        fprintf(stderr, "%s: invalid --id '%s'\n", cmd, a.id);
        return 2;
    }
    long days;
    if (s_days(cmd, cfg, "valid-days", &days))
        return 2;
    knoop_pwcost_t cost = KNOOP_PWCOST_MODERATE;
    if (a.cost && !strcmp(a.cost, "interactive"))
        cost = KNOOP_PWCOST_INTERACTIVE;
    else if (a.cost && !strcmp(a.cost, "sensitive"))
        cost = KNOOP_PWCOST_SENSITIVE;
    else if (a.cost && strcmp(a.cost, "moderate") != 0) {
        fprintf(stderr, "%s: invalid --kdf-cost '%s': interactive, moderate or sensitive\n",
                cmd, a.cost);
        return 2;
    }
    if (s_mkdirs(a.out) != 0) {
        fprintf(stderr, "%s: cannot create directory %s: %s\n", cmd, a.out, strerror(errno));
        return 2;
    }
    char pass[PASS_MAX];
    long n = s_passphrase(cmd, a.pass_file, !a.pass_file, pass, sizeof pass);
    if (n < 0)
        return 2;
    knoop_key_t *key = NULL;
    rc = knoop_key_generate(a.id, KNOOP_ROLE_ROOT, &key);
    if (rc) {
        knoop_wipe(pass, sizeof pass);
        fprintf(stderr, "%s: cannot generate a key: %s\n", cmd, knoop_strerror(rc));
        return 2;
    }
    int64_t from = (int64_t) time(NULL) - BACKDATE_SECONDS;
    rc = knoop_key_save_sealed(key, a.out, pass, (size_t) n, cost, from, from + days * 86400);
    knoop_wipe(pass, sizeof pass);
    char fp[17];
    knoop_fingerprint(fp, knoop_key_public(key), KNOOP_PK_LEN);
    knoop_key_destroy(&key);
    if (rc) {
        fprintf(stderr, "%s: cannot write the root into %s: %s\n", cmd, a.out,
                knoop_strerror(rc));
        return 2;
    }
    printf("root key:     %s/%s.key (sealed under the passphrase, mode 0600: keep it offline)\n"
           "root cert:    %s/%s.cert (public: put it in every trust directory)\n"
           "fingerprint:  %s\n", a.out, a.id, a.out, a.id, fp);
    return 0;
}

/* Issue one request with an open root; print it; publish it with --api. */
static int s_issue_one(const char *cmd, const s_args_t *a, const char *req,
                       const knoop_key_t *root, int64_t from, long days)
{
    knoop_cert_t cert;
    int rc = knoop_cert_load(req, &cert);
    if (rc) {
        fprintf(stderr, "%s: %s: %s\n", cmd, req, knoop_strerror(rc));
        return 2;
    }
    if (strcmp(cert.role, KNOOP_ROLE_ROOT) == 0) {
        fprintf(stderr, "%s: %s has role root; a root is made with knoop keys root, not "
                        "issued\n", cmd, req);
        return 2;
    }
    cert.valid_from = from;
    cert.valid_until = from + (int64_t) days * 86400;
    cert.revoked_at = 0;
    rc = knoop_cert_issue(&cert, root);
    if (rc) {
        fprintf(stderr, "%s: cannot sign %s: %s\n", cmd, req, knoop_strerror(rc));
        return 2;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s.cert", a->out, cert.id) >= (int) sizeof path) {
        fprintf(stderr, "%s: --out path too long\n", cmd);
        return 2;
    }
    rc = knoop_cert_write(&cert, path);
    if (rc) {
        fprintf(stderr, "%s: cannot write %s: %s\n", cmd, path, knoop_strerror(rc));
        return 2;
    }
    char fp[17], until[21];
    knoop_fingerprint(fp, cert.pk, KNOOP_PK_LEN);
    knoop_time_format(until, cert.valid_until);
    printf("issued:       %s (%s, role %s, by %s)\n"
           "fingerprint:  %s\n"
           "valid until:  %s\n", path, cert.id, cert.role, cert.issuer, fp, until);
    if (!a->api)
        return 0;
    knoop_buf_t text = { 0 };
    rc = knoop_cert_format(&cert, &text) == KNOOP_OK
       ? s_publish_trust(cmd, a->api, KNOOP_TRUST_TOPIC_CERTS, KNOOP_TRUST_TYPE_CERT,
                         text.data, text.len)
       : 2;
    knoop_buf_free(&text);
    return rc;
}

#define ISSUE_MAX_CERTS 4096

static int s_issue_run(const char *cmd, const knoop_config_t *cfg, const s_args_t *ap)
{
    s_args_t a = *ap;
    /* --cert may repeat: the root is opened once for a whole batch. */
    const char *const *reqs = NULL;
    size_t nreqs = knoop_config_list(cfg, "cert", &reqs);
    if (nreqs > ISSUE_MAX_CERTS) {
        fprintf(stderr, "%s: more than %d --cert in one batch\n", cmd, ISSUE_MAX_CERTS);
        return 2;
    }
    long days;
    int64_t from = (int64_t) time(NULL) - BACKDATE_SECONDS;
    if (s_days(cmd, cfg, "days", &days))
        return 2;
    if (a.from && knoop_time_parse(a.from, &from) != KNOOP_OK) {
        fprintf(stderr, "%s: invalid --valid-from '%s': want RFC 3339 UTC like "
                        "2026-01-01T00:00:00Z\n", cmd, a.from);
        return 2;
    }
    if (s_mkdirs(a.out) != 0) {
        fprintf(stderr, "%s: cannot create directory %s: %s\n", cmd, a.out, strerror(errno));
        return 2;
    }
    knoop_key_t *root = s_open_root(cmd, a.root, a.pass_file);
    int ret = root ? 0 : 2;
    for (size_t i = 0; root && i < nreqs && ret == 0; i++)
        ret = s_issue_one(cmd, &a, reqs[i], root, from, days);
    knoop_key_destroy(&root);
    return ret;
}

static int s_revoke_run(const char *cmd, const knoop_config_t *cfg, const s_args_t *ap)
{
    s_args_t a = *ap;
    int rc;
    if (!a.id && !a.fp) {
        fprintf(stderr, "%s: --id or --fingerprint is required (see --help)\n", cmd);
        return 2;
    }
    if (a.id && !knoop_id_valid(a.id)) {
        fprintf(stderr, "%s: invalid --id '%s'\n", cmd, a.id);
        return 2;
    }
    /* Revocation times are whole seconds and refuse what is dated at or
     * after them: round now up, so that nothing the key signed before this
     * command ran (earlier in the same second) is refused. */
    int64_t at = (int64_t) ((knoop_now_ms() + 999) / 1000);
    if (a.at && knoop_time_parse(a.at, &at) != KNOOP_OK) {
        fprintf(stderr, "%s: invalid --at '%s': want RFC 3339 UTC\n", cmd, a.at);
        return 2;
    }
    knoop_key_t *root = s_open_root(cmd, a.root, a.pass_file);
    if (!root)
        return 2;
    char list_path[PATH_MAX];
    if (a.list)
        snprintf(list_path, sizeof list_path, "%s", a.list);
    else {
        const char *slash = strrchr(a.root, '/');
        int dlen = slash ? (int) (slash - a.root) : 1;
        snprintf(list_path, sizeof list_path, "%.*s/%s.revocations", dlen,
                 slash ? a.root : ".", knoop_key_id(root));
    }
    knoop_revlist_t *list = NULL;
    if (s_exists(list_path)) {
        rc = knoop_revlist_load(list_path, &list);
        if (rc) {
            fprintf(stderr, "%s: %s does not load (%s); not revoking on a damaged list\n", cmd,
                    list_path, knoop_strerror(rc));
            knoop_key_destroy(&root);
            return 2;
        }
    } else if ((rc = knoop_revlist_new(knoop_key_id(root), &list)) != KNOOP_OK) {
        fprintf(stderr, "%s: cannot start a revocation list of %s: %s\n", cmd,
                knoop_key_id(root), knoop_strerror(rc));
    }
    if (rc == KNOOP_OK) {
        rc = knoop_revlist_add(list, a.id, a.fp, at, a.reason ? a.reason : "revoked");
        if (rc == KNOOP_EINVAL)
            fprintf(stderr, "%s: invalid fingerprint (16 hex digits, as keys show prints) or "
                            "reason (printable ASCII, up to 200 characters)\n", cmd);
    }
    if (rc == KNOOP_OK)
        rc = knoop_revlist_sign(list, root);
    knoop_key_destroy(&root);
    if (rc == KNOOP_OK && (rc = knoop_revlist_save(list, list_path)) != KNOOP_OK)
        fprintf(stderr, "%s: cannot write %s: %s\n", cmd, list_path, knoop_strerror(rc));
    if (rc) {
        knoop_revlist_destroy(&list);
        return 2;
    }
    printf("revocations:  %s, number %llu, %zu entries\n", list_path,
           (unsigned long long) knoop_revlist_number(list), knoop_revlist_size(list));
    int ret = 0;
    if (a.api) {
        knoop_buf_t text = { 0 };
        if (knoop_revlist_format(list, &text) == KNOOP_OK)
            ret = s_publish_trust(cmd, a.api, KNOOP_TRUST_TOPIC_REVOCATIONS,
                                  KNOOP_TRUST_TYPE_REVOCATIONS, text.data, text.len);
        knoop_buf_free(&text);
    }
    knoop_revlist_destroy(&list);
    return ret;
}

static int s_publish_run(const char *cmd, const knoop_config_t *cfg, const s_args_t *ap)
{
    s_args_t a = *ap;
    const char *const *ops = NULL;
    knoop_config_operands(cfg, &ops);
    const char *path = ops[0];
    knoop_cert_t cert;
    knoop_revlist_t *list = NULL;
    knoop_buf_t text = { 0 };
    int ret = 2;
    if (knoop_revlist_load(path, &list) == KNOOP_OK) {
        if (knoop_revlist_format(list, &text) == KNOOP_OK)
            ret = s_publish_trust(cmd, a.api, KNOOP_TRUST_TOPIC_REVOCATIONS,
                                  KNOOP_TRUST_TYPE_REVOCATIONS, text.data, text.len);
        knoop_revlist_destroy(&list);
    } else if (knoop_cert_load(path, &cert) == KNOOP_OK) {
        if (!cert.issuer[0])
            fprintf(stderr, "%s: %s is not issued by a root (knoop keys issue signs it)\n", cmd,
                    path);
        else if (knoop_cert_format(&cert, &text) == KNOOP_OK)
            ret = s_publish_trust(cmd, a.api, KNOOP_TRUST_TOPIC_CERTS, KNOOP_TRUST_TYPE_CERT,
                                  text.data, text.len);
    } else
        fprintf(stderr, "%s: %s is neither a certificate nor a revocation list\n", cmd, path);
    knoop_buf_free(&text);
    return ret;
}

static int s_rotate_run(const char *cmd, const knoop_config_t *cfg, const s_args_t *ap)
{
    s_args_t a = *ap;
    int rc;
    long days;
    if (s_days(cmd, cfg, "valid-days", &days))
        return 2;
    knoop_key_t *old = NULL;
    rc = knoop_key_load(a.keyfile, &old);
    if (rc) {
        fprintf(stderr, "%s: cannot load %s: %s\n", cmd, a.keyfile, knoop_strerror(rc));
        return 2;
    }
    char old_fp[17];
    knoop_fingerprint(old_fp, knoop_key_public(old), KNOOP_PK_LEN);
    knoop_key_t *key = NULL;
    int grc = knoop_key_generate(knoop_key_id(old), knoop_key_role(old), &key);
    if (grc || s_mkdirs(a.out) != 0) {
        fprintf(stderr, "%s: cannot make the new key in %s: %s\n", cmd, a.out,
                grc ? knoop_strerror(grc) : strerror(errno));
        knoop_key_destroy(&key);
        knoop_key_destroy(&old);
        return 2;
    }
    int64_t from = (int64_t) time(NULL) - BACKDATE_SECONDS;
    rc = knoop_key_save(key, a.out, from, from + (int64_t) days * 86400);
    char fp[17];
    knoop_fingerprint(fp, knoop_key_public(key), KNOOP_PK_LEN);
    if (rc)
        fprintf(stderr, "%s: cannot write the new key into %s: %s\n", cmd, a.out,
                knoop_strerror(rc));
    else
        printf("new key:      %s/%s.key (fingerprint %s)\n"
               "request:      %s/%s.cert (have it issued: knoop keys issue --api EP)\n"
               "old key:      fingerprint %s (revoke it with --fingerprint %s once the node "
               "runs on the new key)\n", a.out, knoop_key_id(key), fp, a.out,
               knoop_key_id(key), old_fp, old_fp);
    knoop_key_destroy(&key);
    knoop_key_destroy(&old);
    return rc ? 2 : 0;
}

#define EXPIRY_WARN_DAYS 30

static int s_list_run(const char *cmd, const knoop_config_t *cfg, const s_args_t *ap)
{
    s_args_t a = *ap;
    (void) cfg;
    knoop_trust_t *t = NULL;
    int rc = knoop_trust_load_ex(a.trust, a.learned, KNOOP_TRUST_KEEP_EXPIRED, &t);
    if (rc) {
        fprintf(stderr, "%s: trust store %s does not load: %s\n", cmd, a.trust,
                knoop_strerror(rc));
        return 2;
    }
    int64_t now = (int64_t) time(NULL);
    printf("%-24s %-12s %-16s %-18s %-20s %s\n", "ID", "ROLE", "FINGERPRINT", "ISSUER",
           "VALID-UNTIL", "STATE");
    size_t nroots = knoop_trust_roots(t), n = knoop_trust_size(t);
    for (size_t i = 0; i < nroots + n; i++) {
        const knoop_cert_t *c = i < nroots ? knoop_trust_root_at(t, i)
                                           : knoop_trust_at(t, i - nroots);
        char fp[17], until[21], state[64];
        knoop_fingerprint(fp, c->pk, KNOOP_PK_LEN);
        knoop_time_format(until, c->valid_until);
        if (c->revoked_at) {
            char at[21];
            knoop_time_format(at, c->revoked_at);
            snprintf(state, sizeof state, "revoked %s", at);
        } else if (knoop_cert_check_time(c, now) != KNOOP_OK)
            snprintf(state, sizeof state, now < c->valid_from ? "not-yet-valid" : "expired");
        else if (c->valid_until - now < EXPIRY_WARN_DAYS * 86400)
            snprintf(state, sizeof state, "expires-soon (%lld days)",
                     (long long) ((c->valid_until - now) / 86400));
        else
            snprintf(state, sizeof state, "valid");
        printf("%-24s %-12s %-16s %-18s %-20s %s\n", c->id, c->role, fp,
               i < nroots ? "(root)" : c->issuer[0] ? c->issuer : "(pinned)", until, state);
    }
    if (knoop_trust_revocation_number(t))
        printf("revocation list number %llu applied\n",
               (unsigned long long) knoop_trust_revocation_number(t));
    knoop_trust_destroy(&t);
    return 0;
}

int knoop_cli_keys(int argc, char **argv)
{
    if (argc < 2) {
        s_keys_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        s_keys_usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "new"))
        return s_new(argc - 1, argv + 1);
    if (!strcmp(cmd, "show"))
        return s_show(argc - 1, argv + 1);
    if (!strcmp(cmd, "root"))
        return s_run(&s_cmd_root, s_spec_root, s_root_run, argc - 1, argv + 1);
    if (!strcmp(cmd, "issue"))
        return s_run(&s_cmd_issue, s_spec_issue, s_issue_run, argc - 1, argv + 1);
    if (!strcmp(cmd, "revoke"))
        return s_run(&s_cmd_revoke, s_spec_revoke, s_revoke_run, argc - 1, argv + 1);
    if (!strcmp(cmd, "publish"))
        return s_run(&s_cmd_publish, s_spec_publish, s_publish_run, argc - 1, argv + 1);
    if (!strcmp(cmd, "list"))
        return s_run(&s_cmd_list, s_spec_list, s_list_run, argc - 1, argv + 1);
    if (!strcmp(cmd, "rotate"))
        return s_run(&s_cmd_rotate, s_spec_rotate, s_rotate_run, argc - 1, argv + 1);
    fprintf(stderr, "knoop keys: unknown command '%s' (try knoop keys --help)\n", cmd);
    return 2;
}
