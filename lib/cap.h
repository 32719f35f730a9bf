/*
 * cap.h — OASIS CAP 1.2 (Common Alerting Protocol) XML <-> the
 * knoop.crisis.v1.Alert payload, through libxml2. The only file besides
 * edxl.c that includes libxml2.
 *
 * Import is the checked gate for CAP documents: it validates a document
 * against CAP 1.2 (every required element, element order and counts, value
 * sets, dateTime as CAP writes it — "2021-07-14T23:45:00+02:00", no "Z", no
 * fractions — identifier and sender without spaces, commas, '<' or '&',
 * references as "sender,identifier,sent" triples, polygons closed with at
 * least four points and circles "lat,lon radius" within WGS84 ranges,
 * ceiling only with altitude, size and digest well formed, derefUri base64)
 * and names the element on refusal ("alert/info[2]/area[1]/polygon[1]: ...").
 *
 * The round trip is lossless: for every document import accepts,
 * knoop_cap_export(knoop_cap_import(doc)) is equal to doc under XML
 * canonicalisation (C14N 1.0 without comments; with comments too when no
 * comment stands inside a value). What XML allows to write in several ways
 * (namespace prefix and declarations, whitespace, comments and processing
 * instructions between elements and around <alert>, the spelling of a
 * number, an empty element) is carried in the Alert's `xml` field; elements
 * of other namespaces after the last <info> (ds:Signature) are carried
 * verbatim in `extension`. A comment inside a value is left out of the
 * value. Not carried, so refused at import: a DOCTYPE, mixed content, a
 * processing instruction or entity reference inside a value.
 *
 * Not thread-safe across threads that use libxml2 otherwise (its error state
 * is global); the CLI is single-threaded.
 */
#ifndef KNOOP_CAP_H
#define KNOOP_CAP_H

#include "knoop.h"
#include "msg.h"

#define KNOOP_CAP_TYPE    "knoop.crisis.v1.Alert"
#define KNOOP_CAP_NS      "urn:oasis:names:tc:emergency:cap:1.2"
#define KNOOP_CAP_DOC_MAX (2u << 20)    /* a CAP document, bytes */

typedef enum {
    KNOOP_CAP_ALERT = 1, KNOOP_CAP_UPDATE, KNOOP_CAP_CANCEL, KNOOP_CAP_ACK, KNOOP_CAP_ERROR,
} knoop_cap_msg_type_t;

/* What the CLI needs to know of an alert to publish and name it. Strings are
 * malloc'd and owned by the struct: knoop_cap_summary_clear frees them. */
typedef struct {
    char                *identifier;
    char                *sender;
    char                *sent;
    char                *references;  /* "" when none */
    knoop_cap_msg_type_t msg_type;
    knoop_status_t       status;      /* envelope status from CAP status */
    bool                 is_public;   /* scope Public */
    bool                 is_private;  /* scope Private */
    bool                 immediate;   /* some info has urgency Immediate */
} knoop_cap_summary_t;

/* Validate a CAP 1.2 document and encode it as an Alert payload appended to
 * payload; *sum (if not NULL) describes it. On refusal err names the element
 * and the rule. A document with status Draft is refused (KNOOP_EPERM).
 * Errors: KNOOP_EMALFORMED (not XML, not CAP 1.2), KNOOP_ETOOBIG (document
 * above KNOOP_CAP_DOC_MAX or payload above KNOOP_PAYLOAD_MAX), KNOOP_EPERM,
 * KNOOP_ENOMEM. */
int  knoop_cap_import(const char *xml, size_t len, knoop_buf_t *payload,
                      knoop_cap_summary_t *sum, char *err, size_t err_size);

/* The envelope status an Alert payload travels with must be its CAP
 * status: an Exercise alert in an ACTUAL envelope would enter the real
 * picture. Checked by the node on publish and the broker on ingest.
 * KNOOP_OK also when the payload sets no CAP status; KNOOP_EPERM when it
 * differs or is Draft (err says which); KNOOP_EMALFORMED when the payload
 * does not decode. */
int  knoop_cap_check_status(const uint8_t *payload, size_t len, knoop_status_t status,
                            char *err, size_t err_size);

/* Describe an Alert payload (from the node). *sum is zeroed first, so
 * knoop_cap_summary_clear is safe after a failure too.
 * Errors: KNOOP_EMALFORMED, KNOOP_ENOMEM. */
int  knoop_cap_summary(const uint8_t *payload, size_t len, knoop_cap_summary_t *sum);
void knoop_cap_summary_clear(knoop_cap_summary_t *sum);

/* The state key an alert takes in the picture, computed in one place for
 * every way an alert is published (knoop cap import, knoop pub of a JSON
 * Alert): "sender,identifier" of the alert itself, or for an Update or
 * Cancel the key of the first alert its references name that is known
 * here, else the first reference's "sender,identifier" (CAP lists a chain
 * oldest first), so that it supersedes the referenced alert. An alert with
 * neither sender nor identifier gets "" (the topic is its key).
 * A knoop_cap_keys_t remembers "sender,identifier" -> key of the alerts the
 * node's picture holds (fed from knoop_client_beeld) and of those assigned
 * since. Not thread-safe; one per command. */
typedef struct _knoop_cap_keys_t knoop_cap_keys_t;

/* A new, empty map, or NULL when out of memory. */
knoop_cap_keys_t *knoop_cap_keys_new(void);
void knoop_cap_keys_destroy(knoop_cap_keys_t **self_p);

/* Remember the alert in one message envelope of the picture (its key is
 * the envelope's); a message of another type, or one that does not
 * decode, is passed over. Has the signature of knoop_client_msg_fn, arg
 * being the map. Returns 0, or 1 when out of memory (which stops the
 * reading). */
int  knoop_cap_keys_add_message(void *self, const uint8_t *env, size_t len);

/* The state key of the alert sum describes, written to key (size bytes,
 * NUL-ended), and remembered for the alerts that follow.
 * Errors: KNOOP_ETOOBIG (sender and identifier longer than KNOOP_KEY_MAX or
 * size), KNOOP_ENOMEM. */
int  knoop_cap_keys_assign(knoop_cap_keys_t *self, const knoop_cap_summary_t *sum, char *key,
                           size_t size);

/* Write an Alert payload as a CAP 1.2 document (UTF-8, with an XML
 * declaration) appended to xml. An alert that came in through import comes
 * out as it went in (under C14N). An Alert without an xml form (published as
 * JSON) is written in the plain form — default namespace, nothing between the
 * elements — which imports back to the same Alert without a form.
 * Errors: KNOOP_EMALFORMED (payload does not decode, or its xml field or an
 * extension does not fit), KNOOP_ENOMEM. */
int  knoop_cap_export(const uint8_t *payload, size_t len, knoop_buf_t *xml, char *err,
                      size_t err_size);

/* The C14N 1.0 form (with comments, as `xmllint --c14n`) of an XML document, appended to out:
 * what the round-trip tests compare. Errors: KNOOP_EMALFORMED, KNOOP_ENOMEM. */
int  knoop_xml_c14n(const char *xml, size_t len, knoop_buf_t *out, char *err,
                    size_t err_size);

/* The same with or without comments (xmlC14NDocDumpMemory's with_comments):
 * C14N 1.0 without comments is the round trip's measure for documents of
 * other producers, whose comments inside a value are not carried. */
int  knoop_xml_c14n_mode(const char *xml, size_t len, bool with_comments, knoop_buf_t *out,
                         char *err, size_t err_size);

/* An Atom 1.0 feed (RFC 4287) of alerts, appended to out: one entry per
 * Alert payload, in the order given, with id (urn:knooppunt:cap:SENDER,
 * IDENTIFIER,SENT), title (the first headline, else the event, else the
 * identifier), updated (sent), author (sender) and the CAP document itself
 * as content of type application/cap+xml. The feed's updated is the latest
 * sent (now when there is no entry). feed_id is an IRI naming the feed, title
 * is for people. A payload that does not decode or export is left out and
 * counted in *skipped (if not NULL). Errors: KNOOP_EINVAL (feed_id or title
 * empty), KNOOP_ENOMEM. */
int  knoop_cap_atom(const char *feed_id, const char *title, const uint8_t *const *payloads,
                    const size_t *lens, size_t n, knoop_buf_t *out, size_t *skipped);

/* True when text is a dateTime as CAP (and EDXL) write it:
 * YYYY-MM-DDThh:mm:ss(+|-)hh:mm, a real date, no "Z", no fractions. */
bool knoop_cap_datetime_ok(const char *text);

/* The file name export uses for an identifier: characters outside
 * [A-Za-z0-9._-] replaced by '_', then ".xml"; at most 200 bytes of the
 * identifier are used. out must hold at least 205 bytes. */
void knoop_cap_file_name(const char *identifier, char *out, size_t size);

#endif
