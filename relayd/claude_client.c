/* claude_client: see claude_client.h. */
#include "claude_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "reasoning.h"

/* ------------------------------------------------------------------------------------------ */
/* Anthropic request -> OpenAI request */

/* The text of an Anthropic system or tool_result content: a string or text blocks. */
static int claude_text(const cJSON *c, struct buf *b, const char *sep, char *err, size_t errlen,
                       const char *where)
{
  if (!c || cJSON_IsNull(c))
    return 0;
  if (cJSON_IsString(c))
    return buf_append_str(b, c->valuestring) < 0
               ? (adapt_set_err(err, errlen, "%s: too long", where), -1)
               : 0;
  if (!cJSON_IsArray(c)) {
    adapt_set_err(err, errlen, "%s must be a string or an array of text blocks", where);
    return -1;
  }
  const cJSON *blk;
  cJSON_ArrayForEach(blk, c)
  {
    const char *t = adapt_jstr(blk, "text");
    const char *type = adapt_jstr(blk, "type");
    if (type && strcmp(type, "text") != 0)
      continue;    /* images inside tool results have no OpenAI tool-message form */
    if (!t) {
      adapt_set_err(err, errlen, "%s: a text block needs a string 'text'", where);
      return -1;
    }
    if ((b->len && t[0] && buf_append_str(b, sep) < 0) || buf_append_str(b, t) < 0) {
      adapt_set_err(err, errlen, "%s: too long", where);
      return -1;
    }
  }
  return 0;
}

static cJSON *oai_text_part(const char *t)
{
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", "text");
  cJSON_AddStringToObject(p, "text", t);
  return p;
}

static cJSON *oai_image_part(const cJSON *blk, char *err, size_t errlen, const char *where)
{
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(blk, "source");
  const char *st = adapt_jstr(src, "type");
  struct buf u;
  buf_init(&u, (size_t)256 << 20);
  if (st && !strcmp(st, "base64") && adapt_jstr(src, "media_type") && adapt_jstr(src, "data")) {
    if (buf_appendf(&u, "data:%s;base64,", adapt_jstr(src, "media_type")) < 0 ||
        buf_append_str(&u, adapt_jstr(src, "data")) < 0)
      goto bad;
  } else if (st && !strcmp(st, "url") && adapt_jstr(src, "url")) {
    if (buf_append_str(&u, adapt_jstr(src, "url")) < 0)
      goto bad;
  } else {
    goto bad;
  }
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", "image_url");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "image_url"), "url", u.data);
  buf_free(&u);
  return p;
bad:
  buf_free(&u);
  adapt_set_err(err, errlen,
                "%s: an image block needs a source of type base64 (media_type, data) or url",
                where);
  return NULL;
}

/* One Anthropic message -> OpenAI messages appended to omsgs. */
static int claude_message_to_openai(const cJSON *m, cJSON *omsgs, char *err, size_t errlen,
                                    const char *where)
{
  const char *role = adapt_jstr(m, "role");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
  if (role && (!strcmp(role, "system") || !strcmp(role, "developer"))) {
    /* Claude Code sends these inside messages to a model it does not know as Claude (Anthropic's
     * own API refuses them): a system message in its place, which each channel format puts in
     * its system instruction in order */
    struct buf sys;
    buf_init(&sys, (size_t)64 << 20);
    int rc = claude_text(c, &sys, "\n", err, errlen, where);
    if (rc == 0)
      adapt_push_system(omsgs, &sys);
    buf_free(&sys);
    return rc;
  }
  if (!role || (strcmp(role, "user") && strcmp(role, "assistant"))) {
    adapt_set_err(err, errlen, "%s: 'role' must be \"user\", \"assistant\", \"system\" or \"developer\"",
                  where);
    return -1;
  }
  if (cJSON_IsString(c)) {
    cJSON *om = cJSON_CreateObject();
    cJSON_AddStringToObject(om, "role", role);
    cJSON_AddStringToObject(om, "content", c->valuestring);
    cJSON_AddItemToArray(omsgs, om);
    return 0;
  }
  if (!cJSON_IsArray(c)) {
    adapt_set_err(err, errlen, "%s: 'content' must be a string or an array of blocks", where);
    return -1;
  }
  bool assistant = !strcmp(role, "assistant");
  cJSON *parts = cJSON_CreateArray(), *calls = cJSON_CreateArray(), *details = cJSON_CreateArray();
  const char *call_sig = NULL;
  struct buf text;
  buf_init(&text, (size_t)256 << 20);
  const cJSON *blk;
  cJSON_ArrayForEach(blk, c)
  {
    const char *type = adapt_jstr(blk, "type");
    if (!type) {
      adapt_set_err(err, errlen, "%s: each content block must be an object with a 'type'", where);
      goto bad;
    }
    if (!strcmp(type, "text")) {
      const char *t = adapt_jstr(blk, "text");
      if (!t) {
        adapt_set_err(err, errlen, "%s: a text block needs a string 'text'", where);
        goto bad;
      }
      if (assistant) {
        if (buf_append_str(&text, t) < 0) {
          adapt_set_err(err, errlen, "%s: too long", where);
          goto bad;
        }
      } else {
        cJSON_AddItemToArray(parts, oai_text_part(t));
      }
    } else if (!strcmp(type, "image") && !assistant) {
      cJSON *p = oai_image_part(blk, err, errlen, where);
      if (!p)
        goto bad;
      cJSON_AddItemToArray(parts, p);
    } else if (!strcmp(type, "tool_use") && assistant) {
      const char *id = adapt_jstr(blk, "id"), *name = adapt_jstr(blk, "name");
      const cJSON *input = cJSON_GetObjectItemCaseSensitive(blk, "input");
      if (!id || !name) {
        adapt_set_err(err, errlen, "%s: a tool_use block needs string 'id' and 'name'", where);
        goto bad;
      }
      char *args = input ? cJSON_PrintUnformatted(input) : NULL;
      cJSON *tc = cJSON_CreateObject(), *fn;
      cJSON_AddStringToObject(tc, "id", id);
      cJSON_AddStringToObject(tc, "type", "function");
      fn = cJSON_AddObjectToObject(tc, "function");
      cJSON_AddStringToObject(fn, "name", name);
      cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
      free(args);
      if (call_sig)   /* the Gemini signature of this call, back in Google's field */
        cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "extra_content"), "google"),
                                "thought_signature", call_sig);
      call_sig = NULL;
      cJSON_AddItemToArray(calls, tc);
    } else if (!strcmp(type, "tool_result") && !assistant) {
      const char *id = adapt_jstr(blk, "tool_use_id");
      if (!id) {
        adapt_set_err(err, errlen, "%s: a tool_result block needs a string 'tool_use_id'", where);
        goto bad;
      }
      struct buf t;
      buf_init(&t, (size_t)64 << 20);
      if (claude_text(cJSON_GetObjectItemCaseSensitive(blk, "content"), &t, "\n", err, errlen,
                      where) < 0) {
        buf_free(&t);
        goto bad;
      }
      cJSON *tm = cJSON_CreateObject();
      cJSON_AddStringToObject(tm, "role", "tool");
      cJSON_AddStringToObject(tm, "tool_call_id", id);
      cJSON_AddStringToObject(tm, "content", t.data ? t.data : "");
      buf_free(&t);
      cJSON_AddItemToArray(omsgs, tm);    /* tool messages right after the assistant's call */
    } else if (!strcmp(type, "thinking") && assistant) {
      /* signed thinking reached this client only from a Gemini channel (an Anthropic channel is
       * native): an empty one just before a tool_use signs that call, the others are thoughts
       * (doc/design.md "Signatures across formats"); unsigned thinking is not sent back */
      const char *sig = adapt_jstr(blk, "signature"), *th = adapt_jstr(blk, "thinking");
      const char *next = adapt_jstr(blk->next, "type");
      if (sig && sig[0] && (!th || !th[0]) && next && !strcmp(next, "tool_use")) {
        call_sig = sig;
      } else if (sig && sig[0]) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "type", "reasoning.text");
        cJSON_AddStringToObject(d, "text", th ? th : "");
        cJSON_AddStringToObject(d, "signature", sig);
        cJSON_AddStringToObject(d, "format", "google-gemini-v1");
        cJSON_AddNumberToObject(d, "index", cJSON_GetArraySize(details));
        cJSON_AddItemToArray(details, d);
      }
    } else if (!strcmp(type, "thinking") || !strcmp(type, "redacted_thinking")) {
      /* prior reasoning is not sent back to an OpenAI model */
    } else {
      adapt_set_err(err, errlen, "%s: content block type '%.64s' is not supported here", where,
                    type);
      goto bad;
    }
  }
  int before = cJSON_GetArraySize(omsgs);
  adapt_end_message(omsgs, true, assistant, &text, parts, calls);
  cJSON *last = cJSON_GetArrayItem(omsgs, cJSON_GetArraySize(omsgs) - 1);
  if (cJSON_GetArraySize(details) && cJSON_GetArraySize(omsgs) > before)
    cJSON_AddItemToObject(last, "reasoning_details", details);
  else
    cJSON_Delete(details);
  return 0;
bad:
  cJSON_Delete(details);
  return adapt_end_message(omsgs, false, assistant, &text, parts, calls);
}

/* Anthropic's reasoning controls -> the common form's reasoning_effort (reasoning.h's tables):
 * thinking {type: enabled, budget_tokens} by its budget; {type: adaptive} (the model decides) by
 * output_config.effort (low/medium/high/max), else "high", Anthropic's default effort; {type:
 * disabled} "none". output_config.effort names the effort of enabled thinking too. */
static int thinking_effort(const cJSON *req, cJSON *out, char *err, size_t errlen)
{
  const cJSON *th = cJSON_GetObjectItemCaseSensitive(req, "thinking");
  const cJSON *oc = cJSON_GetObjectItemCaseSensitive(req, "output_config");
  if (!th || cJSON_IsNull(th))
    return 0;
  const char *type = adapt_jstr(th, "type");
  if (!type) {
    adapt_set_err(err, errlen, "thinking: must be an object with a 'type'");
    return -1;
  }
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(oc, "effort");
  struct reasoning rs = {.kind = RS_NONE};
  if (ev && !cJSON_IsNull(ev) && (!cJSON_IsString(ev) || !reasoning_from_effort(ev->valuestring, &rs))) {
    adapt_set_err(err, errlen, "output_config.effort: must be low, medium, high or max");
    return -1;
  }
  const char *effort;
  if (!strcmp(type, "disabled")) {
    effort = "none";
  } else if (!strcmp(type, "adaptive")) {
    effort = rs.kind == RS_EFFORT ? rs.effort : "high";
  } else if (!strcmp(type, "enabled")) {
    int64_t budget = -1;
    if (adapt_read_max_tokens(th, "budget_tokens", &budget, err, errlen) < 0)
      return -1;
    effort = rs.kind == RS_EFFORT ? rs.effort : reasoning_effort_of_budget(budget);
  } else {
    adapt_set_err(err, errlen, "thinking.type: must be enabled, adaptive or disabled");
    return -1;
  }
  cJSON_AddStringToObject(out, "reasoning_effort", effort);
  return 0;
}

char *claude_request_to_openai(const cJSON *req, const char *upstream_model, char *err,
                               size_t errlen)
{
  const cJSON *msgs = adapt_list(req, "messages", "messages: must be a non-empty array", err, errlen);
  if (!msgs)
    return NULL;
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "model", upstream_model ? upstream_model : "");
  cJSON *omsgs = cJSON_AddArrayToObject(out, "messages");
  const cJSON *system = cJSON_GetObjectItemCaseSensitive(req, "system");
  if (system && !cJSON_IsNull(system)) {
    struct buf sys;
    buf_init(&sys, (size_t)64 << 20);
    if (claude_text(system, &sys, "\n", err, errlen, "system") < 0) {
      buf_free(&sys);
      goto bad;
    }
    adapt_push_system(omsgs, &sys);
    buf_free(&sys);
  }
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, msgs)
  {
    char where[48];
    snprintf(where, sizeof where, "messages[%d]", i++);
    if (claude_message_to_openai(m, omsgs, err, errlen, where) < 0)
      goto bad;
  }
  int64_t max_tokens = -1;
  if (adapt_read_max_tokens(req, "max_tokens", &max_tokens, err, errlen) < 0)
    goto bad;
  if (max_tokens > 0)
    cJSON_AddNumberToObject(out, "max_tokens", (double)max_tokens);
  if (adapt_copy_number(req, "temperature", out, "temperature", err, errlen) < 0 ||
      adapt_copy_number(req, "top_p", out, "top_p", err, errlen) < 0)
    goto bad;
  cJSON *stops;
  const cJSON *ss = cJSON_GetObjectItemCaseSensitive(req, "stop_sequences");
  if (cJSON_IsString(ss)) {
    adapt_set_err(err, errlen, "'stop_sequences' must be an array of strings");
    goto bad;
  }
  if (adapt_stop_list(ss, "stop_sequences", &stops, err, errlen) < 0)
    goto bad;
  if (stops)
    cJSON_AddItemToObject(out, "stop", stops);

  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
  if (tools && !cJSON_IsNull(tools)) {
    if (!cJSON_IsArray(tools)) {
      adapt_set_err(err, errlen, "tools: must be an array");
      goto bad;
    }
    cJSON *ot = cJSON_AddArrayToObject(out, "tools");
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
      const char *name = adapt_jstr(t, "name"), *desc = adapt_jstr(t, "description");
      const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
      if (!name || !cJSON_IsObject(schema)) {
        adapt_set_err(err, errlen, "tools: each tool needs a string 'name' and an object "
                                   "'input_schema' (server tools are not supported here)");
        goto bad;
      }
      cJSON *fn = adapt_add_oai_tool(ot, name, desc);
      cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(schema, 1));
    }
  }
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
  if (tc && !cJSON_IsNull(tc)) {
    const char *type = adapt_jstr(tc, "type");
    if (!type) {
      adapt_set_err(err, errlen, "tool_choice: must be an object with a 'type'");
      goto bad;
    }
    if (!strcmp(type, "auto")) {
      cJSON_AddStringToObject(out, "tool_choice", "auto");
    } else if (!strcmp(type, "any")) {
      cJSON_AddStringToObject(out, "tool_choice", "required");
    } else if (!strcmp(type, "none")) {
      cJSON_AddStringToObject(out, "tool_choice", "none");
    } else if (!strcmp(type, "tool") && adapt_jstr(tc, "name")) {
      cJSON *o = cJSON_AddObjectToObject(out, "tool_choice");
      cJSON_AddStringToObject(o, "type", "function");
      cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "function"), "name",
                              adapt_jstr(tc, "name"));
    } else {
      adapt_set_err(err, errlen, "tool_choice: type must be auto, any, none or tool (with a name)");
      goto bad;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use")))
      cJSON_AddFalseToObject(out, "parallel_tool_calls");
  }
  if (thinking_effort(req, out, err, errlen) < 0)
    goto bad;
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(req, "stream");
  if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream)) {
    adapt_set_err(err, errlen, "stream: must be true or false");
    goto bad;
  }
  if (cJSON_IsTrue(stream)) {
    cJSON_AddTrueToObject(out, "stream");
    cJSON_AddTrueToObject(cJSON_AddObjectToObject(out, "stream_options"), "include_usage");
  }
  const char *user = adapt_jstr(cJSON_GetObjectItemCaseSensitive(req, "metadata"), "user_id");
  if (user)
    cJSON_AddStringToObject(out, "user", user);
  return adapt_print_or_err(out, err, errlen);
bad:
  cJSON_Delete(out);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* OpenAI response -> Anthropic response */

static void msg_id(char *id, size_t n, const char *from)
{
  if (!from || !from[0])
    snprintf(id, n, "msg_relay");
  else if (!strncmp(from, "msg_", 4))
    snprintf(id, n, "%s", from);
  else
    snprintf(id, n, "msg_%s", from);
}

static cJSON *thinking_block(const char *text, const char *sig)
{
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "type", "thinking");
  cJSON_AddStringToObject(b, "thinking", text);
  cJSON_AddStringToObject(b, "signature", sig);
  return b;
}

char *claude_response_from_openai(const char *body, size_t len, const char *model,
                                  struct usage *u, char *err, size_t errlen)
{
  cJSON *root;
  const cJSON *msg = adapt_oai_response(body, len, u, &root, err, errlen);
  if (!msg)
    return NULL;
  const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
  cJSON *out = cJSON_CreateObject();
  char id[CLAUDE_ID_MAX + 8];
  msg_id(id, sizeof id, adapt_jstr(root, "id"));
  cJSON_AddStringToObject(out, "id", id);
  cJSON_AddStringToObject(out, "type", "message");
  cJSON_AddStringToObject(out, "role", "assistant");
  cJSON_AddStringToObject(out, "model",
                          model                       ? model
                          : adapt_jstr(root, "model") ? adapt_jstr(root, "model")
                                                      : "");
  cJSON *content = cJSON_AddArrayToObject(out, "content");
  const char *reasoning = adapt_oai_reasoning(msg);
  /* signed reasoning (reasoning_details, doc/design.md "Signatures across formats") as the signed
   * blocks an Anthropic client keeps and sends back; unsigned reasoning as one thinking block */
  const cJSON *details = cJSON_GetObjectItemCaseSensitive(msg, "reasoning_details"), *rd;
  bool signed_any = false;
  cJSON_ArrayForEach(rd, (cJSON_IsArray(details) ? details : NULL))
  {
    const char *ty = adapt_jstr(rd, "type"), *sig = adapt_jstr(rd, "signature"), *data = adapt_jstr(rd, "data");
    if (ty && !strcmp(ty, "reasoning.encrypted") && data) {
      cJSON *b = cJSON_CreateObject();
      cJSON_AddStringToObject(b, "type", "redacted_thinking");
      cJSON_AddStringToObject(b, "data", data);
      cJSON_AddItemToArray(content, b);
      signed_any = true;
    } else if (ty && !strcmp(ty, "reasoning.text") && sig) {
      const char *t = adapt_jstr(rd, "text");
      cJSON_AddItemToArray(content, thinking_block(t && t[0] ? t : !signed_any && reasoning ? reasoning : "", sig));
      signed_any = true;
    }
  }
  if (reasoning && reasoning[0] && !signed_any)
    cJSON_AddItemToArray(content, thinking_block(reasoning, ""));
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
  struct buf text;
  buf_init(&text, (size_t)256 << 20);
  if (adapt_content_text(cJSON_IsArray(c) || cJSON_IsString(c) ? c : NULL, &text, "", true, err, errlen,
                   "choices[0].message") < 0) {
    buf_free(&text);
    cJSON_Delete(out);
    cJSON_Delete(root);
    return NULL;
  }
  if (text.len)
    cJSON_AddItemToArray(content, adapt_text_item("text", text.data));
  buf_free(&text);
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"), *tc;
  if (cJSON_IsArray(calls))
    cJSON_ArrayForEach(tc, calls)
    {
      const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
      const char *args = adapt_jstr(fn, "arguments");
      cJSON *input = adapt_args_object(args);
      if (adapt_call_signature(tc))      /* a Gemini call's signature: a thinking block before it */
        cJSON_AddItemToArray(content, thinking_block("", adapt_call_signature(tc)));
      cJSON *b = cJSON_CreateObject();
      cJSON_AddStringToObject(b, "type", "tool_use");
      cJSON_AddStringToObject(b, "id", adapt_jstr(tc, "id") ? adapt_jstr(tc, "id") : "");
      cJSON_AddStringToObject(b, "name", adapt_jstr(fn, "name") ? adapt_jstr(fn, "name") : "");
      cJSON_AddItemToObject(b, "input", input);
      cJSON_AddItemToArray(content, b);
    }
  cJSON_AddStringToObject(out, "stop_reason",
                          claude_stop_from_openai(adapt_jstr(choice, "finish_reason")));
  cJSON_AddNullToObject(out, "stop_sequence");
  cJSON *us = cJSON_AddObjectToObject(out, "usage");
  cJSON_AddNumberToObject(us, "input_tokens", (double)(u->prompt_tokens - u->cached_tokens));
  cJSON_AddNumberToObject(us, "cache_creation_input_tokens", 0);
  cJSON_AddNumberToObject(us, "cache_read_input_tokens", (double)u->cached_tokens);
  cJSON_AddNumberToObject(us, "output_tokens", (double)u->completion_tokens);
  cJSON_Delete(root);
  return adapt_print_or_err(out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ */
/* OpenAI stream -> Anthropic events */

void claude_stream_from_openai_init(struct openai_to_claude_stream *s, const char *model,
                                    int64_t input_estimate)
{
  memset(s, 0, sizeof *s);
  snprintf(s->model, sizeof s->model, "%s", model ? model : "");
  s->input_estimate = input_estimate > 0 ? input_estimate : 0;
  s->tool_index = -1;
}

static int frame_open(struct buf *o, const char *name)
{
  return buf_appendf(o, "event: %s\ndata: {\"type\":\"%s\"", name, name);
}

static int close_block(struct openai_to_claude_stream *s, struct buf *o)
{
  if (s->open == CLAUDE_BLOCK_NONE)
    return 0;
  int rc = frame_open(o, "content_block_stop");
  rc |= buf_appendf(o, ",\"index\":%d}\n\n", s->blocks - 1);
  s->open = CLAUDE_BLOCK_NONE;
  s->tool_index = -1;
  return rc;
}

static int open_block(struct openai_to_claude_stream *s, struct buf *o, enum claude_block kind,
                      const char *id, const char *name)
{
  int rc = close_block(s, o);
  rc |= frame_open(o, "content_block_start");
  rc |= buf_appendf(o, ",\"index\":%d,\"content_block\":", s->blocks++);
  if (kind == CLAUDE_BLOCK_TEXT) {
    rc |= buf_append_str(o, "{\"type\":\"text\",\"text\":\"\"}");
  } else if (kind == CLAUDE_BLOCK_THINKING) {
    rc |= buf_append_str(o, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
  } else {
    rc |= buf_append_str(o, "{\"type\":\"tool_use\",\"id\":");
    rc |= buf_append_json_str(o, id ? id : "");
    rc |= buf_append_str(o, ",\"name\":");
    rc |= buf_append_json_str(o, name ? name : "");
    rc |= buf_append_str(o, ",\"input\":{}}");
  }
  rc |= buf_append_str(o, "}\n\n");
  s->open = kind;
  return rc;
}

static int block_delta(struct openai_to_claude_stream *s, struct buf *o, const char *dtype,
                       const char *key, const char *val)
{
  int rc = frame_open(o, "content_block_delta");
  rc |= buf_appendf(o, ",\"index\":%d,\"delta\":{\"type\":\"%s\",\"%s\":", s->blocks - 1, dtype,
                    key);
  rc |= buf_append_json_str(o, val);
  rc |= buf_append_str(o, "}}\n\n");
  return rc;
}

/* A redacted_thinking block, whole: its start (with the data) and its stop. */
static int redacted_block(struct openai_to_claude_stream *s, struct buf *o, const char *data)
{
  int rc = close_block(s, o);
  rc |= frame_open(o, "content_block_start");
  rc |= buf_appendf(o, ",\"index\":%d,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":", s->blocks++);
  rc |= buf_append_json_str(o, data);
  rc |= buf_append_str(o, "}}\n\n");
  s->open = CLAUDE_BLOCK_TEXT;     /* closed by close_block like any other */
  rc |= close_block(s, o);
  return rc;
}

static int message_tail(struct openai_to_claude_stream *s, struct buf *o)
{
  int rc = close_block(s, o);
  const struct usage *u = &s->usage;
  int64_t input = s->have_usage ? u->prompt_tokens - u->cached_tokens : s->input_estimate;
  rc |= frame_open(o, "message_delta");
  rc |= buf_append_str(o, ",\"delta\":{\"stop_reason\":");
  rc |= buf_append_json_str(o, s->stop_reason ? s->stop_reason : "end_turn");
  rc |= buf_appendf(o,
                    ",\"stop_sequence\":null},\"usage\":{\"input_tokens\":%lld,"
                    "\"cache_read_input_tokens\":%lld,\"output_tokens\":%lld}}\n\n",
                    (long long)input, (long long)(s->have_usage ? u->cached_tokens : 0),
                    (long long)u->completion_tokens);
  rc |= frame_open(o, "message_stop");
  rc |= buf_append_str(o, "}\n\n");
  return rc;
}

int claude_stream_from_openai_chunk(struct openai_to_claude_stream *s, const cJSON *ev,
                                    struct buf *out, char *err, size_t errlen)
{
  if (s->finished || s->failed)
    return 0;
  size_t mark = out->len;
  struct openai_to_claude_stream save = *s;
  int rc = 0;
  if (!ev) {                   /* [DONE] */
    if (!s->started) {
      adapt_set_err(err, errlen, "the upstream stream ended before any chunk");
      return -1;
    }
    rc = message_tail(s, out);
    if (rc)
      goto full;
    s->finished = true;
    return 0;
  }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
  if (e && !cJSON_IsNull(e)) {
    const char *m = adapt_error_message(ev);
    rc = claude_error_event(out, 500, m ? m : "upstream stream error");
    if (rc)
      goto full;
    s->failed = true;
    return 0;
  }
  if (!s->started) {
    if (!s->model[0])
      snprintf(s->model, sizeof s->model, "%s",
               adapt_jstr(ev, "model") ? adapt_jstr(ev, "model") : "");
    char id[CLAUDE_ID_MAX + 8];
    msg_id(id, sizeof id, adapt_jstr(ev, "id"));
    rc |= frame_open(out, "message_start");
    rc |= buf_append_str(out, ",\"message\":{\"id\":");
    rc |= buf_append_json_str(out, id);
    rc |= buf_append_str(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    rc |= buf_append_json_str(out, s->model);
    rc |= buf_appendf(out,
                      ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{"
                      "\"input_tokens\":%lld,\"output_tokens\":0}}}\n\n",
                      (long long)s->input_estimate);
    s->started = true;
  }
  const cJSON *choice;
  const cJSON *delta = adapt_chunk_read(ev, &s->usage, &s->have_usage, &choice);
  if (delta && !s->stop_reason) {
    const char *r = adapt_oai_reasoning(delta);
    if (r && r[0]) {
      if (s->open != CLAUDE_BLOCK_THINKING)
        rc |= open_block(s, out, CLAUDE_BLOCK_THINKING, NULL, NULL);
      rc |= block_delta(s, out, "thinking_delta", "thinking", r);
    }
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(delta, "reasoning_details"), *rd;
    cJSON_ArrayForEach(rd, (cJSON_IsArray(details) ? details : NULL))
    {
      const char *ty = adapt_jstr(rd, "type"), *sig = adapt_jstr(rd, "signature"), *data = adapt_jstr(rd, "data");
      if (ty && !strcmp(ty, "reasoning.encrypted") && data) {
        rc |= redacted_block(s, out, data);
      } else if (ty && !strcmp(ty, "reasoning.text") && sig) {
        /* the signature of the thinking streamed so far (or of this item's own text) */
        const char *t = adapt_jstr(rd, "text");
        if (s->open != CLAUDE_BLOCK_THINKING || (t && t[0]))
          rc |= open_block(s, out, CLAUDE_BLOCK_THINKING, NULL, NULL);
        if (t && t[0])
          rc |= block_delta(s, out, "thinking_delta", "thinking", t);
        rc |= block_delta(s, out, "signature_delta", "signature", sig);
        rc |= close_block(s, out);
      }
    }
    const char *t = adapt_jstr(delta, "content");
    if (t && t[0]) {
      if (s->open != CLAUDE_BLOCK_TEXT)
        rc |= open_block(s, out, CLAUDE_BLOCK_TEXT, NULL, NULL);
      rc |= block_delta(s, out, "text_delta", "text", t);
    }
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"), *tc;
    if (cJSON_IsArray(calls))
      cJSON_ArrayForEach(tc, calls)
      {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(tc, "index");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        int ti = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                     ? (int)idx->valuedouble
                     : (s->open == CLAUDE_BLOCK_TOOL ? s->tool_index : 0);
        const char *id = adapt_jstr(tc, "id"), *name = adapt_jstr(fn, "name");
        if (adapt_call_signature(tc)) {
          /* a Gemini call's signature: a signed thinking block of its own before the call */
          rc |= open_block(s, out, CLAUDE_BLOCK_THINKING, NULL, NULL);
          rc |= block_delta(s, out, "signature_delta", "signature", adapt_call_signature(tc));
          rc |= close_block(s, out);
        }
        if (s->open != CLAUDE_BLOCK_TOOL || ti != s->tool_index) {
          rc |= open_block(s, out, CLAUDE_BLOCK_TOOL, id, name);
          s->tool_index = ti;
        }
        const char *args = adapt_jstr(fn, "arguments");
        if (args && args[0])
          rc |= block_delta(s, out, "input_json_delta", "partial_json", args);
      }
  }
  const char *fr = adapt_jstr(choice, "finish_reason");
  if (fr && !s->stop_reason) {
    s->stop_reason = claude_stop_from_openai(fr);
    rc |= close_block(s, out);
  }
  if (rc)
    goto full;
  return 0;
full:
  *s = save;
  return adapt_buffer_full(out, mark, err, errlen);
}

static int feed_chunk(void *s, const cJSON *chunk, struct buf *out, char *err, size_t errlen)
{
  return claude_stream_from_openai_chunk(s, chunk, out, err, errlen);
}

static int finish_tail(void *s, struct buf *out)
{
  return message_tail(s, out);
}

int claude_stream_from_openai_feed(struct openai_to_claude_stream *s, const char *data,
                                   size_t len, struct buf *out, char *err, size_t errlen)
{
  return adapt_feed_openai(s, s->finished || s->failed, data, len, feed_chunk, out, err, errlen);
}

int claude_stream_from_openai_finish(struct openai_to_claude_stream *s, struct buf *out)
{
  return adapt_finish(s, s->finished || s->failed, s->stop_reason != NULL, finish_tail, out, &s->finished);
}
