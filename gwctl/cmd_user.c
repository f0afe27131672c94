/*
 * gwctl user: add, list, show, edit, enable, disable, topup and rm users (table users).
 *
 * Callers: the command table in main.c.
 * Never: changes the database outside a transaction, or prints a user's tokens or keys.
 */
#include "gwctl.h"
#include "i18n.h"
#include "cmd_user.h"
#include "output.h"
#include "store.h"

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
  case ROLE_GUEST: return "guest";
  case ROLE_COMMON: return "common";
  case ROLE_ADMIN: return "admin";
  case ROLE_ROOT: return "root";
  default: return "unknown";
  }
}

static const char *user_status_name(int64_t status)
{
  return status == STATUS_ENABLED ? "enabled" : status == STATUS_DISABLED ? "disabled" : "unknown";
}

/* A user's row (gw_row_fn; arg unused). */
static cJSON *user_row(struct db_stmt *st, const void *arg)
{
  (void)arg;
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
  { "quota", "QUOTA", OUT_QUOTA, 0, NULL },
  { "used_quota", "USED", OUT_QUOTA, 0, NULL },
  { "request_count", "REQUESTS", OUT_PLAIN, 0, NULL },
  { "group", "GROUP", OUT_PLAIN, 0, NULL },
  { "created_time", "CREATED", OUT_TIME, 0, NULL },
  { 0 },
};

static int parse_role(struct gwctl *g, const char *s, int64_t *role)
{
  if (strcmp(s, "common") == 0)
    *role = ROLE_COMMON;
  else if (strcmp(s, "admin") == 0)
    *role = ROLE_ADMIN;
  else
    return gw_usage(g, "--role must be admin or common, not '%s'", s);
  return 0;
}

static int parse_status(struct gwctl *g, const char *s, int64_t *status)
{
  if (strcmp(s, "enabled") == 0)
    *status = STATUS_ENABLED;
  else if (strcmp(s, "disabled") == 0)
    *status = STATUS_DISABLED;
  else
    return gw_usage(g, "--status must be enabled or disabled, not '%s'", s);
  return 0;
}

static int user_insert(struct gwctl *g, const char *name, int64_t quota, const char *group,
                       int64_t role, const char *role_text, int64_t *id)
{
  int rc = gw_user_insert(g, name, role, STATUS_ENABLED, quota, group, id);
  if (rc != 0)
    return rc;
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
  int64_t quota = 0, role = ROLE_COMMON, id = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME", &name);
  if (rc == 0)
    rc = gw_check_name(g, "user name", name);
  if (rc == 0 && !quota_s)
    rc = gw_usage(g, "missing --quota Q");
  if (rc == 0)
    rc = gw_parse_quota(g, "--quota", quota_s, 0, GW_QUOTA_MAX, &quota);
  if (rc == 0)
    rc = gw_check_name(g, "--group", group);
  if (rc == 0)
    rc = parse_role(g, role_s, &role);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_group_check(g, "--group", group);
  rc = gw_end(g, rc ? rc : user_insert(g, name, quota, group, role, role_s, &id));
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
  const char *status_s = NULL, *group = NULL;
  const struct gw_opt opts[] = { { "status", &status_s, NULL }, { "group", &group, NULL }, { 0 } };
  int64_t status = 0;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && status_s)
    rc = parse_status(g, status_s, &status);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (group && (rc = gw_group_check(g, "--group", group)) != 0)
    return rc;
  struct db_stmt *st = gw_prepare(g, "cannot list users", "SELECT " USER_COLS " FROM users "
                                  "WHERE (?1 = 0 OR status = ?1) AND (CAST(?2 AS TEXT) IS NULL OR \"group\" = ?2) "
                                  "ORDER BY id", "is", status, group);
  return gw_list(g, st, "cannot list users", user_row, NULL, user_cols);
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
  else if (!(o = user_row(st, NULL)) || out_object(g->json, o, user_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  db_finalize(st);
  cJSON_Delete(o);
  return rc;
}

/* ---- changes ------------------------------------------------------------------------------------- */

int cmd_user_edit(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *quota_s = NULL, *group = NULL, *status_s = NULL, *role_s = NULL;
  const struct gw_opt opts[] = {
    { "quota", &quota_s, NULL },
    { "group", &group, NULL },
    { "status", &status_s, NULL },
    { "role", &role_s, NULL },
    { 0 },
  };
  int64_t quota = 0, status = 0, role = 0, id = 0;
  char name[GW_NAME_MAX + 1], what[512] = "";
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc == 0 && !quota_s && !group && !status_s && !role_s)
    rc = gw_usage(g, "nothing to change: give --quota, --group, --status or --role");
  if (rc == 0 && quota_s)
    rc = gw_parse_quota(g, "--quota", quota_s, 0, GW_QUOTA_MAX, &quota);
  if (rc == 0 && group)
    rc = gw_check_name(g, "--group", group);
  if (rc == 0 && status_s)
    rc = parse_status(g, status_s, &status);
  if (rc == 0 && role_s)
    rc = parse_role(g, role_s, &role);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_user_find(g, ref, &id, name, sizeof name);
  if (rc == 0 && group)
    rc = gw_group_check(g, "--group", group);
  if (rc == 0)
    rc = gw_exec(g, "cannot change the user",
                 "UPDATE users SET quota = CASE WHEN ?2 <> 0 THEN ?3 ELSE quota END, "
                 "\"group\" = COALESCE(?4, \"group\"), status = CASE WHEN ?5 <> 0 THEN ?5 ELSE status END, "
                 "role = CASE WHEN ?6 <> 0 THEN ?6 ELSE role END WHERE id = ?1",
                 "iiisii", id, (int64_t)(quota_s != NULL), quota, group, status, role);
  if (rc == 0) {
    size_t n = 0;
    if (quota_s)
      n += (size_t)snprintf(what + n, sizeof what - n, " quota=%" PRId64, quota);
    if (group)
      n += (size_t)snprintf(what + n, sizeof what - n, " group=%s", group);
    if (status_s)
      n += (size_t)snprintf(what + n, sizeof what - n, " status=%s", status_s);
    if (role_s)
      snprintf(what + n, sizeof what - n, " role=%s", role_s);
    struct gw_subject s = { .user_id = id, .username = name };
    rc = gw_log_manage(g, &s, "user edit %s%s", name, what);
  }
  return gw_end(g, rc);
}

static int set_status(struct gwctl *g, int argc, char **argv, int64_t status)
{
  const char *ref = NULL;
  char name[GW_NAME_MAX + 1];
  int64_t id = 0;
  int rc = gw_args(g, argc, argv, NULL, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_user_find(g, ref, &id, name, sizeof name);
  if (rc == 0)
    rc = gw_exec(g, "cannot change the user", "UPDATE users SET status = ?2 WHERE id = ?1", "ii",
                 id, status);
  struct gw_subject s = { .user_id = id, .username = name };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "user %s %s", status == STATUS_ENABLED ? "enable" : "disable", name);
  return gw_end(g, rc);
}

int cmd_user_enable(struct gwctl *g, int argc, char **argv) { return set_status(g, argc, argv, STATUS_ENABLED); }
int cmd_user_disable(struct gwctl *g, int argc, char **argv) { return set_status(g, argc, argv, STATUS_DISABLED); }

int cmd_user_topup(struct gwctl *g, int argc, char **argv)
{
  static const char *const names[] = { "NAME|ID", "AMOUNT" };
  const char *pos[2] = { 0 };
  char name[GW_NAME_MAX + 1];
  int64_t amount = 0, id = 0, quota = 0;
  int rc = gw_argv(g, argc, argv, NULL, 2, 2, names, pos);
  if (rc == 0)
    rc = gw_parse_quota(g, "AMOUNT", pos[1], 1, GW_QUOTA_MAX, &amount);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_user_find(g, pos[0], &id, name, sizeof name);
  if (rc == 0 && gw_scalar(g, "cannot top up", "SELECT quota FROM users WHERE id = ?1", &quota,
                           "i", id) < 0)
    rc = GW_FAIL;
  if (rc == 0 && quota > GW_QUOTA_MAX - amount)
    rc = gw_err(GW_USAGE, "user '%s' would hold more than %" PRId64 " quota units", name,
                GW_QUOTA_MAX);
  if (rc == 0)
    rc = gw_exec(g, "cannot top up", "UPDATE users SET quota = quota + ?2 WHERE id = ?1", "ii", id,
                 amount);
  if (rc == 0)
    rc = gw_exec(g, "cannot write the log",
                 "INSERT INTO logs(created_at, type, content, user_id, username, quota) "
                 "VALUES (?1, " CODE_STR(LOGT_TOPUP) ", ?2, ?3, ?4, ?5)", "isisi", (int64_t)time(NULL),
                 "topup by an administrator (gwctl)", id, name, amount);
  rc = gw_end(g, rc);
  if (rc != 0)
    return rc;
  if (!g->json) {
    printf(_("%s: %" PRId64 " quota units\n"), name, quota + amount);
    return GW_OK;
  }
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddNumberToObject(o, "id", (double)id)
           && cJSON_AddStringToObject(o, "username", name)
           && cJSON_AddNumberToObject(o, "added", (double)amount)
           && cJSON_AddNumberToObject(o, "quota", (double)(quota + amount)) && out_json(o) == 0;
  cJSON_Delete(o);
  return ok ? GW_OK : gw_err(GW_FAIL, "out of memory");
}

int cmd_user_rm(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int cascade = 0, yes = 0;
  const struct gw_opt opts[] = { { "cascade", NULL, &cascade }, { "yes", NULL, &yes }, { 0 } };
  char name[GW_NAME_MAX + 1], what[128];
  int64_t id = 0, ntokens = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_user_find(g, ref, &id, name, sizeof name)) != 0)
    return rc;
  if (gw_scalar(g, "cannot count tokens", "SELECT count(*) FROM tokens WHERE user_id = ?1",
                &ntokens, "i", id) < 0)
    return GW_FAIL;
  if (ntokens && !cascade)
    return gw_err(GW_CONFLICT, "user '%s' has %" PRId64 " token%s: delete them first, or give "
                  "--cascade to delete them with the user", name, ntokens, ntokens == 1 ? "" : "s");
  snprintf(what, sizeof what, "delete user %s%s", name, ntokens ? " and its tokens" : "");
  if ((rc = gw_confirm(g, yes, what)) != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  /* looked up again inside the transaction: it may have changed since */
  rc = gw_user_find(g, ref, &id, name, sizeof name);
  if (rc == 0 && gw_scalar(g, "cannot count tokens",
                                       "SELECT count(*) FROM tokens WHERE user_id = ?1", &ntokens,
                                       "i", id) < 0)
    rc = GW_FAIL;
  if (rc == 0 && ntokens && !cascade)
    rc = gw_err(GW_CONFLICT, "user '%s' has tokens now: give --cascade", name);
  /* limits and alerts of the user and its tokens go with them (ids may be reused) */
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the tokens' limits", "DELETE FROM rate_limits WHERE scope = 'token' AND "
                 "subject_id IN (SELECT id FROM tokens WHERE user_id = ?1)", "i", id);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the tokens' alerts", "DELETE FROM budget_alerts WHERE scope = 'token' AND "
                 "subject_id IN (SELECT id FROM tokens WHERE user_id = ?1)", "i", id);
  if (rc == 0)
    rc = gw_subject_forget(g, "user", id);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the tokens", "DELETE FROM tokens WHERE user_id = ?1", "i", id);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the user", "DELETE FROM users WHERE id = ?1", "i", id);
  struct gw_subject s = { .user_id = id, .username = name };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "user rm %s tokens_deleted=%" PRId64, name, ntokens);
  return gw_end(g, rc);
}
