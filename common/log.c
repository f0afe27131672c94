/* log: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min = LOG_INFO;
static int log_journal;

void log_init(enum log_level min_level)
{
  log_min = min_level;
  log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
{
  static const char *names[] = {[LOG_ERR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info",
                                [LOG_DEBUG] = "debug"};
  if (lvl > log_min)
    return;
  char line[2048];
  int n;
  if (log_journal) {
    n = snprintf(line, sizeof line, "<%d>level=%s msg=\"%s\"", (int)lvl, names[lvl], msg);
  } else {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, names[lvl], msg);
  }
  if (n < 0 || (size_t)n >= sizeof line - 2)
    n = (int)sizeof line - 2;
  if (kvfmt && *kvfmt) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, kvfmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, kvfmt, ap);
    va_end(ap);
    if (m > 0)
      n += m < (int)(sizeof line - (size_t)n - 1) ? m : (int)(sizeof line - (size_t)n - 2);
  }
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}
