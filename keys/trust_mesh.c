/* trust_mesh.c — following the trust topics in a journal. See trust_mesh.h. */
#include "trust_mesh.h"
#include "msg.h"
#include "topic.h"
#include "hlc.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool knoop_trust_topic(const char *topic)
{
    return strcmp(topic, KNOOP_TRUST_TOPIC_CERTS) == 0
        || strcmp(topic, KNOOP_TRUST_TOPIC_REVOCATIONS) == 0;
}

int knoop_trust_payload_check(const knoop_trust_t *trust, const char *type,
                              const uint8_t *payload, size_t len, int64_t now,
                              bool *is_new, char *why, size_t why_size)
{
    *is_new = false;
    why[0] = '\0';
    if (strcmp(type, KNOOP_TRUST_TYPE_CERT) == 0) {
        knoop_cert_t c;
        int rc = knoop_cert_parse((const char *) payload, len, "trust.certs payload", &c);
        if (rc) {
            snprintf(why, why_size, "the certificate does not parse: %s", knoop_strerror(rc));
            return rc;
        }
        if (now == 0)
            now = c.valid_from;               /* an auditor: time is not the question */
        rc = knoop_trust_check_issued(trust, &c, now, why, why_size);
        if (rc)
            return rc;
        const knoop_cert_t *known = knoop_trust_by_sign(trust, c.pk);
        *is_new = !known;
        return KNOOP_OK;
    }
    if (strcmp(type, KNOOP_TRUST_TYPE_REVOCATIONS) == 0) {
        knoop_revlist_t *l = NULL;
        int rc = knoop_revlist_parse((const char *) payload, len, "trust.revocations payload", &l);
        if (rc) {
            snprintf(why, why_size, "the revocation list does not parse: %s", knoop_strerror(rc));
            return rc;
        }
        rc = knoop_trust_check_revocations(trust, l, why, why_size);
        if (rc == KNOOP_OK)
            *is_new = knoop_revlist_number(l) > knoop_trust_revocation_number(trust);
        knoop_revlist_destroy(&l);
        return rc;
    }
    snprintf(why, why_size, "type '%s' is not a trust payload (%s or %s)", type,
             KNOOP_TRUST_TYPE_CERT, KNOOP_TRUST_TYPE_REVOCATIONS);
    return KNOOP_EINVAL;
}

int knoop_trust_revocations_gate(const knoop_trust_t *trust, const char *learned,
                                 const uint8_t *payload, size_t len, char *why,
                                 size_t why_size)
{
    static const char todo[] = "copy a broker's DATA/trust/" KNOOP_REVOCATIONS_FILE
                               " (the signed list it applied) to the root machine and revoke "
                               "again with knoop keys revoke --list COPY";
    uint64_t have = knoop_trust_revocation_number(trust);
    knoop_revlist_t *l = NULL;
    if (knoop_revlist_parse((const char *) payload, len, "trust.revocations payload", &l))
        return KNOOP_OK;            /* knoop_trust_payload_check said why */
    uint64_t n = knoop_revlist_number(l);
    int rc = KNOOP_OK;
    if (n < have) {
        snprintf(why, why_size, "revocation list %llu is older than list %llu this broker "
                 "applied, so it changes nothing: the root's list file is old or was lost; %s",
                 (unsigned long long) n, (unsigned long long) have, todo);
        rc = KNOOP_EFORK;
    } else if (n == have && learned) {
        char path[4096];
        knoop_revlist_t *mine = NULL;
        knoop_buf_t a = { 0 }, b = { 0 };
        snprintf(path, sizeof path, "%s/%s", learned, KNOOP_REVOCATIONS_FILE);
        if (knoop_revlist_load(path, &mine) == KNOOP_OK && knoop_revlist_format(mine, &a) == 0
            && knoop_revlist_format(l, &b) == 0
            && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) {
            snprintf(why, why_size, "revocation list %llu differs from the list %llu this "
                     "broker applied, so it changes nothing: the root's list file was lost or "
                     "replaced and its numbering restarted; %s", (unsigned long long) n,
                     (unsigned long long) have, todo);
            rc = KNOOP_EFORK;
        }
        knoop_buf_free(&a);
        knoop_buf_free(&b);
        knoop_revlist_destroy(&mine);
    }
    knoop_revlist_destroy(&l);
    return rc;
}

typedef struct {
    const knoop_trust_t *trust;
    const char          *learned;
    int64_t              now;
    uint64_t             rev_number;      /* highest list written in this pass */
    int                  changes;
    uint64_t             last_seq;
} s_follow_t;

static int s_apply(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                   const uint8_t *env, size_t len)
{
    s_follow_t *f = arg;
    f->last_seq = seq;
    knoop_msg_t m;
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return 0;
    bool is_new = false;
    char why[400];
    int rc = knoop_trust_payload_check(f->trust, m.b.type, m.b.payload, m.b.payload_len,
                                       f->now, &is_new, why, sizeof why);
    if (rc) {
        knoop_warn("trust: %s seq %llu from %s not applied: %s", m.b.topic,
                   (unsigned long long) seq, m.b.origin, why);
    } else if (is_new && strcmp(m.b.type, KNOOP_TRUST_TYPE_CERT) == 0) {
        knoop_cert_t c;
        if (knoop_cert_parse((const char *) m.b.payload, m.b.payload_len, "trust.certs", &c)
                == KNOOP_OK
            && knoop_trust_learn_cert(f->learned, &c) == KNOOP_OK) {
            char fp[17];
            knoop_fingerprint(fp, c.pk, KNOOP_PK_LEN);
            knoop_info("trust: learned certificate of %s (%s, key %s, issued by %s) from %s",
                       c.id, c.role, fp, c.issuer, m.b.origin);
            f->changes++;
        }
    } else if (is_new) {
        knoop_revlist_t *l = NULL;
        if (knoop_revlist_parse((const char *) m.b.payload, m.b.payload_len,
                                "trust.revocations", &l) == KNOOP_OK
            && knoop_revlist_number(l) > f->rev_number
            && knoop_trust_learn_revocations(f->learned, l) == KNOOP_OK) {
            f->rev_number = knoop_revlist_number(l);
            knoop_info("trust: applied revocation list %llu of %s (%zu entries) from %s",
                       (unsigned long long) f->rev_number, knoop_revlist_issuer(l),
                       knoop_revlist_size(l), m.b.origin);
            f->changes++;
        }
        knoop_revlist_destroy(&l);
    }
    knoop_msg_clear(&m);
    return 0;
}

int knoop_trust_follow(knoop_journal_t *j, knoop_u64map_t *applied, const knoop_trust_t *trust,
                       const char *learned, int64_t now)
{
    knoop_stream_info_t *rows = NULL;
    size_t n = 0;
    int rc = knoop_journal_vector(j, "trust.*", &rows, &n);
    if (rc)
        return rc;
    s_follow_t f = { .trust = trust, .learned = learned, .now = now,
                     .rev_number = knoop_trust_revocation_number(trust) };
    for (size_t i = 0; i < n; i++) {
        if (!knoop_trust_topic(rows[i].topic))
            continue;
        uint64_t done = 0;
        knoop_u64map_get(applied, rows[i].stream, &done);
        if (rows[i].hwm <= done)
            continue;
        f.last_seq = done;
        rc = knoop_journal_read_stream(j, rows[i].stream, done + 1, rows[i].hwm, s_apply, &f);
        if (rc)
            break;
        knoop_u64map_put(applied, rows[i].stream, rows[i].hwm);
    }
    free(rows);
    return rc ? rc : f.changes;
}

static void s_expiring(void *arg, const knoop_cert_t *c, int64_t left)
{
    char until[21];
    knoop_time_format(until, c->valid_until);
    json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:I}", "id", c->id, "role", c->role,
                                         "valid_until", until,
                                         "days_left", (json_int_t) (left / 86400)));
}

json_t *knoop_trust_expiring_json(const knoop_trust_t *trust, int64_t now)
{
    json_t *a = json_array();
    if (a)
        knoop_trust_expiring(trust, now, KNOOP_EXPIRY_WARN_SECONDS, s_expiring, a);
    return a;
}

int knoop_trust_msg_key(const knoop_trust_t *trust, const knoop_msg_t *m,
                        const knoop_cert_t **cert)
{
    size_t n;
    const knoop_cert_t *keys = knoop_trust_id_keys(trust, m->b.origin, &n);
    return knoop_trust_msg_key_of(keys, n, m, cert);
}

int knoop_trust_msg_key_of(const knoop_cert_t *keys, size_t n, const knoop_msg_t *m,
                           const knoop_cert_t **cert)
{
    *cert = NULL;
    if (!keys || !n)
        return KNOOP_EUNKNOWN;
    const knoop_cert_t *c = NULL;
    if (m->sig) {
        for (size_t i = n; i-- > 0 && !c;)
            if (knoop_msg_verify_sig(m, keys[i].pk) == KNOOP_OK)
                c = &keys[i];
        if (!c)
            return KNOOP_ESIG;
    } else {
        /* Not a head: its chain is vouched for by a later head. Refused
         * only when every key of the origin was revoked before it. */
        int64_t t = (int64_t) (KNOOP_HLC_MS(m->b.hlc) / 1000);
        for (size_t i = n; i-- > 0 && !c;)
            if (!knoop_cert_revoked(&keys[i], t))
                c = &keys[i];
        if (!c) {
            *cert = &keys[n - 1];
            return KNOOP_EPERM;
        }
    }
    *cert = c;
    if (knoop_cert_revoked(c, (int64_t) (KNOOP_HLC_MS(m->b.hlc) / 1000)))
        return KNOOP_EPERM;
    return KNOOP_OK;
}
