/*
 * gwctl channel: add, list and show upstream channels (table channels).
 *
 * Callers: the command table in main.c.
 * Never: takes the upstream key from argv (it comes from stdin), prints or logs it, or selects the
 * key column for display (list and show only say whether one is set).
 */
#include "gwctl.h"
#include "output.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHANNEL_TYPES "openai"          /* the adapters relayd has, comma separated */
#define URL_MAX 2048
#define UPSTREAM_KEY_MAX 8192
#define MODEL_NAME_MAX 128

#define CHANNEL_COLS "id, name, type, status, base_url, models, \"group\", model_mapping, " \
                     "priority, weight, key <> '', used_quota, created_time, test_time, response_time"

static const char *channel_status_name(int64_t status)
{
  switch (status) {
  case 1: return "enabled";
  case 2: return "disabled";
  case 3: return "auto-disabled";
  default: return "unknown";
  }
}

static cJSON *channel_row(struct db_stmt *st)
{
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  cJSON_AddNumberToObject(o, "id", (double)db_col_int64(st, 0));
  cJSON_AddStringToObject(o, "name", db_col_text(st, 1));
  cJSON_AddStringToObject(o, "type", db_col_text(st, 2));
  cJSON_AddStringToObject(o, "status", channel_status_name(db_col_int64(st, 3)));
  cJSON_AddStringToObject(o, "base_url", db_col_text(st, 4));
  cJSON_AddItemToObject(o, "models", gw_csv_array(db_col_text(st, 5)));
  cJSON_AddItemToObject(o, "group", gw_csv_array(db_col_text(st, 6)));
  const char *mm = db_col_text(st, 7);
  cJSON *map = *mm ? cJSON_Parse(mm) : cJSON_CreateObject();
  if (!cJSON_IsObject(map)) {   /* written by something else than gwctl: show it as it is */
    cJSON_Delete(map);
    map = cJSON_CreateString(mm);
  }
  cJSON_AddItemToObject(o, "model_mapping", map);
  cJSON_AddNumberToObject(o, "priority", (double)db_col_int64(st, 8));
  cJSON_AddNumberToObject(o, "weight", (double)db_col_int64(st, 9));
  cJSON_AddBoolToObject(o, "has_key", db_col_int64(st, 10) != 0);
  cJSON_AddNumberToObject(o, "used_quota", (double)db_col_int64(st, 11));
  cJSON_AddNumberToObject(o, "created_time", (double)db_col_int64(st, 12));
  cJSON_AddNumberToObject(o, "test_time", (double)db_col_int64(st, 13));
  if (!cJSON_AddNumberToObject(o, "response_time", (double)db_col_int64(st, 14))
      || cJSON_GetArraySize(o) != 15) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static const struct out_col channel_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "type", "TYPE", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "priority", "PRIORITY", OUT_PLAIN, 0, NULL },
  { "weight", "WEIGHT", OUT_PLAIN, 0, NULL },
  { "group", "GROUP", OUT_PLAIN, 30, NULL },
  { "models", "MODELS", OUT_PLAIN, 40, NULL },
  { "base_url", "BASE_URL", OUT_PLAIN, 0, NULL },
  { 0 },
};

static const struct out_col channel_show_cols[] = {
  { "created_time", NULL, OUT_TIME, 0, NULL },
  { "test_time", NULL, OUT_TIME, 0, NULL },
  { 0 },
};

static const char *json_type_name(const cJSON *v)
{
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "something else";
}

/* Checks --model-map and writes its canonical form ("" for an empty object) into *out (caller frees). */
static int parse_model_map(struct gwctl *g, const char *s, char **out)
{
  const char *end = NULL;
  cJSON *m = cJSON_ParseWithOpts(s, &end, 1);
  int rc = 0;
  if (!m) {
    size_t at = end && end >= s ? (size_t)(end - s) : 0;
    if (!s[at])
      return gw_usage(g, "--model-map is not valid JSON: it ends too early");
    return gw_usage(g, "--model-map is not valid JSON: error at byte %zu ('%.16s')", at + 1, s + at);
  }
  if (!cJSON_IsObject(m)) {
    rc = gw_usage(g, "--model-map must be a JSON object like {\"requested\":\"upstream\"}, not %s",
                  json_type_name(m));
    goto out;
  }
  const cJSON *it, *prev;
  cJSON_ArrayForEach(it, m) {
    if (!*it->string) {
      rc = gw_usage(g, "--model-map has an empty model name as a key");
      goto out;
    }
    if (!cJSON_IsString(it)) {
      rc = gw_usage(g, "--model-map: the value for '%s' must be a string (the upstream model), "
                    "not %s", it->string, json_type_name(it));
      goto out;
    }
    if (!*it->valuestring) {
      rc = gw_usage(g, "--model-map: the value for '%s' is an empty string", it->string);
      goto out;
    }
    for (prev = m->child; prev != it; prev = prev->next)
      if (strcmp(prev->string, it->string) == 0) {
        rc = gw_usage(g, "--model-map names '%s' twice", it->string);
        goto out;
      }
  }
  *out = m->child ? cJSON_PrintUnformatted(m) : strdup("");
  if (!*out)
    rc = gw_err(GW_FAIL, "out of memory");
out:
  cJSON_Delete(m);
  return rc;
}

static int check_base_url(struct gwctl *g, const char *url, char *out, size_t outlen)
{
  const char *host;
  if (strncmp(url, "http://", 7) == 0)
    host = url + 7;
  else if (strncmp(url, "https://", 8) == 0)
    host = url + 8;
  else
    return gw_usage(g, "--base-url must start with http:// or https://, not '%s'", url);
  if (!*host || *host == '/')
    return gw_usage(g, "--base-url '%s' has no host", url);
  if (strlen(url) >= outlen)
    return gw_usage(g, "--base-url is longer than %zu bytes", outlen - 1);
  for (const unsigned char *p = (const unsigned char *)url; *p; p++)
    if (*p <= ' ' || *p == 0x7f)
      return gw_usage(g, "--base-url may not contain blanks or control characters");
  size_t n = strlen(url);
  while (n > (size_t)(host - url) && url[n - 1] == '/')     /* relayd appends /v1/... itself */
    n--;
  snprintf(out, outlen, "%.*s", (int)n, url);
  return 0;
}

/* Looks a channel up by name, then by id when ref is all digits. */
static int channel_find(struct gwctl *g, const char *ref, int64_t *id)
{
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && !gw_is_id(ref))
      break;
    struct db_stmt *st = db_prepare(g->db, pass == 0 ? "SELECT id FROM channels WHERE name = ?1"
                                                     : "SELECT id FROM channels WHERE id = ?1");
    if (!st)
      return gw_dberr(g, "cannot look up the channel");
    int bound = pass == 0 ? db_bind_text(st, 1, ref)
                          : db_bind_int64(st, 1, strtoll(ref, NULL, 10));
    enum db_step_result r = bound == 0 ? db_step(st) : DB_ERROR;
    if (r == DB_ROW)
      *id = db_col_int64(st, 0);
    db_finalize(st);
    if (r == DB_ERROR)
      return gw_dberr(g, "cannot look up the channel");
    if (r == DB_ROW)
      return 0;
  }
  return gw_err(GW_NOTFOUND, gw_is_id(ref) ? "no channel with name or id '%s'"
                                           : "no channel named '%s'", ref);
}

struct channel_new {
  const char *name, *type, *base_url, *models, *group, *model_map, *key;
  int64_t priority, weight;
};

static int channel_insert(struct gwctl *g, const struct channel_new *c, int64_t *id)
{
  struct db_stmt *st = db_prepare(g->db, "SELECT id FROM channels WHERE name = ?1");
  if (!st)
    return gw_dberr(g, "cannot add the channel");
  enum db_step_result r = db_bind_text(st, 1, c->name) == 0 ? db_step(st) : DB_ERROR;
  int64_t other = r == DB_ROW ? db_col_int64(st, 0) : 0;
  db_finalize(st);
  if (r == DB_ERROR)
    return gw_dberr(g, "cannot add the channel");
  if (r == DB_ROW)
    return gw_err(GW_CONFLICT, "channel '%s' already exists (id %" PRId64 ")", c->name, other);

  st = db_prepare(g->db,
      "INSERT INTO channels(type, name, key, status, base_url, models, \"group\", model_mapping, "
      "priority, weight, created_time) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!st)
    return gw_dberr(g, "cannot add the channel");
  int ok = db_bind_text(st, 1, c->type) == 0 && db_bind_text(st, 2, c->name) == 0
           && db_bind_text(st, 3, c->key) == 0 && db_bind_text(st, 4, c->base_url) == 0
           && db_bind_text(st, 5, c->models) == 0 && db_bind_text(st, 6, c->group) == 0
           && db_bind_text(st, 7, c->model_map) == 0 && db_bind_int64(st, 8, c->priority) == 0
           && db_bind_int64(st, 9, c->weight) == 0
           && db_bind_int64(st, 10, (int64_t)time(NULL)) == 0 && db_step(st) == DB_DONE;
  db_finalize(st);
  if (!ok)
    return gw_dberr(g, "cannot add the channel");
  *id = db_last_insert_id(g->db);
  struct gw_subject s = { .channel_id = *id };
  return gw_log_manage(g, &s, "channel add %s type=%s models=%s group=%s priority=%" PRId64
                       " weight=%" PRId64 "%s%s%s", c->name, c->type, c->models, c->group,
                       c->priority, c->weight, *c->model_map ? " model_map=" : "", c->model_map,
                       *c->key ? "" : " key=none");
}

int cmd_channel_add(struct gwctl *g, int argc, char **argv)
{
  const char *name = NULL, *type = NULL, *base = NULL, *models = NULL, *prio_s = "0",
             *weight_s = "0", *group = "default", *map_s = NULL;
  int no_key = 0, nmodels = 0, ngroups = 0;
  const struct gw_opt opts[] = {
    { "name", &name, NULL },
    { "type", &type, NULL },
    { "base-url", &base, NULL },
    { "models", &models, NULL },
    { "priority", &prio_s, NULL },
    { "weight", &weight_s, NULL },
    { "group", &group, NULL },
    { "model-map", &map_s, NULL },
    { "no-key", NULL, &no_key },
    { 0 },
  };
  char url[URL_MAX], model_list[GW_LIST_MAX], group_list[GW_LIST_MAX];
  char key[UPSTREAM_KEY_MAX + 1] = "", prompt[128];
  char *map = NULL;
  struct channel_new c = { 0 };
  int64_t id = 0;

  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !name)
    rc = gw_usage(g, "missing --name N");
  if (rc == 0 && !type)
    rc = gw_usage(g, "missing --type T (one of: " CHANNEL_TYPES ")");
  if (rc == 0 && !base)
    rc = gw_usage(g, "missing --base-url URL");
  if (rc == 0 && !models)
    rc = gw_usage(g, "missing --models M1,M2");
  if (rc == 0)
    rc = gw_check_name(g, "channel name", name);
  if (rc == 0 && strcmp(type, "openai") != 0)
    rc = gw_usage(g, "unknown channel type '%s' (supported: " CHANNEL_TYPES ")", type);
  if (rc == 0)
    rc = check_base_url(g, base, url, sizeof url);
  if (rc == 0)
    rc = gw_norm_list(g, "--models", models, MODEL_NAME_MAX, model_list, sizeof model_list,
                      &nmodels);
  if (rc == 0 && nmodels == 0)
    rc = gw_usage(g, "--models needs at least one model name");
  if (rc == 0)
    rc = gw_parse_int(g, "--priority", prio_s, -1000000000, 1000000000, &c.priority);
  if (rc == 0)
    rc = gw_parse_int(g, "--weight", weight_s, 0, 1000000, &c.weight);
  if (rc == 0)
    rc = gw_norm_list(g, "--group", group, GW_NAME_MAX, group_list, sizeof group_list, &ngroups);
  if (rc == 0 && ngroups == 0)
    rc = gw_usage(g, "--group needs at least one group name");
  if (rc == 0)
    rc = map_s ? parse_model_map(g, map_s, &map) : ((map = strdup("")) ? 0 : GW_FAIL);
  if (rc == 0 && !no_key) {
    snprintf(prompt, sizeof prompt, "upstream API key for channel %s: ", name);
    rc = gw_read_secret(stdin, prompt, "the upstream API key (stdin)", key, sizeof key);
    if (rc == 0 && !*key)
      rc = gw_usage(g, "no upstream API key on stdin: pipe it in (printf '%%s\\n' \"$KEY\" | "
                    "gwctl channel add ...) or give --no-key");
  }
  if (rc == 0)
    rc = gw_begin(g);
  if (rc == 0) {
    c.name = name;
    c.type = type;
    c.base_url = url;
    c.models = model_list;
    c.group = group_list;
    c.model_map = map;
    c.key = key;
    rc = gw_end(g, channel_insert(g, &c, &id));
  }
  OPENSSL_cleanse(key, sizeof key);
  free(map);
  if (rc != 0)
    return rc;
  if (!g->json) {
    printf("%" PRId64 "\n", id);
    return GW_OK;
  }
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddNumberToObject(o, "id", (double)id)
           && cJSON_AddStringToObject(o, "name", name) && out_json(o) == 0;
  cJSON_Delete(o);
  return ok ? GW_OK : gw_err(GW_FAIL, "out of memory");
}

static int channel_query(struct gwctl *g, int64_t id, int json)
{
  struct db_stmt *st = db_prepare(g->db, id ? "SELECT " CHANNEL_COLS " FROM channels WHERE id = ?1"
                                            : "SELECT " CHANNEL_COLS " FROM channels ORDER BY id");
  if (!st)
    return gw_dberr(g, "cannot read channels");
  cJSON *rows = cJSON_CreateArray();
  enum db_step_result r = id && db_bind_int64(st, 1, id) != 0 ? DB_ERROR : DB_DONE;
  while (rows && r != DB_ERROR && (r = db_step(st)) == DB_ROW) {
    cJSON *o = channel_row(st);
    if (!o || !cJSON_AddItemToArray(rows, o)) {
      cJSON_Delete(o);
      cJSON_Delete(rows);
      rows = NULL;
    }
  }
  db_finalize(st);
  int rc = 0;
  if (r == DB_ERROR)
    rc = gw_dberr(g, "cannot read channels");
  else if (!rows)
    rc = gw_err(GW_FAIL, "out of memory");
  else if (id && cJSON_GetArraySize(rows) == 0)
    rc = gw_err(GW_NOTFOUND, "channel %" PRId64 " is gone", id);
  else if (id && out_object(json, cJSON_GetArrayItem(rows, 0), channel_show_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  else if (!id && out_list(json, rows, channel_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

int cmd_channel_list(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  return channel_query(g, 0, g->json);
}

int cmd_channel_show(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int64_t id = 0;
  int rc = gw_args(g, argc, argv, NULL, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = channel_find(g, ref, &id)) != 0)
    return rc;
  return channel_query(g, id, g->json);
}
