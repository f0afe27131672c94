/*
 * imginline: the images a request names by URL, fetched for a channel that needs them inline
 * (Gemini takes only its own Files API URIs: any other web URL must reach it as inlineData), on
 * the worker's own curl multi so the worker serves its other requests meanwhile. One image at a
 * time per request (in the order of its messages), each bounded by imgfetch.h (size, time, no
 * private, loopback or link-local address unless configured); a fetched image replaces its URL in
 * the common-form request (r->root) as a data: URL, which every format's converter inlines, and
 * stays so for a retry on another channel. The attempt waits with its channel slot held; when the
 * last image is in, imginline_done hands the channel back and attempt.c runs start_attempt again
 * for it. A fetch that fails ends the attempt as relay's own refusal (400, nothing asked of the
 * channel), as before. One of relay's stages (it works on the request's own state, request.h),
 * called by attempt.c and never calling back into it.
 * Callers: attempt.c (start_attempt asks imginline_begin first; relay_on_upstream_done hands over
 * an image transfer's end; detach_upstream cancels), reqpool.c (request_free). Never: blocks,
 * fetches for a native request or a channel that takes URLs, or touches the client's own bytes.
 */
#ifndef RELAY_IMGINLINE_H
#define RELAY_IMGINLINE_H

#include <curl/curl.h>
#include <stdbool.h>

struct request;
struct snap_channel;

/* Before r's attempt on ch: true when images must be fetched first (their transfer started: the
 * caller returns, and start_attempt(r, ch) runs again once they are in); false to go on (nothing
 * to fetch, or it was done: then *refusal is NULL, or the reason the attempt must be refused). */
bool imginline_begin(struct request *r, const struct snap_channel *ch, const char **refusal);
/* Whether r's finished transfer is an image fetch (then imginline_done takes it). */
bool imginline_active(const struct request *r);
/* The image transfer of r ended with res: NULL when the next image's transfer started, else the
 * channel the attempt waited on (the images are in, or one was refused): the caller runs
 * start_attempt(r, channel) again. No call back into attempt.c (it is this module's caller). */
const struct snap_channel *imginline_done(struct request *r, CURLcode res);
/* Stops an image transfer in progress (the request ends); the state stays until imginline_free. */
void imginline_cancel(struct request *r);
void imginline_free(struct request *r);

#endif
