/* xmlcommon.c — see xmlcommon.h. */
#include "xmlcommon.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool s_prefixed_without_ns(const xmlChar *name, const xmlNs *ns)
{
    return !ns && strchr((const char *) name, ':');
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
