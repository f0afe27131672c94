/* respcache: see respcache.h. */
#include "respcache.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "billing.h"
#include "log.h"
#include "request.h"

#define RC_BUCKETS 4096               /* a power of two */
#define RC_OVERHEAD 160               /* bytes counted per entry besides its body */
#define RC_HEADER "x-relay-cache"

struct rc_entry {
  unsigned char key[32];
  struct rc_entry *hnext;             /* bucket chain */
  struct rc_entry *prev, *next;       /* LRU list: head = most recently used */
  int64_t expires_ms;
  struct usage usage;                 /* what the answer was billed with */
  const char *ctype;                  /* static string */
  size_t len;
  char *data;                         /* owned */
};

/* One cache for the process, under one mutex: a lookup or an insert is a hash and a few pointer
 * moves (the copy of a hit's bytes is made under it, bounded by the entry bound). */
static pthread_mutex_t rc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rc_entry *rc_table[RC_BUCKETS];
static struct rc_entry *rc_head, *rc_tail;
static size_t rc_bytes, rc_count;

static size_t bucket_of(const unsigned char *key)
{
  size_t h;
  memcpy(&h, key, sizeof h);
  return h & (RC_BUCKETS - 1);
}

static size_t entry_cost(const struct rc_entry *e)
{
  return e->len + RC_OVERHEAD;
}

static void lru_unlink(struct rc_entry *e)
{
  if (e->prev)
    e->prev->next = e->next;
  else
    rc_head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    rc_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_front(struct rc_entry *e)
{
  e->prev = NULL;
  e->next = rc_head;
  if (rc_head)
    rc_head->prev = e;
  rc_head = e;
  if (!rc_tail)
    rc_tail = e;
}

/* Takes e out of the table and the list and frees it (under rc_mu). */
static void drop(struct rc_entry *e)
{
  struct rc_entry **p = &rc_table[bucket_of(e->key)];
  while (*p && *p != e)
    p = &(*p)->hnext;
  if (*p)
    *p = e->hnext;
  lru_unlink(e);
  rc_bytes -= entry_cost(e);
  rc_count--;
  free(e->data);
  free(e);
}

static struct rc_entry *find(const unsigned char *key)
{
  for (struct rc_entry *e = rc_table[bucket_of(key)]; e; e = e->hnext)
    if (memcmp(e->key, key, sizeof e->key) == 0)
      return e;
  return NULL;
}

static size_t bound_bytes(const struct request *r)
{
  return (size_t)r->snap->opt.response_cache_mb << 20;
}

/* ---- the key ---- */

static int cmp_child(const void *a, const void *b)
{
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Sorts every object's members by key, in place (depth bounded by cJSON's own nesting limit).
 * Returns -1 when out of memory. */
static int canonicalize(cJSON *node, int depth)
{
  if (depth > CJSON_NESTING_LIMIT)
    return -1;
  size_t n = 0;
  for (cJSON *c = node->child; c; c = c->next) {
    if (canonicalize(c, depth + 1) < 0)
      return -1;
    n++;
  }
  if (!cJSON_IsObject(node) || n < 2)
    return 0;
  cJSON **kids = malloc(n * sizeof *kids);
  if (!kids)
    return -1;
  size_t i = 0;
  for (cJSON *c = node->child; c; c = c->next)
    kids[i++] = c;
  qsort(kids, n, sizeof *kids, cmp_child);
  for (i = 0; i < n; i++) {
    kids[i]->prev = i ? kids[i - 1] : kids[n - 1];   /* cJSON: the head's prev is the tail */
    kids[i]->next = i + 1 < n ? kids[i + 1] : NULL;
  }
  node->child = kids[0];
  free(kids);
  return 0;
}

/* Top-level fields that say who asks, not what: not part of the key. */
static const char *const unkeyed[] = {"stream", "user", "safety_identifier", "prompt_cache_key", "metadata"};

static bool make_key(struct request *r, const cJSON *parsed)
{
  cJSON *c = cJSON_Duplicate(parsed, true);          /* owned here */
  if (!c)
    return false;
  for (size_t i = 0; i < sizeof unkeyed / sizeof unkeyed[0]; i++)
    cJSON_DeleteItemFromObjectCaseSensitive(c, unkeyed[i]);
  char *text = canonicalize(c, 0) == 0 ? cJSON_PrintUnformatted(c) : NULL;   /* owned here */
  cJSON_Delete(c);
  if (!text)
    return false;
  EVP_MD_CTX *h = EVP_MD_CTX_new();                  /* owned here */
  bool ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1;
  const char *parts[] = {r->token->group, r->def->path, r->def->suffix ? r->def->suffix : "", r->client->name,
                         r->rq.stream ? (r->json_array ? "array" : "sse") : "whole", r->path_model};
  for (size_t i = 0; ok && i < sizeof parts / sizeof parts[0]; i++)
    ok = EVP_DigestUpdate(h, parts[i], strlen(parts[i]) + 1) == 1;   /* with its NUL: no two splits collide */
  unsigned int mdlen = 0;
  ok = ok && EVP_DigestUpdate(h, text, strlen(text)) == 1 && EVP_DigestFinal_ex(h, r->rc_key, &mdlen) == 1 &&
       mdlen == sizeof r->rc_key;
  EVP_MD_CTX_free(h);
  cJSON_free(text);
  return ok;
}

static bool listed(const char *list, const char *model)
{
  size_t ml = strlen(model);
  for (const char *p = list; p && *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t l = strcspn(p, ",");
    size_t t = l;
    while (t && p[t - 1] == ' ')
      t--;
    if ((t == 1 && *p == '*') || (t == ml && t && strncmp(p, model, ml) == 0))
      return true;
    p += l;
  }
  return false;
}

void respcache_begin(struct request *r)
{
  const struct snap_options *o = &r->snap->opt;
  if (o->response_cache_mb <= 0 || r->def->media)
    return;
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, RC_HEADER);
  if (h && strcasecmp(h, "no-store") == 0)
    return;
  bool force = h && strcasecmp(h, "force") == 0;
  if (!force && !r->token->response_cache && !listed(o->response_cache_models, r->rq.model))
    return;
  const cJSON *parsed = r->croot ? r->croot : r->root;
  if (parsed && make_key(r, parsed))
    r->rc_on = true;
}

struct MHD_Response *respcache_hit(struct request *r)
{
  if (!r->rc_on)
    return NULL;
  int64_t now = now_unix_ms();
  char *copy = NULL;
  size_t len = 0;
  const char *ctype = NULL;
  pthread_mutex_lock(&rc_mu);
  struct rc_entry *e = find(r->rc_key);
  if (e && e->expires_ms <= now) {
    drop(e);
    e = NULL;
  }
  if (e && (copy = malloc(e->len ? e->len : 1)) != NULL) {
    memcpy(copy, e->data, e->len);
    len = e->len;
    ctype = e->ctype;
    r->usage = e->usage;
    lru_unlink(e);
    lru_front(e);
  }
  pthread_mutex_unlock(&rc_mu);
  if (!copy)
    return NULL;
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(copy);
    return NULL;
  }
  r->cache_hit = true;
  r->usage_upstream = true;          /* the usage the stored answer was billed with */
  r->usage_final = true;
  r->status_known = true;
  r->up_status = 200;
  r->upstream_done = true;
  r->final_status = 200;
  MHD_add_response_header(resp, "Content-Type", ctype);
  if (r->rq.stream)
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
  return resp;
}

void respcache_header(const struct request *r, struct MHD_Response *resp)
{
  if (r->rc_on)
    MHD_add_response_header(resp, RC_HEADER, r->cache_hit ? "hit" : "miss");
}

static void insert(struct request *r, const char *data, size_t len, const char *ctype)
{
  size_t bound = bound_bytes(r);
  if (!r->rc_on || r->cache_hit || !bound || len + RC_OVERHEAD > bound / 8)
    return;
  struct rc_entry *e = calloc(1, sizeof *e);     /* owned by the table from the insert on */
  char *copy = malloc(len ? len : 1);
  if (!e || !copy) {
    free(e);
    free(copy);
    return;
  }
  memcpy(copy, data, len);
  memcpy(e->key, r->rc_key, sizeof e->key);
  e->data = copy;
  e->len = len;
  e->ctype = ctype;
  e->usage = r->usage;
  e->expires_ms = now_unix_ms() + r->snap->opt.response_cache_ttl_s * 1000;
  pthread_mutex_lock(&rc_mu);
  struct rc_entry *old = find(e->key);
  if (old)
    drop(old);
  while (rc_tail && rc_bytes + entry_cost(e) > bound)
    drop(rc_tail);                               /* the least recently used first */
  size_t b = bucket_of(e->key);
  e->hnext = rc_table[b];
  rc_table[b] = e;
  lru_front(e);
  rc_bytes += entry_cost(e);
  rc_count++;
  pthread_mutex_unlock(&rc_mu);
}

void respcache_store_whole(struct request *r, const char *data, size_t len)
{
  if (r->rc_on && data)
    insert(r, data, len, "application/json");
}

void respcache_capture(struct request *r, const char *data, size_t len)
{
  if (!r->rc_on || r->cache_hit || r->rc_dead)
    return;
  size_t cap = bound_bytes(r) / 8;
  if (!r->rc_fill) {
    r->rc_fill = malloc(sizeof *r->rc_fill);     /* owned by r: respcache_request_free */
    if (!r->rc_fill) {
      r->rc_dead = true;
      return;
    }
    buf_init(r->rc_fill, cap);
  }
  if (buf_append(r->rc_fill, data, len) < 0) {
    r->rc_dead = true;                           /* over the entry bound: not kept */
    respcache_request_free(r);
  }
}

void respcache_stream_end(struct request *r, bool complete)
{
  if (complete && !r->rc_dead && r->rc_fill && r->rc_fill->data)
    insert(r, r->rc_fill->data, r->rc_fill->len, r->json_array ? "application/json" : "text/event-stream");
  respcache_request_free(r);
}

int64_t respcache_charge(const struct request *r, int64_t full)
{
  int64_t pct = r->snap->opt.response_cache_hit_percent;
  return pct <= 0 || full <= 0 ? 0 : quota_ratio((double)full, (double)pct / 100.0, QUOTA_ROUND_UP);
}

void respcache_request_free(struct request *r)
{
  if (!r->rc_fill)
    return;
  buf_free(r->rc_fill);
  free(r->rc_fill);
  r->rc_fill = NULL;
}

void respcache_clear(void)
{
  pthread_mutex_lock(&rc_mu);
  while (rc_head)
    drop(rc_head);
  pthread_mutex_unlock(&rc_mu);
}

void respcache_stats(size_t *entries, size_t *bytes)
{
  pthread_mutex_lock(&rc_mu);
  *entries = rc_count;
  *bytes = rc_bytes;
  pthread_mutex_unlock(&rc_mu);
}
