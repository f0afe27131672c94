/*
 * tokenizer: counts tokens the way OpenAI's models do (byte-level BPE: the encoding's published
 * pre-tokenizer regex, then merges by the published ranks), for requests whose upstream reports no
 * usage. The ranks and the regex are data, never code: o200k_base.json and cl100k_base.json as the
 * npm package "tiktoken" ships them (encoders/NAME.json: pat_str, bpe_ranks), copied by `make
 * tokenizer-data` into $(BUILD)/share/tokenizer and by `make install` into
 * $(DATADIR)/relay/tokenizer; relayd reads them from the directory of the tokenizer_dir key.
 *
 * Encodings: o200k_base for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, o4 and gpt-oss; cl100k_base for
 * gpt-4, gpt-3.5 and the text-embedding models (tiktoken's model.py, MODEL_PREFIX_TO_ENCODING).
 * Any other model, or a missing file: characters/4 (the counter before this module), and the
 * caller is told so (tok_count_source).
 *
 * Bounds for hostile text: the regex runs with PCRE2's JIT and a match limit; a match that passes
 * it (a run of megabytes of whitespace, which one alternative backtracks over) is matched again in
 * 64 KiB windows, and only a window that passes it too is counted as characters/4; the merge is a heap over adjacent
 * pairs, O(n log n) per piece, and a piece longer than TOKENIZER_MAX_PIECE bytes (64 KiB: one "word"
 * of 65536 letters, never in real text) is merged in 64 KiB slices, so memory is bounded by that
 * slice whatever the input (about 3 MB) and time is O(n log n) overall. Such a slice's count may
 * differ from tiktoken's by a token or two at each cut.
 *
 * Callers: main.c (tokenizer_setup at start, tokenizer_teardown at exit), settle.c and format.c
 * (tok_count_* over an answer's text, the prompt when no usage came), attempt.c (a converted
 * stream's announced input), tests. Thread safety: after tokenizer_setup everything here is
 * read-only and may be used by every worker at once. Never: allocates more than the bounds above
 * per call, touches the network, or writes files.
 */
#ifndef RELAY_TOKENIZER_H
#define RELAY_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define TOKENIZER_MAX_PIECE ((size_t)64 * 1024)

struct tokenizer;

/* Loads one encoding from an encoders JSON file of the tiktoken npm package. NULL with err set
 * when the file is missing or not one. The caller owns the result (tokenizer_free). */
struct tokenizer *tokenizer_load(const char *path, const char *name, char *err, size_t errlen);
void tokenizer_free(struct tokenizer *t);
const char *tokenizer_name(const struct tokenizer *t);   /* "o200k_base" */
size_t tokenizer_vocab(const struct tokenizer *t);       /* ranks loaded */

/* Tokens of text[0..len) (as tiktoken's encode_ordinary: special tokens are plain text); t NULL:
 * characters/4 (so tokenizer_count_request(NULL, ...) counts a request's text by characters/4). */
int64_t tokenizer_count(const struct tokenizer *t, const char *text, size_t len);

/* Tokens of the text of a client's request body in any API format (OpenAI chat, completions and
 * Responses, Anthropic Messages, Gemini contents): every string under messages, system, contents,
 * systemInstruction, input, instructions, prompt and tools, except values that are no text to the
 * model (role, type, ids, URLs, base64 data, mime types, signatures). The per-message framing
 * tokens of each API are not counted. -1 when the body is not JSON. */
int64_t tokenizer_count_request(const struct tokenizer *t, const char *body, size_t len);

/* The encoding name a model family uses ("o200k_base", "cl100k_base"), or NULL. */
const char *tokenizer_encoding_for_model(const char *model);

/* Loads every encoding found in dir (once, at start; a second call reloads) and logs once what
 * counts tokens: the encodings loaded, or that characters/4 is used and why. Returns the number of
 * encodings loaded (0: characters/4 only). */
int tokenizer_setup(const char *dir);
void tokenizer_teardown(void);
/* The loaded encoding for a model, or NULL (characters/4). */
const struct tokenizer *tokenizer_for_model(const char *model);

/* A running count over text that arrives in pieces (a stream's deltas): complete pre-tokenizer
 * pieces are counted as they arrive, the unfinished tail is kept (at most TOKENIZER_MAX_PIECE plus
 * one read). Owns its buffer (tok_count_free). */
struct tok_count {
  const struct tokenizer *t;   /* NULL: characters/4 */
  struct buf tail;
  int64_t tokens;
  size_t bytes;                /* every byte added */
  size_t scan_at;              /* the tail is scanned again when it reaches this length */
};
void tok_count_init(struct tok_count *c, const char *model);
void tok_count_add(struct tok_count *c, const char *text, size_t len);
/* The total so far (the tail counted too; more may still be added after). */
int64_t tok_count_total(const struct tok_count *c);
/* Which counter: the encoding's name, or "chars/4". */
const char *tok_count_source(const struct tok_count *c);
void tok_count_free(struct tok_count *c);

#endif
