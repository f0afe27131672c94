/* gemini: see gemini.h. */
#include "gemini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "openai.h"
#include "sse.h"

static const cJSON *jget(const cJSON *o, const char *name)
{
  return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* camelCase or snake_case: the REST API accepts both */
static const cJSON *jget2(const cJSON *o, const char *camel, const char *snake)
{
  const cJSON *v = jget(o, camel);
  return v ? v : jget(o, snake);
}

/* ------------------------------------------------------------------------------------------ */
/* paths, maps, errors */

static bool model_char_ok(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_' || c == '@';
}

int gemini_model_path(char *out, size_t outlen, const char *model, bool stream)
{
  if (!model)
    return -1;
  if (!strncmp(model, "models/", 7))
    model += 7;
  if (!model[0])
    return -1;
  for (const char *p = model; *p; p++)
    if (!model_char_ok(*p))
      return -1;
  int n = snprintf(out, outlen, "/v1beta/models/%s:%s", model,
                   stream ? "streamGenerateContent?alt=sse" : "generateContent");
  return n < 0 || (size_t)n >= outlen ? -1 : n;
}

int gemini_parse_path(const char *path, char *model, size_t modellen, bool *stream)
{
  const char *p;
  if (!path)
    return -1;
  if (!strncmp(path, "/v1beta/models/", 15))
    p = path + 15;
  else if (!strncmp(path, "/v1/models/", 11))
    p = path + 11;
  else
    return -1;
  const char *colon = strchr(p, ':');
  if (!colon || colon == p || (size_t)(colon - p) >= modellen)
    return -1;
  for (const char *q = p; q < colon; q++)
    if (!model_char_ok(*q))
      return -1;
  size_t alen = strcspn(colon + 1, "?");
  const char *action = colon + 1;
  if (alen == 15 && !strncmp(action, "generateContent", 15))
    *stream = false;
  else if (alen == 21 && !strncmp(action, "streamGenerateContent", 21))
    *stream = true;
  else
    return -1;
  memcpy(model, p, (size_t)(colon - p));
  model[colon - p] = '\0';
  return 0;
}

const char *gemini_finish_to_openai(const char *r)
{
  if (!r)
    return "stop";
  if (!strcmp(r, "MAX_TOKENS"))
    return "length";
  if (!strcmp(r, "SAFETY") || !strcmp(r, "RECITATION") || !strcmp(r, "BLOCKLIST") ||
      !strcmp(r, "PROHIBITED_CONTENT") || !strcmp(r, "SPII") || !strcmp(r, "IMAGE_SAFETY"))
    return "content_filter";
  return "stop";    /* STOP, FINISH_REASON_UNSPECIFIED, OTHER, MALFORMED_FUNCTION_CALL, ... */
}

const char *gemini_finish_from_openai(const char *r)
{
  if (!r)
    return "STOP";
  if (!strcmp(r, "length"))
    return "MAX_TOKENS";
  if (!strcmp(r, "content_filter"))
    return "SAFETY";
  return "STOP";    /* stop, tool_calls (Gemini ends a function call with STOP) */
}

const char *gemini_error_status(int status)
{
  switch (status) {
  case 400: return "INVALID_ARGUMENT";
  case 401: return "UNAUTHENTICATED";
  case 403: return "PERMISSION_DENIED";
  case 404: return "NOT_FOUND";
  case 409: return "ABORTED";
  case 429: return "RESOURCE_EXHAUSTED";
  case 499: return "CANCELLED";
  case 501: return "UNIMPLEMENTED";
  case 503: return "UNAVAILABLE";
  case 504: return "DEADLINE_EXCEEDED";
  default: return status >= 400 && status < 500 ? "INVALID_ARGUMENT" : "INTERNAL";
  }
}

static int error_json(struct buf *b, int status, const char *message)
{
  int rc = buf_appendf(b, "{\"error\":{\"code\":%d,\"message\":", status);
  rc |= buf_append_json_str(b, message ? message : "");
  rc |= buf_append_str(b, ",\"status\":");
  rc |= buf_append_json_str(b, gemini_error_status(status));
  rc |= buf_append_str(b, "}}");
  return rc;
}

char *gemini_error_body(int status, const char *message)
{
  return adapt_error_body(error_json, status, message);
}

int gemini_error_event(struct buf *out, int status, const char *message)
{
  return adapt_error_event(out, "data: ", "\r\n\r\n", error_json, status, message);
}

/* ------------------------------------------------------------------------------------------ */
/* OpenAI request -> Gemini request */

/* Drops JSON-schema keywords Gemini refuses, recursively. */
static void clean_schema(cJSON *s)
{
  if (cJSON_IsObject(s)) {
    cJSON_DeleteItemFromObjectCaseSensitive(s, "additionalProperties");
    cJSON_DeleteItemFromObjectCaseSensitive(s, "$schema");
    cJSON_DeleteItemFromObjectCaseSensitive(s, "strict");
  }
  cJSON *c;
  cJSON_ArrayForEach(c, s)
  {
    if (cJSON_IsObject(c) || cJSON_IsArray(c))
      clean_schema(c);
  }
}

/* The text of an OpenAI content (string or text parts). */
static int content_text(const cJSON *c, struct buf *b, char *err, size_t errlen, const char *where)
{
  return adapt_content_text(c, b, "\n", false, err, errlen, where);
}

static cJSON *text_part(const char *t)
{
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "text", t);
  return p;
}

static const char *mime_from_url(const char *url)
{
  size_t n = strcspn(url, "?#");
  const char *dot = NULL;
  for (const char *p = url; p < url + n; p++)
    if (*p == '.')
      dot = p;
    else if (*p == '/')
      dot = NULL;
  if (!dot)
    return "image/jpeg";
  size_t el = (size_t)(url + n - dot);
  if (el == 4 && has_prefix_ci(dot, ".png"))
    return "image/png";
  if (el == 4 && has_prefix_ci(dot, ".gif"))
    return "image/gif";
  if (el == 5 && has_prefix_ci(dot, ".webp"))
    return "image/webp";
  if (el == 4 && has_prefix_ci(dot, ".pdf"))
    return "application/pdf";
  return "image/jpeg";
}

static cJSON *image_part(const cJSON *part, char *err, size_t errlen, const char *where)
{
  char mt[128];
  const char *data, *url;
  int kind = adapt_image_url(part, mt, sizeof mt, &data, &url, err, errlen, where);
  if (kind < 0)
    return NULL;
  cJSON *p = cJSON_CreateObject();
  if (kind == 0) {
    cJSON *d = cJSON_AddObjectToObject(p, "inlineData");
    cJSON_AddStringToObject(d, "mimeType", mt);
    cJSON_AddStringToObject(d, "data", data);
  } else {
    cJSON *d = cJSON_AddObjectToObject(p, "fileData");
    cJSON_AddStringToObject(d, "mimeType", mime_from_url(url));
    cJSON_AddStringToObject(d, "fileUri", url);
  }
  return p;
}

static int content_parts(const cJSON *c, cJSON *parts, char *err, size_t errlen, const char *where)
{
  return adapt_content_items(c, parts, text_part, image_part, err, errlen, where);
}

/* The function name of an earlier assistant tool call with this id. */
static const char *call_name(const cJSON *msgs, const cJSON *upto, const char *id)
{
  const cJSON *m, *tc;
  cJSON_ArrayForEach(m, msgs)
  {
    if (m == upto)
      break;
    const cJSON *calls = jget(m, "tool_calls");
    if (cJSON_IsArray(calls))
      cJSON_ArrayForEach(tc, calls)
      {
        const char *cid = adapt_jstr(tc, "id");
        if (cid && !strcmp(cid, id))
          return adapt_jstr(jget(tc, "function"), "name");
      }
  }
  return NULL;
}

static int openai_message(const cJSON *msgs, const cJSON *m, cJSON *contents, struct buf *sys,
                          char *err, size_t errlen, const char *where)
{
  const char *role = adapt_jstr(m, "role");
  if (!role) {
    adapt_set_err(err, errlen, "%s: each message must be an object with a string 'role'", where);
    return -1;
  }
  const cJSON *content = jget(m, "content");
  if (!strcmp(role, "system") || !strcmp(role, "developer"))
    return content_text(content, sys, err, errlen, where);
  cJSON *parts = cJSON_CreateArray();
  const char *as = "user";
  if (!strcmp(role, "user")) {
    if (content_parts(content, parts, err, errlen, where) < 0)
      goto bad;
  } else if (!strcmp(role, "assistant")) {
    as = "model";
    if (content_parts(content, parts, err, errlen, where) < 0)
      goto bad;
    const cJSON *calls = jget(m, "tool_calls"), *tc;
    if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls)) {
      adapt_set_err(err, errlen, "%s: 'tool_calls' must be an array", where);
      goto bad;
    }
    cJSON_ArrayForEach(tc, calls)
    {
      const cJSON *fn = jget(tc, "function");
      const char *name = adapt_jstr(fn, "name"), *args = adapt_jstr(fn, "arguments");
      if (!name) {
        adapt_set_err(err, errlen, "%s: each tool call needs a string 'function.name'", where);
        goto bad;
      }
      const char *a = args ? args : "";
      while (*a == ' ' || *a == '\n' || *a == '\t' || *a == '\r')
        a++;
      cJSON *input = *a ? cJSON_Parse(a) : cJSON_CreateObject();
      if (!cJSON_IsObject(input)) {
        cJSON_Delete(input);
        adapt_set_err(err, errlen, "%s: tool call '%.64s' has arguments that are not a JSON object",
                      where, name);
        goto bad;
      }
      cJSON *p = cJSON_CreateObject(), *fc = cJSON_AddObjectToObject(p, "functionCall");
      cJSON_AddStringToObject(fc, "name", name);
      cJSON_AddItemToObject(fc, "args", input);
      cJSON_AddItemToArray(parts, p);
    }
  } else if (!strcmp(role, "tool")) {
    const char *id = adapt_jstr(m, "tool_call_id");
    const char *name = id ? call_name(msgs, m, id) : NULL;
    if (!name)
      name = adapt_jstr(m, "name");
    if (!name) {
      adapt_set_err(err, errlen,
                    "%s: a tool message must answer an earlier tool call (tool_call_id)", where);
      goto bad;
    }
    struct buf t;
    buf_init(&t, (size_t)64 << 20);
    if (content_text(content, &t, err, errlen, where) < 0) {
      buf_free(&t);
      goto bad;
    }
    cJSON *resp = t.data ? cJSON_Parse(t.data) : NULL;
    if (!cJSON_IsObject(resp)) {
      cJSON_Delete(resp);
      resp = cJSON_CreateObject();
      cJSON_AddStringToObject(resp, "content", t.data ? t.data : "");
    }
    buf_free(&t);
    cJSON *p = cJSON_CreateObject(), *fr = cJSON_AddObjectToObject(p, "functionResponse");
    cJSON_AddStringToObject(fr, "name", name);
    cJSON_AddItemToObject(fr, "response", resp);
    cJSON_AddItemToArray(parts, p);
  } else {
    adapt_set_err(err, errlen, "%s: role '%.32s' is not supported", where, role);
    goto bad;
  }
  if (cJSON_GetArraySize(parts) == 0)
    cJSON_AddItemToArray(parts, text_part(""));
  adapt_push_message(contents, as, "parts", parts);
  return 0;
bad:
  cJSON_Delete(parts);
  return -1;
}

/* from[name], a boolean, copied to to[as]; absent/null is fine; -1 with err otherwise. */
static int copy_bool(const cJSON *from, const char *name, cJSON *to, const char *as, char *err,
                     size_t errlen)
{
  const cJSON *v = jget(from, name);
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsBool(v)) {
    adapt_set_err(err, errlen, "'%s' must be true or false", name);
    return -1;
  }
  cJSON_AddBoolToObject(to, as, cJSON_IsTrue(v));
  return 0;
}

/* A list of strings (modalities) copied to to[as], upper-cased or lower-cased; -1 with err when
 * it is not an array of short strings. */
static int copy_modalities(const cJSON *list, const char *name, cJSON *to, const char *as, bool upper,
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

/* Gemini safetySettings: an array of {category, threshold} strings (method optional), copied to
 * to["safetySettings"]; -1 with err when it is not one. */
static int copy_safety(const cJSON *ss, const char *name, cJSON *to, char *err, size_t errlen)
{
  if (!ss || cJSON_IsNull(ss))
    return 0;
  const cJSON *it;
  if (!cJSON_IsArray(ss))
    goto bad;
  cJSON_ArrayForEach(it, ss)
  {
    if (!adapt_jstr(it, "category") || !adapt_jstr(it, "threshold"))
      goto bad;
  }
  cJSON_AddItemToObject(to, "safetySettings", cJSON_Duplicate(ss, 1));
  return 0;
bad:
  adapt_set_err(err, errlen, "'%s' must be an array of {\"category\", \"threshold\"} objects", name);
  return -1;
}

char *gemini_request_from_openai(const cJSON *req, char *err, size_t errlen)
{
  if (!cJSON_IsObject(req)) {
    adapt_set_err(err, errlen, "the request body must be a JSON object");
    return NULL;
  }
  const cJSON *msgs = jget(req, "messages");
  if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
    adapt_set_err(err, errlen, "'messages' must be a non-empty array");
    return NULL;
  }
  cJSON *out = cJSON_CreateObject();
  cJSON *contents = cJSON_AddArrayToObject(out, "contents");
  struct buf sys;
  buf_init(&sys, (size_t)64 << 20);
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, msgs)
  {
    char where[48];
    snprintf(where, sizeof where, "messages[%d]", i++);
    if (openai_message(msgs, m, contents, &sys, err, errlen, where) < 0)
      goto bad;
  }
  if (cJSON_GetArraySize(contents) == 0) {
    cJSON *parts = cJSON_CreateArray();
    cJSON_AddItemToArray(parts, text_part("..."));
    adapt_push_message(contents, "user", "parts", parts);
  }
  if (sys.len) {
    cJSON *si = cJSON_AddObjectToObject(out, "systemInstruction");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(si, "parts"), text_part(sys.data));
  }

  const cJSON *tools = jget(req, "tools");
  if (tools && !cJSON_IsNull(tools)) {
    if (!cJSON_IsArray(tools)) {
      adapt_set_err(err, errlen, "'tools' must be an array");
      goto bad;
    }
    cJSON *decls = cJSON_CreateArray();
    cJSON *wrap = cJSON_CreateObject();
    cJSON_AddItemToObject(wrap, "functionDeclarations", decls);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "tools"), wrap);
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
      const cJSON *fn = jget(t, "function");
      const char *name = adapt_jstr(fn, "name"), *desc = adapt_jstr(fn, "description");
      if (!name) {
        adapt_set_err(err, errlen, "each tool needs a string 'function.name'");
        goto bad;
      }
      cJSON *d = cJSON_CreateObject();
      cJSON_AddStringToObject(d, "name", name);
      if (desc)
        cJSON_AddStringToObject(d, "description", desc);
      const cJSON *params = jget(fn, "parameters");
      const cJSON *props = jget(params, "properties");
      if (cJSON_IsObject(params) && !(cJSON_IsObject(props) && cJSON_GetArraySize(props) == 0) &&
          cJSON_GetArraySize(params) > 0) {
        cJSON *pc = cJSON_Duplicate(params, 1);
        clean_schema(pc);
        cJSON_AddItemToObject(d, "parameters", pc);
      }
      cJSON_AddItemToArray(decls, d);
    }
  }
  const cJSON *tc = jget(req, "tool_choice");
  if (tc && !cJSON_IsNull(tc)) {
    cJSON *fcc = cJSON_CreateObject();
    const char *fname = adapt_jstr(jget(tc, "function"), "name");
    if (cJSON_IsString(tc) && !strcmp(tc->valuestring, "auto")) {
      cJSON_AddStringToObject(fcc, "mode", "AUTO");
    } else if (cJSON_IsString(tc) && !strcmp(tc->valuestring, "required")) {
      cJSON_AddStringToObject(fcc, "mode", "ANY");
    } else if (cJSON_IsString(tc) && !strcmp(tc->valuestring, "none")) {
      cJSON_AddStringToObject(fcc, "mode", "NONE");
    } else if (cJSON_IsObject(tc) && fname) {
      cJSON_AddStringToObject(fcc, "mode", "ANY");
      cJSON_AddItemToArray(cJSON_AddArrayToObject(fcc, "allowedFunctionNames"),
                           cJSON_CreateString(fname));
    } else {
      cJSON_Delete(fcc);
      adapt_set_err(err, errlen,
                    "'tool_choice' must be \"auto\", \"required\", \"none\" or a function object");
      goto bad;
    }
    cJSON_AddItemToObject(cJSON_AddObjectToObject(out, "toolConfig"), "functionCallingConfig", fcc);
  }

  cJSON *gc = cJSON_CreateObject();
  cJSON_AddItemToObject(out, "generationConfig", gc);
  int64_t max_tokens = -1;
  if (adapt_copy_number(req, "temperature", gc, "temperature", err, errlen) < 0 ||
      adapt_copy_number(req, "top_p", gc, "topP", err, errlen) < 0 ||
      adapt_copy_number(req, "seed", gc, "seed", err, errlen) < 0 ||
      adapt_read_max_tokens(req, "max_tokens", &max_tokens, err, errlen) < 0 ||
      adapt_read_max_tokens(req, "max_completion_tokens", &max_tokens, err, errlen) < 0)
    goto bad;
  if (max_tokens > 0)
    cJSON_AddNumberToObject(gc, "maxOutputTokens", (double)max_tokens);
  /* the rest of OpenAI's sampling knobs that Gemini has (top_k, which OpenAI lacks, is taken as
   * an extension), and safety settings sent as an extension field */
  int64_t n = -1;
  if (adapt_copy_number(req, "presence_penalty", gc, "presencePenalty", err, errlen) < 0 ||
      adapt_copy_number(req, "frequency_penalty", gc, "frequencyPenalty", err, errlen) < 0 ||
      adapt_copy_number(req, "top_k", gc, "topK", err, errlen) < 0 ||
      adapt_copy_number(req, "top_logprobs", gc, "logprobs", err, errlen) < 0 ||
      copy_bool(req, "logprobs", gc, "responseLogprobs", err, errlen) < 0 ||
      adapt_read_max_tokens(req, "n", &n, err, errlen) < 0 ||
      copy_modalities(jget(req, "modalities"), "modalities", gc, "responseModalities", true, err, errlen) < 0 ||
      copy_safety(jget2(req, "safety_settings", "safetySettings") ? jget2(req, "safety_settings", "safetySettings")
                                                                  : NULL,
                  "safety_settings", out, err, errlen) < 0)
    goto bad;
  if (n > 1)
    cJSON_AddNumberToObject(gc, "candidateCount", (double)n);
  const char *effort = adapt_jstr(req, "reasoning_effort");
  if (effort) {
    cJSON *tc = cJSON_AddObjectToObject(gc, "thinkingConfig");
    if (!strcmp(effort, "none")) {
      cJSON_AddNumberToObject(tc, "thinkingBudget", 0);
    } else {
      cJSON_AddTrueToObject(tc, "includeThoughts");
      cJSON_AddStringToObject(tc, "thinkingLevel", effort);
    }
  }
  cJSON *stops;
  if (adapt_stop_list(jget(req, "stop"), "stop", &stops, err, errlen) < 0)
    goto bad;
  if (stops)
    cJSON_AddItemToObject(gc, "stopSequences", stops);
  const cJSON *rf = jget(req, "response_format");
  if (rf && !cJSON_IsNull(rf)) {
    const char *type = adapt_jstr(rf, "type");
    if (!type) {
      adapt_set_err(err, errlen, "'response_format' must be an object with a 'type'");
      goto bad;
    }
    if (!strcmp(type, "json_object") || !strcmp(type, "json_schema")) {
      cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
      const cJSON *schema = jget(jget(rf, "json_schema"), "schema");
      if (cJSON_IsObject(schema)) {
        cJSON *sc = cJSON_Duplicate(schema, 1);
        clean_schema(sc);
        cJSON_AddItemToObject(gc, "responseSchema", sc);
      }
    } else if (strcmp(type, "text") != 0) {
      adapt_set_err(err, errlen, "'response_format.type' must be text, json_object or json_schema");
      goto bad;
    }
  }
  if (cJSON_GetArraySize(gc) == 0)
    cJSON_DeleteItemFromObjectCaseSensitive(out, "generationConfig");
  buf_free(&sys);
  return adapt_print_or_err(out, err, errlen);
bad:
  buf_free(&sys);
  cJSON_Delete(out);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Gemini response -> OpenAI response */

static void gemini_usage(const cJSON *um, struct usage *u)
{
  if (!cJSON_IsObject(um))
    return;
  u->prompt_tokens = usage_count(um, "promptTokenCount", u) + usage_count(um, "toolUsePromptTokenCount", u);
  u->reasoning_tokens = usage_count(um, "thoughtsTokenCount", u);
  u->completion_tokens = usage_count(um, "candidatesTokenCount", u) + u->reasoning_tokens;
  u->cached_tokens = usage_count(um, "cachedContentTokenCount", u);
  usage_normalize(u);
}

void gemini_read_usage(const cJSON *usage_metadata, struct usage *u)
{
  gemini_usage(usage_metadata, u);
}

int gemini_request_info(const cJSON *req, const char *model, bool stream, struct oai_request *rq, char *err,
                        size_t errlen)
{
  memset(rq, 0, sizeof *rq);
  rq->max_tokens = -1;
  if (!cJSON_IsObject(req)) {
    adapt_set_err(err, errlen, "the request body must be a JSON object");
    return -1;
  }
  if (!model || !model[0] || strlen(model) >= sizeof rq->model) {
    adapt_set_err(err, errlen, "the model in the path is empty or too long");
    return -1;
  }
  snprintf(rq->model, sizeof rq->model, "%s", model);
  rq->stream = stream;
  const cJSON *contents = cJSON_GetObjectItemCaseSensitive(req, "contents");
  if (!cJSON_IsArray(contents) || cJSON_GetArraySize(contents) == 0) {
    adapt_set_err(err, errlen, "contents: a non-empty array is required");
    return -1;
  }
  const cJSON *gc = jget2(req, "generationConfig", "generation_config");
  if (gc && !cJSON_IsNull(gc) && !cJSON_IsObject(gc)) {
    adapt_set_err(err, errlen, "generationConfig: must be an object");
    return -1;
  }
  if (cJSON_IsObject(gc)) {
    const char *name = cJSON_GetObjectItemCaseSensitive(gc, "maxOutputTokens") ? "maxOutputTokens"
                                                                               : "max_output_tokens";
    if (adapt_read_max_tokens(gc, name, &rq->max_tokens, err, errlen) < 0)
      return -1;
  }
  size_t chars = adapt_text_chars(contents) +
                 adapt_text_chars(jget2(req, "systemInstruction", "system_instruction")) +
                 16 * (size_t)cJSON_GetArraySize(contents);
  rq->prompt_estimate = oai_tokens_from_chars(chars);
  return 0;
}

static void chat_id(char *id, size_t n, const char *from)
{
  snprintf(id, n, "chatcmpl-%s", from && from[0] ? from : "gemini");
}

char *gemini_response_to_openai(const char *body, size_t len, const char *model, int64_t created,
                                struct usage *u, char *err, size_t errlen)
{
  cJSON *root = adapt_parse_response(body, len, u, err, errlen);
  if (!root)
    return NULL;
  if (jget(root, "error")) {
    return adapt_upstream_error(root, err, errlen);
  }
  const cJSON *cands = jget(root, "candidates");
  const cJSON *cand = cJSON_GetArrayItem(cands, 0);
  bool blocked = adapt_jstr(jget(root, "promptFeedback"), "blockReason") != NULL;
  if (!cJSON_IsObject(cand) && !blocked) {
    adapt_set_err(err, errlen, "the upstream response has no candidates");
    cJSON_Delete(root);
    return NULL;
  }
  gemini_usage(jget(root, "usageMetadata"), u);
  struct buf text, think;
  buf_init(&text, (size_t)256 << 20);
  buf_init(&think, (size_t)256 << 20);
  cJSON *calls = cJSON_CreateArray();
  const cJSON *parts = jget(jget(cand, "content"), "parts"), *p;
  int rc = 0, ncall = 0;
  cJSON_ArrayForEach(p, parts)
  {
    const char *t = adapt_jstr(p, "text");
    const cJSON *fc = jget(p, "functionCall");
    if (t) {
      rc |= buf_append_str(cJSON_IsTrue(jget(p, "thought")) ? &think : &text, t);
    } else if (cJSON_IsObject(fc)) {
      const cJSON *args = jget(fc, "args");
      char *a = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
      char cid[GEMINI_ID_MAX];
      if (adapt_jstr(fc, "id") && adapt_jstr(fc, "id")[0])
        snprintf(cid, sizeof cid, "%s", adapt_jstr(fc, "id"));
      else
        snprintf(cid, sizeof cid, "call_%d", ncall);
      ncall++;
      adapt_add_oai_call(calls, cid, adapt_jstr(fc, "name"), a);
      free(a);
    }
  }
  if (rc)
    return adapt_too_large(&text, &think, calls, root, err, errlen);
  char id[GEMINI_ID_MAX + 16];
  chat_id(id, sizeof id, adapt_jstr(root, "responseId"));
  const char *mv = adapt_jstr(root, "modelVersion");
  const char *gfr = adapt_jstr(cand, "finishReason");
  const char *fr = !cJSON_IsObject(cand) ? "content_filter"
                   : ncall                ? "tool_calls"
                                          : gemini_finish_to_openai(gfr);
  char *s = adapt_oai_completion(id, created, model ? model : mv ? mv : "", &text, &think, calls,
                                 ncall != 0, fr, u, err, errlen);
  buf_free(&text);
  buf_free(&think);
  cJSON_Delete(root);
  return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Gemini stream -> OpenAI chunks */

void gemini_stream_to_openai_init(struct gemini_to_openai_stream *s, const char *model,
                                  bool include_usage, int64_t created)
{
  memset(s, 0, sizeof *s);
  snprintf(s->model, sizeof s->model, "%s", model ? model : "");
  s->include_usage = include_usage;
  s->created = created;
}

/* data: {..."choices":[{"index":0,"delta":{ */
static int chunk_open(const struct gemini_to_openai_stream *s, struct buf *o)
{
  return adapt_chunk_open(o, s->id, s->model, s->created);
}

static int delta_string(const struct gemini_to_openai_stream *s, struct buf *o, const char *key,
                        const char *val)
{
  return adapt_delta_string(o, s->id, s->model, s->created, key, val);
}

int gemini_stream_to_openai_feed(struct gemini_to_openai_stream *s, const char *data, size_t len,
                                 struct buf *out, char *err, size_t errlen)
{
  if (s->finished || s->failed)
    return 0;
  cJSON *ev = adapt_parse_event(data, len, "frame", err, errlen);
  if (!ev)
    return -1;
  size_t mark = out->len;
  struct gemini_to_openai_stream save = *s;
  int rc = 0;
  const cJSON *e = jget(ev, "error");
  if (e && !cJSON_IsNull(e)) {
    const char *m = adapt_error_message(ev), *st = adapt_jstr(e, "status");
    rc |= buf_append_str(out, "data: {\"error\":{\"message\":");
    rc |= buf_append_json_str(out, m ? m : "upstream stream error");
    rc |= buf_append_str(out, ",\"type\":");
    rc |= buf_append_json_str(out, st ? st : "upstream_error");
    rc |= buf_append_str(out, ",\"param\":null,\"code\":null}}\n\n");
    s->failed = true;
    goto done;
  }
  if (!s->started) {
    chat_id(s->id, sizeof s->id, adapt_jstr(ev, "responseId"));
    if (!s->model[0])
      snprintf(s->model, sizeof s->model, "%s",
               adapt_jstr(ev, "modelVersion") ? adapt_jstr(ev, "modelVersion") : "");
    rc |= chunk_open(s, out);
    rc |= buf_append_str(out, "\"role\":\"assistant\",\"content\":\"\"");
    rc |= adapt_chunk_close(out, NULL);
    s->started = true;
  }
  gemini_usage(jget(ev, "usageMetadata"), &s->usage);
  const cJSON *cand = cJSON_GetArrayItem(jget(ev, "candidates"), 0);
  const cJSON *parts = jget(jget(cand, "content"), "parts"), *p;
  cJSON_ArrayForEach(p, parts)
  {
    const char *t = adapt_jstr(p, "text");
    const cJSON *fc = jget(p, "functionCall");
    if (t && t[0]) {
      rc |= delta_string(s, out, cJSON_IsTrue(jget(p, "thought")) ? "reasoning_content" : "content", t);
    } else if (cJSON_IsObject(fc)) {
      const cJSON *args = jget(fc, "args");
      char *a = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
      int ti = s->tool_calls++;
      rc |= chunk_open(s, out);
      rc |= buf_appendf(out, "\"tool_calls\":[{\"index\":%d,\"id\":", ti);
      if (adapt_jstr(fc, "id") && adapt_jstr(fc, "id")[0])
        rc |= buf_append_json_str(out, adapt_jstr(fc, "id"));
      else
        rc |= buf_appendf(out, "\"call_%d\"", ti);
      rc |= buf_append_str(out, ",\"type\":\"function\",\"function\":{\"name\":");
      rc |= buf_append_json_str(out, adapt_jstr(fc, "name") ? adapt_jstr(fc, "name") : "");
      rc |= buf_append_str(out, ",\"arguments\":");
      rc |= buf_append_json_str(out, a ? a : "{}");
      rc |= buf_append_str(out, "}}]");
      rc |= adapt_chunk_close(out, NULL);
      free(a);
    }
  }
  const char *fr = adapt_jstr(cand, "finishReason");
  bool blocked = !cand && adapt_jstr(jget(ev, "promptFeedback"), "blockReason");
  if ((fr || blocked) && !s->finish_reason) {
    s->finish_reason = blocked ? "content_filter"
                       : s->tool_calls ? "tool_calls"
                                       : gemini_finish_to_openai(fr);
    rc |= chunk_open(s, out);
    rc |= adapt_chunk_close(out, s->finish_reason);
  }
done:
  cJSON_Delete(ev);
  if (rc) {
    *s = save;
    return adapt_buffer_full(out, mark, err, errlen);
  }
  return 0;
}

int gemini_stream_to_openai_finish(struct gemini_to_openai_stream *s, struct buf *out)
{
  if (s->finished || s->failed)
    return 0;
  if (!s->finish_reason)
    return -1;
  size_t mark = out->len;
  int rc = 0;
  if (s->include_usage) {
    const struct usage *u = &s->usage;
    rc |= adapt_usage_chunk(out, s->id, s->model, s->created, u);
  }
  rc |= buf_append_str(out, "data: [DONE]\n\n");
  if (rc) {
    adapt_restore(out, mark);
    return -1;
  }
  s->finished = true;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Gemini request -> OpenAI request */

struct call_ids {
  int n;
  int used[64];
  char name[64][GEMINI_ID_MAX];
  char id[64][GEMINI_ID_MAX];
};

static int gemini_content(const cJSON *c, cJSON *omsgs, struct call_ids *ids, char *err,
                          size_t errlen, const char *where)
{
  const char *role = adapt_jstr(c, "role");
  if (!cJSON_IsObject(c) || (jget(c, "role") && !role)) {
    adapt_set_err(err, errlen, "%s: each content must be an object with an optional string 'role'",
                  where);
    return -1;
  }
  bool model = role && !strcmp(role, "model");
  if (role && !model && strcmp(role, "user") && strcmp(role, "function") && strcmp(role, "tool")) {
    adapt_set_err(err, errlen, "%s: role '%.32s' is not supported", where, role);
    return -1;
  }
  const cJSON *parts = jget(c, "parts"), *p;
  if (!cJSON_IsArray(parts)) {
    adapt_set_err(err, errlen, "%s: 'parts' must be an array", where);
    return -1;
  }
  cJSON *oparts = cJSON_CreateArray(), *calls = cJSON_CreateArray();
  struct buf text;
  buf_init(&text, (size_t)256 << 20);
  cJSON_ArrayForEach(p, parts)
  {
    const char *t = adapt_jstr(p, "text");
    const cJSON *inl = jget2(p, "inlineData", "inline_data"), *fd = jget2(p, "fileData", "file_data");
    const cJSON *fc = jget2(p, "functionCall", "function_call");
    const cJSON *fr = jget2(p, "functionResponse", "function_response");
    if (!cJSON_IsObject(p)) {
      adapt_set_err(err, errlen, "%s: each part must be an object", where);
      goto bad;
    }
    if (t) {
      if (cJSON_IsTrue(jget(p, "thought")))
        continue;
      if (model) {
        if (buf_append_str(&text, t) < 0) {
          adapt_set_err(err, errlen, "%s: too long", where);
          goto bad;
        }
      } else {
        cJSON *op = cJSON_CreateObject();
        cJSON_AddStringToObject(op, "type", "text");
        cJSON_AddStringToObject(op, "text", t);
        cJSON_AddItemToArray(oparts, op);
      }
    } else if (cJSON_IsObject(inl) || cJSON_IsObject(fd)) {
      if (!cJSON_IsObject(inl))
        inl = NULL;
      const cJSON *media = inl ? inl : fd;
      const cJSON *mtv = jget2(media, "mimeType", "mime_type");
      const cJSON *uriv = jget2(fd, "fileUri", "file_uri");
      const char *mt = cJSON_IsString(mtv) ? mtv->valuestring : NULL;
      const char *data = inl ? adapt_jstr(inl, "data") : NULL;
      const char *uri = !inl && cJSON_IsString(uriv) ? uriv->valuestring : NULL;
      if ((inl && (!mt || !data)) || (!inl && !uri)) {
        adapt_set_err(err, errlen, "%s: inlineData needs mimeType and data; fileData needs fileUri",
                      where);
        goto bad;
      }
      if (model)
        continue;    /* model-side media has no OpenAI assistant form */
      struct buf u;
      buf_init(&u, (size_t)256 << 20);
      int rc = inl ? buf_appendf(&u, "data:%s;base64,", mt) | buf_append_str(&u, data)
                   : buf_append_str(&u, uri);
      if (rc) {
        buf_free(&u);
        adapt_set_err(err, errlen, "%s: too long", where);
        goto bad;
      }
      cJSON *op = cJSON_CreateObject();
      cJSON_AddStringToObject(op, "type", "image_url");
      cJSON_AddStringToObject(cJSON_AddObjectToObject(op, "image_url"), "url", u.data);
      buf_free(&u);
      cJSON_AddItemToArray(oparts, op);
    } else if (cJSON_IsObject(fc)) {
      const char *name = adapt_jstr(fc, "name");
      if (!name) {
        adapt_set_err(err, errlen, "%s: functionCall needs a string 'name'", where);
        goto bad;
      }
      if (ids->n >= 64) {
        adapt_set_err(err, errlen, "%s: more than 64 function calls", where);
        goto bad;
      }
      int k = ids->n++;
      ids->used[k] = 0;
      snprintf(ids->name[k], GEMINI_ID_MAX, "%s", name);
      if (adapt_jstr(fc, "id") && adapt_jstr(fc, "id")[0])
        snprintf(ids->id[k], GEMINI_ID_MAX, "%s", adapt_jstr(fc, "id"));
      else
        snprintf(ids->id[k], GEMINI_ID_MAX, "call_%d", k);
      const cJSON *args = jget(fc, "args");
      char *a = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
      cJSON *tc = cJSON_CreateObject(), *fn;
      cJSON_AddStringToObject(tc, "id", ids->id[k]);
      cJSON_AddStringToObject(tc, "type", "function");
      fn = cJSON_AddObjectToObject(tc, "function");
      cJSON_AddStringToObject(fn, "name", name);
      cJSON_AddStringToObject(fn, "arguments", a ? a : "{}");
      free(a);
      cJSON_AddItemToArray(calls, tc);
    } else if (cJSON_IsObject(fr)) {
      const char *name = adapt_jstr(fr, "name"), *fid = adapt_jstr(fr, "id");
      if (!name) {
        adapt_set_err(err, errlen, "%s: functionResponse needs a string 'name'", where);
        goto bad;
      }
      const char *id = NULL;
      for (int k = 0; k < ids->n && !id; k++)
        if (!ids->used[k] && (fid ? !strcmp(ids->id[k], fid) : !strcmp(ids->name[k], name))) {
          ids->used[k] = 1;
          id = ids->id[k];
        }
      if (!id)
        id = fid ? fid : name;
      const cJSON *resp = jget(fr, "response");
      char *r = resp ? cJSON_PrintUnformatted(resp) : NULL;
      cJSON *tm = cJSON_CreateObject();
      cJSON_AddStringToObject(tm, "role", "tool");
      cJSON_AddStringToObject(tm, "tool_call_id", id);
      cJSON_AddStringToObject(tm, "content", r ? r : "{}");
      free(r);
      cJSON_AddItemToArray(omsgs, tm);
    } else {
      adapt_set_err(err, errlen, "%s: a part must have text, inlineData, fileData, functionCall or "
                                 "functionResponse", where);
      goto bad;
    }
  }
  return adapt_end_message(omsgs, true, model, &text, oparts, calls);
bad:
  return adapt_end_message(omsgs, false, model, &text, oparts, calls);
}

char *gemini_request_to_openai(const cJSON *req, const char *upstream_model, bool stream,
                               char *err, size_t errlen)
{
  if (!cJSON_IsObject(req)) {
    adapt_set_err(err, errlen, "the request body must be a JSON object");
    return NULL;
  }
  const cJSON *contents = jget(req, "contents");
  if (!cJSON_IsArray(contents) || cJSON_GetArraySize(contents) == 0) {
    adapt_set_err(err, errlen, "contents: must be a non-empty array");
    return NULL;
  }
  struct call_ids *ids = calloc(1, sizeof *ids);
  if (!ids) {
    adapt_set_err(err, errlen, "out of memory");
    return NULL;
  }
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "model", upstream_model ? upstream_model : "");
  cJSON *omsgs = cJSON_AddArrayToObject(out, "messages");
  const cJSON *si = jget2(req, "systemInstruction", "system_instruction");
  if (si && !cJSON_IsNull(si)) {
    const cJSON *parts = jget(si, "parts"), *p;
    if (!cJSON_IsArray(parts)) {
      adapt_set_err(err, errlen, "systemInstruction: 'parts' must be an array");
      goto bad;
    }
    struct buf sys;
    buf_init(&sys, (size_t)64 << 20);
    cJSON_ArrayForEach(p, parts)
    {
      const char *t = adapt_jstr(p, "text");
      if (!t || adapt_append_text(&sys, "\n", t) < 0) {
        buf_free(&sys);
        adapt_set_err(err, errlen, "systemInstruction: parts must be text");
        goto bad;
      }
    }
    adapt_push_system(omsgs, &sys);
    buf_free(&sys);
  }
  int i = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, contents)
  {
    char where[48];
    snprintf(where, sizeof where, "contents[%d]", i++);
    if (gemini_content(c, omsgs, ids, err, errlen, where) < 0)
      goto bad;
  }
  const cJSON *gc = jget2(req, "generationConfig", "generation_config");
  if (gc && !cJSON_IsNull(gc)) {
    if (!cJSON_IsObject(gc)) {
      adapt_set_err(err, errlen, "generationConfig: must be an object");
      goto bad;
    }
    if (adapt_copy_number(gc, "temperature", out, "temperature", err, errlen) < 0 ||
        adapt_copy_number(gc, "topP", out, "top_p", err, errlen) < 0 ||
        adapt_copy_number(gc, "seed", out, "seed", err, errlen) < 0)
      goto bad;
    int64_t mt = -1, n = -1;
    if (adapt_read_max_tokens(gc, "maxOutputTokens", &mt, err, errlen) < 0 ||
        adapt_read_max_tokens(gc, "candidateCount", &n, err, errlen) < 0)
      goto bad;
    if (mt > 0)
      cJSON_AddNumberToObject(out, "max_tokens", (double)mt);
    if (n > 1)
      cJSON_AddNumberToObject(out, "n", (double)n);
    /* every generationConfig field OpenAI chat can express; topK, thinkingBudget, mediaResolution
     * and safetySettings have no OpenAI field and are dropped (a gemini channel gets them all:
     * a Gemini client's request passes through to it unconverted) */
    if (adapt_copy_number(gc, "presencePenalty", out, "presence_penalty", err, errlen) < 0 ||
        adapt_copy_number(gc, "frequencyPenalty", out, "frequency_penalty", err, errlen) < 0 ||
        copy_bool(gc, "responseLogprobs", out, "logprobs", err, errlen) < 0 ||
        adapt_copy_number(gc, "logprobs", out, "top_logprobs", err, errlen) < 0 ||
        copy_modalities(jget(gc, "responseModalities"), "generationConfig.responseModalities", out, "modalities",
                        false, err, errlen) < 0)
      goto bad;
    /* thinkingLevel is an effort; a thinkingBudget has no OpenAI form (reasoning_effort "none"
     * would be refused by models that do not reason) */
    const char *level = adapt_jstr(jget(gc, "thinkingConfig"), "thinkingLevel");
    if (level) {
      char lv[16];
      size_t i = 0;
      for (; level[i] && i + 1 < sizeof lv; i++)
        lv[i] = (char)(level[i] >= 'A' && level[i] <= 'Z' ? level[i] + 32 : level[i]);
      lv[i] = '\0';
      cJSON_AddStringToObject(out, "reasoning_effort", lv);
    }
    const cJSON *ss = jget(gc, "stopSequences");
    cJSON *stops;
    if (cJSON_IsString(ss)) {
      adapt_set_err(err, errlen, "generationConfig.stopSequences: must be an array of strings");
      goto bad;
    }
    if (adapt_stop_list(ss, "stopSequences", &stops, err, errlen) < 0)
      goto bad;
    if (stops)
      cJSON_AddItemToObject(out, "stop", stops);
    const char *rmt = adapt_jstr(gc, "responseMimeType");
    if (rmt && !strcmp(rmt, "application/json")) {
      cJSON *rf = cJSON_AddObjectToObject(out, "response_format");
      const cJSON *schema = jget(gc, "responseSchema");
      if (cJSON_IsObject(schema)) {
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        cJSON_AddStringToObject(js, "name", "response");
        cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(schema, 1));
      } else {
        cJSON_AddStringToObject(rf, "type", "json_object");
      }
    }
  }
  const cJSON *tools = jget(req, "tools");
  if (tools && !cJSON_IsNull(tools)) {
    if (!cJSON_IsArray(tools)) {
      adapt_set_err(err, errlen, "tools: must be an array");
      goto bad;
    }
    cJSON *ot = cJSON_CreateArray();
    cJSON_AddItemToObject(out, "tools", ot);
    const cJSON *t, *d;
    cJSON_ArrayForEach(t, tools)
    {
      const cJSON *decls = jget2(t, "functionDeclarations", "function_declarations");
      if (!cJSON_IsArray(decls)) {
        adapt_set_err(err, errlen, "tools: only functionDeclarations are supported here");
        goto bad;
      }
      cJSON_ArrayForEach(d, decls)
      {
        const char *name = adapt_jstr(d, "name"), *desc = adapt_jstr(d, "description");
        if (!name) {
          adapt_set_err(err, errlen, "tools: each function declaration needs a string 'name'");
          goto bad;
        }
        cJSON *fn = adapt_add_oai_tool(ot, name, desc);
        const cJSON *params = jget(d, "parameters");
        if (!cJSON_IsObject(params))
          params = jget(d, "parametersJsonSchema");
        if (cJSON_IsObject(params)) {
          cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(params, 1));
        } else {
          cJSON *s = cJSON_AddObjectToObject(fn, "parameters");
          cJSON_AddStringToObject(s, "type", "object");
          cJSON_AddObjectToObject(s, "properties");
        }
      }
    }
  }
  const cJSON *fcc = jget2(jget2(req, "toolConfig", "tool_config"), "functionCallingConfig",
                           "function_calling_config");
  if (cJSON_IsObject(fcc)) {
    const char *mode = adapt_jstr(fcc, "mode");
    const cJSON *allowed = jget(fcc, "allowedFunctionNames");
    if (mode && !strcmp(mode, "NONE")) {
      cJSON_AddStringToObject(out, "tool_choice", "none");
    } else if (mode && !strcmp(mode, "ANY")) {
      if (cJSON_GetArraySize(allowed) == 1 && cJSON_IsString(cJSON_GetArrayItem(allowed, 0))) {
        cJSON *o = cJSON_AddObjectToObject(out, "tool_choice");
        cJSON_AddStringToObject(o, "type", "function");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "function"), "name",
                                cJSON_GetArrayItem(allowed, 0)->valuestring);
      } else {
        cJSON_AddStringToObject(out, "tool_choice", "required");
      }
    } else if (!mode || !strcmp(mode, "AUTO") || !strcmp(mode, "MODE_UNSPECIFIED")) {
      if (mode)
        cJSON_AddStringToObject(out, "tool_choice", "auto");
    } else {
      adapt_set_err(err, errlen,
                    "toolConfig.functionCallingConfig.mode: must be AUTO, ANY or NONE");
      goto bad;
    }
  }
  if (stream) {
    cJSON_AddTrueToObject(out, "stream");
    cJSON_AddTrueToObject(cJSON_AddObjectToObject(out, "stream_options"), "include_usage");
  }
  free(ids);
  return adapt_print_or_err(out, err, errlen);
bad:
  free(ids);
  cJSON_Delete(out);
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* OpenAI response -> Gemini response */

static void add_usage_metadata(cJSON *o, const struct usage *u)
{
  cJSON *um = cJSON_AddObjectToObject(o, "usageMetadata");
  cJSON_AddNumberToObject(um, "promptTokenCount", (double)u->prompt_tokens);
  cJSON_AddNumberToObject(um, "candidatesTokenCount", (double)u->completion_tokens);
  cJSON_AddNumberToObject(um, "totalTokenCount", (double)(u->prompt_tokens + u->completion_tokens));
  if (u->cached_tokens)
    cJSON_AddNumberToObject(um, "cachedContentTokenCount", (double)u->cached_tokens);
}

static cJSON *function_call_part(const char *id, const char *name, const char *args)
{
  cJSON *input = adapt_args_object(args);
  cJSON *p = cJSON_CreateObject(), *fc = cJSON_AddObjectToObject(p, "functionCall");
  if (id && id[0])
    cJSON_AddStringToObject(fc, "id", id);
  cJSON_AddStringToObject(fc, "name", name ? name : "");
  cJSON_AddItemToObject(fc, "args", input);
  return p;
}

char *gemini_response_from_openai(const char *body, size_t len, const char *model,
                                  struct usage *u, char *err, size_t errlen)
{
  cJSON *root;
  const cJSON *msg = adapt_oai_response(body, len, u, &root, err, errlen);
  if (!msg)
    return NULL;
  const cJSON *choice = cJSON_GetArrayItem(jget(root, "choices"), 0);
  cJSON *out = cJSON_CreateObject();
  cJSON *cand = cJSON_CreateObject();
  cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "candidates"), cand);
  cJSON *content = cJSON_AddObjectToObject(cand, "content");
  cJSON_AddStringToObject(content, "role", "model");
  cJSON *parts = cJSON_AddArrayToObject(content, "parts");
  const char *reasoning = adapt_oai_reasoning(msg);
  if (reasoning && reasoning[0]) {
    cJSON *p = text_part(reasoning);
    cJSON_AddTrueToObject(p, "thought");
    cJSON_AddItemToArray(parts, p);
  }
  struct buf text;
  buf_init(&text, (size_t)256 << 20);
  const cJSON *c = jget(msg, "content");
  if (content_text(cJSON_IsString(c) || cJSON_IsArray(c) ? c : NULL, &text, err, errlen,
                   "choices[0].message") < 0) {
    buf_free(&text);
    cJSON_Delete(out);
    cJSON_Delete(root);
    return NULL;
  }
  if (text.len)
    cJSON_AddItemToArray(parts, text_part(text.data));
  buf_free(&text);
  const cJSON *calls = jget(msg, "tool_calls"), *tc;
  if (cJSON_IsArray(calls))
    cJSON_ArrayForEach(tc, calls)
    {
      const cJSON *fn = jget(tc, "function");
      cJSON_AddItemToArray(parts, function_call_part(adapt_jstr(tc, "id"), adapt_jstr(fn, "name"),
                                                     adapt_jstr(fn, "arguments")));
    }
  if (cJSON_GetArraySize(parts) == 0)
    cJSON_AddItemToArray(parts, text_part(""));
  cJSON_AddStringToObject(cand, "finishReason",
                          gemini_finish_from_openai(adapt_jstr(choice, "finish_reason")));
  cJSON_AddNumberToObject(cand, "index", 0);
  add_usage_metadata(out, u);
  cJSON_AddStringToObject(out, "modelVersion",
                          model                       ? model
                          : adapt_jstr(root, "model") ? adapt_jstr(root, "model")
                                                      : "");
  if (adapt_jstr(root, "id"))
    cJSON_AddStringToObject(out, "responseId", adapt_jstr(root, "id"));
  cJSON_Delete(root);
  return adapt_print_or_err(out, err, errlen);
}

/* ------------------------------------------------------------------------------------------ */
/* OpenAI stream -> Gemini frames */

void gemini_stream_from_openai_init(struct openai_to_gemini_stream *s, const char *model)
{
  memset(s, 0, sizeof *s);
  snprintf(s->model, sizeof s->model, "%s", model ? model : "");
  for (int i = 0; i < GEMINI_MAX_TOOL_CALLS; i++)
    buf_init(&s->calls[i].args, GEMINI_TOOL_ARGS_MAX);
}

void gemini_stream_from_openai_free(struct openai_to_gemini_stream *s)
{
  for (int i = 0; i < GEMINI_MAX_TOOL_CALLS; i++)
    buf_free(&s->calls[i].args);
}

static int frame_tail(const struct openai_to_gemini_stream *s, struct buf *o)
{
  int rc = buf_append_str(o, ",\"modelVersion\":");
  rc |= buf_append_json_str(o, s->model);
  if (s->id[0]) {
    rc |= buf_append_str(o, ",\"responseId\":");
    rc |= buf_append_json_str(o, s->id);
  }
  rc |= buf_append_str(o, "}\r\n\r\n");
  return rc;
}

static int text_frame(const struct openai_to_gemini_stream *s, struct buf *o, const char *t,
                      bool thought)
{
  int rc = buf_append_str(o, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":");
  rc |= buf_append_json_str(o, t);
  if (thought)
    rc |= buf_append_str(o, ",\"thought\":true");
  rc |= buf_append_str(o, "}]},\"index\":0}]");
  rc |= frame_tail(s, o);
  return rc;
}

static int final_frame(struct openai_to_gemini_stream *s, struct buf *o)
{
  int rc = buf_append_str(o, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[");
  if (s->ncalls == 0)
    rc |= buf_append_str(o, "{\"text\":\"\"}");
  for (int i = 0; i < s->ncalls; i++) {
    struct gemini_pending_call *c = &s->calls[i];
    cJSON *p = function_call_part(c->id, c->name, c->args.data);
    char *txt = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    if (!txt)
      return -1;
    if (i)
      rc |= buf_append_str(o, ",");
    rc |= buf_append_str(o, txt);
    free(txt);
  }
  rc |= buf_append_str(o, "]},\"finishReason\":");
  rc |= buf_append_json_str(o, s->finish_reason ? s->finish_reason : "STOP");
  rc |= buf_append_str(o, ",\"index\":0}]");
  if (s->have_usage) {
    const struct usage *u = &s->usage;
    rc |= buf_appendf(o,
                      ",\"usageMetadata\":{\"promptTokenCount\":%lld,\"candidatesTokenCount\":%lld,"
                      "\"totalTokenCount\":%lld",
                      (long long)u->prompt_tokens, (long long)u->completion_tokens,
                      (long long)(u->prompt_tokens + u->completion_tokens));
    if (u->cached_tokens)
      rc |= buf_appendf(o, ",\"cachedContentTokenCount\":%lld", (long long)u->cached_tokens);
    rc |= buf_append_str(o, "}");
  }
  rc |= frame_tail(s, o);
  return rc;
}

int gemini_stream_from_openai_feed(struct openai_to_gemini_stream *s, const char *data, size_t len,
                                   struct buf *out, char *err, size_t errlen)
{
  if (s->finished || s->failed)
    return 0;
  size_t mark = out->len;
  if (data && len >= 6 && !memcmp(data, "[DONE]", 6)) {
    if (!s->started) {
      adapt_set_err(err, errlen, "the upstream stream ended before any chunk");
      return -1;
    }
    if (final_frame(s, out)) {
      return adapt_buffer_full(out, mark, err, errlen);
    }
    s->finished = true;
    return 0;
  }
  cJSON *ev = adapt_parse_event(data, len, "chunk", err, errlen);
  if (!ev)
    return -1;
  const cJSON *e = jget(ev, "error");
  if (e && !cJSON_IsNull(e)) {
    const char *m = adapt_error_message(ev);
    int rc = gemini_error_event(out, 500, m ? m : "upstream stream error");
    cJSON_Delete(ev);
    if (rc) {
      adapt_set_err(err, errlen, "the client buffer is full");
      return -1;
    }
    s->failed = true;
    return 0;
  }
  /* state the argument buffers do not undo: remember only the scalar part */
  bool started = s->started;
  const char *finish = s->finish_reason;
  bool have_usage = s->have_usage;
  struct usage usage = s->usage;
  char id[GEMINI_ID_MAX];
  memcpy(id, s->id, sizeof id);
  int rc = 0;
  if (!s->started) {
    if (!s->model[0])
      snprintf(s->model, sizeof s->model, "%s",
               adapt_jstr(ev, "model") ? adapt_jstr(ev, "model") : "");
    snprintf(s->id, sizeof s->id, "%s", adapt_jstr(ev, "id") ? adapt_jstr(ev, "id") : "");
    s->started = true;
  }
  const cJSON *usage_o = jget(ev, "usage");
  if (cJSON_IsObject(usage_o)) {
    adapt_oai_usage(usage_o, &s->usage);
    s->have_usage = true;
  }
  const cJSON *choice = cJSON_GetArrayItem(jget(ev, "choices"), 0);
  const cJSON *delta = jget(choice, "delta");
  if (cJSON_IsObject(delta) && !s->finish_reason) {
    const char *r = adapt_jstr(delta, "reasoning_content");
    if (!r)
      r = adapt_jstr(delta, "reasoning");
    if (r && r[0])
      rc |= text_frame(s, out, r, true);
    const char *t = adapt_jstr(delta, "content");
    if (t && t[0])
      rc |= text_frame(s, out, t, false);
    const cJSON *calls = jget(delta, "tool_calls"), *tc;
    if (cJSON_IsArray(calls))
      cJSON_ArrayForEach(tc, calls)
      {
        const cJSON *idx = jget(tc, "index");
        const cJSON *fn = jget(tc, "function");
        int ti = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < GEMINI_MAX_TOOL_CALLS
                     ? (int)idx->valuedouble
                     : (s->ncalls ? s->ncalls - 1 : 0);
        if (cJSON_IsNumber(idx) && !(idx->valuedouble >= 0 && idx->valuedouble < GEMINI_MAX_TOOL_CALLS)) {
          adapt_set_err(err, errlen, "more than %d tool calls in one response",
                        GEMINI_MAX_TOOL_CALLS);
          rc = -2;
          break;
        }
        if (ti >= s->ncalls)
          s->ncalls = ti + 1;
        struct gemini_pending_call *c = &s->calls[ti];
        if (adapt_jstr(tc, "id") && adapt_jstr(tc, "id")[0])
          snprintf(c->id, sizeof c->id, "%s", adapt_jstr(tc, "id"));
        if (adapt_jstr(fn, "name") && adapt_jstr(fn, "name")[0])
          snprintf(c->name, sizeof c->name, "%s", adapt_jstr(fn, "name"));
        const char *args = adapt_jstr(fn, "arguments");
        if (args && buf_append_str(&c->args, args) < 0) {
          adapt_set_err(err, errlen, "tool call arguments longer than %zu bytes",
                        GEMINI_TOOL_ARGS_MAX);
          rc = -2;
          break;
        }
      }
  }
  const char *fr = adapt_jstr(choice, "finish_reason");
  if (fr && !s->finish_reason)
    s->finish_reason = gemini_finish_from_openai(fr);
  cJSON_Delete(ev);
  if (rc) {
    s->started = started;
    s->finish_reason = finish;
    s->have_usage = have_usage;
    s->usage = usage;
    memcpy(s->id, id, sizeof id);
    adapt_restore(out, mark);
    if (rc != -2)
      adapt_set_err(err, errlen, "the client buffer is full");
    return -1;
  }
  return 0;
}

int gemini_stream_from_openai_finish(struct openai_to_gemini_stream *s, struct buf *out)
{
  if (s->finished || s->failed)
    return 0;
  if (!s->finish_reason)
    return -1;
  size_t mark = out->len;
  if (final_frame(s, out)) {
    adapt_restore(out, mark);
    return -1;
  }
  s->finished = true;
  return 0;
}
