/*
 * worker: one share-nothing event loop per core. Each worker owns, and nobody else touches:
 * its libmicrohttpd daemons (external epoll, fed by gate.c's accepts), its libcurl multi
 * handle driven by curl_multi_socket_action, two pools of reusable easy handles (reset for any use,
 * or kept configured for upstream attempts), the upstream URLs it parsed, its requests, and one
 * epoll set that waits on all of them plus a timerfd for curl and an eventfd for wake-ups.
 * A request lives its whole life on one worker (see relay.h), so the request path takes no lock
 * and hands nothing to another thread.
 * What to do with a request is the handler's business: the worker calls it only through the struct
 * worker_handlers main.c passes to worker_init (relay.h's relay_worker_handlers), the way redis's ae
 * loop takes its callbacks; it names no relay_* function. The handler in turn uses the worker only
 * through the functions below (worker_cfg, worker_multi, worker_resume, ...), not its fields.
 * Accepting: every worker watches the ONE listen socket main.c opens on the API address, in its
 * epoll set with EPOLLEXCLUSIVE (gate.c), so a light load lands on one worker and a heavy one on
 * all. The kernel (fs/eventpoll.c, ep_poll_callback; epoll(7) EPOLLEXCLUSIVE) queues the socket's
 * exclusive waiters in the order they were added and, for a new connection, wakes the first whose
 * epoll set has a thread waiting in epoll_wait: an idle worker 0 takes every connection of a light
 * load (the wake-ups of nginx's one worker, not two half-busy ones: bench/README.md, "2026-12-07
 * session 10"), and while it is busy handling events the next idle worker is woken instead, so
 * a saturating load spreads (Cloudflare, "Why does one NGINX worker take all the load?", 2017,
 * describes the same LIFO/FIFO behaviour). SO_REUSEPORT (a socket per worker) spread connections
 * by hash: with 10 light streams both workers woke for every upstream tick. Stopping: each worker
 * takes the socket out of its epoll set; the last one to stop accepting shuts it down (new
 * connections are refused, as when the per-worker sockets closed); main.c closes it after
 * worker_join, once.
 * Callers: main.c starts and stops workers; admin.c and metrics.c read the counters (atomics);
 * relay's stages (the handler) and gate.c use the accessors.
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
struct gate;
struct worker;
struct buf;

/*
 * The request handler's callbacks (relay.h: relay_worker_handlers). Every one runs on the worker's
 * thread. MHD's callbacks get the worker as their cls.
 */
struct worker_handlers {
  MHD_AccessHandlerCallback on_request;          /* MHD's access handler */
  MHD_RequestCompletedCallback on_completed;     /* MHD's completion notice */
  /* The upstream transfer of r (its easy handle's CURLINFO_PRIVATE) ended with res. */
  void (*on_upstream_done)(struct request *r, CURLcode res);
  /* worker_init: makes the handler's state for worker w (worker_data), seeded with seed (random
   * per worker). NULL: out of memory. */
  void *(*attach)(struct worker *w, uint64_t seed);
  /* Whether w still has requests in progress (a stopping worker waits for none). */
  bool (*busy)(struct worker *w);
  /* Ends every request of w still in progress (shutdown deadline, and before MHD stops). */
  void (*end_all)(struct worker *w);
  /* Every TICK_MS: upstream timeouts. */
  void (*tick)(struct worker *w);
  /* The client of r closed its side of the connection. */
  void (*client_gone)(struct request *r);
  /* r's connection is being closed by MHD. */
  void (*conn_closed)(struct request *r);
  /* A request gate.c refused before MHD saw it: the whole answer into out (relay.h: relay_refusal). */
  void (*refusal)(struct worker *w, const char *method, const char *target, size_t target_len,
                  unsigned status, const char *reason, const char *code, const char *msg,
                  struct buf *out);
  /* worker_join, after MHD stopped: frees what attach made. */
  void (*pool_free)(struct worker *w);
  /* An event on a descriptor the handler added to worker_epoll_fd(w) with tag EV_WATCH
   * (realtime.c's WebSocket sessions). */
  void (*watch_event)(struct worker *w, int fd, uint32_t events);
  /* The rest of a direct send (worker_send_direct) reached r's client: r may send again. */
  void (*client_flushed)(struct request *r);
};

/* What an event in a worker's epoll set is about: the tag sits in the high 32 bits of
 * epoll_data.u64, the descriptor in the low ones. */
enum worker_event { EV_MHD = 1, EV_CURL_TIMER, EV_WAKE, EV_CURL_SOCK, EV_CLIENT, EV_LISTEN, EV_GATE,
                    EV_WATCH };   /* a descriptor the handler put in the set itself (watch_event) */
#define WORKER_EV_DATA(tag, fd) (((uint64_t)(tag) << 32) | (uint32_t)(fd))

/*
 * A client connection: MHD's socket context, created and freed by worker.c (connection notify).
 * It serves two things MHD does not do for us: cutting off clients that send their request too
 * slowly (a suspended or half-read connection never times out in MHD), and noticing a client that
 * leaves while its connection is suspended (MHD does not watch suspended sockets): the socket sits
 * in the worker's epoll set for EPOLLRDHUP from open to close.
 */
enum conn_wait { CONN_WAIT_HEADER, CONN_WAIT_BODY, CONN_BUSY };
struct client_conn {
  struct client_conn *prev, *next;   /* the worker's list */
  int fd;
  bool watched;                      /* in the worker's epoll set */
  enum conn_wait wait;               /* what the client owes us, since since_us */
  uint64_t since_us;
  struct request *req;               /* the request in progress on it (reqpool.c sets it) */
  bool over_limit;                   /* opened while the daemon held max_connections (worker.c's
                                        budget): its request gets a 503, then it is closed */
  /* The request target of the request being read, as MHD's URI callback saw it raw: where its
   * first NUL is (MHD's request line buffer: the NUL that ends it is the one before the version,
   * unless the target holds a raw NUL), and whether it holds a %00 or a control byte. */
  const char *uri_end;
  bool uri_bad;
  /* The unsent rest of a direct send (worker_send_direct; owned, malloc'd), sent as the socket
   * takes it (EPOLLOUT), since tail_since_us; NULL: none. */
  char *tail;
  size_t tail_len, tail_off;
  uint64_t tail_since_us;
};

struct worker_counters {
  _Atomic uint64_t requests_total;   /* requests that reached a handler */
  _Atomic uint64_t relayed_total;    /* requests sent upstream */
  _Atomic int64_t in_flight;         /* requests not yet completed */
  _Atomic uint64_t upstream_errors;
};

struct worker {
  int idx;
  pthread_t thread;
  const struct worker_handlers *h;
  void *data;                  /* the handler's state (h->attach) */
  const struct config *cfg;
  int epfd;
  int timerfd;                 /* curl's timer */
  int wakefd;                  /* eventfd: stop requests from the main thread */
  unsigned ticks;
  uint64_t tick_due_us;        /* the next tick (upstream timeouts, slow clients; worker.c), 0: none
                                  while the worker has no requests, connections or gated ones */
  struct client_conn *conns;   /* open client connections */
  struct client_conn **conn_by_fd;  /* indexed by socket descriptor */
  size_t nconn_by_fd;
  size_t nconns;               /* open client connections */
  size_t max_conns;            /* max_connections in force, for the whole daemon (worker_clients) */
  int listen_fd;               /* main.c's shared listen socket (borrowed: main closes it), -1 once
                                  this worker stopped accepting; gate.c accepts, hands to MHD */
  struct gate *gate;
  struct MHD_Daemon *mhd;
  int mhd_epfd;
  struct MHD_Daemon *mhd_small;  /* the small pool's daemon: gate_small_stream's connections (gate.h) */
  int mhd_small_epfd;
  bool mhd_small_run_needed;
  CURLM *multi;
  CURL **easy_pool;            /* idle easy handles, reused (reset when taken) */
  size_t easy_pool_len, easy_pool_cap;
  CURL **kept_pool;            /* idle easy handles of upstream attempts, kept configured */
  size_t kept_pool_len, kept_pool_cap;
  struct strmap urls;          /* upstream URL (its own strdup) -> CURLU *, worker_url; both owned */
  bool mhd_run_needed;         /* a connection was resumed: run MHD before waiting again */
  bool curl_timeout_due;
  uint64_t timer_due_us;       /* when the timerfd fires (0: not armed) */
  struct sock_state *socks;    /* per upstream descriptor, indexed by fd (worker.c) */
  size_t nsocks;
   _Atomic bool stop;           /* set by the main thread, then wakefd is written */
  _Atomic bool stop_now;       /* a second signal: end in-flight requests at once */
  _Atomic bool finished;       /* the worker's loop has ended (worker_join will not wait) */
  _Atomic bool draining;       /* set by the admin verb drain: new requests get 503 */
  uint64_t limit_logged_us;    /* when "max_connections reached" was last logged */
  uint64_t limit_refused;      /* connections over the share since then */
  struct worker_counters ctr;
  struct worker_stats stats;
};

/*
 * Descriptors: a request holds two (its client connection and its upstream connection), and the
 * daemon needs some for itself. workers_connection_limit returns max_connections, lowered so that
 * the open file limit in force (RLIMIT_NOFILE, *nofile) holds it. The reserve is counted, not
 * guessed: the descriptors open at the first call (/proc/self/fd: standard streams, database,
 * log, admin socket, threads' eventfds; main.c calls it before the workers start), plus
 * WORKER_FD_EACH per worker, WORKER_FD_METRICS when metrics_listen is on, WORKER_FD_SPARE for the
 * moment (an admin or metrics client, SQLite's temporary file, the log reopened) and
 * WORKER_MHD_BACKSTOP: connections past the limit that are still accepted to get their 503 (one
 * descriptor each, no upstream). The first call's answer is kept: later calls (worker_init)
 * return it. 0 when the limit is too low for even one connection per worker.
 * The limit is one budget for the whole daemon, shared by every worker and both daemons of each
 * (worker_clients): the workers do not hold equal numbers of connections (a light load sits on one:
 * gate.h), so a fixed share per worker would refuse connections while descriptors are still free.
 */
#define WORKER_MHD_BACKSTOP 8
/* measured (ls /proc/PID/fd, 1 and 2 workers): 10 a worker -- five epoll sets (the worker's, the
 * two MHD daemons', libcurl's), the listen socket (one for all workers since session 10: spare),
 * curl's wake-up pair, timerfd, eventfd; 2 more for what another library version opens */
#define WORKER_FD_EACH 12
#define WORKER_FD_METRICS 6     /* its listen socket, epoll set and wake-up, a few scrapes at once */
#define WORKER_FD_SPARE 8
#define WORKER_FD_RESERVE 136   /* when /proc/self/fd cannot be counted */
long workers_connection_limit(const struct config *cfg, int nworkers, long *nofile);

/* Creates the MHD daemons and curl multi; h (which must outlive the worker) handles its requests.
 * listen_fd: the API address's listen socket, shared by every worker (main.c's: tcplisten_open,
 * non-blocking), borrowed until worker_join. Returns 0 or -1 with err. */
int worker_init(struct worker *w, int idx, const struct config *cfg, const struct worker_handlers *h,
                int listen_fd, char *err, size_t errlen);
int worker_start(struct worker *w);
/* Asks the worker to stop: it stops accepting, lets in-flight requests finish for up to
 * shutdown_grace_s, then ends them. worker_join waits and frees everything. */
void worker_request_stop(struct worker *w);
/* Before asking n workers to stop: counts them all as busy, so that none leaves (closing the
 * kept-alive connections it could still answer with 503) before every one has finished. */
void workers_begin_stop(int n);
/* Asks a stopping worker not to wait for the grace period: in-flight requests end now. */
void worker_request_stop_now(struct worker *w);
void worker_join(struct worker *w);

/* For attempt.c: an easy handle from the pool (reset) or a new one; and back. */
CURL *worker_easy_get(struct worker *w);
void worker_easy_put(struct worker *w, CURL *e);
/* For attempt.c's upstream attempts only: a handle that served attempts before and is not reset
 * (*fresh false: the caller sets only the options it varies per attempt, every one of them each
 * time), or else one from worker_easy_get (*fresh true: the caller sets its constant options too);
 * back with worker_easy_put_kept. A handle another user configured (imginline, selfserve) goes
 * back through worker_easy_put, so no option of theirs reaches an attempt. */
CURL *worker_easy_get_kept(struct worker *w, bool *fresh);
void worker_easy_put_kept(struct worker *w, CURL *e);
/* For attempt.c: url parsed once by this worker (curl_url_set with the flags curl itself uses for
 * CURLOPT_URL) for CURLOPT_CURLU, kept (owned by the worker) until the worker ends, so it outlives
 * every transfer that points to it (curl copies it for each connection, a retry's too); NULL when url
 * is not kept (WORKER_URLS distinct URLs are: a channel's URL changed often in a long run, or
 * it does not parse, or out of memory): the caller sets CURLOPT_URL alone then. */
#define WORKER_URLS 512             /* a kept URL is about 0.3 KB */
CURLU *worker_url(struct worker *w, const char *url);
/* Resumes a suspended MHD connection and notes that MHD must run. */
void worker_resume(struct worker *w, struct MHD_Connection *c);

/*
 * A direct send (stream.c): bytes written to the socket of c, a connection suspended by its
 * content reader, without resuming it. libmicrohttpd 0.9.75 suspends a chunked reply only between
 * chunks (its write buffer is empty whenever the reader runs: connection.c try_ready_chunked_body),
 * so whole chunks written here between its own keep the framing; each resume would cost a loop
 * turn of MHD (an epoll_wait of its own, the reader twice, a suspend) per event. Returns
 * WSEND_ALL: all sent; WSEND_PART: the rest is kept (client_conn.tail) and sent as the socket takes
 * it, then h->client_flushed; WSEND_NONE: nothing sent (the socket is full, or a rest is still
 * waiting): resume the connection and let MHD send; WSEND_FAILED: the socket failed (resume:
 * MHD finds it closed). A rest the client does not take within the connection timeout (120 s,
 * as MHD's) is dropped and the connection shut down; so is one whose client leaves.
 */
enum worker_send { WSEND_ALL, WSEND_PART, WSEND_NONE, WSEND_FAILED };
struct iovec;
enum worker_send worker_send_direct(struct worker *w, struct MHD_Connection *c, const struct iovec *iov, int n);
/* Whether a rest of a direct send on c is still waiting for its socket. */
bool worker_send_waiting(struct worker *w, struct MHD_Connection *c);
/* Drops a waiting rest and shuts the socket down (the chunk cannot be finished): for a request
 * that must end now (shutdown, a client gone) while its rest waits. */
void worker_send_abort(struct worker *w, struct MHD_Connection *c);

/* From any thread: after MHD_resume_connection of one of w's connections, makes w run MHD. */
void worker_wake(struct worker *w);

/* What the handler may know of its worker. */
void *worker_data(struct worker *w);                     /* what h->attach returned */
int worker_index(const struct worker *w);
/* The settings in force on this worker; the handler moves it to the ones published with each
 * snapshot it takes (reloadable keys), and the worker and gate read them from there. */
const struct config *worker_cfg(const struct worker *w);
void worker_set_cfg(struct worker *w, const struct config *cfg);
CURLM *worker_multi(struct worker *w);                   /* add and remove upstream transfers */
/* The worker's epoll set, for descriptors the handler watches itself: data WORKER_EV_DATA(EV_WATCH,
 * fd), events to h->watch_event; taken out (EPOLL_CTL_DEL) before the descriptor is closed. */
static inline int worker_epoll_fd(const struct worker *w) { return w->epfd; }
struct worker_counters *worker_counters(struct worker *w);
struct worker_stats *worker_stats(struct worker *w);
bool worker_stopping(const struct worker *w);            /* worker_request_stop was called */
bool worker_draining(const struct worker *w);            /* the admin verb drain is in force */

/* The worker's libcurl side, in workercurl.c (the multi's sockets in the epoll set, curl's timer on
 * the timerfd, the easy-handle pools above, the parsed URLs); only worker.c calls these four:
 * CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION (userp = the worker), an epoll event on an
 * upstream socket handed to curl_multi_socket_action, and every finished transfer handed to the
 * handler's on_upstream_done. */
int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp);
int curl_timer_cb(CURLM *m, long timeout_ms, void *userp);
void curl_sock_event(struct worker *w, int fd, uint32_t events);
void curl_collect(struct worker *w);

#endif
