/*
 * xmlns.h — one check the CAP and EDXL codecs share on XML they build from
 * text: every namespace prefix used is declared.
 *
 * libxml2 parses an element or attribute whose prefix nothing declares
 * (`<ds:Signature>` without `xmlns:ds`) as a name with a colon and no
 * namespace, and goes on. Such a fragment, written into a document, means
 * something else there than where it came from; a reader of that document
 * (ours included) refuses it as not namespace-well-formed.
 */
#ifndef KNOOP_XMLNS_H
#define KNOOP_XMLNS_H

#include <libxml/tree.h>

/* The first element or attribute in list (and its descendants, and the
 * nodes after it) whose prefix is not declared: its qualified name, or
 * NULL when every prefix is. */
const xmlChar *knoop_xml_undeclared(xmlNodePtr list);

#endif
