/*
 * health: the live state of each channel (open upstream requests, consecutive failures, circuit
 * breaker, latency average, auto-disable) and the rules that change it.
 *
 * The states (struct chan_health) live in chanstate.h's process-wide table keyed by channel id that
 * survives reloads; a snapshot's channels point at theirs (chanstate_of() at load). Workers read and change them with atomics only.
 *   - Concurrency: health_acquire() admits a request on a channel only while in_flight is below
 *     max_concurrency (a CAS, exact per node); health_release() ends it.
 *   - Failures (connect errors, timeouts, 5xx, 429, a stream that ended without its format's own
 *     end or with an error event) count consecutively; a success (2xx, and for a stream its end:
 *     Anthropic message_stop, Gemini finishReason, OpenAI [DONE], Responses response.completed)
 *     or an answered client error (other 4xx) resets the count. breaker_failures in a row open the
 *     breaker for breaker_open_s: the channel is skipped; then one request at a time may try it
 *     (half-open); success closes it, failure opens it again.
 *   - Auto-disable (channels with auto_disable = 1, option channel_auto_disable on): at once on an
 *     authentication or account error, and after channel_disable_failures failures in a row. An
 *     account error is HTTP 401/402/403, or an answer whose error identifiers say so (type, code,
 *     google.rpc status or ErrorInfo reason: insufficient_quota, API_KEY_INVALID, billing_error,
 *     ... and the channel_disable_keywords, compared whole), or Anthropic's no-credit 400 as its
 *     whole message. Never the free text of a message, which may quote the client's request: a
 *     client cannot disable a channel for everyone (doc/design.md, "Channel health").
 *     The worker marks the channel at once (it stops being chosen) and hands the status change
 *     (channels.status = 3, status_reason) to the writer, which asks for a reload after committing.
 *   - Latency: an exponentially weighted moving average (alpha 0.3) of the time to the first
 *     byte of the upstream's answer (headers and first data; for a non-streaming answer that is
 *     nearly all of it) on successful requests and channel tests; routing = latency picks the
 *     lowest inside a priority tier.
 * Callers: relay's stages (route.c, attempt.c, stream.c: routing, outcomes, the
 * stream events and answers it hands on), monitor.c (tests, re-enable), admin.c (stats,
 * channel_test), writer.c (the flag after a commit). Never: blocks a worker, touches
 * the database (the writer does), reads an error message's free text as an account error.
 */
#ifndef RELAY_HEALTH_H
#define RELAY_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chanstate.h"

struct snap_channel;
struct snap_options;

/* enum health_outcome (OUTCOME_OK ... OUTCOME_ABANDON) is chanstate.h's. */

enum health_pick { PICK_OK, PICK_BUSY, PICK_OPEN, PICK_DISABLED };

/* Whether c may be chosen now (no side effect). */
enum health_pick health_check(const struct snap_channel *c, int64_t now_ms);
/* Takes a slot on c (and the half-open trial when the breaker is half-open). false: lost a race,
 * choose again. */
bool health_acquire(const struct snap_channel *c, int64_t now_ms, bool *trial);
/* Ends what health_acquire took and applies the outcome. ttfb_ms < 0: no latency sample. detail
 * is a short description for the disable reason (upstream status and message). */
void health_release(const struct snap_channel *c, const struct snap_options *o, bool trial,
                    enum health_outcome out, double ttfb_ms, const char *detail);
/* Records a latency sample. */
void health_latency(struct chan_health *h, double ms);
double health_ewma_ms(const struct chan_health *h);
/* ms until the breaker lets a trial through, 0 when it is closed or half-open. */
int64_t health_open_for_ms(const struct chan_health *h, int64_t now_ms);

/* The outcome of an upstream answer: status (0 = no answer), its error body, and the keywords of
 * option channel_disable_keywords (comma list, may be NULL; each compared whole, case-insensitively,
 * with the error's type, code, status and details[].reason, never with its message). */
enum health_outcome health_classify(long status, const char *body, size_t len, const char *keywords);

/* One whole SSE event of a 2xx stream, as the upstream sent it (any format): OUTCOME_OK when it is
 * no error event, else what its error says (OUTCOME_ACCOUNT by the rules above, OUTCOME_CLIENT for
 * invalid_request_error / INVALID_ARGUMENT, else OUTCOME_FAIL), with a short description in detail.
 * Parses only events that can be errors. */
enum health_outcome health_stream_event(const char *ev, size_t evlen, const char *keywords, char *detail,
                                        size_t dn);

/* Replaces the channel key in text[0..len) (secret_redact; cheap when absent). Returns the new
 * length. Everything an upstream sends that can reach a client or a log passes through it. */
size_t health_redact(char *text, size_t len, const char *key);

/* Marks c auto-disabled and queues the status change for the writer (once). */
void health_auto_disable(const struct snap_channel *c, const char *reason);

#endif
