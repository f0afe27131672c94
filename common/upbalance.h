/*
 * upbalance: an upstream account's balance, read from the endpoint its provider publishes (the
 * provider row's `balance` kind, common/provider.h): one URL builder and one cJSON parser per kind.
 *   BAL_OPENAI      GET /v1/dashboard/billing/subscription (hard_limit_usd) then
 *                   /v1/dashboard/billing/usage?start_date&end_date (total_usage, in cents): the
 *                   balance is the limit less the usage, USD -- One API's reading
 *                   (songquanpeng/one-api controller/channel-billing.go updateChannelBalance);
 *   BAL_DEEPSEEK    GET /user/balance: balance_infos[].total_balance (a string) and currency
 *                   (api-docs.deepseek.com/api/get-user-balance); USD preferred when several;
 *   BAL_OPENROUTER  GET /v1/credits: data.total_credits - data.total_usage, USD
 *                   (openrouter.ai/docs/api-reference/get-credits);
 *   BAL_SILICONFLOW GET /v1/user/info: data.totalBalance (a string), CNY
 *                   (docs.siliconflow.cn/api-reference/userinfo/get-user-info);
 *   BAL_MOONSHOT    GET /v1/users/me/balance: data.available_balance, CNY on api.moonshot.cn, USD
 *                   on api.moonshot.ai (platform.moonshot.cn/docs/api/misc).
 * Paths starting /v1/ join the base by the /v1 rule (provider_join); /user/balance is at the host's
 * root, so a base ending in /v1 loses it first.
 * Callers: gwctl channel balance (now), relayd/balpoll.c (the periodic poll, its own thread).
 * Never: keeps state, logs or returns the key, trusts the upstream's body (parsed with cJSON,
 * bounded to UPBALANCE_BODY_MAX bytes, a figure must be a finite number).
 */
#ifndef RELAY_UPBALANCE_H
#define RELAY_UPBALANCE_H

#include <stddef.h>

#include "provider.h"

#define UPBALANCE_BODY_MAX 65536

struct upbalance {
  double amount;               /* what is left, in currency */
  char currency[8];            /* "USD", "CNY"... (upper-case letters only) */
  long http_status;            /* the last answer's status, 0 when none */
};

/* "openai-billing", "deepseek", ... or "none". */
const char *upbalance_kind_name(enum provider_balance k);

/* Parses one answer of kind k. step 0 is the first (or only) request, step 1 OpenAI's /usage
 * (out->amount then holds the limit read at step 0). Returns 0, or -1 with a reason in err. */
int upbalance_parse(enum provider_balance k, int step, const char *body, size_t len, struct upbalance *out,
                    char *err, size_t errlen);

/* The URL of step (0, or 1 for BAL_OPENAI) of kind k on base. now is unix seconds (OpenAI's usage
 * window: the last 100 days up to tomorrow, as One API asks). Returns 0, or -1 when it does not fit. */
int upbalance_url(enum provider_balance k, int step, const char *base, long long now, char *out, size_t outlen);

/* Reads the balance of a channel of provider p at base with key (NULL or "" for none): GETs with
 * p's auth header, timeout_s per request. Returns 0, or -1 with a reason in err (no endpoint for p,
 * network error, an HTTP error -- out->http_status says which --, or an answer that is not the
 * documented shape); the key never appears in err. */
int upbalance_fetch(const struct provider *p, const char *base, const char *key, long timeout_s,
                    struct upbalance *out, char *err, size_t errlen);

#endif
