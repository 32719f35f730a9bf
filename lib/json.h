/*
 * json.h — payloads as JSON: protobuf <-> JSON through the protobuf-c
 * descriptors of the registered payload types (knoop.crisis.v1.*), so that
 * operators read and write JSON and the wire carries protobuf.
 *
 * Mapping (the proto3 JSON mapping with original field names):
 *   field names as in the .proto (snake_case); enums by value name
 *   (e.g. "GRIP_4"), numbers accepted too; 64-bit integers as JSON numbers;
 *   bytes as base64; repeated as arrays; nested messages as objects; fields at
 *   their default value are omitted on output. Unknown JSON fields, wrong
 *   types and out-of-range numbers are errors naming the field.
 */
#ifndef KNOOP_JSON_H
#define KNOOP_JSON_H

#include "knoop.h"
#include <jansson.h>

/* True when `type` (full protobuf name) is a registered payload type. */
bool knoop_payload_type_known(const char *type);
/* NULL-terminated list of registered type names (static). */
const char *const *knoop_payload_types(void);

/* Decode payload bytes of `type` to a new JSON object (*out, caller
 * json_decref). Errors: KNOOP_ENOTFOUND (unknown type), KNOOP_EMALFORMED. */
int knoop_payload_to_json(const char *type, const uint8_t *data, size_t len, json_t **out);

/* Encode a JSON object as payload bytes of `type`, appended to out. On error
 * `err` (if not NULL) receives a message naming the offending field.
 * Errors: KNOOP_ENOTFOUND, KNOOP_EMALFORMED, KNOOP_ETOOBIG. */
int knoop_payload_from_json(const char *type, const json_t *obj, knoop_buf_t *out,
                            char *err, size_t err_size);

#endif
