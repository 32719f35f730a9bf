/* cli_keys.c — `knoop keys new` and `knoop keys show`: make a partner
 * identity, and read one back for humans. Never prints secret material. */
#include "cli.h"
#include "keys.h"
#include "topic.h"

#include <errno.h>
#include <getopt.h>
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
"    knoop keys COMMAND --help\n"
"\n"
"DESCRIPTION\n"
"    Every partner has one Ed25519 identity key. It signs the partner's stream\n"
"    heads, and the CurveZMQ key its node connects with is derived from it.\n"
"    ID.key holds the secret (mode 0600, never shared); ID.cert is the public\n"
"    certificate that goes into the trust store of every broker and auditor.\n"
"\n"
"COMMANDS\n"
"    new     make a new key and certificate\n"
"    show    print a certificate, or the public part of a key file\n"
"\n"
"EXIT STATUS\n"
"    0 success, 2 usage or operational error.\n"
"\n"
"EXAMPLES\n"
"    knoop keys new --id vr-utrecht --role region --out /etc/knoop/keys\n"
"    knoop keys show /etc/knoop/keys/vr-utrecht.cert\n");
}

static void s_new_usage(FILE *out)
{
    fprintf(out,
"NAME\n"
"    knoop keys new - make a partner identity key and its certificate\n"
"\n"
"SYNOPSIS\n"
"    knoop keys new --id ID --role ROLE --out DIR [--valid-days N]\n"
"                   [--valid-from TIME]\n"
"\n"
"DESCRIPTION\n"
"    Generates a random Ed25519 key for partner ID and writes two files:\n"
"\n"
"        DIR/ID.key    the secret key, created with mode 0600. Keep it on the\n"
"                      partner's node only; never mail, copy or commit it.\n"
"        DIR/ID.cert   the public certificate (id, role, public key, derived\n"
"                      CurveZMQ key, validity). Copy it into the trust store\n"
"                      of every broker and auditor.\n"
"\n"
"    DIR is created with mode 0700 when missing. Existing files are never\n"
"    overwritten: if either file exists, nothing is written. Prints the\n"
"    paths and the public key's fingerprint; never the secret.\n"
"\n"
"OPTIONS\n"
"    --id ID\n"
"        Partner id: 1 to %d characters of a-z, 0-9 and '-', not starting\n"
"        with '-'. Conventionally vr-NAME (veiligheidsregio), ws-NAME\n"
"        (waterschap), vp-NAME (vital provider), kcr2 (national).\n"
"\n"
"    --role ROLE\n"
"        1 to %d characters of a-z, 0-9, '_' and '-'. The policy grants\n"
"        topics by role. Conventional roles: region, waterschap, vital,\n"
"        national, broker.\n"
"\n"
"    --out DIR\n"
"        Directory to write the two files to.\n"
"\n"
"    --valid-days N\n"
"        Days the certificate is valid, 1 to %d. Default %d.\n"
"\n"
"    --valid-from TIME\n"
"        Start of validity, RFC 3339 UTC: YYYY-MM-DDTHH:MM:SSZ. Default: one\n"
"        hour before now, so partners whose clocks run behind accept it.\n"
"\n"
"    -h, --help\n"
"        Print this help and exit.\n"
"\n"
"EXIT STATUS\n"
"    0  both files written.\n"
"    2  usage error, or the files could not be written (for example because\n"
"       one of them already exists).\n"
"\n"
"EXAMPLES\n"
"    knoop keys new --id vr-utrecht --role region --out /etc/knoop/keys\n"
"    knoop keys new --id ws-rijnland --role waterschap --out keys \\\n"
"                   --valid-from 2026-01-01T00:00:00Z --valid-days 365\n",
    KNOOP_ID_MAX, KNOOP_ROLE_MAX, MAX_VALID_DAYS, DEFAULT_VALID_DAYS);
}

static void s_show_usage(FILE *out)
{
    fprintf(out,
"NAME\n"
"    knoop keys show - print a certificate, or the public part of a key\n"
"\n"
"SYNOPSIS\n"
"    knoop keys show FILE\n"
"\n"
"DESCRIPTION\n"
"    For a certificate (any FILE not ending in .key), prints the partner id,\n"
"    role, public key, CurveZMQ key, fingerprint and validity, and whether\n"
"    the certificate is valid now, expired or not yet valid.\n"
"\n"
"    For a key file (FILE ending in .key), first checks that group and\n"
"    others cannot access it, as ssh does, then prints only its public part:\n"
"    id, role, public key, CurveZMQ key and fingerprint, and whether the\n"
"    ID.cert beside it belongs to this key. The secret is never printed.\n"
"\n"
"OPTIONS\n"
"    -h, --help\n"
"        Print this help and exit.\n"
"\n"
"EXIT STATUS\n"
"    0  the file was read and printed (also when the certificate has\n"
"       expired: the output says so).\n"
"    2  usage error, or the file is missing, unreadable, does not parse, or\n"
"       is a key file that group or others may access.\n"
"\n"
"EXAMPLES\n"
"    knoop keys show /etc/knoop/trust/vr-utrecht.cert\n"
"    knoop keys show /etc/knoop/keys/vr-utrecht.key\n");
}

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

/* getopt prints its complaints under argv[0]; make that the whole command. */
static void s_name_command(char **argv, char *name)
{
    argv[0] = name;
    optind = 0;            /* full reinitialisation in glibc */
    opterr = 1;
}

static int s_new(int argc, char **argv)
{
    static char name[] = "knoop keys new";
    static const struct option options[] = {
        { "id",         required_argument, NULL, 'i' },
        { "role",       required_argument, NULL, 'r' },
        { "out",        required_argument, NULL, 'o' },
        { "valid-days", required_argument, NULL, 'd' },
        { "valid-from", required_argument, NULL, 'f' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *id = NULL, *role = NULL, *out = NULL, *days_arg = NULL, *from_arg = NULL;
    s_name_command(argv, name);
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'i': id = optarg; break;
        case 'r': role = optarg; break;
        case 'o': out = optarg; break;
        case 'd': days_arg = optarg; break;
        case 'f': from_arg = optarg; break;
        case 'h': s_new_usage(stdout); return 0;
        default:
            fprintf(stderr, "(try knoop keys new --help)\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "knoop keys new: unexpected argument '%s' (try knoop keys new --help)\n",
                argv[optind]);
        return 2;
    }
    if (!id || !role || !out) {
        fprintf(stderr, "knoop keys new: --id, --role and --out are required "
                        "(try knoop keys new --help)\n");
        return 2;
    }
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
    long days = DEFAULT_VALID_DAYS;
    if (days_arg) {
        char *end = NULL;
        errno = 0;
        days = strtol(days_arg, &end, 10);
        if (errno || end == days_arg || *end || days < 1 || days > MAX_VALID_DAYS) {
            fprintf(stderr, "knoop keys new: invalid --valid-days '%s': want a whole "
                            "number from 1 to %d\n", days_arg, MAX_VALID_DAYS);
            return 2;
        }
    }
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

    knoop_key_t *key = knoop_key_generate(id, role);
    if (!key) {
        fprintf(stderr, "knoop keys new: cannot generate a key (out of memory or no "
                        "randomness)\n");
        return 2;
    }
    int rc = knoop_key_save(key, out, from, until);
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
    if (now < cert->valid_from)
        printf("status:       NOT YET VALID (starts in %lld days)\n",
               (long long) ((cert->valid_from - now) / 86400));
    else if (knoop_cert_check_time(cert, now) != KNOOP_OK)
        printf("status:       EXPIRED (%lld days ago)\n",
               (long long) ((now - cert->valid_until) / 86400));
    else
        printf("status:       valid now (expires in %lld days)\n",
               (long long) ((cert->valid_until - now) / 86400));
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
    static char name[] = "knoop keys show";
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    s_name_command(argv, name);
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'h': s_show_usage(stdout); return 0;
        default:
            fprintf(stderr, "(try knoop keys show --help)\n");
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "knoop keys show: want exactly one FILE (try knoop keys show --help)\n");
        return 2;
    }
    const char *path = argv[optind];
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".key") == 0)
        return s_show_key(path);
    return s_show_cert(path);
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
    fprintf(stderr, "knoop keys: unknown command '%s' (try knoop keys --help)\n", cmd);
    return 2;
}
