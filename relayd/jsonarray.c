/* jsonarray: see jsonarray.h. */
#include "jsonarray.h"

#include <string.h>

#include "sse.h"

int json_array_events(struct json_array *a, const char *sse, size_t len, struct buf *out)
{
  size_t off = 0, l;
  while (off < len && (l = sse_event_len(sse + off, len - off)) > 0) {
    const char *data;
    size_t dlen;
    if (sse_event_data(sse + off, l, &data, &dlen) == 0 && dlen && !(dlen >= 6 && memcmp(data, "[DONE]", 6) == 0)) {
      if (buf_append(out, a->started ? ",\r\n" : "[", a->started ? 3 : 1) < 0 || buf_append(out, data, dlen) < 0)
        return -1;
      a->started = true;
    }
    off += l;
  }
  return 0;
}

int json_array_close(struct json_array *a, struct buf *out)
{
  if (a->closed)
    return 0;
  if (buf_append_str(out, a->started ? "\r\n]" : "[]") < 0)
    return -1;
  a->closed = true;
  return 0;
}
