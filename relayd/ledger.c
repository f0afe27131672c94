/* ledger: see ledger.h. */
#include "ledger.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct strmap balances;            /* "u<id>" / "t<id>" -> struct balance; under lock */

void ledger_lock(void)
{
  pthread_mutex_lock(&lock);
}

void ledger_unlock(void)
{
  pthread_mutex_unlock(&lock);
}

static struct balance *find(char kind, int64_t id, char *key, size_t keylen)
{
  snprintf(key, keylen, "%c%lld", kind, (long long)id);
  return balances.slots ? strmap_get(&balances, key) : NULL;
}

/* the database moved by (db_value - db_base) since we last looked */
static void fold_into(struct balance *b, int64_t db_value)
{
  atomic_fetch_add(&b->avail, db_value - b->db_base);
  b->db_base = db_value;
}

struct balance *ledger_fold(char kind, int64_t id, int64_t db_value)
{
  char key[32];
  struct balance *b = find(kind, id, key, sizeof key);
  if (b) {
    fold_into(b, db_value);
    return b;
  }
  if (!balances.slots)
    strmap_init(&balances, 1024);
  b = calloc(1, sizeof *b);
  char *k = strdup(key);
  if (!b || !k)
    abort();
  atomic_init(&b->avail, db_value);
  b->db_base = db_value;
  strmap_put(&balances, k, b);
  return b;
}

void ledger_refold(char kind, int64_t id, int64_t db_value)
{
  char key[32];
  struct balance *b = find(kind, id, key, sizeof key);
  if (b)
    fold_into(b, db_value);
}

static bool take(struct balance *b, int64_t amount, int64_t *avail_out)
{
  int64_t before = atomic_fetch_sub(&b->avail, amount);
  if (before <= 0 || before < amount) {
    atomic_fetch_add(&b->avail, amount);
    *avail_out = before;
    return false;
  }
  return true;
}

bool ledger_reserve(struct balance *user_bal, struct balance *token_bal, int64_t amount, int64_t *avail_out)
{
  if (!take(user_bal, amount, avail_out))
    return false;
  if (token_bal && !take(token_bal, amount, avail_out)) {
    atomic_fetch_add(&user_bal->avail, amount);
    return false;
  }
  return true;
}

void ledger_settle(struct balance *user_bal, struct balance *token_bal, struct balance *spent_bal,
                   int64_t reserved, int64_t charged)
{
  int64_t back = reserved - charged;
  if (back != 0) {
    atomic_fetch_add(&user_bal->avail, back);
    if (token_bal)
      atomic_fetch_add(&token_bal->avail, back);
  }
  if (spent_bal && charged)
    atomic_fetch_add_explicit(&spent_bal->spent, charged, memory_order_relaxed);
}

void ledger_committed(struct balance *user_bal, struct balance *token_bal, int64_t charged)
{
  if (user_bal)
    user_bal->db_base -= charged;
  if (token_bal)
    token_bal->db_base -= charged;
}

void ledger_free_all(void)
{
  ledger_lock();
  for (size_t i = 0; i < balances.nslots; i++) {
    void *v;
    const char *k = strmap_slot(&balances, i, &v);
    if (k) {
      free((char *)k);
      free(v);
    }
  }
  strmap_free(&balances);
  memset(&balances, 0, sizeof balances);
  ledger_unlock();
}
