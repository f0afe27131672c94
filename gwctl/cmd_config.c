/*
 * gwctl config: runtime options (table options, key -> value), read by relayd at every reload;
 * and `config show`: relayd's start-up settings in force (admin verb `config`: value, where it came
 * from, whether a reload applies it; see relayd.conf(5)).
 *
 * Owns: the list of known keys with their defaults and checks (config_keys[]); an unknown key is
 * refused with that list. The defaults are relayd's (relayd/snapshot.c load_options).
 * Callers: the command table in main.c.
 */
#include "gwctl.h"
#include "output.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct config_key {
  const char *key;
  const char *def;              /* relayd's default when the key is not set */
  int64_t min, max;             /* integer options */
  const char *summary;
  const char *text;             /* not NULL: a text option; "|"-separated choices, or "" for any text */
};

static const struct config_key config_keys[] = {
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
  for (const struct config_key *k = config_keys; k->key; k++)
    fprintf(f, "%s\n", k->key);
}

/* Checks a text option's value into out: 0, or -1 with the reason in why. */
static int text_check(const struct config_key *k, const char *v, char *out, size_t outlen, char *why,
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

static int check_text(struct gwctl *g, const struct config_key *k, const char *v, char *out, size_t outlen)
{
  char why[256];
  if (text_check(k, v, out, outlen, why, sizeof why) < 0)
    return gw_usage(g, "%s %s", k->key, why);
  return 0;
}

static const struct config_key *find_key(struct gwctl *g, const char *key, int *rc)
{
  char known[512] = "";
  for (const struct config_key *k = config_keys; k->key; k++) {
    if (strcmp(k->key, key) == 0)
      return k;
    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", *known ? ", " : "",
             k->key);
  }
  *rc = gw_usage(g, "unknown option '%s'; known options: %s", key, known);
  return NULL;
}

const char *gw_config_key(size_t i)
{
  return i < sizeof config_keys / sizeof config_keys[0] ? config_keys[i].key : NULL;
}

int gw_config_check(const char *key, const char *value, char *out, size_t outlen, char *why,
                    size_t whylen)
{
  const struct config_key *k = config_keys;
  while (k->key && strcmp(k->key, key) != 0)
    k++;
  if (!k->key) {
    snprintf(why, whylen, "unknown option");
    return -1;
  }
  if (k->text)
    return text_check(k, value, out, outlen, why, whylen);
  int64_t v = 0;
  if (parse_int64(value, &v) != 0 || v < k->min || v > k->max) {
    snprintf(why, whylen, "must be an integer from %" PRId64 " to %" PRId64, k->min, k->max);
    return -1;
  }
  snprintf(out, outlen, "%" PRId64, v);
  return 0;
}

/* The stored value of key into buf ("" and 0 when unset); returns 1 set, 0 unset, -1 error. */
static int stored(struct gwctl *g, const char *key, char *buf, size_t len)
{
  struct db_stmt *st = gw_prepare(g, "cannot read options", "SELECT value FROM options WHERE key = ?1",
                                  "s", key);
  if (!st)
    return -1;
  enum db_step_result r = db_step(st);
  buf[0] = '\0';
  if (r == DB_ROW)
    snprintf(buf, len, "%s", db_col_text(st, 0));
  db_finalize(st);
  if (r == DB_ERROR) {
    gw_dberr(g, "cannot read options");
    return -1;
  }
  return r == DB_ROW;
}

static cJSON *key_row(struct gwctl *g, const struct config_key *k)
{
  char value[1024];
  int set = stored(g, k->key, value, sizeof value);
  if (set < 0)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "key", k->key);
  cJSON_AddStringToObject(o, "value", set ? value : k->def);
  cJSON_AddStringToObject(o, "default", k->def);
  cJSON_AddBoolToObject(o, "set", set);
  cJSON_AddStringToObject(o, "summary", k->summary);
  return o;
}

static const struct out_col config_cols[] = {
  { "key", "KEY", OUT_PLAIN, 0, NULL },
  { "value", "VALUE", OUT_PLAIN, 0, NULL },
  { "default", "DEFAULT", OUT_PLAIN, 0, NULL },
  { "set", "SET", OUT_PLAIN, 0, NULL },
  { "summary", "SUMMARY", OUT_PLAIN, 0, NULL },
  { 0 },
};

int cmd_config_list(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  cJSON *rows = cJSON_CreateArray();
  for (const struct config_key *k = config_keys; rc == 0 && k->key; k++) {
    cJSON *o = key_row(g, k);
    if (!o)
      rc = GW_FAIL;
    else
      cJSON_AddItemToArray(rows, o);
  }
  if (rc == 0 && out_list(g->json, rows, config_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

int cmd_config_get(struct gwctl *g, int argc, char **argv)
{
  const char *key = NULL;
  int rc = gw_args(g, argc, argv, NULL, "KEY", &key);
  if (rc != 0)
    return rc;
  const struct config_key *k = find_key(g, key, &rc);
  if (!k || (rc = gw_open(g)) != 0)
    return rc;
  cJSON *o = key_row(g, k);
  if (!o)
    return GW_FAIL;
  if (g->json)
    rc = out_json(o) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
  else
    printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "value")));
  cJSON_Delete(o);
  return rc;
}

int cmd_config_set(struct gwctl *g, int argc, char **argv)
{
  static const char *const names[] = { "KEY", "VALUE" };
  const char *pos[2] = { 0 };
  int64_t v = 0;
  char value[1024];
  int rc = gw_argv(g, argc, argv, NULL, 2, 2, names, pos);
  if (rc != 0)
    return rc;
  const struct config_key *k = find_key(g, pos[0], &rc);
  if (!k)
    return rc;
  if (k->text) {
    if ((rc = check_text(g, k, pos[1], value, sizeof value)) != 0)
      return rc;
  } else {
    if ((rc = gw_parse_int(g, k->key, pos[1], k->min, k->max, &v)) != 0)
      return rc;
    snprintf(value, sizeof value, "%" PRId64, v);
  }
  if ((rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_exec(g, "cannot set the option", "INSERT INTO options(key, value) VALUES (?1, ?2) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "ss", k->key, value);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = strcmp(k->key, "webhook_url") == 0       /* a webhook URL may hold a secret */
             ? gw_log_manage(g, &s, "config set %s (%s)", k->key, *value ? "set" : "empty")
             : gw_log_manage(g, &s, "config set %s=%s", k->key, value);
  return gw_end(g, rc);
}

int cmd_config_unset(struct gwctl *g, int argc, char **argv)
{
  const char *key = NULL;
  int rc = gw_args(g, argc, argv, NULL, "KEY", &key);
  if (rc != 0)
    return rc;
  const struct config_key *k = find_key(g, key, &rc);
  if (!k || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_exec(g, "cannot unset the option", "DELETE FROM options WHERE key = ?1", "s", k->key);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "config unset %s (default %s)", k->key, k->def);
  return gw_end(g, rc);
}

static void render_reload(const cJSON *row, char *buf, size_t len)
{
  snprintf(buf, len, "%s", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "reload")) ? "reload"
                                                                                      : "restart");
}

int cmd_config_show(struct gwctl *g, int argc, char **argv)
{
  static const struct out_col cols[] = {
    { "key", "KEY", OUT_PLAIN, 0, NULL },
    { "value", "VALUE", OUT_PLAIN, 0, NULL },
    { "source", "SOURCE", OUT_PLAIN, 0, NULL },
    { "reload", "APPLIED_BY", OUT_PLAIN, 0, render_reload },
    { 0 },
  };
  cJSON *r = NULL;
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_admin(g, "config", &r)) != 0)
    return rc;
  /* --json: {"file": PATH or "", "keys": [{key, value, source, reload, default, type}]} */
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(r, "keys");
  const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "file"));
  if (!cJSON_IsArray(keys))
    rc = gw_err(GW_FAIL, "relayd's answer to 'config' has no keys");
  else if (g->json)
    rc = out_json(r) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
  else {
    printf("file: %s\n", file && *file ? file : "(none)");
    rc = out_list(0, keys, cols) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
  }
  cJSON_Delete(r);
  return rc;
}
