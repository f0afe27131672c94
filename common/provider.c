/* provider: see provider.h. */
#include "provider.h"

#include "sigv4.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* One row per channel type. The order is the order lists and messages show. Each preset's base URL
 * is the API root its provider's own docs give the OpenAI SDK (the page is cited beside the row); a
 * root ending in /v1 keeps the /v1 rule (a base without the /v1 still works), any other root
 * (.../api/paas/v4, .../api/v3) is URLR_ROOT. */
#define OAI_TEXT_ONLY(t) "a " t " channel serves only chat requests (/v1/chat/completions, /v1/completions)"
static const struct provider providers[] = {
  { .name = "openai", .api = UPSTREAM_OPENAI, .base_url = "https://api.openai.com", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_ALL | PE_REALTIME, .balance = BAL_OPENAI },
  { .name = "azure", .api = UPSTREAM_AZURE, .auth = AUTH_API_KEY, .url = URLR_AZURE, .probe = PROBE_CHAT,
    .serves = PE_TEXT | PE_EMBEDDINGS | PE_MEDIA | PE_REALTIME, .refusal = "an azure channel does not serve /v1/rerank" },
  { .name = "anthropic", .api = UPSTREAM_ANTHROPIC, .base_url = "https://api.anthropic.com",
    .auth = AUTH_X_API_KEY, .extra_header = "anthropic-version: 2023-06-01", .url = URLR_V1,
    .probe = PROBE_MESSAGES, .serves = PE_TEXT | PE_EMBEDDINGS,
    .refusal = "an anthropic channel serves only chat requests" },
  { .name = "gemini", .api = UPSTREAM_GEMINI, .base_url = "https://generativelanguage.googleapis.com",
    .auth = AUTH_GOOG, .url = URLR_AS_IS, .probe = PROBE_GENERATE, .serves = PE_TEXT | PE_EMBEDDINGS,
    .refusal = "a gemini channel serves only chat requests" },
  { .name = "cohere", .api = UPSTREAM_COHERE, .base_url = "https://api.cohere.ai", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_RERANK, .serves = PE_RERANK, .refusal = "a cohere channel serves only /v1/rerank" },
  { .name = "jina", .api = UPSTREAM_JINA, .base_url = "https://api.jina.ai", .auth = AUTH_BEARER, .url = URLR_V1,
    .probe = PROBE_RERANK, .serves = PE_RERANK | PE_EMBEDDINGS,
    .refusal = "a jina channel serves only /v1/rerank and /v1/embeddings" },
  /* Google Vertex AI (common/vertexapi.h): Gemini and Claude by model, a service-account key for
   * auth; the base is the region's endpoint (gwctl channel add --region; global's is this one) */
  { .name = "vertex", .api = UPSTREAM_VERTEX, .base_url = "https://aiplatform.googleapis.com",
    .auth = AUTH_GOOGLE_SA, .url = URLR_VERTEX, .probe = PROBE_GENERATE, .serves = PE_TEXT,
    .refusal = "a vertex channel serves only chat requests" },

  /* platform.openai.com/docs/api-reference/responses: a model served only through POST /v1/responses
   * (codex and pro models); chat, Anthropic and Gemini clients are converted to it */
  { .name = "responses", .api = UPSTREAM_RESPONSES, .base_url = "https://api.openai.com", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_RESPONSES, .serves = PE_TEXT,
    .refusal = "a responses channel serves only chat requests (sent as /v1/responses)" },

  /* ---- OpenAI-compatible presets ---- */
  /* api-docs.deepseek.com ("base_url https://api.deepseek.com"; /v1 also accepted): chat and FIM only */
  { .name = "deepseek", .api = UPSTREAM_OPENAI, .base_url = "https://api.deepseek.com", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT, .refusal = OAI_TEXT_ONLY("deepseek"), .balance = BAL_DEEPSEEK },
  /* platform.kimi.com/docs/api/overview (Moonshot / Kimi: "base_url https://api.moonshot.cn/v1") */
  { .name = "moonshot", .api = UPSTREAM_OPENAI, .base_url = "https://api.moonshot.cn/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT, .refusal = OAI_TEXT_ONLY("moonshot"), .balance = BAL_MOONSHOT },
  /* docs.bigmodel.cn (Zhipu GLM, OpenAI-compatible at https://open.bigmodel.cn/api/paas/v4):
   * chat, embeddings, images, rerank */
  { .name = "zhipu", .api = UPSTREAM_OPENAI, .base_url = "https://open.bigmodel.cn/api/paas/v4",
    .auth = AUTH_BEARER, .url = URLR_ROOT, .probe = PROBE_CHAT, .serves = PE_ALL },
  /* help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope (Qwen on DashScope:
   * "https://dashscope.aliyuncs.com/compatible-mode/v1"; chat and embeddings) */
  { .name = "qwen", .api = UPSTREAM_OPENAI, .base_url = "https://dashscope.aliyuncs.com/compatible-mode/v1",
    .auth = AUTH_BEARER, .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT | PE_EMBEDDINGS,
    .refusal = "a qwen channel serves only chat and /v1/embeddings requests" },
  /* www.volcengine.com/docs/82379 (Doubao on Volcengine Ark: https://ark.cn-beijing.volces.com/api/v3;
   * chat, embeddings, images, responses) */
  { .name = "doubao", .api = UPSTREAM_OPENAI, .base_url = "https://ark.cn-beijing.volces.com/api/v3",
    .auth = AUTH_BEARER, .url = URLR_ROOT, .probe = PROBE_CHAT, .serves = PE_TEXT | PE_EMBEDDINGS | PE_MEDIA,
    .refusal = "a doubao channel does not serve /v1/rerank" },
  /* platform.minimax.io/docs/api-reference/text-openai-api (international https://api.minimax.io/v1;
   * mainland accounts: --base-url https://api.minimaxi.com/v1) */
  { .name = "minimax", .api = UPSTREAM_OPENAI, .base_url = "https://api.minimax.io/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT, .refusal = OAI_TEXT_ONLY("minimax") },
  /* docs.siliconflow.cn/docs/userguide/quickstart ("base_url https://api.siliconflow.cn/v1"): chat,
   * embeddings, rerank, images, audio */
  { .name = "siliconflow", .api = UPSTREAM_OPENAI, .base_url = "https://api.siliconflow.cn/v1",
    .auth = AUTH_BEARER, .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_ALL, .balance = BAL_SILICONFLOW },
  /* openrouter.ai/docs/api-reference/overview (https://openrouter.ai/api/v1; stored without the /v1) */
  { .name = "openrouter", .api = UPSTREAM_OPENAI, .base_url = "https://openrouter.ai/api", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_ALL, .balance = BAL_OPENROUTER },
  /* docs.x.ai/docs/api-reference (https://api.x.ai/v1: chat, responses, images; no embeddings) */
  { .name = "xai", .api = UPSTREAM_OPENAI, .base_url = "https://api.x.ai/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT | PE_MEDIA,
    .refusal = "an xai channel does not serve /v1/embeddings or /v1/rerank" },
  /* docs.mistral.ai/api (https://api.mistral.ai/v1: chat, FIM, embeddings, moderations, audio) */
  { .name = "mistral", .api = UPSTREAM_OPENAI, .base_url = "https://api.mistral.ai/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT | PE_EMBEDDINGS | PE_MEDIA,
    .refusal = "a mistral channel does not serve /v1/rerank" },
  /* console.groq.com/docs/openai ("base_url https://api.groq.com/openai/v1": chat, responses, audio) */
  { .name = "groq", .api = UPSTREAM_OPENAI, .base_url = "https://api.groq.com/openai/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT | PE_MEDIA,
    .refusal = "a groq channel does not serve /v1/embeddings or /v1/rerank" },
  /* docs.together.ai/docs/inference/openai-compatibility ("base_url https://api.together.ai/v1"):
   * chat, completions, embeddings, rerank, images, audio */
  { .name = "together", .api = UPSTREAM_OPENAI, .base_url = "https://api.together.ai/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_ALL },
  /* developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility (Workers AI:
   * https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1; chat, embeddings, responses).
   * The account id is part of the URL: gwctl channel add --account-id fills it in. */
  { .name = "cloudflare", .api = UPSTREAM_OPENAI,
    .base_url = "https://api.cloudflare.com/client/v4/accounts/" PROVIDER_ACCOUNT "/ai/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT | PE_EMBEDDINGS | PE_MEDIA,
    .refusal = "a cloudflare channel does not serve /v1/rerank" },
  /* github.com/ollama/ollama docs/openai.md (http://localhost:11434/v1, "api_key required but
   * ignored"): chat, completions, embeddings, images; no rerank */
  { .name = "ollama", .api = UPSTREAM_OPENAI, .base_url = "http://localhost:11434/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_TEXT | PE_EMBEDDINGS | PE_MEDIA,
    .refusal = "an ollama channel does not serve /v1/rerank", .key = KEY_OPTIONAL },
  /* docs.vllm.ai serving/openai_compatible_server (vllm serve: http://localhost:8000/v1, a key only
   * with --api-key): chat, completions, embeddings, rerank, transcriptions, responses */
  { .name = "vllm", .api = UPSTREAM_OPENAI, .base_url = "http://localhost:8000/v1", .auth = AUTH_BEARER,
    .url = URLR_V1, .probe = PROBE_CHAT, .serves = PE_ALL, .key = KEY_OPTIONAL },
  { .name = "custom", .api = UPSTREAM_OPENAI, .auth = AUTH_BEARER, .url = URLR_V1, .probe = PROBE_CHAT,
    .serves = PE_ALL, .balance = BAL_OPENAI },
  /* an OpenAI-compatible API whose base URL names its API root: Zhipu https://open.bigmodel.cn/api/paas/v4,
   * Doubao .../api/v3, DashScope .../compatible-mode/v1, Gemini's .../v1beta/openai */
  { .name = "compatible", .api = UPSTREAM_OPENAI, .auth = AUTH_BEARER, .url = URLR_ROOT, .probe = PROBE_CHAT,
    .serves = PE_ALL },
  /* Claude on AWS Bedrock (InvokeModel, docs.aws.amazon.com/bedrock/latest/APIReference/
   * API_runtime_InvokeModel.html): base https://bedrock-runtime.REGION.amazonaws.com (gwctl
   * --region), model ids by the channel's model mapping, the key ACCESS_KEY_ID|SECRET|REGION */
  { .name = "bedrock", .api = UPSTREAM_BEDROCK, .auth = AUTH_SIGV4, .url = URLR_AS_IS, .probe = PROBE_BEDROCK,
    .serves = PE_TEXT, .refusal = "a bedrock channel serves only chat requests",
    .region_url = "https://bedrock-runtime." PROVIDER_REGION ".amazonaws.com" },
};
#define NPROVIDERS (sizeof providers / sizeof providers[0])

const struct provider *provider_find(const char *name)
{
  for (size_t i = 0; name && i < NPROVIDERS; i++)
    if (strcmp(providers[i].name, name) == 0)
      return &providers[i];
  return NULL;
}

const struct provider *provider_for_type(const char *name)
{
  const struct provider *p = provider_find(name);
  return p ? p : &providers[0];
}

const struct provider *provider_at(size_t i)
{
  return i < NPROVIDERS ? &providers[i] : NULL;
}

/* The lists are built once, from the const table: the same text every call, so a race between two
 * first callers writes the same bytes. */
const char *provider_type_list(void)
{
  static char list[512];
  if (!list[0]) {
    size_t n = 0;
    for (size_t i = 0; i < NPROVIDERS && n < sizeof list; i++)
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", providers[i].name);
  }
  return list;
}

const char *provider_default_list(void)
{
  static char list[512];
  if (!list[0]) {
    size_t have = 0, seen = 0, n = 0;
    for (size_t i = 0; i < NPROVIDERS; i++)
      have += providers[i].base_url && !provider_needs_account(&providers[i]);
    for (size_t i = 0; i < NPROVIDERS && n < sizeof list; i++) {
      if (!providers[i].base_url || provider_needs_account(&providers[i]))
        continue;
      seen++;
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", seen == 1 ? "" : seen == have ? " and " : ", ",
                            providers[i].name);
    }
  }
  return list;
}

int provider_region_base(const struct provider *p, const char *region, char *out, size_t outlen, char *err,
                         size_t errlen)
{
  size_t rl = region ? strlen(region) : 0;
  const char *at = p->region_url ? strstr(p->region_url, PROVIDER_REGION) : NULL;
  if (!at) {
    snprintf(err, errlen, "a %s channel has no region", p->name);
    return -1;
  }
  if (rl == 0 || rl > 32 || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != rl) {
    snprintf(err, errlen, "a region is 1 to 32 lower-case letters, digits and '-' (us-east-1)");
    return -1;
  }
  int n = snprintf(out, outlen, "%.*s%s%s", (int)(at - p->region_url), p->region_url, region,
                   at + strlen(PROVIDER_REGION));
  if (n < 0 || (size_t)n >= outlen) {
    snprintf(err, errlen, "the base URL is longer than %zu bytes", outlen ? outlen - 1 : 0);
    return -1;
  }
  return 0;
}

bool provider_needs_account(const struct provider *p)
{
  return p->base_url && strstr(p->base_url, PROVIDER_ACCOUNT) != NULL;
}

bool provider_speaks_openai(const struct provider *p)
{
  return p->api == UPSTREAM_OPENAI;
}

int provider_default_base(const struct provider *p, const char *account, char *out, size_t outlen, char *err,
                          size_t errlen)
{
  int n;
  if (!p->base_url) {
    snprintf(err, errlen, "a %s channel has no default base URL", p->name);
    return -1;
  }
  const char *at = strstr(p->base_url, PROVIDER_ACCOUNT);
  if (!at && account) {
    snprintf(err, errlen, "a %s channel's URL names no account", p->name);
    return -1;
  }
  if (!at) {
    n = snprintf(out, outlen, "%s", p->base_url);
  } else {
    size_t al = account ? strlen(account) : 0;
    if (!account) {
      snprintf(err, errlen, "a %s channel's URL names its account (%s)", p->name, p->base_url);
      return -1;
    }
    if (al == 0 || al > PROVIDER_ACCOUNT_MAX || strspn(account, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                "0123456789-_") != al) {
      snprintf(err, errlen, "an account id is 1 to %d letters, digits, '-' and '_'", PROVIDER_ACCOUNT_MAX);
      return -1;
    }
    n = snprintf(out, outlen, "%.*s%s%s", (int)(at - p->base_url), p->base_url, account,
                 at + strlen(PROVIDER_ACCOUNT));
  }
  if (n < 0 || (size_t)n >= outlen) {
    snprintf(err, errlen, "the base URL is longer than %zu bytes", outlen ? outlen - 1 : 0);
    return -1;
  }
  return 0;
}

const char *provider_api_name(const struct provider *p)
{
  switch (p->api) {
  case UPSTREAM_ANTHROPIC: return "anthropic";
  case UPSTREAM_AZURE: return "azure";
  case UPSTREAM_GEMINI: return "gemini";
  case UPSTREAM_COHERE: return "cohere";
  case UPSTREAM_JINA: return "jina";
  case UPSTREAM_BEDROCK: return "bedrock";
  case UPSTREAM_VERTEX: return "vertex";
  case UPSTREAM_RESPONSES: return "responses";
  case UPSTREAM_OPENAI: break;
  }
  return "openai";
}

const char *provider_auth_name(const struct provider *p)
{
  switch (p->auth) {
  case AUTH_X_API_KEY: return "x-api-key";
  case AUTH_API_KEY: return "api-key";
  case AUTH_GOOG: return "x-goog-api-key";
  case AUTH_SIGV4: return "AWS SigV4";
  case AUTH_GOOGLE_SA: return "Authorization: Bearer (service-account token)";
  case AUTH_BEARER: break;
  }
  return "Authorization: Bearer";
}

const char *provider_rule_name(const struct provider *p)
{
  switch (p->url) {
  case URLR_AZURE: return "azure";
  case URLR_AS_IS: return "as-is";
  case URLR_ROOT: return "root";
  case URLR_VERTEX: return "vertex";
  case URLR_V1: break;
  }
  return "v1";
}

void provider_endpoints(const struct provider *p, char *out, size_t outlen)
{
  static const struct { unsigned bit; const char *name; } classes[] = {
    { PE_TEXT, "chat" }, { PE_EMBEDDINGS, "embeddings" }, { PE_RERANK, "rerank" }, { PE_MEDIA, "media" },
  };
  size_t n = 0;
  if (outlen)
    out[0] = '\0';
  for (size_t i = 0; i < sizeof classes / sizeof classes[0] && n < outlen; i++)
    if (p->serves & classes[i].bit)
      n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? "," : "", classes[i].name);
}

bool provider_serves(const struct provider *p, unsigned e)
{
  return (p->serves & e) != 0;
}

int provider_auth_header(const struct provider *p, const char *key, char *out, size_t outlen)
{
  if (p->auth == AUTH_SIGV4) {   /* signed per request: no header carries the key */
    if (outlen)
      out[0] = '\0';
    return 0;
  }
  const char *fmt = p->auth == AUTH_X_API_KEY ? "x-api-key: %s"
                    : p->auth == AUTH_API_KEY ? "api-key: %s"
                    : p->auth == AUTH_GOOG    ? "x-goog-api-key: %s"
                                              : "Authorization: Bearer %s";
  int n = snprintf(out, outlen, fmt, key);
  if (n < 0 || (size_t)n >= outlen) {
    if (outlen)
      memset(out, 0, outlen);
    return -1;
  }
  return 0;
}

int provider_join(const char *base, const char *path, char *out, size_t outlen)
{
  /* base and path joined by hand (per request; no format parsed), bounded as snprintf */
  size_t bl = strlen(base);
  if (bl >= 3 && strcmp(base + bl - 3, "/v1") == 0 && strncmp(path, "/v1/", 4) == 0)
    path += 3;
  size_t pl = strlen(path);
  if (outlen == 0)
    return -1;
  size_t cb = bl < outlen - 1 ? bl : outlen - 1;
  memcpy(out, base, cb);
  size_t cp = pl < outlen - 1 - cb ? pl : outlen - 1 - cb;
  memcpy(out + cb, path, cp);
  out[cb + cp] = '\0';
  return bl + pl >= outlen ? -1 : 0;
}

int provider_url(const struct provider *p, const char *base, const char *api_version, const char *path,
                 const char *model, char *out, size_t outlen, char *err, size_t errlen)
{
  int n;
  if (p->url == URLR_VERTEX) {
    snprintf(err, errlen, "a %s channel's URL is built from its project and region (common/vertexapi.h)", p->name);
    return -1;
  }
  bool realtime = strcmp(path, "/v1/realtime") == 0;   /* the model is a query parameter */
  if (p->url == URLR_AZURE && strcmp(path, "/v1/responses") == 0) {
    /* Azure's Responses API is not under a deployment: the model travels in the body */
    n = snprintf(out, outlen, "%s/openai/responses?api-version=%s", base, api_version);
  } else if (p->url == URLR_AZURE && realtime) {
    /* Azure's realtime WebSocket (learn.microsoft.com/azure/ai-foundry/openai/realtime-audio-reference) */
    n = snprintf(out, outlen, "%s/openai/realtime?api-version=%s&deployment=%s", base, api_version, model);
  } else if (p->url == URLR_AZURE) {
    char deployment[256];
    size_t d = 0;
    for (const char *m = model; *m; m++) {
      if (*m == '.')
        continue;
      if (!((*m >= 'a' && *m <= 'z') || (*m >= 'A' && *m <= 'Z') || (*m >= '0' && *m <= '9') || *m == '-' ||
            *m == '_') || d >= sizeof deployment - 1) {
        snprintf(err, errlen, "an Azure deployment name may contain only letters, digits, '-' and '_'");
        return -1;
      }
      deployment[d++] = *m;
    }
    deployment[d] = '\0';
    /* path starts with /v1: the deployment path takes what follows it */
    n = snprintf(out, outlen, "%s/openai/deployments/%s%s?api-version=%s", base, deployment,
                 strncmp(path, "/v1/", 4) == 0 ? path + 3 : path, api_version);
  } else if (p->url == URLR_V1) {
    n = provider_join(base, path, out, outlen) == 0 ? 0 : -1;
  } else if (p->url == URLR_ROOT) {
    n = snprintf(out, outlen, "%s%s", base, strncmp(path, "/v1/", 4) == 0 ? path + 3 : path);
  } else {
    n = snprintf(out, outlen, "%s%s", base, path);
  }
  if (n >= 0 && (size_t)n < outlen && realtime && p->url != URLR_AZURE) {
    size_t l = strlen(out);
    n = snprintf(out + l, outlen - l, "?model=%s", model);
    n = n < 0 ? n : n + (int)l;
  }
  if (n < 0 || (size_t)n >= outlen) {
    snprintf(err, errlen, "the upstream URL is longer than %zu bytes", outlen - 1);
    return -1;
  }
  return 0;
}

/* Gemini's model-in-path: "models/" prefix dropped; letters, digits, . - _ @ only. */
static int gemini_path(char *out, size_t outlen, const char *model)
{
  if (!strncmp(model, "models/", 7))
    model += 7;
  if (!model[0])
    return -1;
  for (const char *c = model; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
          *c == '-' || *c == '_' || *c == '@'))
      return -1;
  int n = snprintf(out, outlen, "/v1beta/models/%s:generateContent", model);
  return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

char *provider_probe(const struct provider *p, const char *model, char *path, size_t pathlen, char *err,
                     size_t errlen)
{
  cJSON *req = cJSON_CreateObject();
  switch (p->probe) {
  case PROBE_GENERATE: {
    if (gemini_path(path, pathlen, model) < 0) {
      snprintf(err, errlen, "the model name '%s' cannot be used in a Gemini URL", model);
      cJSON_Delete(req);
      return NULL;
    }
    cJSON *part = cJSON_CreateObject(), *content = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "text", "hi");
    cJSON_AddStringToObject(content, "role", "user");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(content, "parts"), part);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "contents"), content);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(req, "generationConfig"), "maxOutputTokens", 5);
    break;
  }
  case PROBE_RERANK: {
    snprintf(path, pathlen, "/v1/rerank");
    cJSON_AddStringToObject(req, "model", model);
    cJSON_AddStringToObject(req, "query", "hi");
    cJSON *docs = cJSON_AddArrayToObject(req, "documents");
    cJSON_AddItemToArray(docs, cJSON_CreateString("hello"));
    cJSON_AddItemToArray(docs, cJSON_CreateString("goodbye"));
    cJSON_AddNumberToObject(req, "top_n", 1);
    break;
  }
  case PROBE_RESPONSES:
    /* the Responses API's smallest answer is 16 tokens (max_output_tokens' minimum) */
    snprintf(path, pathlen, "/v1/responses");
    cJSON_AddStringToObject(req, "model", model);
    cJSON_AddStringToObject(req, "input", "hi");
    cJSON_AddNumberToObject(req, "max_output_tokens", 16);
    cJSON_AddBoolToObject(req, "store", false);
    break;
  case PROBE_BEDROCK: {
    if (sigv4_bedrock_path(model, 0, path, pathlen) < 0) {
      snprintf(err, errlen, "the model name '%s' cannot be used in a Bedrock URL", model);
      cJSON_Delete(req);
      return NULL;
    }
    cJSON_AddStringToObject(req, "anthropic_version", BEDROCK_ANTHROPIC_VERSION);
    cJSON *m0 = cJSON_CreateObject();
    cJSON_AddStringToObject(m0, "role", "user");
    cJSON_AddStringToObject(m0, "content", "hi");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "messages"), m0);
    cJSON_AddNumberToObject(req, "max_tokens", 5);
    break;
  }
  case PROBE_MESSAGES:
  case PROBE_CHAT: {
    snprintf(path, pathlen, p->probe == PROBE_MESSAGES ? "/v1/messages" : "/v1/chat/completions");
    cJSON_AddStringToObject(req, "model", model);
    cJSON *m0 = cJSON_CreateObject();
    cJSON_AddStringToObject(m0, "role", "user");
    cJSON_AddStringToObject(m0, "content", "hi");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "messages"), m0);
    cJSON_AddNumberToObject(req, "max_tokens", 5);
    break;
  }
  }
  char *body = cJSON_PrintUnformatted(req);
  cJSON_Delete(req);
  if (!body)
    snprintf(err, errlen, "out of memory");
  return body;
}
