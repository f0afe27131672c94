/* fuzz_gate: relayd/gate.c's gate_check, the first look at a client's request header (raw bytes
 * from the network). Input: two bytes pick max_header_bytes (64..65599), then the header bytes as
 * a peek returns them. Every prefix of the input is checked too, as a header arrives in pieces:
 * the verdict must never go back from refusing or passing to waiting for more, a refusal must
 * name a status it can send, and the target it reports must lie inside the input. */
#include "fuzz_common.h"

/* gate.c's check is pure, but the module also accepts sockets (answering through the refusal
 * callback its worker gives it, never reached by gate_check): it is compiled in here whole */
#include "../../relayd/gate.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  size_t limit = 64 + ((size_t)data[0] << 8 | data[1]);
  const char *p = (const char *)data + 2;
  size_t len = size - 2;
  char *copy = malloc(len ? len : 1);   /* exactly len bytes: reading past the end is caught */
  if (!copy)
    return 0;
  memcpy(copy, p, len);
  enum gate_result last = GATE_MORE;
  size_t step = len / 16 + 1;
  for (size_t n = 0;; n = n + step < len ? n + step : len) {
    struct gate_verdict v;
    enum gate_result r = gate_check(copy, n, limit, &v);
    if (last != GATE_MORE && r == GATE_MORE)
      abort();                          /* a decided header cannot become undecided */
    if (r == GATE_REFUSE) {
      if (v.status != 400 && v.status != 413 && v.status != 431 && v.status != 505)
        abort();
      if (!v.reason || !v.code || !memchr(v.msg, '\0', sizeof v.msg))
        abort();
    }
    if (v.target && (v.target < copy || v.target + v.target_len > copy + n))
      abort();
    last = r;
    if (n == len)
      break;
  }
  free(copy);
  return 0;
}
