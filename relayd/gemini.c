/* gemini: see gemini.h. */
#include "gemini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "reqfit.h"
#include "openai.h"
#include "sse.h"

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

/* The text of an OpenAI content (string or text parts). */
static int content_text(const cJSON *c, struct buf *b, char *err, size_t errlen, const char *where)
{
  return adapt_content_text(c, b, "\n", false, err, errlen, where);
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
    /* Gemini fetches only its own Files API URIs: relayd has fetched any other web URL before
     * (imginline.c, on the worker's loop) and it came here as a data: URL; this one stays a URL
     * (fetching off, or Google's own) */
    cJSON *d = cJSON_AddObjectToObject(p, "fileData");
    cJSON_AddStringToObject(d, "mimeType", mime_from_url(url));
    cJSON_AddStringToObject(d, "fileUri", url);
  }
  return p;
}

static cJSON *text_part(const char *t)
{
  return adapt_text_item(NULL, t);
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
    const cJSON *calls = adapt_jget(m, "tool_calls");
    if (cJSON_IsArray(calls))
      cJSON_ArrayForEach(tc, calls)
      {
        const char *cid = adapt_jstr(tc, "id");
        if (cid && !strcmp(cid, id))
          return adapt_jstr(adapt_jget(tc, "function"), "name");
      }
  }
  return NULL;
}

/* Gemini's signed thoughts an OpenAI client sends back (reasoning_details entries of format
 * google-gemini-v1, doc/design.md "Signatures across formats"): thought parts with their
 * thoughtSignature, first in the model turn. Other formats' entries are skipped. */
static void thought_parts(const cJSON *details, cJSON *parts)
{
  const cJSON *d, *list = cJSON_IsArray(details) ? details : NULL;
  cJSON_ArrayForEach(d, list)
  {
    const char *type = adapt_jstr(d, "type"), *format = adapt_jstr(d, "format");
    const char *sig = adapt_jstr(d, "signature"), *text = adapt_jstr(d, "text");
    if (!type || strcmp(type, "reasoning.text") || !format || strncmp(format, "google-", 7) || !sig || !sig[0])
      continue;
    cJSON *p = adapt_text_item(NULL, text ? text : "");
    cJSON_AddTrueToObject(p, "thought");
    cJSON_AddStringToObject(p, "thoughtSignature", sig);
    cJSON_AddItemToArray(parts, p);
  }
}

static int openai_message(const cJSON *msgs, const cJSON *m, cJSON *contents, struct buf *sys,
                          char *err, size_t errlen, const char *where)
{
  const char *role = adapt_jstr(m, "role");
  if (!role) {
    adapt_set_err(err, errlen, "%s: each message must be an object with a string 'role'", where);
    return -1;
  }
  const cJSON *content = adapt_jget(m, "content");
  if (!strcmp(role, "system") || !strcmp(role, "developer"))
    return content_text(content, sys, err, errlen, where);
  cJSON *parts = cJSON_CreateArray();
  const char *as = "user";
  if (!strcmp(role, "user")) {
    if (content_parts(content, parts, err, errlen, where) < 0)
      goto bad;
  } else if (!strcmp(role, "assistant")) {
    as = "model";
    thought_parts(adapt_jget(m, "reasoning_details"), parts);
    if (content_parts(content, parts, err, errlen, where) < 0)
      goto bad;
    const cJSON *calls = adapt_jget(m, "tool_calls"), *tc;
    if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls)) {
      adapt_set_err(err, errlen, "%s: 'tool_calls' must be an array", where);
      goto bad;
    }
    cJSON_ArrayForEach(tc, calls)
    {
      const cJSON *fn = adapt_jget(tc, "function");
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
      /* the call's signature, back where Gemini put it (Google's OpenAI-compatible field) */
      const char *sig = adapt_jstr(adapt_jget(adapt_jget(tc, "extra_content"), "google"), "thought_signature");
      if (sig && sig[0])
        cJSON_AddStringToObject(p, "thoughtSignature", sig);
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
    cJSON_AddItemToArray(parts, adapt_text_item(NULL, ""));
  adapt_push_message(contents, as, "parts", parts);
  return 0;
bad:
  cJSON_Delete(parts);
  return -1;
}

/* from[name], a boolean, copied to to[as]; absent/null is fine; -1 with err otherwise. */
/* A list of strings (modalities) copied to to[as], upper-cased or lower-cased; -1 with err when
 * it is not an array of short strings. */
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
  const cJSON *msgs = adapt_list(req, "messages", "'messages' must be a non-empty array", err, errlen);
  if (!msgs)
    return NULL;
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
    cJSON_AddItemToArray(parts, adapt_text_item(NULL, "..."));
    adapt_push_message(contents, "user", "parts", parts);
  }
  if (sys.len) {
    cJSON *si = cJSON_AddObjectToObject(out, "systemInstruction");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(si, "parts"), adapt_text_item(NULL, sys.data));
  }

  const cJSON *tools = adapt_jget(req, "tools");
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
      const cJSON *fn = adapt_jget(t, "function");
      const char *name = adapt_jstr(fn, "name"), *desc = adapt_jstr(fn, "description");
      if (!name) {
        adapt_set_err(err, errlen, "each tool needs a string 'function.name'");
        goto bad;
      }
      cJSON *d = cJSON_CreateObject();
      cJSON_AddStringToObject(d, "name", name);
      if (desc)
        cJSON_AddStringToObject(d, "description", desc);
      const cJSON *params = adapt_jget(fn, "parameters");
      const cJSON *props = adapt_jget(params, "properties");
      if (cJSON_IsObject(params) && !(cJSON_IsObject(props) && cJSON_GetArraySize(props) == 0) &&
          cJSON_GetArraySize(params) > 0) {
        cJSON *pc = cJSON_Duplicate(params, 1);
        reqfit_gemini_schema(pc);
        cJSON_AddItemToObject(d, "parameters", pc);
      }
      cJSON_AddItemToArray(decls, d);
    }
  }
  const cJSON *tc = adapt_jget(req, "tool_choice");
  if (tc && !cJSON_IsNull(tc)) {
    cJSON *fcc = cJSON_CreateObject();
    const char *fname = adapt_jstr(adapt_jget(tc, "function"), "name");
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
      adapt_copy_bool(req, "logprobs", gc, "responseLogprobs", err, errlen) < 0 ||
      adapt_read_max_tokens(req, "n", &n, err, errlen) < 0 ||
      adapt_copy_modalities(adapt_jget(req, "modalities"), "modalities", gc, "responseModalities", true, err, errlen) < 0 ||
      copy_safety(adapt_jget2(req, "safety_settings", "safetySettings") ? adapt_jget2(req, "safety_settings", "safetySettings")
                                                                  : NULL,
                  "safety_settings", out, err, errlen) < 0)
    goto bad;
  if (n > 1)
    cJSON_AddNumberToObject(gc, "candidateCount", (double)n);
  /* reasoning_effort: written by the caller for the model (reqfit_reasoning) */
  cJSON *stops;
  if (adapt_stop_list(adapt_jget(req, "stop"), "stop", &stops, err, errlen) < 0)
    goto bad;
  if (stops)
    cJSON_AddItemToObject(gc, "stopSequences", stops);
  const cJSON *rf = adapt_jget(req, "response_format");
  if (rf && !cJSON_IsNull(rf)) {
    const char *type = adapt_jstr(rf, "type");
    if (!type) {
      adapt_set_err(err, errlen, "'response_format' must be an object with a 'type'");
      goto bad;
    }
    if (!strcmp(type, "json_object") || !strcmp(type, "json_schema")) {
      cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
      const cJSON *schema = adapt_jget(adapt_jget(rf, "json_schema"), "schema");
      if (cJSON_IsObject(schema)) {
        cJSON *sc = cJSON_Duplicate(schema, 1);
        reqfit_gemini_schema(sc);
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
  const cJSON *gc = adapt_jget2(req, "generationConfig", "generation_config");
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
                 adapt_text_chars(adapt_jget2(req, "systemInstruction", "system_instruction")) +
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
  if (adapt_jget(root, "error")) {
    return adapt_upstream_error(root, err, errlen);
  }
  const cJSON *cands = adapt_jget(root, "candidates");
  const cJSON *cand = cJSON_GetArrayItem(cands, 0);
  bool blocked = adapt_jstr(adapt_jget(root, "promptFeedback"), "blockReason") != NULL;
  if (!cJSON_IsObject(cand) && !blocked) {
    adapt_set_err(err, errlen, "the upstream response has no candidates");
    cJSON_Delete(root);
    return NULL;
  }
  gemini_usage(adapt_jget(root, "usageMetadata"), u);
  struct buf text, think;
  buf_init(&text, (size_t)256 << 20);
  buf_init(&think, (size_t)256 << 20);
  cJSON *calls = cJSON_CreateArray(), *details = cJSON_CreateArray();
  const cJSON *parts = adapt_jget(adapt_jget(cand, "content"), "parts"), *p;
  int rc = 0, ncall = 0;
  cJSON_ArrayForEach(p, parts)
  {
    const char *t = adapt_jstr(p, "text");
    const cJSON *fc = adapt_jget(p, "functionCall");
    /* Gemini 3 wants each signature back on the part it came on (doc/design.md "Signatures across
     * formats"): a call's on the tool call, any other part's as a reasoning_details item */
    const char *sig = adapt_jstr(p, "thoughtSignature");
    bool thought = cJSON_IsTrue(adapt_jget(p, "thought"));
    if (sig && !cJSON_IsObject(fc))
      adapt_add_reasoning_detail(details, thought ? t : "", sig, NULL, ADAPT_SIG_GEMINI);
    if (t) {
      rc |= buf_append_str(thought ? &think : &text, t);
    } else if (cJSON_IsObject(fc)) {
      const cJSON *args = adapt_jget(fc, "args");
      char *a = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
      char cid[GEMINI_ID_MAX];
      if (adapt_jstr(fc, "id") && adapt_jstr(fc, "id")[0])
        snprintf(cid, sizeof cid, "%s", adapt_jstr(fc, "id"));
      else
        snprintf(cid, sizeof cid, "call_%d", ncall);
      ncall++;
      adapt_add_oai_call(calls, cid, adapt_jstr(fc, "name"), a);
      adapt_set_call_signature(cJSON_GetArrayItem(calls, cJSON_GetArraySize(calls) - 1), sig);
      free(a);
    }
  }
  if (rc) {
    cJSON_Delete(details);
    return adapt_too_large(&text, &think, calls, root, err, errlen);
  }
  char id[GEMINI_ID_MAX + 16];
  chat_id(id, sizeof id, adapt_jstr(root, "responseId"));
  const char *mv = adapt_jstr(root, "modelVersion");
  const char *gfr = adapt_jstr(cand, "finishReason");
  const char *fr = !cJSON_IsObject(cand) ? "content_filter"
                   : ncall                ? "tool_calls"
                                          : gemini_finish_to_openai(gfr);
  char *s = adapt_oai_completion_details(id, created, model ? model : mv ? mv : "", &text, &think, calls,
                                         ncall != 0, details, fr, u, err, errlen);
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
  const cJSON *e = adapt_jget(ev, "error");
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
  gemini_usage(adapt_jget(ev, "usageMetadata"), &s->usage);
  const cJSON *cand = cJSON_GetArrayItem(adapt_jget(ev, "candidates"), 0);
  const cJSON *parts = adapt_jget(adapt_jget(cand, "content"), "parts"), *p;
  cJSON_ArrayForEach(p, parts)
  {
    const char *t = adapt_jstr(p, "text");
    const cJSON *fc = adapt_jget(p, "functionCall");
    const char *sig = adapt_jstr(p, "thoughtSignature");
    bool thought = cJSON_IsTrue(adapt_jget(p, "thought"));
    if (t && t[0])
      rc |= delta_string(s, out, thought ? "reasoning_content" : "content", t);
    if (sig && !cJSON_IsObject(fc)) {
      /* a text or thought part's signature: its own reasoning_details item, text "" (its text
       * went just above, as reasoning_content or content) */
      cJSON *one = cJSON_CreateArray();
      cJSON *d = adapt_add_reasoning_detail(one, "", sig, NULL, ADAPT_SIG_GEMINI);
      cJSON_ReplaceItemInObject(d, "index", cJSON_CreateNumber(s->details++));
      rc |= adapt_delta_detail(out, s->id, s->model, s->created, d);
      cJSON_Delete(one);
    }
    if (!(t && t[0]) && cJSON_IsObject(fc)) {
      const cJSON *args = adapt_jget(fc, "args");
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
      rc |= buf_append_str(out, "}");
      if (sig) {      /* Google's OpenAI-compatible field, on the call's (only) delta */
        rc |= buf_append_str(out, ",\"extra_content\":{\"google\":{\"thought_signature\":");
        rc |= buf_append_json_str(out, sig);
        rc |= buf_append_str(out, "}}");
      }
      rc |= buf_append_str(out, "}]");
      rc |= adapt_chunk_close(out, NULL);
      free(a);
    }
  }
  const char *fr = adapt_jstr(cand, "finishReason");
  bool blocked = !cand && adapt_jstr(adapt_jget(ev, "promptFeedback"), "blockReason");
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
