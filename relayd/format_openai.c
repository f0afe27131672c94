/* format_openai: the OpenAI chat format behind struct format (format.h): the common form itself, so
 * it converts nothing; it reads client requests (openai.c), writes the upstream body only when relay
 * must change it, and has OpenAI's error shapes and chunk reading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "format.h"
#include "formats.h"
#include "reqfit.h"

static int read_request(enum api_kind api, const char *body, size_t len, const char *model, bool stream,
                        cJSON **root, struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  (void)model, (void)stream;
  *root = oai_parse_request(api, body, len, rq, err, errlen, param);
  return *root ? 0 : 400;
}

/* {"error":{"message","type","param","code"}} */
static void error_body(struct buf *b, int status, const char *type, const char *code, const char *param,
                       const char *msg)
{
  (void)status;
  buf_append_str(b, "{\"error\":{\"message\":");
  buf_append_json_str(b, msg);
  buf_append_str(b, ",\"type\":");
  buf_append_json_str(b, type);
  buf_append_str(b, ",\"param\":");
  if (param)
    buf_append_json_str(b, param);
  else
    buf_append_str(b, "null");
  buf_append_str(b, ",\"code\":");
  if (code)
    buf_append_json_str(b, code);
  else
    buf_append_str(b, "null");
  buf_append_str(b, "}}");
}

static void error_event(struct buf *out, int status, const char *code, const char *msg)
{
  struct buf e;
  buf_init(&e, 2048);
  buf_append_str(&e, "data: ");
  error_body(&e, status, "upstream_error", code, NULL, msg);
  buf_append_str(&e, "\n\n");
  buf_append(out, e.data, e.len);
  buf_free(&e);
}

static int write_request(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen,
                         char *err, size_t errlen)
{
  (void)err, (void)errlen;
  if (pathlen)
    path[0] = '\0';             /* the endpoint's own path */
  /* a request converted from another client format is fitted to the model (reqfit.h) on a copy:
   * a retry on another channel starts again from the common form */
  cJSON *fit = q->native ? NULL : cJSON_Duplicate(q->root, 1);
  cJSON *root = fit ? fit : q->root;
  if (q->rs)
    reasoning_apply(root, RS_FMT_OPENAI, q->rs);
  bool changed = reqfit_openai(fit, q->upstream_model);
  /* a stream's forced include_usage spliced into the client's own bytes (those q->rq was parsed
   * from: native only) where nothing else changes (a print of the whole tree was ~11k Ir a stream
   * request, and rewrote the client's numbers) */
  *body = !q->native || q->rs || changed ? NULL
                                         : oai_usage_spliced(root, q->rq, q->upstream_model, q->body, q->body_len, len);
  if (!*body)
    *body = oai_upstream_body(root, q->rq, q->upstream_model, len);
  if (!*body && (q->rs || changed)) {
    cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(q->upstream_model));
    *body = cJSON_PrintUnformatted(root);
    *len = *body ? strlen(*body) : 0;
  }
  cJSON_Delete(fit);
  return 0;
}

static void read_usage(const cJSON *usage, struct usage *u)
{
  oai_parse_usage(usage, u);
}

static void read_answer(const cJSON *root, struct format_facts *f)
{
  format_read_answer(root, "usage", read_usage, "choices", f);
}


static void scan_event(const cJSON *j, struct format_facts *f)
{
  format_scan_chunk(j, f, true);
}

/* a Model object of GET /v1/models (https://platform.openai.com/docs/api-reference/models/object) */
static void model_entry(struct buf *b, const char *id)
{
  buf_append_str(b, "{\"id\":");
  buf_append_json_str(b, id);
  buf_append_str(b, ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"relay\"}");
}

static const struct format_ops openai_ops = {
    .read_request = read_request,
    .error_body = error_body,
    .error_event = error_event,
    .model_entry = model_entry,
    .write_request = write_request,
    .read_answer = read_answer,
    .scan_event = scan_event,
};

const struct format format_openai = {
    .name = "openai",
    .ops = &openai_ops,
    .reasoning = RS_FMT_OPENAI,
    .end_event = "[DONE]",
    .unended = "no [DONE] event.",
    .models_head = "{\"object\":\"list\",\"data\":[",
    .models_tail = "]}",
};
