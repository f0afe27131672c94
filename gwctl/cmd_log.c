/*
 * gwctl log: list rows of the logs table (relayed requests and administrative events), newest first.
 *
 * Callers: the command table in main.c.
 * Never: writes to the logs table (gw_log_manage in main.c does, for changes), or reads rows without
 * a LIMIT.
 */
#include "gwctl.h"
#include "output.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LOG_LIMIT_DEFAULT "100"
#define LOG_LIMIT_MAX 1000000

static const char *const log_types[] = {
  NULL, "topup", "consume", "manage", "system", "error", "refund",
};
#define NTYPES (int)(sizeof log_types / sizeof log_types[0])

static const char *type_name(int64_t t)
{
  return t > 0 && t < NTYPES ? log_types[t] : "unknown";
}

static cJSON *log_row(struct db_stmt *st)
{
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddNumberToObject(o, "id", (double)db_col_int64(st, 0));
  cJSON_AddStringToObject(o, "request_id", db_col_text(st, 1));
  cJSON_AddNumberToObject(o, "created_at", (double)db_col_int64(st, 2));
  cJSON_AddStringToObject(o, "type", type_name(db_col_int64(st, 3)));
  cJSON_AddNumberToObject(o, "user_id", (double)db_col_int64(st, 4));
  cJSON_AddStringToObject(o, "username", db_col_text(st, 5));
  cJSON_AddNumberToObject(o, "token_id", (double)db_col_int64(st, 6));
  cJSON_AddStringToObject(o, "token_name", db_col_text(st, 7));
  cJSON_AddNumberToObject(o, "channel_id", (double)db_col_int64(st, 8));
  cJSON_AddStringToObject(o, "model", db_col_text(st, 9));
  cJSON_AddStringToObject(o, "upstream_model", db_col_text(st, 10));
  cJSON_AddNumberToObject(o, "prompt_tokens", (double)db_col_int64(st, 11));
  cJSON_AddNumberToObject(o, "completion_tokens", (double)db_col_int64(st, 12));
  cJSON_AddNumberToObject(o, "quota", (double)db_col_int64(st, 13));
  cJSON_AddNumberToObject(o, "status", (double)db_col_int64(st, 14));
  cJSON_AddBoolToObject(o, "is_stream", db_col_int64(st, 15) != 0);
  cJSON_AddNumberToObject(o, "elapsed_ms", (double)db_col_int64(st, 16));
  cJSON_AddNumberToObject(o, "first_byte_ms", (double)db_col_int64(st, 17));
  cJSON_AddStringToObject(o, "end_reason", db_col_text(st, 18));
  cJSON_AddStringToObject(o, "usage_source", db_col_text(st, 19));
  cJSON_AddStringToObject(o, "group", db_col_text(st, 20));
  cJSON_AddStringToObject(o, "content", db_col_text(st, 21));
  if (cJSON_GetArraySize(o) != 22) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static const struct out_col log_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "created_at", "TIME", OUT_TIME, 0, NULL },
  { "type", "TYPE", OUT_PLAIN, 0, NULL },
  { "username", "USER", OUT_PLAIN, 0, NULL },
  { "token_name", "TOKEN", OUT_PLAIN, 0, NULL },
  { "model", "MODEL", OUT_PLAIN, 30, NULL },
  { "quota", "QUOTA", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "elapsed_ms", "MS", OUT_PLAIN, 0, NULL },
  { "content", "CONTENT", OUT_PLAIN, 60, NULL },
  { 0 },
};

/* Appends " AND cond" to the WHERE clause being built. */
static void add_cond(char *where, size_t len, const char *cond)
{
  size_t used = strlen(where);
  snprintf(where + used, len - used, "%s%s", used ? " AND " : "WHERE ", cond);
}

/* Fails with GW_NOTFOUND unless a token named name exists (for user uid when uid != 0). */
static int token_exists(struct gwctl *g, const char *name, int64_t uid, const char *uname)
{
  struct db_stmt *st = db_prepare(g->db,
      "SELECT 1 FROM tokens WHERE name = ?1 AND (?2 = 0 OR user_id = ?2) LIMIT 1");
  if (!st)
    return gw_dberr(g, "cannot look up the token");
  enum db_step_result r = db_bind_text(st, 1, name) == 0 && db_bind_int64(st, 2, uid) == 0
                          ? db_step(st) : DB_ERROR;
  db_finalize(st);
  if (r == DB_ERROR)
    return gw_dberr(g, "cannot look up the token");
  if (r == DB_ROW)
    return 0;
  return uid ? gw_err(GW_NOTFOUND, "user '%s' has no token named '%s'", uname, name)
             : gw_err(GW_NOTFOUND, "no token named '%s'", name);
}

int cmd_log_list(struct gwctl *g, int argc, char **argv)
{
  const char *limit_s = LOG_LIMIT_DEFAULT, *user = NULL, *token = NULL, *model = NULL,
             *request_id = NULL, *type_s = NULL;
  const struct gw_opt opts[] = {
    { "limit", &limit_s, NULL },
    { "user", &user, NULL },
    { "token", &token, NULL },
    { "model", &model, NULL },
    { "request-id", &request_id, NULL },
    { "type", &type_s, NULL },
    { 0 },
  };
  int64_t limit = 0, uid = 0, type = 0;
  char uname[GW_NAME_MAX + 1] = "", where[512] = "", sql[1536];

  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0)
    rc = gw_parse_int(g, "--limit", limit_s, 1, LOG_LIMIT_MAX, &limit);
  if (rc == 0 && type_s) {
    for (int i = 1; i < NTYPES; i++)
      if (strcmp(type_s, log_types[i]) == 0)
        type = i;
    if (!type)
      rc = gw_usage(g, "--type must be one of consume, topup, manage, system, error, refund; "
                    "not '%s'", type_s);
  }
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (user && (rc = gw_user_find(g, user, &uid, uname, sizeof uname)) != 0)
    return rc;
  if (token && (rc = token_exists(g, token, uid, uname)) != 0)
    return rc;

  /* Only the filters given go into the WHERE clause, so SQLite can use the matching index. */
  if (user)
    add_cond(where, sizeof where, "user_id = ?1");
  if (token)
    add_cond(where, sizeof where, "token_name = ?2");
  if (model)
    add_cond(where, sizeof where, "model_name = ?3");
  if (request_id)
    add_cond(where, sizeof where, "request_id = ?4");
  if (type)
    add_cond(where, sizeof where, "type = ?5");
  snprintf(sql, sizeof sql,
           "SELECT id, request_id, created_at, type, user_id, username, token_id, token_name, "
           "channel_id, model_name, upstream_model, prompt_tokens, completion_tokens, quota, status, "
           "is_stream, elapsed_ms, first_byte_ms, end_reason, usage_source, \"group\", content "
           "FROM logs %s ORDER BY created_at DESC, id DESC LIMIT ?6", where);
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st)
    return gw_dberr(g, "cannot read the log");
  enum db_step_result r = db_bind_int64(st, 1, uid) == 0 && db_bind_text(st, 2, token) == 0
                          && db_bind_text(st, 3, model) == 0 && db_bind_text(st, 4, request_id) == 0
                          && db_bind_int64(st, 5, type) == 0 && db_bind_int64(st, 6, limit) == 0
                          ? DB_DONE : DB_ERROR;
  cJSON *rows = cJSON_CreateArray();
  while (rows && r != DB_ERROR && (r = db_step(st)) == DB_ROW) {
    cJSON *o = log_row(st);
    if (!o || !cJSON_AddItemToArray(rows, o)) {
      cJSON_Delete(o);
      cJSON_Delete(rows);
      rows = NULL;
    }
  }
  db_finalize(st);
  if (r == DB_ERROR)
    rc = gw_dberr(g, "cannot read the log");
  else if (!rows || out_list(g->json, rows, log_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}
