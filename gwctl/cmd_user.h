/*
 * cmd_user: the handlers of gwctl user (gwctl/cmd_user.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_USER_H
#define RELAY_GWCTL_CMD_USER_H

struct gwctl;

int cmd_user_add(struct gwctl *g, int argc, char **argv);
int cmd_user_list(struct gwctl *g, int argc, char **argv);
int cmd_user_show(struct gwctl *g, int argc, char **argv);
int cmd_user_edit(struct gwctl *g, int argc, char **argv);
int cmd_user_enable(struct gwctl *g, int argc, char **argv);
int cmd_user_disable(struct gwctl *g, int argc, char **argv);
int cmd_user_topup(struct gwctl *g, int argc, char **argv);
int cmd_user_rm(struct gwctl *g, int argc, char **argv);

#endif
