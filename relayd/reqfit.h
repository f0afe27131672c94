/*
 * reqfit: what the real upstreams refuse in a request relay CONVERTED from another client format,
 * fixed before it is sent (issue #20). A client's own request to a channel of its own format is
 * never touched here (pass-through stays byte for byte).
 *   - OpenAI reasoning models (o1, o3, o4-*, gpt-5 but its -chat models) take max_completion_tokens,
 *     not max_tokens, and refuse temperature, top_p, presence/frequency penalties, logprobs and
 *     logit_bias (platform.openai.com/docs/guides/reasoning, "unsupported parameters"): moved and
 *     dropped. Models known not to reason (gpt-4*, gpt-3.5*, chatgpt-*, *-chat) refuse
 *     reasoning_effort: dropped; "none" (thinking off, from another client format) is kept only for
 *     gpt-5.x (5.1 and later take it; other models refuse or misread it).
 *     Other model names (other providers behind an OpenAI-style channel) keep what they got.
 *   - Gemini's function parameters and response schema are an OpenAPI 3.0 subset, the Schema object
 *     of ai.google.dev/api/caching#Schema: only its fields are kept (type, format, title,
 *     description, nullable, enum, items, minItems, maxItems, properties, required, minProperties,
 *     maxProperties, minLength, maxLength, pattern, minimum, maximum, anyOf, propertyOrdering,
 *     default, example). JSON Schema's other keywords (exclusiveMinimum, propertyNames, $schema,
 *     $ref, additionalProperties, ...) are dropped; "const" becomes a one-value enum; a type list
 *     ["T","null"] becomes type T + nullable; oneOf becomes anyOf; a string format other than enum
 *     and date-time is dropped (Gemini refuses others); enum keeps only string lists; required
 *     keeps only the names properties define; a nested empty properties map is dropped
 *     ("should be non-empty for OBJECT type"). (relay does not send parametersJsonSchema: Vertex
 *     and models before 2.5 refuse it; the subset works on all of them.)
 *   - The client's reasoning setting, read from the common form's reasoning_effort, is written
 *     for an Anthropic or Gemini channel as reasoning.h's tables say (a model-name suffix wins).
 *   - Signed reasoning state (doc/design.md "Signatures across formats"): Anthropic with thinking
 *     on needs the last assistant turn's tool calls preceded by their signed thinking block: when
 *     the client did not send it back, thinking is turned OFF for that request (documented
 *     fallback, issue #20), as it is when tool_choice forces a tool (Anthropic refuses both); Gemini 3 needs a thoughtSignature on a model turn's first functionCall:
 *     when missing, Google's documented placeholder "skip_thought_signature_validator". OpenAI's
 *     own models get neither reasoning_details nor extra_content (unknown message fields).
 * Callers: gemini.c (schemas), format_*.c write_request. Never: allocates beyond
 * the cJSON nodes it replaces, touches sockets or state.
 */
#ifndef RELAY_REQFIT_H
#define RELAY_REQFIT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "reasoning.h"

/* Is model an OpenAI reasoning model (o-series, gpt-5 but its -chat models)? */
bool reqfit_openai_reasoning_model(const char *model);
/* Fixes a converted OpenAI chat request for model. True when it changed anything. */
bool reqfit_openai(cJSON *req, const char *model);
/* Reduces a JSON schema (object, in place) to Gemini's Schema subset, recursively. */
void reqfit_gemini_schema(cJSON *schema);
/* body (malloc'd JSON of format fmt, converted from the common-form oai_req) fitted for the
 * upstream model: the reasoning setting written (the suffix when given, else oai_req's
 * reasoning_effort); Anthropic: thinking turned off when the last assistant turn made tool calls
 * without its signed thinking block first, or tool_choice forces a tool; Gemini 3: a model turn's first functionCall without a
 * thoughtSignature gets "skip_thought_signature_validator". *body is replaced (the old one freed)
 * when anything changed. */
void reqfit_body(char **body, const cJSON *oai_req, enum reasoning_format fmt, const struct reasoning *suffix,
                 const char *model);

#endif
