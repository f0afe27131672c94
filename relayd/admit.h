/*
 * admit: whether a request with a whole body may go upstream, and what it may cost -- its body
 * parsed in the client's format (or media.c's), refused with a key given twice (reqbound.h), the
 * key's model and group allowed, a first channel found (route.c), a price set, the rate limits
 * admitting it, and the worst case it can cost reserved on the balances (noted to the writer);
 * then the connection is suspended and the first attempt started (attempt.c). When every channel is
 * at its limit (chanlimit.h): 429, or a wait in limitwait.h's bounded queue when the operator set
 * one, after which admit_retry routes the request again.
 * Callers: front.c (the body is in; resumed from a wait). Never: reserves without a first channel and a price, or
 * leaves a reservation that settle.c will not close (billing_open is set only with it).
 */
#ifndef RELAY_ADMIT_H
#define RELAY_ADMIT_H

#include <microhttpd.h>

struct request;

/* From the access handler, r's body read: refused (queued error) or sent upstream (MHD_YES). */
enum MHD_Result dispatch(struct request *r);
/* From the access handler, r resumed after waiting for channel room (PH_LIMIT_RETRY): routes it
 * again; answers 429 when its wait is over and every channel is still at its limit. */
enum MHD_Result admit_retry(struct request *r);

#endif
