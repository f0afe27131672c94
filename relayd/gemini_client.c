/* gemini_client: see gemini_client.h. */
#include "gemini_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "reasoning.h"


/* ------------------------------------------------------------------------------------------ */
/* Gemini request -> OpenAI request */

struct call_ids {
  int n;
  int used[64];
  char name[64][GEMINI_ID_MAX];
  char id[64][GEMINI_ID_MAX];
};

/* An Anthropic signature carried in a thought part: thinking {text, signature}, or redacted
 * thinking ("redacted_thinking:" + data), as a reasoning_details entry of format
 * anthropic-claude-v1. */
static void thought_detail(cJSON *details, const char *text, const char *sig)
{
  static const char redacted[] = "redacted_thinking:";
  cJSON *d = cJSON_CreateObject();
  if (!strncmp(sig, redacted, sizeof redacted - 1)) {
    cJSON_AddStringToObject(d, "type", "reasoning.encrypted");
    cJSON_AddStringToObject(d, "data", sig + sizeof redacted - 1);
  } else {
    cJSON_AddStringToObject(d, "type", "reasoning.text");
    cJSON_AddStringToObject(d, "text", text);
    cJSON_AddStringToObject(d, "signature", sig);
  }
  cJSON_AddStringToObject(d, "format", "anthropic-claude-v1");
  cJSON_AddNumberToObject(d, "index", cJSON_GetArraySize(details));
  cJSON_AddItemToArray(details, d);
}

static int gemini_content(const cJSON *c, cJSON *omsgs, struct call_ids *ids, char *err,
                          size_t errlen, const char *where)
{
  const char *role = adapt_jstr(c, "role");
  if (!cJSON_IsObject(c) || (adapt_jget(c, "role") && !role)) {
    adapt_set_err(err, errlen, "%s: each content must be an object with an optional string 'role'",
                  where);
    return -1;
  }
  bool model = role && !strcmp(role, "model");
  if (role && !model && strcmp(role, "user") && strcmp(role, "function") && strcmp(role, "tool")) {
    adapt_set_err(err, errlen, "%s: role '%.32s' is not supported", where, role);
    return -1;
  }
  const cJSON *parts = adapt_jget(c, "parts"), *p;
  if (!cJSON_IsArray(parts)) {
    adapt_set_err(err, errlen, "%s: 'parts' must be an array", where);
    return -1;
  }
  cJSON *oparts = cJSON_CreateArray(), *calls = cJSON_CreateArray(), *details = cJSON_CreateArray();
  struct buf text;
  buf_init(&text, (size_t)256 << 20);
  cJSON_ArrayForEach(p, parts)
  {
    const char *t = adapt_jstr(p, "text");
    const cJSON *inl = adapt_jget2(p, "inlineData", "inline_data"), *fd = adapt_jget2(p, "fileData", "file_data");
    const cJSON *fc = adapt_jget2(p, "functionCall", "function_call");
    const cJSON *fr = adapt_jget2(p, "functionResponse", "function_response");
    if (!cJSON_IsObject(p)) {
      adapt_set_err(err, errlen, "%s: each part must be an object", where);
      goto bad;
    }
    if (t) {
      if (cJSON_IsTrue(adapt_jget(p, "thought"))) {
        /* a signed thought reached this client only from an Anthropic channel (a Gemini channel is
         * native): Anthropic's thinking, back as a reasoning_details entry (doc/design.md
         * "Signatures across formats"); unsigned thoughts are not sent back */
        const char *sig = adapt_jstr(p, "thoughtSignature");
        if (model && sig && sig[0])
          thought_detail(details, t, sig);
        continue;
      }
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
      const cJSON *mtv = adapt_jget2(media, "mimeType", "mime_type");
      const cJSON *uriv = adapt_jget2(fd, "fileUri", "file_uri");
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
      const cJSON *args = adapt_jget(fc, "args");
      char *a = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
      cJSON *tc = cJSON_CreateObject(), *fn;
      cJSON_AddStringToObject(tc, "id", ids->id[k]);
      cJSON_AddStringToObject(tc, "type", "function");
      fn = cJSON_AddObjectToObject(tc, "function");
      cJSON_AddStringToObject(fn, "name", name);
      cJSON_AddStringToObject(fn, "arguments", a ? a : "{}");
      free(a);
      const char *sig = adapt_jstr(p, "thoughtSignature");
      if (sig && sig[0])   /* Google's OpenAI-compatible field for a call's signature */
        cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "extra_content"), "google"),
                                "thought_signature", sig);
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
      const cJSON *resp = adapt_jget(fr, "response");
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
  int before = cJSON_GetArraySize(omsgs);
  adapt_end_message(omsgs, true, model, &text, oparts, calls);
  if (cJSON_GetArraySize(details) && cJSON_GetArraySize(omsgs) > before)
    cJSON_AddItemToObject(cJSON_GetArrayItem(omsgs, cJSON_GetArraySize(omsgs) - 1), "reasoning_details", details);
  else
    cJSON_Delete(details);
  return 0;
bad:
  cJSON_Delete(details);
  return adapt_end_message(omsgs, false, model, &text, oparts, calls);
}

char *gemini_request_to_openai(const cJSON *req, const char *upstream_model, bool stream,
                               char *err, size_t errlen)
{
  const cJSON *contents = adapt_list(req, "contents", "contents: must be a non-empty array", err, errlen);
  if (!contents)
    return NULL;
  struct call_ids *ids = calloc(1, sizeof *ids);
  if (!ids) {
    adapt_set_err(err, errlen, "out of memory");
    return NULL;
  }
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "model", upstream_model ? upstream_model : "");
  cJSON *omsgs = cJSON_AddArrayToObject(out, "messages");
  const cJSON *si = adapt_jget2(req, "systemInstruction", "system_instruction");
  if (si && !cJSON_IsNull(si)) {
    const cJSON *parts = adapt_jget(si, "parts"), *p;
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
  const cJSON *gc = adapt_jget2(req, "generationConfig", "generation_config");
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
        adapt_copy_bool(gc, "responseLogprobs", out, "logprobs", err, errlen) < 0 ||
        adapt_copy_number(gc, "logprobs", out, "top_logprobs", err, errlen) < 0 ||
        adapt_copy_modalities(adapt_jget(gc, "responseModalities"), "generationConfig.responseModalities", out, "modalities",
                        false, err, errlen) < 0)
      goto bad;
    /* thinkingConfig -> reasoning_effort (reasoning.h's tables): thinkingLevel is an effort, a
     * thinkingBudget becomes one (0: "none", -1 dynamic: "medium"); includeThoughts alone is no
     * setting */
    const cJSON *tcfg = adapt_jget2(gc, "thinkingConfig", "thinking_config");
    const char *level = adapt_jstr(tcfg, "thinkingLevel");
    const cJSON *tb = adapt_jget2(tcfg, "thinkingBudget", "thinking_budget");
    struct reasoning rs;
    if (level && reasoning_from_effort(level, &rs)) {
      cJSON_AddStringToObject(out, "reasoning_effort", rs.kind == RS_EFFORT ? rs.effort : "none");
    } else if (level) {
      adapt_set_err(err, errlen, "generationConfig.thinkingConfig.thinkingLevel: must be minimal, low, "
                                 "medium or high");
      goto bad;
    } else if (cJSON_IsNumber(tb) && tb->valuedouble >= -1 && tb->valuedouble <= 1e9) {
      cJSON_AddStringToObject(out, "reasoning_effort", reasoning_effort_of_budget((int64_t)tb->valuedouble));
    } else if (tb && !cJSON_IsNull(tb)) {
      adapt_set_err(err, errlen, "generationConfig.thinkingConfig.thinkingBudget: must be a number of "
                                 "tokens, 0 or -1");
      goto bad;
    }
    const cJSON *ss = adapt_jget(gc, "stopSequences");
    cJSON *stops;
    if (cJSON_IsString(ss)) {
      adapt_set_err(err, errlen, "generationConfig.stopSequences: must be an array of strings");
      goto bad;
    }
    if (adapt_stop_list(ss, "stopSequences", &stops, err, errlen) < 0)
      goto bad;
    if (stops)
      cJSON_AddItemToObject(out, "stop", stops);
    /* a schema (responseJsonSchema: JSON Schema; responseSchema: Gemini's OpenAPI subset, a JSON
     * Schema too) is OpenAI's json_schema response format; application/json alone is json_object */
    const char *rmt = adapt_jstr(gc, "responseMimeType");
    const cJSON *schema = adapt_jget2(gc, "responseJsonSchema", "response_json_schema");
    if (!cJSON_IsObject(schema))
      schema = adapt_jget2(gc, "responseSchema", "response_schema");
    if ((rmt && !strcmp(rmt, "application/json")) || cJSON_IsObject(schema)) {
      cJSON *rf = cJSON_AddObjectToObject(out, "response_format");
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
  const cJSON *tools = adapt_jget(req, "tools");
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
      const cJSON *decls = adapt_jget2(t, "functionDeclarations", "function_declarations");
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
        const cJSON *params = adapt_jget(d, "parameters");
        if (!cJSON_IsObject(params))
          params = adapt_jget(d, "parametersJsonSchema");
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
  const cJSON *fcc = adapt_jget2(adapt_jget2(req, "toolConfig", "tool_config"), "functionCallingConfig",
                           "function_calling_config");
  if (cJSON_IsObject(fcc)) {
    const char *mode = adapt_jstr(fcc, "mode");
    const cJSON *allowed = adapt_jget(fcc, "allowedFunctionNames");
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

/* Gemini's usageMetadata: candidatesTokenCount without the thoughts, thoughtsTokenCount beside it
 * (https://ai.google.dev/api/generate-content#UsageMetadata); relay's completion includes them. */
static void add_usage_metadata(cJSON *o, const struct usage *u)
{
  cJSON *um = cJSON_AddObjectToObject(o, "usageMetadata");
  cJSON_AddNumberToObject(um, "promptTokenCount", (double)u->prompt_tokens);
  cJSON_AddNumberToObject(um, "candidatesTokenCount", (double)(u->completion_tokens - u->reasoning_tokens));
  cJSON_AddNumberToObject(um, "totalTokenCount", (double)(u->prompt_tokens + u->completion_tokens));
  if (u->cached_tokens)
    cJSON_AddNumberToObject(um, "cachedContentTokenCount", (double)u->cached_tokens);
  if (u->reasoning_tokens)
    cJSON_AddNumberToObject(um, "thoughtsTokenCount", (double)u->reasoning_tokens);
}

static cJSON *function_call_part(const char *id, const char *name, const char *args, const char *sig)
{
  cJSON *input = adapt_args_object(args);
  cJSON *p = cJSON_CreateObject(), *fc = cJSON_AddObjectToObject(p, "functionCall");
  if (id && id[0])
    cJSON_AddStringToObject(fc, "id", id);
  cJSON_AddStringToObject(fc, "name", name ? name : "");
  cJSON_AddItemToObject(fc, "args", input);
  if (sig && sig[0])
    cJSON_AddStringToObject(p, "thoughtSignature", sig);
  return p;
}

/* A signed reasoning_details item (doc/design.md "Signatures across formats") as a thought part
 * with its thoughtSignature (fallback: the text when the item has none), or NULL when unsigned. */
static cJSON *signed_thought_part(const cJSON *rd, const char *fallback)
{
  const char *ty = adapt_jstr(rd, "type"), *sig = adapt_jstr(rd, "signature"), *data = adapt_jstr(rd, "data");
  const char *t = adapt_jstr(rd, "text");
  if (!ty)
    return NULL;
  if (!strcmp(ty, "reasoning.encrypted") && data) {
    struct buf b;
    buf_init(&b, (size_t)64 << 20);
    if (buf_append_str(&b, ADAPT_SIG_REDACTED) < 0 || buf_append_str(&b, data) < 0) {
      buf_free(&b);
      return NULL;
    }
    cJSON *p = adapt_text_item(NULL, "");
    cJSON_AddTrueToObject(p, "thought");
    cJSON_AddStringToObject(p, "thoughtSignature", b.data);
    buf_free(&b);
    return p;
  }
  if (strcmp(ty, "reasoning.text") || !sig)
    return NULL;
  cJSON *p = adapt_text_item(NULL, t && t[0] ? t : fallback ? fallback : "");
  cJSON_AddTrueToObject(p, "thought");
  cJSON_AddStringToObject(p, "thoughtSignature", sig);
  return p;
}

char *gemini_response_from_openai(const char *body, size_t len, const char *model,
                                  struct usage *u, char *err, size_t errlen)
{
  cJSON *root;
  const cJSON *msg = adapt_oai_response(body, len, u, &root, err, errlen);
  if (!msg)
    return NULL;
  const cJSON *choice = cJSON_GetArrayItem(adapt_jget(root, "choices"), 0);
  cJSON *out = cJSON_CreateObject();
  cJSON *cand = cJSON_CreateObject();
  cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "candidates"), cand);
  cJSON *content = cJSON_AddObjectToObject(cand, "content");
  cJSON_AddStringToObject(content, "role", "model");
  cJSON *parts = cJSON_AddArrayToObject(content, "parts");
  const char *reasoning = adapt_oai_reasoning(msg);
  const cJSON *details = adapt_jget(msg, "reasoning_details"), *rd;
  bool signed_any = false;
  cJSON_ArrayForEach(rd, (cJSON_IsArray(details) ? details : NULL))
  {
    cJSON *p = signed_thought_part(rd, signed_any ? NULL : reasoning);
    if (p) {
      cJSON_AddItemToArray(parts, p);
      signed_any = true;
    }
  }
  if (reasoning && reasoning[0] && !signed_any) {
    cJSON *p = adapt_text_item(NULL, reasoning);
    cJSON_AddTrueToObject(p, "thought");
    cJSON_AddItemToArray(parts, p);
  }
  struct buf text;
  buf_init(&text, (size_t)256 << 20);
  const cJSON *c = adapt_jget(msg, "content");
  if (adapt_content_text(cJSON_IsString(c) || cJSON_IsArray(c) ? c : NULL, &text, "\n", false, err, errlen,
                   "choices[0].message") < 0) {
    buf_free(&text);
    cJSON_Delete(out);
    cJSON_Delete(root);
    return NULL;
  }
  if (text.len)
    cJSON_AddItemToArray(parts, adapt_text_item(NULL, text.data));
  buf_free(&text);
  const cJSON *calls = adapt_jget(msg, "tool_calls"), *tc;
  if (cJSON_IsArray(calls))
    cJSON_ArrayForEach(tc, calls)
    {
      const cJSON *fn = adapt_jget(tc, "function");
      cJSON_AddItemToArray(parts, function_call_part(adapt_jstr(tc, "id"), adapt_jstr(fn, "name"),
                                                     adapt_jstr(fn, "arguments"), adapt_call_signature(tc)));
    }
  if (cJSON_GetArraySize(parts) == 0)
    cJSON_AddItemToArray(parts, adapt_text_item(NULL, ""));
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
  for (int i = 0; i < GEMINI_MAX_TOOL_CALLS; i++) {
    buf_init(&s->calls[i].args, GEMINI_TOOL_ARGS_MAX);
    buf_init(&s->calls[i].sig, GEMINI_TOOL_ARGS_MAX);
  }
}

void gemini_stream_from_openai_free(struct openai_to_gemini_stream *s)
{
  for (int i = 0; i < GEMINI_MAX_TOOL_CALLS; i++) {
    buf_free(&s->calls[i].args);
    buf_free(&s->calls[i].sig);
  }
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
    cJSON *p = function_call_part(c->id, c->name, c->args.data, c->sig.data);
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
                      (long long)u->prompt_tokens, (long long)(u->completion_tokens - u->reasoning_tokens),
                      (long long)(u->prompt_tokens + u->completion_tokens));
    if (u->cached_tokens)
      rc |= buf_appendf(o, ",\"cachedContentTokenCount\":%lld", (long long)u->cached_tokens);
    if (u->reasoning_tokens)
      rc |= buf_appendf(o, ",\"thoughtsTokenCount\":%lld", (long long)u->reasoning_tokens);
    rc |= buf_append_str(o, "}");
  }
  rc |= frame_tail(s, o);
  return rc;
}

int gemini_stream_from_openai_chunk(struct openai_to_gemini_stream *s, const cJSON *ev, struct buf *out,
                                    char *err, size_t errlen)
{
  if (s->finished || s->failed)
    return 0;
  size_t mark = out->len;
  if (!ev) {                   /* [DONE] */
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
  const cJSON *e = adapt_jget(ev, "error");
  if (e && !cJSON_IsNull(e)) {
    const char *m = adapt_error_message(ev);
    int rc = gemini_error_event(out, 500, m ? m : "upstream stream error");
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
  const cJSON *choice;
  const cJSON *delta = adapt_chunk_read(ev, &s->usage, &s->have_usage, &choice);
  if (delta && !s->finish_reason) {
    const char *r = adapt_oai_reasoning(delta);
    if (r && r[0])
      rc |= text_frame(s, out, r, true);
    const cJSON *details = adapt_jget(delta, "reasoning_details"), *rd;
    cJSON_ArrayForEach(rd, (cJSON_IsArray(details) ? details : NULL))
    {
      cJSON *p = signed_thought_part(rd, NULL);   /* the text went in the frames before it */
      char *txt = p ? cJSON_PrintUnformatted(p) : NULL;
      cJSON_Delete(p);
      if (txt) {
        rc |= buf_append_str(out, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[");
        rc |= buf_append_str(out, txt);
        rc |= buf_append_str(out, "]},\"index\":0}]");
        rc |= frame_tail(s, out);
        free(txt);
      }
    }
    const char *t = adapt_jstr(delta, "content");
    if (t && t[0])
      rc |= text_frame(s, out, t, false);
    const cJSON *calls = adapt_jget(delta, "tool_calls"), *tc;
    if (cJSON_IsArray(calls))
      cJSON_ArrayForEach(tc, calls)
      {
        const cJSON *idx = adapt_jget(tc, "index");
        const cJSON *fn = adapt_jget(tc, "function");
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
        const char *sig = adapt_call_signature(tc);
        if (sig && !c->sig.len && buf_append_str(&c->sig, sig) < 0) {
          adapt_set_err(err, errlen, "a tool call's thought signature is longer than %zu bytes", GEMINI_TOOL_ARGS_MAX);
          rc = -2;
          break;
        }
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

static int feed_chunk(void *s, const cJSON *chunk, struct buf *out, char *err, size_t errlen)
{
  return gemini_stream_from_openai_chunk(s, chunk, out, err, errlen);
}

static int finish_tail(void *s, struct buf *out)
{
  return final_frame(s, out);
}

int gemini_stream_from_openai_feed(struct openai_to_gemini_stream *s, const char *data, size_t len,
                                   struct buf *out, char *err, size_t errlen)
{
  return adapt_feed_openai(s, s->finished || s->failed, data, len, feed_chunk, out, err, errlen);
}

int gemini_stream_from_openai_finish(struct openai_to_gemini_stream *s, struct buf *out)
{
  return adapt_finish(s, s->finished || s->failed, s->finish_reason != NULL, finish_tail, out, &s->finished);
}
