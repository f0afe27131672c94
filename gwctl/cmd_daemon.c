/*
 * gwctl status, stats, reload, drain: one verb each on relayd's admin socket
 * (doc/admin-protocol.md), the answer printed as "field value" lines or, with --json, as relayd sent
 * it without "ok".
 *
 * Callers: the command table in main.c.
 * Never: touches the database. Exit 69 (EX_UNAVAILABLE) when no relayd answers on the socket, 77
 * when relayd refuses us, 1 when the verb failed or relayd does not know it.
 */
#include "gwctl.h"
#include "admin_client.h"
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int daemon_verb(struct gwctl *g, int argc, char **argv, const char *verb)
{
  char err[512], line[64];
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!g->socket)
    return gw_err(GW_UNAVAILABLE, "no admin socket: give --socket PATH or set RELAY_SOCKET");
  int fd = admin_connect(g->socket, err, sizeof err);
  if (fd < 0) {
    if (strstr(err, "refused the connection"))
      return gw_err(GW_NOPERM, "%s", err);
    return gw_err(GW_UNAVAILABLE, "%s", err);
  }
  snprintf(line, sizeof line, "{\"cmd\":\"%s\"}", verb);
  cJSON *r = admin_call(fd, line, err, sizeof err);
  admin_close(fd);
  if (!r)
    return gw_err(GW_UNAVAILABLE, "relayd at %s did not answer '%s': %s", g->socket, verb, err);
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
    if (code && strcmp(code, "unknown_command") == 0)
      rc = gw_err(GW_FAIL, "this relayd does not support '%s' yet (%s)", verb,
                  msg ? msg : "unknown_command");
    else
      rc = gw_err(code && strcmp(code, "forbidden") == 0 ? GW_NOPERM : GW_FAIL,
                  "relayd: %s failed: %s%s%s", verb, code ? code : "error", msg ? ": " : "",
                  msg ? msg : "");
    cJSON_Delete(r);
    return rc;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(r, "ok");
  cJSON_DeleteItemFromObjectCaseSensitive(r, "id");
  static const struct out_col cols[] = {
    { "snapshot_loaded_at", NULL, OUT_TIME, 0, NULL },
    { 0 },
  };
  if (out_object(g->json, r, cols) != 0)
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
