/*
 * gwctl limit and alert: rate limits (table rate_limits) and budget alerts (table budget_alerts)
 * of tokens and users. relayd reads both at reload; it checks limits in memory per request and
 * alerts on its monitor thread (webhook to option webhook_url, and a log row).
 *
 * Shape: a subject is --token NAME|ID [--user NAME] (the user narrows a token name) or
 * --user NAME|ID alone.
 *   gwctl limit set SUBJECT [--model M] [--rpm N] [--tpm N]   (0 removes that part)
 *   gwctl limit list [SUBJECT] [--json]      gwctl limit rm SUBJECT [--model M]
 *   gwctl alert set SUBJECT (--percent P | --remain Q)
 *   gwctl alert list [SUBJECT] [--json]      gwctl alert rm ID
 * Callers: the command table in main.c. (user rm and token rm forget a subject's limits and alerts
 * through gwctl.c's gw_subject_forget, so an id reused later inherits nothing.)
 */
#include "gwctl.h"
#include "cmd_limit.h"
#include "output.h"
#include "rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_MAX RULE_LIMIT_MAX

struct subject {
  const char *scope;            /* "token" or "user" */
  int64_t id;
  char name[GW_NAME_MAX + 1];
};

/* Resolves --token/--user into s. need: a subject is required. Returns 0, 1 (none given), or an
 * exit code. */
static int subject_find(struct gwctl *g, const char *token, const char *user, int need, struct subject *s)
{
  memset(s, 0, sizeof *s);
  if (token) {
    s->scope = "token";
    return gw_token_find(g, token, user, &s->id, s->name, sizeof s->name);
  }
  if (user) {
    s->scope = "user";
    return gw_user_find(g, user, &s->id, s->name, sizeof s->name);
  }
  return need ? gw_usage(g, "give --token NAME|ID (with --user NAME when names repeat) or --user NAME|ID")
              : 1;
}

/* ---- limits ------------------------------------------------------------------------------------ */

int cmd_limit_set(struct gwctl *g, int argc, char **argv)
{
  const char *token = NULL, *user = NULL, *model = "", *rpm_s = NULL, *tpm_s = NULL;
  const struct gw_opt opts[] = {
    { "token", &token, NULL }, { "user", &user, NULL }, { "model", &model, NULL },
    { "rpm", &rpm_s, NULL }, { "tpm", &tpm_s, NULL }, { 0 },
  };
  int64_t rpm = 0, tpm = 0;
  struct subject s;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !rpm_s && !tpm_s)
    rc = gw_usage(g, "give --rpm N and/or --tpm N (requests / tokens per window; 0 = no limit)");
  if (rc == 0 && rpm_s)
    rc = gw_parse_int(g, "--rpm", rpm_s, 0, LIMIT_MAX, &rpm);
  if (rc == 0 && tpm_s)
    rc = gw_parse_int(g, "--tpm", tpm_s, 0, LIMIT_MAX, &tpm);
  if (rc == 0 && *model)
    rc = gw_check_name(g, "--model", model);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = subject_find(g, token, user, 1, &s);
  if (rc == 0)
    rc = gw_exec(g, "cannot set the limit",
                 "INSERT INTO rate_limits(scope, subject_id, model, rpm, tpm) VALUES (?1, ?2, ?3, ?4, ?5) "
                 "ON CONFLICT(scope, subject_id, model) DO UPDATE SET "
                 "rpm = CASE WHEN ?6 <> 0 THEN excluded.rpm ELSE rate_limits.rpm END, "
                 "tpm = CASE WHEN ?7 <> 0 THEN excluded.tpm ELSE rate_limits.tpm END",
                 "sisiiii", s.scope, s.id, model, rpm, tpm, (int64_t)(rpm_s != NULL), (int64_t)(tpm_s != NULL));
  if (rc == 0)
    rc = gw_exec(g, "cannot set the limit", "DELETE FROM rate_limits WHERE rpm = 0 AND tpm = 0", "");
  struct gw_subject subj = { 0 };
  if (rc == 0) {
    if (*s.scope == 't') {
      subj.token_id = s.id;
      subj.token_name = s.name;
    } else {
      subj.user_id = s.id;
      subj.username = s.name;
    }
    char parts[96] = "";
    if (rpm_s)
      snprintf(parts, sizeof parts, " rpm=%" PRId64, rpm);
    if (tpm_s)
      snprintf(parts + strlen(parts), sizeof parts - strlen(parts), " tpm=%" PRId64, tpm);
    rc = gw_log_manage(g, &subj, "limit set %s %s%s%s%s", s.scope, s.name, *model ? " model=" : "", model, parts);
  }
  return gw_end(g, rc);
}

static const struct out_col limit_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "scope", "SCOPE", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "user", "USER", OUT_PLAIN, 0, NULL },
  { "model", "MODEL", OUT_PLAIN, 0, NULL },
  { "rpm", "RPM", OUT_PLAIN, 0, NULL },
  { "tpm", "TPM", OUT_PLAIN, 0, NULL },
  { "window_s", "WINDOW_S", OUT_PLAIN, 0, NULL },
  { 0 },
};

/* SQL naming a row's subject: its name and (tokens) its user. */
#define SUBJECT_SQL \
  "CASE WHEN x.scope = 'token' THEN (SELECT name FROM tokens WHERE id = x.subject_id) " \
  "ELSE (SELECT username FROM users WHERE id = x.subject_id) END, " \
  "CASE WHEN x.scope = 'token' THEN (SELECT u.username FROM tokens t JOIN users u ON u.id = t.user_id " \
  "WHERE t.id = x.subject_id) ELSE (SELECT username FROM users WHERE id = x.subject_id) END"

static int64_t window_s(struct gwctl *g)
{
  int64_t w = 60;
  struct db_stmt *st = gw_prepare(g, "cannot read options", "SELECT value FROM options WHERE key = "
                                  "'rate_limit_window_s'", "");
  if (st && db_step(st) == DB_ROW)
    w = strtoll(db_col_text(st, 0), NULL, 10);
  db_finalize(st);
  return w > 0 ? w : 60;
}

/* limit list / alert list: prepares sql (?1 scope and ?2 id of the subject given, ?3 0 for every
 * subject) after the options --token/--user. Returns 0 with *st set, or an exit code. */
static int subject_query(struct gwctl *g, int argc, char **argv, const char *what, const char *sql,
                         struct db_stmt **st)
{
  const char *token = NULL, *user = NULL;
  const struct gw_opt opts[] = { { "token", &token, NULL }, { "user", &user, NULL }, { 0 } };
  struct subject s;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  rc = subject_find(g, token, user, 0, &s);
  if (rc > 1)
    return rc;
  *st = gw_prepare(g, what, sql, "sii", rc == 0 ? s.scope : "", s.id, (int64_t)(rc == 0));
  return *st ? 0 : GW_FAIL;
}

static const struct gw_field limit_fields[] = {
  { "id", 0, GW_INT }, { "scope", 1, GW_TEXT }, { "subject_id", 2, GW_INT }, { "name", 6, GW_TEXT },
  { "user", 7, GW_TEXT }, { "model", 3, GW_TEXT }, { "rpm", 4, GW_INT }, { "tpm", 5, GW_INT },
  { 0 },
};

/* A limit's row and the window its numbers count in (arg: int64_t seconds). */
static cJSON *limit_row(struct db_stmt *st, const void *arg)
{
  cJSON *o = gw_row(st, limit_fields);
  if (o && !cJSON_AddNumberToObject(o, "window_s", (double)*(const int64_t *)arg)) {
    cJSON_Delete(o);
    o = NULL;
  }
  return o;
}

int cmd_limit_list(struct gwctl *g, int argc, char **argv)
{
  struct db_stmt *st = NULL;
  int rc = subject_query(g, argc, argv, "cannot read rate limits",
      "SELECT x.id, x.scope, x.subject_id, x.model, x.rpm, x.tpm, " SUBJECT_SQL " FROM rate_limits x "
      "WHERE (?3 = 0 OR (x.scope = ?1 AND x.subject_id = ?2)) ORDER BY x.scope, x.subject_id, x.model",
      &st);
  if (rc != 0)
    return rc;
  int64_t w = window_s(g);
  return gw_list(g, st, "cannot read rate limits", limit_row, &w, limit_cols);
}

int cmd_limit_rm(struct gwctl *g, int argc, char **argv)
{
  const char *token = NULL, *user = NULL, *model = "";
  const struct gw_opt opts[] = {
    { "token", &token, NULL }, { "user", &user, NULL }, { "model", &model, NULL }, { 0 },
  };
  struct subject s;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = subject_find(g, token, user, 1, &s);
  int64_t n = 0;
  if (rc == 0 && gw_scalar(g, "cannot read rate limits", "SELECT count(*) FROM rate_limits WHERE scope = ?1 "
                           "AND subject_id = ?2 AND model = ?3", &n, "sis", s.scope, s.id, model) < 0)
    rc = GW_FAIL;
  if (rc == 0 && n == 0)
    rc = gw_err(GW_NOTFOUND, "%s %s has no limit%s%s", s.scope, s.name, *model ? " on model " : "", model);
  if (rc == 0)
    rc = gw_exec(g, "cannot remove the limit", "DELETE FROM rate_limits WHERE scope = ?1 AND subject_id = ?2 "
                 "AND model = ?3", "sis", s.scope, s.id, model);
  struct gw_subject subj = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &subj, "limit rm %s %s%s%s", s.scope, s.name, *model ? " model=" : "", model);
  return gw_end(g, rc);
}

/* ---- alerts ------------------------------------------------------------------------------------ */

int cmd_alert_set(struct gwctl *g, int argc, char **argv)
{
  const char *token = NULL, *user = NULL, *pct_s = NULL, *rem_s = NULL;
  const struct gw_opt opts[] = {
    { "token", &token, NULL }, { "user", &user, NULL }, { "percent", &pct_s, NULL },
    { "remain", &rem_s, NULL }, { 0 },
  };
  int64_t v = 0, id = 0;
  struct subject s;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !pct_s == !rem_s)
    rc = gw_usage(g, "give one of --percent P (of the quota used, 1-100) or --remain Q (quota left)");
  if (rc == 0)
    rc = pct_s ? gw_parse_int(g, "--percent", pct_s, 1, 100, &v)
               : gw_parse_quota(g, "--remain", rem_s, 0, GW_QUOTA_MAX, &v);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = subject_find(g, token, user, 1, &s);
  if (rc == 0)
    rc = gw_exec(g, "cannot set the alert",
                 "INSERT INTO budget_alerts(scope, subject_id, kind, threshold) VALUES (?1, ?2, ?3, ?4) "
                 "ON CONFLICT(scope, subject_id, kind, threshold) DO UPDATE SET fired_at = 0, fired_total = 0",
                 "sisi", s.scope, s.id, pct_s ? "percent" : "remain", v);
  if (rc == 0 && gw_scalar(g, "cannot read the alert", "SELECT id FROM budget_alerts WHERE scope = ?1 AND "
                           "subject_id = ?2 AND kind = ?3 AND threshold = ?4", &id, "sisi", s.scope, s.id,
                           pct_s ? "percent" : "remain", v) < 0)
    rc = GW_FAIL;
  struct gw_subject subj = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &subj, "alert set %s %s %s=%" PRId64, s.scope, s.name, pct_s ? "percent" : "remain", v);
  rc = gw_end(g, rc);
  if (rc == 0 && !g->json)
    printf("%" PRId64 "\n", id);
  else if (rc == 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    rc = out_json(o) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(o);
  }
  return rc;
}

static const struct out_col alert_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "scope", "SCOPE", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "user", "USER", OUT_PLAIN, 0, NULL },
  { "kind", "KIND", OUT_PLAIN, 0, NULL },
  { "threshold", "THRESHOLD", OUT_PLAIN, 0, NULL },
  { "fired_at", "FIRED", OUT_TIME, 0, NULL },
  { 0 },
};

static const struct gw_field alert_fields[] = {
  { "id", 0, GW_INT }, { "scope", 1, GW_TEXT }, { "subject_id", 2, GW_INT }, { "name", 6, GW_TEXT },
  { "user", 7, GW_TEXT }, { "kind", 3, GW_TEXT }, { "threshold", 4, GW_INT },
  { "fired_at", 5, GW_INT }, { 0 },
};

int cmd_alert_list(struct gwctl *g, int argc, char **argv)
{
  struct db_stmt *st = NULL;
  int rc = subject_query(g, argc, argv, "cannot read alerts",
      "SELECT x.id, x.scope, x.subject_id, x.kind, x.threshold, x.fired_at, " SUBJECT_SQL
      " FROM budget_alerts x WHERE (?3 = 0 OR (x.scope = ?1 AND x.subject_id = ?2)) ORDER BY x.id",
      &st);
  if (rc != 0)
    return rc;
  return gw_list(g, st, "cannot read alerts", gw_row, alert_fields, alert_cols);
}

int cmd_alert_rm(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int64_t id = 0, n = 0;
  int rc = gw_args(g, argc, argv, NULL, "ID", &ref);
  if (rc == 0)
    rc = gw_parse_int(g, "ID", ref, 1, INT64_MAX, &id);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  if (gw_scalar(g, "cannot read alerts", "SELECT count(*) FROM budget_alerts WHERE id = ?1", &n, "i", id) < 0)
    rc = GW_FAIL;
  if (rc == 0 && n == 0)
    rc = gw_err(GW_NOTFOUND, "no alert with id %" PRId64, id);
  if (rc == 0)
    rc = gw_exec(g, "cannot remove the alert", "DELETE FROM budget_alerts WHERE id = ?1", "i", id);
  struct gw_subject subj = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &subj, "alert rm %" PRId64, id);
  return gw_end(g, rc);
}
