/* Unit test of common/quota.c's money as people say it: quota_parse reads quota units and US dollars
 * ("10usd", "$10", "10 USD", "$0.50") exactly, and refuses garbage, negatives, amounts finer than a
 * quota unit and overflow with a reason; quota_usd writes quota back as dollars; and the two agree
 * for every cent up to $10. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "quota.h"
#include "tap.h"

#define BIG INT64_C(1000000000000000)

static void is(const char *s, int64_t want)
{
  int64_t v = -1;
  char why[256] = "";
  int r = quota_parse(s, 0, BIG, &v, why, sizeof why);
  CHECK(r == 0 && v == want, "'%s' is %" PRId64 " quota (got %d %" PRId64 " %s)", s, want, r, v, why);
}

static void bad(const char *s, int64_t min, int64_t max, const char *part)
{
  int64_t v = 777;
  char why[256] = "";
  int r = quota_parse(s, min, max, &v, why, sizeof why);
  CHECK(r == -1 && v == 777 && strstr(why, part), "'%s' is refused, reason has '%s' ('%s')", s, part,
        why);
}

static void usd(int64_t q, const char *want)
{
  char buf[64];
  quota_usd(q, buf, sizeof buf);
  CHECK(strcmp(buf, want) == 0, "%" PRId64 " quota is %s (%s)", q, want, buf);
}

int main(void)
{
  is("500000", 500000);
  is("0", 0);
  is("  42  ", 42);
  is("+7", 7);
  is("10usd", 5000000);
  is("10USD", 5000000);
  is("10 usd", 5000000);
  is("10 USD", 5000000);
  is("$10", 5000000);
  is("$ 10", 5000000);
  is("10$", 5000000);
  is("$0.50", 250000);
  is("$.5", 250000);
  is("0.000002usd", 1);
  is("1.234566 usd", 617283);
  is("2.5000000usd", 1250000);
  is("$2000000000", BIG);
  is("5.0", 5);

  bad("", 0, BIG, "not an amount");
  bad("ten", 0, BIG, "not an amount");
  bad("10 euros", 0, BIG, "not an amount");
  bad("1e3", 0, BIG, "not an amount");
  bad("$", 0, BIG, "not an amount");
  bad(".", 0, BIG, "not an amount");
  bad("$10usd", 0, BIG, "twice");
  bad("-1", 0, BIG, "negative");
  bad("$-5", 0, BIG, "negative");
  bad("-$5", 0, BIG, "negative");
  bad("1.5", 0, BIG, "not whole");
  bad("0.000001usd", 0, BIG, "finer than one quota unit");
  bad("0.0000021usd", 0, BIG, "more than 6 decimals");
  bad("99999999999999999999999", 0, BIG, "too large");
  bad("$99999999999999999", 0, BIG, "too large");
  bad("$2000000000.000002", 0, BIG, "out of range: from 0 to 1000000000000000 quota units ($0.00 to "
      "$2000000000.00)");
  bad("0", 1, BIG, "out of range: from 1");
  bad("10 usd usd", 0, BIG, "not an amount");

  usd(0, "$0.00");
  usd(1, "$0.000002");
  usd(7, "$0.000014");
  usd(100, "$0.0002");
  usd(250000, "$0.50");
  usd(5000000, "$10.00");
  usd(617283, "$1.234566");
  usd(-750000, "-$1.50");
  usd(INT64_MIN, "-$18446744073709.551616");

  int agree = 1;
  for (int cents = 0; cents <= 1000; cents++) {
    char s[32], back[32];
    int64_t v;
    snprintf(s, sizeof s, "$%d.%02d", cents / 100, cents % 100);
    quota_usd(cents * 5000, back, sizeof back);
    if (quota_parse(s, 0, BIG, &v, NULL, 0) != 0 || v != cents * 5000 || strcmp(s, back) != 0)
      agree = 0;
  }
  CHECK(agree, "quota_parse and quota_usd agree for every cent from $0.00 to $10.00");
  return tap_done();
}
