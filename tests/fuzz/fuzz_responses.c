/* fuzz_responses: relayd/responses_client.c and responses.c, the OpenAI Responses API converted both
 * ways: a Responses request read (responses_request_info) and turned into the common form, a
 * chat.completion turned into a Response, a common-form request turned into a Responses request,
 * and a Response turned into a chat.completion. Every body made must parse as JSON.
 * Input: mode byte, then JSON. */
#include "fuzz_common.h"
#include "responses.h"
#include "responses_client.h"

static void must_parse(char *s)
{
  if (!s)
    return;
  cJSON *j = cJSON_Parse(s);
  if (!j)
    abort();
  cJSON_Delete(j);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  unsigned mode = fuzz_mode(&data, &size, 4);
  const char *p = (const char *)data;
  char err[512];
  struct usage u;
  switch (mode) {
  case 0: {   /* a client's Responses request -> the common form */
    cJSON *root = cJSON_ParseWithLength(p, size);
    struct oai_request rq;
    const char *param;
    if (cJSON_IsObject(root) && responses_request_info(root, &rq, err, sizeof err, &param) == 0) {
      if (rq.prompt_estimate < 0)
        abort();
      must_parse(responses_request_to_openai(root, rq.model, err, sizeof err));
    }
    cJSON_Delete(root);
    break;
  }
  case 1:     /* a chat.completion -> a Response */
    must_parse(responses_response_from_openai(p, size, size % 2 ? "m" : NULL, &u, err, sizeof err));
    break;
  case 2: {   /* the common form -> a request to a responses channel */
    cJSON *root = cJSON_ParseWithLength(p, size);
    struct reasoning rs = {.kind = RS_EFFORT, .effort = "high"};
    if (cJSON_IsObject(root))
      must_parse(responses_request_from_openai(root, "m", size % 2 ? &rs : NULL, err, sizeof err));
    cJSON_Delete(root);
    break;
  }
  case 3:     /* a Response -> a chat.completion */
    must_parse(responses_response_to_openai(p, size, 1700000000, &u, err, sizeof err));
    if (u.prompt_tokens < 0 || u.completion_tokens < 0)
      abort();
    break;
  }
  return 0;
}
