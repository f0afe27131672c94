/* apply_plan: see apply_plan.h. */
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
#include "apply_plan.h"

static struct change *add_change(struct apply *a, enum op op, enum kind k, struct item *want,
                                 struct item *have)
{
  if (a->nch == a->capch) {
    a->capch = a->capch ? a->capch * 2 : 32;
    a->ch = realloc(a->ch, a->capch * sizeof *a->ch);
    if (!a->ch)
      abort();
  }
  struct change *c = &a->ch[a->nch++];
  *c = (struct change){ .op = op, .kind = k, .want = want, .have = have };
  return c;
}

int ap_plan(struct apply *a)
{
  struct gwctl *g = a->g;
  for (int k = 0; k < K_N; k++) {
    if (!a->in_file[k])
      continue;
    for (size_t i = 0; i < a->want[k].n; i++) {
      struct item *w = &a->want[k].v[i];
      struct item *h = ap_set_get(&a->have[k], w->key);
      if (!h) {
        add_change(a, OP_CREATE, (enum kind)k, w, NULL);
        continue;
      }
      cJSON *fields = cJSON_CreateArray();
      int set_quota = 0;
      const cJSON *f;
      cJSON_ArrayForEach(f, w->obj) {
        if (strcmp(f->string, "quota") == 0 && !a->set_balances)
          continue;
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(h->obj, f->string);
        if (old && cJSON_Compare(old, f, 1))
          continue;
        if (strcmp(f->string, "quota") == 0)
          set_quota = 1;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", f->string);
        cJSON_AddItemToObject(d, "old", old ? cJSON_Duplicate(old, 1) : cJSON_CreateNull());
        cJSON_AddItemToObject(d, "new", cJSON_Duplicate(f, 1));
        cJSON_AddItemToArray(fields, d);
      }
      int key_changed = 0;
      if (w->secret && k == K_CHANNEL) {
        int eq = gw_channel_key_equals(g, h->id, w->secret);
        if (eq < 0) {
          cJSON_Delete(fields);
          return GW_FAIL;
        }
        key_changed = !eq;
      } else if (w->secret && k == K_TOKEN) {
        char hash[KEY_HASH_HEX_LEN + 1];
        const char *body = key_body(w->secret);
        key_hash(body, strlen(body), hash);
        key_changed = strcmp(hash, ap_str_of(h->obj, "\x01key_hash")) != 0;
      }
      if (key_changed) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", "key");
        cJSON_AddStringToObject(d, "old", "(secret)");
        cJSON_AddStringToObject(d, "new", "(changed)");
        cJSON_AddItemToArray(fields, d);
      }
      /* a pool key of the same index: its key compared with the stored one (a new index shows in
       * "keys" already) */
      int pool_changed = 0;
      const cJSON *pk, *hk = cJSON_GetObjectItemCaseSensitive(h->obj, "keys");
      size_t j = 0;
      const cJSON *wkeys = k == K_CHANNEL ? cJSON_GetObjectItemCaseSensitive(w->obj, "keys") : NULL;
      cJSON_ArrayForEach(pk, wkeys) {
        const char *secret = j < w->npool ? w->pool[j] : NULL;
        j++;
        int found = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, hk)
          found |= ap_int_of(x, "index") == ap_int_of(pk, "index");
        if (!secret || !found)
          continue;
        int eq = gw_pool_key_equals(g, h->id, ap_int_of(pk, "index"), secret);
        if (eq < 0) {
          cJSON_Delete(fields);
          return GW_FAIL;
        }
        if (eq)
          continue;
        char field[48];
        snprintf(field, sizeof field, "keys[%" PRId64 "].key", ap_int_of(pk, "index"));
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "field", field);
        cJSON_AddStringToObject(d, "old", "(secret)");
        cJSON_AddStringToObject(d, "new", "(changed)");
        cJSON_AddItemToArray(fields, d);
        pool_changed = 1;
      }
      const cJSON *d;
      cJSON_ArrayForEach(d, fields)
        pool_changed |= strcmp(ap_str_of(d, "field"), "keys") == 0;
      if (!fields->child) {
        cJSON_Delete(fields);
        continue;
      }
      struct change *c = add_change(a, OP_UPDATE, (enum kind)k, w, h);
      c->fields = fields;
      c->key_changed = key_changed;
      c->set_quota = set_quota;
      c->pool_changed = pool_changed;
    }
  }
  if (!a->prune)
    return 0;
  for (int k = K_N - 1; k >= 0; k--) {
    if (!a->in_file[k])
      continue;
    for (size_t i = 0; i < a->have[k].n; i++)
      if (!ap_set_get(&a->want[k], a->have[k].v[i].key))
        add_change(a, OP_DELETE, (enum kind)k, NULL, &a->have[k].v[i]);
  }
  return 0;
}

/* The plan entry as JSON. */
cJSON *ap_change_json(const struct change *c)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "op", ap_op_names[c->op]);
  cJSON_AddStringToObject(o, "kind", ap_kinds[c->kind].noun);
  cJSON_AddStringToObject(o, "name", c->want ? c->want->key : c->have->key);
  if (c->op == OP_CREATE) {
    cJSON *f = cJSON_Duplicate(c->want->obj, 1);
    if (c->want->secret)
      cJSON_AddStringToObject(f, "key", "(from reference)");
    cJSON_AddItemToObject(o, "fields", f);
  } else if (c->op == OP_UPDATE) {
    cJSON_AddItemToObject(o, "changes", cJSON_Duplicate(c->fields, 1));
  }
  return o;
}

/* The plan entry as one line of text ("update channel x: weight: 0 -> 5, ..."). */
void ap_change_text(const struct change *c, char *out, size_t len)
{
  size_t used = (size_t)snprintf(out, len, "%s %s %s", ap_op_names[c->op], ap_kinds[c->kind].noun,
                                 c->want ? c->want->key : c->have->key);
  char val[600], val2[600];
  const cJSON *f;
  int first = 1;
  if (c->op == OP_CREATE) {
    cJSON_ArrayForEach(f, c->want->obj) {
      if (strcmp(f->string, ap_kinds[c->kind].id_field) == 0
          || (c->kind == K_TOKEN && strcmp(f->string, "user") == 0))
        continue;
      ap_value_text(f, val, sizeof val);
      if (used < len)
        used += (size_t)snprintf(out + used, len - used, "%s%s=%s", first ? ": " : " ", f->string,
                                 val);
      first = 0;
    }
    if (c->want->secret && used < len)
      used += (size_t)snprintf(out + used, len - used, " key=(from reference)");
  } else if (c->op == OP_UPDATE) {
    cJSON_ArrayForEach(f, c->fields) {
      ap_value_text(cJSON_GetObjectItemCaseSensitive(f, "old"), val, sizeof val);
      ap_value_text(cJSON_GetObjectItemCaseSensitive(f, "new"), val2, sizeof val2);
      if (used < len)
        used += (size_t)snprintf(out + used, len - used, "%s%s: %s -> %s", first ? ": " : ", ",
                                 ap_str_of(f, "field"), val, val2);
      first = 0;
    }
  }
}

