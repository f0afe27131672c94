/* realtime: see realtime.h.
 * Event and usage shapes: OpenAI's Realtime API reference (platform.openai.com/docs/api-reference/
 * realtime-server-events: response.done carries response.usage with input_tokens, output_tokens,
 * input_token_details {text_tokens, audio_tokens, cached_tokens}, output_token_details {text_tokens,
 * audio_tokens}; the error event is {"type":"error","error":{type, code, message, param, event_id}}),
 * and the openai node SDK's realtime client (openai-node: src/realtime/ws.ts, internal-base.ts: the
 * URL /realtime?model=M, Azure's /realtime?api-version=V&deployment=D with an api-key header). */
#include "realtime.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#include "billing.h"
#include "ledger.h"
#include "log.h"
#include "provider.h"
#include "reqpool.h"
#include "request.h"
#include "respond.h"
#include "route.h"
#include "stats.h"
#include "writer.h"

#define RT_HANDSHAKE_MAX 16384            /* the upstream's 101 answer, headers included */
#define RT_MSG_MAX (16u << 20)            /* one message either way (audio travels base64 in JSON) */
#define RT_QUEUE_MAX (8u << 20)           /* unsent bytes towards one side before the other is not read */
#define RT_CLOSE_US 2000000u              /* closing: how long the close frames get to go out */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum rt_state {
  RT_CONNECTING,    /* the upstream connection opens (curl multi, CONNECT_ONLY) */
  RT_HANDSHAKE,     /* the upgrade request is sent, its 101 awaited */
  RT_UPGRADING,     /* the client's 101 is queued; MHD has not handed over its socket yet */
  RT_OPEN,          /* relaying */
  RT_CLOSING,       /* close frames going out; freed when sent or after RT_CLOSE_US */
};

struct rt_session {
  struct rt_session *prev, *next;   /* the worker's list (relay_local.rt_sessions) */
  struct worker *w;
  struct request *r;                /* the HTTP request, until the upgrade (then NULL) */
  enum rt_state state;
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
  bool rate_limited;                /* the last take_hold failed on a rate limit, not the balance */
  unsigned responses;               /* billed so far */
  uint64_t t0_us, resp_t0_us, deadline_us;
  const char *end_reason;
  /* upstream */
  struct worker_xfer xfer;          /* its easy handle (owned: curl_easy_cleanup in rt_free) */
  bool xfer_added;
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
  bool counted;                     /* in sessions_open */
  /* closing: the close frame each side gets once its queued messages are out (wslay sends control
   * frames ahead of messages, and none after a close) -- 0: none pending */
  uint16_t c_close, u_close;
  char close_reason[64];
};

static _Atomic int64_t sessions_open;
static _Atomic uint64_t sessions_total;

int64_t realtime_sessions_open(void)
{
  return atomic_load_explicit(&sessions_open, memory_order_relaxed);
}

uint64_t realtime_sessions_total(void)
{
  return atomic_load_explicit(&sessions_total, memory_order_relaxed);
}

static struct rt_session **list_of(struct worker *w)
{
  return &local(w)->rt_sessions;
}

static void progress(struct rt_session *s);

/* ---------------------------------------------------------------- keys, holds, bills */

bool realtime_client_key(struct MHD_Connection *c, char *out, size_t n)
{
  /* Azure's clients send api-key; OpenAI's browser clients offer the key as a subprotocol */
  const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "api-key");
  if (k && *k) {
    snprintf(out, n, "%s", k);
    return strlen(k) < n;
  }
  const char *p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
  static const char pre[] = "openai-insecure-api-key.";
  for (const char *t = p; t && *t;) {
    while (*t == ' ' || *t == ',')
      t++;
    size_t len = strcspn(t, ", ");
    if (len > sizeof pre - 1 && strncmp(t, pre, sizeof pre - 1) == 0) {
      size_t kl = len - (sizeof pre - 1);
      if (kl >= n)
        return false;
      memcpy(out, t + sizeof pre - 1, kl);
      out[kl] = '\0';
      return true;
    }
    t += len;
  }
  return false;
}

/* Whether the client offered subprotocol name (answered back when it did). */
static bool offered(struct MHD_Connection *c, const char *name)
{
  const char *p = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
  size_t nl = strlen(name);
  for (const char *t = p; t && *t;) {
    while (*t == ' ' || *t == ',')
      t++;
    size_t len = strcspn(t, ", ");
    if (len == nl && strncmp(t, name, nl) == 0)
      return true;
    t += len;
  }
  return false;
}

static int64_t hold_size(const struct rt_session *s)
{
  return billing_bound(s->price, s->group_ratio, RT_HOLD_INPUT, RT_HOLD_OUTPUT);
}

/* Takes a new hold: one request of RT_HOLD_INPUT + RT_HOLD_OUTPUT tokens for the rate limits, and
 * its price on the balances; false when a rate limit refuses it (s->rate_limited, *why) or the
 * balances cannot cover it (*avail: what is left). */
static bool take_hold(struct rt_session *s, int64_t *avail, struct limit_refusal *why)
{
  const struct snap_token *t = s->token;
  int64_t amount = hold_size(s);
  s->rate_limited = false;
  if (!limits_admit(&t->limits, &t->user->limits, s->model, RT_HOLD_INPUT + RT_HOLD_OUTPUT,
                    s->snap->opt.rate_limit_window_s, &s->lim, why)) {
    s->rate_limited = true;
    stats_ratelimit_rejected(worker_stats(s->w), why->scope == LIMIT_TOKEN ? "token" : "user");
    return false;
  }
  if (!ledger_reserve(t->user->bal, t->unlimited ? NULL : t->bal, amount, avail)) {
    limits_undo(&s->lim);
    return false;
  }
  s->hold = amount;
  return true;
}

/* Gives back the hold still open, unbilled (no response was in progress, or it never finished). */
static void drop_hold(struct rt_session *s)
{
  if (!s->hold)
    return;
  const struct snap_token *t = s->token;
  ledger_settle(t->user->bal, t->unlimited ? NULL : t->bal, t->bal, s->hold, 0);
  limits_undo(&s->lim);
  s->hold = 0;
}

/* One response.done: charged against the hold (grown when it costs more and the balance has it),
 * its log row queued and its figures counted. Returns false when the balances could not cover it
 * (it is charged what was held). */
static bool bill_response(struct rt_session *s, const cJSON *resp)
{
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(resp, "usage");
  struct usage use = {0};
  int64_t in_text = 0, in_audio = 0, out_text = 0, out_audio = 0;
  const char *source = "none";
  char note[200] = "";
  if (cJSON_IsObject(u)) {
    use.prompt_tokens = usage_count(u, "input_tokens", &use);
    use.completion_tokens = usage_count(u, "output_tokens", &use);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(u, "input_token_details");
    const cJSON *od = cJSON_GetObjectItemCaseSensitive(u, "output_token_details");
    if (cJSON_IsObject(id)) {
      use.cached_tokens = usage_count(id, "cached_tokens", &use);
      in_text = usage_count(id, "text_tokens", &use);
      in_audio = usage_count(id, "audio_tokens", &use);
    }
    if (cJSON_IsObject(od)) {
      out_text = usage_count(od, "text_tokens", &use);
      out_audio = usage_count(od, "audio_tokens", &use);
    }
    source = "upstream";
    if (use.bad) {
      /* not a count: bill the hold, never nothing and never a fortune */
      memset(&use, 0, sizeof use);
      source = "reserved";
      snprintf(note, sizeof note, "response.done held a usage count that is not one; the hold was charged");
    } else {
      usage_normalize(&use);
      snprintf(note, sizeof note, "realtime: input text %lld audio %lld cached %lld, output text %lld audio %lld",
               (long long)in_text, (long long)in_audio, (long long)use.cached_tokens, (long long)out_text,
               (long long)out_audio);
    }
  } else {
    snprintf(note, sizeof note, "response.done carried no usage: nothing was charged");
  }
  int64_t charged = strcmp(source, "upstream") == 0 ? billing_quota(s->price, s->group_ratio, &use)
                    : strcmp(source, "reserved") == 0 ? s->hold : 0;
  const struct snap_token *t = s->token;
  bool covered = true;
  int64_t held = s->hold;
  if (charged > held) {
    int64_t more = charged - held, avail = 0;
    if (ledger_reserve(t->user->bal, t->unlimited ? NULL : t->bal, more, &avail)) {
      held += more;
    } else {
      snprintf(note, sizeof note, "the response came to %lld, more than the balance covers; %lld was charged",
               (long long)charged, (long long)held);
      charged = held;
      covered = false;
    }
  }
  ledger_settle(t->user->bal, t->unlimited ? NULL : t->bal, t->bal, held, charged);
  limits_settle(&s->lim, use.prompt_tokens + use.completion_tokens);
  s->hold = 0;
  s->responses++;

  struct log_record rec;
  memset(&rec, 0, sizeof rec);
  snprintf(rec.request_id, sizeof rec.request_id, "%.28s-%u", s->id, s->responses);
  rec.created_at = now_unix();
  rec.type = LOGT_CONSUME;
  rec.user_id = t->user->id;
  copy_str(rec.username, sizeof rec.username, t->user->username);
  rec.token_id = t->id;
  copy_str(rec.token_name, sizeof rec.token_name, t->name);
  rec.channel_id = s->channel->id;
  copy_str(rec.model, sizeof rec.model, s->model);
  copy_str(rec.upstream_model, sizeof rec.upstream_model, s->upstream_model);
  copy_str(rec.group, sizeof rec.group, t->group);
  copy_str(rec.api, sizeof rec.api, "realtime");
  rec.prompt_tokens = use.prompt_tokens;
  rec.completion_tokens = use.completion_tokens;
  rec.quota = charged;
  rec.status = 200;
  rec.is_stream = true;
  uint64_t now = now_us_mono();
  uint64_t since = s->resp_t0_us ? s->resp_t0_us : s->t0_us;
  rec.elapsed_ms = (int64_t)((now - since) / 1000);
  copy_str(rec.end_reason, sizeof rec.end_reason, "done");
  copy_str(rec.usage_source, sizeof rec.usage_source, source);
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(resp, "id");
  snprintf(rec.content, sizeof rec.content, "realtime session %s, response %.60s", s->id,
           cJSON_IsString(rid) ? rid->valuestring : "?");
  rec.user_bal = t->user->bal;
  rec.token_bal = t->unlimited ? NULL : t->bal;
  struct billing_explain ex = {
      .price = s->price, .group = t->group, .group_ratio = s->group_ratio,
      .usage = strcmp(source, "upstream") == 0 ? &use : NULL, .usage_source = source,
      .reserved = held, .charged = charged, .note = note, .api = "realtime",
  };
  billing_explain_json(&ex, rec.billing, sizeof rec.billing);
  writer_submit(&rec);

  struct req_event ev;
  memset(&ev, 0, sizeof ev);
  copy_str(ev.request_id, sizeof ev.request_id, rec.request_id);
  ev.ts_ms = now_unix_ms();
  ev.channel_id = s->channel->id;
  copy_str(ev.model, sizeof ev.model, s->model);
  ev.model_known = true;
  copy_str(ev.token, sizeof ev.token, t->name);
  copy_str(ev.user, sizeof ev.user, t->user->username);
  ev.status = 200;
  ev.stream = true;
  ev.prompt_tokens = use.prompt_tokens;
  ev.completion_tokens = use.completion_tokens;
  ev.cached_tokens = use.cached_tokens;
  ev.quota = charged;
  ev.elapsed_us = (int64_t)(now - since);
  copy_str(ev.end_reason, sizeof ev.end_reason, "done");
  stats_record(worker_stats(s->w), &ev, false);
  s->resp_t0_us = 0;
  return covered;
}

/* ---------------------------------------------------------------- the end of a session */

static void unwatch(struct rt_session *s, int fd, uint32_t *ev)
{
  if (fd >= 0 && *ev)
    worker_unwatch(s->w, fd);
  *ev = 0;
}

static void rt_free(struct rt_session *s)
{
  struct worker *w = s->w;
  if (s->r)
    s->r->rt = NULL;
  unwatch(s, s->cfd, &s->cev);
  unwatch(s, s->ufd, &s->uev);
  if (s->cctx)
    wslay_event_context_free(s->cctx);
  if (s->uctx)
    wslay_event_context_free(s->uctx);
  if (s->xfer_added)
    worker_xfer_remove(w, &s->xfer);
  if (s->xfer.easy)
    curl_easy_cleanup(s->xfer.easy);    /* closes the upstream socket */
  if (s->urh) {
    MHD_upgrade_action(s->urh, MHD_UPGRADE_ACTION_CLOSE);
    worker_wake(w);                     /* MHD cleans the connection up on its next run */
  }
  drop_hold(s);
  if (s->counted) {
    atomic_fetch_sub_explicit(&sessions_open, 1, memory_order_relaxed);
    log_msg(LOG_INFO, "realtime session ended", "session=%s channel=%lld responses=%u reason=%s seconds=%llu",
            s->id, (long long)s->channel->id, s->responses, s->end_reason ? s->end_reason : "done",
            (unsigned long long)((now_us_mono() - s->t0_us) / 1000000u));
  }
  snapshot_release(s->snap);
  buf_free(&s->uout);
  buf_free(&s->hs);
  free(s->upre);
  free(s->cpre);
  if (s->prev)
    s->prev->next = s->next;
  else
    *list_of(w) = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
}

/* Before the upgrade: the client gets an HTTP error in OpenAI's shape, the session ends. */
static void fail_http(struct rt_session *s, unsigned status, const char *code, enum health_outcome out,
                      const char *fmt, const char *arg)
{
  struct request *r = s->r;
  char msg[400];
  snprintf(msg, sizeof msg, fmt, arg ? arg : "");
  if (r) {
    release_channel(r, out, msg);
    respond_later(r, status, error_response(r, status, status >= 500 ? "relay_error" : "invalid_request_error",
                                            code, NULL, msg));
  }
  s->end_reason = code;
  rt_free(s);
}

/* Queues an error event to the client (OpenAI's realtime error event). */
static void send_error_event(struct rt_session *s, const char *type, const char *code, const char *msg)
{
  if (!s->cctx || s->c_dead)
    return;
  cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
  char eid[64];
  snprintf(eid, sizeof eid, "event_relay_%.28s_%u", s->id, s->responses);
  cJSON_AddStringToObject(o, "type", "error");
  cJSON_AddStringToObject(o, "event_id", eid);
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddStringToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", msg);
  cJSON_AddNullToObject(e, "param");
  cJSON_AddNullToObject(e, "event_id");
  cJSON_AddItemToObject(o, "error", e);
  char *txt = cJSON_PrintUnformatted(o);    /* owned: freed below (wslay copies it) */
  cJSON_Delete(o);
  if (!txt)
    return;
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)txt, strlen(txt)};
  wslay_event_queue_msg(s->cctx, &m);
  free(txt);
}

/* Starts the end: close frames (code, reason) to whichever side still has a live connection. */
static void begin_close(struct rt_session *s, uint16_t ccode, uint16_t ucode, const char *reason, const char *why)
{
  if (s->state == RT_CLOSING)
    return;
  s->state = RT_CLOSING;
  s->end_reason = why;
  s->deadline_us = now_us_mono() + RT_CLOSE_US;
  copy_str(s->close_reason, sizeof s->close_reason, reason);
  s->c_close = ccode;
  s->u_close = ucode;
}

/* Queues the pending close frame of a side whose messages are all out. */
static void close_when_flushed(struct rt_session *s, wslay_event_context_ptr ctx, bool dead, uint16_t *code)
{
  if (!*code || !ctx || dead)
    return;
  if (wslay_event_get_close_sent(ctx)) {
    *code = 0;
    return;
  }
  if (wslay_event_get_queued_msg_count(ctx) > 0)
    return;
  wslay_event_queue_close(ctx, *code, (const uint8_t *)s->close_reason, strlen(s->close_reason));
  *code = 0;
}

/* ---------------------------------------------------------------- wslay callbacks */

static ssize_t c_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  if (s->cpre_off < s->cpre_len) {
    size_t n = s->cpre_len - s->cpre_off < len ? s->cpre_len - s->cpre_off : len;
    memcpy(buf, s->cpre + s->cpre_off, n);
    s->cpre_off += n;
    return (ssize_t)n;
  }
  if (s->uctx && wslay_event_get_queued_msg_length(s->uctx) > RT_QUEUE_MAX) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);   /* the upstream reads slower than we write */
    return -1;
  }
  ssize_t n = recv(s->cfd, buf, len, MSG_DONTWAIT);
  if (n > 0)
    return n;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  s->c_dead = true;
  wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

static ssize_t c_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  ssize_t n = send(s->cfd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n >= 0)
    return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  s->c_dead = true;
  wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

static ssize_t u_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  if (s->upre_off < s->upre_len) {
    size_t n = s->upre_len - s->upre_off < len ? s->upre_len - s->upre_off : len;
    memcpy(buf, s->upre + s->upre_off, n);
    s->upre_off += n;
    return (ssize_t)n;
  }
  if (s->cctx && wslay_event_get_queued_msg_length(s->cctx) > RT_QUEUE_MAX) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);   /* the client reads slower than we write */
    return -1;
  }
  size_t n = 0;
  CURLcode rc = curl_easy_recv(s->xfer.easy, buf, len, &n);
  if (rc == CURLE_OK && n > 0)
    return (ssize_t)n;
  if (rc == CURLE_AGAIN) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  s->u_dead = true;
  wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

static ssize_t u_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
  (void)flags;
  struct rt_session *s = user;
  size_t n = 0;
  CURLcode rc = curl_easy_send(s->xfer.easy, data, len, &n);
  if (rc == CURLE_OK)
    return (ssize_t)n;
  if (rc == CURLE_AGAIN) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  s->u_dead = true;
  wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

static int genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
  (void)ctx;
  (void)user;
  return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

/* A whole message from the client: passed on to the upstream as it is. */
static void c_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *user)
{
  (void)ctx;
  struct rt_session *s = user;
  if (a->opcode == WSLAY_CONNECTION_CLOSE) {
    /* wslay answers the client's close itself; the upstream gets the same code */
    uint16_t code = a->status_code && a->status_code != 1005 ? a->status_code : 1000;
    begin_close(s, code, code, "client closed", "client_closed");
    return;
  }
  if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
    return;                             /* ping and pong are each hop's own */
  if (s->state != RT_OPEN || !s->uctx)
    return;
  if (!s->resp_t0_us && a->opcode == WSLAY_TEXT_FRAME) {
    /* the time of a response runs from the client's response.create */
    cJSON *o = cJSON_ParseWithLength((const char *)a->msg, a->msg_length);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (cJSON_IsString(t) && strcmp(t->valuestring, "response.create") == 0)
      s->resp_t0_us = now_us_mono();
    cJSON_Delete(o);
  }
  struct wslay_event_msg m = {a->opcode, a->msg, a->msg_length};
  wslay_event_queue_msg(s->uctx, &m);
}

/* A whole message from the upstream: passed on to the client; a response.done is billed. */
static void u_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *user)
{
  (void)ctx;
  struct rt_session *s = user;
  if (a->opcode == WSLAY_CONNECTION_CLOSE) {
    uint16_t code = a->status_code && a->status_code != 1005 ? a->status_code : 1000;
    begin_close(s, code, code, "upstream closed", "upstream_closed");
    return;
  }
  if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
    return;
  if (!s->cctx || s->c_dead || s->state != RT_OPEN)
    return;
  struct wslay_event_msg m = {a->opcode, a->msg, a->msg_length};
  wslay_event_queue_msg(s->cctx, &m);
  if (a->opcode != WSLAY_TEXT_FRAME)
    return;
  cJSON *o = cJSON_ParseWithLength((const char *)a->msg, a->msg_length);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
  if (cJSON_IsString(t) && strcmp(t->valuestring, "response.done") == 0) {
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(o, "response");
    bool covered = bill_response(s, cJSON_IsObject(resp) ? resp : NULL);
    int64_t avail = 0;
    struct limit_refusal why;
    if (!covered || !take_hold(s, &avail, &why)) {
      char msg[300];
      if (covered && s->rate_limited) {
        snprintf(msg, sizeof msg, "Rate limit reached for %s: this %s may make %lld per %lld s. The session is "
                 "closed; connect again later.", why.kind == LIMIT_REQUESTS ? "requests" : "tokens",
                 why.scope == LIMIT_TOKEN ? "API key" : "user", (long long)why.limit,
                 (long long)s->snap->opt.rate_limit_window_s);
        send_error_event(s, why.kind == LIMIT_REQUESTS ? "requests" : "tokens", "rate_limit_exceeded", msg);
        begin_close(s, 1008, 1000, "rate limit exceeded", "rate_limited");
      } else {
        snprintf(msg, sizeof msg, "Not enough quota for another response: a response may cost up to %lld and "
                 "only %lld is left. The session is closed; top up and connect again.",
                 (long long)hold_size(s), (long long)avail);
        send_error_event(s, "insufficient_quota", "insufficient_quota", msg);
        begin_close(s, 1008, 1000, "insufficient quota", "quota");
      }
    }
  }
  cJSON_Delete(o);
}

static const struct wslay_event_callbacks client_cbs = {c_recv, c_send, NULL, NULL, NULL, NULL, c_msg};
static const struct wslay_event_callbacks upstream_cbs = {u_recv, u_send, genmask, NULL, NULL, NULL, u_msg};

/* ---------------------------------------------------------------- the event loop's side */

static void set_interest(struct rt_session *s, int fd, uint32_t *cur, uint32_t want, worker_fd_fn fn)
{
  if (fd < 0 || want == *cur)
    return;
  if (!want) {
    unwatch(s, fd, cur);
    return;
  }
  if (worker_watch(s->w, fd, want, fn, s) == 0)
    *cur = want;
}

static void on_client(void *arg, int fd, uint32_t events);
static void on_upstream(void *arg, int fd, uint32_t events);

/* After any event: reads and writes what each side allows, notices ends, sets the interest. */
static void progress(struct rt_session *s)
{
  for (int round = 0; round < 4; round++) {
    bool again = false;
    if (s->cctx && !s->c_dead) {
      if ((s->cev & EPOLLIN) && wslay_event_want_read(s->cctx) && wslay_event_recv(s->cctx) != 0)
        s->c_dead = true;
    }
    if (s->uctx && !s->u_dead) {
      if ((s->uev & EPOLLIN) && wslay_event_want_read(s->uctx) && wslay_event_recv(s->uctx) != 0)
        s->u_dead = true;
      if (!s->u_dead && wslay_event_want_write(s->uctx) && wslay_event_send(s->uctx) != 0)
        s->u_dead = true;
    }
    if (s->cctx && !s->c_dead && wslay_event_want_write(s->cctx) && wslay_event_send(s->cctx) != 0)
      s->c_dead = true;
    if (s->state == RT_CLOSING) {
      bool cq = s->c_close != 0, uq = s->u_close != 0;
      close_when_flushed(s, s->cctx, s->c_dead, &s->c_close);
      close_when_flushed(s, s->uctx, s->u_dead, &s->u_close);
      if ((cq && !s->c_close) || (uq && !s->u_close))
        again = true;               /* send the close frames now */
    }
    if (s->state == RT_OPEN && s->u_dead) {
      send_error_event(s, "server_error", "upstream_disconnected",
                       "The upstream closed the realtime session without a close frame.");
      begin_close(s, 1011, 1000, "upstream disconnected", "upstream_gone");
      again = true;
    } else if (s->state == RT_OPEN && s->c_dead) {
      begin_close(s, 1001, 1001, "client disconnected", "client_gone");
      again = true;
    }
    if (!again)
      break;
  }
  if (s->state == RT_CLOSING) {
    bool c_done = !s->cctx || s->c_dead ||
                  (!s->c_close && wslay_event_get_close_sent(s->cctx) && !wslay_event_want_write(s->cctx));
    bool u_done = !s->uctx || s->u_dead ||
                  (!s->u_close && wslay_event_get_close_sent(s->uctx) && !wslay_event_want_write(s->uctx));
    if (c_done && u_done) {
      rt_free(s);
      return;
    }
  }
  uint32_t cw = 0, uw = 0;
  if (s->cctx && !s->c_dead) {
    if (wslay_event_want_read(s->cctx))
      cw |= EPOLLIN;
    if (wslay_event_want_write(s->cctx))
      cw |= EPOLLOUT;
  }
  if (s->uctx && !s->u_dead) {
    if (wslay_event_want_read(s->uctx))
      uw |= EPOLLIN;
    if (wslay_event_want_write(s->uctx))
      uw |= EPOLLOUT;
  }
  set_interest(s, s->cfd, &s->cev, cw, on_client);
  set_interest(s, s->ufd, &s->uev, uw, on_upstream);
}

static void on_client(void *arg, int fd, uint32_t events)
{
  (void)fd;
  struct rt_session *s = arg;
  if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
    s->c_dead = true;
  progress(s);
}

/* ---------------------------------------------------------------- the upstream handshake */

static void b64(const unsigned char *in, size_t n, char *out)
{
  EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The Sec-WebSocket-Accept for key (RFC 6455 4.2.2). out: 29 bytes at least. */
static void ws_accept(const char *key, char *out)
{
  char cat[128];
  unsigned char dig[SHA_DIGEST_LENGTH];
  int n = snprintf(cat, sizeof cat, "%s%s", key, WS_GUID);
  SHA1((const unsigned char *)cat, (size_t)(n < (int)sizeof cat ? n : (int)sizeof cat - 1), dig);
  b64(dig, sizeof dig, out);
}

/* The value of header name in the header block h (lines after the status line), or NULL; *len. */
static const char *header_value(const char *h, const char *name, size_t *len)
{
  size_t nl = strlen(name);
  for (const char *line = strstr(h, "\r\n"); line && line[2] && !(line[2] == '\r' && line[3] == '\n');
       line = strstr(line + 2, "\r\n")) {
    const char *p = line + 2;
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      p += nl + 1;
      while (*p == ' ' || *p == '\t')
        p++;
      const char *e = strstr(p, "\r\n");
      *len = e ? (size_t)(e - p) : strlen(p);
      while (*len && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
        (*len)--;
      return p;
    }
  }
  return NULL;
}

static void client_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra_in,
                            size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh);

/* The upstream's 101 is in: the client gets its own. */
static void upstream_accepted(struct rt_session *s, size_t head_len)
{
  struct request *r = s->r;
  if (s->hs.len > head_len) {
    s->upre_len = s->hs.len - head_len;
    s->upre = malloc(s->upre_len);        /* owned: rt_free */
    if (!s->upre) {
      fail_http(s, 500, "out_of_memory", OUTCOME_ABANDON, "The relay is out of memory.%s", "");
      return;
    }
    memcpy(s->upre, s->hs.data + head_len, s->upre_len);
  }
  if (wslay_event_context_client_init(&s->uctx, &upstream_cbs, s) != 0) {
    fail_http(s, 500, "out_of_memory", OUTCOME_ABANDON, "The relay is out of memory.%s", "");
    return;
  }
  wslay_event_config_set_max_recv_msg_length(s->uctx, RT_MSG_MAX);
  const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
  char accept[32];
  ws_accept(key ? key : "", accept);
  struct MHD_Response *resp = MHD_create_response_for_upgrade(client_upgraded, s);
  if (!resp) {
    fail_http(s, 500, "out_of_memory", OUTCOME_ABANDON, "The relay is out of memory.%s", "");
    return;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
  MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
  if (s->subprotocol[0])
    MHD_add_response_header(resp, "Sec-WebSocket-Protocol", s->subprotocol);
  add_common_headers(r, resp);
  release_channel(r, OUTCOME_OK, NULL);
  s->state = RT_UPGRADING;
  unwatch(s, s->ufd, &s->uev);          /* read again once the client is there */
  respond_later(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

static void handshake_read(struct rt_session *s)
{
  char tmp[4096];
  for (;;) {
    size_t n = 0;
    CURLcode rc = curl_easy_recv(s->xfer.easy, tmp, sizeof tmp, &n);
    if (rc == CURLE_AGAIN)
      break;
    if (rc != CURLE_OK || n == 0) {
      fail_http(s, 502, "upstream_error", OUTCOME_FAIL,
                "The upstream closed the connection before it accepted the realtime session.%s", "");
      return;
    }
    if (s->hs.len + n > RT_HANDSHAKE_MAX || buf_append(&s->hs, tmp, n) < 0) {
      fail_http(s, 502, "upstream_error", OUTCOME_FAIL,
                "The upstream's answer to the realtime upgrade is too long.%s", "");
      return;
    }
  }
  if (!s->hs.data)
    return;
  const char *end = memmem(s->hs.data, s->hs.len, "\r\n\r\n", 4);
  if (!end)
    return;
  size_t head_len = (size_t)(end - s->hs.data) + 4;
  char head[RT_HANDSHAKE_MAX + 1];
  memcpy(head, s->hs.data, head_len);
  head[head_len] = '\0';
  int status = 0;
  if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
    status = 0;
  if (status != 101) {
    char why[64];
    snprintf(why, sizeof why, "%d", status);
    fail_http(s, 502, "upstream_error", status == 401 || status == 403 ? OUTCOME_ACCOUNT
                                        : status >= 400 && status < 500 ? OUTCOME_CLIENT : OUTCOME_FAIL,
              "The upstream refused the realtime session (HTTP %s).", why);
    return;
  }
  size_t al = 0;
  const char *acc = header_value(head, "Sec-WebSocket-Accept", &al);
  if (!acc || al != strlen(s->accept) || strncmp(acc, s->accept, al) != 0) {
    fail_http(s, 502, "upstream_error", OUTCOME_FAIL,
              "The upstream answered the realtime upgrade without a valid Sec-WebSocket-Accept.%s", "");
    return;
  }
  upstream_accepted(s, head_len);
}

static void handshake_write(struct rt_session *s)
{
  while (s->uout.len) {
    size_t n = 0;
    CURLcode rc = curl_easy_send(s->xfer.easy, s->uout.data, s->uout.len, &n);
    if (rc == CURLE_AGAIN)
      return;
    if (rc != CURLE_OK) {
      fail_http(s, 502, "upstream_error", OUTCOME_FAIL, "Sending the realtime upgrade upstream failed: %s.",
                curl_easy_strerror(rc));
      return;
    }
    memmove(s->uout.data, s->uout.data + n, s->uout.len - n);
    s->uout.len -= n;
  }
}

static void on_upstream(void *arg, int fd, uint32_t events)
{
  (void)fd;
  struct rt_session *s = arg;
  if (s->state == RT_HANDSHAKE) {
    if (s->uout.len) {
      handshake_write(s);
      if (!s->uout.len)
        set_interest(s, s->ufd, &s->uev, EPOLLIN, on_upstream);
      return;
    }
    handshake_read(s);
    return;
  }
  if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
    s->u_dead = true;
  progress(s);
}

/* The upstream connection is open (or failed): the upgrade request goes out. */
static void connected(void *arg, CURLcode res)
{
  struct rt_session *s = arg;
  if (res != CURLE_OK) {
    fail_http(s, 502, "upstream_error", OUTCOME_FAIL, "The upstream could not be reached: %s.",
              curl_easy_strerror(res));
    return;
  }
  curl_socket_t sock = CURL_SOCKET_BAD;
  CURLUcode uc;
  char *url = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
  curl_easy_getinfo(s->xfer.easy, CURLINFO_ACTIVESOCKET, &sock);
  curl_easy_getinfo(s->xfer.easy, CURLINFO_EFFECTIVE_URL, &url);
  CURLU *u = curl_url();                         /* owned: curl_url_cleanup below */
  uc = u ? curl_url_set(u, CURLUPART_URL, url ? url : "", 0) : CURLUE_OUT_OF_MEMORY;
  if (uc == CURLUE_OK)
    uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
  if (uc == CURLUE_OK)
    uc = curl_url_get(u, CURLUPART_PATH, &path, 0);
  if (uc == CURLUE_OK)
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
  if (uc == CURLUE_OK)
    curl_url_get(u, CURLUPART_PORT, &port, 0);   /* only when the URL names one */
  if (sock == CURL_SOCKET_BAD || uc != CURLUE_OK) {
    curl_free(host), curl_free(path), curl_free(query), curl_free(port);
    curl_url_cleanup(u);
    fail_http(s, 502, "upstream_error", OUTCOME_FAIL, "The upstream connection is not usable.%s", "");
    return;
  }
  s->ufd = (int)sock;
  unsigned char rnd[16];
  char key[32];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    memset(rnd, 0x5a, sizeof rnd);
  b64(rnd, sizeof rnd, key);
  ws_accept(key, s->accept);
  buf_appendf(&s->uout,
              "GET %s%s%s HTTP/1.1\r\nHost: %s%s%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: relay/" RELAY_VERSION "\r\n",
              path, query ? "?" : "", query ? query : "", host, port ? ":" : "", port ? port : "", key);
  if (s->beta[0])
    buf_appendf(&s->uout, "OpenAI-Beta: %s\r\n", s->beta);
  /* the channel's headers: its key, and any it was given; not its Content-Type */
  for (const struct curl_slist *h = s->channel->headers; h; h = h->next)
    if (strncasecmp(h->data, "Content-Type:", 13) != 0 && strncasecmp(h->data, "Accept", 6) != 0 &&
        !strpbrk(h->data, "\r\n"))
      buf_appendf(&s->uout, "%s\r\n", h->data);
  buf_append_str(&s->uout, "\r\n");
  curl_free(host), curl_free(path), curl_free(query), curl_free(port);
  curl_url_cleanup(u);
  s->state = RT_HANDSHAKE;
  handshake_write(s);
  if (s->state != RT_HANDSHAKE)
    return;                               /* failed and freed */
  set_interest(s, s->ufd, &s->uev, s->uout.len ? EPOLLOUT : EPOLLIN, on_upstream);
  if (!s->uev)
    fail_http(s, 500, "relay_error", OUTCOME_ABANDON, "The relay could not watch the upstream connection.%s", "");
}

/* ---------------------------------------------------------------- the client's side */

static void client_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra_in,
                            size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
  (void)c;
  (void)req_cls;
  struct rt_session *s = cls;
  s->urh = urh;
  s->cfd = sock;
  if (s->r) {
    s->r->rt = NULL;
    s->r = NULL;                          /* MHD completes the request on its own now */
  }
  s->state = RT_OPEN;
  s->t0_us = now_us_mono();
  s->counted = true;
  atomic_fetch_add_explicit(&sessions_open, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&sessions_total, 1, memory_order_relaxed);
  log_msg(LOG_INFO, "realtime session opened", "session=%s channel=%lld model=%s", s->id,
          (long long)s->channel->id, s->model);
  if (extra_in_size) {
    s->cpre = malloc(extra_in_size);      /* owned: rt_free */
    if (s->cpre) {
      memcpy(s->cpre, extra_in, extra_in_size);
      s->cpre_len = extra_in_size;
    }
  }
  if ((extra_in_size && !s->cpre) || wslay_event_context_server_init(&s->cctx, &client_cbs, s) != 0) {
    s->c_dead = true;
    begin_close(s, 1011, 1011, "out of memory", "error");
    progress(s);
    return;
  }
  wslay_event_config_set_max_recv_msg_length(s->cctx, RT_MSG_MAX);
  /* the client's socket leaves the worker's connection watch for the session's own */
  s->cev = 0;
  s->uev = 0;
  set_interest(s, s->cfd, &s->cev, EPOLLIN, on_client);
  set_interest(s, s->ufd, &s->uev, EPOLLIN, on_upstream);
  if (!s->cev || !s->uev) {
    s->c_dead = s->u_dead = true;
    begin_close(s, 1011, 1011, "cannot watch", "error");
  }
  progress(s);
}

/* ---------------------------------------------------------------- the way in */

enum MHD_Result realtime_begin(struct request *r, const char *url)
{
  (void)url;
  bool azure_path = strcmp(r->def->path, "/openai/realtime") == 0;
  const char *mparam = azure_path ? "deployment" : "model";
  const char *model = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, mparam);
  if (!model || !*model)
    return fail_now(r, 400, "invalid_request_error", "missing_model", mparam,
                    "Name the model in the URL: %s?%s=MODEL.", r->def->path, mparam);
  if (strlen(model) >= sizeof r->rq.model)
    return fail_now(r, 400, "invalid_request_error", "invalid_model", mparam, "The model name is too long.");
  const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
  const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
  const char *ver = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
  if (!up || strcasecmp(up, "websocket") != 0 || !key || !*key || strlen(key) > 64)
    return fail_now(r, 400, "invalid_request_error", "websocket_required", NULL,
                    "The Realtime API is a WebSocket: connect with Upgrade: websocket and a Sec-WebSocket-Key.");
  if (!ver || strcmp(ver, "13") != 0)
    return fail_now(r, 400, "invalid_request_error", "websocket_version", NULL,
                    "Only WebSocket version 13 is spoken here (Sec-WebSocket-Version: 13).");
  copy_str(r->rq.model, sizeof r->rq.model, model);
  copy_str(r->route_model, sizeof r->route_model, model);
  r->rq.stream = true;
  const struct snap_token *t = r->token;
  if (!token_allows_model(t, r->rq.model))
    return fail_now(r, 403, "permission_error", "model_not_allowed", "model",
                    "This API key may not use the model '%s'.", r->rq.model);
  r->group_ratio = snapshot_group_ratio(r->snap, t->group);
  if (r->group_ratio < 0)
    return fail_now(r, 403, "permission_error", "group_not_found", NULL,
                    "The group '%s' of this API key does not exist.", t->group);
  struct choice_miss miss;
  const struct snap_channel *ch = choose_channel(r, &miss);
  if (!ch) {
    if (miss.busy || miss.open || miss.disabled)
      return fail_now(r, 503, "relay_error", "model_not_available", "model",
                      "No channel can take a realtime session for the model '%s' now; try again.", r->rq.model);
    return fail_now(r, 404, "invalid_request_error", "model_not_found", "model",
                    "The model '%s' does not exist or you do not have access to it: no channel in group "
                    "'%s' serves it.", r->rq.model, t->group);
  }
  if (ch->api != UPSTREAM_OPENAI && ch->api != UPSTREAM_AZURE) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 400, "invalid_request_error", "realtime_not_supported", "model",
                    "The model '%s' is served by a %s channel; the Realtime API reaches OpenAI and Azure "
                    "channels only.", r->rq.model, ch->type);
  }
  r->channel = ch;
  r->price = snapshot_price(r->snap, r->rq.model);
  if (!r->price || r->price->has_fixed) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 403, "permission_error", "model_price_unset", "model",
                    "The model '%s' has no per-token price configured; an administrator must set one "
                    "(gwctl price set) before it can be used.", r->rq.model);
  }
  struct rt_session *s = calloc(1, sizeof *s);   /* owned by the worker's list: rt_free */
  if (!s) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    return fail_now(r, 500, "relay_error", "out_of_memory", NULL, "The relay is out of memory.");
  }
  s->w = r->w;
  s->r = r;
  s->cfd = s->ufd = -1;
  s->token = t;
  s->channel = ch;
  s->price = r->price;
  s->group_ratio = r->group_ratio;
  copy_str(s->id, sizeof s->id, r->request_id);
  copy_str(s->model, sizeof s->model, r->rq.model);
  const char *mapped = strmap_get(&ch->model_map, r->route_model);
  copy_str(s->upstream_model, sizeof s->upstream_model, mapped ? mapped : r->route_model);
  copy_str(r->upstream_model, sizeof r->upstream_model, s->upstream_model);
  if (offered(r->conn, "realtime"))
    copy_str(s->subprotocol, sizeof s->subprotocol, "realtime");
  const char *beta = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "OpenAI-Beta");
  if (beta && strlen(beta) < sizeof s->beta && !strpbrk(beta, "\r\n"))
    copy_str(s->beta, sizeof s->beta, beta);
  else if (offered(r->conn, "openai-beta.realtime-v1"))
    copy_str(s->beta, sizeof s->beta, "realtime=v1");
  buf_init(&s->uout, 1024);
  buf_init(&s->hs, 1024);
  s->t0_us = now_us_mono();
  atomic_fetch_add_explicit(&r->snap->refs, 1, memory_order_relaxed);
  s->snap = r->snap;
  s->next = *list_of(r->w);
  if (s->next)
    s->next->prev = s;
  *list_of(r->w) = s;
  r->rt = s;
  int64_t avail = 0;
  struct limit_refusal why;
  if (!take_hold(s, &avail, &why)) {
    bool rate = s->rate_limited;
    release_channel(r, OUTCOME_ABANDON, NULL);
    r->rt = NULL;
    s->r = NULL;
    rt_free(s);
    if (rate)
      return fail_now(r, 429, why.kind == LIMIT_REQUESTS ? "requests" : "tokens", "rate_limit_exceeded", NULL,
                      "Rate limit reached for %s: this %s may make %lld per %lld s; a realtime session "
                      "counts each response as one request of %d tokens until its usage is known.",
                      why.kind == LIMIT_REQUESTS ? "requests" : "tokens",
                      why.scope == LIMIT_TOKEN ? "API key" : "user", (long long)why.limit,
                      (long long)r->snap->opt.rate_limit_window_s, RT_HOLD_INPUT + RT_HOLD_OUTPUT);
    return fail_now(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                    "Not enough quota: a realtime response may cost up to %lld and only %lld is left.",
                    (long long)billing_bound(r->price, r->group_ratio, RT_HOLD_INPUT, RT_HOLD_OUTPUT),
                    (long long)avail);
  }
  /* the upstream URL: OpenAI's /v1/realtime?model=M, or Azure's /openai/realtime?api-version&deployment */
  char target[2048], err[200];
  CURL *e = curl_easy_init();                 /* owned by s (xfer.easy): rt_free */
  s->xfer.easy = e;
  char *esc = e ? curl_easy_escape(e, s->upstream_model, 0) : NULL;
  int n = -1;
  if (esc && ch->api == UPSTREAM_AZURE)
    n = snprintf(target, sizeof target, "%s/openai/realtime?api-version=%s&deployment=%s", ch->base_url,
                 ch->api_version, esc);
  else if (esc && provider_join(ch->base_url, "/v1/realtime", target, sizeof target - 300) == 0)
    n = (int)strlen(target) + snprintf(target + strlen(target), 300, "?model=%s", esc);
  curl_free(esc);
  if (!e || n < 0 || (size_t)n >= sizeof target) {
    release_channel(r, OUTCOME_ABANDON, NULL);
    r->rt = NULL;
    s->r = NULL;
    rt_free(s);
    return fail_now(r, 502, "relay_error", "upstream_error", NULL, "The upstream URL of channel %lld is too long.",
                    (long long)ch->id);
  }
  curl_easy_setopt(e, CURLOPT_URL, target);
  curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)worker_cfg(r->w)->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  s->xfer.done = connected;
  s->xfer.arg = s;
  if (worker_xfer_add(r->w, &s->xfer) < 0) {
    snprintf(err, sizeof err, "The relay could not start the upstream connection.");
    release_channel(r, OUTCOME_ABANDON, NULL);
    r->rt = NULL;
    s->r = NULL;
    rt_free(s);
    return fail_now(r, 500, "relay_error", "relay_error", NULL, "%s", err);
  }
  s->xfer_added = true;
  s->deadline_us = now_us_mono() + (uint64_t)worker_cfg(r->w)->connect_timeout_ms * 1000u +
                   (uint64_t)worker_cfg(r->w)->first_byte_timeout_s * 1000000u;
  r->phase = PH_UPSTREAM;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  return MHD_YES;
}

void realtime_request_gone(struct request *r)
{
  struct rt_session *s = r->rt;
  if (!s)
    return;
  r->rt = NULL;
  s->r = NULL;
  s->end_reason = "client_gone";
  rt_free(s);
}

void realtime_tick(struct worker *w)
{
  uint64_t now = now_us_mono();
  bool stopping = worker_stopping(w);
  struct rt_session *next;
  for (struct rt_session *s = *list_of(w); s; s = next) {
    next = s->next;
    switch (s->state) {
    case RT_CONNECTING:
    case RT_HANDSHAKE:
      if (now >= s->deadline_us)
        fail_http(s, 504, "upstream_timeout", OUTCOME_FAIL,
                  "The upstream did not accept the realtime session in time.%s", "");
      else if (stopping)
        fail_http(s, 503, "shutting_down", OUTCOME_ABANDON, "This relay is shutting down; try again.%s", "");
      break;
    case RT_UPGRADING:
      break;                              /* MHD hands the socket over, or completes the request */
    case RT_OPEN:
      if (stopping) {
        send_error_event(s, "server_error", "shutting_down",
                         "The relay is shutting down: this session is closed. Connect again.");
        begin_close(s, 1001, 1001, "relay shutting down", "interrupted");
        progress(s);
      }
      break;
    case RT_CLOSING:
      if (now >= s->deadline_us)
        rt_free(s);
      break;
    }
  }
}

bool realtime_busy(struct worker *w)
{
  return *list_of(w) != NULL;
}

void realtime_end_all(struct worker *w)
{
  struct rt_session *next;
  for (struct rt_session *s = *list_of(w); s; s = next) {
    next = s->next;
    if (s->state == RT_UPGRADING)
      continue;                           /* its request holds it: realtime_request_gone */
    if (s->r)
      fail_http(s, 503, "shutting_down", OUTCOME_ABANDON, "This relay is shutting down; try again.%s", "");
    else {
      if (!s->end_reason)
        s->end_reason = "interrupted";
      rt_free(s);
    }
  }
}
