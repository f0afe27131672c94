/* Unit test of common/options.c, the one table of runtime options that gwctl checks values with and
 * relayd's snapshot loader applies: every default passes its own check and is what
 * options_defaults() sets; integer bounds are inclusive; every field has its own place in struct
 * snap_options; and snapshot_load() applies a stored value exactly when option_check accepts it
 * (else the default), for each key's boundary and invalid values, on an in-memory SQLite database. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "options.h"
#include "../../relayd/snapshot.h"
#include "tap.h"

/* Field sizes by type, to check that offsets do not overlap. */
static size_t field_size(const struct option_key *k)
{
  switch (k->type) {
  case OPTION_INT: return sizeof(int64_t);
  case OPTION_BOOL: return sizeof(bool);
  case OPTION_ENUM: return sizeof(int);
  default: return sizeof(const char *);
  }
}

int main(void)
{
  char out[OPTION_VALUE_MAX], why[256], buf[OPTION_VALUE_MAX];
  struct snap_options o;
  options_defaults(&o);
  CHECK(option_nkeys >= 17, "the table has the 17 options (%zu)", option_nkeys);
  for (size_t i = 0; i < option_nkeys; i++) {
    const struct option_key *k = &option_keys[i];
    CHECK(option_find(k->name) == k, "%s: found by name, once", k->name);
    CHECK(option_check(k, k->def, out, sizeof out, why, sizeof why) == 0 && strcmp(out, k->def) == 0,
          "%s: the default '%s' passes its own check", k->name, k->def);
    options_format(&o, k, buf, sizeof buf);
    CHECK(strcmp(buf, k->def) == 0, "%s: options_defaults sets '%s' ('%s')", k->name, k->def, buf);
    CHECK(k->off + field_size(k) <= sizeof o, "%s: its field is inside struct snap_options", k->name);
    for (size_t j = 0; j < i; j++) {
      const struct option_key *e = &option_keys[j];
      CHECK(k->off + field_size(k) <= e->off || e->off + field_size(e) <= k->off,
            "%s and %s: distinct fields", k->name, e->name);
    }
    CHECK(k->help && *k->help, "%s: has help", k->name);
    if (k->type == OPTION_BOOL)
      CHECK(k->min == 0 && k->max == 1, "%s: a boolean is 0 or 1", k->name);
    if (k->type == OPTION_INT || k->type == OPTION_BOOL) {
      char v[32];
      snprintf(v, sizeof v, "%" PRId64, k->min);
      CHECK(option_check(k, v, out, sizeof out, why, sizeof why) == 0, "%s: min %s accepted", k->name, v);
      snprintf(v, sizeof v, "%" PRId64, k->max);
      CHECK(option_check(k, v, out, sizeof out, why, sizeof why) == 0, "%s: max %s accepted", k->name, v);
      snprintf(v, sizeof v, "%" PRId64, k->min - 1);
      CHECK(option_check(k, v, out, sizeof out, why, sizeof why) < 0 && strstr(why, "must be an integer from"),
            "%s: min-1 %s refused (%s)", k->name, v, why);
      snprintf(v, sizeof v, "%" PRId64, k->max + 1);
      CHECK(option_check(k, v, out, sizeof out, why, sizeof why) < 0, "%s: max+1 %s refused", k->name, v);
      CHECK(option_check(k, " 1", out, sizeof out, why, sizeof why) < 0 &&
                option_check(k, "+1", out, sizeof out, why, sizeof why) < 0 &&
                option_check(k, "1x", out, sizeof out, why, sizeof why) < 0 &&
                option_check(k, "", out, sizeof out, why, sizeof why) < 0,
            "%s: blanks, '+', trailing text and the empty string refused", k->name);
    }
  }
  const struct option_key *k = option_find("breaker_failures");
  CHECK(k && k->min == 0 && k->max == 1000, "breaker_failures: 0 to 1000 (gwctl's bound; relayd had none)");
  k = option_find("routing");
  CHECK(k && option_check(k, "latency", out, sizeof out, why, sizeof why) == 0, "routing latency accepted");
  options_apply(&o, k, "latency");
  CHECK(o.routing == ROUTING_LATENCY, "routing latency sets ROUTING_LATENCY");
  CHECK(option_check(k, "Latency", out, sizeof out, why, sizeof why) < 0 &&
            strcmp(why, "must be one of weighted|latency, not 'Latency'") == 0,
        "routing: choices are exact (%s)", why);
  k = option_find("webhook_url");
  CHECK(k && k->secret, "webhook_url is secret");
  options_apply(&o, k, "https://hook.example/?token=s3cret");
  options_format(&o, k, buf, sizeof buf);
  CHECK(strcmp(buf, "(set)") == 0, "a set secret formats as (set), not its value ('%s')", buf);
  CHECK(option_check(k, "ftp://x", out, sizeof out, why, sizeof why) < 0, "webhook_url: ftp:// refused");
  k = option_find("channel_disable_keywords");
  CHECK(option_check(k, "a\tb", out, sizeof out, why, sizeof why) < 0, "text: control characters refused");
  CHECK(!option_find("colour"), "an unknown key is not found");

  /* relayd's loader: one value at a time, stored behind gwctl's back, then snapshot_load */
  char err[256] = "";
  struct db *db = db_open("sqlite::memory:", err, sizeof err);
  CHECK(db != NULL, "in-memory database%s%s", db ? "" : ": ", err);
  if (!db)
    return tap_done();
  uint64_t version = 1;
  int loads = 0, agree = 0;
  for (size_t i = 0; i < option_nkeys; i++) {
    k = &option_keys[i];
    char vals[12][48];
    int n = 0;
    if (k->type == OPTION_INT || k->type == OPTION_BOOL) {
      const int64_t c[] = { k->min - 1, k->min, k->min + 1, k->max - 1, k->max, k->max + 1 };
      for (size_t j = 0; j < sizeof c / sizeof c[0]; j++)
        snprintf(vals[n++], sizeof vals[0], "%" PRId64, c[j]);
      snprintf(vals[n++], sizeof vals[0], "2");
      snprintf(vals[n++], sizeof vals[0], "x");
      snprintf(vals[n++], sizeof vals[0], " 3");
      snprintf(vals[n++], sizeof vals[0], "007");
    } else {
      const char *c[] = { "weighted", "latency", "bogus", "https://h.example/a", "ftp://h", "a,b", "" };
      for (size_t j = 0; j < sizeof c / sizeof c[0]; j++)
        snprintf(vals[n++], sizeof vals[0], "%s", c[j]);
    }
    for (int j = 0; j < n; j++) {
      struct db_stmt *st = NULL;
      int ok = db_exec(db, "DELETE FROM options") == 0 &&
               (st = db_prepare(db, "INSERT INTO options(key, value) VALUES (?1, ?2)")) != NULL &&
               db_bind_text(st, 1, k->name) == 0 && db_bind_text(st, 2, vals[j]) == 0 &&
               db_step(st) == DB_DONE;
      if (st)
        db_finalize(st);
      struct snapshot *s = ok ? snapshot_load(db, version++, err, sizeof err) : NULL;
      if (!s) {
        CHECK(0, "%s='%s': stored and loaded (%s)", k->name, vals[j], err);
        continue;
      }
      loads++;
      int accepted = option_check(k, vals[j], out, sizeof out, why, sizeof why) == 0;
      struct snap_options want;
      options_defaults(&want);
      if (accepted)
        options_apply(&want, k, out);
      char got[OPTION_VALUE_MAX], exp[OPTION_VALUE_MAX];
      options_format(&s->opt, k, got, sizeof got);
      options_format(&want, k, exp, sizeof exp);
      if (strcmp(got, exp) == 0)
        agree++;
      else
        CHECK(0, "%s='%s': check %s, the loader applies '%s', expected '%s'", k->name, vals[j],
              accepted ? "accepts" : "refuses", got, exp);
      snapshot_release(s);
    }
  }
  CHECK(loads > 100 && agree == loads, "the loader applies a stored value exactly when the check "
        "accepts it, else the default (%d of %d loads)", agree, loads);
  db_close(db);
  return tap_done();
}
