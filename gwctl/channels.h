/*
 * channels: the one place gwctl writes and compares channels.key (so key storage, encryption at rest
 * with the master key, is decided in one spot). The channel types are common/provider.h's.
 * Also the key pools (table channel_keys, migration 012): each key sealed the same way, channels.key
 * kept as a copy of the pool's lowest-index key (tools that read channels.key find a working key).
 * Callers: cmd_channel.c, cmd_chankey.c, apply_plan.c and apply_exec.c (gwctl apply), cmd_import.c.
 * Never: prints or logs an upstream key, or stores one in clear.
 */
#ifndef RELAY_GWCTL_CHANNELS_H
#define RELAY_GWCTL_CHANNELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "output.h"

#define UPSTREAM_KEY_MAX 8192     /* bytes of one upstream key */
#define POOL_KEYS_MAX 1024        /* keys of one key pool */

struct gwctl;
struct secret_key;

/* Sets channel id's upstream key ("" = none) inside the current transaction. 0 or GW_FAIL. */
int gw_channel_set_key(struct gwctl *g, int64_t id, const char *key);
/* 1 when channel id's stored key equals key, 0 when not, -1 after printing an error. */
int gw_channel_key_equals(struct gwctl *g, int64_t id, const char *key);
/* A new channel's columns (comma lists and JSON text as stored; "" for none). */
struct gw_channel_row {
  const char *type, *name, *base_url, *models, *group, *model_map, *tag, *other;
  int64_t status, priority, weight;
};
/* Inserts channel c with key ("" = none) inside the current transaction; *id gets its id. A name
 * already taken is refused (GW_CONFLICT). 0 or an exit code after printing. Callers: cmd_channel.c
 * (channel add), apply_exec.c. */
int gw_channel_insert(struct gwctl *g, const struct gw_channel_row *c, const char *key, int64_t *id);
/* Loads the master key the same way relayd finds it (secret_key_path: $RELAY_MASTER_KEY_FILE, else
 * master.key beside the SQLite database), creating it when missing, so channels can be added before
 * relayd's first start. Returns 0 or GW_FAIL after printing. */
int gw_master_key(struct gwctl *g, struct secret_key *k);

/* Adds n keys to channel id's pool inside the current transaction, at the next indexes. A channel
 * without a pool first becomes one: its channels.key is key 1. Returns 0 or GW_FAIL; *first gets the
 * index of the first key added when not NULL. */
int gw_pool_add(struct gwctl *g, int64_t id, char *const *keys, size_t n, int64_t *first);
/* Sets channels.key to the sealed value of the pool's lowest-index key (nothing when the channel has
 * no pool). Inside the current transaction. 0 or GW_FAIL. */
int gw_pool_sync_first(struct gwctl *g, int64_t id);
/* 1 when key idx of channel id's pool is key, 0 when not (or no such key), -1 after printing. */
int gw_pool_key_equals(struct gwctl *g, int64_t id, int64_t idx, const char *key);
/* Stores key as key idx of channel id's pool (sealed; a new row is enabled, an existing one keeps its
 * status and limits) inside the current transaction. Does not touch channels.key: call
 * gw_pool_sync_first after the last change. 0 or GW_FAIL. Caller: apply_exec.c. */
int gw_pool_put(struct gwctl *g, int64_t id, int64_t idx, const char *key);
/* Sets the limits of key idx of channel id's pool: rpm, tpm, max_concurrency each when its has_ is
 * set (0 = no limit). Inside the current transaction. 0 or GW_FAIL. Callers: cmd_chankey.c (channel
 * key limit), apply_exec.c. */
int gw_pool_key_limits(struct gwctl *g, int64_t id, int64_t idx, int has_rpm, int64_t rpm, int has_tpm,
                       int64_t tpm, int has_conc, int64_t conc);
/* Sets channel id's key mode (NULL: kept) and limits: rpm, tpm, max_concurrency each when its has_ is
 * set (0 = no limit). Inside the current transaction. 0 or GW_FAIL. Callers: cmd_channel.c (channel
 * edit), apply_exec.c. */
int gw_channel_limits(struct gwctl *g, int64_t id, const char *key_mode, int has_rpm, int64_t rpm,
                      int has_tpm, int64_t tpm, int has_conc, int64_t conc);
/* Reads upstream keys, one a line (blank lines skipped, blanks around each trimmed), from f into a
 * malloc'd array of malloc'd strings (*keys, *n; free with gw_keys_free, which wipes them). At most
 * max keys of at most UPSTREAM_KEY_MAX bytes. Returns 0 or an exit code after printing. */
int gw_read_keys(struct gwctl *g, FILE *f, size_t max, char ***keys, size_t *n);
void gw_keys_free(char **keys, size_t n);

/* Channel id's keys as listing rows (index, masked key, status, reason, disabled_at, and relayd's
 * live requests / errors / spend when it answers); a channel without a pool: its one key as key 1.
 * A new array (the caller frees it with cJSON_Delete), or NULL after printing an error. Callers:
 * cmd_channel.c (channel show), cmd_chankey.c (channel key list). */
struct cJSON *gw_pool_rows(struct gwctl *g, int64_t id);
/* The columns of those rows (output.h). */
extern const struct out_col gw_pool_cols[];

#endif
