/*
 * apply_model: what gwctl export and apply work on: the kinds of a provisioning document (version 1,
 * doc/provisioning.md) with their section, noun and naming field; an item (one entry, from the file or
 * the database, as canonical JSON with its resolved secrets), a set of items by name, a change of the
 * plan and the state of one run (struct apply); and the small JSON helpers every apply module uses.
 * Callers: cmd_apply.c, apply_read.c, apply_fields.c, apply_check.c, apply_refs.c, apply_plan.c,
 * apply_exec.c. Never: reads or writes the database, prints, or holds a secret it did not free
 * (ap_set_free wipes them).
 */
#ifndef RELAY_GWCTL_APPLY_MODEL_H
#define RELAY_GWCTL_APPLY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rules.h"
#include "util.h"

struct gwctl;

#define DOC_VERSION 1
#define DOC_MAX (64 * 1024 * 1024)
#define SECRET_MAX 8192
#define MODEL_NAME_MAX RULE_MODEL_MAX
#define URL_MAX 2048
#define RATIO_MAX RULE_RATIO_MAX
#define PRICE_MAX RULE_PRICE_MAX

enum kind { K_GROUP, K_PRICE, K_OPTION, K_USER, K_CHANNEL, K_TOKEN, K_FALLBACK, K_N };

struct ap_kind {
  const char *section;          /* top-level key of the document */
  const char *noun;             /* in plans and log rows */
  const char *id_field;         /* the field that names an entry */
};
extern const struct ap_kind ap_kinds[K_N];

/* One object of a kind: its identity, database id (0 in the file), canonical JSON. */
struct item {
  char *key;                    /* name; tokens: "user/name" (owned) */
  int64_t id;
  cJSON *obj;                   /* owned */
  int index;                    /* position in the file, -1 for the database */
  char *secret;                 /* resolved "key" reference (owned, cleansed on free), or NULL */
  char *key_file;               /* tokens: where a new key goes (owned), or NULL */
  char **pool;                  /* channels: the resolved reference of each "keys" entry, in the order
                                   of obj's "keys" (owned, each cleansed on free; NULL: none given) */
  size_t npool;
};

struct set {
  struct item *v;
  size_t n, cap;
  struct strmap by_key;         /* key -> struct item * (index into v stays valid: built at the end) */
};

enum op { OP_CREATE, OP_UPDATE, OP_DELETE };
extern const char *const ap_op_names[];   /* by enum op */

struct change {
  enum op op;
  enum kind kind;
  struct item *want;            /* create/update: the file's item */
  struct item *have;            /* update/delete: the database's item */
  cJSON *fields;                /* update: [{"field","old","new"}] (owned) */
  int key_changed;              /* update of a channel/token key */
  int set_quota;                /* update: quota is among the fields */
  int pool_changed;             /* update of a channel's key pool ("keys" or one of its keys) */
};

struct apply {
  struct gwctl *g;
  struct set want[K_N], have[K_N];
  int in_file[K_N];
  int prune, set_balances, dry_run;
  int errors;
  struct change *ch;
  size_t nch, capch;
  cJSON *new_keys;              /* [{"user","name","key"}] of new tokens without key_file */
  char **tmp_files, **key_files;  /* written before commit, renamed after (parallel arrays) */
  size_t nfiles;
  char who[64];
};

void ap_set_add(struct set *s, const char *key, int64_t id, cJSON *obj, int index);
void ap_set_index(struct set *s);
struct item *ap_set_get(const struct set *s, const char *key);
void ap_pool_free(char **pool, size_t n);
void ap_set_free(struct set *s);
const char *ap_str_of(const cJSON *o, const char *field);
double ap_num_of(const cJSON *o, const char *field);
int64_t ap_int_of(const cJSON *o, const char *field);
/* A JSON array of strings joined by commas into out. */
void ap_join_array(const cJSON *a, char *out, size_t len);
/* An object stored as text: "" for an empty object, else compact JSON. Caller frees. */
char *ap_obj_text(const cJSON *o);
/* A text column holding a JSON object ("" = {}); something else is kept as a string. */
cJSON *ap_obj_from_text(const char *s);
/* A value for messages: strings bare, the rest as compact JSON. */
void ap_value_text(const cJSON *v, char *out, size_t len);

#endif
