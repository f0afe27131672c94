/* gate: see gate.h. */
#include "gate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "config.h"
#include "log.h"
#include "util.h"

#define GATE_ACCEPT_BATCH 64          /* accept() calls per wake-up, so the loop stays fair */
#define GATE_ANSWERED_US 2000000u     /* after a refusal: how long the client's leftovers are read */
#define GATE_DRAIN_MAX (1u << 20)     /* ... and how many bytes of them at most */
#define GATE_PAUSE_US 100000u         /* out of descriptors: accept() rests this long */

struct gate_conn {
  struct gate_conn *prev, *next;
  int fd;
  bool answered;                /* refused: the answer is out, the rest is read and dropped */
  bool over_share;              /* accepted past max_connections: one second to ask */
  socklen_t addrlen;
  struct sockaddr_storage addr;
  uint64_t since_us;
  size_t drained;
};

struct gate {
  struct gate_host host;
  struct gate_conn *list;
  struct gate_conn **by_fd;
  size_t nby_fd, n;
  char *buf;                    /* max_header_bytes + 1: one peek */
  size_t buflen;
  bool listening;               /* the listen socket is in the epoll set */
  bool aside;                   /* out of it for holding more than its share (gate_budget) */
  uint64_t resume_us;           /* accept() rests until then (0: not resting) */
  uint64_t logged_us;
};

/* The worker's epoll data: tag in the high 32 bits, descriptor in the low ones (worker.h). */
static uint64_t ev_data(uint32_t tag, int fd)
{
  return ((uint64_t)tag << 32) | (uint32_t)fd;
}

/* ---------------------------------------------------------------- the check (pure) */

static enum gate_result refuse(struct gate_verdict *v, unsigned status, const char *reason, const char *code,
                               const char *fmt, const char *arg)
{
  v->status = status;
  v->reason = reason;
  v->code = code;
  snprintf(v->msg, sizeof v->msg, fmt, arg ? arg : "");
  return GATE_REFUSE;
}

/* 431: the request line and fields pass max_header_bytes (the message names the limit) */
static enum gate_result too_long(struct gate_verdict *v, size_t limit)
{
  char n[24];
  snprintf(n, sizeof n, "%zu", limit);
  refuse(v, 431, "Request Header Fields Too Large", "request_header_too_large",
         "The request line and headers are longer than max_header_bytes; the limit is %s.", n);
  return GATE_REFUSE;
}

/* The next line of p[i..n): [*s, *e) without its CRLF or LF (MHD's rule: a bare LF ends a line
 * too); returns the index after it, or 0 when no whole line is there yet. */
static size_t next_line(const char *p, size_t n, size_t i, size_t *s, size_t *e)
{
  const char *lf = memchr(p + i, '\n', n - i);
  if (!lf)
    return 0;
  size_t end = (size_t)(lf - p);
  *s = i;
  *e = end > i && p[end - 1] == '\r' ? end - 1 : end;
  return end + 1;
}

enum gate_result gate_check(const char *p, size_t n, size_t limit, struct gate_verdict *v)
{
  memset(v, 0, sizeof *v);
  size_t i = 0, s, e, next;
  /* empty lines before the request line are tolerated (as MHD does) */
  while ((next = next_line(p, n, i, &s, &e)) && s == e)
    i = next;
  size_t start = i;
  if (!next)
    return n - start > limit ? too_long(v, limit) : GATE_MORE;
  /* the request line: METHOD SP TARGET SP HTTP/1.x */
  const char *line = p + s;
  size_t len = e - s;
  const char *sp1 = memchr(line, ' ', len);
  if (!sp1 || sp1 == line)   /* a NUL in the target is refused by front.c, in the client's format */
    return refuse(v, 400, "Bad Request", "invalid_request_line",
                  "The request line is not HTTP: send METHOD TARGET HTTP/1.1%s.", "");
  size_t ve = len;
  while (ve > 0 && line[ve - 1] == ' ')
    ve--;
  size_t vs = ve;
  while (vs > 0 && line[vs - 1] != ' ')
    vs--;
  size_t ts = (size_t)(sp1 - line) + 1;
  while (ts < len && line[ts] == ' ')
    ts++;
  if (vs <= ts)
    return refuse(v, 400, "Bad Request", "invalid_request_line",
                  "The request line has no HTTP version: send METHOD TARGET HTTP/1.1%s.", "");
  if (ve != len)                /* MHD counts trailing spaces into the version, and refuses it */
    return refuse(v, 400, "Bad Request", "invalid_request_line",
                  "The request line has spaces after its HTTP version%s.", "");
  v->target = line + ts;
  v->target_len = vs - 1 - ts;
  const char *ver = line + vs;
  size_t vlen = ve - vs;
  bool http_shape = vlen == 8 && memcmp(ver, "HTTP/", 5) == 0 && ver[5] >= '0' && ver[5] <= '9' &&
                    ver[6] == '.' && ver[7] >= '0' && ver[7] <= '9';
  if (!http_shape) {
    char shown[24];
    snprintf(shown, sizeof shown, "%.*s", (int)(vlen < 20 ? vlen : 20), ver);
    return refuse(v, 400, "Bad Request", "invalid_request_line",
                  "The request line ends in '%s', not an HTTP version such as HTTP/1.1.", shown);
  }
  if (ver[5] != '1')
    return refuse(v, 505, "HTTP Version Not Supported", "http_version_not_supported",
                  "This relay speaks HTTP/1.0 and HTTP/1.1%s.", "");
  /* the fields */
  size_t fields = 0, max_fields = limit / 64;
  bool have_field = false;
  v->content_length = -1;
  v->plain = true;
  const char *qa = memchr(v->target, '?', v->target_len);
  if (qa) {                     /* MHD keeps each query argument as a record, as a field */
    v->records++;
    for (; qa < v->target + v->target_len; qa++)
      v->records += *qa == '&';
  }
  i = next;
  for (;;) {
    next = next_line(p, n, i, &s, &e);
    if (!next)
      return n - start > limit ? too_long(v, limit) : GATE_MORE;
    if (next - start > limit + 2)   /* the blank line's CRLF does not count */
      return too_long(v, limit);
    if (s == e) {
      v->head_len = next;
      v->head_bytes = s - start;
      v->records += (unsigned)fields;
      return GATE_PASS;
    }
    line = p + s;
    len = e - s;
    if (memchr(line, '\0', len))
      return refuse(v, 400, "Bad Request", "invalid_header", "A header line holds a NUL byte%s.", "");
    if ((line[0] == ' ' || line[0] == '\t') && have_field) {
      i = next;                     /* a folded continuation of the field before */
      continue;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon)
      return refuse(v, 400, "Bad Request", "invalid_header",
                    "A header line has no colon: every field is NAME: VALUE%s.", "");
    have_field = true;
    if (++fields > max_fields) {
      char m[32];
      snprintf(m, sizeof m, "%zu", max_fields);
      return refuse(v, 431, "Request Header Fields Too Large", "request_header_too_large",
                    "The request has more header fields than the %s allowed (max_header_bytes / 64).", m);
    }
    size_t nl = (size_t)(colon - line);
    if (nl == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
      const char *val = colon + 1, *end = line + len;
      while (val < end && (*val == ' ' || *val == '\t'))
        val++;
      size_t digits = 0, sig = 0;
      bool lead = true;
      for (const char *q = val; q < end && *q >= '0' && *q <= '9'; q++, digits++) {
        if (lead && *q == '0')
          continue;
        lead = false;
        sig++;
      }
      if (digits == 0 || val + digits != end ||
          (next < n && (p[next] == ' ' || p[next] == '\t')))   /* folded onto the next line */
        return refuse(v, 400, "Bad Request", "invalid_content_length",
                      "Content-Length must be a decimal number of bytes%s.", "");
      if (sig > 18)                 /* no body of 10^18 bytes or more is served */
        return refuse(v, 413, "Content Too Large", "request_too_large",
                      "The request body has a Content-Length of more than 18 digits%s.", "");
      int64_t cl = 0;
      for (const char *d = val; d < val + digits; d++)
        cl = cl * 10 + (*d - '0');
      if (v->content_length >= 0 && v->content_length != cl)
        v->plain = false;           /* two that differ: front.c answers it, on the usual pool */
      v->content_length = cl;
    } else if ((nl == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) ||
               (nl == 16 && strncasecmp(line, "Content-Encoding", 16) == 0) ||
               (nl == 6 && strncasecmp(line, "Expect", 6) == 0) ||
               (nl == 6 && strncasecmp(line, "Cookie", 6) == 0) ||
               (nl == 7 && strncasecmp(line, "Upgrade", 7) == 0)) {
      v->plain = false;
    }
    i = next;
  }
}

bool gate_small_stream(const char *p, size_t n, const struct gate_verdict *v)
{
  if (!v->plain || !v->target || v->head_bytes > GATE_SMALL_HEAD || v->records > GATE_SMALL_RECORDS)
    return false;
  /* nothing after the body (a pipelined request): MHD would read it into the small pool's read
   * window, which the answer's head needs back, and the close would drop its answer */
  if (v->head_len > n || n - v->head_len > (uint64_t)(v->content_length > 0 ? v->content_length : 0))
    return false;
  /* Gemini names a stream in its path (models/M:streamGenerateContent), before any query */
  const char *q = memchr(v->target, '?', v->target_len);
  size_t plen = q ? (size_t)(q - v->target) : v->target_len;
  static const char gem[] = ":streamGenerateContent";
  if (plen >= sizeof gem - 1 && memcmp(v->target + plen - (sizeof gem - 1), gem, sizeof gem - 1) == 0)
    return true;
  /* the others in their body's "stream": only the routes that can stream pay for its parse
   * (front.c's route table; an unlisted stream just stays on the usual pool) */
  static const struct {
    const char *path;
    size_t len;
  } streaming[] = {{"/v1/chat/completions", 20}, {"/v1/messages", 12}, {"/v1/responses", 13}, {"/v1/completions", 15}};
  bool can_stream = false;
  for (size_t i = 0; i < sizeof streaming / sizeof streaming[0] && !can_stream; i++)
    can_stream = plen == streaming[i].len && memcmp(v->target, streaming[i].path, plen) == 0;
  if (!can_stream || v->content_length <= 0 || v->head_len > n || (uint64_t)v->content_length != n - v->head_len)
    return false;
  cJSON *root = cJSON_ParseWithLength(p + v->head_len, (size_t)v->content_length);
  bool stream = cJSON_IsObject(root) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
  cJSON_Delete(root);
  return stream;
}

/* ---------------------------------------------------------------- connections */

static void conn_remove(struct gate *g, struct gate_conn *gc)
{
  if (gc->prev)
    gc->prev->next = gc->next;
  else
    g->list = gc->next;
  if (gc->next)
    gc->next->prev = gc->prev;
  if ((size_t)gc->fd < g->nby_fd && g->by_fd[gc->fd] == gc)
    g->by_fd[gc->fd] = NULL;
  g->n--;
  atomic_fetch_sub(&g->host.budget->gated, 1);
  free(gc);
}

static void conn_close(struct gate *g, struct gate_conn *gc)
{
  close(gc->fd);                /* leaves the epoll set with it */
  conn_remove(g, gc);
}

/* The header is one MHD takes: MHD reads it from the socket as if it had accepted it (the small
 * pool's daemon when the request is gate_small_stream's). */
static void hand_over(struct gate *g, struct gate_conn *gc, bool small)
{
  epoll_ctl(g->host.epfd, EPOLL_CTL_DEL, gc->fd, NULL);
  int fd = gc->fd;
  struct sockaddr_storage addr = gc->addr;
  socklen_t addrlen = gc->addrlen;
  conn_remove(g, gc);
  /* on failure MHD closes the socket itself */
  if (small && g->host.mhd_small) {
    MHD_add_connection(g->host.mhd_small, fd, (const struct sockaddr *)&addr, addrlen);
    *g->host.mhd_small_run_needed = true;
    return;
  }
  MHD_add_connection(g->host.mhd, fd, (const struct sockaddr *)&addr, addrlen);
  *g->host.mhd_run_needed = true;
}

static bool track(struct gate *g, struct gate_conn *gc)
{
  if ((size_t)gc->fd >= g->nby_fd) {
    size_t n = g->nby_fd ? g->nby_fd : 1024;
    while (n <= (size_t)gc->fd)
      n *= 2;
    struct gate_conn **p = realloc(g->by_fd, n * sizeof *p);
    if (!p)
      return false;
    memset(p + g->nby_fd, 0, (n - g->nby_fd) * sizeof *p);
    g->by_fd = p;
    g->nby_fd = n;
  }
  g->by_fd[gc->fd] = gc;
  gc->next = g->list;
  if (g->list)
    g->list->prev = gc;
  g->list = gc;
  g->n++;
  atomic_fetch_add(&g->host.budget->gated, 1);
  return true;
}

static void listen_set(struct gate *g, bool on)
{
  if (g->listening == on || *g->host.listen_fd < 0)
    return;
  /* EPOLLEXCLUSIVE: the socket is every worker's; a new connection wakes one waiting worker, the
   * first added (worker.h). Added anew after a rest, this worker is then the last one woken */
  struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                           .data.u64 = ev_data(g->host.listen_tag, *g->host.listen_fd)};
  epoll_ctl(g->host.epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, *g->host.listen_fd, &ev);
  g->listening = on;
}

static bool log_due(struct gate *g)
{
  uint64_t now = now_us_mono();
  if (g->logged_us && now - g->logged_us < 1000000u)
    return false;
  g->logged_us = now;
  return true;
}

/* Connections open in the whole daemon: MHD's and every gate's. */
static size_t clients(const struct gate *g)
{
  return atomic_load(&g->host.budget->open) + atomic_load(&g->host.budget->gated);
}

/* This worker should leave new connections to the others (gate_budget): it holds more than slack
 * connections above the daemon's average, or it is worker i > 0 and the daemon holds fewer than
 * i x GATE_LIGHT (a light load: worker 0's), but some (none: every worker listens, and sleeps). */
static bool stand_aside(const struct gate *g, size_t slack)
{
  unsigned n = g->host.budget->workers;
  if (n <= 1)
    return false;
  size_t all = clients(g), mine = *g->host.nconns + g->n;
  if (g->host.idx > 0 && all > 0 && all < (size_t)g->host.idx * GATE_LIGHT)
    return true;
  return mine > slack && mine > all / n + slack;
}

void gate_turn(struct gate *g)
{
  if (g->aside && !g->resume_us && !stand_aside(g, GATE_LIGHT / 2)) {
    g->aside = false;
    listen_set(g, true);
  }
}

void gate_listen_ready(struct gate *g)
{
  struct gate_budget *b = g->host.budget;
  for (int k = 0; k < GATE_ACCEPT_BATCH; k++) {
    if (k > 0 && stand_aside(g, GATE_LIGHT)) {
      /* the others take the next ones (never all of them stand aside: one holds at most the
       * average, and worker 0 never stands aside for a light load). Not before the first accept:
       * the kernel woke this worker alone, and the workers after it in the socket's wait queue
       * would not see that connection until the next one came */
      listen_set(g, false);
      g->aside = true;
      return;
    }
    if (clients(g) >= b->limit + b->backstop) {
      /* every descriptor is taken, the backstop's too: new connections wait in the listen queue
       * (never a silent close) until one closes and the next gets its 503 or its answer */
      if (log_due(g))
        log_msg(LOG_WARN, "max_connections reached and the 503 backstop full: new connections wait in the listen queue",
                "worker=%d open=%zu max_connections=%zu", g->host.idx, clients(g), b->limit);
      listen_set(g, false);
      g->resume_us = now_us_mono() + GATE_PAUSE_US;
      return;
    }
    struct sockaddr_storage addr;
    socklen_t addrlen = sizeof addr;
    int fd = accept4(*g->host.listen_fd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      /* out of descriptors (or memory): the kernel keeps the connections queued meanwhile */
      if (log_due(g))
        log_msg(LOG_WARN, "cannot accept client connections: new ones wait in the listen queue",
                "worker=%d error=\"%s\" open=%zu gated=%zu", g->host.idx, strerror(errno), *g->host.nconns, g->n);
      listen_set(g, false);
      g->resume_us = now_us_mono() + GATE_PAUSE_US;
      return;
    }
    struct gate_conn *gc = calloc(1, sizeof *gc);
    if (!gc || !track(g, (gc->fd = fd, gc))) {
      free(gc);
      close(fd);
      continue;
    }
    gc->addr = addr;
    gc->addrlen = addrlen;
    gc->since_us = now_us_mono();
    gc->over_share = clients(g) > b->limit;
    /* edge-triggered: a peek leaves the bytes in the socket, so only new bytes should wake us */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = ev_data(g->host.conn_tag, fd)};
    if (epoll_ctl(g->host.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
      hand_over(g, gc, false);  /* cannot watch it: MHD reads it as before the gate */
  }
}

/* The answer in out goes out (out is freed), the rest of what the client sends is dropped. */
static void send_answer(struct gate *g, struct gate_conn *gc, struct buf *out)
{
  /* a few hundred bytes into an empty socket buffer: one non-blocking send takes them all */
  ssize_t sent = send(gc->fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
  buf_free(out);
  if (sent <= 0) {
    conn_close(g, gc);
    return;
  }
  shutdown(gc->fd, SHUT_WR);
  gc->answered = true;
  gc->since_us = now_us_mono();
}

/* A refused request: answered in the client's format. */
static void answer(struct gate *g, struct gate_conn *gc, const struct gate_verdict *v, size_t peeked)
{
  struct buf out;
  buf_init(&out, 8192);
  char method[17] = "";
  const char *sp = memchr(g->buf, ' ', peeked < 16 ? peeked : 16);
  if (sp)
    memcpy(method, g->buf, (size_t)(sp - g->buf));
  g->host.refusal(g->host.arg, method[0] ? method : NULL, v->target, v->target_len, v->status, v->reason, v->code, v->msg,
                &out);
  send_answer(g, gc, &out);
}

/* A header that passed: a probe is answered here (true), anything else goes to MHD (false). */
static bool probe(struct gate *g, struct gate_conn *gc, const struct gate_verdict *v)
{
  if (!g->host.probe || !v->target)
    return false;
  const char *m = g->buf;      /* the method: the request line's first word (after empty lines) */
  while (m < v->target && (*m == '\r' || *m == '\n'))
    m++;
  const char *me = m;
  while (me < v->target && *me != ' ')
    me++;
  struct buf out;
  buf_init(&out, 1024);
  if (!g->host.probe(g->host.arg, m, (size_t)(me - m), v->target, v->target_len, &out)) {
    buf_free(&out);
    return false;
  }
  send_answer(g, gc, &out);
  return true;
}

static void drain(struct gate *g, struct gate_conn *gc)
{
  for (;;) {
    ssize_t n = recv(gc->fd, g->buf, g->buflen, 0);
    if (n > 0) {
      gc->drained += (size_t)n;
      if (gc->drained > GATE_DRAIN_MAX)
        break;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    break;                      /* the client closed (or failed): done */
  }
  conn_close(g, gc);
}

void gate_event(struct gate *g, int fd, uint32_t events)
{
  struct gate_conn *gc = (size_t)fd < g->nby_fd ? g->by_fd[fd] : NULL;
  if (!gc) {
    epoll_ctl(g->host.epfd, EPOLL_CTL_DEL, fd, NULL);
    return;
  }
  if (gc->answered) {
    drain(g, gc);
    return;
  }
  ssize_t n = recv(fd, g->buf, g->buflen, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0) {                 /* closed (or failed) before a whole header: nothing to answer */
    conn_close(g, gc);
    return;
  }
  struct gate_verdict v;
  enum gate_result res = gate_check(g->buf, (size_t)n, (size_t)(*g->host.cfg)->max_header_bytes, &v);
  if (res == GATE_MORE && (size_t)n == g->buflen)   /* a full peek and still no end of header */
    res = too_long(&v, (size_t)(*g->host.cfg)->max_header_bytes);
  switch (res) {
  case GATE_PASS:
    if (probe(g, gc, &v)) {
      if ((size_t)fd < g->nby_fd && g->by_fd[fd] == gc)
        drain(g, gc);           /* reads (and drops) the request and what follows */
      return;
    }
    /* the small pool only where memory counts: a reconnect per stream costs more CPU than the
     * ~13 KB it saves while relayd holds few connections, counted over every worker (bench/README.md) */
    hand_over(g, gc, g->host.mhd_small && atomic_load(&g->host.budget->open) >= (size_t)(*g->host.cfg)->stream_small_pool_from &&
                         gate_small_stream(g->buf, (size_t)n, &v));
    return;
  case GATE_REFUSE:
    answer(g, gc, &v, (size_t)n);
    if ((size_t)fd < g->nby_fd && g->by_fd[fd] == gc)
      drain(g, gc);             /* reads (and drops) the peeked bytes and what follows */
    return;
  case GATE_MORE:
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      conn_close(g, gc);        /* the client stopped sending before a whole header */
    return;
  }
}

bool gate_idle(const struct gate *g)
{
  return g->n == 0 && g->list == NULL && g->resume_us == 0 && !g->aside;   /* aside: gate_turn checks */
}

void gate_sweep(struct gate *g)
{
  uint64_t now = now_us_mono();
  if (!g->listening && g->resume_us && now >= g->resume_us) {
    g->resume_us = 0;
    listen_set(g, true);
  }
  uint64_t header_us = (uint64_t)(*g->host.cfg)->client_header_timeout_s * 1000000u;
  for (struct gate_conn *gc = g->list, *next; gc; gc = next) {
    next = gc->next;
    uint64_t limit = gc->answered ? GATE_ANSWERED_US : gc->over_share && header_us > 1000000u ? 1000000u : header_us;
    if (now - gc->since_us <= limit)
      continue;
    if (!gc->answered)
      log_msg(LOG_INFO, "client too slow: connection closed", "worker=%d waiting_for=header seconds=%lld",
              g->host.idx, (long long)(limit / 1000000u));
    conn_close(g, gc);
  }
}

struct gate *gate_new(const struct gate_host *host)
{
  struct gate *g = calloc(1, sizeof *g);
  if (!g)
    return NULL;
  g->host = *host;
  g->buflen = (size_t)(*host->cfg)->max_header_bytes + 1;
  g->buf = malloc(g->buflen);
  if (!g->buf) {
    free(g);
    return NULL;
  }
  listen_set(g, true);
  return g;
}

void gate_release_all(struct gate *g)
{
  if (!g)
    return;
  listen_set(g, false);
  g->resume_us = 0;
  g->aside = false;
  while (g->list) {
    if (g->list->answered)
      conn_close(g, g->list);
    else
      hand_over(g, g->list, false);   /* its request, when it comes, gets the shutdown 503 */
  }
}

void gate_free(struct gate *g)
{
  if (!g)
    return;
  while (g->list)
    conn_close(g, g->list);
  free(g->by_fd);
  free(g->buf);
  free(g);
}
