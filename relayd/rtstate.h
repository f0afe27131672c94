/*
 * rtstate: the state of one Realtime API session (realtime.h draws the whole), shared by the
 * realtime modules -- realtime.c (the way in, the HTTP side, the tick), rtup.c (the upstream
 * connection and its upgrade), rtwire.c (the relay of messages, the ends) and rtbill.c (holds and
 * bills). Plain data and constants: no functions.
 * Who frees what: rtwire.c's rt_free frees a session and everything it owns (the wslay contexts,
 * the curl handle and with it the upstream socket, the client's socket through MHD, buffers, its
 * hold, its snapshot reference); nothing else frees a session.
 * Never: holds the HTTP request's state (struct request stays realtime.c's).
 */
#ifndef RELAY_RTSTATE_H
#define RELAY_RTSTATE_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "limits.h"
#include "openai.h"
#include "snapshot.h"
#include "util.h"

#define RT_HANDSHAKE_MAX 16384            /* the upstream's 101 answer, headers included */
#define RT_MSG_MAX (16u << 20)            /* one message either way (audio travels base64 in JSON) */
#define RT_QUEUE_MAX (8u << 20)           /* unsent bytes towards one side before the other is not read */
#define RT_CLOSE_US 2000000u              /* closing: how long the close frames get to go out */

enum rt_state {
  RT_CONNECTING,    /* the upstream connection opens (curl multi, CONNECT_ONLY) */
  RT_HANDSHAKE,     /* the upgrade request is sent, its 101 awaited */
  RT_UPGRADING,     /* the client's 101 is queued; MHD has not handed over its socket yet */
  RT_OPEN,          /* relaying */
  RT_CLOSING,       /* close frames going out; freed when sent or after RT_CLOSE_US */
};

struct rt_session;

/* A worker's sessions (relay_local.rt): the list, and the sessions by descriptor (both sockets of
 * each, while watched; the table is freed when the last session ends). */
struct rt_worker {
  struct rt_session *list;
  struct rt_session **by_fd;
  size_t nfd;
};

struct rt_session {
  struct rt_session *prev, *next;   /* home->list */
  struct rt_worker *home;
  struct worker *w;
  struct request *r;                /* the HTTP request, until the upgrade (then NULL); realtime.c's */
  enum rt_state state;
  /* before the upgrade, set by realtime.c: the upstream accepted (the client gets its 101), or
   * refused / failed (the client gets status, code, msg; the session is freed) */
  void (*ready)(struct rt_session *s);
  void (*fail)(struct rt_session *s, unsigned status, const char *code, int outcome, const char *msg);
  struct snapshot *snap;            /* counted reference (released in rt_free) */
  const struct snap_token *token;
  const struct snap_channel *channel;
  const struct price *price;
  double group_ratio;
  char id[40];
  char model[MODEL_NAME_MAX], upstream_model[MODEL_NAME_MAX];
  char subprotocol[32];             /* the one answered to the client, "" none */
  char beta[64];                    /* OpenAI-Beta to pass on, "" none */
  int64_t hold;                     /* reserved on the balances now (0: none) */
  struct limit_hold lim;            /* what the rate limits took for the hold (open while hold is) */
  bool rate_limited;                /* the last hold failed on a rate limit, not the balance */
  unsigned responses;               /* billed so far */
  uint64_t t0_us, resp_t0_us, deadline_us;
  const char *end_reason;
  /* upstream */
  CURL *easy;                       /* owned: curl_easy_cleanup in rt_free (closes the socket) */
  bool in_multi;                    /* on the worker's multi (kept there: CONNECT_ONLY) */
  int ufd;
  struct buf uout;                  /* the upgrade request not yet sent */
  struct buf hs;                    /* the upgrade answer read so far */
  char accept[32];                  /* the Sec-WebSocket-Accept it must carry */
  wslay_event_context_ptr uctx;     /* owned */
  uint8_t *upre;                    /* bytes read past the 101 (owned) */
  size_t upre_len, upre_off;
  bool u_dead;
  /* client */
  int cfd;
  struct MHD_UpgradeResponseHandle *urh;
  wslay_event_context_ptr cctx;     /* owned */
  uint8_t *cpre;                    /* bytes MHD read past the request (owned) */
  size_t cpre_len, cpre_off;
  bool c_dead;
  uint32_t cev, uev;                /* epoll interest registered (0: not watched) */
  bool counted;                     /* in the open sessions count */
  /* closing: the close frame each side gets once its queued messages are out (wslay sends control
   * frames ahead of messages, and none after a close) -- 0: none pending */
  uint16_t c_close, u_close;
  char close_reason[64];
};

#endif
