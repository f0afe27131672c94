/*
 * quota: One API's quota arithmetic on plain numbers, in one place: relayd's billing (billing.c)
 * charges with it and gwctl log explain (breakdown.c) re-computes a logged charge with it.
 * 500000 quota = 1 USD.
 * Also money as people say it: quota_parse reads an amount given as quota units or US dollars, and
 * quota_usd writes quota as dollars, for gwctl's options, apply files and tables.
 * Callers: relayd/billing.c, common/breakdown.c, gwctl (gwctl.c gw_parse_quota, output.c, apply_fields.c,
 * cmd_log.c). Never: allocates, touches a balance or a database.
 */
#ifndef RELAY_QUOTA_H
#define RELAY_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#define QUOTA_PER_USD 500000
#define QUOTA_MAX 1e15            /* any product is kept far inside int64 before rounding */

/* How a ratio-mode amount becomes whole quota units: the billing option quota_rounding
 * (common/options.c; the order of its choices "up|half_up"). One API and relay round up; New API
 * rounds half up, i.e. to the nearest unit, a half away from zero (QuantumNous/new-api
 * service/text_quota.go: shopspring decimal Round(0)); gwctl import sets half_up for a New API
 * source. */
enum quota_rounding { QUOTA_ROUND_UP, QUOTA_ROUND_HALF_UP };

/* Its name as the option and logs.billing write it ("up", "half_up"); -1 from the parser for
 * another name. */
const char *quota_rounding_name(enum quota_rounding r);
int quota_rounding_parse(const char *s);

/* Ratio mode, for a request that used tokens: units x ratio made whole by rounding (up: ceil;
 * half_up: floor(x + 0.5)); a ratio product like 0.075 x 100 is 7.499999... in binary, so the
 * product is nudged by 1e-9 towards the exact decimal before rounding (down for ceil, up for
 * half_up). At least 1 when ratio > 0. A bound (the most a request may cost) rounds up. */
int64_t quota_ratio(double units, double ratio, enum quota_rounding rounding);

/* Audio priced as audio (New API's AudioRatio / AudioCompletionRatio): what the audio part of a
 * usage adds, in input-token units, to units that counted it at the text ratios (input at 1, output
 * at completion_ratio): audio_in (uncached audio input) x (audio_ratio - 1) + audio_out x
 * (audio_ratio x audio_completion_ratio - completion_ratio). Cached audio is not audio_in: it costs
 * the cache ratio, as cached text does. 0 without audio tokens. */
double quota_audio_units(int64_t audio_in, int64_t audio_out, double audio_ratio, double audio_completion_ratio,
                         double completion_ratio);

/* Fixed mode: round(price_usd x units x 500000 x group_ratio); 0 for units <= 0; at least 1 when
 * units > 0 and price x group_ratio > 0. */
int64_t quota_fixed(double price_usd, double units, double group_ratio);

/* Tiered prices (issue #25): whether a price's long-context tier, starting above `above` prompt
 * tokens (0 = the price has none), prices a request of prompt_tokens: strictly above the threshold,
 * as Gemini and Anthropic price prompts "over 200k". The whole request then takes the tier's ratios. */
static inline int quota_tier_applies(int64_t above, int64_t prompt_tokens)
{
  return above > 0 && prompt_tokens > above;
}

/* Parses an amount: quota units as a whole number ("500000"), or US dollars with up to 6 decimals
 * ("10usd", "10 USD", "$10", "$0.50", "2.5 usd"; case-insensitive, blanks around ignored), converted
 * exactly (decimal digits, no floating point). Returns 0 with *out in [min, max], or -1 with why (the
 * reason, without the input) filled: not an amount, negative, finer than one quota unit
 * (0.000002 USD), or out of range (named in quota units and USD). */
int quota_parse(const char *s, int64_t min, int64_t max, int64_t *out, char *why, size_t whylen);

/* Writes quota as dollars: "$10.00", "$0.000014", "-$1.50" (at least 2 decimals, at most 6, exact). */
void quota_usd(int64_t quota, char *buf, size_t len);

#endif
