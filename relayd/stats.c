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
  ws->last_resp.status = -1;
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

static struct stat_entry *entry_new(struct worker_stats *ws, const char *key)
{
  struct stat_entry *e = arena_alloc(&ws->arena, sizeof *e);
  strmap_put(&ws->entries, arena_strdup(&ws->arena, key), e);
  return e;
}

/* The entry of key, created while the table has room; past STATS_MAX_KEYS, the overflow entry of
 * the key's kind instead (created beyond the bound: there are at most a handful). Under ws->lock. */
static struct stat_entry *entry(struct worker_stats *ws, const char *key)
{
  struct stat_entry *e = strmap_get(&ws->entries, key);
  if (e)
    return e;
  if (ws->entries.count < STATS_MAX_KEYS)
    return entry_new(ws, key);
  const char *spill = key[0] == 'm'   ? "m" STATS_OTHER
                      : key[0] == 'r' ? "r" STATS_OTHER "\x1f" "0\x1f" "0"
                      : key[0] == 'c' ? "c0"
                      : key[0] == 's' ? "s0\x1f" "other"
                                      : "x";   /* e and l keys are fixed names: never here */
  ws->overflow++;
  e = strmap_get(&ws->entries, spill);
  return e ? e : entry_new(ws, spill);
}

/* A record's histogram buckets, computed once for its three entries (a log2 each). */
struct buckets {
  int latency, first_byte;
};

static void add(struct stat_entry *e, const struct req_event *ev, const struct buckets *b, bool error)
{
  e->requests++;
  e->errors += error;
  e->prompt_tokens += (uint64_t)ev->prompt_tokens;
  e->completion_tokens += (uint64_t)ev->completion_tokens;
  e->cached_tokens += (uint64_t)ev->cached_tokens;
  e->quota += (uint64_t)ev->quota;
  e->latency[b->latency]++;
  e->latency_sum_us += (uint64_t)(ev->elapsed_us > 0 ? ev->elapsed_us : 0);
  if (ev->first_byte_us > 0) {
    e->first_byte[b->first_byte]++;
    e->first_byte_sum_us += (uint64_t)ev->first_byte_us;
  }
}

void stats_entry_add(struct stat_entry *dst, const struct stat_entry *src)
{
  dst->in_flight += src->in_flight;
  dst->requests += src->requests;
  dst->errors += src->errors;
  dst->prompt_tokens += src->prompt_tokens;
  dst->completion_tokens += src->completion_tokens;
  dst->cached_tokens += src->cached_tokens;
  dst->quota += src->quota;
  dst->latency_sum_us += src->latency_sum_us;
  dst->first_byte_sum_us += src->first_byte_sum_us;
  dst->upstream_sum_us += src->upstream_sum_us;
  dst->attempt_failures += src->attempt_failures;
  for (int b = 0; b < LAT_BUCKETS; b++) {
    dst->latency[b] += src->latency[b];
    dst->first_byte[b] += src->first_byte[b];
    dst->upstream[b] += src->upstream[b];
  }
}

uint64_t stats_merge(struct worker_stats *const *ws, int n, struct strmap *out, struct arena *a)
{
  uint64_t dropped = 0;
  for (int i = 0; i < n; i++) {
    dropped += atomic_load(&ws[i]->events_dropped);
    pthread_mutex_lock(&ws[i]->lock);
    for (size_t k = 0; k < ws[i]->entries.nslots; k++) {
      void *v;
      const char *key = strmap_slot(&ws[i]->entries, k, &v);
      if (!key)
        continue;
      struct stat_entry *dst = strmap_get(out, key);
      if (!dst) {
        dst = arena_alloc(a, sizeof *dst);
        strmap_put(out, arena_strdup(a, key), dst);
      }
      stats_entry_add(dst, v);
    }
    pthread_mutex_unlock(&ws[i]->lock);
  }
  return dropped;
}

uint64_t stats_overflow(struct worker_stats *const *ws, int n)
{
  uint64_t total = 0;
  for (int i = 0; i < n; i++) {
    pthread_mutex_lock(&ws[i]->lock);
    total += ws[i]->overflow;
    pthread_mutex_unlock(&ws[i]->lock);
  }
  return total;
}

/* Entry keys are built per request (channel, model, route, status): appended by hand, bounded and
 * truncated as snprintf would, without printf's parsing of a format each time. */
static size_t key_str(char *k, size_t cap, size_t len, const char *s)
{
  while (*s && len + 1 < cap)
    k[len++] = *s++;
  k[len] = '\0';
  return len;
}

static size_t key_int(char *k, size_t cap, size_t len, long long v)
{
  char tmp[24];
  int n = 0;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    tmp[n++] = '-';
  while (n > 0 && len + 1 < cap)
    k[len++] = tmp[--n];
  k[len] = '\0';
  return len;
}

/* "c<channel id>" */
static void channel_key(char *k, size_t cap, int64_t channel_id)
{
  key_int(k, cap, key_str(k, cap, 0, "c"), (long long)channel_id);
}

/* The entry of channel_id: the last one found again without a key built and hashed (a channel's
 * transfer starts and ends on the same worker, back to back), else entry(). Under ws->lock. */
static struct stat_entry *channel_entry(struct worker_stats *ws, int64_t channel_id)
{
  if (channel_id && ws->last_ch.channel_id == channel_id)
    return ws->last_ch.e;
  char ck[32];
  channel_key(ck, sizeof ck, channel_id);
  uint64_t overflow = ws->overflow;
  struct stat_entry *e = entry(ws, ck);
  if (ws->overflow == overflow) {   /* its own entry, not an overflow one (counted per call) */
    ws->last_ch.channel_id = channel_id;
    ws->last_ch.e = e;
  }
  return e;
}

void stats_upstream_done(struct worker_stats *ws, int64_t channel_id, int64_t upstream_us)
{
  if (upstream_us < 0)
    upstream_us = 0;
  int b = stats_bucket(upstream_us);
  pthread_mutex_lock(&ws->lock);
  struct stat_entry *e = channel_entry(ws, channel_id);
  e->in_flight--;
  e->upstream[b]++;
  e->upstream_sum_us += (uint64_t)upstream_us;
  pthread_mutex_unlock(&ws->lock);
}

void stats_ratelimit_rejected(struct worker_stats *ws, const char *scope)
{
  char k[80];
  snprintf(k, sizeof k, "l%s", scope);
  pthread_mutex_lock(&ws->lock);
  entry(ws, k)->requests++;
  pthread_mutex_unlock(&ws->lock);
}

void stats_channel_busy(struct worker_stats *ws, int64_t channel_id, int delta)
{
  pthread_mutex_lock(&ws->lock);
  channel_entry(ws, channel_id)->in_flight += delta;
  pthread_mutex_unlock(&ws->lock);
}

void stats_record(struct worker_stats *ws, const struct req_event *ev, bool error)
{
  char ck[32], mk[160], rk[224], ek[32];
  const char *model = ev->model_known ? ev->model : STATS_OTHER;
  int status = ev->status >= 100 && ev->status <= 599 ? ev->status : 0;
  struct buckets b = {stats_bucket(ev->elapsed_us), ev->first_byte_us > 0 ? stats_bucket(ev->first_byte_us) : 0};
  pthread_mutex_lock(&ws->lock);
  if (ws->last.valid && ws->last.channel_id == ev->channel_id && ws->last.status == status &&
      strcmp(ws->last.model, model) == 0) {
    if (ws->last.c)
      add(ws->last.c, ev, &b, error);
    add(ws->last.m, ev, &b, error);
    add(ws->last.r, ev, &b, error);
    if (ev->stream) {
      key_str(ek, sizeof ek, key_str(ek, sizeof ek, 0, "e"), ev->end_reason);
      entry(ws, ek)->requests++;
    }
    pthread_mutex_unlock(&ws->lock);
    return;
  }
  /* a miss: the keys are formatted under the lock all the same (a few hundred instructions; only
   * the admin thread's collection ever waits on it), the lock taken once a record */
  channel_key(ck, sizeof ck, ev->channel_id);
  key_str(mk, sizeof mk, key_str(mk, sizeof mk, 0, "m"), model);
  size_t n = key_str(rk, sizeof rk, key_str(rk, sizeof rk, key_str(rk, sizeof rk, 0, "r"), model), "\x1f");
  n = key_str(rk, sizeof rk, key_int(rk, sizeof rk, n, (long long)ev->channel_id), "\x1f");
  key_int(rk, sizeof rk, n, status);
  uint64_t overflow = ws->overflow;
  struct stat_entry *c = ev->channel_id ? entry(ws, ck) : NULL, *m = entry(ws, mk), *rm = entry(ws, rk);
  if (c)
    add(c, ev, &b, error);
  add(m, ev, &b, error);
  add(rm, ev, &b, error);
  /* remembered only when each is its key's own entry (an overflow entry is counted per record) */
  size_t ml = strlen(model);
  ws->last.valid = ws->overflow == overflow && ml < sizeof ws->last.model;
  if (ws->last.valid) {
    ws->last.channel_id = ev->channel_id;
    ws->last.status = status;
    memcpy(ws->last.model, model, ml + 1);
    ws->last.c = c;
    ws->last.m = m;
    ws->last.r = rm;
  }
  if (ev->stream) {
    key_str(ek, sizeof ek, key_str(ek, sizeof ek, 0, "e"), ev->end_reason);
    entry(ws, ek)->requests++;
  }
  pthread_mutex_unlock(&ws->lock);
}

void stats_attempt_failed(struct worker_stats *ws, int64_t channel_id)
{
  pthread_mutex_lock(&ws->lock);
  channel_entry(ws, channel_id)->attempt_failures++;
  pthread_mutex_unlock(&ws->lock);
}

/* reason as a label: a short word of [a-z0-9_] (relayd's own error codes), else "other". */
static const char *reason_label(const char *reason)
{
  if (!reason || !*reason)
    return "ok";
  size_t n = 0;
  for (; reason[n]; n++)
    if (n >= 31 || !((reason[n] >= 'a' && reason[n] <= 'z') || (reason[n] >= '0' && reason[n] <= '9') ||
                     reason[n] == '_'))
      return "other";
  return reason;
}

void stats_response(struct worker_stats *ws, int status, const char *reason)
{
  const char *label = reason_label(reason);
  if (status < 100 || status > 599)
    status = 0;
  pthread_mutex_lock(&ws->lock);
  if (ws->last_resp.status == status && strcmp(ws->last_resp.label, label) == 0) {
    ws->last_resp.e->requests++;   /* the same answer as the last: its entry without a key */
    pthread_mutex_unlock(&ws->lock);
    return;
  }
  char k[48];
  size_t n = key_int(k, sizeof k, key_str(k, sizeof k, 0, "s"), status);
  key_str(k, sizeof k, key_str(k, sizeof k, n, "\x1f"), label);
  uint64_t overflow = ws->overflow;
  struct stat_entry *e = entry(ws, k);
  e->requests++;
  size_t ll = strlen(label);          /* reason_label: at most 31 bytes */
  if (ws->overflow == overflow && ll < sizeof ws->last_resp.label) {
    ws->last_resp.status = status;
    memcpy(ws->last_resp.label, label, ll + 1);
    ws->last_resp.e = e;
  }
  pthread_mutex_unlock(&ws->lock);
}

void stats_event(struct worker_stats *ws, const struct req_event *ev)
{
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
