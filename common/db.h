/*
 * db: the one storage interface of relay.
 *
 * Owns: the database connection, schema migrations (sql/<backend>/NNN_*.sql, embedded in the
 * binary at build time), and a small prepared-statement API that reads the same on every backend.
 * Backends: SQLite ("sqlite:PATH"). PostgreSQL ("postgres://..." / "postgresql://...") comes with
 * the scale-out issue and plugs in behind this same header.
 *
 * Callers: relayd's snapshot loader and writer thread, gwctl, gwtui. A `struct db` belongs to one
 * thread at a time; open one per thread that needs it.
 * Never: called from relayd's request path (workers never touch the database).
 *
 * SQL text uses numbered placeholders ?1 ?2 ... (SQLite syntax); the PostgreSQL backend rewrites
 * them to $1 $2. The column "group" must be written quoted.
 */
#ifndef RELAY_DB_H
#define RELAY_DB_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct db_stmt;

enum db_step_result { DB_ROW = 1, DB_DONE = 0, DB_ERROR = -1 };

/* Opens the database named by url and creates or migrates the schema.
 * On failure returns NULL and writes a message into err. The caller frees with db_close(). */
struct db *db_open(const char *url, char *err, size_t errlen);
void db_close(struct db *db);

/* Opens an existing database (e.g. a One API one to import from) as it is: no migrations, no
 * schema_migrations table, no journal-mode change; a missing SQLite file is an error. SQLite files
 * are opened read-only. sqlite:PATH only until the PostgreSQL backend lands. */
struct db *db_open_existing(const char *url, char *err, size_t errlen);

/* The last error message on this connection (owned by db, valid until the next call). */
const char *db_errmsg(struct db *db);

/* Runs one or more statements without parameters or results. Returns 0 or -1. */
int db_exec(struct db *db, const char *sql);

int db_begin(struct db *db);        /* BEGIN IMMEDIATE on SQLite */
int db_commit(struct db *db);
int db_rollback(struct db *db);

/* Prepared statements. Returns NULL on error (see db_errmsg). Freed by db_finalize(). */
struct db_stmt *db_prepare(struct db *db, const char *sql);
void db_finalize(struct db_stmt *st);
/* Makes the statement ready to run again with new bindings. */
void db_reset(struct db_stmt *st);

/* Binding: idx counts from 1. Text is copied. Return 0 or -1. */
int db_bind_int64(struct db_stmt *st, int idx, int64_t v);
int db_bind_double(struct db_stmt *st, int idx, double v);
int db_bind_text(struct db_stmt *st, int idx, const char *s);   /* NULL binds SQL NULL */
int db_bind_null(struct db_stmt *st, int idx);

enum db_step_result db_step(struct db_stmt *st);

/* Columns of the current row; idx counts from 0. Text is owned by the statement and valid
 * until the next step/reset/finalize; NULL text comes back as "". */
int64_t db_col_int64(struct db_stmt *st, int idx);
double db_col_double(struct db_stmt *st, int idx);
const char *db_col_text(struct db_stmt *st, int idx);
int db_col_is_null(struct db_stmt *st, int idx);

/* Rows changed by the last INSERT/UPDATE/DELETE run on this connection. */
int64_t db_changes(struct db *db);
/* Row id of the last INSERT on this connection. */
int64_t db_last_insert_id(struct db *db);

/* Schema version after migration (the highest NNN applied). */
int db_schema_version(struct db *db);

#endif
