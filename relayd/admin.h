/*
 * admin: the admin socket (JSON lines over a Unix stream socket, doc/admin-protocol.md) and the
 * main thread's event loop: signals (signalfd: SIGHUP reloads, SIGTERM/SIGINT stop), admin
 * clients, and reloads, which read the database through the admin thread's own connection and
 * publish a new snapshot.
 * Verbs live in admin_verbs[] beside their handlers; `help` is generated from it.
 * Output to each client is queued and written as it reads (a client that reads nothing for 10 s
 * is dropped), so a slow client never holds up signals, reloads or the other clients.
 * Callers: main.c. Never: runs on a worker; holds a lock a worker waits on; waits on a client.
 */
#ifndef RELAY_ADMIN_H
#define RELAY_ADMIN_H

#include <stddef.h>

#include "config.h"

struct worker;
struct db;

struct admin_ctx {
  const struct config *cfg;    /* the configuration in force; replaced by a SIGHUP reload */
  const struct config *startup_cfg;  /* the first one (workers point at it until their first
                                        snapshot); main owns it; later ones are owned here */
  const char *config_file;     /* -c FILE, NULL for the default file; reloads read it again */
  const struct config_arg *args;     /* the command line's --KEY VALUE pairs */
  size_t nargs;
  struct db *db;               /* the admin thread's connection, for reloads */
  struct worker *workers;
  int nworkers;
  long long started_at;        /* unix seconds */
  const char *metrics_address; /* where /metrics is served ("off" when it is not) */
};

/* Binds the socket: mode 0600, or 0660 with group admin_group when that is not "" (the group must
 * exist). Every connection is then checked with SO_PEERCRED: uid 0, relayd's own uid, or a member of
 * admin_group (primary or supplementary). -1 with err when it cannot bind; ADMIN_LISTEN_IN_USE (-2)
 * with err when a live relayd answers on it. */
#define ADMIN_LISTEN_IN_USE (-2)
int admin_listen(const char *path, const char *admin_group, char *err, size_t errlen);
/* Builds and publishes a snapshot from the database. Returns 0, or -1 with err. */
int admin_load_snapshot(struct admin_ctx *ctx, char *err, size_t errlen);
/* SIGHUP: rebuilds the configuration (file, environment, command line) and, with it, the snapshot;
 * publishes both together or neither. Keys that need a restart keep their running value (logged).
 * Returns 0, or -1 with err when the new configuration or the database was refused. */
int admin_reload_config(struct admin_ctx *ctx, char *err, size_t errlen);
/* "WHAT: N channels, N tokens, N users (configuration vN)", for systemd's STATUS=. */
void admin_status_line(char *buf, size_t len, const char *what);
/* Asks the admin loop to reload the snapshot soon (any thread; never blocks). */
void admin_request_reload(void);
/* Runs until SIGTERM or SIGINT. The signals must be blocked in every thread before. */
void admin_run(struct admin_ctx *ctx, int listen_fd);

#endif
