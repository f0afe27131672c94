/*
 * cmd_config: the handlers of gwctl config (gwctl/cmd_config.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_CONFIG_H
#define RELAY_GWCTL_CMD_CONFIG_H

struct gwctl;

int cmd_config_get(struct gwctl *g, int argc, char **argv);
int cmd_config_set(struct gwctl *g, int argc, char **argv);
int cmd_config_unset(struct gwctl *g, int argc, char **argv);
int cmd_config_list(struct gwctl *g, int argc, char **argv);
int cmd_config_show(struct gwctl *g, int argc, char **argv);

#endif
