/*
 * openai: the OpenAI request and response formats, as pure functions: validating a client request
 * and reading what routing and billing need (model, stream, stream_options, max_tokens, a local
 * prompt estimate), producing the upstream body only when relay must change it (model mapping,
 * forced stream usage), and reading usage objects.
 * Callers: relay.c, tests. Never: touches sockets, balances or the snapshot.
 */
#ifndef RELAY_OPENAI_H
#define RELAY_OPENAI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"

#define MODEL_NAME_MAX 128

/* API_MEDIA: the endpoints media.c validates and bills (responses, images, audio, moderations, rerank) */
enum api_kind { API_CHAT, API_COMPLETIONS, API_EMBEDDINGS, API_MEDIA };

struct oai_request {
  char model[MODEL_NAME_MAX];
  bool stream;
  bool client_wants_usage;    /* stream_options.include_usage was true */
  int64_t max_tokens;         /* max_tokens or max_completion_tokens; -1 when absent */
  int64_t prompt_estimate;    /* local estimate of prompt tokens */
  int64_t input_bound;        /* an upper bound of the input tokens (reqbound_input) */
  size_t body_end;            /* where the body's object ended in its bytes (oai_parse_request) */
};

/* Parses and validates a request body. Returns the parsed root (caller frees with cJSON_Delete)
 * or NULL with a client-facing message in err and the offending field in *param (or NULL). */
cJSON *oai_parse_request(enum api_kind kind, const char *body, size_t len, struct oai_request *rq,
                         char *err, size_t errlen, const char **param);

/* The stream's include_usage without printing the tree again: body (the bytes rq and root were
 * parsed from by oai_parse_request, root unchanged since) with "stream_options":{"include_usage":true}
 * put last in its object. Only where that is all oai_upstream_body would change (a stream whose
 * client did not ask for usage, the model not renamed, no stream_options in the body) and nothing
 * but whitespace follows the object; else NULL. A malloc'd string (caller frees), *len. */
char *oai_usage_spliced(const cJSON *root, const struct oai_request *rq, const char *upstream_model,
                        const char *body, size_t blen, size_t *len);
/* The body to send upstream when it must differ from the client's: the model renamed to
 * upstream_model, and for streams stream_options.include_usage forced on so billing gets exact
 * usage. Returns a malloc'd string (caller frees) with its length, or NULL when the client's bytes
 * can be sent as they are. Modifies root. */
char *oai_upstream_body(cJSON *root, const struct oai_request *rq, const char *upstream_model,
                        size_t *len);

/* Reads an OpenAI usage object. Returns 0, or -1 when it is not one. */
int oai_parse_usage(const cJSON *usage, struct usage *u);

/* Rough local token count for text of n characters (used only when an upstream gives no usage). */
int64_t oai_tokens_from_chars(size_t n);

#endif
