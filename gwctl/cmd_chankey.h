/*
 * cmd_chankey: the handlers of gwctl channel key (gwctl/cmd_chankey.c: a channel's key pool), and the
 * pool's rows for channel show and gwtui-like views.
 */
#ifndef RELAY_GWCTL_CMD_CHANKEY_H
#define RELAY_GWCTL_CMD_CHANKEY_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "output.h"

struct gwctl;

int cmd_channel_key_add(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_list(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_remove(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_enable(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_disable(struct gwctl *g, int argc, char **argv);
int cmd_channel_key_limit(struct gwctl *g, int argc, char **argv);

/* Channel id's keys as listing rows (masked keys, status, live counters from relayd when it
 * answers); a channel without a pool: its one key as key 1. NULL after printing an error. */
cJSON *gw_pool_rows(struct gwctl *g, int64_t id);
/* The columns of those rows. */
extern const struct out_col gw_pool_cols[];

#endif
