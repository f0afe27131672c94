/* format_gemini: the Gemini generateContent format behind struct format (format.h); the
 * conversions are gemini.c's (a Gemini channel) and gemini_client.c's (a Gemini client). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "format.h"
#include "formats.h"
#include "gemini_client.h"
#include "reqfit.h"

static int read_request(enum api_kind api, const char *body, size_t len, const char *model, bool stream,
                        cJSON **root, struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  (void)api;
  *param = NULL;
  /* the request stays in its format: relay reads what it needs, converts only for another format;
   * the model and the stream flag come from the path */
  if (!(*root = format_parse_object(body, len, err, errlen)))
    return 400;
  if (gemini_request_info(*root, model, stream, rq, err, errlen) < 0) {
    cJSON_Delete(*root);
    *root = NULL;
    return 400;
  }
  return 0;
}

static void out_init(union format_out_state *st, const char *model, int64_t prompt_estimate)
{
  (void)prompt_estimate;   /* usageMetadata comes whole at the end */
  gemini_stream_from_openai_init(&st->gemini, model);
}

static int out_feed(union format_out_state *st, const cJSON *chunk, struct buf *out, char *err, size_t errlen)
{
  return gemini_stream_from_openai_chunk(&st->gemini, chunk, out, err, errlen);
}

static int out_finish(union format_out_state *st, struct buf *out)
{
  return gemini_stream_from_openai_finish(&st->gemini, out);
}

static void out_free(union format_out_state *st)
{
  gemini_stream_from_openai_free(&st->gemini);
}

static void error_body(struct buf *b, int status, const char *type, const char *code, const char *param,
                       const char *msg)
{
  (void)type, (void)code, (void)param;       /* google.rpc's status comes from the HTTP status */
  format_append_owned(b, gemini_error_body(status, msg));
}

static void error_event(struct buf *out, int status, const char *code, const char *msg)
{
  (void)code;
  gemini_error_event(out, status, msg);
}

static int write_request(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen,
                         char *err, size_t errlen)
{
  *body = NULL;
  *len = 0;
  if (q->api == API_EMBEDDINGS)
    return gemini_embed_request(q, body, len, path, pathlen, err, errlen);
  if (q->api != API_CHAT) {
    adapt_set_err(err, errlen, "a gemini channel serves only chat and embeddings requests");
    return -1;
  }
  /* Gemini names the model in the path */
  if (gemini_model_path(path, pathlen, q->upstream_model, q->rq->stream) < 0) {
    adapt_set_err(err, errlen, "the model name cannot be used in a Gemini URL");
    return -1;
  }
  if (q->native) {            /* the body goes as it came, but for a reasoning suffix */
    if (q->rs) {
      reasoning_apply_model(q->root, RS_FMT_GEMINI, q->rs, q->upstream_model);
      *body = cJSON_PrintUnformatted(q->root);
    }
  } else {
    if (!(*body = gemini_request_from_openai(q->root, err, errlen)))
      return -1;
    reqfit_body(body, q->root, RS_FMT_GEMINI, q->rs, q->upstream_model);
  }
  *len = *body ? strlen(*body) : 0;
  return 0;
}

/* A whole answer: an embeddings one (Google's {"embeddings"} or {"embedding"}, no candidates) is
 * OpenAI's embeddings list, any other a chat completion. */
static char *response_to_openai(const char *body, size_t len, const char *model, int64_t created, struct usage *u,
                                char *err, size_t errlen)
{
  cJSON *j = cJSON_ParseWithLength(body, len);   /* owned here */
  bool embed = cJSON_IsObject(j) && !cJSON_GetObjectItemCaseSensitive(j, "candidates") &&
               (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "embeddings")) ||
                cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "embedding")));
  char *s = NULL;
  if (embed) {
    memset(u, 0, sizeof *u);
    s = gemini_embed_to_openai(j, model, err, errlen);
  }
  cJSON_Delete(j);
  return embed ? s : gemini_response_to_openai(body, len, model, created, u, err, errlen);
}

static void read_answer(const cJSON *root, struct format_facts *f)
{
  format_read_answer(root, "usageMetadata", gemini_read_usage, "candidates", f);
}

static void in_init(union format_in_state *st, const char *model, int64_t created)
{
  gemini_stream_to_openai_init(&st->gemini, model, true, created);
}

static int in_feed(union format_in_state *st, const char *event, const char *data, size_t len,
                   struct buf *out, char *err, size_t errlen)
{
  (void)event;         /* Gemini's frames have no names */
  return gemini_stream_to_openai_feed(&st->gemini, data, len, out, err, errlen);
}

static int in_finish(union format_in_state *st, struct buf *out)
{
  return gemini_stream_to_openai_finish(&st->gemini, out);
}

static void in_facts(const union format_in_state *st, struct format_facts *f)
{
  /* billing reads the channel's own usage, kept by the converter */
  const struct usage *cu = &st->gemini.usage;
  if (cu->prompt_tokens || cu->completion_tokens || cu->bad) {
    f->usage = *cu;
    f->usage_found = true;
    f->usage_final = st->gemini.finish_reason != NULL;
  }
  f->ended = st->gemini.finish_reason != NULL;
  f->failed = st->gemini.failed;
}

/* usageMetadata comes in every frame (running counts until the one with a finishReason) */
static void scan_event(const cJSON *j, struct format_facts *f)
{
  const cJSON *candidates = cJSON_GetObjectItemCaseSensitive(j, "candidates");
  format_count_text(f, candidates);
  const cJSON *c0 = cJSON_GetArrayItem(candidates, 0);
  bool finished = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c0, "finishReason"));
  /* a blocked prompt: promptFeedback.blockReason and no candidates is Google's whole answer
   * (https://ai.google.dev/api/generate-content#PromptFeedback), its stream's end, no failure */
  const cJSON *pf = cJSON_GetObjectItemCaseSensitive(j, "promptFeedback");
  if (!c0 && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(pf, "blockReason")))
    finished = true;
  const cJSON *um = cJSON_GetObjectItemCaseSensitive(j, "usageMetadata");
  if (cJSON_IsObject(um)) {
    gemini_read_usage(um, &f->usage);
    f->usage_found = true;
    f->usage_final = finished;
  }
  if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error")))
    f->failed = true;
  if (finished)
    f->ended = true;
}

/* a Model resource of GET /v1beta/models (https://ai.google.dev/api/models#Model): "models/ID" and
 * the methods relay serves for it */
static void model_entry(struct buf *b, const char *id)
{
  buf_append_str(b, "{\"name\":");
  char name[MODEL_NAME_MAX + 8];
  snprintf(name, sizeof name, "models/%s", id);
  buf_append_json_str(b, name);
  buf_append_str(b, ",\"baseModelId\":");
  buf_append_json_str(b, id);
  buf_append_str(b, ",\"version\":\"relay\",\"displayName\":");
  buf_append_json_str(b, id);
  buf_append_str(b, ",\"description\":\"served by relay\",\"supportedGenerationMethods\":"
                    "[\"generateContent\",\"streamGenerateContent\",\"countTokens\"]}");
}

static const struct format_ops gemini_ops = {
    .model_entry = model_entry,
    .parse_path = gemini_parse_path,
    .read_request = read_request,
    .request_to_openai = gemini_request_to_openai,
    .response_from_openai = gemini_response_from_openai,
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
    .in_finish = in_finish,
    .in_facts = in_facts,
    .scan_event = scan_event,
};

const struct format format_gemini = {
    .name = "gemini",
    .ops = &gemini_ops,
    .reasoning = RS_FMT_GEMINI,
    .end_event = "finishReason",
    .unended = "no finishReason.",
    .key_header = "x-goog-api-key",
    .key_query = "key",
    .path_usage = "/v1beta/models/MODEL:generateContent, :streamGenerateContent or :countTokens",
    .models_head = "{\"models\":[",
    .models_tail = "]}",
    .stream_json_array = true,
    .model_prefix = "models/",
    .count_tokens_key = "totalTokens",   /* https://ai.google.dev/api/tokens#response-body */
};
