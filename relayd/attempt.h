/*
 * attempt: one upstream call of a request and the retries after it -- the request made for the
 * chosen channel (its format, model mapping, reasoning suffix, media body and headers, and for a
 * key pool the key keypool.h picks, whose outcome it reports there), the
 * transfer on the worker's curl multi (start_attempt), the bytes as they arrive (whole answer, or
 * cut into events for stream.c), the channel's outcome reported to health, and at the end: the
 * answer handed to respond.c or stream.c, another channel tried (a connect failure, 429 or 5xx
 * before anything reached the client), or the client told why it failed (fail_upstream). Also the
 * upstream timeouts (relay_tick) and giving the easy handle back (detach_upstream).
 * Callers: admit.c (the first attempt), the worker through relay.h (a transfer done, the tick),
 * reqpool.c, front.c and relay.c (detach_upstream). Never: retries once a byte of the answer went
 * to the client, sends the client's key or the channel's key anywhere but to that channel, or
 * blocks.
 */
#ifndef RELAY_ATTEMPT_H
#define RELAY_ATTEMPT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct request;
struct snap_channel;
struct worker;

/* Starts r's call to channel ch (its slot held by route.c); a request ch cannot take ends as if
 * the upstream had refused it with 400. */
void start_attempt(struct request *r, const struct snap_channel *ch);
/* The upstream transfer of r (CURLINFO_PRIVATE) ended with res: answer, retry or fail. */
void relay_on_upstream_done(struct request *r, CURLcode res);
/* Every TICK_MS (worker.c): ends upstream transfers past their first-byte, idle or total timeout. */
void relay_tick(struct worker *w);
/* Takes r off its upstream transfer (the easy handle back to the worker's pool) and gives back a
 * channel slot still held, reporting no outcome. */
void detach_upstream(struct request *r);
/* A client's request of another format than the common one (r->croot) as the common-form request
 * relay converts from (made once, the first time a channel of another format is tried): r->root
 * and r->oai_text. The routing and billing fields (r->rq) stay those read from the client's own
 * body. 0, or -1 with err. */
int openai_view(struct request *r, char *err, size_t errlen);
/* The channel's headers plus the client's own fields names lists (a format's pass_headers: what a
 * client sends a channel of its own format, Anthropic's anthropic-beta), each replacing the
 * channel's. A new list (caller frees with curl_slist_free_all), or NULL when the client sent none
 * of them (or one is unusable): then the channel's own. */
struct curl_slist;
struct MHD_Connection;
struct curl_slist *pass_headers(const struct curl_slist *chan, struct MHD_Connection *c, const char *const *names);

#endif
