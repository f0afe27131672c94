/* bedrock: see bedrock.h. */
#include "bedrock.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "adapt.h"
#include "claude.h"
#include "format.h"
#include "formats.h"
#include "sigv4.h"

/* ---------------------------------------------------------------- the event-stream framing */

static uint32_t be32(const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Anthropic's error type for a Bedrock stream exception (InvokeModelWithResponseStream's
 * ResponseStream members, docs.aws.amazon.com/bedrock/latest/APIReference/
 * API_runtime_InvokeModelWithResponseStream.html). */
static const char *error_type_of(const char *exc)
{
  if (!strcasecmp(exc, "throttlingException"))
    return "rate_limit_error";
  if (!strcasecmp(exc, "serviceUnavailableException"))
    return "overloaded_error";
  if (!strcasecmp(exc, "validationException"))
    return "invalid_request_error";
  return "api_error";   /* internalServerException, modelStreamErrorException, modelTimeoutException */
}

static int error_event(struct buf *out, const char *exc, const char *msg)
{
  char text[1200];
  snprintf(text, sizeof text, "Bedrock %s: %s", exc[0] ? exc : "error", msg[0] ? msg : "(no message)");
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "type", "error");
  cJSON *e = cJSON_AddObjectToObject(j, "error");
  cJSON_AddStringToObject(e, "type", error_type_of(exc));
  cJSON_AddStringToObject(e, "message", text);
  char *s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  int rc = s && buf_appendf(out, "event: error\ndata: %s\n\n", s) == 0 ? 0 : -1;
  free(s);
  return rc;
}

/* A chunk's payload {"bytes": base64 of one Anthropic event, "p": padding} as that event. */
static int chunk_event(struct buf *out, const unsigned char *pl, size_t plen, const char **why)
{
  cJSON *j = cJSON_ParseWithLength((const char *)pl, plen), *ev = NULL;
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bytes");
  unsigned char *raw = NULL;
  int rc = -1;
  size_t bl = cJSON_IsString(b) ? strlen(b->valuestring) : 0;
  if (!bl || bl % 4 || bl > BEDROCK_FRAME_MAX) {
    *why = "it sent a Bedrock chunk without base64 \"bytes\"";
    goto out;
  }
  raw = malloc(bl / 4 * 3 + 1);
  int dl = raw ? EVP_DecodeBlock(raw, (const unsigned char *)b->valuestring, (int)bl) : -1;
  if (dl < 0) {
    *why = "it sent a Bedrock chunk whose \"bytes\" are not base64";
    goto out;
  }
  dl -= (b->valuestring[bl - 1] == '=') + (b->valuestring[bl - 2] == '=');
  ev = cJSON_ParseWithLength((const char *)raw, (size_t)dl);
  const char *ty = adapt_jstr(ev, "type");
  size_t tl = ty ? strlen(ty) : 0;
  if (!cJSON_IsObject(ev) || !tl || tl > 63 || strspn(ty, "abcdefghijklmnopqrstuvwxyz_") != tl) {
    *why = "it sent a Bedrock chunk that does not hold an Anthropic event";
    goto out;
  }
  char *s = cJSON_PrintUnformatted(ev);   /* one line: no raw newline can split the SSE event */
  rc = s && buf_appendf(out, "event: %s\ndata: %s\n\n", ty, s) == 0 ? 0 : -1;
  if (rc < 0)
    *why = "its events do not fit in the client's buffer";
  free(s);
out:
  free(raw);
  cJSON_Delete(ev);
  cJSON_Delete(j);
  return rc;
}

/* One frame (total bytes at p, CRCs checked) into out. Its headers (botocore/eventstream.py's
 * types): name length (1), name, type (1), value. */
static int one_frame(const unsigned char *p, size_t total, struct buf *out, const char **why)
{
  size_t hlen = be32(p + 4), off = 12, end = 12 + hlen;
  char mtype[32] = "", etype[64] = "", exc[64] = "", ecode[64] = "", emsg[512] = "";
  while (off < end) {
    size_t nl = p[off++];
    if (off + nl + 1 > end)
      goto bad;
    const char *name = (const char *)p + off;
    off += nl;
    unsigned t = p[off++];
    size_t vl;
    static const unsigned char fixed[] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
    if (t > 9)
      goto bad;
    if (t == 6 || t == 7) {
      if (off + 2 > end)
        goto bad;
      vl = (size_t)p[off] << 8 | p[off + 1];
      off += 2;
    } else {
      vl = fixed[t];
    }
    if (off + vl > end)
      goto bad;
    if (t == 7) {
      char *dst = NULL;
      size_t cap = 0;
#define HDR(n, d) else if (nl == sizeof n - 1 && !memcmp(name, n, nl)) dst = d, cap = sizeof d
      if (0) {}
      HDR(":message-type", mtype);
      HDR(":event-type", etype);
      HDR(":exception-type", exc);
      HDR(":error-code", ecode);
      HDR(":error-message", emsg);
#undef HDR
      if (dst)
        snprintf(dst, cap, "%.*s", (int)vl, (const char *)p + off);
    }
    off += vl;
  }
  const unsigned char *pl = p + end;
  size_t plen = total - end - 4;
  if (!strcmp(mtype, "event")) {
    if (strcmp(etype, "chunk"))
      return 0;          /* no other event of InvokeModelWithResponseStream carries an answer */
    return chunk_event(out, pl, plen, why);
  }
  if (!strcmp(mtype, "exception")) {
    cJSON *j = cJSON_ParseWithLength((const char *)pl, plen);
    const char *m = adapt_jstr(j, "message");
    if (!m)
      m = adapt_jstr(j, "Message");
    int rc = error_event(out, exc, m ? m : "");
    cJSON_Delete(j);
    if (rc < 0)
      *why = "its events do not fit in the client's buffer";
    return rc;
  }
  if (!strcmp(mtype, "error")) {
    if (error_event(out, ecode, emsg) == 0)
      return 0;
    *why = "its events do not fit in the client's buffer";
    return -1;
  }
bad:
  *why = "it sent a Bedrock event-stream frame whose headers cannot be read";
  return -1;
}

int bedrock_unframe(struct buf *in, struct buf *out, const char **why)
{
  size_t off = 0;
  int rc = 0;
  while (in->len - off >= 12) {
    const unsigned char *p = (const unsigned char *)in->data + off;
    uint32_t total = be32(p), hlen = be32(p + 4);
    if ((uint32_t)crc32(0, p, 8) != be32(p + 8)) {
      *why = "it sent a Bedrock event-stream frame whose prelude CRC does not match";
      rc = -1;
      break;
    }
    if (total < 16 || total > BEDROCK_FRAME_MAX || hlen > BEDROCK_HEADERS_MAX || hlen > total - 16) {
      *why = "it sent a Bedrock event-stream frame whose lengths are out of bounds";
      rc = -1;
      break;
    }
    if (in->len - off < total)
      break;             /* the rest of it is still coming */
    if ((uint32_t)crc32(0, p, total - 4) != be32(p + total - 4)) {
      *why = "it sent a Bedrock event-stream frame whose message CRC does not match";
      rc = -1;
      break;
    }
    if (one_frame(p, total, out, why) < 0) {
      rc = -1;
      break;
    }
    off += total;
  }
  buf_consume(in, off);
  return rc;
}

/* ---------------------------------------------------------------- the format */

static int write_request(const struct format_req *q, char **body, size_t *len, char *path, size_t pathlen,
                         char *err, size_t errlen)
{
  char cpath[FORMAT_PATH_MAX];
  *body = NULL;
  *len = 0;
  if (q->api != API_CHAT) {
    adapt_set_err(err, errlen, "a bedrock channel serves only chat requests");
    return -1;
  }
  if (sigv4_bedrock_path(q->upstream_model, q->rq->stream, path, pathlen) < 0) {
    adapt_set_err(err, errlen, "the model id cannot be used in a Bedrock URL");
    return -1;
  }
  /* the Messages request the anthropic channel would get, then Bedrock's changes to it */
  if (format_claude.ops->write_request(q, body, len, cpath, sizeof cpath, err, errlen) < 0)
    return -1;
  cJSON *j = *body ? cJSON_Parse(*body) : cJSON_ParseWithLength(q->body, q->body_len);
  free(*body);
  *body = NULL;
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    adapt_set_err(err, errlen, "the request could not be written for Bedrock");
    return -1;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(j, "model");     /* the model is in the path */
  cJSON_DeleteItemFromObjectCaseSensitive(j, "stream");    /* ... and so is streaming */
  if (!cJSON_HasObjectItem(j, "anthropic_version"))
    cJSON_AddStringToObject(j, "anthropic_version", BEDROCK_ANTHROPIC_VERSION);
  *body = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!*body) {
    adapt_set_err(err, errlen, "out of memory");
    return -1;
  }
  *len = strlen(*body);
  return 0;
}

/* Bedrock's own count of a stream (message_stop's "amazon-bedrock-invocationMetrics": inputTokenCount,
 * outputTokenCount), read only when the Anthropic events carried no usage. */
static bool invocation_metrics(const cJSON *ev, struct usage *u)
{
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "amazon-bedrock-invocationMetrics");
  if (!cJSON_IsObject(m))
    return false;
  memset(u, 0, sizeof *u);
  u->prompt_tokens = usage_count(m, "inputTokenCount", u);
  u->completion_tokens = usage_count(m, "outputTokenCount", u);
  u->cached_tokens = usage_count(m, "cacheReadInputTokenCount", u);
  u->cache_write_5m = usage_count(m, "cacheWriteInputTokenCount", u);
  u->prompt_tokens += u->cached_tokens + u->cache_write_5m;
  return true;
}

static char *response_to_openai(const char *body, size_t len, const char *model, int64_t created,
                                struct usage *u, char *err, size_t errlen)
{
  return format_claude.ops->response_to_openai(body, len, model, created, u, err, errlen);
}

static void read_answer(const cJSON *root, struct format_facts *f)
{
  format_claude.ops->read_answer(root, f);
}

static void in_init(union format_in_state *st, const char *model, int64_t created)
{
  format_claude.ops->in_init(st, model, created);
}

static int in_feed(union format_in_state *st, const char *event, const char *data, size_t len, struct buf *out,
                   char *err, size_t errlen)
{
  int rc = format_claude.ops->in_feed(st, event, data, len, out, err, errlen);
  const struct usage *cu = &st->claude.usage;
  if (event && !strcmp(event, "message_stop") && !cu->prompt_tokens && !cu->completion_tokens) {
    cJSON *j = cJSON_ParseWithLength(data, len);
    invocation_metrics(j, &st->claude.usage);
    cJSON_Delete(j);
  }
  return rc;
}

static void in_facts(const union format_in_state *st, struct format_facts *f)
{
  format_claude.ops->in_facts(st, f);
  if (f->usage_found && st->claude.finished)
    f->usage_final = true;
}

static void scan_event(const cJSON *ev, struct format_facts *f)
{
  format_claude.ops->scan_event(ev, f);
  struct usage u;
  if (!f->usage_found && invocation_metrics(ev, &u)) {
    f->usage = u;
    f->usage_found = f->usage_final = true;
  }
}

static struct curl_slist *sign(const struct curl_slist *base, const char *key, const char *region,
                               const char *url, const char *body, size_t len, int64_t now, char *err,
                               size_t errlen)
{
  return sigv4_sign(base, key, region, url, body, len, now, err, errlen);
}

static const struct format_ops bedrock_ops = {
    .error_body = NULL,
    .write_request = write_request,
    .response_to_openai = response_to_openai,
    .read_answer = read_answer,
    .in_init = in_init,
    .in_feed = in_feed,
    .in_facts = in_facts,
    .scan_event = scan_event,
    .sign = sign,
    .unframe = bedrock_unframe,
};

const struct format format_bedrock = {
    .name = "bedrock",
    .ops = &bedrock_ops,
    .reasoning = RS_FMT_CLAUDE,
    .end_event = "message_stop",
    .unended = "no message_stop event.",
    .native_for = &format_claude,
};
