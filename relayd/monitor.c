/* monitor: see monitor.h. */
#include "monitor.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bgthread.h"
#include "formats.h"
#include "health.h"
#include "keypool.h"
#include "log.h"
#include "secret.h"
#include "snapshot.h"
#include "util.h"
#include "vertex.h"
#include "webhook.h"
#include "writer.h"

#define TICK_MS 500

static struct bgthread M = BGTHREAD_INIT;

/* ---------------------------------------------------------------- probes */

static size_t keep_start(char *p, size_t size, size_t n, void *ud)
{
  struct probe_result *r = ud;
  size_t room = sizeof r->body - 1 - r->body_len, take = size * n < room ? size * n : room;
  memcpy(r->body + r->body_len, p, take);
  r->body_len += take;
  r->body[r->body_len] = '\0';
  return size * n;
}

/* The probe with the given headers and key (the channel's own, or one key of its pool). */
static int probe_with(const struct snap_channel *c, const struct curl_slist *headers, const char *key,
                      const char *model, long timeout_s, struct probe_result *out)
{
  out->status = 0;
  out->latency_ms = 0;
  out->body[0] = out->error[0] = '\0';
  out->body_len = 0;
  const char *m = model && *model ? model : c->test_model[0] ? c->test_model : c->nmodels ? c->models[0] : "gpt-4o-mini";
  snprintf(out->model, sizeof out->model, "%s", m);
  /* the upstream's name for it, as a request would send it (a bedrock channel's model id) */
  const char *mapped = strmap_get(&c->model_map, m);
  if (mapped && *mapped)
    m = mapped;
  /* the smallest real request of the channel's own API (provider_probe: a 5-token "hi" in chat,
   * Azure deployment, Anthropic Messages or Gemini generateContent shape, or a two-document rerank) */
  char path[512], url[2048];
  struct curl_slist *own = NULL;   /* a vertex channel's headers with its access token */
  char *body = NULL;
  if (c->vertex) {
    int vs = vertex_probe(c->vertex, c->base_url, c->headers, m, url, sizeof url, &body, &own, out->error,
                          sizeof out->error);
    if (vs < 0)
      return -1;
    if (vs > 0) {                  /* no token: the reason, as the upstream's error would carry it */
      out->status = vs;
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "error"), "message", out->error);
      if (!cJSON_PrintPreallocated(e, out->body, (int)sizeof out->body, false))
        snprintf(out->body, sizeof out->body, "{}");
      out->body_len = strlen(out->body);
      cJSON_Delete(e);
      return 0;
    }
  } else {
    body = provider_probe(c->provider, m, path, sizeof path, out->error, sizeof out->error);
    if (!body)
      return -1;
    if (channel_url(c, path, m, url, sizeof url, out->error, sizeof out->error) < 0) {
      cJSON_free(body);
      return -1;
    }
  }
  /* a channel that signs each request (Bedrock's SigV4) signs its probe too */
  const struct format_ops *fo = format_of_api(c->api)->ops;
  struct curl_slist *signed_h = NULL;
  if (fo->sign && !(signed_h = fo->sign(headers, key ? key : "", c->region, url, body, strlen(body),
                                        now_unix(), out->error, sizeof out->error))) {
    cJSON_free(body);
    return -1;
  }
  CURL *e = curl_easy_init();
  if (!e) {
    cJSON_free(body);
    curl_slist_free_all(signed_h);
    curl_slist_free_all(own);
    snprintf(out->error, sizeof out->error, "cannot start libcurl");
    return -1;
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, signed_h ? signed_h : own ? own : headers);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity");   /* as attempt.c: an answer compressed anyway is read */
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_start);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  uint64_t t0 = now_us_mono();
  CURLcode rc = curl_easy_perform(e);
  out->latency_ms = (double)(now_us_mono() - t0) / 1000.0;
  if (rc == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
  else
    snprintf(out->error, sizeof out->error, "%s", curl_easy_strerror(rc));
  curl_easy_cleanup(e);
  curl_slist_free_all(signed_h);
  cJSON_free(body);
  curl_slist_free_all(own);
  /* upstreams echo the key they got ("Incorrect API key provided: sk-..."): never keep it */
  out->body_len = secret_redact(out->body, out->body_len, key);
  out->body[out->body_len] = '\0';
  return 0;
}

int monitor_probe(const struct snap_channel *c, const char *model, long timeout_s, struct probe_result *out)
{
  return probe_with(c, c->headers, c->key, model, timeout_s, out);
}

/* monitor_stop asked the thread to end: the probes between channels look, and stop early. */
static bool stopping(void)
{
  return bgthread_stopping(&M);
}

/* The periodic test of each key of a pool that relayd disabled (and, when the channel itself is
 * auto-disabled or option channel_test_all is on, of its enabled keys): a key that passes is
 * re-enabled, and with it the channel when relayd had disabled it; one that gets an account error
 * is disabled (New API never re-tests a disabled key). */
static void test_pool(const struct snapshot *s, const struct snap_channel *c)
{
  bool chan_off = c->status == STATUS_AUTO_DISABLED;
  bool any_passed = false;
  for (size_t i = 0; i < c->pool->n; i++) {
    const struct pool_key *k = &c->pool->keys[i];
    bool off = k->status == STATUS_AUTO_DISABLED;
    if (!off && !(k->status == STATUS_ENABLED && (chan_off || s->opt.test_all)))
      continue;
    if (stopping())
      return;
    struct probe_result pr;
    if (probe_with(c, k->headers, k->key, NULL, (long)s->opt.test_timeout_s, &pr) < 0)
      continue;
    bool passed = pr.status >= 200 && pr.status < 300;
    if (passed) {
      any_passed = true;
      health_latency(c->health, pr.latency_ms);
      if (off && atomic_load(&k->st->flag) == HEALTH_DISABLED) {
        char text[256];
        snprintf(text, sizeof text, "channel %s key %d re-enabled: a test passed (HTTP %ld in %.0f ms)", c->name,
                 k->idx, pr.status, pr.latency_ms);
        keypool_reenable(c, k, text);
      }
      continue;
    }
    log_msg(LOG_INFO, "pool key test failed", "channel_id=%lld name=\"%s\" key=%d status=%ld error=\"%s\"",
            (long long)c->id, c->name, k->idx, pr.status, pr.error);
    if (!off && pr.status && s->opt.auto_disable && c->auto_disable &&
        health_classify(pr.status, pr.body, pr.body_len, s->opt.disable_keywords) == OUTCOME_ACCOUNT) {
      char reason[200];
      snprintf(reason, sizeof reason, "authentication or account error: a key test got HTTP %ld", pr.status);
      keypool_disable(c, k, reason);
    }
  }
  if (any_passed && chan_off && atomic_load(&c->health->auto_disabled) == HEALTH_DISABLED) {
    struct writer_op op;
    memset(&op, 0, sizeof op);
    op.kind = WOP_CHANNEL_STATUS;
    op.id = c->id;
    op.status = STATUS_ENABLED;
    snprintf(op.text, sizeof op.text, "channel %s re-enabled: a key of its pool passed a test", c->name);
    webhook_channel_event("channel_enabled", c->id, c->name, -1, "a key of its pool passed a test", NULL, NULL);
    log_msg(LOG_INFO, "channel re-enabled by a passing key test", "channel_id=%lld name=\"%s\"", (long long)c->id,
            c->name);
    writer_submit_op(&op);
  }
}

/* A periodic test of one channel and what follows from it. */
static void test_channel(const struct snapshot *s, const struct snap_channel *c)
{
  struct probe_result pr;
  if (monitor_probe(c, NULL, (long)s->opt.test_timeout_s, &pr) < 0)
    return;
  bool passed = pr.status >= 200 && pr.status < 300;
  struct writer_op op;
  memset(&op, 0, sizeof op);
  op.kind = WOP_CHANNEL_TESTED;
  op.id = c->id;
  op.a = now_unix();
  op.b = passed ? (int64_t)(pr.latency_ms + 0.5) : 0;
  writer_submit_op(&op);
  int flag = atomic_load(&c->health->auto_disabled);
  if (passed) {
    health_latency(c->health, pr.latency_ms);
    if (c->status == STATUS_AUTO_DISABLED && flag == HEALTH_DISABLED) {
      memset(&op, 0, sizeof op);
      op.kind = WOP_CHANNEL_STATUS;
      op.id = c->id;
      op.status = STATUS_ENABLED;
      snprintf(op.text, sizeof op.text, "channel %s re-enabled: a test passed (HTTP %ld in %.0f ms)", c->name,
               pr.status, pr.latency_ms);
      log_msg(LOG_INFO, "channel re-enabled by a passing test", "channel_id=%lld name=\"%s\" latency_ms=%.0f",
              (long long)c->id, c->name, pr.latency_ms);
      webhook_channel_event("channel_enabled", c->id, c->name, -1, "a channel test passed", NULL, NULL);
      writer_submit_op(&op);
    }
    return;
  }
  log_msg(LOG_INFO, "channel test failed", "channel_id=%lld name=\"%s\" status=%ld error=\"%s\"", (long long)c->id,
          c->name, pr.status, pr.error);
  if (c->status == STATUS_ENABLED && pr.status &&
      health_classify(pr.status, pr.body, pr.body_len, s->opt.disable_keywords) == OUTCOME_ACCOUNT &&
      s->opt.auto_disable && c->auto_disable) {
    char reason[200];
    cJSON *j = cJSON_ParseWithLength(pr.body, pr.body_len);
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "error"), "message"));
    snprintf(reason, sizeof reason, "authentication or account error: a channel test got HTTP %ld: %.120s",
             pr.status, msg ? msg : pr.body);
    cJSON_Delete(j);
    health_auto_disable(c, reason);
  }
}

static void run_tests(const struct snapshot *s)
{
  for (size_t i = 0; i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    bool auto_disabled = c->status == STATUS_AUTO_DISABLED;
    if (c->pool && c->status != STATUS_DISABLED) {   /* a key pool is tested key by key */
      test_pool(s, c);
      continue;
    }
    if (!auto_disabled && !(s->opt.test_all && c->status == STATUS_ENABLED))
      continue;
    if (stopping())
      return;
    test_channel(s, c);
  }
}

/* ---------------------------------------------------------------- alerts */

/* What this process decided about an alert (or a user's reminder), until a snapshot confirms it. */
struct alert_state {
  int64_t fired_at, fired_total;
  bool confirmed;              /* a snapshot showed the same state: the database has it */
};

static struct strmap states;   /* "a<id>" / "r<user id>" -> struct alert_state; monitor thread only */

static struct alert_state *state_of(const char *key, int64_t loaded_at, int64_t loaded_total)
{
  struct alert_state *st = strmap_get(&states, key);
  if (!st) {
    st = calloc(1, sizeof *st);
    char *k = strdup(key);
    if (!st || !k)
      abort();
    st->fired_at = loaded_at;
    st->fired_total = loaded_total;
    st->confirmed = true;
    strmap_put(&states, k, st);
    return st;
  }
  if (st->fired_at == loaded_at) {
    st->confirmed = true;
    st->fired_total = loaded_total;
  } else if (st->confirmed) {
    /* the database changed under us: an administrator re-armed (or set) it */
    st->fired_at = loaded_at;
    st->fired_total = loaded_total;
  }
  return st;
}

/* A budget alert's or reminder's webhook body: queued for webhook.c's thread (never posted here). */
static void queue_webhook(cJSON *o)
{
  char *body = cJSON_PrintUnformatted(o);
  if (body)
    webhook_post(body);
  cJSON_free(body);
}

static int cmp_user(const void *key, const void *elem)
{
  int64_t id = *(const int64_t *)key, other = (*(struct snap_user *const *)elem)->id;
  return id < other ? -1 : id > other;
}

static int cmp_token(const void *key, const void *elem)
{
  int64_t id = *(const int64_t *)key, other = (*(struct snap_token *const *)elem)->id;
  return id < other ? -1 : id > other;
}

static int cmp_reminder(const void *key, const void *elem)
{
  int64_t id = *(const int64_t *)key, other = ((const struct snap_reminder *)elem)->user_id;
  return id < other ? -1 : id > other;
}

static void fire(cJSON *who, const char *event, const char *kind, int64_t threshold, int64_t used, int64_t remain,
                 int64_t total, int64_t user_id, const char *username, const char *text)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "event", event);
  cJSON_AddItemToObject(o, "who", who);
  cJSON *th = cJSON_AddObjectToObject(o, "threshold");
  cJSON_AddStringToObject(th, "kind", kind);
  cJSON_AddNumberToObject(th, "value", (double)threshold);
  cJSON_AddNumberToObject(o, "used", (double)used);
  cJSON_AddNumberToObject(o, "remain", (double)remain);
  cJSON_AddNumberToObject(o, "quota", (double)total);
  cJSON_AddNumberToObject(o, "time", (double)now_unix());
  queue_webhook(o);
  cJSON_Delete(o);
  (void)user_id;
  (void)username;
  log_msg(LOG_INFO, "budget threshold crossed", "event=%s detail=\"%s\"", event, text);
}

static void check_alerts(const struct snapshot *s)
{
  for (size_t i = 0; i < s->nalerts; i++) {
    const struct snap_alert *a = &s->alerts[i];
    int64_t remain, total, uid;
    const char *name, *username;
    cJSON *who;
    if (a->user_scope) {
      struct snap_user **u = bsearch(&a->subject_id, s->users, s->nusers, sizeof *s->users, cmp_user);
      if (!u)
        continue;
      remain = atomic_load(&(*u)->bal->avail);
      total = (*u)->quota_total;
      uid = (*u)->id;
      name = username = (*u)->username;
      who = cJSON_CreateObject();
      cJSON_AddStringToObject(who, "type", "user");
      cJSON_AddNumberToObject(who, "id", (double)uid);
      cJSON_AddStringToObject(who, "name", name);
    } else {
      struct snap_token **t = bsearch(&a->subject_id, s->token_list, s->ntokens, sizeof *s->token_list, cmp_token);
      if (!t || (*t)->unlimited)
        continue;
      remain = atomic_load(&(*t)->bal->avail);
      total = (*t)->quota_total;
      uid = (*t)->user->id;
      name = (*t)->name;
      username = (*t)->user->username;
      who = cJSON_CreateObject();
      cJSON_AddStringToObject(who, "type", "token");
      cJSON_AddNumberToObject(who, "id", (double)(*t)->id);
      cJSON_AddStringToObject(who, "name", name);
      cJSON_AddStringToObject(who, "user", username);
    }
    int64_t used = total - remain;
    bool crossed = a->percent ? total > 0 && used * 100 >= a->threshold * total : remain <= a->threshold;
    char key[32];
    snprintf(key, sizeof key, "a%lld", (long long)a->id);
    struct alert_state *st = state_of(key, a->fired_at, a->fired_total);
    struct writer_op op;
    memset(&op, 0, sizeof op);
    op.kind = WOP_ALERT_STATE;
    op.id = a->id;
    if (!st->fired_at && crossed) {
      st->fired_at = now_unix();
      st->fired_total = total;
      st->confirmed = false;
      op.a = st->fired_at;
      op.b = total;
      op.log_user_id = uid;
      snprintf(op.log_username, sizeof op.log_username, "%s", username);
      snprintf(op.text, sizeof op.text, "budget alert: %s %s crossed %lld%s (used %lld, remain %lld of %lld)",
               a->user_scope ? "user" : "token", name, (long long)a->threshold,
               a->percent ? "% used" : " quota left", (long long)used, (long long)remain, (long long)total);
      writer_submit_op(&op);
      fire(who, "budget_alert", a->percent ? "percent" : "remain", a->threshold, used, remain, total, uid,
           username, op.text);
      continue;
    }
    cJSON_Delete(who);
    if (st->fired_at && !crossed && total > st->fired_total) {
      /* topped up above the threshold: armed again */
      st->fired_at = 0;
      st->fired_total = 0;
      st->confirmed = false;
      writer_submit_op(&op);
    }
  }
  int64_t T = s->opt.quota_remind_threshold;
  if (T <= 0)
    return;
  for (size_t i = 0; i < s->nusers; i++) {
    const struct snap_user *u = s->users[i];
    int64_t remain = atomic_load(&u->bal->avail), loaded_at = 0, loaded_total = 0;
    const struct snap_reminder *rem = bsearch(&u->id, s->reminders, s->nreminders, sizeof *s->reminders, cmp_reminder);
    if (rem) {
      loaded_at = rem->fired_at;
      loaded_total = rem->fired_total;
    }
    char key[32];
    snprintf(key, sizeof key, "r%lld", (long long)u->id);
    bool below = remain < T;
    if (!below && !loaded_at && !strmap_get(&states, key))
      continue;                /* the common case: nothing to track */
    struct alert_state *st = state_of(key, loaded_at, loaded_total);
    struct writer_op op;
    memset(&op, 0, sizeof op);
    op.kind = WOP_REMINDER_STATE;
    op.id = u->id;
    if (!st->fired_at && below) {
      st->fired_at = now_unix();
      st->fired_total = u->quota_total;
      st->confirmed = false;
      op.a = st->fired_at;
      op.b = u->quota_total;
      op.log_user_id = u->id;
      snprintf(op.log_username, sizeof op.log_username, "%s", u->username);
      snprintf(op.text, sizeof op.text, "quota reminder: user %s has %lld quota left, below %lld", u->username,
               (long long)remain, (long long)T);
      writer_submit_op(&op);
      cJSON *who = cJSON_CreateObject();
      cJSON_AddStringToObject(who, "type", "user");
      cJSON_AddNumberToObject(who, "id", (double)u->id);
      cJSON_AddStringToObject(who, "name", u->username);
      fire(who, "quota_reminder", "remain_below", T, u->quota_total - remain, remain, u->quota_total, u->id,
           u->username, op.text);
    } else if (st->fired_at && !below && u->quota_total > st->fired_total) {
      st->fired_at = 0;
      st->fired_total = 0;
      st->confirmed = false;
      writer_submit_op(&op);
    }
  }
}

/* ---------------------------------------------------------------- thread */

static void *monitor_main(void *arg)
{
  (void)arg;
  uint64_t next_tests = 0;
  int64_t interval = 0;
  bool watching_alerts = true;
  bool idle = false;          /* the last snapshot seen has no alert, no reminder, no test_interval_s */
  uint64_t seen = 0;          /* its version */
  strmap_init(&states, 64);
  for (;;) {
    pthread_mutex_lock(&M.lock);
    if (idle) {
      /* nothing to watch: sleep until a new snapshot (monitor_kick) or stop */
      while (!M.stop && snapshot_current_version() == seen)
        bgthread_wait(&M, BGTHREAD_FOREVER);
    } else if (!M.stop) {
      /* alerts: balances move with every charge, watched every TICK_MS; tests alone: at their time */
      uint64_t wait_us = (uint64_t)TICK_MS * 1000u;
      if (!watching_alerts && next_tests) {
        uint64_t now = now_us_mono();
        wait_us = next_tests > now ? next_tests - now : 0;
      }
      bgthread_wait(&M, wait_us);
    }
    bool stop = M.stop;
    pthread_mutex_unlock(&M.lock);
    if (stop)
      break;
    struct snapshot *s = snapshot_acquire(NULL);
    if (!s)
      continue;
    check_alerts(s);
    uint64_t now = now_us_mono();
    if (s->opt.test_interval_s > 0) {
      if (!next_tests || interval != s->opt.test_interval_s)
        next_tests = now + (uint64_t)s->opt.test_interval_s * 1000000u;
      if (now >= next_tests) {
        run_tests(s);
        next_tests = now_us_mono() + (uint64_t)s->opt.test_interval_s * 1000000u;
      }
      interval = s->opt.test_interval_s;
    } else {
      next_tests = 0;
    }
    watching_alerts = s->nalerts > 0 || s->opt.quota_remind_threshold > 0;
    idle = !watching_alerts && s->opt.test_interval_s <= 0;
    seen = s->version;
    snapshot_release(s);
  }
  for (size_t i = 0; i < states.nslots; i++) {
    void *v;
    const char *k = strmap_slot(&states, i, &v);
    if (k) {
      free((char *)k);
      free(v);
    }
  }
  strmap_free(&states);
  return NULL;
}

int monitor_start(char *err, size_t errlen)
{
  if (bgthread_start(&M, "relayd-monitor", monitor_main, NULL) != 0) {
    snprintf(err, errlen, "monitor: cannot start thread");
    return -1;
  }
  return 0;
}

void monitor_kick(void)
{
  bgthread_kick(&M);
}

void monitor_stop(void)
{
  bgthread_stop(&M);
}
