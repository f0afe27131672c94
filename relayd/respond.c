/* respond: see respond.h. */
#include "respond.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonarena.h"
#include "request.h"
#include "respcache.h"
#include "settle.h"

/* x-ratelimit-{limit,remaining,reset}-{requests,tokens}, as OpenAI sends them */
void add_limit_headers(struct MHD_Response *resp, const struct limit_view *v, const char *kind)
{
  if (!v->set)
    return;
  char name[64], val[48];
  snprintf(name, sizeof name, "x-ratelimit-limit-%s", kind);
  snprintf(val, sizeof val, "%lld", (long long)v->limit);
  MHD_add_response_header(resp, name, val);
  snprintf(name, sizeof name, "x-ratelimit-remaining-%s", kind);
  snprintf(val, sizeof val, "%lld", (long long)v->remaining);
  MHD_add_response_header(resp, name, val);
  snprintf(name, sizeof name, "x-ratelimit-reset-%s", kind);
  limits_format_duration(v->reset_ms, val, sizeof val);
  MHD_add_response_header(resp, name, val);
}

void add_common_headers(struct request *r, struct MHD_Response *resp)
{
  MHD_add_response_header(resp, "x-request-id", r->request_id);
  if (r->client->request_id_header)     /* the name the client format's SDKs read */
    MHD_add_response_header(resp, r->client->request_id_header, r->request_id);
  add_limit_headers(resp, &r->lim.req, "requests");
  add_limit_headers(resp, &r->lim.tok, "tokens");
  respcache_header(r, resp);          /* x-relay-cache: hit|miss, for a request that takes part */
}

/* b's bytes as the response body (b is emptied), with the given Content-Type. */
static struct MHD_Response *body_response(struct request *r, struct buf *b, const char *content_type)
{
  size_t len;
  char *data = buf_steal(b, &len);
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, data ? data : (char *)"",
                                                              data ? MHD_RESPMEM_MUST_FREE
                                                                   : MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(resp, "Content-Type", content_type);
  add_common_headers(r, resp);
  return resp;
}

struct MHD_Response *json_response(struct request *r, struct buf *b)
{
  return body_response(r, b, "application/json");
}

/* An error body in the client's API format, into b (format.h: OpenAI's {"error":{"message","type",
 * "param","code"}}, Anthropic's {"type":"error","error":{"type","message"}}, Gemini's
 * {"error":{"code","message","status"}}). */
void error_body(struct request *r, unsigned status, const char *type, const char *code, const char *param,
                const char *msg, struct buf *b)
{
  /* every error answer relayd makes passes here: what it said is counted and shown (respond_done) */
  copy_str(r->err_code, sizeof r->err_code, code ? code : type);
  copy_str(r->err_text, sizeof r->err_text, msg);
  r->client->ops->error_body(b, (int)status, type, code, param, msg);
}

void respond_done(struct request *r, bool client_left)
{
  int status = r->final_status ? r->final_status : 499;
  const char *reason = r->err_code[0]      ? r->err_code
                       : !r->final_status ? "client_gone"
                       : status >= 400    ? "upstream"    /* the upstream's own error body, passed on */
                                          : "ok";
  struct worker_stats *ws = worker_stats(r->w);
  stats_response(ws, status, reason);
  struct req_event mine, *ev = r->ev_set ? r->ev : &mine;   /* settle's (owned by r), or made here */
  if (!r->ev_set) {
    /* answered by relayd itself before anything was reserved: a refusal, or a free answer
     * (/v1/models, the billing endpoints); the event says what is known of it */
    memset(ev, 0, sizeof *ev);
    copy_str(ev->request_id, sizeof ev->request_id, r->request_id);
    ev->ts_ms = now_unix_ms();
    copy_str(ev->model, sizeof ev->model, r->rq.model[0] ? r->rq.model : r->path_model);
    if (r->token) {
      copy_str(ev->token, sizeof ev->token, r->token->name);
      copy_str(ev->user, sizeof ev->user, r->token->user->username);
    }
    ev->stream = r->rq.stream;
    ev->elapsed_us = r->t0_us ? (int64_t)(now_us_mono() - r->t0_us) : 0;
    ev->refused = status >= 400;
    copy_str(ev->end_reason, sizeof ev->end_reason,
             client_left && !r->final_status ? "client_gone" : status >= 400 ? "refused" : "done");
  }
  ev->status = status;
  copy_str(ev->reason, sizeof ev->reason, strcmp(reason, "ok") ? reason : "");
  copy_str(ev->error, sizeof ev->error, r->err_text);
  stats_event(ws, ev);
}

struct MHD_Response *error_response(struct request *r, unsigned status, const char *type,
                                    const char *code, const char *param, const char *msg)
{
  struct buf b;
  buf_init(&b, 8192);
  error_body(r, status, type, code, param, msg, &b);
  struct MHD_Response *resp = json_response(r, &b);
  if (status == 429 && code && strcmp(code, "insufficient_quota") == 0)
    MHD_add_response_header(resp, "x-should-retry", "false");
  return resp;
}

enum MHD_Result queue_now(struct request *r, unsigned status, struct MHD_Response *resp)
{
  r->final_status = (int)status;
  r->phase = PH_DONE;
  if (!r->t_first_us)
    r->t_first_us = now_us_mono();
  enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

enum MHD_Result fail_now(struct request *r, unsigned status, const char *type,
                         const char *code, const char *param, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return queue_now(r, status, error_response(r, status, type, code, param, msg));
}

/* From outside the access handler: keep the response and resume the connection. */
void respond_later(struct request *r, unsigned status, struct MHD_Response *resp)
{
  if (r->pending)
    MHD_destroy_response(r->pending);
  r->pending = resp;
  r->pending_status = status;
  r->final_status = (int)status;
  r->phase = PH_RESPOND;
  if (r->suspended) {
    r->suspended = false;
    worker_resume(r->w, r->conn);
  }
}

/* Why the upstream call ended, for the client: which limit, or what went wrong. */
void upstream_failure_text(const struct request *r, CURLcode res, char *out, size_t n)
{
  const struct config *cfg = worker_cfg(r->w);
  long long ch = (long long)r->channel->id;
  if (r->timeout_kind && strcmp(r->timeout_kind, "first_byte") == 0)
    snprintf(out, n, "The upstream of channel %lld sent nothing within %lld s (first_byte_timeout_s).",
             ch, (long long)cfg->first_byte_timeout_s);
  else if (r->timeout_kind && strcmp(r->timeout_kind, "idle") == 0)
    snprintf(out, n, "The upstream of channel %lld was silent for %lld s (stream_idle_timeout_s).",
             ch, (long long)cfg->stream_idle_timeout_s);
  else if (r->timeout_kind)
    snprintf(out, n, "The upstream of channel %lld did not finish within %lld s (%s).", ch,
             (long long)(r->rq.stream ? cfg->stream_timeout_s : cfg->request_timeout_s),
             r->rq.stream ? "stream_timeout_s" : "request_timeout_s");
  else if (res == CURLE_OPERATION_TIMEDOUT)
    snprintf(out, n, "The upstream of channel %lld could not be reached within %lld ms (connect_timeout_ms).",
             ch, (long long)cfg->connect_timeout_ms);
  else if (r->fault)
    snprintf(out, n, "The upstream of channel %lld was cut off: %s.", ch, r->fault);
  else
    snprintf(out, n, "The upstream of channel %lld failed: %s.", ch, curl_easy_strerror(res));
}


/* The usage of a whole answer in the format it is in (fmt), read from the parsed body; without
 * usage, the text relay counted in it. text_if_no_usage: the text is counted only when that usage
 * is missing or unusable (settle bills a whole answer by relay's count only then); a converted
 * answer's usage is the converter's (finish_nonstream), so its text is always counted. */
static void read_answer_usage(struct request *r, const struct format *fmt, const char *b, size_t len,
                              bool text_if_no_usage)
{
  /* read only (usage and text are copied out): in the worker's arena, no malloc and free per node */
  cJSON *j = jsonarena_parse(b, len);
  struct format_facts f = {.tokens = settle_count_restart(r),     /* a whole answer: counted afresh */
                           .text_if_no_usage = text_if_no_usage};
  fmt->ops->read_answer(j, &f);
  if (f.usage_found)
    r->usage = f.usage;
  r->usage_upstream = f.usage_found;
  r->usage_final = f.usage_final;
  r->completion_chars = f.text_chars;
  jsonarena_drop(j);
}

/* The whole answer of an EP_MEDIA request, relayed with the upstream's Content-Type (audio bytes
 * for speech, text or JSON for transcripts). */
static void finish_media(struct request *r)
{
  media_read_response(r->def->media, r->resp.data ? r->resp.data : "", r->resp.len,
                      r->up_ctype[0] ? r->up_ctype : NULL, &r->mres);
  r->final_status = (int)r->up_status;
  r->upstream_done = true;
  r->t_first_us = now_us_mono();
  settle(r, "done");
  respond_later(r, (unsigned)r->up_status,
                body_response(r, &r->resp, r->up_ctype[0] ? r->up_ctype : "application/json"));
}

/* A 2xx answer that cannot be read or converted (err says why): a bad upstream, 502. */
static void unreadable_answer(struct request *r, const char *err)
{
  char text[400];
  snprintf(text, sizeof text, "The upstream of channel %lld sent an unreadable answer: %s.",
           (long long)r->channel->id, err);
  r->final_status = 502;
  settle(r, "upstream_error");
  respond_later(r, 502, error_response(r, 502, "upstream_error", "bad_upstream_body", NULL, text));
}

void finish_nonstream(struct request *r)
{
  if (r->def->media) {
    finish_media(r);
    return;
  }
  /* a channel of the client's own format: the answer goes as it came, billing reads its usage;
   * else it is turned into the common form, and from it into the client's format */
  bool native = format_native(r->client, r->upstream);
  const struct format_ops *up = r->upstream->ops, *cl = r->client->ops;
  char err[256];
  struct usage conv_usage = {0};
  bool conv_in = !native && up->response_to_openai;
  if (conv_in) {
    char *conv = up->response_to_openai(r->resp.data ? r->resp.data : "", r->resp.len, r->rq.model, now_unix(),
                                        &conv_usage, err, sizeof err);
    if (!conv) {
      unreadable_answer(r, err);
      return;
    }
    buf_reset(&r->resp);
    buf_append_str(&r->resp, conv);
    free(conv);
  }
  /* into the client's format (malloc'd; the OpenAI form stays in r->resp until the usage is read) */
  struct usage cu = {0};
  char *msg = NULL;
  if (!native && cl->response_from_openai) {
    msg = cl->response_from_openai(r->resp.data ? r->resp.data : "", r->resp.len, r->rq.model, &cu, err, sizeof err);
    if (!msg) {
      /* the upstream said 2xx but sent nothing we can turn into a message: a bad upstream */
      unreadable_answer(r, err);
      return;
    }
  }
  /* A converter reads the answer's usage as read_answer_usage would (adapt_oai_usage of the same
   * "usage" member; response_to_openai: the channel's own usage, which is billed). When that usage is
   * usable (counts, none that is not one), billing needs nothing more from the answer: it is not
   * parsed a second time. Else it is read here as it always was (found, unusable, or relay's count). */
  const struct usage *known = conv_in ? &conv_usage : msg ? &cu : NULL;
  if (known && (known->prompt_tokens || known->completion_tokens) && !known->bad) {
    r->usage = *known;
    r->usage_upstream = true;
    r->usage_final = true;
    r->completion_chars = 0;       /* relay's count is not read when the upstream's usage is billed */
  } else {
    read_answer_usage(r, conv_in ? &format_openai : r->upstream, r->resp.data ? r->resp.data : "", r->resp.len,
                      !conv_in);
    if (conv_in) {
      r->usage = conv_usage;           /* the channel's own usage, with its cache writes */
      r->usage_upstream = conv_usage.prompt_tokens || conv_usage.completion_tokens || conv_usage.bad;
    }
  }
  if (msg) {
    buf_reset(&r->resp);
    buf_append_str(&r->resp, msg);
    free(msg);
  }
  r->final_status = (int)r->up_status;
  r->upstream_done = true;
  r->t_first_us = now_us_mono();      /* the whole answer goes out from here */
  settle(r, "done");
  bool relay_counted = false;
  if (r->def->api == API_EMBEDDINGS && !native && r->client == &format_openai) {
    /* embeddings converted from another format (Gemini's): the usage relay billed (settle's own
     * count when the channel reported none) and the encoding the client asked for */
    const cJSON *ef = cJSON_GetObjectItemCaseSensitive(r->root, "encoding_format");
    relay_counted = !r->usage_upstream;
    char *fixed = format_embed_openai_answer(r->resp.data ? r->resp.data : "", r->resp.len,
                                             relay_counted ? r->usage.prompt_tokens : -1,
                                             cJSON_IsString(ef) && strcmp(ef->valuestring, "base64") == 0);
    if (fixed) {
      buf_reset(&r->resp);
      buf_append_str(&r->resp, fixed);
      free(fixed);
    }
  }
  respcache_store_whole(r, r->resp.data, r->resp.len);   /* opted in: kept as the client gets it */
  struct MHD_Response *resp = json_response(r, &r->resp);
  if (relay_counted)
    MHD_add_response_header(resp, "x-relay-usage", "local");   /* the upstream reported none */
  respond_later(r, (unsigned)r->up_status, resp);
}
