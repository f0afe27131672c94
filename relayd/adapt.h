/*
 * adapt: helpers shared by the format adapters (claude.c, gemini.c): typed reads of untrusted JSON,
 *   error strings, OpenAI message/content parsing (text, parts, images, max_tokens, numbers, stop
 *   lists), tool-call arguments, OpenAI messages, responses and usage built and read, and OpenAI
 *   stream chunks (SSE "data:" lines) written into a buffer. Pure functions, as the adapters are.
 * Callers: the adapters only.
 * Never: touches sockets, balances or the snapshot.
 */
#ifndef RELAY_ADAPT_H
#define RELAY_ADAPT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "reasoning.h"
#include "util.h"

/* printf into err (when err and errlen are set). */
void adapt_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* o[name] (NULL when o is not an object or has no such member). */
const cJSON *adapt_jget(const cJSON *o, const char *name);

/* o[camel], else o[snake]: Gemini's REST API accepts both spellings. */
const cJSON *adapt_jget2(const cJSON *o, const char *camel, const char *snake);

/* A text item: {"type": type, "text": text} (Anthropic's text block), or {"text": text} when type
 * is NULL (Gemini's text part). */
cJSON *adapt_text_item(const char *type, const char *text);

/* req[name] when req is an object and req[name] a non-empty array; else NULL with "the request body
 * must be a JSON object" or bad (the caller's wording) in err. */
const cJSON *adapt_list(const cJSON *req, const char *name, const char *bad, char *err, size_t errlen);

/* o[name] when it is a string, else NULL. */
const char *adapt_jstr(const cJSON *o, const char *name);

/* Prints root unformatted and deletes it; NULL with "out of memory" in err. */
char *adapt_print_or_err(cJSON *root, char *err, size_t errlen);

/* Truncates out back to mark. */
void adapt_restore(struct buf *out, size_t mark);

/* root.error.message, or root.error when a string, or NULL. */
const char *adapt_error_message(const cJSON *root);

/* req[name] as a positive integer into *out; absent/null leaves *out; -1 with err otherwise. */
int adapt_read_max_tokens(const cJSON *req, const char *name, int64_t *out, char *err,
                          size_t errlen);

/* from[name] (a number) copied to to[as]; absent/null is fine; -1 with err otherwise. */
int adapt_copy_number(const cJSON *from, const char *name, cJSON *to, const char *as, char *err,
                      size_t errlen);

/* from[name] (a boolean) copied to to[as]; absent/null is fine; -1 with err otherwise. */
int adapt_copy_bool(const cJSON *from, const char *name, cJSON *to, const char *as, char *err,
                    size_t errlen);

/* list (an array of strings, named name in errors) copied to to[as], each upper- or lower-cased
 * (Gemini's TEXT/IMAGE vs OpenAI's text/image); absent/null is fine; -1 with err otherwise. */
int adapt_copy_modalities(const cJSON *list, const char *name, cJSON *to, const char *as, bool upper,
                          char *err, size_t errlen);

/* stop (string or array of strings) -> a new array of strings in *out (NULL when absent), or -1
 * with err. */
int adapt_stop_list(const cJSON *stop, const char *name, cJSON **out, char *err, size_t errlen);

/* Adds items (an array) as a message {"role": role, key: items} to msgs, merged into the last
 * message when it has the same role. Takes ownership of items. */
void adapt_push_message(cJSON *msgs, const char *role, const char *key, cJSON *items);

/* An OpenAI "usage" object -> u (cached capped at prompt; a count that is not one sets u->bad). */
void adapt_oai_usage(const cJSON *usage, struct usage *u);

/* Characters of model-made text under node (content, text, reasoning, tool arguments, thinking, in
 * any format; strings only, never bytes matched): relay's own count when an upstream gives no usage. */
size_t adapt_text_chars(const cJSON *node);
/* Calls fn for each string of model-produced text under node (the strings adapt_text_chars
 * counts), e.g. for relayd/tokenizer.h's running count. */
void adapt_text_each(const cJSON *node, void (*fn)(const char *s, size_t n, void *ctx), void *ctx);

/* Adds an OpenAI "usage" object built from u to o. */
void adapt_add_oai_usage(cJSON *o, const struct usage *u);

/* data: {"id":..,"object":"chat.completion.chunk","created":..,"model":.. (left open) */
int adapt_chunk_head(struct buf *o, const char *id, const char *model, int64_t created);

/* Closes a chunk opened with ..."delta":{ : finish is the finish_reason or NULL. */
int adapt_chunk_close(struct buf *o, const char *finish);

/* data: {... ,"choices":[{"index":0,"delta":{ (left open for adapt_chunk_close) */
int adapt_chunk_open(struct buf *o, const char *id, const char *model, int64_t created);

/* A whole chunk whose delta is {key: val}. */
int adapt_delta_string(struct buf *o, const char *id, const char *model, int64_t created,
                       const char *key, const char *val);

/* A usage-only chunk (choices empty) for stream_options.include_usage. */
int adapt_usage_chunk(struct buf *o, const char *id, const char *model, int64_t created,
                      const struct usage *u);

/* An OpenAI image_url part: 0 for a base64 data URL (media type into mt, *data after "base64,"),
 * 1 for an http(s) URL (*url), -1 with err otherwise. */
int adapt_image_url(const cJSON *part, char *mt, size_t mtlen, const char **data,
                    const char **url, char *err, size_t errlen, const char *where);

/* Appends the items of an OpenAI user/assistant content (string or text/image_url parts) to items,
 * made by text_item and image_item (NULL with err on a bad part). */
int adapt_content_items(const cJSON *c, cJSON *items, cJSON *(*text_item)(const char *),
                        cJSON *(*image_item)(const cJSON *, char *, size_t, const char *),
                        char *err, size_t errlen, const char *where);

/* Tool-call arguments text -> a new JSON object ({} when absent or not an object). */
cJSON *adapt_args_object(const char *args);

/* Appends an OpenAI tool call {id, type: function, function: {name, arguments}} to calls
 * (name "" and arguments "{}" when NULL). */
void adapt_add_oai_call(cJSON *calls, const char *id, const char *name, const char *args);

/* An OpenAI chat.completion (JSON text, or NULL with err) with one assistant choice: content from
 * text (null when empty and has_calls), reasoning_content from think, calls (owned: added when
 * has_calls, else deleted), finish_reason finish, and usage from u. */
char *adapt_oai_completion(const char *id, int64_t created, const char *model,
                           const struct buf *text, const struct buf *think, cJSON *calls,
                           bool has_calls, const char *finish, const struct usage *u, char *err,
                           size_t errlen);
/* The same, with the message's reasoning_details (owned: added when it has items, else deleted;
 * may be NULL). */
char *adapt_oai_completion_details(const char *id, int64_t created, const char *model, const struct buf *text,
                                   const struct buf *think, cJSON *calls, bool has_calls, cJSON *details,
                                   const char *finish, const struct usage *u, char *err, size_t errlen);

/* ---- signatures across formats (doc/design.md "Signatures across formats") ---- */
#define ADAPT_SIG_ANTHROPIC "anthropic-claude-v1"   /* reasoning_details "format" of each provider */
#define ADAPT_SIG_GEMINI "google-gemini-v1"
#define ADAPT_SIG_REDACTED "redacted_thinking:"     /* Gemini clients: a redacted block's thoughtSignature */

/* Sets an OpenAI tool call's extra_content.google.thought_signature (Google's OpenAI-compatible
 * field for a Gemini functionCall's thoughtSignature). */
void adapt_set_call_signature(cJSON *call, const char *sig);
/* That field of an OpenAI tool call (whole or a stream delta), or NULL. */
const char *adapt_call_signature(const cJSON *call);
/* Appends one reasoning_details item to details: {"type":"reasoning.text","text","signature",
 * "format","index"} when data is NULL (text may be NULL: ""), else the redacted form
 * {"type":"reasoning.encrypted","data","format","index"}. index: its place in details. */
cJSON *adapt_add_reasoning_detail(cJSON *details, const char *text, const char *sig, const char *data,
                                  const char *format);
/* A whole chunk whose delta is {"reasoning_details":[detail]} (detail printed as it is). */
int adapt_delta_detail(struct buf *o, const char *id, const char *model, int64_t created, const cJSON *detail);

/* memsets u and parses an upstream response body: the root object, or NULL with err. */
cJSON *adapt_parse_response(const char *body, size_t len, struct usage *u, char *err,
                            size_t errlen);

/* "upstream error: MESSAGE" (adapt_error_message of root) into err; deletes root; returns NULL. */
void *adapt_upstream_error(cJSON *root, char *err, size_t errlen);

/* Truncates out back to mark with "the client buffer is full" in err; returns -1. */
int adapt_buffer_full(struct buf *out, size_t mark, char *err, size_t errlen);

/* Parses an OpenAI chat response: its choices[0].message (in *root, which the caller deletes) with
 * usage read into u, or NULL with err (and *root NULL) when not a response or an error. */
const cJSON *adapt_oai_response(const char *body, size_t len, struct usage *u, cJSON **root,
                                char *err, size_t errlen);

/* What an OpenAI chunk carries for a client converter: its usage read into u (and *have_usage set)
 * when it has one, its first choice in *choice, and that choice's delta when an object (else NULL). */
const cJSON *adapt_chunk_read(const cJSON *ev, struct usage *u, bool *have_usage, const cJSON **choice);

/* An OpenAI message's reasoning_content (or reasoning), or NULL. */
const char *adapt_oai_reasoning(const cJSON *msg);

/* Appends an OpenAI assistant message from text and *calls (taken, *calls set NULL) to omsgs,
 * unless both are empty. */
void adapt_push_assistant(cJSON *omsgs, const struct buf *text, cJSON **calls);

/* Appends an OpenAI user message with *parts to omsgs unless empty: a lone text part as a string
 * content, else the parts (taken, *parts set NULL). */
void adapt_push_user(cJSON *omsgs, cJSON **parts);

/* Ends the conversion of one Anthropic or Gemini message: when ok, appends it to omsgs (an
 * assistant message from text and calls, else a user message from parts); then frees text, parts
 * and calls. Returns 0 when ok, else -1. */
int adapt_end_message(cJSON *omsgs, bool ok, bool assistant, struct buf *text, cJSON *parts, cJSON *calls);

/* Appends an OpenAI system message with sys's text to omsgs unless sys is empty. */
void adapt_push_system(cJSON *omsgs, const struct buf *sys);

/* Appends an OpenAI function tool {type: function, function: {name, description}} to tools;
 * returns its "function" object (for parameters). */
cJSON *adapt_add_oai_tool(cJSON *tools, const char *name, const char *desc);

/* Appends t to b, after sep when b and t are both non-empty. */
int adapt_append_text(struct buf *b, const char *sep, const char *t);

/* Appends the text of an OpenAI content (a string, or an array of text parts, and of strings too
 * when string_parts) to b, sep between pieces. */
int adapt_content_text(const cJSON *c, struct buf *b, const char *sep, bool string_parts,
                       char *err, size_t errlen, const char *where);

/* An error body written by error_json, as a new string (NULL when too large). */
char *adapt_error_body(int (*error_json)(struct buf *, int, const char *), int status,
                       const char *message);

/* An in-band error event head + error_json + tail appended to out, all or nothing (-1). */
int adapt_error_event(struct buf *out, const char *head, const char *tail,
                      int (*error_json)(struct buf *, int, const char *), int status,
                      const char *message);

/* Feeds the data of one OpenAI SSE event to chunk (st's converter): NULL for "[DONE]", else the
 * parsed chunk (an object; anything else is -1 with err). Nothing when done (the converter
 * finished or failed): 0. */
int adapt_feed_openai(void *st, bool done, const char *data, size_t len,
                      int (*chunk)(void *st, const cJSON *chunk, struct buf *out, char *err, size_t errlen),
                      struct buf *out, char *err, size_t errlen);

/* Ends st's client stream when its upstream was cut after the end reason came: 0 and nothing when
 * done (finished or failed) already; -1 and nothing when no end reason came (have_end false);
 * else tail(st, out), all or nothing: 0 with *finished set, or -1 (out restored). */
int adapt_finish(void *st, bool done, bool have_end, int (*tail)(void *st, struct buf *out), struct buf *out,
                 bool *finished);

/* Parses an upstream stream event ("event", "frame", "chunk" in err), NULL with err when it is
 * not a JSON object. */
cJSON *adapt_parse_event(const char *data, size_t len, const char *what, char *err, size_t errlen);

/* "the upstream response is too large": frees text, think, calls and root; returns NULL. */
char *adapt_too_large(struct buf *text, struct buf *think, cJSON *calls, cJSON *root, char *err,
                      size_t errlen);

/* Writes a reasoning suffix into a converted upstream body *body (format fmt): parsed, changed and
 * printed again (*body replaced); it stays as it was if that fails. Only suffixed requests pay. */
void adapt_rewrite(char **body, enum reasoning_format fmt, const struct reasoning *rs);

#endif
