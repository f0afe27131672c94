/* reqfit: see reqfit.h. */
#include "reqfit.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool prefix(const char *s, const char *p)
{
  return strncmp(s, p, strlen(p)) == 0;
}

/* o1, o3-mini, o4-mini-2025-04-16: "o" and a digit, then the end or a dash */
static bool o_series(const char *m)
{
  return m[0] == 'o' && m[1] >= '1' && m[1] <= '9' && (m[2] == '\0' || m[2] == '-');
}

bool reqfit_openai_reasoning_model(const char *model)
{
  if (!model)
    return false;
  return o_series(model) || (prefix(model, "gpt-5") && !strstr(model, "-chat"));
}

static bool known_plain_model(const char *m)
{
  return prefix(m, "gpt-4") || prefix(m, "gpt-3.5") || prefix(m, "chatgpt-") ||
         (prefix(m, "gpt-") && strstr(m, "-chat"));
}

static bool drop(cJSON *o, const char *name)
{
  if (!cJSON_GetObjectItemCaseSensitive(o, name))
    return false;
  cJSON_DeleteItemFromObjectCaseSensitive(o, name);
  return true;
}

/* reasoning_details on messages and extra_content on their tool calls, dropped */
static bool drop_signatures(cJSON *req)
{
  bool changed = false;
  cJSON *m, *tc;
  cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(req, "messages"))
  {
    changed |= drop(m, "reasoning_details");
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
      changed |= drop(tc, "extra_content");
  }
  return changed;
}

bool reqfit_openai(cJSON *req, const char *model)
{
  if (!cJSON_IsObject(req) || !model)
    return false;
  bool changed = false;
  const cJSON *effort = cJSON_GetObjectItemCaseSensitive(req, "reasoning_effort");
  if (reqfit_openai_reasoning_model(model)) {
    cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    if (mt) {
      cJSON *moved = cJSON_DetachItemViaPointer(req, mt);
      if (!cJSON_GetObjectItemCaseSensitive(req, "max_completion_tokens"))
        cJSON_AddItemToObject(req, "max_completion_tokens", moved);
      else
        cJSON_Delete(moved);
      changed = true;
    }
    static const char *const refused[] = {"temperature", "top_p", "presence_penalty",
                                          "frequency_penalty", "logprobs", "top_logprobs",
                                          "logit_bias"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
      changed |= drop(req, refused[i]);
    /* the signed state another format's channel gave the client (doc/design.md "Signatures
     * across formats") means nothing to OpenAI's own models, which refuse unknown message fields */
  }
  if (reqfit_openai_reasoning_model(model) || known_plain_model(model))
    changed |= drop_signatures(req);
  if (effort && (known_plain_model(model) ||
                 (cJSON_IsString(effort) && !strcmp(effort->valuestring, "none") && !prefix(model, "gpt-5."))))
    changed |= drop(req, "reasoning_effort");
  return changed;
}

/* ---- Gemini's Schema subset ---- */

static const char *const gemini_schema_keys[] = {
    "type",      "format",        "title",         "description", "nullable",  "enum",
    "items",     "minItems",      "maxItems",      "properties",  "required",  "minProperties",
    "maxProperties", "minLength", "maxLength",     "pattern",     "minimum",   "maximum",
    "anyOf",     "propertyOrdering", "default",    "example"};

static bool gemini_key(const char *k)
{
  for (size_t i = 0; i < sizeof gemini_schema_keys / sizeof gemini_schema_keys[0]; i++)
    if (!strcmp(k, gemini_schema_keys[i]))
      return true;
  return false;
}

static void schema_node(cJSON *s, int depth);

static void schema_list(cJSON *list, int depth)
{
  cJSON *c;
  cJSON_ArrayForEach(c, list)
    schema_node(c, depth + 1);
}

static void schema_node(cJSON *s, int depth)
{
  if (!cJSON_IsObject(s) || depth > 64)
    return;
  /* renames first: oneOf -> anyOf, const -> enum [const], ["T","null"] -> T + nullable */
  cJSON *one = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
  if (one && !cJSON_GetObjectItemCaseSensitive(s, "anyOf"))
    cJSON_AddItemToObject(s, "anyOf", cJSON_DetachItemViaPointer(s, one));
  cJSON *cst = cJSON_GetObjectItemCaseSensitive(s, "const");
  if (cJSON_IsString(cst) && !cJSON_GetObjectItemCaseSensitive(s, "enum")) {
    cJSON *e = cJSON_AddArrayToObject(s, "enum");
    cJSON_AddItemToArray(e, cJSON_CreateString(cst->valuestring));
    if (!cJSON_GetObjectItemCaseSensitive(s, "type"))
      cJSON_AddStringToObject(s, "type", "string");
  }
  cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
  if (cJSON_IsArray(type)) {
    const char *first = NULL;
    bool null = false;
    const cJSON *t;
    cJSON_ArrayForEach(t, type)
    {
      if (cJSON_IsString(t) && !strcmp(t->valuestring, "null"))
        null = true;
      else if (cJSON_IsString(t) && !first)
        first = t->valuestring;
    }
    cJSON *nt = first ? cJSON_CreateString(first) : NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(s, "type");
    if (nt)
      cJSON_AddItemToObject(s, "type", nt);
    if (null && !cJSON_GetObjectItemCaseSensitive(s, "nullable"))
      cJSON_AddTrueToObject(s, "nullable");
  }
  /* keep Gemini's keys only */
  cJSON *c = s->child;
  while (c) {
    cJSON *next = c->next;
    if (!c->string || !gemini_key(c->string))
      cJSON_Delete(cJSON_DetachItemViaPointer(s, c));
    c = next;
  }
  const cJSON *tp = cJSON_GetObjectItemCaseSensitive(s, "type");
  const char *tname = cJSON_IsString(tp) ? tp->valuestring : "";
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(s, "format");
  if (fmt) {
    const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";
    bool ok = !strcasecmp(tname, "string")    ? !strcmp(f, "enum") || !strcmp(f, "date-time")
              : !strcasecmp(tname, "integer") ? !strcmp(f, "int32") || !strcmp(f, "int64")
              : !strcasecmp(tname, "number")  ? !strcmp(f, "float") || !strcmp(f, "double")
                                              : false;
    if (!ok)
      cJSON_DeleteItemFromObjectCaseSensitive(s, "format");
  }
  const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
  if (en) {
    bool strings = cJSON_IsArray(en) && cJSON_GetArraySize(en) > 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, en)
      strings = strings && cJSON_IsString(v);
    if (!strings)
      cJSON_DeleteItemFromObjectCaseSensitive(s, "enum");
  }
  cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
  if (props && !cJSON_IsObject(props)) {
    cJSON_DeleteItemFromObjectCaseSensitive(s, "properties");
    props = NULL;
  }
  schema_list(props, depth);           /* each value is a schema, each key a name */
  if (props && depth > 0 && cJSON_GetArraySize(props) == 0) {
    /* "properties: should be non-empty for OBJECT type": an open object is sent without the map */
    cJSON_DeleteItemFromObjectCaseSensitive(s, "properties");
    props = NULL;
  }
  cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
  if (cJSON_IsArray(items)) {          /* a tuple: its first schema */
    cJSON *first = cJSON_DetachItemFromArray(items, 0);
    cJSON_DeleteItemFromObjectCaseSensitive(s, "items");
    if (cJSON_IsObject(first))
      cJSON_AddItemToObject(s, "items", first);
    else
      cJSON_Delete(first);
    items = cJSON_GetObjectItemCaseSensitive(s, "items");
  }
  if (items && !cJSON_IsObject(items))
    cJSON_DeleteItemFromObjectCaseSensitive(s, "items");
  else
    schema_node(items, depth + 1);
  cJSON *any = cJSON_GetObjectItemCaseSensitive(s, "anyOf");
  if (any && !cJSON_IsArray(any))
    cJSON_DeleteItemFromObjectCaseSensitive(s, "anyOf");
  else
    schema_list(any, depth);
  cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
  if (req) {
    cJSON *r = req->child;
    while (cJSON_IsArray(req) && r) {
      cJSON *next = r->next;
      if (!cJSON_IsString(r) || !cJSON_GetObjectItemCaseSensitive(props, r->valuestring))
        cJSON_Delete(cJSON_DetachItemViaPointer(req, r));
      r = next;
    }
    if (!cJSON_IsArray(req) || cJSON_GetArraySize(req) == 0)
      cJSON_DeleteItemFromObjectCaseSensitive(s, "required");
  }
}

void reqfit_gemini_schema(cJSON *schema)
{
  schema_node(schema, 0);
}

/* Anthropic with thinking on: the last assistant turn, when it made tool calls, must start with
 * its signed thinking block ("Expected `thinking` or `redacted_thinking`, but found `tool_use`").
 * When the client did not send one back, or when tool_choice forces a tool (which thinking
 * refuses), thinking is turned off for this request. True when it changed. */
static bool claude_thinking_turn(cJSON *req)
{
  const cJSON *th = cJSON_GetObjectItemCaseSensitive(req, "thinking");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(th, "type");
  if (!cJSON_IsString(type) || !strcmp(type->valuestring, "disabled"))
    return false;
  /* "Thinking may not be enabled when tool_choice forces tool use": the client's choice wins */
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "tool_choice"), "type");
  bool forced = cJSON_IsString(tc) && (!strcmp(tc->valuestring, "any") || !strcmp(tc->valuestring, "tool"));
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages"), *m, *last = NULL;
  cJSON_ArrayForEach(m, msgs)
  {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    if (cJSON_IsString(role) && !strcmp(role->valuestring, "assistant"))
      last = m;
  }
  const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(last, "content"), *b;
  const cJSON *list = cJSON_IsArray(blocks) ? blocks : NULL;
  bool calls = false;
  cJSON_ArrayForEach(b, list)
  {
    const cJSON *bt = cJSON_GetObjectItemCaseSensitive(b, "type");
    calls |= cJSON_IsString(bt) && !strcmp(bt->valuestring, "tool_use");
  }
  const cJSON *first = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(blocks, 0), "type");
  if (!forced && (!calls || (cJSON_IsString(first) && (!strcmp(first->valuestring, "thinking") ||
                                                        !strcmp(first->valuestring, "redacted_thinking")))))
    return false;
  cJSON *off = cJSON_CreateObject();
  cJSON_AddStringToObject(off, "type", "disabled");
  cJSON_ReplaceItemInObjectCaseSensitive(req, "thinking", off);
  return true;
}

/* Gemini 3 refuses a model turn whose first functionCall has no thoughtSignature ("Function call is
 * missing a thought_signature"). A client that did not send the signature back (or a conversation
 * begun on another model) gets the value Google documents for that case,
 * "skip_thought_signature_validator" (ai.google.dev/gemini-api/docs/thought-signatures, "FAQs").
 * True when it changed. */
static bool gemini_call_signatures(cJSON *req, const char *model)
{
  if (!reasoning_gemini_levels(model))
    return false;
  bool changed = false;
  cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(req, "contents"))
  {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(c, "role");
    if (!cJSON_IsString(role) || strcmp(role->valuestring, "model"))
      continue;
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "parts"))
    {
      if (!cJSON_GetObjectItemCaseSensitive(p, "functionCall"))
        continue;
      if (!cJSON_GetObjectItemCaseSensitive(p, "thoughtSignature")) {
        cJSON_AddStringToObject(p, "thoughtSignature", "skip_thought_signature_validator");
        changed = true;
      }
      break;     /* the first call of a turn carries it */
    }
  }
  return changed;
}

void reqfit_body(char **body, const cJSON *oai_req, enum reasoning_format fmt, const struct reasoning *suffix,
                 const char *model)
{
  struct reasoning own;
  const struct reasoning *rs = suffix;
  if (!rs && reasoning_from_request(oai_req, &own))
    rs = &own;
  if (rs && !reasoning_applies(rs, fmt))
    rs = NULL;
  if (!*body || (!rs && fmt != RS_FMT_GEMINI))
    return;
  cJSON *j = cJSON_Parse(*body);
  if (!j)
    return;
  bool changed = rs != NULL;
  if (rs)
    reasoning_apply_model(j, fmt, rs, model);
  if (fmt == RS_FMT_CLAUDE)
    changed |= claude_thinking_turn(j);
  else if (fmt == RS_FMT_GEMINI)
    changed |= gemini_call_signatures(j, model);
  char *out = changed ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  if (out) {
    free(*body);
    *body = out;
  }
}
