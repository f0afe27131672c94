/*
 * realtime: OpenAI's Realtime API through relay -- GET /v1/realtime?model=M and Azure's
 * /openai/realtime?api-version=V&deployment=D upgraded to a WebSocket and relayed, message by
 * message, to an OpenAI or Azure channel with the channel's key.
 *   before the upgrade (still an HTTP request, refusals in OpenAI's error shape): the client's key
 *     (auth.c; or the subprotocol openai-insecure-api-key.KEY browser clients send), the model
 *     routed as for chat (route.c), its price, and a hold on the balances (RT_HOLD_* tokens at the
 *     model's price); the connection is suspended while the upstream connection is opened on the
 *     worker's curl multi (CURLOPT_CONNECT_ONLY: resolution, proxies and TLS stay libcurl's) and the
 *     upstream answers the upgrade request with 101; only then does the client get its 101 (an
 *     upstream refusal is the client's HTTP error).
 *   the session: both sockets sit on the worker's epoll set (EV_WATCH), no thread per session;
 *     the framing is wslay's on both sides (server for the client over MHD's upgraded socket,
 *     client with masking for the upstream, over curl_easy_send/recv). Every response.done from
 *     the upstream is billed from its usage (input/output, text and audio, cached) against the
 *     hold: one log row per response (usage_source upstream), then a new hold is taken (one
 *     request for the rate limits); a hold that no longer fits ends the session (an error event
 *     insufficient_quota or rate_limit_exceeded, then close frames).
 *   the end: a client or upstream that leaves, a protocol error, quota, or a stopping relayd (close
 *     frames 1001 to both, then the sockets close) -- the hold still open is given back unbilled.
 * The parts: this module (the way in, the HTTP side until the 101, the tick), rtup.c (the upstream
 * connection and its upgrade), rtwire.c (the relay and the ends), rtbill.c (holds and bills), over
 * the session's state (rtstate.h).
 * Callers: front.c (realtime_begin, realtime_request_gone), auth.c (realtime_client_key), relay.c
 * (connected, watch events, tick, busy, end_all), metrics.c and admin.c (the session counts).
 * Never: parses a message by its bytes (cJSON), blocks the worker, or bills a response twice.
 */
#ifndef RELAY_REALTIME_H
#define RELAY_REALTIME_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct request;
struct worker;

/* The key of a realtime client that sent no Authorization header: Azure's api-key header, or the
 * subprotocol openai-insecure-api-key.KEY; false when neither (or it does not fit in n). */
bool realtime_client_key(struct MHD_Connection *c, char *out, size_t n);
/* From the access handler, r authenticated on a realtime route: refused (queued error) or
 * suspended while the upstream connection opens (MHD_YES). */
enum MHD_Result realtime_begin(struct request *r, const char *url);
/* r is being freed while its session still waited on the upstream (its client left, or MHD
 * stops): the session ends. */
void realtime_request_gone(struct request *r);
/* The upstream connection of r's session opened (or failed): relay.c's on_upstream_done for a
 * request with a session (its transfer's CURLINFO_PRIVATE is r). */
void realtime_connected(struct request *r, CURLcode res);
/* An event on a descriptor a session watches (the worker's EV_WATCH). */
void realtime_watch_event(struct worker *w, int fd, uint32_t events);
/* Every tick: handshake and close timeouts; a stopping worker closes its sessions (close frames). */
void realtime_tick(struct worker *w);
/* Whether w still has sessions. */
bool realtime_busy(struct worker *w);
/* Ends every session of w now (the shutdown deadline). */
void realtime_end_all(struct worker *w);
/* Sessions open now / since relayd started, all workers. */
int64_t realtime_sessions_open(void);
uint64_t realtime_sessions_total(void);

#endif
