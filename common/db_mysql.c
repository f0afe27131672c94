/*
 * db_mysql: the read-only MySQL / MariaDB backend (contract in db_mysql.h), on libmariadb.
 *
 * Owns: parsing mysql:// URLs (libcurl's URL parser), the MYSQL connection and its session
 * settings, and statements: ?N placeholders are replaced at run time by literals escaped with
 * mysql_real_escape_string (outside string literals, quoted identifiers and comments); each run's
 * result is buffered whole (mysql_store_result) and read row by row as text.
 * Callers: common/db.c through struct db_backend (mysql_open is the only entry point).
 * Never: writes, prints, or puts a password into a message (libmariadb's messages name the user
 * and host only).
 */
#include "db_mysql.h"
#include "db_backend.h"

#include <curl/curl.h>
#include <math.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the most ?N a statement may use (relay's read queries use a handful) */
#define MY_MAX_PARAMS 999
#define MY_CONNECT_TIMEOUT_S 10u

struct my_stmt {
  struct db *db;
  char *sql;                    /* as given, with ?N placeholders (owned) */
  int nparams;                  /* the highest N used */
  char **vals;                  /* nparams SQL literals, escaped and quoted (owned); NULL = NULL */
  MYSQL_RES *res;               /* the result of the last run; NULL before it or for no rows */
  MYSQL_ROW row;                /* the current row of res */
  unsigned nfields;
  int ran;                      /* the statement has run since the last reset */
};

/* No migrations: a MySQL database is only ever read. */
static const struct schema_migration no_migrations[] = { { 0, NULL, NULL } };

static MYSQL *myc(struct db *db) { return db->conn; }

static void my_seterr(struct db *db, const char *what)
{
  if (what)
    db_seterr(db, "%s: %s", what, mysql_error(myc(db)));
  else
    db_seterr(db, "%s", mysql_error(myc(db)));
}

static void my_close(struct db *db)
{
  mysql_close(myc(db));
}

/* Runs sql and drops any result it has. */
static int my_exec(struct db *db, const char *sql)
{
  if (mysql_real_query(myc(db), sql, strlen(sql)) != 0) {
    my_seterr(db, NULL);
    return -1;
  }
  MYSQL_RES *r = mysql_store_result(myc(db));
  if (!r && mysql_field_count(myc(db)) != 0) {
    my_seterr(db, NULL);
    return -1;
  }
  db->changes = r ? 0 : (int64_t)mysql_affected_rows(myc(db));
  if (r)
    mysql_free_result(r);
  return 0;
}

/* Calls fn for every ?N placeholder outside literals, quoted identifiers and comments, and for
 * every other run of text. Returns the highest N, or -1 for a bad placeholder. */
typedef int (*scan_fn)(void *ud, const char *text, size_t len, int param);

static int scan(const char *sql, scan_fn fn, void *ud)
{
  size_t len = strlen(sql), start = 0;
  int maxn = 0;
  for (size_t i = 0; i < len;) {
    char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      /* a literal or quoted identifier: doubled quotes stay inside; so do escaped ones in '' */
      for (i++; i < len; i++) {
        if (c == '\'' && sql[i] == '\\' && i + 1 < len) {
          i++;
          continue;
        }
        if (sql[i] == c) {
          if (i + 1 < len && sql[i + 1] == c) {
            i++;
            continue;
          }
          i++;
          break;
        }
      }
      continue;
    }
    if ((c == '-' && i + 1 < len && sql[i + 1] == '-') || c == '#') {
      while (i < len && sql[i] != '\n')
        i++;
      continue;
    }
    if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
      const char *end = strstr(sql + i + 2, "*/");
      i = end ? (size_t)(end - sql) + 2 : len;
      continue;
    }
    if (c != '?') {
      i++;
      continue;
    }
    if (fn && i > start && fn(ud, sql + start, i - start, 0) != 0)
      return -1;
    i++;
    long n = 0;
    size_t digits = 0;
    while (i < len && sql[i] >= '0' && sql[i] <= '9' && digits < 6) {
      n = n * 10 + (sql[i++] - '0');
      digits++;
    }
    if (!digits)
      n = maxn + 1;
    if (n < 1 || n > MY_MAX_PARAMS)
      return -1;
    if (n > maxn)
      maxn = (int)n;
    if (fn && fn(ud, NULL, 0, (int)n) != 0)
      return -1;
    start = i;
  }
  if (fn && len > start && fn(ud, sql + start, len - start, 0) != 0)
    return -1;
  return maxn;
}

static void *my_prepare(struct db *db, const char *sql)
{
  int n = scan(sql, NULL, NULL);
  struct my_stmt *p = calloc(1, sizeof *p);
  if (n < 0 || !p) {
    db_seterr(db, n < 0 ? "cannot prepare statement: bad or too many parameters" : "out of memory");
    free(p);
    return NULL;
  }
  p->db = db;
  p->nparams = n;
  p->sql = strdup(sql);
  p->vals = n ? calloc((size_t)n, sizeof *p->vals) : NULL;
  if (!p->sql || (n && !p->vals)) {
    free(p->sql);
    free(p->vals);
    free(p);
    db_seterr(db, "out of memory");
    return NULL;
  }
  return p;
}

static void my_clear_result(struct my_stmt *p)
{
  if (p->res)
    mysql_free_result(p->res);
  p->res = NULL;
  p->row = NULL;
  p->nfields = 0;
  p->ran = 0;
}

static void my_reset(void *h)
{
  struct my_stmt *p = h;
  my_clear_result(p);
  db_params_clear(p->vals, p->nparams);
}

static void my_finalize(void *h)
{
  struct my_stmt *p = h;
  if (!p)
    return;
  my_reset(p);
  free(p->vals);
  free(p->sql);
  free(p);
}

/* Stores literal (owned by the statement from now on) as parameter idx. */
static int my_bind_literal(struct db_stmt *st, int idx, char *literal, int null)
{
  struct my_stmt *p = st->h;
  return db_param_set(st, p->vals, p->nparams, idx, literal, null);
}

static int my_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
  char b[32];
  snprintf(b, sizeof b, "%lld", (long long)v);
  return my_bind_literal(st, idx, strdup(b), 0);
}

static int my_bind_double(struct db_stmt *st, int idx, double v)
{
  if (!isfinite(v))
    return my_bind_literal(st, idx, NULL, 1);     /* MySQL has no infinity: NULL */
  char b[64];
  snprintf(b, sizeof b, "%.17g", v);
  return my_bind_literal(st, idx, strdup(b), 0);
}

static int my_bind_text(struct db_stmt *st, int idx, const char *s)
{
  if (!s)
    return my_bind_literal(st, idx, NULL, 1);
  size_t n = strlen(s);
  char *lit = malloc(n * 2 + 3);
  if (!lit)
    return my_bind_literal(st, idx, NULL, 0);
  lit[0] = '\'';
  unsigned long w = mysql_real_escape_string(myc(st->db), lit + 1, s, (unsigned long)n);
  if (w == (unsigned long)-1) {
    free(lit);
    db_seterr(st->db, "cannot bind parameter ?%d: not valid in the connection's character set", idx);
    return -1;
  }
  lit[w + 1] = '\'';
  lit[w + 2] = '\0';
  return my_bind_literal(st, idx, lit, 0);
}

static int my_bind_null(struct db_stmt *st, int idx)
{
  return my_bind_literal(st, idx, NULL, 1);
}

/* The statement's text with its parameters substituted, grown as scan() hands over pieces. */
struct build {
  struct my_stmt *p;
  char *buf;
  size_t len, cap;
};

static int build_put(void *ud, const char *text, size_t len, int param)
{
  struct build *b = ud;
  if (param) {
    const char *v = b->p->vals[param - 1];
    text = v ? v : "NULL";
    len = strlen(text);
  }
  if (b->len + len + 1 > b->cap) {
    size_t cap = (b->len + len + 1) * 2;
    char *n = realloc(b->buf, cap);
    if (!n)
      return -1;
    b->buf = n;
    b->cap = cap;
  }
  memcpy(b->buf + b->len, text, len);
  b->len += len;
  b->buf[b->len] = '\0';
  return 0;
}

static enum db_step_result my_step(struct db_stmt *st)
{
  struct my_stmt *p = st->h;
  struct db *db = st->db;
  if (!p->ran) {
    struct build b = { .p = p };
    if (scan(p->sql, build_put, &b) < 0 || !b.buf) {
      free(b.buf);
      db_seterr(db, "out of memory");
      return DB_ERROR;
    }
    int rc = mysql_real_query(myc(db), b.buf, b.len);
    free(b.buf);
    if (rc != 0) {
      my_seterr(db, NULL);
      return DB_ERROR;
    }
    p->res = mysql_store_result(myc(db));
    if (!p->res && mysql_field_count(myc(db)) != 0) {
      my_seterr(db, NULL);
      return DB_ERROR;
    }
    db->changes = p->res ? 0 : (int64_t)mysql_affected_rows(myc(db));
    p->nfields = p->res ? mysql_num_fields(p->res) : 0;
    p->ran = 1;
  }
  if (!p->res)
    return DB_DONE;
  p->row = mysql_fetch_row(p->res);
  return p->row ? DB_ROW : DB_DONE;
}

/* The text of column idx of the current row; NULL for SQL NULL or no such column. libmariadb
 * ends every value of a buffered text-protocol row with a NUL. */
static const char *my_value(struct my_stmt *p, int idx)
{
  if (!p->row || idx < 0 || (unsigned)idx >= p->nfields)
    return NULL;
  return p->row[idx];
}

static int64_t my_col_int64(void *h, int idx)
{
  const char *v = my_value(h, idx);
  return v ? db_text_int64(v) : 0;      /* decimal/double: truncated, as SQLite does */
}

static double my_col_double(void *h, int idx)
{
  const char *v = my_value(h, idx);
  return v ? strtod(v, NULL) : 0;
}

static const char *my_col_text(void *h, int idx)
{
  const char *v = my_value(h, idx);
  return v ? v : "";
}

static int my_col_is_null(void *h, int idx)
{
  return my_value(h, idx) == NULL;
}

static int64_t my_changes(struct db *db)
{
  return db->changes;
}

static int64_t my_last_insert_id(struct db *db)
{
  return (int64_t)mysql_insert_id(myc(db));
}

static const struct db_backend mysql_backend = {
  .name = "mysql",
  .begin_sql = "START TRANSACTION READ ONLY",
  .close = my_close,
  .exec = my_exec,
  .prepare = my_prepare,
  .finalize = my_finalize,
  .reset = my_reset,
  .bind_int64 = my_bind_int64,
  .bind_double = my_bind_double,
  .bind_text = my_bind_text,
  .bind_null = my_bind_null,
  .step = my_step,
  .col_int64 = my_col_int64,
  .col_double = my_col_double,
  .col_text = my_col_text,
  .col_is_null = my_col_is_null,
  .changes = my_changes,
  .last_insert_id = my_last_insert_id,
  .has_table_sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND "
                   "table_name = ?1",
  .has_column_sql = "SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() AND "
                    "table_name = ?1 AND column_name = ?2",
  .migrations = no_migrations,
};

static int has_prefix(const char *s, const char *prefix)
{
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

int mysql_url_is(const char *url)
{
  return url && (has_prefix(url, "mysql://") || has_prefix(url, "mariadb://"));
}

/* The parts of a mysql:// URL (each owned, freed by url_free). */
struct my_url {
  char *user, *host, *db, *socket, *defaults_file;
  unsigned port;
};

static void url_free(struct my_url *u)
{
  free(u->user);
  free(u->host);
  free(u->db);
  free(u->socket);
  free(u->defaults_file);
}

/* One part of h, decoded, or NULL when the URL has none. */
static char *url_part(CURLU *h, CURLUPart what)
{
  char *v = NULL;
  if (curl_url_get(h, what, &v, CURLU_URLDECODE) != CURLUE_OK)
    return NULL;
  char *copy = strdup(v);
  curl_free(v);
  return copy;
}

static int parse_url(const char *url, struct my_url *u, char *err, size_t errlen)
{
  memset(u, 0, sizeof *u);
  CURLU *h = curl_url();
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc = -1;
  char *pw = NULL, *port = NULL, *path = NULL, *query = NULL;
  if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    snprintf(err, errlen, "not a valid mysql:// URL: use mysql://USER@HOST[:PORT]/DB or "
             "mysql://USER@localhost/DB?socket=PATH");
    goto out;
  }
  if (curl_url_get(h, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK) {
    snprintf(err, errlen, "a password in the URL would be visible to every local user: give it in "
             "$MYSQL_PWD or an option file ([client] password=, ~/.my.cnf or ?defaults_file=PATH)");
    goto out;
  }
  u->user = url_part(h, CURLUPART_USER);
  u->host = url_part(h, CURLUPART_HOST);
  if (curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
    char *end;
    long n = strtol(port, &end, 10);
    if (*end || n < 1 || n > 65535) {
      snprintf(err, errlen, "bad port in the URL");
      goto out;
    }
    u->port = (unsigned)n;
  }
  path = url_part(h, CURLUPART_PATH);
  if (!path || !path[0] || !path[1] || strchr(path + 1, '/')) {
    snprintf(err, errlen, "the URL names no database: use mysql://USER@HOST/DB");
    goto out;
  }
  u->db = strdup(path + 1);
  if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
    for (char *save = NULL, *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
      char *eq = strchr(kv, '=');
      char *val = eq ? curl_easy_unescape(NULL, eq + 1, 0, NULL) : NULL;
      size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
      char **slot = kl == 6 && strncmp(kv, "socket", 6) == 0 ? &u->socket
                  : kl == 13 && strncmp(kv, "defaults_file", 13) == 0 ? &u->defaults_file : NULL;
      if (!slot || !val || !*val) {
        snprintf(err, errlen, "unknown or empty URL parameter '%.*s' (known: socket=PATH, "
                 "defaults_file=PATH)", (int)(kl > 40 ? 40 : kl), kv);
        curl_free(val);
        goto out;
      }
      free(*slot);
      *slot = strdup(val);
      curl_free(val);
    }
  }
  if (!u->host || !u->db) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  rc = 0;
out:
  curl_free(pw);
  curl_free(port);
  curl_free(query);
  free(path);
  curl_url_cleanup(h);
  if (rc != 0)
    url_free(u);
  return rc;
}

struct db *mysql_open(const char *url, char *err, size_t errlen)
{
  struct my_url u;
  if (parse_url(url, &u, err, errlen) != 0)
    return NULL;
  struct db *db = calloc(1, sizeof *db);
  MYSQL *c = mysql_init(NULL);
  if (!db || !c) {
    snprintf(err, errlen, "out of memory");
    free(db);
    if (c)
      mysql_close(c);
    url_free(&u);
    return NULL;
  }
  db->be = &mysql_backend;
  db->conn = c;
  unsigned timeout = MY_CONNECT_TIMEOUT_S;
  mysql_optionsv(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  /* the [client] group of the option files: a password, TLS settings */
  mysql_optionsv(c, MYSQL_READ_DEFAULT_GROUP, "client");
  if (u.defaults_file)
    mysql_optionsv(c, MYSQL_READ_DEFAULT_FILE, u.defaults_file);
  const char *pw = getenv("MYSQL_PWD");
  if (!mysql_real_connect(c, u.host, u.user && *u.user ? u.user : NULL, pw && *pw ? pw : NULL,
                          u.db, u.port, u.socket, 0)) {
    snprintf(err, errlen, "cannot connect to MySQL/MariaDB: %s", mysql_error(c));
    db_close(db);
    url_free(&u);
    return NULL;
  }
  url_free(&u);
  /* "name" quotes identifiers as on the other backends; the session can only read */
  if (my_exec(db, "SET SESSION sql_mode = 'ANSI_QUOTES'") != 0
      || my_exec(db, "SET SESSION TRANSACTION READ ONLY") != 0) {
    snprintf(err, errlen, "cannot set up the MySQL/MariaDB session: %s", db->err);
    db_close(db);
    return NULL;
  }
  return db;
}
