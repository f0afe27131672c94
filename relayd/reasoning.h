/*
 * reasoning: model-name suffixes that ask for a reasoning setting, as New API reads them, and the
 * request fields they become in each upstream format. Pure functions.
 *   -low | -medium | -high        reasoning effort: OpenAI "reasoning_effort"; Anthropic a thinking
 *                                 budget of 20 / 50 / 80 % of max_tokens; Gemini thinkingLevel
 *   -thinking                     Anthropic thinking {type: enabled, budget_tokens 80 % of
 *                                 max_tokens}; Gemini thinkingConfig {includeThoughts: true,
 *                                 thinkingBudget 60 % of maxOutputTokens when set}
 *   -thinking-N                   the same with a budget of N tokens
 *   -nothinking                   Anthropic thinking {type: disabled}; Gemini thinkingBudget 0
 * The client's own reasoning parameters travel the same way (reasoning_from_request): each client
 * format's are written as OpenAI "reasoning_effort" in the common form (claude_client.c,
 * gemini_client.c: a budget becomes an effort by reasoning_effort_of_budget), and a channel of
 * another format reads that effort back as an RS_EFFORT (or RS_NOTHINKING for "none") and writes
 * it as above. The tables:
 *   budget -> effort        0: none; 1..1024: low; 1025..8192 or -1 (dynamic): medium; more: high
 *                           (Gemini's own reasoning_effort <-> thinkingBudget points, see below)
 *   effort -> Anthropic     low / medium / high: 20 / 50 / 80 % of max_tokens (at least 1024);
 *                           none: thinking disabled; minimal counts as low, xhigh and max as high
 *   effort -> Gemini 2.5    thinkingBudget 1024 / 8192 / 24576 (Google's OpenAI-compatible endpoint's
 *                           own mapping, ai.google.dev/gemini-api/docs/openai#thinking); none: 0
 *   effort -> Gemini 3      thinkingLevel "low" for low, "high" for medium and high (Gemini 3 Pro
 *                           takes only those, ai.google.dev/gemini-api/docs/gemini-3); none: "low"
 *                           (Gemini 3 Pro cannot turn thinking off)
 * A model whose version is unknown (reasoning_apply without a model) gets the 2.5 form: Gemini 3
 * accepts thinkingBudget too, 2.5 refuses thinkingLevel.
 * Which channel formats read which suffix: openai/azure only the effort suffixes (a "-thinking"
 * model name there is a real upstream name and is left alone); anthropic and gemini all of them.
 * A suffix a channel reads is stripped from the upstream model name; routing, pricing and logging
 * keep the name the client sent (relay.c falls back to the base name when the full one has no
 * route or price).
 * Callers: relay.c, tests. Never: allocates beyond cJSON nodes it adds, touches sockets or state.
 */
#ifndef RELAY_REASONING_H
#define RELAY_REASONING_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum reasoning_kind { RS_NONE, RS_EFFORT, RS_THINKING, RS_NOTHINKING };

/* The upstream formats a suffix is expressed in. */
enum reasoning_format { RS_FMT_OPENAI, RS_FMT_CLAUDE, RS_FMT_GEMINI };

#define REASONING_MIN_CLAUDE_BUDGET 1024   /* Anthropic's smallest budget_tokens */
#define REASONING_MAX_BUDGET 1000000       /* a larger -thinking-N is not a budget */

struct reasoning {
  enum reasoning_kind kind;
  const char *effort;   /* RS_EFFORT: "low", "medium" or "high" (static) */
  int64_t budget;       /* RS_THINKING: tokens, or -1 for the default share of max tokens */
  size_t base_len;      /* length of the model name without the suffix */
};

/* Reads the suffix of model into rs (kind RS_NONE and base_len = strlen(model) when none). A base
 * must remain: "-high" alone is no suffix. Returns true when a suffix was found. */
bool reasoning_parse(const char *model, struct reasoning *rs);

/* Does a channel of format fmt read this kind of suffix? */
bool reasoning_applies(const struct reasoning *rs, enum reasoning_format fmt);

/* Writes rs into a request body of format fmt (an object; OpenAI chat, Anthropic Messages or
 * Gemini generateContent), replacing the fields it sets. Does nothing when the suffix does not
 * apply to fmt. OpenAI: reasoning_effort, and max_tokens renamed max_completion_tokens (reasoning
 * models take only that). Anthropic: thinking, max_tokens raised above the budget when needed,
 * temperature/top_p/top_k removed (thinking refuses them). Gemini: generationConfig.thinkingConfig. */
void reasoning_apply(cJSON *req, enum reasoning_format fmt, const struct reasoning *rs);
/* The same for the named upstream model (Gemini: 2.5 and older take thinkingBudget, 3 and later
 * thinkingLevel). model may be NULL (unknown: the 2.5 form). */
void reasoning_apply_model(cJSON *req, enum reasoning_format fmt, const struct reasoning *rs,
                           const char *model);

/* An effort name ("minimal", "low", "medium", "high", "xhigh", "max", "none", any case) as a
 * reasoning setting: RS_EFFORT with the static low/medium/high, or RS_NOTHINKING. False (rs kind
 * RS_NONE) for anything else. */
bool reasoning_from_effort(const char *effort, struct reasoning *rs);
/* The common form's "reasoning_effort" of an OpenAI chat request as a reasoning setting. */
bool reasoning_from_request(const cJSON *oai_req, struct reasoning *rs);
/* A thinking budget in tokens (-1: dynamic) as an effort name (static), by the table above. */
const char *reasoning_effort_of_budget(int64_t budget);
/* Is model a Gemini 3 (or later) model, which takes thinkingLevel? */
bool reasoning_gemini_levels(const char *model);

#endif
