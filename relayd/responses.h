/*
 * responses: a channel that serves a model only through the OpenAI Responses API (channel type
 *   responses) behind a client of another format, which relay has in the common form (an
 *   OpenAI chat request): the request -> a Responses request (store false: relay keeps no state),
 *   the Response object -> a chat.completion, and the stateful stream converter (the Responses
 *   API's named events in, OpenAI chunks out). The other direction (a Responses client) is
 *   responses_client.h's. Shapes as the official openai SDK declares them (openai-node
 *   src/resources/responses/responses.ts).
 * Pure functions: every field of the untrusted body or event is type-checked; a bad one gives NULL
 *   or -1 with a message in err, never a crash.
 * Callers: format_responses.c, tests, fuzz targets.
 * Never: touches sockets, balances, the snapshot or clocks (the caller passes "created" times).
 */
#ifndef RELAY_RESPONSES_H
#define RELAY_RESPONSES_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "reasoning.h"
#include "responses_client.h"
#include "util.h"

/* An OpenAI chat request (the common form) -> a Responses request body for upstream_model
 * (malloc'd); rs (or NULL) a reasoning suffix, written as reasoning.effort. NULL with err. */
char *responses_request_from_openai(const cJSON *req, const char *upstream_model, const struct reasoning *rs,
                                    char *err, size_t errlen);

/* A Response object -> an OpenAI chat.completion (malloc'd). Fills *u. NULL with err when the body
 * is not a Response (an error body gives its message). */
char *responses_response_to_openai(const char *body, size_t len, int64_t created, struct usage *u, char *err,
                                   size_t errlen);

struct responses_to_openai_stream {
  char id[RESPONSES_ID_MAX];
  char model[RESPONSES_ID_MAX];
  int64_t created;
  bool started;        /* the first chunk (role) written */
  bool finished;       /* response.completed / .incomplete seen: [DONE] written */
  bool failed;         /* an error event or response.failed seen: the error written */
  int calls;           /* function_call items seen (the next tool_calls index) */
  int call_output;     /* output_index of the open function_call item, or -1 */
  bool have_usage;
  struct usage usage;
};

void responses_stream_to_openai_init(struct responses_to_openai_stream *s, const char *model, int64_t created);
/* One whole event's data: appends OpenAI chunks to out. 0, or -1 with err (nothing appended). */
int responses_stream_to_openai_feed(struct responses_to_openai_stream *s, const char *data, size_t len,
                                    struct buf *out, char *err, size_t errlen);

#endif
