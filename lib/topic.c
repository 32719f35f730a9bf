/* topic.c — topic validation and wildcard matching. See topic.h. */
#include "topic.h"

#include <string.h>

/* Shared walk: wildcards allowed or not. */
static int s_validate(const char *s, bool wildcards)
{
    if (!s)
        return KNOOP_ETOPIC;
    size_t len = strnlen(s, KNOOP_TOPIC_MAX + 1);
    if (len == 0 || len > KNOOP_TOPIC_MAX)
        return KNOOP_ETOPIC;
    int depth = 0;
    const char *p = s;
    while (1) {
        const char *dot = strchr(p, '.');
        size_t tl = dot ? (size_t) (dot - p) : strlen(p);
        if (tl == 0 || tl > KNOOP_TOKEN_MAX)
            return KNOOP_ETOPIC;
        if (++depth > KNOOP_TOPIC_DEPTH)
            return KNOOP_ETOPIC;
        if (tl == 1 && (*p == '*' || *p == '>')) {
            if (!wildcards)
                return KNOOP_ETOPIC;
            if (*p == '>' && dot)       /* '>' must be the last token */
                return KNOOP_ETOPIC;
        } else {
            for (size_t i = 0; i < tl; i++)
                if (!knoop_name_char(p[i]))
                    return KNOOP_ETOPIC;
        }
        if (!dot)
            break;
        p = dot + 1;
    }
    return KNOOP_OK;
}

int knoop_topic_validate(const char *topic)
{
    return s_validate(topic, false);
}

int knoop_pattern_validate(const char *pattern)
{
    return s_validate(pattern, true);
}

bool knoop_topic_match(const char *pattern, const char *topic)
{
    const char *p = pattern, *t = topic;
    while (*p) {
        if (p[0] == '>' && p[1] == '\0')
            return *t != '\0';               /* '>' needs at least one token */
        if (*t == '\0')
            return false;                    /* pattern longer than topic */
        const char *pe = strchr(p, '.');
        const char *te = strchr(t, '.');
        size_t pl = pe ? (size_t) (pe - p) : strlen(p);
        size_t tl = te ? (size_t) (te - t) : strlen(t);
        if (!(pl == 1 && p[0] == '*') && (pl != tl || memcmp(p, t, pl) != 0))
            return false;
        if (!pe)
            return te == NULL;               /* both must end here */
        if (!te)
            return false;
        p = pe + 1;
        t = te + 1;
    }
    return *t == '\0';
}
