/*
 * test_db: unit test of common/db.c on a temporary SQLite file; prints TAP ("ok N - ...", then "1..N").
 *
 * Covers: URL handling, migrations (applied once, recorded, refused when the file is newer than the
 * build), the PRAGMAs, the statement API (bind, step, columns, reset), transactions (a rollback
 * leaves nothing), errors, and the private file mode.
 * Never: touches anything outside its own mkdtemp() directory, which it removes at the end.
 */
#include "db.h"
#include "schema_sql.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int tests, failures;

__attribute__((format(printf, 2, 3)))
static void check(int ok, const char *fmt, ...)
{
  va_list ap;
  printf("%sok %d - ", ok ? "" : "not ", ++tests);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  if (!ok)
    failures++;
}

/* One integer from a query without parameters; -1 on error. */
static int64_t scalar(struct db *db, const char *sql)
{
  struct db_stmt *st = db_prepare(db, sql);
  int64_t v = -1;
  if (st && db_step(st) == DB_ROW)
    v = db_col_int64(st, 0);
  db_finalize(st);
  return v;
}

static int text_is(struct db *db, const char *sql, const char *want)
{
  struct db_stmt *st = db_prepare(db, sql);
  int ok = st && db_step(st) == DB_ROW && strcmp(db_col_text(st, 0), want) == 0;
  db_finalize(st);
  return ok;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

/* `test_db --insert URL`: the other process of test_two_connections. A real process (exec), not a
 * fork: a forked child inherits SQLite's in-process lock bookkeeping and hides the bug. */
static int child_insert(const char *url)
{
  char err[512];
  struct db *c = db_open(url, err, sizeof err);
  int ok = c && db_exec(c, "INSERT INTO users(username) VALUES ('child-' || random())") == 0;
  db_close(c);
  return ok ? 0 : 1;
}

/* Another process writes and closes while this one holds two connections. Regression: db_open used
 * to open()+close() the file, which dropped this process's SQLite locks; the other process then
 * believed it was the last user and removed the WAL, and this process kept reading old data. */
static void test_two_connections(const char *url)
{
  char err[512] = "";
  struct db *a = db_open(url, err, sizeof err);
  struct db *b = db_open(url, err, sizeof err);
  check(a && b, "two connections in one process%s%s", a && b ? "" : ": ", err);
  if (!a || !b) {
    db_close(a);
    db_close(b);
    return;
  }
  int64_t before = scalar(a, "SELECT COUNT(*) FROM users");
  struct stat wal, shm, dbf;
  char path[600];
  const char *file = url + strlen("sqlite:");
  snprintf(path, sizeof path, "%s-wal", file);
  int ok = stat(path, &wal) == 0;
  snprintf(path, sizeof path, "%s-shm", file);
  ok = ok && stat(path, &shm) == 0 && stat(file, &dbf) == 0;
  check(ok && (wal.st_mode & 0777) == (dbf.st_mode & 0777)
        && (shm.st_mode & 0777) == (dbf.st_mode & 0777),
        "the -wal and -shm files have the database's mode");
  /* several rounds: the first close removed the WAL, later writes went to a WAL the old
   * connection never saw */
  for (int round = 1; round <= 3; round++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      execl("/proc/self/exe", "test_db", "--insert", url, (char *)NULL);
      _exit(127);
    }
    int status = 1;
    int child_ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
                   && WEXITSTATUS(status) == 0;
    db_begin(a);
    int64_t n = scalar(a, "SELECT COUNT(*) FROM users");
    db_rollback(a);
    check(child_ok && n == before + round,
          "a connection sees commit %d of another process (%lld users, want %lld)", round,
          (long long)n, (long long)(before + round));
  }
  check(scalar(b, "SELECT COUNT(*) FROM users") == before + 3, "so does the second connection");
  db_close(b);
  db_close(a);
}

static void test_urls(void)
{
  char err[256] = "";
  struct db *db = db_open("oracle://root:secret@localhost/relay", err, sizeof err);
  check(!db && strstr(err, "unsupported database URL") && strstr(err, "use sqlite:PATH"),
        "an unknown scheme is refused: %s", err);
  check(!strstr(err, "secret"), "the refusal does not echo the password");
  db_close(db);
  /* MySQL/MariaDB: only ever read, as an import source; its password never in the URL */
  db = db_open("mysql://root:secret@localhost/relay", err, sizeof err);
  check(!db && strstr(err, "read only as a source to import from") && !strstr(err, "secret"),
        "relay's own database is never MySQL: %s", err);
  db_close(db);
  db = db_open_existing("mysql://root:secret@localhost/relay", err, sizeof err);
  check(!db && strstr(err, "password in the URL") && !strstr(err, "secret"),
        "a mysql:// URL with a password is refused before connecting, not echoed: %s", err);
  db_close(db);
  db = db_open_existing("mariadb://root@localhost/", err, sizeof err);
  check(!db && strstr(err, "names no database"), "a mysql:// URL must name a database: %s", err);
  db_close(db);
  db = db_open_existing("mysql://root@localhost/relay?sslmode=require", err, sizeof err);
  check(!db && strstr(err, "unknown or empty URL parameter 'sslmode'"),
        "an unknown URL parameter is refused: %s", err);
  db_close(db);
  db = db_open_existing("mysql://root@localhost/relay?socket=/nonexistent-relay-dir/s.sock", err,
                        sizeof err);
  check(!db && strstr(err, "cannot connect to MySQL/MariaDB"), "no server: %s", err);
  db_close(db);
  db = db_open("postgres://u:secret@/db?host=/nonexistent-relay-dir", err, sizeof err);
  check(!db && strstr(err, "PostgreSQL") && !strstr(err, "secret"),
        "postgres:// with no server is refused without echoing the password: %s", err);
  db_close(db);
  check(db_url_is_postgres("postgres://h/db") && db_url_is_postgres("postgresql:///db?host=/x")
        && db_url_is_postgres("host=/tmp dbname=relay") && db_url_is_postgres("dbname=relay")
        && !db_url_is_postgres("sqlite:x.db") && !db_url_is_postgres("mysql://h/db")
        && !db_url_is_postgres("relay.db") && !db_url_is_postgres("/tmp/a=b"),
        "postgres://, postgresql:// and key=value strings are PostgreSQL; nothing else is");
  char red[256];
  db_url_redact("postgres://u:secret@h:5432/db", red, sizeof red);
  check(strcmp(red, "postgres://u:***@h:5432/db") == 0, "URL password redacted: %s", red);
  db_url_redact("postgresql://h/db?user=u&password=secret&sslmode=off", red, sizeof red);
  check(strcmp(red, "postgresql://h/db?user=u&password=***&sslmode=off") == 0,
        "URL password parameter redacted: %s", red);
  db_url_redact("host=h password='se cret' dbname=d", red, sizeof red);
  check(strcmp(red, "host=h password=*** dbname=d") == 0, "key=value password redacted: %s", red);
  db_url_redact("sqlite:data/relay.db", red, sizeof red);
  check(strcmp(red, "sqlite:data/relay.db") == 0, "nothing to redact: %s", red);
  db = db_open("sqlite:", err, sizeof err);
  check(!db && strstr(err, "no path"), "sqlite: without a path is refused: %s", err);
  db_close(db);
}

/* sql/sqlite/ and sql/postgres/ must hold the same migration numbers (each a twin of the other). */
static void test_twins(void)
{
  const struct schema_migration *a = schema_sqlite, *b = schema_postgres;
  int same = 1, n = 0;
  for (; a->version || b->version; a++, b++, n++) {
    if (a->version != b->version) {
      printf("# sql/sqlite has %s, sql/postgres has %s at position %d\n", a->version ? a->name : "nothing",
             b->version ? b->name : "nothing", n + 1);
      same = 0;
      break;
    }
  }
  check(same && n > 0, "sql/sqlite and sql/postgres hold the same %d migration numbers", n);
}

static void test_statements(struct db *db)
{
  struct db_stmt *st = db_prepare(db, "INSERT INTO users(username, quota, \"group\") "
                                      "VALUES (?1, ?2, ?3)");
  check(st != NULL, "prepare an INSERT with ?1 ?2 ?3");
  int ok = st && db_bind_text(st, 1, "alice") == 0 && db_bind_int64(st, 2, INT64_C(5000000000)) == 0
           && db_bind_text(st, 3, "vip") == 0 && db_step(st) == DB_DONE;
  check(ok, "bind text and int64, step to DB_DONE");
  check(db_changes(db) == 1, "db_changes is 1 after one INSERT");
  int64_t alice = db_last_insert_id(db);
  check(alice > 0, "db_last_insert_id is the new row id (%lld)", (long long)alice);

  if (st) {
    db_reset(st);
    ok = db_bind_text(st, 1, "bob") == 0 && db_bind_int64(st, 2, 7) == 0
         && db_bind_text(st, 3, "default") == 0 && db_step(st) == DB_DONE;
    check(ok && db_last_insert_id(db) == alice + 1, "db_reset lets the statement run again");
    db_reset(st);
    ok = db_bind_text(st, 1, "alice") == 0 && db_bind_int64(st, 2, 1) == 0
         && db_bind_text(st, 3, "x") == 0;
    check(ok && db_step(st) == DB_ERROR && strstr(db_errmsg(db), "UNIQUE"),
          "a duplicate username fails with the database's message: %s", db_errmsg(db));
  }
  db_finalize(st);

  st = db_prepare(db, "SELECT username, quota, \"group\", NULL, 2.5, ?1 FROM users WHERE id = ?2");
  ok = st && db_bind_null(st, 1) == 0 && db_bind_int64(st, 2, alice) == 0 && db_step(st) == DB_ROW;
  check(ok, "select the row back");
  if (ok) {
    check(strcmp(db_col_text(st, 0), "alice") == 0, "db_col_text reads text");
    check(db_col_int64(st, 1) == INT64_C(5000000000), "db_col_int64 reads a 64-bit value");
    check(strcmp(db_col_text(st, 2), "vip") == 0, "a quoted \"group\" column reads back");
    check(db_col_is_null(st, 3) && strcmp(db_col_text(st, 3), "") == 0,
          "NULL is null and reads as \"\"");
    check(db_col_double(st, 4) == 2.5, "db_col_double reads a real");
    check(db_col_is_null(st, 5), "db_bind_null binds NULL");
    check(!db_col_is_null(st, 0), "a text column is not null");
    check(db_step(st) == DB_DONE, "one row, then DB_DONE");
  }
  db_finalize(st);

  st = db_prepare(db, "SELECT ?1");
  ok = st && db_bind_text(st, 1, NULL) == 0 && db_step(st) == DB_ROW && db_col_is_null(st, 0);
  check(ok, "db_bind_text(NULL) binds NULL");
  db_finalize(st);
  st = db_prepare(db, "SELECT ?1");
  ok = st && db_bind_double(st, 1, 0.125) == 0 && db_step(st) == DB_ROW && db_col_double(st, 0) == 0.125;
  check(ok, "db_bind_double round-trips");
  db_finalize(st);

  st = db_prepare(db, "SELECT nope FROM nowhere");
  check(!st && strstr(db_errmsg(db), "no such table"), "a bad statement fails to prepare: %s",
        db_errmsg(db));
  check(db_exec(db, "INSERT INTO tokens(user_id, name, key_hash) VALUES (999, 't', 'h')") != 0
        && strstr(db_errmsg(db), "FOREIGN KEY"), "foreign keys are enforced: %s", db_errmsg(db));
}

/* db_bind_text_ref (the writer's log rows): the text is the caller's until the next reset, and
 * what the row holds is what the buffer held at the step, not what it holds later. */
static void test_bind_ref(const char *url)
{
  char err[512] = "";
  struct db *db = db_open_one_thread(url, err, sizeof err);
  check(db != NULL, "db_open_one_thread opens the same database%s%s", db ? "" : ": ", err);
  if (!db)
    return;
  struct db_stmt *st = db_prepare(db, "INSERT INTO users(username, \"group\") VALUES (?1, ?2)");
  char name[32], group[16];
  int ok = st != NULL;
  for (int i = 0; ok && i < 3; i++) {
    snprintf(name, sizeof name, "ref-%d", i);
    snprintf(group, sizeof group, "g%d", i);
    db_reset(st);
    ok = db_bind_text_ref(st, 1, name) == 0 && db_bind_text_ref(st, 2, group) == 0
         && db_step(st) == DB_DONE;
  }
  check(ok, "three rows bound by reference from one reused buffer");
  db_reset(st);
  snprintf(name, sizeof name, "overwritten");   /* after the reset: the statement no longer reads it */
  check(db_bind_text_ref(st, 1, NULL) == 0 && db_bind_text_ref(st, 2, "x") == 0
        && db_step(st) == DB_ERROR, "db_bind_text_ref(NULL) binds NULL (username NOT NULL refuses it)");
  db_finalize(st);
  check(scalar(db, "SELECT COUNT(*) FROM users WHERE username IN ('ref-0', 'ref-1', 'ref-2')") == 3
        && scalar(db, "SELECT COUNT(*) FROM users WHERE username = 'ref-2' AND \"group\" = 'g2'") == 1
        && scalar(db, "SELECT COUNT(*) FROM users WHERE username = 'overwritten'") == 0,
        "each row holds the text its step saw");
  db_close(db);
}

static void test_transactions(struct db *db)
{
  int64_t before = scalar(db, "SELECT COUNT(*) FROM users");
  check(db_begin(db) == 0, "db_begin");
  check(db_exec(db, "INSERT INTO users(username) VALUES ('carol')") == 0, "insert inside");
  check(scalar(db, "SELECT COUNT(*) FROM users") == before + 1, "the insert is visible inside");
  check(db_begin(db) != 0, "a nested db_begin fails");
  check(db_rollback(db) == 0, "db_rollback");
  check(scalar(db, "SELECT COUNT(*) FROM users") == before, "a rollback leaves nothing");

  check(db_begin(db) == 0 && db_exec(db, "INSERT INTO users(username) VALUES ('dave')") == 0
        && db_commit(db) == 0, "begin, insert, commit");
  check(scalar(db, "SELECT COUNT(*) FROM users") == before + 1, "a commit keeps the row");
  check(db_commit(db) != 0, "db_commit without a transaction fails");
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "--insert") == 0)
    return child_insert(argv[2]);
  char dir[] = "/tmp/relay-test-db.XXXXXX", url[600], path[512];
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char err[512] = "";
  int latest = 0, nmig = 0;
  for (const struct schema_migration *m = schema_sqlite; m->version; m++, nmig++)
    if (m->version > latest)
      latest = m->version;

  test_urls();
  test_twins();

  snprintf(path, sizeof path, "%s/sub/dir/relay.db", dir);
  snprintf(url, sizeof url, "sqlite:%s", path);
  struct db *db = db_open(url, err, sizeof err);
  check(db != NULL, "db_open creates %s and its missing directories%s%s", path, db ? "" : ": ", err);
  if (!db) {
    printf("1..%d\n", tests);
    return 1;
  }
  struct stat sb = { 0 };
  int st_ok = stat(path, &sb) == 0;
  check(st_ok && (sb.st_mode & 077) == 0, "the database file is private (mode %03o)",
        (unsigned)(sb.st_mode & 0777));
  check(db_schema_version(db) > 0 && db_schema_version(db) == latest,
        "schema version is the newest migration (%d)", db_schema_version(db));
  check(scalar(db, "SELECT COUNT(*) FROM schema_migrations") == nmig,
        "every migration is recorded in schema_migrations (%d)", nmig);
  check(scalar(db, "SELECT COUNT(*) FROM groups WHERE name = 'default'") == 1,
        "001_init ran (the default group exists)");
  check(text_is(db, "PRAGMA journal_mode", "wal"), "journal_mode is WAL");
  check(scalar(db, "PRAGMA foreign_keys") == 1, "foreign_keys is ON");
  check(scalar(db, "PRAGMA synchronous") == 2, "synchronous is FULL (the ledger survives power loss)");
  check(scalar(db, "PRAGMA busy_timeout") == 5000, "busy_timeout is 5000 ms");

  test_statements(db);
  test_transactions(db);
  test_bind_ref(url);
  test_two_connections(url);
  int64_t users = scalar(db, "SELECT COUNT(*) FROM users");
  db_close(db);

  db = db_open(url, err, sizeof err);
  check(db != NULL, "reopen%s%s", db ? "" : ": ", err);
  if (db) {
    check(scalar(db, "SELECT COUNT(*) FROM schema_migrations") == nmig
          && db_schema_version(db) == latest, "reopening applies nothing twice");
    check(scalar(db, "SELECT COUNT(*) FROM users") == users, "committed rows survive a reopen");
    /* a migration numbered below the highest applied one (helpers land out of order) */
    check(db_exec(db, "DROP TABLE reservations; DELETE FROM schema_migrations WHERE version = 5") == 0,
          "pretend migration 005 landed after a higher one was applied");
    db_close(db);
    db = db_open(url, err, sizeof err);
    check(db && scalar(db, "SELECT COUNT(*) FROM schema_migrations") == nmig
          && scalar(db, "SELECT COUNT(*) FROM reservations") == 0,
          "a missing lower migration is applied on open%s%s", db ? "" : ": ", err);
  }
  if (db) {
    check(db_exec(db, "INSERT INTO schema_migrations VALUES (9999, '9999_future', 0)") == 0,
          "pretend a newer relay migrated the file");
    db_close(db);
  }
  db = db_open(url, err, sizeof err);
  check(!db && strstr(err, "newer"), "a schema newer than the build is refused: %s", err);
  db_close(db);

  db = db_open("sqlite::memory:", err, sizeof err);
  check(db && db_schema_version(db) == latest, "sqlite::memory: works and is migrated");
  db_close(db);

  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  printf("1..%d\n", tests);
  return failures ? 1 : 0;
}
