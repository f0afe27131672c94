/* util: see util.h. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void buf_init(struct buf *b, size_t cap)
{
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
  b->cap = cap;
}

void buf_init_fixed(struct buf *b, char *mem, size_t n)
{
  /* alloc = n and cap = n - 1: buf_reserve always finds room and never reallocates mem */
  b->data = mem;
  b->len = 0;
  b->alloc = n;
  b->cap = n ? n - 1 : 0;
  if (n)
    mem[0] = '\0';
}

static int buf_reserve(struct buf *b, size_t need)
{
  if (need > b->cap)
    return -1;
  if (need + 1 <= b->alloc)
    return 0;
  size_t na = b->alloc ? b->alloc : 256;
  while (na < need + 1)
    na *= 2;
  if (na > b->cap + 1)
    na = b->cap + 1;
  char *p = realloc(b->data, na);
  if (!p)
    return -1;
  b->data = p;
  b->alloc = na;
  return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
  if (n > b->cap - b->len || buf_reserve(b, b->len + n) < 0)
    return -1;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
  return buf_append(b, s, strlen(s));
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -1;
  if ((size_t)n < sizeof small)
    return buf_append(b, small, (size_t)n);
  if ((size_t)n > b->cap - b->len || buf_reserve(b, b->len + (size_t)n) < 0)
    return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void buf_consume(struct buf *b, size_t n)
{
  if (n >= b->len) {
    b->len = 0;
  } else {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
  }
  if (b->data)
    b->data[b->len] = '\0';
}

void buf_reset(struct buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->alloc = 0;
}

char *buf_steal(struct buf *b, size_t *len)
{
  char *p = b->data;
  if (len)
    *len = b->len;
  b->data = NULL;
  b->len = b->alloc = 0;
  return p;
}

int buf_append_json_str(struct buf *b, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  if (buf_append(b, "\"", 1) < 0)
    return -1;
  const char *run = s;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    if (buf_append(b, run, (size_t)(p - run)) < 0)
      return -1;
    char esc[7] = {'\\', 0};
    size_t n = 2;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
      n = 6;
    }
    if (buf_append(b, esc, n) < 0)
      return -1;
    run = p + 1;
  }
  if (buf_append(b, run, strlen(run)) < 0)
    return -1;
  return buf_append(b, "\"", 1);
}

/* ---- arena ---- */
struct arena_block {
  struct arena_block *next;
  size_t used, size;
  max_align_t data[];
};

void *arena_alloc(struct arena *a, size_t n)
{
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  struct arena_block *blk = a->head;
  if (!blk || blk->size - blk->used < n) {
    size_t size = n > 16384 ? n : 16384;
    blk = malloc(sizeof *blk + size);
    if (!blk) {
      fputs("relay: out of memory\n", stderr);
      abort();
    }
    blk->used = 0;
    blk->size = size;
    blk->next = a->head;
    a->head = blk;
  }
  void *p = (char *)blk->data + blk->used;
  blk->used += n;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
  return arena_strndup(a, s ? s : "", s ? strlen(s) : 0);
}

void arena_free(struct arena *a)
{
  struct arena_block *b = a->head;
  while (b) {
    struct arena_block *n = b->next;
    free(b);
    b = n;
  }
  a->head = NULL;
}

/* ---- strmap ---- */
struct strmap_slot {
  const char *key;
  size_t keylen;
  uint64_t hash;
  void *val;
};

size_t put_hex(char *p, unsigned long long v, int width)
{
  static const char digits[] = "0123456789abcdef";
  int k = 1;                      /* v's digits, then written from the last one back */
  for (unsigned long long t = v >> 4; t; t >>= 4)
    k++;
  if (k < width)
    k = width;
  for (int i = k - 1; i >= 0; i--, v >>= 4)
    p[i] = digits[v & 15];
  return (size_t)k;
}

uint64_t hash_bytes(const void *p, size_t n)
{
  /* FNV-1a, 64 bit */
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

void strmap_init(struct strmap *m, size_t expected)
{
  size_t n = 16;
  while (n < expected * 2)
    n *= 2;
  m->slots = calloc(n, sizeof *m->slots);
  if (!m->slots)
    abort();
  m->nslots = n;
  m->count = 0;
}

static void strmap_grow(struct strmap *m)
{
  struct strmap old = *m;
  strmap_init(m, old.nslots);
  for (size_t i = 0; i < old.nslots; i++)
    if (old.slots[i].key) {
      size_t j = old.slots[i].hash & (m->nslots - 1);
      while (m->slots[j].key)
        j = (j + 1) & (m->nslots - 1);
      m->slots[j] = old.slots[i];
      m->count++;
    }
  free(old.slots);
}

void strmap_put(struct strmap *m, const char *key, void *val)
{
  if ((m->count + 1) * 2 > m->nslots)
    strmap_grow(m);
  size_t len = strlen(key);
  uint64_t h = hash_bytes(key, len);
  size_t j = h & (m->nslots - 1);
  while (m->slots[j].key) {
    if (m->slots[j].hash == h && m->slots[j].keylen == len && memcmp(m->slots[j].key, key, len) == 0) {
      m->slots[j].val = val;
      return;
    }
    j = (j + 1) & (m->nslots - 1);
  }
  m->slots[j] = (struct strmap_slot){key, len, h, val};
  m->count++;
}

void *strmap_getn(const struct strmap *m, const char *key, size_t len)
{
  if (!m->slots)
    return NULL;
  uint64_t h = hash_bytes(key, len);
  size_t j = h & (m->nslots - 1);
  while (m->slots[j].key) {
    if (m->slots[j].hash == h && m->slots[j].keylen == len && memcmp(m->slots[j].key, key, len) == 0)
      return m->slots[j].val;
    j = (j + 1) & (m->nslots - 1);
  }
  return NULL;
}

void *strmap_get(const struct strmap *m, const char *key)
{
  return strmap_getn(m, key, strlen(key));
}

const char *strmap_slot(const struct strmap *m, size_t i, void **val)
{
  if (val)
    *val = m->slots[i].val;
  return m->slots[i].key;
}

void strmap_free(struct strmap *m)
{
  free(m->slots);
  m->slots = NULL;
  m->nslots = m->count = 0;
}

/* ---- live-state tables ---- */
void *state_table_get(struct state_table *t, const char *key, const void *proto)
{
  pthread_mutex_lock(&t->lock);
  if (!t->map.slots)
    strmap_init(&t->map, t->expected);
  void *e = strmap_get(&t->map, key);
  if (!e) {
    e = calloc(1, t->size);          /* owned by the table until state_table_free */
    char *k = strdup(key);
    if (!e || !k)
      abort();
    if (proto)
      memcpy(e, proto, t->size);
    strmap_put(&t->map, k, e);
  }
  pthread_mutex_unlock(&t->lock);
  return e;
}

void state_table_free(struct state_table *t)
{
  pthread_mutex_lock(&t->lock);
  for (size_t i = 0; i < t->map.nslots; i++) {
    void *v;
    const char *k = strmap_slot(&t->map, i, &v);
    if (k) {
      free((char *)k);
      free(v);
    }
  }
  strmap_free(&t->map);
  pthread_mutex_unlock(&t->lock);
}

/* ---- clocks ---- */
uint64_t now_us_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct timespec realtime_in_us(uint64_t us)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += (long)(us % 1000000u) * 1000L;
  ts.tv_sec += (time_t)(us / 1000000u) + ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  return ts;
}

int64_t now_unix(void)
{
  return (int64_t)time(NULL);
}

int64_t now_unix_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- parsing ---- */
size_t split_list(struct arena *a, const char *s, char ***items)
{
  size_t n = 0, cap = 1;
  for (const char *p = s; *p; p++)
    if (*p == ',')
      cap++;
  char **out = arena_alloc(a, cap * sizeof *out);
  const char *p = s;
  while (*p) {
    const char *e = strchr(p, ',');
    if (!e)
      e = p + strlen(p);
    const char *b = p, *t = e;
    while (b < t && isspace((unsigned char)*b))
      b++;
    while (t > b && isspace((unsigned char)t[-1]))
      t--;
    if (t > b)
      out[n++] = arena_strndup(a, b, (size_t)(t - b));
    p = *e ? e + 1 : e;
  }
  *items = out;
  return n;
}

int parse_int64(const char *s, int64_t *out)
{
  char *end;
  if (!s || !*s)
    return -1;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s)
    return -1;
  *out = v;
  return 0;
}

bool has_prefix_ci(const char *s, const char *prefix)
{
  return strncasecmp(s, prefix, strlen(prefix)) == 0;
}
