/* format_embed: Gemini's embedContent and batchEmbedContents behind struct format
 * (format.h), for clients only: relay reads them and converts them to an OpenAI embeddings request
 * (POST /v1/embeddings on an OpenAI-style channel), and the answer back. Billed as embeddings
 * (the channel's usage.prompt_tokens). A Gemini channel refuses them (gemini's write_request
 * serves only chat). Shapes: https://ai.google.dev/api/embeddings (EmbedContentRequest {content:
 * {parts:[{text}]}, outputDimensionality}, EmbedContentResponse {embedding:{values}},
 * BatchEmbedContentsRequest {requests:[EmbedContentRequest]}, {embeddings:[{values}]}); OpenAI's
 * https://platform.openai.com/docs/api-reference/embeddings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "format.h"
#include "formats.h"
#include "gemini.h"

/* The text of one EmbedContentRequest (its content's text parts, joined), or NULL. Owned by the
 * caller. */
static char *content_text(const cJSON *req)
{
  const cJSON *parts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "content"), "parts");
  if (!cJSON_IsArray(parts))
    return NULL;
  struct buf b;
  buf_init(&b, (size_t)64 << 20);
  const cJSON *p;
  bool any = false;
  cJSON_ArrayForEach(p, parts) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
    if (!cJSON_IsString(t))
      continue;
    if ((any && buf_append_str(&b, "\n") < 0) || buf_append_str(&b, t->valuestring) < 0) {
      buf_free(&b);
      return NULL;
    }
    any = true;
  }
  if (!any) {
    buf_free(&b);
    return NULL;
  }
  char *s = strndup(b.data ? b.data : "", b.len);
  buf_free(&b);
  return s;
}

/* batch: the requests array, or NULL for a single embedContent (root itself) */
static int read_common(bool batch, const char *body, size_t len, const char *model, cJSON **root,
                       struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  *param = NULL;
  if (!(*root = format_parse_object(body, len, err, errlen)))
    return 400;
  const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(*root, "requests");
  size_t chars = 0;
  if (batch ? !cJSON_IsArray(reqs) || cJSON_GetArraySize(reqs) == 0 : false) {
    adapt_set_err(err, errlen, "requests: a non-empty array of EmbedContentRequest is required.");
    *param = "requests";
    goto bad;
  }
  for (const cJSON *r = batch ? reqs->child : *root; r; r = batch ? r->next : NULL) {
    char *t = content_text(r);
    if (!t) {
      adapt_set_err(err, errlen, "content.parts: every request needs a content with text parts.");
      *param = "content";
      goto bad;
    }
    chars += strlen(t);
    free(t);
  }
  memset(rq, 0, sizeof *rq);
  snprintf(rq->model, sizeof rq->model, "%s", model);
  rq->max_tokens = -1;
  rq->prompt_estimate = oai_tokens_from_chars(chars);
  return 0;
bad:
  cJSON_Delete(*root);
  *root = NULL;
  return 400;
}

static int read_single(enum api_kind api, const char *body, size_t len, const char *model, bool stream,
                       cJSON **root, struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  (void)api, (void)stream;
  return read_common(false, body, len, model, root, rq, err, errlen, param);
}

static int read_batch(enum api_kind api, const char *body, size_t len, const char *model, bool stream,
                      cJSON **root, struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  (void)api, (void)stream;
  return read_common(true, body, len, model, root, rq, err, errlen, param);
}

static char *to_openai(bool batch, const cJSON *root, const char *model, char *err, size_t errlen)
{
  cJSON *o = cJSON_CreateObject();   /* owned here */
  cJSON *input = cJSON_AddArrayToObject(o, "input");
  const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(root, "requests");
  const cJSON *dims = cJSON_GetObjectItemCaseSensitive(batch ? cJSON_GetArrayItem(reqs, 0) : root,
                                                       "outputDimensionality");
  cJSON_AddStringToObject(o, "model", model);
  for (const cJSON *r = batch ? reqs->child : root; input && r; r = batch ? r->next : NULL) {
    char *t = content_text(r);
    cJSON_AddItemToArray(input, cJSON_CreateString(t ? t : ""));
    free(t);
  }
  if (cJSON_IsNumber(dims) && dims->valuedouble >= 1)
    cJSON_AddNumberToObject(o, "dimensions", (double)(int64_t)dims->valuedouble);
  cJSON_AddStringToObject(o, "encoding_format", "float");
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s)
    adapt_set_err(err, errlen, "out of memory");
  return s;
}

static char *single_to_openai(const cJSON *root, const char *model, bool stream, char *err, size_t errlen)
{
  (void)stream;
  return to_openai(false, root, model, err, errlen);
}

static char *batch_to_openai(const cJSON *root, const char *model, bool stream, char *err, size_t errlen)
{
  (void)stream;
  return to_openai(true, root, model, err, errlen);
}

/* OpenAI's {"data":[{"index","embedding":[...]}],"usage"} -> Google's, data in index order */
static char *from_openai(bool batch, const char *body, size_t len, struct usage *u, char *err, size_t errlen)
{
  memset(u, 0, sizeof *u);
  cJSON *j = cJSON_ParseWithLength(body, len);   /* owned here */
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
  int n = cJSON_GetArraySize(data);
  if (!cJSON_IsArray(data) || n == 0 || (!batch && n != 1)) {
    cJSON_Delete(j);
    adapt_set_err(err, errlen, "the upstream's embeddings answer has no data");
    return NULL;
  }
  oai_parse_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), u);
  cJSON *o = cJSON_CreateObject();
  cJSON *list = batch ? cJSON_AddArrayToObject(o, "embeddings") : NULL;
  for (int i = 0; i < n; i++) {
    const cJSON *item = NULL, *d;
    cJSON_ArrayForEach(d, data) {
      const cJSON *idx = cJSON_GetObjectItemCaseSensitive(d, "index");
      if (cJSON_IsNumber(idx) ? idx->valueint == i : d == cJSON_GetArrayItem(data, i))
        item = d;
    }
    const cJSON *emb = cJSON_GetObjectItemCaseSensitive(item, "embedding");
    if (!cJSON_IsArray(emb)) {
      cJSON_Delete(o);
      cJSON_Delete(j);
      adapt_set_err(err, errlen, "the upstream's embedding %d is not an array of numbers", i);
      return NULL;
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "values", cJSON_Duplicate(emb, 1));
    if (batch)
      cJSON_AddItemToArray(list, e);
    else
      cJSON_AddItemToObject(o, "embedding", e);
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  cJSON_Delete(j);
  if (!s)
    adapt_set_err(err, errlen, "out of memory");
  return s;
}

static char *single_from_openai(const char *body, size_t len, const char *model, struct usage *u, char *err,
                                size_t errlen)
{
  (void)model;
  return from_openai(false, body, len, u, err, errlen);
}

static char *batch_from_openai(const char *body, size_t len, const char *model, struct usage *u, char *err,
                               size_t errlen)
{
  (void)model;
  return from_openai(true, body, len, u, err, errlen);
}

static void error_body(struct buf *b, int status, const char *type, const char *code, const char *param,
                       const char *msg)
{
  (void)type, (void)code, (void)param;
  format_append_owned(b, gemini_error_body(status, msg));
}

static void error_event(struct buf *out, int status, const char *code, const char *msg)
{
  (void)code;
  gemini_error_event(out, status, msg);
}

static int no_channel(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen, char *err,
                      size_t errlen)
{
  (void)q, (void)body, (void)len, (void)path, (void)pathlen;
  adapt_set_err(err, errlen, "no channel speaks Gemini's embedContent format");   /* never a channel's */
  return -1;
}

static const struct format_ops single_ops = {
    .read_request = read_single,
    .request_to_openai = single_to_openai,
    .response_from_openai = single_from_openai,
    .error_body = error_body,
    .error_event = error_event,
    .write_request = no_channel,
};

static const struct format_ops batch_ops = {
    .read_request = read_batch,
    .request_to_openai = batch_to_openai,
    .response_from_openai = batch_from_openai,
    .error_body = error_body,
    .error_event = error_event,
    .write_request = no_channel,
};

const struct format format_gemini_embed = {
    .name = "gemini",
    .ops = &single_ops,
    .key_header = "x-goog-api-key",
    .key_query = "key",
    .path_usage = "/v1beta/models/MODEL:embedContent",
    .unended = "",
};

const struct format format_gemini_batch_embed = {
    .name = "gemini",
    .ops = &batch_ops,
    .key_header = "x-goog-api-key",
    .key_query = "key",
    .path_usage = "/v1beta/models/MODEL:batchEmbedContents",
    .unended = "",
};
