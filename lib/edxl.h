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
 * In XML, as the OASIS EDXL-DE 2.0 schema names it:
 * <EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:2.0"
 * xmlns:ct="urn:oasis:names:tc:emergency:edxl:ct:1.0"> with DistributionID,
 * SenderID, DateTimeSent, DateTimeExpires, DistributionStatus/
 * StatusKindDefault and DistributionKind/DistributionKindDefault (each
 * ct:ValueListURI of the 2.0 default list + ct:Value), Descriptor (Language,
 * ExplicitAddress with ct:ValueListURI = the scheme and ct:Value per
 * address), TargetArea, and Content/ContentObject, each with
 * ContentDescriptor/ContentDescription and either ContentXML/
 * EmbeddedXMLContent holding a CAP 1.2 <alert> (for knoop.crisis.v1.Alert,
 * through cap.h) or NonXMLContent with MIMEType
 * "application/x-protobuf; messageType=TYPE", Size and ContentData (the
 * payload's protobuf bytes, base64). Unwrap also reads the lowerCamelCase
 * spelling knooppunt wrote before (distributionID, ..., explicitAddressScheme/
 * explicitAddressValue, a default value as the text of StatusKindDefault);
 * the first header element tells which; a document mixing them is refused.
 *
 * Round trips: unwrap(wrap(d)) == d (payloads equal as JSON), and
 * wrap(unwrap(doc)) equals doc under C14N for a document of this profile
 * once whitespace between elements is set aside (EDXL formatting is not
 * carried; a CAP alert inside keeps its own, as cap.h describes).
 */
#ifndef KNOOP_EDXL_H
#define KNOOP_EDXL_H

#include "knoop.h"

/* A jansson object; callers that build or read one include json.h
 * themselves, the others need not have it for this header. */
struct json_t;

#define KNOOP_EDXL_NS      "urn:oasis:names:tc:emergency:EDXL:DE:2.0"
/* EDXL common types (ct:ValueListURI, ct:Value) and the 2.0 default lists */
#define KNOOP_EDXL_CT_NS   "urn:oasis:names:tc:emergency:edxl:ct:1.0"
#define KNOOP_EDXL_STATUS_LIST "urn:oasis:names:tc:emergency:EDXL:DE:2.0:Defaults:StatusKind"
#define KNOOP_EDXL_KIND_LIST   "urn:oasis:names:tc:emergency:EDXL:DE:2.0:Defaults:DistributionType"
#define KNOOP_EDXL_DOC_MAX (16u << 20)
#define KNOOP_EDXL_MIME    "application/x-protobuf"

/* Write the distribution dist as an EDXL-DE 2.0 document appended to xml.
 * Errors: KNOOP_EMALFORMED (a field missing or wrong, err names it and the
 * content object), KNOOP_ENOTFOUND (unknown payload type), KNOOP_ENOMEM. */
int knoop_edxl_wrap(const struct json_t *dist, knoop_buf_t *xml, char *err, size_t err_size);

/* Read an EDXL-DE 2.0 document (either spelling, see above; a TargetArea
 * comes back as <TargetArea> text) into a new distribution object (*dist,
 * caller json_decref). Every content object must be a knooppunt payload:
 * an embedded CAP 1.2 alert (validated as knoop cap import does) or
 * NonXMLContent of KNOOP_EDXL_MIME with a known messageType.
 * Errors: KNOOP_EMALFORMED (err names the element), KNOOP_ETOOBIG,
 * KNOOP_ENOMEM. */
int knoop_edxl_unwrap(const char *xml, size_t len, struct json_t **dist, char *err,
                      size_t err_size);

#endif
