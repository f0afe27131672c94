/*
 * stats: live counters of one worker, per channel and per model (requests, errors, tokens, quota,
 * latency and time-to-first-byte histograms), and the worker's ring of finished-request events for
 * admin subscribers.
 * The worker records under its own mutex, which only the admin thread ever contends for (when it
 * collects, a few times a second at most); events go through a single-producer single-consumer
 * ring that never blocks the worker: when it is full the event is dropped and counted.
 * Callers: relay.c (record, on settle), admin.c (collect, drain events). Never: allocates per
 * request once a key has been seen; blocks a worker on anything slow.
 */
#ifndef RELAY_STATS_H
#define RELAY_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define LAT_BUCKETS 80          /* 50 us * 2^(i/4): up to about 52 s */
#define EVENT_RING 512          /* a power of two */

struct stat_entry {
  int64_t in_flight;            /* channel entries: upstream transfers open now */
  uint64_t requests, errors;
  uint64_t prompt_tokens, completion_tokens, quota;
  uint32_t latency[LAT_BUCKETS];
  uint32_t first_byte[LAT_BUCKETS];
};

/* What a finished request reports. */
struct req_event {
  char request_id[40];
  int64_t ts_ms;
  int64_t channel_id;
  char model[64];
  char token[64];
  char user[64];
  int status;
  bool stream;
  int64_t prompt_tokens, completion_tokens, quota;
  int64_t elapsed_us, first_byte_us;
  char end_reason[16];
};

struct worker_stats {
  pthread_mutex_t lock;
  struct strmap entries;        /* "c<id>" / "m<model>" -> struct stat_entry; under lock */
  struct arena arena;           /* keys and entries; under lock */
  struct req_event ring[EVENT_RING];
  _Atomic uint64_t ring_head;   /* written by the worker */
  _Atomic uint64_t ring_tail;   /* written by the admin thread */
  _Atomic uint64_t events_dropped;
};

/* Admin subscribers exist: workers fill their rings only while this is non-zero. */
extern _Atomic int stats_subscribers;

void stats_init(struct worker_stats *ws);
void stats_free(struct worker_stats *ws);
void stats_record(struct worker_stats *ws, const struct req_event *ev, bool error);
/* An upstream transfer on channel_id starts (+1) or ends (-1). */
void stats_channel_busy(struct worker_stats *ws, int64_t channel_id, int delta);

/* Admin side: the bucket index of a duration, and its upper bound in microseconds. */
int stats_bucket(int64_t us);
double stats_bucket_upper_us(int b);
/* The value at quantile q (0..1) of a histogram, in milliseconds; 0 when it is empty. */
double stats_quantile_ms(const uint32_t *hist, double q);
/* Copies the next event of the ring into out; false when the ring is empty. */
bool stats_next_event(struct worker_stats *ws, struct req_event *out);

#endif
