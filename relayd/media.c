/* media: see media.h. */
#include "media.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sse.h"

#define TRANSCRIPT_CHARS_PER_SECOND 15   /* local estimate when an answer gives no duration */
#define AUDIO_BYTES_PER_SECOND 750       /* reservation: 6 kbit/s, the lowest Opus speech rate */
#define MEDIA_SECONDS_MAX 1e9            /* an audio duration beyond this is not believed */

static void set_err(char *err, size_t errlen, const char *fmt, const char *a)
{
  snprintf(err, errlen, fmt, a);
}

/* ---------------------------------------------------------------- images */

double media_image_multiplier(const char *model, const char *size, const char *quality, char *err,
                              size_t errlen)
{
  bool d2 = strncmp(model, "dall-e-2", 8) == 0, d3 = strncmp(model, "dall-e-3", 8) == 0;
  if (!d2 && !d3)
    return 1;
  if (!size || !*size)
    size = "1024x1024";
  double m = -1;
  if (d2) {
    m = strcmp(size, "256x256") == 0 ? 1 : strcmp(size, "512x512") == 0 ? 1.125
        : strcmp(size, "1024x1024") == 0 ? 1.25 : -1;
    if (m < 0)
      set_err(err, errlen, "size '%.40s' is not supported by dall-e-2 (256x256, 512x512, 1024x1024)", size);
    /* dall-e-2's price table is for the 256x256 image: 1024x1024 costs 1.25 of it */
    return m;
  }
  m = strcmp(size, "1024x1024") == 0 ? 1 : strcmp(size, "1024x1792") == 0 || strcmp(size, "1792x1024") == 0 ? 2 : -1;
  if (m < 0) {
    set_err(err, errlen, "size '%.40s' is not supported by dall-e-3 (1024x1024, 1024x1792, 1792x1024)", size);
    return m;
  }
  if (quality && strcmp(quality, "hd") == 0)
    m *= strcmp(size, "1024x1024") == 0 ? 2 : 1.5;
  return m;
}

int64_t media_image_tokens(const char *size, const char *quality)
{
  bool large = size && (strcmp(size, "1024x1536") == 0 || strcmp(size, "1536x1024") == 0);
  if (quality && strcmp(quality, "low") == 0)
    return large ? 408 : 272;
  if (quality && strcmp(quality, "medium") == 0)
    return large ? 1584 : 1056;
  return large ? 6240 : 4160;
}

/* ---------------------------------------------------------------- channels and prices */

const char *media_channel_refusal(enum media_kind k, enum api_kind api, const struct provider *p)
{
  unsigned e = k == MEDIA_RERANK ? PE_RERANK
               : k != MEDIA_NONE ? PE_MEDIA
               : api == API_EMBEDDINGS ? PE_EMBEDDINGS : PE_TEXT;
  return provider_serves(p, e) ? NULL : p->refusal;
}

const char *media_price_refusal(enum media_kind k, const struct price *p)
{
  if (!p->has_fixed || p->unit == PRICE_PER_CALL)
    return NULL;
  if (p->unit == PRICE_PER_IMAGE)
    return k == MEDIA_IMAGE_GEN || k == MEDIA_IMAGE_EDIT ? NULL : "is priced per image";
  if (p->unit == PRICE_PER_SECOND)
    return k == MEDIA_TRANSCRIBE || k == MEDIA_TRANSLATE ? NULL : "is priced per second of audio";
  return k == MEDIA_RERANK ? NULL : "is priced per search unit";
}

static int64_t search_units_of(int64_t documents)
{
  int64_t u = (documents + 99) / 100;
  return u < 1 ? 1 : u;
}

static double fixed_units(const struct media_req *mq, const struct price *p, const struct media_result *res,
                          bool *measured)
{
  *measured = false;
  switch (p->unit) {
  case PRICE_PER_IMAGE: {
    int64_t images = mq->n;
    if (res && res->has_images) {
      images = res->images;
      *measured = true;
    }
    return (double)images * mq->image_mult;
  }
  case PRICE_PER_SECOND:
    if (res && res->has_seconds) {
      *measured = true;
      return ceil(res->seconds - 1e-9);
    }
    if (res) {
      double s = ceil((double)res->text_chars / TRANSCRIPT_CHARS_PER_SECOND);
      return s < 1 ? 1 : s;
    }
    return ceil((double)mq->file_bytes / AUDIO_BYTES_PER_SECOND) < 1
               ? 1 : ceil((double)mq->file_bytes / AUDIO_BYTES_PER_SECOND);
  case PRICE_PER_SEARCH:
    if (res && res->has_search) {
      *measured = true;
      return (double)res->search_units;
    }
    return (double)search_units_of(mq->documents);
  default:
    *measured = true;
    return 1;
  }
}

/* token usage when the upstream gave none: what relay counted or estimated */
static struct usage local_tokens(const struct media_req *mq, const struct oai_request *rq, const struct media_result *res,
                                 int64_t preconsume_completion)
{
  struct usage u = {.prompt_tokens = rq->prompt_estimate};
  switch (mq->kind) {
  case MEDIA_TRANSCRIBE:
  case MEDIA_TRANSLATE:
    u.completion_tokens = res ? oai_tokens_from_chars(res->text_chars)
                          : rq->max_tokens >= 0 ? rq->max_tokens : preconsume_completion;
    if (!res)                                  /* the audio itself, at ~10 tokens a second */
      u.prompt_tokens += (int64_t)ceil((double)mq->file_bytes / AUDIO_BYTES_PER_SECOND) * 10;
    break;
  case MEDIA_IMAGE_GEN:
  case MEDIA_IMAGE_EDIT: {
    int64_t images = res && res->has_images ? res->images : mq->n;
    u.completion_tokens = images * media_image_tokens(mq->size, mq->quality);
    break;
  }
  case MEDIA_SPEECH:
    u.prompt_tokens = mq->input_chars;       /* One API: one "token" per character */
    break;
  default:
    break;
  }
  return u;
}

int64_t media_reserve(const struct media_req *mq, const struct oai_request *rq, const struct price *p,
                      double group_ratio, int64_t out_bound)
{
  if (p->has_fixed) {
    bool measured = false;
    return billing_fixed(p, group_ratio, fixed_units(mq, p, NULL, &measured));
  }
  struct usage est = local_tokens(mq, rq, NULL, out_bound);
  /* the input of a JSON or form request is bounded by its bytes and media (reqbound.h); audio to
   * transcribe is counted by its length instead (its bytes are no measure of its tokens) */
  int64_t in = est.prompt_tokens;
  if (mq->kind != MEDIA_TRANSCRIBE && mq->kind != MEDIA_TRANSLATE && rq->input_bound > in)
    in = rq->input_bound;
  return billing_bound(p, group_ratio, in, est.completion_tokens);
}

/* ---------------------------------------------------------------- answers */

/* usage objects in the Responses / gpt-image-1 / gpt-4o-transcribe shape (input_tokens,
 * output_tokens, input_tokens_details.cached_tokens), OpenAI chat's (prompt_tokens...), Jina's
 * (total_tokens) or a transcription's {"type":"duration","seconds":N} */
static void read_usage(const cJSON *usage, struct media_result *res)
{
  if (!cJSON_IsObject(usage))
    return;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(usage, "type");
  const cJSON *secs = cJSON_GetObjectItemCaseSensitive(usage, "seconds");
  if (cJSON_IsString(type) && strcmp(type->valuestring, "duration") == 0) {
    if (cJSON_IsNumber(secs) && secs->valuedouble >= 0 && secs->valuedouble < MEDIA_SECONDS_MAX) {
      res->has_seconds = true;
      res->seconds = secs->valuedouble;
    }
    return;
  }
  struct usage u = {0};
  if (cJSON_GetObjectItemCaseSensitive(usage, "input_tokens") || cJSON_GetObjectItemCaseSensitive(usage, "output_tokens")) {
    u.prompt_tokens = usage_count(usage, "input_tokens", &u);
    u.completion_tokens = usage_count(usage, "output_tokens", &u);
    u.cached_tokens = usage_count(cJSON_GetObjectItemCaseSensitive(usage, "input_tokens_details"), "cached_tokens", &u);
    u.reasoning_tokens =
        usage_count(cJSON_GetObjectItemCaseSensitive(usage, "output_tokens_details"), "reasoning_tokens", &u);
    usage_normalize(&u);
  } else if (oai_parse_usage(usage, &u) < 0) {
    return;
  }
  if (u.bad)
    return;          /* not a usage relay can bill by: relay's own count stands */
  res->has_tokens = true;
  res->tokens = u;
}

void media_read_response(enum media_kind k, const char *body, size_t len, const char *content_type,
                         struct media_result *res)
{
  memset(res, 0, sizeof *res);
  if (k == MEDIA_SPEECH)
    return;                                    /* audio bytes */
  bool json = !content_type || strcasestr(content_type, "json") != NULL;
  cJSON *j = json && len ? cJSON_ParseWithLength(body, len) : NULL;
  if (!j) {
    if (k == MEDIA_TRANSCRIBE || k == MEDIA_TRANSLATE)
      res->text_chars = len;                   /* text, srt or vtt */
    return;
  }
  read_usage(cJSON_GetObjectItemCaseSensitive(j, "usage"), res);
  switch (k) {
  case MEDIA_IMAGE_GEN:
  case MEDIA_IMAGE_EDIT: {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    if (cJSON_IsArray(data)) {
      res->has_images = true;
      res->images = cJSON_GetArraySize(data);
    }
    break;
  }
  case MEDIA_TRANSCRIBE:
  case MEDIA_TRANSLATE: {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
    res->text_chars = cJSON_IsString(t) ? strlen(t->valuestring) : 0;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "duration");
    if (!res->has_seconds && cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble < MEDIA_SECONDS_MAX) {
      res->has_seconds = true;
      res->seconds = d->valuedouble;
    }
    break;
  }
  case MEDIA_RERANK: {
    const cJSON *bu = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "meta"), "billed_units");
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(bu, "search_units");
    if (cJSON_IsNumber(su) && su->valuedouble >= 0 && su->valuedouble < 1e15) {
      res->has_search = true;
      res->search_units = (int64_t)su->valuedouble;
    }
    struct usage u = {0};
    u.prompt_tokens = usage_count(bu, "input_tokens", &u);
    if (!res->has_tokens && !u.bad && u.prompt_tokens > 0) {
      res->has_tokens = true;
      res->tokens = u;
    }
    break;
  }
  default:
    break;
  }
  cJSON_Delete(j);
}

int64_t media_charge(const struct media_req *mq, const struct oai_request *rq, const struct price *p,
                     double group_ratio, enum quota_rounding rounding,
                     const struct media_result *res, struct usage *u, const char **source)
{
  memset(u, 0, sizeof *u);
  if (res->has_tokens)
    *u = res->tokens;
  if (p->has_fixed) {
    bool measured = false;
    double units = fixed_units(mq, p, res, &measured);
    *source = measured ? "upstream" : "local";
    if (mq->kind == MEDIA_SPEECH)
      u->prompt_tokens = mq->input_chars, *source = "request";
    return billing_fixed(p, group_ratio, units);
  }
  if (res->has_tokens) {
    *source = "upstream";
  } else {
    *u = local_tokens(mq, rq, res, 0);
    *source = mq->kind == MEDIA_SPEECH ? "request" : "local";
  }
  return billing_quota(p, group_ratio, u, rounding);
}

double media_units(const struct media_req *mq, const struct media_result *res, const struct price *p)
{
  bool measured = false;
  return p->has_fixed ? fixed_units(mq, p, res, &measured) : 0;
}

void media_describe(const struct media_req *mq, const struct media_result *res, const struct price *p,
                    char *out, size_t outlen)
{
  bool measured = false;
  out[0] = '\0';
  switch (mq->kind) {
  case MEDIA_IMAGE_GEN:
  case MEDIA_IMAGE_EDIT:
    snprintf(out, outlen, "images=%lld size=%s quality=%s multiplier=%g",
             (long long)(res->has_images ? res->images : mq->n), mq->size[0] ? mq->size : "default",
             mq->quality[0] ? mq->quality : "default", mq->image_mult);
    break;
  case MEDIA_SPEECH:
    snprintf(out, outlen, "characters=%lld", (long long)mq->input_chars);
    break;
  case MEDIA_TRANSCRIBE:
  case MEDIA_TRANSLATE:
    if (p->has_fixed && p->unit == PRICE_PER_SECOND) {
      double secs = fixed_units(mq, p, res, &measured);
      snprintf(out, outlen, "seconds=%g%s", secs, measured ? "" : " (estimated)");
    }
    else
      snprintf(out, outlen, "file_bytes=%lld", (long long)mq->file_bytes);
    break;
  case MEDIA_RERANK:
    snprintf(out, outlen, "documents=%lld search_units=%lld", (long long)mq->documents,
             (long long)(res->has_search ? res->search_units : search_units_of(mq->documents)));
    break;
  default:
    break;
  }
}
