/*
 * policy.h — the broker's access policy: who may publish and who may read
 * which topics (need-to-know, default deny).
 *
 * A policy file holds one rule per line, three whitespace-separated fields:
 *
 *     WHO          VERB       PATTERN
 *     role:region  publish    grip.{id}.>
 *     *            subscribe  alert.>
 *     vr-utrecht   subscribe  grip.vr-gooi-en-vechtstreek.>
 *
 *   WHO      a partner id (knoop_id_valid), role:NAME (NAME 1..32 of
 *            [a-z0-9_-], the role in the partner's certificate), or * for
 *            every partner.
 *   VERB     publish, subscribe or speak-for.
 *   PATTERN  a topic pattern (topic.h) in which the token {id} stands for
 *            the id of the partner asking. {id} must be a whole token:
 *            grip.{id}.> is fine, grip.x{id} is an error. For speak-for
 *            the pattern matches partner ids (one token): the partners
 *            whose name WHO may put in a payload's sender field (GripLevel
 *            region, VitalOutage provider, ...), e.g.
 *                lcms-zuid-limburg  speak-for  vr-zuid-limburg
 *                role:lcms          speak-for  *
 *
 * Mind that P.> does not match P itself ('>' is one or more tokens): a
 * region that publishes on grip.vr-utrecht and below it needs both
 * grip.{id} and grip.{id}.>.
 *
 * '#' starts a comment when it begins a field (so "a.b#c" is a bad pattern,
 * not a pattern with a comment); blank lines are ignored; a trailing CR
 * (CRLF files) is whitespace. There are no deny rules: nothing is allowed
 * unless some rule allows it, and rules only add. publish does not imply
 * subscribe: a partner that should read its own topics back needs a
 * subscribe rule for them. Duplicate rules are harmless and kept.
 *
 * Load is all or nothing: the first bad line fails the whole load, with an
 * error text naming the file and line, e.g.
 *     policy /etc/knoop/policy:12: unknown verb 'pub' (publish or subscribe)
 * so a typo can never silently narrow or widen what partners see.
 *
 * Patterns are checked at load time with {id} replaced by a one-character
 * id. A real id is longer, so a pattern near the length limit can expand
 * past KNOOP_TOPIC_MAX for a long id; such an expansion allows that partner
 * nothing (no valid topic is that long).
 *
 * Threading: a loaded policy is immutable; any number of threads may query
 * it at once. To change the policy, load a new one and swap the pointer.
 * Queries scan the rules (no allocation, no I/O): fine for the few hundred
 * rules a federation has, bounded by KNOOP_POLICY_RULES_MAX.
 *
 * Input from the network (ids, roles, topics, patterns) is never trusted:
 * invalid arguments of that kind are refused (false / KNOOP_ETOPIC /
 * KNOOP_EPERM), never asserted. NULL for `self` or an output pointer is a
 * programmer error and asserts.
 */
#ifndef KNOOP_POLICY_H
#define KNOOP_POLICY_H

#include "knoop.h"

/* A policy file larger than this is refused (KNOOP_ETOOBIG). */
#define KNOOP_POLICY_FILE_MAX   (1u << 20)
/* More rules than this are refused (KNOOP_ETOOBIG). */
#define KNOOP_POLICY_RULES_MAX  10000
/* Longest line in bytes, without its newline; comment lines included. */
#define KNOOP_POLICY_LINE_MAX   1024

typedef struct knoop_policy_t knoop_policy_t;

/* Load the policy file at `path`. On success *out is a new policy the caller
 * owns (knoop_policy_destroy). On failure *out is NULL and, when err_size >
 * 0, `err` holds one line an operator can act on, "policy PATH:LINE: what"
 * (or "policy PATH: what" for whole-file problems).
 * Errors: KNOOP_ENOTFOUND (no such file), KNOOP_EPERM (not readable),
 * KNOOP_EMALFORMED (a bad line, NUL byte, not a regular file),
 * KNOOP_ETOOBIG (over KNOOP_POLICY_FILE_MAX bytes or
 * KNOOP_POLICY_RULES_MAX rules), KNOOP_ENOMEM, KNOOP_EIO. */
int  knoop_policy_load(const char *path, knoop_policy_t **out, char *err, size_t err_size);

/* The same from a NUL-terminated text in memory (tests, embedded defaults).
 * `name_for_errors` stands in for the path in error texts; NULL gives
 * "(text)". Errors as knoop_policy_load, without the file ones. */
int  knoop_policy_parse(const char *text, const char *name_for_errors,
                        knoop_policy_t **out, char *err, size_t err_size);

/* Free the policy and set *self_p to NULL. Safe on NULL and twice. */
void knoop_policy_destroy(knoop_policy_t **self_p);

/* Number of rules loaded. */
size_t knoop_policy_rules(const knoop_policy_t *self);

/* May partner `id` with role `role` (NULL: none) publish on `topic`?
 * False for an invalid id or topic. */
bool knoop_policy_may_publish(const knoop_policy_t *self, const char *id,
                              const char *role, const char *topic);

/* May partner `id` with role `role` (NULL: none) read `topic`, i.e. does a
 * subscribe rule for it match? False for an invalid id or topic. */
bool knoop_policy_may_read(const knoop_policy_t *self, const char *id,
                           const char *role, const char *topic);

/* May partner `id` (role `role`) name `other` as the sender inside a
 * payload (GripLevel.region and the like)? Always for its own id, else
 * when a speak-for rule matches `other`. False for invalid ids. */
bool knoop_policy_may_speak_for(const knoop_policy_t *self, const char *id,
                                const char *role, const char *other);

/* Decide a subscription request. It is accepted only when every topic the
 * pattern can match is readable by the partner: covered by one of its
 * subscribe patterns, or by several together (grip.* and grip.*.> together
 * cover grip.>). A broker that accepted it may send every match unchecked.
 * On refusal, when reason_size > 0, `reason` gets a sentence an operator
 * can act on, truncated with "..." if it does not fit, e.g.
 *   policy: vr-utrecht may not subscribe to 'grip.>'; it may read:
 *   grip.vr-utrecht.>, duiding.>, alert.>
 * On success `reason` is set to "".
 * Returns KNOOP_OK, KNOOP_EPERM (refused, or an invalid id) or KNOOP_ETOPIC
 * (the pattern is not valid pattern syntax). */
int  knoop_policy_check_subscription(const knoop_policy_t *self, const char *id,
                                     const char *role, const char *pattern,
                                     char *reason, size_t reason_size);

/* Explain a publish decision in one sentence for the refusal sent back to
 * the partner and for the log, truncated with "..." if it does not fit:
 *   policy: vr-utrecht may not publish on grip.vr-zeeland; it may publish
 *   on: grip.vr-utrecht.>, sitrep.vr-utrecht.>, bijstand.vr-utrecht.>
 * It states the allowed case too ("... may publish on ..."), and names an
 * invalid id or topic as such. Does nothing when reason_size is 0. */
void knoop_policy_explain_publish(const knoop_policy_t *self, const char *id,
                                  const char *role, const char *topic,
                                  char *reason, size_t reason_size);

#endif
