/* apply_read: see apply_read.h. */
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
#include "apply_read.h"

/* How one column of a reader's SELECT becomes a field of the canonical object. */
enum col_as {
  COL_END,                      /* ends a column list */
  COL_ID,                       /* the item's database id, not a field */
  COL_TEXT,
  COL_REAL,
  COL_REAL_OR_NULL,             /* a number, null when the column is NULL */
  COL_INT,
  COL_BOOL,                     /* true unless 0 */
  COL_ROLE,                     /* users.role as rule_role_name() */
  COL_STATUS,                   /* a status number as its word in words[] (else "enabled") */
  COL_LIST,                     /* a comma list as an array of strings */
  COL_OBJECT,                   /* a JSON object stored as text (ap_obj_from_text) */
};

struct col {
  const char *field;            /* key in the canonical object (COL_ID: none) */
  enum col_as as;
  const char *const *words;     /* COL_STATUS: the word of each value 1..nwords-1 */
  int64_t nwords;
};

#define STATUS(field, words, n) { field, COL_STATUS, words, n }

/* The reader of each kind: one SELECT, its columns in the order of the canonical object's fields,
 * and which columns name the item (key_col, or "key_col/key_col2" when key_col2 is not -1). */
static const struct reader {
  const char *sql;
  int key_col, key_col2;
  struct col cols[20];
} readers[K_N] = {
  [K_GROUP] = {
    "SELECT name, ratio, selectable FROM groups ORDER BY name", 0, -1,
    { { "name", COL_TEXT }, { "ratio", COL_REAL }, { "selectable", COL_BOOL } },
  },
  [K_PRICE] = {
    "SELECT model, model_ratio, completion_ratio, cache_ratio, fixed_price, price_unit, "
    "cache_write_ratio, cache_write_1h_ratio, NULLIF(max_output_tokens, 0), audio_ratio, "
    "audio_completion_ratio, NULLIF(tier_above, 0), CASE WHEN tier_above > 0 THEN tier_model_ratio END, "
    "CASE WHEN tier_above > 0 THEN tier_completion_ratio END, "
    "CASE WHEN tier_above > 0 THEN tier_cache_ratio END FROM prices ORDER BY model", 0, -1,
    { { "model", COL_TEXT }, { "model_ratio", COL_REAL }, { "completion_ratio", COL_REAL },
      { "cache_ratio", COL_REAL }, { "fixed_price", COL_REAL_OR_NULL }, { "unit", COL_TEXT },
      { "cache_write_ratio", COL_REAL_OR_NULL }, { "cache_write_1h_ratio", COL_REAL_OR_NULL },
      { "max_output_tokens", COL_REAL_OR_NULL }, { "audio_ratio", COL_REAL_OR_NULL },
      { "audio_completion_ratio", COL_REAL_OR_NULL },
      /* the long-context tier (migration 014): all null = none */
      { "tier_above", COL_REAL_OR_NULL }, { "tier_model_ratio", COL_REAL_OR_NULL },
      { "tier_completion_ratio", COL_REAL_OR_NULL }, { "tier_cache_ratio", COL_REAL_OR_NULL } },
  },
  [K_OPTION] = {
    "SELECT key, value FROM options ORDER BY key", 0, -1,
    { { "key", COL_TEXT }, { "value", COL_TEXT } },
  },
  [K_USER] = {
    "SELECT id, username, role, status, \"group\", quota FROM users ORDER BY username", 1, -1,
    { { NULL, COL_ID }, { "name", COL_TEXT }, { "role", COL_ROLE }, STATUS("status", rule_user_status, RULE_USER_STATUS_N),
      { "group", COL_TEXT }, { "quota", COL_INT } },
  },
  [K_CHANNEL] = {
    "SELECT id, name, type, status, base_url, models, \"group\", model_mapping, priority, weight, "
    "tag, other, key_mode, rpm, tpm, max_concurrency, key <> '' FROM channels ORDER BY name", 1, -1,
    { { NULL, COL_ID }, { "name", COL_TEXT }, { "type", COL_TEXT },
      STATUS("status", rule_channel_status, RULE_CHANNEL_STATUS_N), { "base_url", COL_TEXT }, { "models", COL_LIST },
      { "group", COL_LIST }, { "model_mapping", COL_OBJECT }, { "priority", COL_INT },
      { "weight", COL_INT }, { "tag", COL_TEXT }, { "other", COL_OBJECT },
      /* the key pool's choice and the channel's limits (migrations 012, 015; "keys": read_pools) */
      { "key_mode", COL_TEXT }, { "rpm", COL_INT }, { "tpm", COL_INT }, { "max_concurrency", COL_INT },
      /* has_key: only for export's references; never compared */
      { "\x01has_key", COL_BOOL } },
  },
  [K_TOKEN] = {
    "SELECT t.id, u.username, t.name, t.status, t.unlimited_quota, t.remain_quota, t.expired_time, "
    "t.models, t.subnet, t.\"group\", t.response_cache, t.key_hash FROM tokens t JOIN users u ON u.id = t.user_id "
    "ORDER BY u.username, t.name", 1, 2,
    { { NULL, COL_ID }, { "user", COL_TEXT }, { "name", COL_TEXT },
      STATUS("status", rule_token_status, RULE_TOKEN_STATUS_N), { "unlimited", COL_BOOL }, { "quota", COL_INT },
      { "expires", COL_INT }, { "models", COL_LIST }, { "ips", COL_LIST }, { "group", COL_TEXT },
      { "response_cache", COL_BOOL }, { "\x01key_hash", COL_TEXT } },
  },
  /* fallback chains (migration 014): a token's by "user/name" (its id when the token is gone) */
  [K_FALLBACK] = {
    "SELECT x.model || CASE WHEN x.grp <> '' THEN '@group:' || x.grp WHEN x.tok <> '' THEN '@token:' || x.tok "
    "ELSE '' END, x.model, x.grp, x.tok, x.chain, x.on_errors, x.scope, x.subject FROM (SELECT f.model, "
    "CASE WHEN f.scope = 'group' THEN f.subject ELSE '' END AS grp, CASE WHEN f.scope = 'token' THEN "
    "COALESCE((SELECT u.username || '/' || t.name FROM tokens t JOIN users u ON u.id = t.user_id "
    "WHERE CAST(t.id AS TEXT) = f.subject), '#' || f.subject) ELSE '' END AS tok, f.chain, f.on_errors, "
    "f.scope, f.subject FROM fallbacks f) x ORDER BY 1", 0, -1,
    { { "\x01key", COL_TEXT }, { "model", COL_TEXT }, { "group", COL_TEXT }, { "token", COL_TEXT },
      { "chain", COL_LIST }, { "on", COL_LIST }, { "\x01scope", COL_TEXT }, { "\x01subject", COL_TEXT } },
  },
};

/* One row of a reader as its canonical object. Caller owns the result. */
static cJSON *row_object(struct db_stmt *st, const struct col *cols)
{
  cJSON *o = cJSON_CreateObject();
  for (int i = 0; cols[i].as != COL_END; i++) {
    const struct col *c = &cols[i];
    int64_t v;
    switch (c->as) {
    case COL_END:
    case COL_ID:
      break;
    case COL_TEXT:
      cJSON_AddStringToObject(o, c->field, db_col_text(st, i));
      break;
    case COL_REAL:
      cJSON_AddNumberToObject(o, c->field, db_col_double(st, i));
      break;
    case COL_REAL_OR_NULL:
      if (db_col_is_null(st, i))
        cJSON_AddNullToObject(o, c->field);
      else
        cJSON_AddNumberToObject(o, c->field, db_col_double(st, i));
      break;
    case COL_INT:
      cJSON_AddNumberToObject(o, c->field, (double)db_col_int64(st, i));
      break;
    case COL_BOOL:
      cJSON_AddBoolToObject(o, c->field, db_col_int64(st, i) != 0);
      break;
    case COL_ROLE:
      cJSON_AddStringToObject(o, c->field, rule_role_name(db_col_int64(st, i)));
      break;
    case COL_STATUS:
      v = db_col_int64(st, i);
      cJSON_AddStringToObject(o, c->field, rule_status_name(c->words, (int)c->nwords, v));
      break;
    case COL_LIST:
      cJSON_AddItemToObject(o, c->field, gw_csv_array(db_col_text(st, i)));
      break;
    case COL_OBJECT:
      cJSON_AddItemToObject(o, c->field, ap_obj_from_text(db_col_text(st, i)));
      break;
    }
  }
  return o;
}


/* Adds "keys" (the pool, by index: status and limits, never a key) to the channels of s that have
 * a key pool (table channel_keys, migration 012). */
static int read_pools(struct gwctl *g, struct set *s)
{
  const char *what = "cannot read the key pools";
  struct db_stmt *st = gw_prepare(g, what, "SELECT channel_id, idx, status, rpm, tpm, max_concurrency "
                                  "FROM channel_keys ORDER BY channel_id, idx", NULL);
  enum db_step_result r = DB_ERROR;
  int64_t last = -1;
  cJSON *keys = NULL;
  while (st && (r = db_step(st)) == DB_ROW) {
    int64_t id = db_col_int64(st, 0);
    if (id != last) {
      last = id;
      keys = NULL;
      for (size_t i = 0; i < s->n && !keys; i++)
        if (s->v[i].id == id)
          keys = cJSON_AddArrayToObject(s->v[i].obj, "keys");
    }
    if (!keys)
      continue;
    cJSON *o = cJSON_CreateObject();
    int64_t v = db_col_int64(st, 2);
    cJSON_AddNumberToObject(o, "index", (double)db_col_int64(st, 1));
    cJSON_AddStringToObject(o, "status", rule_status_name(rule_channel_status, RULE_CHANNEL_STATUS_N, v));
    cJSON_AddNumberToObject(o, "rpm", (double)db_col_int64(st, 3));
    cJSON_AddNumberToObject(o, "tpm", (double)db_col_int64(st, 4));
    cJSON_AddNumberToObject(o, "max_concurrency", (double)db_col_int64(st, 5));
    cJSON_AddItemToArray(keys, o);
  }
  db_finalize(st);
  return r == DB_DONE ? 0 : st ? gw_dberr(g, what) : GW_FAIL;
}

/* Reads every item of kind k from the database into s. */
int ap_read_kind(struct gwctl *g, enum kind k, struct set *s)
{
  const struct reader *rd = &readers[k];
  char what[64];
  snprintf(what, sizeof what, "cannot read %s", ap_kinds[k].section);
  struct db_stmt *st = gw_prepare(g, what, rd->sql, NULL);
  enum db_step_result r = DB_ERROR;
  while (st && (r = db_step(st)) == DB_ROW) {
    cJSON *o = row_object(st, rd->cols);
    const char *key = db_col_text(st, rd->key_col);
    char both[2 * GW_NAME_MAX + 2];
    if (rd->key_col2 >= 0) {
      snprintf(both, sizeof both, "%s/%s", key, db_col_text(st, rd->key_col2));
      key = both;
    }
    ap_set_add(s, key, rd->cols[0].as == COL_ID ? db_col_int64(st, 0) : 0, o, -1);
  }
  db_finalize(st);
  if (r == DB_DONE && k == K_CHANNEL)
    return read_pools(g, s);
  return r == DB_DONE ? 0 : st ? gw_dberr(g, what) : GW_FAIL;
}

/* Drops the internal fields ("\x01...") of a canonical object. */
void ap_strip_internal(cJSON *o)
{
  cJSON *it = o->child;
  while (it) {
    cJSON *next = it->next;
    if (it->string && it->string[0] == '\x01')
      cJSON_Delete(cJSON_DetachItemViaPointer(o, it));
    it = next;
  }
}

