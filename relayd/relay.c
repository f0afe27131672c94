/* relay: see relay.h. The worker's handlers, and the ends of requests the worker decides: the
 * shutdown deadline, a client gone, a connection closed. */
#include "relay.h"

#include "attempt.h"
#include "front.h"
#include "limitwait.h"
#include "reqpool.h"
#include "request.h"
#include "respond.h"
#include "selfserve.h"
#include "settle.h"
#include "stream.h"

/* Ends every request of w still waiting on an upstream (shutdown deadline): the client gets a 503
 * or an error event, and billing is settled as "interrupted". */
static void relay_end_all(struct worker *w)
{
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
  detach_upstream(r);
  if (!r->committed)
    r->final_status = 499;
  settle(r, "client_gone");
  if (r->committed) {
    r->upstream_done = true;
    wake_reader(r);
  } else {
    /* resumed so MHD finds the closed socket and ends the connection */
    respond_later(r, 499, error_response(r, 499, "relay_error", "client_gone", NULL,
                                         "The client closed the connection."));
  }
}

/* r's connection is being closed by MHD (it must forget the connection). */
static void relay_conn_closed(struct request *r)
{
  r->cc = NULL;
}

const struct worker_handlers relay_worker_handlers = {
    .on_request = relay_on_request,
    .on_completed = relay_on_completed,
    .on_upstream_done = relay_on_upstream_done,
    .attach = relay_attach,
    .busy = relay_busy,
    .end_all = relay_end_all,
    .tick = relay_tick,
    .client_gone = relay_client_gone,
    .conn_closed = relay_conn_closed,
    .refusal = relay_refusal,
    .pool_free = relay_pool_free,
};
