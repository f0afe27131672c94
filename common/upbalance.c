/* upbalance: see upbalance.h. */
#include "upbalance.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *upbalance_kind_name(enum provider_balance k)
{
  switch (k) {
  case BAL_OPENAI: return "openai-billing";
  case BAL_DEEPSEEK: return "deepseek";
  case BAL_OPENROUTER: return "openrouter";
  case BAL_SILICONFLOW: return "siliconflow";
  case BAL_MOONSHOT: return "moonshot";
  case BAL_NONE: break;
  }
  return "none";
}

/* A figure: a JSON number, or a string holding one (DeepSeek's and SiliconFlow's are strings). */
static int figure(const cJSON *j, double *out)
{
  double v;
  if (cJSON_IsNumber(j)) {
    v = j->valuedouble;
  } else if (cJSON_IsString(j) && j->valuestring[0]) {
    char *end;
    v = strtod(j->valuestring, &end);
    if (*end)
      return -1;
  } else {
    return -1;
  }
  if (!isfinite(v) || fabs(v) > 1e15)
    return -1;
  *out = v;
  return 0;
}

static const cJSON *get(const cJSON *o, const char *k)
{
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void set_currency(struct upbalance *out, const char *c)
{
  size_t n = 0;
  for (; c && c[n] && n < sizeof out->currency - 1; n++) {
    char ch = c[n];
    if (ch >= 'a' && ch <= 'z')
      ch = (char)(ch - 'a' + 'A');
    if (ch < 'A' || ch > 'Z')
      break;
    out->currency[n] = ch;
  }
  out->currency[n] = '\0';
  if (!n)
    snprintf(out->currency, sizeof out->currency, "USD");
}

static int parse_doc(enum provider_balance k, int step, const cJSON *d, struct upbalance *out, char *err,
                     size_t errlen)
{
  double a, b;
  switch (k) {
  case BAL_OPENAI:
    if (step == 0) {
      if (figure(get(d, "hard_limit_usd"), &a) < 0)
        break;
      out->amount = a;
    } else {
      if (figure(get(d, "total_usage"), &b) < 0)   /* cents */
        break;
      out->amount -= b / 100.0;
    }
    set_currency(out, "USD");
    return 0;
  case BAL_DEEPSEEK: {
    const cJSON *infos = get(d, "balance_infos"), *it, *pick = NULL;
    if (!cJSON_IsArray(infos))
      infos = NULL;
    cJSON_ArrayForEach(it, infos) {
      const char *c = cJSON_GetStringValue(get(it, "currency"));
      if (!pick || (c && strcmp(c, "USD") == 0))
        pick = it;
    }
    if (!pick || figure(get(pick, "total_balance"), &a) < 0)
      break;
    out->amount = a;
    set_currency(out, cJSON_GetStringValue(get(pick, "currency")));
    return 0;
  }
  case BAL_OPENROUTER: {
    const cJSON *data = get(d, "data");
    if (figure(get(data, "total_credits"), &a) < 0 || figure(get(data, "total_usage"), &b) < 0)
      break;
    out->amount = a - b;
    set_currency(out, "USD");
    return 0;
  }
  case BAL_SILICONFLOW:
    if (figure(get(get(d, "data"), "totalBalance"), &a) < 0)
      break;
    out->amount = a;
    set_currency(out, "CNY");
    return 0;
  case BAL_MOONSHOT:
    if (figure(get(get(d, "data"), "available_balance"), &a) < 0)
      break;
    out->amount = a;
    set_currency(out, "CNY");
    return 0;
  case BAL_NONE:
    snprintf(err, errlen, "this provider publishes no balance endpoint");
    return -1;
  }
  snprintf(err, errlen, "the %s balance answer is not in its documented shape", upbalance_kind_name(k));
  return -1;
}

int upbalance_parse(enum provider_balance k, int step, const char *body, size_t len, struct upbalance *out,
                    char *err, size_t errlen)
{
  cJSON *d = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  if (!cJSON_IsObject(d)) {
    cJSON_Delete(d);
    snprintf(err, errlen, "the %s balance answer is not a JSON object", upbalance_kind_name(k));
    return -1;
  }
  int rc = parse_doc(k, step, d, out, err, errlen);
  cJSON_Delete(d);
  return rc;
}

int upbalance_url(enum provider_balance k, int step, const char *base, long long now, char *out, size_t outlen)
{
  char path[160];
  switch (k) {
  case BAL_OPENAI:
    if (step == 0) {
      snprintf(path, sizeof path, "/v1/dashboard/billing/subscription");
    } else {
      char from[16], to[16];
      time_t a = (time_t)(now - 100LL * 86400), b = (time_t)(now + 86400);
      struct tm ta, tb;
      gmtime_r(&a, &ta);
      gmtime_r(&b, &tb);
      strftime(from, sizeof from, "%Y-%m-%d", &ta);
      strftime(to, sizeof to, "%Y-%m-%d", &tb);
      snprintf(path, sizeof path, "/v1/dashboard/billing/usage?start_date=%s&end_date=%s", from, to);
    }
    break;
  case BAL_DEEPSEEK: {  /* at the host's root: a base ending in /v1 loses it */
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
      n--;
    if (n >= 3 && strncmp(base + n - 3, "/v1", 3) == 0)
      n -= 3;
    int w = snprintf(out, outlen, "%.*s/user/balance", (int)n, base);
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
  }
  case BAL_OPENROUTER: snprintf(path, sizeof path, "/v1/credits"); break;
  case BAL_SILICONFLOW: snprintf(path, sizeof path, "/v1/user/info"); break;
  case BAL_MOONSHOT: snprintf(path, sizeof path, "/v1/users/me/balance"); break;
  default: return -1;
  }
  return provider_join(base, path, out, outlen);
}

struct sink {
  char *buf;
  size_t len;
  bool over;
};

static size_t keep(char *p, size_t size, size_t n, void *ud)
{
  struct sink *s = ud;
  size_t take = size * n;
  if (s->len + take > UPBALANCE_BODY_MAX) {
    s->over = true;
    return 0;                  /* libcurl stops: an answer this large is not a balance */
  }
  memcpy(s->buf + s->len, p, take);
  s->len += take;
  s->buf[s->len] = '\0';
  return take;
}

int upbalance_fetch(const struct provider *p, const char *base, const char *key, long timeout_s,
                    struct upbalance *out, char *err, size_t errlen)
{
  memset(out, 0, sizeof *out);
  if (!p || p->balance == BAL_NONE) {
    snprintf(err, errlen, "a %s channel has no balance endpoint", p ? p->name : "?");
    return -1;
  }
  if (!base || !*base) {
    snprintf(err, errlen, "the channel has no base URL");
    return -1;
  }
  char auth[8192] = "";
  if (key && *key && provider_auth_header(p, key, auth, sizeof auth) < 0) {
    snprintf(err, errlen, "the upstream key is too long");
    return -1;
  }
  struct sink s = {.buf = malloc(UPBALANCE_BODY_MAX + 1)};   /* owned here, freed below */
  if (!s.buf) {
    OPENSSL_cleanse(auth, sizeof auth);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
  if (auth[0])
    h = curl_slist_append(h, auth);
  if (p->extra_header)
    h = curl_slist_append(h, p->extra_header);
  OPENSSL_cleanse(auth, sizeof auth);
  int rc = 0, steps = p->balance == BAL_OPENAI ? 2 : 1;
  for (int step = 0; step < steps && rc == 0; step++) {
    char url[2300];
    if (upbalance_url(p->balance, step, base, (long long)time(NULL), url, sizeof url) < 0) {
      snprintf(err, errlen, "the balance URL is too long");
      rc = -1;
      break;
    }
    s.len = 0;
    s.over = false;
    s.buf[0] = '\0';
    CURL *e = curl_easy_init();
    if (!e || !h) {
      if (e)
        curl_easy_cleanup(e);
      snprintf(err, errlen, "cannot start libcurl");
      rc = -1;
      break;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : 20L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "relay/" RELAY_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    CURLcode cr = curl_easy_perform(e);
    out->http_status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->http_status);
    curl_easy_cleanup(e);
    if (s.over) {
      snprintf(err, errlen, "the balance answer is larger than %d bytes", UPBALANCE_BODY_MAX);
      rc = -1;
    } else if (cr != CURLE_OK) {
      snprintf(err, errlen, "%s", curl_easy_strerror(cr));
      rc = -1;
    } else if (out->http_status < 200 || out->http_status > 299) {
      /* the upstream's own message, parsed, never its raw bytes (they may echo the key) */
      cJSON *d = cJSON_ParseWithLength(s.buf, s.len);
      const cJSON *eo = get(d, "error");
      const char *m = cJSON_GetStringValue(cJSON_IsObject(eo) ? get(eo, "message") : eo);
      if (!m)
        m = cJSON_GetStringValue(get(d, "message"));
      bool echoes = m && key && *key && strstr(m, key);
      snprintf(err, errlen, "the balance endpoint answered HTTP %ld%s%.160s", out->http_status,
               m && !echoes ? ": " : "", m && !echoes ? m : "");
      cJSON_Delete(d);
      rc = -1;
    } else {
      rc = upbalance_parse(p->balance, step, s.buf, s.len, out, err, errlen);
    }
  }
  curl_slist_free_all(h);    /* held the key: libcurl's copy, freed (not wiped; as gwctl's test does) */
  free(s.buf);
  if (rc == 0 && p->balance == BAL_MOONSHOT && strstr(base, ".moonshot.ai"))
    set_currency(out, "USD");   /* the international platform bills in USD */
  return rc;
}
