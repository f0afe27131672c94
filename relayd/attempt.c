/* attempt: see attempt.h. */
#include "attempt.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fallback.h"
#include "imginline.h"
#include "keypool.h"
#include "log.h"
#include "mediareq.h"
#include "reqchunk.h"
#include "reqview.h"
#include "request.h"
#include "respond.h"
#include "route.h"
#include "secret.h"
#include "settle.h"
#include "sse.h"
#include "stream.h"
#include "tokenizer.h"
#include "vertex.h"

/* upstream read buffer of a stream: events are small. curl's least (1 KiB; 2 KiB cost a held stream
 * 1.1 KB more, bench/README.md): an event over 1 KB takes one more read per KB */
#define STREAM_CURL_BUFFER 1024L

/* Whether the environment names no proxy for curl. libcurl reads its proxy variables from the
 * environment on every transfer without CURLOPT_NOPROXY (lib/url.c create_conn_helper_init_proxy
 * and detect_proxy at curl-7_88_1: no_proxy, NO_PROXY, <scheme>_proxy, all_proxy, ALL_PROXY): five
 * getenv walks, ~1,600 instructions a request. relayd sets no proxy of its own, so when the
 * environment names none either, NOPROXY "*" on a fresh handle says the same once; when it names
 * one, curl reads it per transfer as before. Read once (relayd never changes its environment). */
static bool environment_has_no_proxy(void)
{
  static _Atomic int known;   /* 0: not read yet, 1: no proxy variable, 2: some */
  int k = atomic_load_explicit(&known, memory_order_relaxed);
  if (!k) {
    static const char *const vars[] = {"no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY",
                                       "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    k = 1;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
      if (getenv(vars[i]))
        k = 2;
    atomic_store_explicit(&known, k, memory_order_relaxed);
  }
  return k == 1;
}

void detach_upstream(struct request *r)
{
  imginline_cancel(r);                           /* an image fetch the attempt waits on */
  release_channel(r, OUTCOME_ABANDON, NULL);    /* no-op when the outcome was reported */
  if (!r->easy)
    return;
  stats_upstream_done(worker_stats(r->w), r->channel->id, (int64_t)(now_us_mono() - r->t_upstream_us));
  curl_multi_remove_handle(worker_multi(r->w), r->easy);
  if (r->easy_kept)
    worker_easy_put_kept(r->w, r->easy);
  else
    worker_easy_put(r->w, r->easy);
  r->easy = NULL;
  r->easy_kept = false;
  r->paused = false;
}

static size_t on_upstream_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
  struct request *r = ud;
  size_t n = size * nmemb;
  r->up_last_us = now_us_mono();
  if (!r->status_known) {
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->up_status);
    r->status_known = true;
    char *ct = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
    copy_str(r->up_ctype, sizeof r->up_ctype, ct);
    if (r->up_status >= 200 && r->up_status < 300)
      r->attempt_ttfb_ms = (double)(now_us_mono() - r->attempt_t0_us) / 1000.0;
    if (r->up_status >= 200 && r->up_status < 300 && r->rq.stream) {
      r->committed = true;
      r->final_status = (int)r->up_status;
      r->phase = PH_STREAM_START;
      /* no further attempt: the parsed request is not needed while the stream lasts
       * (curl has sent the body already: the response is arriving) */
      request_drop_parsed(r);
      if (r->suspended) {
        r->suspended = false;
        worker_resume(r->w, r->conn);
      }
    }
  }
  if (r->up_status < 200 || r->up_status >= 300) {
    buf_append(&r->errbody, ptr, n < ERRBODY_MAX - r->errbody.len ? n : ERRBODY_MAX - r->errbody.len);
    return n;
  }
  if (!r->rq.stream) {
    if (buf_append(&r->resp, ptr, n) < 0) {
      r->fault = "its answer is larger than 64 MiB";
      return 0;       /* larger than RESPONSE_MAX: abort the transfer */
    }
    return n;
  }
  if (r->up_body || r->oai_text)
    request_drop_sent(r);   /* committed: the sent body is not needed while the stream is held */
  if (r->out.len - r->out_off > OUT_HIGH) {
    r->paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  /* one event larger than EVENT_MAX, or a frame of a binary framing (Bedrock's) that cannot be read */
  const char *why = "it sent a stream event larger than 4 MiB";
  if (r->resp.len + n > EVENT_MAX || format_stream_bytes(&r->fs, ptr, n, &r->resp, &why) < 0) {
    r->fault = why;
    return 0;
  }
  /* an event arriving in many pieces is scanned once, not from its start at every piece */
  size_t off = 0, evlen, from = r->resp_scanned > 2 ? r->resp_scanned - 2 : 0;
  while ((evlen = sse_event_len(r->resp.data + off + from, r->resp.len - off - from)) > 0) {
    evlen += from;
    from = 0;
    upstream_event(r, r->resp.data + off, evlen);
    off += evlen;
  }
  buf_consume(&r->resp, off);
  r->resp_scanned = r->resp.len;
  wake_reader(r);
  return n;
}


static void fail_upstream(struct request *r, CURLcode res);

/* A request this channel cannot take: answered as if the upstream had refused it with 400. */
static void refuse_attempt(struct request *r, const char *why)
{
  release_channel(r, OUTCOME_ABANDON, NULL);     /* relay's refusal says nothing about the channel */
  r->refused = true;
  r->status_known = true;
  r->up_status = 400;
  buf_reset(&r->errbody);
  buf_append_str(&r->errbody, "{\"error\":{\"message\":");
  buf_append_json_str(&r->errbody, why);
  buf_append_str(&r->errbody, "}}");
  fail_upstream(r, CURLE_OK);
}

/* The channel cannot be called now (a Vertex AI channel without an access token): the attempt ends
 * as if the upstream had answered status with why as its error, so health counts it (401: the
 * channel's authentication failure; 502: a failure; 503, its token still being fetched: nothing)
 * and another channel may take the request. */
static void no_call(struct request *r, int status, const char *why)
{
  if (status == 503)
    release_channel(r, OUTCOME_ABANDON, NULL);   /* says nothing of the channel yet */
  r->status_known = true;
  r->up_status = status;
  buf_reset(&r->errbody);
  buf_append_str(&r->errbody, "{\"error\":{\"message\":");
  buf_append_json_str(&r->errbody, why);
  buf_append_str(&r->errbody, "}}");
  relay_on_upstream_done(r, CURLE_OK);
}

/* The channel's headers with the client's multipart Content-Type (its boundary) instead of JSON's.
 * Returns a new list (caller frees with curl_slist_free_all) or NULL. */
static struct curl_slist *media_channel_headers(const struct curl_slist *chan, struct MHD_Connection *c)
{
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  char line[512];
  if (!ct || snprintf(line, sizeof line, "Content-Type: %s", ct) >= (int)sizeof line)
    return NULL;
  struct curl_slist *out = curl_slist_append(NULL, line), *n;
  for (const struct curl_slist *h = chan; out && h; h = h->next) {
    if (strncasecmp(h->data, "Content-Type:", 13) == 0)
      continue;
    if (!(n = curl_slist_append(out, h->data))) {
      curl_slist_free_all(out);
      return NULL;
    }
    out = n;
  }
  return out;
}

void start_attempt(struct request *r, const struct snap_channel *ch)
{
  struct worker *w = r->w;
  const char *img_refusal = NULL;
  if (imginline_begin(r, ch, &img_refusal))
    return;     /* images by URL are fetched first, on this worker's multi: this runs again then */
  r->channel = ch;
  r->tried[r->attempts++] = ch->id;
  /* a pooled channel: the key of this attempt (keypool.h); else the channel's one key */
  r->pkey = route_pick_key(r, ch);
  r->up_key = r->pkey ? r->pkey->key : ch->key;
  const struct curl_slist *chh = r->pkey ? r->pkey->headers : ch->headers;
  const char *mapped = strmap_get(&ch->model_map, r->route_model);
  copy_str(r->upstream_model, sizeof r->upstream_model, mapped ? mapped : r->route_model);
  r->upstream = format_of_channel(r->client, ch->provider, r->upstream_model);
  bool reason = reasoning_applies(&r->rs, r->upstream->reasoning);
  if (reason) {        /* a suffix the channel reads never reaches it in the model name */
    const char *suffix = r->rq.model + r->rs.base_len;
    size_t ul = strlen(r->upstream_model), sl = strlen(suffix);
    if (ul > sl && strcmp(r->upstream_model + ul - sl, suffix) == 0)
      r->upstream_model[ul - sl] = '\0';
  }
  r->status_known = false;
  r->up_status = 0;
  r->up_t0_us = now_us_mono();
  r->up_last_us = 0;
  r->timeout_kind = NULL;
  r->fault = NULL;
  r->attempt_t0_us = now_us_mono();
  r->attempt_ttfb_ms = -1;
  r->stream_health = OUTCOME_OK;
  r->stream_detail[0] = '\0';
  r->attempt_outcome = OUTCOME_ABANDON;
  buf_reset(&r->resp);
  r->resp_scanned = 0;
  buf_reset(&r->errbody);
  free(r->up_body);
  r->up_body = NULL;
  curl_slist_free_all(r->up_headers);    /* an earlier attempt's own headers */
  r->up_headers = NULL;
  const char *path = r->def->upstream_path ? r->def->upstream_path : r->def->path;
  char url[2048], err[256];
  const char *refusal = media_channel_refusal(r->def->media, r->def->api, ch->provider);
  if (refusal || img_refusal) {
    refuse_attempt(r, refusal ? refusal : img_refusal);
    return;
  }
  /* the bytes sent when no rewrite is needed: the client's, or the common-form request made from
   * them for a channel of another format; a channel of the client's own format gets its request
   * and sends its answer unconverted (model mapping and a reasoning suffix aside) */
  bool native = format_native(r->client, r->upstream);
  const char *plain = r->body.data;
  size_t plain_len = r->body.len;
  if (r->croot && !native) {
    if (openai_view(r, err, sizeof err) < 0) {
      refuse_attempt(r, err);
      return;
    }
    plain = r->oai_text;
    plain_len = r->oai_len;
  }
  char fpath[FORMAT_PATH_MAX];
  if (r->def->media) {
    format_stream_free(&r->fs);      /* its stream is read afresh (format_stream_block) */
    bool failed;
    r->up_body = media_upstream_body(&r->mq, r->root, r->body.data, r->body.len, r->rq.model, r->upstream_model,
                                     &r->up_len, &failed);
    if (failed) {
      refuse_attempt(r, "the model name could not be rewritten in the request body");
      return;
    }
    if (r->mq.multipart && !(r->up_headers = media_channel_headers(chh, r->conn))) {
      refuse_attempt(r, "out of memory");
      return;
    }
  } else {
    struct format_req q = {.root = native && r->croot ? r->croot : r->root, .native = native,
                           .body = plain, .body_len = plain_len, .api = r->def->api, .rq = &r->rq,
                           .upstream_model = r->upstream_model, .rs = reason ? &r->rs : NULL};
    if (r->upstream->ops->write_request(&q, &r->up_body, &r->up_len, fpath, sizeof fpath, err, sizeof err) < 0) {
      refuse_attempt(r, err);
      return;
    }
    if (fpath[0])
      path = fpath;
    if (native)
      r->up_headers = pass_headers(chh, r->conn, r->upstream->pass_headers);
    /* the input a converted stream announces before the upstream's usage comes (Anthropic's
     * message_start): the model's tokenizer over the client's body when one is loaded */
    const struct tokenizer *tk = native ? NULL : tokenizer_for_model(r->upstream_model);
    int64_t counted = tk && r->body.len ? tokenizer_count_request(tk, r->body.data, r->body.len) : -1;
    format_stream_init(&r->fs, r->client, r->upstream, r->rq.model, counted >= 0 ? counted : r->rq.prompt_estimate,
                       r->rq.client_wants_usage, now_unix());
    r->fs.f.tokens = settle_count_restart(r);   /* this attempt's text, by the model's tokenizer */
  }

  if (ch->vertex) {
    /* Vertex AI: its URL, Claude's body, the cached access token (vertex.h); without a token the
     * attempt ends as if the upstream had answered (401 a refused key, 503 none yet): it fails over */
    struct curl_slist *vh = NULL;
    int vs = vertex_attempt(ch->vertex, ch->base_url, r->up_headers ? r->up_headers : ch->headers,
                            r->upstream_model, r->rq.stream, &r->up_body, &r->up_len, plain, plain_len, url,
                            sizeof url, &vh, err, sizeof err);
    if (vs < 0) {
      refuse_attempt(r, err);
      return;
    }
    if (vs > 0) {
      no_call(r, vs, err);
      return;
    }
    curl_slist_free_all(r->up_headers);
    r->up_headers = vh;
  } else if (channel_url(ch, path, r->upstream_model, url, sizeof url, err, sizeof err) < 0) {
    refuse_attempt(r, err);
    return;
  }
  if (r->upstream->ops->sign) {      /* a signature of this very request (Bedrock's SigV4) */
    struct curl_slist *signed_h = r->upstream->ops->sign(r->up_headers ? r->up_headers : ch->headers, ch->key,
                                                         ch->region, url, r->up_body ? r->up_body : plain,
                                                         r->up_body ? r->up_len : plain_len, now_unix(), err,
                                                         sizeof err);
    if (!signed_h) {
      refuse_attempt(r, err);
      return;
    }
    curl_slist_free_all(r->up_headers);
    r->up_headers = signed_h;
  }

  /* a handle kept configured from an earlier attempt (not reset: worker_easy_get_kept): the
   * options below that vary are set on every attempt, the constant ones on a fresh handle only */
  bool fresh;
  CURL *e = worker_easy_get_kept(w, &fresh);
  r->easy = e;
  r->easy_kept = true;
  stats_channel_busy(worker_stats(w), ch->id, +1);
  r->t_upstream_us = now_us_mono();
  if (fresh) {
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_upstream_data);
    /* ask for no compression (the channel's "Accept-Encoding: identity" line, SNAP_BASE_HEADERS:
     * curl then sends no header of its own) but decode an answer compressed anyway (gzip,
     * deflate, br, zstd): relay reads usage from it and never forwards a Content-Encoding; an
     * encoding curl cannot decode fails the attempt (CURLE_BAD_CONTENT_ENCODING) */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity");
    if (environment_has_no_proxy())
      curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CURLU, worker_url(w, url));   /* NULL: curl parses url */
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->up_body ? r->up_body : plain);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->up_body ? r->up_len : plain_len));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->up_headers ? r->up_headers : chh);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  /* connect (name resolution included) is curl's timeout; first byte, idle and total are
   * relay_tick's, so each can say which limit ended the call (set each time: a reload changes it) */
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)worker_cfg(w)->connect_timeout_ms);
  /* both ways each time: the handle's previous attempt may have been the other kind */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, r->rq.stream ? STREAM_CURL_BUFFER : (long)CURL_MAX_WRITE_SIZE);
  atomic_fetch_add_explicit(&worker_counters(w)->relayed_total, 1, memory_order_relaxed);
  CURLMcode mc = curl_multi_add_handle(worker_multi(w), e);
  if (mc != CURLM_OK) {
    log_msg(LOG_ERR, "curl_multi_add_handle failed", "error=\"%s\"", curl_multi_strerror(mc));
    /* reported as a connect failure through the normal completion path */
    relay_on_upstream_done(r, CURLE_FAILED_INIT);
  }
}

/* A connect failure (timeout included) or a 429/5xx may go to another channel; a call that timed
 * out after connecting, or that relay cut (r->fault), may not. */
static bool retryable(const struct request *r, CURLcode res, long status)
{
  if (r->fault || r->timeout_kind)
    return false;
  if (res != CURLE_OK)
    return res != CURLE_WRITE_ERROR;
  /* 401/402/403 or another account error (Anthropic's no-credit 400, Gemini's API_KEY_INVALID
   * 400): the channel's key or account failed, not the client: another channel may serve */
  if (r->attempt_outcome == OUTCOME_ACCOUNT)
    return true;
  return status == 429 || status == 401 || status == 402 || status == 403 || (status >= 500 && status != 504);
}

static void upstream_message(struct request *r, char *out, size_t n);

/* The channel's side of a stream that started (2xx): its first error event says what it was;
 * otherwise it succeeded when its format's own end came: message_stop (Anthropic, native or
 * converted), a finishReason (Gemini), [DONE] (OpenAI), response.completed (Responses API). */
static enum health_outcome stream_outcome(const struct request *r, char *detail, size_t n)
{
  if (r->stream_health != OUTCOME_OK) {
    snprintf(detail, n, "%s", r->stream_detail);
    return r->stream_health;
  }
  bool ended = r->fs.f.ended && !r->fs.f.failed;
  const char *want = r->upstream->end_event;
  snprintf(detail, n, "the stream ended early (no %s)", want);
  return ended ? OUTCOME_OK : OUTCOME_FAIL;
}

/* The channel's side of an ended attempt: its outcome for health, with a short description. */
static void report_attempt(struct request *r, CURLcode res)
{
  if (!r->held)
    return;
  char detail[200], up[160];
  enum health_outcome out;
  if (r->timeout_kind) {
    out = OUTCOME_FAIL;          /* relay's own connect / first-byte / idle / total timeouts */
    snprintf(detail, sizeof detail, "%s timeout", r->timeout_kind);
  } else if (r->fault) {
    out = OUTCOME_ABANDON;       /* relay cut the transfer itself */
    snprintf(detail, sizeof detail, "cut by relay");
  } else if (res != CURLE_OK) {
    out = res == CURLE_WRITE_ERROR ? OUTCOME_ABANDON : OUTCOME_FAIL;
    snprintf(detail, sizeof detail, "%s", curl_easy_strerror(res));
  } else if (r->committed) {
    out = stream_outcome(r, detail, sizeof detail);
  } else {
    if (r->errbody.data) {   /* the reason is stored and logged: an echoed key must not be in it */
      r->errbody.len = secret_redact(r->errbody.data, r->errbody.len, r->up_key);
      r->errbody.data[r->errbody.len] = '\0';
    }
    out = health_classify(r->up_status, r->errbody.data, r->errbody.len, r->snap->opt.disable_keywords);
    if (r->errbody.len) {
      upstream_message(r, up, sizeof up);
      snprintf(detail, sizeof detail, "HTTP %ld: %s", r->up_status, up);
    } else {
      /* every answered request comes here (a 2xx keeps no error body): the same text as above,
       * "HTTP <status>: (empty body)", without parsing nothing or printf */
      char num[24];
      size_t k = sizeof num;
      unsigned long long v = r->up_status < 0 ? 0 : (unsigned long long)r->up_status;
      do
        num[--k] = (char)('0' + v % 10);
      while ((v /= 10) && k);
      static const char tail[] = ": (empty body)";
      size_t nl = sizeof num - k;
      memcpy(detail, "HTTP ", 5);
      memcpy(detail + 5, num + k, nl);
      memcpy(detail + 5 + nl, tail, sizeof tail);
    }
  }
  r->attempt_outcome = out;
  if (out == OUTCOME_FAIL || out == OUTCOME_ACCOUNT)   /* the channel's own count, retried or not */
    stats_attempt_failed(worker_stats(r->w), r->channel->id);
  /* a key of a pool fails alone: the channel hears of it only when it was its last key */
  release_channel(r, keypool_outcome(r->channel, r->pkey, &r->snap->opt, out, detail), detail);
}

static void upstream_message(struct request *r, char *out, size_t n)
{
  cJSON *j = cJSON_ParseWithLength(r->errbody.data ? r->errbody.data : "", r->errbody.len);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "message");
  if (!cJSON_IsString(m))         /* AWS's error shape: {"message": "..."} */
    m = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (cJSON_IsString(m))
    snprintf(out, n, "%s", m->valuestring);
  else
    snprintf(out, n, "%.200s", r->errbody.len ? r->errbody.data : "(empty body)");
  cJSON_Delete(j);
}

/* The last attempt failed before anything reached the client: tell the client why. */
static void fail_upstream(struct request *r, CURLcode res)
{
  char msg[1024], up[600];
  unsigned status;
  struct MHD_Response *resp;
  if (r->refused) {
    /* relay's own refusal (the channel cannot take this request): worded as relay's, in the
     * client's format, and no upstream error (no upstream was asked) */
    r->refused = false;
    upstream_message(r, up, sizeof up);
    snprintf(msg, sizeof msg, "relay cannot send this request to channel %lld: %s.", (long long)r->channel->id, up);
    resp = error_response(r, 400, "invalid_request_error", "unsupported_by_channel", NULL, msg);
    r->final_status = 400;
    settle(r, "refused");
    respond_later(r, 400, resp);
    return;
  }
  atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
  if (r->errbody.data) {   /* upstreams echo the key they got: it never reaches the client */
    r->errbody.len = secret_redact(r->errbody.data, r->errbody.len, r->up_key);
    r->errbody.data[r->errbody.len] = '\0';
  }
  if (res != CURLE_OK) {
    status = res == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
    upstream_failure_text(r, res, msg, sizeof msg);
    resp = error_response(r, status, "upstream_error",
                          status == 504 ? "upstream_timeout"
                          : r->fault    ? "bad_upstream_body"
                                        : "upstream_unreachable",
                          NULL, msg);
  } else if (r->up_status >= 500) {
    upstream_message(r, up, sizeof up);
    /* an overloaded upstream (503, Anthropic's 529) is the client's 503 in its own format (Gemini:
     * UNAVAILABLE, what Google answers then); a client of the channel's own format keeps 529 */
    bool overloaded = r->up_status == 503 || r->up_status == 529;
    status = r->up_status == 504                                       ? 504
             : overloaded && r->up_status == 529 && r->upstream == r->client ? 529
             : overloaded                                              ? 503
                                                                       : 502;
    snprintf(msg, sizeof msg, "The upstream of channel %lld answered %ld: %s", (long long)r->channel->id,
             r->up_status, up);
    resp = error_response(r, status, "upstream_error", "bad_upstream_status", NULL, msg);
  } else if (r->up_status >= 400) {
    /* a client error the upstream saw (context too long, bad parameter): pass it on as it is */
    status = (unsigned)r->up_status;
    upstream_message(r, up, sizeof up);
    struct buf b = r->errbody;
    buf_init(&r->errbody, ERRBODY_MAX);
    cJSON *j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
    bool is_error = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"));
    cJSON_Delete(j);
    /* an error body in the client's own format goes as it is */
    if (is_error && format_native(r->client, r->upstream)) {
      resp = json_response(r, &b);
    } else {
      buf_free(&b);
      snprintf(msg, sizeof msg, "The upstream answered %ld: %s", r->up_status, up);
      resp = error_response(r, status, "upstream_error", "bad_upstream_status", NULL, msg);
    }
  } else {
    status = 502;
    snprintf(msg, sizeof msg, "The upstream of channel %lld answered with status %ld.",
             (long long)r->channel->id, r->up_status);
    resp = error_response(r, status, "upstream_error", "bad_upstream_status", NULL, msg);
  }
  if (r->retry_after[0] && (status == 429 || status == 503))
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, r->retry_after);
  r->final_status = (int)status;
  settle(r, res == CURLE_OPERATION_TIMEDOUT ? "timeout" : "upstream_error");
  respond_later(r, status, resp);
}

void relay_on_upstream_done(struct request *r, CURLcode res)
{
  if (!r->status_known && r->easy && res == CURLE_OK) {
    /* an answer without a body never reached on_upstream_data */
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->up_status);
    r->status_known = r->up_status != 0;
  }
  report_attempt(r, res);
  if (!r->committed && r->resp.data) {   /* a whole answer that may quote the key: never passed on */
    r->resp.len = health_redact(r->resp.data, r->resp.len, r->up_key);
    r->resp.data[r->resp.len] = '\0';
  }
  r->retry_after[0] = '\0';
  struct curl_header *h;
  if (r->easy && (r->up_status == 429 || r->up_status == 503) &&
      curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h->value &&
      strlen(h->value) < sizeof r->retry_after && !strpbrk(h->value, "\r\n"))
    copy_str(r->retry_after, sizeof r->retry_after, h->value);
  detach_upstream(r);
  if (r->committed) {
    finish_stream(r, res);
    return;
  }
  if (res == CURLE_OK && r->up_status >= 200 && r->up_status < 300) {
    finish_nonstream(r);
    return;
  }
  if (retryable(r, res, r->up_status) && r->attempts - r->fb_base <= r->snap->opt.retry_times &&
      r->attempts < MAX_ATTEMPTS && !worker_stopping(r->w)) {
    struct choice_miss miss;
    const struct snap_channel *next = choose_channel(r, &miss);
    if (next) {
      log_msg(LOG_INFO, "retrying on another channel", "request_id=%s failed_channel=%lld status=%ld "
              "curl=%d next_channel=%lld", r->request_id, (long long)r->channel->id, r->up_status,
              (int)res, (long long)next->id);
      start_attempt(r, next);
      return;
    }
  }
  const struct snap_channel *fb = fallback_next(r, res);   /* its chain's next model: nothing went out */
  if (fb) {
    start_attempt(r, fb);
    return;
  }
  fail_upstream(r, res);
}
