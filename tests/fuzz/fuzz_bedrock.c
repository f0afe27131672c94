/* fuzz_bedrock: relayd/bedrock.c's event-stream reader (bedrock_unframe), the bytes of a Bedrock
 * InvokeModelWithResponseStream body as an upstream sends them. Input: byte 0 = K (mod 16), then K
 * read sizes (1..256 each, cycled; K = 0: one read), then the stream. The stream is read in those
 * reads and, again, whole: both readings must write the same events and stop at the same place
 * (same result, same bytes left); every event written is "event: NAME\ndata: JSON\n\n" with JSON
 * an object whose "type" is NAME (an error event's: "error"); what is left is never a whole frame
 * that passed its CRCs. */
#include "fuzz_common.h"

#include <stdbool.h>

#include "bedrock.h"

static void check_events(const struct buf *out)
{
  const char *p = out->data ? out->data : "", *end = p + out->len;
  while (p < end) {
    if (strncmp(p, "event: ", 7) != 0)
      abort();
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl + 7 > end || strncmp(nl + 1, "data: ", 6) != 0)
      abort();
    const char *name = p + 7;
    size_t nlen = (size_t)(nl - name);
    const char *data = nl + 7, *dend = memchr(data, '\n', (size_t)(end - data));
    if (!dend || dend + 1 >= end || dend[1] != '\n')
      abort();
    cJSON *j = cJSON_ParseWithLength(data, (size_t)(dend - data));
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsObject(j) || !cJSON_IsString(ty) || strlen(ty->valuestring) != nlen ||
        strncmp(ty->valuestring, name, nlen) != 0)
      abort();
    cJSON_Delete(j);
    p = dend + 2;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t k = size ? data[0] % 16 : 0, nsizes = k;
  if (size < 1 + k)
    return 0;
  const uint8_t *sizes = data + 1;
  const char *stream = (const char *)data + 1 + k;
  size_t len = size - 1 - k;

  struct buf in, out, win, wout;
  buf_init(&in, (size_t)1 << 20);
  buf_init(&out, (size_t)4 << 20);
  buf_init(&win, (size_t)1 << 20);
  buf_init(&wout, (size_t)4 << 20);
  const char *why = NULL, *wwhy = NULL;
  int rc = 0, wrc;
  size_t off = 0, i = 0;
  while (off < len && rc == 0) {
    size_t n = nsizes ? (size_t)sizes[i++ % nsizes] % 256 + 1 : len;
    if (n > len - off)
      n = len - off;
    if (buf_append(&in, stream + off, n) < 0)
      break;
    off += n;
    rc = bedrock_unframe(&in, &out, &why);
  }
  wrc = buf_append(&win, stream, off) == 0 ? bedrock_unframe(&win, &wout, &wwhy) : -2;
  if (wrc != -2) {
    if (rc != wrc || in.len != win.len || out.len != wout.len ||
        (out.len && memcmp(out.data, wout.data, out.len) != 0))
      abort();
    if (rc < 0 && (!why || !wwhy || strcmp(why, wwhy) != 0))
      abort();
  }
  check_events(&out);
  buf_free(&in);
  buf_free(&out);
  buf_free(&win);
  buf_free(&wout);
  return 0;
}
