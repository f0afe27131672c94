/*
 * media: the endpoint kinds beyond chat, completions and embeddings, relayed to OpenAI-compatible
 * (and Azure, Cohere, Jina) channels: POST /v1/images/generations, /v1/images/edits
 * (multipart), /v1/audio/speech, /v1/audio/transcriptions and /v1/audio/translations (multipart),
 * /v1/moderations, /v1/rerank. For each it owns: validating the client request (JSON with cJSON,
 * multipart/form-data with libmicrohttpd's post processor; the client's bytes are forwarded
 * untouched unless the model is renamed), which channel types may serve it, the quota to reserve,
 * reading what the upstream's answer says it used (usage objects, image counts, audio seconds,
 * search units), and the charge. The billing rule of each kind is in doc/endpoints.md.
 * Reading and rewriting the client's request is mediareq.c's; this module has the types, the
 * channel and price rules, the reservation, the answers and the charge.
 * Callers: relay's stages (admit.c, attempt.c, respond.c, settle.c), mediareq.c, tests (the pure
 * helpers).
 * Never: touches balances, sockets or the database; keeps pointers into the buffers it is given.
 */
#ifndef RELAY_MEDIA_H
#define RELAY_MEDIA_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "openai.h"
#include "snapshot.h"

enum media_kind {
  MEDIA_NONE,
  MEDIA_IMAGE_GEN,
  MEDIA_IMAGE_EDIT,
  MEDIA_SPEECH,
  MEDIA_TRANSCRIBE,
  MEDIA_TRANSLATE,
  MEDIA_MODERATION,
  MEDIA_RERANK,
};

#define MEDIA_BOUNDARY_MAX 72        /* RFC 2046: 1 to 70 characters */

/* What billing needs from a client request, beyond struct oai_request. */
struct media_req {
  enum media_kind kind;
  bool multipart;
  bool model_in_body;              /* JSON: the client named the model (moderations may not) */
  char boundary[MEDIA_BOUNDARY_MAX + 1];
  int64_t n;                       /* images asked for (1 when absent) */
  char size[32];                   /* images: "1024x1024"; "" when absent */
  char quality[16];                /* images: "hd", "high", ...; "" when absent */
  double image_mult;               /* dall-e size/quality multiplier (1 otherwise) */
  int64_t input_chars;             /* speech: characters (code points) of "input" */
  int64_t file_bytes;              /* multipart: bytes of the uploaded files */
  int64_t documents;               /* rerank: number of documents */
};

/* What the upstream's answer says was used. */
struct media_result {
  bool has_tokens;                 /* tokens holds the upstream's usage */
  struct usage tokens;
  bool has_images;
  int64_t images;                  /* entries of "data" in an images answer */
  bool has_seconds;
  double seconds;                  /* audio duration: usage.seconds or "duration" */
  bool has_search;
  int64_t search_units;            /* Cohere meta.billed_units.search_units */
  size_t text_chars;               /* output text seen (transcripts) */
};

/* dall-e-2 / dall-e-3 price multiplier of an image size and quality (One API's table); 1 for other
 * models. Returns < 0 with a message in err when the size is not one the model makes. */
double media_image_multiplier(const char *model, const char *size, const char *quality, char *err,
                              size_t errlen);

/* gpt-image-1 style output tokens of one image of this size and quality (OpenAI's table; an
 * absent or "auto" quality counts as high). */
int64_t media_image_tokens(const char *size, const char *quality);

/* Why a channel of type p cannot serve kind k (api_kind for non-media requests): p->refusal when
 * p->serves lacks the endpoint class (provider.h), or NULL. */
const char *media_channel_refusal(enum media_kind k, enum api_kind api, const struct provider *p);

/* Why price p cannot bill kind k (a per-second price on an image endpoint...), or NULL. */
const char *media_price_refusal(enum media_kind k, const struct price *p);

/* The quota to reserve before the upstream call: the worst case, with out_bound output tokens at
 * most (billing_bound). */
int64_t media_reserve(const struct media_req *mq, const struct oai_request *rq, const struct price *p,
                      double group_ratio, int64_t out_bound);

/* Reads a whole (non-stream) 2xx answer of kind k into res. content_type may be NULL. */
void media_read_response(enum media_kind k, const char *body, size_t len, const char *content_type,
                         struct media_result *res);


/* The charge of a request that produced an answer; fills *u (log tokens) and *source ("upstream",
 * "local" or "request"). */
int64_t media_charge(const struct media_req *mq, const struct oai_request *rq, const struct price *p,
                     double group_ratio, enum quota_rounding rounding,
                     const struct media_result *res, struct usage *u, const char **source);

/* A short note for the log row's content: "images=2 size=1024x1792 quality=hd", "seconds=9", ... */
/* The units a fixed price charged for (images, seconds, search units; 1 per call); 0 for ratio prices. */
double media_units(const struct media_req *mq, const struct media_result *res, const struct price *p);

void media_describe(const struct media_req *mq, const struct media_result *res, const struct price *p,
                    char *out, size_t outlen);

#endif
