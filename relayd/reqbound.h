/*
 * reqbound: what a client's JSON request body may cost at most, and whether relay reads it the way
 * an upstream will. Pure functions over the parsed body (any client format: OpenAI chat,
 * completions, embeddings, Responses; Anthropic Messages; Gemini generateContent).
 *   reqbound_duplicate_key: relay authorizes and bills the fields it parsed (cJSON takes the first of
 *     two equal keys) but forwards the client's bytes, which an upstream may read differently
 *     (OpenAI-style servers take the last). A body with a key twice in any object is refused, so
 *     what relay reads is exactly what the upstream reads (doc/design.md "Money").
 *   reqbound_input: an upper bound of the input tokens: the body's bytes (a byte-level tokenizer
 *     never makes more tokens than bytes) with each image's bytes replaced by IMAGE_TOKENS, plus
 *     FILE_TOKENS per file referenced by id or URI (its content is not in the body), plus
 *     OVERHEAD_TOKENS (chat templates, the tool-use system prompt).
 *   reqbound_choices: how many answers one request asks for (OpenAI n / best_of, Gemini
 *     candidateCount), by which the output bound is multiplied.
 * Callers: admit.c (dispatch, before reserving). Never: allocates more than a sort buffer; recurses
 * deeper than cJSON's own nesting limit.
 */
#ifndef RELAY_REQBOUND_H
#define RELAY_REQBOUND_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQBOUND_OVERHEAD_TOKENS 1024
#define REQBOUND_IMAGE_TOKENS 6000       /* above every provider's cost of one image (OpenAI high detail
                                          * ~1.5k, gpt-4.1-mini patches ~2.5k, Anthropic ~1.6k, Gemini 3
                                          * high resolution ~1.1k) */
#define REQBOUND_FILE_TOKENS 200000      /* a file by reference (PDF, audio, video by URI or id) */

/* True when some object of root has a key twice; path gets where ("$.messages[2].content"). */
bool reqbound_duplicate_key(const cJSON *root, char *path, size_t pathlen);

int64_t reqbound_input(const cJSON *root, size_t body_len);

/* 1 unless the body asks for more answers (bounded to 128). */
int64_t reqbound_choices(const cJSON *root);

#endif
