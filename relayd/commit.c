/* commit: see commit.h. */
#include "commit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "db.h"
#include "ledger.h"
#include "log.h"
#include "util.h"

/* PostgreSQL: log rows per multi-row INSERT (22 parameters a row; the protocol allows 65535) */
#define WRITER_ROWS_PER_INSERT 500
/* SQLite: log rows per multi-row INSERT, largest first (the rest of a batch one by one). One
 * statement for many rows opens the 7 b-tree cursors once, and each index insert starts from the
 * cursor's last position instead of a seek from the root: 42.8k -> 24.6k instructions a row in
 * writer-bench --direct 500 (bench/README.md). The small groups are for a quiet relayd's batches
 * (a few rows each): a batch of 20 rows, 16 + 4 instead of 8 + 8 + 4 one by one, 36.7k -> 33.1k
 * instructions a row (--direct 20); any rest takes at most one statement of each size. */
static const size_t sqlite_group_rows[] = { 32, 16, 8, 4, 2 };
#define SQLITE_GROUPS (sizeof sqlite_group_rows / sizeof *sqlite_group_rows)
/* SQLite: "OR FAIL", not the default ABORT. A statement that inserts several rows and may ABORT
 * halfway makes SQLite keep a statement journal: the first change of the statement to each page the
 * transaction had already changed copies that page to a temporary file (/var/tmp/etilqs_*), so
 * every group of rows wrote the 7 b-trees' right-edge pages once more: 72 % of the writer's
 * pwrite64 calls, 1.1 a request (bench/README.md). FAIL keeps the rows before a failing one instead
 * of undoing them, and needs no journal; a failed step rolls the whole batch back all the same. */
/* SQLite: reservation rows per INSERT, largest first, the rest one by one: one statement for
 * several rows opens the table's and its two indexes' cursors once. A batch that settles one round
 * of streams and reserves the next (bench/light.py's load) inserts ~10 of them: 8.2k -> 5.2k
 * instructions a reservation in writer-bench --direct 10 --span (bench/README.md, session 10).
 * Deletes stay one by one: "DELETE ... WHERE request_id IN (?1, ..)" cost 12.2k instructions a row
 * against 6.3k (SQLite collects the rowids first, then deletes). */
static const size_t resv_group_rows[] = { 8, 4, 2 };
#define RESV_GROUPS (sizeof resv_group_rows / sizeof *resv_group_rows)
#define RESV_PARAMS 12
#define RESV_COLS \
  "reservations(request_id, node, created_at, user_id, username, token_id, token_name, " \
  "token_limited, model_name, \"group\", is_stream, quota) VALUES "
/* ON CONFLICT: a batch retried after a commit that went through; OR FAIL as for the log rows
 * below (a multi-row statement that may ABORT keeps a statement journal) */
#define RESV_CONFLICT " ON CONFLICT(request_id) DO NOTHING"
#define LOG_INSERT_SQLITE "INSERT OR FAIL INTO "
#define LOG_INSERT_PG "INSERT INTO "
#define LOG_INSERT_COLS \
  "logs(request_id, created_at, type, content, user_id, username, token_id, " \
  "token_name, channel_id, model_name, upstream_model, prompt_tokens, completion_tokens, quota, " \
  "status, is_stream, elapsed_ms, first_byte_ms, end_reason, usage_source, \"group\", billing) VALUES "
#define LOG_ONE_ROW \
  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
#define LOG_PARAMS 22
/* a relay_balance payload longer than this says "*" (PostgreSQL's limit is 8000 bytes) */
#define BALANCE_PAYLOAD_MAX 7000

/* The writer thread's connection and statements (only that thread uses them). */
static struct {
  struct db *db;
  struct db_stmt *ins_log, *upd_token, *upd_user, *upd_channel, *ins_resv, *del_resv;
  struct db_stmt *ins_many;   /* PostgreSQL: WRITER_ROWS_PER_INSERT rows at once */
  struct db_stmt *ins_group[SQLITE_GROUPS];   /* SQLite: sqlite_group_rows[g] rows at once */
  bool group_used[SQLITE_GROUPS];             /* bound in this batch: drop_refs resets it */
  /* SQLite: resv_group_rows[g] reservations inserted at once, and whether bound in this batch */
  struct db_stmt *resv_ins[RESV_GROUPS];
  bool resv_ins_used[RESV_GROUPS];
  /* SQLite: BEGIN IMMEDIATE and COMMIT prepared once (db_begin/db_commit parse them at every
   * batch: ~7k instructions a commit); PostgreSQL keeps db_begin/db_commit (its in_tx state) */
  struct db_stmt *begin, *commit;
  bool multirow;              /* PostgreSQL */
  bool verify_next;           /* the last commit failed: it may have committed all the same */
} C;

static int exec_op_sql(const char *sql, const char *types, ...)
{
  struct db_stmt *st = db_prepare(C.db, sql);
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
  case WOP_KEY_STATUS:
    /* the same rule for a key of a pool: never over a manual disable */
    rc = exec_op_sql("UPDATE channel_keys SET status = ?3, status_reason = ?4, status_time = ?5 "
                     "WHERE channel_id = ?1 AND idx = ?2 AND status = ?6", "iiisii", op->id, op->a,
                     (int64_t)op->status, op->status == STATUS_ENABLED ? "" : op->reason, now,
                     (int64_t)(op->status == STATUS_ENABLED ? STATUS_AUTO_DISABLED : STATUS_ENABLED));
    break;
  case WOP_CHANNEL_TESTED:
    rc = exec_op_sql("UPDATE channels SET test_time = ?2, response_time = ?3 WHERE id = ?1", "iii", op->id,
                     op->a, op->b);
    break;
  case WOP_BALANCE:
    rc = exec_op_sql("INSERT INTO channel_balances(channel_id, balance, currency, updated_time, source) "
                     "VALUES (?1, ?2 / 1000000.0, ?3, ?4, 'relayd') ON CONFLICT(channel_id) DO UPDATE SET "
                     "balance = excluded.balance, currency = excluded.currency, "
                     "updated_time = excluded.updated_time, source = excluded.source", "iisi", op->id, op->a,
                     op->reason, op->b);
    break;
  case WOP_BALANCE_LOW:
    rc = exec_op_sql("UPDATE channel_balances SET low_fired_time = ?2 WHERE channel_id = ?1", "ii", op->id, op->a);
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
    struct db_stmt *st = C.ins_log;
    db_reset(st);
    db_bind_text(st, 1, "");
    db_bind_int64(st, 2, now);
    db_bind_int64(st, 3, LOGT_SYSTEM);
    db_bind_text(st, 4, op->text);
    db_bind_int64(st, 5, op->log_user_id);
    db_bind_text(st, 6, op->log_username);
    db_bind_int64(st, 7, 0);
    db_bind_text(st, 8, "");
    db_bind_int64(st, 9, op->kind == WOP_CHANNEL_STATUS || op->kind == WOP_CHANNEL_TESTED || op->kind == WOP_KEY_STATUS
                                  || op->kind == WOP_BALANCE || op->kind == WOP_BALANCE_LOW
                              ? op->id : 0);
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

/* The statements that bind a batch's texts by reference (db_bind_text_ref) let go of them: the
 * batch is freed or reused once commit_batch returns. Only the row groups this batch bound: a
 * reset clears every parameter (sqlite3_clear_bindings), 704 for the 32-row group, and a quiet
 * relayd's batch of ~10 rows binds one or two of the five groups (~20k instructions a commit
 * spent clearing groups nobody had bound; bench/README.md, session 10). */
static void drop_refs(void)
{
  db_reset(C.ins_log);
  for (size_t g = 0; g < SQLITE_GROUPS; g++)
    if (C.ins_group[g] && C.group_used[g]) {
      db_reset(C.ins_group[g]);
      C.group_used[g] = false;
    }
  db_reset(C.ins_resv);
  db_reset(C.del_resv);
  for (size_t g = 0; g < RESV_GROUPS; g++) {
    if (C.resv_ins_used[g])
      db_reset(C.resv_ins[g]);
    C.resv_ins_used[g] = false;
  }
}

/* How a row is bound at parameters base+1 .. base+N of a statement (bind_resv, bind_log), and the
 * statements that insert such rows: groups[g] group_rows[g] rows at once (NULL: not prepared; used[g]
 * set once bound, when used), then one (NULL: the caller inserts the rest). */
typedef void bind_row(struct db_stmt *st, int base, const struct log_record *r, const char *node);
struct row_insert {
  struct db_stmt *const *groups;
  bool *used;
  const size_t *group_rows;
  size_t ngroups;
  struct db_stmt *one;
  int params;                 /* N: parameters a row */
  bind_row *bind;
};

/* Binds rows records recs[0..rows) one after the other, from parameter 1. */
static void bind_rows(const struct row_insert *ri, struct db_stmt *st, const struct log_record **recs,
                      size_t rows, const char *node)
{
  for (size_t k = 0; k < rows; k++)
    ri->bind(st, (int)k * ri->params, recs[k], node);
}

/* Inserts recs[0..n): as many as fit in the groups, largest first, then one by one through ri->one
 * (when there is one); *done says how many. 0 or -1. */
static int insert_grouped(const struct row_insert *ri, const struct log_record **recs, size_t n,
                          const char *node, size_t *done)
{
  size_t i = 0;
  for (size_t g = 0; g < ri->ngroups; g++) {
    for (size_t rows = ri->group_rows[g]; ri->groups[g] && n - i >= rows; i += rows) {
      db_reset(ri->groups[g]);
      if (ri->used)
        ri->used[g] = true;
      bind_rows(ri, ri->groups[g], recs + i, rows, node);
      if (db_step(ri->groups[g]) == DB_ERROR)
        return -1;
    }
  }
  for (; ri->one && i < n; i++) {
    db_reset(ri->one);
    ri->bind(ri->one, 0, recs[i], node);
    if (db_step(ri->one) == DB_ERROR)
      return -1;
  }
  *done = i;
  return 0;
}

/* "(?1,..,?N),(?N+1,..)" for rows rows of params parameters each */
static void append_rows(struct buf *b, size_t rows, int params)
{
  for (size_t r = 0; r < rows; r++) {
    buf_append_str(b, r ? ",(" : "(");
    for (int c = 1; c <= params; c++)
      buf_appendf(b, c > 1 ? ",?%zu" : "?%zu", r * (size_t)params + (size_t)c);
    buf_append_str(b, ")");
  }
}

/* A reservation row's parameters base+1 .. base+RESV_PARAMS, texts by reference (see bind_log) */
static void bind_resv(struct db_stmt *st, int base, const struct log_record *r, const char *node)
{
  db_bind_text_ref(st, base + 1, r->request_id);
  db_bind_text_ref(st, base + 2, node);
  db_bind_int64(st, base + 3, r->created_at);
  db_bind_int64(st, base + 4, r->user_id);
  db_bind_text_ref(st, base + 5, r->username);
  db_bind_int64(st, base + 6, r->token_id);
  db_bind_text_ref(st, base + 7, r->token_name);
  db_bind_int64(st, base + 8, r->token_bal != NULL);
  db_bind_text_ref(st, base + 9, r->model);
  db_bind_text_ref(st, base + 10, r->group);
  db_bind_int64(st, base + 11, r->is_stream);
  db_bind_int64(st, base + 12, r->quota);
}

/* Stores the reservations ins[0..nins) (in the groups of resv_group_rows where prepared: SQLite;
 * the rest one by one) and deletes those of the request ids del[0..ndel). 0 or -1. */
static int write_resv(const struct log_record **ins, size_t nins, const char *const *del,
                      size_t ndel, const char *node)
{
  const struct row_insert ri = { C.resv_ins, C.resv_ins_used, resv_group_rows, RESV_GROUPS, C.ins_resv,
                                 RESV_PARAMS, bind_resv };
  size_t done;
  if (insert_grouped(&ri, ins, nins, node, &done) != 0)
    return -1;
  for (size_t d = 0; d < ndel; d++) {
    db_reset(C.del_resv);
    db_bind_text_ref(C.del_resv, 1, del[d]);
    if (db_step(C.del_resv) == DB_ERROR)
      return -1;
  }
  return 0;
}

/* "INSERT OR FAIL INTO reservations(...) VALUES (?1..?12), ... ON CONFLICT ..." for rows rows;
 * NULL when out of memory. The caller frees. */
static char *resv_sql(size_t rows)
{
  struct buf b;
  buf_init(&b, 256 + rows * RESV_PARAMS * 8);
  buf_append_str(&b, "INSERT OR FAIL INTO " RESV_COLS);
  append_rows(&b, rows, RESV_PARAMS);
  buf_append_str(&b, RESV_CONFLICT);
  size_t len;
  return buf_steal(&b, &len);
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

/* The texts are bound by reference, not copied (11 mallocs, copies and frees a row less: with the
 * cheaper resets 53.5k -> 48.1k instructions a row in writer-bench --direct 500). r stays in the
 * writer's batch until commit_batch returns, and commit_batch resets the statements before it
 * returns (drop_refs). */
static void bind_log(struct db_stmt *st, int base, const struct log_record *r, const char *node)
{
  (void)node;
  db_bind_text_ref(st, base + 1, r->request_id);
  db_bind_int64(st, base + 2, r->created_at);
  db_bind_int64(st, base + 3, r->type);
  db_bind_text_ref(st, base + 4, r->content);
  db_bind_int64(st, base + 5, r->user_id);
  db_bind_text_ref(st, base + 6, r->username);
  db_bind_int64(st, base + 7, r->token_id);
  db_bind_text_ref(st, base + 8, r->token_name);
  db_bind_int64(st, base + 9, r->channel_id);
  db_bind_text_ref(st, base + 10, r->model);
  db_bind_text_ref(st, base + 11, r->upstream_model);
  db_bind_int64(st, base + 12, r->prompt_tokens);
  db_bind_int64(st, base + 13, r->completion_tokens);
  db_bind_int64(st, base + 14, r->quota);
  db_bind_int64(st, base + 15, r->status);
  db_bind_int64(st, base + 16, r->is_stream);
  db_bind_int64(st, base + 17, r->elapsed_ms);
  db_bind_int64(st, base + 18, r->first_byte_ms);
  db_bind_text_ref(st, base + 19, r->end_reason);
  db_bind_text_ref(st, base + 20, r->usage_source);
  db_bind_text_ref(st, base + 21, r->group);
  db_bind_text_ref(st, base + 22, r->billing);
}

/* "INSERT INTO logs(...) VALUES (?1..?22), (?23..?44), ..." for rows rows; NULL when out of memory.
 * The caller frees. */
static char *multirow_sql(size_t rows)
{
  struct buf b;
  buf_init(&b, 64 + rows * LOG_PARAMS * 8 + 1024);
  buf_append_str(&b, C.multirow ? LOG_INSERT_PG : LOG_INSERT_SQLITE);
  buf_append_str(&b, LOG_INSERT_COLS);
  append_rows(&b, rows, LOG_PARAMS);
  size_t len;
  return buf_steal(&b, &len);
}

/* Inserts the log rows in multi-row INSERTs: on SQLite groups of sqlite_group_rows (prepared once)
 * and the rest one by one; on PostgreSQL one round trip per WRITER_ROWS_PER_INSERT rows. */
static int insert_rows(const struct log_record **recs, size_t n);

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

static int insert_rows(const struct log_record **recs, size_t n)
{
  static const size_t pg_rows[] = { WRITER_ROWS_PER_INSERT };
  const struct row_insert sqlite = { C.ins_group, C.group_used, sqlite_group_rows, SQLITE_GROUPS, C.ins_log,
                                     LOG_PARAMS, bind_log },
                          pg = { &C.ins_many, NULL, pg_rows, 1, NULL, LOG_PARAMS, bind_log };
  const struct row_insert *ri = C.multirow ? &pg : &sqlite;
  size_t i;
  if (insert_grouped(ri, recs, n, NULL, &i) != 0)
    return -1;
  if (i == n)
    return 0;
  /* PostgreSQL: the rest in one statement of its own */
  char *sql = multirow_sql(n - i);
  struct db_stmt *st = sql ? db_prepare(C.db, sql) : NULL;
  free(sql);
  if (!st)
    return -1;
  bind_rows(ri, st, recs + i, n - i, NULL);
  enum db_step_result r = db_step(st);
  db_finalize(st);
  return r == DB_ERROR ? -1 : 0;
}

/* After a failed commit: did the batch commit all the same (the connection dropped while COMMIT
 * was on its way)? Its first request row tells. 1 yes, 0 no, -1 cannot tell. */
static int already_committed(const struct log_record *recs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (!recs[i].request_id[0] || recs[i].type == LOGT_ACCESS || recs[i].reservation)
      continue;
    struct db_stmt *st = db_prepare(C.db, "SELECT count(*) FROM logs WHERE request_id = ?1 AND "
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
static void balance_payload(struct buf *p, uint64_t node_id, const struct agg *users, size_t nu,
                            const struct agg *tokens, size_t nt)
{
  buf_appendf(p, "%016llx", (unsigned long long)node_id);
  for (size_t i = 0; i < nu; i++)
    buf_appendf(p, i ? ",%lld" : " u%lld", (long long)users[i].id);
  for (size_t i = 0; i < nt; i++)
    buf_appendf(p, i ? ",%lld" : " t%lld", (long long)tokens[i].id);
  if (p->len > BALANCE_PAYLOAD_MAX || !p->data) {
    buf_reset(p);
    buf_appendf(p, "%016llx *", (unsigned long long)node_id);
  }
}

/* BEGIN (IMMEDIATE on SQLite) and COMMIT: the prepared statements on SQLite, db.c's on PostgreSQL. */
static int tx_step(struct db_stmt *st)
{
  db_reset(st);
  enum db_step_result r = db_step(st);
  db_reset(st);
  return r == DB_ERROR ? -1 : 0;
}

static int tx_begin(void)
{
  return C.begin ? tx_step(C.begin) : db_begin(C.db);
}

static int tx_commit(void)
{
  return C.commit ? tx_step(C.commit) : db_commit(C.db);
}

int commit_batch(const struct log_record *recs, size_t n, const struct writer_op *ops, size_t nops,
                 const char *node, uint64_t node_id)
{
  size_t cap = 16;
  while (cap < n * 2)
    cap *= 2;
  struct agg *users = calloc(cap, sizeof *users), *tokens = calloc(cap, sizeof *tokens),
             *chans = calloc(cap, sizeof *chans);
  struct rid_slot *rids = calloc(cap, sizeof *rids);
  /* each record's slot in rids (NULL: no request id to match), found once for both passes */
  struct rid_slot **slot = malloc((n ? n : 1) * sizeof *slot);
  /* the reservations to store and the request ids whose reservation to delete (write_resv) */
  const struct log_record **rins = malloc((n ? n : 1) * sizeof *rins);
  const char **rdel = malloc((n ? n : 1) * sizeof *rdel);
  int rc = -1;
  if (!users || !tokens || !chans || !rids || !slot || !rins || !rdel)
    goto out;
  for (size_t i = 0; i < n; i++) {
    const struct log_record *r = &recs[i];
    slot[i] = NULL;
    if (r->request_id[0] && (r->reservation || r->type != LOGT_ACCESS)) {
      struct rid_slot *sl = slot[i] = rid_find(rids, cap, r->request_id);
      if (r->reservation && !r->release)
        sl->reserved = true;
      else
        sl->settled = true;       /* a settle record, or a release: both end the reservation */
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
  if (tx_begin() < 0)
    goto fail;
  if (C.verify_next) {
    int done = already_committed(recs, n);
    if (done < 0)
      goto rollback;
    if (done) {
      log_msg(LOG_WARN, "writer: the batch whose commit looked failed was committed", "rows=%zu", n);
      db_rollback(C.db);
      ledger_lock();
      goto committed;
    }
  }
  int64_t now = now_unix();
  size_t nins = 0, ndel = 0;
  for (size_t i = 0; i < n; i++) {
    const struct log_record *r = &recs[i];
    if (slot[i]) {
      /* a reservation opened and settled within this batch never reaches the table */
      const struct rid_slot *sl = slot[i];
      if (r->reservation && !r->release && !sl->settled)
        rins[nins++] = r;
      else if ((!r->reservation || r->release) && !sl->reserved)
        rdel[ndel++] = r->request_id;
    }
  }
  if (write_resv(rins, nins, rdel, ndel, node) != 0)
    goto rollback;
  if (insert_logs(recs, n) != 0)
    goto rollback;
  size_t nu = agg_sort(users, cap), nt = agg_sort(tokens, cap), nc = agg_sort(chans, cap);
  for (size_t i = 0; i < nu; i++) {
    struct db_stmt *st = C.upd_user;
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
    struct db_stmt *st = C.upd_token;
    db_reset(st);
    db_bind_int64(st, 1, tokens[i].limited_quota);
    db_bind_int64(st, 2, tokens[i].quota);
    db_bind_int64(st, 3, now);
    db_bind_int64(st, 4, tokens[i].id);
    if (db_step(st) == DB_ERROR)
      goto rollback;
  }
  for (size_t i = 0; i < nc; i++) {
    struct db_stmt *st = C.upd_channel;
    db_reset(st);
    db_bind_int64(st, 1, chans[i].quota);
    db_bind_int64(st, 2, chans[i].id);
    if (db_step(st) == DB_ERROR)
      goto rollback;
  }
  /* PostgreSQL: the other nodes fold these balances when this commits (nothing on SQLite) */
  if (C.multirow && (nu || nt)) {
    struct buf payload;
    buf_init(&payload, 1 << 20);
    balance_payload(&payload, node_id, users, nu, tokens, nt);
    int nrc = db_notify(C.db, RELAY_BALANCE_CHANNEL, payload.data ? payload.data : "");
    buf_free(&payload);
    if (nrc != 0)
      goto rollback;
  }
  /* the commit and the db_base moves are one step for the loader (see snapshot.h) */
  ledger_lock();
  if (tx_commit() < 0) {
    ledger_unlock();
    goto rollback;
  }
committed:
  C.verify_next = false;
  for (size_t i = 0; i < n; i++)
    if (!recs[i].reservation)
      ledger_committed(recs[i].user_bal, recs[i].token_bal, recs[i].quota);
  ledger_unlock();
  rc = 0;
  goto out;
rollback:
  db_rollback(C.db);
fail:
  /* an error at COMMIT leaves it unknown whether the batch committed: look before retrying */
  C.verify_next = true;
  log_msg(LOG_ERR, "writer commit failed, will retry", "rows=%zu error=\"%s\"", n, db_errmsg(C.db));
out:
  drop_refs();
  free(users);
  free(tokens);
  free(chans);
  free(rids);
  free(slot);
  free(rins);
  free(rdel);
  return rc;
}

int commit_open(const char *db_url, char *err, size_t errlen)
{
  C.db = db_open_one_thread(db_url, err, errlen);   /* this thread's alone (see C) */
  if (!C.db)
    return -1;
  C.multirow = strcmp(db_backend_name(C.db), "postgres") == 0;
  C.ins_log = db_prepare(C.db, C.multirow ? LOG_INSERT_PG LOG_INSERT_COLS LOG_ONE_ROW
                                         : LOG_INSERT_SQLITE LOG_INSERT_COLS LOG_ONE_ROW);
  for (size_t g = 0; g < (C.multirow ? 1 : SQLITE_GROUPS); g++) {
    char *sql = multirow_sql(C.multirow ? WRITER_ROWS_PER_INSERT : sqlite_group_rows[g]);
    struct db_stmt *many = sql ? db_prepare(C.db, sql) : NULL;
    bool oom = !sql;
    free(sql);
    if (!many) {
      snprintf(err, errlen, "writer: preparing statements: %s", oom ? "out of memory" : db_errmsg(C.db));
      return -1;
    }
    *(C.multirow ? &C.ins_many : &C.ins_group[g]) = many;
  }
  C.upd_user = db_prepare(C.db, "UPDATE users SET quota = quota - ?1, used_quota = used_quota + ?1, "
                                "request_count = request_count + ?2 WHERE id = ?3");
  C.upd_token = db_prepare(C.db, "UPDATE tokens SET remain_quota = remain_quota - ?1, "
                                 "used_quota = used_quota + ?2, accessed_time = ?3 WHERE id = ?4");
  C.upd_channel = db_prepare(C.db, "UPDATE channels SET used_quota = used_quota + ?1 WHERE id = ?2");
  C.ins_resv = db_prepare(C.db, "INSERT INTO " RESV_COLS
                                "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)" RESV_CONFLICT);
  C.del_resv = db_prepare(C.db, "DELETE FROM reservations WHERE request_id = ?1");
  for (size_t g = 0; g < (C.multirow ? 0 : RESV_GROUPS); g++) {
    char *sql = resv_sql(resv_group_rows[g]);
    C.resv_ins[g] = sql ? db_prepare(C.db, sql) : NULL;
    bool oom = !sql;
    free(sql);
    if (!C.resv_ins[g]) {
      snprintf(err, errlen, "writer: preparing statements: %s", oom ? "out of memory" : db_errmsg(C.db));
      return -1;
    }
  }
  if (!C.multirow) {
    C.begin = db_prepare(C.db, "BEGIN IMMEDIATE");
    C.commit = db_prepare(C.db, "COMMIT");
    if (!C.begin || !C.commit) {
      snprintf(err, errlen, "writer: preparing statements: %s", db_errmsg(C.db));
      return -1;
    }
  }
  if (!C.ins_log || !C.upd_user || !C.upd_token || !C.upd_channel || !C.ins_resv || !C.del_resv) {
    snprintf(err, errlen, "writer: preparing statements: %s", db_errmsg(C.db));
    return -1;
  }
  return 0;
}

void commit_close(void)
{
  db_finalize(C.ins_log);
  db_finalize(C.ins_many);
  for (size_t g = 0; g < SQLITE_GROUPS; g++)
    db_finalize(C.ins_group[g]);
  db_finalize(C.upd_user);
  db_finalize(C.upd_token);
  db_finalize(C.upd_channel);
  db_finalize(C.ins_resv);
  db_finalize(C.del_resv);
  db_finalize(C.begin);
  db_finalize(C.commit);
  for (size_t g = 0; g < RESV_GROUPS; g++)
    db_finalize(C.resv_ins[g]);
  db_close(C.db);
  memset(&C, 0, sizeof C);
}
