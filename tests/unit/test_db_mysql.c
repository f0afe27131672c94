/*
 * test_db_mysql: unit test of the read-only MySQL/MariaDB backend (common/db_mysql.c) against a
 * real server; prints TAP. The server and the database come from $RELAY_TEST_MYSQL_URL (a One API
 * database: tests/bats/22-gwctl-import-mariadb.bats starts the server, makes the database and runs
 * this); without it the test reports one skip.
 *
 * Covers: ?N placeholders (repeated, out of order, not replaced inside literals, quoted
 * identifiers or comments), text escaped for any byte sequence a client could send (quotes,
 * backslashes, NUL-free control characters, UTF-8), integers at both ends, doubles, NULL, reset and
 * rebinding, bad parameter numbers, the catalog (db_has_table / db_has_column), errors, and the
 * read-only session (writes refused by the server, inside a transaction or not).
 * Never: writes to the database (it cannot: the session is read-only).
 */
#include "db.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Texts a client could send: each must come back byte for byte. */
static const char *const texts[] = {
  "plain", "", "it's", "''", "\\", "back\\slash\\'quote", "\"double\" and `tick`", "?1 ?2 ?",
  "-- not a comment", "/* nor this */", "#hash", "line\nbreak\r\ttab", "\x1a ctrl-z \x01",
  "caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x98\x80", "%_ like wildcards", "a; DROP TABLE users; --",
};

static void test_placeholders(struct db *db)
{
  struct db_stmt *st = db_prepare(db, "SELECT ?2, ?1, '?1' AS \"?2\", ?2 -- ?3 in a comment\n"
                                      ", /* ?3 */ ?3, `x?`.n FROM (SELECT 1 AS n) AS `x?`");
  check(st != NULL, "prepare: repeated and out-of-order ?N, ? inside literals, identifiers and comments");
  if (!st)
    return;
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    db_reset(st);
    int b = db_bind_text(st, 1, texts[i]) == 0 && db_bind_int64(st, 2, (int64_t)i) == 0
            && db_bind_text(st, 3, texts[(i + 1) % (sizeof texts / sizeof *texts)]) == 0;
    int row = b && db_step(st) == DB_ROW;
    check(row && db_col_int64(st, 0) == (int64_t)i && strcmp(db_col_text(st, 1), texts[i]) == 0
          && strcmp(db_col_text(st, 2), "?1") == 0 && db_col_int64(st, 3) == (int64_t)i
          && strcmp(db_col_text(st, 4), texts[(i + 1) % (sizeof texts / sizeof *texts)]) == 0
          && db_col_int64(st, 5) == 1 && db_step(st) == DB_DONE,
          "text %zu comes back byte for byte%s%s", i, row ? "" : ": ", row ? "" : db_errmsg(db));
  }
  db_finalize(st);

  st = db_prepare(db, "SELECT ?1, ?2, ?3, ?4, ?5 IS NULL, ?6");
  int ok = st && db_bind_int64(st, 1, INT64_MAX) == 0 && db_bind_int64(st, 2, INT64_MIN) == 0
           && db_bind_double(st, 3, 0.1) == 0 && db_bind_double(st, 4, -2.5e-7) == 0
           && db_bind_null(st, 5) == 0 && db_bind_text(st, 6, NULL) == 0 && db_step(st) == DB_ROW;
  check(ok && db_col_int64(st, 0) == INT64_MAX && db_col_int64(st, 1) == INT64_MIN
        && db_col_double(st, 2) == 0.1 && db_col_double(st, 3) == -2.5e-7
        && db_col_int64(st, 4) == 1 && db_col_is_null(st, 5) && strcmp(db_col_text(st, 5), "") == 0
        && !db_col_is_null(st, 0),
        "integers at both ends, doubles, NULL (bound and bound as NULL text)");
  check(st && db_bind_int64(st, 0, 1) != 0 && db_bind_text(st, 7, "x") != 0,
        "a parameter the statement does not have is refused");
  db_finalize(st);
  st = db_prepare(db, "SELECT ?1000000");
  check(!st, "a parameter number out of range is refused at prepare");
  db_finalize(st);
}

static void test_catalog(struct db *db)
{
  check(strcmp(db_backend_name(db), "mysql") == 0, "the backend is named mysql");
  check(db_has_table(db, "users") == 1 && db_has_table(db, "tokens") == 1
        && db_has_table(db, "no_such_table") == 0, "db_has_table");
  check(db_has_column(db, "tokens", "unlimited_quota") == 1 && db_has_column(db, "channels", "group") == 1
        && db_has_column(db, "tokens", "no_such_column") == 0
        && db_has_column(db, "no_such_table", "id") == 0, "db_has_column");
  check(db_has_table(db, "users' OR '1'='1") == 0, "a catalog name is a value, not SQL");
}

static void test_reads(struct db *db)
{
  /* the booleans GORM makes on MySQL (tinyint(1)) read as 0/1; "key" and "group" quote */
  struct db_stmt *st = db_prepare(db, "SELECT count(*), sum(CASE WHEN \"unlimited_quota\" THEN 1 "
                                      "ELSE 0 END), min(\"key\") <> '' FROM tokens");
  check(st && db_step(st) == DB_ROW && db_col_int64(st, 0) > 0 && db_col_int64(st, 2) == 1,
        "ANSI_QUOTES: \"key\" is a column; booleans sum as integers");
  db_finalize(st);
  st = db_prepare(db, "SELECT nonsense FROM nowhere");
  check(st && db_step(st) == DB_ERROR && strstr(db_errmsg(db), "nowhere"),
        "a bad statement fails with the server's message: %s", db_errmsg(db));
  db_finalize(st);
  check(db_exec(db, "SELECT 1; SELECT 2") != 0, "one statement per call (no multi-statements)");
}

static void test_read_only(struct db *db)
{
  check(db_exec(db, "INSERT INTO options(\"key\", value) VALUES ('relay_probe', 'x')") != 0
        && strstr(db_errmsg(db), "READ ONLY"), "an INSERT is refused by the server: %s",
        db_errmsg(db));
  check(db_exec(db, "CREATE TABLE relay_probe (a int)") != 0, "CREATE TABLE is refused: %s",
        db_errmsg(db));
  struct db_stmt *st = db_prepare(db, "UPDATE users SET quota = quota + ?1");
  check(st && db_bind_int64(st, 1, 1) == 0 && db_step(st) == DB_ERROR,
        "an UPDATE through a statement is refused: %s", db_errmsg(db));
  db_finalize(st);
  check(db_begin(db) == 0 && db_exec(db, "DELETE FROM options") != 0 && db_rollback(db) == 0,
        "inside a transaction too: %s", db_errmsg(db));
  st = db_prepare(db, "SELECT count(*) FROM options WHERE \"key\" = 'relay_probe'");
  check(st && db_step(st) == DB_ROW && db_col_int64(st, 0) == 0, "nothing was written");
  db_finalize(st);
}

int main(void)
{
  const char *url = getenv("RELAY_TEST_MYSQL_URL");
  if (!url || !*url) {
    printf("ok 1 # skip no RELAY_TEST_MYSQL_URL (22-gwctl-import-mariadb.bats runs this against "
           "its MariaDB server)\n1..1\n");
    return 0;
  }
  char err[512] = "";
  struct db *db = db_open_existing(url, err, sizeof err);
  check(db != NULL, "connect%s%s", db ? "" : ": ", err);
  if (db) {
    test_placeholders(db);
    test_catalog(db);
    test_reads(db);
    test_read_only(db);
    db_close(db);
  }
  printf("1..%d\n", tests);
  return failures ? 1 : 0;
}
