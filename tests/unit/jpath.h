/*
 * jpath: reading parsed JSON in the unit tests by a dotted path ("choices.0.message.content";
 * numbers index arrays): G the node, S its string, N its number (-999 when it is none).
 */
#ifndef RELAY_TEST_JPATH_H
#define RELAY_TEST_JPATH_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Follows a dotted path ("choices.0.message.content"); numbers index arrays. */
static inline const cJSON *G(const cJSON *o, const char *path)
{
  char key[128];
  while (o && *path) {
    size_t n = strcspn(path, ".");
    snprintf(key, sizeof key, "%.*s", (int)n, path);
    if (cJSON_IsArray(o))
      o = cJSON_GetArrayItem(o, atoi(key));
    else
      o = cJSON_GetObjectItemCaseSensitive(o, key);
    path += n;
    if (*path == '.')
      path++;
  }
  return o;
}

static inline const char *S(const cJSON *o, const char *path)
{
  const cJSON *v = G(o, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline double N(const cJSON *o, const char *path)
{
  const cJSON *v = G(o, path);
  return cJSON_IsNumber(v) ? v->valuedouble : -999;
}

#endif
