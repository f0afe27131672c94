/*
 * imgfetch: fetches an image by URL for a channel that needs the image inline (Gemini's inlineData,
 * when a client sends a URL the provider cannot fetch itself), as base64 with its mime type.
 *
 * Bounds: only http and https (redirects too, at most 3), at most max_bytes of body (refused, not
 * cut, past it), at most timeout_ms for the whole transfer, never through a proxy. The address is
 * checked where libcurl opens the socket (CURLOPT_OPENSOCKETFUNCTION: the address it is about to
 * connect to, after DNS and for every redirect), not the name: loopback, private (RFC 1918, unique
 * local fc00::/7), link-local (169.254/16, fe80::/10), carrier-grade NAT (100.64/10), unspecified,
 * multicast and reserved addresses are refused unless allow_private is set (tests, a trusted LAN).
 * The answer must be 200 with a Content-Type image/... (png, jpeg, gif, webp, heic, heif).
 *
 * Two ways to fetch: imgfetch_start sets up a transfer on the caller's easy handle, which the caller
 * drives on its own curl multi (a worker's loop: imginline.c) and ends with imgfetch_finish; or
 * imgfetch, which does the same blocking (tests, tools: a thread that may wait timeout_ms).
 * Callers: imginline.c (the images of a request for a channel that needs them inline), main.c (the
 * defaults), tests. Never: keeps state between fetches, or uses a connection another transfer
 * opened or leaves one for another (FRESH_CONNECT, FORBID_REUSE: every connection it uses has
 * passed its address check).
 */
#ifndef RELAY_IMGFETCH_H
#define RELAY_IMGFETCH_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct imgfetch_opts {
  size_t max_bytes;        /* largest image accepted */
  long timeout_ms;         /* the whole transfer, connect included */
  bool allow_private;      /* also loopback, private and link-local addresses */
};

struct imgfetch_result {
  char *b64;               /* base64 of the image, NUL-terminated (owned: imgfetch_result_free) */
  size_t b64_len;
  size_t bytes;            /* the image's size */
  char mime[64];           /* e.g. image/png */
};

/* The options relayd uses (its image_fetch_* keys): set once at start, before the workers run;
 * read-only after. Until set, max_bytes is 0: fetching is off, so converters called by unit tests
 * and fuzz targets never reach the network (they keep the URL). */
void imgfetch_set_defaults(const struct imgfetch_opts *o);
const struct imgfetch_opts *imgfetch_defaults(void);

/* A fetch of url set up on c (a reset easy handle the caller owns, adds to its multi and gives
 * back after imgfetch_finish; it sets CURLOPT_PRIVATE itself if it needs it). The job (owned by
 * the caller: imgfetch_job_free, after the transfer is off its multi) holds the body as it comes.
 * NULL: out of memory. */
struct imgfetch_job;
struct imgfetch_job *imgfetch_start(CURL *c, const char *url, const struct imgfetch_opts *o);
/* The transfer of j ended with rc: 0 and out filled, or -1 with a sentence in err. */
int imgfetch_finish(struct imgfetch_job *j, CURLcode rc, struct imgfetch_result *out, char *err, size_t errlen);
void imgfetch_job_free(struct imgfetch_job *j);

/* Fetches url, blocking. Returns 0 and fills out, or -1 with a sentence in err (the address
 * refused, too large, too slow, not an image, the status, ...). */
int imgfetch(const char *url, const struct imgfetch_opts *o, struct imgfetch_result *out, char *err, size_t errlen);
void imgfetch_result_free(struct imgfetch_result *r);

/* Whether addr (struct sockaddr_in or sockaddr_in6) is one imgfetch refuses without allow_private. */
struct sockaddr;
bool imgfetch_address_private(const struct sockaddr *addr);

#endif
