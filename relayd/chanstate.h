/*
 * chanstate: the live state of each channel (struct chan_health: open upstream requests, failures
 * in a row, breaker, latency average, the auto-disable flag), in one process-wide table keyed by
 * channel id that survives reloads. Only the table and the state's shape: health.c owns the rules
 * that change a state, snapshot.c points each loaded channel at its state, the writer flips the
 * auto-disable flag after it committed the status change.
 * Callers: snapshot.c (chanstate_of, chanstate_fold_status at load; chanstate_free_all at exit),
 * health.c, writer.c, monitor.c, metrics.c, admin.c, admit.c (read the flag).
 * Never: depends on another relayd module (it is the leaf that breaks the health <-> snapshot <->
 * writer include cycle), touches the database, blocks a worker (the table lock is taken only at
 * load and exit; workers use the atomics).
 */
#ifndef RELAY_CHANSTATE_H
#define RELAY_CHANSTATE_H

#include <stdatomic.h>
#include <stdint.h>

enum { HEALTH_ENABLED = 0, HEALTH_DISABLE_PENDING = 1, HEALTH_DISABLED = 2 };

/* What one upstream call says about its channel (health.c's rules act on it; keypool.c's outcome
 * of one key maps onto it): here, in the leaf, so keypool.h needs no health.h. */
enum health_outcome {
  OUTCOME_OK,          /* 2xx */
  OUTCOME_CLIENT,      /* the upstream answered a client error (4xx): alive */
  OUTCOME_FAIL,        /* connect error, timeout, 5xx, 429, broken stream */
  OUTCOME_ACCOUNT,     /* authentication / account error: disable */
  OUTCOME_ABANDON,     /* the client left or relayd stopped: says nothing about the channel */
};

struct chan_health {
  int64_t id;
  _Atomic int in_flight;              /* upstream requests open now, all workers */
  _Atomic int consecutive_failures;
  _Atomic int64_t open_until_ms;      /* breaker: 0 closed; later than now open; else half-open */
  _Atomic int trial;                  /* 1 while the half-open trial request runs */
  _Atomic int auto_disabled;          /* HEALTH_*: 1 = the writer has not committed it yet */
  _Atomic uint64_t ewma_bits;         /* latency average in ms (a double); 0 = no sample yet */
  _Atomic uint64_t failures_total, opened_total, disabled_total, busy_total;
};

/* The state of a channel id, created zeroed on first use (aborts when out of memory: a load
 * cannot go on without it). The table owns it; it lives until chanstate_free_all. */
struct chan_health *chanstate_of(int64_t channel_id);
/* Frees every state (relayd's exit, after the last snapshot is released). */
void chanstate_free_all(void);
/* At load: the database status of the channel folds into the live flag (an administrator enabled
 * or disabled it). before is the flag read before the database was read. */
void chanstate_fold_status(struct chan_health *h, int before, int db_status);

#endif
