/* xmlcommon.c — see xmlcommon.h. */
#include "xmlcommon.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool s_prefixed_without_ns(const xmlChar *name, const xmlNs *ns)
{
    return !ns && strchr((const char *) name, ':');
}

/* The first element, in document order, that uses an undeclared prefix or
 * carries an attribute that does; *name the qualified name at fault. */
static xmlNodePtr s_undeclared(xmlNodePtr list, const xmlChar **name)
{
    for (xmlNodePtr n = list; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (s_prefixed_without_ns(n->name, n->ns)) {
            *name = n->name;
            return n;
        }
        for (xmlAttrPtr a = n->properties; a; a = a->next)
            if (s_prefixed_without_ns(a->name, a->ns)) {
                *name = a->name;
                return n;
            }
        xmlNodePtr inner = s_undeclared(n->children, name);
        if (inner)
            return inner;
    }
    return NULL;
}

const xmlChar *knoop_xml_undeclared(xmlNodePtr list)
{
    const xmlChar *name = NULL;
    return s_undeclared(list, &name) ? name : NULL;
}

int knoop_xml_ns_error(xmlParserCtxtPtr pc, xmlDocPtr doc, char *msg, size_t size)
{
    const xmlChar *name = NULL;
    xmlNodePtr at = doc ? s_undeclared(doc->children, &name) : NULL;
    if (!at)
        return knoop_xml_last_error(pc, msg, size);
    const char *colon = strchr((const char *) name, ':');
    snprintf(msg, size, "the prefix of %s is not declared (no xmlns:%.*s in scope)",
             (const char *) name, (int) (colon - (const char *) name), (const char *) name);
    long line = xmlGetLineNo(at);
    return line > 0 && line <= INT32_MAX ? (int) line : 0;
}

int knoop_xml_last_error(xmlParserCtxtPtr pc, char *msg, size_t size)
{
    xmlErrorPtr e = pc ? xmlCtxtGetLastError(pc) : NULL;
    if (!e)
        return 0;
    if (e->message) {
        snprintf(msg, size, "%s", e->message);
        msg[strcspn(msg, "\n")] = '\0';
        size_t n = strlen(msg);
        while (n && msg[n - 1] == ' ')
            msg[--n] = '\0';
    }
    return e->line;
}
