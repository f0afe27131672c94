/* responses: see responses.h. */
#include "responses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"

#define RESP_TEXT_MAX ((size_t)64 << 20)

/* o when it is an array, else NULL (for cJSON_ArrayForEach, whose argument is not parenthesized) */
static const cJSON *array_or_null(const cJSON *o)
{
  return cJSON_IsArray(o) ? o : NULL;
}

/* ---------------------------------------------------------------- the request */

/* an OpenAI user content part -> a Responses input content part, or NULL (skipped) */
static cJSON *user_part(const cJSON *p)
{
  const char *ty = adapt_jstr(p, "type");
  cJSON *o = NULL;
  if (ty && !strcmp(ty, "text") && adapt_jstr(p, "text")) {
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "input_text");
    cJSON_AddStringToObject(o, "text", adapt_jstr(p, "text"));
  } else if (ty && !strcmp(ty, "image_url")) {
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(p, "image_url");
    const char *url = cJSON_IsString(iu) ? iu->valuestring : adapt_jstr(iu, "url");
    if (!url)
      return NULL;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "input_image");
    cJSON_AddStringToObject(o, "image_url", url);
    cJSON_AddStringToObject(o, "detail", adapt_jstr(iu, "detail") ? adapt_jstr(iu, "detail") : "auto");
  } else if (ty && !strcmp(ty, "file")) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(p, "file");
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "input_file");
    static const char *const keys[] = {"file_id", "file_data", "filename"};
    for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++)
      if (adapt_jstr(f, keys[j]))
        cJSON_AddStringToObject(o, keys[j], adapt_jstr(f, keys[j]));
  }
  return o;
}

static int convert_messages(const cJSON *msgs, cJSON *out, char *err, size_t errlen)
{
  cJSON *input = cJSON_AddArrayToObject(out, "input");
  struct buf sys;
  buf_init(&sys, RESP_TEXT_MAX);
  const cJSON *m;
  int i = 0, rc = 0;
  cJSON_ArrayForEach(m, msgs)
  {
    const char *role = adapt_jstr(m, "role");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!role) {
      adapt_set_err(err, errlen, "messages[%d]: 'role' is required", i);
      rc = -1;
      break;
    }
    if (!strcmp(role, "system") || !strcmp(role, "developer")) {
      if (adapt_content_text(c, &sys, "\n\n", true, err, errlen, "system") < 0) {
        rc = -1;
        break;
      }
    } else if (!strcmp(role, "user")) {
      cJSON *im = cJSON_CreateObject();
      cJSON_AddStringToObject(im, "role", "user");
      if (cJSON_IsString(c)) {
        cJSON_AddStringToObject(im, "content", c->valuestring);
      } else {
        cJSON *parts = cJSON_AddArrayToObject(im, "content");
        const cJSON *p;
        cJSON_ArrayForEach(p, array_or_null(c))
        {
          cJSON *op = user_part(p);
          if (op)
            cJSON_AddItemToArray(parts, op);
        }
      }
      cJSON_AddItemToArray(input, im);
    } else if (!strcmp(role, "assistant")) {
      struct buf t;
      buf_init(&t, RESP_TEXT_MAX);
      if (c && !cJSON_IsNull(c) && adapt_content_text(c, &t, "", false, err, errlen, "assistant") < 0) {
        buf_free(&t);
        rc = -1;
        break;
      }
      if (t.len) {
        cJSON *am = cJSON_CreateObject();
        cJSON_AddStringToObject(am, "role", "assistant");
        cJSON_AddStringToObject(am, "content", t.data);
        cJSON_AddItemToArray(input, am);
      }
      buf_free(&t);
      const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *tc;
      cJSON_ArrayForEach(tc, array_or_null(calls))
      {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const char *id = adapt_jstr(tc, "id"), *name = adapt_jstr(fn, "name"), *args = adapt_jstr(fn, "arguments");
        if (!id || !name) {
          adapt_set_err(err, errlen, "messages[%d]: a tool call needs 'id' and 'function.name'", i);
          rc = -1;
          break;
        }
        cJSON *fc = cJSON_CreateObject();
        cJSON_AddStringToObject(fc, "type", "function_call");
        cJSON_AddStringToObject(fc, "call_id", id);
        cJSON_AddStringToObject(fc, "name", name);
        cJSON_AddStringToObject(fc, "arguments", args ? args : "{}");
        cJSON_AddItemToArray(input, fc);
      }
      if (rc)
        break;
    } else if (!strcmp(role, "tool")) {
      const char *id = adapt_jstr(m, "tool_call_id");
      struct buf t;
      buf_init(&t, RESP_TEXT_MAX);
      if (!id || (c && !cJSON_IsNull(c) && adapt_content_text(c, &t, "\n", true, err, errlen, "tool") < 0)) {
        if (!id)
          adapt_set_err(err, errlen, "messages[%d]: a tool message needs 'tool_call_id'", i);
        buf_free(&t);
        rc = -1;
        break;
      }
      cJSON *fo = cJSON_CreateObject();
      cJSON_AddStringToObject(fo, "type", "function_call_output");
      cJSON_AddStringToObject(fo, "call_id", id);
      cJSON_AddStringToObject(fo, "output", t.len ? t.data : "");
      cJSON_AddItemToArray(input, fo);
      buf_free(&t);
    } else {
      adapt_set_err(err, errlen, "messages[%d]: unknown role '%s'", i, role);
      rc = -1;
      break;
    }
    i++;
  }
  if (!rc && sys.len)
    cJSON_AddStringToObject(out, "instructions", sys.data);
  buf_free(&sys);
  return rc;
}

static void convert_tools(const cJSON *req, cJSON *out)
{
  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools"), *t;
  if (cJSON_GetArraySize(tools) > 0) {
    cJSON *ot = cJSON_AddArrayToObject(out, "tools");
    cJSON_ArrayForEach(t, tools)
    {
      const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
      const char *name = adapt_jstr(fn, "name");
      if (!name)
        continue;
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "type", "function");
      cJSON_AddStringToObject(o, "name", name);
      if (adapt_jstr(fn, "description"))
        cJSON_AddStringToObject(o, "description", adapt_jstr(fn, "description"));
      const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
      if (cJSON_IsObject(params))
        cJSON_AddItemToObject(o, "parameters", cJSON_Duplicate(params, 1));
      /* Responses makes function tools strict unless told: chat's default is not */
      cJSON_AddBoolToObject(o, "strict", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fn, "strict")));
      cJSON_AddItemToArray(ot, o);
    }
  }
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
  if (cJSON_IsString(tc)) {
    cJSON_AddStringToObject(out, "tool_choice", tc->valuestring);
  } else if (cJSON_IsObject(tc)) {
    const char *name = adapt_jstr(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
    if (name) {
      cJSON *o = cJSON_AddObjectToObject(out, "tool_choice");
      cJSON_AddStringToObject(o, "type", "function");
      cJSON_AddStringToObject(o, "name", name);
    }
  }
  const cJSON *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
  const char *rft = adapt_jstr(rf, "type");
  if (rft && !strcmp(rft, "json_object")) {
    cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(out, "text"), "format"), "type",
                            "json_object");
  } else if (rft && !strcmp(rft, "json_schema")) {
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    cJSON *f = cJSON_AddObjectToObject(cJSON_AddObjectToObject(out, "text"), "format");
    cJSON_AddStringToObject(f, "type", "json_schema");
    cJSON_AddStringToObject(f, "name", adapt_jstr(js, "name") ? adapt_jstr(js, "name") : "response");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    cJSON_AddItemToObject(f, "schema", cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1) : cJSON_CreateObject());
    const cJSON *strict = cJSON_GetObjectItemCaseSensitive(js, "strict");
    if (cJSON_IsBool(strict))
      cJSON_AddBoolToObject(f, "strict", cJSON_IsTrue(strict));
  }
}

char *responses_request_from_openai(const cJSON *req, const char *upstream_model, const struct reasoning *rs,
                                    char *err, size_t errlen)
{
  const cJSON *msgs = adapt_list(req, "messages", "messages: a non-empty array is required", err, errlen);
  if (!msgs)
    return NULL;
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "model", upstream_model);
  if (convert_messages(msgs, out, err, errlen) < 0) {
    cJSON_Delete(out);
    return NULL;
  }
  convert_tools(req, out);
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_completion_tokens");
  if (!cJSON_IsNumber(mt))
    mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
  if (cJSON_IsNumber(mt))
    cJSON_AddNumberToObject(out, "max_output_tokens", mt->valuedouble);
  if (adapt_copy_number(req, "temperature", out, "temperature", err, errlen) < 0 ||
      adapt_copy_number(req, "top_p", out, "top_p", err, errlen) < 0 ||
      adapt_copy_bool(req, "parallel_tool_calls", out, "parallel_tool_calls", err, errlen) < 0) {
    cJSON_Delete(out);
    return NULL;
  }
  const char *effort = rs && rs->kind == RS_EFFORT ? rs->effort : adapt_jstr(req, "reasoning_effort");
  if (effort)
    cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "reasoning"), "effort", effort);
  if (adapt_jstr(req, "user"))
    cJSON_AddStringToObject(out, "user", adapt_jstr(req, "user"));
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream")))
    cJSON_AddBoolToObject(out, "stream", true);
  cJSON_AddBoolToObject(out, "store", false);     /* relay keeps no conversation state */
  return adapt_print_or_err(out, err, errlen);
}

/* ---------------------------------------------------------------- answers */

/* the text of a message item's output_text (and refusal) parts into b */
static void message_text(const cJSON *item, struct buf *b)
{
  const cJSON *p;
  cJSON_ArrayForEach(p, array_or_null(cJSON_GetObjectItemCaseSensitive(item, "content")))
  {
    const char *t = adapt_jstr(p, "text");
    if (!t)
      t = adapt_jstr(p, "refusal");
    if (t)
      buf_append_str(b, t);
  }
}

static void summary_text(const cJSON *item, struct buf *b)
{
  const cJSON *p;
  cJSON_ArrayForEach(p, array_or_null(cJSON_GetObjectItemCaseSensitive(item, "summary")))
  {
    if (adapt_jstr(p, "text"))
      adapt_append_text(b, "\n\n", adapt_jstr(p, "text"));
  }
}

char *responses_response_to_openai(const char *body, size_t len, int64_t created, struct usage *u, char *err,
                                   size_t errlen)
{
  cJSON *root = adapt_parse_response(body, len, u, err, errlen);
  if (!root)
    return NULL;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  const cJSON *output = cJSON_GetObjectItemCaseSensitive(root, "output");
  if ((e && !cJSON_IsNull(e)) || !cJSON_IsArray(output)) {
    if (e && !cJSON_IsNull(e))
      return adapt_upstream_error(root, err, errlen);
    adapt_set_err(err, errlen, "the upstream response has no 'output' array");
    cJSON_Delete(root);
    return NULL;
  }
  struct buf text, think;
  buf_init(&text, RESP_TEXT_MAX);
  buf_init(&think, RESP_TEXT_MAX);
  cJSON *calls = cJSON_CreateArray();
  const cJSON *it;
  cJSON_ArrayForEach(it, output)
  {
    const char *ty = adapt_jstr(it, "type");
    if (!ty)
      continue;
    if (!strcmp(ty, "message"))
      message_text(it, &text);
    else if (!strcmp(ty, "reasoning"))
      summary_text(it, &think);
    else if (!strcmp(ty, "function_call") && adapt_jstr(it, "name"))
      adapt_add_oai_call(calls, adapt_jstr(it, "call_id") ? adapt_jstr(it, "call_id") : adapt_jstr(it, "id"),
                         adapt_jstr(it, "name"), adapt_jstr(it, "arguments"));
  }
  responses_read_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), u);
  bool has_calls = cJSON_GetArraySize(calls) > 0;
  const char *status = adapt_jstr(root, "status");
  const char *finish = has_calls ? "tool_calls" : status && !strcmp(status, "incomplete") ? "length" : "stop";
  const cJSON *ca = cJSON_GetObjectItemCaseSensitive(root, "created_at");
  char *res = adapt_oai_completion(adapt_jstr(root, "id") ? adapt_jstr(root, "id") : "resp_relay",
                                   responses_int(ca, created, 0, INT32_MAX * 1000LL),
                                   adapt_jstr(root, "model") ? adapt_jstr(root, "model") : "", &text, &think, calls,
                                   has_calls, finish, u, err, errlen);
  buf_free(&text);
  buf_free(&think);
  cJSON_Delete(root);
  return res;
}

/* ---------------------------------------------------------------- the stream */

void responses_stream_to_openai_init(struct responses_to_openai_stream *s, const char *model, int64_t created)
{
  memset(s, 0, sizeof *s);
  snprintf(s->id, sizeof s->id, "chatcmpl-relay");
  snprintf(s->model, sizeof s->model, "%s", model ? model : "");
  s->created = created;
  s->call_output = -1;
}

static int error_chunk(struct buf *out, const char *msg, const char *code)
{
  int rc = buf_append_str(out, "data: {\"error\":{\"message\":");
  rc |= buf_append_json_str(out, msg ? msg : "upstream stream error");
  rc |= buf_append_str(out, ",\"type\":\"upstream_error\",\"param\":null,\"code\":");
  rc |= code ? buf_append_json_str(out, code) : buf_append_str(out, "null");
  rc |= buf_append_str(out, "}}\n\n");
  return rc;
}

int responses_stream_to_openai_feed(struct responses_to_openai_stream *s, const char *data, size_t len,
                                    struct buf *out, char *err, size_t errlen)
{
  if (s->finished || s->failed)
    return 0;
  cJSON *ev = adapt_parse_event(data, len, "event", err, errlen);
  if (!ev)
    return -1;
  size_t mark = out->len;
  int rc = 0;
  const char *ty = adapt_jstr(ev, "type");
  ty = ty ? ty : "";
  const cJSON *resp = cJSON_GetObjectItemCaseSensitive(ev, "response");
  if (!s->started && (!strcmp(ty, "response.created") || !strcmp(ty, "response.in_progress"))) {
    const char *id = adapt_jstr(resp, "id"), *model = adapt_jstr(resp, "model");
    if (id)
      snprintf(s->id, sizeof s->id, "%s", id);
    if (model && !s->model[0])
      snprintf(s->model, sizeof s->model, "%s", model);
  }
  if (!s->started && strcmp(ty, "error") && strcmp(ty, "response.failed")) {
    rc |= adapt_delta_string(out, s->id, s->model, s->created, "role", "assistant");
    s->started = true;
  }
  const char *delta = adapt_jstr(ev, "delta");
  if (!strcmp(ty, "response.output_text.delta") && delta) {
    rc |= adapt_delta_string(out, s->id, s->model, s->created, "content", delta);
  } else if ((!strcmp(ty, "response.reasoning_summary_text.delta") || !strcmp(ty, "response.reasoning_text.delta")) &&
             delta) {
    rc |= adapt_delta_string(out, s->id, s->model, s->created, "reasoning_content", delta);
  } else if (!strcmp(ty, "response.output_item.added")) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, "item");
    const char *ity = adapt_jstr(item, "type");
    if (ity && !strcmp(ity, "function_call")) {
      const cJSON *oi = cJSON_GetObjectItemCaseSensitive(ev, "output_index");
      s->call_output = (int)responses_int(oi, s->call_output < INT32_MAX - 1 ? s->call_output + 1 : 0, 0, INT32_MAX - 1);
      const char *cid = adapt_jstr(item, "call_id") ? adapt_jstr(item, "call_id") : adapt_jstr(item, "id");
      const char *args = adapt_jstr(item, "arguments");
      rc |= adapt_chunk_open(out, s->id, s->model, s->created);
      rc |= buf_appendf(out, "\"tool_calls\":[{\"index\":%d,\"id\":", s->calls++);
      rc |= buf_append_json_str(out, cid ? cid : "call_relay");
      rc |= buf_append_str(out, ",\"type\":\"function\",\"function\":{\"name\":");
      rc |= buf_append_json_str(out, adapt_jstr(item, "name") ? adapt_jstr(item, "name") : "");
      rc |= buf_append_str(out, ",\"arguments\":");
      rc |= buf_append_json_str(out, args ? args : "");
      rc |= buf_append_str(out, "}}]");
      rc |= adapt_chunk_close(out, NULL);
    }
  } else if (!strcmp(ty, "response.function_call_arguments.delta") && delta && s->calls > 0) {
    rc |= adapt_chunk_open(out, s->id, s->model, s->created);
    rc |= buf_appendf(out, "\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":", s->calls - 1);
    rc |= buf_append_json_str(out, delta);
    rc |= buf_append_str(out, "}}]");
    rc |= adapt_chunk_close(out, NULL);
  } else if (!strcmp(ty, "response.completed") || !strcmp(ty, "response.incomplete")) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    if (cJSON_IsObject(u)) {
      responses_read_usage(u, &s->usage);
      s->have_usage = true;
    }
    const char *finish = s->calls ? "tool_calls" : !strcmp(ty, "response.incomplete") ? "length" : "stop";
    rc |= adapt_chunk_open(out, s->id, s->model, s->created);
    rc |= adapt_chunk_close(out, finish);
    rc |= adapt_usage_chunk(out, s->id, s->model, s->created, &s->usage);
    rc |= buf_append_str(out, "data: [DONE]\n\n");
    if (!rc)
      s->finished = true;
  } else if (!strcmp(ty, "response.failed") || !strcmp(ty, "error")) {
    const cJSON *e = !strcmp(ty, "error") ? ev : cJSON_GetObjectItemCaseSensitive(resp, "error");
    rc |= error_chunk(out, adapt_jstr(e, "message"), adapt_jstr(e, "code"));
    if (!rc)
      s->failed = true;
  }
  cJSON_Delete(ev);
  if (rc)
    return adapt_buffer_full(out, mark, err, errlen);
  return 0;
}
