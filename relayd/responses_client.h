/*
 * responses_client: an OpenAI Responses API client (POST /v1/responses) served by a channel that
 *   does not serve Responses (an OpenAI chat-only channel, Anthropic, Gemini): its request -> an
 *   OpenAI chat request (the common form), the chat.completion -> a Response object, and the
 *   stateful stream converter (OpenAI chunks in, the Responses API's named events out:
 *   response.created, response.in_progress, response.output_item.added, response.content_part.added,
 *   response.output_text.delta/done, response.function_call_arguments.delta/done,
 *   response.reasoning_summary_part.added, response.reasoning_summary_text.delta/done,
 *   response.content_part.done, response.output_item.done, response.completed / .incomplete, each
 *   with its sequence_number). Shapes as the official openai SDK's types declare them
 *   (openai-node src/resources/responses/responses.ts: Response, ResponseStreamEvent,
 *   ResponseInputItem, ResponseUsage).
 *   Reasoning signatures (doc/design.md "Signatures across formats") ride in a reasoning item's
 *   encrypted_content: the common form's reasoning_details entry printed as JSON text (opaque to
 *   the client, which sends the item back unchanged; read back into reasoning_details). A Gemini
 *   call's signature is a reasoning item just before its function_call item.
 *   Tools other than function tools (OpenAI's built-in ones, namespaces, custom tools) have no chat
 *   form: they are not offered to such a channel; a tool_choice that forces one is refused.
 *   relay keeps no conversation state: previous_response_id, conversation and item_reference are
 *   refused here (the client's 400); a channel that serves Responses natively gets them as they are.
 * Pure functions: every field of the untrusted body is type-checked; a bad body gives NULL or -1 with
 *   a client-facing message in err, never a crash.
 * The stream converter is in responses_events.c (split by size), the rest in responses_client.c.
 * Callers: format_responses.c (the format's ops), responses.c (usage), tests, fuzz targets.
 * Never: touches sockets, balances, the snapshot or clocks.
 */
#ifndef RELAY_RESPONSES_CLIENT_H
#define RELAY_RESPONSES_CLIENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "openai.h"
#include "util.h"

#define RESPONSES_ID_MAX 96

/* What routing and billing need from a Responses request without converting it: model, stream,
 * max_output_tokens, a prompt estimate counted in the parsed body. -1 with err and *param (the
 * field) when one relay reads is missing or of the wrong type. */
int responses_request_info(const cJSON *req, struct oai_request *rq, char *err, size_t errlen, const char **param);

/* A Responses request -> an OpenAI chat request body for model (malloc'd); streams get
 * stream_options.include_usage. NULL with err when it cannot be expressed in chat (a built-in tool,
 * previous_response_id, an item_reference, ...). */
char *responses_request_to_openai(const cJSON *req, const char *model, char *err, size_t errlen);

/* An OpenAI chat.completion body -> a Response object (malloc'd), model shown as model (NULL: the
 * answer's). Fills *u. NULL with err on a bad body or an OpenAI error body. */
char *responses_response_from_openai(const char *body, size_t len, const char *model, struct usage *u, char *err,
                                     size_t errlen);

enum responses_item { RESP_ITEM_NONE, RESP_ITEM_MESSAGE, RESP_ITEM_REASONING, RESP_ITEM_CALL };

struct openai_to_responses_stream {
  char id[RESPONSES_ID_MAX];   /* resp_... */
  char model[RESPONSES_ID_MAX];
  int64_t created;
  int64_t seq;                 /* the next sequence_number */
  bool started;                /* response.created written */
  bool finished;               /* response.completed (or .incomplete) written */
  bool failed;                 /* an error event was written */
  cJSON *output;               /* the output items so far, for response.completed (owned) */
  enum responses_item open;    /* the kind of the open item (the last of output) */
  int tool_index;              /* OpenAI tool_calls index of the open function_call */
  struct buf text;             /* the open item's text, summary or arguments (owned) */
  const char *finish_reason;   /* static string once a finish_reason came */
  bool have_usage;
  struct usage usage;
};

void responses_stream_from_openai_init(struct openai_to_responses_stream *s, const char *model);
/* One parsed OpenAI chunk (an object: a chunk or an in-band {"error":..}), or NULL for [DONE]:
 * appends Responses events to out. 0, or -1 with err (out restored). */
int responses_stream_from_openai_chunk(struct openai_to_responses_stream *s, const cJSON *chunk, struct buf *out,
                                       char *err, size_t errlen);
/* End of the upstream body: when a finish_reason came but no [DONE], writes the final events (0);
 * 0 too when finished or failed already; -1 (nothing written) when cut before a finish_reason. */
int responses_stream_from_openai_finish(struct openai_to_responses_stream *s, struct buf *out);
void responses_stream_from_openai_free(struct openai_to_responses_stream *s);

/* The Responses API's in-band error event {"type":"error","code","message","param","sequence_number"}
 * appended to out (all or nothing: -1 when it does not fit). */
int responses_error_event(struct buf *out, int64_t seq, const char *code, const char *msg);

/* ---- the Responses API's shapes, built (responses_client.c; responses_events.c uses them) ---- */

/* usage {"input_tokens","input_tokens_details":{"cached_tokens"},"output_tokens",
 * "output_tokens_details":{"reasoning_tokens"},"total_tokens"} added to o */
void responses_add_usage(cJSON *o, const struct usage *u);
/* prefix + the letters and digits of upstream_id ("relay" when none) into out */
void responses_make_id(char *out, size_t n, const char *prefix, const char *upstream_id);
/* A Response object with an empty output (status: in_progress, completed or incomplete) */
cJSON *responses_object(const char *id, int64_t created, const char *model, const char *status);
/* output items: a message (one output_text part when text is not NULL), a reasoning item (its
 * summary, and detail -- a reasoning_details entry or a call signature -- printed into
 * encrypted_content), a function_call */
cJSON *responses_message_item(const char *id, const char *text, const char *status);
cJSON *responses_reasoning_item(const char *id, const char *summary, const cJSON *detail);
cJSON *responses_call_item(const char *id, const char *call_id, const char *name, const char *args,
                           const char *status);
/* a Gemini call's thoughtSignature as a reasoning item's detail {"type":"call.signature",...} */
cJSON *responses_call_signature(const char *sig);

/* n as an integer when it is a number in [lo, hi] (truncated), else dflt: no conversion of an
 * untrusted double that does not fit */
int64_t responses_int(const cJSON *n, int64_t dflt, int64_t lo, int64_t hi);

/* Reads a Responses "usage" object (input_tokens, input_tokens_details.cached_tokens, output_tokens,
 * output_tokens_details.reasoning_tokens) into u. */
void responses_read_usage(const cJSON *usage, struct usage *u);

#endif
