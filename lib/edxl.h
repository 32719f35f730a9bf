/*
 * edxl.h — OASIS EDXL-DE 2.0 (Distribution Element) wrapping of crisis
 * payloads, through libxml2, so that a hub that speaks EDXL-DE exchanges
 * with knooppunt. The distribution is handled as a JSON object (jansson):
 *
 *   {"distributionID": "kcr2-2021-0715-0001",      required
 *    "senderID": "kcr2@knooppunt.nl",               required
 *    "dateTimeSent": "2021-07-15T01:00:00+02:00",   required, CAP form
 *    "dateTimeExpires": "2021-07-16T01:00:00+02:00",required, CAP form
 *    "distributionStatus": "Actual",    Actual Exercise System Test Unknown
 *                                       NoAppropriateDefault
 *    "distributionKind": "Report",      Report Update Cancel Request Response
 *                                       Dispatch Ack Error SensorConfiguration
 *                                       SensorControl SensorStatus
 *                                       SensorDetection Unknown
 *                                       NoAppropriateDefault
 *    "language": "nl-NL",                                      optional
 *    "explicitAddress": [{"scheme": "knooppunt", "value": ["vr-utrecht"]}],
 *    "targetArea": ["<targetArea xmlns=...>...</targetArea>"], verbatim XML
 *    "content": [{"type": "knoop.crisis.v1.GripLevel",        1 or more
 *                 "description": "GRIP Zuid-Limburg",          optional
 *                 "payload": {...}}]}                the payload as JSON (json.h)
 *
 * In XML: <EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:2.0">
 * with distributionID, senderID, dateTimeSent, dateTimeExpires,
 * distributionStatus/StatusKindDefault, distributionKind/
 * DistributionKindDefault, descriptor (language, explicitAddress with
 * explicitAddressScheme and explicitAddressValue), targetArea, and
 * content/contentObject, each with contentDescriptor/contentDescription and
 * either contentXML/embeddedXMLContent holding a CAP 1.2 <alert> (for
 * knoop.crisis.v1.Alert, through cap.h) or nonXMLContent with mimeType
 * "application/x-protobuf; messageType=TYPE", size and contentData (the
 * payload's protobuf bytes, base64).
 *
 * Round trips: unwrap(wrap(d)) == d (payloads equal as JSON), and
 * wrap(unwrap(doc)) equals doc under C14N for a document of this profile
 * once whitespace between elements is set aside (EDXL formatting is not
 * carried; a CAP alert inside keeps its own, as cap.h describes).
 */
#ifndef KNOOP_EDXL_H
#define KNOOP_EDXL_H

#include "knoop.h"
#include <jansson.h>

#define KNOOP_EDXL_NS      "urn:oasis:names:tc:emergency:EDXL:DE:2.0"
#define KNOOP_EDXL_DOC_MAX (16u << 20)
#define KNOOP_EDXL_MIME    "application/x-protobuf"

/* Write the distribution dist as an EDXL-DE 2.0 document appended to xml.
 * Errors: KNOOP_EMALFORMED (a field missing or wrong, err names it and the
 * content object), KNOOP_ENOTFOUND (unknown payload type), KNOOP_ENOMEM. */
int knoop_edxl_wrap(const json_t *dist, knoop_buf_t *xml, char *err, size_t err_size);

/* Read an EDXL-DE 2.0 document into a new distribution object (*dist,
 * caller json_decref). Every content object must be a knooppunt payload:
 * an embedded CAP 1.2 alert (validated as knoop cap import does) or
 * nonXMLContent of KNOOP_EDXL_MIME with a known messageType.
 * Errors: KNOOP_EMALFORMED (err names the element), KNOOP_ETOOBIG,
 * KNOOP_ENOMEM. */
int knoop_edxl_unwrap(const char *xml, size_t len, json_t **dist, char *err,
                      size_t err_size);

#endif
