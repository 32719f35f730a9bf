/* edxl.c — EDXL-DE 2.0 <-> a distribution as JSON (see edxl.h). Payloads go
 * through json.h (JSON <-> protobuf) and, for alerts, cap.h (CAP 1.2). */
#include "edxl.h"
#include "cap.h"
#include "crypto.h"
#include "json.h"
#include "xmlcommon.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    bool   v2; /* unwrap: the document spells its elements as EDXL-DE 2.0 does */
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
    const xmlChar *bad = knoop_xml_undeclared(list);
    if (bad) {
        s_fail(c, KNOOP_EMALFORMED, "%s: <%s> uses a namespace prefix it does not declare",
               what, (const char *) bad);
        xmlFreeNodeList(list);
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
    xmlNodePtr obj = s_node(c, content, ns, "ContentObject");
    if (desc) {
        xmlNodePtr d = s_node(c, obj, ns, "ContentDescriptor");
        s_leaf(c, d, ns, "ContentDescription", json_string_value(desc));
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
            xmlNodePtr x = s_node(c, obj, ns, "ContentXML");
            xmlNodePtr e = s_node(c, x, ns, "EmbeddedXMLContent");
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
        xmlNodePtr n = s_node(c, obj, ns, "NonXMLContent");
        char mime[256], size[32];
        snprintf(mime, sizeof mime, "%s; messageType=%s", KNOOP_EDXL_MIME, type);
        snprintf(size, sizeof size, "%zu", pb.len);
        s_leaf(c, n, ns, "MIMEType", mime);
        s_leaf(c, n, ns, "Size", size);
        size_t b64n = knoop_base64_size(pb.len) + 1;
        char *b64 = malloc(b64n);
        if (!b64) {
            s_fail(c, KNOOP_ENOMEM, "out of memory");
        } else {
            knoop_base64_encode(b64, b64n, pb.data, pb.len);
            s_leaf(c, n, ns, "ContentData", b64);
            free(b64);
        }
    }
    knoop_buf_free(&pb);
}

int knoop_edxl_wrap(const json_t *dist, knoop_buf_t *xml, char *err, size_t err_size)
{
    char dummy[8];
    err = knoop_err_buf(err, &err_size, dummy, sizeof dummy);
    ctx_t c = { .err = err, .err_size = err_size };
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
    xmlNsPtr ctns = ns ? xmlNewNs(root, (const xmlChar *) KNOOP_EDXL_CT_NS,
                                  (const xmlChar *) "ct") : NULL;
    if (!ctns) {
        xmlFreeNode(root);
        xmlFreeDoc(doc);
        s_fail(&c, KNOOP_ENOMEM, "out of memory");
        return c.rc;
    }
    xmlSetNs(root, ns);
    xmlDocSetRootElement(doc, root);
    s_leaf(&c, root, ns, "DistributionID", id);
    s_leaf(&c, root, ns, "SenderID", sender);
    s_leaf(&c, root, ns, "DateTimeSent", sent);
    s_leaf(&c, root, ns, "DateTimeExpires", expires);
    xmlNodePtr dflt = s_node(&c, root, ns, "DistributionStatus");
    dflt = s_node(&c, dflt, ns, "StatusKindDefault");
    s_leaf(&c, dflt, ctns, "ValueListURI", KNOOP_EDXL_STATUS_LIST);
    s_leaf(&c, dflt, ctns, "Value", status);
    dflt = s_node(&c, s_node(&c, root, ns, "DistributionKind"), ns, "DistributionKindDefault");
    s_leaf(&c, dflt, ctns, "ValueListURI", KNOOP_EDXL_KIND_LIST);
    s_leaf(&c, dflt, ctns, "Value", kind);
    if (lang || json_array_size(addr)) {
        xmlNodePtr d = s_node(&c, root, ns, "Descriptor");
        if (lang)
            s_leaf(&c, d, ns, "Language", lang);
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
            xmlNodePtr e = s_node(&c, d, ns, "ExplicitAddress");
            s_leaf(&c, e, ctns, "ValueListURI", scheme);
            size_t j;
            const json_t *val;
            json_array_foreach(vals, j, val) {
                if (!json_is_string(val)) {
                    s_fail(&c, KNOOP_EMALFORMED, "explicitAddress[%zu].value[%zu]: not a "
                           "string", i + 1, j + 1);
                    break;
                }
                s_leaf(&c, e, ctns, "Value", json_string_value(val));
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
        /* <targetArea> as knooppunt wrote it before the 2.0 names is
         * renamed: the document goes out in the 2.0 spelling */
        xmlNodePtr last = root->last;
        bool old = last && last->type == XML_ELEMENT_NODE &&
                   !strcmp((const char *) last->name, "targetArea");
        if (!c.failed && (!last || last->type != XML_ELEMENT_NODE ||
                          (!old && strcmp((const char *) last->name, "TargetArea")) ||
                          !last->ns || strcmp((const char *) last->ns->href, KNOOP_EDXL_NS)))
            s_fail(&c, KNOOP_EMALFORMED, "%s: not a <TargetArea> of EDXL-DE 2.0", what);
        else if (!c.failed && old)
            xmlNodeSetName(last, (const xmlChar *) "TargetArea");
    }
    xmlNodePtr ct = s_node(&c, root, ns, "Content");
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

/* The profile knooppunt writes spells its elements UpperCamelCase, as the
 * EDXL-DE 2.0 cs01 examples do (not the final cs02 schema: docs/protocol.md).
 * Documents knooppunt wrote before that carry the 2.0 namespace with the EDXL-DE
 * 1.0 spelling (lowerCamelCase, explicitAddressScheme/Value, a default value
 * as the text of StatusKindDefault); unwrap still reads them. The code below
 * names elements in the 1.0 spelling; s_nm gives the one the document uses. */
static const char *const s_names[][2] = {
    { "distributionID", "DistributionID" },     { "senderID", "SenderID" },
    { "dateTimeSent", "DateTimeSent" },         { "dateTimeExpires", "DateTimeExpires" },
    { "distributionStatus", "DistributionStatus" },
    { "distributionKind", "DistributionKind" }, { "descriptor", "Descriptor" },
    { "language", "Language" },                 { "explicitAddress", "ExplicitAddress" },
    { "targetArea", "TargetArea" },             { "content", "Content" },
    { "contentObject", "ContentObject" },       { "contentDescriptor", "ContentDescriptor" },
    { "contentDescription", "ContentDescription" }, { "contentXML", "ContentXML" },
    { "embeddedXMLContent", "EmbeddedXMLContent" }, { "nonXMLContent", "NonXMLContent" },
    { "mimeType", "MIMEType" },                 { "size", "Size" },
    { "contentData", "ContentData" },
};

static const char *s_nm(const ctx_t *c, const char *name)
{
    for (size_t i = 0; c->v2 && i < sizeof s_names / sizeof *s_names; i++)
        if (!strcmp(s_names[i][0], name))
            return s_names[i][1];
    return name;
}

static bool s_is_ns(xmlNodePtr e, const char *ns, const char *name)
{
    return e && e->type == XML_ELEMENT_NODE && e->ns && e->ns->href &&
           !strcmp((const char *) e->ns->href, ns) && !strcmp((const char *) e->name, name);
}

/* e is the EDXL-DE element `name` (1.0 spelling, see s_names) */
static bool s_is(const ctx_t *c, xmlNodePtr e, const char *name)
{
    return s_is_ns(e, KNOOP_EDXL_NS, s_nm(c, name));
}

/* What stands where element `name` (as the document spells it) was
 * required, for the message: ", found <x>" (with its namespace when not
 * ns's, and a hint when only the case differs), or " and missing". */
static const char *s_found(xmlNodePtr e, const char *ns_want, const char *name, char *buf,
                           size_t size)
{
    if (!e) {
        snprintf(buf, size, " and missing");
        return buf;
    }
    const char *ns = e->ns && e->ns->href ? (const char *) e->ns->href : NULL;
    bool other_ns = !ns || strcmp(ns, ns_want);
    bool cased = name && !other_ns && strcmp((const char *) e->name, name) &&
                 !strcasecmp((const char *) e->name, name);
    snprintf(buf, size, ", found <%s>%s%s%s", (const char *) e->name,
             other_ns ? " of " : "", other_ns ? (ns ? ns : "no namespace") : "",
             cased ? " (names are case-sensitive; EDXL-DE 2.0 spells them UpperCamelCase, "
                     "see docs/protocol.md)" : "");
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

/* Take element `name` of namespace ns at *cur (advancing) and return its
 * text (malloc'd by libxml2: xmlFree), or NULL when absent (an error if
 * required); `shown` is how the message names it. Comments and processing
 * instructions inside are ignored, entity references read as their text. */
static xmlChar *s_take(ctx_t *c, xmlNodePtr *cur, const char *ns, const char *name,
                       const char *shown, const char *where, bool required)
{
    xmlNodePtr e = s_elem(c, *cur, where);
    if (c->failed)
        return NULL;
    if (!s_is_ns(e, ns, name)) {
        char found[400];
        if (required)
            s_fail(c, KNOOP_EMALFORMED, "%s: <%s> is required%s", where, shown,
                   s_found(e, ns, name, found, sizeof found));
        return NULL;
    }
    for (xmlNodePtr k = e->children; k; k = k->next)
        if (k->type == XML_ELEMENT_NODE) {
            s_fail(c, KNOOP_EMALFORMED, "%s/%s: holds element <%s>; text expected", where,
                   shown, (const char *) k->name);
            return NULL;
        }
    *cur = e->next;
    xmlChar *t = xmlNodeGetContent(e);
    if (!t)
        s_fail(c, KNOOP_ENOMEM, "out of memory");
    return t;
}

/* The EDXL-DE element `name` (1.0 spelling) as s_take. */
static xmlChar *s_take_text(ctx_t *c, xmlNodePtr *cur, const char *name, const char *where,
                            bool required)
{
    return s_take(c, cur, KNOOP_EDXL_NS, s_nm(c, name), s_nm(c, name), where, required);
}

/* The ct: element `name` (ValueListURI, Value) as s_take. */
static xmlChar *s_take_ct(ctx_t *c, xmlNodePtr *cur, const char *name, const char *where,
                          bool required)
{
    char shown[32];
    snprintf(shown, sizeof shown, "ct:%s", name);
    return s_take(c, cur, KNOOP_EDXL_CT_NS, name, shown, where, required);
}

static void s_set(ctx_t *c, json_t *o, const char *key, xmlChar *text)
{
    if (text && json_object_set_new(o, key, json_string((const char *) text)))
        s_fail(c, KNOOP_EMALFORMED, "%s: not UTF-8 text", key);
    xmlFree(text);
}

/* <DistributionStatus><StatusKindDefault><ct:ValueListURI>list</...>
 * <ct:Value>Actual</ct:Value></StatusKindDefault></DistributionStatus>, or
 * in the older spelling <distributionStatus><StatusKindDefault>Actual</...> */
static void s_default(ctx_t *c, xmlNodePtr *cur, json_t *o, const char *outer,
                      const char *inner, const char *list, const char *const *set)
{
    xmlNodePtr e = s_elem(c, *cur, "EDXLDistribution");
    if (c->failed)
        return;
    if (!s_is(c, e, outer)) {
        char found[400];
        s_fail(c, KNOOP_EMALFORMED, "EDXLDistribution: <%s> is required%s", s_nm(c, outer),
               s_found(e, KNOOP_EDXL_NS, s_nm(c, outer), found, sizeof found));
        return;
    }
    char where[64], w2[96];
    snprintf(where, sizeof where, "EDXLDistribution/%s", s_nm(c, outer));
    snprintf(w2, sizeof w2, "%s/%s", where, inner);
    xmlNodePtr k = e->children;
    xmlChar *v = NULL;
    if (!c->v2) {
        v = s_take_text(c, &k, inner, where, true);
    } else {
        xmlNodePtr d = s_elem(c, k, where);
        char found[400];
        if (!c->failed && !s_is(c, d, inner)) {
            s_fail(c, KNOOP_EMALFORMED, "%s: <%s> is required%s (community value lists are "
                   "not supported)", where, inner,
                   s_found(d, KNOOP_EDXL_NS, inner, found, sizeof found));
        } else if (!c->failed) {
            xmlNodePtr x = d->children;
            xmlChar *uri = s_take_ct(c, &x, "ValueListURI", w2, true);
            if (uri && strcmp((const char *) uri, list))
                s_fail(c, KNOOP_EMALFORMED, "%s/ct:ValueListURI: '%.100s' is not %s "
                       "(community value lists are not supported)", w2, (const char *) uri,
                       list);
            xmlFree(uri);
            v = s_take_ct(c, &x, "Value", w2, true);
            if (!c->failed && s_elem(c, x, w2))
                s_fail(c, KNOOP_EMALFORMED, "%s: only <ct:ValueListURI> and <ct:Value> are "
                       "supported inside", w2);
            k = d->next;
        }
    }
    if (v && !c->failed && !s_in(set, (const char *) v))
        s_fail(c, KNOOP_EMALFORMED, "%s%s: '%s' is not a default value of EDXL-DE 2.0 "
               "(community value lists are not supported)", w2, c->v2 ? "/ct:Value" : "",
               (const char *) v);
    if (!c->failed && s_elem(c, k, where))
        s_fail(c, KNOOP_EMALFORMED, "%s: only <%s> is supported inside", where, inner);
    s_set(c, o, outer, c->failed ? (xmlFree(v), NULL) : v);
    *cur = e->next;
}

static json_t *s_unwrap_object(ctx_t *c, xmlDocPtr doc, xmlNodePtr obj, size_t i)
{
    char where[64];
    snprintf(where, sizeof where, "%s/%s[%zu]", s_nm(c, "content"), s_nm(c, "contentObject"), i);
    json_t *item = json_object();
    if (!item) {
        s_fail(c, KNOOP_ENOMEM, "out of memory");
        return NULL;
    }
    xmlNodePtr k = s_elem(c, obj->children, where);
    if (s_is(c, k, "contentDescriptor")) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s/%s", where, s_nm(c, "contentDescriptor"));
        xmlNodePtr d = k->children;
        xmlChar *t = s_take_text(c, &d, "contentDescription", w2, true);
        if (!c->failed && s_elem(c, d, w2))
            s_fail(c, KNOOP_EMALFORMED, "%s: only <%s> is supported inside", w2,
                   s_nm(c, "contentDescription"));
        s_set(c, item, "description", t);
        k = s_elem(c, k->next, where);
    }
    knoop_buf_t pb = { 0 };
    char why[512] = "";
    const char *type = NULL;
    char typebuf[KNOOP_TYPE_MAX + 1];
    if (c->failed) {
        /* reported */
    } else if (s_is(c, k, "contentXML")) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s/%s", where, s_nm(c, "contentXML"));
        xmlNodePtr e = s_elem(c, k->children, w2);
        xmlNodePtr alert = s_is(c, e, "embeddedXMLContent") ? s_elem(c, e->children, w2)
                                                             : NULL;
        if (!c->failed && (!alert || s_elem(c, alert->next, w2) || s_elem(c, e->next, w2)))
            s_fail(c, KNOOP_EMALFORMED, "%s: one <%s> holding one CAP 1.2 <alert> is what "
                   "knooppunt carries", w2, s_nm(c, "embeddedXMLContent"));
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
                s_fail(c, rc, "%s/%s: %s", w2, s_nm(c, "embeddedXMLContent"),
                       mem ? why : "out of memory");
            xmlFree(mem);
            type = KNOOP_CAP_TYPE;
        }
        xmlFreeDoc(one);
    } else if (s_is(c, k, "nonXMLContent")) {
        char w2[96];
        snprintf(w2, sizeof w2, "%s/%s", where, s_nm(c, "nonXMLContent"));
        xmlNodePtr n = k->children;
        xmlChar *mime = s_take_text(c, &n, "mimeType", w2, true);
        xmlChar *size = s_take_text(c, &n, "size", w2, true);
        xmlChar *data = s_take_text(c, &n, "contentData", w2, true);
        if (!c->failed && s_elem(c, n, w2))
            s_fail(c, KNOOP_EMALFORMED, "%s: only %s, %s and %s are supported inside", w2,
                   s_nm(c, "mimeType"), s_nm(c, "size"), s_nm(c, "contentData"));
        const char *prefix = KNOOP_EDXL_MIME "; messageType=";
        if (!c->failed && strncmp((const char *) mime, prefix, strlen(prefix)))
            s_fail(c, KNOOP_EMALFORMED, "%s/%s: '%.100s' is not a knooppunt payload "
                   "(%s; messageType=TYPE)", w2, s_nm(c, "mimeType"), (const char *) mime,
                   KNOOP_EDXL_MIME);
        if (!c->failed) {
            snprintf(typebuf, sizeof typebuf, "%s", (const char *) mime + strlen(prefix));
            type = typebuf;
            if (!knoop_payload_type_known(type))
                s_fail(c, KNOOP_EMALFORMED, "%s/%s: unknown messageType '%s'", w2,
                       s_nm(c, "mimeType"), type);
        }
        if (!c->failed) {
            size_t len = strlen((const char *) data);
            if (len > KNOOP_PAYLOAD_MAX / 3 * 4 + 4 || knoop_buf_reserve(&pb, len / 4 * 3 + 3)) {
                s_fail(c, KNOOP_ETOOBIG, "%s/%s: larger than a payload", w2,
                       s_nm(c, "contentData"));
            } else {
                long m = knoop_base64_decode(pb.data, len / 4 * 3 + 3, (const char *) data);
                char expect[32];
                if (m < 0)
                    s_fail(c, KNOOP_EMALFORMED, "%s/%s: not base64", w2,
                           s_nm(c, "contentData"));
                else if (snprintf(expect, sizeof expect, "%ld", m) < 0 ||
                         strcmp(expect, (const char *) size))
                    s_fail(c, KNOOP_EMALFORMED, "%s/%s: '%s' but %s holds %ld bytes", w2,
                           s_nm(c, "size"), (const char *) size, s_nm(c, "contentData"), m);
                else
                    pb.len = (size_t) m;
            }
        }
        xmlFree(mime);
        xmlFree(size);
        xmlFree(data);
    } else {
        char found[400];
        s_fail(c, KNOOP_EMALFORMED, "%s: <%s> or <%s> is required%s", where,
               s_nm(c, "contentXML"), s_nm(c, "nonXMLContent"),
               s_found(k, KNOOP_EDXL_NS, s_nm(c, "contentXML"), found, sizeof found));
    }
    if (!c->failed && s_elem(c, k->next, where))
        s_fail(c, KNOOP_EMALFORMED, "%s: one content element per %s", where,
               s_nm(c, "contentObject"));
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
    err = knoop_err_buf(err, &err_size, dummy, sizeof dummy);
    ctx_t c = { .err = err, .err_size = err_size };
    *dist = NULL;
    if (len > KNOOP_EDXL_DOC_MAX) {
        s_fail(&c, KNOOP_ETOOBIG, "document of %zu bytes; at most %u", len, KNOOP_EDXL_DOC_MAX);
        return c.rc;
    }
    char why[300];
    xmlDocPtr doc = knoop_xml_read(xml, len, why, sizeof why);
    if (!doc)
        s_fail(&c, KNOOP_EMALFORMED, "document: %s", why);
    if (c.failed)
        return c.rc;
    json_t *o = json_object();
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset)
        s_fail(&c, KNOOP_EMALFORMED, "document: a DOCTYPE is not accepted");
    else if (s_is_ns(root, KNOOP_EDXL_NS, "edxlDistribution"))
        /* The final 2.0 schema (cs02, edxl-de-v2.0-wd11.xsd) spells the
         * root and every element lowerCamelCase and structures status,
         * kind, target areas and non-XML content differently: said as
         * such, not as a misspelt name (docs/protocol.md, EDXL-DE 2.0). */
        s_fail(&c, KNOOP_EMALFORMED, "document: <edxlDistribution> is EDXL-DE 2.0 as Committee "
               "Specification 02 spells it, which knooppunt does not read yet (it reads the "
               "spelling of the cs01 examples, <EDXLDistribution>; see docs/protocol.md)");
    else if (!s_is(&c, root, "EDXLDistribution"))
        s_fail(&c, KNOOP_EMALFORMED, "document: the root element is not <EDXLDistribution> of "
               "EDXL-DE 2.0 (namespace %s)", KNOOP_EDXL_NS);
    if (!o)
        s_fail(&c, KNOOP_ENOMEM, "out of memory");
    const char *w = "EDXLDistribution";
    xmlNodePtr cur = c.failed ? NULL : root->children;
    /* the first header element tells the spelling: 2.0 unless it is one of
     * the older lowerCamelCase names (see s_names) */
    xmlNodePtr first = s_elem(&c, cur, w);
    c.v2 = true;
    for (size_t i = 0; first && i < sizeof s_names / sizeof *s_names; i++)
        if (s_is_ns(first, KNOOP_EDXL_NS, s_names[i][0]))
            c.v2 = false;
    static const char *const head[] = { "distributionID", "senderID", "dateTimeSent",
                                        "dateTimeExpires" };
    for (size_t i = 0; i < 4 && !c.failed; i++) {
        xmlChar *t = s_take_text(&c, &cur, head[i], w, true);
        if (t && !*t)
            s_fail(&c, KNOOP_EMALFORMED, "%s/%s: is empty", w, s_nm(&c, head[i]));
        if (t && i >= 2 && !knoop_cap_datetime_ok((const char *) t))
            s_fail(&c, KNOOP_EMALFORMED, "%s/%s: '%.60s' is not a dateTime with zone offset "
                   "(2021-07-15T01:00:00+02:00)", w, s_nm(&c, head[i]), (const char *) t);
        s_set(&c, o, head[i], c.failed ? (xmlFree(t), NULL) : t);
    }
    if (!c.failed)
        s_default(&c, &cur, o, "distributionStatus", "StatusKindDefault",
                  KNOOP_EDXL_STATUS_LIST, s_status);
    if (!c.failed)
        s_default(&c, &cur, o, "distributionKind", "DistributionKindDefault",
                  KNOOP_EDXL_KIND_LIST, s_kind);
    xmlNodePtr e = c.failed ? NULL : s_elem(&c, cur, w);
    if (s_is(&c, e, "descriptor")) {
        char wd[64];
        snprintf(wd, sizeof wd, "EDXLDistribution/%s", s_nm(&c, "descriptor"));
        xmlNodePtr d = e->children;
        s_set(&c, o, "language", s_take_text(&c, &d, "language", wd, false));
        json_t *addr = json_array();
        xmlNodePtr a;
        while (!c.failed && (a = s_elem(&c, d, wd)) && s_is(&c, a, "explicitAddress")) {
            char wa[96];
            snprintf(wa, sizeof wa, "%s/%s[%zu]", wd, s_nm(&c, "explicitAddress"),
                     json_array_size(addr) + 1);
            /* 2.0: <ct:ValueListURI>scheme</...><ct:Value>address</...>+ */
            xmlNodePtr x = a->children;
            json_t *one = json_object(), *vals = json_array();
            s_set(&c, one, "scheme", c.v2 ? s_take_ct(&c, &x, "ValueListURI", wa, true)
                                          : s_take_text(&c, &x, "explicitAddressScheme", wa,
                                                        true));
            const char *sch = json_string_value(json_object_get(one, "scheme"));
            if (!c.failed && sch && !*sch)
                s_fail(&c, KNOOP_EMALFORMED, "%s/%s: is empty", wa,
                       c.v2 ? "ct:ValueListURI" : "explicitAddressScheme");
            xmlChar *v;
            while (!c.failed && (v = c.v2 ? s_take_ct(&c, &x, "Value", wa, false)
                                          : s_take_text(&c, &x, "explicitAddressValue", wa,
                                                        false)))
                json_array_append_new(vals, json_string((const char *) v)), xmlFree(v);
            if (!c.failed && !json_array_size(vals))
                s_fail(&c, KNOOP_EMALFORMED, "%s: <%s> is required", wa,
                       c.v2 ? "ct:Value" : "explicitAddressValue");
            if (!c.failed && s_elem(&c, x, wa))
                s_fail(&c, KNOOP_EMALFORMED, "%s: unexpected element", wa);
            json_object_set_new(one, "value", vals);
            json_array_append_new(addr, one);
            d = a->next;
        }
        if (!c.failed && s_elem(&c, d, wd))
            s_fail(&c, KNOOP_EMALFORMED, "%s: <%s> is not supported (%s and %s are)", wd,
                   (const char *) s_elem(&c, d, wd)->name, s_nm(&c, "language"),
                   s_nm(&c, "explicitAddress"));
        if (json_array_size(addr))
            json_object_set_new(o, "explicitAddress", addr);
        else
            json_decref(addr);
        e = c.failed ? NULL : s_elem(&c, e->next, w);
    }
    json_t *areas = json_array();
    while (!c.failed && s_is(&c, e, "targetArea")) {
        /* copied into a document of its own, so that the namespaces it
         * uses are declared on it: the text stands alone */
        xmlDocPtr one = xmlNewDoc((const xmlChar *) "1.0");
        xmlNodePtr copy = one ? xmlDocCopyNode(e, one, 1) : NULL;
        xmlBufferPtr b = copy ? xmlBufferCreate() : NULL;
        if (copy) {
            xmlDocSetRootElement(one, copy);
            xmlNodeSetName(copy, (const xmlChar *) "TargetArea"); /* the 2.0 spelling */
        }
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
    if (!c.failed && !s_is(&c, e, "content"))
        s_fail(&c, KNOOP_EMALFORMED, "%s: <%s> is required%s", w, s_nm(&c, "content"),
               s_found(e, KNOOP_EDXL_NS, s_nm(&c, "content"), found, sizeof found));
    if (!c.failed) {
        const char *wc = s_nm(&c, "content");
        xmlNodePtr obj = s_elem(&c, e->children, wc);
        size_t i = 0;
        while (!c.failed && obj) {
            if (!s_is(&c, obj, "contentObject")) {
                s_fail(&c, KNOOP_EMALFORMED, "%s: unexpected <%s>", wc, (const char *) obj->name);
                break;
            }
            if (++i > CONTENT_MAX) {
                s_fail(&c, KNOOP_ETOOBIG, "%s: more than %d content objects", wc, CONTENT_MAX);
                break;
            }
            json_t *item = s_unwrap_object(&c, doc, obj, i);
            if (item)
                json_array_append_new(content, item);
            obj = s_elem(&c, obj->next, wc);
        }
        if (!c.failed && i == 0)
            s_fail(&c, KNOOP_EMALFORMED, "%s: at least one <%s> is required", wc,
                   s_nm(&c, "contentObject"));
        if (!c.failed && s_elem(&c, e->next, w))
            s_fail(&c, KNOOP_EMALFORMED, "%s: unexpected <%s> after <%s>", w,
                   (const char *) s_elem(&c, e->next, w)->name, wc);
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
