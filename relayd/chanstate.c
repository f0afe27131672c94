/* chanstate: see chanstate.h. */
#include "chanstate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "util.h"

/* channel id -> struct chan_health; touched only when snapshots load (admin thread) */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct strmap table;

struct chan_health *chanstate_of(int64_t channel_id)
{
  char key[32];
  snprintf(key, sizeof key, "%lld", (long long)channel_id);
  pthread_mutex_lock(&table_lock);
  if (!table.slots)
    strmap_init(&table, 64);
  struct chan_health *h = strmap_get(&table, key);
  if (!h) {
    h = calloc(1, sizeof *h);
    char *k = strdup(key);
    if (!h || !k)
      abort();
    h->id = channel_id;
    strmap_put(&table, k, h);
  }
  pthread_mutex_unlock(&table_lock);
  return h;
}

void chanstate_free_all(void)
{
  pthread_mutex_lock(&table_lock);
  for (size_t i = 0; i < table.nslots; i++) {
    void *v;
    const char *k = strmap_slot(&table, i, &v);
    if (k) {
      free((char *)k);
      free(v);
    }
  }
  strmap_free(&table);
  pthread_mutex_unlock(&table_lock);
}

void chanstate_fold_status(struct chan_health *h, int before, int db_status)
{
  if (db_status == STATUS_AUTO_DISABLED) {
    atomic_store(&h->auto_disabled, HEALTH_DISABLED);
  } else if (db_status == STATUS_DISABLED) {
    atomic_store(&h->auto_disabled, HEALTH_ENABLED);      /* a manual disable rules */
  } else if (before == HEALTH_DISABLED) {
    /* relayd's disable was committed before this read, and the row says enabled again: an
     * administrator (or a passing test) re-enabled it: start afresh */
    int expect = HEALTH_DISABLED;
    if (atomic_compare_exchange_strong(&h->auto_disabled, &expect, HEALTH_ENABLED)) {
      atomic_store(&h->consecutive_failures, 0);
      atomic_store(&h->open_until_ms, 0);
      atomic_store(&h->trial, 0);
    }
  }
  /* HEALTH_DISABLE_PENDING: the writer has not committed yet; the flag stays */
}

