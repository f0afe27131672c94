/*
 * rtbill: what a Realtime API session holds on the balances and what each response costs
 * (rtstate.h). A hold is what a response of RT_HOLD_INPUT input and RT_HOLD_OUTPUT output tokens may
 * cost at the model's price (input at the dearest input ratio), and one request of that many tokens
 * for the rate limits; each response.done settles it from its usage (input/output tokens, text and
 * audio alike at the model's ratios, cached at the cache ratio) with one log row (api realtime,
 * usage_source upstream) and the worker's stats.
 * Callers: realtime.c (the first hold), rtwire.c (a response.done, the next hold), rt_free (the
 * hold still open goes back unbilled). Never: lets a balance go below zero (a response that costs
 * more than the hold takes the rest only when the balance has it), or bills a hold twice.
 */
#ifndef RELAY_RTBILL_H
#define RELAY_RTBILL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "limits.h"

struct rt_session;

#define RT_HOLD_INPUT 4096
#define RT_HOLD_OUTPUT 4096

/* What one hold reserves on the balances. */
int64_t rt_hold_size(const struct rt_session *s);
/* Takes a new hold: false when a rate limit refuses it (s->rate_limited, *why) or the balances
 * cannot cover it (*avail: what is left). */
bool rt_take_hold(struct rt_session *s, int64_t *avail, struct limit_refusal *why);
/* Gives back the hold still open, unbilled. */
void rt_drop_hold(struct rt_session *s);
/* Bills one response.done's response object (NULL: it had none) against the hold; false when the
 * balances could not cover it (it was charged what was held). The hold is then closed. */
bool rt_bill_response(struct rt_session *s, const cJSON *resp);

#endif
