/*
 * log: the daemon's own log on stderr (not the request log, which goes to the database): one line
 * per message, logfmt by default (`ts=... level=info msg="..." key=value ...`) or one JSON object
 * (`{"ts":"...","level":"info","msg":"...","key":value}`) with log_format = json.
 * Lines are built from typed fields, never by re-parsing formatted text: log_fields() takes them
 * as they are (struct log_field: string, integer or boolean); log_msg() gets them by walking its
 * key=value format itself, each conversion taken from the va_list as printf would (see log_msg).
 * Escaping per format: a JSON string escapes '"', '\', and every control byte (\n \r \t \b \f or
 * \u00XX); in logfmt numbers and true/false are bare, strings double-quoted with the same escapes
 * (LOG_TEXT: bare when plain, without space, '=', '"', '\' or control bytes), so that a reader
 * gets the same fields back. Bytes that are not UTF-8 become U+FFFD (each
 * maximal ill-formed subsequence once, as Unicode and Python's decode(errors="replace") do). A line
 * holds at most LOG_LINE_MAX bytes: a string too long for what is left is cut at a character
 * boundary, fields that no longer fit are left out, and the line then ends with truncated=true
 * ("truncated":true); it always parses. Keys are [A-Za-z0-9_.-] (anything else becomes '_'); a
 * field named ts, level, msg or truncated gets a trailing '_'.
 * Under systemd ($JOURNAL_STREAM set) the timestamp is left to journald and a <N> priority prefix
 * is written instead.
 * Level and format may change at any time (a reload); they are atomics read by every thread.
 * Callers: relayd (all threads; a line is written with one write() so lines never interleave), the
 * writer's access lines (log_fields_line). Never: prints a secret (keys, upstream credentials);
 * allocates (everything is on the stack, bounded).
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_INFO = 6, LOG_DEBUG = 7 };

#define LOG_LINE_MAX 4096        /* bytes of one line, newline included */
#define LOG_FIELDS_MAX 48        /* fields of one line */

void log_init(enum log_level min_level);
/* Sets level ("error", "warn", "info", "debug") and format ("logfmt", "json"); unknown names keep
 * the current setting. */
void log_configure(const char *level, const char *format);
bool log_enabled(enum log_level lvl);

/* One typed field. key: NUL-terminated. LOG_STR: str[0..str_len) (any bytes; NULL = ""), always
 * quoted in logfmt (so a reader tells "5" from 5); LOG_TEXT: the same, but bare in logfmt when it
 * needs no quotes and cannot be read as a number or boolean (log_msg's unquoted values); LOG_NUM:
 * str is the text of a number (bare in both formats when it is a valid JSON number, else a
 * string); LOG_INT and LOG_BOOL: num. */
enum log_field_type { LOG_STR, LOG_TEXT, LOG_NUM, LOG_INT, LOG_BOOL };
struct log_field {
  const char *key;
  enum log_field_type type;
  const char *str;
  size_t str_len;
  long long num;
};
#define LOG_S(k, v) ((struct log_field){.key = (k), .type = LOG_STR, .str = (v), .str_len = (v) ? strlen(v) : 0})
#define LOG_T(k, v) ((struct log_field){.key = (k), .type = LOG_TEXT, .str = (v), .str_len = (v) ? strlen(v) : 0})
#define LOG_I(k, v) ((struct log_field){.key = (k), .type = LOG_INT, .num = (long long)(v)})
#define LOG_B(k, v) ((struct log_field){.key = (k), .type = LOG_BOOL, .num = (v) ? 1 : 0})

/* kvfmt is key=value pairs separated by spaces: log_msg(LOG_INFO, "listening", "addr=%s", addr).
 * Each value is a template of literal text and printf conversions (%s %d %lld %zu %u %ld %llu
 * %.0f %m %% ..., with flags, width and precision, '*' too); a value in double quotes (error=\"%s\")
 * is always a string; an unquoted value that is exactly one %d/%i/%u (any length) or %f/%e/%g
 * conversion is a number, the literals true and false are booleans, a literal integer is a number,
 * anything else a string. The conversions' text is never parsed again: a quote or '=' in an
 * argument stays inside its field. */
void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with fields already typed. */
void log_fields(enum log_level lvl, const char *msg, const struct log_field *f, size_t n);

/* The line log_fields would write (level checks aside), newline included, into out; returns its
 * length, or 0 when out is smaller than the line. For callers that batch many lines into one
 * write. */
size_t log_fields_line(char *out, size_t outlen, enum log_level lvl, const char *msg,
                       const struct log_field *f, size_t n);
/* Test hook: the line in a given format (json true/false) without timestamp or journal prefix. */
size_t log_fields_line_as(char *out, size_t outlen, bool json, enum log_level lvl, const char *msg,
                          const struct log_field *f, size_t n);

#endif
