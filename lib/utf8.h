/*
 * utf8.h — UTF-8 as RFC 3629 defines it, checked in one place: no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. jansson and
 * every other protobuf reader apply the same rule, so text we accept is text
 * they accept.
 *
 * Pure functions, thread-safe, no allocation.
 */
#ifndef KNOOP_UTF8_H
#define KNOOP_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the well-formed UTF-8 sequence at p, of which avail
 * bytes may be read (avail >= 1), or 0 when the bytes there are not one. */
size_t knoop_utf8_seq(const unsigned char *p, size_t avail);

/* True when the len bytes at s are well-formed UTF-8 (len 0: true). A NUL
 * byte is a valid character here; callers that need C strings check that. */
bool knoop_utf8_valid(const void *s, size_t len);

/* Text meant for a person or a log line: a NUL-terminated string of at most
 * max bytes, well-formed UTF-8, with no C0 control character and no DEL, so
 * that it cannot forge a line of our one-line-per-event logs. NULL is "". */
bool knoop_utf8_text_valid(const char *s, size_t max);

#endif
