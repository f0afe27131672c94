/* claude: see claude.h. */
#include "claude.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "openai.h"
#include "sse.h"

static bool present(const cJSON *o, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return v && !cJSON_IsNull(v);
}

/* ------------------------------------------------------------------------------------------ */
/* stop reasons and errors */

const char *claude_stop_to_openai(const char *r)
{
  if (!r)
    return "stop";
  if (!strcmp(r, "max_tokens") || !strcmp(r, "model_context_window_exceeded"))
    return "length";
  if (!strcmp(r, "tool_use"))
    return "tool_calls";
  if (!strcmp(r, "refusal"))
    return "content_filter";
  return "stop";    /* end_turn, stop_sequence, pause_turn, unknown */
}

const char *claude_stop_from_openai(const char *r)
{
  if (!r)
    return "end_turn";
  if (!strcmp(r, "length") || !strcmp(r, "max_tokens"))
    return "max_tokens";
  if (!strcmp(r, "tool_calls") || !strcmp(r, "function_call"))
    return "tool_use";
  if (!strcmp(r, "content_filter"))
    return "refusal";
  return "end_turn";
}

const char *claude_error_type(int status)
{
  switch (status) {
  case 400: return "invalid_request_error";
  case 401: return "authentication_error";
  case 402: return "billing_error";
  case 403: return "permission_error";
  case 404: return "not_found_error";
  case 409: return "conflict_error";
  case 413: return "request_too_large";
  case 429: return "rate_limit_error";
  case 503:
  case 529: return "overloaded_error";
  default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
  }
}

static int error_json(struct buf *b, int status, const char *message)
{
  int rc = buf_append_str(b, "{\"type\":\"error\",\"error\":{\"type\":");
  rc |= buf_append_json_str(b, claude_error_type(status));
  rc |= buf_append_str(b, ",\"message\":");
  rc |= buf_append_json_str(b, message ? message : "");
  rc |= buf_append_str(b, "}}");
  return rc;
}

char *claude_error_body(int status, const char *message)
{
  return adapt_error_body(error_json, status, message);
}

int claude_error_event(struct buf *out, int status, const char *message)
{
  return adapt_error_event(out, "event: error\ndata: ", "\n\n", error_json, status, message);
}

/* ------------------------------------------------------------------------------------------ */
/* OpenAI request -> Anthropic request */

/* Appends the text of an OpenAI content (string or array of parts with text) to b. */
static int content_text(const cJSON *c, struct buf *b, const char *sep, char *err, size_t errlen,
                        const char *where)
{
  return adapt_content_text(c, b, sep, true, err, errlen, where);
}

static cJSON *text_block(const char *text)
{
  return adapt_text_item("text", text);
}

/* An image_url part -> an Anthropic image block. */
static cJSON *image_block(const cJSON *part, char *err, size_t errlen, const char *where)
{
  char mt[128];
  const char *data, *url;
  int kind = adapt_image_url(part, mt, sizeof mt, &data, &url, err, errlen, where);
  if (kind < 0)
    return NULL;
  cJSON *b = cJSON_CreateObject(), *src;
  cJSON_AddStringToObject(b, "type", "image");
  src = cJSON_AddObjectToObject(b, "source");
  if (kind == 0) {
    cJSON_AddStringToObject(src, "type", "base64");
    cJSON_AddStringToObject(src, "media_type", mt);
    cJSON_AddStringToObject(src, "data", data);
  } else {
    cJSON_AddStringToObject(src, "type", "url");
    cJSON_AddStringToObject(src, "url", url);
  }
  return b;
}

/* Appends the blocks of an OpenAI user/assistant content to blocks. */
static int content_blocks(const cJSON *c, cJSON *blocks, char *err, size_t errlen,
                          const char *where)
{
  return adapt_content_items(c, blocks, text_block, image_block, err, errlen, where);
}

static int tool_use_blocks(const cJSON *calls, cJSON *blocks, char *err, size_t errlen,
                           const char *where)
{
  if (!calls || cJSON_IsNull(calls))
    return 0;
  if (!cJSON_IsArray(calls)) {
    adapt_set_err(err, errlen, "%s: 'tool_calls' must be an array", where);
    return -1;
  }
  const cJSON *tc;
  cJSON_ArrayForEach(tc, calls)
  {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const char *id = adapt_jstr(tc, "id"), *name = adapt_jstr(fn, "name"),
               *args = adapt_jstr(fn, "arguments");
    if (!id || !name) {
      adapt_set_err(err, errlen, "%s: each tool call needs a string 'id' and 'function.name'",
                    where);
      return -1;
    }
    cJSON *input;
    const char *a = args ? args : "";
    while (*a == ' ' || *a == '\n' || *a == '\t' || *a == '\r')
      a++;
    if (!*a) {
      input = cJSON_CreateObject();
    } else {
      input = cJSON_Parse(args);
      if (!cJSON_IsObject(input)) {
        cJSON_Delete(input);
        adapt_set_err(err, errlen, "%s: tool call '%.64s' has arguments that are not a JSON object",
                      where, name);
        return -1;
      }
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_use");
    cJSON_AddStringToObject(b, "id", id);
    cJSON_AddStringToObject(b, "name", name);
    cJSON_AddItemToObject(b, "input", input);
    cJSON_AddItemToArray(blocks, b);
  }
  return 0;
}

/* The signed thinking an OpenAI client got from an Anthropic channel and sends back (the
 * assistant message's "reasoning_details", OpenRouter's list, doc/design.md "Signatures across
 * formats"): Anthropic's thinking / redacted_thinking blocks, first in the assistant turn as
 * Anthropic requires. Entries of another format (a Gemini signature) or without a signature are
 * skipped: Anthropic would refuse a thinking block it did not sign. */
static void thinking_blocks(const cJSON *details, cJSON *blocks)
{
  const cJSON *d, *list = cJSON_IsArray(details) ? details : NULL;
  cJSON_ArrayForEach(d, list)
  {
    const char *type = adapt_jstr(d, "type"), *format = adapt_jstr(d, "format");
    if (!type || (format && strncmp(format, "anthropic-", 10) != 0))
      continue;
    const char *sig = adapt_jstr(d, "signature"), *text = adapt_jstr(d, "text"), *data = adapt_jstr(d, "data");
    cJSON *b = NULL;
    if (!strcmp(type, "reasoning.text") && sig && sig[0]) {
      b = cJSON_CreateObject();
      cJSON_AddStringToObject(b, "type", "thinking");
      cJSON_AddStringToObject(b, "thinking", text ? text : "");
      cJSON_AddStringToObject(b, "signature", sig);
    } else if (!strcmp(type, "reasoning.encrypted") && data && data[0]) {
      b = cJSON_CreateObject();
      cJSON_AddStringToObject(b, "type", "redacted_thinking");
      cJSON_AddStringToObject(b, "data", data);
    }
    if (b)
      cJSON_AddItemToArray(blocks, b);
  }
}

char *claude_request_from_openai(const cJSON *req, const char *upstream_model, char *err,
                                 size_t errlen)
{
  const cJSON *msgs = adapt_list(req, "messages", "'messages' must be a non-empty array", err, errlen);
  if (!msgs)
    return NULL;
  struct buf sys;
  buf_init(&sys, (size_t)64 << 20);
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "model", upstream_model ? upstream_model : "");
  int64_t max_tokens = -1;
  if (adapt_read_max_tokens(req, "max_tokens", &max_tokens, err, errlen) < 0 ||
      adapt_read_max_tokens(req, "max_completion_tokens", &max_tokens, err, errlen) < 0)
    goto bad;
  cJSON_AddNumberToObject(out, "max_tokens",
                          (double)(max_tokens > 0 ? max_tokens : CLAUDE_DEFAULT_MAX_TOKENS));
  cJSON *omsgs = cJSON_CreateArray();
  cJSON_AddItemToObject(out, "messages", omsgs);

  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, msgs)
  {
    char where[48];
    snprintf(where, sizeof where, "messages[%d]", i++);
    const char *role = adapt_jstr(m, "role");
    if (!role) {
      adapt_set_err(err, errlen, "%s: each message must be an object with a string 'role'", where);
      goto bad;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!strcmp(role, "system") || !strcmp(role, "developer")) {
      if (content_text(content, &sys, "\n", err, errlen, where) < 0)
        goto bad;
      continue;
    }
    cJSON *blocks = cJSON_CreateArray();
    const char *as = role;
    if (!strcmp(role, "user")) {
      if (content_blocks(content, blocks, err, errlen, where) < 0)
        goto bad_blocks;
    } else if (!strcmp(role, "assistant")) {
      thinking_blocks(cJSON_GetObjectItemCaseSensitive(m, "reasoning_details"), blocks);
      if (content_blocks(content, blocks, err, errlen, where) < 0 ||
          tool_use_blocks(cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), blocks, err, errlen,
                          where) < 0)
        goto bad_blocks;
    } else if (!strcmp(role, "tool")) {
      const char *id = adapt_jstr(m, "tool_call_id");
      if (!id) {
        adapt_set_err(err, errlen, "%s: a tool message needs a string 'tool_call_id'", where);
        goto bad_blocks;
      }
      struct buf t;
      buf_init(&t, (size_t)64 << 20);
      if (content_text(content, &t, "\n", err, errlen, where) < 0) {
        buf_free(&t);
        goto bad_blocks;
      }
      cJSON *b = cJSON_CreateObject();
      cJSON_AddStringToObject(b, "type", "tool_result");
      cJSON_AddStringToObject(b, "tool_use_id", id);
      cJSON_AddStringToObject(b, "content", t.data ? t.data : "");
      buf_free(&t);
      cJSON_AddItemToArray(blocks, b);
      as = "user";
    } else {
      adapt_set_err(err, errlen, "%s: role '%.32s' is not supported", where, role);
      goto bad_blocks;
    }
    if (cJSON_GetArraySize(blocks) == 0)
      cJSON_AddItemToArray(blocks, adapt_text_item("text", "..."));
    adapt_push_message(omsgs, as, "content", blocks);
    continue;
  bad_blocks:
    cJSON_Delete(blocks);
    goto bad;
  }
  const char *first = adapt_jstr(cJSON_GetArrayItem(omsgs, 0), "role");
  if (!first || strcmp(first, "user") != 0) {
    cJSON *um = cJSON_CreateObject(), *blocks = cJSON_CreateArray();
    cJSON_AddStringToObject(um, "role", "user");
    cJSON_AddItemToArray(blocks, adapt_text_item("text", "..."));
    cJSON_AddItemToObject(um, "content", blocks);
    cJSON_InsertItemInArray(omsgs, 0, um);
  }
  if (sys.len)
    cJSON_AddStringToObject(out, "system", sys.data);

  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
  if (tools && !cJSON_IsNull(tools)) {
    if (!cJSON_IsArray(tools)) {
      adapt_set_err(err, errlen, "'tools' must be an array");
      goto bad;
    }
    cJSON *ot = cJSON_AddArrayToObject(out, "tools");
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
      const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
      const char *name = adapt_jstr(fn, "name"), *desc = adapt_jstr(fn, "description");
      if (!name) {
        adapt_set_err(err, errlen, "each tool needs a string 'function.name'");
        goto bad;
      }
      const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", name);
      if (desc)
        cJSON_AddStringToObject(o, "description", desc);
      if (cJSON_IsObject(params)) {
        cJSON_AddItemToObject(o, "input_schema", cJSON_Duplicate(params, 1));
      } else {
        cJSON *s = cJSON_AddObjectToObject(o, "input_schema");
        cJSON_AddStringToObject(s, "type", "object");
        cJSON_AddObjectToObject(s, "properties");
      }
      cJSON_AddItemToArray(ot, o);
    }
  }
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
  bool no_parallel = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(req, "parallel_tool_calls"));
  if ((tc && !cJSON_IsNull(tc)) || no_parallel) {
    cJSON *o = cJSON_CreateObject();
    const char *fname = adapt_jstr(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
    if (!tc || cJSON_IsNull(tc) || (cJSON_IsString(tc) && !strcmp(tc->valuestring, "auto"))) {
      cJSON_AddStringToObject(o, "type", "auto");
    } else if (cJSON_IsString(tc) && !strcmp(tc->valuestring, "required")) {
      cJSON_AddStringToObject(o, "type", "any");
    } else if (cJSON_IsString(tc) && !strcmp(tc->valuestring, "none")) {
      cJSON_AddStringToObject(o, "type", "none");
    } else if (cJSON_IsObject(tc) && fname) {
      cJSON_AddStringToObject(o, "type", "tool");
      cJSON_AddStringToObject(o, "name", fname);
    } else {
      cJSON_Delete(o);
      adapt_set_err(err, errlen,
                    "'tool_choice' must be \"auto\", \"required\", \"none\" or a function object");
      goto bad;
    }
    if (no_parallel)
      cJSON_AddTrueToObject(o, "disable_parallel_tool_use");
    cJSON_AddItemToObject(out, "tool_choice", o);
  }
  /* Anthropic's current models refuse temperature and top_p together ("temperature and top_p
   * cannot both be specified for this model"): temperature wins, top_p is sent only alone */
  if (adapt_copy_number(req, "temperature", out, "temperature", err, errlen) < 0 ||
      adapt_copy_number(req, "top_p", out, "top_p", err, errlen) < 0)
    goto bad;
  if (present(out, "temperature"))
    cJSON_DeleteItemFromObjectCaseSensitive(out, "top_p");
  cJSON *stops;
  if (adapt_stop_list(cJSON_GetObjectItemCaseSensitive(req, "stop"), "stop", &stops, err,
                      errlen) < 0)
    goto bad;
  if (stops)
    cJSON_AddItemToObject(out, "stop_sequences", stops);
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(req, "stream");
  if (stream && !cJSON_IsNull(stream)) {
    if (!cJSON_IsBool(stream)) {
      adapt_set_err(err, errlen, "'stream' must be true or false");
      goto bad;
    }
    cJSON_AddBoolToObject(out, "stream", cJSON_IsTrue(stream));
  }
  const char *user = adapt_jstr(req, "user");
  if (user && user[0])
    cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "metadata"), "user_id", user);
  buf_free(&sys);
  return adapt_print_or_err(out, err, errlen);
bad:
  buf_free(&sys);
  cJSON_Delete(out);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Anthropic response -> OpenAI response */

static void claude_usage(const cJSON *usage, struct usage *u, bool *had_input)
{
  if (!cJSON_IsObject(usage))
    return;
  if (present(usage, "input_tokens") || present(usage, "cache_read_input_tokens") ||
      present(usage, "cache_creation_input_tokens")) {
    int64_t in = usage_count(usage, "input_tokens", u), cr = usage_count(usage, "cache_read_input_tokens", u);
    int64_t cw = usage_count(usage, "cache_creation_input_tokens", u);
    /* cache_creation splits the writes by lifetime (5 minutes: the default; 1 hour) */
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(usage, "cache_creation");
    int64_t w1h = usage_count(cc, "ephemeral_1h_input_tokens", u);
    int64_t w5m = usage_count(cc, "ephemeral_5m_input_tokens", u);
    if (w5m + w1h > cw)
      cw = w5m + w1h;
    u->prompt_tokens = in + cr + cw;
    u->cached_tokens = cr;
    u->cache_write_1h = w1h;
    u->cache_write_5m = cw - w1h;
    if (had_input)
      *had_input = true;
  }
  if (present(usage, "output_tokens"))
    u->completion_tokens = usage_count(usage, "output_tokens", u);
}

void claude_read_usage(const cJSON *usage, struct usage *u)
{
  claude_usage(usage, u, NULL);
}

int claude_request_info(const cJSON *req, struct oai_request *rq, char *err, size_t errlen)
{
  memset(rq, 0, sizeof *rq);
  rq->max_tokens = -1;
  const char *model = adapt_jstr(req, "model");
  if (!cJSON_IsObject(req) || !model || !model[0]) {
    adapt_set_err(err, errlen, "model: a non-empty string is required");
    return -1;
  }
  if (strlen(model) >= sizeof rq->model) {
    adapt_set_err(err, errlen, "model: longer than %zu characters", sizeof rq->model - 1);
    return -1;
  }
  snprintf(rq->model, sizeof rq->model, "%s", model);
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(req, "stream");
  if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream)) {
    adapt_set_err(err, errlen, "stream: must be true or false");
    return -1;
  }
  rq->stream = cJSON_IsTrue(stream);
  if (adapt_read_max_tokens(req, "max_tokens", &rq->max_tokens, err, errlen) < 0)
    return -1;
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
  if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
    adapt_set_err(err, errlen, "messages: a non-empty array is required");
    return -1;
  }
  /* the text the prompt holds, counted in the parsed body (text, content and system strings) */
  size_t chars = adapt_text_chars(msgs) + adapt_text_chars(cJSON_GetObjectItemCaseSensitive(req, "system")) +
                 16 * (size_t)cJSON_GetArraySize(msgs);
  const cJSON *sys = cJSON_GetObjectItemCaseSensitive(req, "system");
  if (cJSON_IsString(sys))
    chars += strlen(sys->valuestring);
  rq->prompt_estimate = oai_tokens_from_chars(chars);
  return 0;
}

char *claude_response_to_openai(const char *body, size_t len, int64_t created, struct usage *u,
                                char *err, size_t errlen)
{
  cJSON *root = adapt_parse_response(body, len, u, err, errlen);
  if (!root)
    return NULL;
  const char *type = adapt_jstr(root, "type");
  if (type && !strcmp(type, "error")) {
    return adapt_upstream_error(root, err, errlen);
  }
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
  if (!cJSON_IsArray(content)) {
    adapt_set_err(err, errlen, "the upstream response has no 'content' array");
    cJSON_Delete(root);
    return NULL;
  }
  struct buf text, think;
  buf_init(&text, (size_t)256 << 20);
  buf_init(&think, (size_t)256 << 20);
  cJSON *calls = cJSON_CreateArray(), *details = cJSON_CreateArray();
  const cJSON *b;
  int rc = 0;
  cJSON_ArrayForEach(b, content)
  {
    const char *bt = adapt_jstr(b, "type");
    if (!bt)
      continue;
    if (!strcmp(bt, "text") && adapt_jstr(b, "text")) {
      rc |= buf_append_str(&text, adapt_jstr(b, "text"));
    } else if (!strcmp(bt, "thinking") && adapt_jstr(b, "thinking")) {
      /* the signed block goes back whole on the next turn (doc/design.md "Signatures across
       * formats"): its text and signature as one reasoning_details item */
      rc |= buf_append_str(&think, adapt_jstr(b, "thinking"));
      if (adapt_jstr(b, "signature"))
        adapt_add_reasoning_detail(details, adapt_jstr(b, "thinking"), adapt_jstr(b, "signature"), NULL,
                                   ADAPT_SIG_ANTHROPIC);
    } else if (!strcmp(bt, "redacted_thinking") && adapt_jstr(b, "data")) {
      adapt_add_reasoning_detail(details, NULL, NULL, adapt_jstr(b, "data"), ADAPT_SIG_ANTHROPIC);
    } else if (!strcmp(bt, "tool_use")) {
      const cJSON *input = cJSON_GetObjectItemCaseSensitive(b, "input");
      char *args = input ? cJSON_PrintUnformatted(input) : NULL;
      adapt_add_oai_call(calls, adapt_jstr(b, "id") ? adapt_jstr(b, "id") : "",
                         adapt_jstr(b, "name"), args);
      free(args);
    }
  }
  if (rc) {
    cJSON_Delete(details);
    return adapt_too_large(&text, &think, calls, root, err, errlen);
  }
  claude_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), u, NULL);

  char *s = adapt_oai_completion_details(adapt_jstr(root, "id") ? adapt_jstr(root, "id") : "", created,
                                         adapt_jstr(root, "model") ? adapt_jstr(root, "model") : "", &text,
                                         &think, calls, cJSON_GetArraySize(calls) != 0, details,
                                         claude_stop_to_openai(adapt_jstr(root, "stop_reason")), u, err,
                                         errlen);
  buf_free(&text);
  buf_free(&think);
  cJSON_Delete(root);
  return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Anthropic stream -> OpenAI chunks */

void claude_stream_to_openai_init(struct claude_to_openai_stream *s, bool include_usage,
                                  int64_t created)
{
  memset(s, 0, sizeof *s);
  s->include_usage = include_usage;
  s->created = created;
  s->tool_block = -1;
}

/* data: {..."choices":[{"index":0,"delta":{ */
static int chunk_open(const struct claude_to_openai_stream *s, struct buf *o)
{
  return adapt_chunk_open(o, s->id, s->model, s->created);
}

static int delta_string(const struct claude_to_openai_stream *s, struct buf *o, const char *key,
                        const char *val)
{
  return adapt_delta_string(o, s->id, s->model, s->created, key, val);
}

/* One reasoning_details item as a chunk of its own: a thinking block's signature (text "": the
 * block's text is the reasoning_content streamed before it) or a redacted block's data. */
static int delta_detail(struct claude_to_openai_stream *s, struct buf *o, const char *sig, const char *data)
{
  cJSON *one = cJSON_CreateArray();
  cJSON *d = adapt_add_reasoning_detail(one, "", sig, data, ADAPT_SIG_ANTHROPIC);
  cJSON_ReplaceItemInObject(d, "index", cJSON_CreateNumber(s->details++));
  int rc = adapt_delta_detail(o, s->id, s->model, s->created, d);
  cJSON_Delete(one);
  return rc;
}

int claude_stream_to_openai_feed(struct claude_to_openai_stream *s, const char *event,
                                 const char *data, size_t len, struct buf *out, char *err,
                                 size_t errlen)
{
  if (s->finished || s->failed)
    return 0;
  cJSON *ev = adapt_parse_event(data, len, "event", err, errlen);
  if (!ev)
    return -1;
  const char *name = event && event[0] ? event : adapt_jstr(ev, "type");
  if (!name) {
    cJSON_Delete(ev);
    adapt_set_err(err, errlen, "an upstream stream event has no type");
    return -1;
  }
  size_t mark = out->len;
  struct claude_to_openai_stream save = *s;
  int rc = 0;
  if (!strcmp(name, "message_start")) {
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ev, "message");
    if (!cJSON_IsObject(msg)) {
      adapt_set_err(err, errlen, "message_start has no 'message' object");
      goto bad;
    }
    snprintf(s->id, sizeof s->id, "%s", adapt_jstr(msg, "id") ? adapt_jstr(msg, "id") : "");
    snprintf(s->model, sizeof s->model, "%s",
             adapt_jstr(msg, "model") ? adapt_jstr(msg, "model") : "");
    claude_usage(cJSON_GetObjectItemCaseSensitive(msg, "usage"), &s->usage, NULL);
    if (!s->started) {
      rc |= chunk_open(s, out);
      rc |= buf_append_str(out, "\"role\":\"assistant\",\"content\":\"\"");
      rc |= adapt_chunk_close(out, NULL);
    }
    s->started = true;
  } else if (!strcmp(name, "content_block_start")) {
    const cJSON *cb = cJSON_GetObjectItemCaseSensitive(ev, "content_block");
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(ev, "index");
    const char *bt = adapt_jstr(cb, "type");
    if (!bt) {
      adapt_set_err(err, errlen, "content_block_start has no 'content_block.type'");
      goto bad;
    }
    if (!strcmp(bt, "tool_use")) {
      /* bounded before the cast: an out-of-range double -> int is undefined (found by fuzz_claude) */
      s->tool_block = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                          ? (int)idx->valuedouble : -1;
      int ti = s->tool_calls++;
      rc |= chunk_open(s, out);
      rc |= buf_appendf(out, "\"tool_calls\":[{\"index\":%d,\"id\":", ti);
      rc |= buf_append_json_str(out, adapt_jstr(cb, "id") ? adapt_jstr(cb, "id") : "");
      rc |= buf_append_str(out, ",\"type\":\"function\",\"function\":{\"name\":");
      rc |= buf_append_json_str(out, adapt_jstr(cb, "name") ? adapt_jstr(cb, "name") : "");
      rc |= buf_append_str(out, ",\"arguments\":\"\"}}]");
      rc |= adapt_chunk_close(out, NULL);
    } else if (!strcmp(bt, "text") && adapt_jstr(cb, "text") && adapt_jstr(cb, "text")[0]) {
      rc |= delta_string(s, out, "content", adapt_jstr(cb, "text"));
    } else if (!strcmp(bt, "thinking") && adapt_jstr(cb, "thinking") &&
               adapt_jstr(cb, "thinking")[0]) {
      rc |= delta_string(s, out, "reasoning_content", adapt_jstr(cb, "thinking"));
    } else if (!strcmp(bt, "redacted_thinking") && adapt_jstr(cb, "data")) {
      rc |= delta_detail(s, out, NULL, adapt_jstr(cb, "data"));
    }
  } else if (!strcmp(name, "content_block_delta")) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "delta");
    const char *dt = adapt_jstr(d, "type");
    if (!dt) {
      adapt_set_err(err, errlen, "content_block_delta has no 'delta.type'");
      goto bad;
    }
    if (!strcmp(dt, "text_delta") && adapt_jstr(d, "text")) {
      rc |= delta_string(s, out, "content", adapt_jstr(d, "text"));
    } else if (!strcmp(dt, "thinking_delta") && adapt_jstr(d, "thinking")) {
      rc |= delta_string(s, out, "reasoning_content", adapt_jstr(d, "thinking"));
    } else if (!strcmp(dt, "input_json_delta") && adapt_jstr(d, "partial_json") &&
               s->tool_calls > 0) {
      rc |= chunk_open(s, out);
      rc |= buf_appendf(out, "\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":",
                        s->tool_calls - 1);
      rc |= buf_append_json_str(out, adapt_jstr(d, "partial_json"));
      rc |= buf_append_str(out, "}}]");
      rc |= adapt_chunk_close(out, NULL);
    }
    else if (!strcmp(dt, "signature_delta") && adapt_jstr(d, "signature"))
      rc |= delta_detail(s, out, adapt_jstr(d, "signature"), NULL);
    /* unknown deltas carry nothing for an OpenAI client */
  } else if (!strcmp(name, "content_block_stop")) {
    s->tool_block = -1;
  } else if (!strcmp(name, "message_delta")) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "delta");
    claude_usage(cJSON_GetObjectItemCaseSensitive(ev, "usage"), &s->usage, NULL);
    const char *sr = adapt_jstr(d, "stop_reason");
    if (sr && !s->finish_reason) {
      s->finish_reason = claude_stop_to_openai(sr);
      rc |= chunk_open(s, out);
      rc |= adapt_chunk_close(out, s->finish_reason);
    }
  } else if (!strcmp(name, "message_stop")) {
    if (!s->finish_reason) {
      s->finish_reason = "stop";
      rc |= chunk_open(s, out);
      rc |= adapt_chunk_close(out, s->finish_reason);
    }
    if (s->include_usage) {
      const struct usage *u = &s->usage;
      rc |= adapt_usage_chunk(out, s->id, s->model, s->created, u);
    }
    rc |= buf_append_str(out, "data: [DONE]\n\n");
    if (!rc)
      s->finished = true;
  } else if (!strcmp(name, "error")) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
    const char *m = adapt_jstr(e, "message"), *t = adapt_jstr(e, "type");
    rc |= buf_append_str(out, "data: {\"error\":{\"message\":");
    rc |= buf_append_json_str(out, m ? m : "upstream stream error");
    rc |= buf_append_str(out, ",\"type\":");
    rc |= buf_append_json_str(out, t ? t : "upstream_error");
    rc |= buf_append_str(out, ",\"param\":null,\"code\":null}}\n\n");
    if (!rc)
      s->failed = true;
  }
  /* ping and unknown events: nothing */
  cJSON_Delete(ev);
  if (rc) {
    *s = save;
    return adapt_buffer_full(out, mark, err, errlen);
  }
  return 0;
bad:
  cJSON_Delete(ev);
  *s = save;
  adapt_restore(out, mark);
  return -1;
}

