/* rtwire: see rtwire.h. */
#include "rtwire.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "chanstate.h"
#include "log.h"
#include "rtbill.h"
#include "rtstate.h"
#include "worker.h"

static _Atomic int64_t sessions_open;
static _Atomic uint64_t sessions_total;

/* Takes fd out of the worker's epoll set (before it is closed). */
void rt_unwatch(struct rt_session *s, int fd, uint32_t *ev)
{
  if (fd >= 0 && *ev) {
    epoll_ctl(worker_epoll_fd(s->w), EPOLL_CTL_DEL, fd, NULL);
    if ((size_t)fd < s->home->nfd && s->home->by_fd[fd] == s)
      s->home->by_fd[fd] = NULL;
  }
  *ev = 0;
}

void rt_set_interest(struct rt_session *s, int fd, uint32_t *cur, uint32_t want)
{
  if (fd < 0 || want == *cur)
    return;
  if (!want) {
    rt_unwatch(s, fd, cur);
    return;
  }
  struct rt_worker *h = s->home;
  if ((size_t)fd >= h->nfd) {
    size_t n = h->nfd ? h->nfd : 256;
    while (n <= (size_t)fd)
      n *= 2;
    struct rt_session **p = realloc(h->by_fd, n * sizeof *p);   /* freed with the last session */
    if (!p)
      return;
    memset(p + h->nfd, 0, (n - h->nfd) * sizeof *p);
    h->by_fd = p;
    h->nfd = n;
  }
  /* the client's socket is in the set already (worker.c watches it for departures): taken over */
  struct epoll_event ev = {.events = want, .data.u64 = WORKER_EV_DATA(EV_WATCH, fd)};
  int epfd = worker_epoll_fd(s->w);
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    return;
  h->by_fd[fd] = s;
  *cur = want;
}

struct rt_session *rt_by_fd(struct rt_worker *h, int fd)
{
  return fd >= 0 && (size_t)fd < h->nfd ? h->by_fd[fd] : NULL;
}

int64_t rt_sessions_open(void)
{
  return atomic_load_explicit(&sessions_open, memory_order_relaxed);
}

uint64_t rt_sessions_total(void)
{
  return atomic_load_explicit(&sessions_total, memory_order_relaxed);
}

void rt_free(struct rt_session *s)
{
  struct worker *w = s->w;
  rt_unwatch(s, s->cfd, &s->cev);
  rt_unwatch(s, s->ufd, &s->uev);
  if (s->cctx)
    wslay_event_context_free(s->cctx);
  if (s->uctx)
    wslay_event_context_free(s->uctx);
  if (s->in_multi)
    curl_multi_remove_handle(worker_multi(w), s->easy);
  if (s->easy)
    curl_easy_cleanup(s->easy);         /* closes the upstream socket */
  if (s->urh) {
    MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
    worker_wake(w);                     /* MHD cleans the connection up on its next run */
  }
  rt_drop_hold(s);
  if (s->slot)                          /* the channel's concurrency slot, held for the session */
    atomic_fetch_sub_explicit(&s->slot->health->in_flight, 1, memory_order_relaxed);
  if (s->counted) {
    atomic_fetch_sub_explicit(&sessions_open, 1, memory_order_relaxed);
    log_msg(LOG_INFO, "realtime session ended", "session=%s channel=%lld responses=%u reason=%s seconds=%llu",
            s->id, (long long)s->channel->id, s->responses, s->end_reason ? s->end_reason : "done",
            (unsigned long long)((now_us_mono() - s->t0_us) / 1000000u));
  }
  snapshot_release(s->snap);
  buf_free(&s->uout);
  buf_free(&s->hs);
  free(s->upre);
  free(s->cpre);
  struct rt_worker *h = s->home;
  if (s->prev)
    s->prev->next = s->next;
  else
    h->list = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
  if (!h->list) {                       /* no session left: neither is the table */
    free(h->by_fd);
    h->by_fd = NULL;
    h->nfd = 0;
  }
}
/* Queues an error event to the client (OpenAI's realtime error event). */
void rt_send_error_event(struct rt_session *s, const char *type, const char *code, const char *msg)
{
  if (!s->cctx || s->c_dead)
    return;
  cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
  char eid[64];
  snprintf(eid, sizeof eid, "event_relay_%.28s_%u", s->id, s->responses);
  cJSON_AddStringToObject(o, "type", "error");
  cJSON_AddStringToObject(o, "event_id", eid);
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddStringToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", msg);
  cJSON_AddNullToObject(e, "param");
  cJSON_AddNullToObject(e, "event_id");
  cJSON_AddItemToObject(o, "error", e);
  char *txt = cJSON_PrintUnformatted(o);    /* owned: freed below (wslay copies it) */
  cJSON_Delete(o);
  if (!txt)
    return;
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)txt, strlen(txt)};
  wslay_event_queue_msg(s->cctx, &m);
  free(txt);
}
/* Starts the end: close frames (code, reason) to whichever side still has a live connection. */
void rt_begin_close(struct rt_session *s, uint16_t ccode, uint16_t ucode, const char *reason, const char *why)
{
  if (s->state == RT_CLOSING)
    return;
  s->state = RT_CLOSING;
  s->end_reason = why;
  s->deadline_us = now_us_mono() + RT_CLOSE_US;
  snprintf(s->close_reason, sizeof s->close_reason, "%s", reason);
  s->c_close = ccode;
  s->u_close = ucode;
}
/* Queues the pending close frame of a side whose messages are all out. */
static void close_when_flushed(struct rt_session *s, wslay_event_context_ptr ctx, bool dead, uint16_t *code)
{
  if (!*code || !ctx || dead)
    return;
  if (wslay_event_get_close_sent(ctx)) {
    *code = 0;
    return;
  }
  if (wslay_event_get_queued_msg_count(ctx) > 0)
    return;
  wslay_event_queue_close(ctx, *code, (const uint8_t *)s->close_reason, strlen(s->close_reason));
  *code = 0;
}
/* ---------------------------------------------------------------- wslay callbacks */

/* What both directions' recv do first. The bytes read before the switch to WebSocket go first (pre,
 * its length and how far it is given); then, while the other side's queue (other) is over
 * RT_QUEUE_MAX, this side is not read: the other side reads slower than we write. Returns true with
 * *r when it answered the call. */
static bool recv_pre(wslay_event_context_ptr ctx, wslay_event_context_ptr other, const uint8_t *pre,
                     size_t pre_len, size_t *off, uint8_t *buf, size_t len, ssize_t *r)
{
  if (*off < pre_len) {
    size_t n = pre_len - *off < len ? pre_len - *off : len;
    memcpy(buf, pre + *off, n);
    *off += n;
    *r = (ssize_t)n;
    return true;
  }
  if (other && wslay_event_get_queued_msg_length(other) > RT_QUEUE_MAX) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    *r = -1;
    return true;
  }
  return false;
}
/* A socket call that moved nothing: try again later (again), or that side is gone (*dead). */
static ssize_t io_stall(wslay_event_context_ptr ctx, bool again, bool *dead)
{
  if (again) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  *dead = true;
  wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}
static ssize_t c_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  ssize_t n;
  if (recv_pre(ctx, s->uctx, s->cpre, s->cpre_len, &s->cpre_off, buf, len, &n))
    return n;
  n = recv(s->cfd, buf, len, MSG_DONTWAIT);
  if (n > 0)
    return n;
  return io_stall(ctx, n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR), &s->c_dead);
}
static ssize_t c_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  ssize_t n = send(s->cfd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n >= 0)
    return n;
  return io_stall(ctx, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, &s->c_dead);
}
static ssize_t u_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  ssize_t r;
  if (recv_pre(ctx, s->cctx, s->upre, s->upre_len, &s->upre_off, buf, len, &r))
    return r;
  size_t n = 0;
  CURLcode rc = curl_easy_recv(s->easy, buf, len, &n);
  if (rc == CURLE_OK && n > 0)
    return (ssize_t)n;
  return io_stall(ctx, rc == CURLE_AGAIN, &s->u_dead);
}
static ssize_t u_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  size_t n = 0;
  CURLcode rc = curl_easy_send(s->easy, data, len, &n);
  if (rc == CURLE_OK)
    return (ssize_t)n;
  return io_stall(ctx, rc == CURLE_AGAIN, &s->u_dead);
}
static int genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
  (void)ctx;
  (void)user;
  return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}
/* A whole message from the client: passed on to the upstream as it is. */
static void c_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *user)
{
  (void)ctx;
  struct rt_session *s = user;
  s->last_frame_us = now_us_mono();
  if (a->opcode == WSLAY_CONNECTION_CLOSE) {
    /* wslay answers the client's close itself; the upstream gets the same code */
    uint16_t code = a->status_code && a->status_code != 1005 ? a->status_code : 1000;
    rt_begin_close(s, code, code, "client closed", "client_closed");
    return;
  }
  if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
    return;                             /* ping and pong are each hop's own */
  if (s->state != RT_OPEN || !s->uctx)
    return;
  if (!s->resp_t0_us && a->opcode == WSLAY_TEXT_FRAME) {
    /* the time of a response runs from the client's response.create */
    cJSON *o = cJSON_ParseWithLength((const char *)a->msg, a->msg_length);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (cJSON_IsString(t) && strcmp(t->valuestring, "response.create") == 0)
      s->resp_t0_us = now_us_mono();
    cJSON_Delete(o);
  }
  struct wslay_event_msg m = {a->opcode, a->msg, a->msg_length};
  wslay_event_queue_msg(s->uctx, &m);
}
/* A whole message from the upstream: passed on to the client; a response.done is billed. */
static void u_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *user)
{
  (void)ctx;
  struct rt_session *s = user;
  s->last_frame_us = now_us_mono();
  if (a->opcode == WSLAY_CONNECTION_CLOSE) {
    uint16_t code = a->status_code && a->status_code != 1005 ? a->status_code : 1000;
    rt_begin_close(s, code, code, "upstream closed", "upstream_closed");
    return;
  }
  if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
    return;
  if (!s->cctx || s->c_dead || s->state != RT_OPEN)
    return;
  struct wslay_event_msg m = {a->opcode, a->msg, a->msg_length};
  wslay_event_queue_msg(s->cctx, &m);
  if (a->opcode != WSLAY_TEXT_FRAME)
    return;
  cJSON *o = cJSON_ParseWithLength((const char *)a->msg, a->msg_length);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
  if (cJSON_IsString(t) && strcmp(t->valuestring, "response.done") == 0) {
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(o, "response");
    bool covered = rt_bill_response(s, cJSON_IsObject(resp) ? resp : NULL);
    int64_t avail = 0;
    struct limit_refusal why;
    if (!covered || !rt_take_hold(s, &avail, &why)) {
      char msg[300];
      if (covered && s->rate_limited) {
        snprintf(msg, sizeof msg, "Rate limit reached for %s: this %s may make %lld per %lld s. The session is "
                 "closed; connect again later.", why.kind == LIMIT_REQUESTS ? "requests" : "tokens",
                 why.scope == LIMIT_TOKEN ? "API key" : "user", (long long)why.limit,
                 (long long)s->snap->opt.rate_limit_window_s);
        rt_send_error_event(s, why.kind == LIMIT_REQUESTS ? "requests" : "tokens", "rate_limit_exceeded", msg);
        rt_begin_close(s, 1008, 1000, "rate limit exceeded", "rate_limited");
      } else {
        snprintf(msg, sizeof msg, "Not enough quota for another response: a response may cost up to %lld and "
                 "only %lld is left. The session is closed; top up and connect again.",
                 (long long)rt_hold_size(s), (long long)avail);
        rt_send_error_event(s, "insufficient_quota", "insufficient_quota", msg);
        rt_begin_close(s, 1008, 1000, "insufficient quota", "quota");
      }
    }
  }
  cJSON_Delete(o);
}
static const struct wslay_event_callbacks client_cbs = {c_recv, c_send, NULL, NULL, NULL, NULL, c_msg};
static const struct wslay_event_callbacks upstream_cbs = {u_recv, u_send, genmask, NULL, NULL, NULL, u_msg};

int rt_upstream_ws(struct rt_session *s)
{
  if (wslay_event_context_client_init(&s->uctx, &upstream_cbs, s) != 0)
    return -1;
  wslay_event_config_set_max_recv_msg_length(s->uctx, RT_MSG_MAX);
  return 0;
}

/* ---------------------------------------------------------------- the event loop's side */

/* After any event: reads and writes what each side allows, notices ends, sets the interest. */
void rt_progress(struct rt_session *s)
{
  for (int round = 0; round < 4; round++) {
    bool again = false;
    /* reads until the socket is empty (or the peer's queue is full: the recv callbacks stop);
     * also when epoll said nothing, as TLS may hold bytes already read from the socket */
    if (s->cctx && !s->c_dead && s->state >= RT_OPEN) {
      if (wslay_event_want_read(s->cctx) && wslay_event_recv(s->cctx) != 0)
        s->c_dead = true;
    }
    if (s->uctx && !s->u_dead && s->state >= RT_OPEN) {
      if (wslay_event_want_read(s->uctx) && wslay_event_recv(s->uctx) != 0)
        s->u_dead = true;
      if (!s->u_dead && wslay_event_want_write(s->uctx) && wslay_event_send(s->uctx) != 0)
        s->u_dead = true;
    }
    if (s->cctx && !s->c_dead && wslay_event_want_write(s->cctx) && wslay_event_send(s->cctx) != 0)
      s->c_dead = true;
    if (s->state == RT_CLOSING) {
      bool cq = s->c_close != 0, uq = s->u_close != 0;
      close_when_flushed(s, s->cctx, s->c_dead, &s->c_close);
      close_when_flushed(s, s->uctx, s->u_dead, &s->u_close);
      if ((cq && !s->c_close) || (uq && !s->u_close))
        again = true;               /* send the close frames now */
    }
    if (s->state == RT_OPEN && s->u_dead) {
      rt_send_error_event(s, "server_error", "upstream_disconnected",
                       "The upstream closed the realtime session without a close frame.");
      rt_begin_close(s, 1011, 1000, "upstream disconnected", "upstream_gone");
      again = true;
    } else if (s->state == RT_OPEN && s->c_dead) {
      rt_begin_close(s, 1001, 1001, "client disconnected", "client_gone");
      again = true;
    }
    if (!again)
      break;
  }
  if (s->state == RT_CLOSING) {
    bool c_done = !s->cctx || s->c_dead ||
                  (!s->c_close && wslay_event_get_close_sent(s->cctx) && !wslay_event_want_write(s->cctx));
    bool u_done = !s->uctx || s->u_dead ||
                  (!s->u_close && wslay_event_get_close_sent(s->uctx) && !wslay_event_want_write(s->uctx));
    if (c_done && u_done) {
      rt_free(s);
      return;
    }
  }
  /* a side is not read while the other has RT_QUEUE_MAX bytes waiting to go out (backpressure; its
   * EPOLLOUT brings the reading back) */
  uint32_t cw = 0, uw = 0;
  bool c_full = s->cctx && wslay_event_get_queued_msg_length(s->cctx) > RT_QUEUE_MAX;
  bool u_full = s->uctx && wslay_event_get_queued_msg_length(s->uctx) > RT_QUEUE_MAX;
  if (s->cctx && !s->c_dead) {
    if (wslay_event_want_read(s->cctx) && !u_full)
      cw |= EPOLLIN;
    if (wslay_event_want_write(s->cctx))
      cw |= EPOLLOUT;
  }
  if (s->uctx && !s->u_dead) {
    if (wslay_event_want_read(s->uctx) && !c_full)
      uw |= EPOLLIN;
    if (wslay_event_want_write(s->uctx))
      uw |= EPOLLOUT;
  }
  rt_set_interest(s, s->cfd, &s->cev, cw);
  rt_set_interest(s, s->ufd, &s->uev, uw);
}
void rt_wire_event(struct rt_session *s, int fd, uint32_t events)
{
  if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
    if (fd == s->cfd)
      s->c_dead = true;
    else
      s->u_dead = true;
  }
  rt_progress(s);
}

void rt_open_client(struct rt_session *s, int sock, struct MHD_UpgradeResponseHandle *urh, const char *extra_in,
                    size_t extra_in_size, bool stopping)
{
  s->urh = urh;
  s->cfd = sock;
  s->state = RT_OPEN;
  s->t0_us = s->last_frame_us = now_us_mono();
  s->counted = true;
  atomic_fetch_add_explicit(&sessions_open, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&sessions_total, 1, memory_order_relaxed);
  log_msg(LOG_INFO, "realtime session opened", "session=%s channel=%lld model=%s", s->id,
          (long long)s->channel->id, s->model);
  if (extra_in_size) {
    s->cpre = malloc(extra_in_size);      /* owned: rt_free */
    if (s->cpre) {
      memcpy(s->cpre, extra_in, extra_in_size);
      s->cpre_len = extra_in_size;
    }
  }
  if ((extra_in_size && !s->cpre) || wslay_event_context_server_init(&s->cctx, &client_cbs, s) != 0) {
    s->c_dead = true;
    rt_begin_close(s, 1011, 1011, "out of memory", "error");
    rt_progress(s);
    return;
  }
  wslay_event_config_set_max_recv_msg_length(s->cctx, RT_MSG_MAX);
  /* the client's socket leaves the worker's connection watch for the session's own */
  s->cev = 0;
  s->uev = 0;
  rt_set_interest(s, s->cfd, &s->cev, EPOLLIN);
  rt_set_interest(s, s->ufd, &s->uev, EPOLLIN);
  if (!s->cev || !s->uev) {
    s->c_dead = s->u_dead = true;
    rt_begin_close(s, 1011, 1011, "cannot watch", "error");
  } else if (stopping) {
    /* the worker stops (its tick may not come again): closed at once, as the tick closes the others */
    rt_send_error_event(s, "server_error", "shutting_down",
                        "The relay is shutting down: this session is closed. Connect again.");
    rt_begin_close(s, 1001, 1001, "relay shutting down", "interrupted");
  }
  rt_progress(s);
}
