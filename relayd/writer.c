/* writer: see writer.h. */
#include "writer.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bgthread.h"
#include "commit.h"
#include "db.h"
#include "chanstate.h"
#include "log.h"
#include "util.h"

#define WRITER_TICK_MS 50
#define WRITER_BATCH_WAKE 2000
#define WRITER_QUEUE_FIRST 1024     /* records a fresh queue holds before it grows */

static struct {
  /* t.lock guards what says so; t.stop: writer_stop asked (the thread commits what is queued
   * first). Only the lifecycle is bgthread's: workers submit on the hot path and signal t.wake
   * after the unlock, with no kick flag (the writer tests the queue under the lock), and the
   * writer's wait is its own (it batches) */
  struct bgthread t;
  struct log_record *queue;   /* under lock; mapped (rec_grow), cap records */
  size_t len, cap;
  struct log_record *spare;   /* under lock: the last committed batch's array, the next queue */
  size_t spare_cap;
  bool sleeping;              /* under lock: the writer waits with no timeout (empty queue, nothing
                               * pending); the first record wakes it */
  size_t committing;          /* records taken by the writer and not yet committed; under lock */
  struct writer_stats stats;  /* under lock */
  char node[400];
  size_t buffer_max;          /* backlog at which new requests are refused */
  uint64_t node_id;
  atomic_bool full;           /* backlog >= buffer_max; read by workers without the lock */
  struct writer_op *ops;      /* state changes waiting; under lock */
  size_t nops, opcap;
  void (*reload_hook)(void);
} W = {.t = BGTHREAD_INIT, .buffer_max = 100000};

void writer_set_buffer_max(size_t n)
{
  W.buffer_max = n ? n : 1;
}

bool writer_full(void)
{
  return atomic_load_explicit(&W.full, memory_order_relaxed);
}

uint64_t writer_node_id(void)
{
  return W.node_id;
}

/* under W.t.lock */
static void update_full(void)
{
  atomic_store_explicit(&W.full, W.len + W.committing >= W.buffer_max, memory_order_relaxed);
}

/* The queue's arrays (2 KB a record, MBs under load) are mapped, not malloc'd: in a worker's malloc
 * arena they stayed behind as free memory after every burst (idle RSS 30-80 MB); mapped, growing is
 * an mremap (no copy under the lock) and trimming gives the pages back at once. Two arrays take
 * turns (the queue, and the batch being committed, kept as the next queue), so a steady load
 * faults no new pages in; a quiet writer unmaps the spare (writer_main). */
static struct log_record *rec_grow(struct log_record *q, size_t cap, size_t ncap)
{
  void *p = q ? mremap(q, cap * sizeof *q, ncap * sizeof *q, MREMAP_MAYMOVE)
              : mmap(NULL, ncap * sizeof *q, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void rec_free(struct log_record *q, size_t cap)
{
  if (q)
    munmap(q, cap * sizeof *q);
}

static _Atomic bool access_log_on;

void writer_set_access_log(bool on)
{
  atomic_store(&access_log_on, on);
}

bool writer_access_log(void)
{
  return atomic_load_explicit(&access_log_on, memory_order_relaxed);
}

/* One line per request: ids, names, model, channel, status, tokens, quota, times, end reason.
 * Typed fields (log.h): names and the model are the client's or the database's bytes, escaped by
 * log.c per format. Never a key: the record holds none. */
static void access_lines(const struct log_record *recs, size_t n)
{
  if (!log_enabled(LOG_INFO))
    return;
  /* whole lines gathered into writes of at most PIPE_BUF bytes (atomic on a pipe or journald's
     stream socket; other threads' lines never land inside one) */
  char out[LOG_LINE_MAX], line[LOG_LINE_MAX];
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    const struct log_record *r = &recs[i];
    if (r->reservation)
      continue;                 /* not a request's end: its settle record has the line */
    struct log_field f[24];
    size_t nf = 0;
    f[nf++] = LOG_T("request_id", r->request_id[0] ? r->request_id : "-");
    if (r->type == LOGT_ACCESS) {
      f[nf++] = LOG_S("path", r->content);
    } else {
      f[nf++] = LOG_I("user_id", r->user_id);
      f[nf++] = LOG_S("user", r->username);
      f[nf++] = LOG_I("token_id", r->token_id);
      f[nf++] = LOG_S("token", r->token_name);
      f[nf++] = LOG_S("group", r->group);
    }
    f[nf++] = LOG_S("model", r->model);
    if (r->upstream_model[0] && strcmp(r->upstream_model, r->model) != 0)
      f[nf++] = LOG_S("upstream_model", r->upstream_model);
    f[nf++] = LOG_I("channel", r->channel_id);
    f[nf++] = LOG_I("status", r->status);
    f[nf++] = LOG_B("stream", r->is_stream);
    f[nf++] = LOG_I("prompt_tokens", r->prompt_tokens);
    f[nf++] = LOG_I("completion_tokens", r->completion_tokens);
    f[nf++] = LOG_I("quota", r->quota);
    f[nf++] = LOG_I("dur_ms", r->elapsed_ms);
    f[nf++] = LOG_I("ttfb_ms", r->first_byte_ms);
    f[nf++] = LOG_T("end_reason", r->end_reason[0] ? r->end_reason : "-");
    f[nf++] = LOG_T("usage", r->usage_source[0] ? r->usage_source : "-");
    f[nf++] = LOG_T("api", r->api[0] ? r->api : "-");   /* the client's inbound API */
    size_t len = log_fields_line(line, sizeof line, LOG_INFO, "request", f, nf);
    if (used + len > sizeof out) {
      ssize_t w = write(STDERR_FILENO, out, used);
      (void)w;
      used = 0;
    }
    memcpy(out + used, line, len);
    used += len;
  }
  if (used) {
    ssize_t w = write(STDERR_FILENO, out, used);
    (void)w;
  }
}

void writer_submit(const struct log_record *rec)
{
  pthread_mutex_lock(&W.t.lock);
  if (W.len == W.cap) {
    size_t nc = W.cap ? W.cap * 2 : WRITER_QUEUE_FIRST;
    struct log_record *q = rec_grow(W.queue, W.cap, nc);
    if (!q) {
      /* Out of memory: nothing sensible is left; losing a billed record silently is worse. */
      log_msg(LOG_ERR, "writer queue cannot grow: out of memory", "backlog=%zu", W.len);
      abort();
    }
    W.queue = q;
    W.cap = nc;
  }
  W.queue[W.len++] = *rec;
  /* one signal per batch: the first record into an empty queue wakes a sleeping writer (which
   * then batches for WRITER_TICK_MS), the 2000th one a batching writer */
  bool wake = W.sleeping ? W.len == 1 : W.len == WRITER_BATCH_WAKE;
  update_full();
  pthread_mutex_unlock(&W.t.lock);
  /* signalled after the unlock: a writer woken while this thread still held W.t.lock blocked on it
   * at once (a futex wait and wake more, and one more context switch, per wake-up; strace of the
   * light row). No wake-up is lost: the writer tests W.len under the lock before it waits. */
  if (wake)
    pthread_cond_signal(&W.t.wake);
}

void writer_submit_op(const struct writer_op *op)
{
  pthread_mutex_lock(&W.t.lock);
  if (W.nops == W.opcap) {
    size_t nc = W.opcap ? W.opcap * 2 : 64;
    struct writer_op *q = realloc(W.ops, nc * sizeof *q);
    if (!q) {
      log_msg(LOG_ERR, "writer op queue cannot grow: out of memory", "ops=%zu", W.nops);
      abort();
    }
    W.ops = q;
    W.opcap = nc;
  }
  W.ops[W.nops++] = *op;
  pthread_mutex_unlock(&W.t.lock);
  pthread_cond_signal(&W.t.wake);   /* after the unlock, as writer_submit's */
}

void writer_set_reload_hook(void (*fn)(void))
{
  pthread_mutex_lock(&W.t.lock);
  W.reload_hook = fn;
  pthread_mutex_unlock(&W.t.lock);
}

/* After a commit: a channel disabled by it is disabled for the workers now (its flag was pending),
 * and the reload hook runs when a channel's status changed. */
static void after_commit(const struct writer_op *ops, size_t nops)
{
  bool status_changed = false;
  for (size_t i = 0; i < nops; i++) {
    if (ops[i].kind == WOP_KEY_STATUS) {     /* a key of a pool (keypool.h), the same way */
      status_changed = true;
      int pending = HEALTH_DISABLE_PENDING;
      if (ops[i].key_flag && ops[i].status != STATUS_ENABLED)
        atomic_compare_exchange_strong(ops[i].key_flag, &pending, HEALTH_DISABLED);
      continue;
    }
    if (ops[i].kind != WOP_CHANNEL_STATUS)
      continue;
    status_changed = true;
    if (ops[i].health && ops[i].status != STATUS_ENABLED) {
      int pending = HEALTH_DISABLE_PENDING;
      atomic_compare_exchange_strong(&ops[i].health->auto_disabled, &pending, HEALTH_DISABLED);
    }
  }
  if (status_changed) {
    pthread_mutex_lock(&W.t.lock);
    void (*hook)(void) = W.reload_hook;
    pthread_mutex_unlock(&W.t.lock);
    if (hook)
      hook();
  }
}

static void *writer_main(void *arg)
{
  (void)arg;
  struct log_record *batch = NULL;   /* mapped (rec_grow), bcap records */
  size_t blen = 0, bcap = 0;
  struct writer_op *ops = NULL;
  size_t nops = 0;
  int backoff_ms = WRITER_TICK_MS;
  bool trim_due = false;
  uint64_t last_trim = 0;
  for (;;) {
    pthread_mutex_lock(&W.t.lock);
    if (!W.t.stop && W.len < WRITER_BATCH_WAKE && !W.nops) {
      /* how long to wait: a failed batch retries after its backoff; records waiting are batched
       * for WRITER_TICK_MS; after traffic the memory trim below comes at most every 5 s; with
       * nothing at all the writer sleeps until a record, an op or writer_stop signals */
      long wait_ms = -1;
      if (batch || ops) {
        wait_ms = backoff_ms;
      } else if (W.len) {
        wait_ms = WRITER_TICK_MS;
      } else {
        /* an empty queue: sleep until a record, an op or writer_stop signals (W.sleeping asks
         * submit to), or until the trim is due after traffic */
        W.sleeping = true;
        if (trim_due) {
          uint64_t since = now_us_mono() - last_trim;
          long trim_ms = since >= 5000000u ? 0 : (long)((5000000u - since) / 1000u) + 1;
          struct timespec ts = realtime_in_us((uint64_t)trim_ms * 1000u);
          while (!W.t.stop && !W.len && !W.nops &&
                 pthread_cond_timedwait(&W.t.wake, &W.t.lock, &ts) != ETIMEDOUT) {
          }
        } else {
          while (!W.t.stop && !W.len && !W.nops)
            pthread_cond_wait(&W.t.wake, &W.t.lock);
        }
        W.sleeping = false;
        /* the first record: batch from here for WRITER_TICK_MS, as the old periodic tick did */
        if (!W.t.stop && !W.nops && W.len && W.len < WRITER_BATCH_WAKE)
          wait_ms = WRITER_TICK_MS;
      }
      if (wait_ms >= 0) {
        struct timespec ts = realtime_in_us((uint64_t)wait_ms * 1000u);
        pthread_cond_timedwait(&W.t.wake, &W.t.lock, &ts);
      }
    }
    bool stopping = W.t.stop;
    bool fresh = false;
    if (!batch && !ops && (W.len || W.nops)) {
      /* take the whole queue; workers start a fresh one */
      batch = W.queue;
      blen = W.len;
      bcap = W.cap;
      W.queue = W.spare;
      W.cap = W.spare_cap;
      W.spare = NULL;
      W.spare_cap = 0;
      W.len = 0;
      fresh = true;
      ops = W.ops;
      nops = W.nops;
      W.ops = NULL;
      W.nops = W.opcap = 0;
    }
    W.committing = blen;
    pthread_mutex_unlock(&W.t.lock);
    if (fresh && writer_access_log())
      access_lines(batch, blen);

    if (batch || ops) {
      uint64_t t0 = now_us_mono();
      int rc = commit_batch(batch, blen, ops, nops, W.node, W.node_id);
      if (rc == 0)
        after_commit(ops, nops);
      uint64_t took = now_us_mono() - t0;
      pthread_mutex_lock(&W.t.lock);
      if (rc == 0) {
        W.committing = 0;
        for (size_t i = 0; i < blen; i++)   /* reservations and access lines are not rows */
          W.stats.rows_total += !batch[i].reservation && batch[i].type != LOGT_ACCESS;
        W.stats.commits++;
        W.stats.last_commit_us = took;
        if (!W.spare) {        /* the next queue; batch is no longer ours */
          W.spare = batch;
          W.spare_cap = bcap;
          batch = NULL;
        }
      } else {
        W.stats.errors++;
      }
      update_full();
      pthread_mutex_unlock(&W.t.lock);
      if (rc == 0) {
        rec_free(batch, bcap);
        batch = NULL;
        blen = bcap = 0;
        free(ops);
        ops = NULL;
        nops = 0;
        backoff_ms = WRITER_TICK_MS;
        trim_due = true;
        continue;       /* more may have queued meanwhile */
      }
      if (backoff_ms < 1000)   /* 50 ms doubling to 800 ms: the database may be back any moment */
        backoff_ms *= 2;
      if (stopping && W.stats.errors > 20) {
        log_msg(LOG_ERR, "writer gives up at shutdown: rows not saved", "rows=%zu", blen);
        rec_free(batch, bcap);
        batch = NULL;
        blen = bcap = 0;
        free(ops);
        ops = NULL;
        nops = 0;
      }
      continue;
    }
    /* a quiet tick after traffic: give the memory that bursts left in malloc's arenas back to
     * the system (at most every 5 s; never on a worker) */
    if (trim_due && now_us_mono() - last_trim > 5000000u) {
      pthread_mutex_lock(&W.t.lock);
      struct log_record *spare = W.spare, *idle = NULL;
      size_t spare_cap = W.spare_cap, idle_cap = 0;
      W.spare = NULL;
      W.spare_cap = 0;
      if (!W.len) {           /* an empty queue starts afresh at its first record */
        idle = W.queue;
        idle_cap = W.cap;
        W.queue = NULL;
        W.cap = 0;
      }
      pthread_mutex_unlock(&W.t.lock);
      rec_free(spare, spare_cap);
      rec_free(idle, idle_cap);
      malloc_trim(0);
      last_trim = now_us_mono();
      trim_due = false;
    }
    if (stopping) {
      pthread_mutex_lock(&W.t.lock);
      bool empty = W.len == 0 && W.nops == 0;
      pthread_mutex_unlock(&W.t.lock);
      if (empty)
        break;
    }
  }
  return NULL;
}

int writer_start(const char *db_url, char *err, size_t errlen)
{
  if (getrandom(&W.node_id, sizeof W.node_id, 0) != (ssize_t)sizeof W.node_id)
    W.node_id = ((uint64_t)getpid() << 32) ^ now_us_mono();
  if (commit_open(db_url, err, errlen) < 0)
    return -1;
  /* named, so its wake-ups can be told from the workers' (/proc/PID/task/TID/comm, top -H) */
  if (bgthread_start(&W.t, "relayd-writer", writer_main, NULL) != 0) {
    snprintf(err, errlen, "writer: cannot start thread");
    return -1;
  }
  return 0;
}

void writer_stop(void)
{
  bgthread_stop(&W.t);
  commit_close();
  rec_free(W.queue, W.cap);
  W.queue = NULL;
  W.cap = 0;
  rec_free(W.spare, W.spare_cap);
  W.spare = NULL;
  W.spare_cap = 0;
  free(W.ops);
  W.ops = NULL;
}

void writer_get_stats(struct writer_stats *out)
{
  pthread_mutex_lock(&W.t.lock);
  *out = W.stats;
  out->backlog = W.len + W.committing;
  out->buffer_max = W.buffer_max;
  pthread_mutex_unlock(&W.t.lock);
}

void writer_set_node(const char *node)
{
  snprintf(W.node, sizeof W.node, "%s", node);
}

int writer_resolve_unsettled(struct db *db, bool charge, char *err, size_t errlen)
{
  struct db_stmt *sel = db_prepare(db,
      "SELECT request_id, created_at, user_id, username, token_id, token_name, token_limited, "
      "model_name, \"group\", is_stream, quota FROM reservations WHERE node = ?1 ORDER BY created_at");
  struct db_stmt *ins = db_prepare(db,
      "INSERT INTO logs(request_id, created_at, type, content, user_id, username, token_id, "
      "token_name, model_name, quota, is_stream, end_reason, usage_source, \"group\", billing) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
  struct db_stmt *upd_user = db_prepare(db, "UPDATE users SET quota = quota - ?1, "
                                            "used_quota = used_quota + ?1 WHERE id = ?2");
  struct db_stmt *upd_token = db_prepare(db, "UPDATE tokens SET remain_quota = remain_quota - ?1, "
                                             "used_quota = used_quota + ?2 WHERE id = ?3");
  struct db_stmt *del = db_prepare(db, "DELETE FROM reservations WHERE node = ?1");
  int count = -1;
  if (!sel || !ins || !upd_user || !upd_token || !del) {
    snprintf(err, errlen, "resolving reservations: %s", db_errmsg(db));
    goto out;
  }
  if (db_begin(db) < 0) {
    snprintf(err, errlen, "resolving reservations: %s", db_errmsg(db));
    goto out;
  }
  count = 0;
  db_bind_text(sel, 1, W.node);
  int64_t now = now_unix();
  enum db_step_result sr;
  while ((sr = db_step(sel)) == DB_ROW) {
    char rid[40], content[256], billing[160];
    snprintf(rid, sizeof rid, "%s", db_col_text(sel, 0));
    int64_t created = db_col_int64(sel, 1), user = db_col_int64(sel, 2), token = db_col_int64(sel, 4);
    bool limited = db_col_int64(sel, 6) != 0;
    int64_t amount = db_col_int64(sel, 10), charged = charge ? amount : 0;
    snprintf(content, sizeof content,
             "relayd stopped before this request settled; its reservation of %lld (made at %lld) "
             "was %s at restart", (long long)amount, (long long)created,
             charge ? "charged in full" : "refunded");
    /* the breakdown gwctl log explain reads (relayd/writer.h, logs.billing) */
    snprintf(billing, sizeof billing,
             "{\"reserved\":%lld,\"charged\":%lld,\"usage_source\":\"%s\",\"note\":\"restart\"}",
             (long long)amount, (long long)charged, charge ? "reserved" : "none");
    db_reset(ins);
    db_bind_text(ins, 1, rid);
    db_bind_int64(ins, 2, now);
    db_bind_int64(ins, 3, charge ? LOGT_CONSUME : LOGT_ERROR);
    db_bind_text(ins, 4, content);
    db_bind_int64(ins, 5, user);
    db_bind_text(ins, 6, db_col_text(sel, 3));
    db_bind_int64(ins, 7, token);
    db_bind_text(ins, 8, db_col_text(sel, 5));
    db_bind_text(ins, 9, db_col_text(sel, 7));
    db_bind_int64(ins, 10, charged);
    db_bind_int64(ins, 11, db_col_int64(sel, 9));
    db_bind_text(ins, 12, charge ? "restart_charge" : "restart_refund");
    db_bind_text(ins, 13, charge ? "reserved" : "none");
    db_bind_text(ins, 14, db_col_text(sel, 8));
    db_bind_text(ins, 15, billing);
    if (db_step(ins) == DB_ERROR)
      goto fail;
    if (charged) {
      db_reset(upd_user);
      db_bind_int64(upd_user, 1, charged);
      db_bind_int64(upd_user, 2, user);
      db_reset(upd_token);
      db_bind_int64(upd_token, 1, limited ? charged : 0);
      db_bind_int64(upd_token, 2, charged);
      db_bind_int64(upd_token, 3, token);
      if (db_step(upd_user) == DB_ERROR || db_step(upd_token) == DB_ERROR)
        goto fail;
    }
    log_msg(LOG_WARN, "unsettled reservation resolved at start-up",
            "request_id=%s action=%s reserved=%lld charged=%lld user_id=%lld token_id=%lld", rid,
            charge ? "charged" : "refunded", (long long)amount, (long long)charged, (long long)user,
            (long long)token);
    count++;
  }
  if (sr == DB_ERROR)
    goto fail;
  db_reset(del);
  db_bind_text(del, 1, W.node);
  if (db_step(del) == DB_ERROR || db_commit(db) < 0)
    goto fail;
  goto out;
fail:
  snprintf(err, errlen, "resolving reservations: %s", db_errmsg(db));
  db_rollback(db);
  count = -1;
out:
  db_finalize(sel);
  db_finalize(ins);
  db_finalize(upd_user);
  db_finalize(upd_token);
  db_finalize(del);
  return count;
}
