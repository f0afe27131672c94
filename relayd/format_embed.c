/* format_embed: Gemini's embedContent and batchEmbedContents. For Gemini clients, behind struct
 * format (format.h): relay reads them and converts them to an OpenAI embeddings request (POST
 * /v1/embeddings on an OpenAI-style channel), and the answer back, billed as embeddings (the
 * channel's usage.prompt_tokens); to a Gemini channel they go natively (format_native: a dialect),
 * the model renamed when mapped. For Gemini channels (format_gemini.c's write_request and
 * response_to_openai call it): an OpenAI embeddings request as batchEmbedContents (input string or
 * strings, dimensions -> outputDimensionality) and Google's answer as OpenAI's; Google reports no
 * usage, so relay's own count (settle.c's, logged as source local with its counter) is written
 * into the OpenAI answer afterwards (format_embed_openai_answer), and base64 for a client that
 * asked encoding_format base64 (the openai SDKs' default). Shapes: https://ai.google.dev/api/embeddings (EmbedContentRequest {content:
 * {parts:[{text}]}, outputDimensionality}, EmbedContentResponse {embedding:{values}},
 * BatchEmbedContentsRequest {requests:[EmbedContentRequest]}, {embeddings:[{values}]}); OpenAI's
 * https://platform.openai.com/docs/api-reference/embeddings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

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
    .dialect = true,
};

const struct format format_gemini_batch_embed = {
    .name = "gemini",
    .ops = &batch_ops,
    .key_header = "x-goog-api-key",
    .key_query = "key",
    .path_usage = "/v1beta/models/MODEL:batchEmbedContents",
    .unended = "",
    .dialect = true,
};

/* ---------------------------------------------------------------- a Gemini channel's embeddings */

int format_gemini_method_path(char *out, size_t outlen, const char *model, const char *method)
{
  char p[FORMAT_PATH_MAX];
  if (gemini_model_path(p, sizeof p, model, false) < 0)   /* checks the name's characters */
    return -1;
  char *colon = strrchr(p, ':');
  if (!colon)
    return -1;
  *colon = '\0';
  int n = snprintf(out, outlen, "%s:%s", p, method);
  return n < 0 || (size_t)n >= outlen ? -1 : n;
}

/* Sets o's "model" to models/M when it names another (or none, when required): 1 when changed. */
static int set_model(cJSON *o, const char *want, bool required)
{
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
  if (cJSON_IsString(m) ? strcmp(m->valuestring, want) == 0 : !required)
    return 0;
  cJSON_DeleteItemFromObjectCaseSensitive(o, "model");
  cJSON_AddStringToObject(o, "model", want);
  return 1;
}

/* One EmbedContentRequest for text into requests. */
static void add_embed_request(cJSON *requests, const char *model, const char *text, const cJSON *dims)
{
  cJSON *q = cJSON_CreateObject();
  cJSON_AddStringToObject(q, "model", model);
  cJSON *parts = cJSON_AddArrayToObject(cJSON_AddObjectToObject(q, "content"), "parts");
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "text", text);
  cJSON_AddItemToArray(parts, t);
  if (dims)
    cJSON_AddNumberToObject(q, "outputDimensionality", (double)(int64_t)dims->valuedouble);
  cJSON_AddItemToArray(requests, q);
}

int gemini_embed_request(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen, char *err,
                         size_t errlen)
{
  *body = NULL;
  *len = 0;
  char want[MODEL_NAME_MAX + 8];
  snprintf(want, sizeof want, "models/%s", strncmp(q->upstream_model, "models/", 7) == 0 ? q->upstream_model + 7
                                                                                         : q->upstream_model);
  if (q->native) {
    /* a Gemini client's own embedContent or batchEmbedContents, as it came but for the model the
     * channel calls it (batch requests each name it, as Google requires) */
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(q->root, "requests");
    bool batch = cJSON_IsArray(reqs);
    if (format_gemini_method_path(path, pathlen, q->upstream_model, batch ? "batchEmbedContents" : "embedContent") < 0) {
      adapt_set_err(err, errlen, "the model name cannot be used in a Gemini URL");
      return -1;
    }
    int changed = 0;
    cJSON *r;
    if (batch)
      cJSON_ArrayForEach(r, reqs) changed |= cJSON_IsObject(r) ? set_model(r, want, true) : 0;
    else
      changed = set_model(q->root, want, false);
    if (changed && !(*body = cJSON_PrintUnformatted(q->root))) {
      adapt_set_err(err, errlen, "out of memory");
      return -1;
    }
    *len = *body ? strlen(*body) : 0;
    return 0;
  }
  /* an OpenAI embeddings request: input (a string or strings; token ids have no Gemini form) ->
   * batchEmbedContents, dimensions -> outputDimensionality */
  const cJSON *input = cJSON_GetObjectItemCaseSensitive(q->root, "input");
  const cJSON *dims = cJSON_GetObjectItemCaseSensitive(q->root, "dimensions");
  if (dims && (!cJSON_IsNumber(dims) || dims->valuedouble < 1 || dims->valuedouble > 65536 ||
               dims->valuedouble != (double)(int64_t)dims->valuedouble)) {
    adapt_set_err(err, errlen, "dimensions: a positive whole number is required");
    return -1;
  }
  if (format_gemini_method_path(path, pathlen, q->upstream_model, "batchEmbedContents") < 0) {
    adapt_set_err(err, errlen, "the model name cannot be used in a Gemini URL");
    return -1;
  }
  cJSON *o = cJSON_CreateObject();   /* owned here */
  cJSON *requests = cJSON_AddArrayToObject(o, "requests");
  if (cJSON_IsString(input)) {
    add_embed_request(requests, want, input->valuestring, dims);
  } else if (cJSON_IsArray(input) && input->child) {
    const cJSON *it;
    cJSON_ArrayForEach(it, input) {
      if (!cJSON_IsString(it)) {
        cJSON_Delete(o);
        adapt_set_err(err, errlen, "input: a Gemini channel embeds text only (a string or an array of strings), "
                      "not token ids");
        return -1;
      }
      add_embed_request(requests, want, it->valuestring, dims);
    }
  } else {
    cJSON_Delete(o);
    adapt_set_err(err, errlen, "input: a string or a non-empty array of strings is required");
    return -1;
  }
  *body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!*body) {
    adapt_set_err(err, errlen, "out of memory");
    return -1;
  }
  *len = strlen(*body);
  return 0;
}

char *gemini_embed_to_openai(const cJSON *j, const char *model, char *err, size_t errlen)
{
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "embeddings");
  const cJSON *one = cJSON_GetObjectItemCaseSensitive(j, "embedding");
  if (!cJSON_IsArray(list) && !cJSON_IsObject(one)) {
    adapt_set_err(err, errlen, "the upstream's embeddings answer has no embeddings");
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();   /* owned here */
  cJSON_AddStringToObject(o, "object", "list");
  cJSON *data = cJSON_AddArrayToObject(o, "data");
  int i = 0;
  for (const cJSON *e = cJSON_IsArray(list) ? list->child : one; e; e = cJSON_IsArray(list) ? e->next : NULL, i++) {
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values"), *v;
    bool ok = cJSON_IsArray(values);
    cJSON_ArrayForEach(v, values) ok = ok && cJSON_IsNumber(v);
    if (!ok) {
      cJSON_Delete(o);
      adapt_set_err(err, errlen, "the upstream's embedding %d is not an array of numbers", i);
      return NULL;
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "object", "embedding");
    cJSON_AddNumberToObject(d, "index", i);
    cJSON_AddItemToObject(d, "embedding", cJSON_Duplicate(values, 1));
    cJSON_AddItemToArray(data, d);
  }
  if (i == 0) {
    cJSON_Delete(o);
    adapt_set_err(err, errlen, "the upstream's embeddings answer has no embeddings");
    return NULL;
  }
  cJSON_AddStringToObject(o, "model", model ? model : "");
  /* Google reports no usage for embeddings: relay's count is written in by
   * format_embed_openai_answer once billing has counted */
  cJSON *u = cJSON_AddObjectToObject(o, "usage");
  cJSON_AddNumberToObject(u, "prompt_tokens", 0);
  cJSON_AddNumberToObject(u, "total_tokens", 0);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s)
    adapt_set_err(err, errlen, "out of memory");
  return s;
}

char *format_embed_openai_answer(const char *body, size_t len, int64_t prompt_tokens, bool base64)
{
  cJSON *j = cJSON_ParseWithLength(body, len);   /* owned here */
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
  if (!cJSON_IsArray(data)) {
    cJSON_Delete(j);
    return NULL;
  }
  if (prompt_tokens >= 0) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)prompt_tokens);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "usage");
    cJSON_AddItemToObject(j, "usage", u);
  }
  cJSON *d;
  cJSON_ArrayForEach(d, data) {
    /* OpenAI's base64: the float32 values, little-endian, as the SDKs decode them */
    const cJSON *emb = cJSON_GetObjectItemCaseSensitive(d, "embedding");
    int n = cJSON_GetArraySize(emb);
    if (!base64 || !cJSON_IsArray(emb) || n <= 0)
      continue;
    unsigned char *raw = malloc((size_t)n * 4);
    char *b64 = malloc(4 * (((size_t)n * 4 + 2) / 3) + 1);
    if (!raw || !b64) {
      free(raw);
      free(b64);
      cJSON_Delete(j);
      return NULL;
    }
    int k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, emb) {
      float f = (float)v->valuedouble;
      uint32_t bits;
      memcpy(&bits, &f, 4);
      for (int b = 0; b < 4; b++)
        raw[k * 4 + b] = (unsigned char)(bits >> (8 * b));
      k++;
    }
    EVP_EncodeBlock((unsigned char *)b64, raw, n * 4);
    cJSON_ReplaceItemInObjectCaseSensitive(d, "embedding", cJSON_CreateString(b64));
    free(raw);
    free(b64);
  }
  char *s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  return s;
}
