/*
 * cmd_affinity: gwctl affinity list|clear -- relayd's channel affinity table (relayd/affinity.h)
 * through the admin socket (verbs "affinity", "affinity_clear"). argv[0] is the verb; each returns
 * an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: touches the database, or is called by another
 * command file.
 */
#ifndef RELAY_GWCTL_CMD_AFFINITY_H
#define RELAY_GWCTL_CMD_AFFINITY_H

struct gwctl;

int cmd_affinity_list(struct gwctl *g, int argc, char **argv);
int cmd_affinity_clear(struct gwctl *g, int argc, char **argv);

#endif
