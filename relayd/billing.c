/* billing: see billing.h. */
#include "billing.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const price_unit_names[] = {"call", "image", "second", "search"};

int price_unit_parse(const char *s)
{
  for (size_t i = 0; i < sizeof price_unit_names / sizeof price_unit_names[0]; i++)
    if (s && strcmp(s, price_unit_names[i]) == 0)
      return (int)i;
  return -1;
}

const char *price_unit_name(enum price_unit u)
{
  return (size_t)u < sizeof price_unit_names / sizeof price_unit_names[0] ? price_unit_names[u] : "call";
}

int64_t usage_count(const cJSON *o, const char *name, struct usage *u)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!v || cJSON_IsNull(v))
    return 0;
  /* bounded before the cast: a double beyond int64 is undefined behaviour */
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > (double)USAGE_TOKENS_MAX ||
      v->valuedouble != floor(v->valuedouble)) {
    u->bad = true;
    return 0;
  }
  return (int64_t)v->valuedouble;
}

static int64_t clamp(int64_t v, int64_t hi)
{
  return v < 0 ? 0 : v > hi ? hi : v;
}

void usage_normalize(struct usage *u)
{
  u->prompt_tokens = clamp(u->prompt_tokens, USAGE_TOKENS_MAX);
  u->completion_tokens = clamp(u->completion_tokens, USAGE_TOKENS_MAX);
  u->cached_tokens = clamp(u->cached_tokens, u->prompt_tokens);
  u->cache_write_5m = clamp(u->cache_write_5m, u->prompt_tokens - u->cached_tokens);
  u->cache_write_1h = clamp(u->cache_write_1h, u->prompt_tokens - u->cached_tokens - u->cache_write_5m);
  u->reasoning_tokens = clamp(u->reasoning_tokens, u->completion_tokens);
  u->audio_cached_tokens = clamp(u->audio_cached_tokens, u->cached_tokens);
  /* the uncached audio fits in the uncached input */
  u->audio_prompt_tokens = clamp(u->audio_prompt_tokens, u->prompt_tokens - u->cached_tokens - u->cache_write_5m -
                                 u->cache_write_1h + u->audio_cached_tokens);
  if (u->audio_prompt_tokens < u->audio_cached_tokens)
    u->audio_prompt_tokens = u->audio_cached_tokens;
  u->audio_completion_tokens = clamp(u->audio_completion_tokens, u->completion_tokens);
}

/* What an output audio token costs, in input-token units (x model_ratio). */
static double audio_out_ratio(const struct price *p)
{
  return p->audio_ratio * p->audio_completion_ratio;
}

const struct price *billing_price_at(const struct price *p, int64_t prompt_tokens, struct price *tier)
{
  if (!p || p->has_fixed || !quota_tier_applies(p->tier_above, prompt_tokens))
    return p;
  *tier = *p;
  tier->model_ratio = p->tier_model_ratio;
  tier->completion_ratio = p->tier_completion_ratio;
  tier->cache_ratio = p->tier_cache_ratio;
  return tier;
}

int64_t billing_quota(const struct price *p0, double group_ratio, const struct usage *u,
                      enum quota_rounding rounding)
{
  if (p0->has_fixed)
    return quota_fixed(p0->fixed_price, 1, group_ratio);
  struct usage n = *u;
  usage_normalize(&n);
  struct price tier;
  const struct price *p = billing_price_at(p0, n.prompt_tokens, &tier);
  if (n.prompt_tokens + n.completion_tokens <= 0)
    return 0;
  int64_t uncached = n.prompt_tokens - n.cached_tokens - n.cache_write_5m - n.cache_write_1h;
  double units = (double)uncached + (double)n.cached_tokens * p->cache_ratio +
                 (double)n.cache_write_5m * p->cache_write_ratio + (double)n.cache_write_1h * p->cache_write_1h_ratio +
                 (double)n.completion_tokens * p->completion_ratio;
  /* the audio parts were counted at the text ratios above: repriced at the audio ones */
  units += quota_audio_units(n.audio_prompt_tokens - n.audio_cached_tokens, n.audio_completion_tokens,
                             p->audio_ratio, p->audio_completion_ratio, p->completion_ratio);
  if (units < 0)
    units = 0;
  return quota_ratio(units, p->model_ratio * group_ratio, rounding);
}

int64_t billing_fixed(const struct price *p, double group_ratio, double units)
{
  return quota_fixed(p->fixed_price, units, group_ratio);
}

static int64_t bound_at(const struct price *p, double group_ratio, int64_t input_tokens, int64_t output_tokens)
{
  double in_ratio = 1;
  if (p->cache_ratio > in_ratio)
    in_ratio = p->cache_ratio;
  if (p->cache_write_ratio > in_ratio)
    in_ratio = p->cache_write_ratio;
  if (p->cache_write_1h_ratio > in_ratio)
    in_ratio = p->cache_write_1h_ratio;
  if (p->audio_ratio > in_ratio)
    in_ratio = p->audio_ratio;
  double out_ratio = p->completion_ratio > audio_out_ratio(p) ? p->completion_ratio : audio_out_ratio(p);
  double units = (double)clamp(input_tokens, USAGE_TOKENS_MAX) * in_ratio +
                 (double)clamp(output_tokens, USAGE_TOKENS_MAX) * out_ratio;
  /* up, whatever quota_rounding says: the bound is never below the charge */
  return quota_ratio(units, p->model_ratio * group_ratio, QUOTA_ROUND_UP);
}

int64_t billing_bound(const struct price *p, double group_ratio, int64_t input_tokens, int64_t output_tokens)
{
  if (p->has_fixed)
    return quota_fixed(p->fixed_price, 1, group_ratio);
  int64_t b = bound_at(p, group_ratio, input_tokens, output_tokens);
  struct price tier;
  const struct price *t = billing_price_at(p, input_tokens, &tier);
  if (t != p) {      /* the input may be above the tier's threshold: the dearer of the two prices */
    int64_t bt = bound_at(t, group_ratio, input_tokens, output_tokens);
    b = bt > b ? bt : b;
  }
  return b;
}

void billing_explain_json(const struct billing_explain *e, char *out, size_t n)
{
  cJSON *o = cJSON_CreateObject();
  struct price tier;
  const struct price *p = e->price;
  if (p && e->usage) {      /* the ratios applied: the long-context tier's when it priced it */
    struct usage u = *e->usage;
    usage_normalize(&u);
    p = billing_price_at(p, u.prompt_tokens, &tier);
    if (p != e->price)
      cJSON_AddNumberToObject(o, "tier_above", (double)p->tier_above);
  }
  cJSON_AddStringToObject(o, "mode", p && p->has_fixed ? "fixed" : "ratio");
  cJSON_AddStringToObject(o, "usage_source", e->usage_source ? e->usage_source : "none");
  if (e->counter && e->counter[0])
    cJSON_AddStringToObject(o, "counter", e->counter);
  if (e->api && e->api[0])
    cJSON_AddStringToObject(o, "api", e->api);
  if (e->usage && !(p && p->has_fixed && p->unit != PRICE_PER_CALL)) {
    struct usage u = *e->usage;
    usage_normalize(&u);
    cJSON *t = cJSON_AddObjectToObject(o, "tokens");
    cJSON_AddNumberToObject(t, "prompt", (double)u.prompt_tokens);
    cJSON_AddNumberToObject(t, "cached", (double)u.cached_tokens);
    cJSON_AddNumberToObject(t, "cache_write_5m", (double)u.cache_write_5m);
    cJSON_AddNumberToObject(t, "cache_write_1h", (double)u.cache_write_1h);
    cJSON_AddNumberToObject(t, "completion", (double)u.completion_tokens);
    cJSON_AddNumberToObject(t, "reasoning", (double)u.reasoning_tokens);
    if (u.audio_prompt_tokens || u.audio_completion_tokens) {
      cJSON_AddNumberToObject(t, "audio_prompt", (double)u.audio_prompt_tokens);
      cJSON_AddNumberToObject(t, "audio_cached", (double)u.audio_cached_tokens);
      cJSON_AddNumberToObject(t, "audio_completion", (double)u.audio_completion_tokens);
    }
  }
  if (p && p->has_fixed) {
    cJSON_AddNumberToObject(o, "fixed_price", p->fixed_price);
    cJSON_AddNumberToObject(o, "units", p->unit == PRICE_PER_CALL ? 1 : e->units);
    cJSON_AddStringToObject(o, "unit", price_unit_name(p->unit));
  } else if (p) {
    cJSON_AddNumberToObject(o, "model_ratio", p->model_ratio);
    cJSON_AddNumberToObject(o, "completion_ratio", p->completion_ratio);
    cJSON_AddNumberToObject(o, "cache_ratio", p->cache_ratio);
    cJSON_AddNumberToObject(o, "cache_write_ratio", p->cache_write_ratio);
    cJSON_AddNumberToObject(o, "cache_write_1h_ratio", p->cache_write_1h_ratio);
    if (e->rounding != QUOTA_ROUND_UP)
      cJSON_AddStringToObject(o, "rounding", quota_rounding_name(e->rounding));
    if (e->usage && (e->usage->audio_prompt_tokens || e->usage->audio_completion_tokens)) {
      cJSON_AddNumberToObject(o, "audio_ratio", p->audio_ratio);
      cJSON_AddNumberToObject(o, "audio_completion_ratio", p->audio_completion_ratio);
    }
  }
  if (e->requested_model && e->requested_model[0])
    cJSON_AddStringToObject(o, "requested_model", e->requested_model);
  if (e->served_model && e->served_model[0])
    cJSON_AddStringToObject(o, "served_model", e->served_model);
  if (e->cache_hit)
    cJSON_AddBoolToObject(o, "cache_hit", true);
  cJSON_AddStringToObject(o, "group", e->group ? e->group : "");
  cJSON_AddNumberToObject(o, "group_ratio", e->group_ratio);
  cJSON_AddNumberToObject(o, "reserved", (double)e->reserved);
  cJSON_AddNumberToObject(o, "charged", (double)e->charged);
  if (e->note && e->note[0])
    cJSON_AddStringToObject(o, "note", e->note);
  if (!o || !cJSON_PrintPreallocated(o, out, (int)(n > 1 ? n - 5 : 0), false))   /* cJSON asks for 5 spare bytes */
    snprintf(out, n, "{}");
  cJSON_Delete(o);
}
