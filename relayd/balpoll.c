/* balpoll: see balpoll.h. */
#include "balpoll.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bgthread.h"
#include "db.h"
#include "keypool.h"
#include "log.h"
#include "snapshot.h"
#include "upbalance.h"
#include "util.h"
#include "webhook.h"
#include "writer.h"

struct figure {
  int64_t channel_id;
  double amount;
  char currency[8];
  int64_t updated, low_fired;
  int64_t hold_until;          /* low_fired changed here: a reload does not undo it before the commit */
};

static struct {
  struct bgthread t;           /* t.lock guards figs and what follows; never held over I/O */
  pthread_cond_t loaded;       /* broadcast after each reload (balpoll_refresh waits on it) */
  bool want_reload;            /* balpoll_refresh asked for a reload */
  uint64_t reloads;            /* reloads done */
  uint64_t reloaded_at;        /* now_us_mono() of the last reload, 0 before the first */
  char *db_url;                /* owned: strdup at start, freed at stop */
  struct figure *figs;         /* owned (realloc'd), nfigs used */
  size_t nfigs, cap;
} B = {.t = BGTHREAD_INIT, .loaded = PTHREAD_COND_INITIALIZER};

/* Under B.t.lock: the figure of id, added when missing (NULL when out of memory). */
static struct figure *fig_of(int64_t id)
{
  for (size_t i = 0; i < B.nfigs; i++)
    if (B.figs[i].channel_id == id)
      return &B.figs[i];
  if (B.nfigs == B.cap) {
    size_t nc = B.cap ? B.cap * 2 : 32;
    struct figure *f = realloc(B.figs, nc * sizeof *f);
    if (!f)
      return NULL;
    B.figs = f;
    B.cap = nc;
  }
  struct figure *f = &B.figs[B.nfigs++];
  memset(f, 0, sizeof *f);
  f->channel_id = id;
  return f;
}

bool balpoll_get(int64_t channel_id, double *amount, char *currency, int64_t *updated)
{
  bool found = false;
  pthread_mutex_lock(&B.t.lock);
  for (size_t i = 0; i < B.nfigs; i++)
    if (B.figs[i].channel_id == channel_id && B.figs[i].updated) {
      *amount = B.figs[i].amount;
      memcpy(currency, B.figs[i].currency, sizeof B.figs[i].currency);
      *updated = B.figs[i].updated;
      found = true;
      break;
    }
  pthread_mutex_unlock(&B.t.lock);
  return found;
}

/* Re-reads channel_balances: the stored figures replace older ones held here. */
static void reload(struct db **db)
{
  char err[256];
  if (!*db && !(*db = db_open_existing(B.db_url, err, sizeof err)))
    return;
  struct db_stmt *st = db_prepare(*db, "SELECT channel_id, balance, currency, updated_time, low_fired_time "
                                       "FROM channel_balances");
  if (!st) {
    db_close(*db);           /* reconnect next time (PostgreSQL restarted, ...) */
    *db = NULL;
    return;
  }
  pthread_mutex_lock(&B.t.lock);
  while (db_step(st) == DB_ROW) {
    struct figure *f = fig_of(db_col_int64(st, 0));
    if (!f)
      break;
    int64_t upd = db_col_int64(st, 3);
    if (upd >= f->updated) {
      f->amount = db_col_double(st, 1);
      snprintf(f->currency, sizeof f->currency, "%s", db_col_text(st, 2));
      f->updated = upd;
    }
    if (now_unix() >= f->hold_until)
      f->low_fired = db_col_int64(st, 4);
  }
  pthread_mutex_unlock(&B.t.lock);
  db_finalize(st);
}

/* Reads one channel's balance now and queues it for the writer. */
static void poll_channel(const struct snapshot *s, const struct snap_channel *c)
{
  const char *key = c->key;
  if (c->pool && c->pool->n)
    key = c->pool->keys[0].key;
  struct upbalance ub;
  char err[300];
  if (upbalance_fetch(c->provider, c->base_url, key, (long)s->opt.test_timeout_s, &ub, err, sizeof err) < 0) {
    log_msg(LOG_INFO, "upstream balance not read", "channel_id=%lld name=\"%s\" error=\"%s\"", (long long)c->id,
            c->name, err);
    return;
  }
  int64_t now = now_unix();
  pthread_mutex_lock(&B.t.lock);
  struct figure *f = fig_of(c->id);
  if (f) {
    f->amount = ub.amount;
    snprintf(f->currency, sizeof f->currency, "%s", ub.currency);
    f->updated = now;
  }
  pthread_mutex_unlock(&B.t.lock);
  struct writer_op op;
  memset(&op, 0, sizeof op);
  op.kind = WOP_BALANCE;
  op.id = c->id;
  op.a = (int64_t)llround(ub.amount * 1e6);
  op.b = now;
  snprintf(op.reason, sizeof op.reason, "%s", ub.currency);
  writer_submit_op(&op);
  log_msg(LOG_INFO, "upstream balance read", "channel_id=%lld name=\"%s\" balance=%.4f currency=%s",
          (long long)c->id, c->name, ub.amount, ub.currency);
}

/* The low-balance alert of each channel with a figure: fired once below the threshold, re-armed
 * at or above it. */
static void check_low(const struct snapshot *s)
{
  int64_t T = s->opt.balance_low_threshold;
  for (size_t i = 0; i < s->nchannels; i++) {
    const struct snap_channel *c = &s->channels[i];
    pthread_mutex_lock(&B.t.lock);
    struct figure *f = NULL;
    for (size_t j = 0; j < B.nfigs; j++)
      if (B.figs[j].channel_id == c->id && B.figs[j].updated)
        f = &B.figs[j];
    struct figure copy = f ? *f : (struct figure){0};
    bool fire = f && T > 0 && f->amount < (double)T && !f->low_fired;
    bool rearm = f && f->low_fired && (T <= 0 || f->amount >= (double)T);
    int64_t now = now_unix();
    if (fire)
      f->low_fired = now;
    else if (rearm)
      f->low_fired = 0;
    if (fire || rearm)
      f->hold_until = now + 10;
    pthread_mutex_unlock(&B.t.lock);
    if (!fire && !rearm)
      continue;
    struct writer_op op;
    memset(&op, 0, sizeof op);
    op.kind = WOP_BALANCE_LOW;
    op.id = c->id;
    op.a = fire ? now : 0;
    if (fire) {
      char reason[160];
      snprintf(reason, sizeof reason, "upstream balance %.2f %s is below %lld", copy.amount, copy.currency,
               (long long)T);
      snprintf(op.text, sizeof op.text, "channel %s balance low: %s", c->name, reason);
      log_msg(LOG_WARN, "upstream balance low", "channel_id=%lld name=\"%s\" balance=%.4f currency=%s threshold=%lld",
              (long long)c->id, c->name, copy.amount, copy.currency, (long long)T);
      webhook_channel_event("balance_low", c->id, c->name, -1, reason, &copy.amount, copy.currency);
    }
    writer_submit_op(&op);
  }
}

/* Under B.t.lock: waits until the monotonic time due (0: no deadline), a kick (balpoll_kick, a
 * refresh request) or stop. */
static void wait_until_due(uint64_t due)
{
  if (!due) {
    bgthread_wait(&B.t, BGTHREAD_FOREVER);
    return;
  }
  uint64_t now = now_us_mono();
  bgthread_wait(&B.t, (due > now ? due - now : 0) + 1000u);
}

static void *balpoll_main(void *arg)
{
  (void)arg;
  struct db *db = NULL;
  uint64_t next_poll = 0, next_reload = 0;
  int64_t interval = -1;
  /* what the last snapshot seen asks for: polls (a channel with a balance endpoint and an
   * interval) and periodic reloads (such a channel and a low threshold: the alert watches figures
   * other nodes and gwctl store); /metrics asks for its reloads itself (balpoll_refresh) */
  bool polls = false, periodic = false;
  uint64_t seen = 0;          /* its version */
  for (;;) {
    pthread_mutex_lock(&B.t.lock);
    /* sleep until the next due poll or reload, a new snapshot (balpoll_kick), a refresh or stop:
     * with nothing due, no timer at all (an idle relayd's thread makes no wake-ups) */
    while (!B.t.stop && !B.want_reload && snapshot_current_version() == seen) {
      uint64_t due = 0;
      if (periodic)
        due = next_reload;
      if (polls && (!due || next_poll < due))
        due = next_poll;
      if (due && now_us_mono() >= due)
        break;
      wait_until_due(due);
    }
    bool stop = B.t.stop, want = B.want_reload;
    pthread_mutex_unlock(&B.t.lock);
    if (stop)
      break;
    uint64_t now = now_us_mono();
    bool fresh = snapshot_current_version() != seen;
    if (want || fresh || (periodic && now >= next_reload)) {
      reload(&db);
      next_reload = now + BALPOLL_RELOAD_S * 1000000u;
      pthread_mutex_lock(&B.t.lock);
      B.want_reload = false;
      B.reloads++;
      B.reloaded_at = now;
      pthread_cond_broadcast(&B.loaded);
      pthread_mutex_unlock(&B.t.lock);
    }
    struct snapshot *s = snapshot_acquire(NULL);
    if (!s) {                  /* none to read (shutting down): wait for the next one, not spin */
      seen = snapshot_current_version();
      continue;
    }
    int64_t iv = s->opt.balance_poll_interval_s;
    if (iv != interval) {      /* a new interval: the first poll one interval from now */
      next_poll = now + (uint64_t)(iv > 0 ? iv : 0) * 1000000u;
      interval = iv;
    }
    bool capable = false;
    for (size_t i = 0; i < s->nchannels && !capable; i++)
      capable = s->channels[i].provider->balance != BAL_NONE;
    if (capable && iv > 0 && now >= next_poll) {
      for (size_t i = 0; i < s->nchannels && !bgthread_stopping(&B.t); i++) {
        const struct snap_channel *c = &s->channels[i];
        if (c->provider->balance != BAL_NONE && c->status != STATUS_DISABLED)
          poll_channel(s, c);
      }
      next_poll = now_us_mono() + (uint64_t)iv * 1000000u;
    }
    check_low(s);
    polls = capable && iv > 0;
    periodic = capable && s->opt.balance_low_threshold > 0;
    seen = s->version;
    snapshot_release(s);
  }
  if (db)
    db_close(db);
  pthread_mutex_lock(&B.t.lock);
  pthread_cond_broadcast(&B.loaded);   /* a refresh waiting now gets what is there */
  pthread_mutex_unlock(&B.t.lock);
  return NULL;
}

void balpoll_refresh(void)
{
  pthread_mutex_lock(&B.t.lock);
  uint64_t now = now_us_mono();
  if (B.t.started && !B.t.stop && (!B.reloaded_at || now - B.reloaded_at >= BALPOLL_RELOAD_S * 1000000u)) {
    uint64_t done = B.reloads;
    B.want_reload = true;
    bgthread_kick_locked(&B.t);
    /* bounded: the thread may be reading an upstream's balance now */
    struct timespec ts = realtime_in_us((uint64_t)BALPOLL_REFRESH_WAIT_MS * 1000u);
    while (B.reloads == done && !B.t.stop && pthread_cond_timedwait(&B.loaded, &B.t.lock, &ts) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&B.t.lock);
}

int balpoll_start(const char *db_url, char *err, size_t errlen)
{
  B.db_url = strdup(db_url ? db_url : "");
  if (!B.db_url) {
    snprintf(err, errlen, "balpoll: out of memory");
    return -1;
  }
  if (bgthread_start(&B.t, "relayd-balpoll", balpoll_main, NULL) != 0) {
    snprintf(err, errlen, "balpoll: cannot start thread");
    return -1;
  }
  return 0;
}

void balpoll_kick(void)
{
  bgthread_kick(&B.t);
}

void balpoll_stop(void)
{
  if (!B.t.started)
    return;
  bgthread_stop(&B.t);
  free(B.figs);
  B.figs = NULL;
  B.nfigs = B.cap = 0;
  free(B.db_url);
  B.db_url = NULL;
}
