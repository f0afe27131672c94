/*
 * panel_channels: one row per upstream channel: status, priority, weight (database), requests/s,
 * p50/p99 latency, error % (admin stats), last test; sortable, filterable, unhealthy ones coloured;
 * and the detail view of one channel. An auto-disabled channel shows why ("off: REASON") in place
 * of its last test; an enabled one whose circuit breaker is not closed shows "breaker".
 *
 * Callers: gwtui/main.c through panel_channels, and channels_selected() for the channel actions.
 * Never: calls curses (screen.h only) or changes a channel (main.c runs gwctl for that).
 */
#include "gwtui.h"
#include "screen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sorts[] = { "id", "name", "priority", "req/s", "p99", "err%", NULL };

static const char *status_name(int s)
{
  switch (s) {
  case STATUS_ENABLED: return "enabled";
  case STATUS_DISABLED: return "disabled";
  case STATUS_AUTO_DISABLED: return "auto-off";
  default: return "-";
  }
}

static int sort_key;

static int cmp(const void *pa, const void *pb)
{
  const struct gw_channel *a = *(const struct gw_channel *const *)pa;
  const struct gw_channel *b = *(const struct gw_channel *const *)pb;
  int r = 0;
  switch (sort_key) {
  case 1: r = strcmp(a->name, b->name); break;
  case 2: r = a->priority != b->priority ? (a->priority < b->priority ? 1 : -1)
              : a->weight != b->weight ? (a->weight < b->weight ? 1 : -1) : 0; break;
  case 3: r = a->rps != b->rps ? (a->rps < b->rps ? 1 : -1) : 0; break;
  case 4: r = a->p99_ms != b->p99_ms ? (a->p99_ms < b->p99_ms ? 1 : -1) : 0; break;
  case 5: r = a->err_pct != b->err_pct ? (a->err_pct < b->err_pct ? 1 : -1) : 0; break;
  default: break;
  }
  if (r == 0)
    r = a->id < b->id ? -1 : a->id > b->id;
  return r;
}

/* The channels shown, filtered and sorted; *out is malloc'ed (caller frees). */
static size_t view(const struct gw_data *d, const struct ui *ui, const struct gw_channel ***out)
{
  const struct gw_channel **v = malloc((d->nchans + 1) * sizeof *v);
  size_t n = 0;
  *out = v;
  if (!v)
    return 0;
  const char *f = ui->filter[P_CHANNELS];
  for (size_t i = 0; i < d->nchans; i++) {
    const struct gw_channel *c = &d->chans[i];
    if (ui_match(f, c->name) || ui_match(f, c->models) || ui_match(f, c->tag)
        || ui_match(f, status_name(c->status)))
      v[n++] = c;
  }
  sort_key = ui->sort[P_CHANNELS];
  qsort(v, n, sizeof *v, cmp);
  return n;
}

static size_t count(const struct gw_data *d, const struct ui *ui)
{
  const struct gw_channel **v;
  size_t n = view(d, ui, &v);
  free(v);
  return n;
}

const struct gw_channel *channels_selected(const struct gw_data *d, const struct ui *ui)
{
  const struct gw_channel **v, *c = NULL;
  size_t n = view(d, ui, &v);
  if (ui->sel[P_CHANNELS] < n)
    c = v[ui->sel[P_CHANNELS]];
  free(v);
  return c;
}

static void draw(const struct gw_data *d, struct ui *ui, int y, int h)
{
  int w = scr_cols();
  int wide = w >= 100;
  char hdr[256];
  snprintf(hdr, sizeof hdr, " %4s %-14s %-8s %5s %5s %7s %7s %7s %6s  %s", "ID", "NAME", "STATUS", "PRI",
           "WT", "REQ/S", "P50", "P99", "ERR%", wide ? "INFL  REQUESTS FAIL  LAST TEST" : "TESTED");
  scr_fill(y, 0, w, SR_TITLE);
  scr_text(y, 0, w, SR_TITLE, hdr);
  const struct gw_channel **v;
  size_t n = view(d, ui, &v);
  int rows = h - 1;
  ui_scroll(&ui->sel[P_CHANNELS], &ui->top[P_CHANNELS], n, rows);
  if (n == 0)
    scr_text(y + 2, 2, w - 4, SR_DIM,
             d->db_url ? _("no channels (or none match the filter)")
                       : _("no channel has served a request yet (give --db to list them all)"));
  for (int r = 0; r < rows && ui->top[P_CHANNELS] + (size_t)r < n; r++) {
    size_t i = ui->top[P_CHANNELS] + (size_t)r;
    const struct gw_channel *c = v[i];
    int sel = i == ui->sel[P_CHANNELS];
    int ry = y + 1 + r;
    enum scr_role base = sel ? SR_SELECT : SR_NORMAL;
    char pri[16] = "-", wt[16] = "-", rps[16], p50[16], p99[16], err[16], tested[64], total[16];
    if (c->in_db) {
      snprintf(pri, sizeof pri, "%lld", (long long)c->priority);
      snprintf(wt, sizeof wt, "%lld", (long long)c->weight);
    }
    ui_fmt_count(rps, sizeof rps, c->rps);
    ui_fmt_ms(p50, sizeof p50, c->p50_ms);
    ui_fmt_ms(p99, sizeof p99, c->p99_ms);
    if (c->err_pct < 0)
      snprintf(err, sizeof err, "-");
    else
      snprintf(err, sizeof err, "%.1f", c->err_pct);
    ui_fmt_count(total, sizeof total, (double)c->requests);
    if (!c->in_db)
      snprintf(tested, sizeof tested, "-");
    else if (wide && c->test_time > 0) {
      char age[32];
      ui_fmt_age(age, sizeof age, c->test_time);
      if (c->response_time > 0)   /* gwctl records 0 for a failed test (and a 0 ms one) */
        snprintf(tested, sizeof tested, "%s, %lldms", age, (long long)c->response_time);
      else
        snprintf(tested, sizeof tested, "%s", age);
    } else
      ui_fmt_age(tested, sizeof tested, c->test_time);
    if (sel)
      scr_fill(ry, 0, w, SR_SELECT);
    int x = scr_printf(ry, 0, w, base, " %4lld %-14.14s ", (long long)c->id, c->name);
    int open = c->status == STATUS_ENABLED && strcmp(c->breaker, "closed") != 0 && c->breaker[0];
    enum scr_role sr = sel ? SR_SELECT : open ? SR_WARN
                     : c->status == STATUS_ENABLED ? SR_OK : c->status > STATUS_ENABLED ? SR_BAD : SR_DIM;
    /* i18n: not translated: the STATUS column's value (enabled, disabled, auto-off, breaker), as gwctl's tables */
    x += scr_printf(ry, x, w - x, sr, "%-8s", open ? "breaker" : status_name(c->status));
    x += scr_printf(ry, x, w - x, base, " %5s %5s %7s %7s %7s ", pri, wt, rps, p50, p99);
    enum scr_role er = sel ? SR_SELECT : c->err_pct >= 5 ? SR_BAD : c->err_pct > 0 ? SR_WARN : base;
    x += scr_printf(ry, x, w - x, er, "%6s", err);
    /* an auto-disabled channel shows why instead of its last test */
    char why[sizeof c->reason + 8];
    snprintf(why, sizeof why, _("off: %s"), c->reason);
    const char *last = c->status == STATUS_AUTO_DISABLED && c->reason[0] ? why : tested;
    enum scr_role lr = sel ? SR_SELECT : c->status == STATUS_AUTO_DISABLED && c->reason[0] ? SR_BAD : base;
    if (wide) {
      char fail[16];
      ui_fmt_count(fail, sizeof fail, (double)c->attempt_failures);
      x += scr_printf(ry, x, w - x, base, "  %4lld  %8s ", (long long)c->in_flight, total);
      x += scr_printf(ry, x, w - x, sel ? SR_SELECT : c->attempt_failures ? SR_WARN : base, "%4s", fail);
      x += scr_printf(ry, x, w - x, base, "  ");
      scr_printf(ry, x, w - x, lr, "%s", last);
    } else {
      scr_printf(ry, x, w - x, lr, "  %s", last);
    }
  }
  free(v);
}

static void detail(const struct gw_data *d, const struct ui *ui, int y, int h)
{
  const struct gw_channel *c = channels_selected(d, ui);
  if (!c)
    return;
  int shown = c->nkeys < GW_POOL_SHOWN ? c->nkeys : GW_POOL_SHOWN, want = 18 + (c->nkeys ? 1 + shown : 0);
  int w = scr_cols(), bw = w > 76 ? 72 : w - 4, bx = (w - bw) / 2, bh = h > want ? want : h;
  scr_box(y, bx, bh, bw, SR_NORMAL);
  scr_printf(y, bx + 2, bw - 4, SR_TITLE, _(" channel %lld: %s "), (long long)c->id, c->name);
  char a[64], b[64], t[64];
  int r = y + 1, x = bx + 2, cw = bw - 4;
  scr_printf(r++, x, cw, SR_NORMAL, _("status    %s%s%s"), status_name(c->status), c->breaker[0] ? _("   breaker ") : "",
             c->breaker);
  if (c->status == STATUS_AUTO_DISABLED)
    scr_printf(r++, x, cw, SR_BAD, _("reason    %s"), c->reason[0] ? c->reason : "-");
  scr_printf(r++, x, cw, SR_NORMAL, _("type      %s   tag %s"), c->in_db ? c->type : "-", c->tag[0] ? c->tag : "-");
  scr_printf(r++, x, cw, SR_NORMAL, _("priority  %lld   weight %lld"), (long long)c->priority, (long long)c->weight);
  scr_printf(r++, x, cw, SR_NORMAL, _("models    %s"), c->models[0] ? c->models : "-");
  ui_fmt_age(t, sizeof t, c->test_time);
  scr_printf(r++, x, cw, SR_NORMAL, _("tested    %s (%lld ms)"), c->in_db ? t : "-", (long long)c->response_time);
  if (c->balance_time) {          /* the upstream account's balance (gwctl channel balance, relayd's poll) */
    ui_fmt_age(t, sizeof t, c->balance_time);
    scr_printf(r++, x, cw, SR_NORMAL, _("balance   %.2f %s (read %s)"), c->balance, c->balance_cur, t);
  } else {
    scr_printf(r++, x, cw, SR_DIM, _("balance   -"));
  }
  r++;
  scr_printf(r++, x, cw, SR_NORMAL, _("requests  %lld   errors %lld   in flight %lld"),
             (long long)c->requests, (long long)c->errors, (long long)c->in_flight);
  scr_printf(r++, x, cw, c->attempt_failures ? SR_WARN : SR_NORMAL,
             _("attempts  %lld failed here (retried on another channel or not)"), (long long)c->attempt_failures);
  scr_printf(r++, x, cw, SR_NORMAL, _("tokens    %lld prompt, %lld completion   quota %lld"),
             (long long)c->prompt_tokens, (long long)c->completion_tokens, (long long)c->quota);
  ui_fmt_ms(a, sizeof a, c->p50_ms);
  ui_fmt_ms(b, sizeof b, c->p99_ms);
  scr_printf(r++, x, cw, SR_NORMAL, _("latency   p50 %s   p99 %s"), a, b);
  ui_fmt_count(a, sizeof a, c->rps);
  if (c->err_pct < 0)
    snprintf(b, sizeof b, "-");
  else
    snprintf(b, sizeof b, "%.1f%%", c->err_pct);
  scr_printf(r++, x, cw, SR_NORMAL, _("now       %s req/s   errors %s (last minute)"), a, b);
  if ((c->rpm || c->tpm || c->limited_total) && r < y + bh - 2)   /* its limits (chanlimit.h) */
    scr_printf(r++, x, cw, SR_NORMAL, _("limits    rpm %lld   tpm %lld   passed over %lld (never a failure)"),
               (long long)c->rpm, (long long)c->tpm, (long long)c->limited_total);
  if (c->nkeys && r < y + bh - 2) {       /* a key pool: each key's status and counters */
    scr_printf(r++, x, cw, c->keys_off ? SR_WARN : SR_NORMAL, _("keys      %d (%s), %d not chosen"), c->nkeys,
               c->key_mode, c->keys_off);
    for (int i = 0; i < shown && r < y + bh - 2; i++) {
      const struct gw_pool_key *k = &c->keys[i];
      scr_printf(r++, x, cw, strcmp(k->status, "enabled") ? SR_BAD : SR_NORMAL,
                 _("  #%-4lld %-13s req %lld  err %lld  quota %lld"), (long long)k->index, k->status,
                 (long long)k->requests, (long long)k->errors, (long long)k->spend);
    }
  }
  r++;
  if (r < y + bh - 1)
    scr_text(r, x, cw, SR_DIM, _("e enable  d disable  t test  p priority  w weight  Esc close"));
}

const struct panel panel_channels = {
  .name = N_("Channels"),
  .sorts = sorts,
  .count = count,
  .draw = draw,
  .detail = detail,
};
