/* fuzz_gemini: relayd/gemini.c both directions: OpenAI request -> generateContent, Gemini response
 * and stream frames -> OpenAI; generateContent request -> OpenAI, OpenAI response and stream chunks
 * -> Gemini; client paths. Input: mode byte, then a JSON body, an SSE byte stream or a path. */
#include "fuzz_common.h"
#include "gemini_client.h"

#define OUT_CAP (1 << 20)

struct feed {
  struct gemini_to_openai_stream to;
  struct openai_to_gemini_stream from;
  struct buf out;
  bool from_openai;
};

static void feed_event(const char *ev, size_t evlen, void *ctx)
{
  struct feed *f = ctx;
  const char *d;
  size_t dl;
  char err[512];
  if (sse_event_data(ev, evlen, &d, &dl) < 0)
    return;
  if (f->from_openai)
    gemini_stream_from_openai_feed(&f->from, d, dl, &f->out, err, sizeof err);
  else
    gemini_stream_to_openai_feed(&f->to, d, dl, &f->out, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  unsigned mode = fuzz_mode(&data, &size, 7);
  const char *p = (const char *)data;
  char err[512];
  struct usage u;
  char *res = NULL;
  cJSON *req;
  switch (mode) {
  case 0:
  case 1:
    req = cJSON_ParseWithLength(p, size);
    if (req) {
      res = mode == 0 ? gemini_request_from_openai(req, err, sizeof err)
                      : gemini_request_to_openai(req, "gpt-up", size % 2, err, sizeof err);
      cJSON_Delete(req);
    }
    break;
  case 2:
    res = gemini_response_to_openai(p, size, size % 2 ? "shown" : NULL, 1700000000, &u, err, sizeof err);
    break;
  case 3:
    res = gemini_response_from_openai(p, size, size % 2 ? "shown" : NULL, &u, err, sizeof err);
    break;
  case 4:
  case 5: {
    struct feed f;
    memset(&f, 0, sizeof f);
    f.from_openai = mode == 5;
    buf_init(&f.out, OUT_CAP);
    gemini_stream_to_openai_init(&f.to, "m", size % 2, 1700000000);
    gemini_stream_from_openai_init(&f.from, size % 3 ? "shown" : "");
    fuzz_each_event(p, size, feed_event, &f);
    if (f.from_openai)
      gemini_stream_from_openai_finish(&f.from, &f.out);
    else
      gemini_stream_to_openai_finish(&f.to, &f.out);
    gemini_stream_from_openai_free(&f.from);
    buf_free(&f.out);
    break;
  }
  case 6: {
    char path[4096], model[256], out[512];
    bool stream = false;
    size_t n = size < sizeof path - 1 ? size : sizeof path - 1;
    memcpy(path, p, n);
    path[n] = '\0';
    if (gemini_parse_path(path, model, sizeof model, &stream) == 0) {
      int l = gemini_model_path(out, sizeof out, model, stream);
      if (l >= (int)sizeof out)
        abort();
    }
    break;
  }
  }
  if (res) {
    cJSON *j = cJSON_Parse(res);
    if (!j)
      abort();
    cJSON_Delete(j);
    free(res);
  }
  return 0;
}
