/* log: see log.h. */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static _Atomic int log_min = LOG_INFO;
static _Atomic int log_json;
static int log_journal;

void log_init(enum log_level min_level)
{
  atomic_store(&log_min, (int)min_level);
  log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_configure(const char *level, const char *format)
{
  static const struct { const char *name; enum log_level lvl; } levels[] = {
      {"error", LOG_ERR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};
  log_journal = getenv("JOURNAL_STREAM") != NULL;
  for (size_t i = 0; level && i < sizeof levels / sizeof levels[0]; i++)
    if (strcmp(level, levels[i].name) == 0)
      atomic_store(&log_min, (int)levels[i].lvl);
  if (format && strcmp(format, "json") == 0)
    atomic_store(&log_json, 1);
  else if (format && strcmp(format, "logfmt") == 0)
    atomic_store(&log_json, 0);
}

bool log_enabled(enum log_level lvl)
{
  return (int)lvl <= atomic_load_explicit(&log_min, memory_order_relaxed);
}

struct line {
  char b[LINE_MAX_BYTES];
  size_t n;
  bool full;                    /* something did not fit */
};

static void put(struct line *l, const char *s, size_t n)
{
  if (n > sizeof l->b - 8 - l->n) {    /* room for a closing brace and the newline */
    n = sizeof l->b - 8 - l->n;
    l->full = true;
  }
  memcpy(l->b + l->n, s, n);
  l->n += n;
}

static void puts_(struct line *l, const char *s) { put(l, s, strlen(s)); }

/* s[0..n) as the inside of a JSON string. */
static void put_json(struct line *l, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      put(l, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      put(l, esc, 6);
    } else {
      put(l, (const char *)&s[i], 1);
    }
  }
}

static bool is_json_literal(const char *v, size_t n)
{
  if ((n == 4 && memcmp(v, "true", 4) == 0) || (n == 5 && memcmp(v, "false", 5) == 0))
    return true;
  size_t i = v[0] == '-' ? 1 : 0;
  if (i >= n || n > 18 || (v[i] == '0' && n > i + 1))
    return false;
  for (; i < n; i++)
    if (!isdigit((unsigned char)v[i]))
      return false;
  return true;
}

/* The logfmt pairs of kv as JSON members (each preceded by a comma). A token without '=' becomes
 * a member named after itself with value true. Quoted values lose their quotes and escapes. */
static void kv_to_json(struct line *l, const char *kv)
{
  const char *p = kv;
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    const char *k = p;
    while (*p && *p != '=' && *p != ' ')
      p++;
    size_t klen = (size_t)(p - k);
    puts_(l, ",\"");
    put_json(l, k, klen);
    puts_(l, "\":");
    if (*p != '=') {
      puts_(l, "true");
      continue;
    }
    p++;
    if (*p == '"') {
      p++;
      puts_(l, "\"");
      while (*p && *p != '"') {
        if (*p == '\\' && p[1])
          p++;
        put_json(l, p, 1);
        p++;
      }
      if (*p == '"')
        p++;
      puts_(l, "\"");
    } else {
      const char *v = p;
      while (*p && *p != ' ')
        p++;
      size_t vlen = (size_t)(p - v);
      if (vlen && is_json_literal(v, vlen)) {
        put(l, v, vlen);
      } else {
        puts_(l, "\"");
        put_json(l, v, vlen);
        puts_(l, "\"");
      }
    }
  }
}

static void build(struct line *l, enum log_level lvl, const char *msg, const char *kv);

void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
{
  if (!log_enabled(lvl))
    return;
  char kv[LINE_MAX_BYTES] = "";
  if (kvfmt && *kvfmt) {
    va_list ap;
    va_start(ap, kvfmt);
    vsnprintf(kv, sizeof kv, kvfmt, ap);
    va_end(ap);
  }
  struct line l = {.n = 0};
  build(&l, lvl, msg, kv);
  ssize_t w = write(STDERR_FILENO, l.b, l.n);
  (void)w;
}

size_t log_line(char *out, size_t outlen, enum log_level lvl, const char *msg, const char *kv)
{
  struct line l = {.n = 0};
  build(&l, lvl, msg, kv ? kv : "");
  if (l.n > outlen)
    return 0;
  memcpy(out, l.b, l.n);
  return l.n;
}

/* One whole line, newline included, into l. */
static void build(struct line *l, enum log_level lvl, const char *msg, const char *kv)
{
  static const char *names[] = {[LOG_ERR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info",
                                [LOG_DEBUG] = "debug"};
  char ts[96] = "";
  if (!log_journal) {
    struct timespec t;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &t);
    gmtime_r(&t.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.tv_nsec / 1000000);
  }
  if (log_journal) {
    char pri[8];
    snprintf(pri, sizeof pri, "<%d>", (int)lvl);
    puts_(l, pri);
  }
  if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
    puts_(l, "{");
    if (*ts) {
      puts_(l, "\"ts\":\"");
      puts_(l, ts);
      puts_(l, "\",");
    }
    puts_(l, "\"level\":\"");
    puts_(l, names[lvl]);
    puts_(l, "\",\"msg\":\"");
    put_json(l, msg, strlen(msg));
    puts_(l, "\"");
    size_t head = l->n;
    kv_to_json(l, kv);
    if (l->full) {               /* a cut string would not parse: drop the pairs, say so */
      l->n = head;
      l->full = false;
      puts_(l, ",\"truncated\":true");
    }
    puts_(l, "}");
  } else {
    if (*ts) {
      puts_(l, "ts=");
      puts_(l, ts);
      puts_(l, " ");
    }
    puts_(l, "level=");
    puts_(l, names[lvl]);
    puts_(l, " msg=\"");
    puts_(l, msg);
    puts_(l, "\"");
    if (*kv) {
      puts_(l, " ");
      puts_(l, kv);
    }
  }
  l->b[l->n++] = '\n';
}
