/*
 * format: one interface per wire format, the way haproxy puts each protocol behind one mux_ops.
 *   A struct format (OpenAI chat, Anthropic Messages, Gemini generateContent, OpenAI Responses)
 *   knows how to read a client request in its shape, turn it into the common
 *   form (an OpenAI chat request) and back into an upstream request, convert a whole answer and a
 *   stream both ways, write errors and in-band error events in its shape, and find usage, text and
 *   the end of a stream in its own events. relay works in the common form inside and converts at
 *   the edges; a client and a channel of the same format talk through it unconverted ("native").
 * It also owns the one event path of a stream (format_stream_*): every upstream SSE event goes in,
 *   client events come out, and usage, the text sent and the upstream's end are found on the way.
 *   A request holds its two formats and one struct format_stream (the two small converter states:
 *   the upstream's events -> the common form, the common form -> the client's events).
 * Adding a format: a format_X.c with its struct format (every op below, NULL where the ops say
 *   so), declared in formats.h; its endpoints' rows in the route table point at it, formats.c's
 *   format_of_api maps the channel api that speaks it; a union member below for each converter
 *   state it needs. Nothing else in relayd names a format.
 * Callers: relay.c (and the stage modules cut from it), tests, fuzz targets.
 * Never: touches sockets, balances, the snapshot or clocks (the caller passes "created" times); every
 *   byte read is untrusted (bodies and events are parsed with cJSON, every field type-checked).
 */
#ifndef RELAY_FORMAT_H
#define RELAY_FORMAT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "claude_client.h"
#include "gemini_client.h"
#include "openai.h"
#include "reasoning.h"
#include "responses.h"
#include "responses_client.h"
#include "sse.h"
#include "tokenizer.h"
#include "util.h"

struct curl_slist;

#define FORMAT_PATH_MAX (MODEL_NAME_MAX + 64)   /* an upstream path a format writes */
#define FORMAT_EVENT_MAX ((size_t)4 << 20)     /* the OpenAI chunks made from one upstream event */
#define FORMAT_BAD (-1)                        /* format_stream_event: the event could not be read or converted */
#define FORMAT_FULL (-2)                       /* ... the client's buffer is full */

/* What the event path found in an upstream's stream, or read_answer in a whole answer. */
struct format_facts {
  struct usage usage;      /* what the upstream reported (valid when usage_found) */
  bool usage_found;
  bool usage_final;        /* ... in the event that ends its answer (not a running count) */
  size_t text_chars;       /* model-made text seen (counted in parsed JSON strings) */
  struct tok_count *tokens; /* not NULL: the same text also counted by the model's tokenizer (the
                            * caller's count, not owned; format_stream_init clears it) */
  bool ended;              /* the upstream's own end came (message_stop, finishReason, [DONE]) */
  bool failed;             /* the upstream sent an error event */
  bool text_if_no_usage;   /* read_answer: count the text only when no usable usage came (relay
                            * bills by its own count only then: settle.c) */
};

/* The converter states, one of each per request, owned by the struct format_stream that holds
 * them: the format that initialized a member frees what it holds (format_stream_free). */
union format_in_state {           /* an upstream's events -> OpenAI chunks */
  struct claude_to_openai_stream claude;
  struct gemini_to_openai_stream gemini;
  struct responses_to_openai_stream responses;
};
union format_out_state {          /* OpenAI chunks -> a client's events */
  struct openai_to_claude_stream claude;
  struct openai_to_gemini_stream gemini;
  struct openai_to_responses_stream responses;
};

/* What an upstream request is written from. */
struct format_req {
  cJSON *root;                    /* the client's parsed body when native, else the OpenAI chat
                                   * request made from it (the op may change it) */
  bool native;                    /* root is in this format: only model and reasoning are rewritten */
  const char *body;               /* the client's own bytes (sent when nothing is rewritten) */
  size_t body_len;
  enum api_kind api;
  const struct oai_request *rq;   /* the model the client named, stream, include_usage */
  const char *upstream_model;     /* the channel's name for it (mapped, suffix stripped) */
  const struct reasoning *rs;     /* a reasoning suffix this format reads, or NULL */
};

struct format_ops {
  /* ---- a client speaking this format ---- */

  /* The model and stream flag a client path names (Gemini: /v1beta/models/M:streamGenerateContent).
   * 0, or -1 when the path is not one. NULL: the format names them in the body. */
  int (*parse_path)(const char *path, char *model, size_t modellen, bool *stream);
  /* Parses a client body: *root (caller deletes) and what routing and billing need in rq. model and
   * stream are parse_path's (unused otherwise). 0, or an HTTP status with a client-facing message in
   * err and the offending field in *param (or NULL). */
  int (*read_request)(enum api_kind api, const char *body, size_t len, const char *model, bool stream,
                      cJSON **root, struct oai_request *rq, char *err, size_t errlen, const char **param);
  /* The client's request as an OpenAI chat request body for model (malloc'd), or NULL with err.
   * NULL op: the request is one already (OpenAI). */
  char *(*request_to_openai)(const cJSON *root, const char *model, bool stream, char *err, size_t errlen);
  /* An OpenAI chat.completion -> this format's answer (malloc'd), model shown as model; fills *u.
   * NULL with err on a bad body. NULL op: nothing to convert. */
  char *(*response_from_openai)(const char *body, size_t len, const char *model, struct usage *u, char *err,
                                size_t errlen);
  /* OpenAI chunks -> this format's events (NULL ops: relayed as they are). out_feed takes one parsed chunk
   * (an object: a chunk or an in-band error; NULL for [DONE]); out_finish ends a stream cut after its finish_reason
   * (0) or says it cannot (-1, nothing written); out_free frees what out_init allocated. */
  void (*out_init)(union format_out_state *st, const char *model, int64_t prompt_estimate);
  int (*out_feed)(union format_out_state *st, const cJSON *chunk, struct buf *out, char *err, size_t errlen);
  int (*out_finish)(union format_out_state *st, struct buf *out);
  void (*out_free)(union format_out_state *st);
  /* An error body in this format into b. type, code and param are OpenAI's (other formats derive
   * theirs from the status). */
  void (*error_body)(struct buf *b, int status, const char *type, const char *code, const char *param,
                     const char *msg);
  /* An in-band error event in this format appended to out (all or nothing). */
  void (*error_event)(struct buf *out, int status, const char *code, const char *msg);
  /* One model of its model listing (GET /v1/models, /v1beta/models), as an object into b; the
   * listing is models_head, the entries comma-separated, models_tail. NULL: it has none. */
  void (*model_entry)(struct buf *b, const char *id);

  /* ---- an upstream speaking this format ---- */

  /* The body and path of a request to a channel of this format: *body malloc'd (NULL: q->body as it
   * is), path written when the format has its own ("" otherwise: the endpoint's). 0, or -1 with a
   * message in err (the request cannot go to such a channel). */
  int (*write_request)(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen,
                       char *err, size_t errlen);
  /* This format's whole answer -> an OpenAI chat.completion (malloc'd), model shown as model (NULL:
   * the answer's); fills *u. NULL with err. NULL op: it is one already. */
  char *(*response_to_openai)(const char *body, size_t len, const char *model, int64_t created,
                              struct usage *u, char *err, size_t errlen);
  /* Usage and text of a whole answer in this format (parsed root) into f. */
  void (*read_answer)(const cJSON *root, struct format_facts *f);
  /* This format's stream events -> OpenAI chunks (NULL ops: they are OpenAI chunks). in_feed takes
   * one whole event (its "event:" name or NULL, its data); in_finish writes the end of a stream
   * whose format has no [DONE] (0), or -1 when it was cut; NULL when its end is an event. in_facts
   * copies the usage, end and error the converter found into f. */
  void (*in_init)(union format_in_state *st, const char *model, int64_t created);
  int (*in_feed)(union format_in_state *st, const char *event, const char *data, size_t len,
                 struct buf *out, char *err, size_t errlen);
  int (*in_finish)(union format_in_state *st, struct buf *out);
  void (*in_facts)(const union format_in_state *st, struct format_facts *f);
  /* One parsed event of this format relayed as it is: usage, text, end and error into f. */
  void (*scan_event)(const cJSON *ev, struct format_facts *f);

  /* ---- a channel with a transport of its own (Bedrock: bedrock.h); NULL for the others ---- */

  /* The headers of one request of body to url: base (the channel's) plus its signature, made with
   * the channel's key and region (its other.region, or NULL) at now (Unix seconds). A new list
   * (caller frees with curl_slist_free_all), or NULL with err (a key of the wrong shape). */
  struct curl_slist *(*sign)(const struct curl_slist *base, const char *key, const char *region, const char *url,
                             const char *body, size_t len, int64_t now, char *err, size_t errlen);
  /* A stream in a binary framing: moves the whole frames at the front of in out of it, appended to
   * out as this format's SSE events. 0, or -1 with *why (a static phrase: "it sent ...") on a bad
   * frame: the stream cannot go on. */
  int (*unframe)(struct buf *in, struct buf *out, const char **why);
};

struct format {
  const char *name;                 /* "openai", "anthropic", "gemini", "responses" */
  const struct format_ops *ops;
  enum reasoning_format reasoning;  /* how a reasoning suffix is written in its requests */
  const char *end_event;            /* its stream's end, as health details name it */
  const char *unended;              /* why a stream of it is incomplete, for the error event */
  const char *request_id_header;    /* a second request-id header its SDKs read, or NULL */
  const char *key_header;           /* where its clients send the key besides Authorization and
                                     * x-api-key, or NULL */
  const char *key_query;            /* ... or in the query string, or NULL */
  const char *path_usage;           /* its client paths, for a 404 when parse_path refuses one */
  const char *const *pass_headers;  /* client header fields passed to a channel of the same format
                                     * (replacing the channel's own), NULL-terminated, or NULL */
  const char *models_head, *models_tail;   /* its model listing around the model_entry objects */
  const char *model_prefix;         /* its resource names' prefix ("models/": /v1beta/models/models/M
                                     * names M too), or NULL */
  const char *count_tokens_key;     /* its token count answer {"KEY":N} (count_tokens), or NULL */
  bool stream_json_array;           /* its streams are a JSON array unless the query has alt=sse
                                     * (Gemini's streamGenerateContent; jsonarray.h) */
  const struct format *native_for;  /* a transport of another format's bodies and events (Bedrock:
                                     * Anthropic's): a client of that format talks through it
                                     * unconverted, as with the format itself; or NULL */
  bool dialect;                     /* a client-side dialect of the format of the same name, whose
                                     * channels take it unconverted (Gemini's embedContent and
                                     * batchEmbedContents) */
};

/* Whether a client of format client and a channel of format upstream talk unconverted: the same
 * format, a transport of it (native_for: Bedrock for Anthropic clients), or Gemini's embeddings
 * formats and a Gemini channel (dialect). */
bool format_native(const struct format *client, const struct format *upstream);

/* ---- the one event path of a stream ---- */

struct format_stream {
  const struct format *client, *upstream;
  bool native;                 /* the same format at both ends: events pass as they come */
  bool client_wants_usage;     /* the client asked for the usage chunk (OpenAI) */
  bool done;                   /* the common form's end ([DONE]) went by */
  bool out_used;               /* out holds a client converter (freed by format_stream_free) */
  union format_in_state in;
  /* the client converter's state (5.5 KB: Gemini's pending calls), allocated by format_stream_init
   * only where the client's format converts, so a native stream's request carries none; owned,
   * freed by format_stream_free; NULL when not converting or out of memory (the events then fail) */
  union format_out_state *out;
  struct buf converted;        /* OpenAI chunks made from one upstream event (owned) */
  struct format_facts f;       /* found in the upstream's events */
  struct sse_reader rd;        /* the upstream's stream read by the standard (owned when rd_on) */
  bool rd_on;
  bool ev_has;                 /* the block being read dispatched an event: its data and type */
  const char *ev_data;         /* (point into rd, valid while that block is handled) */
  size_t ev_dlen;
  char ev_type[64];            /* "" when it had none ("message") or a longer one */
  struct buf framed;           /* a framed stream's bytes short of a whole frame (owned; unframe) */
};

/* Zeroes s but for the upstream converter's state (in), which only in_init sets up: to
 * format_stream_free, format_stream_init and format_stream_block the same as a zeroed s. */
void format_stream_clear(struct format_stream *s);
/* Starts the path of one upstream attempt (an earlier attempt's state is freed first when s was
 * used: s must be zeroed once before its first init). model is the name the client asked for. */
void format_stream_init(struct format_stream *s, const struct format *client, const struct format *upstream,
                        const char *model, int64_t prompt_estimate, bool client_wants_usage, int64_t created);
/* One whole SSE event of the upstream (its key already redacted): relayed, or converted, into out.
 * 0, or FORMAT_BAD / FORMAT_FULL with err when it was dropped (it could not be read or
 * converted / out is full); the stream goes on. */
int format_stream_event(struct format_stream *s, const char *ev, size_t evlen, struct buf *out, char *err,
                        size_t errlen);
/* The upstream's body ended (ok: completely). Writes what closes the client's stream when the
 * upstream's end came and returns NULL; or returns why it is incomplete ("no [DONE] event.", ...):
 * the caller then sends an error event (with its own reason when !ok). NULL too when the upstream's
 * own error event already reached the client: nothing may follow it. */
const char *format_stream_end(struct format_stream *s, bool ok, struct buf *out);
/* Did the upstream's stream end as its format ends one (no error event)? */
bool format_stream_complete(const struct format_stream *s);
/* Reads one upstream block through s's SSE reader (the standard's rules: CR, LF or CRLF line ends,
 * data lines joined with LF): 0 with its data (pointing into s, valid until the next block), or
 * -1 when the block dispatched no event (a comment, a keep-alive). Every block of the stream must
 * pass here in order (format_stream_event does; a stream relayed outside it, the Responses API's,
 * calls it itself). Works on a zeroed s too. */
int format_stream_block(struct format_stream *s, const char *ev, size_t evlen, const char **data, size_t *dlen);
void format_stream_free(struct format_stream *s);
/* A piece of the upstream's stream body appended to sse as SSE text: as it is, or, for a format
 * with a binary framing (ops->unframe), its whole frames as events (the rest kept in s until its
 * frame is whole). 0, or -1 with *why, a static phrase ("it sent ..."): a bad frame, or more than
 * an event's worth pending. */
int format_stream_bytes(struct format_stream *s, const char *p, size_t n, struct buf *sse, const char **why);

/* ---- helpers for the formats ---- */

/* The body parsed as a JSON object (caller deletes), or NULL with "The request body must be a JSON
 * object." in err. */
cJSON *format_parse_object(const char *body, size_t len, char *err, size_t errlen);
/* A whole answer's facts: usage from root[usage_key] read by read (when an object), text from
 * root[text_key] (with f->text_if_no_usage, only when that usage is missing or unusable). */
void format_read_answer(const cJSON *root, const char *usage_key, void (*read)(const cJSON *, struct usage *),
                        const char *text_key, struct format_facts *f);
/* Counts the model-made text under node into f: characters, and tokens when f->tokens is set. */
void format_count_text(struct format_facts *f, const cJSON *node);
/* Appends s (when not NULL) to b and frees it. */
void format_append_owned(struct buf *b, char *s);
/* Reads one parsed OpenAI chunk (the common form's) into f: text, an error, and the usage when
 * read_usage. Returns true when it is the usage-only chunk (usage and no choices). */
bool format_scan_chunk(const cJSON *j, struct format_facts *f, bool read_usage);

#endif
