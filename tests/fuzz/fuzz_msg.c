/*
 * fuzz_msg.c — libFuzzer target for knoop_msg_parse, the one checked gate for
 * untrusted envelope bytes. See README.md beside this file for how to build
 * and run it.
 *
 * Beyond "does not crash", every accepted input is held to what msg.h
 * promises, and to two round trips:
 *   - re-signing the parsed message keeps its body, chain and stream, and the
 *     new signature verifies;
 *   - the builder accepts every body the parser accepts (they share one set
 *     of checks), and what it builds parses back to the same fields.
 * A broken promise aborts, which libFuzzer reports as a crash with the input.
 *
 * Built with -DKNOOP_FUZZ_STANDALONE instead of -fsanitize=fuzzer, the file
 * has its own main(): it runs each file named on the command line through
 * the target (to replay a crash with any compiler), or with
 * `--make-seeds DIR` writes a small seed corpus of valid envelopes.
 */
#include "crypto.h"
#include "msg.h"
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_msg: %s:%d: check failed: %s\n", __FILE__, \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)

static uint8_t s_pk[KNOOP_PK_LEN], s_sk[KNOOP_SK_LEN];

static void s_init(void)
{
    static int done;
    if (done)
        return;
    CHECK(knoop_crypto_init() == KNOOP_OK);
    /* a fixed key, so that a crash reproduces exactly */
    uint8_t seed[KNOOP_SEED_LEN];
    memset(seed, 0x42, sizeof seed);
    knoop_sign_seed_keypair(s_pk, s_sk, seed);
    knoop_log_set_level(KNOOP_LOG_OFF);
    done = 1;
}

static void s_check_promises(const knoop_msg_t *m)
{
    static const uint8_t zero[KNOOP_HASH_LEN];
    const knoop_body_t *b = &m->b;
    CHECK(b->version == KNOOP_BODY_VERSION);
    CHECK(knoop_id_valid(b->origin));
    CHECK(knoop_topic_validate(b->topic) == KNOOP_OK);
    CHECK(b->epoch != 0 && b->seq >= 1);
    CHECK(b->seq != 1 || memcmp(b->prev, zero, KNOOP_HASH_LEN) == 0);
    CHECK(b->key && strlen(b->key) <= KNOOP_KEY_MAX);
    CHECK(b->type && strlen(b->type) <= KNOOP_TYPE_MAX);
    CHECK((unsigned) b->priority <= KNOOP_PRIO_FLASH);
    CHECK(b->status >= KNOOP_STATUS_ACTUAL && b->status <= KNOOP_STATUS_SYSTEM);
    CHECK(b->tlp >= KNOOP_TLP_CLEAR && b->tlp <= KNOOP_TLP_AMBER_STRICT);
    CHECK(b->nrecipients <= KNOOP_RECIPIENTS_MAX);
    CHECK(!knoop_tlp_restricted(b->tlp) || b->nrecipients > 0);
    for (size_t i = 0; i < b->nrecipients; i++) {
        CHECK(knoop_id_valid(b->recipients[i]));
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(b->recipients[i], b->recipients[j]) != 0);
    }
    CHECK(knoop_msg_for_partner(m, b->origin));
    CHECK(b->payload_len <= KNOOP_PAYLOAD_MAX);
    CHECK(b->payload_len == 0 || b->payload);
    CHECK(m->body && m->body_len > 0 && m->body_len <= KNOOP_ENVELOPE_MAX);
    uint8_t chain[KNOOP_HASH_LEN];
    knoop_chain(chain, b->prev, m->body, m->body_len);
    CHECK(memcmp(chain, m->chain, KNOOP_HASH_LEN) == 0);
    CHECK(m->stream == knoop_stream_id(b->origin, b->topic, b->epoch));
    int rc = knoop_msg_verify_sig(m, s_pk);
    CHECK(m->sig ? (rc == KNOOP_OK || rc == KNOOP_ESIG) : rc == KNOOP_ENOTFOUND);
}

static void s_check_resign(const knoop_msg_t *m)
{
    knoop_buf_t out = { 0 };
    int rc = knoop_msg_resign(m, s_sk, &out);
    /* a body near the size limit may leave no room for a signature */
    CHECK(rc == KNOOP_OK || rc == KNOOP_ETOOBIG);
    if (rc == KNOOP_OK) {
        knoop_msg_t r;
        CHECK(knoop_msg_parse(&r, out.data, out.len) == KNOOP_OK);
        CHECK(r.body_len == m->body_len && memcmp(r.body, m->body, m->body_len) == 0);
        CHECK(memcmp(r.chain, m->chain, KNOOP_HASH_LEN) == 0);
        CHECK(r.stream == m->stream);
        CHECK(knoop_msg_verify_sig(&r, s_pk) == KNOOP_OK);
        knoop_msg_clear(&r);
    }
    knoop_buf_free(&out);
}

static void s_check_rebuild(const knoop_msg_t *m)
{
    knoop_buf_t out = { 0 };
    uint8_t chain[KNOOP_HASH_LEN];
    CHECK(knoop_msg_build(&m->b, NULL, &out, chain) == KNOOP_OK);
    knoop_msg_t r;
    CHECK(knoop_msg_parse(&r, out.data, out.len) == KNOOP_OK);
    CHECK(memcmp(r.chain, chain, KNOOP_HASH_LEN) == 0);
    const knoop_body_t *a = &m->b, *b = &r.b;
    CHECK(a->version == b->version && a->epoch == b->epoch && a->seq == b->seq);
    CHECK(a->hlc == b->hlc && memcmp(a->prev, b->prev, KNOOP_HASH_LEN) == 0);
    CHECK(strcmp(a->origin, b->origin) == 0 && strcmp(a->topic, b->topic) == 0);
    CHECK(strcmp(a->key, b->key) == 0 && strcmp(a->type, b->type) == 0);
    CHECK(a->priority == b->priority && a->status == b->status && a->tlp == b->tlp);
    CHECK(a->nrecipients == b->nrecipients);
    for (size_t i = 0; i < a->nrecipients; i++)
        CHECK(strcmp(a->recipients[i], b->recipients[i]) == 0);
    CHECK(a->payload_len == b->payload_len);
    CHECK(a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
    CHECK(r.stream == m->stream);
    knoop_msg_clear(&r);
    knoop_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    knoop_msg_t m;
    int rc = knoop_msg_parse(&m, data, size);
    if (rc != KNOOP_OK) {
        CHECK(rc < 0 && strcmp(knoop_strerror(rc), "unknown error") != 0);
        CHECK(m.priv_ == NULL);
        return 0;
    }
    s_check_promises(&m);
    s_check_resign(&m);
    s_check_rebuild(&m);
    knoop_msg_clear(&m);
    CHECK(m.priv_ == NULL);
    return 0;
}

#ifdef KNOOP_FUZZ_STANDALONE
static int s_make_seeds(const char *dir)
{
    s_init();
    static const char *topics[] = { "grip.vr-utrecht", "water.ws-limburg.peil", "a" };
    static const char *keys[] = { "", "meetpunt-12", "k\xc3\xbc" };
    uint8_t prev[KNOOP_HASH_LEN] = { 0 };
    uint8_t payload[300];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t) i;
    for (int i = 0; i < 6; i++) {
        static const char *const to[] = { "kcr2", "ws-limburg" };
        knoop_body_t b;
        memset(&b, 0, sizeof b);
        b.version = KNOOP_BODY_VERSION;
        b.origin = i % 2 ? "ws-limburg" : "vr-utrecht";
        b.topic = topics[i % 3];
        b.epoch = 0x0102030405060708ull;
        b.seq = (uint64_t) i + 1;
        memcpy(b.prev, prev, KNOOP_HASH_LEN);
        b.hlc = (1700000000000ull + (uint64_t) i) << 16;
        b.key = keys[i % 3];
        b.type = "knoop.crisis.v1.GripLevel";
        b.priority = (knoop_priority_t) (i % 3);
        b.status = (knoop_status_t) (1 + i % 4);
        b.tlp = (knoop_tlp_t) (1 + i % 5);
        if (knoop_tlp_restricted(b.tlp)) {     /* RED, AMBER+STRICT: named recipients */
            b.recipients = to;
            b.nrecipients = 2;
        }
        b.payload = payload;
        b.payload_len = (size_t) i * 60;
        knoop_buf_t out = { 0 };
        if (knoop_msg_build(&b, i % 2 ? s_sk : NULL, &out, prev) != KNOOP_OK)
            return 1;
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%d.env", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        knoop_buf_free(&out);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--make-seeds") == 0)
        return s_make_seeds(argv[2]);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, n;
        do {
            if (cap - len < 65536) {
                cap = cap ? cap * 2 : 65536;
                uint8_t *nb = realloc(buf, cap);
                if (!nb)
                    abort();
                buf = nb;
            }
            n = fread(buf + len, 1, cap - len, f);
            len += n;
        } while (n > 0);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        printf("%s: ok\n", argv[i]);
    }
    return 0;
}
#endif
