/* keycache: see keycache.h. */
#include "keycache.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "keys.h"

struct keycache_entry {
  uint64_t version;           /* 0: empty (snapshot versions start at 1) */
  const void *value;          /* borrowed from the snapshot of that version */
  size_t len;
  char body[KEY_MAX_LEN];     /* the key body in full: wiped when replaced or the version moves */
};

/* One table a thread (static TLS: no allocation, nothing to free; wiped, not freed). */
static _Thread_local struct keycache_entry table[KEYCACHE_SLOTS];
static _Thread_local uint64_t table_version;

/* The hash's seed, random per process, so a client cannot aim keys at one slot from outside. */
static uint64_t seed = 0x9e3779b97f4a7c15ull;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_setup(void)
{
  uint64_t s;
  if (RAND_bytes((unsigned char *)&s, sizeof s) == 1)
    seed ^= s;
}

size_t keycache_slot(const char *body, size_t len)
{
  pthread_once(&seed_once, seed_setup);
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

void keycache_clear(void)
{
  explicit_bzero(table, sizeof table);
  table_version = 0;
}

/* A lookup or an entry on a version other than the table's: the table's keys belonged to an
 * older snapshot, wipe them all. */
static void on_version(uint64_t version)
{
  if (table_version != version) {
    keycache_clear();
    table_version = version;
  }
}

const void *keycache_get(uint64_t version, const char *body, size_t len)
{
  if (len == 0 || len > KEY_MAX_LEN)
    return NULL;
  on_version(version);
  const struct keycache_entry *e = &table[keycache_slot(body, len)];
  if (e->version != version || e->len != len || CRYPTO_memcmp(e->body, body, len) != 0)
    return NULL;
  return e->value;
}

void keycache_put(uint64_t version, const char *body, size_t len, const void *value)
{
  if (len == 0 || len > KEY_MAX_LEN || version == 0 || !value)
    return;
  on_version(version);
  struct keycache_entry *e = &table[keycache_slot(body, len)];
  explicit_bzero(e->body, sizeof e->body);
  memcpy(e->body, body, len);
  e->len = len;
  e->value = value;
  e->version = version;
}
