/* Unit test of common/when.c, gwctl's one parser of times as people say them: spans in both
 * directions, "ago" / "in" / +/-, the named days, ISO 8601 dates and times with and without a zone,
 * Unix seconds, and garbage, vague units and overflow refused with a reason. Runs in UTC and in
 * Asia/Tokyo (no DST, +09:00) so local-time answers are known. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "when.h"

#define NOW INT64_C(1796126400)   /* 2026-12-01T12:00:00Z */

static int64_t ok_parse(const char *s, enum when_dir dir, int *ok)
{
  int64_t v = -12345;
  char why[256] = "";
  *ok = when_parse(s, NOW, dir, &v, why, sizeof why) == 0;
  return v;
}

static void is(const char *s, enum when_dir dir, int64_t want)
{
  int ok;
  int64_t v = ok_parse(s, dir, &ok);
  CHECK(ok && v == want, "'%s' (%s) is %lld (got %s%lld)", s, dir == WHEN_PAST ? "past" : "future",
        (long long)want, ok ? "" : "error, ", (long long)v);
}

static void bad(const char *s, const char *reason_part)
{
  int64_t v = 777;
  char why[256] = "";
  int r = when_parse(s, NOW, WHEN_PAST, &v, why, sizeof why);
  CHECK(r == -1 && v == 777 && strstr(why, reason_part),
        "'%s' is refused, untouched output, reason has '%s' ('%s')", s, reason_part, why);
}

int main(void)
{
  setenv("TZ", "UTC", 1);
  tzset();

  /* spans, bare: the caller's direction */
  is("1h", WHEN_PAST, NOW - 3600);
  is("1h", WHEN_FUTURE, NOW + 3600);
  is("30d", WHEN_FUTURE, NOW + 30 * 86400);
  is("90s", WHEN_PAST, NOW - 90);
  is("15m", WHEN_PAST, NOW - 900);
  is("2w", WHEN_PAST, NOW - 14 * 86400);
  is("1h30m", WHEN_PAST, NOW - 5400);
  is("1h 30m", WHEN_PAST, NOW - 5400);
  is("1 hour, 30 minutes", WHEN_PAST, NOW - 5400);
  is("2 DAYS", WHEN_FUTURE, NOW + 2 * 86400);
  is("  45 sec  ", WHEN_PAST, NOW - 45);
  /* forced directions */
  is("2 days ago", WHEN_FUTURE, NOW - 2 * 86400);
  is("2days ago", WHEN_PAST, NOW - 2 * 86400);
  is("1 week ago", WHEN_PAST, NOW - 604800);
  is("in 3 hours", WHEN_PAST, NOW + 3 * 3600);
  is("+1d", WHEN_PAST, NOW + 86400);
  is("-1d", WHEN_FUTURE, NOW - 86400);
  /* named */
  is("now", WHEN_PAST, NOW);
  is("today", WHEN_PAST, NOW - 12 * 3600);
  is("yesterday", WHEN_PAST, NOW - 36 * 3600);
  is("Tomorrow", WHEN_FUTURE, NOW + 12 * 3600);
  /* ISO 8601 */
  is("2026-12-01", WHEN_PAST, NOW - 12 * 3600);
  is("2026-12-01T12:00", WHEN_PAST, NOW);
  is("2026-12-01 12:00:30", WHEN_PAST, NOW + 30);
  is("2026-12-01T12:00:00Z", WHEN_PAST, NOW);
  is("2026-12-01T14:00:00+02:00", WHEN_PAST, NOW);
  is("2026-12-01T07:30-0430", WHEN_PAST, NOW);
  is("2024-02-29", WHEN_PAST, INT64_C(1709164800));
  /* Unix seconds */
  is("0", WHEN_PAST, 0);
  is("1796126400", WHEN_FUTURE, NOW);
  is("253402300799", WHEN_PAST, WHEN_TIME_MAX);

  /* garbage and limits */
  bad("", "empty");
  bad("   ", "empty");
  bad("yesterdayy", "not a time");
  bad("soon", "not a time");
  bad("10usd", "unknown unit 'usd'");
  bad("1 fortnight", "unknown unit");
  bad("3 months", "no fixed length");
  bad("1y", "no fixed length");
  bad("h", "not a time");
  bad("1h ago later", "after the span");
  bad("in 1h ago", "both");
  bad("ago", "not a time");
  bad("0s", "empty span");
  bad("99999999999999w", "too long");
  bad("300000w", "too long");
  bad("2026-02-30", "calendar");
  bad("2026-13-01", "ISO 8601");
  bad("2026-12-01T25:00", "ISO 8601");
  bad("2026-12-01T12", "ISO 8601");
  bad("2026-12-01X", "ISO 8601");
  bad("1969-12-31", "before 1970");
  bad("10000-01-01", "without a unit");
  bad("9999999999999", "9999");
  bad("-100000w", "too long");
  bad("1 d-", "after the span");

  /* when_span */
  int64_t s = 0;
  char why[256];
  CHECK(when_span("1h30m", &s, why, sizeof why) == 0 && s == 5400, "span 1h30m is 5400 (%lld)",
        (long long)s);
  CHECK(when_span("2s", &s, why, sizeof why) == 0 && s == 2, "span 2s is 2");
  CHECK(when_span("2 days ago", &s, why, sizeof why) == -1, "a span has no 'ago'");
  CHECK(when_span("2026-12-01", &s, why, sizeof why) == -1, "a date is not a span");
  CHECK(when_span("1mo", &s, why, sizeof why) == -1 && strstr(why, "fixed length"),
        "months are refused (%s)", why);

  /* local time: Asia/Tokyo is UTC+9, without DST */
  setenv("TZ", "Asia/Tokyo", 1);
  tzset();
  is("2026-12-01", WHEN_PAST, NOW - 21 * 3600);             /* 2026-12-01T00:00+09:00 */
  is("2026-12-01T21:00", WHEN_PAST, NOW);
  is("2026-12-01T12:00:00Z", WHEN_PAST, NOW);
  is("today", WHEN_PAST, NOW - 21 * 3600);                  /* it is 21:00 on Dec 1 in Tokyo */
  is("yesterday", WHEN_PAST, NOW - 45 * 3600);
  return tap_done();
}
