/*
 * gate: the door of a worker. It accepts client connections itself and holds each one until the
 * header of its first request has arrived, reading it with MSG_PEEK (the bytes stay in the socket
 * for libmicrohttpd). A header that MHD 0.9.75 would refuse with its own HTML answer (or by
 * closing without one) is answered here instead, in the client's API format (host->refusal):
 * a request line that is not HTTP, an HTTP version other than 1.x, a header line without a colon
 * or with a NUL, a Content-Length that is not all digits or does not fit in 64 bits, more header
 * fields than MHD's buffer holds, a header over max_header_bytes. Anything else is handed to MHD
 * (MHD_add_connection) untouched, except the probes /healthz and /readyz, which the gate answers
 * through host->probe (probes.h) so that they are never logged or billed. Later requests on a kept-alive connection reach MHD directly:
 * MHD reads ahead into its own buffer, so nothing can be peeked before it (doc/design.md).
 * A connection whose first request is a stream with a small header (gate_small_stream) goes to
 * the worker's second daemon, whose connection pool is GATE_SMALL_POOL instead of twice
 * max_header_bytes + 4 KiB: a held stream touches about half its pool (bench/README.md). That
 * daemon closes each connection after its first answer (worker.c marks the request
 * "Connection: close"), so no later request, whatever its header, ever meets the small pool.
 * Callers: worker.c (listen socket and gated sockets are in the worker's epoll set; the sweep). The
 * gate knows its worker only through struct gate_host, and answers through its refusal callback
 * (front.c's relay_refusal, by way of the worker's handlers): it includes neither worker.h nor relay.h.
 * Never: reads a byte MHD needs (only MSG_PEEK until the answer is decided), blocks, or waits
 * longer than client_header_timeout_s for a header.
 */
#ifndef RELAY_GATE_H
#define RELAY_GATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct gate;
struct MHD_Daemon;

/* The verdict on the bytes of a request header seen so far (pure; tests/unit can call it). */
enum gate_result { GATE_MORE, GATE_PASS, GATE_REFUSE };
struct gate_verdict {
  unsigned status;              /* GATE_REFUSE: the answer's status, reason phrase and error code */
  const char *reason;
  const char *code;
  char msg[200];
  const char *target;           /* the request target as sent (for the client's format), or NULL */
  size_t target_len;
  /* GATE_PASS: what gate_small_stream needs */
  size_t head_len;              /* bytes from the first peeked one through the blank line */
  size_t head_bytes;            /* the request line and fields (what max_header_bytes counts) */
  unsigned records;             /* fields + query arguments: one MHD record (64 bytes) each */
  int64_t content_length;       /* -1: none */
  bool plain;                   /* no Transfer-Encoding, Content-Encoding, Expect, Cookie, Upgrade */
};
/* limit = max_header_bytes: the request line and fields (with their line ends) may take that
 * many bytes, and hold at most limit / 64 fields. */
enum gate_result gate_check(const char *p, size_t n, size_t limit, struct gate_verdict *v);

/* The small pool's class. libmicrohttpd 0.9.75 gives the first read half its pool (1,280 bytes:
 * the header's text, GATE_SMALL_HEAD and its blank line, and the start of the body) and takes a
 * 64-byte record per field and query argument from its end (GATE_SMALL_RECORDS, one more for
 * worker.c's "Connection: close"): 19 records leave 64 bytes spare (one more and the close would
 * not be recorded: the connection would stay kept alive on the small pool). When the answer
 * starts the read window shrinks, and its room holds the answer's head and its chunks (an event
 * larger than that goes out in several). 18 fields hold what openai-python sends with a stream
 * (17); a client sending more is served on the usual pool. A held stream touches about its whole
 * pool: 4 -> 3 -> 2.5 KiB were ~1 KB a stream each (bench/README.md). */
#define GATE_SMALL_HEAD 1024
#define GATE_SMALL_RECORDS 18
#define GATE_SMALL_POOL 2560
/* A GATE_PASS verdict on p[0..n) is a stream request of the small class: its header within
 * GATE_SMALL_HEAD bytes and GATE_SMALL_RECORDS records, plain (see gate_verdict), and either a
 * Gemini ":streamGenerateContent" target or a route that can stream (/v1/chat/completions,
 * /v1/messages, /v1/responses, /v1/completions: other paths never pay for a parse) with a whole
 * JSON body in p whose "stream" is true (parsed with cJSON), and nothing after the body in p (a
 * request pipelined behind it keeps the usual pool). Anything else (a body not all peeked yet
 * included) is not: false. */
bool gate_small_stream(const char *p, size_t n, const struct gate_verdict *v);

/* The daemon's client connections: one budget shared by every worker's gate and both MHD daemons
 * of each (worker.c owns it; the workers' connections are not split evenly: worker.h). A gate
 * accepts while open + gated < limit + backstop and otherwise leaves new connections queued in the
 * kernel until one closes; MHD answers those past limit 503 too_many_connections (worker.c).
 * The share: every gate watches the one listen socket with EPOLLEXCLUSIVE, so the kernel wakes the
 * first idle worker, and an idle worker 0 would keep every connection of a burst (wrk -c64 opens 64
 * at once and keeps them: measured, all 64 on worker 0 in most runs), and a busy worker 0 left a
 * light load's new connections to worker 1 (10 streams at a time: 86 / 15). So after the first
 * accept of a wake-up, a gate steps aside -- the socket leaves its epoll set until gate_turn, once a
 * loop turn, finds the reason gone -- while its worker holds more than GATE_LIGHT connections above
 * the daemon's average (open + gated over workers; back within GATE_LIGHT / 2), or while it is
 * worker i > 0 and the daemon holds between 1 and i x GATE_LIGHT - 1 connections. A gate aside is
 * not idle (gate_idle): its worker ticks (10 wake-ups a second) to check; with no connection at
 * all every worker listens again and sleeps. */
#define GATE_LIGHT 16
struct gate_budget {
  _Atomic size_t open;          /* connections MHD holds (on_connection counts them) */
  _Atomic size_t gated;         /* connections the gates hold, waiting for their first header */
  size_t limit;                 /* max_connections in force: two descriptors each */
  size_t backstop;              /* past it, accepted only to get their 503: one descriptor each */
  unsigned workers;             /* the gates sharing the listen socket (the average's divisor) */
};

/* What a gate needs of its worker. The pointers are the worker's and must outlive the gate. */
struct gate_host {
  int idx;                      /* the worker's number, for log lines */
  int epfd;                     /* the worker's epoll set */
  uint32_t listen_tag, conn_tag;   /* epoll data tags of the listen socket and of gated sockets */
  const int *listen_fd;         /* the listen socket; -1 once the worker closed it */
  struct MHD_Daemon *mhd;       /* MHD_add_connection's daemon */
  bool *mhd_run_needed;         /* set after handing a connection to MHD */
  struct MHD_Daemon *mhd_small; /* ... for gate_small_stream's connections (NULL: none) */
  bool *mhd_small_run_needed;
  const size_t *nconns;         /* the worker's open client connections (MHD's) */
  struct gate_budget *budget;   /* the daemon's (above) */
  const struct config *const *cfg;   /* the settings in force: max_header_bytes, client_header_timeout_s */
  /* A refused request: the whole answer (status line, headers, error JSON in the client's format)
   * into out. method and target may be NULL. */
  void (*refusal)(void *arg, const char *method, const char *target, size_t target_len,
                  unsigned status, const char *reason, const char *code, const char *msg,
                  struct buf *out);
  /* A probe (/healthz, /readyz: probes.h) as the first request of a connection: the whole answer
   * into out and true, or false when the request is no probe (it goes to MHD). NULL: no probes. */
  bool (*probe)(void *arg, const char *method, size_t method_len, const char *target,
                size_t target_len, struct buf *out);
  void *arg;
};

struct gate *gate_new(const struct gate_host *host);   /* NULL: no memory; puts the listen socket in */
void gate_listen_ready(struct gate *g);        /* the listen socket is readable */
/* Once a loop turn: a gate that stepped aside (gate_budget) takes its share again when due. */
void gate_turn(struct gate *g);
void gate_event(struct gate *g, int fd, uint32_t events);   /* a gated socket */
/* Nothing for gate_sweep to do (no gated connection, accept() not resting): the worker may stop
 * its tick. */
bool gate_idle(const struct gate *g);
void gate_sweep(struct gate *g);               /* every 500 ms: header timeouts, answers sent */
void gate_release_all(struct gate *g);         /* stopping: every gated socket goes to MHD */
void gate_free(struct gate *g);

#endif
