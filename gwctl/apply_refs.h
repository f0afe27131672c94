/*
 * apply_refs: the references between kinds in the state apply leaves (the file's entries over the
 * database's, minus what --prune deletes): a user's group, a token's user and group, a fallback's
 * group and token, a channel's pool keys; each broken one is reported and counted in a->errors.
 * Callers: cmd_apply.c, after apply_check. Never: reads or writes the database (it works on a->have).
 */
#ifndef RELAY_GWCTL_APPLY_REFS_H
#define RELAY_GWCTL_APPLY_REFS_H

#include "apply_model.h"

void ap_check_references(struct apply *a);
/* Channels: a new pool key needs its key; a channel with a pool takes its keys in "keys". Fallbacks:
 * their group and token exist. */
void ap_check_references2(struct apply *a);

#endif
