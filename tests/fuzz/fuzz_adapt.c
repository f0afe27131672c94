/* fuzz_adapt: relayd/adapt.c, the helpers both format adapters share: upstream response parsing
 * (OpenAI and generic), tool-call arguments, content parts to text and items, image URLs, error
 * messages. Input: mode byte, then JSON. */
#include "adapt.h"
#include "fuzz_common.h"

static cJSON *text_item(const char *t)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "text", t);
  return o;
}

static cJSON *image_item(const cJSON *part, char *err, size_t errlen, const char *where)
{
  char mt[128];
  const char *d = NULL, *url = NULL;
  int r = adapt_image_url(part, mt, sizeof mt, &d, &url, err, errlen, where);
  if (r < 0)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, r == 0 ? "data" : "url", r == 0 ? d : url);
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  unsigned mode = fuzz_mode(&data, &size, 4);
  const char *p = (const char *)data;
  char err[512];
  struct usage u;
  cJSON *root = NULL;
  switch (mode) {
  case 0: {
    const cJSON *msg = adapt_oai_response(p, size, &u, &root, err, sizeof err);
    if (msg)
      (void)adapt_oai_reasoning(msg);
    cJSON_Delete(root);
    break;
  }
  case 1:
    root = adapt_parse_response(p, size, &u, err, sizeof err);
    if (root) {
      (void)adapt_error_message(root);
      adapt_oai_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), &u);
      cJSON_Delete(root);
    }
    break;
  case 2: {
    char *s = malloc(size + 1);
    if (!s)
      return 0;
    memcpy(s, p, size);
    s[size] = '\0';
    cJSON *o = adapt_args_object(s);
    if (!cJSON_IsObject(o))
      abort();
    cJSON_Delete(o);
    free(s);
    break;
  }
  case 3:
    root = cJSON_ParseWithLength(p, size);
    if (root) {
      struct buf b;
      buf_init(&b, 1 << 20);
      adapt_content_text(root, &b, "\n", size % 2, err, sizeof err, "messages[0].content");
      buf_free(&b);
      cJSON *items = cJSON_CreateArray();
      adapt_content_items(root, items, text_item, image_item, err, sizeof err, "messages[0]");
      cJSON_Delete(items);
      cJSON_Delete(root);
    }
    break;
  }
  return 0;
}
