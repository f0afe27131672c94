/* writer: see writer.h. */
#include "writer.h"

#include <errno.h>
#include <stdarg.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "health.h"
#include "log.h"
#include "util.h"

#define WRITER_TICK_MS 50
#define WRITER_BATCH_WAKE 2000
/* PostgreSQL: log rows per multi-row INSERT (22 parameters a row; the protocol allows 65535) */
#define WRITER_ROWS_PER_INSERT 500
#define LOG_INSERT_COLS \
  "INSERT INTO logs(request_id, created_at, type, content, user_id, username, token_id, " \
  "token_name, channel_id, model_name, upstream_model, prompt_tokens, completion_tokens, quota, " \
  "status, is_stream, elapsed_ms, first_byte_ms, end_reason, usage_source, \"group\", billing) VALUES "
#define LOG_PARAMS 22
/* a relay_balance payload longer than this says "*" (PostgreSQL's limit is 8000 bytes) */
#define BALANCE_PAYLOAD_MAX 7000

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct log_record *queue;   /* under lock */
  size_t len, cap;
  bool stopping;
  size_t committing;          /* records taken by the writer and not yet committed; under lock */
  struct writer_stats stats;  /* under lock */
  pthread_t thread;
  struct db *db;
  struct db_stmt *ins_log, *upd_token, *upd_user, *upd_channel, *ins_resv, *del_resv;
  char node[400];
  struct db_stmt *ins_many;   /* PostgreSQL: WRITER_ROWS_PER_INSERT rows at once */
  bool multirow;              /* PostgreSQL */
  bool verify_next;           /* the last commit failed: it may have committed all the same */
  size_t buffer_max;          /* backlog at which new requests are refused */
  uint64_t node_id;
  atomic_bool full;           /* backlog >= buffer_max; read by workers without the lock */
  struct writer_op *ops;      /* state changes waiting; under lock */
  size_t nops, opcap;
  void (*reload_hook)(void);
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .buffer_max = 100000};

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

/* under W.lock */
static void update_full(void)
{
  atomic_store_explicit(&W.full, W.len + W.committing >= W.buffer_max, memory_order_relaxed);
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
  pthread_mutex_lock(&W.lock);
  if (W.len == W.cap) {
    size_t nc = W.cap ? W.cap * 2 : 4096;
    struct log_record *q = realloc(W.queue, nc * sizeof *q);
    if (!q) {
      /* Out of memory: nothing sensible is left; losing a billed record silently is worse. */
      log_msg(LOG_ERR, "writer queue cannot grow: out of memory", "backlog=%zu", W.len);
      abort();
    }
    W.queue = q;
    W.cap = nc;
  }
  W.queue[W.len++] = *rec;
  if (W.len == WRITER_BATCH_WAKE)
    pthread_cond_signal(&W.wake);
  update_full();
  pthread_mutex_unlock(&W.lock);
}

void writer_submit_op(const struct writer_op *op)
{
  pthread_mutex_lock(&W.lock);
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
  pthread_cond_signal(&W.wake);
  pthread_mutex_unlock(&W.lock);
}

void writer_set_reload_hook(void (*fn)(void))
{
  pthread_mutex_lock(&W.lock);
  W.reload_hook = fn;
  pthread_mutex_unlock(&W.lock);
}

static int exec_op_sql(const char *sql, const char *types, ...)
{
  struct db_stmt *st = db_prepare(W.db, sql);
  if (!st)
    return -1;
  va_list ap;
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    if (types[i] == 'i')
      db_bind_int64(st, i + 1, va_arg(ap, int64_t));
    else
      db_bind_text(st, i + 1, va_arg(ap, const char *));
  }
  va_end(ap);
  int rc = db_step(st) == DB_ERROR ? -1 : 0;
  db_finalize(st);
  return rc;
}

/* Applies one state change inside the batch's transaction. */
static int apply_op(const struct writer_op *op, int64_t now)
{
  int rc = 0;
  switch (op->kind) {
  case WOP_CHANNEL_STATUS:
    /* never over a manual disable; re-enable only what relayd disabled */
    rc = exec_op_sql("UPDATE channels SET status = ?2, status_reason = ?3, status_time = ?4 "
                     "WHERE id = ?1 AND status = ?5", "iisii", op->id, (int64_t)op->status,
                     op->status == STATUS_ENABLED ? "" : op->reason, now,
                     (int64_t)(op->status == STATUS_ENABLED ? 3 : STATUS_ENABLED));
    break;
  case WOP_CHANNEL_TESTED:
    rc = exec_op_sql("UPDATE channels SET test_time = ?2, response_time = ?3 WHERE id = ?1", "iii", op->id,
                     op->a, op->b);
    break;
  case WOP_ALERT_STATE:
    rc = exec_op_sql("UPDATE budget_alerts SET fired_at = ?2, fired_total = ?3 WHERE id = ?1", "iii", op->id,
                     op->a, op->b);
    break;
  case WOP_REMINDER_STATE:
    rc = op->a ? exec_op_sql("INSERT INTO quota_reminders(user_id, fired_at, fired_total) VALUES (?1, ?2, ?3) "
                             "ON CONFLICT(user_id) DO UPDATE SET fired_at = excluded.fired_at, "
                             "fired_total = excluded.fired_total", "iii", op->id, op->a, op->b)
               : exec_op_sql("DELETE FROM quota_reminders WHERE user_id = ?1", "i", op->id);
    break;
  }
  if (rc == 0 && op->text[0]) {
    struct db_stmt *st = W.ins_log;
    db_reset(st);
    db_bind_text(st, 1, "");
    db_bind_int64(st, 2, now);
    db_bind_int64(st, 3, LOGT_SYSTEM);
    db_bind_text(st, 4, op->text);
    db_bind_int64(st, 5, op->log_user_id);
    db_bind_text(st, 6, op->log_username);
    db_bind_int64(st, 7, 0);
    db_bind_text(st, 8, "");
    db_bind_int64(st, 9, op->kind == WOP_CHANNEL_STATUS || op->kind == WOP_CHANNEL_TESTED ? op->id : 0);
    for (int i = 10; i <= 11; i++)
      db_bind_text(st, i, "");
    for (int i = 12; i <= 18; i++)
      db_bind_int64(st, i, 0);
    for (int i = 19; i <= LOG_PARAMS; i++)     /* end_reason .. billing */
      db_bind_text(st, i, "");
    if (db_step(st) == DB_ERROR)
      rc = -1;
  }
  return rc;
}

struct agg {
  int64_t id;
  int64_t quota;
  int64_t count;
  int64_t limited_quota;      /* the part charged while the token was limited: taken off remain_quota */
};

/* The request ids of a batch: which have a reservation record and which a settle record. */
struct rid_slot {
  const char *id;
  bool reserved, settled;
};

static struct rid_slot *rid_find(struct rid_slot *tab, size_t cap, const char *id)
{
  uint64_t h = 1469598103934665603u;
  for (const char *p = id; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211u;
  size_t i = (size_t)h & (cap - 1);
  while (tab[i].id && strcmp(tab[i].id, id) != 0)
    i = (i + 1) & (cap - 1);
  tab[i].id = id;
  return &tab[i];
}

/* sums per id into a small open table; n is at most the batch size */
static struct agg *agg_add(struct agg *tab, size_t cap, int64_t id)
{
  size_t i = (size_t)((uint64_t)id * 11400714819323198485ULL) & (cap - 1);
  while (tab[i].id && tab[i].id != id)
    i = (i + 1) & (cap - 1);
  tab[i].id = id;
  return &tab[i];
}

static int agg_cmp(const void *a, const void *b)
{
  const struct agg *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Moves the used entries of tab to its front in id order; returns how many. Every node updates
 * rows in the same order, so two nodes' batches never deadlock each other on PostgreSQL. */
static size_t agg_sort(struct agg *tab, size_t cap)
{
  size_t n = 0;
  for (size_t i = 0; i < cap; i++)
    if (tab[i].id)
      tab[n++] = tab[i];
  qsort(tab, n, sizeof *tab, agg_cmp);
  return n;
}

static void bind_log(struct db_stmt *st, int base, const struct log_record *r)
{
  db_bind_text(st, base + 1, r->request_id);
  db_bind_int64(st, base + 2, r->created_at);
  db_bind_int64(st, base + 3, r->type);
  db_bind_text(st, base + 4, r->content);
  db_bind_int64(st, base + 5, r->user_id);
  db_bind_text(st, base + 6, r->username);
  db_bind_int64(st, base + 7, r->token_id);
  db_bind_text(st, base + 8, r->token_name);
  db_bind_int64(st, base + 9, r->channel_id);
  db_bind_text(st, base + 10, r->model);
  db_bind_text(st, base + 11, r->upstream_model);
  db_bind_int64(st, base + 12, r->prompt_tokens);
  db_bind_int64(st, base + 13, r->completion_tokens);
  db_bind_int64(st, base + 14, r->quota);
  db_bind_int64(st, base + 15, r->status);
  db_bind_int64(st, base + 16, r->is_stream);
  db_bind_int64(st, base + 17, r->elapsed_ms);
  db_bind_int64(st, base + 18, r->first_byte_ms);
  db_bind_text(st, base + 19, r->end_reason);
  db_bind_text(st, base + 20, r->usage_source);
  db_bind_text(st, base + 21, r->group);
  db_bind_text(st, base + 22, r->billing);
}

/* "INSERT INTO logs(...) VALUES (?1..?22), (?23..?44), ..." for rows rows; NULL when out of memory.
 * The caller frees. */
static char *multirow_sql(size_t rows)
{
  struct buf b;
  buf_init(&b, 64 + rows * LOG_PARAMS * 8 + 1024);
  buf_append_str(&b, LOG_INSERT_COLS);
  for (size_t r = 0; r < rows; r++) {
    buf_append_str(&b, r ? ",(" : "(");
    for (int c = 1; c <= LOG_PARAMS; c++)
      buf_appendf(&b, c > 1 ? ",?%zu" : "?%zu", r * LOG_PARAMS + (size_t)c);
    buf_append_str(&b, ")");
  }
  size_t len;
  return buf_steal(&b, &len);
}

/* Inserts the log rows: one prepared statement per row on SQLite (fast in-process), multi-row
 * INSERTs on PostgreSQL (one round trip per WRITER_ROWS_PER_INSERT rows). */
static int insert_rows(const struct log_record *const *recs, size_t n);

static int insert_logs(const struct log_record *all, size_t nall)
{
  /* access-log-only records (LOGT_ACCESS) and reservations are no log rows */
  const struct log_record **recs = malloc((nall ? nall : 1) * sizeof *recs);
  if (!recs) {
    log_msg(LOG_ERR, "writer: out of memory", "rows=%zu", nall);
    return -1;
  }
  size_t n = 0;
  for (size_t k = 0; k < nall; k++)
    if (all[k].type != LOGT_ACCESS && !all[k].reservation)
      recs[n++] = &all[k];
  int rc = insert_rows(recs, n);
  free(recs);
  return rc;
}

static int insert_rows(const struct log_record *const *recs, size_t n)
{
  size_t i = 0;
  if (W.multirow) {
    for (; n - i >= WRITER_ROWS_PER_INSERT; i += WRITER_ROWS_PER_INSERT) {
      db_reset(W.ins_many);
      for (size_t k = 0; k < WRITER_ROWS_PER_INSERT; k++)
        bind_log(W.ins_many, (int)(k * LOG_PARAMS), recs[i + k]);
      if (db_step(W.ins_many) == DB_ERROR)
        return -1;
    }
    if (i < n) {
      char *sql = multirow_sql(n - i);
      struct db_stmt *st = sql ? db_prepare(W.db, sql) : NULL;
      free(sql);
      if (!st)
        return -1;
      for (size_t k = 0; i + k < n; k++)
        bind_log(st, (int)(k * LOG_PARAMS), recs[i + k]);
      enum db_step_result r = db_step(st);
      db_finalize(st);
      return r == DB_ERROR ? -1 : 0;
    }
    return 0;
  }
  for (; i < n; i++) {
    db_reset(W.ins_log);
    bind_log(W.ins_log, 0, recs[i]);
    if (db_step(W.ins_log) == DB_ERROR)
      return -1;
  }
  return 0;
}

/* After a failed commit: did the batch commit all the same (the connection dropped while COMMIT
 * was on its way)? Its first request row tells. 1 yes, 0 no, -1 cannot tell. */
static int already_committed(const struct log_record *recs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (!recs[i].request_id[0] || recs[i].type == LOGT_ACCESS || recs[i].reservation)
      continue;
    struct db_stmt *st = db_prepare(W.db, "SELECT count(*) FROM logs WHERE request_id = ?1 AND "
                                          "created_at = ?2 AND type = ?3");
    if (!st)
      return -1;
    int rc = -1;
    if (db_bind_text(st, 1, recs[i].request_id) == 0 && db_bind_int64(st, 2, recs[i].created_at) == 0
        && db_bind_int64(st, 3, recs[i].type) == 0 && db_step(st) == DB_ROW)
      rc = db_col_int64(st, 0) > 0;
    db_finalize(st);
    return rc;
  }
  return 0;                     /* no request row: nothing to recognise it by */
}

/* "NODE u1,2 t3" (whose balances this batch moved); "NODE *" when too long. */
static void balance_payload(struct buf *p, const struct agg *users, size_t nu, const struct agg *tokens,
                            size_t nt)
{
  buf_appendf(p, "%016llx", (unsigned long long)W.node_id);
  for (size_t i = 0; i < nu; i++)
    buf_appendf(p, i ? ",%lld" : " u%lld", (long long)users[i].id);
  for (size_t i = 0; i < nt; i++)
    buf_appendf(p, i ? ",%lld" : " t%lld", (long long)tokens[i].id);
  if (p->len > BALANCE_PAYLOAD_MAX || !p->data) {
    buf_reset(p);
    buf_appendf(p, "%016llx *", (unsigned long long)W.node_id);
  }
}

static int commit_batch(const struct log_record *recs, size_t n, const struct writer_op *ops, size_t nops)
{
  size_t cap = 16;
  while (cap < n * 2)
    cap *= 2;
  struct agg *users = calloc(cap, sizeof *users), *tokens = calloc(cap, sizeof *tokens),
             *chans = calloc(cap, sizeof *chans);
  struct rid_slot *rids = calloc(cap, sizeof *rids);
  int rc = -1;
  if (!users || !tokens || !chans || !rids)
    goto out;
  for (size_t i = 0; i < n; i++) {
    const struct log_record *r = &recs[i];
    if (r->request_id[0] && (r->reservation || r->type != LOGT_ACCESS)) {
      struct rid_slot *sl = rid_find(rids, cap, r->request_id);
      if (r->reservation || r->type == LOGT_ACCESS)
        sl->reserved = true;
      else
        sl->settled = true;
    }
    if (r->reservation || r->type == LOGT_ACCESS)
      continue;
    if (r->user_id) {
      struct agg *a = agg_add(users, cap, r->user_id);
      a->quota += r->quota;
      a->count += r->type == LOGT_CONSUME;
    }
    if (r->token_id) {
      struct agg *a = agg_add(tokens, cap, r->token_id);
      a->quota += r->quota;
      if (r->token_bal)                 /* each record's own flag: a batch can mix both */
        a->limited_quota += r->quota;
    }
    if (r->channel_id && r->quota)
      agg_add(chans, cap, r->channel_id)->quota += r->quota;
  }
  if (db_begin(W.db) < 0)
    goto fail;
  if (W.verify_next) {
    int done = already_committed(recs, n);
    if (done < 0)
      goto rollback;
    if (done) {
      log_msg(LOG_WARN, "writer: the batch whose commit looked failed was committed", "rows=%zu", n);
      db_rollback(W.db);
      ledger_lock();
      goto committed;
    }
  }
  int64_t now = now_unix();
  for (size_t i = 0; i < n; i++) {
    const struct log_record *r = &recs[i];
    if (r->request_id[0] && (r->reservation || r->type != LOGT_ACCESS)) {
      /* a reservation opened and settled within this batch never reaches the table */
      const struct rid_slot *sl = rid_find(rids, cap, r->request_id);
      if (r->reservation && !sl->settled) {
        struct db_stmt *st = W.ins_resv;
        db_reset(st);
        db_bind_text(st, 1, r->request_id);
        db_bind_text(st, 2, W.node);
        db_bind_int64(st, 3, r->created_at);
        db_bind_int64(st, 4, r->user_id);
        db_bind_text(st, 5, r->username);
        db_bind_int64(st, 6, r->token_id);
        db_bind_text(st, 7, r->token_name);
        db_bind_int64(st, 8, r->token_bal != NULL);
        db_bind_text(st, 9, r->model);
        db_bind_text(st, 10, r->group);
        db_bind_int64(st, 11, r->is_stream);
        db_bind_int64(st, 12, r->quota);
        if (db_step(st) == DB_ERROR)
          goto rollback;
      } else if (!r->reservation && !sl->reserved) {
        struct db_stmt *st = W.del_resv;
        db_reset(st);
        db_bind_text(st, 1, r->request_id);
        if (db_step(st) == DB_ERROR)
          goto rollback;
      }
    }
  }
  if (insert_logs(recs, n) != 0)
    goto rollback;
  size_t nu = agg_sort(users, cap), nt = agg_sort(tokens, cap), nc = agg_sort(chans, cap);
  for (size_t i = 0; i < nu; i++) {
    struct db_stmt *st = W.upd_user;
    db_reset(st);
    db_bind_int64(st, 1, users[i].quota);
    db_bind_int64(st, 2, users[i].count);
    db_bind_int64(st, 3, users[i].id);
    if (db_step(st) == DB_ERROR)
      goto rollback;
  }
  for (size_t i = 0; i < nops; i++)
    if (apply_op(&ops[i], now) < 0)
      goto rollback;
  for (size_t i = 0; i < nt; i++) {
    struct db_stmt *st = W.upd_token;
    db_reset(st);
    db_bind_int64(st, 1, tokens[i].limited_quota);
    db_bind_int64(st, 2, tokens[i].quota);
    db_bind_int64(st, 3, now);
    db_bind_int64(st, 4, tokens[i].id);
    if (db_step(st) == DB_ERROR)
      goto rollback;
  }
  for (size_t i = 0; i < nc; i++) {
    struct db_stmt *st = W.upd_channel;
    db_reset(st);
    db_bind_int64(st, 1, chans[i].quota);
    db_bind_int64(st, 2, chans[i].id);
    if (db_step(st) == DB_ERROR)
      goto rollback;
  }
  /* PostgreSQL: the other nodes fold these balances when this commits (nothing on SQLite) */
  if (W.multirow && (nu || nt)) {
    struct buf payload;
    buf_init(&payload, 1 << 20);
    balance_payload(&payload, users, nu, tokens, nt);
    int nrc = db_notify(W.db, RELAY_BALANCE_CHANNEL, payload.data ? payload.data : "");
    buf_free(&payload);
    if (nrc != 0)
      goto rollback;
  }
  /* the commit and the db_base moves are one step for the loader (see snapshot.h) */
  ledger_lock();
  if (db_commit(W.db) < 0) {
    ledger_unlock();
    goto rollback;
  }
committed:
  W.verify_next = false;
  for (size_t i = 0; i < n; i++)
    if (!recs[i].reservation)
      ledger_committed(recs[i].user_bal, recs[i].token_bal, recs[i].quota);
  ledger_unlock();
  bool status_changed = false;
  for (size_t i = 0; i < nops; i++) {
    if (ops[i].kind != WOP_CHANNEL_STATUS)
      continue;
    status_changed = true;
    if (ops[i].health && ops[i].status != STATUS_ENABLED) {
      int pending = HEALTH_DISABLE_PENDING;
      atomic_compare_exchange_strong(&ops[i].health->auto_disabled, &pending, HEALTH_DISABLED);
    }
  }
  if (status_changed) {
    pthread_mutex_lock(&W.lock);
    void (*hook)(void) = W.reload_hook;
    pthread_mutex_unlock(&W.lock);
    if (hook)
      hook();
  }
  rc = 0;
  goto out;
rollback:
  db_rollback(W.db);
fail:
  /* an error at COMMIT leaves it unknown whether the batch committed: look before retrying */
  W.verify_next = true;
  log_msg(LOG_ERR, "writer commit failed, will retry", "rows=%zu error=\"%s\"", n, db_errmsg(W.db));
out:
  free(users);
  free(tokens);
  free(chans);
  free(rids);
  return rc;
}

static void *writer_main(void *arg)
{
  (void)arg;
  struct log_record *batch = NULL;
  size_t blen = 0;
  struct writer_op *ops = NULL;
  size_t nops = 0;
  int backoff_ms = WRITER_TICK_MS;
  bool trim_due = false;
  uint64_t last_trim = 0;
  for (;;) {
    pthread_mutex_lock(&W.lock);
    if (!W.stopping && W.len < WRITER_BATCH_WAKE && !W.nops) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += (long)backoff_ms * 1000000L;
      ts.tv_sec += ts.tv_nsec / 1000000000L;
      ts.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&W.wake, &W.lock, &ts);
    }
    bool stopping = W.stopping;
    bool fresh = false;
    if (!batch && !ops && (W.len || W.nops)) {
      /* take the whole queue; workers start a fresh one */
      batch = W.queue;
      blen = W.len;
      W.queue = NULL;
      W.len = W.cap = 0;
      fresh = true;
      ops = W.ops;
      nops = W.nops;
      W.ops = NULL;
      W.nops = W.opcap = 0;
    }
    W.committing = blen;
    pthread_mutex_unlock(&W.lock);
    if (fresh && writer_access_log())
      access_lines(batch, blen);

    if (batch || ops) {
      uint64_t t0 = now_us_mono();
      int rc = commit_batch(batch, blen, ops, nops);
      uint64_t took = now_us_mono() - t0;
      pthread_mutex_lock(&W.lock);
      if (rc == 0) {
        W.committing = 0;
        for (size_t i = 0; i < blen; i++)   /* reservations and access lines are not rows */
          W.stats.rows_total += !batch[i].reservation && batch[i].type != LOGT_ACCESS;
        W.stats.commits++;
        W.stats.last_commit_us = took;
      } else {
        W.stats.errors++;
      }
      update_full();
      pthread_mutex_unlock(&W.lock);
      if (rc == 0) {
        free(batch);
        batch = NULL;
        blen = 0;
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
        free(batch);
        batch = NULL;
        blen = 0;
        free(ops);
        ops = NULL;
        nops = 0;
      }
      continue;
    }
    /* a quiet tick after traffic: give the memory that bursts left in malloc's arenas back to
     * the system (at most every 5 s; never on a worker) */
    if (trim_due && now_us_mono() - last_trim > 5000000u) {
      malloc_trim(0);
      last_trim = now_us_mono();
      trim_due = false;
    }
    if (stopping) {
      pthread_mutex_lock(&W.lock);
      bool empty = W.len == 0 && W.nops == 0;
      pthread_mutex_unlock(&W.lock);
      if (empty)
        break;
    }
  }
  return NULL;
}

int writer_start(const char *db_url, char *err, size_t errlen)
{
  W.db = db_open(db_url, err, errlen);
  if (!W.db)
    return -1;
  if (getrandom(&W.node_id, sizeof W.node_id, 0) != (ssize_t)sizeof W.node_id)
    W.node_id = ((uint64_t)getpid() << 32) ^ now_us_mono();
  W.multirow = strcmp(db_backend_name(W.db), "postgres") == 0;
  W.ins_log = db_prepare(W.db, LOG_INSERT_COLS "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                               "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)");
  if (W.multirow) {
    char *sql = multirow_sql(WRITER_ROWS_PER_INSERT);
    W.ins_many = sql ? db_prepare(W.db, sql) : NULL;
    free(sql);
    if (!W.ins_many) {
      snprintf(err, errlen, "writer: preparing statements: %s", sql ? db_errmsg(W.db) : "out of memory");
      return -1;
    }
  }
  W.upd_user = db_prepare(W.db, "UPDATE users SET quota = quota - ?1, used_quota = used_quota + ?1, "
                                "request_count = request_count + ?2 WHERE id = ?3");
  W.upd_token = db_prepare(W.db, "UPDATE tokens SET remain_quota = remain_quota - ?1, "
                                 "used_quota = used_quota + ?2, accessed_time = ?3 WHERE id = ?4");
  W.upd_channel = db_prepare(W.db, "UPDATE channels SET used_quota = used_quota + ?1 WHERE id = ?2");
  W.ins_resv = db_prepare(W.db,
      "INSERT INTO reservations(request_id, node, created_at, user_id, username, token_id, "
      "token_name, token_limited, model_name, \"group\", is_stream, quota) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT(request_id) DO NOTHING");   /* a batch retried after a commit that went through */
  W.del_resv = db_prepare(W.db, "DELETE FROM reservations WHERE request_id = ?1");
  if (!W.ins_log || !W.upd_user || !W.upd_token || !W.upd_channel || !W.ins_resv || !W.del_resv) {
    snprintf(err, errlen, "writer: preparing statements: %s", db_errmsg(W.db));
    return -1;
  }
  if (pthread_create(&W.thread, NULL, writer_main, NULL) != 0) {
    snprintf(err, errlen, "writer: cannot start thread");
    return -1;
  }
  return 0;
}

void writer_stop(void)
{
  pthread_mutex_lock(&W.lock);
  W.stopping = true;
  pthread_cond_signal(&W.wake);
  pthread_mutex_unlock(&W.lock);
  pthread_join(W.thread, NULL);
  db_finalize(W.ins_log);
  db_finalize(W.ins_many);
  db_finalize(W.upd_user);
  db_finalize(W.upd_token);
  db_finalize(W.upd_channel);
  db_finalize(W.ins_resv);
  db_finalize(W.del_resv);
  db_close(W.db);
  free(W.queue);
  W.queue = NULL;
  free(W.ops);
  W.ops = NULL;
}

void writer_get_stats(struct writer_stats *out)
{
  pthread_mutex_lock(&W.lock);
  *out = W.stats;
  out->backlog = W.len + W.committing;
  out->buffer_max = W.buffer_max;
  pthread_mutex_unlock(&W.lock);
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
