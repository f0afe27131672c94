/* output: see output.h. */
#include "output.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CELL_MAX 4096

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
  if (d == floor(d) && fabs(d) < 9007199254740992.0)
    snprintf(buf, len, "%" PRId64, (int64_t)d);
  else
    snprintf(buf, len, "%g", d);
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
  if (!v || cJSON_IsNull(v))
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

/* Cuts s to at most max bytes, ending in "...", without splitting a UTF-8 sequence. */
static void cut(char *s, int max)
{
  size_t n = strlen(s);
  if (max <= 3 || n <= (size_t)max)
    return;
  size_t end = (size_t)max - 3;
  while (end > 0 && ((unsigned char)s[end] & 0xc0) == 0x80)
    end--;
  memcpy(s + end, "...", 4);
}

/* Columns a string takes on a terminal, counting UTF-8 code points. */
static size_t width(const char *s)
{
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      w++;
  return w;
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

int out_list(int json, const cJSON *rows, const struct out_col *cols)
{
  if (json)
    return out_json(rows);

  size_t ncol = 0, nrow = (size_t)cJSON_GetArraySize(rows);
  while (cols[ncol].field)
    ncol++;
  char **cell = calloc((nrow + 1) * ncol, sizeof *cell);
  size_t *w = calloc(ncol, sizeof *w);
  int rc = -1;
  if (!cell || !w)
    goto out;

  for (size_t c = 0; c < ncol; c++) {
    if (!(cell[c] = strdup(cols[c].header)))
      goto out;
    w[c] = width(cell[c]);
  }
  size_t r = 1;
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    for (size_t c = 0; c < ncol; c++) {
      char buf[CELL_MAX];
      if (cols[c].render)
        cols[c].render(row, buf, sizeof buf);
      else
        render_value(cJSON_GetObjectItemCaseSensitive(row, cols[c].field), cols[c].fmt, buf,
                     sizeof buf);
      sanitize(buf);
      cut(buf, cols[c].max);
      if (!(cell[r * ncol + c] = strdup(buf)))
        goto out;
      if (width(buf) > w[c])
        w[c] = width(buf);
    }
    r++;
  }
  for (size_t i = 0; i < r; i++)
    for (size_t c = 0; c < ncol; c++) {
      const char *s = cell[i * ncol + c];
      if (c + 1 == ncol)
        printf("%s\n", s);
      else
        printf("%s%*s", s, (int)(w[c] - width(s) + 2), "");
    }
  rc = 0;
out:
  if (cell)
    for (size_t i = 0; i < (nrow + 1) * ncol; i++)
      free(cell[i]);
  free(cell);
  free(w);
  return rc;
}

int out_object(int json, const cJSON *obj, const struct out_col *cols)
{
  if (json)
    return out_json(obj);
  size_t kw = 0;
  const cJSON *it;
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
    sanitize(buf);
    printf("%-*s  %s\n", (int)kw, it->string, buf);
  }
  return 0;
}
