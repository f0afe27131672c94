/*
 * gwctl log: list, stats, export and prune rows of the logs table (relayed requests and
 * administrative events), with one set of filters; and explain: how one request's charge was
 * computed, from the breakdown its row keeps in logs.billing (common/breakdown.h), re-computed and
 * compared with logs.quota; and tail: the newest rows, then (-f) new ones as they come.
 *
 * Callers: the command table in main.c.
 * Never: writes to the logs table except prune (gw_log_manage in main.c does, for changes), or holds
 * an unbounded number of rows in memory (list and tail have a LIMIT, a follow poll reads at most
 * 1000 rows, stats groups in SQL, export streams).
 */
#include "breakdown.h"
#include "quota.h"
#include "gwctl.h"
#include "i18n.h"
#include "cmd_log.h"
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio_ext.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_LIMIT_DEFAULT "100"
#define LOG_LIMIT_MAX 1000000

static const char *const log_types[] = {
  [LOGT_TOPUP] = "topup", [LOGT_CONSUME] = "consume", [LOGT_MANAGE] = "manage",
  [LOGT_SYSTEM] = "system", [LOGT_ERROR] = "error", [LOGT_REFUND] = "refund",
};
#define NTYPES (int)(sizeof log_types / sizeof log_types[0])

static const char *type_name(int64_t t)
{
  return t > 0 && t < NTYPES ? log_types[t] : "unknown";
}

static cJSON *log_row(struct db_stmt *st, const void *unused)
{
  (void)unused;
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
  { "quota", "QUOTA", OUT_QUOTA, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "elapsed_ms", "MS", OUT_PLAIN, 0, NULL },
  { "content", "CONTENT", OUT_PLAIN, 60, NULL },
  { 0 },
};

/* log list's columns: log_cols with the inbound API before CONTENT */
static const struct out_col log_list_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "created_at", "TIME", OUT_TIME, 0, NULL },
  { "type", "TYPE", OUT_PLAIN, 0, NULL },
  { "username", "USER", OUT_PLAIN, 0, NULL },
  { "token_name", "TOKEN", OUT_PLAIN, 0, NULL },
  { "model", "MODEL", OUT_PLAIN, 30, NULL },
  { "quota", "QUOTA", OUT_QUOTA, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "elapsed_ms", "MS", OUT_PLAIN, 0, NULL },
  { "api", "API", OUT_PLAIN, 0, NULL },
  { "content", "CONTENT", OUT_PLAIN, 60, NULL },
  { 0 },
};

/* log_row plus "api": the API the client spoke, from the row's breakdown (column 22, logs.billing;
 * "" when it has none, as rows written before relayd recorded it) */
static cJSON *log_list_row(struct db_stmt *st, const void *unused)
{
  cJSON *o = log_row(st, unused);
  if (!o)
    return NULL;
  cJSON *bj = db_col_is_null(st, 22) ? NULL : cJSON_Parse(db_col_text(st, 22));   /* owned here */
  const cJSON *api = cJSON_GetObjectItemCaseSensitive(bj, "api");
  if (!cJSON_AddStringToObject(o, "api", cJSON_IsString(api) ? api->valuestring : "")) {
    cJSON_Delete(o);
    o = NULL;
  }
  cJSON_Delete(bj);
  return o;
}

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

/* The filters every log command shares. Parameters ?1..?9 of the WHERE clause; ?10 is the
 * command's own (LIMIT, or the cut-off of prune) and must appear in its SQL. */
struct log_filter {
  const char *user, *token, *model, *channel, *type_s, *status_s, *since_s, *until_s, *request_id;
  int64_t uid, cid, type, status, since, until;
  char uname[GW_NAME_MAX + 1];
  char where[768];
};

#define LOG_FILTER_OPTS(f) \
  { "user", &(f).user, NULL }, { "token", &(f).token, NULL }, { "model", &(f).model, NULL }, \
  { "channel", &(f).channel, NULL }, { "type", &(f).type_s, NULL }, \
  { "status", &(f).status_s, NULL }, { "since", &(f).since_s, NULL }, \
  { "until", &(f).until_s, NULL }

static int parse_type(struct gwctl *g, const char *s, int64_t *type)
{
  for (int i = 1; i < NTYPES; i++)
    if (strcmp(s, log_types[i]) == 0)
      *type = i;
  if (!*type)
    return gw_usage(g, "--type must be one of consume, topup, manage, system, error, refund; "
                    "not '%s'", s);
  return 0;
}

/* Checks the filter values (before the database is opened) ... */
static int filter_parse(struct gwctl *g, struct log_filter *f)
{
  int rc = 0;
  if (f->type_s)
    rc = parse_type(g, f->type_s, &f->type);
  if (rc == 0 && f->status_s)
    rc = gw_parse_int(g, "--status", f->status_s, 100, 599, &f->status);
  if (rc == 0 && f->since_s)
    rc = gw_parse_time(g, "--since", f->since_s, &f->since);
  if (rc == 0 && f->until_s)
    rc = gw_parse_time(g, "--until", f->until_s, &f->until);
  if (rc == 0 && f->since_s && f->until_s && f->until <= f->since)
    rc = gw_usage(g, "--until must be later than --since");
  return rc;
}

/* ... then resolves names and builds the WHERE clause. */
static int filter_resolve(struct gwctl *g, struct log_filter *f)
{
  int rc = 0;
  if (f->user && (rc = gw_user_find(g, f->user, &f->uid, f->uname, sizeof f->uname)) != 0)
    return rc;
  if (f->token && (rc = token_exists(g, f->token, f->uid, f->uname)) != 0)
    return rc;
  if (f->channel && (rc = gw_channel_find(g, f->channel, &f->cid, NULL, 0)) != 0)
    return rc;
  /* only the filters given go into the WHERE clause, so SQLite can use the matching index */
  const struct {
    int given;
    const char *cond;
  } conds[] = {
    { f->user != NULL, "user_id = ?1" }, { f->token != NULL, "token_name = ?2" },
    { f->model != NULL, "model_name = ?3" }, { f->request_id != NULL, "request_id = ?4" },
    { f->type != 0, "type = ?5" }, { f->channel != NULL, "channel_id = ?6" },
    { f->status_s != NULL, "status = ?7" }, { f->since_s != NULL, "created_at >= ?8" },
    { f->until_s != NULL, "created_at < ?9" },
  };
  for (size_t i = 0; i < sizeof conds / sizeof *conds; i++)
    if (conds[i].given)
      add_cond(f->where, sizeof f->where, conds[i].cond);
  return 0;
}

static struct db_stmt *filter_prepare(struct gwctl *g, const struct log_filter *f, const char *sql,
                                      int64_t p10)
{
  return gw_prepare(g, "cannot read the log", sql, "isssiiiiii", f->uid, f->token, f->model,
                    f->request_id, f->type, f->cid, f->status, f->since, f->until, p10);
}

#define LOG_COLS "id, request_id, created_at, type, user_id, username, token_id, token_name, " \
  "channel_id, model_name, upstream_model, prompt_tokens, completion_tokens, quota, status, " \
  "is_stream, elapsed_ms, first_byte_ms, end_reason, usage_source, \"group\", content"

int cmd_log_list(struct gwctl *g, int argc, char **argv)
{
  struct log_filter f = { 0 };
  const char *limit_s = LOG_LIMIT_DEFAULT;
  const struct gw_opt opts[] = {
    LOG_FILTER_OPTS(f),
    { "request-id", &f.request_id, NULL },
    { "limit", &limit_s, NULL },
    { 0 },
  };
  int64_t limit = 0;
  char sql[2048];
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0)
    rc = gw_parse_int(g, "--limit", limit_s, 1, LOG_LIMIT_MAX, &limit);
  if (rc == 0)
    rc = filter_parse(g, &f);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = filter_resolve(g, &f)) != 0)
    return rc;
  snprintf(sql, sizeof sql, "SELECT " LOG_COLS ", billing FROM logs %s ORDER BY created_at DESC, id DESC "
           "LIMIT ?10", f.where);
  return gw_list(g, filter_prepare(g, &f, sql, limit), "cannot read the log", log_list_row, NULL,
                 log_list_cols);
}

/* ---- log stats --------------------------------------------------------------------------------- */

/* What log stats may group by (--by a comma list of these, in that order). Time dimensions are local
 * days and hours of created_at, per backend; the rest are columns. */
static const struct stat_dim {
  const char *name, *header;
  const char *sqlite, *pg;
  int time;                     /* sorted by time, not by quota */
  int number;                   /* a JSON number, not a string */
} stat_dims[] = {
  { "day", "DAY", "date(created_at, 'unixepoch', 'localtime')",
    "to_char(to_timestamp(created_at), 'YYYY-MM-DD')", 1, 0 },
  { "hour", "HOUR", "strftime('%Y-%m-%d %H:00', created_at, 'unixepoch', 'localtime')",
    "to_char(to_timestamp(created_at), 'YYYY-MM-DD HH24:00')", 1, 0 },
  { "model", "MODEL", "model_name", NULL, 0, 0 },
  { "user", "USER", "username", NULL, 0, 0 },
  { "token", "TOKEN", "token_name", NULL, 0, 0 },
  { "channel", "CHANNEL",
    "COALESCE((SELECT name FROM channels c WHERE c.id = logs.channel_id), '#' || channel_id)", NULL,
    0, 0 },
  { "group", "GROUP", "\"group\"", NULL, 0, 0 },
  { "status", "STATUS", "status", NULL, 0, 1 },
};
#define NDIMS (sizeof stat_dims / sizeof stat_dims[0])
#define STAT_DIMS_LIST "day, hour, model, user, token, channel, group, status"

struct stats_arg {
  const struct stat_dim *dim[NDIMS];
  size_t n;
};

/* One row: the dimensions (k1..kN), then requests, prompt, completion, quota, errors, p95. */
static cJSON *stats_row(struct db_stmt *st, const void *arg)
{
  const struct stats_arg *a = arg;
  cJSON *o = cJSON_CreateObject();
  char key[1024] = "";
  size_t used = 0;
  if (!o)
    return NULL;
  for (size_t i = 0; i < a->n; i++) {
    const char *v = db_col_text(st, (int)i);
    if (!v)
      v = "";
    if (a->dim[i]->number)
      cJSON_AddNumberToObject(o, a->dim[i]->name, (double)db_col_int64(st, (int)i));
    else
      cJSON_AddStringToObject(o, a->dim[i]->name, v);
    int n = snprintf(key + used, sizeof key - used, "%s%s", i ? "/" : "", v);
    if (n > 0 && (size_t)n < sizeof key - used)
      used += (size_t)n;
  }
  int c = (int)a->n;
  int64_t quota = db_col_int64(st, c + 3);
  cJSON_AddStringToObject(o, "key", key);
  cJSON_AddNumberToObject(o, "requests", (double)db_col_int64(st, c));
  cJSON_AddNumberToObject(o, "prompt_tokens", (double)db_col_int64(st, c + 1));
  cJSON_AddNumberToObject(o, "completion_tokens", (double)db_col_int64(st, c + 2));
  cJSON_AddNumberToObject(o, "quota", (double)quota);
  cJSON_AddNumberToObject(o, "usd", (double)quota / QUOTA_PER_USD);
  cJSON_AddNumberToObject(o, "errors", (double)db_col_int64(st, c + 4));
  cJSON_AddNumberToObject(o, "p95_ms", (double)db_col_int64(st, c + 5));
  if (cJSON_GetArraySize(o) != (int)a->n + 8) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* --by "day,model" into a (each dimension once). */
static int parse_by(struct gwctl *g, const char *by, struct stats_arg *a)
{
  char list[256];
  int count;
  int rc = gw_norm_list(g, "--by", by, 16, list, sizeof list, &count);
  if (rc != 0)
    return rc;
  if (count == 0)
    return gw_usage(g, "--by needs one or more of " STAT_DIMS_LIST);
  a->n = 0;
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    const struct stat_dim *d = NULL;
    for (size_t i = 0; i < NDIMS; i++)
      if (strcmp(stat_dims[i].name, t) == 0)
        d = &stat_dims[i];
    if (!d)
      return gw_usage(g, "--by: '%s' is not one of " STAT_DIMS_LIST, t);
    for (size_t i = 0; i < a->n; i++)
      if (a->dim[i] == d)
        return gw_usage(g, "--by names '%s' twice", t);
    a->dim[a->n++] = d;
  }
  return 0;
}

int cmd_log_stats(struct gwctl *g, int argc, char **argv)
{
  struct log_filter f = { 0 };
  const char *by = "model";
  const struct gw_opt opts[] = { LOG_FILTER_OPTS(f), { "by", &by, NULL }, { 0 } };
  struct stats_arg a = { 0 };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0)
    rc = parse_by(g, by, &a);
  if (rc == 0)
    rc = filter_parse(g, &f);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = filter_resolve(g, &f)) != 0)
    return rc;
  int pg = strcmp(db_backend_name(g->db), "postgres") == 0;
  /* without --type: relayed requests (consume and error rows) */
  if (!f.type)
    add_cond(f.where, sizeof f.where, "type IN (" CODE_STR(LOGT_CONSUME) ", " CODE_STR(LOGT_ERROR) ")");

  char keys[1024] = "", part[256] = "", order[512] = "", rest[256] = "";
  for (size_t i = 0; i < a.n; i++) {
    const struct stat_dim *d = a.dim[i];
    size_t l = strlen(keys);
    snprintf(keys + l, sizeof keys - l, "%s AS k%zu, ", pg && d->pg ? d->pg : d->sqlite, i + 1);
    l = strlen(part);
    snprintf(part + l, sizeof part - l, "%sk%zu", i ? ", " : "", i + 1);
    char *dst = d->time ? order : rest;
    l = strlen(dst);
    snprintf(dst + l, 256 - l, "k%zu, ", i + 1);
  }
  /* time dimensions first (oldest first), then the biggest spenders, then names */
  size_t l = strlen(order);
  snprintf(order + l, sizeof order - l, "%zu DESC, %s", a.n + 4, rest);   /* sum(q) */
  l = strlen(order);
  order[l - 2] = '\0';          /* the last ", " */
  /* p95 by nearest rank, in integers so SQLite and PostgreSQL agree to the millisecond: the
   * smallest elapsed_ms whose rank (ROW_NUMBER in elapsed order within the group) reaches 95% of
   * the group's rows, i.e. rank >= ceil(0.95 n) */
  char sql[4096];
  snprintf(sql, sizeof sql,
           "WITH b AS (SELECT %sprompt_tokens AS pt, completion_tokens AS ct, quota AS q, "
           "elapsed_ms AS ms, CASE WHEN type = " CODE_STR(LOGT_ERROR) " OR status >= 400 THEN 1 "
           "ELSE 0 END AS err FROM logs %s), "
           "r AS (SELECT b.*, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY ms) AS rn, "
           "count(*) OVER (PARTITION BY %s) AS n FROM b) "
           "SELECT %s, count(*), sum(pt), sum(ct), sum(q), sum(err), "
           "min(CASE WHEN rn * 100 >= n * 95 THEN ms END) FROM r GROUP BY %s ORDER BY %s "
           "LIMIT ?10", keys, f.where, part, part, part, part, order);
  /* the dimensions' columns, then the figures */
  struct out_col cols[NDIMS + 8];
  size_t nc = 0;
  for (size_t i = 0; i < a.n; i++)
    cols[nc++] = (struct out_col){ a.dim[i]->name, a.dim[i]->header, OUT_PLAIN, 40, NULL };
  cols[nc++] = (struct out_col){ "requests", "REQUESTS", OUT_PLAIN, 0, NULL };
  cols[nc++] = (struct out_col){ "prompt_tokens", "PROMPT", OUT_PLAIN, 0, NULL };
  cols[nc++] = (struct out_col){ "completion_tokens", "COMPLETION", OUT_PLAIN, 0, NULL };
  cols[nc++] = (struct out_col){ "quota", "QUOTA", OUT_QUOTA, 0, NULL };
  cols[nc++] = (struct out_col){ "errors", "ERRORS", OUT_PLAIN, 0, NULL };
  cols[nc++] = (struct out_col){ "p95_ms", "P95_MS", OUT_PLAIN, 0, NULL };
  cols[nc] = (struct out_col){ 0 };
  return gw_list(g, filter_prepare(g, &f, sql, (int64_t)LOG_LIMIT_MAX), "cannot read the log",
                 stats_row, &a, cols);
}

static void csv_out(const char *s, int last)
{
  if (strpbrk(s, ",\"\r\n")) {
    putchar('"');
    for (; *s; s++) {
      if (*s == '"')
        putchar('"');
      putchar(*s);
    }
    putchar('"');
  } else {
    fputs(s, stdout);
  }
  putchar(last ? '\n' : ',');
}

int cmd_log_export(struct gwctl *g, int argc, char **argv)
{
  struct log_filter f = { 0 };
  const char *format = "csv", *limit_s = NULL;
  const struct gw_opt opts[] = {
    LOG_FILTER_OPTS(f),
    { "request-id", &f.request_id, NULL },
    { "format", &format, NULL },
    { "limit", &limit_s, NULL },
    { 0 },
  };
  int64_t limit = INT64_MAX;   /* no limit (LIMIT -1 is SQLite's alone) */
  char sql[2048];
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && g->json)
    format = "json";
  if (rc == 0 && strcmp(format, "csv") && strcmp(format, "json"))
    rc = gw_usage(g, "--format must be csv or json, not '%s'", format);
  if (rc == 0 && limit_s)
    rc = gw_parse_int(g, "--limit", limit_s, 1, INT64_MAX, &limit);
  if (rc == 0)
    rc = filter_parse(g, &f);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = filter_resolve(g, &f)) != 0)
    return rc;
  snprintf(sql, sizeof sql, "SELECT " LOG_COLS " FROM logs %s ORDER BY created_at, id LIMIT ?10",
           f.where);
  struct db_stmt *st = filter_prepare(g, &f, sql, limit);
  if (!st)
    return GW_FAIL;
  int json = strcmp(format, "json") == 0, n = 0;
  if (json)
    fputs("[", stdout);
  else
    /* i18n: not translated: the CSV header: field names */
    fputs("id,request_id,created_at,type,user_id,username,token_id,token_name,channel_id,model,"
          "upstream_model,prompt_tokens,completion_tokens,quota,status,is_stream,elapsed_ms,"
          "first_byte_ms,end_reason,usage_source,group,content\n", stdout);
  enum db_step_result r;
  /* rows are written as they come: an export is not held in memory */
  while ((r = db_step(st)) == DB_ROW) {
    cJSON *o = log_row(st, NULL);
    if (!o) {
      r = DB_ERROR;
      break;
    }
    if (json) {
      char *line = cJSON_PrintUnformatted(o);
      if (line)
        printf("%s\n%s", n ? "," : "", line);
      cJSON_free(line);
    } else {
      const cJSON *it;
      cJSON_ArrayForEach(it, o) {
        char cell[64];
        const char *v = cell;
        if (cJSON_IsString(it))
          v = it->valuestring;
        else if (cJSON_IsBool(it))
          snprintf(cell, sizeof cell, "%d", cJSON_IsTrue(it) ? 1 : 0);
        else
          snprintf(cell, sizeof cell, "%.0f", it->valuedouble);
        csv_out(v, it->next == NULL);
      }
    }
    cJSON_Delete(o);
    n++;
  }
  db_finalize(st);
  if (json)
    fputs(n ? "\n]\n" : "]\n", stdout);
  return r == DB_ERROR ? gw_dberr(g, "cannot read the log") : GW_OK;
}

int cmd_log_prune(struct gwctl *g, int argc, char **argv)
{
  const char *before_s = NULL, *type_s = NULL;
  int yes = 0;
  const struct gw_opt opts[] = {
    { "before", &before_s, NULL },
    { "type", &type_s, NULL },
    { "yes", NULL, &yes },
    { 0 },
  };
  int64_t before = 0, type = 0, n = 0;
  char what[256];
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !before_s)
    rc = gw_usage(g, "missing --before DATE");
  if (rc == 0)
    rc = gw_parse_time(g, "--before", before_s, &before);
  if (rc == 0 && type_s)
    rc = parse_type(g, type_s, &type);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (gw_scalar(g, "cannot count log rows",
                "SELECT count(*) FROM logs WHERE created_at < ?1 AND (?2 = 0 OR type = ?2)", &n,
                "ii", before, type) < 0)
    return GW_FAIL;
  snprintf(what, sizeof what, "delete %" PRId64 " log row%s older than %s", n, n == 1 ? "" : "s",
           before_s);
  if ((rc = gw_confirm(g, yes, what)) != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_exec(g, "cannot prune the log",
               "DELETE FROM logs WHERE created_at < ?1 AND (?2 = 0 OR type = ?2)", "ii", before, type);
  n = rc == 0 ? db_changes(g->db) : 0;
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "log prune before=%" PRId64 "%s%s rows=%" PRId64, before,
                       type ? " type=" : "", type ? type_s : "", n);
  rc = gw_end(g, rc);
  if (rc == 0) {
    if (g->json)
      /* i18n: not translated: JSON */
      printf("{\"deleted\":%" PRId64 "}\n", n);
    else
      printf(ngettext("%" PRId64 " log row deleted\n", "%" PRId64 " log rows deleted\n", (unsigned long)n), n);
  }
  return rc;
}

/* ---- log tail --------------------------------------------------------------------------------- */

#define TAIL_BATCH 1000

static volatile sig_atomic_t tail_stop;

static void tail_on_signal(int sig)
{
  (void)sig;
  tail_stop = 1;
}

/* Reads the rows of st (oldest first) into a new array; *last gets the highest id. NULL after
 * printing the error. */
static cJSON *tail_rows(struct gwctl *g, struct db_stmt *st, int64_t *last)
{
  int rc;
  cJSON *rows = gw_rows(g, st, "cannot read the log", log_row, NULL, &rc);
  const cJSON *o;
  cJSON_ArrayForEach(o, rows) {
    int64_t id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
    if (id > *last)
      *last = id;
  }
  return rows;
}

/* Prints rows: a table (its header once), or with --json one object per line (JSON Lines, so a
 * stream can be read line by line). Returns 0, or -1 when stdout is gone (a closed pipe). */
static int tail_print(struct gwctl *g, const cJSON *rows, int *headed)
{
  if (cJSON_GetArraySize(rows) == 0)
    return 0;
  if (g->json) {
    const cJSON *o;
    cJSON_ArrayForEach(o, rows)
      out_json(o);
  } else {
    int saved = out_flags();
    out_set_flags(saved | OUT_NO_PAGER | OUT_STREAM | (*headed ? OUT_NO_HEADERS : 0));
    out_list(0, rows, log_cols);
    out_set_flags(saved);
    *headed = 1;
  }
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

int cmd_log_tail(struct gwctl *g, int argc, char **argv)
{
  struct log_filter f = { 0 };
  const char *limit_s = "10", *interval_s = "1";
  int follow = 0;
  const struct gw_opt opts[] = {
    LOG_FILTER_OPTS(f),
    { "request-id", &f.request_id, NULL },
    { "limit", &limit_s, NULL },
    { "f", NULL, &follow },
    { "follow", NULL, &follow },
    { "interval", &interval_s, NULL },
    { 0 },
  };
  int64_t limit = 0, last = 0;
  double interval = 1;
  char sql[2048];
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0)
    rc = gw_parse_int(g, "--limit", limit_s, 0, LOG_LIMIT_MAX, &limit);
  if (rc == 0)
    rc = gw_parse_double(g, "--interval", interval_s, 0.1, 60, &interval);
  if (rc == 0)
    rc = filter_parse(g, &f);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = filter_resolve(g, &f)) != 0)
    return rc;

  /* ^C ends a follow cleanly (exit 0); a closed pipe (gwctl log tail -f | head) is seen as a write
   * error or as POLLERR on stdout while waiting, and ends it quietly too */
  struct sigaction sa = { .sa_handler = tail_on_signal }, ign = { .sa_handler = SIG_IGN };
  sigemptyset(&sa.sa_mask);
  sigemptyset(&ign.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGPIPE, &ign, NULL);

  /* the newest --limit rows that match, oldest first; and where following starts */
  if (gw_scalar(g, "cannot read the log", "SELECT COALESCE(max(id), 0) FROM logs", &last, "") < 0)
    return GW_FAIL;
  snprintf(sql, sizeof sql, "SELECT * FROM (SELECT " LOG_COLS " FROM logs %s ORDER BY id DESC "
           "LIMIT ?10) t ORDER BY id", f.where);
  int headed = 0;
  cJSON *rows = tail_rows(g, filter_prepare(g, &f, sql, limit), &last);
  if (!rows)
    return GW_FAIL;
  int gone = tail_print(g, rows, &headed) != 0;
  cJSON_Delete(rows);

  /* Follow: poll by id (ids only grow). A row that commits after a row with a higher id (two
   * writers on PostgreSQL) is not shown: tail is for watching, log list / export for auditing. */
  add_cond(f.where, sizeof f.where, "id > ?10");
  snprintf(sql, sizeof sql, "SELECT " LOG_COLS " FROM logs %s ORDER BY id LIMIT %d", f.where,
           TAIL_BATCH);
  while (follow && !gone && !tail_stop) {
    struct pollfd pfd = { .fd = STDOUT_FILENO, .events = 0 };
    if (poll(&pfd, 1, (int)(interval * 1000)) > 0 && (pfd.revents & (POLLERR | POLLHUP)))
      break;                    /* the reader of our pipe is gone */
    if (tail_stop)
      break;
    rows = tail_rows(g, filter_prepare(g, &f, sql, last), &last);
    if (!rows)
      return GW_FAIL;
    gone = tail_print(g, rows, &headed) != 0;
    cJSON_Delete(rows);
  }
  if (gone || (fflush(stdout) != 0 && errno == EPIPE)) {
    __fpurge(stdout);           /* nobody reads: drop what is buffered, exit quietly */
    clearerr(stdout);
  }
  return GW_OK;
}

/* ---- log explain ------------------------------------------------------------------------------ */

#define REQUEST_ID_MAX 128

/* s with control characters as '?' (the database's text never steers the terminal), cut to fit. */
static const char *clean(const char *s, char *out, size_t outlen)
{
  size_t i = 0;
  for (; s && s[i] && i + 1 < outlen; i++)
    out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
  out[i] = '\0';
  return out;
}

static const char *usage_meaning(const char *src)
{
  if (strcmp(src, "upstream") == 0)
    return _("the provider's usage");
  if (strcmp(src, "local") == 0)
    return _("relay's own count: the upstream gave no usage, or usage that could not be used");
  if (strcmp(src, "reserved") == 0)
    return _("no usage known: the reservation was charged");
  if (strcmp(src, "none") == 0)
    return _("nothing was charged");
  return "";
}

/* One row: its columns (log_row's fields plus channel_name and billing), its breakdown and the
 * re-computation. */
struct explained {
  cJSON *row;                   /* log_row() + channel_name */
  const char *billing_text;     /* logs.billing as stored */
  int parsed;                   /* breakdown_parse(): 1 none, 0 ok, -1 unreadable */
  char perr[160];
  struct breakdown b;
  int computed;                 /* breakdown_charge() == 0 */
  int64_t recomputed;
  char why[160];
};

static int64_t row_int(const cJSON *row, const char *k)
{
  return (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, k));
}

static const char *row_str(const cJSON *row, const char *k)
{
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, k));
  return s ? s : "";
}

/* "  LABEL" padded to 15 columns of the terminal (a translated label may be wide: CJK), then a
 * blank: the left column of log explain's text. */
static void label(const char *l)
{
  size_t w = out_width(l);
  printf("  %s%*s ", l, w < 15 ? (int)(15 - w) : 0, "");
}

/* log explain's text, in the user's language; the values and the names of logs.billing's fields
 * (model_ratio, logs.quota, ...) stay as --json has them. */
static void explain_text(const struct explained *e)
{
  const cJSON *row = e->row;
  const struct breakdown *b = &e->b;
  char t1[160], t2[160], when[32] = "-";
  int64_t quota = row_int(row, "quota");
  time_t t = (time_t)row_int(row, "created_at");
  struct tm tm;
  if (localtime_r(&t, &tm))
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  printf(_("row %" PRId64 ": %s at %s\n"), row_int(row, "id"), row_str(row, "type"), when);
  label(_("user / token"));
  printf("%s / %s\n", clean(row_str(row, "username"), t1, sizeof t1),
         clean(row_str(row, "token_name"), t2, sizeof t2));
  const char *up = row_str(row, "upstream_model");
  label(_("model"));
  printf("%s", clean(row_str(row, "model"), t1, sizeof t1));
  if (*up)
    printf(" -> %s", clean(up, t2, sizeof t2));
  putchar('\n');
  label(_("channel"));
  if (row_int(row, "channel_id"))
    printf("%" PRId64 " (%s)\n", row_int(row, "channel_id"),
           *row_str(row, "channel_name") ? clean(row_str(row, "channel_name"), t1, sizeof t1)
                                          : _("deleted"));
  else
    printf("-\n");
  {
    /* the client's inbound API, as relayd wrote it into the breakdown (absent in older rows) */
    cJSON *bj = e->billing_text ? cJSON_Parse(e->billing_text) : NULL;
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(bj, "api");
    label(_("api"));
    printf("%s\n", cJSON_IsString(api) ? clean(api->valuestring, t1, sizeof t1) : "-");
    /* issue #25: a fallback chain's served model, a response cache hit, a long-context tier */
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(bj, "requested_model");
    const cJSON *srv = cJSON_GetObjectItemCaseSensitive(bj, "served_model");
    if (cJSON_IsString(req) && cJSON_IsString(srv)) {
      label(_("fallback"));
      printf(_("requested %s, served %s (priced as %s)\n"), clean(req->valuestring, t1, sizeof t1),
             clean(srv->valuestring, t2, sizeof t2), clean(srv->valuestring, t2, sizeof t2));
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(bj, "cache_hit"))) {
      label(_("cache"));
      printf("%s\n", _("hit: answered from relayd's response cache, no upstream call"));
    }
    const cJSON *tier = cJSON_GetObjectItemCaseSensitive(bj, "tier_above");
    if (cJSON_IsNumber(tier)) {
      label(_("price tier"));
      printf(_("long-context tier: prompt above %.0f tokens, the tier's ratios below\n"), tier->valuedouble);
    }
    cJSON_Delete(bj);
  }
  label(_("status"));
  printf(_("%" PRId64 ", end %s, %s, %" PRId64 " ms\n"), row_int(row, "status"),
         *row_str(row, "end_reason") ? clean(row_str(row, "end_reason"), t1, sizeof t1) : "-",
         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "is_stream")) ? _("stream") : _("not streamed"),
         row_int(row, "elapsed_ms"));
  const char *src = b->have & BD_USAGE_SOURCE ? b->usage_source : row_str(row, "usage_source");
  label(_("usage source"));
  printf("%s", *src ? clean(src, t1, sizeof t1) : "-");
  if (*usage_meaning(src))
    printf(" (%s)", usage_meaning(src));
  putchar('\n');

  if (e->parsed != 0) {
    label(_("breakdown"));
    if (e->parsed > 0)
      printf("%s\n", _("no breakdown recorded (explained from the row's columns)"));
    else
      printf(_("unreadable: %s (explained from the row's columns)\n"), e->perr);
    label(_("tokens"));
    printf(_("prompt %" PRId64 ", completion %" PRId64 "\n"), row_int(row, "prompt_tokens"),
           row_int(row, "completion_tokens"));
    label(_("charged"));
    printf(_("%" PRId64 " quota = %.6f USD\n"), quota, (double)quota / QUOTA_PER_USD);
    label(_("check"));
    printf("%s\n", _("cannot re-compute the charge without a breakdown"));
  } else {
    if (b->mode == BD_MODE_RATIO || (b->have & (BD_PROMPT | BD_COMPLETION))) {
      label(_("tokens"));
      printf(_("prompt %" PRId64 " = uncached %" PRId64 " + cached %" PRId64 " + cache write 5m %" PRId64
               " + cache write 1h %" PRId64 "\n"), b->prompt,
             b->prompt - b->cached - b->cache_write_5m - b->cache_write_1h, b->cached,
             b->cache_write_5m, b->cache_write_1h);
      label("");
      printf(_("completion %" PRId64 " (reasoning %" PRId64 ", inside completion)\n"), b->completion,
             b->reasoning);
      if (b->audio_prompt || b->audio_completion) {
        label("");
        printf(_("audio: prompt %" PRId64 " (cached %" PRId64 ", at the cache ratio), completion %" PRId64
                 " (inside prompt and completion)\n"), b->audio_prompt, b->audio_cached, b->audio_completion);
      }
    }
    label(_("price"));
    if (b->mode == BD_MODE_RATIO) {
      printf(_("ratio: model_ratio %.10g (%.10g USD per 1M prompt tokens)\n"), b->model_ratio,
             b->model_ratio * 2);
      label("");
      /* i18n: not translated: logs.billing's field names and values */
      printf("completion_ratio %.10g, cache_ratio %.10g, cache_write_ratio %.10g, "
             "cache_write_1h_ratio %.10g\n", b->completion_ratio, b->cache_ratio,
             b->cache_write_ratio, b->cache_write_1h_ratio);
      if (b->have & (BD_AUDIO_RATIO | BD_AUDIO_COMPLETION_RATIO)) {
        label("");
        printf(_("audio_ratio %.10g, audio_completion_ratio %.10g (audio output %.10g x the prompt price)\n"),
               b->audio_ratio, b->audio_completion_ratio, b->audio_ratio * b->audio_completion_ratio);
      }
    } else if (b->mode == BD_MODE_FIXED) {
      /* i18n: not translated: "call" is a price unit's name (price set --unit) */
      printf(_("fixed: fixed_price %.10g USD per %s, units %.10g\n"), b->fixed_price,
             *b->unit ? clean(b->unit, t1, sizeof t1) : "call", b->have & BD_UNITS ? b->units : 1.0);
    } else {
      printf("%s\n", _("none (no mode in the breakdown)"));
    }
    const char *group = b->have & BD_GROUP ? b->group : row_str(row, "group");
    if (b->have & BD_GROUP_RATIO) {
      label(_("group"));
      /* i18n: not translated: the group's name and logs.billing's field */
      printf("%s: group_ratio %.10g\n", *group ? clean(group, t1, sizeof t1) : "-", b->group_ratio);
    } else if (*group) {
      label(_("group"));
      printf("%s\n", clean(group, t1, sizeof t1));
    }
    if (e->computed && b->mode != BD_MODE_NONE) {
      char f[1024];
      breakdown_formula(b, f, sizeof f);
      label(_("formula"));
      printf("%s\n", f);
    }
    label(_("charged"));
    printf(_("%" PRId64 " quota = %.6f USD\n"), quota, (double)quota / QUOTA_PER_USD);
    if (b->have & BD_RESERVED) {
      int64_t charged = b->have & BD_CHARGED ? b->charged : quota;
      label(_("settlement"));
      printf(_("reserved %" PRId64 ", charged %" PRId64 ", refunded %" PRId64 "\n"), b->reserved,
             charged, b->reserved - charged);
    }
    if ((b->have & BD_CHARGED) && b->charged != quota) {
      label(_("check"));
      printf(_("MISMATCH: the breakdown says charged %" PRId64 ", logs.quota is %" PRId64 "\n"),
             b->charged, quota);
    }
    if (e->computed && b->mode != BD_MODE_NONE) {
      label(_("check"));
      if (e->recomputed == quota)
        printf(_("re-computed %" PRId64 " = logs.quota %" PRId64 ": matches\n"), e->recomputed, quota);
      else
        printf(_("MISMATCH: re-computed %" PRId64 ", logs.quota is %" PRId64 " (difference %" PRId64
                 ")\n"), e->recomputed, quota, quota - e->recomputed);
    } else if (b->mode != BD_MODE_NONE) {
      label(_("check"));
      printf(_("cannot re-compute: %s\n"), e->why);
    } else if (!(b->have & BD_CHARGED)) {
      label(_("check"));
      printf("%s\n", _("nothing to re-compute (no mode, no charged)"));
    } else if (b->charged == quota) {
      label(_("check"));
      printf(_("charged %" PRId64 " = logs.quota %" PRId64 ": matches\n"), b->charged, quota);
    }
    if ((b->have & BD_PROMPT) && b->prompt != row_int(row, "prompt_tokens")) {
      label(_("check"));
      printf(_("MISMATCH: tokens.prompt %" PRId64 ", logs.prompt_tokens %" PRId64 "\n"), b->prompt,
             row_int(row, "prompt_tokens"));
    }
    if ((b->have & BD_COMPLETION) && b->completion != row_int(row, "completion_tokens")) {
      label(_("check"));
      printf(_("MISMATCH: tokens.completion %" PRId64 ", logs.completion_tokens %" PRId64 "\n"),
             b->completion, row_int(row, "completion_tokens"));
    }
    if (b->have & BD_NOTE) {
      label(_("note"));
      printf("%s\n", clean(b->note, t1, sizeof t1));
    }
  }
  const char *content = row_str(row, "content");
  if (*content) {
    char c[512];
    label(_("content"));
    printf("%s\n", clean(content, c, sizeof c));
  }
}

/* The row as JSON: its columns, "billing" (the breakdown object as stored, null when none or
 * unreadable, with "billing_error"), and "check": {"recomputed", "matches", "reason"}. */
static int explain_json(const struct explained *e, cJSON *rows)
{
  cJSON *o = cJSON_Duplicate(e->row, 1);
  if (!o)
    return -1;
  cJSON *bj = e->parsed == 0 ? cJSON_Parse(e->billing_text) : NULL;
  if (bj)
    cJSON_AddItemToObject(o, "billing", bj);
  else
    cJSON_AddNullToObject(o, "billing");
  if (e->parsed < 0)
    cJSON_AddStringToObject(o, "billing_error", e->perr);
  cJSON *chk = cJSON_AddObjectToObject(o, "check");
  int64_t quota = row_int(e->row, "quota");
  int has_formula = e->parsed == 0 && e->computed && e->b.mode != BD_MODE_NONE;
  if (chk) {
    if (has_formula) {
      char f[1024];
      breakdown_formula(&e->b, f, sizeof f);
      cJSON_AddNumberToObject(chk, "recomputed", (double)e->recomputed);
      cJSON_AddStringToObject(chk, "formula", f);
    } else {
      cJSON_AddNullToObject(chk, "recomputed");
    }
    bool ok = true, known = has_formula;
    if (has_formula)
      ok = e->recomputed == quota;
    if (e->parsed == 0 && (e->b.have & BD_CHARGED)) {
      known = true;
      ok = ok && e->b.charged == quota;
    }
    if (known)
      cJSON_AddBoolToObject(chk, "matches", ok);
    else
      cJSON_AddNullToObject(chk, "matches");
    if (e->parsed > 0)
      cJSON_AddStringToObject(chk, "reason", "no breakdown recorded");
    else if (e->parsed < 0)
      cJSON_AddStringToObject(chk, "reason", e->perr);
    else if (!e->computed && e->b.mode != BD_MODE_NONE)
      cJSON_AddStringToObject(chk, "reason", e->why);
  }
  if (!chk || !cJSON_AddItemToArray(rows, o)) {
    cJSON_Delete(o);
    return -1;
  }
  return 0;
}

int cmd_log_explain(struct gwctl *g, int argc, char **argv)
{
  const char *rid = NULL;
  int rc = gw_args(g, argc, argv, NULL, "REQUEST_ID", &rid);
  if (rc == 0 && (!*rid || strlen(rid) > REQUEST_ID_MAX))
    rc = gw_usage(g, "REQUEST_ID must be 1 to %d bytes", REQUEST_ID_MAX);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  struct db_stmt *st = gw_prepare(g, "cannot read the log",
      "SELECT " LOG_COLS ", billing, COALESCE((SELECT name FROM channels c WHERE "
      "c.id = logs.channel_id), '') FROM logs WHERE request_id = ?1 ORDER BY created_at, id",
      "s", rid);
  if (!st)
    return GW_FAIL;
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "request_id", rid);
  cJSON *rows = cJSON_AddArrayToObject(out, "rows");
  int n = 0, mismatches = 0;
  int64_t total = 0;
  enum db_step_result r = DB_DONE;
  while (rows && (r = db_step(st)) == DB_ROW) {
    struct explained e = { 0 };
    e.row = log_row(st, NULL);
    if (!e.row || !cJSON_AddStringToObject(e.row, "channel_name", db_col_text(st, 23))) {
      cJSON_Delete(e.row);
      rc = gw_err(GW_FAIL, "out of memory");
      break;
    }
    e.billing_text = db_col_text(st, 22);
    e.parsed = breakdown_parse(e.billing_text, &e.b, e.perr, sizeof e.perr);
    if (e.parsed == 0)
      e.computed = breakdown_charge(&e.b, &e.recomputed, e.why, sizeof e.why) == 0;
    int64_t quota = row_int(e.row, "quota");
    if (e.parsed == 0 && ((e.computed && e.b.mode != BD_MODE_NONE && e.recomputed != quota)
                          || ((e.b.have & BD_CHARGED) && e.b.charged != quota)))
      mismatches++;
    total += quota;
    if (g->json) {
      if (explain_json(&e, rows) < 0)
        rc = gw_err(GW_FAIL, "out of memory");
    } else {
      if (n == 0) {
        char c[REQUEST_ID_MAX + 1];
        printf(_("request %s\n"), clean(rid, c, sizeof c));
      }
      putchar('\n');
      explain_text(&e);
    }
    cJSON_Delete(e.row);
    n++;
    if (rc != 0)
      break;
  }
  db_finalize(st);
  if (rc == 0 && !rows)
    rc = gw_err(GW_FAIL, "out of memory");
  if (rc == 0 && r == DB_ERROR)
    rc = gw_dberr(g, "cannot read the log");
  if (rc == 0 && n == 0) {
    char c[REQUEST_ID_MAX + 1];
    rc = gw_err(GW_NOTFOUND, "no log row for request '%s'", clean(rid, c, sizeof c));
  }
  if (rc == 0) {
    if (g->json) {
      cJSON_AddNumberToObject(out, "total_quota", (double)total);
      cJSON_AddNumberToObject(out, "mismatches", mismatches);
      if (out_json(out) != 0)
        rc = gw_err(GW_FAIL, "out of memory");
    } else {
      putchar('\n');
      printf(ngettext("%d row, %" PRId64 " quota charged in all (%.6f USD)%s\n",
                      "%d rows, %" PRId64 " quota charged in all (%.6f USD)%s\n", (unsigned long)n),
             n, total, (double)total / QUOTA_PER_USD,
             mismatches ? _("; MISMATCH: see the check lines above") : "");
    }
  }
  cJSON_Delete(out);
  return rc;
}
