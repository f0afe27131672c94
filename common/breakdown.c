/* breakdown: see breakdown.h. */
#include "breakdown.h"

#include "quota.h"
#include "i18n.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TOKENS_MAX 1e15        /* GW_QUOTA_MAX's order: far inside int64 and exact in a double */
#define RATIO_MAX 1e9
#define UNITS_MAX 1e12

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* A number field: absent leaves *v and returns 0; present sets bit in *have. integer: must be a
 * whole number. */
static int num(const cJSON *o, const char *prefix, const char *key, double max, bool integer,
               double *v, unsigned *have, unsigned bit, char *err, size_t errlen)
{
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!x || cJSON_IsNull(x))
    return 0;
  if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
    return fail(err, errlen, _("%s%s is not a number"), prefix, key);
  if (x->valuedouble < 0 || x->valuedouble > max)
    return fail(err, errlen, _("%s%s is out of range (%.10g)"), prefix, key, x->valuedouble);
  if (integer && x->valuedouble != floor(x->valuedouble))
    return fail(err, errlen, _("%s%s is not a whole number (%.10g)"), prefix, key, x->valuedouble);
  *v = x->valuedouble;
  *have |= bit;
  return 0;
}

static int count(const cJSON *o, const char *prefix, const char *key, int64_t *v, unsigned *have,
                 unsigned bit, char *err, size_t errlen)
{
  double d = 0;
  if (num(o, prefix, key, TOKENS_MAX, true, &d, have, bit, err, errlen) < 0)
    return -1;
  *v = (int64_t)d;
  return 0;
}

static int text(const cJSON *o, const char *key, char *out, size_t outlen, unsigned *have,
                unsigned bit, char *err, size_t errlen)
{
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!x || cJSON_IsNull(x))
    return 0;
  if (!cJSON_IsString(x))
    return fail(err, errlen, _("%s is not a string"), key);
  snprintf(out, outlen, "%s", x->valuestring);
  *have |= bit;
  return 0;
}

int breakdown_parse(const char *s, struct breakdown *b, char *err, size_t errlen)
{
  memset(b, 0, sizeof *b);
  if (!s || !*s)
    return 1;
  cJSON *j = cJSON_Parse(s);
  if (!j)
    return fail(err, errlen, _("not valid JSON"));
  int rc = 0;
  char mode[16] = "", rounding[16] = "";
  if (!cJSON_IsObject(j)) {
    rc = fail(err, errlen, _("not a JSON object"));
    goto out;
  }
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "tokens");
  if (tok && !cJSON_IsNull(tok) && !cJSON_IsObject(tok)) {
    rc = fail(err, errlen, _("tokens is not an object"));
    goto out;
  }
  const char *tp = "tokens.";
  if ((tok && !cJSON_IsNull(tok) &&
       (count(tok, tp, "prompt", &b->prompt, &b->have, BD_PROMPT, err, errlen) < 0 ||
        count(tok, tp, "cached", &b->cached, &b->have, BD_CACHED, err, errlen) < 0 ||
        count(tok, tp, "cache_write_5m", &b->cache_write_5m, &b->have, BD_CW5M, err, errlen) < 0 ||
        count(tok, tp, "cache_write_1h", &b->cache_write_1h, &b->have, BD_CW1H, err, errlen) < 0 ||
        count(tok, tp, "completion", &b->completion, &b->have, BD_COMPLETION, err, errlen) < 0 ||
        count(tok, tp, "reasoning", &b->reasoning, &b->have, BD_REASONING, err, errlen) < 0)) ||
      num(j, "", "model_ratio", RATIO_MAX, false, &b->model_ratio, &b->have, BD_MODEL_RATIO, err,
          errlen) < 0 ||
      num(j, "", "completion_ratio", RATIO_MAX, false, &b->completion_ratio, &b->have,
          BD_COMPLETION_RATIO, err, errlen) < 0 ||
      num(j, "", "cache_ratio", RATIO_MAX, false, &b->cache_ratio, &b->have, BD_CACHE_RATIO, err,
          errlen) < 0 ||
      num(j, "", "cache_write_ratio", RATIO_MAX, false, &b->cache_write_ratio, &b->have,
          BD_CW_RATIO, err, errlen) < 0 ||
      num(j, "", "cache_write_1h_ratio", RATIO_MAX, false, &b->cache_write_1h_ratio, &b->have,
          BD_CW1H_RATIO, err, errlen) < 0 ||
      num(j, "", "group_ratio", RATIO_MAX, false, &b->group_ratio, &b->have, BD_GROUP_RATIO, err,
          errlen) < 0 ||
      num(j, "", "fixed_price", RATIO_MAX, false, &b->fixed_price, &b->have, BD_FIXED_PRICE, err,
          errlen) < 0 ||
      num(j, "", "units", UNITS_MAX, false, &b->units, &b->have, BD_UNITS, err, errlen) < 0 ||
      count(j, "", "reserved", &b->reserved, &b->have, BD_RESERVED, err, errlen) < 0 ||
      count(j, "", "charged", &b->charged, &b->have, BD_CHARGED, err, errlen) < 0 ||
      text(j, "mode", mode, sizeof mode, &b->have, BD_MODE, err, errlen) < 0 ||
      text(j, "usage_source", b->usage_source, sizeof b->usage_source, &b->have, BD_USAGE_SOURCE,
           err, errlen) < 0 ||
      text(j, "group", b->group, sizeof b->group, &b->have, BD_GROUP, err, errlen) < 0 ||
      text(j, "unit", b->unit, sizeof b->unit, &b->have, BD_UNIT, err, errlen) < 0 ||
      text(j, "note", b->note, sizeof b->note, &b->have, BD_NOTE, err, errlen) < 0 ||
      text(j, "rounding", rounding, sizeof rounding, &b->have, BD_ROUNDING, err, errlen) < 0) {
    rc = -1;
    goto out;
  }
  if (b->have & BD_ROUNDING) {
    int r = quota_rounding_parse(rounding);
    if (r < 0) {
      rc = fail(err, errlen, _("unknown rounding '%.15s' (up or half_up)"), rounding);
      goto out;
    }
    b->rounding = r;
  }
  if (b->have & BD_MODE) {
    if (strcmp(mode, "ratio") == 0)
      b->mode = BD_MODE_RATIO;
    else if (strcmp(mode, "fixed") == 0)
      b->mode = BD_MODE_FIXED;
    else
      rc = fail(err, errlen, _("unknown mode '%.15s' (ratio or fixed)"), mode);
  }
out:
  cJSON_Delete(j);
  if (rc < 0) {
    char keep[256];
    snprintf(keep, sizeof keep, "%s", err);
    memset(b, 0, sizeof *b);
    snprintf(err, errlen, "%s", keep);
  }
  return rc;
}

/* The tokens billed at the full prompt price: prompt less its cached and cache-written parts. */
static int64_t uncached(const struct breakdown *b)
{
  return b->prompt - b->cached - b->cache_write_5m - b->cache_write_1h;
}

static double ratio_units(const struct breakdown *b)
{
  return (double)uncached(b) + (double)b->cached * b->cache_ratio +
         (double)b->cache_write_5m * b->cache_write_ratio +
         (double)b->cache_write_1h * b->cache_write_1h_ratio +
         (double)b->completion * b->completion_ratio;
}

int breakdown_charge(const struct breakdown *b, int64_t *quota, char *why, size_t whylen)
{
  if (b->mode == BD_MODE_RATIO) {
    if (uncached(b) < 0)
      return fail(why, whylen, _("tokens.prompt (%" PRId64 ") is less than its cached and "
                                 "cache-written parts (%" PRId64 ")"), b->prompt,
                   b->cached + b->cache_write_5m + b->cache_write_1h);
    if (b->reasoning > b->completion)
      return fail(why, whylen, _("tokens.reasoning (%" PRId64 ") is more than tokens.completion "
                                 "(%" PRId64 ")"), b->reasoning, b->completion);
    static const struct { unsigned tok, ratio; const char *name; } need[] = {
      { BD_CACHED, BD_CACHE_RATIO, "cache_ratio" },
      { BD_CW5M, BD_CW_RATIO, "cache_write_ratio" },
      { BD_CW1H, BD_CW1H_RATIO, "cache_write_1h_ratio" },
      { BD_COMPLETION, BD_COMPLETION_RATIO, "completion_ratio" },
    };
    const int64_t used[] = { b->cached, b->cache_write_5m, b->cache_write_1h, b->completion };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
      if (used[i] > 0 && !(b->have & need[i].ratio))
        return fail(why, whylen, _("the breakdown has no %s"), need[i].name);
    if (b->prompt + b->completion <= 0) {
      *quota = 0;
      return 0;
    }
    if (!(b->have & BD_MODEL_RATIO))
      return fail(why, whylen, _("the breakdown has no model_ratio"));
    if (!(b->have & BD_GROUP_RATIO))
      return fail(why, whylen, _("the breakdown has no group_ratio"));
    *quota = quota_ratio(ratio_units(b), b->model_ratio * b->group_ratio,
                         (enum quota_rounding)b->rounding);
    return 0;
  }
  if (b->mode == BD_MODE_FIXED) {
    if (!(b->have & BD_FIXED_PRICE))
      return fail(why, whylen, _("the breakdown has no fixed_price"));
    if (!(b->have & BD_GROUP_RATIO))
      return fail(why, whylen, _("the breakdown has no group_ratio"));
    *quota = quota_fixed(b->fixed_price, b->have & BD_UNITS ? b->units : 1, b->group_ratio);
    return 0;
  }
  return fail(why, whylen, _("the breakdown has no mode (ratio or fixed)"));
}

void breakdown_formula(const struct breakdown *b, char *out, size_t outlen)
{
  size_t n = 0;
  out[0] = '\0';
#define ADD(...)                                                              \
  do {                                                                        \
    if (n < outlen) {                                                         \
      int w_ = snprintf(out + n, outlen - n, __VA_ARGS__);                    \
      n = w_ < 0 ? outlen : n + (size_t)w_;                                   \
    }                                                                         \
  } while (0)
  int64_t q = 0;
  char why[8];
  if (breakdown_charge(b, &q, why, sizeof why) < 0)
    return;
  if (b->mode == BD_MODE_FIXED) {
    double units = b->have & BD_UNITS ? b->units : 1;
    ADD("round(%.10g x %.10g x %d x %.10g) = round(%.10g) = %" PRId64, b->fixed_price, units,
        QUOTA_PER_USD, b->group_ratio,
        b->fixed_price * units * QUOTA_PER_USD * b->group_ratio, q);
    return;
  }
  if (b->prompt + b->completion <= 0) {
    ADD("no tokens used = 0");
    return;
  }
  const char *fn = b->rounding == QUOTA_ROUND_HALF_UP ? "round_half_up" : "ceil";
  ADD("%s((%" PRId64, fn, b->prompt);
  if (b->cached)
    ADD(" - %" PRId64, b->cached);
  if (b->cache_write_5m)
    ADD(" - %" PRId64, b->cache_write_5m);
  if (b->cache_write_1h)
    ADD(" - %" PRId64, b->cache_write_1h);
  if (b->cached)
    ADD(" + %" PRId64 " x %.10g", b->cached, b->cache_ratio);
  if (b->cache_write_5m)
    ADD(" + %" PRId64 " x %.10g", b->cache_write_5m, b->cache_write_ratio);
  if (b->cache_write_1h)
    ADD(" + %" PRId64 " x %.10g", b->cache_write_1h, b->cache_write_1h_ratio);
  if (b->completion)
    ADD(" + %" PRId64 " x %.10g", b->completion, b->completion_ratio);
  double units = ratio_units(b), prod = units * b->model_ratio * b->group_ratio;
  ADD(") x %.10g x %.10g) = %s(%.10g x %.10g x %.10g) = %s(%.10g) = %" PRId64, b->model_ratio,
      b->group_ratio, fn, units, b->model_ratio, b->group_ratio, fn, prod, q);
  int64_t raw = b->rounding == QUOTA_ROUND_HALF_UP ? (int64_t)floor(prod + 0.5 + 1e-9)
                                                   : (int64_t)ceil(prod - 1e-9);
  if (raw <= 0 && q == 1)
    ADD(" (at least 1 when tokens were used)");
#undef ADD
}
