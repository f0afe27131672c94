/*
 * panel_overview: relayd at a glance: version, uptime, request, token and spend rates, in-flight
 * streams, error rate, each with a sparkline of the last minutes, and the writer's health. Also the
 * small formatting helpers every panel uses (gwtui.h).
 *
 * Callers: gwtui/main.c through panel_overview (struct panel), the other panels for the helpers.
 * Never: calls curses (screen.h only), changes the data, or computes rates (data.c does).
 */
#include "db.h"
#include "gwtui.h"
#include "i18n.h"
#include "screen.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const int ui_windows[] = { 60, 300, 900, 3600 };
const char *const ui_window_names[] = { "1m", "5m", "15m", "1h" };
const size_t ui_nwindows = sizeof ui_windows / sizeof ui_windows[0];

int ui_match(const char *filter, const char *s)
{
  if (!filter || !*filter)
    return 1;
  size_t fl = strlen(filter);
  for (; *s; s++) {
    size_t i = 0;
    while (i < fl && s[i] && tolower((unsigned char)s[i]) == tolower((unsigned char)filter[i]))
      i++;
    if (i == fl)
      return 1;
  }
  return 0;
}

void ui_fmt_count(char *buf, size_t len, double v)
{
  if (v < 0)
    snprintf(buf, len, "-");
  else if (v < 10 && v != (double)(long long)v)
    snprintf(buf, len, "%.2f", v);
  else if (v < 1000)
    snprintf(buf, len, "%.0f", v);
  else if (v < 1e6)
    snprintf(buf, len, "%.1fk", v / 1e3);
  else if (v < 1e9)
    snprintf(buf, len, "%.1fM", v / 1e6);
  else
    snprintf(buf, len, "%.1fG", v / 1e9);
}

void ui_fmt_ms(char *buf, size_t len, double ms)
{
  if (ms <= 0)
    snprintf(buf, len, "-");
  else if (ms < 10)
    snprintf(buf, len, "%.1fms", ms);
  else if (ms < 1000)
    snprintf(buf, len, "%.0fms", ms);
  else
    snprintf(buf, len, "%.1fs", ms / 1000);
}

static void fmt_dur(char *buf, size_t len, int64_t s)
{
  if (s < 60)
    snprintf(buf, len, "%llds", (long long)s);
  else if (s < 3600)
    snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else if (s < 86400)
    snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else
    snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

void ui_fmt_age(char *buf, size_t len, int64_t unix_s)
{
  if (unix_s <= 0) {
    snprintf(buf, len, _("never"));
    return;
  }
  int64_t age = (int64_t)time(NULL) - unix_s;
  char d[32];
  fmt_dur(d, sizeof d, age < 0 ? 0 : age);
  snprintf(buf, len, _("%s ago"), d);
}

void ui_scroll(size_t *sel, size_t *top, size_t n, int h)
{
  if (h < 1)
    h = 1;
  if (n == 0) {
    *sel = *top = 0;
    return;
  }
  if (*sel >= n)
    *sel = n - 1;
  if (*sel < *top)
    *top = *sel;
  if (*sel >= *top + (size_t)h)
    *top = *sel - (size_t)h + 1;
  if (*top + (size_t)h > n)
    *top = n > (size_t)h ? n - (size_t)h : 0;
}

static size_t count_none(const struct gw_data *d, const struct ui *ui)
{
  (void)d;
  (void)ui;
  return 0;
}

/* "label   value  sparkline" */
static void metric(int y, int w, const char *label, const char *value, enum scr_role vr,
                   const struct gw_ring *r)
{
  double v[GW_HIST];
  scr_text(y, 1, 13, SR_NORMAL, label);
  scr_text(y, 14, 11, vr, value);
  int sw = w - 27;
  if (sw > 0) {
    size_t n = gw_ring_copy(r, v, (size_t)sw);
    scr_spark(y, 26, sw, SR_SPARK, v, n);
  }
}

static void overview_draw(const struct gw_data *d, struct ui *ui, int y, int h)
{
  (void)ui;
  int w = scr_cols(), row = y, end = y + h;
  char a[64], b[64];
  if (d->connected) {
    fmt_dur(a, sizeof a, d->uptime_s);
    int x = scr_printf(row, 1, w - 2, SR_NORMAL, _("relayd %s  pid %lld  up %s  workers %lld  snapshot v%lld"),
                       d->version, (long long)d->pid, a, (long long)d->workers,
                       (long long)d->snapshot_version);
    if (d->draining)
      scr_text(row, 2 + x, w - 3 - x, SR_BAD, _("DRAINING"));
  } else {
    fmt_dur(a, sizeof a, (int64_t)(mono_now() - d->down_since));
    scr_printf(row, 1, w - 2, SR_BAD, _("relayd disconnected for %s: %s"), a, d->conn_err);
    scr_text(row + 1, 1, w - 2, SR_DIM, _("retrying every second; the numbers below are the last known"));
    row++;
  }
  row++;
  if (row < end)
    scr_printf(row++, 1, w - 2, SR_NORMAL, _("requests %lld total"), (long long)d->requests_total);
  if (row < end && (d->rt_sessions || d->rt_sessions_total))
    /* TRANSLATORS: Realtime API (WebSocket) sessions relayd has open now, and opened since it started */
    scr_printf(row++, 1, w - 2, SR_NORMAL, _("realtime sessions %lld open, %lld total"), (long long)d->rt_sessions,
               (long long)d->rt_sessions_total);
  row++;
  if (row + 5 <= end) {
    ui_fmt_count(a, sizeof a, d->rps);
    metric(row++, w, _("requests/s"), a, SR_NORMAL, &d->h_rps);
    ui_fmt_count(a, sizeof a, d->tps);
    metric(row++, w, _("tokens/s"), a, SR_NORMAL, &d->h_tps);
    snprintf(a, sizeof a, "$%.4f", d->spend_per_min);
    metric(row++, w, _("spend/min"), a, SR_NORMAL, &d->h_spend);
    snprintf(a, sizeof a, "%lld", (long long)d->in_flight);
    metric(row++, w, _("in flight"), a, SR_NORMAL, &d->h_inflight);
    if (d->err_pct < 0)
      snprintf(a, sizeof a, "-");
    else
      snprintf(a, sizeof a, "%.1f%%", d->err_pct);
    if (d->refused_1m > 0 && d->err_pct >= 0)   /* refusals count as errors; say how many */
      snprintf(a + strlen(a), sizeof a - strlen(a), " %lldr", (long long)d->refused_1m);
    metric(row++, w, _("errors (1m)"), a, d->err_pct >= 5 ? SR_BAD : d->err_pct > 0 ? SR_WARN : SR_OK,
           &d->h_err);
  }
  row++;
  if (row < end) {
    enum scr_role r = d->writer_backlog > 1000 ? SR_BAD : d->writer_backlog > 100 ? SR_WARN : SR_NORMAL;
    int x = scr_text(row, 1, 13, SR_NORMAL, _("database"));
    x = 14;
    x += scr_printf(row, x, w - x - 1, r, _("writer backlog %lld"), (long long)d->writer_backlog);
    ui_fmt_count(b, sizeof b, (double)d->writer_rows_total);
    x += scr_printf(row, x, w - x - 1, SR_NORMAL, _("   rows written %s"), b);
    scr_printf(row, x, w - x - 1, d->events_dropped ? SR_WARN : SR_NORMAL, _("   events dropped %lld"),
               (long long)d->events_dropped);
    row++;
  }
  if (row < end && (d->aff_entries || d->aff_hits || d->aff_misses)) {
    scr_text(row, 1, 13, SR_NORMAL, _("affinity"));
    scr_printf(row, 14, w - 15, SR_NORMAL, _("entries %lld   hits %lld   misses %lld"),
               (long long)d->aff_entries, (long long)d->aff_hits, (long long)d->aff_misses);
    row++;
  }
  if (row < end) {
    if (!d->db_url)
      scr_text(row, 14, w - 15, SR_DIM, _("no --db: channel status, priority and weight come from the database"));
    else if (d->db_err[0])
      scr_printf(row, 14, w - 15, SR_WARN, "%s", d->db_err);
    else {
      char shown[512];          /* never the password of a postgres:// URL */
      db_url_redact(d->db_url, shown, sizeof shown);
      scr_printf(row, 14, w - 15, SR_DIM, _("reading channels from %s (read only)"), shown);
    }
    row++;
  }
  row++;
  if (row < end) {
    size_t en = 0, dis = 0;
    for (size_t i = 0; i < d->nchans; i++)
      if (d->chans[i].status == STATUS_ENABLED)
        en++;
      else if (d->chans[i].status > STATUS_ENABLED)
        dis++;
    scr_printf(row++, 1, w - 2, SR_NORMAL, _("channels %zu (%zu enabled, %zu disabled)   events seen %llu"),
               d->nchans, en, dis, (unsigned long long)d->ev_seq);
  }
}

const struct panel panel_overview = {
  .name = N_("Overview"),
  .sorts = NULL,
  .count = count_none,
  .draw = overview_draw,
  .detail = NULL,
};
