/*
 * admin: what the admin socket (JSON lines, doc/admin-protocol.md) can do, and the reloads: the
 * verbs live in admin_verbs[] beside their handlers, `help` is generated from it, and
 * admin_verb_run runs one; a reload reads the database through the admin thread's own connection
 * and publishes a new snapshot (and, on SIGHUP, a new configuration with it).
 * The socket, its clients and the admin thread's loop (signals, reload requests) are adminsock.c's.
 * Callers: adminsock.c (verbs, reloads), main.c (the first snapshot, the status line, dbnotify's
 * reload callback). Never: runs on a worker; holds a lock a worker waits on; touches a socket.
 */
#ifndef RELAY_ADMIN_H
#define RELAY_ADMIN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
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
  bool subscribe;              /* set by the verb subscribe: the connection it came on becomes a
                                  stream of request events (adminsock.c clears it and acts) */
};

/* Builds and publishes a snapshot from the database. Returns 0, or -1 with err. */
int admin_load_snapshot(struct admin_ctx *ctx, char *err, size_t errlen);
/* SIGHUP: rebuilds the configuration (file, environment, command line) and, with it, the snapshot;
 * publishes both together or neither. Keys that need a restart keep their running value (logged).
 * Returns 0, or -1 with err when the new configuration or the database was refused. */
int admin_reload_config(struct admin_ctx *ctx, char *err, size_t errlen);
/* "WHAT: N channels, N tokens, N users (configuration vN)", for systemd's STATUS=. */
void admin_status_line(char *buf, size_t len, const char *what);
/* Runs the verb cmd with the request req: its result (the caller adds "ok" and "id", then frees
 * it), or NULL with err when the verb failed. *known is false when there is no verb cmd. */
cJSON *admin_verb_run(struct admin_ctx *ctx, const char *cmd, const cJSON *req, char *err,
                      size_t errlen, bool *known);

#endif
