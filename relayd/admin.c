/* admin: see admin.h. */
#include "admin.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "util.h"
#include "worker.h"
#include "writer.h"

#define ADMIN_PROTOCOL 1
#define ADMIN_LINE_MAX (64 * 1024)
#define ADMIN_CLIENTS 64

struct admin_client {
  int fd;
  struct buf in;
};

typedef cJSON *(*verb_fn)(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen);

struct admin_verb {
  const char *name;
  verb_fn fn;
  const char *summary;
};

static const struct admin_verb admin_verbs[];
static const size_t admin_nverbs;

/* ---------------------------------------------------------------- verbs */

static cJSON *verb_help(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)ctx; (void)req; (void)err; (void)errlen;
  cJSON *res = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(res, "verbs");
  for (size_t i = 0; i < admin_nverbs; i++) {
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", admin_verbs[i].name);
    cJSON_AddStringToObject(v, "summary", admin_verbs[i].summary);
    cJSON_AddItemToArray(arr, v);
  }
  return res;
}

static cJSON *verb_ping(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)ctx; (void)req; (void)err; (void)errlen;
  cJSON *res = cJSON_CreateObject();
  cJSON_AddTrueToObject(res, "pong");
  return res;
}

static cJSON *verb_status(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req; (void)err; (void)errlen;
  uint64_t total = 0;
  int64_t in_flight = 0;
  for (int i = 0; i < ctx->nworkers; i++) {
    total += atomic_load(&ctx->workers[i].ctr.requests_total);
    in_flight += atomic_load(&ctx->workers[i].ctr.in_flight);
  }
  struct writer_stats ws;
  writer_get_stats(&ws);
  struct snapshot *s = snapshot_acquire(NULL);
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "version", RELAY_VERSION);
  cJSON_AddNumberToObject(res, "pid", (double)getpid());
  cJSON_AddNumberToObject(res, "uptime_s", (double)(now_unix() - ctx->started_at));
  cJSON_AddNumberToObject(res, "workers", ctx->nworkers);
  cJSON_AddNumberToObject(res, "in_flight", (double)in_flight);
  cJSON_AddNumberToObject(res, "requests_total", (double)total);
  cJSON_AddNumberToObject(res, "snapshot_version", s ? (double)s->version : 0);
  cJSON_AddNumberToObject(res, "snapshot_loaded_at", s ? (double)s->loaded_at : 0);
  cJSON_AddNumberToObject(res, "writer_backlog", (double)ws.backlog);
  cJSON_AddNumberToObject(res, "writer_rows_total", (double)ws.rows_total);
  snapshot_release(s);
  return res;
}

static cJSON *verb_reload(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req;
  if (admin_load_snapshot(ctx, err, errlen) < 0)
    return NULL;
  struct snapshot *s = snapshot_acquire(NULL);
  cJSON *res = cJSON_CreateObject();
  cJSON_AddNumberToObject(res, "snapshot_version", (double)s->version);
  cJSON_AddNumberToObject(res, "channels", (double)s->nchannels);
  cJSON_AddNumberToObject(res, "tokens", (double)s->ntokens);
  cJSON_AddNumberToObject(res, "users", (double)s->nusers);
  snapshot_release(s);
  return res;
}

/* The verb table: the protocol document lists exactly these (checked by a test). */
static const struct admin_verb admin_verbs[] = {
    {"help", verb_help, "list the verbs"},
    {"ping", verb_ping, "check that relayd answers"},
    {"status", verb_status, "version, uptime, in-flight and total requests, snapshot, writer"},
    {"reload", verb_reload, "rebuild the configuration snapshot from the database"},
};
static const size_t admin_nverbs = sizeof admin_verbs / sizeof admin_verbs[0];

/* ---------------------------------------------------------------- reload */

int admin_load_snapshot(struct admin_ctx *ctx, char *err, size_t errlen)
{
  static uint64_t next_version = 1;
  struct snapshot *s = snapshot_load(ctx->db, next_version, err, errlen);
  if (!s) {
    log_msg(LOG_ERR, "reload failed, the previous configuration stays", "error=\"%s\"", err);
    return -1;
  }
  next_version++;
  snapshot_publish(s);
  log_msg(LOG_INFO, "configuration loaded", "version=%llu channels=%zu tokens=%zu users=%zu",
          (unsigned long long)s->version, s->nchannels, s->ntokens, s->nusers);
  return 0;
}

/* ---------------------------------------------------------------- socket */

int admin_listen(const char *path, char *err, size_t errlen)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "admin socket path too long (at most %zu bytes)", sizeof sa.sun_path - 1);
    return -1;
  }
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "admin socket: %s", strerror(errno));
    return -1;
  }
  /* a stale socket file is removed only when nobody answers on it */
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
    close(fd);
    snprintf(err, errlen, "admin socket %s is in use by a running relayd", path);
    return -1;
  }
  close(fd);
  unlink(path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  mode_t old = umask(077);
  int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (rc == 0)
    rc = chmod(path, 0600);
  if (rc < 0 || listen(fd, 16) < 0) {
    snprintf(err, errlen, "admin socket %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static void send_line(int fd, cJSON *obj)
{
  char *s = cJSON_PrintUnformatted(obj);
  if (!s)
    return;
  size_t len = strlen(s);
  s[len] = '\0';
  struct iovec iov[2] = {{s, len}, {(char *)"\n", 1}};
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
  ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
  (void)w;
  free(s);
}

static void send_error(int fd, const cJSON *id, const char *code, const char *msg)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddFalseToObject(o, "ok");
  if (id)
    cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddStringToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", msg);
  send_line(fd, o);
  cJSON_Delete(o);
}

static void handle_line(struct admin_ctx *ctx, int fd, const char *line, size_t len)
{
  cJSON *req = cJSON_ParseWithLength(line, len);
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
  if (!cJSON_IsObject(req) || !cJSON_IsString(cmd)) {
    send_error(fd, id, "bad_request", "a request is one JSON object with a string \"cmd\"");
    cJSON_Delete(req);
    return;
  }
  const struct admin_verb *v = NULL;
  for (size_t i = 0; i < admin_nverbs; i++)
    if (strcmp(admin_verbs[i].name, cmd->valuestring) == 0)
      v = &admin_verbs[i];
  if (!v) {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown command '%.100s' (try help)", cmd->valuestring);
    send_error(fd, id, "unknown_command", msg);
    cJSON_Delete(req);
    return;
  }
  char err[512] = "";
  cJSON *res = v->fn(ctx, req, err, sizeof err);
  if (!res) {
    send_error(fd, id, "failed", err[0] ? err : "failed");
  } else {
    cJSON_AddTrueToObject(res, "ok");
    if (id)
      cJSON_AddItemToObject(res, "id", cJSON_Duplicate(id, 1));
    send_line(fd, res);
    cJSON_Delete(res);
  }
  cJSON_Delete(req);
}

static bool peer_allowed(int fd)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return false;
  return cred.uid == 0 || cred.uid == getuid();
}

static void client_close(struct admin_client *c)
{
  close(c->fd);
  buf_free(&c->in);
  c->fd = -1;
}

/* Reads what the client sent; handles complete lines. Returns false when the client is gone. */
static bool client_read(struct admin_ctx *ctx, struct admin_client *c)
{
  char tmp[4096];
  ssize_t n = recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
    return false;
  if (n < 0)
    return true;
  if (buf_append(&c->in, tmp, (size_t)n) < 0) {
    send_error(c->fd, NULL, "bad_request", "line longer than 64 KiB");
    return false;
  }
  char *nl;
  while ((nl = memchr(c->in.data, '\n', c->in.len))) {
    size_t len = (size_t)(nl - c->in.data);
    handle_line(ctx, c->fd, c->in.data, len);
    buf_consume(&c->in, len + 1);
  }
  return true;
}

void admin_run(struct admin_ctx *ctx, int listen_fd)
{
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  struct admin_client clients[ADMIN_CLIENTS];
  for (int i = 0; i < ADMIN_CLIENTS; i++)
    clients[i].fd = -1;
  for (;;) {
    struct pollfd pfd[2 + ADMIN_CLIENTS];
    int idx[ADMIN_CLIENTS];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    for (int i = 0; i < ADMIN_CLIENTS; i++)
      if (clients[i].fd >= 0) {
        idx[n - 2] = i;
        pfd[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
      }
    if (poll(pfd, n, -1) < 0) {
      if (errno == EINTR)
        continue;
      log_msg(LOG_ERR, "admin poll failed", "error=\"%s\"", strerror(errno));
      break;
    }
    if (pfd[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      bool stop = false;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          char err[512];
          log_msg(LOG_INFO, "SIGHUP: reloading", "");
          admin_load_snapshot(ctx, err, sizeof err);
        } else {
          log_msg(LOG_INFO, "stopping", "signal=%s", si.ssi_signo == SIGTERM ? "TERM" : "INT");
          stop = true;
        }
      }
      if (stop)
        break;
    }
    if (pfd[1].revents & POLLIN) {
      int cfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (cfd >= 0) {
        int slot = -1;
        for (int i = 0; i < ADMIN_CLIENTS && slot < 0; i++)
          if (clients[i].fd < 0)
            slot = i;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (!peer_allowed(cfd)) {
          send_error(cfd, NULL, "forbidden", "your user may not use the relayd admin socket");
          close(cfd);
        } else if (slot < 0) {
          send_error(cfd, NULL, "failed", "too many admin connections");
          close(cfd);
        } else {
          clients[slot].fd = cfd;
          buf_init(&clients[slot].in, ADMIN_LINE_MAX);
          cJSON *g = cJSON_CreateObject();
          cJSON_AddNumberToObject(g, "relay_admin", ADMIN_PROTOCOL);
          cJSON_AddStringToObject(g, "version", RELAY_VERSION);
          cJSON_AddNumberToObject(g, "pid", (double)getpid());
          send_line(cfd, g);
          cJSON_Delete(g);
        }
      }
    }
    for (nfds_t i = 2; i < n; i++)
      if (pfd[i].revents) {
        struct admin_client *c = &clients[idx[i - 2]];
        if (!client_read(ctx, c))
          client_close(c);
      }
  }
  for (int i = 0; i < ADMIN_CLIENTS; i++)
    if (clients[i].fd >= 0)
      client_close(&clients[i]);
  close(sfd);
}
