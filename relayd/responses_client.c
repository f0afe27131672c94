/* responses_client: see responses_client.h. */
#include "responses_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"

#define RESP_TEXT_MAX ((size_t)64 << 20)   /* one output item's text or arguments */

/* o when it is an array, else NULL (for cJSON_ArrayForEach, whose argument is not parenthesized) */
static const cJSON *array_or_null(const cJSON *o)
{
  return cJSON_IsArray(o) ? o : NULL;
}

int64_t responses_int(const cJSON *n, int64_t dflt, int64_t lo, int64_t hi)
{
  if (!cJSON_IsNumber(n) || !(n->valuedouble >= (double)lo && n->valuedouble <= (double)hi))
    return dflt;
  return (int64_t)n->valuedouble;
}

/* ---------------------------------------------------------------- the request */

/* characters of text in a Responses input: strings under it (text, content, arguments, output) */
static size_t input_chars(const cJSON *in)
{
  if (cJSON_IsString(in))
    return strlen(in->valuestring);
  size_t n = 0;
  const cJSON *it;
  if (!cJSON_IsArray(in) && !cJSON_IsObject(in))
    return 0;
  cJSON_ArrayForEach(it, in)
  {
    if (cJSON_IsString(it)) {
      const char *k = it->string;
      if (!k || !strcmp(k, "text") || !strcmp(k, "content") || !strcmp(k, "arguments") || !strcmp(k, "output"))
        n += strlen(it->valuestring);
    } else {
      n += input_chars(it) + (cJSON_IsObject(it) ? 4 : 0);
    }
  }
  return n;
}

int responses_request_info(const cJSON *req, struct oai_request *rq, char *err, size_t errlen, const char **param)
{
  memset(rq, 0, sizeof *rq);
  rq->max_tokens = -1;
  *param = "model";
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
  if (!model || cJSON_IsNull(model)) {
    adapt_set_err(err, errlen, "you must provide a model parameter");
    return -1;
  }
  if (!cJSON_IsString(model) || !model->valuestring[0]) {
    adapt_set_err(err, errlen, "'model' must be a non-empty string");
    return -1;
  }
  if (strlen(model->valuestring) >= sizeof rq->model) {
    adapt_set_err(err, errlen, "'model' is longer than %zu characters", sizeof rq->model - 1);
    return -1;
  }
  snprintf(rq->model, sizeof rq->model, "%s", model->valuestring);
  *param = "stream";
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(req, "stream");
  if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream)) {
    adapt_set_err(err, errlen, "'stream' must be true or false");
    return -1;
  }
  rq->stream = cJSON_IsTrue(stream);
  *param = "input";
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
  if (in && !cJSON_IsNull(in) && !cJSON_IsString(in) && !cJSON_IsArray(in)) {
    adapt_set_err(err, errlen, "'input' must be a string or an array of input items");
    return -1;
  }
  *param = "instructions";
  const cJSON *ins = cJSON_GetObjectItemCaseSensitive(req, "instructions");
  if (ins && !cJSON_IsNull(ins) && !cJSON_IsString(ins)) {
    adapt_set_err(err, errlen, "'instructions' must be a string");
    return -1;
  }
  *param = "max_output_tokens";
  const cJSON *mo = cJSON_GetObjectItemCaseSensitive(req, "max_output_tokens");
  if (mo && !cJSON_IsNull(mo)) {
    if (!cJSON_IsNumber(mo) || !(mo->valuedouble >= 1 && mo->valuedouble <= 100000000) ||
        mo->valuedouble != (double)(int64_t)mo->valuedouble) {
      adapt_set_err(err, errlen, "'max_output_tokens' must be an integer from 1 to 100000000");
      return -1;
    }
    rq->max_tokens = (int64_t)mo->valuedouble;
  }
  *param = NULL;
  rq->prompt_estimate = oai_tokens_from_chars(input_chars(in) + (cJSON_IsString(ins) ? strlen(ins->valuestring) : 0));
  return 0;
}

/* The assistant message the items of one assistant turn build (text, reasoning, tool calls). */
struct turn {
  cJSON *msg;          /* owned until pushed */
  struct buf text;
  struct buf think;
};

static void turn_flush(struct turn *t, cJSON *msgs)
{
  if (!t->msg)
    return;
  /* a call signature whose call never came goes nowhere */
  cJSON_DeleteItemFromObjectCaseSensitive(t->msg, "x_relay_call_signature");
  if (t->text.len)
    cJSON_AddStringToObject(t->msg, "content", t->text.data);
  else
    cJSON_AddNullToObject(t->msg, "content");
  if (t->think.len)
    cJSON_AddStringToObject(t->msg, "reasoning_content", t->think.data);
  cJSON_AddItemToArray(msgs, t->msg);
  t->msg = NULL;
  buf_reset(&t->text);
  buf_reset(&t->think);
}

static cJSON *turn_get(struct turn *t)
{
  if (!t->msg) {
    t->msg = cJSON_CreateObject();
    cJSON_AddStringToObject(t->msg, "role", "assistant");
  }
  return t->msg;
}

/* One content part of a user/system message in chat's shape, or NULL with err. */
static cJSON *input_part(const cJSON *p, int i, int k, char *err, size_t errlen)
{
  const char *ty = adapt_jstr(p, "type");
  if (cJSON_IsString(p))
    return adapt_text_item("text", p->valuestring);
  if (ty && (!strcmp(ty, "input_text") || !strcmp(ty, "output_text") || !strcmp(ty, "text"))) {
    const char *t = adapt_jstr(p, "text");
    if (!t) {
      adapt_set_err(err, errlen, "input[%d].content[%d]: a text part needs 'text'", i, k);
      return NULL;
    }
    return adapt_text_item("text", t);
  }
  if (ty && !strcmp(ty, "input_image")) {
    const char *url = adapt_jstr(p, "image_url");
    if (!url) {
      adapt_set_err(err, errlen, "input[%d].content[%d]: an input_image by file_id needs a channel that "
                    "serves the Responses API; send image_url", i, k);
      return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "image_url");
    cJSON *iu = cJSON_AddObjectToObject(o, "image_url");
    cJSON_AddStringToObject(iu, "url", url);
    const char *detail = adapt_jstr(p, "detail");
    if (detail)
      cJSON_AddStringToObject(iu, "detail", detail);
    return o;
  }
  if (ty && !strcmp(ty, "input_file")) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "file");
    cJSON *f = cJSON_AddObjectToObject(o, "file");
    static const char *const keys[] = {"file_id", "file_data", "filename"};
    for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++)
      if (adapt_jstr(p, keys[j]))
        cJSON_AddStringToObject(f, keys[j], adapt_jstr(p, keys[j]));
    if (!cJSON_GetArraySize(f)) {
      cJSON_Delete(o);
      adapt_set_err(err, errlen, "input[%d].content[%d]: an input_file needs file_id or file_data", i, k);
      return NULL;
    }
    return o;
  }
  adapt_set_err(err, errlen, "input[%d].content[%d]: relay cannot convert a content part of type '%s'", i, k,
                ty ? ty : "(none)");
  return NULL;
}

/* A message item {role, content} into msgs (assistant text joins the turn being built). */
static int message_item(const cJSON *it, int i, cJSON *msgs, struct turn *t, char *err, size_t errlen)
{
  const char *role = adapt_jstr(it, "role");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
  if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") &&
                strcmp(role, "developer"))) {
    adapt_set_err(err, errlen, "input[%d]: 'role' must be user, assistant, system or developer", i);
    return -1;
  }
  if (!cJSON_IsString(c) && !cJSON_IsArray(c)) {
    adapt_set_err(err, errlen, "input[%d]: 'content' must be a string or an array of content parts", i);
    return -1;
  }
  if (!strcmp(role, "assistant")) {
    turn_get(t);
    if (cJSON_IsString(c)) {
      if (adapt_append_text(&t->text, "", c->valuestring) == 0)
        return 0;
      adapt_set_err(err, errlen, "input[%d]: the assistant text is too large", i);
      return -1;
    }
    const cJSON *p;
    int k = 0;
    cJSON_ArrayForEach(p, c)
    {
      const char *ty = adapt_jstr(p, "type"), *tx = adapt_jstr(p, "text");
      if (ty && !strcmp(ty, "refusal"))
        tx = adapt_jstr(p, "refusal");
      if (!tx) {
        adapt_set_err(err, errlen, "input[%d].content[%d]: an assistant part needs 'text'", i, k);
        return -1;
      }
      if (buf_append_str(&t->text, tx) < 0) {
        adapt_set_err(err, errlen, "input too large");
        return -1;
      }
      k++;
    }
    return 0;
  }
  turn_flush(t, msgs);
  bool sys = strcmp(role, "user") != 0;
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "role", sys ? "system" : "user");
  if (cJSON_IsString(c)) {
    cJSON_AddStringToObject(m, "content", c->valuestring);
  } else {
    cJSON *parts = cJSON_AddArrayToObject(m, "content");
    const cJSON *p;
    int k = 0;
    cJSON_ArrayForEach(p, c)
    {
      cJSON *op = input_part(p, i, k++, err, errlen);
      if (!op) {
        cJSON_Delete(m);
        return -1;
      }
      cJSON_AddItemToArray(parts, op);
    }
  }
  cJSON_AddItemToArray(msgs, m);
  return 0;
}

/* A reasoning item: its summary text joins the turn's reasoning_content; its encrypted_content,
 * when it is the reasoning_details entry relay wrote (responses_client.h), goes back as one. */
static void reasoning_item(const cJSON *it, struct turn *t)
{
  cJSON *msg = turn_get(t);
  struct buf sum;
  buf_init(&sum, RESP_TEXT_MAX);
  const cJSON *s;
  cJSON_ArrayForEach(s, array_or_null(cJSON_GetObjectItemCaseSensitive(it, "summary")))
  {
    const char *tx = adapt_jstr(s, "text");
    if (tx)
      adapt_append_text(&sum, "\n\n", tx);
  }
  if (sum.len)
    adapt_append_text(&t->think, "\n\n", sum.data);
  const char *enc = adapt_jstr(it, "encrypted_content");
  cJSON *d = enc ? cJSON_Parse(enc) : NULL;
  const char *ty = adapt_jstr(d, "type"), *fmt = adapt_jstr(d, "format");
  if (cJSON_IsObject(d) && ty && fmt) {
    cJSON *details = cJSON_GetObjectItemCaseSensitive(msg, "reasoning_details");
    if (!details)
      details = cJSON_AddArrayToObject(msg, "reasoning_details");
    if (!strcmp(ty, "reasoning.encrypted") && adapt_jstr(d, "data"))
      adapt_add_reasoning_detail(details, NULL, NULL, adapt_jstr(d, "data"), fmt);
    else if (!strcmp(ty, "reasoning.text") && adapt_jstr(d, "signature"))
      adapt_add_reasoning_detail(details, sum.len ? sum.data : "", adapt_jstr(d, "signature"), NULL, fmt);
    else if (!strcmp(ty, "call.signature") && adapt_jstr(d, "signature"))
      cJSON_AddStringToObject(msg, "x_relay_call_signature", adapt_jstr(d, "signature"));
  }
  cJSON_Delete(d);
  buf_free(&sum);
}

static int call_item(const cJSON *it, int i, struct turn *t, char *err, size_t errlen)
{
  const char *id = adapt_jstr(it, "call_id"), *name = adapt_jstr(it, "name"), *args = adapt_jstr(it, "arguments");
  if (!id || !name) {
    adapt_set_err(err, errlen, "input[%d]: a function_call item needs 'call_id' and 'name'", i);
    return -1;
  }
  cJSON *msg = turn_get(t);
  cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
  if (!calls)
    calls = cJSON_AddArrayToObject(msg, "tool_calls");
  adapt_add_oai_call(calls, id, name, args ? args : "{}");
  /* a Gemini call's signature came as the reasoning item before it */
  cJSON *sig = cJSON_DetachItemFromObjectCaseSensitive(msg, "x_relay_call_signature");
  if (cJSON_IsString(sig))
    adapt_set_call_signature(cJSON_GetArrayItem(calls, cJSON_GetArraySize(calls) - 1), sig->valuestring);
  cJSON_Delete(sig);
  return 0;
}

static int output_item(const cJSON *it, int i, cJSON *msgs, struct turn *t, char *err, size_t errlen)
{
  const char *id = adapt_jstr(it, "call_id");
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, "output");
  if (!id || (!cJSON_IsString(o) && !cJSON_IsArray(o))) {
    adapt_set_err(err, errlen, "input[%d]: a function_call_output item needs 'call_id' and 'output'", i);
    return -1;
  }
  turn_flush(t, msgs);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "role", "tool");
  cJSON_AddStringToObject(m, "tool_call_id", id);
  if (cJSON_IsString(o)) {
    cJSON_AddStringToObject(m, "content", o->valuestring);
  } else {
    struct buf b;
    buf_init(&b, RESP_TEXT_MAX);
    const cJSON *p;
    cJSON_ArrayForEach(p, o)
    {
      const char *tx = adapt_jstr(p, "text");
      if (tx)
        adapt_append_text(&b, "\n", tx);
    }
    cJSON_AddStringToObject(m, "content", b.len ? b.data : "");
    buf_free(&b);
  }
  cJSON_AddItemToArray(msgs, m);
  return 0;
}

static int convert_input(const cJSON *in, cJSON *msgs, char *err, size_t errlen)
{
  if (cJSON_IsString(in)) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", in->valuestring);
    cJSON_AddItemToArray(msgs, m);
    return 0;
  }
  struct turn t = {0};
  buf_init(&t.text, RESP_TEXT_MAX);
  buf_init(&t.think, RESP_TEXT_MAX);
  int rc = 0, i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, array_or_null(in))
  {
    const char *ty = adapt_jstr(it, "type");
    if (!cJSON_IsObject(it)) {
      adapt_set_err(err, errlen, "input[%d]: an input item must be an object", i);
      rc = -1;
    } else if (!ty || !strcmp(ty, "message")) {
      rc = message_item(it, i, msgs, &t, err, errlen);
    } else if (!strcmp(ty, "function_call")) {
      rc = call_item(it, i, &t, err, errlen);
    } else if (!strcmp(ty, "function_call_output")) {
      rc = output_item(it, i, msgs, &t, err, errlen);
    } else if (!strcmp(ty, "reasoning")) {
      reasoning_item(it, &t);
    } else if (!strcmp(ty, "item_reference")) {
      adapt_set_err(err, errlen, "input[%d]: relay keeps no conversation state: an item_reference needs a channel "
                    "that serves the Responses API; send the item itself", i);
      rc = -1;
    } else {
      adapt_set_err(err, errlen, "input[%d]: relay cannot convert an input item of type '%s' for a channel that "
                    "does not serve the Responses API", i, ty);
      rc = -1;
    }
    if (rc)
      break;
    i++;
  }
  if (!rc)
    turn_flush(&t, msgs);
  cJSON_Delete(t.msg);
  buf_free(&t.text);
  buf_free(&t.think);
  return rc;
}

static int convert_tools(const cJSON *req, cJSON *out, char *err, size_t errlen)
{
  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools"), *t;
  if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools)) {
    adapt_set_err(err, errlen, "'tools' must be an array");
    return -1;
  }
  if (cJSON_GetArraySize(tools) > 0) {
    cJSON *ot = cJSON_AddArrayToObject(out, "tools");
    int i = 0;
    cJSON_ArrayForEach(t, tools)
    {
      const char *ty = adapt_jstr(t, "type"), *name = adapt_jstr(t, "name");
      if (!ty) {
        adapt_set_err(err, errlen, "tools[%d]: a tool needs a 'type'", i);
        return -1;
      }
      if (strcmp(ty, "function")) {
        /* OpenAI's own tools (web_search, file_search, code_interpreter, ...), namespaces and custom
         * tools have no chat form: a channel that does not serve Responses cannot run them, so
         * they are not offered to it (doc/endpoints.md); the function tools are */
        i++;
        continue;
      }
      if (!name) {
        adapt_set_err(err, errlen, "tools[%d]: a function tool needs 'name'", i);
        return -1;
      }
      cJSON *fn = adapt_add_oai_tool(ot, name, adapt_jstr(t, "description"));
      const cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "parameters");
      if (cJSON_IsObject(params))
        cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(params, 1));
      const cJSON *strict = cJSON_GetObjectItemCaseSensitive(t, "strict");
      if (cJSON_IsBool(strict))
        cJSON_AddBoolToObject(fn, "strict", cJSON_IsTrue(strict));
      i++;
    }
    if (!cJSON_GetArraySize(ot))
      cJSON_DeleteItemFromObjectCaseSensitive(out, "tools");
  }
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
  if (cJSON_IsString(tc)) {
    cJSON_AddStringToObject(out, "tool_choice", tc->valuestring);
  } else if (cJSON_IsObject(tc)) {
    const char *ty = adapt_jstr(tc, "type"), *name = adapt_jstr(tc, "name");
    if (!ty || strcmp(ty, "function") || !name) {
      adapt_set_err(err, errlen, "'tool_choice': relay converts only auto, none, required or a function by name "
                    "for a channel that does not serve the Responses API (OpenAI's own tools run only there)");
      return -1;
    }
    cJSON *o = cJSON_AddObjectToObject(out, "tool_choice");
    cJSON_AddStringToObject(o, "type", "function");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "function"), "name", name);
  } else if (tc && !cJSON_IsNull(tc)) {
    adapt_set_err(err, errlen, "'tool_choice' must be a string or an object");
    return -1;
  }
  return 0;
}

/* text.format -> response_format */
static int convert_text_format(const cJSON *req, cJSON *out, char *err, size_t errlen)
{
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "text"), "format");
  const char *ty = adapt_jstr(f, "type");
  if (!f || cJSON_IsNull(f) || (ty && !strcmp(ty, "text")))
    return 0;
  if (ty && !strcmp(ty, "json_object")) {
    cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "response_format"), "type", "json_object");
    return 0;
  }
  if (!ty || strcmp(ty, "json_schema") || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(f, "schema"))) {
    adapt_set_err(err, errlen, "'text.format' must be text, json_object or json_schema with a 'schema' object");
    return -1;
  }
  cJSON *rf = cJSON_AddObjectToObject(out, "response_format");
  cJSON_AddStringToObject(rf, "type", "json_schema");
  cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
  cJSON_AddStringToObject(js, "name", adapt_jstr(f, "name") ? adapt_jstr(f, "name") : "response");
  if (adapt_jstr(f, "description"))
    cJSON_AddStringToObject(js, "description", adapt_jstr(f, "description"));
  cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(f, "schema"), 1));
  const cJSON *strict = cJSON_GetObjectItemCaseSensitive(f, "strict");
  if (cJSON_IsBool(strict))
    cJSON_AddBoolToObject(js, "strict", cJSON_IsTrue(strict));
  return 0;
}

char *responses_request_to_openai(const cJSON *req, const char *model, char *err, size_t errlen)
{
  static const char *const stateful[] = {"previous_response_id", "conversation"};
  for (size_t i = 0; i < sizeof stateful / sizeof stateful[0]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, stateful[i]);
    if (v && !cJSON_IsNull(v)) {
      adapt_set_err(err, errlen, "relay keeps no conversation state: '%s' needs a channel that serves the "
                    "Responses API; send the whole conversation in 'input' instead", stateful[i]);
      return NULL;
    }
  }
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "background"))) {
    adapt_set_err(err, errlen, "'background' needs a channel that serves the Responses API");
    return NULL;
  }
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "model", model);
  cJSON *msgs = cJSON_AddArrayToObject(out, "messages");
  const char *ins = adapt_jstr(req, "instructions");
  if (ins && ins[0]) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", ins);
    cJSON_AddItemToArray(msgs, m);
  }
  if (convert_input(cJSON_GetObjectItemCaseSensitive(req, "input"), msgs, err, errlen) < 0 ||
      convert_tools(req, out, err, errlen) < 0 || convert_text_format(req, out, err, errlen) < 0)
    goto bad;
  if (!cJSON_GetArraySize(msgs)) {
    adapt_set_err(err, errlen, "'input' is empty: there is nothing to answer");
    goto bad;
  }
  const cJSON *mo = cJSON_GetObjectItemCaseSensitive(req, "max_output_tokens");
  if (cJSON_IsNumber(mo))
    cJSON_AddNumberToObject(out, "max_tokens", mo->valuedouble);
  if (adapt_copy_number(req, "temperature", out, "temperature", err, errlen) < 0 ||
      adapt_copy_number(req, "top_p", out, "top_p", err, errlen) < 0 ||
      adapt_copy_bool(req, "parallel_tool_calls", out, "parallel_tool_calls", err, errlen) < 0)
    goto bad;
  const char *effort = adapt_jstr(cJSON_GetObjectItemCaseSensitive(req, "reasoning"), "effort");
  if (effort)
    cJSON_AddStringToObject(out, "reasoning_effort", effort);
  const char *user = adapt_jstr(req, "user") ? adapt_jstr(req, "user") : adapt_jstr(req, "safety_identifier");
  if (user)
    cJSON_AddStringToObject(out, "user", user);
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"))) {
    cJSON_AddBoolToObject(out, "stream", true);
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(out, "stream_options"), "include_usage", true);
  }
  return adapt_print_or_err(out, err, errlen);
bad:
  cJSON_Delete(out);
  return NULL;
}

/* ---------------------------------------------------------------- answers */

void responses_read_usage(const cJSON *usage, struct usage *u)
{
  memset(u, 0, sizeof *u);
  u->prompt_tokens = usage_count(usage, "input_tokens", u);
  u->completion_tokens = usage_count(usage, "output_tokens", u);
  u->cached_tokens = usage_count(cJSON_GetObjectItemCaseSensitive(usage, "input_tokens_details"), "cached_tokens", u);
  u->reasoning_tokens =
      usage_count(cJSON_GetObjectItemCaseSensitive(usage, "output_tokens_details"), "reasoning_tokens", u);
  usage_normalize(u);
}

/* {"input_tokens","input_tokens_details":{"cached_tokens"},"output_tokens",
 *  "output_tokens_details":{"reasoning_tokens"},"total_tokens"} (openai-node ResponseUsage) */
void responses_add_usage(cJSON *o, const struct usage *u)
{
  cJSON *us = cJSON_AddObjectToObject(o, "usage");
  cJSON_AddNumberToObject(us, "input_tokens", (double)u->prompt_tokens);
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(us, "input_tokens_details"), "cached_tokens",
                          (double)u->cached_tokens);
  cJSON_AddNumberToObject(us, "output_tokens", (double)u->completion_tokens);
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(us, "output_tokens_details"), "reasoning_tokens",
                          (double)u->reasoning_tokens);
  cJSON_AddNumberToObject(us, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
}

void responses_make_id(char *out, size_t n, const char *prefix, const char *upstream_id)
{
  char clean[64];
  size_t k = 0;
  for (const char *p = upstream_id ? upstream_id : ""; *p && k < sizeof clean - 1; p++)
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
      clean[k++] = *p;
  clean[k] = '\0';
  snprintf(out, n, "%s%s", prefix, k ? clean : "relay");
}

/* A Response object's head: {"id","object":"response","created_at","status","model",...} */
cJSON *responses_object(const char *id, int64_t created, const char *model, const char *status)
{
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "id", id);
  cJSON_AddStringToObject(r, "object", "response");
  cJSON_AddNumberToObject(r, "created_at", (double)created);
  cJSON_AddStringToObject(r, "status", status);
  cJSON_AddNullToObject(r, "error");
  if (!strcmp(status, "incomplete"))
    cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "incomplete_details"), "reason", "max_output_tokens");
  else
    cJSON_AddNullToObject(r, "incomplete_details");
  cJSON_AddStringToObject(r, "model", model);
  cJSON_AddItemToObject(r, "output", cJSON_CreateArray());
  cJSON_AddBoolToObject(r, "parallel_tool_calls", true);
  cJSON_AddNullToObject(r, "previous_response_id");
  cJSON_AddBoolToObject(r, "store", false);
  cJSON_AddItemToObject(r, "tools", cJSON_CreateArray());
  cJSON_AddStringToObject(r, "tool_choice", "auto");
  return r;
}

cJSON *responses_message_item(const char *id, const char *text, const char *status)
{
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "id", id);
  cJSON_AddStringToObject(m, "type", "message");
  cJSON_AddStringToObject(m, "status", status);
  cJSON_AddStringToObject(m, "role", "assistant");
  cJSON *content = cJSON_AddArrayToObject(m, "content");
  if (text) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "output_text");
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddItemToObject(p, "annotations", cJSON_CreateArray());
    cJSON_AddItemToArray(content, p);
  }
  return m;
}

cJSON *responses_reasoning_item(const char *id, const char *summary, const cJSON *detail)
{
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "id", id);
  cJSON_AddStringToObject(m, "type", "reasoning");
  cJSON *sum = cJSON_AddArrayToObject(m, "summary");
  if (summary && summary[0]) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "summary_text");
    cJSON_AddStringToObject(p, "text", summary);
    cJSON_AddItemToArray(sum, p);
  }
  if (detail) {
    cJSON *d = cJSON_Duplicate(detail, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(d, "index");
    cJSON_DeleteItemFromObjectCaseSensitive(d, "text");   /* the summary holds it */
    char *enc = cJSON_PrintUnformatted(d);
    if (enc)
      cJSON_AddStringToObject(m, "encrypted_content", enc);
    free(enc);
    cJSON_Delete(d);
  }
  return m;
}

/* the encrypted_content of a Gemini call's signature: {"type":"call.signature","signature","format"} */
cJSON *responses_call_signature(const char *sig)
{
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "type", "call.signature");
  cJSON_AddStringToObject(d, "signature", sig);
  cJSON_AddStringToObject(d, "format", ADAPT_SIG_GEMINI);
  return d;
}

cJSON *responses_call_item(const char *id, const char *call_id, const char *name, const char *args, const char *status)
{
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "id", id);
  cJSON_AddStringToObject(m, "type", "function_call");
  cJSON_AddStringToObject(m, "status", status);
  cJSON_AddStringToObject(m, "arguments", args);
  cJSON_AddStringToObject(m, "call_id", call_id);
  cJSON_AddStringToObject(m, "name", name);
  return m;
}

char *responses_response_from_openai(const char *body, size_t len, const char *model, struct usage *u, char *err,
                                     size_t errlen)
{
  cJSON *root;
  const cJSON *msg = adapt_oai_response(body, len, u, &root, err, errlen);
  if (!msg)
    return NULL;
  char id[RESPONSES_ID_MAX], iid[RESPONSES_ID_MAX + 16];
  responses_make_id(id, sizeof id, "resp_", adapt_jstr(root, "id"));
  const cJSON *created = cJSON_GetObjectItemCaseSensitive(root, "created");
  const char *finish =
      adapt_jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0), "finish_reason");
  bool incomplete = finish && !strcmp(finish, "length");
  cJSON *r = responses_object(id, responses_int(created, 0, 0, INT32_MAX * 1000LL),
                             model ? model : adapt_jstr(root, "model") ? adapt_jstr(root, "model") : "",
                             incomplete ? "incomplete" : "completed");
  cJSON *output = cJSON_GetObjectItemCaseSensitive(r, "output");
  int n = 0;
  /* reasoning first: its signed entries each an item (the text with the first), else one item */
  const char *think = adapt_oai_reasoning(msg);
  const cJSON *details = cJSON_GetObjectItemCaseSensitive(msg, "reasoning_details"), *d;
  bool think_used = false;
  cJSON_ArrayForEach(d, array_or_null(details))
  {
    const char *ty = adapt_jstr(d, "type");
    if (!ty || (strcmp(ty, "reasoning.text") && strcmp(ty, "reasoning.encrypted")))
      continue;
    const char *t = adapt_jstr(d, "text");
    if ((!t || !t[0]) && !think_used && think)
      t = think;
    think_used |= t == think;
    snprintf(iid, sizeof iid, "rs_%d_%s", n++, id + 5);
    cJSON_AddItemToArray(output, responses_reasoning_item(iid, t, d));
  }
  if (think && think[0] && !think_used) {
    snprintf(iid, sizeof iid, "rs_%d_%s", n++, id + 5);
    cJSON_AddItemToArray(output, responses_reasoning_item(iid, think, NULL));
  }
  const char *text = adapt_jstr(msg, "content");
  if (text && text[0]) {
    snprintf(iid, sizeof iid, "msg_%d_%s", n++, id + 5);
    cJSON_AddItemToArray(output, responses_message_item(iid, text, "completed"));
  }
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"), *tc;
  cJSON_ArrayForEach(tc, array_or_null(calls))
  {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
    const char *sig = adapt_call_signature(tc);
    if (sig) {
      cJSON *sd = responses_call_signature(sig);
      snprintf(iid, sizeof iid, "rs_%d_%s", n++, id + 5);
      cJSON_AddItemToArray(output, responses_reasoning_item(iid, NULL, sd));
      cJSON_Delete(sd);
    }
    snprintf(iid, sizeof iid, "fc_%d_%s", n++, id + 5);
    cJSON_AddItemToArray(output, responses_call_item(iid, adapt_jstr(tc, "id") ? adapt_jstr(tc, "id") : iid,
                                          adapt_jstr(fn, "name") ? adapt_jstr(fn, "name") : "",
                                          adapt_jstr(fn, "arguments") ? adapt_jstr(fn, "arguments") : "{}",
                                          "completed"));
  }
  responses_add_usage(r, u);
  cJSON_Delete(root);
  return adapt_print_or_err(r, err, errlen);
}

