/*
 * relay: the life of one API request on its worker, from headers to the log record.
 *   headers -> route table -> auth (snapshot) -> body (bounded) -> validate -> price and reserve
 *   -> channel choice -> upstream transfer on the worker's curl multi (connection suspended)
 *   -> response: whole body (non-stream) or event by event (SSE), retry on another channel while
 *   nothing has reached the client -> settle exactly once -> log record to the writer.
 * Callers: the worker, only through relay_worker_handlers (main.c passes it to worker_init);
 * relay.c uses its worker only through worker.h's functions. Never: blocks, touches the database,
 * or queues an MHD response outside the access handler.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <curl/curl.h>
#include <microhttpd.h>

struct worker;
struct request;
struct buf;
struct worker_handlers;

/* The worker's callbacks (worker.h), the functions below. */
extern const struct worker_handlers relay_worker_handlers;

enum MHD_Result relay_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls);
void relay_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                        enum MHD_RequestTerminationCode toe);
/* The upstream transfer of r (CURLINFO_PRIVATE) ended with res. */
void relay_on_upstream_done(struct request *r, CURLcode res);
/* Ends every request of w still waiting on an upstream (shutdown deadline): the client gets a 503
 * or an error event, and billing is settled as "interrupted". */
void relay_end_all(struct worker *w);
/* Every TICK_MS (worker.c): ends upstream transfers past their first-byte, idle or total timeout. */
void relay_tick(struct worker *w);
/* The client of r closed its side of the connection: abort the upstream, bill what was produced
 * (end reason client_gone). */
void relay_client_gone(struct request *r);
/* r's connection is being closed by MHD (it must forget the connection). */
void relay_conn_closed(struct request *r);
/* A request refused before MHD saw it (gate.c): the whole answer (status line, headers, JSON error
 * in the format of the API the target's path belongs to, Connection: close) into out, and its
 * access log line. target may be NULL (no request line to tell the format: OpenAI's). */
void relay_refusal(struct worker *w, const char *method, const char *target, size_t target_len,
                   unsigned status, const char *reason, const char *code, const char *msg, struct buf *out);
/* Frees the worker's pool of idle request objects and relay's state on it (after its MHD daemon
 * stopped). */
void relay_pool_free(struct worker *w);

#endif
