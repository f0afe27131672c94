/* format_claude: the Anthropic Messages format behind struct format (format.h); the conversions
 * are claude.c's (an Anthropic channel) and claude_client.c's (an Anthropic client). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "claude_client.h"
#include "format.h"
#include "formats.h"
#include "reqfit.h"

static int read_request(enum api_kind api, const char *body, size_t len, const char *model, bool stream,
                        cJSON **root, struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  (void)api, (void)model, (void)stream;
  *param = NULL;
  /* the request stays in its format: relay reads what it needs, converts only for another format */
  if (!(*root = format_parse_object(body, len, err, errlen)))
    return 400;
  if (claude_request_info(*root, rq, err, errlen) < 0) {
    cJSON_Delete(*root);
    *root = NULL;
    return 400;
  }
  return 0;
}

static char *request_to_openai(const cJSON *root, const char *model, bool stream, char *err, size_t errlen)
{
  (void)stream;        /* the body says it */
  return claude_request_to_openai(root, model, err, errlen);
}

static void out_init(union format_out_state *st, const char *model, int64_t prompt_estimate)
{
  claude_stream_from_openai_init(&st->claude, model, prompt_estimate);
}

static int out_feed(union format_out_state *st, const cJSON *chunk, struct buf *out, char *err, size_t errlen)
{
  return claude_stream_from_openai_chunk(&st->claude, chunk, out, err, errlen);
}

static int out_finish(union format_out_state *st, struct buf *out)
{
  return claude_stream_from_openai_finish(&st->claude, out);
}

static void error_body(struct buf *b, int status, const char *type, const char *code, const char *param,
                       const char *msg)
{
  (void)type, (void)code, (void)param;       /* Anthropic's error type comes from the status */
  format_append_owned(b, claude_error_body(status, msg));
}

static void error_event(struct buf *out, int status, const char *code, const char *msg)
{
  (void)code;
  claude_error_event(out, status, msg);
}

static int write_request(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen,
                         char *err, size_t errlen)
{
  *body = NULL;
  *len = 0;
  if (q->api != API_CHAT) {
    adapt_set_err(err, errlen, "an anthropic channel serves only chat requests");
    return -1;
  }
  snprintf(path, pathlen, "/v1/messages");
  if (q->native) {
    /* model mapping (or a stripped suffix) and a reasoning suffix: the only rewrites */
    if (strcmp(q->upstream_model, q->rq->model) == 0 && !q->rs)
      return 0;
    cJSON_ReplaceItemInObjectCaseSensitive(q->root, "model", cJSON_CreateString(q->upstream_model));
    if (q->rs)
      reasoning_apply(q->root, RS_FMT_CLAUDE, q->rs);
    *body = cJSON_PrintUnformatted(q->root);
  } else {
    if (!(*body = claude_request_from_openai(q->root, q->upstream_model, err, errlen)))
      return -1;
    reqfit_body(body, q->root, RS_FMT_CLAUDE, q->rs, q->upstream_model);
  }
  *len = *body ? strlen(*body) : 0;
  return 0;
}

static char *response_to_openai(const char *body, size_t len, const char *model, int64_t created,
                                struct usage *u, char *err, size_t errlen)
{
  (void)model;         /* the answer's own model is shown */
  return claude_response_to_openai(body, len, created, u, err, errlen);
}

static void read_answer(const cJSON *root, struct format_facts *f)
{
  format_read_answer(root, "usage", claude_read_usage, "content", f);
}

static void in_init(union format_in_state *st, const char *model, int64_t created)
{
  (void)model;         /* message_start names it */
  claude_stream_to_openai_init(&st->claude, true, created);
}

static int in_feed(union format_in_state *st, const char *event, const char *data, size_t len,
                   struct buf *out, char *err, size_t errlen)
{
  return claude_stream_to_openai_feed(&st->claude, event, data, len, out, err, errlen);
}

static void in_facts(const union format_in_state *st, struct format_facts *f)
{
  /* billing reads the channel's own usage (with its cache writes), kept by the converter */
  const struct usage *cu = &st->claude.usage;
  if (cu->prompt_tokens || cu->completion_tokens || cu->bad) {
    f->usage = *cu;
    f->usage_found = true;
    f->usage_final = st->claude.finish_reason != NULL;
  }
  f->ended = st->claude.finished;
  f->failed = st->claude.failed;
}

/* the data's own "type" names the event (the "event:" line repeats it); usage comes in message_start
 * (input and cache counts) and message_delta (the output so far) */
static void scan_event(const cJSON *j, struct format_facts *f)
{
  const char *ty = adapt_jstr(j, "type");
  ty = ty ? ty : "";
  if (strcmp(ty, "message_start") == 0 || strcmp(ty, "message_delta") == 0) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(msg ? msg : j, "usage");
    if (cJSON_IsObject(u)) {
      claude_read_usage(u, &f->usage);
      f->usage_found = true;
      f->usage_final = strcmp(ty, "message_delta") == 0;   /* output_tokens: the total so far */
    }
  } else if (strcmp(ty, "content_block_delta") == 0) {
    format_count_text(f, cJSON_GetObjectItemCaseSensitive(j, "delta"));
  }
  if (strcmp(ty, "message_stop") == 0) {
    f->ended = true;
    f->failed = false;
  } else if (strcmp(ty, "error") == 0) {
    f->ended = false;
    f->failed = true;
  }
}

static const struct format_ops claude_ops = {
    .read_request = read_request,
    .request_to_openai = request_to_openai,
    .response_from_openai = claude_response_from_openai,
    .out_init = out_init,
    .out_feed = out_feed,
    .out_finish = out_finish,
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

/* the features an Anthropic client opts into go with its request when it passes through */
static const char *const claude_pass_headers[] = {"anthropic-beta", NULL};

const struct format format_claude = {
    .name = "anthropic",
    .ops = &claude_ops,
    .reasoning = RS_FMT_CLAUDE,
    .end_event = "message_stop",
    .unended = "no message_stop event.",
    .request_id_header = "request-id",      /* what Anthropic's SDKs read */
    .pass_headers = claude_pass_headers,
    .count_tokens_key = "input_tokens",   /* https://docs.anthropic.com/en/api/messages-count-tokens */
};
