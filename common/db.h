/*
 * db: the one storage interface of relay.
 *
 * Owns: the database connection, schema migrations (sql/<backend>/NNN_*.sql, embedded in the
 * binary at build time), and a small prepared-statement API that reads the same on every backend.
 * Backends: SQLite ("sqlite:PATH", common/db.c) and PostgreSQL (libpq, common/db_pg.c): a URL
 * "postgres://..." / "postgresql://..." or a libpq key=value string ("host=/run/pg dbname=relay").
 *
 * Callers: relayd's snapshot loader and writer thread, gwctl, gwtui. A `struct db` belongs to one
 * thread at a time; open one per thread that needs it.
 * Never: called from relayd's request path (workers never touch the database).
 *
 * SQL text uses numbered placeholders ?1 ?2 ... (SQLite syntax); the PostgreSQL backend rewrites
 * them to $1 $2 and lets the server infer each parameter's type from where it is used (a parameter
 * the statement does not use is typed text). The column "group" must be written quoted.
 * Portable SQL only: no INSERT OR IGNORE/REPLACE (use ON CONFLICT), no strftime/date() (see
 * db_backend_name), no last_insert_rowid (use RETURNING id), no LIMIT -1, no "string" literals.
 * Comparisons in a SELECT list come back as 0/1 from db_col_int64 on both backends.
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
/* db_open for a connection that only one thread uses at a time (relayd's writer): SQLite then
 * takes no mutex in each call (SQLITE_OPEN_NOMUTEX). Sharing it between threads is undefined. */
struct db *db_open_one_thread(const char *url, char *err, size_t errlen);

/* Opens an existing database (e.g. a One API one to import from) as it is: no migrations, no
 * schema_migrations table, no journal-mode change; a missing SQLite file is an error. SQLite files
 * are opened read-only; PostgreSQL (postgres://, key=value) is opened as it is (relayd's
 * notification listener uses it too); MySQL / MariaDB (mysql://, mariadb://: common/db_mysql.h)
 * only here, in a read-only session. */
struct db *db_open_existing(const char *url, char *err, size_t errlen);
/* "sqlite", "postgres" or "mysql": for the rare statement that must differ (dates). */
const char *db_backend_name(struct db *db);
/* Whether url names a PostgreSQL database (postgres://, postgresql:// or key=value). */
int db_url_is_postgres(const char *url);
/* Copies url into out with any password replaced by "***", for logs and messages. */
void db_url_redact(const char *url, char *out, size_t outlen);

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
/* db_bind_text without the copy where the backend can avoid it (SQLite: SQLITE_STATIC): s must
 * stay valid and unchanged until the statement's next db_reset or db_finalize. For a hot
 * statement whose text outlives its step (the writer's log rows: 11 copies a row saved). */
int db_bind_text_ref(struct db_stmt *st, int idx, const char *s);

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

/* The catalog, per backend: 1 when the table exists (in the connection's schema or database) /
 * has the column, 0 when not, -1 on a database error (see db_errmsg). */
int db_has_table(struct db *db, const char *table);
int db_has_column(struct db *db, const char *table, const char *column);

/* Schema version after migration (the highest NNN applied). */
int db_schema_version(struct db *db);
/* The database's identity: the random id migration 011 stored once (table meta, key database_id),
 * the same for every process that opens this database. Returns 0 with it in out, or -1 (out "")
 * when it cannot be read. */
int db_identity(struct db *db, char *out, size_t outlen);

/* ---- notifications (PostgreSQL LISTEN/NOTIFY; SQLite has none) ----
 * db_notify queues a notification on channel, delivered to every listener when the current
 * transaction commits (at once outside one). SQLite: does nothing and returns 0.
 * db_listen subscribes this connection to channel (-1 on SQLite).
 * db_socket is the descriptor to poll for input while listening (-1 when there is none).
 * db_notifications reads what arrived and calls fn once per notification; returns how many, or -1
 * when the connection is lost (then db_reconnect, and db_listen again).
 * db_reconnect re-opens a lost connection (PostgreSQL; 0 on success). A lost connection outside a
 * transaction is also re-opened by the next db_begin/db_exec/db_step; inside one the statement fails
 * (nothing is ever half-committed by a silent reconnect). */
/* The channels relay uses: configuration changes (gwctl, payload "noun verb"), and committed charges
 * (relayd's writer, payload "NODE u1,2 t3,4" or "NODE *": whose balances moved). */
#define RELAY_RELOAD_CHANNEL "relay_reload"
#define RELAY_BALANCE_CHANNEL "relay_balance"
typedef void (*db_notify_fn)(void *ud, const char *channel, const char *payload);
int db_notify(struct db *db, const char *channel, const char *payload);
int db_listen(struct db *db, const char *channel);
int db_socket(struct db *db);
int db_notifications(struct db *db, db_notify_fn fn, void *ud);
int db_reconnect(struct db *db);
/* 1 while the connection is up (always on SQLite). */
int db_connected(struct db *db);

#endif
