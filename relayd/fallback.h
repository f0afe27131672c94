/*
 * fallback: model fallback chains (issue #25). When every channel of a request's model failed
 * (connect errors, timeouts, 429, 5xx, account errors; and, where the chain says so, a
 * context-length or content-policy refusal), the request goes on to the next model of its chain
 * that the token may use, that has a price and a route in its group: the chain of its token
 * (fallbacks scope 'token'), else of its group ('group'), else of the model ('model'). Never once a
 * byte of the answer reached the client (only attempt.c's not-yet-committed path calls it).
 *   Reservation: admit.c reserves the dearest bound of the requested model and every model of its
 *     chain (fallback_bound), so a walk never needs more quota and the ledger's steps stay the
 *     same (reserve once, settle once).
 *   Billing and the log: the model served is priced (r->price) and routed (r->route_model); the
 *     log row keeps the requested name in model_name and the served one in upstream_model (as sent
 *     to the channel), and the breakdown says both (requested_model, served_model).
 * Callers: admit.c (fallback_bound; fallback_first when no channel of the model can take it), attempt.c (fallback_next, before the client is told the
 * failure; it starts the attempt), settle.c (fallback_names), route.c (r->fb_base: channels tried for an earlier model
 * may serve this one). Never: starts an attempt after the stream committed, retries past
 * MAX_ATTEMPTS, or moves a balance.
 */
#ifndef RELAY_FALLBACK_H
#define RELAY_FALLBACK_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct request;

/* The reservation of r: reserved (its own model's bound) or, when r's model has a chain, the
 * largest bound of the chain's priced models for the same input bound and choices. */
int64_t fallback_bound(const struct request *r, int64_t reserved, int64_t choices);
/* After the last attempt of r's current model failed with res before anything reached the client:
 * switches r to the next model of its chain (route_model, price) and returns the channel chosen for
 * it (its slot held, route.h) for the caller to start; or NULL, r unchanged (no chain, a failure
 * the chain does not cover, or no model left that has a channel free). */
struct snap_channel;
const struct snap_channel *fallback_next(struct request *r, CURLcode res);
/* At admission, when no channel of r's model can take it (disabled, breakers open, none): r
 * switched to the first model of its chain with a channel free, that channel returned (its slot
 * held), or NULL. Not for a channel at its maximum concurrency (busy is not failing). */
const struct snap_channel *fallback_first(struct request *r);
/* For the log: the requested and served model when a chain served r, else both NULL. */
void fallback_names(const struct request *r, const char **requested, const char **served);

#endif
