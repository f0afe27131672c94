/* Unit test of relayd/snapshot.c's price and option loading (migration 007): the cache write
 * ratios and max_output_tokens of a price, with their defaults when the columns are NULL, and the
 * default_max_output_tokens option; on an in-memory SQLite database migrated like relayd's. */
#include <string.h>

#include "db.h"
#include "../../relayd/snapshot.h"
#include "tap.h"

int main(void)
{
  char err[256] = "";
  struct db *db = db_open("sqlite::memory:", err, sizeof err);
  CHECK(db != NULL, "in-memory database%s%s", db ? "" : ": ", err);
  if (!db)
    return tap_done();
  CHECK(db_exec(db, "INSERT INTO prices(model, model_ratio, completion_ratio, cache_ratio, "
                    "cache_write_ratio, cache_write_1h_ratio, max_output_tokens) VALUES "
                    "('set', 1.5, 5, 0.1, 1.1, 1.9, 12345), ('unset', 1, 1, 1, NULL, NULL, NULL), "
                    "('zero', 1, 1, 1, 0, 0, 0)") == 0,
        "prices with and without the 007 columns");
  struct snapshot *s = snapshot_load(db, 1, err, sizeof err);
  CHECK(s != NULL, "snapshot_load%s%s", s ? "" : ": ", err);
  if (!s) {
    db_close(db);
    return tap_done();
  }
  const struct price *p = snapshot_price(s, "set");
  CHECK(p && p->cache_write_ratio == 1.1 && p->cache_write_1h_ratio == 1.9 &&
            p->max_output_tokens == 12345,
        "a price's own cache write ratios and max_output_tokens are loaded");
  p = snapshot_price(s, "unset");
  CHECK(p && p->cache_write_ratio == 1.25 && p->cache_write_1h_ratio == 2.0 && p->max_output_tokens == 0,
        "NULL columns take the defaults: 1.25, 2.0, max_output_tokens 0 (unknown)");
  p = snapshot_price(s, "zero");
  CHECK(p && p->cache_write_ratio == 0 && p->cache_write_1h_ratio == 0 && p->max_output_tokens == 0,
        "0 ratios stay 0 (free cache writes), 0 max_output_tokens is unknown");
  p = snapshot_price(s, "claude-sonnet-4-0");
  CHECK(p && p->max_output_tokens == 64000 && p->cache_write_ratio == 1.25,
        "the seeded claude-sonnet-4-0 has max_output_tokens 64000 (migration 007)");
  p = snapshot_price(s, "gpt-4o");
  CHECK(p && p->max_output_tokens == 16384, "the seeded gpt-4o has max_output_tokens 16384");
  p = snapshot_price(s, "text-embedding-3-small");
  CHECK(p && p->max_output_tokens == 0, "an embedding model has no output bound");
  CHECK(s->opt.default_max_output == 32768, "default_max_output_tokens defaults to 32768 (%lld)",
        (long long)s->opt.default_max_output);
  snapshot_release(s);

  CHECK(db_exec(db, "INSERT INTO options(key, value) VALUES ('default_max_output_tokens', '4096')")
            == 0, "set default_max_output_tokens 4096");
  s = snapshot_load(db, 2, err, sizeof err);
  CHECK(s && s->opt.default_max_output == 4096, "the option is read at load (%lld)",
        s ? (long long)s->opt.default_max_output : -1LL);
  snapshot_release(s);
  CHECK(db_exec(db, "UPDATE options SET value = '0' WHERE key = 'default_max_output_tokens'") == 0,
        "set default_max_output_tokens 0 behind gwctl's back");
  s = snapshot_load(db, 3, err, sizeof err);
  CHECK(s && s->opt.default_max_output == 32768, "an invalid value (0) keeps the default (%lld)",
        s ? (long long)s->opt.default_max_output : -1LL);
  snapshot_release(s);
  snapshot_shutdown();
  db_close(db);
  return tap_done();
}
