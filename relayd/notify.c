/* notify: see notify.h. */
#include "notify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
static uint64_t watchdog_usec;

void notify_init(void)
{
  const char *path = getenv("NOTIFY_SOCKET");
  const char *wd = getenv("WATCHDOG_USEC"), *wdpid = getenv("WATCHDOG_PID");
  int64_t v;
  if (wd && parse_int64(wd, &v) == 0 && v > 0 &&
      (!wdpid || (parse_int64(wdpid, &v) == 0 ? v == (int64_t)getpid() : 0)))
    watchdog_usec = (uint64_t)atoll(wd);
  if (!path || !*path)
    return;
  size_t len = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof notify_addr.sun_path) {
    log_msg(LOG_WARN, "NOTIFY_SOCKET is not a usable Unix socket address; not notifying", "");
    return;
  }
  memset(&notify_addr, 0, sizeof notify_addr);
  notify_addr.sun_family = AF_UNIX;
  memcpy(notify_addr.sun_path, path, len);
  if (path[0] == '@') {           /* abstract namespace: a leading NUL, no terminator */
    notify_addr.sun_path[0] = '\0';
    notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  } else {
    notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  }
  notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (notify_fd < 0)
    log_msg(LOG_WARN, "cannot open the notify socket", "error=\"%m\"");
}

int notify_send(const char *fmt, ...)
{
  if (notify_fd < 0)
    return 0;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -1;
  if ((size_t)n >= sizeof msg)
    n = (int)sizeof msg - 1;
  if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&notify_addr,
             notify_addrlen) < 0) {
    log_msg(LOG_DEBUG, "notify message not sent", "error=\"%m\"");
    return -1;
  }
  return 0;
}

/* STATUS= takes one line: newlines in s become spaces. */
static void one_line(char *dst, size_t n, const char *s)
{
  size_t i = 0;
  for (; s && s[i] && i < n - 1; i++)
    dst[i] = s[i] == '\n' ? ' ' : s[i];
  dst[i] = '\0';
}

void notify_ready(const char *status)
{
  char st[512];
  one_line(st, sizeof st, status);
  notify_send("READY=1\nSTATUS=%s\nMAINPID=%ld", st, (long)getpid());
}

void notify_reloading(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  notify_send("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
              (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_stopping(const char *status)
{
  char st[512];
  one_line(st, sizeof st, status);
  notify_send("STOPPING=1\nSTATUS=%s", st);
}

uint64_t notify_watchdog_usec(void)
{
  return notify_fd >= 0 ? watchdog_usec : 0;
}

void notify_close(void)
{
  if (notify_fd >= 0)
    close(notify_fd);
  notify_fd = -1;
}
