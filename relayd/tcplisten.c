/* tcplisten: see tcplisten.h. */
#include "tcplisten.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tcplisten_open(const char *what, const char *hostport, int backlog, bool shared, char *bound,
                   size_t boundlen, char *err, size_t errlen)
{
  char host[128];
  const char *colon = strrchr(hostport, ':');
  size_t hl = colon ? (size_t)(colon - hostport) : 0;
  if (!colon || hl == 0 || !colon[1] || hl >= sizeof host) {
    snprintf(err, errlen, "%s '%s' must be HOST:PORT", what, hostport);
    return -1;
  }
  memcpy(host, hostport, hl);
  host[hl] = '\0';
  if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai;
  int rc = getaddrinfo(host, colon + 1, &hints, &ai);
  if (rc != 0) {
    snprintf(err, errlen, "%s '%s': %s", what, hostport, gai_strerror(rc));
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | (shared ? SOCK_NONBLOCK : 0), 0);
  int one = 1;
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (shared)
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
    snprintf(err, errlen, "%s %s: %s", what, hostport, strerror(errno));
    if (fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  if (bound) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
      snprintf(bound, boundlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
    else
      snprintf(bound, boundlen, "%s", hostport);
  }
  return fd;
}
