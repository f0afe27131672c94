/*
 * jsonarray: the JSON array form of a stream, as Google's streamGenerateContent answers without
 *   alt=sse (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent: the
 *   response body is a JSON array of GenerateContentResponse, sent as they come): "[" first
 *   element, "," each next one, "]" at the end.
 * It turns whole SSE events (relay's client bytes, as the event path writes them) into array
 *   elements: each event's data becomes one element; comments, keep-alives and [DONE] are dropped.
 * Callers: stream.c (a Gemini client that asked for no alt=sse), tests. Never: parses or changes
 *   an element (the data is JSON the event path already wrote or read), allocates outside out.
 */
#ifndef RELAY_JSONARRAY_H
#define RELAY_JSONARRAY_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct json_array {
  bool started;   /* "[" went out */
  bool closed;    /* "]" went out */
};

/* The whole SSE events in sse[0..len) as array elements appended to out; bytes after the last
 * whole event are dropped (the event path writes whole events only). 0, or -1 when out is full. */
int json_array_events(struct json_array *a, const char *sse, size_t len, struct buf *out);
/* Closes the array ("[]" when no element went out) into out: 0, or -1 when out is full. */
int json_array_close(struct json_array *a, struct buf *out);

#endif
