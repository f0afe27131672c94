/*
 * ledger: the one owner of balances. A balance is the remaining quota of a user or a token, held
 * in a process-wide table of atomics keyed by id (it outlives snapshots, so a reload never loses an
 * in-flight charge). Every change of a balance is one of these steps, and no other file does
 * balance arithmetic:
 *   reserve  (worker, admission)  avail -= the request's worst case; refused when it does not fit
 *   settle   (worker, once)       avail += reserved - charged; spent += charged
 *   commit   (writer)             db_base -= charged, for the user and, when limited, the token, with
 *                                 the commit of the rows (ledger_lock held across COMMIT)
 *   fold     (loader, notify)     avail += database value - db_base; db_base = database value: an
 *                                 admin top-up or edit, or another node's charges
 * Invariant (under ledger_lock): avail = database value - (reserved and not settled)
 *                                        - (settled and not committed).
 * So for a limited token, remain_quota + used_quota moves only by admin grants, and used_quota is
 * the sum of its logged charges (the writer commits both in one transaction): doc/design.md "Money".
 * Callers: admit.c (reserve), settle.c (settle), commit.c (the writer's commit), snapshot.c and
 * dbnotify.c (fold), monitor.c, auth.c and selfserve.c (read avail). Never: touches the database;
 * blocks a worker (reserve and settle are lock-free atomics; ledger_lock is taken only by the
 * writer and the loader).
 */
#ifndef RELAY_LEDGER_H
#define RELAY_LEDGER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct balance {
  _Atomic int64_t avail;   /* what may still be spent; hot path reads and changes it */
  int64_t db_base;         /* the database value this avail derives from; under ledger_lock */
  _Atomic int64_t spent;   /* charged through this key since relayd started (unlimited keys too) */
};

void ledger_lock(void);
void ledger_unlock(void);

/* Under ledger_lock. The balance of user ('u') or token ('t') id with its database value folded in
 * (created at db_value the first time). Never NULL (aborts when out of memory at load). */
struct balance *ledger_fold(char kind, int64_t id, int64_t db_value);
/* Under ledger_lock. Folds db_value into an existing balance only (one nobody loaded yet is created
 * by the next snapshot load). */
void ledger_refold(char kind, int64_t id, int64_t db_value);

/* Takes amount from the user's balance and, when token_bal is not NULL (a limited token), from the
 * token's. Succeeds only if both stay >= 0 and were > 0; otherwise changes nothing, returns false and
 * writes the smaller balance into *avail_out. */
bool ledger_reserve(struct balance *user_bal, struct balance *token_bal, int64_t amount, int64_t *avail_out);

/* Exactly once per reservation: gives back reserved - charged (takes more when the charge is
 * larger) and counts charged as spent (spent_bal: the token's balance, also for unlimited tokens). */
void ledger_settle(struct balance *user_bal, struct balance *token_bal, struct balance *spent_bal,
                   int64_t reserved, int64_t charged);

/* Under ledger_lock, right after the COMMIT that wrote a charge: the database values moved by it. */
void ledger_committed(struct balance *user_bal, struct balance *token_bal, int64_t charged);

/* At exit, after every worker and the writer stopped. */
void ledger_free_all(void);

#endif
