/* audit.c — verify and replay. See audit.h. */
#include "audit.h"
#include "hlc.h"
#include "trust_mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const knoop_trust_t  *trust;
    knoop_audit_stream_t *row;
    uint64_t              expect;            /* next seq expected */
    uint8_t               chain[KNOOP_HASH_LEN];
} verify_walk_t;

static int s_fail(knoop_audit_stream_t *row, int err, uint64_t seq, const char *what)
{
    row->error = err;
    row->error_seq = seq;
    snprintf(row->reason, sizeof row->reason, "%s", what);
    return 1;   /* stop the walk */
}

static int s_verify_msg(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                        const uint8_t *env, size_t len)
{
    verify_walk_t *w = arg;
    knoop_audit_stream_t *row = w->row;
    knoop_msg_t m;
    char why[160];
    int rc = knoop_msg_parse(&m, env, len);
    if (rc) {
        snprintf(why, sizeof why, "stored message does not parse: %s", knoop_strerror(rc));
        return s_fail(row, rc, seq, why);
    }
    if (m.stream != stream || m.b.seq != seq) {
        knoop_msg_clear(&m);
        return s_fail(row, KNOOP_ECORRUPT, seq, "message stored under another stream or seq");
    }
    if (seq > row->info.hwm) {          /* out-of-order tail, not yet linked */
        row->pending++;
        knoop_msg_clear(&m);
        return 0;
    }
    if (seq != w->expect) {
        knoop_msg_clear(&m);
        snprintf(why, sizeof why, "seq %llu missing below hwm %llu",
                 (unsigned long long) w->expect, (unsigned long long) row->info.hwm);
        return s_fail(row, KNOOP_ECHAIN, w->expect, why);
    }
    if (memcmp(m.b.prev, w->chain, KNOOP_HASH_LEN) != 0) {
        knoop_msg_clear(&m);
        return s_fail(row, KNOOP_ECHAIN, seq,
                      "prev does not match the chain of the message before (altered or inserted)");
    }
    memcpy(w->chain, m.chain, KNOOP_HASH_LEN);
    if (w->trust) {
        /* The key of the origin that signed (rotation leaves several).
         * Revocation has a time: what the origin signed before it still
         * stands; anything dated at or after it does not. */
        const knoop_cert_t *cert = NULL;
        int krc = knoop_trust_msg_key(w->trust, &m, &cert);
        if (krc == KNOOP_EPERM) {
            char at[21];
            knoop_time_format(at, cert->revoked_at);
            knoop_msg_clear(&m);
            snprintf(why, sizeof why, "dated after the key of '%s' was revoked (%s)",
                     row->info.origin, at);
            return s_fail(row, KNOOP_EUNKNOWN, seq, why);
        }
        if (m.sig && krc == KNOOP_EUNKNOWN) {
            knoop_msg_clear(&m);
            snprintf(why, sizeof why, "signer '%s' not in the trust store", row->info.origin);
            return s_fail(row, KNOOP_EUNKNOWN, seq, why);
        }
        if (m.sig && krc == KNOOP_ESIG) {
            knoop_msg_clear(&m);
            return s_fail(row, KNOOP_ESIG, seq,
                          "head signature does not verify with the origin's key (forged or altered)");
        }
        if (m.sig)
            row->verified = seq;
    }
    row->checked++;
    w->expect++;
    knoop_msg_clear(&m);
    return 0;
}

int knoop_audit_verify(knoop_journal_t *j, const knoop_trust_t *trust, const char *pattern,
                       knoop_audit_stream_fn *fn, void *arg, knoop_audit_summary_t *sum)
{
    memset(sum, 0, sizeof *sum);
    knoop_stream_info_t *rows;
    size_t n;
    int rc = knoop_journal_vector(j, pattern, &rows, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == KNOOP_OK; i++) {
        knoop_audit_stream_t row = { .info = rows[i] };
        verify_walk_t w = { .trust = trust, .row = &row, .expect = 1 };
        rc = knoop_journal_read_stream(j, rows[i].stream, 1, UINT64_MAX, s_verify_msg, &w);
        if (rc == 1)
            rc = KNOOP_OK;      /* stopped at the first problem */
        if (rc == KNOOP_ECORRUPT) {
            /* the journal refused to hand out a message: damaged on disk */
            const knoop_journal_damage_t *d;
            size_t nd = knoop_journal_damaged(j, &d);
            uint64_t at = UINT64_MAX;
            for (size_t k = 0; k < nd; k++)
                if (d[k].stream == rows[i].stream && d[k].seq >= w.expect && d[k].seq < at)
                    at = d[k].seq;
            s_fail(&row, KNOOP_ECORRUPT, at == UINT64_MAX ? w.expect : at,
                   "damaged on disk: its bytes do not match the check stored with them");
            rc = KNOOP_OK;
        }
        if (rc)
            break;
        if (row.error == KNOOP_OK) {
            if (w.expect - 1 != row.info.hwm)
                s_fail(&row, KNOOP_ECHAIN, w.expect,
                       "messages missing: hwm is beyond what is stored");
            else if (memcmp(w.chain, row.info.hwm ? row.info.head : w.chain,
                            KNOOP_HASH_LEN) != 0)
                s_fail(&row, KNOOP_ECORRUPT, row.info.hwm,
                       "stored head differs from the recomputed chain");
            else if (row.info.flags & KNOOP_STREAM_FORKED)
                s_fail(&row, KNOOP_EFORK, 0,
                       "origin published two different messages under one seq; evidence kept");
        }
        sum->streams++;
        sum->messages += row.checked;
        sum->unverified += row.checked - row.verified;
        if (row.error)
            sum->broken++;
        if (row.info.flags & KNOOP_STREAM_FORKED)
            sum->forked++;
        if (fn && fn(arg, &row))
            break;
    }
    free(rows);
    if (rc == KNOOP_OK) {
        /* the arrival and verified logs: every row names the message it was
         * written for (what nodes and brokers hand out in that order) */
        knoop_journal_scan_t scan;
        rc = knoop_journal_scan(j, false, &scan);
        sum->damaged = scan.damaged;
        sum->rows = scan.rows;
        sum->damaged_rows = scan.damaged_rows;
    }
    return rc;
}

/* ---- replay ---- */

typedef struct {
    uint64_t hlc;
    uint64_t stream;
    uint64_t seq;
    char     origin[KNOOP_ID_MAX + 1];
    bool     pending;
} replay_item_t;

typedef struct {
    const knoop_replay_filter_t *f;
    uint64_t       hwm;
    replay_item_t *items;
    size_t         n, cap;
    int            err;
} replay_collect_t;

static int s_collect(void *arg, uint64_t pos, uint64_t stream, uint64_t seq,
                     const uint8_t *env, size_t len)
{
    replay_collect_t *c = arg;
    knoop_msg_t m;
    if (knoop_msg_parse(&m, env, len) != KNOOP_OK)
        return 0;        /* verify reports it; replay shows what is readable */
    uint64_t ms = KNOOP_HLC_MS(m.b.hlc);
    bool keep = (!c->f->since_ms || ms >= c->f->since_ms) &&
                (!c->f->until_ms || ms < c->f->until_ms);
    if (keep) {
        replay_item_t *ni = knoop_array_grow(c->items, c->n, &c->cap, sizeof *ni, 1024);
        if (!ni) {
            knoop_msg_clear(&m);
            c->err = KNOOP_ENOMEM;
            return 1;
        }
        c->items = ni;
        replay_item_t *it = &c->items[c->n++];
        it->hlc = m.b.hlc;
        it->stream = stream;
        it->seq = seq;
        it->pending = seq > c->hwm;
        snprintf(it->origin, sizeof it->origin, "%s", m.b.origin);
    }
    knoop_msg_clear(&m);
    return 0;
}

static int s_item_cmp(const void *a, const void *b)
{
    const replay_item_t *x = a, *y = b;
    if (x->hlc != y->hlc)
        return x->hlc < y->hlc ? -1 : 1;
    int c = strcmp(x->origin, y->origin);
    if (c)
        return c;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int knoop_audit_replay(knoop_journal_t *j, const knoop_replay_filter_t *filter,
                       knoop_replay_fn *fn, void *arg)
{
    knoop_stream_info_t *rows;
    size_t n;
    int rc = knoop_journal_vector(j, filter->pattern, &rows, &n);
    if (rc)
        return rc;
    replay_collect_t c = { .f = filter };
    for (size_t i = 0; i < n && rc == KNOOP_OK && !c.err; i++) {
        if (filter->origin && strcmp(filter->origin, rows[i].origin) != 0)
            continue;
        c.hwm = rows[i].hwm;
        rc = knoop_journal_read_stream(j, rows[i].stream, 1, UINT64_MAX, s_collect, &c);
    }
    free(rows);
    if (!rc)
        rc = c.err;
    if (rc) {
        free(c.items);
        return rc;
    }
    qsort(c.items, c.n, sizeof *c.items, s_item_cmp);
    knoop_buf_t buf = { 0 };
    for (size_t i = 0; i < c.n && rc == KNOOP_OK; i++) {
        buf.len = 0;
        rc = knoop_journal_get(j, c.items[i].stream, c.items[i].seq, &buf);
        if (rc)
            break;
        knoop_msg_t m;
        if (knoop_msg_parse(&m, buf.data, buf.len) != KNOOP_OK)
            continue;
        int stop = fn(arg, &m, c.items[i].pending);
        knoop_msg_clear(&m);
        if (stop)
            break;
    }
    knoop_buf_free(&buf);
    free(c.items);
    return rc;
}
