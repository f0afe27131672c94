/* front: see front.h. */
#include "front.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "admit.h"
#include "attempt.h"
#include "auth.h"
#include "log.h"
#include "realtime.h"
#include "reqpool.h"
#include "request.h"
#include "respond.h"
#include "selfserve.h"
#include "selfsvc.h"
#include "settle.h"
#include "stream.h"
#include "writer.h"

/* The route table: method + path -> handler kind. */
static const struct endpoint_def endpoints[] = {
    {"POST", "/v1/chat/completions", false, EP_CHAT, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    {"POST", "/v1/completions", false, EP_COMPLETIONS, API_COMPLETIONS, NULL, MEDIA_NONE, &format_openai, NULL},
    {"POST", "/v1/embeddings", false, EP_EMBEDDINGS, API_EMBEDDINGS, NULL, MEDIA_NONE, &format_openai, NULL},
    {"GET", "/v1/models", false, EP_MODELS, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    {"GET", "/v1/models/", true, EP_MODEL_ONE, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    /* the Anthropic Messages API, relayed as an OpenAI chat request (claude.c converts both ways) */
    {"POST", "/v1/messages", false, EP_MESSAGES, API_CHAT, "/v1/chat/completions", MEDIA_NONE, &format_claude, NULL},
    /* token counts, answered by relay itself and never billed (selfserve.c) */
    {"POST", "/v1/messages/count_tokens", false, EP_COUNT_TOKENS, API_CHAT, NULL, MEDIA_NONE, &format_claude, NULL},
    {"POST", "/v1beta/models/", true, EP_COUNT_TOKENS, API_CHAT, NULL, MEDIA_NONE, &format_gemini, ":countTokens"},
    /* Gemini's embeddings, relayed as OpenAI embeddings (format_embed.c) */
    {"POST", "/v1beta/models/", true, EP_EMBEDDINGS, API_EMBEDDINGS, "/v1/embeddings", MEDIA_NONE, &format_gemini_embed, ":embedContent"},
    {"POST", "/v1beta/models/", true, EP_EMBEDDINGS, API_EMBEDDINGS, "/v1/embeddings", MEDIA_NONE, &format_gemini_batch_embed, ":batchEmbedContents"},
    /* Gemini's generateContent / streamGenerateContent, relayed as OpenAI chat (gemini.c) */
    {"POST", "/v1beta/models/", true, EP_GEMINI, API_CHAT, "/v1/chat/completions", MEDIA_NONE, &format_gemini, NULL},
    /* Gemini's model listing, in Google's shape (selfserve.c) */
    {"GET", "/v1beta/models", false, EP_MODELS, API_CHAT, NULL, MEDIA_NONE, &format_gemini, NULL},
    {"GET", "/v1beta/models/", true, EP_MODEL_ONE, API_CHAT, NULL, MEDIA_NONE, &format_gemini, NULL},
    /* the OpenAI Responses API: native to a channel that serves it, converted for any other */
    {"POST", "/v1/responses", false, EP_CHAT, API_CHAT, "/v1/chat/completions", MEDIA_NONE, &format_responses, NULL},
    /* relayed as they are to OpenAI-compatible channels; media.c validates and bills them */
    {"POST", "/v1/images/generations", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_IMAGE_GEN, &format_openai, NULL},
    {"POST", "/v1/images/edits", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_IMAGE_EDIT, &format_openai, NULL},
    {"POST", "/v1/audio/speech", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_SPEECH, &format_openai, NULL},
    {"POST", "/v1/audio/transcriptions", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_TRANSCRIBE, &format_openai, NULL},
    {"POST", "/v1/audio/translations", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_TRANSLATE, &format_openai, NULL},
    {"POST", "/v1/moderations", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_MODERATION, &format_openai, NULL},
    {"POST", "/v1/rerank", false, EP_MEDIA, API_MEDIA, NULL, MEDIA_RERANK, &format_openai, NULL},
    /* the key's balance in OpenAI's legacy dashboard shape, as One API serves it */
    {"GET", "/dashboard/billing/subscription", false, EP_BILLING_SUBSCRIPTION, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    {"GET", "/v1/dashboard/billing/subscription", false, EP_BILLING_SUBSCRIPTION, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    {"GET", "/dashboard/billing/usage", false, EP_BILLING_USAGE, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    {"GET", "/v1/dashboard/billing/usage", false, EP_BILLING_USAGE, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    /* the key holder's own account: redeem a code, read its usage (selfsvc.c, off the worker) */
    {"POST", "/v1/relay/redeem", false, EP_REDEEM, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    {"GET", "/v1/relay/usage", false, EP_USAGE, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    /* the Realtime API: a WebSocket relayed to an OpenAI or Azure channel (realtime.c) */
    {"GET", "/v1/realtime", false, EP_REALTIME, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
    {"GET", "/openai/realtime", false, EP_REALTIME, API_CHAT, NULL, MEDIA_NONE, &format_openai, NULL},
};

/* What begin() needs from the header fields, in one pass over them. */
struct header_scan {
  size_t bytes;                 /* the request line and fields as sent, give or take whitespace */
  const char *cl;               /* the first Content-Length (MHD checked it is all digits) */
  size_t cl_len;
  int64_t cl_value;             /* its value, -1 when it has more than 18 digits */
  const char *ce;               /* the first Content-Encoding, or NULL */
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
  } else if (key_size == 16 && !h->ce && strncasecmp(key, "Content-Encoding", 16) == 0) {
    h->ce = value;
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
    size_t pl = strlen(e->path), ul = strlen(url), sl = e->suffix ? strlen(e->suffix) : 0;
    bool match = e->prefix ? strncmp(url, e->path, pl) == 0 && url[pl] &&
                                 (!sl || (ul > pl + sl && strcmp(url + ul - sl, e->suffix) == 0))
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

/* The API of a path no route has, by its prefix: an unknown path under an API's own tree is
 * answered in that API's error shape (an Anthropic SDK reads a 404 under /v1/messages/). */
static const struct {
  const char *prefix;
  const struct format *format;
} path_trees[] = {
    {"/v1/messages/", &format_claude},
    {"/v1beta/", &format_gemini},
};

static const struct format *client_of(const char *url, const struct endpoint_def *path_def)
{
  if (path_def)
    return path_def->format;
  for (size_t i = 0; url && i < sizeof path_trees / sizeof path_trees[0]; i++)
    if (strncmp(url, path_trees[i].prefix, strlen(path_trees[i].prefix)) == 0)
      return path_trees[i].format;
  return &format_openai;
}

/*
 * Framing that libmicrohttpd 0.9.75 lets through and a proxy in front may read differently
 * (request smuggling), refused before anything else: a NUL (raw or %00) or other control byte in
 * the request target (worker.c's URI callback saw it raw, before MHD unescaped it), two Content-Length fields
 * that differ (MHD uses the first), Transfer-Encoding beside Content-Length or more than once, and
 * a transfer coding other than chunked (MHD would read the body until the connection closes).
 * The request line and fields of a header over max_header_bytes are a 431 here too. h is the
 * header's scan_header.
 */
static void scan_header(struct request *r, const char *url, const char *method, struct header_scan *h)
{
  memset(h, 0, sizeof *h);
  h->bytes = strlen(method) + strlen(url) + sizeof " HTTP/1.1\r\n";
  MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, scan_field, h);
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
}

static bool refuse_framing(struct request *r, const char *version, struct header_scan *h, enum MHD_Result *ret)
{
  const struct client_conn *cc = r->cc;
  if (cc && (cc->uri_bad || (cc->uri_end && cc->uri_end + 1 != version))) {
    *ret = fail_now(r, 400, "invalid_request_error", "invalid_request_target", NULL,
                    "The request target has a NUL or another control character (raw or %%-escaped).");
    return true;
  }
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
  return false;
}

static enum MHD_Result begin(struct request *r, const char *url, const char *method, const char *version,
                             const struct endpoint_def *def, const struct header_scan *hs)
{
  struct header_scan h = *hs;
  enum MHD_Result ret;
  if (refuse_framing(r, version, &h, &ret))
    return ret;
  if (!def) {
    if (r->def)
      return fail_now(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                      "Method %s is not allowed on %s.", method, url);
    return fail_now(r, 404, "invalid_request_error", "unknown_url", NULL,
                    "Invalid URL (%s %.300s).", method, url);
  }
  r->def = def;
  r->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
  r->client = client_format(def);
  /* a relayed route whose format names the model in its path (not its listings, token counts
   * and embeddings, which share the path's tree) */
  if (def->upstream_path && r->client->ops->parse_path &&
      r->client->ops->parse_path(url, r->path_model, sizeof r->path_model, &r->path_stream) < 0)
    return fail_now(r, 404, "invalid_request_error", "unknown_url", NULL, "Invalid URL (%s %.300s): use %s.", method,
                    url, r->client->path_usage);
  if (r->path_stream && r->client->stream_json_array) {
    /* Google answers streamGenerateContent as a JSON array unless the client asks alt=sse */
    const char *alt = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "alt");
    r->json_array = !alt || strcmp(alt, "sse") != 0;
  }
  if (!authenticate(r, &ret))
    return ret;
  if (def->ep == EP_MODELS || def->ep == EP_MODEL_ONE)
    return serve_models(r, url);
  if (def->ep == EP_BILLING_SUBSCRIPTION || def->ep == EP_BILLING_USAGE)
    return serve_billing(r);
  if (def->ep == EP_USAGE)
    return selfsvc_usage(r);
  if (def->ep == EP_REALTIME)
    return realtime_begin(r, url);
  if (def->suffix && serve_path_model(url, def->path, r->path_model, sizeof r->path_model) < 0)
    return fail_now(r, 404, "invalid_request_error", "unknown_url", NULL, "Invalid URL (%s %.300s): use %s.", method,
                    url, r->client->path_usage);
  /* a gzip or deflate body is inflated as it arrives, max_body_bytes bounding what it inflates to
   * (body_take); any other encoding is refused before the body is read */
  const char *ce = h.ce;   /* the first, as MHD_lookup_connection_value would find it */
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
  r.client = client_of(path, r.def);
  request_make_id(w, r.request_id, sizeof r.request_id);
  struct buf b;
  buf_init(&b, 4096);
  error_body(&r, status, "invalid_request_error", code, NULL, msg, &b);
  buf_appendf(out,
              "HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
              "x-request-id: %s\r\n%s%s%s%sContent-Length: %zu\r\n\r\n",
              status, reason, r.request_id, r.client->request_id_header ? r.client->request_id_header : "",
              r.client->request_id_header ? ": " : "", r.client->request_id_header ? r.request_id : "",
              r.client->request_id_header ? "\r\n" : "", b.len);
  buf_append(out, b.data ? b.data : "", b.len);
  buf_free(&b);
  r.w = w;
  r.final_status = (int)status;
  respond_done(&r, false);      /* counted and shown like every answer */
  if (writer_access_log()) {
    struct log_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = LOGT_ACCESS;
    copy_str(rec.request_id, sizeof rec.request_id, r.request_id);
    snprintf(rec.content, sizeof rec.content, "%.16s %.200s", method ? method : "-", path[0] ? path : "-");
    rec.status = (int)status;
    copy_str(rec.end_reason, sizeof rec.end_reason, "refused");
    copy_str(rec.api, sizeof rec.api, inbound_api(&r));
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
                   "Content-Length: %zu\r\nConnection: close\r\nx-request-id: %s\r\n%s%s%s%s\r\n",
                   status, reason, b.len, r->request_id, r->client->request_id_header ? r->client->request_id_header : "",
                   r->client->request_id_header ? ": " : "", r->client->request_id_header ? r->request_id : "",
                   r->client->request_id_header ? "\r\n" : "");
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

/* The answer to a request's header: a refusal (draining, too many connections, the log buffer
 * full), begin's answer from the header alone, or PH_BODY to read the body. */
static enum MHD_Result answer_header(struct request *r, const char *url, const char *method, const char *version,
                                     const struct endpoint_def *def, const struct header_scan *h)
{
  struct worker *w = r->w;
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
    ret = begin(r, url, method, version, def, h);
  }
  if (r->cc && r->phase != PH_BODY)
    r->cc->wait = CONN_BUSY;          /* answered from the header alone */
  return ret;
}

/* The whole body is in (upload_data_size 0 in PH_BODY): answer it. */
static enum MHD_Result body_done(struct request *r)
{
  if (r->early_answered)   /* the whole body came; its early answer is on the wire: close */
    return MHD_NO;
  if (r->inflater && !r->inflate_end)
    return fail_now(r, 400, "invalid_request_error", "invalid_content_encoding", NULL,
                    "The request body ended before the end of its compressed stream.");
  if (r->cc)
    r->cc->wait = CONN_BUSY;
  return r->def->ep == EP_COUNT_TOKENS ? serve_count_tokens(r) : r->def->ep == EP_REDEEM ? selfsvc_redeem(r) : dispatch(r);
}

/*
 * libmicrohttpd calls this first with the header alone, then with the body in pieces, then once
 * more with *upload_data_size 0 when the request is complete. A response queued on that first
 * call makes libmicrohttpd 0.9.75 close the connection after it (MHD_queue_response in state
 * HEADERS_PROCESSED sets discard_request, and keepalive_possible then answers MUST_CLOSE:
 * src/microhttpd/connection.c at v0.9.75), right for an error that refuses a body unread, wrong
 * for a request that has none. So a request without a body (no Transfer-Encoding, no or a zero
 * Content-Length) is answered on the final call (PH_HEAD), which follows the first at once in
 * the same turn of MHD's loop, and its connection stays open. A request with a body is answered
 * from its header as before when the header alone refuses it.
 */
enum MHD_Result relay_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
  struct worker *w = cls;
  struct request *r = *req_cls;
  struct header_scan h;
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
    r->client = client_of(url, path_def);
    if (writer_access_log()) {
      /* "METHOD URL", truncated as snprintf would: by hand, per request */
      size_t ml = strlen(method), ul = strlen(url), cap = sizeof r->access_path - 1;
      size_t cm = ml < cap ? ml : cap;
      memcpy(r->access_path, method, cm);
      size_t k = cm;
      if (k < cap)
        r->access_path[k++] = ' ';
      size_t cu = ul < cap - k ? ul : cap - k;
      memcpy(r->access_path + k, url, cu);
      r->access_path[k + cu] = '\0';
    }
    scan_header(r, url, method, &h);
    if (!h.n_te && (!h.n_cl || h.cl_value == 0) && !(r->cc && r->cc->uri_bad) &&
        !(def && def->ep == EP_REALTIME)) {   /* an upgrade keeps its connection either way */
      r->phase = PH_HEAD;
      if (r->cc)
        r->cc->wait = CONN_BUSY;
      return MHD_YES;
    }
    return answer_header(r, url, method, version, def, &h);
  }
  if (r->phase == PH_HEAD) {   /* the final call of a request without a body */
    if (*upload_data_size)
      return MHD_NO;           /* body bytes MHD was told would not come: cannot be */
    const struct endpoint_def *path_def, *def = route(url, method, &path_def);
    scan_header(r, url, method, &h);
    r->phase = PH_BODY;
    enum MHD_Result ret = answer_header(r, url, method, version, def, &h);
    if (r->phase != PH_BODY || ret != MHD_YES)
      return ret;
    return body_done(r);       /* accepted from its header: its (empty) body is all in */
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
    return body_done(r);
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
  case PH_LIMIT_RETRY:          /* resumed after waiting for channel room (limitwait.h) */
    return admit_retry(r);
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
    copy_str(rec.api, sizeof rec.api, inbound_api(r));
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
  respond_done(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);   /* every answer counted, once */
  if (r->rt)
    realtime_request_gone(r);        /* its session still waited on the upstream */
  request_free(r);
}
