/*
 * store: the writes that gwctl's commands and gwctl apply share, so a price, a price tier, a
 * fallback chain or a group is stored by one statement whoever asks: cmd_price.c (set, import),
 * cmd_fallback.c (set), cmd_group.c (set) and apply_exec.c. The values come checked (common/rules.h
 * holds the rules); these only write, inside the caller's transaction.
 * Never: opens or ends a transaction, writes a manage log row (the caller words its own), or checks
 * a value again.
 */
#ifndef RELAY_GWCTL_STORE_H
#define RELAY_GWCTL_STORE_H

#include <stdint.h>

#include "rules.h"

struct gwctl;

/* Upserts p. Ratios not given keep their stored value (1 for a new model); with a ratio price
 * (has_ratio) the cache write and audio ratios not given return to NULL, like the other ratios of
 * that price; fixed_price is p's (NULL without has_fixed); max_output_tokens not given keeps its
 * stored value (NULL for a new model). 0 or GW_FAIL after printing. */
int gw_price_write(struct gwctl *g, const struct price *p);
/* Writes p's tier (when has_tier: tier_above 0 removes it; a ratio < 0 is NULL, the base one) onto
 * its stored row. 0 or GW_FAIL. */
int gw_price_tier_write(struct gwctl *g, const struct price *p);
/* Sets the fallback chain of model for scope ("model", "group", "token") and subject ('' / the
 * group's name / the token's id): chain and on as comma lists. 0 or GW_FAIL. */
int gw_fallback_put(struct gwctl *g, const char *scope, const char *subject, const char *model,
                    const char *chain, const char *on);
/* Adds user name (refused with GW_CONFLICT when taken) inside the current transaction; *id gets its
 * id. 0 or an exit code after printing. */
int gw_user_insert(struct gwctl *g, const char *name, int64_t role, int64_t status, int64_t quota,
                   const char *group, int64_t *id);
/* Adds group name or changes it: ratio and selectable set when has_ratio / has_sel (a new group:
 * 1 and no when not given). 0 or GW_FAIL. */
int gw_group_put(struct gwctl *g, const char *name, int has_ratio, double ratio, int has_sel, int sel);

#endif
