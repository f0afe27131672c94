/*
 * panel_log: the live request log, newest first: time, token, model, channel, status, tokens,
 * latency, end reason; filtered by the / text, frozen while paused, and the detail of one request.
 * Refusals (relayd answered itself: 401, 403, 429, 503 ...) are shown dimmed with "refused" and
 * the error code; an error answer's message (a 502's: what the upstream said) is in the detail.
 *
 * Callers: gwtui/main.c through panel_log.
 * Never: calls curses (screen.h only) or keeps events of its own (data.c's ring holds them).
 */
#include "quota.h"
#include "gwtui.h"
#include "screen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *channel_name(const struct gw_data *d, int64_t id, char *buf, size_t len)
{
  const struct gw_channel *c = data_channel(d, id);
  if (c && c->name[0])
    return c->name;
  if (id <= 0)
    return "-";
  snprintf(buf, len, "#%lld", (long long)id);
  return buf;
}

static int matches(const struct gw_data *d, const char *f, const struct gw_event *e)
{
  char st[16], cb[32];
  if (!f[0])
    return 1;
  snprintf(st, sizeof st, "%d", e->status);
  return ui_match(f, e->token) || ui_match(f, e->model) || ui_match(f, e->user)
         || ui_match(f, e->end_reason) || ui_match(f, e->request_id) || ui_match(f, st)
         || ui_match(f, e->reason) || ui_match(f, e->error)
         || ui_match(f, channel_name(d, e->channel_id, cb, sizeof cb));
}

/* The events shown, newest first (caller frees *out). */
static size_t view(const struct gw_data *d, const struct ui *ui, const struct gw_event ***out)
{
  size_t total = data_event_count(d), n = 0;
  const struct gw_event **v = malloc((total + 1) * sizeof *v);
  *out = v;
  if (!v)
    return 0;
  uint64_t max = ui->paused ? ui->pause_seq : 0;
  if (ui->paused && max == 0)
    return 0;
  for (size_t i = 0; i < total; i++) {
    const struct gw_event *e = data_event(d, max, i);
    if (!e)
      break;
    if (matches(d, ui->filter[P_LOG], e))
      v[n++] = e;
  }
  return n;
}

static size_t count(const struct gw_data *d, const struct ui *ui)
{
  const struct gw_event **v;
  size_t n = view(d, ui, &v);
  free(v);
  return n;
}

static void hms(int64_t ts_ms, char *buf, size_t len)
{
  time_t t = (time_t)(ts_ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(buf, len, "%H:%M:%S", &tm);
}

static void draw(const struct gw_data *d, struct ui *ui, int y, int h)
{
  int w = scr_cols();
  /* 80 columns fit "upstream_error" as the end reason; up to 100 the width goes to the end (a
   * refusal's "refused invalid_api_key"), beyond to the model */
  int mw = 14 + (w > 100 ? w - 100 : 0);
  if (mw > 40)
    mw = 40;
  char hdr[256];
  snprintf(hdr, sizeof hdr, " %-8s %-10s %-*s %-10s %3s %6s %6s %s", "TIME", "TOKEN", mw, "MODEL", "CHANNEL",
           "ST", "TOKENS", "MS", "END");
  scr_fill(y, 0, w, SR_TITLE);
  scr_text(y, 0, w, SR_TITLE, hdr);
  const struct gw_event **v;
  size_t n = view(d, ui, &v);
  int rows = h - 1;
  ui_scroll(&ui->sel[P_LOG], &ui->top[P_LOG], n, rows);
  if (n == 0)
    scr_text(y + 2, 2, w - 4, SR_DIM,
             d->ev_seq ? _("no request matches the filter") : _("waiting for requests (live from relayd)"));
  for (int r = 0; r < rows && ui->top[P_LOG] + (size_t)r < n; r++) {
    size_t i = ui->top[P_LOG] + (size_t)r;
    const struct gw_event *e = v[i];
    int sel = i == ui->sel[P_LOG];
    int bad = strcmp(e->end_reason, "done") != 0 || e->status >= 400;
    enum scr_role role = sel ? SR_SELECT : e->refused ? SR_DIM : bad ? SR_BAD : SR_NORMAL;
    char t[16], tok[16], lat[16], cb[32];
    hms(e->ts_ms, t, sizeof t);
    ui_fmt_count(tok, sizeof tok, (double)(e->prompt_tokens + e->completion_tokens));
    if (e->elapsed_ms <= 0)
      snprintf(lat, sizeof lat, "-");
    else
      snprintf(lat, sizeof lat, e->elapsed_ms < 10 ? "%.1f" : "%.0f", e->elapsed_ms);
    if (sel)
      scr_fill(y + 1 + r, 0, w, SR_SELECT);
    /* a refusal says which ("refused invalid_api_key"); another error answer its code */
    char end[64];
    if (e->reason[0] && strcmp(e->reason, e->end_reason) != 0)
      snprintf(end, sizeof end, "%s %s", e->end_reason, e->reason);
    else
      snprintf(end, sizeof end, "%s", e->end_reason);
    scr_printf(y + 1 + r, 0, w, role, " %-8s %-10.10s %-*.*s %-10.10s %3d %6s %6s %s%s", t,
               e->token[0] ? e->token : "-", mw, mw, e->model[0] ? e->model : "-",
               channel_name(d, e->channel_id, cb, sizeof cb), e->status, tok, lat, end,
               /* i18n: not translated: the END column's value, beside end reasons (done, upstream_error) */
               e->stream ? " stream" : "");
  }
  free(v);
}

static void detail(const struct gw_data *d, const struct ui *ui, int y, int h)
{
  const struct gw_event **v;
  size_t n = view(d, ui, &v);
  const struct gw_event *e = ui->sel[P_LOG] < n ? v[ui->sel[P_LOG]] : NULL;
  free(v);
  if (!e)
    return;
  int w = scr_cols(), bw = w > 76 ? 72 : w - 4, bx = (w - bw) / 2, bh = h > 18 ? 18 : h;
  int x = bx + 2, cw = bw - 4, r = y + 1;
  char t[32], a[32], b[32], cb[32];
  time_t secs = (time_t)(e->ts_ms / 1000);
  struct tm tm;
  localtime_r(&secs, &tm);
  strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S", &tm);
  scr_box(y, bx, bh, bw, SR_NORMAL);
  scr_printf(y, bx + 2, cw, SR_TITLE, _(" request %s "), e->request_id);
  scr_printf(r++, x, cw, SR_NORMAL, _("time        %s.%03lld"), t, (long long)(e->ts_ms % 1000));
  scr_printf(r++, x, cw, SR_NORMAL, _("user        %s"), e->user);
  scr_printf(r++, x, cw, SR_NORMAL, _("token       %s"), e->token);
  scr_printf(r++, x, cw, SR_NORMAL, _("model       %s"), e->model);
  scr_printf(r++, x, cw, SR_NORMAL, _("channel     %s (id %lld)"), channel_name(d, e->channel_id, cb, sizeof cb),
             (long long)e->channel_id);
  scr_printf(r++, x, cw, SR_NORMAL, _("status      %d   %s"), e->status, e->stream ? _("stream") : _("not streamed"));
  scr_printf(r++, x, cw, SR_NORMAL, _("tokens      %lld prompt + %lld completion"),
             (long long)e->prompt_tokens, (long long)e->completion_tokens);
  scr_printf(r++, x, cw, SR_NORMAL, _("quota       %lld ($%.6f)"), (long long)e->quota, (double)e->quota / QUOTA_PER_USD);
  ui_fmt_ms(a, sizeof a, e->elapsed_ms);
  ui_fmt_ms(b, sizeof b, e->first_byte_ms);
  scr_printf(r++, x, cw, SR_NORMAL, _("latency     %s   first byte %s"), a, b);
  scr_printf(r++, x, cw, strcmp(e->end_reason, "done") ? SR_BAD : SR_NORMAL, _("end reason  %s%s"), e->end_reason,
             e->refused ? _("   (relayd answered itself: nothing reached an upstream)") : "");
  if (e->reason[0])
    scr_printf(r++, x, cw, SR_BAD, _("error       %s"), e->reason);
  /* the message relayd sent, on up to three lines (a 502's holds the upstream's own words) */
  size_t len = strlen(e->error), off = 0, per = cw > 12 ? (size_t)cw - 12 : 1;
  for (int k = 0; off < len && k < 3 && r < y + bh - 2; k++, off += per)
    scr_printf(r++, x, cw, SR_BAD, "%s%.*s", k ? "            " : _("message     "), (int)per, e->error + off);
  r++;
  if (r < y + bh - 1)
    scr_text(r, x, cw, SR_DIM, _("Esc close   (the log is paused; space resumes)"));
}

const struct panel panel_log = {
  .name = N_("Log"),
  .sorts = NULL,
  .count = count,
  .draw = draw,
  .detail = detail,
};
