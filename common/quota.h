/*
 * quota: One API's quota arithmetic on plain numbers, in one place: relayd's billing (billing.c)
 * charges with it and gwctl log explain (breakdown.c) re-computes a logged charge with it.
 * 500000 quota = 1 USD.
 * Callers: relayd/billing.c, common/breakdown.c. Never: allocates, touches a balance or a database.
 */
#ifndef RELAY_QUOTA_H
#define RELAY_QUOTA_H

#include <stdint.h>

#define QUOTA_PER_USD 500000
#define QUOTA_MAX 1e15            /* any product is kept far inside int64 before rounding */

/* Ratio mode, for a request that used tokens: ceil(units x ratio) (a ratio product like 0.075 x 100
 * is 7.499999... in binary: a hair is shaved before ceil), at least 1 when ratio > 0. */
int64_t quota_ratio(double units, double ratio);

/* Fixed mode: round(price_usd x units x 500000 x group_ratio); 0 for units <= 0; at least 1 when
 * units > 0 and price x group_ratio > 0. */
int64_t quota_fixed(double price_usd, double units, double group_ratio);

#endif
