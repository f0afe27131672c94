/* apply_exec: see apply_exec.h. */
#include "gwctl.h"
#include "i18n.h"
#include "channels.h"
#include "keys.h"
#include "output.h"
#include "gcpauth.h"
#include "provider.h"
#include "quota.h"
#include "rules.h"
#include "store.h"
#include "when.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "apply_exec.h"
#include "apply_plan.h"

/* Writes a new key into a temporary file beside path (0600), renamed into place after the commit. */
static int stage_key_file(struct apply *a, const char *label, const char *path, const char *key)
{
  size_t len = strlen(path) + 16;
  char *tmp = malloc(len);
  if (!tmp)
    return gw_err(GW_FAIL, "out of memory");
  snprintf(tmp, len, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);             /* mkstemp creates the file 0600 */
  if (fd < 0) {
    int rc = gw_err(GW_FAIL, "%s: field \"key_file\": cannot create a file beside %s: %s", label,
                    path, strerror(errno));
    free(tmp);
    return rc;
  }
  size_t n = strlen(key);
  int ok = fchmod(fd, 0600) == 0 && write(fd, key, n) == (ssize_t)n && write(fd, "\n", 1) == 1
           && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    int rc = gw_err(GW_FAIL, "%s: field \"key_file\": cannot write %s: %s", label, tmp,
                    strerror(errno));
    unlink(tmp);
    free(tmp);
    return rc;
  }
  char **t = realloc(a->tmp_files, (a->nfiles + 1) * sizeof *t);
  if (t)
    a->tmp_files = t;
  char **k = realloc(a->key_files, (a->nfiles + 1) * sizeof *k);
  if (k)
    a->key_files = k;
  if (!t || !k) {
    unlink(tmp);
    free(tmp);
    return gw_err(GW_FAIL, "out of memory");
  }
  a->tmp_files[a->nfiles] = tmp;
  a->key_files[a->nfiles] = strdup(path);
  a->nfiles++;
  return 0;
}

/* Sets a token's key_hash and key_hint from key, refusing a key another token has. */
static int write_token_key(struct apply *a, const char *label, int64_t id, const char *key)
{
  char hash[KEY_HASH_HEX_LEN + 1], hint[KEY_HINT_MAX];
  const char *body = key_body(key);
  key_hash(body, strlen(body), hash);
  key_hint(key, hint);
  int64_t other = 0;
  int r = gw_scalar(a->g, "cannot check the key",
                    "SELECT id FROM tokens WHERE key_hash = ?1 AND id <> ?2", &other, "si", hash, id);
  if (r < 0)
    return GW_FAIL;
  if (r > 0)
    return gw_err(GW_CONFLICT, "%s: field \"key\": this key is already in use (token id %" PRId64
                  ")", label, other);
  return gw_exec(a->g, "cannot store the token key",
                 "UPDATE tokens SET key_hash = ?2, key_hint = ?3 WHERE id = ?1", "iss", id, hash,
                 hint);
}

static int exec_delete(struct apply *a, struct change *c, struct gw_subject *subj)
{
  struct gwctl *g = a->g;
  const char *name = c->have->key;
  int64_t id = c->have->id;
  switch (c->kind) {
  case K_GROUP:
    return gw_exec(g, "cannot delete the group", "DELETE FROM groups WHERE name = ?1", "s", name);
  case K_PRICE:
    return gw_exec(g, "cannot delete the price", "DELETE FROM prices WHERE model = ?1", "s", name);
  case K_OPTION:
    return gw_exec(g, "cannot delete the option", "DELETE FROM options WHERE key = ?1", "s", name);
  case K_USER:
    subj->user_id = id;
    subj->username = name;
    return gw_exec(g, "cannot delete the user", "DELETE FROM users WHERE id = ?1", "i", id);
  case K_CHANNEL:
    subj->channel_id = id;
    return gw_exec(g, "cannot delete the channel's keys", "DELETE FROM channel_keys WHERE channel_id = ?1", "i", id)
                   || gw_exec(g, "cannot delete the channel's balance",
                              "DELETE FROM channel_balances WHERE channel_id = ?1", "i", id)
               ? GW_FAIL
               : gw_exec(g, "cannot delete the channel", "DELETE FROM channels WHERE id = ?1", "i", id);
  case K_TOKEN:
    subj->token_id = id;
    subj->token_name = ap_str_of(c->have->obj, "name");
    subj->username = ap_str_of(c->have->obj, "user");
    /* its limits, alerts and fallback chains go with it, as with gwctl token rm */
    return gw_subject_forget(g, "token", id) ? GW_FAIL
           : gw_exec(g, "cannot delete the token", "DELETE FROM tokens WHERE id = ?1", "i", id);
  case K_FALLBACK:
    return gw_exec(g, "cannot remove the fallback chain", "DELETE FROM fallbacks WHERE scope = ?1 AND "
                   "subject = ?2 AND model = ?3", "sss", ap_str_of(c->have->obj, "\x01scope"),
                   ap_str_of(c->have->obj, "\x01subject"), ap_str_of(c->have->obj, "model"));
  default:
    return 0;
  }
}

/* Makes channel id's key pool the file's "keys": keys it does not list removed, the others' status
 * and limits set, a key given by reference stored (channels.key then follows the first key). */
static int exec_pool(struct apply *a, struct change *c, int64_t id)
{
  struct gwctl *g = a->g;
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(c->want->obj, "keys");
  char list[POOL_KEYS_MAX * 12 + 2] = "";
  size_t used = 0, j = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, keys)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%" PRId64, used ? "," : "", ap_int_of(e, "index"));
  /* the indexes kept, as a comma list matched in SQL (both backends: ',' || list || ',' LIKE) */
  int rc = gw_exec(g, "cannot change the key pool", "DELETE FROM channel_keys WHERE channel_id = ?1 AND "
                   "',' || ?2 || ',' NOT LIKE '%,' || CAST(idx AS TEXT) || ',%'", "is", id, list);
  cJSON_ArrayForEach(e, keys) {
    const char *secret = j < c->want->npool ? c->want->pool[j] : NULL;
    int64_t idx = ap_int_of(e, "index");
    int64_t status = rule_status_value(rule_channel_status, RULE_CHANNEL_STATUS_N,
                                  ap_str_of(e, "status"));
    j++;
    if (rc == 0 && secret)
      rc = gw_pool_put(g, id, idx, secret);
    if (rc == 0)
      rc = gw_pool_key_limits(g, id, idx, 1, ap_int_of(e, "rpm"), 1, ap_int_of(e, "tpm"), 1,
                              ap_int_of(e, "max_concurrency"));
    if (rc == 0)
      rc = gw_exec(g, "cannot change the key pool",
                   "UPDATE channel_keys SET "
                   "status_reason = CASE WHEN status = ?3 THEN status_reason WHEN ?3 = "
                   CODE_STR(STATUS_ENABLED) " THEN '' ELSE 'set by gwctl apply' END, "
                   "status_time = CASE WHEN status = ?3 THEN status_time ELSE ?4 END, status = ?3 "
                   "WHERE channel_id = ?1 AND idx = ?2", "iiii", id, idx, status, (int64_t)time(NULL));
  }
  if (rc == 0)
    rc = gw_pool_sync_first(g, id);
  return rc;
}

static int exec_channel(struct apply *a, struct change *c, struct gw_subject *subj)
{
  struct gwctl *g = a->g;
  const cJSON *o = c->want->obj;
  char models[GW_LIST_MAX + 1], groups[GW_LIST_MAX + 1];
  char *map = ap_obj_text(cJSON_GetObjectItemCaseSensitive(o, "model_mapping"));
  char *other = ap_obj_text(cJSON_GetObjectItemCaseSensitive(o, "other"));
  ap_join_array(cJSON_GetObjectItemCaseSensitive(o, "models"), models, sizeof models);
  ap_join_array(cJSON_GetObjectItemCaseSensitive(o, "group"), groups, sizeof groups);
  int64_t status = rule_status_value(rule_channel_status, RULE_CHANNEL_STATUS_N,
                                ap_str_of(o, "status"));
  int64_t id = c->have ? c->have->id : 0;
  int rc;
  if (!map || !other)
    rc = gw_err(GW_FAIL, "out of memory");
  else if (c->op == OP_CREATE) {
    const struct gw_channel_row row = {
      .type = ap_str_of(o, "type"), .name = ap_str_of(o, "name"), .base_url = ap_str_of(o, "base_url"),
      .models = models, .group = groups, .model_map = map, .tag = ap_str_of(o, "tag"), .other = other,
      .status = status, .priority = ap_int_of(o, "priority"), .weight = ap_int_of(o, "weight"),
    };
    rc = gw_channel_insert(g, &row, c->want->secret, &id);
  } else {
    rc = gw_exec(g, "cannot change the channel",
                 "UPDATE channels SET type = ?2, status = ?3, base_url = ?4, models = ?5, "
                 "\"group\" = ?6, model_mapping = ?7, priority = ?8, weight = ?9, tag = ?10, "
                 "other = ?11 WHERE id = ?1", "isissssiiss", id, ap_str_of(o, "type"), status,
                 ap_str_of(o, "base_url"), models, groups, map, ap_int_of(o, "priority"),
                 ap_int_of(o, "weight"), ap_str_of(o, "tag"), other);
    if (rc == 0 && c->key_changed)
      rc = gw_channel_set_key(g, id, c->want->secret);
  }
  if (rc == 0)
    rc = gw_channel_limits(g, id, ap_str_of(o, "key_mode"), 1, ap_int_of(o, "rpm"), 1, ap_int_of(o, "tpm"), 1,
                           ap_int_of(o, "max_concurrency"));
  if (rc == 0 && (c->op == OP_CREATE ? cJSON_GetObjectItemCaseSensitive(o, "keys") != NULL : c->pool_changed))
    rc = exec_pool(a, c, id);
  free(map);
  free(other);
  subj->channel_id = id;
  return rc;
}

static int exec_token(struct apply *a, struct change *c, struct gw_subject *subj, char *label,
                      size_t labellen)
{
  struct gwctl *g = a->g;
  const cJSON *o = c->want->obj;
  char models[GW_LIST_MAX + 1], ips[GW_LIST_MAX + 1];
  ap_join_array(cJSON_GetObjectItemCaseSensitive(o, "models"), models, sizeof models);
  ap_join_array(cJSON_GetObjectItemCaseSensitive(o, "ips"), ips, sizeof ips);
  int64_t status = rule_status_value(rule_token_status, RULE_TOKEN_STATUS_N,
                                ap_str_of(o, "status"));
  int64_t unlimited = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "unlimited"));
  int64_t rcache = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "response_cache"));
  int64_t id = c->have ? c->have->id : 0, uid = 0;
  snprintf(label, labellen, "tokens[%d] \"%s\"", c->want->index, c->want->key);
  int rc = 0;
  if (gw_scalar(g, "cannot look up the user", "SELECT id FROM users WHERE username = ?1", &uid, "s",
                ap_str_of(o, "user")) <= 0)
    return gw_err(GW_FAIL, "%s: the user '%s' is gone", label, ap_str_of(o, "user"));
  if (c->op == OP_CREATE) {
    char key[KEY_MAX_LEN + 8];
    if (c->want->secret)
      snprintf(key, sizeof key, "%s", c->want->secret);
    else if (key_generate(key, sizeof key) != 0)
      return gw_err(GW_FAIL, "cannot generate a key: no entropy");
    char hash[KEY_HASH_HEX_LEN + 1], hint[KEY_HINT_MAX];
    const char *body = key_body(key);
    key_hash(body, strlen(body), hash);
    key_hint(key, hint);
    int64_t other = 0;
    int r = gw_scalar(g, "cannot check the key", "SELECT id FROM tokens WHERE key_hash = ?1",
                      &other, "s", hash);
    if (r > 0)
      rc = gw_err(GW_CONFLICT, "%s: field \"key\": this key is already in use (token id %" PRId64
                  ")", label, other);
    else if (r < 0)
      rc = GW_FAIL;
    if (rc == 0)
      rc = gw_insert(g, "cannot create the token",
                   "INSERT INTO tokens(user_id, name, key_hash, key_hint, status, created_time, "
                   "expired_time, remain_quota, unlimited_quota, models, subnet, \"group\", "
                   "response_cache) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
                   "RETURNING id", &id, "isssiiiiisssi",
                   uid, ap_str_of(o, "name"), hash, hint, status, (int64_t)time(NULL),
                   ap_int_of(o, "expires"), unlimited ? 0 : ap_int_of(o, "quota"), unlimited, models, ips,
                   ap_str_of(o, "group"), rcache);
    if (rc == 0 && c->want->key_file)
      rc = stage_key_file(a, label, c->want->key_file, key);
    else if (rc == 0 && !c->want->secret) {
      cJSON *k = cJSON_CreateObject();
      cJSON_AddStringToObject(k, "user", ap_str_of(o, "user"));
      cJSON_AddStringToObject(k, "name", ap_str_of(o, "name"));
      cJSON_AddStringToObject(k, "key", key);
      cJSON_AddItemToArray(a->new_keys, k);
    }
    OPENSSL_cleanse(key, sizeof key);
  } else {
    rc = gw_exec(g, "cannot change the token",
                 "UPDATE tokens SET status = ?2, expired_time = ?3, "
                 "remain_quota = CASE WHEN ?4 <> 0 THEN ?5 ELSE remain_quota END, unlimited_quota = ?6, "
                 "models = ?7, subnet = ?8, \"group\" = ?9, response_cache = ?10 WHERE id = ?1",
                 "iiiiiisssi", id, status, ap_int_of(o, "expires"), (int64_t)c->set_quota,
                 unlimited ? 0 : ap_int_of(o, "quota"), unlimited, models, ips, ap_str_of(o, "group"), rcache);
    if (rc == 0 && c->key_changed)
      rc = write_token_key(a, label, id, c->want->secret);
  }
  subj->user_id = uid;
  subj->username = ap_str_of(o, "user");
  subj->token_id = id;
  subj->token_name = ap_str_of(o, "name");
  return rc;
}

/* A price's canonical object as the struct gwctl price set writes (common/rules.h): the whole price,
 * every field given (null: NULL), its tier too. */
static void price_of(const cJSON *o, struct price *p)
{
  static const char *const tf[] = { "tier_model_ratio", "tier_completion_ratio", "tier_cache_ratio" };
  const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fixed_price");
  const cJSON *cw = cJSON_GetObjectItemCaseSensitive(o, "cache_write_ratio");
  const cJSON *cw1h = cJSON_GetObjectItemCaseSensitive(o, "cache_write_1h_ratio");
  const cJSON *mo = cJSON_GetObjectItemCaseSensitive(o, "max_output_tokens");
  const cJSON *ar = cJSON_GetObjectItemCaseSensitive(o, "audio_ratio");
  const cJSON *acr = cJSON_GetObjectItemCaseSensitive(o, "audio_completion_ratio");
  const cJSON *ta = cJSON_GetObjectItemCaseSensitive(o, "tier_above");
  *p = (struct price){
    .model = ap_str_of(o, "model"), .has_ratio = 1, .ratio = ap_num_of(o, "model_ratio"),
    .completion = ap_num_of(o, "completion_ratio"), .cache = ap_num_of(o, "cache_ratio"),
    .has_fixed = cJSON_IsNumber(fp), .fixed = cJSON_GetNumberValue(fp), .unit = ap_str_of(o, "unit"),
    .has_cw = cJSON_IsNumber(cw), .cw = cJSON_GetNumberValue(cw),
    .has_cw1h = cJSON_IsNumber(cw1h), .cw1h = cJSON_GetNumberValue(cw1h),
    .has_ar = cJSON_IsNumber(ar), .ar = cJSON_GetNumberValue(ar),
    .has_acr = cJSON_IsNumber(acr), .acr = cJSON_GetNumberValue(acr),
    .has_max_out = 1, .max_out = cJSON_IsNumber(mo) ? (int64_t)mo->valuedouble : 0,
    .has_tier = 1, .tier_above = cJSON_IsNumber(ta) ? (int64_t)ta->valuedouble : 0,
  };
  for (int k = 0; k < 3; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, tf[k]);
    p->tier_ratio[k] = cJSON_IsNumber(v) ? v->valuedouble : -1;
  }
}

/* Sets a fallback chain (as gwctl fallback set): a token's by its id, looked up now (apply may have
 * just created it). */
static int exec_fallback(struct gwctl *g, const cJSON *o)
{
  const char *grp = ap_str_of(o, "group"), *tok = ap_str_of(o, "token");
  char subject[GW_NAME_MAX + 24] = "", chain[GW_LIST_MAX + 1], on[64];
  if (*grp)
    snprintf(subject, sizeof subject, "%s", grp);
  else if (*tok) {
    char user[GW_NAME_MAX + 1];
    const char *slash = strchr(tok, '/');
    int64_t tid = 0;
    snprintf(user, sizeof user, "%.*s", slash ? (int)(slash - tok) : 0, tok);
    if (gw_scalar(g, "cannot look up the token", "SELECT t.id FROM tokens t JOIN users u ON u.id = t.user_id "
                  "WHERE u.username = ?1 AND t.name = ?2", &tid, "ss", user, slash ? slash + 1 : "") <= 0)
      return gw_err(GW_FAIL, "fallback %s: the token '%s' is gone", ap_str_of(o, "model"), tok);
    snprintf(subject, sizeof subject, "%" PRId64, tid);
  }
  ap_join_array(cJSON_GetObjectItemCaseSensitive(o, "chain"), chain, sizeof chain);
  ap_join_array(cJSON_GetObjectItemCaseSensitive(o, "on"), on, sizeof on);
  return gw_fallback_put(g, *grp ? "group" : *tok ? "token" : "model", subject, ap_str_of(o, "model"), chain, on);
}

int ap_exec_change(struct apply *a, struct change *c)
{
  struct gwctl *g = a->g;
  struct gw_subject subj = { 0 };
  char label[200], text[900];
  int rc = 0;
  if (c->op == OP_DELETE) {
    rc = exec_delete(a, c, &subj);
  } else {
    const cJSON *o = c->want->obj;
    switch (c->kind) {
    case K_GROUP:
      rc = gw_group_put(g, ap_str_of(o, "name"), 1, ap_num_of(o, "ratio"), 1,
                        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "selectable")));
      break;
    case K_PRICE: {
      struct price p;
      price_of(o, &p);
      rc = gw_price_write(g, &p);
      if (rc == 0)
        rc = gw_price_tier_write(g, &p);
      break;
    }
    case K_FALLBACK:
      rc = exec_fallback(g, o);
      break;
    case K_OPTION:
      rc = gw_exec(g, "cannot write the option", "INSERT INTO options(key, value) VALUES (?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "ss", ap_str_of(o, "key"),
                   ap_str_of(o, "value"));
      break;
    case K_USER: {
      int64_t status = strcmp(ap_str_of(o, "status"), "disabled") == 0 ? STATUS_DISABLED : STATUS_ENABLED;
      if (c->op == OP_CREATE) {
        rc = gw_user_insert(g, ap_str_of(o, "name"), rule_role_value(ap_str_of(o, "role")), status,
                            ap_int_of(o, "quota"), ap_str_of(o, "group"), &subj.user_id);
      } else {
        rc = gw_exec(g, "cannot change the user",
                     "UPDATE users SET role = ?2, status = ?3, \"group\" = ?4, "
                     "quota = CASE WHEN ?5 <> 0 THEN ?6 ELSE quota END WHERE id = ?1", "iiisii",
                     c->have->id, rule_role_value(ap_str_of(o, "role")), status, ap_str_of(o, "group"),
                     (int64_t)c->set_quota, ap_int_of(o, "quota"));
        subj.user_id = c->have->id;
      }
      subj.username = ap_str_of(o, "name");
      break;
    }
    case K_CHANNEL:
      rc = exec_channel(a, c, &subj);
      break;
    case K_TOKEN:
      rc = exec_token(a, c, &subj, label, sizeof label);
      break;
    default:
      break;
    }
  }
  if (rc != 0)
    return rc;
  ap_change_text(c, text, sizeof text);
  return gw_log_manage(g, &subj, "apply: %s (by %s)", text, a->who);
}

