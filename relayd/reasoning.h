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

#endif
