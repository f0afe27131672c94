/* imgfetch: see imgfetch.h. */
#include "imgfetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "util.h"

static struct imgfetch_opts defaults;      /* max_bytes 0: off until relayd sets them */

void imgfetch_set_defaults(const struct imgfetch_opts *o)
{
  defaults = *o;
}

const struct imgfetch_opts *imgfetch_defaults(void)
{
  return &defaults;
}

static bool v4_private(uint32_t a)   /* host order */
{
  return (a >> 24) == 0 ||                     /* 0.0.0.0/8 "this network" */
         (a >> 24) == 10 ||                    /* 10/8 */
         (a >> 24) == 127 ||                   /* loopback */
         (a >> 22) == (100u << 2 | 1) ||       /* 100.64/10 carrier-grade NAT */
         (a >> 16) == (169u << 8 | 254) ||     /* 169.254/16 link-local (cloud metadata) */
         (a >> 20) == (172u << 4 | 1) ||       /* 172.16/12 */
         (a >> 16) == (192u << 8 | 168) ||     /* 192.168/16 */
         (a >> 8) == (192u << 16) ||            /* 192.0.0/24 protocol assignments */
         (a >> 17) == (198u << 7 | 9) ||       /* 198.18/15 benchmarking */
         (a >> 28) >= 14;                      /* 224/4 multicast, 240/4 reserved, broadcast */
}

bool imgfetch_address_private(const struct sockaddr *addr)
{
  if (addr->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    return v4_private(ntohl(in->sin_addr.s_addr));
  }
  if (addr->sa_family != AF_INET6)
    return true;                               /* anything else: refused */
  const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
  const uint8_t *b = in6->sin6_addr.s6_addr;
  static const uint8_t zero[16];
  if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) || IN6_IS_ADDR_V4COMPAT(&in6->sin6_addr) ||
      (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)) {   /* 64:ff9b::/96 NAT64 */
    uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
    return v4_private(a);
  }
  return memcmp(b, zero, 16) == 0 ||           /* :: */
         IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
         (b[0] & 0xfe) == 0xfc ||              /* fc00::/7 unique local */
         (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||   /* fe80::/10 link-local */
         (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) ||   /* fec0::/10 site-local (deprecated) */
         b[0] == 0xff;                          /* multicast */
}

struct fetch {
  const struct imgfetch_opts *o;
  struct buf body;
  bool refused_addr, too_big;
  char addr[64];
};

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
  struct fetch *f = ud;
  (void)purpose;
  if (!f->o->allow_private && imgfetch_address_private(&a->addr)) {
    f->refused_addr = true;
    const void *p = a->family == AF_INET ? (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr
                                         : (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr;
    if (!inet_ntop(a->family, p, f->addr, sizeof f->addr))
      snprintf(f->addr, sizeof f->addr, "?");
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
  struct fetch *f = ud;
  size_t len = size * n;
  if (f->body.len + len > f->o->max_bytes || buf_append(&f->body, p, len) < 0) {
    f->too_big = true;
    return 0;                     /* aborts the transfer */
  }
  return len;
}

static bool image_type(const char *ct, char *mime, size_t n)
{
  static const char *const ok[] = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "image/heif",
                                   NULL};
  size_t l = 0;
  while (ct && ct[l] && ct[l] != ';' && ct[l] != ' ' && l + 1 < n) {
    mime[l] = (char)(ct[l] >= 'A' && ct[l] <= 'Z' ? ct[l] + 32 : ct[l]);
    l++;
  }
  mime[l] = '\0';
  for (const char *const *t = ok; *t; t++)
    if (strcmp(mime, *t) == 0)
      return true;
  return false;
}

struct imgfetch_job {
  struct fetch f;
  struct imgfetch_opts o;      /* a copy: the job outlives its caller's frame */
  CURL *c;                     /* the caller's handle (not owned) */
};

struct imgfetch_job *imgfetch_start(CURL *c, const char *url, const struct imgfetch_opts *o)
{
  struct imgfetch_job *j = calloc(1, sizeof *j);   /* owned by the caller: imgfetch_job_free */
  if (!j)
    return NULL;
  j->o = *o;
  j->c = c;
  j->f.o = &j->o;
  buf_init(&j->f.body, o->max_bytes + 1);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  /* the socket checked is the image server's */
  /* a connection of its own, closed after: never one another transfer of the same multi opened
   * (to a channel on a private address) without the address check */
  curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &j->f);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &j->f);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "relayd-imgfetch");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL);
  return j;
}

int imgfetch_finish(struct imgfetch_job *j, CURLcode rc, struct imgfetch_result *out, char *err, size_t errlen)
{
  memset(out, 0, sizeof *out);
  const struct imgfetch_opts *o = &j->o;
  struct fetch *f = &j->f;
  long status = 0;
  char *ct = NULL;
  curl_easy_getinfo(j->c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(j->c, CURLINFO_CONTENT_TYPE, &ct);
  int ret = -1;
  if (f->refused_addr)
    snprintf(err, errlen, "the image URL leads to a private, loopback or link-local address (%s): not fetched", f->addr);
  else if (f->too_big || rc == CURLE_FILESIZE_EXCEEDED)
    snprintf(err, errlen, "the image is larger than %zu bytes", o->max_bytes);
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    snprintf(err, errlen, "the image did not arrive within %ld ms", o->timeout_ms);
  else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
    snprintf(err, errlen, "the image URL is not an http or https URL");
  else if (rc != CURLE_OK)
    snprintf(err, errlen, "the image could not be fetched: %s", curl_easy_strerror(rc));
  else if (status != 200)
    snprintf(err, errlen, "the image URL answered HTTP %ld", status);
  else if (!image_type(ct, out->mime, sizeof out->mime))
    snprintf(err, errlen, "the URL's answer is not an image (Content-Type %.64s)", ct ? ct : "none");
  else if (f->body.len == 0)
    snprintf(err, errlen, "the image URL answered an empty body");
  else {
    size_t cap = 4 * ((f->body.len + 2) / 3) + 1;
    out->b64 = malloc(cap);
    if (!out->b64) {
      snprintf(err, errlen, "out of memory");
    } else {
      out->b64_len = (size_t)EVP_EncodeBlock((unsigned char *)out->b64, (const unsigned char *)f->body.data,
                                             (int)f->body.len);
      out->bytes = f->body.len;
      ret = 0;
    }
  }
  if (ret < 0)
    out->mime[0] = '\0';
  return ret;
}

void imgfetch_job_free(struct imgfetch_job *j)
{
  if (!j)
    return;
  buf_free(&j->f.body);
  free(j);
}

int imgfetch(const char *url, const struct imgfetch_opts *o, struct imgfetch_result *out, char *err, size_t errlen)
{
  memset(out, 0, sizeof *out);
  CURL *c = curl_easy_init();
  struct imgfetch_job *j = c ? imgfetch_start(c, url, o) : NULL;
  if (!j) {
    if (c)
      curl_easy_cleanup(c);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  CURLcode rc = curl_easy_perform(c);
  int ret = imgfetch_finish(j, rc, out, err, errlen);
  imgfetch_job_free(j);
  curl_easy_cleanup(c);
  return ret;
}

void imgfetch_result_free(struct imgfetch_result *r)
{
  free(r->b64);
  r->b64 = NULL;
}
