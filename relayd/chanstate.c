/* chanstate: see chanstate.h. */
#include "chanstate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codes.h"
#include "util.h"

/* channel id -> struct chan_health; touched only when snapshots load (admin thread) */
static struct state_table table = STATE_TABLE_INIT(struct chan_health, 64);

struct chan_health *chanstate_of(int64_t channel_id)
{
  char key[32];
  snprintf(key, sizeof key, "%lld", (long long)channel_id);
  struct chan_health proto = {.id = channel_id};
  return state_table_get(&table, key, &proto);
}

void chanstate_free_all(void)
{
  state_table_free(&table);
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

