/*
 * commit: the writer's transaction -- one batch of log records and state changes stored as one
 * transaction on the writer's own connection: reservations stored (multi-row INSERTs on SQLite) or
 * deleted (one opened and settled in the same batch never reaches the table), log rows (multi-row
 * INSERTs),
 * quota moved from users, tokens and channels summed per id in id order, state changes, and on
 * PostgreSQL the relay_balance NOTIFY naming whom it charged; with the commit, the balances'
 * db_base moves by the committed charges (ledger.h). After a commit that failed it first looks
 * whether the batch committed all the same, so nothing is written twice.
 * Callers: writer.c only (its thread). Never: runs on a worker; keeps a record after it returns.
 */
#ifndef RELAY_COMMIT_H
#define RELAY_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "logrec.h"

/* Opens the writer's connection to db_url and prepares its statements. 0, or -1 with err. */
int commit_open(const char *db_url, char *err, size_t errlen);
/* Finalizes the statements and closes the connection. */
void commit_close(void);
/* Stores recs[0..n) and ops[0..nops) in one transaction; reservations are stored under node, the
 * NOTIFY payload starts with node_id. 0 committed, -1 not (the caller keeps the batch and retries
 * it; the next call checks whether it went through). */
int commit_batch(const struct log_record *recs, size_t n, const struct writer_op *ops, size_t nops,
                 const char *node, uint64_t node_id);

#endif
