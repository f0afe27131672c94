/* realtime: see realtime.h.
 * Event and usage shapes: OpenAI's Realtime API reference (platform.openai.com/docs/api-reference/
 * realtime-server-events: response.done carries response.usage with input_tokens, output_tokens,
 * input_token_details {text_tokens, audio_tokens, cached_tokens}, output_token_details {text_tokens,
 * audio_tokens}; the error event is {"type":"error","error":{type, code, message, param, event_id}}),
 * and the openai node SDK's realtime client (openai-node: src/realtime/ws.ts, internal-base.ts: the
 * URL /realtime?model=M, Azure's /realtime?api-version=V&deployment=D with an api-key header). */
#include "realtime.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "billing.h"
#include "provider.h"
#include "request.h"
#include "respond.h"
#include "route.h"
#include "rtbill.h"
#include "rtstate.h"
#include "rtup.h"
#include "rtwire.h"

int64_t realtime_sessions_open(void)
{
  return rt_sessions_open();
}

uint64_t realtime_sessions_total(void)
{
  return rt_sessions_total();
}

static struct rt_worker *home_of(struct worker *w)
{
  return &local(w)->rt;
}

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
/* Before the upgrade (s->fail): the client gets an HTTP error in OpenAI's shape, the session ends. */
static void fail_http(struct rt_session *s, unsigned status, const char *code, int outcome, const char *msg)
{
  struct request *r = s->r;
  if (r) {
    r->rt = NULL;
    s->r = NULL;
    release_channel(r, (enum health_outcome)outcome, msg);
    respond_later(r, status, error_response(r, status, status >= 500 ? "relay_error" : "invalid_request_error",
                                            code, NULL, msg));
  }
  s->end_reason = code;
  rt_free(s);
}

static void client_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra_in,
                            size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
  (void)c;
  (void)req_cls;
  struct rt_session *s = cls;
  if (s->r) {
    s->r->rt = NULL;
    s->r = NULL;                          /* MHD completes the request on its own now */
  }
  rt_open_client(s, sock, urh, extra_in, extra_in_size, worker_stopping(s->w));
}

/* The upstream accepted (s->ready): the client gets its 101 (Sec-WebSocket-Accept for its key). */
static void upstream_ready(struct rt_session *s)
{
  struct request *r = s->r;
  const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
  char accept[32];
  rt_ws_accept(key ? key : "", accept);
  struct MHD_Response *resp = MHD_create_response_for_upgrade(client_upgraded, s);
  if (!resp) {
    fail_http(s, 500, "out_of_memory", OUTCOME_ABANDON, "The relay is out of memory.");
    return;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
  MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
  if (s->subprotocol[0])
    MHD_add_response_header(resp, "Sec-WebSocket-Protocol", s->subprotocol);
  add_common_headers(r, resp);
  release_channel(r, OUTCOME_OK, NULL);
  s->state = RT_UPGRADING;
  respond_later(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

/* A refusal after the session was made: it is freed, the client gets the error. */
static enum MHD_Result refuse(struct request *r, struct rt_session *s)
{
  release_channel(r, OUTCOME_ABANDON, NULL);
  r->rt = NULL;
  s->r = NULL;
  rt_free(s);
  return MHD_YES;
}

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
  if (!provider_serves(ch->provider, PE_REALTIME)) {
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
  s->home = home_of(r->w);
  s->ready = upstream_ready;
  s->fail = fail_http;
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
  s->next = s->home->list;
  if (s->next)
    s->next->prev = s;
  s->home->list = s;
  r->rt = s;
  int64_t avail = 0;
  struct limit_refusal why;
  if (!rt_take_hold(s, &avail, &why)) {
    bool rate = s->rate_limited;
    refuse(r, s);
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
  /* the upstream URL: OpenAI's /v1/realtime?model=M, or Azure's /openai/realtime?api-version&deployment
   * (provider.c), for the HTTP connection the upgrade goes over */
  char target[2048], err[200];
  char *esc = curl_easy_escape(NULL, s->upstream_model, 0);   /* curl_free below */
  snprintf(err, sizeof err, "out of memory");
  int n = esc ? channel_url(ch, "/v1/realtime", esc, target, sizeof target, err, sizeof err) : -1;
  curl_free(esc);
  if (n < 0) {
    refuse(r, s);
    return fail_now(r, 502, "relay_error", "upstream_error", NULL, "Channel %lld: %s.", (long long)ch->id, err);
  }
  if (rt_up_start(s, target, (long)worker_cfg(r->w)->connect_timeout_ms, r) < 0) {
    refuse(r, s);
    return fail_now(r, 500, "relay_error", "out_of_memory", NULL, "The relay is out of memory.");
  }
  s->deadline_us = now_us_mono() + (uint64_t)worker_cfg(r->w)->connect_timeout_ms * 1000u +
                   (uint64_t)worker_cfg(r->w)->first_byte_timeout_s * 1000000u;
  r->phase = PH_UPSTREAM;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  return MHD_YES;
}
void realtime_connected(struct request *r, CURLcode res)
{
  struct rt_session *s = r->rt;
  if (s && s->state == RT_CONNECTING)
    rt_up_connected(s, res);
}

void realtime_watch_event(struct worker *w, int fd, uint32_t events)
{
  struct rt_session *s = rt_by_fd(home_of(w), fd);
  if (!s) {
    epoll_ctl(worker_epoll_fd(w), EPOLL_CTL_DEL, fd, NULL);
    return;
  }
  if (s->state == RT_HANDSHAKE)
    rt_up_event(s);
  else
    rt_wire_event(s, fd, events);
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
  for (struct rt_session *s = home_of(w)->list; s; s = next) {
    next = s->next;
    switch (s->state) {
    case RT_CONNECTING:
    case RT_HANDSHAKE:
      if (now >= s->deadline_us)
        fail_http(s, 504, "upstream_timeout", OUTCOME_FAIL, "The upstream did not accept the realtime session in time.");
      else if (stopping)
        fail_http(s, 503, "shutting_down", OUTCOME_ABANDON, "This relay is shutting down; try again.");
      break;
    case RT_UPGRADING:
      break;                              /* MHD hands the socket over, or completes the request */
    case RT_OPEN:
      if (stopping) {
        rt_send_error_event(s, "server_error", "shutting_down",
                         "The relay is shutting down: this session is closed. Connect again.");
        rt_begin_close(s, 1001, 1001, "relay shutting down", "interrupted");
        rt_progress(s);
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
  return home_of(w)->list != NULL;
}
void realtime_end_all(struct worker *w)
{
  struct rt_session *next;
  for (struct rt_session *s = home_of(w)->list; s; s = next) {
    next = s->next;
    if (s->state == RT_UPGRADING)
      continue;                           /* its request holds it: realtime_request_gone */
    if (s->r)
      fail_http(s, 503, "shutting_down", OUTCOME_ABANDON, "This relay is shutting down; try again.");
    else {
      if (!s->end_reason)
        s->end_reason = "interrupted";
      rt_free(s);
    }
  }
}
