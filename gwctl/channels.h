/*
 * channels: the one place gwctl writes and compares channels.key (so key storage, encryption at rest
 * with the master key, is decided in one spot). The channel types are common/provider.h's.
 * Callers: cmd_channel.c, cmd_apply.c, cmd_import.c.
 * Never: prints or logs an upstream key, or stores one in clear.
 */
#ifndef RELAY_GWCTL_CHANNELS_H
#define RELAY_GWCTL_CHANNELS_H

#include <stdint.h>

struct gwctl;
struct secret_key;

/* Sets channel id's upstream key ("" = none) inside the current transaction. 0 or GW_FAIL. */
int gw_channel_set_key(struct gwctl *g, int64_t id, const char *key);
/* 1 when channel id's stored key equals key, 0 when not, -1 after printing an error. */
int gw_channel_key_equals(struct gwctl *g, int64_t id, const char *key);
/* Loads the master key the same way relayd finds it (secret_key_path: $RELAY_MASTER_KEY_FILE, else
 * master.key beside the SQLite database), creating it when missing, so channels can be added before
 * relayd's first start. Returns 0 or GW_FAIL after printing. */
int gw_master_key(struct gwctl *g, struct secret_key *k);

#endif
