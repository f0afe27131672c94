/*
 * db_mysql: the MySQL / MariaDB backend of the storage interface (db.h), read-only, on MariaDB's
 * client library (libmariadb). It exists so `gwctl import oneapi` can read the One API / New API
 * databases most installations keep on MySQL; relay itself never stores its data there.
 *
 * URL: mysql://USER@HOST[:PORT]/DB (TCP) or mysql://USER@localhost/DB?socket=/PATH/mysqld.sock
 * (a Unix socket); mariadb:// is the same. Query parameters: socket=PATH, defaults_file=PATH (a
 * MariaDB option file whose [client] group is read: password, ssl settings, ...).
 * The password is never in the URL (gwctl's arguments are visible to every local user): it comes
 * from $MYSQL_PWD, else from the option files' [client] group (~/.my.cnf, or defaults_file).
 *
 * Owns: the MYSQL connection, its session settings (utf8mb4, sql_mode ANSI_QUOTES so "name" quotes
 * an identifier as on SQLite and PostgreSQL, a READ ONLY session), statements with ?N placeholders
 * (parameters sent as literals escaped by mysql_real_escape_string for the connection's character
 * set; results buffered whole as text, like the PostgreSQL backend).
 * Callers: common/db.c only (db_open_existing); everything else goes through db.h.
 * Never: writes (the session is read-only: the server refuses any write), takes part in
 * migrations (db_open refuses a MySQL URL), prints, or echoes a password.
 */
#ifndef RELAY_DB_MYSQL_H
#define RELAY_DB_MYSQL_H

#include <stddef.h>

struct db;

/* Whether url names a MySQL / MariaDB database (mysql:// or mariadb://). */
int mysql_url_is(const char *url);

/* Connects read-only. On failure returns NULL with a message (never the password) in err. The
 * caller frees with db_close(). */
struct db *mysql_open(const char *url, char *err, size_t errlen);

#endif
