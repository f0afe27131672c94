/* Unit tests of common/breakdown.c: parsing a logs.billing breakdown (untrusted text: types, ranges,
 * unknown mode), re-computing its charge in ratio and fixed mode (the contract's formula, relayd's
 * 1e-9 shave and at-least-1 rule), what it refuses to guess, and the formula text. */
#include <string.h>

#include "breakdown.h"
#include "tap.h"

static struct breakdown parsed(const char *text, int *rc)
{
  struct breakdown b;
  char err[160] = "";
  *rc = breakdown_parse(text, &b, err, sizeof err);
  return b;
}

static void test_parse(void)
{
  int rc;
  struct breakdown b = parsed("", &rc);
  CHECK(rc == 1 && b.have == 0, "'' is no breakdown recorded");
  char err[160];
  struct breakdown x;
  CHECK(breakdown_parse("{\"mode\":", &x, err, sizeof err) == -1 && strstr(err, "not valid JSON"),
        "truncated JSON is refused: %s", err);
  CHECK(breakdown_parse("[1]", &x, err, sizeof err) == -1 && strstr(err, "not a JSON object"),
        "an array is refused: %s", err);
  CHECK(breakdown_parse("{\"tokens\":{\"prompt\":\"12\"}}", &x, err, sizeof err) == -1 &&
            strcmp(err, "tokens.prompt is not a number") == 0,
        "a token count given as a string is refused: %s", err);
  CHECK(breakdown_parse("{\"tokens\":{\"prompt\":-1}}", &x, err, sizeof err) == -1 &&
            strstr(err, "tokens.prompt is out of range"),
        "a negative token count is refused: %s", err);
  CHECK(breakdown_parse("{\"tokens\":{\"completion\":1.5}}", &x, err, sizeof err) == -1 &&
            strstr(err, "not a whole number"),
        "a fractional token count is refused: %s", err);
  CHECK(breakdown_parse("{\"tokens\":{\"completion\":1e300}}", &x, err, sizeof err) == -1 &&
            strstr(err, "out of range"),
        "a huge token count is refused: %s", err);
  CHECK(breakdown_parse("{\"model_ratio\":-0.5}", &x, err, sizeof err) == -1 &&
            strstr(err, "model_ratio is out of range"),
        "a negative ratio is refused: %s", err);
  CHECK(breakdown_parse("{\"mode\":\"tiered\"}", &x, err, sizeof err) == -1 &&
            strstr(err, "unknown mode 'tiered'"),
        "an unknown mode is refused: %s", err);
  CHECK(breakdown_parse("{\"group\":7}", &x, err, sizeof err) == -1 &&
            strcmp(err, "group is not a string") == 0,
        "a group that is not a string is refused: %s", err);
  CHECK(breakdown_parse("{\"tokens\":3}", &x, err, sizeof err) == -1 &&
            strcmp(err, "tokens is not an object") == 0,
        "tokens that are not an object are refused: %s", err);
  b = parsed("{\"mode\":\"ratio\",\"usage_source\":\"local\",\"tokens\":{\"prompt\":10},"
             "\"model_ratio\":2,\"group\":\"vip\",\"group_ratio\":0.5,\"note\":\"x\","
             "\"future_key\":[1,2]}", &rc);
  CHECK(rc == 0 && b.mode == BD_MODE_RATIO && b.prompt == 10 && (b.have & BD_PROMPT) &&
            !(b.have & BD_CACHED) && strcmp(b.usage_source, "local") == 0 &&
            strcmp(b.group, "vip") == 0 && b.group_ratio == 0.5 && strcmp(b.note, "x") == 0,
        "fields are read, absent ones stay unset, unknown keys are ignored");
  char longnote[600] = "{\"note\":\"";
  memset(longnote + 9, 'n', 500);
  strcpy(longnote + 509, "\"}");
  b = parsed(longnote, &rc);
  CHECK(rc == 0 && strlen(b.note) == sizeof b.note - 1, "a long note is cut to %zu bytes",
        sizeof b.note - 1);
}

static int64_t charge_of(const char *text, int *rc, char *why, size_t whylen)
{
  int prc;
  struct breakdown b = parsed(text, &prc);
  int64_t q = -1;
  *rc = prc == 0 ? breakdown_charge(&b, &q, why, whylen) : -2;
  return q;
}

static void test_charge(void)
{
  int rc;
  char why[160] = "";
  /* the contract's example: (1200 - 600 - 300 - 100) + 600 x 0.1 + 300 x 1.25 + 100 x 2 + 500 x 5
   * = 3335, x 1.5 x 1 = 5002.5 -> 5003 */
  const char *full = "{\"mode\":\"ratio\",\"tokens\":{\"prompt\":1200,\"cached\":600,"
                     "\"cache_write_5m\":300,\"cache_write_1h\":100,\"completion\":500,"
                     "\"reasoning\":120},\"model_ratio\":1.5,\"completion_ratio\":5,"
                     "\"cache_ratio\":0.1,\"cache_write_ratio\":1.25,\"cache_write_1h_ratio\":2,"
                     "\"group\":\"default\",\"group_ratio\":1}";
  int64_t q = charge_of(full, &rc, why, sizeof why);
  CHECK(rc == 0 && q == 5003, "ratio mode with every kind of token: %lld (want 5003)", (long long)q);
  /* 0.07 x 100 is 7.000000000000001 in binary: relayd shaves 1e-9 before ceil, so must the audit */
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":100},\"model_ratio\":0.07,"
                "\"group_ratio\":1}", &rc, why, sizeof why);
  CHECK(rc == 0 && q == 7, "0.07 x 100 = 7 (not 8 from binary noise): %lld", (long long)q);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":1},\"model_ratio\":0.001,"
                "\"group_ratio\":1}", &rc, why, sizeof why);
  CHECK(rc == 0 && q == 1, "a tiny charge is at least 1: %lld", (long long)q);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":100},\"model_ratio\":0,"
                "\"group_ratio\":1}", &rc, why, sizeof why);
  CHECK(rc == 0 && q == 0, "a free model (ratio 0) charges 0: %lld", (long long)q);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{},\"model_ratio\":3,\"group_ratio\":1}", &rc, why,
                sizeof why);
  CHECK(rc == 0 && q == 0, "no tokens charge 0: %lld", (long long)q);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":1000,\"completion\":10},"
                "\"model_ratio\":2,\"completion_ratio\":4,\"group_ratio\":0.5}", &rc, why,
                sizeof why);
  CHECK(rc == 0 && q == 1040, "group ratio multiplies: (1000 + 40) x 2 x 0.5 = %lld",
        (long long)q);
  /* "rounding":"half_up" (quota_rounding, New API's bills): 5002.5 -> 5003, 3335 x 1.4999 -> 5002 */
  char half[600];
  snprintf(half, sizeof half, "%.*s,\"rounding\":\"half_up\"}", (int)strlen(full) - 1, full);
  q = charge_of(half, &rc, why, sizeof why);
  CHECK(rc == 0 && q == 5003, "half_up: 5002.5 -> %lld (want 5003)", (long long)q);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":3335},\"model_ratio\":1.4999,"
                "\"group_ratio\":1,\"rounding\":\"half_up\"}", &rc, why, sizeof why);
  CHECK(rc == 0 && q == 5002, "half_up: 5002.1665 -> %lld (want 5002, up would say 5003)", (long long)q);
  struct breakdown hb;
  char f[512];
  CHECK(breakdown_parse("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":3335},\"model_ratio\":1.4999,"
                        "\"group_ratio\":1,\"rounding\":\"half_up\"}", &hb, why, sizeof why) == 0,
        "half_up parses");
  breakdown_formula(&hb, f, sizeof f);
  CHECK(strncmp(f, "round_half_up((3335", 19) == 0 && strstr(f, "= 5002"), "half_up formula: %s", f);
  CHECK(breakdown_parse("{\"rounding\":\"nearest\"}", &hb, why, sizeof why) == -1 &&
        strstr(why, "unknown rounding 'nearest'"), "an unknown rounding is refused: %s", why);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":100,\"cache_write_5m\":50},"
                "\"model_ratio\":1,\"group_ratio\":1}", &rc, why, sizeof why);
  CHECK(rc == -1 && strcmp(why, "the breakdown has no cache_write_ratio") == 0,
        "cache writes without their ratio are not guessed: %s", why);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":100,\"completion\":5},"
                "\"model_ratio\":1,\"group_ratio\":1}", &rc, why, sizeof why);
  CHECK(rc == -1 && strstr(why, "completion_ratio"), "completion without its ratio: %s", why);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":100},\"group_ratio\":1}", &rc, why,
                sizeof why);
  CHECK(rc == -1 && strstr(why, "model_ratio"), "no model_ratio: %s", why);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":100},\"model_ratio\":1}", &rc, why,
                sizeof why);
  CHECK(rc == -1 && strstr(why, "group_ratio"), "no group_ratio: %s", why);
  q = charge_of("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":10,\"cached\":20},\"model_ratio\":1,"
                "\"cache_ratio\":0.1,\"group_ratio\":1}", &rc, why, sizeof why);
  CHECK(rc == -1 && strstr(why, "less than its cached"), "cached above prompt: %s", why);
  q = charge_of("{\"tokens\":{\"prompt\":10}}", &rc, why, sizeof why);
  CHECK(rc == -1 && strstr(why, "no mode"), "no mode: %s", why);
  /* fixed mode: round(0.04 x 2 x 500000 x 1.5) = 60000 */
  q = charge_of("{\"mode\":\"fixed\",\"fixed_price\":0.04,\"units\":2,\"unit\":\"image\","
                "\"group_ratio\":1.5}", &rc, why, sizeof why);
  CHECK(rc == 0 && q == 60000, "fixed mode per image: %lld (want 60000)", (long long)q);
  q = charge_of("{\"mode\":\"fixed\",\"fixed_price\":0.002,\"group_ratio\":1}", &rc, why,
                sizeof why);
  CHECK(rc == 0 && q == 1000, "fixed mode without units is one call: %lld", (long long)q);
  q = charge_of("{\"mode\":\"fixed\",\"fixed_price\":0.0000001,\"units\":1,\"group_ratio\":1}", &rc,
                why, sizeof why);
  CHECK(rc == 0 && q == 1, "a tiny fixed charge is at least 1: %lld", (long long)q);
  q = charge_of("{\"mode\":\"fixed\",\"group_ratio\":1}", &rc, why, sizeof why);
  CHECK(rc == -1 && strstr(why, "fixed_price"), "fixed mode without a price: %s", why);
}

static void test_formula(void)
{
  int rc;
  struct breakdown b = parsed("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":1200,\"cached\":600,"
                              "\"cache_write_5m\":300,\"cache_write_1h\":100,\"completion\":500},"
                              "\"model_ratio\":1.5,\"completion_ratio\":5,\"cache_ratio\":0.1,"
                              "\"cache_write_ratio\":1.25,\"cache_write_1h_ratio\":2,"
                              "\"group_ratio\":1}", &rc);
  char f[512];
  breakdown_formula(&b, f, sizeof f);
  CHECK(strcmp(f, "ceil((1200 - 600 - 300 - 100 + 600 x 0.1 + 300 x 1.25 + 100 x 2 + 500 x 5) x "
                  "1.5 x 1) = ceil(3335 x 1.5 x 1) = ceil(5002.5) = 5003") == 0,
        "ratio formula with the numbers: %s", f);
  b = parsed("{\"mode\":\"fixed\",\"fixed_price\":0.04,\"units\":2,\"group_ratio\":1}", &rc);
  breakdown_formula(&b, f, sizeof f);
  CHECK(strcmp(f, "round(0.04 x 2 x 500000 x 1) = round(40000) = 40000") == 0,
        "fixed formula: %s", f);
  char small[24];
  b = parsed("{\"mode\":\"ratio\",\"tokens\":{\"prompt\":1200,\"completion\":5},"
             "\"model_ratio\":1.5,\"completion_ratio\":5,\"group_ratio\":1}", &rc);
  breakdown_formula(&b, small, sizeof small);
  CHECK(strlen(small) == sizeof small - 1, "the formula is cut to its buffer: '%s'", small);
}

int main(void)
{
  test_parse();
  test_charge();
  test_formula();
  return tap_done();
}
