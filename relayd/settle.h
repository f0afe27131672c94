/*
 * settle: the end of a billed request -- what it used is charged against its reservation (the
 * rest goes back to the balances), the rate limits learn its real size, its log row goes to the
 * writer and its figures to the worker's stats.
 * Callers: the stages that end a request (respond.c, stream.c, attempt.c, front.c, relay.c).
 * Never: answers the client, touches the connection or the upstream transfer, or settles twice
 * (r->settled); a request that reserved nothing (billing_open false) is left alone.
 */
#ifndef RELAY_SETTLE_H
#define RELAY_SETTLE_H

struct request;

/* Charges what r used, gives back the rest of the reservation, and queues the log row with
 * end_reason ("done", "timeout", "client_gone", ...). Runs exactly once for every request that
 * reserved quota. */
void settle(struct request *r, const char *end_reason);

/* Starts the count of the model-made text of an answer afresh (an attempt, a whole answer): the
 * model's tokenizer when one is loaded for it (tokenizer.h), else characters/4; settle reads it when
 * the upstream gives no usage. Returns the count, for struct format_facts' tokens. */
struct tok_count *settle_count_restart(struct request *r);

#endif
