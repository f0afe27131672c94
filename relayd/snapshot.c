/* snapshot: see snapshot.h. */
#include "snapshot.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "chanstate.h"
#include "ledger.h"
#include "log.h"
#include "secret.h"
#include "vertex.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *current;          /* holds one reference; under current_lock */
static _Atomic uint64_t current_version;
/* the master key channel keys are sealed with (set by main before the first load; read-only after) */
static const struct secret_key *master_key;

void snapshot_set_master_key(const struct secret_key *k)
{
  master_key = k;
}

/* the extra loader (set by main before the first load; read-only after) */
static const struct snapshot_extra *extra;

void snapshot_set_extra(const struct snapshot_extra *x)
{
  extra = x;
}

/* ids: digits and commas only (checked), or "" for none. */
static int fold_query(struct db *db, char kind, const char *table, const char *col, bool all,
                      const char *ids)
{
  if (!all && !*ids)
    return 0;
  for (const char *p = ids; *p; p++)
    if (!((*p >= '0' && *p <= '9') || *p == ','))
      return -1;
  struct buf sql;
  buf_init(&sql, strlen(ids) + 256);
  buf_appendf(&sql, "SELECT id, %s FROM %s", col, table);
  if (!all)
    buf_appendf(&sql, " WHERE id IN (%s)", ids);
  struct db_stmt *st = sql.data ? db_prepare(db, sql.data) : NULL;
  buf_free(&sql);
  if (!st)
    return -1;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW)
    ledger_refold(kind, db_col_int64(st, 0), db_col_int64(st, 1));
  db_finalize(st);
  return r == DB_DONE ? 0 : -1;
}

int snapshot_fold_balances(struct db *db, bool all, const char *user_ids, const char *token_ids,
                           char *err, size_t errlen)
{
  /* under the lock, like the loader: our own writer cannot commit between a read and its fold */
  ledger_lock();
  int rc = fold_query(db, 'u', "users", "quota", all, user_ids);
  if (rc == 0)
    rc = fold_query(db, 't', "tokens", "remain_quota", all, token_ids);
  ledger_unlock();
  if (rc != 0)
    snprintf(err, errlen, "reading balances: %s", db_errmsg(db));
  return rc;
}

/* ---- address allow-lists ---- */
/* ---- upstream URLs ---- */
int channel_url(const struct snap_channel *c, const char *path, const char *model, char *out, size_t outlen,
                char *err, size_t errlen)
{
  return provider_url(c->provider, c->base_url, c->api_version, path, model, out, outlen, err, errlen);
}

/* ---- lookups ---- */
const struct route *snapshot_route(const struct snapshot *s, const char *group, const char *model)
{
  /* "group\x1fmodel", per request: joined by hand (no format parsed) */
  char key[512];
  size_t gl = strlen(group), ml = strlen(model);
  if (gl + 1 + ml >= sizeof key)
    return NULL;
  memcpy(key, group, gl);
  key[gl] = '\x1f';
  memcpy(key + gl + 1, model, ml);
  key[gl + 1 + ml] = '\0';
  return strmap_getn(&s->routes, key, gl + 1 + ml);
}

const struct snap_channel *snapshot_channel(const struct snapshot *s, int64_t id)
{
  for (size_t i = 0; i < s->nchannels; i++)
    if (s->channels[i].id == id)
      return &s->channels[i];
  return NULL;
}

const struct price *snapshot_price(const struct snapshot *s, const char *model)
{
  return strmap_get(&s->prices, model);
}

double snapshot_group_ratio(const struct snapshot *s, const char *group)
{
  const double *r = strmap_get(&s->groups, group);
  return r ? *r : -1.0;
}

/* ---- loading ---- */
/* option_keys[]'s defaults, then every stored row that passes the same check as gwctl config set
 * (a row written behind gwctl's back that fails it keeps the default). */
static int load_options(struct db *db, struct snapshot *s)
{
  struct snap_options *o = &s->opt;
  options_defaults(o);
  struct db_stmt *st = db_prepare(db, "SELECT key, value FROM options");
  if (!st)
    return -1;
  while (db_step(st) == DB_ROW) {
    const struct option_key *k = option_find(db_col_text(st, 0));
    char v[OPTION_VALUE_MAX], why[256];
    if (k && option_check(k, db_col_text(st, 1), v, sizeof v, why, sizeof why) == 0)
      options_apply(o, k, arena_strdup(&s->arena, v));
  }
  db_finalize(st);
  return 0;
}

static int load_prices_groups(struct db *db, struct snapshot *s)
{
  struct db_stmt *st = db_prepare(db, "SELECT name, ratio FROM groups");
  if (!st)
    return -1;
  strmap_init(&s->groups, 16);
  while (db_step(st) == DB_ROW) {
    double *r = arena_alloc(&s->arena, sizeof *r);
    *r = db_col_double(st, 1);
    strmap_put(&s->groups, arena_strdup(&s->arena, db_col_text(st, 0)), r);
  }
  db_finalize(st);

  st = db_prepare(db, "SELECT model, model_ratio, completion_ratio, cache_ratio, fixed_price, price_unit, "
                      "cache_write_ratio, cache_write_1h_ratio, max_output_tokens, audio_ratio, "
                      "audio_completion_ratio, tier_above, tier_model_ratio, tier_completion_ratio, tier_cache_ratio "
                      "FROM prices");
  if (!st)
    return -1;
  strmap_init(&s->prices, 64);
  while (db_step(st) == DB_ROW) {
    struct price *p = arena_alloc(&s->arena, sizeof *p);
    p->model_ratio = db_col_double(st, 1);
    p->completion_ratio = db_col_double(st, 2);
    p->cache_ratio = db_col_double(st, 3);
    p->has_fixed = !db_col_is_null(st, 4);
    p->fixed_price = p->has_fixed ? db_col_double(st, 4) : 0;
    int unit = price_unit_parse(db_col_text(st, 5));
    if (unit < 0 && p->has_fixed)
      log_msg(LOG_WARN, "unknown price_unit, the price is taken per call", "model=\"%s\" price_unit=\"%s\"",
              db_col_text(st, 0), db_col_text(st, 5));
    p->unit = unit < 0 ? PRICE_PER_CALL : (enum price_unit)unit;
    /* NULL (or a negative value written around gwctl) takes the default */
    p->cache_write_ratio = !db_col_is_null(st, 6) && db_col_double(st, 6) >= 0
                           ? db_col_double(st, 6) : PRICE_CACHE_WRITE_RATIO_DEFAULT;
    p->cache_write_1h_ratio = !db_col_is_null(st, 7) && db_col_double(st, 7) >= 0
                              ? db_col_double(st, 7) : PRICE_CACHE_WRITE_1H_RATIO_DEFAULT;
    p->max_output_tokens = db_col_is_null(st, 8) || db_col_int64(st, 8) < 0 ? 0 : db_col_int64(st, 8);
    /* audio (migration 013): NULL priced as text -- input at 1, output at the completion ratio */
    p->audio_ratio = !db_col_is_null(st, 9) && db_col_double(st, 9) >= 0 ? db_col_double(st, 9) : 1.0;
    p->audio_completion_ratio = !db_col_is_null(st, 10) && db_col_double(st, 10) >= 0
                                ? db_col_double(st, 10) : p->completion_ratio / p->audio_ratio;
    if (!(p->audio_completion_ratio >= 0) || p->audio_completion_ratio > 1e9)
      p->audio_completion_ratio = p->completion_ratio;   /* audio_ratio 0 with no completion ratio */
    p->tier_above = db_col_is_null(st, 11) || db_col_int64(st, 11) < 1 ? 0 : db_col_int64(st, 11);   /* NULL ratio: base */
    p->tier_model_ratio = db_col_is_null(st, 12) ? p->model_ratio : db_col_double(st, 12);
    p->tier_completion_ratio = db_col_is_null(st, 13) ? p->completion_ratio : db_col_double(st, 13);
    p->tier_cache_ratio = db_col_is_null(st, 14) ? p->cache_ratio : db_col_double(st, 14);
    strmap_put(&s->prices, arena_strdup(&s->arena, db_col_text(st, 0)), p);
  }
  db_finalize(st);
  if (!(st = db_prepare(db, "SELECT scope, subject, model, chain, on_errors FROM fallbacks")))
    return -1;
  strmap_init(&s->fallbacks, 16);
  for (char key[400]; db_step(st) == DB_ROW; s->nfallbacks++) {   /* keyed as fallback.c looks them up */
    struct fallback_chain *f = arena_alloc(&s->arena, sizeof *f);
    f->n = split_list(&s->arena, db_col_text(st, 3), &f->models);
    f->on_context = strstr(db_col_text(st, 4), "context") != NULL;
    f->on_policy = strstr(db_col_text(st, 4), "policy") != NULL;
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", db_col_text(st, 0), db_col_text(st, 1), db_col_text(st, 2));
    strmap_put(&s->fallbacks, arena_strdup(&s->arena, key), f);
  }
  db_finalize(st);
  return 0;
}

/* rate_limits rows onto their users and tokens; rows of deleted subjects are ignored */
static int load_limits(struct db *db, struct snapshot *s, struct strmap *users_by_id, struct strmap *tokens_by_id)
{
  struct db_stmt *st = db_prepare(db, "SELECT scope, subject_id, model, rpm, tpm FROM rate_limits "
                                      "WHERE rpm > 0 OR tpm > 0 ORDER BY id");
  if (!st)
    return -1;
  while (db_step(st) == DB_ROW) {
    const char *scope = db_col_text(st, 0);
    char idkey[24];
    snprintf(idkey, sizeof idkey, "%lld", (long long)db_col_int64(st, 1));
    struct snap_limits *ls = NULL;
    char kind = scope[0] == 'u' ? 'u' : 't';
    if (strcmp(scope, "user") == 0) {
      struct snap_user *u = strmap_get(users_by_id, idkey);
      ls = u ? &u->limits : NULL;
    } else if (strcmp(scope, "token") == 0) {
      struct snap_token *t = strmap_get(tokens_by_id, idkey);
      ls = t ? &t->limits : NULL;
    }
    if (!ls || ls->n >= LIMITS_MAX_HELD / 2)
      continue;       /* at most an overall and a per-model limit apply to one request */
    struct snap_limit *items = arena_alloc(&s->arena, (ls->n + 1) * sizeof *items);
    if (ls->n)
      memcpy(items, ls->items, ls->n * sizeof *items);
    struct snap_limit *l = &items[ls->n];
    l->model = arena_strdup(&s->arena, db_col_text(st, 2));
    l->rpm = db_col_int64(st, 3);
    l->tpm = db_col_int64(st, 4);
    l->st = limits_state(kind, db_col_int64(st, 1), l->model);
    ls->items = items;
    ls->n++;
  }
  db_finalize(st);
  return 0;
}

static int load_alerts(struct db *db, struct snapshot *s)
{
  struct db_stmt *st = db_prepare(db, "SELECT count(*) FROM budget_alerts");
  if (!st)
    return -1;
  size_t n = db_step(st) == DB_ROW ? (size_t)db_col_int64(st, 0) : 0;
  db_finalize(st);
  s->alerts = arena_alloc(&s->arena, (n ? n : 1) * sizeof *s->alerts);
  st = db_prepare(db, "SELECT id, scope, subject_id, kind, threshold, fired_at, fired_total FROM budget_alerts "
                      "ORDER BY id");
  if (!st)
    return -1;
  while (s->nalerts < n && db_step(st) == DB_ROW) {
    struct snap_alert *a = &s->alerts[s->nalerts++];
    a->id = db_col_int64(st, 0);
    a->user_scope = strcmp(db_col_text(st, 1), "user") == 0;
    a->subject_id = db_col_int64(st, 2);
    a->percent = strcmp(db_col_text(st, 3), "percent") == 0;
    a->threshold = db_col_int64(st, 4);
    a->fired_at = db_col_int64(st, 5);
    a->fired_total = db_col_int64(st, 6);
  }
  db_finalize(st);
  st = db_prepare(db, "SELECT count(*) FROM quota_reminders");
  if (!st)
    return -1;
  n = db_step(st) == DB_ROW ? (size_t)db_col_int64(st, 0) : 0;
  db_finalize(st);
  s->reminders = arena_alloc(&s->arena, (n ? n : 1) * sizeof *s->reminders);
  st = db_prepare(db, "SELECT user_id, fired_at, fired_total FROM quota_reminders ORDER BY user_id");
  if (!st)
    return -1;
  while (s->nreminders < n && db_step(st) == DB_ROW) {
    struct snap_reminder *r = &s->reminders[s->nreminders++];
    r->user_id = db_col_int64(st, 0);
    r->fired_at = db_col_int64(st, 1);
    r->fired_total = db_col_int64(st, 2);
  }
  db_finalize(st);
  return 0;
}

static int load_users_tokens(struct db *db, struct snapshot *s)
{
  struct strmap users_by_id;
  struct db_stmt *st = db_prepare(db, "SELECT count(*) FROM users");
  if (!st)
    return -1;
  size_t nu = db_step(st) == DB_ROW ? (size_t)db_col_int64(st, 0) : 0;
  db_finalize(st);
  s->users = arena_alloc(&s->arena, (nu ? nu : 1) * sizeof *s->users);
  st = db_prepare(db, "SELECT id, username, role, status, \"group\", quota, used_quota FROM users ORDER BY id");
  if (!st)
    return -1;
  strmap_init(&users_by_id, 64);
  while (db_step(st) == DB_ROW) {
    struct snap_user *u = arena_alloc(&s->arena, sizeof *u);
    u->id = db_col_int64(st, 0);
    u->username = arena_strdup(&s->arena, db_col_text(st, 1));
    u->role = (int)db_col_int64(st, 2);
    u->status = (int)db_col_int64(st, 3);
    u->group = arena_strdup(&s->arena, db_col_text(st, 4));
    u->bal = ledger_fold('u', u->id, db_col_int64(st, 5));
    u->quota_total = db_col_int64(st, 5) + db_col_int64(st, 6);
    if (s->nusers >= nu)
      continue;       /* a row that appeared after the count: next reload */
    s->users[s->nusers] = u;
    char idkey[24];
    snprintf(idkey, sizeof idkey, "%lld", (long long)u->id);
    strmap_put(&users_by_id, arena_strdup(&s->arena, idkey), u);
    s->nusers++;
  }
  db_finalize(st);

  st = db_prepare(db, "SELECT count(*) FROM tokens");
  if (!st) {
    strmap_free(&users_by_id);
    return -1;
  }
  size_t nt = db_step(st) == DB_ROW ? (size_t)db_col_int64(st, 0) : 0;
  db_finalize(st);
  s->token_list = arena_alloc(&s->arena, (nt ? nt : 1) * sizeof *s->token_list);
  struct strmap tokens_by_id;
  strmap_init(&tokens_by_id, 64);
  st = db_prepare(db, "SELECT id, user_id, name, key_hash, status, expired_time, remain_quota, "
                      "unlimited_quota, models, subnet, \"group\", used_quota, response_cache FROM tokens ORDER BY id");
  if (!st) {
    strmap_free(&users_by_id);
    strmap_free(&tokens_by_id);
    return -1;
  }
  strmap_init(&s->tokens, 1024);
  while (db_step(st) == DB_ROW) {
    char idkey[24];
    snprintf(idkey, sizeof idkey, "%lld", (long long)db_col_int64(st, 1));
    struct snap_user *u = strmap_get(&users_by_id, idkey);
    if (!u)
      continue;
    struct snap_token *t = arena_alloc(&s->arena, sizeof *t);
    t->id = db_col_int64(st, 0);
    t->user = u;
    t->name = arena_strdup(&s->arena, db_col_text(st, 2));
    t->key_hash = arena_strdup(&s->arena, db_col_text(st, 3));
    t->status = (int)db_col_int64(st, 4);
    t->expired_time = db_col_int64(st, 5);
    t->bal = ledger_fold('t', t->id, db_col_int64(st, 6));
    t->unlimited = db_col_int64(st, 7) != 0;
    t->nmodels = split_list(&s->arena, db_col_text(st, 8), &t->models);
    char **nets;
    size_t nnets = split_list(&s->arena, db_col_text(st, 9), &nets);
    t->nets = arena_alloc(&s->arena, (nnets ? nnets : 1) * sizeof *t->nets);
    for (size_t i = 0; i < nnets; i++)
      if (cidr_parse(nets[i], &t->nets[t->nnets]) == 0)
        t->nnets++;
      else
        log_msg(LOG_WARN, "token has an invalid address entry, ignored", "token_id=%lld entry=\"%s\"",
                (long long)t->id, nets[i]);
    /* a list whose entries are all invalid must still refuse everyone */
    if (nnets && !t->nnets) {
      t->nets[0].family = -1;
      t->nnets = 1;
    }
    const char *g = db_col_text(st, 10);
    t->group = *g ? arena_strdup(&s->arena, g) : u->group;
    t->quota_total = db_col_int64(st, 6) + db_col_int64(st, 11);
    t->used_at_load = db_col_int64(st, 11);
    t->response_cache = db_col_int64(st, 12) != 0;
    t->spent_at_load = atomic_load(&t->bal->spent);
    if (s->ntokens >= nt)
      continue;
    strmap_put(&s->tokens, t->key_hash, t);
    s->token_list[s->ntokens++] = t;
    char tid[24];
    snprintf(tid, sizeof tid, "%lld", (long long)t->id);
    strmap_put(&tokens_by_id, arena_strdup(&s->arena, tid), t);
  }
  db_finalize(st);
  int rc = load_limits(db, s, &users_by_id, &tokens_by_id);
  strmap_free(&users_by_id);
  strmap_free(&tokens_by_id);
  return rc;
}

static int chan_prio_cmp(const void *a, const void *b)
{
  const struct snap_channel *x = *(struct snap_channel *const *)a, *y = *(struct snap_channel *const *)b;
  if (x->priority != y->priority)
    return x->priority > y->priority ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

struct route_build {
  struct route *r;
  struct snap_channel **list;
  size_t n, cap;
};

static void build_tiers(struct snapshot *s, struct route_build *rb)
{
  qsort(rb->list, rb->n, sizeof *rb->list, chan_prio_cmp);
  struct route *r = rb->r;
  size_t ntiers = 0;
  for (size_t i = 0; i < rb->n; i++)
    if (i == 0 || rb->list[i]->priority != rb->list[i - 1]->priority)
      ntiers++;
  r->tiers = arena_alloc(&s->arena, ntiers * sizeof *r->tiers);
  for (size_t i = 0; i < rb->n;) {
    size_t j = i;
    while (j < rb->n && rb->list[j]->priority == rb->list[i]->priority)
      j++;
    struct route_tier *t = &r->tiers[r->ntiers++];
    t->priority = rb->list[i]->priority;
    t->n = j - i;
    t->chans = arena_alloc(&s->arena, t->n * sizeof *t->chans);
    t->weights = arena_alloc(&s->arena, t->n * sizeof *t->weights);
    for (size_t k = 0; k < t->n; k++) {
      t->chans[k] = rb->list[i + k];
      t->weights[k] = rb->list[i + k]->weight + 10;
      t->total_weight += t->weights[k];
    }
    i = j;
  }
}

static int load_channels(struct db *db, struct snapshot *s, char *err, size_t errlen)
{
  struct db_stmt *st = db_prepare(db, "SELECT count(*) FROM channels");
  if (!st)
    return -1;
  size_t n = db_step(st) == DB_ROW ? (size_t)db_col_int64(st, 0) : 0;
  db_finalize(st);
  s->channels = arena_alloc(&s->arena, (n ? n : 1) * sizeof *s->channels);

  st = db_prepare(db, "SELECT id, name, type, key, status, base_url, models, \"group\", model_mapping, "
                      "priority, weight, other, max_concurrency, auto_disable, test_model, status_reason "
                      "FROM channels ORDER BY id");
  if (!st)
    return -1;
  struct strmap builds;
  strmap_init(&builds, 64);
  strmap_init(&s->routes, 64);
  while (s->nchannels < n && db_step(st) == DB_ROW) {
    struct snap_channel *c = &s->channels[s->nchannels++];
    c->id = db_col_int64(st, 0);
    c->name = arena_strdup(&s->arena, db_col_text(st, 1));
    c->type = arena_strdup(&s->arena, db_col_text(st, 2));
    c->provider = provider_for_type(c->type);
    c->api = c->provider->api;
    c->api_version = AZURE_DEFAULT_API_VERSION;
    cJSON *other = cJSON_Parse(db_col_text(st, 11));
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(other, "api_version");
    if (cJSON_IsString(av) && av->valuestring[0])
      c->api_version = arena_strdup(&s->arena, av->valuestring);
    const cJSON *rg = cJSON_GetObjectItemCaseSensitive(other, "region");
    c->region = cJSON_IsString(rg) && rg->valuestring[0] ? arena_strdup(&s->arena, rg->valuestring) : NULL;
    cJSON_Delete(other);
    char kerr[300];
    char *key = secret_open(master_key, db_col_text(st, 3), kerr, sizeof kerr);
    if (!key) {
      /* never fall back to sending the stored value upstream: the whole load fails loudly */
      snprintf(err, errlen, "channel %lld (%s): cannot decrypt its upstream key: %s",
               (long long)c->id, c->name, kerr);
      db_finalize(st);
      strmap_free(&builds);
      return -2;
    }
    c->status = (int)db_col_int64(st, 4);
    const char *base = db_col_text(st, 5);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
      bl--;
    c->base_url = arena_strndup(&s->arena, base, bl);
    c->nmodels = split_list(&s->arena, db_col_text(st, 6), &c->models);
    char **groups;
    size_t ngroups = split_list(&s->arena, db_col_text(st, 7), &groups);
    strmap_init(&c->model_map, 4);
    const char *mm = db_col_text(st, 8);
    if (*mm) {
      cJSON *j = cJSON_Parse(mm);
      if (!cJSON_IsObject(j))
        log_msg(LOG_WARN, "channel model_mapping is not a JSON object, ignored", "channel_id=%lld",
                (long long)c->id);
      cJSON *it;
      cJSON_ArrayForEach(it, j) if (cJSON_IsString(it))
        strmap_put(&c->model_map, arena_strdup(&s->arena, it->string),
                   arena_strdup(&s->arena, it->valuestring));
      cJSON_Delete(j);
    }
    c->max_concurrency = (int)db_col_int64(st, 12);
    c->auto_disable = db_col_int64(st, 13) != 0;
    c->test_model = arena_strdup(&s->arena, db_col_text(st, 14));
    c->status_reason = arena_strdup(&s->arena, db_col_text(st, 15));
    c->health = chanstate_of(c->id);
    /* the load runs in one transaction that excludes the writer (see chanstate_fold_status) */
    chanstate_fold_status(c->health, atomic_load(&c->health->auto_disabled), c->status);
    c->priority = db_col_int64(st, 9);
    c->weight = (int)db_col_int64(st, 10);
    if (c->weight < 0)
      c->weight = 0;
    /* headers every upstream request of this channel carries (SNAP_BASE_HEADERS) */
    char auth[8400];   /* gwctl stores keys of up to 8192 bytes */
    static const char *const base_h[] = SNAP_BASE_HEADERS;
    c->headers = NULL;
    for (size_t b = 0; b < sizeof base_h / sizeof *base_h; b++)
      c->headers = curl_slist_append(c->headers, base_h[b]);
    if (c->provider->extra_header)
      c->headers = curl_slist_append(c->headers, c->provider->extra_header);
    if (c->provider->auth == AUTH_GOOGLE_SA) {
      /* the key is a service-account key: the header carries the token got for it (vertex.h) */
      c->vertex = vertex_load(c->id, key, db_col_text(st, 11), c->status != STATUS_DISABLED);
      c->key = arena_strdup(&s->arena, key);
    } else if (*key) {
      if (provider_auth_header(c->provider, key, auth, sizeof auth) == 0) {
        if (auth[0])         /* a signed type (bedrock) has none: attempt.c signs each request */
          c->headers = curl_slist_append(c->headers, auth);
      }
      else
        log_msg(LOG_WARN, "channel key too long for its auth header, not sent", "channel_id=%lld",
                (long long)c->id);
      c->key = arena_strdup(&s->arena, key);
    }
    explicit_bzero(auth, sizeof auth);
    secret_free(key);
    if (c->status != STATUS_ENABLED)
      continue;
    for (size_t g = 0; g < ngroups; g++)
      for (size_t m = 0; m < c->nmodels; m++) {
        char rk[512];
        int kl = snprintf(rk, sizeof rk, "%s\x1f%s", groups[g], c->models[m]);
        if (kl < 0 || (size_t)kl >= sizeof rk)
          continue;
        struct route_build *rb = strmap_get(&builds, rk);
        if (!rb) {
          rb = arena_alloc(&s->arena, sizeof *rb);
          rb->r = arena_alloc(&s->arena, sizeof *rb->r);
          rb->r->group = groups[g];
          rb->r->model = c->models[m];
          const char *key2 = arena_strdup(&s->arena, rk);
          strmap_put(&builds, key2, rb);
          strmap_put(&s->routes, key2, rb->r);
        }
        if (rb->n == rb->cap) {
          rb->cap = rb->cap ? rb->cap * 2 : 4;
          struct snap_channel **nl = arena_alloc(&s->arena, rb->cap * sizeof *nl);
          if (rb->n)
            memcpy(nl, rb->list, rb->n * sizeof *nl);
          rb->list = nl;
        }
        rb->list[rb->n++] = c;
      }
  }
  db_finalize(st);
  for (size_t i = 0; i < builds.nslots; i++) {
    void *v;
    if (strmap_slot(&builds, i, &v))
      build_tiers(s, v);
  }
  strmap_free(&builds);
  (void)err;
  (void)errlen;
  return 0;
}

static void snapshot_free(struct snapshot *s)
{
  if (extra && extra->unload)
    extra->unload(s);
  for (size_t i = 0; i < s->nchannels; i++) {
    /* the key lives in the arena and in the auth header: wipe both before they are freed */
    if (s->channels[i].key)
      explicit_bzero((char *)s->channels[i].key, strlen(s->channels[i].key));
    for (struct curl_slist *h = s->channels[i].headers; h; h = h->next)
      explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(s->channels[i].headers);
    strmap_free(&s->channels[i].model_map);
    if (s->channels[i].vertex)
      vertex_unload(s->channels[i].vertex, s->channels[i].status != STATUS_DISABLED);
  }
  strmap_free(&s->tokens);
  strmap_free(&s->routes);
  strmap_free(&s->prices);
  strmap_free(&s->fallbacks);
  strmap_free(&s->groups);
  arena_free(&s->arena);
  free(s);
}

int snapshot_seal_channel_keys(struct db *db, const struct secret_key *k, char *err, size_t errlen)
{
  int sealed = 0, rc = db_begin(db);
  struct db_stmt *sel = rc == 0 ? db_prepare(db, "SELECT id, key FROM channels WHERE key <> '' AND "
                                                 "substr(key, 1, 4) <> 'enc:' ORDER BY id") : NULL;
  struct db_stmt *upd = sel ? db_prepare(db, "UPDATE channels SET key = ?2 WHERE id = ?1 AND key = ?3")
                            : NULL;
  if (!upd) {
    snprintf(err, errlen, "sealing channel keys: %s", db_errmsg(db));
    db_finalize(sel);
    if (rc == 0)
      db_rollback(db);
    return -1;
  }
  int step;
  while ((step = db_step(sel)) == DB_ROW) {
    const char *plain = db_col_text(sel, 1);
    char *enc = secret_seal(k, plain, strlen(plain), err, errlen);
    if (!enc) {
      rc = -1;
      break;
    }
    db_reset(upd);
    if (db_bind_int64(upd, 1, db_col_int64(sel, 0)) != 0 || db_bind_text(upd, 2, enc) != 0 ||
        db_bind_text(upd, 3, plain) != 0 || db_step(upd) != DB_DONE) {
      snprintf(err, errlen, "sealing channel keys: %s", db_errmsg(db));
      rc = -1;
    }
    free(enc);
    if (rc < 0)
      break;
    sealed++;
  }
  if (rc == 0 && step != DB_DONE && step != DB_ROW) {
    snprintf(err, errlen, "sealing channel keys: %s", db_errmsg(db));
    rc = -1;
  }
  db_finalize(upd);
  db_finalize(sel);
  if (rc == 0 && db_commit(db) != 0) {
    snprintf(err, errlen, "sealing channel keys: %s", db_errmsg(db));
    rc = -1;
  }
  if (rc < 0) {
    db_rollback(db);
    return -1;
  }
  return sealed;
}

struct snapshot *snapshot_load(struct db *db, uint64_t version, char *err, size_t errlen)
{
  struct snapshot *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->version = version;
  s->loaded_at = now_unix();
  /* The balance lock keeps the writer from committing between our read of a balance and the
   * fold of it into the table (see the invariant in snapshot.h). It is taken after BEGIN, in the
   * writer's order (transaction, then lock): the writer holds its transaction while it waits for
   * the lock to commit, so a loader holding the lock while BEGIN IMMEDIATE waited for that
   * transaction stalled both until SQLite's busy timeout failed the reload ("database is
   * locked"). */
  int rc = db_begin(db);
  ledger_lock();
  if (rc == 0)
    rc = load_options(db, s);
  if (rc == 0)
    rc = load_prices_groups(db, s);
  if (rc == 0)
    rc = load_users_tokens(db, s);
  if (rc == 0)
    rc = load_channels(db, s, err, errlen);
  if (rc == 0 && extra && extra->load)
    rc = extra->load(db, s, master_key, err, errlen);
  if (rc == 0)
    rc = load_alerts(db, s);
  if (rc == -1)
    snprintf(err, errlen, "loading the configuration: %s", db_errmsg(db));
  db_rollback(db);
  ledger_unlock();
  if (rc < 0) {
    snapshot_free(s);
    return NULL;
  }
  return s;
}

void snapshot_publish(struct snapshot *s)
{
  pthread_mutex_lock(&current_lock);
  struct snapshot *old = current;
  current = s;
  atomic_store(&current_version, s->version);
  pthread_mutex_unlock(&current_lock);
  if (old)
    snapshot_release(old);
}

struct snapshot *snapshot_acquire(struct snapshot **cache)
{
  if (cache && *cache && (*cache)->version == atomic_load_explicit(&current_version, memory_order_acquire)) {
    atomic_fetch_add_explicit(&(*cache)->refs, 1, memory_order_relaxed);
    return *cache;
  }
  pthread_mutex_lock(&current_lock);
  struct snapshot *s = current;
  if (s)
    atomic_fetch_add(&s->refs, cache ? 2 : 1);
  pthread_mutex_unlock(&current_lock);
  if (cache) {
    if (*cache)
      snapshot_release(*cache);
    *cache = s;
  }
  return s;
}

void snapshot_release(struct snapshot *s)
{
  if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
    snapshot_free(s);
}

uint64_t snapshot_current_version(void)
{
  return atomic_load(&current_version);
}

void snapshot_shutdown(void)
{
  pthread_mutex_lock(&current_lock);
  struct snapshot *s = current;
  current = NULL;
  pthread_mutex_unlock(&current_lock);
  snapshot_release(s);
  ledger_free_all();
  limits_shutdown();
  chanstate_free_all();
  if (extra && extra->shutdown)
    extra->shutdown();
}
