/* mediareq: see mediareq.h. */
#include "mediareq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#define FORM_FIELD_MAX 128          /* the text fields relay reads from a form */
#define RERANK_DOCS_MAX 10000
#define IMAGES_MAX 10
#define SPEECH_INPUT_MAX 4096       /* characters, as OpenAI limits it */
#define DEFAULT_MODERATION_MODEL "omni-moderation-latest"

/* UTF-8 code points of s */
static int64_t utf8_chars(const char *s)
{
  int64_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

/* characters of text in a chat style input (moderations): a string, or items whose "content" is a
 * string or parts with "text" */
static size_t input_chars(const cJSON *in)
{
  if (cJSON_IsString(in))
    return strlen(in->valuestring);
  size_t n = 0;
  const cJSON *it;
  if (!cJSON_IsArray(in))
    return 0;
  cJSON_ArrayForEach(it, in)
  {
    if (cJSON_IsString(it)) {
      n += strlen(it->valuestring);
      continue;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "text");
    if (cJSON_IsString(t))
      n += strlen(t->valuestring);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
    if (c)
      n += input_chars(c) + 8;
  }
  return n;
}


/* ---------------------------------------------------------------- JSON requests */

static int model_field(const cJSON *root, struct oai_request *rq, struct media_req *mq, bool required,
                       char *err, size_t errlen)
{
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
  if (!model || cJSON_IsNull(model)) {
    if (required) {
      snprintf(err, errlen, "you must provide a model parameter");
      return -1;
    }
    snprintf(rq->model, sizeof rq->model, "%s", DEFAULT_MODERATION_MODEL);
    return 0;
  }
  if (!cJSON_IsString(model) || !model->valuestring[0]) {
    snprintf(err, errlen, "'model' must be a non-empty string");
    return -1;
  }
  if (strlen(model->valuestring) >= MODEL_NAME_MAX) {
    snprintf(err, errlen, "'model' is longer than %d characters", MODEL_NAME_MAX - 1);
    return -1;
  }
  snprintf(rq->model, sizeof rq->model, "%s", model->valuestring);
  mq->model_in_body = true;
  return 0;
}

static int count_field(const cJSON *root, const char *name, int64_t lo, int64_t hi, int64_t *out, char *err,
                       size_t errlen)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
  if (!v || cJSON_IsNull(v))
    return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
      v->valuedouble > (double)hi) {
    snprintf(err, errlen, "'%s' must be an integer from %lld to %lld", name, (long long)lo, (long long)hi);
    return -1;
  }
  *out = (int64_t)v->valuedouble;
  return 0;
}

static int string_field(const cJSON *root, const char *name, bool required, char *out, size_t outlen,
                        const char **value, char *err, size_t errlen)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
  if (!v || cJSON_IsNull(v)) {
    if (required) {
      snprintf(err, errlen, "'%s' is required", name);
      return -1;
    }
    return 0;
  }
  if (!cJSON_IsString(v) || (required && !v->valuestring[0])) {
    snprintf(err, errlen, "'%s' must be a%s string", name, required ? " non-empty" : "");
    return -1;
  }
  if (out) {
    if (strlen(v->valuestring) >= outlen) {
      snprintf(err, errlen, "'%s' is longer than %zu characters", name, outlen - 1);
      return -1;
    }
    snprintf(out, outlen, "%s", v->valuestring);
  }
  if (value)
    *value = v->valuestring;
  return 0;
}

static int parse_json(enum media_kind k, const char *body, size_t len, cJSON **rootp, struct oai_request *rq,
                      struct media_req *mq, char *err, size_t errlen, const char **param)
{
  if (len == 0) {
    snprintf(err, errlen, "the request body is empty: send a JSON object");
    return 400;
  }
  cJSON *root = cJSON_ParseWithLength(body, len);
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    long off = at && at >= body && at <= body + len ? (long)(at - body) : -1;
    snprintf(err, errlen, "the request body is not valid JSON (error near byte %ld)", off);
    return 400;
  }
  if (!cJSON_IsObject(root)) {
    snprintf(err, errlen, "the request body must be a JSON object");
    goto bad;
  }
  *param = "model";
  if (model_field(root, rq, mq, k != MEDIA_MODERATION, err, errlen) < 0)
    goto bad;
  *param = "stream";
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
  if (stream && !cJSON_IsNull(stream)) {
    if (!cJSON_IsBool(stream)) {
      snprintf(err, errlen, "'stream' must be true or false");
      goto bad;
    }
    rq->stream = cJSON_IsTrue(stream);
    if (rq->stream) {
      snprintf(err, errlen, "relay does not stream this endpoint: leave 'stream' out or false");
      goto bad;
    }
  }
  const char *text = NULL;
  size_t chars = 0;
  switch (k) {
  case MEDIA_IMAGE_GEN:
    *param = "prompt";
    if (string_field(root, "prompt", true, NULL, 0, &text, err, errlen) < 0)
      goto bad;
    chars = strlen(text);
    *param = "n";
    if (count_field(root, "n", 1, IMAGES_MAX, &mq->n, err, errlen) < 0)
      goto bad;
    *param = "size";
    if (string_field(root, "size", false, mq->size, sizeof mq->size, NULL, err, errlen) < 0)
      goto bad;
    *param = "quality";
    if (string_field(root, "quality", false, mq->quality, sizeof mq->quality, NULL, err, errlen) < 0)
      goto bad;
    break;
  case MEDIA_SPEECH:
    *param = "input";
    if (string_field(root, "input", true, NULL, 0, &text, err, errlen) < 0)
      goto bad;
    mq->input_chars = utf8_chars(text);
    if (mq->input_chars > SPEECH_INPUT_MAX) {
      snprintf(err, errlen, "'input' has %lld characters; the limit is %d", (long long)mq->input_chars,
               SPEECH_INPUT_MAX);
      goto bad;
    }
    *param = "voice";
    if (!cJSON_GetObjectItemCaseSensitive(root, "voice")) {
      snprintf(err, errlen, "'voice' is required");
      goto bad;
    }
    chars = (size_t)mq->input_chars;
    break;
  case MEDIA_MODERATION: {
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    *param = "input";
    if (!cJSON_IsString(in) && !(cJSON_IsArray(in) && cJSON_GetArraySize(in) > 0)) {
      snprintf(err, errlen, "'input' must be a string or a non-empty array");
      goto bad;
    }
    chars = input_chars(in);
    break;
  }
  case MEDIA_RERANK: {
    *param = "query";
    if (string_field(root, "query", true, NULL, 0, &text, err, errlen) < 0)
      goto bad;
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(root, "documents"), *d;
    *param = "documents";
    if (!cJSON_IsArray(docs) || cJSON_GetArraySize(docs) == 0) {
      snprintf(err, errlen, "'documents' must be a non-empty array of strings or {\"text\":...} objects");
      goto bad;
    }
    size_t dchars = 0;
    cJSON_ArrayForEach(d, docs)
    {
      const cJSON *t = cJSON_IsObject(d) ? cJSON_GetObjectItemCaseSensitive(d, "text") : d;
      if (!cJSON_IsString(t)) {
        snprintf(err, errlen, "each entry of 'documents' must be a string or an object with a \"text\" string");
        goto bad;
      }
      dchars += strlen(t->valuestring);
      mq->documents++;
    }
    if (mq->documents > RERANK_DOCS_MAX) {
      snprintf(err, errlen, "'documents' has %lld entries; the limit is %d", (long long)mq->documents,
               RERANK_DOCS_MAX);
      goto bad;
    }
    int64_t top_n = 0;
    *param = "top_n";
    if (count_field(root, "top_n", 1, RERANK_DOCS_MAX, &top_n, err, errlen) < 0)
      goto bad;
    /* the query is read with every document */
    chars = strlen(text) * (size_t)mq->documents + dchars;
    break;
  }
  default:
    snprintf(err, errlen, "this endpoint takes multipart/form-data");
    goto bad;
  }
  if (k == MEDIA_IMAGE_GEN) {
    *param = "size";
    mq->image_mult = media_image_multiplier(rq->model, mq->size, mq->quality, err, errlen);
    if (mq->image_mult < 0)
      goto bad;
  }
  rq->prompt_estimate = oai_tokens_from_chars(chars);
  *param = NULL;
  *rootp = root;
  return 0;
bad:
  cJSON_Delete(root);
  return 400;
}

/* ---------------------------------------------------------------- multipart requests */

struct form_field {
  const char *name;
  char value[FORM_FIELD_MAX + 1];
  size_t len;
  bool seen, too_long;
};

enum { F_MODEL, F_N, F_SIZE, F_QUALITY, F_STREAM, F_NFIELDS };

struct form_ctx {
  enum media_kind kind;
  struct form_field f[F_NFIELDS];
  size_t prompt_chars;
  bool has_prompt;
  int files;                       /* file parts (file, image, image[], mask) */
  int64_t file_bytes;
  char dup[FORM_FIELD_MAX];        /* a text field given twice */
};

static bool is_file_field(enum media_kind k, const char *key)
{
  if (k == MEDIA_IMAGE_EDIT)
    return strcmp(key, "image") == 0 || strcmp(key, "image[]") == 0 || strcmp(key, "mask") == 0;
  return strcmp(key, "file") == 0;
}

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                 const char *content_type, const char *transfer_encoding, const char *data,
                                 uint64_t off, size_t size)
{
  (void)kind;
  (void)content_type;
  (void)transfer_encoding;
  struct form_ctx *x = cls;
  if (!key)
    return MHD_YES;
  if (is_file_field(x->kind, key)) {
    if (off == 0 && strcmp(key, "mask") != 0)
      x->files++;
    x->file_bytes += (int64_t)size;
    return MHD_YES;
  }
  (void)filename;
  if (strcmp(key, "prompt") == 0) {
    x->has_prompt = true;
    x->prompt_chars += size;
    return MHD_YES;
  }
  for (int i = 0; i < F_NFIELDS; i++) {
    struct form_field *f = &x->f[i];
    if (strcmp(key, f->name) != 0)
      continue;
    if (off == 0 && f->seen && !x->dup[0])
      snprintf(x->dup, sizeof x->dup, "%s", key);
    f->seen = true;
    if (f->len + size > FORM_FIELD_MAX) {
      f->too_long = true;
      return MHD_YES;
    }
    memcpy(f->value + f->len, data, size);
    f->len += size;
    f->value[f->len] = '\0';
  }
  return MHD_YES;
}

int media_form_boundary(const char *ct, char *out, size_t outlen)
{
  const char *p = ct;
  while (p && (p = strcasestr(p, "boundary=")) != NULL) {
    if (p == ct || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t')
      break;
    p++;
  }
  if (!p)
    return -1;
  p += 9;
  size_t n;
  if (*p == '"') {
    p++;
    const char *q = strchr(p, '"');
    if (!q)
      return -1;
    n = (size_t)(q - p);
  } else {
    n = strcspn(p, "; \t");
  }
  if (n == 0 || n > MEDIA_BOUNDARY_MAX - 2 || n >= outlen)
    return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

static int parse_form(struct MHD_Connection *c, enum media_kind k, const char *ct, const char *body, size_t len,
                      struct oai_request *rq, struct media_req *mq, char *err, size_t errlen, const char **param)
{
  *param = NULL;
  if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0) {
    snprintf(err, errlen, "this endpoint takes multipart/form-data (a file upload), not '%.80s'",
             ct && *ct ? ct : "no Content-Type");
    return 415;
  }
  if (media_form_boundary(ct, mq->boundary, sizeof mq->boundary) < 0) {
    snprintf(err, errlen, "the multipart/form-data Content-Type has no usable boundary parameter");
    return 400;
  }
  /* libmicrohttpd's post processor takes the text after a literal "boundary=" as it is */
  const char *bp = strstr(ct, "boundary=");
  if (!bp || bp[9] == '"' || strlen(mq->boundary) < 2) {
    snprintf(err, errlen, "the multipart/form-data boundary must be given as boundary=VALUE, unquoted, "
             "with 2 to 70 characters");
    return 400;
  }
  mq->multipart = true;
  struct form_ctx x;
  memset(&x, 0, sizeof x);
  x.kind = k;
  x.f[F_MODEL].name = "model";
  x.f[F_N].name = "n";
  x.f[F_SIZE].name = "size";
  x.f[F_QUALITY].name = "quality";
  x.f[F_STREAM].name = "stream";
  struct MHD_PostProcessor *pp = MHD_create_post_processor(c, 16 * 1024, form_iter, &x);
  if (!pp) {
    snprintf(err, errlen, "the multipart/form-data body cannot be read");
    return 400;
  }
  enum MHD_Result ok = len ? MHD_post_process(pp, body, len) : MHD_YES;
  enum MHD_Result done = MHD_destroy_post_processor(pp);
  if (ok != MHD_YES || done != MHD_YES || len == 0) {
    snprintf(err, errlen, "the multipart/form-data body is malformed or cut short (it must end with "
             "the closing boundary '--%.72s--')", mq->boundary);
    return 400;
  }
  if (x.dup[0]) {
    *param = "model";
    snprintf(err, errlen, "the form field '%.100s' is given more than once", x.dup);
    return 400;
  }
  for (int i = 0; i < F_NFIELDS; i++)
    if (x.f[i].too_long) {
      *param = x.f[i].name;
      snprintf(err, errlen, "the form field '%s' is longer than %d bytes", x.f[i].name, FORM_FIELD_MAX);
      return 400;
    }
  *param = "model";
  if (!x.f[F_MODEL].seen) {
    snprintf(err, errlen, "you must provide a model parameter (form field 'model')");
    return 400;
  }
  if (!x.f[F_MODEL].value[0] || x.f[F_MODEL].len >= MODEL_NAME_MAX || strlen(x.f[F_MODEL].value) != x.f[F_MODEL].len) {
    snprintf(err, errlen, "the form field 'model' must be a model name");
    return 400;
  }
  memcpy(rq->model, x.f[F_MODEL].value, x.f[F_MODEL].len + 1);
  mq->model_in_body = true;
  if (x.f[F_STREAM].seen && strcmp(x.f[F_STREAM].value, "false") != 0) {
    *param = "stream";
    snprintf(err, errlen, "relay does not stream this endpoint: leave 'stream' out or false");
    return 400;
  }
  *param = k == MEDIA_IMAGE_EDIT ? "image" : "file";
  if (x.files == 0) {
    snprintf(err, errlen, k == MEDIA_IMAGE_EDIT ? "the form needs an 'image' file part"
                                                : "the form needs a 'file' part with the audio");
    return 400;
  }
  mq->file_bytes = x.file_bytes;
  size_t chars = 0;
  if (k == MEDIA_IMAGE_EDIT) {
    *param = "prompt";
    if (!x.has_prompt || x.prompt_chars == 0) {
      snprintf(err, errlen, "the form needs a non-empty 'prompt'");
      return 400;
    }
    chars = x.prompt_chars;
    if (x.f[F_N].seen) {
      char *end;
      long n = strtol(x.f[F_N].value, &end, 10);
      *param = "n";
      if (!x.f[F_N].value[0] || *end || n < 1 || n > IMAGES_MAX) {
        snprintf(err, errlen, "'n' must be an integer from 1 to %d", IMAGES_MAX);
        return 400;
      }
      mq->n = n;
    }
    if (x.f[F_SIZE].len >= sizeof mq->size || x.f[F_QUALITY].len >= sizeof mq->quality) {
      *param = x.f[F_SIZE].len >= sizeof mq->size ? "size" : "quality";
      snprintf(err, errlen, "the form field '%s' is too long", *param);
      return 400;
    }
    memcpy(mq->size, x.f[F_SIZE].value, x.f[F_SIZE].len + 1);
    memcpy(mq->quality, x.f[F_QUALITY].value, x.f[F_QUALITY].len + 1);
    *param = "size";
    mq->image_mult = media_image_multiplier(rq->model, mq->size, mq->quality, err, errlen);
    if (mq->image_mult < 0)
      return 400;
  } else {
    chars = x.prompt_chars;
  }
  rq->prompt_estimate = oai_tokens_from_chars(chars);
  *param = NULL;
  return 0;
}

int media_parse_request(struct MHD_Connection *c, enum media_kind k, const char *content_type,
                        const char *body, size_t len, cJSON **root, struct oai_request *rq,
                        struct media_req *mq, char *err, size_t errlen, const char **param)
{
  memset(rq, 0, sizeof *rq);
  memset(mq, 0, sizeof *mq);
  rq->max_tokens = -1;
  mq->kind = k;
  mq->n = 1;
  mq->image_mult = 1;
  *root = NULL;
  *param = NULL;
  if (k == MEDIA_IMAGE_EDIT || k == MEDIA_TRANSCRIBE || k == MEDIA_TRANSLATE)
    return parse_form(c, k, content_type, body, len, rq, mq, err, errlen, param);
  if (content_type && (strncasecmp(content_type, "multipart/", 10) == 0 ||
                       strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0) &&
      !(len && body[0] == '{')) {
    snprintf(err, errlen, "this endpoint takes a JSON body (Content-Type: application/json), not '%.80s'",
             content_type);
    return 415;
  }
  return parse_json(k, body ? body : "", len, root, rq, mq, err, errlen, param);
}

/* ---------------------------------------------------------------- multipart model rename */

static const char *find_bytes(const char *h, size_t hl, const char *n, size_t nl)
{
  return nl <= hl ? memmem(h, hl, n, nl) : NULL;
}

char *media_form_replace_field(const char *body, size_t len, const char *boundary, const char *field,
                               const char *expect, const char *value, size_t *outlen)
{
  char delim[MEDIA_BOUNDARY_MAX + 8], want[FORM_FIELD_MAX + 16];
  int dl = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
  int wl = snprintf(want, sizeof want, "name=\"%s\"", field);
  if (dl < 0 || (size_t)dl >= sizeof delim || wl < 0 || (size_t)wl >= sizeof want)
    return NULL;
  const char *end = body + len, *hit = NULL, *hit_end = NULL;
  int hits = 0;
  /* the first delimiter may open the body without the CRLF before it */
  const char *p = len >= (size_t)dl - 2 && memcmp(body, delim + 2, (size_t)dl - 2) == 0
                      ? body + dl - 2
                      : find_bytes(body, len, delim, (size_t)dl);
  if (p && p != body + dl - 2)
    p += dl;
  while (p && p + 2 <= end && memcmp(p, "--", 2) != 0) {
    const char *hstart = p;
    const char *hend = find_bytes(hstart, (size_t)(end - hstart), "\r\n\r\n", 4);
    if (!hend)
      return NULL;
    const char *vstart = hend + 4;
    const char *next = find_bytes(vstart, (size_t)(end - vstart), delim, (size_t)dl);
    if (!next)
      return NULL;
    /* the part's headers name the field (case-sensitive value, as the post processor reads it) */
    const char *cd = find_bytes(hstart, (size_t)(hend - hstart), want, (size_t)wl);
    if (cd && (cd[-1] == ' ' || cd[-1] == ';' || cd[-1] == '\t')) {
      hits++;
      hit = vstart;
      hit_end = next;
    }
    p = next + dl;
  }
  if (hits != 1 || (size_t)(hit_end - hit) != strlen(expect) || memcmp(hit, expect, strlen(expect)) != 0)
    return NULL;
  size_t vl = strlen(value), before = (size_t)(hit - body), after = (size_t)(end - hit_end);
  char *out = malloc(before + vl + after + 1);
  if (!out)
    return NULL;
  memcpy(out, body, before);
  memcpy(out + before, value, vl);
  memcpy(out + before + vl, hit_end, after);
  out[before + vl + after] = '\0';
  *outlen = before + vl + after;
  return out;
}

char *media_upstream_body(const struct media_req *mq, cJSON *root, const char *body, size_t len,
                          const char *client_model, const char *upstream_model, size_t *outlen,
                          bool *failed)
{
  *failed = false;
  bool rename = strcmp(client_model, upstream_model) != 0;
  if (mq->multipart) {
    if (!rename)
      return NULL;
    char *out = media_form_replace_field(body, len, mq->boundary, "model", client_model, upstream_model, outlen);
    *failed = out == NULL;
    return out;
  }
  if (!rename && mq->model_in_body)
    return NULL;
  if (!root) {
    *failed = true;
    return NULL;
  }
  if (mq->model_in_body)
    cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(upstream_model));
  else
    cJSON_AddStringToObject(root, "model", upstream_model);
  char *out = cJSON_PrintUnformatted(root);
  /* the next attempt starts again from the client's request */
  if (!mq->model_in_body)
    cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
  else
    cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(client_model));
  if (!out) {
    *failed = true;
    return NULL;
  }
  *outlen = strlen(out);
  return out;
}
