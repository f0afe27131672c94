/*
 * stream: a streamed answer, event by event -- every whole event from the upstream (upstream_event:
 * the key redacted, its health noted, converted between the channel's and the client's format or
 * passed through when both speak the same, usage and produced text counted for billing) goes to
 * r->out, and MHD's content reader (started by start_stream_response) drains r->out to the client,
 * pausing and resuming the upstream by how much is unsent; while the reader waits on an HTTP/1.1
 * SSE stream, new bytes go out as one chunk on the suspended connection itself (wake_reader,
 * worker_send_direct) instead of a resume and a turn of MHD per event. The end of a stream (finish_stream)
 * closes it in the client's format, or writes one error event when it ended early; the reader
 * settles once the last byte went out.
 * Callers: attempt.c (events and the end of the transfer), front.c (start_stream_response),
 * relay.c (shutdown, client gone). Never: sends an HTTP status after the stream started, or lets
 * an upstream byte reach the client before the key is redacted from it.
 */
#ifndef RELAY_STREAM_H
#define RELAY_STREAM_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <stddef.h>

struct request;

/* One whole SSE event from the upstream of r (ev is redacted in place). */
void upstream_event(struct request *r, char *ev, size_t evlen);
/* New bytes for r's client (or its end): when the content reader waits, sends them directly or
 * resumes r's connection (also worker.h's client_flushed). */
void wake_reader(struct request *r);
/* An error event in the client's stream format into r->out (the stream cannot get a status any
 * more); code and msg as in OpenAI's error object. */
void stream_error_event(struct request *r, const char *code, const char *msg);
/* The upstream transfer of a started stream ended with res. */
void finish_stream(struct request *r, CURLcode res);
/* From the access handler (PH_STREAM_START): queues the SSE response fed by the content reader. */
enum MHD_Result start_stream_response(struct request *r);

#endif
