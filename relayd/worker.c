/* worker: see worker.h. */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gate.h"
#include "log.h"
#include "probes.h"
#include "util.h"

#define TICK_MS 100                 /* upstream timeouts and client departures are checked this often */
#define TICK_SLACK_MS 100           /* a due tick waits up to this long for a wake-up it can share */
#define CONN_SWEEP_TICKS 5          /* slow clients every 5 ticks */
#define EV_DATA WORKER_EV_DATA
#define CONN_TIMEOUT_S 120          /* MHD's connection timeout; also a direct send's waiting rest's */

/* The daemon's client connections, one budget for every worker and both daemons of each (worker.h);
 * its limit is set once, by the first workers_connection_limit. */
static struct gate_budget clients;
static long fd_reserve;             /* the descriptors kept from clients (workers_connection_limit) */

void worker_resume(struct worker *w, struct MHD_Connection *c)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
  MHD_resume_connection(c);
  *(ci && ci->daemon == w->mhd_small ? &w->mhd_small_run_needed : &w->mhd_run_needed) = true;
}

/* ---------------------------------------------------------------- client connections */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
  struct worker *w = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    struct client_conn *cc = calloc(1, sizeof *cc);    /* freed at NOTIFY_CLOSED below */
    if (!cc || fd < 0) {
      free(cc);
      *socket_context = NULL;
      return;
    }
    if ((size_t)fd >= w->nconn_by_fd) {
      size_t n = w->nconn_by_fd ? w->nconn_by_fd : 1024;
      while (n <= (size_t)fd)
        n *= 2;
      struct client_conn **p = realloc(w->conn_by_fd, n * sizeof *p);
      if (!p) {
        free(cc);
        *socket_context = NULL;
        return;
      }
      memset(p + w->nconn_by_fd, 0, (n - w->nconn_by_fd) * sizeof *p);
      w->conn_by_fd = p;
      w->nconn_by_fd = n;
    }
    cc->fd = fd;
    cc->over_limit = atomic_fetch_add(&clients.open, 1) >= clients.limit;
    if (cc->over_limit) {
      /* said once a second at most: a crowd at the door must not flood the log */
      uint64_t now = now_us_mono();
      w->limit_refused++;
      if (now - w->limit_logged_us >= 1000000u || !w->limit_logged_us) {
        log_msg(LOG_WARN, "max_connections reached: new connections get 503 too_many_connections",
                "worker=%d open=%zu max_connections=%zu refused=%llu", w->idx, atomic_load(&clients.open) - 1, clients.limit,
                (unsigned long long)w->limit_refused);
        w->limit_logged_us = now;
        w->limit_refused = 0;
      }
    }
    w->nconns++;
    cc->wait = CONN_WAIT_HEADER;
    cc->since_us = now_us_mono();
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.u64 = EV_DATA(EV_CLIENT, fd)};
    cc->watched = epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
    w->conn_by_fd[fd] = cc;
    cc->next = w->conns;
    if (w->conns)
      w->conns->prev = cc;
    w->conns = cc;
    *socket_context = cc;
    return;
  }
  struct client_conn *cc = *socket_context;
  if (!cc)
    return;
  *socket_context = NULL;
  if (cc->req)
    w->h->conn_closed(cc->req);
  if (cc->watched)
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, cc->fd, NULL);
  free(cc->tail);
  if ((size_t)cc->fd < w->nconn_by_fd && w->conn_by_fd[cc->fd] == cc)
    w->conn_by_fd[cc->fd] = NULL;
  w->nconns--;
  atomic_fetch_sub(&clients.open, 1);
  if (cc->prev)
    cc->prev->next = cc->next;
  else
    w->conns = cc->next;
  if (cc->next)
    cc->next->prev = cc->prev;
  free(cc);
}

/* MHD's URI callback: the request line was read, the target is raw (not yet split at '?' nor
 * unescaped), and ends at its first NUL. Records what front.c's framing check needs (worker.h). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
  (void)cls;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  struct client_conn *cc = ci ? ci->socket_context : NULL;
  if (!cc)
    return NULL;
  cc->uri_end = NULL;
  cc->uri_bad = false;
  if (!uri)
    return NULL;
  const char *p = uri;
  for (; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f ||
        (p[0] == '%' && p[1] == '0' && p[2] == '0'))
      cc->uri_bad = true;
  cc->uri_end = p;
  return NULL;      /* the access handler's request context starts empty, as without a callback */
}

/* ---------------------------------------------------------------- direct sends (worker.h) */

static struct client_conn *conn_of(struct MHD_Connection *c)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* The client's socket watched for EPOLLRDHUP, and for EPOLLOUT while a rest waits. */
static void watch_client(struct worker *w, struct client_conn *cc)
{
  struct epoll_event ev = {.events = EPOLLRDHUP | (cc->tail ? EPOLLOUT : 0), .data.u64 = EV_DATA(EV_CLIENT, cc->fd)};
  epoll_ctl(w->epfd, EPOLL_CTL_MOD, cc->fd, &ev);
}

static void tail_drop(struct worker *w, struct client_conn *cc)
{
  free(cc->tail);
  cc->tail = NULL;
  cc->tail_len = cc->tail_off = 0;
  shutdown(cc->fd, SHUT_RDWR);     /* a chunk cut in the middle: the connection cannot go on */
  if (cc->watched)
    watch_client(w, cc);
}

enum worker_send worker_send_direct(struct worker *w, struct MHD_Connection *c, const struct iovec *iov, int n)
{
  struct client_conn *cc = conn_of(c);
  if (!cc || cc->tail || !cc->watched)
    return WSEND_NONE;
  size_t total = 0;
  for (int i = 0; i < n; i++)
    total += iov[i].iov_len;
  struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
  ssize_t sent = sendmsg(cc->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? WSEND_NONE : WSEND_FAILED;
  if ((size_t)sent == total)
    return WSEND_ALL;
  /* the socket took part of it: the rest is kept and sent when the socket takes more */
  size_t rest = total - (size_t)sent;
  cc->tail = malloc(rest);             /* freed by tail_drop, at its last byte, or with cc */
  if (!cc->tail) {
    tail_drop(w, cc);
    return WSEND_FAILED;
  }
  size_t skip = (size_t)sent, at = 0;
  for (int i = 0; i < n; i++) {
    size_t len = iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    memcpy(cc->tail + at, (const char *)iov[i].iov_base + skip, len - skip);
    at += len - skip;
    skip = 0;
  }
  cc->tail_len = rest;
  cc->tail_off = 0;
  cc->tail_since_us = now_us_mono();
  watch_client(w, cc);
  return WSEND_PART;
}

bool worker_send_waiting(struct worker *w, struct MHD_Connection *c)
{
  (void)w;
  struct client_conn *cc = conn_of(c);
  return cc && cc->tail;
}

void worker_send_abort(struct worker *w, struct MHD_Connection *c)
{
  struct client_conn *cc = conn_of(c);
  if (cc && cc->tail)
    tail_drop(w, cc);
}

/* EPOLLOUT on a socket with a waiting rest: 1 all sent, 0 more to send, -1 the socket failed. */
static int tail_flush(struct worker *w, struct client_conn *cc)
{
  ssize_t sent = send(cc->fd, cc->tail + cc->tail_off, cc->tail_len - cc->tail_off, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
  cc->tail_off += (size_t)sent;
  cc->tail_since_us = now_us_mono();
  if (cc->tail_off < cc->tail_len)
    return 0;
  free(cc->tail);
  cc->tail = NULL;
  cc->tail_len = cc->tail_off = 0;
  watch_client(w, cc);
  return 1;
}

/* The client's side of a connection closed (or failed), or it takes more of a direct send's rest:
 * if its request waits on an upstream, end that now; MHD closes the connection itself. Watching
 * stops either way. */
static void client_event(struct worker *w, int fd, uint32_t events)
{
  struct client_conn *cc = (size_t)fd < w->nconn_by_fd ? w->conn_by_fd[fd] : NULL;
  if (!cc) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
    return;
  }
  if (cc->tail && !(events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
    int st = tail_flush(w, cc);
    if (st == 0)
      return;
    if (st > 0) {
      if (cc->req)
        w->h->client_flushed(cc->req);
      return;
    }
  }
  if (!(events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) && !cc->tail)
    return;                          /* EPOLLOUT left from a rest sent meanwhile */
  if (cc->tail)
    tail_drop(w, cc);
  if (cc->watched) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
    cc->watched = false;
  }
  if (cc->req)
    w->h->client_gone(cc->req);
}

/* Cuts off clients that take longer than allowed to send a request's header or body (slow
 * senders hold a connection and its memory at almost no cost to themselves). shutdown() makes
 * MHD see the connection fail and close it the usual way. */
static void sweep_slow_clients(struct worker *w)
{
  uint64_t now = now_us_mono();
  uint64_t header_us = (uint64_t)w->cfg->client_header_timeout_s * 1000000u;
  uint64_t body_us = (uint64_t)w->cfg->client_body_timeout_s * 1000000u;
  for (struct client_conn *cc = w->conns; cc; cc = cc->next) {
    if (cc->tail && now - cc->tail_since_us > (uint64_t)CONN_TIMEOUT_S * 1000000u) {
      /* as MHD does with a client that takes nothing for that long; the shut socket then reports
       * EPOLLHUP, and the request ends as its client gone */
      log_msg(LOG_INFO, "client too slow: connection closed", "worker=%d waiting_for=reading seconds=%d",
              w->idx, CONN_TIMEOUT_S);
      tail_drop(w, cc);
      continue;
    }
    if (cc->wait == CONN_BUSY)
      continue;
    uint64_t limit = cc->wait == CONN_WAIT_HEADER ? header_us : body_us;
    if (cc->over_limit && limit > 1000000u)
      limit = 1000000u;          /* a connection over max_connections gets one second to ask */
    if (now - cc->since_us <= limit)
      continue;
    log_msg(LOG_INFO, "client too slow: connection closed", "worker=%d waiting_for=%s seconds=%lld",
            w->idx, cc->wait == CONN_WAIT_HEADER ? "header" : "body",
            (long long)(limit / 1000000u));
    cc->wait = CONN_BUSY;
    shutdown(cc->fd, SHUT_RDWR);
    w->mhd_run_needed = w->mhd_small_run_needed = true;
  }
}

/* ---------------------------------------------------------------- life cycle */

/* The descriptors this process has open (-1: /proc is not there). */
static long fds_open(void)
{
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  long n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;                 /* the directory's own descriptor */
}

long workers_connection_limit(const struct config *cfg, int nworkers, long *nofile)
{
  static long limit = -1, have = LONG_MAX;   /* the first call's answer (worker.h) */
  if (limit >= 0) {
    *nofile = have;
    return limit;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)LONG_MAX)
    have = (long)rl.rlim_cur;
  *nofile = have;
  long open = fds_open();
  long reserve = (open >= 0 ? open : WORKER_FD_RESERVE) + (long)nworkers * WORKER_FD_EACH + WORKER_FD_SPARE +
                 WORKER_MHD_BACKSTOP + (strcmp(cfg->metrics_listen, "off") != 0 ? WORKER_FD_METRICS : 0);
  fd_reserve = reserve;
  long fit = have > reserve ? (have - reserve) / 2 : 0;
  limit = fit < nworkers ? 0 : fit < cfg->max_connections ? fit : (long)cfg->max_connections;
  clients.limit = (size_t)limit;
  clients.backstop = WORKER_MHD_BACKSTOP;
  clients.workers = (unsigned)nworkers;
  return limit;
}

/* MHD's own messages (a refused request, a failed accept()). Those about a limit say why clients
 * get nothing and are warnings, once a second at most; the rest (each malformed request a
 * client sends) are debug lines. */
static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
  struct worker *w = cls;
  char msg[300];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
    msg[--n] = '\0';
  bool limit = strstr(msg, "limit") != NULL;
  if (limit) {
    uint64_t now = now_us_mono();
    if (w->limit_logged_us && now - w->limit_logged_us < 1000000u)
      return;
    w->limit_logged_us = now;
  }
  log_msg(limit ? LOG_WARN : LOG_DEBUG, "libmicrohttpd", "worker=%d message=\"%s\"", w->idx, msg);
}

/* The small pool's daemon (gate.h): as if the client had sent "Connection: close", MHD closes the
 * connection after its first answer (and says so): no later request meets the small pool. */
static enum MHD_Result on_request_small(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                        const char *version, const char *upload_data, size_t *upload_data_size,
                                        void **req_cls)
{
  struct worker *w = cls;
  if (!*req_cls)
    MHD_set_connection_value(c, MHD_HEADER_KIND, "Connection", "close");
  return w->h->on_request(cls, c, url, method, version, upload_data, upload_data_size, req_cls);
}

/* One of a worker's two MHD daemons: gate.c hands it connections (MHD_add_connection). */
static struct MHD_Daemon *start_daemon(struct worker *w, MHD_AccessHandlerCallback on_request, unsigned limit,
                                       size_t pool)
{
  return MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_TURBO |
                              MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET,
                          0, NULL, NULL, on_request, w,
                          MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, w,
                          MHD_OPTION_NOTIFY_COMPLETED, w->h->on_completed, w,
                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
                          MHD_OPTION_URI_LOG_CALLBACK, on_uri, w,
                          MHD_OPTION_CONNECTION_LIMIT, limit,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
                          MHD_OPTION_END);
}

/* The gate's refusal callback: the handler answers for the worker. */
static void gate_refusal(void *arg, const char *method, const char *target, size_t target_len,
                         unsigned status, const char *reason, const char *code, const char *msg,
                         struct buf *out)
{
  struct worker *w = arg;
  w->h->refusal(w, method, target, target_len, status, reason, code, msg, out);
}

static bool gate_probe(void *arg, const char *method, size_t method_len, const char *target,
                       size_t target_len, struct buf *out)
{
  struct worker *w = arg;
  enum probe_kind kind = probe_match(method, method_len, target, target_len);
  if (kind == PROBE_NONE)
    return false;
  probe_answer(kind, method_len == 4, worker_draining(w), worker_stopping(w), out);
  return true;
}

/* Workers whose epoll set still watches the shared listen socket: the last to stop shuts it. */
static _Atomic int accepting_workers;

int worker_init(struct worker *w, int idx, const struct config *cfg, const struct worker_handlers *h,
                int listen_fd, char *err, size_t errlen)
{
  memset(w, 0, sizeof *w);
  w->idx = idx;
  w->cfg = cfg;
  w->epfd = w->timerfd = w->wakefd = w->listen_fd = -1;
  stats_init(&w->stats);
  uint64_t seed = now_us_mono() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(idx + 1) * 0x9E3779B97F4A7C15ULL;
  w->data = h->attach(w, seed);
  if (!w->data) {
    snprintf(err, errlen, "worker %d: out of memory", idx);
    return -1;
  }
  w->h = h;                    /* set once attached: worker_join frees what attach made */
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->epfd < 0 || w->timerfd < 0 || w->wakefd < 0) {
    snprintf(err, errlen, "worker %d: %s", idx, strerror(errno));
    return -1;
  }
  /* max_connections is for the whole daemon: each worker takes its share (rounded up) */
  unsigned nworkers = (unsigned)(cfg->workers > 0 ? cfg->workers : 1);
  if (cfg->workers <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nworkers = cpus > 0 ? (unsigned)cpus : 1;
  }
  long nofile, max_connections = workers_connection_limit(cfg, (int)nworkers, &nofile);
  if (max_connections <= 0) {
    snprintf(err, errlen, "the open file limit (%ld) leaves no room for client connections: %u workers "
             "need %ld descriptors before the first one (raise LimitNOFILE / ulimit -n)", nofile,
             nworkers, fd_reserve);
    return -1;
  }
  /* one budget for the daemon (worker.h): either daemon of any worker may hold all of it; MHD's own
   * limit (it closes silently) is never reached, the gate stops accepting first */
  w->max_conns = (size_t)max_connections;
  unsigned mhd_limit = (unsigned)max_connections + WORKER_MHD_BACKSTOP;
  /* The pool: a held stream touches about half of it (bench/README.md). A legal header needs twice
   * max_header_bytes: its text stays in the read buffer, each of up to max_header_bytes / 64 fields
   * takes a 64-byte record (0.9.75); 4 KiB: the answer's head. Over the limit, within the pool:
   * relay's 431 (front.c), else MHD's. Streams with a small header (gate.h): GATE_SMALL_POOL */
  w->mhd = start_daemon(w, h->on_request, mhd_limit, (size_t)cfg->max_header_bytes * 2 + 4096);
  w->mhd_small = start_daemon(w, on_request_small, mhd_limit, GATE_SMALL_POOL);
  if (!w->mhd || !w->mhd_small) {
    snprintf(err, errlen, "worker %d: libmicrohttpd would not start", idx);
    return -1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
  w->mhd_epfd = di ? di->epoll_fd : -1;
  di = MHD_get_daemon_info(w->mhd_small, MHD_DAEMON_INFO_EPOLL_FD);
  w->mhd_small_epfd = di ? di->epoll_fd : -1;
  w->multi = curl_multi_init();
  if (w->mhd_epfd < 0 || w->mhd_small_epfd < 0 || !w->multi) {
    snprintf(err, errlen, "worker %d: cannot set up the event loop", idx);
    return -1;
  }
  curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
  curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
  curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
  curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
  /* idle upstream connections kept for reuse count against the descriptors too: a worker's share */
  size_t share = (w->max_conns + nworkers - 1) / nworkers;
  curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)(share < 4096 ? share : 4096));
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u64 = EV_DATA(EV_MHD, w->mhd_epfd);
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->mhd_epfd, &ev);
  ev.data.u64 = EV_DATA(EV_MHD, w->mhd_small_epfd);
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->mhd_small_epfd, &ev);
  ev.data.u64 = EV_DATA(EV_CURL_TIMER, w->timerfd);
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timerfd, &ev);
  ev.data.u64 = EV_DATA(EV_WAKE, w->wakefd);
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
  w->tick_due_us = now_us_mono() + TICK_MS * 1000u;
  struct gate_host host = {
      .idx = idx, .epfd = w->epfd, .listen_tag = EV_LISTEN, .conn_tag = EV_GATE,
      .listen_fd = &w->listen_fd, .mhd = w->mhd, .mhd_run_needed = &w->mhd_run_needed,
      .mhd_small = w->mhd_small, .mhd_small_run_needed = &w->mhd_small_run_needed,
      .nconns = &w->nconns, .budget = &clients,
      .cfg = &w->cfg, .refusal = gate_refusal, .probe = gate_probe, .arg = w};
  w->listen_fd = listen_fd;
  w->gate = gate_new(&host);   /* puts listen_fd in the epoll set */
  if (!w->gate) {
    w->listen_fd = -1;
    snprintf(err, errlen, "worker %d: out of memory", idx);
    return -1;
  }
  atomic_fetch_add(&accepting_workers, 1);
  return 0;
}

static void begin_stop(struct worker *w)
{
  /* stop accepting: out of this worker's epoll set; the connections still sending their first
   * header go to MHD (their request gets the 503). The last worker to stop shuts the socket down
   * (Linux: a listening socket shut for reading stops listening, its queued connections are reset
   * and new ones refused, as when every worker had its own socket and closed it); its descriptor
   * stays valid, and main.c closes it after worker_join: no worker can accept on a reused number */
  gate_release_all(w->gate);
  if (w->listen_fd >= 0) {
    int fd = w->listen_fd;
    w->listen_fd = -1;
    if (atomic_fetch_sub(&accepting_workers, 1) == 1)
      shutdown(fd, SHUT_RDWR);
  }
}

/* While stopping: how many workers still have requests. A worker without requests keeps running
 * (answering 503 on its open connections) until every worker is done, so a kept-alive client
 * learns about the shutdown instead of seeing its connection drop. */
static _Atomic int stopping_busy_workers;

void workers_begin_stop(int n)
{
  atomic_store(&stopping_busy_workers, n);
}

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  pthread_setname_np(pthread_self(), "relayd-worker");
  struct epoll_event evs[128];
  bool stopping = false;
  uint64_t deadline = 0, ended_at = 0;
  bool ended_all = false;
  bool counted_busy = false;     /* this worker is counted in stopping_busy_workers */
  for (;;) {
    if (!stopping && atomic_load(&w->stop)) {
      stopping = true;
      deadline = now_us_mono() + (uint64_t)w->cfg->shutdown_grace_s * 1000000u;
      begin_stop(w);
      counted_busy = true;      /* workers_begin_stop counted every worker as busy */
    }
    if (stopping) {
      bool now_please = atomic_load(&w->stop_now);
      uint64_t now = now_us_mono();
      if (!ended_all && (now >= deadline || now_please)) {
        /* the grace period is over (or a second signal came): in-flight requests end here,
         * settled as interrupted; their clients get an error (event) and a moment to read it */
        w->h->end_all(w);
        ended_all = true;
        ended_at = now;
      }
      bool busy = w->h->busy(w);
      if (busy != counted_busy) {
        atomic_fetch_add(&stopping_busy_workers, busy ? 1 : -1);
        counted_busy = busy;
      }
      if ((!busy && atomic_load(&stopping_busy_workers) <= 0) ||
          (ended_all && now >= ended_at + (now_please ? 500000u : 2000000u)))
        break;
    }
    /* the tick (upstream timeouts, the limits' wait queue, realtime sessions, slow clients, gated
     * connections, accept() resting) runs only while one of them exists: an idle worker sleeps in
     * epoll_wait until a connection, its wakefd (worker_wake: stop, resumes) or curl/MHD timers.
     * It has no timer of its own: it runs in the first loop turn at or after it is due, and the
     * wait ends TICK_SLACK_MS after that at the latest, so a busy worker (a stream's events every
     * few ms) takes it on a turn it makes anyway instead of a wake-up of its own per 100 ms */
    bool want_tick = stopping || w->conns || w->h->busy(w) || !gate_idle(w->gate);
    uint64_t now_loop = now_us_mono();
    if (!want_tick)
      w->tick_due_us = 0;
    else if (!w->tick_due_us)
      w->tick_due_us = now_loop + TICK_MS * 1000u;
    int timeout = -1;
    MHD_UNSIGNED_LONG_LONG mhd_to;
    if (w->mhd_run_needed || w->mhd_small_run_needed || w->curl_timeout_due)
      timeout = 0;
    else if (MHD_get_timeout(w->mhd, &mhd_to) == MHD_YES)
      timeout = mhd_to > 1000 ? 1000 : (int)mhd_to;
    if (timeout != 0 && MHD_get_timeout(w->mhd_small, &mhd_to) == MHD_YES && (timeout < 0 || mhd_to < (unsigned)timeout))
      timeout = mhd_to > 1000 ? 1000 : (int)mhd_to;
    if (w->tick_due_us && timeout != 0) {
      uint64_t last = w->tick_due_us + TICK_SLACK_MS * 1000u;
      int ms = last > now_loop ? (int)((last - now_loop + 999) / 1000) : 0;
      if (timeout < 0 || ms < timeout)
        timeout = ms;
    }
    if (stopping && (timeout < 0 || timeout > 100))
      timeout = 100;
    int n = epoll_wait(w->epfd, evs, 128, timeout);
    if (n < 0 && errno != EINTR) {
      log_msg(LOG_ERR, "epoll_wait failed", "worker=%d error=\"%s\"", w->idx, strerror(errno));
      break;
    }
    bool mhd_ready = w->mhd_run_needed, small_ready = w->mhd_small_run_needed;
    gate_turn(w->gate);
    for (int i = 0; i < n; i++) {
      int tag = (int)(evs[i].data.u64 >> 32);
      int fd = (int)(uint32_t)evs[i].data.u64;
      switch (tag) {
      case EV_MHD:
        *(fd == w->mhd_small_epfd ? &small_ready : &mhd_ready) = true;
        break;
      case EV_CURL_TIMER: {
        (void)!read(w->timerfd, &(uint64_t){0}, sizeof(uint64_t));
        w->timer_due_us = 0;
        w->curl_timeout_due = true;
        break;
      }
      case EV_WAKE: {
        (void)!read(w->wakefd, &(uint64_t){0}, sizeof(uint64_t));
        mhd_ready = small_ready = true;   /* worker_wake: a connection resumed from another thread */
        break;
      }
      case EV_CURL_SOCK:
        curl_sock_event(w, fd, evs[i].events);
        break;
      case EV_CLIENT:
        client_event(w, fd, evs[i].events);
        break;
      case EV_LISTEN:
        gate_listen_ready(w->gate);
        break;
      case EV_GATE:
        gate_event(w->gate, fd, evs[i].events);
        break;
      case EV_WATCH:
        w->h->watch_event(w, fd, evs[i].events);
        break;
      }
    }
    if (w->tick_due_us) {
      uint64_t now = now_us_mono();
      if (now >= w->tick_due_us) {
        w->tick_due_us = now + TICK_MS * 1000u;
        w->h->tick(w);
        if (++w->ticks % CONN_SWEEP_TICKS == 0) {
          sweep_slow_clients(w);
          gate_sweep(w->gate);
        }
      }
    }
    curl_collect(w);
    if (mhd_ready || n == 0)
      w->mhd_run_needed = true;
    if (small_ready || n == 0)
      w->mhd_small_run_needed = true;
    /* MHD may start upstream transfers and curl may resume connections: let each see the
     * other's work now rather than after another trip through epoll_wait (bounded) */
    for (int round = 0; round < 4 && (w->mhd_run_needed || w->mhd_small_run_needed || w->curl_timeout_due); round++) {
      if (w->curl_timeout_due) {
        int running;
        w->curl_timeout_due = false;
        curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        curl_collect(w);
      }
      if (w->mhd_run_needed) {
        w->mhd_run_needed = false;
        MHD_run(w->mhd);
      }
      if (w->mhd_small_run_needed) {
        w->mhd_small_run_needed = false;
        MHD_run(w->mhd_small);
      }
    }
  }
  if (counted_busy)
    atomic_fetch_sub(&stopping_busy_workers, 1);
  /* every request must be resumed before MHD stops (suspended ones would leak) */
  w->h->end_all(w);
  MHD_run(w->mhd);
  MHD_run(w->mhd_small);
  atomic_store(&w->finished, true);
  return NULL;
}

int worker_start(struct worker *w)
{
  return pthread_create(&w->thread, NULL, worker_main, w);
}

void worker_wake(struct worker *w)
{
  ssize_t wr = write(w->wakefd, &(uint64_t){1}, sizeof(uint64_t));
  (void)wr;
}

void worker_request_stop(struct worker *w)
{
  atomic_store(&w->stop, true);
  worker_wake(w);
}

void worker_request_stop_now(struct worker *w)
{
  atomic_store(&w->stop_now, true);
  worker_wake(w);
}

void worker_join(struct worker *w)
{
  pthread_join(w->thread, NULL);
  gate_free(w->gate);
  w->gate = NULL;
  if (w->mhd)
    MHD_stop_daemon(w->mhd);
  if (w->mhd_small)
    MHD_stop_daemon(w->mhd_small);
  if (w->h)
    w->h->pool_free(w);
  if (w->multi)
    curl_multi_cleanup(w->multi);
  for (size_t i = 0; i < w->easy_pool_len; i++)
    curl_easy_cleanup(w->easy_pool[i]);
  free(w->easy_pool);
  for (size_t i = 0; i < w->kept_pool_len; i++)
    curl_easy_cleanup(w->kept_pool[i]);
  free(w->kept_pool);
  for (size_t i = 0; i < w->urls.nslots; i++) {
    void *u;
    const char *key = strmap_slot(&w->urls, i, &u);
    if (key) {
      curl_url_cleanup(u);
      free((char *)key);
    }
  }
  strmap_free(&w->urls);
  free(w->socks);
  if (w->listen_fd >= 0) {       /* never stopped (a failed start): main.c closes the socket */
    atomic_fetch_sub(&accepting_workers, 1);
    w->listen_fd = -1;
  }
  if (w->epfd >= 0)
    close(w->epfd);
  if (w->timerfd >= 0)
    close(w->timerfd);
  if (w->wakefd >= 0)
    close(w->wakefd);
  free(w->conn_by_fd);
  w->conn_by_fd = NULL;
  stats_free(&w->stats);
}

void *worker_data(struct worker *w)
{
  return w->data;
}

int worker_index(const struct worker *w)
{
  return w->idx;
}

const struct config *worker_cfg(const struct worker *w)
{
  return w->cfg;
}

void worker_set_cfg(struct worker *w, const struct config *cfg)
{
  w->cfg = cfg;
}

CURLM *worker_multi(struct worker *w)
{
  return w->multi;
}

struct worker_counters *worker_counters(struct worker *w)
{
  return &w->ctr;
}

struct worker_stats *worker_stats(struct worker *w)
{
  return &w->stats;
}

bool worker_stopping(const struct worker *w)
{
  return atomic_load(&w->stop);
}

bool worker_draining(const struct worker *w)
{
  return atomic_load_explicit(&w->draining, memory_order_relaxed);
}
