/*
 * billing: One API's quota arithmetic, the sanity of upstream usage, and the explanation of a
 * charge. 500000 quota = 1 USD; model ratio 1 = 2 USD per million prompt tokens.
 *   ratio mode: quota = ceil((uncached + cached * cache_ratio + cache_write_5m * cache_write_ratio
 *                             + cache_write_1h * cache_write_1h_ratio
 *                             + completion * completion_ratio
 *                             + uncached_audio * (audio_ratio - 1)
 *                             + audio_completion * (audio_ratio * audio_completion_ratio
 *                                                   - completion_ratio)) * model_ratio * group_ratio)
 *               where uncached = prompt - cached - cache writes (prompt counts them all, as OpenAI's
 *               prompt_tokens does), uncached_audio = audio prompt - audio cached (cached audio costs
 *               the cache ratio, as cached text does), and the audio lines reprice the audio part of
 *               input and output (New API's AudioRatio and AudioCompletionRatio; unset: as text); at least 1 when the ratio is not 0 and tokens were used; 0 when
 *               no tokens were used. ceil is the option quota_rounding's default "up"; "half_up"
 *               rounds to the nearest unit instead (common/quota.h).
 *               A price with a long-context tier (prices.tier_*) uses the tier's model, completion
 *               and cache ratios for the whole request when prompt > tier_above
 *               (quota_tier_applies); the explanation then says "tier_above".
 *   fixed mode: quota = round(fixed_price * 500000 * group_ratio) per call; prices with another
 *               unit (image, second, search unit) are charged by billing_fixed() for the units a
 *               request used (media.c counts them).
 *   bound:      billing_bound() prices the worst case of a request (an upper bound of its input at
 *               the dearest input ratio, plus its output bound at the completion ratio): what relay
 *               reserves before it sends anything upstream.
 * Balances (reserve, settle, fold) are not here: ledger.h owns them.
 * Callers: relay's stages (admit.c, settle.c), media.c, the format modules (usage_count), tests.
 * Never: touches the database or a balance.
 */
#ifndef RELAY_BILLING_H
#define RELAY_BILLING_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quota.h"
#include "snapshot.h"

/* A token count above this in an upstream's usage is garbage (no request comes near it). */
#define USAGE_TOKENS_MAX 1000000000LL

struct usage {
  int64_t prompt_tokens;      /* all input: includes cached tokens and cache writes, as OpenAI reports it */
  int64_t completion_tokens;  /* all output: includes reasoning tokens */
  int64_t cached_tokens;      /* input read from a cache */
  int64_t cache_write_5m;     /* input written to a cache (Anthropic's 5-minute cache: the default) */
  int64_t cache_write_1h;     /* input written to Anthropic's 1-hour cache */
  int64_t reasoning_tokens;   /* part of completion_tokens; for the explanation only */
  int64_t audio_prompt_tokens;     /* part of prompt_tokens that is audio (cached included) */
  int64_t audio_cached_tokens;     /* part of cached_tokens (and of audio_prompt_tokens) that is audio */
  int64_t audio_completion_tokens; /* part of completion_tokens that is audio */
  bool bad;                   /* a count the upstream gave was not a count: the usage is not used */
};

/* One count of a usage object: 0 when absent or null; a number that is not an integer in
 * [0, USAGE_TOKENS_MAX] (negative, fractional, huge, a string, ...) returns 0 and sets u->bad. */
int64_t usage_count(const cJSON *o, const char *name, struct usage *u);
/* The same for a member already found (v may be NULL). */
int64_t usage_value(const cJSON *v, struct usage *u);
/* Clamps the parts of u into [0, prompt] / [0, completion] so they add up. */
void usage_normalize(struct usage *u);

/* The price that applies to a request of prompt_tokens: p itself, or its long-context tier (the
 * tier's ratios written into *tier, which is returned) when quota_tier_applies(). */
const struct price *billing_price_at(const struct price *p, int64_t prompt_tokens, struct price *tier);

/* The ratio-mode charge of usage u, made whole by rounding (the option quota_rounding), at p's
 * long-context tier when its prompt is above the tier's threshold. */
int64_t billing_quota(const struct price *p, double group_ratio, const struct usage *u,
                      enum quota_rounding rounding);

/* Fixed-price charge for units of the price's unit: round(fixed_price * units * 500000 *
 * group_ratio); at least 1 when units > 0 and the price is not 0. */
int64_t billing_fixed(const struct price *p, double group_ratio, double units);

/* The most a request of at most input_tokens in and output_tokens out can cost: input at the
 * largest of 1, cache_ratio and the cache-write ratios, output at the completion ratio; when
 * input_tokens is above the long-context tier's threshold, the larger of the base and tier bounds. */
int64_t billing_bound(const struct price *p, double group_ratio, int64_t input_tokens, int64_t output_tokens);

/* The explanation of one charge (gwctl log explain): a JSON object written into out (at most n
 * bytes, always terminated; {} when it does not fit). mode "fixed" writes units/unit instead of
 * tokens. */
struct billing_explain {
  const struct price *price;  /* NULL: no price was applied (refused, or nothing produced) */
  const char *group;
  double group_ratio;
  const struct usage *usage;  /* NULL: no tokens (nothing produced) */
  double units;               /* fixed mode: the units charged */
  const char *usage_source;   /* upstream, local, reserved, none */
  const char *counter;        /* what counted tokens relay counted itself (local, partial): an
                                 encoding (o200k_base, cl100k_base: relayd/tokenizer.h) or chars/4;
                                 NULL when none was (written as "counter" when set) */
  int64_t reserved, charged;
  const char *note;           /* "" or why */
  const char *api;            /* the client's inbound API (openai, anthropic, gemini, responses),
                                 written as "api" when set */
  enum quota_rounding rounding; /* of a ratio charge: written as "rounding" when not "up" */
  const char *requested_model;/* a fallback chain served another model (fallback.h): both names */
  const char *served_model;   /* are written when set; the price is the served model's */
  bool cache_hit;             /* answered from the response cache (respcache.h): "cache_hit":true */
};
void billing_explain_json(const struct billing_explain *e, char *out, size_t n);

#endif
