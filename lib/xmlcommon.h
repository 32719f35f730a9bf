/*
 * xmlcommon.h — what the CAP and EDXL codecs (cap.c, edxl.c) share on top of
 * libxml2.
 *
 * libxml2 parses an element or attribute whose prefix nothing declares
 * (`<ds:Signature>` without `xmlns:ds`) as a name with a colon and no
 * namespace, and goes on. Such a fragment, written into a document, means
 * something else there than where it came from; a reader of that document
 * (ours included) refuses it as not namespace-well-formed.
 */
#ifndef KNOOP_XMLCOMMON_H
#define KNOOP_XMLCOMMON_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stddef.h>

/* Read a document as both codecs do: no network, CDATA as text, nothing
 * printed. NULL when it is not XML, or not namespace-well-formed (a prefix
 * used that nothing declares, or declared empty or as no URI: libxml2 would
 * go on, and what an element means would change with the document around
 * it), with the reason in err: "not XML: ... (line N)" or "not
 * namespace-well-formed: ... (line N)", libxml2's words for its first
 * namespace error (its context keeps only the last). The caller checks what
 * else it refuses (a DOCTYPE, its root). */
xmlDocPtr knoop_xml_read(const char *xml, size_t len, char *err, size_t err_size);

/* The first element or attribute in list (and its descendants, and the
 * nodes after it) whose prefix is not declared: its qualified name, or
 * NULL when every prefix is. */
const xmlChar *knoop_xml_undeclared(xmlNodePtr list);

#endif
