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
/* Gemini embedContent / batchEmbedContents: clients only, converted to OpenAI embeddings
 * (format_embed.c) */
extern const struct format format_gemini_embed, format_gemini_batch_embed;

/* The format a channel speaks (common/provider.h's api: anthropic, gemini, or OpenAI's for the rest,
 * azure, cohere and jina included). */
const struct format *format_of_api(int api);
/* The format a channel of provider p (common/provider.h) speaks to a client of format client: a
 * Responses client and a channel whose type serves the Responses API (an OpenAI-style type that
 * serves "media": openai, azure, custom, ...) talk natively; otherwise format_of_api(p->api). */
struct provider;
const struct format *format_of_channel(const struct format *client, const struct provider *p);

#endif
