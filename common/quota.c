/* quota: see quota.h. */
#include "quota.h"
#include "i18n.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const rounding_names[] = { [QUOTA_ROUND_UP] = "up", [QUOTA_ROUND_HALF_UP] = "half_up" };

const char *quota_rounding_name(enum quota_rounding r)
{
  return r == QUOTA_ROUND_HALF_UP ? rounding_names[QUOTA_ROUND_HALF_UP] : rounding_names[QUOTA_ROUND_UP];
}

int quota_rounding_parse(const char *s)
{
  for (size_t i = 0; i < sizeof rounding_names / sizeof rounding_names[0]; i++)
    if (s && strcmp(s, rounding_names[i]) == 0)
      return (int)i;
  return -1;
}

int64_t quota_ratio(double units, double ratio, enum quota_rounding rounding)
{
  double q = units * ratio;
  if (q > QUOTA_MAX)
    q = QUOTA_MAX;
  int64_t v = rounding == QUOTA_ROUND_HALF_UP ? (int64_t)floor(q + 0.5 + 1e-9) : (int64_t)ceil(q - 1e-9);
  if (v <= 0 && ratio > 0)
    v = 1;
  return v;
}

int64_t quota_fixed(double price_usd, double units, double group_ratio)
{
  if (!(units > 0))
    return 0;
  double d = price_usd * units * QUOTA_PER_USD * group_ratio;
  if (d > QUOTA_MAX)
    d = QUOTA_MAX;
  int64_t v = (int64_t)llround(d);
  if (v <= 0 && price_usd * group_ratio > 0)
    v = 1;
  return v;
}


void quota_usd(int64_t quota, char *buf, size_t len)
{
  uint64_t q = quota < 0 ? (uint64_t)0 - (uint64_t)quota : (uint64_t)quota;
  uint64_t dollars = q / QUOTA_PER_USD, micro = (q % QUOTA_PER_USD) * (1000000 / QUOTA_PER_USD);
  char frac[8];
  snprintf(frac, sizeof frac, "%06" PRIu64, micro);
  for (int n = 6; n > 2 && frac[n - 1] == '0'; n--)
    frac[n - 1] = '\0';
  snprintf(buf, len, "%s$%" PRIu64 ".%s", quota < 0 ? "-" : "", dollars, frac);
}

static int amount_fail(char *why, size_t whylen, const char *msg)
{
  if (why && whylen)
    snprintf(why, whylen, "%s", msg);
  return -1;
}

int quota_parse(const char *s, int64_t min, int64_t max, int64_t *out, char *why, size_t whylen)
{
  const char *p = s;
  int usd = 0, digits = 0, fdigits = 0;
  uint64_t whole = 0, frac = 0;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '-')
    return amount_fail(why, whylen, _("is negative: an amount is 0 or more"));
  if (*p == '+')
    p++;
  if (*p == '$') {
    usd = 1;
    p++;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '-')
      return amount_fail(why, whylen, _("is negative: an amount is 0 or more"));
  }
  for (; isdigit((unsigned char)*p); p++, digits++) {
    if (whole > (UINT64_MAX - 9) / 10)
      return amount_fail(why, whylen, _("is too large"));
    whole = whole * 10 + (uint64_t)(*p - '0');
  }
  if (*p == '.') {
    for (p++; isdigit((unsigned char)*p); p++, fdigits++) {
      if (fdigits >= 6) {
        if (*p != '0')
          return amount_fail(why, whylen, _("has more than 6 decimals (one quota unit is 0.000002 USD)"));
        continue;
      }
      frac = frac * 10 + (uint64_t)(*p - '0');
    }
    if (!fdigits && !digits)
      return amount_fail(why, whylen, _("is not an amount: give quota units (500000) or US dollars (10usd, 10 USD, $10, $0.50)"));
  } else if (!digits) {
    return amount_fail(why, whylen, _("is not an amount: give quota units (500000) or US dollars (10usd, 10 USD, $10, $0.50)"));
  }
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncasecmp(p, "usd", 3) == 0 || *p == '$') {
    if (usd)
      return amount_fail(why, whylen, _("names dollars twice: give quota units (500000) or US dollars (10usd, 10 USD, $10, $0.50)"));
    usd = 1;
    p += *p == '$' ? 1 : 3;
    while (*p == ' ' || *p == '\t')
      p++;
  }
  if (*p)
    return amount_fail(why, whylen, _("is not an amount: give quota units (500000) or US dollars (10usd, 10 USD, $10, $0.50)"));

  uint64_t q;
  if (usd) {
    for (int i = fdigits < 6 ? fdigits : 6; i < 6; i++)
      frac *= 10;                                   /* micro-dollars */
    if (whole > (uint64_t)INT64_MAX / QUOTA_PER_USD)
      return amount_fail(why, whylen, _("is too large"));
    uint64_t micro_per_unit = 1000000 / QUOTA_PER_USD;   /* 2 */
    if (frac % micro_per_unit)
      return amount_fail(why, whylen, _("is finer than one quota unit (0.000002 USD)"));
    q = whole * QUOTA_PER_USD + frac / micro_per_unit;
  } else {
    if (fdigits && frac)
      return amount_fail(why, whylen, _("is not whole: quota units are whole numbers (for dollars write "
                                      "1.5usd or $1.5)"));
    if (whole > (uint64_t)INT64_MAX)
      return amount_fail(why, whylen, _("is too large"));
    q = whole;
  }
  if ((int64_t)q < min || (int64_t)q > max) {
    char lo[48], hi[48];
    quota_usd(min, lo, sizeof lo);
    quota_usd(max, hi, sizeof hi);
    if (why && whylen)
      snprintf(why, whylen, _("is out of range: from %" PRId64 " to %" PRId64 " quota units (%s to %s)"),
               min, max, lo, hi);
    return -1;
  }
  *out = (int64_t)q;
  return 0;
}
