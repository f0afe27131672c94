/* vertexapi: see vertexapi.h. */
#include "vertexapi.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

enum vertex_publisher vertex_publisher(const char *model, const char **name)
{
  if (strncmp(model, "anthropic/", 10) == 0) {
    *name = model + 10;
    return VERTEX_ANTHROPIC;
  }
  if (strncmp(model, "google/", 7) == 0) {
    *name = model + 7;
    return VERTEX_GOOGLE;
  }
  *name = model;
  return strncmp(model, "claude-", 7) == 0 ? VERTEX_ANTHROPIC : VERTEX_GOOGLE;
}

const char *vertex_publisher_name(enum vertex_publisher p)
{
  return p == VERTEX_ANTHROPIC ? "anthropic" : "google";
}

bool vertex_name_ok(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  return n >= 1 && n <= VERTEX_NAME_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

int vertex_default_base(const char *region, char *out, size_t outlen)
{
  if (!vertex_name_ok(region))
    return -1;
  int n = strcmp(region, "global") == 0 ? snprintf(out, outlen, "https://aiplatform.googleapis.com")
                                        : snprintf(out, outlen, "https://%s-aiplatform.googleapis.com", region);
  return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* A model id in a Vertex path: letters, digits, . - _ @ (claude-sonnet-4@20250514). */
static bool model_ok(const char *m)
{
  size_t n = strlen(m);
  return n >= 1 && n <= 128 &&
         strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@") == n;
}

int vertex_url(const char *base, const char *project, const char *region, const char *model, bool stream,
               char *out, size_t outlen, char *err, size_t errlen)
{
  const char *name;
  enum vertex_publisher p = vertex_publisher(model, &name);
  if (!vertex_name_ok(project)) {
    snprintf(err, errlen, "the channel names no usable Google Cloud project (gwctl channel edit NAME --project P)");
    return -1;
  }
  if (!vertex_name_ok(region)) {
    snprintf(err, errlen, "the channel names no usable Vertex AI region");
    return -1;
  }
  if (!model_ok(name)) {
    snprintf(err, errlen, "the model name cannot be used in a Vertex AI URL");
    return -1;
  }
  const char *method = p == VERTEX_ANTHROPIC ? (stream ? "streamRawPredict" : "rawPredict")
                                             : (stream ? "streamGenerateContent?alt=sse" : "generateContent");
  int n = snprintf(out, outlen, "%s/v1/projects/%s/locations/%s/publishers/%s/models/%s:%s", base, project, region,
                   vertex_publisher_name(p), name, method);
  if (n < 0 || (size_t)n >= outlen) {
    snprintf(err, errlen, "the upstream URL is longer than %zu bytes", outlen ? outlen - 1 : 0);
    return -1;
  }
  return 0;
}

char *vertex_claude_body(const char *body, size_t len, size_t *outlen, char *err, size_t errlen)
{
  cJSON *j = cJSON_ParseWithLength(body ? body : "", len);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    snprintf(err, errlen, "the request for Claude on Vertex AI is not a JSON object");
    return NULL;
  }
  /* the model is in the URL; the API version in the body instead of a header */
  cJSON_DeleteItemFromObjectCaseSensitive(j, "model");
  cJSON_DeleteItemFromObjectCaseSensitive(j, "anthropic_version");
  char *out = NULL;
  if (cJSON_AddStringToObject(j, "anthropic_version", VERTEX_ANTHROPIC_VERSION))
    out = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!out) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  *outlen = strlen(out);
  return out;
}

void vertex_other(const char *other, char *region, size_t regionlen, char *project, size_t projectlen)
{
  region[0] = project[0] = '\0';
  cJSON *j = cJSON_Parse(other ? other : "");
  const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "region"));
  const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "project"));
  if (vertex_name_ok(r))
    snprintf(region, regionlen, "%s", r);
  if (vertex_name_ok(p))
    snprintf(project, projectlen, "%s", p);
  cJSON_Delete(j);
}

char *vertex_probe_body(const char *model, char *err, size_t errlen)
{
  const char *name;
  enum vertex_publisher p = vertex_publisher(model, &name);
  cJSON *req = cJSON_CreateObject();
  cJSON *m0 = cJSON_CreateObject();
  if (p == VERTEX_ANTHROPIC) {
    cJSON_AddStringToObject(req, "anthropic_version", VERTEX_ANTHROPIC_VERSION);
    cJSON_AddStringToObject(m0, "role", "user");
    cJSON_AddStringToObject(m0, "content", "hi");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "messages"), m0);
    cJSON_AddNumberToObject(req, "max_tokens", 5);
  } else {
    cJSON *part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "text", "hi");
    cJSON_AddStringToObject(m0, "role", "user");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(m0, "parts"), part);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "contents"), m0);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(req, "generationConfig"), "maxOutputTokens", 5);
  }
  char *body = cJSON_PrintUnformatted(req);
  cJSON_Delete(req);
  if (!body)
    snprintf(err, errlen, "out of memory");
  return body;
}
