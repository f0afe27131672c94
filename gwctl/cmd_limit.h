/*
 * cmd_limit: the handlers of gwctl limit and alert (gwctl/cmd_limit.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_LIMIT_H
#define RELAY_GWCTL_CMD_LIMIT_H

struct gwctl;

int cmd_limit_set(struct gwctl *g, int argc, char **argv);
int cmd_limit_list(struct gwctl *g, int argc, char **argv);
int cmd_limit_rm(struct gwctl *g, int argc, char **argv);
int cmd_alert_set(struct gwctl *g, int argc, char **argv);
int cmd_alert_list(struct gwctl *g, int argc, char **argv);
int cmd_alert_rm(struct gwctl *g, int argc, char **argv);

#endif
