/*
 * respond: whole answers to the client -- the headers every answer carries (x-request-id, the
 * x-ratelimit-* of the request's limits), error bodies in the client's API format (OpenAI,
 * Anthropic, Gemini), answers queued at once from the access handler (queue_now, fail_now) or kept
 * and queued when the suspended connection resumes (respond_later), and the end of a non-streaming
 * upstream answer (finish_nonstream: converted to the client's format, settled, queued).
 * Callers: every stage that answers: front.c, auth.c, selfserve.c, admit.c, attempt.c, stream.c,
 * relay.c; and the one place every answer is counted (respond_done: stats by status and reason,
 * the admin event). Never: starts or ends an upstream transfer, or queues an MHD response outside the
 * access handler (respond_later only keeps it).
 */
#ifndef RELAY_RESPOND_H
#define RELAY_RESPOND_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdbool.h>

struct request;
struct buf;
struct limit_view;

/* x-ratelimit-{limit,remaining,reset}-KIND of v (nothing when v is not set). */
void add_limit_headers(struct MHD_Response *resp, const struct limit_view *v, const char *kind);
/* The headers of every answer to r: its request id, its rate limits. */
void add_common_headers(struct request *r, struct MHD_Response *resp);
/* b's bytes as a JSON answer (b is emptied). */
struct MHD_Response *json_response(struct request *r, struct buf *b);
/* An error body in the client's API format, into b: OpenAI's {"error":{"message","type","param",
 * "code"}}, Anthropic's {"type":"error","error":{"type","message"}} on /v1/messages, Gemini's
 * {"error":{"code","message","status"}} on its endpoints. */
void error_body(struct request *r, unsigned status, const char *type, const char *code, const char *param,
                const char *msg, struct buf *b);
/* That error body as a response (the caller queues it or hands it to respond_later). */
struct MHD_Response *error_response(struct request *r, unsigned status, const char *type,
                                    const char *code, const char *param, const char *msg);
/* From the access handler: queues resp (and destroys the reference); r is done. */
enum MHD_Result queue_now(struct request *r, unsigned status, struct MHD_Response *resp);
/* queue_now of an error_response with a printf message. */
enum MHD_Result fail_now(struct request *r, unsigned status, const char *type, const char *code,
                         const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* r's answer is over (relay_on_completed; the gate's refusals through relay_refusal): counts it
 * by status and reason -- the error code relayd sent (error_body), "upstream" for an upstream's own
 * error passed on, "client_gone", "ok" -- and sends its event to admin subscribers: settle's figures
 * when r was billed, else a refusal (or free answer) event. Exactly once per answer. */
void respond_done(struct request *r, bool client_left);
/* From outside the access handler: keeps resp (owned from here) and resumes the connection. */
void respond_later(struct request *r, unsigned status, struct MHD_Response *resp);
/* Why the upstream call of r ended with res, for the client: which limit, or what went wrong. */
void upstream_failure_text(const struct request *r, CURLcode res, char *out, size_t n);
/* The 2xx upstream answer of a non-streaming request is all in r->resp: converted to the client's
 * format, settled and answered (a 502 when it cannot be read). */
void finish_nonstream(struct request *r);

#endif
