/* store: see store.h. */
#include "gwctl.h"
#include "store.h"

#include <inttypes.h>
#include <time.h>

int gw_price_tier_write(struct gwctl *g, const struct price *p)
{
  if (!p->has_tier)
    return 0;
  struct db_stmt *st = db_prepare(g->db, "UPDATE prices SET tier_above = ?2, tier_model_ratio = ?3, "
                                  "tier_completion_ratio = ?4, tier_cache_ratio = ?5 WHERE model = ?1");
  if (!st)
    return gw_dberr(g, "cannot set the price tier");
  int bad = db_bind_text(st, 1, p->model) |
            (p->tier_above > 0 ? db_bind_int64(st, 2, p->tier_above) : db_bind_null(st, 2));
  for (int k = 0; k < 3; k++)
    bad |= p->tier_above > 0 && p->tier_ratio[k] >= 0 ? db_bind_double(st, 3 + k, p->tier_ratio[k])
                                                      : db_bind_null(st, 3 + k);
  enum db_step_result r = bad ? DB_ERROR : db_step(st);
  db_finalize(st);
  return r == DB_DONE ? 0 : gw_dberr(g, "cannot set the price tier");
}

int gw_price_write(struct gwctl *g, const struct price *p)
{
  static const char sql[] =
      "INSERT INTO prices(model, model_ratio, completion_ratio, cache_ratio, fixed_price, price_unit, "
      "cache_write_ratio, cache_write_1h_ratio, max_output_tokens, audio_ratio, audio_completion_ratio) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?8, ?9, ?11, ?12, ?13) ON CONFLICT(model) DO UPDATE SET "
      "model_ratio = CASE WHEN ?6 <> 0 THEN ?2 ELSE prices.model_ratio END, "
      "completion_ratio = CASE WHEN ?6 <> 0 THEN ?3 ELSE prices.completion_ratio END, "
      "cache_ratio = CASE WHEN ?6 <> 0 THEN ?4 ELSE prices.cache_ratio END, fixed_price = ?5, "
      "price_unit = ?7, "
      "cache_write_ratio = CASE WHEN ?6 <> 0 THEN ?8 ELSE prices.cache_write_ratio END, "
      "cache_write_1h_ratio = CASE WHEN ?6 <> 0 THEN ?9 ELSE prices.cache_write_1h_ratio END, "
      "audio_ratio = CASE WHEN ?6 <> 0 THEN ?12 ELSE prices.audio_ratio END, "
      "audio_completion_ratio = CASE WHEN ?6 <> 0 THEN ?13 ELSE prices.audio_completion_ratio END, "
      "max_output_tokens = CASE WHEN ?10 <> 0 THEN ?11 ELSE prices.max_output_tokens END";
  const char *unit = p->unit ? p->unit : "call";
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st)
    return gw_dberr(g, "cannot set the price");
  int bad = db_bind_text(st, 1, p->model) | db_bind_double(st, 2, p->has_ratio ? p->ratio : 0.0)
            | db_bind_double(st, 3, p->completion) | db_bind_double(st, 4, p->cache)
            | (p->has_fixed ? db_bind_double(st, 5, p->fixed) : db_bind_null(st, 5))
            | db_bind_int64(st, 6, p->has_ratio) | db_bind_text(st, 7, unit)
            | (p->has_cw ? db_bind_double(st, 8, p->cw) : db_bind_null(st, 8))
            | (p->has_cw1h ? db_bind_double(st, 9, p->cw1h) : db_bind_null(st, 9))
            | db_bind_int64(st, 10, p->has_max_out)
            | (p->has_max_out && p->max_out > 0 ? db_bind_int64(st, 11, p->max_out)
                                                : db_bind_null(st, 11))
            | (p->has_ar ? db_bind_double(st, 12, p->ar) : db_bind_null(st, 12))
            | (p->has_acr ? db_bind_double(st, 13, p->acr) : db_bind_null(st, 13));
  enum db_step_result r = bad ? DB_ERROR : db_step(st);
  db_finalize(st);
  return r == DB_DONE ? 0 : gw_dberr(g, "cannot set the price");
}

int gw_fallback_put(struct gwctl *g, const char *scope, const char *subject, const char *model,
                    const char *chain, const char *on)
{
  return gw_exec(g, "cannot set the fallback chain",
                 "INSERT INTO fallbacks(scope, subject, model, chain, on_errors) VALUES (?1, ?2, ?3, ?4, ?5) "
                 "ON CONFLICT(scope, subject, model) DO UPDATE SET chain = excluded.chain, "
                 "on_errors = excluded.on_errors", "sssss", scope, subject, model, chain, on);
}

int gw_group_put(struct gwctl *g, const char *name, int has_ratio, double ratio, int has_sel, int sel)
{
  return gw_exec(g, "cannot write the group",
                 "INSERT INTO groups(name, ratio, selectable) VALUES (?1, CASE WHEN ?2 <> 0 THEN CAST(?3 AS DOUBLE PRECISION) ELSE 1 END, "
                 "CASE WHEN ?4 <> 0 THEN CAST(?5 AS BIGINT) ELSE 0 END) ON CONFLICT(name) DO UPDATE SET "
                 "ratio = CASE WHEN ?2 <> 0 THEN excluded.ratio ELSE groups.ratio END, "
                 "selectable = CASE WHEN ?4 <> 0 THEN excluded.selectable ELSE groups.selectable END",
                 "sidii", name, (int64_t)(has_ratio != 0), ratio, (int64_t)(has_sel != 0), (int64_t)(has_sel && sel));
}

int gw_user_insert(struct gwctl *g, const char *name, int64_t role, int64_t status, int64_t quota,
                   const char *group, int64_t *id)
{
  int64_t other = 0;
  int r = gw_scalar(g, "cannot add the user", "SELECT id FROM users WHERE username = ?1", &other, "s", name);
  if (r < 0)
    return GW_FAIL;
  if (r > 0)
    return gw_err(GW_CONFLICT, "user '%s' already exists (id %" PRId64 ")", name, other);
  r = gw_scalar(g, "cannot add the user", "INSERT INTO users(username, role, status, quota, \"group\", "
                "created_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id", id, "siiisi", name, role,
                status, quota, group, (int64_t)time(NULL));
  if (r <= 0)
    return r < 0 ? GW_FAIL : gw_err(GW_FAIL, "cannot add the user: no id came back");
  return 0;
}
