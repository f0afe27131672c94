/*
 * dbnotify: database notifications on the admin thread (PostgreSQL LISTEN/NOTIFY; several relayd
 * nodes on one database).
 *
 * Owns: a connection of its own that LISTENs on relay_reload (gwctl changed the configuration:
 * reload the snapshot) and relay_balance (another node's writer committed charges: fold the named
 * balances), and reconnecting it with backoff (100 ms doubling to 5 s) when it drops; after a
 * reconnect it reloads everything, since notifications sent meanwhile are lost.
 * Callers: main.c starts it, handing it the reload callback (admin.c's snapshot load: dbnotify
 * names no admin function); admin.c's loop puts dbnotify_fd() in its poll set, honours
 * dbnotify_timeout_ms(), and calls dbnotify_handle() after every wake-up (admin thread).
 * Never: polls the database on a timer while the connection is up; blocks a worker. On SQLite it
 * does nothing (dbnotify_fd() is -1).
 */
#ifndef RELAY_DBNOTIFY_H
#define RELAY_DBNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct db;

/* Rebuilds and publishes the snapshot from the database: 0, or -1 with err. */
typedef int dbnotify_reload_fn(void *arg, char *err, size_t errlen);

/* Opens the listening connection when db_url is PostgreSQL. Notifications then fold balances on
 * db (the caller's connection, used on the thread that calls dbnotify_handle) and call
 * reload(arg, ...) to reload. Returns 0 (also when there is nothing to listen to), -1 with err
 * when PostgreSQL refuses the connection or LISTEN. */
int dbnotify_start(const char *db_url, struct db *db, dbnotify_reload_fn *reload, void *arg, char *err,
                   size_t errlen);
void dbnotify_stop(void);
/* The descriptor to poll for input, or -1 (SQLite, or the connection is down). */
int dbnotify_fd(void);
/* How long poll may sleep before a reconnect attempt is due: -1 = no limit. */
int dbnotify_timeout_ms(void);
/* Reads what arrived (never blocks), reloads / folds balances as told, reconnects when due. */
void dbnotify_handle(void);
/* Adds "notifications": {...} to a status answer (listening, reloads, balance folds, reconnects). */
void dbnotify_status(struct cJSON *res);

#endif
