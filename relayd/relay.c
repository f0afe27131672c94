/* relay: see relay.h. The worker's handlers, and the ends of requests the worker decides: the
 * shutdown deadline, a client gone, a connection closed. */
#include "relay.h"

#include "attempt.h"
#include "front.h"
#include "limitwait.h"
#include "realtime.h"
#include "reqpool.h"
#include "imginline.h"
#include "log.h"
#include "request.h"
#include "respond.h"
#include "selfserve.h"
#include "settle.h"
#include "stream.h"

/* Ends every request of w still waiting on an upstream (shutdown deadline): the client gets a 503
 * or an error event, and billing is settled as "interrupted". */
static void relay_end_all(struct worker *w)
{
  realtime_end_all(w);
  for (struct request *r = local(w)->requests; r; r = r->next) {
    if (r->phase == PH_LIMIT_WAIT) {     /* waiting for channel room: nothing reserved yet */
      limitwait_forget(r);
      struct MHD_Response *resp = error_response(r, 503, "relay_error", "shutting_down", NULL,
                                                 "The relay shut down while this request waited for a "
                                                 "channel; nothing was charged. Try again.");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
      respond_later(r, 503, resp);
      continue;
    }
    if (!r->easy && !imginline_active(r))
      continue;
    detach_upstream(r);
    if (r->committed) {
      stream_error_event(r, "interrupted",
                         "The relay is shutting down: this stream was interrupted and is billed "
                         "for what was sent.");
      r->upstream_done = true;
      settle(r, "interrupted");
      wake_reader(r);
    } else if (r->def && r->def->ep == EP_COUNT_TOKENS) {
      count_tokens_done(r, CURLE_ABORTED_BY_CALLBACK);   /* relay counts itself */
    } else if (r->billing_open) {
      r->final_status = 503;
      settle(r, "interrupted");
      struct MHD_Response *resp = error_response(r, 503, "relay_error", "shutting_down", NULL,
                                                 "The relay shut down before the upstream answered; "
                                                 "nothing was charged. Try again.");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
      respond_later(r, 503, resp);
    }
  }
}

/* The client of r closed its side of the connection: abort the upstream, bill what was produced
 * (end reason client_gone). */
static void relay_client_gone(struct request *r)
{
  if (!r->billing_open || r->settled)
    return;           /* nothing waits on an upstream: MHD sees the closed socket itself */
  /* A client that leaves once its answer's own end reached it is done, not gone: Codex exits on
   * response.completed, before the upstream's end of body comes (tests/bats/19-agents.bats). The
   * end came from the upstream (message_stop, finishReason, [DONE], response.completed) and every
   * byte before it went out. */
  bool answered = r->committed && r->out.len == r->out_off &&
                  r->fs.f.ended && !r->fs.f.failed;
  detach_upstream(r);
  if (!r->committed)
    r->final_status = 499;
  settle(r, answered ? "done" : "client_gone");
  if (r->committed) {
    r->upstream_done = true;
    wake_reader(r);
  } else {
    /* resumed so MHD finds the closed socket and ends the connection */
    respond_later(r, 499, error_response(r, 499, "relay_error", "client_gone", NULL,
                                         "The client closed the connection."));
  }
}

/* The transfer of r (CURLINFO_PRIVATE) ended with res: an image the attempt waits for (imginline.h;
 * when the images are in, the attempt goes on), a free token count asked of its channel
 * (selfserve.c), else the attempt's own answer (attempt.c). */
static void relay_upstream_done(struct request *r, CURLcode res)
{
  if (imginline_active(r)) {
    const struct snap_channel *ch = imginline_done(r, res);
    if (ch)
      start_attempt(r, ch);
    return;
  }
  if (r->def && r->def->ep == EP_COUNT_TOKENS) {
    count_tokens_done(r, res);
    return;
  }
  relay_on_upstream_done(r, res);
}

/* Every TICK_MS (worker.c): ends upstream transfers past their first-byte, idle or total timeout. */
static void relay_tick(struct worker *w)
{
  const struct config *cfg = worker_cfg(w);
  uint64_t now = now_us_mono();
  uint64_t first_us = (uint64_t)cfg->first_byte_timeout_s * 1000000u;
  uint64_t idle_us = (uint64_t)cfg->stream_idle_timeout_s * 1000000u;
  uint64_t stream_us = (uint64_t)cfg->stream_timeout_s * 1000000u;
  uint64_t whole_us = (uint64_t)cfg->request_timeout_s * 1000000u;
  struct request *next;
  for (struct request *r = local(w)->requests; r; r = next) {
    next = r->next;
    if (r->phase == PH_LIMIT_WAIT)       /* waiting for channel room (limitwait.h) */
      limitwait_tick(r, now);
    if (!r->easy)
      continue;
    uint64_t age = now - r->up_t0_us;
    const char *kind = NULL;
    if (r->rq.stream) {
      if (!r->up_last_us) {
        if (first_us && age > first_us)
          kind = "first_byte";
      } else if (!r->paused && now - r->up_last_us > idle_us) {
        kind = "idle";
      }
      if (!kind && stream_us && age > stream_us)
        kind = "total";
    } else if (whole_us && age > whole_us) {
      kind = "total";
    }
    if (!kind)
      continue;
    r->timeout_kind = kind;
    log_msg(LOG_INFO, "upstream timed out", "request_id=%s channel=%lld limit=%s", r->request_id,
            (long long)r->channel->id, kind);
    relay_upstream_done(r, CURLE_OPERATION_TIMEDOUT);
  }
}

/* The tick: upstream timeouts, and the realtime sessions' (a stopping worker closes them). */
static void relay_tick_all(struct worker *w)
{
  relay_tick(w);
  realtime_tick(w);
}

/* An upstream transfer ended: a realtime session's connection (realtime.c), or a request's. */
static void relay_upstream_done_all(struct request *r, CURLcode res)
{
  if (r->rt)
    realtime_connected(r, res);
  else
    relay_upstream_done(r, res);
}

static bool relay_busy_all(struct worker *w)
{
  return relay_busy(w) || realtime_busy(w);
}

/* r's connection is being closed by MHD (it must forget the connection). */
static void relay_conn_closed(struct request *r)
{
  r->cc = NULL;
}

const struct worker_handlers relay_worker_handlers = {
    .on_request = relay_on_request,
    .on_completed = relay_on_completed,
    .on_upstream_done = relay_upstream_done_all,
    .attach = relay_attach,
    .busy = relay_busy_all,
    .end_all = relay_end_all,
    .tick = relay_tick_all,
    .client_gone = relay_client_gone,
    .conn_closed = relay_conn_closed,
    .refusal = relay_refusal,
    .pool_free = relay_pool_free,
    .watch_event = realtime_watch_event,
    .client_flushed = wake_reader,
};
