/*
 * apply_check: checks a provisioning document into a->want: every entry of every section read field
 * by field (apply_fields.h) into the canonical form the database readers give, with the rules of the
 * commands that make the same things (common/rules.h: gwctl price set, channel add/edit, fallback set,
 * token add, ...), secrets resolved from their references, duplicates refused.
 * Callers: cmd_apply.c. Never: reads or writes the database, or prints a secret.
 */
#ifndef RELAY_GWCTL_APPLY_CHECK_H
#define RELAY_GWCTL_APPLY_CHECK_H

#include "apply_model.h"

/* Reads the document's sections into a->want. */
void ap_check_document(struct apply *a, const cJSON *doc);

#endif
