/* names.c — names, tokens and partner ids. See names.h. */
#include "names.h"
#include "knoop.h"

#include <string.h>

bool knoop_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool knoop_name_valid(const char *s, size_t max)
{
    if (!s)
        return false;
    size_t len = strnlen(s, max + 1);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!knoop_name_char(s[i]))
            return false;
    return true;
}

bool knoop_id_valid(const char *id)
{
    if (!knoop_name_valid(id, KNOOP_ID_MAX) || id[0] == '-')
        return false;
    return strchr(id, '_') == NULL;
}

bool knoop_type_name_valid(const char *t)
{
    if (!t)
        return false;
    size_t len = strnlen(t, KNOOP_TYPE_MAX + 1);
    if (len > KNOOP_TYPE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.'))
            return false;
    }
    return true;
}
