/* responses_events: the stream converter of responses_client.h (OpenAI chunks in, the Responses
 * API's named events out), split from responses_client.c by size; the items it builds are that
 * file's (responses_client.h "shapes"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "responses_client.h"

/* o when it is an array, else NULL (for cJSON_ArrayForEach, whose argument is not parenthesized) */
static const cJSON *array_or_null(const cJSON *o)
{
  return cJSON_IsArray(o) ? o : NULL;
}

#define RESP_TEXT_MAX ((size_t)64 << 20)

/* ---------------------------------------------------------------- the stream */

int responses_error_event(struct buf *out, int64_t seq, const char *code, const char *msg)
{
  size_t mark = out->len;
  int rc = buf_append_str(out, "event: error\ndata: {\"type\":\"error\",\"code\":");
  rc |= buf_append_json_str(out, code ? code : "server_error");
  rc |= buf_append_str(out, ",\"message\":");
  rc |= buf_append_json_str(out, msg ? msg : "");
  rc |= buf_appendf(out, ",\"param\":null,\"sequence_number\":%lld}\n\n", (long long)seq);
  if (rc)
    adapt_restore(out, mark);
  return rc ? -1 : 0;
}

/* event: NAME / data: ev with "type" and "sequence_number" (ev deleted) */
static int emit(struct openai_to_responses_stream *s, struct buf *out, const char *name, cJSON *ev)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", name);
  cJSON_AddNumberToObject(o, "sequence_number", (double)s->seq++);
  cJSON *c = ev ? ev->child : NULL;
  while (c) {            /* ev's members after type and sequence_number, in order */
    cJSON *next = c->next;
    cJSON_AddItemToObject(o, c->string, cJSON_DetachItemViaPointer(ev, c));
    c = next;
  }
  cJSON_Delete(ev);
  char *j = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!j)
    return -1;
  int rc = buf_appendf(out, "event: %s\ndata: ", name);
  rc |= buf_append_str(out, j);
  rc |= buf_append_str(out, "\n\n");
  free(j);
  return rc;
}

static cJSON *at(int output_index, const char *item_id)
{
  cJSON *e = cJSON_CreateObject();
  if (item_id)
    cJSON_AddStringToObject(e, "item_id", item_id);
  cJSON_AddNumberToObject(e, "output_index", output_index);
  return e;
}

static cJSON *open_item(const struct openai_to_responses_stream *s)
{
  return s->open ? cJSON_GetArrayItem(s->output, cJSON_GetArraySize(s->output) - 1) : NULL;
}

static int close_item(struct openai_to_responses_stream *s, struct buf *out)
{
  cJSON *it = open_item(s);
  if (!it)
    return 0;
  int idx = cJSON_GetArraySize(s->output) - 1, rc = 0;
  const char *iid = adapt_jstr(it, "id");
  const char *text = s->text.len ? s->text.data : "";
  cJSON *e;
  if (s->open == RESP_ITEM_MESSAGE) {
    e = at(idx, iid);
    cJSON_AddNumberToObject(e, "content_index", 0);
    cJSON_AddStringToObject(e, "text", text);
    cJSON_AddItemToObject(e, "logprobs", cJSON_CreateArray());
    rc |= emit(s, out, "response.output_text.done", e);
    cJSON *part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "type", "output_text");
    cJSON_AddStringToObject(part, "text", text);
    cJSON_AddItemToObject(part, "annotations", cJSON_CreateArray());
    e = at(idx, iid);
    cJSON_AddNumberToObject(e, "content_index", 0);
    cJSON_AddItemToObject(e, "part", cJSON_Duplicate(part, 1));
    rc |= emit(s, out, "response.content_part.done", e);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(it, "content"), part);
  } else if (s->open == RESP_ITEM_REASONING && s->text.len) {
    e = at(idx, iid);
    cJSON_AddNumberToObject(e, "summary_index", 0);
    cJSON_AddStringToObject(e, "text", text);
    rc |= emit(s, out, "response.reasoning_summary_text.done", e);
    cJSON *part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "type", "summary_text");
    cJSON_AddStringToObject(part, "text", text);
    e = at(idx, iid);
    cJSON_AddNumberToObject(e, "summary_index", 0);
    cJSON_AddItemToObject(e, "part", cJSON_Duplicate(part, 1));
    rc |= emit(s, out, "response.reasoning_summary_part.done", e);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(it, "summary"), part);
  } else if (s->open == RESP_ITEM_CALL) {
    e = at(idx, iid);
    cJSON_AddStringToObject(e, "name", adapt_jstr(it, "name") ? adapt_jstr(it, "name") : "");
    cJSON_AddStringToObject(e, "arguments", text);
    rc |= emit(s, out, "response.function_call_arguments.done", e);
    cJSON_ReplaceItemInObjectCaseSensitive(it, "arguments", cJSON_CreateString(text));
  }
  if (cJSON_GetObjectItemCaseSensitive(it, "status"))
    cJSON_ReplaceItemInObjectCaseSensitive(it, "status", cJSON_CreateString("completed"));
  e = at(idx, NULL);
  cJSON_AddItemToObject(e, "item", cJSON_Duplicate(it, 1));
  rc |= emit(s, out, "response.output_item.done", e);
  s->open = RESP_ITEM_NONE;
  buf_reset(&s->text);
  return rc;
}

/* Opens an item (it: taken) after closing the open one: output_item.added, and the part a message
 * or a reasoning summary starts with. */
static int add_item(struct openai_to_responses_stream *s, struct buf *out, enum responses_item kind, cJSON *it)
{
  int rc = close_item(s, out);
  int idx = cJSON_GetArraySize(s->output);
  cJSON_AddItemToArray(s->output, it);
  s->open = kind;
  cJSON *e = at(idx, NULL);
  cJSON_AddItemToObject(e, "item", cJSON_Duplicate(it, 1));
  rc |= emit(s, out, "response.output_item.added", e);
  const char *iid = adapt_jstr(it, "id");
  if (kind == RESP_ITEM_MESSAGE) {
    e = at(idx, iid);
    cJSON_AddNumberToObject(e, "content_index", 0);
    cJSON *part = cJSON_AddObjectToObject(e, "part");
    cJSON_AddStringToObject(part, "type", "output_text");
    cJSON_AddStringToObject(part, "text", "");
    cJSON_AddItemToObject(part, "annotations", cJSON_CreateArray());
    rc |= emit(s, out, "response.content_part.added", e);
  }
  return rc;
}

static void item_id(const struct openai_to_responses_stream *s, const char *prefix, char *out, size_t n)
{
  snprintf(out, n, "%s_%d_%s", prefix, cJSON_GetArraySize(s->output), s->id + 5);
}

static int reasoning_delta(struct openai_to_responses_stream *s, struct buf *out, const char *t)
{
  int rc = 0;
  char iid[RESPONSES_ID_MAX + 16];
  if (s->open != RESP_ITEM_REASONING) {
    item_id(s, "rs", iid, sizeof iid);
    rc |= add_item(s, out, RESP_ITEM_REASONING, responses_reasoning_item(iid, NULL, NULL));
  }
  int idx = cJSON_GetArraySize(s->output) - 1;
  const char *cur = adapt_jstr(open_item(s), "id");
  if (!s->text.len) {
    cJSON *e = at(idx, cur);
    cJSON_AddNumberToObject(e, "summary_index", 0);
    cJSON *part = cJSON_AddObjectToObject(e, "part");
    cJSON_AddStringToObject(part, "type", "summary_text");
    cJSON_AddStringToObject(part, "text", "");
    rc |= emit(s, out, "response.reasoning_summary_part.added", e);
  }
  rc |= buf_append_str(&s->text, t);
  cJSON *e = at(idx, cur);
  cJSON_AddNumberToObject(e, "summary_index", 0);
  cJSON_AddStringToObject(e, "delta", t);
  rc |= emit(s, out, "response.reasoning_summary_text.delta", e);
  return rc;
}

/* a signature (a reasoning_details entry, or a Gemini call's) on the open reasoning item, or on a
 * reasoning item of its own */
static int reasoning_signature(struct openai_to_responses_stream *s, struct buf *out, const cJSON *detail)
{
  int rc = 0;
  const char *t = adapt_jstr(detail, "text");
  if (s->open != RESP_ITEM_REASONING || (t && t[0]) ||
      cJSON_GetObjectItemCaseSensitive(open_item(s), "encrypted_content")) {
    char iid[RESPONSES_ID_MAX + 16];
    item_id(s, "rs", iid, sizeof iid);
    rc |= add_item(s, out, RESP_ITEM_REASONING, responses_reasoning_item(iid, NULL, NULL));
  }
  if (t && t[0])
    rc |= reasoning_delta(s, out, t);
  cJSON *tmp = responses_reasoning_item("", NULL, detail);
  cJSON *enc = cJSON_DetachItemFromObjectCaseSensitive(tmp, "encrypted_content");
  cJSON_Delete(tmp);
  if (enc)
    cJSON_AddItemToObject(open_item(s), "encrypted_content", enc);
  return rc | close_item(s, out);
}

static int completed(struct openai_to_responses_stream *s, struct buf *out)
{
  int rc = close_item(s, out);
  bool incomplete = s->finish_reason && !strcmp(s->finish_reason, "length");
  cJSON *r = responses_object(s->id, s->created, s->model, incomplete ? "incomplete" : "completed");
  cJSON_ReplaceItemInObjectCaseSensitive(r, "output", cJSON_Duplicate(s->output, 1));
  responses_add_usage(r, &s->usage);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddItemToObject(e, "response", r);
  rc |= emit(s, out, incomplete ? "response.incomplete" : "response.completed", e);
  return rc;
}

void responses_stream_from_openai_init(struct openai_to_responses_stream *s, const char *model)
{
  memset(s, 0, sizeof *s);
  snprintf(s->model, sizeof s->model, "%s", model ? model : "");
  s->output = cJSON_CreateArray();
  s->tool_index = -1;
  buf_init(&s->text, RESP_TEXT_MAX);
}

void responses_stream_from_openai_free(struct openai_to_responses_stream *s)
{
  cJSON_Delete(s->output);
  s->output = NULL;
  buf_free(&s->text);
}

static int chunk_body(struct openai_to_responses_stream *s, const cJSON *ev, struct buf *out, char *err,
                      size_t errlen)
{
  int rc = 0;
  if (!ev) {                   /* [DONE] */
    if (!s->started) {
      adapt_set_err(err, errlen, "the upstream stream ended before any chunk");
      return -1;
    }
    rc = completed(s, out);
    s->finished = true;
    return rc;
  }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
  if (e && !cJSON_IsNull(e)) {
    const char *m = adapt_error_message(ev);
    const char *code = adapt_jstr(e, "code");
    rc = responses_error_event(out, s->seq++, code ? code : "upstream_error", m ? m : "upstream stream error");
    s->failed = true;
    return rc;
  }
  if (!s->started) {
    if (!s->model[0])
      snprintf(s->model, sizeof s->model, "%s", adapt_jstr(ev, "model") ? adapt_jstr(ev, "model") : "");
    responses_make_id(s->id, sizeof s->id, "resp_", adapt_jstr(ev, "id"));
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(ev, "created");
    s->created = responses_int(cr, 0, 0, INT32_MAX * 1000LL);
    cJSON *w = cJSON_CreateObject();
    cJSON_AddItemToObject(w, "response", responses_object(s->id, s->created, s->model, "in_progress"));
    rc |= emit(s, out, "response.created", w);
    w = cJSON_CreateObject();
    cJSON_AddItemToObject(w, "response", responses_object(s->id, s->created, s->model, "in_progress"));
    rc |= emit(s, out, "response.in_progress", w);
    s->started = true;
  }
  const cJSON *choice;
  const cJSON *delta = adapt_chunk_read(ev, &s->usage, &s->have_usage, &choice);
  char iid[RESPONSES_ID_MAX + 16];
  if (delta && !s->finish_reason) {
    const char *r = adapt_oai_reasoning(delta);
    if (r && r[0])
      rc |= reasoning_delta(s, out, r);
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(delta, "reasoning_details"), *rd;
    cJSON_ArrayForEach(rd, array_or_null(details))
    {
      const char *ty = adapt_jstr(rd, "type");
      if (ty && ((!strcmp(ty, "reasoning.encrypted") && adapt_jstr(rd, "data")) ||
                 (!strcmp(ty, "reasoning.text") && adapt_jstr(rd, "signature"))))
        rc |= reasoning_signature(s, out, rd);
    }
    const char *t = adapt_jstr(delta, "content");
    if (t && t[0]) {
      if (s->open != RESP_ITEM_MESSAGE) {
        item_id(s, "msg", iid, sizeof iid);
        rc |= add_item(s, out, RESP_ITEM_MESSAGE, responses_message_item(iid, NULL, "in_progress"));
      }
      rc |= buf_append_str(&s->text, t);
      cJSON *d = at(cJSON_GetArraySize(s->output) - 1, adapt_jstr(open_item(s), "id"));
      cJSON_AddNumberToObject(d, "content_index", 0);
      cJSON_AddStringToObject(d, "delta", t);
      cJSON_AddItemToObject(d, "logprobs", cJSON_CreateArray());
      rc |= emit(s, out, "response.output_text.delta", d);
    }
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"), *tc;
    cJSON_ArrayForEach(tc, array_or_null(calls))
    {
      const cJSON *ix = cJSON_GetObjectItemCaseSensitive(tc, "index");
      int index = (int)responses_int(ix, 0, 0, INT32_MAX);
      const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
      if (s->open != RESP_ITEM_CALL || index != s->tool_index) {
        const char *sig = adapt_call_signature(tc);
        if (sig) {
          cJSON *sd = responses_call_signature(sig);
          rc |= reasoning_signature(s, out, sd);
          cJSON_Delete(sd);
        }
        item_id(s, "fc", iid, sizeof iid);
        const char *cid = adapt_jstr(tc, "id");
        rc |= add_item(s, out, RESP_ITEM_CALL,
                       responses_call_item(iid, cid ? cid : iid, adapt_jstr(fn, "name") ? adapt_jstr(fn, "name") : "", "",
                                "in_progress"));
        s->tool_index = index;
      }
      const char *a = adapt_jstr(fn, "arguments");
      if (a && a[0]) {
        rc |= buf_append_str(&s->text, a);
        cJSON *d = at(cJSON_GetArraySize(s->output) - 1, adapt_jstr(open_item(s), "id"));
        cJSON_AddStringToObject(d, "delta", a);
        rc |= emit(s, out, "response.function_call_arguments.delta", d);
      }
    }
  }
  const char *fr = adapt_jstr(choice, "finish_reason");
  if (fr && !s->finish_reason) {
    s->finish_reason = !strcmp(fr, "length") ? "length" : !strcmp(fr, "tool_calls") ? "tool_calls" : "stop";
    rc |= close_item(s, out);
  }
  return rc;
}

int responses_stream_from_openai_chunk(struct openai_to_responses_stream *s, const cJSON *ev, struct buf *out,
                                       char *err, size_t errlen)
{
  if (s->finished || s->failed)
    return 0;
  size_t mark = out->len;
  int rc = chunk_body(s, ev, out, err, errlen);
  if (rc < 0 && out->len == mark)
    return -1;          /* err set */
  if (rc) {
    adapt_restore(out, mark);
    s->failed = true;   /* what was lost cannot be told again: nothing more goes out */
    adapt_set_err(err, errlen, "the client buffer is full");
    return -1;
  }
  return 0;
}

int responses_stream_from_openai_finish(struct openai_to_responses_stream *s, struct buf *out)
{
  if (s->finished || s->failed)
    return 0;
  if (!s->finish_reason || !s->started)
    return -1;
  size_t mark = out->len;
  if (completed(s, out)) {
    adapt_restore(out, mark);
    return -1;
  }
  s->finished = true;
  return 0;
}
