/* selfserve: see selfserve.h. */
#include "selfserve.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "format.h"
#include "formats.h"
#include "health.h"
#include "keypool.h"
#include "log.h"
#include "reasoning.h"
#include "request.h"
#include "reqview.h"
#include "respond.h"
#include "route.h"
#include "stats.h"
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

/* relay's own count of the request body: the model family's BPE or characters/4, named in
 * x-relay-counter, and x-relay-token-count: local. *status: 200, or 400 for a body with nothing
 * countable. */
static struct MHD_Response *local_count(struct request *r, unsigned *status)
{
  /* Gemini's countTokens takes contents, or a whole generateContentRequest */
  cJSON *root = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);   /* owned here */
  const cJSON *gcr = cJSON_GetObjectItemCaseSensitive(root, "generateContentRequest");
  char *text = cJSON_IsObject(gcr) ? cJSON_PrintUnformatted(gcr) : NULL;   /* owned here */
  cJSON_Delete(root);
  const struct tokenizer *t = tokenizer_for_model(r->rq.model);
  int64_t n = text ? tokenizer_count_request(t, text, strlen(text))
                   : tokenizer_count_request(t, r->body.data, r->body.len);
  free(text);
  if (n < 0) {
    *status = 400;
    return error_response(r, 400, "invalid_request_error", NULL, NULL, "The request body must be a JSON object.");
  }
  struct buf b;
  buf_init(&b, 4096);
  buf_appendf(&b, "{\"%s\":%lld}", r->client->count_tokens_key, (long long)n);
  struct MHD_Response *resp = json_response(r, &b);
  MHD_add_response_header(resp, "x-relay-counter", t ? tokenizer_name(t) : "chars/4");
  MHD_add_response_header(resp, "x-relay-token-count", "local");
  *status = 200;
  return resp;
}

/* The largest count answer read from a channel (Google's carries per-modality details). */
#define COUNT_ANSWER_MAX (64 * 1024)

static size_t count_data(char *p, size_t size, size_t n, void *ud)
{
  struct request *r = ud;
  size_t len = size * n;
  r->up_last_us = now_us_mono();
  if (r->resp.len + len > COUNT_ANSWER_MAX || buf_append(&r->resp, p, len) < 0)
    return 0;    /* aborts the transfer: relay counts instead */
  return len;
}

/* The body for the channel: the client's, with the model renamed when the channel calls it
 * otherwise (Anthropic's "model"; Gemini's generateContentRequest.model "models/M"). Sets
 * r->up_body (owned by r) or leaves it NULL for the client's bytes. -1: out of memory. */
static int count_body(struct request *r, cJSON *root)
{
  bool gemini = r->client == &format_gemini;
  cJSON *holder = gemini ? cJSON_GetObjectItemCaseSensitive(root, "generateContentRequest") : root;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(holder, "model");
  if (!cJSON_IsString(m))
    return 0;
  char want[MODEL_NAME_MAX + 8];
  snprintf(want, sizeof want, "%s%s", gemini ? "models/" : "", r->upstream_model);
  if (strcmp(m->valuestring, want) == 0)
    return 0;
  cJSON_ReplaceItemInObjectCaseSensitive(holder, "model", cJSON_CreateString(want));
  if (!(r->up_body = cJSON_PrintUnformatted(root)))
    return -1;
  r->up_len = strlen(r->up_body);
  return 0;
}

/* Asks the channel that serves the model to count, when it speaks the client's own format
 * (Anthropic's POST /v1/messages/count_tokens, Gemini's models/M:countTokens): the client's body
 * with the channel's key and headers (and the client's anthropic-beta), on the worker's curl multi,
 * the connection suspended; count_tokens_done answers. false (no slot held): relay counts itself
 * -- no such channel, a converted path, or the call could not be made. */
static bool count_upstream(struct request *r, cJSON *root)
{
  const struct snapshot *s = r->snap;
  /* the route name, as dispatch finds it: a suffixed name without a route of its own is its base's */
  copy_str(r->route_model, sizeof r->route_model, r->rq.model);
  if (reasoning_parse(r->rq.model, &r->rs) && r->rs.base_len < sizeof r->route_model &&
      !snapshot_route(s, r->token->group, r->rq.model)) {
    char base[MODEL_NAME_MAX];
    memcpy(base, r->rq.model, r->rs.base_len);
    base[r->rs.base_len] = '\0';
    if (snapshot_route(s, r->token->group, base))
      copy_str(r->route_model, sizeof r->route_model, base);
  }
  struct choice_miss miss;
  const struct snap_channel *ch = choose_channel(r, &miss);
  if (!ch)
    return false;
  if (format_of_api(ch->api) != r->client || ch->status != STATUS_ENABLED ||
      atomic_load(&ch->health->auto_disabled) != HEALTH_ENABLED) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return false;
  }
  r->channel = ch;
  r->upstream = r->client;
  r->tried[r->attempts++] = ch->id;
  r->pkey = route_pick_key(r, ch);        /* a pooled channel: one of its keys (keypool.h) */
  r->up_key = r->pkey ? r->pkey->key : ch->key;
  const struct curl_slist *chh = r->pkey ? r->pkey->headers : ch->headers;
  const char *mapped = strmap_get(&ch->model_map, r->route_model);
  copy_str(r->upstream_model, sizeof r->upstream_model, mapped ? mapped : r->route_model);
  if (reasoning_applies(&r->rs, r->upstream->reasoning)) {   /* the suffix never reaches the channel */
    const char *suffix = r->rq.model + r->rs.base_len;
    size_t ul = strlen(r->upstream_model), sl = strlen(suffix);
    if (ul > sl && strcmp(r->upstream_model + ul - sl, suffix) == 0)
      r->upstream_model[ul - sl] = '\0';
  }
  char path[FORMAT_PATH_MAX], url[2048], err[256];
  if (r->client == &format_gemini) {
    if (format_gemini_method_path(path, sizeof path, r->upstream_model, "countTokens") < 0)
      goto local;
  } else {
    copy_str(path, sizeof path, r->def->path);
  }
  if (channel_url(ch, path, r->upstream_model, url, sizeof url, err, sizeof err) < 0 || count_body(r, root) < 0)
    goto local;
  curl_slist_free_all(r->up_headers);
  r->up_headers = pass_headers(chh, r->conn, r->client->pass_headers);
  buf_reset(&r->resp);
  r->rq.stream = false;
  r->status_known = false;
  r->up_status = 0;
  r->timeout_kind = NULL;
  r->up_t0_us = r->t_upstream_us = r->attempt_t0_us = now_us_mono();
  r->up_last_us = 0;
  CURL *e = worker_easy_get(r->w);
  if (!e)
    goto local;
  r->easy = e;
  stats_channel_busy(worker_stats(r->w), ch->id, +1);
  const struct config *cfg = worker_cfg(r->w);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->up_body ? r->up_body : r->body.data);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->up_body ? r->up_len : r->body.len));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->up_headers ? r->up_headers : chh);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity");
  /* a count is one small answer: its first byte is all of it (relay_tick's total limit stays too) */
  if (cfg->first_byte_timeout_s > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->first_byte_timeout_s * 1000L);
  r->phase = PH_UPSTREAM;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  CURLMcode mc = curl_multi_add_handle(worker_multi(r->w), e);
  if (mc != CURLM_OK) {
    log_msg(LOG_ERR, "curl_multi_add_handle failed", "error=\"%s\"", curl_multi_strerror(mc));
    count_tokens_done(r, CURLE_FAILED_INIT);
  }
  return true;
local:
  release_channel(r, OUTCOME_ABANDON, NULL);
  return false;
}

void count_tokens_done(struct request *r, CURLcode res)
{
  long status = 0;
  if (r->easy)
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  long long chan = r->channel ? (long long)r->channel->id : 0LL;
  if (r->resp.data && r->channel)   /* an answer that quotes the channel's key never passes on */
    r->resp.len = health_redact(r->resp.data, r->resp.len, r->up_key);
  detach_upstream(r);   /* the slot back with no outcome: a refused count is never the channel's failure */
  cJSON *j = res == CURLE_OK && status >= 200 && status < 300 && r->resp.data
                 ? cJSON_ParseWithLength(r->resp.data, r->resp.len) : NULL;   /* owned here */
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, r->client->count_tokens_key);
  struct MHD_Response *resp;
  unsigned st = 200;
  if (cJSON_IsObject(j) && cJSON_IsNumber(n) && n->valuedouble >= 0) {
    /* the channel's own answer, in the client's own shape (the same format), as it came */
    struct buf b;
    buf_init(&b, COUNT_ANSWER_MAX + 1);
    buf_append(&b, r->resp.data, r->resp.len);
    resp = json_response(r, &b);
    MHD_add_response_header(resp, "x-relay-token-count", "upstream");
  } else {
    log_msg(LOG_INFO, "the channel did not count the tokens: relay counted them",
            "request_id=%s channel=%lld status=%ld curl=%d", r->request_id, chan, status, (int)res);
    resp = local_count(r, &st);
  }
  cJSON_Delete(j);
  buf_reset(&r->resp);
  respond_later(r, st, resp);
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
  bool asked = count_upstream(r, root);
  cJSON_Delete(root);
  if (asked)
    return MHD_YES;
  unsigned st;
  struct MHD_Response *resp = local_count(r, &st);
  return queue_now(r, st, resp);
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
