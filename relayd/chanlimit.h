/*
 * chanlimit: requests (rpm) and tokens (tpm) per window (option rate_limit_window_s) of a channel
 * and of each key of its pool, and the upstream requests a pool key may have open at once
 * (channels.rpm/tpm, channel_keys.rpm/tpm/max_concurrency, migration 015; a channel's own
 * concurrency stays health.h's max_concurrency). Set with gwctl channel edit --rpm/--tpm and
 * gwctl channel key limit.
 *
 * Algorithm: as limits.h, one GCRA bucket per limit ("theoretical arrival time", CASed forward by a
 * request's cost), shared by every worker: exact per relayd node. A request costs 1 request and its
 * token estimate (prompt estimate + max_tokens, else preconsume_completion_tokens); settle.c gives
 * back or takes the difference to what it used (an attempt that failed keeps its estimate in that
 * channel's bucket: the upstream saw it; a request refused before any upstream call gives it back,
 * route.c's release_channel). A pool key's concurrency is an atomic counter held
 * for the attempt (released with the channel's slot, route.c's release_channel).
 * A channel or key at its limit is skipped like a busy one: the next key (keypool_pick), the next
 * channel of the tier, the next tier; it is never the channel's failure (no health outcome). When
 * every candidate is at a limit, admit.c answers 429 with Retry-After (the soonest a bucket has
 * room) in the client's format, or parks the request in limitwait.h's bounded queue.
 *
 * The live states (struct climit_state) live in one process-wide table keyed by (channel id, key
 * index; 0 = the channel) that survives reloads; a snapshot channel points at its limits
 * (c->limits), NULL when it has none: then routing costs one branch per candidate.
 * Callers: relayd's main.c (load, through snapshot.h's struct snapshot_extra), route.c (wait / take /
 * release), route.c's route_pick_key (a key's limit, keypool.c's room test),
 * settle.c (the token difference), metrics.c and admin.c (counters).
 * Never: blocks, allocates or touches the database on the request path; counts a limit as a failure.
 */
#ifndef RELAY_CHANLIMIT_H
#define RELAY_CHANLIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct snapshot;
struct snap_channel;
struct request;
struct cJSON;

/* The live state of one channel's or key's limits, process-wide; owned by the table. */
struct climit_state {
  _Atomic int64_t req_tat_ns, tok_tat_ns;   /* GCRA theoretical arrival times (monotonic ns) */
  _Atomic int in_flight;                    /* a key's open upstream requests */
  _Atomic uint64_t limited_total;           /* candidates skipped at this limit */
};

struct climit {
  int64_t rpm, tpm;                         /* per window; 0 = none */
  int max_concurrency;                      /* keys only; 0 = none */
  struct climit_state *st;
};

/* A channel's limits (arena of the snapshot). keys[i] is c->pool->keys[i]'s (NULL: no key limit). */
struct chan_limits {
  struct climit chan;
  struct climit *keys;
  size_t nkeys;
};

/* What one request took (struct chanlimit_hold) is a field of the request: request.h. */

/* Reads the limits of s's channels and pool keys (after keypool_load, in the load's transaction).
 * 0 or -1 (database error). */
int chanlimit_load(struct db *db, struct snapshot *s);
/* Frees the live states (relayd's exit). */
void chanlimit_free_states(void);

/* ms until c's own buckets have room for r (0: now); takes nothing. c->limits must be set. */
int64_t chanlimit_wait(const struct request *r, const struct snap_channel *c);
/* Counts one time c was passed over at a limit (its own or its keys'). */
void chanlimit_skipped(const struct snap_channel *c);
/* Takes r's cost from c's buckets (false: lost a race for the last room; nothing taken). */
bool chanlimit_take(struct request *r, const struct snap_channel *c);
/* Gives back what chanlimit_take took (the channel's slot could not be had after all). */
void chanlimit_untake(struct request *r);
/* ms until the key at pool position pos of c has room for r (0: now, or it has no limit). */
int64_t chanlimit_key_wait(const struct request *r, const struct snap_channel *c, size_t pos);
/* The same as struct key_tries' room test (keypool.h): ctx is the request; true when the wait is 0. */
bool chanlimit_key_room(const void *ctx, const struct snap_channel *c, size_t pos);
/* ms until one usable key of c's pool has room for r (0: one has now, or c has no pool). */
int64_t chanlimit_pool_wait(const struct request *r, const struct snap_channel *c);
/* Takes r's cost from that key's buckets and a concurrency slot (counts even when a race took the
 * last room since chanlimit_key_wait: a limit may then go over by one request). */
void chanlimit_key_take(struct request *r, const struct snap_channel *c, size_t pos);
/* The attempt ended: gives back the key's concurrency slot. */
void chanlimit_release(struct request *r);
/* The request used `used` tokens: the token buckets it took from get the difference. */
void chanlimit_settle(struct request *r, int64_t used);

/* Adds c's limits to a stats object ("rpm", "tpm", "limited_total"; per key in "keys" by index). */
void chanlimit_stats_json(struct cJSON *o, const struct snap_channel *c);
/* Candidates skipped at c's limits (its own and its keys') since start. */
uint64_t chanlimit_limited_total(const struct snap_channel *c);

#endif
