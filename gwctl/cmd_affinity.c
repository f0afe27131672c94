/* cmd_affinity: see cmd_affinity.h. */
#include "gwctl.h"
#include "cmd_affinity.h"
#include "i18n.h"
#include "output.h"

#include <stdio.h>

static const struct out_col affinity_cols[] = {
  { "key", "KEY", OUT_PLAIN, 40, NULL },
  { "group", "GROUP", OUT_PLAIN, 0, NULL },
  { "model", "MODEL", OUT_PLAIN, 0, NULL },
  { "channel", "CHANNEL", OUT_PLAIN, 0, NULL },
  { "channel_id", "CHANNEL_ID", OUT_PLAIN, 0, NULL },
  { "key_index", "KEY_INDEX", OUT_PLAIN, 0, NULL },
  { "expires_in_s", "EXPIRES_IN_S", OUT_PLAIN, 0, NULL },
  { "hits", "HITS", OUT_PLAIN, 0, NULL },
  { 0 },
};

/* gwctl affinity list [--json]: the entries (--json: the whole answer: entries, ttl_s, capacity,
 * hits, misses). */
int cmd_affinity_list(struct gwctl *g, int argc, char **argv)
{
  cJSON *r = NULL;
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_admin(g, "affinity", &r)) != 0)
    return rc;
  if (g->json) {
    rc = out_object(1, r, NULL) == 0 ? GW_OK : gw_err(GW_FAIL, "out of memory");
  } else {
    rc = out_list(0, cJSON_GetObjectItemCaseSensitive(r, "entries"), affinity_cols) == 0
             ? GW_OK
             : gw_err(GW_FAIL, "out of memory");
    if (rc == GW_OK)
      printf(_("affinity: ttl %.0f s, %.0f hits, %.0f misses, capacity %.0f\n"),
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "ttl_s")),
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "hits")),
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "misses")),
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "capacity")));
  }
  cJSON_Delete(r);
  return rc;
}

/* gwctl affinity clear [KEY]: forgets KEY's entries (every group and model), or every entry. */
int cmd_affinity_clear(struct gwctl *g, int argc, char **argv)
{
  static const char *const names[] = { "KEY" };
  const char *pos[1] = { 0 };
  cJSON *r = NULL;
  int rc = gw_argv(g, argc, argv, NULL, 0, 1, names, pos);
  if (rc != 0)
    return rc;
  cJSON *args = cJSON_CreateObject();     /* owned here */
  if (!args || (pos[0] && !cJSON_AddStringToObject(args, "key", pos[0]))) {
    cJSON_Delete(args);
    return gw_err(GW_FAIL, "out of memory");
  }
  rc = gw_admin_args(g, "affinity_clear", args, &r);
  cJSON_Delete(args);
  if (rc != 0)
    return rc;
  double n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "cleared"));
  if (g->json)
    rc = out_object(1, r, NULL) == 0 ? GW_OK : gw_err(GW_FAIL, "out of memory");
  else
    printf(_("%.0f affinity entries cleared\n"), n);
  cJSON_Delete(r);
  return rc;
}
