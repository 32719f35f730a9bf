/*
 * timefmt.h — the text forms of time we read and write, in one place:
 *
 *   our own (certificates, --since, audit)   2026-12-01T06:20:44Z
 *       exactly this form, UTC, years 0000..9999, no leap second;
 *   RFC 3339 date-time (JSON payloads)       2021-07-14T18:00:00.250+02:00
 *       fraction optional (dropped), zone required ("Z" or +-hh:mm);
 *   CAP 1.2 / EDXL-DE dateTime               2021-07-14T23:45:00+02:00
 *       no "Z", no fraction; offset up to +-14:59; second 60 allowed.
 *
 * A date that does not exist (2025-02-30) is refused in every form. All
 * functions are pure and thread-safe; times are Unix seconds.
 */
#ifndef KNOOP_TIMEFMT_H
#define KNOOP_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

/* The range of years 0000..9999 that the forms can express. */
#define KNOOP_TIME_MIN (-62167219200LL)   /* 0000-01-01T00:00:00Z */
#define KNOOP_TIME_MAX 253402300799LL     /* 9999-12-31T23:59:59Z */

/* "YYYY-MM-DDTHH:MM:SSZ" -> *out. KNOOP_EMALFORMED for anything else. */
int  knoop_time_parse(const char *text, int64_t *out);
/* t as "YYYY-MM-DDTHH:MM:SSZ" (clamped to KNOOP_TIME_MIN..MAX, so the
 * output always parses back). */
void knoop_time_format(char out[21], int64_t t);

/* Any RFC 3339 date-time with its zone: "2021-07-14T18:00:00+02:00",
 * "...T16:00:00.250Z"; a date that does not exist, no zone, or anything
 * else is KNOOP_EMALFORMED. *out gets unix seconds (fraction dropped). */
int  knoop_time_parse_rfc3339(const char *text, int64_t *out);

/* A CAP dateTime "YYYY-MM-DDThh:mm:ss+hh:mm" (or -hh:mm): KNOOP_OK with
 * *out the Unix time and, when offset is not NULL, *offset the zone offset
 * in seconds east of UTC; KNOOP_EMALFORMED otherwise. Either out may be
 * NULL (a check only). */
int  knoop_time_parse_cap(const char *text, int64_t *out, int *offset);
/* t as a CAP dateTime in the zone offset seconds east of UTC (a whole
 * number of minutes, |offset| < 15 h): "2021-07-15T01:00:00+02:00". */
void knoop_time_format_cap(char out[26], int64_t t, int offset);

#endif
