/* when: see when.h. */
#include "when.h"
#include "i18n.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* N_(): gwctl prints it with _() */
const char when_forms[] =
  N_("give a span (30m, 1h, 2d, 1w, 1h30m; \"2 days ago\", \"in 3 hours\"), now, today, yesterday, "
     "tomorrow, an ISO 8601 date or time (2026-12-01, 2026-12-01T12:00, 2026-12-01T12:00:00Z, "
     "...+02:00) or Unix seconds");

static const struct {
  const char *name;
  int64_t secs;
} units[] = {
  { "s", 1 }, { "sec", 1 }, { "secs", 1 }, { "second", 1 }, { "seconds", 1 },
  { "m", 60 }, { "min", 60 }, { "mins", 60 }, { "minute", 60 }, { "minutes", 60 },
  { "h", 3600 }, { "hr", 3600 }, { "hrs", 3600 }, { "hour", 3600 }, { "hours", 3600 },
  { "d", 86400 }, { "day", 86400 }, { "days", 86400 },
  { "w", 604800 }, { "wk", 604800 }, { "week", 604800 }, { "weeks", 604800 },
};

/* Units with no fixed length, refused by name. */
static const char *const vague[] = { "mo", "mon", "month", "months", "y", "yr", "yrs", "year",
                                     "years" };

static int fail(char *why, size_t whylen, const char *fmt, const char *arg)
{
  if (why && whylen)
    snprintf(why, whylen, fmt, arg ? arg : "");
  return -1;
}

static const char *skip_blank(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Whether p starts with word (case-insensitive) followed by a blank or the end. */
static int word_at(const char *p, const char *word, const char **after)
{
  size_t n = strlen(word);
  if (strncasecmp(p, word, n) != 0 || (p[n] && p[n] != ' ' && p[n] != '\t'))
    return 0;
  *after = p + n;
  return 1;
}

/* Parses the components of a span from *pp up to the end or to "ago"; *ago is set when "ago" ended
 * it. */
static int span_parts(const char **pp, int64_t *secs, int *ago, char *why, size_t whylen)
{
  const char *p = skip_blank(*pp);
  int64_t total = 0;
  int parts = 0;
  *ago = 0;
  while (*p) {
    const char *after;
    if (parts && word_at(p, "ago", &after)) {
      *ago = 1;
      p = skip_blank(after);
      break;
    }
    if (!isdigit((unsigned char)*p))
      return fail(why, whylen, parts ? _("has something after the span") : _("is not a time"), NULL);
    int64_t n = 0;
    int nd = 0;
    for (; isdigit((unsigned char)*p); p++, nd++) {
      if (nd >= 12)
        return fail(why, whylen, _("is too long a span (at most 200 years)"), NULL);
      n = n * 10 + (*p - '0');
    }
    p = skip_blank(p);
    char unit[16];
    size_t ul = 0;
    while (isalpha((unsigned char)*p)) {
      if (ul + 1 >= sizeof unit)
        return fail(why, whylen, _("has an unknown unit: use s, m, h, d or w"), NULL);
      unit[ul++] = (char)tolower((unsigned char)*p++);
    }
    unit[ul] = '\0';
    if (!ul)
      return fail(why, whylen, _("has a number without a unit: use s, m, h, d or w (30m, 2d)"), NULL);
    int64_t mul = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
      if (strcmp(units[i].name, unit) == 0)
        mul = units[i].secs;
    if (!mul) {
      for (size_t i = 0; i < sizeof vague / sizeof vague[0]; i++)
        if (strcmp(vague[i], unit) == 0)
          return fail(why, whylen, _("uses '%s', which has no fixed length: give days (30d) or a date"),
                      unit);
      return fail(why, whylen, _("has an unknown unit '%s': use s, m, h, d or w"), unit);
    }
    if (n > WHEN_SPAN_MAX / mul || total > WHEN_SPAN_MAX - n * mul)
      return fail(why, whylen, _("is too long a span (at most 200 years)"), NULL);
    total += n * mul;
    parts++;
    p = skip_blank(p);
    if (*p == ',')
      p = skip_blank(p + 1);
  }
  if (!parts)
    return fail(why, whylen, _("is not a time"), NULL);
  if (total == 0)
    return fail(why, whylen, _("is an empty span (0)"), NULL);
  *secs = total;
  *pp = p;
  return 0;
}

int when_span(const char *s, int64_t *secs, char *why, size_t whylen)
{
  const char *p = s;
  int ago;
  if (span_parts(&p, secs, &ago, why, whylen) != 0)
    return -1;
  if (ago || *p)
    return fail(why, whylen, _("is not a span (30s, 5m, 1h, 2d, 1w)"), NULL);
  return 0;
}

/* Reads exactly n digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
  *v = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (**p < '0' || **p > '9')
      return -1;
    *v = *v * 10 + (**p - '0');
  }
  return 0;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS]][Z|(+|-)HH[:]MM]; 1 when s is not shaped like a date at all. */
static int iso_time(const char *s, int64_t *out, char *why, size_t whylen)
{
  const char *p = s;
  int y, mo, d, h = 0, mi = 0, sec = 0, zone = 0, off = 0;
  if (digits(&p, 4, &y) || *p++ != '-')
    return 1;
  if (digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
    goto bad;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
      goto bad;
    if (*p == ':') {
      p++;
      if (digits(&p, 2, &sec))
        goto bad;
    }
    if (*p == 'Z' || *p == 'z') {
      zone = 1;
      p++;
    } else if (*p == '+' || *p == '-') {
      int sign = *p++ == '-' ? -1 : 1, oh, om;
      if (digits(&p, 2, &oh))
        goto bad;
      if (*p == ':')
        p++;
      if (digits(&p, 2, &om) || oh > 23 || om > 59)
        goto bad;
      zone = 1;
      off = sign * (oh * 3600 + om * 60);
    }
  }
  if (*skip_blank(p) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    goto bad;
  if (y < 1970)
    return fail(why, whylen, _("is before 1970"), NULL);
  struct tm tm = { 0 };
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  time_t t = zone ? timegm(&tm) : mktime(&tm);
  if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)   /* 2025-02-30 */
    return fail(why, whylen, _("is not a date on the calendar"), NULL);
  *out = (int64_t)t - off;
  return 0;
bad:
  return fail(why, whylen, _("is not an ISO 8601 date or time (2026-12-01, 2026-12-01T12:00[:SS]"
              "[Z|+HH:MM])"), NULL);
}

/* Local midnight of the day now falls on, plus days. */
static int midnight(int64_t now, int days, int64_t *out, char *why, size_t whylen)
{
  time_t t = (time_t)now;
  struct tm tm;
  if (!localtime_r(&t, &tm))
    return fail(why, whylen, _("cannot be computed in this time zone"), NULL);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mday += days;
  tm.tm_isdst = -1;
  time_t m = mktime(&tm);
  if (m == (time_t)-1)
    return fail(why, whylen, _("cannot be computed in this time zone"), NULL);
  *out = (int64_t)m;
  return 0;
}

int when_parse(const char *s, int64_t now, enum when_dir dir, int64_t *out, char *why,
               size_t whylen)
{
  const char *p = skip_blank(s), *after;
  int64_t v = 0;
  if (!*p)
    return fail(why, whylen, _("is empty"), NULL);

  if (word_at(p, "now", &after) && !*skip_blank(after))
    v = now;
  else if (word_at(p, "today", &after) && !*skip_blank(after)) {
    if (midnight(now, 0, &v, why, whylen))
      return -1;
  } else if (word_at(p, "yesterday", &after) && !*skip_blank(after)) {
    if (midnight(now, -1, &v, why, whylen))
      return -1;
  } else if (word_at(p, "tomorrow", &after) && !*skip_blank(after)) {
    if (midnight(now, 1, &v, why, whylen))
      return -1;
  } else {
    int r = iso_time(p, &v, why, whylen);
    if (r < 0)
      return -1;
    if (r > 0) {
      /* Unix seconds: digits only */
      const char *q = p;
      while (isdigit((unsigned char)*q))
        q++;
      if (q > p && !*skip_blank(q)) {
        if (q - p > 12)
          return fail(why, whylen, _("is past the year 9999"), NULL);
        for (v = 0; p < q; p++)
          v = v * 10 + (*p - '0');
      } else {
        /* a span: [+|-|in] SPAN [ago] */
        int sign = dir == WHEN_FUTURE ? 1 : -1, forced = 0, ago;
        if (*p == '+' || *p == '-') {
          sign = *p == '+' ? 1 : -1;
          forced = 1;
          p++;
        } else if (word_at(p, "in", &after)) {
          sign = 1;
          forced = 1;
          p = after;
        }
        int64_t span;
        if (span_parts(&p, &span, &ago, why, whylen) != 0)
          return -1;
        if (*p)
          return fail(why, whylen, _("has something after the span"), NULL);
        if (ago && forced)
          return fail(why, whylen, _("says both when and ago"), NULL);
        if (ago)
          sign = -1;
        v = now + sign * span;
      }
    }
  }
  if (v < 0)
    return fail(why, whylen, _("is before 1970"), NULL);
  if (v > WHEN_TIME_MAX)
    return fail(why, whylen, _("is past the year 9999"), NULL);
  *out = v;
  return 0;
}
