/*
 * topic.h — topic names and patterns, as NATS users know them.
 *
 * A topic is 1..KNOOP_TOPIC_DEPTH tokens joined by '.', each token 1..64
 * characters of [a-z0-9_-], KNOOP_TOPIC_MAX bytes at most:
 *     grip.vr-utrecht      water.ws-limburg.peil
 * A pattern may also use the wildcards
 *     *   exactly one token          grip.*        matches grip.vr-utrecht
 *     >   one or more tokens, last   water.>       matches water.ws-limburg.peil
 * and ">" alone matches every topic. Wildcards stand alone as tokens: "gr*p"
 * is an error, not a literal.
 */
#ifndef KNOOP_TOPIC_H
#define KNOOP_TOPIC_H

#include "knoop.h"
#include "names.h"     /* knoop_id_valid, knoop_name_char */

/* KNOOP_OK or KNOOP_ETOPIC. */
int  knoop_topic_validate(const char *topic);
/* KNOOP_OK or KNOOP_ETOPIC. */
int  knoop_pattern_validate(const char *pattern);
/* True when topic (valid) matches pattern (valid). */
bool knoop_topic_match(const char *pattern, const char *topic);

/* ---- pattern algebra ----
 * Over the topics that can exist: at most KNOOP_TOPIC_DEPTH tokens, so
 * ">" never stands for more than that. An invalid pattern covers nothing,
 * is covered by nothing, and overlaps nothing. */

/* True when every topic matched by `inner` is matched by `outer`.
 * covers(">", "a") and covers("a.>", "a.*.c") hold; covers("a.>", "a") and
 * covers("a.*", "a.>") do not. */
bool knoop_pattern_covers(const char *outer, const char *inner);

/* True when some topic matches both patterns: overlaps("a.*", "*.b") holds,
 * overlaps("a.>", "a") does not. Symmetric. */
bool knoop_pattern_overlaps(const char *a, const char *b);

/* The same over patterns taken apart once, for callers that compare one
 * pattern with many (the policy's subscription check): a valid pattern is
 * `n` fixed tokens (literal or '*'), then '>' when `tail`. Parse is false
 * for an invalid pattern. The pointers point into the string parsed. */
typedef struct {
    const char *tok[KNOOP_TOPIC_DEPTH];
    size_t      len[KNOOP_TOPIC_DEPTH];
    int         n;
    bool        tail;
} knoop_pattern_t;

bool knoop_pattern_parse(const char *pattern, knoop_pattern_t *out);
/* The topic lengths (token counts) it matches: [min, max]. */
int  knoop_pattern_min(const knoop_pattern_t *p);
int  knoop_pattern_max(const knoop_pattern_t *p);
/* Does outer match every topic of len tokens that inner matches? */
bool knoop_pattern_covers_at(const knoop_pattern_t *outer, const knoop_pattern_t *inner,
                             int len);

#endif
