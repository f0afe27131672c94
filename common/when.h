/*
 * when: times as people say them, for gwctl's --since, --until, --before and --expires: one parser.
 *
 * Accepted (case-insensitive, surrounding blanks ignored):
 *   - a span: a number and a unit, or several ("90s", "15m", "1h30m", "2 days", "1 week"); units
 *     s sec second(s), m min minute(s), h hr hour(s), d day(s), w week(s), all fixed lengths (a day
 *     is 86400 s). A bare span counts in the caller's direction (WHEN_PAST for --since: "1h" is an
 *     hour ago; WHEN_FUTURE for --expires: "30d" is 30 days from now); "N unit(s) ago" or a leading
 *     '-' is always the past, "in N unit(s)" or a leading '+' always the future.
 *   - now, today (local midnight), yesterday, tomorrow.
 *   - an ISO 8601 date or time: YYYY-MM-DD[(T| )HH:MM[:SS]][Z|(+|-)HH[:]MM], local time without a
 *     zone.
 *   - Unix seconds (all digits).
 * Months and years are refused by name (no fixed length): the message says to use days or a date.
 *
 * Owns: nothing (pure functions of their arguments and the process's time zone).
 * Callers: gwctl/gwctl.c (gw_parse_time, gw_parse_expires); tests/unit/test_when.c.
 * Never: reads the clock itself (the caller passes now), allocates, or prints.
 */
#ifndef RELAY_WHEN_H
#define RELAY_WHEN_H

#include <stddef.h>
#include <stdint.h>

enum when_dir { WHEN_PAST = -1, WHEN_FUTURE = 1 };

#define WHEN_SPAN_MAX (INT64_C(200) * 366 * 86400)   /* the longest span: 200 years */
#define WHEN_TIME_MAX INT64_C(253402300799)          /* 9999-12-31T23:59:59Z */

/* The accepted forms, for error messages. */
extern const char when_forms[];

/* Parses a span ("90s", "1h30m", "2 days") into *secs (> 0, <= WHEN_SPAN_MAX). Returns 0, or -1 with
 * why (the reason, without the input) filled. */
int when_span(const char *s, int64_t *secs, char *why, size_t whylen);

/* Parses any accepted form into Unix seconds in [0, WHEN_TIME_MAX], spans counted from now in
 * direction dir. Returns 0, or -1 with why filled ("is not a time", "unknown unit 'x'", ...). */
int when_parse(const char *s, int64_t now, enum when_dir dir, int64_t *out, char *why,
               size_t whylen);

#endif
