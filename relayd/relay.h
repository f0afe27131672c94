/*
 * relay: the life of one API request on its worker, from headers to the log record. The module is
 * this face and its stages, each a .c + .h of its own, sharing the request's state (request.h):
 *   front.c     headers -> route table -> framing -> early refusals -> body (bounded, inflated)
 *   auth.c        the key and its owner (snapshot)
 *   selfserve.c   the endpoints answered without an upstream (model listings, token counts, dashboard billing)
 *   admit.c     validate -> model, group, first channel, price -> rate limits -> reserve
 *   route.c       channel choice: tiers, weight or latency, health, pins
 *   attempt.c   upstream transfer on the worker's curl multi (connection suspended), retry on
 *               another channel while nothing has reached the client
 *   imginline.c   images by URL fetched first for a channel that takes them only inline
 *   reqview.c     the common-form view of a client's request, the client's headers passed on
 *   respond.c   whole answers and error bodies in the client's format
 *   stream.c    event by event (SSE), converted or passed through, drained by MHD's reader
 *   settle.c    settle exactly once -> log record to the writer
 *   reqpool.c   request objects and relay's state on each worker
 * Callers: the worker, only through relay_worker_handlers (main.c passes it to worker_init); the
 * stages use their worker only through worker.h's functions. Never: blocks, touches the database,
 * or queues an MHD response outside the access handler.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

struct worker_handlers;

/* The worker's callbacks (worker.h): MHD's access handler and completion notice (front.c), an
 * upstream transfer done and the tick (relay.c: to attempt.c, imginline.c or selfserve.c), relay's
 * state on a worker (reqpool.c), and the ends of requests below (relay.c). */
extern const struct worker_handlers relay_worker_handlers;

#endif
