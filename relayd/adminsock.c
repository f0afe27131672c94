/* adminsock: see adminsock.h. */
#include "adminsock.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "dbnotify.h"
#include "log.h"
#include "notify.h"
#include "stats.h"
#include "util.h"
#include "worker.h"
#include "writer.h"


#define ADMIN_PROTOCOL 1
#define ADMIN_LINE_MAX (64 * 1024)
#define ADMIN_CLIENTS 64
/* Output is queued per client and written as the client reads, so that a client that does not
 * read never holds up this thread (signals, reloads, the other clients). */
#define ADMIN_OUT_MAX (8u << 20)          /* queued for one client; past it the client is dropped */
#define ADMIN_OUT_PAUSE (256u * 1024)     /* past it, the client's next requests wait until it reads */
#define ADMIN_EVENT_BACKLOG (1u << 20)    /* a subscriber's events past it are dropped (counted) */
#define ADMIN_STALL_US (10u * 1000000u)   /* queued output nobody reads this long: dropped */

struct admin_client {
  int fd;
  struct buf in;
  struct buf out;               /* replies and events not yet written */
  uint64_t out_progress_us;     /* when out last shrank (or stopped being empty) */
  bool dead;                    /* closed at the end of this loop round */
  bool read_closed;             /* the client sent its last request: closed once its replies are out */
  bool subscribed;              /* receives request events after `subscribe` */
  uint64_t dropped;             /* events not sent because the client was slow */
};

/* Written by admin_request_reload (any thread); the admin loop reloads when it is readable. */
static int reload_efd = -1;

void admin_request_reload(void)
{
  if (reload_efd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(reload_efd, &one, sizeof one);
    (void)w;
  }
}

/* The admin group's id, or (gid_t)-1 when no admin group is configured. Set by admin_listen. */
static gid_t admin_gid = (gid_t)-1;

int admin_listen(const char *path, const char *admin_group, char *err, size_t errlen)
{
  admin_gid = (gid_t)-1;
  if (admin_group && *admin_group) {
    struct group *gr = getgrnam(admin_group);
    if (!gr) {
      snprintf(err, errlen, "admin_group '%s' is not a group on this system", admin_group);
      return -1;
    }
    admin_gid = gr->gr_gid;
  }
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
    return ADMIN_LISTEN_IN_USE;
  }
  close(fd);
  unlink(path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  /* the mode is fixed at bind time by the umask: never a moment where others may connect */
  mode_t old = umask(077);
  int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (rc == 0 && admin_gid != (gid_t)-1)
    rc = chown(path, (uid_t)-1, admin_gid);
  if (rc == 0)
    rc = chmod(path, admin_gid != (gid_t)-1 ? 0660 : 0600);
  if (rc < 0 || listen(fd, 16) < 0) {
    snprintf(err, errlen, "admin socket %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* Before a client has a slot (refused): one line, never waiting; what does not fit is lost. */
static void send_line_now(int fd, cJSON *obj)
{
  char *s = cJSON_PrintUnformatted(obj);
  if (!s)
    return;
  struct iovec iov[2] = {{s, strlen(s)}, {(char *)"\n", 1}};
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
  ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;
  free(s);
}

static cJSON *error_object(const cJSON *id, const char *code, const char *msg)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddFalseToObject(o, "ok");
  if (id)
    cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddStringToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", msg);
  return o;
}

/* Writes what the client's socket takes now, without waiting. */
static void client_flush(struct admin_client *c)
{
  while (c->out.len && !c->dead) {
    ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      buf_consume(&c->out, (size_t)n);
      c->out_progress_us = now_us_mono();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        c->dead = true;         /* the client is gone */
      return;
    }
  }
}

/* Queues text and a newline for the client (whole, or not at all) and writes what it can. */
static bool client_queue(struct admin_client *c, const char *text, size_t len, size_t limit)
{
  if (c->dead)
    return false;
  if (c->out.len + len + 1 > limit)
    return false;
  if (!c->out.len)
    c->out_progress_us = now_us_mono();
  if (buf_append(&c->out, text, len) < 0 || buf_append(&c->out, "\n", 1) < 0) {
    c->dead = true;
    return false;
  }
  client_flush(c);
  return true;
}

static void send_line(struct admin_client *c, cJSON *obj)
{
  char *s = cJSON_PrintUnformatted(obj);
  if (!s)
    return;
  if (!client_queue(c, s, strlen(s), ADMIN_OUT_MAX) && !c->dead) {
    log_msg(LOG_WARN, "admin client does not read its replies: dropped", "queued_bytes=%zu", c->out.len);
    c->dead = true;
  }
  free(s);
}

static void send_error(struct admin_client *c, const cJSON *id, const char *code, const char *msg)
{
  cJSON *o = error_object(id, code, msg);
  send_line(c, o);
  cJSON_Delete(o);
}

static void handle_line(struct admin_ctx *ctx, struct admin_client *c, const char *line, size_t len)
{
  cJSON *req = cJSON_ParseWithLength(line, len);
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
  if (!cJSON_IsObject(req) || !cJSON_IsString(cmd)) {
    send_error(c, id, "bad_request", "a request is one JSON object with a string \"cmd\"");
    cJSON_Delete(req);
    return;
  }
  char err[512] = "";
  bool known;
  ctx->subscribe = false;
  cJSON *res = admin_verb_run(ctx, cmd->valuestring, req, err, sizeof err, &known);
  if (!known) {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown command '%.100s' (try help)", cmd->valuestring);
    send_error(c, id, "unknown_command", msg);
    cJSON_Delete(req);
    return;
  }
  if (ctx->subscribe && !c->subscribed) {   /* the verb subscribe: events go to this client */
    c->subscribed = true;
    atomic_fetch_add(&stats_subscribers, 1);
  }
  if (!res) {
    send_error(c, id, "failed", err[0] ? err : "failed");
  } else {
    cJSON_AddTrueToObject(res, "ok");
    if (id)
      cJSON_AddItemToObject(res, "id", cJSON_Duplicate(id, 1));
    send_line(c, res);
    cJSON_Delete(res);
  }
  cJSON_Delete(req);
}

/* Is uid a member of the admin group (its primary group or a supplementary one)? */
static bool in_admin_group(uid_t uid, gid_t peer_gid)
{
  if (admin_gid == (gid_t)-1)
    return false;
  if (peer_gid == admin_gid)
    return true;
  char buf[4096];
  struct passwd pw, *pwp = NULL;
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &pwp) != 0 || !pwp)
    return false;
  gid_t groups[256];
  int n = (int)(sizeof groups / sizeof groups[0]);
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
    return false;
  for (int i = 0; i < n; i++)
    if (groups[i] == admin_gid)
      return true;
  return false;
}

/* SO_PEERCRED on every connection: root, relayd's own user, or a member of admin_group. */
static bool peer_allowed(int fd)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof cred)
    return false;
  if (cred.uid == 0 || cred.uid == getuid() || cred.uid == geteuid() || in_admin_group(cred.uid, cred.gid))
    return true;
  log_msg(LOG_WARN, "admin socket: connection refused", "peer_uid=%u peer_gid=%u peer_pid=%d",
          (unsigned)cred.uid, (unsigned)cred.gid, (int)cred.pid);
  return false;
}

static void client_close(struct admin_client *c)
{
  if (c->subscribed)
    atomic_fetch_sub(&stats_subscribers, 1);
  c->subscribed = false;
  close(c->fd);
  buf_free(&c->in);
  buf_free(&c->out);
  c->fd = -1;
  c->dead = false;
}

/* Handles the complete lines received, while the client reads its replies. */
static void client_serve(struct admin_ctx *ctx, struct admin_client *c)
{
  char *nl;
  while (!c->dead && c->out.len <= ADMIN_OUT_PAUSE && c->in.len && (nl = memchr(c->in.data, '\n', c->in.len))) {
    size_t len = (size_t)(nl - c->in.data);
    handle_line(ctx, c, c->in.data, len);
    buf_consume(&c->in, len + 1);
  }
}

/* Reads what the client sent; handles complete lines. Returns false when the client is gone. */
static bool client_read(struct admin_ctx *ctx, struct admin_client *c)
{
  char tmp[4096];
  if (c->in.len && memchr(c->in.data, '\n', c->in.len))
    return true;              /* its requests wait until it reads its replies; nothing more is read */
  size_t room = ADMIN_LINE_MAX - c->in.len;
  ssize_t n = room ? recv(c->fd, tmp, room < sizeof tmp ? room : sizeof tmp, MSG_DONTWAIT) : 0;
  if (room && n == 0) {
    c->read_closed = true;    /* replies still queued are written before it is closed */
    return c->out.len > 0;
  }
  if (room && n < 0 && errno != EAGAIN && errno != EINTR)
    return false;
  if (n < 0)
    return true;
  if (!room || buf_append(&c->in, tmp, (size_t)n) < 0) {
    send_error(c, NULL, "bad_request", "line longer than 64 KiB");
    client_flush(c);
    return false;
  }
  client_serve(ctx, c);
  return true;
}


static void send_event(struct admin_client *clients, const struct req_event *ev)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "event", "request");
  cJSON_AddStringToObject(o, "request_id", ev->request_id);
  cJSON_AddNumberToObject(o, "ts_ms", (double)ev->ts_ms);
  cJSON_AddNumberToObject(o, "channel_id", (double)ev->channel_id);
  cJSON_AddStringToObject(o, "model", ev->model);
  cJSON_AddStringToObject(o, "token", ev->token);
  cJSON_AddStringToObject(o, "user", ev->user);
  cJSON_AddNumberToObject(o, "status", ev->status);
  cJSON_AddBoolToObject(o, "stream", ev->stream);
  cJSON_AddNumberToObject(o, "prompt_tokens", (double)ev->prompt_tokens);
  cJSON_AddNumberToObject(o, "completion_tokens", (double)ev->completion_tokens);
  cJSON_AddNumberToObject(o, "quota", (double)ev->quota);
  cJSON_AddNumberToObject(o, "elapsed_ms", (double)ev->elapsed_us / 1000.0);
  cJSON_AddNumberToObject(o, "first_byte_ms", (double)ev->first_byte_us / 1000.0);
  cJSON_AddStringToObject(o, "end_reason", ev->end_reason);
  cJSON_AddStringToObject(o, "reason", ev->reason);
  cJSON_AddStringToObject(o, "error", ev->error);
  cJSON_AddBoolToObject(o, "refused", ev->refused);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text)
    return;
  size_t n = strlen(text);
  for (int i = 0; i < ADMIN_CLIENTS; i++) {
    struct admin_client *c = &clients[i];
    if (c->fd < 0 || !c->subscribed)
      continue;
    /* never wait on a slow subscriber: past its backlog, events are dropped (whole lines) */
    if (!client_queue(c, text, n, ADMIN_EVENT_BACKLOG))
      c->dropped++;
  }
  free(text);
}

static void fan_out_events(struct admin_ctx *ctx, struct admin_client *clients)
{
  struct req_event ev;
  for (int i = 0; i < ctx->nworkers; i++)
    for (int k = 0; k < EVENT_RING && stats_next_event(&ctx->workers[i].stats, &ev); k++)
      send_event(clients, &ev);
}

void admin_run(struct admin_ctx *ctx, int listen_fd)
{
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (reload_efd < 0)
    reload_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  writer_set_reload_hook(admin_request_reload);
  struct admin_client clients[ADMIN_CLIENTS];
  for (int i = 0; i < ADMIN_CLIENTS; i++)
    clients[i].fd = -1;
  /* systemd's watchdog (WatchdogSec=): a ping every half interval */
  int64_t watchdog_ms = (int64_t)(notify_watchdog_usec() / 2000);
  uint64_t watchdog_next = 0;
  for (;;) {
    /* pfd[0] signals, [1] the admin socket, [2] database notifications (fd -1 when none: poll
     * ignores it), [3] reload requests (writer: a channel's status changed), then the clients */
    struct pollfd pfd[4 + ADMIN_CLIENTS];
    int idx[ADMIN_CLIENTS];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = dbnotify_fd(), .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = reload_efd, .events = POLLIN};
    bool queued = false;
    for (int i = 0; i < ADMIN_CLIENTS; i++)
      if (clients[i].fd >= 0) {
        struct admin_client *c = &clients[i];
        idx[n - 4] = i;
        /* a client with much output queued is not read until it reads (it may not send more) */
        bool want_in = !c->read_closed && c->out.len <= ADMIN_OUT_PAUSE;
        pfd[n++] = (struct pollfd){.fd = c->fd, .events = (short)((want_in ? POLLIN : 0) | (c->out.len ? POLLOUT : 0))};
        queued |= c->out.len > 0;
      }
    int subs = atomic_load(&stats_subscribers);
    int timeout = subs ? 100 : queued ? 1000 : -1;
    if (watchdog_ms > 0) {
      uint64_t now = now_us_mono();
      if (now >= watchdog_next) {
        notify_send("WATCHDOG=1");
        watchdog_next = now + (uint64_t)watchdog_ms * 1000;
      }
      int left = (int)((watchdog_next - now) / 1000) + 1;
      if (timeout < 0 || left < timeout)
        timeout = left;
    }
    int retry = dbnotify_timeout_ms();
    if (retry >= 0 && (timeout < 0 || retry < timeout))
      timeout = retry;          /* a reconnect to the database is due */
    if (poll(pfd, n, timeout) < 0) {
      if (errno == EINTR)
        continue;
      log_msg(LOG_ERR, "admin poll failed", "error=\"%s\"", strerror(errno));
      break;
    }
    /* notifications first: a reload they ask for is visible to the clients' requests below */
    dbnotify_handle();
    if (pfd[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      bool stop = false;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          char err[512], status[600];
          log_msg(LOG_INFO, "SIGHUP: reloading the configuration file and the database", "");
          notify_reloading();
          if (admin_reload_config(ctx, err, sizeof err) == 0)
            admin_status_line(status, sizeof status, "reloaded");
          else
            snprintf(status, sizeof status, "reload refused, previous configuration serving: %s", err);
          notify_ready(status);
        } else {
          log_msg(LOG_INFO, "stopping", "signal=%s", si.ssi_signo == SIGTERM ? "TERM" : "INT");
          notify_stopping("stopping: finishing in-flight requests");
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
        const char *refusal = !peer_allowed(cfd) ? "your user may not use the relayd admin socket"
                              : slot < 0         ? "too many admin connections"
                                                 : NULL;
        if (refusal) {
          cJSON *e = error_object(NULL, slot < 0 ? "failed" : "forbidden", refusal);
          send_line_now(cfd, e);
          cJSON_Delete(e);
          close(cfd);
        } else {
          struct admin_client *c = &clients[slot];
          c->fd = cfd;
          c->subscribed = false;
          c->dead = false;
          c->read_closed = false;
          c->dropped = 0;
          buf_init(&c->in, ADMIN_LINE_MAX);
          buf_init(&c->out, ADMIN_OUT_MAX + 1);
          cJSON *g = cJSON_CreateObject();
          cJSON_AddNumberToObject(g, "relay_admin", ADMIN_PROTOCOL);
          cJSON_AddStringToObject(g, "version", RELAY_VERSION);
          cJSON_AddNumberToObject(g, "pid", (double)getpid());
          send_line(c, g);
          cJSON_Delete(g);
        }
      }
    }
    if (pfd[3].revents & POLLIN) {
      uint64_t v;
      if (read(reload_efd, &v, sizeof v) == (ssize_t)sizeof v) {
        char err[512];
        log_msg(LOG_INFO, "channel status changed: reloading", "");
        admin_load_snapshot(ctx, err, sizeof err);
      }
    }
    if (subs)
      fan_out_events(ctx, clients);
    for (nfds_t i = 4; i < n; i++) {
      struct admin_client *c = &clients[idx[i - 4]];
      if (c->fd < 0)
        continue;
      if (pfd[i].revents & (POLLOUT | POLLHUP | POLLERR)) {
        client_flush(c);
        client_serve(ctx, c);      /* requests that waited for the client to read */
      }
      if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && !c->dead && !client_read(ctx, c))
        c->dead = true;
    }
    uint64_t now = now_us_mono();
    for (int i = 0; i < ADMIN_CLIENTS; i++) {
      struct admin_client *c = &clients[i];
      if (c->fd < 0)
        continue;
      if (!c->dead && c->out.len && now - c->out_progress_us > ADMIN_STALL_US) {
        log_msg(LOG_WARN, "admin client does not read its replies: dropped", "queued_bytes=%zu seconds=%u",
                c->out.len, ADMIN_STALL_US / 1000000u);
        c->dead = true;
      }
      if (c->read_closed && !c->out.len)
        c->dead = true;
      if (c->dead)
        client_close(c);
    }
  }
  for (int i = 0; i < ADMIN_CLIENTS; i++)
    if (clients[i].fd >= 0)
      client_close(&clients[i]);
  close(sfd);
  writer_set_reload_hook(NULL);   /* reload_efd stays open: the writer may still hold the hook */
}
