/*
 * floor: the cheapest proxy relayd's own libraries and worker model allow, for make bench.
 *
 * What it is: relayd with the gateway taken out. The same libraries (libmicrohttpd in external
 * epoll mode, a libcurl multi handle driven by curl_multi_socket_action on the same epoll loop)
 * and the same worker model (one thread per core, each with its own SO_REUSEPORT listen socket,
 * its own MHD daemon, its own curl multi, its own pool of easy handles, connections suspended
 * while the upstream answers, a callback response that suspends when it has nothing to send, and
 * a stream's bytes sent as chunks on the suspended connection itself, as relayd's stream.c does).
 * It relays bytes: the request body to UPSTREAM + the same path (Content-Type and Authorization
 * passed on), the upstream's status, Content-Type and body back; text/event-stream answers are
 * streamed as they come, others sent once complete. No auth, no billing, no logs, no parsing.
 * bench/bench.py measures it in the same run as nginx and relayd, so a report can say how much of
 * relayd's cost is the libraries and how much is relay.
 *
 * Usage: floor --listen 127.0.0.1:PORT --upstream http://127.0.0.1:PORT [--workers N]
 *              [--pool BYTES] [--curl-buffer BYTES]
 * (N defaults to the number of online CPUs, as relayd's; --pool is libmicrohttpd's per-connection
 * memory, relayd's usual pool by default (bench.py's held-stream row starts a second floor with
 * --pool 2560: relayd's small pool, where a stream with a small header is held, relayd/gate.h);
 * --curl-buffer libcurl's receive buffer, relayd's for streams (1024) by default, 0 for curl's
 * own: what a held stream costs each, measured apart). Runs until SIGTERM/SIGINT.
 *
 * Never: used outside the benchmark. It trusts its upstream (bounded buffers all the same:
 * a body over 16 MiB is a 502) and is not hardened against hostile clients.
 */
#include <curl/curl.h>
#include <microhttpd.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define BODY_MAX (16u << 20)
#define EV_MHD 1u
#define EV_TIMER 2u
#define EV_SOCK 3u
#define EV_CLIENT 4u                  /* a client socket with a direct send's rest (EPOLLOUT) */

static const char *upstream;
static struct sockaddr_in listen_addr;
static atomic_bool stop_flag;
static size_t pool_bytes = 2 * 8192 + 4096;   /* relayd's: twice max_header_bytes + 4096 */
/* CURLOPT_BUFFERSIZE: relayd's for streams (attempt.c STREAM_CURL_BUFFER); the floor cannot tell a
 * stream before the answer without parsing the body, so it uses it for every request (the bench's
 * non-stream answers are far shorter); --curl-buffer 0 is curl's default (16 KiB) */
static long curl_buffer = 1024;
#define STREAM_BLOCK 512                       /* relayd's (stream.c): MHD's callback block */

struct fworker;

struct freq {                   /* one request; owned by its connection (freed in completed_cb) */
  struct fworker *w;
  struct MHD_Connection *conn;
  CURL *easy;
  struct curl_slist *hdrs;
  char *in;                     /* request body (malloc'd, owned) */
  size_t in_len, in_cap;
  char *out;                    /* response bytes not yet sent (malloc'd, owned) */
  size_t out_len, out_off, out_cap;
  long status;
  char ctype[128];
  bool sse, started, done, failed, suspended, reader_waiting, queued, http11;
  int fd;                       /* the client's socket, for direct sends */
  char *tail;                   /* a direct send's unsent rest (malloc'd, owned), sent on EPOLLOUT */
  size_t tail_len, tail_off;
};

struct fworker {
  pthread_t thread;
  int epfd, timerfd, listen_fd;
  struct MHD_Daemon *mhd;
  CURLM *multi;
  CURL **pool;                  /* idle easy handles (owned) */
  size_t npool, cappool;
  bool mhd_run_needed, curl_due;
  struct freq **tails;          /* by client socket: requests with a direct send's rest (owned array) */
  size_t ntails;
};

static int grow(char **p, size_t *cap, size_t need)
{
  if (need <= *cap)
    return 0;
  if (need > BODY_MAX)
    return -1;
  size_t nc = *cap ? *cap : 4096;
  while (nc < need)
    nc *= 2;
  char *q = realloc(*p, nc);
  if (!q)
    return -1;
  *p = q;
  *cap = nc;
  return 0;
}

static void resume(struct freq *r)
{
  if (r->suspended) {
    r->suspended = false;
    r->reader_waiting = false;
    MHD_resume_connection(r->conn);
    r->w->mhd_run_needed = true;
  }
}

static size_t on_header(char *b, size_t size, size_t n, void *ud)
{
  struct freq *r = ud;
  size_t len = size * n;
  if (len > 13 && strncasecmp(b, "content-type:", 13) == 0) {
    const char *v = b + 13;
    size_t vl = len - 13;
    while (vl && (*v == ' ' || *v == '\t'))
      v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
      vl--;
    if (vl >= sizeof r->ctype)
      vl = sizeof r->ctype - 1;
    memcpy(r->ctype, v, vl);
    r->ctype[vl] = '\0';
    r->sse = strncasecmp(r->ctype, "text/event-stream", 17) == 0;
  }
  return len;
}

/* relayd's direct sends (stream.c send_direct, worker.c worker_send_direct): the bytes as one
 * chunk on the connection its reader suspended (HTTP/1.1: MHD sends it chunked, between its own
 * chunks); a rest the socket did not take is sent on EPOLLOUT before anything else. true: sent
 * (or kept); false: resume and let MHD send. */
static bool send_direct(struct freq *r)
{
  if (!r->reader_waiting || !r->http11 || r->done || r->fd < 0)
    return false;
  if (r->tail)
    return true;
  size_t avail = r->out_len - r->out_off;
  char hdr[20];
  int hl = snprintf(hdr, sizeof hdr, "%zx\r\n", avail);
  struct iovec iov[3] = {{hdr, (size_t)hl}, {r->out + r->out_off, avail}, {(void *)"\r\n", 2}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 3};
  ssize_t sent = sendmsg(r->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent <= 0)
    return false;
  size_t total = (size_t)hl + avail + 2;
  r->out_off = r->out_len = 0;
  if ((size_t)sent == total)
    return true;
  size_t rest = total - (size_t)sent, skip = (size_t)sent, at = 0;
  r->tail = malloc(rest);
  if (!r->tail) {
    shutdown(r->fd, SHUT_RDWR);
    return false;
  }
  for (int i = 0; i < 3; i++) {
    if (skip >= iov[i].iov_len) {
      skip -= iov[i].iov_len;
      continue;
    }
    memcpy(r->tail + at, (char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
    at += iov[i].iov_len - skip;
    skip = 0;
  }
  struct fworker *w = r->w;
  if ((size_t)r->fd >= w->ntails) {
    size_t nn = (size_t)r->fd * 2 + 64;
    struct freq **p = realloc(w->tails, nn * sizeof *p);
    if (!p) {
      free(r->tail);
      r->tail = NULL;
      shutdown(r->fd, SHUT_RDWR);
      return false;
    }
    memset(p + w->ntails, 0, (nn - w->ntails) * sizeof *p);
    w->tails = p;
    w->ntails = nn;
  }
  w->tails[r->fd] = r;
  r->tail_len = rest;
  r->tail_off = 0;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = ((uint64_t)EV_CLIENT << 32) | (uint32_t)r->fd};
  epoll_ctl(r->w->epfd, EPOLL_CTL_ADD, r->fd, &ev);
  return true;
}

static size_t on_body(char *b, size_t size, size_t n, void *ud)
{
  struct freq *r = ud;
  size_t len = size * n;
  if (r->out_off == r->out_len)
    r->out_off = r->out_len = 0;
  if (grow(&r->out, &r->out_cap, r->out_len + len) < 0)
    return 0;
  memcpy(r->out + r->out_len, b, len);
  r->out_len += len;
  if (r->sse && !send_direct(r))
    resume(r);                  /* the handler queues the stream, or the reader sends these bytes */
  return len;
}

static void upstream_done(struct freq *r, CURLcode res)
{
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
  r->failed = res != CURLE_OK && !r->started;
  r->done = true;
  curl_multi_remove_handle(r->w->multi, r->easy);
  struct fworker *w = r->w;
  if (w->npool == w->cappool) {
    size_t nc = w->cappool ? w->cappool * 2 : 64;
    CURL **p = realloc(w->pool, nc * sizeof *p);
    if (p) {
      w->pool = p;
      w->cappool = nc;
    }
  }
  if (w->npool < w->cappool)
    w->pool[w->npool++] = r->easy;
  else
    curl_easy_cleanup(r->easy);
  r->easy = NULL;
  curl_slist_free_all(r->hdrs);
  r->hdrs = NULL;
  if (!r->tail)
    resume(r);                  /* else once the rest went out (tail_event) */
}

/* EPOLLOUT on a client with a rest: more of it sent; all sent (or the socket failed): MHD goes on */
static void tail_event(struct fworker *w, int fd)
{
  struct freq *r = (size_t)fd < w->ntails ? w->tails[fd] : NULL;
  if (!r || !r->tail) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
    return;
  }
  ssize_t sent = send(fd, r->tail + r->tail_off, r->tail_len - r->tail_off, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (sent < 0)
    shutdown(fd, SHUT_RDWR);
  else if ((r->tail_off += (size_t)sent) < r->tail_len)
    return;
  epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
  w->tails[fd] = NULL;
  free(r->tail);
  r->tail = NULL;
  if (r->out_len > r->out_off || r->done || sent < 0)
    resume(r);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct freq *r = cls;
  size_t avail = r->out_len - r->out_off;
  if (avail) {
    size_t n = avail < max ? avail : max;
    memcpy(buf, r->out + r->out_off, n);
    r->out_off += n;
    return (ssize_t)n;
  }
  if (r->done)
    return MHD_CONTENT_READER_END_OF_STREAM;
  r->suspended = true;
  r->reader_waiting = true;
  MHD_suspend_connection(r->conn);
  return 0;
}

static enum MHD_Result send_now(struct freq *r)
{
  struct MHD_Response *resp;
  if (r->easy)
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
  unsigned status = (unsigned)r->status;
  if (r->failed || !r->status) {
    static const char bad[] = "{\"error\":\"upstream\"}";
    resp = MHD_create_response_from_buffer(sizeof bad - 1, (void *)bad, MHD_RESPMEM_PERSISTENT);
    status = 502;
  } else if (r->sse) {
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, reader, r, NULL);
    r->started = true;
  } else {
    resp = MHD_create_response_from_buffer(r->out_len, r->out, MHD_RESPMEM_PERSISTENT);
  }
  if (r->ctype[0])
    MHD_add_response_header(resp, "Content-Type", r->ctype);
  r->queued = true;
  enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *data_size, void **ctx)
{
  struct fworker *w = cls;
  struct freq *r = *ctx;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    r->w = w;
    r->conn = c;
    r->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->fd = ci ? ci->connect_fd : -1;
    *ctx = r;
    return MHD_YES;
  }
  if (*data_size) {
    if (grow(&r->in, &r->in_cap, r->in_len + *data_size) < 0)
      return MHD_NO;
    memcpy(r->in + r->in_len, data, *data_size);
    r->in_len += *data_size;
    *data_size = 0;
    return MHD_YES;
  }
  if (r->queued)
    return MHD_YES;
  if (r->done || (r->sse && r->out_len))
    return send_now(r);
  if (r->easy)                  /* resumed for nothing yet */
    goto wait;
  char target[2048];
  snprintf(target, sizeof target, "%s%s", upstream, url);
  r->easy = w->npool ? w->pool[--w->npool] : curl_easy_init();
  if (!r->easy)
    return MHD_NO;
  curl_easy_reset(r->easy);
  curl_easy_setopt(r->easy, CURLOPT_URL, target);
  curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
  curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
  if (curl_buffer)
    curl_easy_setopt(r->easy, CURLOPT_BUFFERSIZE, curl_buffer);
  if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->in ? r->in : "");
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->in_len);
  }
  char h[1024];
  const char *names[] = {"Content-Type", "Authorization"};
  r->hdrs = curl_slist_append(NULL, "Expect:");
  for (size_t i = 0; i < 2; i++) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, names[i]);
    if (v) {
      snprintf(h, sizeof h, "%s: %s", names[i], v);
      r->hdrs = curl_slist_append(r->hdrs, h);
    }
  }
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
  curl_multi_add_handle(w->multi, r->easy);
wait:
  r->suspended = true;
  MHD_suspend_connection(c);
  return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode code)
{
  (void)cls;
  (void)c;
  (void)code;
  struct freq *r = *ctx;
  if (!r)
    return;
  if (r->easy) {
    curl_multi_remove_handle(r->w->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
  }
  free(r->in);
  free(r->out);
  if (r->tail) {
    epoll_ctl(r->w->epfd, EPOLL_CTL_DEL, r->fd, NULL);
    r->w->tails[r->fd] = NULL;
    free(r->tail);
  }
  free(r);
  *ctx = NULL;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
  (void)e;
  struct fworker *w = userp;
  struct epoll_event ev = {.data.u64 = ((uint64_t)EV_SOCK << 32) | (uint32_t)s};
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
    curl_multi_assign(w->multi, s, NULL);
    return 0;
  }
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  if (socketp) {
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev);
  } else {
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, s, &ev);
    curl_multi_assign(w->multi, s, w);
  }
  return 0;
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
  (void)m;
  struct fworker *w = userp;
  struct itimerspec its = {0};
  if (ms == 0)
    w->curl_due = true;
  else if (ms > 0)
    its.it_value = (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  timerfd_settime(w->timerfd, 0, &its, NULL);
  return 0;
}

static void collect(struct fworker *w)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(w->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    struct freq *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (r)
      upstream_done(r, m->data.result);
  }
}

static void *worker_main(void *arg)
{
  struct fworker *w = arg;
  struct epoll_event evs[128];
  while (!atomic_load(&stop_flag)) {
    int timeout = 1000;
    MHD_UNSIGNED_LONG_LONG to;
    if (w->mhd_run_needed || w->curl_due)
      timeout = 0;
    else if (MHD_get_timeout(w->mhd, &to) == MHD_YES && to < 1000)
      timeout = (int)to;
    int n = epoll_wait(w->epfd, evs, 128, timeout);
    int running;
    for (int i = 0; i < n; i++) {
      uint32_t tag = (uint32_t)(evs[i].data.u64 >> 32);
      int fd = (int)(uint32_t)evs[i].data.u64;
      if (tag == EV_MHD) {
        w->mhd_run_needed = true;
      } else if (tag == EV_CLIENT) {
        tail_event(w, fd);
      } else if (tag == EV_TIMER) {
        uint64_t x;
        (void)!read(w->timerfd, &x, sizeof x);
        w->curl_due = true;
      } else {
        uint32_t e = evs[i].events;
        curl_multi_socket_action(w->multi, fd, (e & EPOLLIN ? CURL_CSELECT_IN : 0) |
                                 (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                                 (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0), &running);
      }
    }
    collect(w);
    if (n == 0)
      w->mhd_run_needed = true;
    for (int round = 0; round < 4 && (w->mhd_run_needed || w->curl_due); round++) {
      if (w->curl_due) {
        w->curl_due = false;
        curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        collect(w);
      }
      if (w->mhd_run_needed) {
        w->mhd_run_needed = false;
        MHD_run(w->mhd);
      }
    }
  }
  return NULL;
}

static int worker_init(struct fworker *w)
{
  int one = 1;
  w->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (w->listen_fd < 0)
    return -1;
  setsockopt(w->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(w->listen_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(w->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(w->listen_fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0 ||
      listen(w->listen_fd, 4096) < 0)
    return -1;
  /* relayd's flags and pool size (relayd/worker.c), with MHD accepting on its own socket */
  w->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL, handler, w,
                            MHD_OPTION_LISTEN_SOCKET, w->listen_fd,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, w,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)30000,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool_bytes,
                            MHD_OPTION_END);
  const union MHD_DaemonInfo *di = w->mhd ? MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  w->multi = curl_multi_init();
  if (!di || w->epfd < 0 || w->timerfd < 0 || !w->multi)
    return -1;
  curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
  curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
  curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, 4096L);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)EV_MHD << 32};
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, di->epoll_fd, &ev);
  ev.data.u64 = (uint64_t)EV_TIMER << 32;
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timerfd, &ev);
  return 0;
}

static void on_signal(int sig)
{
  (void)sig;
  atomic_store(&stop_flag, true);
}

int main(int argc, char **argv)
{
  const char *listen_at = NULL;
  long nworkers = sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--listen"))
      listen_at = argv[i + 1];
    else if (!strcmp(argv[i], "--upstream"))
      upstream = argv[i + 1];
    else if (!strcmp(argv[i], "--workers"))
      nworkers = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--pool"))
      pool_bytes = (size_t)atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--curl-buffer"))
      curl_buffer = atol(argv[i + 1]);
  }
  const char *colon = listen_at ? strrchr(listen_at, ':') : NULL;
  if (!colon || !upstream || nworkers < 1 || nworkers > 64) {
    fprintf(stderr, "usage: floor --listen 127.0.0.1:PORT --upstream http://HOST:PORT [--workers N]\n");
    return 2;
  }
  char host[64];
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen_at), listen_at);
  listen_addr.sin_family = AF_INET;
  listen_addr.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &listen_addr.sin_addr) != 1) {
    fprintf(stderr, "floor: --listen needs an IPv4 HOST:PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct fworker *ws = calloc((size_t)nworkers, sizeof *ws);   /* owned by main, freed at exit */
  if (!ws)
    return 1;
  for (long i = 0; i < nworkers; i++) {
    if (worker_init(&ws[i]) < 0) {
      fprintf(stderr, "floor: worker %ld: %s\n", i, strerror(errno));
      return 1;
    }
  }
  for (long i = 0; i < nworkers; i++)
    pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
  for (long i = 0; i < nworkers; i++)
    pthread_join(ws[i].thread, NULL);
  /* no MHD_stop_daemon: streams may still be suspended (stopping then is an API violation) and
   * the process ends here anyway */
  free(ws);
  return 0;
}
