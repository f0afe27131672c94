/*
 * cmd_chankey: the handlers of gwctl channel key (gwctl/cmd_chankey.c: a channel's key pool).
 * The pool's rows (channel show, channel key list) are channels.h's gw_pool_rows.
 */
#ifndef RELAY_GWCTL_CMD_CHANKEY_H
#define RELAY_GWCTL_CMD_CHANKEY_H

struct gwctl;

int cmd_channel_key_add(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_list(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_remove(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_enable(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_disable(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_limit(struct gwctl *g, int argc, char **argv);

#endif
