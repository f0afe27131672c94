/* hookevent: see hookevent.h. */
#include "hookevent.h"

#include <cjson/cJSON.h>

char *hookevent_json(const char *event, int64_t channel_id, const char *channel, int key_index, const char *reason,
                     const double *balance, const char *currency, int64_t time)
{
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "event", event ? event : "");
  cJSON_AddStringToObject(o, "channel", channel ? channel : "");
  cJSON_AddNumberToObject(o, "channel_id", (double)channel_id);
  if (key_index >= 0)
    cJSON_AddNumberToObject(o, "key_index", key_index);
  else
    cJSON_AddNullToObject(o, "key_index");
  cJSON_AddStringToObject(o, "reason", reason ? reason : "");
  cJSON_AddNumberToObject(o, "time", (double)time);
  if (balance) {
    cJSON_AddNumberToObject(o, "balance", *balance);
    cJSON_AddStringToObject(o, "currency", currency ? currency : "");
  }
  char *body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return body;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
  (void)p;
  (void)ud;
  return size * n;
}

int hookevent_post(const char *url, const char *body, long timeout_s, long connect_s,
                   curl_xferinfo_callback progress, const char *agent, long *status, CURLcode *rc)
{
  *status = 0;
  *rc = CURLE_FAILED_INIT;
  CURL *e = curl_easy_init();
  struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
  if (e && hd) {
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
    if (connect_s > 0)
      curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, connect_s);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    if (progress) {
      curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress);
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, agent);
    *rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
  }
  if (e)
    curl_easy_cleanup(e);
  curl_slist_free_all(hd);
  return *rc == CURLE_OK && *status >= 200 && *status < 300 ? 0 : -1;
}
