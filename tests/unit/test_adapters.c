/* Unit tests of the format adapters (relayd/claude.c, claude_client.c, gemini.c, gemini_client.c): requests and responses
 * both ways, stop-reason maps, tool calls, images, usage and cache accounting, the stream
 * converters fed event by event, error bodies, and bad input. */
#include <stdlib.h>
#include <string.h>

#include "../../relayd/claude_client.h"
#include "../../relayd/gemini_client.h"
#include "jpath.h"
#include "tap.h"
#include "util.h"

/* ---- helpers ---- */

static int SZ(const cJSON *o, const char *path)
{
  const cJSON *v = G(o, path);
  return cJSON_IsArray(v) || cJSON_IsObject(v) ? cJSON_GetArraySize(v) : -1;
}

static bool streq(const char *a, const char *b)
{
  return a && b && !strcmp(a, b);
}

static cJSON *P(const char *s)
{
  cJSON *j = s ? cJSON_Parse(s) : NULL;
  if (!j)
    printf("# could not parse: %s\n", s ? s : "(null)");
  return j;
}

/* Parses an OpenAI chunk stream ("data: X\n\n"...) into an array of the data JSONs; "[DONE]" becomes
 * the string "[DONE]". Returns NULL when any frame is malformed. */
static cJSON *oai_frames(const char *out)
{
  cJSON *arr = cJSON_CreateArray();
  const char *p = out;
  while (*p) {
    const char *end = strstr(p, "\n\n");
    if (strncmp(p, "data: ", 6) != 0 || !end) {
      cJSON_Delete(arr);
      return NULL;
    }
    p += 6;
    if (!strncmp(p, "[DONE]", 6) && p + 6 == end) {
      cJSON_AddItemToArray(arr, cJSON_CreateString("[DONE]"));
    } else {
      cJSON *j = cJSON_ParseWithLength(p, (size_t)(end - p));
      if (!j) {
        cJSON_Delete(arr);
        return NULL;
      }
      cJSON_AddItemToArray(arr, j);
    }
    p = end + 2;
  }
  return arr;
}

/* Parses Anthropic frames ("event: NAME\ndata: JSON\n\n") into an array of data JSONs. Returns
 * NULL when a frame is malformed or its event name differs from the JSON type. */
static cJSON *claude_frames(const char *out)
{
  cJSON *arr = cJSON_CreateArray();
  const char *p = out;
  while (*p) {
    const char *nl = strchr(p, '\n'), *end = strstr(p, "\n\n");
    if (strncmp(p, "event: ", 7) != 0 || !nl || !end || strncmp(nl + 1, "data: ", 6) != 0)
      goto bad;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(nl - p - 7), p + 7);
    cJSON *j = cJSON_ParseWithLength(nl + 7, (size_t)(end - nl - 7));
    if (!j)
      goto bad;
    cJSON_AddItemToArray(arr, j);
    if (!streq(S(j, "type"), name))
      goto bad;
    p = end + 2;
  }
  return arr;
bad:
  printf("# bad frame at: %.80s\n", p);
  cJSON_Delete(arr);
  return NULL;
}

/* ---- claude: OpenAI request -> Anthropic request ---- */

static void test_claude_request_from_openai(void)
{
  char err[256] = "";
  const char *body =
      "{\"model\":\"gpt-x\",\"max_tokens\":300,\"temperature\":0.5,\"top_p\":0.9,\"stream\":true,"
      "\"stop\":\"END\",\"user\":\"u-1\",\"messages\":["
      "{\"role\":\"system\",\"content\":\"You are terse.\"},"
      "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"Answer in French.\"}]},"
      "{\"role\":\"user\",\"content\":\"hello\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what is this?\"},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.jpg\"}}]},"
      "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
      "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
      "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},"
      "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"},"
      "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\",\"text\":\"noon\"}]},"
      "{\"role\":\"user\",\"content\":\"thanks\"}],"
      "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
      "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},"
      "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}],"
      "\"tool_choice\":\"required\"}";
  cJSON *req = P(body);
  char *s = claude_request_from_openai(req, "claude-sonnet-4", err, sizeof err);
  CHECK(s != NULL, "a full OpenAI request converts (%s)", s ? "" : err);
  cJSON *o = P(s);
  CHECK(streq(S(o, "model"), "claude-sonnet-4"), "upstream model name from the caller");
  CHECK(N(o, "max_tokens") == 300, "max_tokens kept");
  CHECK(N(o, "temperature") == 0.5 && !G(o, "top_p"),
        "temperature kept, top_p dropped: Anthropic refuses the two together (temperature wins)");
  CHECK(cJSON_IsTrue(G(o, "stream")), "stream kept");
  CHECK(SZ(o, "stop_sequences") == 1 && streq(S(o, "stop_sequences.0"), "END"),
        "stop string -> stop_sequences array");
  CHECK(streq(S(o, "system"), "You are terse.\nAnswer in French."),
        "system messages (string and parts) -> top-level system");
  CHECK(streq(S(o, "metadata.user_id"), "u-1"), "user -> metadata.user_id");
  CHECK(SZ(o, "messages") == 3, "consecutive same-role messages merged: user, assistant, user (%d)",
        SZ(o, "messages"));
  CHECK(streq(S(o, "messages.0.role"), "user") && SZ(o, "messages.0.content") == 4,
        "first user message holds both user messages' blocks (%d)", SZ(o, "messages.0.content"));
  CHECK(streq(S(o, "messages.0.content.0.text"), "hello") &&
            streq(S(o, "messages.0.content.1.text"), "what is this?"),
        "text parts in order");
  CHECK(streq(S(o, "messages.0.content.2.type"), "image") &&
            streq(S(o, "messages.0.content.2.source.type"), "base64") &&
            streq(S(o, "messages.0.content.2.source.media_type"), "image/png") &&
            streq(S(o, "messages.0.content.2.source.data"), "iVBORw0KGgo="),
        "data: URL image -> base64 source");
  CHECK(streq(S(o, "messages.0.content.3.source.type"), "url") &&
            streq(S(o, "messages.0.content.3.source.url"), "https://example.com/cat.jpg"),
        "http image -> url source");
  CHECK(streq(S(o, "messages.1.role"), "assistant") && SZ(o, "messages.1.content") == 2,
        "assistant with tool_calls only has two blocks");
  CHECK(streq(S(o, "messages.1.content.0.type"), "tool_use") &&
            streq(S(o, "messages.1.content.0.id"), "call_1") &&
            streq(S(o, "messages.1.content.0.name"), "get_weather") &&
            streq(S(o, "messages.1.content.0.input.city"), "Paris"),
        "tool_calls -> tool_use with parsed input");
  CHECK(cJSON_IsObject(G(o, "messages.1.content.1.input")) && SZ(o, "messages.1.content.1.input") == 0,
        "empty arguments -> input {}");
  CHECK(streq(S(o, "messages.2.role"), "user") && SZ(o, "messages.2.content") == 3,
        "tool results and the next user text share one user message");
  CHECK(streq(S(o, "messages.2.content.0.type"), "tool_result") &&
            streq(S(o, "messages.2.content.0.tool_use_id"), "call_1") &&
            streq(S(o, "messages.2.content.0.content"), "18C"),
        "tool message -> tool_result");
  CHECK(streq(S(o, "messages.2.content.1.content"), "noon"), "tool content parts -> text");
  CHECK(streq(S(o, "messages.2.content.2.text"), "thanks"), "user text after the results");
  CHECK(SZ(o, "tools") == 2 && streq(S(o, "tools.0.name"), "get_weather") &&
            streq(S(o, "tools.0.description"), "Weather") &&
            streq(S(o, "tools.0.input_schema.properties.city.type"), "string"),
        "tools[].function -> tools with input_schema");
  CHECK(streq(S(o, "tools.1.input_schema.type"), "object") && !G(o, "tools.1.description"),
        "a tool without parameters gets an empty object schema");
  CHECK(streq(S(o, "tool_choice.type"), "any"), "tool_choice required -> any");
  cJSON_Delete(o);
  free(s);
  cJSON_Delete(req);

  /* defaults, first message not user, stop array, tool_choice forms */
  struct {
    const char *extra, *type, *name;
  } tcs[] = {
      {"\"tool_choice\":\"auto\"", "auto", NULL},
      {"\"tool_choice\":\"none\"", "none", NULL},
      {"\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}", "tool", "f"},
      {"\"parallel_tool_calls\":false", "auto", NULL},
  };
  for (size_t i = 0; i < sizeof tcs / sizeof tcs[0]; i++) {
    char b[512];
    snprintf(b, sizeof b,
             "{\"model\":\"m\",\"max_completion_tokens\":77,\"stop\":[\"a\",\"b\"],%s,\"messages\":["
             "{\"role\":\"assistant\",\"content\":\"I start\"},{\"role\":\"assistant\",\"content\":\"\"}]}",
             tcs[i].extra);
    req = P(b);
    s = claude_request_from_openai(req, "c", err, sizeof err);
    o = P(s);
    CHECK(streq(S(o, "tool_choice.type"), tcs[i].type) &&
              (!tcs[i].name || streq(S(o, "tool_choice.name"), tcs[i].name)),
          "tool_choice %s -> %s", tcs[i].extra, tcs[i].type);
    if (i == 3)
      CHECK(cJSON_IsTrue(G(o, "tool_choice.disable_parallel_tool_use")),
            "parallel_tool_calls false -> disable_parallel_tool_use");
    if (i == 0) {
      CHECK(N(o, "max_tokens") == 77, "max_completion_tokens -> max_tokens");
      CHECK(SZ(o, "stop_sequences") == 2 && streq(S(o, "stop_sequences.1"), "b"), "stop array");
      CHECK(streq(S(o, "messages.0.role"), "user") && streq(S(o, "messages.0.content.0.text"), "..."),
            "a user \"...\" is prepended when the first message is not user");
      CHECK(SZ(o, "messages") == 2 && SZ(o, "messages.1.content") == 2 &&
                streq(S(o, "messages.1.content.1.text"), "..."),
            "empty assistant content becomes \"...\" and is merged");
      CHECK(!G(o, "system") && !G(o, "stream") && !G(o, "temperature"), "absent fields stay absent");
    }
    cJSON_Delete(o);
    free(s);
    cJSON_Delete(req);
  }
  req = P("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  s = claude_request_from_openai(req, "c", err, sizeof err);
  o = P(s);
  CHECK(N(o, "max_tokens") == CLAUDE_DEFAULT_MAX_TOKENS, "max_tokens defaults to 8192");
  cJSON_Delete(o);
  free(s);
  cJSON_Delete(req);

  /* bad input */
  struct {
    const char *body, *want;
  } bad[] = {
      {"[1,2]", "JSON object"},
      {"{\"messages\":\"hi\"}", "'messages'"},
      {"{\"messages\":[]}", "'messages'"},
      {"{\"messages\":[42]}", "messages[0]"},
      {"{\"messages\":[{\"role\":7,\"content\":\"x\"}]}", "'role'"},
      {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "wizard"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":12}]}", "'content'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}", "input_audio"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]}", "'text'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"ftp://x\"}}]}]}",
       "http(s)"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}",
       "base64"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", "url"},
      {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\","
       "\"arguments\":\"{broken\"}}]}]}",
       "not a JSON object"},
      {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}", "'tool_calls'"},
      {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\"}}]}]}", "'id'"},
      {"{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "tool_call_id"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":5}", "'stop'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",1]}", "'stop'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-3}", "'max_tokens'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"9\"}", "'max_tokens'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", "'temperature'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}", "'tools'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"function\":{}}]}", "function.name"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"maybe\"}", "'tool_choice'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", "'stream'"},
      {"{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\"}]}]}", "text parts"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    req = P(bad[i].body);
    err[0] = 0;
    s = claude_request_from_openai(req, "c", err, sizeof err);
    CHECK(!s && strstr(err, bad[i].want), "bad request %zu refused: %s", i, err);
    free(s);
    cJSON_Delete(req);
  }
  s = claude_request_from_openai(NULL, "c", err, sizeof err);
  CHECK(!s && strstr(err, "JSON object"), "NULL request refused");
}

/* ---- claude: Anthropic response -> OpenAI response ---- */

static void test_claude_response_to_openai(void)
{
  char err[256] = "";
  struct usage u;
  const char *body =
      "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4\","
      "\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"s\"},"
      "{\"type\":\"text\",\"text\":\"Let me \"},{\"type\":\"text\",\"text\":\"check.\"},"
      "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}],"
      "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":20,\"cache_read_input_tokens\":300,"
      "\"output_tokens\":42}}";
  char *s = claude_response_to_openai(body, strlen(body), 1700000000, &u, err, sizeof err);
  cJSON *o = P(s);
  CHECK(o != NULL, "an Anthropic message converts (%s)", s ? "" : err);
  CHECK(streq(S(o, "id"), "msg_01") && streq(S(o, "object"), "chat.completion") &&
            N(o, "created") == 1700000000 && streq(S(o, "model"), "claude-sonnet-4"),
        "id, object, created, model");
  CHECK(streq(S(o, "choices.0.message.role"), "assistant") &&
            streq(S(o, "choices.0.message.content"), "Let me check."),
        "text blocks joined");
  CHECK(streq(S(o, "choices.0.message.reasoning_content"), "hmm"), "thinking -> reasoning_content");
  CHECK(SZ(o, "choices.0.message.tool_calls") == 1 &&
            streq(S(o, "choices.0.message.tool_calls.0.id"), "toolu_1") &&
            streq(S(o, "choices.0.message.tool_calls.0.type"), "function") &&
            streq(S(o, "choices.0.message.tool_calls.0.function.name"), "get_weather") &&
            streq(S(o, "choices.0.message.tool_calls.0.function.arguments"), "{\"city\":\"Paris\"}"),
        "tool_use -> tool_calls with arguments as a JSON string");
  CHECK(streq(S(o, "choices.0.finish_reason"), "tool_calls"), "tool_use -> tool_calls");
  CHECK(N(o, "usage.prompt_tokens") == 420 && N(o, "usage.completion_tokens") == 42 &&
            N(o, "usage.total_tokens") == 462 && N(o, "usage.prompt_tokens_details.cached_tokens") == 300,
        "usage: prompt = input + cache read + cache creation, cached = cache read");
  CHECK(u.prompt_tokens == 420 && u.completion_tokens == 42 && u.cached_tokens == 300,
        "struct usage filled (%lld %lld %lld)", (long long)u.prompt_tokens,
        (long long)u.completion_tokens, (long long)u.cached_tokens);
  cJSON_Delete(o);
  free(s);

  struct {
    const char *in, *out;
  } map[] = {{"end_turn", "stop"}, {"stop_sequence", "stop"}, {"max_tokens", "length"},
             {"tool_use", "tool_calls"}, {"refusal", "content_filter"}, {"pause_turn", "stop"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    char b[256];
    snprintf(b, sizeof b,
             "{\"id\":\"m\",\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}],"
             "\"stop_reason\":\"%s\",\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}",
             map[i].in);
    s = claude_response_to_openai(b, strlen(b), 0, &u, err, sizeof err);
    o = P(s);
    CHECK(streq(S(o, "choices.0.finish_reason"), map[i].out), "stop_reason %s -> %s", map[i].in,
          map[i].out);
    cJSON_Delete(o);
    free(s);
  }
  const char *plain = "{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"usage\":{\"input_tokens\":5}}";
  s = claude_response_to_openai(plain, strlen(plain), 0, &u, err, sizeof err);
  o = P(s);
  CHECK(!G(o, "choices.0.message.tool_calls") && streq(S(o, "choices.0.message.content"), "hi") &&
            u.prompt_tokens == 5 && u.completion_tokens == 0 && u.cached_tokens == 0,
        "no tool calls, missing fields count as zero");
  cJSON_Delete(o);
  free(s);

  struct {
    const char *body, *want;
  } bad[] = {
      {"not json", "not a JSON object"},
      {"[]", "not a JSON object"},
      {"{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", "Overloaded"},
      {"{\"type\":\"message\",\"content\":\"text\"}", "'content'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    u.prompt_tokens = 99;
    s = claude_response_to_openai(bad[i].body, strlen(bad[i].body), 0, &u, err, sizeof err);
    CHECK(!s && strstr(err, bad[i].want) && u.prompt_tokens == 0, "bad response %zu refused: %s", i, err);
    free(s);
  }
  const char *odd = "{\"content\":[7,{\"type\":3},{\"type\":\"text\",\"text\":[1]},{\"type\":\"tool_use\"}],"
                    "\"usage\":{\"input_tokens\":\"9\",\"output_tokens\":-4}}";
  s = claude_response_to_openai(odd, strlen(odd), 0, &u, err, sizeof err);
  o = P(s);
  CHECK(o && streq(S(o, "choices.0.message.tool_calls.0.function.arguments"), "{}") &&
            u.prompt_tokens == 0 && u.completion_tokens == 0,
        "wrongly typed blocks and counts are skipped, not trusted");
  cJSON_Delete(o);
  free(s);
}

/* ---- claude: Anthropic stream -> OpenAI chunks ---- */

static int feed_c2o(struct claude_to_openai_stream *st, const char *event, const char *data,
                    struct buf *out)
{
  char err[256];
  return claude_stream_to_openai_feed(st, event, data, strlen(data), out, err, sizeof err);
}

static void test_claude_stream_to_openai(void)
{
  struct claude_to_openai_stream st;
  struct buf out;
  buf_init(&out, 1 << 20);
  claude_stream_to_openai_init(&st, true, 1700000001);
  int rc = 0;
  rc |= feed_c2o(&st, "message_start",
                 "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"type\":\"message\",\"role\":"
                 "\"assistant\",\"model\":\"claude-haiku\",\"content\":[],\"usage\":{\"input_tokens\":10,"
                 "\"cache_read_input_tokens\":50,\"cache_creation_input_tokens\":5,\"output_tokens\":1}}}",
                 &out);
  rc |= feed_c2o(&st, "ping", "{\"type\":\"ping\"}", &out);
  rc |= feed_c2o(&st, "content_block_start",
                 "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}",
                 &out);
  rc |= feed_c2o(&st, "content_block_delta",
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"plan\"}}",
                 &out);
  rc |= feed_c2o(&st, "content_block_delta",
                 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"x\"}}",
                 &out);
  rc |= feed_c2o(&st, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}", &out);
  rc |= feed_c2o(&st, "content_block_start",
                 "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
                 &out);
  rc |= feed_c2o(&st, "content_block_delta",
                 "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\\\"lo\\n\"}}",
                 &out);
  rc |= feed_c2o(&st, NULL,   /* no event name: the type in the data decides */
                 "{\"type\":\"content_block_stop\",\"index\":1}", &out);
  rc |= feed_c2o(&st, "content_block_start",
                 "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\","
                 "\"id\":\"toolu_7\",\"name\":\"lookup\",\"input\":{}}}",
                 &out);
  rc |= feed_c2o(&st, "content_block_delta",
                 "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\":\"}}",
                 &out);
  rc |= feed_c2o(&st, "content_block_delta",
                 "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"x\\\"}\"}}",
                 &out);
  rc |= feed_c2o(&st, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}", &out);
  rc |= feed_c2o(&st, "message_delta",
                 "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
                 "\"usage\":{\"output_tokens\":33}}",
                 &out);
  CHECK(st.usage.prompt_tokens == 65 && st.usage.cached_tokens == 50 && st.usage.completion_tokens == 33,
        "usage recorded before message_stop: 10+50+5 prompt, 50 cached, 33 out");
  CHECK(!st.finished, "not finished before message_stop");
  rc |= feed_c2o(&st, "message_stop", "{\"type\":\"message_stop\"}", &out);
  CHECK(rc == 0, "every event accepted");
  CHECK(st.finished, "finished after message_stop");
  cJSON *f = oai_frames(out.data);
  CHECK(f != NULL, "output is well-formed data: frames");
  CHECK(SZ(f, "") == 10, "10 frames: role, thinking, signature, text, tool start, 2 args, finish, usage, DONE (%d)",
        SZ(f, ""));
  CHECK(streq(S(f, "0.id"), "msg_9") && streq(S(f, "0.object"), "chat.completion.chunk") &&
            N(f, "0.created") == 1700000001 && streq(S(f, "0.model"), "claude-haiku") &&
            streq(S(f, "0.choices.0.delta.role"), "assistant") &&
            cJSON_IsNull(G(f, "0.choices.0.finish_reason")),
        "message_start -> first chunk with role assistant");
  CHECK(streq(S(f, "1.choices.0.delta.reasoning_content"), "plan"), "thinking_delta -> reasoning_content");
  CHECK(streq(S(f, "2.choices.0.delta.reasoning_details.0.type"), "reasoning.text") &&
            streq(S(f, "2.choices.0.delta.reasoning_details.0.signature"), "x") &&
            streq(S(f, "2.choices.0.delta.reasoning_details.0.format"), "anthropic-claude-v1"),
        "signature_delta -> a reasoning_details item with the signature (doc/design.md)");
  CHECK(streq(S(f, "3.choices.0.delta.content"), "Hel\"lo\n"), "text_delta -> content, escapes kept");
  CHECK(N(f, "4.choices.0.delta.tool_calls.0.index") == 0 &&
            streq(S(f, "4.choices.0.delta.tool_calls.0.id"), "toolu_7") &&
            streq(S(f, "4.choices.0.delta.tool_calls.0.function.name"), "lookup") &&
            streq(S(f, "4.choices.0.delta.tool_calls.0.type"), "function"),
        "tool_use start -> tool_calls entry with id and name");
  CHECK(streq(S(f, "5.choices.0.delta.tool_calls.0.function.arguments"), "{\"q\":") &&
            streq(S(f, "6.choices.0.delta.tool_calls.0.function.arguments"), "\"x\"}") &&
            N(f, "6.choices.0.delta.tool_calls.0.index") == 0,
        "input_json_delta -> tool arguments");
  CHECK(streq(S(f, "7.choices.0.finish_reason"), "tool_calls"), "message_delta -> finish_reason");
  CHECK(SZ(f, "8.choices") == 0 && N(f, "8.usage.prompt_tokens") == 65 &&
            N(f, "8.usage.completion_tokens") == 33 && N(f, "8.usage.total_tokens") == 98 &&
            N(f, "8.usage.prompt_tokens_details.cached_tokens") == 50,
        "usage chunk with empty choices when the client asked");
  CHECK(streq(S(f, "9"), "[DONE]"), "[DONE] last");
  cJSON_Delete(f);

  /* events after the end are ignored */
  size_t len = out.len;
  CHECK(feed_c2o(&st, "content_block_delta",
                 "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"late\"}}",
                 &out) == 0 && out.len == len,
        "events after message_stop write nothing");

  /* without include_usage, a second tool gets index 1, max_tokens -> length */
  buf_reset(&out);
  claude_stream_to_openai_init(&st, false, 5);
  feed_c2o(&st, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":3}}}", &out);
  feed_c2o(&st, "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"f\"}}", &out);
  feed_c2o(&st, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}", &out);
  feed_c2o(&st, "content_block_start", "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"b\",\"name\":\"g\"}}", &out);
  feed_c2o(&st, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}", &out);
  feed_c2o(&st, "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":9}}", &out);
  feed_c2o(&st, "message_stop", "{\"type\":\"message_stop\"}", &out);
  f = oai_frames(out.data);
  CHECK(SZ(f, "") == 6, "role, 2 tool starts, 1 args, finish, DONE: no usage chunk when not asked (%d)", SZ(f, ""));
  CHECK(N(f, "2.choices.0.delta.tool_calls.0.index") == 1 && streq(S(f, "2.choices.0.delta.tool_calls.0.id"), "b") &&
            N(f, "3.choices.0.delta.tool_calls.0.index") == 1,
        "the second tool_use is tool_calls index 1");
  CHECK(streq(S(f, "4.choices.0.finish_reason"), "length"), "max_tokens -> length");
  CHECK(strstr(out.data, "\"usage\"") == NULL, "no usage anywhere when the client did not ask");
  CHECK(st.usage.prompt_tokens == 3 && st.usage.completion_tokens == 9 && st.usage.cached_tokens == 0,
        "usage still recorded for billing");
  cJSON_Delete(f);

  /* a stream cut before message_stop; then an error event */
  buf_reset(&out);
  claude_stream_to_openai_init(&st, true, 5);
  feed_c2o(&st, "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}", &out);
  feed_c2o(&st, "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"par\"}}", &out);
  CHECK(!st.finished && !strstr(out.data, "[DONE]") && st.usage.prompt_tokens == 12 &&
            st.usage.completion_tokens == 1,
        "a cut stream: no [DONE], input usage known, output as of message_start");
  feed_c2o(&st, "error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", &out);
  f = oai_frames(out.data);
  CHECK(st.failed && SZ(f, "") == 3 && streq(S(f, "2.error.message"), "Overloaded") &&
            streq(S(f, "2.error.type"), "overloaded_error"),
        "error event -> in-band OpenAI error");
  len = out.len;
  feed_c2o(&st, "message_stop", "{\"type\":\"message_stop\"}", &out);
  CHECK(out.len == len && !st.finished, "nothing after an error");
  cJSON_Delete(f);

  /* bad events */
  char err[256];
  buf_reset(&out);
  claude_stream_to_openai_init(&st, true, 5);
  struct {
    const char *ev, *data, *want;
  } bad[] = {
      {"message_start", "nope", "not a JSON object"},
      {"message_start", "[1]", "not a JSON object"},
      {NULL, "{\"x\":1}", "no type"},
      {"message_start", "{\"type\":\"message_start\",\"message\":5}", "'message'"},
      {"content_block_start", "{\"type\":\"content_block_start\",\"content_block\":{\"type\":7}}", "content_block.type"},
      {"content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":\"x\"}", "delta.type"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    rc = claude_stream_to_openai_feed(&st, bad[i].ev, bad[i].data, strlen(bad[i].data), &out, err, sizeof err);
    CHECK(rc == -1 && strstr(err, bad[i].want) && out.len == 0, "bad event %zu refused: %s", i, err);
  }
  CHECK(claude_stream_to_openai_feed(&st, "x", NULL, 0, &out, err, sizeof err) == -1, "NULL data refused");
  /* wrongly typed fields inside a valid event: skipped */
  rc = feed_c2o(&st, "content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":\"0\",\"delta\":{\"type\":\"text_delta\",\"text\":5}}", &out);
  CHECK(rc == 0 && out.len == 0, "a text_delta without string text writes nothing");
  rc = feed_c2o(&st, "content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}", &out);
  CHECK(rc == 0 && out.len == 0, "arguments before any tool_use start are dropped");

  /* a full client buffer: -1, output and state unchanged */
  struct buf small;
  buf_init(&small, 40);
  claude_stream_to_openai_init(&st, true, 5);
  rc = claude_stream_to_openai_feed(&st, "message_start",
                                    "{\"message\":{\"id\":\"m\",\"model\":\"c\"}}", 35, &small, err, sizeof err);
  CHECK(rc == -1 && small.len == 0 && !st.started && strstr(err, "full"),
        "a full buffer: nothing written, state unchanged");
  buf_free(&small);
  buf_free(&out);
}

/* ---- claude: Anthropic request -> OpenAI request ---- */

static void test_claude_request_to_openai(void)
{
  char err[256] = "";
  const char *body =
      "{\"model\":\"claude-3\",\"max_tokens\":1024,\"temperature\":0.2,\"top_p\":0.8,\"top_k\":5,"
      "\"stop_sequences\":[\"###\"],\"stream\":true,\"metadata\":{\"user_id\":\"u9\"},"
      "\"system\":[{\"type\":\"text\",\"text\":\"Be brief.\"},{\"type\":\"text\",\"text\":\"No lists.\"}],"
      "\"messages\":["
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
      "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/jpeg\",\"data\":\"/9j/4A==\"}},"
      "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x.test/a.png\"}}]},"
      "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"s\"},"
      "{\"type\":\"text\",\"text\":\"Checking.\"},"
      "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"search\",\"input\":{\"q\":\"cats\",\"n\":3}}]},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
      "\"content\":[{\"type\":\"text\",\"text\":\"r1\"},{\"type\":\"text\",\"text\":\"r2\"}]},"
      "{\"type\":\"text\",\"text\":\"and?\"}]},"
      "{\"role\":\"assistant\",\"content\":\"Done.\"}],"
      "\"tools\":[{\"name\":\"search\",\"description\":\"Search\",\"input_schema\":{\"type\":\"object\","
      "\"properties\":{\"q\":{\"type\":\"string\"}}}}],"
      "\"tool_choice\":{\"type\":\"tool\",\"name\":\"search\",\"disable_parallel_tool_use\":true}}";
  cJSON *req = P(body);
  char *s = claude_request_to_openai(req, "gpt-4o", err, sizeof err);
  cJSON *o = P(s);
  CHECK(o != NULL, "an Anthropic request converts (%s)", s ? "" : err);
  CHECK(streq(S(o, "model"), "gpt-4o") && N(o, "max_tokens") == 1024 && N(o, "temperature") == 0.2 &&
            N(o, "top_p") == 0.8 && !G(o, "top_k"),
        "model, max_tokens, temperature, top_p; top_k dropped");
  CHECK(SZ(o, "stop") == 1 && streq(S(o, "stop.0"), "###"), "stop_sequences -> stop");
  CHECK(cJSON_IsTrue(G(o, "stream")) && cJSON_IsTrue(G(o, "stream_options.include_usage")),
        "stream -> stream with include_usage");
  CHECK(streq(S(o, "user"), "u9"), "metadata.user_id -> user");
  CHECK(SZ(o, "messages") == 6, "system, user, assistant, tool, user, assistant (%d)", SZ(o, "messages"));
  CHECK(streq(S(o, "messages.0.role"), "system") && streq(S(o, "messages.0.content"), "Be brief.\nNo lists."),
        "system blocks -> system message");
  CHECK(streq(S(o, "messages.1.content.0.type"), "text") && streq(S(o, "messages.1.content.0.text"), "look") &&
            streq(S(o, "messages.1.content.1.image_url.url"), "data:image/jpeg;base64,/9j/4A==") &&
            streq(S(o, "messages.1.content.2.image_url.url"), "https://x.test/a.png"),
        "text and image blocks -> parts (data URL, url)");
  CHECK(streq(S(o, "messages.2.role"), "assistant") && streq(S(o, "messages.2.content"), "Checking.") &&
            streq(S(o, "messages.2.tool_calls.0.id"), "toolu_1") &&
            streq(S(o, "messages.2.tool_calls.0.function.name"), "search"),
        "assistant text + tool_use -> content + tool_calls; thinking dropped");
  cJSON *args = P(S(o, "messages.2.tool_calls.0.function.arguments"));
  CHECK(streq(S(args, "q"), "cats") && N(args, "n") == 3, "tool_use input -> arguments JSON string");
  cJSON_Delete(args);
  CHECK(streq(S(o, "messages.3.role"), "tool") && streq(S(o, "messages.3.tool_call_id"), "toolu_1") &&
            streq(S(o, "messages.3.content"), "r1\nr2"),
        "tool_result -> tool message right after the call");
  CHECK(streq(S(o, "messages.4.role"), "user") && streq(S(o, "messages.4.content"), "and?"),
        "the rest of the user message follows as a string");
  CHECK(streq(S(o, "messages.5.content"), "Done."), "string content kept");
  CHECK(streq(S(o, "tools.0.type"), "function") && streq(S(o, "tools.0.function.name"), "search") &&
            streq(S(o, "tools.0.function.description"), "Search") &&
            streq(S(o, "tools.0.function.parameters.properties.q.type"), "string"),
        "tools -> functions");
  CHECK(streq(S(o, "tool_choice.type"), "function") && streq(S(o, "tool_choice.function.name"), "search") &&
            cJSON_IsFalse(G(o, "parallel_tool_calls")),
        "tool_choice tool -> function; disable_parallel_tool_use -> parallel_tool_calls false");
  cJSON_Delete(o);
  free(s);
  cJSON_Delete(req);

  const char *tcs[][2] = {{"auto", "auto"}, {"any", "required"}, {"none", "none"}};
  for (int i = 0; i < 3; i++) {
    char b[256];
    snprintf(b, sizeof b,
             "{\"max_tokens\":5,\"system\":\"sys\",\"tool_choice\":{\"type\":\"%s\"},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             tcs[i][0]);
    req = P(b);
    s = claude_request_to_openai(req, "g", err, sizeof err);
    o = P(s);
    CHECK(streq(S(o, "tool_choice"), tcs[i][1]), "tool_choice %s -> %s", tcs[i][0], tcs[i][1]);
    if (i == 0)
      CHECK(streq(S(o, "messages.0.content"), "sys") && !G(o, "stream") && !G(o, "stream_options"),
            "system string; no stream fields when not streaming");
    cJSON_Delete(o);
    free(s);
    cJSON_Delete(req);
  }

  struct {
    const char *body, *want;
  } bad[] = {
      {"\"str\"", "JSON object"},
      {"{\"messages\":{}}", "messages"},
      {"{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "'role'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "'content'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}", "video"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}", "'type'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\"}}]}]}", "source"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]}", "tool_use_id"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"a\",\"content\":4}]}]}",
       "must be a string"},
      {"{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"name\":\"f\"}]}]}", "'id'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"system\":7}", "system"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"w\"}]}",
       "server tools"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"auto\"}", "tool_choice"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":{\"type\":\"tool\"}}", "tool_choice"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop_sequences\":\"x\"}", "string"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}", "stream"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "max_tokens"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    req = P(bad[i].body);
    err[0] = 0;
    s = claude_request_to_openai(req, "g", err, sizeof err);
    CHECK(!s && strstr(err, bad[i].want), "bad Anthropic request %zu refused: %s", i, err);
    free(s);
    cJSON_Delete(req);
  }
}

/* ---- claude: OpenAI response -> Anthropic response ---- */

static void test_claude_response_from_openai(void)
{
  char err[256] = "";
  struct usage u;
  const char *body =
      "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o\","
      "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Sure.\","
      "\"reasoning_content\":\"think\",\"tool_calls\":[{\"id\":\"call_9\",\"type\":\"function\","
      "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":[1,2]}\"}},{\"id\":\"call_10\","
      "\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"oops\"}}]},"
      "\"finish_reason\":\"tool_calls\"}],"
      "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":50,\"total_tokens\":1050,"
      "\"prompt_tokens_details\":{\"cached_tokens\":600}}}";
  char *s = claude_response_from_openai(body, strlen(body), "claude-alias", &u, err, sizeof err);
  cJSON *o = P(s);
  CHECK(o != NULL, "an OpenAI response converts (%s)", s ? "" : err);
  CHECK(streq(S(o, "id"), "msg_chatcmpl-abc") && streq(S(o, "type"), "message") &&
            streq(S(o, "role"), "assistant") && streq(S(o, "model"), "claude-alias"),
        "id, type message, role, model shown as the caller's");
  CHECK(SZ(o, "content") == 4, "thinking, text, two tool_use (%d)", SZ(o, "content"));
  CHECK(streq(S(o, "content.0.type"), "thinking") && streq(S(o, "content.0.thinking"), "think"),
        "reasoning_content -> thinking block");
  CHECK(streq(S(o, "content.1.type"), "text") && streq(S(o, "content.1.text"), "Sure."), "text block");
  CHECK(streq(S(o, "content.2.type"), "tool_use") && streq(S(o, "content.2.id"), "call_9") &&
            streq(S(o, "content.2.name"), "f") && N(o, "content.2.input.a.1") == 2,
        "tool_calls -> tool_use with parsed input");
  CHECK(cJSON_IsObject(G(o, "content.3.input")) && SZ(o, "content.3.input") == 0,
        "unparseable arguments -> input {}");
  CHECK(streq(S(o, "stop_reason"), "tool_use") && cJSON_IsNull(G(o, "stop_sequence")), "tool_calls -> tool_use");
  CHECK(N(o, "usage.input_tokens") == 400 && N(o, "usage.cache_read_input_tokens") == 600 &&
            N(o, "usage.output_tokens") == 50,
        "usage: input = prompt - cached, cache_read = cached");
  CHECK(u.prompt_tokens == 1000 && u.cached_tokens == 600 && u.completion_tokens == 50,
        "struct usage keeps OpenAI's meaning (prompt includes cached)");
  cJSON_Delete(o);
  free(s);

  const char *map[][2] = {{"stop", "end_turn"}, {"length", "max_tokens"}, {"tool_calls", "tool_use"},
                          {"content_filter", "refusal"}, {"function_call", "tool_use"}};
  for (int i = 0; i < 5; i++) {
    char b[256];
    snprintf(b, sizeof b,
             "{\"id\":\"x\",\"model\":\"m\",\"choices\":[{\"message\":{\"content\":\"a\"},\"finish_reason\":\"%s\"}]}",
             map[i][0]);
    s = claude_response_from_openai(b, strlen(b), NULL, &u, err, sizeof err);
    o = P(s);
    CHECK(streq(S(o, "stop_reason"), map[i][1]), "finish_reason %s -> %s", map[i][0], map[i][1]);
    if (i == 0)
      CHECK(streq(S(o, "model"), "m") && SZ(o, "content") == 1 && N(o, "usage.input_tokens") == 0,
            "model from the response when the caller gives none; missing usage is zero");
    cJSON_Delete(o);
    free(s);
  }
  const char *bad[][2] = {
      {"{\"error\":{\"message\":\"Rate limit\",\"type\":\"x\"}}", "Rate limit"},
      {"{\"choices\":[]}", "choices[0].message"},
      {"{\"choices\":[{\"message\":\"hi\"}]}", "choices[0].message"},
      {"<html>", "not a JSON object"},
  };
  for (int i = 0; i < 4; i++) {
    err[0] = 0;
    s = claude_response_from_openai(bad[i][0], strlen(bad[i][0]), NULL, &u, err, sizeof err);
    CHECK(!s && strstr(err, bad[i][1]), "bad OpenAI response %d refused: %s", i, err);
    free(s);
  }
}

/* ---- claude: OpenAI stream -> Anthropic events ---- */

static int feed_o2c(struct openai_to_claude_stream *st, const char *data, struct buf *out)
{
  char err[256];
  return claude_stream_from_openai_feed(st, data, strlen(data), out, err, sizeof err);
}

#define CHUNK(delta, finish)                                                                       \
  "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\","  \
  "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}"

static void test_claude_stream_from_openai(void)
{
  struct openai_to_claude_stream st;
  struct buf out;
  buf_init(&out, 1 << 20);
  claude_stream_from_openai_init(&st, "claude-alias", 77);
  int rc = 0;
  rc |= feed_o2c(&st, CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{\"reasoning_content\":\"hm\"}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{\"content\":\"Hi\"}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{\"content\":\" there\"}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                            "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}", "null"), &out);
  rc |= feed_o2c(&st, CHUNK("{}", "\"tool_calls\""), &out);
  rc |= feed_o2c(&st, "{\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":120,"
                      "\"completion_tokens\":30,\"prompt_tokens_details\":{\"cached_tokens\":100}}}", &out);
  CHECK(!strstr(out.data, "message_stop"), "no message_stop before [DONE]");
  rc |= feed_o2c(&st, "[DONE]", &out);
  CHECK(rc == 0 && st.finished, "every chunk accepted, finished at [DONE]");
  cJSON *f = claude_frames(out.data);
  CHECK(f != NULL, "every frame is event: NAME + data with type NAME");
  const char *want[] = {"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                        "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
                        "message_stop"};
  int nw = (int)(sizeof want / sizeof want[0]);
  bool seq = SZ(f, "") == nw;
  for (int i = 0; seq && i < nw; i++) {
    char path[32];
    snprintf(path, sizeof path, "%d.type", i);
    seq = streq(S(f, path), want[i]);
  }
  CHECK(seq, "frame sequence: start, thinking, text, tool, tool, delta, stop (%d frames)", SZ(f, ""));
  CHECK(streq(S(f, "0.message.id"), "msg_chatcmpl-1") && streq(S(f, "0.message.role"), "assistant") &&
            streq(S(f, "0.message.model"), "claude-alias") && SZ(f, "0.message.content") == 0 &&
            N(f, "0.message.usage.input_tokens") == 77,
        "message_start skeleton with the caller's model and input estimate");
  CHECK(N(f, "1.index") == 0 && streq(S(f, "1.content_block.type"), "thinking") &&
            streq(S(f, "2.delta.type"), "thinking_delta") && streq(S(f, "2.delta.thinking"), "hm"),
        "reasoning -> thinking block 0");
  CHECK(N(f, "4.index") == 1 && streq(S(f, "4.content_block.type"), "text") &&
            streq(S(f, "5.delta.text"), "Hi") && streq(S(f, "6.delta.text"), " there") && N(f, "6.index") == 1 &&
            N(f, "7.index") == 1,
        "content -> text block 1 with text_delta");
  CHECK(N(f, "8.index") == 2 && streq(S(f, "8.content_block.type"), "tool_use") &&
            streq(S(f, "8.content_block.id"), "call_1") && streq(S(f, "8.content_block.name"), "f") &&
            cJSON_IsObject(G(f, "8.content_block.input")),
        "tool call -> tool_use block 2 with id and name");
  CHECK(streq(S(f, "9.delta.type"), "input_json_delta") && streq(S(f, "9.delta.partial_json"), "{\"a\":") &&
            streq(S(f, "10.delta.partial_json"), "1}") && N(f, "10.index") == 2,
        "argument fragments -> input_json_delta");
  CHECK(N(f, "12.index") == 3 && streq(S(f, "12.content_block.id"), "call_2") &&
            streq(S(f, "13.delta.partial_json"), "{}") && N(f, "14.index") == 3,
        "a second tool call opens block 3");
  CHECK(streq(S(f, "15.delta.stop_reason"), "tool_use") && N(f, "15.usage.output_tokens") == 30 &&
            N(f, "15.usage.input_tokens") == 20 && N(f, "15.usage.cache_read_input_tokens") == 100,
        "message_delta: stop_reason, output tokens, input without cached");
  CHECK(st.usage.prompt_tokens == 120 && st.usage.cached_tokens == 100 && st.usage.completion_tokens == 30,
        "usage recorded");
  cJSON_Delete(f);
  size_t len = out.len;
  CHECK(feed_o2c(&st, CHUNK("{\"content\":\"late\"}", "null"), &out) == 0 && out.len == len,
        "chunks after the end write nothing");

  /* end of body without [DONE] after a finish_reason; no usage: the estimate stays */
  buf_reset(&out);
  claude_stream_from_openai_init(&st, NULL, 5);
  feed_o2c(&st, CHUNK("{\"content\":\"x\"}", "null"), &out);
  feed_o2c(&st, CHUNK("{}", "\"length\""), &out);
  CHECK(claude_stream_from_openai_finish(&st, &out) == 0 && st.finished, "finish after a finish_reason");
  f = claude_frames(out.data);
  CHECK(f && SZ(f, "") == 6 && streq(S(f, "0.message.model"), "gpt-4o") &&
            streq(S(f, "4.delta.stop_reason"), "max_tokens") && N(f, "4.usage.input_tokens") == 5 &&
            streq(S(f, "5.type"), "message_stop"),
        "length -> max_tokens; model from the chunks; estimate used without usage");
  cJSON_Delete(f);
  CHECK(claude_stream_from_openai_finish(&st, &out) == 0, "finish twice is harmless");

  /* a stream cut before any finish_reason */
  buf_reset(&out);
  claude_stream_from_openai_init(&st, "c", 5);
  feed_o2c(&st, CHUNK("{\"content\":\"x\"}", "null"), &out);
  len = out.len;
  CHECK(claude_stream_from_openai_finish(&st, &out) == -1 && out.len == len && !st.finished,
        "cut stream: finish returns -1 and writes nothing");
  CHECK(claude_error_event(&out, 529, "upstream went away") == 0, "the caller adds an error event");
  f = claude_frames(out.data);
  CHECK(f && streq(S(f, "3.error.type"), "overloaded_error") && streq(S(f, "3.error.message"), "upstream went away"),
        "error event after the partial message");
  cJSON_Delete(f);

  /* in-band OpenAI error */
  buf_reset(&out);
  claude_stream_from_openai_init(&st, "c", 5);
  feed_o2c(&st, "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}", &out);
  f = claude_frames(out.data);
  CHECK(st.failed && f && SZ(f, "") == 1 && streq(S(f, "0.type"), "error") && streq(S(f, "0.error.message"), "boom"),
        "an in-band OpenAI error -> an Anthropic error event");
  cJSON_Delete(f);

  /* bad chunks */
  char err[256];
  buf_reset(&out);
  claude_stream_from_openai_init(&st, "c", 5);
  CHECK(claude_stream_from_openai_feed(&st, "{bad", 4, &out, err, sizeof err) == -1 && out.len == 0 &&
            strstr(err, "not a JSON object"),
        "invalid chunk refused: %s", err);
  CHECK(claude_stream_from_openai_feed(&st, "[DONE]", 6, &out, err, sizeof err) == -1 && out.len == 0,
        "[DONE] before any chunk refused");
  rc = feed_o2c(&st, "{\"choices\":[{\"delta\":{\"content\":7,\"tool_calls\":\"x\"},\"finish_reason\":3}]}", &out);
  f = claude_frames(out.data);
  CHECK(rc == 0 && f && SZ(f, "") == 1 && !st.stop_reason, "wrongly typed delta fields are skipped");
  cJSON_Delete(f);
  struct buf small;
  buf_init(&small, 30);
  claude_stream_from_openai_init(&st, "c", 5);
  CHECK(claude_stream_from_openai_feed(&st, CHUNK("{\"content\":\"x\"}", "null"),
                                       strlen(CHUNK("{\"content\":\"x\"}", "null")), &small, err, sizeof err) == -1 &&
            small.len == 0 && !st.started,
        "a full buffer: nothing written, state unchanged");
  buf_free(&small);
  buf_free(&out);
}

static void test_claude_errors(void)
{
  struct {
    int status;
    const char *type;
  } map[] = {{400, "invalid_request_error"}, {401, "authentication_error"}, {402, "billing_error"},
             {403, "permission_error"}, {404, "not_found_error"}, {413, "request_too_large"},
             {422, "invalid_request_error"}, {429, "rate_limit_error"}, {500, "api_error"},
             {502, "api_error"}, {503, "overloaded_error"}, {529, "overloaded_error"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    CHECK(streq(claude_error_type(map[i].status), map[i].type), "status %d -> %s", map[i].status, map[i].type);
  char *b = claude_error_body(429, "slow \"down\"");
  cJSON *o = P(b);
  CHECK(streq(S(o, "type"), "error") && streq(S(o, "error.type"), "rate_limit_error") &&
            streq(S(o, "error.message"), "slow \"down\"") && SZ(o, "") == 2,
        "error body shape");
  cJSON_Delete(o);
  free(b);
  struct buf out;
  buf_init(&out, 1024);
  buf_append_str(&out, "x");
  CHECK(claude_error_event(&out, 401, "no key") == 0 &&
            !strcmp(out.data, "xevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
                              "\"message\":\"no key\"}}\n\n"),
        "error event frame appended");
  buf_free(&out);
  buf_init(&out, 10);
  CHECK(claude_error_event(&out, 500, "m") == -1 && out.len == 0, "a full buffer gives -1 and stays empty");
  buf_free(&out);
}

/* ---- gemini ---- */

static void test_gemini_paths_and_errors(void)
{
  char p[128];
  CHECK(gemini_model_path(p, sizeof p, "gemini-2.5-pro", false) > 0 &&
            !strcmp(p, "/v1beta/models/gemini-2.5-pro:generateContent"),
        "generateContent path: %s", p);
  CHECK(gemini_model_path(p, sizeof p, "models/gemini-2.0-flash", true) > 0 &&
            !strcmp(p, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"),
        "stream path, models/ prefix dropped: %s", p);
  CHECK(gemini_model_path(p, sizeof p, "a/../b", false) == -1 && gemini_model_path(p, sizeof p, "x?y", false) == -1 &&
            gemini_model_path(p, sizeof p, "", false) == -1 && gemini_model_path(p, sizeof p, NULL, false) == -1 &&
            gemini_model_path(p, 20, "gemini-2.5-pro", false) == -1,
        "unsafe, empty or too long model names refused");
  char m[64];
  bool st = true;
  CHECK(gemini_parse_path("/v1beta/models/gemini-pro:generateContent", m, sizeof m, &st) == 0 &&
            !strcmp(m, "gemini-pro") && !st,
        "parse generateContent path");
  CHECK(gemini_parse_path("/v1beta/models/g-1.5:streamGenerateContent?alt=sse&key=x", m, sizeof m, &st) == 0 &&
            !strcmp(m, "g-1.5") && st,
        "parse streamGenerateContent path with query");
  CHECK(gemini_parse_path("/v1beta/models/g:embedContent", m, sizeof m, &st) == -1 &&
            gemini_parse_path("/v1beta/models/:generateContent", m, sizeof m, &st) == -1 &&
            gemini_parse_path("/v1beta/models/a%2f:generateContent", m, sizeof m, &st) == -1 &&
            gemini_parse_path("/v1/chat/completions", m, sizeof m, &st) == -1 &&
            gemini_parse_path("/v1beta/models/gemini-pro:generateContentX", m, sizeof m, &st) == -1,
        "other paths refused");
  struct {
    int status;
    const char *s;
  } map[] = {{400, "INVALID_ARGUMENT"}, {401, "UNAUTHENTICATED"}, {403, "PERMISSION_DENIED"},
             {404, "NOT_FOUND"}, {413, "INVALID_ARGUMENT"}, {429, "RESOURCE_EXHAUSTED"},
             {500, "INTERNAL"}, {502, "INTERNAL"}, {503, "UNAVAILABLE"}, {504, "DEADLINE_EXCEEDED"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    CHECK(streq(gemini_error_status(map[i].status), map[i].s), "status %d -> %s", map[i].status, map[i].s);
  char *b = gemini_error_body(429, "quota \"gone\"");
  cJSON *o = P(b);
  CHECK(N(o, "error.code") == 429 && streq(S(o, "error.status"), "RESOURCE_EXHAUSTED") &&
            streq(S(o, "error.message"), "quota \"gone\"") && SZ(o, "") == 1,
        "google.rpc error body");
  cJSON_Delete(o);
  free(b);
  struct buf out;
  buf_init(&out, 1024);
  CHECK(gemini_error_event(&out, 500, "x") == 0 &&
            !strcmp(out.data, "data: {\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}\r\n\r\n"),
        "error frame");
  buf_free(&out);
  const char *fm[][2] = {{"STOP", "stop"}, {"MAX_TOKENS", "length"}, {"SAFETY", "content_filter"},
                         {"RECITATION", "content_filter"}, {"OTHER", "stop"}};
  for (int i = 0; i < 5; i++)
    CHECK(streq(gemini_finish_to_openai(fm[i][0]), fm[i][1]), "finishReason %s -> %s", fm[i][0], fm[i][1]);
  CHECK(streq(gemini_finish_from_openai("length"), "MAX_TOKENS") &&
            streq(gemini_finish_from_openai("content_filter"), "SAFETY") &&
            streq(gemini_finish_from_openai("tool_calls"), "STOP") && streq(gemini_finish_from_openai(NULL), "STOP"),
        "finish_reason -> finishReason");
}

static void test_gemini_request_from_openai(void)
{
  char err[256] = "";
  const char *body =
      "{\"model\":\"gpt\",\"max_tokens\":256,\"temperature\":0.7,\"top_p\":0.95,\"seed\":4,\"stop\":[\"X\"],"
      "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"r\",\"schema\":{\"type\":\"object\","
      "\"additionalProperties\":false,\"properties\":{\"a\":{\"type\":\"string\"}}}}},"
      "\"messages\":[{\"role\":\"system\",\"content\":\"Sys one.\"},{\"role\":\"developer\",\"content\":\"Sys two.\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"see\"},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/webp;base64,UklGRg==\"}},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://h.test/p/x.PNG?s=1\"}}]},"
      "{\"role\":\"assistant\",\"content\":\"calling\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
      "\"function\":{\"name\":\"wx\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},"
      "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"{\\\"t\\\":3}\"},"
      "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"plain\"},"
      "{\"role\":\"user\",\"content\":\"ok\"}],"
      "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"wx\",\"description\":\"Weather\",\"parameters\":"
      "{\"type\":\"object\",\"$schema\":\"x\",\"properties\":{\"city\":{\"type\":\"string\"}},\"additionalProperties\":false}}},"
      "{\"type\":\"function\",\"function\":{\"name\":\"noargs\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],"
      "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"wx\"}}}";
  cJSON *req = P(body);
  char *s = gemini_request_from_openai(req, err, sizeof err);
  cJSON *o = P(s);
  CHECK(o != NULL, "an OpenAI request converts to Gemini (%s)", s ? "" : err);
  CHECK(!G(o, "model"), "no model in the body (it is in the URL)");
  CHECK(streq(S(o, "systemInstruction.parts.0.text"), "Sys one.\nSys two."), "system -> systemInstruction");
  CHECK(SZ(o, "contents") == 3, "user, model, user (tool results merged with the next user turn) (%d)",
        SZ(o, "contents"));
  CHECK(streq(S(o, "contents.0.role"), "user") && streq(S(o, "contents.0.parts.0.text"), "see") &&
            streq(S(o, "contents.0.parts.1.inlineData.mimeType"), "image/webp") &&
            streq(S(o, "contents.0.parts.1.inlineData.data"), "UklGRg==") &&
            streq(S(o, "contents.0.parts.2.fileData.fileUri"), "https://h.test/p/x.PNG?s=1") &&
            streq(S(o, "contents.0.parts.2.fileData.mimeType"), "image/png"),
        "text, inlineData from a data URL, fileData from an http URL");
  CHECK(streq(S(o, "contents.1.role"), "model") && streq(S(o, "contents.1.parts.0.text"), "calling") &&
            streq(S(o, "contents.1.parts.1.functionCall.name"), "wx") &&
            streq(S(o, "contents.1.parts.1.functionCall.args.city"), "Oslo"),
        "assistant -> model with functionCall args parsed");
  CHECK(streq(S(o, "contents.2.role"), "user") && SZ(o, "contents.2.parts") == 3 &&
            streq(S(o, "contents.2.parts.0.functionResponse.name"), "wx") &&
            N(o, "contents.2.parts.0.functionResponse.response.t") == 3 &&
            streq(S(o, "contents.2.parts.1.functionResponse.response.content"), "plain") &&
            streq(S(o, "contents.2.parts.2.text"), "ok"),
        "tool results -> functionResponse named after the call (JSON object kept, text wrapped)");
  CHECK(streq(S(o, "tools.0.functionDeclarations.0.name"), "wx") &&
            streq(S(o, "tools.0.functionDeclarations.0.description"), "Weather") &&
            streq(S(o, "tools.0.functionDeclarations.0.parameters.properties.city.type"), "string") &&
            !G(o, "tools.0.functionDeclarations.0.parameters.additionalProperties") &&
            !G(o, "tools.0.functionDeclarations.0.parameters.$schema"),
        "tools -> functionDeclarations with refused schema keywords dropped");
  CHECK(streq(S(o, "tools.0.functionDeclarations.1.name"), "noargs") &&
            !G(o, "tools.0.functionDeclarations.1.parameters"),
        "an empty-properties schema is left out");
  CHECK(streq(S(o, "toolConfig.functionCallingConfig.mode"), "ANY") &&
            streq(S(o, "toolConfig.functionCallingConfig.allowedFunctionNames.0"), "wx"),
        "named tool_choice -> ANY with allowedFunctionNames");
  CHECK(N(o, "generationConfig.temperature") == 0.7 && N(o, "generationConfig.topP") == 0.95 &&
            N(o, "generationConfig.maxOutputTokens") == 256 && N(o, "generationConfig.seed") == 4 &&
            streq(S(o, "generationConfig.stopSequences.0"), "X"),
        "generationConfig temperature, topP, maxOutputTokens, seed, stopSequences");
  CHECK(streq(S(o, "generationConfig.responseMimeType"), "application/json") &&
            streq(S(o, "generationConfig.responseSchema.properties.a.type"), "string") &&
            !G(o, "generationConfig.responseSchema.additionalProperties"),
        "json_schema -> responseMimeType + cleaned responseSchema");
  cJSON_Delete(o);
  free(s);
  cJSON_Delete(req);

  const char *tcs[][2] = {{"\"auto\"", "AUTO"}, {"\"none\"", "NONE"}, {"\"required\"", "ANY"}};
  for (int i = 0; i < 3; i++) {
    char b[300];
    snprintf(b, sizeof b,
             "{\"tool_choice\":%s,\"stop\":\"S\",\"response_format\":{\"type\":\"json_object\"},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"user\",\"content\":\"again\"}]}",
             tcs[i][0]);
    req = P(b);
    s = gemini_request_from_openai(req, err, sizeof err);
    o = P(s);
    CHECK(streq(S(o, "toolConfig.functionCallingConfig.mode"), tcs[i][1]), "tool_choice %s -> %s", tcs[i][0], tcs[i][1]);
    if (i == 0)
      CHECK(SZ(o, "contents") == 1 && SZ(o, "contents.0.parts") == 2 && !G(o, "systemInstruction") &&
                streq(S(o, "generationConfig.stopSequences.0"), "S") &&
                streq(S(o, "generationConfig.responseMimeType"), "application/json") &&
                !G(o, "generationConfig.responseSchema") && !G(o, "generationConfig.maxOutputTokens"),
            "same-role turns merged; stop string; json_object without schema");
    cJSON_Delete(o);
    free(s);
    cJSON_Delete(req);
  }
  req = P("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
  s = gemini_request_from_openai(req, err, sizeof err);
  o = P(s);
  CHECK(o && !G(o, "generationConfig") && !G(o, "tools") && !G(o, "toolConfig"), "a minimal request has no extras");
  cJSON_Delete(o);
  free(s);
  cJSON_Delete(req);

  struct {
    const char *body, *want;
  } bad[] = {
      {"7", "JSON object"},
      {"{\"messages\":null}", "'messages'"},
      {"{\"messages\":[\"x\"]}", "messages[0]"},
      {"{\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}", "'bot'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":{}}]}", "'content'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\"}]}]}", "'file'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:;base64,\"}}]}]}", "data URL"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"file:///etc/passwd\"}}]}]}", "http(s)"},
      {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}", "not a JSON object"},
      {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{}}]}]}", "function.name"},
      {"{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":\"x\"}]}", "'tool_calls'"},
      {"{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"zz\",\"content\":\"x\"}]}", "earlier tool call"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}", "function.name"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":\"x\"}", "'tools'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":5}", "'tool_choice'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":\"1\"}", "'top_p'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}", "'max_tokens'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":{}}", "'stop'"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"yaml\"}}", "response_format"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":\"json\"}", "response_format"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    req = P(bad[i].body);
    err[0] = 0;
    s = gemini_request_from_openai(req, err, sizeof err);
    CHECK(!s && strstr(err, bad[i].want), "bad request %zu refused for Gemini: %s", i, err);
    free(s);
    cJSON_Delete(req);
  }
}

static void test_gemini_response_to_openai(void)
{
  char err[256] = "";
  struct usage u;
  const char *body =
      "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"why\",\"thought\":true},"
      "{\"text\":\"It is \"},{\"text\":\"sunny.\"},{\"functionCall\":{\"name\":\"wx\",\"args\":{\"c\":\"Oslo\"}}},"
      "{\"functionCall\":{\"id\":\"fc-2\",\"name\":\"t\"}}]},\"finishReason\":\"STOP\",\"index\":0}],"
      "\"usageMetadata\":{\"promptTokenCount\":900,\"candidatesTokenCount\":40,\"thoughtsTokenCount\":10,"
      "\"cachedContentTokenCount\":512,\"totalTokenCount\":950},\"modelVersion\":\"gemini-2.5-flash\","
      "\"responseId\":\"rid1\"}";
  char *s = gemini_response_to_openai(body, strlen(body), NULL, 1234, &u, err, sizeof err);
  cJSON *o = P(s);
  CHECK(o != NULL, "a Gemini response converts (%s)", s ? "" : err);
  CHECK(streq(S(o, "id"), "chatcmpl-rid1") && streq(S(o, "object"), "chat.completion") && N(o, "created") == 1234 &&
            streq(S(o, "model"), "gemini-2.5-flash"),
        "id from responseId, model from modelVersion");
  CHECK(streq(S(o, "choices.0.message.content"), "It is sunny.") &&
            streq(S(o, "choices.0.message.reasoning_content"), "why"),
        "text joined; thought parts -> reasoning_content");
  CHECK(SZ(o, "choices.0.message.tool_calls") == 2 &&
            streq(S(o, "choices.0.message.tool_calls.0.id"), "call_0") &&
            streq(S(o, "choices.0.message.tool_calls.0.function.name"), "wx") &&
            streq(S(o, "choices.0.message.tool_calls.0.function.arguments"), "{\"c\":\"Oslo\"}") &&
            streq(S(o, "choices.0.message.tool_calls.1.id"), "fc-2") &&
            streq(S(o, "choices.0.message.tool_calls.1.function.arguments"), "{}"),
        "functionCall -> tool_calls (generated or given id, args as JSON string)");
  CHECK(streq(S(o, "choices.0.finish_reason"), "tool_calls"), "a functionCall makes finish_reason tool_calls");
  CHECK(N(o, "usage.prompt_tokens") == 900 && N(o, "usage.completion_tokens") == 50 &&
            N(o, "usage.prompt_tokens_details.cached_tokens") == 512 && N(o, "usage.total_tokens") == 950,
        "usage: prompt, candidates + thoughts, cached");
  CHECK(u.prompt_tokens == 900 && u.completion_tokens == 50 && u.cached_tokens == 512, "struct usage filled");
  cJSON_Delete(o);
  free(s);

  const char *map[][2] = {{"STOP", "stop"}, {"MAX_TOKENS", "length"}, {"SAFETY", "content_filter"},
                          {"RECITATION", "content_filter"}};
  for (int i = 0; i < 4; i++) {
    char b[256];
    snprintf(b, sizeof b,
             "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":\"%s\"}]}", map[i][0]);
    s = gemini_response_to_openai(b, strlen(b), "alias", 0, &u, err, sizeof err);
    o = P(s);
    CHECK(streq(S(o, "choices.0.finish_reason"), map[i][1]) && streq(S(o, "model"), "alias") &&
              !G(o, "choices.0.message.tool_calls"),
          "finishReason %s -> %s", map[i][0], map[i][1]);
    cJSON_Delete(o);
    free(s);
  }
  const char *blocked = "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":8}}";
  s = gemini_response_to_openai(blocked, strlen(blocked), "g", 0, &u, err, sizeof err);
  o = P(s);
  CHECK(streq(S(o, "choices.0.finish_reason"), "content_filter") && streq(S(o, "choices.0.message.content"), "") &&
            u.prompt_tokens == 8,
        "a blocked prompt -> content_filter with empty content");
  cJSON_Delete(o);
  free(s);
  const char *bad[][2] = {
      {"{\"error\":{\"code\":400,\"message\":\"API key not valid\",\"status\":\"INVALID_ARGUMENT\"}}", "API key not valid"},
      {"{\"candidates\":[]}", "no candidates"},
      {"{\"candidates\":\"x\"}", "no candidates"},
      {"nope", "not a JSON object"},
  };
  for (int i = 0; i < 4; i++) {
    err[0] = 0;
    s = gemini_response_to_openai(bad[i][0], strlen(bad[i][0]), NULL, 0, &u, err, sizeof err);
    CHECK(!s && strstr(err, bad[i][1]), "bad Gemini response %d refused: %s", i, err);
    free(s);
  }
  const char *odd = "{\"candidates\":[{\"content\":{\"parts\":[5,{\"text\":1},{\"functionCall\":\"f\"}]},\"finishReason\":9}],"
                    "\"usageMetadata\":{\"promptTokenCount\":\"3\"}}";
  s = gemini_response_to_openai(odd, strlen(odd), NULL, 0, &u, err, sizeof err);
  o = P(s);
  CHECK(o && streq(S(o, "choices.0.message.content"), "") && streq(S(o, "choices.0.finish_reason"), "stop") &&
            u.prompt_tokens == 0,
        "wrongly typed parts and counts are skipped");
  cJSON_Delete(o);
  free(s);
}

static int feed_g2o(struct gemini_to_openai_stream *st, const char *data, struct buf *out)
{
  char err[256];
  return gemini_stream_to_openai_feed(st, data, strlen(data), out, err, sizeof err);
}

static void test_gemini_stream_to_openai(void)
{
  struct gemini_to_openai_stream st;
  struct buf out;
  buf_init(&out, 1 << 20);
  gemini_stream_to_openai_init(&st, "alias", true, 99);
  int rc = 0;
  rc |= feed_g2o(&st, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hm\",\"thought\":true}]}}],"
                      "\"modelVersion\":\"gemini-2.5\",\"responseId\":\"r9\"}", &out);
  rc |= feed_g2o(&st, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello\"}]}}],"
                      "\"usageMetadata\":{\"promptTokenCount\":7}}", &out);
  rc |= feed_g2o(&st, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\" world\"},"
                      "{\"functionCall\":{\"name\":\"f\",\"args\":{\"x\":1}}}]},\"finishReason\":\"STOP\"}],"
                      "\"usageMetadata\":{\"promptTokenCount\":7,\"candidatesTokenCount\":5,\"cachedContentTokenCount\":4}}", &out);
  CHECK(rc == 0 && !strstr(out.data, "[DONE]"), "frames accepted; no [DONE] before the end of the body");
  CHECK(gemini_stream_to_openai_finish(&st, &out) == 0 && st.finished, "finish at the end of the body");
  cJSON *f = oai_frames(out.data);
  CHECK(f && SZ(f, "") == 8, "role, thinking, 2 text, tool, finish, usage, DONE (%d)", SZ(f, ""));
  CHECK(streq(S(f, "0.id"), "chatcmpl-r9") && streq(S(f, "0.model"), "alias") && N(f, "0.created") == 99 &&
            streq(S(f, "0.choices.0.delta.role"), "assistant"),
        "first chunk: role assistant, caller's model");
  CHECK(streq(S(f, "1.choices.0.delta.reasoning_content"), "Hm") && streq(S(f, "2.choices.0.delta.content"), "Hello") &&
            streq(S(f, "3.choices.0.delta.content"), " world"),
        "thought -> reasoning_content, text -> content");
  CHECK(N(f, "4.choices.0.delta.tool_calls.0.index") == 0 && streq(S(f, "4.choices.0.delta.tool_calls.0.id"), "call_0") &&
            streq(S(f, "4.choices.0.delta.tool_calls.0.function.name"), "f") &&
            streq(S(f, "4.choices.0.delta.tool_calls.0.function.arguments"), "{\"x\":1}"),
        "functionCall -> one whole tool_calls entry");
  CHECK(streq(S(f, "5.choices.0.finish_reason"), "tool_calls"), "finish_reason tool_calls after a function call");
  CHECK(SZ(f, "6.choices") == 0 && N(f, "6.usage.prompt_tokens") == 7 && N(f, "6.usage.completion_tokens") == 5 &&
            N(f, "6.usage.prompt_tokens_details.cached_tokens") == 4,
        "usage chunk from the last usageMetadata");
  CHECK(streq(S(f, "7"), "[DONE]"), "[DONE] written by finish");
  CHECK(st.usage.prompt_tokens == 7 && st.usage.completion_tokens == 5 && st.usage.cached_tokens == 4, "usage recorded");
  cJSON_Delete(f);
  size_t len = out.len;
  CHECK(gemini_stream_to_openai_finish(&st, &out) == 0 && out.len == len, "finish twice writes nothing");

  /* MAX_TOKENS, no usage chunk when not asked */
  buf_reset(&out);
  gemini_stream_to_openai_init(&st, NULL, false, 1);
  feed_g2o(&st, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"finishReason\":\"MAX_TOKENS\"}],"
                "\"modelVersion\":\"gm\",\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":1}}", &out);
  gemini_stream_to_openai_finish(&st, &out);
  f = oai_frames(out.data);
  CHECK(f && SZ(f, "") == 4 && streq(S(f, "0.model"), "gm") && streq(S(f, "0.id"), "chatcmpl-gemini") &&
            streq(S(f, "2.choices.0.finish_reason"), "length") && streq(S(f, "3"), "[DONE]") &&
            !strstr(out.data, "\"usage\"") && st.usage.completion_tokens == 1,
        "MAX_TOKENS -> length; model from modelVersion; no usage chunk when not asked");
  cJSON_Delete(f);

  /* cut stream, then in-band error */
  buf_reset(&out);
  gemini_stream_to_openai_init(&st, "g", true, 1);
  feed_g2o(&st, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"par\"}]}}],\"usageMetadata\":{\"promptTokenCount\":3}}", &out);
  len = out.len;
  CHECK(gemini_stream_to_openai_finish(&st, &out) == -1 && out.len == len && !st.finished && st.usage.prompt_tokens == 3,
        "a cut stream: finish returns -1, writes nothing, usage so far kept");
  feed_g2o(&st, "{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}", &out);
  f = oai_frames(out.data);
  CHECK(st.failed && f && streq(S(f, "2.error.message"), "The model is overloaded.") &&
            streq(S(f, "2.error.type"), "UNAVAILABLE"),
        "an in-band Gemini error -> an in-band OpenAI error");
  CHECK(gemini_stream_to_openai_finish(&st, &out) == 0 && !strstr(out.data, "[DONE]"), "no [DONE] after an error");
  cJSON_Delete(f);

  /* blocked prompt in a stream */
  buf_reset(&out);
  gemini_stream_to_openai_init(&st, "g", false, 1);
  feed_g2o(&st, "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"}}", &out);
  CHECK(streq(st.finish_reason, "content_filter") && gemini_stream_to_openai_finish(&st, &out) == 0,
        "a blocked prompt ends with content_filter");

  char err[256];
  buf_reset(&out);
  gemini_stream_to_openai_init(&st, "g", false, 1);
  CHECK(gemini_stream_to_openai_feed(&st, "[DONE]", 6, &out, err, sizeof err) == -1 && out.len == 0 &&
            strstr(err, "not a JSON object"),
        "a non-JSON frame refused: %s", err);
  CHECK(gemini_stream_to_openai_feed(&st, NULL, 0, &out, err, sizeof err) == -1, "NULL frame refused");
  rc = feed_g2o(&st, "{\"candidates\":{\"x\":1},\"usageMetadata\":[1]}", &out);
  CHECK(rc == 0 && !st.finish_reason, "wrongly typed candidates are skipped");
  struct buf small;
  buf_init(&small, 20);
  gemini_stream_to_openai_init(&st, "g", false, 1);
  CHECK(gemini_stream_to_openai_feed(&st, "{\"candidates\":[]}", 17, &small, err, sizeof err) == -1 &&
            small.len == 0 && !st.started,
        "a full buffer: nothing written, state unchanged");
  buf_free(&small);
  buf_free(&out);
}

static void test_gemini_request_to_openai(void)
{
  char err[256] = "";
  const char *body =
      "{\"system_instruction\":{\"parts\":[{\"text\":\"Be kind.\"},{\"text\":\"Be brief.\"}]},"
      "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"look\"},{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"AAA=\"}},"
      "{\"fileData\":{\"mimeType\":\"image/jpeg\",\"fileUri\":\"https://f.test/1.jpg\"}}]},"
      "{\"role\":\"model\",\"parts\":[{\"text\":\"t\",\"thought\":true},{\"text\":\"Let me see.\"},"
      "{\"functionCall\":{\"name\":\"wx\",\"args\":{\"c\":\"Rome\"}}},{\"functionCall\":{\"name\":\"wx\",\"args\":{\"c\":\"Bern\"}}}]},"
      "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"wx\",\"response\":{\"t\":20}}},"
      "{\"functionResponse\":{\"name\":\"wx\",\"response\":{\"t\":9}}}]},"
      "{\"parts\":[{\"text\":\"thanks\"}]}],"
      "\"generationConfig\":{\"temperature\":0.3,\"topP\":0.5,\"maxOutputTokens\":99,\"stopSequences\":[\"Z\"],"
      "\"candidateCount\":2,\"responseMimeType\":\"application/json\",\"responseSchema\":{\"type\":\"OBJECT\"}},"
      "\"tools\":[{\"functionDeclarations\":[{\"name\":\"wx\",\"description\":\"W\",\"parameters\":{\"type\":\"OBJECT\","
      "\"properties\":{\"c\":{\"type\":\"STRING\"}}}},{\"name\":\"bare\"}]}],"
      "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"wx\"]}}}";
  cJSON *req = P(body);
  char *s = gemini_request_to_openai(req, "gpt-4o", true, err, sizeof err);
  cJSON *o = P(s);
  CHECK(o != NULL, "a Gemini request converts to OpenAI (%s)", s ? "" : err);
  CHECK(streq(S(o, "model"), "gpt-4o") && cJSON_IsTrue(G(o, "stream")) &&
            cJSON_IsTrue(G(o, "stream_options.include_usage")),
        "model from the caller; a stream path sets stream and include_usage");
  CHECK(SZ(o, "messages") == 6, "system, user, assistant, tool, tool, user (%d)", SZ(o, "messages"));
  CHECK(streq(S(o, "messages.0.role"), "system") && streq(S(o, "messages.0.content"), "Be kind.\nBe brief."),
        "system_instruction (snake case) -> system message");
  CHECK(streq(S(o, "messages.1.content.0.text"), "look") &&
            streq(S(o, "messages.1.content.1.image_url.url"), "data:image/png;base64,AAA=") &&
            streq(S(o, "messages.1.content.2.image_url.url"), "https://f.test/1.jpg"),
        "inlineData -> data URL, fileData -> URL");
  CHECK(streq(S(o, "messages.2.role"), "assistant") && streq(S(o, "messages.2.content"), "Let me see.") &&
            SZ(o, "messages.2.tool_calls") == 2 && streq(S(o, "messages.2.tool_calls.0.id"), "call_0") &&
            streq(S(o, "messages.2.tool_calls.1.id"), "call_1") &&
            streq(S(o, "messages.2.tool_calls.0.function.arguments"), "{\"c\":\"Rome\"}"),
        "model turn -> assistant with tool_calls (thoughts dropped)");
  CHECK(streq(S(o, "messages.3.role"), "tool") && streq(S(o, "messages.3.tool_call_id"), "call_0") &&
            streq(S(o, "messages.3.content"), "{\"t\":20}") && streq(S(o, "messages.4.tool_call_id"), "call_1"),
        "functionResponses matched to their calls in order");
  CHECK(streq(S(o, "messages.5.role"), "user") && streq(S(o, "messages.5.content"), "thanks"), "no role means user");
  CHECK(N(o, "temperature") == 0.3 && N(o, "top_p") == 0.5 && N(o, "max_tokens") == 99 && N(o, "n") == 2 &&
            streq(S(o, "stop.0"), "Z"),
        "generationConfig -> temperature, top_p, max_tokens, n, stop");
  CHECK(streq(S(o, "response_format.type"), "json_schema") &&
            streq(S(o, "response_format.json_schema.schema.type"), "OBJECT"),
        "responseMimeType + responseSchema -> json_schema");
  CHECK(SZ(o, "tools") == 2 && streq(S(o, "tools.0.function.name"), "wx") &&
            streq(S(o, "tools.0.function.parameters.properties.c.type"), "STRING") &&
            streq(S(o, "tools.1.function.parameters.type"), "object"),
        "functionDeclarations -> tools");
  CHECK(streq(S(o, "tool_choice.function.name"), "wx"), "ANY with one allowed name -> named tool_choice");
  cJSON_Delete(o);
  free(s);
  cJSON_Delete(req);

  req = P("{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],\"generationConfig\":{\"responseMimeType\":\"application/json\"},"
          "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"NONE\"}}}");
  s = gemini_request_to_openai(req, "m", false, err, sizeof err);
  o = P(s);
  CHECK(o && !G(o, "stream") && streq(S(o, "response_format.type"), "json_object") &&
            streq(S(o, "tool_choice"), "none") && streq(S(o, "messages.0.content"), "hi"),
        "non-stream; json_object; NONE -> none");
  cJSON_Delete(o);
  free(s);
  cJSON_Delete(req);

  struct {
    const char *body, *want;
  } bad[] = {
      {"null", "JSON object"},
      {"{\"contents\":[]}", "contents"},
      {"{\"contents\":[5]}", "contents[0]"},
      {"{\"contents\":[{\"role\":\"system\",\"parts\":[]}]}", "'system'"},
      {"{\"contents\":[{\"role\":1,\"parts\":[]}]}", "'role'"},
      {"{\"contents\":[{\"parts\":\"hi\"}]}", "'parts'"},
      {"{\"contents\":[{\"parts\":[7]}]}", "each part"},
      {"{\"contents\":[{\"parts\":[{\"executableCode\":{}}]}]}", "a part must have"},
      {"{\"contents\":[{\"parts\":[{\"inlineData\":{\"data\":\"x\"}}]}]}", "mimeType"},
      {"{\"contents\":[{\"parts\":[{\"fileData\":{}}]}]}", "fileUri"},
      {"{\"contents\":[{\"role\":\"model\",\"parts\":[{\"functionCall\":{}}]}]}", "'name'"},
      {"{\"contents\":[{\"parts\":[{\"functionResponse\":{\"response\":{}}}]}]}", "'name'"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"systemInstruction\":{\"parts\":[{\"inlineData\":{}}]}}", "text"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":[1]}", "generationConfig"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"temperature\":\"1\"}}", "temperature"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"maxOutputTokens\":-1}}", "maxOutputTokens"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"generationConfig\":{\"stopSequences\":\"a\"}}", "stopSequences"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"tools\":[{\"googleSearch\":{}}]}", "functionDeclarations"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"tools\":[{\"functionDeclarations\":[{}]}]}", "'name'"},
      {"{\"contents\":[{\"parts\":[{\"text\":\"x\"}]}],\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"SOMETIMES\"}}}", "mode"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    req = P(bad[i].body);
    err[0] = 0;
    s = gemini_request_to_openai(req, "m", false, err, sizeof err);
    CHECK(!s && strstr(err, bad[i].want), "bad Gemini request %zu refused: %s", i, err);
    free(s);
    cJSON_Delete(req);
  }
}

static void test_gemini_response_from_openai(void)
{
  char err[256] = "";
  struct usage u;
  const char *body =
      "{\"id\":\"chatcmpl-7\",\"model\":\"gpt-4o\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi.\","
      "\"reasoning_content\":\"r\",\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"k\\\":true}\"}}]},"
      "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":6,"
      "\"prompt_tokens_details\":{\"cached_tokens\":10}}}";
  char *s = gemini_response_from_openai(body, strlen(body), "gemini-alias", &u, err, sizeof err);
  cJSON *o = P(s);
  CHECK(o != NULL, "an OpenAI response converts to Gemini (%s)", s ? "" : err);
  CHECK(streq(S(o, "candidates.0.content.role"), "model") && SZ(o, "candidates.0.content.parts") == 3,
        "one model candidate with three parts");
  CHECK(streq(S(o, "candidates.0.content.parts.0.text"), "r") && cJSON_IsTrue(G(o, "candidates.0.content.parts.0.thought")),
        "reasoning -> thought part");
  CHECK(streq(S(o, "candidates.0.content.parts.1.text"), "Hi."), "content -> text part");
  CHECK(streq(S(o, "candidates.0.content.parts.2.functionCall.name"), "f") &&
            cJSON_IsTrue(G(o, "candidates.0.content.parts.2.functionCall.args.k")) &&
            streq(S(o, "candidates.0.content.parts.2.functionCall.id"), "c1"),
        "tool_calls -> functionCall with parsed args");
  CHECK(streq(S(o, "candidates.0.finishReason"), "STOP"), "tool_calls -> STOP");
  CHECK(N(o, "usageMetadata.promptTokenCount") == 30 && N(o, "usageMetadata.candidatesTokenCount") == 6 &&
            N(o, "usageMetadata.totalTokenCount") == 36 && N(o, "usageMetadata.cachedContentTokenCount") == 10,
        "usageMetadata");
  CHECK(streq(S(o, "modelVersion"), "gemini-alias") && streq(S(o, "responseId"), "chatcmpl-7"), "modelVersion, responseId");
  CHECK(u.prompt_tokens == 30 && u.completion_tokens == 6 && u.cached_tokens == 10, "struct usage filled");
  cJSON_Delete(o);
  free(s);
  const char *map[][2] = {{"stop", "STOP"}, {"length", "MAX_TOKENS"}, {"content_filter", "SAFETY"}};
  for (int i = 0; i < 3; i++) {
    char b[200];
    snprintf(b, sizeof b, "{\"model\":\"m\",\"choices\":[{\"message\":{\"content\":null},\"finish_reason\":\"%s\"}]}", map[i][0]);
    s = gemini_response_from_openai(b, strlen(b), NULL, &u, err, sizeof err);
    o = P(s);
    CHECK(streq(S(o, "candidates.0.finishReason"), map[i][1]) && streq(S(o, "modelVersion"), "m") &&
              streq(S(o, "candidates.0.content.parts.0.text"), "") && !G(o, "usageMetadata.cachedContentTokenCount"),
          "finish_reason %s -> %s (empty message -> one empty text part)", map[i][0], map[i][1]);
    cJSON_Delete(o);
    free(s);
  }
  const char *bad[][2] = {{"{\"error\":{\"message\":\"bad key\"}}", "bad key"},
                          {"{\"choices\":[1]}", "choices[0].message"},
                          {"", "not a JSON object"}};
  for (int i = 0; i < 3; i++) {
    err[0] = 0;
    s = gemini_response_from_openai(bad[i][0], strlen(bad[i][0]), NULL, &u, err, sizeof err);
    CHECK(!s && strstr(err, bad[i][1]), "bad OpenAI response %d refused for Gemini: %s", i, err);
    free(s);
  }
}

/* Gemini frames are "data: JSON\r\n\r\n" */
static cJSON *gemini_frames(const char *out)
{
  cJSON *arr = cJSON_CreateArray();
  const char *p = out;
  while (*p) {
    const char *end = strstr(p, "\r\n\r\n");
    cJSON *j = NULL;
    if (strncmp(p, "data: ", 6) != 0 || !end || !(j = cJSON_ParseWithLength(p + 6, (size_t)(end - p - 6)))) {
      cJSON_Delete(arr);
      return NULL;
    }
    cJSON_AddItemToArray(arr, j);
    p = end + 4;
  }
  return arr;
}

static int feed_o2g(struct openai_to_gemini_stream *st, const char *data, struct buf *out)
{
  char err[256];
  return gemini_stream_from_openai_feed(st, data, strlen(data), out, err, sizeof err);
}

static void test_gemini_stream_from_openai(void)
{
  struct openai_to_gemini_stream st;
  struct buf out;
  buf_init(&out, 1 << 20);
  gemini_stream_from_openai_init(&st, "gemini-alias");
  int rc = 0;
  rc |= feed_o2g(&st, CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"), &out);
  rc |= feed_o2g(&st, CHUNK("{\"reasoning_content\":\"mull\"}", "null"), &out);
  rc |= feed_o2g(&st, CHUNK("{\"content\":\"Hi\"}", "null"), &out);
  rc |= feed_o2g(&st, CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}", "null"), &out);
  rc |= feed_o2g(&st, CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"c2\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}}]}", "null"), &out);
  rc |= feed_o2g(&st, CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":2}\"}}]}", "null"), &out);
  rc |= feed_o2g(&st, CHUNK("{}", "\"tool_calls\""), &out);
  rc |= feed_o2g(&st, "{\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":4,"
                      "\"prompt_tokens_details\":{\"cached_tokens\":3}}}", &out);
  cJSON *f = gemini_frames(out.data);
  CHECK(rc == 0 && f && SZ(f, "") == 2, "text frames at once, tool calls held (%d frames)", SZ(f, ""));
  CHECK(streq(S(f, "0.candidates.0.content.parts.0.text"), "mull") &&
            cJSON_IsTrue(G(f, "0.candidates.0.content.parts.0.thought")) &&
            streq(S(f, "0.modelVersion"), "gemini-alias") && streq(S(f, "0.responseId"), "chatcmpl-1"),
        "reasoning -> thought frame");
  CHECK(streq(S(f, "1.candidates.0.content.role"), "model") && streq(S(f, "1.candidates.0.content.parts.0.text"), "Hi") &&
            !G(f, "1.candidates.0.finishReason"),
        "content -> text frame without finishReason");
  cJSON_Delete(f);
  rc = feed_o2g(&st, "[DONE]", &out);
  f = gemini_frames(out.data);
  CHECK(rc == 0 && st.finished && f && SZ(f, "") == 3, "[DONE] writes the final frame");
  CHECK(SZ(f, "2.candidates.0.content.parts") == 2 &&
            streq(S(f, "2.candidates.0.content.parts.0.functionCall.name"), "f") &&
            N(f, "2.candidates.0.content.parts.0.functionCall.args.a") == 2 &&
            streq(S(f, "2.candidates.0.content.parts.0.functionCall.id"), "c1") &&
            streq(S(f, "2.candidates.0.content.parts.1.functionCall.name"), "g") &&
            SZ(f, "2.candidates.0.content.parts.1.functionCall.args") == 0,
        "whole function calls with args assembled from fragments");
  CHECK(streq(S(f, "2.candidates.0.finishReason"), "STOP") && N(f, "2.usageMetadata.promptTokenCount") == 11 &&
            N(f, "2.usageMetadata.candidatesTokenCount") == 4 && N(f, "2.usageMetadata.totalTokenCount") == 15 &&
            N(f, "2.usageMetadata.cachedContentTokenCount") == 3,
        "final frame: finishReason and usageMetadata");
  CHECK(st.usage.prompt_tokens == 11 && st.usage.completion_tokens == 4 && st.usage.cached_tokens == 3, "usage recorded");
  cJSON_Delete(f);
  size_t len = out.len;
  CHECK(feed_o2g(&st, CHUNK("{\"content\":\"late\"}", "null"), &out) == 0 && out.len == len, "nothing after the end");
  gemini_stream_from_openai_free(&st);

  /* finish without [DONE]; length -> MAX_TOKENS; no usage */
  buf_reset(&out);
  gemini_stream_from_openai_init(&st, NULL);
  feed_o2g(&st, CHUNK("{\"content\":\"a\"}", "\"length\""), &out);
  CHECK(gemini_stream_from_openai_finish(&st, &out) == 0 && st.finished, "finish after a finish_reason");
  f = gemini_frames(out.data);
  CHECK(f && SZ(f, "") == 2 && streq(S(f, "1.candidates.0.finishReason"), "MAX_TOKENS") &&
            streq(S(f, "1.modelVersion"), "gpt-4o") && !G(f, "1.usageMetadata") &&
            streq(S(f, "1.candidates.0.content.parts.0.text"), ""),
        "length -> MAX_TOKENS, model from the chunks, no usageMetadata without usage");
  cJSON_Delete(f);
  gemini_stream_from_openai_free(&st);

  /* cut stream, in-band error, bad input */
  buf_reset(&out);
  gemini_stream_from_openai_init(&st, "g");
  feed_o2g(&st, CHUNK("{\"content\":\"a\"}", "null"), &out);
  len = out.len;
  CHECK(gemini_stream_from_openai_finish(&st, &out) == -1 && out.len == len, "a cut stream: finish -1, nothing written");
  feed_o2g(&st, "{\"error\":{\"message\":\"kaput\"}}", &out);
  f = gemini_frames(out.data);
  CHECK(st.failed && f && streq(S(f, "1.error.message"), "kaput") && streq(S(f, "1.error.status"), "INTERNAL"),
        "an in-band OpenAI error -> a Gemini error frame");
  cJSON_Delete(f);
  gemini_stream_from_openai_free(&st);
  char err[256];
  buf_reset(&out);
  gemini_stream_from_openai_init(&st, "g");
  CHECK(gemini_stream_from_openai_feed(&st, "[DONE]", 6, &out, err, sizeof err) == -1 && out.len == 0,
        "[DONE] before any chunk refused");
  CHECK(gemini_stream_from_openai_feed(&st, "{", 1, &out, err, sizeof err) == -1 && strstr(err, "not a JSON object"),
        "invalid chunk refused");
  CHECK(feed_o2g(&st, CHUNK("{\"tool_calls\":[{\"index\":99,\"function\":{\"name\":\"x\"}}]}", "null"), &out) == -1 &&
            out.len == 0 && !st.started,
        "a tool call index past the limit is refused, state unchanged");
  rc = feed_o2g(&st, "{\"choices\":[{\"delta\":{\"content\":[1],\"tool_calls\":{}},\"finish_reason\":false}]}", &out);
  CHECK(rc == 0 && out.len == 0 && !st.finish_reason && st.ncalls == 0, "wrongly typed delta fields skipped");
  gemini_stream_from_openai_free(&st);
  struct buf small;
  buf_init(&small, 16);
  gemini_stream_from_openai_init(&st, "g");
  CHECK(gemini_stream_from_openai_feed(&st, CHUNK("{\"content\":\"abc\"}", "null"),
                                       strlen(CHUNK("{\"content\":\"abc\"}", "null")), &small, err, sizeof err) == -1 &&
            small.len == 0 && !st.started,
        "a full buffer: nothing written, state unchanged");
  gemini_stream_from_openai_free(&st);
  buf_free(&small);
  buf_free(&out);
}

int main(void)
{
  test_claude_request_from_openai();
  test_claude_response_to_openai();
  test_claude_stream_to_openai();
  test_claude_request_to_openai();
  test_claude_response_from_openai();
  test_claude_stream_from_openai();
  test_claude_errors();
  test_gemini_paths_and_errors();
  test_gemini_request_from_openai();
  test_gemini_response_to_openai();
  test_gemini_stream_to_openai();
  test_gemini_request_to_openai();
  test_gemini_response_from_openai();
  test_gemini_stream_from_openai();
  return tap_done();
}
