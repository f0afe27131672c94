/* health: see health.h. */
#include "health.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "secret.h"
#include "sse.h"
#include "snapshot.h"
#include "util.h"
#include "webhook.h"
#include "writer.h"

#define EWMA_ALPHA 0.3

int64_t health_open_for_ms(const struct chan_health *h, int64_t now_ms)
{
  int64_t until = atomic_load_explicit(&h->open_until_ms, memory_order_relaxed);
  return until > now_ms ? until - now_ms : 0;
}

enum health_pick health_check(const struct snap_channel *c, int64_t now_ms)
{
  struct chan_health *h = c->health;
  if (atomic_load_explicit(&h->auto_disabled, memory_order_relaxed) != HEALTH_ENABLED)
    return PICK_DISABLED;
  int64_t until = atomic_load_explicit(&h->open_until_ms, memory_order_relaxed);
  if (until) {
    if (until > now_ms)
      return PICK_OPEN;
    if (atomic_load_explicit(&h->trial, memory_order_relaxed))
      return PICK_OPEN;         /* half-open and its one trial is running */
  }
  if (c->max_concurrency > 0 && atomic_load_explicit(&h->in_flight, memory_order_relaxed) >= c->max_concurrency)
    return PICK_BUSY;
  return PICK_OK;
}

bool health_acquire(const struct snap_channel *c, int64_t now_ms, bool *trial)
{
  struct chan_health *h = c->health;
  *trial = false;
  int64_t until = atomic_load_explicit(&h->open_until_ms, memory_order_relaxed);
  if (until) {
    if (until > now_ms)
      return false;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&h->trial, &zero, 1))
      return false;
    *trial = true;
  }
  if (c->max_concurrency > 0) {
    int cur = atomic_load_explicit(&h->in_flight, memory_order_relaxed);
    do {
      if (cur >= c->max_concurrency) {
        if (*trial)
          atomic_store(&h->trial, 0);
        *trial = false;
        atomic_fetch_add_explicit(&h->busy_total, 1, memory_order_relaxed);
        return false;
      }
    } while (!atomic_compare_exchange_weak(&h->in_flight, &cur, cur + 1));
  } else {
    atomic_fetch_add_explicit(&h->in_flight, 1, memory_order_relaxed);
  }
  return true;
}

void health_latency(struct chan_health *h, double ms)
{
  if (ms < 0.001)
    ms = 0.001;           /* 0 means "no sample" */
  uint64_t old = atomic_load_explicit(&h->ewma_bits, memory_order_relaxed), nb;
  do {
    double cur;
    memcpy(&cur, &old, sizeof cur);
    double next = cur > 0 ? cur + EWMA_ALPHA * (ms - cur) : ms;
    memcpy(&nb, &next, sizeof nb);
  } while (!atomic_compare_exchange_weak(&h->ewma_bits, &old, nb));
}

double health_ewma_ms(const struct chan_health *h)
{
  uint64_t b = atomic_load_explicit(&h->ewma_bits, memory_order_relaxed);
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

void health_auto_disable(const struct snap_channel *c, const char *reason)
{
  int expect = HEALTH_ENABLED;
  if (!atomic_compare_exchange_strong(&c->health->auto_disabled, &expect, HEALTH_DISABLE_PENDING))
    return;             /* already disabled (or being disabled) */
  atomic_fetch_add(&c->health->disabled_total, 1);
  log_msg(LOG_WARN, "channel auto-disabled", "channel_id=%lld name=\"%s\" reason=\"%s\"", (long long)c->id,
          c->name, reason);
  struct writer_op op;
  memset(&op, 0, sizeof op);
  op.kind = WOP_CHANNEL_STATUS;
  op.id = c->id;
  op.status = STATUS_AUTO_DISABLED;
  op.health = c->health;
  snprintf(op.reason, sizeof op.reason, "%s", reason);
  snprintf(op.text, sizeof op.text, "channel %s auto-disabled: %s", c->name, reason);
  writer_submit_op(&op);
  webhook_channel_event("channel_disabled", c->id, c->name, -1, reason, NULL, NULL);
}

void health_release(const struct snap_channel *c, const struct snap_options *o, bool trial,
                    enum health_outcome out, double ttfb_ms, const char *detail)
{
  struct chan_health *h = c->health;
  atomic_fetch_sub_explicit(&h->in_flight, 1, memory_order_relaxed);
  int64_t now = now_unix_ms();
  char reason[240];
  switch (out) {
  case OUTCOME_OK:
  case OUTCOME_CLIENT:
    atomic_store_explicit(&h->consecutive_failures, 0, memory_order_relaxed);
    if (atomic_load_explicit(&h->open_until_ms, memory_order_relaxed))
      atomic_store(&h->open_until_ms, 0);
    if (out == OUTCOME_OK && ttfb_ms >= 0)
      health_latency(h, ttfb_ms);
    break;
  case OUTCOME_FAIL: {
    atomic_fetch_add_explicit(&h->failures_total, 1, memory_order_relaxed);
    int n = atomic_fetch_add(&h->consecutive_failures, 1) + 1;
    if (o->breaker_failures > 0 && (trial || n >= o->breaker_failures)) {
      int64_t until = atomic_load(&h->open_until_ms);
      /* open it (or again, after a failed trial); a breaker already open stays as it is */
      if (trial || until == 0) {
        atomic_store(&h->open_until_ms, now + o->breaker_open_s * 1000);
        atomic_fetch_add(&h->opened_total, 1);
        log_msg(LOG_WARN, trial ? "circuit breaker: trial failed, open again" : "circuit breaker open",
                "channel_id=%lld failures=%d open_s=%lld", (long long)c->id, n, (long long)o->breaker_open_s);
      }
    }
    if (o->auto_disable && c->auto_disable && o->disable_failures > 0 && n >= o->disable_failures) {
      snprintf(reason, sizeof reason, "%d failures in a row, the last: %s", n, detail ? detail : "");
      health_auto_disable(c, reason);
    }
    break;
  }
  case OUTCOME_ACCOUNT:
    atomic_fetch_add_explicit(&h->failures_total, 1, memory_order_relaxed);
    atomic_fetch_add(&h->consecutive_failures, 1);
    if (o->auto_disable && c->auto_disable) {
      snprintf(reason, sizeof reason, "authentication or account error: %s", detail ? detail : "");
      health_auto_disable(c, reason);
    }
    break;
  case OUTCOME_ABANDON:
    break;
  }
  if (trial)
    atomic_store(&h->trial, 0);
}

/* What marks an answer as about the channel's account rather than the request. Only identifiers
 * the provider sets (error type, code, google.rpc status, ErrorInfo reason) are read: never the
 * message's free text, which may quote the client's request ("Unrecognized request argument
 * supplied: balance"). See doc/design.md, "Channel health". */
static const char *const account_ids[] = {
    /* OpenAI: 401 invalid_api_key, 429 insufficient_quota (type and code), account_deactivated,
     * billing_not_active, invalid_organization, 403 unsupported_country_region_territory */
    "invalid_api_key", "insufficient_quota", "account_deactivated", "billing_not_active",
    "invalid_organization", "unsupported_country_region_territory",
    /* Anthropic error types (401, 403, 402) */
    "authentication_error", "permission_error", "billing_error",
    /* Gemini (google.rpc): status and ErrorInfo reasons */
    "UNAUTHENTICATED", "PERMISSION_DENIED", "API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED",
    "SERVICE_DISABLED", "BILLING_DISABLED", "CONSUMER_SUSPENDED",
    /* One API / New API upstreams */
    "forbidden", NULL};
/* Anthropic says "no credit" with a 400 invalid_request_error; recognised only as the whole message
 * (a client's text can be quoted inside a message, never be all of one). */
static const char *const account_messages[] = {
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
    "purchase credits.",
    "Your credit balance is too low to access the Claude API. Please go to Plans & Billing to upgrade or "
    "purchase credits.",
    "This organization has been disabled.", NULL};

static bool in_list(const char *v, const char *const *list)
{
  for (; v && *list; list++)
    if (strcmp(v, *list) == 0)
      return true;
  return false;
}

/* Is v one of the comma-separated keywords (whole, case-insensitive, spaces around trimmed)? */
static bool is_keyword(const char *v, const char *keywords)
{
  size_t vl = v ? strlen(v) : 0;
  while (vl && keywords && *keywords) {
    size_t n = strcspn(keywords, ",");
    const char *k = keywords;
    size_t kl = n;
    while (kl && *k == ' ')
      k++, kl--;
    while (kl && k[kl - 1] == ' ')
      kl--;
    if (kl == vl && strncasecmp(k, v, kl) == 0)
      return true;
    keywords += n;
    if (*keywords == ',')
      keywords++;
  }
  return false;
}

static bool is_account_id(const char *v, const char *keywords)
{
  return v && *v && (in_list(v, account_ids) || is_keyword(v, keywords));
}

/* The message without trailing white space equals one of account_messages? */
static bool is_account_message(const char *m)
{
  if (!m)
    return false;
  size_t l = strlen(m);
  while (l && (m[l - 1] == ' ' || m[l - 1] == '\n' || m[l - 1] == '\r' || m[l - 1] == '\t'))
    l--;
  for (const char *const *a = account_messages; *a; a++)
    if (strlen(*a) == l && memcmp(*a, m, l) == 0)
      return true;
  return false;
}

/* The error object of an error body or event: {"error":{...}} (OpenAI, Anthropic, Gemini); a
 * Responses API error event {"type":"error","code",...} is its own; response.failed carries
 * response.error. NULL when j says nothing of an error. */
static const cJSON *error_object(const cJSON *j)
{
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  if (cJSON_IsObject(e))
    return e;
  const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "type"));
  if (type && strcmp(type, "error") == 0)
    return j;
  if (type && strcmp(type, "response.failed") == 0) {
    e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "response"), "error");
    return cJSON_IsObject(e) ? e : j;
  }
  return NULL;
}

/* Does error object e name an account error by its identifiers (or the whole Anthropic message)? */
static bool says_account(const cJSON *e, const char *keywords)
{
  const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type"));
  const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
  const char *gstatus = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "status"));
  if (is_account_id(type, keywords) || is_account_id(code, keywords) || is_account_id(gstatus, keywords))
    return true;
  const cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(e, "details"))
  if (is_account_id(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "reason")), keywords))
    return true;
  return is_account_message(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message")));
}

enum health_outcome health_classify(long status, const char *body, size_t len, const char *keywords)
{
  if (status >= 200 && status < 300)
    return OUTCOME_OK;
  if (status == 401 || status == 402 || status == 403)
    return OUTCOME_ACCOUNT;       /* authentication, payment, permission: the channel's key */
  cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  bool account = status != 0 && says_account(cJSON_GetObjectItemCaseSensitive(j, "error"), keywords);
  cJSON_Delete(j);
  if (account)
    return OUTCOME_ACCOUNT;       /* e.g. 429 insufficient_quota, 400 API_KEY_INVALID */
  if (status == 0 || status == 408 || status == 429 || status >= 500)
    return OUTCOME_FAIL;
  return OUTCOME_CLIENT;          /* another 4xx: the request's fault; the channel answered */
}

/* Do the bytes name "error" or "response.failed" anywhere? One memchr pass for 'r', which both hold
 * (at "error"'s second byte, "response.failed"'s first) and which is rare in a chunk's members (an
 * OpenAI chunk has three: created, finish_reason), in place of two memmem: each built its shift
 * table a call, ~1.2k Ir an event for both. Exactly memmem(error) || memmem(response.failed). */
static bool names_error(const char *ev, size_t evlen)
{
  const char *p = ev, *end = ev + evlen;
  while (p < end && (p = memchr(p, 'r', (size_t)(end - p))) != NULL) {
    size_t left = (size_t)(end - p);
    if (p > ev && p[-1] == 'e' && left >= 4 && memcmp(p, "rror", 4) == 0)
      return true;
    if (left >= 15 && memcmp(p, "response.failed", 15) == 0)
      return true;
    p++;
  }
  return false;
}

enum health_outcome health_stream_event(const char *ev, size_t evlen, const char *keywords, char *detail,
                                        size_t dn)
{
  const char *data, *name;
  size_t dlen, nlen;
  /* an error event names "error" or "response.failed" somewhere in its bytes (its event name or a
   * key of its data): an event with neither is not read further (most events) */
  if (!ev || !names_error(ev, evlen))
    return OUTCOME_OK;
  if (sse_event_data(ev, evlen, &data, &dlen) < 0)
    return OUTCOME_OK;
  bool named = sse_event_field(ev, evlen, "event", &name, &nlen) == 0 &&
               ((nlen == 5 && memcmp(name, "error", 5) == 0) || (nlen == 15 && memcmp(name, "response.failed", 15) == 0));
  /* only what may be an error is parsed: a quoted "error" key (inside a string its quotes would be
   * escaped) or an event named so */
  if (!named && !memmem(data, dlen, "\"error\"", 7) && !memmem(data, dlen, "\"response.failed\"", 17))
    return OUTCOME_OK;
  cJSON *j = cJSON_ParseWithLength(data, dlen);
  const cJSON *e = error_object(j);
  enum health_outcome out = OUTCOME_OK;
  if (e || (named && j)) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type"));
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
    const char *gstatus = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "status"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
    if (e && says_account(e, keywords))
      out = OUTCOME_ACCOUNT;
    else if ((type && strcmp(type, "invalid_request_error") == 0) || (gstatus && strcmp(gstatus, "INVALID_ARGUMENT") == 0))
      out = OUTCOME_CLIENT;       /* the request's fault, told late */
    else
      out = OUTCOME_FAIL;         /* overloaded, api_error, INTERNAL, server_error, ... */
    if (detail && dn)
      snprintf(detail, dn, "error event in the stream: %s: %.100s",
               code && *code ? code : type && strcmp(type, "error") != 0 ? type : gstatus ? gstatus : "error",
               msg ? msg : "");
  }
  cJSON_Delete(j);
  return out;
}

size_t health_redact(char *text, size_t len, const char *key)
{
  size_t kl = key ? strlen(key) : 0;
  if (!text || kl < 4 || len < kl || !memmem(text, len, key, kl))
    return len;
  return secret_redact(text, len, key);
}
