/* make_seeds.c — writes the binary part of the seed corpora in corpus/: wire
 * frames of every kind (wire), local API requests and replies (api),
 * envelopes (msg), and payload bytes of every registered type, prefixed with
 * the byte fuzz_json reads as "decode this type" (json), and journal bundles,
 * whole and cut short (bundle). Built with the fuzz
 * targets; run by hand when a format changes:
 *     build/tests/fuzz/make_seeds tests/fuzz/corpus
 * The text corpora (policy, cert, config, JSON texts) are files in corpus/. */
#include "api.h"
#include "bundle.h"
#include "json.h"
#include "msg.h"
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_dir;

static void s_put(const char *sub, const char *name, const uint8_t *pre, size_t plen,
                  const knoop_buf_t *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s_dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/seed-%s", s_dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || (plen && fwrite(pre, 1, plen, f) != plen) ||
        fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* The seed SUB/seed-NAME (NAME from fmt) from what an encoder left in b, rc
 * its result; pre as in s_put. Exits when it did not encode. */
static void s_put_encoded(int rc, const knoop_buf_t *b, const char *sub, const uint8_t *pre,
                          size_t plen, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void s_put_encoded(int rc, const knoop_buf_t *b, const char *sub, const uint8_t *pre,
                          size_t plen, const char *fmt, ...)
{
    char name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (rc != KNOOP_OK) {
        fprintf(stderr, "make_seeds: %s seed %s does not encode\n", sub, name);
        exit(1);
    }
    s_put(sub, name, pre, plen, b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    s_dir = argv[1];
    knoop_buf_t b = { 0 };

    /* envelopes */
    uint8_t prev[KNOOP_HASH_LEN] = { 0 };
    knoop_buf_t env[2] = { { 0 }, { 0 } };
    json_error_t jerr;
    json_t *sitrep = json_loads("{\"incident_id\":\"hoogwater-2021\",\"summary\":\"Geul buiten "
                                "zijn oevers\"}", 0, &jerr);
    knoop_buf_t payload = { 0 };
    char err[256];
    if (!sitrep || knoop_payload_from_json("knoop.crisis.v1.SitRep", sitrep, &payload, err,
                                           sizeof err) != KNOOP_OK) {
        fprintf(stderr, "make_seeds: cannot encode a SitRep: %s\n", err);
        return 1;
    }
    knoop_body_t body;
    memset(&body, 0, sizeof body);
    body.version = KNOOP_BODY_VERSION;
    body.origin = "vr-utrecht";
    body.topic = "sitrep.vr-utrecht";
    body.epoch = 0x0102030405060708ull;
    body.key = "";
    body.type = "knoop.crisis.v1.SitRep";
    body.priority = KNOOP_PRIO_FLASH;
    body.status = KNOOP_STATUS_ACTUAL;
    body.tlp = KNOOP_TLP_AMBER;
    body.payload = payload.data;
    body.payload_len = payload.len;
    for (int i = 0; i < 2; i++) {
        body.seq = (uint64_t) i + 1;
        memcpy(body.prev, prev, KNOOP_HASH_LEN);
        body.hlc = (1626220800000ull + (uint64_t) i) << 16;
        if (knoop_msg_build(&body, NULL, &env[i], prev) != KNOOP_OK)
            return 1;
        char name[16];
        snprintf(name, sizeof name, "env-%d", i + 1);
        s_put("msg", name, NULL, 0, &env[i]);
    }

    /* a RED message for two named partners (TLP 2.0 recipients): the
     * first of a stream of its own */
    static const char *const to[] = { "ws-limburg", "kcr2" };
    body.epoch = 0x0102030405060709ull;
    body.seq = 1;
    memset(body.prev, 0, KNOOP_HASH_LEN);
    body.hlc = 1626220800000ull << 16;
    body.priority = KNOOP_PRIO_IMMEDIATE;
    body.status = KNOOP_STATUS_EXERCISE;
    body.tlp = KNOOP_TLP_RED;
    body.recipients = to;
    body.nrecipients = 2;
    knoop_buf_t red = { 0 };
    if (knoop_msg_build(&body, NULL, &red, prev) != KNOOP_OK)
        return 1;
    s_put("msg", "env-red", NULL, 0, &red);
    knoop_buf_free(&red);

    /* wire frames */
    knoop_bytes_t envs[2] = { { env[0].data, env[0].len }, { env[1].data, env[1].len } };
    const char *subs[] = { "sitrep.>", "grip.*" };
    knoop_wire_pos_t pos = { .stream = knoop_stream_id("vr-utrecht", "sitrep.vr-utrecht", 7),
                             .origin = "vr-utrecht", .topic = "sitrep.vr-utrecht", .epoch = 7,
                             .hwm = 2 };
    memset(pos.head, 0xab, sizeof pos.head);
    knoop_wire_refusal_t ref = { "secret.>", "policy: vr-utrecht may not read secret.>" };
    knoop_wire_ack_t ack = { 0x1122334455667788ull, 2 };
    knoop_frame_t f[10];
    memset(f, 0, sizeof f);
    f[0].kind = KNOOP_FRAME_HELLO;
    f[0].u.hello.partner = "vr-utrecht";
    f[0].u.hello.subs = subs;
    f[0].u.hello.nsubs = 2;
    f[0].u.hello.vector = &pos;
    f[0].u.hello.nvector = 1;
    f[0].u.hello.credit_msgs = 1024;
    f[0].u.hello.credit_bytes = 1 << 20;
    f[0].u.hello.software = "knoop fuzz";
    f[1].kind = KNOOP_FRAME_WELCOME;
    f[1].u.welcome.broker = "kcr2-broker-1";
    f[1].u.welcome.accepted = subs;
    f[1].u.welcome.naccepted = 1;
    f[1].u.welcome.refused = &ref;
    f[1].u.welcome.nrefused = 1;
    f[1].u.welcome.own = &pos;
    f[1].u.welcome.nown = 1;
    f[1].u.welcome.heartbeat_ms = 1000;
    f[1].u.welcome.credit_msgs = 1024;
    f[2].kind = KNOOP_FRAME_PUBLISH;
    f[2].u.batch.envs = envs;
    f[2].u.batch.n = 2;
    f[3].kind = KNOOP_FRAME_ACK;
    f[3].u.ack.acks = &ack;
    f[3].u.ack.n = 1;
    f[4].kind = KNOOP_FRAME_DELIVER;
    f[4].u.batch.envs = envs;
    f[4].u.batch.n = 1;
    f[5].kind = KNOOP_FRAME_CREDIT;
    f[5].u.credit.msgs = 2;
    f[5].u.credit.bytes = 600;
    f[6].kind = KNOOP_FRAME_HEARTBEAT;
    f[6].u.heartbeat.time_ms = 1626220800000ull;
    f[7].kind = KNOOP_FRAME_ERROR;
    f[7].u.error.code = KNOOP_WERR_POLICY;
    f[7].u.error.reason = "not allowed";
    f[7].u.error.stream = 1;
    f[7].u.error.seq = 3;
    f[8].kind = KNOOP_FRAME_CAUGHT_UP;
    f[8].u.caught_up.messages = 10;
    f[8].u.caught_up.streams = 2;
    f[9].kind = KNOOP_FRAME_SYNC;
    f[9].u.sync.messages = 10;
    knoop_wire_instance_t inst[2] = {
        { .id = 0x5abf31e254562448ull, .active = true, .term = 2, .since_ms = 1626220800000ull,
          .reason = "took over: no instance active at kcr2-broker-1 for 1104 ms" },
        { .id = 0x514c1bafdb6d08dcull, .active = false, .term = 1, .since_ms = 1626220700000ull,
          .reason = "restarted as standby" },
    };
    knoop_frame_t more[2];
    memset(more, 0, sizeof more);
    more[0].kind = KNOOP_FRAME_INSTANCES;
    more[0].u.instances.v = inst;
    more[0].u.instances.n = 2;
    more[1].kind = KNOOP_FRAME_PUBLISH;          /* forwarded: other origins' streams */
    more[1].u.batch.envs = envs;
    more[1].u.batch.n = 2;
    more[1].u.batch.forwarded = true;
    const char *more_names[2] = { "frame-20-instances", "frame-12-forwarded" };
    for (int i = 0; i < 2; i++) {
        b.len = 0;
        s_put_encoded(knoop_frame_encode(&more[i], &b), &b, "wire", NULL, 0, "%s", more_names[i]);
    }
    for (int i = 0; i < 10; i++) {
        b.len = 0;
        s_put_encoded(knoop_frame_encode(&f[i], &b), &b, "wire", NULL, 0, "frame-%d",
                      (int) f[i].kind);
    }

    /* local API: the first byte says request (0) or reply (1) */
    knoop_api_item_t item = { .topic = "sitrep.vr-utrecht", .type = "knoop.crisis.v1.SitRep",
                              .key = "", .priority = 2, .status = 1, .tlp = 3,
                              .payload = payload.data, .payload_len = payload.len };
    knoop_api_req_t rq[6];
    memset(rq, 0, sizeof rq);
    rq[0].kind = KNOOP_API_PUBLISH;
    rq[0].u.publish.items = &item;
    rq[0].u.publish.n = 1;
    rq[1].kind = KNOOP_API_SUBSCRIBE;
    rq[1].u.subscribe.pattern = "sitrep.>";
    rq[1].u.subscribe.durable = "audit";
    rq[1].u.subscribe.from_start = true;
    rq[1].u.subscribe.window = 64;
    rq[2].kind = KNOOP_API_ACK;
    rq[2].u.ack.sub = 1;
    rq[2].u.ack.position = 9;
    rq[3].kind = KNOOP_API_STATUS;
    rq[4].kind = KNOOP_API_BEELD;
    rq[4].u.beeld.pattern = "grip.>";
    rq[5].kind = KNOOP_API_CLOSE;
    rq[5].u.close.sub = 1;
    const uint8_t zero = 0, one = 1;
    for (int i = 0; i < 6; i++) {
        rq[i].id = (uint64_t) i + 1;
        b.len = 0;
        s_put_encoded(knoop_api_req_encode(&rq[i], &b), &b, "api", &zero, 1, "req-%d",
                      (int) rq[i].kind);
    }
    /* promote / demote (ApiRole) and a bundle's content (ApiImport) */
    const char *cert_text = "knoop-cert v1\nid vr-zeeland\n";
    knoop_bytes_t certs[1] = { { (const uint8_t *) cert_text, strlen(cert_text) } };
    knoop_api_req_t rq2[3];
    memset(rq2, 0, sizeof rq2);
    rq2[0].kind = KNOOP_API_ROLE;
    rq2[0].u.role.active = true;
    rq2[0].u.role.reason = "failback after the exercise";
    rq2[1].kind = KNOOP_API_ROLE;
    rq2[1].u.role.active = false;
    rq2[1].u.role.reason = "";
    rq2[2].kind = KNOOP_API_IMPORT;
    rq2[2].u.import.dry_run = true;
    rq2[2].u.import.certs = certs;
    rq2[2].u.import.ncerts = 1;
    rq2[2].u.import.envs = envs;
    rq2[2].u.import.nenvs = 2;
    const char *rq2_names[3] = { "req-17-promote", "req-17-demote", "req-16-import" };
    for (int i = 0; i < 3; i++) {
        rq2[i].id = (uint64_t) i + 100;
        b.len = 0;
        s_put_encoded(knoop_api_req_encode(&rq2[i], &b), &b, "api", &zero, 1, "%s", rq2_names[i]);
    }
    knoop_api_seq_t seq = { "vr-utrecht", "sitrep.vr-utrecht", 1 };
    knoop_api_env_t ae = { 5, env[0].data, env[0].len };
    knoop_api_rep_t rp[5];
    memset(rp, 0, sizeof rp);
    rp[0].kind = KNOOP_API_R_PUBLISHED;
    rp[0].u.published.items = &seq;
    rp[0].u.published.n = 1;
    rp[1].kind = KNOOP_API_R_DELIVERY;
    rp[1].u.delivery.msgs = &ae;
    rp[1].u.delivery.n = 1;
    rp[2].kind = KNOOP_API_R_STATUS;
    rp[2].u.status.json = "{\"partner\":\"vr-utrecht\"}";
    rp[3].kind = KNOOP_API_R_ERROR;
    rp[3].u.error.code = KNOOP_EFULL;
    rp[3].u.error.reason = "disk full on /var/lib/knoop: 0 bytes free";
    rp[4].kind = KNOOP_API_R_SUBSCRIBED;
    rp[4].u.subscribed.sub = 1;
    for (int i = 0; i < 5; i++) {
        rp[i].id = (uint64_t) i + 1;
        b.len = 0;
        s_put_encoded(knoop_api_rep_encode(&rp[i], &b), &b, "api", &one, 1, "rep-%d",
                      (int) rp[i].kind);
    }

    /* payload bytes of the SitRep type: fuzz_json reads the first byte as
     * (type index << 1) | 1 */
    const char *const *types = knoop_payload_types();
    for (uint8_t i = 0; types[i]; i++)
        if (strcmp(types[i], "knoop.crisis.v1.SitRep") == 0) {
            uint8_t pre = (uint8_t) (i << 1 | 1);
            s_put("json", "sitrep-bytes", &pre, 1, &payload);
        }
    /* journal bundles: whole, and cut short before its trailer */
    char path[4096];
    snprintf(path, sizeof path, "%s/bundle", s_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/bundle/seed-bundle", s_dir);
    remove(path);
    knoop_bundle_header_t bh = { .exporter = "vr-utrecht",
                                 .created_ms = 1626220800000ull, .pattern = "sitrep.>" };
    knoop_bundle_writer_t *w = NULL;
    /* signed (version 2) by a fresh key, then the unsigned version 1 seed */
    knoop_key_t *bkey = NULL;
    char path2[4200];
    snprintf(path2, sizeof path2, "%s-v2", path);
    remove(path2);
    if (knoop_key_generate("vr-utrecht", "region", &bkey) != KNOOP_OK ||
        knoop_bundle_writer_new(path2, &bh, bkey, &w) != KNOOP_OK ||
        knoop_bundle_write_cert(w, cert_text, strlen(cert_text)) != KNOOP_OK ||
        knoop_bundle_write_envelope(w, env[0].data, env[0].len) != KNOOP_OK ||
        knoop_bundle_writer_finish(&w) != KNOOP_OK) {
        knoop_bundle_writer_destroy(&w);
        knoop_key_destroy(&bkey);
        fprintf(stderr, "make_seeds: cannot write %s\n", path2);
        return 1;
    }
    knoop_key_destroy(&bkey);
    if (knoop_bundle_writer_new(path, &bh, NULL, &w) != KNOOP_OK ||
        knoop_bundle_write_cert(w, cert_text, strlen(cert_text)) != KNOOP_OK ||
        knoop_bundle_write_envelope(w, env[0].data, env[0].len) != KNOOP_OK ||
        knoop_bundle_write_envelope(w, env[1].data, env[1].len) != KNOOP_OK ||
        knoop_bundle_writer_finish(&w) != KNOOP_OK) {
        knoop_bundle_writer_destroy(&w);
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        return 1;
    }
    FILE *bf = fopen(path, "rb");
    b.len = 0;
    uint8_t chunk[4096];
    size_t got;
    while (bf && (got = fread(chunk, 1, sizeof chunk, bf)) > 0)
        knoop_buf_append(&b, chunk, got);
    if (bf)
        fclose(bf);
    if (b.len > 40) {
        b.len -= 40;                    /* the trailer and a little more */
        s_put("bundle", "bundle-cut", NULL, 0, &b);
    }
    knoop_buf_free(&b);
    knoop_buf_free(&payload);
    knoop_buf_free(&env[0]);
    knoop_buf_free(&env[1]);
    json_decref(sitrep);
    return 0;
}
