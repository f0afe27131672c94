/* imginline: see imginline.h. */
#include "imginline.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats.h"
#include "imgfetch.h"
#include "log.h"
#include "request.h"
#include "reqview.h"

#define IMGINLINE_MAX 32          /* images by URL one request may have fetched */

/* The formats of channels that take an image only inline (a URL they cannot fetch themselves). */
static const struct format *const inline_only[] = {&format_gemini};

struct img_slot {
  cJSON *holder;                  /* holder[key] is the URL (a node of r->root) */
  const char *key;                /* "url" (image_url is an object) or "image_url" (a string) */
  char where[48];                 /* messages[i].content[j], for the refusal */
};

struct img_wait {
  const struct snap_channel *ch;  /* the attempt that waits for the images */
  struct img_slot slots[IMGINLINE_MAX];
  size_t n, next;                 /* slots found, the one being fetched */
  CURL *easy;                     /* its transfer (the worker's pool's; back in cancel / done) */
  struct imgfetch_job *job;       /* owned */
  bool done;                      /* every image is in, or refusal says why one is not */
  char refusal[320];
};

static bool needs_inline(const struct request *r, const struct snap_channel *ch)
{
  if (r->def->media || r->def->api != API_CHAT || imgfetch_defaults()->max_bytes == 0)
    return false;
  const struct format *up = format_of_api(ch->api);
  if (format_native(r->client, up))
    return false;                 /* the client's own parts go as they are */
  for (size_t i = 0; i < sizeof inline_only / sizeof inline_only[0]; i++)
    if (up == inline_only[i])
      return true;
  return false;
}

/* A web URL the channel cannot fetch itself: http(s), and not Google's own Files API. */
static bool fetchable(const char *u)
{
  return (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) &&
         strncasecmp(u, "https://generativelanguage.googleapis.com/", 42) != 0;
}

/* The image URLs of the common-form request, in message order, into iw; -1 when there are more
 * than IMGINLINE_MAX (refusal set). */
static int collect(cJSON *root, struct img_wait *iw)
{
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages"), *m;
  int mi = 0;
  cJSON_ArrayForEach(m, msgs) {
    cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content"), *part;
    int pi = 0;
    if (cJSON_IsArray(content))
      cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
        cJSON *holder = cJSON_IsString(iu) ? part : iu;
        const char *key = cJSON_IsString(iu) ? "image_url" : "url";
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(holder, key);
        if (cJSON_IsString(type) && strcmp(type->valuestring, "image_url") == 0 && cJSON_IsString(u) &&
            fetchable(u->valuestring)) {
          if (iw->n == IMGINLINE_MAX) {
            snprintf(iw->refusal, sizeof iw->refusal, "the request has more than %d images by URL for a channel that "
                     "takes them only inline", IMGINLINE_MAX);
            return -1;
          }
          struct img_slot *s = &iw->slots[iw->n++];
          s->holder = holder;
          s->key = key;
          snprintf(s->where, sizeof s->where, "messages[%d].content[%d]", mi, pi);
        }
        pi++;
      }
    mi++;
  }
  return 0;
}

/* Starts the transfer of the next image: true, or false when none is left (iw->done). */
static bool fetch_next(struct request *r)
{
  struct img_wait *iw = r->imgs;
  if (iw->next >= iw->n) {
    iw->done = true;
    return false;
  }
  const struct img_slot *s = &iw->slots[iw->next];
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(s->holder, s->key);
  CURL *e = worker_easy_get(r->w);
  iw->job = imgfetch_start(e, u->valuestring, imgfetch_defaults());
  if (!iw->job) {
    worker_easy_put(r->w, e);
    snprintf(iw->refusal, sizeof iw->refusal, "%s: out of memory", s->where);
    iw->done = true;
    return false;
  }
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  iw->easy = e;
  CURLMcode mc = curl_multi_add_handle(worker_multi(r->w), e);
  if (mc != CURLM_OK) {
    log_msg(LOG_ERR, "curl_multi_add_handle failed", "error=\"%s\"", curl_multi_strerror(mc));
    imginline_cancel(r);
    snprintf(iw->refusal, sizeof iw->refusal, "%s: the image fetch could not start", s->where);
    iw->done = true;
    return false;
  }
  return true;
}

bool imginline_begin(struct request *r, const struct snap_channel *ch, const char **refusal)
{
  *refusal = NULL;
  struct img_wait *iw = r->imgs;
  if (iw && iw->done) {
    *refusal = iw->refusal[0] ? iw->refusal : NULL;
    return false;
  }
  if (iw || !needs_inline(r, ch))
    return false;
  char err[256];
  if (r->croot && openai_view(r, err, sizeof err) < 0)
    return false;                 /* start_attempt refuses it with the same reason */
  if (!(iw = calloc(1, sizeof *iw))) {   /* owned by r: imginline_free */
    *refusal = "out of memory";
    return false;
  }
  r->imgs = iw;
  iw->ch = ch;
  if (collect(r->root, iw) < 0) {
    iw->done = true;
    *refusal = iw->refusal;
    return false;
  }
  if (fetch_next(r))
    return true;
  *refusal = iw->refusal[0] ? iw->refusal : NULL;
  return false;
}

bool imginline_active(const struct request *r)
{
  return r->imgs && r->imgs->easy;
}

const struct snap_channel *imginline_done(struct request *r, CURLcode res)
{
  struct img_wait *iw = r->imgs;
  struct img_slot *s = &iw->slots[iw->next];
  struct imgfetch_result img;
  char err[256];
  int rc = imgfetch_finish(iw->job, res, &img, err, sizeof err);
  imginline_cancel(r);           /* the handle back to the pool, the job freed */
  if (rc < 0) {
    snprintf(iw->refusal, sizeof iw->refusal, "%s: %s", s->where, err);
    iw->done = true;
  } else {
    /* the URL becomes the image itself, as a data: URL every converter inlines */
    size_t n = strlen(img.mime) + img.b64_len + 16;
    char *data = malloc(n);
    if (data) {
      snprintf(data, n, "data:%s;base64,%s", img.mime, img.b64);
      cJSON_ReplaceItemInObjectCaseSensitive(s->holder, s->key, cJSON_CreateString(data));
      free(data);
    }
    imgfetch_result_free(&img);
    if (!data) {
      snprintf(iw->refusal, sizeof iw->refusal, "%s: out of memory", s->where);
      iw->done = true;
    } else {
      iw->next++;
      if (fetch_next(r))
        return NULL;
    }
  }
  return iw->ch;        /* the images are in (or refused): the caller's attempt goes on */
}

void imginline_cancel(struct request *r)
{
  struct img_wait *iw = r->imgs;
  if (!iw || !iw->easy)
    return;
  curl_multi_remove_handle(worker_multi(r->w), iw->easy);
  worker_easy_put(r->w, iw->easy);
  iw->easy = NULL;
  imgfetch_job_free(iw->job);
  iw->job = NULL;
}

void imginline_free(struct request *r)
{
  imginline_cancel(r);
  free(r->imgs);
  r->imgs = NULL;
}
