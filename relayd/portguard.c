/* portguard: see portguard.h. */
#include "portguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The lock: an abstract Unix socket named after the numeric address. 1 = held by another process. */
static int take_lock(const char *numeric, int *lock_fd, char *err, size_t errlen)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "relayd-listen/%s", numeric);
  if (n < 0 || (size_t)n >= sizeof sa.sun_path - 1) {
    snprintf(err, errlen, "address %s too long for its lock", numeric);
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "lock socket: %s", strerror(errno));
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) < 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE)
      return 1;
    snprintf(err, errlen, "lock @relayd-listen/%s: %s", numeric, strerror(e));
    return -1;
  }
  *lock_fd = fd;
  return 0;
}

enum portguard_result portguard_claim(const char *what, const char *hostport, int *lock_fd, char *err,
                                      size_t errlen)
{
  if (lock_fd)
    *lock_fd = -1;
  char host[128];
  const char *colon = strrchr(hostport, ':');
  if (!colon || colon == hostport || !colon[1] || (size_t)(colon - hostport) >= sizeof host) {
    snprintf(err, errlen, "%s '%s' must be HOST:PORT", what, hostport);
    return PORTGUARD_ERROR;
  }
  size_t hl = (size_t)(colon - hostport);
  memcpy(host, hostport, hl);
  host[hl] = '\0';
  if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  }
  if (strcmp(colon + 1, "0") == 0)
    return PORTGUARD_OK;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai;
  int rc = getaddrinfo(host, colon + 1, &hints, &ai);
  if (rc != 0) {
    snprintf(err, errlen, "%s '%s': %s", what, hostport, gai_strerror(rc));
    return PORTGUARD_ERROR;
  }
  /* the numeric form names the lock: "localhost:8080" and "127.0.0.1:8080" are one address */
  char numeric[INET6_ADDRSTRLEN + 16], ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ai->ai_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ai->ai_addr;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    port = ntohs(s6->sin6_port);
    snprintf(numeric, sizeof numeric, "[%s]:%d", ip, port);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ai->ai_addr;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    port = ntohs(s4->sin_port);
    snprintf(numeric, sizeof numeric, "%s:%d", ip, port);
  }
  enum portguard_result res = PORTGUARD_OK;
  if (lock_fd) {
    int l = take_lock(numeric, lock_fd, err, errlen);
    if (l != 0) {
      if (l > 0)
        snprintf(err, errlen, "%s %s is already served by another relayd (its lock "
                 "@relayd-listen/%s is held); stop it or choose another address", what, hostport,
                 numeric);
      freeaddrinfo(ai);
      return l > 0 ? PORTGUARD_IN_USE : PORTGUARD_ERROR;
    }
  }
  /* the probe: without SO_REUSEPORT, any socket bound there (listening or not) is a conflict;
     SO_REUSEADDR only lets it past connections of an earlier run in TIME_WAIT */
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) {
    snprintf(err, errlen, "%s %s: %s", what, hostport, strerror(errno));
    res = PORTGUARD_ERROR;
  } else {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
      int e = errno;
      if (e == EADDRINUSE) {
        snprintf(err, errlen, "%s %s is already served by another program (`ss -ltnp 'sport = :%d'` "
                 "shows which); stop it or choose another address", what, hostport, port);
        res = PORTGUARD_IN_USE;
      } else {
        snprintf(err, errlen, "cannot listen on %s (%s): %s", hostport, what, strerror(e));
        res = PORTGUARD_ERROR;
      }
    }
    close(fd);
  }
  freeaddrinfo(ai);
  if (res != PORTGUARD_OK && lock_fd && *lock_fd >= 0) {
    close(*lock_fd);
    *lock_fd = -1;
  }
  return res;
}
