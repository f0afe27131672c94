/*
 * admin: the admin socket (JSON lines over a Unix stream socket, doc/admin-protocol.md) and the
 * main thread's event loop: signals (signalfd: SIGHUP reloads, SIGTERM/SIGINT stop), admin
 * clients, and reloads, which read the database through the admin thread's own connection and
 * publish a new snapshot.
 * Verbs live in admin_verbs[] beside their handlers; `help` is generated from it.
 * Callers: main.c. Never: runs on a worker; holds a lock a worker waits on.
 */
#ifndef RELAY_ADMIN_H
#define RELAY_ADMIN_H

#include <stddef.h>

#include "config.h"

struct worker;
struct db;

struct admin_ctx {
  const struct config *cfg;
  struct db *db;               /* the admin thread's connection, for reloads */
  struct worker *workers;
  int nworkers;
  long long started_at;        /* unix seconds */
};

/* Binds the socket (mode 0600); -1 with err when it cannot, or when a live relayd owns it. */
int admin_listen(const char *path, char *err, size_t errlen);
/* Builds and publishes a snapshot from the database. Returns 0, or -1 with err. */
int admin_load_snapshot(struct admin_ctx *ctx, char *err, size_t errlen);
/* Runs until SIGTERM or SIGINT. The signals must be blocked in every thread before. */
void admin_run(struct admin_ctx *ctx, int listen_fd);

#endif
