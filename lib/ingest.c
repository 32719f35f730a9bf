/* ingest.c — see ingest.h. */
#include "ingest.h"
#include "u64map.h"

#include <stdlib.h>
#include <string.h>

int knoop_ingest_parse(const knoop_frame_t *frames, size_t nframes, knoop_hlc_t *hlc,
                       const char *from, knoop_ingest_batch_t *b, knoop_ingest_t *out)
{
    memset(out, 0, sizeof *out);
    memset(b, 0, sizeof *b);
    size_t n = 0;
    for (size_t f = 0; f < nframes; f++) {
        n += frames[f].u.batch.n;
        for (size_t e = 0; e < frames[f].u.batch.n; e++)
            out->bytes += frames[f].u.batch.envs[e].len;
    }
    out->msgs = (uint32_t) n;
    if (n == 0)
        return KNOOP_OK;
    b->msgs = calloc(n, sizeof *b->msgs);
    b->ptrs = calloc(n, sizeof *b->ptrs);
    b->envs = calloc(n, sizeof *b->envs);
    if (!b->msgs || !b->ptrs || !b->envs) {
        knoop_ingest_batch_clear(b);
        return KNOOP_ENOMEM;
    }
    for (size_t f = 0; f < nframes; f++)
    for (size_t i = 0; i < frames[f].u.batch.n; i++) {
        knoop_msg_t *m = &b->msgs[b->n];
        int prc = knoop_msg_parse(m, frames[f].u.batch.envs[i].data,
                                  frames[f].u.batch.envs[i].len);
        if (prc) {
            out->refused++;
            knoop_warn("delivery from %s: envelope %zu refused: %s", from, i, knoop_strerror(prc));
            continue;
        }
        if (hlc)
            knoop_hlc_observe_bounded(hlc, m->b.hlc, knoop_now_ms(), KNOOP_HLC_MAX_SKEW_MS);
        b->envs[b->n] = frames[f].u.batch.envs[i];
        b->ptrs[b->n++] = m;
    }
    return KNOOP_OK;
}

int knoop_ingest_finish(knoop_journal_t *j, const knoop_ingest_batch_t *b, const int *res,
                        const char *from, knoop_ingest_t *out)
{
    if (b->n == 0)
        return KNOOP_OK;
    knoop_u64map_t seen = { 0 };
    out->acks = calloc(b->n, sizeof *out->acks);
    if (!out->acks)
        return KNOOP_ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        const knoop_msg_t *m = b->ptrs[i];
        if (res[i] == KNOOP_OK)
            out->stored++;
        else if (res[i] == KNOOP_EDUPLICATE)
            out->duplicates++;
        else {
            out->refused++;
            knoop_warn("delivery from %s: %s on %s seq %llu refused: %s", from, m->b.origin,
                       m->b.topic, (unsigned long long) m->b.seq, knoop_strerror(res[i]));
            continue;
        }
        if (knoop_u64map_get(&seen, m->stream, NULL))
            continue;
        knoop_u64map_put(&seen, m->stream, 1);
        knoop_stream_info_t info;
        if (knoop_journal_stream(j, m->stream, &info) == KNOOP_OK && info.hwm) {
            out->acks[out->nacks].stream = info.stream;
            out->acks[out->nacks].seq = info.hwm;
            out->nacks++;
        }
    }
    knoop_u64map_clear(&seen);
    return KNOOP_OK;
}

void knoop_ingest_batch_clear(knoop_ingest_batch_t *b)
{
    for (size_t i = 0; b->msgs && i < b->n; i++)
        knoop_msg_clear(&b->msgs[i]);
    free(b->msgs);
    free(b->ptrs);
    free(b->envs);
    memset(b, 0, sizeof *b);
}

int knoop_ingest(knoop_journal_t *j, const knoop_frame_t *frames, size_t nframes,
                 knoop_hlc_t *hlc, const char *from, knoop_ingest_t *out)
{
    knoop_ingest_batch_t b;
    int rc = knoop_ingest_parse(frames, nframes, hlc, from, &b, out);
    if (rc == KNOOP_OK && b.n) {
        int *res = calloc(b.n, sizeof *res);
        rc = res ? knoop_journal_append(j, b.ptrs, b.n, res) : KNOOP_ENOMEM;
        if (rc == KNOOP_OK)
            knoop_ingest_finish(j, &b, res, from, out);
        free(res);
    }
    knoop_ingest_batch_clear(&b);
    return rc;
}
