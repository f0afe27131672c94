/* log: see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LOG_TAIL 24              /* kept free for the closing brace, truncated flag and newline */
#define LOG_ARENA 4096           /* log_msg: the text of its keys and values */

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

/* ---------------------------------------------------------------- the line */

struct line {
  char b[LOG_LINE_MAX];
  size_t n;
  bool truncated;               /* a value was cut or a field left out */
};

/* Room left for field text (the tail is kept for the end of the line). */
static size_t room(const struct line *l)
{
  return sizeof l->b - LOG_TAIL > l->n ? sizeof l->b - LOG_TAIL - l->n : 0;
}

/* Appends s[0..n) when it fits whole; false (nothing appended) otherwise. */
static bool put(struct line *l, const char *s, size_t n)
{
  if (n > room(l))
    return false;
  memcpy(l->b + l->n, s, n);
  l->n += n;
  return true;
}

static bool puts_(struct line *l, const char *s) { return put(l, s, strlen(s)); }

/* The unit at s[0..n): a well-formed UTF-8 character (*ok true) or the maximal subpart of an
 * ill-formed sequence (*ok false, at least one byte; Unicode 15, 3.9 "U+FFFD substitution of
 * maximal subparts"). Returns its length. */
static size_t utf8_unit(const unsigned char *s, size_t n, bool *ok)
{
  unsigned c = s[0], lo = 0x80, hi = 0xBF;
  size_t need;
  *ok = false;
  if (c < 0x80) {
    *ok = true;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF)
    need = 1;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 1;
  }
  size_t i = 1;
  for (; i <= need && i < n; i++) {
    unsigned b = s[i];
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
      break;
  }
  *ok = i == need + 1;
  return i;
}

/* Whether logfmt must quote s[0..n). */
static bool needs_quotes(const char *s, size_t n)
{
  if (n == 0)
    return true;
  for (size_t i = 0; i < n;) {
    bool ok;
    unsigned char c = (unsigned char)s[i];
    size_t u = utf8_unit((const unsigned char *)s + i, n - i, &ok);
    if (!ok || c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
      return true;
    i += u;
  }
  return false;
}

/* s[0..n) escaped, between double quotes, in at most max bytes (quotes included): cut at a
 * character boundary (and the line marked truncated) when longer. False when not even the two
 * quotes fit. */
static bool put_quoted(struct line *l, const char *s, size_t n, size_t max)
{
  if (max > room(l))
    max = room(l);
  if (max < 2)
    return false;
  size_t limit = l->n + max - 1;  /* the closing quote's place */
  l->b[l->n++] = '"';
  for (size_t i = 0; i < n;) {
    bool ok;
    size_t u = utf8_unit((const unsigned char *)s + i, n - i, &ok);
    char esc[8];
    const char *out = esc;
    size_t len;
    unsigned char c = (unsigned char)s[i];
    if (!ok) {
      out = "\xEF\xBF\xBD";      /* U+FFFD */
      len = 3;
    } else if (u > 1) {
      out = s + i;
      len = u;
    } else if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      len = 2;
    } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
      esc[0] = '\\';
      esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c == '\b' ? 'b' : 'f';
      len = 2;
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      len = 6;
    } else {
      out = s + i;
      len = 1;
    }
    if (l->n + len > limit) {
      l->truncated = true;
      break;
    }
    memcpy(l->b + l->n, out, len);
    l->n += len;
    i += u;
  }
  l->b[l->n++] = '"';
  return true;
}

/* A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s, size_t n)
{
  size_t i = 0;
  if (i < n && s[i] == '-')
    i++;
  if (i >= n)
    return false;
  if (s[i] == '0')
    i++;
  else if (s[i] >= '1' && s[i] <= '9')
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  else
    return false;
  if (i < n && s[i] == '.') {
    size_t d = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return false;
  }
  return i == n && n <= 40;
}

/* The key as written: [A-Za-z0-9_.-], others '_', at most 63 bytes; a reserved name gets '_'. */
static void key_text(const char *key, char *out, size_t len)
{
  size_t n = 0;
  for (const char *p = key ? key : ""; *p && n + 2 < len; p++) {
    char c = *p;
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == '-';
    out[n++] = keep ? c : '_';
  }
  if (n == 0)
    out[n++] = '_';
  out[n] = '\0';
  if (strcmp(out, "ts") == 0 || strcmp(out, "level") == 0 || strcmp(out, "msg") == 0 ||
      strcmp(out, "truncated") == 0) {
    out[n++] = '_';
    out[n] = '\0';
  }
}

/* One field, whole or (a string) cut; a field that does not fit at all is left out. */
static void put_field(struct line *l, bool json, const struct log_field *f)
{
  char key[72];
  key_text(f->key, key, sizeof key);
  size_t mark = l->n;
  bool ok = json ? puts_(l, ",\"") && puts_(l, key) && puts_(l, "\":")
                 : puts_(l, " ") && puts_(l, key) && puts_(l, "=");
  if (ok) {
    char num[32];
    const char *s = f->str ? f->str : "";
    size_t n = f->str ? f->str_len : 0;
    switch (f->type) {
    case LOG_INT:
      snprintf(num, sizeof num, "%lld", f->num);
      ok = puts_(l, num);
      break;
    case LOG_BOOL:
      ok = puts_(l, f->num ? "true" : "false");
      break;
    case LOG_NUM:
      if (is_json_number(s, n)) {
        ok = put(l, s, n);
        break;
      }
      __attribute__((fallthrough));   /* not a number after all: a string */
    case LOG_STR:
    case LOG_TEXT:
      if (!json && f->type == LOG_TEXT && !needs_quotes(s, n) && !(n == 4 && memcmp(s, "true", 4) == 0) &&
          !(n == 5 && memcmp(s, "false", 5) == 0) && !is_json_number(s, n))
        ok = put(l, s, n);       /* plain text: bare, as logfmt writes it */
      else
        ok = put_quoted(l, s, n, room(l));
      break;
    }
  }
  if (!ok) {
    l->n = mark;
    l->truncated = true;
  }
}

static void build(struct line *l, bool json, bool stamp, enum log_level lvl, const char *msg,
                  const struct log_field *f, size_t n)
{
  static const char *names[] = {[LOG_ERR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info",
                                [LOG_DEBUG] = "debug"};
  l->n = 0;
  l->truncated = false;
  char ts[96] = "";
  if (stamp && !log_journal) {
    struct timespec t;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &t);
    gmtime_r(&t.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.tv_nsec / 1000000);
  }
  if (stamp && log_journal) {
    char pri[8];
    snprintf(pri, sizeof pri, "<%d>", (int)lvl);
    puts_(l, pri);
  }
  const char *lname = (unsigned)lvl < sizeof names / sizeof names[0] && names[lvl] ? names[lvl] : "info";
  if (json) {
    puts_(l, "{");
    if (*ts) {
      puts_(l, "\"ts\":\"");
      puts_(l, ts);
      puts_(l, "\",");
    }
    puts_(l, "\"level\":\"");
    puts_(l, lname);
    puts_(l, "\",\"msg\":");
  } else {
    if (*ts) {
      puts_(l, "ts=");
      puts_(l, ts);
      puts_(l, " ");
    }
    puts_(l, "level=");
    puts_(l, lname);
    puts_(l, " msg=");
  }
  put_quoted(l, msg ? msg : "", msg ? strlen(msg) : 0, 1024);
  for (size_t i = 0; i < n; i++)
    put_field(l, json, &f[i]);
  /* the tail was kept free for this */
  if (l->truncated) {
    const char *t = json ? ",\"truncated\":true" : " truncated=true";
    memcpy(l->b + l->n, t, strlen(t));
    l->n += strlen(t);
  }
  if (json)
    l->b[l->n++] = '}';
  l->b[l->n++] = '\n';
}

static bool json_now(void) { return atomic_load_explicit(&log_json, memory_order_relaxed) != 0; }

void log_fields(enum log_level lvl, const char *msg, const struct log_field *f, size_t n)
{
  if (!log_enabled(lvl))
    return;
  struct line l;
  build(&l, json_now(), true, lvl, msg, f, n);
  ssize_t w = write(STDERR_FILENO, l.b, l.n);
  (void)w;
}

size_t log_fields_line(char *out, size_t outlen, enum log_level lvl, const char *msg,
                       const struct log_field *f, size_t n)
{
  struct line l;
  build(&l, json_now(), true, lvl, msg, f, n);
  if (l.n > outlen)
    return 0;
  memcpy(out, l.b, l.n);
  return l.n;
}

size_t log_fields_line_as(char *out, size_t outlen, bool json, enum log_level lvl, const char *msg,
                          const struct log_field *f, size_t n)
{
  struct line l;
  build(&l, json, false, lvl, msg, f, n);
  if (l.n > outlen)
    return 0;
  memcpy(out, l.b, l.n);
  return l.n;
}

/* ---------------------------------------------------------------- log_msg: walking kvfmt */

/* Where a log_msg's expanded keys and values live (bounded; what does not fit is cut). */
struct arena {
  char b[LOG_ARENA];
  size_t n;
  bool cut;
};

static void arena_put(struct arena *a, const char *s, size_t n)
{
  if (n > sizeof a->b - a->n) {
    n = sizeof a->b - a->n;
    a->cut = true;
  }
  memcpy(a->b + a->n, s, n);
  a->n += n;
}

enum conv_class { CONV_NONE, CONV_INT, CONV_FLOAT, CONV_OTHER };

/* Expands the template t[0..tn) (literal text and conversions) into the arena, taking each
 * conversion's argument from ap as printf would. Returns the class of the template when it is
 * exactly one conversion, else CONV_NONE (literal text only, or a mix: CONV_OTHER). */
static enum conv_class expand(struct arena *a, const char *t, size_t tn, va_list *ap, int saved_errno)
{
  int convs = 0;
  bool literal = false;
  enum conv_class cls = CONV_NONE;
  for (size_t i = 0; i < tn;) {
    if (t[i] != '%') {
      size_t j = i;
      while (j < tn && t[j] != '%')
        j++;
      arena_put(a, t + i, j - i);
      literal = true;
      i = j;
      continue;
    }
    /* %[flags][width][.precision][length]conversion */
    char spec[40];
    size_t sn = 0, j = i + 1;
    spec[sn++] = '%';
    while (j < tn && strchr("-+ #0'", t[j]) && sn < 8)
      spec[sn++] = t[j++];
    int width = -1, prec = -1;
    if (j < tn && t[j] == '*') {
      width = va_arg(*ap, int);
      j++;
    } else {
      while (j < tn && t[j] >= '0' && t[j] <= '9')
        width = (width < 0 ? 0 : width) * 10 + (t[j++] - '0');
    }
    if (j < tn && t[j] == '.') {
      j++;
      prec = 0;
      if (j < tn && t[j] == '*') {
        prec = va_arg(*ap, int);
        j++;
      } else {
        while (j < tn && t[j] >= '0' && t[j] <= '9')
          prec = prec * 10 + (t[j++] - '0');
      }
    }
    if (width > 4096 || width < -4096)
      width = 4096;
    if (prec > 4096)
      prec = 4096;
    if (width >= 0 || width < -1)
      sn += (size_t)snprintf(spec + sn, sizeof spec - sn, "%d", width);
    if (prec >= 0)
      sn += (size_t)snprintf(spec + sn, sizeof spec - sn, ".%d", prec);
    char lenmod[3] = "";
    size_t ln = 0;
    while (j < tn && strchr("hlLqjzt", t[j]) && ln < 2)
      lenmod[ln++] = t[j++];
    lenmod[ln] = '\0';
    if (j >= tn) {
      arena_put(a, t + i, tn - i);   /* a cut conversion: literal text */
      literal = true;
      break;
    }
    char conv = t[j++];
    char out[512];
    int w = 0;
    enum conv_class this_cls = CONV_OTHER;
    memcpy(spec + sn, lenmod, ln);
    sn += ln;
    spec[sn++] = conv;
    spec[sn] = '\0';
    /* the argument, as printf takes it for this length and conversion; the spec has no '*' left */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    switch (conv) {
    case 'd': case 'i':
      this_cls = CONV_INT;
      if (strcmp(lenmod, "ll") == 0 || strcmp(lenmod, "q") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, long long));
      else if (strcmp(lenmod, "l") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, long));
      else if (strcmp(lenmod, "z") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, ssize_t));
      else if (strcmp(lenmod, "j") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, intmax_t));
      else if (strcmp(lenmod, "t") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, ptrdiff_t));
      else
        w = snprintf(out, sizeof out, spec, va_arg(*ap, int));   /* hh and h are promoted */
      break;
    case 'u': case 'x': case 'X': case 'o':
      this_cls = conv == 'u' ? CONV_INT : CONV_OTHER;
      if (strcmp(lenmod, "ll") == 0 || strcmp(lenmod, "q") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, unsigned long long));
      else if (strcmp(lenmod, "l") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, unsigned long));
      else if (strcmp(lenmod, "z") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, size_t));
      else if (strcmp(lenmod, "j") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, uintmax_t));
      else if (strcmp(lenmod, "t") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, ptrdiff_t));
      else
        w = snprintf(out, sizeof out, spec, va_arg(*ap, unsigned));
      break;
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
      this_cls = CONV_FLOAT;
      if (strcmp(lenmod, "L") == 0)
        w = snprintf(out, sizeof out, spec, va_arg(*ap, long double));
      else
        w = snprintf(out, sizeof out, spec, va_arg(*ap, double));
      break;
    case 'c':
      w = snprintf(out, sizeof out, spec, va_arg(*ap, int));
      break;
    case 'p':
      w = snprintf(out, sizeof out, spec, va_arg(*ap, void *));
      break;
    case 's': {
      const char *s = va_arg(*ap, const char *);
      if (!s)
        s = "(null)";
      if (width < 0 && prec < 0) {      /* the common case: the string as it is, any length */
        arena_put(a, s, strlen(s));
        w = -1;
      } else {
        w = snprintf(out, sizeof out, spec, s);
      }
      break;
    }
    case 'm': {
      const char *s = strerror(saved_errno);
      arena_put(a, s, strlen(s));
      w = -1;
      break;
    }
    case '%':
      out[0] = '%';
      w = 1;
      this_cls = CONV_OTHER;
      literal = true;
      break;
    default:                    /* %n or unknown: never takes an argument here; kept as text */
      arena_put(a, t + i, j - i);
      w = -1;
      literal = true;
      break;
    }
#pragma GCC diagnostic pop
    if (w > 0)
      arena_put(a, out, (size_t)w < sizeof out ? (size_t)w : sizeof out - 1);
    if (conv != '%')
      convs++;
    cls = this_cls;
    i = j;
  }
  if (convs == 1 && !literal)
    return cls;
  return convs ? CONV_OTHER : CONV_NONE;
}

void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
{
  if (!log_enabled(lvl))
    return;
  int saved_errno = errno;
  struct log_field f[LOG_FIELDS_MAX];
  size_t nf = 0;
  struct arena a;
  a.n = 0;
  a.cut = false;
  va_list ap;
  va_start(ap, kvfmt);
  const char *p = kvfmt ? kvfmt : "";
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    /* the key: up to '=' or a space */
    const char *k = p;
    while (*p && *p != '=' && *p != ' ')
      p++;
    size_t koff = a.n;
    expand(&a, k, (size_t)(p - k), &ap, saved_errno);
    size_t klen = a.n - koff;
    char z = '\0';
    arena_put(&a, &z, 1);
    struct log_field fld = {.key = NULL, .type = LOG_BOOL, .num = 1};   /* "flag": true */
    if (*p == '=') {
      p++;
      bool quoted = *p == '"';
      const char *v = quoted ? ++p : p;
      if (quoted)
        while (*p && *p != '"')
          p++;
      else
        while (*p && *p != ' ')
          p++;
      size_t voff = a.n;
      enum conv_class cls = expand(&a, v, (size_t)(p - v), &ap, saved_errno);
      if (quoted && *p == '"')
        p++;
      const char *val = a.b + voff;
      size_t vlen = a.n - voff;
      fld.type = quoted ? LOG_STR : LOG_TEXT;
      fld.str = val;
      fld.str_len = vlen;
      if (!quoted && (cls == CONV_INT || cls == CONV_FLOAT))
        fld.type = LOG_NUM;
      else if (!quoted && cls == CONV_NONE) {
        if ((vlen == 4 && memcmp(val, "true", 4) == 0) || (vlen == 5 && memcmp(val, "false", 5) == 0)) {
          fld.type = LOG_BOOL;
          fld.num = vlen == 4;
        } else if (is_json_number(val, vlen)) {
          fld.type = LOG_NUM;
        }
      }
    }
    (void)klen;
    if (nf < LOG_FIELDS_MAX && koff < sizeof a.b) {
      fld.key = a.b + koff;
      f[nf++] = fld;
    }
  }
  va_end(ap);
  /* the arena may have cut the last key's NUL: make sure every key ends */
  if (a.n == sizeof a.b)
    a.b[sizeof a.b - 1] = '\0';
  struct line l;
  build(&l, json_now(), true, lvl, msg, f, nf);
  if (a.cut && !l.truncated) {  /* mark it: the arena cut a value */
    size_t t = l.n - 1 - (json_now() ? 1 : 0);
    const char *mark = json_now() ? ",\"truncated\":true" : " truncated=true";
    if (l.n + strlen(mark) <= sizeof l.b) {
      memmove(l.b + t + strlen(mark), l.b + t, l.n - t);
      memcpy(l.b + t, mark, strlen(mark));
      l.n += strlen(mark);
    }
  }
  ssize_t w = write(STDERR_FILENO, l.b, l.n);
  (void)w;
}
