/*
 * vertex: relayd's side of Google Vertex AI channels (type "vertex", common/vertexapi.h): the
 *   service-account key of each channel (parsed once per key), its access token cache, the thread
 *   that keeps the tokens fresh, and the request of one attempt or probe (URL, Claude's body fix-up,
 *   the Authorization header).
 * Tokens: a thread of its own fetches a channel's token (common/gcpauth.h: JWT signed RS256,
 *   exchanged at the key's token_uri) as soon as a snapshot names the channel, and again before it
 *   expires (when a third of its lifetime, at most 5 minutes, is left); a failed fetch is tried
 *   again after 1 s, doubling up to 60 s. A worker only copies the cached token under a short lock:
 *   without one the attempt ends at once as if the upstream had answered with the reason, so it
 *   fails over (attempt.c): 401 when the key was refused (the channel's authentication failure,
 *   health.h), 502 when the token endpoint failed (a failure of the channel), 503 while the first
 *   fetch is under way (no outcome for the channel: a burst of requests at start-up must not
 *   disable it).
 * The state of a channel outlives snapshots (keyed by channel id, like chanstate.h); a reload with
 *   a new key (or project, region) replaces it and drops the old token.
 * Callers: snapshot.c (vertex_load, admin thread; vertex_unload), attempt.c (vertex_attempt, workers),
 *   monitor.c (vertex_probe), main.c (start, stop, free).
 * Never: calls the token endpoint from a worker, logs a key or a token, or holds its lock across I/O.
 */
#ifndef RELAY_VERTEX_H
#define RELAY_VERTEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct curl_slist;
struct vertex_chan;

/* The state of channel id for its key (the service-account JSON) and other (its region and project):
 * created or updated, and counted as named by one more snapshot (active: with the channel not
 * disabled by an administrator: its token is kept fresh); never NULL (a key that cannot be read is
 * kept as the reason every attempt fails). Admin thread only (snapshot loads). vertex_unload drops
 * the count when that snapshot is freed (any thread). */
struct vertex_chan *vertex_load(int64_t channel_id, const char *key, const char *other, bool active);
void vertex_unload(struct vertex_chan *v, bool active);

/* One attempt's request to model (the channel's upstream name) on base: the URL into url; *body
 * replaced by Claude's fix-up of *body (or of plain when *body is NULL) for an anthropic model;
 * *headers a new list: chan plus the Authorization header (caller frees with curl_slist_free_all).
 * Returns 0; -1 with err when the request cannot go there (a model name unfit for the URL); or, with
 * the reason in err, 401 (the key was refused, or cannot be read), 502 (the last fetch failed) or
 * 503 (the first fetch is under way: nothing is known against the channel yet). */
int vertex_attempt(struct vertex_chan *v, const char *base, const struct curl_slist *chan, const char *model,
                   bool stream, char **body, size_t *len, const char *plain, size_t plain_len, char *url,
                   size_t urllen, struct curl_slist **headers, char *err, size_t errlen);

/* A channel test's request to model (a 5-token "hi" in the publisher's shape): url, *body
 * (cJSON_free) and *headers (curl_slist_free_all); returns as vertex_attempt. */
int vertex_probe(struct vertex_chan *v, const char *base, const struct curl_slist *chan, const char *model,
                 char *url, size_t urllen, char **body, struct curl_slist **headers, char *err, size_t errlen);

/* The refresher thread (after the first snapshot is published) and its end; vertex_free_all after
 * the last snapshot is gone. */
int vertex_start(char *err, size_t errlen);
void vertex_stop(void);
void vertex_free_all(void);

#endif
