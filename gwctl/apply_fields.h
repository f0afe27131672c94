/*
 * apply_fields: reading one field of a file entry into its canonical value (a name, an integer, a
 * quota, a number, a boolean, one of some words, a list of names, an object, a secret reference), each
 * error reported with the entry's label and the field and counted (every error of a file is reported;
 * nothing is changed when there is one). The ranges and words come from common/rules.h.
 * Callers: apply_check.c (an entry's fields through cerr, the document's own errors through aerr).
 * Never: prints a secret read through a reference, or stops at the first error.
 */
#ifndef RELAY_GWCTL_APPLY_FIELDS_H
#define RELAY_GWCTL_APPLY_FIELDS_H

#include "apply_model.h"

/* The label of an entry for messages: "channels[3] \"openai-main\"". Errors go through check_ctx. */
struct check_ctx {
  struct apply *a;
  int kind, idx;
  char label[160];
};

/* Reports one error about the document itself (not about one entry). i18n.h: aerr and cerr are
 * xgettext keywords. */
__attribute__((format(printf, 3, 4)))
void aerr(struct apply *a, const char *field, const char *fmt, ...);
/* Reports one error about the entry of c, on field (NULL: the entry). */
__attribute__((format(printf, 3, 4)))
void cerr(struct check_ctx *c, const char *field, const char *fmt, ...);
void ap_ctx_init(struct check_ctx *c, struct apply *a, int kind, int idx, const cJSON *in);
/* Refuses fields not in known (NULL-terminated). */
void ap_check_fields(struct check_ctx *c, const cJSON *in, const char *const *known);
/* A name field: required when def is NULL. Returns the value or NULL after an error. */
const char *ap_get_name(struct check_ctx *c, const cJSON *in, const char *field, size_t max,
                            const char *def, int allow_empty);
int ap_get_int(struct check_ctx *c, const cJSON *in, const char *field, int64_t min,
                   int64_t max, int64_t def, int64_t *out);
/* A quota: a whole number of quota units, or a string of money as people say it (common/quota.h:
 * "500000", "10usd", "$10", "10 USD"). */
int ap_get_quota(struct check_ctx *c, const cJSON *in, const char *field, int64_t min,
                     int64_t *out);
int ap_get_double(struct check_ctx *c, const cJSON *in, const char *field, double max,
                      double def, double *out);
int ap_get_bool(struct check_ctx *c, const cJSON *in, const char *field, int def, int *out);
/* One of words (NULL-terminated). */
const char *ap_get_enum(struct check_ctx *c, const cJSON *in, const char *field,
                            const char *const *words, const char *def);
/* A list of names: a JSON array of strings (or one comma-separated string). Returns a new canonical
 * array, or NULL after an error. */
cJSON *ap_get_list(struct check_ctx *c, const cJSON *in, const char *field, size_t max,
                       const char *def, int need_one);
/* A JSON object field (model_mapping, other); string values only when strings. Returns a copy. */
cJSON *ap_get_object(struct check_ctx *c, const cJSON *in, const char *field, int strings);
/* Reads a secret reference {"file": PATH} or {"env": NAME} into a new string; NULL after an error. */
char *ap_resolve_secret(struct check_ctx *c, const cJSON *ref, const char *field);

#endif
