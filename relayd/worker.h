/*
 * worker: one share-nothing event loop per core. Each worker owns, and nobody else touches:
 * its libmicrohttpd daemon (external epoll, its own SO_REUSEPORT listen socket), its libcurl multi
 * handle driven by curl_multi_socket_action, a pool of reusable easy handles, its requests, and one
 * epoll set that waits on all of them plus a timerfd for curl and an eventfd for wake-ups.
 * A request lives its whole life on one worker (see relay.c), so the request path takes no lock
 * and hands nothing to another thread.
 * Callers: main.c starts and stops workers; admin.c reads the counters (atomics).
 * Never: touches the database, blocks, or sleeps.
 */
#ifndef RELAY_WORKER_H
#define RELAY_WORKER_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

struct request;
struct snapshot;

struct worker_counters {
  _Atomic uint64_t requests_total;   /* requests that reached a handler */
  _Atomic uint64_t relayed_total;    /* requests sent upstream */
  _Atomic int64_t in_flight;         /* requests not yet completed */
  _Atomic uint64_t upstream_errors;
};

struct worker {
  int idx;
  pthread_t thread;
  const struct config *cfg;
  int epfd;
  int timerfd;                 /* curl's timer */
  int wakefd;                  /* eventfd: stop requests from the main thread */
  int listen_fd;
  struct MHD_Daemon *mhd;
  int mhd_epfd;
  CURLM *multi;
  CURL **easy_pool;            /* idle easy handles, reused */
  size_t easy_pool_len, easy_pool_cap;
  bool mhd_run_needed;         /* a connection was resumed: run MHD before waiting again */
  bool curl_timeout_due;
  uint64_t timer_due_us;       /* when the timerfd fires (0: not armed) */
  struct sock_state *socks;    /* per upstream descriptor, indexed by fd (worker.c) */
  size_t nsocks;
  struct snapshot *snap_cache; /* this worker's cached snapshot reference */
  uint64_t next_request_seq;
  uint16_t node_tag;
  uint64_t rng;                /* xorshift state for weighted channel choice */
  struct request *requests;    /* all live requests of this worker (doubly linked) */
  struct request *request_pool;/* idle request objects for reuse (relay.c owns them) */
  size_t request_pool_len;
  _Atomic bool stop;           /* set by the main thread, then wakefd is written */
  _Atomic bool draining;       /* set by the admin verb drain: new requests get 503 */
  struct worker_counters ctr;
  struct worker_stats stats;
};

/* Creates the listen socket, MHD daemon and curl multi. Returns 0 or -1 with err. */
int worker_init(struct worker *w, int idx, const struct config *cfg, char *err, size_t errlen);
int worker_start(struct worker *w);
/* Asks the worker to stop: it stops accepting, lets in-flight requests finish for up to
 * shutdown_grace_s, then ends them. worker_join waits and frees everything. */
void worker_request_stop(struct worker *w);
void worker_join(struct worker *w);

/* For relay.c: an easy handle from the pool (reset) or a new one; and back. */
CURL *worker_easy_get(struct worker *w);
void worker_easy_put(struct worker *w, CURL *e);
/* Resumes a suspended MHD connection and notes that MHD must run. */
void worker_resume(struct worker *w, struct MHD_Connection *c);

#endif
