/* selfsvc: see selfsvc.h. */
#include "selfsvc.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bgthread.h"
#include "codes.h"
#include "db.h"
#include "format.h"
#include "ledger.h"
#include "log.h"
#include "quota.h"
#include "request.h"
#include "respond.h"
#include "snapshot.h"
#include "when.h"
#include "writer.h"

#define QUEUE_MAX 64
#define CODE_MAX 64
#define FAIL_SLOTS 1024
#define SELF_QUOTA_MAX INT64_C(1000000000000000)   /* gwctl's GW_QUOTA_MAX */

enum job_kind { JOB_REDEEM, JOB_USAGE };

struct job {
  enum job_kind kind;
  struct request *r;           /* suspended until the thread resumes it */
  int64_t user_id, token_id;
  char username[64];
  char code[CODE_MAX + 1];
  int64_t since, until;
  bool by_day, by_model, scope_user;
};

static struct {
  struct bgthread t;           /* t.lock guards the ring */
  struct job q[QUEUE_MAX];     /* ring */
  size_t head, n;
  struct db *db;               /* the thread's own connection */
  bool pg;
} S = {.t = BGTHREAD_INIT};

/* Failed redeem attempts per key: the thread's alone. A full table reuses the oldest slot. */
static struct {
  int64_t token_id;
  int64_t since;
  int fails;
} fails[FAIL_SLOTS];

/* ---------------------------------------------------------------- the thread's answers */

/* Hands r its answer and resumes it (the worker queues it: front.c PH_RESPOND). */
static void finish(struct request *r, unsigned status, struct MHD_Response *resp)
{
  r->pending = resp;
  r->pending_status = status;
  r->final_status = (int)status;
  r->phase = PH_RESPOND;
  r->suspended = false;
  MHD_resume_connection(r->conn);
  worker_wake(r->w);
}

static void finish_error(struct request *r, unsigned status, const char *type, const char *code,
                         const char *param, const char *msg)
{
  finish(r, status, error_response(r, status, type, code, param, msg));
}

static void finish_json(struct request *r, cJSON *o)
{
  char *s = o ? cJSON_PrintUnformatted(o) : NULL;   /* owned here */
  if (!s) {
    finish_error(r, 500, "relay_error", "out_of_memory", NULL, "The relay is out of memory.");
    return;
  }
  struct buf b;
  buf_init(&b, (size_t)1 << 24);
  buf_append_str(&b, s);
  free(s);
  finish(r, 200, json_response(r, &b));
}

static int *fail_slot(int64_t token_id, int64_t now)
{
  size_t oldest = 0;
  for (size_t i = 0; i < FAIL_SLOTS; i++) {
    if (fails[i].token_id == token_id) {
      if (now - fails[i].since >= SELFSVC_FAIL_WINDOW_S) {
        fails[i].since = now;
        fails[i].fails = 0;
      }
      return &fails[i].fails;
    }
    if (fails[i].since < fails[oldest].since)
      oldest = i;
  }
  fails[oldest].token_id = token_id;
  fails[oldest].since = now;
  fails[oldest].fails = 0;
  return &fails[oldest].fails;
}

static int64_t scalar(const char *sql, int64_t a, int64_t *out)
{
  struct db_stmt *st = db_prepare(S.db, sql);
  if (!st)
    return -1;
  db_bind_int64(st, 1, a);
  enum db_step_result rc = db_step(st);
  if (rc == DB_ROW)
    *out = db_col_int64(st, 0);
  db_finalize(st);
  return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* gwctl redeem use's transaction (gwctl/cmd_redeem.c), for the key's owner: 0 done, or the HTTP
 * status of the refusal with code and msg. */
static unsigned redeem_tx(const struct job *j, int64_t now, int64_t *id, int64_t *quota, const char **code,
                          char *msg, size_t msglen)
{
  int64_t status = 0, expires = 0, balance = 0;
  struct db_stmt *st = db_prepare(S.db, "SELECT id, status, quota, expired_time FROM redemptions WHERE key = ?1");
  if (!st)
    goto dberr;
  db_bind_text(st, 1, j->code);
  enum db_step_result rc = db_step(st);
  if (rc == DB_ROW) {
    *id = db_col_int64(st, 0);
    status = db_col_int64(st, 1);
    *quota = db_col_int64(st, 2);
    expires = db_col_int64(st, 3);
  }
  db_finalize(st);
  if (rc == DB_ERROR)
    goto dberr;
  if (rc != DB_ROW) {
    *code = "redemption_code_not_found";
    snprintf(msg, msglen, "No such redemption code.");
    return 404;
  }
  if (status == REDEEM_USED) {
    *code = "redemption_code_used";
    snprintf(msg, msglen, "This redemption code has already been used.");
    return 409;
  }
  if (status != REDEEM_ENABLED) {
    *code = "redemption_code_disabled";
    snprintf(msg, msglen, "This redemption code is disabled.");
    return 403;
  }
  if (expires != 0 && expires < now) {
    *code = "redemption_code_expired";
    snprintf(msg, msglen, "This redemption code expired at %" PRId64 " (Unix seconds).", expires);
    return 410;
  }
  if (db_begin(S.db) != 0)
    goto dberr;
  if (scalar("SELECT quota FROM users WHERE id = ?1", j->user_id, &balance) != 1)
    goto rollback;
  if (balance > SELF_QUOTA_MAX - *quota) {
    db_rollback(S.db);
    *code = "quota_overflow";
    snprintf(msg, msglen, "The account would hold more than %lld quota units.", (long long)SELF_QUOTA_MAX);
    return 409;
  }
  /* the status and expiry conditions make a second use a no-op even if two raced */
  st = db_prepare(S.db, "UPDATE redemptions SET status = " CODE_STR(REDEEM_USED) ", redeemed_time = ?2, "
                        "used_user_id = ?3 WHERE id = ?1 AND status = " CODE_STR(REDEEM_ENABLED)
                        " AND (expired_time = 0 OR expired_time >= ?2)");
  if (!st)
    goto rollback;
  db_bind_int64(st, 1, *id);
  db_bind_int64(st, 2, now);
  db_bind_int64(st, 3, j->user_id);
  rc = db_step(st);
  db_finalize(st);
  if (rc == DB_ERROR)
    goto rollback;
  if (db_changes(S.db) != 1) {
    db_rollback(S.db);
    *code = "redemption_code_used";
    snprintf(msg, msglen, "This redemption code has already been used.");
    return 409;
  }
  st = db_prepare(S.db, "UPDATE users SET quota = quota + ?2 WHERE id = ?1");
  if (!st)
    goto rollback;
  db_bind_int64(st, 1, j->user_id);
  db_bind_int64(st, 2, *quota);
  rc = db_step(st);
  db_finalize(st);
  if (rc == DB_ERROR)
    goto rollback;
  char content[64];
  snprintf(content, sizeof content, "redemption code %" PRId64 " used", *id);
  st = db_prepare(S.db, "INSERT INTO logs(created_at, type, content, user_id, username, token_id, token_name, quota) "
                        "VALUES (?1, " CODE_STR(LOGT_TOPUP) ", ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st)
    goto rollback;
  db_bind_int64(st, 1, now);
  db_bind_text(st, 2, content);
  db_bind_int64(st, 3, j->user_id);
  db_bind_text(st, 4, j->username);
  db_bind_int64(st, 5, j->token_id);
  db_bind_text(st, 6, j->r->token->name);
  db_bind_int64(st, 7, *quota);
  rc = db_step(st);
  db_finalize(st);
  if (rc == DB_ERROR)
    goto rollback;
  if (S.pg) {   /* the other nodes fold the user's balance when this commits (commit.c's payload) */
    char payload[64];
    snprintf(payload, sizeof payload, "%016llx u%lld", (unsigned long long)writer_node_id(), (long long)j->user_id);
    if (db_notify(S.db, RELAY_BALANCE_CHANNEL, payload) != 0)
      goto rollback;
  }
  if (db_commit(S.db) != 0)
    goto rollback;
  return 0;
rollback:
  db_rollback(S.db);
dberr:
  log_msg(LOG_ERR, "redeem failed", "error=\"%s\"", db_errmsg(S.db));
  *code = "database_error";
  snprintf(msg, msglen, "The relay could not reach its database; nothing was redeemed. Try again.");
  return 503;
}

static void do_redeem(struct job *j)
{
  struct request *r = j->r;
  int64_t now = (int64_t)time(NULL);
  int *nfail = fail_slot(j->token_id, now);
  if (*nfail >= SELFSVC_FAIL_MAX) {
    log_msg(LOG_WARN, "redeem refused", "token_id=%lld user_id=%lld reason=too_many_failures failures=%d",
            (long long)j->token_id, (long long)j->user_id, *nfail);
    char msg[160];
    snprintf(msg, sizeof msg, "Too many failed redemption attempts with this key: try again in %d minutes.",
             SELFSVC_FAIL_WINDOW_S / 60);
    finish_error(r, 429, "rate_limit_error", "too_many_redeem_attempts", NULL, msg);
    return;
  }
  int64_t id = 0, quota = 0;
  const char *code = NULL;
  char msg[200];
  unsigned st = redeem_tx(j, now, &id, &quota, &code, msg, sizeof msg);
  if (st) {
    if (st != 503)
      (*nfail)++;
    log_msg(LOG_WARN, "redeem refused", "token_id=%lld user_id=%lld reason=%s failures=%d", (long long)j->token_id,
            (long long)j->user_id, code, *nfail);
    finish_error(r, st, st == 503 ? "relay_error" : "invalid_request_error", code, st == 503 ? NULL : "code", msg);
    return;
  }
  /* the new database value reaches the ledger now, as a reload would fold it */
  char ids[24], err[256];
  snprintf(ids, sizeof ids, "%lld", (long long)j->user_id);
  if (snapshot_fold_balances(S.db, false, ids, "", err, sizeof err) != 0)
    log_msg(LOG_WARN, "redeem: balance not folded until the next reload", "error=\"%s\"", err);
  log_msg(LOG_INFO, "redeemed", "token_id=%lld user_id=%lld code_id=%lld quota=%lld", (long long)j->token_id,
          (long long)j->user_id, (long long)id, (long long)quota);
  int64_t bal = atomic_load(&r->token->user->bal->avail);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "object", "relay.redemption");
  cJSON_AddNumberToObject(o, "id", (double)id);
  cJSON_AddStringToObject(o, "username", j->username);
  cJSON_AddNumberToObject(o, "added", (double)quota);
  cJSON_AddNumberToObject(o, "added_usd", (double)quota / QUOTA_PER_USD);
  cJSON_AddNumberToObject(o, "balance", (double)bal);
  cJSON_AddNumberToObject(o, "balance_usd", (double)bal / QUOTA_PER_USD);
  finish_json(r, o);
  cJSON_Delete(o);
}

static void day_text(int64_t day, char *out, size_t n)
{
  time_t t = (time_t)(day * 86400);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%d", &tm))
    snprintf(out, n, "%lld", (long long)day);
}

static void do_usage(struct job *j)
{
  struct request *r = j->r;
  /* the dimensions are fixed fragments: nothing from the client is in the SQL text */
  char sql[1024];
  const char *kd = j->by_day ? "created_at / 86400" : "0";
  const char *km = j->by_model ? "model_name" : "''";
  snprintf(sql, sizeof sql,
           "SELECT %s AS d, %s AS m, count(*), coalesce(sum(prompt_tokens), 0), "
           "coalesce(sum(completion_tokens), 0), coalesce(sum(quota), 0), "
           "coalesce(sum(CASE WHEN type = " CODE_STR(LOGT_ERROR) " OR status >= 400 THEN 1 ELSE 0 END), 0) "
           "FROM logs WHERE type IN (" CODE_STR(LOGT_CONSUME) ", " CODE_STR(LOGT_ERROR) ") AND %s = ?1 "
           "AND created_at >= ?2 AND created_at < ?3 GROUP BY 1, 2 ORDER BY 1, 2 LIMIT %d",
           kd, km, j->scope_user ? "user_id" : "token_id", SELFSVC_MAX_ROWS + 1);
  struct db_stmt *st = db_prepare(S.db, sql);
  if (!st) {
    log_msg(LOG_ERR, "usage query failed", "error=\"%s\"", db_errmsg(S.db));
    finish_error(r, 503, "relay_error", "database_error", NULL, "The relay could not read its database. Try again.");
    return;
  }
  db_bind_int64(st, 1, j->scope_user ? j->user_id : j->token_id);
  db_bind_int64(st, 2, j->since);
  db_bind_int64(st, 3, j->until);
  cJSON *o = cJSON_CreateObject(), *data = cJSON_CreateArray();   /* owned here */
  cJSON_AddStringToObject(o, "object", "list");
  cJSON_AddStringToObject(o, "scope", j->scope_user ? "user" : "token");
  cJSON_AddNumberToObject(o, "since", (double)j->since);
  cJSON_AddNumberToObject(o, "until", (double)j->until);
  int64_t rows = 0;
  enum db_step_result rc;
  while ((rc = db_step(st)) == DB_ROW) {
    if (++rows > SELFSVC_MAX_ROWS)
      break;
    cJSON *e = cJSON_CreateObject();
    if (j->by_day) {
      char d[32];
      day_text(db_col_int64(st, 0), d, sizeof d);
      cJSON_AddStringToObject(e, "day", d);
    }
    if (j->by_model)
      cJSON_AddStringToObject(e, "model", db_col_text(st, 1) ? db_col_text(st, 1) : "");
    int64_t pt = db_col_int64(st, 3), ct = db_col_int64(st, 4), q = db_col_int64(st, 5);
    cJSON_AddNumberToObject(e, "requests", (double)db_col_int64(st, 2));
    cJSON_AddNumberToObject(e, "prompt_tokens", (double)pt);
    cJSON_AddNumberToObject(e, "completion_tokens", (double)ct);
    cJSON_AddNumberToObject(e, "total_tokens", (double)(pt + ct));
    cJSON_AddNumberToObject(e, "quota", (double)q);
    cJSON_AddNumberToObject(e, "usd", (double)q / QUOTA_PER_USD);
    cJSON_AddNumberToObject(e, "errors", (double)db_col_int64(st, 6));
    cJSON_AddItemToArray(data, e);
  }
  db_finalize(st);
  if (rc == DB_ERROR) {
    log_msg(LOG_ERR, "usage query failed", "error=\"%s\"", db_errmsg(S.db));
    cJSON_Delete(o);
    cJSON_Delete(data);
    finish_error(r, 503, "relay_error", "database_error", NULL, "The relay could not read its database. Try again.");
    return;
  }
  cJSON_AddBoolToObject(o, "truncated", rows > SELFSVC_MAX_ROWS);
  cJSON_AddItemToObject(o, "data", data);
  finish_json(r, o);
  cJSON_Delete(o);
}

static void *thread_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&S.t.lock);
  for (;;) {
    while (!S.n && !S.t.stop)
      bgthread_wait(&S.t, BGTHREAD_FOREVER);
    if (!S.n && S.t.stop)
      break;
    struct job j = S.q[S.head];
    S.head = (S.head + 1) % QUEUE_MAX;
    S.n--;
    pthread_mutex_unlock(&S.t.lock);
    if (j.kind == JOB_REDEEM)
      do_redeem(&j);
    else
      do_usage(&j);
    pthread_mutex_lock(&S.t.lock);
  }
  pthread_mutex_unlock(&S.t.lock);
  return NULL;
}

int selfsvc_start(const char *db_url, char *err, size_t errlen)
{
  S.db = db_open(db_url, err, errlen);
  if (!S.db)
    return -1;
  S.pg = db_url_is_postgres(db_url);
  if (S.pg)
    db_exec(S.db, "SET statement_timeout = 5000");   /* bounded: a usage read never holds a job long */
  /* unnamed (NULL): the thread has always shown as "relayd" */
  if (bgthread_start(&S.t, NULL, thread_main, NULL) != 0) {
    snprintf(err, errlen, "cannot start the self-service thread");
    db_close(S.db);
    S.db = NULL;
    return -1;
  }
  return 0;
}

void selfsvc_stop(void)
{
  if (!S.t.started)
    return;
  bgthread_stop(&S.t);
  db_close(S.db);
  S.db = NULL;
}

/* ---------------------------------------------------------------- the worker's side */

static enum MHD_Result submit(struct request *r, struct job *j)
{
  j->r = r;
  j->user_id = r->token->user->id;
  j->token_id = r->token->id;
  copy_str(j->username, sizeof j->username, r->token->user->username);
  pthread_mutex_lock(&S.t.lock);
  bool ok = S.t.started && !S.t.stop && S.n < QUEUE_MAX;
  if (ok) {
    r->suspended = true;
    r->phase = PH_UPSTREAM;
    MHD_suspend_connection(r->conn);
    S.q[(S.head + S.n) % QUEUE_MAX] = *j;
    S.n++;
    bgthread_kick_locked(&S.t);
  }
  pthread_mutex_unlock(&S.t.lock);
  if (!ok)
    return fail_now(r, 503, "relay_error", "busy", NULL, "The relay is busy: try again in a moment.");
  return MHD_YES;
}

enum MHD_Result selfsvc_redeem(struct request *r)
{
  char err[300];
  cJSON *root = format_parse_object(r->body.data, r->body.len, err, sizeof err);   /* owned here */
  if (!root)
    return fail_now(r, 400, "invalid_request_error", NULL, NULL, "%s", err);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "code");
  struct job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_REDEEM;
  bool ok = cJSON_IsString(c) && c->valuestring[0] && strlen(c->valuestring) <= CODE_MAX;
  for (const char *p = ok ? c->valuestring : ""; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
      ok = false;
  if (ok)
    copy_str(j.code, sizeof j.code, c->valuestring);
  cJSON_Delete(root);
  if (!ok)
    return fail_now(r, 400, "invalid_request_error", "invalid_code", "code",
                    "code: a redemption code (letters, digits, '-' or '_', at most %d) is required.", CODE_MAX);
  return submit(r, &j);
}

enum MHD_Result selfsvc_usage(struct request *r)
{
  struct job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_USAGE;
  int64_t now = (int64_t)time(NULL);
  const char *since = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "since");
  const char *until = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "until");
  const char *by = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "by");
  const char *scope = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "scope");
  char why[160];
  j.until = now + 1;
  if (until && *until && when_parse(until, now, WHEN_PAST, &j.until, why, sizeof why) != 0)
    return fail_now(r, 400, "invalid_request_error", "invalid_time", "until", "until: '%.60s' %s.", until, why);
  j.since = j.until - 7 * 86400;
  if (since && *since && when_parse(since, now, WHEN_PAST, &j.since, why, sizeof why) != 0)
    return fail_now(r, 400, "invalid_request_error", "invalid_time", "since", "since: '%.60s' %s.", since, why);
  if (j.since >= j.until)
    return fail_now(r, 400, "invalid_request_error", "invalid_time", "since", "since must be before until.");
  if (j.until - j.since > (int64_t)SELFSVC_MAX_DAYS * 86400)
    return fail_now(r, 400, "invalid_request_error", "range_too_long", "since",
                    "The range is longer than %d days: ask for it in parts.", SELFSVC_MAX_DAYS);
  if (!by || !*by)
    by = "day,model";
  char list[64];
  if (strlen(by) >= sizeof list)
    return fail_now(r, 400, "invalid_request_error", "invalid_by", "by", "by: day, model or day,model.");
  copy_str(list, sizeof list, by);
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    bool *dim = strcmp(t, "day") == 0 ? &j.by_day : strcmp(t, "model") == 0 ? &j.by_model : NULL;
    if (!dim || *dim)
      return fail_now(r, 400, "invalid_request_error", "invalid_by", "by",
                      "by: '%.40s' is not day, model or day,model.", by);
    *dim = true;
  }
  if (scope && *scope && strcmp(scope, "token") != 0 && strcmp(scope, "user") != 0)
    return fail_now(r, 400, "invalid_request_error", "invalid_scope", "scope", "scope: token (the default) or user.");
  j.scope_user = scope && strcmp(scope, "user") == 0;
  return submit(r, &j);
}
