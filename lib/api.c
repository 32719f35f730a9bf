/* api.c — the local API codec and its checked gate. See api.h.
 *
 * Decoding is done in three steps, each refusing before the next one spends
 * memory on the input:
 *   1. size limit (KNOOP_API_MAX);
 *   2. a walk over the raw protobuf fields, driven by the generated
 *      descriptors: every tag, length and nesting level is checked, repeated
 *      fields are counted (so that 16 MiB of two-byte items is refused before
 *      protobuf-c allocates eight million structs), a NUL inside a string is
 *      refused (protobuf-c would hand over a shorter C string than the bytes
 *      say), and the request or reply must carry exactly one kind (protobuf-c
 *      silently keeps the last of several oneof members);
 *   3. protobuf_c_message_unpack, then each field validated once.
 * Decoded pointers point into the unpacked message: nothing is copied again.
 */
#include "api.h"
#include "bundle.h"
#include "crypto.h"
#include "msg.h"
#include "topic.h"
#include "varint.h"

#include "knoop/v1/api.pb-c.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DEPTH_MAX   4           /* Reply > Delivery > Envelope is 3 deep */
#define S_FIELDS_MAX  16          /* fields per message in api.proto, with room */
#define S_REASON_MAX  1024        /* ApiError.reason, bytes */

typedef struct {
    Knoop__V1__ApiRequest *pb;
    knoop_bytes_t         *blobs;     /* import: certificates, lists, envelopes */
    knoop_bundle_seal_t    seal;      /* import: a signed bundle's seal */
    knoop_api_item_t       items[];   /* publish: one per ApiItem */
} s_req_priv_t;

typedef struct {
    Knoop__V1__ApiReply *pb;
    knoop_api_seq_t     *seqs;        /* published: one per ApiSeq */
    knoop_api_env_t     *envs;        /* delivery, beeld: one per ApiEnvelope */
} s_rep_priv_t;

/* The top-level version and id, seen during the walk: a failed decode still
 * reports them, so that the node can address its error reply. */
typedef struct {
    uint32_t version;
    uint64_t id;
    bool     versioned;     /* a version field was seen */
} s_top_t;

/* ---- step 2: the raw walk ---- */

static int s_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                  unsigned depth, s_top_t *top)
{
    assert(d->n_fields <= S_FIELDS_MAX);
    unsigned counts[S_FIELDS_MAX] = { 0 };
    unsigned kinds = 0;
    const uint8_t *end = p + len;
    while (p < end) {
        knoop_pb_field_t f;
        if (!knoop_pb_field_next(&p, end, &f))
            return KNOOP_EMALFORMED;
        uint64_t num = f.num;
        if (num == 0 || num > UINT32_MAX)
            return KNOOP_EMALFORMED;
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, (unsigned) num);
        if (f.wt == KNOOP_WT_VARINT && top && num == 1) {
            top->version = (uint32_t) f.v;
            top->versioned = true;
        } else if (f.wt == KNOOP_WT_VARINT && top && num == 2) {
            top->id = f.v;
        } else if (f.wt == KNOOP_WT_LEN && fd) {
            if (fd->type == PROTOBUF_C_TYPE_STRING && memchr(f.data, 0, f.len))
                return KNOOP_EMALFORMED;
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 >= S_DEPTH_MAX)
                    return KNOOP_EMALFORMED;
                int rc = s_walk(fd->descriptor, f.data, f.len, depth + 1, NULL);
                if (rc)
                    return rc;
            }
        }
        if (fd) {
            if (fd->label == PROTOBUF_C_LABEL_REPEATED &&
                ++counts[fd - d->fields] > KNOOP_API_ITEMS)
                return KNOOP_ETOOBIG;
            if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                kinds++;
        }
    }
    if (top && kinds != 1)
        return KNOOP_EMALFORMED;
    return KNOOP_OK;
}

/* Steps 1 and 2, and the version. */
static int s_gate(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                  s_top_t *top)
{
    memset(top, 0, sizeof *top);
    if (!data || len == 0)
        return KNOOP_EMALFORMED;
    if (len > KNOOP_API_MAX)
        return KNOOP_ETOOBIG;
    int rc = s_walk(d, data, len, 0, top);
    /* A different version may well be a different layout: say so, rather
     * than that it does not parse. Bytes without any version field are
     * just malformed. */
    if ((rc == KNOOP_OK || top->versioned) && top->version != KNOOP_API_VERSION)
        return KNOOP_EVERSION;
    return rc;
}

/* ---- field checks ---- */

static bool s_bounded(const char *s, size_t max)
{
    return s && strnlen(s, max + 1) <= max;
}

static bool s_status_filter_valid(uint32_t s)
{
    return s == 0 || s == KNOOP_API_STATUS_ALL ||
           (s >= 1 && s <= 4);          /* knoop_status_t ACTUAL..SYSTEM */
}

/* ---- requests ---- */

static int s_req_fill(knoop_api_req_t *r, s_req_priv_t *priv)
{
    Knoop__V1__ApiRequest *pb = priv->pb;
    switch (pb->kind_case) {
    case KNOOP__V1__API_REQUEST__KIND_PUBLISH: {
        Knoop__V1__ApiPublish *p = pb->publish;
        if (p->n_items == 0)
            return KNOOP_EMALFORMED;
        for (size_t i = 0; i < p->n_items; i++) {
            Knoop__V1__ApiItem *it = p->items[i];
            if (knoop_topic_validate(it->topic) != KNOOP_OK)
                return KNOOP_ETOPIC;
            if (!s_bounded(it->type, KNOOP_TYPE_MAX) || !s_bounded(it->key, KNOOP_KEY_MAX))
                return KNOOP_EMALFORMED;
            if (it->payload.len > KNOOP_PAYLOAD_MAX)
                return KNOOP_ETOOBIG;
            if (it->n_recipients > KNOOP_RECIPIENTS_MAX)
                return KNOOP_EMALFORMED;
            for (size_t k = 0; k < it->n_recipients; k++)
                if (!knoop_id_valid(it->recipients[k]))
                    return KNOOP_EMALFORMED;
            priv->items[i] = (knoop_api_item_t) {
                .topic = it->topic, .type = it->type, .key = it->key,
                .priority = it->priority, .status = it->status, .tlp = it->classification,
                .payload = it->payload.data, .payload_len = it->payload.len,
                .recipients = (const char *const *) it->recipients,
                .nrecipients = it->n_recipients,
            };
        }
        r->kind = KNOOP_API_PUBLISH;
        r->u.publish.items = priv->items;
        r->u.publish.n = p->n_items;
        r->u.publish.wait_ms = p->wait_ms;
        return KNOOP_OK;
    }
    case KNOOP__V1__API_REQUEST__KIND_SUBSCRIBE: {
        Knoop__V1__ApiSubscribe *s = pb->subscribe;
        if (knoop_pattern_validate(s->pattern) != KNOOP_OK)
            return KNOOP_ETOPIC;
        if ((*s->durable && !knoop_name_valid(s->durable, KNOOP_DURABLE_MAX)) || !s_status_filter_valid(s->status) ||
            s->window > KNOOP_API_ITEMS || (s->from_start && s->since_ms))
            return KNOOP_EMALFORMED;
        r->kind = KNOOP_API_SUBSCRIBE;
        r->u.subscribe.pattern = s->pattern;
        r->u.subscribe.durable = s->durable;
        r->u.subscribe.from_start = s->from_start;
        r->u.subscribe.since_ms = s->since_ms;
        r->u.subscribe.status = s->status;
        r->u.subscribe.window = s->window;
        return KNOOP_OK;
    }
    case KNOOP__V1__API_REQUEST__KIND_ACK:
        if (pb->ack->sub == 0)
            return KNOOP_EMALFORMED;
        r->kind = KNOOP_API_ACK;
        r->u.ack.sub = pb->ack->sub;
        r->u.ack.position = pb->ack->position;
        return KNOOP_OK;
    case KNOOP__V1__API_REQUEST__KIND_STATUS:
        r->kind = KNOOP_API_STATUS;
        return KNOOP_OK;
    case KNOOP__V1__API_REQUEST__KIND_BEELD: {
        const char *pat = pb->beeld->pattern;
        if (!pat || !*pat)
            pat = ">";
        else if (knoop_pattern_validate(pat) != KNOOP_OK)
            return KNOOP_ETOPIC;
        r->kind = KNOOP_API_BEELD;
        r->u.beeld.pattern = pat;
        return KNOOP_OK;
    }
    case KNOOP__V1__API_REQUEST__KIND_CLOSE:
        if (pb->close->sub == 0)
            return KNOOP_EMALFORMED;
        r->kind = KNOOP_API_CLOSE;
        r->u.close.sub = pb->close->sub;
        return KNOOP_OK;
    case KNOOP__V1__API_REQUEST__KIND_IMPORT: {
        Knoop__V1__ApiImport *im = pb->import;
        size_t total = im->n_certificates + im->n_revocations + im->n_envelopes;
        if (total == 0)
            return KNOOP_EMALFORMED;
        priv->blobs = calloc(total, sizeof *priv->blobs);
        if (!priv->blobs)
            return KNOOP_ENOMEM;
        knoop_bytes_t *b = priv->blobs;
        for (size_t i = 0; i < im->n_certificates; i++)
            b[i] = (knoop_bytes_t) { (const uint8_t *) im->certificates[i],
                                     strlen(im->certificates[i]) };
        b += im->n_certificates;
        for (size_t i = 0; i < im->n_revocations; i++)
            b[i] = (knoop_bytes_t) { (const uint8_t *) im->revocations[i],
                                     strlen(im->revocations[i]) };
        b += im->n_revocations;
        for (size_t i = 0; i < im->n_envelopes; i++) {
            if (im->envelopes[i].len == 0)
                return KNOOP_EMALFORMED;
            if (im->envelopes[i].len > KNOOP_ENVELOPE_MAX)
                return KNOOP_ETOOBIG;
            b[i] = (knoop_bytes_t) { im->envelopes[i].data, im->envelopes[i].len };
        }
        if (im->seal) {
            const Knoop__V1__ApiBundleSeal *se = im->seal;
            if (!knoop_id_valid(se->signer) || se->signer_key.len != KNOOP_PK_LEN ||
                se->hash.len != KNOOP_HASH_LEN || se->signature.len != KNOOP_SIG_LEN)
                return KNOOP_EMALFORMED;
            knoop_bundle_seal_t *seal = &priv->seal;
            snprintf(seal->signer, sizeof seal->signer, "%s", se->signer);
            memcpy(seal->signer_key, se->signer_key.data, KNOOP_PK_LEN);
            memcpy(seal->hash, se->hash.data, KNOOP_HASH_LEN);
            memcpy(seal->signature, se->signature.data, KNOOP_SIG_LEN);
            seal->records = se->records;
            seal->envelopes = se->envelopes;
            r->u.import.seal = seal;
        }
        r->kind = KNOOP_API_IMPORT;
        r->u.import.require_signed = im->require_signed;
        r->u.import.dry_run = im->dry_run;
        r->u.import.certs = priv->blobs;
        r->u.import.ncerts = im->n_certificates;
        r->u.import.revocations = priv->blobs + im->n_certificates;
        r->u.import.nrevocations = im->n_revocations;
        r->u.import.envs = b;
        r->u.import.nenvs = im->n_envelopes;
        return KNOOP_OK;
    }
    case KNOOP__V1__API_REQUEST__KIND_ROLE:
        if (pb->role->reason && strlen(pb->role->reason) > 200)
            return KNOOP_EMALFORMED;
        r->kind = KNOOP_API_ROLE;
        r->u.role.active = pb->role->active;
        r->u.role.reason = pb->role->reason ? pb->role->reason : "";
        return KNOOP_OK;
    default:
        return KNOOP_EMALFORMED;
    }
}

int knoop_api_req_decode(knoop_api_req_t *r, const uint8_t *data, size_t len)
{
    memset(r, 0, sizeof *r);
    s_top_t top;
    int rc = s_gate(&knoop__v1__api_request__descriptor, data, len, &top);
    r->version = top.version;
    r->id = top.id;
    if (rc)
        return rc;

    Knoop__V1__ApiRequest *pb = knoop__v1__api_request__unpack(NULL, len, data);
    if (!pb)
        return KNOOP_EMALFORMED;
    size_t n = pb->kind_case == KNOOP__V1__API_REQUEST__KIND_PUBLISH ? pb->publish->n_items : 0;
    s_req_priv_t *priv = calloc(1, sizeof *priv + n * sizeof(knoop_api_item_t));
    if (!priv) {
        knoop__v1__api_request__free_unpacked(pb, NULL);
        return KNOOP_ENOMEM;
    }
    priv->pb = pb;
    r->priv_ = priv;
    r->version = pb->version;
    r->id = pb->id;
    rc = s_req_fill(r, priv);
    if (rc) {
        knoop_api_req_clear(r);
        r->version = top.version;
        r->id = top.id;
    }
    return rc;
}

void knoop_api_req_clear(knoop_api_req_t *r)
{
    s_req_priv_t *priv = r->priv_;
    if (priv) {
        knoop__v1__api_request__free_unpacked(priv->pb, NULL);
        free(priv->blobs);
        free(priv);
    }
    memset(r, 0, sizeof *r);
}

/* Pack msg (already built) after the size check, appending to out. */
static int s_pack(const ProtobufCMessage *msg, knoop_buf_t *out)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > KNOOP_API_MAX)
        return KNOOP_ETOOBIG;
    int rc = knoop_buf_reserve(out, n);
    if (rc)
        return rc;
    out->len += protobuf_c_message_pack(msg, out->data + out->len);
    return KNOOP_OK;
}

static char *s_str(const char *s)
{
    return (char *) (s ? s : "");
}

int knoop_api_req_encode(const knoop_api_req_t *r, knoop_buf_t *out)
{
    if (!r || !out)
        return KNOOP_EINVAL;
    Knoop__V1__ApiRequest pb = KNOOP__V1__API_REQUEST__INIT;
    pb.version = KNOOP_API_VERSION;
    pb.id = r->id;
    Knoop__V1__ApiPublish publish = KNOOP__V1__API_PUBLISH__INIT;
    Knoop__V1__ApiSubscribe subscribe = KNOOP__V1__API_SUBSCRIBE__INIT;
    Knoop__V1__ApiAck ack = KNOOP__V1__API_ACK__INIT;
    Knoop__V1__ApiStatus status = KNOOP__V1__API_STATUS__INIT;
    Knoop__V1__ApiBeeld beeld = KNOOP__V1__API_BEELD__INIT;
    Knoop__V1__ApiClose close = KNOOP__V1__API_CLOSE__INIT;
    Knoop__V1__ApiImport import = KNOOP__V1__API_IMPORT__INIT;
    Knoop__V1__ApiBundleSeal seal_pb = KNOOP__V1__API_BUNDLE_SEAL__INIT;
    Knoop__V1__ApiRole role = KNOOP__V1__API_ROLE__INIT;
    Knoop__V1__ApiItem *items = NULL, **ptrs = NULL;
    char **texts = NULL;
    ProtobufCBinaryData *bins = NULL;

    switch (r->kind) {
    case KNOOP_API_PUBLISH: {
        size_t n = r->u.publish.n;
        if (n > KNOOP_API_ITEMS)
            return KNOOP_ETOOBIG;
        if (n && !r->u.publish.items)
            return KNOOP_EINVAL;
        items = calloc(n ? n : 1, sizeof *items);
        ptrs = calloc(n ? n : 1, sizeof *ptrs);
        if (!items || !ptrs) {
            free(items);
            free(ptrs);
            return KNOOP_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            const knoop_api_item_t *it = &r->u.publish.items[i];
            knoop__v1__api_item__init(&items[i]);
            items[i].topic = s_str(it->topic);
            items[i].type = s_str(it->type);
            items[i].key = s_str(it->key);
            items[i].priority = it->priority;
            items[i].status = it->status;
            items[i].classification = it->tlp;
            if (it->payload_len && !it->payload) {
                free(items);
                free(ptrs);
                return KNOOP_EINVAL;
            }
            items[i].payload.data = (uint8_t *) it->payload;
            items[i].payload.len = it->payload_len;
            if (it->nrecipients && !it->recipients) {
                free(items);
                free(ptrs);
                return KNOOP_EINVAL;
            }
            items[i].recipients = (char **) it->recipients;
            items[i].n_recipients = it->nrecipients;
            ptrs[i] = &items[i];
        }
        publish.n_items = n;
        publish.wait_ms = r->u.publish.wait_ms;
        publish.items = ptrs;
        pb.kind_case = KNOOP__V1__API_REQUEST__KIND_PUBLISH;
        pb.publish = &publish;
        break;
    }
    case KNOOP_API_SUBSCRIBE:
        subscribe.pattern = s_str(r->u.subscribe.pattern);
        subscribe.durable = s_str(r->u.subscribe.durable);
        subscribe.from_start = r->u.subscribe.from_start;
        subscribe.since_ms = r->u.subscribe.since_ms;
        subscribe.status = r->u.subscribe.status;
        subscribe.window = r->u.subscribe.window;
        pb.kind_case = KNOOP__V1__API_REQUEST__KIND_SUBSCRIBE;
        pb.subscribe = &subscribe;
        break;
    case KNOOP_API_ACK:
        ack.sub = r->u.ack.sub;
        ack.position = r->u.ack.position;
        pb.kind_case = KNOOP__V1__API_REQUEST__KIND_ACK;
        pb.ack = &ack;
        break;
    case KNOOP_API_STATUS:
        pb.kind_case = KNOOP__V1__API_REQUEST__KIND_STATUS;
        pb.status = &status;
        break;
    case KNOOP_API_BEELD:
        beeld.pattern = s_str(r->u.beeld.pattern);
        pb.kind_case = KNOOP__V1__API_REQUEST__KIND_BEELD;
        pb.beeld = &beeld;
        break;
    case KNOOP_API_CLOSE:
        close.sub = r->u.close.sub;
        pb.kind_case = KNOOP__V1__API_REQUEST__KIND_CLOSE;
        pb.close = &close;
        break;
    case KNOOP_API_IMPORT: {
        size_t nc = r->u.import.ncerts, nr = r->u.import.nrevocations, ne = r->u.import.nenvs;
        if (nc > KNOOP_API_ITEMS || nr > KNOOP_API_ITEMS || ne > KNOOP_API_ITEMS)
            return KNOOP_ETOOBIG;
        if ((nc && !r->u.import.certs) || (nr && !r->u.import.revocations) ||
            (ne && !r->u.import.envs))
            return KNOOP_EINVAL;
        /* protobuf-c strings end in NUL: copy the texts. */
        texts = calloc(nc + nr + 1, sizeof *texts);
        bins = calloc(ne + 1, sizeof *bins);
        int rc = texts && bins ? KNOOP_OK : KNOOP_ENOMEM;
        for (size_t i = 0; rc == KNOOP_OK && i < nc + nr; i++) {
            const knoop_bytes_t *t = i < nc ? &r->u.import.certs[i]
                                            : &r->u.import.revocations[i - nc];
            if (!(texts[i] = strndup((const char *) t->data, t->len)))
                rc = KNOOP_ENOMEM;
        }
        for (size_t i = 0; rc == KNOOP_OK && i < ne; i++) {
            if (r->u.import.envs[i].len && !r->u.import.envs[i].data)
                rc = KNOOP_EINVAL;
            bins[i].data = (uint8_t *) r->u.import.envs[i].data;
            bins[i].len = r->u.import.envs[i].len;
        }
        const knoop_bundle_seal_t *seal = r->u.import.seal;
        if (seal) {
            seal_pb.signer = (char *) seal->signer;
            seal_pb.signer_key = (ProtobufCBinaryData) { KNOOP_PK_LEN,
                                                         (uint8_t *) seal->signer_key };
            seal_pb.hash = (ProtobufCBinaryData) { KNOOP_HASH_LEN, (uint8_t *) seal->hash };
            seal_pb.signature = (ProtobufCBinaryData) { KNOOP_SIG_LEN,
                                                        (uint8_t *) seal->signature };
            seal_pb.records = seal->records;
            seal_pb.envelopes = seal->envelopes;
            import.seal = &seal_pb;
        }
        if (rc == KNOOP_OK) {
            import.require_signed = r->u.import.require_signed;
            import.dry_run = r->u.import.dry_run;
            import.n_certificates = nc;
            import.certificates = texts;
            import.n_revocations = nr;
            import.revocations = texts + nc;
            import.n_envelopes = ne;
            import.envelopes = bins;
            pb.kind_case = KNOOP__V1__API_REQUEST__KIND_IMPORT;
            pb.import = &import;
            rc = s_pack(&pb.base, out);
        }
        for (size_t i = 0; texts && i < nc + nr; i++)
            free(texts[i]);
        free(texts);
        free(bins);
        return rc;
    }
    case KNOOP_API_ROLE:
        role.active = r->u.role.active;
        role.reason = s_str(r->u.role.reason);
        pb.kind_case = KNOOP__V1__API_REQUEST__KIND_ROLE;
        pb.role = &role;
        break;
    default:
        return KNOOP_EINVAL;
    }
    int rc = s_pack(&pb.base, out);
    free(items);
    free(ptrs);
    return rc;
}

/* ---- replies ---- */

static int s_rep_fill(knoop_api_rep_t *r, s_rep_priv_t *priv)
{
    Knoop__V1__ApiReply *pb = priv->pb;
    switch (pb->kind_case) {
    case KNOOP__V1__API_REPLY__KIND_PUBLISHED: {
        Knoop__V1__ApiPublished *p = pb->published;
        for (size_t i = 0; i < p->n_items; i++) {
            Knoop__V1__ApiSeq *s = p->items[i];
            if (!knoop_id_valid(s->origin) || s->seq == 0)
                return KNOOP_EMALFORMED;
            if (knoop_topic_validate(s->topic) != KNOOP_OK)
                return KNOOP_ETOPIC;
            if ((unsigned) s->verdict > KNOOP_VERDICT_REFUSED || !s_bounded(s->reason, S_REASON_MAX))
                return KNOOP_EMALFORMED;
            priv->seqs[i] = (knoop_api_seq_t) {
                .origin = s->origin, .topic = s->topic, .seq = s->seq,
                .verdict = (knoop_verdict_t) s->verdict, .reason = s->reason,
            };
        }
        r->kind = KNOOP_API_R_PUBLISHED;
        r->u.published.items = priv->seqs;
        r->u.published.n = p->n_items;
        r->u.published.link_up = p->link_up;
        return KNOOP_OK;
    }
    case KNOOP__V1__API_REPLY__KIND_DELIVERY:
    case KNOOP__V1__API_REPLY__KIND_BEELD: {
        bool delivery = pb->kind_case == KNOOP__V1__API_REPLY__KIND_DELIVERY;
        Knoop__V1__ApiDelivery *d = delivery ? pb->delivery : pb->beeld;
        for (size_t i = 0; i < d->n_messages; i++) {
            Knoop__V1__ApiEnvelope *e = d->messages[i];
            if (e->envelope.len == 0)
                return KNOOP_EMALFORMED;
            if (e->envelope.len > KNOOP_ENVELOPE_MAX)
                return KNOOP_ETOOBIG;
            /* Positions in the journal's log start at 1; a picture is not
             * read from the log and may leave them out. */
            if (delivery && e->position == 0)
                return KNOOP_EMALFORMED;
            priv->envs[i] = (knoop_api_env_t) {
                .position = e->position, .envelope = e->envelope.data, .len = e->envelope.len,
            };
        }
        r->kind = delivery ? KNOOP_API_R_DELIVERY : KNOOP_API_R_BEELD;
        r->u.delivery.msgs = priv->envs;
        r->u.delivery.n = d->n_messages;
        r->u.delivery.done = d->done;
        return KNOOP_OK;
    }
    case KNOOP__V1__API_REPLY__KIND_STATUS:
        r->kind = KNOOP_API_R_STATUS;
        r->u.status.json = pb->status->json;
        return KNOOP_OK;
    case KNOOP__V1__API_REPLY__KIND_IMPORTED:
        r->kind = KNOOP_API_R_IMPORTED;
        r->u.status.json = pb->imported->json;
        return KNOOP_OK;
    case KNOOP__V1__API_REPLY__KIND_ERROR:
        if (pb->error->code >= 0 || !s_bounded(pb->error->reason, S_REASON_MAX))
            return KNOOP_EMALFORMED;
        r->kind = KNOOP_API_R_ERROR;
        r->u.error.code = pb->error->code;
        r->u.error.reason = pb->error->reason;
        r->u.error.index = pb->error->index;
        return KNOOP_OK;
    case KNOOP__V1__API_REPLY__KIND_SUBSCRIBED:
        if (pb->subscribed->sub == 0)
            return KNOOP_EMALFORMED;
        r->kind = KNOOP_API_R_SUBSCRIBED;
        r->u.subscribed.sub = pb->subscribed->sub;
        return KNOOP_OK;
    default:
        return KNOOP_EMALFORMED;
    }
}

int knoop_api_rep_decode(knoop_api_rep_t *r, const uint8_t *data, size_t len)
{
    memset(r, 0, sizeof *r);
    s_top_t top;
    int rc = s_gate(&knoop__v1__api_reply__descriptor, data, len, &top);
    r->version = top.version;
    r->id = top.id;
    if (rc)
        return rc;

    Knoop__V1__ApiReply *pb = knoop__v1__api_reply__unpack(NULL, len, data);
    if (!pb)
        return KNOOP_EMALFORMED;
    s_rep_priv_t *priv = calloc(1, sizeof *priv);
    if (!priv) {
        knoop__v1__api_reply__free_unpacked(pb, NULL);
        return KNOOP_ENOMEM;
    }
    priv->pb = pb;
    r->priv_ = priv;
    bool oom = false;
    if (pb->kind_case == KNOOP__V1__API_REPLY__KIND_PUBLISHED && pb->published->n_items)
        oom = !(priv->seqs = calloc(pb->published->n_items, sizeof *priv->seqs));
    else if (pb->kind_case == KNOOP__V1__API_REPLY__KIND_DELIVERY && pb->delivery->n_messages)
        oom = !(priv->envs = calloc(pb->delivery->n_messages, sizeof *priv->envs));
    else if (pb->kind_case == KNOOP__V1__API_REPLY__KIND_BEELD && pb->beeld->n_messages)
        oom = !(priv->envs = calloc(pb->beeld->n_messages, sizeof *priv->envs));
    if (oom) {
        knoop_api_rep_clear(r);
        r->version = top.version;
        r->id = top.id;
        return KNOOP_ENOMEM;
    }
    r->version = pb->version;
    r->id = pb->id;
    rc = s_rep_fill(r, priv);
    if (rc) {
        knoop_api_rep_clear(r);
        r->version = top.version;
        r->id = top.id;
    }
    return rc;
}

void knoop_api_rep_clear(knoop_api_rep_t *r)
{
    s_rep_priv_t *priv = r->priv_;
    if (priv) {
        knoop__v1__api_reply__free_unpacked(priv->pb, NULL);
        free(priv->seqs);
        free(priv->envs);
        free(priv);
    }
    memset(r, 0, sizeof *r);
}

int knoop_api_rep_encode(const knoop_api_rep_t *r, knoop_buf_t *out)
{
    if (!r || !out)
        return KNOOP_EINVAL;
    Knoop__V1__ApiReply pb = KNOOP__V1__API_REPLY__INIT;
    pb.version = KNOOP_API_VERSION;
    pb.id = r->id;
    Knoop__V1__ApiPublished published = KNOOP__V1__API_PUBLISHED__INIT;
    Knoop__V1__ApiDelivery delivery = KNOOP__V1__API_DELIVERY__INIT;
    Knoop__V1__ApiText text = KNOOP__V1__API_TEXT__INIT;
    Knoop__V1__ApiError error = KNOOP__V1__API_ERROR__INIT;
    Knoop__V1__ApiSubscribed subscribed = KNOOP__V1__API_SUBSCRIBED__INIT;
    Knoop__V1__ApiSeq *seqs = NULL;
    Knoop__V1__ApiEnvelope *envs = NULL;
    void **ptrs = NULL;

    switch (r->kind) {
    case KNOOP_API_R_PUBLISHED: {
        size_t n = r->u.published.n;
        if (n > KNOOP_API_ITEMS)
            return KNOOP_ETOOBIG;
        if (n && !r->u.published.items)
            return KNOOP_EINVAL;
        seqs = calloc(n ? n : 1, sizeof *seqs);
        ptrs = calloc(n ? n : 1, sizeof *ptrs);
        if (!seqs || !ptrs) {
            free(seqs);
            free(ptrs);
            return KNOOP_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            knoop__v1__api_seq__init(&seqs[i]);
            seqs[i].origin = s_str(r->u.published.items[i].origin);
            seqs[i].topic = s_str(r->u.published.items[i].topic);
            seqs[i].seq = r->u.published.items[i].seq;
            seqs[i].verdict = (Knoop__V1__Verdict) r->u.published.items[i].verdict;
            seqs[i].reason = s_str(r->u.published.items[i].reason);
            ptrs[i] = &seqs[i];
        }
        published.n_items = n;
        published.link_up = r->u.published.link_up;
        published.items = (Knoop__V1__ApiSeq **) ptrs;
        pb.kind_case = KNOOP__V1__API_REPLY__KIND_PUBLISHED;
        pb.published = &published;
        break;
    }
    case KNOOP_API_R_DELIVERY:
    case KNOOP_API_R_BEELD: {
        size_t n = r->u.delivery.n;
        if (n > KNOOP_API_ITEMS)
            return KNOOP_ETOOBIG;
        if (n && !r->u.delivery.msgs)
            return KNOOP_EINVAL;
        envs = calloc(n ? n : 1, sizeof *envs);
        ptrs = calloc(n ? n : 1, sizeof *ptrs);
        if (!envs || !ptrs) {
            free(envs);
            free(ptrs);
            return KNOOP_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            const knoop_api_env_t *e = &r->u.delivery.msgs[i];
            knoop__v1__api_envelope__init(&envs[i]);
            envs[i].position = e->position;
            if (e->len && !e->envelope) {
                free(envs);
                free(ptrs);
                return KNOOP_EINVAL;
            }
            envs[i].envelope.data = (uint8_t *) e->envelope;
            envs[i].envelope.len = e->len;
            ptrs[i] = &envs[i];
        }
        delivery.n_messages = n;
        delivery.messages = (Knoop__V1__ApiEnvelope **) ptrs;
        delivery.done = r->u.delivery.done;
        if (r->kind == KNOOP_API_R_DELIVERY) {
            pb.kind_case = KNOOP__V1__API_REPLY__KIND_DELIVERY;
            pb.delivery = &delivery;
        } else {
            pb.kind_case = KNOOP__V1__API_REPLY__KIND_BEELD;
            pb.beeld = &delivery;
        }
        break;
    }
    case KNOOP_API_R_STATUS:
        text.json = s_str(r->u.status.json);
        pb.kind_case = KNOOP__V1__API_REPLY__KIND_STATUS;
        pb.status = &text;
        break;
    case KNOOP_API_R_IMPORTED:
        text.json = s_str(r->u.status.json);
        pb.kind_case = KNOOP__V1__API_REPLY__KIND_IMPORTED;
        pb.imported = &text;
        break;
    case KNOOP_API_R_ERROR:
        error.code = r->u.error.code;
        error.reason = s_str(r->u.error.reason);
        error.index = r->u.error.index;
        pb.kind_case = KNOOP__V1__API_REPLY__KIND_ERROR;
        pb.error = &error;
        break;
    case KNOOP_API_R_SUBSCRIBED:
        subscribed.sub = r->u.subscribed.sub;
        pb.kind_case = KNOOP__V1__API_REPLY__KIND_SUBSCRIBED;
        pb.subscribed = &subscribed;
        break;
    default:
        return KNOOP_EINVAL;
    }
    int rc = s_pack(&pb.base, out);
    free(seqs);
    free(envs);
    free(ptrs);
    return rc;
}
