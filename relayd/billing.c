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
}

int64_t billing_quota(const struct price *p, double group_ratio, const struct usage *u,
                      enum quota_rounding rounding)
{
  if (p->has_fixed)
    return quota_fixed(p->fixed_price, 1, group_ratio);
  struct usage n = *u;
  usage_normalize(&n);
  if (n.prompt_tokens + n.completion_tokens <= 0)
    return 0;
  int64_t uncached = n.prompt_tokens - n.cached_tokens - n.cache_write_5m - n.cache_write_1h;
  double units = (double)uncached + (double)n.cached_tokens * p->cache_ratio +
                 (double)n.cache_write_5m * p->cache_write_ratio + (double)n.cache_write_1h * p->cache_write_1h_ratio +
                 (double)n.completion_tokens * p->completion_ratio;
  return quota_ratio(units, p->model_ratio * group_ratio, rounding);
}

int64_t billing_fixed(const struct price *p, double group_ratio, double units)
{
  return quota_fixed(p->fixed_price, units, group_ratio);
}

int64_t billing_bound(const struct price *p, double group_ratio, int64_t input_tokens, int64_t output_tokens)
{
  if (p->has_fixed)
    return quota_fixed(p->fixed_price, 1, group_ratio);
  double in_ratio = 1;
  if (p->cache_ratio > in_ratio)
    in_ratio = p->cache_ratio;
  if (p->cache_write_ratio > in_ratio)
    in_ratio = p->cache_write_ratio;
  if (p->cache_write_1h_ratio > in_ratio)
    in_ratio = p->cache_write_1h_ratio;
  double units = (double)clamp(input_tokens, USAGE_TOKENS_MAX) * in_ratio +
                 (double)clamp(output_tokens, USAGE_TOKENS_MAX) * p->completion_ratio;
  /* up, whatever quota_rounding says: the bound is never below the charge */
  return quota_ratio(units, p->model_ratio * group_ratio, QUOTA_ROUND_UP);
}

void billing_explain_json(const struct billing_explain *e, char *out, size_t n)
{
  cJSON *o = cJSON_CreateObject();
  const struct price *p = e->price;
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
  }
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
