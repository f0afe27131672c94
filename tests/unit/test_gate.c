/* Unit tests of relayd/gate.c's gate_check: which first request headers the gate answers itself
 * (what libmicrohttpd 0.9.75 would refuse with its own HTML, or silence), which it hands to MHD,
 * and when it waits for more bytes; and gate_small_stream: which go to the small pool. */
#include <string.h>

#include "../../relayd/gate.h"
#include "tap.h"

#define LIMIT 8192

static enum gate_result check(const char *s, struct gate_verdict *v)
{
  return gate_check(s, strlen(s), LIMIT, v);
}

static void refused(const char *what, const char *req, unsigned status, const char *code)
{
  struct gate_verdict v;
  enum gate_result r = check(req, &v);
  CHECK(r == GATE_REFUSE && v.status == status && strcmp(v.code, code) == 0, "%s: %u %s (got %d, %u %s)",
        what, status, code, (int)r, v.status, v.code ? v.code : "-");
}

static void passed(const char *what, const char *req)
{
  struct gate_verdict v;
  CHECK(check(req, &v) == GATE_PASS, "%s: handed to MHD", what);
}

int main(void)
{
  struct gate_verdict v;
  passed("a plain POST", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n{\"a\":1}");
  passed("bare LF line ends", "GET /v1/models HTTP/1.1\nHost: x\n\n");
  passed("empty lines before the request line", "\r\n\r\nGET /v1/models HTTP/1.0\r\n\r\n");
  passed("a folded field", "GET / HTTP/1.1\r\nX-A: b\r\n  c\r\nHost: x\r\n\r\n");
  passed("HTTP/1.9 (MHD takes 1.x)", "GET / HTTP/1.9\r\n\r\n");
  passed("Content-Length 000…0 with 30 leading zeros", "POST / HTTP/1.1\r\nContent-Length: 0000000000000000000000000000005\r\n\r\n");
  {
    static const char nul[] = "GET /v1/messages\0x HTTP/1.1\r\n\r\n";
    CHECK(gate_check(nul, sizeof nul - 1, LIMIT, &v) == GATE_PASS,
          "a NUL in the target: handed to MHD (relay.c refuses it, in the client's format)");
  }
  CHECK(check("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Len", &v) == GATE_MORE,
        "half a header: wait for more");
  CHECK(check("", &v) == GATE_MORE && check("GET / HTTP/1.1\r\n", &v) == GATE_MORE, "nothing yet: more");
  refused("GARBAGE", "GARBAGE\r\n\r\n", 400, "invalid_request_line");
  refused("no version", "GET /x\r\n\r\n", 400, "invalid_request_line");
  refused("a request line starting with a space", " GET / HTTP/1.1\r\n\r\n", 400, "invalid_request_line");
  refused("spaces after the version (MHD: HTML 400)", "GET / HTTP/1.1  \r\n\r\n", 400, "invalid_request_line");
  passed("two spaces before the version", "GET /  HTTP/1.1\r\n\r\n");
  refused("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505, "http_version_not_supported");
  refused("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505, "http_version_not_supported");
  refused("HTTX/1.1", "GET / HTTX/1.1\r\n\r\n", 400, "invalid_request_line");
  refused("no colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "invalid_header");
  {
    static const char nul[] = "GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n";
    CHECK(gate_check(nul, sizeof nul - 1, LIMIT, &v) == GATE_REFUSE && v.status == 400, "a NUL in a field: 400");
  }
  refused("Content-Length -1", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid_content_length");
  refused("Content-Length +66", "POST / HTTP/1.1\r\nContent-Length: +66\r\n\r\n", 400, "invalid_content_length");
  refused("Content-Length 0x10", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "invalid_content_length");
  refused("Content-Length empty", "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400, "invalid_content_length");
  refused("Content-Length 5, 5", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "invalid_content_length");
  refused("a second Content-Length that is not a number", "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: x\r\n\r\n",
          400, "invalid_content_length");
  refused("Content-Length folded", "POST / HTTP/1.1\r\nContent-Length: 5\r\n 6\r\n\r\n", 400, "invalid_content_length");
  refused("Content-Length of 19 digits", "POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", 413,
          "request_too_large");
  /* fields: max_header_bytes / 64 = 128 */
  char many[8192];
  size_t n = (size_t)snprintf(many, sizeof many, "GET / HTTP/1.1\r\n");
  for (int i = 0; i < 128; i++)
    n += (size_t)snprintf(many + n, sizeof many - n, "X-%d: v\r\n", i);
  memcpy(many + n, "\r\n", 3);
  passed("128 fields", many);
  memcpy(many + n, "X: v\r\n\r\n", 9);
  refused("129 fields", many, 431, "request_header_too_large");
  /* size: the request line and fields may take max_header_bytes */
  static char big[LIMIT + 64];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  memcpy(big + LIMIT - 2, "\r\n\r\n", 5);
  passed("exactly max_header_bytes with the line ends", big);
  memcpy(big + LIMIT - 2, "a\r\n\r\n", 6);
  refused("one byte more", big, 431, "request_header_too_large");
  CHECK(gate_check(big, LIMIT + 1, LIMIT, &v) == GATE_REFUSE && v.status == 431,
        "max_header_bytes + 1 bytes and no end: 431");
  CHECK(check("POST /v1/messages?beta=true HTTP/1.1\r\nX\r\n\r\n", &v) == GATE_REFUSE && v.target_len == 22 &&
            memcmp(v.target, "/v1/messages?beta=true", 22) == 0,
        "the target is reported (it tells the client's format)");

  /* gate_small_stream: which first requests go to the small pool's daemon */
  const char *body = "{\"model\":\"m\",\"stream\":true}";
  char req[2048];
#define SMALL(extra, b, cl) (snprintf(req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\n%s" \
                                      "Content-Length: %zu\r\n\r\n%s", extra, (size_t)(cl), b), \
                             check(req, &v) == GATE_PASS && gate_small_stream(req, strlen(req), &v))
  CHECK(SMALL("", body, strlen(body)), "a stream with its whole body: small");
  CHECK(!SMALL("", "{\"model\":\"m\",\"stream\":false}", 28), "stream false: not small");
  CHECK(!SMALL("", "{\"model\":\"m\"}", 13), "no stream member: not small");
  CHECK(!SMALL("", "{\"stream\":true", 14), "a body that is not JSON: not small");
  CHECK(!SMALL("", "[{\"stream\":true}]", 17), "an array: not small");
  CHECK(!SMALL("", "{\"model\":\"m\",\"stre", strlen(body)), "a body not all peeked: not small");
  CHECK(!SMALL("", "", 0), "no body: not small");
  CHECK(!SMALL("Transfer-Encoding: chunked\r\n", body, strlen(body)), "Transfer-Encoding: not small");
  CHECK(!SMALL("Content-Encoding: gzip\r\n", body, strlen(body)), "Content-Encoding: not small");
  CHECK(!SMALL("Expect: 100-continue\r\n", body, strlen(body)), "Expect: not small");
  CHECK(!SMALL("Cookie: a=b\r\n", body, strlen(body)), "Cookie: not small");
  CHECK(!SMALL("Upgrade: websocket\r\n", body, strlen(body)), "Upgrade: not small");
  CHECK(!SMALL("Content-Length: 1\r\n", body, strlen(body)), "two Content-Lengths that differ: not small");
  /* the class's limits: GATE_SMALL_RECORDS (18) fields and arguments, 1,024 bytes of request line
   * and fields */
  char fields[1400] = "";
  size_t fl = 0;
  for (int i = 0; i < GATE_SMALL_RECORDS - 3; i++)   /* + Host + Content-Length = 17 */
    fl += (size_t)snprintf(fields + fl, sizeof fields - fl, "X-%02d: v\r\n", i);
  CHECK(SMALL(fields, body, strlen(body)) && v.records == GATE_SMALL_RECORDS - 1, "17 fields: small");
  CHECK(snprintf(req, sizeof req, "POST /v1/chat/completions?a=1 HTTP/1.1\r\nHost: h\r\n%sContent-Length: %zu\r\n\r\n%s",
                 fields, strlen(body), body) > 0 && check(req, &v) == GATE_PASS && v.records == GATE_SMALL_RECORDS &&
            gate_small_stream(req, strlen(req), &v), "17 fields and an argument: small");
  CHECK(snprintf(req, sizeof req, "POST /v1/chat/completions?a=1&b=2 HTTP/1.1\r\nHost: h\r\n%sContent-Length: %zu\r\n\r\n%s",
                 fields, strlen(body), body) > 0 && check(req, &v) == GATE_PASS && v.records == GATE_SMALL_RECORDS + 1 &&
            !gate_small_stream(req, strlen(req), &v), "17 fields and two arguments: not small");
  /* a request pipelined behind the body (in the peek): the close would lose its answer */
  CHECK(snprintf(req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n%s"
                 "GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n", strlen(body), body) > 0 &&
            check(req, &v) == GATE_PASS && !gate_small_stream(req, strlen(req), &v),
        "a stream with a request pipelined behind it: not small");
  CHECK(snprintf(req, sizeof req, "POST /v1beta/models/g:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: h\r\n\r\n"
                 "GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n") > 0 &&
            check(req, &v) == GATE_PASS && !gate_small_stream(req, strlen(req), &v),
        "a Gemini stream with a request pipelined behind it: not small");
  /* pad one field so that the request line and fields are 1,024 bytes, then 1,025 */
  size_t base = strlen("POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\n") + strlen("Content-Length: 28\r\n") +
                strlen("X-Pad: \r\n");
  char pad[1100];
  memset(pad, 'p', sizeof pad);
  snprintf(fields, sizeof fields, "X-Pad: %.*s\r\n", (int)(GATE_SMALL_HEAD - base), pad);
  CHECK(SMALL(fields, body, strlen(body)) && v.head_bytes == GATE_SMALL_HEAD, "1,024 bytes: small");
  snprintf(fields, sizeof fields, "X-Pad: %.*s\r\n", (int)(GATE_SMALL_HEAD - base + 1), pad);
  CHECK(!SMALL(fields, body, strlen(body)) && v.head_bytes == GATE_SMALL_HEAD + 1, "1,025 bytes: not small");
  /* Gemini: the target names the stream, the body does not matter */
  const char *gs = "POST /v1beta/models/g:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: h\r\n\r\n";
  CHECK(check(gs, &v) == GATE_PASS && gate_small_stream(gs, strlen(gs), &v), "Gemini :streamGenerateContent: small");
  const char *gn = "POST /v1beta/models/g:generateContent HTTP/1.1\r\nHost: h\r\n\r\n";
  CHECK(check(gn, &v) == GATE_PASS && !gate_small_stream(gn, strlen(gn), &v), "Gemini :generateContent: not small");
  /* the body's "stream" counts only on a route that can stream (the others are never parsed) */
  static const char *const paths[] = {"/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/completions",
                                      "/v1/messages?beta=true", "/v1/embeddings", "/v1/messages/count_tokens",
                                      "/v1/chat/completions/x", "/v1/chat", "/v1/images/generations"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n%s", paths[i], strlen(body),
             body);
    bool small = check(req, &v) == GATE_PASS && gate_small_stream(req, strlen(req), &v);
    char what[96];
    snprintf(what, sizeof what, "a stream to %s: %s", paths[i], i < 5 ? "small" : "not small (a route that never streams)");
    CHECK(small == (i < 5), what);
  }
#undef SMALL
  return tap_done();
}
