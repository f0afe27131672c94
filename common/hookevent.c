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
