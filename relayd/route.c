/* route: see route.h. */
#include "route.h"

#include <stdatomic.h>
#include <string.h>

#include "affinity.h"
#include "chanlimit.h"
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

/* Has c room for r under its limits: its own, and one usable key's (chanlimit.h)? Counts a skip
 * when not, with the soonest there may be room in *wait. */
static bool room_for(const struct request *r, const struct snap_channel *c, int64_t *wait)
{
  int64_t ms = chanlimit_wait(r, c);
  if (ms == 0 && c->limits->keys)
    ms = chanlimit_pool_wait(r, c);
  if (ms == 0)
    return true;
  chanlimit_skipped(c);
  *wait = ms;
  return false;
}

static void note_limited(struct choice_miss *miss, int64_t ms)
{
  miss->limited++;
  if (!miss->limited_ms || (ms > 0 && ms < miss->limited_ms))
    miss->limited_ms = ms > 0 ? ms : 1000;
}

/* Takes c for r: its limits' room, then its health slot; false when either was lost to a race. */
static bool take_channel(struct request *r, const struct snap_channel *c, int64_t now_ms, struct choice_miss *miss)
{
  if (c->limits && !chanlimit_take(r, c)) {
    note_limited(miss, 1000);
    return false;
  }
  bool trial;
  if (health_acquire(c, now_ms, &trial)) {
    r->held = c;
    r->held_trial = trial;
    return true;
  }
  if (c->limits)
    chanlimit_untake(r);
  miss->busy++;
  return false;
}

/* The channel r's affinity key was last served on, when it is in r's route and may serve now. */
static const struct snap_channel *affinity_channel(struct request *r, const struct route *rt, int64_t now_ms)
{
  int64_t id;
  int idx;
  if (!affinity_lookup(r->aff_hash, &id, &idx))
    return NULL;
  for (size_t t = 0; t < rt->ntiers; t++)
    for (size_t i = 0; i < rt->tiers[t].n; i++) {
      const struct snap_channel *c = rt->tiers[t].chans[i];
      int64_t wait;
      if (c->id != id)
        continue;
      if (!keypool_usable(c) || health_check(c, now_ms) != PICK_OK ||
          (c->limits && !room_for(r, c, &wait)))
        return NULL;
      struct choice_miss ignored;     /* a lost race: the route decides, and counts it */
      memset(&ignored, 0, sizeof ignored);
      if (!take_channel(r, c, now_ms, &ignored))
        return NULL;
      r->aff_key_idx = idx;
      return c;
    }
  return NULL;
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
      int64_t wait = 1000;
      if (c->limits && (!room_for(r, c, &wait) || !chanlimit_take(r, c))) {
        note_limited(miss, wait);
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
  if (r->attempts == 0 && r->snap->opt.affinity_ttl_s > 0 && affinity_key_of(r)) {
    const struct snap_channel *c = affinity_channel(r, rt, now_ms);
    affinity_count(c != NULL);
    if (c)
      return c;
  }
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
      case PICK_OK: {
        int64_t wait;
        if (c->limits && !room_for(r, c, &wait)) {   /* at a limit: the next one, no failure */
          note_limited(miss, wait);
          break;
        }
        ok[i] = true;
        break;
      }
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
      if (take_channel(r, tier->chans[i], now_ms, miss))
        return tier->chans[i];
      ok[i] = false;      /* lost a race for its last slot, trial or room: the next one */
    }
  }
  return NULL;
}

void release_channel(struct request *r, enum health_outcome out, const char *detail)
{
  if (!r->held)
    return;
  chanlimit_release(r);
  if (r->attempts == 0 && r->held->limits)   /* refused before any upstream call: nothing was used */
    chanlimit_untake(r);
  if (r->aff_hash && (out == OUTCOME_OK || out == OUTCOME_CLIENT))
    affinity_remember(r, r->held->id, r->pkey ? r->pkey->idx : -1);
  health_release(r->held, &r->snap->opt, r->held_trial, out, r->attempt_ttfb_ms, detail);
  r->held = NULL;
  r->held_trial = false;
}

const struct pool_key *route_pick_key(struct request *r, const struct snap_channel *c)
{
  r->keys.prefer = r->aff_hash && r->aff_key_idx >= 0;
  r->keys.prefer_idx = r->aff_key_idx;
  r->keys.room = c->limits ? chanlimit_key_room : NULL;
  r->keys.ctx = r;
  const struct pool_key *k = keypool_pick(c, &r->keys, r->croot ? r->croot : r->root, r->token->id,
                                          &local(r->w)->rng);
  if (k && c->limits)
    chanlimit_key_take(r, c, (size_t)(k - c->pool->keys));
  return k;
}
