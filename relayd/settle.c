/* settle: see settle.h. */
#include "settle.h"

#include <stdio.h>
#include <string.h>

#include "billing.h"
#include "fallback.h"
#include "chanlimit.h"
#include "keypool.h"
#include "ledger.h"
#include "respcache.h"
#include "log.h"
#include "request.h"
#include "stats.h"
#include "writer.h"

struct tok_count *settle_count_restart(struct request *r)
{
  const char *model = r->upstream_model[0] ? r->upstream_model : r->rq.model;
  uint64_t key = hash_bytes(model, strlen(model));
  /* nothing counted yet by a count for the same model (a whole answer after its attempt's start):
   * it is a fresh count already, without looking the tokenizer up again */
  if (r->out_tokens_on && r->out_tokens.bytes == 0 && r->out_tokens_model == key)
    return &r->out_tokens;
  if (r->out_tokens_on)
    tok_count_free(&r->out_tokens);
  tok_count_init(&r->out_tokens, model);
  r->out_tokens_on = true;
  r->out_tokens_model = key;
  return &r->out_tokens;
}

/* Charges what the request used, gives back the rest of the reservation, and queues the log row.
 * Runs exactly once for every request that reserved quota. */
void settle(struct request *r, const char *end_reason)
{
  if (!r->billing_open || r->settled)
    return;
  r->settled = true;
  r->end_reason = end_reason;
  const char *source = "none", *counter = NULL;
  char note[200] = "";
  int64_t charged = 0;
  double units = 0;
  enum quota_rounding rounding = (enum quota_rounding)r->snap->opt.quota_rounding;
  bool produced = r->committed || (r->status_known && r->up_status < 400 && r->upstream_done);
  char media_note[200] = "";
  if (produced && r->def->media) {
    charged = media_charge(&r->mq, &r->rq, r->price, r->group_ratio, rounding, &r->mres, &r->usage,
                           &source);
    media_describe(&r->mq, &r->mres, r->price, media_note, sizeof media_note);
    units = media_units(&r->mq, &r->mres, r->price);
  } else if (produced) {
    int64_t local_out = r->out_tokens_on ? tok_count_total(&r->out_tokens) : oai_tokens_from_chars(r->completion_chars);
    counter = r->out_tokens_on ? tok_count_source(&r->out_tokens) : "chars/4";
    if (r->usage_upstream && r->usage.bad) {
      /* negative, fractional, huge or not a number: never free, never a fortune */
      r->usage_upstream = false;
      snprintf(note, sizeof note, "the upstream's usage held a count that is not one; relay counted");
      log_msg(LOG_WARN, "unusable usage from the upstream, billed by relay's own count", "request_id=%s channel=%lld",
              r->request_id, r->channel ? (long long)r->channel->id : 0LL);
    }
    if (r->usage_upstream) {
      source = "upstream";
      if (!r->usage_final && local_out > r->usage.completion_tokens) {
        /* the stream ended before the upstream's closing usage: bill what relay saw produced */
        r->usage.completion_tokens = local_out;
        source = "partial";
        snprintf(note, sizeof note, "the stream ended before the upstream's final usage; output counted by relay");
      }
    } else {
      memset(&r->usage, 0, sizeof r->usage);
      r->usage.prompt_tokens = r->rq.prompt_estimate;
      /* the prompt by the model's tokenizer too, from the client's body (only here: no usage came) */
      const struct tokenizer *tk = r->out_tokens_on ? r->out_tokens.t : NULL;
      int64_t prompt = tk && r->body.len ? tokenizer_count_request(tk, r->body.data, r->body.len) : -1;
      if (prompt >= 0)
        r->usage.prompt_tokens = prompt;
      r->usage.completion_tokens = local_out;
      source = "local";
    }
    charged = billing_quota(r->price, r->group_ratio, &r->usage, rounding);
    if (r->cache_hit) {             /* replayed by the response cache: its configured share */
      charged = respcache_charge(r, charged);
      source = "cache";
      snprintf(note, sizeof note, "answered from the response cache at %lld%% of its price",
               (long long)r->snap->opt.response_cache_hit_percent);
    }
  }
  if (charged > r->reserved) {
    /* the reservation is the most this request could cost (its input bound and its output bound at
     * the dearest ratios): more means an upstream that reports more than it may have used, or a
     * model that answers longer than its price's max_output_tokens. The bound is charged, so no
     * balance ever goes below zero; the log says what was reported. */
    log_msg(LOG_WARN, "the usage exceeds the request's bound; the bound is charged",
            "request_id=%s channel=%lld computed=%lld bound=%lld", r->request_id,
            r->channel ? (long long)r->channel->id : 0LL, (long long)charged, (long long)r->reserved);
    snprintf(note, sizeof note, "the usage came to %lld, above this request's bound; the bound was charged",
             (long long)charged);
    charged = r->reserved;
  }
  const struct snap_token *t = r->token;
  ledger_settle(t->user->bal, t->unlimited ? NULL : t->bal, t->bal, r->reserved, charged);
  if (r->lim_open) {
    r->lim_open = false;
    limits_settle(&r->lim, produced ? r->usage.prompt_tokens + r->usage.completion_tokens : 0);
  }
  chanlimit_settle(r, produced ? r->usage.prompt_tokens + r->usage.completion_tokens : 0);

  struct log_record rec;
  memset(&rec, 0, sizeof rec);
  copy_str(rec.request_id, sizeof rec.request_id, r->request_id);
  rec.created_at = now_unix();
  rec.type = produced ? LOGT_CONSUME : LOGT_ERROR;
  rec.user_id = t->user->id;
  copy_str(rec.username, sizeof rec.username, t->user->username);
  rec.token_id = t->id;
  copy_str(rec.token_name, sizeof rec.token_name, t->name);
  rec.channel_id = r->channel ? r->channel->id : 0;
  copy_str(rec.model, sizeof rec.model, r->rq.model);
  copy_str(rec.upstream_model, sizeof rec.upstream_model, r->upstream_model);
  copy_str(rec.group, sizeof rec.group, t->group);
  copy_str(rec.api, sizeof rec.api, inbound_api(r));
  if (produced) {
    rec.prompt_tokens = r->usage.prompt_tokens;
    rec.completion_tokens = r->usage.completion_tokens;
  }
  rec.quota = charged;
  keypool_spent(r->pkey, charged);     /* a pooled channel's key: its spend */
  rec.status = r->final_status;
  rec.is_stream = r->rq.stream;
  uint64_t now = now_us_mono();
  rec.elapsed_ms = (int64_t)((now - r->t0_us) / 1000);
  rec.first_byte_ms = r->t_first_us ? (int64_t)((r->t_first_us - r->t0_us) / 1000) : 0;
  copy_str(rec.end_reason, sizeof rec.end_reason, end_reason);
  copy_str(rec.usage_source, sizeof rec.usage_source, source);
  if (r->attempts > 1 || media_note[0]) {
    struct buf c;
    buf_init(&c, sizeof rec.content - 1);
    buf_append_str(&c, media_note);
    if (r->attempts > 1)
      buf_append_str(&c, media_note[0] ? "; channels tried:" : "channels tried:");
    for (int i = 0; r->attempts > 1 && i < r->attempts && i < MAX_ATTEMPTS; i++)
      buf_appendf(&c, " %lld", (long long)r->tried[i]);
    copy_str(rec.content, sizeof rec.content, c.data ? c.data : "");
    buf_free(&c);
  }
  rec.user_bal = t->user->bal;
  rec.token_bal = t->unlimited ? NULL : t->bal;
  struct billing_explain ex = {
      .price = produced ? r->price : NULL,
      .group = t->group,
      .group_ratio = r->group_ratio,
      .usage = produced ? &r->usage : NULL,
      .units = units,
      .usage_source = source,
      .counter = strcmp(source, "local") == 0 || strcmp(source, "partial") == 0 ? counter : NULL,
      .reserved = r->reserved,
      .charged = charged,
      .note = note[0] ? note : media_note,
      .api = inbound_api(r),
      .rounding = rounding,
      .cache_hit = r->cache_hit,
  };
  fallback_names(r, &ex.requested_model, &ex.served_model);
  billing_explain_json(&ex, rec.billing, sizeof rec.billing);
  writer_submit(&rec);

  /* the event goes to admin subscribers with the answer (respond_done) */
  struct req_event spare, *ev = request_event(r);   /* r's, or the stack's without memory */
  if (!ev)
    ev = &spare;
  memset(ev, 0, sizeof *ev);
  r->ev_set = ev != &spare;
  copy_str(ev->request_id, sizeof ev->request_id, r->request_id);
  ev->ts_ms = now_unix_ms();
  ev->channel_id = rec.channel_id;
  copy_str(ev->model, sizeof ev->model, r->rq.model);
  /* only names the snapshot knows get their own stats series (stats.h: the tables are bounded) */
  ev->model_known = strlen(r->rq.model) < sizeof ev->model &&
                   (snapshot_price(r->snap, r->rq.model) || snapshot_route(r->snap, t->group, r->rq.model));
  copy_str(ev->token, sizeof ev->token, t->name);
  copy_str(ev->user, sizeof ev->user, t->user->username);
  ev->status = r->final_status;
  ev->stream = r->rq.stream;
  ev->prompt_tokens = rec.prompt_tokens;
  ev->completion_tokens = rec.completion_tokens;
  ev->cached_tokens = produced ? r->usage.cached_tokens : 0;
  ev->quota = charged;
  ev->elapsed_us = (int64_t)(now - r->t0_us);
  ev->first_byte_us = r->t_first_us ? (int64_t)(r->t_first_us - r->t0_us) : 0;
  copy_str(ev->end_reason, sizeof ev->end_reason, end_reason);
  stats_record(worker_stats(r->w), ev, !produced || strcmp(end_reason, "done") != 0);
}

