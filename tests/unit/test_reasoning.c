/* Unit tests of reasoning.c (model-name suffixes -> request fields) and of the native request
 * readers used by pass-through (claude_request_info, gemini_request_info, the usage readers). */
#include <stdlib.h>
#include <string.h>

#include "../../relayd/claude.h"
#include "../../relayd/gemini_client.h"
#include "../../relayd/reasoning.h"
#include "../../relayd/reqfit.h"
#include "tap.h"

/* applies model's suffix to body (JSON) in format fmt; returns the printed result (static) */
static const char *applied(const char *model, enum reasoning_format fmt, const char *body)
{
  static char out[1024];
  struct reasoning rs;
  reasoning_parse(model, &rs);
  cJSON *j = cJSON_Parse(body);
  reasoning_apply(j, fmt, &rs);
  char *s = cJSON_PrintUnformatted(j);
  snprintf(out, sizeof out, "%s", s ? s : "(null)");
  free(s);
  cJSON_Delete(j);
  return out;
}

static void test_parse(void)
{
  struct reasoning rs;
  CHECK(reasoning_parse("o3-mini-high", &rs) && rs.kind == RS_EFFORT && !strcmp(rs.effort, "high") &&
            rs.base_len == 7, "-high: effort high, base o3-mini");
  CHECK(reasoning_parse("o4-mini-low", &rs) && rs.kind == RS_EFFORT && !strcmp(rs.effort, "low"), "-low");
  CHECK(reasoning_parse("gpt-5-medium", &rs) && rs.kind == RS_EFFORT && !strcmp(rs.effort, "medium") &&
            rs.base_len == 5, "-medium");
  CHECK(reasoning_parse("claude-sonnet-4-0-thinking", &rs) && rs.kind == RS_THINKING && rs.budget == -1 &&
            rs.base_len == strlen("claude-sonnet-4-0"), "-thinking: default budget");
  CHECK(reasoning_parse("gemini-2.5-flash-thinking-2048", &rs) && rs.kind == RS_THINKING && rs.budget == 2048 &&
            rs.base_len == strlen("gemini-2.5-flash"), "-thinking-N: budget N");
  CHECK(reasoning_parse("gemini-2.5-flash-nothinking", &rs) && rs.kind == RS_NOTHINKING &&
            rs.base_len == strlen("gemini-2.5-flash"), "-nothinking");
  CHECK(!reasoning_parse("gpt-4o", &rs) && rs.kind == RS_NONE && rs.base_len == 6, "no suffix");
  CHECK(!reasoning_parse("claude-sonnet-4-0", &rs), "a version number is no suffix");
  CHECK(!reasoning_parse("-high", &rs) && !reasoning_parse("-thinking", &rs), "a suffix needs a base");
  CHECK(!reasoning_parse("m-thinking-12x", &rs) && !reasoning_parse("m-thinking-", &rs),
        "-thinking- needs digits only");
  CHECK(!reasoning_parse("m-thinking-99999999999", &rs), "an absurd budget is no suffix");
  CHECK(!reasoning_parse("", &rs) && !reasoning_parse(NULL, &rs), "empty names");
  CHECK(!reasoning_parse("mythinking", &rs), "the dash is part of the suffix");

  reasoning_parse("m-thinking", &rs);
  CHECK(!reasoning_applies(&rs, RS_FMT_OPENAI) && reasoning_applies(&rs, RS_FMT_CLAUDE) &&
            reasoning_applies(&rs, RS_FMT_GEMINI), "openai channels do not read -thinking");
  reasoning_parse("m-high", &rs);
  CHECK(reasoning_applies(&rs, RS_FMT_OPENAI) && reasoning_applies(&rs, RS_FMT_CLAUDE) &&
            reasoning_applies(&rs, RS_FMT_GEMINI), "every format reads an effort");
}

static void test_apply(void)
{
  const char *s;
  s = applied("o3-high", RS_FMT_OPENAI, "{\"model\":\"o3\",\"max_tokens\":100}");
  CHECK(!strcmp(s, "{\"model\":\"o3\",\"reasoning_effort\":\"high\",\"max_completion_tokens\":100}"),
        "openai: reasoning_effort, max_tokens -> max_completion_tokens: %s", s);
  s = applied("o3-low", RS_FMT_OPENAI, "{\"reasoning_effort\":\"high\",\"max_tokens\":5,\"max_completion_tokens\":9}");
  CHECK(!strcmp(s, "{\"reasoning_effort\":\"low\",\"max_completion_tokens\":9}"),
        "openai: the suffix wins over the body; max_completion_tokens kept: %s", s);
  s = applied("m-thinking", RS_FMT_OPENAI, "{\"model\":\"m\"}");
  CHECK(!strcmp(s, "{\"model\":\"m\"}"), "openai: -thinking changes nothing: %s", s);

  s = applied("c-thinking", RS_FMT_CLAUDE, "{\"max_tokens\":4000,\"temperature\":0.2,\"top_k\":3}");
  CHECK(!strcmp(s, "{\"max_tokens\":4000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":3200}}"),
        "claude: -thinking = 80%% of max_tokens, sampling knobs removed: %s", s);
  s = applied("c-thinking", RS_FMT_CLAUDE, "{\"max_tokens\":100}");
  CHECK(!strcmp(s, "{\"max_tokens\":1280,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}}"),
        "claude: max_tokens at least 1280, the budget at least 1024 and below it: %s", s);
  s = applied("c-thinking-5000", RS_FMT_CLAUDE, "{\"max_tokens\":8192}");
  CHECK(!strcmp(s, "{\"max_tokens\":8192,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":5000}}"),
        "claude: -thinking-N: %s", s);
  s = applied("c-thinking-9000", RS_FMT_CLAUDE, "{\"max_tokens\":8192}");
  CHECK(!strcmp(s, "{\"max_tokens\":10024,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":9000}}"),
        "claude: max_tokens raised above a larger budget: %s", s);
  s = applied("c-nothinking", RS_FMT_CLAUDE, "{\"max_tokens\":10,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000}}");
  CHECK(!strcmp(s, "{\"max_tokens\":10,\"thinking\":{\"type\":\"disabled\"}}"), "claude: -nothinking: %s", s);
  s = applied("c-low", RS_FMT_CLAUDE, "{\"max_tokens\":10000}");
  CHECK(!strcmp(s, "{\"max_tokens\":10000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000}}"),
        "claude: -low = 20%% of max_tokens: %s", s);

  s = applied("g-thinking", RS_FMT_GEMINI, "{\"generationConfig\":{\"maxOutputTokens\":1000}}");
  CHECK(!strcmp(s, "{\"generationConfig\":{\"maxOutputTokens\":1000,\"thinkingConfig\":{\"includeThoughts\":true,\"thinkingBudget\":600}}}"),
        "gemini: -thinking = 60%% of maxOutputTokens: %s", s);
  s = applied("g-thinking", RS_FMT_GEMINI, "{\"contents\":[]}");
  CHECK(!strcmp(s, "{\"contents\":[],\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":true}}}"),
        "gemini: -thinking without a limit: thoughts, dynamic budget: %s", s);
  s = applied("g-thinking-128", RS_FMT_GEMINI, "{\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":5}}}");
  CHECK(!strcmp(s, "{\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":true,\"thinkingBudget\":128}}}"),
        "gemini: -thinking-N replaces the client's config: %s", s);
  s = applied("g-nothinking", RS_FMT_GEMINI, "{\"generationConfig\":{\"temperature\":1}}");
  CHECK(!strcmp(s, "{\"generationConfig\":{\"temperature\":1,\"thinkingConfig\":{\"thinkingBudget\":0}}}"),
        "gemini: -nothinking = budget 0: %s", s);
  s = applied("g-high", RS_FMT_GEMINI, "{}");
  CHECK(!strcmp(s, "{\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":true,\"thinkingBudget\":24576}}}"),
        "gemini, version unknown: -high = the 2.5 form, thinkingBudget 24576 (every Gemini takes it): %s", s);
  s = applied("g", RS_FMT_GEMINI, "{}");
  CHECK(!strcmp(s, "{}"), "no suffix, no change");
}

static void test_native_info(void)
{
  struct oai_request rq;
  char err[256];
  const char *b = "{\"model\":\"claude-x\",\"max_tokens\":77,\"stream\":true,\"system\":\"abcd\","
                  "\"messages\":[{\"role\":\"user\",\"content\":\"hello world!\"}]}";
  cJSON *j = cJSON_Parse(b);
  CHECK(claude_request_info(j, &rq, err, sizeof err) == 0 && !strcmp(rq.model, "claude-x") &&
            rq.stream && rq.max_tokens == 77 && rq.prompt_estimate == (4 + 12 + 16 + 3) / 4,
        "claude_request_info: model, stream, max_tokens, estimate %lld", (long long)rq.prompt_estimate);
  cJSON_Delete(j);
  b = "{\"model\":5,\"messages\":[]}";
  j = cJSON_Parse(b);
  CHECK(claude_request_info(j, &rq, err, sizeof err) < 0 && strstr(err, "model"),
        "claude_request_info: a bad model is refused (%s)", err);
  cJSON_Delete(j);
  b = "{\"model\":\"m\",\"max_tokens\":\"x\",\"messages\":[{}]}";
  j = cJSON_Parse(b);
  CHECK(claude_request_info(j, &rq, err, sizeof err) < 0, "claude_request_info: bad max_tokens");
  cJSON_Delete(j);

  b = "{\"contents\":[{\"parts\":[{\"text\":\"12345678\"}]}],\"generationConfig\":{\"maxOutputTokens\":42}}";
  j = cJSON_Parse(b);
  CHECK(gemini_request_info(j, "gem", false, &rq, err, sizeof err) == 0 && !strcmp(rq.model, "gem") &&
            !rq.stream && rq.max_tokens == 42 && rq.prompt_estimate == (8 + 16 + 3) / 4,
        "gemini_request_info: model from the path, maxOutputTokens, estimate");
  cJSON_Delete(j);
  b = "{\"contents\":[]}";
  j = cJSON_Parse(b);
  CHECK(gemini_request_info(j, "gem", true, &rq, err, sizeof err) < 0 && strstr(err, "contents"),
        "gemini_request_info: empty contents refused");
  cJSON_Delete(j);

  struct usage u = {0};
  cJSON *usage = cJSON_Parse("{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}");
  claude_read_usage(usage, &u);
  cJSON_Delete(usage);
  usage = cJSON_Parse("{\"output_tokens\":7}");
  claude_read_usage(usage, &u);
  cJSON_Delete(usage);
  CHECK(u.prompt_tokens == 15 && u.cached_tokens == 5 && u.completion_tokens == 7,
        "claude_read_usage: message_start then message_delta (cumulative output)");
  usage = cJSON_Parse("{\"promptTokenCount\":9,\"candidatesTokenCount\":3,\"thoughtsTokenCount\":2}");
  memset(&u, 0, sizeof u);
  gemini_read_usage(usage, &u);
  cJSON_Delete(usage);
  CHECK(u.prompt_tokens == 9 && u.completion_tokens == 5, "gemini_read_usage: thoughts bill as output");
}

/* generationConfig and safetySettings through the Gemini converters, both ways */
static void test_gemini_config(void)
{
  char err[256];
  cJSON *req = cJSON_Parse(
      "{\"model\":\"g\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0.5,"
      "\"top_p\":0.9,\"top_k\":7,\"seed\":3,\"n\":2,\"presence_penalty\":0.1,\"frequency_penalty\":0.2,"
      "\"logprobs\":true,\"top_logprobs\":4,\"max_tokens\":99,\"stop\":\"END\",\"modalities\":[\"text\"],"
      "\"reasoning_effort\":\"low\","
      "\"safety_settings\":[{\"category\":\"HARM_CATEGORY_HARASSMENT\",\"threshold\":\"BLOCK_NONE\"}]}");
  char *s = gemini_request_from_openai(req, err, sizeof err);
  cJSON *g = s ? cJSON_Parse(s) : NULL;
  cJSON *gc = cJSON_GetObjectItemCaseSensitive(g, "generationConfig");
  char *gcs = gc ? cJSON_PrintUnformatted(gc) : NULL;
  CHECK(gcs && !strcmp(gcs, "{\"temperature\":0.5,\"topP\":0.9,\"seed\":3,\"maxOutputTokens\":99,"
                            "\"presencePenalty\":0.1,\"frequencyPenalty\":0.2,\"topK\":7,\"logprobs\":4,"
                            "\"responseLogprobs\":true,\"responseModalities\":[\"TEXT\"],\"candidateCount\":2,"
                            "\"stopSequences\":[\"END\"]}"),
        "OpenAI -> Gemini: every sampling knob in generationConfig (reasoning_effort is written for the "
        "model by the caller, reqfit_reasoning): %s", gcs ? gcs : err);
  const cJSON *ss = cJSON_GetObjectItemCaseSensitive(g, "safetySettings");
  CHECK(cJSON_GetArraySize(ss) == 1 &&
            !strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ss, 0), "threshold")->valuestring, "BLOCK_NONE"),
        "OpenAI -> Gemini: safety_settings (extension field) become safetySettings");
  free(gcs);
  free(s);
  cJSON_Delete(g);
  cJSON_Delete(req);

  req = cJSON_Parse("{\"model\":\"g\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                    "\"safetySettings\":[{\"category\":5}]}");
  s = gemini_request_from_openai(req, err, sizeof err);
  CHECK(!s && strstr(err, "category"), "OpenAI -> Gemini: a malformed safety setting is refused (%s)", err);
  free(s);
  cJSON_Delete(req);

  req = cJSON_Parse("{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],"
                    "\"safetySettings\":[{\"category\":\"HARM_CATEGORY_HARASSMENT\",\"threshold\":\"BLOCK_NONE\"}],"
                    "\"generationConfig\":{\"temperature\":0.5,\"topP\":0.9,\"topK\":7,\"seed\":3,\"candidateCount\":2,"
                    "\"maxOutputTokens\":99,\"stopSequences\":[\"END\"],\"presencePenalty\":0.1,\"frequencyPenalty\":0.2,"
                    "\"responseLogprobs\":true,\"logprobs\":4,\"responseModalities\":[\"TEXT\"],"
                    "\"thinkingConfig\":{\"thinkingLevel\":\"HIGH\"}}}");
  s = gemini_request_to_openai(req, "m", false, err, sizeof err);
  g = s ? cJSON_Parse(s) : NULL;
  const char *want[][2] = {{"temperature", "0.5"}, {"top_p", "0.9"}, {"seed", "3"}, {"n", "2"},
                           {"max_tokens", "99"}, {"stop", "[\"END\"]"}, {"presence_penalty", "0.1"},
                           {"frequency_penalty", "0.2"}, {"logprobs", "true"}, {"top_logprobs", "4"},
                           {"modalities", "[\"text\"]"}, {"reasoning_effort", "\"high\""}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char *v = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(g, want[i][0]));
    CHECK(v && !strcmp(v, want[i][1]), "Gemini -> OpenAI: %s = %s (got %s)", want[i][0], want[i][1], v ? v : err);
    free(v);
  }
  CHECK(g && !cJSON_GetObjectItemCaseSensitive(g, "top_k") && !cJSON_GetObjectItemCaseSensitive(g, "safetySettings"),
        "Gemini -> OpenAI: topK and safetySettings have no OpenAI field");
  free(s);
  cJSON_Delete(g);
  cJSON_Delete(req);
}

/* the client's own reasoning parameters across formats: the tables of reasoning.h */
static void test_tables(void)
{
  CHECK(!strcmp(reasoning_effort_of_budget(0), "none") && !strcmp(reasoning_effort_of_budget(1), "low") &&
            !strcmp(reasoning_effort_of_budget(1024), "low") && !strcmp(reasoning_effort_of_budget(1025), "medium") &&
            !strcmp(reasoning_effort_of_budget(8192), "medium") && !strcmp(reasoning_effort_of_budget(8193), "high") &&
            !strcmp(reasoning_effort_of_budget(-1), "medium"),
        "budget -> effort: 0 none, ..1024 low, ..8192 medium, more high, dynamic medium");
  struct reasoning rs;
  CHECK(reasoning_from_effort("MINIMAL", &rs) && rs.kind == RS_EFFORT && !strcmp(rs.effort, "low") &&
            reasoning_from_effort("max", &rs) && !strcmp(rs.effort, "high") &&
            reasoning_from_effort("xhigh", &rs) && !strcmp(rs.effort, "high") &&
            reasoning_from_effort("none", &rs) && rs.kind == RS_NOTHINKING &&
            !reasoning_from_effort("lots", &rs) && rs.kind == RS_NONE && !reasoning_from_effort(NULL, &rs),
        "effort names: minimal -> low, max/xhigh -> high, none -> no thinking, others none");
  CHECK(reasoning_gemini_levels("gemini-3-pro-preview") && reasoning_gemini_levels("models/gemini-3.5-flash") &&
            reasoning_gemini_levels("gemini-10-ultra") && !reasoning_gemini_levels("gemini-2.5-pro") &&
            !reasoning_gemini_levels("gemini-exp-1206") && !reasoning_gemini_levels("gem-3") &&
            !reasoning_gemini_levels(NULL),
        "Gemini 3 and later take thinkingLevel; 2.x and unknown names the budget");
  const char *s = applied("g-low", RS_FMT_GEMINI, "{}");
  CHECK(!strcmp(s, "{\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":true,\"thinkingBudget\":1024}}}"),
        "gemini 2.5: -low = thinkingBudget 1024: %s", s);
  reasoning_parse("g-medium", &rs);
  cJSON *j = cJSON_Parse("{}");
  reasoning_apply_model(j, RS_FMT_GEMINI, &rs, "gemini-3-pro-preview");
  char *p = cJSON_PrintUnformatted(j);
  CHECK(p && !strcmp(p, "{\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":true,\"thinkingLevel\":\"high\"}}}"),
        "gemini 3: -medium = thinkingLevel high: %s", p);
  free(p);
  cJSON_Delete(j);
  reasoning_parse("g-nothinking", &rs);
  j = cJSON_Parse("{}");
  reasoning_apply_model(j, RS_FMT_GEMINI, &rs, "gemini-3-pro-preview");
  p = cJSON_PrintUnformatted(j);
  CHECK(p && !strcmp(p, "{\"generationConfig\":{\"thinkingConfig\":{\"thinkingLevel\":\"low\"}}}"),
        "gemini 3: -nothinking = thinkingLevel low (Gemini 3 Pro cannot turn thinking off): %s", p);
  free(p);
  cJSON_Delete(j);
  CHECK(reqfit_openai_reasoning_model("o3") && reqfit_openai_reasoning_model("o4-mini") &&
            reqfit_openai_reasoning_model("gpt-5.1") && !reqfit_openai_reasoning_model("gpt-5-chat-latest") &&
            !reqfit_openai_reasoning_model("gpt-4o") && !reqfit_openai_reasoning_model("omni") &&
            !reqfit_openai_reasoning_model("o3x"),
        "OpenAI reasoning models: o-series and gpt-5 but its -chat models");
  j = cJSON_Parse("{\"max_tokens\":5,\"temperature\":0.1,\"top_p\":1,\"reasoning_effort\":\"none\",\"seed\":1}");
  CHECK(reqfit_openai(j, "gpt-5.1") && !cJSON_GetObjectItem(j, "max_tokens") &&
            cJSON_GetObjectItem(j, "max_completion_tokens") && !cJSON_GetObjectItem(j, "temperature") &&
            !cJSON_GetObjectItem(j, "top_p") && cJSON_GetObjectItem(j, "reasoning_effort") && cJSON_GetObjectItem(j, "seed"),
        "reqfit gpt-5.1: max_completion_tokens, sampling dropped, effort none kept");
  cJSON_Delete(j);
  j = cJSON_Parse("{\"max_tokens\":5,\"reasoning_effort\":\"none\"}");
  CHECK(reqfit_openai(j, "deepseek-chat") && !cJSON_GetObjectItem(j, "reasoning_effort") &&
            cJSON_GetObjectItem(j, "max_tokens"),
        "another provider's model: only an effort of none dropped");
  cJSON_Delete(j);
  j = cJSON_Parse("{\"max_tokens\":5,\"reasoning_effort\":\"low\"}");
  CHECK(!reqfit_openai(j, "qwen3-max") && cJSON_GetObjectItem(j, "reasoning_effort"), "... other efforts kept");
  cJSON_Delete(j);
}

int main(void)
{
  test_gemini_config();
  test_parse();
  test_apply();
  test_tables();
  test_native_info();
  return tap_done();
}
