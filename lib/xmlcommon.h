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

/* The first element or attribute in list (and its descendants, and the
 * nodes after it) whose prefix is not declared: its qualified name, or
 * NULL when every prefix is. */
const xmlChar *knoop_xml_undeclared(xmlNodePtr list);

/* The parser's last error as one line in msg (left as the caller's default
 * text when there is none); returns its line number, 0 if unknown. */
int knoop_xml_last_error(xmlParserCtxtPtr pc, char *msg, size_t size);

/* For a document the parser found not namespace-well-formed: the first
 * undeclared prefix in document order, named, as one line in msg; returns
 * its line number. Another namespace error (a prefix declared empty, or as
 * no URI) is given as the parser's last error, as knoop_xml_last_error. */
int knoop_xml_ns_error(xmlParserCtxtPtr pc, xmlDocPtr doc, char *msg, size_t size);

#endif
