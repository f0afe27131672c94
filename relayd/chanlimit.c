/* chanlimit: see chanlimit.h. */
#include "chanlimit.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "gcra.h"
#include "keypool.h"     /* struct key_pool, keypool_key_ok (keypool.c never calls back here) */
#include "request.h"
#include "snapshot.h"
#include "util.h"

/* ---------------------------------------------------------------- live states */

/* "channel id/idx" -> struct climit_state; touched only when snapshots load (admin thread) and at exit */
static struct state_table table = STATE_TABLE_INIT(struct climit_state, 16);

static struct climit_state *state_of(int64_t channel_id, int64_t idx)
{
  char k[48];
  snprintf(k, sizeof k, "%lld/%lld", (long long)channel_id, (long long)idx);
  return state_table_get(&table, k, NULL);
}

void chanlimit_free_states(void)
{
  state_table_free(&table);
}

/* ---------------------------------------------------------------- load */

static struct snap_channel *channel_by_id(struct snapshot *s, int64_t id)
{
  for (size_t i = 0; i < s->nchannels; i++)
    if (s->channels[i].id == id)
      return &s->channels[i];
  return NULL;
}

static struct chan_limits *limits_of(struct snapshot *s, struct snap_channel *c)
{
  if (!c->limits) {
    c->limits = arena_alloc(&s->arena, sizeof *c->limits);   /* zeroed: no limit yet */
    c->limits->chan.st = state_of(c->id, 0);                  /* its skips are counted there */
  }
  return c->limits;
}

int chanlimit_load(struct db *db, struct snapshot *s)
{
  struct db_stmt *st = db_prepare(db, "SELECT id, rpm, tpm FROM channels WHERE rpm > 0 OR tpm > 0");
  if (!st)
    return -1;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW) {
    struct snap_channel *c = channel_by_id(s, db_col_int64(st, 0));
    if (!c)
      continue;
    struct chan_limits *l = limits_of(s, c);
    l->chan.rpm = db_col_int64(st, 1);
    l->chan.tpm = db_col_int64(st, 2);
  }
  db_finalize(st);
  if (r == DB_ERROR)
    return -1;
  st = db_prepare(db, "SELECT channel_id, idx, rpm, tpm, max_concurrency FROM channel_keys "
                      "WHERE rpm > 0 OR tpm > 0 OR max_concurrency > 0");
  if (!st)
    return -1;
  while ((r = db_step(st)) == DB_ROW) {
    struct snap_channel *c = channel_by_id(s, db_col_int64(st, 0));
    if (!c || !c->pool)
      continue;
    int64_t idx = db_col_int64(st, 1);
    size_t pos = c->pool->n;
    for (size_t i = 0; i < c->pool->n; i++)
      if (c->pool->keys[i].idx == idx)
        pos = i;
    if (pos == c->pool->n)
      continue;
    struct chan_limits *l = limits_of(s, c);
    if (!l->keys) {
      l->keys = arena_alloc(&s->arena, c->pool->n * sizeof *l->keys);
      l->nkeys = c->pool->n;
    }
    struct climit *k = &l->keys[pos];
    k->rpm = db_col_int64(st, 2);
    k->tpm = db_col_int64(st, 3);
    int64_t mc = db_col_int64(st, 4);
    k->max_concurrency = mc > 1000000 ? 1000000 : (int)mc;
    k->st = state_of(c->id, idx);
  }
  db_finalize(st);
  return r == DB_ERROR ? -1 : 0;
}

/* ---------------------------------------------------------------- buckets */

/* ms until inc fits in the bucket (0: it fits now) */
static int64_t wait_ms(const _Atomic int64_t *tat, int64_t now, int64_t inc, int64_t window)
{
  int64_t t = atomic_load_explicit(tat, memory_order_relaxed);
  int64_t base = t > now ? t : now;
  int64_t over = base + inc - now - window;
  return over > 0 ? (over + 999999) / 1000000 : 0;
}

static void gcra_force(_Atomic int64_t *tat, int64_t now, int64_t inc)
{
  int64_t old = atomic_load_explicit(tat, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(tat, &old, (old > now ? old : now) + inc, memory_order_relaxed,
                                                memory_order_relaxed))
    ;
}

static int64_t window_of(const struct request *r)
{
  int64_t w = r->snap->opt.rate_limit_window_s;
  return (w > 0 ? w : 60) * 1000000000;
}

/* the tokens a request is counted for before it is served */
static int64_t estimate(const struct request *r)
{
  int64_t out = r->rq.max_tokens >= 0 ? r->rq.max_tokens : r->snap->opt.preconsume_completion;
  int64_t t = r->rq.prompt_estimate + out;
  return t > 0 ? t : 0;
}

/* ms until l has room for r (0: now); counts a skip when it has none */
static int64_t limit_wait(const struct climit *l, const struct request *r, int64_t now, int64_t window)
{
  if (!l->st)
    return 0;
  int64_t ms = 0, m;
  if (l->max_concurrency > 0 &&
      atomic_load_explicit(&l->st->in_flight, memory_order_relaxed) >= l->max_concurrency)
    ms = 1000;      /* a slot frees when a request ends: try again in a second */
  if (l->rpm > 0 && (m = wait_ms(&l->st->req_tat_ns, now, gcra_cost_ns(1, l->rpm, window), window)) > ms)
    ms = m;
  if (l->tpm > 0) {
    int64_t tok = estimate(r);
    if (tok > l->tpm)
      tok = l->tpm;     /* larger than the whole bucket: it passes when the bucket is full */
    if ((m = wait_ms(&l->st->tok_tat_ns, now, gcra_cost_ns(tok, l->tpm, window), window)) > ms)
      ms = m;
  }
  return ms;
}

int64_t chanlimit_wait(const struct request *r, const struct snap_channel *c)
{
  return limit_wait(&c->limits->chan, r, gcra_now_ns(), window_of(r));
}

void chanlimit_skipped(const struct snap_channel *c)
{
  atomic_fetch_add_explicit(&c->limits->chan.st->limited_total, 1, memory_order_relaxed);
}

bool chanlimit_take(struct request *r, const struct snap_channel *c)
{
  struct climit *l = &c->limits->chan;
  r->clh.l[0] = NULL;
  r->clh.tok_inc[0] = 0;
  r->clh.window_ns = window_of(r);
  r->clh.tokens = estimate(r);
  int64_t now = gcra_now_ns(), window = r->clh.window_ns, req_inc = 0, tok_inc = 0;
  if (l->rpm > 0 && !gcra_take(&l->st->req_tat_ns, now, req_inc = gcra_cost_ns(1, l->rpm, window), window, NULL))
    return false;
  if (l->tpm > 0) {
    tok_inc = gcra_cost_ns(r->clh.tokens < l->tpm ? r->clh.tokens : l->tpm, l->tpm, window);
    if (!gcra_take(&l->st->tok_tat_ns, now, tok_inc, window, NULL)) {
      if (req_inc)
        gcra_give(&l->st->req_tat_ns, req_inc);
      return false;
    }
  }
  r->clh.l[0] = l;
  r->clh.tok_inc[0] = tok_inc;
  return true;
}

void chanlimit_untake(struct request *r)
{
  struct climit *l = r->clh.l[0];
  if (!l)
    return;
  if (l->rpm > 0)
    gcra_give(&l->st->req_tat_ns, gcra_cost_ns(1, l->rpm, r->clh.window_ns));
  if (r->clh.tok_inc[0])
    gcra_give(&l->st->tok_tat_ns, r->clh.tok_inc[0]);
  r->clh.l[0] = NULL;
}

int64_t chanlimit_key_wait(const struct request *r, const struct snap_channel *c, size_t pos)
{
  const struct chan_limits *cl = c->limits;
  if (!cl || !cl->keys || pos >= cl->nkeys || !cl->keys[pos].st)
    return 0;
  return limit_wait(&cl->keys[pos], r, gcra_now_ns(), window_of(r));
}

bool chanlimit_key_room(const void *ctx, const struct snap_channel *c, size_t pos)
{
  return chanlimit_key_wait(ctx, c, pos) == 0;
}

int64_t chanlimit_pool_wait(const struct request *r, const struct snap_channel *c)
{
  int64_t best = -1;
  for (size_t i = 0; c->pool && i < c->pool->n && best != 0; i++) {
    if (!keypool_key_ok(&c->pool->keys[i]))
      continue;
    int64_t ms = chanlimit_key_wait(r, c, i);
    if (best < 0 || ms < best)
      best = ms;
  }
  return best < 0 ? 0 : best;
}

void chanlimit_key_take(struct request *r, const struct snap_channel *c, size_t pos)
{
  const struct chan_limits *cl = c->limits;
  r->clh.l[1] = NULL;
  if (!cl || !cl->keys || pos >= cl->nkeys || !cl->keys[pos].st)
    return;
  struct climit *l = &cl->keys[pos];
  int64_t now = gcra_now_ns(), window = window_of(r);
  r->clh.window_ns = window;
  r->clh.tokens = estimate(r);
  if (l->rpm > 0)
    gcra_force(&l->st->req_tat_ns, now, gcra_cost_ns(1, l->rpm, window));
  r->clh.tok_inc[1] = 0;
  if (l->tpm > 0) {
    r->clh.tok_inc[1] = gcra_cost_ns(r->clh.tokens < l->tpm ? r->clh.tokens : l->tpm, l->tpm, window);
    gcra_force(&l->st->tok_tat_ns, now, r->clh.tok_inc[1]);
  }
  r->clh.l[1] = l;
  if (l->max_concurrency > 0) {
    atomic_fetch_add_explicit(&l->st->in_flight, 1, memory_order_relaxed);
    r->clh.conc = l;
  }
}

void chanlimit_release(struct request *r)
{
  if (r->clh.conc) {
    atomic_fetch_sub_explicit(&r->clh.conc->st->in_flight, 1, memory_order_relaxed);
    r->clh.conc = NULL;
  }
}

void chanlimit_settle(struct request *r, int64_t used)
{
  if (used < 0)
    used = 0;
  for (int i = 0; i < 2; i++) {
    struct climit *l = r->clh.l[i];
    if (!l || l->tpm <= 0 || !r->clh.tok_inc[i])
      continue;
    int64_t now_inc = gcra_cost_ns(used < l->tpm ? used : l->tpm, l->tpm, r->clh.window_ns);
    if (now_inc > r->clh.tok_inc[i])
      gcra_force(&l->st->tok_tat_ns, gcra_now_ns(), now_inc - r->clh.tok_inc[i]);
    else
      gcra_give(&l->st->tok_tat_ns, r->clh.tok_inc[i] - now_inc);
    r->clh.l[i] = NULL;
  }
}

/* ---------------------------------------------------------------- counters */

uint64_t chanlimit_limited_total(const struct snap_channel *c)
{
  const struct chan_limits *cl = c->limits;
  if (!cl)
    return 0;
  return atomic_load(&cl->chan.st->limited_total);
}

void chanlimit_stats_json(cJSON *o, const struct snap_channel *c)
{
  const struct chan_limits *cl = c->limits;
  cJSON_AddNumberToObject(o, "rpm", cl ? (double)cl->chan.rpm : 0);
  cJSON_AddNumberToObject(o, "tpm", cl ? (double)cl->chan.tpm : 0);
  cJSON_AddNumberToObject(o, "limited_total", (double)chanlimit_limited_total(c));
  cJSON *keys = cJSON_GetObjectItemCaseSensitive(o, "keys");
  const cJSON *e;
  size_t i = 0;
  cJSON_ArrayForEach(e, keys)
  {
    const struct climit *k = cl && cl->keys && i < cl->nkeys ? &cl->keys[i] : NULL;
    cJSON *eo = (cJSON *)e;
    cJSON_AddNumberToObject(eo, "rpm", k ? (double)k->rpm : 0);
    cJSON_AddNumberToObject(eo, "tpm", k ? (double)k->tpm : 0);
    cJSON_AddNumberToObject(eo, "max_concurrency", k ? k->max_concurrency : 0);
    cJSON_AddNumberToObject(eo, "in_flight", k && k->st ? atomic_load(&k->st->in_flight) : 0);
    i++;
  }
}
