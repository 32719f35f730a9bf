/* msg_json.c — see msg_json.h. */
#include "msg_json.h"
#include "crypto.h"
#include "hlc.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void knoop_time_format_ms(char out[25], uint64_t ms)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[20];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 25, "%.19s.%03uZ", date, (unsigned) (ms % 1000));
}

static json_t *s_payload(const knoop_msg_t *m)
{
    json_t *obj = NULL;
    if (knoop_payload_to_json(m->b.type, m->b.payload, m->b.payload_len, &obj) == KNOOP_OK)
        return obj;
    size_t sz = knoop_base64_size(m->b.payload_len);
    char *b64 = malloc(sz);
    if (!b64)
        return NULL;
    knoop_base64_encode(b64, sz, m->b.payload, m->b.payload_len);
    obj = json_pack("{s:s}", "base64", b64);
    free(b64);
    return obj;
}

json_t *knoop_msg_to_json(const knoop_msg_t *m)
{
    char epoch[17], chain[2 * KNOOP_HASH_LEN + 1], when[25];
    snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long) m->b.epoch);
    knoop_hex_encode(chain, m->chain, KNOOP_HASH_LEN);
    knoop_time_format_ms(when, KNOOP_HLC_MS(m->b.hlc));
    /* 64-bit numbers as decimal strings, as proto3 JSON writes them. */
    char seq[24], hlc[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long) m->b.seq);
    snprintf(hlc, sizeof hlc, "%llu", (unsigned long long) m->b.hlc);
    json_t *payload = s_payload(m);
    if (!payload)
        return NULL;
    json_t *rcpt = json_array();
    for (size_t i = 0; rcpt && i < m->b.nrecipients; i++)
        json_array_append_new(rcpt, json_string(m->b.recipients[i]));
    if (!rcpt) {
        json_decref(payload);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s, "
                     "s:o}",
                     "origin", m->b.origin, "topic", m->b.topic, "epoch", epoch,
                     "seq", seq, "hlc", hlc,
                     "time", when, "key", m->b.key, "type", m->b.type,
                     "priority", knoop_priority_name(m->b.priority),
                     "status", knoop_status_name(m->b.status),
                     "tlp", knoop_tlp_name(m->b.tlp), "recipients", rcpt,
                     "signed", m->sig != NULL, "chain", chain, "payload", payload);
}
