/*
 * workercurl: the worker's libcurl side (see worker.h for the worker as a whole). It owns the
 * multi handle's sockets in the worker's epoll set (sock_state, indexed by descriptor), curl's timer
 * on the worker's timerfd, the two pools of easy handles and the upstream URLs a worker parsed once.
 * Its functions are declared in worker.h (the worker's one interface): worker.c's loop passes
 * upstream socket events and timer expiries here and worker_init installs the socket and timer
 * callbacks; relay's stages use worker_easy_* and worker_url. It calls nothing in worker.c.
 * Never: touches a client connection or libmicrohttpd, blocks, or runs off the worker's thread.
 */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define EV_DATA WORKER_EV_DATA

/*
 * Upstream sockets in the worker's epoll set. curl tells us what it waits for on each socket
 * (CURLMOPT_SOCKETFUNCTION). Adding and removing a kept-alive connection for every request would
 * cost two epoll_ctl calls a request, so sockets that curl itself opened (CURLOPT_OPENSOCKETFUNCTION)
 * stay in the set while idle in curl's connection cache, with the interest they had; an event on
 * such an idle socket (the server closed it) removes it then. Their state is forgotten when curl
 * closes them (CURLOPT_CLOSESOCKETFUNCTION), so a reused descriptor number starts afresh. Other
 * sockets curl reports (a resolver's) are added and removed as curl says.
 */
/*
 * Idle upstream connections (issue #26, bench/README.md "2026-12-07 session 10"). libcurl keeps a
 * connection in its cache for reuse until it has been idle CURLOPT_MAXAGE_CONN seconds (default
 * 118), and walks the whole cache once a second while transfers run (lib/url.c
 * prune_dead_connections: a liveness check, a system call, per connection): after a burst of 2,000
 * streams a light load paid ~3.5 us a second for each idle connection for two minutes. So while a
 * worker's cache holds more idle connections than it has transfers running and UPSTREAM_IDLE_KEEP
 * besides (more than the load needs), a transfer's maximum idle age is UPSTREAM_IDLE_SHORT_S: the
 * next walk closes what the load left idle that long, and the connections it keeps reusing stay.
 * Counted here per worker (these run only on the worker's thread): up_open, the sockets curl
 * opened through curl_open_cb and not yet closed; up_active, those curl waits on now.
 */
#define UPSTREAM_IDLE_KEEP 16
#define UPSTREAM_IDLE_SHORT_S 5L
#define UPSTREAM_IDLE_DEFAULT_S 118L      /* libcurl's own default */
static _Thread_local size_t up_open, up_active;

struct sock_state {
  uint8_t in_epoll;        /* registered in w->epfd */
  uint8_t mask;            /* CURL_POLL_IN/OUT bits registered */
  uint8_t active;          /* curl waits on it now (between ADD and REMOVE) */
  uint8_t owned;           /* opened through our opensocket callback */
};

static struct sock_state *sock_state(struct worker *w, curl_socket_t s)
{
  if (s < 0)
    return NULL;
  if ((size_t)s >= w->nsocks) {
    size_t n = w->nsocks ? w->nsocks : 1024;
    while (n <= (size_t)s)
      n *= 2;
    struct sock_state *p = realloc(w->socks, n * sizeof *p);
    if (!p)
      return NULL;
    memset(p + w->nsocks, 0, (n - w->nsocks) * sizeof *p);
    w->socks = p;
    w->nsocks = n;
  }
  return &w->socks[s];
}

static curl_socket_t curl_open_cb(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
  struct worker *w = userp;
  (void)purpose;
  curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  struct sock_state *st = s >= 0 ? sock_state(w, s) : NULL;
  if (st) {
    *st = (struct sock_state){.owned = 1};
    up_open++;
  }
  return s;
}

static int curl_close_cb(void *userp, curl_socket_t s)
{
  struct worker *w = userp;
  struct sock_state *st = sock_state(w, s);
  if (st) {
    if (st->owned && up_open)
      up_open--;
    if (st->owned && st->active && up_active)
      up_active--;
    *st = (struct sock_state){0};       /* close() takes it out of the epoll set */
  }
  return close(s);
}

static void sock_del(struct worker *w, curl_socket_t s, struct sock_state *st)
{
  if (st->in_epoll)
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
  st->in_epoll = 0;
  st->mask = 0;
}

int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
  (void)e;
  (void)socketp;
  struct worker *w = userp;
  struct sock_state *st = sock_state(w, s);
  if (!st)
    return -1;
  if (what == CURL_POLL_REMOVE) {
    if (st->owned && st->active && up_active)
      up_active--;
    st->active = 0;
    if (!st->owned)
      sock_del(w, s, st);
    return 0;
  }
  if (st->owned && !st->active)
    up_active++;
  st->active = 1;
  uint8_t want = (uint8_t)(what & (CURL_POLL_IN | CURL_POLL_OUT));
  if (st->in_epoll && st->mask == want)
    return 0;
  struct epoll_event ev = {.data.u64 = EV_DATA(EV_CURL_SOCK, s),
                           .events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0)};
  int op = st->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(w->epfd, op, s, &ev) < 0) {
    /* our record was stale (the descriptor was closed and reused behind our back) */
    if (epoll_ctl(w->epfd, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0)
      return -1;
  }
  st->in_epoll = 1;
  st->mask = want;
  return 0;
}

/* An event on an upstream socket: curl's, or an idle cached one (then stop watching it). */
void curl_sock_event(struct worker *w, int fd, uint32_t events)
{
  struct sock_state *st = sock_state(w, fd);
  if (st && !st->active) {
    sock_del(w, fd, st);
    return;
  }
  int running;
  int mask = (events & EPOLLIN ? CURL_CSELECT_IN : 0) | (events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
             (events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
  curl_multi_socket_action(w->multi, fd, mask, &running);
}

/* curl's timer. Re-arming the timerfd for every change costs a system call each time, so it is
 * only moved earlier: firing early is harmless (curl finds nothing due and asks again). */
int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
  (void)m;
  struct worker *w = userp;
  if (timeout_ms < 0)
    return 0;                  /* disarm: a later spurious expiry only costs one idle call */
  if (timeout_ms == 0) {
    w->curl_timeout_due = true;
    return 0;
  }
  uint64_t due = now_us_mono() + (uint64_t)timeout_ms * 1000u;
  if (w->timer_due_us && w->timer_due_us <= due)
    return 0;
  struct itimerspec its = {.it_value = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L}};
  timerfd_settime(w->timerfd, 0, &its, NULL);
  w->timer_due_us = due;
  return 0;
}

void curl_collect(struct worker *w)
{
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(w->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    struct request *r = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    CURLcode res = msg->data.result;
    if (r)
      w->h->on_upstream_done(r, res);
  }
}

/* e's maximum idle age of a connection it reuses or finds in the cache (see UPSTREAM_IDLE_KEEP) */
static void set_max_idle(CURL *e)
{
  size_t idle = up_open > up_active ? up_open - up_active : 0;
  curl_easy_setopt(e, CURLOPT_MAXAGE_CONN,
                   idle > up_active + UPSTREAM_IDLE_KEEP ? UPSTREAM_IDLE_SHORT_S : UPSTREAM_IDLE_DEFAULT_S);
}

CURL *worker_easy_get(struct worker *w)
{
  CURL *e;
  if (w->easy_pool_len) {
    e = w->easy_pool[--w->easy_pool_len];
    curl_easy_reset(e);
  } else {
    e = curl_easy_init();
    if (!e) {
      log_msg(LOG_ERR, "curl_easy_init failed: out of memory", "");
      abort();
    }
  }
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, curl_open_cb);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, w);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, curl_close_cb);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, w);
  set_max_idle(e);
  return e;
}

/* e onto the pool *pool (grown by doubling; e is cleaned up when it cannot grow). */
static void easy_push(CURL ***pool, size_t *len, size_t *cap, CURL *e)
{
  if (*len == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    CURL **p = realloc(*pool, nc * sizeof *p);
    if (!p) {
      curl_easy_cleanup(e);
      return;
    }
    *pool = p;
    *cap = nc;
  }
  curl_easy_setopt(e, CURLOPT_PRIVATE, NULL);
  (*pool)[(*len)++] = e;
}

void worker_easy_put(struct worker *w, CURL *e)
{
  easy_push(&w->easy_pool, &w->easy_pool_len, &w->easy_pool_cap, e);
}

/* curl_easy_reset and the options above cost about 4k instructions a request (bench/README.md):
 * an attempt's handle keeps its options from one attempt to the next instead. */
CURL *worker_easy_get_kept(struct worker *w, bool *fresh)
{
  *fresh = !w->kept_pool_len;
  if (*fresh)
    return worker_easy_get(w);
  CURL *e = w->kept_pool[--w->kept_pool_len];
  set_max_idle(e);
  return e;
}

void worker_easy_put_kept(struct worker *w, CURL *e)
{
  easy_push(&w->kept_pool, &w->kept_pool_len, &w->kept_pool_cap, e);
}

/* curl parses a CURLOPT_URL string on every transfer (curl_url_set, then curl_url_get of the whole
 * URL back); given a CURLU it copies that instead (curl_url_dup). */
CURLU *worker_url(struct worker *w, const char *url)
{
  CURLU *u = strmap_get(&w->urls, url);
  if (u || w->urls.count >= WORKER_URLS)
    return u;
  char *key = strdup(url);          /* key and u: owned by w->urls, freed in worker_join */
  if (!key || !(u = curl_url())) {
    free(key);
    return NULL;
  }
  if (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    curl_url_cleanup(u);
    free(key);
    return NULL;
  }
  strmap_put(&w->urls, key, u);
  return u;
}
