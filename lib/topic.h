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

#endif
