/* Unit tests of relayd/sse.c: the WHATWG "server-sent events" reading, case by case: CR, LF and
 * CRLF line ends (a CRLF cut between reads), multi-line data, comments, event/id/retry fields, a
 * space after the colon or not, a field without a colon, a BOM at the start, blank-line dispatch, an
 * event cut at every byte. Built with -DSSE_STATELESS_ONLY it checks only the stateless helpers
 * (the ones main had), to show which of these cases the old splitting got wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../relayd/sse.h"
#include "tap.h"

/* The first field's value of the first block of s, "" when none; "<none>" when no block. */
static const char *field_of(const char *s, const char *field)
{
  static char out[256];
  size_t n = sse_event_len(s, strlen(s));
  if (!n)
    return "<none>";
  const char *v;
  size_t vl;
  if (sse_event_field(s, n, field, &v, &vl) < 0)
    return "<missing>";
  snprintf(out, sizeof out, "%.*s", (int)vl, v);
  return out;
}

static void test_stateless(void)
{
  CHECK(sse_event_len(NULL, 0) == 0, "an empty buffer (data NULL, as a struct buf before its first byte) holds no block");
  CHECK(sse_event_len("data: a\n\n", 9) == 9, "LF LF ends a block");
  CHECK(sse_event_len("data: a\r\n\r\n", 11) == 11, "CRLF CRLF ends a block");
  CHECK(sse_event_len("data: a\r\r", 9) == 9, "CR CR ends a block (CR alone is a line end)");
  CHECK(sse_event_len("data: a\r\n\n", 10) == 10, "CRLF then LF ends a block");
  CHECK(sse_event_len("data: a\n\r\n", 10) == 10, "LF then CRLF ends a block, its LF included");
  CHECK(sse_event_len("data: a\r\n", 9) == 0, "one CRLF is a line end, not a block end");
  CHECK(sse_event_len("data: a\r", 8) == 0, "one CR is not a block end");
  CHECK(sse_event_len("data: a\n", 8) == 0, "one LF is not a block end");
  CHECK(sse_event_len("\r\n", 2) == 0, "a line end at the scan's start is not a blank line by itself");
  CHECK(sse_event_len("data: a\r\rdata: b\r\r", 18) == 9, "CR-only stream: the first block only");
  CHECK(!strcmp(field_of("data:x\n\n", "data"), "x"), "no space after the colon");
  CHECK(!strcmp(field_of("data:  x\n\n", "data"), " x"), "only one space is dropped");
  CHECK(!strcmp(field_of("data\n\n", "data"), ""), "a field without a colon has an empty value");
  CHECK(!strcmp(field_of(": comment\ndata: x\n\n", "data"), "x"), "a comment line is skipped");
  CHECK(!strcmp(field_of(":data: no\ndata: yes\n\n", "data"), "yes"), "a comment naming a field is no field");
  CHECK(!strcmp(field_of("event: ping\rdata: {}\r\r", "event"), "ping"), "CR line ends: event field");
  CHECK(!strcmp(field_of("event: ping\rdata: {}\r\r", "data"), "{}"), "CR line ends: data field ends at CR");
  CHECK(!strcmp(field_of("\xEF\xBB\xBF" "data: x\n\n", "data"), "x"), "a BOM at the start is skipped");
  CHECK(!strcmp(field_of("dataX: y\ndata: x\n\n", "data"), "x"), "a longer field name is another field");
  CHECK(!strcmp(field_of("id: 7\nretry: 10\n\n", "data"), "<missing>"), "no data line: none");
  /* relay.c's resumed scan: a block cut at every byte is found once, at the same end */
  const char *s = "event: a\r\ndata: 1\r\ndata: 2\r\n\r\nnext";
  size_t full = sse_event_len(s, strlen(s)), bad = 0;
  for (size_t cut = 1; cut < strlen(s); cut++) {
    size_t scanned = cut, from = scanned > 2 ? scanned - 2 : 0, got = sse_event_len(s, cut);
    if (!got && (got = sse_event_len(s + from, strlen(s) - from)) > 0)
      got += from;
    if (got != full && !(got + 1 == full && s[got - 1] == '\r' && s[got] == '\n'))
      bad++;
  }
  CHECK(full == 30 && bad == 0, "a block cut at any byte and scanned again from two bytes back: same end (%zu, %zu bad)",
        full, bad);
}

#ifndef SSE_STATELESS_ONLY
struct got {
  int n;
  char type[64], data[256], id[64];
  long long retry;
};

static void on_event(const struct sse_event *e, void *ctx)
{
  struct got *g = ctx;
  g->n++;
  snprintf(g->type, sizeof g->type, "%.*s", (int)e->type_len, e->type);
  snprintf(g->data, sizeof g->data, "%.*s", (int)e->data_len, e->data);
  snprintf(g->id, sizeof g->id, "%.*s", (int)e->id_len, e->id);
  g->retry = e->retry;
}

static void save_event(const struct sse_event *e, void *ctx)
{
  *(struct sse_event *)ctx = *e;
}

/* Reads the whole stream s block by block, cut into reads of `step` bytes as relay.c receives
 * them; returns the last event and the count in *g. */
static void read_stream(const char *s, size_t step, struct got *g)
{
  struct sse_reader rd;
  sse_reader_init(&rd, 1 << 20);
  memset(g, 0, sizeof *g);
  size_t len = strlen(s), have = 0, off = 0;
  while (have < len) {
    have += step < len - have ? step : len - have;
    size_t n;
    while ((n = sse_event_len(s + off, have - off)) > 0) {
      sse_reader_block(&rd, s + off, n, on_event, g);
      off += n;
    }
  }
  sse_reader_free(&rd);
}

static void test_reader(void)
{
  struct got g;
  read_stream("data: a\ndata: b\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.data, "a\nb") && !strcmp(g.type, "message"), "multi-line data joined with LF (%zu bytes)", strlen(g.data));
  read_stream("event: delta\r\ndata: {\"x\":1}\r\nid: 42\r\n\r\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.type, "delta") && !strcmp(g.data, "{\"x\":1}") && !strcmp(g.id, "42"),
        "CRLF: type '%s', data '%s', id '%s'", g.type, g.data, g.id);
  read_stream("data: a\rdata: b\r\r", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.data, "a\nb"), "CR-only line ends: data joined (%zu bytes)", strlen(g.data));
  read_stream(": keep-alive\n\n", 64, &g);
  CHECK(g.n == 0, "a comment alone dispatches nothing");
  read_stream("id: 5\n\ndata: x\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.id, "5"), "the last event ID persists to later events: '%s'", g.id);
  read_stream("id: 5\ndata: x\n\nid\ndata: y\n\n", 64, &g);
  CHECK(g.n == 2 && !strcmp(g.id, "") && !strcmp(g.data, "y"), "a bare id resets the last event ID");
  read_stream("retry: 3000\ndata: x\n\nretry: 12a\ndata: y\n\n", 64, &g);
  CHECK(g.n == 2 && g.retry == 3000, "retry: digits only: %lld", g.retry);
  read_stream("data\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.data, ""), "a bare data line dispatches an empty event");
  read_stream("data:\ndata:\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.data, "\n"), "two empty data lines: one LF");
  read_stream("event: x\n\ndata: y\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.type, "message"), "the event type does not outlive a dispatch without data");
  read_stream("\xEF\xBB\xBF" "data: bom\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.data, "bom"), "one BOM at the stream's start is dropped");
  read_stream("data: a\n\n\xEF\xBB\xBF" "data: b\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.data, "a"), "a BOM later is part of a field name (an unknown field)");
  read_stream("foo: bar\ndata: z\n\n", 64, &g);
  CHECK(g.n == 1 && !strcmp(g.data, "z"), "an unknown field is ignored");
  read_stream("data: tail", 64, &g);
  CHECK(g.n == 0, "an unfinished event at the end is never dispatched");
  /* every cut: the same events whatever the reads */
  const char *s = "\xEF\xBB\xBF: hi\r\nevent: e1\r\ndata: one\r\ndata: two\r\nid: 9\r\n\r\n"
                  "data:three\r\rdata: four\n\n";
  int bad = 0;
  for (size_t step = 1; step <= strlen(s); step++) {
    read_stream(s, step, &g);
    if (g.n != 3 || strcmp(g.data, "four") || strcmp(g.id, "9") || strcmp(g.type, "message"))
      bad++;
  }
  CHECK(bad == 0, "an event cut across reads at any byte: the same three events (%d cuts differ)", bad);
  /* a CR at the end of one read and its LF at the start of the next: one line end */
  read_stream("data: a\r\n\r\ndata: b\r\n\r\n", 11, &g);
  CHECK(g.n == 2 && !strcmp(g.data, "b"), "CRLF cut between reads: 2 events, last '%s'", g.data);
  /* the event stays readable after the call (relay.c reads it after the callback returned) */
  {
    struct sse_reader r2;
    sse_reader_init(&r2, 1 << 20);
    struct sse_event saved;
    const char *blk = "event: x\ndata: [DONE]\n\n";
    sse_reader_block(&r2, blk, strlen(blk), save_event, &saved);
    CHECK(saved.data_len == 6 && memcmp(saved.data, "[DONE]", 6) == 0 && saved.type_len == 1 && saved.type[0] == 'x',
          "the event's data and type are still readable after sse_reader_block returned");
    const char *next = ": c\ndata: y\n\n";
    memset(&g, 0, sizeof g);
    sse_reader_block(&r2, next, strlen(next), on_event, &g);
    CHECK(g.n == 1 && !strcmp(g.data, "y") && !strcmp(g.type, "message"), "and the next event starts empty");
    sse_reader_free(&r2);
  }
  /* the cap: an over-long event is dropped whole, the next is read */
  struct sse_reader rd;
  sse_reader_init(&rd, 8);
  memset(&g, 0, sizeof g);
  const char *big = "data: 0123456789\n\n", *small = "data: ok\n\n";
  int n1 = sse_reader_block(&rd, big, strlen(big), on_event, &g);
  int n2 = sse_reader_block(&rd, small, strlen(small), on_event, &g);
  sse_reader_free(&rd);
  CHECK(n1 == 0 && n2 == 1 && !strcmp(g.data, "ok"), "an event past the cap is dropped, the next one read");
}
#endif

int main(void)
{
  test_stateless();
#ifndef SSE_STATELESS_ONLY
  test_reader();
#endif
  return tap_done();
}
