/*
 * json.h — payloads as JSON: protobuf <-> JSON through the protobuf-c
 * descriptors of the registered payload types (knoop.crisis.v1.*), so that
 * operators read and write JSON and the wire carries protobuf.
 *
 * Mapping: the canonical proto3 JSON mapping, written with the original
 * field names (protobuf's preserving_proto_field_name option), read with
 * either spelling:
 *   output: field names as in the .proto (snake_case); enums by value name
 *   (e.g. "GRIP_4"); 64-bit integers as decimal strings; 32-bit integers as
 *   numbers; doubles with the fewest digits that read back exactly
 *   (knoop_json_dumps); bytes as base64; fields at their default value
 *   omitted (fields with presence, the has_* oneofs, shown when set).
 *   input: the .proto name or its lowerCamelCase json_name ("incident_id"
 *   or "incidentId", not both); every integer as a number or a decimal
 *   string, also "1e3"-style integral numbers; enums by name or number; null
 *   as "not set". Unknown fields, wrong types and out-of-range numbers are
 *   errors naming the field.
 * google.protobuf.json_format (Python) reads what this writes and this
 * reads what it writes: tests/cli_json_interop.sh.
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

/* Encode a JSON object as payload bytes of `type`, appended to out, after
 * the content rules of knoop_payload_check. On error `err` (if not NULL)
 * receives a message naming the offending field.
 * Errors: KNOOP_ENOTFOUND, KNOOP_EMALFORMED, KNOOP_ETOOBIG. */
int knoop_payload_from_json(const char *type, const json_t *obj, knoop_buf_t *out,
                            char *err, size_t err_size);

/* ---- payload rules (docs/protocol.md, "Payload types and topics") ----
 * The registry of topic families: grip.> GripLevel, sitrep.> SitRep,
 * duiding.> Duiding, water.> WaterLevel, vitaal.> VitalOutage, alert.>
 * Alert, bijstand.> ResourceRequest. */

/* The payload type the built-in registry binds to topic, or NULL when the
 * topic is in no family (then any type may go there). Static string. */
const char *knoop_payload_type_for_topic(const char *topic);

/* A registry from a file beside the policy (deploy/types): one family per
 * line, "PATTERN TYPE" (e.g. "grip.> knoop.crisis.v1.GripLevel"), '#'
 * comments, first match wins; TYPE must be a registered payload type. It
 * replaces the built-in table as a whole. Load is all or nothing; err gets
 * "types PATH:LINE: what". Errors: KNOOP_ENOTFOUND, KNOOP_EPERM, KNOOP_EIO,
 * KNOOP_EMALFORMED, KNOOP_ETOOBIG (over 64 KiB or 256 families),
 * KNOOP_ENOMEM. Immutable once loaded: share it between threads freely. */
typedef struct knoop_typemap_t knoop_typemap_t;
int  knoop_typemap_load(const char *path, knoop_typemap_t **out, char *err, size_t err_size);
int  knoop_typemap_parse(const char *text, const char *name, knoop_typemap_t **out, char *err,
                         size_t err_size);
void knoop_typemap_destroy(knoop_typemap_t **self_p);
/* Replace *types with the registry in path (NULL: the built-in table, *types
 * becomes NULL), for a daemon's SIGHUP. All or nothing: on an error *types
 * is left as it was and the error is logged, prefixed with who ("broker",
 * "node"); success is logged with the number of families. */
int  knoop_typemap_reload(knoop_typemap_t **types, const char *path, const char *who);
/* The type self binds to topic (self NULL: the built-in registry), or NULL.
 * Borrowed, lives with self. */
const char *knoop_typemap_type_for(const knoop_typemap_t *self, const char *topic);
/* The field of `type` that names who speaks (GripLevel "region",
 * VitalOutage "provider", ...), or NULL. */
const char *knoop_payload_sender_field(const char *type);

/* The gate for a payload on its way in (node on publish, broker on ingest):
 * the type must be the one the topic's family carries (in `types`, NULL for
 * the built-in registry); a known type must
 * decode and follow the content rules (RFC 3339 times with zone, WGS84
 * ranges, closed polygons, partner ids where a field names a partner).
 * `sender` (may be NULL) receives the sender field's value ("" when the
 * type has none or leaves it empty): the caller checks it names the
 * publisher or a partner it may speak for.
 * Errors (reason in err, naming the field): KNOOP_EPERM (type not allowed on
 * the topic), KNOOP_EMALFORMED, KNOOP_ETOOBIG. */
int knoop_payload_check(const knoop_typemap_t *types, const char *topic, const char *type,
                        const uint8_t *data, size_t len, char *sender, size_t sender_size,
                        char *err, size_t err_size);

/* json_dumps with doubles in their shortest round-trip form (as long as no
 * value in j needs all 17 digits, every real prints as the shortest text
 * that reads back to it). Caller frees. NULL on error. */
char *knoop_json_dumps(const json_t *j, size_t flags);

#endif
