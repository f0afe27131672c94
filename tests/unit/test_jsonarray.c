/* Unit tests of relayd/jsonarray.c: whole SSE events become the elements of one JSON array, in
 * pieces as they come ("[" first, "," next, "]" at the end, "[]" with none); comments,
 * keep-alives and [DONE] are no elements; CRLF events read as LF ones; the result parses as JSON. */
#include <cjson/cJSON.h>
#include <string.h>

#include "../../relayd/jsonarray.h"
#include "tap.h"

/* out's bytes as a NUL-terminated string (out is bounded and its data may be NULL) */
static const char *str(struct buf *b)
{
  static char s[4096];
  snprintf(s, sizeof s, "%.*s", (int)b->len, b->data ? b->data : "");
  return s;
}

int main(void)
{
  struct json_array a = {0};
  struct buf out;
  buf_init(&out, 4096);
  const char *ev1 = "data: {\"n\":1}\n\n: keep-alive\n\n";
  const char *ev2 = "data:{\"n\":2}\r\n\r\ndata: [DONE]\n\n";
  CHECK(json_array_events(&a, ev1, strlen(ev1), &out) == 0, "first piece");
  CHECK(!strcmp(str(&out), "[{\"n\":1}"), "the first element opens the array: %s", str(&out));
  CHECK(json_array_events(&a, ev2, strlen(ev2), &out) == 0, "second piece");
  CHECK(json_array_close(&a, &out) == 0 && json_array_close(&a, &out) == 0, "closed (twice: once)");
  cJSON *j = cJSON_ParseWithLength(out.data, out.len);
  CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2, "two elements, valid JSON: %s", str(&out));
  CHECK(cJSON_GetArrayItem(j, 1) &&
            cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "n")->valueint == 2, "in order");
  cJSON_Delete(j);

  struct json_array e = {0};
  buf_reset(&out);
  const char *only = ": ping\n\ndata: [DONE]\n\n";
  json_array_events(&e, only, strlen(only), &out);
  json_array_close(&e, &out);
  CHECK(!strcmp(str(&out), "[]"), "no element: []");

  struct json_array c = {0};
  buf_reset(&out);
  const char *cut = "data: {\"n\":1}\n\ndata: {\"n\"";
  json_array_events(&c, cut, strlen(cut), &out);
  CHECK(!strcmp(str(&out), "[{\"n\":1}"), "bytes after the last whole event are not an element");

  struct buf tiny;
  buf_init(&tiny, 4);
  struct json_array t = {0};
  CHECK(json_array_events(&t, ev1, strlen(ev1), &tiny) == -1, "a full buffer is -1");
  buf_free(&tiny);
  buf_free(&out);
  return tap_done();
}
