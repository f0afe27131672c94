/*
 * cmd_log: the handlers of gwctl log (gwctl/cmd_log.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_LOG_H
#define RELAY_GWCTL_CMD_LOG_H

struct gwctl;

int cmd_log_list(struct gwctl *g, int argc, char **argv);
int cmd_log_stats(struct gwctl *g, int argc, char **argv);
int cmd_log_tail(struct gwctl *g, int argc, char **argv);
int cmd_log_export(struct gwctl *g, int argc, char **argv);
int cmd_log_prune(struct gwctl *g, int argc, char **argv);
int cmd_log_explain(struct gwctl *g, int argc, char **argv);

#endif
