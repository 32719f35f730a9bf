/* xmlcommon.c — see xmlcommon.h. */
#include "xmlcommon.h"

#include <stdbool.h>
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

/* The parser's structured-error hook (data is the context: libxml2 passes
 * its userData, the context itself unless a caller set another). */
static void s_on_error(void *data, xmlErrorPtr e)
{
    xmlParserCtxtPtr pc = data;
    knoop_xml_ns_first_t *first = pc ? pc->_private : NULL;
    if (!first || first->line || !e || e->domain != XML_FROM_NAMESPACE ||
        e->level < XML_ERR_ERROR)
        return;
    s_one_line(first->msg, sizeof first->msg, e->message ? e->message : "namespace error");
    first->line = e->line > 0 ? e->line : -1;
}

void knoop_xml_keep_first_ns_error(xmlParserCtxtPtr pc, knoop_xml_ns_first_t *first)
{
    memset(first, 0, sizeof *first);
    if (!pc || !pc->sax)
        return;
    pc->_private = first;
    pc->sax->serror = s_on_error;
}

int knoop_xml_ns_error(xmlParserCtxtPtr pc, const knoop_xml_ns_first_t *first, char *msg,
                       size_t size)
{
    if (!first || !first->line)
        return knoop_xml_last_error(pc, msg, size);
    snprintf(msg, size, "%s", first->msg);
    return first->line > 0 ? first->line : 0;
}

int knoop_xml_last_error(xmlParserCtxtPtr pc, char *msg, size_t size)
{
    xmlErrorPtr e = pc ? xmlCtxtGetLastError(pc) : NULL;
    if (!e)
        return 0;
    if (e->message)
        s_one_line(msg, size, e->message);
    return e->line;
}
