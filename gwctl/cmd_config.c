/*
 * gwctl config: runtime options (table options, key -> value), read by relayd at every reload;
 * and `config show`: relayd's start-up settings in force (admin verb `config`: value, where it came
 * from, whether a reload applies it; see relayd.conf(5)).
 *
 * The known keys with their defaults and checks are options.c's (gw_runtime_options[]); an unknown
 * key is refused with that list.
 * Callers: the command table in main.c.
 */
#include "gwctl.h"
#include "cmd_config.h"
#include "options.h"
#include "output.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_text(struct gwctl *g, const struct gw_runtime_option *k, const char *v, char *out, size_t outlen)
{
  char why[256];
  if (config_text_check(k, v, out, outlen, why, sizeof why) < 0)
    return gw_usage(g, "%s %s", k->key, why);
  return 0;
}

static const struct gw_runtime_option *find_key(struct gwctl *g, const char *key, int *rc)
{
  char known[512] = "";
  for (const struct gw_runtime_option *k = gw_runtime_options; k->key; k++) {
    if (strcmp(k->key, key) == 0)
      return k;
    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", *known ? ", " : "",
             k->key);
  }
  *rc = gw_usage(g, "unknown option '%s'; known options: %s", key, known);
  return NULL;
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

static cJSON *key_row(struct gwctl *g, const struct gw_runtime_option *k)
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
  for (const struct gw_runtime_option *k = gw_runtime_options; rc == 0 && k->key; k++) {
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
  const struct gw_runtime_option *k = find_key(g, key, &rc);
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
  const struct gw_runtime_option *k = find_key(g, pos[0], &rc);
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
  const struct gw_runtime_option *k = find_key(g, key, &rc);
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
