/* reqview: see reqview.h. */
#include "reqview.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openai.h"
#include "request.h"

/* A client's request of another format than the common one as the common-form request relay
 * converts from (made once, the first time a channel of another format is tried): r->root and
 * r->oai_text. The routing and billing fields (r->rq) stay those read from the client's own body. */
int openai_view(struct request *r, char *err, size_t errlen)
{
  if (r->root)
    return 0;
  char *text = r->client->ops->request_to_openai(r->croot, r->rq.model, r->rq.stream, err, errlen);
  if (!text)
    return -1;
  struct oai_request rq;
  const char *param;
  r->root = oai_parse_request(r->def->api, text, strlen(text), &rq, err, errlen, &param);
  if (!r->root) {
    free(text);
    return -1;
  }
  r->rq.client_wants_usage = rq.client_wants_usage;
  r->oai_text = text;
  r->oai_len = strlen(text);
  return 0;
}

/* The channel's headers plus the client's own fields its format passes to a channel of the same
 * format (Anthropic's anthropic-beta: the features it opts into go with its request), each
 * replacing the channel's. Returns a new list (caller frees with curl_slist_free_all), or NULL when
 * the client sent none of them (or one is unusable). */
struct curl_slist *pass_headers(const struct curl_slist *chan, struct MHD_Connection *c,
                                const char *const *names)
{
  char lines[4][600];
  size_t n = 0;
  for (size_t i = 0; names && names[i] && n < 4; i++) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, names[i]);
    if (!v || !*v)
      continue;
    if (snprintf(lines[n], sizeof lines[n], "%s: %s", names[i], v) >= (int)sizeof lines[n])
      return NULL;
    n++;
  }
  if (!n)
    return NULL;
  struct curl_slist *out = NULL, *l;
  for (const struct curl_slist *h = chan; h; h = h->next) {
    bool replaced = false;
    for (size_t i = 0; i < n && !replaced; i++) {
      size_t nl = (size_t)(strchr(lines[i], ':') - lines[i]);
      replaced = strncasecmp(h->data, lines[i], nl + 1) == 0;
    }
    if (replaced)
      continue;
    if (!(l = curl_slist_append(out, h->data)))
      goto oom;
    out = l;
  }
  for (size_t i = 0; i < n; i++) {
    if (!(l = curl_slist_append(out, lines[i])))
      goto oom;
    out = l;
  }
  return out;
oom:
  curl_slist_free_all(out);
  return NULL;
}
