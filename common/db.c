/*
 * db: the storage interface (see db.h) and its SQLite backend.
 *
 * Owns: parsing the database URL, opening the connection, the migrations runner, and the backend
 * table (struct db_backend, db_backend.h) through which every public function goes; the libpq
 * backend lives in db_pg.c, the read-only libmariadb one in db_mysql.c.
 * Callers: relayd (snapshot loader, writer thread), gwctl, gwtui, tests/unit/test_db.c.
 * Never: prints anything, exits, or echoes a database URL that may hold a password.
 */
#include "db.h"
#include "i18n.h"
#include "db_backend.h"
#include "db_mysql.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void db_seterr(struct db *db, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(db->err, sizeof db->err, fmt, ap);
  va_end(ap);
}

int64_t db_text_int64(const char *v)
{
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*end == '.' || *end == 'e' || *end == 'E')
    return (int64_t)strtod(v, NULL);
  return n;
}

int db_param_set(struct db_stmt *st, char **vals, int n, int idx, char *s, bool null)
{
  if (idx < 1 || idx > n) {
    free(s);
    db_seterr(st->db, "cannot bind parameter ?%d: column index out of range", idx);
    return -1;
  }
  if (!s && !null) {
    db_seterr(st->db, "out of memory");
    return -1;
  }
  free(vals[idx - 1]);
  vals[idx - 1] = s;
  return 0;
}

void db_params_clear(char **vals, int n)
{
  for (int i = 0; i < n; i++) {
    free(vals[i]);
    vals[i] = NULL;
  }
}

/* ---- SQLite backend ---------------------------------------------------------------------------- */

static sqlite3 *sq(struct db *db) { return db->conn; }

static void sqlite_seterr(struct db *db, const char *what)
{
  db_seterr(db, "%s: %s", what, sqlite3_errmsg(sq(db)));
}

static void sqlite_close(struct db *db)
{
  sqlite3_close(sq(db));        /* every statement is finalized by its owner first */
}

static int sqlite_exec(struct db *db, const char *sql)
{
  char *msg = NULL;
  if (sqlite3_exec(sq(db), sql, NULL, NULL, &msg) != SQLITE_OK) {
    db_seterr(db, "%s", msg ? msg : sqlite3_errmsg(sq(db)));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static void *sqlite_prepare(struct db *db, const char *sql)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(sq(db), sql, -1, &st, NULL) != SQLITE_OK) {
    sqlite_seterr(db, "cannot prepare statement");
    sqlite3_finalize(st);
    return NULL;
  }
  return st;
}

static void sqlite_finalize(void *h) { sqlite3_finalize(h); }

static void sqlite_reset(void *h)
{
  sqlite3_reset(h);
  sqlite3_clear_bindings(h);
}

static int sqlite_bindrc(struct db_stmt *st, int rc, int idx)
{
  if (rc == SQLITE_OK)
    return 0;
  db_seterr(st->db, "cannot bind parameter ?%d: %s", idx, sqlite3_errstr(rc));
  return -1;
}

static int sqlite_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
  return sqlite_bindrc(st, sqlite3_bind_int64(st->h, idx, v), idx);
}

static int sqlite_bind_double(struct db_stmt *st, int idx, double v)
{
  return sqlite_bindrc(st, sqlite3_bind_double(st->h, idx, v), idx);
}

static int sqlite_bind_text(struct db_stmt *st, int idx, const char *s)
{
  if (!s)
    return sqlite_bindrc(st, sqlite3_bind_null(st->h, idx), idx);
  return sqlite_bindrc(st, sqlite3_bind_text(st->h, idx, s, -1, SQLITE_TRANSIENT), idx);
}

/* The caller keeps s until the next reset (whose sqlite3_clear_bindings drops the reference) */
static int sqlite_bind_text_ref(struct db_stmt *st, int idx, const char *s)
{
  if (!s)
    return sqlite_bindrc(st, sqlite3_bind_null(st->h, idx), idx);
  return sqlite_bindrc(st, sqlite3_bind_text(st->h, idx, s, -1, SQLITE_STATIC), idx);
}

static int sqlite_bind_null(struct db_stmt *st, int idx)
{
  return sqlite_bindrc(st, sqlite3_bind_null(st->h, idx), idx);
}

static enum db_step_result sqlite_step(struct db_stmt *st)
{
  int rc = sqlite3_step(st->h);
  if (rc == SQLITE_ROW)
    return DB_ROW;
  if (rc == SQLITE_DONE)
    return DB_DONE;
  db_seterr(st->db, "%s", sqlite3_errmsg(sq(st->db)));
  return DB_ERROR;
}

static int64_t sqlite_col_int64(void *h, int idx) { return sqlite3_column_int64(h, idx); }
static double sqlite_col_double(void *h, int idx) { return sqlite3_column_double(h, idx); }

static const char *sqlite_col_text(void *h, int idx)
{
  const unsigned char *s = sqlite3_column_text(h, idx);
  return s ? (const char *)s : "";
}

static int sqlite_col_is_null(void *h, int idx)
{
  return sqlite3_column_type(h, idx) == SQLITE_NULL;
}

static int64_t sqlite_changes(struct db *db) { return sqlite3_changes64(sq(db)); }
static int64_t sqlite_last_insert_id(struct db *db) { return sqlite3_last_insert_rowid(sq(db)); }

static const struct db_backend sqlite_backend = {
  .name = "sqlite",
  .begin_sql = "BEGIN IMMEDIATE",
  .close = sqlite_close,
  .exec = sqlite_exec,
  .prepare = sqlite_prepare,
  .finalize = sqlite_finalize,
  .reset = sqlite_reset,
  .bind_int64 = sqlite_bind_int64,
  .bind_double = sqlite_bind_double,
  .bind_text = sqlite_bind_text,
  .bind_text_ref = sqlite_bind_text_ref,
  .bind_null = sqlite_bind_null,
  .step = sqlite_step,
  .col_int64 = sqlite_col_int64,
  .col_double = sqlite_col_double,
  .col_text = sqlite_col_text,
  .col_is_null = sqlite_col_is_null,
  .changes = sqlite_changes,
  .last_insert_id = sqlite_last_insert_id,
  .has_table_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
  .has_column_sql = "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2",
  .migrations = schema_sqlite,
};

/* Creates the missing directories above path (mode 0700: the database holds upstream secrets). */
static int make_parents(const char *path, char *err, size_t errlen)
{
  char dir[4096];
  int n = snprintf(dir, sizeof dir, "%s", path);
  if (n < 0 || (size_t)n >= sizeof dir) {
    snprintf(err, errlen, _("database path is longer than %zu bytes"), sizeof dir - 1);
    return -1;
  }
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return 0;
  *slash = '\0';
  for (char *p = dir + 1; ; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char c = *p;
    *p = '\0';
    struct stat sb;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST && !(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))) {
      snprintf(err, errlen, _("cannot create directory %s: %s"), dir, strerror(errno));
      return -1;
    }
    *p = c;
    if (c == '\0')
      break;
  }
  return 0;
}

/* Runs a one-row PRAGMA and copies its text result into out (may be NULL). */
static int sqlite_pragma(struct db *db, const char *sql, char *out, size_t outlen)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(sq(db), sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out) {
      const unsigned char *s = sqlite3_column_text(st, 0);
      snprintf(out, outlen, "%s", s ? (const char *)s : "");
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
      rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK)
    db_seterr(db, "%s: %s", sql, sqlite3_errmsg(sq(db)));
  sqlite3_finalize(st);
  return rc == SQLITE_OK ? 0 : -1;
}

/* existing: open a database file that must already exist, as it is (no directories created, no
 * journal-mode change): a foreign database to read from. */
/* Before the first connection: no memory statistics (nothing reads sqlite3_memory_used), so
 * SQLite's malloc and free do not take its global memory mutex (this build has no lookaside:
 * a log row costs ~15 of them on the writer). */
static void sqlite_global_setup(void)
{
  (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);   /* SQLITE_MISUSE once initialized: harmless */
}

static pthread_once_t sqlite_setup_once = PTHREAD_ONCE_INIT;

static struct db *sqlite_open(const char *path, int existing, int one_thread, char *err, size_t errlen)
{
  pthread_once(&sqlite_setup_once, sqlite_global_setup);
  int memory = strcmp(path, ":memory:") == 0;
  if (!*path) {
    snprintf(err, errlen, _("database URL 'sqlite:' has no path: use sqlite:PATH"));
    return NULL;
  }
  int created = 0;
  if (existing && !memory) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
      snprintf(err, errlen, _("cannot open database %s: %s"), path, strerror(errno));
      return NULL;
    }
  } else if (!memory) {
    struct stat sb;
    if (make_parents(path, err, errlen) != 0)
      return NULL;
    created = stat(path, &sb) != 0 && errno == ENOENT;
  }

  struct db *db = calloc(1, sizeof *db);
  if (!db) {
    snprintf(err, errlen, _("out of memory"));
    return NULL;
  }
  db->be = &sqlite_backend;
  sqlite3 *h = NULL;
  /* one_thread: SQLite's "multi-thread" mode for this connection: no mutex taken per call (bind,
   * step, reset: ~60 a log row on the writer) */
  int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | (existing ? 0 : SQLITE_OPEN_CREATE)
                                         | (one_thread ? SQLITE_OPEN_NOMUTEX : 0), NULL);
  db->conn = h;
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, _("cannot open database %s: %s"), path,
             h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_close(h);
    free(db);
    return NULL;
  }
  /* The database holds upstream secrets: a new file is private. chmod, not open()+fchmod(): closing
   * any descriptor of the file would drop the POSIX locks of every other connection of this process
   * to it (SQLite's locks), and another connection would then checkpoint and remove the WAL under
   * it. SQLite gives the -wal and -shm files the mode of the database file. */
  if (created && chmod(path, 0600) != 0) {
    snprintf(err, errlen, _("cannot make database %s private: %s"), path, strerror(errno));
    db_close(db);
    return NULL;
  }
  sqlite3_extended_result_codes(h, 1);
  sqlite3_busy_timeout(h, 5000);
  if (existing)
    return db;

  /* The database is a ledger. WAL + synchronous=FULL: every commit (one writer batch) is fsynced
   * before it returns, so a committed charge survives a power loss or OS crash, not only a crash of
   * relayd (NORMAL would survive a process crash but could roll the last commits back on power
   * loss). The cost is one fsync per batch (every 50 ms at most), not per request. */
  char mode[32] = "";
  if (sqlite_pragma(db, "PRAGMA journal_mode=WAL", mode, sizeof mode) != 0
      || sqlite_pragma(db, "PRAGMA synchronous=FULL", NULL, 0) != 0
      || sqlite_pragma(db, "PRAGMA foreign_keys=ON", NULL, 0) != 0) {
    snprintf(err, errlen, _("cannot set up database %s: %s"), path, db->err);
    db_close(db);
    return NULL;
  }
  if (!memory && strcmp(mode, "wal") != 0) {
    snprintf(err, errlen, _("database %s cannot use WAL mode (journal_mode is '%s')"), path, mode);
    db_close(db);
    return NULL;
  }
  return db;
}

/* ---- migrations --------------------------------------------------------------------------------- */

/* Reads the highest applied version into *v. */
static int read_version(struct db *db, int *v)
{
  struct db_stmt *st = db_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!st)
    return -1;
  int rc = db_step(st) == DB_ROW ? 0 : -1;
  if (rc == 0)
    *v = (int)db_col_int64(st, 0);
  db_finalize(st);
  return rc;
}

/* Whether migration version v is recorded as applied (an error counts as not applied: applying it
 * then fails loudly). */
static int migration_applied(struct db *db, int v)
{
  struct db_stmt *st = db_prepare(db, "SELECT 1 FROM schema_migrations WHERE version = ?1");
  if (!st)
    return 0;
  db_bind_int64(st, 1, v);
  int found = db_step(st) == DB_ROW;
  db_finalize(st);
  return found;
}

static int apply_one(struct db *db, const struct schema_migration *m)
{
  if (db->be->exec(db, m->sql) != 0)
    return -1;
  struct db_stmt *st = db_prepare(db,
      "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?1, ?2, ?3)");
  if (!st)
    return -1;
  int rc = db_bind_int64(st, 1, m->version) == 0 && db_bind_text(st, 2, m->name) == 0
           && db_bind_int64(st, 3, (int64_t)time(NULL)) == 0 && db_step(st) == DB_DONE ? 0 : -1;
  db_finalize(st);
  return rc;
}

static int migrate_locked(struct db *db, char *err, size_t errlen);

/* Another process may migrate the same database at the same moment: the backend serializes them
 * (SQLite: BEGIN IMMEDIATE below; PostgreSQL: an advisory lock around the whole run). */
static int migrate(struct db *db, char *err, size_t errlen)
{
  if (db->be->migrate_lock && db->be->migrate_lock(db) != 0) {
    snprintf(err, errlen, _("cannot lock the schema for migration: %s"), db->err);
    return -1;
  }
  int rc = migrate_locked(db, err, errlen);
  if (db->be->migrate_unlock)
    db->be->migrate_unlock(db);
  return rc;
}

static int migrate_locked(struct db *db, char *err, size_t errlen)
{
  const struct schema_migration *m = db->be->migrations;
  int latest = 0;
  for (const struct schema_migration *p = m; p->version; p++)
    if (p->version > latest)
      latest = p->version;

  if (db_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)") != 0
      || read_version(db, &db->version) != 0) {
    snprintf(err, errlen, _("cannot read the schema version: %s"), db->err);
    return -1;
  }
  if (db->version > latest) {
    snprintf(err, errlen, _("database schema version %d is newer than this build of relay knows "
             "(%d): upgrade relay"), db->version, latest);
    return -1;
  }
  for (; m->version; m++) {
    /* a migration is applied when it is missing, even below the highest applied one: helpers'
     * migrations may land out of numeric order */
    if (migration_applied(db, m->version))
      continue;
    /* BEGIN IMMEDIATE takes the write lock, so a second process starting now waits here and then
     * sees the version this one wrote. */
    if (db_begin(db) != 0) {
      snprintf(err, errlen, _("cannot start migration %s: %s"), m->name, db->err);
      return -1;
    }
    if (migration_applied(db, m->version)) {
      db_rollback(db);
      continue;
    }
    if (apply_one(db, m) != 0) {
      snprintf(err, errlen, _("migration %s failed: %s"), m->name, db->err);
      db_rollback(db);
      return -1;
    }
    if (db_commit(db) != 0) {
      snprintf(err, errlen, _("migration %s failed to commit: %s"), m->name, db->err);
      db_rollback(db);
      return -1;
    }
    if (m->version > db->version)
      db->version = m->version;
  }
  return 0;
}

/* ---- public interface --------------------------------------------------------------------------- */

static int has_prefix(const char *s, const char *prefix)
{
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

int db_url_is_postgres(const char *url)
{
  if (!url)
    return 0;
  if (has_prefix(url, "postgres://") || has_prefix(url, "postgresql://"))
    return 1;
  /* a libpq key=value string: "host=... dbname=..." */
  if (has_prefix(url, "sqlite:") || strstr(url, "://"))
    return 0;
  const char *eq = strchr(url, '=');
  if (!eq || eq == url)
    return 0;
  for (const char *p = url; p < eq; p++)
    if (!((*p >= 'a' && *p <= 'z') || *p == '_' || *p == ' '))
      return 0;
  return 1;
}

void db_url_redact(const char *url, char *out, size_t outlen)
{
  if (!url) {
    snprintf(out, outlen, "%s", "");
    return;
  }
  const char *scheme = strstr(url, "://");
  if (scheme) {
    /* scheme://user:password@host...: the password goes */
    const char *auth = scheme + 3;
    const char *at = strchr(auth, '@');
    const char *slash = strchr(auth, '/');
    const char *colon = strchr(auth, ':');
    if (at && (!slash || at < slash) && colon && colon < at) {
      snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
      return;
    }
    const char *pw = strstr(url, "password=");
    if (pw) {                   /* ...?password=x&... */
      const char *end = pw + strcspn(pw, "&");
      snprintf(out, outlen, "%.*spassword=***%s", (int)(pw - url), url, end);
      return;
    }
    snprintf(out, outlen, "%s", url);
    return;
  }
  const char *pw = strstr(url, "password");
  if (pw && (pw == url || pw[-1] == ' ')) {
    const char *eq = pw + strlen("password");
    while (*eq == ' ')
      eq++;
    if (*eq == '=') {
      eq++;
      while (*eq == ' ')
        eq++;
      const char *end = eq;
      if (*end == '\'') {
        for (end++; *end && *end != '\''; end++)
          if (*end == '\\' && end[1])
            end++;
        if (*end)
          end++;
      } else {
        end += strcspn(end, " ");
      }
      snprintf(out, outlen, "%.*s***%s", (int)(eq - url), url, end);
      return;
    }
  }
  snprintf(out, outlen, "%s", url);
}

static struct db *open_url(const char *url, int existing, int one_thread, char *err, size_t errlen)
{
  struct db *db = NULL;
  if (!url || !*url) {
    snprintf(err, errlen, _("no database URL: use sqlite:PATH or postgres://..."));
    return NULL;
  }
  if (has_prefix(url, "sqlite:")) {
    db = sqlite_open(url + strlen("sqlite:"), existing, one_thread, err, errlen);
  } else if (db_url_is_postgres(url)) {
    db = pg_open(url, err, errlen);
  } else if (mysql_url_is(url)) {
    snprintf(err, errlen, _("MySQL/MariaDB is read only as a source to import from (gwctl import "
             "oneapi --from mysql://...): relay's own database is SQLite or PostgreSQL"));
    return NULL;
  } else {
    char shown[512];
    db_url_redact(url, shown, sizeof shown);
    snprintf(err, errlen, _("unsupported database URL '%s': use sqlite:PATH, postgres://... or a "
             "libpq key=value string"), shown);
    return NULL;
  }
  if (!db || existing)
    return db;
  if (migrate(db, err, errlen) != 0) {
    db_close(db);
    return NULL;
  }
  return db;
}

struct db *db_open(const char *url, char *err, size_t errlen)
{
  return open_url(url, 0, 0, err, errlen);
}

struct db *db_open_one_thread(const char *url, char *err, size_t errlen)
{
  return open_url(url, 0, 1, err, errlen);
}

const char *db_backend_name(struct db *db)
{
  return db->be->name;
}

struct db *db_open_existing(const char *url, char *err, size_t errlen)
{
  if (db_url_is_postgres(url))
    return pg_open(url, err, errlen);   /* read as it is: no migrations */
  if (mysql_url_is(url))
    return mysql_open(url, err, errlen);
  if (!url || !has_prefix(url, "sqlite:") || !url[strlen("sqlite:")]) {
    snprintf(err, errlen, _("unsupported database URL: use sqlite:PATH, postgres://..., a libpq "
             "key=value string or mysql://..."));
    return NULL;
  }
  const char *path = url + strlen("sqlite:");
  struct db *db = calloc(1, sizeof *db);
  if (!db) {
    snprintf(err, errlen, _("out of memory"));
    return NULL;
  }
  db->be = &sqlite_backend;
  sqlite3 *h = NULL;
  pthread_once(&sqlite_setup_once, sqlite_global_setup);
  int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL);
  db->conn = h;
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, _("cannot open database %s read-only: %s"), path,
             h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    db_close(db);
    return NULL;
  }
  sqlite3_extended_result_codes(h, 1);
  sqlite3_busy_timeout(h, 5000);
  /* an empty or non-database file fails here rather than at the first query */
  if (sqlite3_exec(h, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
    snprintf(err, errlen, _("%s is not a readable SQLite database: %s"), path, sqlite3_errmsg(h));
    db_close(db);
    return NULL;
  }
  return db;
}

void db_close(struct db *db)
{
  if (!db)
    return;
  db->be->close(db);
  free(db);
}

const char *db_errmsg(struct db *db)
{
  return db->err;
}

int db_exec(struct db *db, const char *sql)
{
  return db->be->exec(db, sql);
}

int db_begin(struct db *db)
{
  if (db->be->exec(db, db->be->begin_sql) != 0)
    return -1;
  db->in_tx = true;
  return 0;
}

int db_commit(struct db *db)
{
  int rc = db->be->exec(db, "COMMIT");
  if (rc == 0)
    db->in_tx = false;
  return rc;
}

int db_rollback(struct db *db)
{
  /* keep the message of the failure that made the caller roll back */
  char saved[DB_ERR_MAX];
  snprintf(saved, sizeof saved, "%s", db->err);
  int rc = db->be->exec(db, "ROLLBACK");
  db->in_tx = false;
  snprintf(db->err, sizeof db->err, "%s", saved);
  return rc;
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
  void *h = db->be->prepare(db, sql);
  if (!h)
    return NULL;
  struct db_stmt *st = malloc(sizeof *st);
  if (!st) {
    db->be->finalize(h);
    db_seterr(db, "out of memory");
    return NULL;
  }
  st->db = db;
  st->h = h;
  return st;
}

void db_finalize(struct db_stmt *st)
{
  if (!st)
    return;
  st->db->be->finalize(st->h);
  free(st);
}

void db_reset(struct db_stmt *st)
{
  st->db->be->reset(st->h);
}

int db_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
  return st->db->be->bind_int64(st, idx, v);
}

int db_bind_double(struct db_stmt *st, int idx, double v)
{
  return st->db->be->bind_double(st, idx, v);
}

int db_bind_text(struct db_stmt *st, int idx, const char *s)
{
  return st->db->be->bind_text(st, idx, s);
}

int db_bind_text_ref(struct db_stmt *st, int idx, const char *s)
{
  if (st->db->be->bind_text_ref)
    return st->db->be->bind_text_ref(st, idx, s);
  return st->db->be->bind_text(st, idx, s);
}

int db_bind_null(struct db_stmt *st, int idx)
{
  return st->db->be->bind_null(st, idx);
}

enum db_step_result db_step(struct db_stmt *st)
{
  return st->db->be->step(st);
}

int64_t db_col_int64(struct db_stmt *st, int idx)
{
  return st->db->be->col_int64(st->h, idx);
}

double db_col_double(struct db_stmt *st, int idx)
{
  return st->db->be->col_double(st->h, idx);
}

const char *db_col_text(struct db_stmt *st, int idx)
{
  return st->db->be->col_text(st->h, idx);
}

int db_col_is_null(struct db_stmt *st, int idx)
{
  return st->db->be->col_is_null(st->h, idx);
}

int64_t db_changes(struct db *db)
{
  return db->be->changes(db);
}

int64_t db_last_insert_id(struct db *db)
{
  return db->be->last_insert_id(db);
}

static int catalog_has(struct db *db, const char *sql, const char *table, const char *column)
{
  struct db_stmt *st = db_prepare(db, sql);
  if (!st)
    return -1;
  enum db_step_result r = DB_ERROR;
  if (db_bind_text(st, 1, table) == 0 && (!column || db_bind_text(st, 2, column) == 0))
    r = db_step(st);
  db_finalize(st);
  return r == DB_ROW ? 1 : r == DB_DONE ? 0 : -1;
}

int db_has_table(struct db *db, const char *table)
{
  return catalog_has(db, db->be->has_table_sql, table, NULL);
}

int db_has_column(struct db *db, const char *table, const char *column)
{
  return catalog_has(db, db->be->has_column_sql, table, column);
}

int db_schema_version(struct db *db)
{
  return db->version;
}

int db_identity(struct db *db, char *out, size_t outlen)
{
  out[0] = '\0';
  struct db_stmt *st = db_prepare(db, "SELECT value FROM meta WHERE key = 'database_id'");
  if (!st)
    return -1;
  int rc = db_step(st);
  if (rc == DB_ROW)
    snprintf(out, outlen, "%s", db_col_text(st, 0));
  db_finalize(st);
  return rc == DB_ERROR ? -1 : out[0] ? 0 : -1;
}

int db_notify(struct db *db, const char *channel, const char *payload)
{
  return db->be->notify ? db->be->notify(db, channel, payload) : 0;
}

int db_listen(struct db *db, const char *channel)
{
  if (!db->be->listen) {
    db_seterr(db, "%s has no notifications", db->be->name);
    return -1;
  }
  return db->be->listen(db, channel);
}

int db_socket(struct db *db)
{
  return db->be->socket ? db->be->socket(db) : -1;
}

int db_notifications(struct db *db, db_notify_fn fn, void *ud)
{
  return db->be->notifications ? db->be->notifications(db, fn, ud) : 0;
}

int db_reconnect(struct db *db)
{
  return db->be->reconnect ? db->be->reconnect(db) : 0;
}

int db_connected(struct db *db)
{
  return db->be->connected ? db->be->connected(db) : 1;
}
