/* ingest.c — see ingest.h. */
#include "ingest.h"
#include "u64map.h"

#include <stdlib.h>
#include <string.h>

int knoop_ingest(knoop_journal_t *j, const knoop_frame_t *frames, size_t nframes,
                 knoop_hlc_t *hlc, const char *from, knoop_ingest_t *out)
{
    memset(out, 0, sizeof *out);
    size_t n = 0;
    for (size_t f = 0; f < nframes; f++) {
        n += frames[f].u.batch.n;
        for (size_t e = 0; e < frames[f].u.batch.n; e++)
            out->bytes += frames[f].u.batch.envs[e].len;
    }
    out->msgs = (uint32_t) n;
    if (n == 0)
        return KNOOP_OK;
    knoop_msg_t *msgs = calloc(n, sizeof *msgs);
    const knoop_msg_t **ptrs = calloc(n, sizeof *ptrs);
    int *res = calloc(n, sizeof *res);
    int rc = msgs && ptrs && res ? KNOOP_OK : KNOOP_ENOMEM;
    size_t good = 0;
    for (size_t f = 0; rc == KNOOP_OK && f < nframes; f++)
    for (size_t i = 0; i < frames[f].u.batch.n; i++) {
        int prc = knoop_msg_parse(&msgs[good], frames[f].u.batch.envs[i].data,
                                  frames[f].u.batch.envs[i].len);
        if (prc) {
            out->refused++;
            knoop_warn("delivery from %s: envelope %zu refused: %s", from, i, knoop_strerror(prc));
            continue;
        }
        if (hlc)
            knoop_hlc_observe_bounded(hlc, msgs[good].b.hlc, knoop_now_ms(),
                                      KNOOP_HLC_MAX_SKEW_MS);
        ptrs[good] = &msgs[good];
        good++;
    }
    if (rc == KNOOP_OK && good)
        rc = knoop_journal_append(j, ptrs, good, res);
    if (rc == KNOOP_OK && good) {
        knoop_u64map_t seen = { 0 };
        out->acks = calloc(good, sizeof *out->acks);
        for (size_t i = 0; out->acks && i < good; i++) {
            if (res[i] == KNOOP_OK)
                out->stored++;
            else if (res[i] == KNOOP_EDUPLICATE)
                out->duplicates++;
            else {
                out->refused++;
                knoop_warn("delivery from %s: %s on %s seq %llu refused: %s", from,
                           msgs[i].b.origin, msgs[i].b.topic, (unsigned long long) msgs[i].b.seq,
                           knoop_strerror(res[i]));
                continue;
            }
            if (knoop_u64map_get(&seen, msgs[i].stream, NULL))
                continue;
            knoop_u64map_put(&seen, msgs[i].stream, 1);
            knoop_stream_info_t info;
            if (knoop_journal_stream(j, msgs[i].stream, &info) == KNOOP_OK && info.hwm) {
                out->acks[out->nacks].stream = info.stream;
                out->acks[out->nacks].seq = info.hwm;
                out->nacks++;
            }
        }
        knoop_u64map_clear(&seen);
    }
    for (size_t i = 0; i < good; i++)
        knoop_msg_clear(&msgs[i]);
    free(msgs);
    free(ptrs);
    free(res);
    return rc;
}
