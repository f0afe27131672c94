/*
 * writer-bench: measures relayd's log writer (relayd/writer.c) alone, without HTTP.
 *
 *   writer-bench --db sqlite:PATH --rows N [--direct BATCH [--span]] [--billing full|short|none] [--json]
 *
 * Creates a fresh database (PATH must not exist; db_open creates the schema) with one user, one
 * limited token and one channel, starts the writer (writer_start), and submits N requests as fast
 * as it can from 2 producer threads, each as relay does: its reservation record, then its log
 * record (realistic fields as relayd writes them, the billing breakdown included, quota 3 each,
 * user_bal/token_bal pointing at balances of its own) once 8 later requests of the same producer
 * have reserved (8 in flight, so a request now and then spans two batches). It waits until writer_get_stats().rows_total == N and reports
 * rows/s from the first submit to the commit of the last row (observed by polling the stats every
 * 0.5 ms). Then it stops the writer and checks in the database that nothing was lost: N rows in
 * logs, users.used_quota == 3N (and quota, request_count, the token's and the channel's quota),
 * and that the writer moved both balances' db_base by 3N.
 * --direct BATCH: no writer thread: one thread calls commit_batch (relayd/commit.h) itself with
 * batches of BATCH requests (each request's reservation and log record in the same batch, as for
 * a request that ends within one 50 ms tick), so the instructions per row under
 * `valgrind --tool=callgrind` are the same in every run (bench/README.md, the writer's cost).
 * --span (with --direct): each request's reservation in one batch and its log record in the next,
 * as for streams longer than a tick that start and end together (bench/light.py's load: a batch
 * settles one round of streams and reserves the next), so every batch also inserts BATCH
 * reservation rows and deletes the BATCH of the batch before.
 * --billing: the breakdown each log row stores (logs.billing): full (default) as relayd writes it
 * today, 330 bytes; short without the zero token counts and the ratios of unused kinds (199 bytes,
 * what breakdown.h allows: absent keys mean 0); none (""). How much of a row's cost is its width.
 * Prints a line of text, or with --json one object: {"rows":N,"seconds":..,"rows_per_s":..,
 * "verified":true,"submit_s":..,"commits":..,"commit_errors":..}.
 * Exit status: 0 verified, 1 not verified (or the writer stalled), 2 usage or setup error.
 * Memory: the writer queue grows while producers outrun it, up to N records (~0.9 KB each).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../relayd/commit.h"
#include "../relayd/snapshot.h"
#include "../relayd/writer.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define PRODUCERS 2
#define QUOTA_PER_ROW 3
#define MAX_ROWS 20000000L
#define STALL_US (60u * 1000000u)   /* no progress this long = the writer is stuck */
#define POLL_US 500
#define INFLIGHT 8                  /* requests a producer has reserved and not yet settled */
#define RESERVE_PER_ROW 175         /* what a request reserves before its usage is known */
/* the breakdown relayd stores in logs.billing for a plain chat request (billing_explain_json) */
#define BILLING_JSON "{\"mode\":\"ratio\",\"usage_source\":\"upstream\",\"api\":\"openai\"," \
  "\"tokens\":{\"prompt\":%lld,\"cached\":0,\"cache_write_5m\":0,\"cache_write_1h\":0," \
  "\"completion\":%lld,\"reasoning\":0},\"model_ratio\":0.075,\"completion_ratio\":4," \
  "\"cache_ratio\":0.5,\"cache_write_ratio\":1.25,\"cache_write_1h_ratio\":2,\"group\":\"default\"," \
  "\"group_ratio\":1,\"reserved\":%d,\"charged\":%d}"
/* the same breakdown without the members breakdown.h lets a writer leave out (--billing short) */
#define BILLING_JSON_SHORT "{\"mode\":\"ratio\",\"usage_source\":\"upstream\",\"api\":\"openai\"," \
  "\"tokens\":{\"prompt\":%lld,\"completion\":%lld},\"model_ratio\":0.075,\"completion_ratio\":4," \
  "\"group\":\"default\",\"group_ratio\":1,\"reserved\":%d,\"charged\":%d}"

enum billing_form { BILLING_FULL, BILLING_SHORT, BILLING_NONE };
static enum billing_form billing_form = BILLING_FULL;   /* set once by main before any thread */

enum { USER_ID = 1, TOKEN_ID = 1, CHANNEL_ID = 1 };
static const int64_t START_QUOTA = INT64_C(1000000000000);

struct producer {
  pthread_t thread;
  int idx;
  long rows;
  struct balance *user_bal, *token_bal;
  uint64_t t_first, t_last;   /* us, first and last submit */
};

/* The log record of request i of producer idx (rec keeps the fields that do not change). */
static void fill_request(struct log_record *rec, int idx, long i)
{
  /* what relay.c fills per request: an id like its own, the time, usage and timings */
  snprintf(rec->request_id, sizeof rec->request_id, "%011llx%04x%02x%06llx",
           (unsigned long long)now_unix_ms(), 0x00be, idx, (unsigned long long)(i & 0xffffff));
  rec->created_at = now_unix();
  rec->is_stream = (i & 1) != 0;
  rec->prompt_tokens = 12 + (i % 50);
  rec->completion_tokens = 20 + (i % 200);
  rec->elapsed_ms = 150 + (i % 900);
  rec->first_byte_ms = rec->is_stream ? 40 + (i % 60) : 0;
  if (billing_form == BILLING_NONE)
    rec->billing[0] = '\0';
  else
    snprintf(rec->billing, sizeof rec->billing, billing_form == BILLING_SHORT ? BILLING_JSON_SHORT : BILLING_JSON,
             (long long)rec->prompt_tokens, (long long)rec->completion_tokens, RESERVE_PER_ROW, QUOTA_PER_ROW);
}

static void fill_common(struct log_record *rec, struct balance *ub, struct balance *tb)
{
  memset(rec, 0, sizeof *rec);
  rec->type = LOGT_CONSUME;
  rec->user_id = USER_ID;
  snprintf(rec->username, sizeof rec->username, "bench");
  rec->token_id = TOKEN_ID;
  snprintf(rec->token_name, sizeof rec->token_name, "bench-token");
  rec->channel_id = CHANNEL_ID;
  snprintf(rec->model, sizeof rec->model, "gpt-4o-mini");
  snprintf(rec->upstream_model, sizeof rec->upstream_model, "gpt-4o-mini-2024-07-18");
  snprintf(rec->group, sizeof rec->group, "default");
  rec->quota = QUOTA_PER_ROW;
  rec->status = 200;
  snprintf(rec->end_reason, sizeof rec->end_reason, "done");
  snprintf(rec->usage_source, sizeof rec->usage_source, "upstream");
  snprintf(rec->api, sizeof rec->api, "openai");
  rec->user_bal = ub;
  rec->token_bal = tb;
}

/* The reservation record relay submits when request rec reserves (writer.h). */
static struct log_record reservation_of(const struct log_record *rec)
{
  struct log_record r = *rec;
  r.reservation = true;
  r.quota = RESERVE_PER_ROW;
  r.billing[0] = '\0';
  return r;
}

static void *produce(void *arg)
{
  struct producer *p = arg;
  /* a ring of the requests in flight: each is settled after INFLIGHT later ones reserved */
  static _Thread_local struct log_record ring[INFLIGHT];
  for (long i = 0; i < INFLIGHT; i++)
    fill_common(&ring[i], p->user_bal, p->token_bal);
  p->t_first = now_us_mono();
  for (long i = 0; i < p->rows + INFLIGHT; i++) {
    struct log_record *slot = &ring[i % INFLIGHT];
    if (i >= INFLIGHT)
      writer_submit(slot);              /* request i - INFLIGHT ends */
    if (i < p->rows) {
      fill_request(slot, p->idx, i);
      struct log_record resv = reservation_of(slot);
      writer_submit(&resv);
    }
  }
  p->t_last = now_us_mono();
  return NULL;
}

/* --direct: rows requests in batches of batch (2 records each), committed by this thread; span:
 * each request reserves in one batch and settles in the next (the settle records of the batch
 * before come first). 0 or -1. */
static int run_direct(const char *url, long rows, long batch, bool span, struct balance *ub,
                      struct balance *tb, uint64_t *commits, char *err, size_t errlen)
{
  if (commit_open(url, err, errlen) < 0)
    return -1;
  /* recs: the batch; prev: span's requests reserved by the batch before (settled by this one) */
  struct log_record *recs = calloc((size_t)batch * 2, sizeof *recs);
  struct log_record *prev = span ? calloc((size_t)batch, sizeof *prev) : NULL;
  if (!recs || (span && !prev)) {
    free(recs);
    free(prev);
    commit_close();
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  struct log_record tmpl;
  fill_common(&tmpl, ub, tb);
  int rc = 0;
  long nprev = 0;
  for (long done = 0; (done < rows || nprev) && rc == 0;) {
    long n = rows - done < batch ? rows - done : batch;
    size_t len = 0;
    if (span) {
      for (long k = 0; k < nprev; k++)
        recs[len++] = prev[k];
      for (long k = 0; k < n; k++) {
        prev[k] = tmpl;
        fill_request(&prev[k], 0, done + k);
        recs[len++] = reservation_of(&prev[k]);
      }
      nprev = n;
    } else {
      for (long k = 0; k < n; k++) {
        recs[2 * k + 1] = tmpl;
        fill_request(&recs[2 * k + 1], 0, done + k);
        recs[2 * k] = reservation_of(&recs[2 * k + 1]);
      }
      len = (size_t)n * 2;
    }
    if (commit_batch(recs, len, NULL, 0, "bench", 1) != 0) {
      snprintf(err, errlen, "commit_batch failed");
      rc = -1;
    }
    (*commits)++;
    done += n;
  }
  free(recs);
  free(prev);
  commit_close();
  return rc;
}

/* ------------------------------------------------------------------------------------------ */

static int exec_bound(struct db *db, const char *sql, const char *t1, int64_t i2)
{
  struct db_stmt *st = db_prepare(db, sql);
  int rc = -1;
  if (st && (!t1 || db_bind_text(st, 1, t1) == 0) && db_bind_int64(st, 2, i2) == 0 &&
      db_step(st) == DB_DONE)
    rc = 0;
  db_finalize(st);
  return rc;
}

static int setup_db(const char *url, char *err, size_t errlen)
{
  struct db *db = db_open(url, err, errlen);
  if (!db)
    return -1;
  int64_t now = now_unix();
  char sql[512];
  int rc = 0;
  snprintf(sql, sizeof sql,
           "INSERT INTO users(id, username, quota, \"group\", created_time) "
           "VALUES (%d, ?1, ?2, 'default', %" PRId64 ")", USER_ID, now);
  rc |= exec_bound(db, sql, "bench", START_QUOTA);
  snprintf(sql, sizeof sql,
           "INSERT INTO tokens(id, user_id, name, key_hash, key_hint, created_time, remain_quota) "
           "VALUES (%d, %d, 'bench-token', ?1, 'sk-be...ench', %" PRId64 ", ?2)",
           TOKEN_ID, USER_ID, now);
  rc |= exec_bound(db, sql, "0000000000000000000000000000000000000000000000000000000000000001",
                   START_QUOTA);
  snprintf(sql, sizeof sql,
           "INSERT INTO channels(id, type, name, base_url, models, created_time, priority) "
           "VALUES (%d, 'openai', ?1, 'http://127.0.0.1:9', 'gpt-4o-mini', %" PRId64 ", ?2)",
           CHANNEL_ID, now);
  rc |= exec_bound(db, sql, "bench-channel", 0);
  if (rc)
    snprintf(err, errlen, "creating the user, token and channel: %s", db_errmsg(db));
  db_close(db);
  return rc ? -1 : 0;
}

/* One integer from a query; *ok becomes false on error. */
static int64_t scalar(struct db *db, const char *sql, bool *ok)
{
  struct db_stmt *st = db_prepare(db, sql);
  int64_t v = -1;
  if (st && db_step(st) == DB_ROW)
    v = db_col_int64(st, 0);
  else
    *ok = false;
  db_finalize(st);
  return v;
}

static bool check(const char *what, int64_t got, int64_t want)
{
  if (got == want)
    return true;
  fprintf(stderr, "writer-bench: %s is %" PRId64 ", expected %" PRId64 "\n", what, got, want);
  return false;
}

static bool verify(const char *url, long rows, const struct balance *ub, const struct balance *tb)
{
  char err[512];
  struct db *db = db_open(url, err, sizeof err);
  if (!db) {
    fprintf(stderr, "writer-bench: reopening the database: %s\n", err);
    return false;
  }
  int64_t n = rows, q = (int64_t)rows * QUOTA_PER_ROW;
  bool ok = true, v = true;
  v &= check("count(*) of logs", scalar(db, "SELECT count(*) FROM logs", &ok), n);
  v &= check("sum(logs.quota)", scalar(db, "SELECT coalesce(sum(quota), 0) FROM logs", &ok), q);
  v &= check("users.used_quota", scalar(db, "SELECT used_quota FROM users WHERE id = 1", &ok), q);
  v &= check("users.quota", scalar(db, "SELECT quota FROM users WHERE id = 1", &ok), START_QUOTA - q);
  v &= check("users.request_count", scalar(db, "SELECT request_count FROM users WHERE id = 1", &ok), n);
  v &= check("tokens.used_quota", scalar(db, "SELECT used_quota FROM tokens WHERE id = 1", &ok), q);
  v &= check("tokens.remain_quota", scalar(db, "SELECT remain_quota FROM tokens WHERE id = 1", &ok),
             START_QUOTA - q);
  v &= check("channels.used_quota", scalar(db, "SELECT used_quota FROM channels WHERE id = 1", &ok), q);
  if (!ok)
    fprintf(stderr, "writer-bench: verification query failed: %s\n", db_errmsg(db));
  db_close(db);
  ledger_lock();
  v &= check("user balance db_base", ub->db_base, START_QUOTA - q);
  v &= check("token balance db_base", tb->db_base, START_QUOTA - q);
  ledger_unlock();
  return ok && v;
}

static void usage(FILE *f)
{
  fputs("usage: writer-bench --db sqlite:PATH --rows N [--direct BATCH [--span]] [--billing full|short|none] [--json]\n"
        "  --db sqlite:PATH   a database file that does not exist yet (it is created)\n"
        "  --rows N           log records to submit (1 to 20000000)\n"
        "  --direct BATCH     no writer thread: commit batches of BATCH requests from this thread\n"
        "  --span             with --direct: a request reserves in one batch and settles in the next\n"
        "  --billing FORM     each row's breakdown: full (as relayd writes it), short (no zero members), none\n"
        "  --json             one JSON object on stdout instead of a line of text\n"
        "exit status: 0 all rows and quota verified, 1 not verified, 2 usage or setup error\n",
        f);
}

int main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"db", required_argument, NULL, 'd'},
      {"rows", required_argument, NULL, 'r'},
      {"json", no_argument, NULL, 'j'},
      {"direct", required_argument, NULL, 'b'},
      {"billing", required_argument, NULL, 'B'},
      {"span", no_argument, NULL, 's'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *url = NULL;
  long rows = 0, direct = 0;
  bool json = false, span = false;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'd': url = optarg; break;
    case 'r': {
      int64_t v;
      if (parse_int64(optarg, &v) < 0 || v < 1 || v > MAX_ROWS) {
        fprintf(stderr, "writer-bench: --rows wants a number in [1, %ld], not '%s'\n", MAX_ROWS,
                optarg);
        return 2;
      }
      rows = (long)v;
      break;
    }
    case 'j': json = true; break;
    case 's': span = true; break;
    case 'b': {
      int64_t v;
      if (parse_int64(optarg, &v) < 0 || v < 1 || v > 100000) {
        fprintf(stderr, "writer-bench: --direct wants a batch size in [1, 100000], not '%s'\n", optarg);
        return 2;
      }
      direct = (long)v;
      break;
    }
    case 'B':
      if (strcmp(optarg, "full") == 0)
        billing_form = BILLING_FULL;
      else if (strcmp(optarg, "short") == 0)
        billing_form = BILLING_SHORT;
      else if (strcmp(optarg, "none") == 0)
        billing_form = BILLING_NONE;
      else {
        fprintf(stderr, "writer-bench: --billing wants full, short or none, not '%s'\n", optarg);
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc || !url || !rows || (span && !direct)) {
    usage(stderr);
    return 2;
  }
  if (strncmp(url, "sqlite:", 7) != 0 || !url[7] || strcmp(url + 7, ":memory:") == 0) {
    fprintf(stderr, "writer-bench: --db wants sqlite:PATH (a file)\n");
    return 2;
  }
  if (access(url + 7, F_OK) == 0) {
    fprintf(stderr, "writer-bench: %s exists; give the path of a new database\n", url + 7);
    return 2;
  }
  log_init(LOG_WARN);

  char err[512];
  if (setup_db(url, err, sizeof err) < 0) {
    fprintf(stderr, "writer-bench: %s\n", err);
    return 2;
  }
  struct balance *ub = calloc(1, sizeof *ub), *tb = calloc(1, sizeof *tb);
  if (!ub || !tb) {
    fprintf(stderr, "writer-bench: out of memory\n");
    return 2;
  }
  atomic_init(&ub->avail, START_QUOTA);
  atomic_init(&tb->avail, START_QUOTA);
  ub->db_base = tb->db_base = START_QUOTA;

  if (direct) {
    uint64_t commits = 0, t0 = now_us_mono();
    int drc = run_direct(url, rows, direct, span, ub, tb, &commits, err, sizeof err);
    double secs = (double)(now_us_mono() - t0) / 1e6, rps = secs > 0 ? (double)rows / secs : 0;
    if (drc < 0)
      fprintf(stderr, "writer-bench: %s\n", err);
    bool verified = drc == 0 && verify(url, rows, ub, tb);
    if (json)
      printf("{\"rows\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f,\"verified\":%s,\"batch\":%ld,"
             "\"commits\":%" PRIu64 "}\n", rows, secs, rps, verified ? "true" : "false", direct, commits);
    else
      printf("writer (direct, batches of %ld): %ld rows in %.3f s = %.0f rows/s (%" PRIu64
             " commits); verified: %s\n", direct, rows, secs, rps, commits, verified ? "yes" : "NO");
    free(ub);
    free(tb);
    return verified ? 0 : 1;
  }
  if (writer_start(url, err, sizeof err) < 0) {
    fprintf(stderr, "writer-bench: %s\n", err);
    return 2;
  }

  struct producer prod[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++) {
    prod[i] = (struct producer){.idx = i, .rows = rows / PRODUCERS + (i < rows % PRODUCERS),
                                .user_bal = ub, .token_bal = tb};
    if (pthread_create(&prod[i].thread, NULL, produce, &prod[i]) != 0) {
      fprintf(stderr, "writer-bench: cannot start a producer thread\n");
      return 2;
    }
  }

  /* wait for the last commit */
  struct writer_stats st;
  uint64_t last_rows = 0, last_progress = now_us_mono(), t_end;
  bool stalled = false;
  for (;;) {
    writer_get_stats(&st);
    t_end = now_us_mono();
    if (st.rows_total >= (uint64_t)rows)
      break;
    if (st.rows_total != last_rows) {
      last_rows = st.rows_total;
      last_progress = t_end;
    } else if (t_end - last_progress > STALL_US) {
      fprintf(stderr, "writer-bench: the writer stalled at %" PRIu64 " of %ld rows (%" PRIu64
              " failed commits)\n", st.rows_total, rows, st.errors);
      stalled = true;
      break;
    }
    struct timespec ts = {0, POLL_US * 1000};
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < PRODUCERS; i++)
    pthread_join(prod[i].thread, NULL);
  writer_stop();

  uint64_t t0 = prod[0].t_first, t_sub = prod[0].t_last;
  for (int i = 1; i < PRODUCERS; i++) {
    if (prod[i].t_first < t0)
      t0 = prod[i].t_first;
    if (prod[i].t_last > t_sub)
      t_sub = prod[i].t_last;
  }
  double secs = (double)(t_end - t0) / 1e6, submit_s = (double)(t_sub - t0) / 1e6;
  double rps = secs > 0 ? (double)rows / secs : 0;
  bool verified = !stalled && verify(url, rows, ub, tb);
  if (json)
    printf("{\"rows\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f,\"verified\":%s,\"submit_s\":%.3f,"
           "\"commits\":%" PRIu64 ",\"commit_errors\":%" PRIu64 "}\n",
           rows, secs, rps, verified ? "true" : "false", submit_s, st.commits, st.errors);
  else
    printf("writer: %ld rows in %.3f s = %.0f rows/s (submitted in %.3f s, %" PRIu64
           " commits, %" PRIu64 " failed); verified: %s\n",
           rows, secs, rps, submit_s, st.commits, st.errors, verified ? "yes" : "NO");
  free(ub);
  free(tb);
  return verified ? 0 : 1;
}
