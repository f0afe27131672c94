/* Unit tests of common/provider.c: every row is complete, lookups, the auth header of each shape,
 * the URL rules (/v1, Azure deployments, Gemini as is, API roots), the probes, the lists and names
 * gwctl prints, and the default base of the presets (Cloudflare's account id filled in). */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "tap.h"

static void test_rows(void)
{
  size_t n = 0;
  for (const struct provider *p; (p = provider_at(n)); n++) {
    CHECK(p->name && *p->name && p->serves != 0, "row %zu (%s): a name and an endpoint", n, p->name);
    /* PE_REALTIME (a WebSocket, refused by realtime.c itself) is outside the refusal's classes */
    CHECK(((p->serves & PE_ALL) == PE_ALL) == (p->refusal == NULL), "row %s: a refusal exactly when it serves less",
          p->name);
    /* self-hosted servers listen on the local host over http; every public API is https */
    bool local = p->base_url && strncmp(p->base_url, "http://localhost:", 17) == 0;
    CHECK(!p->base_url || ((strncmp(p->base_url, "https://", 8) == 0 || local) &&
                           p->base_url[strlen(p->base_url) - 1] != '/'),
          "row %s: the default base URL is https (or a local http server) without a trailing '/'", p->name);
    CHECK((p->key == KEY_OPTIONAL) == local, "row %s: a key is optional exactly for the local servers", p->name);
    CHECK(!p->base_url || !strchr(p->base_url, '{') || provider_needs_account(p),
          "row %s: the only placeholder is the account", p->name);
    CHECK(provider_find(p->name) == p, "row %s is found by its name", p->name);
  }
  CHECK(n >= 11, "eleven types at least (%zu)", n);
  CHECK(provider_find("nope") == NULL && provider_find(NULL) == NULL, "unknown types are not found");
  CHECK(provider_for_type("nope") == provider_find("openai"), "relayd treats an unknown stored type as openai");
  CHECK(strcmp(provider_find("openrouter")->base_url, "https://openrouter.ai/api") == 0 &&
            provider_find("openrouter")->api == UPSTREAM_OPENAI,
        "openrouter: an OpenAI-compatible preset");
  static const char old[] = "openai, azure, anthropic, gemini, cohere, jina, vertex, responses, deepseek, ";
  CHECK(strncmp(provider_type_list(), old, sizeof old - 1) == 0 && strstr(provider_type_list(), "openrouter") &&
            strstr(provider_type_list(), ", vllm, custom, compatible"),
        "type list: %s", provider_type_list());
  CHECK(strcmp(provider_default_list(), "openai, anthropic, gemini, cohere, jina, vertex, responses, deepseek, moonshot, zhipu, qwen, "
                                        "doubao, minimax, siliconflow, openrouter, xai, mistral, groq, together, "
                                        "ollama and vllm") == 0,
        "default list (cloudflare needs an account): %s", provider_default_list());
}

static void test_auth(void)
{
  char h[64];
  static const struct { const char *type, *want; } c[] = {
    { "openai", "Authorization: Bearer K" }, { "azure", "api-key: K" }, { "anthropic", "x-api-key: K" },
    { "gemini", "x-goog-api-key: K" },       { "cohere", "Authorization: Bearer K" },
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    CHECK(provider_auth_header(provider_find(c[i].type), "K", h, sizeof h) == 0 && strcmp(h, c[i].want) == 0,
          "%s: %s", c[i].type, h);
  }
  char small[8];
  CHECK(provider_auth_header(provider_find("openai"), "KEY", small, sizeof small) == -1 && small[0] == '\0',
        "a header that does not fit is refused, nothing kept");
  CHECK(strcmp(provider_find("anthropic")->extra_header, "anthropic-version: 2023-06-01") == 0 &&
            !provider_find("openai")->extra_header,
        "anthropic-version only on anthropic");
}

static void test_urls(void)
{
  char u[256], err[128];
  const struct provider *oai = provider_find("openai"), *az = provider_find("azure"), *gem = provider_find("gemini");
  CHECK(provider_url(oai, "http://h/v1", "", "/v1/chat/completions", "m", u, sizeof u, err, sizeof err) == 0 &&
            strcmp(u, "http://h/v1/chat/completions") == 0,
        "the /v1 rule: %s", u);
  CHECK(provider_url(oai, "http://h", "", "/v1/chat/completions", "m", u, sizeof u, err, sizeof err) == 0 &&
            strcmp(u, "http://h/v1/chat/completions") == 0,
        "base + path: %s", u);
  CHECK(provider_url(az, "http://h", "2024-10-21", "/v1/chat/completions", "gpt-4.1", u, sizeof u, err, sizeof err) == 0 &&
            strcmp(u, "http://h/openai/deployments/gpt-41/chat/completions?api-version=2024-10-21") == 0,
        "azure deployment: %s", u);
  CHECK(provider_url(az, "http://h", "V", "/v1/responses", "gpt-4.1", u, sizeof u, err, sizeof err) == 0 &&
            strcmp(u, "http://h/openai/responses?api-version=V") == 0,
        "azure responses: %s", u);
  CHECK(provider_url(az, "http://h", "V", "/v1/realtime", "gpt-rt", u, sizeof u, err, sizeof err) == 0 &&
            strcmp(u, "http://h/openai/realtime?api-version=V&deployment=gpt-rt") == 0,
        "azure realtime: the deployment is a query parameter: %s", u);
  CHECK(provider_url(oai, "http://h/v1", "", "/v1/realtime", "gpt-rt", u, sizeof u, err, sizeof err) == 0 &&
            strcmp(u, "http://h/v1/realtime?model=gpt-rt") == 0,
        "openai realtime: the model is a query parameter: %s", u);
  CHECK(provider_serves(oai, PE_REALTIME) && provider_serves(az, PE_REALTIME) && !provider_serves(gem, PE_REALTIME) &&
            !provider_serves(provider_find("deepseek"), PE_REALTIME),
        "the realtime WebSocket: openai and azure channels only");
  CHECK(provider_url(az, "http://h", "V", "/v1/chat/completions", "a/b", u, sizeof u, err, sizeof err) == -1 &&
            strstr(err, "Azure deployment"),
        "azure: a deployment name that cannot go in a URL");
  CHECK(provider_url(gem, "http://h/v1", "", "/v1/x", "m", u, sizeof u, err, sizeof err) == 0 &&
            strcmp(u, "http://h/v1/v1/x") == 0,
        "gemini: the path as given: %s", u);
  const struct provider *root = provider_find("compatible");
  CHECK(root && provider_url(root, "http://h/api/paas/v4", "", "/v1/chat/completions", "m", u, sizeof u, err,
                             sizeof err) == 0 && strcmp(u, "http://h/api/paas/v4/chat/completions") == 0,
        "compatible (full-URL): the base is the API root, the path loses its /v1: %s", u);
  CHECK(root && provider_url(root, "http://h/v1beta/openai", "", "/v1/embeddings", "m", u, sizeof u, err,
                             sizeof err) == 0 && strcmp(u, "http://h/v1beta/openai/embeddings") == 0,
        "compatible: Gemini's OpenAI root: %s", u);
  char tiny[16];
  CHECK(provider_url(oai, "http://example.com", "", "/v1/chat/completions", "m", tiny, sizeof tiny, err, sizeof err) ==
                -1 && strstr(err, "longer than 15"),
        "a URL too long is refused: %s", err);
}

static void test_presets(void)
{
  char u[256], err[160];
  /* the chat URL of each preset's default base: the provider's documented endpoint */
  static const struct { const char *type, *chat; } c[] = {
    { "deepseek", "https://api.deepseek.com/v1/chat/completions" },
    { "moonshot", "https://api.moonshot.cn/v1/chat/completions" },
    { "zhipu", "https://open.bigmodel.cn/api/paas/v4/chat/completions" },
    { "qwen", "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions" },
    { "doubao", "https://ark.cn-beijing.volces.com/api/v3/chat/completions" },
    { "minimax", "https://api.minimax.io/v1/chat/completions" },
    { "siliconflow", "https://api.siliconflow.cn/v1/chat/completions" },
    { "openrouter", "https://openrouter.ai/api/v1/chat/completions" },
    { "xai", "https://api.x.ai/v1/chat/completions" },
    { "mistral", "https://api.mistral.ai/v1/chat/completions" },
    { "groq", "https://api.groq.com/openai/v1/chat/completions" },
    { "together", "https://api.together.ai/v1/chat/completions" },
    { "ollama", "http://localhost:11434/v1/chat/completions" },
    { "vllm", "http://localhost:8000/v1/chat/completions" },
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    const struct provider *p = provider_find(c[i].type);
    char base[200];
    CHECK(p && p->api == UPSTREAM_OPENAI && p->auth == AUTH_BEARER &&
              provider_default_base(p, NULL, base, sizeof base, err, sizeof err) == 0 &&
              provider_url(p, base, "", "/v1/chat/completions", "m", u, sizeof u, err, sizeof err) == 0 &&
              strcmp(u, c[i].chat) == 0,
          "%s: %s", c[i].type, u);
  }
  const struct provider *cf = provider_find("cloudflare"), *groq = provider_find("groq");
  char base[200];
  CHECK(provider_needs_account(cf) && !provider_needs_account(groq), "cloudflare's URL names the account");
  CHECK(provider_default_base(cf, "0123abcd", base, sizeof base, err, sizeof err) == 0 &&
            strcmp(base, "https://api.cloudflare.com/client/v4/accounts/0123abcd/ai/v1") == 0,
        "cloudflare: the account id in its place: %s", base);
  CHECK(provider_default_base(cf, NULL, base, sizeof base, err, sizeof err) == -1 && strstr(err, "names its account"),
        "cloudflare without an account: %s", err);
  CHECK(provider_default_base(cf, "a/../b", base, sizeof base, err, sizeof err) == -1 && strstr(err, "letters"),
        "an account id that would change the path is refused: %s", err);
  CHECK(provider_default_base(cf, "", base, sizeof base, err, sizeof err) == -1, "an empty account id is refused");
  char long_id[PROVIDER_ACCOUNT_MAX + 2];
  memset(long_id, 'a', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  CHECK(provider_default_base(cf, long_id, base, sizeof base, err, sizeof err) == -1, "an account id too long");
  CHECK(provider_default_base(groq, "x", base, sizeof base, err, sizeof err) == -1 && strstr(err, "names no account"),
        "an account for a type without one: %s", err);
  CHECK(provider_default_base(provider_find("azure"), NULL, base, sizeof base, err, sizeof err) == -1 &&
            strstr(err, "no default"),
        "azure has no default: %s", err);
  CHECK(provider_default_base(groq, NULL, base, 10, err, sizeof err) == -1 && strstr(err, "longer"),
        "a default that does not fit: %s", err);

  char ep[64];
  provider_endpoints(provider_find("deepseek"), ep, sizeof ep);
  CHECK(strcmp(ep, "chat") == 0 && !provider_serves(provider_find("deepseek"), PE_EMBEDDINGS), "deepseek: %s", ep);
  provider_endpoints(provider_find("openai"), ep, sizeof ep);
  CHECK(strcmp(ep, "chat,embeddings,rerank,media") == 0, "openai: %s", ep);
  provider_endpoints(provider_find("jina"), ep, sizeof ep);
  CHECK(strcmp(ep, "embeddings,rerank") == 0, "jina: %s", ep);
  CHECK(strcmp(provider_auth_name(provider_find("anthropic")), "x-api-key") == 0 &&
            strcmp(provider_auth_name(groq), "Authorization: Bearer") == 0 &&
            strcmp(provider_api_name(provider_find("gemini")), "gemini") == 0 &&
            strcmp(provider_rule_name(provider_find("zhipu")), "root") == 0 &&
            strcmp(provider_rule_name(provider_find("azure")), "azure") == 0,
        "names for lists");
}

static void test_probes(void)
{
  char path[128], err[128];
  char *b = provider_probe(provider_find("gemini"), "models/gemini-2.0-flash", path, sizeof path, err, sizeof err);
  cJSON *j = cJSON_Parse(b);
  CHECK(b && strcmp(path, "/v1beta/models/gemini-2.0-flash:generateContent") == 0 &&
            cJSON_GetObjectItem(j, "contents") && !cJSON_GetObjectItem(j, "model"),
        "gemini: generateContent, model in the path");
  cJSON_Delete(j);
  cJSON_free(b);
  CHECK(!provider_probe(provider_find("gemini"), "a/b", path, sizeof path, err, sizeof err) &&
            strstr(err, "cannot be used in a Gemini URL"),
        "gemini: a model that cannot go in the path");
  b = provider_probe(provider_find("responses"), "gpt-5-codex", path, sizeof path, err, sizeof err);
  CHECK(b && strcmp(path, "/v1/responses") == 0 &&
            strcmp(b, "{\"model\":\"gpt-5-codex\",\"input\":\"hi\",\"max_output_tokens\":16,\"store\":false}") == 0,
        "responses: the smallest Responses request: %s", b ? b : err);
  free(b);
  b = provider_probe(provider_find("jina"), "r", path, sizeof path, err, sizeof err);
  j = cJSON_Parse(b);
  CHECK(strcmp(path, "/v1/rerank") == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(j, "documents")) == 2,
        "jina: a two-document rerank");
  cJSON_Delete(j);
  cJSON_free(b);
  b = provider_probe(provider_find("anthropic"), "c", path, sizeof path, err, sizeof err);
  j = cJSON_Parse(b);
  CHECK(strcmp(path, "/v1/messages") == 0 && cJSON_GetObjectItem(j, "max_tokens")->valueint == 5, "anthropic: messages");
  cJSON_Delete(j);
  cJSON_free(b);
  b = provider_probe(provider_find("openrouter"), "m", path, sizeof path, err, sizeof err);
  j = cJSON_Parse(b);
  const cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
  CHECK(b && strcmp(path, "/v1/chat/completions") == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), "m") == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content")), "hi") == 0 &&
            cJSON_GetObjectItem(j, "max_tokens")->valueint == 5,
        "openai-compatible: a 5-token chat: %s", b);
  cJSON_Delete(j);
  cJSON_free(b);
}

/* provider_join (joined by hand, per request): the /v1 rule, an exact fit, and a URL one byte too
 * long refused with a NUL-terminated prefix, as the snprintf it replaced */
static void test_join(void)
{
  char w[32], u[16];
  CHECK(provider_join("http://h/v1", "/v1/x", w, sizeof w) == 0 && strcmp(w, "http://h/v1/x") == 0,
        "join: /v1 once: %s", w);
  CHECK(provider_join("http://h/v1", "/v1/x", u, sizeof u) == 0 && strcmp(u, "http://h/v1/x") == 0,
        "join: /v1 once: %s", u);
  CHECK(provider_join("http://h", "/v1/x", u, sizeof u) == 0 && strcmp(u, "http://h/v1/x") == 0, "join: %s", u);
  CHECK(provider_join("http://hostv1", "/v1/x", w, sizeof w) == 0 && strcmp(w, "http://hostv1/v1/x") == 0,
        "join: a base ending in v1 without the slash keeps the path's /v1: %s", w);
  CHECK(provider_join("http://ab", "/cdefg", u, sizeof u) == 0 && strcmp(u, "http://ab/cdefg") == 0, "join: 15 bytes fit 16: %s", u);
  CHECK(provider_join("http://ab", "/cdefgh", u, sizeof u) == -1 && strcmp(u, "http://ab/cdefg") == 0,
        "join: 16 bytes do not; the prefix as snprintf left it: %s", u);
  CHECK(provider_join("http://abcdefghijklmnop", "/x", u, sizeof u) == -1 && strcmp(u, "http://abcdefgh") == 0,
        "join: a base longer than the buffer: %s", u);
  CHECK(provider_join("http://h", "/x", u, 0) == -1, "join: no room at all");
}

int main(void)
{
  test_rows();
  test_auth();
  test_urls();
  test_join();
  test_presets();
  test_probes();
  return tap_done();
}
