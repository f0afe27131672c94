/*
 * reqchunk: the worker's slab of chunks for parsed request bodies, and what a committed stream
 * drops of its request while it is held. The client's parsed body goes
 * into a chunk of the slab (REQ_CHUNKS of REQ_CHUNK bytes, mapped once: a malloc and a free per
 * cJSON node cost more than the parse's own work), given back when the request ends or a committed
 * stream drops its parsed body; past the slab, the heap. So a held stream keeps no chunk, and the
 * slab's touched memory is bounded by the requests being admitted at once, not by the streams held.
 * Callers: reqpool.c (the slab opened with relay's worker state; a request's chunk back at its
 * end), admit.c (around the parse), attempt.c (a committed stream drops its parsed body, and its
 * sent upstream body: request_drop_sent).
 * Never: unmaps the slab (its region stays registered with jsonarena), or runs off the worker's
 * thread.
 */
#ifndef RELAY_REQCHUNK_H
#define RELAY_REQCHUNK_H

struct request;
struct relay_local;

/* Maps l's slab and registers it with jsonarena; on failure l->slab stays NULL (the heap). */
void reqchunk_open(struct relay_local *l);
/* Around dispatch's parse of the client's body: its cJSON allocations come from a free chunk of
 * the worker's slab (none free, or no slab: the heap). The chunk stays with r when the parse used
 * it. request_drop_parsed frees r->root and r->croot (cJSON_Delete: chunk nodes are skipped) and
 * gives the chunk back. */
void request_parse_begin(struct request *r);
void request_parse_end(struct request *r);
void request_drop_parsed(struct request *r);
/* A committed stream's upstream body (r->up_body) and the common-form text it was made from
 * (r->oai_text), freed once curl has sent the whole body (no-op before: called again with the
 * stream's later bytes); the client's own body (r->body) stays, as settle may count its prompt. */
void request_drop_sent(struct request *r);

#endif
