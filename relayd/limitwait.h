/*
 * limitwait: the bounded queue of requests that found every channel at its limit (chanlimit.h) and
 * wait for room instead of getting 429 at once, when the operator set option
 * channel_limit_wait_ms (0, the default: no queue). A waiting request holds no channel, no
 * reservation and no rate-limit room: its connection is suspended and the worker's tick (every
 * TICK_MS) resumes it when the soonest limit has room again, or at its deadline (admitted plus
 * channel_limit_wait_ms); admit.c then routes it again, and at the deadline answers the 429.
 * At most channel_limit_queue requests wait at once on this relayd (all workers): past that, 429
 * at once. relayd's stop answers every waiting request 503 (relay.c's end_all).
 * Callers: admit.c (begin, the retry), attempt.c's relay_tick (tick), relay.c (end_all),
 * reqpool.c (a request freed while waiting). Never: blocks, allocates, or touches a channel.
 */
#ifndef RELAY_LIMITWAIT_H
#define RELAY_LIMITWAIT_H

#include <stdbool.h>
#include <stdint.h>

struct request;

/* r found every channel at a limit; the soonest has room in retry_ms. true: r now waits (its
 * connection suspended); false: no queue, it is full, or r's deadline has passed: answer 429. */
bool limitwait_begin(struct request *r, int64_t retry_ms);
/* The tick: resumes r when it is due (its retry time, its deadline, or relayd is stopping). */
void limitwait_tick(struct request *r, uint64_t now_us);
/* r leaves the queue without being resumed by the tick (freed, or answered at stop). */
void limitwait_forget(struct request *r);
/* Requests waiting now (all workers). */
int64_t limitwait_waiting(void);

#endif
