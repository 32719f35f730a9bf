/* cli_bundle.c — `knoop bundle export|inspect|import`: streams carried by
 * hand when no link works (docs/design.md, "Bundles"; lib/bundle.h). */
#include "cli.h"
#include "bundle.h"
#include "client.h"
#include "crypto.h"
#include "hlc.h"
#include "journal.h"
#include "keys.h"
#include "topic.h"
#include "trust_mesh.h"
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const knoop_cmd_t s_cmd_export = {
    .prog = "knoop bundle export",
    .section = "bundle-export",
    .summary = "write streams of a journal to a bundle file",
    .description =
"Writes every stream of the journal whose topic matches P to FILE: the\n"
"envelopes exactly as their origins signed them (chains and head\n"
"signatures), the certificates of their origins and the roots that issued\n"
"them, and the newest revocation list, so that the bundle can be verified\n"
"and imported anywhere (knoop bundle inspect, import). A trailer with a\n"
"hash of the whole file makes a bundle cut short or changed detectable.\n"
"Each stream ends at its last signed head: messages after it are left out\n"
"(and counted), because nobody could verify them yet. Opens the journal\n"
"read-only: safe while the node or broker runs. Certificates are taken\n"
"from the journal's trust topics, from DIR/trust (what a node or broker\n"
"learned) and from each --trust DIR. With --api instead of --journal, the\n"
"daemon on this machine is asked where its journal and trust directory\n"
"are (its status); both are then read as above. Progress goes to stderr\n"
"every 2 s.\n"
"--since keeps only messages from that time on; the importer holds them\n"
"until the earlier part of each stream arrives, as with any gap.\n"
"With --key the bundle is signed as a whole (format version 2): the\n"
"signer is the key's partner id, its certificate goes into the bundle,\n"
"and an importer refuses the bundle when the signature fails or the\n"
"signer is unknown or revoked there. Without --key the bundle is\n"
"unsigned (version 1), which importers take with a warning unless they\n"
"demand --require-signed.",
    .exit_status = "0 written, 2 usage, read or write error (nothing left at FILE).",
    .examples =
"knoop bundle export --journal /var/lib/knoop/node --trust /etc/knoop/trust \\\n"
"    --pattern 'sitrep.>' --out /media/usb/vr-utrecht.knoopbundle",
};

static const knoop_opt_spec_t s_spec_export[] = {
    { "journal", KNOOP_OPT_STRING, NULL, "DIR", "the journal (a node's or broker's data "
      "directory)", false },
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT", "or: the running node's or broker's local "
      "endpoint, which says where its journal and trust directory are", false },
    { "trust", KNOOP_OPT_LIST, NULL, "DIR", "more certificates: roots, partners "
      "(repeatable)", false },
    { "pattern", KNOOP_OPT_STRING, ">", "P", "topic pattern ('>': everything)", false },
    { "since", KNOOP_OPT_STRING, NULL, "TIME", "only messages from this time on (RFC 3339)",
      false },
    { "out", KNOOP_OPT_STRING, NULL, "FILE", "the bundle to write (never overwritten)", true },
    { "key", KNOOP_OPT_STRING, NULL, "KEYFILE", "sign the bundle with this key (a partner's "
      "node or broker key, unencrypted)", false },
    { "quiet", KNOOP_OPT_BOOL, "false", NULL, "no progress lines", false },
    { NULL },
};

static const knoop_cmd_t s_cmd_inspect = {
    .prog = "knoop bundle inspect",
    .section = "bundle-inspect",
    .summary = "show what a bundle holds, and whether it verifies",
    .description =
"Checks that FILE is whole (not cut short, no byte changed), then prints its\n"
"header, its signer and whether the signature verifies (a version 1\n"
"bundle is unsigned, and says so) and whether the signer is known and not\n"
"revoked, one line per stream (origin, topic, epoch, seq range, count, time\n"
"range, signer, verdict), its certificates and revocation lists. Every\n"
"chain and head signature is checked: against the roots in --trust DIR\n"
"when given (what an importer will do), else against the roots the bundle\n"
"carries itself (compare their fingerprints with yours). Imports nothing.",
    .operands = "FILE",
    .operands_min = 1,
    .operands_max = 1,
    .exit_status =
"0 whole and everything verifies, 1 damaged or something does not verify\n"
"(the line names stream and seq), 2 usage or read error.",
    .examples = "knoop bundle inspect /media/usb/vr-zeeland.knoopbundle --trust /etc/knoop/trust",
};

static const knoop_opt_spec_t s_spec_inspect[] = {
    { "trust", KNOOP_OPT_STRING, NULL, "DIR", "trust directory with the root certificate(s)",
      false },
    { NULL },
};

static const knoop_cmd_t s_cmd_import = {
    .prog = "knoop bundle import",
    .section = "bundle-import",
    .summary = "merge a bundle into a node's or broker's journal",
    .description =
"Refuses a bundle that is not whole, or whose signature does not verify.\n"
"Otherwise hands its certificates,\n"
"revocation lists and messages to the daemon at --api (a node, or a\n"
"broker's local endpoint), which checks every chain and head signature\n"
"against its own roots and revocations and stores them only when all pass:\n"
"deduplicated, so importing twice stores nothing the second time, and in\n"
"any order (a later part first is held like any gap). A node delivers what\n"
"is new to its subscribers once; a broker to its nodes and its peers.\n"
"A broker leaves out a stream its policy or payload rules refuse (named,\n"
"counted in the summary's refused, exit 1) and stores the others.\n"
"Large bundles go in parts of whole signed runs; a refused part names the\n"
"stream and seq, and the parts before it stay stored (each verified).\n"
"The daemon refuses a signed bundle whose signer it does not know (with\n"
"that key) or whose key was revoked, and an unsigned (version 1) bundle\n"
"with --require-signed, and counts each refusal (status: bundles.refused).\n"
"An unsigned bundle is otherwise imported with a warning: its messages\n"
"prove themselves, only who packed it is not known.",
    .operands = "FILE",
    .operands_min = 1,
    .operands_max = 1,
    .exit_status =
"0 imported (or held already), 1 refused (the reason names stream and seq),\n"
"2 usage error or the daemon did not answer.",
    .examples =
"knoop bundle import --api ipc:///var/lib/knoop/broker-1/api.sock vr-zeeland.knoopbundle",
};

static const knoop_opt_spec_t s_spec_import[] = {
    { "api", KNOOP_OPT_STRING, NULL, "ENDPOINT", "the node's API or the broker's local "
      "endpoint (default ipc://$KNOOP_DATA/api.sock)", false },
    { "timeout", KNOOP_OPT_INT, "60", "SEC", "how long to wait for each part, in seconds",
      false },
    { "dry-run", KNOOP_OPT_BOOL, "false", NULL, "check only, store nothing", false },
    { "require-signed", KNOOP_OPT_BOOL, "false", NULL, "refuse an unsigned (version 1) "
      "bundle", false },
    { NULL },
};

static const char s_help_bundle[] =
"usage: knoop bundle export --journal DIR [--pattern P] [--since T] [--key KEYFILE]\n"
"                           --out FILE\n"
"       knoop bundle inspect FILE [--trust DIR]\n"
"       knoop bundle import [--api EP] [--require-signed] FILE\n"
"       knoop bundle SUBCOMMAND --help\n";

#define S_PART_BYTES (12u << 20)
#define S_PART_MSGS  50000

/* ---- small helpers ---- */

typedef struct {
    char  **v;
    size_t  n, cap;
} s_strs_t;

static int s_strs_add(s_strs_t *l, const char *s, size_t len)
{
    char **v = knoop_array_grow(l->v, l->n, &l->cap, sizeof *v, 16);
    if (!v)
        return KNOOP_ENOMEM;
    l->v = v;
    if (!(l->v[l->n] = strndup(s, len)))
        return KNOOP_ENOMEM;
    l->n++;
    return KNOOP_OK;
}

static bool s_strs_has(const s_strs_t *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return true;
    return false;
}

static void s_strs_free(s_strs_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void s_time(char out[32], uint64_t hlc)
{
    knoop_time_format(out, (int64_t) (KNOOP_HLC_MS(hlc) / 1000));
}

/* ---- export: the certificates that go with the streams ---- */

typedef struct {
    knoop_cert_t *certs;             /* candidates, deduplicated by key */
    size_t        n, cap;
    s_strs_t      lists;             /* revocation list texts */
} s_certs_t;

static void s_cert_add(s_certs_t *c, const knoop_cert_t *cert)
{
    for (size_t i = 0; i < c->n; i++)
        if (!memcmp(c->certs[i].pk, cert->pk, KNOOP_PK_LEN))
            return;
    knoop_cert_t *v = knoop_array_grow(c->certs, c->n, &c->cap, sizeof *v, 32);
    if (!v)
        return;
    c->certs = v;
    c->certs[c->n++] = *cert;
}

static void s_cert_file(void *arg, const knoop_cert_t *cert, const knoop_revlist_t *list)
{
    s_certs_t *c = arg;
    if (cert) {
        s_cert_add(c, cert);
        return;
    }
    knoop_buf_t text = { 0 };
    if (knoop_revlist_format(list, &text) == KNOOP_OK)
        s_strs_add(&c->lists, (const char *) text.data, text.len);
    knoop_buf_free(&text);
}

static int s_trust_payload(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                           const uint8_t *env, size_t len)
{
    (void) pos; (void) stream; (void) seq;
    s_certs_t *c = arg;
    knoop_msg_t m;
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return 0;
    if (!strcmp(m.b.type, KNOOP_TRUST_TYPE_CERT)) {
        knoop_cert_t cert;
        if (knoop_cert_parse((const char *) m.b.payload, m.b.payload_len, "trust.certs",
                             &cert) == KNOOP_OK)
            s_cert_add(c, &cert);
    } else if (!strcmp(m.b.type, KNOOP_TRUST_TYPE_REVOCATIONS)) {
        s_strs_add(&c->lists, (const char *) m.b.payload, m.b.payload_len);
    }
    knoop_msg_clear(&m);
    return 0;
}

static void s_certs_from_journal(s_certs_t *c, knoop_journal_t *j)
{
    knoop_stream_info_t *rows = NULL;
    size_t n = 0;
    if (knoop_journal_vector(j, "trust.*", &rows, &n) != KNOOP_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (knoop_trust_topic(rows[i].topic))
            knoop_journal_read_stream(j, rows[i].stream, 1, rows[i].hwm, s_trust_payload, c);
    free(rows);
}

/* One certificate into the bundle, counted in *ncerts. */
static int s_put_cert(knoop_bundle_writer_t *w, const knoop_cert_t *cert, size_t *ncerts)
{
    knoop_buf_t text = { 0 };
    int rc = knoop_cert_format(cert, &text);
    if (rc == KNOOP_OK)
        rc = knoop_bundle_write_cert(w, (const char *) text.data, text.len);
    knoop_buf_free(&text);
    (*ncerts)++;
    return rc;
}

/* Write the certificates of the origins, the roots that issued them, and
 * per issuer the revocation list with the highest number. */
static int s_write_trust(knoop_bundle_writer_t *w, s_certs_t *c, const s_strs_t *origins,
                         size_t *ncerts, size_t *nlists)
{
    s_strs_t issuers = { 0 };
    int rc = KNOOP_OK;
    *ncerts = *nlists = 0;
    for (size_t i = 0; rc == KNOOP_OK && i < c->n; i++) {
        if (knoop_cert_is_root(&c->certs[i]) || !s_strs_has(origins, c->certs[i].id))
            continue;
        rc = s_put_cert(w, &c->certs[i], ncerts);
        if (rc == KNOOP_OK && c->certs[i].issuer[0] && !s_strs_has(&issuers, c->certs[i].issuer))
            rc = s_strs_add(&issuers, c->certs[i].issuer, strlen(c->certs[i].issuer));
    }
    for (size_t i = 0; rc == KNOOP_OK && i < c->n; i++) {
        if (!knoop_cert_is_root(&c->certs[i]) || !s_strs_has(&issuers, c->certs[i].id))
            continue;
        rc = s_put_cert(w, &c->certs[i], ncerts);
    }
    for (size_t k = 0; rc == KNOOP_OK && k < issuers.n; k++) {
        const char *best = NULL;
        uint64_t best_n = 0;
        for (size_t i = 0; i < c->lists.n; i++) {
            knoop_revlist_t *l = NULL;
            if (knoop_revlist_parse(c->lists.v[i], strlen(c->lists.v[i]), "revocation list",
                                    &l) == KNOOP_OK &&
                !strcmp(knoop_revlist_issuer(l), issuers.v[k]) &&
                knoop_revlist_number(l) > best_n) {
                best = c->lists.v[i];
                best_n = knoop_revlist_number(l);
            }
            knoop_revlist_destroy(&l);
        }
        if (best) {
            rc = knoop_bundle_write_revocations(w, best, strlen(best));
            (*nlists)++;
        }
    }
    s_strs_free(&issuers);
    return rc;
}

/* ---- export: the streams ---- */

typedef struct {
    knoop_buf_t env;
    uint64_t    seq;
    bool        signed_;
} s_stream_msg_t;

typedef struct {
    s_stream_msg_t *msgs;            /* one stream's messages, in seq order */
    size_t          n, cap;
    uint64_t        since_ms;
} s_stream_buf_t;

static int s_collect(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                     const uint8_t *env, size_t len)
{
    (void) pos; (void) stream;
    s_stream_buf_t *b = arg;
    knoop_msg_t m;
    int rc = knoop_msg_parse(&m, env, len);
    if (rc)
        return rc;                   /* the journal checked it: this is damage */
    bool keep = KNOOP_HLC_MS(m.b.hlc) >= b->since_ms;
    bool sig = m.sig != NULL;
    knoop_msg_clear(&m);
    if (!keep)
        return 0;
    s_stream_msg_t *v = knoop_array_grow(b->msgs, b->n, &b->cap, sizeof *v, 256);
    if (!v)
        return KNOOP_ENOMEM;
    b->msgs = v;
    s_stream_msg_t *sm = &b->msgs[b->n];
    memset(sm, 0, sizeof *sm);
    if (knoop_buf_append(&sm->env, env, len) != KNOOP_OK)
        return KNOOP_ENOMEM;
    sm->seq = seq;
    sm->signed_ = sig;
    b->n++;
    return 0;
}

static void s_stream_buf_reset(s_stream_buf_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        knoop_buf_free(&b->msgs[i].env);
    b->n = 0;
}

typedef struct {
    const char *journal, *pattern, *since, *out, *api, *file, *daemon_trust, *key;
    const char *const *trust;
    size_t ntrust;
    bool quiet, dry_run, require_signed;
    int timeout_ms;
    char api_default[512];
} s_args_t;

typedef int (s_run_fn)(s_args_t *a);

/* Options through the one option system, then run. */
static int s_command(const knoop_cmd_t *cmd, const knoop_opt_spec_t *spec, int argc,
                     char **argv, s_run_fn *run)
{
    knoop_config_t *cfg = NULL;
    int rc = cli_options(cmd, spec, argc, argv, &cfg);
    if (rc != -1)
        return rc;
    s_args_t a;
    memset(&a, 0, sizeof a);
    a.timeout_ms = 60000;
    const char *const *ops = NULL;
    if (knoop_config_operands(cfg, &ops) == 1)
        a.file = ops[0];
    if (spec == s_spec_export) {
        a.journal = knoop_config_str(cfg, "journal");
        a.api = knoop_config_str(cfg, "api");
        a.pattern = knoop_config_str(cfg, "pattern");
        a.since = knoop_config_str(cfg, "since");
        a.out = knoop_config_str(cfg, "out");
        a.key = knoop_config_str(cfg, "key");
        a.quiet = knoop_config_bool(cfg, "quiet");
        a.ntrust = knoop_config_list(cfg, "trust", &a.trust);
    } else if (spec == s_spec_inspect) {
        static const char *one[1];
        one[0] = knoop_config_str(cfg, "trust");
        a.trust = one;
        a.ntrust = one[0] ? 1 : 0;
    } else {
        a.dry_run = knoop_config_bool(cfg, "dry-run");
        a.require_signed = knoop_config_bool(cfg, "require-signed");
        if (!(a.api = cli_api("bundle import", cfg, a.api_default, sizeof a.api_default)) ||
            cli_timeout("bundle import", cfg, 3600, &a.timeout_ms)) {
            knoop_config_destroy(&cfg);
            return 2;
        }
    }
    rc = run(&a);
    knoop_config_destroy(&cfg);
    return rc;
}

static int s_export_journal(const char *cmd, s_args_t *ap);

static int s_export_run(s_args_t *ap)
{
    s_args_t a = *ap;
    const char *cmd = "bundle export";
    int rc;
    if (!a.journal == !a.api) {
        fprintf(stderr, "knoop %s: give either --journal DIR or --api ENDPOINT (see --help)\n",
                cmd);
        return 2;
    }
    char *status_json = NULL;
    json_t *status = NULL;
    if (a.api) {
        knoop_client_t *client = cli_client(cmd, a.api);
        if (!client)
            return 2;
        rc = knoop_client_status(client, &status_json, 10000);
        if (rc)
            fprintf(stderr, "knoop %s: no status from %s: %s\n", cmd, a.api,
                    knoop_client_error(client));
        knoop_client_destroy(&client);
        if (rc)
            return 2;
        status = json_loads(status_json, 0, NULL);
        free(status_json);
        a.journal = json_string_value(json_object_get(status, "data_dir"));
        a.daemon_trust = json_string_value(json_object_get(status, "trust_dir"));
        if (!a.journal) {
            fprintf(stderr, "knoop %s: %s does not say where its journal is (an older "
                    "daemon?): use --journal DIR\n", cmd, a.api);
            json_decref(status);
            return 2;
        }
    }
    rc = s_export_journal(cmd, &a);
    json_decref(status);
    return rc;
}

static int s_export_journal(const char *cmd, s_args_t *ap)
{
    s_args_t a = *ap;
    int rc;
    const char *pattern = a.pattern ? a.pattern : ">";
    if (knoop_pattern_validate(pattern) != KNOOP_OK) {
        fprintf(stderr, "knoop %s: invalid pattern '%s' (tokens of [a-z0-9_-], '*' for one "
                "token, '>' for the rest)\n", cmd, pattern);
        return 2;
    }
    int64_t since = 0;
    if (a.since && (knoop_time_parse_rfc3339(a.since, &since) != KNOOP_OK || since < 0)) {
        fprintf(stderr, "knoop %s: --since '%s' is not an RFC 3339 time like "
                "2021-07-14T00:00:00Z\n", cmd, a.since);
        return 2;
    }
    knoop_key_t *key = NULL;
    if (a.key && (rc = knoop_key_load(a.key, &key)) != KNOOP_OK) {
        fprintf(stderr, "knoop %s: cannot load the signing key %s: %s\n", cmd, a.key,
                rc == KNOOP_ENOTFOUND ? "no such file" : knoop_strerror(rc));
        return 2;
    }
    knoop_log_set_level(KNOOP_LOG_WARN);
    knoop_journal_opts_t o = { .path = a.journal, .flags = KNOOP_JOURNAL_READONLY };
    knoop_journal_t *j = NULL;
    rc = knoop_journal_open(&o, &j);
    if (rc) {
        fprintf(stderr, "knoop %s: cannot open journal %s: %s\n", cmd, a.journal,
                knoop_strerror(rc));
        knoop_key_destroy(&key);
        return 2;
    }
    knoop_stream_info_t *rows = NULL;
    size_t nrows = 0;
    rc = knoop_journal_vector(j, pattern, &rows, &nrows);
    if (rc) {
        fprintf(stderr, "knoop %s: cannot read the streams of %s: %s\n", cmd, a.journal,
                knoop_strerror(rc));
        knoop_journal_destroy(&j);
        knoop_key_destroy(&key);
        return 2;
    }
    knoop_bundle_header_t h = {
        .exporter = knoop_journal_partner(j), .created_ms = knoop_now_ms(),
        .pattern = pattern, .since_ms = (uint64_t) since * 1000,
    };
    knoop_bundle_writer_t *w = NULL;
    rc = knoop_bundle_writer_new(a.out, &h, key, &w);
    if (rc) {
        knoop_key_destroy(&key);
        fprintf(stderr, "knoop %s: cannot write %s: %s\n", cmd, a.out,
                rc == KNOOP_EEXIST ? "it exists (a bundle is never overwritten: choose "
                                     "another name or remove it)" : knoop_strerror(rc));
        free(rows);
        knoop_journal_destroy(&j);
        return 2;
    }
    s_stream_buf_t b = { .since_ms = h.since_ms };
    s_strs_t origins = { 0 };
    char signer[KNOOP_ID_MAX + 1] = "";
    if (key)
        snprintf(signer, sizeof signer, "%s", knoop_key_id(key));
    knoop_key_destroy(&key);         /* the writer holds what it needs */
    uint64_t streams = 0, unsigned_left = 0, unsigned_streams = 0, last_progress = knoop_now_ms();
    for (size_t i = 0; rc == KNOOP_OK && i < nrows; i++) {
        if (rows[i].max_seq == 0)
            continue;
        s_stream_buf_reset(&b);
        rc = knoop_journal_read_stream(j, rows[i].stream, 1, rows[i].max_seq, s_collect, &b);
        if (rc) {
            fprintf(stderr, "knoop %s: cannot read %s/%s from %s: %s\n", cmd, rows[i].origin,
                    rows[i].topic, a.journal, knoop_strerror(rc));
            break;
        }
        /* Each contiguous run ends at its last signed head. */
        size_t kept = 0;
        uint64_t left = 0;
        for (size_t s = 0; s < b.n;) {
            size_t e = s + 1;
            while (e < b.n && b.msgs[e].seq == b.msgs[e - 1].seq + 1)
                e++;
            size_t end = e;
            while (end > s && !b.msgs[end - 1].signed_)
                end--;
            for (size_t k = s; rc == KNOOP_OK && k < end; k++)
                rc = knoop_bundle_write_envelope(w, b.msgs[k].env.data, b.msgs[k].env.len);
            kept += end - s;
            left += e - end;
            s = e;
        }
        if (left) {
            unsigned_left += left;
            unsigned_streams++;
        }
        if (kept) {
            streams++;
            if (!s_strs_has(&origins, rows[i].origin))
                s_strs_add(&origins, rows[i].origin, strlen(rows[i].origin));
        }
        uint64_t now = knoop_now_ms();
        if (!a.quiet && now - last_progress >= 2000) {
            fprintf(stderr, "knoop %s: %llu messages, %zu of %zu streams read\n", cmd,
                    (unsigned long long) knoop_bundle_writer_envelopes(w), i + 1, nrows);
            last_progress = now;
        }
    }
    s_stream_buf_reset(&b);
    free(b.msgs);
    size_t ncerts = 0, nlists = 0;
    if (rc == KNOOP_OK) {
        s_certs_t c = { 0 };
        s_certs_from_journal(&c, j);
        char learned[PATH_MAX];
        if ((size_t) snprintf(learned, sizeof learned, "%s/trust", a.journal) < sizeof learned)
            cli_trust_dir_each(learned, s_cert_file, &c);
        for (size_t i = 0; i < a.ntrust; i++)
            cli_trust_dir_each(a.trust[i], s_cert_file, &c);
        if (a.daemon_trust)
            cli_trust_dir_each(a.daemon_trust, s_cert_file, &c);
        /* The signer's certificate travels too: an importer checks it. */
        bool add_signer = signer[0] && !s_strs_has(&origins, signer) &&
                          s_strs_add(&origins, signer, strlen(signer)) == KNOOP_OK;
        rc = s_write_trust(w, &c, &origins, &ncerts, &nlists);
        if (add_signer)
            free(origins.v[--origins.n]);
        free(c.certs);
        s_strs_free(&c.lists);
    }
    uint64_t msgs = knoop_bundle_writer_envelopes(w);
    if (rc == KNOOP_OK)
        rc = knoop_bundle_writer_finish(&w);
    else
        knoop_bundle_writer_destroy(&w);
    free(rows);
    knoop_journal_destroy(&j);
    if (rc) {
        fprintf(stderr, "knoop %s: %s not written: %s\n", cmd, a.out, knoop_strerror(rc));
        s_strs_free(&origins);
        return 2;
    }
    printf("exported %llu messages of %llu streams from %zu origins, %zu certificates and "
           "%zu revocation lists to %s\n", (unsigned long long) msgs,
           (unsigned long long) streams, origins.n, ncerts, nlists, a.out);
    if (signer[0])
        printf("signed by %s (bundle format version %u)\n", signer, KNOOP_BUNDLE_VERSION);
    else
        printf("unsigned (bundle format version %u): give --key KEYFILE to sign it\n",
               KNOOP_BUNDLE_VERSION_UNSIGNED);
    if (unsigned_left)
        printf("left out: %llu messages at the end of %llu streams, not yet covered by a head "
               "signature (export again later)\n", (unsigned long long) unsigned_left,
               (unsigned long long) unsigned_streams);
    s_strs_free(&origins);
    return 0;
}

/* ---- inspect ---- */

/* A trust store for inspecting: the roots of trust_dir (or, without one,
 * the roots the bundle carries) plus the bundle's certificates and lists
 * that those roots vouch for, valid or not today (an inspector looks
 * back). NULL after a message. */
static knoop_trust_t *s_inspect_trust(const char *cmd, knoop_bundle_t *bundle,
                                      const char *trust_dir)
{
    char base[PATH_MAX], roots[PATH_MAX + 8], learned[PATH_MAX + 8];
    if (!cli_scratch_dir("bundle", base, sizeof base)) {
        fprintf(stderr, "knoop %s: cannot make a scratch directory: %s\n", cmd,
                strerror(errno));
        return NULL;
    }
    snprintf(roots, sizeof roots, "%s/roots", base);
    snprintf(learned, sizeof learned, "%s/learned", base);
    const knoop_bytes_t *certs, *revs;
    size_t nc = knoop_bundle_certs(bundle, &certs), nr = knoop_bundle_revocations(bundle, &revs);
    knoop_trust_t *trust = NULL;
    int rc = KNOOP_OK;
    if (!trust_dir) {
        mkdir(roots, 0700);
        for (size_t i = 0; i < nc; i++) {
            knoop_cert_t c;
            if (knoop_cert_parse((const char *) certs[i].data, certs[i].len, "bundle", &c)
                    != KNOOP_OK || !knoop_cert_is_root(&c))
                continue;
            char fp[17], path[PATH_MAX + 120];
            knoop_fingerprint(fp, c.pk, KNOOP_PK_LEN);
            snprintf(path, sizeof path, "%s/%s-%s.cert", roots, c.id, fp);
            knoop_cert_write(&c, path);
        }
    }
    const char *dir = trust_dir ? trust_dir : roots;
    rc = knoop_trust_load_ex(dir, NULL, KNOOP_TRUST_KEEP_EXPIRED, &trust);
    if (rc == KNOOP_OK) {
        knoop_bundle_trust_new(trust, certs, nc, revs, nr, 0, knoop_bundle_learn, learned,
                               NULL);
        knoop_trust_t *t = NULL;
        rc = knoop_trust_load_ex(dir, learned, KNOOP_TRUST_KEEP_EXPIRED, &t);
        if (rc == KNOOP_OK) {
            knoop_trust_destroy(&trust);
            trust = t;
        }
    }
    cli_scratch_remove(learned);
    cli_scratch_remove(roots);
    rmdir(base);
    if (rc) {
        fprintf(stderr, "knoop %s: cannot load the trust store %s: %s\n", cmd,
                trust_dir ? trust_dir : "(the bundle's roots)", knoop_strerror(rc));
        knoop_trust_destroy(&trust);
        return NULL;
    }
    return trust;
}

/* Parse every envelope of the bundle through the gate: *msgs (n of them),
 * or an error naming the record. */
static int s_parse_all(const char *cmd, const knoop_bytes_t *envs, size_t n, knoop_msg_t **out)
{
    knoop_msg_t *msgs = calloc(n ? n : 1, sizeof *msgs);
    if (!msgs)
        return KNOOP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = knoop_msg_parse(&msgs[i], envs[i].data, envs[i].len);
        if (rc) {
            fprintf(stderr, "knoop %s: message %zu of the bundle does not parse: %s", cmd,
                    i + 1, knoop_strerror(rc));
            if (i > 0)
                fprintf(stderr, " (it follows %s/%s seq %llu)", msgs[i - 1].b.origin,
                        msgs[i - 1].b.topic, (unsigned long long) msgs[i - 1].b.seq);
            fprintf(stderr, "\n");
            for (size_t k = 0; k < i; k++)
                knoop_msg_clear(&msgs[k]);
            free(msgs);
            return rc;
        }
    }
    *out = msgs;
    return KNOOP_OK;
}

static void s_clear_all(knoop_msg_t *msgs, size_t n)
{
    for (size_t i = 0; msgs && i < n; i++)
        knoop_msg_clear(&msgs[i]);
    free(msgs);
}

/* Open FILE; print why it is not whole. NULL on a read error. */
static knoop_bundle_t *s_open_bundle(const char *cmd, const char *file)
{
    knoop_bundle_t *b = NULL;
    int rc = knoop_bundle_open(file, &b);
    if (rc) {
        fprintf(stderr, "knoop %s: cannot read %s: %s\n", cmd, file,
                rc == KNOOP_ENOTFOUND ? "no such file" : knoop_strerror(rc));
        return NULL;
    }
    return b;
}

static int s_inspect_run(s_args_t *ap)
{
    s_args_t a = *ap;
    const char *cmd = "bundle inspect";
    int rc;
    knoop_log_set_level(KNOOP_LOG_ERROR);
    const char *file = a.file;
    knoop_bundle_t *b = s_open_bundle(cmd, file);
    if (!b)
        return 2;
    const char *why;
    int intact = knoop_bundle_intact(b, &why);
    const knoop_bundle_header_t *h = knoop_bundle_header(b);
    printf("bundle:   %s\n", file);
    if (intact == KNOOP_OK)
        printf("file:     whole (trailer hash matches)\n");
    else
        printf("file:     DAMAGED: %s\n", why);
    if (h->version) {
        char t[32];
        knoop_time_format(t, (int64_t) (h->created_ms / 1000));
        printf("exported: by %s at %s, pattern %s", *h->exporter ? h->exporter : "(unknown)",
               t, h->pattern);
        if (h->since_ms) {
            knoop_time_format(t, (int64_t) (h->since_ms / 1000));
            printf(", since %s", t);
        }
        printf("\n");
    }
    const knoop_bytes_t *envs, *certs, *revs;
    size_t ne = knoop_bundle_envelopes(b, &envs);
    size_t nc = knoop_bundle_certs(b, &certs), nr = knoop_bundle_revocations(b, &revs);
    knoop_trust_t *trust = s_inspect_trust(cmd, b, a.ntrust ? a.trust[0] : NULL);
    if (!trust) {
        knoop_bundle_destroy(&b);
        return 2;
    }
    printf("trust:    %s: %zu roots", a.ntrust ? a.trust[0] : "the roots the bundle carries "
           "(compare their keys with yours, or give --trust DIR)", knoop_trust_roots(trust));
    for (size_t i = 0; i < knoop_trust_roots(trust); i++) {
        const knoop_cert_t *r = knoop_trust_root_at(trust, i);
        char fp[17];
        knoop_fingerprint(fp, r->pk, KNOOP_PK_LEN);
        printf("%s %s key %s", i ? "," : ":", r->id, fp);
    }
    printf("\n");
    int status = intact == KNOOP_OK ? 0 : 1;
    const knoop_bundle_seal_t *seal = knoop_bundle_seal(b);
    char signer_why[400];
    int src = knoop_bundle_signer(seal, trust, signer_why, sizeof signer_why);
    if (h->version == KNOOP_BUNDLE_VERSION_UNSIGNED)
        printf("signer:   none: an unsigned (version %u) bundle; who packed it is not "
               "proven (its messages still prove themselves)\n", KNOOP_BUNDLE_VERSION_UNSIGNED);
    else if (h->version == 0)
        printf("signer:   unknown: no header could be read\n");
    else if (!seal)
        printf("signer:   %s: signature NOT verified: %s\n",
               h->signer && *h->signer ? h->signer : "(none)", why);
    else if (src == KNOOP_OK)
        printf("signer:   %s: signature verifies, signer known and not revoked\n",
               signer_why + strlen("signed by "));
    else {
        printf("signer:   %s: signature verifies, but %s\n", seal->signer, signer_why);
        status = 1;
    }
    knoop_msg_t *msgs = NULL;
    if (s_parse_all(cmd, envs, ne, &msgs) != KNOOP_OK) {
        knoop_trust_destroy(&trust);
        knoop_bundle_destroy(&b);
        return 1;
    }
    knoop_bundle_stream_t *rows = NULL;
    size_t nrows = 0;
    char first[600];
    rc = knoop_bundle_check(trust, msgs, ne, &rows, &nrows, first, sizeof first);
    if (rc == KNOOP_ENOMEM) {
        fprintf(stderr, "knoop %s: out of memory\n", cmd);
        status = 2;
    } else if (rc) {
        status = 1;
    }
    uint64_t hmin = UINT64_MAX, hmax = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].hlc_min < hmin)
            hmin = rows[i].hlc_min;
        if (rows[i].hlc_max > hmax)
            hmax = rows[i].hlc_max;
    }
    printf("content:  %zu messages in %zu streams, %zu certificates, %zu revocation lists\n",
           ne, nrows, nc, nr);
    if (nrows) {
        char t1[32], t2[32];
        s_time(t1, hmin);
        s_time(t2, hmax);
        printf("time:     %s .. %s\n", t1, t2);
    }
    for (size_t i = 0; i < nrows; i++) {
        const knoop_bundle_stream_t *r = &rows[i];
        char t1[32], t2[32];
        s_time(t1, r->hlc_min);
        s_time(t2, r->hlc_max);
        printf("%-8s %s %s epoch %016llx seq %llu..%llu (%llu messages%s) %s..%s",
               r->error ? "REFUSED" : "ok", r->origin, r->topic, (unsigned long long) r->epoch,
               (unsigned long long) r->first, (unsigned long long) r->last,
               (unsigned long long) r->count, r->runs > 1 ? ", with gaps" : "", t1, t2);
        if (r->error)
            printf(" at seq %llu: %s\n", (unsigned long long) r->error_seq, r->reason);
        else
            printf(" signed by %s%s\n", r->signer,
                   r->first > 1 ? "; starts after seq 1: the importer holds it until the "
                                  "earlier part arrives" : "");
    }
    for (size_t i = 0; i < nc; i++) {
        knoop_cert_t c;
        if (knoop_cert_parse((const char *) certs[i].data, certs[i].len, "bundle", &c)) {
            printf("cert     %zu does not parse\n", i + 1);
            status = 1;
            continue;
        }
        char fp[17], until[32];
        knoop_fingerprint(fp, c.pk, KNOOP_PK_LEN);
        knoop_time_format(until, c.valid_until);
        const knoop_cert_t *known = knoop_trust_by_sign(trust, c.pk);
        printf("cert     %s role %s key %s issued by %s, valid until %s%s\n", c.id, c.role, fp,
               c.issuer[0] ? c.issuer : "(nobody: pinned)", until,
               knoop_cert_is_root(&c) ? " (a root: never taken from a bundle)"
               : known ? (known->revoked_at ? ", REVOKED" : "")
                       : ", NOT vouched for by the roots above");
    }
    for (size_t i = 0; i < nr; i++) {
        knoop_revlist_t *l = NULL;
        if (knoop_revlist_parse((const char *) revs[i].data, revs[i].len, "bundle", &l)) {
            printf("revoked  list %zu does not parse\n", i + 1);
            status = 1;
            continue;
        }
        printf("revoked  list %llu of %s: %zu entries\n",
               (unsigned long long) knoop_revlist_number(l), knoop_revlist_issuer(l),
               knoop_revlist_size(l));
        knoop_revlist_destroy(&l);
    }
    if (rc && rc != KNOOP_ENOMEM)
        printf("VERDICT: does not verify: %s\n", first);
    else if (intact != KNOOP_OK)
        printf("VERDICT: damaged: %s; what was read verifies, but the bundle is not whole\n",
               why);
    else if (seal && src != KNOOP_OK)
        printf("VERDICT: refused by an importer with this trust: %s\n", signer_why);
    else if (rc == KNOOP_OK)
        printf("VERDICT: whole, and every stream verifies%s\n",
               seal ? "; signed" : "; unsigned (version 1)");
    free(rows);
    s_clear_all(msgs, ne);
    knoop_trust_destroy(&trust);
    knoop_bundle_destroy(&b);
    return status;
}

/* ---- import ---- */

typedef struct {
    uint64_t messages, stored, duplicates, refused, skipped;
    char     first_refusal[300];
} s_totals_t;

static void s_add_summary(s_totals_t *t, const char *json)
{
    json_t *o = json_loads(json, 0, NULL);
    if (!o)
        return;
    t->messages += (uint64_t) json_integer_value(json_object_get(o, "messages"));
    t->stored += (uint64_t) json_integer_value(json_object_get(o, "stored"));
    t->duplicates += (uint64_t) json_integer_value(json_object_get(o, "duplicates"));
    t->refused += (uint64_t) json_integer_value(json_object_get(o, "refused"));
    t->skipped += (uint64_t) json_integer_value(json_object_get(o, "skipped_streams"));
    const char *fr = json_string_value(json_object_get(o, "first_refusal"));
    if (fr && *fr && !t->first_refusal[0])
        snprintf(t->first_refusal, sizeof t->first_refusal, "%s", fr);
    json_decref(o);
}

/* A whole bundle whose signature does not verify: the daemon is shown its
 * claimed seal with one message, as a dry run, so that it refuses it
 * itself and counts the refusal (bundles.refused) as it counts a signer it
 * does not know. Nothing can be stored: the seal is checked first. */
static void s_report_forged(const char *cmd, const s_args_t *a, const knoop_bundle_t *b,
                            const knoop_bytes_t *envs)
{
    knoop_client_t *client = cli_client(cmd, a->api);
    if (!client)
        return;
    char *json = NULL;
    int rc = knoop_client_import(client, NULL, 0, NULL, 0, envs, 1,
                                 knoop_bundle_seal_claimed(b), a->require_signed, true, &json,
                                 a->timeout_ms);
    if (rc && knoop_client_refused(client))
        fprintf(stderr, "knoop %s: %s refused it too (counted there): %s\n", cmd, a->api,
                knoop_client_error(client));
    else if (rc == KNOOP_OK)
        fprintf(stderr, "knoop %s: %s did not refuse the forged seal (an older daemon?); "
                "nothing was stored\n", cmd, a->api);
    free(json);
    knoop_client_destroy(&client);
}

static int s_import_run(s_args_t *ap)
{
    s_args_t a = *ap;
    const char *cmd = "bundle import";
    int rc;
    const char *file = a.file;
    knoop_log_set_level(KNOOP_LOG_ERROR);
    knoop_bundle_t *b = s_open_bundle(cmd, file);
    if (!b)
        return 2;
    const knoop_bytes_t *envs, *certs, *revs;
    size_t ne = knoop_bundle_envelopes(b, &envs);
    size_t nc = knoop_bundle_certs(b, &certs), nr = knoop_bundle_revocations(b, &revs);
    const char *why;
    int intact = knoop_bundle_intact(b, &why);
    knoop_msg_t *msgs = NULL;
    int prc = s_parse_all(cmd, envs, ne, &msgs);
    char first[600] = "";
    knoop_bundle_stream_t *rows = NULL;
    size_t nrows = 0;
    int crc = prc ? prc : knoop_bundle_check(NULL, msgs, ne, &rows, &nrows, first, sizeof first);
    free(rows);
    const knoop_bundle_seal_t *seal = knoop_bundle_seal(b);
    /* With --require-signed the daemon refuses it, and counts the refusal. */
    if (intact == KNOOP_OK && !crc && !seal && !a.require_signed)
        fprintf(stderr, "knoop %s: warning: %s is unsigned (bundle format version %u): who "
                "packed it is not proven; its messages are checked as always\n", cmd, file,
                KNOOP_BUNDLE_VERSION_UNSIGNED);
    if (intact != KNOOP_OK || crc) {
        fprintf(stderr, "knoop %s: %s refused, nothing imported: %s\n", cmd, file,
                intact != KNOOP_OK ? why : first);
        if (intact != KNOOP_OK && crc && first[0])
            fprintf(stderr, "knoop %s: the first message that does not verify: %s\n", cmd,
                    first);
        if (intact == KNOOP_ESIG && ne)
            s_report_forged(cmd, &a, b, envs);
        s_clear_all(msgs, prc ? 0 : ne);
        knoop_bundle_destroy(&b);
        return 1;
    }
    knoop_client_t *client = cli_client(cmd, a.api);
    if (!client) {
        s_clear_all(msgs, ne);
        knoop_bundle_destroy(&b);
        return 2;
    }
    /* Parts of whole signed runs: a part ends after a signed message, so
     * the daemon can verify each part on its own. */
    s_totals_t t = { 0 };
    int status = 0;
    size_t start = 0, parts = 0;
    while (status == 0 && (start < ne || parts == 0)) {
        size_t end = start, cut = start;
        uint64_t bytes = 0;
        while (end < ne && (end - start < S_PART_MSGS && bytes + envs[end].len < S_PART_BYTES)) {
            bytes += envs[end].len;
            end++;
            if (msgs[end - 1].sig)
                cut = end;
        }
        if (end == ne || cut == start)
            cut = end;                        /* the whole rest, or no signed run fits */
        char *json = NULL;
        rc = knoop_client_import(client, parts == 0 ? certs : NULL, parts == 0 ? nc : 0,
                                 parts == 0 ? revs : NULL, parts == 0 ? nr : 0,
                                 envs + start, cut - start, seal, a.require_signed, a.dry_run,
                                 &json, a.timeout_ms);
        parts++;
        if (rc) {
            bool refused = knoop_client_refused(client);
            fprintf(stderr, "knoop %s: %s %s%s%s: %s\n", cmd, file,
                    refused ? "refused by " : "not imported by ", a.api,
                    start ? " (the parts before it are stored)" : ", nothing imported",
                    knoop_client_error(client));
            status = refused ? 1 : 2;
            break;
        }
        s_add_summary(&t, json);
        free(json);
        start = cut;
    }
    if (status == 0) {
        if (a.dry_run)
            printf("checked %s at %s: %llu messages verify; nothing stored (dry run)\n", file,
                   a.api, (unsigned long long) t.messages);
        else if (t.stored == 0 && t.refused == 0)
            printf("nothing new: %s already held all %llu messages of %s (imported before)\n",
                   a.api, (unsigned long long) t.messages, file);
        else
            printf("imported %s into %s: %llu messages, %llu stored, %llu held already, "
                   "%llu refused%s%s%s\n", file, a.api,
                   (unsigned long long) t.messages, (unsigned long long) t.stored,
                   (unsigned long long) t.duplicates, (unsigned long long) t.refused,
                   t.first_refusal[0] ? " (first: " : "", t.first_refusal,
                   t.first_refusal[0] ? ")" : "");
        if (t.skipped)
            printf("left out %llu streams of the node's own: they come back from its broker\n",
                   (unsigned long long) t.skipped);
        if (t.refused)
            status = 1;
    }
    knoop_client_destroy(&client);
    s_clear_all(msgs, ne);
    knoop_bundle_destroy(&b);
    return status;
}

int knoop_cli_bundle(int argc, char **argv)
{
    if (argc < 2) {
        fputs(s_help_bundle, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(s_help_bundle, stdout);
        return 0;
    }
    if (!strcmp(sub, "export"))
        return s_command(&s_cmd_export, s_spec_export, argc - 1, argv + 1, s_export_run);
    if (!strcmp(sub, "inspect"))
        return s_command(&s_cmd_inspect, s_spec_inspect, argc - 1, argv + 1, s_inspect_run);
    if (!strcmp(sub, "import"))
        return s_command(&s_cmd_import, s_spec_import, argc - 1, argv + 1, s_import_run);
    fprintf(stderr, "knoop bundle: unknown subcommand '%s'\n%s", sub, s_help_bundle);
    return 2;
}
