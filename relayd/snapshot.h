/*
 * snapshot: the immutable, reference-counted picture of the configuration that the request path
 * works from (tokens by key hash, users, channels, routes, prices, group ratios, options), and the
 * balance table that outlives snapshots.
 *
 * Built by snapshot_load() on the admin thread (start-up and every reload) from its own database
 * connection, then published with snapshot_publish(); workers take a reference per request with
 * snapshot_acquire() and drop it with snapshot_release(); the last release frees it.
 * Balances (remaining quota of users and tokens) are not in the snapshot: they are atomics in a
 * table keyed by id that lives for the whole process, so a reload never loses in-flight charges.
 * Balances are ledger.h's; the loader folds database values into them under ledger_lock.
 * Never: read the database from a worker; modify a published snapshot.
 */
#ifndef RELAY_SNAPSHOT_H
#define RELAY_SNAPSHOT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "codes.h"
#include "config.h"
#include "ledger.h"
#include "limits.h"
#include "options.h"
#include "provider.h"
#include "tokenacl.h"
#include "util.h"

struct db;
struct curl_slist;
struct chan_health;
struct key_pool;
struct vertex_chan;

struct snap_user {
  int64_t id;
  const char *username;
  int role;
  int status;
  const char *group;
  struct balance *bal;
  int64_t quota_total;        /* quota + used_quota at load: used now = quota_total - bal->avail */
  struct snap_limits limits;  /* rate_limits rows of scope 'user' */
};

struct snap_token {
  int64_t id;
  const char *key_hash;
  const char *name;
  struct snap_user *user;
  int status;
  int64_t expired_time;       /* -1 = never */
  bool unlimited;
  struct balance *bal;
  char **models;              /* allowed models; none = any */
  size_t nmodels;
  struct cidr *nets;          /* allowed client addresses; none = any */
  size_t nnets;
  const char *group;          /* the effective group: token's, else the user's */
  int64_t quota_total;        /* remain_quota + used_quota at load */
  int64_t used_at_load;       /* used_quota at load, and bal->spent then: an unlimited key's */
  int64_t spent_at_load;      /* used quota now = used_at_load + bal->spent - spent_at_load */
  struct snap_limits limits;  /* rate_limits rows of scope 'token' */
  bool response_cache;        /* tokens.response_cache: its answers may be cached (respcache.h) */
};

/* The first lines of every channel's upstream header list (snapshot.c, keypool.c). Accept-Encoding
 * is a line of the list rather than curl's own from CURLOPT_ACCEPT_ENCODING (which attempt.c still
 * sets, so an answer compressed anyway is decoded): curl skips its own when the list has one, and
 * its own costs an aprintf and a second formatting of the line per request (about 3k instructions,
 * bench/README.md). "Expect:" stops curl's 100-continue round trip on larger bodies. */
#define SNAP_BASE_HEADERS {"Content-Type: application/json", "Accept-Encoding: identity", "Expect:"}

struct snap_channel {
  int64_t id;
  const char *name;
  const char *type;
  const struct provider *provider; /* the type's row (provider.h); an unknown type: openai's */
  enum upstream_api api;      /* provider->api */
  const char *api_version;    /* azure: other.api_version, else AZURE_DEFAULT_API_VERSION */
  const char *region;         /* bedrock: other.region (the key's own region comes first), or NULL */
  const char *base_url;       /* without trailing '/' */
  int status;
  int64_t priority;
  int weight;
  char **models;
  size_t nmodels;
  struct strmap model_map;    /* requested -> upstream model name (const char *) */
  struct curl_slist *headers; /* upstream request headers incl. auth; read-only, shared by workers */
  const char *key;            /* the upstream key in clear (NULL when none), only to redact echoes of
                               * it from upstream answers and to sign a request (a bedrock channel's
                               * SigV4); never logged or sent anywhere else */
  int max_concurrency;        /* 0 = no limit */
  bool auto_disable;          /* health may disable it (channels.auto_disable) */
  const char *test_model;     /* "" = the first model */
  const char *status_reason;
  struct chan_health *health; /* live state, process-wide (health.h) */
  struct key_pool *pool;      /* its keys when it has a key pool (keypool.h), else NULL: the one key
                               * above (headers, key) */
  struct chan_limits *limits; /* its rpm / tpm and its keys' limits (chanlimit.h), NULL: none */
  struct vertex_chan *vertex; /* a vertex channel's key and token (vertex.h, process-wide), else NULL */
};

struct route_tier {
  int64_t priority;
  struct snap_channel **chans;
  int *weights;               /* weight + 10, as One API smooths weight 0 */
  size_t n;
  int total_weight;
};

struct route {
  const char *group;
  const char *model;
  struct route_tier *tiers;   /* highest priority first */
  size_t ntiers;
};

/* What one fixed_price pays for (prices.price_unit). */
enum price_unit { PRICE_PER_CALL, PRICE_PER_IMAGE, PRICE_PER_SECOND, PRICE_PER_SEARCH };

struct price {
  double model_ratio;
  double completion_ratio;
  double cache_ratio;
  double fixed_price;         /* USD per unit */
  bool has_fixed;
  enum price_unit unit;       /* of fixed_price; PRICE_PER_CALL unless the row says otherwise */
  double cache_write_ratio;   /* x input price, 5-minute cache write (NULL in the row: 1.25) */
  double cache_write_1h_ratio;/* x input price, 1-hour cache write (NULL in the row: 2.0) */
  int64_t max_output_tokens;  /* the model's maximum output; 0 = unknown (NULL or 0 in the row) */
  double audio_ratio;         /* x input price, an uncached input audio token (NULL in the row: 1) */
  double audio_completion_ratio; /* x audio input price, an output audio token (NULL in the row:
                                    completion_ratio / audio_ratio, i.e. priced as text output) */
  int64_t tier_above;         /* long-context tier (prices.tier_*): a request of more prompt tokens is
                                 priced with the tier's ratios (billing.h); 0 = no tier */
  double tier_model_ratio, tier_completion_ratio, tier_cache_ratio;
};
#define PRICE_CACHE_WRITE_RATIO_DEFAULT 1.25
#define PRICE_CACHE_WRITE_1H_RATIO_DEFAULT 2.0

/* "call", "image", "second", "search" -> the unit; -1 for anything else. */
int price_unit_parse(const char *s);
const char *price_unit_name(enum price_unit u);

/* A model fallback chain (table fallbacks; relayd/fallback.h walks it): the models tried in order
 * once every channel of the requested one failed. */
struct fallback_chain {
  char **models;
  size_t n;
  bool on_context, on_policy;         /* also after a context-length / content-policy refusal */
};

/* One budget alert (table budget_alerts). */
struct snap_alert {
  int64_t id;
  bool user_scope;                    /* else token */
  int64_t subject_id;
  bool percent;                       /* else remain */
  int64_t threshold;
  int64_t fired_at, fired_total;      /* as loaded */
};

/* A user's quota reminder state (table quota_reminders). */
struct snap_reminder {
  int64_t user_id;
  int64_t fired_at, fired_total;
};

struct snapshot {
  _Atomic long refs;
  uint64_t version;
  int64_t loaded_at;
  struct arena arena;
  struct strmap tokens;       /* key_hash -> struct snap_token */
  struct strmap routes;       /* "group\x1fmodel" -> struct route */
  struct strmap prices;       /* model -> struct price */
  struct strmap groups;       /* name -> double ratio */
  struct strmap fallbacks;    /* "scope\x1fsubject\x1fmodel" -> struct fallback_chain (fallback.h) */
  size_t nfallbacks;
  struct snap_channel *channels;
  size_t nchannels;
  size_t nusers, ntokens;
  struct snap_options opt;
  struct config cfg;          /* relayd's settings published with this snapshot (admin.c sets it;
                                 a reload swaps settings and database state together) */
  struct snap_user **users;   /* every user, by id order */
  struct snap_token **token_list;
  struct snap_alert *alerts;
  size_t nalerts;
  struct snap_reminder *reminders;
  size_t nreminders;
};

struct secret_key;
/* The master key that opens channels.key values (secret.h); set once before the first load. */
void snapshot_set_master_key(const struct secret_key *k);
/* Seals every channel key still stored in plaintext (legacy rows, or rows written by other tools)
 * with the master key, in one transaction on db. relayd runs it at start, before the first load.
 * Returns the number of keys sealed, or -1 with err set. */
int snapshot_seal_channel_keys(struct db *db, const struct secret_key *k, char *err, size_t errlen);
/* More channel data loaded with every snapshot (relayd: keypool.c's key pools), registered by main
 * before the first load, so that this module names no module that reads snapshots back (keypool.c
 * reads struct snap_channel: calling it from here made an include cycle). load runs inside
 * snapshot_load's transaction, after the channels: 0, -1 (database error: db_errmsg) or -2 with
 * err set. unload frees what load attached to s (it also runs after a failed or partial load).
 * shutdown (may be NULL) runs last in snapshot_shutdown. None registered: channels have no extra. */
struct snapshot_extra {
  int (*load)(struct db *db, struct snapshot *s, const struct secret_key *master, char *err, size_t errlen);
  void (*unload)(struct snapshot *s);
  void (*shutdown)(void);
};
void snapshot_set_extra(const struct snapshot_extra *x);
/* Reads the database and builds a new snapshot (not yet published). NULL on failure with err set. */
struct snapshot *snapshot_load(struct db *db, uint64_t version, char *err, size_t errlen);
/* Makes s the current snapshot; the previous one is released. */
void snapshot_publish(struct snapshot *s);
/* A counted reference to the current snapshot (never NULL after the first publish).
 * cache, when not NULL, is a worker's own cached reference: the fast path then takes no lock and
 * only refreshes the cache when a newer snapshot was published. Drop a cache with
 * snapshot_release(*cache) when the worker stops. */
struct snapshot *snapshot_acquire(struct snapshot **cache);
void snapshot_release(struct snapshot *s);
/* Version of the current snapshot, without taking a reference. */
uint64_t snapshot_current_version(void);
/* Drops the current snapshot at shutdown, and the balance table. */
void snapshot_shutdown(void);

const struct route *snapshot_route(const struct snapshot *s, const char *group, const char *model);
const struct snap_channel *snapshot_channel(const struct snapshot *s, int64_t id);
const struct price *snapshot_price(const struct snapshot *s, const char *model);
/* Group ratio, or a negative value when the group does not exist. */
double snapshot_group_ratio(const struct snapshot *s, const char *group);
/* The token's model allow-list check; true when allowed (tokenacl.h). */
static inline bool token_allows_model(const struct snap_token *t, const char *model)
{
  return name_list_allows(t->models, t->nmodels, model);
}
/* The token's address allow-list check on a sockaddr; true when allowed (tokenacl.h). */
static inline bool token_allows_addr(const struct snap_token *t, const struct sockaddr *sa)
{
  return cidr_list_allows(t->nets, t->nnets, sa);
}

/* The upstream URL of an OpenAI-style path (e.g. "/v1/chat/completions") on channel c for model,
 * by the URL rule of its type (provider_url). Returns 0, or -1 with a reason in err. */
int channel_url(const struct snap_channel *c, const char *path, const char *model, char *out, size_t outlen,
                char *err, size_t errlen);

/* Folds the database's current balances of the given users and tokens (comma lists of ids, or ""),
 * or of all of them, into the balance table: another node's committed charges (dbnotify.c).
 * Returns 0, or -1 with err. Admin thread only (its database connection). */
int snapshot_fold_balances(struct db *db, bool all, const char *user_ids, const char *token_ids,
                           char *err, size_t errlen);

#endif
