/* Unit tests of the format interface (relayd/format.h): each format's ops (requests read and
 * written, errors in its shape, whole answers) and the one event path of a stream, fed event by
 * event for every pairing of client and upstream format: what reaches the client, the usage and
 * text found on the way, and how a complete, cut or failed stream ends. */
#include <stdlib.h>
#include <string.h>

#include "../../relayd/formats.h"
#include "../../relayd/openai.h"
#include "provider.h"
#include "jpath.h"
#include "tap.h"
#include "util.h"

static bool eq(const char *a, const char *b)
{
  return a && b && strcmp(a, b) == 0;
}

/* Feeds each NUL-separated event of evs (the list ends with an empty one). Returns the first
 * non-zero result. */
static int feed(struct format_stream *s, struct buf *out, const char *const *evs)
{
  char err[256];
  int rc = 0;
  for (; *evs; evs++) {
    int r = format_stream_event(s, *evs, strlen(*evs), out, err, sizeof err);
    rc = rc ? rc : r;
  }
  return rc;
}

/* Counts the data lines of out whose JSON has path == want (want NULL: lines where path exists). */
static int count_data(const struct buf *out, const char *path, const char *want)
{
  int n = 0;
  const char *p = out->data ? out->data : "";
  while ((p = strstr(p, "data: "))) {
    p += 6;
    size_t l = strcspn(p, "\r\n");
    cJSON *j = cJSON_ParseWithLength(p, l);
    const cJSON *v = G(j, path);
    if (v && (!want || eq(cJSON_IsString(v) ? v->valuestring : NULL, want)))
      n++;
    cJSON_Delete(j);
    p += l;
  }
  return n;
}

static void test_registry(void)
{
  CHECK(format_of_api(UPSTREAM_ANTHROPIC) == &format_claude, "an anthropic channel speaks Anthropic's format");
  CHECK(format_of_api(UPSTREAM_GEMINI) == &format_gemini, "a gemini channel speaks Gemini's");
  CHECK(format_of_api(UPSTREAM_OPENAI) == &format_openai && format_of_api(UPSTREAM_AZURE) == &format_openai &&
            format_of_api(UPSTREAM_JINA) == &format_openai,
        "openai, azure and jina channels speak OpenAI's");
  const struct format *all[] = {&format_openai, &format_claude, &format_gemini, &format_responses};
  bool complete = true;
  for (size_t i = 0; i < 4; i++) {
    const struct format_ops *o = all[i]->ops;
    complete &= o->read_request && o->error_body && o->error_event && o->write_request && o->read_answer &&
                o->scan_event && all[i]->name && all[i]->end_event && all[i]->unended;
    /* a format converts both ways or not at all */
    bool conv = o->request_to_openai && o->response_from_openai && o->out_init && o->out_feed && o->out_finish &&
                o->response_to_openai && o->in_init && o->in_feed && o->in_facts;
    bool none = !o->request_to_openai && !o->response_from_openai && !o->out_init && !o->out_feed &&
                !o->response_to_openai && !o->in_init && !o->in_feed && !o->in_facts;
    complete &= conv || none;
  }
  CHECK(complete, "every format fills every op it must (and converts both ways or not at all)");
  CHECK(eq(format_claude.request_id_header, "request-id") && !format_openai.request_id_header,
        "Anthropic's SDKs get their request-id header");
  CHECK(format_claude.pass_headers && eq(format_claude.pass_headers[0], "anthropic-beta") &&
            !format_gemini.pass_headers,
        "anthropic-beta passes to an Anthropic channel");
}

static void test_errors(void)
{
  struct buf b;
  buf_init(&b, 1 << 16);
  format_openai.ops->error_body(&b, 429, "insufficient_quota", "insufficient_quota", NULL, "no \"quota\"");
  cJSON *j = cJSON_ParseWithLength(b.data, b.len);
  CHECK(eq(S(j, "error.message"), "no \"quota\"") && eq(S(j, "error.type"), "insufficient_quota") &&
            eq(S(j, "error.code"), "insufficient_quota") && cJSON_IsNull(G(j, "error.param")),
        "OpenAI error body: message, type, code, param null");
  cJSON_Delete(j);
  buf_reset(&b);
  format_claude.ops->error_body(&b, 429, "insufficient_quota", "insufficient_quota", NULL, "slow down");
  j = cJSON_ParseWithLength(b.data, b.len);
  CHECK(eq(S(j, "type"), "error") && eq(S(j, "error.type"), "rate_limit_error") && eq(S(j, "error.message"), "slow down"),
        "Anthropic error body: its type from the status");
  cJSON_Delete(j);
  buf_reset(&b);
  format_gemini.ops->error_body(&b, 400, "invalid_request_error", NULL, "model", "bad");
  j = cJSON_ParseWithLength(b.data, b.len);
  CHECK(N(j, "error.code") == 400 && eq(S(j, "error.status"), "INVALID_ARGUMENT") && eq(S(j, "error.message"), "bad"),
        "Gemini error body: google.rpc status from the HTTP status");
  cJSON_Delete(j);

  buf_reset(&b);
  format_openai.ops->error_event(&b, 502, "stream_interrupted", "cut");
  CHECK(b.len > 8 && !strncmp(b.data, "data: ", 6) && !strcmp(b.data + b.len - 2, "\n\n") &&
            count_data(&b, "error.code", "stream_interrupted") == 1 && count_data(&b, "error.type", "upstream_error") == 1,
        "OpenAI error event: a data line with the error object");
  buf_reset(&b);
  format_claude.ops->error_event(&b, 502, "stream_interrupted", "cut");
  CHECK(!strncmp(b.data, "event: error\ndata: ", 19) && count_data(&b, "error.type", "api_error") == 1,
        "Anthropic error event: event: error, api_error for a 502");
  buf_reset(&b);
  format_gemini.ops->error_event(&b, 502, "stream_interrupted", "cut");
  CHECK(!strncmp(b.data, "data: ", 6) && count_data(&b, "error.message", "cut") == 1, "Gemini error event: a data frame");
  buf_free(&b);
}

static void test_read_request(void)
{
  cJSON *root;
  struct oai_request rq;
  char err[256];
  const char *param = "x";
  const char *chat = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  CHECK(format_openai.ops->read_request(API_CHAT, chat, strlen(chat), NULL, false, &root, &rq, err, sizeof err,
                                        &param) == 0 &&
            root && eq(rq.model, "gpt-4o") && rq.stream,
        "OpenAI: a chat request read");
  cJSON_Delete(root);
  const char *msgs = "{\"model\":\"claude-x\",\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  CHECK(format_claude.ops->read_request(API_CHAT, msgs, strlen(msgs), NULL, false, &root, &rq, err, sizeof err,
                                        &param) == 0 &&
            eq(rq.model, "claude-x") && rq.max_tokens == 50 && !rq.stream && cJSON_IsObject(root),
        "Anthropic: model and max_tokens read, the body kept in its format");
  cJSON_Delete(root);
  CHECK(format_claude.ops->read_request(API_CHAT, "[1]", 3, NULL, false, &root, &rq, err, sizeof err, &param) == 400 &&
            !root && strstr(err, "JSON object"),
        "Anthropic: a body that is not an object is a 400 (%s)", err);
  CHECK(format_claude.ops->read_request(API_CHAT, "{\"model\":\"m\"}", 13, NULL, false, &root, &rq, err, sizeof err,
                                        &param) == 400 &&
            !root && strstr(err, "messages"),
        "Anthropic: no messages is a 400 (%s)", err);
  char model[64];
  bool stream = false;
  CHECK(format_gemini.ops->parse_path("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", model,
                                      sizeof model, &stream) == 0 &&
            eq(model, "gemini-2.5-pro") && stream,
        "Gemini: model and stream from the path");
  CHECK(!format_openai.ops->parse_path && !format_claude.ops->parse_path, "the others name them in the body");
  const char *gen = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                    "\"generationConfig\":{\"maxOutputTokens\":77}}";
  CHECK(format_gemini.ops->read_request(API_CHAT, gen, strlen(gen), model, stream, &root, &rq, err, sizeof err,
                                        &param) == 0 &&
            eq(rq.model, "gemini-2.5-pro") && rq.stream && rq.max_tokens == 77,
        "Gemini: maxOutputTokens read, model and stream from the path");
  char *oai = format_gemini.ops->request_to_openai(root, "gemini-2.5-pro", true, err, sizeof err);
  cJSON *o = cJSON_Parse(oai);
  CHECK(eq(S(o, "model"), "gemini-2.5-pro") && cJSON_IsTrue(G(o, "stream")) &&
            eq(S(o, "messages.0.content"), "hi") && N(o, "max_tokens") == 77,
        "Gemini: the request in the common form");
  cJSON_Delete(o);
  free(oai);
  cJSON_Delete(root);
  CHECK(!format_openai.ops->request_to_openai, "OpenAI: the common form already");
}

static void test_write_request(void)
{
  char err[256], path[FORMAT_PATH_MAX];
  char *body;
  size_t len;
  struct oai_request rq = {.model = "claude-x", .stream = true, .max_tokens = 100};
  cJSON *native = cJSON_Parse("{\"model\":\"claude-x\",\"max_tokens\":100,\"stream\":true,"
                              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  struct format_req q = {.root = native, .native = true, .api = API_CHAT, .rq = &rq, .upstream_model = "claude-x"};
  CHECK(format_claude.ops->write_request(&q, &body, &len, path, sizeof path, err, sizeof err) == 0 && !body &&
            eq(path, "/v1/messages"),
        "Anthropic native, same model: the client's bytes go as they are to /v1/messages");
  q.upstream_model = "claude-y-2025";
  CHECK(format_claude.ops->write_request(&q, &body, &len, path, sizeof path, err, sizeof err) == 0 && body &&
            len == strlen(body),
        "Anthropic native, mapped model: rewritten");
  cJSON *j = cJSON_Parse(body);
  CHECK(eq(S(j, "model"), "claude-y-2025") && eq(S(j, "messages.0.content"), "hi"), "... only the model changed");
  cJSON_Delete(j);
  free(body);
  struct reasoning rs;
  reasoning_parse("claude-x-thinking", &rs);
  q.rs = &rs;
  CHECK(format_claude.ops->write_request(&q, &body, &len, path, sizeof path, err, sizeof err) == 0 && body,
        "Anthropic native with a reasoning suffix: rewritten");
  j = cJSON_Parse(body);
  CHECK(eq(S(j, "thinking.type"), "enabled") && N(j, "thinking.budget_tokens") > 0, "... with thinking enabled");
  cJSON_Delete(j);
  free(body);
  cJSON_Delete(native);

  cJSON *oai = cJSON_Parse("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                           "{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":10}");
  struct oai_request orq = {.model = "m", .max_tokens = 10};
  struct format_req c = {.root = oai, .api = API_CHAT, .rq = &orq, .upstream_model = "claude-up"};
  CHECK(format_claude.ops->write_request(&c, &body, &len, path, sizeof path, err, sizeof err) == 0 && body,
        "OpenAI request -> an Anthropic channel");
  j = cJSON_Parse(body);
  CHECK(eq(S(j, "model"), "claude-up") && eq(S(j, "system"), "be brief") && N(j, "max_tokens") == 10,
        "... converted: model, system, max_tokens");
  cJSON_Delete(j);
  free(body);
  CHECK(format_gemini.ops->write_request(&c, &body, &len, path, sizeof path, err, sizeof err) == 0 && body &&
            eq(path, "/v1beta/models/claude-up:generateContent"),
        "OpenAI request -> a Gemini channel: the model in the path (%s)", path);
  j = cJSON_Parse(body);
  CHECK(eq(S(j, "contents.0.parts.0.text"), "hi") && !G(j, "model"), "... converted, no model in the body");
  cJSON_Delete(j);
  free(body);
  c.upstream_model = "bad/model";
  CHECK(format_gemini.ops->write_request(&c, &body, &len, path, sizeof path, err, sizeof err) < 0 &&
            strstr(err, "Gemini URL"),
        "Gemini: a model name that cannot be in a URL is refused (%s)", err);
  c.api = API_EMBEDDINGS;
  CHECK(format_claude.ops->write_request(&c, &body, &len, path, sizeof path, err, sizeof err) < 0 &&
            strstr(err, "only chat"),
        "Anthropic: only chat requests (%s)", err);
  c.api = API_CHAT;
  c.upstream_model = "m";
  CHECK(format_openai.ops->write_request(&c, &body, &len, path, sizeof path, err, sizeof err) == 0 && !body &&
            path[0] == '\0',
        "OpenAI, nothing to change: the client's bytes, the endpoint's path");
  c.upstream_model = "gpt-mapped";
  CHECK(format_openai.ops->write_request(&c, &body, &len, path, sizeof path, err, sizeof err) == 0 && body,
        "OpenAI, a mapped model: rewritten");
  j = cJSON_Parse(body);
  CHECK(eq(S(j, "model"), "gpt-mapped"), "... with the channel's model name");
  cJSON_Delete(j);
  free(body);
  cJSON_Delete(oai);
}

static void test_answers(void)
{
  char err[256];
  struct usage u;
  const char *msg = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
                    "\"content\":[{\"type\":\"text\",\"text\":\"hello\"}],\"stop_reason\":\"end_turn\","
                    "\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":3}}";
  char *oai = format_claude.ops->response_to_openai(msg, strlen(msg), "claude-x", 1700000000, &u, err, sizeof err);
  cJSON *j = cJSON_Parse(oai);
  CHECK(eq(S(j, "choices.0.message.content"), "hello") && eq(S(j, "choices.0.finish_reason"), "stop") &&
            u.prompt_tokens == 15 && u.cached_tokens == 5 && u.completion_tokens == 3,
        "Anthropic answer -> OpenAI, usage with cache reads");
  struct format_facts f = {0};
  format_openai.ops->read_answer(j, &f);
  CHECK(f.usage_found && f.usage.prompt_tokens == 15 && f.text_chars == 5, "OpenAI answer: usage and text read");
  char *back = format_gemini.ops->response_from_openai(oai, strlen(oai), "gemini-x", &u, err, sizeof err);
  cJSON *g = cJSON_Parse(back);
  CHECK(eq(S(g, "candidates.0.content.parts.0.text"), "hello") && eq(S(g, "candidates.0.finishReason"), "STOP") &&
            eq(S(g, "modelVersion"), "gemini-x"),
        "... and on to a Gemini client");
  memset(&f, 0, sizeof f);
  format_gemini.ops->read_answer(g, &f);
  CHECK(f.usage_found && f.usage.prompt_tokens == 15 && f.text_chars == 5, "Gemini answer: usageMetadata and text read");
  cJSON_Delete(g);
  free(back);
  cJSON_Delete(j);
  free(oai);
  j = cJSON_Parse(msg);
  memset(&f, 0, sizeof f);
  format_claude.ops->read_answer(j, &f);
  CHECK(f.usage_found && f.usage.prompt_tokens == 15 && f.usage.completion_tokens == 3 && f.text_chars == 5,
        "Anthropic answer: usage and text read natively");
  memset(&f, 0, sizeof f);
  f.text_if_no_usage = true;
  format_claude.ops->read_answer(j, &f);
  CHECK(f.usage_found && f.usage.completion_tokens == 3 && f.text_chars == 0,
        "text_if_no_usage: with a usable usage the text is not counted (relay bills by the usage)");
  cJSON_Delete(j);
  /* without usage, or with a count that is not one, the text is counted: settle bills by it */
  static const char *const no_usage[] = {
      "{\"choices\":[{\"message\":{\"content\":\"hello\"}}]}",
      "{\"choices\":[{\"message\":{\"content\":\"hello\"}}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":\"3\"}}",
      "{\"choices\":[{\"message\":{\"content\":\"hello\"}}],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":3}}",
  };
  for (size_t i = 0; i < sizeof no_usage / sizeof *no_usage; i++) {
    j = cJSON_Parse(no_usage[i]);
    memset(&f, 0, sizeof f);
    f.text_if_no_usage = true;
    format_openai.ops->read_answer(j, &f);
    CHECK(f.text_chars == 5 && (!f.usage_found || f.usage.bad), "text_if_no_usage: counted without a usable usage (%zu)", i);
    cJSON_Delete(j);
  }
  CHECK(!format_claude.ops->response_to_openai("{\"type\":\"error\",\"error\":{\"message\":\"x\"}}", 40, NULL, 0, &u,
                                               err, sizeof err),
        "an Anthropic error body is no answer (%s)", err);
}

/* ---- the event path ---- */

static const char *const claude_events[] = {
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":4,\"output_tokens\":1}}}\n\n",
    "event: ping\ndata: {\"type\":\"ping\"}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":7}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    NULL};

static const char *const openai_events[] = {
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi there\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
    "data: [DONE]\n\n",
    NULL};

static const char *const gemini_events[] = {
    "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}],"
    "\"usageMetadata\":{\"promptTokenCount\":6,\"candidatesTokenCount\":1},\"modelVersion\":\"gemini-x\"}\r\n\r\n",
    "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},"
    "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":6,\"candidatesTokenCount\":4}}\r\n\r\n",
    NULL};

static void test_stream_openai(void)
{
  struct format_stream s = {0};
  struct buf out;
  buf_init(&out, 1 << 20);
  format_stream_init(&s, &format_openai, &format_openai, "gpt", 5, false, 1);
  CHECK(feed(&s, &out, openai_events) == 0, "OpenAI -> OpenAI: every event relayed");
  CHECK(!strstr(out.data, "\"usage\"") && strstr(out.data, ": keep-alive") && strstr(out.data, "data: [DONE]"),
        "... the usage chunk relay asked for is not passed to a client that did not ask");
  CHECK(s.f.usage_found && s.f.usage_final && s.f.usage.prompt_tokens == 9 && s.f.usage.completion_tokens == 2 &&
            s.f.text_chars == 8,
        "... usage and text found on the way");
  CHECK(format_stream_end(&s, true, &out) == NULL && format_stream_complete(&s) && s.f.ended && !s.f.failed,
        "... complete at [DONE]");
  buf_reset(&out);
  format_stream_init(&s, &format_openai, &format_openai, "gpt", 5, true, 1);
  feed(&s, &out, openai_events);
  CHECK(count_data(&out, "usage.prompt_tokens", NULL) == 1, "a client that asked gets the usage chunk");
  /* cut before [DONE] */
  buf_reset(&out);
  format_stream_init(&s, &format_openai, &format_openai, "gpt", 5, false, 1);
  const char *const cut[] = {openai_events[0], openai_events[2], NULL};
  feed(&s, &out, cut);
  const char *why = format_stream_end(&s, true, &out);
  CHECK(eq(why, "no [DONE] event.") && !format_stream_complete(&s), "a stream cut before [DONE]: %s", why ? why : "-");
  /* the upstream's own error event reaches the client, and nothing more follows */
  buf_reset(&out);
  format_stream_init(&s, &format_openai, &format_openai, "gpt", 5, false, 1);
  const char *const failed[] = {openai_events[0], "data: {\"error\":{\"message\":\"overloaded\"}}\n\n", NULL};
  feed(&s, &out, failed);
  CHECK(s.f.failed && count_data(&out, "error.message", "overloaded") == 1 && format_stream_end(&s, true, &out) == NULL,
        "the upstream's error event is relayed and is the end");
  CHECK(format_stream_end(&s, false, &out) == NULL, "... even when the transfer then failed");
  format_stream_free(&s);
  buf_free(&out);
}

static void test_stream_claude(void)
{
  struct format_stream s = {0};
  struct buf out;
  buf_init(&out, 1 << 20);
  /* native: byte for byte */
  format_stream_init(&s, &format_claude, &format_claude, "claude-x", 5, false, 1);
  CHECK(feed(&s, &out, claude_events) == 0, "Anthropic -> Anthropic: every event relayed");
  size_t total = 0;
  for (const char *const *e = claude_events; *e; e++)
    total += strlen(*e);
  CHECK(out.len == total && !strncmp(out.data, claude_events[0], strlen(claude_events[0])),
        "... as they came, byte for byte");
  CHECK(s.f.usage_found && s.f.usage_final && s.f.usage.prompt_tokens == 14 && s.f.usage.completion_tokens == 7 &&
            s.f.usage.cache_write_5m == 4 && s.f.text_chars == 5,
        "... usage (with the cache write) and text read from its own events");
  CHECK(format_stream_end(&s, true, &out) == NULL && format_stream_complete(&s), "... complete at message_stop");
  buf_reset(&out);
  format_stream_init(&s, &format_claude, &format_claude, "claude-x", 5, false, 1);
  const char *const cut[] = {claude_events[0], claude_events[3], NULL};
  feed(&s, &out, cut);
  CHECK(eq(format_stream_end(&s, true, &out), "no message_stop event.") && !format_stream_complete(&s) &&
            !s.f.usage_final,
        "a native stream cut before message_stop");
  CHECK(eq(format_stream_end(&s, false, &out), "no message_stop event."), "... or by a failed transfer");

  /* Anthropic channel, OpenAI client */
  buf_reset(&out);
  format_stream_init(&s, &format_openai, &format_claude, "claude-x", 5, false, 1);
  CHECK(feed(&s, &out, claude_events) == 0, "Anthropic -> OpenAI: converted");
  CHECK(count_data(&out, "choices.0.delta.content", "Hello") == 1 &&
            count_data(&out, "choices.0.finish_reason", "stop") == 1 && strstr(out.data, "data: [DONE]") &&
            !strstr(out.data, "\"usage\""),
        "... text, finish_reason and [DONE]; no usage chunk for a client that did not ask");
  CHECK(s.f.usage_found && s.f.usage.prompt_tokens == 14 && s.f.usage.completion_tokens == 7 && s.f.text_chars == 5,
        "... the channel's own usage kept");
  CHECK(format_stream_end(&s, true, &out) == NULL && format_stream_complete(&s) && s.f.ended, "... complete");

  /* Anthropic channel, Gemini client: both converters */
  buf_reset(&out);
  format_stream_init(&s, &format_gemini, &format_claude, "gemini-x", 5, false, 1);
  CHECK(feed(&s, &out, claude_events) == 0, "Anthropic -> Gemini: through the common form");
  CHECK(count_data(&out, "candidates.0.content.parts.0.text", "Hello") == 1 &&
            count_data(&out, "candidates.0.finishReason", "STOP") == 1,
        "... text and finishReason in Gemini frames");
  CHECK(format_stream_end(&s, true, &out) == NULL, "... closed");

  /* a bad event is dropped, the stream goes on */
  buf_reset(&out);
  format_stream_init(&s, &format_openai, &format_claude, "claude-x", 5, false, 1);
  char err[256];
  const char *bad = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
  CHECK(format_stream_event(&s, bad, strlen(bad), &out, err, sizeof err) == FORMAT_BAD && out.len == 0,
        "an event that cannot be converted is dropped (%s)", err);
  const char *notjson = "data: {nope\n\n";
  CHECK(format_stream_event(&s, notjson, strlen(notjson), &out, err, sizeof err) == FORMAT_BAD,
        "so is one that is not JSON (%s)", err);
  /* an error event from the channel */
  const char *errev = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                      "\"message\":\"busy\"}}\n\n";
  format_stream_event(&s, errev, strlen(errev), &out, err, sizeof err);
  CHECK(s.f.failed && count_data(&out, "error.message", "busy") == 1 && format_stream_end(&s, true, &out) == NULL &&
            !format_stream_complete(&s),
        "the channel's error event reaches the OpenAI client, and is its end");
  format_stream_free(&s);
  buf_free(&out);
}

static void test_stream_gemini(void)
{
  struct format_stream s = {0};
  struct buf out;
  buf_init(&out, 1 << 20);
  format_stream_init(&s, &format_gemini, &format_gemini, "gemini-x", 5, false, 1);
  feed(&s, &out, gemini_events);
  CHECK(s.f.usage_found && s.f.usage_final && s.f.usage.prompt_tokens == 6 && s.f.usage.completion_tokens == 4 &&
            s.f.text_chars == 5 && format_stream_end(&s, true, &out) == NULL && format_stream_complete(&s),
        "Gemini -> Gemini: relayed, usage read, complete at its finishReason");
  /* Gemini channel, Anthropic client: Gemini has no [DONE], the end of its body closes */
  buf_reset(&out);
  format_stream_init(&s, &format_claude, &format_gemini, "claude-x", 5, false, 1);
  CHECK(feed(&s, &out, gemini_events) == 0 && !strstr(out.data, "message_stop"), "Gemini -> Anthropic: converted");
  CHECK(format_stream_end(&s, true, &out) == NULL && strstr(out.data, "event: message_stop") &&
            format_stream_complete(&s),
        "... the end of the body writes message_stop");
  CHECK(s.f.usage.prompt_tokens == 6 && s.f.usage.completion_tokens == 4 && s.f.ended, "... usage kept");
  /* cut before any finishReason */
  buf_reset(&out);
  format_stream_init(&s, &format_claude, &format_gemini, "claude-x", 5, false, 1);
  const char *const cut[] = {gemini_events[0], NULL};
  feed(&s, &out, cut);
  CHECK(eq(format_stream_end(&s, true, &out), "no final event.") && !strstr(out.data, "message_stop") &&
            !s.f.ended,
        "a converted stream cut before its end: the caller sends an error event");
  /* OpenAI channel, Gemini client */
  buf_reset(&out);
  /* a Gemini (or Anthropic) client asks for the usage chunk: its converted request sets include_usage */
  format_stream_init(&s, &format_gemini, &format_openai, "gemini-x", 5, true, 1);
  feed(&s, &out, openai_events);
  CHECK(count_data(&out, "candidates.0.content.parts.0.text", "Hi there") == 1 &&
            count_data(&out, "usageMetadata.promptTokenCount", NULL) >= 1 && s.f.usage.prompt_tokens == 9 &&
            format_stream_end(&s, true, &out) == NULL,
        "OpenAI -> Gemini: frames with usageMetadata, usage found");
  format_stream_free(&s);
  buf_free(&out);
}

/* A client's request of format cl (Gemini: the model and stream from gpath) as a channel of format
 * up would receive it for upstream_model, through the ops relayd calls (read_request,
 * request_to_openai, the common form parsed, write_request). The parsed upstream body, or NULL with
 * err. *ppath gets the upstream path when the op sets one. */
static cJSON *through(const struct format *cl, const char *gpath, const char *body, const struct format *up,
                      const char *upstream_model, char *err, size_t errlen)
{
  struct oai_request rq = {0};
  const char *param;
  cJSON *croot = NULL, *root = NULL, *res = NULL;
  char model[128] = "", path[FORMAT_PATH_MAX], *text = NULL, *out = NULL;
  bool stream = false;
  size_t len = 0;
  err[0] = '\0';
  if (cl->ops->parse_path && cl->ops->parse_path(gpath, model, sizeof model, &stream) < 0)
    return NULL;
  if (cl->ops->read_request(API_CHAT, body, strlen(body), model, stream, &croot, &rq, err, errlen, &param) != 0)
    return NULL;
  root = croot;
  if (cl != up && cl->ops->request_to_openai) {
    struct oai_request orq;
    if (!(text = cl->ops->request_to_openai(croot, rq.model, rq.stream, err, errlen)) ||
        !(root = oai_parse_request(API_CHAT, text, strlen(text), &orq, err, errlen, &param)))
      goto done;
  }
  struct format_req q = {.root = root, .native = cl == up, .body = text ? text : body,
                         .body_len = strlen(text ? text : body), .api = API_CHAT, .rq = &rq,
                         .upstream_model = upstream_model};
  if (up->ops->write_request(&q, &out, &len, path, sizeof path, err, errlen) < 0)
    goto done;
  res = cJSON_Parse(out ? out : q.body);
done:
  free(out);
  free(text);
  if (root != croot)
    cJSON_Delete(root);
  cJSON_Delete(croot);
  return res;
}

/* Issue #20: converted requests the real upstreams accept (the mock's "strict" key checks the same
 * rules end to end in 17-formats-wire.bats). */
static void test_converted_fidelity(void)
{
  char err[256];
  cJSON *j;
  /* Claude Code pointed at a non-Claude model: system and developer messages inside messages,
   * adaptive thinking with output_config.effort */
  const char *cc = "{\"model\":\"m\",\"max_tokens\":32000,\"system\":[{\"type\":\"text\",\"text\":\"S0\"}],"
                   "\"messages\":[{\"role\":\"system\",\"content\":\"S1\"},{\"role\":\"user\",\"content\":\"hi\"},"
                   "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"S2\"}]},"
                   "{\"role\":\"user\",\"content\":\"go\"}],"
                   "\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"low\"},\"temperature\":1}";
  j = through(&format_claude, NULL, cc, &format_openai, "gpt-5", err, sizeof err);
  CHECK(j && eq(S(j, "messages.0.content"), "S0") && eq(S(j, "messages.1.role"), "system") &&
            eq(S(j, "messages.1.content"), "S1") && eq(S(j, "messages.3.role"), "system") &&
            eq(S(j, "messages.3.content"), "S2") && eq(S(j, "messages.4.content"), "go"),
        "Anthropic client, system/developer in messages -> OpenAI system messages in order (%s)", err);
  CHECK(j && eq(S(j, "reasoning_effort"), "low") && N(j, "max_completion_tokens") == 32000 && !G(j, "max_tokens") &&
            !G(j, "temperature"),
        "... adaptive thinking + effort low -> reasoning_effort low; gpt-5 gets max_completion_tokens, no "
        "temperature");
  cJSON_Delete(j);
  j = through(&format_claude, NULL, cc, &format_openai, "gpt-4o", err, sizeof err);
  CHECK(j && !G(j, "reasoning_effort") && N(j, "max_tokens") == 32000 && N(j, "temperature") == 1,
        "... to gpt-4o (no reasoning): no reasoning_effort, max_tokens and temperature kept (%s)", err);
  cJSON_Delete(j);
  j = through(&format_claude, NULL, cc, &format_gemini, "gemini-2.5-pro", err, sizeof err);
  CHECK(j && eq(S(j, "systemInstruction.parts.0.text"), "S0\nS1\nS2") && eq(S(j, "contents.0.parts.1.text"), "go") &&
            N(j, "generationConfig.thinkingConfig.thinkingBudget") == 1024 &&
            !G(j, "generationConfig.thinkingConfig.thinkingLevel"),
        "... to Gemini 2.5: the system texts in order in systemInstruction (the user turns around one joined), effort low -> thinkingBudget 1024 (%s)",
        err);
  cJSON_Delete(j);
  j = through(&format_claude, NULL, cc, &format_gemini, "gemini-3-pro-preview", err, sizeof err);
  CHECK(j && eq(S(j, "generationConfig.thinkingConfig.thinkingLevel"), "low") &&
            !G(j, "generationConfig.thinkingConfig.thinkingBudget"),
        "... to Gemini 3: thinkingLevel low (%s)", err);
  cJSON_Delete(j);
  const char *ccmax = "{\"model\":\"m\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                      "\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"max\"}}";
  j = through(&format_claude, NULL, ccmax, &format_gemini, "gemini-3-flash", err, sizeof err);
  CHECK(j && eq(S(j, "generationConfig.thinkingConfig.thinkingLevel"), "high"), "effort max -> thinkingLevel high");
  cJSON_Delete(j);
  const char *budget = "{\"model\":\"m\",\"max_tokens\":9000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                       "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":4000}}";
  j = through(&format_claude, NULL, budget, &format_gemini, "gemini-2.5-flash", err, sizeof err);
  CHECK(j && N(j, "generationConfig.thinkingConfig.thinkingBudget") == 8192 &&
            cJSON_IsTrue(G(j, "generationConfig.thinkingConfig.includeThoughts")),
        "Anthropic thinking budget 4000 -> effort medium -> Gemini 2.5 thinkingBudget 8192 (%s)", err);
  cJSON_Delete(j);
  j = through(&format_claude, NULL, budget, &format_openai, "o3", err, sizeof err);
  CHECK(j && eq(S(j, "reasoning_effort"), "medium") && N(j, "max_completion_tokens") == 9000,
        "... -> OpenAI o3: reasoning_effort medium (%s)", err);
  cJSON_Delete(j);
  const char *off = "{\"model\":\"m\",\"max_tokens\":900,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                    "\"thinking\":{\"type\":\"disabled\"}}";
  j = through(&format_claude, NULL, off, &format_gemini, "gemini-2.5-flash", err, sizeof err);
  CHECK(j && N(j, "generationConfig.thinkingConfig.thinkingBudget") == 0, "thinking disabled -> thinkingBudget 0");
  cJSON_Delete(j);
  j = through(&format_claude, NULL, off, &format_openai, "o4-mini", err, sizeof err);
  CHECK(j && !G(j, "reasoning_effort"), "... -> o4-mini: no reasoning_effort \"none\" (o-series refuse it)");
  cJSON_Delete(j);
  const char *badth = "{\"model\":\"m\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                      "\"thinking\":{\"type\":\"sometimes\"}}";
  j = through(&format_claude, NULL, badth, &format_openai, "gpt-5", err, sizeof err);
  CHECK(!j && strstr(err, "thinking.type"), "an unknown thinking type is a clear 400 (%s)", err);

  /* OpenAI reasoning_effort -> Anthropic thinking and Gemini thinkingConfig */
  const char *oe = "{\"model\":\"m\",\"max_tokens\":10000,\"reasoning_effort\":\"medium\",\"temperature\":0.2,"
                   "\"top_p\":0.9,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  j = through(&format_openai, NULL, oe, &format_claude, "claude-sonnet-4-5", err, sizeof err);
  CHECK(j && eq(S(j, "thinking.type"), "enabled") && N(j, "thinking.budget_tokens") == 5000 &&
            N(j, "max_tokens") == 10000 && !G(j, "temperature") && !G(j, "top_p") && !G(j, "reasoning_effort"),
        "OpenAI reasoning_effort medium -> Anthropic thinking, budget 50%% of max_tokens; sampling dropped (%s)", err);
  cJSON_Delete(j);
  j = through(&format_openai, NULL, oe, &format_gemini, "gemini-3-pro-preview", err, sizeof err);
  CHECK(j && eq(S(j, "generationConfig.thinkingConfig.thinkingLevel"), "high"),
        "... -> Gemini 3: medium -> thinkingLevel high (Gemini 3 Pro takes low and high)");
  cJSON_Delete(j);
  const char *tp = "{\"model\":\"m\",\"temperature\":0.2,\"top_p\":0.9,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  j = through(&format_openai, NULL, tp, &format_claude, "claude-sonnet-4-5", err, sizeof err);
  CHECK(j && N(j, "temperature") == 0.2 && !G(j, "top_p"),
        "OpenAI temperature + top_p -> Anthropic: temperature only (current models refuse both)");
  cJSON_Delete(j);
  j = through(&format_openai, NULL, tp, &format_openai, "o3", err, sizeof err);
  CHECK(j && N(j, "temperature") == 0.2 && N(j, "top_p") == 0.9,
        "an OpenAI client's own request to an OpenAI channel is never refitted (pass-through)");
  cJSON_Delete(j);

  /* Gemini thinkingConfig -> Anthropic / OpenAI */
  const char *gp = "/v1beta/models/m:generateContent";
  const char *gb = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                   "\"generationConfig\":{\"maxOutputTokens\":20000,\"thinkingConfig\":{\"thinkingBudget\":12000,"
                   "\"includeThoughts\":true}}}";
  j = through(&format_gemini, gp, gb, &format_claude, "claude-opus-4-1", err, sizeof err);
  CHECK(j && eq(S(j, "thinking.type"), "enabled") && N(j, "thinking.budget_tokens") == 16000,
        "Gemini thinkingBudget 12000 -> effort high -> Anthropic thinking 80%% of 20000 (%s)", err);
  cJSON_Delete(j);
  const char *gl = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                   "\"generationConfig\":{\"maxOutputTokens\":300,\"thinkingConfig\":{\"thinkingLevel\":\"LOW\"}}}";
  j = through(&format_gemini, gp, gl, &format_openai, "o3", err, sizeof err);
  CHECK(j && eq(S(j, "reasoning_effort"), "low") && N(j, "max_completion_tokens") == 300 && !G(j, "max_tokens"),
        "Gemini thinkingLevel LOW -> OpenAI o3 reasoning_effort low, max_completion_tokens (%s)", err);
  cJSON_Delete(j);
  const char *g0 = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                   "\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":0}}}";
  j = through(&format_gemini, gp, g0, &format_claude, "claude-x", err, sizeof err);
  CHECK(j && eq(S(j, "thinking.type"), "disabled"), "Gemini thinkingBudget 0 -> Anthropic thinking disabled");
  cJSON_Delete(j);
  /* responseJsonSchema -> json_schema */
  const char *gs = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                   "\"generationConfig\":{\"responseMimeType\":\"application/json\",\"responseJsonSchema\":"
                   "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}}";
  j = through(&format_gemini, gp, gs, &format_openai, "gpt-4o", err, sizeof err);
  CHECK(j && eq(S(j, "response_format.type"), "json_schema") &&
            eq(S(j, "response_format.json_schema.schema.properties.a.type"), "integer"),
        "Gemini responseJsonSchema -> OpenAI response_format json_schema, not json_object (%s)", err);
  cJSON_Delete(j);

  /* Claude Code's tool schemas -> Gemini's Schema subset */
  const char *tools =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\","
      "\"function\":{\"name\":\"Read\",\"parameters\":{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
      "\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"path\",\"ghost\"],\"properties\":{"
      "\"path\":{\"type\":\"string\",\"format\":\"uri\"},"
      "\"limit\":{\"type\":\"integer\",\"exclusiveMinimum\":0},"
      "\"mode\":{\"const\":\"fast\"},"
      "\"tags\":{\"type\":\"object\",\"properties\":{},\"propertyNames\":{\"pattern\":\"^[a-z]+$\"},\"additionalProperties\":{\"type\":\"string\"}},"
      "\"when\":{\"type\":[\"string\",\"null\"],\"format\":\"date-time\"},"
      "\"pick\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"number\",\"exclusiveMaximum\":3}]},"
      "\"properties\":{\"type\":\"string\",\"description\":\"a property named properties\"}}}}}]}";
  j = through(&format_openai, NULL, tools, &format_gemini, "gemini-2.5-pro", err, sizeof err);
  const cJSON *p = G(j, "tools.0.functionDeclarations.0.parameters");
  char *ps = p ? cJSON_PrintUnformatted(p) : NULL;
  CHECK(ps && !strcmp(ps, "{\"type\":\"object\",\"required\":[\"path\"],\"properties\":{"
                          "\"path\":{\"type\":\"string\"},\"limit\":{\"type\":\"integer\"},"
                          "\"mode\":{\"enum\":[\"fast\"],\"type\":\"string\"},\"tags\":{\"type\":\"object\"},"
                          "\"when\":{\"format\":\"date-time\",\"type\":\"string\",\"nullable\":true},"
                          "\"pick\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"number\"}]},"
                          "\"properties\":{\"type\":\"string\",\"description\":\"a property named properties\"}}}"),
        "tool parameters reduced to Gemini's Schema subset: %s", ps ? ps : err);
  free(ps);
  cJSON_Delete(j);
}

/* Issue #20, turn 2 of a tool loop with signed reasoning (fields as doc/design.md "Signatures
 * across formats" names them): the signature the client sends back reaches the channel in its own
 * field; without one, thinking is off (Anthropic) or Google's placeholder is used (Gemini 3). */
static void test_signatures_back(void)
{
  char err[256];
  cJSON *j;
  const char *turn2 =
      "{\"model\":\"m\",\"max_tokens\":8000,\"reasoning_effort\":\"high\",\"messages\":["
      "{\"role\":\"user\",\"content\":\"weather?\"},"
      "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"plan\",\"reasoning_details\":["
      "{\"type\":\"reasoning.text\",\"text\":\"plan\",\"signature\":\"sigA\",\"format\":\"anthropic-claude-v1\",\"index\":0},"
      "{\"type\":\"reasoning.encrypted\",\"data\":\"red\",\"format\":\"anthropic-claude-v1\",\"index\":1},"
      "{\"type\":\"reasoning.text\",\"text\":\"g\",\"signature\":\"gsig\",\"format\":\"google-gemini-v1\",\"index\":2}],"
      "\"tool_calls\":[{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{}\"},"
      "\"extra_content\":{\"google\":{\"thought_signature\":\"callsig\"}}}]},"
      "{\"role\":\"tool\",\"tool_call_id\":\"toolu_1\",\"content\":\"sunny\"}]}";
  j = through(&format_openai, NULL, turn2, &format_claude, "claude-sonnet-4-5", err, sizeof err);
  CHECK(j && eq(S(j, "messages.1.content.0.type"), "thinking") && eq(S(j, "messages.1.content.0.thinking"), "plan") &&
            eq(S(j, "messages.1.content.0.signature"), "sigA") &&
            eq(S(j, "messages.1.content.1.type"), "redacted_thinking") && eq(S(j, "messages.1.content.1.data"), "red") &&
            eq(S(j, "messages.1.content.2.type"), "tool_use") && !G(j, "messages.1.content.3") &&
            eq(S(j, "thinking.type"), "enabled"),
        "OpenAI client turn 2 -> Anthropic: signed thinking and redacted thinking first, then tool_use; the "
        "Gemini entry skipped; thinking stays on (%s)", err);
  cJSON_Delete(j);
  j = through(&format_openai, NULL, turn2, &format_gemini, "gemini-3-pro-preview", err, sizeof err);
  CHECK(j && cJSON_IsTrue(G(j, "contents.1.parts.0.thought")) && eq(S(j, "contents.1.parts.0.thoughtSignature"), "gsig") &&
            eq(S(j, "contents.1.parts.1.functionCall.name"), "w") &&
            eq(S(j, "contents.1.parts.1.thoughtSignature"), "callsig") && !G(j, "contents.1.parts.2"),
        "... -> Gemini 3: the Gemini thought part, the call's thoughtSignature from extra_content (%s)", err);
  cJSON_Delete(j);
  j = through(&format_openai, NULL, turn2, &format_openai, "o3", err, sizeof err);
  CHECK(j && G(j, "messages.1.reasoning_details") && G(j, "messages.1.tool_calls.0.extra_content"),
        "... an OpenAI client's own request to an OpenAI channel: untouched");
  cJSON_Delete(j);

  const char *unsigned2 =
      "{\"model\":\"m\",\"max_tokens\":8000,\"reasoning_effort\":\"high\",\"messages\":["
      "{\"role\":\"user\",\"content\":\"weather?\"},"
      "{\"role\":\"assistant\",\"content\":\"let me look\",\"tool_calls\":[{\"id\":\"toolu_1\",\"type\":\"function\","
      "\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]},"
      "{\"role\":\"tool\",\"tool_call_id\":\"toolu_1\",\"content\":\"sunny\"}]}";
  j = through(&format_openai, NULL, unsigned2, &format_claude, "claude-sonnet-4-5", err, sizeof err);
  CHECK(j && eq(S(j, "thinking.type"), "disabled") && eq(S(j, "messages.1.content.0.type"), "text"),
        "no signature sent back -> Anthropic gets thinking disabled for that turn (it would refuse the tool_use "
        "turn without its thinking block) (%s)", err);
  cJSON_Delete(j);
  const char *forced = "{\"model\":\"m\",\"reasoning_effort\":\"low\",\"tool_choice\":\"required\",\"tools\":[{\"type\":"
                       "\"function\",\"function\":{\"name\":\"w\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  j = through(&format_openai, NULL, forced, &format_claude, "claude-sonnet-4-5", err, sizeof err);
  CHECK(j && eq(S(j, "thinking.type"), "disabled") && eq(S(j, "tool_choice.type"), "any"),
        "a forced tool_choice with reasoning_effort -> Anthropic: thinking off (it refuses both) (%s)", err);
  cJSON_Delete(j);
  j = through(&format_openai, NULL, unsigned2, &format_gemini, "gemini-3-flash-preview", err, sizeof err);
  CHECK(j && eq(S(j, "contents.1.parts.1.thoughtSignature"), "skip_thought_signature_validator"),
        "... Gemini 3 gets Google's documented placeholder on the turn's first call (%s)", err);
  cJSON_Delete(j);
  j = through(&format_openai, NULL, unsigned2, &format_gemini, "gemini-2.5-flash", err, sizeof err);
  CHECK(j && eq(S(j, "contents.1.parts.1.functionCall.name"), "w") && !G(j, "contents.1.parts.1.thoughtSignature"),
        "... Gemini 2.5 needs none: none added");
  cJSON_Delete(j);

  /* an Anthropic client (Claude Code on a Gemini model) sends back the thinking blocks it got */
  const char *a2 =
      "{\"model\":\"m\",\"max_tokens\":4000,\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
      "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"T1\"},"
      "{\"type\":\"text\",\"text\":\"ok\"},{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"C1\"},"
      "{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"Read\",\"input\":{\"p\":1}}]},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"c1\",\"content\":\"x\"}]}]}";
  j = through(&format_claude, NULL, a2, &format_gemini, "gemini-3-pro-preview", err, sizeof err);
  CHECK(j && cJSON_IsTrue(G(j, "contents.1.parts.0.thought")) && eq(S(j, "contents.1.parts.0.text"), "hmm") &&
            eq(S(j, "contents.1.parts.0.thoughtSignature"), "T1") && eq(S(j, "contents.1.parts.1.text"), "ok") &&
            eq(S(j, "contents.1.parts.2.thoughtSignature"), "C1") && eq(S(j, "contents.1.parts.2.functionCall.name"), "Read"),
        "Anthropic client turn 2 -> Gemini: the thought with its signature, the call's signature on its "
        "functionCall (%s)", err);
  cJSON_Delete(j);

  /* a Gemini client sends back the thought parts it got from an Anthropic channel */
  const char *g2 =
      "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"go\"}]},"
      "{\"role\":\"model\",\"parts\":[{\"text\":\"plan\",\"thought\":true,\"thoughtSignature\":\"S1\"},"
      "{\"text\":\"\",\"thought\":true,\"thoughtSignature\":\"redacted_thinking:R1\"},"
      "{\"functionCall\":{\"name\":\"Read\",\"args\":{}}}]},"
      "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"Read\",\"response\":{\"r\":1}}}]}],"
      "\"generationConfig\":{\"maxOutputTokens\":9000,\"thinkingConfig\":{\"thinkingBudget\":3000}}}";
  j = through(&format_gemini, "/v1beta/models/m:generateContent", g2, &format_claude, "claude-opus-4-1", err, sizeof err);
  CHECK(j && eq(S(j, "messages.1.content.0.type"), "thinking") && eq(S(j, "messages.1.content.0.signature"), "S1") &&
            eq(S(j, "messages.1.content.1.type"), "redacted_thinking") && eq(S(j, "messages.1.content.1.data"), "R1") &&
            eq(S(j, "messages.1.content.2.type"), "tool_use") && eq(S(j, "thinking.type"), "enabled"),
        "Gemini client turn 2 -> Anthropic: thinking and redacted thinking back first, thinking on (%s)", err);
  cJSON_Delete(j);
}

/* the Responses API (format_responses.c): which channels are native, the client side's events, the
 * upstream side's chunks, and a tool loop's items back into the common form */
static const char *const responses_events[] = {
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":"
    "\"resp_1\",\"object\":\"response\",\"model\":\"gpt-5\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,"
    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi there\"}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":"
    "\"resp_1\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":9,\"input_tokens_details\":"
    "{\"cached_tokens\":4},\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":3}}}}\n\n",
    NULL};

/* the names of the "event:" lines of out, space-separated */
static void event_names(const struct buf *out, char *names, size_t n)
{
  size_t k = 0;
  names[0] = '\0';
  for (const char *p = out->data ? out->data : ""; (p = strstr(p, "event: ")); ) {
    p += 7;
    size_t l = strcspn(p, "\n");
    k += (size_t)snprintf(names + k, n > k ? n - k : 0, "%s%.*s", k ? " " : "", (int)l, p);
    p += l;
  }
}

static void test_responses(void)
{
  CHECK(format_of_channel(&format_responses, provider_find("openai"), "m") == &format_responses &&
            format_of_channel(&format_responses, provider_find("azure"), "m") == &format_responses &&
            format_of_channel(&format_responses, provider_find("deepseek"), "m") == &format_openai &&
            format_of_channel(&format_responses, provider_find("anthropic"), "m") == &format_claude &&
            format_of_channel(&format_openai, provider_find("openai"), "m") == &format_openai &&
            format_of_channel(&format_claude, provider_find("responses"), "m") == &format_responses,
        "Responses clients are native where the type serves Responses; a responses channel speaks it to all");
  /* OpenAI chunks -> the named events, in order, with sequence numbers */
  struct format_stream s = {0};
  struct buf out;
  char names[1024];
  buf_init(&out, 1 << 20);
  format_stream_init(&s, &format_responses, &format_openai, "gpt", 5, true, 1);
  CHECK(feed(&s, &out, openai_events) == 0 && format_stream_end(&s, true, &out) == NULL && format_stream_complete(&s),
        "OpenAI -> Responses: converted, complete");
  event_names(&out, names, sizeof names);
  CHECK(eq(names, "response.created response.in_progress response.output_item.added response.content_part.added "
                  "response.output_text.delta response.output_text.done response.content_part.done "
                  "response.output_item.done response.completed"),
        "... the named events in order: %s", names);
  CHECK(count_data(&out, "response.usage.input_tokens", NULL) == 1 &&
            count_data(&out, "response.output.0.content.0.text", "Hi there") == 1 &&
            count_data(&out, "sequence_number", NULL) == 9,
        "... response.completed carries the output and the usage; every event its sequence_number");
  /* Responses events -> OpenAI chunks (a responses channel behind a chat client) */
  buf_reset(&out);
  format_stream_init(&s, &format_openai, &format_responses, "gpt", 5, true, 1);
  CHECK(feed(&s, &out, responses_events) == 0 && format_stream_end(&s, true, &out) == NULL &&
            format_stream_complete(&s) && strstr(out.data, "data: [DONE]"),
        "Responses -> OpenAI: converted, [DONE] at response.completed");
  CHECK(count_data(&out, "choices.0.delta.content", "Hi there") == 1 && s.f.usage.prompt_tokens == 9 &&
            s.f.usage.cached_tokens == 4 && s.f.usage.reasoning_tokens == 3 && s.f.usage.completion_tokens == 5,
        "... text, and the usage with cached and reasoning tokens");
  /* native: relayed as they came, the usage read from response.completed */
  buf_reset(&out);
  format_stream_init(&s, &format_responses, &format_responses, "gpt", 5, false, 1);
  CHECK(feed(&s, &out, responses_events) == 0 && format_stream_end(&s, true, &out) == NULL &&
            s.f.usage.prompt_tokens == 9 && s.f.ended && s.f.text_chars == 8,
        "Responses -> Responses: native, usage and text read");
  const char *const cut[] = {responses_events[0], responses_events[1], NULL};
  buf_reset(&out);
  format_stream_init(&s, &format_responses, &format_responses, "gpt", 5, false, 1);
  feed(&s, &out, cut);
  CHECK(eq(format_stream_end(&s, true, &out), "no response.completed event."), "a native stream cut early");
  format_stream_free(&s);
  buf_free(&out);

  /* turn 2 of a tool loop: the items sent back become the common form */
  static const char req[] =
      "{\"model\":\"m\",\"instructions\":\"be brief\",\"max_output_tokens\":50,\"stream\":true,"
      "\"tools\":[{\"type\":\"function\",\"name\":\"lookup\",\"parameters\":{\"type\":\"object\"}}],"
      "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"r\",\"schema\":{\"type\":\"object\"}}},"
      "\"reasoning\":{\"effort\":\"high\"},\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
      "\"text\":\"hi\"}]},{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":"
      "\"think\"}],\"encrypted_content\":\"{\\\"type\\\":\\\"reasoning.text\\\",\\\"signature\\\":\\\"SIG\\\","
      "\\\"format\\\":\\\"anthropic-claude-v1\\\"}\"},{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":"
      "\"call_1\",\"name\":\"lookup\",\"arguments\":\"{\\\"q\\\":1}\"},{\"type\":\"function_call_output\","
      "\"call_id\":\"call_1\",\"output\":\"42\"}]}";
  cJSON *root = NULL;
  struct oai_request rq;
  char err[256];
  const char *param;
  CHECK(format_responses.ops->read_request(API_CHAT, req, strlen(req), NULL, false, &root, &rq, err, sizeof err,
                                           &param) == 0 && rq.stream && rq.max_tokens == 50 && eq(rq.model, "m"),
        "a Responses request read: %s", root ? "ok" : err);
  char *oai = format_responses.ops->request_to_openai(root, "m", true, err, sizeof err);
  cJSON *o = cJSON_Parse(oai ? oai : "");
  CHECK(eq(cJSON_GetStringValue(G(o, "messages.0.content")), "be brief") &&
            eq(cJSON_GetStringValue(G(o, "messages.1.content.0.text")), "hi") &&
            eq(cJSON_GetStringValue(G(o, "messages.2.reasoning_content")), "think") &&
            eq(cJSON_GetStringValue(G(o, "messages.2.reasoning_details.0.signature")), "SIG") &&
            eq(cJSON_GetStringValue(G(o, "messages.2.tool_calls.0.id")), "call_1") &&
            eq(cJSON_GetStringValue(G(o, "messages.3.tool_call_id")), "call_1") &&
            eq(cJSON_GetStringValue(G(o, "tools.0.function.name")), "lookup") &&
            eq(cJSON_GetStringValue(G(o, "response_format.json_schema.name")), "r") &&
            eq(cJSON_GetStringValue(G(o, "reasoning_effort")), "high") &&
            cJSON_GetNumberValue(G(o, "max_tokens")) == 50 && cJSON_IsTrue(G(o, "stream_options.include_usage")),
        "... in the common form: instructions, parts, the signed reasoning, the call and its output, tools, "
        "text.format, effort: %s", oai ? oai : err);
  free(oai);
  cJSON_Delete(o);
  cJSON_AddStringToObject(root, "previous_response_id", "resp_0");
  CHECK(!format_responses.ops->request_to_openai(root, "m", true, err, sizeof err) &&
            strstr(err, "relay keeps no conversation state"),
        "previous_response_id cannot be converted: %s", err);
  cJSON_Delete(root);
}

/* Embeddings on a Gemini channel (format_embed.c): an OpenAI request as batchEmbedContents, a
 * Gemini client's own request renamed for a mapped model, Google's answer as OpenAI's, and the
 * usage and base64 written in afterwards. */
static void test_gemini_embeddings(void)
{
  char err[256], path[FORMAT_PATH_MAX];
  char *body;
  size_t len;
  struct oai_request rq = {.model = "emb", .max_tokens = -1};
  cJSON *oai = cJSON_Parse("{\"model\":\"emb\",\"input\":[\"hello\",\"world\"],\"dimensions\":4}");
  struct format_req q = {.root = oai, .api = API_EMBEDDINGS, .rq = &rq, .upstream_model = "text-embedding-004"};
  CHECK(format_gemini.ops->write_request(&q, &body, &len, path, sizeof path, err, sizeof err) == 0 && body &&
            eq(path, "/v1beta/models/text-embedding-004:batchEmbedContents"),
        "OpenAI embeddings to a Gemini channel: batchEmbedContents of the channel's model");
  cJSON *j = cJSON_Parse(body);
  CHECK(cJSON_GetArraySize(G(j, "requests")) == 2 && eq(S(j, "requests.0.model"), "models/text-embedding-004") &&
            eq(S(j, "requests.1.content.parts.0.text"), "world") && N(j, "requests.1.outputDimensionality") == 4,
        "... one request per input, each naming the model, dimensions as outputDimensionality");
  cJSON_Delete(j);
  free(body);
  cJSON_Delete(oai);
  oai = cJSON_Parse("{\"model\":\"emb\",\"input\":[[1,2,3]]}");
  q.root = oai;
  CHECK(format_gemini.ops->write_request(&q, &body, &len, path, sizeof path, err, sizeof err) == -1 &&
            strstr(err, "text only"),
        "token-id input: refused (Gemini embeds text only)");
  cJSON_Delete(oai);

  cJSON *native = cJSON_Parse("{\"requests\":[{\"model\":\"models/emb\",\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}");
  struct format_req n = {.root = native, .native = true, .api = API_EMBEDDINGS, .rq = &rq, .upstream_model = "emb"};
  CHECK(format_gemini.ops->write_request(&n, &body, &len, path, sizeof path, err, sizeof err) == 0 && !body &&
            eq(path, "/v1beta/models/emb:batchEmbedContents"),
        "a Gemini client's batchEmbedContents, same model: its bytes as they are");
  n.upstream_model = "emb-real";
  CHECK(format_gemini.ops->write_request(&n, &body, &len, path, sizeof path, err, sizeof err) == 0 && body &&
            eq(path, "/v1beta/models/emb-real:batchEmbedContents"),
        "... a mapped model: rewritten for the channel's name");
  j = cJSON_Parse(body);
  CHECK(eq(S(j, "requests.0.model"), "models/emb-real") && eq(S(j, "requests.0.content.parts.0.text"), "a"),
        "... every request names it");
  cJSON_Delete(j);
  free(body);
  cJSON_Delete(native);
  CHECK(format_native(&format_gemini_embed, &format_gemini) && format_native(&format_gemini_batch_embed, &format_gemini) &&
            !format_native(&format_gemini_embed, &format_openai),
        "Gemini's embeddings formats are native on a Gemini channel only");

  const char *ans = "{\"embeddings\":[{\"values\":[0.5,-1]},{\"values\":[0.25,2]}]}";
  struct usage u;
  char *o = format_gemini.ops->response_to_openai(ans, strlen(ans), "emb", 1, &u, err, sizeof err);
  j = cJSON_Parse(o);
  CHECK(eq(S(j, "object"), "list") && N(j, "data.1.index") == 1 && N(j, "data.1.embedding.1") == 2 &&
            eq(S(j, "model"), "emb") && u.prompt_tokens == 0,
        "Google's embeddings answer -> OpenAI's list, no usage from the channel");
  cJSON_Delete(j);
  char *fixed = format_embed_openai_answer(o, strlen(o), 7, true);
  j = cJSON_Parse(fixed);
  /* 0.5f, -1.0f little-endian: 00 00 00 3f 00 00 80 bf */
  CHECK(N(j, "usage.prompt_tokens") == 7 && N(j, "usage.total_tokens") == 7 && eq(S(j, "data.0.embedding"), "AAAAPwAAgL8="),
        "... relay's count as usage, base64 of float32 little-endian when asked");
  cJSON_Delete(j);
  free(fixed);
  free(o);
  const char *chat = "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}]}";
  o = format_gemini.ops->response_to_openai(chat, strlen(chat), "g", 1, &u, err, sizeof err);
  j = cJSON_Parse(o);
  CHECK(eq(S(j, "choices.0.message.content"), "hi"), "a chat answer is still a chat completion");
  cJSON_Delete(j);
  free(o);
}

/* A request object is reused without clearing its upstream converter's state (format_stream_clear
 * leaves the union in as the last request left it): in_init must set up all it reads. The same conversion from a zeroed state and from one full of other bytes gives the same. */
static void convert_from(struct format_stream *s, const struct format *client, const struct format *upstream,
                         const char *const *evs, struct buf *out)
{
  buf_reset(out);
  format_stream_init(s, client, upstream, "m-x", 5, true, 1);
  feed(s, out, evs);
  format_stream_end(s, true, out);
}

static void test_stream_stale_state(void)
{
  static const struct {
    const struct format *client, *upstream;
    const char *const *evs;
    const char *what;
  } pairs[] = {
      {&format_openai, &format_claude, claude_events, "Anthropic -> OpenAI"},
      {&format_gemini, &format_claude, claude_events, "Anthropic -> Gemini"},
      {&format_claude, &format_gemini, gemini_events, "Gemini -> Anthropic"},
      {&format_claude, &format_openai, openai_events, "OpenAI -> Anthropic"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    struct format_stream clean = {0};
    struct format_stream *stale = malloc(sizeof *stale);
    struct buf a, b;
    buf_init(&a, 1 << 20);
    buf_init(&b, 1 << 20);
    convert_from(&clean, pairs[i].client, pairs[i].upstream, pairs[i].evs, &a);
    memset(stale, 0xa5, sizeof *stale);      /* what another request may have left */
    format_stream_clear(stale);
    convert_from(stale, pairs[i].client, pairs[i].upstream, pairs[i].evs, &b);
    CHECK(a.len > 0 && a.len == b.len && memcmp(a.data, b.data, a.len) == 0 &&
              clean.f.usage.prompt_tokens == stale->f.usage.prompt_tokens &&
              clean.f.usage.completion_tokens == stale->f.usage.completion_tokens &&
              clean.f.text_chars == stale->f.text_chars && clean.f.ended == stale->f.ended,
          "%s: the same from a reused converter state (%zu and %zu bytes)", pairs[i].what, a.len, b.len);
    format_stream_free(&clean);
    format_stream_free(stale);
    free(stale);
    buf_free(&a);
    buf_free(&b);
  }
}

int main(void)
{
  test_responses();
  test_registry();
  test_errors();
  test_read_request();
  test_write_request();
  test_gemini_embeddings();
  test_converted_fidelity();
  test_signatures_back();
  test_answers();
  test_stream_openai();
  test_stream_claude();
  test_stream_gemini();
  test_stream_stale_state();
  return tap_done();
}
