/*
 * webhook: relayd's notifications, POSTed as JSON to option webhook_url from this module's own
 * thread. Events: channel_disabled / channel_enabled (a channel auto-disabled or re-enabled by
 * relayd), key_disabled / key_enabled (one key of a key pool, keypool.h), balance_low (balpoll.h),
 * test (gwctl notify test sends the same shape itself), and the monitor's budget_alert /
 * quota_reminder bodies. A channel event's body is common/hookevent.h's.
 * The queue is bounded (WEBHOOK_QUEUE_MAX: when full the new event is dropped and counted); each
 * POST has a 5 s timeout and a failed one is retried up to WEBHOOK_TRIES times, 1 s doubling
 * between tries; an empty webhook_url drops what is queued; at stop, what is queued is dropped and a
 * POST in flight abandoned (a dead receiver does not hold up relayd's exit). The system log row of each event is the
 * caller's (through the writer).
 * Callers: health.c, keypool.c, monitor.c (re-enables, budget alerts), balpoll.c (any thread: a
 * post only copies under a short lock); main.c (start, stop); metrics.c (stats).
 * Never: blocks its caller on the network, puts a key or any secret in a payload, logs the URL
 * (it may hold a token).
 */
#ifndef RELAY_WEBHOOK_H
#define RELAY_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_QUEUE_MAX 256
#define WEBHOOK_TRIES 4

struct webhook_stats {
  uint64_t queued, delivered, failed, dropped;   /* since start; failed: gave up after the tries */
};

int webhook_start(char *err, size_t errlen);
/* Delivers nothing more (what is queued is dropped) and joins the thread. */
void webhook_stop(void);
/* Queues body (a JSON object's text, copied). Never blocks on the network. */
void webhook_post(const char *body);
/* Queues a channel event (see above). key_index < 0: none; balance NULL: none. */
void webhook_channel_event(const char *event, int64_t channel_id, const char *channel, int key_index,
                           const char *reason, const double *balance, const char *currency);
void webhook_get_stats(struct webhook_stats *out);

#endif
