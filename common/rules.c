/* rules: see rules.h. */
#include "rules.h"
#include "codes.h"
#include "util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

const char *const rule_price_units[] = { "call", "image", "second", "search", NULL };
const char *const rule_key_modes[] = { "random", "round-robin", "sticky", NULL };
const char *const rule_fallback_on[] = { "context", "policy", NULL };
const char *const rule_channel_status[] = { [STATUS_ENABLED] = "enabled", [STATUS_DISABLED] = "disabled",
                                            [STATUS_AUTO_DISABLED] = "auto-disabled", NULL };
const char *const rule_token_status[] = { [STATUS_ENABLED] = "enabled", [STATUS_DISABLED] = "disabled",
                                          [STATUS_EXPIRED] = "expired", [STATUS_EXHAUSTED] = "exhausted", NULL };
const char *const rule_user_status[] = { [STATUS_ENABLED] = "enabled", [STATUS_DISABLED] = "disabled", NULL };

int rule_word(const char *const *words, const char *s)
{
  for (int i = 0; s && words[i]; i++)
    if (strcmp(words[i], s) == 0)
      return i;
  return -1;
}

void rule_words_text(const char *const *words, char *out, size_t len)
{
  size_t used = 0;
  if (len)
    out[0] = '\0';
  for (int i = 0; words[i] && used < len; i++)
    used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", words[i]);
}

int64_t rule_status_value(const char *const *names, int n, const char *s)
{
  for (int i = STATUS_ENABLED; i < n; i++)
    if (names[i] && strcmp(names[i], s) == 0)
      return i;
  return STATUS_ENABLED;
}

const char *rule_status_name(const char *const *names, int n, int64_t v)
{
  return v >= STATUS_ENABLED && v < n && names[v] ? names[v] : "enabled";
}

const char *rule_role_name(int64_t role)
{
  switch (role) {
  case ROLE_GUEST: return "guest";
  case ROLE_ADMIN: return "admin";
  case ROLE_ROOT: return "root";
  default: return "common";
  }
}

int64_t rule_role_value(const char *s)
{
  return !strcmp(s, "admin") ? ROLE_ADMIN : !strcmp(s, "root") ? ROLE_ROOT
                                          : !strcmp(s, "guest") ? ROLE_GUEST : ROLE_COMMON;
}

enum rule_url rule_base_url(const char *url, char *out, size_t outlen)
{
  const char *host;
  if (strncmp(url, "http://", 7) == 0)
    host = url + 7;
  else if (strncmp(url, "https://", 8) == 0)
    host = url + 8;
  else
    return RULE_URL_SCHEME;
  if (!*host || *host == '/')
    return RULE_URL_NO_HOST;
  if (strlen(url) >= outlen)
    return RULE_URL_TOO_LONG;
  for (const unsigned char *p = (const unsigned char *)url; *p; p++)
    if (*p <= ' ' || *p == 0x7f)
      return RULE_URL_BLANKS;
  size_t n = strlen(url);
  while (n > (size_t)(host - url) && url[n - 1] == '/')     /* relayd appends /v1/... itself */
    n--;
  snprintf(out, outlen, "%.*s", (int)n, url);
  return RULE_URL_OK;
}

enum rule_ip rule_ip_item(const char *item, char *addr, size_t addrlen, int *max)
{
  unsigned char buf[16];
  const char *slash = strchr(item, '/');
  snprintf(addr, addrlen, "%.*s", (int)(slash ? (size_t)(slash - item) : strlen(item)), item);
  *max = inet_pton(AF_INET, addr, buf) == 1 ? 32 : inet_pton(AF_INET6, addr, buf) == 1 ? 128 : 0;
  int64_t prefix = 0;
  if (!*max)
    return RULE_IP_ADDRESS;
  if (slash && (parse_int64(slash + 1, &prefix) != 0 || prefix < 0 || prefix > *max))
    return RULE_IP_PREFIX;
  return RULE_IP_OK;
}

enum rule_chain rule_chain(const char *model, const char *list, int n)
{
  if (n < 1 || n > RULE_CHAIN_MAX)
    return RULE_CHAIN_COUNT;
  size_t ml = strlen(model);
  for (const char *p = list; *p;) {
    size_t l = strcspn(p, ",");
    if (l == ml && strncmp(p, model, l) == 0)
      return RULE_CHAIN_SELF;
    p += l;
    if (*p == ',')
      p++;
  }
  return RULE_CHAIN_OK;
}

enum rule_map rule_model_map(const cJSON *m, const cJSON **bad)
{
  *bad = NULL;
  if (!cJSON_IsObject(m))
    return RULE_MAP_NOT_OBJECT;
  const cJSON *it, *prev;
  cJSON_ArrayForEach(it, m) {
    *bad = it;
    if (!it->string || !*it->string)
      return RULE_MAP_EMPTY_NAME;
    if (!cJSON_IsString(it))
      return RULE_MAP_NOT_STRING;
    if (!*it->valuestring)
      return RULE_MAP_EMPTY_TARGET;
    for (prev = m->child; prev != it; prev = prev->next)
      if (strcmp(prev->string, it->string) == 0)
        return RULE_MAP_TWICE;
  }
  *bad = NULL;
  return RULE_MAP_OK;
}

unsigned rule_price(const struct price *p)
{
  unsigned bad = 0;
  if (p->has_tier && p->tier_above > 0 && p->has_fixed)
    bad |= RULE_PRICE_TIER_FIXED;
  if (p->has_tier && p->tier_above > 0 && p->tier_ratio[0] < 0)
    bad |= RULE_PRICE_TIER_RATIO;
  if (!p->has_ratio && !p->has_fixed)
    bad |= RULE_PRICE_NONE;
  return bad;
}
