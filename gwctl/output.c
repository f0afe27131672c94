/* output: see output.h. */
#include "output.h"
#include "quota.h"

#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define CELL_MAX 4096
#define PAGER_DEFAULT "less -FRX"
#define MIN_CUT 8               /* a cut text column keeps at least this many columns */

static int flags;
static size_t stream_w[64];     /* OUT_STREAM: the widths the table's earlier parts used */

void out_set_flags(int f)
{
  flags = f;
}

int out_flags(void)
{
  return flags;
}

static void render_value(const cJSON *v, enum out_fmt fmt, char *buf, size_t len);

static void render_number(double d, enum out_fmt fmt, char *buf, size_t len)
{
  if (fmt == OUT_TIME) {
    if (d == 0) {
      snprintf(buf, len, "-");
      return;
    }
    if (d < 0) {
      snprintf(buf, len, "never");
      return;
    }
    time_t t = (time_t)d;
    struct tm tm;
    if (localtime_r(&t, &tm) && strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) > 0)
      return;
  }
  int whole = d == floor(d) && fabs(d) < 9007199254740992.0;
  if (fmt == OUT_QUOTA && whole && !(flags & OUT_TSV)) {
    char usd[48];
    quota_usd((int64_t)d, usd, sizeof usd);
    snprintf(buf, len, "%" PRId64 " (%s)", (int64_t)d, usd);
  } else if (whole) {
    snprintf(buf, len, "%" PRId64, (int64_t)d);
  } else {
    snprintf(buf, len, "%g", d);
  }
}

static void render_array(const cJSON *v, char *buf, size_t len)
{
  size_t used = 0;
  const cJSON *it;
  buf[0] = '\0';
  cJSON_ArrayForEach(it, v) {
    char item[CELL_MAX];
    render_value(it, OUT_PLAIN, item, sizeof item);
    int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", item);
    if (n < 0 || (size_t)n >= len - used)
      break;                    /* cut: the table cell is capped anyway */
    used += (size_t)n;
  }
  if (!used)
    snprintf(buf, len, "-");
}

static void render_value(const cJSON *v, enum out_fmt fmt, char *buf, size_t len)
{
  if ((flags & OUT_TSV) && (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)))
    snprintf(buf, len, "%s", "");           /* --tsv: nothing is an empty field, not "-" */
  else if (!v || cJSON_IsNull(v))
    snprintf(buf, len, "-");
  else if (cJSON_IsBool(v))
    snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "yes" : "no");
  else if (cJSON_IsNumber(v))
    render_number(v->valuedouble, fmt, buf, len);
  else if (cJSON_IsString(v))
    snprintf(buf, len, "%s", *v->valuestring ? v->valuestring : "-");
  else if (cJSON_IsArray(v))
    render_array(v, buf, len);
  else if (cJSON_IsObject(v) && !v->child)
    snprintf(buf, len, "-");
  else {
    char *s = cJSON_PrintUnformatted(v);
    snprintf(buf, len, "%s", s ? s : "?");
    cJSON_free(s);
  }
}

/* Control characters (a newline in a log's content, an escape sequence) must not reach a terminal. */
static void sanitize(char *s)
{
  for (unsigned char *p = (unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      *p = '?';
}

/* --tsv: a cell as one field: \t \n \r \\ escaped (as PostgreSQL's COPY text format), other control
 * characters '?'. Returns a new string (caller frees) or NULL. */
static char *tsv_escape(const char *s)
{
  char *out = malloc(2 * strlen(s) + 1), *o = out;
  if (!out)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    const char *esc = *p == '\t' ? "\\t" : *p == '\n' ? "\\n" : *p == '\r' ? "\\r"
                      : *p == '\\' ? "\\\\" : NULL;
    if (esc) {
      memcpy(o, esc, 2);
      o += 2;
    } else {
      *o++ = (char)(*p < 0x20 || *p == 0x7f ? '?' : *p);
    }
  }
  *o = '\0';
  return out;
}

/* The next character of s: its length in bytes (1 for a byte that is not valid here) and width. */
static size_t next_char(const char *s, int *w)
{
  mbstate_t st;
  wchar_t wc;
  memset(&st, 0, sizeof st);
  size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
  if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
    /* not a character of this locale: one column per UTF-8 sequence */
    n = 1;
    while (((unsigned char)s[n] & 0xc0) == 0x80 && ((unsigned char)s[0] & 0x80))
      n++;
    *w = 1;
    return n;
  }
  int cw = wcwidth(wc);
  *w = cw < 0 ? 1 : cw;
  return n;
}

size_t out_width(const char *s)
{
  size_t w = 0;
  while (*s) {
    int cw;
    s += next_char(s, &cw);
    w += (size_t)cw;
  }
  return w;
}

static const char *ellipsis(size_t *w)
{
  const char *cs = nl_langinfo(CODESET);
  int utf8 = cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
  *w = utf8 ? 1 : 3;
  return utf8 ? "\xe2\x80\xa6" : "...";
}

/* Writes s cut to at most max columns, ending in an ellipsis when cut; returns the columns written. */
static size_t put_cut(FILE *f, const char *s, size_t max)
{
  size_t w = out_width(s);
  if (w <= max) {
    fputs(s, f);
    return w;
  }
  size_t ew;
  const char *e = ellipsis(&ew);
  if (max < ew) {
    fprintf(f, "%.*s", (int)max, "...");
    return max;
  }
  size_t used = 0;
  const char *p = s;
  while (*p) {
    int cw;
    size_t n = next_char(p, &cw);
    if (used + (size_t)cw > max - ew)
      break;
    fwrite(p, 1, n, f);
    used += (size_t)cw;
    p += n;
  }
  fputs(e, f);
  return used + ew;
}

static int env_int(const char *name)
{
  const char *v = getenv(name);
  char *end;
  if (!v || !*v)
    return 0;
  long n = strtol(v, &end, 10);
  return *end || n <= 0 || n > 100000 ? 0 : (int)n;
}

int out_term_width(void)
{
  int w = env_int("COLUMNS");
  struct winsize ws;
  if (!w && isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
    w = ws.ws_col;
  return w;
}

static int term_rows(void)
{
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
    return ws.ws_row;
  int r = env_int("LINES");
  return r ? r : 24;
}

/* Runs the pager on text; 0, or -1 when it could not run (the caller prints text itself). */
static int page(const char *cmd, const char *text, size_t len)
{
  int fd[2];
  if (pipe(fd) != 0)
    return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    close(fd[0]);
    close(fd[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fd[0], STDIN_FILENO);
    close(fd[0]);
    close(fd[1]);
    setenv("LESS", "FRX", 0);           /* as git: quit when it fits, keep colours and the screen */
    setenv("LV", "-c", 0);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fd[0]);
  /* the pager may quit before reading everything (q in less): that is not an error */
  struct sigaction ign = { .sa_handler = SIG_IGN }, old;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, &old);
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd[1], text + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  close(fd[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  sigaction(SIGPIPE, &old, NULL);
  /* sh could not find or run the pager (what we wrote sat in the pipe unread): print it ourselves */
  if (WIFEXITED(status) && (WEXITSTATUS(status) == 127 || WEXITSTATUS(status) == 126))
    return -1;
  return 0;
}

/* Prints text (lines lines long): through the pager when stdout is a terminal, the pager is not off,
 * and the text is taller than the terminal. */
static int emit(const char *text, size_t len, size_t lines)
{
  if (!(flags & OUT_NO_PAGER) && isatty(STDOUT_FILENO) && lines >= (size_t)term_rows()) {
    const char *cmd = getenv("GWCTL_PAGER");
    if (!cmd)
      cmd = getenv("PAGER");
    if (!cmd)
      cmd = PAGER_DEFAULT;
    if (*cmd && strcmp(cmd, "cat") != 0 && page(cmd, text, len) == 0)
      return 0;
  }
  return fwrite(text, 1, len, stdout) == len ? 0 : -1;
}

static size_t count_lines(const char *s, size_t len)
{
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += s[i] == '\n';
  return n;
}

static const struct out_col *find_col(const struct out_col *cols, const char *field)
{
  for (; cols && cols->field; cols++)
    if (strcmp(cols->field, field) == 0)
      return cols;
  return NULL;
}

int out_json(const cJSON *v)
{
  char *s = cJSON_PrintUnformatted(v);
  if (!s)
    return -1;
  fputs(s, stdout);
  fputc('\n', stdout);
  cJSON_free(s);
  return 0;
}

/* Narrows the widest text columns, one column at a time, until the table fits width. */
static void fit(size_t *w, const size_t *minw, size_t ncol, size_t width)
{
  size_t total = 2 * (ncol - 1);
  for (size_t c = 0; c < ncol; c++)
    total += w[c];
  while (total > width) {
    size_t best = ncol;
    for (size_t c = 0; c < ncol; c++)
      if (w[c] > minw[c] && (best == ncol || w[c] > w[best]))
        best = c;
    if (best == ncol)
      return;                   /* nothing left to narrow: the lines wrap */
    w[best]--;
    total--;
  }
}

int out_list(int json, const cJSON *rows, const struct out_col *cols)
{
  if (json)
    return out_json(rows);

  size_t ncol = 0, nrow = (size_t)cJSON_GetArraySize(rows);
  while (cols[ncol].field)
    ncol++;
  char **cell = calloc((nrow + 1) * ncol, sizeof *cell);
  size_t *w = calloc(ncol, sizeof *w), *minw = calloc(ncol, sizeof *minw);
  int *numeric = calloc(ncol, sizeof *numeric);
  char *text = NULL;
  size_t textlen = 0;
  FILE *m = NULL;
  int rc = -1, tsv = (flags & OUT_TSV) != 0, wide = (flags & OUT_WIDE) || tsv;
  int headers = !(flags & OUT_NO_HEADERS);
  if (!cell || !w || !minw || !numeric)
    goto out;

  for (size_t c = 0; c < ncol; c++) {
    if (!(cell[c] = strdup(cols[c].header)))
      goto out;
    numeric[c] = !cols[c].render;
  }
  size_t r = 1;
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    for (size_t c = 0; c < ncol; c++) {
      char buf[CELL_MAX];
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, cols[c].field);
      if (cols[c].render)
        cols[c].render(row, buf, sizeof buf);
      else
        render_value(v, cols[c].fmt, buf, sizeof buf);
      if (!cJSON_IsNumber(v))
        numeric[c] = 0;
      if (tsv) {
        cell[r * ncol + c] = tsv_escape(buf);
      } else {
        sanitize(buf);
        cell[r * ncol + c] = strdup(buf);
      }
      if (!cell[r * ncol + c])
        goto out;
    }
    r++;
  }

  if (!(m = open_memstream(&text, &textlen)))
    goto out;
  if (tsv) {
    for (size_t i = headers ? 0 : 1; i < r; i++)
      for (size_t c = 0; c < ncol; c++)
        fprintf(m, "%s%c", cell[i * ncol + c], c + 1 == ncol ? '\n' : '\t');
  } else {
    for (size_t c = 0; c < ncol; c++) {
      for (size_t i = headers ? 0 : 1; i < r; i++) {
        size_t cw = out_width(cell[i * ncol + c]);
        if (cw > w[c])
          w[c] = cw;
      }
      size_t hw = headers ? out_width(cell[c]) : 1;
      if (!wide && cols[c].max > 0 && w[c] > (size_t)cols[c].max)
        w[c] = (size_t)cols[c].max > hw ? (size_t)cols[c].max : hw;
      minw[c] = numeric[c] ? w[c] : w[c] < MIN_CUT ? w[c] : hw > MIN_CUT ? hw : MIN_CUT;
    }
    if (flags & OUT_STREAM)
      for (size_t c = 0; c < ncol && c < sizeof stream_w / sizeof stream_w[0]; c++)
        if (stream_w[c] > w[c])
          w[c] = stream_w[c];
    int tw = wide ? 0 : out_term_width();
    if (tw > 0 && ncol)
      fit(w, minw, ncol, (size_t)tw);
    if (flags & OUT_STREAM)
      for (size_t c = 0; c < ncol && c < sizeof stream_w / sizeof stream_w[0]; c++)
        stream_w[c] = w[c];
    for (size_t i = headers ? 0 : 1; i < r; i++)
      for (size_t c = 0; c < ncol; c++) {
        const char *s = cell[i * ncol + c];
        size_t used = wide ? (fputs(s, m), out_width(s)) : put_cut(m, s, w[c]);
        if (c + 1 == ncol)
          fputc('\n', m);
        else
          fprintf(m, "%*s", (int)(w[c] > used ? w[c] - used + 2 : 2), "");
      }
  }
  if (fclose(m) != 0) {
    m = NULL;
    goto out;
  }
  m = NULL;
  rc = emit(text, textlen, count_lines(text, textlen));
out:
  if (m)
    fclose(m);
  free(text);
  if (cell)
    for (size_t i = 0; i < (nrow + 1) * ncol; i++)
      free(cell[i]);
  free(cell);
  free(w);
  free(minw);
  free(numeric);
  return rc;
}

int out_object(int json, const cJSON *obj, const struct out_col *cols)
{
  if (json)
    return out_json(obj);
  size_t kw = 0;
  const cJSON *it;
  char *text = NULL;
  size_t textlen = 0;
  FILE *m = open_memstream(&text, &textlen);
  if (!m)
    return -1;
  cJSON_ArrayForEach(it, obj)
    if (strlen(it->string) > kw)
      kw = strlen(it->string);
  cJSON_ArrayForEach(it, obj) {
    char buf[CELL_MAX];
    const struct out_col *col = find_col(cols, it->string);
    if (col && col->render)
      col->render(obj, buf, sizeof buf);
    else
      render_value(it, col ? col->fmt : OUT_PLAIN, buf, sizeof buf);
    if (flags & OUT_TSV) {
      char *k = tsv_escape(it->string), *v = tsv_escape(buf);
      if (k && v)
        fprintf(m, "%s\t%s\n", k, v);
      free(k);
      free(v);
    } else {
      sanitize(buf);
      fprintf(m, "%-*s  %s\n", (int)kw, it->string, buf);
    }
  }
  int rc = fclose(m) == 0 ? emit(text, textlen, count_lines(text, textlen)) : -1;
  free(text);
  return rc;
}
