/* reasoning: see reasoning.h. */
#include "reasoning.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static bool ends_with(const char *s, size_t n, const char *suffix, size_t *base)
{
  size_t k = strlen(suffix);
  if (n <= k || memcmp(s + n - k, suffix, k) != 0)
    return false;
  *base = n - k;
  return true;
}

bool reasoning_parse(const char *model, struct reasoning *rs)
{
  size_t n = model ? strlen(model) : 0, base;
  *rs = (struct reasoning){.kind = RS_NONE, .budget = -1, .base_len = n};
  if (!n)
    return false;
  static const char *const efforts[] = {"low", "medium", "high"};
  static const char *const suffixes[] = {"-low", "-medium", "-high"};
  for (size_t i = 0; i < 3; i++)
    if (ends_with(model, n, suffixes[i], &base)) {
      *rs = (struct reasoning){.kind = RS_EFFORT, .effort = efforts[i], .budget = -1, .base_len = base};
      return true;
    }
  if (ends_with(model, n, "-nothinking", &base)) {
    *rs = (struct reasoning){.kind = RS_NOTHINKING, .budget = -1, .base_len = base};
    return true;
  }
  if (ends_with(model, n, "-thinking", &base)) {
    *rs = (struct reasoning){.kind = RS_THINKING, .budget = -1, .base_len = base};
    return true;
  }
  /* -thinking-N: N decimal digits, no sign, within bounds */
  const char *dash = strrchr(model, '-');
  static const char mark[] = "-thinking";
  const size_t ml = sizeof mark - 1;
  if (dash && dash[1] && (size_t)(dash - model) > ml && memcmp(dash - ml, mark, ml) == 0) {
    int64_t v = 0;
    const char *p = dash + 1;
    for (; *p >= '0' && *p <= '9'; p++) {
      v = v * 10 + (*p - '0');
      if (v > REASONING_MAX_BUDGET)
        return false;
    }
    if (*p || (size_t)(dash - model) == ml)
      return false;
    *rs = (struct reasoning){.kind = RS_THINKING, .budget = v, .base_len = (size_t)(dash - model) - ml};
    return true;
  }
  return false;
}

bool reasoning_applies(const struct reasoning *rs, enum reasoning_format fmt)
{
  if (rs->kind == RS_NONE)
    return false;
  return fmt != RS_FMT_OPENAI || rs->kind == RS_EFFORT;
}

static void set_item(cJSON *o, const char *name, cJSON *v)
{
  if (cJSON_GetObjectItemCaseSensitive(o, name))
    cJSON_ReplaceItemInObjectCaseSensitive(o, name, v);
  else
    cJSON_AddItemToObject(o, name, v);
}

/* o[name] as a positive whole number, or 0. */
static int64_t count(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e12)
    return 0;
  return (int64_t)v->valuedouble;
}

static double effort_share(const char *effort)
{
  return !strcmp(effort, "low") ? 0.2 : !strcmp(effort, "medium") ? 0.5 : 0.8;
}

static void apply_openai(cJSON *req, const struct reasoning *rs)
{
  set_item(req, "reasoning_effort", cJSON_CreateString(rs->effort));
  cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
  if (mt && !cJSON_GetObjectItemCaseSensitive(req, "max_completion_tokens")) {
    cJSON *moved = cJSON_DetachItemViaPointer(req, mt);
    cJSON_AddItemToObject(req, "max_completion_tokens", moved);
  } else if (mt) {
    cJSON_DeleteItemFromObjectCaseSensitive(req, "max_tokens");
  }
}

static void apply_claude(cJSON *req, const struct reasoning *rs)
{
  cJSON *thinking = cJSON_CreateObject();
  if (rs->kind == RS_NOTHINKING) {
    cJSON_AddStringToObject(thinking, "type", "disabled");
    set_item(req, "thinking", thinking);
    return;
  }
  int64_t max_tokens = count(req, "max_tokens");
  if (max_tokens < 1280)   /* room for the smallest budget and an answer */
    max_tokens = 1280;
  double share = rs->kind == RS_EFFORT ? effort_share(rs->effort) : 0.8;
  int64_t budget = rs->kind == RS_THINKING && rs->budget >= 0 ? rs->budget
                                                              : (int64_t)floor((double)max_tokens * share);
  if (budget < REASONING_MIN_CLAUDE_BUDGET)
    budget = REASONING_MIN_CLAUDE_BUDGET;
  if (max_tokens <= budget)  /* budget_tokens must stay below max_tokens */
    max_tokens = budget + REASONING_MIN_CLAUDE_BUDGET;
  set_item(req, "max_tokens", cJSON_CreateNumber((double)max_tokens));
  cJSON_AddStringToObject(thinking, "type", "enabled");
  cJSON_AddNumberToObject(thinking, "budget_tokens", (double)budget);
  set_item(req, "thinking", thinking);
  /* extended thinking accepts neither a temperature other than 1 nor top_p / top_k */
  cJSON_DeleteItemFromObjectCaseSensitive(req, "temperature");
  cJSON_DeleteItemFromObjectCaseSensitive(req, "top_p");
  cJSON_DeleteItemFromObjectCaseSensitive(req, "top_k");
}

bool reasoning_gemini_levels(const char *model)
{
  if (!model)
    return false;
  const char *m = strncmp(model, "models/", 7) == 0 ? model + 7 : model;
  if (strncmp(m, "gemini-", 7) != 0)
    return false;
  /* gemini-3-pro-preview, gemini-3.5-flash, gemini-10-...: a major version of 3 or more */
  long major = 0;
  const char *p = m + 7;
  if (*p < '0' || *p > '9')
    return false;
  for (; *p >= '0' && *p <= '9' && major < 1000; p++)
    major = major * 10 + (*p - '0');
  return major >= 3;
}

static int64_t gemini_effort_budget(const char *effort)
{
  return !strcmp(effort, "low") ? 1024 : !strcmp(effort, "medium") ? 8192 : 24576;
}

static void apply_gemini(cJSON *req, const struct reasoning *rs, const char *model)
{
  bool levels = reasoning_gemini_levels(model);
  cJSON *gc = cJSON_GetObjectItemCaseSensitive(req, "generationConfig");
  if (!gc)
    gc = cJSON_GetObjectItemCaseSensitive(req, "generation_config");
  if (!cJSON_IsObject(gc)) {
    cJSON_DeleteItemFromObjectCaseSensitive(req, "generationConfig");
    gc = cJSON_AddObjectToObject(req, "generationConfig");
  }
  cJSON_DeleteItemFromObjectCaseSensitive(gc, "thinking_config");
  cJSON *tc = cJSON_CreateObject();
  if (rs->kind == RS_NOTHINKING) {
    if (levels)
      cJSON_AddStringToObject(tc, "thinkingLevel", "low");
    else
      cJSON_AddNumberToObject(tc, "thinkingBudget", 0);
  } else if (rs->kind == RS_EFFORT) {
    cJSON_AddTrueToObject(tc, "includeThoughts");
    if (levels)
      cJSON_AddStringToObject(tc, "thinkingLevel", !strcmp(rs->effort, "low") ? "low" : "high");
    else
      cJSON_AddNumberToObject(tc, "thinkingBudget", (double)gemini_effort_budget(rs->effort));
  } else {
    cJSON_AddTrueToObject(tc, "includeThoughts");
    int64_t max_out = count(gc, "maxOutputTokens");
    if (!max_out)
      max_out = count(gc, "max_output_tokens");
    if (rs->budget >= 0)
      cJSON_AddNumberToObject(tc, "thinkingBudget", (double)rs->budget);
    else if (max_out)
      cJSON_AddNumberToObject(tc, "thinkingBudget", floor((double)max_out * 0.6));
  }
  set_item(gc, "thinkingConfig", tc);
}

void reasoning_apply_model(cJSON *req, enum reasoning_format fmt, const struct reasoning *rs,
                           const char *model)
{
  if (!cJSON_IsObject(req) || !reasoning_applies(rs, fmt))
    return;
  if (fmt == RS_FMT_OPENAI)
    apply_openai(req, rs);
  else if (fmt == RS_FMT_CLAUDE)
    apply_claude(req, rs);
  else
    apply_gemini(req, rs, model);
}

void reasoning_apply(cJSON *req, enum reasoning_format fmt, const struct reasoning *rs)
{
  reasoning_apply_model(req, fmt, rs, NULL);
}

bool reasoning_from_effort(const char *effort, struct reasoning *rs)
{
  *rs = (struct reasoning){.kind = RS_NONE, .budget = -1};
  if (!effort)
    return false;
  static const struct {
    const char *name, *effort;
  } names[] = {{"minimal", "low"}, {"low", "low"},   {"medium", "medium"}, {"high", "high"},
               {"xhigh", "high"},  {"max", "high"},  {"none", NULL}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcasecmp(effort, names[i].name)) {
      rs->kind = names[i].effort ? RS_EFFORT : RS_NOTHINKING;
      rs->effort = names[i].effort;
      return true;
    }
  return false;
}

bool reasoning_from_request(const cJSON *oai_req, struct reasoning *rs)
{
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(oai_req, "reasoning_effort");
  return reasoning_from_effort(cJSON_IsString(e) ? e->valuestring : NULL, rs);
}

const char *reasoning_effort_of_budget(int64_t budget)
{
  if (budget == 0)
    return "none";
  if (budget < 0)
    return "medium";
  return budget <= 1024 ? "low" : budget <= 8192 ? "medium" : "high";
}
