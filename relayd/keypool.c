/* keypool: see keypool.h. */
#include "keypool.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "secret.h"
#include "snapshot.h"
#include "util.h"
#include "webhook.h"
#include "writer.h"

static const char *const mode_names[] = {"random", "round-robin", "sticky"};

int key_mode_parse(const char *s)
{
  for (int i = 0; s && i < 3; i++)
    if (strcmp(s, mode_names[i]) == 0)
      return i;
  return -1;
}

const char *key_mode_name(enum key_mode m)
{
  return (unsigned)m < 3 ? mode_names[m] : "random";
}

/* ---------------------------------------------------------------- live states */

/* "channel id/idx" -> struct key_state; touched only when snapshots load (admin thread) and at exit */
static struct state_table table = STATE_TABLE_INIT(struct key_state, 64);

static struct key_state *state_of(int64_t channel_id, int idx)
{
  char k[48];
  snprintf(k, sizeof k, "%lld/%d", (long long)channel_id, idx);
  struct key_state proto = {.channel_id = channel_id, .idx = idx};
  return state_table_get(&table, k, &proto);
}

void keypool_free_states(void)
{
  state_table_free(&table);
}

/* The database status folds into the live flag, as chanstate_fold_status does for a channel. */
static void fold_status(struct key_state *st, int db_status)
{
  if (db_status == STATUS_AUTO_DISABLED) {
    atomic_store(&st->flag, HEALTH_DISABLED);
  } else if (db_status == STATUS_DISABLED) {
    atomic_store(&st->flag, HEALTH_ENABLED);          /* a manual disable rules (status 2) */
  } else {
    int expect = HEALTH_DISABLED;                      /* re-enabled by an administrator or a test */
    atomic_compare_exchange_strong(&st->flag, &expect, HEALTH_ENABLED);
  }
  /* HEALTH_DISABLE_PENDING: the writer has not committed the disable yet; the flag stays */
}

/* ---------------------------------------------------------------- load */

static struct curl_slist *key_headers(const struct snap_channel *c, const char *key)
{
  char auth[8400];     /* gwctl stores keys of up to 8192 bytes */
  static const char *const base_h[] = SNAP_BASE_HEADERS;
  struct curl_slist *h = NULL;
  for (size_t b = 0; b < sizeof base_h / sizeof *base_h; b++)
    h = curl_slist_append(h, base_h[b]);
  if (c->provider->extra_header)
    h = curl_slist_append(h, c->provider->extra_header);
  if (*key && provider_auth_header(c->provider, key, auth, sizeof auth) == 0)
    h = curl_slist_append(h, auth);
  else if (*key)
    log_msg(LOG_WARN, "pool key too long for its auth header, not sent", "channel_id=%lld", (long long)c->id);
  explicit_bzero(auth, sizeof auth);
  return h;
}

static struct snap_channel *channel_by_id(struct snapshot *s, int64_t id)
{
  for (size_t i = 0; i < s->nchannels; i++)
    if (s->channels[i].id == id)
      return &s->channels[i];
  return NULL;
}

int keypool_load(struct db *db, struct snapshot *s, const struct secret_key *master, char *err, size_t errlen)
{
  /* how many keys each channel has, then the keys (both inside the load's transaction) */
  struct db_stmt *st = db_prepare(db, "SELECT k.channel_id, count(*), c.key_mode FROM channel_keys k "
                                      "JOIN channels c ON c.id = k.channel_id GROUP BY k.channel_id, c.key_mode");
  if (!st)
    return -1;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW) {
    struct snap_channel *c = channel_by_id(s, db_col_int64(st, 0));
    int64_t n = db_col_int64(st, 1);
    if (!c || n <= 0)
      continue;
    struct key_pool *p = arena_alloc(&s->arena, sizeof *p);
    int m = key_mode_parse(db_col_text(st, 2));
    p->mode = m < 0 ? KEY_MODE_RANDOM : (enum key_mode)m;
    p->keys = arena_alloc(&s->arena, (size_t)n * sizeof *p->keys);
    p->cap = (size_t)n;         /* the second query fills n; more rows than counted are ignored */
    c->pool = p;
  }
  db_finalize(st);
  if (r == DB_ERROR)
    return -1;
  st = db_prepare(db, "SELECT channel_id, idx, key, status, status_reason, status_time FROM channel_keys "
                      "ORDER BY channel_id, idx");
  if (!st)
    return -1;
  int rc = 0;
  struct snap_channel *c = NULL;
  while (rc == 0 && (r = db_step(st)) == DB_ROW) {
    int64_t cid = db_col_int64(st, 0);
    if (!c || c->id != cid)
      c = channel_by_id(s, cid);
    if (!c || !c->pool || c->pool->n >= c->pool->cap)
      continue;
    char kerr[300];
    char *plain = secret_open(master, db_col_text(st, 2), kerr, sizeof kerr);
    if (!plain) {
      /* never fall back to sending the stored value upstream: the whole load fails loudly */
      snprintf(err, errlen, "channel %lld (%s): cannot decrypt key %lld of its pool: %s", (long long)c->id,
               c->name, (long long)db_col_int64(st, 1), kerr);
      rc = -2;
      break;
    }
    struct pool_key *k = &c->pool->keys[c->pool->n++];
    k->idx = (int)db_col_int64(st, 1);
    k->status = (int)db_col_int64(st, 3);
    k->status_reason = arena_strdup(&s->arena, db_col_text(st, 4));
    k->status_time = db_col_int64(st, 5);
    k->key = arena_strdup(&s->arena, plain);
    k->headers = key_headers(c, plain);
    k->st = state_of(c->id, k->idx);
    fold_status(k->st, k->status);
    secret_free(plain);
  }
  db_finalize(st);
  if (rc == 0 && r == DB_ERROR)
    return -1;
  /* a pool whose rows vanished between the two reads (another writer) is no pool */
  for (size_t i = 0; i < s->nchannels; i++)
    if (s->channels[i].pool && s->channels[i].pool->n == 0)
      s->channels[i].pool = NULL;
  return rc;
}

void keypool_free(struct snapshot *s)
{
  for (size_t i = 0; i < s->nchannels; i++) {
    struct key_pool *p = s->channels[i].pool;
    for (size_t j = 0; p && j < p->n; j++) {
      struct pool_key *k = &p->keys[j];
      if (k->key)
        explicit_bzero((char *)k->key, strlen(k->key));
      for (struct curl_slist *h = k->headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
      curl_slist_free_all(k->headers);
      k->headers = NULL;
    }
  }
}

/* ---------------------------------------------------------------- choice */

bool keypool_key_ok(const struct pool_key *k)
{
  return k->status == STATUS_ENABLED && atomic_load_explicit(&k->st->flag, memory_order_relaxed) == HEALTH_ENABLED;
}

bool keypool_usable(const struct snap_channel *c)
{
  const struct key_pool *p = c->pool;
  if (!p)
    return true;
  for (size_t i = 0; i < p->n; i++)
    if (keypool_key_ok(&p->keys[i]))
      return true;
  return false;
}

static bool was_tried(const struct key_tries *t, const struct snap_channel *c, size_t pos)
{
  return t->chan == c->id && (t->tried >> (pos % 64)) & 1u;
}

bool keypool_untried(const struct snap_channel *c, const struct key_tries *t)
{
  const struct key_pool *p = c->pool;
  if (!p || t->chan != c->id)
    return false;
  for (size_t i = 0; i < p->n; i++)
    if (keypool_key_ok(&p->keys[i]) && !was_tried(t, c, i))
      return true;
  return false;
}

/* May the attempt take the key at pos: enabled, not tried (t), room under its limits (t->room). */
static bool eligible(const struct key_tries *t, const struct snap_channel *c, size_t pos)
{
  return keypool_key_ok(&c->pool->keys[pos]) && !was_tried(t, c, pos) && (!t->room || t->room(t->ctx, c, pos));
}

static uint64_t mix64(uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

/* The end user a sticky pool keeps on one key: OpenAI "user", Anthropic metadata.user_id, the
 * prompt cache key of the client's body j, else the client's API key (its token's id). */
static uint64_t sticky_hash(const cJSON *j, int64_t token_id)
{
  const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "user"));
  if (!u || !*u)
    u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "metadata"),
                                                              "user_id"));
  if (!u || !*u)
    u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "prompt_cache_key"));
  if (u && *u)
    return fnv1a(u, 1469598103934665603u);
  return mix64((uint64_t)token_id ^ 0x9e3779b97f4a7c15ULL);
}

const struct pool_key *keypool_pick(const struct snap_channel *c, struct key_tries *t, const cJSON *body,
                                    int64_t token_id, uint64_t *rng)
{
  struct key_pool *p = c->pool;
  if (!p)
    return NULL;
  if (t->chan != c->id) {
    t->chan = c->id;
    t->tried = 0;
  }
  size_t n = p->n, pick = n;
  if (t->prefer)     /* affinity (affinity.h): the key that served it last */
    for (size_t pos = 0; pos < n && pick == n; pos++)
      if (p->keys[pos].idx == t->prefer_idx && eligible(t, c, pos))
        pick = pos;
  if (pick == n)
  switch (p->mode) {
  case KEY_MODE_ROUND_ROBIN: {
    size_t start = (size_t)(atomic_fetch_add_explicit(&p->cursor, 1, memory_order_relaxed) % n);
    for (size_t i = 0; i < n && pick == n; i++) {
      size_t pos = (start + i) % n;
      if (eligible(t, c, pos))
        pick = pos;
    }
    break;
  }
  case KEY_MODE_STICKY: {
    /* rendezvous hashing: the user's key stays its key while that key is healthy */
    uint64_t h = sticky_hash(body, token_id), best = 0;
    for (size_t pos = 0; pos < n; pos++) {
      if (!eligible(t, c, pos))
        continue;
      uint64_t score = mix64(h ^ mix64((uint64_t)p->keys[pos].idx + 0x9e3779b97f4a7c15ULL));
      if (pick == n || score > best) {
        best = score;
        pick = pos;
      }
    }
    break;
  }
  case KEY_MODE_RANDOM:
  default: {
    size_t ok = 0;
    for (size_t pos = 0; pos < n; pos++)
      ok += eligible(t, c, pos);
    if (!ok)
      break;
    uint64_t x = *rng;                   /* the worker's xorshift, as route.c */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    size_t nth = (size_t)(x % ok);
    for (size_t pos = 0; pos < n && pick == n; pos++)
      if (eligible(t, c, pos) && nth-- == 0)
        pick = pos;
    break;
  }
  }
  if (pick == n)     /* every key went between route's check and now: the first key, once */
    pick = 0;
  t->tried |= (uint64_t)1 << (pick % 64);
  const struct pool_key *k = &p->keys[pick];
  atomic_fetch_add_explicit(&k->st->requests, 1, memory_order_relaxed);
  return k;
}

/* ---------------------------------------------------------------- outcomes */

/* The writer's change of key k's status (its row in channel_keys) */
static void key_status_op(struct writer_op *op, const struct snap_channel *c, const struct pool_key *k,
                          int status)
{
  memset(op, 0, sizeof *op);
  op->kind = WOP_KEY_STATUS;
  op->id = c->id;
  op->a = k->idx;
  op->status = status;
}

bool keypool_disable(const struct snap_channel *c, const struct pool_key *k, const char *reason)
{
  int expect = HEALTH_ENABLED;
  if (k->status != STATUS_ENABLED || !atomic_compare_exchange_strong(&k->st->flag, &expect, HEALTH_DISABLE_PENDING))
    return false;       /* already disabled (or being disabled), or disabled by hand */
  atomic_fetch_add(&k->st->disabled_total, 1);
  log_msg(LOG_WARN, "pool key auto-disabled", "channel_id=%lld name=\"%s\" key=%d reason=\"%s\"", (long long)c->id,
          c->name, k->idx, reason);
  struct writer_op op;
  key_status_op(&op, c, k, STATUS_AUTO_DISABLED);
  op.key_flag = &k->st->flag;
  snprintf(op.reason, sizeof op.reason, "%s", reason);
  snprintf(op.text, sizeof op.text, "channel %s key %d auto-disabled: %s", c->name, k->idx, reason);
  writer_submit_op(&op);
  webhook_channel_event("key_disabled", c->id, c->name, k->idx, reason, NULL, NULL);
  return true;
}

void keypool_reenable(const struct snap_channel *c, const struct pool_key *k, const char *text)
{
  if (k->status != STATUS_AUTO_DISABLED)
    return;
  struct writer_op op;
  key_status_op(&op, c, k, STATUS_ENABLED);
  snprintf(op.text, sizeof op.text, "%s", text);
  log_msg(LOG_INFO, "pool key re-enabled by a passing test", "channel_id=%lld name=\"%s\" key=%d", (long long)c->id,
          c->name, k->idx);
  writer_submit_op(&op);
  webhook_channel_event("key_enabled", c->id, c->name, k->idx, "a key test passed", NULL, NULL);
}

enum health_outcome keypool_outcome(const struct snap_channel *c, const struct pool_key *k,
                                    const struct snap_options *o, enum health_outcome out, const char *detail)
{
  if (!k)
    return out;
  if (out == OUTCOME_FAIL || out == OUTCOME_ACCOUNT)
    atomic_fetch_add_explicit(&k->st->errors, 1, memory_order_relaxed);
  if (out != OUTCOME_ACCOUNT || !o->auto_disable || !c->auto_disable)
    return out;
  char reason[240];
  snprintf(reason, sizeof reason, "authentication or account error: %s", detail ? detail : "");
  keypool_disable(c, k, reason);
  /* the channel goes only with its last key */
  return keypool_usable(c) ? OUTCOME_ABANDON : OUTCOME_ACCOUNT;
}

void keypool_spent(const struct pool_key *k, int64_t quota)
{
  if (k && quota > 0)
    atomic_fetch_add_explicit(&k->st->spend, (uint64_t)quota, memory_order_relaxed);
}

/* ---------------------------------------------------------------- stats */

void keypool_stats_json(cJSON *o, const struct snap_channel *c)
{
  const struct key_pool *p = c->pool;
  if (!p)
    return;
  cJSON_AddStringToObject(o, "key_mode", key_mode_name(p->mode));
  cJSON *arr = cJSON_AddArrayToObject(o, "keys");
  for (size_t i = 0; arr && i < p->n; i++) {
    const struct pool_key *k = &p->keys[i];
    int flag = atomic_load(&k->st->flag);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "index", k->idx);
    cJSON_AddStringToObject(e, "status", k->status == STATUS_DISABLED ? "disabled"
                                         : k->status == STATUS_AUTO_DISABLED || flag != HEALTH_ENABLED
                                             ? "auto-disabled"
                                             : "enabled");
    cJSON_AddStringToObject(e, "status_reason", k->status == STATUS_ENABLED ? "" : k->status_reason);
    cJSON_AddNumberToObject(e, "status_time", (double)k->status_time);
    cJSON_AddNumberToObject(e, "requests", (double)atomic_load(&k->st->requests));
    cJSON_AddNumberToObject(e, "errors", (double)atomic_load(&k->st->errors));
    cJSON_AddNumberToObject(e, "spend", (double)atomic_load(&k->st->spend));
    cJSON_AddNumberToObject(e, "auto_disabled_total", (double)atomic_load(&k->st->disabled_total));
    cJSON_AddItemToArray(arr, e);
  }
}
