/* relay: see relay.h. */
#include "relay.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <zlib.h>

#include "adapt.h"
#include "billing.h"
#include "claude.h"
#include "gemini.h"
#include "health.h"
#include "limits.h"
#include "keys.h"
#include "log.h"
#include "media.h"
#include "openai.h"
#include "reasoning.h"
#include "reqbound.h"
#include "secret.h"
#include "snapshot.h"
#include "sse.h"
#include "util.h"
#include "worker.h"
#include "writer.h"

#define MAX_ATTEMPTS 12
#define ERRBODY_MAX (64 * 1024)
#define RESPONSE_MAX (64 << 20)        /* a non-streaming upstream answer */
#define EVENT_MAX (4 << 20)            /* one SSE event */
#define OUT_HIGH (256 * 1024)          /* pause the upstream above this many unsent bytes */
#define OUT_LOW (64 * 1024)            /* and let it go on below this */
/* MHD allocates this much with every callback response but fills chunked responses from the
 * connection's own pool, so a large value only costs memory per open stream */
#define STREAM_BLOCK 2048
#define STREAM_CURL_BUFFER 2048L      /* upstream read buffer of a stream: events are small */

enum endpoint { EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS, EP_MODELS, EP_MODEL_ONE, EP_MESSAGES, EP_GEMINI, EP_MEDIA,
                EP_BILLING_SUBSCRIPTION, EP_BILLING_USAGE };

struct endpoint_def {
  const char *method;
  const char *path;
  bool prefix;                 /* path is a prefix followed by an id */
  enum endpoint ep;
  enum api_kind api;
  const char *upstream_path;   /* path on an OpenAI-style channel; NULL: the same as path */
  enum media_kind media;       /* EP_MEDIA: which kind media.c validates and bills */
};

/* The route table: method + path -> handler kind. */
static const struct endpoint_def endpoints[] = {
    {"POST", "/v1/chat/completions", false, EP_CHAT, API_CHAT, NULL, MEDIA_NONE},
    {"POST", "/v1/completions", false, EP_COMPLETIONS, API_COMPLETIONS, NULL, MEDIA_NONE},
    {"POST", "/v1/embeddings", false, EP_EMBEDDINGS, API_EMBEDDINGS, NULL, MEDIA_NONE},
    {"GET", "/v1/models", false, EP_MODELS, API_CHAT, NULL, MEDIA_NONE},
    {"GET", "/v1/models/", true, EP_MODEL_ONE, API_CHAT, NULL, MEDIA_NONE},
    /* the Anthropic Messages API, relayed as an OpenAI chat request (claude.c converts both ways) */
    {"POST", "/v1/messages", false, EP_MESSAGES, API_CHAT, "/v1/chat/completions", MEDIA_NONE},
    /* Gemini's generateContent / streamGenerateContent, relayed as OpenAI chat (gemini.c) */
    {"POST", "/v1beta/models/", true, EP_GEMINI, API_CHAT, "/v1/chat/completions", MEDIA_NONE},
    /* relayed as they are to OpenAI-compatible channels; media.c validates and bills them */
    {"POST", "/v1/responses", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_RESPONSES},
    {"POST", "/v1/images/generations", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_IMAGE_GEN},
    {"POST", "/v1/images/edits", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_IMAGE_EDIT},
    {"POST", "/v1/audio/speech", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_SPEECH},
    {"POST", "/v1/audio/transcriptions", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_TRANSCRIBE},
    {"POST", "/v1/audio/translations", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_TRANSLATE},
    {"POST", "/v1/moderations", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_MODERATION},
    {"POST", "/v1/rerank", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_RERANK},
    /* the key's balance in OpenAI's legacy dashboard shape, as One API serves it */
    {"GET", "/dashboard/billing/subscription", false, EP_BILLING_SUBSCRIPTION, API_CHAT, NULL, MEDIA_NONE},
    {"GET", "/v1/dashboard/billing/subscription", false, EP_BILLING_SUBSCRIPTION, API_CHAT, NULL, MEDIA_NONE},
    {"GET", "/dashboard/billing/usage", false, EP_BILLING_USAGE, API_CHAT, NULL, MEDIA_NONE},
    {"GET", "/v1/dashboard/billing/usage", false, EP_BILLING_USAGE, API_CHAT, NULL, MEDIA_NONE},
};

enum phase {
  PH_BODY,          /* receiving the body */
  PH_UPSTREAM,      /* suspended, waiting on the upstream */
  PH_RESPOND,       /* resumed with a whole response ready in pending */
  PH_STREAM_START,  /* resumed to start an SSE response */
  PH_STREAMING,     /* SSE response queued; the reader drains out */
  PH_DONE,
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
  cJSON *root;
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
  CURL *easy;
  const struct snap_channel *channel;
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
  const char *fault;                   /* why relay itself cut the upstream transfer, or NULL */
  char retry_after[24];                /* the upstream's Retry-After on a 429/503, passed on */
  bool committed;                      /* bytes of this attempt go to the client */
  bool upstream_done;
  bool saw_done;
  bool saw_error_event;   /* the upstream's stream carried an OpenAI error event (relayed as is) */
  bool paused;
  struct buf resp;                     /* non-stream body, or the partial SSE event */
  size_t resp_scanned;                 /* stream: resp's first bytes known to hold no event end */
  struct buf errbody;
  struct buf out;                      /* SSE bytes ready for the client */
  size_t out_off;
  bool suspended;
  bool reader_waiting;                 /* suspended by the content reader */

  struct MHD_Response *pending;        /* built while suspended, queued on resume */
  unsigned pending_status;

  struct openai_to_claude_stream claude_out;   /* EP_MESSAGES streams: OpenAI chunks -> Anthropic events */
  struct openai_to_gemini_stream gemini_out;   /* EP_GEMINI streams: OpenAI chunks -> Gemini frames */
  bool gemini_out_used;                        /* gemini_out holds memory to free */
  char client_model[MODEL_NAME_MAX];           /* EP_GEMINI: the model named in the path */
  bool client_stream;                          /* EP_GEMINI: streamGenerateContent */
  struct claude_to_openai_stream claude_in;    /* anthropic channels: their events -> OpenAI chunks */
  struct gemini_to_openai_stream gemini_in;    /* gemini channels: their frames -> OpenAI chunks */
  char gemini_path[MODEL_NAME_MAX + 64];
  struct buf converted;                        /* OpenAI events made from an anthropic channel's */
  /* Anthropic and Gemini clients: their request stays in their format until a channel of another
   * format is chosen (see native_attempt) */
  cJSON *native;                               /* the client's parsed body (owned) */
  char *oai_text;                              /* the OpenAI chat request made from it, once needed */
  size_t oai_len;
  bool native_attempt;   /* this attempt passes the client's format through to a channel of the same
                          * format: request bytes (model mapping aside) and answer go unconverted */
  bool native_done;      /* native stream: its closing event came (message_stop, a finishReason, an error) */
  bool native_error;     /* ... and it was an error event */
  /* a reasoning suffix on the model name (-high, -thinking-N, ...; reasoning.h) */
  struct reasoning rs;
  char route_model[MODEL_NAME_MAX];    /* the name routes are looked up by: the client's, or its base */

  struct media_req mq;                         /* EP_MEDIA: what billing needs from the request */
  struct media_result mres;                    /* EP_MEDIA: what the upstream said was used */
  struct curl_slist *up_headers;               /* EP_MEDIA multipart: channel headers + the client's
                                                * Content-Type (owned; NULL: the channel's) */
  char up_ctype[128];                          /* the upstream answer's Content-Type */

  struct usage usage;
  bool usage_upstream;                 /* usage holds what the upstream reported */
  bool usage_final;                    /* ... in the event that ends its answer (not a running count) */
  size_t completion_chars;             /* text relay saw go out (counted in parsed JSON strings) */
  int final_status;
  const char *end_reason;
  uint64_t t0_us, t_first_us;
  uint64_t t_upstream_us;      /* when the current upstream transfer started */
};

/* ---------------------------------------------------------------- responses */

/* The API the client speaks; relay works in OpenAI's inside and converts at the edges. */
enum client_api { CLIENT_OPENAI, CLIENT_CLAUDE, CLIENT_GEMINI };

static enum client_api client_api(const struct request *r)
{
  if (!r->def)
    return CLIENT_OPENAI;
  return r->def->ep == EP_MESSAGES ? CLIENT_CLAUDE : r->def->ep == EP_GEMINI ? CLIENT_GEMINI : CLIENT_OPENAI;
}

static bool speaks_claude(const struct request *r)
{
  return client_api(r) == CLIENT_CLAUDE;
}

/* x-ratelimit-{limit,remaining,reset}-{requests,tokens}, as OpenAI sends them */
static void add_limit_headers(struct MHD_Response *resp, const struct limit_view *v, const char *kind)
{
  if (!v->set)
    return;
  char name[64], val[48];
  snprintf(name, sizeof name, "x-ratelimit-limit-%s", kind);
  snprintf(val, sizeof val, "%lld", (long long)v->limit);
  MHD_add_response_header(resp, name, val);
  snprintf(name, sizeof name, "x-ratelimit-remaining-%s", kind);
  snprintf(val, sizeof val, "%lld", (long long)v->remaining);
  MHD_add_response_header(resp, name, val);
  snprintf(name, sizeof name, "x-ratelimit-reset-%s", kind);
  limits_format_duration(v->reset_ms, val, sizeof val);
  MHD_add_response_header(resp, name, val);
}

static void add_common_headers(struct request *r, struct MHD_Response *resp)
{
  MHD_add_response_header(resp, "x-request-id", r->request_id);
  if (speaks_claude(r))
    MHD_add_response_header(resp, "request-id", r->request_id);   /* what Anthropic's SDKs read */
  add_limit_headers(resp, &r->lim.req, "requests");
  add_limit_headers(resp, &r->lim.tok, "tokens");
}

/* b's bytes as the response body (b is emptied), with the given Content-Type. */
static struct MHD_Response *body_response(struct request *r, struct buf *b, const char *content_type)
{
  size_t len;
  char *data = buf_steal(b, &len);
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, data ? data : (char *)"",
                                                              data ? MHD_RESPMEM_MUST_FREE
                                                                   : MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(resp, "Content-Type", content_type);
  add_common_headers(r, resp);
  return resp;
}

static struct MHD_Response *json_response(struct request *r, struct buf *b)
{
  return body_response(r, b, "application/json");
}

/* An error body in the client's API format, into b: OpenAI's {"error":{"message","type","param",
 * "code"}}, Anthropic's {"type":"error","error":{"type","message"}} on /v1/messages, Gemini's
 * {"error":{"code","message","status"}} on its endpoints. */
static void error_body(struct request *r, unsigned status, const char *type, const char *code, const char *param,
                       const char *msg, struct buf *b)
{
  if (client_api(r) != CLIENT_OPENAI) {
    char *body = speaks_claude(r) ? claude_error_body((int)status, msg) : gemini_error_body((int)status, msg);
    if (body)
      buf_append_str(b, body);
    free(body);
    return;
  }
  buf_append_str(b, "{\"error\":{\"message\":");
  buf_append_json_str(b, msg);
  buf_append_str(b, ",\"type\":");
  buf_append_json_str(b, type);
  buf_append_str(b, ",\"param\":");
  if (param)
    buf_append_json_str(b, param);
  else
    buf_append_str(b, "null");
  buf_append_str(b, ",\"code\":");
  if (code)
    buf_append_json_str(b, code);
  else
    buf_append_str(b, "null");
  buf_append_str(b, "}}");
}

static struct MHD_Response *error_response(struct request *r, unsigned status, const char *type,
                                           const char *code, const char *param, const char *msg)
{
  struct buf b;
  buf_init(&b, 8192);
  error_body(r, status, type, code, param, msg, &b);
  struct MHD_Response *resp = json_response(r, &b);
  if (status == 429 && code && strcmp(code, "insufficient_quota") == 0)
    MHD_add_response_header(resp, "x-should-retry", "false");
  return resp;
}

static enum MHD_Result queue_now(struct request *r, unsigned status, struct MHD_Response *resp)
{
  r->final_status = (int)status;
  r->phase = PH_DONE;
  if (!r->t_first_us)
    r->t_first_us = now_us_mono();
  enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result fail_now(struct request *r, unsigned status, const char *type,
                                const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static enum MHD_Result fail_now(struct request *r, unsigned status, const char *type,
                                const char *code, const char *param, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return queue_now(r, status, error_response(r, status, type, code, param, msg));
}

/* From outside the access handler: keep the response and resume the connection. */
static void respond_later(struct request *r, unsigned status, struct MHD_Response *resp)
{
  if (r->pending)
    MHD_destroy_response(r->pending);
  r->pending = resp;
  r->pending_status = status;
  r->final_status = (int)status;
  r->phase = PH_RESPOND;
  if (r->suspended) {
    r->suspended = false;
    worker_resume(r->w, r->conn);
  }
}

/* ---------------------------------------------------------------- settle and log */

/* Bounded copy that truncates silently (log fields have fixed widths). */
static void copy_str(char *dst, size_t n, const char *src)
{
  size_t l = src ? strnlen(src, n - 1) : 0;
  if (l)
    memcpy(dst, src, l);
  dst[l] = '\0';
}

/* Charges what the request used, gives back the rest of the reservation, and queues the log row.
 * Runs exactly once for every request that reserved quota. */
static void settle(struct request *r, const char *end_reason)
{
  if (!r->billing_open || r->settled)
    return;
  r->settled = true;
  r->end_reason = end_reason;
  const char *source = "none";
  char note[200] = "";
  int64_t charged = 0;
  double units = 0;
  bool produced = r->committed || (r->status_known && r->up_status < 400 && r->upstream_done);
  char media_note[200] = "";
  if (produced && r->def->media) {
    charged = media_charge(&r->mq, &r->rq, r->price, r->group_ratio, &r->mres, &r->usage, &source);
    media_describe(&r->mq, &r->mres, r->price, media_note, sizeof media_note);
    units = media_units(&r->mq, &r->mres, r->price);
  } else if (produced) {
    int64_t local_out = oai_tokens_from_chars(r->completion_chars);
    if (r->usage_upstream && r->usage.bad) {
      /* negative, fractional, huge or not a number: never free, never a fortune */
      r->usage_upstream = false;
      snprintf(note, sizeof note, "the upstream's usage held a count that is not one; relay counted");
      log_msg(LOG_WARN, "unusable usage from the upstream, billed by relay's own count", "request_id=%s channel=%lld",
              r->request_id, r->channel ? (long long)r->channel->id : 0LL);
    }
    if (r->usage_upstream) {
      source = "upstream";
      if (!r->usage_final && local_out > r->usage.completion_tokens) {
        /* the stream ended before the upstream's closing usage: bill what relay saw produced */
        r->usage.completion_tokens = local_out;
        source = "partial";
        snprintf(note, sizeof note, "the stream ended before the upstream's final usage; output counted by relay");
      }
    } else {
      memset(&r->usage, 0, sizeof r->usage);
      r->usage.prompt_tokens = r->rq.prompt_estimate;
      r->usage.completion_tokens = local_out;
      source = "local";
    }
    charged = billing_quota(r->price, r->group_ratio, &r->usage);
  }
  if (charged > r->reserved) {
    /* the reservation is the most this request could cost (its input bound and its output bound at
     * the dearest ratios): more means an upstream that reports more than it may have used, or a
     * model that answers longer than its price's max_output_tokens. The bound is charged, so no
     * balance ever goes below zero; the log says what was reported. */
    log_msg(LOG_WARN, "the usage exceeds the request's bound; the bound is charged",
            "request_id=%s channel=%lld computed=%lld bound=%lld", r->request_id,
            r->channel ? (long long)r->channel->id : 0LL, (long long)charged, (long long)r->reserved);
    snprintf(note, sizeof note, "the usage came to %lld, above this request's bound; the bound was charged",
             (long long)charged);
    charged = r->reserved;
  }
  const struct snap_token *t = r->token;
  ledger_settle(t->user->bal, t->unlimited ? NULL : t->bal, t->bal, r->reserved, charged);
  if (r->lim_open) {
    r->lim_open = false;
    limits_settle(&r->lim, produced ? r->usage.prompt_tokens + r->usage.completion_tokens : 0);
  }

  struct log_record rec;
  memset(&rec, 0, sizeof rec);
  copy_str(rec.request_id, sizeof rec.request_id, r->request_id);
  rec.created_at = now_unix();
  rec.type = produced ? LOGT_CONSUME : LOGT_ERROR;
  rec.user_id = t->user->id;
  copy_str(rec.username, sizeof rec.username, t->user->username);
  rec.token_id = t->id;
  copy_str(rec.token_name, sizeof rec.token_name, t->name);
  rec.channel_id = r->channel ? r->channel->id : 0;
  copy_str(rec.model, sizeof rec.model, r->rq.model);
  copy_str(rec.upstream_model, sizeof rec.upstream_model, r->upstream_model);
  copy_str(rec.group, sizeof rec.group, t->group);
  if (produced) {
    rec.prompt_tokens = r->usage.prompt_tokens;
    rec.completion_tokens = r->usage.completion_tokens;
  }
  rec.quota = charged;
  rec.status = r->final_status;
  rec.is_stream = r->rq.stream;
  uint64_t now = now_us_mono();
  rec.elapsed_ms = (int64_t)((now - r->t0_us) / 1000);
  rec.first_byte_ms = r->t_first_us ? (int64_t)((r->t_first_us - r->t0_us) / 1000) : 0;
  copy_str(rec.end_reason, sizeof rec.end_reason, end_reason);
  copy_str(rec.usage_source, sizeof rec.usage_source, source);
  if (r->attempts > 1 || media_note[0]) {
    struct buf c;
    buf_init(&c, sizeof rec.content - 1);
    buf_append_str(&c, media_note);
    if (r->attempts > 1)
      buf_append_str(&c, media_note[0] ? "; channels tried:" : "channels tried:");
    for (int i = 0; r->attempts > 1 && i < r->attempts && i < MAX_ATTEMPTS; i++)
      buf_appendf(&c, " %lld", (long long)r->tried[i]);
    copy_str(rec.content, sizeof rec.content, c.data ? c.data : "");
    buf_free(&c);
  }
  rec.user_bal = t->user->bal;
  rec.token_bal = t->unlimited ? NULL : t->bal;
  struct billing_explain ex = {
      .price = produced ? r->price : NULL,
      .group = t->group,
      .group_ratio = r->group_ratio,
      .usage = produced ? &r->usage : NULL,
      .units = units,
      .usage_source = source,
      .reserved = r->reserved,
      .charged = charged,
      .note = note[0] ? note : media_note,
  };
  billing_explain_json(&ex, rec.billing, sizeof rec.billing);
  writer_submit(&rec);

  struct req_event ev;
  copy_str(ev.request_id, sizeof ev.request_id, r->request_id);
  ev.ts_ms = now_unix_ms();
  ev.channel_id = rec.channel_id;
  copy_str(ev.model, sizeof ev.model, r->rq.model);
  /* only names the snapshot knows get their own stats series (stats.h: the tables are bounded) */
  ev.model_known = strlen(r->rq.model) < sizeof ev.model &&
                   (snapshot_price(r->snap, r->rq.model) || snapshot_route(r->snap, t->group, r->rq.model));
  copy_str(ev.token, sizeof ev.token, t->name);
  copy_str(ev.user, sizeof ev.user, t->user->username);
  ev.status = r->final_status;
  ev.stream = r->rq.stream;
  ev.prompt_tokens = rec.prompt_tokens;
  ev.completion_tokens = rec.completion_tokens;
  ev.cached_tokens = produced ? r->usage.cached_tokens : 0;
  ev.quota = charged;
  ev.elapsed_us = (int64_t)(now - r->t0_us);
  ev.first_byte_us = r->t_first_us ? (int64_t)(r->t_first_us - r->t0_us) : 0;
  copy_str(ev.end_reason, sizeof ev.end_reason, end_reason);
  stats_record(worker_stats(r->w), &ev, !produced || strcmp(end_reason, "done") != 0);
}

/* Tells the writer that r holds a reservation (it becomes durable within a batch unless r settles
 * in the same batch; see writer.h). */
static void note_reservation(struct request *r)
{
  const struct snap_token *t = r->token;
  struct log_record rec;
  memset(&rec, 0, sizeof rec);
  rec.reservation = true;
  copy_str(rec.request_id, sizeof rec.request_id, r->request_id);
  rec.created_at = now_unix();
  rec.user_id = t->user->id;
  copy_str(rec.username, sizeof rec.username, t->user->username);
  rec.token_id = t->id;
  copy_str(rec.token_name, sizeof rec.token_name, t->name);
  copy_str(rec.model, sizeof rec.model, r->rq.model);
  copy_str(rec.group, sizeof rec.group, t->group);
  rec.is_stream = r->rq.stream;
  rec.quota = r->reserved;
  rec.token_bal = t->unlimited ? NULL : t->bal;     /* only read as "limited"; never moved */
  writer_submit(&rec);
}

/* ---------------------------------------------------------------- request objects */

#define POOL_MAX 1024               /* idle request objects a worker keeps */
#define POOL_BUF_KEEP (64 * 1024)    /* buffers up to this size are kept with them */

static void buf_trim(struct buf *b)
{
  if (b->alloc > POOL_BUF_KEEP)
    buf_free(b);
  else
    buf_reset(b);
}

/* relay's state on one worker (worker_data): made by relay_attach, freed by relay_pool_free. */
struct relay_local {
  struct snapshot *snap_cache; /* this worker's cached snapshot reference */
  uint64_t next_request_seq;
  uint16_t node_tag;
  uint64_t rng;                /* xorshift state for weighted channel choice */
  struct request *requests;    /* all live requests of this worker (doubly linked) */
  struct request *request_pool;/* idle request objects for reuse */
  size_t request_pool_len;
};

static inline struct relay_local *local(struct worker *w)
{
  return worker_data(w);
}

static void *relay_attach(struct worker *w, uint64_t seed)
{
  (void)w;
  struct relay_local *l = calloc(1, sizeof *l);
  if (l) {
    l->rng = seed ? seed : 1;
    l->node_tag = (uint16_t)(seed >> 17);
  }
  return l;
}

static bool relay_busy(struct worker *w)
{
  return local(w)->requests != NULL;
}

/* A request object from the worker's pool (its buffers keep their memory), or a new one. */
static struct request *request_new(struct worker *w, struct MHD_Connection *c)
{
  struct request *r = local(w)->request_pool;
  if (r) {
    local(w)->request_pool = r->next;
    local(w)->request_pool_len--;
    struct buf body = r->body, resp = r->resp, errbody = r->errbody, out = r->out, conv = r->converted;
    memset(r, 0, sizeof *r);
    r->body = body;
    r->resp = resp;
    r->errbody = errbody;
    r->out = out;
    r->converted = conv;
  } else {
    r = calloc(1, sizeof *r);
    if (!r)
      return NULL;
    buf_init(&r->body, (size_t)worker_cfg(w)->max_body_bytes);
    buf_init(&r->resp, RESPONSE_MAX);
    buf_init(&r->errbody, ERRBODY_MAX);
    buf_init(&r->out, (size_t)16 << 20);
    buf_init(&r->converted, EVENT_MAX);
  }
  r->w = w;
  r->conn = c;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  r->cc = ci ? ci->socket_context : NULL;
  if (r->cc) {
    r->cc->req = r;
    r->cc->wait = CONN_WAIT_BODY;       /* the header is in; the body is owed now */
    r->cc->since_us = now_us_mono();
  }
  r->t0_us = now_us_mono();
  r->snap = snapshot_acquire(&local(w)->snap_cache);
  worker_set_cfg(w, &local(w)->snap_cache->cfg);   /* settings published with the snapshot (reloadable keys) */
  r->body.cap = (size_t)worker_cfg(w)->max_body_bytes;   /* a pooled buffer follows a reload */
  snprintf(r->request_id, sizeof r->request_id, "%011llx%04x%02x%06llx",
           (unsigned long long)now_unix_ms(), local(w)->node_tag, worker_index(w) & 0xff,
           (unsigned long long)(local(w)->next_request_seq++ & 0xffffff));
  r->next = local(w)->requests;
  if (local(w)->requests)
    local(w)->requests->prev = r;
  local(w)->requests = r;
  atomic_fetch_add_explicit(&worker_counters(w)->requests_total, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&worker_counters(w)->in_flight, 1, memory_order_relaxed);
  return r;
}

static void release_channel(struct request *r, enum health_outcome out, const char *detail)
{
  if (!r->held)
    return;
  health_release(r->held, &r->snap->opt, r->held_trial, out, r->attempt_ttfb_ms, detail);
  r->held = NULL;
  r->held_trial = false;
}

static void detach_upstream(struct request *r)
{
  release_channel(r, OUTCOME_ABANDON, NULL);    /* no-op when the outcome was reported */
  if (!r->easy)
    return;
  stats_upstream_done(worker_stats(r->w), r->channel->id, (int64_t)(now_us_mono() - r->t_upstream_us));
  curl_multi_remove_handle(worker_multi(r->w), r->easy);
  worker_easy_put(r->w, r->easy);
  r->easy = NULL;
  r->paused = false;
}

static void request_free(struct request *r)
{
  struct worker *w = r->w;
  detach_upstream(r);
  if (r->cc && r->cc->req == r) {
    /* the connection waits for its next request header from now on */
    r->cc->req = NULL;
    r->cc->wait = CONN_WAIT_HEADER;
    r->cc->since_us = now_us_mono();
  }
  r->cc = NULL;
  if (r->prev)
    r->prev->next = r->next;
  else
    local(w)->requests = r->next;
  if (r->next)
    r->next->prev = r->prev;
  if (r->pending)
    MHD_destroy_response(r->pending);
  if (r->lim_open) {
    limits_undo(&r->lim);
    r->lim_open = false;
  }
  cJSON_Delete(r->root);
  r->root = NULL;
  cJSON_Delete(r->native);
  r->native = NULL;
  free(r->oai_text);
  r->oai_text = NULL;
  free(r->up_body);
  r->up_body = NULL;
  curl_slist_free_all(r->up_headers);
  r->up_headers = NULL;
  if (r->gemini_out_used)
    gemini_stream_from_openai_free(&r->gemini_out);
  if (r->inflater) {
    inflateEnd(r->inflater);
    free(r->inflater);
    r->inflater = NULL;
  }
  snapshot_release(r->snap);
  r->snap = NULL;
  atomic_fetch_sub_explicit(&worker_counters(w)->in_flight, 1, memory_order_relaxed);
  if (local(w)->request_pool_len < POOL_MAX && !worker_stopping(w)) {
    buf_trim(&r->body);
    buf_trim(&r->resp);
    buf_trim(&r->errbody);
    buf_trim(&r->out);
    buf_trim(&r->converted);
    r->next = local(w)->request_pool;
    local(w)->request_pool = r;
    local(w)->request_pool_len++;
    return;
  }
  buf_free(&r->body);
  buf_free(&r->resp);
  buf_free(&r->errbody);
  buf_free(&r->out);
  buf_free(&r->converted);
  free(r);
}

void relay_pool_free(struct worker *w)
{
  while (local(w)->request_pool) {
    struct request *r = local(w)->request_pool;
    local(w)->request_pool = r->next;
    buf_free(&r->body);
    buf_free(&r->resp);
    buf_free(&r->errbody);
    buf_free(&r->out);
    buf_free(&r->converted);
    free(r);
  }
  local(w)->request_pool_len = 0;
  snapshot_release(local(w)->snap_cache);
  free(local(w));
}

/* ---------------------------------------------------------------- auth */

/* Checks the key and its owner; on refusal queues the error and returns false. */
static bool authenticate(struct request *r, enum MHD_Result *ret)
{
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  /* Anthropic's clients send the key as x-api-key, Gemini's as x-goog-api-key or ?key= */
  const char *xkey = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-api-key");
  if ((!xkey || !*xkey) && client_api(r) == CLIENT_GEMINI) {
    xkey = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-goog-api-key");
    if (!xkey || !*xkey)
      xkey = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "key");
  }
  if ((!h || !*h) && (!xkey || !*xkey)) {
    *ret = fail_now(r, 401, "invalid_request_error", "missing_api_key", NULL,
                    "You didn't provide an API key. Send it in the Authorization header as "
                    "'Authorization: Bearer sk-...' (or as x-api-key).");
    return false;
  }
  if (h && *h && !has_prefix_ci(h, "Bearer ")) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "The Authorization header must have the form 'Bearer sk-...'.");
    return false;
  }
  const char *key = h && *h ? h + 7 : xkey;
  while (*key == ' ')
    key++;
  const char *body = key_body(key);
  size_t blen = strlen(body);
  const char *dash = memchr(body, '-', blen);
  size_t klen = dash ? (size_t)(dash - body) : blen;
  if (klen == 0 || klen > KEY_MAX_LEN) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "Incorrect API key provided.");
    return false;
  }
  if (dash) {
    int64_t id;
    if (parse_int64(dash + 1, &id) < 0 || id <= 0) {
      *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                      "Incorrect API key provided: a channel pin must be 'sk-KEY-CHANNELID' with a "
                      "numeric id.");
      return false;
    }
    r->pin_channel = id;
  }
  char hash[KEY_HASH_HEX_LEN + 1];
  key_hash(body, klen, hash);
  const struct snap_token *t = strmap_getn(&r->snap->tokens, hash, KEY_HASH_HEX_LEN);
  if (!t) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "Incorrect API key provided.");
    return false;
  }
  if (t->status != STATUS_ENABLED) {
    const char *why = t->status == STATUS_EXPIRED ? "has expired"
                      : t->status == STATUS_EXHAUSTED ? "has no quota left" : "is disabled";
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL, "This API key %s.", why);
    return false;
  }
  if (t->expired_time != -1 && t->expired_time < now_unix()) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL, "This API key has expired.");
    return false;
  }
  if (!t->unlimited && atomic_load_explicit(&t->bal->avail, memory_order_relaxed) <= 0) {
    *ret = fail_now(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                    "This API key has no quota left.");
    return false;
  }
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!token_allows_addr(t, ci ? ci->client_addr : NULL)) {
    *ret = fail_now(r, 403, "permission_error", "ip_not_allowed", NULL,
                    "This API key may not be used from your address.");
    return false;
  }
  if (t->user->status != STATUS_ENABLED) {
    *ret = fail_now(r, 403, "permission_error", "user_disabled", NULL,
                    "The user that owns this API key is disabled.");
    return false;
  }
  if (atomic_load_explicit(&t->user->bal->avail, memory_order_relaxed) <= 0) {
    *ret = fail_now(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                    "The user that owns this API key has no quota left.");
    return false;
  }
  if (r->pin_channel && t->user->role < ROLE_ADMIN) {
    *ret = fail_now(r, 403, "permission_error", "channel_pin_forbidden", NULL,
                    "Only an administrator's key may pin a channel with sk-KEY-CHANNELID.");
    return false;
  }
  r->token = t;
  return true;
}

/* ---------------------------------------------------------------- models */

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The models the key may use: served in its group, and in its allow-list when it has one. */
static size_t usable_models(struct request *r, const char ***out)
{
  const struct snapshot *s = r->snap;
  const char **list = malloc((s->routes.count + 1) * sizeof *list);
  size_t n = 0;
  if (!list)
    return 0;
  for (size_t i = 0; i < s->routes.nslots; i++) {
    void *v;
    if (!strmap_slot(&s->routes, i, &v))
      continue;
    const struct route *rt = v;
    if (strcmp(rt->group, r->token->group) == 0 && token_allows_model(r->token, rt->model))
      list[n++] = rt->model;
  }
  qsort(list, n, sizeof *list, cmp_str);
  *out = list;
  return n;
}

static void append_model(struct buf *b, const char *id)
{
  buf_append_str(b, "{\"id\":");
  buf_append_json_str(b, id);
  buf_append_str(b, ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"relay\"}");
}

static enum MHD_Result serve_models(struct request *r, const char *url)
{
  const char **list = NULL;
  size_t n = usable_models(r, &list);
  struct buf b;
  buf_init(&b, (size_t)1 << 26);
  enum MHD_Result ret;
  if (r->def->ep == EP_MODELS) {
    buf_append_str(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
      if (i)
        buf_append_str(&b, ",");
      append_model(&b, list[i]);
    }
    buf_append_str(&b, "]}");
    ret = queue_now(r, 200, json_response(r, &b));
  } else {
    const char *id = url + strlen(r->def->path);
    const char **hit = bsearch(&id, list, n, sizeof *list, cmp_str);
    if (hit) {
      append_model(&b, *hit);
      ret = queue_now(r, 200, json_response(r, &b));
    } else {
      ret = fail_now(r, 404, "invalid_request_error", "model_not_found", "model",
                     "The model '%.200s' does not exist or you do not have access to it.", id);
    }
  }
  buf_free(&b);
  free(list);
  return ret;
}

/* ---------------------------------------------------------------- balance */

/* GET /dashboard/billing/subscription and /usage (also under /v1), as One API answers them: with
 * display_token_stat the key's own quota (remaining + used), else its user's; in USD with
 * display_in_currency (500000 quota = 1 USD), else in quota units. An unlimited key's limits are
 * 100000000. access_until is the key's expiry (0 = never, and always 0 for user figures).
 * usage.total_usage is in hundredths (cents when in USD). Figures include charges not yet
 * written to the database. */
/* The shortest decimal that reads back as v (how Go's encoding/json writes float64). */
static void fmt_number(char *out, size_t n, double v)
{
  if (v > -1e18 && v < 1e18 && v == (double)(int64_t)v) {
    snprintf(out, n, "%lld", (long long)v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

static enum MHD_Result serve_billing(struct request *r)
{
  const struct snap_token *t = r->token;
  const struct snap_options *o = &r->snap->opt;
  int64_t remain, used, access_until = 0;
  if (o->display_token_stat) {
    remain = atomic_load(&t->bal->avail);
    /* an unlimited key's remaining quota does not move: its use is counted apart */
    used = t->unlimited ? t->used_at_load + atomic_load(&t->bal->spent) - t->spent_at_load : t->quota_total - remain;
    access_until = t->expired_time > 0 ? t->expired_time : 0;
  } else {
    remain = atomic_load(&t->user->bal->avail);
    used = t->user->quota_total - remain;
  }
  if (used < 0)
    used = 0;
  double scale = o->display_in_currency ? (double)QUOTA_PER_USD : 1.0;
  struct buf b;
  buf_init(&b, 4096);
  if (r->def->ep == EP_BILLING_SUBSCRIPTION) {
    double amount = (double)(remain + used) / scale;
    if (o->display_token_stat && t->unlimited)
      amount = 100000000;
    char a[40];
    fmt_number(a, sizeof a, amount);
    buf_appendf(&b, "{\"object\":\"billing_subscription\",\"has_payment_method\":true,"
                "\"soft_limit_usd\":%s,\"hard_limit_usd\":%s,\"system_hard_limit_usd\":%s,"
                "\"access_until\":%lld}", a, a, a, (long long)access_until);
  } else {
    char u[40];
    fmt_number(u, sizeof u, (double)used / scale * 100.0);
    buf_appendf(&b, "{\"object\":\"list\",\"total_usage\":%s}", u);
  }
  return queue_now(r, 200, json_response(r, &b));
}

/* ---------------------------------------------------------------- upstream */

static uint64_t rng_next(struct worker *w)
{
  uint64_t x = local(w)->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return local(w)->rng = x;
}

static bool tried(const struct request *r, int64_t id)
{
  for (int i = 0; i < r->attempts; i++)
    if (r->tried[i] == id)
      return true;
  return false;
}

/* Why choose_channel found nothing. */
struct choice_miss {
  int busy, open, disabled;     /* candidates skipped for each reason */
  int64_t open_for_ms;          /* the soonest a breaker lets a trial through */
};

/* Pick among the usable candidates of a tier: weighted random, or (routing = latency) the lowest
 * latency average; a channel with no sample yet counts as fastest, so each gets measured. */
static int pick_in_tier(struct request *r, const struct route_tier *tier, const bool *ok)
{
  int total = 0;
  double best = -1;
  bool latency = r->snap->opt.routing == ROUTING_LATENCY;
  for (size_t i = 0; i < tier->n; i++) {
    if (!ok[i])
      continue;
    if (latency) {
      double e = health_ewma_ms(tier->chans[i]->health);
      if (best < 0 || e < best) {
        best = e;
        total = 0;
      }
      if (e > best)
        continue;
    }
    total += tier->weights[i];
  }
  if (total == 0)
    return -1;
  int pick = (int)(rng_next(r->w) % (uint64_t)total);
  for (size_t i = 0; i < tier->n; i++) {
    if (!ok[i] || (latency && health_ewma_ms(tier->chans[i]->health) > best))
      continue;
    if (pick < tier->weights[i])
      return (int)i;
    pick -= tier->weights[i];
  }
  return -1;
}

/* The next channel: the highest priority tier with an untried channel that health allows (not
 * disabled, breaker not open, below its max concurrency), chosen inside the tier by the routing
 * option. The channel's slot is taken (r->held): a full channel sends the request on to the next
 * one of the tier, then to lower tiers. */
static const struct snap_channel *choose_channel(struct request *r, struct choice_miss *miss)
{
  memset(miss, 0, sizeof *miss);
  int64_t now_ms = now_unix_ms();
  if (r->pin_channel) {
    const struct snap_channel *c = r->attempts == 0 ? snapshot_channel(r->snap, r->pin_channel) : NULL;
    if (c && c->status == STATUS_ENABLED) {
      bool trial = false;
      /* a pinned request ignores the breaker but not the channel's concurrency */
      if (c->max_concurrency > 0 && atomic_load(&c->health->in_flight) >= c->max_concurrency) {
        miss->busy++;
        return NULL;
      }
      atomic_fetch_add(&c->health->in_flight, 1);
      r->held = c;
      r->held_trial = trial;
    }
    return c;
  }
  const struct route *rt = snapshot_route(r->snap, r->token->group, r->route_model);
  if (!rt)
    return NULL;
  for (size_t t = 0; t < rt->ntiers; t++) {
    const struct route_tier *tier = &rt->tiers[t];
    bool ok[tier->n];
    for (size_t i = 0; i < tier->n; i++) {
      const struct snap_channel *c = tier->chans[i];
      ok[i] = false;
      if (tried(r, c->id))
        continue;
      switch (health_check(c, now_ms)) {
      case PICK_OK:
        ok[i] = true;
        break;
      case PICK_BUSY:
        miss->busy++;
        atomic_fetch_add_explicit(&c->health->busy_total, 1, memory_order_relaxed);
        break;
      case PICK_OPEN: {
        miss->open++;
        int64_t f = health_open_for_ms(c->health, now_ms);
        if (!miss->open_for_ms || (f && f < miss->open_for_ms))
          miss->open_for_ms = f ? f : 1000;
        break;
      }
      case PICK_DISABLED:
        miss->disabled++;
        break;
      }
    }
    for (;;) {
      int i = pick_in_tier(r, tier, ok);
      if (i < 0)
        break;
      bool trial;
      if (health_acquire(tier->chans[i], now_ms, &trial)) {
        r->held = tier->chans[i];
        r->held_trial = trial;
        return tier->chans[i];
      }
      ok[i] = false;      /* lost a race for its last slot or its trial: the next one */
      miss->busy++;
    }
  }
  return NULL;
}

static void stream_event(struct request *r, const char *ev, size_t evlen)
{
  const char *data;
  size_t dlen;
  if (r->def->media) {
    /* a Responses API stream: named events, relayed as they come; the last carries the usage */
    if (sse_event_data(ev, evlen, &data, &dlen) == 0 && media_responses_event(data, dlen, &r->mres))
      r->saw_done = true;
    r->saw_error_event |= r->mres.error_event;    /* relay adds no error event of its own after it */
    if (buf_append(&r->out, ev, evlen) < 0)
      log_msg(LOG_WARN, "stream output buffer full, event dropped", "request_id=%s", r->request_id);
    return;
  }
  if (sse_event_data(ev, evlen, &data, &dlen) == 0) {
    if (dlen >= 6 && memcmp(data, "[DONE]", 6) == 0) {
      r->saw_done = true;
    } else {
      /* every event is parsed: usage, text and errors are read from the JSON, never by bytes */
      cJSON *j = cJSON_ParseWithLength(data, dlen);
      const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
      const cJSON *uo = cJSON_GetObjectItemCaseSensitive(j, "usage");
      bool has_usage = cJSON_IsObject(uo);
      /* an anthropic or gemini channel's usage is read from its own events (upstream_event) */
      if (has_usage && !r->native_attempt && (r->channel->api == UPSTREAM_OPENAI || r->channel->api == UPSTREAM_AZURE)) {
        struct usage u;
        oai_parse_usage(uo, &u);
        r->usage = u;
        r->usage_upstream = true;
        r->usage_final = true;       /* OpenAI sends it once, in the last chunk */
      }
      r->completion_chars += adapt_text_chars(choices);
      r->saw_error_event |= cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"));
      /* the chunk relay asked for on the client's behalf: usage and no choices */
      bool usage_only = has_usage && (!choices || (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) == 0));
      cJSON_Delete(j);
      if (usage_only && !r->rq.client_wants_usage)
        return;         /* the client did not ask for it: relay asked for billing's sake */
    }
  }
  if (client_api(r) != CLIENT_OPENAI) {
    char err[256];
    if (sse_event_data(ev, evlen, &data, &dlen) == 0 &&
        (speaks_claude(r) ? claude_stream_from_openai_feed(&r->claude_out, data, dlen, &r->out, err, sizeof err)
                          : gemini_stream_from_openai_feed(&r->gemini_out, data, dlen, &r->out, err, sizeof err)) < 0)
      log_msg(LOG_WARN, "an upstream event could not be converted, dropped", "request_id=%s error=\"%s\"",
              r->request_id, err);
    return;
  }
  if (buf_append(&r->out, ev, evlen) < 0)
    log_msg(LOG_WARN, "stream output buffer full, event dropped", "request_id=%s", r->request_id);
}

/* Relays the OpenAI events an adapter wrote into r->converted. */
static void relay_converted(struct request *r)
{
  size_t off = 0, l;
  while ((l = sse_event_len(r->converted.data + off, r->converted.len - off)) > 0) {
    stream_event(r, r->converted.data + off, l);
    off += l;
  }
}

/* One event of a native stream (Anthropic events to an Anthropic client, Gemini frames to a Gemini
 * client): relayed as it came; billing reads the usage in it (Anthropic: message_start and
 * message_delta; Gemini: usageMetadata), and the closing event is noted. Only events that can carry
 * these are parsed. */
static void native_event(struct request *r, const char *ev, size_t evlen)
{
  const char *data;
  size_t dlen;
  if (sse_event_data(ev, evlen, &data, &dlen) == 0) {
    cJSON *j = cJSON_ParseWithLength(data, dlen);
    if (speaks_claude(r)) {
      /* the data's own "type" names the event (the "event:" line repeats it) */
      const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
      const char *ty = cJSON_IsString(type) ? type->valuestring : "";
      if (strcmp(ty, "message_start") == 0 || strcmp(ty, "message_delta") == 0) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(msg ? msg : j, "usage");
        if (cJSON_IsObject(u)) {
          claude_read_usage(u, &r->usage);
          r->usage_upstream = true;
          r->usage_final = strcmp(ty, "message_delta") == 0;   /* output_tokens: the total so far */
        }
      } else if (strcmp(ty, "content_block_delta") == 0) {
        r->completion_chars += adapt_text_chars(cJSON_GetObjectItemCaseSensitive(j, "delta"));
      }
      bool stop = strcmp(ty, "message_stop") == 0, error = strcmp(ty, "error") == 0;
      if (stop || error) {
        r->native_done = true;
        r->native_error = error;
      }
    } else {
      const cJSON *candidates = cJSON_GetObjectItemCaseSensitive(j, "candidates");
      r->completion_chars += adapt_text_chars(candidates);
      const cJSON *c0 = cJSON_GetArrayItem(candidates, 0);
      bool finished = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c0, "finishReason"));
      const cJSON *um = cJSON_GetObjectItemCaseSensitive(j, "usageMetadata");
      if (cJSON_IsObject(um)) {
        gemini_read_usage(um, &r->usage);
        r->usage_upstream = true;
        r->usage_final = finished;     /* earlier frames carry running counts */
      }
      if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"))) {
        r->native_done = true;
        r->native_error = true;
      }
      if (finished)
        r->native_done = true;
    }
    cJSON_Delete(j);
  }
  if (buf_append(&r->out, ev, evlen) < 0)
    log_msg(LOG_WARN, "stream output buffer full, event dropped", "request_id=%s", r->request_id);
}

/* One whole event from the upstream: an anthropic or gemini channel's is first turned into OpenAI
 * chunks. */
static void upstream_event(struct request *r, char *ev, size_t evlen)
{
  /* the single point every upstream event passes (native, OpenAI, or converted after): the key is
   * redacted from it before any of it can reach the client, and an error event is noted for the
   * channel's health */
  evlen = health_redact(ev, evlen, r->channel->key);
  if (r->stream_health == OUTCOME_OK)
    r->stream_health = health_stream_event(ev, evlen, r->snap->opt.disable_keywords, r->stream_detail,
                                           sizeof r->stream_detail);
  if (r->native_attempt) {
    native_event(r, ev, evlen);
    return;
  }
  if (r->channel->api == UPSTREAM_OPENAI || r->channel->api == UPSTREAM_AZURE) {
    stream_event(r, ev, evlen);
    return;
  }
  const char *name, *data;
  size_t nlen, dlen;
  char event[64], err[256];
  if (sse_event_data(ev, evlen, &data, &dlen) < 0)
    return;                       /* comments and keep-alives */
  event[0] = '\0';
  if (sse_event_field(ev, evlen, "event", &name, &nlen) == 0 && nlen < sizeof event) {
    memcpy(event, name, nlen);
    event[nlen] = '\0';
  }
  buf_reset(&r->converted);
  int rc = r->channel->api == UPSTREAM_GEMINI
               ? gemini_stream_to_openai_feed(&r->gemini_in, data, dlen, &r->converted, err, sizeof err)
               : claude_stream_to_openai_feed(&r->claude_in, event[0] ? event : NULL, data, dlen,
                                              &r->converted, err, sizeof err);
  if (rc < 0) {
    log_msg(LOG_WARN, "an upstream event could not be converted, dropped", "request_id=%s error=\"%s\"",
            r->request_id, err);
    return;
  }
  /* billing reads the channel's own usage (with its cache writes), kept by the converter */
  const struct usage *cu = r->channel->api == UPSTREAM_GEMINI ? &r->gemini_in.usage : &r->claude_in.usage;
  if (cu->prompt_tokens || cu->completion_tokens || cu->bad) {
    r->usage = *cu;
    r->usage_upstream = true;
    r->usage_final = (r->channel->api == UPSTREAM_GEMINI ? r->gemini_in.finish_reason : r->claude_in.finish_reason) != NULL;
  }
  relay_converted(r);
}

static void wake_reader(struct request *r)
{
  if (r->reader_waiting) {
    r->reader_waiting = false;
    r->suspended = false;
    worker_resume(r->w, r->conn);
  }
}

static size_t on_upstream_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
  struct request *r = ud;
  size_t n = size * nmemb;
  r->up_last_us = now_us_mono();
  if (!r->status_known) {
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->up_status);
    r->status_known = true;
    char *ct = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
    copy_str(r->up_ctype, sizeof r->up_ctype, ct);
    if (r->up_status >= 200 && r->up_status < 300)
      r->attempt_ttfb_ms = (double)(now_us_mono() - r->attempt_t0_us) / 1000.0;
    if (r->up_status >= 200 && r->up_status < 300 && r->rq.stream) {
      r->committed = true;
      r->final_status = (int)r->up_status;
      r->phase = PH_STREAM_START;
      /* no further attempt: the parsed request is not needed while the stream lasts
       * (curl has sent the body already: the response is arriving) */
      cJSON_Delete(r->root);
      r->root = NULL;
      cJSON_Delete(r->native);
      r->native = NULL;
      if (r->suspended) {
        r->suspended = false;
        worker_resume(r->w, r->conn);
      }
    }
  }
  if (r->up_status < 200 || r->up_status >= 300) {
    buf_append(&r->errbody, ptr, n < ERRBODY_MAX - r->errbody.len ? n : ERRBODY_MAX - r->errbody.len);
    return n;
  }
  if (!r->rq.stream) {
    if (buf_append(&r->resp, ptr, n) < 0) {
      r->fault = "its answer is larger than 64 MiB";
      return 0;       /* larger than RESPONSE_MAX: abort the transfer */
    }
    return n;
  }
  if (r->out.len - r->out_off > OUT_HIGH) {
    r->paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (r->resp.len + n > EVENT_MAX || buf_append(&r->resp, ptr, n) < 0) {
    r->fault = "it sent a stream event larger than 4 MiB";
    return 0;         /* one event larger than EVENT_MAX */
  }
  /* an event arriving in many pieces is scanned once, not from its start at every piece */
  size_t off = 0, evlen, from = r->resp_scanned > 2 ? r->resp_scanned - 2 : 0;
  while ((evlen = sse_event_len(r->resp.data + off + from, r->resp.len - off - from)) > 0) {
    evlen += from;
    from = 0;
    upstream_event(r, r->resp.data + off, evlen);
    off += evlen;
  }
  buf_consume(&r->resp, off);
  r->resp_scanned = r->resp.len;
  wake_reader(r);
  return n;
}

static void fail_upstream(struct request *r, CURLcode res);

/* A request this channel cannot take: answered as if the upstream had refused it with 400. */
static void refuse_attempt(struct request *r, const char *why)
{
  release_channel(r, OUTCOME_ABANDON, NULL);     /* relay's refusal says nothing about the channel */
  r->status_known = true;
  r->up_status = 400;
  buf_reset(&r->errbody);
  buf_append_str(&r->errbody, "{\"error\":{\"message\":");
  buf_append_json_str(&r->errbody, why);
  buf_append_str(&r->errbody, "}}");
  fail_upstream(r, CURLE_OK);
}

/* The channel's headers with the client's multipart Content-Type (its boundary) instead of JSON's.
 * Returns a new list (caller frees with curl_slist_free_all) or NULL. */
static struct curl_slist *media_channel_headers(const struct curl_slist *chan, struct MHD_Connection *c)
{
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  char line[512];
  if (!ct || snprintf(line, sizeof line, "Content-Type: %s", ct) >= (int)sizeof line)
    return NULL;
  struct curl_slist *out = curl_slist_append(NULL, line), *n;
  for (const struct curl_slist *h = chan; out && h; h = h->next) {
    if (strncasecmp(h->data, "Content-Type:", 13) == 0)
      continue;
    if (!(n = curl_slist_append(out, h->data))) {
      curl_slist_free_all(out);
      return NULL;
    }
    out = n;
  }
  return out;
}

/* An Anthropic or Gemini client's request as the OpenAI chat request relay converts from (made
 * once, the first time a channel of another format is tried): r->root and r->oai_text. The
 * routing and billing fields (r->rq) stay those read from the client's own body. */
static int openai_view(struct request *r, char *err, size_t errlen)
{
  if (r->root)
    return 0;
  char *text = speaks_claude(r) ? claude_request_to_openai(r->native, r->rq.model, err, errlen)
                                : gemini_request_to_openai(r->native, r->rq.model, r->rq.stream, err, errlen);
  if (!text)
    return -1;
  struct oai_request rq;
  const char *param;
  r->root = oai_parse_request(API_CHAT, text, strlen(text), &rq, err, errlen, &param);
  if (!r->root) {
    free(text);
    return -1;
  }
  r->rq.client_wants_usage = rq.client_wants_usage;
  r->oai_text = text;
  r->oai_len = strlen(text);
  return 0;
}

/* Writes the reasoning suffix into the converted upstream body r->up_body (format fmt): parsed,
 * changed and printed again; the body stays as it was if that fails. Only suffixed requests pay. */
static void reason_rewrite(struct request *r, enum reasoning_format fmt)
{
  cJSON *j = cJSON_Parse(r->up_body);
  if (!j)
    return;
  reasoning_apply(j, fmt, &r->rs);
  char *out = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (out) {
    free(r->up_body);
    r->up_body = out;
  }
}

/* Does channel ch speak the client's own format (Anthropic client and channel, Gemini client and
 * channel)? Then the request and the answer pass through unconverted. */
static bool is_native(const struct request *r, const struct snap_channel *ch)
{
  return (speaks_claude(r) && ch->api == UPSTREAM_ANTHROPIC) ||
         (client_api(r) == CLIENT_GEMINI && ch->api == UPSTREAM_GEMINI);
}

/* The channel's headers plus the Anthropic client's anthropic-beta header (the features it opts
 * into go with its request when it passes through). Returns a new list (caller frees with
 * curl_slist_free_all), or NULL when the client sent none (or it is unusable). */
static struct curl_slist *anthropic_beta_headers(const struct curl_slist *chan, struct MHD_Connection *c)
{
  const char *beta = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "anthropic-beta");
  char line[600];
  if (!beta || !*beta || snprintf(line, sizeof line, "anthropic-beta: %s", beta) >= (int)sizeof line)
    return NULL;
  struct curl_slist *out = NULL, *n;
  for (const struct curl_slist *h = chan; h; h = h->next) {
    if (strncasecmp(h->data, "anthropic-beta:", 15) == 0)
      continue;
    if (!(n = curl_slist_append(out, h->data)))
      goto oom;
    out = n;
  }
  if ((n = curl_slist_append(out, line)))
    return n;
oom:
  curl_slist_free_all(out);
  return NULL;
}

static void start_attempt(struct request *r, const struct snap_channel *ch)
{
  struct worker *w = r->w;
  r->channel = ch;
  r->tried[r->attempts++] = ch->id;
  const char *mapped = strmap_get(&ch->model_map, r->route_model);
  copy_str(r->upstream_model, sizeof r->upstream_model, mapped ? mapped : r->route_model);
  enum reasoning_format rfmt = ch->api == UPSTREAM_ANTHROPIC ? RS_FMT_CLAUDE
                               : ch->api == UPSTREAM_GEMINI  ? RS_FMT_GEMINI : RS_FMT_OPENAI;
  bool reason = reasoning_applies(&r->rs, rfmt);
  if (reason) {        /* a suffix the channel reads never reaches it in the model name */
    const char *suffix = r->rq.model + r->rs.base_len;
    size_t ul = strlen(r->upstream_model), sl = strlen(suffix);
    if (ul > sl && strcmp(r->upstream_model + ul - sl, suffix) == 0)
      r->upstream_model[ul - sl] = '\0';
  }
  r->status_known = false;
  r->up_status = 0;
  r->up_t0_us = now_us_mono();
  r->up_last_us = 0;
  r->timeout_kind = NULL;
  r->fault = NULL;
  r->attempt_t0_us = now_us_mono();
  r->attempt_ttfb_ms = -1;
  r->stream_health = OUTCOME_OK;
  r->stream_detail[0] = '\0';
  r->attempt_outcome = OUTCOME_ABANDON;
  buf_reset(&r->resp);
  r->resp_scanned = 0;
  buf_reset(&r->errbody);
  free(r->up_body);
  r->up_body = NULL;
  curl_slist_free_all(r->up_headers);    /* an earlier attempt's own headers */
  r->up_headers = NULL;
  const char *path = r->def->upstream_path ? r->def->upstream_path : r->def->path;
  char url[2048], err[256];
  const char *refusal = media_channel_refusal(r->def->media, r->def->api, ch->provider);
  if (refusal) {
    refuse_attempt(r, refusal);
    return;
  }
  /* the bytes sent when no rewrite is needed: the client's, or the OpenAI request made from them */
  r->native_attempt = is_native(r, ch);
  r->native_done = r->native_error = false;
  const char *plain = r->body.data;
  size_t plain_len = r->body.len;
  if (r->native_attempt) {
    if (speaks_claude(r)) {
      path = "/v1/messages";
      r->up_headers = anthropic_beta_headers(ch->headers, r->conn);
      /* model mapping (or a stripped suffix) and a reasoning suffix: the only rewrites */
      if (strcmp(r->upstream_model, r->rq.model) != 0 || reason) {
        cJSON_ReplaceItemInObjectCaseSensitive(r->native, "model", cJSON_CreateString(r->upstream_model));
        reasoning_apply(r->native, RS_FMT_CLAUDE, &r->rs);
        r->up_body = cJSON_PrintUnformatted(r->native);
        r->up_len = r->up_body ? strlen(r->up_body) : 0;
      }
    } else {           /* Gemini names the model in the path: the body goes as it came */
      if (gemini_model_path(r->gemini_path, sizeof r->gemini_path, r->upstream_model, r->rq.stream) < 0) {
        refuse_attempt(r, "the model name cannot be used in a Gemini URL");
        return;
      }
      path = r->gemini_path;
      if (reason) {
        reasoning_apply(r->native, RS_FMT_GEMINI, &r->rs);
        r->up_body = cJSON_PrintUnformatted(r->native);
        r->up_len = r->up_body ? strlen(r->up_body) : 0;
      }
    }
  } else if (client_api(r) != CLIENT_OPENAI) {
    if (openai_view(r, err, sizeof err) < 0) {
      refuse_attempt(r, err);
      return;
    }
    plain = r->oai_text;
    plain_len = r->oai_len;
  }
  if (r->def->media) {
    bool failed;
    r->up_body = media_upstream_body(&r->mq, r->root, r->body.data, r->body.len, r->rq.model, r->upstream_model,
                                     &r->up_len, &failed);
    if (failed) {
      refuse_attempt(r, "the model name could not be rewritten in the request body");
      return;
    }
    curl_slist_free_all(r->up_headers);
    r->up_headers = NULL;
    if (r->mq.multipart && !(r->up_headers = media_channel_headers(ch->headers, r->conn))) {
      refuse_attempt(r, "out of memory");
      return;
    }
  } else if (r->native_attempt) {
    /* nothing to convert */
  } else if (ch->api == UPSTREAM_ANTHROPIC) {
    if (r->def->api == API_CHAT)
      r->up_body = claude_request_from_openai(r->root, r->upstream_model, err, sizeof err);
    else
      snprintf(err, sizeof err, "an anthropic channel serves only chat requests");
    if (!r->up_body) {
      refuse_attempt(r, err);
      return;
    }
    if (reason)
      reason_rewrite(r, RS_FMT_CLAUDE);
    r->up_len = strlen(r->up_body);
    path = "/v1/messages";
    claude_stream_to_openai_init(&r->claude_in, true, now_unix());
  } else if (ch->api == UPSTREAM_GEMINI) {
    if (r->def->api != API_CHAT) {
      refuse_attempt(r, "a gemini channel serves only chat requests");
      return;
    }
    if (gemini_model_path(r->gemini_path, sizeof r->gemini_path, r->upstream_model, r->rq.stream) < 0) {
      refuse_attempt(r, "the model name cannot be used in a Gemini URL");
      return;
    }
    r->up_body = gemini_request_from_openai(r->root, err, sizeof err);
    if (!r->up_body) {
      refuse_attempt(r, err);
      return;
    }
    if (reason)
      reason_rewrite(r, RS_FMT_GEMINI);
    r->up_len = strlen(r->up_body);
    path = r->gemini_path;
    gemini_stream_to_openai_init(&r->gemini_in, r->rq.model, true, now_unix());
  } else {
    if (reason)
      reasoning_apply(r->root, RS_FMT_OPENAI, &r->rs);
    r->up_body = oai_upstream_body(r->root, &r->rq, r->upstream_model, &r->up_len);
    if (!r->up_body && reason) {
      r->up_body = cJSON_PrintUnformatted(r->root);
      r->up_len = r->up_body ? strlen(r->up_body) : 0;
    }
  }

  if (channel_url(ch, path, r->upstream_model, url, sizeof url, err, sizeof err) < 0) {
    refuse_attempt(r, err);
    return;
  }

  CURL *e = worker_easy_get(w);
  r->easy = e;
  stats_channel_busy(worker_stats(w), ch->id, +1);
  r->t_upstream_us = now_us_mono();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->up_body ? r->up_body : plain);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->up_body ? r->up_len : plain_len));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->up_headers ? r->up_headers : ch->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_upstream_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  /* connect (name resolution included) is curl's timeout; first byte, idle and total are
   * relay_tick's, so each can say which limit ended the call */
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)worker_cfg(w)->connect_timeout_ms);
  /* ask for no compression ("Accept-Encoding: identity") but decode an answer compressed anyway
   * (gzip, deflate, br, zstd): relay reads usage from it and never forwards a Content-Encoding;
   * an encoding curl cannot decode fails the attempt (CURLE_BAD_CONTENT_ENCODING) */
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "identity");
  if (r->rq.stream)
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, STREAM_CURL_BUFFER);
  atomic_fetch_add_explicit(&worker_counters(w)->relayed_total, 1, memory_order_relaxed);
  CURLMcode mc = curl_multi_add_handle(worker_multi(w), e);
  if (mc != CURLM_OK) {
    log_msg(LOG_ERR, "curl_multi_add_handle failed", "error=\"%s\"", curl_multi_strerror(mc));
    /* reported as a connect failure through the normal completion path */
    relay_on_upstream_done(r, CURLE_FAILED_INIT);
  }
}

/* A connect failure (timeout included) or a 429/5xx may go to another channel; a call that timed
 * out after connecting, or that relay cut (r->fault), may not. */
static bool retryable(const struct request *r, CURLcode res, long status)
{
  if (r->fault || r->timeout_kind)
    return false;
  if (res != CURLE_OK)
    return res != CURLE_WRITE_ERROR;
  /* 401/402/403 or another account error (Anthropic's no-credit 400, Gemini's API_KEY_INVALID
   * 400): the channel's key or account failed, not the client: another channel may serve */
  if (r->attempt_outcome == OUTCOME_ACCOUNT)
    return true;
  return status == 429 || status == 401 || status == 402 || status == 403 || (status >= 500 && status != 504);
}

static void upstream_message(struct request *r, char *out, size_t n);

/* The channel's side of a stream that started (2xx): its first error event says what it was;
 * otherwise it succeeded when its format's own end came: message_stop (Anthropic, native or
 * converted), a finishReason (Gemini), [DONE] (OpenAI), response.completed (Responses API). */
static enum health_outcome stream_outcome(const struct request *r, char *detail, size_t n)
{
  if (r->stream_health != OUTCOME_OK) {
    snprintf(detail, n, "%s", r->stream_detail);
    return r->stream_health;
  }
  bool ended;
  const char *want;
  if (r->native_attempt) {
    ended = r->native_done && !r->native_error;
    want = speaks_claude(r) ? "message_stop" : "finishReason";
  } else if (r->channel->api == UPSTREAM_ANTHROPIC) {
    ended = r->claude_in.finished && !r->claude_in.failed;
    want = "message_stop";
  } else if (r->channel->api == UPSTREAM_GEMINI) {
    ended = r->gemini_in.finish_reason && !r->gemini_in.failed;
    want = "finishReason";
  } else {
    ended = r->saw_done && !r->saw_error_event;
    want = r->def->media ? "response.completed" : "[DONE]";
  }
  snprintf(detail, n, "the stream ended early (no %s)", want);
  return ended ? OUTCOME_OK : OUTCOME_FAIL;
}

/* The channel's side of an ended attempt: its outcome for health, with a short description. */
static void report_attempt(struct request *r, CURLcode res)
{
  if (!r->held)
    return;
  char detail[200], up[160];
  enum health_outcome out;
  if (r->timeout_kind) {
    out = OUTCOME_FAIL;          /* relay's own connect / first-byte / idle / total timeouts */
    snprintf(detail, sizeof detail, "%s timeout", r->timeout_kind);
  } else if (r->fault) {
    out = OUTCOME_ABANDON;       /* relay cut the transfer itself */
    snprintf(detail, sizeof detail, "cut by relay");
  } else if (res != CURLE_OK) {
    out = res == CURLE_WRITE_ERROR ? OUTCOME_ABANDON : OUTCOME_FAIL;
    snprintf(detail, sizeof detail, "%s", curl_easy_strerror(res));
  } else if (r->committed) {
    out = stream_outcome(r, detail, sizeof detail);
  } else {
    if (r->errbody.data) {   /* the reason is stored and logged: an echoed key must not be in it */
      r->errbody.len = secret_redact(r->errbody.data, r->errbody.len, r->channel->key);
      r->errbody.data[r->errbody.len] = '\0';
    }
    out = health_classify(r->up_status, r->errbody.data, r->errbody.len, r->snap->opt.disable_keywords);
    upstream_message(r, up, sizeof up);
    snprintf(detail, sizeof detail, "HTTP %ld: %s", r->up_status, up);
  }
  r->attempt_outcome = out;
  release_channel(r, out, detail);
}

/* Why the upstream call ended, for the client: which limit, or what went wrong. */
static void upstream_failure_text(const struct request *r, CURLcode res, char *out, size_t n)
{
  const struct config *cfg = worker_cfg(r->w);
  long long ch = (long long)r->channel->id;
  if (r->timeout_kind && strcmp(r->timeout_kind, "first_byte") == 0)
    snprintf(out, n, "The upstream of channel %lld sent nothing within %lld s (first_byte_timeout_s).",
             ch, (long long)cfg->first_byte_timeout_s);
  else if (r->timeout_kind && strcmp(r->timeout_kind, "idle") == 0)
    snprintf(out, n, "The upstream of channel %lld was silent for %lld s (stream_idle_timeout_s).",
             ch, (long long)cfg->stream_idle_timeout_s);
  else if (r->timeout_kind)
    snprintf(out, n, "The upstream of channel %lld did not finish within %lld s (%s).", ch,
             (long long)(r->rq.stream ? cfg->stream_timeout_s : cfg->request_timeout_s),
             r->rq.stream ? "stream_timeout_s" : "request_timeout_s");
  else if (res == CURLE_OPERATION_TIMEDOUT)
    snprintf(out, n, "The upstream of channel %lld could not be reached within %lld ms (connect_timeout_ms).",
             ch, (long long)cfg->connect_timeout_ms);
  else if (r->fault)
    snprintf(out, n, "The upstream of channel %lld was cut off: %s.", ch, r->fault);
  else
    snprintf(out, n, "The upstream of channel %lld failed: %s.", ch, curl_easy_strerror(res));
}

/* The upstream's error message, when its body is an OpenAI-style error. */
static void upstream_message(struct request *r, char *out, size_t n)
{
  cJSON *j = cJSON_ParseWithLength(r->errbody.data ? r->errbody.data : "", r->errbody.len);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "message");
  if (cJSON_IsString(m))
    snprintf(out, n, "%s", m->valuestring);
  else
    snprintf(out, n, "%.200s", r->errbody.len ? r->errbody.data : "(empty body)");
  cJSON_Delete(j);
}

/* The last attempt failed before anything reached the client: tell the client why. */
static void fail_upstream(struct request *r, CURLcode res)
{
  char msg[1024], up[600];
  unsigned status;
  struct MHD_Response *resp;
  atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
  if (r->errbody.data) {   /* upstreams echo the key they got: it never reaches the client */
    r->errbody.len = secret_redact(r->errbody.data, r->errbody.len, r->channel->key);
    r->errbody.data[r->errbody.len] = '\0';
  }
  if (res != CURLE_OK) {
    status = res == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
    upstream_failure_text(r, res, msg, sizeof msg);
    resp = error_response(r, status, "upstream_error",
                          status == 504 ? "upstream_timeout"
                          : r->fault    ? "bad_upstream_body"
                                        : "upstream_unreachable",
                          NULL, msg);
  } else if (r->up_status >= 500) {
    upstream_message(r, up, sizeof up);
    status = r->up_status == 504 ? 504 : 502;
    snprintf(msg, sizeof msg, "The upstream of channel %lld answered %ld: %s", (long long)r->channel->id,
             r->up_status, up);
    resp = error_response(r, status, "upstream_error", "bad_upstream_status", NULL, msg);
  } else if (r->up_status >= 400) {
    /* a client error the upstream saw (context too long, bad parameter): pass it on as it is */
    status = (unsigned)r->up_status;
    upstream_message(r, up, sizeof up);
    struct buf b = r->errbody;
    buf_init(&r->errbody, ERRBODY_MAX);
    cJSON *j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
    bool is_error = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "error"));
    cJSON_Delete(j);
    if (is_error && (r->native_attempt || (client_api(r) == CLIENT_OPENAI &&
                                          (r->channel->api == UPSTREAM_OPENAI || r->channel->api == UPSTREAM_AZURE)))) {
      resp = json_response(r, &b);
    } else {
      buf_free(&b);
      snprintf(msg, sizeof msg, "The upstream answered %ld: %s", r->up_status, up);
      resp = error_response(r, status, "upstream_error", "bad_upstream_status", NULL, msg);
    }
  } else {
    status = 502;
    snprintf(msg, sizeof msg, "The upstream of channel %lld answered with status %ld.",
             (long long)r->channel->id, r->up_status);
    resp = error_response(r, status, "upstream_error", "bad_upstream_status", NULL, msg);
  }
  if (r->retry_after[0] && (status == 429 || status == 503))
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, r->retry_after);
  r->final_status = (int)status;
  settle(r, res == CURLE_OPERATION_TIMEDOUT ? "timeout" : "upstream_error");
  respond_later(r, status, resp);
}

/* The usage of a whole answer in the format it came in (native Anthropic / Gemini, or OpenAI), read
 * from the parsed body; without usage, the text relay counted in it. */
static void read_answer_usage(struct request *r, const char *b, size_t len)
{
  cJSON *j = cJSON_ParseWithLength(b, len);
  const cJSON *u;
  if (r->native_attempt && speaks_claude(r)) {
    u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u))
      claude_read_usage(u, &r->usage);
  } else if (r->native_attempt) {
    u = cJSON_GetObjectItemCaseSensitive(j, "usageMetadata");
    if (cJSON_IsObject(u))
      gemini_read_usage(u, &r->usage);
  } else {
    u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u))
      oai_parse_usage(u, &r->usage);
  }
  r->usage_upstream = cJSON_IsObject(u);
  r->usage_final = true;
  r->completion_chars = adapt_text_chars(cJSON_GetObjectItemCaseSensitive(
      j, r->native_attempt ? (speaks_claude(r) ? "content" : "candidates") : "choices"));
  cJSON_Delete(j);
}

/* The whole answer of an EP_MEDIA request, relayed with the upstream's Content-Type (audio bytes
 * for speech, text or JSON for transcripts). */
static void finish_media(struct request *r)
{
  media_read_response(r->def->media, r->resp.data ? r->resp.data : "", r->resp.len,
                      r->up_ctype[0] ? r->up_ctype : NULL, &r->mres);
  r->final_status = (int)r->up_status;
  r->upstream_done = true;
  r->t_first_us = now_us_mono();
  settle(r, "done");
  respond_later(r, (unsigned)r->up_status,
                body_response(r, &r->resp, r->up_ctype[0] ? r->up_ctype : "application/json"));
}

static void finish_nonstream(struct request *r)
{
  if (r->def->media) {
    finish_media(r);
    return;
  }
  if (r->native_attempt) {
    /* the answer goes as it came; billing reads its usage object */
    read_answer_usage(r, r->resp.data ? r->resp.data : "", r->resp.len);
    r->final_status = (int)r->up_status;
    r->upstream_done = true;
    r->t_first_us = now_us_mono();
    settle(r, "done");
    respond_later(r, (unsigned)r->up_status, json_response(r, &r->resp));
    return;
  }
  struct usage conv_usage = {0};
  if (r->channel->api == UPSTREAM_ANTHROPIC || r->channel->api == UPSTREAM_GEMINI) {
    char err[256];
    const char *b = r->resp.data ? r->resp.data : "";
    char *conv = r->channel->api == UPSTREAM_GEMINI
                     ? gemini_response_to_openai(b, r->resp.len, r->rq.model, now_unix(), &conv_usage, err, sizeof err)
                     : claude_response_to_openai(b, r->resp.len, now_unix(), &conv_usage, err, sizeof err);
    if (conv) {
      buf_reset(&r->resp);
      buf_append_str(&r->resp, conv);
      free(conv);
    } else {
      char text[400];
      snprintf(text, sizeof text, "The upstream of channel %lld sent an unreadable answer: %s.",
               (long long)r->channel->id, err);
      r->final_status = 502;
      settle(r, "upstream_error");
      respond_later(r, 502, error_response(r, 502, "upstream_error", "bad_upstream_body", NULL, text));
      return;
    }
  }
  read_answer_usage(r, r->resp.data ? r->resp.data : "", r->resp.len);
  if (r->channel->api == UPSTREAM_ANTHROPIC || r->channel->api == UPSTREAM_GEMINI) {
    r->usage = conv_usage;           /* the channel's own usage, with its cache writes */
    r->usage_upstream = conv_usage.prompt_tokens || conv_usage.completion_tokens || conv_usage.bad;
  }
  if (client_api(r) != CLIENT_OPENAI) {
    char err[256];
    struct usage cu;
    const char *b = r->resp.data ? r->resp.data : "";
    char *msg = speaks_claude(r) ? claude_response_from_openai(b, r->resp.len, r->rq.model, &cu, err, sizeof err)
                                 : gemini_response_from_openai(b, r->resp.len, r->rq.model, &cu, err, sizeof err);
    if (!msg) {
      /* the upstream said 2xx but sent nothing we can turn into a message: a bad upstream */
      char text[400];
      snprintf(text, sizeof text, "The upstream of channel %lld sent an unreadable answer: %s.",
               (long long)r->channel->id, err);
      r->final_status = 502;
      settle(r, "upstream_error");
      respond_later(r, 502, error_response(r, 502, "upstream_error", "bad_upstream_body", NULL, text));
      return;
    }
    buf_reset(&r->resp);
    buf_append_str(&r->resp, msg);
    free(msg);
  }
  r->final_status = (int)r->up_status;
  r->upstream_done = true;
  r->t_first_us = now_us_mono();      /* the whole answer goes out from here */
  settle(r, "done");
  respond_later(r, (unsigned)r->up_status, json_response(r, &r->resp));
}

/* An error event in the client's stream format (the stream cannot get a status any more). */
static void stream_error_event(struct request *r, const char *code, const char *msg)
{
  if (speaks_claude(r)) {
    claude_error_event(&r->out, 502, msg);
  } else if (client_api(r) == CLIENT_GEMINI) {
    gemini_error_event(&r->out, 502, msg);
  } else if (r->def->media) {          /* the Responses API's error event */
    struct buf e;
    buf_init(&e, 2048);
    buf_append_str(&e, "event: error\ndata: {\"type\":\"error\",\"code\":");
    buf_append_json_str(&e, code);
    buf_append_str(&e, ",\"message\":");
    buf_append_json_str(&e, msg);
    buf_append_str(&e, ",\"param\":null}\n\n");
    buf_append(&r->out, e.data, e.len);
    buf_free(&e);
  } else {
    struct buf e;
    buf_init(&e, 2048);
    buf_append_str(&e, "data: {\"error\":{\"message\":");
    buf_append_json_str(&e, msg);
    buf_append_str(&e, ",\"type\":\"upstream_error\",\"param\":null,\"code\":");
    buf_append_json_str(&e, code);
    buf_append_str(&e, "}}\n\n");
    buf_append(&r->out, e.data, e.len);
    buf_free(&e);
  }
}

/* The upstream's own error event already reached an OpenAI client (as is, or converted from an
 * Anthropic or Gemini stream): one error event is enough, the stream ends after it. */
static bool upstream_error_relayed(const struct request *r)
{
  if (r->channel->api == UPSTREAM_ANTHROPIC)
    return r->claude_in.failed;
  if (r->channel->api == UPSTREAM_GEMINI)
    return r->gemini_in.failed;
  return r->saw_error_event;
}

static void finish_stream(struct request *r, CURLcode res)
{
  if (r->native_attempt) {
    /* a native stream that ended without its closing event gets one error event in its format */
    if (res != CURLE_OK || !r->native_done) {
      char msg[600], why[512];
      if (res != CURLE_OK)
        upstream_failure_text(r, res, why, sizeof why);
      else
        snprintf(why, sizeof why, "%s", speaks_claude(r) ? "no message_stop event." : "no finishReason.");
      snprintf(msg, sizeof msg, "The upstream stream ended early: %s", why);
      stream_error_event(r, res == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "stream_interrupted", msg);
      atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
    }
    r->upstream_done = true;
    r->end_reason = res == CURLE_OK && r->native_done && !r->native_error ? "done"
                    : res == CURLE_OPERATION_TIMEDOUT ? "timeout" : "upstream_error";
    wake_reader(r);
    return;
  }
  /* a Gemini stream has no [DONE]: the end of its body closes the converted stream */
  if (r->channel->api == UPSTREAM_GEMINI && res == CURLE_OK && !r->saw_done) {
    buf_reset(&r->converted);
    if (gemini_stream_to_openai_finish(&r->gemini_in, &r->converted) == 0)
      relay_converted(r);
  }
  if (client_api(r) != CLIENT_OPENAI && (res != CURLE_OK || !r->saw_done)) {
    /* finish() closes a stream that got its finish_reason; anything else is an error event */
    bool closed = res == CURLE_OK &&
                  (speaks_claude(r) ? claude_stream_from_openai_finish(&r->claude_out, &r->out)
                                    : gemini_stream_from_openai_finish(&r->gemini_out, &r->out)) == 0;
    if (!closed) {
      char msg[600], why[512];
      if (res != CURLE_OK)
        upstream_failure_text(r, res, why, sizeof why);
      else
        snprintf(why, sizeof why, "no final event.");
      snprintf(msg, sizeof msg, "The upstream stream ended early: %s", why);
      stream_error_event(r, res == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "stream_interrupted", msg);
      atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
    }
  } else if ((res != CURLE_OK || !r->saw_done) && !upstream_error_relayed(r)) {
    char msg[600], why[512];
    if (res != CURLE_OK)
      upstream_failure_text(r, res, why, sizeof why);
    else
      snprintf(why, sizeof why, "%s", r->def->media ? "no response.completed event." : "no [DONE] event.");
    snprintf(msg, sizeof msg, "The upstream stream ended early: %s", why);
    stream_error_event(r, res == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "stream_interrupted", msg);
    atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
  }
  r->upstream_done = true;
  /* settled when the last byte has gone to the client (stream_reader), so the log's times
   * cover the whole response */
  r->end_reason = res == CURLE_OK && r->saw_done ? "done"
                  : res == CURLE_OPERATION_TIMEDOUT ? "timeout" : "upstream_error";
  wake_reader(r);
}

void relay_on_upstream_done(struct request *r, CURLcode res)
{
  if (!r->status_known && r->easy && res == CURLE_OK) {
    /* an answer without a body never reached on_upstream_data */
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->up_status);
    r->status_known = r->up_status != 0;
  }
  report_attempt(r, res);
  if (!r->committed && r->resp.data) {   /* a whole answer that may quote the key: never passed on */
    r->resp.len = health_redact(r->resp.data, r->resp.len, r->channel->key);
    r->resp.data[r->resp.len] = '\0';
  }
  r->retry_after[0] = '\0';
  struct curl_header *h;
  if (r->easy && (r->up_status == 429 || r->up_status == 503) &&
      curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h->value &&
      strlen(h->value) < sizeof r->retry_after && !strpbrk(h->value, "\r\n"))
    copy_str(r->retry_after, sizeof r->retry_after, h->value);
  detach_upstream(r);
  if (r->committed) {
    finish_stream(r, res);
    return;
  }
  if (res == CURLE_OK && r->up_status >= 200 && r->up_status < 300) {
    finish_nonstream(r);
    return;
  }
  if (retryable(r, res, r->up_status) && r->attempts <= r->snap->opt.retry_times &&
      r->attempts < MAX_ATTEMPTS && !worker_stopping(r->w)) {
    struct choice_miss miss;
    const struct snap_channel *next = choose_channel(r, &miss);
    if (next) {
      log_msg(LOG_INFO, "retrying on another channel", "request_id=%s failed_channel=%lld status=%ld "
              "curl=%d next_channel=%lld", r->request_id, (long long)r->channel->id, r->up_status,
              (int)res, (long long)next->id);
      start_attempt(r, next);
      return;
    }
  }
  fail_upstream(r, res);
}

/* ---------------------------------------------------------------- SSE to the client */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct request *r = cls;
  size_t avail = r->out.len - r->out_off;
  if (avail) {
    size_t n = avail < max ? avail : max;
    memcpy(buf, r->out.data + r->out_off, n);
    r->out_off += n;
    if (r->out_off == r->out.len) {
      buf_reset(&r->out);
      r->out_off = 0;
    }
    if (!r->t_first_us)
      r->t_first_us = now_us_mono();
    if (r->paused && r->easy && r->out.len - r->out_off < OUT_LOW) {
      r->paused = false;
      r->up_last_us = now_us_mono();   /* a paused upstream was not idle: its clock starts again */
      curl_easy_pause(r->easy, CURLPAUSE_CONT);
    }
    return (ssize_t)n;
  }
  if (r->upstream_done) {
    settle(r, r->end_reason ? r->end_reason : "done");
    return MHD_CONTENT_READER_END_OF_STREAM;
  }
  r->reader_waiting = true;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  return 0;
}

static enum MHD_Result start_stream_response(struct request *r)
{
  struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                                stream_reader, r, NULL);
  MHD_add_response_header(resp, "Content-Type", "text/event-stream");
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  add_common_headers(r, resp);
  r->phase = PH_STREAMING;
  r->final_status = (int)r->up_status;
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->up_status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* ---------------------------------------------------------------- dispatch */

/* 429 for a rate limit, in the client's API shape, with retry-after and the x-ratelimit-* headers
 * of the limit that refused. */
static enum MHD_Result refuse_rate_limited(struct request *r, const struct limit_refusal *why)
{
  const char *kind = why->kind == LIMIT_REQUESTS ? "requests" : "tokens";
  const char *who = why->scope == LIMIT_TOKEN ? "API key" : "user";
  char msg[600], onmodel[200] = "", wait[32];
  stats_ratelimit_rejected(worker_stats(r->w), why->scope == LIMIT_TOKEN ? "token" : "user");
  if (why->model[0])
    snprintf(onmodel, sizeof onmodel, " on model '%.120s'", why->model);
  int64_t window = r->snap->opt.rate_limit_window_s;
  struct MHD_Response *resp;
  r->lim.req.set = r->lim.tok.set = false;     /* the refusing limit's headers only */
  if (why->retry_after_ms < 0) {
    snprintf(msg, sizeof msg, "Request too large: it may use %lld tokens, more than this %s's limit of %lld "
             "tokens per %lld s%s. Lower max_tokens or shorten the prompt.", (long long)r->lim.tokens, who,
             (long long)why->limit, (long long)window, onmodel);
    resp = error_response(r, 429, kind, "rate_limit_exceeded", NULL, msg);
    MHD_add_response_header(resp, "x-should-retry", "false");
  } else {
    limits_format_duration(why->retry_after_ms, wait, sizeof wait);
    snprintf(msg, sizeof msg, "Rate limit reached for %s: this %s may make %lld %s per %lld s%s. "
             "Please try again in %s.", kind, who, (long long)why->limit, kind, (long long)window, onmodel, wait);
    resp = error_response(r, 429, kind, "rate_limit_exceeded", NULL, msg);
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)((why->retry_after_ms + 999) / 1000));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    snprintf(v, sizeof v, "%lld", (long long)why->retry_after_ms);
    MHD_add_response_header(resp, "retry-after-ms", v);
  }
  struct limit_view v = {.set = true, .limit = why->limit, .remaining = 0,
                         .reset_ms = why->retry_after_ms < 0 ? 0 : why->retry_after_ms};
  add_limit_headers(resp, &v, kind);
  return queue_now(r, 429, resp);
}

static enum MHD_Result dispatch(struct request *r)
{
  char err[512];
  const char *param;
  if (client_api(r) != CLIENT_OPENAI) {
    /* an Anthropic or Gemini request stays in its format: relay reads what it needs from it, and
     * converts it to OpenAI chat only for a channel of another format (openai_view) */
    r->native = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
    if (!cJSON_IsObject(r->native))
      return fail_now(r, 400, "invalid_request_error", NULL, NULL, "The request body must be a JSON object.");
    int rc = speaks_claude(r) ? claude_request_info(r->native, &r->rq, err, sizeof err)
                              : gemini_request_info(r->native, r->client_model, r->client_stream, &r->rq, err,
                                                    sizeof err);
    if (rc < 0)
      return fail_now(r, 400, "invalid_request_error", NULL, NULL, "%s", err);
  } else if (r->def->media) {
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    int st = media_parse_request(r->conn, r->def->media, ct, r->body.data, r->body.len, &r->root, &r->rq, &r->mq,
                                 err, sizeof err, &param);
    if (st)
      return fail_now(r, (unsigned)st, "invalid_request_error", st == 415 ? "unsupported_media_type" : NULL, param,
                      "%s", err);
  } else {
    r->root = oai_parse_request(r->def->api, r->body.data, r->body.len, &r->rq, err, sizeof err, &param);
    if (!r->root)
      return fail_now(r, 400, "invalid_request_error", NULL, param, "%s", err);
  }
  /* what relay authorizes and bills must be what the upstream reads: no key twice (reqbound.h) */
  const cJSON *parsed = r->native ? r->native : r->root;
  char dup_path[160];
  if (parsed && reqbound_duplicate_key(parsed, dup_path, sizeof dup_path))
    return fail_now(r, 400, "invalid_request_error", "duplicate_key", NULL,
                    "The request body has the key '%s' more than once; send each key once.", dup_path);
  r->rq.input_bound = reqbound_input(parsed, r->body.len);
  const struct snap_token *t = r->token;
  /* a reasoning suffix names a variant of its base model: a route (and a price) for the full name
   * wins, else the base model's serve it */
  copy_str(r->route_model, sizeof r->route_model, r->rq.model);
  char base_model[MODEL_NAME_MAX] = "";
  if (reasoning_parse(r->rq.model, &r->rs)) {
    memcpy(base_model, r->rq.model, r->rs.base_len);
    base_model[r->rs.base_len] = '\0';
    if (!snapshot_route(r->snap, t->group, r->rq.model) && snapshot_route(r->snap, t->group, base_model))
      copy_str(r->route_model, sizeof r->route_model, base_model);
  }
  if (!token_allows_model(t, r->rq.model) &&
      !(base_model[0] && token_allows_model(t, base_model)))
    return fail_now(r, 403, "permission_error", "model_not_allowed", "model",
                    "This API key may not use the model '%s'.", r->rq.model);
  r->group_ratio = snapshot_group_ratio(r->snap, t->group);
  if (r->group_ratio < 0)
    return fail_now(r, 403, "permission_error", "group_not_found", NULL,
                    "The group '%s' of this API key does not exist.", t->group);
  struct choice_miss miss;
  const struct snap_channel *ch = choose_channel(r, &miss);
  if (!ch) {
    if (r->pin_channel && !miss.busy)
      return fail_now(r, 503, "relay_error", "channel_not_found", NULL,
                      "Channel %lld does not exist.", (long long)r->pin_channel);
    if (miss.busy || miss.open) {
      /* channels exist but none can take it now: all full, or their breakers are open */
      struct MHD_Response *resp;
      char msg[512], ra[24];
      int64_t wait_s = miss.busy ? 1 : (miss.open_for_ms + 999) / 1000;
      snprintf(msg, sizeof msg, "No channel can take this request now: %d at their maximum concurrency, "
               "%d with an open circuit breaker. Try again in %lld s.", miss.busy, miss.open, (long long)wait_s);
      resp = error_response(r, 503, "relay_error", miss.busy ? "channels_busy" : "channels_unavailable",
                            NULL, msg);
      snprintf(ra, sizeof ra, "%lld", (long long)(wait_s > 0 ? wait_s : 1));
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
      return queue_now(r, 503, resp);
    }
    if (miss.disabled)
      return fail_now(r, 503, "relay_error", "model_not_available", "model",
                      "Every channel in group '%s' that serves the model '%s' is disabled.", t->group,
                      r->rq.model);
    return fail_now(r, 503, "relay_error", "model_not_available", "model",
                    "No channel in group '%s' serves the model '%s'.", t->group, r->rq.model);
  }
  if (ch->status != STATUS_ENABLED || atomic_load(&ch->health->auto_disabled) != HEALTH_ENABLED) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 403, "permission_error", "channel_disabled", NULL,
                    "Channel %lld is disabled.", (long long)ch->id);
  }
  /* a request the first channel's format cannot express is refused now, before any reservation */
  if (client_api(r) != CLIENT_OPENAI && !is_native(r, ch) && openai_view(r, err, sizeof err) < 0) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 400, "invalid_request_error", NULL, NULL, "%s", err);
  }
  r->price = snapshot_price(r->snap, r->rq.model);
  if (!r->price && base_model[0])
    r->price = snapshot_price(r->snap, base_model);
  if (!r->price) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 403, "permission_error", "model_price_unset", "model",
                    "The model '%s' has no price configured; an administrator must set one "
                    "(gwctl pricing set) before it can be used.", r->rq.model);
  }
  const char *unit_refusal = media_price_refusal(r->def->media, r->price);   /* chat counts no images */
  if (unit_refusal) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 403, "permission_error", "model_price_unit", "model",
                    "The model '%s' %s, which %s cannot measure; an administrator must price it "
                    "differently (gwctl price set).", r->rq.model, unit_refusal, r->def->path);
  }
  struct usage est = {
      .prompt_tokens = r->rq.prompt_estimate,
      .completion_tokens = r->def->api == API_EMBEDDINGS ? 0
                           : r->rq.max_tokens >= 0 ? r->rq.max_tokens
                                                   : r->snap->opt.preconsume_completion,
  };
  struct limit_refusal why;
  if (!limits_admit(&t->limits, &t->user->limits, r->rq.model, est.prompt_tokens + est.completion_tokens,
                    r->snap->opt.rate_limit_window_s, &r->lim, &why)) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return refuse_rate_limited(r, &why);
  }
  r->lim_open = true;
  /* the worst case this request can cost: its input bound and its output bound (max_tokens, else the
   * model's largest answer) for every answer it asks for, at the dearest ratios */
  int64_t out_bound = r->rq.max_tokens >= 0            ? r->rq.max_tokens
                      : r->price->max_output_tokens > 0 ? r->price->max_output_tokens
                                                        : r->snap->opt.default_max_output;
  if (r->def->api == API_EMBEDDINGS)
    out_bound = 0;
  out_bound *= reqbound_choices(parsed);
  r->reserved = r->def->media ? media_reserve(&r->mq, &r->rq, r->price, r->group_ratio, out_bound)
                              : billing_bound(r->price, r->group_ratio, r->rq.input_bound, out_bound);
  int64_t avail = 0;
  if (!ledger_reserve(t->user->bal, t->unlimited ? NULL : t->bal, r->reserved, &avail)) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                    "Not enough quota: this request may cost up to %lld (its input and up to %lld output "
                    "tokens) and only %lld is left (set a lower max_tokens or top up).",
                    (long long)r->reserved, (long long)out_bound, (long long)avail);
  }
  r->billing_open = true;
  note_reservation(r);
  if (speaks_claude(r))
    claude_stream_from_openai_init(&r->claude_out, r->rq.model, r->rq.prompt_estimate);
  if (client_api(r) == CLIENT_GEMINI) {
    gemini_stream_from_openai_init(&r->gemini_out, r->rq.model);
    r->gemini_out_used = true;
  }
  r->phase = PH_UPSTREAM;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  start_attempt(r, ch);
  return MHD_YES;
}

/* What begin() needs from the header fields, in one pass over them. */
struct header_scan {
  size_t bytes;                 /* the request line and fields as sent, give or take whitespace */
  const char *cl;               /* the first Content-Length (MHD checked it is all digits) */
  size_t cl_len;
  int64_t cl_value;             /* its value, -1 when it has more than 18 digits */
  unsigned n_cl, n_te, n_fields;
  bool cl_conflict;             /* two Content-Length fields with different values */
};

static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                  const char *value, size_t value_size)
{
  struct header_scan *h = cls;
  h->bytes += key_size + value_size + 4;   /* "key: value\r\n", or "key=value&" */
  if (kind != MHD_HEADER_KIND)
    return MHD_YES;
  h->n_fields++;
  if (key_size == 14 && strncasecmp(key, "Content-Length", 14) == 0) {
    if (h->n_cl++ == 0) {
      h->cl = value;
      h->cl_len = value_size;
    } else if (value_size != h->cl_len || memcmp(value, h->cl, value_size) != 0) {
      h->cl_conflict = true;
    }
  } else if (key_size == 17 && strncasecmp(key, "Transfer-Encoding", 17) == 0) {
    h->n_te++;
  }
  return MHD_YES;
}

/* The route for method + url, or NULL; *path_def is the first route of that path whatever its
 * method (it names the client's API format for every answer, 405 included), or NULL. */
static const struct endpoint_def *route(const char *url, const char *method, const struct endpoint_def **path_def)
{
  *path_def = NULL;
  for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
    const struct endpoint_def *e = &endpoints[i];
    bool match = e->prefix ? strncmp(url, e->path, strlen(e->path)) == 0 && url[strlen(e->path)]
                           : strcmp(url, e->path) == 0;
    if (!match)
      continue;
    if (!*path_def)
      *path_def = e;
    if (strcmp(method, e->method) == 0)
      return e;
  }
  return NULL;
}

/*
 * Framing that libmicrohttpd 0.9.75 lets through and a proxy in front may read differently
 * (request smuggling), refused before anything else: a NUL (raw or %00) or other control byte in
 * the request target (worker.c's URI callback saw it raw, before MHD unescaped it), two Content-Length fields
 * that differ (MHD uses the first), Transfer-Encoding beside Content-Length or more than once, and
 * a transfer coding other than chunked (MHD would read the body until the connection closes).
 * The request line and fields of a header over max_header_bytes are a 431 here too.
 */
static bool refuse_framing(struct request *r, const char *url, const char *method, const char *version,
                           struct header_scan *h, enum MHD_Result *ret)
{
  const struct client_conn *cc = r->cc;
  if (cc && (cc->uri_bad || (cc->uri_end && cc->uri_end + 1 != version))) {
    *ret = fail_now(r, 400, "invalid_request_error", "invalid_request_target", NULL,
                    "The request target has a NUL or another control character (raw or %%-escaped).");
    return true;
  }
  h->bytes = strlen(method) + strlen(url) + sizeof " HTTP/1.1\r\n";
  MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, scan_field, h);
  if (h->bytes > (size_t)worker_cfg(r->w)->max_header_bytes) {
    *ret = fail_now(r, 431, "invalid_request_error", "request_header_too_large", NULL,
                    "The request line and headers have %zu bytes; the limit is %lld.", h->bytes,
                    (long long)worker_cfg(r->w)->max_header_bytes);
    return true;
  }
  if (h->n_fields > (unsigned)(worker_cfg(r->w)->max_header_bytes / 64)) {   /* as gate.c counts them */
    *ret = fail_now(r, 431, "invalid_request_error", "request_header_too_large", NULL,
                    "The request has more header fields than the %lld allowed (max_header_bytes / 64).",
                    (long long)(worker_cfg(r->w)->max_header_bytes / 64));
    return true;
  }
  if (h->cl_conflict) {
    *ret = fail_now(r, 400, "invalid_request_error", "invalid_content_length", NULL,
                    "The request has Content-Length fields with different values.");
    return true;
  }
  if (h->n_te && h->n_cl) {
    *ret = fail_now(r, 400, "invalid_request_error", "invalid_transfer_encoding", NULL,
                    "The request has both Transfer-Encoding and Content-Length.");
    return true;
  }
  if (h->n_te > 1) {
    *ret = fail_now(r, 400, "invalid_request_error", "invalid_transfer_encoding", NULL,
                    "The request has more than one Transfer-Encoding field.");
    return true;
  }
  if (h->n_te) {
    const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (!te || strcasecmp(te, "chunked") != 0) {
      *ret = fail_now(r, 501, "invalid_request_error", "unsupported_transfer_encoding", NULL,
                      "Transfer-Encoding '%.40s' is not supported: send the body with Content-Length "
                      "or as chunked.", te ? te : "");
      return true;
    }
  }
  if (h->cl) {
    /* MHD accepted only digits, up to 2^64-1: past 18 significant digits it is "too large" (-1) */
    size_t i = 0;
    while (i < h->cl_len && h->cl[i] == '0')
      i++;
    int64_t v = 0;
    for (size_t n = 0; i < h->cl_len && v >= 0; i++, n++)
      v = n >= 18 ? -1 : v * 10 + (h->cl[i] - '0');
    h->cl_value = v;
  }
  return false;
}

static enum MHD_Result begin(struct request *r, const char *url, const char *method, const char *version,
                             const struct endpoint_def *def)
{
  struct header_scan h = {0};
  enum MHD_Result ret;
  if (refuse_framing(r, url, method, version, &h, &ret))
    return ret;
  if (!def) {
    if (r->def)
      return fail_now(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                      "Method %s is not allowed on %s.", method, url);
    return fail_now(r, 404, "invalid_request_error", "unknown_url", NULL,
                    "Invalid URL (%s %.300s).", method, url);
  }
  r->def = def;
  if (def->ep == EP_GEMINI &&
      gemini_parse_path(url, r->client_model, sizeof r->client_model, &r->client_stream) < 0)
    return fail_now(r, 404, "invalid_request_error", "unknown_url", NULL,
                    "Invalid URL (%s %.300s): use /v1beta/models/MODEL:generateContent or "
                    ":streamGenerateContent.", method, url);
  if (!authenticate(r, &ret))
    return ret;
  if (def->ep == EP_MODELS || def->ep == EP_MODEL_ONE)
    return serve_models(r, url);
  if (def->ep == EP_BILLING_SUBSCRIPTION || def->ep == EP_BILLING_USAGE)
    return serve_billing(r);
  /* a gzip or deflate body is inflated as it arrives, max_body_bytes bounding what it inflates to
   * (body_take); any other encoding is refused before the body is read */
  const char *ce = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
  if (ce && *ce && strcasecmp(ce, "identity") != 0) {
    if (strcasecmp(ce, "gzip") != 0 && strcasecmp(ce, "x-gzip") != 0 && strcasecmp(ce, "deflate") != 0)
      return fail_now(r, 415, "invalid_request_error", "unsupported_content_encoding", NULL,
                      "Content-Encoding '%.40s' is not accepted: send the request body as gzip, deflate "
                      "or uncompressed.", ce);
    r->inflater = calloc(1, sizeof *r->inflater);
    if (!r->inflater || inflateInit2(r->inflater, 15 + 32) != Z_OK) {   /* +32: gzip or zlib header */
      free(r->inflater);
      r->inflater = NULL;
      return fail_now(r, 500, "relay_error", "out_of_memory", NULL, "The relay is out of memory.");
    }
  }
  if (h.cl && (h.cl_value < 0 || h.cl_value > worker_cfg(r->w)->max_body_bytes))
    return fail_now(r, 413, "invalid_request_error", "request_too_large", NULL,
                    "The request body has %.*s bytes; the limit is %lld.", (int)(h.cl_len < 40 ? h.cl_len : 40), h.cl,
                    (long long)worker_cfg(r->w)->max_body_bytes);
  r->phase = PH_BODY;
  return MHD_YES;
}

void relay_refusal(struct worker *w, const char *method, const char *target, size_t target_len,
                   unsigned status, const char *reason, const char *code, const char *msg, struct buf *out)
{
  /* the path, up to its query or a byte no path has: enough to tell the client's API */
  char path[256];
  size_t n = 0;
  for (; target && n < target_len && n < sizeof path - 1; n++) {
    unsigned char ch = (unsigned char)target[n];
    if (ch <= 0x20 || ch == 0x7f || ch == '?')
      break;
    path[n] = (char)ch;
  }
  path[n] = '\0';
  struct request r;
  memset(&r, 0, sizeof r);
  route(path, "", &r.def);
  snprintf(r.request_id, sizeof r.request_id, "%011llx%04x%02x%06llx", (unsigned long long)now_unix_ms(),
           local(w)->node_tag, worker_index(w) & 0xff, (unsigned long long)(local(w)->next_request_seq++ & 0xffffff));
  struct buf b;
  buf_init(&b, 4096);
  error_body(&r, status, "invalid_request_error", code, NULL, msg, &b);
  buf_appendf(out,
              "HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
              "x-request-id: %s\r\n%s%s%sContent-Length: %zu\r\n\r\n",
              status, reason, r.request_id, speaks_claude(&r) ? "request-id: " : "",
              speaks_claude(&r) ? r.request_id : "", speaks_claude(&r) ? "\r\n" : "", b.len);
  buf_append(out, b.data ? b.data : "", b.len);
  buf_free(&b);
  if (writer_access_log()) {
    struct log_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = LOGT_ACCESS;
    copy_str(rec.request_id, sizeof rec.request_id, r.request_id);
    snprintf(rec.content, sizeof rec.content, "%.16s %.200s", method ? method : "-", path[0] ? path : "-");
    rec.status = (int)status;
    copy_str(rec.end_reason, sizeof rec.end_reason, "refused");
    writer_submit(&rec);
  }
}

/* libmicrohttpd 0.9.75 takes a response only before a request body is read or after all of it
 * (MHD_queue_response refuses in between). A body found bad while it arrives (past max_body_bytes,
 * or compressed data that does not inflate) is answered at once all the same: the error, in the
 * client's format, is written to the socket directly (no response is ever queued on this request,
 * so MHD has written nothing of its own) and the write side shut; relay_on_request then drops the
 * rest of the body and closes the connection. */
static void send_early_error(struct request *r, unsigned status, const char *reason, const char *code,
                             const char *msg)
{
  char head[512];
  struct buf b;
  buf_init(&b, 2048);
  error_body(r, status, "invalid_request_error", code, NULL, msg, &b);
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\nx-request-id: %s\r\n%s%s%s\r\n",
                   status, reason, b.len, r->request_id, speaks_claude(r) ? "request-id: " : "",
                   speaks_claude(r) ? r->request_id : "", speaks_claude(r) ? "\r\n" : "");
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  r->final_status = (int)status;   /* phase stays PH_BODY: the rest is read, under client_body_timeout_s */
  r->early_answered = true;
  if (ci && n > 0 && (size_t)n < sizeof head && b.data) {
    /* a few hundred bytes into an empty socket buffer: one non-blocking send takes them all;
     * if it cannot, the client gets a closed connection as it did before */
    struct iovec iov[2] = {{head, (size_t)n}, {b.data, b.len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    if (sendmsg(ci->connect_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
      shutdown(ci->connect_fd, SHUT_WR);
  }
  buf_free(&b);
}

/* Stores one piece of the request body: as it came, or inflated (r->inflater). Returns 0, -1 when
 * the body (inflated) passes max_body_bytes, -2 when the compressed data is not valid (msg says
 * why). */
static int body_take(struct request *r, const char *data, size_t len, char *msg, size_t msglen)
{
  z_stream *z = r->inflater;
  if (!z)
    return buf_append(&r->body, data, len) == 0 ? 0 : -1;
  if (r->inflate_end) {
    snprintf(msg, msglen, "The request body has data after the end of its compressed stream.");
    return -2;
  }
  unsigned char out[16384];
  z->next_in = (Bytef *)(uintptr_t)data;   /* zlib does not write its input */
  z->avail_in = (uInt)len;                 /* MHD hands over at most its pool size at once */
  do {
    z->next_out = out;
    z->avail_out = sizeof out;
    int zr = inflate(z, Z_NO_FLUSH);
    if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
      snprintf(msg, msglen, "The request body is not valid %s data (%s).",
               MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING),
               z->msg ? z->msg : "inflate failed");
      return -2;
    }
    if (buf_append(&r->body, (const char *)out, sizeof out - z->avail_out) < 0)
      return -1;
    if (zr == Z_STREAM_END) {
      r->inflate_end = true;
      if (z->avail_in) {
        snprintf(msg, msglen, "The request body has data after the end of its compressed stream.");
        return -2;
      }
      return 0;
    }
  } while (z->avail_out == 0);
  return 0;
}

enum MHD_Result relay_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
  struct worker *w = cls;
  struct request *r = *req_cls;
  if (!r) {
    r = request_new(w, c);
    if (!r)
      return MHD_NO;
    *req_cls = r;
    const struct endpoint_def *path_def, *def = route(url, method, &path_def);
    if (!path_def && r->cc && r->cc->uri_bad) {
      /* a control byte in the target (refused in begin): its format is that of the path before it */
      char path[256];
      size_t n = 0;
      for (; url[n] && n < sizeof path - 1 && (unsigned char)url[n] >= 0x20 && url[n] != 0x7f; n++)
        path[n] = url[n];
      path[n] = '\0';
      route(path, method, &path_def);
    }
    r->def = path_def;     /* every answer from here is in the client's format: the 503s below too */
    if (writer_access_log())
      snprintf(r->access_path, sizeof r->access_path, "%s %s", method, url);
    enum MHD_Result ret;
    if (worker_stopping(w) ||
        worker_draining(w)) {
      struct MHD_Response *resp = error_response(r, 503, "relay_error", "shutting_down", NULL,
                                                 "This relay is draining or shutting down; try again.");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
      ret = queue_now(r, 503, resp);
    } else if (r->cc && r->cc->over_limit) {
      struct MHD_Response *resp = error_response(r, 503, "relay_error", "too_many_connections", NULL,
                                                 "This relay has as many client connections open as "
                                                 "it allows (max_connections); try again.");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
      ret = queue_now(r, 503, resp);
    } else if (writer_full()) {  /* the database is away and the log buffer is full (writer.h) */
      struct MHD_Response *resp = error_response(r, 503, "relay_error", "log_buffer_full", NULL,
                                                 "This relay cannot reach its database and its log "
                                                 "buffer is full; try again shortly.");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
      ret = queue_now(r, 503, resp);
    } else {
      ret = begin(r, url, method, version, def);
    }
    if (r->cc && r->phase != PH_BODY)
      r->cc->wait = CONN_BUSY;          /* answered from the header alone */
    return ret;
  }
  if (r->cc && r->phase != PH_BODY)
    r->cc->wait = CONN_BUSY;
  switch (r->phase) {
  case PH_BODY:
    if (*upload_data_size) {
      char msg[300];
      int took = r->early_answered ? 1 : body_take(r, upload_data, *upload_data_size, msg, sizeof msg);
      if (took == 0) {
        *upload_data_size = 0;
        return MHD_YES;
      }
      /* Over the limit (a chunked or compressed body has no length to refuse up front) or not
       * valid compressed data: the error goes out now (send_early_error), the rest is read and
       * dropped so that the client can read it, and a body past twice the limit (at least 1 MiB
       * past it) is not read further: the connection is closed. */
      if (took == -1) {
        snprintf(msg, sizeof msg, "The request body is larger than the limit of %lld bytes%s.",
                 (long long)worker_cfg(w)->max_body_bytes, r->inflater ? " once inflated" : "");
        send_early_error(r, 413, "Content Too Large", "request_too_large", msg);
      } else if (took == -2) {
        send_early_error(r, 400, "Bad Request", "invalid_content_encoding", msg);
      }
      r->body_over += *upload_data_size;
      *upload_data_size = 0;
      uint64_t discard_max = (uint64_t)worker_cfg(w)->max_body_bytes > (1u << 20) ? (uint64_t)worker_cfg(w)->max_body_bytes
                                                                             : (1u << 20);
      if (r->body_over > discard_max) {
        log_msg(LOG_INFO, "request body still coming long after its early answer: connection closed",
                "request_id=%s status=%d limit=%lld", r->request_id, r->final_status,
                (long long)worker_cfg(w)->max_body_bytes);
        return MHD_NO;
      }
      return MHD_YES;
    }
    if (r->early_answered)   /* the whole body came; its early answer is on the wire: close */
      return MHD_NO;
    if (r->inflater && !r->inflate_end)
      return fail_now(r, 400, "invalid_request_error", "invalid_content_encoding", NULL,
                      "The request body ended before the end of its compressed stream.");
    if (r->cc)
      r->cc->wait = CONN_BUSY;
    return dispatch(r);
  case PH_RESPOND: {
    struct MHD_Response *resp = r->pending;
    r->pending = NULL;
    r->phase = PH_DONE;
    if (!r->t_first_us)
      r->t_first_us = now_us_mono();
    enum MHD_Result ret = MHD_queue_response(c, r->pending_status, resp);
    MHD_destroy_response(resp);
    return ret;
  }
  case PH_STREAM_START:
    return start_stream_response(r);
  default:
    /* MHD may call again after a response was queued; nothing to do */
    *upload_data_size = 0;
    return MHD_YES;
  }
}

void relay_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                        enum MHD_RequestTerminationCode toe)
{
  (void)cls;
  (void)c;
  struct request *r = *req_cls;
  if (!r)
    return;
  *req_cls = NULL;
  if (!r->billing_open && r->access_path[0] && writer_access_log()) {
    /* never billed (refused before a reservation): the writer prints its access line only */
    struct log_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = LOGT_ACCESS;
    copy_str(rec.request_id, sizeof rec.request_id, r->request_id);
    copy_str(rec.content, sizeof rec.content, r->access_path);
    copy_str(rec.model, sizeof rec.model, r->rq.model);
    rec.status = r->final_status ? r->final_status : 499;
    rec.elapsed_ms = (int64_t)((now_us_mono() - r->t0_us) / 1000);
    copy_str(rec.end_reason, sizeof rec.end_reason,
             toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? "client_gone"
             : rec.status < 400 ? "done" : "refused");
    writer_submit(&rec);
  }
  if (r->billing_open && !r->settled) {
    /* the client went away (or the connection failed) before the upstream finished */
    detach_upstream(r);
    if (!r->final_status)
      r->final_status = 499;
    settle(r, toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "interrupted"
              : toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && r->end_reason ? r->end_reason
                                                                           : "client_gone");
  }
  request_free(r);
}

void relay_end_all(struct worker *w)
{
  for (struct request *r = local(w)->requests; r; r = r->next) {
    if (!r->easy)
      continue;
    detach_upstream(r);
    if (r->committed) {
      stream_error_event(r, "interrupted",
                         "The relay is shutting down: this stream was interrupted and is billed "
                         "for what was sent.");
      r->upstream_done = true;
      settle(r, "interrupted");
      wake_reader(r);
    } else if (r->billing_open) {
      r->final_status = 503;
      settle(r, "interrupted");
      struct MHD_Response *resp = error_response(r, 503, "relay_error", "shutting_down", NULL,
                                                 "The relay shut down before the upstream answered; "
                                                 "nothing was charged. Try again.");
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
      respond_later(r, 503, resp);
    }
  }
}

void relay_tick(struct worker *w)
{
  const struct config *cfg = worker_cfg(w);
  uint64_t now = now_us_mono();
  uint64_t first_us = (uint64_t)cfg->first_byte_timeout_s * 1000000u;
  uint64_t idle_us = (uint64_t)cfg->stream_idle_timeout_s * 1000000u;
  uint64_t stream_us = (uint64_t)cfg->stream_timeout_s * 1000000u;
  uint64_t whole_us = (uint64_t)cfg->request_timeout_s * 1000000u;
  struct request *next;
  for (struct request *r = local(w)->requests; r; r = next) {
    next = r->next;
    if (!r->easy)
      continue;
    uint64_t age = now - r->up_t0_us;
    const char *kind = NULL;
    if (r->rq.stream) {
      if (!r->up_last_us) {
        if (first_us && age > first_us)
          kind = "first_byte";
      } else if (!r->paused && now - r->up_last_us > idle_us) {
        kind = "idle";
      }
      if (!kind && stream_us && age > stream_us)
        kind = "total";
    } else if (whole_us && age > whole_us) {
      kind = "total";
    }
    if (!kind)
      continue;
    r->timeout_kind = kind;
    log_msg(LOG_INFO, "upstream timed out", "request_id=%s channel=%lld limit=%s", r->request_id,
            (long long)r->channel->id, kind);
    relay_on_upstream_done(r, CURLE_OPERATION_TIMEDOUT);
  }
}

void relay_client_gone(struct request *r)
{
  if (!r->billing_open || r->settled)
    return;           /* nothing waits on an upstream: MHD sees the closed socket itself */
  detach_upstream(r);
  if (!r->committed)
    r->final_status = 499;
  settle(r, "client_gone");
  if (r->committed) {
    r->upstream_done = true;
    wake_reader(r);
  } else {
    /* resumed so MHD finds the closed socket and ends the connection */
    respond_later(r, 499, error_response(r, 499, "relay_error", "client_gone", NULL,
                                         "The client closed the connection."));
  }
}

void relay_conn_closed(struct request *r)
{
  r->cc = NULL;
}

const struct worker_handlers relay_worker_handlers = {
    .on_request = relay_on_request,
    .on_completed = relay_on_completed,
    .on_upstream_done = relay_on_upstream_done,
    .attach = relay_attach,
    .busy = relay_busy,
    .end_all = relay_end_all,
    .tick = relay_tick,
    .client_gone = relay_client_gone,
    .conn_closed = relay_conn_closed,
    .refusal = relay_refusal,
    .pool_free = relay_pool_free,
};
