/* stream: see stream.h. */
#include "stream.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "log.h"
#include "request.h"
#include "respcache.h"
#include "respond.h"
#include "settle.h"
#include "sse.h"
#include "worker.h"

/* MHD allocates this much with every callback response but fills chunked responses from the
 * connection's own pool, so a large value only costs memory per open stream */
#define STREAM_BLOCK 512

/* What the event path found so far, where settlement reads it. */
static void take_facts(struct request *r)
{
  const struct format_facts *f = &r->fs.f;
  if (f->usage_found)
    r->usage = f->usage;
  r->usage_upstream = f->usage_found;
  r->usage_final = f->usage_final;
  r->completion_chars = f->text_chars;
}

/* One whole event from the upstream, through the one event path of its formats (format.h). */
void upstream_event(struct request *r, char *ev, size_t evlen)
{
  /* the single point every upstream event passes: the key is redacted from it before any of it
   * can reach the client, and an error event is noted for the channel's health */
  evlen = health_redact(ev, evlen, r->up_key);
  if (r->stream_health == OUTCOME_OK)
    r->stream_health = health_stream_event(ev, evlen, r->snap->opt.disable_keywords, r->stream_detail,
                                           sizeof r->stream_detail);
  char err[256];
  int rc = format_stream_event(&r->fs, ev, evlen, &r->out, err, sizeof err);
  take_facts(r);
  if (rc == FORMAT_FULL)
    log_msg(LOG_WARN, "stream output buffer full, event dropped", "request_id=%s", r->request_id);
  else if (rc)
    log_msg(LOG_WARN, "an upstream event could not be converted, dropped", "request_id=%s error=\"%s\"",
            r->request_id, err);
}

/* Bytes of r->out that went to the client, by MHD or directly: the response cache's copy, the
 * first byte's time, and the upstream let go again once out has drained below OUT_LOW. */
static void out_sent(struct request *r, size_t n)
{
  respcache_capture(r, r->out.data + r->out_off, n);
  r->out_off += n;
  if (r->out_off == r->out.len) {
    buf_reset(&r->out);
    r->out_off = 0;
    r->arr_done = 0;
  }
  if (!r->t_first_us)
    r->t_first_us = now_us_mono();
  if (r->paused && r->easy && r->out.len - r->out_off < OUT_LOW) {
    r->paused = false;
    r->up_last_us = now_us_mono();   /* a paused upstream was not idle: its clock starts again */
    curl_easy_pause(r->easy, CURLPAUSE_CONT);
  }
}

/*
 * New bytes of an SSE stream while the reader waits: sent as one chunk on the suspended
 * connection itself (worker.h, worker_send_direct) instead of resuming it, which costs MHD a loop
 * turn per event (its own epoll_wait, the reader called twice, a suspend). Only where MHD sends the
 * answer chunked (an HTTP/1.1 request) and the reader does nothing but copy (not a JSON array).
 * true: the connection stays suspended (sent, nothing to send, or a rest waits: client_flushed
 * comes back here); false: resume it, MHD sends (the socket is full, or failed, or the stream
 * ended: MHD writes the rest and the last chunk).
 */
static bool send_direct(struct request *r)
{
  if (!r->http11 || r->json_array)
    return false;
  if (worker_send_waiting(r->w, r->conn)) {
    if (!r->upstream_done || (!r->settled && !worker_stopping(r->w)))
      return true;
    worker_send_abort(r->w, r->conn);      /* ended while its client was not reading */
    return false;
  }
  size_t avail = r->out.len - r->out_off;
  if (r->upstream_done)
    return false;
  if (!avail)
    return true;
  char hdr[20];                          /* the chunk's size in hex and CRLF */
  size_t hl = put_hex(hdr, avail, 1);
  hdr[hl++] = '\r';
  hdr[hl++] = '\n';
  struct iovec iov[3] = {{hdr, hl}, {r->out.data + r->out_off, avail}, {(void *)"\r\n", 2}};
  enum worker_send st = worker_send_direct(r->w, r->conn, iov, 3);
  if (st == WSEND_ALL || st == WSEND_PART) {
    out_sent(r, avail);
    return true;
  }
  return false;
}

void wake_reader(struct request *r)
{
  if (r->reader_waiting) {
    if (send_direct(r))
      return;
    r->reader_waiting = false;
    r->suspended = false;
    worker_resume(r->w, r->conn);
  }
}

/* An error event in the client's stream format (the stream cannot get a status any more). */
void stream_error_event(struct request *r, const char *code, const char *msg)
{
  r->client->ops->error_event(&r->out, 502, code, msg);
}

void finish_stream(struct request *r, CURLcode res)
{
  /* the stream's end in its formats: closed, or why it is incomplete (then one error event in the
   * client's format, unless the upstream's own error event already reached the client) */
  const char *why_not = format_stream_end(&r->fs, res == CURLE_OK, &r->out);
  take_facts(r);
  bool complete = format_stream_complete(&r->fs);
  if (why_not) {
    char msg[600], why[512];
    if (res != CURLE_OK)
      upstream_failure_text(r, res, why, sizeof why);
    else
      snprintf(why, sizeof why, "%s", why_not);
    snprintf(msg, sizeof msg, "The upstream stream ended early: %s", why);
    stream_error_event(r, res == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout" : "stream_interrupted", msg);
    atomic_fetch_add_explicit(&worker_counters(r->w)->upstream_errors, 1, memory_order_relaxed);
  }
  r->upstream_done = true;
  /* settled when the last byte has gone to the client (stream_reader), so the log's times
   * cover the whole response */
  r->end_reason = res == CURLE_OK && complete ? "done" : res == CURLE_OPERATION_TIMEDOUT ? "timeout" : "upstream_error";
  wake_reader(r);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct request *r = cls;
  if (r->json_array && r->arr_done < r->out.len) {
    /* the whole events written since: their data as array elements, in place of the SSE bytes
     * (never longer than them) */
    struct buf ev;
    buf_init(&ev, r->out.len - r->arr_done);   /* owned here */
    if (buf_append(&ev, r->out.data + r->arr_done, r->out.len - r->arr_done) == 0) {
      r->out.len = r->arr_done;
      json_array_events(&r->arr, ev.data, ev.len, &r->out);
    }
    buf_free(&ev);
    r->arr_done = r->out.len;
  }
  if (r->json_array && r->upstream_done && r->out.len == r->out_off && !r->arr.closed) {
    json_array_close(&r->arr, &r->out);
    r->arr_done = r->out.len;
  }
  size_t avail = r->out.len - r->out_off;
  if (avail) {
    size_t n = avail < max ? avail : max;
    memcpy(buf, r->out.data + r->out_off, n);
    out_sent(r, n);
    return (ssize_t)n;
  }
  if (r->upstream_done) {
    settle(r, r->end_reason ? r->end_reason : "done");
    /* kept only when it reached its format's end with nothing cut or failed */
    respcache_stream_end(r, r->end_reason && strcmp(r->end_reason, "done") == 0 && !r->def->media &&
                            !r->fs.f.failed && format_stream_complete(&r->fs));
    return MHD_CONTENT_READER_END_OF_STREAM;
  }
  r->reader_waiting = true;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  return 0;
}

enum MHD_Result start_stream_response(struct request *r)
{
  struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                                stream_reader, r, NULL);
  MHD_add_response_header(resp, "Content-Type", r->json_array ? "application/json" : "text/event-stream");
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  add_common_headers(r, resp);
  r->phase = PH_STREAMING;
  r->final_status = (int)r->up_status;
  enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->up_status, resp);
  MHD_destroy_response(resp);
  return ret;
}
