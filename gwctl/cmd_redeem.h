/*
 * cmd_redeem: the handlers of gwctl redeem (gwctl/cmd_redeem.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_REDEEM_H
#define RELAY_GWCTL_CMD_REDEEM_H

struct gwctl;

int cmd_redeem_create(struct gwctl *g, int argc, char **argv);
int cmd_redeem_list(struct gwctl *g, int argc, char **argv);
int cmd_redeem_export(struct gwctl *g, int argc, char **argv);
int cmd_redeem_disable(struct gwctl *g, int argc, char **argv);
int cmd_redeem_rm(struct gwctl *g, int argc, char **argv);
int cmd_redeem_use(struct gwctl *g, int argc, char **argv);

#endif
