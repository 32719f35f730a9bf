/* bundle.c — journal bundles: codec, gate, check and import. See bundle.h. */
#include "bundle.h"
#include "crypto.h"
#include "file.h"
#include "names.h"
#include "timefmt.h"
#include "trust_mesh.h"

#include "knoop/v1/bundle.pb-c.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FILE_MAX ((uint64_t) 4 << 30)

/* ---- writing ---- */

struct knoop_bundle_writer_t {
    char          *path, *part;
    int            fd;
    knoop_hasher_t hash;
    uint64_t       records, envelopes;
    knoop_buf_t    buf;
    int            error;
    bool           signs;                   /* version 2: a key was given */
    char           signer[KNOOP_ID_MAX + 1];
    uint8_t        pk[KNOOP_PK_LEN], sk[KNOOP_SK_LEN];
};

void knoop_bundle_statement(uint8_t out[KNOOP_BUNDLE_STATEMENT_LEN],
                            const uint8_t hash[KNOOP_HASH_LEN], uint64_t records,
                            uint64_t envelopes)
{
    memcpy(out, KNOOP_BUNDLE_SEAL_TAG, KNOOP_BUNDLE_SEAL_TAG_LEN);
    memcpy(out + KNOOP_BUNDLE_SEAL_TAG_LEN, hash, KNOOP_HASH_LEN);
    uint8_t *p = out + KNOOP_BUNDLE_SEAL_TAG_LEN + KNOOP_HASH_LEN;
    knoop_put_be64(p, records);
    knoop_put_be64(p + 8, envelopes);
}

static int s_write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return KNOOP_EIO;
        p += w;
        len -= (size_t) w;
    }
    return KNOOP_OK;
}

/* Frame and write one record; the hash covers it unless it is the trailer. */
static int s_put(knoop_bundle_writer_t *self, const Knoop__V1__BundleRecord *rec, bool hashed)
{
    if (self->error)
        return self->error;
    size_t n = protobuf_c_message_get_packed_size(&rec->base);
    if (n > KNOOP_BUNDLE_RECORD_MAX)
        return KNOOP_ETOOBIG;
    self->buf.len = 0;
    int rc = knoop_buf_reserve(&self->buf, n + 4);
    if (rc)
        return rc;
    uint8_t *p = self->buf.data;
    p[0] = (uint8_t) (n >> 24);
    p[1] = (uint8_t) (n >> 16);
    p[2] = (uint8_t) (n >> 8);
    p[3] = (uint8_t) n;
    protobuf_c_message_pack(&rec->base, p + 4);
    self->buf.len = n + 4;
    if (hashed)
        knoop_hasher_update(&self->hash, p, n + 4);
    rc = s_write_all(self->fd, p, n + 4);
    if (rc) {
        knoop_error("bundle: cannot write %s: %s", self->part, strerror(errno));
        self->error = rc;
        return rc;
    }
    self->records++;
    return KNOOP_OK;
}

/* The writer's memory, its signing key wiped; the files are the caller's
 * business (finished, or unlinked). */
static void s_writer_free(knoop_bundle_writer_t **self_p)
{
    knoop_bundle_writer_t *self = *self_p;
    knoop_wipe(self->sk, sizeof self->sk);
    knoop_buf_free(&self->buf);
    free(self->path);
    free(self->part);
    free(self);
    *self_p = NULL;
}

int knoop_bundle_writer_new(const char *path, const knoop_bundle_header_t *h,
                            const knoop_key_t *key, knoop_bundle_writer_t **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) == 0)
        return KNOOP_EEXIST;
    knoop_bundle_writer_t *self = calloc(1, sizeof *self);
    if (!self)
        return KNOOP_ENOMEM;
    size_t plen = strlen(path) + 6;
    self->path = strdup(path);
    self->part = malloc(plen);
    if (!self->path || !self->part) {
        s_writer_free(&self);
        return KNOOP_ENOMEM;
    }
    snprintf(self->part, plen, "%s.part", path);
    if (key) {
        self->signs = true;
        snprintf(self->signer, sizeof self->signer, "%s", knoop_key_id(key));
        memcpy(self->pk, knoop_key_public(key), KNOOP_PK_LEN);
        memcpy(self->sk, knoop_key_secret(key), KNOOP_SK_LEN);
    }
    self->fd = open(self->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        knoop_error("bundle: cannot create %s: %s", self->part, strerror(errno));
        s_writer_free(&self);                 /* wipes the key copied above */
        return KNOOP_EIO;
    }
    knoop_hasher_init(&self->hash);
    knoop_hasher_update(&self->hash, KNOOP_BUNDLE_MAGIC, KNOOP_BUNDLE_MAGIC_LEN);
    int rc = s_write_all(self->fd, (const uint8_t *) KNOOP_BUNDLE_MAGIC, KNOOP_BUNDLE_MAGIC_LEN);
    Knoop__V1__BundleHeader hdr = KNOOP__V1__BUNDLE_HEADER__INIT;
    hdr.version = self->signs ? KNOOP_BUNDLE_VERSION : KNOOP_BUNDLE_VERSION_UNSIGNED;
    if (self->signs) {
        hdr.signer = self->signer;
        hdr.signer_key.data = self->pk;
        hdr.signer_key.len = KNOOP_PK_LEN;
    }
    hdr.exporter = (char *) (h->exporter ? h->exporter : "");
    hdr.created_ms = h->created_ms;
    hdr.pattern = (char *) (h->pattern ? h->pattern : ">");
    hdr.since_ms = h->since_ms;
    Knoop__V1__BundleRecord rec = KNOOP__V1__BUNDLE_RECORD__INIT;
    rec.kind_case = KNOOP__V1__BUNDLE_RECORD__KIND_HEADER;
    rec.header = &hdr;
    if (rc == KNOOP_OK)
        rc = s_put(self, &rec, true);
    if (rc) {
        knoop_bundle_writer_destroy(&self);
        return rc;
    }
    *out = self;
    return KNOOP_OK;
}

static int s_put_text(knoop_bundle_writer_t *self, int kind, const char *text, size_t len)
{
    char *copy = strndup(text, len);     /* protobuf-c strings end in NUL */
    if (!copy)
        return KNOOP_ENOMEM;
    Knoop__V1__BundleRecord rec = KNOOP__V1__BUNDLE_RECORD__INIT;
    rec.kind_case = kind;
    if (kind == KNOOP__V1__BUNDLE_RECORD__KIND_CERTIFICATE)
        rec.certificate = copy;
    else
        rec.revocations = copy;
    int rc = s_put(self, &rec, true);
    free(copy);
    return rc;
}

int knoop_bundle_write_cert(knoop_bundle_writer_t *self, const char *text, size_t len)
{
    return s_put_text(self, KNOOP__V1__BUNDLE_RECORD__KIND_CERTIFICATE, text, len);
}

int knoop_bundle_write_revocations(knoop_bundle_writer_t *self, const char *text, size_t len)
{
    return s_put_text(self, KNOOP__V1__BUNDLE_RECORD__KIND_REVOCATIONS, text, len);
}

int knoop_bundle_write_envelope(knoop_bundle_writer_t *self, const uint8_t *env, size_t len)
{
    Knoop__V1__BundleRecord rec = KNOOP__V1__BUNDLE_RECORD__INIT;
    rec.kind_case = KNOOP__V1__BUNDLE_RECORD__KIND_ENVELOPE;
    rec.envelope.data = (uint8_t *) env;
    rec.envelope.len = len;
    int rc = s_put(self, &rec, true);
    if (rc == KNOOP_OK)
        self->envelopes++;
    return rc;
}

uint64_t knoop_bundle_writer_envelopes(const knoop_bundle_writer_t *self)
{
    return self->envelopes;
}

int knoop_bundle_writer_finish(knoop_bundle_writer_t **self_p)
{
    knoop_bundle_writer_t *self = *self_p;
    uint8_t digest[KNOOP_HASH_LEN];
    knoop_hasher_final(&self->hash, digest);
    Knoop__V1__BundleTrailer tr = KNOOP__V1__BUNDLE_TRAILER__INIT;
    tr.records = self->records;
    tr.envelopes = self->envelopes;
    tr.hash.data = digest;
    tr.hash.len = sizeof digest;
    uint8_t sig[KNOOP_SIG_LEN];
    if (self->signs) {
        uint8_t st[KNOOP_BUNDLE_STATEMENT_LEN];
        knoop_bundle_statement(st, digest, self->records, self->envelopes);
        knoop_sign_statement(sig, self->sk, st, sizeof st);
        tr.signature.data = sig;
        tr.signature.len = sizeof sig;
    }
    Knoop__V1__BundleRecord rec = KNOOP__V1__BUNDLE_RECORD__INIT;
    rec.kind_case = KNOOP__V1__BUNDLE_RECORD__KIND_TRAILER;
    rec.trailer = &tr;
    int rc = s_put(self, &rec, false);
    if (rc == KNOOP_OK && fsync(self->fd) != 0) {
        knoop_error("bundle: cannot flush %s to disk: %s", self->part, strerror(errno));
        rc = KNOOP_EIO;
    }
    if (close(self->fd) != 0 && rc == KNOOP_OK)
        rc = KNOOP_EIO;
    self->fd = -1;
    if (rc == KNOOP_OK && rename(self->part, self->path) != 0) {
        knoop_error("bundle: cannot rename %s to %s: %s", self->part, self->path,
                    strerror(errno));
        rc = KNOOP_EIO;
    }
    if (rc != KNOOP_OK)
        unlink(self->part);
    s_writer_free(self_p);
    return rc;
}

void knoop_bundle_writer_destroy(knoop_bundle_writer_t **self_p)
{
    knoop_bundle_writer_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->fd >= 0)
        close(self->fd);
    unlink(self->part);
    s_writer_free(self_p);
}

/* ---- reading ---- */

typedef struct {
    knoop_bytes_t *v;
    size_t         n, cap;
} s_list_t;

struct knoop_bundle_t {
    uint8_t                *data;
    size_t                  len;
    Knoop__V1__BundleRecord **recs;
    size_t                  nrecs, recs_cap;
    knoop_bundle_header_t   header;
    s_list_t                certs, revs, envs;
    int                     intact;
    bool                    claimed;   /* version 2, seal read from header and trailer */
    bool                    sealed;    /* ... and its signature verified */
    knoop_bundle_seal_t     seal;
    char                    why[600];
};

static int s_list_add(s_list_t *l, const uint8_t *p, size_t len)
{
    knoop_bytes_t *v = knoop_array_grow(l->v, l->n, &l->cap, sizeof *v, 64);
    if (!v)
        return KNOOP_ENOMEM;
    l->v = v;
    l->v[l->n++] = (knoop_bytes_t) { p, len };
    return KNOOP_OK;
}

/* "; the last complete message is stream O/T seq S" for a damage report. */
static void s_last_env(const knoop_bundle_t *self, char *out, size_t size)
{
    out[0] = '\0';
    if (self->envs.n == 0) {
        snprintf(out, size, "; no message was read before it");
        return;
    }
    const knoop_bytes_t *e = &self->envs.v[self->envs.n - 1];
    knoop_msg_t m;
    if (knoop_msg_parse(&m, e->data, e->len) == KNOOP_OK) {
        snprintf(out, size, "; the last complete message (%zu read) is %s/%s seq %llu",
                 self->envs.n, m.b.origin, m.b.topic, (unsigned long long) m.b.seq);
        knoop_msg_clear(&m);
    } else {
        snprintf(out, size, "; %zu messages were read before it", self->envs.n);
    }
}

static void s_damage(knoop_bundle_t *self, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_damage(knoop_bundle_t *self, int code, const char *fmt, ...)
{
    char what[300], last[250];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    s_last_env(self, last, sizeof last);
    snprintf(self->why, sizeof self->why, "%s%s", what, last);
    self->intact = code;
}

static void s_parse(knoop_bundle_t *self)
{
    if (self->len < KNOOP_BUNDLE_MAGIC_LEN ||
        memcmp(self->data, KNOOP_BUNDLE_MAGIC, KNOOP_BUNDLE_MAGIC_LEN) != 0) {
        snprintf(self->why, sizeof self->why,
                 "not a knoop bundle: it does not start with \"knoop-bundle-v1\"");
        self->intact = KNOOP_EMALFORMED;
        return;
    }
    knoop_hasher_t h;
    knoop_hasher_init(&h);
    size_t off = KNOOP_BUNDLE_MAGIC_LEN;
    knoop_hasher_update(&h, self->data, off);
    const Knoop__V1__BundleTrailer *trailer = NULL;
    size_t trailer_at = 0;
    while (off < self->len) {
        size_t recno = self->nrecs + 1;
        if (trailer) {
            s_damage(self, KNOOP_ECORRUPT, "damaged: %zu bytes follow the trailer at byte %zu",
                     self->len - off, trailer_at);
            return;
        }
        if (self->len - off < 4) {
            s_damage(self, KNOOP_ECORRUPT,
                     "truncated: the file ends inside the length of record %zu (byte %zu)",
                     recno, off);
            return;
        }
        const uint8_t *p = self->data + off;
        size_t n = (size_t) p[0] << 24 | (size_t) p[1] << 16 | (size_t) p[2] << 8 | p[3];
        if (n == 0 || n > KNOOP_BUNDLE_RECORD_MAX) {
            s_damage(self, KNOOP_ECORRUPT,
                     "damaged: record %zu at byte %zu claims %zu bytes (1..%u allowed)",
                     recno, off, n, KNOOP_BUNDLE_RECORD_MAX);
            return;
        }
        if (self->len - off - 4 < n) {
            s_damage(self, KNOOP_ECORRUPT,
                     "truncated: the file ends inside record %zu (byte %zu: %zu of its %zu "
                     "bytes are there)", recno, off, self->len - off - 4, n);
            return;
        }
        Knoop__V1__BundleRecord *rec = knoop__v1__bundle_record__unpack(NULL, n, p + 4);
        if (!rec || rec->kind_case == KNOOP__V1__BUNDLE_RECORD__KIND__NOT_SET) {
            if (rec)
                knoop__v1__bundle_record__free_unpacked(rec, NULL);
            s_damage(self, KNOOP_ECORRUPT, "damaged: record %zu at byte %zu does not decode",
                     recno, off);
            return;
        }
        Knoop__V1__BundleRecord **v = knoop_array_grow(self->recs, self->nrecs,
                                                       &self->recs_cap, sizeof *v, 256);
        if (!v) {
            knoop__v1__bundle_record__free_unpacked(rec, NULL);
            s_damage(self, KNOOP_ENOMEM, "out of memory reading record %zu", recno);
            return;
        }
        self->recs = v;
        self->recs[self->nrecs++] = rec;
        bool first = recno == 1;
        if (first != (rec->kind_case == KNOOP__V1__BUNDLE_RECORD__KIND_HEADER)) {
            s_damage(self, KNOOP_ECORRUPT, first ? "damaged: the first record is not the header"
                                                 : "damaged: record %zu is a second header",
                     recno);
            return;
        }
        int rc = KNOOP_OK;
        switch (rec->kind_case) {
        case KNOOP__V1__BUNDLE_RECORD__KIND_HEADER:
            if (rec->header->version != KNOOP_BUNDLE_VERSION &&
                rec->header->version != KNOOP_BUNDLE_VERSION_UNSIGNED) {
                snprintf(self->why, sizeof self->why,
                         "bundle version %u: this knoop reads versions %u and %u",
                         rec->header->version, KNOOP_BUNDLE_VERSION_UNSIGNED,
                         KNOOP_BUNDLE_VERSION);
                self->intact = KNOOP_EVERSION;
                return;
            }
            if (rec->header->version == KNOOP_BUNDLE_VERSION &&
                (!knoop_id_valid(rec->header->signer) ||
                 rec->header->signer_key.len != KNOOP_PK_LEN)) {
                s_damage(self, KNOOP_ECORRUPT, "damaged: the version %u header names no valid "
                         "signer (a partner id and a %d-byte key)", KNOOP_BUNDLE_VERSION,
                         KNOOP_PK_LEN);
                return;
            }
            self->header = (knoop_bundle_header_t) {
                .version = rec->header->version, .exporter = rec->header->exporter,
                .created_ms = rec->header->created_ms, .pattern = rec->header->pattern,
                .since_ms = rec->header->since_ms,
                .signer = rec->header->version == KNOOP_BUNDLE_VERSION ? rec->header->signer
                                                                        : "",
            };
            break;
        case KNOOP__V1__BUNDLE_RECORD__KIND_CERTIFICATE:
            rc = s_list_add(&self->certs, (const uint8_t *) rec->certificate,
                            strlen(rec->certificate));
            break;
        case KNOOP__V1__BUNDLE_RECORD__KIND_REVOCATIONS:
            rc = s_list_add(&self->revs, (const uint8_t *) rec->revocations,
                            strlen(rec->revocations));
            break;
        case KNOOP__V1__BUNDLE_RECORD__KIND_ENVELOPE:
            rc = s_list_add(&self->envs, rec->envelope.data, rec->envelope.len);
            break;
        case KNOOP__V1__BUNDLE_RECORD__KIND_TRAILER:
            trailer = rec->trailer;
            trailer_at = off;
            break;
        default:
            break;
        }
        if (rc) {
            s_damage(self, rc, "out of memory reading record %zu", recno);
            return;
        }
        if (!trailer)
            knoop_hasher_update(&h, p, n + 4);
        off += n + 4;
    }
    if (!trailer) {
        s_damage(self, KNOOP_ECORRUPT,
                 "truncated: the file ends after record %zu (byte %zu) without the trailer",
                 self->nrecs, self->len);
        return;
    }
    uint8_t digest[KNOOP_HASH_LEN];
    knoop_hasher_final(&h, digest);
    if (trailer->records != self->nrecs - 1 || trailer->envelopes != self->envs.n) {
        s_damage(self, KNOOP_ECORRUPT,
                 "damaged: the trailer counts %llu records and %llu messages, the file holds "
                 "%zu and %zu", (unsigned long long) trailer->records,
                 (unsigned long long) trailer->envelopes, self->nrecs - 1, self->envs.n);
        return;
    }
    if (trailer->hash.len != KNOOP_HASH_LEN ||
        !knoop_equal_ct(trailer->hash.data, digest, KNOOP_HASH_LEN)) {
        snprintf(self->why, sizeof self->why,
                 "damaged: the bundle's hash does not match its content (changed after "
                 "export)");
        self->intact = KNOOP_ECORRUPT;
        return;
    }
    if (self->header.version == KNOOP_BUNDLE_VERSION) {
        const Knoop__V1__BundleHeader *hdr = self->recs[0]->header;
        if (trailer->signature.len != KNOOP_SIG_LEN) {
            s_damage(self, KNOOP_ECORRUPT, "damaged: the trailer of a version %u bundle holds "
                     "no signature (%zu bytes, %d expected)", KNOOP_BUNDLE_VERSION,
                     trailer->signature.len, KNOOP_SIG_LEN);
            return;
        }
        knoop_bundle_seal_t *seal = &self->seal;
        snprintf(seal->signer, sizeof seal->signer, "%s", hdr->signer);
        memcpy(seal->signer_key, hdr->signer_key.data, KNOOP_PK_LEN);
        memcpy(seal->hash, digest, KNOOP_HASH_LEN);
        seal->records = trailer->records;
        seal->envelopes = trailer->envelopes;
        memcpy(seal->signature, trailer->signature.data, KNOOP_SIG_LEN);
        self->claimed = true;
        uint8_t st[KNOOP_BUNDLE_STATEMENT_LEN];
        knoop_bundle_statement(st, digest, seal->records, seal->envelopes);
        if (knoop_verify_statement(seal->signature, seal->signer_key, st, sizeof st) != 0) {
            char fp[17];
            knoop_fingerprint(fp, seal->signer_key, KNOOP_PK_LEN);
            snprintf(self->why, sizeof self->why,
                     "forged or changed: the bundle's signature does not verify with the key "
                     "its header names (signer %s key %s)", seal->signer, fp);
            self->intact = KNOOP_ESIG;
            return;
        }
        self->sealed = true;
    }
    self->intact = KNOOP_OK;
}

int knoop_bundle_open(const char *path, knoop_bundle_t **out)
{
    *out = NULL;
    knoop_buf_t data = { 0 };
    int rc = knoop_file_read(path, S_FILE_MAX, 0, &data, NULL, 0);
    if (rc) {
        knoop_buf_free(&data);
        return rc;
    }
    knoop_bundle_t *self = calloc(1, sizeof *self);
    if (!self) {
        knoop_buf_free(&data);
        return KNOOP_ENOMEM;
    }
    self->data = data.data;
    self->len = data.len;
    s_parse(self);
    *out = self;
    return KNOOP_OK;
}

void knoop_bundle_destroy(knoop_bundle_t **self_p)
{
    knoop_bundle_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->nrecs; i++)
        knoop__v1__bundle_record__free_unpacked(self->recs[i], NULL);
    free(self->recs);
    free(self->certs.v);
    free(self->revs.v);
    free(self->envs.v);
    free(self->data);
    free(self);
    *self_p = NULL;
}

int knoop_bundle_intact(const knoop_bundle_t *self, const char **why)
{
    if (why)
        *why = self->why;
    return self->intact;
}

const knoop_bundle_seal_t *knoop_bundle_seal(const knoop_bundle_t *self)
{
    return self->sealed && self->intact == KNOOP_OK ? &self->seal : NULL;
}

const knoop_bundle_seal_t *knoop_bundle_seal_claimed(const knoop_bundle_t *self)
{
    return self->claimed ? &self->seal : NULL;
}

int knoop_bundle_signer(const knoop_bundle_seal_t *seal, const knoop_trust_t *trust,
                        char *why, size_t why_size)
{
    why[0] = '\0';
    if (!seal) {
        snprintf(why, why_size, "unsigned: a version %u bundle names no signer",
                 KNOOP_BUNDLE_VERSION_UNSIGNED);
        return KNOOP_ENOTFOUND;
    }
    char fp[17];
    knoop_fingerprint(fp, seal->signer_key, KNOOP_PK_LEN);
    uint8_t st[KNOOP_BUNDLE_STATEMENT_LEN];
    knoop_bundle_statement(st, seal->hash, seal->records, seal->envelopes);
    if (knoop_verify_statement(seal->signature, seal->signer_key, st, sizeof st) != 0) {
        snprintf(why, why_size, "bundle signature of %s (key %s) does not verify: forged or "
                 "changed after signing", seal->signer, fp);
        return KNOOP_ESIG;
    }
    size_t n = 0;
    if (!trust || !knoop_trust_id_keys(trust, seal->signer, &n)) {
        snprintf(why, why_size, "bundle signer %s is unknown here: no certificate of it issued "
                 "by a trusted root is known or carried in the bundle", seal->signer);
        return KNOOP_EUNKNOWN;
    }
    const knoop_cert_t *c = knoop_trust_id_key(trust, seal->signer, seal->signer_key);
    if (!c) {
        snprintf(why, why_size, "bundle signer %s: the key that signed (%s) is not a key of %s "
                 "known here", seal->signer, fp, seal->signer);
        return KNOOP_EUNKNOWN;
    }
    /* as a partner's key is judged everywhere else: revoked or outside its
     * validity now */
    int64_t now = (int64_t) time(NULL);
    char t[32];
    if (knoop_cert_revoked(c, now)) {
        knoop_time_format(t, c->revoked_at);
        snprintf(why, why_size, "bundle signer %s: its key %s was revoked (at %s)",
                 seal->signer, fp, t);
        return KNOOP_EPERM;
    }
    if (knoop_cert_check_time(c, now) != KNOOP_OK) {
        char from[32];
        knoop_time_format(from, c->valid_from);
        knoop_time_format(t, c->valid_until);
        snprintf(why, why_size, "bundle signer %s: the certificate of its key %s is not valid "
                 "now (valid from %s until %s)", seal->signer, fp, from, t);
        return KNOOP_EPERM;
    }
    snprintf(why, why_size, "signed by %s key %s", seal->signer, fp);
    return KNOOP_OK;
}

int knoop_bundle_seal_gate(const knoop_bundle_seal_t *seal, bool require_signed,
                           const knoop_trust_t *trust, char *why, size_t why_size)
{
    if (seal)
        return knoop_bundle_signer(seal, trust, why, why_size);
    if (require_signed) {
        snprintf(why, why_size, "unsigned bundle (format version %u) refused: "
                 "--require-signed", KNOOP_BUNDLE_VERSION_UNSIGNED);
        return KNOOP_EPERM;
    }
    snprintf(why, why_size, "unsigned bundle (format version %u): who packed it is not proven",
             KNOOP_BUNDLE_VERSION_UNSIGNED);
    knoop_warn("bundle import: %s", why);
    return KNOOP_OK;
}

const knoop_bundle_header_t *knoop_bundle_header(const knoop_bundle_t *self)
{
    return &self->header;
}

size_t knoop_bundle_certs(const knoop_bundle_t *self, const knoop_bytes_t **list)
{
    *list = self->certs.v;
    return self->certs.n;
}

size_t knoop_bundle_revocations(const knoop_bundle_t *self, const knoop_bytes_t **list)
{
    *list = self->revs.v;
    return self->revs.n;
}

size_t knoop_bundle_envelopes(const knoop_bundle_t *self, const knoop_bytes_t **list)
{
    *list = self->envs.v;
    return self->envs.n;
}

/* ---- checking ---- */

static int s_cmp_msg(const void *a, const void *b)
{
    const knoop_msg_t *x = *(const knoop_msg_t *const *) a, *y = *(const knoop_msg_t *const *) b;
    int c = strcmp(x->b.origin, y->b.origin);
    if (!c)
        c = strcmp(x->b.topic, y->b.topic);
    if (!c)
        c = x->b.epoch < y->b.epoch ? -1 : x->b.epoch > y->b.epoch;
    if (!c)
        c = x->b.seq < y->b.seq ? -1 : x->b.seq > y->b.seq;
    return c;
}

static void s_fail_row(knoop_bundle_stream_t *r, int code, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void s_fail_row(knoop_bundle_stream_t *r, int code, uint64_t seq, const char *fmt, ...)
{
    if (r->error)
        return;
    r->error = code;
    r->error_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
}

/* The trust verdict on one message, into the row. */
static void s_check_key(const knoop_trust_t *trust, const knoop_msg_t *m,
                        knoop_bundle_stream_t *r)
{
    const knoop_cert_t *c = NULL;
    int rc = knoop_trust_msg_key(trust, m, &c);
    if (rc == KNOOP_OK) {
        if (m->sig) {
            char fp[17];
            knoop_fingerprint(fp, c->pk, KNOOP_PK_LEN);
            snprintf(r->signer, sizeof r->signer, "%s key %s", c->id, fp);
        }
        return;
    }
    if (rc == KNOOP_EUNKNOWN)
        s_fail_row(r, rc, m->b.seq, "unknown partner %s: no certificate of it issued by a "
                   "trusted root is known here or carried in the bundle", m->b.origin);
    else if (rc == KNOOP_ESIG)
        s_fail_row(r, rc, m->b.seq, "the head signature does not verify with any key of %s "
                   "(altered or forged)", m->b.origin);
    else if (rc == KNOOP_EPERM)
        s_fail_row(r, rc, m->b.seq, "dated after the key of %s was revoked", m->b.origin);
    else
        s_fail_row(r, rc, m->b.seq, "%s", knoop_strerror(rc));
}

int knoop_bundle_check(const knoop_trust_t *trust, const knoop_msg_t *msgs, size_t n,
                       knoop_bundle_stream_t **rows_out, size_t *nrows_out,
                       char *why, size_t why_size)
{
    *rows_out = NULL;
    *nrows_out = 0;
    why[0] = '\0';
    const knoop_msg_t **v = calloc(n ? n : 1, sizeof *v);
    knoop_bundle_stream_t *rows = calloc(n ? n : 1, sizeof *rows);
    if (!v || !rows) {
        free(v);
        free(rows);
        return KNOOP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = &msgs[i];
    qsort(v, n, sizeof *v, s_cmp_msg);
    size_t nrows = 0;
    knoop_bundle_stream_t *r = NULL;
    const knoop_msg_t *prev = NULL;
    for (size_t i = 0; i <= n; i++) {
        const knoop_msg_t *m = i < n ? v[i] : NULL;
        bool same = m && prev && prev->stream == m->stream && prev->b.epoch == m->b.epoch &&
                    !strcmp(prev->b.origin, m->b.origin) && !strcmp(prev->b.topic, m->b.topic);
        /* A run ends at a gap or at the end of its stream: it must end signed. */
        if (prev && (!same || m->b.seq > prev->b.seq + 1) && !prev->sig)
            s_fail_row(r, KNOOP_ESIG, prev->b.seq, "not covered by a head signature (the "
                       "run ends unsigned at seq %llu)", (unsigned long long) prev->b.seq);
        if (!m)
            break;
        if (!same) {
            r = &rows[nrows++];
            r->stream = m->stream;
            snprintf(r->origin, sizeof r->origin, "%s", m->b.origin);
            snprintf(r->topic, sizeof r->topic, "%s", m->b.topic);
            r->epoch = m->b.epoch;
            r->first = m->b.seq;
            r->hlc_min = m->b.hlc;
            r->runs = 1;
        } else if (m->b.seq == prev->b.seq) {
            if (memcmp(m->chain, prev->chain, KNOOP_HASH_LEN) != 0)
                s_fail_row(r, KNOOP_EFORK, m->b.seq, "two different messages under one seq "
                           "(a fork, or an altered copy)");
            continue;                               /* a duplicate: counted once */
        } else if (m->b.seq == prev->b.seq + 1) {
            if (memcmp(m->b.prev, prev->chain, KNOOP_HASH_LEN) != 0)
                s_fail_row(r, KNOOP_ECHAIN, m->b.seq, "does not link to seq %llu (one of the "
                           "two was altered)", (unsigned long long) prev->b.seq);
        } else {
            r->runs++;
        }
        r->last = m->b.seq;
        r->count++;
        if (m->b.hlc < r->hlc_min)
            r->hlc_min = m->b.hlc;
        if (m->b.hlc > r->hlc_max)
            r->hlc_max = m->b.hlc;
        if (trust && !r->error)
            s_check_key(trust, m, r);
        prev = m;
    }
    free(v);
    int rc = KNOOP_OK;
    for (size_t i = 0; i < nrows; i++)
        if (rows[i].error) {
            rc = rows[i].error;
            snprintf(why, why_size, "stream %s/%s (epoch %016llx) seq %llu: %s", rows[i].origin,
                     rows[i].topic, (unsigned long long) rows[i].epoch,
                     (unsigned long long) rows[i].error_seq, rows[i].reason);
            break;
        }
    *rows_out = rows;
    *nrows_out = nrows;
    return rc;
}

/* ---- import ---- */

/* The verdict row of a stream (rows are few: a linear search). */
static knoop_bundle_stream_t *s_row_of(knoop_bundle_stream_t *rows, size_t nrows,
                                       uint64_t stream)
{
    for (size_t i = 0; i < nrows; i++)
        if (rows[i].stream == stream)
            return &rows[i];
    return NULL;
}

int knoop_bundle_import(knoop_journal_t *j, const knoop_trust_t *trust,
                        const knoop_bytes_t *envs, size_t n, const char *skip_origin,
                        knoop_bundle_allow_fn *allow, void *allow_arg,
                        knoop_bundle_row_fn *row, void *row_arg,
                        bool dry_run, knoop_bundle_import_t *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    out->messages = n;
    if (!trust) {
        snprintf(why, why_size, "no trust store: nothing can be verified, nothing imported");
        return KNOOP_EUNKNOWN;
    }
    knoop_msg_t *msgs = calloc(n ? n : 1, sizeof *msgs);
    const knoop_msg_t **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    int *res = calloc(n ? n : 1, sizeof *res);
    int rc = msgs && ptrs && res ? KNOOP_OK : KNOOP_ENOMEM;
    size_t parsed = 0;
    for (size_t i = 0; rc == KNOOP_OK && i < n; i++) {
        rc = knoop_msg_parse(&msgs[i], envs[i].data, envs[i].len);
        if (rc) {
            snprintf(why, why_size, "message %zu of the import does not parse: %s", i + 1,
                     knoop_strerror(rc));
            break;
        }
        parsed++;
    }
    knoop_bundle_stream_t *rows = NULL;
    size_t nrows = 0;
    if (rc == KNOOP_OK)
        rc = knoop_bundle_check(trust, msgs, n, &rows, &nrows, why, why_size);
    size_t m = 0;
    if (rc == KNOOP_OK) {
        out->streams = nrows;
        for (size_t i = 0; i < nrows; i++)
            if (skip_origin && !strcmp(rows[i].origin, skip_origin))
                out->skipped++;
        for (size_t i = 0; i < n; i++)
            if (!skip_origin || strcmp(msgs[i].b.origin, skip_origin))
                ptrs[m++] = &msgs[i];
        /* The allow function's refusal takes that message's stream out of
         * the import (all its messages here: what is left would not end at
         * a head signature); the other streams go on. */
        for (size_t i = 0; allow && i < m; i++) {
            knoop_bundle_stream_t *r = s_row_of(rows, nrows, ptrs[i]->stream);
            if (r && r->error)
                continue;                       /* its stream is refused already */
            char reason[sizeof rows[0].reason];   /* what a row keeps of it */
            reason[0] = '\0';
            int arc = allow(allow_arg, ptrs[i], reason, sizeof reason);
            if (arc == KNOOP_OK)
                continue;
            knoop_warn("bundle import: stream %s/%s (epoch %016llx) refused at seq %llu: %s",
                       ptrs[i]->b.origin, ptrs[i]->b.topic,
                       (unsigned long long) ptrs[i]->b.epoch,
                       (unsigned long long) ptrs[i]->b.seq, reason);
            if (!out->first_refusal[0])
                snprintf(out->first_refusal, sizeof out->first_refusal,
                         "stream %s/%s (epoch %016llx) seq %llu: %s", ptrs[i]->b.origin,
                         ptrs[i]->b.topic, (unsigned long long) ptrs[i]->b.epoch,
                         (unsigned long long) ptrs[i]->b.seq, reason);
            if (r) {
                r->error = arc;
                r->error_seq = ptrs[i]->b.seq;
                snprintf(r->reason, sizeof r->reason, "%s", reason);
            }
        }
        size_t kept = 0;
        for (size_t i = 0; i < m; i++) {
            const knoop_bundle_stream_t *r = s_row_of(rows, nrows, ptrs[i]->stream);
            if (r && r->error)
                out->refused++;
            else
                ptrs[kept++] = ptrs[i];
        }
        m = kept;
    }
    if (rc == KNOOP_OK && !dry_run && m)
        rc = knoop_journal_append(j, ptrs, m, res);
    if (rc == KNOOP_OK && !dry_run) {
        for (size_t i = 0; i < m; i++) {
            if (res[i] == KNOOP_OK)
                out->stored++;
            else if (res[i] == KNOOP_EDUPLICATE)
                out->duplicates++;
            else {
                if (!out->refused++ || !out->first_refusal[0])
                    snprintf(out->first_refusal, sizeof out->first_refusal,
                             "stream %s/%s seq %llu: %s", ptrs[i]->b.origin, ptrs[i]->b.topic,
                             (unsigned long long) ptrs[i]->b.seq, knoop_strerror(res[i]));
                knoop_warn("bundle import: %s/%s seq %llu refused by the journal: %s",
                           ptrs[i]->b.origin, ptrs[i]->b.topic,
                           (unsigned long long) ptrs[i]->b.seq, knoop_strerror(res[i]));
            }
        }
    } else if (rc && !why[0]) {
        snprintf(why, why_size, "the journal did not store the import: %s%s%s",
                 knoop_strerror(rc), j && knoop_journal_error(j, NULL)[0] ? ": " : "",
                 j ? knoop_journal_error(j, NULL) : "");
    }
    /* Each stream's verdict to the caller: a refusal by the journal is the
     * stream's too (a fork with, or no link to, what it holds). */
    for (size_t i = 0; row && rc == KNOOP_OK && !dry_run && i < m; i++)
        if (res[i] != KNOOP_OK && res[i] != KNOOP_EDUPLICATE) {
            knoop_bundle_stream_t *r = s_row_of(rows, nrows, ptrs[i]->stream);
            if (r && !r->error) {
                r->error = res[i];
                r->error_seq = ptrs[i]->b.seq;
                snprintf(r->reason, sizeof r->reason, "refused by the journal: %s",
                         knoop_strerror(res[i]));
            }
        }
    for (size_t i = 0; row && i < nrows; i++)
        if (!skip_origin || strcmp(rows[i].origin, skip_origin))
            row(row_arg, &rows[i], rc);
    for (size_t i = 0; i < parsed; i++)
        knoop_msg_clear(&msgs[i]);
    free(rows);
    free(msgs);
    free(ptrs);
    free(res);
    return rc;
}

char *knoop_bundle_import_json(const knoop_bundle_import_t *r, bool dry_run)
{
    json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "dry_run", dry_run,
                          "messages", (json_int_t) r->messages,
                          "stored", (json_int_t) r->stored,
                          "duplicates", (json_int_t) r->duplicates,
                          "refused", (json_int_t) r->refused,
                          "skipped_streams", (json_int_t) r->skipped,
                          "streams", (json_int_t) r->streams,
                          "first_refusal", r->first_refusal);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

int knoop_bundle_trust_new(const knoop_trust_t *trust, const knoop_bytes_t *certs,
                           size_t ncerts, const knoop_bytes_t *revs, size_t nrevs, int64_t now,
                           knoop_bundle_trust_fn *fn, void *arg, size_t *refused)
{
    int taken = 0;
    size_t bad = 0;
    for (size_t i = 0; i < ncerts + nrevs; i++) {
        const knoop_bytes_t *t = i < ncerts ? &certs[i] : &revs[i - ncerts];
        const char *type = i < ncerts ? KNOOP_TRUST_TYPE_CERT : KNOOP_TRUST_TYPE_REVOCATIONS;
        bool is_new = false;
        char why[400];
        if (i < ncerts) {
            knoop_cert_t c;
            if (knoop_cert_parse((const char *) t->data, t->len, "bundle certificate", &c)
                    == KNOOP_OK && knoop_cert_is_root(&c))
                continue;           /* a root travels for inspect only: never taken */
        }
        int rc = knoop_trust_payload_check(trust, type, t->data, t->len, now, &is_new, why,
                                           sizeof why);
        if (rc) {
            if (!bad++)
                knoop_warn("bundle: %s %zu not taken: %s",
                           i < ncerts ? "certificate" : "revocation list",
                           i < ncerts ? i + 1 : i - ncerts + 1, why);
            continue;
        }
        if (is_new && fn(arg, type, t->data, t->len) == 0)
            taken++;
    }
    if (refused)
        *refused = bad;
    return taken;
}

int knoop_bundle_learn(void *learned, const char *type, const uint8_t *text, size_t len)
{
    const char *dir = learned;
    if (strcmp(type, KNOOP_TRUST_TYPE_CERT) == 0) {
        knoop_cert_t c;
        int rc = knoop_cert_parse((const char *) text, len, "bundle certificate", &c);
        if (rc == KNOOP_OK)
            rc = knoop_trust_learn_cert(dir, &c);
        if (rc == KNOOP_OK)
            knoop_info("trust: learned certificate of %s (%s) from a bundle", c.id, c.role);
        return rc;
    }
    knoop_revlist_t *l = NULL;
    int rc = knoop_revlist_parse((const char *) text, len, "bundle revocation list", &l);
    if (rc == KNOOP_OK)
        rc = knoop_trust_learn_revocations(dir, l);
    if (rc == KNOOP_OK)
        knoop_info("trust: applied revocation list %llu from a bundle",
                   (unsigned long long) knoop_revlist_number(l));
    knoop_revlist_destroy(&l);
    return rc;
}
