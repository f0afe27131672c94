/*
 * cmd_apply: the handlers of gwctl export / apply (gwctl/cmd_apply.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_APPLY_H
#define RELAY_GWCTL_CMD_APPLY_H

struct gwctl;

int cmd_export(struct gwctl *g, int argc, char **argv);
int cmd_apply(struct gwctl *g, int argc, char **argv);

#endif
