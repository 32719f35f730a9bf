/* settled.c — the settled summary of a HELLO: see settled.h and
 * docs/protocol.md, "The settled summary". */
#include "settled.h"
#include "hlc.h"
#include "msg.h"
#include "topic.h"
#include "trust_mesh.h"

#include <assert.h>
#include <string.h>

uint64_t knoop_settled_since(uint64_t complete_hlc, int margin_ms)
{
    uint64_t margin = KNOOP_HLC_MAKE(margin_ms > 0 ? (uint64_t) margin_ms
                                                   : KNOOP_SETTLED_MARGIN_MS, 0);
    return complete_hlc > margin ? complete_hlc - margin : 0;
}

uint64_t knoop_settled_as_of(uint64_t complete_hlc, int margin_ms, size_t nrows,
                             uint64_t now_hlc)
{
    if (complete_hlc)
        return knoop_settled_since(complete_hlc, margin_ms);
    return nrows > KNOOP_WIRE_VECTOR_MAX ? knoop_settled_since(now_hlc, margin_ms) : 0;
}

bool knoop_settled_candidate(const knoop_stream_info_t *r, const char *partner, bool peer,
                             const char *const *subs, size_t nsubs)
{
    if (peer || strcmp(r->origin, partner) == 0 || knoop_trust_topic(r->topic))
        return true;
    for (size_t i = 0; i < nsubs; i++)
        if (knoop_topic_match(subs[i], r->topic))
            return true;
    return false;
}

bool knoop_settled_named(const knoop_stream_info_t *r, uint64_t t, bool lowered)
{
    return t == 0 || r->last_hlc > t || r->max_seq != r->hwm ||
           (r->flags & KNOOP_STREAM_FORKED) || lowered;
}

void knoop_settled_init(knoop_settled_t *s)
{
    memset(s, 0, sizeof *s);
}

static void s_close(knoop_settled_t *s)
{
    if (s->open)
        knoop_hasher_final_len(&s->h, s->bucket[s->n - 1].digest, KNOOP_WIRE_BUCKET_DIGEST);
    s->open = false;
}

void knoop_settled_add(knoop_settled_t *s, uint64_t stream, uint64_t hwm,
                       const uint8_t head[KNOOP_HASH_LEN])
{
    assert(hwm > 0);
    assert(s->rows == 0 || stream > s->last);
    uint32_t b = knoop_settled_bucket(stream);
    if (!s->open || s->bucket[s->n - 1].bucket != b) {
        s_close(s);
        assert(s->n < KNOOP_WIRE_BUCKETS);
        knoop_wire_bucket_t *nb = &s->bucket[s->n++];
        memset(nb, 0, sizeof *nb);
        nb->bucket = b;
        knoop_hasher_init_len(&s->h, KNOOP_WIRE_BUCKET_DIGEST);
        s->open = true;
    }
    uint8_t row[16 + KNOOP_HASH_LEN];
    knoop_put_be64(row, stream);
    knoop_put_be64(row + 8, hwm);
    memcpy(row + 16, head, KNOOP_HASH_LEN);
    knoop_hasher_update(&s->h, row, sizeof row);
    s->bucket[s->n - 1].count++;
    s->rows++;
    s->last = stream;
}

void knoop_settled_poison(knoop_settled_t *s, uint64_t stream)
{
    uint32_t b = knoop_settled_bucket(stream);
    s->poisoned[b / 8] |= (uint8_t) (1u << (b % 8));
}

void knoop_settled_end(knoop_settled_t *s)
{
    s_close(s);
}

void knoop_settled_pos(knoop_wire_pos_t *p, const knoop_stream_info_t *r)
{
    p->stream = r->stream;
    p->origin = r->origin;
    p->topic = r->topic;
    p->epoch = r->epoch;
    p->hwm = r->hwm;
    memcpy(p->head, r->head, KNOOP_HASH_LEN);
}

uint64_t knoop_settled_hello(knoop_journal_t *j, const knoop_stream_info_t *rows, size_t n,
                             uint64_t t, uint64_t t_fit, const char *partner, bool peer,
                             const char *const *subs, size_t nsubs, const char *who,
                             knoop_wire_pos_t *vec, size_t *nvec, knoop_settled_t *st,
                             bool *settled)
{
again:
    if (!st)
        t = 0;
    else
        knoop_settled_init(st);
    *nvec = 0;
    for (size_t i = 0; i < n; i++) {
        const knoop_stream_info_t *r = &rows[i];
        if (settled)
            settled[i] = false;
        if (r->hwm == 0 || !knoop_settled_candidate(r, partner, peer, subs, nsubs))
            continue;
        knoop_wire_pos_t *p = &vec[*nvec];
        knoop_settled_pos(p, r);
        bool lowered = knoop_journal_damage_floor(j, p->stream, &p->hwm, p->head);
        if (lowered)
            knoop_info("%s: asking again for %s on %s from seq %llu (damaged here)", who,
                       p->origin, p->topic, (unsigned long long) (p->hwm + 1));
        if (knoop_settled_named(r, t, lowered)) {
            (*nvec)++;
            continue;
        }
        knoop_settled_add(st, r->stream, r->hwm, r->head);
        if (settled)
            settled[i] = true;
    }
    /* More changed since t than a broker takes (a sender long away from a
     * busy mesh): a later T settles more of them. What the other side
     * cannot match it sends whole; a refused HELLO would link never. */
    if (st && *nvec > KNOOP_WIRE_VECTOR_MAX && t_fit > t) {
        knoop_warn("%s: %zu streams changed since the last complete catch-up, above the %d a "
                   "HELLO may name: summarising as of a later time (more is sent again)",
                   who, *nvec, KNOOP_WIRE_VECTOR_MAX);
        t = t_fit;
        goto again;
    }
    if (st)
        knoop_settled_end(st);
    return t;
}

/* The hlc and chain of the message at seq. */
static int s_at(knoop_journal_t *j, uint64_t stream, uint64_t seq, knoop_buf_t *buf,
                uint64_t *hlc, uint8_t chain[KNOOP_HASH_LEN])
{
    buf->len = 0;
    int rc = knoop_journal_get(j, stream, seq, buf);
    if (rc)
        return rc;
    knoop_msg_t m;
    rc = knoop_msg_parse(&m, buf->data, buf->len);
    if (rc)
        return rc;
    *hlc = m.b.hlc;
    memcpy(chain, m.chain, KNOOP_HASH_LEN);
    knoop_msg_clear(&m);
    return KNOOP_OK;
}

bool knoop_settled_withheld(knoop_journal_t *j, const knoop_stream_info_t *r,
                            const char *partner)
{
    if (!(r->flags & KNOOP_STREAM_RESTRICTED) || strcmp(r->origin, partner) == 0 || r->hwm == 0)
        return false;
    knoop_buf_t buf = { 0 };
    bool withheld = knoop_journal_get(j, r->stream, 1, &buf) == KNOOP_OK &&
                    !knoop_env_for_partner(buf.data, buf.len, partner);
    knoop_buf_free(&buf);
    return withheld;
}

int knoop_settled_point(knoop_journal_t *j, const knoop_stream_info_t *r, uint64_t t,
                        uint64_t *p, uint8_t head[KNOOP_HASH_LEN])
{
    if (r->hwm == 0 || r->last_hlc <= t) {
        *p = r->hwm;
        memcpy(head, r->head, KNOOP_HASH_LEN);
        return KNOOP_OK;
    }
    /* hlc(lo) <= t < hlc(hi), with seq 0 before everything and hwm known
     * newer than t. Where a stream's hlcs do not rise with its seqs the
     * search finds some such boundary: the bucket then most likely misses,
     * never matches wrongly (a match compares the rows themselves). */
    uint64_t lo = 0, hi = r->hwm;
    memset(head, 0, KNOOP_HASH_LEN);
    knoop_buf_t buf = { 0 };
    int rc = KNOOP_OK;
    /* A stream begun after t (a new epoch: most of those searched, and all
     * of them for a T far in the past) costs one read, not log2(hwm). */
    if (hi > 1) {
        uint64_t hlc;
        uint8_t chain[KNOOP_HASH_LEN];
        rc = s_at(j, r->stream, 1, &buf, &hlc, chain);
        if (rc == KNOOP_OK && hlc > t) {
            hi = 1;
        } else if (rc == KNOOP_OK) {
            lo = 1;
            memcpy(head, chain, KNOOP_HASH_LEN);
        }
    }
    while (rc == KNOOP_OK && hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2, hlc;
        uint8_t chain[KNOOP_HASH_LEN];
        rc = s_at(j, r->stream, mid, &buf, &hlc, chain);
        if (rc)
            break;
        if (hlc <= t) {
            lo = mid;
            memcpy(head, chain, KNOOP_HASH_LEN);
        } else {
            hi = mid;
        }
    }
    knoop_buf_free(&buf);
    *p = lo;
    return rc;
}

void knoop_settled_compare(const knoop_settled_t *ours, const knoop_wire_bucket_t *theirs,
                           size_t ntheirs, uint8_t matched[KNOOP_WIRE_BUCKETS / 8],
                           uint32_t *nmatched, uint32_t *nmissed)
{
    const knoop_wire_bucket_t *mine[KNOOP_WIRE_BUCKETS] = { 0 };
    uint8_t any[KNOOP_WIRE_BUCKETS / 8] = { 0 };
    for (size_t i = 0; i < ours->n; i++) {
        uint32_t b = ours->bucket[i].bucket;
        mine[b] = &ours->bucket[i];
        any[b / 8] |= (uint8_t) (1u << (b % 8));
    }
    memset(matched, 0, KNOOP_WIRE_BUCKETS / 8);
    *nmatched = *nmissed = 0;
    for (size_t i = 0; i < ntheirs; i++) {
        uint32_t b = theirs[i].bucket;
        assert(b < KNOOP_WIRE_BUCKETS);
        any[b / 8] |= (uint8_t) (1u << (b % 8));
        const knoop_wire_bucket_t *m = mine[b];
        if (m && m->count == theirs[i].count && !knoop_settled_bit(ours->poisoned, b) &&
            memcmp(m->digest, theirs[i].digest, KNOOP_WIRE_BUCKET_DIGEST) == 0) {
            matched[b / 8] |= (uint8_t) (1u << (b % 8));
            (*nmatched)++;
        }
    }
    for (uint32_t b = 0; b < KNOOP_WIRE_BUCKETS; b++)
        if (knoop_settled_bit(any, b) && !knoop_settled_bit(matched, b))
            (*nmissed)++;
}
