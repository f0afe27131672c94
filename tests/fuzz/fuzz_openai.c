/* fuzz_openai: relayd/openai.c: client request parsing and validation for each endpoint kind, the
 * rewritten upstream body, usage objects; relayd/reqbound.c: duplicate keys, the input bound and
 * the answers asked for, on the same parsed body. Input: mode byte (endpoint kind), then the request body. */
#include "fuzz_common.h"
#include "openai.h"
#include "reqbound.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  unsigned kind = fuzz_mode(&data, &size, 3);
  struct oai_request rq;
  char err[512];
  const char *param = NULL;
  memset(&rq, 0, sizeof rq);
  cJSON *root = oai_parse_request((enum api_kind)kind, (const char *)data, size, &rq, err, sizeof err,
                                  &param);
  if (!root)
    return 0;
  struct usage u;
  oai_parse_usage(cJSON_GetObjectItemCaseSensitive(root, "usage"), &u);
  char path[160];
  if (reqbound_duplicate_key(root, path, sizeof path) && path[0] != '$')
    abort();
  /* a bound covers at least the overhead, and no negative count of answers */
  if (reqbound_input(root, size) < REQBOUND_OVERHEAD_TOKENS || reqbound_choices(root) < 1)
    abort();
  size_t len = 0;
  char *body = oai_upstream_body(root, &rq, size % 2 ? "upstream-model" : rq.model, &len);
  if (body) {
    /* the rewritten body must itself be a valid request of the same kind */
    struct oai_request rq2;
    cJSON *again = oai_parse_request((enum api_kind)kind, body, len, &rq2, err, sizeof err, &param);
    if (!again)
      abort();
    cJSON_Delete(again);
    free(body);
  }
  cJSON_Delete(root);
  (void)oai_tokens_from_chars(size);
  return 0;
}
