/*
 * route: which channel serves a request -- the route of its group and model (snapshot.h), tier by
 * tier, inside a tier by weight or by latency (the routing option), skipping channels already
 * tried, disabled, with an open breaker or at their maximum concurrency; a pinned channel
 * (sk-KEY-CHANNELID) instead of the route. A channel with a key pool (keypool.h) is skipped when
 * none of its keys is enabled, and may be tried again by the same request while it has a healthy
 * key that request has not tried. A channel (or every key of its pool) at its rpm / tpm /
 * concurrency limit (chanlimit.h) is skipped like a busy one, never as a failure. A request with an
 * affinity key (affinity.h) first tries the channel that served that key last, while it is
 * chosen by health and has room. The chosen channel's slot (health.h) is held by the
 * request until release_channel gives it back with the attempt's outcome (and, for an answer that
 * served, tells affinity where it went).
 * Callers: admit.c (the first channel), attempt.c (a retry, and the outcome of each attempt).
 * Never: starts a transfer, answers the client, or holds more than one slot per request.
 */
#ifndef RELAY_ROUTE_H
#define RELAY_ROUTE_H

#include <stdint.h>

#include "health.h"

struct request;
struct snap_channel;
struct pool_key;

/* Why choose_channel found nothing. */
struct choice_miss {
  int busy, open, disabled;     /* candidates skipped for each reason */
  int limited;                  /* ... at a channel or key limit (chanlimit.h) */
  int64_t open_for_ms;          /* the soonest a breaker lets a trial through */
  int64_t limited_ms;           /* the soonest a limited candidate has room */
};

/* The next channel for r, its slot taken (r->held), or NULL with *miss saying why. */
const struct snap_channel *choose_channel(struct request *r, struct choice_miss *miss);
/* Gives r's channel slot back, reporting the attempt's outcome out (OUTCOME_ABANDON: none) and
 * detail to health; a no-op when r holds none. */
void release_channel(struct request *r, enum health_outcome out, const char *detail);
/* The pool key of r's attempt on c (NULL: c has no pool): keypool_pick with r's tries, its end user
 * and the worker's rng, the key affinity remembers first when it is eligible, only keys with room
 * under their limits, whose cost it then takes (chanlimit.h; given back by release_channel). */
const struct pool_key *route_pick_key(struct request *r, const struct snap_channel *c);

#endif
