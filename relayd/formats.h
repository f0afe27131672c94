/*
 * formats: the wire formats relay knows (format.h's interface, one struct format each) and which
 *   one a channel speaks. A new format is declared here, defined in its format_X.c, and mapped from
 *   the provider table's api in format_of_api.
 * Callers: the stages (front.c's route table names each endpoint's format; attempt.c and admit.c
 *   find a channel's), tests, fuzz targets. Never: holds state; format.c (the event path and the
 *   formats' shared helpers) does not call it (the formats call format.c).
 */
#ifndef RELAY_FORMATS_H
#define RELAY_FORMATS_H

#include "format.h"

extern const struct format format_openai;   /* OpenAI chat: the common form (format_openai.c) */
extern const struct format format_claude;   /* Anthropic Messages (format_claude.c) */
extern const struct format format_gemini;   /* Gemini generateContent (format_gemini.c) */
extern const struct format format_responses;   /* the OpenAI Responses API (format_responses.c) */
extern const struct format format_bedrock;  /* Anthropic Messages on AWS Bedrock (bedrock.c) */
/* Gemini embedContent / batchEmbedContents: clients only, converted to OpenAI embeddings
 * (format_embed.c) */
extern const struct format format_gemini_embed, format_gemini_batch_embed;

/* The format a channel speaks (common/provider.h's api: anthropic, gemini, or OpenAI's for the rest,
 * azure, cohere and jina included). */
const struct format *format_of_api(int api);
/* ---- Gemini's embeddings on a Gemini channel (format_embed.c) ---- */

/* "/v1beta/models/MODEL:METHOD" into out ("models/" dropped, the name's characters checked): its
 * length, or -1. */
int format_gemini_method_path(char *out, size_t outlen, const char *model, const char *method);
/* An embeddings request for a Gemini channel (write_request's contract, q->api API_EMBEDDINGS):
 * natively a Gemini client's embedContent / batchEmbedContents, else an OpenAI embeddings request
 * as batchEmbedContents. */
int gemini_embed_request(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen, char *err,
                         size_t errlen);
/* Google's EmbedContentResponse or BatchEmbedContentsResponse (parsed j) as OpenAI's embeddings
 * list (malloc'd), usage 0 (Google reports none), or NULL with err. */
char *gemini_embed_to_openai(const cJSON *j, const char *model, char *err, size_t errlen);
/* An OpenAI embeddings answer with usage prompt_tokens (when >= 0) written in, and each embedding
 * as base64 of its float32 values (little-endian) when base64 (malloc'd), or NULL. */
char *format_embed_openai_answer(const char *body, size_t len, int64_t prompt_tokens, bool base64);
/* The format a channel of api speaks for upstream_model (its name after the channel's mapping): a
 * vertex channel speaks Claude's for anthropic models and Gemini's for the others (vertexapi.h);
 * every other api, format_of_api's. */
const struct format *format_for_model(int api, const char *upstream_model);
/* The format a channel of provider p (common/provider.h) speaks to a client of format client for
 * upstream_model: a Responses client and a channel whose type serves the Responses API (an
 * OpenAI-style type that serves "media": openai, azure, custom, ...) talk natively; otherwise
 * format_for_model(p->api, upstream_model). */
struct provider;
const struct format *format_of_channel(const struct format *client, const struct provider *p,
                                       const char *upstream_model);

#endif
