/* admin_client: see admin_client.h. */
#include "admin_client.h"
#include "i18n.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdbool.h>
#include <sys/un.h>
#include <unistd.h>

static void io_error(bool reading, char *err, size_t errlen)
{
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    snprintf(err, errlen, reading ? _("timed out after %d s reading from relayd")
                                  : _("timed out after %d s writing to relayd"), ADMIN_TIMEOUT_S);
  else
    snprintf(err, errlen, reading ? _("error reading from relayd: %s") : _("error writing to relayd: %s"),
             strerror(errno));
}

/* Reads one line (without its newline) into a fresh NUL-terminated buffer at *out; the caller frees.
 * Peeks first so that nothing after the newline is consumed. */
static int read_line(int fd, char **out, char *err, size_t errlen)
{
  size_t cap = 16384, len = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    snprintf(err, errlen, _("out of memory"));
    return -1;
  }
  for (;;) {
    char peek[4096];
    if (len == ADMIN_REPLY_MAX) {
      snprintf(err, errlen, _("relayd sent a line longer than %d bytes"), ADMIN_REPLY_MAX);
      break;
    }
    if (cap - len < sizeof peek && cap < ADMIN_REPLY_MAX) {    /* grows by doubling up to the bound */
      size_t ncap = cap * 2 < ADMIN_REPLY_MAX ? cap * 2 : ADMIN_REPLY_MAX;
      char *nb = realloc(buf, ncap + 1);
      if (!nb) {
        snprintf(err, errlen, _("out of memory"));
        break;
      }
      buf = nb;
      cap = ncap;
    }
    size_t room = cap - len;
    ssize_t n = recv(fd, peek, room < sizeof peek ? room : sizeof peek, MSG_PEEK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      io_error(true, err, errlen);
      break;
    }
    if (n == 0) {
      snprintf(err, errlen, "%s", len ? _("relayd closed the connection in the middle of a line")
                                      : _("relayd closed the connection"));
      break;
    }
    char *nl = memchr(peek, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
    ssize_t got;
    do
      got = recv(fd, buf + len, take, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
      io_error(true, err, errlen);
      break;
    }
    if (got != (ssize_t)take) {     /* the peeked bytes were queued: a short read is a bug */
      snprintf(err, errlen, _("short read from relayd (%zd of %zu bytes)"), got, take);
      break;
    }
    len += take;
    if (nl) {
      buf[len - 1] = '\0';
      *out = buf;
      return 0;
    }
  }
  free(buf);
  return -1;
}

static int write_all(int fd, const char *p, size_t n, char *err, size_t errlen)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      io_error(false, err, errlen);
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads one line and parses it as a JSON object. */
static cJSON *read_object(int fd, char *err, size_t errlen)
{
  char *line = NULL;
  if (read_line(fd, &line, err, errlen) != 0)
    return NULL;
  cJSON *o = cJSON_Parse(line);
  if (!cJSON_IsObject(o)) {
    snprintf(err, errlen, _("relayd sent a line that is not a JSON object: '%.80s'"), line);
    cJSON_Delete(o);
    o = NULL;
  }
  free(line);
  return o;
}

/* The message of an {"ok":false,"error":{"code":..,"message":..}} answer. */
static const char *error_message(const cJSON *o)
{
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
  if (!msg)
    msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
  return msg ? msg : "no reason given";
}

int admin_connect(const char *path, char *err, size_t errlen)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (!path || !*path) {
    snprintf(err, errlen, _("no admin socket path"));
    errno = EINVAL;
    return -1;
  }
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, _("admin socket path is longer than %zu bytes: %s"), sizeof sa.sun_path - 1,
             path);
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, _("cannot create a socket: %s"), strerror(errno));
    return -1;
  }
  struct timeval tv = { .tv_sec = ADMIN_TIMEOUT_S };
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0
      || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
    int e = errno;
    snprintf(err, errlen, _("cannot set a timeout on the admin socket: %s"), strerror(e));
    close(fd);
    errno = e;
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    if (e == ENOENT || e == ECONNREFUSED)
      snprintf(err, errlen, _("relayd is not running at %s (%s)"), path, strerror(e));
    else
      snprintf(err, errlen, _("cannot connect to %s: %s"), path, strerror(e));
    close(fd);
    errno = e;
    return -1;
  }

  cJSON *g = read_object(fd, err, errlen);
  if (!g) {
    close(fd);
    errno = EPROTO;
    return -1;
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, "relay_admin");
  int rc = -1;
  bool refused = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(g, "ok"));
  if (refused)
    snprintf(err, errlen, _("relayd refused the connection: %s"), error_message(g));
  else if (!cJSON_IsNumber(v))
    snprintf(err, errlen, _("%s does not speak the relay admin protocol (no \"relay_admin\" in the "
             "greeting)"), path);
  else if (v->valuedouble != ADMIN_PROTOCOL_VERSION)
    snprintf(err, errlen, _("relayd speaks admin protocol version %g; this client speaks version %d"),
             v->valuedouble, ADMIN_PROTOCOL_VERSION);
  else
    rc = 0;
  cJSON_Delete(g);
  if (rc != 0) {
    close(fd);
    errno = refused ? EACCES : EPROTO;
    return -1;
  }
  return fd;
}

cJSON *admin_call(int fd, const char *cmd_json_line, char *err, size_t errlen)
{
  size_t n = strlen(cmd_json_line);
  int add_nl = n == 0 || cmd_json_line[n - 1] != '\n';
  if (n + (size_t)add_nl > ADMIN_LINE_MAX) {
    snprintf(err, errlen, _("request is longer than %d bytes"), ADMIN_LINE_MAX);
    return NULL;
  }
  if (memchr(cmd_json_line, '\n', n - (size_t)!add_nl)) {
    snprintf(err, errlen, _("a request must be a single line"));
    return NULL;
  }
  if (write_all(fd, cmd_json_line, n, err, errlen) != 0
      || (add_nl && write_all(fd, "\n", 1, err, errlen) != 0))
    return NULL;
  return read_object(fd, err, errlen);
}

void admin_close(int fd)
{
  if (fd >= 0)
    close(fd);
}

int admin_reload_db(const char *socket_path, char *dbid, size_t dbidlen, char *err, size_t errlen)
{
  if (dbid && dbidlen)
    dbid[0] = '\0';
  if (!socket_path || !*socket_path) {
    snprintf(err, errlen, _("no admin socket given"));
    return 1;
  }
  int fd = admin_connect(socket_path, err, errlen);
  if (fd < 0)
    return errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR ? 1 : -1;
  cJSON *r = admin_call(fd, "{\"cmd\":\"reload\"}", err, errlen);
  admin_close(fd);
  int rc = 0;
  if (!r)
    rc = -1;
  else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
    snprintf(err, errlen, "%s", error_message(r));
    rc = -1;
  } else if (dbid && dbidlen) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "database_id"));
    snprintf(dbid, dbidlen, "%s", id ? id : "");
  }
  cJSON_Delete(r);
  return rc;
}

int admin_reload(const char *socket_path, char *err, size_t errlen)
{
  return admin_reload_db(socket_path, NULL, 0, err, errlen);
}

int admin_notify_reload(const char *socket_path, int quiet)
{
  char err[512];
  int rc = admin_reload(socket_path, err, sizeof err);
  if (rc < 0 && !quiet)
    fprintf(stderr, _("%s: relayd at %s did not reload: %s\n"), program_invocation_short_name,
            socket_path, err);
  return rc;
}
