/*
 * gcra: the token bucket both rate limiters keep (limits.c: tokens' and users' rpm/tpm; chanlimit.c:
 * channels' and pool keys'). A bucket of n per window is one atomic "theoretical arrival time"
 * (TAT, CLOCK_MONOTONIC ns): a request CASes it forward by its cost, and it is refused when that
 * would put the TAT more than a window ahead of now.
 * Header only, static inline: the request path's admission and settle call these per limit, and
 * they stay as cheap as when each limiter had its own copy.
 * Callers: limits.c, chanlimit.c. Never: blocks, allocates, or waits on a lock.
 */
#ifndef RELAY_GCRA_H
#define RELAY_GCRA_H

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

static inline int64_t gcra_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ns that cost units take from a bucket of n per window; cost units -> ns */
static inline int64_t gcra_cost_ns(int64_t cost, int64_t n, int64_t window_ns)
{
  double v = ceil((double)cost * (double)window_ns / (double)n);
  double cap = 4.0 * (double)window_ns;       /* a debt never exceeds a few windows */
  return (int64_t)(v > cap ? cap : v);
}

/* Takes inc from the bucket unless that would overflow it. Returns true and the new TAT, or false
 * and the TAT the bucket has (in *out, when out is not NULL). */
static inline bool gcra_take(_Atomic int64_t *tat, int64_t now, int64_t inc, int64_t window, int64_t *out)
{
  int64_t old = atomic_load_explicit(tat, memory_order_relaxed);
  for (;;) {
    int64_t base = old > now ? old : now;
    int64_t nt = base + inc;
    if (nt - now > window) {
      if (out)
        *out = base;
      return false;
    }
    if (atomic_compare_exchange_weak_explicit(tat, &old, nt, memory_order_relaxed, memory_order_relaxed)) {
      if (out)
        *out = nt;
      return true;
    }
  }
}

/* Gives inc back (never below now: an idle bucket is simply full). */
static inline void gcra_give(_Atomic int64_t *tat, int64_t inc)
{
  int64_t now = gcra_now_ns();
  int64_t old = atomic_load_explicit(tat, memory_order_relaxed);
  for (;;) {
    if (old <= now)
      return;
    int64_t nt = old - inc < now ? now : old - inc;
    if (atomic_compare_exchange_weak_explicit(tat, &old, nt, memory_order_relaxed, memory_order_relaxed))
      return;
  }
}

#endif
