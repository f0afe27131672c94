/* lease: see lease.h. */
#include "lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "bgthread.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static struct {
  char node[400];
  char instance[40];
  char host[256];              /* hostname, for messages */
  char host_id[512];           /* hostname|boot id|pid namespace: where a pid means something */
  bool held;
  bool lost;
  /* t.lock guards lost and held; t.wake is initialised on CLOCK_MONOTONIC by lease_start (no
   * static initialiser): the heartbeat's deadline must not move with the wall clock, or a clock
   * stepped back would starve the lease until another node takes it */
  struct bgthread t;
  struct db *db;               /* the heartbeat thread's connection */
} L = {.t = {.lock = PTHREAD_MUTEX_INITIALIZER}};

/* The first line of a small file, without its newline; "" when it cannot be read. */
static void read_first_line(const char *path, char *out, size_t n)
{
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  if (fgets(out, (int)n, f))
    out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

static void host_identity(void)
{
  if (gethostname(L.host, sizeof L.host) != 0)
    snprintf(L.host, sizeof L.host, "localhost");
  L.host[sizeof L.host - 1] = '\0';
  char boot[64], ns[64] = "";
  read_first_line("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
  struct stat st;
  if (stat("/proc/self/ns/pid", &st) == 0)
    snprintf(ns, sizeof ns, "%llu", (unsigned long long)st.st_ino);
  snprintf(L.host_id, sizeof L.host_id, "%s|%s|%s", L.host, boot, ns);
}

/* The start time of pid (clock ticks since boot, /proc/PID/stat field 22) and whether it is a
 * zombie. Returns 0, or -1 when it cannot be read (no such process, or /proc hides it). */
static int proc_start(pid_t pid, long long *start, bool *zombie)
{
  char path[64], line[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = '\0';
  char *p = strrchr(line, ')');          /* the command name may hold spaces and parentheses */
  if (!p)
    return -1;
  char state = 0;
  unsigned long long v = 0;
  /* after ")": state (3) then fields 4..22 */
  if (sscanf(p + 1, " %c", &state) != 1)
    return -1;
  p += 2;
  for (int field = 3; field < 22; field++) {
    p = strchr(p + 1, ' ');
    if (!p)
      return -1;
  }
  if (sscanf(p + 1, "%llu", &v) != 1)
    return -1;
  *start = (long long)v;
  *zombie = state == 'Z' || state == 'X';
  return 0;
}

/* Whether the process (pid, started at start) still runs on this host. */
static bool holder_alive(int64_t pid, int64_t start)
{
  if (pid <= 0 || pid > INT32_MAX)
    return false;
  if (pid == getpid())
    return false;                        /* a previous life of this pid (a container's pid 1) */
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
    return false;
  long long now_start;
  bool zombie;
  if (proc_start((pid_t)pid, &now_start, &zombie) != 0)
    return true;                         /* exists, but /proc does not show it: assume it lives */
  return !zombie && now_start == start;
}

static void when_text(int64_t t, char *out, size_t n)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(out, n, "%lld", (long long)t);
}

/* One attempt: 0 taken, 1 held by a live holder (err), 2 lost a race (try again), -1 error. */
static int try_acquire(struct db *db, const char *node, int64_t my_start, char *err, size_t errlen)
{
  int64_t now = now_unix();
  struct db_stmt *ins = db_prepare(db,
      "INSERT INTO node_leases(node, host, host_id, pid, pid_start, instance, started_at, heartbeat_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (node) DO NOTHING");
  if (!ins) {
    snprintf(err, errlen, "%s", db_errmsg(db));
    return -1;
  }
  db_bind_text(ins, 1, node);
  db_bind_text(ins, 2, L.host);
  db_bind_text(ins, 3, L.host_id);
  db_bind_int64(ins, 4, getpid());
  db_bind_int64(ins, 5, my_start);
  db_bind_text(ins, 6, L.instance);
  db_bind_int64(ins, 7, now);
  enum db_step_result r = db_step(ins);
  db_finalize(ins);
  if (r == DB_ERROR) {
    snprintf(err, errlen, "%s", db_errmsg(db));
    return -1;
  }
  if (db_changes(db) == 1)
    return 0;

  struct db_stmt *sel = db_prepare(db,
      "SELECT host, host_id, pid, pid_start, instance, started_at, heartbeat_at FROM node_leases "
      "WHERE node = ?1");
  if (!sel) {
    snprintf(err, errlen, "%s", db_errmsg(db));
    return -1;
  }
  db_bind_text(sel, 1, node);
  r = db_step(sel);
  if (r != DB_ROW) {
    if (r == DB_ERROR)
      snprintf(err, errlen, "%s", db_errmsg(db));
    db_finalize(sel);
    return r == DB_ERROR ? -1 : 2;       /* released meanwhile: insert again */
  }
  char host[256], host_id[512], instance[40];
  snprintf(host, sizeof host, "%s", db_col_text(sel, 0));
  snprintf(host_id, sizeof host_id, "%s", db_col_text(sel, 1));
  int64_t pid = db_col_int64(sel, 2), pstart = db_col_int64(sel, 3);
  snprintf(instance, sizeof instance, "%s", db_col_text(sel, 4));
  int64_t started = db_col_int64(sel, 5), beat = db_col_int64(sel, 6);
  db_finalize(sel);

  bool same_host = strcmp(host_id, L.host_id) == 0;
  bool free_now = same_host ? !holder_alive(pid, pstart) : now - beat > LEASE_STALE_S;
  if (!free_now) {
    char st[40];
    when_text(started, st, sizeof st);
    snprintf(err, errlen,
             "node name '%s' is held by another live relayd: pid %lld on host %s%s, started %s, last "
             "heartbeat %lld s ago; give this relayd another node_name (or stop that one)%s",
             node, (long long)pid, host, same_host ? " (this host)" : "", st, (long long)(now - beat),
             same_host ? "" : "; a lease from another host is free once its heartbeat is older "
                              "than " STR(LEASE_STALE_S) " s");
    return 1;
  }
  struct db_stmt *up = db_prepare(db,
      "UPDATE node_leases SET host = ?2, host_id = ?3, pid = ?4, pid_start = ?5, instance = ?6, "
      "started_at = ?7, heartbeat_at = ?7 WHERE node = ?1 AND instance = ?8");
  if (!up) {
    snprintf(err, errlen, "%s", db_errmsg(db));
    return -1;
  }
  db_bind_text(up, 1, node);
  db_bind_text(up, 2, L.host);
  db_bind_text(up, 3, L.host_id);
  db_bind_int64(up, 4, getpid());
  db_bind_int64(up, 5, my_start);
  db_bind_text(up, 6, L.instance);
  db_bind_int64(up, 7, now);
  db_bind_text(up, 8, instance);
  r = db_step(up);
  db_finalize(up);
  if (r == DB_ERROR) {
    snprintf(err, errlen, "%s", db_errmsg(db));
    return -1;
  }
  if (db_changes(db) != 1)
    return 2;                            /* another node took it first: look again */
  log_msg(LOG_WARN, "took over the node name from a relayd that is gone",
          "node=\"%s\" previous_pid=%lld previous_host=\"%s\" reason=%s", node, (long long)pid, host,
          same_host ? "process_gone" : "heartbeat_stale");
  return 0;
}

int lease_acquire(struct db *db, const char *node, char *err, size_t errlen)
{
  snprintf(L.node, sizeof L.node, "%s", node);
  host_identity();
  uint64_t rnd[2] = {0, 0};
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    rnd[0] = (uint64_t)getpid() << 32 ^ now_us_mono();
    rnd[1] = (uint64_t)now_unix_ms();
  }
  snprintf(L.instance, sizeof L.instance, "%016" PRIx64 "%016" PRIx64, rnd[0], rnd[1]);
  long long my_start = 0;
  bool z;
  if (proc_start(getpid(), &my_start, &z) != 0)
    my_start = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    int rc = try_acquire(db, node, my_start, err, errlen);
    if (rc == 0) {
      L.held = true;
      return 0;
    }
    if (rc != 2)
      return rc;
  }
  snprintf(err, errlen, "node name '%s': the lease changed hands 5 times while taking it", node);
  return -1;
}

/* Updates the heartbeat; false when the row is no longer this process's. */
static bool beat(void)
{
  struct db_stmt *st = db_prepare(L.db, "UPDATE node_leases SET heartbeat_at = ?1 WHERE node = ?2 "
                                        "AND instance = ?3");
  if (!st) {
    log_msg(LOG_WARN, "node lease heartbeat failed", "node=\"%s\" error=\"%s\"", L.node, db_errmsg(L.db));
    return true;
  }
  db_bind_int64(st, 1, now_unix());
  db_bind_text(st, 2, L.node);
  db_bind_text(st, 3, L.instance);
  enum db_step_result r = db_step(st);
  db_finalize(st);
  if (r == DB_ERROR) {
    log_msg(LOG_WARN, "node lease heartbeat failed", "node=\"%s\" error=\"%s\"", L.node, db_errmsg(L.db));
    return true;                         /* the database is away: next time */
  }
  return db_changes(L.db) == 1;
}

static void *heartbeat_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&L.t.lock);
  while (!L.t.stop) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += LEASE_HEARTBEAT_S;
    /* its own wait, not bgthread_wait: an absolute deadline on the monotonic clock (L.t above) */
    while (!L.t.stop && pthread_cond_timedwait(&L.t.wake, &L.t.lock, &until) != ETIMEDOUT) {
    }
    if (L.t.stop)
      break;
    pthread_mutex_unlock(&L.t.lock);
    bool ours = beat();
    pthread_mutex_lock(&L.t.lock);
    if (!ours && !L.lost) {
      L.lost = true;
      log_msg(LOG_ERR, "node lease lost: another relayd took this node name (heartbeats failed for too long)",
              "node=\"%s\"", L.node);
    } else if (ours && L.lost) {
      L.lost = false;
    }
  }
  pthread_mutex_unlock(&L.t.lock);
  return NULL;
}

int lease_start(const char *db_url, char *err, size_t errlen)
{
  if (!L.held)
    return 0;
  L.db = db_open(db_url, err, errlen);
  if (!L.db)
    return -1;
  /* SQLite: a heartbeat needs no fsync (db.c sets synchronous=FULL for the ledger's commits). A
   * beat lost to a power loss only makes the lease look older, and the writer's next commit syncs
   * the WAL frames before it. Without the fsync a beat is one wake-up instead of ~6 and ~125 us
   * of CPU less (measured idle: 1.17 -> 0.20 wake-ups/s; issue #26, bench/README.md). */
  if (strcmp(db_backend_name(L.db), "sqlite") == 0 && db_exec(L.db, "PRAGMA synchronous=NORMAL") != 0)
    log_msg(LOG_WARN, "node lease: heartbeats stay synchronous", "error=\"%s\"", db_errmsg(L.db));
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&L.t.wake, &ca);
  pthread_condattr_destroy(&ca);
  if (bgthread_start(&L.t, "relayd-lease", heartbeat_main, NULL) != 0) {
    snprintf(err, errlen, "cannot start the lease heartbeat thread");
    pthread_cond_destroy(&L.t.wake);
    db_close(L.db);
    L.db = NULL;
    return -1;
  }
  return 0;
}

const char *lease_node(void)
{
  return L.node;
}

const char *lease_state(void)
{
  pthread_mutex_lock(&L.t.lock);
  const char *st = !L.held ? "none" : L.lost ? "lost" : "held";
  pthread_mutex_unlock(&L.t.lock);
  return st;
}

void lease_stop(void)
{
  if (L.t.started) {
    bgthread_stop(&L.t);
    pthread_cond_destroy(&L.t.wake);
  }
  if (L.db && L.held) {
    struct db_stmt *st = db_prepare(L.db, "DELETE FROM node_leases WHERE node = ?1 AND instance = ?2");
    if (st) {
      db_bind_text(st, 1, L.node);
      db_bind_text(st, 2, L.instance);
      if (db_step(st) == DB_ERROR)
        log_msg(LOG_WARN, "cannot release the node lease", "node=\"%s\" error=\"%s\"", L.node,
                db_errmsg(L.db));
      db_finalize(st);
    }
  }
  pthread_mutex_lock(&L.t.lock);
  L.held = false;
  pthread_mutex_unlock(&L.t.lock);
  if (L.db) {
    db_close(L.db);
    L.db = NULL;
  }
}
