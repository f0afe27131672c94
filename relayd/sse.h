/*
 * sse: Server-Sent Events as upstreams send them, read by the WHATWG HTML standard's rules
 * ("9.2 Server-sent events", "Parsing an event stream" and "Interpreting an event stream"):
 * lines end in CR, LF or CRLF (a CR at the end of one read and the LF at the start of the next are
 * one line end); a blank line dispatches; ":" lines are comments; "field:value" loses one space
 * after the colon; a line without a colon is a field with an empty value; data lines are joined
 * with LF; id persists across events; one leading UTF-8 BOM of the stream is dropped.
 * Bytes are not decoded: invalid UTF-8 is passed on as it came (the standard would substitute
 * U+FFFD), since relay forwards upstream bytes and its JSON parser judges them after.
 *
 * Two layers. The stateless helpers split a byte buffer into event blocks (sse_event_len) and read
 * one field of a block (sse_event_field, sse_event_data); the block's bytes stay as they came so a
 * caller can relay them unchanged. The reader (struct sse_reader) interprets the blocks of one
 * stream in order with the standard's state (joined data, event type, last event ID, retry).
 *
 * Callers: attempt.c (cutting blocks), format.c (every upstream block through the reader:
 * format_stream_block), stream.c, health.c (error events), tests/fuzz/fuzz_sse.c (against a
 * reference reading written from the standard). Never: touches sockets; the stateless helpers never
 * allocate; the reader allocates only inside its own buffers, bounded by the cap given to
 * sse_reader_init.
 */
#ifndef RELAY_SSE_H
#define RELAY_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Length of the first complete event block in p[0..len): up to and including the blank line that
 * ends it (an LF right after a final CR is included when it is already there), or 0 when no block
 * is complete yet. The scan may start anywhere inside a block (relay.c resumes two bytes before
 * where the last scan stopped): a line end at p[0] is never taken as a blank line by itself. */
size_t sse_event_len(const char *p, size_t len);

/* The value of the first line of field FIELD in the block ev[0..evlen) ("FIELD: value", "FIELD:value"
 * or a bare "FIELD" = empty value), pointing into ev. A BOM at ev[0] is skipped (the stream's first
 * block). Returns 0, or -1 when no line names that field. */
int sse_event_field(const char *ev, size_t evlen, const char *field, const char **val, size_t *vlen);

/* sse_event_field(ev, evlen, "data", ...): the first data line only. An event with several data
 * lines needs the reader (sse_reader_block) for its joined data. */
int sse_event_data(const char *ev, size_t evlen, const char **data, size_t *dlen);

/* Counts the characters of every JSON string value of the given key inside p[0..len), e.g. key
 * "content" in a chat chunk, for local token counting. Escapes count as one character. */
size_t sse_count_string_chars(const char *p, size_t len, const char *key);

/* One dispatched event: every pointer is into the reader's buffers or into the block given to
 * sse_reader_block (a block of one data line is not copied), valid until the next call of
 * sse_reader_block and while that block is (also after the callback returns, while the block is
 * handled). */
struct sse_event {
  const char *type;        /* the "event:" value, "message" when the event had none */
  size_t type_len;
  const char *data;        /* data lines joined with LF (no final LF) */
  size_t data_len;
  const char *id;          /* the stream's last event ID ("" when none yet) */
  size_t id_len;
  long long retry;         /* the stream's last valid "retry:" in ms, or -1 */
};

/* The standard's state for one stream. Owns its buffers (sse_reader_free). */
struct sse_reader {
  struct buf data, type, id;
  long long retry;
  bool started;            /* a block was read: a BOM is dropped only before it */
  bool after_cr;           /* the last block ended in CR: an LF opening the next belongs to it */
  bool over;               /* a field went past the cap: the event being built is dropped */
  bool stale;              /* data and type belong to the last dispatched event: emptied when the
                              next line is read, so that event stays readable until then */
};

/* cap bounds each of data, type and id (relay.c's events are bounded at 4 MiB already). */
void sse_reader_init(struct sse_reader *rd, size_t cap);
void sse_reader_free(struct sse_reader *rd);

/* Reads one block of the stream, in stream order (blocks as sse_event_len cuts them; a block with
 * more than one blank line is read whole as well). Calls on_event for each dispatched event (none
 * for comments, keep-alives, events without data). A line not yet ended at the end of the block is
 * ignored (the standard drops an unfinished event at the end of the stream). Returns the number of
 * events dispatched. An event whose data, type or id would pass the cap is dropped, not cut. */
int sse_reader_block(struct sse_reader *rd, const char *ev, size_t evlen,
                     void (*on_event)(const struct sse_event *e, void *ctx), void *ctx);

#endif
