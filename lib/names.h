/*
 * names.h — the names of things: partner ids, roles, durable subscription
 * names, topic tokens, config sections and keys. One definition each, so
 * that a name the CLI accepts is one the node, the broker and the policy
 * accept too.
 *
 *   a name      1..max of [a-z0-9_-]                roles, durable names,
 *                                                   config sections and keys
 *   a token     a name of at most 64; topics are     grip.vr-utrecht
 *               tokens joined by '.' (topic.h)
 *   a partner   1..KNOOP_ID_MAX of [a-z0-9-], not    vr-utrecht, kcr2-broker-1
 *   id          starting with '-' (no '_': ids
 *               appear in topics and file names)
 *   a payload   0..KNOOP_TYPE_MAX of [A-Za-z0-9_.]   knoop.crisis.v1.Sitrep
 *   type        (empty: untyped bytes)
 */
#ifndef KNOOP_NAMES_H
#define KNOOP_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define KNOOP_DURABLE_MAX 64    /* a durable subscription's name */

/* True for a character of a name: a-z, 0-9, '_' or '-'. */
bool knoop_name_char(char c);
/* True when s is 1..max characters of knoop_name_char (NULL: false). */
bool knoop_name_valid(const char *s, size_t max);
/* True when id is a partner id (see above). */
bool knoop_id_valid(const char *id);
/* True when t is a payload type name (see above; "" is valid: untyped). */
bool knoop_type_name_valid(const char *t);

#endif
