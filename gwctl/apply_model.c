/* apply_model: see apply_model.h. */
#include "gwctl.h"
#include "i18n.h"
#include "channels.h"
#include "keys.h"
#include "output.h"
#include "gcpauth.h"
#include "provider.h"
#include "quota.h"
#include "rules.h"
#include "store.h"
#include "when.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "apply_model.h"

const char *const ap_op_names[] = { "create", "update", "delete" };

const struct ap_kind ap_kinds[K_N] = {
  { "groups", "group", "name" },
  { "prices", "price", "model" },
  { "options", "option", "key" },
  { "users", "user", "name" },
  { "channels", "channel", "name" },
  { "tokens", "token", "name" },
  { "fallbacks", "fallback", "model" },
};

void ap_set_add(struct set *s, const char *key, int64_t id, cJSON *obj, int index)
{
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v)
      abort();
  }
  s->v[s->n++] = (struct item){ .key = strdup(key), .id = id, .obj = obj, .index = index };
}

void ap_set_index(struct set *s)
{
  strmap_init(&s->by_key, s->n + 1);
  for (size_t i = 0; i < s->n; i++)
    strmap_put(&s->by_key, s->v[i].key, &s->v[i]);
}

struct item *ap_set_get(const struct set *s, const char *key)
{
  return s->by_key.slots ? strmap_get(&s->by_key, key) : NULL;
}

void ap_pool_free(char **pool, size_t n)
{
  for (size_t i = 0; pool && i < n; i++)
    if (pool[i]) {
      OPENSSL_cleanse(pool[i], strlen(pool[i]));
      free(pool[i]);
    }
  free(pool);
}

void ap_set_free(struct set *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].key);
    cJSON_Delete(s->v[i].obj);
    if (s->v[i].secret) {
      OPENSSL_cleanse(s->v[i].secret, strlen(s->v[i].secret));
      free(s->v[i].secret);
    }
    free(s->v[i].key_file);
    ap_pool_free(s->v[i].pool, s->v[i].npool);
  }
  free(s->v);
  if (s->by_key.slots)
    strmap_free(&s->by_key);
  memset(s, 0, sizeof *s);
}

const char *ap_str_of(const cJSON *o, const char *field)
{
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, field));
  return s ? s : "";
}

double ap_num_of(const cJSON *o, const char *field)
{
  return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, field));
}

int64_t ap_int_of(const cJSON *o, const char *field)
{
  double d = ap_num_of(o, field);
  return isnan(d) ? 0 : (int64_t)d;
}

/* A JSON array of strings joined by commas into out. */
void ap_join_array(const cJSON *a, char *out, size_t len)
{
  size_t used = 0;
  const cJSON *it;
  out[0] = '\0';
  cJSON_ArrayForEach(it, a) {
    int n = snprintf(out + used, len - used, "%s%s", used ? "," : "", cJSON_GetStringValue(it));
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

/* An object stored as text: "" for an empty object, else compact JSON. Caller frees. */
char *ap_obj_text(const cJSON *o)
{
  return o && o->child ? cJSON_PrintUnformatted(o) : strdup("");
}

/* A text column holding a JSON object ("" = {}); something else is kept as a string. */
cJSON *ap_obj_from_text(const char *s)
{
  cJSON *o = *s ? cJSON_Parse(s) : cJSON_CreateObject();
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    o = cJSON_CreateString(s);
  }
  return o;
}

/* A value for messages: strings bare, the rest as compact JSON. */
void ap_value_text(const cJSON *v, char *out, size_t len)
{
  if (!v) {
    snprintf(out, len, "(none)");
    return;
  }
  if (cJSON_IsString(v)) {
    snprintf(out, len, "%s", *v->valuestring ? v->valuestring : "\"\"");
    return;
  }
  char *t = cJSON_PrintUnformatted(v);
  snprintf(out, len, "%s", t ? t : "?");
  free(t);
}


