/*
 * gwctl export / apply: declarative provisioning (doc/provisioning.md has the document format).
 *
 * Owns: the provisioning document (version 1): how each kind (groups, prices with their long-context
 * tier, options, users, channels with their limits and key pools, tokens, fallback chains) reads
 * from the database as canonical JSON (export and the "have" side of apply
 * use the same readers, so an export applies back as a no-op), how a file entry is checked into the
 * same canonical form (every error names the entry and the field, and all are reported), the plan
 * (create / update field: old -> new / delete) and its execution in one transaction with one manage
 * log row per change and one reload of relayd at the end.
 * Callers: the command table in main.c.
 * Never: exports a channel key, a pool key or a token key in clear (channel and pool keys become
 * {"file"}/{"env"} references or are left out; stored and compared only through channels.c), prints or logs a secret read through a reference, changes anything
 * when the file has an error, or deletes without --prune.
 */
#include "gwctl.h"
#include "i18n.h"
#include "channels.h"
#include "cmd_apply.h"
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

#define DOC_VERSION 1
#define DOC_MAX (64 * 1024 * 1024)
#define SECRET_MAX 8192
#define MODEL_NAME_MAX RULE_MODEL_MAX
#define URL_MAX 2048
#define RATIO_MAX RULE_RATIO_MAX
#define PRICE_MAX RULE_PRICE_MAX

enum kind { K_GROUP, K_PRICE, K_OPTION, K_USER, K_CHANNEL, K_TOKEN, K_FALLBACK, K_N };

static const struct {
  const char *section;          /* top-level key of the document */
  const char *noun;             /* in plans and log rows */
  const char *id_field;         /* the field that names an entry */
} kinds[K_N] = {
  { "groups", "group", "name" },
  { "prices", "price", "model" },
  { "options", "option", "key" },
  { "users", "user", "name" },
  { "channels", "channel", "name" },
  { "tokens", "token", "name" },
  { "fallbacks", "fallback", "model" },
};

/* One object of a kind: its identity, database id (0 in the file), canonical JSON. */
struct item {
  char *key;                    /* name; tokens: "user/name" (owned) */
  int64_t id;
  cJSON *obj;                   /* owned */
  int index;                    /* position in the file, -1 for the database */
  char *secret;                 /* resolved "key" reference (owned, cleansed on free), or NULL */
  char *key_file;               /* tokens: where a new key goes (owned), or NULL */
  char **pool;                  /* channels: the resolved reference of each "keys" entry, in the order
                                   of obj's "keys" (owned, each cleansed on free; NULL: none given) */
  size_t npool;
};

struct set {
  struct item *v;
  size_t n, cap;
  struct strmap by_key;         /* key -> struct item * (index into v stays valid: built at the end) */
};

enum op { OP_CREATE, OP_UPDATE, OP_DELETE };
static const char *const op_names[] = { "create", "update", "delete" };

struct change {
  enum op op;
  enum kind kind;
  struct item *want;            /* create/update: the file's item */
  struct item *have;            /* update/delete: the database's item */
  cJSON *fields;                /* update: [{"field","old","new"}] (owned) */
  int key_changed;              /* update of a channel/token key */
  int set_quota;                /* update: quota is among the fields */
  int pool_changed;             /* update of a channel's key pool ("keys" or one of its keys) */
};

struct apply {
  struct gwctl *g;
  struct set want[K_N], have[K_N];
  int in_file[K_N];
  int prune, set_balances, dry_run;
  int errors;
  struct change *ch;
  size_t nch, capch;
  cJSON *new_keys;              /* [{"user","name","key"}] of new tokens without key_file */
  char **tmp_files, **key_files;  /* written before commit, renamed after (parallel arrays) */
  size_t nfiles;
  char who[64];
};

/* ---- small helpers ------------------------------------------------------------------------------ */

static void set_add(struct set *s, const char *key, int64_t id, cJSON *obj, int index)
{
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v)
      abort();
  }
  s->v[s->n++] = (struct item){ .key = strdup(key), .id = id, .obj = obj, .index = index };
}

static void set_index(struct set *s)
{
  strmap_init(&s->by_key, s->n + 1);
  for (size_t i = 0; i < s->n; i++)
    strmap_put(&s->by_key, s->v[i].key, &s->v[i]);
}

static struct item *set_get(const struct set *s, const char *key)
{
  return s->by_key.slots ? strmap_get(&s->by_key, key) : NULL;
}

static void pool_free(char **pool, size_t n)
{
  for (size_t i = 0; pool && i < n; i++)
    if (pool[i]) {
      OPENSSL_cleanse(pool[i], strlen(pool[i]));
      free(pool[i]);
    }
  free(pool);
}

static void set_free(struct set *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].key);
    cJSON_Delete(s->v[i].obj);
    if (s->v[i].secret) {
      OPENSSL_cleanse(s->v[i].secret, strlen(s->v[i].secret));
      free(s->v[i].secret);
    }
    free(s->v[i].key_file);
    pool_free(s->v[i].pool, s->v[i].npool);
  }
  free(s->v);
  if (s->by_key.slots)
    strmap_free(&s->by_key);
  memset(s, 0, sizeof *s);
}

static const char *str_of(const cJSON *o, const char *field)
{
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, field));
  return s ? s : "";
}

static double num_of(const cJSON *o, const char *field)
{
  return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, field));
}

static int64_t int_of(const cJSON *o, const char *field)
{
  double d = num_of(o, field);
  return isnan(d) ? 0 : (int64_t)d;
}

/* A JSON array of strings joined by commas into out. */
static void join_array(const cJSON *a, char *out, size_t len)
{
  size_t used = 0;
  const cJSON *it;
  out[0] = '\0';
  cJSON_ArrayForEach(it, a) {
    int n = snprintf(out + used, len - used, "%s%s", used ? "," : "", cJSON_GetStringValue(it));
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

/* An object stored as text: "" for an empty object, else compact JSON. Caller frees. */
static char *obj_text(const cJSON *o)
{
  return o && o->child ? cJSON_PrintUnformatted(o) : strdup("");
}

/* A text column holding a JSON object ("" = {}); something else is kept as a string. */
static cJSON *obj_from_text(const char *s)
{
  cJSON *o = *s ? cJSON_Parse(s) : cJSON_CreateObject();
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    o = cJSON_CreateString(s);
  }
  return o;
}

/* A value for messages: strings bare, the rest as compact JSON. */
static void value_text(const cJSON *v, char *out, size_t len)
{
  if (!v) {
    snprintf(out, len, "(none)");
    return;
  }
  if (cJSON_IsString(v)) {
    snprintf(out, len, "%s", *v->valuestring ? v->valuestring : "\"\"");
    return;
  }
  char *t = cJSON_PrintUnformatted(v);
  snprintf(out, len, "%s", t ? t : "?");
  free(t);
}

static const char *type_name(const cJSON *v)
{
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "something else";
}

#define role_name rule_role_name
#define channel_status rule_channel_status
#define token_status rule_token_status
#define pool_status rule_channel_status
/* ---- reading the database (export, and what apply compares against) ----------------------------- */

/* How one column of a reader's SELECT becomes a field of the canonical object. */
enum col_as {
  COL_END,                      /* ends a column list */
  COL_ID,                       /* the item's database id, not a field */
  COL_TEXT,
  COL_REAL,
  COL_REAL_OR_NULL,             /* a number, null when the column is NULL */
  COL_INT,
  COL_BOOL,                     /* true unless 0 */
  COL_ROLE,                     /* users.role as role_name() */
  COL_STATUS,                   /* a status number as its word in words[] (else "enabled") */
  COL_LIST,                     /* a comma list as an array of strings */
  COL_OBJECT,                   /* a JSON object stored as text (obj_from_text) */
};

struct col {
  const char *field;            /* key in the canonical object (COL_ID: none) */
  enum col_as as;
  const char *const *words;     /* COL_STATUS: the word of each value 1..nwords-1 */
  int64_t nwords;
};

#define STATUS(field, words, n) { field, COL_STATUS, words, n }

#define user_status rule_user_status

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
      cJSON_AddStringToObject(o, c->field, role_name(db_col_int64(st, i)));
      break;
    case COL_STATUS:
      v = db_col_int64(st, i);
      cJSON_AddStringToObject(o, c->field, rule_status_name(c->words, (int)c->nwords, v));
      break;
    case COL_LIST:
      cJSON_AddItemToObject(o, c->field, gw_csv_array(db_col_text(st, i)));
      break;
    case COL_OBJECT:
      cJSON_AddItemToObject(o, c->field, obj_from_text(db_col_text(st, i)));
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
static int read_kind(struct gwctl *g, enum kind k, struct set *s)
{
  const struct reader *rd = &readers[k];
  char what[64];
  snprintf(what, sizeof what, "cannot read %s", kinds[k].section);
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
    set_add(s, key, rd->cols[0].as == COL_ID ? db_col_int64(st, 0) : 0, o, -1);
  }
  db_finalize(st);
  if (r == DB_DONE && k == K_CHANNEL)
    return read_pools(g, s);
  return r == DB_DONE ? 0 : st ? gw_dberr(g, what) : GW_FAIL;
}

/* Drops the internal fields ("\x01...") of a canonical object. */
static void strip_internal(cJSON *o)
{
  cJSON *it = o->child;
  while (it) {
    cJSON *next = it->next;
    if (it->string && it->string[0] == '\x01')
      cJSON_Delete(cJSON_DetachItemViaPointer(o, it));
    it = next;
  }
}

/* ---- export ------------------------------------------------------------------------------------- */

/* RELAY_CHANNEL_KEY_<NAME>: upper case, anything but [A-Z0-9] as '_'. */
static void env_name(const char *name, char *out, size_t len)
{
  size_t n = (size_t)snprintf(out, len, "RELAY_CHANNEL_KEY_");
  if (n >= len)
    return;
  for (const char *p = name; *p && n + 1 < len; p++) {
    char c = *p;
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      c = '_';
    out[n++] = c;
  }
  out[n] = '\0';
}

/* The reference export writes for the key named name: {"file": "DIR/name"}, or {"env": ...}. */
static cJSON *key_ref(const char *dir, const char *name)
{
  char ref[URL_MAX];
  cJSON *r = cJSON_CreateObject();
  if (dir) {
    snprintf(ref, sizeof ref, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    cJSON_AddStringToObject(r, "file", ref);
  } else {
    env_name(name, ref, sizeof ref);
    cJSON_AddStringToObject(r, "env", ref);
  }
  return r;
}

static int parse_kinds(struct gwctl *g, const char *s, int *want)
{
  char buf[256];
  int n = 0;
  int rc = gw_norm_list(g, "--kinds", s, 32, buf, sizeof buf, &n);
  if (rc != 0)
    return rc;
  if (n == 0)
    return gw_usage(g, "--kinds needs at least one of: channels, groups, prices, users, tokens, "
                    "options, fallbacks");
  for (char *p = buf; *p;) {
    size_t len = strcspn(p, ",");
    int found = 0;
    for (int k = 0; k < K_N; k++)
      if (strlen(kinds[k].section) == len && strncmp(kinds[k].section, p, len) == 0)
        want[k] = found = 1;
    if (!found)
      return gw_usage(g, "--kinds: unknown kind '%.*s' (known: channels, groups, prices, users, "
                      "tokens, options, fallbacks)", (int)len, p);
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

int cmd_export(struct gwctl *g, int argc, char **argv)
{
  const char *kinds_s = NULL, *refs = "none";
  const struct gw_opt opts[] = { { "kinds", &kinds_s, NULL }, { "key-refs", &refs, NULL }, { 0 } };
  int want[K_N] = { 0 };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0)
    return rc;
  if (kinds_s)
    rc = parse_kinds(g, kinds_s, want);
  else
    for (int k = 0; k < K_N; k++)
      want[k] = 1;
  const char *dir = NULL;
  if (rc == 0 && strncmp(refs, "file:", 5) == 0 && refs[5])
    dir = refs + 5;
  else if (rc == 0 && strcmp(refs, "none") != 0 && strcmp(refs, "env") != 0)
    rc = gw_usage(g, "--key-refs must be none, env or file:DIR, not '%s'", refs);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;

  cJSON *doc = cJSON_CreateObject();
  cJSON_AddNumberToObject(doc, "version", DOC_VERSION);
  for (int k = 0; rc == 0 && k < K_N; k++) {
    if (!want[k])
      continue;
    struct set s = { 0 };
    rc = read_kind(g, k, &s);
    cJSON *out = k == K_OPTION ? cJSON_CreateObject() : cJSON_CreateArray();
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
      cJSON *o = s.v[i].obj;
      if (k == K_OPTION) {
        cJSON_AddStringToObject(out, str_of(o, "key"), str_of(o, "value"));
        continue;
      }
      cJSON *pool = k == K_CHANNEL ? cJSON_GetObjectItemCaseSensitive(o, "keys") : NULL;
      if (pool && strcmp(refs, "none") != 0) {
        /* a key pool: each key its own reference, NAME.N / ..._N by its index */
        cJSON *e;
        cJSON_ArrayForEach(e, pool) {
          char name[GW_NAME_MAX + 24];
          snprintf(name, sizeof name, "%s.%" PRId64, s.v[i].key, int_of(e, "index"));
          cJSON_AddItemToObject(e, "key", key_ref(dir, name));
        }
      } else if (k == K_CHANNEL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "\x01has_key"))
                 && strcmp(refs, "none") != 0) {
        cJSON_AddItemToObject(o, "key", key_ref(dir, s.v[i].key));
      }
      strip_internal(o);
      cJSON_AddItemToArray(out, o);
      s.v[i].obj = NULL;
    }
    cJSON_AddItemToObject(doc, kinds[k].section, out);
    set_free(&s);
  }
  if (rc == 0) {
    char *text = cJSON_Print(doc);
    if (!text)
      rc = gw_err(GW_FAIL, "out of memory");
    else
      printf("%s\n", text);
    free(text);
  }
  cJSON_Delete(doc);
  return rc;
}

/* ---- checking the file ------------------------------------------------------------------------ */

/* Reports one error about the document itself (not about one entry). */
__attribute__((format(printf, 3, 4)))
static void aerr(struct apply *a, const char *field, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, _(fmt), ap);   /* i18n.h: aerr is an xgettext keyword */
  va_end(ap);
  a->errors++;
  if (field)
    fprintf(stderr, _("gwctl: field \"%s\": %s\n"), field, msg);
  else
    fprintf(stderr, "gwctl: %s\n", msg);
}

/* The label of an entry for messages: "channels[3] \"openai-main\"". Errors go through check_ctx. */
struct check_ctx {
  struct apply *a;
  int kind, idx;
  char label[160];
};

__attribute__((format(printf, 3, 4)))
static void cerr(struct check_ctx *c, const char *field, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, _(fmt), ap);   /* i18n.h: cerr is an xgettext keyword */
  va_end(ap);
  c->a->errors++;
  if (field)
    fprintf(stderr, _("gwctl: %s: field \"%s\": %s\n"), c->label, field, msg);
  else
    fprintf(stderr, "gwctl: %s: %s\n", c->label, msg);
}

static void ctx_init(struct check_ctx *c, struct apply *a, int kind, int idx, const cJSON *in)
{
  c->a = a;
  c->kind = kind;
  c->idx = idx;
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in,
                                                                           kinds[kind].id_field));
  const char *user = kind == K_TOKEN ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in,
                                                                                    "user")) : NULL;
  if (name && user)
    snprintf(c->label, sizeof c->label, "%s[%d] \"%.64s/%.64s\"", kinds[kind].section, idx, user,
             name);
  else if (name)
    snprintf(c->label, sizeof c->label, "%s[%d] \"%.64s\"", kinds[kind].section, idx, name);
  else
    snprintf(c->label, sizeof c->label, "%s[%d]", kinds[kind].section, idx);
}

/* Refuses fields not in known (NULL-terminated). */
static void check_fields(struct check_ctx *c, const cJSON *in, const char *const *known)
{
  const cJSON *it;
  cJSON_ArrayForEach(it, in) {
    const char *const *k = known;
    while (*k && strcmp(*k, it->string) != 0)
      k++;
    if (!*k) {
      char list[512] = "";
      for (k = known; *k; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", *k);
      cerr(c, it->string, "unknown field (known: %s)", list);
    }
  }
}

/* A name field: required when def is NULL. Returns the value or NULL after an error. */
static const char *get_name(struct check_ctx *c, const cJSON *in, const char *field, size_t max,
                            const char *def, int allow_empty)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!v) {
    if (!def)
      cerr(c, field, "is required");
    return def;
  }
  if (!cJSON_IsString(v)) {
    cerr(c, field, "must be a string, not %s", type_name(v));
    return NULL;
  }
  if (allow_empty && !*v->valuestring)
    return v->valuestring;
  const char *why = gw_name_problem(v->valuestring, max);
  if (why) {
    cerr(c, field, "'%.40s' %s", v->valuestring, why);
    return NULL;
  }
  if (max == GW_NAME_MAX && gw_is_id(v->valuestring)) {
    cerr(c, field, "'%s' is all digits, which reads as an id", v->valuestring);
    return NULL;
  }
  return v->valuestring;
}

static int get_int(struct check_ctx *c, const cJSON *in, const char *field, int64_t min,
                   int64_t max, int64_t def, int64_t *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  *out = def;
  if (!v)
    return 0;
  double d = cJSON_GetNumberValue(v);
  if (!cJSON_IsNumber(v) || d != floor(d) || d < (double)min) {
    cerr(c, field, "must be an integer >= %" PRId64, min);
    return -1;
  }
  if (d > (double)max) {
    cerr(c, field, "must be an integer <= %" PRId64, max);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

/* A quota: a whole number of quota units, or a string of money as people say it (common/quota.h:
 * "500000", "10usd", "$10", "10 USD"). */
static int get_quota(struct check_ctx *c, const cJSON *in, const char *field, int64_t min,
                     int64_t *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!cJSON_IsString(v))
    return get_int(c, in, field, min, GW_QUOTA_MAX, 0, out);
  char why[200];
  if (quota_parse(v->valuestring, min, GW_QUOTA_MAX, out, why, sizeof why) != 0) {
    cerr(c, field, "'%.40s' %s", v->valuestring, why);
    return -1;
  }
  return 0;
}

static int get_double(struct check_ctx *c, const cJSON *in, const char *field, double max,
                      double def, double *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  *out = def;
  if (!v)
    return 0;
  double d = cJSON_GetNumberValue(v);
  if (!cJSON_IsNumber(v) || !isfinite(d) || d < 0 || d > max) {
    cerr(c, field, "must be a number from 0 to %g", max);
    return -1;
  }
  *out = d;
  return 0;
}

static int get_bool(struct check_ctx *c, const cJSON *in, const char *field, int def, int *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  *out = def;
  if (!v)
    return 0;
  if (!cJSON_IsBool(v)) {
    cerr(c, field, "must be true or false, not %s", type_name(v));
    return -1;
  }
  *out = cJSON_IsTrue(v);
  return 0;
}

/* One of words (NULL-terminated). */
static const char *get_enum(struct check_ctx *c, const cJSON *in, const char *field,
                            const char *const *words, const char *def)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!v)
    return def;
  for (const char *const *w = words; cJSON_IsString(v) && *w; w++)
    if (**w && strcmp(*w, v->valuestring) == 0)
      return *w;
  char list[256] = "";
  for (const char *const *w = words; *w; w++)
    if (**w)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", *w);
  if (cJSON_IsString(v))
    cerr(c, field, "must be one of %s, not '%.40s'", list, v->valuestring);
  else
    cerr(c, field, "must be one of %s, not %s", list, type_name(v));
  return NULL;
}

/* A list of names: a JSON array of strings (or one comma-separated string). Returns a new canonical
 * array, or NULL after an error. */
static cJSON *get_list(struct check_ctx *c, const cJSON *in, const char *field, size_t max,
                       const char *def, int need_one)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  cJSON *out = cJSON_CreateArray();
  char item[512];
  if (!v) {
    if (!def) {
      cerr(c, field, "is required");
      cJSON_Delete(out);
      return NULL;
    }
    cJSON_Delete(out);
    return gw_csv_array(def);
  }
  int bad = 0;
  if (cJSON_IsString(v)) {
    cJSON *split = gw_csv_array(v->valuestring);
    const cJSON *it;
    cJSON_ArrayForEach(it, split) {
      const char *s = it->valuestring, *e = s + strlen(s);
      while (*s == ' ' || *s == '\t')
        s++;
      while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      if (e > s) {
        snprintf(item, sizeof item, "%.*s", (int)(e - s), s);
        cJSON_AddItemToArray(out, cJSON_CreateString(item));
      }
    }
    cJSON_Delete(split);
  } else if (cJSON_IsArray(v)) {
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, v) {
      if (!cJSON_IsString(it)) {
        cerr(c, field, "item %d must be a string, not %s", i, type_name(it));
        bad = 1;
      } else {
        cJSON_AddItemToArray(out, cJSON_CreateString(it->valuestring));
      }
      i++;
    }
  } else {
    cerr(c, field, "must be an array of strings, not %s", type_name(v));
    cJSON_Delete(out);
    return NULL;
  }
  const cJSON *it, *prev;
  size_t total = 0;
  cJSON_ArrayForEach(it, out) {
    const char *why = gw_name_problem(it->valuestring, max);
    if (why && !bad) {
      cerr(c, field, "'%.40s' %s", it->valuestring, why);
      bad = 1;
    }
    total += strlen(it->valuestring) + 1;
    for (prev = out->child; !bad && prev != it; prev = prev->next)
      if (strcmp(prev->valuestring, it->valuestring) == 0) {
        cerr(c, field, "names '%s' twice", it->valuestring);
        bad = 1;
      }
  }
  if (!bad && total > GW_LIST_MAX) {
    cerr(c, field, "is longer than %d bytes once joined", GW_LIST_MAX);
    bad = 1;
  }
  if (!bad && need_one && !out->child) {
    cerr(c, field, "needs at least one item");
    bad = 1;
  }
  if (bad) {
    cJSON_Delete(out);
    return NULL;
  }
  return out;
}

/* A JSON object field (model_mapping, other); string values only when strings. Returns a copy. */
static cJSON *get_object(struct check_ctx *c, const cJSON *in, const char *field, int strings)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!v)
    return cJSON_CreateObject();
  if (cJSON_IsString(v) && !*v->valuestring)
    return cJSON_CreateObject();
  if (!cJSON_IsObject(v)) {
    cerr(c, field, "must be a JSON object, not %s", type_name(v));
    return NULL;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, v) {
    if (strings && (!*it->string || !cJSON_IsString(it) || !*it->valuestring)) {
      cerr(c, field, "'%.40s' must map a model name to a non-empty string (the upstream model)",
           it->string);
      return NULL;
    }
  }
  return cJSON_Duplicate(v, 1);
}

/* Reads a secret reference {"file": PATH} or {"env": NAME} into a new string; NULL after an error. */
static char *resolve_secret(struct check_ctx *c, const cJSON *ref, const char *field)
{
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(ref, "file");
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(ref, "env");
  if (!cJSON_IsObject(ref) || cJSON_GetArraySize(ref) != 1
      || !(cJSON_IsString(file) || cJSON_IsString(env))) {
    cerr(c, field, "must be a reference {\"file\": \"/path\"} or {\"env\": \"NAME\"}%s",
         cJSON_IsString(ref) ? " (a secret is never written into the file itself)" : "");
    return NULL;
  }
  char *out = calloc(1, SECRET_MAX + 2);
  if (!out)
    return NULL;
  if (file) {
    FILE *f = fopen(file->valuestring, "r");
    if (!f) {
      cerr(c, field, "cannot read %s: %s", file->valuestring, strerror(errno));
      free(out);
      return NULL;
    }
    size_t n = fread(out, 1, SECRET_MAX + 1, f);
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr || n > SECRET_MAX) {
      cerr(c, field, ioerr ? "cannot read %s" : "%s is longer than 8192 bytes", file->valuestring);
      OPENSSL_cleanse(out, SECRET_MAX + 2);
      free(out);
      return NULL;
    }
    out[n] = '\0';
  } else {
    const char *e = getenv(env->valuestring);
    if (!e) {
      cerr(c, field, "environment variable %s is not set", env->valuestring);
      free(out);
      return NULL;
    }
    if (strlen(e) > SECRET_MAX) {
      cerr(c, field, "environment variable %s is longer than 8192 bytes", env->valuestring);
      free(out);
      return NULL;
    }
    snprintf(out, SECRET_MAX + 1, "%s", e);
  }
  /* a JSON object (a vertex channel's service-account key) may span lines: stored compact */
  if (out[strspn(out, " \t\r\n")] == '{') {
    cJSON *j = cJSON_Parse(out);
    char *compact = cJSON_IsObject(j) ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (compact && strlen(compact) <= SECRET_MAX)
      snprintf(out, SECRET_MAX + 1, "%s", compact);
    if (compact)
      OPENSSL_cleanse(compact, strlen(compact));
    cJSON_free(compact);
  }
  /* one line; blanks around it do not count */
  size_t n = strlen(out);
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '
                   || out[n - 1] == '\t'))
    out[--n] = '\0';
  size_t lead = strspn(out, " \t");
  memmove(out, out + lead, n - lead + 1);
  const char *where = file ? file->valuestring : env->valuestring;
  if (!*out) {
    cerr(c, field, "%s is empty", where);
    free(out);
    return NULL;
  }
  for (const unsigned char *p = (const unsigned char *)out; *p; p++)
    if (*p < 0x20 || *p == 0x7f) {
      cerr(c, field, "%s holds more than one line or a control character", where);
      OPENSSL_cleanse(out, SECRET_MAX + 2);
      free(out);
      return NULL;
    }
  return out;
}

static const char *const group_fields[] = { "name", "ratio", "selectable", NULL };
static const char *const price_fields[] = { "model", "model_ratio", "completion_ratio",
                                            "cache_ratio", "fixed_price", "unit",
                                            "cache_write_ratio", "cache_write_1h_ratio",
                                            "max_output_tokens", "audio_ratio",
                                            "audio_completion_ratio", "tier_above", "tier_model_ratio",
                                            "tier_completion_ratio", "tier_cache_ratio", NULL };
#define MAX_OUTPUT_MAX RULE_MAX_OUTPUT_MAX
#define TIER_ABOVE_MAX RULE_TIER_ABOVE_MAX
#define LIMIT_MAX RULE_LIMIT_MAX
#define CONCURRENCY_MAX RULE_CONCURRENCY_MAX
#define CHAIN_MODELS_MAX RULE_CHAIN_MAX
static const char *const user_fields[] = { "name", "role", "status", "group", "quota", NULL };
static const char *const channel_fields[] = { "name", "type", "status", "base_url", "models",
                                              "group", "model_mapping", "priority", "weight",
                                              "tag", "other", "key_mode", "rpm", "tpm",
                                              "max_concurrency", "key", "keys", NULL };
static const char *const pool_fields[] = { "index", "status", "rpm", "tpm", "max_concurrency", "key", NULL };
static const char *const fallback_fields[] = { "model", "group", "token", "chain", "on", NULL };
static const char *const token_fields[] = { "user", "name", "status", "unlimited", "quota",
                                            "expires", "models", "ips", "group", "key",
                                            "key_file", "response_cache", NULL };

static cJSON *check_group(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  check_fields(c, in, group_fields);
  const char *name = get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  double ratio;
  int sel;
  int bad = get_double(c, in, "ratio", RATIO_MAX, 1, &ratio) | get_bool(c, in, "selectable", 0, &sel);
  if (!name || bad)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddNumberToObject(o, "ratio", ratio);
  cJSON_AddBoolToObject(o, "selectable", sel);
  return o;
}

static cJSON *check_price(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  check_fields(c, in, price_fields);
  const char *model = get_name(c, in, "model", MODEL_NAME_MAX, NULL, 0);
  double mr, cr, kr, fp = 0;
  int bad = get_double(c, in, "model_ratio", RATIO_MAX, 0, &mr)
            | get_double(c, in, "completion_ratio", RATIO_MAX, 1, &cr)
            | get_double(c, in, "cache_ratio", RATIO_MAX, 1, &kr);
  const cJSON *fv = cJSON_GetObjectItemCaseSensitive(in, "fixed_price");
  int fixed = fv && !cJSON_IsNull(fv);
  if (fixed)
    bad |= get_double(c, in, "fixed_price", PRICE_MAX, 0, &fp);
  /* what one fixed_price pays for (doc/endpoints.md); ratio prices ignore it */
  const char *unit = get_enum(c, in, "unit", rule_price_units, "call");
  if (!unit)
    bad = 1;
  /* cache write ratios and max_output_tokens: null or absent = relayd's default / unknown */
  double cw = 0, cw1h = 0;
  int64_t max_out = 0;
  const cJSON *cwv = cJSON_GetObjectItemCaseSensitive(in, "cache_write_ratio");
  const cJSON *cw1v = cJSON_GetObjectItemCaseSensitive(in, "cache_write_1h_ratio");
  const cJSON *mov = cJSON_GetObjectItemCaseSensitive(in, "max_output_tokens");
  int has_cw = cwv && !cJSON_IsNull(cwv), has_cw1h = cw1v && !cJSON_IsNull(cw1v);
  int has_mo = mov && !cJSON_IsNull(mov);
  if (has_cw)
    bad |= get_double(c, in, "cache_write_ratio", RATIO_MAX, 0, &cw);
  if (has_cw1h)
    bad |= get_double(c, in, "cache_write_1h_ratio", RATIO_MAX, 0, &cw1h);
  if (has_mo)
    bad |= get_int(c, in, "max_output_tokens", 0, MAX_OUTPUT_MAX, 0, &max_out);
  /* audio ratios (migration 013): null or absent = priced as text */
  double ar = 0, acr = 0;
  const cJSON *arv = cJSON_GetObjectItemCaseSensitive(in, "audio_ratio");
  const cJSON *acrv = cJSON_GetObjectItemCaseSensitive(in, "audio_completion_ratio");
  int has_ar = arv && !cJSON_IsNull(arv), has_acr = acrv && !cJSON_IsNull(acrv);
  if (has_ar)
    bad |= get_double(c, in, "audio_ratio", RATIO_MAX, 0, &ar);
  if (has_acr)
    bad |= get_double(c, in, "audio_completion_ratio", RATIO_MAX, 0, &acr);
  /* the long-context tier (migration 014, gwctl price set --tier): tier_above null = none */
  static const char *const tier_f[] = { "tier_model_ratio", "tier_completion_ratio", "tier_cache_ratio" };
  const cJSON *tav = cJSON_GetObjectItemCaseSensitive(in, "tier_above");
  int has_tier = tav && !cJSON_IsNull(tav), has_tr[3];
  int64_t tier_above = 0;
  double tr[3] = { 0, 0, 0 };
  if (has_tier)
    bad |= get_int(c, in, "tier_above", 1, TIER_ABOVE_MAX, 0, &tier_above);
  for (int k = 0; k < 3; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, tier_f[k]);
    has_tr[k] = v && !cJSON_IsNull(v);
    if (has_tr[k] && !has_tier) {
      cerr(c, tier_f[k], "goes with tier_above (the prompt tokens above which the tier applies)");
      bad = 1;
    } else if (has_tr[k]) {
      bad |= get_double(c, in, tier_f[k], RATIO_MAX, 0, &tr[k]);
    }
  }
  /* the fields together: common/rules.h, as gwctl price set and import */
  struct price rp = { .has_ratio = cJSON_GetObjectItemCaseSensitive(in, "model_ratio") != NULL,
                      .has_fixed = fixed, .has_tier = has_tier, .tier_above = has_tier ? TIER_ABOVE_MAX : 0,
                      .tier_ratio = { has_tr[0] ? tr[0] : -1 } };
  unsigned rbad = rule_price(&rp);
  if (rbad & RULE_PRICE_NONE)
    cerr(c, "model_ratio", "is required unless fixed_price is given");
  if (rbad & RULE_PRICE_TIER_RATIO)
    cerr(c, "tier_model_ratio", "is required with tier_above (the input price above the threshold)");
  if (rbad & RULE_PRICE_TIER_FIXED)
    cerr(c, "tier_above", "a tier goes with model_ratio, not fixed_price");
  bad |= rbad != 0;
  if (!model || bad)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", model);
  cJSON_AddNumberToObject(o, "model_ratio", mr);
  cJSON_AddNumberToObject(o, "completion_ratio", cr);
  cJSON_AddNumberToObject(o, "cache_ratio", kr);
  if (fixed)
    cJSON_AddNumberToObject(o, "fixed_price", fp);
  else
    cJSON_AddNullToObject(o, "fixed_price");
  cJSON_AddStringToObject(o, "unit", unit);
  if (has_cw)
    cJSON_AddNumberToObject(o, "cache_write_ratio", cw);
  else
    cJSON_AddNullToObject(o, "cache_write_ratio");
  if (has_cw1h)
    cJSON_AddNumberToObject(o, "cache_write_1h_ratio", cw1h);
  else
    cJSON_AddNullToObject(o, "cache_write_1h_ratio");
  if (has_mo && max_out > 0)      /* 0 = unknown, stored as NULL */
    cJSON_AddNumberToObject(o, "max_output_tokens", (double)max_out);
  else
    cJSON_AddNullToObject(o, "max_output_tokens");
  if (has_ar)
    cJSON_AddNumberToObject(o, "audio_ratio", ar);
  else
    cJSON_AddNullToObject(o, "audio_ratio");
  if (has_acr)
    cJSON_AddNumberToObject(o, "audio_completion_ratio", acr);
  else
    cJSON_AddNullToObject(o, "audio_completion_ratio");
  if (has_tier)
    cJSON_AddNumberToObject(o, "tier_above", (double)tier_above);
  else
    cJSON_AddNullToObject(o, "tier_above");
  for (int k = 0; k < 3; k++)
    if (has_tr[k])
      cJSON_AddNumberToObject(o, tier_f[k], tr[k]);
    else
      cJSON_AddNullToObject(o, tier_f[k]);
  return o;
}

static cJSON *check_user(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  static const char *const roles[] = { "common", "admin", "root", "guest", NULL };
  static const char *const statuses[] = { "enabled", "disabled", NULL };
  check_fields(c, in, user_fields);
  const char *name = get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  const char *role = get_enum(c, in, "role", roles, "common");
  const char *status = get_enum(c, in, "status", statuses, "enabled");
  const char *group = get_name(c, in, "group", GW_NAME_MAX, "default", 0);
  int64_t quota;
  int bad = get_quota(c, in, "quota", 0, &quota);
  if (!name || !role || !status || !group || bad)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddStringToObject(o, "role", role);
  cJSON_AddStringToObject(o, "status", status);
  cJSON_AddStringToObject(o, "group", group);
  cJSON_AddNumberToObject(o, "quota", (double)quota);
  return o;
}

static const char *check_url(struct check_ctx *c, const cJSON *in, char *out, size_t outlen)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "base_url");
  if (!v) {
    cerr(c, "base_url", "is required");
    return NULL;
  }
  const char *url = cJSON_GetStringValue(v);
  switch (url ? rule_base_url(url, out, outlen) : RULE_URL_SCHEME) {
  case RULE_URL_SCHEME:
    cerr(c, "base_url", "must start with http:// or https://");
    return NULL;
  case RULE_URL_NO_HOST:
    cerr(c, "base_url", "has no host");
    return NULL;
  case RULE_URL_TOO_LONG:
    cerr(c, "base_url", "is too long");
    return NULL;
  case RULE_URL_BLANKS:
    cerr(c, "base_url", "may not contain blanks or control characters");
    return NULL;
  default:
    break;
  }
  return out;
}

/* A channel's "keys": its key pool, one object a key {"index", "status", "rpm", "tpm",
 * "max_concurrency", "key": reference}, matched by index (gwctl channel key list's N; absent: the
 * one before plus 1). Returns the canonical array sorted by index (without the references, which go
 * to it->pool in the same order), or NULL after an error. */
static cJSON *check_pool(struct check_ctx *c, const cJSON *in, struct item *it)
{
  static const char *const statuses[] = { "enabled", "disabled", "auto-disabled", NULL };
  if (!cJSON_IsArray(in)) {
    cerr(c, "keys", "must be an array of objects, not %s", type_name(in));
    return NULL;
  }
  if (!in->child) {
    cerr(c, "keys", "needs at least one key");
    return NULL;
  }
  int n = cJSON_GetArraySize(in);
  if (n > POOL_KEYS_MAX) {
    cerr(c, "keys", "holds more than %d keys", POOL_KEYS_MAX);
    return NULL;
  }
  cJSON *out = cJSON_CreateArray();
  char **refs = calloc((size_t)n, sizeof *refs);
  int bad = !refs, i = 0;
  int64_t prev = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, in) {
    char field[32];
    snprintf(field, sizeof field, "keys[%d]", i);
    if (!cJSON_IsObject(e)) {
      cerr(c, field, "must be an object, not %s", type_name(e));
      bad = 1;
      i++;
      continue;
    }
    /* the entry's own fields, named keys[N].FIELD in messages */
    struct check_ctx sub = *c;
    snprintf(sub.label + strlen(sub.label), sizeof sub.label - strlen(sub.label), ": %s", field);
    check_fields(&sub, e, pool_fields);
    int64_t idx, rpm, tpm, maxc;
    int b = get_int(&sub, e, "index", 1, 1000000000, prev + 1, &idx) | get_int(&sub, e, "rpm", 0, LIMIT_MAX, 0, &rpm)
            | get_int(&sub, e, "tpm", 0, LIMIT_MAX, 0, &tpm)
            | get_int(&sub, e, "max_concurrency", 0, CONCURRENCY_MAX, 0, &maxc);
    const char *status = get_enum(&sub, e, "status", statuses, "enabled");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(e, "key");
    char *secret = ref ? resolve_secret(&sub, ref, "key") : NULL;
    const cJSON *o;
    cJSON_ArrayForEach(o, out)
      if (!b && int_of(o, "index") == idx) {
        cerr(&sub, "index", "%" PRId64 " is listed twice", idx);
        b = 1;
      }
    if (b || !status || (ref && !secret)) {
      bad = 1;
      if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
      }
      i++;
      continue;
    }
    prev = idx;
    cJSON *k = cJSON_CreateObject();
    cJSON_AddNumberToObject(k, "index", (double)idx);
    cJSON_AddStringToObject(k, "status", status);
    cJSON_AddNumberToObject(k, "rpm", (double)rpm);
    cJSON_AddNumberToObject(k, "tpm", (double)tpm);
    cJSON_AddNumberToObject(k, "max_concurrency", (double)maxc);
    /* sorted by index (insertion), its reference at the same position */
    int pos = 0;
    cJSON *at = out->child;
    while (at && int_of(at, "index") < idx) {
      at = at->next;
      pos++;
    }
    int have = cJSON_GetArraySize(out);
    memmove(refs + pos + 1, refs + pos, (size_t)(have - pos) * sizeof *refs);
    refs[pos] = secret;
    if (at)
      cJSON_InsertItemInArray(out, pos, k);
    else
      cJSON_AddItemToArray(out, k);
    i++;
  }
  if (bad) {
    pool_free(refs, (size_t)n);
    cJSON_Delete(out);
    return NULL;
  }
  it->pool = refs;
  it->npool = (size_t)cJSON_GetArraySize(out);
  return out;
}

static cJSON *check_channel(struct check_ctx *c, const cJSON *in, struct item *it)
{
  static const char *const statuses[] = { "enabled", "disabled", "auto-disabled", NULL };
  char url[URL_MAX];
  check_fields(c, in, channel_fields);
  const char *name = get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  const char *type = get_name(c, in, "type", GW_NAME_MAX, NULL, 0);
  int bad = 0;
  if (type && !provider_find(type)) {
    cerr(c, "type", "unknown channel type '%s' (supported: %s)", type, provider_type_list());
    bad = 1;
  }
  const char *status = get_enum(c, in, "status", statuses, "enabled");
  const char *base = check_url(c, in, url, sizeof url);
  cJSON *models = get_list(c, in, "models", MODEL_NAME_MAX, NULL, 1);
  cJSON *groups = get_list(c, in, "group", GW_NAME_MAX, "default", 1);
  cJSON *map = get_object(c, in, "model_mapping", 1);
  cJSON *other = get_object(c, in, "other", 0);
  int64_t prio, weight;
  bad |= get_int(c, in, "priority", -1000000000, 1000000000, 0, &prio);
  bad |= get_int(c, in, "weight", 0, 1000000, 0, &weight);
  const char *tag = get_name(c, in, "tag", GW_NAME_MAX, "", 1);
  /* the key pool's choice and the limits (as gwctl channel edit --key-mode, --rpm, --tpm,
   * --max-concurrency) */
  const char *mode = get_enum(c, in, "key_mode", rule_key_modes, "random");
  int64_t rpm, tpm, maxc;
  bad |= get_int(c, in, "rpm", 0, LIMIT_MAX, 0, &rpm) | get_int(c, in, "tpm", 0, LIMIT_MAX, 0, &tpm)
         | get_int(c, in, "max_concurrency", 0, CONCURRENCY_MAX, 0, &maxc);
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(in, "key");
  if (key && !(it->secret = resolve_secret(c, key, "key")))
    bad = 1;
  const cJSON *pin = cJSON_GetObjectItemCaseSensitive(in, "keys");
  cJSON *pool = pin ? check_pool(c, pin, it) : NULL;
  if (pin && !pool)
    bad = 1;
  if (pin && key) {
    cerr(c, "keys", "a key pool's keys go in \"keys\", not with \"key\"");
    bad = 1;
  }
  if (type && pin && provider_find(type) && provider_find(type)->auth == AUTH_GOOGLE_SA) {
    cerr(c, "keys", "a vertex channel has one service-account key (\"key\"), not a pool");
    bad = 1;
  }
  if (type && it->secret && provider_find(type) && provider_find(type)->auth == AUTH_GOOGLE_SA) {
    struct gcp_sa sa;
    char why[300];
    if (gcp_sa_parse(it->secret, &sa, why, sizeof why) < 0) {
      cerr(c, "key", "a vertex channel's key is a Google Cloud service-account key (JSON): %s", why);
      bad = 1;
    }
    gcp_sa_free(&sa);
  }
  if (!name || !type || !status || !base || !models || !groups || !map || !other || !tag || !mode
      || bad) {
    cJSON_Delete(models);
    cJSON_Delete(groups);
    cJSON_Delete(map);
    cJSON_Delete(other);
    cJSON_Delete(pool);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddStringToObject(o, "type", type);
  cJSON_AddStringToObject(o, "status", status);
  cJSON_AddStringToObject(o, "base_url", base);
  cJSON_AddItemToObject(o, "models", models);
  cJSON_AddItemToObject(o, "group", groups);
  cJSON_AddItemToObject(o, "model_mapping", map);
  cJSON_AddNumberToObject(o, "priority", (double)prio);
  cJSON_AddNumberToObject(o, "weight", (double)weight);
  cJSON_AddStringToObject(o, "tag", tag);
  cJSON_AddItemToObject(o, "other", other);
  cJSON_AddStringToObject(o, "key_mode", mode);
  cJSON_AddNumberToObject(o, "rpm", (double)rpm);
  cJSON_AddNumberToObject(o, "tpm", (double)tpm);
  cJSON_AddNumberToObject(o, "max_concurrency", (double)maxc);
  if (pool)
    cJSON_AddItemToObject(o, "keys", pool);
  return o;
}

static int check_ips(struct check_ctx *c, const cJSON *ips)
{
  const cJSON *it;
  cJSON_ArrayForEach(it, ips) {
    char addr[80];
    int max = 0;
    switch (rule_ip_item(it->valuestring, addr, sizeof addr, &max)) {
    case RULE_IP_ADDRESS:
      cerr(c, "ips", "'%s' is not an IPv4 or IPv6 address", addr);
      return -1;
    case RULE_IP_PREFIX:
      cerr(c, "ips", "'%s' has a bad prefix length (0 to %d after '/')", it->valuestring, max);
      return -1;
    default:
      break;
    }
  }
  return 0;
}

static cJSON *check_token(struct check_ctx *c, const cJSON *in, struct item *it)
{
  static const char *const statuses[] = { "enabled", "disabled", "expired", "exhausted", NULL };
  check_fields(c, in, token_fields);
  const char *user = get_name(c, in, "user", GW_NAME_MAX, NULL, 0);
  const char *name = get_name(c, in, "name", GW_NAME_MAX, NULL, 0);
  const char *status = get_enum(c, in, "status", statuses, "enabled");
  int unlimited = 0, bad = get_bool(c, in, "unlimited", 0, &unlimited), rcache = 0;
  bad |= get_bool(c, in, "response_cache", 0, &rcache);
  int64_t quota = 0, expires = -1;
  bad |= get_quota(c, in, "quota", 0, &quota);
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(in, "expires");
  char ewhy[160];
  if (cJSON_IsString(ev) && strcmp(ev->valuestring, "never") == 0) {
    expires = -1;
  } else if (cJSON_IsString(ev)) {
    /* a date (common/when.h's ISO 8601 forms); a span such as "30d" would move on every apply */
    const char *v = ev->valuestring;
    int iso = strlen(v) >= 10 && isdigit((unsigned char)v[0]) && isdigit((unsigned char)v[3])
              && v[4] == '-';
    if (!iso) {
      cerr(c, "expires", "'%.40s' is not a date: give an ISO 8601 date or time (2026-12-31, "
           "2026-12-31T12:00:00Z), Unix seconds, or \"never\" (a span would move on every apply)", v);
      bad = 1;
    } else if (when_parse(v, (int64_t)time(NULL), WHEN_FUTURE, &expires, ewhy, sizeof ewhy) != 0) {
      cerr(c, "expires", "'%.40s' %s", v, ewhy);
      bad = 1;
    }
  } else if (ev && (!cJSON_IsNumber(ev) || ev->valuedouble != floor(ev->valuedouble)
                  || (ev->valuedouble < 0 && ev->valuedouble != -1) || ev->valuedouble > 1e12)) {
    cerr(c, "expires", "must be Unix seconds, or -1 / \"never\"");
    bad = 1;
  } else if (ev) {
    expires = (int64_t)ev->valuedouble;
  }
  cJSON *models = get_list(c, in, "models", MODEL_NAME_MAX, "", 0);
  cJSON *ips = get_list(c, in, "ips", 64, "", 0);
  if (ips && check_ips(c, ips) != 0)
    bad = 1;
  const char *group = get_name(c, in, "group", GW_NAME_MAX, "", 1);
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(in, "key");
  if (key && !(it->secret = resolve_secret(c, key, "key")))
    bad = 1;
  char why[128];
  if (it->secret && key_validate(it->secret, why, sizeof why) != 0) {
    cerr(c, "key", "%s", why);
    bad = 1;
  }
  const cJSON *kf = cJSON_GetObjectItemCaseSensitive(in, "key_file");
  if (kf && (!cJSON_IsString(kf) || !*kf->valuestring)) {
    cerr(c, "key_file", "must be a path");
    bad = 1;
  } else if (kf && key) {
    cerr(c, "key_file", "is where a generated key goes: not with \"key\"");
    bad = 1;
  } else if (kf) {
    it->key_file = strdup(kf->valuestring);
  }
  if (!user || !name || !status || !models || !ips || !group || bad) {
    cJSON_Delete(models);
    cJSON_Delete(ips);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "user", user);
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddStringToObject(o, "status", status);
  cJSON_AddBoolToObject(o, "unlimited", unlimited);
  cJSON_AddNumberToObject(o, "quota", unlimited ? 0 : (double)quota);
  cJSON_AddNumberToObject(o, "expires", (double)expires);
  cJSON_AddItemToObject(o, "models", models);
  cJSON_AddItemToObject(o, "ips", ips);
  cJSON_AddStringToObject(o, "group", group);
  cJSON_AddBoolToObject(o, "response_cache", rcache);
  return o;
}

/* A fallback chain (gwctl fallback set): MODEL's for everyone, for "group" G or for "token"
 * "user/name"; "chain" 1..8 models tried in order, never MODEL itself; "on" [] or context, policy. */
static cJSON *check_fallback(struct check_ctx *c, const cJSON *in, struct item *it)
{
  (void)it;
  check_fields(c, in, fallback_fields);
  const char *model = get_name(c, in, "model", MODEL_NAME_MAX, NULL, 0);
  const char *group = get_name(c, in, "group", GW_NAME_MAX, "", 1);
  const cJSON *tv = cJSON_GetObjectItemCaseSensitive(in, "token");
  const char *token = "";
  int bad = 0;
  if (tv && !cJSON_IsString(tv)) {
    cerr(c, "token", "must be a string \"user/name\", not %s", type_name(tv));
    bad = 1;
  } else if (tv && *tv->valuestring) {
    const char *slash = strchr(tv->valuestring, '/');
    char user[GW_NAME_MAX + 1];
    if (!slash || slash == tv->valuestring || (size_t)(slash - tv->valuestring) > GW_NAME_MAX
        || gw_name_problem(slash + 1, GW_NAME_MAX)
        || gw_name_problem((snprintf(user, sizeof user, "%.*s", (int)(slash - tv->valuestring),
                                     tv->valuestring), user), GW_NAME_MAX)) {
      cerr(c, "token", "'%.80s' is not \"user/name\" of a token", tv->valuestring);
      bad = 1;
    } else {
      token = tv->valuestring;
    }
  }
  if (group && *group && *token) {
    cerr(c, "token", "a chain belongs to a group or a token, not both");
    bad = 1;
  }
  cJSON *chain = get_list(c, in, "chain", MODEL_NAME_MAX, NULL, 1);
  char list[GW_LIST_MAX + 1];
  join_array(chain, list, sizeof list);
  enum rule_chain rch = chain ? rule_chain(model ? model : "", list, cJSON_GetArraySize(chain)) : RULE_CHAIN_OK;
  if (rch == RULE_CHAIN_COUNT) {
    cerr(c, "chain", "give 1 to %d models", CHAIN_MODELS_MAX);
    bad = 1;
  } else if (rch == RULE_CHAIN_SELF) {
    cerr(c, "chain", "'%s' cannot fall back to itself", model);
    bad = 1;
  }
  const cJSON *m;
  cJSON *on = get_list(c, in, "on", 16, "", 0);
  cJSON_ArrayForEach(m, on)
    if (rule_word(rule_fallback_on, m->valuestring) < 0) {
      cerr(c, "on", "unknown error kind '%.40s' (context, policy)", m->valuestring);
      bad = 1;
    }
  if (!model || !group || !chain || !on || bad) {
    cJSON_Delete(chain);
    cJSON_Delete(on);
    return NULL;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", model);
  cJSON_AddStringToObject(o, "group", group);
  cJSON_AddStringToObject(o, "token", token);
  cJSON_AddItemToObject(o, "chain", chain);
  cJSON_AddItemToObject(o, "on", on);
  return o;
}

/* The name an entry is matched by: tokens "user/name", fallbacks "MODEL[@group:G|@token:U/N]"
 * (the reader builds the same in SQL), the others their id field. */
static void item_key(enum kind k, const cJSON *o, char *out, size_t len)
{
  if (k == K_TOKEN)
    snprintf(out, len, "%s/%s", str_of(o, "user"), str_of(o, "name"));
  else if (k == K_FALLBACK)
    snprintf(out, len, "%s%s%s", str_of(o, "model"), *str_of(o, "group") ? "@group:"
                                                     : *str_of(o, "token") ? "@token:" : "",
             *str_of(o, "group") ? str_of(o, "group") : str_of(o, "token"));
  else
    snprintf(out, len, "%s", str_of(o, kinds[k].id_field));
}

static cJSON *(*const checkers[K_N])(struct check_ctx *, const cJSON *, struct item *) = {
  check_group, check_price, NULL, check_user, check_channel, check_token, check_fallback,
};

/* Reads the document's sections into a->want. */
static void check_document(struct apply *a, const cJSON *doc)
{
  if (!cJSON_IsObject(doc)) {
    aerr(a, NULL, "the document must be a JSON object, not %s", type_name(doc));
    return;
  }
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
  if (!ver)
    aerr(a, "version", "is required (this gwctl reads version %d)", DOC_VERSION);
  else if (!cJSON_IsNumber(ver) || ver->valuedouble != DOC_VERSION)
    aerr(a, "version", "this gwctl reads version %d only", DOC_VERSION);
  const cJSON *sec;
  cJSON_ArrayForEach(sec, doc) {
    if (strcmp(sec->string, "version") == 0)
      continue;
    int k = 0;
    while (k < K_N && strcmp(kinds[k].section, sec->string) != 0)
      k++;
    if (k == K_N) {
      aerr(a, sec->string, "unknown section (known: version, groups, prices, options, "
           "users, channels, tokens, fallbacks)");
      continue;
    }
    a->in_file[k] = 1;
    if (k == K_OPTION) {
      if (!cJSON_IsObject(sec)) {
        aerr(a, "options", "must be an object {\"KEY\": VALUE}, not %s", type_name(sec));
        continue;
      }
      const cJSON *o;
      int i = 0;
      cJSON_ArrayForEach(o, sec) {
        char val[64], norm[64], why[128];
        if (cJSON_IsNumber(o))
          snprintf(val, sizeof val, "%.0f", o->valuedouble);
        else
          snprintf(val, sizeof val, "%s", cJSON_IsString(o) ? o->valuestring : "");
        if (!cJSON_IsNumber(o) && !cJSON_IsString(o)) {
          fprintf(stderr, _("gwctl: options \"%s\": must be a number or a string, not %s\n"),
                  o->string, type_name(o));
          a->errors++;
        } else if (gw_config_check(o->string, val, norm, sizeof norm, why, sizeof why) != 0) {
          char known[512] = "";
          for (size_t j = 0; gw_config_key(j); j++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     *known ? ", " : "", gw_config_key(j));
          /* i18n: not translated: the file's field and options.c's reason, as gw_config_check gives it */
          fprintf(stderr, "gwctl: options \"%s\": %s%s%s\n", o->string, why,
                  strcmp(why, "unknown option") == 0 ? _("; known options: ") : "",
                  strcmp(why, "unknown option") == 0 ? known : "");
          a->errors++;
        } else {
          cJSON *c = cJSON_CreateObject();
          cJSON_AddStringToObject(c, "key", o->string);
          cJSON_AddStringToObject(c, "value", norm);
          set_add(&a->want[k], o->string, 0, c, i);
        }
        i++;
      }
      continue;
    }
    if (!cJSON_IsArray(sec)) {
      aerr(a, sec->string, "must be an array of objects, not %s", type_name(sec));
      continue;
    }
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, sec) {
      struct check_ctx c;
      ctx_init(&c, a, k, i, e);
      if (!cJSON_IsObject(e)) {
        cerr(&c, NULL, "must be an object, not %s", type_name(e));
        i++;
        continue;
      }
      struct item tmp = { 0 };
      cJSON *o = checkers[k](&c, e, &tmp);
      if (o) {
        char key[MODEL_NAME_MAX + 2 * GW_NAME_MAX + 16];
        item_key((enum kind)k, o, key, sizeof key);
        /* a duplicate is an error on the second entry */
        int dup = -1;
        for (size_t j = 0; j < a->want[k].n; j++)
          if (strcmp(a->want[k].v[j].key, key) == 0)
            dup = a->want[k].v[j].index;
        if (dup >= 0) {
          cerr(&c, kinds[k].id_field, "'%s' is already listed as %s[%d]", key, kinds[k].section,
               dup);
          cJSON_Delete(o);
        } else {
          set_add(&a->want[k], key, 0, o, i);
          a->want[k].v[a->want[k].n - 1].secret = tmp.secret;
          a->want[k].v[a->want[k].n - 1].key_file = tmp.key_file;
          a->want[k].v[a->want[k].n - 1].pool = tmp.pool;
          a->want[k].v[a->want[k].n - 1].npool = tmp.npool;
          tmp.secret = tmp.key_file = NULL;
          tmp.pool = NULL;
          tmp.npool = 0;
        }
      }
      if (tmp.secret) {
        OPENSSL_cleanse(tmp.secret, strlen(tmp.secret));
        free(tmp.secret);
      }
      free(tmp.key_file);
      pool_free(tmp.pool, tmp.npool);
      i++;
    }
  }
}

/* ---- the final state: references between kinds ------------------------------------------------ */

/* The object kind k will have named key after apply, or NULL. */
static const cJSON *final_get(struct apply *a, int k, const char *key)
{
  struct item *w = a->in_file[k] ? set_get(&a->want[k], key) : NULL;
  if (w)
    return w->obj;
  if (a->in_file[k] && a->prune)
    return NULL;
  struct item *h = set_get(&a->have[k], key);
  return h ? h->obj : NULL;
}

static void label_of(struct apply *a, int k, const struct item *it, char *out, size_t len)
{
  (void)a;
  snprintf(out, len, "%s[%d] \"%s\"", kinds[k].section, it->index, it->key);
}

static void check_references(struct apply *a)
{
  char label[200];
  /* users: their group must exist (the database's users only matter when groups can go) */
  int groups_go = a->in_file[K_GROUP] && a->prune, users_go = a->in_file[K_USER] && a->prune;
  for (int pass = 0; pass < 2; pass++) {
    struct set *s = pass == 0 ? &a->want[K_USER] : &a->have[K_USER];
    if (pass == 1 && (users_go || !groups_go))
      break;
    for (size_t i = 0; i < s->n; i++) {
      if (pass == 1 && a->in_file[K_USER] && set_get(&a->want[K_USER], s->v[i].key))
        continue;
      const char *grp = str_of(s->v[i].obj, "group");
      if (final_get(a, K_GROUP, grp))
        continue;
      a->errors++;
      if (pass == 0) {
        label_of(a, K_USER, &s->v[i], label, sizeof label);
        fprintf(stderr, a->in_file[K_GROUP] ? _("gwctl: %s: field \"group\": no group named '%s' in groups\n")
                                            : _("gwctl: %s: field \"group\": no group named '%s' (add it to groups)\n"),
                label, grp);
      } else {
        fprintf(stderr, _("gwctl: groups: group '%s' is still used by user '%s'\n"), grp, s->v[i].key);
      }
    }
  }
  /* tokens: user exists; group exists and is the user's or selectable */
  for (size_t i = 0; i < a->want[K_TOKEN].n; i++) {
    struct item *t = &a->want[K_TOKEN].v[i];
    label_of(a, K_TOKEN, t, label, sizeof label);
    const cJSON *u = final_get(a, K_USER, str_of(t->obj, "user"));
    if (!u) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"user\": no user named '%s'\n"), label,
              str_of(t->obj, "user"));
      continue;
    }
    const char *grp = str_of(t->obj, "group");
    if (!*grp)
      continue;
    const cJSON *gr = final_get(a, K_GROUP, grp);
    if (!gr) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"group\": no group named '%s'\n"), label, grp);
    } else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(gr, "selectable"))
               && strcmp(str_of(u, "group"), grp) != 0) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"group\": group '%s' is not the group of user '%s', and "
                        "users may not pick it (\"selectable\": true)\n"), label, grp, str_of(u, "user"));
    }
  }
  /* tokens left in the database: their user must stay, their group too */
  if (!(a->in_file[K_TOKEN] && a->prune) && (users_go || groups_go)) {
    for (size_t i = 0; i < a->have[K_TOKEN].n; i++) {
      struct item *t = &a->have[K_TOKEN].v[i];
      if (a->in_file[K_TOKEN] && set_get(&a->want[K_TOKEN], t->key))
        continue;
      if (users_go && !final_get(a, K_USER, str_of(t->obj, "user"))) {
        a->errors++;
        fprintf(stderr, _("gwctl: users: user '%s' is not in the file but still has token '%s': "
                          "list the token in tokens (with --prune it is then deleted) or keep the user\n"),
                str_of(t->obj, "user"), str_of(t->obj, "name"));
      }
      const char *grp = str_of(t->obj, "group");
      if (groups_go && *grp && !final_get(a, K_GROUP, grp)) {
        a->errors++;
        fprintf(stderr, _("gwctl: groups: group '%s' is still used by token '%s'\n"), grp, t->key);
      }
    }
  }
}

/* Channels: a new pool key needs its key; a channel with a pool takes its keys in "keys". Fallbacks:
 * their group and token exist. */
static void check_references2(struct apply *a)
{
  char label[200];
  for (size_t i = 0; i < a->want[K_CHANNEL].n; i++) {
    struct item *w = &a->want[K_CHANNEL].v[i];
    struct item *h = set_get(&a->have[K_CHANNEL], w->key);
    const cJSON *hk = h ? cJSON_GetObjectItemCaseSensitive(h->obj, "keys") : NULL;
    const cJSON *wk = cJSON_GetObjectItemCaseSensitive(w->obj, "keys");
    label_of(a, K_CHANNEL, w, label, sizeof label);
    if (w->secret && hk) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"key\": the channel has a key pool: give its keys in \"keys\"\n"),
              label);
    }
    size_t j = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, wk) {
      int found = 0;
      const cJSON *x;
      cJSON_ArrayForEach(x, hk)
        found |= int_of(x, "index") == int_of(e, "index");
      if (!found && (j >= w->npool || !w->pool[j])) {
        a->errors++;
        fprintf(stderr, _("gwctl: %s: field \"keys\": key %" PRId64 " is new: it needs \"key\" (a reference)\n"),
                label, int_of(e, "index"));
      }
      j++;
    }
  }
  for (size_t i = 0; i < a->want[K_FALLBACK].n; i++) {
    struct item *f = &a->want[K_FALLBACK].v[i];
    const char *grp = str_of(f->obj, "group"), *tok = str_of(f->obj, "token");
    label_of(a, K_FALLBACK, f, label, sizeof label);
    if (*grp && !final_get(a, K_GROUP, grp)) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"group\": no group named '%s'\n"), label, grp);
    }
    if (*tok && !final_get(a, K_TOKEN, tok)) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"token\": no token named '%s'\n"), label, tok);
    }
  }
}

/* ---- the plan ---------------------------------------------------------------------------------- */

static struct change *add_change(struct apply *a, enum op op, enum kind k, struct item *want,
                                 struct item *have)
{
  if (a->nch == a->capch) {
    a->capch = a->capch ? a->capch * 2 : 32;
    a->ch = realloc(a->ch, a->capch * sizeof *a->ch);
    if (!a->ch)
      abort();
  }
  struct change *c = &a->ch[a->nch++];
  *c = (struct change){ .op = op, .kind = k, .want = want, .have = have };
  return c;
}

static int plan(struct apply *a)
{
  struct gwctl *g = a->g;
  for (int k = 0; k < K_N; k++) {
    if (!a->in_file[k])
      continue;
    for (size_t i = 0; i < a->want[k].n; i++) {
      struct item *w = &a->want[k].v[i];
      struct item *h = set_get(&a->have[k], w->key);
      if (!h) {
        add_change(a, OP_CREATE, (enum kind)k, w, NULL);
        continue;
      }
      cJSON *fields = cJSON_CreateArray();
      int set_quota = 0;
      const cJSON *f;
      cJSON_ArrayForEach(f, w->obj) {
        if (strcmp(f->string, "quota") == 0 && !a->set_balances)
          continue;
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(h->obj, f->string);
        if (old && cJSON_Compare(old, f, 1))
          continue;
        if (strcmp(f->string, "quota") == 0)
          set_quota = 1;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", f->string);
        cJSON_AddItemToObject(d, "old", old ? cJSON_Duplicate(old, 1) : cJSON_CreateNull());
        cJSON_AddItemToObject(d, "new", cJSON_Duplicate(f, 1));
        cJSON_AddItemToArray(fields, d);
      }
      int key_changed = 0;
      if (w->secret && k == K_CHANNEL) {
        int eq = gw_channel_key_equals(g, h->id, w->secret);
        if (eq < 0) {
          cJSON_Delete(fields);
          return GW_FAIL;
        }
        key_changed = !eq;
      } else if (w->secret && k == K_TOKEN) {
        char hash[KEY_HASH_HEX_LEN + 1];
        const char *body = key_body(w->secret);
        key_hash(body, strlen(body), hash);
        key_changed = strcmp(hash, str_of(h->obj, "\x01key_hash")) != 0;
      }
      if (key_changed) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", "key");
        cJSON_AddStringToObject(d, "old", "(secret)");
        cJSON_AddStringToObject(d, "new", "(changed)");
        cJSON_AddItemToArray(fields, d);
      }
      /* a pool key of the same index: its key compared with the stored one (a new index shows in
       * "keys" already) */
      int pool_changed = 0;
      const cJSON *pk, *hk = cJSON_GetObjectItemCaseSensitive(h->obj, "keys");
      size_t j = 0;
      const cJSON *wkeys = k == K_CHANNEL ? cJSON_GetObjectItemCaseSensitive(w->obj, "keys") : NULL;
      cJSON_ArrayForEach(pk, wkeys) {
        const char *secret = j < w->npool ? w->pool[j] : NULL;
        j++;
        int found = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, hk)
          found |= int_of(x, "index") == int_of(pk, "index");
        if (!secret || !found)
          continue;
        int eq = gw_pool_key_equals(g, h->id, int_of(pk, "index"), secret);
        if (eq < 0) {
          cJSON_Delete(fields);
          return GW_FAIL;
        }
        if (eq)
          continue;
        char field[48];
        snprintf(field, sizeof field, "keys[%" PRId64 "].key", int_of(pk, "index"));
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", field);
        cJSON_AddStringToObject(d, "old", "(secret)");
        cJSON_AddStringToObject(d, "new", "(changed)");
        cJSON_AddItemToArray(fields, d);
        pool_changed = 1;
      }
      const cJSON *d;
      cJSON_ArrayForEach(d, fields)
        pool_changed |= strcmp(str_of(d, "field"), "keys") == 0;
      if (!fields->child) {
        cJSON_Delete(fields);
        continue;
      }
      struct change *c = add_change(a, OP_UPDATE, (enum kind)k, w, h);
      c->fields = fields;
      c->key_changed = key_changed;
      c->set_quota = set_quota;
      c->pool_changed = pool_changed;
    }
  }
  if (!a->prune)
    return 0;
  for (int k = K_N - 1; k >= 0; k--) {
    if (!a->in_file[k])
      continue;
    for (size_t i = 0; i < a->have[k].n; i++)
      if (!set_get(&a->want[k], a->have[k].v[i].key))
        add_change(a, OP_DELETE, (enum kind)k, NULL, &a->have[k].v[i]);
  }
  return 0;
}

/* The plan entry as JSON. */
static cJSON *change_json(const struct change *c)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "op", op_names[c->op]);
  cJSON_AddStringToObject(o, "kind", kinds[c->kind].noun);
  cJSON_AddStringToObject(o, "name", c->want ? c->want->key : c->have->key);
  if (c->op == OP_CREATE) {
    cJSON *f = cJSON_Duplicate(c->want->obj, 1);
    if (c->want->secret)
      cJSON_AddStringToObject(f, "key", "(from reference)");
    cJSON_AddItemToObject(o, "fields", f);
  } else if (c->op == OP_UPDATE) {
    cJSON_AddItemToObject(o, "changes", cJSON_Duplicate(c->fields, 1));
  }
  return o;
}

/* The plan entry as one line of text ("update channel x: weight: 0 -> 5, ..."). */
static void change_text(const struct change *c, char *out, size_t len)
{
  size_t used = (size_t)snprintf(out, len, "%s %s %s", op_names[c->op], kinds[c->kind].noun,
                                 c->want ? c->want->key : c->have->key);
  char val[600], val2[600];
  const cJSON *f;
  int first = 1;
  if (c->op == OP_CREATE) {
    cJSON_ArrayForEach(f, c->want->obj) {
      if (strcmp(f->string, kinds[c->kind].id_field) == 0
          || (c->kind == K_TOKEN && strcmp(f->string, "user") == 0))
        continue;
      value_text(f, val, sizeof val);
      if (used < len)
        used += (size_t)snprintf(out + used, len - used, "%s%s=%s", first ? ": " : " ", f->string,
                                 val);
      first = 0;
    }
    if (c->want->secret && used < len)
      used += (size_t)snprintf(out + used, len - used, " key=(from reference)");
  } else if (c->op == OP_UPDATE) {
    cJSON_ArrayForEach(f, c->fields) {
      value_text(cJSON_GetObjectItemCaseSensitive(f, "old"), val, sizeof val);
      value_text(cJSON_GetObjectItemCaseSensitive(f, "new"), val2, sizeof val2);
      if (used < len)
        used += (size_t)snprintf(out + used, len - used, "%s%s: %s -> %s", first ? ": " : ", ",
                                 str_of(f, "field"), val, val2);
      first = 0;
    }
  }
}

/* ---- executing the plan ------------------------------------------------------------------------ */

#define role_value rule_role_value
#define status_value rule_status_value

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
    subj->token_name = str_of(c->have->obj, "name");
    subj->username = str_of(c->have->obj, "user");
    /* its limits, alerts and fallback chains go with it, as with gwctl token rm */
    return gw_subject_forget(g, "token", id) ? GW_FAIL
           : gw_exec(g, "cannot delete the token", "DELETE FROM tokens WHERE id = ?1", "i", id);
  case K_FALLBACK:
    return gw_exec(g, "cannot remove the fallback chain", "DELETE FROM fallbacks WHERE scope = ?1 AND "
                   "subject = ?2 AND model = ?3", "sss", str_of(c->have->obj, "\x01scope"),
                   str_of(c->have->obj, "\x01subject"), str_of(c->have->obj, "model"));
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
    used += (size_t)snprintf(list + used, sizeof list - used, "%s%" PRId64, used ? "," : "", int_of(e, "index"));
  /* the indexes kept, as a comma list matched in SQL (both backends: ',' || list || ',' LIKE) */
  int rc = gw_exec(g, "cannot change the key pool", "DELETE FROM channel_keys WHERE channel_id = ?1 AND "
                   "',' || ?2 || ',' NOT LIKE '%,' || CAST(idx AS TEXT) || ',%'", "is", id, list);
  cJSON_ArrayForEach(e, keys) {
    const char *secret = j < c->want->npool ? c->want->pool[j] : NULL;
    int64_t idx = int_of(e, "index");
    int64_t status = status_value(rule_channel_status, RULE_CHANNEL_STATUS_N,
                                  str_of(e, "status"));
    j++;
    if (rc == 0 && secret)
      rc = gw_pool_put(g, id, idx, secret);
    if (rc == 0)
      rc = gw_exec(g, "cannot change the key pool",
                   "UPDATE channel_keys SET rpm = ?3, tpm = ?4, max_concurrency = ?5, "
                   "status_reason = CASE WHEN status = ?6 THEN status_reason WHEN ?6 = "
                   CODE_STR(STATUS_ENABLED) " THEN '' ELSE 'set by gwctl apply' END, "
                   "status_time = CASE WHEN status = ?6 THEN status_time ELSE ?7 END, status = ?6 "
                   "WHERE channel_id = ?1 AND idx = ?2", "iiiiiii", id, idx, int_of(e, "rpm"),
                   int_of(e, "tpm"), int_of(e, "max_concurrency"), status, (int64_t)time(NULL));
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
  char *map = obj_text(cJSON_GetObjectItemCaseSensitive(o, "model_mapping"));
  char *other = obj_text(cJSON_GetObjectItemCaseSensitive(o, "other"));
  join_array(cJSON_GetObjectItemCaseSensitive(o, "models"), models, sizeof models);
  join_array(cJSON_GetObjectItemCaseSensitive(o, "group"), groups, sizeof groups);
  int64_t status = status_value(rule_channel_status, RULE_CHANNEL_STATUS_N,
                                str_of(o, "status"));
  int64_t id = c->have ? c->have->id : 0;
  int rc;
  if (!map || !other)
    rc = gw_err(GW_FAIL, "out of memory");
  else if (c->op == OP_CREATE) {
    rc = gw_insert(g, "cannot create the channel",
                 "INSERT INTO channels(type, name, key, status, base_url, models, \"group\", "
                 "model_mapping, priority, weight, created_time, tag, other) "
                 "VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
                 &id, "ssissssiiiss", str_of(o, "type"), str_of(o, "name"), status,
                 str_of(o, "base_url"), models, groups, map, int_of(o, "priority"),
                 int_of(o, "weight"), (int64_t)time(NULL), str_of(o, "tag"), other);
    if (rc == 0 && c->want->secret)
      rc = gw_channel_set_key(g, id, c->want->secret);
  } else {
    rc = gw_exec(g, "cannot change the channel",
                 "UPDATE channels SET type = ?2, status = ?3, base_url = ?4, models = ?5, "
                 "\"group\" = ?6, model_mapping = ?7, priority = ?8, weight = ?9, tag = ?10, "
                 "other = ?11 WHERE id = ?1", "isissssiiss", id, str_of(o, "type"), status,
                 str_of(o, "base_url"), models, groups, map, int_of(o, "priority"),
                 int_of(o, "weight"), str_of(o, "tag"), other);
    if (rc == 0 && c->key_changed)
      rc = gw_channel_set_key(g, id, c->want->secret);
  }
  if (rc == 0)
    rc = gw_exec(g, "cannot change the channel", "UPDATE channels SET key_mode = ?2, rpm = ?3, tpm = ?4, "
                 "max_concurrency = ?5 WHERE id = ?1", "isiii", id, str_of(o, "key_mode"),
                 int_of(o, "rpm"), int_of(o, "tpm"), int_of(o, "max_concurrency"));
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
  join_array(cJSON_GetObjectItemCaseSensitive(o, "models"), models, sizeof models);
  join_array(cJSON_GetObjectItemCaseSensitive(o, "ips"), ips, sizeof ips);
  int64_t status = status_value(rule_token_status, RULE_TOKEN_STATUS_N,
                                str_of(o, "status"));
  int64_t unlimited = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "unlimited"));
  int64_t rcache = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "response_cache"));
  int64_t id = c->have ? c->have->id : 0, uid = 0;
  snprintf(label, labellen, "tokens[%d] \"%s\"", c->want->index, c->want->key);
  int rc = 0;
  if (gw_scalar(g, "cannot look up the user", "SELECT id FROM users WHERE username = ?1", &uid, "s",
                str_of(o, "user")) <= 0)
    return gw_err(GW_FAIL, "%s: the user '%s' is gone", label, str_of(o, "user"));
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
                   uid, str_of(o, "name"), hash, hint, status, (int64_t)time(NULL),
                   int_of(o, "expires"), unlimited ? 0 : int_of(o, "quota"), unlimited, models, ips,
                   str_of(o, "group"), rcache);
    if (rc == 0 && c->want->key_file)
      rc = stage_key_file(a, label, c->want->key_file, key);
    else if (rc == 0 && !c->want->secret) {
      cJSON *k = cJSON_CreateObject();
      cJSON_AddStringToObject(k, "user", str_of(o, "user"));
      cJSON_AddStringToObject(k, "name", str_of(o, "name"));
      cJSON_AddStringToObject(k, "key", key);
      cJSON_AddItemToArray(a->new_keys, k);
    }
    OPENSSL_cleanse(key, sizeof key);
  } else {
    rc = gw_exec(g, "cannot change the token",
                 "UPDATE tokens SET status = ?2, expired_time = ?3, "
                 "remain_quota = CASE WHEN ?4 <> 0 THEN ?5 ELSE remain_quota END, unlimited_quota = ?6, "
                 "models = ?7, subnet = ?8, \"group\" = ?9, response_cache = ?10 WHERE id = ?1",
                 "iiiiiisssi", id, status, int_of(o, "expires"), (int64_t)c->set_quota,
                 unlimited ? 0 : int_of(o, "quota"), unlimited, models, ips, str_of(o, "group"), rcache);
    if (rc == 0 && c->key_changed)
      rc = write_token_key(a, label, id, c->want->secret);
  }
  subj->user_id = uid;
  subj->username = str_of(o, "user");
  subj->token_id = id;
  subj->token_name = str_of(o, "name");
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
    .model = str_of(o, "model"), .has_ratio = 1, .ratio = num_of(o, "model_ratio"),
    .completion = num_of(o, "completion_ratio"), .cache = num_of(o, "cache_ratio"),
    .has_fixed = cJSON_IsNumber(fp), .fixed = cJSON_GetNumberValue(fp), .unit = str_of(o, "unit"),
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
  const char *grp = str_of(o, "group"), *tok = str_of(o, "token");
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
      return gw_err(GW_FAIL, "fallback %s: the token '%s' is gone", str_of(o, "model"), tok);
    snprintf(subject, sizeof subject, "%" PRId64, tid);
  }
  join_array(cJSON_GetObjectItemCaseSensitive(o, "chain"), chain, sizeof chain);
  join_array(cJSON_GetObjectItemCaseSensitive(o, "on"), on, sizeof on);
  return gw_fallback_put(g, *grp ? "group" : *tok ? "token" : "model", subject, str_of(o, "model"), chain, on);
}

static int exec_change(struct apply *a, struct change *c)
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
      rc = gw_group_put(g, str_of(o, "name"), 1, num_of(o, "ratio"), 1,
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
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "ss", str_of(o, "key"),
                   str_of(o, "value"));
      break;
    case K_USER: {
      int64_t status = strcmp(str_of(o, "status"), "disabled") == 0 ? STATUS_DISABLED : STATUS_ENABLED;
      if (c->op == OP_CREATE) {
        rc = gw_insert(g, "cannot create the user",
                     "INSERT INTO users(username, role, status, quota, \"group\", created_time) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id", &subj.user_id, "siiisi",
                     str_of(o, "name"),
                     role_value(str_of(o, "role")), status, int_of(o, "quota"), str_of(o, "group"),
                     (int64_t)time(NULL));
      } else {
        rc = gw_exec(g, "cannot change the user",
                     "UPDATE users SET role = ?2, status = ?3, \"group\" = ?4, "
                     "quota = CASE WHEN ?5 <> 0 THEN ?6 ELSE quota END WHERE id = ?1", "iiisii",
                     c->have->id, role_value(str_of(o, "role")), status, str_of(o, "group"),
                     (int64_t)c->set_quota, int_of(o, "quota"));
        subj.user_id = c->have->id;
      }
      subj.username = str_of(o, "name");
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
  change_text(c, text, sizeof text);
  return gw_log_manage(g, &subj, "apply: %s (by %s)", text, a->who);
}

/* ---- gwctl apply ------------------------------------------------------------------------------- */

static char *read_document(const char *path, size_t *len)
{
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    gw_err(errno == ENOENT ? GW_NOTFOUND : GW_FAIL, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct buf b;
  buf_init(&b, DOC_MAX);
  char chunk[65536];
  size_t n;
  int toolong = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (buf_append(&b, chunk, n) != 0) {
      toolong = 1;
      break;
    }
  int ioerr = ferror(f);
  if (f != stdin)
    fclose(f);
  if (ioerr || toolong) {
    gw_err(GW_FAIL, ioerr ? "cannot read %s" : N_("%s is larger than 64 MiB"), path);
    buf_free(&b);
    return NULL;
  }
  if (!b.data)
    buf_append(&b, "", 0);
  return buf_steal(&b, len);
}

static void who_am_i(char *out, size_t len)
{
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_name)
    snprintf(out, len, "%s", pw->pw_name);
  else
    snprintf(out, len, "uid %u", (unsigned)getuid());
}

static void apply_free(struct apply *a)
{
  for (int k = 0; k < K_N; k++) {
    set_free(&a->want[k]);
    set_free(&a->have[k]);
  }
  for (size_t i = 0; i < a->nch; i++)
    cJSON_Delete(a->ch[i].fields);
  free(a->ch);
  if (a->new_keys) {
    const cJSON *k;
    cJSON_ArrayForEach(k, a->new_keys) {
      char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "key"));
      if (s)
        OPENSSL_cleanse(s, strlen(s));
    }
    cJSON_Delete(a->new_keys);
  }
  for (size_t i = 0; i < a->nfiles; i++) {
    free(a->tmp_files[i]);
    free(a->key_files[i]);
  }
  free(a->tmp_files);
  free(a->key_files);
}

int cmd_apply(struct gwctl *g, int argc, char **argv)
{
  const char *file = NULL;
  int dry = 0, prune = 0, balances = 0;
  const struct gw_opt opts[] = {
    { "f", &file, NULL }, { "file", &file, NULL }, { "dry-run", NULL, &dry },
    { "prune", NULL, &prune }, { "set-balances", NULL, &balances }, { 0 },
  };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!file)
    return gw_usage(g, "missing -f FILE (or -f - for stdin)");
  size_t len = 0;
  char *text = read_document(file, &len);
  if (!text)
    return errno == ENOENT ? GW_NOTFOUND : GW_FAIL;
  const char *end = NULL;
  cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
  if (!doc) {
    size_t at = end && end >= text ? (size_t)(end - text) : 0, line = 1, col = 1;
    for (size_t i = 0; i < at && i < len; i++, col++)
      if (text[i] == '\n') {
        line++;
        col = 0;
      }
    free(text);
    return gw_err(GW_FAIL, "%s:%zu:%zu: not valid JSON%s; nothing changed", file, line, col,
                  at >= len ? " (it ends too early)" : "");
  }
  free(text);

  struct apply a = { .g = g, .prune = prune, .set_balances = balances, .dry_run = dry };
  a.new_keys = cJSON_CreateArray();
  who_am_i(a.who, sizeof a.who);
  rc = dry ? gw_open(g) : gw_begin(g);
  int in_tx = !dry && rc == 0;
  for (int k = 0; rc == 0 && k < K_N; k++)
    rc = read_kind(g, k, &a.have[k]);
  for (int k = 0; k < K_N; k++)
    set_index(&a.have[k]);
  if (rc == 0) {
    check_document(&a, doc);
    for (int k = 0; k < K_N; k++)
      set_index(&a.want[k]);
    check_references(&a);       /* on the entries that passed: every error is reported */
    check_references2(&a);
    if (a.errors)
      rc = gw_err(GW_FAIL, "%s: %d error%s; nothing changed", file, a.errors,
                  a.errors == 1 ? "" : "s");
  }
  if (rc == 0)
    rc = plan(&a);
  int ncreate = 0, nupdate = 0, ndelete = 0;
  for (size_t i = 0; i < a.nch; i++)
    a.ch[i].op == OP_CREATE ? ncreate++ : a.ch[i].op == OP_UPDATE ? nupdate++ : ndelete++;
  for (size_t i = 0; rc == 0 && !dry && i < a.nch; i++)
    rc = exec_change(&a, &a.ch[i]);
  if (in_tx) {
    if (rc == 0 && a.nch == 0) {
      db_rollback(g->db);         /* nothing to commit, nobody to tell */
    } else {
      rc = gw_end(g, rc);
    }
  }
  /* key files: into place once the tokens exist, gone when they do not */
  for (size_t i = 0; i < a.nfiles; i++) {
    if (rc == 0 && rename(a.tmp_files[i], a.key_files[i]) != 0) {
      rc = gw_err(GW_FAIL, "the changes are saved, but the key for %s is in %s: cannot rename it: "
                  "%s", a.key_files[i], a.tmp_files[i], strerror(errno));
      continue;
    }
    if (rc != 0)
      unlink(a.tmp_files[i]);
  }
  if (rc == 0) {
    if (g->json) {
      cJSON *out = cJSON_CreateObject(), *arr = cJSON_CreateArray();
      for (size_t i = 0; i < a.nch; i++)
        cJSON_AddItemToArray(arr, change_json(&a.ch[i]));
      cJSON_AddBoolToObject(out, "dry_run", dry);
      cJSON_AddItemToObject(out, "changes", arr);
      cJSON_AddNumberToObject(out, "create", ncreate);
      cJSON_AddNumberToObject(out, "update", nupdate);
      cJSON_AddNumberToObject(out, "delete", ndelete);
      if (!dry)
        cJSON_AddItemReferenceToObject(out, "keys", a.new_keys);
      if (out_json(out) != 0)
        rc = gw_err(GW_FAIL, "out of memory");
      cJSON_Delete(out);
    } else {
      char line[1200];
      for (size_t i = 0; i < a.nch; i++) {
        change_text(&a.ch[i], line, sizeof line);
        printf("%s\n", line);
      }
      const cJSON *k;
      cJSON_ArrayForEach(k, a.new_keys)
        printf(_("key of token %s/%s: %s\n"), str_of(k, "user"), str_of(k, "name"), str_of(k, "key"));
      if (a.nch == 0)
        printf(_("nothing to do: the database matches %s\n"), file);
      else
        printf(dry ? _("plan: %d to create, %d to update, %d to delete\n")
                   : _("applied: %d to create, %d to update, %d to delete\n"), ncreate, nupdate, ndelete);
    }
    if (dry && a.nch > 0)
      rc = GW_USAGE;              /* documented: 2 = the plan has changes (drift) */
  }
  cJSON_Delete(doc);
  apply_free(&a);
  return rc;
}
