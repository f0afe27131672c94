/*
 * fuzz_common: what the libFuzzer targets in tests/fuzz/ share. Each target is one
 * LLVMFuzzerTestOneInput over one relayd module (pure functions: no sockets, no snapshot), built by
 * `make fuzz` with -fsanitize=fuzzer,address,undefined (see tests/fuzz/README.md).
 * Never: keeps state between inputs (every allocation is freed before returning).
 */
#ifndef RELAY_FUZZ_COMMON_H
#define RELAY_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sse.h"
#include "util.h"

/* The first input byte picks a mode; the rest is the payload. */
static inline unsigned fuzz_mode(const uint8_t **data, size_t *size, unsigned nmodes)
{
  if (*size == 0)
    return 0;
  unsigned m = (*data)[0] % nmodes;
  (*data)++;
  (*size)--;
  return m;
}

/* Calls fn(event, evlen, ctx) for each complete SSE event of p (as relay.c splits upstream bytes),
 * and once more for a trailing partial event when there is one. */
static inline void fuzz_each_event(const char *p, size_t len,
                                   void (*fn)(const char *ev, size_t evlen, void *ctx), void *ctx)
{
  size_t off = 0, n;
  while (off < len && (n = sse_event_len(p + off, len - off)) > 0) {
    fn(p + off, n, ctx);
    off += n;
  }
  if (off < len)
    fn(p + off, len - off, ctx);
}

#endif
