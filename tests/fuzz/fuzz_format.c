/* fuzz_format: relayd/format.c's one event path, for every pairing of client and upstream format
 * (OpenAI, Anthropic, Gemini, Responses: 16 modes): an upstream SSE byte stream goes through
 * format_stream_event event by event, then format_stream_end. Whatever comes in, every data line a
 * converter wrote for the client is valid JSON (or [DONE]) and the usage found is never negative.
 * Input: mode byte, then the upstream's SSE bytes. */
#include "formats.h"
#include "fuzz_common.h"

#define OUT_CAP (1 << 20)

struct feed {
  struct format_stream s;
  struct buf out;
};

static void feed_event(const char *ev, size_t evlen, void *ctx)
{
  struct feed *f = ctx;
  char err[512];
  format_stream_event(&f->s, ev, evlen, &f->out, err, sizeof err);
}

/* Every "data: " line of a converted stream is JSON or [DONE]. */
static void check_out(const struct buf *out)
{
  const char *p = out->data ? out->data : "", *end = p + out->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (l && p[l - 1] == '\r')
      l--;
    if (l >= 6 && !memcmp(p, "data: ", 6) && !(l == 12 && !memcmp(p + 6, "[DONE]", 6))) {
      cJSON *j = cJSON_ParseWithLength(p + 6, l - 6);
      if (!j)
        abort();
      cJSON_Delete(j);
    }
    p = nl ? nl + 1 : end;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const struct format *const fmts[] = {&format_openai, &format_claude, &format_gemini, &format_responses};
  unsigned mode = fuzz_mode(&data, &size, 16);
  struct feed f;
  memset(&f, 0, sizeof f);
  format_stream_init(&f.s, fmts[mode / 4], fmts[mode % 4], "fuzz-model", 10, mode & 1, 1700000000);
  buf_init(&f.out, OUT_CAP);
  fuzz_each_event((const char *)data, size, feed_event, &f);
  format_stream_end(&f.s, true, &f.out);
  if (!f.s.native && fmts[mode / 4] != &format_openai)
    check_out(&f.out);
  if (f.s.f.usage.prompt_tokens < 0 || f.s.f.usage.completion_tokens < 0)
    abort();
  format_stream_free(&f.s);
  buf_free(&f.out);
  return 0;
}
