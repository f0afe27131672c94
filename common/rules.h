/*
 * rules: the value rules of what gwctl provisions, in one place: the ranges of numbers (ratios,
 * prices, limits, weights), the words a field may take (price units, key modes, statuses, roles,
 * fallback error kinds), and the checks that need no database (a channel's base URL, an IP list
 * item, a fallback chain, a price's fields taken together). gwctl's commands (cmd_price.c,
 * cmd_channel.c, cmd_chankey.c, cmd_limit.c, cmd_fallback.c, cmd_group.c, cmd_token.c, cmd_user.c)
 * and gwctl apply (gwctl/apply_check.c) call the same functions, so a value one accepts the other
 * accepts too. Each caller words its own message from the code or reason returned here (an option
 * "--base-url ..." for a command, a field "base_url" for a file).
 * Never: prints, allocates, or touches a database.
 */
#ifndef RELAY_RULES_H
#define RELAY_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "codes.h"

#define RULE_MODEL_MAX 128                      /* bytes of a model name */
#define RULE_RATIO_MAX 1000000.0                /* a price or group ratio */
#define RULE_PRICE_MAX 1000000.0                /* a fixed price in USD */
#define RULE_MAX_OUTPUT_MAX INT64_C(100000000)  /* a price's max_output_tokens */
#define RULE_TIER_ABOVE_MAX INT64_C(1000000000) /* a long-context tier's threshold (prompt tokens) */
#define RULE_LIMIT_MAX INT64_C(1000000000000)   /* rpm / tpm of a channel, a pool key, a subject */
#define RULE_CONCURRENCY_MAX INT64_C(1000000)   /* max_concurrency of a channel or a pool key */
#define RULE_PRIORITY_MAX INT64_C(1000000000)   /* a channel's priority: -MAX..MAX */
#define RULE_WEIGHT_MAX INT64_C(1000000)        /* a channel's weight: 0..MAX */
#define RULE_CHAIN_MAX 8                        /* models of one fallback chain */
#define RULE_POOL_INDEX_MAX INT64_C(1000000000) /* a pool key's index: 1..MAX */

/* Word lists (NULL-terminated). */
extern const char *const rule_price_units[];    /* what one fixed price pays for: call first */
extern const char *const rule_key_modes[];      /* how a key pool picks a key: random first */
extern const char *const rule_fallback_on[];    /* the upstream refusals that also walk a chain */
extern const char *const rule_channel_status[]; /* by status code (codes.h): [1] enabled.. */
extern const char *const rule_token_status[];
extern const char *const rule_user_status[];
/* the number of codes of each (its last code + 1) */
#define RULE_CHANNEL_STATUS_N (STATUS_AUTO_DISABLED + 1)
#define RULE_TOKEN_STATUS_N (STATUS_EXHAUSTED + 1)
#define RULE_USER_STATUS_N (STATUS_DISABLED + 1)

/* The index of s in words, or -1. */
int rule_word(const char *const *words, const char *s);
/* words joined by ", " into out (truncated to len). */
void rule_words_text(const char *const *words, char *out, size_t len);
/* A status word's code in names[1..n-1] (STATUS_ENABLED when not found), and back ("enabled" for
 * a code out of range). */
int64_t rule_status_value(const char *const *names, int n, const char *s);
const char *rule_status_name(const char *const *names, int n, int64_t v);
/* users.role as a word ("common" for an unknown number) and back (ROLE_COMMON for an unknown word). */
const char *rule_role_name(int64_t role);
int64_t rule_role_value(const char *s);

/* A channel's base URL: http:// or https://, a host, no blanks or control characters, shorter than
 * outlen; out gets it without trailing '/' (relayd appends /v1/... itself). */
enum rule_url { RULE_URL_OK, RULE_URL_SCHEME, RULE_URL_NO_HOST, RULE_URL_TOO_LONG, RULE_URL_BLANKS };
enum rule_url rule_base_url(const char *url, char *out, size_t outlen);

/* One item of a token's IP list: an IPv4/IPv6 address with an optional /prefix. addr gets the
 * address part (for messages), *max the largest prefix of its family. */
enum rule_ip { RULE_IP_OK, RULE_IP_ADDRESS, RULE_IP_PREFIX };
enum rule_ip rule_ip_item(const char *item, char *addr, size_t addrlen, int *max);

/* A fallback chain of model: n models (a comma list), none of them model itself. */
enum rule_chain { RULE_CHAIN_OK, RULE_CHAIN_COUNT, RULE_CHAIN_SELF };
enum rule_chain rule_chain(const char *model, const char *list, int n);

/* A channel's model_mapping (a JSON object: requested model -> upstream model): every name and
 * every target a non-empty string, no name twice. *bad gets the entry at fault. */
struct cJSON;
enum rule_map { RULE_MAP_OK, RULE_MAP_NOT_OBJECT, RULE_MAP_EMPTY_NAME, RULE_MAP_NOT_STRING,
                RULE_MAP_EMPTY_TARGET, RULE_MAP_TWICE };
enum rule_map rule_model_map(const struct cJSON *m, const struct cJSON **bad);

/* A price as both gwctl price set / import and apply build it before it is written (gwctl/store.h
 * writes it). */
struct price {
  const char *model;
  int has_ratio, has_fixed;
  double ratio, completion, cache, fixed;
  const char *unit;           /* of fixed; NULL: "call" */
  int has_cw, has_cw1h, has_max_out, has_ar, has_acr;
  double cw, cw1h;            /* cache write ratios: NULL (relayd's default) unless has_cw/has_cw1h */
  double ar, acr;             /* audio ratios: NULL (priced as text) unless has_ar/has_acr */
  int64_t max_out;            /* 0 stores NULL (unknown) */
  int has_tier;               /* a tier given: tier_above 0 removes the tier */
  int64_t tier_above;
  double tier_ratio[3];       /* model, completion, cache; < 0: NULL (the base ratio) */
};

/* The rules of a price's fields together (what a field alone must be is checked as it is read):
 * the problems found, as bits (0: none). */
enum {
  RULE_PRICE_NONE = 1,        /* neither model_ratio nor fixed_price */
  RULE_PRICE_TIER_FIXED = 2,  /* a tier with a fixed price */
  RULE_PRICE_TIER_RATIO = 4,  /* a tier without its model ratio */
};
unsigned rule_price(const struct price *p);

#endif
