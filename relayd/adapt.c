/* adapt: see adapt.h. */
#include "adapt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void adapt_set_err(char *err, size_t errlen, const char *fmt, ...)
{
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

const cJSON *adapt_jget(const cJSON *o, const char *name)
{
  return cJSON_GetObjectItemCaseSensitive(o, name);
}

const cJSON *adapt_jget2(const cJSON *o, const char *camel, const char *snake)
{
  const cJSON *v = adapt_jget(o, camel);
  return v ? v : adapt_jget(o, snake);
}

cJSON *adapt_text_item(const char *type, const char *text)
{
  cJSON *b = cJSON_CreateObject();
  if (type)
    cJSON_AddStringToObject(b, "type", type);
  cJSON_AddStringToObject(b, "text", text);
  return b;
}

const cJSON *adapt_list(const cJSON *req, const char *name, const char *bad, char *err, size_t errlen)
{
  if (!cJSON_IsObject(req)) {
    adapt_set_err(err, errlen, "the request body must be a JSON object");
    return NULL;
  }
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(req, name);
  if (!cJSON_IsArray(l) || cJSON_GetArraySize(l) == 0) {
    adapt_set_err(err, errlen, "%s", bad);
    return NULL;
  }
  return l;
}

const char *adapt_jstr(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *adapt_print_or_err(cJSON *root, char *err, size_t errlen)
{
  char *s = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!s)
    adapt_set_err(err, errlen, "out of memory");
  return s;
}

void adapt_restore(struct buf *out, size_t mark)
{
  out->len = mark;
  if (out->data)
    out->data[mark] = '\0';
}

const char *adapt_error_message(const cJSON *root)
{
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  const char *m = adapt_jstr(e, "message");
  return m ? m : cJSON_IsString(e) ? e->valuestring : NULL;
}

int adapt_read_max_tokens(const cJSON *req, const char *name, int64_t *out, char *err,
                          size_t errlen)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 ||
      v->valuedouble != floor(v->valuedouble)) {
    adapt_set_err(err, errlen, "'%s' must be a positive integer", name);
    return -1;
  }
  *out = (int64_t)v->valuedouble;
  return 0;
}

int adapt_copy_number(const cJSON *from, const char *name, cJSON *to, const char *as, char *err,
                      size_t errlen)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsNumber(v)) {
    adapt_set_err(err, errlen, "'%s' must be a number", name);
    return -1;
  }
  cJSON_AddNumberToObject(to, as, v->valuedouble);
  return 0;
}

int adapt_stop_list(const cJSON *stop, const char *name, cJSON **out, char *err, size_t errlen)
{
  *out = NULL;
  if (!stop || cJSON_IsNull(stop))
    return 0;
  if (cJSON_IsString(stop)) {
    *out = cJSON_CreateArray();
    cJSON_AddItemToArray(*out, cJSON_CreateString(stop->valuestring));
    return 0;
  }
  if (!cJSON_IsArray(stop))
    goto bad;
  *out = cJSON_CreateArray();
  const cJSON *s;
  cJSON_ArrayForEach(s, stop)
  {
    if (!cJSON_IsString(s))
      goto bad;
    cJSON_AddItemToArray(*out, cJSON_CreateString(s->valuestring));
  }
  return 0;
bad:
  cJSON_Delete(*out);
  *out = NULL;
  adapt_set_err(err, errlen, "'%s' must be a string or an array of strings", name);
  return -1;
}

void adapt_push_message(cJSON *msgs, const char *role, const char *key, cJSON *items)
{
  cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
  const char *lr = adapt_jstr(last, "role");
  if (lr && !strcmp(lr, role)) {
    cJSON *lc = cJSON_GetObjectItemCaseSensitive(last, key), *b;
    while ((b = cJSON_DetachItemFromArray(items, 0)))
      cJSON_AddItemToArray(lc, b);
    cJSON_Delete(items);
    return;
  }
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "role", role);
  cJSON_AddItemToObject(m, key, items);
  cJSON_AddItemToArray(msgs, m);
}

void adapt_oai_usage(const cJSON *usage, struct usage *u)
{
  if (!cJSON_IsObject(usage))
    return;
  /* the five members in one walk, the first of each name as cJSON_GetObjectItemCaseSensitive
   * finds it (five walks before) */
  const cJSON *pt = NULL, *ct = NULL, *ptd = NULL, *ctd = NULL, *tt = NULL;
  for (const cJSON *c = usage->child; c && c->string; c = c->next) {
    const char *k = c->string;
    if (k[0] == 'p') {
      if (!pt && strcmp(k, "prompt_tokens") == 0)
        pt = c;
      else if (!ptd && strcmp(k, "prompt_tokens_details") == 0)
        ptd = c;
    } else if (k[0] == 'c') {
      if (!ct && strcmp(k, "completion_tokens") == 0)
        ct = c;
      else if (!ctd && strcmp(k, "completion_tokens_details") == 0)
        ctd = c;
    } else if (k[0] == 't' && !tt && strcmp(k, "total_tokens") == 0) {
      tt = c;
    }
  }
  u->prompt_tokens = usage_value(pt, u);
  u->completion_tokens = usage_value(ct, u);
  u->cached_tokens = usage_count(ptd, "cached_tokens", u);
  u->reasoning_tokens = usage_count(ctd, "reasoning_tokens", u);
  if (u->prompt_tokens == 0 && u->completion_tokens == 0)   /* embeddings: some servers give only the total */
    u->prompt_tokens = usage_value(tt, u);
  usage_normalize(u);
}

/* keys whose string values are text a model produced (any format) */
static bool is_output_text_key(const char *k)
{
  static const char *const keys[] = {"content", "text", "reasoning_content", "reasoning", "refusal",
                                     "arguments", "thinking", "partial_json", "delta", NULL};
  /* a first-letter test before each strcmp: most string members are no text (role, type, id) */
  for (const char *const *p = keys; k && *p; p++)
    if (k[0] == (*p)[0] && strcmp(k, *p) == 0)
      return true;
  return false;
}

static void text_each(const cJSON *node, int depth, void (*fn)(const char *s, size_t n, void *ctx), void *ctx)
{
  if (depth > CJSON_NESTING_LIMIT)
    return;
  for (const cJSON *c = node ? node->child : NULL; c; c = c->next) {
    if (cJSON_IsString(c) && is_output_text_key(c->string))
      fn(c->valuestring, strlen(c->valuestring), ctx);
    else if (cJSON_IsObject(c) || cJSON_IsArray(c))
      text_each(c, depth + 1, fn, ctx);
  }
}

void adapt_text_each(const cJSON *node, void (*fn)(const char *s, size_t n, void *ctx), void *ctx)
{
  text_each(node, 0, fn, ctx);
}

static void add_len(const char *s, size_t n, void *ctx)
{
  (void)s;
  *(size_t *)ctx += n;
}

size_t adapt_text_chars(const cJSON *node)
{
  size_t n = 0;
  text_each(node, 0, add_len, &n);
  return n;
}

void adapt_add_oai_usage(cJSON *o, const struct usage *u)
{
  cJSON *us = cJSON_AddObjectToObject(o, "usage");
  cJSON_AddNumberToObject(us, "prompt_tokens", (double)u->prompt_tokens);
  cJSON_AddNumberToObject(us, "completion_tokens", (double)u->completion_tokens);
  cJSON_AddNumberToObject(us, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(us, "prompt_tokens_details"), "cached_tokens",
                          (double)u->cached_tokens);
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(us, "completion_tokens_details"), "reasoning_tokens",
                          (double)u->reasoning_tokens);
}

int adapt_chunk_head(struct buf *o, const char *id, const char *model, int64_t created)
{
  int rc = buf_append_str(o, "data: {\"id\":");
  rc |= buf_append_json_str(o, id);
  rc |= buf_appendf(o, ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                    (long long)created);
  rc |= buf_append_json_str(o, model);
  return rc;
}

int adapt_chunk_close(struct buf *o, const char *finish)
{
  int rc = buf_append_str(o, "},\"logprobs\":null,\"finish_reason\":");
  rc |= finish ? buf_append_json_str(o, finish) : buf_append_str(o, "null");
  rc |= buf_append_str(o, "}]}\n\n");
  return rc;
}

int adapt_chunk_open(struct buf *o, const char *id, const char *model, int64_t created)
{
  int rc = adapt_chunk_head(o, id, model, created);
  rc |= buf_append_str(o, ",\"choices\":[{\"index\":0,\"delta\":{");
  return rc;
}

int adapt_delta_string(struct buf *o, const char *id, const char *model, int64_t created,
                       const char *key, const char *val)
{
  int rc = adapt_chunk_open(o, id, model, created);
  rc |= buf_appendf(o, "\"%s\":", key);
  rc |= buf_append_json_str(o, val);
  rc |= adapt_chunk_close(o, NULL);
  return rc;
}

int adapt_usage_chunk(struct buf *o, const char *id, const char *model, int64_t created,
                      const struct usage *u)
{
  int rc = adapt_chunk_head(o, id, model, created);
  rc |= buf_appendf(o,
                    ",\"choices\":[],\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                    "\"total_tokens\":%lld,\"prompt_tokens_details\":{\"cached_tokens\":%lld},"
                    "\"completion_tokens_details\":{\"reasoning_tokens\":%lld}}}\n\n",
                    (long long)u->prompt_tokens, (long long)u->completion_tokens,
                    (long long)(u->prompt_tokens + u->completion_tokens),
                    (long long)u->cached_tokens, (long long)u->reasoning_tokens);
  return rc;
}

int adapt_image_url(const cJSON *part, char *mt, size_t mtlen, const char **data,
                    const char **url, char *err, size_t errlen, const char *where)
{
  const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
  const char *u = cJSON_IsString(iu) ? iu->valuestring : adapt_jstr(iu, "url");
  *url = u;
  *data = NULL;
  if (!u) {
    adapt_set_err(err, errlen, "%s: 'image_url.url' must be a string", where);
    return -1;
  }
  if (has_prefix_ci(u, "data:")) {
    const char *semi = strstr(u, ";base64,"), *mime = u + 5;
    if (!semi || semi == mime || (size_t)(semi - mime) > 100 || !semi[8]) {
      adapt_set_err(err, errlen, "%s: an image data URL must look like data:image/png;base64,...",
                    where);
      return -1;
    }
    snprintf(mt, mtlen, "%.*s", (int)(semi - mime), mime);
    *data = semi + 8;
    return 0;
  }
  if (has_prefix_ci(u, "https://") || has_prefix_ci(u, "http://"))
    return 1;
  adapt_set_err(err, errlen, "%s: an image URL must be http(s) or a base64 data URL", where);
  return -1;
}

int adapt_content_items(const cJSON *c, cJSON *items, cJSON *(*text_item)(const char *),
                        cJSON *(*image_item)(const cJSON *, char *, size_t, const char *),
                        char *err, size_t errlen, const char *where)
{
  if (!c || cJSON_IsNull(c))
    return 0;
  if (cJSON_IsString(c)) {
    if (c->valuestring[0])
      cJSON_AddItemToArray(items, text_item(c->valuestring));
    return 0;
  }
  if (!cJSON_IsArray(c)) {
    adapt_set_err(err, errlen, "%s: 'content' must be a string or an array of parts", where);
    return -1;
  }
  const cJSON *p;
  cJSON_ArrayForEach(p, c)
  {
    const char *type = adapt_jstr(p, "type");
    if (!type) {
      adapt_set_err(err, errlen, "%s: each content part must be an object with a 'type'", where);
      return -1;
    }
    if (!strcmp(type, "text")) {
      const char *t = adapt_jstr(p, "text");
      if (!t) {
        adapt_set_err(err, errlen, "%s: a text part needs a string 'text'", where);
        return -1;
      }
      if (t[0])
        cJSON_AddItemToArray(items, text_item(t));
    } else if (!strcmp(type, "image_url")) {
      cJSON *ip = image_item(p, err, errlen, where);
      if (!ip)
        return -1;
      cJSON_AddItemToArray(items, ip);
    } else {
      adapt_set_err(err, errlen, "%s: content part type '%.64s' is not supported for this model",
                    where, type);
      return -1;
    }
  }
  return 0;
}

cJSON *adapt_args_object(const char *args)
{
  cJSON *input = args ? cJSON_Parse(args) : NULL;
  if (!cJSON_IsObject(input)) {
    cJSON_Delete(input);
    input = cJSON_CreateObject();
  }
  return input;
}

void adapt_add_oai_call(cJSON *calls, const char *id, const char *name, const char *args)
{
  cJSON *c = cJSON_CreateObject(), *fn;
  cJSON_AddStringToObject(c, "id", id);
  cJSON_AddStringToObject(c, "type", "function");
  fn = cJSON_AddObjectToObject(c, "function");
  cJSON_AddStringToObject(fn, "name", name ? name : "");
  cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
  cJSON_AddItemToArray(calls, c);
}

void adapt_set_call_signature(cJSON *call, const char *sig)
{
  if (!call || !sig)
    return;
  cJSON *g = cJSON_AddObjectToObject(cJSON_AddObjectToObject(call, "extra_content"), "google");
  cJSON_AddStringToObject(g, "thought_signature", sig);
}

const char *adapt_call_signature(const cJSON *call)
{
  return adapt_jstr(adapt_jget(adapt_jget(call, "extra_content"), "google"), "thought_signature");
}

cJSON *adapt_add_reasoning_detail(cJSON *details, const char *text, const char *sig, const char *data,
                                  const char *format)
{
  cJSON *d = cJSON_CreateObject();
  int index = cJSON_GetArraySize(details);
  if (data) {
    cJSON_AddStringToObject(d, "type", "reasoning.encrypted");
    cJSON_AddStringToObject(d, "data", data);
  } else {
    cJSON_AddStringToObject(d, "type", "reasoning.text");
    cJSON_AddStringToObject(d, "text", text ? text : "");
    if (sig)
      cJSON_AddStringToObject(d, "signature", sig);
  }
  cJSON_AddStringToObject(d, "format", format);
  cJSON_AddNumberToObject(d, "index", index);
  cJSON_AddItemToArray(details, d);
  return d;
}

int adapt_delta_detail(struct buf *o, const char *id, const char *model, int64_t created, const cJSON *detail)
{
  char *s = cJSON_PrintUnformatted(detail);
  if (!s)
    return -1;
  int rc = adapt_chunk_open(o, id, model, created);
  rc |= buf_append_str(o, "\"reasoning_details\":[");
  rc |= buf_append_str(o, s);
  rc |= buf_append_str(o, "]");
  rc |= adapt_chunk_close(o, NULL);
  free(s);
  return rc;
}

char *adapt_oai_completion(const char *id, int64_t created, const char *model,
                           const struct buf *text, const struct buf *think, cJSON *calls,
                           bool has_calls, const char *finish, const struct usage *u, char *err,
                           size_t errlen)
{
  return adapt_oai_completion_details(id, created, model, text, think, calls, has_calls, NULL, finish, u, err,
                                      errlen);
}

char *adapt_oai_completion_details(const char *id, int64_t created, const char *model, const struct buf *text,
                                   const struct buf *think, cJSON *calls, bool has_calls, cJSON *details,
                                   const char *finish, const struct usage *u, char *err, size_t errlen)
{
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "id", id);
  cJSON_AddStringToObject(out, "object", "chat.completion");
  cJSON_AddNumberToObject(out, "created", (double)created);
  cJSON_AddStringToObject(out, "model", model);
  cJSON *choice = cJSON_CreateObject();
  cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "choices"), choice);
  cJSON_AddNumberToObject(choice, "index", 0);
  cJSON *msg = cJSON_AddObjectToObject(choice, "message");
  cJSON_AddStringToObject(msg, "role", "assistant");
  if (text->len || !has_calls)
    cJSON_AddStringToObject(msg, "content", text->data ? text->data : "");
  else
    cJSON_AddNullToObject(msg, "content");
  if (think->len)
    cJSON_AddStringToObject(msg, "reasoning_content", think->data);
  if (cJSON_GetArraySize(details) > 0)
    cJSON_AddItemToObject(msg, "reasoning_details", details);
  else
    cJSON_Delete(details);
  if (has_calls)
    cJSON_AddItemToObject(msg, "tool_calls", calls);
  else
    cJSON_Delete(calls);
  cJSON_AddNullToObject(choice, "logprobs");
  cJSON_AddStringToObject(choice, "finish_reason", finish);
  adapt_add_oai_usage(out, u);
  return adapt_print_or_err(out, err, errlen);
}

cJSON *adapt_parse_response(const char *body, size_t len, struct usage *u, char *err,
                            size_t errlen)
{
  memset(u, 0, sizeof *u);
  cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
  if (!cJSON_IsObject(root)) {
    adapt_set_err(err, errlen, "the upstream response is not a JSON object");
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

void *adapt_upstream_error(cJSON *root, char *err, size_t errlen)
{
  const char *m = adapt_error_message(root);
  adapt_set_err(err, errlen, "upstream error: %.400s", m ? m : "(no message)");
  cJSON_Delete(root);
  return NULL;
}

int adapt_buffer_full(struct buf *out, size_t mark, char *err, size_t errlen)
{
  adapt_restore(out, mark);
  adapt_set_err(err, errlen, "the client buffer is full");
  return -1;
}

const cJSON *adapt_oai_response(const char *body, size_t len, struct usage *u, cJSON **root,
                                char *err, size_t errlen)
{
  *root = adapt_parse_response(body, len, u, err, errlen);
  if (!*root)
    return NULL;
  if (cJSON_GetObjectItemCaseSensitive(*root, "error")) {
    *root = adapt_upstream_error(*root, err, errlen);
    return NULL;
  }
  const cJSON *choice =
      cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(*root, "choices"), 0);
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
  if (!cJSON_IsObject(msg)) {
    adapt_set_err(err, errlen, "the upstream response has no choices[0].message");
    goto bad;
  }
  adapt_oai_usage(cJSON_GetObjectItemCaseSensitive(*root, "usage"), u);
  return msg;
bad:
  cJSON_Delete(*root);
  *root = NULL;
  return NULL;
}

const char *adapt_oai_reasoning(const cJSON *msg)
{
  const char *reasoning = adapt_jstr(msg, "reasoning_content");
  if (!reasoning)
    reasoning = adapt_jstr(msg, "reasoning");
  return reasoning;
}

void adapt_push_assistant(cJSON *omsgs, const struct buf *text, cJSON **calls)
{
  if (!text->len && !cJSON_GetArraySize(*calls))
    return;
  cJSON *om = cJSON_CreateObject();
  cJSON_AddStringToObject(om, "role", "assistant");
  if (text->len)
    cJSON_AddStringToObject(om, "content", text->data);
  else
    cJSON_AddNullToObject(om, "content");
  if (cJSON_GetArraySize(*calls)) {
    cJSON_AddItemToObject(om, "tool_calls", *calls);
    *calls = NULL;
  }
  cJSON_AddItemToArray(omsgs, om);
}

void adapt_push_system(cJSON *omsgs, const struct buf *sys)
{
  if (!sys->len)
    return;
  cJSON *sm = cJSON_CreateObject();
  cJSON_AddStringToObject(sm, "role", "system");
  cJSON_AddStringToObject(sm, "content", sys->data);
  cJSON_AddItemToArray(omsgs, sm);
}

cJSON *adapt_add_oai_tool(cJSON *tools, const char *name, const char *desc)
{
  cJSON *o = cJSON_CreateObject(), *fn;
  cJSON_AddStringToObject(o, "type", "function");
  fn = cJSON_AddObjectToObject(o, "function");
  cJSON_AddStringToObject(fn, "name", name);
  if (desc)
    cJSON_AddStringToObject(fn, "description", desc);
  cJSON_AddItemToArray(tools, o);
  return fn;
}

void adapt_push_user(cJSON *omsgs, cJSON **parts)
{
  if (!cJSON_GetArraySize(*parts))
    return;
  cJSON *om = cJSON_CreateObject();
  cJSON_AddStringToObject(om, "role", "user");
  cJSON *only = cJSON_GetArrayItem(*parts, 0);
  if (cJSON_GetArraySize(*parts) == 1 && adapt_jstr(only, "text")) {
    cJSON_AddStringToObject(om, "content", adapt_jstr(only, "text"));
  } else {
    cJSON_AddItemToObject(om, "content", *parts);
    *parts = NULL;
  }
  cJSON_AddItemToArray(omsgs, om);
}

int adapt_end_message(cJSON *omsgs, bool ok, bool assistant, struct buf *text, cJSON *parts, cJSON *calls)
{
  if (ok && assistant)
    adapt_push_assistant(omsgs, text, &calls);
  else if (ok)
    adapt_push_user(omsgs, &parts);
  buf_free(text);
  cJSON_Delete(parts);
  cJSON_Delete(calls);
  return ok ? 0 : -1;
}

int adapt_append_text(struct buf *b, const char *sep, const char *t)
{
  if (b->len && t[0] && buf_append_str(b, sep) < 0)
    return -1;
  return buf_append_str(b, t);
}

int adapt_content_text(const cJSON *c, struct buf *b, const char *sep, bool string_parts,
                       char *err, size_t errlen, const char *where)
{
  if (!c || cJSON_IsNull(c))
    return 0;
  if (cJSON_IsString(c)) {
    if (adapt_append_text(b, sep, c->valuestring) < 0)
      goto full;
    return 0;
  }
  if (!cJSON_IsArray(c)) {
    adapt_set_err(err, errlen, "%s: 'content' must be a string or an array of parts", where);
    return -1;
  }
  const cJSON *p;
  cJSON_ArrayForEach(p, c)
  {
    const char *t = string_parts && cJSON_IsString(p) ? p->valuestring : adapt_jstr(p, "text");
    if (!t) {
      adapt_set_err(err, errlen, "%s: only text parts are allowed here", where);
      return -1;
    }
    if (adapt_append_text(b, sep, t) < 0)
      goto full;
  }
  return 0;
full:
  adapt_set_err(err, errlen, "%s: text too long", where);
  return -1;
}

char *adapt_error_body(int (*error_json)(struct buf *, int, const char *), int status,
                       const char *message)
{
  struct buf b;
  buf_init(&b, (size_t)1 << 20);
  if (error_json(&b, status, message) < 0) {
    buf_free(&b);
    return NULL;
  }
  return buf_steal(&b, NULL);
}

int adapt_error_event(struct buf *out, const char *head, const char *tail,
                      int (*error_json)(struct buf *, int, const char *), int status,
                      const char *message)
{
  size_t mark = out->len;
  int rc = buf_append_str(out, head);
  rc |= error_json(out, status, message);
  rc |= buf_append_str(out, tail);
  if (rc) {
    adapt_restore(out, mark);
    return -1;
  }
  return 0;
}

cJSON *adapt_parse_event(const char *data, size_t len, const char *what, char *err, size_t errlen)
{
  cJSON *ev = data ? cJSON_ParseWithLength(data, len) : NULL;
  if (!cJSON_IsObject(ev)) {
    cJSON_Delete(ev);
    adapt_set_err(err, errlen, "an upstream stream %s is not a JSON object", what);
    return NULL;
  }
  return ev;
}

char *adapt_too_large(struct buf *text, struct buf *think, cJSON *calls, cJSON *root, char *err,
                      size_t errlen)
{
  adapt_set_err(err, errlen, "the upstream response is too large");
  buf_free(text);
  buf_free(think);
  cJSON_Delete(calls);
  cJSON_Delete(root);
  return NULL;
}

int adapt_copy_bool(const cJSON *from, const char *name, cJSON *to, const char *as, char *err,
                    size_t errlen)
{
  const cJSON *v = adapt_jget(from, name);
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsBool(v)) {
    adapt_set_err(err, errlen, "'%s' must be true or false", name);
    return -1;
  }
  cJSON_AddBoolToObject(to, as, cJSON_IsTrue(v));
  return 0;
}

int adapt_copy_modalities(const cJSON *list, const char *name, cJSON *to, const char *as, bool upper,
                           char *err, size_t errlen)
{
  if (!list || cJSON_IsNull(list))
    return 0;
  if (!cJSON_IsArray(list))
    goto bad;
  cJSON *out = cJSON_CreateArray();
  const cJSON *it;
  cJSON_ArrayForEach(it, list)
  {
    char v[32];
    if (!cJSON_IsString(it) || strlen(it->valuestring) >= sizeof v) {
      cJSON_Delete(out);
      goto bad;
    }
    size_t i = 0;
    for (; it->valuestring[i]; i++) {
      char c = it->valuestring[i];
      v[i] = upper ? (char)(c >= 'a' && c <= 'z' ? c - 32 : c) : (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    v[i] = '\0';
    cJSON_AddItemToArray(out, cJSON_CreateString(v));
  }
  cJSON_AddItemToObject(to, as, out);
  return 0;
bad:
  adapt_set_err(err, errlen, "'%s' must be an array of strings", name);
  return -1;
}

void adapt_rewrite(char **body, enum reasoning_format fmt, const struct reasoning *rs)
{
  cJSON *j = cJSON_Parse(*body);
  if (!j)
    return;
  reasoning_apply(j, fmt, rs);
  char *out = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (out) {
    free(*body);
    *body = out;
  }
}

int adapt_feed_openai(void *st, bool done, const char *data, size_t len,
                      int (*chunk)(void *st, const cJSON *chunk, struct buf *out, char *err, size_t errlen),
                      struct buf *out, char *err, size_t errlen)
{
  if (done)
    return 0;
  if (data && len >= 6 && !memcmp(data, "[DONE]", 6))
    return chunk(st, NULL, out, err, errlen);
  cJSON *ev = adapt_parse_event(data, len, "chunk", err, errlen);
  if (!ev)
    return -1;
  int rc = chunk(st, ev, out, err, errlen);
  cJSON_Delete(ev);
  return rc;
}

int adapt_finish(void *st, bool done, bool have_end, int (*tail)(void *st, struct buf *out), struct buf *out,
                 bool *finished)
{
  if (done)
    return 0;
  if (!have_end)
    return -1;
  size_t mark = out->len;
  if (tail(st, out)) {
    adapt_restore(out, mark);
    return -1;
  }
  *finished = true;
  return 0;
}

const cJSON *adapt_chunk_read(const cJSON *ev, struct usage *u, bool *have_usage, const cJSON **choice)
{
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");
  if (cJSON_IsObject(usage)) {
    adapt_oai_usage(usage, u);
    *have_usage = true;
  }
  *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ev, "choices"), 0);
  const cJSON *delta = cJSON_GetObjectItemCaseSensitive(*choice, "delta");
  return cJSON_IsObject(delta) ? delta : NULL;
}
