/*
 * gwctl user: add, list and show users (table users), and gw_user_find() for the other commands.
 *
 * Callers: the command table in main.c; cmd_token.c and cmd_log.c use gw_user_find().
 * Never: changes the database outside a transaction, or prints a user's tokens or keys.
 */
#include "gwctl.h"
#include "output.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USER_COLS "id, username, role, status, quota, used_quota, request_count, \"group\", " \
                  "created_time"

static const char *role_name(int64_t role)
{
  switch (role) {
  case 0: return "guest";
  case 1: return "common";
  case 10: return "admin";
  case 100: return "root";
  default: return "unknown";
  }
}

static const char *user_status_name(int64_t status)
{
  return status == 1 ? "enabled" : status == 2 ? "disabled" : "unknown";
}

static cJSON *user_row(struct db_stmt *st)
{
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddNumberToObject(o, "id", (double)db_col_int64(st, 0));
  cJSON_AddStringToObject(o, "username", db_col_text(st, 1));
  cJSON_AddStringToObject(o, "role", role_name(db_col_int64(st, 2)));
  cJSON_AddStringToObject(o, "status", user_status_name(db_col_int64(st, 3)));
  cJSON_AddNumberToObject(o, "quota", (double)db_col_int64(st, 4));
  cJSON_AddNumberToObject(o, "used_quota", (double)db_col_int64(st, 5));
  cJSON_AddNumberToObject(o, "request_count", (double)db_col_int64(st, 6));
  cJSON_AddStringToObject(o, "group", db_col_text(st, 7));
  if (!cJSON_AddNumberToObject(o, "created_time", (double)db_col_int64(st, 8))
      || cJSON_GetArraySize(o) != 9) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static const struct out_col user_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "username", "USERNAME", OUT_PLAIN, 0, NULL },
  { "role", "ROLE", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "quota", "QUOTA", OUT_PLAIN, 0, NULL },
  { "used_quota", "USED", OUT_PLAIN, 0, NULL },
  { "request_count", "REQUESTS", OUT_PLAIN, 0, NULL },
  { "group", "GROUP", OUT_PLAIN, 0, NULL },
  { "created_time", "CREATED", OUT_TIME, 0, NULL },
  { 0 },
};

/* Looks a user up by name, then by id when ref is all digits. */
int gw_user_find(struct gwctl *g, const char *ref, int64_t *id, char *name, size_t namelen)
{
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && !gw_is_id(ref))
      break;
    struct db_stmt *st = db_prepare(g->db, pass == 0
        ? "SELECT id, username FROM users WHERE username = ?1"
        : "SELECT id, username FROM users WHERE id = ?1");
    if (!st)
      return gw_dberr(g, "cannot look up the user");
    int bound = pass == 0 ? db_bind_text(st, 1, ref) : db_bind_int64(st, 1, strtoll(ref, NULL, 10));
    enum db_step_result r = bound == 0 ? db_step(st) : DB_ERROR;
    if (r == DB_ROW) {
      *id = db_col_int64(st, 0);
      snprintf(name, namelen, "%s", db_col_text(st, 1));
    }
    db_finalize(st);
    if (r == DB_ERROR)
      return gw_dberr(g, "cannot look up the user");
    if (r == DB_ROW)
      return 0;
  }
  return gw_err(GW_NOTFOUND, gw_is_id(ref) ? "no user with name or id '%s'" : "no user named '%s'",
                ref);
}

static int user_insert(struct gwctl *g, const char *name, int64_t quota, const char *group,
                       int64_t role, const char *role_text, int64_t *id)
{
  struct db_stmt *st = db_prepare(g->db, "SELECT id FROM users WHERE username = ?1");
  if (!st)
    return gw_dberr(g, "cannot add the user");
  enum db_step_result r = db_bind_text(st, 1, name) == 0 ? db_step(st) : DB_ERROR;
  int64_t other = r == DB_ROW ? db_col_int64(st, 0) : 0;
  db_finalize(st);
  if (r == DB_ERROR)
    return gw_dberr(g, "cannot add the user");
  if (r == DB_ROW)
    return gw_err(GW_CONFLICT, "user '%s' already exists (id %" PRId64 ")", name, other);

  st = db_prepare(g->db, "INSERT INTO users(username, role, status, quota, \"group\", created_time) "
                         "VALUES (?1, ?2, 1, ?3, ?4, ?5)");
  if (!st)
    return gw_dberr(g, "cannot add the user");
  int ok = db_bind_text(st, 1, name) == 0 && db_bind_int64(st, 2, role) == 0
           && db_bind_int64(st, 3, quota) == 0 && db_bind_text(st, 4, group) == 0
           && db_bind_int64(st, 5, (int64_t)time(NULL)) == 0 && db_step(st) == DB_DONE;
  db_finalize(st);
  if (!ok)
    return gw_dberr(g, "cannot add the user");
  *id = db_last_insert_id(g->db);
  struct gw_subject s = { .user_id = *id, .username = name };
  return gw_log_manage(g, &s, "user add %s quota=%" PRId64 " group=%s role=%s", name, quota, group,
                       role_text);
}

int cmd_user_add(struct gwctl *g, int argc, char **argv)
{
  const char *name = NULL, *quota_s = NULL, *group = "default", *role_s = "common";
  const struct gw_opt opts[] = {
    { "quota", &quota_s, NULL },
    { "group", &group, NULL },
    { "role", &role_s, NULL },
    { 0 },
  };
  int64_t quota = 0, role = 1, id = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME", &name);
  if (rc == 0)
    rc = gw_check_name(g, "user name", name);
  if (rc == 0 && !quota_s)
    rc = gw_usage(g, "missing --quota Q");
  if (rc == 0)
    rc = gw_parse_int(g, "--quota", quota_s, 0, GW_QUOTA_MAX, &quota);
  if (rc == 0)
    rc = gw_check_name(g, "--group", group);
  if (rc == 0) {
    if (strcmp(role_s, "common") == 0)
      role = 1;
    else if (strcmp(role_s, "admin") == 0)
      role = 10;
    else
      rc = gw_usage(g, "--role must be admin or common, not '%s'", role_s);
  }
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_end(g, user_insert(g, name, quota, group, role, role_s, &id));
  if (rc != 0 || !g->json)
    return rc;
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddNumberToObject(o, "id", (double)id)
           && cJSON_AddStringToObject(o, "username", name) && out_json(o) == 0;
  cJSON_Delete(o);
  return ok ? GW_OK : gw_err(GW_FAIL, "out of memory");
}

int cmd_user_list(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  struct db_stmt *st = db_prepare(g->db, "SELECT " USER_COLS " FROM users ORDER BY id");
  if (!st)
    return gw_dberr(g, "cannot list users");
  cJSON *rows = cJSON_CreateArray();
  enum db_step_result r = DB_DONE;
  while (rows && (r = db_step(st)) == DB_ROW) {
    cJSON *o = user_row(st);
    if (!o || !cJSON_AddItemToArray(rows, o)) {
      cJSON_Delete(o);
      r = DB_ERROR;
      break;
    }
  }
  db_finalize(st);
  if (!rows || r == DB_ERROR)
    rc = rows ? gw_dberr(g, "cannot list users") : gw_err(GW_FAIL, "out of memory");
  else if (out_list(g->json, rows, user_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

int cmd_user_show(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  char name[GW_NAME_MAX + 1];
  int64_t id;
  int rc = gw_args(g, argc, argv, NULL, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_user_find(g, ref, &id, name, sizeof name)) != 0)
    return rc;
  struct db_stmt *st = db_prepare(g->db, "SELECT " USER_COLS " FROM users WHERE id = ?1");
  if (!st)
    return gw_dberr(g, "cannot show the user");
  cJSON *o = NULL;
  if (db_bind_int64(st, 1, id) != 0 || db_step(st) != DB_ROW)
    rc = gw_dberr(g, "cannot show the user");
  else if (!(o = user_row(st)) || out_object(g->json, o, user_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  db_finalize(st);
  cJSON_Delete(o);
  return rc;
}
