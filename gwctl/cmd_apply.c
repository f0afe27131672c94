/*
 * gwctl export / apply: declarative provisioning (doc/provisioning.md has the document format).
 *
 * Owns: the two commands: export (the readers' canonical objects written as a document, keys as
 * {"file"}/{"env"} references or left out) and apply (read the file, check it, check the references,
 * plan, execute in one transaction, report). The pieces are modules of their own: apply_model (the
 * kinds, items, sets, changes), apply_read (the database as canonical JSON), apply_fields and
 * apply_check (the file as canonical JSON, with common/rules.h's rules, shared with the commands),
 * apply_refs (references between kinds), apply_plan (the diff and its text), apply_exec (the writes,
 * through store.h and channels.c where the commands write the same things).
 * Callers: the command table in main.c.
 * Never: exports a channel key, a pool key or a token key in clear, prints or logs a secret read
 * through a reference, changes anything when the file has an error, or deletes without --prune.
 */
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
#include "cmd_apply.h"
#include "apply_model.h"
#include "apply_read.h"
#include "apply_fields.h"
#include "apply_check.h"
#include "apply_refs.h"
#include "apply_plan.h"
#include "apply_exec.h"

/* ---- export ------------------------------------------------------------------------------------- */

/* RELAY_CHANNEL_KEY_<NAME>: upper case, anything but [A-Z0-9] as '_'. */
static void env_name(const char *name, char *out, size_t len)
{
  size_t n = (size_t)snprintf(out, len, "RELAY_CHANNEL_KEY_");
  if (n >= len)
    return;
  for (const char *p = name; *p && n + 1 < len; p++) {
    char c = *p;
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      c = '_';
    out[n++] = c;
  }
  out[n] = '\0';
}

/* The reference export writes for the key named name: {"file": "DIR/name"}, or {"env": ...}. */
static cJSON *key_ref(const char *dir, const char *name)
{
  char ref[URL_MAX];
  cJSON *r = cJSON_CreateObject();
  if (dir) {
    snprintf(ref, sizeof ref, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    cJSON_AddStringToObject(r, "file", ref);
  } else {
    env_name(name, ref, sizeof ref);
    cJSON_AddStringToObject(r, "env", ref);
  }
  return r;
}

static int parse_kinds(struct gwctl *g, const char *s, int *want)
{
  char buf[256];
  int n = 0;
  int rc = gw_norm_list(g, "--kinds", s, 32, buf, sizeof buf, &n);
  if (rc != 0)
    return rc;
  if (n == 0)
    return gw_usage(g, "--kinds needs at least one of: channels, groups, prices, users, tokens, "
                    "options, fallbacks");
  for (char *p = buf; *p;) {
    size_t len = strcspn(p, ",");
    int found = 0;
    for (int k = 0; k < K_N; k++)
      if (strlen(ap_kinds[k].section) == len && strncmp(ap_kinds[k].section, p, len) == 0)
        want[k] = found = 1;
    if (!found)
      return gw_usage(g, "--kinds: unknown kind '%.*s' (known: channels, groups, prices, users, "
                      "tokens, options, fallbacks)", (int)len, p);
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

int cmd_export(struct gwctl *g, int argc, char **argv)
{
  const char *kinds_s = NULL, *refs = "none";
  const struct gw_opt opts[] = { { "kinds", &kinds_s, NULL }, { "key-refs", &refs, NULL }, { 0 } };
  int want[K_N] = { 0 };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0)
    return rc;
  if (kinds_s)
    rc = parse_kinds(g, kinds_s, want);
  else
    for (int k = 0; k < K_N; k++)
      want[k] = 1;
  const char *dir = NULL;
  if (rc == 0 && strncmp(refs, "file:", 5) == 0 && refs[5])
    dir = refs + 5;
  else if (rc == 0 && strcmp(refs, "none") != 0 && strcmp(refs, "env") != 0)
    rc = gw_usage(g, "--key-refs must be none, env or file:DIR, not '%s'", refs);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;

  cJSON *doc = cJSON_CreateObject();
  cJSON_AddNumberToObject(doc, "version", DOC_VERSION);
  for (int k = 0; rc == 0 && k < K_N; k++) {
    if (!want[k])
      continue;
    struct set s = { 0 };
    rc = ap_read_kind(g, k, &s);
    cJSON *out = k == K_OPTION ? cJSON_CreateObject() : cJSON_CreateArray();
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
      cJSON *o = s.v[i].obj;
      if (k == K_OPTION) {
        cJSON_AddStringToObject(out, ap_str_of(o, "key"), ap_str_of(o, "value"));
        continue;
      }
      cJSON *pool = k == K_CHANNEL ? cJSON_GetObjectItemCaseSensitive(o, "keys") : NULL;
      if (pool && strcmp(refs, "none") != 0) {
        /* a key pool: each key its own reference, NAME.N / ..._N by its index */
        cJSON *e;
        cJSON_ArrayForEach(e, pool) {
          char name[GW_NAME_MAX + 24];
          snprintf(name, sizeof name, "%s.%" PRId64, s.v[i].key, ap_int_of(e, "index"));
          cJSON_AddItemToObject(e, "key", key_ref(dir, name));
        }
      } else if (k == K_CHANNEL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "\x01has_key"))
                 && strcmp(refs, "none") != 0) {
        cJSON_AddItemToObject(o, "key", key_ref(dir, s.v[i].key));
      }
      ap_strip_internal(o);
      cJSON_AddItemToArray(out, o);
      s.v[i].obj = NULL;
    }
    cJSON_AddItemToObject(doc, ap_kinds[k].section, out);
    ap_set_free(&s);
  }
  if (rc == 0) {
    char *text = cJSON_Print(doc);
    if (!text)
      rc = gw_err(GW_FAIL, "out of memory");
    else
      printf("%s\n", text);
    free(text);
  }
  cJSON_Delete(doc);
  return rc;
}

/* ---- gwctl apply ------------------------------------------------------------------------------- */

static char *read_document(const char *path, size_t *len)
{
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    gw_err(errno == ENOENT ? GW_NOTFOUND : GW_FAIL, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct buf b;
  buf_init(&b, DOC_MAX);
  char chunk[65536];
  size_t n;
  int toolong = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (buf_append(&b, chunk, n) != 0) {
      toolong = 1;
      break;
    }
  int ioerr = ferror(f);
  if (f != stdin)
    fclose(f);
  if (ioerr || toolong) {
    gw_err(GW_FAIL, ioerr ? "cannot read %s" : N_("%s is larger than 64 MiB"), path);
    buf_free(&b);
    return NULL;
  }
  if (!b.data)
    buf_append(&b, "", 0);
  return buf_steal(&b, len);
}

static void who_am_i(char *out, size_t len)
{
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_name)
    snprintf(out, len, "%s", pw->pw_name);
  else
    snprintf(out, len, "uid %u", (unsigned)getuid());
}

static void apply_free(struct apply *a)
{
  for (int k = 0; k < K_N; k++) {
    ap_set_free(&a->want[k]);
    ap_set_free(&a->have[k]);
  }
  for (size_t i = 0; i < a->nch; i++)
    cJSON_Delete(a->ch[i].fields);
  free(a->ch);
  if (a->new_keys) {
    const cJSON *k;
    cJSON_ArrayForEach(k, a->new_keys) {
      char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "key"));
      if (s)
        OPENSSL_cleanse(s, strlen(s));
    }
    cJSON_Delete(a->new_keys);
  }
  for (size_t i = 0; i < a->nfiles; i++) {
    free(a->tmp_files[i]);
    free(a->key_files[i]);
  }
  free(a->tmp_files);
  free(a->key_files);
}

int cmd_apply(struct gwctl *g, int argc, char **argv)
{
  const char *file = NULL;
  int dry = 0, prune = 0, balances = 0;
  const struct gw_opt opts[] = {
    { "f", &file, NULL }, { "file", &file, NULL }, { "dry-run", NULL, &dry },
    { "prune", NULL, &prune }, { "set-balances", NULL, &balances }, { 0 },
  };
  int rc = gw_args(g, argc, argv, opts, NULL, NULL);
  if (rc != 0)
    return rc;
  if (!file)
    return gw_usage(g, "missing -f FILE (or -f - for stdin)");
  size_t len = 0;
  char *text = read_document(file, &len);
  if (!text)
    return errno == ENOENT ? GW_NOTFOUND : GW_FAIL;
  const char *end = NULL;
  cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
  if (!doc) {
    size_t at = end && end >= text ? (size_t)(end - text) : 0, line = 1, col = 1;
    for (size_t i = 0; i < at && i < len; i++, col++)
      if (text[i] == '\n') {
        line++;
        col = 0;
      }
    free(text);
    return gw_err(GW_FAIL, "%s:%zu:%zu: not valid JSON%s; nothing changed", file, line, col,
                  at >= len ? " (it ends too early)" : "");
  }
  free(text);

  struct apply a = { .g = g, .prune = prune, .set_balances = balances, .dry_run = dry };
  a.new_keys = cJSON_CreateArray();
  who_am_i(a.who, sizeof a.who);
  rc = dry ? gw_open(g) : gw_begin(g);
  int in_tx = !dry && rc == 0;
  for (int k = 0; rc == 0 && k < K_N; k++)
    rc = ap_read_kind(g, k, &a.have[k]);
  for (int k = 0; k < K_N; k++)
    ap_set_index(&a.have[k]);
  if (rc == 0) {
    ap_check_document(&a, doc);
    for (int k = 0; k < K_N; k++)
      ap_set_index(&a.want[k]);
    ap_check_references(&a);       /* on the entries that passed: every error is reported */
    ap_check_references2(&a);
    if (a.errors)
      rc = gw_err(GW_FAIL, "%s: %d error%s; nothing changed", file, a.errors,
                  a.errors == 1 ? "" : "s");
  }
  if (rc == 0)
    rc = ap_plan(&a);
  int ncreate = 0, nupdate = 0, ndelete = 0;
  for (size_t i = 0; i < a.nch; i++)
    a.ch[i].op == OP_CREATE ? ncreate++ : a.ch[i].op == OP_UPDATE ? nupdate++ : ndelete++;
  for (size_t i = 0; rc == 0 && !dry && i < a.nch; i++)
    rc = ap_exec_change(&a, &a.ch[i]);
  if (in_tx) {
    if (rc == 0 && a.nch == 0) {
      db_rollback(g->db);         /* nothing to commit, nobody to tell */
    } else {
      rc = gw_end(g, rc);
    }
  }
  /* key files: into place once the tokens exist, gone when they do not */
  for (size_t i = 0; i < a.nfiles; i++) {
    if (rc == 0 && rename(a.tmp_files[i], a.key_files[i]) != 0) {
      rc = gw_err(GW_FAIL, "the changes are saved, but the key for %s is in %s: cannot rename it: "
                  "%s", a.key_files[i], a.tmp_files[i], strerror(errno));
      continue;
    }
    if (rc != 0)
      unlink(a.tmp_files[i]);
  }
  if (rc == 0) {
    if (g->json) {
      cJSON *out = cJSON_CreateObject(), *arr = cJSON_CreateArray();
      for (size_t i = 0; i < a.nch; i++)
        cJSON_AddItemToArray(arr, ap_change_json(&a.ch[i]));
      cJSON_AddBoolToObject(out, "dry_run", dry);
      cJSON_AddItemToObject(out, "changes", arr);
      cJSON_AddNumberToObject(out, "create", ncreate);
      cJSON_AddNumberToObject(out, "update", nupdate);
      cJSON_AddNumberToObject(out, "delete", ndelete);
      if (!dry)
        cJSON_AddItemReferenceToObject(out, "keys", a.new_keys);
      if (out_json(out) != 0)
        rc = gw_err(GW_FAIL, "out of memory");
      cJSON_Delete(out);
    } else {
      char line[1200];
      for (size_t i = 0; i < a.nch; i++) {
        ap_change_text(&a.ch[i], line, sizeof line);
        printf("%s\n", line);
      }
      const cJSON *k;
      cJSON_ArrayForEach(k, a.new_keys)
        printf(_("key of token %s/%s: %s\n"), ap_str_of(k, "user"), ap_str_of(k, "name"), ap_str_of(k, "key"));
      if (a.nch == 0)
        printf(_("nothing to do: the database matches %s\n"), file);
      else
        printf(dry ? _("plan: %d to create, %d to update, %d to delete\n")
                   : _("applied: %d to create, %d to update, %d to delete\n"), ncreate, nupdate, ndelete);
    }
    if (dry && a.nch > 0)
      rc = GW_USAGE;              /* documented: 2 = the plan has changes (drift) */
  }
  cJSON_Delete(doc);
  apply_free(&a);
  return rc;
}
