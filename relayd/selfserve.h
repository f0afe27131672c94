/*
 * selfserve: the endpoints relay answers itself, from the snapshot, without an upstream: the
 * models a key will be served (GET /v1/models, /v1/models/ID in OpenAI's list shape, GET
 * /v1beta/models, /v1beta/models/ID in Google's: a route in the key's group, allowed by its model
 * list, and priced), token counts (Anthropic POST /v1/messages/count_tokens {"input_tokens":N},
 * Gemini POST /v1beta/models/M:countTokens {"totalTokens":N}: asked of the channel that serves
 * the model when it speaks the client's own format (its real count endpoint, the client's body
 * with the channel's key and headers, anthropic-beta passed; its answer passed on as it came,
 * x-relay-token-count: upstream), else -- a converted path, or a channel that refused, failed or
 * timed out (never counted as its failure) -- counted by tokenizer.h, the BPE of an OpenAI model
 * family or characters/4, named in x-relay-counter, with x-relay-token-count: local; free either
 * way: no reservation, no charge, no log row, and not counted by the rate limits, since Claude Code
 * calls it many times per turn), and the key's or its user's balance in OpenAI's legacy dashboard
 * shape (GET /dashboard/billing/subscription and /usage, also under /v1), as One API answers them.
 * Callers: front.c (an authenticated request on one of these routes); attempt.c (a count's
 * transfer ended: count_tokens_done); relay.c (shutdown). Never: reserves, bills or writes a log
 * row of its own; changes a balance; calls an upstream for anything but a count.
 */
#ifndef RELAY_SELFSERVE_H
#define RELAY_SELFSERVE_H

#include <curl/curl.h>
#include <microhttpd.h>

struct request;

/* GET /v1/models (the list) or /v1/models/ID (url names the id): queued answer. */
enum MHD_Result serve_models(struct request *r, const char *url);
/* POST .../count_tokens or :countTokens, its body read (the model in it, or in r->path_model):
 * queued answer; 404 model_not_found for a model the key is not served. */
enum MHD_Result serve_count_tokens(struct request *r);
/* The channel's count transfer of r ended with res (or never ran): its answer to the client, or
 * relay's own count (x-relay-token-count: local) when it did not answer 2xx with a count. */
void count_tokens_done(struct request *r, CURLcode res);
/* The model of a path prefix + "MODEL:action" into model: 0, or -1 when it names none. */
int serve_path_model(const char *url, const char *prefix, char *model, size_t modellen);
/* GET .../dashboard/billing/subscription or .../usage: queued answer. */
enum MHD_Result serve_billing(struct request *r);

#endif
