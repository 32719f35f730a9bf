/* edxl.c — EDXL-DE 2.0 <-> a distribution as JSON (see edxl.h). Payloads go
 * through json.h (JSON <-> protobuf) and, for alerts, cap.h (CAP 1.2). */
#include "edxl.h"
#include "cap.h"
#include "crypto.h"
#include "json.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTENT_MAX 1000

static const char *const s_status[] = { "Actual", "Exercise", "System", "Test", "Unknown",
                                        "NoAppropriateDefault", NULL };
static const char *const s_kind[] = { "Report", "Update", "Cancel", "Request", "Response",
    "Dispatch", "Ack", "Error", "SensorConfiguration", "SensorControl", "SensorStatus",
    "SensorDetection", "Unknown", "NoAppropriateDefault", NULL };

static bool s_in(const char *const *set, const char *v)
{
    for (; v && *set; set++)
        if (!strcmp(*set, v))
            return true;
    return false;
}

typedef struct {
    char  *err;
    size_t err_size;
    bool   failed;
    int    rc;
} ctx_t;

static void s_fail(ctx_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void s_fail(ctx_t *c, int rc, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    c->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_size, fmt, ap);
    va_end(ap);
}

/* ---- wrap ---- */

static const char *s_str(ctx_t *c, const json_t *o, const char *name, bool required)
{
    const json_t *v = json_object_get(o, name);
    if (!v && !required)
        return NULL;
    if (!json_is_string(v) || (required && !*json_string_value(v))) {
        s_fail(c, KNOOP_EMALFORMED, "%s: %s", name, v ? "not a non-empty string" :
               "required and missing");
        return NULL;
    }
    return json_string_value(v);
}

static xmlNodePtr s_leaf(ctx_t *c, xmlNodePtr parent, xmlNsPtr ns, const char *name,
                         const char *text)
{
    if (c->failed)
        return NULL;
    xmlNodePtr e = xmlNewTextChild(parent, ns, (const xmlChar *) name, (const xmlChar *) text);
    if (!e)
        s_fail(c, KNOOP_ENOMEM, "out of memory");
    return e;
}

static xmlNodePtr s_node(ctx_t *c, xmlNodePtr parent, xmlNsPtr ns, const char *name)
{
    return s_leaf(c, parent, ns, name, NULL);
}

/* Parse an XML fragment in the context of parent and add it. */
static void s_fragment(ctx_t *c, xmlNodePtr parent, const char *text, const char *what)
{
    if (c->failed)
        return;
    xmlNodePtr list = NULL;
    if (xmlParseInNodeContext(parent, text, (int) strlen(text),
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING,
                              &list) != XML_ERR_OK || !list) {
        xmlFreeNodeList(list);
        s_fail(c, KNOOP_EMALFORMED, "%s: not an XML element", what);
        return;
    }
    xmlAddChildList(parent, list);
}

static void s_wrap_content(ctx_t *c, xmlNodePtr content, xmlNsPtr ns, const json_t *item,
                           size_t i)
{
    char where[64];
    snprintf(where, sizeof where, "content[%zu]", i);
    const char *type = json_string_value(json_object_get(item, "type"));
    const json_t *payload = json_object_get(item, "payload");
    const json_t *desc = json_object_get(item, "description");
    if (!json_is_object(item) || !type || !json_is_object(payload) ||
        (desc && !json_is_string(desc))) {
        s_fail(c, KNOOP_EMALFORMED, "%s: needs \"type\" (string), \"payload\" (object) and "
               "optionally \"description\" (string)", where);
        return;
    }
    if (!knoop_payload_type_known(type)) {
        s_fail(c, KNOOP_ENOTFOUND, "%s: unknown payload type '%s'", where, type);
        return;
    }
    knoop_buf_t pb = { 0 };
    char why[512] = "";
    int rc = knoop_payload_from_json(type, payload, &pb, why, sizeof why);
    if (rc) {
        s_fail(c, rc, "%s: payload of %s: %s", where, type, *why ? why : knoop_strerror(rc));
        knoop_buf_free(&pb);
        return;
    }
    xmlNodePtr obj = s_node(c, content, ns, "contentObject");
    if (desc) {
        xmlNodePtr d = s_node(c, obj, ns, "contentDescriptor");
        s_leaf(c, d, ns, "contentDescription", json_string_value(desc));
    }
    if (!strcmp(type, KNOOP_CAP_TYPE)) {
        knoop_buf_t cap = { 0 };
        rc = knoop_cap_export(pb.data, pb.len, &cap, why, sizeof why);
        xmlDocPtr doc = NULL;
        if (rc == KNOOP_OK)
            doc = xmlReadMemory((const char *) cap.data, (int) cap.len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc) {
            s_fail(c, KNOOP_EMALFORMED, "%s: the alert cannot be written as CAP: %s", where,
                   rc ? why : "export not readable");
        } else {
            xmlNodePtr x = s_node(c, obj, ns, "contentXML");
            xmlNodePtr e = s_node(c, x, ns, "embeddedXMLContent");
            xmlNodePtr copy = e ? xmlDocCopyNode(xmlDocGetRootElement(doc), obj->doc, 1) : NULL;
            /* A text node beside the alert keeps the indenting writer out
             * of it: the CAP goes out exactly as cap.h writes it. */
            if (e && (!xmlAddChild(e, xmlNewDocText(obj->doc, (const xmlChar *) "\n")) ||
                      !copy || !xmlAddChild(e, copy))) {
                xmlFreeNode(copy);
                s_fail(c, KNOOP_ENOMEM, "out of memory");
            }
        }
        xmlFreeDoc(doc);
        knoop_buf_free(&cap);
    } else {
        xmlNodePtr n = s_node(c, obj, ns, "nonXMLContent");
        char mime[256], size[32];
        snprintf(mime, sizeof mime, "%s; messageType=%s", KNOOP_EDXL_MIME, type);
        snprintf(size, sizeof size, "%zu", pb.len);
        s_leaf(c, n, ns, "mimeType", mime);
        s_leaf(c, n, ns, "size", size);
        size_t b64n = knoop_base64_size(pb.len) + 1;
        char *b64 = malloc(b64n);
        if (!b64) {
            s_fail(c, KNOOP_ENOMEM, "out of memory");
        } else {
            knoop_base64_encode(b64, b64n, pb.data, pb.len);
            s_leaf(c, n, ns, "contentData", b64);
            free(b64);
        }
    }
    knoop_buf_free(&pb);
}

int knoop_edxl_wrap(const json_t *dist, knoop_buf_t *xml, char *err, size_t err_size)
{
    char dummy[8];
    ctx_t c = { .err = err && err_size ? err : dummy, .err_size = err && err_size ? err_size :
                sizeof dummy };
    *c.err = '\0';
    xmlInitParser();
    if (!json_is_object(dist)) {
        s_fail(&c, KNOOP_EMALFORMED, "the distribution is not a JSON object");
        return c.rc;
    }
    static const char *const known[] = { "distributionID", "senderID", "dateTimeSent",
        "dateTimeExpires", "distributionStatus", "distributionKind", "language",
        "explicitAddress", "targetArea", "content", NULL };
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *) dist, k, v)
        if (!s_in(known, k))
            s_fail(&c, KNOOP_EMALFORMED, "%s: not a field of a distribution (see knoop edxl "
                   "--help)", k);
    const char *id = s_str(&c, dist, "distributionID", true);
    const char *sender = s_str(&c, dist, "senderID", true);
    const char *sent = s_str(&c, dist, "dateTimeSent", true);
    const char *expires = s_str(&c, dist, "dateTimeExpires", true);
    const char *status = s_str(&c, dist, "distributionStatus", true);
    const char *kind = s_str(&c, dist, "distributionKind", true);
    const char *lang = s_str(&c, dist, "language", false);
    const json_t *addr = json_object_get(dist, "explicitAddress");
    const json_t *areas = json_object_get(dist, "targetArea");
    const json_t *content = json_object_get(dist, "content");
    if (!c.failed && !knoop_cap_datetime_ok(sent))
        s_fail(&c, KNOOP_EMALFORMED, "dateTimeSent: '%s' is not a dateTime with zone offset "
               "(2021-07-15T01:00:00+02:00)", sent);
    if (!c.failed && !knoop_cap_datetime_ok(expires))
        s_fail(&c, KNOOP_EMALFORMED, "dateTimeExpires: '%s' is not a dateTime with zone "
               "offset (2021-07-16T01:00:00+02:00)", expires);
    if (!c.failed && !s_in(s_status, status))
        s_fail(&c, KNOOP_EMALFORMED, "distributionStatus: '%s' is not Actual, Exercise, "
               "System, Test, Unknown or NoAppropriateDefault", status);
    if (!c.failed && !s_in(s_kind, kind))
        s_fail(&c, KNOOP_EMALFORMED, "distributionKind: '%s' is not an EDXL-DE 2.0 "
               "distribution kind (Report, Update, Cancel, Request, Response, ...)", kind);
    if (!c.failed && ((addr && !json_is_array(addr)) || (areas && !json_is_array(areas))))
        s_fail(&c, KNOOP_EMALFORMED, "explicitAddress and targetArea are arrays");
    if (!c.failed && (!json_is_array(content) || json_array_size(content) == 0 ||
                      json_array_size(content) > CONTENT_MAX))
        s_fail(&c, KNOOP_EMALFORMED, "content: an array of 1..%d content objects is required",
               CONTENT_MAX);
    if (c.failed)
        return c.rc;

    xmlDocPtr doc = xmlNewDoc((const xmlChar *) "1.0");
    xmlNodePtr root = doc ? xmlNewDocNode(doc, NULL, (const xmlChar *) "EDXLDistribution",
                                          NULL) : NULL;
    xmlNsPtr ns = root ? xmlNewNs(root, (const xmlChar *) KNOOP_EDXL_NS, NULL) : NULL;
    if (!ns) {
        xmlFreeNode(root);
        xmlFreeDoc(doc);
        s_fail(&c, KNOOP_ENOMEM, "out of memory");
        return c.rc;
    }
    xmlSetNs(root, ns);
    xmlDocSetRootElement(doc, root);
    s_leaf(&c, root, ns, "distributionID", id);
    s_leaf(&c, root, ns, "senderID", sender);
    s_leaf(&c, root, ns, "dateTimeSent", sent);
    s_leaf(&c, root, ns, "dateTimeExpires", expires);
    s_leaf(&c, s_node(&c, root, ns, "distributionStatus"), ns, "StatusKindDefault", status);
    s_leaf(&c, s_node(&c, root, ns, "distributionKind"), ns, "DistributionKindDefault", kind);
    if (lang || json_array_size(addr)) {
        xmlNodePtr d = s_node(&c, root, ns, "descriptor");
        if (lang)
            s_leaf(&c, d, ns, "language", lang);
        size_t i;
        const json_t *a;
        json_array_foreach(addr, i, a) {
            const char *scheme = json_string_value(json_object_get(a, "scheme"));
            const json_t *vals = json_object_get(a, "value");
            if (!scheme || !*scheme || !json_is_array(vals) || !json_array_size(vals)) {
                s_fail(&c, KNOOP_EMALFORMED, "explicitAddress[%zu]: needs \"scheme\" and a "
                       "non-empty \"value\" array", i + 1);
                break;
            }
            xmlNodePtr e = s_node(&c, d, ns, "explicitAddress");
            s_leaf(&c, e, ns, "explicitAddressScheme", scheme);
            size_t j;
            const json_t *val;
            json_array_foreach(vals, j, val) {
                if (!json_is_string(val)) {
                    s_fail(&c, KNOOP_EMALFORMED, "explicitAddress[%zu].value[%zu]: not a "
                           "string", i + 1, j + 1);
                    break;
                }
                s_leaf(&c, e, ns, "explicitAddressValue", json_string_value(val));
            }
        }
    }
    size_t i;
    const json_t *a;
    json_array_foreach(areas, i, a) {
        char what[48];
        snprintf(what, sizeof what, "targetArea[%zu]", i + 1);
        if (!json_is_string(a))
            s_fail(&c, KNOOP_EMALFORMED, "%s: not a string of XML", what);
        else
            s_fragment(&c, root, json_string_value(a), what);
        xmlNodePtr last = root->last;
        if (!c.failed && (!last || last->type != XML_ELEMENT_NODE ||
                          strcmp((const char *) last->name, "targetArea") || !last->ns ||
                          strcmp((const char *) last->ns->href, KNOOP_EDXL_NS)))
            s_fail(&c, KNOOP_EMALFORMED, "%s: not a <targetArea> of EDXL-DE 2.0", what);
    }
    xmlNodePtr ct = s_node(&c, root, ns, "content");
    json_array_foreach(content, i, a) {
        if (c.failed)
            break;
        s_wrap_content(&c, ct, ns, a, i + 1);
    }
    if (!c.failed) {
        xmlChar *mem = NULL;
        int size = 0;
        xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
        if (!mem || knoop_buf_append(xml, mem, (size_t) size))
            s_fail(&c, KNOOP_ENOMEM, "out of memory");
        xmlFree(mem);
    }
    xmlFreeDoc(doc);
    return c.failed ? c.rc : KNOOP_OK;
}

/* ---- unwrap ---- */

static bool s_is(xmlNodePtr e, const char *name)
{
    return e && e->type == XML_ELEMENT_NODE && e->ns && e->ns->href &&
           !strcmp((const char *) e->ns->href, KNOOP_EDXL_NS) &&
           !strcmp((const char *) e->name, name);
}

/* What stands where element `name` was required, for the message:
 * ", found <x>" (with its namespace when not EDXL-DE 2.0's, and a hint when
 * it is the OASIS examples' UpperCamelCase spelling), or " and missing". */
static const char *s_found(xmlNodePtr e, const char *name, char *buf, size_t size)
{
    if (!e) {
        snprintf(buf, size, " and missing");
        return buf;
    }
    const char *ns = e->ns && e->ns->href ? (const char *) e->ns->href : NULL;
    bool other_ns = !ns || strcmp(ns, KNOOP_EDXL_NS);
    bool upper = name && !other_ns && name[0] && toupper((unsigned char) name[0]) ==
                 e->name[0] && !strcmp((const char *) e->name + 1, name + 1) &&
                 name[0] != e->name[0];
    snprintf(buf, size, ", found <%s>%s%s%s", (const char *) e->name,
             other_ns ? " of " : "", other_ns ? (ns ? ns : "no namespace") : "",
             upper ? " (knooppunt reads and writes the EDXL-DE 2.0 namespace with the element "
                     "names as EDXL-DE 1.0 spells them, lowerCamelCase; see docs/protocol.md)"
                   : "");
    return buf;
}

/* The next element child at or after n (whitespace and comments skipped;
 * other text is an error). */
static xmlNodePtr s_elem(ctx_t *c, xmlNodePtr n, const char *where)
{
    for (; n && !c->failed; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            return n;
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content &&
            strspn((const char *) n->content, " \t\r\n") != strlen((const char *) n->content))
            s_fail(c, KNOOP_EMALFORMED, "%s: text between elements", where);
    }
    return NULL;
}

/* Take element `name` at *cur (advancing) and return its text (malloc'd by
 * libxml2: xmlFree), or NULL when absent (an error if required). */
static xmlChar *s_take_text(ctx_t *c, xmlNodePtr *cur, const char *name, const char *where,
                            bool required)
{
    xmlNodePtr e = s_elem(c, *cur, where);
    if (c->failed)
        return NULL;
    if (!s_is(e, name)) {
        char found[400];
        if (required)
            s_fail(c, KNOOP_EMALFORMED, "%s: <%s> is required%s", where, name,
                   s_found(e, name, found, sizeof found));
        return NULL;
    }
    for (xmlNodePtr k = e->children; k; k = k->next)
        if (k->type == XML_ELEMENT_NODE) {
            s_fail(c, KNOOP_EMALFORMED, "%s/%s: holds element <%s>; text expected", where,
                   name, (const char *) k->name);
            return NULL;
        }
    *cur = e->next;
    xmlChar *t = xmlNodeGetContent(e);
    if (!t)
        s_fail(c, KNOOP_ENOMEM, "out of memory");
    return t;
}

static void s_set(ctx_t *c, json_t *o, const char *key, xmlChar *text)
{
    if (text && json_object_set_new(o, key, json_string((const char *) text)))
        s_fail(c, KNOOP_EMALFORMED, "%s: not UTF-8 text", key);
    xmlFree(text);
}

/* <distributionStatus><StatusKindDefault>Actual</StatusKindDefault></...> */
static void s_default(ctx_t *c, xmlNodePtr *cur, json_t *o, const char *outer,
                      const char *inner, const char *const *set)
{
    xmlNodePtr e = s_elem(c, *cur, "EDXLDistribution");
    if (c->failed)
        return;
    if (!s_is(e, outer)) {
        char found[400];
        s_fail(c, KNOOP_EMALFORMED, "EDXLDistribution: <%s> is required%s", outer,
               s_found(e, outer, found, sizeof found));
        return;
    }
    char where[64];
    snprintf(where, sizeof where, "EDXLDistribution/%s", outer);
    xmlNodePtr k = e->children;
    xmlChar *v = s_take_text(c, &k, inner, where, true);
    if (v && !s_in(set, (const char *) v))
        s_fail(c, KNOOP_EMALFORMED, "%s/%s: '%s' is not a default value of EDXL-DE 2.0 "
               "(community value lists are not supported)", where, inner, (const char *) v);
    if (!c->failed && s_elem(c, k, where))
        s_fail(c, KNOOP_EMALFORMED, "%s: only <%s> is supported inside", where, inner);
    s_set(c, o, outer, c->failed ? (xmlFree(v), NULL) : v);
    *cur = e->next;
}

static json_t *s_unwrap_object(ctx_t *c, xmlDocPtr doc, xmlNodePtr obj, size_t i)
{
    char where[64];
    snprintf(where, sizeof where, "content/contentObject[%zu]", i);
    json_t *item = json_object();
    if (!item) {
        s_fail(c, KNOOP_ENOMEM, "out of memory");
        return NULL;
    }
    xmlNodePtr k = s_elem(c, obj->children, where);
    if (s_is(k, "contentDescriptor")) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s/contentDescriptor", where);
        xmlNodePtr d = k->children;
        xmlChar *t = s_take_text(c, &d, "contentDescription", w2, true);
        if (!c->failed && s_elem(c, d, w2))
            s_fail(c, KNOOP_EMALFORMED, "%s: only <contentDescription> is supported inside",
                   w2);
        s_set(c, item, "description", t);
        k = s_elem(c, k->next, where);
    }
    knoop_buf_t pb = { 0 };
    char why[512] = "";
    const char *type = NULL;
    char typebuf[KNOOP_TYPE_MAX + 1];
    if (c->failed) {
        /* reported */
    } else if (s_is(k, "contentXML")) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s/contentXML", where);
        xmlNodePtr e = s_elem(c, k->children, w2);
        xmlNodePtr alert = s_is(e, "embeddedXMLContent") ? s_elem(c, e->children, w2) : NULL;
        if (!c->failed && (!alert || s_elem(c, alert->next, w2) || s_elem(c, e->next, w2)))
            s_fail(c, KNOOP_EMALFORMED, "%s: one <embeddedXMLContent> holding one CAP 1.2 "
                   "<alert> is what knooppunt carries", w2);
        xmlDocPtr one = c->failed ? NULL : xmlNewDoc((const xmlChar *) "1.0");
        xmlNodePtr copy = one ? xmlDocCopyNode(alert, one, 1) : NULL;
        if (!c->failed && !copy)
            s_fail(c, KNOOP_ENOMEM, "out of memory");
        if (copy) {
            xmlDocSetRootElement(one, copy);
            xmlChar *mem = NULL;
            int n = 0;
            xmlDocDumpMemoryEnc(one, &mem, &n, "UTF-8");
            int rc = mem ? knoop_cap_import((const char *) mem, (size_t) n, &pb, NULL, why,
                                            sizeof why) : KNOOP_ENOMEM;
            if (rc)
                s_fail(c, rc, "%s/embeddedXMLContent: %s", w2, mem ? why : "out of memory");
            xmlFree(mem);
            type = KNOOP_CAP_TYPE;
        }
        xmlFreeDoc(one);
    } else if (s_is(k, "nonXMLContent")) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s/nonXMLContent", where);
        xmlNodePtr n = k->children;
        xmlChar *mime = s_take_text(c, &n, "mimeType", w2, true);
        xmlChar *size = s_take_text(c, &n, "size", w2, true);
        xmlChar *data = s_take_text(c, &n, "contentData", w2, true);
        if (!c->failed && s_elem(c, n, w2))
            s_fail(c, KNOOP_EMALFORMED, "%s: only mimeType, size and contentData are "
                   "supported inside", w2);
        const char *prefix = KNOOP_EDXL_MIME "; messageType=";
        if (!c->failed && strncmp((const char *) mime, prefix, strlen(prefix)))
            s_fail(c, KNOOP_EMALFORMED, "%s/mimeType: '%.100s' is not a knooppunt payload "
                   "(%s; messageType=TYPE)", w2, (const char *) mime, KNOOP_EDXL_MIME);
        if (!c->failed) {
            snprintf(typebuf, sizeof typebuf, "%s", (const char *) mime + strlen(prefix));
            type = typebuf;
            if (!knoop_payload_type_known(type))
                s_fail(c, KNOOP_EMALFORMED, "%s/mimeType: unknown messageType '%s'", w2, type);
        }
        if (!c->failed) {
            size_t len = strlen((const char *) data);
            if (len > KNOOP_PAYLOAD_MAX / 3 * 4 + 4 || knoop_buf_reserve(&pb, len / 4 * 3 + 3)) {
                s_fail(c, KNOOP_ETOOBIG, "%s/contentData: larger than a payload", w2);
            } else {
                long m = knoop_base64_decode(pb.data, len / 4 * 3 + 3, (const char *) data);
                char expect[32];
                if (m < 0)
                    s_fail(c, KNOOP_EMALFORMED, "%s/contentData: not base64", w2);
                else if (snprintf(expect, sizeof expect, "%ld", m) < 0 ||
                         strcmp(expect, (const char *) size))
                    s_fail(c, KNOOP_EMALFORMED, "%s/size: '%s' but contentData holds %ld bytes",
                           w2, (const char *) size, m);
                else
                    pb.len = (size_t) m;
            }
        }
        xmlFree(mime);
        xmlFree(size);
        xmlFree(data);
    } else {
        char found[400];
        s_fail(c, KNOOP_EMALFORMED, "%s: <contentXML> or <nonXMLContent> is required%s",
               where, s_found(k, "contentXML", found, sizeof found));
    }
    if (!c->failed && s_elem(c, k->next, where))
        s_fail(c, KNOOP_EMALFORMED, "%s: one content element per contentObject", where);
    json_t *payload = NULL;
    if (!c->failed) {
        int rc = knoop_payload_to_json(type, pb.data, pb.len, &payload);
        if (rc)
            s_fail(c, rc, "%s: the %s payload does not decode: %s", where, type,
                   knoop_strerror(rc));
    }
    if (!c->failed) {
        /* The content rules wrap applies (times with zone, WGS84 ranges,
         * partner ids, ...): what unwrap accepts, wrap and a node accept. */
        char rule[512] = "";
        int rc = knoop_payload_check(NULL, NULL, type, pb.data, pb.len, NULL, 0, rule,
                                     sizeof rule);
        if (rc) {
            s_fail(c, rc, "%s: payload of %s: %s", where, type,
                   *rule ? rule : knoop_strerror(rc));
            json_decref(payload);
            payload = NULL;
        }
    }
    knoop_buf_free(&pb);
    if (!c->failed) {
        json_object_set_new(item, "type", json_string(type));
        json_object_set_new(item, "payload", payload);
        return item;
    }
    json_decref(item);
    return NULL;
}

int knoop_edxl_unwrap(const char *xml, size_t len, json_t **dist, char *err, size_t err_size)
{
    char dummy[8];
    ctx_t c = { .err = err && err_size ? err : dummy, .err_size = err && err_size ? err_size :
                sizeof dummy };
    *c.err = '\0';
    *dist = NULL;
    if (len > KNOOP_EDXL_DOC_MAX) {
        s_fail(&c, KNOOP_ETOOBIG, "document of %zu bytes; at most %u", len, KNOOP_EDXL_DOC_MAX);
        return c.rc;
    }
    xmlInitParser();
    xmlParserCtxtPtr pc = xmlNewParserCtxt();
    xmlDocPtr doc = pc ? xmlCtxtReadMemory(pc, xml, (int) len, NULL, NULL,
                                           XML_PARSE_NONET | XML_PARSE_NOCDATA |
                                           XML_PARSE_NOERROR | XML_PARSE_NOWARNING) : NULL;
    if (!doc) {
        xmlErrorPtr e = pc ? xmlCtxtGetLastError(pc) : NULL;
        char msg[200] = "not well-formed";
        if (e && e->message) {
            snprintf(msg, sizeof msg, "%s", e->message);
            msg[strcspn(msg, "\n")] = '\0';
        }
        s_fail(&c, KNOOP_EMALFORMED, "document: not XML: %s (line %d)", msg, e ? e->line : 0);
    }
    xmlFreeParserCtxt(pc);
    if (c.failed)
        return c.rc;
    json_t *o = json_object();
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset)
        s_fail(&c, KNOOP_EMALFORMED, "document: a DOCTYPE is not accepted");
    else if (!s_is(root, "EDXLDistribution"))
        s_fail(&c, KNOOP_EMALFORMED, "document: the root element is not <EDXLDistribution> of "
               "EDXL-DE 2.0 (namespace %s)", KNOOP_EDXL_NS);
    if (!o)
        s_fail(&c, KNOOP_ENOMEM, "out of memory");
    const char *w = "EDXLDistribution";
    xmlNodePtr cur = c.failed ? NULL : root->children;
    static const char *const head[] = { "distributionID", "senderID", "dateTimeSent",
                                        "dateTimeExpires" };
    for (size_t i = 0; i < 4 && !c.failed; i++) {
        xmlChar *t = s_take_text(&c, &cur, head[i], w, true);
        if (t && !*t)
            s_fail(&c, KNOOP_EMALFORMED, "%s/%s: is empty", w, head[i]);
        if (t && i >= 2 && !knoop_cap_datetime_ok((const char *) t))
            s_fail(&c, KNOOP_EMALFORMED, "%s/%s: '%.60s' is not a dateTime with zone offset "
                   "(2021-07-15T01:00:00+02:00)", w, head[i], (const char *) t);
        s_set(&c, o, head[i], c.failed ? (xmlFree(t), NULL) : t);
    }
    if (!c.failed)
        s_default(&c, &cur, o, "distributionStatus", "StatusKindDefault", s_status);
    if (!c.failed)
        s_default(&c, &cur, o, "distributionKind", "DistributionKindDefault", s_kind);
    xmlNodePtr e = c.failed ? NULL : s_elem(&c, cur, w);
    if (s_is(e, "descriptor")) {
        const char *wd = "EDXLDistribution/descriptor";
        xmlNodePtr d = e->children;
        s_set(&c, o, "language", s_take_text(&c, &d, "language", wd, false));
        json_t *addr = json_array();
        xmlNodePtr a;
        while (!c.failed && (a = s_elem(&c, d, wd)) && s_is(a, "explicitAddress")) {
            char wa[96];
            snprintf(wa, sizeof wa, "%s/explicitAddress[%zu]", wd, json_array_size(addr) + 1);
            xmlNodePtr x = a->children;
            json_t *one = json_object(), *vals = json_array();
            s_set(&c, one, "scheme", s_take_text(&c, &x, "explicitAddressScheme", wa, true));
            xmlChar *v;
            while (!c.failed && (v = s_take_text(&c, &x, "explicitAddressValue", wa, false)))
                json_array_append_new(vals, json_string((const char *) v)), xmlFree(v);
            if (!c.failed && !json_array_size(vals))
                s_fail(&c, KNOOP_EMALFORMED, "%s: <explicitAddressValue> is required", wa);
            if (!c.failed && s_elem(&c, x, wa))
                s_fail(&c, KNOOP_EMALFORMED, "%s: unexpected element", wa);
            json_object_set_new(one, "value", vals);
            json_array_append_new(addr, one);
            d = a->next;
        }
        if (!c.failed && s_elem(&c, d, wd))
            s_fail(&c, KNOOP_EMALFORMED, "%s: <%s> is not supported (language and "
                   "explicitAddress are)", wd, (const char *) s_elem(&c, d, wd)->name);
        if (json_array_size(addr))
            json_object_set_new(o, "explicitAddress", addr);
        else
            json_decref(addr);
        e = c.failed ? NULL : s_elem(&c, e->next, w);
    }
    json_t *areas = json_array();
    while (!c.failed && s_is(e, "targetArea")) {
        /* copied into a document of its own, so that the namespaces it
         * uses are declared on it: the text stands alone */
        xmlDocPtr one = xmlNewDoc((const xmlChar *) "1.0");
        xmlNodePtr copy = one ? xmlDocCopyNode(e, one, 1) : NULL;
        xmlBufferPtr b = copy ? xmlBufferCreate() : NULL;
        if (copy)
            xmlDocSetRootElement(one, copy);
        if (!b || xmlNodeDump(b, one, copy, 0, 0) < 0)
            s_fail(&c, KNOOP_ENOMEM, "out of memory");
        else
            json_array_append_new(areas, json_string((const char *) xmlBufferContent(b)));
        xmlBufferFree(b);
        xmlFreeDoc(one);
        e = s_elem(&c, e->next, w);
    }
    if (json_array_size(areas))
        json_object_set_new(o, "targetArea", areas);
    else
        json_decref(areas);
    json_t *content = json_array();
    char found[400];
    if (!c.failed && !s_is(e, "content"))
        s_fail(&c, KNOOP_EMALFORMED, "%s: <content> is required%s", w,
               s_found(e, "content", found, sizeof found));
    if (!c.failed) {
        xmlNodePtr obj = s_elem(&c, e->children, "content");
        size_t i = 0;
        while (!c.failed && obj) {
            if (!s_is(obj, "contentObject")) {
                s_fail(&c, KNOOP_EMALFORMED, "content: unexpected <%s>", (const char *) obj->name);
                break;
            }
            if (++i > CONTENT_MAX) {
                s_fail(&c, KNOOP_ETOOBIG, "content: more than %d content objects", CONTENT_MAX);
                break;
            }
            json_t *item = s_unwrap_object(&c, doc, obj, i);
            if (item)
                json_array_append_new(content, item);
            obj = s_elem(&c, obj->next, "content");
        }
        if (!c.failed && i == 0)
            s_fail(&c, KNOOP_EMALFORMED, "content: at least one <contentObject> is required");
        if (!c.failed && s_elem(&c, e->next, w))
            s_fail(&c, KNOOP_EMALFORMED, "%s: unexpected <%s> after <content>", w,
                   (const char *) s_elem(&c, e->next, w)->name);
    }
    json_object_set_new(o, "content", content);
    xmlFreeDoc(doc);
    if (c.failed) {
        json_decref(o);
        return c.rc ? c.rc : KNOOP_EMALFORMED;
    }
    *dist = o;
    return KNOOP_OK;
}
