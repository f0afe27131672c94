/* rtup: see rtup.h. */
#include "rtup.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include "health.h"
#include "rtstate.h"
#include "rtwire.h"
#include "worker.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"   /* RFC 6455 1.3 */

/* Before the upgrade: the failure goes to realtime.c (the client's HTTP error), which frees s. */
static void up_fail(struct rt_session *s, unsigned status, const char *code, int outcome, const char *fmt,
                    const char *arg)
{
  char msg[400];
  snprintf(msg, sizeof msg, fmt, arg ? arg : "");
  s->fail(s, status, code, outcome, msg);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
  EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}
/* The Sec-WebSocket-Accept for key (RFC 6455 4.2.2). out: 29 bytes at least. */
void rt_ws_accept(const char *key, char *out)
{
  char cat[128];
  unsigned char dig[SHA_DIGEST_LENGTH];
  int n = snprintf(cat, sizeof cat, "%s%s", key, WS_GUID);
  SHA1((const unsigned char *)cat, (size_t)(n < (int)sizeof cat ? n : (int)sizeof cat - 1), dig);
  b64(dig, sizeof dig, out);
}
/* The value of header name in the header block h (lines after the status line), or NULL; *len. */
static const char *header_value(const char *h, const char *name, size_t *len)
{
  size_t nl = strlen(name);
  for (const char *line = strstr(h, "\r\n"); line && line[2] && !(line[2] == '\r' && line[3] == '\n');
       line = strstr(line + 2, "\r\n")) {
    const char *p = line + 2;
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      p += nl + 1;
      while (*p == ' ' || *p == '\t')
        p++;
      const char *e = strstr(p, "\r\n");
      *len = e ? (size_t)(e - p) : strlen(p);
      while (*len && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
        (*len)--;
      return p;
    }
  }
  return NULL;
}
/* The upstream's 101 is in: its wslay context, then the client gets its own (s->ready). */
static void upstream_accepted(struct rt_session *s, size_t head_len)
{
  if (s->hs.len > head_len) {
    s->upre_len = s->hs.len - head_len;
    s->upre = malloc(s->upre_len);        /* owned: rt_free */
    if (!s->upre) {
      up_fail(s, 500, "out_of_memory", OUTCOME_ABANDON, "The relay is out of memory.%s", "");
      return;
    }
    memcpy(s->upre, s->hs.data + head_len, s->upre_len);
  }
  if (rt_upstream_ws(s) < 0) {
    up_fail(s, 500, "out_of_memory", OUTCOME_ABANDON, "The relay is out of memory.%s", "");
    return;
  }
  rt_unwatch(s, s->ufd, &s->uev);       /* read again once the client is there */
  s->ready(s);
}

static void handshake_read(struct rt_session *s)
{
  char tmp[4096];
  bool eof = false;              /* a refusal may come with the connection's end in one read */
  for (;;) {
    size_t n = 0;
    CURLcode rc = curl_easy_recv(s->easy, tmp, sizeof tmp, &n);
    if (rc == CURLE_AGAIN)
      break;
    if (rc != CURLE_OK || n == 0) {
      eof = true;
      break;
    }
    if (s->hs.len + n > RT_HANDSHAKE_MAX || buf_append(&s->hs, tmp, n) < 0) {
      up_fail(s, 502, "upstream_error", OUTCOME_FAIL,
                "The upstream's answer to the realtime upgrade is too long.%s", "");
      return;
    }
  }
  const char *end = s->hs.data ? memmem(s->hs.data, s->hs.len, "\r\n\r\n", 4) : NULL;
  if (!end && eof) {
    up_fail(s, 502, "upstream_error", OUTCOME_FAIL,
            "The upstream closed the connection before it accepted the realtime session.%s", "");
    return;
  }
  if (!end)
    return;
  size_t head_len = (size_t)(end - s->hs.data) + 4;
  char head[RT_HANDSHAKE_MAX + 1];
  memcpy(head, s->hs.data, head_len);
  head[head_len] = '\0';
  int status = 0;
  if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
    status = 0;
  if (status != 101) {
    char why[64];
    snprintf(why, sizeof why, "%d", status);
    up_fail(s, 502, "upstream_error", status == 401 || status == 403 ? OUTCOME_ACCOUNT
                                        : status >= 400 && status < 500 ? OUTCOME_CLIENT : OUTCOME_FAIL,
              "The upstream refused the realtime session (HTTP %s).", why);
    return;
  }
  size_t al = 0;
  const char *acc = header_value(head, "Sec-WebSocket-Accept", &al);
  if (!acc || al != strlen(s->accept) || strncmp(acc, s->accept, al) != 0) {
    up_fail(s, 502, "upstream_error", OUTCOME_FAIL,
              "The upstream answered the realtime upgrade without a valid Sec-WebSocket-Accept.%s", "");
    return;
  }
  upstream_accepted(s, head_len);
}
/* Sends what is left of the upgrade request: 0, or -1 when it failed (s is freed). */
static int handshake_write(struct rt_session *s)
{
  while (s->uout.len) {
    size_t n = 0;
    CURLcode rc = curl_easy_send(s->easy, s->uout.data, s->uout.len, &n);
    if (rc == CURLE_AGAIN)
      return 0;
    if (rc != CURLE_OK) {
      up_fail(s, 502, "upstream_error", OUTCOME_FAIL, "Sending the realtime upgrade upstream failed: %s.",
                curl_easy_strerror(rc));
      return -1;
    }
    memmove(s->uout.data, s->uout.data + n, s->uout.len - n);
    s->uout.len -= n;
  }
  return 0;
}
void rt_up_event(struct rt_session *s)
{
  if (s->uout.len) {
    if (handshake_write(s) == 0 && !s->uout.len)
      rt_set_interest(s, s->ufd, &s->uev, EPOLLIN);
    return;
  }
  handshake_read(s);
}

/* The upstream connection is open (or failed): the upgrade request goes out. */
void rt_up_connected(struct rt_session *s, CURLcode res)
{
  if (res != CURLE_OK) {
    up_fail(s, 502, "upstream_error", OUTCOME_FAIL, "The upstream could not be reached: %s.",
              curl_easy_strerror(res));
    return;
  }
  curl_easy_setopt(s->easy, CURLOPT_PRIVATE, NULL);   /* nothing more to report */
  curl_socket_t sock = CURL_SOCKET_BAD;
  CURLUcode uc;
  char *url = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
  curl_easy_getinfo(s->easy, CURLINFO_ACTIVESOCKET, &sock);
  curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &url);
  CURLU *u = curl_url();                         /* owned: curl_url_cleanup below */
  uc = u ? curl_url_set(u, CURLUPART_URL, url ? url : "", 0) : CURLUE_OUT_OF_MEMORY;
  if (uc == CURLUE_OK)
    uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
  if (uc == CURLUE_OK)
    uc = curl_url_get(u, CURLUPART_PATH, &path, 0);
  if (uc == CURLUE_OK)
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
  if (uc == CURLUE_OK)
    curl_url_get(u, CURLUPART_PORT, &port, 0);   /* only when the URL names one */
  if (sock == CURL_SOCKET_BAD || uc != CURLUE_OK) {
    curl_free(host), curl_free(path), curl_free(query), curl_free(port);
    curl_url_cleanup(u);
    up_fail(s, 502, "upstream_error", OUTCOME_FAIL, "The upstream connection is not usable.%s", "");
    return;
  }
  s->ufd = (int)sock;
  unsigned char rnd[16];
  char key[32];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    memset(rnd, 0x5a, sizeof rnd);
  b64(rnd, sizeof rnd, key);
  rt_ws_accept(key, s->accept);
  buf_appendf(&s->uout,
              "GET %s%s%s HTTP/1.1\r\nHost: %s%s%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: relay/" RELAY_VERSION "\r\n",
              path, query ? "?" : "", query ? query : "", host, port ? ":" : "", port ? port : "", key);
  if (s->beta[0])
    buf_appendf(&s->uout, "OpenAI-Beta: %s\r\n", s->beta);
  /* the channel's headers: its key, and any it was given; not its Content-Type */
  for (const struct curl_slist *h = s->channel->headers; h; h = h->next)
    if (strncasecmp(h->data, "Content-Type:", 13) != 0 && strncasecmp(h->data, "Accept", 6) != 0 &&
        !strpbrk(h->data, "\r\n"))
      buf_appendf(&s->uout, "%s\r\n", h->data);
  buf_append_str(&s->uout, "\r\n");
  curl_free(host), curl_free(path), curl_free(query), curl_free(port);
  curl_url_cleanup(u);
  s->state = RT_HANDSHAKE;
  if (handshake_write(s) < 0)
    return;                               /* failed: s is freed */
  rt_set_interest(s, s->ufd, &s->uev, s->uout.len ? EPOLLOUT : EPOLLIN);
  if (!s->uev)
    up_fail(s, 500, "relay_error", OUTCOME_ABANDON, "The relay could not watch the upstream connection.%s", "");
}
int rt_up_start(struct rt_session *s, const char *url, long connect_timeout_ms, void *private)
{
  CURL *e = curl_easy_init();           /* owned by s: rt_free */
  if (!e)
    return -1;
  s->easy = e;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, private);
  if (curl_multi_add_handle(worker_multi(s->w), e) != CURLM_OK)
    return -1;
  s->in_multi = true;
  s->state = RT_CONNECTING;
  return 0;
}
