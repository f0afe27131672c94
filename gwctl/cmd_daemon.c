/*
 * gwctl status, stats, reload, drain, undrain: one verb each on relayd's admin socket
 * (doc/admin-protocol.md), the answer printed as "field value" lines or, with --json, as relayd sent
 * it without "ok".
 *
 * Callers: the command table in main.c.
 * Never: touches the database. Exit 69 (EX_UNAVAILABLE) when no relayd answers on the socket, 77
 * when relayd refuses us, 1 when the verb failed or relayd does not know it.
 */
#include "gwctl.h"
#include "cmd_daemon.h"
#include "admin_client.h"
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void render_p50(const cJSON *row, char *buf, size_t len)
{
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(row, "latency_ms");
  snprintf(buf, len, "%g", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(h, "p50")));
}

static void render_p99(const cJSON *row, char *buf, size_t len)
{
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(row, "latency_ms");
  snprintf(buf, len, "%g", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(h, "p99")));
}

/* stats: the "channels" and "models" arrays as two tables, then the other fields. */
static int print_stats(cJSON *r)
{
  static const struct out_col chan_cols[] = {
    { "id", "ID", OUT_PLAIN, 0, NULL },
    { "name", "CHANNEL", OUT_PLAIN, 0, NULL },
    { "requests", "REQUESTS", OUT_PLAIN, 0, NULL },
    { "errors", "ERRORS", OUT_PLAIN, 0, NULL },
    { "prompt_tokens", "PROMPT", OUT_PLAIN, 0, NULL },
    { "completion_tokens", "COMPLETION", OUT_PLAIN, 0, NULL },
    { "quota", "QUOTA", OUT_QUOTA, 0, NULL },
    { "latency_ms", "P50_MS", OUT_PLAIN, 0, render_p50 },
    { "latency_ms", "P99_MS", OUT_PLAIN, 0, render_p99 },
    { 0 },
  };
  static const struct out_col model_cols[] = {
    { "model", "MODEL", OUT_PLAIN, 0, NULL },
    { "requests", "REQUESTS", OUT_PLAIN, 0, NULL },
    { "errors", "ERRORS", OUT_PLAIN, 0, NULL },
    { "prompt_tokens", "PROMPT", OUT_PLAIN, 0, NULL },
    { "completion_tokens", "COMPLETION", OUT_PLAIN, 0, NULL },
    { "quota", "QUOTA", OUT_QUOTA, 0, NULL },
    { "latency_ms", "P50_MS", OUT_PLAIN, 0, render_p50 },
    { "latency_ms", "P99_MS", OUT_PLAIN, 0, render_p99 },
    { 0 },
  };
  cJSON *chans = cJSON_DetachItemFromObjectCaseSensitive(r, "channels");
  cJSON *models = cJSON_DetachItemFromObjectCaseSensitive(r, "models");
  int rc = 0;
  if (cJSON_IsArray(chans) && out_list(0, chans, chan_cols) != 0)
    rc = -1;
  if (rc == 0 && cJSON_IsArray(models)) {
    printf("\n");
    rc = out_list(0, models, model_cols);
  }
  if (rc == 0 && r->child) {
    printf("\n");
    rc = out_object(0, r, NULL);
  }
  cJSON_Delete(chans);
  cJSON_Delete(models);
  return rc;
}

static int daemon_verb(struct gwctl *g, int argc, char **argv, const char *verb)
{
  cJSON *r = NULL;
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_admin(g, verb, &r)) != 0)
    return rc;
  static const struct out_col cols[] = {
    { "snapshot_loaded_at", NULL, OUT_TIME, 0, NULL },
    { 0 },
  };
  if (!g->json && strcmp(verb, "stats") == 0 ? print_stats(r) != 0
      : out_object(g->json, r, cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(r);
  return rc;
}

int cmd_daemon_status(struct gwctl *g, int argc, char **argv)
{
  return daemon_verb(g, argc, argv, "status");
}

int cmd_daemon_stats(struct gwctl *g, int argc, char **argv)
{
  return daemon_verb(g, argc, argv, "stats");
}

int cmd_daemon_reload(struct gwctl *g, int argc, char **argv)
{
  return daemon_verb(g, argc, argv, "reload");
}

int cmd_daemon_drain(struct gwctl *g, int argc, char **argv)
{
  return daemon_verb(g, argc, argv, "drain");
}

int cmd_daemon_undrain(struct gwctl *g, int argc, char **argv)
{
  return daemon_verb(g, argc, argv, "undrain");
}
