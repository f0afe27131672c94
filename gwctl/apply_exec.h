/*
 * apply_exec: carries out one change of the plan inside apply's transaction, with one manage log row:
 * the writes shared with the commands through store.h (prices and tiers, fallback chains, groups) and
 * channels.c (keys, key pools), the rest (users, channels, tokens, options, deletes) here; new token
 * keys staged in 0600 files renamed after the commit.
 * Callers: cmd_apply.c. Never: commits or rolls back, prints or logs a secret.
 */
#ifndef RELAY_GWCTL_APPLY_EXEC_H
#define RELAY_GWCTL_APPLY_EXEC_H

#include "apply_model.h"

int ap_exec_change(struct apply *a, struct change *c);

#endif
