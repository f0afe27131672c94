/*
 * gwctl config: runtime options (table options, key -> value), read by relayd at every reload;
 * and `config show`: relayd's start-up settings in force (admin verb `config`: value, where it came
 * from, whether a reload applies it; see relayd.conf(5)).
 *
 * The keys, their defaults, help and checks are common/options.c's option_keys[], the table that
 * relayd's snapshot loader applies too (gwctl.c's gw_config_check serves apply and import); an
 * unknown key is refused with that list.
 * Callers: the command table in main.c.
 */
#include "gwctl.h"
#include "i18n.h"
#include "cmd_config.h"
#include "options.h"
#include "output.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct option_key *find_key(struct gwctl *g, const char *key, int *rc)
{
  const struct option_key *k = option_find(key);
  if (k)
    return k;
  char known[512] = "";
  for (size_t i = 0; i < option_nkeys; i++)
    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", *known ? ", " : "",
             option_keys[i].name);
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

static cJSON *key_row(struct gwctl *g, const struct option_key *k)
{
  char value[1024];
  int set = stored(g, k->name, value, sizeof value);
  if (set < 0)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "key", k->name);
  cJSON_AddStringToObject(o, "value", set ? value : k->def);
  cJSON_AddStringToObject(o, "default", k->def);
  cJSON_AddBoolToObject(o, "set", set);
  cJSON_AddStringToObject(o, "summary", k->help);
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
  for (size_t i = 0; rc == 0 && i < option_nkeys; i++) {
    cJSON *o = key_row(g, &option_keys[i]);
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
  const struct option_key *k = find_key(g, key, &rc);
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
  const struct option_key *k = find_key(g, pos[0], &rc);
  if (!k)
    return rc;
  if (k->type == OPTION_INT || k->type == OPTION_BOOL) {
    if ((rc = gw_parse_int(g, k->name, pos[1], k->min, k->max, &v)) != 0)
      return rc;
    snprintf(value, sizeof value, "%" PRId64, v);
  } else {
    char why[256];
    if (option_check(k, pos[1], value, sizeof value, why, sizeof why) != 0)
      return gw_usage(g, "%s %s", k->name, why);
  }
  if ((rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_exec(g, "cannot set the option", "INSERT INTO options(key, value) VALUES (?1, ?2) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "ss", k->name, value);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = k->secret                                /* e.g. a webhook URL may hold a token */
             ? gw_log_manage(g, &s, "config set %s (%s)", k->name, *value ? "set" : "empty")
             : gw_log_manage(g, &s, "config set %s=%s", k->name, value);
  return gw_end(g, rc);
}

int cmd_config_unset(struct gwctl *g, int argc, char **argv)
{
  const char *key = NULL;
  int rc = gw_args(g, argc, argv, NULL, "KEY", &key);
  if (rc != 0)
    return rc;
  const struct option_key *k = find_key(g, key, &rc);
  if (!k || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_exec(g, "cannot unset the option", "DELETE FROM options WHERE key = ?1", "s", k->name);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "config unset %s (default %s)", k->name, k->def);
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
    printf(_("file: %s\n"), file && *file ? file : _("(none)"));
    rc = out_list(0, keys, cols) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
  }
  cJSON_Delete(r);
  return rc;
}
