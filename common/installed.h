/*
 * installed: which database and admin socket a command-line tool (gwctl, gwtui) uses when its
 * command line names none -- the one rule both follow.
 * RELAY_DB / RELAY_SOCKET when set and not empty; when unset (not when set to ""), an installed
 * relayd's files (relayd.conf(5) defaults: RELAY_STATEDIR/relay.db, RELAY_RUNDIR/admin.sock) but
 * only when they exist; else nothing.
 * Callers: gwctl/main.c, gwtui/main.c (a --db / --socket option given later overrides).
 * Never: creates a file or a directory (a tool must not make the system database, or expect a
 * daemon that is not there), or allocates (the strings are the environment's or static).
 */
#ifndef RELAY_INSTALLED_H
#define RELAY_INSTALLED_H

#include <stdbool.h>

struct relay_paths {
  const char *db_url;           /* "sqlite:PATH" or the URL RELAY_DB gives; NULL: none */
  const char *socket;           /* the admin socket's path; NULL: none */
  bool socket_from_env;         /* RELAY_SOCKET named it (not the installed fallback) */
  bool db_installed;            /* db_url is the installed relayd's database */
};

void relay_paths_default(struct relay_paths *p);

#endif
