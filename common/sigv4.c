/* sigv4: see sigv4.h. */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- credentials and URL */

static int field_ok(const char *s, bool allow_empty)
{
  if (!*s)
    return allow_empty;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
      return 0;
  return 1;
}

int sigv4_creds_parse(const char *key, const char *region_other, struct sigv4_creds *c, char *err,
                        size_t errlen)
{
  memset(c, 0, sizeof *c);
  if (!key || strlen(key) >= sizeof c->buf) {
    snprintf(err, errlen, "a bedrock channel's key is ACCESS_KEY_ID|SECRET_ACCESS_KEY|REGION[|SESSION_TOKEN]");
    return -1;
  }
  memcpy(c->buf, key, strlen(key) + 1);
  char *f[4] = {c->buf, NULL, NULL, NULL}, *p = c->buf;
  int n = 1;
  while ((p = strchr(p, '|')) && n < 4) {
    *p++ = '\0';
    f[n++] = p;
  }
  if (n < 2 || p || !field_ok(f[0], false) || !field_ok(f[1], false) || (f[2] && !field_ok(f[2], true)) ||
      (f[3] && !field_ok(f[3], true))) {
    snprintf(err, errlen, "a bedrock channel's key is ACCESS_KEY_ID|SECRET_ACCESS_KEY|REGION[|SESSION_TOKEN]");
    return -1;
  }
  c->access_key = f[0];
  c->secret = f[1];
  c->region = f[2] && *f[2] ? f[2] : region_other ? region_other : "";
  c->token = f[3] ? f[3] : "";
  size_t rl = strlen(c->region);
  if (rl == 0 || rl > 32 || strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != rl) {
    snprintf(err, errlen, "a bedrock channel needs its AWS region (us-east-1, ...): in its key "
                          "(ACCESS_KEY_ID|SECRET_ACCESS_KEY|REGION) or its --region");
    return -1;
  }
  return 0;
}

static bool unreserved(unsigned char ch)
{
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
         ch == '_' || ch == '.' || ch == '~';
}

/* s URI-encoded as SigV4 does (unreserved kept, '/' kept when keep_slash, the rest %XX upper case)
 * appended at out[*n]. -1 when it does not fit. */
static int uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t outlen, size_t *n)
{
  static const char hexd[] = "0123456789ABCDEF";
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (unreserved(ch) || (keep_slash && ch == '/')) {
      if (*n + 1 >= outlen)
        return -1;
      out[(*n)++] = (char)ch;
    } else {
      if (*n + 3 >= outlen)
        return -1;
      out[(*n)++] = '%';
      out[(*n)++] = hexd[ch >> 4];
      out[(*n)++] = hexd[ch & 15];
    }
  }
  out[*n] = '\0';
  return 0;
}

int sigv4_bedrock_path(const char *model, int stream, char *out, size_t outlen)
{
  size_t n = 0, ml = strlen(model);
  if (ml == 0 || ml > 256 || outlen < 8)
    return -1;
  memcpy(out, "/model/", 7);
  n = 7;
  out[n] = '\0';
  if (uri_encode(model, ml, false, out, outlen, &n) < 0)
    return -1;
  const char *tail = stream ? "/invoke-with-response-stream" : "/invoke";
  if (n + strlen(tail) >= outlen)
    return -1;
  memcpy(out + n, tail, strlen(tail) + 1);
  return 0;
}

/* ---------------------------------------------------------------- SigV4 */

static void to_hex(const unsigned char *p, size_t n, char *out)
{
  static const char hexd[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hexd[p[i] >> 4];
    out[2 * i + 1] = hexd[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(p, n, d);
  to_hex(d, sizeof d, out);
}

static void hmac256(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
  unsigned int ol = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &ol);
}

/* The value of header name in list (trimmed), or NULL. */
static const char *list_value(const struct curl_slist *l, const char *name, char *out, size_t outlen)
{
  size_t nl = strlen(name);
  for (; l; l = l->next)
    if (strncasecmp(l->data, name, nl) == 0 && l->data[nl] == ':') {
      const char *v = l->data + nl + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      size_t vl = strlen(v);
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      if (vl >= outlen)
        return NULL;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return out;
    }
  return NULL;
}

static struct curl_slist *add(struct curl_slist *l, const char *line, bool *ok)
{
  struct curl_slist *n = *ok ? curl_slist_append(l, line) : NULL;
  if (!n)
    *ok = false;
  return n ? n : l;
}

struct curl_slist *sigv4_sign(const struct curl_slist *base, const char *key, const char *region_other,
                                const char *url, const char *body, size_t len, int64_t now, char *err,
                                size_t errlen)
{
  struct sigv4_creds c;
  if (sigv4_creds_parse(key, region_other, &c, err, errlen) < 0)
    return NULL;
  struct curl_slist *out = NULL;
  char host[300], curi[4096], ctype[256], amzdate[20], date8[9], phash[65], crhash[65], sig[65];
  char *creq = NULL, *line = NULL;
  /* the host (with a port that is not the scheme's) and the path, as curl sends them */
  const char *h = strstr(url, "://");
  if (!h) {
    snprintf(err, errlen, "the upstream URL has no scheme");
    goto fail;
  }
  bool https = strncasecmp(url, "https", 5) == 0;
  h += 3;
  size_t hl = strcspn(h, "/?#");
  if (hl == 0 || hl >= sizeof host) {
    snprintf(err, errlen, "the upstream URL's host is empty or too long");
    goto fail;
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  char *colon = strrchr(host, ':');
  if (colon && !strchr(colon, ']') && strcmp(colon + 1, https ? "443" : "80") == 0)
    *colon = '\0';
  const char *path = h + hl;
  size_t pl = strcspn(path, "?#"), n = 0;
  if (pl == 0)
    path = "/", pl = 1;
  /* AWS's canonical URI of a non-S3 service: the path as sent, URI-encoded once more */
  if (uri_encode(path, pl, true, curi, sizeof curi, &n) < 0) {
    snprintf(err, errlen, "the upstream URL is too long to sign");
    goto fail;
  }
  struct tm tm;
  time_t t = (time_t)now;
  gmtime_r(&t, &tm);
  strftime(amzdate, sizeof amzdate, "%Y%m%dT%H%M%SZ", &tm);
  memcpy(date8, amzdate, 8);
  date8[8] = '\0';
  sha256_hex(body ? body : "", body ? len : 0, phash);
  bool has_ct = list_value(base, "Content-Type", ctype, sizeof ctype) != NULL;
  bool has_tok = c.token[0] != '\0';
  const char *signed_h = has_ct ? (has_tok ? "content-type;host;x-amz-date;x-amz-security-token"
                                           : "content-type;host;x-amz-date")
                                : (has_tok ? "host;x-amz-date;x-amz-security-token" : "host;x-amz-date");
  size_t cap = strlen(curi) + strlen(c.token) + 1024;
  if (!(creq = malloc(cap)) || !(line = malloc(cap))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  /* the canonical request: method, URI, query (none), headers (lower-case names, sorted), the
   * signed header names, the payload's hash */
  snprintf(creq, cap, "POST\n%s\n\n%s%s%shost:%s\nx-amz-date:%s\n%s%s%s\n%s\n%s", curi, has_ct ? "content-type:" : "",
           has_ct ? ctype : "", has_ct ? "\n" : "", host, amzdate, has_tok ? "x-amz-security-token:" : "",
           c.token, has_tok ? "\n" : "", signed_h, phash);
  sha256_hex(creq, strlen(creq), crhash);
  char scope[128], sts[400];
  snprintf(scope, sizeof scope, "%s/%s/bedrock/aws4_request", date8, c.region);
  snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amzdate, scope, crhash);
  /* the signing key: HMAC chain from "AWS4" + secret over date, region, service, "aws4_request" */
  unsigned char k[32];
  snprintf(line, cap, "AWS4%s", c.secret);
  hmac256(line, strlen(line), date8, k);
  hmac256(k, 32, c.region, k);
  hmac256(k, 32, "bedrock", k);
  hmac256(k, 32, "aws4_request", k);
  unsigned char s[32];
  hmac256(k, 32, sts, s);
  to_hex(s, 32, sig);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(line, strlen(line));

  bool ok = true;
  for (const struct curl_slist *b = base; b; b = b->next)
    if (strncasecmp(b->data, "Host:", 5) != 0 && strncasecmp(b->data, "Authorization:", 14) != 0 &&
        strncasecmp(b->data, "X-Amz-", 6) != 0)
      out = add(out, b->data, &ok);
  snprintf(line, cap, "Host: %s", host);
  out = add(out, line, &ok);
  snprintf(line, cap, "X-Amz-Date: %s", amzdate);
  out = add(out, line, &ok);
  if (has_tok) {
    snprintf(line, cap, "X-Amz-Security-Token: %s", c.token);
    out = add(out, line, &ok);
  }
  snprintf(line, cap, "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
           c.access_key, scope, signed_h, sig);
  out = add(out, line, &ok);
  OPENSSL_cleanse(line, strlen(line));
  if (!ok) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  free(creq);
  free(line);
  OPENSSL_cleanse(&c, sizeof c);
  return out;
fail:
  curl_slist_free_all(out);
  free(creq);
  free(line);
  OPENSSL_cleanse(&c, sizeof c);
  return NULL;
}

