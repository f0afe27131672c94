/* stream: see stream.h. */
#include "stream.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "adapt.h"
#include "log.h"
#include "request.h"
#include "respond.h"
#include "settle.h"
#include "sse.h"

/* MHD allocates this much with every callback response but fills chunked responses from the
 * connection's own pool, so a large value only costs memory per open stream */
#define STREAM_BLOCK 2048

static void stream_event(struct request *r, const char *ev, size_t evlen)
{
  const char *data;
  size_t dlen;
  if (r->def->media) {
    /* a Responses API stream: named events, relayed as they come; the last carries the usage */
    if (sse_event_data(ev, evlen, &data, &dlen) == 0 && media_responses_event(data, dlen, &r->mres))
      r->saw_done = true;
    r->saw_error_event |= r->mres.error_event;    /* relay adds no error event of its own after it */
    if (buf_append(&r->out, ev, evlen) < 0)
      log_msg(LOG_WARN, "stream output buffer full, event dropped", "request_id=%s", r->request_id);
    return;
  }
  if (sse_event_data(ev, evlen, &data, &dlen) == 0) {
    if (dlen >= 6 && memcmp(data, "[DONE]", 6) == 0) {
      r->saw_done = true;
    } else {
      /* every event is parsed: usage, text and errors are read from the JSON, never by bytes */
      cJSON *j = cJSON_ParseWithLength(data, dlen);
      const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
      const cJSON *uo = cJSON_GetObjectItemCaseSensitive(j, "usage");
      bool has_usage = cJSON_IsObject(uo);
      /* an anthropic or gemini channel's usage is read from its own events (upstream_event) */
      if (has_usage && !r->native_attempt && (r->channel->api == UPSTREAM_OPENAI || r->channel->api == UPSTREAM_AZURE)) {
        struct usage u;
        oai_parse_usage(uo, &u);
        r->usage = u;
        r->usage_upstream = true;
        r->usage_final = true;       /* OpenAI sends it once, in the last chunk */
      }
      r->completion_chars += adapt_text_chars(choices);
      r->saw_error_event |= cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"));
      /* the chunk relay asked for on the client's behalf: usage and no choices */
      bool usage_only = has_usage && (!choices || (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0));
      cJSON_Delete(j);
      if (usage_only && !r->rq.client_wants_usage)
        return;         /* the client did not ask for it: relay asked for billing's sake */
    }
  }
  if (client_api(r) != CLIENT_OPENAI) {
    char err[256];
    if (sse_event_data(ev, evlen, &data, &dlen) == 0 &&
        (speaks_claude(r) ? claude_stream_from_openai_feed(&r->claude_out, data, dlen, &r->out, err, sizeof err)
                          : gemini_stream_from_openai_feed(&r->gemini_out, data, dlen, &r->out, err, sizeof err)) < 0)
      log_msg(LOG_WARN, "an upstream event could not be converted, dropped", "request_id=%s error=\"%s\"",
              r->request_id, err);
    return;
  }
  if (buf_append(&r->out, ev, evlen) < 0)
    log_msg(LOG_WARN, "stream output buffer full, event dropped", "request_id=%s", r->request_id);
}

/* Relays the OpenAI events an adapter wrote into r->converted. */
static void relay_converted(struct request *r)
{
  size_t off = 0, l;
  while ((l = sse_event_len(r->converted.data + off, r->converted.len - off)) > 0) {
    stream_event(r, r->converted.data + off, l);
    off += l;
  }
}

/* One event of a native stream (Anthropic events to an Anthropic client, Gemini frames to a Gemini
 * client): relayed as it came; billing reads the usage in it (Anthropic: message_start and
 * message_delta; Gemini: usageMetadata), and the closing event is noted. Only events that can carry
 * these are parsed. */
static void native_event(struct request *r, const char *ev, size_t evlen)
{
  const char *data;
  size_t dlen;
  if (sse_event_data(ev, evlen, &data, &dlen) == 0) {
    cJSON *j = cJSON_ParseWithLength(data, dlen);
    if (speaks_claude(r)) {
      /* the data's own "type" names the event (the "event:" line repeats it) */
      const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
      const char *ty = cJSON_IsString(type) ? type->valuestring : "";
      if (strcmp(ty, "message_start") == 0 || strcmp(ty, "message_delta") == 0) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(msg ? msg : j, "usage");
        if (cJSON_IsObject(u)) {
          claude_read_usage(u, &r->usage);
          r->usage_upstream = true;
          r->usage_final = strcmp(ty, "message_delta") == 0;   /* output_tokens: the total so far */
        }
      } else if (strcmp(ty, "content_block_delta") == 0) {
        r->completion_chars += adapt_text_chars(cJSON_GetObjectItemCaseSensitive(j, "delta"));
      }
      bool stop = strcmp(ty, "message_stop") == 0, error = strcmp(ty, "error") == 0;
      if (stop || error) {
        r->native_done = true;
        r->native_error = error;
      }
    } else {
      const cJSON *candidates = cJSON_GetObjectItemCaseSensitive(j, "candidates");
      r->completion_chars += adapt_text_chars(candidates);
      const cJSON *c0 = cJSON_GetArrayItem(candidates, 0);
      bool finished = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c0, "finishReason"));
      const cJSON *um = cJSON_GetObjectItemCaseSensitive(j, "usageMetadata");
      if (cJSON_IsObject(um)) {
        gemini_read_usage(um, &r->usage);
        r->usage_upstream = true;
        r->usage_final = finished;     /* earlier frames carry running counts */
      }
      if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"))) {
        r->native_done = true;
        r->native_error = true;
      }
      if (finished)
        r->native_done = true;
    }
    cJSON_Delete(j);
  }
  if (buf_append(&r->out, ev, evlen) < 0)
    log_msg(LOG_WARN, "stream output buffer full, event dropped", "request_id=%s", r->request_id);
}

/* One whole event from the upstream: an anthropic or gemini channel's is first turned into OpenAI
 * chunks. */
void upstream_event(struct request *r, char *ev, size_t evlen)
{
  /* the single point every upstream event passes (native, OpenAI, or converted after): the key is
   * redacted from it before any of it can reach the client, and an error event is noted for the
   * channel's health */
  evlen = health_redact(ev, evlen, r->channel->key);
  if (r->stream_health == OUTCOME_OK)
    r->stream_health = health_stream_event(ev, evlen, r->snap->opt.disable_keywords, r->stream_detail,
                                           sizeof r->stream_detail);
  if (r->native_attempt) {
    native_event(r, ev, evlen);
    return;
  }
  if (r->channel->api == UPSTREAM_OPENAI || r->channel->api == UPSTREAM_AZURE) {
    stream_event(r, ev, evlen);
    return;
  }
  const char *name, *data;
  size_t nlen, dlen;
  char event[64], err[256];
  if (sse_event_data(ev, evlen, &data, &dlen) < 0)
    return;                       /* comments and keep-alives */
  event[0] = '\0';
  if (sse_event_field(ev, evlen, "event", &name, &nlen) == 0 && nlen < sizeof event) {
    memcpy(event, name, nlen);
    event[nlen] = '\0';
  }
  buf_reset(&r->converted);
  int rc = r->channel->api == UPSTREAM_GEMINI
               ? gemini_stream_to_openai_feed(&r->gemini_in, data, dlen, &r->converted, err, sizeof err)
               : claude_stream_to_openai_feed(&r->claude_in, event[0] ? event : NULL, data, dlen,
                                              &r->converted, err, sizeof err);
  if (rc < 0) {
    log_msg(LOG_WARN, "an upstream event could not be converted, dropped", "request_id=%s error=\"%s\"",
            r->request_id, err);
    return;
  }
  /* billing reads the channel's own usage (with its cache writes), kept by the converter */
  const struct usage *cu = r->channel->api == UPSTREAM_GEMINI ? &r->gemini_in.usage : &r->claude_in.usage;
  if (cu->prompt_tokens || cu->completion_tokens || cu->bad) {
    r->usage = *cu;
    r->usage_upstream = true;
    r->usage_final = (r->channel->api == UPSTREAM_GEMINI ? r->gemini_in.finish_reason : r->claude_in.finish_reason) != NULL;
  }
  relay_converted(r);
}

void wake_reader(struct request *r)
{
  if (r->reader_waiting) {
    r->reader_waiting = false;
    r->suspended = false;
    worker_resume(r->w, r->conn);
  }
}

/* An error event in the client's stream format (the stream cannot get a status any more). */
void stream_error_event(struct request *r, const char *code, const char *msg)
{
  if (speaks_claude(r)) {
    claude_error_event(&r->out, 502, msg);
  } else if (client_api(r) == CLIENT_GEMINI) {
    gemini_error_event(&r->out, 502, msg);
  } else if (r->def->media) {          /* the Responses API's error event */
    struct buf e;
    buf_init(&e, 2048);
    buf_append_str(&e, "event: error\ndata: {\"type\":\"error\",\"code\":");
    buf_append_json_str(&e, code);
    buf_append_str(&e, ",\"message\":");
    buf_append_json_str(&e, msg);
    buf_append_str(&e, ",\"param\":null}\n\n");
    buf_append(&r->out, e.data, e.len);
    buf_free(&e);
  } else {
    struct buf e;
    buf_init(&e, 2048);
    buf_append_str(&e, "data: {\"error\":{\"message\":");
    buf_append_json_str(&e, msg);
    buf_append_str(&e, ",\"type\":\"upstream_error\",\"param\":null,\"code\":");
    buf_append_json_str(&e, code);
    buf_append_str(&e, "}}\n\n");
    buf_append(&r->out, e.data, e.len);
    buf_free(&e);
  }
}

/* The upstream's own error event already reached an OpenAI client (as is, or converted from an
 * Anthropic or Gemini stream): one error event is enough, the stream ends after it. */
static bool upstream_error_relayed(const struct request *r)
{
  if (r->channel->api == UPSTREAM_ANTHROPIC)
    return r->claude_in.failed;
  if (r->channel->api == UPSTREAM_GEMINI)
    return r->gemini_in.failed;
  return r->saw_error_event;
}

void finish_stream(struct request *r, CURLcode res)
{
  if (r->native_attempt) {
    /* a native stream that ended without its closing event gets one error event in its format */
    if (res != CURLE_OK || !r->native_done) {
      char msg[600], why[512];
      if (res != CURLE_OK)
        upstream_failure_text(r, res, why, sizeof why);
      else
        snprintf(why, sizeof why, "%s", speaks_claude(r) ? "no message_stop event." : "no finishReason.");
      snprintf(msg, sizeof msg, "The upstream stream ended early: %s", why);
      stream_error_event(r, res == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "stream_interrupted", msg);
      atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
    }
    r->upstream_done = true;
    r->end_reason = res == CURLE_OK && r->native_done && !r->native_error ? "done"
                    : res == CURLE_OPERATION_TIMEDOUT ? "timeout" : "upstream_error";
    wake_reader(r);
    return;
  }
  /* a Gemini stream has no [DONE]: the end of its body closes the converted stream */
  if (r->channel->api == UPSTREAM_GEMINI && res == CURLE_OK && !r->saw_done) {
    buf_reset(&r->converted);
    if (gemini_stream_to_openai_finish(&r->gemini_in, &r->converted) == 0)
      relay_converted(r);
  }
  if (client_api(r) != CLIENT_OPENAI && (res != CURLE_OK || !r->saw_done)) {
    /* finish() closes a stream that got its finish_reason; anything else is an error event */
    bool closed = res == CURLE_OK &&
                  (speaks_claude(r) ? claude_stream_from_openai_finish(&r->claude_out, &r->out)
                                    : gemini_stream_from_openai_finish(&r->gemini_out, &r->out)) == 0;
    if (!closed) {
      char msg[600], why[512];
      if (res != CURLE_OK)
        upstream_failure_text(r, res, why, sizeof why);
      else
        snprintf(why, sizeof why, "no final event.");
      snprintf(msg, sizeof msg, "The upstream stream ended early: %s", why);
      stream_error_event(r, res == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "stream_interrupted", msg);
      atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
    }
  } else if ((res != CURLE_OK || !r->saw_done) && !upstream_error_relayed(r)) {
    char msg[600], why[512];
    if (res != CURLE_OK)
      upstream_failure_text(r, res, why, sizeof why);
    else
      snprintf(why, sizeof why, "%s", r->def->media ? "no response.completed event." : "no [DONE] event.");
    snprintf(msg, sizeof msg, "The upstream stream ended early: %s", why);
    stream_error_event(r, res == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "stream_interrupted", msg);
    atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
  }
  r->upstream_done = true;
  /* settled when the last byte has gone to the client (stream_reader), so the log's times
   * cover the whole response */
  r->end_reason = res == CURLE_OK && r->saw_done ? "done"
                  : res == CURLE_OPERATION_TIMEDOUT ? "timeout" : "upstream_error";
  wake_reader(r);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct request *r = cls;
  size_t avail = r->out.len - r->out_off;
  if (avail) {
    size_t n = avail < max ? avail : max;
    memcpy(buf, r->out.data + r->out_off, n);
    r->out_off += n;
    if (r->out_off == r->out.len) {
      buf_reset(&r->out);
      r->out_off = 0;
    }
    if (!r->t_first_us)
      r->t_first_us = now_us_mono();
    if (r->paused && r->easy && r->out.len - r->out_off < OUT_LOW) {
      r->paused = false;
      r->up_last_us = now_us_mono();   /* a paused upstream was not idle: its clock starts again */
      curl_easy_pause(r->easy, CURLPAUSE_CONT);
    }
    return (ssize_t)n;
  }
  if (r->upstream_done) {
    settle(r, r->end_reason ? r->end_reason : "done");
    return MHD_CONTENT_READER_END_OF_STREAM;
  }
  r->reader_waiting = true;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  return 0;
}

enum MHD_Result start_stream_response(struct request *r)
{
  struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                                stream_reader, r, NULL);
  MHD_add_response_header(resp, "Content-Type", "text/event-stream");
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  add_common_headers(r, resp);
  r->phase = PH_STREAMING;
  r->final_status = (int)r->up_status;
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->up_status, resp);
  MHD_destroy_response(resp);
  return ret;
}
