/*
 * reqpool: request objects and relay's state on each worker -- a worker's live requests (a list
 * the stages walk for timeouts and shutdown), a pool of idle request objects whose buffers keep
 * their memory, the request ids, and relay's per-worker state (relay_attach, relay_pool_free).
 * The slab of chunks for parsed request bodies is reqchunk.c's; request_free gives r's back.
 * Callers: front.c (a request begins and completes), relay.c (the worker's handlers), admit.c
 * Never: frees
 * a request that still holds an upstream transfer or a channel slot (request_free detaches it
 * first), or keeps more than POOL_MAX idle objects.
 */
#ifndef RELAY_REQPOOL_H
#define RELAY_REQPOOL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct request;
struct worker;

/* The worker's handlers (worker.h): relay's state on w, made with seed; whether w has requests
 * live; and, after w's MHD daemon stopped, the pool and the state freed. */
void *relay_attach(struct worker *w, uint64_t seed);
bool relay_busy(struct worker *w);
void relay_pool_free(struct worker *w);
/* A request on connection c of w, with its id, start time and snapshot reference; from the pool
 * or new. NULL: out of memory. Freed by request_free. */
struct request *request_new(struct worker *w, struct MHD_Connection *c);
void request_free(struct request *r);
/* A new request id of worker w into out (n >= 24): time, node, worker and sequence, in hex. */
void request_make_id(struct worker *w, char *out, size_t n);

#endif
