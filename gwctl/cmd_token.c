/*
 * gwctl token: create, list and show client API keys (table tokens).
 *
 * Callers: the command table in main.c.
 * Never: stores a key (only key_hash and key_hint, see keys.h), prints a key other than the one
 * `token create` just made, takes a key from argv, or writes a key into the log.
 */
#include "gwctl.h"
#include "keys.h"
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MODEL_NAME_MAX 128

#define TOKEN_SELECT "SELECT t.id, t.name, t.user_id, COALESCE(u.username, ''), t.status, " \
  "t.remain_quota, t.used_quota, t.unlimited_quota, t.models, t.subnet, t.\"group\", " \
  "t.expired_time, t.created_time, t.accessed_time, t.key_hint " \
  "FROM tokens t LEFT JOIN users u ON u.id = t.user_id "

/* The status relayd acts on: a stored "enabled" past its expiry or out of quota is not usable. */
static const char *token_status_name(int64_t status, int64_t expired_time, int unlimited,
                                     int64_t remain, time_t now)
{
  switch (status) {
  case 1:
    if (expired_time > 0 && expired_time <= (int64_t)now)
      return "expired";
    if (!unlimited && remain <= 0)
      return "exhausted";
    return "enabled";
  case 2: return "disabled";
  case 3: return "expired";
  case 4: return "exhausted";
  default: return "unknown";
  }
}

static cJSON *token_row(struct db_stmt *st, time_t now)
{
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  int unlimited = db_col_int64(st, 7) != 0;
  int64_t remain = db_col_int64(st, 5);
  cJSON_AddNumberToObject(o, "id", (double)db_col_int64(st, 0));
  cJSON_AddStringToObject(o, "name", db_col_text(st, 1));
  cJSON_AddNumberToObject(o, "user_id", (double)db_col_int64(st, 2));
  cJSON_AddStringToObject(o, "username", db_col_text(st, 3));
  cJSON_AddStringToObject(o, "status", token_status_name(db_col_int64(st, 4), db_col_int64(st, 11),
                                                         unlimited, remain, now));
  cJSON_AddNumberToObject(o, "remain_quota", (double)remain);
  cJSON_AddNumberToObject(o, "used_quota", (double)db_col_int64(st, 6));
  cJSON_AddBoolToObject(o, "unlimited_quota", unlimited);
  cJSON_AddItemToObject(o, "models", gw_csv_array(db_col_text(st, 8)));
  cJSON_AddItemToObject(o, "subnet", gw_csv_array(db_col_text(st, 9)));
  cJSON_AddStringToObject(o, "group", db_col_text(st, 10));
  cJSON_AddNumberToObject(o, "expired_time", (double)db_col_int64(st, 11));
  cJSON_AddNumberToObject(o, "created_time", (double)db_col_int64(st, 12));
  cJSON_AddNumberToObject(o, "accessed_time", (double)db_col_int64(st, 13));
  cJSON_AddStringToObject(o, "key_hint", db_col_text(st, 14));
  if (cJSON_GetArraySize(o) != 15) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static void render_remain(const cJSON *row, char *buf, size_t len)
{
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "unlimited_quota")))
    snprintf(buf, len, "unlimited");
  else
    snprintf(buf, len, "%.0f",
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "remain_quota")));
}

static const struct out_col token_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "username", "USER", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "remain_quota", "REMAIN", OUT_PLAIN, 0, render_remain },
  { "used_quota", "USED", OUT_PLAIN, 0, NULL },
  { "models", "MODELS", OUT_PLAIN, 30, NULL },
  { "key_hint", "KEY", OUT_PLAIN, 0, NULL },
  { 0 },
};

static const struct out_col token_show_cols[] = {
  { "remain_quota", NULL, OUT_PLAIN, 0, render_remain },
  { "expired_time", NULL, OUT_TIME, 0, NULL },
  { "created_time", NULL, OUT_TIME, 0, NULL },
  { "accessed_time", NULL, OUT_TIME, 0, NULL },
  { 0 },
};

/* Rows of TOKEN_SELECT WHERE where; where may use ?1 (text), ?2 (id) and ?3 (user id, 0 = any).
 * Returns the array, or NULL with *rc set after printing. */
static cJSON *token_rows(struct gwctl *g, const char *where, const char *text, int64_t id,
                         int64_t user_id, int *rc)
{
  char sql[1024];
  snprintf(sql, sizeof sql, TOKEN_SELECT "WHERE %s ORDER BY t.id", where);
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st) {
    *rc = gw_dberr(g, "cannot read tokens");
    return NULL;
  }
  cJSON *rows = cJSON_CreateArray();
  time_t now = time(NULL);
  enum db_step_result r = db_bind_text(st, 1, text ? text : "") == 0 && db_bind_int64(st, 2, id) == 0
                          && db_bind_int64(st, 3, user_id) == 0 ? DB_DONE : DB_ERROR;
  while (rows && r != DB_ERROR && (r = db_step(st)) == DB_ROW) {
    cJSON *o = token_row(st, now);
    if (!o || !cJSON_AddItemToArray(rows, o)) {
      cJSON_Delete(o);
      cJSON_Delete(rows);
      rows = NULL;
    }
  }
  db_finalize(st);
  if (r == DB_ERROR) {
    cJSON_Delete(rows);
    *rc = gw_dberr(g, "cannot read tokens");
    return NULL;
  }
  if (!rows)
    *rc = gw_err(GW_FAIL, "out of memory");
  return rows;
}

/* Reads the key for --key-file F|- into key (size KEY_MAX_LEN + 4). */
static int read_key_file(struct gwctl *g, const char *path, char *key, size_t keylen)
{
  char err[256];
  int rc;
  if (strcmp(path, "-") == 0) {
    rc = gw_read_secret(stdin, "API key: ", "the key on stdin", key, keylen);
  } else {
    FILE *f = fopen(path, "r");
    if (!f)
      return gw_err(GW_FAIL, "cannot open key file %s: %s", path, strerror(errno));
    snprintf(err, sizeof err, "key file %s", path);
    rc = gw_read_secret(f, "", err, key, keylen);
    fclose(f);
  }
  if (rc == 0 && key_validate(key, err, sizeof err) != 0)
    rc = gw_usage(g, "--key-file: %s", err);
  return rc;
}

struct token_new {
  const char *user, *name, *models, *hash, *hint;
  int64_t quota;
  int unlimited;
};

static int token_insert(struct gwctl *g, const struct token_new *t, int64_t *id, int64_t *uid,
                        char *uname, size_t unamelen)
{
  int rc = gw_user_find(g, t->user, uid, uname, unamelen);
  if (rc != 0)
    return rc;

  struct db_stmt *st = db_prepare(g->db,
      "SELECT id, 1 FROM tokens WHERE user_id = ?1 AND name = ?2 "
      "UNION ALL SELECT id, 2 FROM tokens WHERE key_hash = ?3");
  if (!st)
    return gw_dberr(g, "cannot create the token");
  enum db_step_result r = db_bind_int64(st, 1, *uid) == 0 && db_bind_text(st, 2, t->name) == 0
                          && db_bind_text(st, 3, t->hash) == 0 ? db_step(st) : DB_ERROR;
  int64_t other = r == DB_ROW ? db_col_int64(st, 0) : 0, why = r == DB_ROW ? db_col_int64(st, 1) : 0;
  db_finalize(st);
  if (r == DB_ERROR)
    return gw_dberr(g, "cannot create the token");
  if (why == 1)
    return gw_err(GW_CONFLICT, "user '%s' already has a token named '%s' (id %" PRId64 ")", uname,
                  t->name, other);
  if (why == 2)
    return gw_err(GW_CONFLICT, "this key is already in use (token id %" PRId64 ")", other);

  st = db_prepare(g->db,
      "INSERT INTO tokens(user_id, name, key_hash, key_hint, status, created_time, expired_time, "
      "remain_quota, unlimited_quota, models) VALUES (?1, ?2, ?3, ?4, 1, ?5, -1, ?6, ?7, ?8)");
  if (!st)
    return gw_dberr(g, "cannot create the token");
  int ok = db_bind_int64(st, 1, *uid) == 0 && db_bind_text(st, 2, t->name) == 0
           && db_bind_text(st, 3, t->hash) == 0 && db_bind_text(st, 4, t->hint) == 0
           && db_bind_int64(st, 5, (int64_t)time(NULL)) == 0
           && db_bind_int64(st, 6, t->unlimited ? 0 : t->quota) == 0
           && db_bind_int64(st, 7, t->unlimited) == 0 && db_bind_text(st, 8, t->models) == 0
           && db_step(st) == DB_DONE;
  db_finalize(st);
  if (!ok)
    return gw_dberr(g, "cannot create the token");
  *id = db_last_insert_id(g->db);

  char quota[32];
  if (t->unlimited)
    snprintf(quota, sizeof quota, "unlimited");
  else
    snprintf(quota, sizeof quota, "%" PRId64, t->quota);
  struct gw_subject s = { .user_id = *uid, .username = uname, .token_id = *id,
                          .token_name = t->name };
  return gw_log_manage(g, &s, "token create %s user=%s quota=%s models=%s key=%s", t->name, uname,
                       quota, *t->models ? t->models : "all", t->hint);
}

int cmd_token_create(struct gwctl *g, int argc, char **argv)
{
  const char *user = NULL, *name = NULL, *quota_s = NULL, *models = "", *key_file = NULL;
  int unlimited = 0, nmodels = 0;
  const struct gw_opt opts[] = {
    { "user", &user, NULL },
    { "name", &name, NULL },
    { "quota", &quota_s, NULL },
    { "unlimited", NULL, &unlimited },
    { "models", &models, NULL },
    { "key-file", &key_file, NULL },
    { 0 },
  };
  char key[KEY_MAX_LEN + 8] = "", hash[KEY_HASH_HEX_LEN + 1], hint[KEY_HINT_MAX];
  char model_list[GW_LIST_MAX], uname[GW_NAME_MAX + 1] = "";
  struct token_new t = { 0 };
  int64_t id = 0, uid = 0;

  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !user)
    rc = gw_usage(g, "missing --user NAME");
  if (rc == 0 && !name)
    rc = gw_usage(g, "missing --name N");
  if (rc == 0)
    rc = gw_check_name(g, "token name", name);
  if (rc == 0 && quota_s && unlimited)
    rc = gw_usage(g, "give --quota Q or --unlimited, not both");
  if (rc == 0 && !quota_s && !unlimited)
    rc = gw_usage(g, "give --quota Q or --unlimited");
  if (rc == 0 && quota_s)
    rc = gw_parse_int(g, "--quota", quota_s, 0, GW_QUOTA_MAX, &t.quota);
  if (rc == 0)
    rc = gw_norm_list(g, "--models", models, MODEL_NAME_MAX, model_list, sizeof model_list,
                      &nmodels);
  if (rc == 0 && key_file)
    rc = read_key_file(g, key_file, key, sizeof key);
  else if (rc == 0 && key_generate(key, sizeof key) != 0)
    rc = gw_err(GW_FAIL, "cannot generate a key: no randomness available");
  if (rc == 0) {
    const char *body = key_body(key);
    key_hash(body, strlen(body), hash);
    key_hint(key, hint);
    t.user = user;
    t.name = name;
    t.models = model_list;
    t.hash = hash;
    t.hint = hint;
    t.unlimited = unlimited != 0;
    if ((rc = gw_begin(g)) == 0)
      rc = gw_end(g, token_insert(g, &t, &id, &uid, uname, sizeof uname));
  }
  if (rc == 0 && !g->json) {
    printf("%s\n", key);
  } else if (rc == 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "user_id", (double)uid);
    cJSON_AddStringToObject(o, "username", uname);
    if (!cJSON_AddStringToObject(o, "key", key) || cJSON_GetArraySize(o) != 5 || out_json(o) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(o);
  }
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

int cmd_token_list(struct gwctl *g, int argc, char **argv)
{
  const char *user = NULL;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { 0 } };
  char uname[GW_NAME_MAX + 1];
  int64_t uid = 0;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (user && (rc = gw_user_find(g, user, &uid, uname, sizeof uname)) != 0)
    return rc;
  cJSON *rows = token_rows(g, "?3 = 0 OR t.user_id = ?3", NULL, 0, uid, &rc);
  if (!rows)
    return rc;
  if (out_list(g->json, rows, token_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

int cmd_token_show(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *user = NULL;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { 0 } };
  char uname[GW_NAME_MAX + 1] = "";
  int64_t uid = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (user && (rc = gw_user_find(g, user, &uid, uname, sizeof uname)) != 0)
    return rc;
  cJSON *rows = token_rows(g, "t.name = ?1 AND (?3 = 0 OR t.user_id = ?3)", ref, 0, uid, &rc);
  if (rows && cJSON_GetArraySize(rows) == 0 && gw_is_id(ref)) {
    cJSON_Delete(rows);
    rows = token_rows(g, "t.id = ?2 AND (?3 = 0 OR t.user_id = ?3)", NULL,
                      strtoll(ref, NULL, 10), uid, &rc);
  }
  if (!rows)
    return rc;
  int n = cJSON_GetArraySize(rows);
  if (n == 0) {
    rc = *uname ? gw_err(GW_NOTFOUND, "user '%s' has no token named '%s'", uname, ref)
                : gw_err(GW_NOTFOUND, "no token named '%s'", ref);
  } else if (n > 1) {
    char owners[512];
    size_t used = 0;
    const cJSON *it;
    owners[0] = '\0';
    cJSON_ArrayForEach(it, rows) {
      const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "username"));
      int w = snprintf(owners + used, sizeof owners - used, "%s%s", used ? ", " : "", u ? u : "?");
      if (w < 0 || (size_t)w >= sizeof owners - used)
        break;
      used += (size_t)w;
    }
    rc = gw_usage(g, "%d users have a token named '%s' (%s): give --user NAME", n, ref, owners);
  } else if (out_object(g->json, cJSON_GetArrayItem(rows, 0), token_show_cols) != 0) {
    rc = gw_err(GW_FAIL, "out of memory");
  }
  cJSON_Delete(rows);
  return rc;
}
