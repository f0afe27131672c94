/*
 * apply_plan: the plan of one apply: create / update (field: old -> new) / delete (--prune only),
 * compared on the canonical objects, keys compared through channels.c and the token key hash without
 * ever showing them; and each change as a line of text or a JSON object.
 * Callers: cmd_apply.c (the plan, its output), apply_exec.c (the manage log row of each change).
 * Never: writes, or puts a secret in a change (a key shows as "(secret)" -> "(changed)").
 */
#ifndef RELAY_GWCTL_APPLY_PLAN_H
#define RELAY_GWCTL_APPLY_PLAN_H

#include "apply_model.h"

int ap_plan(struct apply *a);
/* The plan entry as JSON. */
cJSON *ap_change_json(const struct change *c);
/* The plan entry as one line of text ("update channel x: weight: 0 -> 5, ..."). */
void ap_change_text(const struct change *c, char *out, size_t len);

#endif
