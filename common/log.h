/*
 * log: the daemon's own log on stderr (not the request log, which goes to the database): one line
 * per message, logfmt by default (`ts=... level=info msg="..." key=value ...`) or one JSON object
 * (`{"ts":"...","level":"info","msg":"...","key":value}`) with log_format = json.
 * Under systemd ($JOURNAL_STREAM set) the timestamp is left to journald and a <N> priority prefix
 * is written instead.
 * Level and format may change at any time (a reload); they are atomics read by every thread.
 * Callers: relayd (all threads; a line is written with one write() so lines never interleave).
 * Never: prints a secret (keys, upstream credentials).
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_INFO = 6, LOG_DEBUG = 7 };

void log_init(enum log_level min_level);
/* Sets level ("error", "warn", "info", "debug") and format ("logfmt", "json"); unknown names keep
 * the current setting. */
void log_configure(const char *level, const char *format);
bool log_enabled(enum log_level lvl);
/* fmt produces the text after msg=: key=value pairs in logfmt, values with spaces in double quotes
 * (\" and \\ escaped), e.g. log_msg(LOG_INFO, "listening", "addr=%s", addr). In JSON format the
 * pairs become members: integers and true/false as JSON values, everything else as strings. */
void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The line log_msg would write (level checks aside), newline included, into out; returns its
 * length, or 0 when it does not fit. For callers that batch many lines into one write. */
size_t log_line(char *out, size_t outlen, enum log_level lvl, const char *msg, const char *kv);

#endif
