/* utf8.c — the one UTF-8 check. See utf8.h. */
#include "utf8.h"

#include <string.h>

size_t knoop_utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;        /* range of the second byte */
    if (c < 0x80)
        return 1;
    else if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;               /* overlong */
        if (c == 0xed) hi = 0x9f;               /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;               /* overlong */
        if (c == 0xf4) hi = 0x8f;               /* above U+10FFFF */
    } else
        return 0;                               /* continuation, c0, c1, f5..ff */
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

bool knoop_utf8_valid(const void *s, size_t len)
{
    const unsigned char *u = s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) {                      /* the common case: ASCII */
            i++;
            continue;
        }
        size_t n = knoop_utf8_seq(u + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

bool knoop_utf8_text_valid(const char *s, size_t max)
{
    if (!s)
        return true;
    size_t len = strnlen(s, max + 1);
    if (len > max)
        return false;
    const unsigned char *u = (const unsigned char *) s;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return false;
        size_t n = knoop_utf8_seq(u + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}
