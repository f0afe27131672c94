/* stats: see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

_Atomic int stats_subscribers;

void stats_init(struct worker_stats *ws)
{
  memset(ws, 0, sizeof *ws);
  pthread_mutex_init(&ws->lock, NULL);
  strmap_init(&ws->entries, 64);
}

void stats_free(struct worker_stats *ws)
{
  strmap_free(&ws->entries);
  arena_free(&ws->arena);
  pthread_mutex_destroy(&ws->lock);
}

int stats_bucket(int64_t us)
{
  if (us <= 50)
    return 0;
  int b = (int)ceil(4.0 * log2((double)us / 50.0));
  return b >= LAT_BUCKETS ? LAT_BUCKETS - 1 : b;
}

double stats_bucket_upper_us(int b)
{
  return 50.0 * exp2(b / 4.0);
}

double stats_quantile_ms(const uint32_t *hist, double q)
{
  uint64_t total = 0, seen = 0;
  for (int i = 0; i < LAT_BUCKETS; i++)
    total += hist[i];
  if (!total)
    return 0;
  uint64_t rank = (uint64_t)ceil(q * (double)total);
  if (rank == 0)
    rank = 1;
  for (int i = 0; i < LAT_BUCKETS; i++) {
    seen += hist[i];
    if (seen >= rank)
      return stats_bucket_upper_us(i) / 1000.0;
  }
  return stats_bucket_upper_us(LAT_BUCKETS - 1) / 1000.0;
}

static struct stat_entry *entry(struct worker_stats *ws, const char *key)
{
  struct stat_entry *e = strmap_get(&ws->entries, key);
  if (!e) {
    e = arena_alloc(&ws->arena, sizeof *e);
    strmap_put(&ws->entries, arena_strdup(&ws->arena, key), e);
  }
  return e;
}

static void add(struct stat_entry *e, const struct req_event *ev, bool error)
{
  e->requests++;
  e->errors += error;
  e->prompt_tokens += (uint64_t)ev->prompt_tokens;
  e->completion_tokens += (uint64_t)ev->completion_tokens;
  e->quota += (uint64_t)ev->quota;
  e->latency[stats_bucket(ev->elapsed_us)]++;
  if (ev->first_byte_us > 0)
    e->first_byte[stats_bucket(ev->first_byte_us)]++;
}

void stats_channel_busy(struct worker_stats *ws, int64_t channel_id, int delta)
{
  char ck[32];
  snprintf(ck, sizeof ck, "c%lld", (long long)channel_id);
  pthread_mutex_lock(&ws->lock);
  entry(ws, ck)->in_flight += delta;
  pthread_mutex_unlock(&ws->lock);
}

void stats_record(struct worker_stats *ws, const struct req_event *ev, bool error)
{
  char ck[32], mk[80];
  snprintf(ck, sizeof ck, "c%lld", (long long)ev->channel_id);
  snprintf(mk, sizeof mk, "m%s", ev->model);
  pthread_mutex_lock(&ws->lock);
  if (ev->channel_id)
    add(entry(ws, ck), ev, error);
  add(entry(ws, mk), ev, error);
  pthread_mutex_unlock(&ws->lock);

  if (atomic_load_explicit(&stats_subscribers, memory_order_relaxed) == 0)
    return;
  uint64_t head = atomic_load_explicit(&ws->ring_head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&ws->ring_tail, memory_order_acquire);
  if (head - tail >= EVENT_RING) {
    atomic_fetch_add_explicit(&ws->events_dropped, 1, memory_order_relaxed);
    return;
  }
  ws->ring[head & (EVENT_RING - 1)] = *ev;
  atomic_store_explicit(&ws->ring_head, head + 1, memory_order_release);
}

bool stats_next_event(struct worker_stats *ws, struct req_event *out)
{
  uint64_t tail = atomic_load_explicit(&ws->ring_tail, memory_order_relaxed);
  uint64_t head = atomic_load_explicit(&ws->ring_head, memory_order_acquire);
  if (tail == head)
    return false;
  *out = ws->ring[tail & (EVENT_RING - 1)];
  atomic_store_explicit(&ws->ring_tail, tail + 1, memory_order_release);
  return true;
}
