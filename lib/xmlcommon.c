/* xmlcommon.c — see xmlcommon.h. */
#include "xmlcommon.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A name "p:local" with no namespace: p was not declared. (A name that
 * starts with ':' has no prefix to name; libxml2 reports it itself.) */
static bool s_prefixed_without_ns(const xmlChar *name, const xmlNs *ns)
{
    const char *colon = strchr((const char *) name, ':');
    return !ns && colon && colon != (const char *) name;
}

const xmlChar *knoop_xml_undeclared(xmlNodePtr list)
{
    for (xmlNodePtr n = list; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (s_prefixed_without_ns(n->name, n->ns))
            return n->name;
        for (xmlAttrPtr a = n->properties; a; a = a->next)
            if (s_prefixed_without_ns(a->name, a->ns))
                return a->name;
        const xmlChar *inner = knoop_xml_undeclared(n->children);
        if (inner)
            return inner;
    }
    return NULL;
}

/* libxml2's error text as one line: to the first newline, no trailing
 * blanks. */
static void s_one_line(char *msg, size_t size, const char *text)
{
    snprintf(msg, size, "%s", text);
    msg[strcspn(msg, "\n")] = '\0';
    size_t n = strlen(msg);
    while (n && msg[n - 1] == ' ')
        msg[--n] = '\0';
}

/* The first namespace error the parser reports, in document order. */
typedef struct {
    int  line;          /* 0: none yet; -1: one without a line */
    char msg[200];
} ns_first_t;

/* The parser's structured-error hook (data is the context: libxml2 passes
 * its userData, the context itself unless a caller set another). */
static void s_on_error(void *data, xmlErrorPtr e)
{
    xmlParserCtxtPtr pc = data;
    ns_first_t *first = pc ? pc->_private : NULL;
    if (!first || first->line || !e || e->domain != XML_FROM_NAMESPACE ||
        e->level < XML_ERR_ERROR)
        return;
    s_one_line(first->msg, sizeof first->msg, e->message ? e->message : "namespace error");
    first->line = e->line > 0 ? e->line : -1;
}

xmlDocPtr knoop_xml_read(const char *xml, size_t len, char *err, size_t err_size)
{
    xmlInitParser();
    if (len > INT32_MAX) {
        snprintf(err, err_size, "document too big");
        return NULL;
    }
    xmlParserCtxtPtr pc = xmlNewParserCtxt();
    if (!pc || !pc->sax) {
        xmlFreeParserCtxt(pc);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    ns_first_t first = { 0 };
    pc->_private = &first;
    pc->sax->serror = s_on_error;
    xmlDocPtr doc = xmlCtxtReadMemory(pc, xml, (int) len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOCDATA |
                                      XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    char msg[200] = "not well-formed";
    xmlErrorPtr last = xmlCtxtGetLastError(pc);
    if (last && last->message)
        s_one_line(msg, sizeof msg, last->message);
    int line = last ? last->line : 0;
    if (!doc) {
        snprintf(err, err_size, "not XML: %s (line %d)", msg, line);
    } else if (!pc->nsWellFormed) {
        if (first.line) {                   /* else the last error stands */
            snprintf(msg, sizeof msg, "%s", first.msg);
            line = first.line > 0 ? first.line : 0;
        }
        snprintf(err, err_size, "not namespace-well-formed: %s (line %d)", msg, line);
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(pc);
    return doc;
}
