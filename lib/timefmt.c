/* timefmt.c — the text forms of time. See timefmt.h. */
#include "timefmt.h"
#include "knoop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int knoop_time_parse(const char *text, int64_t *out)
{
    /* Exactly "YYYY-MM-DDTHH:MM:SSZ": the one form we write. */
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (!text || strlen(text) != sizeof shape - 1)
        return KNOOP_EMALFORMED;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !(text[i] >= '0' && text[i] <= '9') : text[i] != shape[i])
            return KNOOP_EMALFORMED;
    }
#define D2(p) ((text[p] - '0') * 10 + (text[(p) + 1] - '0'))
    int year = D2(0) * 100 + D2(2);
    int mon = D2(5), day = D2(8), hour = D2(11), min = D2(14), sec = D2(17);
#undef D2
    /* No leap seconds: Unix time has none, and timegm would roll 60 over. */
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
        return KNOOP_EMALFORMED;
    struct tm tm = {
        .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
        .tm_hour = hour, .tm_min = min, .tm_sec = sec,
    };
    time_t t = timegm(&tm);
    /* timegm normalises 2025-02-30 into March; a date that does not come
     * back unchanged did not exist. */
    if (tm.tm_mday != day || tm.tm_mon != mon - 1)
        return KNOOP_EMALFORMED;
    *out = (int64_t) t;
    return KNOOP_OK;
}

int knoop_time_parse_rfc3339(const char *text, int64_t *out)
{
    /* "YYYY-MM-DDTHH:MM:SS", fraction optional, then "Z" or "+HH:MM" /
     * "-HH:MM": RFC 3339 section 5.6 (date-time), which demands a zone. */
    if (!text)
        return KNOOP_EMALFORMED;
    size_t len = strnlen(text, 64);
    if (len < 20 || len >= 64)
        return KNOOP_EMALFORMED;
    char base[21];
    memcpy(base, text, 19);
    base[10] = 'T';
    if (text[10] != 'T' && text[10] != 't')
        return KNOOP_EMALFORMED;
    base[19] = 'Z';
    base[20] = '\0';
    int64_t t;
    if (knoop_time_parse(base, &t) != KNOOP_OK)
        return KNOOP_EMALFORMED;
    const char *p = text + 19;
    if (*p == '.') {
        size_t nd = strspn(p + 1, "0123456789");
        if (nd == 0 || nd > 9)
            return KNOOP_EMALFORMED;
        p += 1 + nd;
    }
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        *out = t;
        return KNOOP_OK;
    }
    if ((p[0] != '+' && p[0] != '-') || strlen(p) != 6 || p[3] != ':')
        return KNOOP_EMALFORMED;
    for (int i = 1; i < 6; i++)
        if (i != 3 && !(p[i] >= '0' && p[i] <= '9'))
            return KNOOP_EMALFORMED;
    int oh = (p[1] - '0') * 10 + (p[2] - '0'), om = (p[4] - '0') * 10 + (p[5] - '0');
    if (oh > 23 || om > 59)
        return KNOOP_EMALFORMED;
    int64_t off = (int64_t) oh * 3600 + om * 60;
    *out = p[0] == '+' ? t - off : t + off;
    return KNOOP_OK;
}

void knoop_time_format(char out[21], int64_t t)
{
    /* Clamp to what the format can express, so the output always parses. */
    if (t < KNOOP_TIME_MIN)
        t = KNOOP_TIME_MIN;
    if (t > KNOOP_TIME_MAX)
        t = KNOOP_TIME_MAX;
    time_t tt = (time_t) t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        memcpy(out, "0000-01-01T00:00:00Z", 21);
        return;
    }
    snprintf(out, 21, "%04u-%02u-%02uT%02u:%02u:%02uZ",
             (unsigned) (tm.tm_year + 1900) % 10000u, (unsigned) (tm.tm_mon + 1) % 100u,
             (unsigned) tm.tm_mday % 100u, (unsigned) tm.tm_hour % 100u,
             (unsigned) tm.tm_min % 100u, (unsigned) tm.tm_sec % 100u);
}

int knoop_time_parse_cap(const char *text, int64_t *out, int *offset)
{
    static const char form[] = "dddd-dd-ddTdd:dd:dd+dd:dd";
    if (!text || strnlen(text, sizeof form) != sizeof form - 1)
        return KNOOP_EMALFORMED;
    for (size_t i = 0; form[i]; i++) {
        char f = form[i], c = text[i];
        bool ok = f == 'd' ? (c >= '0' && c <= '9') : f == '+' ? (c == '+' || c == '-')
                                                               : c == f;
        if (!ok)
            return KNOOP_EMALFORMED;
    }
#define D2(p) ((text[p] - '0') * 10 + (text[(p) + 1] - '0'))
    int y = D2(0) * 100 + D2(2);
    int mo = D2(5), d = D2(8), h = D2(11), mi = D2(14), se = D2(17);
    int zh = D2(20), zm = D2(23);
#undef D2
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60 ||
        zh > 14 || zm > 59)
        return KNOOP_EMALFORMED;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return KNOOP_EMALFORMED;
    int off = (zh * 3600 + zm * 60) * (text[19] == '-' ? -1 : 1);
    if (offset)
        *offset = off;
    if (out) {
        /* A leap second (:60) rolls over into the next minute, as Unix
         * time has no leap seconds. */
        struct tm tm = {
            .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
            .tm_hour = h, .tm_min = mi, .tm_sec = se,
        };
        *out = (int64_t) timegm(&tm) - off;
    }
    return KNOOP_OK;
}

void knoop_time_format_cap(char out[26], int64_t t, int offset)
{
    int64_t local = t + offset;
    if (local < KNOOP_TIME_MIN)
        local = KNOOP_TIME_MIN;
    if (local > KNOOP_TIME_MAX)
        local = KNOOP_TIME_MAX;
    char base[21];
    knoop_time_format(base, local);             /* "YYYY-MM-DDTHH:MM:SSZ" */
    int a = abs(offset) / 60;
    snprintf(out, 26, "%.19s%c%02d:%02d", base, offset < 0 ? '-' : '+', (a / 60) % 100,
             a % 60);
}
