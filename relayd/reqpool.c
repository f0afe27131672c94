/* reqpool: see reqpool.h. */
#include "reqpool.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "imginline.h"
#include "limitwait.h"
#include "reqchunk.h"
#include "request.h"
#include "respcache.h"

#define POOL_MAX 1024               /* idle request objects a worker keeps */
#define POOL_BUF_KEEP (64 * 1024)    /* buffers up to this size are kept with them */

static void buf_trim(struct buf *b)
{
  if (b->alloc > POOL_BUF_KEEP)
    buf_free(b);
  else
    buf_reset(b);
}


/* Frees a request object and its buffers (what request_free leaves for the pool). */
static void request_destroy(struct request *r)
{
  buf_free(&r->body);
  buf_free(&r->resp);
  buf_free(&r->errbody);
  buf_free(&r->out);
  free(r);
}

/* "%011llx%04x%02x%06llx" of (ms, node tag, worker, sequence mod 2^24) by put_hex (util.h): one
 * per request */
void request_make_id(struct worker *w, char *out, size_t n)
{
  char id[64];
  size_t len = put_hex(id, (unsigned long long)now_unix_ms(), 11);  /* 11 digits until 2527 */
  len += put_hex(id + len, local(w)->node_tag, 4);
  len += put_hex(id + len, (unsigned)worker_index(w) & 0xff, 2);
  len += put_hex(id + len, (unsigned long long)(local(w)->next_request_seq++ & 0xffffff), 6);
  if (n) {
    size_t m = len < n - 1 ? len : n - 1;
    memcpy(out, id, m);
    out[m] = '\0';
  }
}

void *relay_attach(struct worker *w, uint64_t seed)
{
  (void)w;
  struct relay_local *l = calloc(1, sizeof *l);
  if (l) {
    reqchunk_open(l);
    l->rng = seed ? seed : 1;
    l->node_tag = (uint16_t)(seed >> 17);
  }
  return l;
}

bool relay_busy(struct worker *w)
{
  return local(w)->requests != NULL;
}

/* A request object from the worker's pool (its buffers keep their memory), or a new one. */
struct request *request_new(struct worker *w, struct MHD_Connection *c)
{
  struct request *r = local(w)->request_pool;
  if (r) {
    local(w)->request_pool = r->next;
    local(w)->request_pool_len--;
    struct buf body = r->body, resp = r->resp, errbody = r->errbody, out = r->out;
    /* cleared but for the upstream converter's state in r->fs (format_stream_clear), set up only
     * by a request that converts */
    size_t fs_at = offsetof(struct request, fs), fs_end = fs_at + sizeof r->fs;
    memset(r, 0, fs_at);
    format_stream_clear(&r->fs);
    memset((char *)r + fs_end, 0, sizeof *r - fs_end);
    r->body = body;
    r->resp = resp;
    r->errbody = errbody;
    r->out = out;
  } else {
    r = calloc(1, sizeof *r);
    if (!r)
      return NULL;
    buf_init(&r->body, (size_t)worker_cfg(w)->max_body_bytes);
    buf_init(&r->resp, RESPONSE_MAX);
    buf_init(&r->errbody, ERRBODY_MAX);
    buf_init(&r->out, (size_t)16 << 20);
  }
  r->client = &format_openai;           /* until the endpoint is known */
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
  request_make_id(w, r->request_id, sizeof r->request_id);
  r->next = local(w)->requests;
  if (local(w)->requests)
    local(w)->requests->prev = r;
  local(w)->requests = r;
  atomic_fetch_add_explicit(&worker_counters(w)->requests_total, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&worker_counters(w)->in_flight, 1, memory_order_relaxed);
  return r;
}

void request_free(struct request *r)
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
  limitwait_forget(r);                  /* still waiting for channel room: leaves the queue */
  if (r->lim_open) {
    limits_undo(&r->lim);
    r->lim_open = false;
  }
  request_drop_parsed(r);
  free(r->oai_text);
  r->oai_text = NULL;
  free(r->up_body);
  r->up_body = NULL;
  imginline_free(r);
  curl_slist_free_all(r->up_headers);
  r->up_headers = NULL;
  format_stream_free(&r->fs);
  respcache_request_free(r);
  free(r->ev);                          /* not pooled: a held stream's object has none */
  r->ev = NULL;
  if (r->out_tokens_on)
    tok_count_free(&r->out_tokens);
  r->out_tokens_on = false;
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
    r->next = local(w)->request_pool;
    local(w)->request_pool = r;
    local(w)->request_pool_len++;
    return;
  }
  request_destroy(r);
}

void relay_pool_free(struct worker *w)
{
  while (local(w)->request_pool) {
    struct request *r = local(w)->request_pool;
    local(w)->request_pool = r->next;
    request_destroy(r);
  }
  local(w)->request_pool_len = 0;
  snapshot_release(local(w)->snap_cache);
  free(local(w));
}
