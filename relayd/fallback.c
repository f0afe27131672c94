/* fallback: see fallback.h. */
#include "fallback.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "billing.h"
#include "log.h"
#include "request.h"
#include "route.h"

/* The chain of r's requested model: its token's, else its group's, else the model's own. */
static const struct fallback_chain *chain_of(const struct request *r)
{
  if (!r->snap->nfallbacks)
    return NULL;                       /* none configured: one load of a count */
  char key[400];
  const struct fallback_chain *f;
  snprintf(key, sizeof key, "token\x1f%lld\x1f%s", (long long)r->token->id, r->rq.model);
  if ((f = strmap_get(&r->snap->fallbacks, key)) != NULL)
    return f;
  snprintf(key, sizeof key, "group\x1f%s\x1f%s", r->token->group, r->rq.model);
  if ((f = strmap_get(&r->snap->fallbacks, key)) != NULL)
    return f;
  snprintf(key, sizeof key, "model\x1f\x1f%s", r->rq.model);
  return strmap_get(&r->snap->fallbacks, key);
}

/* The output bound admit.c reserves for a model: max_tokens, else the price's max_output_tokens,
 * else the option default_max_output_tokens (embeddings: none). */
static int64_t out_bound(const struct request *r, const struct price *p)
{
  if (r->def->api == API_EMBEDDINGS)
    return 0;
  return r->rq.max_tokens >= 0 ? r->rq.max_tokens : p->max_output_tokens > 0 ? p->max_output_tokens
                                                                              : r->snap->opt.default_max_output;
}

int64_t fallback_bound(const struct request *r, int64_t reserved, int64_t choices)
{
  const struct fallback_chain *f = r->def->media ? NULL : chain_of(r);
  for (size_t i = 0; f && i < f->n; i++) {
    const struct price *p = snapshot_price(r->snap, f->models[i]);
    if (!p)
      continue;
    int64_t b = billing_bound(p, r->group_ratio, r->rq.input_bound, out_bound(r, p) * choices);
    if (b > reserved)
      reserved = b;
  }
  return reserved;
}

static bool has_word(const char *s, const char *const *words)
{
  for (; s && *words; words++)
    if (strcasestr(s, *words))
      return true;
  return false;
}

/* A client error (4xx) the chain covers: the upstream's error parsed, its code, type, status and
 * message read (OpenAI {"error":{"code","type","message"}}, Anthropic {"error":{"type","message"}},
 * Gemini {"error":{"status","message"}}). */
static bool covered_refusal(const struct request *r, const struct fallback_chain *f)
{
  static const char *const context[] = {"context_length", "context length", "context window",
                                        "maximum context", "prompt is too long", "too many tokens",
                                        "input token count", NULL};
  static const char *const policy[] = {"content_policy", "content policy", "content_filter",
                                       "content management policy", "safety", NULL};
  cJSON *j = cJSON_ParseWithLength(r->errbody.data ? r->errbody.data : "", r->errbody.len);  /* owned here */
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  const char *fields[] = {"code", "type", "status", "message"};
  bool hit = false;
  for (size_t i = 0; !hit && cJSON_IsObject(e) && i < sizeof fields / sizeof fields[0]; i++) {
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, fields[i]));
    hit = (f->on_context && has_word(v, context)) || (f->on_policy && has_word(v, policy));
  }
  cJSON_Delete(j);
  return hit;
}

/* The failures a chain is walked on: the upstream's (as attempt.c retries them), timeouts, and the
 * refusals the chain names. Not relay's own cuts or refusals, nor a client that left. */
static bool covered(const struct request *r, CURLcode res, const struct fallback_chain *f)
{
  if (r->fault || r->refused)
    return false;
  if (r->timeout_kind)
    return true;
  if (res != CURLE_OK)
    return res != CURLE_WRITE_ERROR;
  long s = r->up_status;
  if (s == 429 || s >= 500 || s == 401 || s == 402 || s == 403 || r->attempt_outcome == OUTCOME_ACCOUNT)
    return true;
  return s >= 400 && (f->on_context || f->on_policy) && covered_refusal(r, f);
}

/* The next model of f with a channel free: r switched to it (route_model, price, fb_base) and the
 * channel returned with its slot held; or NULL with r as it was. why: for the log line. */
static const struct snap_channel *walk(struct request *r, const struct fallback_chain *f, const char *why)
{
  char was_model[MODEL_NAME_MAX];
  const struct price *was_price = r->price;
  int was_base = r->fb_base;
  copy_str(was_model, sizeof was_model, r->route_model);
  while (r->fb_next < (int)f->n && r->attempts < MAX_ATTEMPTS) {
    const char *m = f->models[r->fb_next++];
    const struct price *p = snapshot_price(r->snap, m);
    if (!p || strlen(m) >= sizeof r->route_model || strcmp(m, r->route_model) == 0 ||
        strcmp(m, r->rq.model) == 0 || !token_allows_model(r->token, m))
      continue;
    copy_str(r->route_model, sizeof r->route_model, m);
    r->fb_base = r->attempts;          /* a channel tried for the earlier model may serve this one */
    struct choice_miss miss;
    const struct snap_channel *ch = choose_channel(r, &miss);
    if (!ch)
      continue;
    r->price = p;                      /* billed at the model served: the reservation covers it */
    r->fb_used = true;
    log_msg(LOG_INFO, "model fallback", "request_id=%s failed_model=\"%s\" why=\"%s\" status=%ld next_model=\"%s\" "
            "next_channel=%lld", r->request_id, was_model, why, r->up_status, m, (long long)ch->id);
    return ch;
  }
  copy_str(r->route_model, sizeof r->route_model, was_model);   /* the failure is told as it was */
  r->price = was_price;
  r->fb_base = was_base;
  return NULL;
}

const struct snap_channel *fallback_next(struct request *r, CURLcode res)
{
  if (r->committed || r->pin_channel || r->def->media || worker_stopping(r->w))
    return NULL;
  const struct fallback_chain *f = chain_of(r);
  if (!f || !covered(r, res, f))
    return NULL;
  return walk(r, f, res != CURLE_OK ? curl_easy_strerror(res) : r->timeout_kind ? "timeout" : "upstream error");
}

const struct snap_channel *fallback_first(struct request *r)
{
  const struct fallback_chain *f = r->pin_channel || r->def->media ? NULL : chain_of(r);
  return f ? walk(r, f, "no channel can take it") : NULL;
}

void fallback_names(const struct request *r, const char **requested, const char **served)
{
  *requested = r->fb_used ? r->rq.model : NULL;
  *served = r->fb_used ? r->route_model : NULL;
}
