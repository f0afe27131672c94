/* admit: see admit.h. */
#include "admit.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "attempt.h"
#include "fallback.h"
#include "billing.h"
#include "ledger.h"
#include "limitwait.h"
#include "mediareq.h"
#include "reqchunk.h"
#include "request.h"
#include "reqbound.h"
#include "reqview.h"
#include "respcache.h"
#include "respond.h"
#include "route.h"
#include "settle.h"
#include "stats.h"
#include "writer.h"

/* Tells the writer that r holds a reservation (it becomes durable within a batch unless r settles
 * in the same batch; see writer.h). */
static void note_reservation(struct request *r)
{
  const struct snap_token *t = r->token;
  struct log_record rec;
  memset(&rec, 0, sizeof rec);
  rec.reservation = true;
  copy_str(rec.request_id, sizeof rec.request_id, r->request_id);
  rec.created_at = now_unix();
  rec.user_id = t->user->id;
  copy_str(rec.username, sizeof rec.username, t->user->username);
  rec.token_id = t->id;
  copy_str(rec.token_name, sizeof rec.token_name, t->name);
  copy_str(rec.model, sizeof rec.model, r->rq.model);
  copy_str(rec.group, sizeof rec.group, t->group);
  rec.is_stream = r->rq.stream;
  rec.quota = r->reserved;
  rec.token_bal = t->unlimited ? NULL : t->bal;     /* only read as "limited"; never moved */
  writer_submit(&rec);
}

/* 429 for a rate limit, in the client's API shape, with retry-after and the x-ratelimit-* headers
 * of the limit that refused. */
static enum MHD_Result refuse_rate_limited(struct request *r, const struct limit_refusal *why)
{
  const char *kind = why->kind == LIMIT_REQUESTS ? "requests" : "tokens";
  const char *who = why->scope == LIMIT_TOKEN ? "API key" : "user";
  char msg[600], onmodel[200] = "", wait[32];
  stats_ratelimit_rejected(worker_stats(r->w), why->scope == LIMIT_TOKEN ? "token" : "user");
  if (why->model[0])
    snprintf(onmodel, sizeof onmodel, " on model '%.120s'", why->model);
  int64_t window = r->snap->opt.rate_limit_window_s;
  struct MHD_Response *resp;
  r->lim.req.set = r->lim.tok.set = false;     /* the refusing limit's headers only */
  if (why->retry_after_ms < 0) {
    snprintf(msg, sizeof msg, "Request too large: it may use %lld tokens, more than this %s's limit of %lld "
             "tokens per %lld s%s. Lower max_tokens or shorten the prompt.", (long long)r->lim.tokens, who,
             (long long)why->limit, (long long)window, onmodel);
    resp = error_response(r, 429, kind, "rate_limit_exceeded", NULL, msg);
    MHD_add_response_header(resp, "x-should-retry", "false");
  } else {
    limits_format_duration(why->retry_after_ms, wait, sizeof wait);
    snprintf(msg, sizeof msg, "Rate limit reached for %s: this %s may make %lld %s per %lld s%s. "
             "Please try again in %s.", kind, who, (long long)why->limit, kind, (long long)window, onmodel, wait);
    resp = error_response(r, 429, kind, "rate_limit_exceeded", NULL, msg);
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)((why->retry_after_ms + 999) / 1000));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    snprintf(v, sizeof v, "%lld", (long long)why->retry_after_ms);
    MHD_add_response_header(resp, "retry-after-ms", v);
  }
  struct limit_view v = {.set = true, .limit = why->limit, .remaining = 0,
                         .reset_ms = why->retry_after_ms < 0 ? 0 : why->retry_after_ms};
  add_limit_headers(resp, &v, kind);
  return queue_now(r, 429, resp);
}

/* Does a channel that is not enabled list model? (only on the refusal path: a linear scan) */
/* Every channel that could serve r is at its rpm / tpm / concurrency limit, or its keys are: 429
 * with Retry-After (the soonest one has room), in the client's format. */
static enum MHD_Result refuse_channels_limited(struct request *r, const struct choice_miss *miss)
{
  char msg[400], wait[32], v[32];
  int64_t ms = miss->limited_ms > 0 ? miss->limited_ms : 1000;
  if (limitwait_begin(r, ms))     /* the operator's queue: wait for room (limitwait.h) */
    return MHD_YES;
  limits_format_duration(ms, wait, sizeof wait);
  snprintf(msg, sizeof msg, "Every channel that serves the model '%.120s' is at its request, token or "
           "concurrency limit (%d skipped). Please try again in %s.", r->rq.model, miss->limited, wait);
  struct MHD_Response *resp = error_response(r, 429, "requests", "channel_limit_reached", NULL, msg);
  snprintf(v, sizeof v, "%lld", (long long)((ms + 999) / 1000));
  MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
  snprintf(v, sizeof v, "%lld", (long long)ms);
  MHD_add_response_header(resp, "retry-after-ms", v);
  return queue_now(r, 429, resp);
}

static bool on_a_disabled_channel(const struct snapshot *s, const char *model)
{
  for (size_t i = 0; i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    if (c->status == STATUS_ENABLED)
      continue;
    for (size_t m = 0; m < c->nmodels; m++)
      if (strcmp(c->models[m], model) == 0)
        return true;
  }
  return false;
}

static enum MHD_Result admit_route(struct request *r, const char *base_model);

enum MHD_Result admit_retry(struct request *r)
{
  char base_model[MODEL_NAME_MAX] = "";
  struct reasoning rs;
  if (reasoning_parse(r->rq.model, &rs)) {
    memcpy(base_model, r->rq.model, rs.base_len);
    base_model[rs.base_len] = '\0';
  }
  return admit_route(r, base_model);
}

enum MHD_Result dispatch(struct request *r)
{
  char err[512];
  const char *param;
  if (r->def->media) {
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    int st = media_parse_request(r->conn, r->def->media, ct, r->body.data, r->body.len, &r->root, &r->rq, &r->mq,
                                 err, sizeof err, &param);
    if (st)
      return fail_now(r, (unsigned)st, "invalid_request_error", st == 415 ? "unsupported_media_type" : NULL, param,
                      "%s", err);
  } else {
    /* a request of another format than the common one stays in its format: relay reads what it
     * needs from it, and converts it only for a channel of another format (openai_view) */
    cJSON *root;
    /* the common format's read_request is its parse and reads: its tree may go into a chunk
     * (reqchunk.h); other formats' readers may build and print other trees, so not theirs */
    bool chunk = r->client == &format_openai;
    if (chunk)
      request_parse_begin(r);
    int st = r->client->ops->read_request(r->def->api, r->body.data, r->body.len, r->path_model, r->path_stream, &root,
                                          &r->rq, err, sizeof err, &param);
    if (chunk)
      request_parse_end(r);
    if (st)
      return fail_now(r, (unsigned)st, "invalid_request_error", NULL, param, "%s", err);
    if (r->client->ops->request_to_openai)
      r->croot = root;
    else
      r->root = root;
  }
  /* what relay authorizes and bills must be what the upstream reads: no key twice (reqbound.h) */
  const cJSON *parsed = r->croot ? r->croot : r->root;
  char dup_path[160];
  if (parsed && reqbound_duplicate_key(parsed, dup_path, sizeof dup_path))
    return fail_now(r, 400, "invalid_request_error", "duplicate_key", NULL,
                    "The request body has the key '%s' more than once; send each key once.", dup_path);
  r->rq.input_bound = reqbound_input(parsed, r->body.len);
  const struct snap_token *t = r->token;
  /* a reasoning suffix names a variant of its base model: a route (and a price) for the full name
   * wins, else the base model's serve it */
  copy_str(r->route_model, sizeof r->route_model, r->rq.model);
  char base_model[MODEL_NAME_MAX] = "";
  if (reasoning_parse(r->rq.model, &r->rs)) {
    memcpy(base_model, r->rq.model, r->rs.base_len);
    base_model[r->rs.base_len] = '\0';
    if (!snapshot_route(r->snap, t->group, r->rq.model) && snapshot_route(r->snap, t->group, base_model))
      copy_str(r->route_model, sizeof r->route_model, base_model);
  }
  if (!token_allows_model(t, r->rq.model) &&
      !(base_model[0] && token_allows_model(t, base_model)))
    return fail_now(r, 403, "permission_error", "model_not_allowed", "model",
                    "This API key may not use the model '%s'.", r->rq.model);
  r->group_ratio = snapshot_group_ratio(r->snap, t->group);
  if (r->group_ratio < 0)
    return fail_now(r, 403, "permission_error", "group_not_found", NULL,
                    "The group '%s' of this API key does not exist.", t->group);
  return admit_route(r, base_model);
}

/* The route and everything after it: the channel, its price, the rate limits, the reservation, the
 * first attempt. Runs again for a request that waited for channel room (limitwait.h). */
static enum MHD_Result admit_route(struct request *r, const char *base_model)
{
  const struct snap_token *t = r->token;
  const cJSON *parsed = r->croot ? r->croot : r->root;
  char err[512];
  struct choice_miss miss;
  const struct snap_channel *ch = choose_channel(r, &miss);
  if (!ch && !miss.busy)
    ch = fallback_first(r);          /* every channel of the model disabled or failing: its chain */
  if (!ch) {
    if (miss.limited)     /* every candidate left is at a channel or key limit (chanlimit.h) */
      return refuse_channels_limited(r, &miss);
    if (r->pin_channel && !miss.busy)
      return fail_now(r, 503, "relay_error", "channel_not_found", NULL,
                      "Channel %lld does not exist.", (long long)r->pin_channel);
    if (miss.busy || miss.open) {
      /* channels exist but none can take it now: all full, or their breakers are open */
      struct MHD_Response *resp;
      char msg[512], ra[24];
      int64_t wait_s = miss.busy ? 1 : (miss.open_for_ms + 999) / 1000;
      snprintf(msg, sizeof msg, "No channel can take this request now: %d at their maximum concurrency, "
               "%d with an open circuit breaker. Try again in %lld s.", miss.busy, miss.open, (long long)wait_s);
      resp = error_response(r, 503, "relay_error", miss.busy ? "channels_busy" : "channels_unavailable",
                            NULL, msg);
      snprintf(ra, sizeof ra, "%lld", (long long)(wait_s > 0 ? wait_s : 1));
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
      return queue_now(r, 503, resp);
    }
    if (miss.disabled)
      return fail_now(r, 503, "relay_error", "model_not_available", "model",
                      "Every channel in group '%s' that serves the model '%s' is disabled.", t->group,
                      r->rq.model);
    /* channels that list it are all disabled (by hand or by health; the snapshot routes only
     * enabled ones): it exists, try later */
    if (on_a_disabled_channel(r->snap, r->route_model) || on_a_disabled_channel(r->snap, r->rq.model))
      return fail_now(r, 503, "relay_error", "model_not_available", "model",
                      "Every channel that serves the model '%s' is disabled.", r->rq.model);
    /* no channel serves it at all: a 404 in the client's shape (a 503 is retried by agents for a
     * minute) */
    return fail_now(r, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%s' does not exist or you do not have access to it: no channel in group "
                    "'%s' serves it.", r->rq.model, t->group);
  }
  if (ch->status != STATUS_ENABLED || atomic_load(&ch->health->auto_disabled) != HEALTH_ENABLED) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 403, "permission_error", "channel_disabled", NULL,
                    "Channel %lld is disabled.", (long long)ch->id);
  }
  /* a request the first channel's format cannot express is refused now, before any reservation */
  const char *first_model = strmap_get(&ch->model_map, r->route_model);
  if (r->croot && !format_native(r->client, format_of_channel(r->client, ch->provider, first_model ? first_model : r->route_model)) &&
      openai_view(r, err, sizeof err) < 0) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 400, "invalid_request_error", NULL, NULL, "%s", err);
  }
  r->price = r->fb_used ? snapshot_price(r->snap, r->route_model) : snapshot_price(r->snap, r->rq.model);
  if (!r->price && base_model[0])
    r->price = snapshot_price(r->snap, base_model);
  if (!r->price) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 403, "permission_error", "model_price_unset", "model",
                    "The model '%s' has no price configured; an administrator must set one "
                    "(gwctl pricing set) before it can be used.", r->rq.model);
  }
  const char *unit_refusal = media_price_refusal(r->def->media, r->price);   /* chat counts no images */
  if (unit_refusal) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 403, "permission_error", "model_price_unit", "model",
                    "The model '%s' %s, which %s cannot measure; an administrator must price it "
                    "differently (gwctl price set).", r->rq.model, unit_refusal, r->def->path);
  }
  struct usage est = {
      .prompt_tokens = r->rq.prompt_estimate,
      .completion_tokens = r->def->api == API_EMBEDDINGS ? 0
                           : r->rq.max_tokens >= 0 ? r->rq.max_tokens
                                                   : r->snap->opt.preconsume_completion,
  };
  struct limit_refusal why;
  if (!limits_admit(&t->limits, &t->user->limits, r->rq.model, est.prompt_tokens + est.completion_tokens,
                    r->snap->opt.rate_limit_window_s, &r->lim, &why)) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return refuse_rate_limited(r, &why);
  }
  r->lim_open = true;
  /* the worst case this request can cost: its input bound and its output bound (max_tokens, else the
   * model's largest answer) for every answer it asks for, at the dearest ratios */
  int64_t out_bound = r->rq.max_tokens >= 0            ? r->rq.max_tokens
                      : r->price->max_output_tokens > 0 ? r->price->max_output_tokens
                                                        : r->snap->opt.default_max_output;
  if (r->def->api == API_EMBEDDINGS)
    out_bound = 0;
  int64_t choices = reqbound_choices(parsed);
  out_bound *= choices;
  r->reserved = r->def->media ? media_reserve(&r->mq, &r->rq, r->price, r->group_ratio, out_bound)
                              : billing_bound(r->price, r->group_ratio, r->rq.input_bound, out_bound);
  r->reserved = fallback_bound(r, r->reserved, choices);   /* its chain's dearest */
  int64_t avail = 0;
  if (!ledger_reserve(t->user->bal, t->unlimited ? NULL : t->bal, r->reserved, &avail)) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                    "Not enough quota: this request may cost up to %lld (its input and up to %lld output "
                    "tokens) and only %lld is left (set a lower max_tokens or top up).",
                    (long long)r->reserved, (long long)out_bound, (long long)avail);
  }
  r->billing_open = true;
  note_reservation(r);
  respcache_begin(r);                 /* opted in: the same question answered before replays */
  struct MHD_Response *cached = respcache_hit(r);
  if (cached) {
    release_channel(r, OUTCOME_ABANDON, NULL);    /* no upstream call: the channel is not told */
    add_common_headers(r, cached);
    settle(r, "done");
    return queue_now(r, 200, cached);
  }
  r->phase = PH_UPSTREAM;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  start_attempt(r, ch);
  return MHD_YES;
}
