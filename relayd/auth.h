/*
 * auth: who is asking -- the API key of a request (Authorization: Bearer, x-api-key, and for
 * Gemini's endpoints x-goog-api-key or ?key=), looked up by its hash in the snapshot, with a
 * channel pin (sk-KEY-CHANNELID, administrators only), and the key and its user checked: enabled,
 * not expired, quota left, the client's address allowed.
 * A key found in the snapshot is remembered by the worker for that snapshot (keycache.h: the key
 * body in full, wiped at the next reload), so its next request skips the digest; every check of
 * the token and its user still runs on each request.
 * Callers: front.c (once the route is known). Never: logs the key, stores it anywhere but the
 * worker's keycache, or takes a token of another snapshot than the request's.
 */
#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include <microhttpd.h>
#include <stdbool.h>

struct request;

/* Checks the key and its owner: true with r->token (and r->pin_channel) set, or false with the
 * refusal queued and *ret the access handler's result. */
bool authenticate(struct request *r, enum MHD_Result *ret);

#endif
