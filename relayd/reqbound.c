/* reqbound: see reqbound.h. */
#include "reqbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_key(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key of o that appears twice, or NULL. Small objects pairwise, larger ones sorted. */
static const char *dup_in_object(const cJSON *o)
{
  size_t n = 0;
  for (const cJSON *c = o->child; c; c = c->next)
    n++;
  if (n < 2)
    return NULL;
  if (n <= 12) {
    for (const cJSON *a = o->child; a; a = a->next)
      for (const cJSON *b = a->next; b; b = b->next)
        if (a->string && b->string && strcmp(a->string, b->string) == 0)
          return a->string;
    return NULL;
  }
  const char **keys = malloc(n * sizeof *keys);
  if (!keys)
    return "";                     /* out of memory: refuse rather than guess */
  size_t k = 0;
  for (const cJSON *c = o->child; c; c = c->next)
    keys[k++] = c->string ? c->string : "";
  qsort(keys, n, sizeof *keys, cmp_key);
  const char *dup = NULL;
  for (size_t i = 1; i < n && !dup; i++)
    if (strcmp(keys[i - 1], keys[i]) == 0)
      dup = keys[i];
  free(keys);
  return dup;
}

/* path grows as we descend; len is its length at this level */
static bool dup_walk(const cJSON *node, char *path, size_t cap, size_t len, int depth)
{
  if (depth > CJSON_NESTING_LIMIT)
    return false;
  if (cJSON_IsObject(node)) {
    const char *d = dup_in_object(node);
    if (d) {
      snprintf(path + len, cap - len, ".%s", d);
      return true;
    }
    for (const cJSON *c = node->child; c; c = c->next) {
      int w = snprintf(path + len, cap - len, ".%s", c->string ? c->string : "");
      size_t nl = w < 0 || (size_t)w >= cap - len ? cap - 1 : len + (size_t)w;
      if (dup_walk(c, path, cap, nl, depth + 1))
        return true;
    }
  } else if (cJSON_IsArray(node)) {
    size_t i = 0;
    for (const cJSON *c = node->child; c; c = c->next, i++) {
      int w = snprintf(path + len, cap - len, "[%zu]", i);
      size_t nl = w < 0 || (size_t)w >= cap - len ? cap - 1 : len + (size_t)w;
      if (dup_walk(c, path, cap, nl, depth + 1))
        return true;
    }
  }
  path[len] = '\0';
  return false;
}

/* Is any key repeated in node's objects? The walk of every request: no path written (dup_walk
 * writes one, with a snprintf per member, only for a request found to have a repeated key). */
static bool has_dup(const cJSON *node, int depth)
{
  if (depth > CJSON_NESTING_LIMIT || !(cJSON_IsObject(node) || cJSON_IsArray(node)))
    return false;
  if (cJSON_IsObject(node) && dup_in_object(node))
    return true;
  for (const cJSON *c = node->child; c; c = c->next)
    if (has_dup(c, depth + 1))
      return true;
  return false;
}

bool reqbound_duplicate_key(const cJSON *root, char *path, size_t pathlen)
{
  if (!has_dup(root, 0)) {
    if (path && pathlen)
      path[0] = '\0';
    return false;
  }
  char buf[256];
  snprintf(buf, sizeof buf, "$");
  bool dup = dup_walk(root, buf, sizeof buf, 1, 0);
  if (path && pathlen)
    snprintf(path, pathlen, "%s", dup ? buf : "");
  return dup;
}

struct bound_acc {
  size_t media_bytes;   /* bytes of image payloads, replaced by IMAGE_TOKENS each */
  int64_t images, files;
};

static const char *str_of(const cJSON *o, const char *k)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static size_t strlen_of(const cJSON *o, const char *k)
{
  const char *s = str_of(o, k);
  return s ? strlen(s) : 0;
}

static bool is_image_mime(const cJSON *o)
{
  const char *m = str_of(o, "mimeType");
  if (!m)
    m = str_of(o, "mime_type");
  if (!m)
    m = str_of(o, "media_type");
  return m && strncmp(m, "image/", 6) == 0;
}

/* The members bound_walk looks at, each the first of its name (as cJSON_GetObjectItemCaseSensitive
 * finds it), gathered in one pass over the object: a lookup per name walked every object's members
 * ten times. */
struct media_keys {
  const cJSON *type, *image_url, *source, *inlineData, *inline_data, *fileData, *file_data, *file_id, *file_url,
      *fileUri;
};

static void take(const cJSON **slot, const cJSON *c)
{
  if (!*slot)
    *slot = c;
}

static void media_keys(const cJSON *o, struct media_keys *k)
{
  memset(k, 0, sizeof *k);
  for (const cJSON *c = o->child; c; c = c->next) {
    const char *s = c->string;
    if (!s)
      continue;
    switch (s[0]) {
    case 't':
      if (strcmp(s, "type") == 0)
        take(&k->type, c);
      break;
    case 'i':
      if (strcmp(s, "image_url") == 0)
        take(&k->image_url, c);
      else if (strcmp(s, "inlineData") == 0)
        take(&k->inlineData, c);
      else if (strcmp(s, "inline_data") == 0)
        take(&k->inline_data, c);
      break;
    case 's':
      if (strcmp(s, "source") == 0)
        take(&k->source, c);
      break;
    case 'f':
      if (strcmp(s, "fileData") == 0)
        take(&k->fileData, c);
      else if (strcmp(s, "file_data") == 0)
        take(&k->file_data, c);
      else if (strcmp(s, "file_id") == 0)
        take(&k->file_id, c);
      else if (strcmp(s, "file_url") == 0)
        take(&k->file_url, c);
      else if (strcmp(s, "fileUri") == 0)
        take(&k->fileUri, c);
      break;
    default:
      break;
    }
  }
}

static void bound_walk(const cJSON *node, struct bound_acc *a, int depth)
{
  if (depth > CJSON_NESTING_LIMIT)
    return;
  if (cJSON_IsObject(node)) {
    struct media_keys k;
    media_keys(node, &k);
    const char *type = cJSON_IsString(k.type) ? k.type->valuestring : NULL;
    const cJSON *v;
    /* OpenAI chat {"type":"image_url","image_url":{"url":..}}; Responses {"type":"input_image",
     * "image_url": "..."|"file_id": ..} */
    if ((v = k.image_url) != NULL || (type && strcmp(type, "input_image") == 0)) {
      a->images++;
      a->media_bytes += cJSON_IsString(v) ? strlen(v->valuestring) : strlen_of(v, "url");
      return;
    }
    /* Anthropic {"type":"image","source":{"type":"base64","data":..}|{"type":"url","url":..}|file} */
    const cJSON *src = k.source;
    if (type && cJSON_IsObject(src) && strcmp(type, "image") == 0) {
      a->images++;
      a->media_bytes += strlen_of(src, "data") + strlen_of(src, "url");
      return;
    }
    if (type && cJSON_IsObject(src) && strcmp(type, "document") == 0) {
      const char *st = str_of(src, "type");
      if (st && (strcmp(st, "url") == 0 || strcmp(st, "file") == 0))
        a->files++;
      return;        /* base64 or text documents: their bytes count */
    }
    /* Gemini inlineData (bytes in the body) and fileData (a URI) */
    if ((v = k.inlineData) != NULL || (v = k.inline_data) != NULL) {
      if (is_image_mime(v)) {
        a->images++;
        a->media_bytes += strlen_of(v, "data");
      }
      return;
    }
    if ((v = k.fileData) != NULL || (v = k.file_data) != NULL) {
      if (cJSON_IsObject(v) && is_image_mime(v))
        a->images++;
      else if (cJSON_IsObject(v))
        a->files++;
      return;        /* OpenAI's "file_data" string: base64 bytes, counted */
    }
    /* OpenAI {"type":"file","file":{"file_id":..}}, Responses {"type":"input_file","file_id"|"file_url"} */
    if (cJSON_IsString(k.file_id) || cJSON_IsString(k.file_url) || cJSON_IsString(k.fileUri)) {
      a->files++;
      return;
    }
  }
  for (const cJSON *c = node ? node->child : NULL; c; c = c->next)
    bound_walk(c, a, depth + 1);
}

int64_t reqbound_input(const cJSON *root, size_t body_len)
{
  struct bound_acc a = {0};
  if (root)
    bound_walk(root, &a, 0);
  size_t text = a.media_bytes < body_len ? body_len - a.media_bytes : 0;
  return (int64_t)text + a.images * REQBOUND_IMAGE_TOKENS + a.files * REQBOUND_FILE_TOKENS +
         REQBOUND_OVERHEAD_TOKENS;
}

/* A count member's value as a number of answers: 1 unless a number >= 1, at most 128. */
static int64_t count_of(const cJSON *v)
{
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1))
    return 1;
  return v->valuedouble > 128 ? 128 : (int64_t)v->valuedouble;
}

/* The first member of o named a, and of b, in one walk: what cJSON_GetObjectItemCaseSensitive
 * finds for each (it stops at the first member without a name, as this does: a member of an array
 * or no child at all finds nothing). */
static void two_members(const cJSON *o, const char *a, const cJSON **va, const char *b, const cJSON **vb)
{
  *va = *vb = NULL;
  for (const cJSON *c = o ? o->child : NULL; c && c->string; c = c->next) {
    if (!*va && strcmp(c->string, a) == 0)
      *va = c;
    else if (!*vb && strcmp(c->string, b) == 0)
      *vb = c;
    if (*va && *vb)
      break;
  }
}

int64_t reqbound_choices(const cJSON *root)
{
  /* n, best_of and the generation config, the first of each, in one walk of the root's members
   * (six cJSON_GetObjectItemCaseSensitive walks before) */
  const cJSON *vn = NULL, *vbest = NULL, *gc1 = NULL, *gc2 = NULL;
  for (const cJSON *c = root ? root->child : NULL; c && c->string; c = c->next) {
    const char *k = c->string;
    if (k[0] == 'n' && k[1] == '\0')
      vn = vn ? vn : c;
    else if (k[0] == 'b' && !vbest && strcmp(k, "best_of") == 0)
      vbest = c;
    else if (k[0] == 'g' && !gc1 && strcmp(k, "generationConfig") == 0)
      gc1 = c;
    else if (k[0] == 'g' && !gc2 && strcmp(k, "generation_config") == 0)
      gc2 = c;
  }
  int64_t n = count_of(vn), best = count_of(vbest);
  const cJSON *gc = gc1 ? gc1 : gc2, *cc1, *cc2;
  two_members(gc, "candidateCount", &cc1, "candidate_count", &cc2);
  int64_t cand = count_of(cc1);
  if (cand == 1)
    cand = count_of(cc2);
  int64_t m = n > best ? n : best;
  return m > cand ? m : cand;
}
