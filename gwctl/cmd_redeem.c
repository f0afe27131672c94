/*
 * gwctl redeem: redemption codes (table redemptions): create a batch, list, export as CSV, disable,
 * rm, and use a code for a user (quota added once, in one transaction, logged as a topup).
 *
 * A code is 32 hex characters from OpenSSL's RAND_bytes. Status: 1 enabled, 2 disabled, 3 used.
 * A code may expire (expired_time, Unix seconds, 0 = never): an enabled code past it lists as
 * "expired" and is refused by `use` (New API's rule: usable until the second it names).
 * Callers: the command table in main.c.
 * Never: writes a code into the log, or changes anything when a code cannot be used.
 */
#include "gwctl.h"
#include "i18n.h"
#include "cmd_redeem.h"
#include "output.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CODE_LEN 32
#define REDEEM_COUNT_MAX 100000
/* not a stored status: an enabled code whose expiry is past (--status expired, the listings) */
#define REDEEM_EXPIRED_VIEW 4

static int redeem_expired(int64_t expired_time, int64_t now)
{
  return expired_time != 0 && expired_time < now;
}

static const char *redeem_status_name(int64_t s)
{
  return s == REDEEM_ENABLED ? "enabled" : s == REDEEM_DISABLED ? "disabled" : s == REDEEM_USED ? "used"
         : s == REDEEM_EXPIRED_VIEW ? "expired" : "unknown";
}

/* The status a listing shows: "expired" for an enabled code past its expiry. */
static const char *redeem_shown_status(int64_t status, int64_t expired_time)
{
  if (status == REDEEM_ENABLED && redeem_expired(expired_time, (int64_t)time(NULL)))
    return redeem_status_name(REDEEM_EXPIRED_VIEW);
  return redeem_status_name(status);
}

static int parse_redeem_status(struct gwctl *g, const char *s, int64_t *out)
{
  *out = 0;
  if (!s)
    return 0;
  for (int64_t i = 1; i <= REDEEM_EXPIRED_VIEW; i++)
    if (strcmp(s, redeem_status_name(i)) == 0)
      *out = i;
  return *out ? 0 : gw_usage(g, "--status must be enabled, disabled, used or expired, not '%s'", s);
}

/* "2026-12-31 23:59:59 UTC" */
static const char *utc_time(int64_t t, char *buf, size_t len)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    snprintf(buf, len, "%" PRId64, t);
  return buf;
}

/* Looks a code up by its code, then by id. expires may be NULL. */
static int redeem_find(struct gwctl *g, const char *ref, int64_t *id, int64_t *status,
                       int64_t *quota, int64_t *expires)
{
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && !gw_is_id(ref))
      break;
    struct db_stmt *st = pass == 0
        ? gw_prepare(g, "cannot look up the code",
                     "SELECT id, status, quota, expired_time FROM redemptions WHERE key = ?1", "s",
                     ref)
        : gw_prepare(g, "cannot look up the code",
                     "SELECT id, status, quota, expired_time FROM redemptions WHERE id = ?1", "i",
                     (int64_t)strtoll(ref, NULL, 10));
    if (!st)
      return GW_FAIL;
    enum db_step_result r = db_step(st);
    if (r == DB_ROW) {
      *id = db_col_int64(st, 0);
      *status = db_col_int64(st, 1);
      *quota = db_col_int64(st, 2);
      if (expires)
        *expires = db_col_int64(st, 3);
    }
    db_finalize(st);
    if (r == DB_ERROR)
      return gw_dberr(g, "cannot look up the code");
    if (r == DB_ROW)
      return 0;
  }
  return gw_err(GW_NOTFOUND, "no redemption code '%s'", ref);
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s, int last)
{
  if (strpbrk(s, ",\"\r\n")) {
    fputc('"', f);
    for (; *s; s++) {
      if (*s == '"')
        fputc('"', f);
      fputc(*s, f);
    }
    fputc('"', f);
  } else {
    fputs(s, f);
  }
  fputc(last ? '\n' : ',', f);
}

int cmd_redeem_create(struct gwctl *g, int argc, char **argv)
{
  const char *count_s = NULL, *quota_s = NULL, *name = "", *csv = NULL, *expires_s = NULL;
  const struct gw_opt opts[] = {
    { "count", &count_s, NULL },
    { "quota", &quota_s, NULL },
    { "name", &name, NULL },
    { "csv", &csv, NULL },
    { "expires", &expires_s, NULL },
    { 0 },
  };
  int64_t count = 0, quota = 0, expires = 0, now = (int64_t)time(NULL);
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !count_s)
    rc = gw_usage(g, "missing --count N");
  if (rc == 0 && !quota_s)
    rc = gw_usage(g, "missing --quota Q");
  if (rc == 0)
    rc = gw_parse_int(g, "--count", count_s, 1, REDEEM_COUNT_MAX, &count);
  if (rc == 0)
    rc = gw_parse_quota(g, "--quota", quota_s, 1, GW_QUOTA_MAX, &quota);
  if (rc == 0 && *name)
    rc = gw_check_name(g, "--name", name);
  /* --expires WHEN (a span such as 30d, an ISO date, Unix seconds: when.h) | never; the past is
   * refused. Stored as 0 for never, New API's convention. */
  if (rc == 0 && expires_s && (rc = gw_parse_expires(g, "--expires", expires_s, &expires)) == 0
      && expires < 0)
    expires = 0;
  if (rc != 0)
    return rc;
  char (*codes)[CODE_LEN + 1] = calloc((size_t)count, sizeof *codes);
  if (!codes)
    return gw_err(GW_FAIL, "out of memory");
  static const char hex[] = "0123456789abcdef";
  for (int64_t i = 0; rc == 0 && i < count; i++) {
    unsigned char rnd[CODE_LEN / 2];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
      rc = gw_err(GW_FAIL, "cannot make a code: no randomness available");
      break;
    }
    for (int k = 0; k < CODE_LEN / 2; k++) {
      codes[i][2 * k] = hex[rnd[k] >> 4];
      codes[i][2 * k + 1] = hex[rnd[k] & 15];
    }
  }
  /* the CSV file is created before the transaction, so a file error changes nothing */
  FILE *f = NULL;
  if (rc == 0 && csv && !(f = fopen(csv, "wx")))
    rc = gw_err(errno == EEXIST ? GW_CONFLICT : GW_FAIL, "cannot create %s: %s", csv,
                strerror(errno));
  if (rc == 0 && (rc = gw_begin(g)) == 0) {
    struct db_stmt *st = db_prepare(g->db,
        "INSERT INTO redemptions(key, status, name, quota, created_time, expired_time) VALUES (?1, "
        CODE_STR(REDEEM_ENABLED) ", ?2, ?3, ?4, ?5)");
    if (!st)
      rc = gw_dberr(g, "cannot create the codes");
    for (int64_t i = 0; rc == 0 && i < count; i++) {
      db_reset(st);
      if (db_bind_text(st, 1, codes[i]) != 0 || db_bind_text(st, 2, name) != 0
          || db_bind_int64(st, 3, quota) != 0 || db_bind_int64(st, 4, now) != 0
          || db_bind_int64(st, 5, expires) != 0 || db_step(st) != DB_DONE)
        rc = gw_dberr(g, "cannot create the codes");
    }
    db_finalize(st);
    struct gw_subject s = { 0 };
    if (rc == 0)
      rc = gw_log_manage(g, &s, "redeem create count=%" PRId64 " quota=%" PRId64 " name=%s "
                         "expires=%" PRId64, count, quota, name, expires);
    if (rc == 0 && f) {       /* written and flushed before the commit */
      /* i18n: not translated: the CSV header: field names */
      fputs("name,code,quota,created\n", f);
      for (int64_t i = 0; i < count; i++) {
        char q[32], t[32];
        snprintf(q, sizeof q, "%" PRId64, quota);
        snprintf(t, sizeof t, "%" PRId64, now);
        csv_field(f, name, 0);
        csv_field(f, codes[i], 0);
        csv_field(f, q, 0);
        csv_field(f, t, 1);
      }
      if (fflush(f) != 0 || ferror(f))
        rc = gw_err(GW_FAIL, "cannot write %s: %s", csv, strerror(errno));
    }
    rc = gw_end(g, rc);
  }
  if (f && fclose(f) != 0 && rc == 0)
    rc = gw_err(GW_FAIL, "cannot write %s: %s", csv, strerror(errno));
  if (f && rc != 0)
    remove(csv);
  if (rc == 0 && !csv) {
    if (g->json) {
      cJSON *a = cJSON_CreateArray();
      for (int64_t i = 0; a && i < count; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(codes[i]));
      if (!a || out_json(a) != 0)
        rc = gw_err(GW_FAIL, "out of memory");
      cJSON_Delete(a);
    } else {
      for (int64_t i = 0; i < count; i++)
        printf("%s\n", codes[i]);
    }
  } else if (rc == 0 && g->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)count);
    if (!cJSON_AddStringToObject(o, "file", csv) || out_json(o) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(o);
  } else if (rc == 0) {
    printf(ngettext("%" PRId64 " code written to %s\n", "%" PRId64 " codes written to %s\n", (unsigned long)count),
           count, csv);
  }
  OPENSSL_cleanse(codes, (size_t)count * sizeof *codes);
  free(codes);
  return rc;
}

/* ?1 status (0 = any; expired = enabled and past its expiry, enabled = not past it), ?2 name or
 * NULL, ?3 now */
#define REDEEM_SELECT "SELECT r.id, r.name, r.key, r.status, r.quota, r.created_time, " \
  "r.redeemed_time, r.used_user_id, COALESCE(u.username, ''), r.expired_time FROM redemptions r " \
  "LEFT JOIN users u ON u.id = r.used_user_id " \
  "WHERE (?1 = 0 OR CASE WHEN r.status = " CODE_STR(REDEEM_ENABLED) " AND r.expired_time <> 0 " \
  "AND r.expired_time < ?3 THEN ?1 = " CODE_STR(REDEEM_EXPIRED_VIEW) " ELSE r.status = ?1 END) " \
  "AND (CAST(?2 AS TEXT) IS NULL OR r.name = ?2) ORDER BY r.id"

static const struct out_col redeem_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "code", "CODE", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "quota", "QUOTA", OUT_QUOTA, 0, NULL },
  { "created_time", "CREATED", OUT_TIME, 0, NULL },
  { "redeemed_time", "REDEEMED", OUT_TIME, 0, NULL },
  { "used_by", "USED_BY", OUT_PLAIN, 0, NULL },
  { "expired_time", "EXPIRES", OUT_TIME, 0, NULL },
  { 0 },
};

static int redeem_filters(struct gwctl *g, int argc, char **argv, struct db_stmt **st)
{
  const char *status_s = NULL, *name = NULL;
  const struct gw_opt opts[] = { { "status", &status_s, NULL }, { "name", &name, NULL }, { 0 } };
  int64_t status = 0;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0)
    rc = parse_redeem_status(g, status_s, &status);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  *st = gw_prepare(g, "cannot read the codes", REDEEM_SELECT, "isi", status, name,
                   (int64_t)time(NULL));
  return *st ? 0 : GW_FAIL;
}

static cJSON *redeem_row(struct db_stmt *st, const void *unused)
{
  (void)unused;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)db_col_int64(st, 0));
  cJSON_AddStringToObject(o, "name", db_col_text(st, 1));
  cJSON_AddStringToObject(o, "code", db_col_text(st, 2));
  cJSON_AddStringToObject(o, "status", redeem_shown_status(db_col_int64(st, 3), db_col_int64(st, 9)));
  cJSON_AddNumberToObject(o, "quota", (double)db_col_int64(st, 4));
  cJSON_AddNumberToObject(o, "created_time", (double)db_col_int64(st, 5));
  cJSON_AddNumberToObject(o, "redeemed_time", (double)db_col_int64(st, 6));
  cJSON_AddNumberToObject(o, "used_user_id", (double)db_col_int64(st, 7));
  cJSON_AddStringToObject(o, "used_by", db_col_text(st, 8));
  cJSON_AddNumberToObject(o, "expired_time", (double)db_col_int64(st, 9));    /* 0: never */
  if (cJSON_GetArraySize(o) != 10) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

int cmd_redeem_list(struct gwctl *g, int argc, char **argv)
{
  struct db_stmt *st = NULL;
  int rc = redeem_filters(g, argc, argv, &st);
  if (rc != 0)
    return rc;
  return gw_list(g, st, "cannot read the codes", redeem_row, NULL, redeem_cols);
}

int cmd_redeem_export(struct gwctl *g, int argc, char **argv)
{
  struct db_stmt *st = NULL;
  int rc = redeem_filters(g, argc, argv, &st);
  if (rc != 0)
    return rc;
  /* i18n: not translated: the CSV header: field names */
  fputs("name,code,quota,created,status\n", stdout);
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW) {
    char q[32], t[32];
    snprintf(q, sizeof q, "%" PRId64, db_col_int64(st, 4));
    snprintf(t, sizeof t, "%" PRId64, db_col_int64(st, 5));
    csv_field(stdout, db_col_text(st, 1), 0);
    csv_field(stdout, db_col_text(st, 2), 0);
    csv_field(stdout, q, 0);
    csv_field(stdout, t, 0);
    csv_field(stdout, redeem_shown_status(db_col_int64(st, 3), db_col_int64(st, 9)), 1);
  }
  db_finalize(st);
  return r == DB_ERROR ? gw_dberr(g, "cannot read the codes") : GW_OK;
}

int cmd_redeem_disable(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int64_t id = 0, status = 0, quota = 0;
  int rc = gw_args(g, argc, argv, NULL, "CODE|ID", &ref);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = redeem_find(g, ref, &id, &status, &quota, NULL);
  if (rc == 0 && status == REDEEM_USED)
    rc = gw_err(GW_CONFLICT, "redemption code %" PRId64 " is already used", id);
  if (rc == 0)
    rc = gw_exec(g, "cannot disable the code", "UPDATE redemptions SET status = " CODE_STR(REDEEM_DISABLED) " WHERE id = ?1",
                 "i", id);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "redeem disable id=%" PRId64, id);
  return gw_end(g, rc);
}

int cmd_redeem_rm(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int yes = 0;
  const struct gw_opt opts[] = { { "yes", NULL, &yes }, { 0 } };
  int64_t id = 0, status = 0, quota = 0;
  char what[128];
  int rc = gw_args(g, argc, argv, opts, "CODE|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0
      || (rc = redeem_find(g, ref, &id, &status, &quota, NULL)) != 0)
    return rc;
  snprintf(what, sizeof what, "delete redemption code %" PRId64, id);
  if ((rc = gw_confirm(g, yes, what)) != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = redeem_find(g, ref, &id, &status, &quota, NULL);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the code", "DELETE FROM redemptions WHERE id = ?1", "i", id);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "redeem rm id=%" PRId64 " status=%s", id, redeem_status_name(status));
  return gw_end(g, rc);
}

int cmd_redeem_use(struct gwctl *g, int argc, char **argv)
{
  const char *code = NULL, *user = NULL;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { 0 } };
  char uname[GW_NAME_MAX + 1];
  int64_t id = 0, status = 0, quota = 0, expires = 0, uid = 0, balance = 0;
  int64_t now = (int64_t)time(NULL);
  int rc = gw_args(g, argc, argv, opts, "CODE", &code);
  if (rc == 0 && !user)
    rc = gw_usage(g, "missing --user NAME");
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_user_find(g, user, &uid, uname, sizeof uname);
  if (rc == 0) {
    int64_t sid = 0;
    int r = gw_scalar(g, "cannot look up the code", "SELECT id FROM redemptions WHERE key = ?1",
                      &sid, "s", code);
    rc = r < 0 ? GW_FAIL : r == 0 ? gw_err(GW_NOTFOUND, "no such redemption code") : 0;
    if (rc == 0)
      rc = redeem_find(g, code, &id, &status, &quota, &expires);
  }
  if (rc == 0 && status == REDEEM_USED)
    rc = gw_err(GW_CONFLICT, "this redemption code has already been used");
  else if (rc == 0 && status != REDEEM_ENABLED)
    rc = gw_err(GW_CONFLICT, "this redemption code is disabled");
  char when[64];
  if (rc == 0 && redeem_expired(expires, now))
    rc = gw_err(GW_CONFLICT, "this redemption code expired on %s", utc_time(expires, when,
                                                                            sizeof when));
  if (rc == 0 && gw_scalar(g, "cannot read the user", "SELECT quota FROM users WHERE id = ?1",
                           &balance, "i", uid) < 0)
    rc = GW_FAIL;
  if (rc == 0 && balance > GW_QUOTA_MAX - quota)
    rc = gw_err(GW_CONFLICT, "user '%s' would hold more than %" PRId64 " quota units", uname,
                GW_QUOTA_MAX);
  char content[64];
  snprintf(content, sizeof content, "redemption code %" PRId64 " used", id);
  /* the status condition makes a second use a no-op even if two runs raced; the expiry one is
   * the same rule as above, in the statement that changes the row */
  if (rc == 0)
    rc = gw_exec(g, "cannot use the code", "UPDATE redemptions SET status = " CODE_STR(REDEEM_USED)
                 ", redeemed_time = ?2, used_user_id = ?3 WHERE id = ?1 AND status = "
                 CODE_STR(REDEEM_ENABLED) " AND (expired_time = 0 OR expired_time >= ?2)", "iii",
                 id, now, uid);
  if (rc == 0 && db_changes(g->db) != 1)
    rc = gw_err(GW_CONFLICT, "this redemption code has already been used");
  if (rc == 0)
    rc = gw_exec(g, "cannot top up", "UPDATE users SET quota = quota + ?2 WHERE id = ?1", "ii", uid,
                 quota);
  if (rc == 0)
    rc = gw_exec(g, "cannot write the log",
                 "INSERT INTO logs(created_at, type, content, user_id, username, quota) "
                 "VALUES (?1, " CODE_STR(LOGT_TOPUP) ", ?2, ?3, ?4, ?5)", "isisi", now, content, uid, uname, quota);
  rc = gw_end(g, rc);
  if (rc != 0)
    return rc;
  if (!g->json) {
    printf(_("%s: +%" PRId64 " quota units, now %" PRId64 "\n"), uname, quota, balance + quota);
    return GW_OK;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)id);
  cJSON_AddStringToObject(o, "username", uname);
  cJSON_AddNumberToObject(o, "added", (double)quota);
  if (!cJSON_AddNumberToObject(o, "quota", (double)(balance + quota)) || out_json(o) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(o);
  return rc;
}
