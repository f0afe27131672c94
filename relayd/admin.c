/* admin: see admin.h. */
#include "admin.h"
#include "realtime.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "affinity.h"
#include "chanlimit.h"
#include "db.h"
#include "dbnotify.h"
#include "health.h"
#include "lease.h"
#include "keypool.h"
#include "log.h"
#include "balpoll.h"
#include "monitor.h"
#include "snapshot.h"
#include "stats.h"
#include "util.h"
#include "worker.h"
#include "writer.h"

typedef cJSON *(*verb_fn)(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen);

struct admin_verb {
  const char *name;
  verb_fn fn;
  const char *summary;
};

static const struct admin_verb admin_verbs[];
static const size_t admin_nverbs;

/* ---------------------------------------------------------------- verbs */

static cJSON *verb_help(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)ctx; (void)req; (void)err; (void)errlen;
  cJSON *res = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(res, "verbs");
  for (size_t i = 0; i < admin_nverbs; i++) {
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "name", admin_verbs[i].name);
    cJSON_AddStringToObject(v, "summary", admin_verbs[i].summary);
    cJSON_AddItemToArray(arr, v);
  }
  return res;
}

static cJSON *verb_ping(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)ctx; (void)req; (void)err; (void)errlen;
  cJSON *res = cJSON_CreateObject();
  cJSON_AddTrueToObject(res, "pong");
  return res;
}

/* "database_id": the identity of the database this relayd serves (db_identity), so that gwctl can
 * tell that the daemon it just asked to reload reads the database it changed. Read on each call
 * through the admin thread's connection ("" when it cannot be read). */
static void add_database_id(struct admin_ctx *ctx, cJSON *res)
{
  char id[80];
  db_identity(ctx->db, id, sizeof id);
  cJSON_AddStringToObject(res, "database_id", id);
}

static cJSON *verb_status(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req; (void)err; (void)errlen;
  uint64_t total = 0;
  int64_t in_flight = 0;
  for (int i = 0; i < ctx->nworkers; i++) {
    total += atomic_load(&ctx->workers[i].ctr.requests_total);
    in_flight += atomic_load(&ctx->workers[i].ctr.in_flight);
  }
  struct writer_stats ws;
  writer_get_stats(&ws);
  struct snapshot *s = snapshot_acquire(NULL);
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "version", RELAY_VERSION);
  cJSON_AddNumberToObject(res, "pid", (double)getpid());
  cJSON_AddNumberToObject(res, "uptime_s", (double)(now_unix() - ctx->started_at));
  cJSON_AddNumberToObject(res, "workers", ctx->nworkers);
  cJSON_AddNumberToObject(res, "in_flight", (double)in_flight);
  cJSON_AddNumberToObject(res, "realtime_sessions", (double)realtime_sessions_open());
  cJSON_AddNumberToObject(res, "realtime_sessions_total", (double)realtime_sessions_total());
  cJSON_AddNumberToObject(res, "requests_total", (double)total);
  cJSON *per = cJSON_AddArrayToObject(res, "worker_requests");   /* how the accepts spread (worker.h) */
  for (int i = 0; per && i < ctx->nworkers; i++)
    cJSON_AddItemToArray(per, cJSON_CreateNumber((double)atomic_load(&ctx->workers[i].ctr.requests_total)));
  cJSON_AddNumberToObject(res, "snapshot_version", s ? (double)s->version : 0);
  cJSON_AddNumberToObject(res, "snapshot_loaded_at", s ? (double)s->loaded_at : 0);
  cJSON_AddNumberToObject(res, "writer_backlog", (double)ws.backlog);
  cJSON_AddNumberToObject(res, "writer_rows_total", (double)ws.rows_total);
  cJSON_AddBoolToObject(res, "draining", ctx->nworkers && atomic_load(&ctx->workers[0].draining));
  cJSON_AddStringToObject(res, "metrics_listen", ctx->metrics_address ? ctx->metrics_address : "off");
  cJSON_AddNumberToObject(res, "writer_errors", (double)ws.errors);
  cJSON_AddNumberToObject(res, "writer_buffer_max", (double)ws.buffer_max);
  cJSON_AddStringToObject(res, "node", lease_node());
  cJSON_AddStringToObject(res, "node_lease", lease_state());
  add_database_id(ctx, res);
  /* models a channel offers that have no price: relayd refuses them (403 model_price_unset) */
  cJSON *unpriced = cJSON_AddArrayToObject(res, "models_without_price");
  struct strmap seen;
  strmap_init(&seen, 16);
  for (size_t i = 0; s && i < s->nchannels; i++)
    for (size_t j = 0; j < s->channels[i].nmodels; j++) {
      const char *m = s->channels[i].models[j];
      if (!snapshot_price(s, m) && !strmap_get(&seen, m)) {
        strmap_put(&seen, m, (void *)m);
        cJSON_AddItemToArray(unpriced, cJSON_CreateString(m));
      }
    }
  strmap_free(&seen);
  dbnotify_status(res);
  snapshot_release(s);
  return res;
}

static cJSON *verb_reload(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req;
  if (admin_load_snapshot(ctx, err, errlen) < 0)
    return NULL;
  struct snapshot *s = snapshot_acquire(NULL);
  cJSON *res = cJSON_CreateObject();
  cJSON_AddNumberToObject(res, "snapshot_version", (double)s->version);
  cJSON_AddNumberToObject(res, "channels", (double)s->nchannels);
  cJSON_AddNumberToObject(res, "tokens", (double)s->ntokens);
  cJSON_AddNumberToObject(res, "users", (double)s->nusers);
  snapshot_release(s);
  add_database_id(ctx, res);
  return res;
}


static cJSON *histogram_json(const uint32_t *h)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "p50", stats_quantile_ms(h, 0.50));
  cJSON_AddNumberToObject(o, "p90", stats_quantile_ms(h, 0.90));
  cJSON_AddNumberToObject(o, "p99", stats_quantile_ms(h, 0.99));
  return o;
}

static cJSON *entry_json(const struct stat_entry *e)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "requests", (double)e->requests);
  cJSON_AddNumberToObject(o, "errors", (double)e->errors);
  cJSON_AddNumberToObject(o, "prompt_tokens", (double)e->prompt_tokens);
  cJSON_AddNumberToObject(o, "completion_tokens", (double)e->completion_tokens);
  cJSON_AddNumberToObject(o, "quota", (double)e->quota);
  cJSON_AddItemToObject(o, "latency_ms", histogram_json(e->latency));
  cJSON_AddItemToObject(o, "first_byte_ms", histogram_json(e->first_byte));
  return o;
}

/* A channel's live health (health.h) and configured status. */
static void add_health(cJSON *o, const struct snap_channel *c)
{
  const struct chan_health *h = c->health;
  int64_t now = now_unix_ms();
  int64_t until = atomic_load(&h->open_until_ms);
  int flag = atomic_load(&h->auto_disabled);
  const char *status = c->status == STATUS_DISABLED ? "disabled"
                       : c->status == STATUS_AUTO_DISABLED || flag != HEALTH_ENABLED ? "auto-disabled"
                                                                  : "enabled";
  cJSON_AddStringToObject(o, "status", status);
  cJSON_AddStringToObject(o, "status_reason", c->status == STATUS_AUTO_DISABLED ? c->status_reason : "");
  cJSON_AddStringToObject(o, "breaker", !until ? "closed" : until > now ? "open" : "half-open");
  cJSON_AddNumberToObject(o, "breaker_open_ms", (double)health_open_for_ms(h, now));
  cJSON_AddNumberToObject(o, "consecutive_failures", atomic_load(&h->consecutive_failures));
  cJSON_AddNumberToObject(o, "active", atomic_load(&h->in_flight));
  cJSON_AddNumberToObject(o, "max_concurrency", c->max_concurrency);
  cJSON_AddNumberToObject(o, "latency_ewma_ms", health_ewma_ms(h));
  cJSON_AddNumberToObject(o, "failures_total", (double)atomic_load(&h->failures_total));
  cJSON_AddNumberToObject(o, "breaker_opened_total", (double)atomic_load(&h->opened_total));
  cJSON_AddNumberToObject(o, "auto_disabled_total", (double)atomic_load(&h->disabled_total));
  cJSON_AddNumberToObject(o, "busy_total", (double)atomic_load(&h->busy_total));
  keypool_stats_json(o, c);      /* a pooled channel: its keys by index */
  chanlimit_stats_json(o, c);    /* its limits (and its keys') and the candidates they skipped */
}

static cJSON *verb_stats(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req; (void)err; (void)errlen;
  struct arena a = {0};
  struct strmap merged;
  strmap_init(&merged, 64);
  struct worker_stats *ws[ctx->nworkers > 0 ? ctx->nworkers : 1];
  for (int i = 0; i < ctx->nworkers; i++)
    ws[i] = &ctx->workers[i].stats;
  uint64_t dropped = stats_merge(ws, ctx->nworkers, &merged, &a);
  struct snapshot *s = snapshot_acquire(NULL);
  cJSON *res = cJSON_CreateObject();
  cJSON *chans = cJSON_AddArrayToObject(res, "channels");
  cJSON *models = cJSON_AddArrayToObject(res, "models");
  cJSON *responses = cJSON_AddArrayToObject(res, "responses");
  for (size_t k = 0; k < merged.nslots; k++) {
    void *v;
    const char *key = strmap_slot(&merged, k, &v);
    if (!key)
      continue;
    if (key[0] == 's') {                     /* every answer, by status and reason */
      char kb[64];
      snprintf(kb, sizeof kb, "%s", key + 1);
      char *sep = strchr(kb, '\x1f');
      if (sep) {
        *sep = '\0';
        int64_t code = 0;
        parse_int64(kb, &code);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "status", (double)code);
        cJSON_AddStringToObject(o, "reason", sep + 1);
        cJSON_AddNumberToObject(o, "count", (double)((const struct stat_entry *)v)->requests);
        cJSON_AddItemToArray(responses, o);
      }
      continue;
    }
    if (key[0] != 'c' && key[0] != 'm')    /* the finer keys are for /metrics */
      continue;
    cJSON *o = entry_json(v);
    if (key[0] == 'c') {
      int64_t id = 0;
      parse_int64(key + 1, &id);
      const struct snap_channel *c = s ? snapshot_channel(s, id) : NULL;
      cJSON_AddNumberToObject(o, "id", (double)id);
      cJSON_AddNumberToObject(o, "in_flight", (double)((const struct stat_entry *)v)->in_flight);
      cJSON_AddStringToObject(o, "name", c ? c->name : "");
      cJSON_AddNumberToObject(o, "attempt_failures", (double)((const struct stat_entry *)v)->attempt_failures);
      if (c)
        add_health(o, c);
      cJSON_AddItemToArray(chans, o);
    } else {
      cJSON_AddStringToObject(o, "model", key + 1);
      cJSON_AddItemToArray(models, o);
    }
  }
  /* channels no request has used yet still have a health state */
  for (size_t i = 0; s && i < s->nchannels; i++) {
    char key[32];
    snprintf(key, sizeof key, "c%lld", (long long)s->channels[i].id);
    if (strmap_get(&merged, key))
      continue;
    cJSON *o = entry_json(&(struct stat_entry){0});
    cJSON_AddNumberToObject(o, "id", (double)s->channels[i].id);
    cJSON_AddNumberToObject(o, "in_flight", 0);
    cJSON_AddStringToObject(o, "name", s->channels[i].name);
    cJSON_AddNumberToObject(o, "attempt_failures", 0);
    add_health(o, &s->channels[i]);
    cJSON_AddItemToArray(chans, o);
  }
  /* rate-limit refusals by scope (stats_ratelimit_rejected: keys "ltoken", "luser") */
  cJSON *rl = cJSON_AddObjectToObject(res, "rate_limited");
  const struct stat_entry *lt = strmap_get(&merged, "ltoken"), *lu = strmap_get(&merged, "luser");
  cJSON_AddNumberToObject(rl, "token", lt ? (double)lt->requests : 0);
  cJSON_AddNumberToObject(rl, "user", lu ? (double)lu->requests : 0);
  cJSON *aff = cJSON_AddObjectToObject(res, "affinity");     /* affinity.h's counters */
  cJSON_AddNumberToObject(aff, "entries", (double)affinity_entries());
  cJSON_AddNumberToObject(aff, "hits", (double)affinity_hits());
  cJSON_AddNumberToObject(aff, "misses", (double)affinity_misses());
  cJSON_AddNumberToObject(res, "events_dropped", (double)dropped);
  cJSON_AddNumberToObject(res, "stats_overflow", (double)stats_overflow(ws, ctx->nworkers));
  snapshot_release(s);
  strmap_free(&merged);
  arena_free(&a);
  return res;
}

static cJSON *set_draining(struct admin_ctx *ctx, bool on)
{
  int64_t in_flight = 0;
  for (int i = 0; i < ctx->nworkers; i++) {
    atomic_store(&ctx->workers[i].draining, on);
    in_flight += atomic_load(&ctx->workers[i].ctr.in_flight);
  }
  log_msg(LOG_INFO, on ? "draining: new requests get 503" : "drain ended: accepting requests", "");
  cJSON *res = cJSON_CreateObject();
  cJSON_AddBoolToObject(res, "draining", on);
  cJSON_AddNumberToObject(res, "in_flight", (double)in_flight);
  return res;
}

static cJSON *verb_drain(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req; (void)err; (void)errlen;
  return set_draining(ctx, true);
}

static cJSON *verb_undrain(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req; (void)err; (void)errlen;
  return set_draining(ctx, false);
}

static cJSON *verb_subscribe(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req; (void)err; (void)errlen;
  ctx->subscribe = true;        /* adminsock.c turns the connection into an event stream */
  cJSON *res = cJSON_CreateObject();
  cJSON_AddTrueToObject(res, "subscribed");
  return res;
}

/* A real upstream call on one channel, from the admin thread (it blocks this thread only). */
static cJSON *verb_channel_test(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)ctx;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "channel");
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
  struct snapshot *s = snapshot_acquire(NULL);
  const struct snap_channel *c = NULL;
  for (size_t i = 0; s && i < s->nchannels; i++)
    if ((cJSON_IsNumber(id) && (double)s->channels[i].id == id->valuedouble) ||
        (cJSON_IsString(id) && strcmp(s->channels[i].name, id->valuestring) == 0))
      c = &s->channels[i];
  if (!c) {
    snprintf(err, errlen, "no such channel (give \"channel\": id or name)");
    snapshot_release(s);
    return NULL;
  }
  struct probe_result pr;
  if (monitor_probe(c, cJSON_IsString(model) ? model->valuestring : NULL, 30, &pr) < 0) {
    snprintf(err, errlen, "%s", pr.error);
    snapshot_release(s);
    return NULL;
  }
  cJSON *res = NULL;
  if (!pr.status) {
    snprintf(err, errlen, "channel %lld (%s): %s", (long long)c->id, c->name, pr.error);
  } else {
    res = cJSON_CreateObject();
    cJSON_AddNumberToObject(res, "channel", (double)c->id);
    cJSON_AddStringToObject(res, "model", pr.model);
    cJSON_AddNumberToObject(res, "status", (double)pr.status);
    cJSON_AddNumberToObject(res, "latency_ms", pr.latency_ms);
    cJSON_AddBoolToObject(res, "passed", pr.status >= 200 && pr.status < 300);
    if (pr.status >= 300)
      cJSON_AddStringToObject(res, "body", pr.body);   /* monitor_probe redacted the key */
  }
  snapshot_release(s);
  return res;
}

/* The channel affinity table (affinity.h): its entries, with each channel's name, and the counters. */
static cJSON *verb_affinity(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)ctx; (void)req; (void)err; (void)errlen;
  cJSON *res = cJSON_CreateObject(), *list = affinity_list_json();
  struct snapshot *s = snapshot_acquire(NULL);
  const cJSON *e;
  cJSON_ArrayForEach(e, list)
  {
    double id = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "channel_id"));
    const char *name = "";
    for (size_t i = 0; s && i < s->nchannels; i++)
      if ((double)s->channels[i].id == id)
        name = s->channels[i].name;
    cJSON_AddStringToObject((cJSON *)e, "channel", name);
  }
  cJSON_AddNumberToObject(res, "ttl_s", s ? (double)s->opt.affinity_ttl_s : 0);
  cJSON_AddNumberToObject(res, "capacity", AFFINITY_CAPACITY);
  cJSON_AddNumberToObject(res, "hits", (double)affinity_hits());
  cJSON_AddNumberToObject(res, "misses", (double)affinity_misses());
  cJSON_AddItemToObject(res, "entries", list);
  if (s)
    snapshot_release(s);
  return res;
}

static cJSON *verb_affinity_clear(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)ctx;
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(req, "key");
  if (k && !cJSON_IsString(k)) {
    snprintf(err, errlen, "\"key\" must be a string (or absent: every entry)");
    return NULL;
  }
  cJSON *res = cJSON_CreateObject();
  cJSON_AddNumberToObject(res, "cleared", (double)affinity_clear(k ? k->valuestring : NULL));
  return res;
}

static cJSON *verb_config(struct admin_ctx *ctx, const cJSON *req, char *err, size_t errlen)
{
  (void)req; (void)err; (void)errlen;
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "file", ctx->cfg->file);
  cJSON *keys = cJSON_AddArrayToObject(res, "keys");
  for (size_t k = 0; k < config_nkeys; k++) {
    const struct config_key *e = &config_keys[k];
    char v[1024];
    config_format(ctx->cfg, k, v, sizeof v);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", e->name);
    cJSON_AddStringToObject(o, "value", v);
    cJSON_AddStringToObject(o, "source", config_source_name(ctx->cfg->source[k]));
    cJSON_AddBoolToObject(o, "reload", e->reload);
    cJSON_AddStringToObject(o, "default", e->def);
    cJSON_AddStringToObject(o, "type", config_type_name(e));
    cJSON_AddItemToArray(keys, o);
  }
  /* the runtime options in force (the snapshot's; options.h), a secret one as "(set)" */
  struct snapshot *s = snapshot_acquire(NULL);
  cJSON *opts = cJSON_AddObjectToObject(res, "options");
  for (size_t k = 0; s && k < option_nkeys; k++) {
    char v[OPTION_VALUE_MAX];
    options_format(&s->opt, &option_keys[k], v, sizeof v);
    cJSON_AddStringToObject(opts, option_keys[k].name, v);
  }
  if (s)
    snapshot_release(s);
  return res;
}

/* The verb table: the protocol document lists exactly these (checked by a test). */
static const struct admin_verb admin_verbs[] = {
    {"help", verb_help, "list the verbs"},
    {"ping", verb_ping, "check that relayd answers"},
    {"status", verb_status, "version, uptime, in-flight and total requests, snapshot, writer"},
    {"reload", verb_reload, "rebuild the configuration snapshot from the database"},
    {"stats", verb_stats, "per channel and per model counters and latency percentiles"},
    {"channel_test", verb_channel_test, "a real upstream call on one channel: status and latency"},
    {"drain", verb_drain, "answer new requests with 503 while in-flight ones finish"},
    {"undrain", verb_undrain, "accept requests again after drain"},
    {"subscribe", verb_subscribe, "turn this connection into a live stream of request events"},
    {"config", verb_config, "relayd's settings in force: value, source, whether a reload applies it"},
    {"affinity", verb_affinity, "the channel affinity table: entries, hits and misses"},
    {"affinity_clear", verb_affinity_clear, "forget one affinity key (\"key\") or every entry"},
};
static const size_t admin_nverbs = sizeof admin_verbs / sizeof admin_verbs[0];


cJSON *admin_verb_run(struct admin_ctx *ctx, const char *cmd, const cJSON *req, char *err,
                      size_t errlen, bool *known)
{
  const struct admin_verb *v = NULL;
  for (size_t i = 0; i < admin_nverbs; i++)
    if (strcmp(admin_verbs[i].name, cmd) == 0)
      v = &admin_verbs[i];
  *known = v != NULL;
  return v ? v->fn(ctx, req, err, errlen) : NULL;
}

/* ---------------------------------------------------------------- reload */

int admin_load_snapshot(struct admin_ctx *ctx, char *err, size_t errlen)
{
  static uint64_t next_version = 1;
  struct snapshot *s = snapshot_load(ctx->db, next_version, err, errlen);
  if (!s) {
    log_msg(LOG_ERR, "reload failed, the previous configuration stays", "error=\"%s\"", err);
    return -1;
  }
  s->cfg = *ctx->cfg;
  next_version++;
  snapshot_publish(s);
  monitor_kick();     /* threads that sleep while the snapshot gives them nothing to watch */
  balpoll_kick();
  log_msg(LOG_INFO, "configuration loaded", "version=%llu channels=%zu tokens=%zu users=%zu",
          (unsigned long long)s->version, s->nchannels, s->ntokens, s->nusers);
  return 0;
}

int admin_reload_config(struct admin_ctx *ctx, char *err, size_t errlen)
{
  struct config *next = calloc(1, sizeof *next);
  if (!next) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (config_build(next, ctx->config_file, ctx->args, ctx->nargs, err, errlen) < 0) {
    log_msg(LOG_ERR, "configuration refused, the running one stays", "error=\"%s\"", err);
    free(next);
    return -1;
  }
  const struct config *prev = ctx->cfg;
  int changed = 0, ignored = 0;
  for (size_t k = 0; k < config_nkeys; k++) {
    const struct config_key *e = &config_keys[k];
    char was[1024], now[1024];
    config_format(prev, k, was, sizeof was);
    config_format(next, k, now, sizeof now);
    if (memcmp((const char *)prev + e->off, (const char *)next + e->off, e->size) == 0)
      continue;
    if (!e->reload) {
      log_msg(LOG_WARN, "setting changed but needs a restart; the running value stays",
              "key=%s running=\"%s\" configured=\"%s\"", e->name, was, now);
      memcpy((char *)next + e->off, (const char *)prev + e->off, e->size);
      next->source[k] = prev->source[k];
      ignored++;
    } else {
      log_msg(LOG_INFO, "setting changed", "key=%s from=\"%s\" to=\"%s\"", e->name, was, now);
      changed++;
    }
  }
  ctx->cfg = next;
  if (admin_load_snapshot(ctx, err, errlen) < 0) {
    ctx->cfg = prev;
    free(next);
    return -1;
  }
  log_configure(next->log_level, next->log_format);
  writer_set_access_log(next->access_log);
  if (prev != ctx->startup_cfg)
    free((void *)prev);
  log_msg(LOG_INFO, "configuration reloaded", "file=\"%s\" changed=%d needs_restart=%d",
          next->file, changed, ignored);
  return 0;
}

void admin_status_line(char *buf, size_t len, const char *what)
{
  struct snapshot *s = snapshot_acquire(NULL);
  snprintf(buf, len, "%s: %zu channels, %zu tokens, %zu users (configuration v%llu)", what,
           s ? s->nchannels : 0, s ? s->ntokens : 0, s ? s->nusers : 0,
           s ? (unsigned long long)s->version : 0ULL);
  snapshot_release(s);
}
