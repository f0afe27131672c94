/*
 * gwctl channel: add, list, show, edit, enable, disable, rm upstream channels (table channels), one
 * by name or id or every one with a tag; test and models call the upstream itself; types prints the
 * provider table (provider.h: defaults, auth, endpoints). A preset's default base URL comes from
 * that table (cloudflare's with --account-id); keyless types (ollama, vllm) may have no key; a
 * vertex channel's key is a whole service-account JSON (gcpauth.h), its region and project in other
 * (vertexapi.h), and its test fetches an access token first.
 *
 * Callers: the command table in main.c.
 * Upstream keys are stored sealed with the master key (secret.h): add and edit seal, test and models
 * open them for the call, show/list --reveal open them for display.
 * Never: takes the upstream key from argv (it comes from stdin), prints or logs it unless --reveal
 * asks (list and show otherwise only say whether one is set), or stores it in clear.
 */
#include "gwctl.h"
#include "i18n.h"
#include "cmd_channel.h"
#include "channels.h"
#include "gcpauth.h"
#include "output.h"
#include "rules.h"
#include "provider.h"
#include "secret.h"
#include "sigv4.h"
#include "util.h"
#include "upbalance.h"
#include "vertexapi.h"

#include <ctype.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The types a channel may have, their default base URLs, auth headers and URL rules: provider.h. */
#define URL_MAX 2048
#define MODEL_NAME_MAX 128

#define CHANNEL_COLS "id, name, type, status, base_url, models, \"group\", model_mapping, " \
                     "priority, weight, key <> '', used_quota, created_time, test_time, " \
                     "response_time, tag, other, max_concurrency, auto_disable, status_reason, " \
                     "status_time, test_model, rpm, tpm"

/* Opens a stored channel key into out. 0, or GW_FAIL after printing why (never the value). */
static int open_key(const struct secret_key *k, int64_t id, const char *stored, char *out,
                    size_t outlen)
{
  char err[400];
  char *plain = secret_open(k, stored, err, sizeof err);
  if (!plain)
    return gw_err(GW_FAIL, "channel %" PRId64 ": cannot decrypt its upstream key: %s", id, err);
  int fits = snprintf(out, outlen, "%s", plain) < (int)outlen;
  secret_free(plain);
  return fits ? 0 : gw_err(GW_FAIL, "channel %" PRId64 ": upstream key too long", id);
}

static const char *channel_status_name(int64_t status)
{
  switch (status) {
  case STATUS_ENABLED: return "enabled";
  case STATUS_DISABLED: return "disabled";
  case STATUS_AUTO_DISABLED: return "auto-disabled";
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
  cJSON_AddNumberToObject(o, "response_time", (double)db_col_int64(st, 14));
  cJSON_AddStringToObject(o, "tag", db_col_text(st, 15));
  const char *other = db_col_text(st, 16);
  cJSON *oj = *other ? cJSON_Parse(other) : cJSON_CreateObject();
  if (!cJSON_IsObject(oj)) {
    cJSON_Delete(oj);
    oj = cJSON_CreateString(other);
  }
  cJSON_AddItemToObject(o, "other", oj);
  cJSON_AddNumberToObject(o, "max_concurrency", (double)db_col_int64(st, 17));
  cJSON_AddBoolToObject(o, "auto_disable", db_col_int64(st, 18) != 0);
  /* why relayd disabled it (empty unless auto-disabled) */
  cJSON_AddStringToObject(o, "status_reason", db_col_int64(st, 3) == STATUS_AUTO_DISABLED ? db_col_text(st, 19) : "");
  cJSON_AddNumberToObject(o, "status_time", (double)db_col_int64(st, 20));
  cJSON_AddStringToObject(o, "test_model", db_col_text(st, 21));
  cJSON_AddNumberToObject(o, "rpm", (double)db_col_int64(st, 22));   /* channel limits (migration 015) */
  cJSON_AddNumberToObject(o, "tpm", (double)db_col_int64(st, 23));
  if (cJSON_GetArraySize(o) != 24) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* "12.34 USD": a channel's last upstream balance (table channel_balances), "-" when never read. */
static void render_balance(const cJSON *row, char *buf, size_t len)
{
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(row, "balance");
  const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "balance_currency"));
  if (cJSON_IsNumber(b))
    snprintf(buf, len, "%.2f %s", b->valuedouble, c ? c : "");
  else
    snprintf(buf, len, "-");
}

static const struct out_col channel_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "type", "TYPE", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "priority", "PRIORITY", OUT_PLAIN, 0, NULL },
  { "weight", "WEIGHT", OUT_PLAIN, 0, NULL },
  { "tag", "TAG", OUT_PLAIN, 0, NULL },
  { "group", "GROUP", OUT_PLAIN, 30, NULL },
  { "models", "MODELS", OUT_PLAIN, 40, NULL },
  { "base_url", "BASE_URL", OUT_PLAIN, 0, NULL },
  { "balance", "BALANCE", OUT_PLAIN, 0, render_balance },
  { "max_concurrency", "MAXCONC", OUT_PLAIN, 0, NULL },
  { "models_without_price", "NO_PRICE", OUT_PLAIN, 40, NULL },
  { "status_reason", "REASON", OUT_PLAIN, 80, NULL },
  { 0 },
};

static const struct out_col channel_show_cols[] = {
  { "created_time", NULL, OUT_TIME, 0, NULL },
  { "balance_time", NULL, OUT_TIME, 0, NULL },
  { "test_time", NULL, OUT_TIME, 0, NULL },
  { "status_time", NULL, OUT_TIME, 0, NULL },
  { 0 },
};

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
                  gw_json_type(m));
    goto out;
  }
  const cJSON *it = NULL;
  switch (rule_model_map(m, &it)) {
  case RULE_MAP_EMPTY_NAME:
    rc = gw_usage(g, "--model-map has an empty model name as a key");
    goto out;
  case RULE_MAP_NOT_STRING:
    rc = gw_usage(g, "--model-map: the value for '%s' must be a string (the upstream model), "
                  "not %s", it->string, gw_json_type(it));
    goto out;
  case RULE_MAP_EMPTY_TARGET:
    rc = gw_usage(g, "--model-map: the value for '%s' is an empty string", it->string);
    goto out;
  case RULE_MAP_TWICE:
    rc = gw_usage(g, "--model-map names '%s' twice", it->string);
    goto out;
  default:
    break;
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
  switch (rule_base_url(url, out, outlen)) {
  case RULE_URL_SCHEME:
    return gw_usage(g, "--base-url must start with http:// or https://, not '%s'", url);
  case RULE_URL_NO_HOST:
    return gw_usage(g, "--base-url '%s' has no host", url);
  case RULE_URL_TOO_LONG:
    return gw_usage(g, "--base-url is longer than %zu bytes", outlen - 1);
  case RULE_URL_BLANKS:
    return gw_usage(g, "--base-url may not contain blanks or control characters");
  default:
    return 0;
  }
}

/* One item: no blanks, commas or control characters. */
static int check_word(struct gwctl *g, const char *opt, const char *s)
{
  char norm[GW_NAME_MAX + 2];
  int n = 0;
  int rc = gw_norm_list(g, opt, s, GW_NAME_MAX, norm, sizeof norm, &n);
  if (rc == 0 && (n != 1 || strcmp(norm, s) != 0))
    rc = gw_usage(g, "%s: '%s' may not contain blanks or commas", opt, s);
  return rc;
}

static int check_type(struct gwctl *g, const char *type)
{
  if (provider_find(type))
    return 0;
  return gw_usage(g, "unknown channel type '%s' (supported: %s)", type, provider_type_list());
}

/* The models of a channel (a JSON array of names) that have no price: relayd refuses them with 403
 * model_price_unset (it looks the price up by the name the client asks for, the channel's model).
 * NULL when out of memory or the database fails (after printing). */
static cJSON *unpriced_models(struct gwctl *g, const cJSON *models)
{
  cJSON *out = cJSON_CreateArray();
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    const char *name = cJSON_GetStringValue(m);
    int64_t one = 0;
    int r = name ? gw_scalar(g, "cannot read prices", "SELECT 1 FROM prices WHERE model = ?1", &one,
                             "s", name) : 1;
    if (r < 0) {
      cJSON_Delete(out);
      return NULL;
    }
    if (r == 0 && out)
      cJSON_AddItemToArray(out, cJSON_CreateString(name));
  }
  return out;
}

/* Warns (exit status unchanged) about the models of a comma list without a price. */
static void warn_unpriced(struct gwctl *g, const char *list)
{
  cJSON *models = gw_csv_array(list), *missing = unpriced_models(g, models);
  char *names = NULL;
  if (missing && cJSON_GetArraySize(missing) > 0) {
    size_t len = 1, used = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, missing) len += strlen(m->valuestring) + 2;
    if ((names = malloc(len)))
      cJSON_ArrayForEach(m, missing)
        used += (size_t)snprintf(names + used, len - used, "%s%s", used ? ", " : "", m->valuestring);
    gw_err(GW_OK, "warning: no price for %s: relayd refuses %s (403 model_price_unset) until "
           "one is set: gwctl price set MODEL --ratio R (1 = 2 USD per 1M prompt tokens) or "
           "--price USD (per call); see gwctl price list",
           names ? names : "some models", cJSON_GetArraySize(missing) == 1 ? "it" : "them");
  }
  free(names);
  cJSON_Delete(missing);
  cJSON_Delete(models);
}

/* More keys after the first on stdin (not a terminal: one line is read there) make the channel a
 * key pool (gwctl/channels.h): they are read here, one a line. */
static int more_keys(struct gwctl *g, char ***keys, size_t *n)
{
  *keys = NULL;
  *n = 0;
  if (isatty(STDIN_FILENO))
    return 0;
  return gw_read_keys(g, stdin, POOL_KEYS_MAX - 1, keys, n);
}

/* --key-mode: how a key pool chooses its key (relayd/keypool.h). */
static int check_key_mode(struct gwctl *g, const char *m)
{
  if (rule_word(rule_key_modes, m) < 0)
    return gw_usage(g, "--key-mode must be random, round-robin or sticky, not '%s'", m);
  return 0;
}

/* Channels may name groups that do not exist yet (they serve nobody until the group exists). */
static void warn_unknown_groups(struct gwctl *g, const char *list)
{
  while (*list) {
    size_t len = strcspn(list, ",");
    char item[GW_NAME_MAX + 1];
    int64_t one = 0;
    snprintf(item, sizeof item, "%.*s", (int)len, list);
    if (gw_scalar(g, "cannot look up the group", "SELECT 1 FROM groups WHERE name = ?1", &one, "s",
                  item) == 0)
      gw_err(GW_OK, "warning: no group named '%s' yet: the channel serves it once it exists "
             "(gwctl group set %s --ratio R)", item, item);
    list += len;
    if (*list == ',')
      list++;
  }
}

/* other (type-specific JSON) with api_version set when given; caller frees *out. */
static int make_other(struct gwctl *g, const char *old, const char *api_version, char **out)
{
  (void)g;
  cJSON *o = old && *old ? cJSON_Parse(old) : NULL;
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    o = cJSON_CreateObject();
  }
  if (api_version) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, "api_version");
    if (*api_version && !cJSON_AddStringToObject(o, "api_version", api_version)) {
      cJSON_Delete(o);
      return gw_err(GW_FAIL, "out of memory");
    }
  }
  *out = o && o->child ? cJSON_PrintUnformatted(o) : strdup("");
  cJSON_Delete(o);
  return *out ? 0 : gw_err(GW_FAIL, "out of memory");
}

/* other with "region" set (a bedrock channel's; the key's own region comes first); *other is
 * replaced (the caller frees it). */
static int other_set_region(struct gwctl *g, const char *region, char **other)
{
  (void)g;
  cJSON *o = *other && **other ? cJSON_Parse(*other) : cJSON_CreateObject();
  if (!cJSON_IsObject(o) || !cJSON_AddStringToObject(o, "region", region)) {
    cJSON_Delete(o);
    return gw_err(GW_FAIL, "out of memory");
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s)
    return gw_err(GW_FAIL, "out of memory");
  free(*other);
  *other = s;
  return 0;
}

/* A service-account key (a vertex channel's) from stdin: the whole JSON, over any number of lines,
 * checked (gcpauth.h) and stored compact in key (one line, as every other key); the project it
 * names, when usable, into project (else ""). 0, or a usage error (key wiped). */
static int read_service_account(struct gwctl *g, char *key, size_t keylen, char *project, size_t projectlen)
{
  size_t n = 0;
  int c;
  project[0] = '\0';
  if (isatty(STDIN_FILENO))
    fputs(_("paste the service-account key (JSON), then Ctrl-D: "), stderr);
  while ((c = getc(stdin)) != EOF) {
    if (n + 1 >= keylen) {
      OPENSSL_cleanse(key, keylen);
      return gw_usage(g, "the service-account key on stdin is longer than %zu bytes", keylen - 1);
    }
    key[n++] = (char)c;
  }
  key[n] = '\0';
  struct gcp_sa sa;
  char err[300];
  int ok = gcp_sa_parse(key, &sa, err, sizeof err) == 0;
  gcp_sa_free(&sa);
  if (!ok) {
    OPENSSL_cleanse(key, keylen);
    return gw_usage(g, "a vertex channel's key is a Google Cloud service-account key (JSON) on stdin: %s", err);
  }
  if (vertex_name_ok(sa.project_id))
    snprintf(project, projectlen, "%.*s", VERTEX_NAME_MAX, sa.project_id);
  cJSON *j = cJSON_Parse(key);
  char *compact = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  OPENSSL_cleanse(key, keylen);
  if (!compact || strlen(compact) >= keylen) {
    if (compact)
      OPENSSL_cleanse(compact, strlen(compact));
    cJSON_free(compact);
    return gw_usage(g, "the service-account key on stdin is longer than %zu bytes", keylen - 1);
  }
  memcpy(key, compact, strlen(compact) + 1);
  OPENSSL_cleanse(compact, strlen(compact));
  cJSON_free(compact);
  return 0;
}

/* A vertex channel's other JSON: old (may be NULL or "") with region and project set where given
 * (NULL: kept). *out malloc'd; 0, or GW_FAIL. */
static int vertex_other_json(const char *old, const char *region, const char *project, char **out)
{
  cJSON *o = old && *old ? cJSON_Parse(old) : NULL;
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    o = cJSON_CreateObject();
  }
  const char *set[2][2] = { { "region", region }, { "project", project } };
  for (int i = 0; o && i < 2; i++) {
    if (!set[i][1])
      continue;
    cJSON_DeleteItemFromObjectCaseSensitive(o, set[i][0]);
    if (!cJSON_AddStringToObject(o, set[i][0], set[i][1])) {
      cJSON_Delete(o);
      o = NULL;
    }
  }
  *out = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  return *out ? 0 : gw_err(GW_FAIL, "out of memory");
}

struct channel_new {
  const char *name, *type, *base_url, *models, *group, *model_map, *key, *tag, *other, *key_mode;
  char **more_keys;             /* keys 2.. of a key pool (NULL: one key) */
  size_t nmore;
  int64_t priority, weight;
};

/* The fields add and edit both take, checked the same way and in the same order (an absent one,
 * NULL, is not checked: edit leaves it as it is): --models and --group normalized into their lists,
 * --priority and --weight in range, --tag a name, --api-version a word. */
struct channel_fields {
  const char *models, *prio_s, *weight_s, *group, *tag, *api_version;
  char model_list[GW_LIST_MAX], group_list[GW_LIST_MAX];
  int64_t prio, weight;
};

static int check_fields(struct gwctl *g, struct channel_fields *f)
{
  int rc = 0, nmodels = 0, ngroups = 0;
  if (rc == 0 && f->models)
    rc = gw_norm_list(g, "--models", f->models, MODEL_NAME_MAX, f->model_list, sizeof f->model_list,
                      &nmodels);
  if (rc == 0 && f->models && nmodels == 0)
    rc = gw_usage(g, "--models needs at least one model name");
  if (rc == 0 && f->prio_s)
    rc = gw_parse_int(g, "--priority", f->prio_s, -RULE_PRIORITY_MAX, RULE_PRIORITY_MAX, &f->prio);
  if (rc == 0 && f->weight_s)
    rc = gw_parse_int(g, "--weight", f->weight_s, 0, RULE_WEIGHT_MAX, &f->weight);
  if (rc == 0 && f->group)
    rc = gw_norm_list(g, "--group", f->group, GW_NAME_MAX, f->group_list, sizeof f->group_list, &ngroups);
  if (rc == 0 && f->group && ngroups == 0)
    rc = gw_usage(g, "--group needs at least one group name");
  if (rc == 0 && f->tag && *f->tag)
    rc = gw_check_name(g, "--tag", f->tag);
  if (rc == 0 && f->api_version && *f->api_version)
    rc = check_word(g, "--api-version", f->api_version);
  return rc;
}

/* --project and --region of a vertex channel (and --region of a regional type): names Google and AWS
 * accept, checked before anything else reads them. */
static int check_vertex_names(struct gwctl *g, const char *project, const char *region)
{
  if (project && !vertex_name_ok(project))
    return gw_usage(g, "--project: '%s' is not a Google Cloud project id (lowercase letters, digits and '-')",
                    project);
  if (region && !vertex_name_ok(region))
    return gw_usage(g, "--region: '%s' is not a region name (lowercase letters, digits and '-')", region);
  return 0;
}

static int channel_insert(struct gwctl *g, const struct channel_new *c, int64_t *id)
{
  const struct gw_channel_row row = { .type = c->type, .name = c->name, .base_url = c->base_url,
                                      .models = c->models, .group = c->group, .model_map = c->model_map,
                                      .tag = c->tag, .other = c->other, .status = STATUS_ENABLED,
                                      .priority = c->priority, .weight = c->weight };
  int rc = gw_channel_insert(g, &row, c->key, id);
  if (rc != 0)
    return rc;
  if (c->key_mode && (rc = gw_exec(g, "cannot add the channel", "UPDATE channels SET key_mode = ?2 WHERE id = ?1",
                                   "is", *id, c->key_mode)) != 0)
    return rc;
  /* several keys: a key pool, the first key its key 1 */
  if (c->nmore && (rc = gw_pool_add(g, *id, c->more_keys, c->nmore, NULL)) != 0)
    return rc;
  warn_unknown_groups(g, c->group);
  warn_unpriced(g, c->models);
  struct gw_subject s = { .channel_id = *id };
  return gw_log_manage(g, &s, "channel add %s type=%s models=%s group=%s priority=%" PRId64
                       " weight=%" PRId64 "%s%s%s%s%s%s keys=%zu%s%s", c->name, c->type, c->models, c->group,
                       c->priority, c->weight, *c->model_map ? " model_map=" : "", c->model_map,
                       *c->tag ? " tag=" : "", c->tag, *c->other ? " other=" : "", c->other,
                       (*c->key ? 1 : 0) + c->nmore, c->key_mode ? " key_mode=" : "", c->key_mode ? c->key_mode : "");
}

int cmd_channel_add(struct gwctl *g, int argc, char **argv)
{
  const char *name = NULL, *type = NULL, *base = NULL, *models = NULL, *prio_s = "0",
             *weight_s = "0", *group = "default", *map_s = NULL, *tag = "", *api_version = NULL,
             *account = NULL, *key_mode = NULL, *region = NULL, *project = NULL;
  char **more = NULL;
  size_t nmore = 0;
  int no_key = 0;
  const struct gw_opt opts[] = {
    { "name", &name, NULL },
    { "type", &type, NULL },
    { "base-url", &base, NULL },
    { "models", &models, NULL },
    { "priority", &prio_s, NULL },
    { "weight", &weight_s, NULL },
    { "group", &group, NULL },
    { "model-map", &map_s, NULL },
    { "tag", &tag, NULL },
    { "api-version", &api_version, NULL },
    { "account-id", &account, NULL },
    { "key-mode", &key_mode, NULL },
    { "region", &region, NULL },
    { "project", &project, NULL },
    { "no-key", NULL, &no_key },
    { 0 },
  };
  char url[URL_MAX], defurl[URL_MAX], err[300];
  char key[UPSTREAM_KEY_MAX + 1] = "", prompt[128];
  char *map = NULL, *other = NULL;
  struct channel_new c = { 0 };
  int64_t id = 0;

  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && !name)
    rc = gw_usage(g, "missing --name N");
  if (rc == 0 && !type)
    rc = gw_usage(g, "missing --type T (one of: %s)", provider_type_list());
  if (rc == 0 && !models)
    rc = gw_usage(g, "missing --models M1,M2");
  if (rc == 0)
    rc = gw_check_name(g, "channel name", name);
  if (rc == 0)
    rc = check_type(g, type);
  const struct provider *p = rc == 0 ? provider_find(type) : NULL;
  bool sa_key = rc == 0 && p->auth == AUTH_GOOGLE_SA;   /* vertex: a service-account key */
  if (rc == 0 && !sa_key && project)
    rc = gw_usage(g, "--project is for vertex channels only");
  if (rc == 0 && sa_key && no_key)
    rc = gw_usage(g, "a vertex channel needs its service-account key on stdin: --no-key does not apply");
  if (rc == 0)
    rc = check_vertex_names(g, project, region);
  if (rc == 0 && sa_key && !base && vertex_default_base(region ? region : VERTEX_DEFAULT_REGION, defurl,
                                                       sizeof defurl) == 0)
    base = defurl;           /* the region's endpoint (vertexapi.h) */
  if (rc == 0 && base && account)
    rc = gw_usage(g, "give --base-url URL or --account-id ID, not both");
  if (rc == 0 && region && !p->region_url && !sa_key)
    rc = gw_usage(g, "--region is for a channel whose URL names its region (bedrock), not a %s channel", type);
  /* a regional type (bedrock): its URL from --region unless --base-url names one */
  if (rc == 0 && region && !sa_key && provider_region_base(p, region, defurl, sizeof defurl, err, sizeof err) < 0)
    rc = gw_usage(g, "--region: %s", err);
  else if (rc == 0 && !base && p->region_url && !region)
    rc = gw_usage(g, "missing --region R (us-east-1, ...): a %s channel's URL names its region, or give "
                  "--base-url URL", type);
  else if (rc == 0 && !base && region)
    base = defurl;
  if (rc == 0 && !base && !p->base_url)
    rc = gw_usage(g, "missing --base-url URL: a%s %s channel has no default (%s do)",
                  strchr("aeiou", type[0]) ? "n" : "", type, provider_default_list());
  else if (rc == 0 && !base && provider_needs_account(p) && !account)
    rc = gw_usage(g, "missing --account-id ID: a %s channel's URL names the account (%s), or give "
                  "--base-url URL", type, p->base_url);
  else if (rc == 0 && !base && provider_default_base(p, account, defurl, sizeof defurl, err, sizeof err) < 0)
    rc = gw_usage(g, "--account-id: %s", err);
  else if (rc == 0 && !base)
    base = defurl;
  if (rc == 0)
    rc = check_base_url(g, base, url, sizeof url);
  struct channel_fields f = { .models = models, .prio_s = prio_s, .weight_s = weight_s, .group = group,
                              .tag = tag, .api_version = api_version };
  if (rc == 0)
    rc = check_fields(g, &f);
  if (rc == 0 && key_mode)
    rc = check_key_mode(g, key_mode);
  if (rc == 0)
    rc = map_s ? parse_model_map(g, map_s, &map) : ((map = strdup("")) ? 0 : GW_FAIL);
  if (rc == 0 && !sa_key)
    rc = make_other(g, NULL, api_version, &other);
  if (rc == 0 && region && !sa_key)
    rc = other_set_region(g, region, &other);
  char key_project[VERTEX_NAME_MAX + 1] = "";
  if (rc == 0 && sa_key)
    rc = read_service_account(g, key, sizeof key, key_project, sizeof key_project);
  if (rc == 0 && sa_key && !project && !*key_project) {
    OPENSSL_cleanse(key, sizeof key);
    rc = gw_usage(g, "the service-account key names no usable project_id: give --project P");
  }
  if (rc == 0 && sa_key)
    rc = vertex_other_json(NULL, region ? region : VERTEX_DEFAULT_REGION, project ? project : key_project, &other);
  /* a keyless type (Ollama, vLLM) reads a key only from a pipe, and may have none */
  int key_optional = rc == 0 && p->key == KEY_OPTIONAL;
  if (key_optional && isatty(STDIN_FILENO))
    no_key = 1;
  if (rc == 0 && !no_key && !sa_key) {
    snprintf(prompt, sizeof prompt, "upstream API key for channel %s: ", name);
    rc = gw_read_secret(stdin, prompt, "the upstream API key (stdin)", key, sizeof key);
    if (rc == 0 && !*key && !key_optional)
      rc = gw_usage(g, "no upstream API key on stdin: pipe it in (printf '%%s\\n' \"$KEY\" | "
                    "gwctl channel add ...) or give --no-key");
    if (rc == 0 && *key)
      rc = more_keys(g, &more, &nmore);
    struct sigv4_creds cr;   /* a signed type's key: its shape and region are checked now */
    if (rc == 0 && p->auth == AUTH_SIGV4 && sigv4_creds_parse(key, region, &cr, err, sizeof err) < 0)
      rc = gw_usage(g, "%s", err);
    for (size_t i = 0; rc == 0 && p->auth == AUTH_SIGV4 && i < nmore; i++)
      if (sigv4_creds_parse(more[i], region, &cr, err, sizeof err) < 0)
        rc = gw_usage(g, "%s", err);
    OPENSSL_cleanse(&cr, sizeof cr);
  }
  if (rc == 0)
    rc = gw_begin(g);
  if (rc == 0) {
    c.name = name;
    c.type = type;
    c.base_url = url;
    c.models = f.model_list;
    c.group = f.group_list;
    c.priority = f.prio;
    c.weight = f.weight;
    c.model_map = map;
    c.key = key;
    c.tag = tag;
    c.other = other;
    c.key_mode = key_mode;
    c.more_keys = more;
    c.nmore = nmore;
    rc = gw_end(g, channel_insert(g, &c, &id));
  }
  OPENSSL_cleanse(key, sizeof key);
  gw_keys_free(more, nmore);
  free(map);
  free(other);
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

static const struct out_col channel_reveal_cols[] = {
  { "id", "ID", OUT_PLAIN, 0, NULL },
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "type", "TYPE", OUT_PLAIN, 0, NULL },
  { "status", "STATUS", OUT_PLAIN, 0, NULL },
  { "base_url", "BASE_URL", OUT_PLAIN, 0, NULL },
  { "key", "KEY", OUT_PLAIN, 0, NULL },
  { 0 },
};

/* channel show: the channel's fields, then its keys (gwctl channel key list's rows: one key, or its
 * key pool with the live counters of each key), in JSON under "keys". */
static int show_one(struct gwctl *g, int json, int64_t id, cJSON *row)
{
  cJSON *keys = gw_pool_rows(g, id);
  if (!keys)
    return GW_FAIL;
  int64_t n = cJSON_GetArraySize(keys);
  struct db_stmt *st = gw_prepare(g, "cannot read the channel", "SELECT key_mode FROM channels WHERE id = ?1", "i", id);
  if (st && db_step(st) == DB_ROW)
    cJSON_AddStringToObject(row, "key_mode", db_col_text(st, 0));
  db_finalize(st);
  if (json) {
    cJSON_AddItemToObject(row, "keys", keys);
    return out_object(1, row, channel_show_cols) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
  }
  int rc = out_object(0, row, channel_show_cols) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
  if (rc == 0 && n) {
    printf("\n");
    rc = out_list(0, keys, gw_pool_cols) == 0 ? 0 : gw_err(GW_FAIL, "out of memory");
  }
  cJSON_Delete(keys);
  return rc;
}

/* Adds each row's last upstream balance (table channel_balances, migration 016): "balance" (a number,
 * null when never read), "balance_currency" and "balance_time". 0 or GW_FAIL after printing. */
static int attach_balances(struct gwctl *g, cJSON *rows)
{
  struct db_stmt *st = gw_prepare(g, "cannot read channel balances",
                                  "SELECT channel_id, balance, currency, updated_time FROM channel_balances", "");
  if (!st)
    return GW_FAIL;
  cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    cJSON_AddNullToObject(row, "balance");
    cJSON_AddStringToObject(row, "balance_currency", "");
    cJSON_AddNumberToObject(row, "balance_time", 0);
  }
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW) {
    double id = (double)db_col_int64(st, 0);
    cJSON_ArrayForEach(row, rows) {
      const cJSON *rid = cJSON_GetObjectItemCaseSensitive(row, "id");
      if (!cJSON_IsNumber(rid) || rid->valuedouble != id)
        continue;
      cJSON_ReplaceItemInObjectCaseSensitive(row, "balance", cJSON_CreateNumber(db_col_double(st, 1)));
      cJSON_ReplaceItemInObjectCaseSensitive(row, "balance_currency", cJSON_CreateString(db_col_text(st, 2)));
      cJSON_ReplaceItemInObjectCaseSensitive(row, "balance_time", cJSON_CreateNumber((double)db_col_int64(st, 3)));
    }
  }
  db_finalize(st);
  return r == DB_ERROR ? gw_dberr(g, "cannot read channel balances") : 0;
}

/* Shows channel id (id != 0), or lists those matching tag and status (NULL: any). reveal adds each
 * channel's upstream key in clear ("key"). */
static int channel_query(struct gwctl *g, int64_t id, const char *tag, const char *status, int json,
                         int reveal)
{
  struct secret_key k = { 0 };
  if (reveal) {
    int krc = gw_master_key(g, &k);
    if (krc != 0)
      return krc;
  }
  int64_t st_code = !status ? 0 : strcmp(status, "enabled") == 0 ? STATUS_ENABLED
                    : strcmp(status, "disabled") == 0 ? STATUS_DISABLED : STATUS_AUTO_DISABLED;
  struct db_stmt *st = gw_prepare(g, "cannot read channels",
      "SELECT " CHANNEL_COLS ", key FROM channels WHERE (?1 = 0 OR id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR tag = ?2) "
      "AND (?3 = 0 OR status = ?3 OR (?3 = " CODE_STR(STATUS_DISABLED) " AND status = "
      CODE_STR(STATUS_AUTO_DISABLED) ")) ORDER BY id", "isi", id, tag,
      st_code);
  if (!st) {
    secret_key_wipe(&k);
    return GW_FAIL;
  }
  cJSON *rows = cJSON_CreateArray();
  enum db_step_result r = DB_DONE;
  int krc = 0;
  while (rows && (r = db_step(st)) == DB_ROW) {
    cJSON *o = channel_row(st);
    if (o && reveal) {
      char err[400];
      /* key is the column after CHANNEL_COLS (24 of them) */
      char *plain = secret_open(&k, db_col_text(st, 24), err, sizeof err);
      if (!plain) {
        krc = gw_err(GW_FAIL, "channel %" PRId64 ": cannot decrypt its upstream key: %s",
                     db_col_int64(st, 0), err);
        cJSON_Delete(o);
        cJSON_Delete(rows);
        rows = NULL;
        break;
      }
      cJSON_AddStringToObject(o, "key", plain);
      secret_free(plain);
    }
    if (!o || !cJSON_AddItemToArray(rows, o)) {
      cJSON_Delete(o);
      cJSON_Delete(rows);
      rows = NULL;
    }
  }
  db_finalize(st);
  secret_key_wipe(&k);
  if (rows && krc == 0 && attach_balances(g, rows) != 0)
    krc = GW_FAIL;
  /* each row says which of its models have no price (relayd refuses those) */
  cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    cJSON *missing = unpriced_models(g, cJSON_GetObjectItemCaseSensitive(row, "models"));
    if (!missing) {
      if (krc == 0)
        krc = GW_FAIL;
      break;
    }
    cJSON_AddItemToObject(row, "models_without_price", missing);
  }
  int rc = 0;
  if (krc != 0)
    rc = krc;
  else if (r == DB_ERROR)
    rc = gw_dberr(g, "cannot read channels");
  else if (!rows)
    rc = gw_err(GW_FAIL, "out of memory");
  else if (id && cJSON_GetArraySize(rows) == 0)
    rc = gw_err(GW_NOTFOUND, "channel %" PRId64 " is gone", id);
  else if (id)
    rc = show_one(g, json, id, cJSON_GetArrayItem(rows, 0));
  else if (!id && out_list(json, rows, reveal ? channel_reveal_cols : channel_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

int cmd_channel_list(struct gwctl *g, int argc, char **argv)
{
  const char *tag = NULL, *status = NULL;
  int reveal = 0;
  const struct gw_opt opts[] = { { "tag", &tag, NULL }, { "status", &status, NULL },
                                 { "reveal", NULL, &reveal }, { 0 } };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc == 0 && status && strcmp(status, "enabled") && strcmp(status, "disabled") &&
      strcmp(status, "auto-disabled"))
    rc = gw_usage(g, "--status must be enabled, disabled or auto-disabled, not '%s'", status);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  return channel_query(g, 0, tag, status, g->json, reveal);
}

int cmd_channel_show(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int64_t id = 0;
  int reveal = 0;
  const struct gw_opt opts[] = { { "reveal", NULL, &reveal }, { 0 } };
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_channel_find(g, ref, &id, NULL, 0)) != 0)
    return rc;
  return channel_query(g, id, NULL, NULL, g->json, reveal);
}

static const struct out_col type_cols[] = {
  { "type", "TYPE", OUT_PLAIN, 0, NULL },
  { "api", "API", OUT_PLAIN, 0, NULL },
  { "auth", "AUTH", OUT_PLAIN, 0, NULL },
  { "key", "KEY", OUT_PLAIN, 0, NULL },
  { "endpoints", "ENDPOINTS", OUT_PLAIN, 0, NULL },
  { "base_url", "DEFAULT_BASE_URL", OUT_PLAIN, 0, NULL },
  { "probe_url", "PROBE_URL", OUT_PLAIN, 0, NULL },
  { 0 },
};

/* Every row of the provider table (provider.h): no database needed. */
int cmd_channel_types(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, (const struct gw_opt[]){ { 0 } }, NULL, NULL);
  if (rc != 0)
    return rc;
  cJSON *rows = cJSON_CreateArray();
  const struct provider *p;
  for (size_t i = 0; rows && (p = provider_at(i)); i++) {
    char endpoints[64], path[256], probe[URL_MAX + 512] = "", err[256];
    provider_endpoints(p, endpoints, sizeof endpoints);
    /* where channel test's probe goes from the default base (the account placeholder left in) */
    char *body = p->base_url ? provider_probe(p, "MODEL", path, sizeof path, err, sizeof err) : NULL;
    if (body && provider_url(p, p->base_url, AZURE_DEFAULT_API_VERSION, path, "MODEL", probe, sizeof probe, err,
                             sizeof err) < 0)
      probe[0] = '\0';
    cJSON_free(body);
    if (p->url == URLR_VERTEX)   /* vertexapi.h: the project and region are the channel's */
      snprintf(probe, sizeof probe, "%s/v1/projects/PROJECT/locations/REGION/publishers/google/models/"
               "MODEL:generateContent", p->base_url);
    cJSON *o = cJSON_CreateObject();   /* owned here until rows takes it */
    int ok = o && cJSON_AddStringToObject(o, "type", p->name) &&
             cJSON_AddStringToObject(o, "api", provider_api_name(p)) &&
             cJSON_AddStringToObject(o, "auth", provider_auth_name(p)) &&
             cJSON_AddStringToObject(o, "key", p->key == KEY_OPTIONAL ? "optional" : "required") &&
             cJSON_AddItemToObject(o, "endpoints", gw_csv_array(endpoints)) &&
             cJSON_AddStringToObject(o, "url_rule", provider_rule_name(p)) &&
             cJSON_AddStringToObject(o, "base_url", p->base_url ? p->base_url : "") &&
             cJSON_AddStringToObject(o, "probe_url", probe) &&
             cJSON_AddStringToObject(o, "balance", upbalance_kind_name(p->balance)) &&
             cJSON_AddBoolToObject(o, "account_id", provider_needs_account(p)) && cJSON_AddItemToArray(rows, o);
    if (!ok) {
      cJSON_Delete(o);
      cJSON_Delete(rows);
      rows = NULL;
    }
  }
  if (!rows || out_list(g->json, rows, type_cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

/* ---- changes ------------------------------------------------------------------------------------- */

/* The channels a command acts on: the one named ref, or every one tagged tag. Fills ids (caller
 * frees) and n; a single channel's name goes into name. */
static int select_channels(struct gwctl *g, const char *ref, const char *tag, int64_t **ids,
                           size_t *n, char *name, size_t namelen)
{
  *ids = NULL;
  *n = 0;
  if (ref) {
    int64_t id = 0;
    int rc = gw_channel_find(g, ref, &id, name, namelen);
    if (rc != 0)
      return rc;
    if (!(*ids = malloc(sizeof **ids)))
      return gw_err(GW_FAIL, "out of memory");
    (*ids)[(*n)++] = id;
    return 0;
  }
  struct db_stmt *st = gw_prepare(g, "cannot read channels",
                                  "SELECT id FROM channels WHERE tag = ?1 ORDER BY id", "s", tag);
  if (!st)
    return GW_FAIL;
  size_t cap = 0;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      int64_t *nids = realloc(*ids, cap * sizeof *nids);
      if (!nids) {
        db_finalize(st);
        return gw_err(GW_FAIL, "out of memory");
      }
      *ids = nids;
    }
    (*ids)[(*n)++] = db_col_int64(st, 0);
  }
  db_finalize(st);
  if (r == DB_ERROR)
    return gw_dberr(g, "cannot read channels");
  if (*n == 0)
    return gw_err(GW_NOTFOUND, "no channel is tagged '%s'", tag);
  snprintf(name, namelen, "tag=%s", tag);
  return 0;
}

/* NAME|ID or --tag T, not both, not neither. */
static int one_or_tag(struct gwctl *g, const char *ref, const char *tag)
{
  if (ref && tag)
    return gw_usage(g, "give NAME|ID or --tag T, not both");
  if (!ref && !tag)
    return gw_usage(g, "missing NAME|ID (or --tag T for every channel with that tag)");
  if (tag && !*tag)
    return gw_usage(g, "--tag needs a tag");
  return 0;
}

/* channel edit's vertex part for channel id (new_type: --type, or NULL): --region and --project only
 * on a vertex channel, a service-account key only for one and one only for it; *other the channel's
 * other with region and project set (NULL when neither is given), and vbase the new region's
 * endpoint when the base is the old region's and no --base-url is given. 0, or an error. */
static int vertex_edit(struct gwctl *g, int64_t id, const char *new_type, const char *region, const char *project,
                       int key_stdin, bool sa_key, const char *key_project, bool base_given, char **other,
                       char *vbase, size_t vbaselen)
{
  struct db_stmt *st = gw_prepare(g, "cannot read the channel",
                                  "SELECT type, other, base_url FROM channels WHERE id = ?1", "i", id);
  if (!st)
    return GW_FAIL;
  int rc = 0;
  if (db_step(st) != DB_ROW) {
    db_finalize(st);
    return gw_dberr(g, "cannot read the channel");
  }
  const struct provider *p = provider_for_type(new_type ? new_type : db_col_text(st, 0));
  bool vertex = p->auth == AUTH_GOOGLE_SA;
  char old_region[VERTEX_NAME_MAX + 1], old_project[VERTEX_NAME_MAX + 1], old_base[URL_MAX] = "";
  vertex_other(db_col_text(st, 1), old_region, sizeof old_region, old_project, sizeof old_project);
  if (!vertex && (region || project))
    rc = gw_usage(g, "--region and --project are for vertex channels only");
  else if (!vertex && sa_key)
    rc = gw_usage(g, "a service-account key (JSON) is for vertex channels only");
  else if (vertex && key_stdin && !sa_key)
    rc = gw_usage(g, "a vertex channel's key is a Google Cloud service-account key (JSON) on stdin: %s",
                  "not a JSON object");
  else if (vertex && !project && !*old_project && key_stdin && !*key_project)
    rc = gw_usage(g, "the service-account key names no usable project_id: give --project P");
  if (rc == 0 && vertex && (region || project || (key_stdin && !*old_project)))
    rc = vertex_other_json(db_col_text(st, 1), region, project ? project : *old_project ? NULL : key_project, other);
  if (rc == 0 && vertex && region && !base_given &&
      vertex_default_base(*old_region ? old_region : VERTEX_DEFAULT_REGION, old_base, sizeof old_base) == 0 &&
      strcmp(old_base, db_col_text(st, 2)) == 0)
    vertex_default_base(region, vbase, vbaselen);     /* the base followed the region: it still does */
  db_finalize(st);
  return rc;
}

int cmd_channel_edit(struct gwctl *g, int argc, char **argv)
{
  static const char *const names[] = { "NAME|ID" };
  const char *pos[1] = { 0 }, *newname = NULL, *type = NULL, *base = NULL, *models = NULL,
             *prio_s = NULL, *weight_s = NULL, *group = NULL, *map_s = NULL, *tag = NULL,
             *new_tag = NULL, *api_version = NULL, *maxc_s = NULL, *autod_s = NULL, *test_model = NULL,
             *key_mode = NULL, *rpm_s = NULL, *tpm_s = NULL, *region = NULL, *project = NULL;
  int key_stdin = 0, autod = 1;
  bool sa_key = false;               /* --key-stdin read a service-account key (vertex) */
  int64_t maxc = 0, rpm = 0, tpm = 0;
  const struct gw_opt opts[] = {
    { "name", &newname, NULL },
    { "type", &type, NULL },
    { "base-url", &base, NULL },
    { "models", &models, NULL },
    { "priority", &prio_s, NULL },
    { "weight", &weight_s, NULL },
    { "group", &group, NULL },
    { "model-map", &map_s, NULL },
    { "tag", &tag, NULL },
    { "new-tag", &new_tag, NULL },
    { "api-version", &api_version, NULL },
    { "key-stdin", NULL, &key_stdin },
    { "max-concurrency", &maxc_s, NULL },
    { "concurrency", &maxc_s, NULL },     /* the same limit, named as the key limits' */
    { "rpm", &rpm_s, NULL },
    { "tpm", &tpm_s, NULL },
    { "auto-disable", &autod_s, NULL },
    { "test-model", &test_model, NULL },
    { "key-mode", &key_mode, NULL },
    { "region", &region, NULL },
    { "project", &project, NULL },
    { 0 },
  };
  char url[URL_MAX], name[GW_NAME_MAX + 8] = "";
  char key_project[VERTEX_NAME_MAX + 1] = "";
  char key[UPSTREAM_KEY_MAX + 1] = "", what[GW_LIST_MAX * 2 + 1024] = "";
  char *map = NULL;
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = gw_argv(g, argc, argv, opts, 0, 1, names, pos);
  const char *ref = pos[0], *set_tag = NULL;
  /* with NAME, --tag sets the tag; without, it selects the channels and --new-tag sets it */
  if (rc == 0 && ref && tag) {
    set_tag = tag;
    tag = NULL;
  }
  if (rc == 0 && new_tag) {
    if (set_tag)
      rc = gw_usage(g, "give --tag T or --new-tag T, not both");
    set_tag = new_tag;
  }
  if (rc == 0)
    rc = one_or_tag(g, ref, tag);
  if (rc == 0 && !newname && !type && !base && !models && !prio_s && !weight_s && !group && !map_s
      && !set_tag && !api_version && !key_stdin && !maxc_s && !autod_s && !test_model && !key_mode && !rpm_s
      && !tpm_s && !region && !project)
    rc = gw_usage(g, "nothing to change: give --name, --type, --base-url, --models, --priority, "
                  "--weight, --group, --model-map, --tag, --api-version, --key-stdin, "
                  "--max-concurrency, --rpm, --tpm, --auto-disable, --test-model, --key-mode, --region "
                  "or --project");
  if (rc == 0 && rpm_s)
    rc = gw_parse_int(g, "--rpm", rpm_s, 0, RULE_LIMIT_MAX, &rpm);
  if (rc == 0 && tpm_s)
    rc = gw_parse_int(g, "--tpm", tpm_s, 0, RULE_LIMIT_MAX, &tpm);
  if (rc == 0 && key_mode)
    rc = check_key_mode(g, key_mode);
  if (rc == 0)
    rc = check_vertex_names(g, project, region);
  if (rc == 0 && maxc_s)
    rc = gw_parse_int(g, "--max-concurrency", maxc_s, 0, RULE_CONCURRENCY_MAX, &maxc);
  if (rc == 0 && autod_s)
    rc = gw_parse_bool(g, "--auto-disable", autod_s, &autod);
  if (rc == 0 && test_model && *test_model)
    rc = gw_check_name(g, "--test-model", test_model);
  if (rc == 0 && newname && !ref)
    rc = gw_usage(g, "--name renames one channel: give NAME|ID, not --tag");
  if (rc == 0 && newname)
    rc = gw_check_name(g, "--name", newname);
  if (rc == 0 && type)
    rc = check_type(g, type);
  if (rc == 0 && base)
    rc = check_base_url(g, base, url, sizeof url);
  struct channel_fields f = { .models = models, .prio_s = prio_s, .weight_s = weight_s, .group = group,
                              .tag = set_tag, .api_version = api_version };
  if (rc == 0)
    rc = check_fields(g, &f);
  if (rc == 0 && map_s)
    rc = parse_model_map(g, map_s, &map);
  if (rc == 0 && key_stdin && !isatty(STDIN_FILENO)) {
    /* a JSON object on stdin is a service-account key (vertex), over any number of lines */
    int c;
    while ((c = getc(stdin)) != EOF && isspace(c))
      ;
    if (c != EOF)
      ungetc(c, stdin);
    sa_key = c == '{';
  }
  if (rc == 0 && key_stdin && sa_key) {
    rc = read_service_account(g, key, sizeof key, key_project, sizeof key_project);
  } else if (rc == 0 && key_stdin) {
    rc = gw_read_secret(stdin, "new upstream API key: ", "the upstream API key (stdin)", key,
                        sizeof key);
    if (rc == 0 && !*key)
      rc = gw_usage(g, "--key-stdin: no key on stdin");
    char **more = NULL;
    size_t nmore = 0;
    if (rc == 0 && (rc = more_keys(g, &more, &nmore)) == 0 && nmore)
      rc = gw_usage(g, "--key-stdin replaces the one key of a channel, and stdin holds %zu: add keys to "
                    "a key pool with gwctl channel key add NAME", nmore + 1);
    gw_keys_free(more, nmore);
  }
  if (rc == 0)
    rc = gw_begin(g);
  if (rc != 0) {
    OPENSSL_cleanse(key, sizeof key);
    free(map);
    return rc;
  }
  rc = select_channels(g, ref, tag, &ids, &n, name, sizeof name);
  if (rc == 0 && newname && strcmp(newname, name) != 0) {
    int64_t other = 0;
    int r = gw_scalar(g, "cannot rename the channel", "SELECT id FROM channels WHERE name = ?1",
                      &other, "s", newname);
    if (r < 0)
      rc = GW_FAIL;
    else if (r > 0)
      rc = gw_err(GW_CONFLICT, "channel '%s' already exists (id %" PRId64 ")", newname, other);
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *other = NULL;
    char vbase[URL_MAX] = "";
    if (region || project || key_stdin)
      rc = vertex_edit(g, ids[i], type, region, project, key_stdin, sa_key, key_project, base != NULL, &other,
                       vbase, sizeof vbase);
    if (rc != 0)
      break;
    if (api_version && !other) {
      struct db_stmt *st = gw_prepare(g, "cannot read the channel",
                                      "SELECT other FROM channels WHERE id = ?1", "i", ids[i]);
      if (!st) {
        rc = GW_FAIL;
        break;
      }
      rc = db_step(st) == DB_ROW ? make_other(g, db_col_text(st, 0), api_version, &other)
                                 : gw_dberr(g, "cannot read the channel");
      db_finalize(st);
      if (rc != 0)
        break;
    }
    rc = gw_exec(g, "cannot change the channel",
                 "UPDATE channels SET name = COALESCE(?2, name), type = COALESCE(?3, type), "
                 "base_url = COALESCE(?4, base_url), models = COALESCE(?5, models), "
                 "priority = CASE WHEN ?6 <> 0 THEN ?7 ELSE priority END, "
                 "weight = CASE WHEN ?8 <> 0 THEN ?9 ELSE weight END, "
                 "\"group\" = COALESCE(?10, \"group\"), model_mapping = COALESCE(?11, model_mapping), "
                 "tag = COALESCE(?12, tag), other = COALESCE(?13, other), "
                 "max_concurrency = CASE WHEN ?14 <> 0 THEN ?15 ELSE max_concurrency END, "
                 "auto_disable = CASE WHEN ?16 <> 0 THEN ?17 ELSE auto_disable END, "
                 "test_model = COALESCE(?18, test_model) "
                 "WHERE id = ?1",
                 "issssiiiissssiiiis", ids[i], newname, type, base ? url : *vbase ? vbase : NULL,
                 models ? f.model_list : NULL, (int64_t)(prio_s != NULL), f.prio,
                 (int64_t)(weight_s != NULL), f.weight, group ? f.group_list : NULL, map, set_tag, other,
                 (int64_t)(maxc_s != NULL), maxc, (int64_t)(autod_s != NULL), (int64_t)autod, test_model);
    int64_t pooled = 0;
    if (rc == 0 && key_stdin &&
        gw_scalar(g, "cannot read the key pool", "SELECT count(*) FROM channel_keys WHERE channel_id = ?1",
                  &pooled, "i", ids[i]) < 0)
      rc = GW_FAIL;
    if (rc == 0 && pooled)
      rc = gw_err(GW_CONFLICT, "channel %" PRId64 " has a key pool of %" PRId64 " keys: change its keys with "
                  "gwctl channel key add|remove", ids[i], pooled);
    if (rc == 0 && key_stdin)
      rc = gw_channel_set_key(g, ids[i], key);
    if (rc == 0 && (key_mode || rpm_s || tpm_s))
      rc = gw_channel_limits(g, ids[i], key_mode, rpm_s != NULL, rpm, tpm_s != NULL, tpm, 0, 0);
    free(other);
  }
  if (rc == 0 && group)
    warn_unknown_groups(g, f.group_list);
  if (rc == 0 && models)
    warn_unpriced(g, f.model_list);
  if (rc == 0) {
    size_t w = 0;
#define ADDW(...) (w += (size_t)snprintf(what + w, w < sizeof what ? sizeof what - w : 0, __VA_ARGS__))
    if (newname)
      ADDW(" name=%s", newname);
    if (type)
      ADDW(" type=%s", type);
    if (base)
      ADDW(" base_url=%s", url);
    if (models)
      ADDW(" models=%s", f.model_list);
    if (prio_s)
      ADDW(" priority=%" PRId64, f.prio);
    if (weight_s)
      ADDW(" weight=%" PRId64, f.weight);
    if (group)
      ADDW(" group=%s", f.group_list);
    if (map_s)
      ADDW(" model_map=%s", map);
    if (set_tag)
      ADDW(" tag=%s", set_tag);
    if (api_version)
      ADDW(" api_version=%s", api_version);
    if (region)
      ADDW(" region=%s", region);
    if (project)
      ADDW(" project=%s", project);
    if (key_stdin)
      ADDW(" key=changed");
    if (maxc_s)
      ADDW(" max_concurrency=%" PRId64, maxc);
    if (autod_s)
      ADDW(" auto_disable=%d", autod);
    if (test_model)
      ADDW(" test_model=%s", test_model);
    if (key_mode)
      ADDW(" key_mode=%s", key_mode);
    if (rpm_s)
      ADDW(" rpm=%" PRId64, rpm);
    if (tpm_s)
      ADDW(" tpm=%" PRId64, tpm);
#undef ADDW
    struct gw_subject s = { .channel_id = n == 1 ? ids[0] : 0 };
    rc = gw_log_manage(g, &s, "channel edit %s%s%s", name, n > 1 ? " (several)" : "", what);
  }
  OPENSSL_cleanse(key, sizeof key);
  free(map);
  free(ids);
  return gw_end(g, rc);
}

static int channel_status(struct gwctl *g, int argc, char **argv, int64_t status)
{
  static const char *const names[] = { "NAME|ID" };
  const char *pos[1] = { 0 }, *tag = NULL;
  int yes = 0;
  const struct gw_opt opts[] = { { "tag", &tag, NULL }, { "yes", NULL, &yes }, { 0 } };
  char name[GW_NAME_MAX + 8] = "", what[128];
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = gw_argv(g, argc, argv, opts, 0, 1, names, pos);
  if (rc == 0)
    rc = one_or_tag(g, pos[0], tag);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (tag && status == STATUS_DISABLED) {     /* a bulk disable asks first */
    if ((rc = select_channels(g, NULL, tag, &ids, &n, name, sizeof name)) != 0)
      return rc;
    free(ids);
    ids = NULL;
    snprintf(what, sizeof what, "disable %zu channel%s tagged %s", n, n == 1 ? "" : "s", tag);
    if ((rc = gw_confirm(g, yes, what)) != 0)
      return rc;
  }
  if ((rc = gw_begin(g)) != 0)
    return rc;
  rc = select_channels(g, pos[0], tag, &ids, &n, name, sizeof name);
  for (size_t i = 0; rc == 0 && i < n; i++)
    /* a parameter used once only: PostgreSQL deduces one type per parameter */
    rc = gw_exec(g, "cannot change the channel", "UPDATE channels SET status = ?2, "
                 "status_reason = CASE WHEN ?3 <> 0 THEN '' ELSE status_reason END WHERE id = ?1",
                 "iii", ids[i], status, (int64_t)(status == STATUS_ENABLED));
  struct gw_subject s = { .channel_id = n == 1 ? ids[0] : 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "channel %s %s%s", status == STATUS_ENABLED ? "enable" : "disable", name,
                       n > 1 ? " (several)" : "");
  free(ids);
  rc = gw_end(g, rc);
  if (rc == 0 && tag && !g->json)
    printf(status == STATUS_ENABLED ? ngettext("%zu channel enabled\n", "%zu channels enabled\n", n)
                                    : ngettext("%zu channel disabled\n", "%zu channels disabled\n", n), n);
  return rc;
}

int cmd_channel_enable(struct gwctl *g, int argc, char **argv)
{
  return channel_status(g, argc, argv, STATUS_ENABLED);
}

int cmd_channel_disable(struct gwctl *g, int argc, char **argv)
{
  return channel_status(g, argc, argv, STATUS_DISABLED);
}

int cmd_channel_rm(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL;
  int yes = 0;
  const struct gw_opt opts[] = { { "yes", NULL, &yes }, { 0 } };
  char name[GW_NAME_MAX + 1], what[128];
  int64_t id = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = gw_channel_find(g, ref, &id, name, sizeof name)))
    return rc;
  snprintf(what, sizeof what, "delete channel %s", name);
  if ((rc = gw_confirm(g, yes, what)) != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  rc = gw_channel_find(g, ref, &id, name, sizeof name);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the channel", "DELETE FROM channels WHERE id = ?1", "i", id);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the channel's keys", "DELETE FROM channel_keys WHERE channel_id = ?1", "i", id);
  if (rc == 0)   /* its last balance (migration 016): a channel added later under the same id starts bare */
    rc = gw_exec(g, "cannot delete the channel's balance", "DELETE FROM channel_balances WHERE channel_id = ?1", "i", id);
  struct gw_subject s = { .channel_id = id };
  if (rc == 0)
    rc = gw_log_manage(g, &s, "channel rm %s", name);
  return gw_end(g, rc);
}

/* ---- upstream calls (libcurl easy: gwctl is not the hot path) ----------------------------------- */

#define UPSTREAM_BODY_MAX (4 * 1024 * 1024)

struct upstream {
  char name[GW_NAME_MAX + 1], type[32], base[URL_MAX], models[GW_LIST_MAX], api_version[64];
  char region[VERTEX_NAME_MAX + 1], project[VERTEX_NAME_MAX + 1];   /* other.region (bedrock, vertex), other.project (vertex) */
  char model_map[GW_LIST_MAX];  /* model_mapping, the JSON object stored ("" when none) */
  char key[UPSTREAM_KEY_MAX + 1];
  int64_t id;
  const struct provider *p;     /* the type's row; an unknown stored type: openai's, as relayd */
};

static int upstream_load(struct gwctl *g, const char *ref, struct upstream *u)
{
  int rc = gw_channel_find(g, ref, &u->id, u->name, sizeof u->name);
  if (rc != 0)
    return rc;
  struct db_stmt *st = gw_prepare(g, "cannot read the channel",
      "SELECT type, base_url, models, key, other, model_mapping FROM channels WHERE id = ?1", "i", u->id);
  if (!st)
    return GW_FAIL;
  if (db_step(st) == DB_ROW) {
    snprintf(u->type, sizeof u->type, "%s", db_col_text(st, 0));
    u->p = provider_for_type(u->type);
    snprintf(u->base, sizeof u->base, "%s", db_col_text(st, 1));
    snprintf(u->models, sizeof u->models, "%s", db_col_text(st, 2));
    cJSON *other = cJSON_Parse(db_col_text(st, 4));
    const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(other, "api_version"));
    snprintf(u->api_version, sizeof u->api_version, "%s", av && *av ? av : AZURE_DEFAULT_API_VERSION);
    snprintf(u->model_map, sizeof u->model_map, "%s", db_col_text(st, 5));
    cJSON_Delete(other);
    vertex_other(db_col_text(st, 4), u->region, sizeof u->region, u->project, sizeof u->project);
    struct secret_key k = { 0 };
    const char *stored = db_col_text(st, 3);
    if (secret_is_sealed(stored))
      rc = gw_master_key(g, &k);
    if (rc == 0)
      rc = open_key(&k, u->id, stored, u->key, sizeof u->key);
    secret_key_wipe(&k);
  } else {
    rc = gw_dberr(g, "cannot read the channel");
  }
  db_finalize(st);
  return rc;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
  struct buf *b = ud;
  return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* One request to the upstream at url (built by provider_url or provider_join). body NULL: GET.
 * The key goes in the header the channel type wants. Returns 0 with *status and *ms set (any HTTP
 * status), or -1 with a curl message in err. */
static int upstream_call(const struct upstream *u, const char *url, const char *body,
                         long timeout_s, struct buf *out, long *status, int64_t *ms, char *err,
                         size_t errlen)
{
  char auth[UPSTREAM_KEY_MAX + 32], cerr[CURL_ERROR_SIZE] = "";
  provider_auth_header(u->p, u->key, auth, sizeof auth);
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(err, errlen, "cannot start libcurl");
    return -1;
  }
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  if (u->p->extra_header)
    h = curl_slist_append(h, u->p->extra_header);
  if (*u->key && *auth)
    h = curl_slist_append(h, auth);
  if (u->p->auth == AUTH_SIGV4 && body) {   /* a signed type (bedrock): this request's SigV4 */
    struct curl_slist *s = sigv4_sign(h, u->key, u->region, url, body, strlen(body), (int64_t)time(NULL), err,
                                      errlen);
    curl_slist_free_all(h);
    if (!s) {
      curl_easy_cleanup(c);
      return -1;
    }
    h = s;
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s < 10 ? timeout_s : 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "relay-gwctl/" RELAY_VERSION);
  if (body)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  uint64_t t0 = now_us_mono();
  CURLcode cc = curl_easy_perform(c);
  *ms = (int64_t)((now_us_mono() - t0) / 1000);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  OPENSSL_cleanse(auth, sizeof auth);
  if (cc != CURLE_OK) {
    snprintf(err, errlen, "%s", *cerr ? cerr : curl_easy_strerror(cc));
    return -1;
  }
  return 0;
}

/* The error message of an upstream's error body, or the start of the body. */
static void upstream_error(const struct buf *b, char *msg, size_t len)
{
  cJSON *j = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
  if (!m)
    m = cJSON_GetStringValue(e);
  if (!m)          /* AWS's shape: {"message": ...} */
    m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
  if (m)
    snprintf(msg, len, "%s", m);
  else
    snprintf(msg, len, "%.200s", b->data ? b->data : "");
  for (char *p = msg; *p; p++)
    if ((unsigned char)*p < 0x20)
      *p = ' ';
  cJSON_Delete(j);
}

/* u->key becomes key idx of u's key pool (channel test --key N). 0 or an exit code after printing. */
static int pool_key_load(struct gwctl *g, struct upstream *u, int64_t idx)
{
  struct db_stmt *st = gw_prepare(g, "cannot read the key pool",
                                  "SELECT key FROM channel_keys WHERE channel_id = ?1 AND idx = ?2", "ii", u->id, idx);
  if (!st)
    return GW_FAIL;
  int rc;
  enum db_step_result r = db_step(st);
  if (r == DB_ROW) {
    struct secret_key k = { 0 };
    const char *stored = db_col_text(st, 0);
    rc = secret_is_sealed(stored) ? gw_master_key(g, &k) : 0;
    if (rc == 0)
      rc = open_key(&k, u->id, stored, u->key, sizeof u->key);
    secret_key_wipe(&k);
  } else if (r == DB_DONE) {
    rc = gw_err(GW_NOTFOUND, "channel %s has no key %" PRId64 " (gwctl channel key list %s)", u->name, idx, u->name);
  } else {
    rc = gw_dberr(g, "cannot read the key pool");
  }
  db_finalize(st);
  return rc;
}

/* A vertex channel's access token for its service-account key (gcpauth.h) in place of the key in
 * u->key (upstream_call sends it as a Bearer token); the project defaults to the key's. 0, or
 * GW_UPSTREAM after saying why. */
static int vertex_token(struct upstream *u, int64_t timeout)
{
  struct gcp_sa sa;
  char err[512], token[GCP_TOKEN_MAX];
  int64_t expires_in = 0;
  int rc = gcp_sa_parse(u->key, &sa, err, sizeof err);
  if (rc == 0 && !*u->project && vertex_name_ok(sa.project_id))
    snprintf(u->project, sizeof u->project, "%.*s", VERTEX_NAME_MAX, sa.project_id);
  if (rc == 0) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = gcp_fetch_token(&sa, (long)timeout, token, sizeof token, &expires_in, err, sizeof err);
    curl_global_cleanup();
  }
  gcp_sa_free(&sa);
  OPENSSL_cleanse(u->key, sizeof u->key);
  if (rc != 0)
    return gw_err(GW_UPSTREAM, "channel %s: no Vertex AI access token: %s", u->name, err);
  snprintf(u->key, sizeof u->key, "%s", token);
  OPENSSL_cleanse(token, sizeof token);
  return 0;
}

int cmd_channel_test(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *model = NULL, *timeout_s = "30", *key_s = NULL;
  const struct gw_opt opts[] = { { "model", &model, NULL }, { "timeout", &timeout_s, NULL }, { "key", &key_s, NULL },
                                 { 0 } };
  int64_t key_idx = 0;
  struct upstream u = { 0 };
  char first[MODEL_NAME_MAX + 1], err[512] = "", msg[512] = "";
  int64_t timeout = 0, ms = 0;
  long status = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc == 0)
    rc = gw_parse_int(g, "--timeout", timeout_s, 1, 600, &timeout);
  if (rc == 0 && model)
    rc = gw_check_name(g, "--model", model);
  if (rc == 0 && key_s)
    rc = gw_parse_int(g, "--key", key_s, 1, 1000000000, &key_idx);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = upstream_load(g, ref, &u)) != 0)
    return rc;
  if (key_idx && (rc = pool_key_load(g, &u, key_idx)) != 0) {
    OPENSSL_cleanse(u.key, sizeof u.key);
    return rc;
  }
  snprintf(first, sizeof first, "%.*s", (int)strcspn(u.models, ","), u.models);
  if (!model) {
    /* the first model, by the name the channel's model mapping sends upstream (a bedrock
     * channel's model id) */
    cJSON *mm = cJSON_Parse(u.model_map);
    const char *up = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(mm, first));
    if (up && *up && strlen(up) < sizeof first)
      snprintf(first, sizeof first, "%s", up);
    cJSON_Delete(mm);
    model = first;
  }
  if (!*model)
    return gw_err(GW_USAGE, "channel '%s' lists no models: give --model M", u.name);

  /* the smallest real request of the channel's own API (provider_probe), at its URL */
  char path[URL_MAX], url[URL_MAX + 512];
  char *body = NULL;
  if (u.p->auth == AUTH_GOOGLE_SA) {
    rc = vertex_token(&u, timeout);
    if (rc != 0)
      return rc;
    if (vertex_url(u.base, u.project, *u.region ? u.region : VERTEX_DEFAULT_REGION, model, false, url, sizeof url,
                   err, sizeof err) == 0)
      body = vertex_probe_body(model, err, sizeof err);
  } else {
    body = provider_probe(u.p, model, path, sizeof path, err, sizeof err);
    if (body && provider_url(u.p, u.base, u.api_version, path, model, url, sizeof url, err, sizeof err) < 0) {
      cJSON_free(body);
      body = NULL;
    }
  }
  if (!body)
    return gw_err(GW_USAGE, "channel '%s': the model name '%s' cannot be used in the test URL",
                  u.name, model);
  struct buf out;
  buf_init(&out, UPSTREAM_BODY_MAX);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int net = upstream_call(&u, url, body, (long)timeout, &out, &status, &ms, err, sizeof err);
  curl_global_cleanup();
  cJSON_free(body);
  int ok = net == 0 && status >= 200 && status < 300;
  if (out.data) {   /* upstreams echo the key they got: never print it */
    out.len = secret_redact(out.data, out.len, u.key);
    out.data[out.len] = '\0';
  }
  OPENSSL_cleanse(u.key, sizeof u.key);
  if (net == 0 && !ok)
    upstream_error(&out, msg, sizeof msg);
  buf_free(&out);

  /* record the result (not an administrative change: no manage row, no reload) */
  if (db_begin(g->db) != 0)
    return gw_dberr(g, "cannot record the test");
  rc = gw_exec(g, "cannot record the test",
               "UPDATE channels SET test_time = ?2, response_time = ?3 WHERE id = ?1", "iii", u.id,
               (int64_t)time(NULL), ok ? ms : (int64_t)0);
  if (rc == 0 && db_commit(g->db) != 0)
    rc = gw_dberr(g, "cannot record the test");
  if (rc != 0) {
    db_rollback(g->db);
    return rc;
  }

  if (g->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)u.id);
    cJSON_AddStringToObject(o, "name", u.name);
    cJSON_AddStringToObject(o, "model", model);
    if (key_idx)
      cJSON_AddNumberToObject(o, "key", (double)key_idx);
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddNumberToObject(o, "status", (double)status);
    cJSON_AddNumberToObject(o, "response_time", (double)ms);
    cJSON_AddStringToObject(o, "error", net ? err : msg);
    if (out_json(o) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
    cJSON_Delete(o);
  } else if (ok) {
    printf(_("channel %s: ok, HTTP %ld in %" PRId64 " ms (model %s)\n"), u.name, status, ms, model);
  }
  if (net != 0)
    return gw_err(GW_UPSTREAM, "channel %s: the upstream is unreachable after %" PRId64 " ms: %s",
                  u.name, ms, err);
  if (!ok)
    return gw_err(GW_UPSTREAM, "channel %s: the upstream answered HTTP %ld in %" PRId64 " ms: %s",
                  u.name, status, ms, msg);
  return rc;
}

int cmd_channel_models(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *timeout_s = "30";
  const struct gw_opt opts[] = { { "timeout", &timeout_s, NULL }, { 0 } };
  struct upstream u = { 0 };
  char err[512] = "", msg[512] = "";
  int64_t timeout = 0, ms = 0;
  long status = 0;
  int rc = gw_args(g, argc, argv, opts, "NAME|ID", &ref);
  if (rc == 0)
    rc = gw_parse_int(g, "--timeout", timeout_s, 1, 600, &timeout);
  if (rc != 0 || (rc = gw_open(g)) != 0 || (rc = upstream_load(g, ref, &u)) != 0)
    return rc;
  if (u.p->auth == AUTH_GOOGLE_SA) {   /* Vertex AI has no OpenAI-style list; its key is no Bearer */
    OPENSSL_cleanse(u.key, sizeof u.key);
    return gw_err(GW_USAGE, "channel %s: Vertex AI has no model list gwctl can read: name the models with "
                  "--models (gemini-2.5-flash, claude-sonnet-4@20250514, ...)", u.name);
  }
  char url[URL_MAX + 512];
  /* fits: the base is under URL_MAX; an API-root channel's list is at ROOT/models */
  if (u.p->url == URLR_ROOT)
    provider_url(u.p, u.base, u.api_version, "/v1/models", "", url, sizeof url, err, sizeof err);
  else
    provider_join(u.base, "/v1/models", url, sizeof url);
  struct buf out;
  buf_init(&out, UPSTREAM_BODY_MAX);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int net = upstream_call(&u, url, NULL, (long)timeout, &out, &status, &ms, err, sizeof err);
  curl_global_cleanup();
  if (out.data) {   /* upstreams echo the key they got: never print it */
    out.len = secret_redact(out.data, out.len, u.key);
    out.data[out.len] = '\0';
  }
  OPENSSL_cleanse(u.key, sizeof u.key);
  if (net != 0) {
    buf_free(&out);
    return gw_err(GW_UPSTREAM, "channel %s: the upstream is unreachable: %s", u.name, err);
  }
  if (status < 200 || status >= 300) {
    upstream_error(&out, msg, sizeof msg);
    buf_free(&out);
    return gw_err(GW_UPSTREAM, "channel %s: GET /v1/models answered HTTP %ld: %s", u.name, status,
                  msg);
  }
  cJSON *j = cJSON_ParseWithLength(out.data ? out.data : "", out.len);
  buf_free(&out);
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data"), *it;
  if (!cJSON_IsArray(data)) {
    cJSON_Delete(j);
    return gw_err(GW_UPSTREAM, "channel %s: GET /v1/models did not answer {\"data\":[...]}",
                  u.name);
  }
  cJSON *ids = cJSON_CreateArray();
  cJSON_ArrayForEach(it, data) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
    if (id)
      cJSON_AddItemToArray(ids, cJSON_CreateString(id));
  }
  cJSON_Delete(j);
  if (g->json) {
    if (out_json(ids) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
  } else {
    cJSON_ArrayForEach(it, ids) {
      char line[512];
      snprintf(line, sizeof line, "%s", it->valuestring);
      for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
          *p = '?';
      printf("%s\n", line);
    }
  }
  cJSON_Delete(ids);
  return rc;
}

/* ---- channel balance: the upstream account's balance, read now (common/upbalance.h) ------------ */

static const struct out_col balance_cols[] = {
  { "name", "NAME", OUT_PLAIN, 0, NULL },
  { "type", "TYPE", OUT_PLAIN, 0, NULL },
  { "balance", "BALANCE", OUT_PLAIN, 0, render_balance },
  { "balance_time", "UPDATED", OUT_TIME, 0, NULL },
  { "error", "ERROR", OUT_PLAIN, 80, NULL },
  { 0 },
};

/* Reads and stores one channel's balance; the row (name, type, balance...) goes in *row. Returns 0,
 * GW_CONFLICT when its type publishes no balance endpoint, GW_UPSTREAM when the upstream failed. */
static int balance_one(struct gwctl *g, int64_t id, int64_t timeout, cJSON **row)
{
  char ref[32], err[512];
  snprintf(ref, sizeof ref, "%" PRId64, id);
  struct upstream *u = calloc(1, sizeof *u);   /* big (a key, a URL): on the heap; freed below */
  if (!u)
    return gw_err(GW_FAIL, "out of memory");
  int rc = upstream_load(g, ref, u);
  if (rc != 0) {
    free(u);
    return rc;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)u->id);
  cJSON_AddStringToObject(o, "name", u->name);
  cJSON_AddStringToObject(o, "type", u->type);
  cJSON_AddStringToObject(o, "kind", upbalance_kind_name(u->p->balance));
  struct upbalance ub;
  if (u->p->balance == BAL_NONE) {
    rc = GW_CONFLICT;
    snprintf(err, sizeof err, _("a %s channel has no balance endpoint (its provider publishes none)"), u->type);
  } else if (upbalance_fetch(u->p, u->base, u->key, (long)timeout, &ub, err, sizeof err) < 0) {
    rc = GW_UPSTREAM;
  }
  OPENSSL_cleanse(u->key, sizeof u->key);
  int64_t now = (int64_t)time(NULL);
  if (rc == 0) {
    rc = gw_exec(g, "cannot store the balance",
                 "INSERT INTO channel_balances(channel_id, balance, currency, updated_time, source) "
                 "VALUES (?1, ?2, ?3, ?4, 'gwctl') ON CONFLICT(channel_id) DO UPDATE SET balance = excluded.balance, "
                 "currency = excluded.currency, updated_time = excluded.updated_time, source = excluded.source",
                 "idsi", u->id, ub.amount, ub.currency, now);
  }
  if (rc == 0) {
    cJSON_AddNumberToObject(o, "balance", ub.amount);
    cJSON_AddStringToObject(o, "balance_currency", ub.currency);
    cJSON_AddNumberToObject(o, "balance_time", (double)now);
    cJSON_AddStringToObject(o, "error", "");
  } else {
    cJSON_AddNullToObject(o, "balance");
    cJSON_AddStringToObject(o, "balance_currency", "");
    cJSON_AddNumberToObject(o, "balance_time", 0);
    cJSON_AddStringToObject(o, "error", rc == GW_CONFLICT || rc == GW_UPSTREAM ? err : "");
  }
  if (rc == GW_CONFLICT || rc == GW_UPSTREAM)
    fprintf(stderr, _("gwctl: channel %s: %s\n"), u->name, err);
  free(u);
  *row = o;
  return rc;
}

int cmd_channel_balance(struct gwctl *g, int argc, char **argv)
{
  const char *ref = NULL, *timeout_s = "30";
  const char *names[] = { "NAME|ID" };
  const struct gw_opt opts[] = { { "timeout", &timeout_s, NULL }, { 0 } };
  int64_t timeout = 0, id = 0;
  int rc = gw_argv(g, argc, argv, opts, 0, 1, names, &ref);
  if (rc == 0)
    rc = gw_parse_int(g, "--timeout", timeout_s, 1, 600, &timeout);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  if (ref) {
    if ((rc = gw_channel_find(g, ref, &id, NULL, 0)) != 0)
      return rc;
    cJSON *row = NULL;
    rc = balance_one(g, id, timeout, &row);
    if (rc == 0 && g->json && out_json(row) != 0)
      rc = gw_err(GW_FAIL, "out of memory");
    else if (rc == 0 && !g->json) {
      cJSON *rows = cJSON_CreateArray();
      cJSON_AddItemReferenceToArray(rows, row);
      if (out_list(0, rows, balance_cols) != 0)
        rc = gw_err(GW_FAIL, "out of memory");
      cJSON_Delete(rows);
    }
    cJSON_Delete(row);
    return rc;
  }
  /* every channel whose type publishes a balance (a manually disabled one too: it is still paid for) */
  struct db_stmt *st = gw_prepare(g, "cannot read channels", "SELECT id, type FROM channels ORDER BY id", "");
  if (!st)
    return GW_FAIL;
  int64_t *ids = NULL;
  size_t n = 0;
  while (db_step(st) == DB_ROW) {
    if (provider_for_type(db_col_text(st, 1))->balance == BAL_NONE)
      continue;
    int64_t *more = realloc(ids, (n + 1) * sizeof *ids);
    if (!more)
      break;
    ids = more;
    ids[n++] = db_col_int64(st, 0);
  }
  db_finalize(st);
  cJSON *rows = cJSON_CreateArray();
  int worst = 0;
  for (size_t i = 0; i < n && rows; i++) {
    cJSON *row = NULL;
    int r1 = balance_one(g, ids[i], timeout, &row);
    if (row)
      cJSON_AddItemToArray(rows, row);
    if (r1 != 0 && r1 != GW_UPSTREAM) {   /* the database failed: stop */
      worst = r1;
      break;
    }
    if (r1)
      worst = r1;
  }
  free(ids);
  if (!rows)
    return gw_err(GW_FAIL, "out of memory");
  if (worst != GW_FAIL && out_list(g->json, rows, balance_cols) != 0)
    worst = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return worst;
}
