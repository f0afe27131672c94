/* sse: see sse.h. */
#include "sse.h"

#include <stdio.h>
#include <string.h>

size_t sse_event_len(const char *p, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    if (p[i] != '\n')
      continue;
    size_t j = i + 1;
    if (j < len && p[j] == '\r')
      j++;
    if (j < len && p[j] == '\n')
      return j + 1;
  }
  return 0;
}

int sse_event_field(const char *ev, size_t evlen, const char *field, const char **val, size_t *vlen)
{
  size_t fl = strlen(field);
  const char *p = ev, *end = ev + evlen;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    if ((size_t)(eol - p) > fl && memcmp(p, field, fl) == 0 && p[fl] == ':') {
      const char *d = p + fl + 1;
      if (d < eol && *d == ' ')
        d++;
      const char *e = eol;
      if (e > d && e[-1] == '\r')
        e--;
      *val = d;
      *vlen = (size_t)(e - d);
      return 0;
    }
    p = eol + 1;
  }
  return -1;
}

int sse_event_data(const char *ev, size_t evlen, const char **data, size_t *dlen)
{
  return sse_event_field(ev, evlen, "data", data, dlen);
}

size_t sse_count_string_chars(const char *p, size_t len, const char *key)
{
  char pat[64];
  size_t pl = (size_t)snprintf(pat, sizeof pat, "\"%s\":", key);
  size_t count = 0;
  const char *end = p + len;
  while (p < end) {
    const char *hit = memmem(p, (size_t)(end - p), pat, pl);
    if (!hit)
      break;
    const char *q = hit + pl;
    while (q < end && (*q == ' ' || *q == '\t'))
      q++;
    if (q >= end || *q != '"') {
      p = q;
      continue;
    }
    q++;
    while (q < end && *q != '"') {
      if (*q == '\\') {
        q++;
        if (q < end && *q == 'u')
          q += 4;
      } else if (((unsigned char)*q & 0xC0) == 0x80) {
        q++;        /* UTF-8 continuation bytes do not count */
        continue;
      }
      q++;
      count++;
    }
    p = q + 1;
  }
  return count;
}
