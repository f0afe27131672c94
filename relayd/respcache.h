/*
 * respcache: the exact-match response cache (issue #25). An answer relayd gave in full (2xx, a
 * stream that reached its format's end) is kept in memory, process-wide, and replayed to a later
 * request that asks exactly the same thing: the same group, endpoint, client format, stream form
 * and canonical body. Opt-in: the token (tokens.response_cache), the model (option
 * response_cache_models) or the request (header x-relay-cache: force); x-relay-cache: no-store
 * keeps a request out of it (neither read nor stored).
 *   Key: SHA-256 over the group, the endpoint (path and suffix), the client format, the stream form
 *     (SSE, Gemini's JSON array, or whole) and the parsed body canonicalized (every object's keys
 *     sorted, printed compact: spacing and key order do not matter) without the top-level fields
 *     that name the caller but do not change the answer: stream (its form is in the key), user,
 *     safety_identifier, prompt_cache_key, metadata. Every other field (messages, model,
 *     temperature, seed, tools, n, max_tokens, stream_options, ...) is part of the key.
 *   What is kept: the bytes the client received (so a hit replays them in the client's own format,
 *     a stream as its events), their Content-Type, and the usage the answer was billed with. Never
 *     an error, a media endpoint's answer, or a stream that ended early (client gone, timeout, an
 *     error event, no end event).
 *   Bounds: option response_cache_mb (the bytes of all entries, with their overhead; the least
 *     recently used go first; 0 = no cache), one entry at most 1/8 of it, option
 *     response_cache_ttl_s; a flood of distinct requests only evicts.
 *   Billing: a hit is settled like any answer, at response_cache_hit_percent of what the stored
 *     usage costs at today's price (default 0: free), its log row usage_source "cache" and its
 *     breakdown "cache_hit": true; it makes no upstream call and holds no channel.
 * Not shared between nodes: each relayd has its own cache (doc/design.md "Response cache").
 * Callers: admit.c (respcache_begin, respcache_hit before the first attempt), respond.c (the
 *   x-relay-cache header; a whole answer stored), stream.c (a stream's bytes captured, stored at its
 *   end), settle.c (a hit's charge), reqpool.c (respcache_request_free), main.c (respcache_clear).
 * Never: keeps a pointer into a request, stores what did not reach the client whole, or grows past
 *   its bound.
 */
#ifndef RELAY_RESPCACHE_H
#define RELAY_RESPCACHE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct request;

/* Whether r takes part (opt-in, x-relay-cache, the cache on, a text endpoint); if so its key is
 * made (r->rc_on). A request that does not take part costs one header lookup and a list check. */
void respcache_begin(struct request *r);
/* r's answer from the cache: a response ready to queue (r marked as a hit, its usage the stored
 * one; the caller settles and queues it), or NULL on a miss. */
struct MHD_Response *respcache_hit(struct request *r);
/* The x-relay-cache header of an answer to r that takes part: hit or miss. */
void respcache_header(const struct request *r, struct MHD_Response *resp);
/* A whole 2xx answer of r, as the client gets it: stored when r takes part. */
void respcache_store_whole(struct request *r, const char *data, size_t len);
/* Stream bytes of r as they go to the client (kept while under the entry bound). */
void respcache_capture(struct request *r, const char *data, size_t len);
/* r's stream ended; complete: it reached its end with nothing cut. Stores what was captured. */
void respcache_stream_end(struct request *r, bool complete);
/* What a hit costs: full (the stored usage at today's price) x response_cache_hit_percent. */
int64_t respcache_charge(const struct request *r, int64_t full);
/* Frees r's capture buffer (request_free). */
void respcache_request_free(struct request *r);
/* Drops every entry (relayd's exit). */
void respcache_clear(void);
/* Entries and bytes held now (admin status, tests). */
void respcache_stats(size_t *entries, size_t *bytes);

#endif
