/*
 * keypool: the upstream keys of a multi-key channel (table channel_keys, migration 012) and which
 * one serves each attempt. A channel without rows keeps its one channels.key and never reaches this
 * module's choice (c->pool is NULL: the request path is exactly as before).
 * At load (snapshot.c through struct snapshot_extra, registered by main.c; admin thread):
 * keypool_load reads every channel's keys, opens them with the master key, builds each key's
 * upstream headers (as the channel's own: content type, the type's extra header, its auth header)
 * and points each at its live state. The live state (struct key_state: the auto-disable flag and
 * the requests / errors / spend counters) lives in one process-wide table keyed by (channel id,
 * index) that survives reloads, like chanstate.h's.
 * The database status folds into the flag at load, as chanstate_fold_status does for channels.
 * Choice (attempt.c, a worker): keypool_pick, in memory, nothing but an index and atomics: the
 * channel's key_mode -- random, round-robin (one atomic counter per pool), or sticky (the same end
 * user: OpenAI "user", Anthropic metadata.user_id, else prompt_cache_key, else the client's API
 * key, hashed by rendezvous hashing onto the healthy keys, so a user moves only when its key goes).
 * A retry of the same request on the same channel takes a key it has not tried yet. The caller
 * may prefer one key (affinity.h) and skip keys without room (chanlimit.h) through struct key_tries:
 * this module calls neither.
 * Outcome (attempt.c): keypool_outcome -- an authentication or account error (health_classify's
 * OUTCOME_ACCOUNT: the same identifiers that disable a channel) disables that key alone, with its
 * reason and time (a writer op, WOP_KEY_STATUS); the channel is disabled only when no key is left.
 * Recovery (monitor.c): keypool_probe_set gives the headers of one key to a periodic test; a
 * passing test re-enables the key (and the channel when it was auto-disabled).
 * Callers: snapshot.c (load, free, exit: through main.c's struct snapshot_extra), route.c (usable /
 * untried), attempt.c (pick, outcome), settle.c (spend), monitor.c (tests), admin.c (stats),
 * metrics.c (series).
 * Never: logs, exports or labels a key's text (metrics and stats name keys by index only), blocks a
 * worker, or touches the database outside keypool_load (the writer commits status changes).
 */
#ifndef RELAY_KEYPOOL_H
#define RELAY_KEYPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chanstate.h"

struct db;
struct snapshot;
struct snap_channel;
struct snap_options;
struct secret_key;
struct curl_slist;
struct cJSON;

enum key_mode { KEY_MODE_RANDOM, KEY_MODE_ROUND_ROBIN, KEY_MODE_STICKY };

/* Which keys of one channel a request has tried (held by the request, request.h; zero: none), and
 * what its caller asks of the next pick (set before each keypool_pick, route.c's route_pick_key). */
struct key_tries {
  int64_t chan;                       /* the channel tried is about */
  uint64_t tried;                     /* its pool positions tried (bit pos % 64) */
  bool prefer;                        /* take the key of index prefer_idx when eligible (affinity.h) */
  int prefer_idx;
  /* has the key at pool position pos of c room for the attempt (its limits, chanlimit.h)? NULL:
   * every key has; ctx is its first argument. A key without room is skipped like a tried one. */
  bool (*room)(const void *ctx, const struct snap_channel *c, size_t pos);
  const void *ctx;
};

/* The live state of one key, process-wide (survives reloads); owned by the table. */
struct key_state {
  int64_t channel_id;
  int idx;
  _Atomic int flag;                   /* HEALTH_ENABLED, HEALTH_DISABLE_PENDING, HEALTH_DISABLED */
  _Atomic uint64_t requests, errors, spend, disabled_total;
};

struct pool_key {
  int idx;                            /* channel_keys.idx: stable, the key="N" of /metrics */
  int status;                         /* channel_keys.status at load */
  const char *status_reason;
  int64_t status_time;
  const char *key;                    /* in clear (arena), only to redact echoes of it */
  struct curl_slist *headers;         /* the channel's headers with this key's auth header */
  struct key_state *st;
};

struct key_pool {
  enum key_mode mode;
  struct pool_key *keys;              /* by idx order */
  size_t n, cap;                      /* keys read, room for */
  _Atomic uint64_t cursor;            /* round-robin */
};

/* "random", "round-robin", "sticky" -> the mode; -1 for anything else. */
int key_mode_parse(const char *s);
const char *key_mode_name(enum key_mode m);

/* Reads channel_keys (and each channel's key_mode) into s's channels (c->pool), inside the load's
 * transaction. 0, -1 (database error: db_errmsg), or -2 with err set (a key cannot be opened). */
int keypool_load(struct db *db, struct snapshot *s, const struct secret_key *master, char *err, size_t errlen);
/* Wipes and frees what keypool_load built for s (the keys in clear and the header lists). */
void keypool_free(struct snapshot *s);
/* Frees the live states (relayd's exit, after the last snapshot is released). */
void keypool_free_states(void);

/* May channel c serve now as far as its keys go: no pool, or a key enabled. */
bool keypool_usable(const struct snap_channel *c);
/* c was tried already by a request (its tries t): has it a usable key not tried yet (a retry may
 * take it)? */
bool keypool_untried(const struct snap_channel *c, const struct key_tries *t);
/* The key of a request's attempt on c (NULL: c has no pool; use c->headers and c->key), marked in
 * its tries t. Counts a request. body (the client's JSON, may be NULL) and token_id name the end
 * user of a sticky pool; rng is the worker's xorshift state (random mode). Plain parameters: this
 * module never sees the request itself (request.h is relay's). */
const struct pool_key *keypool_pick(const struct snap_channel *c, struct key_tries *t, const struct cJSON *body,
                                    int64_t token_id, uint64_t *rng);
/* The attempt on key k (may be NULL) of channel c ended with out: counts an error, disables the key
 * on an account error, and returns the outcome the channel's health gets (an account error of one
 * key says nothing about the channel while other keys are left). */
enum health_outcome keypool_outcome(const struct snap_channel *c, const struct pool_key *k,
                                    const struct snap_options *o, enum health_outcome out, const char *detail);
/* Quota charged for a request served on key k (may be NULL). */
void keypool_spent(const struct pool_key *k, int64_t quota);

/* Monitor: re-enables key k of c after a passing test (writer op), once. */
void keypool_reenable(const struct snap_channel *c, const struct pool_key *k, const char *text);
/* Disables key k of c (writer op, once); reason is stored. Returns true when it was enabled. */
bool keypool_disable(const struct snap_channel *c, const struct pool_key *k, const char *reason);
/* Is key k chosen now (enabled in the database and not auto-disabled since)? */
bool keypool_key_ok(const struct pool_key *k);

/* Adds c's keys to a stats object ("key_mode", "keys": [{index, status, reason, time, requests,
 * errors, spend}]); nothing for a channel without a pool. */
void keypool_stats_json(struct cJSON *o, const struct snap_channel *c);

#endif
