/* rtbill: see rtbill.h. */
#include "rtbill.h"

#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "ledger.h"
#include "log.h"
#include "rtstate.h"
#include "stats.h"
#include "worker.h"
#include "writer.h"

/* Bounded copy that truncates silently (log fields have fixed widths). */
static void copy_str(char *dst, size_t n, const char *src)
{
  size_t l = src ? strnlen(src, n - 1) : 0;
  if (l)
    memcpy(dst, src, l);
  dst[l] = '\0';
}

int64_t rt_hold_size(const struct rt_session *s)
{
  return billing_bound(s->price, s->group_ratio, RT_HOLD_INPUT, RT_HOLD_OUTPUT);
}
/* Takes a new hold: one request of RT_HOLD_INPUT + RT_HOLD_OUTPUT tokens for the rate limits, and
 * its price on the balances; false when a rate limit refuses it (s->rate_limited, *why) or the
 * balances cannot cover it (*avail: what is left). */
bool rt_take_hold(struct rt_session *s, int64_t *avail, struct limit_refusal *why)
{
  const struct snap_token *t = s->token;
  int64_t amount = rt_hold_size(s);
  s->rate_limited = false;
  if (!limits_admit(&t->limits, &t->user->limits, s->model, RT_HOLD_INPUT + RT_HOLD_OUTPUT,
                    s->snap->opt.rate_limit_window_s, &s->lim, why)) {
    s->rate_limited = true;
    stats_ratelimit_rejected(worker_stats(s->w), why->scope == LIMIT_TOKEN ? "token" : "user");
    return false;
  }
  if (!ledger_reserve(t->user->bal, t->unlimited ? NULL : t->bal, amount, avail)) {
    limits_undo(&s->lim);
    return false;
  }
  s->hold = amount;
  return true;
}
/* Gives back the hold still open, unbilled (no response was in progress, or it never finished). */
void rt_drop_hold(struct rt_session *s)
{
  if (!s->hold)
    return;
  const struct snap_token *t = s->token;
  ledger_settle(t->user->bal, t->unlimited ? NULL : t->bal, t->bal, s->hold, 0);
  limits_undo(&s->lim);
  s->hold = 0;
}
/* One response.done: charged against the hold (grown when it costs more and the balance has it),
 * its log row queued and its figures counted. Returns false when the balances could not cover it
 * (it is charged what was held). */
bool rt_bill_response(struct rt_session *s, const cJSON *resp)
{
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(resp, "usage");
  struct usage use = {0};
  int64_t in_text = 0, in_audio = 0, out_text = 0, out_audio = 0;
  const char *source = "none";
  char note[200] = "";
  if (cJSON_IsObject(u)) {
    use.prompt_tokens = usage_count(u, "input_tokens", &use);
    use.completion_tokens = usage_count(u, "output_tokens", &use);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(u, "input_token_details");
    const cJSON *od = cJSON_GetObjectItemCaseSensitive(u, "output_token_details");
    if (cJSON_IsObject(id)) {
      use.cached_tokens = usage_count(id, "cached_tokens", &use);
      in_text = usage_count(id, "text_tokens", &use);
      in_audio = usage_count(id, "audio_tokens", &use);
    }
    if (cJSON_IsObject(od)) {
      out_text = usage_count(od, "text_tokens", &use);
      out_audio = usage_count(od, "audio_tokens", &use);
    }
    source = "upstream";
    if (use.bad) {
      /* not a count: bill the hold, never nothing and never a fortune */
      memset(&use, 0, sizeof use);
      source = "reserved";
      snprintf(note, sizeof note, "response.done held a usage count that is not one; the hold was charged");
    } else {
      usage_normalize(&use);
      snprintf(note, sizeof note, "realtime: input text %lld audio %lld cached %lld, output text %lld audio %lld",
               (long long)in_text, (long long)in_audio, (long long)use.cached_tokens, (long long)out_text,
               (long long)out_audio);
    }
  } else {
    snprintf(note, sizeof note, "response.done carried no usage: nothing was charged");
  }
  enum quota_rounding rounding = (enum quota_rounding)s->snap->opt.quota_rounding;
  int64_t charged = strcmp(source, "upstream") == 0 ? billing_quota(s->price, s->group_ratio, &use, rounding)
                    : strcmp(source, "reserved") == 0 ? s->hold : 0;
  const struct snap_token *t = s->token;
  bool covered = true;
  int64_t held = s->hold;
  if (charged > held) {
    int64_t more = charged - held, avail = 0;
    if (ledger_reserve(t->user->bal, t->unlimited ? NULL : t->bal, more, &avail)) {
      held += more;
    } else {
      snprintf(note, sizeof note, "the response came to %lld, more than the balance covers; %lld was charged",
               (long long)charged, (long long)held);
      charged = held;
      covered = false;
    }
  }
  ledger_settle(t->user->bal, t->unlimited ? NULL : t->bal, t->bal, held, charged);
  limits_settle(&s->lim, use.prompt_tokens + use.completion_tokens);
  s->hold = 0;
  s->responses++;

  struct log_record rec;
  memset(&rec, 0, sizeof rec);
  snprintf(rec.request_id, sizeof rec.request_id, "%.28s-%u", s->id, s->responses);
  rec.created_at = now_unix();
  rec.type = LOGT_CONSUME;
  rec.user_id = t->user->id;
  copy_str(rec.username, sizeof rec.username, t->user->username);
  rec.token_id = t->id;
  copy_str(rec.token_name, sizeof rec.token_name, t->name);
  rec.channel_id = s->channel->id;
  copy_str(rec.model, sizeof rec.model, s->model);
  copy_str(rec.upstream_model, sizeof rec.upstream_model, s->upstream_model);
  copy_str(rec.group, sizeof rec.group, t->group);
  copy_str(rec.api, sizeof rec.api, "realtime");
  rec.prompt_tokens = use.prompt_tokens;
  rec.completion_tokens = use.completion_tokens;
  rec.quota = charged;
  rec.status = 200;
  rec.is_stream = true;
  uint64_t now = now_us_mono();
  uint64_t since = s->resp_t0_us ? s->resp_t0_us : s->t0_us;
  rec.elapsed_ms = (int64_t)((now - since) / 1000);
  copy_str(rec.end_reason, sizeof rec.end_reason, "done");
  copy_str(rec.usage_source, sizeof rec.usage_source, source);
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(resp, "id");
  snprintf(rec.content, sizeof rec.content, "realtime session %s, response %.60s", s->id,
           cJSON_IsString(rid) ? rid->valuestring : "?");
  rec.user_bal = t->user->bal;
  rec.token_bal = t->unlimited ? NULL : t->bal;
  struct billing_explain ex = {
      .price = s->price, .group = t->group, .group_ratio = s->group_ratio,
      .usage = strcmp(source, "upstream") == 0 ? &use : NULL, .usage_source = source,
      .reserved = held, .charged = charged, .note = note, .api = "realtime",
      .rounding = rounding,
  };
  billing_explain_json(&ex, rec.billing, sizeof rec.billing);
  writer_submit(&rec);

  struct req_event ev;
  memset(&ev, 0, sizeof ev);
  copy_str(ev.request_id, sizeof ev.request_id, rec.request_id);
  ev.ts_ms = now_unix_ms();
  ev.channel_id = s->channel->id;
  copy_str(ev.model, sizeof ev.model, s->model);
  ev.model_known = true;
  copy_str(ev.token, sizeof ev.token, t->name);
  copy_str(ev.user, sizeof ev.user, t->user->username);
  ev.status = 200;
  ev.stream = true;
  ev.prompt_tokens = use.prompt_tokens;
  ev.completion_tokens = use.completion_tokens;
  ev.cached_tokens = use.cached_tokens;
  ev.quota = charged;
  ev.elapsed_us = (int64_t)(now - since);
  copy_str(ev.end_reason, sizeof ev.end_reason, "done");
  stats_record(worker_stats(s->w), &ev, false);
  s->resp_t0_us = 0;
  return covered;
}
