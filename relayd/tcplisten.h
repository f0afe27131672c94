/*
 * tcplisten: opens a listening TCP socket on a HOST:PORT setting ("127.0.0.1:8080", "[::1]:0",
 * "localhost:8079"; the port numeric). One home for the parsing, the resolving and the socket
 * options of relayd's TCP listeners.
 * Callers: main.c (the API address: ONE socket, non-blocking, TCP_NODELAY, that every worker
 * watches with EPOLLEXCLUSIVE: worker.h) and metrics.c (metrics_listen). portguard.c checks an
 * address before either binds.
 * Never: takes an address's lock (portguard's) or serves on the socket.
 */
#ifndef RELAY_TCPLISTEN_H
#define RELAY_TCPLISTEN_H

#include <stdbool.h>
#include <stddef.h>

/* A listening socket on hostport with SO_REUSEADDR (never SO_REUSEPORT: no other socket, ours or
 * another program's, may join the address); shared (served by several threads) adds O_NONBLOCK and
 * TCP_NODELAY. what names the setting in messages ("listen", "metrics_listen"). Returns the
 * descriptor (owned by the caller: close it) or -1 with a message in err. When bound is not NULL it
 * receives the address actually bound, numeric ("127.0.0.1:41234" for port 0). */
int tcplisten_open(const char *what, const char *hostport, int backlog, bool shared, char *bound,
                   size_t boundlen, char *err, size_t errlen);

#endif
