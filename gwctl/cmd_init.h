/*
 * cmd_init: the handler of gwctl init (gwctl/cmd_init.c): the one gwctl command that creates a
 * database. argv[0] is "init"; returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_INIT_H
#define RELAY_GWCTL_CMD_INIT_H

struct gwctl;

int cmd_init(struct gwctl *g, int argc, char **argv);

#endif
