/* fuzz_media: relayd/media.c, the endpoints beyond chat: JSON request validation of each kind
 * (images, speech, moderations, rerank) and the rewritten upstream body, multipart
 * boundary parsing and the model-field rewrite of a multipart body, and answers of each kind
 * (the Responses API is a format: fuzz_format). (Multipart parsing itself is libmicrohttpd's post processor, which
 * needs a connection: not fuzzed here.) Input: mode byte, then the payload. */
#include "fuzz_common.h"
#include "media.h"
#include "mediareq.h"

static const enum media_kind json_kinds[] = {
  MEDIA_IMAGE_GEN, MEDIA_SPEECH, MEDIA_MODERATION, MEDIA_RERANK,
};
static const enum media_kind all_kinds[] = {
  MEDIA_IMAGE_GEN, MEDIA_IMAGE_EDIT, MEDIA_SPEECH, MEDIA_TRANSCRIBE,
  MEDIA_TRANSLATE, MEDIA_MODERATION, MEDIA_RERANK,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  unsigned mode = fuzz_mode(&data, &size, 4);
  if (size == 0)
    return 0;
  /* the next byte picks the kind; the rest is the payload */
  unsigned kb = data[0];
  data++;
  size--;
  const char *p = (const char *)data;
  char err[512];
  switch (mode) {
  case 0: {   /* a JSON request of one kind, then its upstream body with the model renamed */
    enum media_kind k = json_kinds[kb % (sizeof json_kinds / sizeof json_kinds[0])];
    cJSON *root = NULL;
    struct oai_request rq;
    struct media_req mq;
    const char *param = NULL;
    if (media_parse_request(NULL, k, "application/json", p, size, &root, &rq, &mq, err, sizeof err,
                            &param) == 0) {
      size_t outlen = 0;
      bool failed = false;
      char *b = media_upstream_body(&mq, root, p, size, rq.model, "renamed-model", &outlen, &failed);
      free(b);
      char note[256];
      struct media_result res;
      struct price pr;
      struct usage u;
      const char *source = NULL;
      memset(&res, 0, sizeof res);
      memset(&pr, 0, sizeof pr);
      pr.model_ratio = 1;
      pr.completion_ratio = 1;
      pr.cache_ratio = 1;
      if (!media_price_refusal(k, &pr)) {
        (void)media_reserve(&mq, &rq, &pr, 1.0, 256);
        (void)media_charge(&mq, &rq, &pr, 1.0, (size & 1) ? QUOTA_ROUND_HALF_UP : QUOTA_ROUND_UP, &res, &u, &source);
      }
      media_describe(&mq, &res, &pr, note, sizeof note);
    }
    cJSON_Delete(root);
    break;
  }
  case 1: {   /* a Content-Type header */
    char ct[1024], boundary[MEDIA_BOUNDARY_MAX + 1];
    size_t n = size < sizeof ct - 1 ? size : sizeof ct - 1;
    memcpy(ct, p, n);
    ct[n] = '\0';
    if (media_form_boundary(ct, boundary, sizeof boundary) == 0 && strlen(boundary) > MEDIA_BOUNDARY_MAX)
      abort();
    break;
  }
  case 2: {   /* a multipart body with boundary "XyZ" whose model field is renamed */
    size_t outlen = 0;
    char *b = media_form_replace_field(p, size, "XyZ", "model", kb % 2 ? "whisper-1" : "dall-e-2",
                                       "renamed-model-name", &outlen);
    free(b);
    break;
  }
  case 3: {   /* a whole answer of one kind */
    enum media_kind k = all_kinds[kb % (sizeof all_kinds / sizeof all_kinds[0])];
    struct media_result res;
    memset(&res, 0, sizeof res);
    media_read_response(k, p, size, kb & 8 ? "application/json" : "text/plain", &res);
    break;
  }
  }
  return 0;
}
