/* apply_refs: see apply_refs.h. */
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
#include "apply_refs.h"

/* The object kind k will have named key after apply, or NULL. */
static const cJSON *final_get(struct apply *a, int k, const char *key)
{
  struct item *w = a->in_file[k] ? ap_set_get(&a->want[k], key) : NULL;
  if (w)
    return w->obj;
  if (a->in_file[k] && a->prune)
    return NULL;
  struct item *h = ap_set_get(&a->have[k], key);
  return h ? h->obj : NULL;
}

static void label_of(struct apply *a, int k, const struct item *it, char *out, size_t len)
{
  (void)a;
  snprintf(out, len, "%s[%d] \"%s\"", ap_kinds[k].section, it->index, it->key);
}

void ap_check_references(struct apply *a)
{
  char label[200];
  /* users: their group must exist (the database's users only matter when groups can go) */
  int groups_go = a->in_file[K_GROUP] && a->prune, users_go = a->in_file[K_USER] && a->prune;
  for (int pass = 0; pass < 2; pass++) {
    struct set *s = pass == 0 ? &a->want[K_USER] : &a->have[K_USER];
    if (pass == 1 && (users_go || !groups_go))
      break;
    for (size_t i = 0; i < s->n; i++) {
      if (pass == 1 && a->in_file[K_USER] && ap_set_get(&a->want[K_USER], s->v[i].key))
        continue;
      const char *grp = ap_str_of(s->v[i].obj, "group");
      if (final_get(a, K_GROUP, grp))
        continue;
      a->errors++;
      if (pass == 0) {
        label_of(a, K_USER, &s->v[i], label, sizeof label);
        fprintf(stderr, a->in_file[K_GROUP] ? _("gwctl: %s: field \"group\": no group named '%s' in groups\n")
                                            : _("gwctl: %s: field \"group\": no group named '%s' (add it to groups)\n"),
                label, grp);
      } else {
        fprintf(stderr, _("gwctl: groups: group '%s' is still used by user '%s'\n"), grp, s->v[i].key);
      }
    }
  }
  /* tokens: user exists; group exists and is the user's or selectable */
  for (size_t i = 0; i < a->want[K_TOKEN].n; i++) {
    struct item *t = &a->want[K_TOKEN].v[i];
    label_of(a, K_TOKEN, t, label, sizeof label);
    const cJSON *u = final_get(a, K_USER, ap_str_of(t->obj, "user"));
    if (!u) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"user\": no user named '%s'\n"), label,
              ap_str_of(t->obj, "user"));
      continue;
    }
    const char *grp = ap_str_of(t->obj, "group");
    if (!*grp)
      continue;
    const cJSON *gr = final_get(a, K_GROUP, grp);
    if (!gr) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"group\": no group named '%s'\n"), label, grp);
    } else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(gr, "selectable"))
               && strcmp(ap_str_of(u, "group"), grp) != 0) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"group\": group '%s' is not the group of user '%s', and "
                        "users may not pick it (\"selectable\": true)\n"), label, grp, ap_str_of(u, "user"));
    }
  }
  /* tokens left in the database: their user must stay, their group too */
  if (!(a->in_file[K_TOKEN] && a->prune) && (users_go || groups_go)) {
    for (size_t i = 0; i < a->have[K_TOKEN].n; i++) {
      struct item *t = &a->have[K_TOKEN].v[i];
      if (a->in_file[K_TOKEN] && ap_set_get(&a->want[K_TOKEN], t->key))
        continue;
      if (users_go && !final_get(a, K_USER, ap_str_of(t->obj, "user"))) {
        a->errors++;
        fprintf(stderr, _("gwctl: users: user '%s' is not in the file but still has token '%s': "
                          "list the token in tokens (with --prune it is then deleted) or keep the user\n"),
                ap_str_of(t->obj, "user"), ap_str_of(t->obj, "name"));
      }
      const char *grp = ap_str_of(t->obj, "group");
      if (groups_go && *grp && !final_get(a, K_GROUP, grp)) {
        a->errors++;
        fprintf(stderr, _("gwctl: groups: group '%s' is still used by token '%s'\n"), grp, t->key);
      }
    }
  }
}

/* Channels: a new pool key needs its key; a channel with a pool takes its keys in "keys". Fallbacks:
 * their group and token exist. */
void ap_check_references2(struct apply *a)
{
  char label[200];
  for (size_t i = 0; i < a->want[K_CHANNEL].n; i++) {
    struct item *w = &a->want[K_CHANNEL].v[i];
    struct item *h = ap_set_get(&a->have[K_CHANNEL], w->key);
    const cJSON *hk = h ? cJSON_GetObjectItemCaseSensitive(h->obj, "keys") : NULL;
    const cJSON *wk = cJSON_GetObjectItemCaseSensitive(w->obj, "keys");
    label_of(a, K_CHANNEL, w, label, sizeof label);
    if (w->secret && hk) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"key\": the channel has a key pool: give its keys in \"keys\"\n"),
              label);
    }
    size_t j = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, wk) {
      int found = 0;
      const cJSON *x;
      cJSON_ArrayForEach(x, hk)
        found |= ap_int_of(x, "index") == ap_int_of(e, "index");
      if (!found && (j >= w->npool || !w->pool[j])) {
        a->errors++;
        fprintf(stderr, _("gwctl: %s: field \"keys\": key %" PRId64 " is new: it needs \"key\" (a reference)\n"),
                label, ap_int_of(e, "index"));
      }
      j++;
    }
  }
  for (size_t i = 0; i < a->want[K_FALLBACK].n; i++) {
    struct item *f = &a->want[K_FALLBACK].v[i];
    const char *grp = ap_str_of(f->obj, "group"), *tok = ap_str_of(f->obj, "token");
    label_of(a, K_FALLBACK, f, label, sizeof label);
    if (*grp && !final_get(a, K_GROUP, grp)) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"group\": no group named '%s'\n"), label, grp);
    }
    if (*tok && !final_get(a, K_TOKEN, tok)) {
      a->errors++;
      fprintf(stderr, _("gwctl: %s: field \"token\": no token named '%s'\n"), label, tok);
    }
  }
}

