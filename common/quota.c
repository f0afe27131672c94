/* quota: see quota.h. */
#include "quota.h"

#include <math.h>

int64_t quota_ratio(double units, double ratio)
{
  double q = units * ratio;
  if (q > QUOTA_MAX)
    q = QUOTA_MAX;
  int64_t v = (int64_t)ceil(q - 1e-9);
  if (v <= 0 && ratio > 0)
    v = 1;
  return v;
}

int64_t quota_fixed(double price_usd, double units, double group_ratio)
{
  if (!(units > 0))
    return 0;
  double d = price_usd * units * QUOTA_PER_USD * group_ratio;
  if (d > QUOTA_MAX)
    d = QUOTA_MAX;
  int64_t v = (int64_t)llround(d);
  if (v <= 0 && price_usd * group_ratio > 0)
    v = 1;
  return v;
}
