/*
 * breakdown: the JSON breakdown of one request's charge (logs.billing), read back and re-computed.
 *
 * The breakdown relayd stores with each request's log row (issue #17, "money you can audit"):
 *   {"mode":"ratio"|"fixed", "usage_source":"upstream"|"local"|"reserved"|"none",
 *    "tokens":{"prompt":N,"cached":N,"cache_write_5m":N,"cache_write_1h":N,"completion":N,
 *              "reasoning":N},
 *    "model_ratio":x,"completion_ratio":x,"cache_ratio":x,"cache_write_ratio":x,
 *    "cache_write_1h_ratio":x,"group":"name","group_ratio":x,"fixed_price":x,"units":x,
 *    "unit":"call|image|second|search","reserved":N,"charged":N,"note":"text",
    "rounding":"half_up"}
 * Absent keys mean 0 / not applicable. prompt includes cached and cache writes (as OpenAI counts
 * prompt_tokens); reasoning is inside completion (informational).
 *   ratio mode: ceil((prompt - cached - cache_write_5m - cache_write_1h + cached * cache_ratio
 *                     + cache_write_5m * cache_write_ratio + cache_write_1h * cache_write_1h_ratio
 *                     + completion * completion_ratio) * model_ratio * group_ratio),
 *               at least 1 when tokens were used and model_ratio * group_ratio is not 0; 0 without
 *               tokens (relayd/billing.h: the same arithmetic, the same 1e-9 shave before ceil).
 *               With "rounding":"half_up" (the option quota_rounding when the charge was made):
 *               floor(x + 0.5) in place of ceil (common/quota.h quota_ratio).
 *   fixed mode: round(fixed_price * units * 500000 * group_ratio) (units absent: 1), at least 1 when
 *               units > 0 and fixed_price * group_ratio is not 0.
 * Callers: gwctl log explain (cmd_log.c), tests/unit/test_breakdown.c.
 * Never: trusts the text: it is parsed with cJSON, every field is type-checked and bounded, and a
 * breakdown that lacks what the formula needs is reported as such, never guessed.
 */
#ifndef RELAY_BREAKDOWN_H
#define RELAY_BREAKDOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


enum breakdown_mode { BD_MODE_NONE = 0, BD_MODE_RATIO, BD_MODE_FIXED };

/* Which fields the breakdown holds (bits of struct breakdown.have). */
enum breakdown_field {
  BD_PROMPT = 1u << 0, BD_CACHED = 1u << 1, BD_CW5M = 1u << 2, BD_CW1H = 1u << 3,
  BD_COMPLETION = 1u << 4, BD_REASONING = 1u << 5, BD_MODEL_RATIO = 1u << 6,
  BD_COMPLETION_RATIO = 1u << 7, BD_CACHE_RATIO = 1u << 8, BD_CW_RATIO = 1u << 9,
  BD_CW1H_RATIO = 1u << 10, BD_GROUP_RATIO = 1u << 11, BD_FIXED_PRICE = 1u << 12,
  BD_UNITS = 1u << 13, BD_RESERVED = 1u << 14, BD_CHARGED = 1u << 15, BD_GROUP = 1u << 16,
  BD_USAGE_SOURCE = 1u << 17, BD_NOTE = 1u << 18, BD_UNIT = 1u << 19, BD_MODE = 1u << 20,
  BD_ROUNDING = 1u << 21,
};

struct breakdown {
  unsigned have;                        /* enum breakdown_field bits */
  enum breakdown_mode mode;
  int rounding;                         /* enum quota_rounding: "rounding" (absent: up) */
  int64_t prompt, cached, cache_write_5m, cache_write_1h, completion, reasoning;
  double model_ratio, completion_ratio, cache_ratio, cache_write_ratio, cache_write_1h_ratio;
  double group_ratio, fixed_price, units;
  int64_t reserved, charged;
  char usage_source[16];
  char group[64];
  char unit[16];
  char note[256];                       /* cut at 255 bytes */
};

/* Parses text (a logs.billing value) into *b. Returns 1 for "" (no breakdown recorded; *b zeroed),
 * 0 when parsed, -1 with the reason in err when it is not a valid breakdown (not JSON, not an
 * object, a field of the wrong type or out of range, an unknown mode). */
int breakdown_parse(const char *text, struct breakdown *b, char *err, size_t errlen);

/* Re-computes the charge of b into *quota. Returns 0, or -1 with the reason in why when b lacks
 * what its formula needs (no mode, a ratio for tokens that were used, the fixed price). */
int breakdown_charge(const struct breakdown *b, int64_t *quota, char *why, size_t whylen);

/* Writes the formula with b's numbers filled in ("ceil((1200 - 600 + 600 x 0.1 + ...) x 1.5 x 1)
 * = ceil(5002.5) = 5003") into out. Only meaningful after breakdown_charge() returned 0. */
void breakdown_formula(const struct breakdown *b, char *out, size_t outlen);

#endif
