/* cmd_notify: see cmd_notify.h. */
#include "gwctl.h"
#include "cmd_notify.h"
#include "hookevent.h"
#include "i18n.h"
#include "options.h"
#include "output.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int cmd_notify_test(struct gwctl *g, int argc, char **argv)
{
  const char *url_opt = NULL, *timeout_s = "10";
  const struct gw_opt opts[] = { { "url", &url_opt, NULL }, { "timeout", &timeout_s, NULL }, { 0 } };
  int64_t timeout = 0;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0)
    rc = gw_parse_int(g, "--timeout", timeout_s, 1, 600, &timeout);
  if (rc == 0 && url_opt && strncmp(url_opt, "http://", 7) != 0 && strncmp(url_opt, "https://", 8) != 0)
    rc = gw_usage(g, "--url must be an http:// or https:// URL");
  if (rc != 0)
    return rc;
  char url[OPTION_VALUE_MAX + 1] = "";
  if (url_opt) {
    snprintf(url, sizeof url, "%s", url_opt);
  } else {
    if ((rc = gw_open(g)) != 0)
      return rc;
    struct db_stmt *st = gw_prepare(g, "cannot read options", "SELECT value FROM options WHERE key = 'webhook_url'", "");
    if (!st)
      return GW_FAIL;
    enum db_step_result r = db_step(st);
    if (r == DB_ROW)
      snprintf(url, sizeof url, "%s", db_col_text(st, 0));
    db_finalize(st);
    if (r == DB_ERROR)
      return gw_dberr(g, "cannot read options");
  }
  if (!url[0])
    return gw_err(GW_CONFLICT, "webhook_url is not set: gwctl config set webhook_url URL (or give --url)");
  char *body = hookevent_json("test", 0, "", -1, "gwctl notify test", NULL, NULL, (int64_t)time(NULL));
  if (!body)
    return gw_err(GW_FAIL, "out of memory");
  long status;
  CURLcode cr;
  bool ok = hookevent_post(url, body, (long)timeout, 0, NULL, "relay-gwctl/" RELAY_VERSION, &status, &cr) == 0;
  cJSON_free(body);
  if (g->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddNumberToObject(o, "status", (double)status);
    cJSON_AddStringToObject(o, "error", cr == CURLE_OK ? "" : curl_easy_strerror(cr));
    if (out_json(o) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(o);
  } else if (ok) {
    printf(_("test event delivered: HTTP %ld\n"), status);
  }
  if (cr != CURLE_OK)
    return gw_err(GW_UPSTREAM, "the webhook receiver is unreachable: %s", curl_easy_strerror(cr));
  if (!ok)
    return gw_err(GW_UPSTREAM, "the webhook receiver answered HTTP %ld", status);
  return rc;
}
