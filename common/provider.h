/*
 * provider: what relay knows about each channel type, in ONE table (provider.c `providers[]`):
 * its name, the wire format it speaks, its public API's default base URL, the header the key goes
 * in, whether a key is needed at all, how an upstream URL is built from the base (the /v1 rule, Azure
 * deployments, Gemini's model in the path, an API root; Vertex AI's project/region/publisher paths
 * are common/vertexapi.h's), the probe a channel test sends, and which
 * endpoints it serves. The OpenAI-compatible presets (DeepSeek, Moonshot, Zhipu, Qwen, Doubao,
 * MiniMax, SiliconFlow, OpenRouter, xAI, Mistral, Groq, Together, Cloudflare Workers AI, Ollama,
 * vLLM) carry their provider's documented API root, cited beside each row.
 *
 * Callers: relayd (snapshot.c loads channels, builds their headers and URLs; monitor.c probes;
 * media.c refuses endpoints a type does not serve), gwctl (channel add/edit validation and
 * defaults, channel types, channel test/models, apply, import), the completions and docs (kept in
 * step by hand; tests/bats/60-docs.bats checks the type lists).
 * Adding an OpenAI-compatible preset is one row; a provider with its own wire format is one row
 * plus a format in relayd.
 * Never: does I/O, allocates (except provider_probe's body), or keeps state: the table is const.
 */
#ifndef RELAY_PROVIDER_H
#define RELAY_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

/* The wire format a channel speaks: anthropic -> the Messages API; azure -> the OpenAI API on
 * deployment paths; gemini -> generateContent; cohere and jina -> their own /v1/rerank dialects
 * (jina also OpenAI-style embeddings); openai -> OpenAI chat and everything compatible; responses ->
 * the OpenAI Responses API only (/v1/responses: models offered only there; every client format is
 * converted to it). */
enum upstream_api { UPSTREAM_OPENAI, UPSTREAM_ANTHROPIC, UPSTREAM_AZURE, UPSTREAM_GEMINI, UPSTREAM_COHERE,
                    UPSTREAM_JINA,
                    UPSTREAM_BEDROCK,  /* the Messages API through AWS Bedrock's InvokeModel (relayd/bedrock.h) */
                    UPSTREAM_VERTEX, /* Google Vertex AI: Gemini or Claude by model (common/vertexapi.h) */
                    UPSTREAM_RESPONSES /* the OpenAI Responses API only (relayd/responses.h) */ };

/* The header the key goes in. */
enum provider_auth {
  AUTH_BEARER,     /* Authorization: Bearer KEY */
  AUTH_X_API_KEY,  /* x-api-key: KEY (Anthropic) */
  AUTH_API_KEY,    /* api-key: KEY (Azure) */
  AUTH_GOOG,       /* x-goog-api-key: KEY (Gemini) */
  AUTH_SIGV4,      /* no key header: each request is signed with AWS SigV4 (common/sigv4.h) */
  AUTH_GOOGLE_SA,  /* the key is a service-account key: Authorization: Bearer ACCESS-TOKEN, the token
                    * got for it (common/gcpauth.h; relayd/vertex.c keeps it fresh) */
};

/* How an upstream URL is built from the base URL and an OpenAI-style path ("/v1/..."). */
enum provider_url_rule {
  URLR_V1,         /* base + path; a base ending in /v1 gets no second one */
  URLR_AZURE,      /* base/openai/deployments/MODEL-without-dots/...?api-version=V */
  URLR_AS_IS,      /* base + path as given (Gemini: the model is already in the path) */
  URLR_ROOT,       /* the base is the API root (.../api/paas/v4, .../compatible-mode/v1): base + path
                    * without its leading /v1 (One API's type 50 "OpenAI compatible" rule) */
  URLR_VERTEX,     /* base/v1/projects/P/locations/R/publishers/PUB/models/M:METHOD: built by
                    * common/vertexapi.h from the channel's project and region, not by provider_url */
};

/* The smallest real request a channel test sends (relayd's periodic test and gwctl channel test). */
enum provider_probe {
  PROBE_CHAT,      /* POST /v1/chat/completions, a 5-token "hi" */
  PROBE_MESSAGES,  /* POST /v1/messages, the same in Anthropic's shape */
  PROBE_GENERATE,  /* POST /v1beta/models/MODEL:generateContent */
  PROBE_RERANK,    /* POST /v1/rerank, two documents */
  PROBE_BEDROCK,   /* POST /model/MODEL_ID/invoke, PROBE_MESSAGES's body for Bedrock */
  PROBE_RESPONSES, /* POST /v1/responses, "hi" in at most 16 tokens */
};

/* Endpoint classes a type serves (provider.serves). */
#define PE_TEXT 1u        /* chat, completions (and anything else of media kind none) */
#define PE_EMBEDDINGS 2u  /* /v1/embeddings */
#define PE_RERANK 4u      /* /v1/rerank */
#define PE_MEDIA 8u       /* responses, images, audio, moderations */
#define PE_ALL (PE_TEXT | PE_EMBEDDINGS | PE_RERANK | PE_MEDIA)
#define PE_REALTIME 16u   /* the Realtime API's WebSocket, /v1/realtime (OpenAI's and Azure's own) */

#define AZURE_DEFAULT_API_VERSION "2024-12-01-preview"

/* Whether a channel of the type needs an upstream key. */
enum provider_key {
  KEY_REQUIRED,    /* gwctl channel add refuses an empty key unless --no-key */
  KEY_OPTIONAL,    /* self-hosted servers (Ollama, vLLM): no key is no Authorization header at all */
};

/* The one placeholder a default base URL may hold: filled from gwctl's --account-id. */
#define PROVIDER_ACCOUNT "{account-id}"
#define PROVIDER_ACCOUNT_MAX 64
/* ... and the one of region_url: filled from gwctl's --region. */
#define PROVIDER_REGION "{region}"

struct provider {
  const char *name;            /* the channel type, as stored in channels.type */
  enum upstream_api api;
  const char *base_url;        /* the public API (no trailing '/'), or NULL: --base-url needed; may
                                * hold PROVIDER_ACCOUNT (Cloudflare's account id) */
  enum provider_auth auth;
  const char *extra_header;    /* sent on every request (anthropic-version), or NULL */
  enum provider_url_rule url;
  enum provider_probe probe;
  unsigned serves;             /* PE_* */
  const char *refusal;         /* the message when asked for an endpoint outside serves */
  enum provider_key key;
  const char *region_url;      /* the base URL in a region, PROVIDER_REGION in it (Bedrock's), or NULL:
                                * gwctl channel add --region fills it in */
};

/* The row of a type name, or NULL when relay has no such type. */
const struct provider *provider_find(const char *name);
/* The row relayd uses for a stored type: provider_find, or the openai row for an unknown one. */
const struct provider *provider_for_type(const char *name);
/* The rows in table order, NULL past the end. */
const struct provider *provider_at(size_t i);
/* "openai, azure, ...": every type, in table order. */
const char *provider_type_list(void);
/* "openai, anthropic, ... and vllm": the types with a default base URL (cloudflare's needs an
 * account id: it is left out). */
const char *provider_default_list(void);
/* The base URL a new channel of p gets without --base-url: p's default with account (may be NULL)
 * in place of PROVIDER_ACCOUNT. Returns 0, or -1 with a reason in err: p has no default, its default
 * names an account and account is NULL, account is given for a type whose URL names none, or it is
 * not 1..PROVIDER_ACCOUNT_MAX letters, digits, '-' and '_'. */
int provider_default_base(const struct provider *p, const char *account, char *out, size_t outlen, char *err,
                          size_t errlen);
/* p's base URL in region (p->region_url with region in place of PROVIDER_REGION). Returns 0, or -1
 * with a reason in err: p has no regional URL, or region is not 1..32 of a-z, 0-9 and '-'. */
int provider_region_base(const struct provider *p, const char *region, char *out, size_t outlen, char *err,
                         size_t errlen);
/* Whether p's default base URL names an account (PROVIDER_ACCOUNT). */
bool provider_needs_account(const struct provider *p);
/* Whether p speaks the OpenAI API as OpenAI does (openai, custom, compatible and every preset). */
bool provider_speaks_openai(const struct provider *p);
/* Names for lists: the wire format ("openai"), the auth header ("Authorization: Bearer"), the URL
 * rule ("v1", "root", "azure", "as-is"); provider_endpoints writes "chat,embeddings,rerank,media"
 * (the PE_* classes served) into out. */
const char *provider_api_name(const struct provider *p);
const char *provider_auth_name(const struct provider *p);
const char *provider_rule_name(const struct provider *p);
void provider_endpoints(const struct provider *p, char *out, size_t outlen);
/* Whether p serves endpoint class e (one PE_* bit). */
bool provider_serves(const struct provider *p, unsigned e);

/* The header line carrying key ("Authorization: Bearer KEY"...). Returns 0, or -1 when it does not
 * fit in out (out is then ""). AUTH_SIGV4 has none: 0 with out "". The caller wipes out after use. */
int provider_auth_header(const struct provider *p, const char *key, char *out, size_t outlen);

/* base + path with the /v1 rule (a base ending in /v1 and a path starting /v1/ share one /v1).
 * Returns 0, or -1 when it does not fit. */
int provider_join(const char *base, const char *path, char *out, size_t outlen);

/* The upstream URL of an OpenAI-style path for model on base (no trailing '/'), by p's URL rule;
 * api_version is Azure's. Returns 0, or -1 with a reason in err (an Azure deployment name that
 * cannot go in a URL, or a URL too long). */
int provider_url(const struct provider *p, const char *base, const char *api_version, const char *path,
                 const char *model, char *out, size_t outlen, char *err, size_t errlen);

/* The probe request of p for model: sets path (for provider_url) and returns the JSON body
 * (cJSON_free()), or NULL with a reason in err (a model name that cannot go in a URL). */
char *provider_probe(const struct provider *p, const char *model, char *path, size_t pathlen, char *err,
                     size_t errlen);

#endif
