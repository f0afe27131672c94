/*
 * sse: pure helpers for Server-Sent Events as upstreams send them.
 * Callers: attempt.c and stream.c (stream relaying), tests. Never: allocates or touches sockets.
 */
#ifndef RELAY_SSE_H
#define RELAY_SSE_H

#include <stddef.h>

/* Length of the first complete event in p[0..len) including the blank line that ends it
 * ("\n\n", "\r\n\r\n" or mixed), or 0 when no event is complete yet. */
size_t sse_event_len(const char *p, size_t len);

/* Within one event, the payload of its data line(s): sets *data and *dlen to the text after the
 * first "data:" (one optional space skipped) up to the end of that line. Returns 0, or -1 when the
 * event has no data line (comments, event-only frames). */
int sse_event_data(const char *ev, size_t evlen, const char **data, size_t *dlen);

/* The value of the first line "FIELD: value" of an event (e.g. "event"), as sse_event_data. */
int sse_event_field(const char *ev, size_t evlen, const char *field, const char **val, size_t *vlen);

/* Counts the characters of every JSON string value of the given key inside p[0..len), e.g. key
 * "content" in a chat chunk, for local token counting. Escapes count as one character. */
size_t sse_count_string_chars(const char *p, size_t len, const char *key);

#endif
