/*
 * claude_client: an Anthropic Messages client (/v1/messages) served by an OpenAI-format channel:
 *   its request -> an OpenAI chat request, the OpenAI answer -> an Anthropic message, and the
 *   stateful stream converter (OpenAI chunks in, "event: NAME\ndata: JSON\n\n" frames out).
 *   The other direction (an Anthropic channel behind an OpenAI client), the errors, usage and maps
 *   are claude.h's. Pure functions under the same rules as claude.h: every field of the untrusted
 *   body is type-checked, a bad body gives NULL or -1 with a message in err, never a crash.
 * Callers: format_claude.c (the format's ops), tests, fuzz targets.
 * Never: touches sockets, balances, the snapshot or clocks.
 */
#ifndef RELAY_CLAUDE_CLIENT_H
#define RELAY_CLAUDE_CLIENT_H

#include "claude.h"

/* ---- Anthropic client -> OpenAI channel ---- */

/* An Anthropic Messages request -> an OpenAI chat request body for upstream_model (malloc'd);
 * streams get stream_options.include_usage true. NULL with err on a bad request. */
char *claude_request_to_openai(const cJSON *req, const char *upstream_model, char *err,
                               size_t errlen);

/* An OpenAI chat.completion body -> an Anthropic message body (malloc'd), model shown as model
 * (NULL: the response's). Fills *u. NULL with err on a bad body or an OpenAI error body. */
char *claude_response_from_openai(const char *body, size_t len, const char *model,
                                  struct usage *u, char *err, size_t errlen);

enum claude_block { CLAUDE_BLOCK_NONE, CLAUDE_BLOCK_TEXT, CLAUDE_BLOCK_THINKING, CLAUDE_BLOCK_TOOL };

struct openai_to_claude_stream {
  char model[CLAUDE_ID_MAX];   /* shown to the client; the chunks' model when empty */
  int64_t input_estimate;      /* input_tokens in message_start (the real count comes at the end) */
  bool started;                /* message_start written */
  bool finished;               /* message_stop written */
  bool failed;                 /* an error event was written */
  enum claude_block open;      /* the open content block */
  int blocks;                  /* content blocks opened so far (the next index) */
  int tool_index;              /* OpenAI tool_calls index of the open tool block */
  const char *stop_reason;     /* static string once a finish_reason came */
  bool have_usage;
  struct usage usage;
};

void claude_stream_from_openai_init(struct openai_to_claude_stream *s, const char *model,
                                    int64_t input_estimate);
/* Feeds the data of one OpenAI SSE event (a chunk JSON, an in-band {"error":..}, or "[DONE]").
 * Appends Anthropic frames to out. Returns 0, or -1 with err (nothing appended). */
int claude_stream_from_openai_feed(struct openai_to_claude_stream *s, const char *data,
                                   size_t len, struct buf *out, char *err, size_t errlen);
/* The same for a chunk the caller parsed (an object), or NULL for [DONE]. */
int claude_stream_from_openai_chunk(struct openai_to_claude_stream *s, const cJSON *chunk,
                                    struct buf *out, char *err, size_t errlen);
/* End of the upstream body. When a finish_reason was seen but not [DONE], writes message_delta and
 * message_stop and returns 0; returns 0 too when already finished or failed. Returns -1 (nothing
 * written) when the stream was cut before any finish_reason: the caller sends an error event. */
int claude_stream_from_openai_finish(struct openai_to_claude_stream *s, struct buf *out);

#endif
