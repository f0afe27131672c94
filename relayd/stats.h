/*
 * stats: live counters of one worker, per channel and per model (requests, errors, tokens, quota,
 * latency and time-to-first-byte histograms), and the worker's ring of finished-request events for
 * admin subscribers.
 * The worker records under its own mutex, which only the admin thread ever contends for (when it
 * collects, a few times a second at most); events go through a single-producer single-consumer
 * ring that never blocks the worker: when it is full the event is dropped and counted.
 * Entries are keyed by a kind letter: "c<channel id>", "m<model>", "r<model>\x1f<channel id>\x1f
 * <status>" (requests, tokens and quota by model, channel and status, for /metrics), "e<reason>"
 * (how streams ended), "l<scope>" (rate-limit rejections), "s<status>\x1f<reason>" (every answer relayd
 * sent, by HTTP status and the error code it carried: refusals before any upstream included).
 * Bounded (issue #18: client-chosen names must not grow the tables): a model name gets its own
 * entries only when the request's snapshot knows it (req_event.model_known: priced, or routed for
 * the key's group); any other name (an unknown or reasoning-suffixed one, "gpt-4o-thinking-517")
 * counts under STATS_OTHER. A status outside 100..599 counts as 0. And each worker's table holds at
 * most STATS_MAX_KEYS entries: past that, a new key's counts go to its kind's overflow entry
 * ("mother", "rother\x1f0\x1f0", "c0") and stats_overflow() counts them, so memory and the /metrics
 * and `stats` answers stay bounded whatever clients send.
 * Callers: relay's stages (settle.c: record; respond.c: responses and events; attempt.c, admit.c:
 * counters), front.c (the gate's refusals, through respond.c), admin.c (collect),
 * adminsock.c (drain events), metrics.c (collect).
 * Never: allocates per request once a key has been seen; blocks a worker on anything slow.
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
#define STATS_MAX_KEYS 1024     /* entries per worker before new keys fold into the overflow ones */
#define STATS_OTHER "other"     /* the model label of names the snapshot does not know */

struct stat_entry {
  int64_t in_flight;            /* channel entries: upstream transfers open now */
  uint64_t requests, errors;
  uint64_t prompt_tokens, completion_tokens, cached_tokens, quota;
  uint64_t latency_sum_us, first_byte_sum_us, upstream_sum_us;
  uint32_t latency[LAT_BUCKETS];
  uint32_t first_byte[LAT_BUCKETS];
  uint32_t upstream[LAT_BUCKETS];  /* channel entries: one upstream transfer, start to end */
  uint64_t attempt_failures;    /* channel entries: attempts that failed on the channel's side
                                 * (5xx, 429, timeout, connection, broken stream, account), retried
                                 * on another channel or not */
};

/* What a finished request reports. */
struct req_event {
  char request_id[40];
  int64_t ts_ms;
  int64_t channel_id;
  char model[128];             /* MODEL_NAME_MAX: a known name is never cut */
  bool model_known;             /* the snapshot knows model (priced or routed): it gets its own
                                 * series; else it counts as STATS_OTHER (the event keeps the name) */
  char token[64];
  char user[64];
  int status;
  bool stream;
  int64_t prompt_tokens, completion_tokens, cached_tokens, quota;
  int64_t elapsed_us, first_byte_us;
  char end_reason[16];
  char reason[32];              /* the error code of relayd's answer (invalid_api_key, ...), "upstream"
                                 * for an upstream's own error passed on, "" for none */
  char error[200];              /* the message of that error answer (a 502's says what the upstream
                                 * said), cut; "" for none */
  bool refused;                 /* answered by relayd itself, nothing billed (end_reason "refused") */
};

struct worker_stats {
  pthread_mutex_t lock;
  struct strmap entries;        /* "c<id>" / "m<model>" -> struct stat_entry; under lock */
  struct arena arena;           /* keys and entries; under lock */
  struct req_event ring[EVENT_RING];
  _Atomic uint64_t ring_head;   /* written by the worker */
  _Atomic uint64_t ring_tail;   /* written by the admin thread */
  _Atomic uint64_t events_dropped;
  uint64_t overflow;            /* records that went to an overflow entry (table full); under lock */
  struct {                      /* stats_record's last keys and their entries (entries are never
                                 * removed): the same channel, model and status again finds them
                                 * without building and hashing three keys; under lock */
    bool valid;
    int64_t channel_id;
    int status;
    char model[160];
    struct stat_entry *c, *m, *r;
  } last;
  struct {                      /* the last channel entry found by stats_channel_busy,
                                 * stats_upstream_done, stats_attempt_failed (its own, never an
                                 * overflow entry); under lock */
    int64_t channel_id;         /* 0: none */
    struct stat_entry *e;
  } last_ch;
  struct {                      /* stats_response's last status and reason label; under lock */
    int status;                 /* -1: none */
    char label[32];
    struct stat_entry *e;
  } last_resp;
};

/* Admin subscribers exist: workers fill their rings only while this is non-zero. */
extern _Atomic int stats_subscribers;

void stats_init(struct worker_stats *ws);
void stats_free(struct worker_stats *ws);
/* Counts a billed request's figures (channel, model, model x channel x status, stream end). */
void stats_record(struct worker_stats *ws, const struct req_event *ev, bool error);
/* Puts a finished request's event in the ring for admin subscribers (dropped and counted when the
 * ring is full; nothing while nobody subscribes). Called once per answer (respond.c). */
void stats_event(struct worker_stats *ws, const struct req_event *ev);
/* One answer sent: status (outside 100..599 counts as 0) and reason, the error code it carried
 * ("ok" for none). A reason that is not a short [a-z0-9_] word counts as "other": the label set
 * stays bounded. */
void stats_response(struct worker_stats *ws, int status, const char *reason);
/* An upstream attempt on channel_id failed on the channel's side (attempt.c). */
void stats_attempt_failed(struct worker_stats *ws, int64_t channel_id);
/* An upstream transfer on channel_id starts (+1) or ends (-1). */
void stats_channel_busy(struct worker_stats *ws, int64_t channel_id, int delta);
/* An upstream transfer on channel_id ended after upstream_us: in_flight -1 and the histogram. */
void stats_upstream_done(struct worker_stats *ws, int64_t channel_id, int64_t upstream_us);
/* A request refused by a rate limit; scope names the limit ("token_rpm", "user_tpm", ...). */
void stats_ratelimit_rejected(struct worker_stats *ws, const char *scope);
/* Adds src into dst (all counters and histograms). */
void stats_entry_add(struct stat_entry *dst, const struct stat_entry *src);
/* Sums the entries of n workers' stats into out (keys and entries allocated from a; the caller
 * frees both). Takes each worker's lock in turn, briefly. Returns the events dropped. */
uint64_t stats_merge(struct worker_stats *const *ws, int n, struct strmap *out, struct arena *a);
/* Records counted in an overflow entry because a worker's table was full, all n workers. */
uint64_t stats_overflow(struct worker_stats *const *ws, int n);

/* Admin side: the bucket index of a duration, and its upper bound in microseconds. */
int stats_bucket(int64_t us);
double stats_bucket_upper_us(int b);
/* The value at quantile q (0..1) of a histogram, in milliseconds; 0 when it is empty. */
double stats_quantile_ms(const uint32_t *hist, double q);
/* Copies the next event of the ring into out; false when the ring is empty. */
bool stats_next_event(struct worker_stats *ws, struct req_event *out);

#endif
