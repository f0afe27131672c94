/* apply_check: see apply_check.h. */
#include "gwctl.h"
#include "i18n.h"
#include "channels.h"
#include "keys.h"
#include "output.h"
#include "gcpauth.h"
#include "provider.h"
#include "quota.h"
#include "rules.h"
#include "store.h"
#include "when.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "apply_check.h"
#include "apply_fields.h"

static const char *const group_fields[] = { "name", "ratio", "selectable", NULL };
static const char *const price_fields[] = { "model", "model_ratio", "completion_ratio",
                                            "cache_ratio", "fixed_price", "unit",
                                            "cache_write_ratio", "cache_write_1h_ratio",
                                            "max_output_tokens", "audio_ratio",
                                            "audio_completion_ratio", "tier_above", "tier_model_ratio",
                                            "tier_completion_ratio", "tier_cache_ratio", NULL };
#define MAX_OUTPUT_MAX RULE_MAX_OUTPUT_MAX
#define TIER_ABOVE_MAX RULE_TIER_ABOVE_MAX
#define LIMIT_MAX RULE_LIMIT_MAX
#define CONCURRENCY_MAX RULE_CONCURRENCY_MAX
#define CHAIN_MODELS_MAX RULE_CHAIN_MAX
static const char *const user_fields[] = { "name", "role", "status", "group", "quota", NULL };
static const char *const channel_fields[] = { "name", "type", "status", "base_url", "models",
                                              "group", "model_mapping", "priority", "weight",
                                              "tag", "other", "key_mode", "rpm", "tpm",
                                              "max_concurrency", "key", "keys", NULL };
static const char *const pool_fields[] = { "index", "status", "rpm", "tpm", "max_concurrency", "key", NULL };
static const char *const fallback_fields[] = { "model", "group", "token", "chain", "on", NULL };
static const char *const token_fields[] = { "user", "name", "status", "unlimited", "quota",
                                            "expires", "models", "ips", "group", "key",
                                            "key_file", "response_cache", NULL };

static cJSON *check_group(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  ap_check_fields(c, in, group_fields);
  const char *name = ap_get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  double ratio;
  int sel;
  int bad = ap_get_double(c, in, "ratio", RATIO_MAX, 1, &ratio) | ap_get_bool(c, in, "selectable", 0, &sel);
  if (!name || bad)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddNumberToObject(o, "ratio", ratio);
  cJSON_AddBoolToObject(o, "selectable", sel);
  return o;
}

static cJSON *check_price(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  ap_check_fields(c, in, price_fields);
  const char *model = ap_get_name(c, in, "model", MODEL_NAME_MAX, NULL, 0);
  double mr, cr, kr, fp = 0;
  int bad = ap_get_double(c, in, "model_ratio", RATIO_MAX, 0, &mr)
            | ap_get_double(c, in, "completion_ratio", RATIO_MAX, 1, &cr)
            | ap_get_double(c, in, "cache_ratio", RATIO_MAX, 1, &kr);
  const cJSON *fv = cJSON_GetObjectItemCaseSensitive(in, "fixed_price");
  int fixed = fv && !cJSON_IsNull(fv);
  if (fixed)
    bad |= ap_get_double(c, in, "fixed_price", PRICE_MAX, 0, &fp);
  /* what one fixed_price pays for (doc/endpoints.md); ratio prices ignore it */
  const char *unit = ap_get_enum(c, in, "unit", rule_price_units, "call");
  if (!unit)
    bad = 1;
  /* cache write ratios and max_output_tokens: null or absent = relayd's default / unknown */
  double cw = 0, cw1h = 0;
  int64_t max_out = 0;
  const cJSON *cwv = cJSON_GetObjectItemCaseSensitive(in, "cache_write_ratio");
  const cJSON *cw1v = cJSON_GetObjectItemCaseSensitive(in, "cache_write_1h_ratio");
  const cJSON *mov = cJSON_GetObjectItemCaseSensitive(in, "max_output_tokens");
  int has_cw = cwv && !cJSON_IsNull(cwv), has_cw1h = cw1v && !cJSON_IsNull(cw1v);
  int has_mo = mov && !cJSON_IsNull(mov);
  if (has_cw)
    bad |= ap_get_double(c, in, "cache_write_ratio", RATIO_MAX, 0, &cw);
  if (has_cw1h)
    bad |= ap_get_double(c, in, "cache_write_1h_ratio", RATIO_MAX, 0, &cw1h);
  if (has_mo)
    bad |= ap_get_int(c, in, "max_output_tokens", 0, MAX_OUTPUT_MAX, 0, &max_out);
  /* audio ratios (migration 013): null or absent = priced as text */
  double ar = 0, acr = 0;
  const cJSON *arv = cJSON_GetObjectItemCaseSensitive(in, "audio_ratio");
  const cJSON *acrv = cJSON_GetObjectItemCaseSensitive(in, "audio_completion_ratio");
  int has_ar = arv && !cJSON_IsNull(arv), has_acr = acrv && !cJSON_IsNull(acrv);
  if (has_ar)
    bad |= ap_get_double(c, in, "audio_ratio", RATIO_MAX, 0, &ar);
  if (has_acr)
    bad |= ap_get_double(c, in, "audio_completion_ratio", RATIO_MAX, 0, &acr);
  /* the long-context tier (migration 014, gwctl price set --tier): tier_above null = none */
  static const char *const tier_f[] = { "tier_model_ratio", "tier_completion_ratio", "tier_cache_ratio" };
  const cJSON *tav = cJSON_GetObjectItemCaseSensitive(in, "tier_above");
  int has_tier = tav && !cJSON_IsNull(tav), has_tr[3];
  int64_t tier_above = 0;
  double tr[3] = { 0, 0, 0 };
  if (has_tier)
    bad |= ap_get_int(c, in, "tier_above", 1, TIER_ABOVE_MAX, 0, &tier_above);
  for (int k = 0; k < 3; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, tier_f[k]);
    has_tr[k] = v && !cJSON_IsNull(v);
    if (has_tr[k] && !has_tier) {
      cerr(c, tier_f[k], "goes with tier_above (the prompt tokens above which the tier applies)");
      bad = 1;
    } else if (has_tr[k]) {
      bad |= ap_get_double(c, in, tier_f[k], RATIO_MAX, 0, &tr[k]);
    }
  }
  /* the fields together: common/rules.h, as gwctl price set and import */
  /* (tier_above given stands as its maximum here: its own range was checked above, on its field) */
  struct price rp = { .has_ratio = cJSON_GetObjectItemCaseSensitive(in, "model_ratio") != NULL,
                      .has_fixed = fixed, .has_tier = has_tier, .tier_above = has_tier ? TIER_ABOVE_MAX : 0,
                      .tier_ratio = { has_tr[0] ? tr[0] : -1 } };
  unsigned rbad = rule_price(&rp);
  if (rbad & RULE_PRICE_NONE)
    cerr(c, "model_ratio", "is required unless fixed_price is given");
  if (rbad & RULE_PRICE_TIER_RATIO)
    cerr(c, "tier_model_ratio", "is required with tier_above (the input price above the threshold)");
  if (rbad & RULE_PRICE_TIER_FIXED)
    cerr(c, "tier_above", "a tier goes with model_ratio, not fixed_price");
  bad |= rbad != 0;
  if (!model || bad)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", model);
  cJSON_AddNumberToObject(o, "model_ratio", mr);
  cJSON_AddNumberToObject(o, "completion_ratio", cr);
  cJSON_AddNumberToObject(o, "cache_ratio", kr);
  if (fixed)
    cJSON_AddNumberToObject(o, "fixed_price", fp);
  else
    cJSON_AddNullToObject(o, "fixed_price");
  cJSON_AddStringToObject(o, "unit", unit);
  if (has_cw)
    cJSON_AddNumberToObject(o, "cache_write_ratio", cw);
  else
    cJSON_AddNullToObject(o, "cache_write_ratio");
  if (has_cw1h)
    cJSON_AddNumberToObject(o, "cache_write_1h_ratio", cw1h);
  else
    cJSON_AddNullToObject(o, "cache_write_1h_ratio");
  if (has_mo && max_out > 0)      /* 0 = unknown, stored as NULL */
    cJSON_AddNumberToObject(o, "max_output_tokens", (double)max_out);
  else
    cJSON_AddNullToObject(o, "max_output_tokens");
  if (has_ar)
    cJSON_AddNumberToObject(o, "audio_ratio", ar);
  else
    cJSON_AddNullToObject(o, "audio_ratio");
  if (has_acr)
    cJSON_AddNumberToObject(o, "audio_completion_ratio", acr);
  else
    cJSON_AddNullToObject(o, "audio_completion_ratio");
  if (has_tier)
    cJSON_AddNumberToObject(o, "tier_above", (double)tier_above);
  else
    cJSON_AddNullToObject(o, "tier_above");
  for (int k = 0; k < 3; k++)
    if (has_tr[k])
      cJSON_AddNumberToObject(o, tier_f[k], tr[k]);
    else
      cJSON_AddNullToObject(o, tier_f[k]);
  return o;
}

static cJSON *check_user(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  static const char *const roles[] = { "common", "admin", "root", "guest", NULL };
  static const char *const statuses[] = { "enabled", "disabled", NULL };
  ap_check_fields(c, in, user_fields);
  const char *name = ap_get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  const char *role = ap_get_enum(c, in, "role", roles, "common");
  const char *status = ap_get_enum(c, in, "status", statuses, "enabled");
  const char *group = ap_get_name(c, in, "group", GW_NAME_MAX, "default", 0);
  int64_t quota;
  int bad = ap_get_quota(c, in, "quota", 0, &quota);
  if (!name || !role || !status || !group || bad)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddStringToObject(o, "role", role);
  cJSON_AddStringToObject(o, "status", status);
  cJSON_AddStringToObject(o, "group", group);
  cJSON_AddNumberToObject(o, "quota", (double)quota);
  return o;
}

static const char *check_url(struct check_ctx *c, const cJSON *in, char *out, size_t outlen)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "base_url");
  if (!v) {
    cerr(c, "base_url", "is required");
    return NULL;
  }
  const char *url = cJSON_GetStringValue(v);
  switch (url ? rule_base_url(url, out, outlen) : RULE_URL_SCHEME) {
  case RULE_URL_SCHEME:
    cerr(c, "base_url", "must start with http:// or https://");
    return NULL;
  case RULE_URL_NO_HOST:
    cerr(c, "base_url", "has no host");
    return NULL;
  case RULE_URL_TOO_LONG:
    cerr(c, "base_url", "is too long");
    return NULL;
  case RULE_URL_BLANKS:
    cerr(c, "base_url", "may not contain blanks or control characters");
    return NULL;
  default:
    break;
  }
  return out;
}

/* A channel's "keys": its key pool, one object a key {"index", "status", "rpm", "tpm",
 * "max_concurrency", "key": reference}, matched by index (gwctl channel key list's N; absent: the
 * one before plus 1). Returns the canonical array sorted by index (without the references, which go
 * to it->pool in the same order), or NULL after an error. */
static cJSON *check_pool(struct check_ctx *c, const cJSON *in, struct item *it)
{
  static const char *const statuses[] = { "enabled", "disabled", "auto-disabled", NULL };
  if (!cJSON_IsArray(in)) {
    cerr(c, "keys", "must be an array of objects, not %s", gw_json_type(in));
    return NULL;
  }
  if (!in->child) {
    cerr(c, "keys", "needs at least one key");
    return NULL;
  }
  int n = cJSON_GetArraySize(in);
  if (n > POOL_KEYS_MAX) {
    cerr(c, "keys", "holds more than %d keys", POOL_KEYS_MAX);
    return NULL;
  }
  cJSON *out = cJSON_CreateArray();
  char **refs = calloc((size_t)n, sizeof *refs);
  int bad = !refs, i = 0;
  int64_t prev = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, in) {
    char field[32];
    snprintf(field, sizeof field, "keys[%d]", i);
    if (!cJSON_IsObject(e)) {
      cerr(c, field, "must be an object, not %s", gw_json_type(e));
      bad = 1;
      i++;
      continue;
    }
    /* the entry's own fields, named keys[N].FIELD in messages */
    struct check_ctx sub = *c;
    snprintf(sub.label + strlen(sub.label), sizeof sub.label - strlen(sub.label), ": %s", field);
    ap_check_fields(&sub, e, pool_fields);
    int64_t idx, rpm, tpm, maxc;
    int b = ap_get_int(&sub, e, "index", 1, 1000000000, prev + 1, &idx) | ap_get_int(&sub, e, "rpm", 0, LIMIT_MAX, 0, &rpm)
            | ap_get_int(&sub, e, "tpm", 0, LIMIT_MAX, 0, &tpm)
            | ap_get_int(&sub, e, "max_concurrency", 0, CONCURRENCY_MAX, 0, &maxc);
    const char *status = ap_get_enum(&sub, e, "status", statuses, "enabled");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(e, "key");
    char *secret = ref ? ap_resolve_secret(&sub, ref, "key") : NULL;
    const cJSON *o;
    cJSON_ArrayForEach(o, out)
      if (!b && ap_int_of(o, "index") == idx) {
        cerr(&sub, "index", "%" PRId64 " is listed twice", idx);
        b = 1;
      }
    if (b || !status || (ref && !secret)) {
      bad = 1;
      if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
      }
      i++;
      continue;
    }
    prev = idx;
    cJSON *k = cJSON_CreateObject();
    cJSON_AddNumberToObject(k, "index", (double)idx);
    cJSON_AddStringToObject(k, "status", status);
    cJSON_AddNumberToObject(k, "rpm", (double)rpm);
    cJSON_AddNumberToObject(k, "tpm", (double)tpm);
    cJSON_AddNumberToObject(k, "max_concurrency", (double)maxc);
    /* sorted by index (insertion), its reference at the same position */
    int pos = 0;
    cJSON *at = out->child;
    while (at && ap_int_of(at, "index") < idx) {
      at = at->next;
      pos++;
    }
    int have = cJSON_GetArraySize(out);
    memmove(refs + pos + 1, refs + pos, (size_t)(have - pos) * sizeof *refs);
    refs[pos] = secret;
    if (at)
      cJSON_InsertItemInArray(out, pos, k);
    else
      cJSON_AddItemToArray(out, k);
    i++;
  }
  if (bad) {
    ap_pool_free(refs, (size_t)n);
    cJSON_Delete(out);
    return NULL;
  }
  it->pool = refs;
  it->npool = (size_t)cJSON_GetArraySize(out);
  return out;
}

static cJSON *check_channel(struct check_ctx *c, const cJSON *in, struct item *it)
{
  static const char *const statuses[] = { "enabled", "disabled", "auto-disabled", NULL };
  char url[URL_MAX];
  ap_check_fields(c, in, channel_fields);
  const char *name = ap_get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  const char *type = ap_get_name(c, in, "type", GW_NAME_MAX, NULL, 0);
  int bad = 0;
  if (type && !provider_find(type)) {
    cerr(c, "type", "unknown channel type '%s' (supported: %s)", type, provider_type_list());
    bad = 1;
  }
  const char *status = ap_get_enum(c, in, "status", statuses, "enabled");
  const char *base = check_url(c, in, url, sizeof url);
  cJSON *models = ap_get_list(c, in, "models", MODEL_NAME_MAX, NULL, 1);
  cJSON *groups = ap_get_list(c, in, "group", GW_NAME_MAX, "default", 1);
  cJSON *map = ap_get_object(c, in, "model_mapping", 1);
  cJSON *other = ap_get_object(c, in, "other", 0);
  int64_t prio, weight;
  bad |= ap_get_int(c, in, "priority", -1000000000, 1000000000, 0, &prio);
  bad |= ap_get_int(c, in, "weight", 0, 1000000, 0, &weight);
  const char *tag = ap_get_name(c, in, "tag", GW_NAME_MAX, "", 1);
  /* the key pool's choice and the limits (as gwctl channel edit --key-mode, --rpm, --tpm,
   * --max-concurrency) */
  const char *mode = ap_get_enum(c, in, "key_mode", rule_key_modes, "random");
  int64_t rpm, tpm, maxc;
  bad |= ap_get_int(c, in, "rpm", 0, LIMIT_MAX, 0, &rpm) | ap_get_int(c, in, "tpm", 0, LIMIT_MAX, 0, &tpm)
         | ap_get_int(c, in, "max_concurrency", 0, CONCURRENCY_MAX, 0, &maxc);
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(in, "key");
  if (key && !(it->secret = ap_resolve_secret(c, key, "key")))
    bad = 1;
  const cJSON *pin = cJSON_GetObjectItemCaseSensitive(in, "keys");
  cJSON *pool = pin ? check_pool(c, pin, it) : NULL;
  if (pin && !pool)
    bad = 1;
  if (pin && key) {
    cerr(c, "keys", "a key pool's keys go in \"keys\", not with \"key\"");
    bad = 1;
  }
  if (type && pin && provider_find(type) && provider_find(type)->auth == AUTH_GOOGLE_SA) {
    cerr(c, "keys", "a vertex channel has one service-account key (\"key\"), not a pool");
    bad = 1;
  }
  if (type && it->secret && provider_find(type) && provider_find(type)->auth == AUTH_GOOGLE_SA) {
    struct gcp_sa sa;
    char why[300];
    if (gcp_sa_parse(it->secret, &sa, why, sizeof why) < 0) {
      cerr(c, "key", "a vertex channel's key is a Google Cloud service-account key (JSON): %s", why);
      bad = 1;
    }
    gcp_sa_free(&sa);
  }
  if (!name || !type || !status || !base || !models || !groups || !map || !other || !tag || !mode
      || bad) {
    cJSON_Delete(models);
    cJSON_Delete(groups);
    cJSON_Delete(map);
    cJSON_Delete(other);
    cJSON_Delete(pool);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddStringToObject(o, "type", type);
  cJSON_AddStringToObject(o, "status", status);
  cJSON_AddStringToObject(o, "base_url", base);
  cJSON_AddItemToObject(o, "models", models);
  cJSON_AddItemToObject(o, "group", groups);
  cJSON_AddItemToObject(o, "model_mapping", map);
  cJSON_AddNumberToObject(o, "priority", (double)prio);
  cJSON_AddNumberToObject(o, "weight", (double)weight);
  cJSON_AddStringToObject(o, "tag", tag);
  cJSON_AddItemToObject(o, "other", other);
  cJSON_AddStringToObject(o, "key_mode", mode);
  cJSON_AddNumberToObject(o, "rpm", (double)rpm);
  cJSON_AddNumberToObject(o, "tpm", (double)tpm);
  cJSON_AddNumberToObject(o, "max_concurrency", (double)maxc);
  if (pool)
    cJSON_AddItemToObject(o, "keys", pool);
  return o;
}

static int check_ips(struct check_ctx *c, const cJSON *ips)
{
  const cJSON *it;
  cJSON_ArrayForEach(it, ips) {
    char addr[80];
    int max = 0;
    switch (rule_ip_item(it->valuestring, addr, sizeof addr, &max)) {
    case RULE_IP_ADDRESS:
      cerr(c, "ips", "'%s' is not an IPv4 or IPv6 address", addr);
      return -1;
    case RULE_IP_PREFIX:
      cerr(c, "ips", "'%s' has a bad prefix length (0 to %d after '/')", it->valuestring, max);
      return -1;
    default:
      break;
    }
  }
  return 0;
}

static cJSON *check_token(struct check_ctx *c, const cJSON *in, struct item *it)
{
  static const char *const statuses[] = { "enabled", "disabled", "expired", "exhausted", NULL };
  ap_check_fields(c, in, token_fields);
  const char *user = ap_get_name(c, in, "user", GW_NAME_MAX, NULL, 0);
  const char *name = ap_get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  const char *status = ap_get_enum(c, in, "status", statuses, "enabled");
  int unlimited = 0, bad = ap_get_bool(c, in, "unlimited", 0, &unlimited), rcache = 0;
  bad |= ap_get_bool(c, in, "response_cache", 0, &rcache);
  int64_t quota = 0, expires = -1;
  bad |= ap_get_quota(c, in, "quota", 0, &quota);
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(in, "expires");
  char ewhy[160];
  if (cJSON_IsString(ev) && strcmp(ev->valuestring, "never") == 0) {
    expires = -1;
  } else if (cJSON_IsString(ev)) {
    /* a date (common/when.h's ISO 8601 forms); a span such as "30d" would move on every apply */
    const char *v = ev->valuestring;
    int iso = strlen(v) >= 10 && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[3])
              && v[4] == '-';
    if (!iso) {
      cerr(c, "expires", "'%.40s' is not a date: give an ISO 8601 date or time (2026-12-31, "
           "2026-12-31T12:00:00Z), Unix seconds, or \"never\" (a span would move on every apply)", v);
      bad = 1;
    } else if (when_parse(v, (int64_t)time(NULL), WHEN_FUTURE, &expires, ewhy, sizeof ewhy) != 0) {
      cerr(c, "expires", "'%.40s' %s", v, ewhy);
      bad = 1;
    }
  } else if (ev && (!cJSON_IsNumber(ev) || ev->valuedouble != floor(ev->valuedouble)
                  || (ev->valuedouble < 0 && ev->valuedouble != -1) || ev->valuedouble > 1e12)) {
    cerr(c, "expires", "must be Unix seconds, or -1 / \"never\"");
    bad = 1;
  } else if (ev) {
    expires = (int64_t)ev->valuedouble;
  }
  cJSON *models = ap_get_list(c, in, "models", MODEL_NAME_MAX, "", 0);
  cJSON *ips = ap_get_list(c, in, "ips", 64, "", 0);
  if (ips && check_ips(c, ips) != 0)
    bad = 1;
  const char *group = ap_get_name(c, in, "group", GW_NAME_MAX, "", 1);
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(in, "key");
  if (key && !(it->secret = ap_resolve_secret(c, key, "key")))
    bad = 1;
  char why[128];
  if (it->secret && key_validate(it->secret, why, sizeof why) != 0) {
    cerr(c, "key", "%s", why);
    bad = 1;
  }
  const cJSON *kf = cJSON_GetObjectItemCaseSensitive(in, "key_file");
  if (kf && (!cJSON_IsString(kf) || !*kf->valuestring)) {
    cerr(c, "key_file", "must be a path");
    bad = 1;
  } else if (kf && key) {
    cerr(c, "key_file", "is where a generated key goes: not with \"key\"");
    bad = 1;
  } else if (kf) {
    it->key_file = strdup(kf->valuestring);
  }
  if (!user || !name || !status || !models || !ips || !group || bad) {
    cJSON_Delete(models);
    cJSON_Delete(ips);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "user", user);
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddStringToObject(o, "status", status);
  cJSON_AddBoolToObject(o, "unlimited", unlimited);
  cJSON_AddNumberToObject(o, "quota", unlimited ? 0 : (double)quota);
  cJSON_AddNumberToObject(o, "expires", (double)expires);
  cJSON_AddItemToObject(o, "models", models);
  cJSON_AddItemToObject(o, "ips", ips);
  cJSON_AddStringToObject(o, "group", group);
  cJSON_AddBoolToObject(o, "response_cache", rcache);
  return o;
}

/* A fallback chain (gwctl fallback set): MODEL's for everyone, for "group" G or for "token"
 * "user/name"; "chain" 1..8 models tried in order, never MODEL itself; "on" [] or context, policy. */
static cJSON *check_fallback(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  ap_check_fields(c, in, fallback_fields);
  const char *model = ap_get_name(c, in, "model", MODEL_NAME_MAX, NULL, 0);
  const char *group = ap_get_name(c, in, "group", GW_NAME_MAX, "", 1);
  const cJSON *tv = cJSON_GetObjectItemCaseSensitive(in, "token");
  const char *token = "";
  int bad = 0;
  if (tv && !cJSON_IsString(tv)) {
    cerr(c, "token", "must be a string \"user/name\", not %s", gw_json_type(tv));
    bad = 1;
  } else if (tv && *tv->valuestring) {
    const char *slash = strchr(tv->valuestring, '/');
    char user[GW_NAME_MAX + 1];
    if (!slash || slash == tv->valuestring || (size_t)(slash - tv->valuestring) > GW_NAME_MAX
        || gw_name_problem(slash + 1, GW_NAME_MAX)
        || gw_name_problem((snprintf(user, sizeof user, "%.*s", (int)(slash - tv->valuestring),
                                     tv->valuestring), user), GW_NAME_MAX)) {
      cerr(c, "token", "'%.80s' is not \"user/name\" of a token", tv->valuestring);
      bad = 1;
    } else {
      token = tv->valuestring;
    }
  }
  if (group && *group && *token) {
    cerr(c, "token", "a chain belongs to a group or a token, not both");
    bad = 1;
  }
  cJSON *chain = ap_get_list(c, in, "chain", MODEL_NAME_MAX, NULL, 1);
  char list[GW_LIST_MAX + 1];
  ap_join_array(chain, list, sizeof list);
  enum rule_chain rch = chain ? rule_chain(model ? model : "", list, cJSON_GetArraySize(chain)) : RULE_CHAIN_OK;
  if (rch == RULE_CHAIN_COUNT) {
    cerr(c, "chain", "give 1 to %d models", CHAIN_MODELS_MAX);
    bad = 1;
  } else if (rch == RULE_CHAIN_SELF) {
    cerr(c, "chain", "'%s' cannot fall back to itself", model);
    bad = 1;
  }
  const cJSON *m;
  cJSON *on = ap_get_list(c, in, "on", 16, "", 0);
  cJSON_ArrayForEach(m, on)
    if (rule_word(rule_fallback_on, m->valuestring) < 0) {
      cerr(c, "on", "unknown error kind '%.40s' (context, policy)", m->valuestring);
      bad = 1;
    }
  if (!model || !group || !chain || !on || bad) {
    cJSON_Delete(chain);
    cJSON_Delete(on);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", model);
  cJSON_AddStringToObject(o, "group", group);
  cJSON_AddStringToObject(o, "token", token);
  cJSON_AddItemToObject(o, "chain", chain);
  cJSON_AddItemToObject(o, "on", on);
  return o;
}

/* The name an entry is matched by: tokens "user/name", fallbacks "MODEL[@group:G|@token:U/N]"
 * (the reader builds the same in SQL), the others their id field. */
static void item_key(enum kind k, const cJSON *o, char *out, size_t len)
{
  if (k == K_TOKEN)
    snprintf(out, len, "%s/%s", ap_str_of(o, "user"), ap_str_of(o, "name"));
  else if (k == K_FALLBACK)
    snprintf(out, len, "%s%s%s", ap_str_of(o, "model"), *ap_str_of(o, "group") ? "@group:"
                                                     : *ap_str_of(o, "token") ? "@token:" : "",
             *ap_str_of(o, "group") ? ap_str_of(o, "group") : ap_str_of(o, "token"));
  else
    snprintf(out, len, "%s", ap_str_of(o, ap_kinds[k].id_field));
}

static cJSON *(*const checkers[K_N])(struct check_ctx *, const cJSON *, struct item *) = {
  check_group, check_price, NULL, check_user, check_channel, check_token, check_fallback,
};

/* Reads the document's sections into a->want. */
void ap_check_document(struct apply *a, const cJSON *doc)
{
  if (!cJSON_IsObject(doc)) {
    aerr(a, NULL, "the document must be a JSON object, not %s", gw_json_type(doc));
    return;
  }
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
  if (!ver)
    aerr(a, "version", "is required (this gwctl reads version %d)", DOC_VERSION);
  else if (!cJSON_IsNumber(ver) || ver->valuedouble != DOC_VERSION)
    aerr(a, "version", "this gwctl reads version %d only", DOC_VERSION);
  const cJSON *sec;
  cJSON_ArrayForEach(sec, doc) {
    if (strcmp(sec->string, "version") == 0)
      continue;
    int k = 0;
    while (k < K_N && strcmp(ap_kinds[k].section, sec->string) != 0)
      k++;
    if (k == K_N) {
      aerr(a, sec->string, "unknown section (known: version, groups, prices, options, "
           "users, channels, tokens, fallbacks)");
      continue;
    }
    a->in_file[k] = 1;
    if (k == K_OPTION) {
      if (!cJSON_IsObject(sec)) {
        aerr(a, "options", "must be an object {\"KEY\": VALUE}, not %s", gw_json_type(sec));
        continue;
      }
      const cJSON *o;
      int i = 0;
      cJSON_ArrayForEach(o, sec) {
        char val[64], norm[64], why[128];
        if (cJSON_IsNumber(o))
          snprintf(val, sizeof val, "%.0f", o->valuedouble);
        else
          snprintf(val, sizeof val, "%s", cJSON_IsString(o) ? o->valuestring : "");
        if (!cJSON_IsNumber(o) && !cJSON_IsString(o)) {
          fprintf(stderr, _("gwctl: options \"%s\": must be a number or a string, not %s\n"),
                  o->string, gw_json_type(o));
          a->errors++;
        } else if (gw_config_check(o->string, val, norm, sizeof norm, why, sizeof why) != 0) {
          char known[512] = "";
          for (size_t j = 0; gw_config_key(j); j++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     *known ? ", " : "", gw_config_key(j));
          /* i18n: not translated: the file's field and options.c's reason, as gw_config_check gives it */
          fprintf(stderr, "gwctl: options \"%s\": %s%s%s\n", o->string, why,
                  strcmp(why, "unknown option") == 0 ? _("; known options: ") : "",
                  strcmp(why, "unknown option") == 0 ? known : "");
          a->errors++;
        } else {
          cJSON *c = cJSON_CreateObject();
          cJSON_AddStringToObject(c, "key", o->string);
          cJSON_AddStringToObject(c, "value", norm);
          ap_set_add(&a->want[k], o->string, 0, c, i);
        }
        i++;
      }
      continue;
    }
    if (!cJSON_IsArray(sec)) {
      aerr(a, sec->string, "must be an array of objects, not %s", gw_json_type(sec));
      continue;
    }
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, sec) {
      struct check_ctx c;
      ap_ctx_init(&c, a, k, i, e);
      if (!cJSON_IsObject(e)) {
        cerr(&c, NULL, "must be an object, not %s", gw_json_type(e));
        i++;
        continue;
      }
      struct item tmp = { 0 };
      cJSON *o = checkers[k](&c, e, &tmp);
      if (o) {
        char key[MODEL_NAME_MAX + 2 * GW_NAME_MAX + 16];
        item_key((enum kind)k, o, key, sizeof key);
        /* a duplicate is an error on the second entry */
        int dup = -1;
        for (size_t j = 0; j < a->want[k].n; j++)
          if (strcmp(a->want[k].v[j].key, key) == 0)
            dup = a->want[k].v[j].index;
        if (dup >= 0) {
          cerr(&c, ap_kinds[k].id_field, "'%s' is already listed as %s[%d]", key, ap_kinds[k].section,
               dup);
          cJSON_Delete(o);
        } else {
          ap_set_add(&a->want[k], key, 0, o, i);
          a->want[k].v[a->want[k].n - 1].secret = tmp.secret;
          a->want[k].v[a->want[k].n - 1].key_file = tmp.key_file;
          a->want[k].v[a->want[k].n - 1].pool = tmp.pool;
          a->want[k].v[a->want[k].n - 1].npool = tmp.npool;
          tmp.secret = tmp.key_file = NULL;
          tmp.pool = NULL;
          tmp.npool = 0;
        }
      }
      if (tmp.secret) {
        OPENSSL_cleanse(tmp.secret, strlen(tmp.secret));
        free(tmp.secret);
      }
      free(tmp.key_file);
      ap_pool_free(tmp.pool, tmp.npool);
      i++;
    }
  }
}

