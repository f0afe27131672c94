/*
 * gwctl group: list, set and rm pricing groups (table groups: name, ratio, selectable).
 *
 * A group's ratio multiplies every price for the users and tokens in it. selectable says whether a
 * user may pick the group for a token of their own; an administrator may give a token any group.
 * Callers: the command table in main.c.
 * Never: deletes a group that a user, token or channel names.
 */
#include "gwctl.h"
#include "cmd_group.h"
#include "output.h"
#include "rules.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GROUP_RATIO_MAX RULE_RATIO_MAX

/* the group g.name is an item of the comma list column col: ",name," occurs in ",col,". Neither
 * LIKE (names may hold '_') nor instr/strpos (not on both backends): replace() and length() are. */
#define IN_LIST(col) "length(',' || " col " || ',') > " \
  "length(replace(',' || " col " || ',', ',' || g.name || ',', ''))"

static const struct out_col group_cols[] = {
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "ratio", "RATIO", OUT_PLAIN, 0, NULL },
  { "selectable", "SELECTABLE", OUT_PLAIN, 0, NULL },
  { "users", "USERS", OUT_PLAIN, 0, NULL },
  { "tokens", "TOKENS", OUT_PLAIN, 0, NULL },
  { "channels", "CHANNELS", OUT_PLAIN, 0, NULL },
  { 0 },
};

static const struct gw_field group_fields[] = {
  { "name", 0, GW_TEXT }, { "ratio", 1, GW_REAL }, { "selectable", 2, GW_BOOL },
  { "users", 3, GW_INT }, { "tokens", 4, GW_INT }, { "channels", 5, GW_INT }, { 0 },
};

int cmd_group_list(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  struct db_stmt *st = gw_prepare(g, "cannot list groups",
      "SELECT g.name, g.ratio, g.selectable, "
      "(SELECT count(*) FROM users u WHERE u.\"group\" = g.name), "
      "(SELECT count(*) FROM tokens t WHERE t.\"group\" = g.name), "
      "(SELECT count(*) FROM channels c WHERE " IN_LIST("c.\"group\"") ") "
      "FROM groups g ORDER BY g.name", "");
  return gw_list(g, st, "cannot list groups", gw_row, group_fields, group_cols);
}

int cmd_group_set(struct gwctl *g, int argc, char **argv)
{
  const char *name = NULL, *ratio_s = NULL, *sel_s = NULL;
  const struct gw_opt opts[] = { { "ratio", &ratio_s, NULL }, { "selectable", &sel_s, NULL }, { 0 } };
  double ratio = 1;
  int sel = 0;
  int64_t exists = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME", &name);
  if (rc == 0)
    rc = gw_check_name(g, "group name", name);
  if (rc == 0 && !ratio_s && !sel_s)
    rc = gw_usage(g, "nothing to set: give --ratio R and/or --selectable yes|no");
  if (rc == 0 && ratio_s)
    rc = gw_parse_double(g, "--ratio", ratio_s, 0, GROUP_RATIO_MAX, &ratio);
  if (rc == 0 && sel_s)
    rc = gw_parse_bool(g, "--selectable", sel_s, &sel);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  int r = gw_scalar(g, "cannot look up the group", "SELECT 1 FROM groups WHERE name = ?1", &exists,
                    "s", name);
  if (r < 0)
    rc = GW_FAIL;
  else
    rc = gw_group_put(g, name, ratio_s != NULL, ratio, sel_s != NULL, sel);
  char what[128] = "";
  if (ratio_s)
    snprintf(what, sizeof what, " ratio=%g", ratio);
  if (sel_s)
    snprintf(what + strlen(what), sizeof what - strlen(what), " selectable=%s", sel ? "yes" : "no");
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "group %s %s%s", r == 0 ? "add" : "set", name, what);
  return gw_end(g, rc);
}

int cmd_group_rm(struct gwctl *g, int argc, char **argv)
{
  const char *name = NULL;
  int yes = 0;
  const struct gw_opt opts[] = { { "yes", NULL, &yes }, { 0 } };
  char what[128];
  int rc = gw_args(g, argc, argv, opts, "NAME", &name);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_group_check(g, "group", name)) != 0)
    return rc;
  if (strcmp(name, "default") == 0)
    return gw_err(GW_CONFLICT, "the group 'default' cannot be deleted: new users get it");
  snprintf(what, sizeof what, "delete group %s", name);
  if ((rc = gw_confirm(g, yes, what)) != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  struct db_stmt *st = gw_prepare(g, "cannot look up the group",
      "SELECT (SELECT count(*) FROM users u WHERE u.\"group\" = g.name), "
      "(SELECT count(*) FROM tokens t WHERE t.\"group\" = g.name), "
      "(SELECT count(*) FROM channels c WHERE " IN_LIST("c.\"group\"") ") "
      "FROM groups g WHERE g.name = ?1", "s", name);
  if (!st)
    return gw_end(g, GW_FAIL);
  enum db_step_result r = db_step(st);
  int64_t nu = r == DB_ROW ? db_col_int64(st, 0) : 0, nt = r == DB_ROW ? db_col_int64(st, 1) : 0,
          nc = r == DB_ROW ? db_col_int64(st, 2) : 0;
  db_finalize(st);
  if (r == DB_ERROR)
    rc = gw_dberr(g, "cannot look up the group");
  else if (r == DB_DONE)
    rc = gw_err(GW_NOTFOUND, "no group named '%s'", name);
  else if (nu || nt || nc)
    rc = gw_err(GW_CONFLICT, "group '%s' is in use by %" PRId64 " user(s), %" PRId64 " token(s) "
                "and %" PRId64 " channel(s); move them to another group first", name, nu, nt, nc);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the group", "DELETE FROM groups WHERE name = ?1", "s", name);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "group rm %s", name);
  return gw_end(g, rc);
}
