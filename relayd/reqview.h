/*
 * reqview: the request as a channel sees it when it is not the client's own shape -- the
 * common-form (OpenAI) view of a client's request of another format (openai_view: made once, kept
 * in r->root for every later attempt), and the channel's headers with the client's own fields its
 * format passes through (pass_headers). One of relay's stages (request.h), a leaf among them: it
 * calls no other stage, so the stages that need these (admit.c, attempt.c, imginline.c,
 * selfserve.c) depend on it and not on each other. Moved out of attempt.c so that imginline.c and
 * selfserve.c, which attempt.c calls, need nothing back from it.
 * Never: touches the client's own bytes (r->croot stays as parsed), or blocks.
 */
#ifndef RELAY_REQVIEW_H
#define RELAY_REQVIEW_H

#include <stddef.h>

struct request;
struct curl_slist;
struct MHD_Connection;

/* A client's request of another format than the common one (r->croot) as the common-form request
 * relay converts from (made once, the first time a channel of another format is tried): r->root
 * and r->oai_text. The routing and billing fields (r->rq) stay those read from the client's own
 * body. 0, or -1 with err. */
int openai_view(struct request *r, char *err, size_t errlen);
/* The channel's headers plus the client's own fields names lists (a format's pass_headers: what a
 * client sends a channel of its own format, Anthropic's anthropic-beta), each replacing the
 * channel's. A new list (caller frees with curl_slist_free_all), or NULL when the client sent none
 * of them (or one is unusable): then the channel's own. */
struct curl_slist *pass_headers(const struct curl_slist *chan, struct MHD_Connection *c, const char *const *names);

#endif
