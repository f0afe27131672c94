/*
 * gwctl token: create (one or a batch), list, show, edit, enable, disable, rotate and rm client API
 * keys (table tokens).
 *
 * Callers: the command table in main.c.
 * Never: stores a key (only key_hash and key_hint, see keys.h), prints a key other than the one
 * `token create` just made, takes a key from argv, or writes a key into the log.
 */
#include "gwctl.h"
#include "cmd_token.h"
#include "keys.h"
#include "output.h"
#include "rules.h"
#include "quota.h"

#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MODEL_NAME_MAX 128

#define TOKEN_SELECT "SELECT t.id, t.name, t.user_id, COALESCE(u.username, ''), t.status, " \
  "t.remain_quota, t.used_quota, t.unlimited_quota, t.models, t.subnet, t.\"group\", " \
  "t.expired_time, t.created_time, t.accessed_time, t.key_hint, t.response_cache " \
  "FROM tokens t LEFT JOIN users u ON u.id = t.user_id "

/* The status relayd acts on: a stored "enabled" past its expiry or out of quota is not usable. */
static const char *token_status_name(int64_t status, int64_t expired_time, int unlimited,
                                     int64_t remain, time_t now)
{
  switch (status) {
  case STATUS_ENABLED:
    if (expired_time > 0 && expired_time <= (int64_t)now)
      return "expired";
    if (!unlimited && remain <= 0)
      return "exhausted";
    return "enabled";
  case STATUS_DISABLED: return "disabled";
  case STATUS_EXPIRED: return "expired";
  case STATUS_EXHAUSTED: return "exhausted";
  default: return "unknown";
  }
}

/* A token's row (gw_row_fn): arg is the time_t its status is judged at. */
static cJSON *token_row(struct db_stmt *st, const void *arg)
{
  time_t now = *(const time_t *)arg;
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  int unlimited = db_col_int64(st, 7) != 0;
  int64_t remain = db_col_int64(st, 5);
  cJSON_AddNumberToObject(o, "id", (double)db_col_int64(st, 0));
  cJSON_AddStringToObject(o, "name", db_col_text(st, 1));
  cJSON_AddNumberToObject(o, "user_id", (double)db_col_int64(st, 2));
  cJSON_AddStringToObject(o, "username", db_col_text(st, 3));
  cJSON_AddStringToObject(o, "status", token_status_name(db_col_int64(st, 4), db_col_int64(st, 11),
                                                         unlimited, remain, now));
  cJSON_AddNumberToObject(o, "remain_quota", (double)remain);
  cJSON_AddNumberToObject(o, "used_quota", (double)db_col_int64(st, 6));
  cJSON_AddBoolToObject(o, "unlimited_quota", unlimited);
  cJSON_AddItemToObject(o, "models", gw_csv_array(db_col_text(st, 8)));
  cJSON_AddItemToObject(o, "subnet", gw_csv_array(db_col_text(st, 9)));
  cJSON_AddStringToObject(o, "group", db_col_text(st, 10));
  cJSON_AddNumberToObject(o, "expired_time", (double)db_col_int64(st, 11));
  cJSON_AddNumberToObject(o, "created_time", (double)db_col_int64(st, 12));
  cJSON_AddNumberToObject(o, "accessed_time", (double)db_col_int64(st, 13));
  cJSON_AddStringToObject(o, "key_hint", db_col_text(st, 14));
  cJSON_AddBoolToObject(o, "response_cache", db_col_int64(st, 15) != 0);
  if (cJSON_GetArraySize(o) != 16) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static void render_remain(const cJSON *row, char *buf, size_t len)
{
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "unlimited_quota")))
    snprintf(buf, len, "unlimited");
  else {
    int64_t q = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "remain_quota"));
    char usd[48];
    quota_usd(q, usd, sizeof usd);
    if (out_flags() & OUT_TSV)
      snprintf(buf, len, "%" PRId64, q);
    else
      snprintf(buf, len, "%" PRId64 " (%s)", q, usd);
  }
}

static const struct out_col token_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "username", "USER", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "remain_quota", "REMAIN", OUT_PLAIN, 0, render_remain },
  { "used_quota", "USED", OUT_QUOTA, 0, NULL },
  { "models", "MODELS", OUT_PLAIN, 30, NULL },
  { "key_hint", "KEY", OUT_PLAIN, 0, NULL },
  { 0 },
};

static const struct out_col token_show_cols[] = {
  { "remain_quota", NULL, OUT_PLAIN, 0, render_remain },
  { "expired_time", NULL, OUT_TIME, 0, NULL },
  { "created_time", NULL, OUT_TIME, 0, NULL },
  { "accessed_time", NULL, OUT_TIME, 0, NULL },
  { 0 },
};

/* Rows of TOKEN_SELECT WHERE where; where may use ?1 (text), ?2 (id) and ?3 (user id, 0 = any).
 * Returns the array, or NULL with *rc set after printing. */
static cJSON *token_rows(struct gwctl *g, const char *where, const char *text, int64_t id,
                         int64_t user_id, int *rc)
{
  char sql[1024];
  snprintf(sql, sizeof sql, TOKEN_SELECT "WHERE %s ORDER BY t.id", where);
  struct db_stmt *st = gw_prepare(g, "cannot read tokens", sql, "sii", text ? text : "", id, user_id);
  time_t now = time(NULL);
  return gw_rows(g, st, "cannot read tokens", token_row, &now, rc);
}

/* Reads the key for --key-file F|- into key (size KEY_MAX_LEN + 4). */
static int read_key_file(struct gwctl *g, const char *path, char *key, size_t keylen)
{
  char err[256];
  int rc;
  if (strcmp(path, "-") == 0) {
    rc = gw_read_secret(stdin, "API key: ", "the key on stdin", key, keylen);
  } else {
    FILE *f = fopen(path, "r");
    if (!f)
      return gw_err(GW_FAIL, "cannot open key file %s: %s", path, strerror(errno));
    snprintf(err, sizeof err, "key file %s", path);
    rc = gw_read_secret(f, "", err, key, keylen);
    fclose(f);
  }
  if (rc == 0 && key_validate(key, err, sizeof err) != 0)
    rc = gw_usage(g, "--key-file: %s", err);
  return rc;
}

/* Checks an --ips list: each item an IPv4/IPv6 address with an optional /prefix. */
static int check_ips(struct gwctl *g, const char *in, char *out, size_t outlen)
{
  int n = 0;
  int rc = gw_norm_list(g, "--ips", in, 64, out, outlen, &n);
  const char *p = out;
  while (rc == 0 && *p) {
    size_t len = strcspn(p, ",");
    char item[80], addr[80];
    int max = 0;
    snprintf(item, sizeof item, "%.*s", (int)len, p);
    switch (rule_ip_item(item, addr, sizeof addr, &max)) {
    case RULE_IP_ADDRESS:
      return gw_usage(g, "--ips: '%s' is not an IPv4 or IPv6 address", addr);
    case RULE_IP_PREFIX:
      return gw_usage(g, "--ips: '%s' has a bad prefix length (0 to %d after '/')", item, max);
    default:
      break;
    }
    p += len;
    if (*p == ',')
      p++;
  }
  return rc;
}

/* A token's group must exist, and be the user's own group or one users may pick. */
static int check_token_group(struct gwctl *g, const char *group, int64_t uid, const char *uname)
{
  if (!*group)
    return 0;
  int64_t ok = 0;
  int rc = gw_group_check(g, "--group", group);
  if (rc != 0)
    return rc;
  int r = gw_scalar(g, "cannot look up the group",
                    "SELECT 1 FROM groups g WHERE g.name = ?1 AND (g.selectable <> 0 OR "
                    "g.name = (SELECT \"group\" FROM users WHERE id = ?2))", &ok, "si", group, uid);
  if (r < 0)
    return GW_FAIL;
  if (r == 0)
    return gw_err(GW_CONFLICT, "--group: group '%s' is not the group of user '%s', and users may not "
                  "pick it (gwctl group set %s --selectable yes)", group, uname, group);
  return 0;
}

struct token_new {
  const char *user, *name, *models, *ips, *group;
  int64_t quota, expires, count;
  int unlimited;
  int suffix;                           /* --count: names get -1..-N */
  char (*keys)[KEY_MAX_LEN + 8];        /* count keys, generated or read beforehand */
  int64_t *ids;
};

static int token_insert(struct gwctl *g, const struct token_new *t, int64_t *uid, char *uname,
                        size_t unamelen)
{
  int rc = gw_user_find(g, t->user, uid, uname, unamelen);
  if (rc == 0)
    rc = check_token_group(g, t->group, *uid, uname);
  if (rc != 0)
    return rc;

  struct db_stmt *chk = db_prepare(g->db,
      "SELECT id, 1 FROM tokens WHERE user_id = ?1 AND name = ?2 "
      "UNION ALL SELECT id, 2 FROM tokens WHERE key_hash = ?3");
  struct db_stmt *ins = db_prepare(g->db,
      "INSERT INTO tokens(user_id, name, key_hash, key_hint, status, created_time, expired_time, "
      "remain_quota, unlimited_quota, models, subnet, \"group\") "
      "VALUES (?1, ?2, ?3, ?4, " CODE_STR(STATUS_ENABLED) ", ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id");
  if (!chk || !ins) {
    db_finalize(chk);
    db_finalize(ins);
    return gw_dberr(g, "cannot create the token");
  }
  int64_t now = (int64_t)time(NULL);
  for (int64_t i = 0; rc == 0 && i < t->count; i++) {
    char name[GW_NAME_MAX + 24], hash[KEY_HASH_HEX_LEN + 1], hint[KEY_HINT_MAX];
    if (t->suffix)
      snprintf(name, sizeof name, "%s-%" PRId64, t->name, i + 1);
    else
      snprintf(name, sizeof name, "%s", t->name);
    const char *body = key_body(t->keys[i]);
    key_hash(body, strlen(body), hash);
    key_hint(t->keys[i], hint);

    db_reset(chk);
    enum db_step_result r = db_bind_int64(chk, 1, *uid) == 0 && db_bind_text(chk, 2, name) == 0
                            && db_bind_text(chk, 3, hash) == 0 ? db_step(chk) : DB_ERROR;
    int64_t other = r == DB_ROW ? db_col_int64(chk, 0) : 0;
    int64_t why = r == DB_ROW ? db_col_int64(chk, 1) : 0;
    db_reset(chk);
    if (r == DB_ERROR) {
      rc = gw_dberr(g, "cannot create the token");
      break;
    }
    if (why == 1) {
      rc = gw_err(GW_CONFLICT, "user '%s' already has a token named '%s' (id %" PRId64 ")", uname,
                  name, other);
      break;
    }
    if (why == 2) {
      rc = gw_err(GW_CONFLICT, "this key is already in use (token id %" PRId64 ")", other);
      break;
    }
    db_reset(ins);
    int ok = db_bind_int64(ins, 1, *uid) == 0 && db_bind_text(ins, 2, name) == 0
             && db_bind_text(ins, 3, hash) == 0 && db_bind_text(ins, 4, hint) == 0
             && db_bind_int64(ins, 5, now) == 0 && db_bind_int64(ins, 6, t->expires) == 0
             && db_bind_int64(ins, 7, t->unlimited ? 0 : t->quota) == 0
             && db_bind_int64(ins, 8, t->unlimited) == 0 && db_bind_text(ins, 9, t->models) == 0
             && db_bind_text(ins, 10, t->ips) == 0 && db_bind_text(ins, 11, t->group) == 0
             && db_step(ins) == DB_ROW;
    if (!ok) {
      rc = gw_dberr(g, "cannot create the token");
      break;
    }
    t->ids[i] = db_col_int64(ins, 0);
    db_reset(ins);
  }
  db_finalize(chk);
  db_finalize(ins);
  if (rc != 0)
    return rc;

  char quota[32], hint[KEY_HINT_MAX];
  if (t->unlimited)
    snprintf(quota, sizeof quota, "unlimited");
  else
    snprintf(quota, sizeof quota, "%" PRId64, t->quota);
  key_hint(t->keys[0], hint);
  struct gw_subject s = { .user_id = *uid, .username = uname,
                          .token_id = t->suffix ? 0 : t->ids[0],
                          .token_name = t->suffix ? "" : t->name };
  if (t->suffix)
    return gw_log_manage(g, &s, "token create %s-1..%s-%" PRId64 " count=%" PRId64 " user=%s "
                         "quota=%s models=%s ips=%s group=%s expires=%" PRId64, t->name, t->name,
                         t->count, t->count, uname, quota, *t->models ? t->models : "all",
                         *t->ips ? t->ips : "any", *t->group ? t->group : "user's", t->expires);
  return gw_log_manage(g, &s, "token create %s user=%s quota=%s models=%s ips=%s group=%s "
                       "expires=%" PRId64 " key=%s", t->name, uname, quota,
                       *t->models ? t->models : "all", *t->ips ? t->ips : "any",
                       *t->group ? t->group : "user's", t->expires, hint);
}

#define TOKEN_COUNT_MAX 100000

int cmd_token_create(struct gwctl *g, int argc, char **argv)
{
  const char *user = NULL, *name = NULL, *quota_s = NULL, *models = "", *key_file = NULL,
             *expires_s = "never", *ips = "", *group = "", *count_s = NULL;
  int unlimited = 0, nmodels = 0;
  const struct gw_opt opts[] = {
    { "user", &user, NULL },
    { "name", &name, NULL },
    { "quota", &quota_s, NULL },
    { "unlimited", NULL, &unlimited },
    { "models", &models, NULL },
    { "key-file", &key_file, NULL },
    { "expires", &expires_s, NULL },
    { "ips", &ips, NULL },
    { "group", &group, NULL },
    { "count", &count_s, NULL },
    { 0 },
  };
  char model_list[GW_LIST_MAX], ip_list[GW_LIST_MAX], uname[GW_NAME_MAX + 1] = "";
  struct token_new t = { .count = 1 };
  int64_t uid = 0;

  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !user)
    rc = gw_usage(g, "missing --user NAME");
  if (rc == 0 && !name)
    rc = gw_usage(g, "missing --name N");
  if (rc == 0)
    rc = gw_check_name(g, "token name", name);
  if (rc == 0 && count_s)
    rc = gw_parse_int(g, "--count", count_s, 1, TOKEN_COUNT_MAX, &t.count);
  if (rc == 0 && count_s && strlen(name) + 7 > GW_NAME_MAX)
    rc = gw_usage(g, "token name '%s' leaves no room for the -N suffix of --count", name);
  if (rc == 0 && count_s && key_file)
    rc = gw_usage(g, "--key-file and --count do not go together: one key file is one key");
  if (rc == 0 && quota_s && unlimited)
    rc = gw_usage(g, "give --quota Q or --unlimited, not both");
  if (rc == 0 && !quota_s && !unlimited)
    rc = gw_usage(g, "give --quota Q or --unlimited");
  if (rc == 0 && quota_s)
    rc = gw_parse_quota(g, "--quota", quota_s, 0, GW_QUOTA_MAX, &t.quota);
  if (rc == 0)
    rc = gw_parse_expires(g, "--expires", expires_s, &t.expires);
  if (rc == 0)
    rc = gw_norm_list(g, "--models", models, MODEL_NAME_MAX, model_list, sizeof model_list,
                      &nmodels);
  if (rc == 0)
    rc = check_ips(g, ips, ip_list, sizeof ip_list);
  if (rc == 0 && *group)
    rc = gw_check_name(g, "--group", group);
  if (rc != 0)
    return rc;
  t.suffix = count_s != NULL;
  t.keys = calloc((size_t)t.count, sizeof *t.keys);
  t.ids = calloc((size_t)t.count, sizeof *t.ids);
  if (!t.keys || !t.ids)
    rc = gw_err(GW_FAIL, "out of memory");
  if (rc == 0 && key_file)
    rc = read_key_file(g, key_file, t.keys[0], sizeof t.keys[0]);
  for (int64_t i = 0; rc == 0 && !key_file && i < t.count; i++)
    if (key_generate(t.keys[i], sizeof t.keys[i]) != 0)
      rc = gw_err(GW_FAIL, "cannot generate a key: no randomness available");
  if (rc == 0) {
    t.user = user;
    t.name = name;
    t.models = model_list;
    t.ips = ip_list;
    t.group = group;
    t.unlimited = unlimited != 0;
    if ((rc = gw_begin(g)) == 0)
      rc = gw_end(g, token_insert(g, &t, &uid, uname, sizeof uname));
  }
  if (rc == 0 && !g->json) {
    for (int64_t i = 0; i < t.count; i++)
      printf("%s\n", t.keys[i]);
  } else if (rc == 0) {
    cJSON *all = count_s ? cJSON_CreateArray() : NULL;
    for (int64_t i = 0; rc == 0 && i < t.count; i++) {
      char nm[GW_NAME_MAX + 24];
      if (count_s)
        snprintf(nm, sizeof nm, "%s-%" PRId64, name, i + 1);
      else
        snprintf(nm, sizeof nm, "%s", name);
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "id", (double)t.ids[i]);
      cJSON_AddStringToObject(o, "name", nm);
      cJSON_AddNumberToObject(o, "user_id", (double)uid);
      cJSON_AddStringToObject(o, "username", uname);
      if (!cJSON_AddStringToObject(o, "key", t.keys[i]) || cJSON_GetArraySize(o) != 5
          || (all && !cJSON_AddItemToArray(all, o)) || (count_s && !all)) {
        cJSON_Delete(o);
        rc = gw_err(GW_FAIL, "out of memory");
      } else if (!all) {
        if (out_json(o) != 0)
          rc = gw_err(GW_FAIL, "out of memory");
        cJSON_Delete(o);
      }
    }
    if (rc == 0 && all && out_json(all) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(all);
  }
  if (t.keys)
    OPENSSL_cleanse(t.keys, (size_t)t.count * sizeof *t.keys);
  free(t.keys);
  free(t.ids);
  return rc;
}

int cmd_token_list(struct gwctl *g, int argc, char **argv)
{
  const char *user = NULL, *status = NULL;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { "status", &status, NULL }, { 0 } };
  char uname[GW_NAME_MAX + 1];
  int64_t uid = 0;
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && status && strcmp(status, "enabled") && strcmp(status, "disabled")
      && strcmp(status, "expired") && strcmp(status, "exhausted"))
    rc = gw_usage(g, "--status must be enabled, disabled, expired or exhausted, not '%s'", status);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (user && (rc = gw_user_find(g, user, &uid, uname, sizeof uname)) != 0)
    return rc;
  cJSON *rows = token_rows(g, "?3 = 0 OR t.user_id = ?3", NULL, 0, uid, &rc);
  if (!rows)
    return rc;
  if (status) {         /* the status shown is computed (expiry, quota): filter on it */
    for (int i = cJSON_GetArraySize(rows) - 1; i >= 0; i--) {
      const char *st = cJSON_GetStringValue(
          cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, i), "status"));
      if (!st || strcmp(st, status) != 0)
        cJSON_DeleteItemFromArray(rows, i);
    }
  }
  if (out_list(g->json, rows, token_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

int cmd_token_show(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *user = NULL;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { 0 } };
  char name[GW_NAME_MAX + 1];
  int64_t id = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_token_find(g, ref, user, &id, name, sizeof name)))
    return rc;
  cJSON *rows = token_rows(g, "t.id = ?2 AND (?3 = 0 OR t.user_id = ?3)", NULL, id, 0, &rc);
  if (!rows)
    return rc;
  if (cJSON_GetArraySize(rows) != 1)
    rc = gw_err(GW_NOTFOUND, "token %" PRId64 " is gone", id);
  else if (out_object(g->json, cJSON_GetArrayItem(rows, 0), token_show_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

/* The subject of a manage row about token id. */
static int token_subject(struct gwctl *g, int64_t id, int64_t *uid, char *uname, size_t len)
{
  struct db_stmt *st = gw_prepare(g, "cannot look up the token",
      "SELECT t.user_id, COALESCE(u.username, '') FROM tokens t LEFT JOIN users u "
      "ON u.id = t.user_id WHERE t.id = ?1", "i", id);
  if (!st)
    return GW_FAIL;
  enum db_step_result r = db_step(st);
  if (r == DB_ROW) {
    *uid = db_col_int64(st, 0);
    snprintf(uname, len, "%s", db_col_text(st, 1));
  }
  db_finalize(st);
  return r == DB_ROW ? 0 : r == DB_DONE ? gw_err(GW_NOTFOUND, "token %" PRId64 " is gone", id)
                                        : gw_dberr(g, "cannot look up the token");
}

int cmd_token_edit(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *user = NULL, *newname = NULL, *quota_s = NULL, *expires_s = NULL,
             *models = NULL, *ips = NULL, *group = NULL, *cache_s = NULL;
  int unlimited = 0, nmodels = 0, cache = 0;
  const struct gw_opt opts[] = {
    { "user", &user, NULL },
    { "name", &newname, NULL },
    { "response-cache", &cache_s, NULL },
    { "quota", &quota_s, NULL },
    { "unlimited", NULL, &unlimited },
    { "expires", &expires_s, NULL },
    { "models", &models, NULL },
    { "ips", &ips, NULL },
    { "group", &group, NULL },
    { 0 },
  };
  char model_list[GW_LIST_MAX] = "", ip_list[GW_LIST_MAX] = "", name[GW_NAME_MAX + 1],
       uname[GW_NAME_MAX + 1] = "", what[GW_LIST_MAX * 2 + 512] = "";
  int64_t quota = 0, expires = 0, id = 0, uid = 0, other = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc == 0 && !newname && !quota_s && !unlimited && !expires_s && !models && !ips && !group &&
      !cache_s)
    rc = gw_usage(g, "nothing to change: give --name, --quota, --unlimited, --expires, --models, "
                  "--ips, --group or --response-cache");
  if (rc == 0 && cache_s)
    rc = gw_parse_bool(g, "--response-cache", cache_s, &cache);
  if (rc == 0 && newname)
    rc = gw_check_name(g, "--name", newname);
  if (rc == 0 && quota_s && unlimited)
    rc = gw_usage(g, "give --quota Q or --unlimited, not both");
  if (rc == 0 && quota_s)
    rc = gw_parse_quota(g, "--quota", quota_s, 0, GW_QUOTA_MAX, &quota);
  if (rc == 0 && expires_s)
    rc = gw_parse_expires(g, "--expires", expires_s, &expires);
  if (rc == 0 && models)
    rc = gw_norm_list(g, "--models", models, MODEL_NAME_MAX, model_list, sizeof model_list,
                      &nmodels);
  if (rc == 0 && ips)
    rc = check_ips(g, ips, ip_list, sizeof ip_list);
  if (rc == 0 && group && *group)
    rc = gw_check_name(g, "--group", group);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_token_find(g, ref, user, &id, name, sizeof name);
  if (rc == 0)
    rc = token_subject(g, id, &uid, uname, sizeof uname);
  if (rc == 0 && group)
    rc = check_token_group(g, group, uid, uname);
  if (rc == 0 && newname && strcmp(newname, name) != 0) {
    int r = gw_scalar(g, "cannot rename the token",
                      "SELECT id FROM tokens WHERE user_id = ?1 AND name = ?2", &other, "is", uid,
                      newname);
    if (r < 0)
      rc = GW_FAIL;
    else if (r > 0)
      rc = gw_err(GW_CONFLICT, "user '%s' already has a token named '%s' (id %" PRId64 ")", uname,
                  newname, other);
  }
  /* status: new quota revives an exhausted token, a new expiry an expired one */
  if (rc == 0)
    rc = gw_exec(g, "cannot change the token",
                 "UPDATE tokens SET name = COALESCE(?2, name), "
                 "remain_quota = CASE WHEN ?3 <> 0 THEN ?4 WHEN ?5 <> 0 THEN 0 ELSE remain_quota END, "
                 "unlimited_quota = CASE WHEN ?3 <> 0 THEN 0 WHEN ?5 <> 0 THEN 1 ELSE unlimited_quota END, "
                 "expired_time = CASE WHEN ?6 <> 0 THEN ?7 ELSE expired_time END, "
                 "models = COALESCE(?8, models), subnet = COALESCE(?9, subnet), "
                 "\"group\" = COALESCE(?10, \"group\"), "
                 "response_cache = CASE WHEN ?11 <> 0 THEN ?12 ELSE response_cache END, "
                 "status = CASE WHEN status = " CODE_STR(STATUS_EXHAUSTED) " AND (?3 <> 0 OR ?5 <> 0) "
                 "THEN " CODE_STR(STATUS_ENABLED) " WHEN status = " CODE_STR(STATUS_EXPIRED) " AND ?6 <> 0 "
                 "THEN " CODE_STR(STATUS_ENABLED) " ELSE status END WHERE id = ?1",
                 "isiiiiisssii", id, newname, (int64_t)(quota_s != NULL), quota, (int64_t)unlimited,
                 (int64_t)(expires_s != NULL), expires, models ? model_list : NULL,
                 ips ? ip_list : NULL, group, (int64_t)(cache_s != NULL), (int64_t)cache);
  if (rc == 0) {
    size_t n = 0;
#define ADDW(...) (n += (size_t)snprintf(what + n, n < sizeof what ? sizeof what - n : 0, __VA_ARGS__))
    if (newname)
      ADDW(" name=%s", newname);
    if (quota_s)
      ADDW(" quota=%" PRId64, quota);
    if (unlimited)
      ADDW(" quota=unlimited");
    if (expires_s)
      ADDW(" expires=%" PRId64, expires);
    if (models)
      ADDW(" models=%s", *model_list ? model_list : "all");
    if (ips)
      ADDW(" ips=%s", *ip_list ? ip_list : "any");
    if (group)
      ADDW(" group=%s", *group ? group : "user's");
    if (cache_s)
      ADDW(" response_cache=%s", cache ? "yes" : "no");
#undef ADDW
    struct gw_subject s = { .user_id = uid, .username = uname, .token_id = id, .token_name = name };
    rc = gw_log_manage(g, &s, "token edit %s%s", name, what);
  }
  return gw_end(g, rc);
}

static int token_status(struct gwctl *g, int argc, char **argv, int64_t status)
{
  const char *ref = NULL, *user = NULL;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { 0 } };
  char name[GW_NAME_MAX + 1], uname[GW_NAME_MAX + 1] = "";
  int64_t id = 0, uid = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_token_find(g, ref, user, &id, name, sizeof name);
  if (rc == 0)
    rc = token_subject(g, id, &uid, uname, sizeof uname);
  if (rc == 0)
    rc = gw_exec(g, "cannot change the token", "UPDATE tokens SET status = ?2 WHERE id = ?1", "ii",
                 id, status);
  struct gw_subject s = { .user_id = uid, .username = uname, .token_id = id, .token_name = name };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "token %s %s", status == STATUS_ENABLED ? "enable" : "disable", name);
  return gw_end(g, rc);
}

int cmd_token_enable(struct gwctl *g, int argc, char **argv) { return token_status(g, argc, argv, STATUS_ENABLED); }
int cmd_token_disable(struct gwctl *g, int argc, char **argv) { return token_status(g, argc, argv, STATUS_DISABLED); }

int cmd_token_rotate(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *user = NULL;
  int yes = 0;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { "yes", NULL, &yes }, { 0 } };
  char name[GW_NAME_MAX + 1], uname[GW_NAME_MAX + 1] = "", what[128];
  char key[KEY_MAX_LEN + 8], hash[KEY_HASH_HEX_LEN + 1], hint[KEY_HINT_MAX];
  int64_t id = 0, uid = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_token_find(g, ref, user, &id, name, sizeof name)))
    return rc;
  snprintf(what, sizeof what, "rotate the key of token %s (the old key stops working)", name);
  if ((rc = gw_confirm(g, yes, what)) != 0)
    return rc;
  if (key_generate(key, sizeof key) != 0)
    return gw_err(GW_FAIL, "cannot generate a key: no randomness available");
  key_hash(key_body(key), strlen(key_body(key)), hash);
  key_hint(key, hint);
  if ((rc = gw_begin(g)) == 0) {
    rc = gw_token_find(g, ref, user, &id, name, sizeof name);
    if (rc == 0)
      rc = token_subject(g, id, &uid, uname, sizeof uname);
    if (rc == 0)
      rc = gw_exec(g, "cannot rotate the key",
                   "UPDATE tokens SET key_hash = ?2, key_hint = ?3 WHERE id = ?1", "iss", id, hash,
                   hint);
    struct gw_subject s = { .user_id = uid, .username = uname, .token_id = id, .token_name = name };
    if (rc == 0)
      rc = gw_log_manage(g, &s, "token rotate %s key=%s", name, hint);
    rc = gw_end(g, rc);
  }
  if (rc == 0 && !g->json) {
    printf("%s\n", key);
  } else if (rc == 0) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "user_id", (double)uid);
    cJSON_AddStringToObject(o, "username", uname);
    if (!cJSON_AddStringToObject(o, "key", key) || cJSON_GetArraySize(o) != 5 || out_json(o) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(o);
  }
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

int cmd_token_rm(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *user = NULL;
  int yes = 0;
  const struct gw_opt opts[] = { { "user", &user, NULL }, { "yes", NULL, &yes }, { 0 } };
  char name[GW_NAME_MAX + 1], uname[GW_NAME_MAX + 1] = "", what[128];
  int64_t id = 0, uid = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_token_find(g, ref, user, &id, name, sizeof name)))
    return rc;
  snprintf(what, sizeof what, "delete token %s", name);
  if ((rc = gw_confirm(g, yes, what)) != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_token_find(g, ref, user, &id, name, sizeof name);
  if (rc == 0)
    rc = token_subject(g, id, &uid, uname, sizeof uname);
  if (rc == 0)
    rc = gw_subject_forget(g, "token", id);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the token", "DELETE FROM tokens WHERE id = ?1", "i", id);
  struct gw_subject s = { .user_id = uid, .username = uname, .token_id = id, .token_name = name };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "token rm %s", name);
  return gw_end(g, rc);
}
