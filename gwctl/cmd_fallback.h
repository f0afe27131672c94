/*
 * cmd_fallback: the handlers of gwctl fallback (gwctl/cmd_fallback.c; what each does: its header
 * comment and the command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_FALLBACK_H
#define RELAY_GWCTL_CMD_FALLBACK_H

struct gwctl;

int cmd_fallback_set(struct gwctl *g, int argc, char **argv);
int cmd_fallback_list(struct gwctl *g, int argc, char **argv);
int cmd_fallback_rm(struct gwctl *g, int argc, char **argv);

#endif
