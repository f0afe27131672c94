/*
 * attempt: one upstream call of a request and the retries after it -- the request made for the
 * chosen channel (its format, model mapping, reasoning suffix, media body and headers, and for a
 * key pool the key keypool.h picks, whose outcome it reports there), the
 * transfer on the worker's curl multi (start_attempt), the bytes as they arrive (whole answer, or
 * cut into events for stream.c), the channel's outcome reported to health, and at the end: the
 * answer handed to respond.c or stream.c, another channel tried (a connect failure, 429 or 5xx
 * before anything reached the client), or the client told why it failed (fail_upstream). Also
 * giving the easy handle back (detach_upstream).
 * Callers: admit.c (the first attempt), relay.c (a transfer done, an upstream timeout; an image
 * fetch's end), reqpool.c, front.c, selfserve.c and relay.c (detach_upstream). Never: retries once a byte of the answer went
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

/* Starts r's call to channel ch (its slot held by route.c); a request ch cannot take ends as if
 * the upstream had refused it with 400. */
void start_attempt(struct request *r, const struct snap_channel *ch);
/* The attempt's upstream transfer of r ended with res: answer, retry or fail. (relay.c's handler
 * hands an image fetch's end to imginline.c and a count transfer's to selfserve.c instead.) */
void relay_on_upstream_done(struct request *r, CURLcode res);
/* Takes r off its upstream transfer (the easy handle back to the worker's pool) and gives back a
 * channel slot still held, reporting no outcome. */
void detach_upstream(struct request *r);
#endif
