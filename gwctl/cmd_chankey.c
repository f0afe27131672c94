/*
 * cmd_chankey: gwctl channel key add|list|remove|enable|disable -- the keys of a channel's key pool
 * (table channel_keys, migration 012; relayd/keypool.h chooses among them). Keys come one a line on
 * stdin or from --file F, never from argv; each is sealed with the master key (gwctl/channels.c);
 * listings show a masked key (its first 3 and last 4 characters), never the key. The live counters
 * (requests, errors, spend) come from relayd's admin socket "stats" when it answers.
 * Callers: main.c's command table. Never: prints or logs a key, or renumbers keys (an index names
 * the same key for its whole life: /metrics labels and the log rows use it).
 */
#include "gwctl.h"
#include "cmd_chankey.h"
#include "admin_client.h"
#include "channels.h"
#include "i18n.h"
#include "output.h"
#include "rules.h"
#include "secret.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* NAME and the key index N of argv: 0, or an exit code after printing. */
static int name_and_index(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, int64_t *id,
                          char *name, size_t namelen, int64_t *idx)
{
  static const char *const names[] = { "NAME|ID", "N" };
  const char *pos[2] = { 0 };
  int rc = gw_argv(g, argc, argv, opts, 2, 2, names, pos);
  if (rc == 0)
    rc = gw_parse_int(g, "N", pos[1], 1, 1000000000, idx);
  if (rc == 0)
    rc = gw_open(g);
  if (rc == 0)
    rc = gw_channel_find(g, pos[0], id, name, namelen);
  return rc;
}

int cmd_channel_key_add(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *file = NULL;
  const struct gw_opt opts[] = { { "file", &file, NULL }, { 0 } };
  char name[GW_NAME_MAX + 8];
  int64_t id = 0, first = 0, total = 0;
  char **keys = NULL;
  size_t n = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0)
    return rc;
  FILE *f = stdin;
  if (file && strcmp(file, "-") != 0 && !(f = fopen(file, "r")))
    return gw_err(GW_USAGE, "--file %s: cannot open it", file);
  rc = gw_read_keys(g, f, POOL_KEYS_MAX, &keys, &n);
  if (f != stdin)
    fclose(f);
  if (rc == 0 && n == 0)
    rc = gw_usage(g, "no key on %s: one key a line (printf '%%s\\n' \"$K1\" \"$K2\" | gwctl channel key add "
                  "NAME)", file ? "the file" : "stdin");
  if (rc == 0)
    rc = gw_open(g);
  if (rc == 0)
    rc = gw_begin(g);
  if (rc == 0) {
    rc = gw_channel_find(g, ref, &id, name, sizeof name);
    if (rc == 0)
      rc = gw_pool_add(g, id, keys, n, &first);
    if (rc == 0 && gw_scalar(g, "cannot read the key pool", "SELECT count(*) FROM channel_keys WHERE channel_id = ?1",
                             &total, "i", id) < 0)
      rc = GW_FAIL;
    if (rc == 0 && total > POOL_KEYS_MAX)
      rc = gw_err(GW_CONFLICT, "channel %s would hold %" PRId64 " keys, more than %d", name, total, POOL_KEYS_MAX);
    struct gw_subject s = { .channel_id = id };
    if (rc == 0)
      rc = gw_log_manage(g, &s, "channel key add %s keys=%zu first_index=%" PRId64, name, n, first);
    rc = gw_end(g, rc);
  }
  gw_keys_free(keys, n);
  if (rc != 0)
    return rc;
  if (g->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "added", (double)n);
    cJSON_AddNumberToObject(o, "first_index", (double)first);
    cJSON_AddNumberToObject(o, "keys", (double)total);
    rc = out_json(o) == 0 ? GW_OK : gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(o);
    return rc;
  }
  printf(_("channel %s: %zu key(s) added as %" PRId64 "..%" PRId64 ", %" PRId64 " in its pool\n"), name, n, first,
         first + (int64_t)n - 1, total);
  return GW_OK;
}

int cmd_channel_key_list(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int64_t id = 0;
  int rc = gw_args(g, argc, argv, NULL, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_channel_find(g, ref, &id, NULL, 0)) != 0)
    return rc;
  cJSON *rows = gw_pool_rows(g, id);
  if (!rows)
    return GW_FAIL;
  rc = out_list(g->json, rows, gw_pool_cols) == 0 ? GW_OK : gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

/* The pool row of key idx of channel id exists? 0, or GW_NOTFOUND after printing. */
static int key_exists(struct gwctl *g, int64_t id, const char *name, int64_t idx)
{
  int64_t one = 0;
  int r = gw_scalar(g, "cannot read the key pool", "SELECT 1 FROM channel_keys WHERE channel_id = ?1 AND idx = ?2",
                    &one, "ii", id, idx);
  if (r < 0)
    return GW_FAIL;
  if (r == 0)
    return gw_err(GW_NOTFOUND, "channel %s has no key %" PRId64 " (gwctl channel key list %s)", name, idx, name);
  return 0;
}

int cmd_channel_key_remove(struct gwctl *g, int argc, char **argv)
{
  int yes = 0;
  const struct gw_opt opts[] = { { "yes", NULL, &yes }, { 0 } };
  char name[GW_NAME_MAX + 8], what[GW_NAME_MAX + 64];
  int64_t id = 0, idx = 0, left = 0;
  int rc = name_and_index(g, argc, argv, opts, &id, name, sizeof name, &idx);
  if (rc != 0)
    return rc;
  snprintf(what, sizeof what, "remove key %" PRId64 " of channel %s", idx, name);
  if ((rc = gw_confirm(g, yes, what)) != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = key_exists(g, id, name, idx);
  if (rc == 0 && gw_scalar(g, "cannot read the key pool",
                           "SELECT count(*) FROM channel_keys WHERE channel_id = ?1 AND idx <> ?2", &left, "ii", id,
                           idx) < 0)
    rc = GW_FAIL;
  if (rc == 0 && left == 0)
    rc = gw_err(GW_CONFLICT, "key %" PRId64 " is the last key of channel %s: add another first, or remove the "
                "channel (gwctl channel rm %s)", idx, name, name);
  if (rc == 0)
    rc = gw_exec(g, "cannot remove the key", "DELETE FROM channel_keys WHERE channel_id = ?1 AND idx = ?2", "ii", id,
                 idx);
  if (rc == 0)
    rc = gw_pool_sync_first(g, id);
  struct gw_subject s = { .channel_id = id };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "channel key remove %s %" PRId64, name, idx);
  return gw_end(g, rc);
}

static int key_status(struct gwctl *g, int argc, char **argv, int64_t status)
{
  char name[GW_NAME_MAX + 8];
  int64_t id = 0, idx = 0;
  int rc = name_and_index(g, argc, argv, NULL, &id, name, sizeof name, &idx);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = key_exists(g, id, name, idx);
  if (rc == 0)
    rc = gw_exec(g, "cannot change the key",
                 "UPDATE channel_keys SET status = ?3, status_reason = ?4, status_time = ?5 WHERE channel_id = ?1 "
                 "AND idx = ?2", "iiisi", id, idx, status, status == STATUS_ENABLED ? "" : "disabled by an administrator",
                 (int64_t)time(NULL));
  struct gw_subject s = { .channel_id = id };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "channel key %s %s %" PRId64, status == STATUS_ENABLED ? "enable" : "disable", name,
                       idx);
  return gw_end(g, rc);
}

int cmd_channel_key_enable(struct gwctl *g, int argc, char **argv)
{
  return key_status(g, argc, argv, STATUS_ENABLED);
}

int cmd_channel_key_disable(struct gwctl *g, int argc, char **argv)
{
  return key_status(g, argc, argv, STATUS_DISABLED);
}

/* gwctl channel key limit NAME N [--rpm N] [--tpm N] [--concurrency N]: key N's limits (0: none). */
int cmd_channel_key_limit(struct gwctl *g, int argc, char **argv)
{
  const char *rpm_s = NULL, *tpm_s = NULL, *conc_s = NULL;
  const struct gw_opt opts[] = { { "rpm", &rpm_s, NULL }, { "tpm", &tpm_s, NULL }, { "concurrency", &conc_s, NULL },
                                 { 0 } };
  char name[GW_NAME_MAX + 8];
  int64_t id = 0, idx = 0, rpm = 0, tpm = 0, conc = 0;
  int rc = name_and_index(g, argc, argv, opts, &id, name, sizeof name, &idx);
  if (rc == 0 && !rpm_s && !tpm_s && !conc_s)
    rc = gw_usage(g, "nothing to change: give --rpm, --tpm or --concurrency (0 removes a limit)");
  if (rc == 0 && rpm_s)
    rc = gw_parse_int(g, "--rpm", rpm_s, 0, RULE_LIMIT_MAX, &rpm);
  if (rc == 0 && tpm_s)
    rc = gw_parse_int(g, "--tpm", tpm_s, 0, RULE_LIMIT_MAX, &tpm);
  if (rc == 0 && conc_s)
    rc = gw_parse_int(g, "--concurrency", conc_s, 0, RULE_CONCURRENCY_MAX, &conc);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = key_exists(g, id, name, idx);
  if (rc == 0)
    rc = gw_pool_key_limits(g, id, idx, rpm_s != NULL, rpm, tpm_s != NULL, tpm, conc_s != NULL, conc);
  struct gw_subject s = { .channel_id = id };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "channel key limit %s %" PRId64 "%s%s%s%s%s%s", name, idx, rpm_s ? " rpm=" : "",
                       rpm_s ? rpm_s : "", tpm_s ? " tpm=" : "", tpm_s ? tpm_s : "", conc_s ? " concurrency=" : "",
                       conc_s ? conc_s : "");
  return gw_end(g, rc);
}
