/* Unit tests of the bedrock channel type's own parts: common/sigv4.c (the key's shape, the model's
 * path, the SigV4 signature against values botocore computes) and relayd/bedrock.c's event-stream
 * reader (frames whole, cut at every offset, a bad CRC, an exception message). */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../relayd/bedrock.h"
#include "sigv4.h"
#include "tap.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static void test_creds(void)
{
  struct sigv4_creds c;
  char err[256];
  CHECK(sigv4_creds_parse(AK "|" SK "|us-east-1", NULL, &c, err, sizeof err) == 0 && !strcmp(c.access_key, AK) &&
            !strcmp(c.secret, SK) && !strcmp(c.region, "us-east-1") && !*c.token,
        "AK|SK|REGION");
  CHECK(sigv4_creds_parse(AK "|" SK "||TOKEN", "eu-west-1", &c, err, sizeof err) == 0 &&
            !strcmp(c.region, "eu-west-1") && !strcmp(c.token, "TOKEN"),
        "AK|SK||TOKEN: the region from other.region");
  CHECK(sigv4_creds_parse(AK "|" SK "|ap-south-1", "eu-west-1", &c, err, sizeof err) == 0 &&
            !strcmp(c.region, "ap-south-1"),
        "the key's region comes first");
  CHECK(sigv4_creds_parse(AK "|" SK, NULL, &c, err, sizeof err) < 0 && strstr(err, "region") && !strstr(err, SK),
        "no region anywhere: refused, the secret not quoted (%s)", err);
  CHECK(sigv4_creds_parse("sk-only", NULL, &c, err, sizeof err) < 0 && !strstr(err, "sk-only"), "one field: refused");
  CHECK(sigv4_creds_parse(AK "|" SK "|us-east-1|T|extra", NULL, &c, err, sizeof err) < 0, "five fields: refused");
  CHECK(sigv4_creds_parse(AK "|" SK "|US East", NULL, &c, err, sizeof err) < 0, "a region with a blank: refused");
  CHECK(sigv4_creds_parse(AK "|S K|us-east-1", NULL, &c, err, sizeof err) < 0, "a secret with a blank: refused");
}

static void test_path(void)
{
  char p[256];
  CHECK(sigv4_bedrock_path("anthropic.claude-sonnet-4-5-20250929-v1:0", 0, p, sizeof p) == 0 &&
            !strcmp(p, "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"),
        "the id URI-encoded: %s", p);
  CHECK(sigv4_bedrock_path("arn:aws:bedrock:us-east-1:1:inference-profile/us.x", 1, p, sizeof p) == 0 &&
            !strcmp(p, "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/invoke-with-response-stream"),
        "an ARN, '/' included, and the stream's path: %s", p);
  CHECK(sigv4_bedrock_path("", 0, p, sizeof p) < 0, "an empty id: refused");
  CHECK(sigv4_bedrock_path("m", 0, p, 12) < 0, "too long for the buffer: refused");
}

static const char *find(const struct curl_slist *l, const char *prefix)
{
  for (; l; l = l->next)
    if (!strncmp(l->data, prefix, strlen(prefix)))
      return l->data + strlen(prefix);
  return NULL;
}

/* The expected signatures are botocore's (SigV4Auth("bedrock", "us-east-1"): canonical_request,
 * string_to_sign, signature) for the same request at X-Amz-Date 20231114T221320Z. */
static void test_sign(void)
{
  const char *url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                    "anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke";
  const char *body = "{\"max_tokens\":5}";
  char err[256] = "";
  struct curl_slist *base = curl_slist_append(NULL, "Content-Type: application/json");
  base = curl_slist_append(base, "Expect:");
  struct curl_slist *h = sigv4_sign(base, AK "|" SK "|us-east-1", NULL, url, body, strlen(body), 1700000000, err,
                                    sizeof err);
  CHECK(h && find(h, "Expect:") && !strcmp(find(h, "Host: "), "bedrock-runtime.us-east-1.amazonaws.com") &&
            !strcmp(find(h, "X-Amz-Date: "), "20231114T221320Z") && !find(h, "X-Amz-Security-Token"),
        "the headers: the base's, Host, X-Amz-Date (%s)", err);
  const char *a = h ? find(h, "Authorization: ") : NULL;
  CHECK(a && !strcmp(a, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock/aws4_request, "
                        "SignedHeaders=content-type;host;x-amz-date, "
                        "Signature=ac9f5a8b28f5fbf49b50bdffd657de9958a38c8bba9508332114fee6552254b6"),
        "botocore's signature: %s", a ? a : "(none)");
  curl_slist_free_all(h);
  h = sigv4_sign(base, AK "|" SK "||SESSIONTOKEN/abc+=", "us-east-1", url, body, strlen(body), 1700000000, err,
                 sizeof err);
  a = h ? find(h, "Authorization: ") : NULL;
  CHECK(h && !strcmp(find(h, "X-Amz-Security-Token: "), "SESSIONTOKEN/abc+=") && a &&
            strstr(a, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
                      "857312556287c3170f72b10b90445551f1e197cbc76120b669a9cfe71a5eaf9b"),
        "with a session token, signed: %s", a ? a : "(none)");
  curl_slist_free_all(h);
  h = sigv4_sign(base, AK "|" SK "|us-east-1", NULL, "http://127.0.0.1:8080/model/m/invoke", body, strlen(body),
                 1700000000, err, sizeof err);
  CHECK(h && !strcmp(find(h, "Host: "), "127.0.0.1:8080"), "a port that is not the scheme's stays in Host");
  curl_slist_free_all(h);
  h = sigv4_sign(base, AK "|" SK "|us-east-1", NULL, "https://x.example:443/model/m/invoke", body, strlen(body),
                 1700000000, err, sizeof err);
  CHECK(h && !strcmp(find(h, "Host: "), "x.example"), "the scheme's own port does not (as curl sends it)");
  curl_slist_free_all(h);
  CHECK(!sigv4_sign(base, "no-pipes", NULL, url, body, strlen(body), 1700000000, err, sizeof err) &&
            !strstr(err, "no-pipes"),
        "a key of the wrong shape: no headers, the key not quoted");
  curl_slist_free_all(base);
}

/* ---- event-stream frames (the layout botocore/eventstream.py reads) */

static void be32(struct buf *b, uint32_t v)
{
  unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
  buf_append(b, p, 4);
}

static void hdr(struct buf *h, const char *name, const char *value)
{
  unsigned char nl = (unsigned char)strlen(name), t = 7, vl[2] = {0, (unsigned char)strlen(value)};
  buf_append(h, &nl, 1);
  buf_append_str(h, name);
  buf_append(h, &t, 1);
  buf_append(h, vl, 2);
  buf_append_str(h, value);
}

static void frame(struct buf *out, const char *mtype, const char *etype_name, const char *etype, const char *payload,
                  bool bad_crc)
{
  struct buf h, f;
  buf_init(&h, 4096);
  buf_init(&f, 8192);
  hdr(&h, etype_name, etype);
  hdr(&h, ":content-type", "application/json");
  hdr(&h, ":message-type", mtype);
  be32(&f, (uint32_t)(12 + h.len + strlen(payload) + 4));
  be32(&f, (uint32_t)h.len);
  be32(&f, (uint32_t)crc32(0, (const Bytef *)f.data, 8));
  buf_append(&f, h.data, h.len);
  buf_append_str(&f, payload);
  be32(&f, (uint32_t)crc32(0, (const Bytef *)f.data, (uInt)f.len) ^ (bad_crc ? 1u : 0u));
  buf_append(out, f.data, f.len);
  buf_free(&h);
  buf_free(&f);
}

/* base64 of {"type":"ping"} and of {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}} */
#define PING_B64 "eyJ0eXBlIjoicGluZyJ9"
#define DELTA_B64 "eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiJoaSJ9fQ=="

static void test_unframe(void)
{
  struct buf stream, in, out;
  buf_init(&stream, 1 << 20);
  frame(&stream, "event", ":event-type", "chunk", "{\"bytes\":\"" PING_B64 "\",\"p\":\"abc\"}", false);
  frame(&stream, "event", ":event-type", "chunk", "{\"bytes\":\"" DELTA_B64 "\"}", false);
  frame(&stream, "exception", ":exception-type", "throttlingException", "{\"message\":\"slow down\"}", false);
  const char *want = "event: ping\ndata: {\"type\":\"ping\"}\n\n"
                     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                     "\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
                     "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                     "\"message\":\"Bedrock throttlingException: slow down\"}}\n\n";
  const char *why = NULL;
  /* the stream in two reads cut at every offset: the same events */
  bool all_same = true;
  for (size_t cut = 0; cut <= stream.len; cut++) {
    buf_init(&in, 1 << 20);
    buf_init(&out, 1 << 20);
    int rc = buf_append(&in, stream.data, cut) == 0 ? bedrock_unframe(&in, &out, &why) : -1;
    rc |= buf_append(&in, stream.data + cut, stream.len - cut) == 0 ? bedrock_unframe(&in, &out, &why) : -1;
    if (rc != 0 || in.len != 0 || strcmp(out.data ? out.data : "", want) != 0) {
      all_same = false;
      CHECK(false, "cut at %zu: %s", cut, out.data ? out.data : "(nothing)");
    }
    buf_free(&in);
    buf_free(&out);
  }
  CHECK(all_same, "three frames cut at each of %zu offsets read the same three events", stream.len + 1);
  /* a bad message CRC: refused, nothing of that frame written */
  buf_init(&in, 1 << 20);
  buf_init(&out, 1 << 20);
  frame(&in, "event", ":event-type", "chunk", "{\"bytes\":\"" PING_B64 "\"}", false);
  frame(&in, "event", ":event-type", "chunk", "{\"bytes\":\"" DELTA_B64 "\"}", true);
  CHECK(bedrock_unframe(&in, &out, &why) < 0 && why && strstr(why, "message CRC") &&
            !strcmp(out.data, "event: ping\ndata: {\"type\":\"ping\"}\n\n"),
        "a bad message CRC: the frames before it read, then refused (%s)", why ? why : "");
  buf_free(&in);
  buf_free(&out);
  /* a prelude CRC that does not match: refused before its (possibly huge) length is trusted */
  buf_init(&in, 1 << 20);
  buf_init(&out, 1 << 20);
  frame(&in, "event", ":event-type", "chunk", "{\"bytes\":\"" PING_B64 "\"}", false);
  in.data[0] = 0x7f;
  CHECK(bedrock_unframe(&in, &out, &why) < 0 && strstr(why, "prelude CRC"), "a bad prelude CRC: refused");
  buf_free(&in);
  buf_free(&out);
  /* a chunk whose bytes are not base64 of an Anthropic event */
  buf_init(&in, 1 << 20);
  buf_init(&out, 1 << 20);
  frame(&in, "event", ":event-type", "chunk", "{\"bytes\":\"!!!!\"}", false);
  CHECK(bedrock_unframe(&in, &out, &why) < 0 && strstr(why, "base64"), "bytes not base64: refused (%s)", why);
  buf_reset(&in);
  frame(&in, "event", ":event-type", "chunk", "{\"bytes\":\"WzFd\"}", false);   /* [1] */
  CHECK(bedrock_unframe(&in, &out, &why) < 0 && strstr(why, "Anthropic event"), "bytes not an event: refused");
  buf_reset(&in);
  frame(&in, "event", ":event-type", "initial-response", "{}", false);
  CHECK(bedrock_unframe(&in, &out, &why) == 0 && in.len == 0 && out.len == 0, "another event type: skipped");
  buf_free(&in);
  buf_free(&out);
  buf_free(&stream);
}

int main(void)
{
  test_creds();
  test_path();
  test_sign();
  test_unframe();
  return tap_done();
}
