/* format_responses: the OpenAI Responses API (POST /v1/responses) behind struct format (format.h).
 * A Responses client of a channel that serves Responses (an OpenAI-style type that serves "media",
 * formats.c's format_of_channel) is native: its bytes go as they came (a mapped model and an effort
 * suffix aside) and its named events come back as they are; of any other channel it is converted
 * through the common form (responses_client.c). A channel that serves only Responses (the
 * responses type) behind a chat, Anthropic or Gemini client: responses.c. Shapes as the
 * official openai SDK declares them (openai-node src/resources/responses/responses.ts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "format.h"
#include "formats.h"
#include "responses.h"
#include "responses_client.h"

static int read_request(enum api_kind api, const char *body, size_t len, const char *model, bool stream,
                        cJSON **root, struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  (void)api, (void)model, (void)stream;
  *param = NULL;
  if (!(*root = format_parse_object(body, len, err, errlen)))
    return 400;
  if (responses_request_info(*root, rq, err, errlen, param) < 0) {
    cJSON_Delete(*root);
    *root = NULL;
    return 400;
  }
  return 0;
}

static char *request_to_openai(const cJSON *root, const char *model, bool stream, char *err, size_t errlen)
{
  (void)stream;        /* the body says it */
  return responses_request_to_openai(root, model, err, errlen);
}

static void out_init(union format_out_state *st, const char *model, int64_t prompt_estimate)
{
  (void)prompt_estimate;   /* response.created carries no usage */
  responses_stream_from_openai_init(&st->responses, model);
}

static int out_feed(union format_out_state *st, const cJSON *chunk, struct buf *out, char *err, size_t errlen)
{
  return responses_stream_from_openai_chunk(&st->responses, chunk, out, err, errlen);
}

static int out_finish(union format_out_state *st, struct buf *out)
{
  return responses_stream_from_openai_finish(&st->responses, out);
}

static void out_free(union format_out_state *st)
{
  responses_stream_from_openai_free(&st->responses);
}

/* The Responses API's errors are OpenAI's {"error":{"message","type","param","code"}} */
static void error_body(struct buf *b, int status, const char *type, const char *code, const char *param,
                       const char *msg)
{
  format_openai.ops->error_body(b, status, type, code, param, msg);
}

/* {"type":"error","code","message","param","sequence_number"} (ResponseErrorEvent); relay's own
 * comes after the stream's other events, whose numbers it does not know: 0 */
static void error_event(struct buf *out, int status, const char *code, const char *msg)
{
  (void)status;
  responses_error_event(out, 0, code, msg);
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int write_request(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen,
                         char *err, size_t errlen)
{
  *body = NULL;
  *len = 0;
  if (q->api != API_CHAT) {
    adapt_set_err(err, errlen, "a responses channel serves only chat and Responses requests");
    return -1;
  }
  snprintf(path, pathlen, "/v1/responses");
  if (!q->native) {
    if (!(*body = responses_request_from_openai(q->root, q->upstream_model, q->rs, err, errlen)))
      return -1;
    *len = strlen(*body);
    return 0;
  }
  /* an effort suffix stripped from the model (attempt.c) asks for that effort: reasoning.effort,
   * the client's other reasoning fields kept (issue #20) */
  const struct reasoning *rs = q->rs;
  bool effort = rs && rs->kind == RS_EFFORT && !ends_with(q->upstream_model, q->rq->model + rs->base_len);
  if (strcmp(q->upstream_model, q->rq->model) == 0 && !effort)
    return 0;                  /* the client's bytes */
  cJSON *root = cJSON_Duplicate(q->root, 1);   /* a retry starts again from the client's request */
  if (!root) {
    adapt_set_err(err, errlen, "out of memory");
    return -1;
  }
  cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(q->upstream_model));
  if (effort) {
    cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "reasoning");
    if (!cJSON_IsObject(r)) {
      cJSON_DeleteItemFromObjectCaseSensitive(root, "reasoning");
      r = cJSON_AddObjectToObject(root, "reasoning");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(r, "effort");
    cJSON_AddStringToObject(r, "effort", rs->effort);
  }
  *body = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!*body) {
    adapt_set_err(err, errlen, "out of memory");
    return -1;
  }
  *len = strlen(*body);
  return 0;
}

static void read_usage(const cJSON *usage, struct usage *u)
{
  responses_read_usage(usage, u);
}

static void read_answer(const cJSON *root, struct format_facts *f)
{
  format_read_answer(root, "usage", read_usage, "output", f);
}

static char *response_to_openai(const char *body, size_t len, const char *model, int64_t created,
                                struct usage *u, char *err, size_t errlen)
{
  (void)model;
  return responses_response_to_openai(body, len, created, u, err, errlen);
}

static void in_init(union format_in_state *st, const char *model, int64_t created)
{
  responses_stream_to_openai_init(&st->responses, model, created);
}

static int in_feed(union format_in_state *st, const char *event, const char *data, size_t len,
                   struct buf *out, char *err, size_t errlen)
{
  (void)event;         /* the data's own "type" names it */
  return responses_stream_to_openai_feed(&st->responses, data, len, out, err, errlen);
}

static void in_facts(const union format_in_state *st, struct format_facts *f)
{
  const struct responses_to_openai_stream *s = &st->responses;
  if (s->have_usage) {
    f->usage = s->usage;
    f->usage_found = true;
    f->usage_final = true;
  }
  f->ended = s->finished;
  f->failed = s->failed;
}

/* named events, the data's "type" repeating the name: text deltas counted; the usage, and the
 * stream's end, in response.completed (or .incomplete); an error in "error" or response.failed */
static void scan_event(const cJSON *j, struct format_facts *f)
{
  const char *ty = adapt_jstr(j, "type");
  ty = ty ? ty : "";
  if (!strcmp(ty, "response.output_text.delta") || !strcmp(ty, "response.reasoning_summary_text.delta") ||
      !strcmp(ty, "response.function_call_arguments.delta") || !strcmp(ty, "response.refusal.delta")) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delta");
    if (cJSON_IsString(d)) {
      cJSON *t = cJSON_CreateObject();      /* counted as text, by the model's tokenizer too */
      cJSON_AddStringToObject(t, "text", d->valuestring);
      format_count_text(f, t);
      cJSON_Delete(t);
    }
  } else if (!strcmp(ty, "response.completed") || !strcmp(ty, "response.incomplete") ||
             !strcmp(ty, "response.failed")) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "response"), "usage");
    if (cJSON_IsObject(u)) {
      responses_read_usage(u, &f->usage);
      f->usage_found = true;
      f->usage_final = true;
    }
    f->ended = strcmp(ty, "response.failed") != 0;
    f->failed = !f->ended;
  } else if (!strcmp(ty, "error")) {
    f->ended = false;
    f->failed = true;
  }
}

static const struct format_ops responses_ops = {
    .read_request = read_request,
    .request_to_openai = request_to_openai,
    .response_from_openai = responses_response_from_openai,
    .out_init = out_init,
    .out_feed = out_feed,
    .out_finish = out_finish,
    .out_free = out_free,
    .error_body = error_body,
    .error_event = error_event,
    .write_request = write_request,
    .response_to_openai = response_to_openai,
    .read_answer = read_answer,
    .in_init = in_init,
    .in_feed = in_feed,
    .in_facts = in_facts,
    .scan_event = scan_event,
};

const struct format format_responses = {
    .name = "responses",
    .ops = &responses_ops,
    .reasoning = RS_FMT_OPENAI,        /* effort suffixes only, written as reasoning.effort */
    .end_event = "response.completed",
    .unended = "no response.completed event.",
};
