/* handle_trust.c — the broker's part in trust that scales (docs/protocol.md,
 * "Trust"): take an issued certificate or a revocation list from the local
 * API, check it against the roots and journal it on the broker's own
 * stream of the trust topic (the mesh carries it to every broker and node);
 * follow the trust topics in the journal, whoever wrote them, and apply
 * what is new at once: the store reloads, the ZAP handler reloads, and the
 * housekeeping that follows cuts every session of a revoked key. */
#include "broker_int.h"
#include "hlc.h"
#include "trust_mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void broker_trust_step(knoop_broker_t *self)
{
    uint64_t now_ms = knoop_now_ms();
    if (!self->expiry_warned || now_ms - self->expiry_warned >= 86400000ull) {
        self->expiry_warned = now_ms;
        knoop_trust_warn_expiring(self->trust, "broker", (int64_t) time(NULL));
    }
    /* Nothing stored since the last pass: nothing to follow. */
    uint64_t pos = knoop_journal_next_pos(self->journal);
    if (pos == self->trust_pos)
        return;
    self->trust_pos = pos;
    int n = knoop_trust_follow(self->journal, &self->trust_applied, self->trust,
                               self->learned, (int64_t) time(NULL));
    if (n < 0) {
        knoop_error("broker: cannot read the trust topics from the journal: %s",
                    knoop_strerror(n));
        return;
    }
    if (n == 0)
        return;
    if (knoop_trust_refresh(self->journal, self->opts.trust_dir, self->learned,
                            &self->trust_stamp, &self->trust) == 1) {
        self->trust_reloads++;
        knoop_info("broker: trust store reloaded with what the mesh taught (%zu certificates, "
                   "revocation list %llu)", knoop_trust_size(self->trust),
                   (unsigned long long) knoop_trust_revocation_number(self->trust));
    }
    knoop_zap_reload(self->zap);
}

int broker_trust_publish(knoop_broker_t *self, const knoop_api_item_t *it,
                         knoop_api_seq_t *res, char *why, size_t why_size)
{
    if (!knoop_trust_topic(it->topic)) {
        snprintf(why, why_size, "this is a broker: it publishes only on %s and %s",
                 KNOOP_TRUST_TOPIC_CERTS, KNOOP_TRUST_TOPIC_REVOCATIONS);
        return KNOOP_EPERM;
    }
    bool certs = strcmp(it->topic, KNOOP_TRUST_TOPIC_CERTS) == 0;
    if (strcmp(it->type, certs ? KNOOP_TRUST_TYPE_CERT : KNOOP_TRUST_TYPE_REVOCATIONS) != 0) {
        snprintf(why, why_size, "%s carries type %s", it->topic,
                 certs ? KNOOP_TRUST_TYPE_CERT : KNOOP_TRUST_TYPE_REVOCATIONS);
        return KNOOP_EINVAL;
    }
    bool is_new = false;
    int rc = knoop_trust_payload_check(self->trust, it->type, it->payload, it->payload_len,
                                       (int64_t) time(NULL), &is_new, why, why_size);
    if (rc == KNOOP_OK && !certs)
        rc = knoop_trust_revocations_gate(self->trust, self->learned, it->payload,
                                          it->payload_len, why, why_size);
    if (rc) {
        knoop_warn("broker: trust publication refused: %s", why);
        return rc;
    }
    uint64_t epoch = knoop_journal_epoch(self->journal);
    uint64_t stream = knoop_stream_id(self->id, it->topic, epoch);
    knoop_stream_info_t row;
    memset(&row, 0, sizeof row);
    if (knoop_journal_stream(self->journal, stream, &row) != KNOOP_OK)
        row.hwm = 0;
    knoop_body_t b = {
        .version = KNOOP_BODY_VERSION, .origin = self->id, .topic = it->topic, .epoch = epoch,
        .seq = row.hwm + 1, .hlc = knoop_hlc_now(&self->hlc), .key = "", .type = it->type,
        .priority = KNOOP_PRIO_FLASH, .status = KNOOP_STATUS_SYSTEM, .tlp = KNOOP_TLP_GREEN,
        .payload = it->payload, .payload_len = it->payload_len,
    };
    memcpy(b.prev, row.head, KNOOP_HASH_LEN);
    knoop_buf_t env = { 0 };
    uint8_t chain[KNOOP_HASH_LEN];
    knoop_msg_t m;
    memset(&m, 0, sizeof m);
    rc = knoop_msg_build(&b, knoop_key_secret(self->key), &env, chain);
    if (rc == KNOOP_OK)
        rc = knoop_msg_parse(&m, env.data, env.len);
    int result = KNOOP_OK;
    if (rc == KNOOP_OK) {
        const knoop_msg_t *ptr = &m;
        rc = knoop_journal_append_ex(self->journal, &ptr, 1, &result, KNOOP_APPEND_CONTIGUOUS);
        if (rc == KNOOP_OK)
            rc = result;
    }
    knoop_msg_clear(&m);
    knoop_buf_free(&env);
    if (rc) {
        snprintf(why, why_size, "cannot journal it: %s", knoop_strerror(rc));
        knoop_error("broker: trust publication: %s", why);
        return rc;
    }
    memset(res, 0, sizeof *res);
    res->origin = self->id;
    res->verdict = KNOOP_VERDICT_ACCEPTED;     /* the broker itself stored it */
    res->reason = "";
    /* Static strings: the request (and it) is freed before the reply goes. */
    res->topic = certs ? KNOOP_TRUST_TOPIC_CERTS : KNOOP_TRUST_TOPIC_REVOCATIONS;
    res->seq = row.hwm + 1;
    knoop_info("broker: journaled %s seq %llu (%s)", it->topic, (unsigned long long) res->seq,
               is_new ? "new" : "already known");
    broker_trust_step(self);
    return KNOOP_OK;
}

void broker_trust_announce(knoop_broker_t *self)
{
    /* The broker's own issued certificate travels with the data once per
     * journal, so that an auditor holding only the root certificate can
     * verify the broker's trust messages (and nodes learn it too). */
    const knoop_cert_t *mine = knoop_trust_by_sign(self->trust, knoop_key_public(self->key));
    if (!mine || !mine->issuer[0])
        return;
    uint64_t stream = knoop_stream_id(self->id, KNOOP_TRUST_TOPIC_CERTS,
                                      knoop_journal_epoch(self->journal));
    knoop_stream_info_t row;
    if (knoop_journal_stream(self->journal, stream, &row) == KNOOP_OK && row.hwm > 0)
        return;
    knoop_buf_t text = { 0 };
    if (knoop_cert_format(mine, &text) == KNOOP_OK) {
        knoop_api_item_t it = {
            .topic = KNOOP_TRUST_TOPIC_CERTS, .type = KNOOP_TRUST_TYPE_CERT, .key = "",
            .payload = text.data, .payload_len = text.len,
        };
        knoop_api_seq_t res;
        char why[400];
        if (broker_trust_publish(self, &it, &res, why, sizeof why) != KNOOP_OK)
            knoop_warn("broker: cannot announce its own certificate: %s", why);
    }
    knoop_buf_free(&text);
}
