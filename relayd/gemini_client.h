/*
 * gemini_client: a Gemini-native client (/v1beta/models/...) served by an OpenAI-format channel:
 *   its request -> an OpenAI chat request, the OpenAI answer -> a GenerateContentResponse, and the
 *   stateful stream converter (OpenAI chunks in, Gemini SSE frames out; tool calls held and sent
 *   whole, bounded). The other direction, the paths, errors, usage and maps are gemini.h's. Pure
 *   functions under the same rules as gemini.h: every field of the untrusted body is type-checked,
 *   a bad body gives NULL or -1 with a message in err, never a crash.
 * Callers: format_gemini.c (the format's ops), tests, fuzz targets.
 * Never: touches sockets, balances, the snapshot or clocks.
 */
#ifndef RELAY_GEMINI_CLIENT_H
#define RELAY_GEMINI_CLIENT_H

#include "gemini.h"

/* ---- Gemini-native client -> OpenAI channel ---- */

/* A Gemini generateContent request -> an OpenAI chat request for upstream_model (malloc'd);
 * stream (from the path) sets stream and stream_options.include_usage. NULL with err when bad. */
char *gemini_request_to_openai(const cJSON *req, const char *upstream_model, bool stream,
                               char *err, size_t errlen);

/* An OpenAI chat.completion -> a Gemini GenerateContentResponse (malloc'd), modelVersion model
 * (NULL: the response's). Fills *u. NULL with err on a bad body or an OpenAI error body. */
char *gemini_response_from_openai(const char *body, size_t len, const char *model,
                                  struct usage *u, char *err, size_t errlen);

struct gemini_pending_call {
  char id[GEMINI_ID_MAX];
  char name[GEMINI_ID_MAX];
  struct buf args;        /* argument fragments, bounded by GEMINI_TOOL_ARGS_MAX */
  struct buf sig;         /* its extra_content.google.thought_signature (same bound) */
};

struct openai_to_gemini_stream {
  char model[GEMINI_ID_MAX];
  char id[GEMINI_ID_MAX];
  bool finished;          /* the final frame was written */
  bool failed;            /* an error frame was written */
  bool started;           /* a chunk was seen */
  const char *finish_reason;   /* Gemini finishReason once a finish_reason came */
  bool have_usage;
  struct usage usage;
  int ncalls;
  struct gemini_pending_call calls[GEMINI_MAX_TOOL_CALLS];
};

void gemini_stream_from_openai_init(struct openai_to_gemini_stream *s, const char *model);
/* Feeds the data of one OpenAI SSE event (chunk, in-band error or "[DONE]"). Text and reasoning
 * become frames at once; tool calls are held and sent whole in the final frame, with the
 * finishReason and usageMetadata, at [DONE]. Returns 0, or -1 with err (nothing appended). */
int gemini_stream_from_openai_feed(struct openai_to_gemini_stream *s, const char *data, size_t len,
                                   struct buf *out, char *err, size_t errlen);
/* The same for a chunk the caller parsed (an object), or NULL for [DONE]. */
int gemini_stream_from_openai_chunk(struct openai_to_gemini_stream *s, const cJSON *chunk, struct buf *out,
                                    char *err, size_t errlen);
/* End of the upstream body without [DONE]: writes the final frame when a finish_reason was seen
 * and returns 0 (also when already finished or failed); -1, writing nothing, when the stream was
 * cut before one. */
int gemini_stream_from_openai_finish(struct openai_to_gemini_stream *s, struct buf *out);
/* Frees the argument buffers. */
void gemini_stream_from_openai_free(struct openai_to_gemini_stream *s);

#endif
