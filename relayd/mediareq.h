/*
 * mediareq: the client's request on a media endpoint (media.h has the kinds) -- validated as JSON
 * with cJSON, or as multipart/form-data with libmicrohttpd's post processor (the files are counted,
 * never kept), and the body for the upstream when the model is renamed (a JSON body printed again,
 * a multipart body with the one form field replaced, every other byte unchanged).
 * Callers: admit.c (parse), attempt.c (the upstream body), tests and fuzz_media (the pure parts).
 * Never: touches balances, sockets or the database; keeps pointers into the buffers it is given.
 */
#ifndef RELAY_MEDIAREQ_H
#define RELAY_MEDIAREQ_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "media.h"

/* Parses and validates a client request of kind k. JSON kinds: *root gets the parsed body (caller
 * frees). Multipart kinds: the body is read with MHD's post processor on connection c (its
 * Content-Type header gives the boundary); *root stays NULL. Returns 0, or the HTTP status to
 * refuse with (400 bad request, 415 wrong content type) and a message in err, the field in *param. */
int media_parse_request(struct MHD_Connection *c, enum media_kind k, const char *content_type,
                        const char *body, size_t len, cJSON **root, struct oai_request *rq,
                        struct media_req *mq, char *err, size_t errlen, const char **param);

/* The boundary parameter of a multipart Content-Type, unquoted. Returns 0, or -1. */
int media_form_boundary(const char *content_type, char *out, size_t outlen);

/* The multipart body with the value of the form field `field` replaced by `value` (every other
 * byte unchanged). Returns a malloc'd body (caller frees) and its length, or NULL when the field is
 * not there exactly once with the value `expect`. */
char *media_form_replace_field(const char *body, size_t len, const char *boundary, const char *field,
                               const char *expect, const char *value, size_t *outlen);

/* The body for the upstream when it must differ from the client's (model renamed, or a
 * moderations request without a model given the default): malloc'd, caller frees; NULL when the
 * client's bytes go as they are, or on failure (*failed set). root is left as it came. */
char *media_upstream_body(const struct media_req *mq, cJSON *root, const char *body, size_t len,
                          const char *client_model, const char *upstream_model, size_t *outlen,
                          bool *failed);

#endif
