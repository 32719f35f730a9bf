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

/* The first namespace error the parser reports (an undeclared prefix, a
 * prefix declared empty or as no URI), in document order: libxml2's
 * context keeps only the last. */
typedef struct {
    int  line;          /* 0: none yet; -1: one without a line */
    char msg[200];
} knoop_xml_ns_first_t;

/* Before reading with pc: keep its first namespace error in *first (which
 * must outlive the read; pc->_private and pc->sax->serror are taken). */
void knoop_xml_keep_first_ns_error(xmlParserCtxtPtr pc, knoop_xml_ns_first_t *first);

/* For a document the parser found not namespace-well-formed: its first
 * namespace error as one line in msg (else the last error, as
 * knoop_xml_last_error); returns its line number, 0 if unknown. */
int knoop_xml_ns_error(xmlParserCtxtPtr pc, const knoop_xml_ns_first_t *first, char *msg,
                       size_t size);

#endif
