/*
 * gate: the door of a worker. It accepts client connections itself and holds each one until the
 * header of its first request has arrived, reading it with MSG_PEEK (the bytes stay in the socket
 * for libmicrohttpd). A header that MHD 0.9.75 would refuse with its own HTML answer (or by
 * closing without one) is answered here instead, in the client's API format (relay_refusal):
 * a request line that is not HTTP, an HTTP version other than 1.x, a header line without a colon
 * or with a NUL, a Content-Length that is not all digits or does not fit in 64 bits, more header
 * fields than MHD's buffer holds, a header over max_header_bytes. Anything else is handed to MHD
 * (MHD_add_connection) untouched. Later requests on a kept-alive connection reach MHD directly:
 * MHD reads ahead into its own buffer, so nothing can be peeked before it (doc/design.md).
 * Callers: worker.c (listen socket and gated sockets are in the worker's epoll set; the sweep).
 * Never: reads a byte MHD needs (only MSG_PEEK until the answer is decided), blocks, or waits
 * longer than client_header_timeout_s for a header.
 */
#ifndef RELAY_GATE_H
#define RELAY_GATE_H

#include <stddef.h>
#include <stdint.h>

struct worker;

/* The verdict on the bytes of a request header seen so far (pure; tests/unit can call it). */
enum gate_result { GATE_MORE, GATE_PASS, GATE_REFUSE };
struct gate_verdict {
  unsigned status;              /* GATE_REFUSE: the answer's status, reason phrase and error code */
  const char *reason;
  const char *code;
  char msg[200];
  const char *target;           /* the request target as sent (for the client's format), or NULL */
  size_t target_len;
};
/* limit = max_header_bytes: the request line and fields (with their line ends) may take that
 * many bytes, and hold at most limit / 64 fields. */
enum gate_result gate_check(const char *p, size_t n, size_t limit, struct gate_verdict *v);

int gate_init(struct worker *w);                 /* 0, or -1 (no memory) */
void gate_listen_ready(struct worker *w);        /* the listen socket is readable */
void gate_event(struct worker *w, int fd, uint32_t events);   /* a gated socket */
void gate_sweep(struct worker *w);               /* every 500 ms: header timeouts, answers sent */
void gate_release_all(struct worker *w);         /* stopping: every gated socket goes to MHD */
void gate_free(struct worker *w);

#endif
