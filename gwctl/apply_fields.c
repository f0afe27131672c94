/* apply_fields: see apply_fields.h. */
#include "gwctl.h"
#include "i18n.h"
#include "channels.h"
#include "keys.h"
#include "output.h"
#include "gcpauth.h"
#include "provider.h"
#include "quota.h"
#include "rules.h"
#include "store.h"
#include "when.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "apply_fields.h"

/* Reports one error about the document itself (not about one entry). */
void aerr(struct apply *a, const char *field, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, _(fmt), ap);   /* i18n.h: aerr is an xgettext keyword */
  va_end(ap);
  a->errors++;
  if (field)
    fprintf(stderr, _("gwctl: field \"%s\": %s\n"), field, msg);
  else
    fprintf(stderr, "gwctl: %s\n", msg);
}

void cerr(struct check_ctx *c, const char *field, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, _(fmt), ap);   /* i18n.h: cerr is an xgettext keyword */
  va_end(ap);
  c->a->errors++;
  if (field)
    fprintf(stderr, _("gwctl: %s: field \"%s\": %s\n"), c->label, field, msg);
  else
    fprintf(stderr, "gwctl: %s: %s\n", c->label, msg);
}

void ap_ctx_init(struct check_ctx *c, struct apply *a, int kind, int idx, const cJSON *in)
{
  c->a = a;
  c->kind = kind;
  c->idx = idx;
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in,
                                                                           ap_kinds[kind].id_field));
  const char *user = kind == K_TOKEN ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in,
                                                                                    "user")) : NULL;
  if (name && user)
    snprintf(c->label, sizeof c->label, "%s[%d] \"%.64s/%.64s\"", ap_kinds[kind].section, idx, user,
             name);
  else if (name)
    snprintf(c->label, sizeof c->label, "%s[%d] \"%.64s\"", ap_kinds[kind].section, idx, name);
  else
    snprintf(c->label, sizeof c->label, "%s[%d]", ap_kinds[kind].section, idx);
}

/* Refuses fields not in known (NULL-terminated). */
void ap_check_fields(struct check_ctx *c, const cJSON *in, const char *const *known)
{
  const cJSON *it;
  cJSON_ArrayForEach(it, in) {
    const char *const *k = known;
    while (*k && strcmp(*k, it->string) != 0)
      k++;
    if (!*k) {
      char list[512] = "";
      for (k = known; *k; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", *k);
      cerr(c, it->string, "unknown field (known: %s)", list);
    }
  }
}

/* A name field: required when def is NULL. Returns the value or NULL after an error. */
const char *ap_get_name(struct check_ctx *c, const cJSON *in, const char *field, size_t max,
                            const char *def, int allow_empty)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!v) {
    if (!def)
      cerr(c, field, "is required");
    return def;
  }
  if (!cJSON_IsString(v)) {
    cerr(c, field, "must be a string, not %s", gw_json_type(v));
    return NULL;
  }
  if (allow_empty && !*v->valuestring)
    return v->valuestring;
  const char *why = gw_name_problem(v->valuestring, max);
  if (why) {
    cerr(c, field, "'%.40s' %s", v->valuestring, why);
    return NULL;
  }
  if (max == GW_NAME_MAX && gw_is_id(v->valuestring)) {
    cerr(c, field, "'%s' is all digits, which reads as an id", v->valuestring);
    return NULL;
  }
  return v->valuestring;
}

int ap_get_int(struct check_ctx *c, const cJSON *in, const char *field, int64_t min,
                   int64_t max, int64_t def, int64_t *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  *out = def;
  if (!v)
    return 0;
  double d = cJSON_GetNumberValue(v);
  if (!cJSON_IsNumber(v) || d != floor(d) || d < (double)min) {
    cerr(c, field, "must be an integer >= %" PRId64, min);
    return -1;
  }
  if (d > (double)max) {
    cerr(c, field, "must be an integer <= %" PRId64, max);
    return -1;
  }
  *out = (int64_t)d;
  return 0;
}

/* A quota: a whole number of quota units, or a string of money as people say it (common/quota.h:
 * "500000", "10usd", "$10", "10 USD"). */
int ap_get_quota(struct check_ctx *c, const cJSON *in, const char *field, int64_t min,
                     int64_t *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!cJSON_IsString(v))
    return ap_get_int(c, in, field, min, GW_QUOTA_MAX, 0, out);
  char why[200];
  if (quota_parse(v->valuestring, min, GW_QUOTA_MAX, out, why, sizeof why) != 0) {
    cerr(c, field, "'%.40s' %s", v->valuestring, why);
    return -1;
  }
  return 0;
}

int ap_get_double(struct check_ctx *c, const cJSON *in, const char *field, double max,
                      double def, double *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  *out = def;
  if (!v)
    return 0;
  double d = cJSON_GetNumberValue(v);
  if (!cJSON_IsNumber(v) || !isfinite(d) || d < 0 || d > max) {
    cerr(c, field, "must be a number from 0 to %g", max);
    return -1;
  }
  *out = d;
  return 0;
}

int ap_get_bool(struct check_ctx *c, const cJSON *in, const char *field, int def, int *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  *out = def;
  if (!v)
    return 0;
  if (!cJSON_IsBool(v)) {
    cerr(c, field, "must be true or false, not %s", gw_json_type(v));
    return -1;
  }
  *out = cJSON_IsTrue(v);
  return 0;
}

/* One of words (NULL-terminated). */
const char *ap_get_enum(struct check_ctx *c, const cJSON *in, const char *field,
                            const char *const *words, const char *def)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!v)
    return def;
  for (const char *const *w = words; cJSON_IsString(v) && *w; w++)
    if (**w && strcmp(*w, v->valuestring) == 0)
      return *w;
  char list[256] = "";
  for (const char *const *w = words; *w; w++)
    if (**w)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", *w);
  if (cJSON_IsString(v))
    cerr(c, field, "must be one of %s, not '%.40s'", list, v->valuestring);
  else
    cerr(c, field, "must be one of %s, not %s", list, gw_json_type(v));
  return NULL;
}

/* A list of names: a JSON array of strings (or one comma-separated string). Returns a new canonical
 * array, or NULL after an error. */
cJSON *ap_get_list(struct check_ctx *c, const cJSON *in, const char *field, size_t max,
                       const char *def, int need_one)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  cJSON *out = cJSON_CreateArray();
  char item[512];
  if (!v) {
    if (!def) {
      cerr(c, field, "is required");
      cJSON_Delete(out);
      return NULL;
    }
    cJSON_Delete(out);
    return gw_csv_array(def);
  }
  int bad = 0;
  if (cJSON_IsString(v)) {
    cJSON *split = gw_csv_array(v->valuestring);
    const cJSON *it;
    cJSON_ArrayForEach(it, split) {
      const char *s = it->valuestring, *e = s + strlen(s);
      while (*s == ' ' || *s == '\t')
        s++;
      while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
      if (e > s) {
        snprintf(item, sizeof item, "%.*s", (int)(e - s), s);
        cJSON_AddItemToArray(out, cJSON_CreateString(item));
      }
    }
    cJSON_Delete(split);
  } else if (cJSON_IsArray(v)) {
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, v) {
      if (!cJSON_IsString(it)) {
        cerr(c, field, "item %d must be a string, not %s", i, gw_json_type(it));
        bad = 1;
      } else {
        cJSON_AddItemToArray(out, cJSON_CreateString(it->valuestring));
      }
      i++;
    }
  } else {
    cerr(c, field, "must be an array of strings, not %s", gw_json_type(v));
    cJSON_Delete(out);
    return NULL;
  }
  const cJSON *it, *prev;
  size_t total = 0;
  cJSON_ArrayForEach(it, out) {
    const char *why = gw_name_problem(it->valuestring, max);
    if (why && !bad) {
      cerr(c, field, "'%.40s' %s", it->valuestring, why);
      bad = 1;
    }
    total += strlen(it->valuestring) + 1;
    for (prev = out->child; !bad && prev != it; prev = prev->next)
      if (strcmp(prev->valuestring, it->valuestring) == 0) {
        cerr(c, field, "names '%s' twice", it->valuestring);
        bad = 1;
      }
  }
  if (!bad && total > GW_LIST_MAX) {
    cerr(c, field, "is longer than %d bytes once joined", GW_LIST_MAX);
    bad = 1;
  }
  if (!bad && need_one && !out->child) {
    cerr(c, field, "needs at least one item");
    bad = 1;
  }
  if (bad) {
    cJSON_Delete(out);
    return NULL;
  }
  return out;
}

/* A JSON object field (model_mapping, other); string values only when strings. Returns a copy. */
cJSON *ap_get_object(struct check_ctx *c, const cJSON *in, const char *field, int strings)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
  if (!v)
    return cJSON_CreateObject();
  if (cJSON_IsString(v) && !*v->valuestring)
    return cJSON_CreateObject();
  if (!cJSON_IsObject(v)) {
    cerr(c, field, "must be a JSON object, not %s", gw_json_type(v));
    return NULL;
  }
  const cJSON *it = NULL;
  switch (strings ? rule_model_map(v, &it) : RULE_MAP_OK) {
  case RULE_MAP_OK:
  case RULE_MAP_NOT_OBJECT:
    break;
  case RULE_MAP_TWICE:
    cerr(c, field, "names '%s' twice", it->string);
    return NULL;
  default:
    cerr(c, field, "'%.40s' must map a model name to a non-empty string (the upstream model)",
         it->string);
    return NULL;
  }
  return cJSON_Duplicate(v, 1);
}

/* Reads a secret reference {"file": PATH} or {"env": NAME} into a new string; NULL after an error. */
char *ap_resolve_secret(struct check_ctx *c, const cJSON *ref, const char *field)
{
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(ref, "file");
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(ref, "env");
  if (!cJSON_IsObject(ref) || cJSON_GetArraySize(ref) != 1
      || !(cJSON_IsString(file) || cJSON_IsString(env))) {
    cerr(c, field, "must be a reference {\"file\": \"/path\"} or {\"env\": \"NAME\"}%s",
         cJSON_IsString(ref) ? " (a secret is never written into the file itself)" : "");
    return NULL;
  }
  char *out = calloc(1, SECRET_MAX + 2);
  if (!out)
    return NULL;
  if (file) {
    FILE *f = fopen(file->valuestring, "r");
    if (!f) {
      cerr(c, field, "cannot read %s: %s", file->valuestring, strerror(errno));
      free(out);
      return NULL;
    }
    size_t n = fread(out, 1, SECRET_MAX + 1, f);
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr || n > SECRET_MAX) {
      cerr(c, field, ioerr ? "cannot read %s" : "%s is longer than 8192 bytes", file->valuestring);
      OPENSSL_cleanse(out, SECRET_MAX + 2);
      free(out);
      return NULL;
    }
    out[n] = '\0';
  } else {
    const char *e = getenv(env->valuestring);
    if (!e) {
      cerr(c, field, "environment variable %s is not set", env->valuestring);
      free(out);
      return NULL;
    }
    if (strlen(e) > SECRET_MAX) {
      cerr(c, field, "environment variable %s is longer than 8192 bytes", env->valuestring);
      free(out);
      return NULL;
    }
    snprintf(out, SECRET_MAX + 1, "%s", e);
  }
  /* a JSON object (a vertex channel's service-account key) may span lines: stored compact */
  if (out[strspn(out, " \t\r\n")] == '{') {
    cJSON *j = cJSON_Parse(out);
    char *compact = cJSON_IsObject(j) ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (compact && strlen(compact) <= SECRET_MAX)
      snprintf(out, SECRET_MAX + 1, "%s", compact);
    if (compact)
      OPENSSL_cleanse(compact, strlen(compact));
    cJSON_free(compact);
  }
  /* one line; blanks around it do not count */
  size_t n = strlen(out);
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '
                   || out[n - 1] == '\t'))
    out[--n] = '\0';
  size_t lead = strspn(out, " \t");
  memmove(out, out + lead, n - lead + 1);
  const char *where = file ? file->valuestring : env->valuestring;
  if (!*out) {
    cerr(c, field, "%s is empty", where);
    free(out);
    return NULL;
  }
  for (const unsigned char *p = (const unsigned char *)out; *p; p++)
    if (*p < 0x20 || *p == 0x7f) {
      cerr(c, field, "%s holds more than one line or a control character", where);
      OPENSSL_cleanse(out, SECRET_MAX + 2);
      free(out);
      return NULL;
    }
  return out;
}

