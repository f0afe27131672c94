/* options: see options.h. */
#include "options.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const struct gw_runtime_option gw_runtime_options[] = {
  { "retry_times", "2", 0, 10,
    "how many other channels relayd tries after a failed upstream call", NULL },
  { "preconsume_completion_tokens", "256", 0, INT64_C(1000000000),
    "completion tokens reserved before a request that sets no max_tokens", NULL },
  { "rate_limit_window_s", "60", 1, 86400,
    "the window of rate limits: --rpm/--tpm are requests/tokens per this many seconds", NULL },
  { "routing", "weighted", 0, 0,
    "choice inside a priority tier: weighted (random by weight) or latency (lowest average)",
    "weighted|latency" },
  { "breaker_failures", "5", 0, 1000,
    "upstream failures in a row that open a channel's circuit breaker (0: never)", NULL },
  { "breaker_open_s", "30", 1, 86400,
    "how long an open breaker skips the channel before one trial request", NULL },
  { "channel_auto_disable", "1", 0, 1,
    "1: disable channels on authentication/account errors and repeated failures", NULL },
  { "channel_disable_failures", "0", 0, 100000,
    "failures in a row that disable a channel (0: never; the breaker still applies)", NULL },
  { "channel_disable_keywords", "", 0, 0,
    "comma list of upstream error codes/types that mean an account error (besides the built-in ones); "
    "compared whole with the error's type, code, status and reason, never with its message",
    "" },
  { "channel_test_interval_s", "300", 0, 604800,
    "seconds between periodic channel tests; a passing test re-enables auto-disabled channels (0: off)",
    NULL },
  { "channel_test_all", "0", 0, 1,
    "1: periodic tests cover every enabled channel too (upstreams may bill the tests)", NULL },
  { "channel_test_timeout_s", "20", 1, 600, "timeout of one periodic channel test", NULL },
  { "webhook_url", "", 0, 0,
    "http(s) URL that receives budget alerts and quota reminders as JSON POSTs (empty: log only)", "" },
  { "quota_remind_threshold", "0", 0, INT64_C(1000000000000000),
    "remind (log row + webhook) once when a user's quota falls below this (0: off)", NULL },
  { "display_token_stat", "1", 0, 1,
    "dashboard billing endpoints: 1 the key's own quota, 0 its user's", NULL },
  { "display_in_currency", "1", 0, 1,
    "dashboard billing endpoints: 1 USD (500000 quota = 1 USD), 0 quota units", NULL },
  { "default_max_output_tokens", "32768", 1, INT64_C(1000000000),
    "the output bound reserved when a request sets no max_tokens and its model's price has no "
    "max_output_tokens", NULL },
  { 0 },
};

void config_key_names(FILE *f)
{
  for (const struct gw_runtime_option *k = gw_runtime_options; k->key; k++)
    fprintf(f, "%s\n", k->key);
}

int config_text_check(const struct gw_runtime_option *k, const char *v, char *out, size_t outlen, char *why,
                      size_t whylen)
{
  if (strlen(v) >= outlen) {
    snprintf(why, whylen, "the value is longer than %zu bytes", outlen - 1);
    return -1;
  }
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p < 0x20 || *p == 0x7f) {
      snprintf(why, whylen, "the value may not contain control characters");
      return -1;
    }
  if (*k->text) {
    size_t n = strlen(v);
    for (const char *c = k->text; *c;) {
      size_t l = strcspn(c, "|");
      if (l == n && strncmp(c, v, n) == 0) {
        snprintf(out, outlen, "%s", v);
        return 0;
      }
      c += l;
      if (*c == '|')
        c++;
    }
    snprintf(why, whylen, "must be one of %s, not '%.100s'", k->text, v);
    return -1;
  }
  if (strcmp(k->key, "webhook_url") == 0 && *v && strncmp(v, "http://", 7) != 0 &&
      strncmp(v, "https://", 8) != 0) {
    snprintf(why, whylen, "must start with http:// or https:// (or be empty), not '%.100s'", v);
    return -1;
  }
  snprintf(out, outlen, "%s", v);
  return 0;
}

const char *gw_config_key(size_t i)
{
  return i < sizeof gw_runtime_options / sizeof gw_runtime_options[0] ? gw_runtime_options[i].key : NULL;
}

int gw_config_check(const char *key, const char *value, char *out, size_t outlen, char *why,
                    size_t whylen)
{
  const struct gw_runtime_option *k = gw_runtime_options;
  while (k->key && strcmp(k->key, key) != 0)
    k++;
  if (!k->key) {
    snprintf(why, whylen, "unknown option");
    return -1;
  }
  if (k->text)
    return config_text_check(k, value, out, outlen, why, whylen);
  int64_t v = 0;
  if (parse_int64(value, &v) != 0 || v < k->min || v > k->max) {
    snprintf(why, whylen, "must be an integer from %" PRId64 " to %" PRId64, k->min, k->max);
    return -1;
  }
  snprintf(out, outlen, "%" PRId64, v);
  return 0;
}

