/*
 * sigv4: AWS Signature Version 4 for the `bedrock` channel type, and what a Bedrock channel's key
 *   and URL are. Key: "ACCESS_KEY_ID|SECRET_ACCESS_KEY|REGION" (One API's AWS channel key), with an
 *   optional fourth field, a session token (sent as X-Amz-Security-Token); an empty REGION means the
 *   channel's other.region (gwctl channel add --region).
 * Why not libcurl's CURLOPT_AWS_SIGV4: libcurl 7.88 (Debian 12) signs the request path as sent,
 *   while AWS's canonical URI of a non-S3 service URI-encodes each path segment once more (a Bedrock
 *   model id "...-v1:0" is sent as "-v1%3A0" and signed as "-v1%253A0"; see curl/curl#16927 and
 *   higress-group/higress#2396): curl's signature of any model id with ':' gets AWS's 403. So the
 *   signature is made here with OpenSSL's SHA-256 and HMAC, as AWS documents it
 *   (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
 * Callers: relayd/bedrock.c (every upstream request and probe of a bedrock channel), gwctl channel
 *   test, tests/unit. The mock upstream checks signatures with its own code (tests/mock_upstream.c).
 * Never: keeps state, reads the clock (the caller passes the time), puts the key or secret in an
 *   error message; the secret's copies are wiped.
 */
#ifndef RELAY_SIGV4_H
#define RELAY_SIGV4_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#define BEDROCK_ANTHROPIC_VERSION "bedrock-2023-05-31"

/* The parts of a channel key (pointers into buf; region may point at region_other). */
struct sigv4_creds {
  char buf[8400];
  const char *access_key, *secret, *region, *token;   /* token "" when none */
};

/* Splits key into c: 0, or -1 with a reason in err (never quoting the key). region_other is the
 * channel's other.region (NULL or ""), used when the key names none. The caller wipes c. */
int sigv4_creds_parse(const char *key, const char *region_other, struct sigv4_creds *c, char *err, size_t errlen);

/* The path of a model's InvokeModel (stream: InvokeModelWithResponseStream), the model id
 * URI-encoded ("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"). 0, or -1 when the id is
 * empty or too long. */
int sigv4_bedrock_path(const char *model, int stream, char *out, size_t outlen);

/* The SigV4 headers (service "bedrock") of a POST of body to url at time now (Unix seconds) with
 * key: base, less any Host, Authorization and X-Amz-* line, plus Host, X-Amz-Date,
 * X-Amz-Security-Token (with a session token) and Authorization. A new list (caller frees with
 * curl_slist_free_all), or NULL with err. */
struct curl_slist *sigv4_sign(const struct curl_slist *base, const char *key, const char *region_other,
                              const char *url, const char *body, size_t len, int64_t now, char *err,
                              size_t errlen);

#endif
