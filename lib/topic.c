/* topic.c — topic validation and wildcard matching. See topic.h. */
#include "topic.h"

#include <string.h>

/* Shared walk: wildcards allowed or not. */
static int s_validate(const char *s, bool wildcards)
{
    if (!s)
        return KNOOP_ETOPIC;
    size_t len = strnlen(s, KNOOP_TOPIC_MAX + 1);
    if (len == 0 || len > KNOOP_TOPIC_MAX)
        return KNOOP_ETOPIC;
    int depth = 0;
    const char *p = s;
    while (1) {
        const char *dot = strchr(p, '.');
        size_t tl = dot ? (size_t) (dot - p) : strlen(p);
        if (tl == 0 || tl > KNOOP_TOKEN_MAX)
            return KNOOP_ETOPIC;
        if (++depth > KNOOP_TOPIC_DEPTH)
            return KNOOP_ETOPIC;
        if (tl == 1 && (*p == '*' || *p == '>')) {
            if (!wildcards)
                return KNOOP_ETOPIC;
            if (*p == '>' && dot)       /* '>' must be the last token */
                return KNOOP_ETOPIC;
        } else {
            for (size_t i = 0; i < tl; i++)
                if (!knoop_name_char(p[i]))
                    return KNOOP_ETOPIC;
        }
        if (!dot)
            break;
        p = dot + 1;
    }
    return KNOOP_OK;
}

int knoop_topic_validate(const char *topic)
{
    return s_validate(topic, false);
}

int knoop_pattern_validate(const char *pattern)
{
    return s_validate(pattern, true);
}

bool knoop_topic_match(const char *pattern, const char *topic)
{
    const char *p = pattern, *t = topic;
    while (*p) {
        if (p[0] == '>' && p[1] == '\0')
            return *t != '\0';               /* '>' needs at least one token */
        if (*t == '\0')
            return false;                    /* pattern longer than topic */
        const char *pe = strchr(p, '.');
        const char *te = strchr(t, '.');
        size_t pl = pe ? (size_t) (pe - p) : strlen(p);
        size_t tl = te ? (size_t) (te - t) : strlen(t);
        if (!(pl == 1 && p[0] == '*') && (pl != tl || memcmp(p, t, pl) != 0))
            return false;
        if (!pe)
            return te == NULL;               /* both must end here */
        if (!te)
            return false;
        p = pe + 1;
        t = te + 1;
    }
    return *t == '\0';
}

/* ---- pattern algebra (topic.h) ---- */

bool knoop_pattern_parse(const char *s, knoop_pattern_t *pat)
{
    if (!s || knoop_pattern_validate(s) != KNOOP_OK)
        return false;
    pat->n = 0;
    pat->tail = false;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t tl = dot ? (size_t) (dot - p) : strlen(p);
        if (tl == 1 && *p == '>') {
            pat->tail = true;          /* validated: nothing follows */
            break;
        }
        pat->tok[pat->n] = p;
        pat->len[pat->n] = tl;
        pat->n++;
        if (!dot)
            break;
        p = dot + 1;
    }
    return true;
}

int knoop_pattern_min(const knoop_pattern_t *p) { return p->n + (p->tail ? 1 : 0); }
int knoop_pattern_max(const knoop_pattern_t *p) { return p->tail ? KNOOP_TOPIC_DEPTH : p->n; }

/* Does position i (of a topic long enough) accept any token? */
static bool s_pat_wild(const knoop_pattern_t *p, int i)
{
    return i >= p->n || (p->len[i] == 1 && p->tok[i][0] == '*');
}

static bool s_pat_same(const knoop_pattern_t *a, const knoop_pattern_t *b, int i)
{
    return a->len[i] == b->len[i] && memcmp(a->tok[i], b->tok[i], a->len[i]) == 0;
}

bool knoop_pattern_covers_at(const knoop_pattern_t *outer, const knoop_pattern_t *inner,
                             int len)
{
    if (len < knoop_pattern_min(outer) || len > knoop_pattern_max(outer))
        return false;
    for (int i = 0; i < len; i++) {
        if (s_pat_wild(outer, i))
            continue;
        /* A wildcard in inner stands for tokens outer's literal misses. */
        if (s_pat_wild(inner, i) || !s_pat_same(outer, inner, i))
            return false;
    }
    return true;
}

bool knoop_pattern_covers(const char *outer, const char *inner)
{
    knoop_pattern_t o, in;
    if (!knoop_pattern_parse(outer, &o) || !knoop_pattern_parse(inner, &in))
        return false;
    for (int len = knoop_pattern_min(&in); len <= knoop_pattern_max(&in); len++)
        if (!knoop_pattern_covers_at(&o, &in, len))
            return false;
    return true;
}

bool knoop_pattern_overlaps(const char *a, const char *b)
{
    knoop_pattern_t pa, pb;
    if (!knoop_pattern_parse(a, &pa) || !knoop_pattern_parse(b, &pb))
        return false;
    int lo = knoop_pattern_min(&pa) > knoop_pattern_min(&pb) ? knoop_pattern_min(&pa) : knoop_pattern_min(&pb);
    int hi = knoop_pattern_max(&pa) < knoop_pattern_max(&pb) ? knoop_pattern_max(&pa) : knoop_pattern_max(&pb);
    for (int len = lo; len <= hi; len++) {
        bool meet = true;
        for (int i = 0; i < len && meet; i++)
            meet = s_pat_wild(&pa, i) || s_pat_wild(&pb, i) || s_pat_same(&pa, &pb, i);
        if (meet)
            return true;
    }
    return false;
}
