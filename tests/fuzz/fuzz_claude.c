/* fuzz_claude: relayd/claude.c both directions: OpenAI request -> Messages request, Messages
 * response and stream events -> OpenAI; Messages request -> OpenAI, OpenAI response and stream
 * chunks -> Messages. Input: mode byte, then a JSON body or an SSE byte stream. */
#include "claude_client.h"
#include "fuzz_common.h"

#define OUT_CAP (1 << 20)

struct feed {
  struct claude_to_openai_stream to;
  struct openai_to_claude_stream from;
  struct buf out;
  bool from_openai;
};

static void feed_event(const char *ev, size_t evlen, void *ctx)
{
  struct feed *f = ctx;
  const char *d, *name;
  size_t dl, nl;
  char err[512], evname[64];
  if (sse_event_data(ev, evlen, &d, &dl) < 0)
    return;
  if (f->from_openai) {
    claude_stream_from_openai_feed(&f->from, d, dl, &f->out, err, sizeof err);
    return;
  }
  const char *en = NULL;
  if (sse_event_field(ev, evlen, "event", &name, &nl) == 0 && nl < sizeof evname) {
    memcpy(evname, name, nl);
    evname[nl] = '\0';
    en = evname;
  }
  claude_stream_to_openai_feed(&f->to, en, d, dl, &f->out, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  unsigned mode = fuzz_mode(&data, &size, 6);
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
      res = mode == 0 ? claude_request_from_openai(req, "claude-up", err, sizeof err)
                      : claude_request_to_openai(req, "gpt-up", err, sizeof err);
      cJSON_Delete(req);
    }
    break;
  case 2:
    res = claude_response_to_openai(p, size, 1700000000, &u, err, sizeof err);
    break;
  case 3:
    res = claude_response_from_openai(p, size, size % 2 ? "shown" : NULL, &u, err, sizeof err);
    break;
  case 4:
  case 5: {
    struct feed f;
    memset(&f, 0, sizeof f);
    f.from_openai = mode == 5;
    buf_init(&f.out, OUT_CAP);
    claude_stream_to_openai_init(&f.to, size % 2, 1700000000);
    claude_stream_from_openai_init(&f.from, size % 3 ? "shown" : "", 42);
    fuzz_each_event(p, size, feed_event, &f);
    if (f.from_openai)
      claude_stream_from_openai_finish(&f.from, &f.out);
    buf_free(&f.out);
    break;
  }
  }
  /* every converted body must be valid JSON */
  if (res) {
    cJSON *j = cJSON_Parse(res);
    if (!j)
      abort();
    cJSON_Delete(j);
    free(res);
  }
  return 0;
}
