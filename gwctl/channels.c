/* channels: see channels.h. */
#include "channels.h"
#include "gwctl.h"
#include "codes.h"
#include "secret.h"
#include "admin_client.h"
#include "output.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads the master key the same way relayd finds it (secret_key_path: $RELAY_MASTER_KEY_FILE, else
 * master.key beside the SQLite database), creating it when missing, so channels can be added before
 * relayd's first start. Returns 0 or GW_FAIL after printing. */
int gw_master_key(struct gwctl *g, struct secret_key *k)
{
  char path[600], err[700];
  if (secret_key_path(NULL, g->db_url, path, sizeof path, err, sizeof err) < 0 ||
      secret_key_load(k, path, true, NULL, err, sizeof err) < 0)
    return gw_err(GW_FAIL, "%s", err);
  return 0;
}

/* Seals plain into a malloc'd stored value (*out; free() it). "" stays "". 0 or GW_FAIL. */
static int seal_key(struct gwctl *g, const char *plain, char **out)
{
  *out = NULL;
  if (!*plain)
    return (*out = strdup("")) ? 0 : gw_err(GW_FAIL, "out of memory");
  struct secret_key k;
  int rc = gw_master_key(g, &k);
  char err[300];
  if (rc == 0 && !(*out = secret_seal(&k, plain, strlen(plain), err, sizeof err)))
    rc = gw_err(GW_FAIL, "cannot encrypt the upstream key: %s", err);
  secret_key_wipe(&k);
  return rc;
}

int gw_channel_set_key(struct gwctl *g, int64_t id, const char *key)
{
  char *sealed = NULL;   /* stored sealed with the master key (secret.h); "" stays "" */
  int rc = seal_key(g, key, &sealed);
  if (rc == 0)
    rc = gw_exec(g, "cannot store the channel key", "UPDATE channels SET key = ?2 WHERE id = ?1",
                 "is", id, sealed);
  free(sealed);
  return rc;
}

/* 1 when the stored (sealed, or legacy plain) key that sql (one row, one column) reads equals key,
 * 0 when not or there is no row, -1 after printing an error. what names the key in messages. */
static int stored_key_equals(struct gwctl *g, struct db_stmt *st, const char *what, const char *key)
{
  if (!st)
    return -1;
  enum db_step_result r = db_step(st);
  int eq = 0;
  if (r == DB_ROW) {
    /* the stored value is sealed (or legacy plaintext): open it, then compare in constant time */
    const char *stored = db_col_text(st, 0);
    struct secret_key k = { 0 };
    char err[400];
    char *have = NULL;
    if (secret_is_sealed(stored) && gw_master_key(g, &k) != 0)
      eq = -1;
    else if (!(have = secret_open(&k, stored, err, sizeof err))) {
      gw_err(GW_FAIL, "%s: cannot decrypt its upstream key: %s", what, err);
      eq = -1;
    }
    secret_key_wipe(&k);
    if (have) {
      size_t n = strlen(have);
      eq = n == strlen(key) && secret_equal(have, key, n);
      secret_free(have);
    }
  }
  db_finalize(st);
  if (r == DB_ERROR) {
    gw_dberr(g, "cannot read the channel key");
    return -1;
  }
  return eq;
}

int gw_channel_key_equals(struct gwctl *g, int64_t id, const char *key)
{
  char what[64];
  snprintf(what, sizeof what, "channel %" PRId64, id);
  return stored_key_equals(g, gw_prepare(g, "cannot read the channel key",
                                         "SELECT key FROM channels WHERE id = ?1", "i", id), what, key);
}

int gw_pool_key_equals(struct gwctl *g, int64_t id, int64_t idx, const char *key)
{
  char what[96];
  snprintf(what, sizeof what, "channel %" PRId64 " key %" PRId64, id, idx);
  return stored_key_equals(g, gw_prepare(g, "cannot read the key pool",
                                         "SELECT key FROM channel_keys WHERE channel_id = ?1 AND idx = ?2",
                                         "ii", id, idx), what, key);
}

int gw_pool_put(struct gwctl *g, int64_t id, int64_t idx, const char *key)
{
  char *sealed = NULL;
  int rc = seal_key(g, key, &sealed);
  if (rc == 0)
    rc = gw_exec(g, "cannot store the key", "INSERT INTO channel_keys(channel_id, idx, key, status, created_time) "
                 "VALUES (?1, ?2, ?3, " CODE_STR(STATUS_ENABLED) ", ?4) ON CONFLICT(channel_id, idx) DO UPDATE "
                 "SET key = excluded.key", "iisi", id, idx, sealed, (int64_t)time(NULL));
  if (sealed)
    OPENSSL_cleanse(sealed, strlen(sealed));
  free(sealed);
  return rc;
}

/* ---- key pools ---------------------------------------------------------------------------------- */

int gw_pool_sync_first(struct gwctl *g, int64_t id)
{
  /* the stored (sealed) value is copied as it is: the seal does not name its row */
  return gw_exec(g, "cannot store the channel key",
                 "UPDATE channels SET key = (SELECT k.key FROM channel_keys k WHERE k.channel_id = ?1 "
                 "ORDER BY k.idx LIMIT 1) WHERE id = ?1 AND EXISTS (SELECT 1 FROM channel_keys k "
                 "WHERE k.channel_id = ?1)", "i", id);
}

int gw_pool_add(struct gwctl *g, int64_t id, char *const *keys, size_t n, int64_t *first)
{
  int64_t count = 0, next = 0;
  int rc = gw_scalar(g, "cannot read the key pool", "SELECT count(*) FROM channel_keys WHERE channel_id = ?1",
                     &count, "i", id) < 0 ? GW_FAIL : 0;
  if (rc == 0 && count == 0)   /* the channel's one key becomes key 1 of its new pool */
    rc = gw_exec(g, "cannot make the key pool",
                 "INSERT INTO channel_keys(channel_id, idx, key, status, created_time) "
                 "SELECT id, 1, key, " CODE_STR(STATUS_ENABLED) ", ?2 FROM channels WHERE id = ?1 AND key <> ''",
                 "ii", id, (int64_t)time(NULL));
  if (rc == 0 && gw_scalar(g, "cannot read the key pool",
                           "SELECT COALESCE(max(idx), 0) + 1 FROM channel_keys WHERE channel_id = ?1", &next, "i",
                           id) < 0)
    rc = GW_FAIL;
  if (first)
    *first = next;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *sealed = NULL;
    rc = seal_key(g, keys[i], &sealed);
    if (rc == 0)
      rc = gw_exec(g, "cannot store the key", "INSERT INTO channel_keys(channel_id, idx, key, status, created_time) "
                   "VALUES (?1, ?2, ?3, " CODE_STR(STATUS_ENABLED) ", ?4)", "iisi", id, next + (int64_t)i, sealed,
                   (int64_t)time(NULL));
    free(sealed);
  }
  if (rc == 0)
    rc = gw_pool_sync_first(g, id);
  return rc;
}

void gw_keys_free(char **keys, size_t n)
{
  for (size_t i = 0; keys && i < n; i++) {
    OPENSSL_cleanse(keys[i], strlen(keys[i]));
    free(keys[i]);
  }
  free(keys);
}

int gw_read_keys(struct gwctl *g, FILE *f, size_t max, char ***keys, size_t *n)
{
  (void)g;
  *keys = NULL;
  *n = 0;
  char line[UPSTREAM_KEY_MAX + 2];
  int rc = 0;
  size_t lineno = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      rc = gw_err(GW_USAGE, "key on line %zu is longer than %d bytes", lineno, UPSTREAM_KEY_MAX);
      break;
    }
    char *s = line;
    while (*s == ' ' || *s == '\t')
      s++;
    len = strlen(s);
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
      s[--len] = '\0';
    if (!len)
      continue;
    for (char *p = s; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f) {
        rc = gw_err(GW_USAGE, "key on line %zu holds a control character", lineno);
        break;
      }
    if (rc == 0 && *n >= max)
      rc = gw_err(GW_USAGE, "more than %zu keys", max);
    char **more = rc == 0 ? realloc(*keys, (*n + 1) * sizeof **keys) : NULL;
    if (rc == 0 && !more)
      rc = gw_err(GW_FAIL, "out of memory");
    if (rc == 0) {
      *keys = more;
      if (!((*keys)[*n] = strdup(s)))
        rc = gw_err(GW_FAIL, "out of memory");
      else
        (*n)++;
    }
  }
  OPENSSL_cleanse(line, sizeof line);
  if (rc == 0 && ferror(f))
    rc = gw_err(GW_FAIL, "cannot read the keys: %s", strerror(errno));
  if (rc != 0) {
    gw_keys_free(*keys, *n);
    *keys = NULL;
    *n = 0;
  }
  return rc;
}

/* ---------------------------------------------------------------- the pool's rows */

/* "sk-…WXYZ": the first 3 and last 4 characters of a key of 12 or more, else "…" alone. */
static void mask_key(const char *k, char *out, size_t len)
{
  size_t n = strlen(k);
  if (n >= 12)
    snprintf(out, len, "%.3s…%s", k, k + n - 4);
  else
    snprintf(out, len, "…");
}

/* relayd's live counters of channel id's keys ("stats"), or NULL when relayd does not answer. */
static cJSON *live_keys(struct gwctl *g, int64_t id)
{
  char err[512];
  if (!g->socket)
    return NULL;
  int fd = admin_connect(g->socket, err, sizeof err);
  if (fd < 0)
    return NULL;
  cJSON *r = admin_call(fd, "{\"cmd\":\"stats\"}", err, sizeof err);
  admin_close(fd);
  const cJSON *c, *keys = NULL;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(r, "channels"))
  if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "id")) == (double)id)
    keys = cJSON_GetObjectItemCaseSensitive(c, "keys");
  cJSON *out = keys ? cJSON_Duplicate(keys, 1) : NULL;
  cJSON_Delete(r);
  return out;
}

static const char *key_status_name(int64_t s)
{
  return s == STATUS_ENABLED ? "enabled" : s == STATUS_DISABLED ? "disabled" : "auto-disabled";
}

/* The keys of channel id as rows (index, key (masked), status, reason, disabled_at, requests,
 * errors, spend), or NULL after printing an error. A channel without a pool: its one key as key 1. */
cJSON *gw_pool_rows(struct gwctl *g, int64_t id)
{
  struct secret_key k = { 0 };
  if (gw_master_key(g, &k) != 0)
    return NULL;
  struct db_stmt *st = gw_prepare(g, "cannot read the key pool",
      "SELECT idx, key, status, status_reason, status_time, rpm, tpm, max_concurrency FROM channel_keys "
      "WHERE channel_id = ?1 UNION ALL SELECT 1, key, status, status_reason, status_time, 0, 0, 0 FROM channels "
      "WHERE id = ?1 AND key <> '' "
      "AND NOT EXISTS (SELECT 1 FROM channel_keys WHERE channel_id = ?1) ORDER BY 1", "i", id);
  if (!st) {
    secret_key_wipe(&k);
    return NULL;
  }
  cJSON *rows = cJSON_CreateArray(), *live = live_keys(g, id);
  enum db_step_result r;
  while (rows && (r = db_step(st)) == DB_ROW) {
    char err[400], masked[32];
    char *plain = secret_open(&k, db_col_text(st, 1), err, sizeof err);
    if (!plain) {
      gw_err(GW_FAIL, "channel %" PRId64 ": cannot decrypt key %" PRId64 ": %s", id, db_col_int64(st, 0), err);
      cJSON_Delete(rows);
      rows = NULL;
      break;
    }
    mask_key(plain, masked, sizeof masked);
    secret_free(plain);
    int64_t idx = db_col_int64(st, 0), status = db_col_int64(st, 2);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)idx);
    cJSON_AddStringToObject(o, "masked", masked);   /* never "key": the key itself is never listed */
    cJSON_AddStringToObject(o, "status", key_status_name(status));
    cJSON_AddStringToObject(o, "status_reason", status == STATUS_ENABLED ? "" : db_col_text(st, 3));
    cJSON_AddNumberToObject(o, "disabled_at", status == STATUS_ENABLED ? 0 : (double)db_col_int64(st, 4));
    double req = 0, errs = 0, spend = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, live)
    if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "index")) == (double)idx) {
      req = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "requests"));
      errs = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "errors"));
      spend = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "spend"));
    }
    cJSON_AddNumberToObject(o, "requests", req);
    cJSON_AddNumberToObject(o, "errors", errs);
    cJSON_AddNumberToObject(o, "spend", spend);
    cJSON_AddNumberToObject(o, "rpm", (double)db_col_int64(st, 5));     /* its limits (migration 015) */
    cJSON_AddNumberToObject(o, "tpm", (double)db_col_int64(st, 6));
    cJSON_AddNumberToObject(o, "max_concurrency", (double)db_col_int64(st, 7));
    cJSON_AddItemToArray(rows, o);
  }
  db_finalize(st);
  secret_key_wipe(&k);
  cJSON_Delete(live);
  if (rows && r == DB_ERROR) {
    gw_dberr(g, "cannot read the key pool");
    cJSON_Delete(rows);
    rows = NULL;
  }
  return rows;
}

const struct out_col gw_pool_cols[] = {
  { "index", "N", OUT_PLAIN, 0, NULL },
  { "masked", "KEY", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "status_reason", "REASON", OUT_PLAIN, 60, NULL },
  { "disabled_at", "DISABLED_AT", OUT_TIME, 0, NULL },
  { "requests", "REQUESTS", OUT_PLAIN, 0, NULL },
  { "errors", "ERRORS", OUT_PLAIN, 0, NULL },
  { "spend", "SPEND", OUT_QUOTA, 0, NULL },
  { "rpm", "RPM", OUT_PLAIN, 0, NULL },
  { "tpm", "TPM", OUT_PLAIN, 0, NULL },
  { "max_concurrency", "MAXCONC", OUT_PLAIN, 0, NULL },
  { 0 },
};

int gw_channel_insert(struct gwctl *g, const struct gw_channel_row *c, const char *key, int64_t *id)
{
  int64_t other = 0;
  int r = gw_scalar(g, "cannot add the channel", "SELECT id FROM channels WHERE name = ?1", &other,
                    "s", c->name);
  if (r < 0)
    return GW_FAIL;
  if (r > 0)
    return gw_err(GW_CONFLICT, "channel '%s' already exists (id %" PRId64 ")", c->name, other);
  r = gw_scalar(g, "cannot add the channel",
      "INSERT INTO channels(type, name, key, status, base_url, models, \"group\", model_mapping, "
      "priority, weight, created_time, tag, other) "
      "VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id", id,
      "ssissssiiiss", c->type, c->name, c->status, c->base_url, c->models, c->group, c->model_map,
      c->priority, c->weight, (int64_t)time(NULL), c->tag, c->other);
  if (r <= 0)
    return r < 0 ? GW_FAIL : gw_err(GW_FAIL, "cannot add the channel: no id came back");
  return key && *key ? gw_channel_set_key(g, *id, key) : 0;
}

int gw_pool_key_limits(struct gwctl *g, int64_t id, int64_t idx, int has_rpm, int64_t rpm, int has_tpm,
                       int64_t tpm, int has_conc, int64_t conc)
{
  return gw_exec(g, "cannot change the key",
                 "UPDATE channel_keys SET rpm = CASE WHEN ?3 <> 0 THEN ?4 ELSE rpm END, "
                 "tpm = CASE WHEN ?5 <> 0 THEN ?6 ELSE tpm END, "
                 "max_concurrency = CASE WHEN ?7 <> 0 THEN ?8 ELSE max_concurrency END "
                 "WHERE channel_id = ?1 AND idx = ?2", "iiiiiiii", id, idx, (int64_t)(has_rpm != 0), rpm,
                 (int64_t)(has_tpm != 0), tpm, (int64_t)(has_conc != 0), conc);
}

int gw_channel_limits(struct gwctl *g, int64_t id, const char *key_mode, int has_rpm, int64_t rpm,
                      int has_tpm, int64_t tpm, int has_conc, int64_t conc)
{
  return gw_exec(g, "cannot change the channel",
                 "UPDATE channels SET key_mode = COALESCE(?2, key_mode), "
                 "rpm = CASE WHEN ?3 <> 0 THEN ?4 ELSE rpm END, tpm = CASE WHEN ?5 <> 0 THEN ?6 ELSE tpm END, "
                 "max_concurrency = CASE WHEN ?7 <> 0 THEN ?8 ELSE max_concurrency END WHERE id = ?1",
                 "isiiiiii", id, key_mode, (int64_t)(has_rpm != 0), rpm, (int64_t)(has_tpm != 0), tpm,
                 (int64_t)(has_conc != 0), conc);
}
