/* affinity: see affinity.h. */
#include "affinity.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "snapshot.h"
#include "util.h"

#define WAYS 8
#define NSETS (AFFINITY_CAPACITY / WAYS)

struct entry {
  uint64_t h;                          /* 0: free */
  int64_t channel_id;
  int key_idx;
  int64_t expires_ms, used_ms;
  uint64_t hits;
  char text[AFFINITY_TEXT_MAX + 1];    /* the key's first bytes, to list and clear */
  char group[33];
  char model[65];
};

struct set {
  pthread_mutex_t lock;
  struct entry e[WAYS];
};

/* NSETS sets, allocated once (first remember), freed at exit; the pointer is published once */
static struct set *_Atomic sets;
static pthread_once_t sets_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t hits, misses;

static void sets_alloc(void)
{
  struct set *s = calloc(NSETS, sizeof *s);     /* owned here until affinity_free */
  if (!s)
    abort();
  for (size_t i = 0; i < NSETS; i++)
    pthread_mutex_init(&s[i].lock, NULL);
  atomic_store(&sets, s);
}

static uint64_t fnv1a(const char *s, size_t n, uint64_t h)
{
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211u;
  return h;
}

uint64_t affinity_key_of(struct request *r)
{
  r->aff_hash = 0;
  r->aff_key_idx = -1;
  if (r->snap->opt.affinity_ttl_s <= 0)
    return 0;
  const char *k = NULL;
  const char *hn = r->snap->opt.affinity_header;
  if (hn && *hn)
    k = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, hn);
  const cJSON *j = r->croot ? r->croot : r->root;
  if (!k || !*k)
    k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "prompt_cache_key"));
  if (!k || !*k)
    k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "user"));
  if (!k || !*k)
    k = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "metadata"), "user_id"));
  if (!k || !*k)
    return 0;
  /* the group and model route differently: they are part of the key */
  const char *g = r->token->group;
  uint64_t h = fnv1a(g, strlen(g) + 1, 1469598103934665603u);
  h = fnv1a(r->route_model, strlen(r->route_model) + 1, h);
  h = fnv1a(k, strlen(k), h);
  r->aff_hash = h ? h : 1;
  copy_str(r->aff_text, sizeof r->aff_text, k);
  return r->aff_hash;
}

bool affinity_lookup(uint64_t h, int64_t *channel_id, int *key_idx)
{
  struct set *all = atomic_load(&sets);
  if (!all || !h)
    return false;
  struct set *s = &all[h % NSETS];
  int64_t now = now_unix_ms();
  bool found = false;
  pthread_mutex_lock(&s->lock);
  for (int i = 0; i < WAYS; i++) {
    struct entry *e = &s->e[i];
    if (e->h == h && e->expires_ms > now) {
      *channel_id = e->channel_id;
      *key_idx = e->key_idx;
      e->used_ms = now;
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&s->lock);
  return found;
}

void affinity_remember(const struct request *r, int64_t channel_id, int key_idx)
{
  if (!r->aff_hash)
    return;
  pthread_once(&sets_once, sets_alloc);
  struct set *s = &atomic_load(&sets)[r->aff_hash % NSETS];
  int64_t now = now_unix_ms();
  pthread_mutex_lock(&s->lock);
  struct entry *e = NULL;
  for (int i = 0; i < WAYS && !e; i++)
    if (s->e[i].h == r->aff_hash)
      e = &s->e[i];
  if (e && e->channel_id == channel_id && e->key_idx == key_idx && e->expires_ms > now) {
    e->hits++;     /* the same channel served it again */
  } else {
    if (!e) {      /* a free or expired way, else the least recently used one */
      for (int i = 0; i < WAYS; i++) {
        struct entry *c = &s->e[i];
        if (!c->h || c->expires_ms <= now) {
          e = c;
          break;
        }
        if (!e || c->used_ms < e->used_ms)
          e = c;
      }
    }
    e->h = r->aff_hash;
    e->channel_id = channel_id;
    e->key_idx = key_idx;
    e->hits = 0;
    copy_str(e->text, sizeof e->text, r->aff_text);
    copy_str(e->group, sizeof e->group, r->token->group);
    copy_str(e->model, sizeof e->model, r->route_model);
  }
  e->used_ms = now;
  e->expires_ms = now + r->snap->opt.affinity_ttl_s * 1000;
  pthread_mutex_unlock(&s->lock);
}

void affinity_count(bool hit)
{
  atomic_fetch_add_explicit(hit ? &hits : &misses, 1, memory_order_relaxed);
}

uint64_t affinity_hits(void)
{
  return atomic_load(&hits);
}

uint64_t affinity_misses(void)
{
  return atomic_load(&misses);
}

size_t affinity_entries(void)
{
  struct set *all = atomic_load(&sets);
  size_t n = 0;
  int64_t now = now_unix_ms();
  for (size_t i = 0; all && i < NSETS; i++) {
    pthread_mutex_lock(&all[i].lock);
    for (int j = 0; j < WAYS; j++)
      n += all[i].e[j].h && all[i].e[j].expires_ms > now;
    pthread_mutex_unlock(&all[i].lock);
  }
  return n;
}

cJSON *affinity_list_json(void)
{
  cJSON *arr = cJSON_CreateArray();
  struct set *all = atomic_load(&sets);
  int64_t now = now_unix_ms();
  for (size_t i = 0; arr && all && i < NSETS; i++) {
    pthread_mutex_lock(&all[i].lock);
    for (int j = 0; j < WAYS; j++) {
      const struct entry *e = &all[i].e[j];
      if (!e->h || e->expires_ms <= now)
        continue;
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "key", e->text);
      cJSON_AddStringToObject(o, "group", e->group);
      cJSON_AddStringToObject(o, "model", e->model);
      cJSON_AddNumberToObject(o, "channel_id", (double)e->channel_id);
      cJSON_AddNumberToObject(o, "key_index", e->key_idx);
      cJSON_AddNumberToObject(o, "expires_in_s", (double)((e->expires_ms - now + 999) / 1000));
      cJSON_AddNumberToObject(o, "hits", (double)e->hits);
      cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&all[i].lock);
  }
  return arr;
}

size_t affinity_clear(const char *key)
{
  struct set *all = atomic_load(&sets);
  size_t n = 0;
  for (size_t i = 0; all && i < NSETS; i++) {
    pthread_mutex_lock(&all[i].lock);
    for (int j = 0; j < WAYS; j++) {
      struct entry *e = &all[i].e[j];
      if (e->h && (!key || strcmp(e->text, key) == 0)) {
        memset(e, 0, sizeof *e);
        n++;
      }
    }
    pthread_mutex_unlock(&all[i].lock);
  }
  return n;
}

void affinity_free(void)
{
  struct set *all = atomic_exchange(&sets, NULL);
  for (size_t i = 0; all && i < NSETS; i++)
    pthread_mutex_destroy(&all[i].lock);
  free(all);
}
