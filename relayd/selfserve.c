/* selfserve: see selfserve.h. */
#include "selfserve.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "reasoning.h"
#include "request.h"
#include "respond.h"
#include "tokenizer.h"

/* ---------------------------------------------------------------- models */

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is model served under the key: a route in its group, allowed by its model list, and priced
 * (admit.c refuses an unpriced one); a reasoning-suffixed name counts by its base as admit.c does. */
static bool servable(const struct request *r, const char *model)
{
  const struct snapshot *s = r->snap;
  char base[MODEL_NAME_MAX] = "";
  struct reasoning rs;
  if (reasoning_parse(model, &rs) && rs.base_len < sizeof base) {
    memcpy(base, model, rs.base_len);
    base[rs.base_len] = '\0';
  }
  bool routed = snapshot_route(s, r->token->group, model) || (base[0] && snapshot_route(s, r->token->group, base));
  bool allowed = token_allows_model(r->token, model) || (base[0] && token_allows_model(r->token, base));
  bool priced = snapshot_price(s, model) || (base[0] && snapshot_price(s, base));
  return routed && allowed && priced;
}

/* The models the key will be served (servable), sorted. */
static size_t usable_models(struct request *r, const char ***out)
{
  const struct snapshot *s = r->snap;
  const char **list = malloc((s->routes.count + 1) * sizeof *list);   /* owned by the caller */
  size_t n = 0;
  if (!list)
    return 0;
  for (size_t i = 0; i < s->routes.nslots; i++) {
    void *v;
    if (!strmap_slot(&s->routes, i, &v))
      continue;
    const struct route *rt = v;
    if (strcmp(rt->group, r->token->group) == 0 && servable(r, rt->model))
      list[n++] = rt->model;
  }
  qsort(list, n, sizeof *list, cmp_str);
  *out = list;
  return n;
}

enum MHD_Result serve_models(struct request *r, const char *url)
{
  const struct format *f = r->client;
  const char **list = NULL;
  size_t n = usable_models(r, &list);
  struct buf b;
  buf_init(&b, (size_t)1 << 26);
  enum MHD_Result ret;
  if (r->def->ep == EP_MODELS) {
    buf_append_str(&b, f->models_head);
    for (size_t i = 0; i < n; i++) {
      if (i)
        buf_append_str(&b, ",");
      f->ops->model_entry(&b, list[i]);
    }
    buf_append_str(&b, f->models_tail);
    ret = queue_now(r, 200, json_response(r, &b));
  } else {
    const char *id = url + strlen(r->def->path);
    if (f->model_prefix && strncmp(id, f->model_prefix, strlen(f->model_prefix)) == 0)
      id += strlen(f->model_prefix);
    const char **hit = bsearch(&id, list, n, sizeof *list, cmp_str);
    if (hit) {
      f->ops->model_entry(&b, *hit);
      ret = queue_now(r, 200, json_response(r, &b));
    } else {
      ret = fail_now(r, 404, "invalid_request_error", "model_not_found", "model",
                     "The model '%.200s' does not exist or you do not have access to it.", id);
    }
  }
  buf_free(&b);
  free(list);
  return ret;
}

/* ---------------------------------------------------------------- token counts */

int serve_path_model(const char *url, const char *prefix, char *model, size_t modellen)
{
  const char *p = url + strlen(prefix);
  size_t n = strcspn(p, ":?");
  if (n == 0 || n >= modellen || p[n] != ':')
    return -1;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] <= 0x20 || p[i] == '/' || p[i] == 0x7f)
      return -1;
  memcpy(model, p, n);
  model[n] = '\0';
  return 0;
}

enum MHD_Result serve_count_tokens(struct request *r)
{
  char err[300];
  cJSON *root = format_parse_object(r->body.data, r->body.len, err, sizeof err);   /* owned here */
  if (!root)
    return fail_now(r, 400, "invalid_request_error", NULL, NULL, "%s", err);
  const char *model = r->path_model;
  if (!model[0]) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(m) || !m->valuestring[0] || strlen(m->valuestring) >= MODEL_NAME_MAX) {
      cJSON_Delete(root);
      return fail_now(r, 400, "invalid_request_error", NULL, "model", "model: a model name is required.");
    }
    copy_str(r->rq.model, sizeof r->rq.model, m->valuestring);
  } else {
    copy_str(r->rq.model, sizeof r->rq.model, model);
  }
  model = r->rq.model;
  if (!servable(r, model)) {
    cJSON_Delete(root);
    return fail_now(r, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%.200s' does not exist or you do not have access to it.", model);
  }
  /* Gemini's countTokens takes contents, or a whole generateContentRequest */
  const cJSON *gcr = cJSON_GetObjectItemCaseSensitive(root, "generateContentRequest");
  char *text = cJSON_IsObject(gcr) ? cJSON_PrintUnformatted(gcr) : NULL;   /* owned here */
  const struct tokenizer *t = tokenizer_for_model(model);
  int64_t n = text ? tokenizer_count_request(t, text, strlen(text))
                   : tokenizer_count_request(t, r->body.data, r->body.len);
  free(text);
  cJSON_Delete(root);
  if (n < 0)
    return fail_now(r, 400, "invalid_request_error", NULL, NULL, "The request body must be a JSON object.");
  struct buf b;
  buf_init(&b, 4096);
  buf_appendf(&b, "{\"%s\":%lld}", r->client->count_tokens_key, (long long)n);
  struct MHD_Response *resp = json_response(r, &b);
  MHD_add_response_header(resp, "x-relay-counter", t ? tokenizer_name(t) : "chars/4");
  return queue_now(r, 200, resp);
}

/* ---------------------------------------------------------------- balance */

/* GET /dashboard/billing/subscription and /usage (also under /v1), as One API answers them: with
 * display_token_stat the key's own quota (remaining + used), else its user's; in USD with
 * display_in_currency (500000 quota = 1 USD), else in quota units. An unlimited key's limits are
 * 100000000. access_until is the key's expiry (0 = never, and always 0 for user figures).
 * usage.total_usage is in hundredths (cents when in USD). Figures include charges not yet
 * written to the database. */
/* The shortest decimal that reads back as v (how Go's encoding/json writes float64). */
static void fmt_number(char *out, size_t n, double v)
{
  if (v > -1e18 && v < 1e18 && v == (double)(int64_t)v) {
    snprintf(out, n, "%lld", (long long)v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

enum MHD_Result serve_billing(struct request *r)
{
  const struct snap_token *t = r->token;
  const struct snap_options *o = &r->snap->opt;
  int64_t remain, used, access_until = 0;
  if (o->display_token_stat) {
    remain = atomic_load(&t->bal->avail);
    /* an unlimited key's remaining quota does not move: its use is counted apart */
    used = t->unlimited ? t->used_at_load + atomic_load(&t->bal->spent) - t->spent_at_load : t->quota_total - remain;
    access_until = t->expired_time > 0 ? t->expired_time : 0;
  } else {
    remain = atomic_load(&t->user->bal->avail);
    used = t->user->quota_total - remain;
  }
  if (used < 0)
    used = 0;
  double scale = o->display_in_currency ? (double)QUOTA_PER_USD : 1.0;
  struct buf b;
  buf_init(&b, 4096);
  if (r->def->ep == EP_BILLING_SUBSCRIPTION) {
    double amount = (double)(remain + used) / scale;
    if (o->display_token_stat && t->unlimited)
      amount = 100000000;
    char a[40];
    fmt_number(a, sizeof a, amount);
    buf_appendf(&b, "{\"object\":\"billing_subscription\",\"has_payment_method\":true,"
                "\"soft_limit_usd\":%s,\"hard_limit_usd\":%s,\"system_hard_limit_usd\":%s,"
                "\"access_until\":%lld}", a, a, a, (long long)access_until);
  } else {
    char u[40];
    fmt_number(u, sizeof u, (double)used / scale * 100.0);
    buf_appendf(&b, "{\"object\":\"list\",\"total_usage\":%s}", u);
  }
  return queue_now(r, 200, json_response(r, &b));
}
