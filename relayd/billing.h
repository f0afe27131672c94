/*
 * billing: One API's quota arithmetic and the reserve/settle steps on the balance table.
 * 500000 quota = 1 USD; model ratio 1 = 2 USD per million prompt tokens.
 *   ratio mode: quota = ceil((prompt_uncached + cached * cache_ratio + completion * completion_ratio)
 *                            * model_ratio * group_ratio), at least 1 when the ratio is not 0
 *               and tokens were used; 0 when no tokens were used.
 *   fixed mode: quota = round(fixed_price * 500000 * group_ratio) per call; prices with another
 *               unit (image, second, search unit) are charged by billing_fixed() for the units a
 *               request used (media.c counts them).
 * Callers: relay.c (request path), tests. Never: touches the database (the writer does).
 */
#ifndef RELAY_BILLING_H
#define RELAY_BILLING_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot.h"

#define QUOTA_PER_USD 500000

struct usage {
  int64_t prompt_tokens;      /* includes cached tokens, as OpenAI reports it */
  int64_t completion_tokens;
  int64_t cached_tokens;
};

int64_t billing_quota(const struct price *p, double group_ratio, const struct usage *u);

/* Takes amount from the user's balance and, when token_bal is not NULL, from the token's.
 * Succeeds only if both stay >= 0 and were > 0; otherwise changes nothing, returns false and
 * writes the smaller balance into *avail_out. */
/* Fixed-price charge for units of the price's unit: round(fixed_price * units * 500000 *
 * group_ratio); at least 1 when units > 0 and the price is not 0. */
int64_t billing_fixed(const struct price *p, double group_ratio, double units);

bool billing_reserve(struct balance *user_bal, struct balance *token_bal, int64_t amount,
                     int64_t *avail_out);

/* Gives back reserved - charged to the balances (negative when the charge was larger). */
void billing_settle(struct balance *user_bal, struct balance *token_bal, int64_t reserved,
                    int64_t charged);

#endif
