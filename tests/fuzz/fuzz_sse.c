/* fuzz_sse: relayd/sse.c against a reference reading of the WHATWG HTML standard's event stream
 * rules ("Server-sent events": parsing and interpreting an event stream), written here straight from
 * the standard's algorithm, line by line over the whole input at once. sse.c reads the same bytes
 * the way relay.c does: arriving in reads split at points the input chooses, accumulated in one
 * buffer, scanned for blocks with sse_event_len (resuming two bytes before where the last scan
 * stopped, as relay.c's on_upstream_data does), each block interpreted by sse_reader_block. Every
 * dispatched event must agree: type, data and last event ID, in the same order.
 * Input: byte 0 = K (mod 16), then K read sizes (1..256 each, cycled; K = 0: one read), then the
 * stream. Also checked: the stateless field helpers stay inside their block; character counting. */
#include "fuzz_common.h"

#include <stdbool.h>
#include <stdio.h>

/* Events as one byte string of records "type\0data\0id\0", so two readings compare with memcmp. */
struct rec {
  char *p;
  size_t len, cap;
};

static void rec_add(struct rec *r, const char *s, size_t n)
{
  if (r->len + n + 1 > r->cap) {
    size_t nc = (r->len + n + 1) * 2;
    char *np = realloc(r->p, nc);
    if (!np)
      abort();
    r->p = np;
    r->cap = nc;
  }
  if (n)
    memcpy(r->p + r->len, s, n);
  r->len += n;
  r->p[r->len++] = '\0';
}

static void rec_event(struct rec *r, const char *type, size_t tl, const char *data, size_t dl, const char *id,
                      size_t il)
{
  rec_add(r, type, tl);
  rec_add(r, data, dl);
  rec_add(r, id, il);
}

/* ---- the reference: the standard's algorithm, nothing shared with sse.c ---- */

struct ref {
  struct rec data, type, id;   /* buffers as the standard names them (data buffer, event type
                                  buffer, last event ID buffer); rec_add's NUL is dropped */
  struct rec out;
};

static void str_set(struct rec *b, const char *s, size_t n)
{
  b->len = 0;
  rec_add(b, s, n);
  b->len--;                  /* no terminator kept */
}

static void str_append(struct rec *b, const char *s, size_t n)
{
  rec_add(b, s, n);
  b->len--;
}

static void ref_line(struct ref *st, const char *line, size_t n)
{
  if (n == 0) {
    /* "If the line is empty (a blank line): Dispatch the event" */
    if (st->data.len == 0) {
      st->data.len = 0;
      st->type.len = 0;
      return;
    }
    size_t dl = st->data.len;
    if (st->data.p[dl - 1] == '\n')
      dl--;
    if (st->type.len)
      rec_event(&st->out, st->type.p, st->type.len, st->data.p, dl, st->id.p ? st->id.p : "", st->id.len);
    else
      rec_event(&st->out, "message", 7, st->data.p, dl, st->id.p ? st->id.p : "", st->id.len);
    st->data.len = 0;
    st->type.len = 0;
    return;
  }
  /* "If the line starts with a U+003A COLON character (:): Ignore the line." */
  if (line[0] == ':')
    return;
  const char *name = line, *value;
  size_t nl, vl;
  size_t c = 0;
  while (c < n && line[c] != ':')
    c++;
  if (c < n) {
    /* "Collect the characters on the line before the first U+003A COLON character (:), and let
     * field be that string. Collect the characters on the line after the first U+003A COLON
     * character (:), and let value be that string. If value starts with a U+0020 SPACE character,
     * remove it from value." */
    nl = c;
    value = line + c + 1;
    vl = n - c - 1;
    if (vl && value[0] == ' ') {
      value++;
      vl--;
    }
  } else {
    /* "using the whole line as the field name, and the empty string as the field value" */
    nl = n;
    value = "";
    vl = 0;
  }
  if (nl == 5 && memcmp(name, "event", 5) == 0) {
    str_set(&st->type, value, vl);
  } else if (nl == 4 && memcmp(name, "data", 4) == 0) {
    str_append(&st->data, value, vl);
    str_append(&st->data, "\n", 1);
  } else if (nl == 2 && memcmp(name, "id", 2) == 0) {
    if (!memchr(value, '\0', vl))
      str_set(&st->id, value, vl);
  }
  /* retry and other fields: not compared */
}

static void reference(const char *p, size_t len, struct rec *out)
{
  struct ref st = {0};
  /* one leading BOM is stripped by the UTF-8 decode */
  if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
    p += 3;
    len -= 3;
  }
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    /* "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE FEED
     * (LF) character not preceded by a U+000D CARRIAGE RETURN (CR) character, and a single U+000D
     * CARRIAGE RETURN (CR) character not followed by a U+000A LINE FEED (LF) character" */
    if (p[i] == '\r') {
      ref_line(&st, p + start, i - start);
      if (i + 1 < len && p[i + 1] == '\n')
        i++;
      start = i + 1;
    } else if (p[i] == '\n') {
      ref_line(&st, p + start, i - start);
      start = i + 1;
    }
  }
  /* "Once the end of the file is reached, any pending data must be discarded." */
  *out = st.out;
  free(st.data.p);
  free(st.type.p);
  free(st.id.p);
}

/* ---- sse.c as relay.c drives it ---- */

static void on_event(const struct sse_event *e, void *ctx)
{
  rec_event(ctx, e->type, e->type_len, e->data, e->data_len, e->id, e->id_len);
}

static void check_block(const char *ev, size_t evlen)
{
  const char *d, *v;
  size_t dl, vl;
  if (sse_event_data(ev, evlen, &d, &dl) == 0) {
    if (d < ev || d + dl > ev + evlen)
      abort();
    (void)sse_count_string_chars(d, dl, "content");
    (void)sse_count_string_chars(d, dl, "text");
  }
  if (sse_event_field(ev, evlen, "event", &v, &vl) == 0 && (v < ev || v + vl > ev + evlen))
    abort();
}

static void streamed(const char *p, size_t len, const uint8_t *sizes, size_t nsizes, struct rec *out)
{
  struct sse_reader rd;
  sse_reader_init(&rd, (size_t)1 << 24);
  char *acc = malloc(len ? len : 1);        /* relay.c's r->resp: never more than the input */
  if (!acc)
    abort();
  size_t alen = 0, scanned = 0, fed = 0, k = 0;
  while (fed < len) {
    size_t n = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : len;
    if (n > len - fed)
      n = len - fed;
    memcpy(acc + alen, p + fed, n);
    alen += n;
    fed += n;
    size_t off = 0, evlen, from = scanned > 2 ? scanned - 2 : 0;
    while ((evlen = sse_event_len(acc + off + from, alen - off - from)) > 0) {
      evlen += from;
      from = 0;
      if (off + evlen > alen)
        abort();
      check_block(acc + off, evlen);
      sse_reader_block(&rd, acc + off, evlen, on_event, out);
      off += evlen;
    }
    memmove(acc, acc + off, alen - off);
    alen -= off;
    scanned = alen;
  }
  if (alen)
    check_block(acc, alen);                 /* a trailing partial block: never dispatched */
  free(acc);
  sse_reader_free(&rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  size_t k = data[0] % 16;
  if (size < 1 + k)
    return 0;
  const uint8_t *sizes = data + 1;
  const char *p = (const char *)data + 1 + k;
  size_t len = size - 1 - k;
  /* a copy of exactly len bytes, so reading past the end is caught */
  char *copy = malloc(len ? len : 1);
  if (!copy)
    return 0;
  memcpy(copy, p, len);
  struct rec want = {0}, got = {0};
  reference(copy, len, &want);
  streamed(copy, len, sizes, k, &got);
  if (want.len != got.len || (want.len && memcmp(want.p, got.p, want.len) != 0)) {
    fprintf(stderr, "fuzz_sse: sse.c read %zu bytes of events, the reference %zu\n", got.len, want.len);
    abort();
  }
  free(want.p);
  free(got.p);
  free(copy);
  return 0;
}
