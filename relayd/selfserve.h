/*
 * selfserve: the endpoints relay answers itself, from the snapshot, without an upstream: the
 * models a key may use (GET /v1/models, /v1/models/ID, in OpenAI's list shape) and the key's or
 * its user's balance in OpenAI's legacy dashboard shape (GET /dashboard/billing/subscription and
 * /usage, also under /v1), as One API answers them.
 * Callers: front.c (an authenticated request on one of these routes). Never: reserves, bills or
 * writes a log row of its own; changes a balance.
 */
#ifndef RELAY_SELFSERVE_H
#define RELAY_SELFSERVE_H

#include <microhttpd.h>

struct request;

/* GET /v1/models (the list) or /v1/models/ID (url names the id): queued answer. */
enum MHD_Result serve_models(struct request *r, const char *url);
/* GET .../dashboard/billing/subscription or .../usage: queued answer. */
enum MHD_Result serve_billing(struct request *r);

#endif
