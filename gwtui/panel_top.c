/*
 * panel_top: the top consumers over a chosen window (1m, 5m, 15m, 1h), summed from the live
 * request events: the Models, Users and Tokens panels (one implementation, three instances).
 *
 * Callers: gwtui/main.c through panel_models / panel_users / panel_tokens, and tokens_selected()
 * for the token action.
 * Never: calls curses (screen.h only), reads the database, or changes a token (main.c runs gwctl).
 */
#include "quota.h"
#include "gwtui.h"
#include "screen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *const sorts[] = { "requests", "tokens", "spend", "name", NULL };

static int sort_key;

static int cmp(const void *pa, const void *pb)
{
  const struct gw_top_row *a = pa, *b = pb;
  int r = 0;
  switch (sort_key) {
  case 0: r = a->requests != b->requests ? (a->requests < b->requests ? 1 : -1) : 0; break;
  case 1: r = a->tokens != b->tokens ? (a->tokens < b->tokens ? 1 : -1) : 0; break;
  case 2: r = a->quota != b->quota ? (a->quota < b->quota ? 1 : -1) : 0; break;
  default: break;
  }
  if (r == 0)
    r = strcmp(a->key, b->key);
  if (r == 0)
    r = strcmp(a->user, b->user);
  return r;
}

static enum gw_top_kind kind_of(enum panel_id p)
{
  return p == P_MODELS ? GW_TOP_MODEL : p == P_USERS ? GW_TOP_USER : GW_TOP_TOKEN;
}

/* Rows of panel p, filtered and sorted (caller frees *rows). */
static size_t view(const struct gw_data *d, const struct ui *ui, enum panel_id p,
                   struct gw_top_row **rows, double *covered, int64_t *total_req)
{
  size_t n = data_top(d, kind_of(p), ui_windows[ui->window], rows, covered), j = 0;
  *total_req = 0;
  for (size_t i = 0; i < n; i++) {
    struct gw_top_row *r = &(*rows)[i];
    *total_req += r->requests;
    if (ui_match(ui->filter[p], r->key) || ui_match(ui->filter[p], r->user))
      (*rows)[j++] = *r;
  }
  sort_key = ui->sort[p];
  qsort(*rows, j, sizeof **rows, cmp);
  return j;
}

int tokens_selected(const struct gw_data *d, const struct ui *ui, struct gw_top_row *out)
{
  struct gw_top_row *rows;
  double cov;
  int64_t tot;
  size_t n = view(d, ui, P_TOKENS, &rows, &cov, &tot);
  int rc = -1;
  if (ui->sel[P_TOKENS] < n) {
    *out = rows[ui->sel[P_TOKENS]];
    rc = 0;
  }
  free(rows);
  return rc;
}

static void draw_kind(const struct gw_data *d, struct ui *ui, int y, int h, enum panel_id p)
{
  int w = scr_cols();
  struct gw_top_row *rows;
  double cov;
  int64_t total;
  size_t n = view(d, ui, p, &rows, &cov, &total);
  const char *what = p == P_MODELS ? "MODEL" : p == P_USERS ? "USER" : "TOKEN";
  int win = ui_windows[ui->window];
  char note[128] = "";
  if (d->ev_seq > GW_EVENTS && cov < win - 1)
    snprintf(note, sizeof note, _(" (the last %d events cover only %.0fs)"), GW_EVENTS, cov);
  const char *title = p == P_MODELS ? _("top models over the last %s by %s%s  (w window, s sort)")
                      : p == P_USERS ? _("top users over the last %s by %s%s  (w window, s sort)")
                      : _("top tokens over the last %s by %s%s  (w window, s sort)");
  scr_printf(y, 1, w - 2, SR_NORMAL, title, ui_window_names[ui->window], sorts[ui->sort[p]], note);
  char hdr[256];
  if (p == P_TOKENS)
    snprintf(hdr, sizeof hdr, " %-18s %-14s %9s %6s %10s %10s %6s", what, "USER", "REQUESTS", "ERR",
             "TOKENS", "SPEND $", "SHARE");
  else
    snprintf(hdr, sizeof hdr, " %-33s %9s %6s %10s %10s %6s", what, "REQUESTS", "ERR", "TOKENS",
             "SPEND $", "SHARE");
  scr_fill(y + 1, 0, w, SR_TITLE);
  scr_text(y + 1, 0, w, SR_TITLE, hdr);
  int lines = h - 2;
  ui_scroll(&ui->sel[p], &ui->top[p], n, lines);
  if (n == 0)
    scr_text(y + 3, 2, w - 4, SR_DIM, _("no requests in this window (or none match the filter)"));
  for (int r = 0; r < lines && ui->top[p] + (size_t)r < n; r++) {
    size_t i = ui->top[p] + (size_t)r;
    const struct gw_top_row *t = &rows[i];
    int sel = i == ui->sel[p];
    enum scr_role role = sel ? SR_SELECT : t->errors ? SR_WARN : SR_NORMAL;
    char req[16], tok[16];
    ui_fmt_count(req, sizeof req, (double)t->requests);
    ui_fmt_count(tok, sizeof tok, (double)t->tokens);
    double share = total ? 100.0 * (double)t->requests / (double)total : 0;
    if (sel)
      scr_fill(y + 2 + r, 0, w, SR_SELECT);
    if (p == P_TOKENS)
      scr_printf(y + 2 + r, 0, w, role, " %-18.18s %-14.14s %9s %6lld %10s %10.6f %5.1f%%", t->key,
                 t->user, req, (long long)t->errors, tok, (double)t->quota / QUOTA_PER_USD, share);
    else
      scr_printf(y + 2 + r, 0, w, role, " %-33.33s %9s %6lld %10s %10.6f %5.1f%%", t->key, req,
                 (long long)t->errors, tok, (double)t->quota / QUOTA_PER_USD, share);
  }
  free(rows);
}

static size_t count_kind(const struct gw_data *d, const struct ui *ui, enum panel_id p)
{
  struct gw_top_row *rows;
  double cov;
  int64_t tot;
  size_t n = view(d, ui, p, &rows, &cov, &tot);
  free(rows);
  return n;
}

static size_t count_models(const struct gw_data *d, const struct ui *ui) { return count_kind(d, ui, P_MODELS); }
static size_t count_users(const struct gw_data *d, const struct ui *ui) { return count_kind(d, ui, P_USERS); }
static size_t count_tokens(const struct gw_data *d, const struct ui *ui) { return count_kind(d, ui, P_TOKENS); }
static void draw_models(const struct gw_data *d, struct ui *ui, int y, int h) { draw_kind(d, ui, y, h, P_MODELS); }
static void draw_users(const struct gw_data *d, struct ui *ui, int y, int h) { draw_kind(d, ui, y, h, P_USERS); }
static void draw_tokens(const struct gw_data *d, struct ui *ui, int y, int h) { draw_kind(d, ui, y, h, P_TOKENS); }

const struct panel panel_models = { N_("Models"), sorts, count_models, draw_models, NULL };
const struct panel panel_users = { N_("Users"), sorts, count_users, draw_users, NULL };
const struct panel panel_tokens = { N_("Tokens"), sorts, count_tokens, draw_tokens, NULL };
