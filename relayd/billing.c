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
  return usage_value(cJSON_GetObjectItemCaseSensitive(o, name), u);
}

int64_t usage_value(const cJSON *v, struct usage *u)
{
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

/* A JSON number as cJSON prints it (the same value; no printf, no malloc on this per-request path:
 * cJSON's print_number is an sprintf and an sscanf per number, and each member a malloc).
 * Integers exactly; a decimal fraction of up to 15 places exactly when r / 10^k gives back the
 * very same double (correctly rounded division, so the text parses to it); else %.17g. */
/* r / 10^k in decimal: at least one digit before the point, none of the trailing zeros */
static size_t fixed_text(char *t, long long r, int k)
{
  unsigned long long a = r < 0 ? 0ULL - (unsigned long long)r : (unsigned long long)r;
  char digits[24];
  int nd = 0;
  do
    digits[nd++] = (char)('0' + a % 10);
  while ((a /= 10) || nd <= k);
  size_t n = 0;
  if (r < 0)
    t[n++] = '-';
  for (int i = nd - 1; i >= 0; i--) {
    t[n++] = digits[i];
    if (i == k && k)
      t[n++] = '.';
  }
  if (k) {
    while (t[n - 1] == '0')
      n--;
    if (t[n - 1] == '.')
      n--;
  }
  return n;
}

/* d as cJSON would print it, at t (room for 40); the length */
static size_t number_text(char *t, double d)
{
  if (!isfinite(d)) {
    memcpy(t, "null", 4);
    return 4;
  }
  if (d == trunc(d) && fabs(d) < 9007199254740992.0)
    return fixed_text(t, (long long)d, 0);
  static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
                               1e14, 1e15};
  for (int k = 1; k <= 15; k++) {
    double v = d * p10[k];
    if (fabs(v) >= 9007199254740992.0)
      break;
    long long r = llround(v);
    if ((double)r / p10[k] == d)
      return fixed_text(t, r, k);
  }
  return (size_t)snprintf(t, 40, "%.17g", d);
}

/* The explanation's writer: straight into the caller's array, one bounds check per piece (the
 * member names are literals of known length: no strlen, no struct buf per piece). Once a piece
 * does not fit, over is set and nothing more is written. */
struct jw {
  char *p, *end;     /* next byte; the last byte that may hold text (the terminator's place after) */
  bool over, first;  /* something did not fit; no member written yet */
};

static inline void jw_put(struct jw *w, const char *s, size_t k)
{
  if ((size_t)(w->end - w->p) < k) {
    w->over = true;
    w->p = w->end;
    return;
  }
  memcpy(w->p, s, k);
  w->p += k;
}

/* ,"name": from the literal ,"name": -- its comma left out for the object's first member */
static inline void jw_key(struct jw *w, const char *lit, size_t k)
{
  if (w->first) {
    w->first = false;
    lit++;
    k--;
  }
  jw_put(w, lit, k);
}
#define KEY(w, name) jw_key((w), ",\"" name "\":", sizeof(",\"" name "\":") - 1)
#define LIT(w, s) jw_put((w), (s), sizeof(s) - 1)

static void jw_num(struct jw *w, double d)
{
  char t[40];
  jw_put(w, t, number_text(t, d));
}

/* an integer count as json_number writes (double)v: exact below 2^53, as the double above */
static void jw_int(struct jw *w, int64_t v)
{
  if (v <= -9007199254740992LL || v >= 9007199254740992LL) {
    jw_num(w, (double)v);
    return;
  }
  char t[24];
  jw_put(w, t, fixed_text(t, (long long)v, 0));
}

/* a JSON string: the text itself when nothing in it needs escaping (relay's own names, most group
 * and model names), else buf_append_json_str's escaping */
static void jw_str(struct jw *w, const char *s)
{
  size_t i = 0;
  for (unsigned char c; (c = (unsigned char)s[i]) != 0; i++)
    if (c < 0x20 || c == '"' || c == '\\')
      break;
  if (!s[i]) {
    if ((size_t)(w->end - w->p) < i + 2) {
      w->over = true;
      return;
    }
    *w->p++ = '"';
    memcpy(w->p, s, i);
    w->p += i;
    *w->p++ = '"';
    return;
  }
  if (w->over)
    return;
  struct buf b;
  buf_init_fixed(&b, w->p, (size_t)(w->end - w->p) + 1);
  if (buf_append_json_str(&b, s) < 0)
    w->over = true;
  else
    w->p += b.len;
}

#define STR(w, name, v) (KEY(w, name), jw_str((w), (v)))
#define NUM(w, name, v) (KEY(w, name), jw_num((w), (v)))
#define INT(w, name, v) (KEY(w, name), jw_int((w), (v)))

void billing_explain_json(const struct billing_explain *e, char *out, size_t n)
{
  /* written straight into out (the members as gwctl log explain reads them) */
  if (!n)
    return;
  struct jw w = {.p = out, .end = out + n - 1, .first = true};
  struct jw *W = &w;
  struct price tier;
  struct usage u;
  const struct price *p = e->price;
  if (e->usage) {
    u = *e->usage;
    usage_normalize(&u);
  }
  LIT(W, "{");
  if (p && e->usage) {      /* the ratios applied: the long-context tier's when it priced it */
    p = billing_price_at(p, u.prompt_tokens, &tier);
    if (p != e->price)
      INT(W, "tier_above", p->tier_above);
  }
  STR(W, "mode", p && p->has_fixed ? "fixed" : "ratio");
  STR(W, "usage_source", e->usage_source ? e->usage_source : "none");
  if (e->counter && e->counter[0])
    STR(W, "counter", e->counter);
  if (e->api && e->api[0])
    STR(W, "api", e->api);
  if (e->usage && !(p && p->has_fixed && p->unit != PRICE_PER_CALL)) {
    KEY(W, "tokens");
    LIT(W, "{\"prompt\":");
    jw_int(W, u.prompt_tokens);
    LIT(W, ",\"cached\":");
    jw_int(W, u.cached_tokens);
    LIT(W, ",\"cache_write_5m\":");
    jw_int(W, u.cache_write_5m);
    LIT(W, ",\"cache_write_1h\":");
    jw_int(W, u.cache_write_1h);
    LIT(W, ",\"completion\":");
    jw_int(W, u.completion_tokens);
    LIT(W, ",\"reasoning\":");
    jw_int(W, u.reasoning_tokens);
    if (u.audio_prompt_tokens || u.audio_completion_tokens) {
      LIT(W, ",\"audio_prompt\":");
      jw_int(W, u.audio_prompt_tokens);
      LIT(W, ",\"audio_cached\":");
      jw_int(W, u.audio_cached_tokens);
      LIT(W, ",\"audio_completion\":");
      jw_int(W, u.audio_completion_tokens);
    }
    LIT(W, "}");
  }
  if (p && p->has_fixed) {
    NUM(W, "fixed_price", p->fixed_price);
    NUM(W, "units", p->unit == PRICE_PER_CALL ? 1 : e->units);
    STR(W, "unit", price_unit_name(p->unit));
  } else if (p) {
    NUM(W, "model_ratio", p->model_ratio);
    NUM(W, "completion_ratio", p->completion_ratio);
    NUM(W, "cache_ratio", p->cache_ratio);
    NUM(W, "cache_write_ratio", p->cache_write_ratio);
    NUM(W, "cache_write_1h_ratio", p->cache_write_1h_ratio);
    if (e->rounding != QUOTA_ROUND_UP)
      STR(W, "rounding", quota_rounding_name(e->rounding));
    if (e->usage && (e->usage->audio_prompt_tokens || e->usage->audio_completion_tokens)) {
      NUM(W, "audio_ratio", p->audio_ratio);
      NUM(W, "audio_completion_ratio", p->audio_completion_ratio);
    }
  }
  if (e->requested_model && e->requested_model[0])
    STR(W, "requested_model", e->requested_model);
  if (e->served_model && e->served_model[0])
    STR(W, "served_model", e->served_model);
  if (e->cache_hit)
    KEY(W, "cache_hit"), LIT(W, "true");
  STR(W, "group", e->group ? e->group : "");
  NUM(W, "group_ratio", e->group_ratio);
  INT(W, "reserved", e->reserved);
  INT(W, "charged", e->charged);
  if (e->note && e->note[0])
    STR(W, "note", e->note);
  LIT(W, "}");
  if (w.over)
    snprintf(out, n, "{}");
  else
    *w.p = '\0';
}
