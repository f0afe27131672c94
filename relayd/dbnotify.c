/* dbnotify: see dbnotify.h. */
#include "dbnotify.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "snapshot.h"
#include "util.h"
#include "writer.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static struct {
  struct db *db;                /* the listening connection; NULL on SQLite */
  struct db *fold_db;           /* the caller's connection, for folding balances */
  dbnotify_reload_fn *reload;   /* rebuilds the snapshot (admin.c's admin_load_snapshot) */
  void *reload_arg;
  bool up;                      /* LISTEN is in place */
  uint64_t retry_at_ms;         /* monotonic ms of the next reconnect attempt while down */
  int backoff_ms;
  uint64_t reloads, folds, reconnects, received;
} N;

/* What one batch of notifications asks for. */
struct wants {
  bool reload;
  bool fold_all;
  struct buf users, tokens;     /* comma lists of ids */
};

static uint64_t now_ms(void) { return now_us_mono() / 1000; }

static int listen_all(char *err, size_t errlen)
{
  if (db_listen(N.db, RELAY_RELOAD_CHANNEL) != 0 || db_listen(N.db, RELAY_BALANCE_CHANNEL) != 0) {
    snprintf(err, errlen, "LISTEN: %s", db_errmsg(N.db));
    return -1;
  }
  return 0;
}

int dbnotify_start(const char *db_url, struct db *db, dbnotify_reload_fn *reload, void *arg, char *err,
                   size_t errlen)
{
  if (!db_url_is_postgres(db_url))
    return 0;
  N.fold_db = db;
  N.reload = reload;
  N.reload_arg = arg;
  N.db = db_open_existing(db_url, err, errlen);
  if (!N.db || listen_all(err, errlen) != 0)
    return -1;
  N.up = true;
  N.backoff_ms = BACKOFF_MIN_MS;
  return 0;
}

void dbnotify_stop(void)
{
  db_close(N.db);
  N.db = NULL;
  N.up = false;
}

int dbnotify_fd(void)
{
  return N.db && N.up ? db_socket(N.db) : -1;
}

int dbnotify_timeout_ms(void)
{
  if (!N.db || N.up)
    return -1;
  uint64_t now = now_ms();
  return N.retry_at_ms > now ? (int)(N.retry_at_ms - now) : 0;
}

/* Appends the ids of list ("1,2,3") to out, keeping digits and commas only; -1 when out is full. */
static int add_ids(struct buf *out, const char *list, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    char c = list[i];
    if ((c >= '0' && c <= '9') || c == ',') {
      if (c == ',' && (out->len == 0 || out->data[out->len - 1] == ','))
        continue;
      if (buf_append(out, &c, 1) != 0)
        return -1;
    }
  }
  if (out->len && out->data[out->len - 1] != ',' && buf_append(out, ",", 1) != 0)
    return -1;
  return 0;
}

static void on_notify(void *ud, const char *channel, const char *payload)
{
  struct wants *w = ud;
  N.received++;
  if (strcmp(channel, RELAY_RELOAD_CHANNEL) == 0) {
    w->reload = true;
    return;
  }
  if (strcmp(channel, RELAY_BALANCE_CHANNEL) != 0)
    return;
  /* "NODE u1,2 t3,4" or "NODE *"; our own writer's charges are already in our balances */
  char self[32];
  snprintf(self, sizeof self, "%016llx ", (unsigned long long)writer_node_id());
  if (strncmp(payload, self, strlen(self)) == 0)
    return;
  const char *p = strchr(payload, ' ');
  while (p && *p) {
    p++;
    size_t n = strcspn(p, " ");
    if (*p == '*')
      w->fold_all = true;
    else if (*p == 'u' && add_ids(&w->users, p + 1, n - 1) != 0)
      w->fold_all = true;       /* too many ids: fold every balance */
    else if (*p == 't' && add_ids(&w->tokens, p + 1, n - 1) != 0)
      w->fold_all = true;
    p += n;
  }
}

static void reload(const char *why)
{
  char err[512];
  log_msg(LOG_INFO, "database notification: reloading", "reason=\"%s\"", why);
  if (N.reload(N.reload_arg, err, sizeof err) == 0)
    N.reloads++;
}

static void went_down(const char *why)
{
  log_msg(LOG_WARN, "lost the database notification connection, reconnecting", "error=\"%s\"", why);
  N.up = false;
  N.backoff_ms = BACKOFF_MIN_MS;
  N.retry_at_ms = now_ms() + (uint64_t)N.backoff_ms;
}

static void try_reconnect(void)
{
  char err[512];
  if (db_reconnect(N.db) != 0 || listen_all(err, sizeof err) != 0) {
    N.backoff_ms = N.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : N.backoff_ms * 2;
    N.retry_at_ms = now_ms() + (uint64_t)N.backoff_ms;
    log_msg(LOG_DEBUG, "database still unreachable", "retry_in_ms=%d error=\"%s\"", N.backoff_ms,
            db_errmsg(N.db));
    return;
  }
  N.up = true;
  N.reconnects++;
  N.backoff_ms = BACKOFF_MIN_MS;
  log_msg(LOG_INFO, "database notification connection is back", "");
  /* whatever was notified while we were away is lost: take everything again */
  reload("reconnected");
}

void dbnotify_handle(void)
{
  if (!N.db)
    return;
  if (!N.up) {
    if (now_ms() >= N.retry_at_ms)
      try_reconnect();
    return;
  }
  struct wants w = {0};
  buf_init(&w.users, 1 << 20);
  buf_init(&w.tokens, 1 << 20);
  int n = db_notifications(N.db, on_notify, &w);
  if (n < 0)
    went_down(db_errmsg(N.db));
  if (w.reload) {
    reload("relay_reload");       /* a reload folds every balance too */
  } else if (w.fold_all || w.users.len || w.tokens.len) {
    char err[512];
    if (w.users.len)
      w.users.data[--w.users.len] = '\0';
    if (w.tokens.len)
      w.tokens.data[--w.tokens.len] = '\0';
    if (snapshot_fold_balances(N.fold_db, w.fold_all, w.users.len ? w.users.data : "",
                               w.tokens.len ? w.tokens.data : "", err, sizeof err) == 0)
      N.folds++;
    else
      log_msg(LOG_WARN, "folding other nodes' charges failed", "error=\"%s\"", err);
  }
  buf_free(&w.users);
  buf_free(&w.tokens);
}

void dbnotify_status(cJSON *res)
{
  cJSON *o = cJSON_AddObjectToObject(res, "notifications");
  cJSON_AddBoolToObject(o, "enabled", N.db != NULL);
  cJSON_AddBoolToObject(o, "listening", N.db && N.up);
  cJSON_AddNumberToObject(o, "received", (double)N.received);
  cJSON_AddNumberToObject(o, "reloads", (double)N.reloads);
  cJSON_AddNumberToObject(o, "balance_folds", (double)N.folds);
  cJSON_AddNumberToObject(o, "reconnects", (double)N.reconnects);
}
