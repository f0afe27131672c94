/*
 * gwctl import oneapi: moves a One API or New API installation into relay (shared/ref/newapi.md
 * describes their tables): groups and ratios, prices, users, tokens (their keys keep working),
 * channels, redemption codes and the options relay shares, with a report of what was imported,
 * mapped (imported with a change, said how), skipped (and why), updated or unchanged.
 *
 * Re-runnable (issue #22): every user, token, channel and code it creates is recorded in
 * import_sources (migration 010) with a digest of its source row; a later run finds it by source
 * id, leaves it alone when the source row is the same and updates the differing columns when not.
 * Channels keep their source id where relay has none by it. Prices are written as the source bills
 * (plan_bills: One API prices the mapped model, per channel type, at ratio 30 without one, with
 * completion ratios derived from the name; New API the requested model, with the completion ratio
 * its rules by name give, over its saved map where they are locked: newapi_completion_ratio).
 * New API rounds a bill to the nearest unit where relay rounds up: reported, at most 1 unit.
 *
 * Owns: the per-source mapping tables (channel type ids diverge between the two projects after 3),
 * the flavor detection, the billing plan, import_sources, and the report.
 * Callers: the command table in main.c.
 * Never: writes to the source database (it is opened read-only, without relay's migrations), keeps
 * a client key in clear (only its SHA-256, as `token create` does), prints or logs a key, or
 * overwrites a user, token, channel or code that it did not create itself (import_sources).
 */
#include "gwctl.h"
#include "i18n.h"
#include "channels.h"
#include "cmd_import.h"
#include "keys.h"
#include "output.h"
#include "provider.h"
#include "quota.h"
#include "sigv4.h"
#include "util.h"
#include "vertexapi.h"

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

/* updated: an earlier import created it and the source row changed since (its changed fields
 * named); unchanged: an earlier import created it and the source row is the same (relay's row,
 * edits made in relay since included, is left alone). */
enum result { R_IMPORTED, R_MAPPED, R_SKIPPED, R_UPDATED, R_UNCHANGED };
static const char *const result_names[] = { "imported", "mapped", "skipped", "updated", "unchanged" };
#define NRESULTS 5

struct imp {
  struct gwctl *g;
  struct db *src;
  enum flavor flavor;
  cJSON *items;                 /* the report: [{"kind","source","name","result","note"}] */
  cJSON *counts;                /* {"users": {"imported":n,"mapped":n,"skipped":n}, ...} */
  struct strmap options;        /* source options: key -> value (owned strings) */
  struct strmap users;          /* source user id (decimal) -> relay user id (int64_t *) */
  const char *source;           /* import_sources.source: --source, else the flavor's name */
  int64_t kept_ids;             /* channels inserted with an explicit id */
  int64_t src_max_channel;      /* the source's highest channel id */
  int64_t prices_written;       /* price rows written (0: no manage log row) */
  struct strmap bills;          /* model -> struct bill *: how the source bills it (plan_bills) */
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
    for (int i = 0; i < NRESULTS; i++)
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

/* ---- import sources: what an earlier run created (migration 010) ------------------------------- */

/* The SHA-256 (hex) of columns from..to-1 of the current source row, joined by 0x1f: what an
 * import compares with the digest it recorded last time. */
static void row_digest(struct db_stmt *st, int from, int to, char hex[KEY_HASH_HEX_LEN + 1])
{
  size_t len = 0, cap = 256;
  char *buf = malloc(cap);
  for (int i = from; buf && i < to; i++) {
    const char *v = db_col_is_null(st, i) ? "\x1e" : db_col_text(st, i);   /* NULL differs from "" */
    size_t vl = strlen(v);
    if (len + vl + 2 > cap) {
      while (len + vl + 2 > cap)
        cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
    }
    memcpy(buf + len, v, vl);
    len += vl;
    buf[len++] = 0x1f;
  }
  key_hash(buf ? buf : "", buf ? len : 0, hex);   /* out of memory: a digest that never matches */
  if (!buf)
    hex[0] = '!';
  free(buf);
}

/* The relay id an earlier import gave source row (kind, sid), and the digest it recorded.
 * Returns 1 (found), 0 (never imported) or -1 after printing. */
static int source_get(struct imp *im, const char *kind, int64_t sid, int64_t *rid, char *digest,
                      size_t dlen)
{
  struct db_stmt *st = gw_prepare(im->g, "cannot read import_sources", "SELECT relay_id, digest "
                                  "FROM import_sources WHERE source = ?1 AND kind = ?2 AND "
                                  "source_id = ?3", "ssi", im->source, kind, sid);
  if (!st)
    return -1;
  enum db_step_result r = db_step(st);
  if (r == DB_ROW) {
    *rid = db_col_int64(st, 0);
    snprintf(digest, dlen, "%s", db_col_text(st, 1));
  }
  db_finalize(st);
  if (r == DB_ERROR) {
    gw_err(GW_FAIL, "cannot read import_sources: %s", db_errmsg(im->g->db));
    return -1;
  }
  return r == DB_ROW;
}

/* Records (or moves) the relay row of source row (kind, sid). Returns 0 or GW_FAIL. */
static int source_put(struct imp *im, const char *kind, int64_t sid, int64_t rid,
                      const char *digest)
{
  return gw_exec(im->g, "cannot write import_sources", "INSERT INTO import_sources(source, kind, "
                 "source_id, relay_id, digest, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                 "ON CONFLICT(source, kind, source_id) DO UPDATE SET relay_id = excluded.relay_id, "
                 "digest = excluded.digest, imported_at = excluded.imported_at", "ssiisi",
                 im->source, kind, sid, rid, digest, (int64_t)time(NULL));
}

/* One column of a relay row as the import would write it (integers in decimal). */
struct field {
  const char *col;
  const char *val;
};

/* Writes the fields of relay row id of table that differ from f, naming each in changed ("status
 * 1 -> 2, models"). Returns 0 (changed may be ""), 1 when relay has no such row any more, or
 * GW_FAIL after printing. */
static int sync_row(struct imp *im, const char *table, int64_t id, const struct field *f, size_t n,
                    char *changed, size_t clen)
{
  char sql[2048];
  size_t used = (size_t)snprintf(sql, sizeof sql, "SELECT ");
  for (size_t i = 0; i < n && used < sizeof sql; i++)
    used += (size_t)snprintf(sql + used, sizeof sql - used, "%sCAST(\"%s\" AS TEXT)", i ? ", " : "",
                             f[i].col);
  if (used < sizeof sql)
    used += (size_t)snprintf(sql + used, sizeof sql - used, " FROM %s WHERE id = ?1", table);
  if (used >= sizeof sql)
    return gw_err(GW_FAIL, "internal error: statement too long");
  struct db_stmt *st = gw_prepare(im->g, "cannot read relay's row", sql, "i", id);
  if (!st)
    return GW_FAIL;
  enum db_step_result r = db_step(st);
  if (r != DB_ROW) {
    db_finalize(st);
    return r == DB_DONE ? 1 : gw_err(GW_FAIL, "cannot read relay's row: %s", db_errmsg(im->g->db));
  }
  int differs[32] = { 0 }, ndiff = 0;
  changed[0] = '\0';
  for (size_t i = 0; i < n && i < 32; i++) {
    const char *now = db_col_text(st, (int)i);
    if (strcmp(now, f[i].val) == 0)
      continue;
    differs[i] = 1;
    ndiff++;
    size_t cl = strlen(changed);
    if (strlen(now) <= 40 && strlen(f[i].val) <= 40)
      snprintf(changed + cl, clen - cl, "%s%s '%s' -> '%s'", cl ? ", " : "", f[i].col, now,
               f[i].val);
    else
      snprintf(changed + cl, clen - cl, "%s%s", cl ? ", " : "", f[i].col);
  }
  db_finalize(st);
  if (!ndiff)
    return 0;
  used = (size_t)snprintf(sql, sizeof sql, "UPDATE %s SET ", table);
  int k = 2;
  for (size_t i = 0; i < n && i < 32 && used < sizeof sql; i++)
    if (differs[i]) {
      used += (size_t)snprintf(sql + used, sizeof sql - used, "%s\"%s\" = ?%d", k > 2 ? ", " : "",
                               f[i].col, k);
      k++;
    }
  if (used < sizeof sql)
    used += (size_t)snprintf(sql + used, sizeof sql - used, " WHERE id = ?1");
  if (used >= sizeof sql)
    return gw_err(GW_FAIL, "internal error: statement too long");
  st = db_prepare(im->g->db, sql);
  int bad = !st || db_bind_int64(st, 1, id) != 0;
  k = 2;
  for (size_t i = 0; !bad && i < n && i < 32; i++)
    if (differs[i])
      bad = db_bind_text(st, k++, f[i].val) != 0;
  if (bad || db_step(st) != DB_DONE) {
    db_finalize(st);
    return gw_err(GW_FAIL, "cannot update relay's row: %s", db_errmsg(im->g->db));
  }
  db_finalize(st);
  return 0;
}

/* A source row an earlier import created (relay row rid): unchanged when its digest is the one
 * recorded (f is then not needed: pass NULL), else relay's row gets the fields f that differ and
 * the new digest is recorded. Reports the row. Returns 0, 1 when relay's row is gone (reported as
 * skipped: the import does not bring back what relay deleted), or GW_FAIL. */
static int import_again(struct imp *im, const char *kind, const char *source, int64_t sid,
                        int64_t rid, const char *digest, const char *had, const struct field *f,
                        size_t n)
{
  const char *table = kind;
  if (strcmp(had, digest) == 0) {
    int64_t one = 0;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?1", table);
    int r = gw_scalar(im->g, "cannot read relay's row", sql, &one, "i", rid);
    if (r < 0)
      return GW_FAIL;
    if (r == 0) {
      report(im, kind, source, NULL, R_SKIPPED, "imported before as id %" PRId64 ", since deleted "
             "in relay: not created again", rid);
      return 1;
    }
    report(im, kind, source, NULL, R_UNCHANGED, "id %" PRId64 " (imported before; the source row "
           "is the same)", rid);
    return 0;
  }
  if (!f)
    return 0;                   /* the caller builds the fields and calls again */
  char changed[1024];
  int r = sync_row(im, table, rid, f, n, changed, sizeof changed);
  if (r == 1) {
    report(im, kind, source, NULL, R_SKIPPED, "imported before as id %" PRId64 ", since deleted in "
           "relay: not created again", rid);
    return 1;
  }
  if (r == 0)
    r = source_put(im, kind, sid, rid, digest);
  if (r != 0)
    return r;
  if (*changed) {
    struct gw_subject s = { 0 };
    r = gw_log_manage(im->g, &s, "import oneapi: %s id %" PRId64 " updated from source id %" PRId64
                      ": %.600s (by %s)", kind, rid, sid, changed, im->who);
    report(im, kind, source, NULL, R_UPDATED, "id %" PRId64 ": %s", rid, changed);
  } else {
    report(im, kind, source, NULL, R_UNCHANGED, "id %" PRId64 " (the source row changed in columns "
           "relay does not keep)", rid);
  }
  return r;
}

static const char *itoa_a(struct imp *im, int64_t v)
{
  char buf[24];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return arena_strdup(&im->arena, buf);
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
    int64_t had = 0, same = 0;
    int r = relay_has(im, "SELECT 1 FROM groups WHERE name = ?1", it->string, &had);
    if (r < 0)
      return GW_FAIL;
    int unchanged = r > 0 ? gw_scalar(im->g, "cannot read groups", "SELECT 1 FROM groups WHERE "
                                      "name = ?1 AND ratio = ?2 AND selectable = ?3", &same, "sdi",
                                      it->string, ratio, (int64_t)selectable) : 0;
    if (unchanged < 0)
      return GW_FAIL;
    if (unchanged) {
      report(im, "groups", it->string, it->string, R_UNCHANGED, "ratio %g%s", ratio,
             selectable ? ", selectable" : "");
      continue;
    }
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
    char digest[KEY_HASH_HEX_LEN + 1], had[KEY_HASH_HEX_LEN + 8] = "";
    int64_t rid = 0;
    row_digest(st, 1, 9, digest);
    int seen = source_get(im, "users", sid, &rid, had, sizeof had);
    if (seen < 0) {
      rc = GW_FAIL;
      break;
    }
    if (!db_col_is_null(st, 8) || status == 3) {   /* One API's 3: deleted (relay has no such code) */
      if (seen)
        report(im, "users", source, NULL, R_SKIPPED, "deleted in the source since the last import: "
               "relay's user (id %" PRId64 ") is kept", rid);
      else
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
    if (seen) {
      rc = import_again(im, "users", source, sid, rid, digest, had, NULL, 0);
      if (rc == 0 && strcmp(had, digest) != 0) {
        const struct field f[] = {
          { "role", itoa_a(im, role) }, { "status", itoa_a(im, status) },
          { "quota", itoa_a(im, quota) }, { "used_quota", itoa_a(im, used < 0 ? 0 : used) },
          { "request_count", itoa_a(im, db_col_int64(st, 6)) }, { "group", group },
        };
        rc = ensure_group(im, group, why);
        if (rc == 0)
          rc = import_again(im, "users", source, sid, rid, digest, had, f, sizeof f / sizeof *f);
      }
      if (rc == 1) {
        rc = 0;
        continue;
      }
      if (rc != 0)
        break;
      char key[24];
      snprintf(key, sizeof key, "%" PRId64, sid);
      int64_t *keep = arena_alloc(&im->arena, sizeof *keep);
      *keep = rid;
      strmap_put(&im->users, arena_strdup(&im->arena, key), keep);
      continue;
    }
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
    rc = source_put(im, "users", sid, *id, digest);
    if (rc != 0)
      break;
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
    char digest[KEY_HASH_HEX_LEN + 1], had[KEY_HASH_HEX_LEN + 8] = "";
    int64_t rid = 0;
    row_digest(st, 1, 18, digest);
    int seen = source_get(im, "tokens", sid, &rid, had, sizeof had);
    if (seen < 0) {
      rc = GW_FAIL;
      break;
    }
    if (!db_col_is_null(st, 16)) {
      if (seen)
        report(im, "tokens", source, NULL, R_SKIPPED, "deleted in the source since the last "
               "import: relay's token (id %" PRId64 ") is kept; gwctl token rm removes it", rid);
      else
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
    int found = seen ? 0 : relay_has(im, "SELECT id FROM tokens WHERE key_hash = ?1", hash, &other);
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
    found = seen ? 0 : gw_scalar(im->g, "cannot read tokens",
                                 "SELECT id FROM tokens WHERE user_id = ?1 AND name = ?2", &other,
                                 "is", uid, name);
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
    if (rc == 0 && seen) {
      int64_t expired = db_col_int64(st, 7) == 0 ? (int64_t)-1 : db_col_int64(st, 7);
      const struct field f[] = {
        { "status", itoa_a(im, status) }, { "expired_time", itoa_a(im, expired) },
        { "remain_quota", itoa_a(im, remain) }, { "unlimited_quota", itoa_a(im, unlimited) },
        { "used_quota", itoa_a(im, db_col_int64(st, 10)) }, { "models", models },
        { "subnet", kept }, { "group", group }, { "key_hash", hash }, { "key_hint", hint },
      };
      rc = import_again(im, "tokens", source, sid, rid, digest, had, f, sizeof f / sizeof *f);
      if (rc == 1)
        rc = 0;
      if (rc != 0)
        break;
      continue;
    }
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
    rc = source_put(im, "tokens", sid, tid, digest);
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
  const char *root;             /* what the source appends to the base before the path without /v1
                                 * ("" for the base itself): relay's base is then the API root
                                 * (types compatible, zhipu, doubao, qwen) */
};

/* Shared ids (both projects), then each project's own (they diverge after 3; newapi.md 4.7). The
 * URLs: songquanpeng/one-api relay/channeltype/url.go and relay/adaptor/{doubao,novita,alibailian,
 * geminiv2}/main.go GetRequestURL; QuantumNous/new-api constant/channel.go and its adaptors. */
static const struct type_map shared_types[] = {
  { 1, "OpenAI", "openai", NULL, NULL },
  { 3, "Azure", "azure", NULL, NULL },
  { 6, "OpenAIMax", "openai", "https://api.openaimax.com", NULL },
  { 7, "OhMyGPT", "openai", "https://api.ohmygpt.com", NULL },
  { 8, "Custom", "custom", NULL, NULL },
  { 9, "AILS", "openai", "https://api.caipacity.com", NULL },
  { 10, "AIProxy", "openai", "https://api.aiproxy.io", NULL },
  { 12, "API2GPT", "openai", "https://api.api2gpt.com", NULL },
  { 13, "AIGC2D", "openai", "https://api.aigc2d.com", NULL },
  { 14, "Anthropic", "anthropic", NULL, NULL },
  { 15, "Baidu", NULL, NULL, NULL },
  { 16, "Zhipu", NULL, NULL, NULL },
  { 17, "Ali", NULL, NULL, NULL },
  { 18, "Xunfei", NULL, NULL, NULL },
  { 20, "OpenRouter", "openrouter", NULL, NULL },
  { 23, "Tencent", NULL, NULL, NULL },
  { 24, "Gemini", "gemini", NULL, NULL },
  { 25, "Moonshot", "moonshot", NULL, NULL },
  { 31, "LingYiWanWu", "openai", "https://api.lingyiwanwu.com", NULL },
  { 33, "AWS", "bedrock", NULL, NULL },   /* key "AK|SK|REGION": relay/adaptor/aws (One API) */
  { 0, NULL, NULL, NULL, NULL },
};
static const struct type_map newapi_types[] = {
  { 2, "Midjourney", NULL, NULL, NULL },
  { 4, "Ollama", "ollama", "http://localhost:11434", NULL },
  { 5, "MidjourneyPlus", NULL, NULL, NULL },
  { 11, "PaLM", NULL, NULL, NULL },
  { 19, "360", "openai", "https://api.360.cn", NULL },
  { 26, "Zhipu_v4", "zhipu", "https://open.bigmodel.cn", "/api/paas/v4" },
  { 27, "Perplexity", "compatible", "https://api.perplexity.ai", "" },
  { 34, "Cohere", "cohere", NULL, NULL },
  { 35, "MiniMax", NULL, NULL, NULL },
  { 36, "SunoAPI", NULL, NULL, NULL },
  { 37, "Dify", NULL, NULL, NULL },
  { 38, "Jina", "jina", NULL, NULL },
  { 39, "Cloudflare", NULL, NULL, NULL },
  { 40, "SiliconFlow", "siliconflow", NULL, NULL },
  { 41, "VertexAI", "vertex", NULL, NULL },
  { 42, "Mistral", "mistral", NULL, NULL },
  { 43, "DeepSeek", "deepseek", NULL, NULL },
  { 44, "MokaAI", NULL, NULL, NULL },
  { 45, "VolcEngine", "doubao", "https://ark.cn-beijing.volces.com", "/api/v3" },
  { 46, "BaiduV2", "compatible", "https://qianfan.baidubce.com", "/v2" },
  { 47, "Xinference", "openai", "", NULL },
  { 48, "xAI", "xai", NULL, NULL },
  { 49, "Coze", NULL, NULL, NULL },
  { 0, NULL, NULL, NULL, NULL },
};
static const struct type_map oneapi_types[] = {
  { 2, "API2D", "openai", "https://oa.api2d.net", NULL },
  { 4, "CloseAI", "openai", "https://api.closeai-proxy.xyz", NULL },
  { 5, "OpenAISB", "openai", "https://api.openai-sb.com", NULL },
  { 11, "PaLM", NULL, NULL, NULL },
  { 19, "360", "openai", "https://ai.360.cn", NULL },
  { 26, "Baichuan", "openai", "https://api.baichuan-ai.com", NULL },
  { 27, "Minimax", NULL, NULL, NULL },
  { 28, "Mistral", "mistral", NULL, NULL },
  { 29, "Groq", "groq", NULL, NULL },
  { 30, "Ollama", "ollama", "http://localhost:11434", NULL },
  { 32, "StepFun", "openai", "https://api.stepfun.com", NULL },
  { 34, "Coze", NULL, NULL, NULL },
  { 35, "Cohere", "cohere", NULL, NULL },
  { 36, "DeepSeek", "deepseek", NULL, NULL },
  { 37, "Cloudflare", NULL, NULL, NULL },
  { 38, "DeepL", NULL, NULL, NULL },
  { 39, "TogetherAI", "together", NULL, NULL },
  { 40, "Doubao", "doubao", "https://ark.cn-beijing.volces.com", "/api/v3" },
  { 41, "Novita", "compatible", "https://api.novita.ai/v3/openai", "" },
  { 42, "VertexAI", "vertex", NULL, NULL },
  { 43, "Proxy", NULL, NULL, NULL },
  { 44, "SiliconFlow", "siliconflow", NULL, NULL },
  { 45, "xAI", "xai", NULL, NULL },
  { 46, "Replicate", NULL, NULL, NULL },
  { 47, "BaiduV2", "compatible", "https://qianfan.baidubce.com", "/v2" },
  { 48, "XunfeiV2", NULL, NULL, NULL },
  { 49, "AliBailian", "qwen", "https://dashscope.aliyuncs.com", "/compatible-mode/v1" },
  { 50, "OpenAICompatible", "compatible", "", "" },
  { 51, "GeminiOpenAICompatible", "compatible",
    "https://generativelanguage.googleapis.com/v1beta/openai", "" },
  { 0, NULL, NULL, NULL, NULL },
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

/* ---- how the source bills a model (One API: the mapped model, per channel type) ----------------- */

/* One API's completion ratio for a model its CompletionRatio map lacks: its rules by name, as
 * songquanpeng/one-api relay/billing/ratio/model.go GetCompletionRatio states them (re-stated here,
 * not copied). */
static double oneapi_completion_rule(const char *model)
{
  char name[MODEL_NAME_MAX + 1];
  snprintf(name, sizeof name, "%s", model);
  size_t n = strlen(name);
#define PFX(p) (strncmp(name, p, strlen(p)) == 0)
#define SFX(x) (n >= strlen(x) && strcmp(name + n - strlen(x), x) == 0)
#define IS(x) (strcmp(name, x) == 0)
  if (PFX("qwen-") && SFX("-internet"))
    name[n - 9] = '\0', n -= 9;
  if (PFX("gpt-3.5"))
    return IS("gpt-3.5-turbo") || SFX("0125") ? 3 : SFX("1106") ? 2 : 4.0 / 3.0;
  if (PFX("gpt-4")) {
    if (PFX("gpt-4o"))
      return IS("gpt-4o-2024-05-13") ? 3 : 4;
    return PFX("gpt-4-turbo") || SFX("preview") ? 3 : 2;
  }
  if (PFX("o1"))
    return 4;
  if (IS("chatgpt-4o-latest"))
    return 3;
  if (PFX("claude-3"))
    return 5;
  if (PFX("claude-") || PFX("mistral-") || PFX("gemini-"))
    return 3;
  if (PFX("deepseek-"))
    return 2;
  static const struct {
    const char *name;
    double ratio;
  } named[] = {
    { "llama2-70b-4096", 0.8 / 0.64 }, { "llama3-8b-8192", 2 }, { "llama3-70b-8192", 0.79 / 0.59 },
    { "command", 2 }, { "command-light", 2 }, { "command-nightly", 2 },
    { "command-light-nightly", 2 }, { "command-r", 3 }, { "command-r-plus", 5 },
    { "grok-beta", 3 }, { "ibm-granite/granite-20b-code-instruct-8k", 5 },
    { "ibm-granite/granite-3.0-2b-instruct", 8.333333333333334 },
    { "ibm-granite/granite-3.0-8b-instruct", 5 }, { "ibm-granite/granite-8b-code-instruct-128k", 5 },
    { "meta/llama-2-13b", 5 }, { "meta/llama-2-13b-chat", 5 }, { "meta/llama-2-7b", 5 },
    { "meta/llama-2-7b-chat", 5 }, { "meta/meta-llama-3-8b", 5 },
    { "meta/meta-llama-3-8b-instruct", 5 }, { "meta/llama-2-70b", 2.750 / 0.650 },
    { "meta/llama-2-70b-chat", 2.750 / 0.650 }, { "meta/meta-llama-3-70b", 2.750 / 0.650 },
    { "meta/meta-llama-3-70b-instruct", 2.750 / 0.650 }, { "meta/meta-llama-3.1-405b-instruct", 1 },
    { "mistralai/mistral-7b-instruct-v0.2", 5 }, { "mistralai/mistral-7b-v0.1", 5 },
    { "mistralai/mixtral-8x7b-instruct-v0.1", 1.000 / 0.300 },
  };
  for (size_t i = 0; i < sizeof named / sizeof *named; i++)
    if (IS(named[i].name))
      return named[i].ratio;
  return 1;
#undef PFX
#undef SFX
#undef IS
}

/* New API's completion ratio for a requested model: its rules by name, some of which override the
 * saved CompletionRatio ("locked": gpt-4-turbo, gpt-5, o1/o3, claude-3 and -4, gemini-1.5/2.0,
 * mistral-...), the others a default for a model the map lacks (gpt-4o 4, gpt-* 2, gemini-2.5-pro
 * 8, gemini-2.5-flash 2.5/0.3, ...), 1 for anything else. Re-stated, not copied, from
 * QuantumNous/new-api setting/ratio_setting/model_ratio.go (commit 00f6587d): GetCompletionRatio,
 * getHardcodedCompletionModelRatio, FormatMatchingModelName. *rule is set when the rule, not
 * the map, gave the ratio. */
static double newapi_completion_ratio(const char *model, const cJSON *map, bool *rule)
{
  char name[MODEL_NAME_MAX + 1];
  snprintf(name, sizeof name, "%s", model);
  size_t n = strlen(name);
#define PFX(p) (strncmp(name, p, strlen(p)) == 0)
#define SFX(x) (n >= strlen(x) && strcmp(name + n - strlen(x), x) == 0)
#define IS(x) (strcmp(name, x) == 0)
#define HAS(x) (strstr(name, x) != NULL)
  /* FormatMatchingModelName: thinking-budget names and GPTs share one key */
  const char *wild = NULL;
  if (PFX("gemini-2.5-flash-lite"))
    wild = "gemini-2.5-flash-lite-thinking-*";
  else if (PFX("gemini-2.5-flash"))
    wild = "gemini-2.5-flash-thinking-*";
  else if (PFX("gemini-2.5-pro"))
    wild = "gemini-2.5-pro-thinking-*";
  if (wild && HAS("-thinking-"))
    snprintf(name, sizeof name, "%s", wild);
  if (PFX("gpt-4-gizmo"))
    snprintf(name, sizeof name, "gpt-4-gizmo-*");
  if (PFX("gpt-4o-gizmo"))
    snprintf(name, sizeof name, "gpt-4o-gizmo-*");
  n = strlen(name);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, name);
  bool saved = cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0
               && v->valuedouble <= RATIO_MAX;
  *rule = false;
  if (saved && HAS("/"))
    return v->valuedouble;      /* a vendor/model name: the saved ratio first */
  double r = 1;
  bool locked = false;
  if (SFX("-all") || SFX("-gizmo-*"))
    r = 2;
  else if (PFX("gpt-")) {       /* (New API's gpt-3.5 rules below this are never reached) */
    if (PFX("gpt-4o"))
      r = IS("gpt-4o-2024-05-13") ? 3 : PFX("gpt-4o-mini-tts") ? 20 : 4,
      locked = IS("gpt-4o-2024-05-13");
    else if (PFX("gpt-5"))
      r = !strchr(name, '.') ? 8 : PFX("gpt-5.4-nano") ? 6.25 : 6,
      locked = !strchr(name, '.') || PFX("gpt-5.4");
    else if (PFX("gpt-4.5-preview"))
      r = 2, locked = true;
    else if (PFX("gpt-4-turbo") || SFX("gpt-4-1106") || SFX("gpt-4-1105"))
      r = 3, locked = true;
    else
      r = 2;
  } else if (PFX("o1") || PFX("o3"))
    r = 4, locked = true;
  else if (IS("chatgpt-4o-latest"))
    r = 3, locked = true;
  else if (HAS("claude-3") || HAS("claude-sonnet-4") || HAS("claude-opus-4") || HAS("claude-haiku-4")
           || HAS("claude-fable-5") || HAS("claude-sonnet-5") || HAS("claude-opus-5"))
    r = 5, locked = true;
  else if (PFX("mistral-"))
    r = 3, locked = true;
  else if (PFX("gemini-")) {
    if (PFX("gemini-1.5") || PFX("gemini-2.0"))
      r = 4, locked = true;
    else if (PFX("gemini-2.5-pro"))
      r = 8;
    else if (PFX("gemini-2.5-flash-preview"))
      r = SFX("-nothinking") ? 4 : 3.5 / 0.15;
    else if (PFX("gemini-2.5-flash-lite"))
      r = 4;
    else if (PFX("gemini-2.5-flash") || PFX("gemini-robotics-er-1.5"))
      r = 2.5 / 0.3;
    else if (PFX("gemini-3-pro"))
      r = PFX("gemini-3-pro-image") ? 60 : 6;
    else
      r = 4;
  } else if (PFX("command")) {
    locked = true;
    r = IS("command-r") ? 3 : IS("command-r-plus") ? 5
        : IS("command-r-08-2024") || IS("command-r-plus-08-2024") ? 4 : (locked = false, 4);
  } else if (PFX("ERNIE-Speed-") || PFX("ERNIE-Lite-") || PFX("ERNIE-Character")
             || PFX("ERNIE-Functions"))
    r = 2, locked = true;
  else if (IS("llama2-70b-4096"))
    r = 0.8 / 0.64, locked = true;
  else if (IS("llama3-8b-8192"))
    r = 2, locked = true;
  else if (IS("llama3-70b-8192"))
    r = 0.79 / 0.59, locked = true;
  if (!locked && saved)
    return v->valuedouble;
  *rule = true;
  return r;
#undef PFX
#undef SFX
#undef IS
#undef HAS
}

/* A ratio from a source map for model on a channel of type (One API tries "model(type)" first,
 * then "model"). Returns whether found. */
static bool src_ratio(const cJSON *map, const char *model, int64_t type, double *out)
{
  char k[MODEL_NAME_MAX + 32];
  snprintf(k, sizeof k, "%s(%" PRId64 ")", model, type);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, k);
  if (!cJSON_IsNumber(v))
    v = cJSON_GetObjectItemCaseSensitive(map, model);
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0
      || v->valuedouble > RATIO_MAX)
    return false;
  *out = v->valuedouble;
  return true;
}

/* What the source charges for a requested model, as its channels bill it. */
struct bill {
  double ratio, comp;
  bool comp_known;              /* comp is the source's (One API always: a rule at worst) */
  bool conflict;                /* two channels bill it differently: relay has one price */
  bool done;                    /* written by import_prices */
  char via[512];                /* how the source arrives at it ("" when it is the model's own) */
};

#define ONEAPI_DEFAULT_RATIO 30.0  /* One API GetModelRatio for a model without one */
#define NEWAPI_SELF_USE_RATIO 37.5 /* New API GetModelRatio without one, in self-use mode */

/* Builds im->bills: for each model the source's channels serve, the model ratio and completion
 * ratio the source would bill a request for it with. One API prices the mapped (upstream) model
 * with its channel type's ratio ("name(type)") when there is one, at ratio 30 when there is none,
 * completion ratio by its rules; New API prices the requested model (relay's rule too), so only its
 * self-use default needs a row. */
static int import_option(struct imp *im, const char *kind, const char *key, const char *value,
                         const char *relay, bool boolean, const char *why_set);

static int plan_bills(struct imp *im, const cJSON *model, const cJSON *comp, const cJSON *fixed)
{
  strmap_init(&im->bills, 64);
  struct db_stmt *st = src_prepare(im, "SELECT id, type, models, model_mapping, name FROM channels "
                                   "ORDER BY id");
  if (!st)
    return GW_FAIL;
  const char *self_use = option(im, "SelfUseModeEnabled");
  bool na_default = im->flavor == FLAVOR_NEWAPI && self_use && strcmp(self_use, "true") == 0;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW) {
    int64_t type = db_col_int64(st, 1);
    const struct type_map *tm = map_type(im->flavor, type);
    if (!tm || !tm->type)
      continue;                 /* not imported: it bills nothing in relay */
    cJSON *map = im->flavor == FLAVOR_ONEAPI ? cJSON_Parse(db_col_text(st, 3)) : NULL;
    char models[GW_LIST_MAX + 1], dropped[512];
    clean_list(db_col_text(st, 2), ",", MODEL_NAME_MAX, models, sizeof models, dropped,
               sizeof dropped);
    for (const char *p = models; *p;) {
      size_t l = strcspn(p, ",");
      char m[MODEL_NAME_MAX + 1];
      snprintf(m, sizeof m, "%.*s", (int)l, p);
      p += l + (p[l] == ',');
      struct bill b = { 0 };
      if (im->flavor == FLAVOR_ONEAPI) {
        const char *up = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(map, m));
        if (!up || !*up)
          up = m;
        char k[MODEL_NAME_MAX + 32];
        snprintf(k, sizeof k, "%s(%" PRId64 ")", up, type);
        bool typed = cJSON_HasObjectItem(model, k);
        if (!src_ratio(model, up, type, &b.ratio))
          b.ratio = ONEAPI_DEFAULT_RATIO;
        b.comp_known = true;
        if (!src_ratio(comp, up, type, &b.comp))
          b.comp = oneapi_completion_rule(up);
        size_t vl = 0;
        if (strcmp(up, m) != 0)
          vl += (size_t)snprintf(b.via + vl, sizeof b.via - vl, "channel %.40s maps it to %.60s "
                                 "and One API bills the mapped model; ", db_col_text(st, 4), up);
        if (typed && vl < sizeof b.via)
          vl += (size_t)snprintf(b.via + vl, sizeof b.via - vl, "ratio of %.80s (type %" PRId64
                                 " channels); ", k, type);
        if (!cJSON_HasObjectItem(model, up) && !typed && vl < sizeof b.via)
          vl += (size_t)snprintf(b.via + vl, sizeof b.via - vl, "no ModelRatio for %.60s: One "
                                 "API's default ratio %g; ", up, ONEAPI_DEFAULT_RATIO);
      } else {
        if (cJSON_HasObjectItem(model, m) || cJSON_HasObjectItem(fixed, m) || !na_default)
          continue;
        b.ratio = NEWAPI_SELF_USE_RATIO;
        bool rule;
        b.comp = newapi_completion_ratio(m, comp, &rule);
        b.comp_known = true;
        snprintf(b.via, sizeof b.via, "no ModelRatio: New API's self-use mode default ratio %g; ",
                 NEWAPI_SELF_USE_RATIO);
      }
      size_t vl = strlen(b.via);
      if (vl >= 2)
        b.via[vl - 2] = '\0';
      struct bill *have = strmap_get(&im->bills, m);
      if (!have) {
        struct bill *nb = arena_alloc(&im->arena, sizeof *nb);
        *nb = b;
        strmap_put(&im->bills, arena_strdup(&im->arena, m), nb);
      } else if (!have->conflict && (have->ratio != b.ratio || have->comp != b.comp)) {
        have->conflict = true;
        size_t hl = strlen(have->via);
        snprintf(have->via + hl, sizeof have->via - hl, "%sbut channel %.40s bills it at model "
                 "ratio %g, completion ratio %g%s%.100s%s", hl ? "; " : "", db_col_text(st, 4),
                 b.ratio, b.comp, *b.via ? " (" : "", b.via, *b.via ? ")" : "");
      }
    }
    cJSON_Delete(map);
  }
  return src_end(im, st, r, 0);
}

/* Writes one price (model ratio, completion ratio, and the cache ratio when has_k) unless relay
 * has it already. Returns R_IMPORTED (written) or R_UNCHANGED, or -1 after printing. */
static int put_price(struct imp *im, const char *m, double ratio, double comp, int keep_comp,
                     int has_k, double cache)
{
  int64_t same = 0;
  int r = gw_scalar(im->g, "cannot read prices", "SELECT 1 FROM prices WHERE model = ?1 AND "
                    "model_ratio = ?2 AND (?5 <> 0 OR completion_ratio = ?3) AND "
                    "(?6 = 0 OR cache_ratio = ?4)", &same, "sdddii", m, ratio, comp, cache,
                    (int64_t)keep_comp, (int64_t)has_k);
  if (r < 0)
    return -1;
  if (r > 0)
    return R_UNCHANGED;
  if (gw_exec(im->g, "cannot write the price",
              "INSERT INTO prices(model, model_ratio, completion_ratio, cache_ratio) "
              "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(model) DO UPDATE SET "
              "model_ratio = excluded.model_ratio, "
              "completion_ratio = CASE WHEN ?5 = 0 THEN excluded.completion_ratio "
              "ELSE prices.completion_ratio END, "
              "cache_ratio = CASE WHEN ?6 <> 0 THEN excluded.cache_ratio "
              "ELSE prices.cache_ratio END",
              "sdddii", m, ratio, comp, has_k ? cache : 1.0, (int64_t)keep_comp, (int64_t)has_k) != 0)
    return -1;
  im->prices_written++;
  return R_IMPORTED;
}

/* A One API ratio key with a channel-type suffix, "llama3-8b-8192(33)": the type, else -1. */
static int64_t typed_key(const char *k)
{
  size_t n = strlen(k);
  if (n < 4 || k[n - 1] != ')')
    return -1;
  const char *open = strrchr(k, '(');
  if (!open || open == k || open + 1 == k + n - 1)
    return -1;
  int64_t t = 0;
  for (const char *p = open + 1; p < k + n - 1; p++) {
    if (*p < '0' || *p > '9' || t > 100000)
      return -1;
    t = t * 10 + (*p - '0');
  }
  return t;
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
  int rc = plan_bills(im, model, comp, price);
  bool oa = im->flavor == FLAVOR_ONEAPI;
  if (!pm)
    report(im, "prices", "ModelRatio", NULL, R_SKIPPED, "option not set in the source (it used its "
           "built-in ratios): relay's own prices are kept");
  /* QuantumNous/new-api service/text_quota.go: quotaCalculateDecimal.Round(0), half away from
   * zero: relay's option quota_rounding=half_up does the same (common/quota.h) */
  if (!oa && rc == 0)
    rc = import_option(im, "prices", "rounding", "half_up", "quota_rounding", false,
                       "New API rounds a bill to the nearest unit (half up), One API and relay's "
                       "default round it up: option quota_rounding set to half_up (every bill of "
                       "this relay rounds so)");
  /* model ratios, then fixed prices (a model in both is priced per call, as New API does) */
  for (int pass = 0; pass < 2 && rc == 0; pass++) {
    const cJSON *it, *list = pass == 0 ? model : price;
    cJSON_ArrayForEach(it, list) {
      const char *m = it->string;
      double v = cJSON_GetNumberValue(it);
      int64_t tk = pass == 0 && oa ? typed_key(m) : -1;
      if (tk >= 0) {
        const struct type_map *tm = map_type(im->flavor, tk);
        report(im, "prices", m, NULL, R_SKIPPED, "One API uses this ratio only on type %" PRId64
               " (%s) channels; relay has one price per model: %s", tk,
               tm ? tm->source_name : "unknown", tm && tm->type ? "applied to the models such "
               "channels serve when they are imported (see their price rows)" : "no such channel "
               "is imported");
        continue;
      }
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
        int64_t same = 0;
        int r = gw_scalar(im->g, "cannot read prices", "SELECT 1 FROM prices WHERE model = ?1 AND "
                          "fixed_price = ?2", &same, "sd", m, v);
        if (r < 0) {
          rc = GW_FAIL;
          break;
        }
        if (r == 0)
          rc = gw_exec(im->g, "cannot write the price",
                       "INSERT INTO prices(model, model_ratio, fixed_price) VALUES (?1, 0, ?2) "
                       "ON CONFLICT(model) DO UPDATE SET fixed_price = excluded.fixed_price", "sd",
                       m, v);
        if (rc == 0)
          report(im, "prices", m, m, r ? R_UNCHANGED : R_IMPORTED, "%g USD per call (ModelPrice)",
                 v);
        im->prices_written += r == 0;
        continue;
      }
      /* completion and cache ratios: the source's; One API's rules by name when it has none;
       * New API's rules by name (below). New API bills a model its saved CacheRatio lacks at 1
       * (setting/ratio_setting/cache_ratio.go GetCacheRatio): so does relay then */
      const cJSON *kv = cJSON_GetObjectItemCaseSensitive(cache, m);
      double c = 1, k = 1;
      int has_c = src_ratio(comp, m, -1, &c);
      int has_k = cJSON_IsNumber(kv) && kv->valuedouble >= 0 && kv->valuedouble <= RATIO_MAX;
      if (has_k)
        k = kv->valuedouble;
      else if (!oa && pk && !kv)
        has_k = 1;
      char how[640] = "";
      struct bill *b = strmap_get(&im->bills, m);
      if (b && !b->conflict) {
        b->done = true;
        if (*b->via)
          snprintf(how, sizeof how, "; as the source bills it: %s", b->via);
        v = b->ratio;
        c = b->comp;
        has_c = b->comp_known;
      } else if (b) {
        b->done = true;
        snprintf(how, sizeof how, "; CHANNELS BILL IT DIFFERENTLY in the source and relay has one "
                 "price per model, its own ratio is kept: %s", b->via);
      }
      bool rule = !has_c && oa;
      if (rule) {
        c = oneapi_completion_rule(m);
        has_c = 1;
      }
      /* New API: its rules by name, over the saved ratio where they are locked */
      bool narule = false;
      double na_saved = c;
      int na_had = has_c;
      if (!oa) {
        c = newapi_completion_ratio(m, comp, &narule);
        has_c = 1;
      }
      int res = put_price(im, m, v, c, !has_c, has_k, k);
      if (res < 0) {
        rc = GW_FAIL;
        break;
      }
      /* the cache write ratio: New API's CreateCacheRatio, 1.25 for a model it lacks
       * (cache_ratio.go GetCreateCacheRatio) */
      const cJSON *wv = cJSON_GetObjectItemCaseSensitive(cwrite, m);
      char cw[192] = "";
      double wr = -1;
      if (cJSON_IsNumber(wv) && isfinite(wv->valuedouble) && wv->valuedouble >= 0
          && wv->valuedouble <= RATIO_MAX)
        wr = wv->valuedouble;
      else if (!wv && !oa && pw)
        wr = 1.25;
      if (wr >= 0) {
        double w1h = wr * NEWAPI_CACHE_1H_MULTIPLIER;
        rc = gw_exec(im->g, "cannot write the price", "UPDATE prices SET cache_write_ratio = ?2, "
                     "cache_write_1h_ratio = ?3 WHERE model = ?1", "sdd", m, wr, w1h);
        if (rc != 0)
          break;
        snprintf(cw, sizeof cw, ", cache write ratio %g (1h: %g, CreateCacheRatio x 1.6%s)", wr,
                 w1h, wv ? "" : "; New API's default for a model its CreateCacheRatio lacks");
      } else if (wv) {
        snprintf(cw, sizeof cw, "; CreateCacheRatio not a number from 0 to %g: default kept",
                 RATIO_MAX);
      }
      if (res == R_UNCHANGED)
        report(im, "prices", m, m, R_UNCHANGED, "model ratio %g, completion ratio %g%s", v, c, cw);
      else if (rule)
        report(im, "prices", m, m, R_MAPPED, "model ratio %g; no CompletionRatio for it in the "
               "source: completion ratio %g by One API's rule for the name%s%s", v, c, cw, how);
      else if (narule && na_had && na_saved != c)
        report(im, "prices", m, m, R_MAPPED, "model ratio %g; completion ratio %g by New API's "
               "rule for the name, which overrides its CompletionRatio %g%s%s", v, c, na_saved, cw,
               how);
      else if (narule && !na_had)
        report(im, "prices", m, m, R_MAPPED, "model ratio %g; no CompletionRatio for it in the "
               "source: completion ratio %g by New API's rule for the name%s%s", v, c, cw, how);
      else
        report(im, "prices", m, m, *how ? R_MAPPED : R_IMPORTED, "model ratio %g, completion "
               "ratio %g%s%s", v, c, cw, how);
    }
  }
  /* models the channels serve that the ratio map does not name (mapped to a priced model, or at
   * the source's default ratio) */
  for (size_t i = 0; rc == 0 && i < im->bills.nslots; i++) {
    void *vp;
    const char *m = strmap_slot(&im->bills, i, &vp);
    struct bill *b = vp;
    if (!m || b->done || cJSON_HasObjectItem(price, m))
      continue;
    if (b->conflict) {
      report(im, "prices", m, NULL, R_SKIPPED, "CHANNELS BILL IT DIFFERENTLY in the source and "
             "relay has one price per model: not priced (gwctl price set): %s", b->via);
      continue;
    }
    int res = put_price(im, m, b->ratio, b->comp, !b->comp_known, 0, 1);
    if (res < 0) {
      rc = GW_FAIL;
      break;
    }
    report(im, "prices", m, m, res == R_UNCHANGED ? R_UNCHANGED : R_MAPPED, "model ratio %g, "
           "completion ratio %g: as the source bills it: %s", b->ratio, b->comp, b->via);
  }
  struct gw_subject s = { 0 };
  if (rc == 0 && im->prices_written)
    rc = gw_log_manage(im->g, &s, "import oneapi: %" PRId64 " prices from ModelRatio/"
                       "CompletionRatio%s (by %s)", im->prices_written, pp ? "/ModelPrice" : "",
                       im->who);
  cJSON_Delete(model);
  cJSON_Delete(comp);
  cJSON_Delete(price);
  cJSON_Delete(cache);
  cJSON_Delete(cwrite);
  return rc;
}

/* Source columns relay has no equivalent for: named in the report when set. New API's
 * OpenAIOrganization is the column open_ai_organization (GORM's naming; QuantumNous/new-api
 * model/channel.go). test_model and auto_ban have relay equivalents (channels.test_model,
 * channels.auto_disable) and are imported. */
static const struct {
  const char *column, *unset;   /* unset: the value meaning "not used" */
} dropped_columns[] = {
  { "system_prompt", "" }, { "open_ai_organization", "" }, { "openai_organization", "" },
  { "status_code_mapping", "" }, { "param_override", "" }, { "setting", "" },
  { "config", "" }, { NULL, NULL },
};

/* Whether a JSON value is what the web UIs save for "not set": "", 0, false, null, {} or [], or an
 * object or array of only such values ({"region":"","sk":"","ak":""} on every One API channel). */
static bool json_unset(const cJSON *v)
{
  if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v))
    return true;
  if (cJSON_IsString(v))
    return !*v->valuestring;
  if (cJSON_IsNumber(v))
    return v->valuedouble == 0;
  if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
      if (!json_unset(it))
        return false;
    return true;
  }
  return false;
}

/* Whether a source column's text is set: not "", not its unset value, not an unset JSON value. */
static bool column_set(const char *v, const char *unset)
{
  if (!*v || strcmp(v, unset) == 0)
    return false;
  cJSON *j = cJSON_Parse(v);
  bool set = !j || !json_unset(j);
  cJSON_Delete(j);
  return set;
}

/* A New API multi-key channel (QuantumNous/new-api model/channel.go: key holds the keys one a line;
 * channel_info is {"is_multi_key", "multi_key_status_list": {index: status}, "multi_key_disabled_reason",
 * "multi_key_disabled_time", "multi_key_mode": "random"|"polling"}, indexes from 0). */
struct src_pool {
  char *buf;                    /* the keys, copied, cut at each newline (owned; wiped by pool_clear) */
  size_t buflen;
  char *keys[POOL_KEYS_MAX];    /* into buf */
  size_t n, noff;
  const char *mode;             /* relay's key_mode */
  int status[POOL_KEYS_MAX];    /* relay's status of each key */
  char *reason[POOL_KEYS_MAX];  /* the source's disable reason (owned) or NULL */
  int64_t when[POOL_KEYS_MAX];
};

static void pool_clear(struct src_pool *p)
{
  if (p->buf) {
    OPENSSL_cleanse(p->buf, p->buflen);
    free(p->buf);
  }
  for (size_t i = 0; i < p->n; i++)
    free(p->reason[i]);
  p->buf = NULL;
  p->n = 0;
}

/* Splits key (one a line, blank lines and blanks around each skipped) and reads channel_info.
 * 0, or -1 when out of memory. A key without a newline gives n = 1 (or 0 when empty). */
static int pool_read(struct src_pool *p, const char *key, const char *info)
{
  memset(p, 0, sizeof *p);
  p->mode = "random";
  if (!strchr(key, '\n'))
    return 0;
  p->buflen = strlen(key) + 1;
  if (!(p->buf = malloc(p->buflen)))
    return -1;
  memcpy(p->buf, key, p->buflen);
  cJSON *ci = cJSON_Parse(info ? info : "");
  const char *mode = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ci, "multi_key_mode"));
  if (mode && strcmp(mode, "polling") == 0)
    p->mode = "round-robin";
  const cJSON *sl = cJSON_GetObjectItemCaseSensitive(ci, "multi_key_status_list");
  const cJSON *rl = cJSON_GetObjectItemCaseSensitive(ci, "multi_key_disabled_reason");
  const cJSON *tl = cJSON_GetObjectItemCaseSensitive(ci, "multi_key_disabled_time");
  size_t src_index = 0;
  for (char *line = p->buf, *next; line && p->n < POOL_KEYS_MAX; line = next, src_index++) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    while (*line == ' ' || *line == '\t')
      line++;
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
      line[--l] = '\0';
    if (!l)
      continue;
    char idx[24];
    snprintf(idx, sizeof idx, "%zu", src_index);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(sl, idx);
    int s = cJSON_IsNumber(st) ? (int)st->valuedouble : STATUS_ENABLED;
    /* New API: 1 enabled, 2 disabled by hand, 3 disabled automatically (as relay's) */
    p->status[p->n] = s == STATUS_DISABLED || s == STATUS_AUTO_DISABLED ? s : STATUS_ENABLED;
    p->noff += p->status[p->n] != STATUS_ENABLED;
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rl, idx));
    p->reason[p->n] = p->status[p->n] != STATUS_ENABLED && why ? strndup(why, 190) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(tl, idx);
    p->when[p->n] = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
    p->keys[p->n++] = line;
  }
  cJSON_Delete(ci);
  return 0;
}

/* Channel cid (its key set to keys[0]) becomes the pool: the other keys, each key's status from
 * the source, and the key mode. 0 or GW_FAIL. */
static int pool_store(struct imp *im, int64_t cid, const struct src_pool *p)
{
  int rc = gw_pool_add(im->g, cid, p->keys + 1, p->n - 1, NULL);
  for (size_t i = 0; rc == 0 && i < p->n; i++)
    if (p->status[i] != STATUS_ENABLED)
      rc = gw_exec(im->g, "cannot store the key pool", "UPDATE channel_keys SET status = ?3, status_reason = ?4, "
                   "status_time = ?5 WHERE channel_id = ?1 AND idx = ?2", "iiisi", cid, (int64_t)i + 1,
                   (int64_t)p->status[i], p->reason[i] ? p->reason[i] : "disabled in the source", p->when[i]);
  if (rc == 0)
    rc = gw_exec(im->g, "cannot store the key pool", "UPDATE channels SET key_mode = ?2 WHERE id = ?1", "is", cid,
                 p->mode);
  return rc;
}

/* A Vertex AI channel of the source as relay's vertex channel: the service-account key (New API:
 * the key column; One API: config.vertex_ai_adc) compact into key, {"region","project"} into other,
 * the region's endpoint into base. New API keeps the region in other (a name, or {"MODEL": R,
 * "default": R}: relay has one region a channel, the default's), One API in config.region and the
 * project in config.vertex_ai_project_id (QuantumNous/new-api relay/channel/vertex GetModelRegion;
 * songquanpeng/one-api relay/adaptor/vertexai). 0, or -1 with why the channel is skipped. */
static int vertex_source(enum flavor f, const char *src_key, const char *src_other, const char *config, char *key,
                         size_t keylen, char *other, size_t otherlen, char *base, size_t baselen, char *notes,
                         size_t noteslen, char *why, size_t whylen)
{
  cJSON *cfg = cJSON_Parse(config), *oj = NULL;
  const char *adc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "vertex_ai_adc"));
  const char *region = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "region"));
  const char *project = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "vertex_ai_project_id"));
  if (f == FLAVOR_NEWAPI) {
    adc = src_key;
    project = NULL;
    region = src_other;
    if (*src_other == '{') {
      oj = cJSON_Parse(src_other);
      region = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(oj, "default"));
      if (cJSON_GetArraySize(oj) > (region ? 1 : 0))
        note(notes, noteslen, "per-model regions dropped (one region a channel); ");
    }
  }
  region = region && *region ? region : VERTEX_DEFAULT_REGION;
  cJSON *k = cJSON_Parse(adc ? adc : "");
  char *compact = cJSON_IsObject(k) ? cJSON_PrintUnformatted(k) : NULL;
  cJSON_Delete(k);
  char key_project[VERTEX_NAME_MAX + 1] = "";     /* the key's own project_id */
  cJSON *kj = compact ? cJSON_Parse(compact) : NULL;
  const char *kp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kj, "project_id"));
  if (vertex_name_ok(kp))
    snprintf(key_project, sizeof key_project, "%s", kp);
  cJSON_Delete(kj);
  if (!project || !*project)
    project = key_project;
  int rc = -1;
  if (!compact)
    snprintf(why, whylen, "its key is not a service-account key (JSON): relay's vertex channels need one");
  else if (strlen(compact) >= keylen)
    snprintf(why, whylen, "its service-account key is longer than %zu bytes", keylen - 1);
  else if (!vertex_name_ok(region))
    snprintf(why, whylen, "its region '%.40s' is not a region name", region);
  else if (!vertex_name_ok(project))
    snprintf(why, whylen, "no project: neither the channel nor its key names one");
  else if (vertex_default_base(region, base, baselen) < 0)
    snprintf(why, whylen, "its region '%.40s' is not a region name", region);
  else
    rc = 0;
  if (rc == 0) {
    memcpy(key, compact, strlen(compact) + 1);
    cJSON *o = cJSON_CreateObject();
    char *t = NULL;
    if (o && cJSON_AddStringToObject(o, "region", region) && cJSON_AddStringToObject(o, "project", project))
      t = cJSON_PrintUnformatted(o);
    snprintf(other, otherlen, "%s", t ? t : "");
    free(t);
    cJSON_Delete(o);
  }
  if (compact)
    OPENSSL_cleanse(compact, strlen(compact));
  cJSON_free(compact);
  cJSON_Delete(oj);
  cJSON_Delete(cfg);
  return rc;
}

static int import_channels(struct imp *im)
{
  char sql[2048];
  snprintf(sql, sizeof sql,
           "SELECT id, type, \"key\", status, name, weight, created_time, test_time, response_time, "
           "base_url, other, models, \"group\", model_mapping, priority, used_quota, %s, %s, %s, "
           "%s, %s FROM channels ORDER BY id", col(im, "channels", "tag", "''"),
           col(im, "channels", "config", "''"), col(im, "channels", "test_model", "''"),
           col(im, "channels", "auto_ban", "1"), col(im, "channels", "channel_info", "''"));
  struct db_stmt *st = src_prepare(im, sql);
  if (!st)
    return GW_FAIL;
  {
    struct db_stmt *mx = src_prepare(im, "SELECT COALESCE(MAX(id), 0) FROM channels");
    if (!mx)
      return GW_FAIL;
    enum db_step_result mr = db_step(mx);
    im->src_max_channel = mr == DB_ROW ? db_col_int64(mx, 0) : 0;
    int mrc = src_end(im, mx, mr == DB_ROW ? DB_DONE : mr, 0);
    if (mrc != 0) {
      db_finalize(st);
      return mrc;
    }
  }
  int has_drop[16] = { 0 };
  for (int i = 0; dropped_columns[i].column; i++)
    has_drop[i] = src_has_column(im, "channels", dropped_columns[i].column);
  enum db_step_result r;
  int rc = 0;
  struct src_pool pool;       /* the current row's keys when it has several */
  memset(&pool, 0, sizeof pool);
  while (rc == 0 && (r = db_step(st)) == DB_ROW) {
    pool_clear(&pool);
    int64_t sid = db_col_int64(st, 0), type = db_col_int64(st, 1);
    char source[160], name[GW_NAME_MAX + 24], fallback[32], notes[1536] = "";
    snprintf(source, sizeof source, "id %" PRId64 " %.64s", sid, db_col_text(st, 4));
    /* the digest: the row without its key, then the key's own (a new key is set again) */
    char digest[KEY_HASH_HEX_LEN + 1], kdig[KEY_HASH_HEX_LEN + 1], had[KEY_HASH_HEX_LEN + 8] = "";
    row_digest(st, 3, 20, digest);
    row_digest(st, 1, 3, kdig);
    memcpy(digest + 48, kdig, 16);
    int64_t rid = 0;
    int seen = source_get(im, "channels", sid, &rid, had, sizeof had);
    if (seen < 0) {
      rc = GW_FAIL;
      break;
    }
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
    const struct provider *vp = provider_find(tm->type);
    char vkey[8193], vother[256] = "", vbase[128] = "", why[160];
    bool vertex = vp->auth == AUTH_GOOGLE_SA;
    if (vertex && vertex_source(im->flavor, key, db_col_text(st, 10), db_col_text(st, 17), vkey, sizeof vkey, vother,
                                sizeof vother, vbase, sizeof vbase, notes, sizeof notes, why, sizeof why) < 0) {
      report(im, "channels", source, NULL, R_SKIPPED, "type %" PRId64 " (%s): %s", type, tm->source_name, why);
      continue;
    }
    if (vertex)
      key = vkey;             /* one line now: the key JSON compact */
    /* New API's multi-key channel: its keys one a line; it becomes a key pool */
    if (pool_read(&pool, key, db_col_text(st, 20)) < 0) {
      rc = gw_err(GW_FAIL, "out of memory");
      break;
    }
    if (pool.buf)         /* several lines: the first key (or none when all are blank) */
      key = pool.n ? pool.keys[0] : "";
    if (pool.n > 1) {
      note(notes, sizeof notes, "%zu keys (one a line) -> a key pool, key mode %s%s; ", pool.n, pool.mode,
           pool.noff ? ", the keys disabled in the source stay disabled" : "");
    }
    /* base URL */
    char url[2048];
    const char *base = db_col_text(st, 9);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
      n--;
    const struct provider *prov = provider_find(tm->type);   /* known: checked above */
    const char *defurl = tm->base_url ? tm->base_url : vertex ? vbase : prov->base_url;
    bool azure = prov->url == URLR_AZURE;                      /* takes an api-version */
    char regional[256];
    if (n == 0 && !defurl && prov->region_url) {
      /* an AWS channel (bedrock): its URL is its region's, named in its key AK|SK|REGION */
      struct sigv4_creds cr;
      char rerr[200];
      if (sigv4_creds_parse(key, NULL, &cr, rerr, sizeof rerr) == 0 &&
          provider_region_base(prov, cr.region, regional, sizeof regional, rerr, sizeof rerr) == 0)
        defurl = regional;
      OPENSSL_cleanse(&cr, sizeof cr);
      if (defurl)
        note(notes, sizeof notes, "type %" PRId64 " (%s) -> bedrock (the URL of the key's region); map its "
             "model names to Bedrock model ids (gwctl channel edit --model-map: %s maps them itself); ",
             type, tm->source_name, flavor_names[im->flavor]);
    }
    if (n == 0 && (!defurl || !*defurl)) {
      report(im, "channels", source, NULL, R_SKIPPED, "no base_url, and %s channels have no "
             "default one", tm->source_name);
      continue;
    }
    snprintf(url, sizeof url, "%.*s%s", (int)(n ? n : strlen(defurl)), n ? base : defurl,
             tm->root ? tm->root : "");
    if (tm->root)
      note(notes, sizeof notes, "type %" PRId64 " (%s) -> %s (%s: relayd calls %.200s/chat/completions, as %s "
           "does); ", type, tm->source_name, tm->type, strcmp(tm->type, "compatible") == 0 ? "a full-URL channel"
           : "its base is the API root", url, flavor_names[im->flavor]);
    else if (provider_speaks_openai(prov) && strcmp(tm->type, "openai") != 0 &&
             strcmp(tm->type, "custom") != 0)
      note(notes, sizeof notes, "type %" PRId64 " (%s) -> %s (relay's OpenAI-compatible preset); ", type,
           tm->source_name, tm->type);
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
    } else if (vertex) {
      snprintf(other, sizeof other, "%s", vother);   /* region and project (vertex_source) */
    } else if (*oth) {
      note(notes, sizeof notes, "other '%.40s' dropped; ", oth);
    }
    /* columns relay does not have */
    {
      char q[160];
      for (int i = 0; dropped_columns[i].column; i++) {
        if (!has_drop[i] || ((azure || vertex) && strcmp(dropped_columns[i].column, "config") == 0))
          continue;
        /* read as text on every backend (NULL reads as "") */
        snprintf(q, sizeof q, "SELECT \"%s\" FROM channels WHERE id = ?1", dropped_columns[i].column);
        struct db_stmt *dq = db_prepare(im->src, q);
        if (dq && db_bind_int64(dq, 1, sid) == 0 && db_step(dq) == DB_ROW) {
          const char *v = db_col_text(dq, 0);
          if (column_set(v, dropped_columns[i].unset))
            note(notes, sizeof notes, "%s dropped (relay has no equivalent); ",
                 dropped_columns[i].column);
        }
        db_finalize(dq);
      }
    }
    /* test_model and auto_ban: relay's channel test model and auto disable */
    char test_model[MODEL_NAME_MAX + 1] = "";
    const char *tmod = db_col_text(st, 18);
    if (*tmod && !gw_name_problem(tmod, MODEL_NAME_MAX))
      snprintf(test_model, sizeof test_model, "%s", tmod);
    else if (*tmod)
      note(notes, sizeof notes, "test_model '%.40s' dropped (not a model name relay accepts); ",
           tmod);
    int64_t auto_disable = db_col_int64(st, 19) != 0;
    if (!auto_disable)
      note(notes, sizeof notes, "auto_ban 0 -> auto disable off; ");
    int64_t status = db_col_int64(st, 3), weight = db_col_int64(st, 5),
            prio = db_col_int64(st, 14);
    if (status < STATUS_ENABLED || status > STATUS_AUTO_DISABLED)
      status = STATUS_DISABLED;
    if (weight < 0 || weight > 1000000)
      weight = weight < 0 ? 0 : 1000000;
    if (prio < -1000000000 || prio > 1000000000)
      prio = prio < 0 ? -1000000000 : 1000000000;
    char tag[GW_NAME_MAX + 16];
    relay_name(db_col_text(st, 16), "tag", "", tag, sizeof tag);
    for (const char *p = groups; rc == 0 && *p;) {
      size_t l = strcspn(p, ",");
      char g[GW_NAME_MAX + 1], why[96];
      snprintf(g, sizeof g, "%.*s", (int)l, p);
      snprintf(why, sizeof why, "channel %.40s", db_col_text(st, 4));
      rc = ensure_group(im, g, why);
      p += l;
      if (*p == ',')
        p++;
    }
    if (rc == 0 && seen) {
      /* imported before: the same channel, updated when the source changed */
      const struct field f[] = {
        { "type", tm->type }, { "status", itoa_a(im, status) }, { "base_url", url },
        { "models", models }, { "group", groups }, { "model_mapping", map ? map : "" },
        { "priority", itoa_a(im, prio) }, { "weight", itoa_a(im, weight) }, { "tag", tag },
        { "other", other }, { "test_model", test_model },
        { "auto_disable", itoa_a(im, auto_disable) },
      };
      bool rekey = strcmp(had, digest) != 0 && strncmp(had + 48, digest + 48, 16) != 0;
      rc = import_again(im, "channels", source, sid, rid, digest, had, f, sizeof f / sizeof *f);
      free(map);                /* after f, which points at it, is used */
      if (rc == 0 && rekey) {
        rc = gw_channel_set_key(im->g, rid, key);
        if (rc == 0)      /* the source's keys replace the pool */
          rc = gw_exec(im->g, "cannot replace the key pool", "DELETE FROM channel_keys WHERE channel_id = ?1", "i", rid);
        if (rc == 0 && pool.n > 1)
          rc = pool_store(im, rid, &pool);
        if (rc == 0)
          report(im, "channels", source, NULL, R_UPDATED, "id %" PRId64 ": key changed in the "
                 "source: set again", rid);
      }
      if (rc == 1)
        rc = 0;
      if (rc != 0)
        break;
      continue;
    }
    /* name: valid and not taken */
    snprintf(fallback, sizeof fallback, "channel-%" PRId64, sid);
    relay_name(db_col_text(st, 4), "channel-", fallback, name, sizeof name);
    int64_t other_id = 0;
    int found = rc == 0 ? relay_has(im, "SELECT id FROM channels WHERE name = ?1", name, &other_id)
                        : -1;
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
    /* the id: the source's when relay has no channel by that id, so admin keys pinned to it
     * (sk-KEY-ID) reach the same channel; else a new one, said loudly */
    int64_t cid = 0, taken = 0, sid_new = 0;
    int busy = gw_scalar(im->g, "cannot read channels", "SELECT 1 FROM channels WHERE id = ?1",
                         &taken, "i", sid);
    if (busy < 0) {
      free(map);
      rc = GW_FAIL;
      break;
    }
    if (sid <= 0)
      busy = 1;
    if (busy) {
      /* past both relay's ids and the source's, so no later source channel loses its id */
      int64_t top = 0;
      if (gw_scalar(im->g, "cannot read channels", "SELECT COALESCE(MAX(id), 0) FROM channels",
                    &top, "") < 0) {
        free(map);
        rc = GW_FAIL;
        break;
      }
      if (top < im->src_max_channel)
        top = im->src_max_channel;
      sid_new = top + 1;
    }
    static const char *const insert_sql =
        "INSERT INTO channels(type, name, key, status, base_url, models, \"group\", model_mapping, "
        "priority, weight, created_time, test_time, response_time, used_quota, tag, other, "
        "test_model, auto_disable%s) VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "?13, ?14, ?15, ?16, ?17%s) RETURNING id";
    char ins[1024];
    snprintf(ins, sizeof ins, insert_sql, ", id", ", ?18");
    rc = gw_insert(im->g, "cannot create the channel", ins, &cid, "ssissssiiiiiisssii", tm->type,
                   name, status, url, models, groups, map ? map : "", prio, weight,
                   db_col_int64(st, 6), db_col_int64(st, 7), db_col_int64(st, 8),
                   db_col_int64(st, 15), tag, other, test_model, auto_disable,
                   busy ? sid_new : sid);
    free(map);
    if (rc == 0 && *key)
      rc = gw_channel_set_key(im->g, cid, key);     /* stored as channel add stores keys */
    if (rc == 0 && pool.n > 1)
      rc = pool_store(im, cid, &pool);
    if (rc == 0)
      rc = source_put(im, "channels", sid, cid, digest);
    if (rc != 0)
      break;
    if (busy)
      note(notes, sizeof notes, "source id %" PRId64 " is taken in relay: imported as id %" PRId64
           "; admin keys pinned to it (sk-KEY-%" PRId64 ") must now end -%" PRId64 "; ", sid, cid,
           sid, cid);
    im->kept_ids++;
    if (!*key)
      note(notes, sizeof notes, "no key in the source; ");
    struct gw_subject s = { .channel_id = cid };
    rc = gw_log_manage(im->g, &s, "import oneapi: channel %s (source id %" PRId64 ") type=%s "
                       "models=%s group=%s (by %s)", name, sid, tm->type, models, groups, im->who);
    report_row(im, "channels", source, name, notes, NULL);
  }
  pool_clear(&pool);
  /* PostgreSQL: ids given explicitly do not move the identity sequence */
  if (rc == 0 && im->kept_ids && strcmp(db_backend_name(im->g->db), "postgres") == 0) {
    int64_t v = 0;
    if (gw_scalar(im->g, "cannot move the channel id sequence", "SELECT setval("
                  "pg_get_serial_sequence('channels', 'id'), (SELECT GREATEST(MAX(id), 1) FROM "
                  "channels))", &v, "") < 0)
      rc = GW_FAIL;
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

/* The columns of import_redemptions' SELECT a digest covers (1..10: all but the id). */
#define REDEMPTION_DIGEST_COLS 11

/* A code an earlier import created: reported unchanged, or its status, quota and use updated.
 * Returns 1 (handled), 0 (never imported: the caller imports it) or -1. */
static int redemption_again(struct imp *im, struct db_stmt *st, const char *source)
{
  int64_t sid = db_col_int64(st, 0), rid = 0;
  char digest[KEY_HASH_HEX_LEN + 1], had[KEY_HASH_HEX_LEN + 8] = "";
  row_digest(st, 1, REDEMPTION_DIGEST_COLS, digest);
  int seen = source_get(im, "redemptions", sid, &rid, had, sizeof had);
  if (seen <= 0)
    return seen;
  if (!db_col_is_null(st, 9)) {
    report(im, "redemptions", source, NULL, R_SKIPPED, "deleted in the source since the last "
           "import: relay's code (id %" PRId64 ") is kept", rid);
    return 1;
  }
  int64_t status = db_col_int64(st, 3), quota = db_col_int64(st, 5);
  if (status < REDEEM_ENABLED || status > REDEEM_USED)
    status = REDEEM_DISABLED;
  int64_t used_by = db_col_int64(st, 8) ? relay_user(im, db_col_int64(st, 8)) : 0;
  const struct field f[] = {
    { "status", itoa_a(im, status) }, { "quota", itoa_a(im, quota < 0 ? 0 : quota) },
    { "redeemed_time", itoa_a(im, db_col_int64(st, 7)) }, { "used_user_id", itoa_a(im, used_by) },
    { "expired_time", itoa_a(im, db_col_int64(st, 10) > 0 ? db_col_int64(st, 10) : 0) },
  };
  int rc = import_again(im, "redemptions", source, sid, rid, digest, had, f, sizeof f / sizeof *f);
  return rc == 0 || rc == 1 ? 1 : -1;
}

static int redemption_record(struct imp *im, struct db_stmt *st, int64_t rid)
{
  char digest[KEY_HASH_HEX_LEN + 1];
  row_digest(st, 1, REDEMPTION_DIGEST_COLS, digest);
  return source_put(im, "redemptions", db_col_int64(st, 0), rid, digest);
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
    int again = redemption_again(im, st, source);
    if (again != 0) {
      if (again < 0) {
        rc = GW_FAIL;
        break;
      }
      continue;
    }
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
    int64_t new_id = 0;
    rc = gw_insert(im->g, "cannot create the redemption code",
                 "INSERT INTO redemptions(user_id, \"key\", status, name, quota, created_time, "
                 "redeemed_time, used_user_id, expired_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                 "?9) RETURNING id", &new_id, "isisiiiii",
                 relay_user(im, db_col_int64(st, 1)), code, status, db_col_text(st, 4),
                 quota < 0 ? 0 : quota, db_col_int64(st, 6), db_col_int64(st, 7), used_by, expires);
    if (rc == 0)
      rc = redemption_record(im, st, new_id);
    count++;
    report_row(im, "redemptions", source, db_col_text(st, 4), notes, NULL);
  }
  struct gw_subject s = { 0 };
  if (rc == 0 && count)
    rc = gw_log_manage(im->g, &s, "import oneapi: %" PRId64 " redemption codes (by %s)", count,
                       im->who);
  return src_end(im, st, r, rc);
}

/* Source options with a relay equivalent (the rest are named in the report). Booleans are
 * "true"/"false" in both projects' options table (model/option.go). */
static const struct {
  const char *source, *relay;
  bool boolean;
} option_map[] = {
  { "RetryTimes", "retry_times", false },
  { "QuotaRemindThreshold", "quota_remind_threshold", false },
  { "AutomaticDisableChannelEnabled", "channel_auto_disable", true },
  { "DisplayInCurrencyEnabled", "display_in_currency", true },
  { "DisplayTokenStatEnabled", "display_token_stat", true },
  { NULL, NULL, false },
};

/* Source options relay has no equivalent for, each named in the report with why (when set).
 * Option names: songquanpeng/one-api model/option.go InitOptionMap, QuantumNous/new-api
 * model/option.go (ModelRequestRateLimit*, AutomaticDisableKeywords). */
static const struct {
  const char *source, *why;
} option_none[] = {
  { "QuotaForNewUser", "relay has no self-registration: each user gets the quota 'gwctl user add --quota' gives" },
  { "QuotaForInviter", "relay has no invitations" },
  { "QuotaForInvitee", "relay has no invitations" },
  { "PreConsumedQuota", "relay reserves each request's own worst case instead (the price's max_output_tokens, option default_max_output_tokens) and settles the exact charge" },
  { "ChannelDisableThreshold", "relay's channel tests fail on an error or after channel_test_timeout_s, not on a slow answer" },
  { "AutomaticDisableKeywords", "relay disables a channel on the provider's error codes and types (option channel_disable_keywords), never on message text" },
  { "ModelRequestRateLimitEnabled", "relay's rate limits are set per user or token: gwctl limit set --user NAME --rpm N (window: option rate_limit_window_s)" },
  { "ModelRequestRateLimitCount", "see ModelRequestRateLimitEnabled" },
  { "ModelRequestRateLimitSuccessCount", "see ModelRequestRateLimitEnabled" },
  { "ModelRequestRateLimitDurationMinutes", "see ModelRequestRateLimitEnabled" },
  { "LogConsumeEnabled", "relay logs every request" },
  { "ApproximateTokenEnabled", "relay counts with the model's tokenizer when the upstream reports no usage" },
  { NULL, NULL },
};

/* Options the import reads elsewhere (prices, groups, billing). */
static const char *const options_read[] = { "GroupRatio", "ModelRatio", "CompletionRatio",
                                            "ModelPrice", "CacheRatio", "CreateCacheRatio",
                                            "UserUsableGroups", "SelfUseModeEnabled",
                                            "QuotaPerUnit", "AutomaticEnableChannelEnabled", NULL };

static int import_option(struct imp *im, const char *kind, const char *key, const char *value,
                         const char *relay, bool boolean, const char *why_set)
{
  char norm[64], why[128];
  const char *v = value;
  if (boolean)
    v = strcmp(value, "true") == 0 ? "1" : strcmp(value, "false") == 0 ? "0" : value;
  if (gw_config_check(relay, v, norm, sizeof norm, why, sizeof why) != 0) {
    report(im, kind, key, relay, R_SKIPPED, "'%.20s': %s", value, why);
    return 0;
  }
  int64_t same = 0;
  int r = gw_scalar(im->g, "cannot read options", "SELECT 1 FROM options WHERE key = ?1 AND "
                    "value = ?2", &same, "ss", relay, norm);
  if (r < 0)
    return GW_FAIL;
  if (r > 0) {
    report(im, kind, key, relay, R_UNCHANGED, "%s%s%s", norm, why_set ? ": " : "",
           why_set ? why_set : "");
    return 0;
  }
  int rc = gw_exec(im->g, "cannot set the option", "INSERT INTO options(key, value) VALUES (?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "ss", relay, norm);
  struct gw_subject s = { 0 };
  if (rc == 0)
    rc = gw_log_manage(im->g, &s, "import oneapi: config set %s=%s (by %s)", relay, norm, im->who);
  report(im, kind, key, relay, R_IMPORTED, "%s%s%s", norm, why_set ? ": " : "", why_set ? why_set : "");
  return rc;
}

static int import_options(struct imp *im)
{
  int rc = 0;
  for (int i = 0; rc == 0 && option_map[i].source; i++) {
    const char *v = option(im, option_map[i].source);
    if (v)
      rc = import_option(im, "options", option_map[i].source, v, option_map[i].relay,
                         option_map[i].boolean, NULL);
  }
  /* AutomaticEnableChannelEnabled false: a passing test never re-enables a channel. relay's
   * periodic tests are what re-enables (of auto-disabled channels only, unless channel_test_all):
   * off. true is relay's own behaviour. */
  const char *ae = option(im, "AutomaticEnableChannelEnabled");
  if (rc == 0 && ae && strcmp(ae, "false") == 0)
    rc = import_option(im, "options", "AutomaticEnableChannelEnabled", "0", "channel_test_interval_s",
                       false, "the source never re-enables a channel after a passing test: relay's "
                       "periodic tests, which re-enable, are off");
  else if (ae && strcmp(ae, "true") == 0)
    report(im, "options", "AutomaticEnableChannelEnabled", "channel_test_interval_s", R_MAPPED,
           "relay's periodic channel tests re-enable a channel that passes (as set: see gwctl config "
           "get channel_test_interval_s)");
  /* QuotaPerUnit: quota per USD in the source's display; relay's is fixed */
  const char *qpu = option(im, "QuotaPerUnit");
  if (qpu && *qpu) {
    char *end;
    double q = strtod(qpu, &end);
    if (*end == '\0' && q == QUOTA_PER_USD)
      report(im, "options", "QuotaPerUnit", NULL, R_UNCHANGED, "%.20s: relay's own unit (%d quota = "
             "1 USD)", qpu, QUOTA_PER_USD);
    else
      report(im, "options", "QuotaPerUnit", NULL, R_SKIPPED, "'%.20s' QUOTA UNIT DIFFERS: relay's is "
             "fixed at %d quota = 1 USD; balances and prices keep their quota numbers, so every USD "
             "figure relay shows differs from the source's", qpu, QUOTA_PER_USD);
  }
  for (int i = 0; option_none[i].source; i++) {
    const char *v = option(im, option_none[i].source);
    if (v && *v)
      report(im, "options", option_none[i].source, NULL, R_SKIPPED, "'%.40s' not imported: %s", v,
             option_none[i].why);
  }
  /* the rest: named in one line; empty ones (the web UI saves every field) are only counted */
  char rest[2048] = "";
  int nrest = 0, nempty = 0;
  for (size_t i = 0; i < im->options.nslots; i++) {
    void *v;
    const char *k = strmap_slot(&im->options, i, &v);
    if (!k)
      continue;
    int known = 0;
    for (const char *const *u = options_read; *u; u++)
      known |= strcmp(*u, k) == 0;
    for (int j = 0; option_map[j].source; j++)
      known |= strcmp(option_map[j].source, k) == 0;
    for (int j = 0; option_none[j].source; j++)
      known |= strcmp(option_none[j].source, k) == 0;
    if (known)
      continue;
    if (!column_set(v, "")) {
      nempty++;
      continue;
    }
    nrest++;
    if (strlen(rest) + strlen(k) + 8 < sizeof rest)
      snprintf(rest + strlen(rest), sizeof rest - strlen(rest), "%s%s", *rest ? ", " : "", k);
  }
  if (nrest)
    report(im, "options", "others", NULL, R_SKIPPED, "%d option%s relay has no equivalent for: %s%s",
           nrest, nrest == 1 ? "" : "s", rest, nempty ? " (and empty ones, ignored)" : "");
  /* the source's logs: relay starts its own; counted so they are not lost silently */
  if (src_has_table(im, "logs")) {
    struct db_stmt *st = src_prepare(im, "SELECT COUNT(*) FROM logs");
    if (!st)
      return GW_FAIL;
    enum db_step_result r = db_step(st);
    int64_t n = r == DB_ROW ? db_col_int64(st, 0) : 0;
    if (r == DB_ROW && n > 0)
      report(im, "logs", "logs", NULL, R_SKIPPED, "%" PRId64 " log row%s of the source not "
             "imported: relay keeps its own log from now on (the source database keeps them)",
             n, n == 1 ? "" : "s");
    rc = src_end(im, st, r == DB_ROW ? DB_DONE : r, rc);
  }
  return rc;
}

/* ---- the command -------------------------------------------------------------------------------- */

static void print_report(struct imp *im, int dry)
{
  const cJSON *it;
  cJSON_ArrayForEach(it, im->items) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
    const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "note"));
    printf("%-9s %-11s %s%s%s%s%s\n",
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "result")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "kind")),
           cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "source")),
           *name ? " -> " : "", name, *note ? ": " : "", note);
  }
  /* the item lines above are the report's fields (as --json has them); the summary is for people */
  printf(dry ? _("would import (dry run, nothing changed) from %s:") : _("imported from %s:"),
         flavor_names[im->flavor]);
  cJSON_ArrayForEach(it, im->counts)
    printf(" %s %.0f/%.0f/%.0f/%.0f/%.0f", it->string,
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "imported")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "mapped")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "skipped")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "updated")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "unchanged")));
  printf("%s\n", _(" (imported/mapped/skipped/updated/unchanged)"));
}

int cmd_import_oneapi(struct gwctl *g, int argc, char **argv)
{
  const char *from = NULL, *flavor = "auto", *label = NULL;
  int dry = 0;
  const struct gw_opt opts[] = {
    { "from", &from, NULL }, { "flavor", &flavor, NULL }, { "dry-run", NULL, &dry },
    { "source", &label, NULL }, { 0 },
  };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!from)
    return gw_usage(g, "missing --from sqlite:PATH|postgres://...|mysql://... (the One API / New "
                    "API database)");
  if (strcmp(flavor, "auto") != 0 && strcmp(flavor, "oneapi") != 0 && strcmp(flavor, "newapi") != 0)
    return gw_usage(g, "--flavor must be auto, oneapi or newapi, not '%s'", flavor);
  if (label && gw_name_problem(label, GW_NAME_MAX))
    return gw_usage(g, "--source '%.64s' %s", label, gw_name_problem(label, GW_NAME_MAX));
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
  im.source = label ? label : flavor_names[im.flavor];
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
  if (im.bills.slots)
    strmap_free(&im.bills);
  arena_free(&im.arena);
  db_close(im.src);
  return rc;
}
