/* webhook: see webhook.h. */
#include "webhook.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bgthread.h"
#include "hookevent.h"
#include "log.h"
#include "snapshot.h"
#include "util.h"

#define POST_TIMEOUT_S 5L
#define CONNECT_TIMEOUT_S 3L
#define FIRST_BACKOFF_MS 1000u

struct hook {
  char *body;                  /* owned by the queue: malloc'd, freed when delivered or dropped */
  int tries;
  uint64_t due_us;             /* monotonic: not before */
};

static struct {
  struct bgthread t;           /* t.lock guards the queue and the stats */
  struct hook q[WEBHOOK_QUEUE_MAX];
  size_t n;
  struct webhook_stats st;
} H = {.t = BGTHREAD_INIT};
static atomic_bool stopping;   /* webhook_stop: a POST in flight is abandoned (libcurl's progress callback) */

static int abandon(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
  (void)ud, (void)dt, (void)dn, (void)ut, (void)un;
  return atomic_load(&stopping) ? 1 : 0;
}

void webhook_post(const char *body)
{
  char *copy = body ? strdup(body) : NULL;
  if (!copy)
    return;
  pthread_mutex_lock(&H.t.lock);
  if (H.n >= WEBHOOK_QUEUE_MAX || H.t.stop) {
    H.st.dropped++;
    pthread_mutex_unlock(&H.t.lock);
    free(copy);
    log_msg(LOG_WARN, "webhook queue full, event dropped", "queued=%d", WEBHOOK_QUEUE_MAX);
    return;
  }
  H.q[H.n++] = (struct hook){.body = copy, .due_us = now_us_mono()};
  H.st.queued++;
  bgthread_kick_locked(&H.t);
  pthread_mutex_unlock(&H.t.lock);
}

void webhook_channel_event(const char *event, int64_t channel_id, const char *channel, int key_index,
                           const char *reason, const double *balance, const char *currency)
{
  char *body = hookevent_json(event, channel_id, channel, key_index, reason, balance, currency, now_unix());
  if (body)
    webhook_post(body);
  cJSON_free(body);
}

void webhook_get_stats(struct webhook_stats *out)
{
  pthread_mutex_lock(&H.t.lock);
  *out = H.st;
  pthread_mutex_unlock(&H.t.lock);
}

static void *webhook_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&H.t.lock);
  while (!H.t.stop) {
    /* the earliest due hook */
    size_t pick = H.n;
    uint64_t now = now_us_mono(), next = UINT64_MAX;
    for (size_t i = 0; i < H.n; i++) {
      if (H.q[i].due_us <= now && (pick == H.n || H.q[i].due_us < H.q[pick].due_us))
        pick = i;
      if (H.q[i].due_us < next)
        next = H.q[i].due_us;
    }
    if (pick == H.n && H.n == 0) {
      bgthread_wait(&H.t, BGTHREAD_FOREVER);   /* nothing queued: sleep until webhook_post or stop */
      continue;
    }
    if (pick == H.n) {
      uint64_t wait_us = next == UINT64_MAX ? 1000000u : next - now;
      if (wait_us > 1000000u)
        wait_us = 1000000u;
      bgthread_wait(&H.t, wait_us);
      continue;
    }
    struct hook h = H.q[pick];
    H.q[pick] = H.q[--H.n];
    pthread_mutex_unlock(&H.t.lock);

    struct snapshot *s = snapshot_acquire(NULL);
    char url[OPTION_VALUE_MAX + 1] = "";
    if (s) {
      snprintf(url, sizeof url, "%s", s->opt.webhook_url ? s->opt.webhook_url : "");
      snapshot_release(s);
    }
    long status = 0;
    CURLcode rc = CURLE_OK;
    bool ok = url[0] && hookevent_post(url, h.body, POST_TIMEOUT_S, CONNECT_TIMEOUT_S, abandon, "relayd/" RELAY_VERSION, &status,
                                           &rc) == 0;
    bool requeue = false;
    if (url[0] && !ok && ++h.tries < WEBHOOK_TRIES) {
      requeue = true;
      h.due_us = now_us_mono() + (uint64_t)(FIRST_BACKOFF_MS << (h.tries - 1)) * 1000u;
    } else if (url[0] && !ok) {
      log_msg(LOG_WARN, "webhook not delivered, dropped", "tries=%d status=%ld error=\"%s\"", h.tries, status,
              curl_easy_strerror(rc));
    }
    pthread_mutex_lock(&H.t.lock);
    if (requeue && !H.t.stop && H.n < WEBHOOK_QUEUE_MAX) {
      H.q[H.n++] = h;
      continue;
    }
    if (ok)
      H.st.delivered++;
    else if (url[0])
      H.st.failed++;
    free(h.body);
  }
  for (size_t i = 0; i < H.n; i++)
    free(H.q[i].body);
  H.n = 0;
  pthread_mutex_unlock(&H.t.lock);
  return NULL;
}

int webhook_start(char *err, size_t errlen)
{
  atomic_store(&stopping, false);
  if (bgthread_start(&H.t, "relayd-webhook", webhook_main, NULL) != 0) {
    snprintf(err, errlen, "webhook: cannot start thread");
    return -1;
  }
  return 0;
}

/* Unlike the other threads', a stop also abandons the POST in flight (stopping, read by libcurl's
 * progress callback outside H.t.lock): a down webhook endpoint does not hold the shutdown for
 * POST_TIMEOUT_S. */
void webhook_stop(void)
{
  if (!H.t.started)
    return;
  atomic_store(&stopping, true);
  bgthread_stop(&H.t);
}
