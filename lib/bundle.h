/*
 * bundle.h — journal bundles: streams carried by hand (a USB stick, a
 * courier) when no link works (docs/design.md, "Bundles"). The codec of
 * proto/knoop/v1/bundle.proto, its checked gate, and the one check of a set
 * of envelopes against a trust store that `knoop bundle inspect` and the
 * daemons' import share.
 *
 * A bundle file is "knoop-bundle-v1\n" then length-prefixed records
 * (u32 big-endian, then a BundleRecord): a header first, certificates,
 * revocation lists and envelopes (exactly as the journal holds them, head
 * signatures included), and a trailer last whose hash is BLAKE2b-256 of all
 * bytes before it. The messages prove themselves (chains, head signatures);
 * the trailer makes a bundle cut short or changed anywhere detectable and
 * named. The hash alone is not a signature: whoever can write the file can
 * recompute it. Version 2 bundles are signed as a whole: the header names
 * the signer (a partner id) and its Ed25519 key, and the trailer carries a
 * signature over the statement
 *   "knoop-bundle-v2\n" || hash (32) || records (u64 BE) || envelopes (u64 BE)
 * (64 bytes, knoop_bundle_statement). The signature says who packed the
 * bundle; what is trusted of its messages is still only what their origins
 * signed. Version 1 bundles (no signer) are still read, as unsigned. The
 * magic is the same for both: it names the framing, the header's version
 * the content.
 *
 * Threading: none; objects belong to their creator.
 */
#ifndef KNOOP_BUNDLE_H
#define KNOOP_BUNDLE_H

#include "journal.h"
#include "keys.h"
#include "msg.h"
#include "wire.h"      /* knoop_bytes_t */

#define KNOOP_BUNDLE_MAGIC      "knoop-bundle-v1\n"
#define KNOOP_BUNDLE_MAGIC_LEN  16
#define KNOOP_BUNDLE_VERSION    2                /* signed: written with a key */
#define KNOOP_BUNDLE_VERSION_UNSIGNED 1          /* written without, still read */
#define KNOOP_BUNDLE_RECORD_MAX (2u << 20)      /* one record, bytes */
#define KNOOP_BUNDLE_SEAL_TAG   "knoop-bundle-v2\n"
#define KNOOP_BUNDLE_SEAL_TAG_LEN 16
#define KNOOP_BUNDLE_STATEMENT_LEN (KNOOP_BUNDLE_SEAL_TAG_LEN + KNOOP_HASH_LEN + 16)

typedef struct {
    uint32_t    version;
    const char *exporter;      /* partner id of the exported journal, or "" */
    uint64_t    created_ms;
    const char *pattern;
    uint64_t    since_ms;
    const char *signer;        /* read: version 2's signer, else ""; written: ignored */
} knoop_bundle_header_t;

/* A signed bundle's seal: what the signature covers and the signature. It
 * travels with each part of an import (api.h) so the daemon can check the
 * signer against its own trust store. */
typedef struct knoop_bundle_seal {
    char     signer[KNOOP_ID_MAX + 1];
    uint8_t  signer_key[KNOOP_PK_LEN];
    uint8_t  hash[KNOOP_HASH_LEN];
    uint64_t records, envelopes;       /* the trailer's counts */
    uint8_t  signature[KNOOP_SIG_LEN];
} knoop_bundle_seal_t;

/* The 64 signed bytes: the tag, the content hash, records and envelopes as
 * unsigned 64-bit big-endian integers. */
void knoop_bundle_statement(uint8_t out[KNOOP_BUNDLE_STATEMENT_LEN],
                            const uint8_t hash[KNOOP_HASH_LEN], uint64_t records,
                            uint64_t envelopes);

/* ---- writing ---- */

typedef struct knoop_bundle_writer_t knoop_bundle_writer_t;

/* Start a bundle at path: written to "path.part", renamed to path by
 * finish (so a bundle that exists is whole). With key (may be NULL; its
 * secret is copied, the caller keeps key) the bundle is version 2, signed
 * by knoop_key_id(key) at finish; without, version 1, unsigned. Errors:
 * KNOOP_EEXIST (path exists: never overwritten), KNOOP_EIO (with errno's
 * words logged), KNOOP_ENOMEM. */
int  knoop_bundle_writer_new(const char *path, const knoop_bundle_header_t *h,
                             const knoop_key_t *key, knoop_bundle_writer_t **out);
/* Add a certificate text, a revocation list text, or envelope bytes.
 * KNOOP_ETOOBIG above KNOOP_BUNDLE_RECORD_MAX, KNOOP_EIO. */
int  knoop_bundle_write_cert(knoop_bundle_writer_t *self, const char *text, size_t len);
int  knoop_bundle_write_revocations(knoop_bundle_writer_t *self, const char *text, size_t len);
int  knoop_bundle_write_envelope(knoop_bundle_writer_t *self, const uint8_t *env, size_t len);
/* Write the trailer, fsync, rename into place; destroys the writer in any
 * case. KNOOP_EIO when anything could not be written (the part file is
 * removed). */
int  knoop_bundle_writer_finish(knoop_bundle_writer_t **self_p);
/* Abandon: the part file is removed. Safe on NULL. */
void knoop_bundle_writer_destroy(knoop_bundle_writer_t **self_p);
/* Envelopes written so far. */
uint64_t knoop_bundle_writer_envelopes(const knoop_bundle_writer_t *self);

/* ---- reading (the gate) ---- */

typedef struct knoop_bundle_t knoop_bundle_t;

/* Read a bundle file. KNOOP_OK with *out whenever the file could be read,
 * also when it is damaged: then knoop_bundle_intact says what is wrong, and
 * what was read before the damage is there to name the place. Errors (no
 * *out): KNOOP_ENOTFOUND, KNOOP_EIO, KNOOP_ETOOBIG (over 4 GiB),
 * KNOOP_ENOMEM. */
int  knoop_bundle_open(const char *path, knoop_bundle_t **out);
void knoop_bundle_destroy(knoop_bundle_t **self_p);

/* KNOOP_OK when the file is whole: magic, every record decodes, header
 * first, one trailer last with matching counts and hash, and for version 2
 * a signature that verifies with the key the header names. Otherwise
 * KNOOP_EMALFORMED (not a bundle, or a record that does not decode),
 * KNOOP_EVERSION (a header of another version), KNOOP_ECORRUPT (cut short,
 * or hash or counts differ: changed after export; or a version 2 header or
 * trailer without its signer fields) or KNOOP_ESIG (whole, but the
 * signature does not verify: changed and re-hashed after signing, or
 * forged); *why (borrowed, lives with self) says which, where, and the last
 * complete envelope's stream and seq. Whether the signer is one to trust
 * is knoop_bundle_signer's question. */
int  knoop_bundle_intact(const knoop_bundle_t *self, const char **why);

/* The seal of a version 2 bundle that is whole and whose signature
 * verified (borrowed, lives with self); NULL for a version 1 (unsigned)
 * bundle or a damaged one. */
const knoop_bundle_seal_t *knoop_bundle_seal(const knoop_bundle_t *self);

/* The seal a whole version 2 bundle claims, also when its signature did not
 * verify (knoop_bundle_intact KNOOP_ESIG): for a daemon to refuse, and
 * count, a forged bundle. NULL when no signed trailer was read. Borrowed. */
const knoop_bundle_seal_t *knoop_bundle_seal_claimed(const knoop_bundle_t *self);

/* Check a seal: its signature over knoop_bundle_statement verifies with
 * signer_key (KNOOP_ESIG), and the trust store knows the signer with that
 * very key (KNOOP_EUNKNOWN: an unknown id, or a key that is not one of the
 * id's) and the key is not revoked (KNOOP_EPERM). seal NULL (an unsigned
 * bundle): KNOOP_ENOTFOUND. why says which, naming signer and key
 * fingerprint. The daemons call it for each import part; inspect with its
 * own trust store. */
int  knoop_bundle_signer(const knoop_bundle_seal_t *seal, const knoop_trust_t *trust,
                         char *why, size_t why_size);

/* The daemons' rule for an import part: a seal must pass
 * knoop_bundle_signer (its error returned); no seal (an unsigned, version 1
 * bundle) is KNOOP_EPERM with require_signed, else KNOOP_OK with a warning
 * logged. why says which. */
int  knoop_bundle_seal_gate(const knoop_bundle_seal_t *seal, bool require_signed,
                            const knoop_trust_t *trust, char *why, size_t why_size);

/* What was read (borrowed, lives with self). The header is zeroed when
 * there was none. */
const knoop_bundle_header_t *knoop_bundle_header(const knoop_bundle_t *self);
size_t knoop_bundle_certs(const knoop_bundle_t *self, const knoop_bytes_t **list);
size_t knoop_bundle_revocations(const knoop_bundle_t *self, const knoop_bytes_t **list);
size_t knoop_bundle_envelopes(const knoop_bundle_t *self, const knoop_bytes_t **list);

/* ---- checking messages against a trust store ---- */

/* The verdict on one stream of a set of messages. */
typedef struct {
    uint64_t stream;
    char     origin[KNOOP_ID_MAX + 1];
    char     topic[KNOOP_TOPIC_MAX + 1];
    uint64_t epoch;
    uint64_t first, last;      /* lowest and highest seq */
    uint64_t count;            /* messages (duplicates counted once) */
    uint64_t runs;             /* contiguous runs (1 unless there are gaps) */
    uint64_t hlc_min, hlc_max;
    char     signer[KNOOP_ID_MAX + 32];  /* "id key FINGERPRINT" of the last head */
    int      error;            /* KNOOP_OK or the first problem */
    uint64_t error_seq;
    char     reason[256];
} knoop_bundle_stream_t;

/* Check n parsed messages (any order): per stream, sorted by seq, every
 * message links to the one before it when their seqs follow (KNOOP_ECHAIN:
 * one of the two was altered), one seq never carries two different
 * messages (KNOOP_EFORK), every contiguous run ends in a head signature
 * (KNOOP_ESIG: "not covered by a head signature"), and with a trust store
 * every head verifies against a key of its origin (KNOOP_EUNKNOWN, KNOOP_ESIG)
 * that was not revoked when the message was dated (KNOOP_EPERM); unsigned
 * messages are refused as knoop_trust_msg_key refuses them. Without a trust
 * store only chains and coverage are checked.
 * *rows (malloc'd, free(); sorted by origin, topic, epoch) get one verdict
 * per stream. Returns KNOOP_OK when every stream passes, else the first
 * problem's code with why = "stream ORIGIN/TOPIC (epoch E) seq S: reason".
 * KNOOP_ENOMEM. */
int  knoop_bundle_check(const knoop_trust_t *trust, const knoop_msg_t *msgs, size_t n,
                        knoop_bundle_stream_t **rows, size_t *nrows,
                        char *why, size_t why_size);

/* ---- importing into a journal (node and broker) ---- */

typedef struct {
    uint64_t messages;         /* envelopes received */
    uint64_t stored;           /* new in the journal */
    uint64_t duplicates;       /* held already */
    uint64_t skipped;          /* streams of skip_origin, left out */
    uint64_t refused;          /* refused: by the allow function (the whole stream)
                                * or by the journal (fork, chain to what it holds) */
    uint64_t streams;
    char     first_refusal[300];
} knoop_bundle_import_t;

/* Parse every envelope through the gate, check them all with
 * knoop_bundle_check against trust (required), and only when everything
 * passes append them in one transaction (the journal dedupes; a message
 * that would fork or not link to what the journal holds is refused there
 * and named in out->first_refusal; a stream the allow function refuses is
 * left out, the others stored). Messages whose origin is skip_origin
 * (may be NULL) are left out: a node's own streams come back from its
 * broker, never from a bundle. dry_run: check only, store nothing.
 * Returns KNOOP_OK, or the check's error with why naming stream and seq
 * (nothing stored), or the journal's (KNOOP_EFULL, KNOOP_EIO: nothing
 * stored), or KNOOP_ENOMEM. */
/* allow (may be NULL) is asked per message after the check, e.g. a
 * broker's policy and payload rules: non-zero refuses that message's
 * stream, all of its messages in this import (the rest of it would not end
 * at a head signature), with the sentence: counted in out->refused, named
 * in out->first_refusal ("stream O/T (epoch E) seq S: sentence") and in
 * the stream's row; the other streams are stored, and the import returns
 * KNOOP_OK. A stream already refused is not asked about again. */
typedef int (knoop_bundle_allow_fn)(void *arg, const knoop_msg_t *m, char *why,
                                    size_t why_size);
/* row (may be NULL) is told each stream's verdict (streams of skip_origin
 * left out) once the import is decided, also when it was refused: r->error
 * is the stream's own problem (the check's, the allow function's, or the
 * journal's refusal of one of its messages) or KNOOP_OK; rc is the import's
 * result (a stream without a problem of its own was not stored either when
 * rc is not KNOOP_OK). Not called when an envelope did not parse. A node
 * learns from it which streams to forward, a broker what to ACK. */
typedef void (knoop_bundle_row_fn)(void *arg, const knoop_bundle_stream_t *r, int rc);
int  knoop_bundle_import(knoop_journal_t *j, const knoop_trust_t *trust,
                         const knoop_bytes_t *envs, size_t n, const char *skip_origin,
                         knoop_bundle_allow_fn *allow, void *allow_arg,
                         knoop_bundle_row_fn *row, void *row_arg,
                         bool dry_run, knoop_bundle_import_t *out, char *why, size_t why_size);

/* For each certificate and revocation list text: check it against trust's
 * roots (knoop_trust_payload_check, valid at now) and call fn with those
 * that pass and are new to the store (type KNOOP_TRUST_TYPE_CERT or
 * KNOOP_TRUST_TYPE_REVOCATIONS). Roots and what no root here issued are
 * never taken: they are counted in *refused (may be NULL), the first
 * reason logged. Returns how many fn accepted (returned 0). */
typedef int (knoop_bundle_trust_fn)(void *arg, const char *type, const uint8_t *text,
                                    size_t len);
int  knoop_bundle_trust_new(const knoop_trust_t *trust, const knoop_bytes_t *certs,
                            size_t ncerts, const knoop_bytes_t *revs, size_t nrevs, int64_t now,
                            knoop_bundle_trust_fn *fn, void *arg, size_t *refused);

/* knoop_bundle_trust_fn for a node: remember the item in `learned` (a
 * const char * directory, trust_mesh.h). */
int  knoop_bundle_learn(void *learned, const char *type, const uint8_t *text, size_t len);

/* The import summary as JSON text (malloc'd, free()): what the daemons
 * answer and `knoop bundle import` prints. */
char *knoop_bundle_import_json(const knoop_bundle_import_t *r, bool dry_run);

#endif
