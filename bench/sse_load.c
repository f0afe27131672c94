/*
 * sse-load: an SSE (server-sent events) load generator for relay's benchmarks.
 *
 * Run mode (default): keeps --streams N streaming POST requests open at once and starts a new one
 * each time one ends, until --total M have ended or --duration-s S has passed (streams still open
 * then are abandoned and not counted). Per stream it measures the time to the first data event
 * (TTFD: from adding the request to the first "data:" line of the first event), the largest gap
 * between consecutive events, and the number of events; a stream succeeds when it got HTTP 200,
 * no transfer error, and its last event was "data: [DONE]". Prints a summary table, or one JSON
 * object with --json (keys: streams, failures, streams_per_s, ttfd_p50_ms, ttfd_p99_ms,
 * gap_p50_ms, gap_p99_ms, gap_max_ms, events, elapsed_s, abandoned). Percentiles are over the
 * streams that succeeded.
 *
 * Hold mode (--hold): opens N streams (the caller supplies a slow body), waits until each has
 * received its first event (or --timeout-s passes), keeps them open for --duration-s, then closes
 * them all. Prints one JSON object: {"open":..,"failures":..,...} where open counts the streams
 * still open (and past their first event) at the end of the hold and failures those that failed
 * (error, status, ended without [DONE], or no first event within the timeout).
 *
 * Design: ONE thread, one libcurl multi handle driven by curl_multi_socket_action and epoll (the
 * curl_multi_poll loop rescans every transfer on each wake-up, which does not scale to 10,000
 * slow streams). HTTP/1.1, connections reused (FORBID_REUSE 0), no per-host connection cap. One
 * easy handle per concurrent slot, created once and re-added for each new stream. SSE is parsed
 * incrementally in the write callback with a fixed per-stream state (no allocation per event).
 * --connect-rate R limits how many new connections are opened per second (a token bucket; a
 * stream that can reuse an idle connection does not wait for a token).
 *
 * Exit status: 0 when every stream succeeded, 1 when some failed, 2 on usage or setup errors.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 100000
#define FD_RESERVE 64          /* descriptors beyond one per stream: stdio, epoll, spare */
#define HEAD_MAX 16            /* first bytes of an SSE line kept: enough for "data: [DONE]" */
#define EPOLL_BATCH 512
#define DEFAULT_MODEL "gpt-4o-mini"
#define DEFAULT_BODY "{\"model\":\"" DEFAULT_MODEL "\",\"stream\":true," \
                     "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}]}"

/* ------------------------------------------------------------------------------------------ */

struct stream {
  CURL *easy;
  uint64_t t_start;      /* ns, when the transfer was added */
  uint64_t t_first;      /* ns, first data event; 0 = none yet */
  uint64_t t_last;       /* ns, last data event */
  uint64_t ev_t;         /* ns, first data line of the event being read */
  uint64_t max_gap;      /* ns */
  uint64_t nevents;
  uint32_t line_len;     /* bytes in the current line so far (saturating) */
  char head[HEAD_MAX];   /* its first bytes */
  bool after_cr;         /* last byte was '\r' (a following '\n' ends nothing) */
  bool ev_data;          /* the event being read has a data line */
  bool ev_done;          /* ... and its data is exactly "[DONE]" */
  bool got_done;         /* the last dispatched event was [DONE] */
  bool active;
};

struct samples {
  uint64_t *v;
  size_t n, cap;
};

enum phase { PH_RUN, PH_RAMP, PH_HOLD, PH_END };

static struct {
  /* options */
  const char *url, *key, *body_arg, *ready_file;
  long streams, total;
  double duration_s, connect_rate, timeout_s;
  bool hold, json;

  CURLM *multi;
  int epfd;
  struct curl_slist *headers;
  char *body;
  struct stream *slots;
  long *free_slots;
  long nfree;

  /* curl timer */
  bool timer_set;
  uint64_t timer_due;

  /* connection accounting for --connect-rate */
  long open_socks;
  double tokens, token_cap;
  uint64_t token_t;

  /* progress */
  enum phase phase;
  long active, started, ok, failures, abandoned, opened, finished_early;
  long waiting_first;    /* active streams without a first event yet */
  long fail_curl, fail_status, fail_nodone, fail_timeout;
  char first_curl_err[CURL_ERROR_SIZE + 64];
  long first_bad_status;
  uint64_t events;
  uint64_t t0, t_end, deadline, hold_end, t_ramp_done;
  struct samples ttfd, gap;
} G;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
  (void)sig;
  g_stop = 1;
}

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("sse-load: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static void samples_add(struct samples *s, uint64_t v)
{
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 1024;
    uint64_t *p = realloc(s->v, nc * sizeof *p);
    if (!p)
      die("%s", "out of memory");
    s->v = p;
    s->cap = nc;
  }
  s->v[s->n++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void samples_sort(struct samples *s)
{
  if (s->n)
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
}

/* Nearest-rank percentile in ms of sorted samples; NAN when there are none. */
static double pct_ms(const struct samples *s, double p)
{
  if (!s->n)
    return NAN;
  size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
  if (rank < 1)
    rank = 1;
  if (rank > s->n)
    rank = s->n;
  return (double)s->v[rank - 1] / 1e6;
}

/* ------------------------------------------------------------------------------------------ */
/* SSE parsing                                                                                 */

static void end_line(struct stream *s, uint64_t *now)
{
  uint32_t len = s->line_len;
  s->line_len = 0;
  if (len == 0) {   /* blank line: dispatch the event, if it had data */
    if (!s->ev_data)
      return;
    s->nevents++;
    G.events++;
    if (!s->t_first) {
      s->t_first = s->ev_t;
      G.waiting_first--;
      if (G.phase == PH_RAMP) {
        G.opened++;
        samples_add(&G.ttfd, s->t_first - s->t_start);
      }
    } else if (s->ev_t - s->t_last > s->max_gap) {
      s->max_gap = s->ev_t - s->t_last;
    }
    s->t_last = s->ev_t;
    s->got_done = s->ev_done;
    s->ev_data = s->ev_done = false;
    return;
  }
  if (len < 5 || memcmp(s->head, "data:", 5) != 0)
    return;     /* event:, id:, retry:, comments and unknown fields */
  const char *v = s->head + 5;
  uint32_t vlen = len - 5;
  if (vlen && *v == ' ')
    v++, vlen--;
  bool done = vlen == 6 && memcmp(v, "[DONE]", 6) == 0;
  if (!s->ev_data) {
    if (!*now)
      *now = now_ns();
    s->ev_t = *now;
    s->ev_data = true;
    s->ev_done = done;
  } else {
    s->ev_done = false;    /* a multi-line data field is not the [DONE] marker */
  }
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
  struct stream *s = ud;
  size_t n = size * nmemb;
  uint64_t now = 0;   /* taken lazily, once per call */
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == '\n' || c == '\r') {
      if (c == '\n' && s->after_cr) {
        s->after_cr = false;
        continue;
      }
      s->after_cr = c == '\r';
      end_line(s, &now);
      continue;
    }
    s->after_cr = false;
    if (s->line_len < HEAD_MAX)
      s->head[s->line_len] = c;
    if (s->line_len < UINT32_MAX)
      s->line_len++;
  }
  return n;
}

/* ------------------------------------------------------------------------------------------ */
/* curl plumbing                                                                               */

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
  (void)e, (void)userp;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(G.epfd, EPOLL_CTL_DEL, fd, NULL);   /* may already be gone with the fd */
    curl_multi_assign(G.multi, fd, NULL);
    return 0;
  }
  struct epoll_event ev = {.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                                     ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u),
                           .data.fd = fd};
  int op = sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(G.epfd, op, fd, &ev) < 0) {
    op = errno == EEXIST ? EPOLL_CTL_MOD : errno == ENOENT ? EPOLL_CTL_ADD : -1;
    if (op < 0 || epoll_ctl(G.epfd, op, fd, &ev) < 0) {
      fprintf(stderr, "sse-load: epoll_ctl(%d): %s\n", fd, strerror(errno));
      return -1;
    }
  }
  if (!sockp)
    curl_multi_assign(G.multi, fd, (void *)1);
  return 0;
}

static int on_timer(CURLM *m, long ms, void *userp)
{
  (void)m, (void)userp;
  if (ms < 0) {
    G.timer_set = false;
  } else {
    G.timer_set = true;
    G.timer_due = now_ns() + (uint64_t)ms * 1000000u;
  }
  return 0;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
  (void)clientp, (void)purpose;
  curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd != CURL_SOCKET_BAD)
    G.open_socks++;
  return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd)
{
  (void)clientp;
  G.open_socks--;
  return close(fd);
}

static void setup_easy(struct stream *s)
{
  CURL *e = curl_easy_init();
  if (!e)
    die("%s", "curl_easy_init failed");
  s->easy = e;
  bool small = G.streams > 2000;
  curl_easy_setopt(e, CURLOPT_URL, G.url);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, G.body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(G.body));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, G.headers);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 60L);
  /* the download buffer is allocated per easy handle: keep 10,000 of them small */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, small ? 4096L : 16384L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(e, CURLOPT_PRIVATE, s);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
}

/* ------------------------------------------------------------------------------------------ */
/* streams                                                                                     */

static bool token_available(uint64_t now)
{
  if (G.connect_rate <= 0)
    return true;
  if (G.open_socks - G.active > 0)
    return true;   /* an idle connection will be reused */
  G.tokens += (double)(now - G.token_t) * G.connect_rate / 1e9;
  if (G.tokens > G.token_cap)
    G.tokens = G.token_cap;
  G.token_t = now;
  if (G.tokens < 1.0)
    return false;
  G.tokens -= 1.0;
  return true;
}

static bool want_more(void)
{
  if (g_stop || G.nfree == 0)
    return false;
  if (G.phase == PH_RUN)
    return G.total <= 0 || G.started < G.total;
  if (G.phase == PH_RAMP)
    return G.started < G.streams;
  return false;
}

static void start_streams(void)
{
  uint64_t now = now_ns();
  while (want_more() && token_available(now)) {
    struct stream *s = &G.slots[G.free_slots[--G.nfree]];
    CURL *e = s->easy;
    memset(s, 0, sizeof *s);
    s->easy = e;
    s->active = true;
    s->t_start = now;
    CURLMcode rc = curl_multi_add_handle(G.multi, e);
    if (rc != CURLM_OK)
      die("curl_multi_add_handle: %s", curl_multi_strerror(rc));
    if (!G.t0)
      G.t0 = now;
    G.active++;
    G.started++;
    G.waiting_first++;
  }
}

/* Removes a stream's transfer and puts its slot back. */
static void release(struct stream *s)
{
  curl_multi_remove_handle(G.multi, s->easy);
  s->active = false;
  G.active--;
  if (!s->t_first)
    G.waiting_first--;
  G.free_slots[G.nfree++] = s - G.slots;
}

static void stream_done(struct stream *s, CURLcode res)
{
  long status = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  bool ok = false;
  if (res != CURLE_OK) {
    if (!G.fail_curl)
      snprintf(G.first_curl_err, sizeof G.first_curl_err, "%s (status %ld, %" PRIu64 " events)",
               curl_easy_strerror(res), status, s->nevents);
    G.fail_curl++;
  } else if (status != 200) {
    if (!G.fail_status)
      G.first_bad_status = status;
    G.fail_status++;
  } else if (!s->got_done || s->ev_data || s->line_len) {
    G.fail_nodone++;
  } else {
    ok = true;
  }
  if (ok && G.phase != PH_RUN) {
    G.finished_early++;   /* hold mode: ended properly before we closed it */
  } else if (ok) {
    G.ok++;
    samples_add(&G.ttfd, s->t_first - s->t_start);
    samples_add(&G.gap, s->max_gap);
  } else {
    G.failures++;
  }
  G.t_end = now_ns();
  release(s);
}

static void drain_done(void)
{
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(G.multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    char *priv = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    stream_done((struct stream *)(void *)priv, msg->data.result);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* main loop                                                                                   */

static void socket_action(curl_socket_t fd, int flags)
{
  int running;
  CURLMcode rc = curl_multi_socket_action(G.multi, fd, flags, &running);
  if (rc != CURLM_OK && rc != CURLM_BAD_SOCKET)
    die("curl_multi_socket_action: %s", curl_multi_strerror(rc));
}

static int wait_ms(uint64_t now)
{
  uint64_t due = UINT64_MAX;
  if (G.timer_set)
    due = G.timer_due;
  if (G.deadline && G.deadline < due)
    due = G.deadline;
  if (G.connect_rate > 0 && want_more()) {
    /* next token */
    double need = 1.0 - G.tokens;
    uint64_t t = G.token_t + (need > 0 ? (uint64_t)(need * 1e9 / G.connect_rate) : 0);
    if (t < due)
      due = t;
  }
  if (due == UINT64_MAX)
    return G.active ? 1000 : 0;
  if (due <= now)
    return 0;
  uint64_t ms = (due - now + 999999) / 1000000;
  return ms > 1000 ? 1000 : (int)ms;
}

static void close_all(void)
{
  for (long i = 0; i < G.streams; i++)
    if (G.slots[i].active)
      release(&G.slots[i]);
}

/* Ends the ramp of hold mode: streams without a first event by now count as failures. */
static void ramp_done(uint64_t now)
{
  for (long i = 0; i < G.streams; i++) {
    struct stream *s = &G.slots[i];
    if (s->active && !s->t_first) {
      G.fail_timeout++;
      G.failures++;
      release(s);
    }
  }
  G.t_ramp_done = now;
  G.phase = PH_HOLD;
  G.hold_end = now + (uint64_t)(G.duration_s * 1e9);
  G.deadline = G.hold_end;
  long open = G.active;
  fprintf(stderr, "sse-load: %ld streams open, %ld failed, ramp %.3f s; holding %.1f s\n", open,
          G.failures, (double)(now - G.t0) / 1e9, G.duration_s);
  if (G.ready_file) {
    FILE *f = fopen(G.ready_file, "w");
    if (f) {
      fprintf(f, "{\"open\":%ld,\"failures\":%ld}\n", open, G.failures);
      fclose(f);
    } else {
      fprintf(stderr, "sse-load: cannot write %s: %s\n", G.ready_file, strerror(errno));
    }
  }
}

static void run_loop(void)
{
  struct epoll_event evs[EPOLL_BATCH];
  for (;;) {
    start_streams();
    uint64_t now = now_ns();
    if (G.phase == PH_RUN) {
      bool stop = g_stop || (G.deadline && now >= G.deadline);
      if (stop || (G.active == 0 && !want_more()))
        break;
    } else if (G.phase == PH_RAMP) {
      if (g_stop || now >= G.deadline || (G.started == G.streams && G.waiting_first == 0)) {
        ramp_done(now);
        continue;
      }
    } else if (G.phase == PH_HOLD) {
      if (g_stop || now >= G.hold_end || G.active == 0)
        break;
    }
    int n = epoll_wait(G.epfd, evs, EPOLL_BATCH, wait_ms(now));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
      int flags = 0;
      if (evs[i].events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
      if (evs[i].events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
      if (evs[i].events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
      socket_action(evs[i].data.fd, flags);
    }
    if (G.timer_set && now_ns() >= G.timer_due) {
      G.timer_set = false;
      socket_action(CURL_SOCKET_TIMEOUT, 0);
    }
    drain_done();
  }
}

/* ------------------------------------------------------------------------------------------ */
/* setup and output                                                                            */

static void usage(FILE *f)
{
  fputs("usage: sse-load --url URL [--key KEY] --streams N [--total M] [--duration-s S]\n"
        "                [--body JSON] [--hold] [--connect-rate R] [--timeout-s T]\n"
        "                [--ready-file FILE] [--json]\n"
        "  --url URL           streaming endpoint, e.g. http://127.0.0.1:8080/v1/chat/completions\n"
        "  --key KEY           sent as Authorization: Bearer KEY\n"
        "  --streams N         concurrent streams (at most " "100000" ")\n"
        "  --total M           run mode: stop after M streams ended\n"
        "  --duration-s S      run mode: stop after S seconds (open streams are abandoned);\n"
        "                      hold mode: how long to hold the streams open (default 0)\n"
        "  --body JSON         request body; \"stream\":true, \"model\" and \"messages\" are added\n"
        "                      when missing (default " DEFAULT_BODY ")\n"
        "  --hold              hold mode: open N streams, hold them, close them; prints JSON\n"
        "  --connect-rate R    at most R new connections per second (default unlimited)\n"
        "  --timeout-s T       hold mode: time allowed for every stream's first event (default 120)\n"
        "  --ready-file FILE   hold mode: write {\"open\":..,\"failures\":..} here once the ramp ends\n"
        "  --json              one JSON object on stdout instead of a table\n"
        "exit status: 0 all streams succeeded, 1 some failed, 2 usage or setup error\n",
        f);
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "sse-load: %s wants a number in [%g, %g], not '%s'\n", opt, lo, hi, s);
    exit(2);
  }
  return v;
}

/* The body to send: the caller's JSON with stream/model/messages filled in when missing. */
static char *make_body(const char *arg)
{
  cJSON *root = cJSON_Parse(arg ? arg : DEFAULT_BODY);
  if (!root || !cJSON_IsObject(root))
    die("--body is not a JSON object: %s", arg);
  cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
  if (!stream)
    cJSON_AddBoolToObject(root, "stream", 1);
  else if (!cJSON_IsTrue(stream))
    die("%s", "--body has \"stream\" other than true; sse-load needs streams");
  if (!cJSON_GetObjectItemCaseSensitive(root, "model"))
    cJSON_AddStringToObject(root, "model", DEFAULT_MODEL);
  if (!cJSON_GetObjectItemCaseSensitive(root, "messages")) {
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    cJSON *m = cJSON_CreateObject();
    if (!msgs || !m)
      die("%s", "out of memory");
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", "Say hello.");
    cJSON_AddItemToArray(msgs, m);
  }
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!out)
    die("%s", "out of memory");
  return out;
}

static void raise_nofile(long need)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    die("getrlimit: %s", strerror(errno));
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need) {
    fprintf(stderr, "sse-load: %ld streams need %ld file descriptors; RLIMIT_NOFILE allows %llu\n",
            need - FD_RESERVE, need, (unsigned long long)rl.rlim_cur);
    exit(2);
  }
}

/* JSON has no NaN: an empty percentile prints as null. */
static void put_ms(const char *key, double v, bool last)
{
  if (isnan(v))
    printf("\"%s\":null%s", key, last ? "" : ",");
  else
    printf("\"%s\":%.3f%s", key, v, last ? "" : ",");
}

static void print_row(const char *name, double p50, double p99, double max)
{
  if (isnan(p50))
    printf("%-18s %12s %12s %12s\n", name, "-", "-", "-");
  else
    printf("%-18s %12.3f %12.3f %12.3f\n", name, p50, p99, max);
}

static void report_failures(void)
{
  if (!G.failures)
    return;
  fprintf(stderr, "sse-load: %ld failures: %ld transfer errors, %ld bad status, %ld without [DONE]",
          G.failures, G.fail_curl, G.fail_status, G.fail_nodone);
  if (G.fail_timeout)
    fprintf(stderr, ", %ld without a first event in %g s", G.fail_timeout, G.timeout_s);
  fputc('\n', stderr);
  if (G.fail_curl)
    fprintf(stderr, "sse-load: first transfer error: %s\n", G.first_curl_err);
  if (G.fail_status)
    fprintf(stderr, "sse-load: first bad status: %ld\n", G.first_bad_status);
}

static void report_run(void)
{
  uint64_t end = G.t_end > G.t0 ? G.t_end : now_ns();
  double elapsed = G.t0 ? (double)(end - G.t0) / 1e9 : 0;
  long streams = G.ok + G.failures;
  double sps = elapsed > 0 ? (double)streams / elapsed : 0;
  samples_sort(&G.ttfd);
  samples_sort(&G.gap);
  double t50 = pct_ms(&G.ttfd, 50), t99 = pct_ms(&G.ttfd, 99), tmax = pct_ms(&G.ttfd, 100);
  double g50 = pct_ms(&G.gap, 50), g99 = pct_ms(&G.gap, 99), gmax = pct_ms(&G.gap, 100);
  if (G.json) {
    printf("{\"streams\":%ld,\"failures\":%ld,\"streams_per_s\":%.1f,", streams, G.failures, sps);
    put_ms("ttfd_p50_ms", t50, false);
    put_ms("ttfd_p99_ms", t99, false);
    put_ms("gap_p50_ms", g50, false);
    put_ms("gap_p99_ms", g99, false);
    put_ms("gap_max_ms", gmax, false);
    printf("\"events\":%" PRIu64 ",\"elapsed_s\":%.3f,\"abandoned\":%ld}\n", G.events, elapsed,
           G.abandoned);
  } else {
    printf("streams completed  %ld\n", streams);
    printf("failures           %ld\n", G.failures);
    if (G.abandoned)
      printf("abandoned          %ld (still open at the end of --duration-s)\n", G.abandoned);
    printf("elapsed            %.3f s\n", elapsed);
    printf("streams/s          %.1f\n", sps);
    printf("events             %" PRIu64 "\n", G.events);
    printf("%-18s %12s %12s %12s\n", "(ms, successes)", "p50", "p99", "max");
    print_row("time to 1st data", t50, t99, tmax);
    print_row("largest gap", g50, g99, gmax);
  }
  report_failures();
}

static void report_hold(long open, double held_s)
{
  samples_sort(&G.ttfd);
  double ramp = G.t_ramp_done > G.t0 ? (double)(G.t_ramp_done - G.t0) / 1e9 : 0;
  printf("{\"open\":%ld,\"failures\":%ld,\"opened\":%ld,\"finished_early\":%ld,", open, G.failures,
         G.opened, G.finished_early);
  put_ms("ttfd_p50_ms", pct_ms(&G.ttfd, 50), false);
  put_ms("ttfd_p99_ms", pct_ms(&G.ttfd, 99), false);
  printf("\"ramp_s\":%.3f,\"held_s\":%.3f,\"events\":%" PRIu64 "}\n", ramp, held_s, G.events);
  report_failures();
}

int main(int argc, char **argv)
{
  enum { O_URL = 1, O_KEY, O_STREAMS, O_TOTAL, O_DUR, O_BODY, O_HOLD, O_RATE, O_TIMEOUT, O_READY,
         O_JSON };
  static const struct option opts[] = {
      {"url", required_argument, NULL, O_URL},
      {"key", required_argument, NULL, O_KEY},
      {"streams", required_argument, NULL, O_STREAMS},
      {"total", required_argument, NULL, O_TOTAL},
      {"duration-s", required_argument, NULL, O_DUR},
      {"body", required_argument, NULL, O_BODY},
      {"hold", no_argument, NULL, O_HOLD},
      {"connect-rate", required_argument, NULL, O_RATE},
      {"timeout-s", required_argument, NULL, O_TIMEOUT},
      {"ready-file", required_argument, NULL, O_READY},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  G.timeout_s = 120;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_URL: G.url = optarg; break;
    case O_KEY: G.key = optarg; break;
    case O_STREAMS: G.streams = (long)parse_num("--streams", optarg, 1, MAX_STREAMS); break;
    case O_TOTAL: G.total = (long)parse_num("--total", optarg, 1, 1e12); break;
    case O_DUR: G.duration_s = parse_num("--duration-s", optarg, 0, 1e7); break;
    case O_BODY: G.body_arg = optarg; break;
    case O_HOLD: G.hold = true; break;
    case O_RATE: G.connect_rate = parse_num("--connect-rate", optarg, 0.001, 1e9); break;
    case O_TIMEOUT: G.timeout_s = parse_num("--timeout-s", optarg, 0.001, 1e7); break;
    case O_READY: G.ready_file = optarg; break;
    case O_JSON: G.json = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc || !G.url || !G.streams) {
    usage(stderr);
    return 2;
  }
  if (!G.hold && G.total <= 0 && G.duration_s <= 0) {
    fprintf(stderr, "sse-load: give --total, --duration-s or both\n");
    return 2;
  }
  if (G.key && strlen(G.key) > 4096)
    die("%s", "--key is too long");

  if (!G.hold && G.total > 0 && G.total < G.streams)
    G.streams = G.total;   /* never more at once than in all */
  raise_nofile(G.streams + FD_RESERVE);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    die("%s", "curl_global_init failed");
  G.body = make_body(G.body_arg);
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Content-Type: application/json");
  if (h)
    h = curl_slist_append(h, "Accept: text/event-stream");
  if (h)
    h = curl_slist_append(h, "Expect:");
  if (h && G.key) {
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", G.key);
    h = curl_slist_append(h, auth);
  }
  if (!h)
    die("%s", "out of memory");
  G.headers = h;

  G.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (G.epfd < 0)
    die("epoll_create1: %s", strerror(errno));
  G.multi = curl_multi_init();
  if (!G.multi)
    die("%s", "curl_multi_init failed");
  curl_multi_setopt(G.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(G.multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(G.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(G.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  curl_multi_setopt(G.multi, CURLMOPT_MAXCONNECTS, G.streams);
  curl_multi_setopt(G.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);

  G.slots = calloc((size_t)G.streams, sizeof *G.slots);
  G.free_slots = calloc((size_t)G.streams, sizeof *G.free_slots);
  if (!G.slots || !G.free_slots)
    die("%s", "out of memory");
  for (long i = 0; i < G.streams; i++) {
    setup_easy(&G.slots[i]);
    G.free_slots[G.nfree++] = G.streams - 1 - i;
  }
  if (G.connect_rate > 0) {
    G.token_cap = G.connect_rate / 20 > 1 ? G.connect_rate / 20 : 1;
    G.tokens = G.token_cap;
    G.token_t = now_ns();
  }

  int rc;
  if (!G.hold) {
    G.phase = PH_RUN;
    if (G.duration_s > 0)
      G.deadline = now_ns() + (uint64_t)(G.duration_s * 1e9);
    run_loop();
    G.abandoned = G.active;
    if (G.abandoned)
      G.t_end = now_ns();    /* the window ended at the deadline, not at the last completion */
    close_all();
    report_run();
    rc = G.failures ? 1 : 0;
  } else {
    G.phase = PH_RAMP;
    G.deadline = now_ns() + (uint64_t)(G.timeout_s * 1e9);
    run_loop();
    if (G.phase == PH_RAMP)     /* only when everything ended during the ramp */
      ramp_done(now_ns());
    uint64_t t_close = now_ns();
    long open = 0;
    for (long i = 0; i < G.streams; i++)
      open += G.slots[i].active && G.slots[i].t_first;
    G.phase = PH_END;
    close_all();
    report_hold(open, (double)(t_close - G.t_ramp_done) / 1e9);
    rc = G.failures ? 1 : 0;
  }

  for (long i = 0; i < G.streams; i++)
    curl_easy_cleanup(G.slots[i].easy);
  curl_multi_cleanup(G.multi);
  curl_slist_free_all(G.headers);
  cJSON_free(G.body);
  curl_global_cleanup();
  close(G.epfd);
  free(G.slots);
  free(G.free_slots);
  free(G.ttfd.v);
  free(G.gap.v);
  fflush(stdout);
  return rc;
}
