/* openai: see openai.h. */
#include "openai.h"

#include "adapt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t oai_tokens_from_chars(size_t n)
{
  return (int64_t)((n + 3) / 4);
}

/* characters of text in a message content: a string, or an array of parts with "text" */
static size_t content_chars(const cJSON *c)
{
  if (cJSON_IsString(c))
    return strlen(c->valuestring);
  size_t n = 0;
  const cJSON *part;
  if (cJSON_IsArray(c))
    cJSON_ArrayForEach(part, c)
    {
      const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
      if (cJSON_IsString(t))
        n += strlen(t->valuestring);
      else if (cJSON_IsString(part))
        n += strlen(part->valuestring);
      else if (cJSON_IsArray(part))        /* token arrays in completions/embeddings */
        n += (size_t)cJSON_GetArraySize(part) * 4;
      else if (cJSON_IsNumber(part))
        n += 4;
    }
  return n;
}

static int read_count(const cJSON *v, const char *name, int64_t *out, char *err, size_t errlen)
{
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) ||
      v->valuedouble > 1e9) {
    snprintf(err, errlen, "'%s' must be a non-negative integer", name);
    return -1;
  }
  *out = (int64_t)v->valuedouble;
  return 0;
}

/* The members oai_parse_request reads, each the first of its name (as
 * cJSON_GetObjectItemCaseSensitive finds it), gathered in one pass over the body's members. */
struct req_members {
  const cJSON *model, *stream, *stream_options, *max_tokens, *max_completion_tokens, *messages, *prompt, *input;
};

static void take(const cJSON **slot, const cJSON *c)
{
  if (!*slot)
    *slot = c;
}

static void req_members(const cJSON *root, struct req_members *k)
{
  memset(k, 0, sizeof *k);
  for (const cJSON *c = root->child; c; c = c->next) {
    const char *s = c->string;
    if (!s)
      continue;
    switch (s[0]) {
    case 'm':
      if (strcmp(s, "model") == 0)
        take(&k->model, c);
      else if (strcmp(s, "messages") == 0)
        take(&k->messages, c);
      else if (strcmp(s, "max_tokens") == 0)
        take(&k->max_tokens, c);
      else if (strcmp(s, "max_completion_tokens") == 0)
        take(&k->max_completion_tokens, c);
      break;
    case 's':
      if (strcmp(s, "stream") == 0)
        take(&k->stream, c);
      else if (strcmp(s, "stream_options") == 0)
        take(&k->stream_options, c);
      break;
    case 'p':
      if (strcmp(s, "prompt") == 0)
        take(&k->prompt, c);
      break;
    case 'i':
      if (strcmp(s, "input") == 0)
        take(&k->input, c);
      break;
    default:
      break;
    }
  }
}

cJSON *oai_parse_request(enum api_kind kind, const char *body, size_t len, struct oai_request *rq,
                         char *err, size_t errlen, const char **param)
{
  memset(rq, 0, sizeof *rq);
  rq->max_tokens = -1;
  *param = NULL;
  if (len == 0) {
    snprintf(err, errlen, "the request body is empty: send a JSON object");
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);   /* cJSON_ParseWithLength, and where it ended */
  rq->body_end = root && end >= body && end <= body + len ? (size_t)(end - body) : 0;
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    long off = at && at >= body && at <= body + len ? (long)(at - body) : -1;
    snprintf(err, errlen, "the request body is not valid JSON (error near byte %ld)", off);
    return NULL;
  }
  if (!cJSON_IsObject(root)) {
    snprintf(err, errlen, "the request body must be a JSON object");
    goto bad;
  }
  struct req_members k;
  req_members(root, &k);
  const cJSON *model = k.model;
  *param = "model";
  if (!model) {
    snprintf(err, errlen, "you must provide a model parameter");
    goto bad;
  }
  if (!cJSON_IsString(model) || !model->valuestring[0]) {
    snprintf(err, errlen, "'model' must be a non-empty string");
    goto bad;
  }
  if (strlen(model->valuestring) >= MODEL_NAME_MAX) {
    snprintf(err, errlen, "'model' is longer than %d characters", MODEL_NAME_MAX - 1);
    goto bad;
  }
  memcpy(rq->model, model->valuestring, strlen(model->valuestring) + 1);   /* < MODEL_NAME_MAX: checked */

  const cJSON *stream = k.stream;
  *param = "stream";
  if (stream && !cJSON_IsNull(stream)) {
    if (!cJSON_IsBool(stream)) {
      snprintf(err, errlen, "'stream' must be true or false");
      goto bad;
    }
    rq->stream = cJSON_IsTrue(stream);
  }
  if (kind == API_EMBEDDINGS && rq->stream) {
    snprintf(err, errlen, "embeddings cannot be streamed");
    goto bad;
  }
  const cJSON *so = k.stream_options;
  *param = "stream_options";
  if (so && !cJSON_IsNull(so)) {
    if (!cJSON_IsObject(so)) {
      snprintf(err, errlen, "'stream_options' must be an object");
      goto bad;
    }
    rq->client_wants_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
  }
  *param = "max_tokens";
  if (read_count(k.max_tokens, "max_tokens", &rq->max_tokens, err, errlen) < 0)
    goto bad;
  *param = "max_completion_tokens";
  if (read_count(k.max_completion_tokens, "max_completion_tokens", &rq->max_tokens, err, errlen) < 0)
    goto bad;

  size_t chars = 0;
  if (kind == API_CHAT) {
    const cJSON *msgs = k.messages, *m;
    *param = "messages";
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
      snprintf(err, errlen, "'messages' must be a non-empty array");
      goto bad;
    }
    cJSON_ArrayForEach(m, msgs)
    {
      if (!cJSON_IsObject(m)) {
        snprintf(err, errlen, "each entry of 'messages' must be an object");
        goto bad;
      }
      chars += content_chars(cJSON_GetObjectItemCaseSensitive(m, "content")) + 16;
    }
  } else {
    const char *field = kind == API_COMPLETIONS ? "prompt" : "input";
    const cJSON *in = kind == API_COMPLETIONS ? k.prompt : k.input;
    *param = field;
    if (!in || !(cJSON_IsString(in) || cJSON_IsArray(in))) {
      snprintf(err, errlen, "'%s' must be a string or an array", field);
      goto bad;
    }
    chars = content_chars(in);
  }
  rq->prompt_estimate = oai_tokens_from_chars(chars);
  *param = NULL;
  return root;
bad:
  cJSON_Delete(root);
  return NULL;
}

char *oai_upstream_body(cJSON *root, const struct oai_request *rq, const char *upstream_model,
                        size_t *len)
{
  bool rename = strcmp(rq->model, upstream_model) != 0;
  bool force_usage = rq->stream && !rq->client_wants_usage;
  if (!rename && !force_usage)
    return NULL;     /* the client's own bytes, even if an earlier attempt renamed the model */
  cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(upstream_model));
  if (force_usage) {
    cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (!cJSON_IsObject(so)) {
      cJSON_DeleteItemFromObjectCaseSensitive(root, "stream_options");
      so = cJSON_AddObjectToObject(root, "stream_options");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
    cJSON_AddTrueToObject(so, "include_usage");
  }
  char *out = cJSON_PrintUnformatted(root);
  if (out)
    *len = strlen(out);
  return out;
}

char *oai_usage_spliced(const cJSON *root, const struct oai_request *rq, const char *upstream_model,
                        const char *body, size_t blen, size_t *len)
{
  static const char member[] = "\"stream_options\":{\"include_usage\":true}";
  size_t end = rq->body_end;
  if (!body || !end || end > blen || body[end - 1] != '}' || !rq->stream || rq->client_wants_usage ||
      strcmp(rq->model, upstream_model) != 0 || !cJSON_IsObject(root) ||
      cJSON_GetObjectItemCaseSensitive(root, "stream_options"))
    return NULL;
  /* root is body parsed and not changed since: its model is still the client's */
  const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "model"));
  if (!m || strcmp(m, upstream_model) != 0)
    return NULL;
  for (size_t i = end; i < blen; i++)
    if ((unsigned char)body[i] > 32)
      return NULL;           /* bytes after the object: printed (the tree alone goes) */
  size_t at = end - 1;       /* the object's closing brace: the member goes last, as a print puts it */
  bool comma = root->child != NULL;
  size_t ml = sizeof member - 1, n = blen + ml + comma;
  char *out = malloc(n + 1);   /* owned by the caller */
  if (!out)
    return NULL;
  memcpy(out, body, at);
  if (comma)
    out[at] = ',';
  memcpy(out + at + comma, member, ml);
  memcpy(out + at + comma + ml, body + at, blen - at);
  out[n] = '\0';
  *len = n;
  return out;
}

int oai_parse_usage(const cJSON *usage, struct usage *u)
{
  if (!cJSON_IsObject(usage))
    return -1;
  memset(u, 0, sizeof *u);
  adapt_oai_usage(usage, u);
  return 0;
}
