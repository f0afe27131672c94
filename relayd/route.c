/* route: see route.h. */
#include "route.h"

#include <stdatomic.h>
#include <string.h>

#include "keypool.h"
#include "request.h"
#include "util.h"

static uint64_t rng_next(struct worker *w)
{
  uint64_t x = local(w)->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return local(w)->rng = x;
}

static bool tried(const struct request *r, int64_t id)
{
  for (int i = r->fb_base; i < r->attempts; i++)     /* since the current model (fallback.h) */
    if (r->tried[i] == id)
      return true;
  return false;
}

/* Pick among the usable candidates of a tier: weighted random, or (routing = latency) the lowest
 * latency average; a channel with no sample yet counts as fastest, so each gets measured. */
static int pick_in_tier(struct request *r, const struct route_tier *tier, const bool *ok)
{
  int total = 0;
  double best = -1;
  bool latency = r->snap->opt.routing == ROUTING_LATENCY;
  for (size_t i = 0; i < tier->n; i++) {
    if (!ok[i])
      continue;
    if (latency) {
      double e = health_ewma_ms(tier->chans[i]->health);
      if (best < 0 || e < best) {
        best = e;
        total = 0;
      }
      if (e > best)
        continue;
    }
    total += tier->weights[i];
  }
  if (total == 0)
    return -1;
  int pick = (int)(rng_next(r->w) % (uint64_t)total);
  for (size_t i = 0; i < tier->n; i++) {
    if (!ok[i] || (latency && health_ewma_ms(tier->chans[i]->health) > best))
      continue;
    if (pick < tier->weights[i])
      return (int)i;
    pick -= tier->weights[i];
  }
  return -1;
}

/* The next channel: the highest priority tier with an untried channel that health allows (not
 * disabled, breaker not open, below its max concurrency), chosen inside the tier by the routing
 * option. The channel's slot is taken (r->held): a full channel sends the request on to the next
 * one of the tier, then to lower tiers. */
const struct snap_channel *choose_channel(struct request *r, struct choice_miss *miss)
{
  memset(miss, 0, sizeof *miss);
  int64_t now_ms = now_unix_ms();
  if (r->pin_channel) {
    const struct snap_channel *c = r->attempts == 0 ? snapshot_channel(r->snap, r->pin_channel) : NULL;
    if (c && c->status == STATUS_ENABLED) {
      bool trial = false;
      /* a pinned request ignores the breaker but not the channel's concurrency */
      if (c->max_concurrency > 0 && atomic_load(&c->health->in_flight) >= c->max_concurrency) {
        miss->busy++;
        return NULL;
      }
      atomic_fetch_add(&c->health->in_flight, 1);
      r->held = c;
      r->held_trial = trial;
    }
    return c;
  }
  const struct route *rt = snapshot_route(r->snap, r->token->group, r->route_model);
  if (!rt)
    return NULL;
  for (size_t t = 0; t < rt->ntiers; t++) {
    const struct route_tier *tier = &rt->tiers[t];
    bool ok[tier->n];
    for (size_t i = 0; i < tier->n; i++) {
      const struct snap_channel *c = tier->chans[i];
      ok[i] = false;
      /* a pooled channel already tried may serve again with a key this request has not tried */
      if (tried(r, c->id) && !keypool_untried(c, &r->keys))
        continue;
      if (!keypool_usable(c)) {     /* every key of its pool is disabled */
        miss->disabled++;
        continue;
      }
      switch (health_check(c, now_ms)) {
      case PICK_OK:
        ok[i] = true;
        break;
      case PICK_BUSY:
        miss->busy++;
        atomic_fetch_add_explicit(&c->health->busy_total, 1, memory_order_relaxed);
        break;
      case PICK_OPEN: {
        miss->open++;
        int64_t f = health_open_for_ms(c->health, now_ms);
        if (!miss->open_for_ms || (f && f < miss->open_for_ms))
          miss->open_for_ms = f ? f : 1000;
        break;
      }
      case PICK_DISABLED:
        miss->disabled++;
        break;
      }
    }
    for (;;) {
      int i = pick_in_tier(r, tier, ok);
      if (i < 0)
        break;
      bool trial;
      if (health_acquire(tier->chans[i], now_ms, &trial)) {
        r->held = tier->chans[i];
        r->held_trial = trial;
        return tier->chans[i];
      }
      ok[i] = false;      /* lost a race for its last slot or its trial: the next one */
      miss->busy++;
    }
  }
  return NULL;
}

void release_channel(struct request *r, enum health_outcome out, const char *detail)
{
  if (!r->held)
    return;
  health_release(r->held, &r->snap->opt, r->held_trial, out, r->attempt_ttfb_ms, detail);
  r->held = NULL;
  r->held_trial = false;
}
