/* metrics: see metrics.h. */
#include "metrics.h"
#include "realtime.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"
#include "affinity.h"
#include "chanlimit.h"
#include "keypool.h"
#include "respcache.h"
#include "limitwait.h"
#include "snapshot.h"
#include "stats.h"
#include "tcplisten.h"
#include "util.h"
#include "worker.h"
#include "balpoll.h"
#include "webhook.h"
#include "writer.h"

static void pool_series(struct buf *b, const struct snapshot *s);
static void balance_series(struct buf *b, const struct snapshot *s);

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

struct metrics {
  struct MHD_Daemon *mhd;
  int fd;
  char address[160];
  struct worker *workers;
  int nworkers;
  int64_t started_at;
};

/* ---------------------------------------------------------------- exposition */

/* s as a label value: \ " and newline escaped. */
static void label(struct buf *b, const char *s)
{
  for (; *s; s++) {
    if (*s == '\\')
      buf_append_str(b, "\\\\");
    else if (*s == '"')
      buf_append_str(b, "\\\"");
    else if (*s == '\n')
      buf_append_str(b, "\\n");
    else
      buf_append(b, s, 1);
  }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
  buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* "name{k1="v1",k2="v2"}" with n label pairs (NULL keys are skipped). */
static void series(struct buf *b, const char *name, const char *const *kv, int n)
{
  buf_append_str(b, name);
  bool any = false;
  for (int i = 0; i < n; i++) {
    if (!kv[2 * i])
      continue;
    buf_append_str(b, any ? "," : "{");
    any = true;
    buf_append_str(b, kv[2 * i]);
    buf_append_str(b, "=\"");
    label(b, kv[2 * i + 1]);
    buf_append_str(b, "\"");
  }
  if (any)
    buf_append_str(b, "}");
}

/* A histogram of stats buckets as seconds: le at every doubling from 50 us (exact bucket edges:
 * internal bucket 4j ends at 50 us * 2^j). */
static void histogram(struct buf *b, const char *name, const char *lk, const char *lv,
                      const uint32_t *h, uint64_t sum_us)
{
  char bucket[128], le[32];
  snprintf(bucket, sizeof bucket, "%s_bucket", name);
  uint64_t cum = 0, total = 0;
  for (int i = 0; i < LAT_BUCKETS; i++)
    total += h[i];
  for (int j = 0; 4 * j < LAT_BUCKETS; j++) {
    for (int i = j ? 4 * (j - 1) + 1 : 0; i <= 4 * j; i++)
      cum += h[i];
    snprintf(le, sizeof le, "%g", stats_bucket_upper_us(4 * j) / 1e6);
    const char *kv[] = {lk, lv, "le", le};
    series(b, bucket, kv, 2);
    buf_appendf(b, " %llu\n", (unsigned long long)cum);
  }
  const char *kv[] = {lk, lv, "le", "+Inf"};
  series(b, bucket, kv, 2);
  buf_appendf(b, " %llu\n", (unsigned long long)total);
  char n2[128];
  snprintf(n2, sizeof n2, "%s_sum", name);
  series(b, n2, kv, 1);
  buf_appendf(b, " %.6f\n", (double)sum_us / 1e6);
  snprintf(n2, sizeof n2, "%s_count", name);
  series(b, n2, kv, 1);
  buf_appendf(b, " %llu\n", (unsigned long long)total);
}

static const char *channel_name(const struct snapshot *s, const char *id_text, char *buf, size_t len)
{
  int64_t id = 0;
  parse_int64(id_text, &id);
  const struct snap_channel *c = s && id ? snapshot_channel(s, id) : NULL;
  if (c)
    return c->name;
  if (!id)
    return "";
  snprintf(buf, len, "#%lld", (long long)id);    /* deleted since */
  return buf;
}

static int cmp_key(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Splits "r<model>\x1f<channel>\x1f<status>" in place. */
static bool split_r(char *k, char **model, char **chan, char **status)
{
  *model = k + 1;
  char *a = strchr(*model, '\x1f');
  if (!a)
    return false;
  *a = '\0';
  *chan = a + 1;
  char *b2 = strchr(*chan, '\x1f');
  if (!b2)
    return false;
  *b2 = '\0';
  *status = b2 + 1;
  return true;
}

char *metrics_render(struct worker *workers, int nworkers, int64_t started_at, size_t *len)
{
  struct arena a = {0};
  struct strmap merged;
  strmap_init(&merged, 64);
  struct worker_stats *ws[nworkers > 0 ? nworkers : 1];
  uint64_t received = 0;
  int64_t in_flight = 0;
  for (int i = 0; i < nworkers; i++) {
    ws[i] = &workers[i].stats;
    received += atomic_load_explicit(&workers[i].ctr.requests_total, memory_order_relaxed);
    in_flight += atomic_load_explicit(&workers[i].ctr.in_flight, memory_order_relaxed);
  }
  uint64_t dropped = stats_merge(ws, nworkers, &merged, &a);
  uint64_t overflow = stats_overflow(ws, nworkers);
  struct snapshot *s = snapshot_acquire(NULL);
  struct writer_stats wst;
  writer_get_stats(&wst);

  /* keys by kind, sorted so a scrape lists series in a stable order */
  size_t nkeys = 0;
  const char **keys = arena_alloc(&a, (merged.nslots + 1) * sizeof *keys);
  for (size_t k = 0; k < merged.nslots; k++) {
    void *v;
    const char *key = strmap_slot(&merged, k, &v);
    if (key)
      keys[nkeys++] = key;
  }
  qsort(keys, nkeys, sizeof *keys, cmp_key);

  struct buf b;
  buf_init(&b, 64u << 20);
  char tmp[48];

  family(&b, "relayd_build_info", "gauge", "relayd's version (the value is always 1)");
  buf_appendf(&b, "relayd_build_info{version=\"%s\"} 1\n", RELAY_VERSION);
  family(&b, "relayd_uptime_seconds", "gauge", "seconds since relayd started");
  buf_appendf(&b, "relayd_uptime_seconds %lld\n", (long long)(now_unix() - started_at));
  family(&b, "relayd_http_requests_total", "counter",
         "requests that reached a handler, whatever their outcome");
  buf_appendf(&b, "relayd_http_requests_total %llu\n", (unsigned long long)received);
  family(&b, "relayd_inflight_requests", "gauge", "requests being served now");
  buf_appendf(&b, "relayd_inflight_requests %lld\n", (long long)in_flight);
  family(&b, "relayd_realtime_sessions", "gauge", "Realtime API WebSocket sessions open now");
  buf_appendf(&b, "relayd_realtime_sessions %lld\n", (long long)realtime_sessions_open());
  family(&b, "relayd_realtime_sessions_total", "counter", "Realtime API WebSocket sessions opened since start");
  buf_appendf(&b, "relayd_realtime_sessions_total %llu\n", (unsigned long long)realtime_sessions_total());
  family(&b, "relayd_writer_backlog", "gauge", "request log rows waiting for the database writer");
  buf_appendf(&b, "relayd_writer_backlog %llu\n", (unsigned long long)wst.backlog);
  size_t rc_entries, rc_bytes;
  respcache_stats(&rc_entries, &rc_bytes);
  family(&b, "relayd_response_cache_entries", "gauge", "answers held by the response cache");
  buf_appendf(&b, "relayd_response_cache_entries %zu\n", rc_entries);
  family(&b, "relayd_response_cache_bytes", "gauge",
         "bytes the response cache holds, with its per-entry overhead (bounded by response_cache_mb)");
  buf_appendf(&b, "relayd_response_cache_bytes %zu\n", rc_bytes);
  family(&b, "relayd_events_dropped_total", "counter",
         "request events admin subscribers missed because a worker's ring was full");
  buf_appendf(&b, "relayd_events_dropped_total %llu\n", (unsigned long long)dropped);
  family(&b, "relayd_stats_overflow_total", "counter",
         "counts kept under model \"" STATS_OTHER "\" / channel \"\" because a worker's stats table was full "
         "(" STRINGIFY(STATS_MAX_KEYS) " entries)");
  buf_appendf(&b, "relayd_stats_overflow_total %llu\n", (unsigned long long)overflow);

  /* by model, channel and status */
  static const struct { const char *name, *help; } rfam[] = {
      {"relayd_requests_total", "relayed requests by model, channel and HTTP status"},
      {"relayd_tokens_total", "tokens by model, channel and type (input, output, cached)"},
      {"relayd_spend_quota_total", "quota charged by model and channel (500000 = 1 USD)"},
  };
  for (int f = 0; f < 3; f++) {
    family(&b, rfam[f].name, "counter", rfam[f].help);
    for (size_t k = 0; k < nkeys; k++) {
      if (keys[k][0] != 'r')
        continue;
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      char kb[256], *model, *chan, *status, cn[32];
      snprintf(kb, sizeof kb, "%s", keys[k]);
      if (!split_r(kb, &model, &chan, &status))
        continue;
      const char *cname = channel_name(s, chan, cn, sizeof cn);
      if (f == 0) {
        const char *kv[] = {"model", model, "channel", cname, "code", status};
        series(&b, rfam[f].name, kv, 3);
        buf_appendf(&b, " %llu\n", (unsigned long long)e->requests);
      } else if (f == 1) {
        static const char *const types[] = {"input", "output", "cached"};
        uint64_t v[] = {e->prompt_tokens, e->completion_tokens, e->cached_tokens};
        for (int t = 0; t < 3; t++) {
          const char *kv[] = {"model", model, "channel", cname, "code", status, "type", types[t]};
          series(&b, rfam[f].name, kv, 4);
          buf_appendf(&b, " %llu\n", (unsigned long long)v[t]);
        }
      } else {
        const char *kv[] = {"model", model, "channel", cname, "code", status};
        series(&b, rfam[f].name, kv, 3);
        buf_appendf(&b, " %llu\n", (unsigned long long)e->quota);
      }
    }
  }

  /* every answer, refusals included ("s<status>\x1f<reason>": stats_response) */
  family(&b, "relayd_responses_total", "counter",
         "every answer relayd sent, by HTTP status and reason (the error code it carried: invalid_api_key, "
         "insufficient_quota, rate_limited, model_price_unset, ...; upstream: an upstream's error passed on; "
         "ok: none), refusals before any upstream included");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 's') {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      char kb[64];
      snprintf(kb, sizeof kb, "%s", keys[k] + 1);
      char *sep = strchr(kb, '\x1f');
      if (!sep)
        continue;
      *sep = '\0';
      const char *kv[] = {"code", kb, "reason", sep + 1};
      series(&b, "relayd_responses_total", kv, 2);
      buf_appendf(&b, " %llu\n", (unsigned long long)e->requests);
    }
  family(&b, "relayd_channel_attempt_failures_total", "counter",
         "upstream attempts that failed on a channel's side (5xx, 429, timeout, connection, broken stream), "
         "whether the request was then retried on another channel or not");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 'c' && strcmp(keys[k], "c0") != 0) {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      const char *kv[] = {"channel", channel_name(s, keys[k] + 1, tmp, sizeof tmp)};
      series(&b, "relayd_channel_attempt_failures_total", kv, 1);
      buf_appendf(&b, " %llu\n", (unsigned long long)e->attempt_failures);
    }
  family(&b, "relayd_request_duration_seconds", "histogram",
         "request duration from arrival to the last byte, by model");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 'm') {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      histogram(&b, "relayd_request_duration_seconds", "model", keys[k] + 1, e->latency,
                e->latency_sum_us);
    }
  family(&b, "relayd_time_to_first_token_seconds", "histogram",
         "time from arrival to the first byte of the answer, by model");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 'm') {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      histogram(&b, "relayd_time_to_first_token_seconds", "model", keys[k] + 1, e->first_byte,
                e->first_byte_sum_us);
    }
  family(&b, "relayd_upstream_duration_seconds", "histogram",
         "one upstream transfer from its start to its end, by channel");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 'c') {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      histogram(&b, "relayd_upstream_duration_seconds", "channel",
                channel_name(s, keys[k] + 1, tmp, sizeof tmp), e->upstream, e->upstream_sum_us);
    }
  family(&b, "relayd_channel_inflight", "gauge", "upstream transfers open now, by channel");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 'c') {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      const char *kv[] = {"channel", channel_name(s, keys[k] + 1, tmp, sizeof tmp)};
      series(&b, "relayd_channel_inflight", kv, 1);
      buf_appendf(&b, " %lld\n", (long long)e->in_flight);
    }
  family(&b, "relayd_stream_end_total", "counter",
         "streamed requests by how they ended (done, client_gone, upstream_error, timeout, ...)");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 'e') {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      const char *kv[] = {"reason", keys[k] + 1};
      series(&b, "relayd_stream_end_total", kv, 1);
      buf_appendf(&b, " %llu\n", (unsigned long long)e->requests);
    }
  family(&b, "relayd_ratelimit_rejections_total", "counter", "requests refused by a rate limit, by scope");
  for (size_t k = 0; k < nkeys; k++)
    if (keys[k][0] == 'l') {
      const struct stat_entry *e = strmap_get(&merged, keys[k]);
      const char *kv[] = {"scope", keys[k] + 1};
      series(&b, "relayd_ratelimit_rejections_total", kv, 1);
      buf_appendf(&b, " %llu\n", (unsigned long long)e->requests);
    }
  family(&b, "relayd_channel_up", "gauge",
         "1 when a channel takes requests; state: enabled, disabled or auto_disabled");
  for (size_t i = 0; s && i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    /* the live flag first: a worker disables a channel before the database row says so */
    bool live_off = atomic_load(&c->health->auto_disabled) != HEALTH_ENABLED;
    const char *state = c->status == STATUS_DISABLED ? "disabled"
                        : c->status == STATUS_AUTO_DISABLED || live_off ? "auto_disabled" : "enabled";
    const char *kv[] = {"channel", c->name, "state", state};
    series(&b, "relayd_channel_up", kv, 2);
    buf_appendf(&b, " %d\n", c->status == STATUS_ENABLED && !live_off);
  }
  /* channel health (health.h) */
  family(&b, "relayd_channel_breaker_open", "gauge",
         "1 while a channel's circuit breaker is open or half-open (requests skip it or only one tries)");
  for (size_t i = 0; s && i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    const char *kv[] = {"channel", c->name};
    series(&b, "relayd_channel_breaker_open", kv, 1);
    buf_appendf(&b, " %d\n", atomic_load(&c->health->open_until_ms) != 0);
  }
  family(&b, "relayd_channel_active_requests", "gauge",
         "upstream requests open on a channel now, all workers (what max_concurrency caps)");
  for (size_t i = 0; s && i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    const char *kv[] = {"channel", c->name};
    series(&b, "relayd_channel_active_requests", kv, 1);
    buf_appendf(&b, " %d\n", atomic_load(&c->health->in_flight));
  }
  family(&b, "relayd_channel_latency_ewma_seconds", "gauge",
         "moving average of a channel's time to first byte (routing = latency); 0 before a sample");
  for (size_t i = 0; s && i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    const char *kv[] = {"channel", c->name};
    series(&b, "relayd_channel_latency_ewma_seconds", kv, 1);
    buf_appendf(&b, " %.6f\n", health_ewma_ms(c->health) / 1000.0);
  }
  family(&b, "relayd_channel_failures_total", "counter", "failed upstream attempts on a channel (health's count)");
  for (size_t i = 0; s && i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    const char *kv[] = {"channel", c->name};
    series(&b, "relayd_channel_failures_total", kv, 1);
    buf_appendf(&b, " %llu\n", (unsigned long long)atomic_load(&c->health->failures_total));
  }
  pool_series(&b, s);
  balance_series(&b, s);
  family(&b, "relayd_channel_limited_total", "counter",
         "times a channel was skipped because it (or every key of its pool) was at its rpm, tpm or concurrency "
         "limit; never a failure");
  for (size_t i = 0; s && i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    if (!c->limits)
      continue;
    const char *kv[] = {"channel", c->name};
    series(&b, "relayd_channel_limited_total", kv, 1);
    buf_appendf(&b, " %llu\n", (unsigned long long)chanlimit_limited_total(c));
  }
  family(&b, "relayd_channel_limit_waiting", "gauge",
         "requests waiting for channel room now (channel_limit_wait_ms; at most channel_limit_queue)");
  buf_appendf(&b, "relayd_channel_limit_waiting %lld\n", (long long)limitwait_waiting());
  family(&b, "relayd_affinity_hits_total", "counter", "requests with an affinity key sent to the channel that served it last");
  buf_appendf(&b, "relayd_affinity_hits_total %llu\n", (unsigned long long)affinity_hits());
  family(&b, "relayd_affinity_misses_total", "counter",
         "requests with an affinity key that had no usable entry (new, expired, or its channel could not serve)");
  buf_appendf(&b, "relayd_affinity_misses_total %llu\n", (unsigned long long)affinity_misses());
  family(&b, "relayd_affinity_entries", "gauge", "live entries of the affinity table (at most its capacity, 4096)");
  buf_appendf(&b, "relayd_affinity_entries %zu\n", affinity_entries());

  snapshot_release(s);
  strmap_free(&merged);
  arena_free(&a);
  return buf_steal(&b, len);
}

/* The keys of key pools (keypool.h), labelled by channel and key index, never by the key. */
static void pool_series(struct buf *b, const struct snapshot *s)
{
  static const struct {
    const char *name, *type, *help;
  } fams[] = {
      {"relayd_channel_key_up", "gauge", "1 when a key of a channel's key pool is chosen; by channel and key index"},
      {"relayd_channel_key_requests_total", "counter", "upstream attempts on a key of a key pool"},
      {"relayd_channel_key_errors_total", "counter", "failed upstream attempts on a key of a key pool"},
      {"relayd_channel_key_spend_quota_total", "counter", "quota charged for requests a key of a key pool served"},
  };
  for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
    family(b, fams[f].name, fams[f].type, fams[f].help);
    for (size_t i = 0; s && i < s->nchannels; i++) {
      const struct snap_channel *c = &s->channels[i];
      for (size_t j = 0; c->pool && j < c->pool->n; j++) {
        const struct pool_key *k = &c->pool->keys[j];
        char idx[24];
        snprintf(idx, sizeof idx, "%d", k->idx);
        const char *kv[] = {"channel", c->name, "key", idx};
        series(b, fams[f].name, kv, 2);
        unsigned long long v = f == 0   ? (unsigned long long)keypool_key_ok(k)
                               : f == 1 ? (unsigned long long)atomic_load(&k->st->requests)
                               : f == 2 ? (unsigned long long)atomic_load(&k->st->errors)
                                        : (unsigned long long)atomic_load(&k->st->spend);
        buf_appendf(b, " %llu\n", v);
      }
    }
  }
}

/* ---------------------------------------------------------------- HTTP */

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **req_cls)
{
  (void)version; (void)upload_data; (void)req_cls;
  struct metrics *m = cls;
  if (*upload_size) {            /* a body is not expected: drop it */
    *upload_size = 0;
    return MHD_YES;
  }
  struct MHD_Response *r;
  unsigned status;
  bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  if (get && strcmp(url, "/metrics") == 0) {
    size_t len = 0;
    char *text = metrics_render(m->workers, m->nworkers, m->started_at, &len);
    r = MHD_create_response_from_buffer(len, text ? text : (char *)"", text ? MHD_RESPMEM_MUST_FREE
                                                                      : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    status = MHD_HTTP_OK;
  } else {
    static const char nf[] = "relayd metrics: GET /metrics\n", na[] = "only GET and HEAD\n";
    r = MHD_create_response_from_buffer(get ? sizeof nf - 1 : sizeof na - 1,
                                        (void *)(get ? nf : na), MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    if (!get)
      MHD_add_response_header(r, "Allow", "GET, HEAD");
    status = get ? MHD_HTTP_NOT_FOUND : MHD_HTTP_METHOD_NOT_ALLOWED;
  }
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

struct metrics *metrics_start(const char *listen, struct worker *workers, int nworkers,
                              int64_t started_at, char *err, size_t errlen)
{
  struct metrics *m = calloc(1, sizeof *m);
  if (!m) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  m->workers = workers;
  m->nworkers = nworkers;
  m->started_at = started_at;
  m->fd = tcplisten_open("metrics_listen", listen, 64, false, m->address, sizeof m->address, err, errlen);
  if (m->fd < 0) {
    free(m);
    return NULL;
  }
  m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, answer, m,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
  if (!m->mhd) {
    snprintf(err, errlen, "metrics_listen %s: cannot start the HTTP daemon", listen);
    close(m->fd);
    free(m);
    return NULL;
  }
  return m;
}

const char *metrics_address(const struct metrics *m)
{
  return m ? m->address : "";
}

void metrics_stop(struct metrics *m)
{
  if (!m)
    return;
  MHD_stop_daemon(m->mhd);       /* closes the listen socket it was given */
  free(m);
}

/* Upstream balances (balpoll.h) and the notifications' queue (webhook.h). */
static void balance_series(struct buf *b, const struct snapshot *s)
{
  family(b, "relayd_channel_balance", "gauge",
         "the last balance a channel's upstream reported, in its currency (gwctl channel balance or the poll)");
  balpoll_refresh();            /* figures another node or gwctl stored since the last scrape */
  for (size_t i = 0; s && i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    double amount;
    char currency[8];
    int64_t updated;
    if (!balpoll_get(c->id, &amount, currency, &updated))
      continue;
    const char *kv[] = {"channel", c->name, "currency", currency};
    series(b, "relayd_channel_balance", kv, 2);
    buf_appendf(b, " %.6f\n", amount);
  }
  struct webhook_stats ws;
  webhook_get_stats(&ws);
  family(b, "relayd_webhook_events_total", "counter",
         "notifications by outcome: queued, delivered, failed (gave up after retries), dropped (queue full)");
  const char *names[] = {"queued", "delivered", "failed", "dropped"};
  uint64_t vals[] = {ws.queued, ws.delivered, ws.failed, ws.dropped};
  for (int i = 0; i < 4; i++) {
    const char *kv[] = {"outcome", names[i]};
    series(b, "relayd_webhook_events_total", kv, 1);
    buf_appendf(b, " %llu\n", (unsigned long long)vals[i]);
  }
}
