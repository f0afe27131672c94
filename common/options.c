/*
 * options: the one table of runtime options and its checks (see options.h).
 */
#include "options.h"
#include "i18n.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(struct snap_options, f)
#define T1E9 INT64_C(1000000000)

/* One line per key; gwctl lists them in this order. */
const struct option_key option_keys[] = {
  { "retry_times", OPTION_INT, OFF(retry_times), "2", 0, 10, NULL, false, "how many other channels relayd tries after a failed upstream call" },
  { "preconsume_completion_tokens", OPTION_INT, OFF(preconsume_completion), "256", 0, T1E9, NULL, false, "completion tokens reserved before a request that sets no max_tokens" },
  { "rate_limit_window_s", OPTION_INT, OFF(rate_limit_window_s), "60", 1, 86400, NULL, false, "the window of rate limits: --rpm/--tpm are requests/tokens per this many seconds" },
  { "routing", OPTION_ENUM, OFF(routing), "weighted", 0, 0, "weighted|latency", false, "choice inside a priority tier: weighted (random by weight) or latency (lowest average)" },
  { "breaker_failures", OPTION_INT, OFF(breaker_failures), "5", 0, 1000, NULL, false, "upstream failures in a row that open a channel's circuit breaker (0: never)" },
  { "breaker_open_s", OPTION_INT, OFF(breaker_open_s), "30", 1, 86400, NULL, false, "how long an open breaker skips the channel before one trial request" },
  { "channel_auto_disable", OPTION_BOOL, OFF(auto_disable), "1", 0, 1, NULL, false, "1: disable channels on authentication/account errors and repeated failures" },
  { "channel_disable_failures", OPTION_INT, OFF(disable_failures), "0", 0, 100000, NULL, false, "failures in a row that disable a channel (0: never; the breaker still applies)" },
  { "channel_disable_keywords", OPTION_TEXT, OFF(disable_keywords), "", 0, 0, NULL, false, "comma list of upstream error codes/types that mean an account error (besides the built-in ones); compared whole with the error's type, code, status and reason, never with its message" },
  { "channel_test_interval_s", OPTION_INT, OFF(test_interval_s), "300", 0, 604800, NULL, false, "seconds between periodic channel tests; a passing test re-enables auto-disabled channels (0: off)" },
  { "channel_test_all", OPTION_BOOL, OFF(test_all), "0", 0, 1, NULL, false, "1: periodic tests cover every enabled channel too (upstreams may bill the tests)" },
  { "channel_test_timeout_s", OPTION_INT, OFF(test_timeout_s), "20", 1, 600, NULL, false, "timeout of one periodic channel test" },
  { "webhook_url", OPTION_URL, OFF(webhook_url), "", 0, 0, NULL, true, "http(s) URL that receives budget alerts, quota reminders, channel and key auto-disables and re-enables and low balances as JSON POSTs (empty: log only)" },
  { "balance_poll_interval_s", OPTION_INT, OFF(balance_poll_interval_s), "3600", 0, 604800, NULL, false, "seconds between reads of the upstream balance of every channel whose provider publishes one (0: off)" },
  { "balance_low_threshold", OPTION_INT, OFF(balance_low_threshold), "0", 0, T1E9, NULL, false, "alert (log row + webhook) once when a channel's upstream balance falls below this, in its currency (0: off)" },
  { "quota_remind_threshold", OPTION_INT, OFF(quota_remind_threshold), "0", 0, INT64_C(1000000000000000), NULL, false, "remind (log row + webhook) once when a user's quota falls below this (0: off)" },
  { "display_token_stat", OPTION_BOOL, OFF(display_token_stat), "1", 0, 1, NULL, false, "dashboard billing endpoints: 1 the key's own quota, 0 its user's" },
  { "display_in_currency", OPTION_BOOL, OFF(display_in_currency), "1", 0, 1, NULL, false, "dashboard billing endpoints: 1 USD (500000 quota = 1 USD), 0 quota units" },
  { "affinity_ttl_s", OPTION_INT, OFF(affinity_ttl_s), "0", 0, 86400, NULL, false, "seconds a prompt_cache_key, user or affinity_header value stays on the channel (and key) that served it, while healthy (0: off)" },
  { "affinity_header", OPTION_TEXT, OFF(affinity_header), "", 0, 0, NULL, false, "a request header whose value is the affinity key, before prompt_cache_key and user (empty: none)" },
  { "channel_limit_wait_ms", OPTION_INT, OFF(channel_limit_wait_ms), "0", 0, 60000, NULL, false, "when every channel is at its rpm/tpm/concurrency limit, wait up to this long for room before answering 429 (0: answer at once)" },
  { "channel_limit_queue", OPTION_INT, OFF(channel_limit_queue), "1000", 1, 100000, NULL, false, "most requests that wait for channel room at once (channel_limit_wait_ms); past it, 429 at once" },
  { "quota_rounding", OPTION_ENUM, OFF(quota_rounding), "up", 0, 0, "up|half_up", false, "how a charge becomes whole quota units: up (One API, relay's default) or half_up (to the nearest unit, a half up, as New API bills)" },
  { "default_max_output_tokens", OPTION_INT, OFF(default_max_output), "32768", 1, T1E9, NULL, false, "the output bound reserved when a request sets no max_tokens and its model's price has no max_output_tokens" },
  { "realtime_idle_timeout_s", OPTION_INT, OFF(realtime_idle_timeout_s), "1800", 0, 604800, NULL, false, "a realtime session with no frame either way for this many seconds is closed (error event idle_timeout, close 1000; 0: never)" },
  { "response_cache_models", OPTION_TEXT, OFF(response_cache_models), "", 0, 0, NULL, false, "comma list of models whose answers relayd caches and replays for every key (\"*\": all; keys opt in with gwctl token edit --response-cache yes; a request with x-relay-cache: force|no-store decides for itself)" },
  { "response_cache_ttl_s", OPTION_INT, OFF(response_cache_ttl_s), "300", 1, 604800, NULL, false, "seconds a cached answer is replayed" },
  { "response_cache_mb", OPTION_INT, OFF(response_cache_mb), "64", 0, 65536, NULL, false, "memory bound of the response cache in MiB: the least recently used answers go first (0: no cache)" },
  { "response_cache_hit_percent", OPTION_INT, OFF(response_cache_hit_percent), "0", 0, 100, NULL, false, "a cache hit costs this percent of what the answer cost (0: free)" },
};
const size_t option_nkeys = sizeof option_keys / sizeof option_keys[0];

const struct option_key *option_find(const char *name)
{
  for (size_t i = 0; i < option_nkeys; i++)
    if (strcmp(option_keys[i].name, name) == 0)
      return &option_keys[i];
  return NULL;
}

/* The index of v in the "|"-separated choices, or -1. */
static int choice_index(const char *choices, const char *v)
{
  size_t n = strlen(v);
  int i = 0;
  for (const char *c = choices; *c; i++) {
    size_t l = strcspn(c, "|");
    if (l == n && strncmp(c, v, n) == 0)
      return i;
    c += l;
    if (*c == '|')
      c++;
  }
  return -1;
}

/* An optional '-' and decimal digits only (no blanks, no '+'), within int64_t. */
static int strict_int(const char *s, int64_t *out)
{
  const char *p = s + (*s == '-');
  if (!*p || strspn(p, "0123456789") != strlen(p))
    return -1;
  errno = 0;
  long long v = strtoll(s, NULL, 10);
  if (errno == ERANGE)
    return -1;
  *out = v;
  return 0;
}

int option_check(const struct option_key *k, const char *v, char *out, size_t outlen, char *why,
                 size_t whylen)
{
  if (k->type == OPTION_INT || k->type == OPTION_BOOL) {
    int64_t n = 0;
    if (strict_int(v, &n) != 0 || n < k->min || n > k->max) {
      snprintf(why, whylen, _("must be an integer from %" PRId64 " to %" PRId64), k->min, k->max);
      return -1;
    }
    snprintf(out, outlen, "%" PRId64, n);
    return 0;
  }
  if (strlen(v) >= outlen || strlen(v) >= OPTION_VALUE_MAX) {
    snprintf(why, whylen, _("the value is longer than %zu bytes"),
             (outlen < OPTION_VALUE_MAX ? outlen : OPTION_VALUE_MAX) - 1);
    return -1;
  }
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p < 0x20 || *p == 0x7f) {
      snprintf(why, whylen, _("the value may not contain control characters"));
      return -1;
    }
  if (k->type == OPTION_ENUM && choice_index(k->choices, v) < 0) {
    snprintf(why, whylen, _("must be one of %s, not '%.100s'"), k->choices, v);
    return -1;
  }
  if (k->type == OPTION_URL && *v && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
    snprintf(why, whylen, _("must start with http:// or https:// (or be empty), not '%.100s'"), v);
    return -1;
  }
  snprintf(out, outlen, "%s", v);
  return 0;
}

void options_apply(struct snap_options *o, const struct option_key *k, const char *value)
{
  char *f = (char *)o + k->off;
  int64_t n = 0;
  switch (k->type) {
  case OPTION_INT:
    if (strict_int(value, &n) == 0)
      memcpy(f, &n, sizeof n);
    break;
  case OPTION_BOOL: {
    bool b = strcmp(value, "0") != 0;
    memcpy(f, &b, sizeof b);
    break;
  }
  case OPTION_ENUM: {
    int i = choice_index(k->choices, value);
    if (i >= 0)
      memcpy(f, &i, sizeof i);
    break;
  }
  case OPTION_TEXT:
  case OPTION_URL:
    memcpy(f, &value, sizeof value);
    break;
  }
}

void options_defaults(struct snap_options *o)
{
  memset(o, 0, sizeof *o);
  for (size_t i = 0; i < option_nkeys; i++)
    options_apply(o, &option_keys[i], option_keys[i].def);
}

void options_format(const struct snap_options *o, const struct option_key *k, char *buf, size_t len)
{
  const char *f = (const char *)o + k->off;
  switch (k->type) {
  case OPTION_INT: {
    int64_t n;
    memcpy(&n, f, sizeof n);
    snprintf(buf, len, "%" PRId64, n);
    return;
  }
  case OPTION_BOOL: {
    bool b;
    memcpy(&b, f, sizeof b);
    snprintf(buf, len, "%d", b ? 1 : 0);
    return;
  }
  case OPTION_ENUM: {
    int i;
    memcpy(&i, f, sizeof i);
    const char *c = k->choices;
    for (; i > 0 && *c; i--) {
      c += strcspn(c, "|");
      if (*c == '|')
        c++;
    }
    snprintf(buf, len, "%.*s", (int)strcspn(c, "|"), c);
    return;
  }
  case OPTION_TEXT:
  case OPTION_URL: {
    const char *s;
    memcpy(&s, f, sizeof s);
    snprintf(buf, len, "%s", k->secret && s && *s ? "(set)" : s ? s : "");
    return;
  }
  }
}
