/*
 * rtup: the upstream side of a Realtime API session before it relays (rtstate.h) -- the connection
 * opened by libcurl on the worker's multi with CURLOPT_CONNECT_ONLY (name resolution, proxies and
 * TLS stay libcurl's), the HTTP/1.1 upgrade request written through curl_easy_send (the channel's
 * headers: its key), the 101 read through curl_easy_recv and its Sec-WebSocket-Accept checked
 * (RFC 6455 4.1); then s->ready, or s->fail with the HTTP error the client gets.
 * Callers: realtime.c. Never: writes WebSocket frames itself (rtwire.c's wslay does), blocks, or
 * passes anything of the client's request upstream but the model and OpenAI-Beta.
 */
#ifndef RELAY_RTUP_H
#define RELAY_RTUP_H

#include <curl/curl.h>

struct rt_session;

/* Starts the connection to url (http or https: the base of the upgrade request) on the worker's
 * multi; private is the transfer's CURLINFO_PRIVATE (the worker reports its end with it).
 * 0, or -1 (memory). */
int rt_up_start(struct rt_session *s, const char *url, long connect_timeout_ms, void *private);
/* The connection is open (or failed with res): the upgrade request goes out. */
void rt_up_connected(struct rt_session *s, CURLcode res);
/* An event on the upstream socket during the handshake. */
void rt_up_event(struct rt_session *s);
/* The Sec-WebSocket-Accept for key (RFC 6455 4.2.2) into out (at least 29 bytes). */
void rt_ws_accept(const char *key, char *out);

#endif
