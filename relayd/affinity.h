/*
 * affinity: keeps the requests of one conversation on one channel (and pool key) so the upstream's
 * prompt cache hits. The affinity key of a request is, first found: the header named by option
 * affinity_header, the body's prompt_cache_key, OpenAI "user", Anthropic metadata.user_id. Per
 * (group, model, key) the table remembers the channel and key that last served it well (an OK or
 * client-error outcome) for affinity_ttl_s seconds, refreshed by each such answer; route.c sends the
 * next request with that key there first while the channel is chosen by health (enabled, breaker
 * closed, below its concurrency), has room under its limits (chanlimit.h) and still serves the
 * route; else the route decides as usual and the entry moves to the channel that serves.
 * Off (one branch per request) while affinity_ttl_s is 0, the default.
 *
 * Bounded: one fixed table of AFFINITY_CAPACITY entries (8-way sets, a mutex per set), allocated on
 * first use; a full set replaces its expired or least recently used entry. A client sending a
 * million distinct keys evicts older entries and never grows memory. Entries keep at most 64 bytes
 * of the key's text (to list and clear it); matching uses a 64-bit hash of the whole key.
 * Callers: route.c (lookup, remember), admin.c (verbs "affinity", "affinity_clear"), metrics.c.
 * Never: blocks beyond one set's mutex, allocates after the first use, or logs a key.
 */
#ifndef RELAY_AFFINITY_H
#define RELAY_AFFINITY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AFFINITY_CAPACITY 4096
/* AFFINITY_TEXT_MAX (the key text a request and an entry keep): request.h */

struct request;
struct cJSON;

/* r's affinity hash (0: r has no affinity key, or affinity is off); stores it in r. */
uint64_t affinity_key_of(struct request *r);
/* The channel and key index remembered for hash h (false: none, or expired). */
bool affinity_lookup(uint64_t h, int64_t *channel_id, int *key_idx);
/* r was served well on channel_id (key_idx, -1 without a pool): remember it for ttl_s. */
void affinity_remember(const struct request *r, int64_t channel_id, int key_idx);

/* Counters: lookups that found a usable channel, and that did not. */
void affinity_count(bool hit);
uint64_t affinity_hits(void);
uint64_t affinity_misses(void);
/* Live entries now. */
size_t affinity_entries(void);

/* The live entries as a JSON array of {key, group, model, channel_id, key_index, expires_in_s,
 * hits}; the caller owns it. */
struct cJSON *affinity_list_json(void);
/* Forgets the entries whose key text is key (NULL: all). Returns how many. */
size_t affinity_clear(const char *key);
/* Frees the table (relayd's exit). */
void affinity_free(void);

#endif
