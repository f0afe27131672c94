/*
 * cmd_group: the handlers of gwctl group (gwctl/cmd_group.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_GROUP_H
#define RELAY_GWCTL_CMD_GROUP_H

struct gwctl;

int cmd_group_list(struct gwctl *g, int argc, char **argv);
int cmd_group_set(struct gwctl *g, int argc, char **argv);
int cmd_group_rm(struct gwctl *g, int argc, char **argv);

#endif
