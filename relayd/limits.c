/* limits: see limits.h. */
#include "limits.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcra.h"
#include "util.h"

/* (scope, id, model) -> struct rate_state; touched only when snapshots load (admin thread) */
static struct state_table states = STATE_TABLE_INIT(struct rate_state, 64);

struct rate_state *limits_state(char scope, int64_t id, const char *model)
{
  char key[300];
  snprintf(key, sizeof key, "%c%lld\x1f%.256s", scope, (long long)id, model);
  return state_table_get(&states, key, NULL);
}

void limits_shutdown(void)
{
  state_table_free(&states);
}

static void view_update(struct limit_view *v, int64_t n, int64_t tat, int64_t now, int64_t window)
{
  int64_t per = window / n > 0 ? window / n : 1;
  int64_t used = tat - now;
  int64_t remaining = used >= window ? 0 : (window - used) / per;
  if (remaining > n)
    remaining = n;
  if (v->set && remaining >= v->remaining)
    return;
  v->set = true;
  v->limit = n;
  v->remaining = remaining;
  v->reset_ms = used > 0 ? (used + 999999) / 1000000 : 0;
}

static bool applies(const struct snap_limit *l, const char *model)
{
  return !l->model[0] || strcmp(l->model, model) == 0;
}

bool limits_admit(const struct snap_limits *token_limits, const struct snap_limits *user_limits,
                  const char *model, int64_t tokens, int64_t window_s, struct limit_hold *hold,
                  struct limit_refusal *why)
{
  memset(hold, 0, sizeof *hold);
  hold->window_ns = window_s * 1000000000;
  hold->tokens = tokens < 0 ? 0 : tokens;
  const struct snap_limits *lists[2] = {token_limits, user_limits};
  int64_t now = gcra_now_ns(), window = hold->window_ns;
  for (int s = 0; s < 2; s++) {
    const struct snap_limits *ls = lists[s];
    for (size_t i = 0; ls && i < ls->n; i++) {
      const struct snap_limit *l = &ls->items[i];
      if (!applies(l, model) || (l->rpm <= 0 && l->tpm <= 0))
        continue;
      if (hold->n == LIMITS_MAX_HELD)
        break;
      int64_t req_inc = 0, tok_inc = 0, tat;
      why->scope = s == 0 ? LIMIT_TOKEN : LIMIT_USER;
      why->model = l->model;
      if (l->tpm > 0 && hold->tokens > l->tpm) {
        why->kind = LIMIT_TOKENS;
        why->limit = l->tpm;
        why->retry_after_ms = -1;
        limits_undo(hold);
        return false;
      }
      if (l->rpm > 0) {
        req_inc = gcra_cost_ns(1, l->rpm, window);
        if (!gcra_take(&l->st->req_tat_ns, now, req_inc, window, &tat)) {
          why->kind = LIMIT_REQUESTS;
          why->limit = l->rpm;
          why->retry_after_ms = (tat + req_inc - window - now + 999999) / 1000000;
          limits_undo(hold);
          return false;
        }
        view_update(&hold->req, l->rpm, tat, now, window);
      }
      if (l->tpm > 0) {
        tok_inc = gcra_cost_ns(hold->tokens, l->tpm, window);
        if (!gcra_take(&l->st->tok_tat_ns, now, tok_inc, window, &tat)) {
          if (req_inc)
            gcra_give(&l->st->req_tat_ns, req_inc);
          why->kind = LIMIT_TOKENS;
          why->limit = l->tpm;
          why->retry_after_ms = (tat + tok_inc - window - now + 999999) / 1000000;
          limits_undo(hold);
          return false;
        }
        view_update(&hold->tok, l->tpm, tat, now, window);
      }
      hold->held[hold->n].l = l;
      hold->held[hold->n].req_inc = req_inc;
      hold->held[hold->n].tok_inc = tok_inc;
      hold->n++;
    }
  }
  return true;
}

void limits_settle(struct limit_hold *hold, int64_t used)
{
  if (used < 0)
    used = 0;
  for (int i = 0; i < hold->n; i++) {
    const struct snap_limit *l = hold->held[i].l;
    if (l->tpm <= 0 || used == hold->tokens)
      continue;
    if (used > hold->tokens)
      atomic_fetch_add_explicit(&l->st->tok_tat_ns, gcra_cost_ns(used - hold->tokens, l->tpm, hold->window_ns),
                                memory_order_relaxed);
    else
      gcra_give(&l->st->tok_tat_ns, gcra_cost_ns(hold->tokens - used, l->tpm, hold->window_ns));
  }
  hold->n = 0;
}

void limits_undo(struct limit_hold *hold)
{
  for (int i = 0; i < hold->n; i++) {
    const struct snap_limit *l = hold->held[i].l;
    if (hold->held[i].req_inc)
      gcra_give(&l->st->req_tat_ns, hold->held[i].req_inc);
    if (hold->held[i].tok_inc)
      gcra_give(&l->st->tok_tat_ns, hold->held[i].tok_inc);
  }
  hold->n = 0;
}

void limits_format_duration(int64_t ms, char *out, size_t n)
{
  if (ms < 0)
    ms = 0;
  if (ms < 1000) {
    snprintf(out, n, "%lldms", (long long)ms);
  } else if (ms < 60000) {
    int64_t tenths = (ms + 99) / 100;
    if (tenths % 10)
      snprintf(out, n, "%lld.%llds", (long long)(tenths / 10), (long long)(tenths % 10));
    else
      snprintf(out, n, "%llds", (long long)(tenths / 10));
  } else {
    int64_t s = (ms + 999) / 1000;
    if (s >= 3600)
      snprintf(out, n, "%lldh%lldm%llds", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
    else
      snprintf(out, n, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
  }
}
