/* sse: see sse.h. The reading follows the WHATWG HTML standard, section "Server-sent events"
 * (html.spec.whatwg.org/multipage/server-sent-events.html, "Event stream interpretation"). */
#include "sse.h"

#include <stdio.h>
#include <string.h>

static const char BOM[3] = {'\xEF', '\xBB', '\xBF'};

size_t sse_event_len(const char *p, size_t len)
{
  if (len == 0)
    return 0;                     /* p may be NULL then (an empty buffer): memchr must not see it */
  if (!memchr(p, '\r', len)) {
    /* LF only (what every upstream relay knows sends): the first LF followed by an LF, found with
     * memchr (a few line ends per event) instead of a byte loop; the loop below gives the same
     * answer on such input */
    const char *q = p, *end = p + len;
    while ((q = memchr(q, '\n', (size_t)(end - q))) && q + 1 < end) {
      if (q[1] == '\n')
        return (size_t)(q - p) + 2;
      q++;
    }
    return 0;
  }
  /* line_start: the bytes seen since the last line end are none, i.e. the next line end makes a
   * blank line. False at p[0]: the scan may begin in the middle of a line. */
  bool line_start = false;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (c == '\n' && i > 0 && p[i - 1] == '\r')
      continue;                   /* the LF of a CRLF: the line ended at its CR */
    if (c != '\r' && c != '\n') {
      line_start = false;
      continue;
    }
    if (line_start) {
      if (c == '\r' && i + 1 < len && p[i + 1] == '\n')
        return i + 2;
      return i + 1;
    }
    line_start = true;
  }
  return 0;
}

/* The next line of ev[*pos..evlen): sets *line and *ll, moves *pos past its line end. Returns false
 * when no complete line is left. */
static bool next_line(const char *ev, size_t evlen, size_t *pos, const char **line, size_t *ll)
{
  size_t i = *pos;
  while (i < evlen && ev[i] != '\r' && ev[i] != '\n')
    i++;
  if (i >= evlen)
    return false;
  *line = ev + *pos;
  *ll = i - *pos;
  if (ev[i] == '\r' && i + 1 < evlen && ev[i + 1] == '\n')
    i++;
  *pos = i + 1;
  return true;
}

/* Splits a non-empty, non-comment line into field name and value (one leading space dropped). */
static void split_field(const char *line, size_t ll, size_t *nl, const char **val, size_t *vl)
{
  const char *colon = memchr(line, ':', ll);
  if (!colon) {
    *nl = ll;
    *val = line + ll;
    *vl = 0;
    return;
  }
  *nl = (size_t)(colon - line);
  const char *v = colon + 1, *end = line + ll;
  if (v < end && *v == ' ')
    v++;
  *val = v;
  *vl = (size_t)(end - v);
}

int sse_event_field(const char *ev, size_t evlen, const char *field, const char **val, size_t *vlen)
{
  size_t fl = strlen(field), pos = 0;
  if (evlen >= 3 && memcmp(ev, BOM, 3) == 0)
    pos = 3;
  const char *line;
  size_t ll;
  for (;;) {
    /* the last line of a block is always ended; an unended one (a partial block) is read too */
    size_t start = pos;
    if (!next_line(ev, evlen, &pos, &line, &ll)) {
      if (start >= evlen)
        return -1;
      line = ev + start;
      ll = evlen - start;
      pos = evlen;
    }
    if (ll == 0 || line[0] == ':')
      continue;
    size_t nl, vl;
    const char *v;
    split_field(line, ll, &nl, &v, &vl);
    if (nl == fl && memcmp(line, field, fl) == 0) {
      *val = v;
      *vlen = vl;
      return 0;
    }
  }
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

void sse_reader_init(struct sse_reader *rd, size_t cap)
{
  memset(rd, 0, sizeof *rd);
  buf_init(&rd->data, cap);
  buf_init(&rd->type, cap);
  buf_init(&rd->id, cap);
  rd->retry = -1;
}

void sse_reader_free(struct sse_reader *rd)
{
  buf_free(&rd->data);
  buf_free(&rd->type);
  buf_free(&rd->id);
}

/* Empties data and type after a dispatch, once the next line comes. */
static void fresh(struct sse_reader *rd)
{
  if (rd->stale) {
    buf_reset(&rd->data);
    buf_reset(&rd->type);
    rd->stale = false;
  }
}

/* The standard's "dispatch the event" at a blank line. Returns 1 when an event went out. */
static int dispatch(struct sse_reader *rd, void (*on_event)(const struct sse_event *e, void *ctx), void *ctx)
{
  fresh(rd);
  bool over = rd->over;
  rd->over = false;
  if (rd->data.len == 0 || over) {
    buf_reset(&rd->data);
    buf_reset(&rd->type);
    return 0;
  }
  size_t dl = rd->data.len;
  if (rd->data.data[dl - 1] == '\n')
    dl--;
  struct sse_event e = {
    .type = rd->type.len ? rd->type.data : "message",
    .type_len = rd->type.len ? rd->type.len : 7,
    .data = rd->data.data,
    .data_len = dl,
    .id = rd->id.len ? rd->id.data : "",
    .id_len = rd->id.len,
    .retry = rd->retry,
  };
  if (on_event)
    on_event(&e, ctx);
  rd->stale = true;               /* emptied by the next line: e stays readable until then */
  return 1;
}

/* The standard's "process the field" for one non-blank line. */
static void process_line(struct sse_reader *rd, const char *line, size_t ll)
{
  fresh(rd);
  if (line[0] == ':')
    return;                       /* a comment */
  size_t nl, vl;
  const char *v;
  split_field(line, ll, &nl, &v, &vl);
  if (nl == 5 && memcmp(line, "event", 5) == 0) {
    buf_reset(&rd->type);
    if (buf_append(&rd->type, v, vl) < 0)
      rd->over = true;
  } else if (nl == 4 && memcmp(line, "data", 4) == 0) {
    if (buf_append(&rd->data, v, vl) < 0 || buf_append(&rd->data, "\n", 1) < 0)
      rd->over = true;
  } else if (nl == 2 && memcmp(line, "id", 2) == 0) {
    if (!memchr(v, '\0', vl)) {   /* an id with a NUL is ignored */
      buf_reset(&rd->id);
      if (buf_append(&rd->id, v, vl) < 0)
        buf_reset(&rd->id);       /* too long: no id rather than a cut one */
    }
  } else if (nl == 5 && memcmp(line, "retry", 5) == 0) {
    long long ms = 0;
    bool digits = vl > 0;
    for (size_t i = 0; i < vl && digits; i++) {
      if (v[i] < '0' || v[i] > '9')
        digits = false;
      else if (ms <= (1LL << 50))
        ms = ms * 10 + (v[i] - '0');
    }
    if (digits)
      rd->retry = ms;
  }
  /* any other field is ignored */
}

int sse_reader_block(struct sse_reader *rd, const char *ev, size_t evlen,
                     void (*on_event)(const struct sse_event *e, void *ctx), void *ctx)
{
  size_t pos = 0;
  if (!rd->started && evlen > 0) {
    rd->started = true;
    if (evlen >= 3 && memcmp(ev, BOM, 3) == 0)
      pos = 3;
  }
  if (rd->after_cr && pos < evlen && ev[pos] == '\n')
    pos++;                        /* the LF of a CRLF cut between two blocks */
  else if (pos == 0 && !rd->over && (rd->stale || (rd->data.len == 0 && rd->type.len == 0)) &&
           evlen >= 7 && memcmp(ev, "data:", 5) == 0 && ev[evlen - 2] == '\n' && ev[evlen - 1] == '\n' &&
           evlen - 7 < rd->data.cap && !memchr(ev, '\n', evlen - 2) && !memchr(ev, '\r', evlen)) {
    /* the common block, one data line (within the cap with its LF) and its blank line: what the
     * line loop below would do (one data line, then a dispatch that empties data and type),
     * without copying the value into the data buffer; the event's data points into ev */
    size_t v = ev[5] == ' ' ? 6 : 5;
    buf_reset(&rd->data);
    buf_reset(&rd->type);
    rd->stale = false;
    rd->after_cr = false;
    struct sse_event e = {.type = "message", .type_len = 7, .data = ev + v, .data_len = evlen - 2 - v,
                          .id = rd->id.len ? rd->id.data : "", .id_len = rd->id.len, .retry = rd->retry};
    if (on_event)
      on_event(&e, ctx);
    return 1;
  }
  if (evlen > 0)
    rd->after_cr = ev[evlen - 1] == '\r';
  int n = 0;
  const char *line;
  size_t ll;
  while (next_line(ev, evlen, &pos, &line, &ll)) {
    if (ll == 0)
      n += dispatch(rd, on_event, ctx);
    else
      process_line(rd, line, ll);
  }
  return n;
}
