/*
 * options: the runtime options (the database's options table, key -> text value), described by ONE
 * table (option_keys[] in options.c): name, type, default, bounds or choices, the field of struct
 * snap_options it fills, whether the value is secret, and help.
 *
 * From that table work `gwctl config list/get/set/unset` (names, help, defaults, the check of a new
 * value), `gwctl apply` and `gwctl import` (the same check), the completions' key list, and relayd's
 * snapshot loader (defaults, then every stored row that passes the same check; a row that fails it,
 * written behind gwctl's back, keeps the default), and relayd's admin verb `config` ("options": the
 * values in force). So a value is accepted by gwctl exactly when relayd applies it.
 *
 * Adding an option: a field in struct snap_options, one line in option_keys[] (keep one line per
 * key, so parallel additions merge cleanly), its paragraph in gwctl(1) (the docs check follows).
 * Callers: gwctl (cmd_config; gwctl.c's gw_config_check for apply and import, and the key list),
 * relayd (snapshot.c, admin.c).
 * Never: touches the database; allocates (text values are the caller's, see options_apply); prints
 * a value marked secret (options_format shows it as "(set)").
 */
#ifndef RELAY_OPTIONS_H
#define RELAY_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest stored value, plus its NUL (gwctl's buffer, relayd's check). */
#define OPTION_VALUE_MAX 1024

/* routing's choices, in the order of its "weighted|latency". */
enum routing_mode { ROUTING_WEIGHTED, ROUTING_LATENCY };

/* The options in force; relayd holds them in its snapshot (hence the name). */
struct snap_options {
  int64_t retry_times;                /* extra attempts on other channels */
  int64_t preconsume_completion;      /* completion tokens assumed when max_tokens is absent (rate limits) */
  int64_t default_max_output;         /* output bound of a model whose price has no max_output_tokens */
  int64_t realtime_idle_timeout_s;    /* a realtime session idle this long is closed, 0 = never */
  int64_t rate_limit_window_s;        /* the window of rpm / tpm limits */
  int routing;                        /* enum routing_mode: choice inside a priority tier */
  int64_t breaker_failures;           /* failures in a row that open the breaker, 0 = never */
  int64_t breaker_open_s;
  bool auto_disable;                  /* channel_auto_disable: health may disable channels */
  int64_t disable_failures;           /* failures in a row that disable a channel, 0 = never */
  const char *disable_keywords;       /* comma list: upstream error identifiers (type, code, status,
                                       * reason; never the message) that mean an account error */
  int64_t test_interval_s;            /* periodic channel tests, 0 = off */
  bool test_all;                      /* test enabled channels too, not only auto-disabled ones */
  int64_t test_timeout_s;
  const char *webhook_url;            /* notifications (relayd/webhook.h), "" = log rows only */
  int64_t balance_poll_interval_s;    /* upstream balance reads (relayd/balpoll.h), 0 = off */
  int64_t balance_low_threshold;      /* low-balance alert below this, in the channel's currency; 0 = off */
  int64_t quota_remind_threshold;     /* remind users below this much quota, 0 = off */
  bool display_token_stat;            /* dashboard billing: the key's quota (else the user's) */
  bool display_in_currency;           /* dashboard billing: USD (else quota units) */
  int64_t affinity_ttl_s;             /* channel affinity (relayd/affinity.h), 0 = off */
  const char *affinity_header;        /* a header whose value is the affinity key, "" = none */
  int64_t channel_limit_wait_ms;      /* wait for channel room instead of 429 (limitwait.h), 0 = no */
  int64_t channel_limit_queue;        /* at most this many requests wait at once */
  int quota_rounding;                 /* enum quota_rounding (quota.h), choices "up|half_up" */
  const char *response_cache_models;  /* comma list of models whose answers relayd caches for every
                                       * token ("*": all; relayd/respcache.h) */
  int64_t response_cache_ttl_s;       /* how long a cached answer is served */
  int64_t response_cache_mb;          /* the cache's memory bound, 0 = no cache at all */
  int64_t response_cache_hit_percent; /* a hit costs this percent of the answer's price */
};

enum option_type {
  OPTION_INT,                         /* int64_t field, min..max */
  OPTION_BOOL,                        /* bool field, 0 or 1 */
  OPTION_ENUM,                        /* int field: the index of the value in choices */
  OPTION_TEXT,                        /* const char * field: any text without control characters */
  OPTION_URL,                         /* const char * field: "" or an http:// or https:// URL */
};

struct option_key {
  const char *name;
  enum option_type type;
  size_t off;                         /* of the field in struct snap_options */
  const char *def;                    /* the default, as stored */
  int64_t min, max;                   /* OPTION_INT, OPTION_BOOL (0, 1) */
  const char *choices;                /* OPTION_ENUM: "a|b" */
  bool secret;                        /* may hold a credential: never printed by relayd or logged */
  const char *help;
};

extern const struct option_key option_keys[];
extern const size_t option_nkeys;

/* The table row of name, or NULL. */
const struct option_key *option_find(const char *name);

/* Checks value for k: 0 with the normalized value in out (integers without leading zeros or '+'),
 * or -1 with the reason in why, e.g. "must be an integer from 0 to 10". */
int option_check(const struct option_key *k, const char *value, char *out, size_t outlen, char *why,
                 size_t whylen);

/* Every field to its default (text fields point into the table). */
void options_defaults(struct snap_options *o);

/* Sets k's field from a value that passed option_check; a text field keeps the pointer, so value
 * must live as long as o. */
void options_apply(struct snap_options *o, const struct option_key *k, const char *value);

/* k's value in o as text, as stored ("1"/"0" for booleans, the choice's name); a secret that is set
 * as "(set)". */
void options_format(const struct snap_options *o, const struct option_key *k, char *buf, size_t len);

#endif
