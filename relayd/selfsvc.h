/*
 * selfsvc: what a key holder does for itself through the API, authenticated by its key (relay has
 * no web login): POST /v1/relay/redeem {"code":"..."} redeems a redemption code into the key's
 * OWNER's balance (gwctl redeem use's checks and log row), and GET /v1/relay/usage reads the key's
 * (scope=user: its owner's) usage by day and/or model from the logs table. Both need the database,
 * which a worker never touches: the worker checks the request, suspends the connection and hands a
 * job to this module's one thread, which has its own database connection, runs the bounded work
 * (a one-row transaction, or one read of at most SELFSVC_MAX_DAYS days and SELFSVC_MAX_ROWS rows),
 * folds the new balance into the ledger the way a reload does (snapshot_fold_balances, under
 * ledger_lock) so the next request of the key sees it, builds the whole answer and resumes the
 * connection (MHD_resume_connection is thread-safe; the worker queues r->pending, PH_RESPOND).
 * Failed redeem attempts are counted per key in memory (a fixed table, owned by the thread) and
 * refused 429 past SELFSVC_FAIL_MAX in SELFSVC_FAIL_WINDOW_S seconds, each logged.
 * Callers: front.c (selfsvc_redeem, selfsvc_usage, after authentication), main.c (start, stop).
 * Never: runs on a worker's thread past the hand-off; touches a request it was not handed; writes a
 * code into a log line.
 */
#ifndef RELAY_SELFSVC_H
#define RELAY_SELFSVC_H

#include <microhttpd.h>
#include <stddef.h>

struct request;

#define SELFSVC_MAX_DAYS 93
#define SELFSVC_MAX_ROWS 1000
#define SELFSVC_FAIL_MAX 10
#define SELFSVC_FAIL_WINDOW_S 600

int selfsvc_start(const char *db_url, char *err, size_t errlen);
/* After every worker stopped (no request waits on a job any more). */
void selfsvc_stop(void);

/* POST /v1/relay/redeem, its body read: a queued error, or MHD_YES with the connection suspended
 * until the thread answers. */
enum MHD_Result selfsvc_redeem(struct request *r);
/* GET /v1/relay/usage: the same. */
enum MHD_Result selfsvc_usage(struct request *r);

#endif
