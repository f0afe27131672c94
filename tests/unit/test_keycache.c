/* Unit tests of relayd/keycache.c, the worker's table of keys it found in a snapshot: a key is
 * found again only with its own bytes and its own snapshot version; two keys that map to one slot
 * never answer for each other (the later replaces the earlier); a key that differs from a cached
 * one only in its last byte, or is its prefix or extension, misses; a new version makes every
 * entry miss and wipes the table; bodies past KEY_MAX_LEN are never entered; each thread has a
 * table of its own. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../../relayd/keycache.h"
#include "keys.h"
#include "tap.h"

static int tok_a, tok_b, tok_c;

/* a thread that enters a key: its own table, freed when it ends (LeakSanitizer would see it left) */
static void *entering_thread(void *arg)
{
  (void)arg;
  keycache_put(1, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 48, &tok_b);
  return (void *)keycache_get(1, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 48);
}

static void *other_thread(void *arg)
{
  (void)arg;
  /* the main thread's entries are not this thread's */
  return (void *)keycache_get(1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 48);
}

int main(void)
{
  char a[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";   /* 48 */
  size_t n = strlen(a);
  CHECK(keycache_get(1, a, n) == NULL, "an empty table finds nothing");
  keycache_put(1, a, n, &tok_a);
  CHECK(keycache_get(1, a, n) == &tok_a, "a key entered is found with the same bytes and version");

  char last[sizeof a];
  memcpy(last, a, sizeof a);
  last[n - 1] = 'B';
  CHECK(keycache_get(1, last, n) == NULL, "a key differing in its last byte misses");
  CHECK(keycache_get(1, a, n - 1) == NULL, "the key's prefix misses");
  char longer[64];
  snprintf(longer, sizeof longer, "%sA", a);
  CHECK(keycache_get(1, longer, n + 1) == NULL, "the key with one byte more misses");
  CHECK(keycache_get(1, a, n) == &tok_a, "the entry is still there after the misses");

  /* two keys of one slot: search a key that collides with a */
  size_t slot = keycache_slot(a, n);
  char b[sizeof a];
  int found = 0;
  for (int i = 0; i < 100000 && !found; i++) {
    snprintf(b, sizeof b, "%048d", i);
    found = keycache_slot(b, n) == slot && memcmp(a, b, n) != 0;
  }
  CHECK(found, "a second key of the same slot was found");
  CHECK(keycache_get(1, b, n) == NULL, "a colliding key that was never entered misses (compared in full)");
  keycache_put(1, b, n, &tok_b);
  CHECK(keycache_get(1, b, n) == &tok_b, "the colliding key, once entered, is found");
  CHECK(keycache_get(1, a, n) == NULL, "the key it replaced misses (never the other key's token)");
  keycache_put(1, a, n, &tok_a);
  CHECK(keycache_get(1, a, n) == &tok_a && keycache_get(1, b, n) == NULL, "and back");

  /* versions */
  CHECK(keycache_get(2, a, n) == NULL, "a key entered on version 1 misses on version 2");
  CHECK(keycache_get(1, a, n) == NULL, "the table was wiped at version 2: version 1's entry is gone");
  keycache_put(2, a, n, &tok_c);
  CHECK(keycache_get(2, a, n) == &tok_c, "entered again on version 2, found with version 2's token");

  /* bounds */
  char big[KEY_MAX_LEN + 2];
  memset(big, 'x', sizeof big);
  keycache_put(2, big, KEY_MAX_LEN + 1, &tok_a);
  CHECK(keycache_get(2, big, KEY_MAX_LEN + 1) == NULL, "a body over KEY_MAX_LEN is never entered");
  keycache_put(2, big, KEY_MAX_LEN, &tok_b);
  CHECK(keycache_get(2, big, KEY_MAX_LEN) == &tok_b, "a body of KEY_MAX_LEN is");
  keycache_put(2, "", 0, &tok_a);
  CHECK(keycache_get(2, "", 0) == NULL, "an empty body is never entered");

  keycache_put(1, a, n, &tok_a);
  pthread_t th;
  void *res = &tok_b;
  CHECK(pthread_create(&th, NULL, other_thread, NULL) == 0 && pthread_join(th, &res) == 0 && res == NULL,
        "another thread's table does not hold this thread's keys");

  res = NULL;
  CHECK(pthread_create(&th, NULL, entering_thread, NULL) == 0 && pthread_join(th, &res) == 0 && res == &tok_b,
        "a thread's own entry is found in its table (freed when it ends)");
  CHECK(keycache_get(1, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 48) == NULL,
        "and is not in this thread's");

  keycache_clear();
  CHECK(keycache_get(1, a, n) == NULL, "keycache_clear empties the table");
  return tap_done();
}
