/*
 * db_pg: the PostgreSQL backend of the storage interface (db.h), on libpq.
 *
 * Owns: the libpq connection (PGconn), the rewriting of ?N placeholders to $N, statements run with
 * PQexecParams (text parameters whose types the server infers; results buffered whole), the
 * migration advisory lock, LISTEN/NOTIFY, and reconnecting a lost connection outside a transaction.
 * Callers: common/db.c through struct db_backend (pg_open is the only entry point).
 * Never: prints (libpq notices are swallowed), echoes a connection string (it may hold a password),
 * or silently reconnects inside a transaction (the statement fails and the caller rolls back).
 */
#include "db_backend.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Parameters in one statement: PostgreSQL's protocol allows 65535. */
#define PG_MAX_PARAMS 65535
/* Any number; the same for every relay process, so migrations of several nodes queue up. */
#define PG_MIGRATE_LOCK 7270470201LL
#define TEXTOID 25

struct pg_stmt {
  struct db *db;
  char *sql;                    /* with $N placeholders */
  int nparams;                  /* the highest N used */
  unsigned char *used;          /* used[i]: $i+1 appears in sql */
  char **vals;                  /* nparams values (malloc'd); NULL = SQL NULL */
  PGresult *res;                /* the result of the last run; NULL before it */
  int row;                      /* current row of res */
};

static PGconn *pgc(struct db *db) { return db->conn; }

/* Copies libpq's message without its trailing newline. */
static void pg_seterr(struct db *db, const char *what, const char *msg)
{
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
    n--;
  if (what)
    db_seterr(db, "%s: %.*s", what, (int)n, msg);
  else
    db_seterr(db, "%.*s", (int)n, msg);
}

static void pg_notice(void *arg, const char *msg)
{
  (void)arg;
  (void)msg;                    /* "relation already exists, skipping" and the like */
}

/* The session's time zone follows the client's, like SQLite's 'localtime' (gwctl log stats by day). */
static void pg_set_timezone(PGconn *c)
{
  char zone[256] = "";
  const char *tz = getenv("TZ");
  if (tz && *tz) {
    snprintf(zone, sizeof zone, "%s", tz[0] == ':' ? tz + 1 : tz);
  } else {
    char link[512];
    ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
    if (n > 0) {
      link[n] = '\0';
      const char *z = strstr(link, "zoneinfo/");
      if (z)
        snprintf(zone, sizeof zone, "%s", z + strlen("zoneinfo/"));
    }
  }
  if (!*zone || zone[0] == '/')
    return;
  const char *vals[1] = {zone};
  PGresult *r = PQexecParams(c, "SELECT set_config('TimeZone', $1, false)", 1, NULL, vals, NULL, NULL, 0);
  PQclear(r);                   /* an unknown zone keeps the server's */
}

static int pg_setup(struct db *db)
{
  PQsetNoticeProcessor(pgc(db), pg_notice, NULL);
  PGresult *r = PQexec(pgc(db), "SET client_min_messages = warning");
  PQclear(r);
  pg_set_timezone(pgc(db));
  return 0;
}

/* Re-opens a lost connection. Never inside a transaction: its work is gone with the connection. */
static int pg_reconnect(struct db *db)
{
  if (PQstatus(pgc(db)) == CONNECTION_OK)
    return 0;
  PQreset(pgc(db));
  if (PQstatus(pgc(db)) != CONNECTION_OK) {
    pg_seterr(db, "database connection lost, reconnecting failed", PQerrorMessage(pgc(db)));
    return -1;
  }
  pg_setup(db);
  return 0;
}

/* Before a statement: a connection lost outside a transaction is re-opened; inside one the
 * statement fails, so the caller rolls the whole transaction back and retries it later. */
static int pg_ready(struct db *db)
{
  if (PQstatus(pgc(db)) == CONNECTION_OK)
    return 0;
  if (db->in_tx) {
    db_seterr(db, "database connection lost in the middle of a transaction");
    return -1;
  }
  return pg_reconnect(db);
}

static int pg_connected(struct db *db)
{
  return PQstatus(pgc(db)) == CONNECTION_OK;
}

/* Runs a command result check: 0 when res is a success, else -1 with the error set. */
static int pg_result_ok(struct db *db, PGresult *res)
{
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    const char *n = PQcmdTuples(res);
    db->changes = n && *n ? strtoll(n, NULL, 10) : 0;
    return 0;
  }
  pg_seterr(db, NULL, res ? PQresultErrorMessage(res) : PQerrorMessage(pgc(db)));
  if (!db->err[0])
    pg_seterr(db, NULL, PQerrorMessage(pgc(db)));
  return -1;
}

static void pg_close(struct db *db)
{
  PQfinish(pgc(db));
}

static int pg_exec(struct db *db, const char *sql)
{
  /* ROLLBACK on a lost connection: the transaction is gone anyway */
  if (strcmp(sql, "ROLLBACK") == 0 && PQstatus(pgc(db)) != CONNECTION_OK)
    return 0;
  if (strcmp(sql, "ROLLBACK") != 0 && pg_ready(db) != 0)
    return -1;
  PGresult *res = PQexec(pgc(db), sql);
  int rc = pg_result_ok(db, res);
  PQclear(res);
  return rc;
}

/* rewrite's output: doubled when end reaches its capacity. 0, or -1 out of memory. */
static int room(char **out, size_t *cap, size_t end)
{
  if (end < *cap)
    return 0;
  char *n = realloc(*out, *cap * 2);
  if (!n)
    return -1;
  *out = n;
  *cap *= 2;
  return 0;
}

/* ?N -> $N (and a bare ? -> the next number), outside string literals, quoted identifiers and
 * comments. Records which numbers appear. */
static int rewrite(struct pg_stmt *p, const char *sql)
{
  size_t len = strlen(sql);
  char *out = malloc(len * 2 + 16);     /* grows below when "?1" -> "$1" needs more */
  size_t cap = len * 2 + 16, o = 0;
  unsigned char *used = calloc(PG_MAX_PARAMS + 1, 1);
  if (!out || !used) {
    free(out);
    free(used);
    return -1;
  }
  int maxn = 0;
  for (size_t i = 0; i < len;) {
    if (room(&out, &cap, o + 16) != 0)
      goto fail;
    char c = sql[i];
    if (c == '\'' || c == '"') {
      /* a literal or quoted identifier: copied as is ('' and "" stay inside) */
      out[o++] = sql[i++];
      while (i < len) {
        if (room(&out, &cap, o + 4) != 0)
          goto fail;
        char d = sql[i];
        out[o++] = sql[i++];
        if (d == c) {
          if (i < len && sql[i] == c) {
            out[o++] = sql[i++];
            continue;
          }
          break;
        }
      }
      continue;
    }
    if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
      while (i < len && sql[i] != '\n') {
        if (room(&out, &cap, o + 4) != 0)
          goto fail;
        out[o++] = sql[i++];
      }
      continue;
    }
    if (c == '?') {
      i++;
      long n = 0;
      size_t digits = 0;
      while (i < len && sql[i] >= '0' && sql[i] <= '9' && digits < 6) {
        n = n * 10 + (sql[i++] - '0');
        digits++;
      }
      if (!digits)
        n = maxn + 1;
      if (n < 1 || n > PG_MAX_PARAMS)
        goto fail;
      used[n] = 1;
      if (n > maxn)
        maxn = (int)n;
      o += (size_t)snprintf(out + o, cap - o, "$%ld", n);
      continue;
    }
    out[o++] = sql[i++];
  }
  out[o] = '\0';
  p->sql = out;
  p->nparams = maxn;
  p->used = used;
  return 0;
fail:
  free(out);
  free(used);
  return -1;
}

static void *pg_prepare(struct db *db, const char *sql)
{
  struct pg_stmt *p = calloc(1, sizeof *p);
  if (!p) {
    db_seterr(db, "out of memory");
    return NULL;
  }
  p->db = db;
  p->row = -1;
  if (rewrite(p, sql) != 0) {
    db_seterr(db, "cannot prepare statement: bad or too many parameters");
    free(p);
    return NULL;
  }
  if (p->nparams) {
    p->vals = calloc((size_t)p->nparams, sizeof *p->vals);
    if (!p->vals) {
      free(p->sql);
      free(p->used);
      free(p);
      db_seterr(db, "out of memory");
      return NULL;
    }
  }
  return p;
}

static void pg_clear_result(struct pg_stmt *p)
{
  PQclear(p->res);
  p->res = NULL;
  p->row = -1;
}

static void pg_reset(void *h)
{
  struct pg_stmt *p = h;
  pg_clear_result(p);
  db_params_clear(p->vals, p->nparams);
}

static void pg_finalize(void *h)
{
  struct pg_stmt *p = h;
  if (!p)
    return;
  pg_reset(p);
  free(p->vals);
  free(p->used);
  free(p->sql);
  free(p);
}

static int pg_bind_str(struct db_stmt *st, int idx, const char *s)
{
  struct pg_stmt *p = st->h;
  return db_param_set(st, p->vals, p->nparams, idx, s ? strdup(s) : NULL, !s);
}

static int pg_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
  char b[32];
  snprintf(b, sizeof b, "%lld", (long long)v);
  return pg_bind_str(st, idx, b);
}

static int pg_bind_double(struct db_stmt *st, int idx, double v)
{
  char b[64];
  snprintf(b, sizeof b, "%.17g", v);
  return pg_bind_str(st, idx, b);
}

static int pg_bind_text(struct db_stmt *st, int idx, const char *s)
{
  return pg_bind_str(st, idx, s);
}

static int pg_bind_null(struct db_stmt *st, int idx)
{
  return pg_bind_str(st, idx, NULL);
}

static enum db_step_result pg_step(struct db_stmt *st)
{
  struct pg_stmt *p = st->h;
  struct db *db = st->db;
  if (!p->res) {
    if (pg_ready(db) != 0)
      return DB_ERROR;
    /* a parameter the statement does not use has no context to infer a type from: text */
    Oid *types = NULL;
    if (p->nparams) {
      types = calloc((size_t)p->nparams, sizeof *types);
      if (!types) {
        db_seterr(db, "out of memory");
        return DB_ERROR;
      }
      for (int i = 0; i < p->nparams; i++)
        types[i] = p->used[i + 1] ? 0 : TEXTOID;
    }
    p->res = PQexecParams(pgc(db), p->sql, p->nparams, types, (const char *const *)p->vals, NULL,
                          NULL, 0);
    free(types);
    if (pg_result_ok(db, p->res) != 0) {
      pg_clear_result(p);
      return DB_ERROR;
    }
    p->row = 0;
  } else {
    p->row++;
  }
  if (PQresultStatus(p->res) == PGRES_TUPLES_OK && p->row < PQntuples(p->res))
    return DB_ROW;
  return DB_DONE;
}

static const char *pg_value(struct pg_stmt *p, int idx)
{
  if (!p->res || p->row < 0 || p->row >= PQntuples(p->res) || idx < 0 || idx >= PQnfields(p->res))
    return NULL;
  if (PQgetisnull(p->res, p->row, idx))
    return NULL;
  return PQgetvalue(p->res, p->row, idx);
}

/* Booleans come back as "t"/"f": 1/0, as SQLite gives comparisons (-1: not a boolean). */
static int pg_bool(const char *v)
{
  return v[0] == 't' && !v[1] ? 1 : v[0] == 'f' && !v[1] ? 0 : -1;
}

static int64_t pg_col_int64(void *h, int idx)
{
  const char *v = pg_value(h, idx);
  if (!v)
    return 0;
  int b = pg_bool(v);
  return b >= 0 ? b : db_text_int64(v);
}

static double pg_col_double(void *h, int idx)
{
  const char *v = pg_value(h, idx);
  if (!v)
    return 0;
  int b = pg_bool(v);
  return b >= 0 ? b : strtod(v, NULL);
}

static const char *pg_col_text(void *h, int idx)
{
  const char *v = pg_value(h, idx);
  return v ? v : "";
}

static int pg_col_is_null(void *h, int idx)
{
  return pg_value(h, idx) == NULL;
}

static int64_t pg_changes(struct db *db)
{
  return db->changes;
}

/* The sequence value the last INSERT on this session drew (callers should prefer RETURNING id). */
static int64_t pg_last_insert_id(struct db *db)
{
  PGresult *r = PQexec(pgc(db), "SELECT lastval()");
  int64_t v = 0;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

static int pg_lock_cmd(struct db *db, const char *fn)
{
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT %s(%lld)", fn, PG_MIGRATE_LOCK);
  return pg_exec(db, sql);
}

static int pg_migrate_lock(struct db *db)
{
  return pg_lock_cmd(db, "pg_advisory_lock");
}

static void pg_migrate_unlock(struct db *db)
{
  pg_lock_cmd(db, "pg_advisory_unlock");
}

static int pg_notify(struct db *db, const char *channel, const char *payload)
{
  if (pg_ready(db) != 0)
    return -1;
  const char *vals[2] = {channel, payload ? payload : ""};
  PGresult *r = PQexecParams(pgc(db), "SELECT pg_notify($1, $2)", 2, NULL, vals, NULL, NULL, 0);
  int rc = pg_result_ok(db, r);
  PQclear(r);
  return rc;
}

static int pg_listen(struct db *db, const char *channel)
{
  if (pg_ready(db) != 0)
    return -1;
  char *id = PQescapeIdentifier(pgc(db), channel, strlen(channel));
  if (!id) {
    pg_seterr(db, "LISTEN", PQerrorMessage(pgc(db)));
    return -1;
  }
  char sql[256];
  snprintf(sql, sizeof sql, "LISTEN %s", id);
  PQfreemem(id);
  return pg_exec(db, sql);
}

static int pg_socket(struct db *db)
{
  return PQstatus(pgc(db)) == CONNECTION_OK ? PQsocket(pgc(db)) : -1;
}

static int pg_notifications(struct db *db, db_notify_fn fn, void *ud)
{
  if (PQstatus(pgc(db)) != CONNECTION_OK) {
    db_seterr(db, "database connection lost");
    return -1;
  }
  if (!PQconsumeInput(pgc(db)) || PQstatus(pgc(db)) != CONNECTION_OK) {
    pg_seterr(db, "database connection lost", PQerrorMessage(pgc(db)));
    return -1;
  }
  int n = 0;
  PGnotify *nt;
  while ((nt = PQnotifies(pgc(db)))) {
    n++;
    if (fn)
      fn(ud, nt->relname, nt->extra ? nt->extra : "");
    PQfreemem(nt);
  }
  return n;
}

static const struct db_backend pg_backend = {
  .name = "postgres",
  .begin_sql = "BEGIN",
  .close = pg_close,
  .exec = pg_exec,
  .prepare = pg_prepare,
  .finalize = pg_finalize,
  .reset = pg_reset,
  .bind_int64 = pg_bind_int64,
  .bind_double = pg_bind_double,
  .bind_text = pg_bind_text,
  .bind_null = pg_bind_null,
  .step = pg_step,
  .col_int64 = pg_col_int64,
  .col_double = pg_col_double,
  .col_text = pg_col_text,
  .col_is_null = pg_col_is_null,
  .changes = pg_changes,
  .last_insert_id = pg_last_insert_id,
  .migrate_lock = pg_migrate_lock,
  .migrate_unlock = pg_migrate_unlock,
  .notify = pg_notify,
  .listen = pg_listen,
  .socket = pg_socket,
  .notifications = pg_notifications,
  .reconnect = pg_reconnect,
  .connected = pg_connected,
  .has_table_sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                   "AND table_name = ?1",
  .has_column_sql = "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = ?1 AND column_name = ?2",
  .migrations = schema_postgres,
};

#define PG_CONNECT_TIMEOUT_S "10"

struct db *pg_open(const char *conninfo, char *err, size_t errlen)
{
  struct db *db = calloc(1, sizeof *db);
  if (!db) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  db->be = &pg_backend;
  /* a database host that swallows packets must not hang a start, a reload or gwctl: a 10 s
   * connect_timeout unless the URL sets one (the expanded conninfo comes later and wins) */
  const char *const keys[] = {"connect_timeout", "dbname", NULL};
  const char *const vals[] = {PG_CONNECT_TIMEOUT_S, conninfo, NULL};
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  db->conn = c;
  if (!c || PQstatus(c) != CONNECTION_OK) {
    /* libpq's message names host and database, never the password */
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
      n--;
    int w = snprintf(err, errlen, "cannot connect to PostgreSQL: %.*s", (int)n, m);
    /* one line: libpq's hint comes after "\n\t" */
    for (size_t i = 0; err && i < errlen && (w < 0 || i < (size_t)w) && err[i]; i++)
      if (err[i] == '\n' || err[i] == '\t')
        err[i] = ' ';
    PQfinish(c);
    free(db);
    return NULL;
  }
  pg_setup(db);
  return db;
}
