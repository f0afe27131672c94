/*
 * gwctl import oneapi: moves a One API or New API installation into relay (shared/ref/newapi.md
 * describes their tables): groups and ratios, prices, users, tokens (their keys keep working),
 * channels, redemption codes and the one option relay shares, with a report of what was imported,
 * mapped (imported with a change, said how) or skipped (and why).
 *
 * Owns: the per-source mapping tables (channel type ids diverge between the two projects after 3),
 * the flavor detection, and the report.
 * Callers: the command table in main.c.
 * Never: writes to the source database (it is opened read-only, without relay's migrations), keeps
 * a client key in clear (only its SHA-256, as `token create` does), prints or logs a key, or
 * overwrites a user, token, channel or code that relay already has.
 */
#include "gwctl.h"
#include "channels.h"
#include "cmd_import.h"
#include "keys.h"
#include "output.h"
#include "provider.h"
#include "util.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MODEL_NAME_MAX 128
#define RATIO_MAX 1000000.0
/* New API bills a 1-hour cache write at CreateCacheRatio x 6 / 3.75 (its
 * claudeCacheCreation1hMultiplier: Anthropic's 2x over 1.25x); it has no option of its own */
#define NEWAPI_CACHE_1H_MULTIPLIER (6 / 3.75)

enum flavor { FLAVOR_ONEAPI, FLAVOR_NEWAPI };
static const char *const flavor_names[] = { "oneapi", "newapi" };

enum result { R_IMPORTED, R_MAPPED, R_SKIPPED };
static const char *const result_names[] = { "imported", "mapped", "skipped" };

struct imp {
  struct gwctl *g;
  struct db *src;
  enum flavor flavor;
  cJSON *items;                 /* the report: [{"kind","source","name","result","note"}] */
  cJSON *counts;                /* {"users": {"imported":n,"mapped":n,"skipped":n}, ...} */
  struct strmap options;        /* source options: key -> value (owned strings) */
  struct strmap users;          /* source user id (decimal) -> relay user id (int64_t *) */
  struct arena arena;
  char who[64];
};

/* ---- the report --------------------------------------------------------------------------------- */

__attribute__((format(printf, 6, 7)))
static void report(struct imp *im, const char *kind, const char *source, const char *name,
                   enum result r, const char *fmt, ...)
{
  char note[1024] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, sizeof note, fmt, ap);
    va_end(ap);
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "kind", kind);
  cJSON_AddStringToObject(o, "source", source);
  cJSON_AddStringToObject(o, "name", name ? name : "");
  cJSON_AddStringToObject(o, "result", result_names[r]);
  cJSON_AddStringToObject(o, "note", note);
  cJSON_AddItemToArray(im->items, o);
  cJSON *k = cJSON_GetObjectItemCaseSensitive(im->counts, kind);
  if (!k) {
    k = cJSON_AddObjectToObject(im->counts, kind);
    for (int i = 0; i < 3; i++)
      cJSON_AddNumberToObject(k, result_names[i], 0);
  }
  cJSON *n = cJSON_GetObjectItemCaseSensitive(k, result_names[r]);
  cJSON_SetNumberValue(n, n->valuedouble + 1);
}

/* Appends one note ("what -> how; ") to a row's notes (len: the size of notes). */
__attribute__((format(printf, 3, 4)))
static void note(char *notes, size_t len, const char *fmt, ...)
{
  size_t used = strlen(notes);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(notes + used, len - used, fmt, ap);
  va_end(ap);
}

/* Reports a row that was imported: "mapped" when it has notes (each ending "; ", the last one's
 * cut here), else "imported"; tail, when not NULL, follows the notes in the report. */
static void report_row(struct imp *im, const char *kind, const char *source, const char *name,
                       char *notes, const char *tail)
{
  size_t nl = strlen(notes);
  if (nl >= 2)
    notes[nl - 2] = '\0';
  report(im, kind, source, name, *notes ? R_MAPPED : R_IMPORTED, "%s%s%s", notes,
         *notes && tail ? "; " : "", tail ? tail : "");
}

/* ---- reading the source ------------------------------------------------------------------------- */

/* The catalog queries are the backend's (SQLite, PostgreSQL, MySQL/MariaDB): db_has_table. */
static int src_has_table(struct imp *im, const char *table)
{
  return db_has_table(im->src, table) == 1;
}

static int src_has_column(struct imp *im, const char *table, const char *column)
{
  return db_has_column(im->src, table, column) == 1;
}

/* A boolean column as 0/1 on both backends (PostgreSQL has real booleans), or the fallback. */
static const char *bool_col(struct imp *im, const char *table, const char *column,
                            const char *fallback)
{
  if (!src_has_column(im, table, column))
    return fallback;
  char buf[160];
  snprintf(buf, sizeof buf, "CASE WHEN \"%s\" THEN 1 ELSE 0 END", column);
  return arena_strdup(&im->arena, buf);
}

/* "table.column" when the source has it, else the literal fallback: a SELECT that reads either
 * project's layout. */
static const char *col(struct imp *im, const char *table, const char *column, const char *fallback)
{
  if (!src_has_column(im, table, column))
    return fallback;
  char buf[128];
  snprintf(buf, sizeof buf, "\"%s\"", column);
  return arena_strdup(&im->arena, buf);
}

static struct db_stmt *src_prepare(struct imp *im, const char *sql)
{
  struct db_stmt *st = db_prepare(im->src, sql);
  if (!st)
    gw_err(GW_FAIL, "cannot read the source database: %s", db_errmsg(im->src));
  return st;
}

/* Ends a loop over the source's rows: rc when the import failed, else GW_FAIL after a read error. */
static int src_end(struct imp *im, struct db_stmt *st, enum db_step_result r, int rc)
{
  db_finalize(st);
  if (rc != 0)
    return rc;
  if (r == DB_ERROR)
    return gw_err(GW_FAIL, "cannot read the source database: %s", db_errmsg(im->src));
  return 0;
}

static int read_options(struct imp *im)
{
  strmap_init(&im->options, 64);
  if (!src_has_table(im, "options"))
    return 0;
  struct db_stmt *st = src_prepare(im, "SELECT \"key\", value FROM options");
  if (!st)
    return GW_FAIL;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW)
    strmap_put(&im->options, arena_strdup(&im->arena, db_col_text(st, 0)),
               arena_strdup(&im->arena, db_col_text(st, 1)));
  return src_end(im, st, r, 0);
}

static const char *option(struct imp *im, const char *key)
{
  return strmap_get(&im->options, key);
}

/* ---- relay side helpers ------------------------------------------------------------------------- */

/* A name relay accepts, from a source name: blanks, commas and control characters become '_', a
 * leading '-' too; an all-digit name gets a prefix; "" becomes fallback. */
static void relay_name(const char *in, const char *prefix, const char *fallback, char *out,
                       size_t len)
{
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && n + 1 < len && n < GW_NAME_MAX;
       p++) {
    unsigned char c = *p;
    if (c <= ' ' || c == 0x7f || c == ',' || (n == 0 && c == '-'))
      c = '_';
    out[n++] = (char)c;
  }
  out[n] = '\0';
  /* a cut in the middle of a UTF-8 sequence: drop the partial character */
  while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80 && n == GW_NAME_MAX)
    out[--n] = '\0';
  if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
    out[--n] = '\0';
  if (!*out)
    snprintf(out, len, "%s", fallback);
  else if (gw_is_id(out)) {
    char tmp[GW_NAME_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s%s", prefix, out);
    snprintf(out, len, "%.*s", GW_NAME_MAX, tmp);
  }
}

static int relay_has(struct imp *im, const char *sql, const char *name, int64_t *id)
{
  int64_t tmp = 0;
  int r = gw_scalar(im->g, "cannot read relay's database", sql, id ? id : &tmp, "s", name);
  return r;
}

/* Makes sure group name exists in relay (ratio 1 when new). Returns 0 or GW_FAIL. */
static int ensure_group(struct imp *im, const char *name, const char *why)
{
  int r = relay_has(im, "SELECT 1 FROM groups WHERE name = ?1", name, NULL);
  if (r < 0)
    return GW_FAIL;
  if (r > 0)
    return 0;
  if (gw_name_problem(name, GW_NAME_MAX))
    return 0;                   /* the referring object reports it */
  int rc = gw_exec(im->g, "cannot create the group",
                   "INSERT INTO groups(name, ratio, selectable) VALUES (?1, 1, 0)", "s", name);
  if (rc == 0) {
    report(im, "groups", name, name, R_MAPPED, "not in GroupRatio but used by %s: created with "
           "ratio 1", why);
    struct gw_subject s = { 0 };
    rc = gw_log_manage(im->g, &s, "import oneapi: group %s ratio=1 (by %s)", name, im->who);
  }
  return rc;
}

/* A comma list of names normalized: items relay refuses are dropped and named in *dropped. */
static void clean_list(const char *in, const char *seps, size_t maxitem, char *out, size_t outlen,
                       char *dropped, size_t droplen)
{
  size_t used = 0, dused = 0;
  out[0] = '\0';
  dropped[0] = '\0';
  while (*in) {
    size_t len = strcspn(in, seps);
    const char *b = in, *e = in + len;
    in = *e ? e + 1 : e;
    while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
      b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
      e--;
    if (b == e)
      continue;
    char item[512];
    snprintf(item, sizeof item, "%.*s", (int)(e - b), b);
    int dup = 0;
    for (const char *p = out; *p && !dup;) {
      size_t l = strcspn(p, ",");
      dup = l == strlen(item) && strncmp(p, item, l) == 0;
      p += l;
      if (*p == ',')
        p++;
    }
    if (dup)
      continue;
    if ((size_t)(e - b) >= sizeof item || gw_name_problem(item, maxitem)
        || used + strlen(item) + 2 > outlen) {
      int n = snprintf(dropped + dused, droplen - dused, "%s'%.40s'", dused ? ", " : "", item);
      if (n > 0 && (size_t)n < droplen - dused)
        dused += (size_t)n;
      continue;
    }
    used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? "," : "", item);
  }
}

static int ip_ok(const char *item)
{
  char addr[80];
  unsigned char buf[16];
  const char *slash = strchr(item, '/');
  snprintf(addr, sizeof addr, "%.*s", (int)(slash ? (size_t)(slash - item) : strlen(item)), item);
  int max = inet_pton(AF_INET, addr, buf) == 1 ? 32 : inet_pton(AF_INET6, addr, buf) == 1 ? 128 : 0;
  int64_t prefix = 0;
  return max && (!slash || (parse_int64(slash + 1, &prefix) == 0 && prefix >= 0 && prefix <= max));
}

/* ---- groups and prices -------------------------------------------------------------------------- */

static cJSON *option_object(struct imp *im, const char *key, int *present)
{
  const char *v = option(im, key);
  *present = v != NULL;
  if (!v)
    return NULL;
  cJSON *o = cJSON_Parse(v);
  if (!cJSON_IsObject(o)) {
    cJSON_Delete(o);
    report(im, "options", key, NULL, R_SKIPPED, "not a JSON object");
    return NULL;
  }
  return o;
}

static int import_groups(struct imp *im)
{
  int present = 0, upresent = 0;
  cJSON *ratios = option_object(im, "GroupRatio", &present);
  cJSON *usable = option_object(im, "UserUsableGroups", &upresent);
  int rc = 0;
  if (!present) {
    /* both projects' built-in defaults */
    ratios = cJSON_Parse("{\"default\":1,\"vip\":1,\"svip\":1}");
    report(im, "groups", "GroupRatio", NULL, R_MAPPED, "option not set in the source: its built-in "
           "default (default, vip, svip at ratio 1) imported");
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, ratios) {
    const char *why = gw_name_problem(it->string, GW_NAME_MAX);
    if (why) {
      report(im, "groups", it->string, NULL, R_SKIPPED, "group name %s in relay", why);
      continue;
    }
    double ratio = cJSON_GetNumberValue(it);
    if (!cJSON_IsNumber(it) || !isfinite(ratio) || ratio < 0 || ratio > RATIO_MAX) {
      report(im, "groups", it->string, it->string, R_SKIPPED, "ratio is not a number from 0 to %g",
             RATIO_MAX);
      continue;
    }
    int selectable = usable ? cJSON_HasObjectItem(usable, it->string)
                            : strcmp(it->string, "default") == 0;
    int64_t had = 0;
    int r = relay_has(im, "SELECT 1 FROM groups WHERE name = ?1", it->string, &had);
    if (r < 0)
      return GW_FAIL;
    rc = gw_exec(im->g, "cannot write the group",
                 "INSERT INTO groups(name, ratio, selectable) VALUES (?1, ?2, ?3) "
                 "ON CONFLICT(name) DO UPDATE SET ratio = excluded.ratio, "
                 "selectable = excluded.selectable", "sdi", it->string, ratio, (int64_t)selectable);
    struct gw_subject s = { 0 };
    if (rc == 0)
      rc = gw_log_manage(im->g, &s, "import oneapi: group %s ratio=%g selectable=%s (by %s)",
                         it->string, ratio, selectable ? "yes" : "no", im->who);
    if (rc != 0)
      break;
    report(im, "groups", it->string, it->string, R_IMPORTED, "ratio %g%s%s", ratio,
           selectable ? ", selectable" : "", r > 0 ? " (the group existed: ratio set)" : "");
  }
  cJSON_Delete(ratios);
  cJSON_Delete(usable);
  return rc;
}

static int import_prices(struct imp *im)
{
  int pm = 0, pc = 0, pp = 0, pk = 0, pw = 0;
  cJSON *model = option_object(im, "ModelRatio", &pm);
  cJSON *comp = option_object(im, "CompletionRatio", &pc);
  cJSON *price = option_object(im, "ModelPrice", &pp);
  cJSON *cache = option_object(im, "CacheRatio", &pk);
  /* New API only: the 5-minute cache write ratio per model (absent: relay's defaults stay) */
  cJSON *cwrite = option_object(im, "CreateCacheRatio", &pw);
  int rc = 0;
  if (!pm)
    report(im, "prices", "ModelRatio", NULL, R_SKIPPED, "option not set in the source (it used its "
           "built-in ratios): relay's own prices are kept");
  /* model ratios, then fixed prices (a model in both is priced per call, as New API does) */
  for (int pass = 0; pass < 2 && rc == 0; pass++) {
    const cJSON *it, *list = pass == 0 ? model : price;
    cJSON_ArrayForEach(it, list) {
      const char *m = it->string;
      double v = cJSON_GetNumberValue(it);
      const char *why = gw_name_problem(m, MODEL_NAME_MAX);
      if (why) {
        report(im, "prices", m, NULL, R_SKIPPED, "model name %s in relay", why);
        continue;
      }
      if (!cJSON_IsNumber(it) || !isfinite(v) || v < 0 || v > RATIO_MAX) {
        report(im, "prices", m, m, R_SKIPPED, "%s is not a number from 0 to %g",
               pass == 0 ? "ratio" : "price", RATIO_MAX);
        continue;
      }
      if (pass == 1) {
        rc = gw_exec(im->g, "cannot write the price",
                     "INSERT INTO prices(model, model_ratio, fixed_price) VALUES (?1, 0, ?2) "
                     "ON CONFLICT(model) DO UPDATE SET fixed_price = excluded.fixed_price", "sd", m,
                     v);
        if (rc == 0)
          report(im, "prices", m, m, R_IMPORTED, "%g USD per call (ModelPrice)", v);
      } else {
        /* completion and cache ratios: the source's, else relay's own, else 1 */
        const cJSON *cv = cJSON_GetObjectItemCaseSensitive(comp, m);
        const cJSON *kv = cJSON_GetObjectItemCaseSensitive(cache, m);
        int has_c = cJSON_IsNumber(cv) && cv->valuedouble >= 0 && cv->valuedouble <= RATIO_MAX;
        int has_k = cJSON_IsNumber(kv) && kv->valuedouble >= 0 && kv->valuedouble <= RATIO_MAX;
        int64_t known = 0;
        int r = relay_has(im, "SELECT 1 FROM prices WHERE model = ?1", m, &known);
        if (r < 0)
          return GW_FAIL;
        rc = gw_exec(im->g, "cannot write the price",
                     "INSERT INTO prices(model, model_ratio, completion_ratio, cache_ratio) "
                     "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(model) DO UPDATE SET "
                     "model_ratio = excluded.model_ratio, "
                     "completion_ratio = CASE WHEN ?5 <> 0 THEN excluded.completion_ratio "
                     "ELSE prices.completion_ratio END, "
                     "cache_ratio = CASE WHEN ?6 <> 0 THEN excluded.cache_ratio "
                     "ELSE prices.cache_ratio END",
                     "sdddii", m, v, has_c ? cv->valuedouble : 1.0, has_k ? kv->valuedouble : 1.0,
                     (int64_t)has_c, (int64_t)has_k);
        if (rc != 0)
          break;
        const cJSON *wv = cJSON_GetObjectItemCaseSensitive(cwrite, m);
        char cw[96] = "";
        if (cJSON_IsNumber(wv) && isfinite(wv->valuedouble) && wv->valuedouble >= 0
            && wv->valuedouble <= RATIO_MAX) {
          double w1h = wv->valuedouble * NEWAPI_CACHE_1H_MULTIPLIER;
          rc = gw_exec(im->g, "cannot write the price", "UPDATE prices SET cache_write_ratio = ?2, "
                       "cache_write_1h_ratio = ?3 WHERE model = ?1", "sdd", m, wv->valuedouble, w1h);
          if (rc != 0)
            break;
          snprintf(cw, sizeof cw, ", cache write ratio %g (1h: %g, CreateCacheRatio x 1.6)",
                   wv->valuedouble, w1h);
        } else if (wv) {
          snprintf(cw, sizeof cw, "; CreateCacheRatio not a number from 0 to %g: default kept",
                   RATIO_MAX);
        }
        if (has_c)
          report(im, "prices", m, m, R_IMPORTED, "model ratio %g, completion ratio %g%s", v,
                 cv->valuedouble, cw);
        else
          report(im, "prices", m, m, R_MAPPED, "model ratio %g; no CompletionRatio for it in the "
                 "source (it derives one from the name): completion ratio %s%s", v,
                 r > 0 ? "kept from relay's price" : "1", cw);
      }
    }
  }
  struct gw_subject s = { 0 };
  if (rc == 0 && (pm || pp))
    rc = gw_log_manage(im->g, &s, "import oneapi: prices from ModelRatio/CompletionRatio%s (by %s)",
                       pp ? "/ModelPrice" : "", im->who);
  cJSON_Delete(model);
  cJSON_Delete(comp);
  cJSON_Delete(price);
  cJSON_Delete(cache);
  cJSON_Delete(cwrite);
  return rc;
}

/* ---- users -------------------------------------------------------------------------------------- */

static int import_users(struct imp *im)
{
  char sql[1024];
  strmap_init(&im->users, 64);
  snprintf(sql, sizeof sql, "SELECT id, username, role, status, quota, used_quota, request_count, "
           "\"group\", %s FROM users ORDER BY id", col(im, "users", "deleted_at", "NULL"));
  struct db_stmt *st = src_prepare(im, sql);
  if (!st)
    return GW_FAIL;
  enum db_step_result r;
  int rc = 0;
  while (rc == 0 && (r = db_step(st)) == DB_ROW) {
    int64_t sid = db_col_int64(st, 0), role = db_col_int64(st, 2), status = db_col_int64(st, 3);
    char source[160], name[GW_NAME_MAX + 16], group[GW_NAME_MAX + 16], notes[512] = "";
    snprintf(source, sizeof source, "id %" PRId64 " %.64s", sid, db_col_text(st, 1));
    if (!db_col_is_null(st, 8) || status == 3) {   /* One API's 3: deleted (relay has no such code) */
      report(im, "users", source, NULL, R_SKIPPED, "deleted in the source");
      continue;
    }
    relay_name(db_col_text(st, 1), "user", "", name, sizeof name);
    if (!*name) {
      report(im, "users", source, NULL, R_SKIPPED, "no username");
      continue;
    }
    if (strcmp(name, db_col_text(st, 1)) != 0)
      note(notes, sizeof notes, "name '%s' -> '%s' (relay names have no blanks, commas or leading "
           "'-' and are not all digits); ", db_col_text(st, 1), name);
    int64_t other = 0;
    int found = relay_has(im, "SELECT id FROM users WHERE username = ?1", name, &other);
    if (found < 0) {
      rc = GW_FAIL;
      break;
    }
    if (found > 0) {
      report(im, "users", source, name, R_SKIPPED, "relay already has a user named '%s' (id %"
             PRId64 "); its tokens are skipped too", name, other);
      continue;
    }
    if (role != ROLE_GUEST && role != ROLE_COMMON && role != ROLE_ADMIN && role != ROLE_ROOT) {
      note(notes, sizeof notes, "role %" PRId64 " -> common; ", role);
      role = ROLE_COMMON;
    }
    if (status != STATUS_ENABLED && status != STATUS_DISABLED) {
      note(notes, sizeof notes, "status %" PRId64 " -> disabled; ", status);
      status = STATUS_DISABLED;
    }
    relay_name(db_col_text(st, 7), "group", "default", group, sizeof group);
    if (strcmp(group, db_col_text(st, 7)) != 0)
      note(notes, sizeof notes, "group '%s' -> '%s'; ", db_col_text(st, 7), group);
    int64_t quota = db_col_int64(st, 4), used = db_col_int64(st, 5);
    if (quota < 0 || quota > GW_QUOTA_MAX) {
      note(notes, sizeof notes, "quota %" PRId64 " -> %s; ", quota, quota < 0 ? "0" : "the maximum");
      quota = quota < 0 ? 0 : GW_QUOTA_MAX;
    }
    char why[64];
    snprintf(why, sizeof why, "user %.40s", name);
    rc = ensure_group(im, group, why);
    int64_t *id = arena_alloc(&im->arena, sizeof *id);
    if (rc == 0)
      rc = gw_insert(im->g, "cannot create the user",
                     "INSERT INTO users(username, role, status, quota, used_quota, request_count, "
                     "\"group\", created_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                     id, "siiiiisi", name, role, status, quota, used < 0 ? 0 : used,
                     db_col_int64(st, 6), group, (int64_t)time(NULL));
    if (rc != 0)
      break;
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, sid);
    strmap_put(&im->users, arena_strdup(&im->arena, key), id);
    struct gw_subject s = { .user_id = *id, .username = name };
    rc = gw_log_manage(im->g, &s, "import oneapi: user %s (source id %" PRId64 ") quota=%" PRId64
                       " group=%s (by %s)", name, sid, quota, group, im->who);
    report_row(im, "users", source, name, notes, NULL);
  }
  return src_end(im, st, r, rc);
}

static const char *user_name_of(struct imp *im, int64_t id, char *buf, size_t len)
{
  buf[0] = '\0';
  struct db_stmt *st = gw_prepare(im->g, "cannot read the user",
                                  "SELECT username FROM users WHERE id = ?1", "i", id);
  if (st && db_step(st) == DB_ROW)
    snprintf(buf, len, "%s", db_col_text(st, 0));
  db_finalize(st);
  return buf;
}

static int64_t relay_user(struct imp *im, int64_t source_id)
{
  char key[24];
  snprintf(key, sizeof key, "%" PRId64, source_id);
  int64_t *id = strmap_get(&im->users, key);
  return id ? *id : 0;
}

/* ---- tokens ------------------------------------------------------------------------------------- */

static int import_tokens(struct imp *im)
{
  char sql[2048];
  int na = im->flavor == FLAVOR_NEWAPI;
  /* 0 id, 1 user_id, 2 key, 3 status, 4 name, 5 created, 6 accessed, 7 expired, 8 remain,
   * 9 unlimited, 10 used, 11 models (OA), 12 subnet (OA), 13 model_limits_enabled (NA),
   * 14 model_limits (NA), 15 allow_ips (NA), 16 deleted_at (NA), 17 group (NA) */
  snprintf(sql, sizeof sql,
           "SELECT id, user_id, \"key\", status, name, created_time, accessed_time, expired_time, "
           "remain_quota, %s, used_quota, %s, %s, %s, %s, %s, %s, %s FROM tokens ORDER BY id",
           bool_col(im, "tokens", "unlimited_quota", "0"),
           col(im, "tokens", "models", "''"), col(im, "tokens", "subnet", "''"),
           na ? bool_col(im, "tokens", "model_limits_enabled", "0") : "0",
           na ? col(im, "tokens", "model_limits", "''") : "''",
           na ? col(im, "tokens", "allow_ips", "''") : "''",
           col(im, "tokens", "deleted_at", "NULL"), col(im, "tokens", "group", "''"));
  struct db_stmt *st = src_prepare(im, sql);
  if (!st)
    return GW_FAIL;
  enum db_step_result r;
  int rc = 0;
  while (rc == 0 && (r = db_step(st)) == DB_ROW) {
    int64_t sid = db_col_int64(st, 0), uid = relay_user(im, db_col_int64(st, 1));
    char source[160], name[GW_NAME_MAX + 24], uname[GW_NAME_MAX + 1], notes[1024] = "";
    char fallback[32], why[128];
    snprintf(source, sizeof source, "id %" PRId64 " %.64s", sid, db_col_text(st, 4));
    if (!db_col_is_null(st, 16)) {
      report(im, "tokens", source, NULL, R_SKIPPED, "deleted in the source");
      continue;
    }
    if (!uid) {
      report(im, "tokens", source, NULL, R_SKIPPED, "its user (source id %" PRId64 ") was not "
             "imported", db_col_int64(st, 1));
      continue;
    }
    user_name_of(im, uid, uname, sizeof uname);
    char key[KEY_MAX_LEN + 8];
    const char *stored = db_col_text(st, 2);
    if (strncmp(stored, "sk-", 3) == 0) {
      report(im, "tokens", source, NULL, R_SKIPPED, "the stored key starts with 'sk-' (One API "
             "stores keys without it): clients would send 'sk-sk-...', which relay reads as a "
             "channel pin");
      continue;
    }
    snprintf(key, sizeof key, "sk-%s", stored);
    if (strlen(stored) > KEY_MAX_LEN || key_validate(key, why, sizeof why) != 0) {
      report(im, "tokens", source, NULL, R_SKIPPED, "its key cannot be used with relay: %s (keys "
             "are 8 to %d of [0-9A-Za-z_]; '-' would read as a channel pin)",
             strlen(stored) > KEY_MAX_LEN ? "too long" : why, KEY_MAX_LEN);
      OPENSSL_cleanse(key, sizeof key);
      continue;
    }
    char hash[KEY_HASH_HEX_LEN + 1], hint[KEY_HINT_MAX];
    key_hash(stored, strlen(stored), hash);
    key_hint(key, hint);
    OPENSSL_cleanse(key, sizeof key);
    int64_t other = 0;
    int found = relay_has(im, "SELECT id FROM tokens WHERE key_hash = ?1", hash, &other);
    if (found < 0) {
      rc = GW_FAIL;
      break;
    }
    if (found > 0) {
      report(im, "tokens", source, NULL, R_SKIPPED, "relay already has this key (token id %"
             PRId64 ")", other);
      continue;
    }
    /* name: valid and unique within the user */
    snprintf(fallback, sizeof fallback, "token-%" PRId64, sid);
    relay_name(db_col_text(st, 4), "token-", fallback, name, sizeof name);
    found = gw_scalar(im->g, "cannot read tokens",
                      "SELECT id FROM tokens WHERE user_id = ?1 AND name = ?2", &other, "is", uid,
                      name);
    if (found < 0) {
      rc = GW_FAIL;
      break;
    }
    if (found > 0) {
      size_t n = strlen(name);
      snprintf(name + (n > GW_NAME_MAX - 21 ? GW_NAME_MAX - 21 : n), 22, "-%" PRId64, sid);
    }
    if (strcmp(name, db_col_text(st, 4)) != 0)
      note(notes, sizeof notes, "name '%s' -> '%s'%s; ", db_col_text(st, 4), name,
           found > 0 ? " (the user has another token by that name)" : "");
    /* allowed models and addresses */
    char models[GW_LIST_MAX + 1], ips[GW_LIST_MAX + 1], dropped[512], group[GW_NAME_MAX + 16];
    const char *mlist = na ? (db_col_int64(st, 13) ? db_col_text(st, 14) : "")
                           : db_col_text(st, 11);
    if (na && db_col_int64(st, 13) && !*mlist)
      note(notes, sizeof notes, "model limits on with an empty list (no model allowed) -> "
           "disabled token; ");
    clean_list(mlist, ",", MODEL_NAME_MAX, models, sizeof models, dropped, sizeof dropped);
    if (*dropped)
      note(notes, sizeof notes, "models dropped: %s; ", dropped);
    const char *ilist = na ? db_col_text(st, 15) : db_col_text(st, 12);
    clean_list(ilist, na ? ",\n" : ",", 64, ips, sizeof ips, dropped, sizeof dropped);
    /* addresses relay cannot parse are dropped too */
    char kept[GW_LIST_MAX + 1] = "";
    for (char *p = ips; *p;) {
      size_t l = strcspn(p, ",");
      char item[80];
      snprintf(item, sizeof item, "%.*s", (int)(l < sizeof item ? l : sizeof item - 1), p);
      if (ip_ok(item))
        snprintf(kept + strlen(kept), sizeof kept - strlen(kept), "%s%s", *kept ? "," : "", item);
      else
        snprintf(dropped + strlen(dropped), sizeof dropped - strlen(dropped), "%s'%.40s'",
                 *dropped ? ", " : "", item);
      p += l;
      if (*p == ',')
        p++;
    }
    if (*dropped)
      note(notes, sizeof notes, "addresses dropped (not an IP or CIDR): %s; ", dropped);
    relay_name(db_col_text(st, 17), "group", "", group, sizeof group);
    if (strcmp(group, "auto") == 0) {
      note(notes, sizeof notes, "group 'auto' -> the user's group (relay has no auto group); ");
      group[0] = '\0';
    }
    int64_t status = db_col_int64(st, 3);
    if (status < STATUS_ENABLED || status > STATUS_EXHAUSTED || (na && db_col_int64(st, 13) && !*mlist)) {
      if (status < STATUS_ENABLED || status > STATUS_EXHAUSTED)
        note(notes, sizeof notes, "status %" PRId64 " -> disabled; ", status);
      status = STATUS_DISABLED;
    }
    int64_t remain = db_col_int64(st, 8), unlimited = db_col_int64(st, 9) != 0;
    if (remain < 0)
      remain = 0;
    if (*group) {
      snprintf(why, sizeof why, "token %.40s/%.40s", uname, name);
      rc = ensure_group(im, group, why);
    }
    int64_t tid = 0;
    if (rc == 0)
      rc = gw_insert(im->g, "cannot create the token",
                   "INSERT INTO tokens(user_id, name, key_hash, key_hint, status, created_time, "
                   "accessed_time, expired_time, remain_quota, unlimited_quota, used_quota, models, "
                   "subnet, \"group\") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                   "?13, ?14) RETURNING id", &tid, "isssiiiiiiisss", uid, name, hash, hint, status,
                   db_col_int64(st, 5), db_col_int64(st, 6),
                   db_col_int64(st, 7) == 0 ? (int64_t)-1 : db_col_int64(st, 7), remain, unlimited,
                   db_col_int64(st, 10), models, kept, group);
    if (rc != 0)
      break;
    struct gw_subject s = { .user_id = uid, .username = uname, .token_id = tid, .token_name = name };
    rc = gw_log_manage(im->g, &s, "import oneapi: token %s/%s (source id %" PRId64 ") key=%s "
                       "(by %s)", uname, name, sid, hint, im->who);
    char full[GW_NAME_MAX * 4 + 2];   /* room for both names as the compiler sizes them (-O1 -Werror) */
    snprintf(full, sizeof full, "%s/%s", uname, name);
    char works[KEY_HINT_MAX + 32];
    snprintf(works, sizeof works, "key %s keeps working", hint);
    report_row(im, "tokens", source, full, notes, works);
  }
  return src_end(im, st, r, rc);
}

/* ---- channels ----------------------------------------------------------------------------------- */

struct type_map {
  int id;
  const char *source_name;
  const char *type;             /* relay's type, or NULL: no equivalent */
  const char *base_url;         /* the default when the channel has none, when it is the source's
                                 * own (an OpenAI-compatible service relay has no type for, or
                                 * Ollama's localhost); NULL: the relay type's (provider.h), if any;
                                 * "": none, though relay's type has one */
};

/* Shared ids (both projects), then each project's own (they diverge after 3; newapi.md 4.7). */
static const struct type_map shared_types[] = {
  { 1, "OpenAI", "openai", NULL },
  { 3, "Azure", "azure", NULL },
  { 8, "Custom", "custom", NULL },
  { 14, "Anthropic", "anthropic", NULL },
  { 15, "Baidu", NULL, NULL },
  { 16, "Zhipu", NULL, NULL },
  { 17, "Ali", NULL, NULL },
  { 18, "Xunfei", NULL, NULL },
  { 19, "360", NULL, NULL },
  { 20, "OpenRouter", "openrouter", NULL },
  { 23, "Tencent", NULL, NULL },
  { 24, "Gemini", "gemini", NULL },
  { 25, "Moonshot", "openai", "https://api.moonshot.cn" },
  { 31, "LingYiWanWu", "openai", "https://api.lingyiwanwu.com" },
  { 33, "AWS", NULL, NULL },
  { 0, NULL, NULL, NULL },
};
static const struct type_map newapi_types[] = {
  { 2, "Midjourney", NULL, NULL },
  { 4, "Ollama", "ollama", "http://localhost:11434" },
  { 5, "MidjourneyPlus", NULL, NULL },
  { 11, "PaLM", NULL, NULL },
  { 26, "Zhipu_v4", NULL, NULL },
  { 27, "Perplexity", NULL, NULL },
  { 34, "Cohere", "cohere", NULL },
  { 35, "MiniMax", NULL, NULL },
  { 36, "SunoAPI", NULL, NULL },
  { 37, "Dify", NULL, NULL },
  { 38, "Jina", "jina", NULL },
  { 39, "Cloudflare", NULL, NULL },
  { 40, "SiliconFlow", "openai", "https://api.siliconflow.cn" },
  { 41, "VertexAI", NULL, NULL },
  { 42, "Mistral", "openai", "https://api.mistral.ai" },
  { 43, "DeepSeek", "deepseek", NULL },
  { 44, "MokaAI", NULL, NULL },
  { 45, "VolcEngine", NULL, NULL },
  { 46, "BaiduV2", NULL, NULL },
  { 47, "Xinference", NULL, NULL },
  { 48, "xAI", "openai", "https://api.x.ai" },
  { 0, NULL, NULL, NULL },
};
static const struct type_map oneapi_types[] = {
  { 2, "API2D", NULL, NULL },
  { 4, "CloseAI", NULL, NULL },
  { 26, "Baichuan", NULL, NULL },
  { 27, "Minimax", NULL, NULL },
  { 28, "Mistral", "openai", "https://api.mistral.ai" },
  { 29, "Groq", "openai", "https://api.groq.com/openai" },
  { 30, "Ollama", "ollama", "http://localhost:11434" },
  { 32, "StepFun", NULL, NULL },
  { 34, "Coze", NULL, NULL },
  { 35, "Cohere", "cohere", NULL },
  { 36, "DeepSeek", "deepseek", NULL },
  { 37, "Cloudflare", NULL, NULL },
  { 38, "DeepL", NULL, NULL },
  { 39, "TogetherAI", NULL, NULL },
  { 40, "Doubao", NULL, NULL },
  { 41, "Novita", NULL, NULL },
  { 42, "VertexAI", NULL, NULL },
  { 43, "Proxy", NULL, NULL },
  { 44, "SiliconFlow", "openai", "https://api.siliconflow.cn" },
  { 45, "xAI", "openai", "https://api.x.ai" },
  { 46, "Replicate", NULL, NULL },
  { 47, "BaiduV2", NULL, NULL },
  { 48, "XunfeiV2", NULL, NULL },
  { 49, "AliBailian", NULL, NULL },
  { 50, "OpenAICompatible", "openai", "" },
  { 51, "GeminiOpenAICompatible", NULL, NULL },
  { 0, NULL, NULL, NULL },
};

static const struct type_map *map_type(enum flavor f, int64_t id)
{
  for (const struct type_map *t = shared_types; t->source_name; t++)
    if (t->id == id)
      return t;
  for (const struct type_map *t = f == FLAVOR_NEWAPI ? newapi_types : oneapi_types; t->source_name;
       t++)
    if (t->id == id)
      return t;
  return NULL;
}

/* Source columns relay has no equivalent for: named in the report when set. */
static const struct {
  const char *column, *unset;   /* unset: the value meaning "not used" */
} dropped_columns[] = {
  { "system_prompt", "" }, { "openai_organization", "" }, { "test_model", "" },
  { "status_code_mapping", "" }, { "param_override", "" }, { "setting", "" },
  { "auto_ban", "1" }, { "config", "" }, { NULL, NULL },
};

static int import_channels(struct imp *im)
{
  char sql[2048];
  snprintf(sql, sizeof sql,
           "SELECT id, type, \"key\", status, name, weight, created_time, test_time, response_time, "
           "base_url, other, models, \"group\", model_mapping, priority, used_quota, %s, %s "
           "FROM channels ORDER BY id", col(im, "channels", "tag", "''"),
           col(im, "channels", "config", "''"));
  struct db_stmt *st = src_prepare(im, sql);
  if (!st)
    return GW_FAIL;
  int has_drop[16] = { 0 };
  for (int i = 0; dropped_columns[i].column; i++)
    has_drop[i] = src_has_column(im, "channels", dropped_columns[i].column);
  enum db_step_result r;
  int rc = 0;
  while (rc == 0 && (r = db_step(st)) == DB_ROW) {
    int64_t sid = db_col_int64(st, 0), type = db_col_int64(st, 1);
    char source[160], name[GW_NAME_MAX + 24], fallback[32], notes[1536] = "";
    snprintf(source, sizeof source, "id %" PRId64 " %.64s", sid, db_col_text(st, 4));
    const struct type_map *tm = map_type(im->flavor, type);
    if (!tm || !tm->type) {
      report(im, "channels", source, NULL, R_SKIPPED, "type %" PRId64 " (%s) has no relay "
             "equivalent", type, tm ? tm->source_name : "unknown");
      continue;
    }
    if (!provider_find(tm->type)) {
      report(im, "channels", source, NULL, R_SKIPPED, "type %" PRId64 " (%s): this relay has no "
             "%s channels", type, tm->source_name, tm->type);
      continue;
    }
    const char *key = db_col_text(st, 2);
    if (strchr(key, '\n')) {
      report(im, "channels", source, NULL, R_SKIPPED, "several keys (one a line): relay has one "
             "key per channel; add one channel per key");
      continue;
    }
    /* base URL */
    char url[2048];
    const char *base = db_col_text(st, 9);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
      n--;
    const struct provider *prov = provider_find(tm->type);   /* known: checked above */
    const char *defurl = tm->base_url ? tm->base_url : prov->base_url;
    bool azure = prov->url == URLR_AZURE;                      /* takes an api-version */
    if (n == 0 && (!defurl || !*defurl)) {
      report(im, "channels", source, NULL, R_SKIPPED, "no base_url, and %s channels have no "
             "default one", tm->source_name);
      continue;
    }
    snprintf(url, sizeof url, "%.*s", (int)(n ? n : strlen(defurl)), n ? base : defurl);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
      report(im, "channels", source, NULL, R_SKIPPED, "base_url '%.80s' is not an http(s) URL", url);
      continue;
    }
    if (!n)
      note(notes, sizeof notes, "base_url empty -> %.200s; ", url);
    if (strcmp(tm->type, "openai") == 0 && type != 1)
      note(notes, sizeof notes, "type %" PRId64 " (%s) -> openai (an OpenAI-compatible API); ",
           type, tm->source_name);
    if (type == 8)
      note(notes, sizeof notes, "custom: check base_url (One API's custom channel takes a "
           "full URL); ");
    /* models and groups */
    char models[GW_LIST_MAX + 1], groups[GW_LIST_MAX + 1], dropped[512];
    clean_list(db_col_text(st, 11), ",", MODEL_NAME_MAX, models, sizeof models, dropped,
               sizeof dropped);
    if (*dropped)
      note(notes, sizeof notes, "models dropped: %s; ", dropped);
    if (!*models) {
      report(im, "channels", source, NULL, R_SKIPPED, "no model relay can use");
      continue;
    }
    clean_list(db_col_text(st, 12), ",", GW_NAME_MAX, groups, sizeof groups, dropped,
               sizeof dropped);
    if (*dropped)
      note(notes, sizeof notes, "groups dropped: %s; ", dropped);
    if (!*groups) {
      snprintf(groups, sizeof groups, "default");
      note(notes, sizeof notes, "no group -> default; ");
    }
    /* model mapping: an object of strings, or dropped */
    const char *mm = db_col_text(st, 13);
    char *map = NULL;
    cJSON *m = *mm ? cJSON_Parse(mm) : NULL;
    int map_ok = cJSON_IsObject(m);
    const cJSON *it;
    cJSON_ArrayForEach(it, m)
      if (!*it->string || !cJSON_IsString(it) || !*it->valuestring)
        map_ok = 0;
    if (map_ok && m->child)
      map = cJSON_PrintUnformatted(m);
    else if (*mm && strcmp(mm, "{}") != 0 && strcmp(mm, "null") != 0)
      note(notes, sizeof notes, "model_mapping dropped (not a JSON object of model names); ");
    cJSON_Delete(m);
    /* other: Azure's api version (One API keeps it in other, or config.api_version) */
    char other[256] = "";
    const char *oth = db_col_text(st, 10);
    if (azure) {
      char ver[128] = "";
      cJSON *cfg = cJSON_Parse(db_col_text(st, 17));
      const char *cv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "api_version"));
      snprintf(ver, sizeof ver, "%s", *oth ? oth : cv ? cv : "");
      cJSON_Delete(cfg);
      if (*ver && !gw_name_problem(ver, 64)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "api_version", ver);
        char *t = cJSON_PrintUnformatted(o);
        snprintf(other, sizeof other, "%s", t ? t : "");
        free(t);
        cJSON_Delete(o);
      }
    } else if (*oth) {
      note(notes, sizeof notes, "other '%.40s' dropped; ", oth);
    }
    /* columns relay does not have */
    {
      char q[160];
      for (int i = 0; dropped_columns[i].column; i++) {
        if (!has_drop[i] || (azure && strcmp(dropped_columns[i].column,
                                                                       "config") == 0))
          continue;
        /* read as text on every backend (NULL reads as "") */
        snprintf(q, sizeof q, "SELECT \"%s\" FROM channels WHERE id = ?1", dropped_columns[i].column);
        struct db_stmt *dq = db_prepare(im->src, q);
        if (dq && db_bind_int64(dq, 1, sid) == 0 && db_step(dq) == DB_ROW) {
          const char *v = db_col_text(dq, 0);
          if (*v && strcmp(v, dropped_columns[i].unset) != 0 && strcmp(v, "{}") != 0
              && strcmp(v, "null") != 0)
            note(notes, sizeof notes, "%s dropped (relay has no equivalent); ",
                 dropped_columns[i].column);
        }
        db_finalize(dq);
      }
    }
    /* name: valid and not taken */
    snprintf(fallback, sizeof fallback, "channel-%" PRId64, sid);
    relay_name(db_col_text(st, 4), "channel-", fallback, name, sizeof name);
    int64_t other_id = 0;
    int found = relay_has(im, "SELECT id FROM channels WHERE name = ?1", name, &other_id);
    if (found > 0) {
      size_t nl = strlen(name);
      snprintf(name + (nl > GW_NAME_MAX - 21 ? GW_NAME_MAX - 21 : nl), 22, "-%" PRId64, sid);
      found = relay_has(im, "SELECT id FROM channels WHERE name = ?1", name, &other_id);
      if (found > 0) {
        report(im, "channels", source, name, R_SKIPPED, "relay already has a channel named '%s'",
               name);
        free(map);
        continue;
      }
      note(notes, sizeof notes, "name taken -> '%s'; ", name);
    } else if (strcmp(name, db_col_text(st, 4)) != 0) {
      note(notes, sizeof notes, "name '%s' -> '%s'; ", db_col_text(st, 4), name);
    }
    if (found < 0) {
      free(map);
      rc = GW_FAIL;
      break;
    }
    for (const char *p = groups; *p;) {
      size_t l = strcspn(p, ",");
      char g[GW_NAME_MAX + 1], why[96];
      snprintf(g, sizeof g, "%.*s", (int)l, p);
      snprintf(why, sizeof why, "channel %.40s", name);
      if (rc == 0)
        rc = ensure_group(im, g, why);
      p += l;
      if (*p == ',')
        p++;
    }
    int64_t status = db_col_int64(st, 3), weight = db_col_int64(st, 5),
            prio = db_col_int64(st, 14);
    if (status < STATUS_ENABLED || status > STATUS_AUTO_DISABLED)
      status = STATUS_DISABLED;
    if (weight < 0 || weight > 1000000)
      weight = weight < 0 ? 0 : 1000000;
    if (prio < -1000000000 || prio > 1000000000)
      prio = prio < 0 ? -1000000000 : 1000000000;
    char tag[GW_NAME_MAX + 16];
    int64_t cid = 0;
    relay_name(db_col_text(st, 16), "tag", "", tag, sizeof tag);
    if (rc == 0)
      rc = gw_insert(im->g, "cannot create the channel",
                   "INSERT INTO channels(type, name, key, status, base_url, models, \"group\", "
                   "model_mapping, priority, weight, created_time, test_time, response_time, "
                   "used_quota, tag, other) VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                   "?11, ?12, ?13, ?14, ?15) RETURNING id", &cid, "ssissssiiiiiiss", tm->type, name, status, url,
                   models, groups, map ? map : "", prio, weight, db_col_int64(st, 6),
                   db_col_int64(st, 7), db_col_int64(st, 8), db_col_int64(st, 15), tag, other);
    free(map);
    if (rc == 0 && *key)
      rc = gw_channel_set_key(im->g, cid, key);     /* stored as channel add stores keys */
    if (rc != 0)
      break;
    if (!*key)
      note(notes, sizeof notes, "no key in the source; ");
    struct gw_subject s = { .channel_id = cid };
    rc = gw_log_manage(im->g, &s, "import oneapi: channel %s (source id %" PRId64 ") type=%s "
                       "models=%s group=%s (by %s)", name, sid, tm->type, models, groups, im->who);
    report_row(im, "channels", source, name, notes, NULL);
  }
  return src_end(im, st, r, rc);
}

/* ---- redemption codes and options --------------------------------------------------------------- */

/* New API's expired_time (Unix seconds, 0 = never; One API has none): kept as it is, so a code
 * that expired in the source stays unusable; notes say when an unused code expires. Returns the
 * expiry to store. */
static int64_t redemption_expiry(int64_t expired_time, int64_t status, char *notes, size_t len)
{
  if (expired_time <= 0)
    return 0;
  if (status == REDEEM_ENABLED) {
    char when[32] = "";
    time_t t = (time_t)expired_time;
    struct tm tm;
    if (gmtime_r(&t, &tm))
      strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    if (expired_time < (int64_t)time(NULL))
      note(notes, len, "expired in the source on %s: kept, relay refuses it too; ", when);
    else
      note(notes, len, "expires %s; ", when);
  }
  return expired_time;
}

static int import_redemptions(struct imp *im)
{
  if (!src_has_table(im, "redemptions"))
    return 0;
  char sql[1024];
  snprintf(sql, sizeof sql, "SELECT id, user_id, \"key\", status, name, quota, created_time, "
           "redeemed_time, %s, %s, %s FROM redemptions ORDER BY id",
           col(im, "redemptions", "used_user_id", "0"), col(im, "redemptions", "deleted_at", "NULL"),
           col(im, "redemptions", "expired_time", "0"));
  struct db_stmt *st = src_prepare(im, sql);
  if (!st)
    return GW_FAIL;
  enum db_step_result r;
  int rc = 0;
  int64_t count = 0;
  while (rc == 0 && (r = db_step(st)) == DB_ROW) {
    int64_t sid = db_col_int64(st, 0), status = db_col_int64(st, 3), quota = db_col_int64(st, 5);
    const char *code = db_col_text(st, 2);
    char source[160], notes[256] = "";
    snprintf(source, sizeof source, "id %" PRId64 " %.40s", sid, db_col_text(st, 4));
    if (!db_col_is_null(st, 9)) {
      report(im, "redemptions", source, NULL, R_SKIPPED, "deleted in the source");
      continue;
    }
    if (!*code || gw_name_problem(code, 64)) {
      report(im, "redemptions", source, NULL, R_SKIPPED, "the code is empty or has blanks");
      continue;
    }
    int64_t other = 0;
    int found = relay_has(im, "SELECT id FROM redemptions WHERE \"key\" = ?1", code, &other);
    if (found < 0) {
      rc = GW_FAIL;
      break;
    }
    if (found > 0) {
      report(im, "redemptions", source, NULL, R_SKIPPED, "relay already has this code (id %" PRId64
             ")", other);
      continue;
    }
    if (status < REDEEM_ENABLED || status > REDEEM_USED) {
      note(notes, sizeof notes, "status %" PRId64 " -> disabled; ", status);
      status = REDEEM_DISABLED;
    }
    int64_t used_by = db_col_int64(st, 8) ? relay_user(im, db_col_int64(st, 8)) : 0;
    if (db_col_int64(st, 8) && !used_by)
      note(notes, sizeof notes, "its user (source id %" PRId64 ") was not imported; ",
           db_col_int64(st, 8));
    int64_t expires = redemption_expiry(db_col_int64(st, 10), status, notes, sizeof notes);
    rc = gw_exec(im->g, "cannot create the redemption code",
                 "INSERT INTO redemptions(user_id, \"key\", status, name, quota, created_time, "
                 "redeemed_time, used_user_id, expired_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                 "?9)", "isisiiiii",
                 relay_user(im, db_col_int64(st, 1)), code, status, db_col_text(st, 4),
                 quota < 0 ? 0 : quota, db_col_int64(st, 6), db_col_int64(st, 7), used_by, expires);
    count++;
    report_row(im, "redemptions", source, db_col_text(st, 4), notes, NULL);
  }
  struct gw_subject s = { 0 };
  if (rc == 0 && count)
    rc = gw_log_manage(im->g, &s, "import oneapi: %" PRId64 " redemption codes (by %s)", count,
                       im->who);
  return src_end(im, st, r, rc);
}

static int import_options(struct imp *im)
{
  static const char *const used[] = { "GroupRatio", "ModelRatio", "CompletionRatio", "ModelPrice",
                                      "CacheRatio", "CreateCacheRatio", "UserUsableGroups",
                                      "RetryTimes", NULL };
  const char *retry = option(im, "RetryTimes");
  int rc = 0;
  if (retry) {
    char norm[32], why[128];
    if (gw_config_check("retry_times", retry, norm, sizeof norm, why, sizeof why) != 0) {
      report(im, "options", "RetryTimes", "retry_times", R_SKIPPED, "'%.20s': %s", retry, why);
    } else {
      rc = gw_exec(im->g, "cannot set the option", "INSERT INTO options(key, value) VALUES "
                   "('retry_times', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value", "s",
                   norm);
      struct gw_subject s = { 0 };
      if (rc == 0)
        rc = gw_log_manage(im->g, &s, "import oneapi: config set retry_times=%s (by %s)", norm,
                           im->who);
      report(im, "options", "RetryTimes", "retry_times", R_IMPORTED, "%s", norm);
    }
  }
  /* the rest: named in one line */
  char rest[1024] = "";
  int nrest = 0;
  for (size_t i = 0; i < im->options.nslots; i++) {
    void *v;
    const char *k = strmap_slot(&im->options, i, &v);
    if (!k)
      continue;
    int known = 0;
    for (const char *const *u = used; *u; u++)
      known |= strcmp(*u, k) == 0;
    if (known)
      continue;
    nrest++;
    if (strlen(rest) + strlen(k) + 8 < sizeof rest)
      snprintf(rest + strlen(rest), sizeof rest - strlen(rest), "%s%s", *rest ? ", " : "", k);
  }
  if (nrest)
    report(im, "options", "others", NULL, R_SKIPPED, "%d option%s relay has no equivalent for: %s",
           nrest, nrest == 1 ? "" : "s", rest);
  return rc;
}

/* ---- the command -------------------------------------------------------------------------------- */

static void print_report(struct imp *im, int dry)
{
  const cJSON *it;
  cJSON_ArrayForEach(it, im->items) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
    const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "note"));
    printf("%-8s %-11s %s%s%s%s%s\n",
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "result")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "kind")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "source")),
           *name ? " -> " : "", name, *note ? ": " : "", note);
  }
  printf("%s from %s:", dry ? "would import (dry run, nothing changed)" : "imported",
         flavor_names[im->flavor]);
  cJSON_ArrayForEach(it, im->counts)
    printf(" %s %.0f/%.0f/%.0f", it->string,
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "imported")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "mapped")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "skipped")));
  printf(" (imported/mapped/skipped)\n");
}

int cmd_import_oneapi(struct gwctl *g, int argc, char **argv)
{
  const char *from = NULL, *flavor = "auto";
  int dry = 0;
  const struct gw_opt opts[] = {
    { "from", &from, NULL }, { "flavor", &flavor, NULL }, { "dry-run", NULL, &dry }, { 0 },
  };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!from)
    return gw_usage(g, "missing --from sqlite:PATH|postgres://...|mysql://... (the One API / New "
                    "API database)");
  if (strcmp(flavor, "auto") != 0 && strcmp(flavor, "oneapi") != 0 && strcmp(flavor, "newapi") != 0)
    return gw_usage(g, "--flavor must be auto, oneapi or newapi, not '%s'", flavor);
  char err[512];
  struct imp im = { .g = g };
  im.src = db_open_existing(from, err, sizeof err);
  if (!im.src)
    return gw_err(GW_FAIL, "--from: %s", err);
  if (!src_has_table(&im, "users") || !src_has_table(&im, "tokens")
      || !src_has_table(&im, "channels")) {
    db_close(im.src);
    return gw_err(GW_FAIL, "--from: not a One API / New API database (no users, tokens and "
                  "channels tables)");
  }
  if (strcmp(flavor, "auto") == 0)
    im.flavor = src_has_column(&im, "channels", "tag")
                || src_has_column(&im, "tokens", "model_limits_enabled")
                ? FLAVOR_NEWAPI : FLAVOR_ONEAPI;
  else
    im.flavor = strcmp(flavor, "newapi") == 0 ? FLAVOR_NEWAPI : FLAVOR_ONEAPI;
  struct passwd *pw = getpwuid(getuid());
  snprintf(im.who, sizeof im.who, "%s", pw && pw->pw_name ? pw->pw_name : "?");
  im.items = cJSON_CreateArray();
  im.counts = cJSON_CreateObject();

  rc = read_options(&im);
  if (rc == 0)
    rc = gw_begin(g);
  if (rc == 0) {
    /* in this order: groups before what names them, users before their tokens and codes */
    static int (*const steps[])(struct imp *) = {
      import_groups, import_prices, import_users, import_tokens, import_channels,
      import_redemptions, import_options,
    };
    for (size_t i = 0; rc == 0 && i < sizeof steps / sizeof *steps; i++)
      rc = steps[i](&im);
    if (dry || rc != 0) {
      db_rollback(g->db);
      if (rc != 0)
        gw_err(rc, "nothing imported");
    } else {
      rc = gw_end(g, rc);
    }
  }
  if (rc == 0) {
    if (g->json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "flavor", flavor_names[im.flavor]);
      cJSON_AddBoolToObject(o, "dry_run", dry);
      cJSON_AddItemReferenceToObject(o, "items", im.items);
      cJSON_AddItemReferenceToObject(o, "counts", im.counts);
      if (out_json(o) != 0)
        rc = gw_err(GW_FAIL, "out of memory");
      cJSON_Delete(o);
    } else {
      print_report(&im, dry);
    }
  }
  cJSON_Delete(im.items);
  cJSON_Delete(im.counts);
  if (im.options.slots)
    strmap_free(&im.options);
  if (im.users.slots)
    strmap_free(&im.users);
  arena_free(&im.arena);
  db_close(im.src);
  return rc;
}
