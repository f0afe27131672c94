/*
 * lease: one live relayd per node name on a database (issue #18: two relayd started with the same
 * node name refunded each other's open reservations at start, and logged request ids twice).
 *
 * Owns the node_leases table (migration 008): one row per node name holding the live process's
 * host identity (hostname, kernel boot id and pid namespace), pid, the pid's start time (so a reused
 * pid is not mistaken for the holder), a random instance id, and a heartbeat time.
 * lease_acquire() at start-up, before the reservations of the name are resolved: the name is free
 * when no row holds it, when the row's holder is on this host (same identity) and its pid is dead
 * or belongs to another process now (a kill -9 restarts at once), or when the row is from another
 * host and its heartbeat is older than LEASE_STALE_S. Taking a row over is a compare-and-swap on its
 * instance id, so two starting nodes never both win.
 * lease_start() runs a heartbeat thread (its own database connection, every LEASE_HEARTBEAT_S; never
 * a worker), lease_stop() ends it and deletes the row (after the writer committed everything).
 * Callers: main.c. Never: runs on a worker; takes a lease that a live process on this host, or a
 * fresh heartbeat from another host, holds.
 */
#ifndef RELAY_LEASE_H
#define RELAY_LEASE_H

#include <stddef.h>

struct db;

#define LEASE_EXIT_CODE 75      /* EX_TEMPFAIL: another live relayd holds the node name */
#define LEASE_HEARTBEAT_S 5
#define LEASE_STALE_S 30        /* a lease from another host whose heartbeat is older is free */

/* Takes the lease of node on db (the caller's connection). Returns 0 when taken, 1 when a live
 * relayd holds it (err names the name and the holder: host, pid, start, last heartbeat), -1 on a
 * database error (err). */
int lease_acquire(struct db *db, const char *node, char *err, size_t errlen);
/* Starts the heartbeat thread on its own connection to db_url. 0, or -1 with err. */
int lease_start(const char *db_url, char *err, size_t errlen);
/* For `status`: the node name ("" before lease_acquire) and the lease's state: "held", "lost" (the
 * row names another process now) or "none". */
const char *lease_node(void);
const char *lease_state(void);
/* Stops the heartbeat and releases the lease (deletes the row if it is still this process's).
 * Safe to call when nothing was acquired or started. */
void lease_stop(void);

#endif
