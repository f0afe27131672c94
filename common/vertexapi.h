/*
 * vertexapi: the shapes of a Google Vertex AI call, for the channel type "vertex" (provider.h):
 *   - which publisher serves a model: a channel's upstream model name (after its model mapping)
 *     "anthropic/NAME" or "google/NAME" names it; otherwise claude-* goes to anthropic (Claude on
 *     Vertex), anything else to google (Gemini on Vertex);
 *   - the URL: BASE/v1/projects/PROJECT/locations/REGION/publishers/google/models/MODEL:
 *     generateContent | :streamGenerateContent?alt=sse
 *     (cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent)
 *     and .../publishers/anthropic/models/MODEL:rawPredict | :streamRawPredict
 *     (cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/use-claude);
 *     BASE is https://REGION-aiplatform.googleapis.com, or https://aiplatform.googleapis.com for the
 *     location "global", unless the channel names its own (a private endpoint, a test's mock);
 *   - Claude's body: the Messages request without "model" and with "anthropic_version":
 *     "vertex-2023-10-16";
 *   - the channel's region and project, kept in channels.other as {"region":R,"project":P} (the
 *     project defaults to the service-account key's project_id).
 * Callers: relayd/vertex.c (requests and probes), gwctl (channel add, types, test).
 * Never: does I/O or keeps state; every name that goes into a URL is checked here first.
 */
#ifndef RELAY_VERTEXAPI_H
#define RELAY_VERTEXAPI_H

#include <stdbool.h>
#include <stddef.h>

enum vertex_publisher { VERTEX_GOOGLE, VERTEX_ANTHROPIC };

#define VERTEX_ANTHROPIC_VERSION "vertex-2023-10-16"
#define VERTEX_DEFAULT_REGION "global"
#define VERTEX_NAME_MAX 63       /* a region or project id */

/* The publisher of model and, in *name, the model without a "anthropic/" or "google/" prefix. */
enum vertex_publisher vertex_publisher(const char *model, const char **name);
const char *vertex_publisher_name(enum vertex_publisher p);
/* A region ("us-east5", "global") or project id: 1..63 lowercase letters, digits and '-'. */
bool vertex_name_ok(const char *s);
/* The public endpoint of region into out. 0, or -1 (a bad region, or no room). */
int vertex_default_base(const char *region, char *out, size_t outlen);
/* The URL of a call to model (publisher prefix allowed) on base for project and region, streamed or
 * not. 0, or -1 with a reason in err (a name that cannot go in the URL, or no room). */
int vertex_url(const char *base, const char *project, const char *region, const char *model, bool stream,
               char *out, size_t outlen, char *err, size_t errlen);
/* A Messages request body as Claude on Vertex takes it: malloc'd (cJSON_free), its length in
 * *outlen; NULL with err when body is not a JSON object. */
char *vertex_claude_body(const char *body, size_t len, size_t *outlen, char *err, size_t errlen);
/* The region and project a channel's other JSON names ("" when it names none, or a bad one). */
void vertex_other(const char *other, char *region, size_t regionlen, char *project, size_t projectlen);
/* The smallest real request to model (a 5-token "hi" in the publisher's shape, not streamed):
 * malloc'd body (cJSON_free), or NULL with err. */
char *vertex_probe_body(const char *model, char *err, size_t errlen);

#endif
