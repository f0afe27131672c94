/*
 * apply_read: reads each kind of the provisioning document from the database as canonical JSON, one
 * SELECT per kind (a table of readers: columns in the order of the object's fields), key pools added
 * to their channels. gwctl export writes what it reads, gwctl apply compares the file with it, so an
 * export applies back as a no-op.
 * Callers: cmd_apply.c (export and apply). Never: writes, reads a key (only whether a channel has
 * one, and a token's key hash, both internal "\x01" fields ap_strip_internal drops before output).
 */
#ifndef RELAY_GWCTL_APPLY_READ_H
#define RELAY_GWCTL_APPLY_READ_H

#include "apply_model.h"

/* Reads every item of kind k from the database into s. */
int ap_read_kind(struct gwctl *g, enum kind k, struct set *s);
/* Drops the internal fields ("\x01...") of a canonical object. */
void ap_strip_internal(cJSON *o);

#endif
