/*
 * msg_json.h — a message as one JSON object, the form `knoop audit replay`
 * and `knoop sub` print:
 *   {"origin", "topic", "epoch" (hex), "seq" and "hlc" (64-bit, so decimal
 *    strings as in proto3 JSON), "time" (RFC 3339 UTC from the hlc), "key",
 *    "type", "priority", "status", "tlp", "recipients" (array), "signed",
 *    "chain" (hex), "payload" (decoded JSON, or {"base64": ...} when the
 *    type is not a known payload type or does not decode)}
 */
#ifndef KNOOP_MSG_JSON_H
#define KNOOP_MSG_JSON_H

#include "msg.h"
/* jansson's value (callers that use the result include "json.h") */
struct json_t;

/* New JSON object for m (caller json_decref). NULL on out-of-memory. */
struct json_t *knoop_msg_to_json(const knoop_msg_t *m);

/* "2026-11-29T02:29:09.862Z" for a Unix time in ms (25 bytes with NUL). */
void knoop_time_format_ms(char out[25], uint64_t ms);

#endif
