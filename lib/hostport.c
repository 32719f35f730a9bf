/* hostport.c — numeric HOST:PORT to a socket address. */
#include "hostport.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

int knoop_hostport_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
    char host[64];
    const char *port;
    if (!text || !*text)
        return KNOOP_EINVAL;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t) (end - text - 1) >= sizeof host)
            return KNOOP_EINVAL;
        memcpy(host, text + 1, (size_t) (end - text - 1));
        host[end - text - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || strchr(text, ':') != colon || (size_t) (colon - text) >= sizeof host)
            return KNOOP_EINVAL;
        memcpy(host, text, (size_t) (colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*host || !*port || *end || p < 1 || p > 65535)
        return KNOOP_EINVAL;
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return KNOOP_EINVAL;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return KNOOP_OK;
}
