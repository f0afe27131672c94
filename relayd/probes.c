/* probes: see probes.h. */
#include "probes.h"

#include <string.h>

#include "lease.h"
#include "snapshot.h"
#include "util.h"
#include "writer.h"

enum probe_kind probe_match(const char *method, size_t method_len, const char *target, size_t target_len)
{
  if (!((method_len == 3 && memcmp(method, "GET", 3) == 0) ||
        (method_len == 4 && memcmp(method, "HEAD", 4) == 0)))
    return PROBE_NONE;
  const char *q = memchr(target, '?', target_len);
  size_t path_len = q ? (size_t)(q - target) : target_len;
  if (path_len == 8 && memcmp(target, "/healthz", 8) == 0)
    return PROBE_HEALTHZ;
  if (path_len == 7 && memcmp(target, "/readyz", 7) == 0)
    return PROBE_READYZ;
  return PROBE_NONE;
}

/* NULL when relayd serves, else why not. */
static const char *not_ready_reason(bool draining, bool stopping)
{
  if (stopping)
    return "stopping";
  if (snapshot_current_version() == 0)
    return "no_snapshot";
  if (strcmp(lease_state(), "lost") == 0)
    return "lease_lost";
  if (draining)
    return "draining";
  if (writer_full())
    return "log_buffer_full";
  return NULL;
}

unsigned probe_answer(enum probe_kind kind, bool head, bool draining, bool stopping, struct buf *out)
{
  const char *reason = kind == PROBE_READYZ ? not_ready_reason(draining, stopping) : NULL;
  char body[128];
  if (reason)
    snprintf(body, sizeof body, "{\"status\":\"not_ready\",\"reason\":\"%s\"}", reason);
  else
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", kind == PROBE_READYZ ? "ready" : "ok");
  unsigned status = reason ? 503 : 200;
  buf_appendf(out, "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s", status,
              reason ? "Service Unavailable" : "OK", strlen(body), head ? "" : body);
  return status;
}
