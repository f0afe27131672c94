/* fuzz_sse: relayd/sse.c: event splitting (split reads, \r\n, comments, multi-line data, huge lines),
 * data and field extraction, character counting. Input: an upstream SSE byte stream; the first
 * byte also decides where a read boundary falls, as upstream bytes arrive in pieces. */
#include "fuzz_common.h"

static void one_event(const char *ev, size_t evlen, void *ctx)
{
  size_t *total = ctx;
  const char *d, *v;
  size_t dl, vl;
  if (sse_event_data(ev, evlen, &d, &dl) == 0) {
    if (d < ev || d + dl > ev + evlen)
      abort();
    *total += sse_count_string_chars(d, dl, "content");
    *total += sse_count_string_chars(d, dl, "text");
  }
  if (sse_event_field(ev, evlen, "event", &v, &vl) == 0 && (v < ev || v + vl > ev + evlen))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  size_t cut = data[0] < size ? data[0] : size;
  const char *p = (const char *)data + 1;
  size_t len = size - 1, total = 0;
  /* a copy of exactly len bytes, so reading past the end is caught */
  char *copy = malloc(len ? len : 1);
  if (!copy)
    return 0;
  memcpy(copy, p, len);
  /* the first read ends at cut: a complete event found there must also be found in the whole */
  size_t first = cut <= len ? sse_event_len(copy, cut) : 0;
  if (first && sse_event_len(copy, len) != first)
    abort();
  fuzz_each_event(copy, len, one_event, &total);
  free(copy);
  return 0;
}
