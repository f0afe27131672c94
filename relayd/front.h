/*
 * front: the front door of relay -- MHD's access handler and completion notice for every API
 * request: the route table (method + path -> endpoint, and the client's API format for every
 * answer, 404 and 405 included), framing refused before anything else (request smuggling), the
 * early refusals (draining, too many connections, log buffer full), the key (auth.c), the
 * endpoints relay answers itself (selfserve.c), the body taken in under max_body_bytes (inflated
 * when gzip or deflate, a bad body answered at once), then admission (admit.c); later, resumed,
 * the queued answer or the start of a stream. Also the answer to a request gate.c refused before
 * MHD saw it, in the format of its path.
 * Callers: the worker, through relay.h's relay_worker_handlers. Never: blocks, touches the
 * database, or queues an MHD response outside the access handler.
 */
#ifndef RELAY_FRONT_H
#define RELAY_FRONT_H

#include <microhttpd.h>
#include <stddef.h>

struct worker;
struct buf;

enum MHD_Result relay_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls);
void relay_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                        enum MHD_RequestTerminationCode toe);
/* A request refused before MHD saw it (gate.c): the whole answer (status line, headers, JSON error
 * in the format of the API the target's path belongs to, Connection: close) into out, and its
 * access log line. target may be NULL (no request line to tell the format: OpenAI's). */
void relay_refusal(struct worker *w, const char *method, const char *target, size_t target_len,
                   unsigned status, const char *reason, const char *code, const char *msg, struct buf *out);

#endif
