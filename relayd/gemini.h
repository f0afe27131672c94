/*
 * gemini: the Gemini generateContent format <-> the OpenAI chat format, as pure functions.
 *   OpenAI client -> Gemini channel: the upstream URL path, the request body, the non-stream
 *   response, and a stateful converter for streamGenerateContent?alt=sse frames -> OpenAI chunks
 *   (Gemini sends no [DONE]: the caller calls the finish function at the end of the body).
 *   Gemini-native client (/v1beta/models/...) -> OpenAI channel: the request path, the request body,
 *   the non-stream response and a stateful converter OpenAI chunks -> Gemini SSE frames.
 *   google.rpc error bodies from an HTTP status.
 * Everything read from a body is untrusted: every field's type is checked, a bad body gives NULL or
 * -1 with a clear message in err, never a crash. Stream converters allocate nothing per event beyond
 * cJSON's parse of that event, the caller's output buffer growing (bounded by its cap), and, for
 * OpenAI -> Gemini, the bounded per-tool-call argument buffers (Gemini wants whole calls).
 * Callers: relay.c (request path, wired by the providers work), tests.
 * Never: touches sockets, balances, the snapshot or clocks (the caller passes "created" times).
 */
#ifndef RELAY_GEMINI_H
#define RELAY_GEMINI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "openai.h"
#include "util.h"

#define GEMINI_ID_MAX 128
#define GEMINI_MAX_TOOL_CALLS 16
#define GEMINI_TOOL_ARGS_MAX ((size_t)1 << 20)

/* "/v1beta/models/{model}:generateContent" or ":streamGenerateContent?alt=sse" into out. A leading
 * "models/" in model is dropped. Returns the length, or -1 when model is empty or has characters
 * other than letters, digits, '.', '-', '_', '@', or out is too small. */
int gemini_model_path(char *out, size_t outlen, const char *model, bool stream);

/* Reads a client path "/v1beta/models/{model}:generateContent|streamGenerateContent" (also /v1/;
 * a query string is ignored) into model and *stream. Returns 0, or -1 when it is not one. */
int gemini_parse_path(const char *path, char *model, size_t modellen, bool *stream);

/* ---- OpenAI client -> Gemini channel ---- */

/* An OpenAI chat request -> a Gemini generateContent body (malloc'd; the model goes in the URL).
 * NULL with a client-facing message in err on a bad request. */
char *gemini_request_from_openai(const cJSON *req, char *err, size_t errlen);

/* A Gemini GenerateContentResponse -> an OpenAI chat.completion (malloc'd), model shown as model
 * (NULL: the response's modelVersion). Fills *u. NULL with err on a bad body or an error body. */
char *gemini_response_to_openai(const char *body, size_t len, const char *model, int64_t created,
                                struct usage *u, char *err, size_t errlen);

struct gemini_to_openai_stream {
  char id[GEMINI_ID_MAX];
  char model[GEMINI_ID_MAX];
  int64_t created;
  bool include_usage;     /* the client asked for stream_options.include_usage */
  bool started;           /* the role chunk was written */
  bool finished;          /* [DONE] written */
  bool failed;            /* an in-band error was written */
  int tool_calls;         /* functionCall parts seen (the next tool_calls index) */
  int details;            /* reasoning_details items written (the next index) */
  const char *finish_reason;   /* static string once a finishReason came */
  struct usage usage;
};

void gemini_stream_to_openai_init(struct gemini_to_openai_stream *s, const char *model,
                                  bool include_usage, int64_t created);
/* Feeds the data of one SSE frame (a GenerateContentResponse, or an {"error":..}). Appends OpenAI
 * chunks to out. Returns 0, or -1 with err (nothing appended, state unchanged). */
int gemini_stream_to_openai_feed(struct gemini_to_openai_stream *s, const char *data, size_t len,
                                 struct buf *out, char *err, size_t errlen);
/* End of the upstream body: writes the usage chunk (if asked) and [DONE], returns 0 (also when
 * already finished or failed). Returns -1, writing nothing, when no finishReason was seen: the
 * stream was cut and the caller sends an in-band error. */
int gemini_stream_to_openai_finish(struct gemini_to_openai_stream *s, struct buf *out);

/* ---- Gemini client -> gemini channel (native pass-through) ---- */

/* Reads a usageMetadata object into u (prompt incl. tool-use prompt, completion incl. thoughts). */
void gemini_read_usage(const cJSON *usage_metadata, struct usage *u);
/* What routing and billing need from a generateContent request (model and stream come from the
 * path), without converting it: generationConfig.maxOutputTokens and a prompt estimate counted in
 * the parsed body. -1 with err when they are malformed. */
int gemini_request_info(const cJSON *req, const char *model, bool stream, struct oai_request *rq, char *err,
                        size_t errlen);

/* ---- errors and maps ---- */

/* The google.rpc status for an HTTP status (400 INVALID_ARGUMENT ... 503 UNAVAILABLE). */
const char *gemini_error_status(int status);
/* {"error":{"code":status,"message":..,"status":..}} (malloc'd). */
char *gemini_error_body(int status, const char *message);
/* Appends "data: {error body}\r\n\r\n". 0, or -1 when out is full (out restored). */
int gemini_error_event(struct buf *out, int status, const char *message);

const char *gemini_finish_to_openai(const char *finish_reason);    /* STOP -> stop ... */
const char *gemini_finish_from_openai(const char *finish_reason);  /* stop -> STOP ... */

#endif
