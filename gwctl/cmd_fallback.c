/*
 * gwctl fallback: model fallback chains (table fallbacks, migration 014; relayd/fallback.h walks
 * them). A chain names the models relayd tries, in order, when every channel of MODEL failed before
 * anything reached the client; it belongs to MODEL for everyone, to a group, or to one token (the
 * token's wins over its group's, the group's over the model's).
 *   gwctl fallback set MODEL --chain M1,M2 [--token NAME|ID [--user NAME] | --group G]
 *                                          [--on context,policy|none]
 *   gwctl fallback list [--json]           gwctl fallback rm MODEL [--token ... | --group G]
 * --on also walks the chain after the upstream refused the prompt as too long for the model
 * (context) or by content policy (policy); without it only the upstream's failures do (connect
 * errors, timeouts, 429, 5xx, account errors).
 * Callers: the command table in main.c. (token rm forgets a token's chains through gwctl.c's
 * gw_subject_forget.)
 */
#include "gwctl.h"
#include "cmd_fallback.h"
#include "output.h"
#include "rules.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CHAIN_MODELS_MAX RULE_CHAIN_MAX
#define MODEL_NAME_MAX RULE_MODEL_MAX

struct scope {
  const char *scope;               /* "model", "group" or "token" */
  char subject[GW_NAME_MAX + 24];  /* '' (model), the group's name, the token's id */
  char label[GW_NAME_MAX + 32];    /* for messages and the manage log */
};

static int scope_find(struct gwctl *g, const char *token, const char *user, const char *group,
                      struct scope *s)
{
  memset(s, 0, sizeof *s);
  if (token && group)
    return gw_usage(g, "give --token or --group, not both");
  if (user && !token)
    return gw_usage(g, "--user narrows --token NAME");
  if (group) {
    int rc = gw_check_name(g, "--group", group);
    int64_t one = 0;
    int r = rc ? 0 : gw_scalar(g, "cannot read groups", "SELECT 1 FROM groups WHERE name = ?1", &one, "s", group);
    if (rc == 0 && r <= 0)
      rc = r < 0 ? GW_FAIL : gw_err(GW_NOTFOUND, "no group named '%s'", group);
    s->scope = "group";
    snprintf(s->subject, sizeof s->subject, "%s", group);
    snprintf(s->label, sizeof s->label, "group %s", group);
    return rc;
  }
  if (token) {
    int64_t id = 0;
    char name[GW_NAME_MAX + 1];
    int rc = gw_token_find(g, token, user, &id, name, sizeof name);
    s->scope = "token";
    snprintf(s->subject, sizeof s->subject, "%" PRId64, id);
    snprintf(s->label, sizeof s->label, "token %s", name);
    return rc;
  }
  s->scope = "model";
  snprintf(s->label, sizeof s->label, "every token");
  return 0;
}

/* --on: "", "none", or a comma list of context and policy. */
static int check_on(struct gwctl *g, const char *on, char *out, size_t outlen)
{
  char norm[64];
  int n = 0;
  out[0] = '\0';
  if (!*on || strcmp(on, "none") == 0)
    return 0;
  int rc = gw_norm_list(g, "--on", on, 16, norm, sizeof norm, &n);
  for (char *save = NULL, *w = rc ? NULL : strtok_r(norm, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
    if (rule_word(rule_fallback_on, w) < 0)
      return gw_usage(g, "--on: unknown error kind '%s' (context, policy or none)", w);
    snprintf(out + strlen(out), outlen - strlen(out), "%s%s", *out ? "," : "", w);
  }
  return rc;
}

int cmd_fallback_set(struct gwctl *g, int argc, char **argv)
{
  const char *model = NULL, *chain = NULL, *token = NULL, *user = NULL, *group = NULL, *on = "";
  const struct gw_opt opts[] = {
    { "chain", &chain, NULL }, { "token", &token, NULL }, { "user", &user, NULL },
    { "group", &group, NULL }, { "on", &on, NULL }, { 0 },
  };
  char list[GW_LIST_MAX] = "", kinds[64] = "";
  int n = 0;
  int rc = gw_args(g, argc, argv, opts, "MODEL", &model);
  if (rc == 0)
    rc = gw_check_name(g, "MODEL", model);
  if (rc == 0 && !chain)
    rc = gw_usage(g, "give --chain M1,M2 (the models tried in order after MODEL failed)");
  if (rc == 0)
    rc = gw_norm_list(g, "--chain", chain, MODEL_NAME_MAX, list, sizeof list, &n);
  enum rule_chain bad = rc == 0 ? rule_chain(model, list, n) : RULE_CHAIN_OK;
  if (bad == RULE_CHAIN_COUNT)
    rc = gw_usage(g, "--chain: give 1 to %d models", CHAIN_MODELS_MAX);
  else if (bad == RULE_CHAIN_SELF)
    rc = gw_usage(g, "--chain: '%s' cannot fall back to itself", model);
  if (rc == 0)
    rc = check_on(g, on, kinds, sizeof kinds);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  struct scope s;
  rc = scope_find(g, token, user, group, &s);
  if (rc == 0)
    rc = gw_fallback_put(g, s.scope, s.subject, model, list, kinds);
  /* a model of the chain without a price is skipped by relayd: say so now */
  for (char *p = list; rc == 0 && p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
    char m[MODEL_NAME_MAX + 1];
    int64_t one = 0;
    snprintf(m, sizeof m, "%.*s", (int)strcspn(p, ","), p);
    if (gw_scalar(g, "cannot read prices", "SELECT 1 FROM prices WHERE model = ?1", &one, "s", m) == 0)
      gw_err(GW_OK, "warning: '%s' has no price: relayd skips it in the chain (gwctl price set)", m);
  }
  struct gw_subject subj = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &subj, "fallback set %s %s chain=%s%s%s", model, s.label, list, *kinds ? " on=" : "",
                       kinds);
  return gw_end(g, rc);
}

static const struct out_col fallback_cols[] = {
  { "model", "MODEL", OUT_PLAIN, 0, NULL },
  { "scope", "SCOPE", OUT_PLAIN, 0, NULL },
  { "subject", "SUBJECT", OUT_PLAIN, 0, NULL },
  { "chain", "CHAIN", OUT_PLAIN, 0, NULL },
  { "on", "ON", OUT_PLAIN, 0, NULL },
  { 0 },
};

static const struct gw_field fallback_fields[] = {
  { "model", 0, GW_TEXT }, { "scope", 1, GW_TEXT }, { "subject", 2, GW_TEXT }, { "chain", 3, GW_TEXT },
  { "on", 4, GW_TEXT }, { 0 },
};

int cmd_fallback_list(struct gwctl *g, int argc, char **argv)
{
  int rc = gw_args(g, argc, argv, NULL, NULL, NULL);
  if (rc != 0 || (rc = gw_open(g)) != 0)
    return rc;
  /* a token is shown by name (user/name), a group or a model by itself */
  struct db_stmt *st = gw_prepare(g, "cannot read fallback chains",
      "SELECT f.model, f.scope, CASE WHEN f.scope = 'token' THEN COALESCE((SELECT u.username || '/' || t.name "
      "FROM tokens t JOIN users u ON u.id = t.user_id WHERE CAST(t.id AS TEXT) = f.subject), '#' || f.subject) "
      "ELSE f.subject END, f.chain, f.on_errors FROM fallbacks f ORDER BY f.model, f.scope, f.subject", "");
  return gw_list(g, st, "cannot read fallback chains", gw_row, fallback_fields, fallback_cols);
}

int cmd_fallback_rm(struct gwctl *g, int argc, char **argv)
{
  const char *model = NULL, *token = NULL, *user = NULL, *group = NULL;
  const struct gw_opt opts[] = {
    { "token", &token, NULL }, { "user", &user, NULL }, { "group", &group, NULL }, { 0 },
  };
  int rc = gw_args(g, argc, argv, opts, "MODEL", &model);
  if (rc != 0 || (rc = gw_begin(g)) != 0)
    return rc;
  struct scope s;
  rc = scope_find(g, token, user, group, &s);
  int64_t n = 0;
  if (rc == 0 && gw_scalar(g, "cannot read fallback chains", "SELECT count(*) FROM fallbacks WHERE scope = ?1 "
                           "AND subject = ?2 AND model = ?3", &n, "sss", s.scope, s.subject, model) < 0)
    rc = GW_FAIL;
  if (rc == 0 && n == 0)
    rc = gw_err(GW_NOTFOUND, "model '%s' has no fallback chain for %s", model, s.label);
  if (rc == 0)
    rc = gw_exec(g, "cannot remove the fallback chain", "DELETE FROM fallbacks WHERE scope = ?1 AND "
                 "subject = ?2 AND model = ?3", "sss", s.scope, s.subject, model);
  struct gw_subject subj = { 0 };
  if (rc == 0)
    rc = gw_log_manage(g, &subj, "fallback rm %s %s", model, s.label);
  return gw_end(g, rc);
}
