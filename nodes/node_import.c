/* node_import.c — a journal bundle's content handed to the node over its
 * local API (knoop bundle import; docs/design.md, "Bundles"). The node
 * learns the certificates and revocation lists its roots vouch for, then
 * checks every message (chain, head signature, revocation) against its
 * trust and stores them only when all pass, in one transaction. Stored
 * messages of other origins are received messages like those from a
 * broker: they reach local subscribers through the verified log, once. The
 * node's own streams are left out: they come back from its broker.
 *
 * The imported streams are then carried on to the mesh: once the link is
 * up (and the catch-up done, so the broker's own copy has come first) the
 * node sends each, as the origin signed it (never re-signed), in a PUBLISH
 * marked forwarded; the broker checks it as a bundle import and ACKs it.
 * Each frame holds one stream and ends at a head signature, so every frame
 * verifies by itself. What is still to forward is kept in the journal
 * (cursor "node.forward"), so a restart or a long outage loses nothing. */
#include "node_int.h"
#include "bundle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FWD_CURSOR    "node.forward"     /* durable names are [a-z0-9_-]: no clash */
#define FWD_BYTES     KNOOP_BATCH_BYTES  /* aim of one frame */
#define FWD_BYTES_MAX (8u << 20)         /* no head signature within: not forwardable */

/* ---- the list of streams to forward, kept in the journal ---- */

static void s_fwd_persist(knoop_node_t *self)
{
    knoop_buf_t b = { 0 };
    int rc = KNOOP_OK;
    for (size_t i = 0; rc == KNOOP_OK && i < self->nfwd; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "%016" PRIx64 " %" PRIu64 " %" PRIu64 "\n",
                         self->fwd[i].stream, self->fwd[i].hwm, self->fwd[i].acked);
        rc = knoop_buf_append(&b, line, (size_t) n);
    }
    if (rc == KNOOP_OK)
        rc = knoop_journal_cursor_put(self->journal, FWD_CURSOR, b.len ? b.data : (void *) "",
                                      b.len);
    knoop_buf_free(&b);
    if (rc)
        knoop_error("node: cannot record the streams still to forward in the journal: %s; "
                    "they are forwarded while this node runs, import the bundle again after "
                    "a restart", knoop_strerror(rc));
}

static fwd_stream_t *s_fwd_add(knoop_node_t *self, uint64_t stream)
{
    for (size_t i = 0; i < self->nfwd; i++)
        if (self->fwd[i].stream == stream)
            return &self->fwd[i];
    fwd_stream_t *v = knoop_array_grow(self->fwd, self->nfwd, &self->fwd_cap, sizeof *v, 16);
    if (!v)
        return NULL;
    self->fwd = v;
    fwd_stream_t *f = &self->fwd[self->nfwd++];
    memset(f, 0, sizeof *f);
    f->stream = stream;
    return f;
}

static void s_fwd_load(knoop_node_t *self)
{
    if (self->fwd_loaded)
        return;
    self->fwd_loaded = true;
    knoop_buf_t b = { 0 };
    int rc = knoop_journal_cursor_get(self->journal, FWD_CURSOR, &b);
    if (rc) {
        if (rc != KNOOP_ENOTFOUND)
            knoop_error("node: cannot read the streams still to forward from the journal: %s",
                        knoop_strerror(rc));
        knoop_buf_free(&b);
        return;
    }
    char *text = strndup((const char *) b.data, b.len);
    knoop_buf_free(&b);
    if (!text)
        return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        uint64_t stream, hwm, acked;
        if (sscanf(line, "%" SCNx64 " %" SCNu64 " %" SCNu64, &stream, &hwm, &acked) != 3) {
            knoop_warn("node: unreadable line '%s' in the list of streams to forward: "
                       "skipped (import the bundle again to forward it)", line);
            continue;
        }
        fwd_stream_t *f = s_fwd_add(self, stream);
        if (f) {
            f->hwm = hwm;
            f->acked = f->sent = acked;
        }
    }
    free(text);
    if (self->nfwd)
        knoop_info("node: %zu imported stream(s) still to forward to the mesh", self->nfwd);
}

/* An imported stream of another origin: forward it (again) up to its last
 * seq imported. */
static void s_fwd_row(void *arg, const knoop_bundle_stream_t *r, int rc)
{
    knoop_node_t *self = arg;
    if (rc || r->error)
        return;
    fwd_stream_t *f = s_fwd_add(self, r->stream);
    if (!f) {
        knoop_error("node: out of memory: stream %s/%s is not forwarded to the mesh; import "
                    "the bundle again", r->origin, r->topic);
        return;
    }
    if (r->last > f->hwm)
        f->hwm = r->last;
    f->refused = false;         /* the operator imported it again: try again */
}

int node_import(knoop_node_t *self, const knoop_api_req_t *req, char **json, char *why,
                size_t why_size)
{
    *json = NULL;
    size_t refused_trust = 0;
    int learned = knoop_bundle_trust_new(self->trust, req->u.import.certs, req->u.import.ncerts,
                                         req->u.import.revocations, req->u.import.nrevocations,
                                         (int64_t) time(NULL), knoop_bundle_learn,
                                         self->learned, &refused_trust);
    if (learned > 0)
        node_trust_update(self);
    /* The bundle's seal, against this daemon's trust (with what the bundle
     * carried learned above): a refused signer refuses the whole part. */
    int src = knoop_bundle_seal_gate(req->u.import.seal, req->u.import.require_signed,
                                     self->trust, why, why_size);
    if (src) {
        self->imports_refused++;
        knoop_warn("node: bundle import refused: %s", why);
        return src;
    }
    knoop_bundle_import_t res;
    uint64_t failed_before = 0;                 /* the journal's last failed write, if any */
    knoop_journal_error(self->journal, &failed_before);
    s_fwd_load(self);
    size_t before = self->nfwd;
    int rc = knoop_bundle_import(self->journal, self->trust, req->u.import.envs,
                                 req->u.import.nenvs, self->id, NULL, NULL,
                                 req->u.import.dry_run ? NULL : s_fwd_row, self,
                                 req->u.import.dry_run, &res, why, why_size);
    if (rc == KNOOP_OK && !req->u.import.dry_run && (self->nfwd || before))
        s_fwd_persist(self);
    if (rc) {
        self->imports_refused++;
        /* The journal says whether this import's write failed (full, I/O,
         * a batch too large for one transaction): a failure stamped during
         * the import. A refused bundle is no fault of this node's storage,
         * and an older failure is already reported. */
        uint64_t failed_at = 0;
        if (*knoop_journal_error(self->journal, &failed_at) && failed_at != failed_before)
            node_set_journal_error(self, rc);
        knoop_warn("node: bundle import refused: %s", why);
        return rc;
    }
    if (res.stored) {
        self->journal_grew = true;
        node_trust_update(self);            /* trust topics may have come with it */
    }
    self->imported += res.stored;
    knoop_info("node: bundle import%s: %llu messages in %llu streams, %llu stored, %llu held "
               "already, %llu refused, %llu own streams left out; %d "
               "certificates or lists learned", req->u.import.dry_run ? " (dry run)" : "",
               (unsigned long long) res.messages, (unsigned long long) res.streams,
               (unsigned long long) res.stored, (unsigned long long) res.duplicates,
               (unsigned long long) res.refused, (unsigned long long) res.skipped,
               learned > 0 ? learned : 0);
    *json = knoop_bundle_import_json(&res, req->u.import.dry_run);
    return *json ? KNOOP_OK : KNOOP_ENOMEM;
}

/* ---- forwarding to the broker ---- */

typedef struct {
    knoop_buf_t bytes;          /* the envelopes, back to back */
    size_t      n, cap;
    size_t     *len;
    uint64_t   *seq;
    size_t      signed_n;       /* envelopes up to and including the last signed one */
    size_t      signed_bytes;
} fwd_batch_t;

static int s_fwd_take(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                      const uint8_t *env, size_t len)
{
    (void) pos;
    (void) stream;
    fwd_batch_t *b = arg;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        size_t *l = realloc(b->len, cap * sizeof *l);
        if (!l)
            return KNOOP_ENOMEM;
        b->len = l;
        uint64_t *q = realloc(b->seq, cap * sizeof *q);
        if (!q)
            return KNOOP_ENOMEM;
        b->seq = q;
        b->cap = cap;
    }
    if (knoop_buf_append(&b->bytes, env, len) != KNOOP_OK)
        return KNOOP_ENOMEM;
    b->len[b->n] = len;
    b->seq[b->n] = seq;
    b->n++;
    knoop_msg_t m;
    bool head = knoop_msg_parse(&m, env, len) == KNOOP_OK && m.sig;
    if (head) {
        b->signed_n = b->n;
        b->signed_bytes = b->bytes.len;
    }
    knoop_msg_clear(&m);
    /* Enough for a frame once it ends at a head; never beyond the cap. */
    if ((head && b->bytes.len >= FWD_BYTES) || b->bytes.len >= FWD_BYTES_MAX)
        return 1;
    return 0;
}

static void s_fwd_batch_free(fwd_batch_t *b)
{
    knoop_buf_free(&b->bytes);
    free(b->len);
    free(b->seq);
}

/* The issued certificates this node holds of the origin of env (up to
 * KNOOP_WIRE_FWD_CERTS, each a malloc'd text in out[]): how many. Pinned
 * certificates (no issuer) are left out: no root of a broker vouches for
 * them. */
static size_t s_fwd_certs(knoop_node_t *self, const uint8_t *env, size_t len, char **out)
{
    knoop_msg_t m;
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return 0;
    size_t n = 0, k = 0;
    const knoop_cert_t *c = self->trust ? knoop_trust_id_keys(self->trust, m.b.origin, &n)
                                        : NULL;
    knoop_msg_clear(&m);
    for (size_t i = 0; c && i < n && k < KNOOP_WIRE_FWD_CERTS; i++) {
        if (!c[i].issuer[0] || knoop_cert_is_root(&c[i]))
            continue;
        knoop_buf_t text = { 0 };
        if (knoop_cert_format(&c[i], &text) == KNOOP_OK && text.len > 0 &&
            text.len <= KNOOP_WIRE_FWD_CERT_MAX &&
            (out[k] = strndup((const char *) text.data, text.len)) != NULL)
            k++;
        knoop_buf_free(&text);
    }
    return k;
}

/* Send the next frame of f: from acked + 1, ending at a head signature. */
static void s_fwd_one(knoop_node_t *self, fwd_stream_t *f)
{
    fwd_batch_t b = { 0 };
    int rc = knoop_journal_read_stream(self->journal, f->stream, f->acked + 1, f->hwm,
                                       s_fwd_take, &b);
    if (rc < 0 || rc == KNOOP_ENOMEM) {
        s_fwd_batch_free(&b);
        return;                 /* read again next pass */
    }
    if (!b.n) {
        /* Nothing held above what the broker has (e.g. a journal restored
         * from an older backup): nothing left to carry. */
        f->acked = f->sent = f->hwm;
        s_fwd_batch_free(&b);
        return;
    }
    if (!b.signed_n) {
        f->refused = true;
        self->forwards_refused++;
        snprintf(f->reason, sizeof f->reason, "seq %llu..%llu: no head signature within %u "
                 "MiB: cannot be verified by a broker; export it from its origin's journal",
                 (unsigned long long) b.seq[0], (unsigned long long) b.seq[b.n - 1],
                 FWD_BYTES_MAX >> 20);
        knoop_warn("node: imported stream %016llx not forwarded: %s",
                   (unsigned long long) f->stream, f->reason);
        s_fwd_batch_free(&b);
        return;
    }
    knoop_bytes_t *envs = calloc(b.signed_n, sizeof *envs);
    if (!envs) {
        s_fwd_batch_free(&b);
        return;
    }
    size_t off = 0;
    for (size_t i = 0; i < b.signed_n; i++) {
        envs[i].data = b.bytes.data + off;
        envs[i].len = b.len[i];
        off += b.len[i];
    }
    /* The origin's issued certificates go with it: a broker that never met
     * the origin takes those its roots vouch for, as from a bundle. */
    char *certs[KNOOP_WIRE_FWD_CERTS];
    size_t ncerts = s_fwd_certs(self, b.bytes.data, b.len[0], certs);
    knoop_frame_t fr = { .kind = KNOOP_FRAME_PUBLISH };
    fr.u.batch.envs = envs;
    fr.u.batch.n = b.signed_n;
    fr.u.batch.forwarded = true;
    fr.u.batch.certs = (const char *const *) certs;
    fr.u.batch.ncerts = ncerts;
    self->out.len = 0;
    if (knoop_frame_encode(&fr, &self->out) == KNOOP_OK &&
        knoop_link_send_dealer(self->dealer, self->out.data, self->out.len) == KNOOP_OK) {
        self->last_sent = knoop_now_ms();
        f->sent = b.seq[b.signed_n - 1];
        knoop_debug("node: forwarded seq %llu..%llu of imported stream %016llx",
                    (unsigned long long) b.seq[0], (unsigned long long) f->sent,
                    (unsigned long long) f->stream);
    }
    free(envs);
    for (size_t i = 0; i < ncerts; i++)
        free(certs[i]);
    s_fwd_batch_free(&b);
}

void node_forward_send(knoop_node_t *self)
{
    if (self->link != LINK_UP || !self->caught_up || !self->dealer)
        return;
    s_fwd_load(self);
    bool changed = false;
    for (size_t i = 0; i < self->nfwd; i++) {
        fwd_stream_t *f = &self->fwd[i];
        /* One frame in flight per stream: the next starts where the ACK says. */
        if (!f->refused && f->acked < f->hwm && f->sent <= f->acked)
            s_fwd_one(self, f);
        if (f->acked >= f->hwm) {
            self->fwd[i--] = self->fwd[--self->nfwd];
            changed = true;
        }
    }
    if (changed)
        s_fwd_persist(self);
}

void node_forward_on_ack(knoop_node_t *self, const knoop_frame_t *f)
{
    for (size_t i = 0; i < f->u.ack.n; i++)
        for (size_t k = 0; k < self->nfwd; k++) {
            fwd_stream_t *s = &self->fwd[k];
            if (s->stream != f->u.ack.acks[i].stream)
                continue;
            uint64_t seq = f->u.ack.acks[i].seq;
            if (seq > s->acked) {
                self->forwarded += seq - s->acked;
                s->acked = seq;
                if (s->sent < seq)
                    s->sent = seq;
            }
        }
}

void node_forward_on_error(knoop_node_t *self, const knoop_frame_t *f)
{
    for (size_t k = 0; f->u.error.stream && k < self->nfwd; k++) {
        fwd_stream_t *s = &self->fwd[k];
        if (s->stream != f->u.error.stream || s->sent <= s->acked)
            continue;
        /* FULL heals by itself: sent again on the next pass. The rest needs
         * a person (the origin's key, the policy): not again on this link. */
        s->sent = s->acked;
        if (f->u.error.code == KNOOP_WERR_FULL)
            continue;
        s->refused = true;
        self->forwards_refused++;
        snprintf(s->reason, sizeof s->reason, "%s: %s", knoop_wire_err_name(f->u.error.code),
                 f->u.error.reason);
        knoop_warn("node: the broker refused imported stream %016llx: %s (tried again on the "
                   "next link or when the bundle is imported again)",
                   (unsigned long long) s->stream, s->reason);
    }
}

void node_forward_link_down(knoop_node_t *self)
{
    for (size_t k = 0; k < self->nfwd; k++) {
        self->fwd[k].sent = self->fwd[k].acked;
        self->fwd[k].refused = false;
    }
}

json_t *node_forward_json(knoop_node_t *self)
{
    s_fwd_load(self);
    json_t *list = json_array();
    for (size_t k = 0; list && k < self->nfwd; k++) {
        char sid[17];
        snprintf(sid, sizeof sid, "%016llx", (unsigned long long) self->fwd[k].stream);
        json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:s}", "stream", sid,
                              "hwm", (json_int_t) self->fwd[k].hwm,
                              "acked", (json_int_t) self->fwd[k].acked,
                              "refused", self->fwd[k].refused ? self->fwd[k].reason : ""));
    }
    return list;
}

void node_forward_destroy(knoop_node_t *self)
{
    free(self->fwd);
    self->fwd = NULL;
    self->nfwd = self->fwd_cap = 0;
}
