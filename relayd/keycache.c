/* keycache: see keycache.h. */
#include "keycache.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

struct keycache_entry {
  uint64_t version;           /* 0: empty (snapshot versions start at 1) */
  const void *value;          /* borrowed from the snapshot of that version */
  size_t len;
  char body[KEY_MAX_LEN];     /* the key body in full: wiped when replaced or the version moves */
};

struct keycache_table {
  uint64_t seed;              /* the slot hash's seed: random per table, so a client cannot aim
                                 keys at one slot from outside */
  uint64_t version;           /* the snapshot version of the entries */
  struct keycache_entry e[KEYCACHE_SLOTS];
};

/* This thread's table: allocated by its first entry (threads that never authenticate have none),
 * owned by the thread's key slot, wiped and freed when the thread ends. */
static _Thread_local struct keycache_table *table;
static pthread_key_t table_key;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static bool table_key_ok;

static void table_free(void *p)
{
  if (p) {
    explicit_bzero(p, sizeof(struct keycache_table));
    free(p);
  }
}

static void table_key_setup(void)
{
  table_key_ok = pthread_key_create(&table_key, table_free) == 0;
}

/* This thread's table, made on first use; NULL without memory (then nothing is cached). */
static struct keycache_table *table_get(void)
{
  if (table)
    return table;
  pthread_once(&table_once, table_key_setup);
  if (!table_key_ok)
    return NULL;
  struct keycache_table *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  if (RAND_bytes((unsigned char *)&t->seed, sizeof t->seed) != 1)
    t->seed = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull;
  if (pthread_setspecific(table_key, t) != 0) {
    free(t);
    return NULL;
  }
  return table = t;
}

static size_t slot_of(uint64_t seed, const char *body, size_t len)
{
  uint64_t h = seed ^ (len * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, body + i, 8);
    h = (h ^ w) * 0x9fb21c651e98df25ull;
    h ^= h >> 29;
  }
  uint64_t w = 0;
  memcpy(&w, body + i, len - i);
  h = (h ^ w) * 0x9fb21c651e98df25ull;
  h ^= h >> 32;
  return (size_t)(h % KEYCACHE_SLOTS);
}

size_t keycache_slot(const char *body, size_t len)
{
  struct keycache_table *t = table_get();
  return slot_of(t ? t->seed : 0, body, len);
}

void keycache_clear(void)
{
  if (table) {
    uint64_t seed = table->seed;
    explicit_bzero(table, sizeof *table);
    table->seed = seed;
  }
}

/* The table's keys belonged to an older snapshot: wipe them all. */
static void on_version(struct keycache_table *t, uint64_t version)
{
  if (t->version != version) {
    explicit_bzero(t->e, sizeof t->e);
    t->version = version;
  }
}

const void *keycache_get(uint64_t version, const char *body, size_t len)
{
  struct keycache_table *t = table;
  if (!t || len == 0 || len > KEY_MAX_LEN)
    return NULL;
  on_version(t, version);
  const struct keycache_entry *e = &t->e[slot_of(t->seed, body, len)];
  if (e->version != version || e->len != len || CRYPTO_memcmp(e->body, body, len) != 0)
    return NULL;
  return e->value;
}

void keycache_put(uint64_t version, const char *body, size_t len, const void *value)
{
  struct keycache_table *t;
  if (len == 0 || len > KEY_MAX_LEN || version == 0 || !value || !(t = table_get()))
    return;
  on_version(t, version);
  struct keycache_entry *e = &t->e[slot_of(t->seed, body, len)];
  explicit_bzero(e->body, sizeof e->body);
  memcpy(e->body, body, len);
  e->len = len;
  e->value = value;
  e->version = version;
}
