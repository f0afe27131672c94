/*
 * cmd_channel: the handlers of gwctl channel (gwctl/cmd_channel.c; what each does: its header comment and the
 * command table). argv[0] is the verb; each returns an exit code (gwctl.h).
 * Callers: main.c's command table only. Never: called by another command file.
 */
#ifndef RELAY_GWCTL_CMD_CHANNEL_H
#define RELAY_GWCTL_CMD_CHANNEL_H

struct gwctl;

int cmd_channel_add(struct gwctl *g, int argc, char **argv);
int cmd_channel_list(struct gwctl *g, int argc, char **argv);
int cmd_channel_show(struct gwctl *g, int argc, char **argv);
int cmd_channel_edit(struct gwctl *g, int argc, char **argv);
int cmd_channel_enable(struct gwctl *g, int argc, char **argv);
int cmd_channel_disable(struct gwctl *g, int argc, char **argv);
int cmd_channel_rm(struct gwctl *g, int argc, char **argv);
int cmd_channel_test(struct gwctl *g, int argc, char **argv);
int cmd_channel_balance(struct gwctl *g, int argc, char **argv);
int cmd_channel_models(struct gwctl *g, int argc, char **argv);
int cmd_channel_types(struct gwctl *g, int argc, char **argv);

#endif
