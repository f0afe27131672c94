/*
 * claude: the Anthropic Messages format <-> the OpenAI chat format, as pure functions, both ways.
 *   OpenAI client -> Anthropic channel: request (cJSON -> JSON text), non-stream response, and a
 *   stateful stream converter (Anthropic SSE events in, OpenAI "data:" chunks out).
 *   Anthropic client (/v1/messages) -> OpenAI channel: request, non-stream response, and a stateful
 *   stream converter (OpenAI chunks in, "event: NAME\ndata: JSON\n\n" frames out).
 *   Anthropic error bodies and in-band error events from an HTTP status.
 * Everything read from a body is untrusted: every field's type is checked, a bad body gives NULL or
 * -1 with a clear message in err, never a crash. Stream converters allocate nothing per event beyond
 * cJSON's parse of that event (and the caller's output buffer growing, bounded by its cap).
 * Callers: relay.c (request path, wired by the providers work), tests.
 * Never: touches sockets, balances, the snapshot or clocks (the caller passes "created" times).
 */
#ifndef RELAY_CLAUDE_H
#define RELAY_CLAUDE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "openai.h"
#include "util.h"

#define CLAUDE_DEFAULT_MAX_TOKENS 8192
#define CLAUDE_ID_MAX 128

/* ---- OpenAI client -> Anthropic channel ---- */

/* An OpenAI chat request -> an Anthropic Messages request body for upstream_model. Returns a
 * malloc'd NUL-terminated JSON string (caller frees), or NULL with a client-facing message in err. */
char *claude_request_from_openai(const cJSON *req, const char *upstream_model, char *err,
                                 size_t errlen);

/* An Anthropic non-stream response body -> an OpenAI chat.completion body (malloc'd). Fills *u.
 * NULL with err when the body is not an Anthropic message (an Anthropic error body gives its
 * message). */
char *claude_response_to_openai(const char *body, size_t len, int64_t created, struct usage *u,
                                char *err, size_t errlen);

struct claude_to_openai_stream {
  char id[CLAUDE_ID_MAX];
  char model[CLAUDE_ID_MAX];
  int64_t created;
  bool include_usage;      /* the client asked for stream_options.include_usage */
  bool started;            /* message_start seen */
  bool finished;           /* message_stop seen: [DONE] written */
  bool failed;             /* an error event was seen: the error was written, nothing follows */
  int tool_block;          /* Anthropic index of the open tool_use block, or -1 */
  int tool_calls;          /* tool_use blocks seen (the next OpenAI tool_calls index) */
  int details;             /* reasoning_details items written (the next index) */
  const char *finish_reason;   /* static string once message_delta gave one, else NULL */
  struct usage usage;      /* prompt incl. cache reads and writes, cached = cache reads */
};

void claude_stream_to_openai_init(struct claude_to_openai_stream *s, bool include_usage,
                                  int64_t created);
/* Feeds one whole Anthropic SSE event: its "event:" name (NULL to use the data's "type") and its
 * data JSON. Appends the OpenAI chunks it produces to out. Returns 0, or -1 with err when the
 * event is not valid (nothing appended) or out is full (out restored). Events after message_stop
 * or an error are ignored. */
int claude_stream_to_openai_feed(struct claude_to_openai_stream *s, const char *event,
                                 const char *data, size_t len, struct buf *out, char *err,
                                 size_t errlen);

/* ---- Anthropic client -> anthropic channel (native pass-through) ---- */

/* Reads an Anthropic "usage" object into u: the fields present overwrite (message_start gives
 * input and cache counts, message_delta the cumulative output). prompt = input + cache reads +
 * cache writes, cached = cache reads. */
void claude_read_usage(const cJSON *usage, struct usage *u);
/* What routing and billing need from a Messages request, without converting it: model, stream,
 * max_tokens, a prompt estimate counted in the parsed body. -1 with err when a field relay reads
 * is missing or of the wrong type. */
int claude_request_info(const cJSON *req, struct oai_request *rq, char *err, size_t errlen);

/* ---- errors ---- */

/* The Anthropic error type for an HTTP status (400 invalid_request_error ... 529 overloaded_error). */
const char *claude_error_type(int status);
/* {"type":"error","error":{"type":..,"message":..}} (malloc'd). */
char *claude_error_body(int status, const char *message);
/* Appends "event: error\ndata: {..}\n\n". Returns 0 or -1 when out is full (out restored). */
int claude_error_event(struct buf *out, int status, const char *message);

/* Stop-reason maps (static strings). */
const char *claude_stop_to_openai(const char *stop_reason);    /* end_turn -> stop ... */
const char *claude_stop_from_openai(const char *finish_reason); /* stop -> end_turn ... */

#endif
