/* balpoll: see balpoll.h. */
#include "balpoll.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
  pthread_t thread;
  pthread_mutex_t lock;        /* guards figs and stop; never held over I/O */
  pthread_cond_t wake;
  bool stop, started;
  char *db_url;                /* owned: strdup at start, freed at stop */
  struct figure *figs;         /* owned (realloc'd), nfigs used */
  size_t nfigs, cap;
} B = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Under B.lock: the figure of id, added when missing (NULL when out of memory). */
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
  pthread_mutex_lock(&B.lock);
  for (size_t i = 0; i < B.nfigs; i++)
    if (B.figs[i].channel_id == channel_id && B.figs[i].updated) {
      *amount = B.figs[i].amount;
      memcpy(currency, B.figs[i].currency, sizeof B.figs[i].currency);
      *updated = B.figs[i].updated;
      found = true;
      break;
    }
  pthread_mutex_unlock(&B.lock);
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
  pthread_mutex_lock(&B.lock);
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
  pthread_mutex_unlock(&B.lock);
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
  pthread_mutex_lock(&B.lock);
  struct figure *f = fig_of(c->id);
  if (f) {
    f->amount = ub.amount;
    snprintf(f->currency, sizeof f->currency, "%s", ub.currency);
    f->updated = now;
  }
  pthread_mutex_unlock(&B.lock);
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
    pthread_mutex_lock(&B.lock);
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
    pthread_mutex_unlock(&B.lock);
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

static bool stopping(void)
{
  pthread_mutex_lock(&B.lock);
  bool s = B.stop;
  pthread_mutex_unlock(&B.lock);
  return s;
}

static void *balpoll_main(void *arg)
{
  (void)arg;
  struct db *db = NULL;
  uint64_t next_poll = 0, next_reload = 0;
  int64_t interval = -1;
  bool idle = false;          /* the last snapshot seen has no channel with a balance endpoint */
  uint64_t seen = 0;          /* its version */
  pthread_setname_np(pthread_self(), "relayd-balpoll");
  for (;;) {
    pthread_mutex_lock(&B.lock);
    if (idle) {
      /* no figure to poll, reload or check: sleep until a new snapshot (balpoll_kick) or stop */
      while (!B.stop && snapshot_current_version() == seen)
        pthread_cond_wait(&B.wake, &B.lock);
    } else if (!B.stop) {
      /* until the next reload (BALPOLL_RELOAD_S) or poll, whichever comes first: figures change
       * only then, and a new threshold comes with a snapshot (balpoll_kick) */
      uint64_t now = now_us_mono(), due = next_reload;
      if (interval > 0 && next_poll < due)
        due = next_poll;
      uint64_t wait_us = (due > now ? due - now : 0) + 1000u;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += (long)(wait_us % 1000000u) * 1000L;
      ts.tv_sec += (time_t)(wait_us / 1000000u) + ts.tv_nsec / 1000000000L;
      ts.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&B.wake, &B.lock, &ts);
    }
    bool stop = B.stop;
    pthread_mutex_unlock(&B.lock);
    if (stop)
      break;
    uint64_t now = now_us_mono();
    if (now >= next_reload) {
      reload(&db);
      next_reload = now + BALPOLL_RELOAD_S * 1000000u;
    }
    struct snapshot *s = snapshot_acquire(NULL);
    if (!s)
      continue;
    int64_t iv = s->opt.balance_poll_interval_s;
    if (iv != interval) {      /* a new interval: the first poll one interval from now */
      next_poll = now + (uint64_t)(iv > 0 ? iv : 0) * 1000000u;
      interval = iv;
    }
    if (iv > 0 && now >= next_poll) {
      for (size_t i = 0; i < s->nchannels && !stopping(); i++) {
        const struct snap_channel *c = &s->channels[i];
        if (c->provider->balance != BAL_NONE && c->status != STATUS_DISABLED)
          poll_channel(s, c);
      }
      next_poll = now_us_mono() + (uint64_t)iv * 1000000u;
    }
    check_low(s);
    idle = true;
    for (size_t i = 0; i < s->nchannels && idle; i++)
      idle = s->channels[i].provider->balance == BAL_NONE;
    seen = s->version;
    snapshot_release(s);
  }
  if (db)
    db_close(db);
  return NULL;
}

int balpoll_start(const char *db_url, char *err, size_t errlen)
{
  B.db_url = strdup(db_url ? db_url : "");
  if (!B.db_url) {
    snprintf(err, errlen, "balpoll: out of memory");
    return -1;
  }
  B.stop = false;
  if (pthread_create(&B.thread, NULL, balpoll_main, NULL) != 0) {
    snprintf(err, errlen, "balpoll: cannot start thread");
    return -1;
  }
  B.started = true;
  return 0;
}

void balpoll_kick(void)
{
  pthread_mutex_lock(&B.lock);
  pthread_cond_signal(&B.wake);
  pthread_mutex_unlock(&B.lock);
}

void balpoll_stop(void)
{
  if (!B.started)
    return;
  pthread_mutex_lock(&B.lock);
  B.stop = true;
  pthread_cond_signal(&B.wake);
  pthread_mutex_unlock(&B.lock);
  pthread_join(B.thread, NULL);
  B.started = false;
  free(B.figs);
  B.figs = NULL;
  B.nfigs = B.cap = 0;
  free(B.db_url);
  B.db_url = NULL;
}
