/* provider: see provider.h. */
#include "provider.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* One row per channel type. The order is the order lists and messages show. */
static const struct provider providers[] = {
  { "openai", UPSTREAM_OPENAI, "https://api.openai.com", AUTH_BEARER, NULL, URLR_V1, PROBE_CHAT, PE_ALL, NULL },
  { "azure", UPSTREAM_AZURE, NULL, AUTH_API_KEY, NULL, URLR_AZURE, PROBE_CHAT,
    PE_TEXT | PE_EMBEDDINGS | PE_MEDIA, "an azure channel does not serve /v1/rerank" },
  { "anthropic", UPSTREAM_ANTHROPIC, "https://api.anthropic.com", AUTH_X_API_KEY, "anthropic-version: 2023-06-01",
    URLR_V1, PROBE_MESSAGES, PE_TEXT | PE_EMBEDDINGS, "an anthropic channel serves only chat requests" },
  { "gemini", UPSTREAM_GEMINI, "https://generativelanguage.googleapis.com", AUTH_GOOG, NULL, URLR_AS_IS,
    PROBE_GENERATE, PE_TEXT | PE_EMBEDDINGS, "a gemini channel serves only chat requests" },
  { "cohere", UPSTREAM_COHERE, "https://api.cohere.ai", AUTH_BEARER, NULL, URLR_V1, PROBE_RERANK, PE_RERANK,
    "a cohere channel serves only /v1/rerank" },
  { "jina", UPSTREAM_JINA, "https://api.jina.ai", AUTH_BEARER, NULL, URLR_V1, PROBE_RERANK,
    PE_RERANK | PE_EMBEDDINGS, "a jina channel serves only /v1/rerank and /v1/embeddings" },
  { "deepseek", UPSTREAM_OPENAI, "https://api.deepseek.com", AUTH_BEARER, NULL, URLR_V1, PROBE_CHAT, PE_ALL, NULL },
  { "ollama", UPSTREAM_OPENAI, NULL, AUTH_BEARER, NULL, URLR_V1, PROBE_CHAT, PE_ALL, NULL },
  { "vllm", UPSTREAM_OPENAI, NULL, AUTH_BEARER, NULL, URLR_V1, PROBE_CHAT, PE_ALL, NULL },
  { "custom", UPSTREAM_OPENAI, NULL, AUTH_BEARER, NULL, URLR_V1, PROBE_CHAT, PE_ALL, NULL },
  { "openrouter", UPSTREAM_OPENAI, "https://openrouter.ai/api", AUTH_BEARER, NULL, URLR_V1, PROBE_CHAT, PE_ALL,
    NULL },
  /* an OpenAI-compatible API whose base URL names its API root: Zhipu https://open.bigmodel.cn/api/paas/v4,
   * Doubao .../api/v3, DashScope .../compatible-mode/v1, Gemini's .../v1beta/openai */
  { "compatible", UPSTREAM_OPENAI, NULL, AUTH_BEARER, NULL, URLR_ROOT, PROBE_CHAT, PE_ALL, NULL },
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
      have += providers[i].base_url != NULL;
    for (size_t i = 0; i < NPROVIDERS && n < sizeof list; i++) {
      if (!providers[i].base_url)
        continue;
      seen++;
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", seen == 1 ? "" : seen == have ? " and " : ", ",
                            providers[i].name);
    }
  }
  return list;
}

bool provider_serves(const struct provider *p, unsigned e)
{
  return (p->serves & e) != 0;
}

int provider_auth_header(const struct provider *p, const char *key, char *out, size_t outlen)
{
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
  size_t bl = strlen(base);
  int n;
  if (bl >= 3 && strcmp(base + bl - 3, "/v1") == 0 && strncmp(path, "/v1/", 4) == 0)
    n = snprintf(out, outlen, "%s%s", base, path + 3);
  else
    n = snprintf(out, outlen, "%s%s", base, path);
  return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int provider_url(const struct provider *p, const char *base, const char *api_version, const char *path,
                 const char *model, char *out, size_t outlen, char *err, size_t errlen)
{
  int n;
  if (p->url == URLR_AZURE && strcmp(path, "/v1/responses") == 0) {
    /* Azure's Responses API is not under a deployment: the model travels in the body */
    n = snprintf(out, outlen, "%s/openai/responses?api-version=%s", base, api_version);
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
