/*
 * request: the private state of one API request, shared by relay's stage modules (relay.h draws
 * the stages). Only they may include this header: front.c, auth.c, selfserve.c, admit.c, route.c,
 * attempt.c, imginline.c, reqview.c, respond.c, stream.c, settle.c, reqpool.c, realtime.c, chanlimit.c,
 * affinity.c, limitwait.c and relay.c (request.h includes none of their headers: no include cycle);
 * nothing outside relay's stages ever sees a struct request (worker.c and gate.c hold it as an opaque
 * pointer).
 * Who frees what: reqpool.c makes every request (request_new) and frees all it owns in
 * request_free -- the parsed bodies (root, croot, oai_text; the slab chunk of root or croot goes back
 * with them, request_drop_parsed), the upstream body and headers
 * (up_body, up_headers; up_body and oai_text go early once a committed stream's body was sent:
 * request_drop_sent), the event record (ev), the format stream (its converter states), the image fetches (imgs), the
 * inflater, a pending response and the snapshot
 * reference -- after attempt.c's detach_upstream has given the easy handle back to the worker and
 * route.c's release_channel the channel slot. A stage may replace an owned pointer only after
 * freeing the old one. Never: holds more code than the small inline helpers below (what the
 * client speaks, relay's state on a worker, a bounded string copy).
 */
#ifndef RELAY_REQUEST_H
#define RELAY_REQUEST_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats.h"
#include "health.h"
#include "jsonarray.h"
#include "keypool.h"
#include "limits.h"
#include "media.h"
#include "openai.h"
#include "reasoning.h"
#include "rtstate.h"
#include "snapshot.h"
#include "tokenizer.h"
#include "util.h"
#include "worker.h"

#define MAX_ATTEMPTS 12
#define AFFINITY_TEXT_MAX 64            /* an affinity key's first bytes kept to list it (affinity.h) */
#define ERRBODY_MAX (64 * 1024)
#define RESPONSE_MAX (64 << 20)        /* a non-streaming upstream answer */
#define EVENT_MAX (4 << 20)            /* one SSE event */
#define OUT_HIGH (256 * 1024)          /* pause the upstream above this many unsent bytes */
#define OUT_LOW (64 * 1024)            /* and let it go on below this */

enum endpoint { EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS, EP_MODELS, EP_MODEL_ONE, EP_MESSAGES, EP_GEMINI, EP_MEDIA,
                EP_BILLING_SUBSCRIPTION, EP_BILLING_USAGE, EP_REDEEM, EP_USAGE,
                EP_COUNT_TOKENS,     /* Anthropic /v1/messages/count_tokens, Gemini :countTokens: free */
                EP_REALTIME };       /* the Realtime API's WebSocket (realtime.c) */

struct pool_key;
struct img_wait;                 /* imginline.c's */
struct climit;                   /* chanlimit.h's */

/* What one request took from channel / key limits (chanlimit.h), to settle: [0] the channel, [1] the key of its last attempt. */
struct chanlimit_hold {
  struct climit *l[2];
  int64_t tok_inc[2];                       /* ns taken from each token bucket */
  int64_t tokens;                           /* the estimate taken */
  int64_t window_ns;
  struct climit *conc;                      /* the key whose concurrency slot is held, or NULL */
};


struct endpoint_def {
  const char *method;
  const char *path;
  bool prefix;                 /* path is a prefix followed by an id */
  enum endpoint ep;
  enum api_kind api;
  const char *upstream_path;   /* path on an OpenAI-style channel; NULL: the same as path */
  enum media_kind media;       /* EP_MEDIA: which kind media.c validates and bills */
  const struct format *format; /* the format its clients speak (format.h) */
  const char *suffix;          /* prefix routes: the path must also end so (Gemini ":countTokens") */
};

enum phase {
  PH_BODY,          /* receiving the body */
  PH_UPSTREAM,      /* suspended, waiting on the upstream */
  PH_RESPOND,       /* resumed with a whole response ready in pending */
  PH_STREAM_START,  /* resumed to start an SSE response */
  PH_STREAMING,     /* SSE response queued; the reader drains out */
  PH_DONE,
  PH_LIMIT_WAIT,    /* suspended: every channel at its limit, waiting for room (limitwait.h) */
  PH_LIMIT_RETRY,   /* resumed from that wait: route again (admit_retry) */
  PH_HEAD,          /* a request without a body: answered on MHD's final call (front.c) */
};

struct request {
  struct request *prev, *next;         /* the worker's list */
  struct worker *w;
  struct MHD_Connection *conn;
  struct client_conn *cc;              /* the connection's state (worker.c owns it); may be NULL */
  struct snapshot *snap;               /* counted reference, released at free */
  const struct endpoint_def *def;
  enum phase phase;
  char request_id[40];
  char access_path[96];                /* "METHOD URL" for the access log of an unbilled request
                                          (only filled while access_log is on) */
  const struct snap_token *token;
  int64_t pin_channel;
  struct buf body;
  uint64_t body_over;                  /* bytes of the body read after an early answer (not stored) */
  z_stream *inflater;                  /* Content-Encoding gzip or deflate: inflates the body as it
                                        * comes (owned; inflateEnd + free in request_free) */
  bool inflate_end;                    /* the compressed stream reached its end */
  bool early_answered;                 /* send_early_error answered while the body still came */
  cJSON *root;                         /* the parsed OpenAI-style body (owned; freed in request_free,
                                        * or once a stream started: request_drop_parsed) */
  char *chunk;                         /* the slab chunk the client's body was parsed into (reqpool.c),
                                        * or NULL; given back by request_drop_parsed */
  struct oai_request rq;
  const struct price *price;
  double group_ratio;
  int64_t reserved;
  bool billing_open;                   /* reserved: exactly one settle() must follow */
  bool settled;
  struct limit_hold lim;               /* what the rate limits took (settled with billing) */
  bool lim_open;

  /* the channel slot of the current attempt (health.h): released exactly once */
  const struct snap_channel *held;
  bool held_trial;
  uint64_t attempt_t0_us;
  double attempt_ttfb_ms;              /* < 0 until the first byte of a 2xx answer */
  enum health_outcome stream_health;   /* the attempt's first error event (OUTCOME_OK: none yet) */
  char stream_detail[160];             /* ... and what it said, for the disable reason */
  enum health_outcome attempt_outcome; /* what report_attempt found (OUTCOME_ABANDON: nothing) */

  /* upstream attempt */
  CURL *easy;                          /* the attempt's transfer (the worker's pool owns it; back with
                                        * detach_upstream) */
  bool easy_kept;                      /* easy is from worker_easy_get_kept (start_attempt) */
  const struct snap_channel *channel;
  const struct pool_key *pkey;         /* the key of a pooled channel this attempt uses (keypool.h), or NULL */
  const char *up_key;                  /* the upstream key in clear of this attempt (redaction only) */
  struct key_tries keys;               /* the pool keys tried on one channel (keypool.h) */
  struct chanlimit_hold clh;           /* what channel / key limits took (chanlimit.h) */
  uint64_t aff_hash;                   /* affinity key's hash (affinity.h), 0: none */
  int aff_key_idx;                     /* the key index affinity prefers, -1: none */
  char aff_text[AFFINITY_TEXT_MAX + 1];
  uint64_t lw_deadline_us, lw_retry_us;  /* a wait for channel room (limitwait.h): until, next try */
  int lw_waits;                        /* how many times it waited */
  char upstream_model[MODEL_NAME_MAX];
  char *up_body;                       /* rewritten body (owned) or NULL for the client's */
  size_t up_len;
  int attempts;
  int64_t tried[MAX_ATTEMPTS];
  long up_status;
  bool status_known;
  uint64_t up_t0_us;                   /* this attempt started */
  uint64_t up_last_us;                 /* last bytes from the upstream (0: none yet) */
  const char *timeout_kind;            /* set when relay_tick ended the attempt: which limit */
  bool refused;                        /* relay itself would not send the request to the channel
                                        * (refuse_attempt): errbody holds why; no upstream was asked */
  const char *fault;                   /* why relay itself cut the upstream transfer, or NULL */
  char retry_after[24];                /* the upstream's Retry-After on a 429/503, passed on */
  bool committed;                      /* bytes of this attempt go to the client */
  bool upstream_done;
  bool paused;
  struct buf resp;                     /* non-stream body, or the partial SSE event */
  size_t resp_scanned;                 /* stream: resp's first bytes known to hold no event end */
  struct buf errbody;
  struct buf out;                      /* SSE bytes ready for the client */
  size_t out_off;
  bool suspended;
  bool reader_waiting;                 /* suspended by the content reader */
  bool http11;                         /* asked in HTTP/1.1: a stream goes out chunked (stream.c's
                                        * direct sends) */

  struct MHD_Response *pending;        /* built while suspended, queued on resume (owned until then) */
  unsigned pending_status;

  /* the formats of this request (format.h): the client's (from its endpoint) and the channel's of
   * the current attempt; relay works in the common form (OpenAI chat) and converts at the edges */
  const struct format *client, *upstream;
  struct format_stream fs;                     /* the stream's event path and converter states (owned) */
  char path_model[MODEL_NAME_MAX];             /* the model a client path names (Gemini), else "" */
  bool path_stream;                            /* ... and its stream flag */
  bool json_array;                             /* the stream goes out as a JSON array, not SSE
                                                * (Gemini's streamGenerateContent without alt=sse) */
  struct json_array arr;                       /* ... its state (jsonarray.h) */
  size_t arr_done;                             /* ... out's first bytes already in array form */
  /* a client of another format than the common one: its request stays in its format until a
   * channel of another format is chosen */
  cJSON *croot;                                /* the client's parsed body in its format (owned) */
  char *oai_text;                              /* the common-form request made from it, once needed */
  size_t oai_len;
  /* a reasoning suffix on the model name (-high, -thinking-N, ...; reasoning.h) */
  struct reasoning rs;
  char route_model[MODEL_NAME_MAX];    /* the name routes are looked up by: the client's, or its base */

  struct img_wait *imgs;                       /* images by URL fetched for a channel that takes them
                                                * only inline (imginline.h; owned: imginline_free) */
  struct media_req mq;                         /* EP_MEDIA: what billing needs from the request */
  struct media_result mres;                    /* EP_MEDIA: what the upstream said was used */
  struct curl_slist *up_headers;               /* EP_MEDIA multipart: channel headers + the client's
                                                * Content-Type (owned; NULL: the channel's) */
  char up_ctype[128];                          /* the upstream answer's Content-Type */

  struct usage usage;
  bool usage_upstream;                 /* usage holds what the upstream reported */
  bool usage_final;                    /* ... in the event that ends its answer (not a running count) */
  size_t completion_chars;             /* text relay saw go out (counted in parsed JSON strings) */
  struct tok_count out_tokens;         /* the same text, counted by the model's tokenizer (owned when
                                        * out_tokens_on: settle_count_restart, request_free) */
  bool out_tokens_on;
  uint64_t out_tokens_model;           /* hash_bytes of the model name out_tokens was made for */
  int final_status;
  const char *end_reason;
  char err_code[32];                   /* the error code of relayd's error answer (respond.c's
                                        * error_body), "" while none was made */
  char err_text[200];                  /* ... and its message, cut */
  struct req_event *ev;                /* settle's figures; respond_done adds the answer and sends it
                                        * (owned: made by request_event when settle fills it, freed by
                                        * request_free; out of line, as a held stream needs none of
                                        * its 632 bytes until it ends) */
  bool ev_set;                         /* settle filled *ev */
  uint64_t t0_us, t_first_us;
  uint64_t t_upstream_us;      /* when the current upstream transfer started */
  struct rt_session *rt;       /* EP_REALTIME: its session while the upgrade waits on the upstream
                                * (realtime.c owns it; realtime_request_gone when r goes first) */

  /* the response cache (respcache.h) */
  bool rc_on;                  /* takes part: rc_key is its key */
  bool cache_hit;              /* answered from the cache, no upstream call */
  bool rc_dead;                /* its stream went over the entry bound: not stored */
  unsigned char rc_key[32];
  struct buf *rc_fill;         /* the stream's bytes as they went out (owned: respcache_request_free) */

  /* a model fallback chain (fallback.h) */
  int fb_next;                 /* models of the chain already taken */
  int fb_base;                 /* attempts made before the current model (route.c skips only later ones) */
  bool fb_used;                /* served by a model of the chain: route_model and price are its */
};

/* relay's state on one worker (worker_data): made by relay_attach, freed by relay_pool_free
 * (reqpool.c). */
#define REQ_CHUNKS 64                /* a worker's chunks for parsed request bodies (reqpool.c) */
#define REQ_CHUNK (16 * 1024)        /* one chunk; a larger tree goes on to the heap */

struct relay_local {
  struct snapshot *snap_cache; /* this worker's cached snapshot reference */
  uint64_t next_request_seq;
  uint16_t node_tag;
  uint64_t rng;                /* xorshift state for weighted channel choice */
  struct request *requests;    /* all live requests of this worker (doubly linked) */
  struct request *request_pool;/* idle request objects for reuse */
  size_t request_pool_len;
  struct rt_worker rt;         /* this worker's realtime sessions (realtime.c, rtwire.c) */
  char *slab;                  /* REQ_CHUNKS chunks for parsed request bodies (reqpool.c), or NULL;
                                * mapped for the process's life (a jsonarena region) */
  uint16_t chunk_free[REQ_CHUNKS]; /* indices of the free chunks, a stack */
  size_t nchunk_free;
};

static inline struct relay_local *local(struct worker *w)
{
  return worker_data(w);
}

/* The format the clients of an endpoint speak (OpenAI's before the endpoint is known). */
static inline const struct format *client_format(const struct endpoint_def *def)
{
  return def ? def->format : &format_openai;
}

/* The API the client spoke, for the access log and the log row: its format's name (openai,
 * anthropic, gemini, responses); "" before its path is known. */
static inline const char *inbound_api(const struct request *r)
{
  return r->client ? r->client->name : "";
}

/* r's event record, made when settle first needs it (owned by r, freed by request_free). NULL: out of
 * memory (settle then reports the event from its stack and leaves ev_set false). */
static inline struct req_event *request_event(struct request *r)
{
  if (!r->ev)
    r->ev = malloc(sizeof *r->ev);
  return r->ev;
}

/* Bounded copy that truncates silently (log fields have fixed widths). */
static inline void copy_str(char *dst, size_t n, const char *src)
{
  size_t l = src ? strnlen(src, n - 1) : 0;
  if (l)
    memcpy(dst, src, l);
  dst[l] = '\0';
}

#endif
