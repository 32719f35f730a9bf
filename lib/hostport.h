/*
 * hostport.h — the HOST:PORT a knooppunt HTTP endpoint listens on (knoop-web
 * --listen, the daemons' --metrics): "127.0.0.1:8080", "[::1]:9400",
 * "0.0.0.0:9400". Numeric addresses only, so that a daemon never waits for
 * a name server at start and an operator sees exactly what is bound.
 */
#ifndef KNOOP_HOSTPORT_H
#define KNOOP_HOSTPORT_H

#include "knoop.h"

#include <sys/socket.h>

/* Parse text into *addr (an IPv4 or IPv6 socket address) and *len.
 * KNOOP_EINVAL when it is not a numeric HOST:PORT with a port of 1-65535. */
int knoop_hostport_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len);

#endif
