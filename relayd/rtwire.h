/*
 * rtwire: a Realtime API session once both sides are WebSockets (rtstate.h) -- messages relayed
 * both ways with wslay (server towards the client over MHD's upgraded socket, client with masking
 * towards the upstream over curl_easy_send/recv), each response.done billed (rtbill.c) before the
 * next hold is taken, and the ends: a side that closes, drops or errs, quota or a rate limit
 * running out, a stopping relayd -- error event first, close frames after the queued messages, then
 * rt_free. Both sockets sit on the worker's epoll set (EV_WATCH, worker_epoll_fd); no thread.
 * Callers: realtime.c (the handover, the tick, the event dispatch), rtup.c (the upstream's wslay
 * context, the watch of its socket). Never: parses a message by its bytes (cJSON), blocks, or
 * reads a side whose peer has RT_QUEUE_MAX bytes waiting (backpressure).
 */
#ifndef RELAY_RTWIRE_H
#define RELAY_RTWIRE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_session;
struct rt_worker;

/* The session that watches fd on this worker, or NULL. */
struct rt_session *rt_by_fd(struct rt_worker *h, int fd);
/* Sets what fd (s->cfd or s->ufd) is watched for (*cur: what is; 0 takes it out of the set). */
void rt_set_interest(struct rt_session *s, int fd, uint32_t *cur, uint32_t want);
void rt_unwatch(struct rt_session *s, int fd, uint32_t *ev);
/* The upstream's wslay context (client side, masking), once its 101 is in: 0 or -1 (memory). */
int rt_upstream_ws(struct rt_session *s);
/* MHD handed over the client's socket (and bytes it read past the request): relaying starts, or,
 * when the worker is stopping, the session is closed at once (error event, close frames). */
void rt_open_client(struct rt_session *s, int sock, struct MHD_UpgradeResponseHandle *urh, const char *extra_in,
                    size_t extra_in_size, bool stopping);
/* An event on one of an open session's sockets. */
void rt_wire_event(struct rt_session *s, int fd, uint32_t events);
/* Reads and writes what each side allows, notices ends, frees a session whose close is done. */
void rt_progress(struct rt_session *s);
/* Queues OpenAI's realtime error event ({"type":"error","error":{type, code, message}}) to the client. */
void rt_send_error_event(struct rt_session *s, const char *type, const char *code, const char *msg);
/* Starts the end: close frame ccode to the client and ucode to the upstream, each once its queued
 * messages are out; why is the end reason logged. */
void rt_begin_close(struct rt_session *s, uint16_t ccode, uint16_t ucode, const char *reason, const char *why);
/* Frees s and all it owns (rtstate.h); its open hold goes back unbilled. s->r must be NULL. */
void rt_free(struct rt_session *s);
/* Sessions open now / opened since start, all workers. */
int64_t rt_sessions_open(void);
uint64_t rt_sessions_total(void);

#endif
