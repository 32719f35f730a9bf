/* xmlns.c — see xmlns.h. */
#include "xmlns.h"

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
