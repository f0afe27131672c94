/* billing: see billing.h. */
#include "billing.h"

#include <math.h>

int64_t billing_quota(const struct price *p, double group_ratio, const struct usage *u)
{
  if (p->has_fixed)
    return (int64_t)llround(p->fixed_price * QUOTA_PER_USD * group_ratio);
  int64_t cached = u->cached_tokens;
  if (cached < 0 || cached > u->prompt_tokens)
    cached = cached < 0 ? 0 : u->prompt_tokens;
  if (u->prompt_tokens + u->completion_tokens <= 0)
    return 0;
  double units = (double)(u->prompt_tokens - cached) + (double)cached * p->cache_ratio +
                 (double)u->completion_tokens * p->completion_ratio;
  double q = units * p->model_ratio * group_ratio;
  /* a ratio product like 0.075 * 100 is 7.499999... in binary: shave a hair before ceil */
  int64_t quota = (int64_t)ceil(q - 1e-9);
  if (quota <= 0 && p->model_ratio * group_ratio > 0)
    quota = 1;
  return quota;
}

int64_t billing_fixed(const struct price *p, double group_ratio, double units)
{
  if (units <= 0)
    return 0;
  double d = p->fixed_price * units * QUOTA_PER_USD * group_ratio;
  if (d > 1e15)          /* upstream-reported units: kept far inside int64 (llround would not be) */
    d = 1e15;
  int64_t q = (int64_t)llround(d);
  if (q <= 0 && p->fixed_price * group_ratio > 0)
    q = 1;
  return q;
}

static bool take(struct balance *b, int64_t amount, int64_t *avail_out)
{
  int64_t before = atomic_fetch_sub(&b->avail, amount);
  if (before <= 0 || before < amount) {
    atomic_fetch_add(&b->avail, amount);
    *avail_out = before;
    return false;
  }
  return true;
}

bool billing_reserve(struct balance *user_bal, struct balance *token_bal, int64_t amount,
                     int64_t *avail_out)
{
  if (!take(user_bal, amount, avail_out))
    return false;
  if (token_bal && !take(token_bal, amount, avail_out)) {
    atomic_fetch_add(&user_bal->avail, amount);
    return false;
  }
  return true;
}

void billing_settle(struct balance *user_bal, struct balance *token_bal, int64_t reserved,
                    int64_t charged)
{
  int64_t back = reserved - charged;
  if (back == 0)
    return;
  atomic_fetch_add(&user_bal->avail, back);
  if (token_bal)
    atomic_fetch_add(&token_bal->avail, back);
}
