/*
 * db_backend: what common/db.c and its backends share (private to the storage layer).
 *
 * Owns: struct db, struct db_stmt and the backend function table (struct db_backend). db.c holds the
 * SQLite backend, the migrations runner and the public functions of db.h; db_pg.c holds the
 * PostgreSQL (libpq) backend; db_mysql.c the read-only MySQL / MariaDB (libmariadb) one.
 * Callers: common/db.c, common/db_pg.c and common/db_mysql.c only; everything else uses db.h.
 * Never: included outside common/db*.c.
 */
#ifndef RELAY_DB_BACKEND_H
#define RELAY_DB_BACKEND_H

#include "db.h"
#include "schema_sql.h"

#include <stdbool.h>

#define DB_ERR_MAX 512

/* The operations a backend provides. Statement handles are opaque to this layer. */
struct db_backend {
  const char *name;
  const char *begin_sql;        /* what db_begin runs */
  void (*close)(struct db *db);
  int (*exec)(struct db *db, const char *sql);
  void *(*prepare)(struct db *db, const char *sql);
  void (*finalize)(void *h);
  void (*reset)(void *h);
  int (*bind_int64)(struct db_stmt *st, int idx, int64_t v);
  int (*bind_double)(struct db_stmt *st, int idx, double v);
  int (*bind_text)(struct db_stmt *st, int idx, const char *s);
  /* Optional (NULL: bind_text): binds s without copying it (db_bind_text_ref). */
  int (*bind_text_ref)(struct db_stmt *st, int idx, const char *s);
  int (*bind_null)(struct db_stmt *st, int idx);
  enum db_step_result (*step)(struct db_stmt *st);
  int64_t (*col_int64)(void *h, int idx);
  double (*col_double)(void *h, int idx);
  const char *(*col_text)(void *h, int idx);
  int (*col_is_null)(void *h, int idx);
  int64_t (*changes)(struct db *db);
  int64_t (*last_insert_id)(struct db *db);
  /* Optional (NULL: nothing to do). Serialize migrations between processes. */
  int (*migrate_lock)(struct db *db);
  void (*migrate_unlock)(struct db *db);
  /* Optional: notifications (PostgreSQL LISTEN/NOTIFY) and reconnection. */
  int (*notify)(struct db *db, const char *channel, const char *payload);
  int (*listen)(struct db *db, const char *channel);
  int (*socket)(struct db *db);
  int (*notifications)(struct db *db, db_notify_fn fn, void *ud);
  int (*reconnect)(struct db *db);
  int (*connected)(struct db *db);
  /* The catalog: a row when table ?1 exists / has column ?2 (db_has_table, db_has_column). */
  const char *has_table_sql;
  const char *has_column_sql;
  const struct schema_migration *migrations;
};

struct db {
  const struct db_backend *be;
  void *conn;                   /* sqlite3 *, PGconn * or MYSQL * */
  int version;                  /* schema version after migration */
  bool in_tx;                   /* between db_begin and db_commit/db_rollback */
  int64_t changes;              /* PostgreSQL, MySQL: rows changed by the last statement */
  char err[DB_ERR_MAX];
};

struct db_stmt {
  struct db *db;
  void *h;                      /* sqlite3_stmt *, struct pg_stmt * or struct my_stmt * */
};

__attribute__((format(printf, 2, 3)))
void db_seterr(struct db *db, const char *fmt, ...);

/* A column the text backends (PostgreSQL, MySQL) read as text, as an integer: a decimal or double
 * is truncated, as sqlite3_column_int64 does. */
int64_t db_text_int64(const char *v);

/* The text backends' parameters: vals[0..n) owned strings, NULL for SQL NULL. db_param_set stores
 * s (owned from now on, freed on error) as ?idx: 0, or -1 with st's error (idx out of range; s
 * NULL and not null: out of memory). db_params_clear frees every value (the vector stays). */
int db_param_set(struct db_stmt *st, char **vals, int n, int idx, char *s, bool null);
void db_params_clear(char **vals, int n);

/* The PostgreSQL backend (db_pg.c): connects with a libpq URL or key=value string. */
struct db *pg_open(const char *conninfo, char *err, size_t errlen);

#endif
