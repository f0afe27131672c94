/*
 * gwctl price: model prices (table prices): list, set, unset, import and export.
 *
 * A price is either token ratios (model_ratio 1 = 2 USD per million prompt tokens; completion_ratio
 * and cache_ratio multiply it for completion and cached prompt tokens) or a fixed USD price
 * (fixed_price, which wins when set) per unit: per call, or per image, per second of audio or per
 * search unit (price_unit; doc/endpoints.md). A ratio price may also carry cache_write_ratio and
 * cache_write_1h_ratio (x the input price for 5-minute and 1-hour cache writes; NULL = relayd's
 * defaults 1.25 and 2.0), audio_ratio and audio_completion_ratio (migration 013, New API's
 * AudioRatio and AudioCompletionRatio: an uncached input audio token costs audio_ratio x the input
 * price, an output audio token audio_ratio x audio_completion_ratio x it; NULL = priced as text),
 * and any price max_output_tokens (the model's maximum output, the bound
 * relayd reserves for a request without max_tokens; NULL = unknown). A model without a row is
 * refused by relayd (403 model_price_unset). A ratio price may have one long-context tier (issue
 * #25, migration 014): --tier ABOVE:ratio=R[,completion=C][,cache=K] prices a whole request of more
 * than ABOVE prompt tokens at the tier's ratios (a ratio not given is the base one); --tier none
 * removes it. The import/export format:
 *   {"MODEL":{"model_ratio":R,"completion_ratio":C,"cache_ratio":K,"cache_write_ratio":W,
 *             "cache_write_1h_ratio":H,"audio_ratio":A,"audio_completion_ratio":B,
 *             "max_output_tokens":N}, "MODEL2":{"fixed_price":P},
 *    "MODEL3":{"fixed_price":P,"unit":"image"}}   (cache_write_*, audio_*, max_output_tokens optional;
 *    "tier":"ABOVE:ratio=R,completion=C,cache=K" as --tier writes it, optional)
 * Callers: the command table in main.c.
 * Never: writes part of an import: every entry is checked before the first write.
 */
#include "gwctl.h"
#include "i18n.h"
#include "cmd_price.h"
#include "output.h"
#include "rules.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_NAME_MAX RULE_MODEL_MAX
#define RATIO_MAX RULE_RATIO_MAX
#define PRICE_MAX RULE_PRICE_MAX
#define IMPORT_MAX (16 * 1024 * 1024)
#define PRICE_UNITS "call, image, second, search"
#define MAX_OUTPUT_MAX RULE_MAX_OUTPUT_MAX
#define TIER_ABOVE_MAX RULE_TIER_ABOVE_MAX
/* relayd's defaults for a NULL cache write ratio (relayd/snapshot.h) */
#define CACHE_WRITE_DEFAULT 1.25
#define CACHE_WRITE_1H_DEFAULT 2.0

/* The units a fixed price may be given in (relayd/snapshot.c reads the same names). */
static int check_unit(struct gwctl *g, const char *what, const char *unit)
{
  if (rule_word(rule_price_units, unit) >= 0)
    return 0;
  return gw_usage(g, "%s: unknown price unit '%s' (one of: " PRICE_UNITS ")", what, unit);
}

static int check_model(struct gwctl *g, const char *what, const char *model)
{
  char norm[MODEL_NAME_MAX + 2];
  int n = 0;
  int rc = gw_norm_list(g, what, model, MODEL_NAME_MAX, norm, sizeof norm, &n);
  if (rc == 0 && (n != 1 || strcmp(norm, model) != 0))
    rc = gw_usage(g, "%s: '%s' is not a model name (no blanks or commas)", what, model);
  return rc;
}

/* A price's row (gw_row_fn). */
static cJSON *price_row(struct db_stmt *st, const void *arg)
{
  (void)arg;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", db_col_text(st, 0));
  cJSON_AddNumberToObject(o, "model_ratio", db_col_double(st, 1));
  cJSON_AddNumberToObject(o, "completion_ratio", db_col_double(st, 2));
  cJSON_AddNumberToObject(o, "cache_ratio", db_col_double(st, 3));
  if (db_col_is_null(st, 4))
    cJSON_AddNullToObject(o, "fixed_price");
  else
    cJSON_AddNumberToObject(o, "fixed_price", db_col_double(st, 4));
  cJSON_AddStringToObject(o, "unit", db_col_text(st, 5));
  /* the ratios relayd applies (its default when the column is NULL); *_set says whether the row
   * holds its own (export writes only those) */
  cJSON_AddNumberToObject(o, "cache_write_ratio",
                          db_col_is_null(st, 6) ? CACHE_WRITE_DEFAULT : db_col_double(st, 6));
  cJSON_AddBoolToObject(o, "cache_write_ratio_set", !db_col_is_null(st, 6));
  cJSON_AddNumberToObject(o, "cache_write_1h_ratio",
                          db_col_is_null(st, 7) ? CACHE_WRITE_1H_DEFAULT : db_col_double(st, 7));
  cJSON_AddBoolToObject(o, "cache_write_1h_ratio_set", !db_col_is_null(st, 7));
  if (db_col_is_null(st, 8) || db_col_int64(st, 8) <= 0)
    cJSON_AddNullToObject(o, "max_output_tokens");
  else
    cJSON_AddNumberToObject(o, "max_output_tokens", (double)db_col_int64(st, 8));
  /* audio (relayd/snapshot.c's defaults when NULL: priced as text, input 1, output the
   * completion ratio, i.e. audio_completion_ratio = completion_ratio / audio_ratio) */
  double ar = db_col_is_null(st, 9) ? 1.0 : db_col_double(st, 9);
  double acr = !db_col_is_null(st, 10) ? db_col_double(st, 10)
               : ar > 0 ? db_col_double(st, 2) / ar : db_col_double(st, 2);
  cJSON_AddNumberToObject(o, "audio_ratio", ar);
  cJSON_AddBoolToObject(o, "audio_ratio_set", !db_col_is_null(st, 9));
  cJSON_AddNumberToObject(o, "audio_completion_ratio", acr);
  cJSON_AddBoolToObject(o, "audio_completion_ratio_set", !db_col_is_null(st, 10));
  /* the long-context tier with the ratios relayd applies (a NULL ratio is the base one) */
  if (db_col_is_null(st, 11) || db_col_int64(st, 11) < 1) {
    cJSON_AddNullToObject(o, "tier");
  } else {
    cJSON *t = cJSON_AddObjectToObject(o, "tier");
    cJSON_AddNumberToObject(t, "above", (double)db_col_int64(st, 11));
    for (int k = 0; k < 3; k++)
      cJSON_AddNumberToObject(t, k == 0 ? "model_ratio" : k == 1 ? "completion_ratio" : "cache_ratio",
                              db_col_double(st, db_col_is_null(st, 12 + k) ? 1 + k : 12 + k));
  }
  if (cJSON_GetArraySize(o) != 16) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static cJSON *price_rows(struct gwctl *g, int *rc)
{
  struct db_stmt *st = gw_prepare(g, "cannot read prices",
      "SELECT model, model_ratio, completion_ratio, cache_ratio, fixed_price, price_unit, "
      "cache_write_ratio, cache_write_1h_ratio, max_output_tokens, audio_ratio, audio_completion_ratio, "
      "tier_above, tier_model_ratio, tier_completion_ratio, tier_cache_ratio FROM prices ORDER BY model", "");
  return gw_rows(g, st, "cannot read prices", price_row, NULL, rc);
}

static void render_price(const cJSON *row, char *buf, size_t len)
{
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(row, "fixed_price");
  const char *unit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "unit"));
  if (cJSON_IsNumber(f))
    snprintf(buf, len, "%g USD/%s", f->valuedouble, unit ? unit : "call");
  else
    snprintf(buf, len, "-");
}

/* A tier as --tier writes it: "200000:ratio=2.5,completion=6,cache=0.25". */
static void tier_text(const cJSON *tier, char *buf, size_t len)
{
  if (!cJSON_IsObject(tier)) {
    snprintf(buf, len, "-");
    return;
  }
  snprintf(buf, len, "%.0f:ratio=%g,completion=%g,cache=%g",
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(tier, "above")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(tier, "model_ratio")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(tier, "completion_ratio")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(tier, "cache_ratio")));
}

static void render_tier(const cJSON *row, char *buf, size_t len)
{
  tier_text(cJSON_GetObjectItemCaseSensitive(row, "tier"), buf, len);
}

static const struct out_col price_cols[] = {
  { "model", "MODEL", OUT_PLAIN, 0, NULL },
  { "model_ratio", "RATIO", OUT_PLAIN, 0, NULL },
  { "completion_ratio", "COMPLETION", OUT_PLAIN, 0, NULL },
  { "cache_ratio", "CACHE", OUT_PLAIN, 0, NULL },
  { "cache_write_ratio", "CACHE_WRITE", OUT_PLAIN, 0, NULL },
  { "cache_write_1h_ratio", "CACHE_1H", OUT_PLAIN, 0, NULL },
  { "audio_ratio", "AUDIO", OUT_PLAIN, 0, NULL },
  { "audio_completion_ratio", "AUDIO_OUT", OUT_PLAIN, 0, NULL },
  { "max_output_tokens", "MAX_OUTPUT", OUT_PLAIN, 0, NULL },
  { "fixed_price", "FIXED", OUT_PLAIN, 0, render_price },
  { "tier", "TIER", OUT_PLAIN, 0, render_tier },
  { 0 },
};

int cmd_price_list(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  cJSON *rows = price_rows(g, &rc);
  if (!rows)
    return rc;
  if (out_list(g->json, rows, price_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

/* Parses a tier: "none", or "ABOVE:ratio=R[,completion=C][,cache=K]" (ratio required). */
static int tier_parse(struct gwctl *g, const char *what, const char *spec, struct price *p)
{
  static const char *const names[] = { "ratio", "completion", "cache" };
  p->has_tier = 1;
  p->tier_above = 0;
  for (int k = 0; k < 3; k++)
    p->tier_ratio[k] = -1;
  if (strcmp(spec, "none") == 0)
    return 0;
  char buf[256], *colon;
  int len = snprintf(buf, sizeof buf, "%s", spec);
  if (len < 0 || (size_t)len >= sizeof buf || !(colon = strchr(buf, ':')))
    return gw_usage(g, "%s: '%s' is not a tier: give ABOVE:ratio=R[,completion=C][,cache=K] "
                    "(e.g. 200000:ratio=2.5,completion=6) or none", what, spec);
  *colon = '\0';
  int rc = gw_parse_int(g, what, buf, 1, TIER_ABOVE_MAX, &p->tier_above);
  for (char *save = NULL, *kv = strtok_r(colon + 1, ",", &save); rc == 0 && kv;
       kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    int k = 0;
    if (eq)
      *eq = '\0';
    while (k < 3 && strcmp(kv, names[k]) != 0)
      k++;
    if (!eq || k == 3)
      return gw_usage(g, "%s: unknown tier field '%s' (ratio, completion, cache)", what, kv);
    rc = gw_parse_double(g, what, eq + 1, 0, RATIO_MAX, &p->tier_ratio[k]);
  }
  if (rc == 0 && (rule_price(p) & RULE_PRICE_TIER_RATIO))
    rc = gw_usage(g, "%s: a tier needs ratio=R (the input price above the threshold)", what);
  return rc;
}

static int price_log(struct gwctl *g, const char *verb, const struct price *p)
{
  struct gw_subject s = { 0 };
  char extra[240] = "";
  size_t n = 0;
  if (p->has_cw)
    n += (size_t)snprintf(extra + n, sizeof extra - n, " cache_write_ratio=%g", p->cw);
  if (p->has_cw1h && n < sizeof extra)
    n += (size_t)snprintf(extra + n, sizeof extra - n, " cache_write_1h_ratio=%g", p->cw1h);
  if (p->has_ar && n < sizeof extra)
    n += (size_t)snprintf(extra + n, sizeof extra - n, " audio_ratio=%g", p->ar);
  if (p->has_acr && n < sizeof extra)
    n += (size_t)snprintf(extra + n, sizeof extra - n, " audio_completion_ratio=%g", p->acr);
  if (p->has_max_out && n < sizeof extra)
    n += (size_t)snprintf(extra + n, sizeof extra - n, " max_output_tokens=%" PRId64, p->max_out);
  if (p->has_tier && n < sizeof extra)
    snprintf(extra + n, sizeof extra - n, " tier_above=%" PRId64 " tier_ratio=%g", p->tier_above,
             p->tier_ratio[0]);
  if (p->has_fixed)
    return gw_log_manage(g, &s, "price %s %s fixed_price=%g per %s%s", verb, p->model, p->fixed,
                         p->unit ? p->unit : "call", extra);
  if (!p->has_ratio)
    return gw_log_manage(g, &s, "price %s %s%s", verb, p->model, extra);
  return gw_log_manage(g, &s, "price %s %s model_ratio=%g completion_ratio=%g cache_ratio=%g%s", verb,
                       p->model, p->ratio, p->completion, p->cache, extra);
}

int cmd_price_set(struct gwctl *g, int argc, char **argv)
{
  const char *model = NULL, *ratio_s = NULL, *comp_s = NULL, *cache_s = NULL, *price_s = NULL,
             *per = NULL, *cw_s = NULL, *cw1h_s = NULL, *max_s = NULL, *ar_s = NULL, *acr_s = NULL,
             *tier_s = NULL;
  const struct gw_opt opts[] = {
    { "ratio", &ratio_s, NULL },
    { "completion-ratio", &comp_s, NULL },
    { "cache-ratio", &cache_s, NULL },
    { "cache-write-ratio", &cw_s, NULL },
    { "cache-write-1h-ratio", &cw1h_s, NULL },
    { "audio-ratio", &ar_s, NULL },
    { "audio-completion-ratio", &acr_s, NULL },
    { "max-output-tokens", &max_s, NULL },
    { "tier", &tier_s, NULL },
    { "price", &price_s, NULL },
    { "per", &per, NULL },
    { 0 },
  };
  struct price p = { .completion = 1, .cache = 1 };
  int rc = gw_args(g, argc, argv, opts, "MODEL", &model);
  if (rc == 0)
    rc = check_model(g, "MODEL", model);
  if (rc == 0 && !ratio_s && !price_s && !max_s && !tier_s)
    rc = gw_usage(g, "give --ratio R [--completion-ratio C] [--cache-ratio K] "
                  "[--cache-write-ratio W] [--cache-write-1h-ratio H] [--audio-ratio A] "
                  "[--audio-completion-ratio B], or --price USD "
                  "(--max-output-tokens N and --tier ABOVE:ratio=R with either, or alone for a priced model)");
  p.has_fixed = price_s != NULL;
  if (rc == 0 && tier_s)
    rc = tier_parse(g, "--tier", tier_s, &p);
  if (rc == 0 && (rule_price(&p) & RULE_PRICE_TIER_FIXED))
    rc = gw_usage(g, "--tier (a long-context ratio tier) does not go with --price");
  if (rc == 0 && price_s && (ratio_s || comp_s || cache_s || cw_s || cw1h_s || ar_s || acr_s))
    rc = gw_usage(g, "--price (USD per call) does not go with the ratio options");
  if (rc == 0 && per && !price_s)
    rc = gw_usage(g, "--per UNIT goes with --price USD");
  if (rc == 0 && per)
    rc = check_unit(g, "--per", per);
  if (rc == 0 && !ratio_s && (comp_s || cache_s || cw_s || cw1h_s || ar_s || acr_s))
    rc = gw_usage(g, "--completion-ratio, --cache-ratio, --cache-write-ratio, "
                  "--cache-write-1h-ratio, --audio-ratio and --audio-completion-ratio need --ratio R");
  const struct { const char *opt, *s; double *out; } ratios[] = {
    { "--ratio", ratio_s, &p.ratio },
    { "--completion-ratio", comp_s, &p.completion },
    { "--cache-ratio", cache_s, &p.cache },
    { "--cache-write-ratio", cw_s, &p.cw },
    { "--cache-write-1h-ratio", cw1h_s, &p.cw1h },
    { "--audio-ratio", ar_s, &p.ar },
    { "--audio-completion-ratio", acr_s, &p.acr },
  };
  for (size_t i = 0; rc == 0 && i < sizeof ratios / sizeof *ratios; i++)
    if (ratios[i].s)
      rc = gw_parse_double(g, ratios[i].opt, ratios[i].s, 0, RATIO_MAX, ratios[i].out);
  if (rc == 0 && max_s)
    rc = gw_parse_int(g, "--max-output-tokens", max_s, 0, MAX_OUTPUT_MAX, &p.max_out);
  if (rc == 0 && price_s)
    rc = gw_parse_double(g, "--price", price_s, 0, PRICE_MAX, &p.fixed);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  p.model = model;
  p.has_ratio = ratio_s != NULL;
  p.has_fixed = price_s != NULL;
  p.unit = per;
  p.has_cw = cw_s != NULL;
  p.has_cw1h = cw1h_s != NULL;
  p.has_ar = ar_s != NULL;
  p.has_acr = acr_s != NULL;
  p.has_max_out = max_s != NULL;
  if (!p.has_ratio && !p.has_fixed) {
    /* --max-output-tokens or --tier alone changes a price that exists */
    int64_t one = 0;
    int r = gw_scalar(g, "cannot read prices", "SELECT 1 FROM prices WHERE model = ?1", &one, "s",
                      model);
    rc = r < 0 ? GW_FAIL
         : r == 0 ? gw_err(GW_NOTFOUND, "model '%s' has no price; give --ratio R or --price USD "
                           "with --max-output-tokens or --tier", model)
                  : 0;
    if (rc == 0 && max_s)
      rc = gw_exec(g, "cannot set the price", "UPDATE prices SET max_output_tokens = ?2 "
                   "WHERE model = ?1", p.max_out > 0 ? "si" : "sn", model, p.max_out);
  } else {
    rc = gw_price_write(g, &p);
  }
  if (rc == 0 && p.has_fixed && !p.has_tier)
    tier_parse(g, "--tier", "none", &p);      /* a fixed price has no ratio tier */
  if (rc == 0)
    rc = gw_price_tier_write(g, &p);
  if (rc == 0)
    rc = price_log(g, "set", &p);
  return gw_end(g, rc);
}

int cmd_price_unset(struct gwctl *g, int argc, char **argv)
{
  const char *model = NULL;
  int64_t one = 0;
  int rc = gw_args(g, argc, argv, NULL, "MODEL", &model);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  int r = gw_scalar(g, "cannot read prices", "SELECT 1 FROM prices WHERE model = ?1", &one, "s",
                    model);
  rc = r < 0 ? GW_FAIL : r == 0 ? gw_err(GW_NOTFOUND, "model '%s' has no price", model) : 0;
  if (rc == 0)
    rc = gw_exec(g, "cannot unset the price", "DELETE FROM prices WHERE model = ?1", "s", model);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "price unset %s", model);
  return gw_end(g, rc);
}

static char *read_all(struct gwctl *g, const char *path, int *rc)
{
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    *rc = gw_err(errno == ENOENT ? GW_NOTFOUND : GW_FAIL, "cannot open %s: %s", path,
                 strerror(errno));
    return NULL;
  }
  size_t len = 0, cap = 65536;
  char *data = malloc(cap + 1);
  while (data) {
    if (len == cap) {
      if (cap >= IMPORT_MAX) {
        *rc = gw_usage(g, "%s is larger than %d bytes", path, IMPORT_MAX);
        free(data);
        data = NULL;
        break;
      }
      char *nd = realloc(data, cap * 2 + 1);
      if (!nd) {
        free(data);
        data = NULL;
        break;
      }
      data = nd;
      cap *= 2;
    }
    size_t n = fread(data + len, 1, cap - len, f);
    len += n;
    if (n == 0) {
      if (ferror(f)) {
        *rc = gw_err(GW_FAIL, "cannot read %s: %s", path, strerror(errno));
        free(data);
        data = NULL;
      }
      break;
    }
  }
  if (data)
    data[len] = '\0';
  else if (*rc == 0)
    *rc = gw_err(GW_FAIL, "out of memory");
  if (f != stdin)
    fclose(f);
  return data;
}

/* Reads a number field of an import entry; absent leaves *v. */
static int import_num(struct gwctl *g, const char *model, const cJSON *e, const char *field,
                      double max, double *v, int *present)
{
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(e, field);
  *present = x != NULL;
  if (!x)
    return 0;
  if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
    return gw_usage(g, "import: %s.%s must be a number", model, field);
  if (x->valuedouble < 0 || x->valuedouble > max)
    return gw_usage(g, "import: %s.%s must be from 0 to %g, not %g", model, field, max,
                    x->valuedouble);
  *v = x->valuedouble;
  return 0;
}

int cmd_price_import(struct gwctl *g, int argc, char **argv)
{
  const char *path = NULL;
  int replace = 0;
  const struct gw_opt opts[] = { { "replace", NULL, &replace }, { 0 } };
  int rc = gw_args(g, argc, argv, opts, "FILE|-", &path);
  if (rc != 0)
    return rc;
  char *text = read_all(g, path, &rc);
  if (!text)
    return rc;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
  if (!j)
    rc = gw_usage(g, "%s is not valid JSON (error at byte %zu)", path,
                  end && end >= text ? (size_t)(end - text) + 1 : (size_t)0);
  else if (!cJSON_IsObject(j))
    rc = gw_usage(g, "%s must hold a JSON object {\"model\":{...},...}", path);
  free(text);
  size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
  struct price *ps = rc == 0 ? calloc(n ? n : 1, sizeof *ps) : NULL;
  if (rc == 0 && !ps)
    rc = gw_err(GW_FAIL, "out of memory");
  const cJSON *e;
  if (rc == 0) {
    cJSON_ArrayForEach(e, j) {
      struct price *p = &ps[i++];
      int has_comp = 0, has_cache = 0;
      p->model = e->string;
      p->completion = 1;
      p->cache = 1;
      if ((rc = check_model(g, "import", e->string)) != 0)
        break;
      for (const cJSON *prev = j->child; prev != e; prev = prev->next)
        if (strcmp(prev->string, e->string) == 0) {
          rc = gw_usage(g, "import: model '%s' appears twice", e->string);
          break;
        }
      if (rc != 0)
        break;
      if (!cJSON_IsObject(e)) {
        rc = gw_usage(g, "import: the value for '%s' must be an object", e->string);
        break;
      }
      const cJSON *f;
      cJSON_ArrayForEach(f, e)
        if (strcmp(f->string, "model_ratio") && strcmp(f->string, "completion_ratio")
            && strcmp(f->string, "cache_ratio") && strcmp(f->string, "fixed_price")
            && strcmp(f->string, "unit") && strcmp(f->string, "cache_write_ratio")
            && strcmp(f->string, "cache_write_1h_ratio") && strcmp(f->string, "max_output_tokens")
            && strcmp(f->string, "audio_ratio") && strcmp(f->string, "audio_completion_ratio")
            && strcmp(f->string, "tier")) {
          rc = gw_usage(g, "import: %s: unknown field '%s' (model_ratio, completion_ratio, "
                        "cache_ratio, cache_write_ratio, cache_write_1h_ratio, audio_ratio, "
                        "audio_completion_ratio, max_output_tokens, fixed_price, unit, tier)", e->string,
                        f->string);
          break;
        }
      const cJSON *unit = cJSON_GetObjectItemCaseSensitive(e, "unit");
      if (rc == 0 && unit) {
        char what[MODEL_NAME_MAX + 32];
        snprintf(what, sizeof what, "import: %s.unit", e->string);
        if (!cJSON_IsString(unit))
          rc = gw_usage(g, "%s must be a string (" PRICE_UNITS ")", what);
        else if ((rc = check_unit(g, what, unit->valuestring)) == 0)
          p->unit = unit->valuestring;
      }
      if (rc == 0)
        rc = import_num(g, e->string, e, "model_ratio", RATIO_MAX, &p->ratio, &p->has_ratio);
      if (rc == 0)
        rc = import_num(g, e->string, e, "completion_ratio", RATIO_MAX, &p->completion, &has_comp);
      if (rc == 0)
        rc = import_num(g, e->string, e, "cache_ratio", RATIO_MAX, &p->cache, &has_cache);
      if (rc == 0)
        rc = import_num(g, e->string, e, "cache_write_ratio", RATIO_MAX, &p->cw, &p->has_cw);
      if (rc == 0)
        rc = import_num(g, e->string, e, "cache_write_1h_ratio", RATIO_MAX, &p->cw1h, &p->has_cw1h);
      if (rc == 0)
        rc = import_num(g, e->string, e, "audio_ratio", RATIO_MAX, &p->ar, &p->has_ar);
      if (rc == 0)
        rc = import_num(g, e->string, e, "audio_completion_ratio", RATIO_MAX, &p->acr, &p->has_acr);
      double max_out = 0;
      if (rc == 0)
        rc = import_num(g, e->string, e, "max_output_tokens", (double)MAX_OUTPUT_MAX, &max_out,
                        &p->has_max_out);
      if (rc == 0 && p->has_max_out && max_out != (double)(int64_t)max_out)
        rc = gw_usage(g, "import: %s.max_output_tokens must be an integer, not %g", e->string,
                      max_out);
      p->max_out = (int64_t)max_out;
      if (rc == 0)
        rc = import_num(g, e->string, e, "fixed_price", PRICE_MAX, &p->fixed, &p->has_fixed);
      /* an imported entry is the whole price: no "tier" removes a stored one */
      const cJSON *tier = cJSON_GetObjectItemCaseSensitive(e, "tier");
      char twhat[MODEL_NAME_MAX + 32];
      snprintf(twhat, sizeof twhat, "import: %s.tier", e->string);
      if (rc == 0 && tier && !cJSON_IsString(tier))
        rc = gw_usage(g, "%s must be a string (ABOVE:ratio=R,completion=C,cache=K)", twhat);
      if (rc == 0)
        rc = tier_parse(g, twhat, tier ? tier->valuestring : "none", p);
      unsigned bad = rc == 0 ? rule_price(p) : 0;
      if (bad & RULE_PRICE_TIER_FIXED)
        rc = gw_usage(g, "%s goes with model_ratio, not fixed_price", twhat);
      else if (bad & RULE_PRICE_NONE)
        rc = gw_usage(g, "import: %s needs model_ratio or fixed_price", e->string);
      if (rc == 0 && p->unit && !p->has_fixed)
        rc = gw_usage(g, "import: %s: unit goes with fixed_price", e->string);
      if (rc == 0 && !p->has_ratio && (has_comp || has_cache || p->has_cw || p->has_cw1h || p->has_ar
                                       || p->has_acr))
        rc = gw_usage(g, "import: %s: completion_ratio, cache_ratio, the cache write ratios and "
                      "the audio ratios need model_ratio", e->string);
      if (rc != 0)
        break;
    }
  }
  if (rc == 0 && (rc = gw_begin(g)) == 0) {
    int64_t removed = 0;
    if (replace) {
      rc = gw_exec(g, "cannot replace prices", "CREATE TEMP TABLE IF NOT EXISTS keep(model TEXT "
                   "PRIMARY KEY)", "");
      for (size_t k = 0; rc == 0 && k < n; k++)
        rc = gw_exec(g, "cannot replace prices", "INSERT INTO keep VALUES (?1) ON CONFLICT DO NOTHING", "s",
                     ps[k].model);
      if (rc == 0)
        rc = gw_exec(g, "cannot replace prices",
                     "DELETE FROM prices WHERE model NOT IN (SELECT model FROM keep)", "");
      removed = rc == 0 ? db_changes(g->db) : 0;
      if (rc == 0)
        rc = gw_exec(g, "cannot replace prices", "DROP TABLE keep", "");
    }
    for (size_t k = 0; rc == 0 && k < n; k++) {
      /* an imported entry is the whole price: a ratio entry clears a fixed price and vice versa */
      struct price p = ps[k];
      if (!p.has_ratio)
        p.has_ratio = 1, p.ratio = 0;
      rc = gw_price_write(g, &p);
      if (rc == 0)
        rc = gw_price_tier_write(g, &p);
    }
    struct gw_subject s = { 0 };
    if (rc == 0)
      rc = gw_log_manage(g, &s, "price import %zu models%s (removed %" PRId64 ")", n,
                         replace ? " --replace" : "", removed);
    rc = gw_end(g, rc);
    if (rc == 0 && !g->json)
      printf(replace ? ngettext("%zu price imported, others removed\n", "%zu prices imported, others removed\n", n)
                    : ngettext("%zu price imported\n", "%zu prices imported\n", n), n);
  }
  free(ps);
  cJSON_Delete(j);
  return rc;
}

int cmd_price_export(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  cJSON *rows = price_rows(g, &rc);
  if (!rows)
    return rc;
  cJSON *all = cJSON_CreateObject();
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "model"));
    const cJSON *fixed = cJSON_GetObjectItemCaseSensitive(row, "fixed_price");
    cJSON *e = cJSON_CreateObject();
    if (cJSON_IsNumber(fixed)) {
      const char *unit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "unit"));
      cJSON_AddNumberToObject(e, "fixed_price", fixed->valuedouble);
      if (unit && strcmp(unit, "call") != 0)
        cJSON_AddStringToObject(e, "unit", unit);
    } else {
      static const char *const f[] = { "model_ratio", "completion_ratio", "cache_ratio" };
      for (int k = 0; k < 3; k++)
        cJSON_AddNumberToObject(e, f[k], cJSON_GetNumberValue(
                                             cJSON_GetObjectItemCaseSensitive(row, f[k])));
      /* the cache write and audio ratios only when the row has its own (else relayd's default) */
      static const char *const w[] = { "cache_write_ratio", "cache_write_1h_ratio", "audio_ratio",
                                       "audio_completion_ratio" };
      for (int k = 0; k < 4; k++) {
        char set[48];
        snprintf(set, sizeof set, "%s_set", w[k]);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, set)))
          cJSON_AddNumberToObject(e, w[k], cJSON_GetNumberValue(
                                               cJSON_GetObjectItemCaseSensitive(row, w[k])));
      }
    }
    const cJSON *max_out = cJSON_GetObjectItemCaseSensitive(row, "max_output_tokens");
    if (cJSON_IsNumber(max_out))
      cJSON_AddNumberToObject(e, "max_output_tokens", max_out->valuedouble);
    const cJSON *tier = cJSON_GetObjectItemCaseSensitive(row, "tier");
    if (cJSON_IsObject(tier)) {
      char t[200];
      tier_text(tier, t, sizeof t);
      cJSON_AddStringToObject(e, "tier", t);
    }
    cJSON_AddItemToObject(all, model, e);
  }
  char *s = g->json ? cJSON_PrintUnformatted(all) : cJSON_Print(all);
  if (s)
    printf("%s\n", s);
  else
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_free(s);
  cJSON_Delete(all);
  cJSON_Delete(rows);
  return rc;
}
