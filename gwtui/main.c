/*
 * gwtui main: options, THE key table, the event loop, prompts and overlays.
 *
 * Owns: the command line (gwtui [--socket PATH] [--db URL] [--refresh-ms N]), the key table
 * (bindings[]: the help overlay and gwtui(1)'s key list come from it), the one poll() loop that
 * waits on the terminal, the admin sockets (data.c) and a running gwctl (action.c) with a tick of
 * --refresh-ms, the prompts (filter, number, confirmation: states of the loop, never a blocking
 * read), the help and detail overlays, the header, tabs and status line.
 * Callers: the shell.
 * Never: calls curses directly (screen.h), talks to relayd (data.c does) or changes anything itself
 * (every action runs gwctl through action.c), sleeps or blocks outside poll().
 */
#include "action.h"
#include "data.h"
#include "gwtui.h"
#include "installed.h"
#include "screen.h"
#include "i18n.h"
#include "paths.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef RELAY_VERSION
#define RELAY_VERSION "unknown"
#endif

static const struct panel *const panels[P_COUNT] = {
  [P_OVERVIEW] = &panel_overview, [P_CHANNELS] = &panel_channels, [P_MODELS] = &panel_models,
  [P_USERS] = &panel_users, [P_TOKENS] = &panel_tokens, [P_LOG] = &panel_log,
};

enum prompt_kind { PR_NONE, PR_FILTER, PR_NUMBER, PR_CONFIRM };

struct app {
  struct gw_data d;
  struct ui ui;
  struct action act;
  int quit;
  int help;                     /* help overlay open */
  size_t help_top;
  int detail;                   /* detail overlay open */
  /* the prompt on the status line */
  enum prompt_kind prompt;
  char label[160];
  char input[64];
  /* the gwctl command a prompt leads to */
  char args[8][128];
  int nargs;
  int changes;
  /* status line message */
  char msg[512];
  enum scr_role msg_role;
  double msg_at;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
  got_signal = sig;
}

static void say(struct app *a, enum scr_role r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(struct app *a, enum scr_role r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->msg, sizeof a->msg, _(fmt), ap);     /* in the user's language (i18n.h) */
  va_end(ap);
  a->msg_role = r;
  a->msg_at = mono_now();
}

/* ---- gwctl ---------------------------------------------------------------------------------------- */

/* Sets the gwctl command (args...) the next run_pending() starts. */
static void pending(struct app *a, int changes, ...)
{
  va_list ap;
  va_start(ap, changes);
  a->nargs = 0;
  const char *s;
  while ((s = va_arg(ap, const char *)) && a->nargs < 8)
    snprintf(a->args[a->nargs++], sizeof a->args[0], "%s", s);
  va_end(ap);
  a->changes = changes;
}

static void run_pending(struct app *a)
{
  const char *argv[9];
  char msg[512];
  for (int i = 0; i < a->nargs; i++)
    argv[i] = a->args[i];
  argv[a->nargs] = NULL;
  if (action_start(&a->act, argv, a->changes, msg, sizeof msg) != 0)
    say(a, SR_BAD, "%s", msg);
  else
    say(a, SR_STATUS, "%s", msg);
}

static void ask_confirm(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ask_confirm(struct app *a, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->label, sizeof a->label, _(fmt), ap);
  va_end(ap);
  a->prompt = PR_CONFIRM;
}

/* ---- key actions ---------------------------------------------------------------------------------- */

typedef void key_fn(struct app *a, int key);

static size_t rows_of(struct app *a)
{
  return panels[a->ui.panel]->count(&a->d, &a->ui);
}

static int page(void)
{
  int h = scr_rows() - 5;
  return h > 1 ? h : 1;
}

static void k_quit(struct app *a, int key) { (void)key; a->quit = 1; }
static void k_help(struct app *a, int key) { (void)key; a->help = !a->help; a->help_top = 0; }

static void k_filter(struct app *a, int key)
{
  (void)key;
  if (a->ui.panel == P_OVERVIEW) {
    say(a, SR_WARN, "nothing to filter here: / works on channels, models, users, tokens and the log");
    return;
  }
  snprintf(a->input, sizeof a->input, "%s", a->ui.filter[a->ui.panel]);
  snprintf(a->label, sizeof a->label, _("filter %s: "), _(panels[a->ui.panel]->name));
  a->prompt = PR_FILTER;
}

static void k_move(struct app *a, int key)
{
  size_t *sel = &a->ui.sel[a->ui.panel], n = rows_of(a);
  if (a->help) {                /* draw_help keeps help_top inside the list */
    size_t pg = (size_t)page();
    if ((key == SK_UP || key == 'k') && a->help_top > 0)
      a->help_top--;
    else if (key == SK_DOWN || key == 'j')
      a->help_top++;
    else if (key == SK_PGUP)
      a->help_top = a->help_top > pg ? a->help_top - pg : 0;
    else if (key == SK_PGDN)
      a->help_top += pg;
    else if (key == SK_HOME || key == 'g')
      a->help_top = 0;
    else if (key == SK_END || key == 'G')
      a->help_top = (size_t)-1 / 2;   /* draw_help brings it back to the last page */
    return;
  }
  switch (key) {
  case SK_UP: case 'k': if (*sel > 0) (*sel)--; break;
  case SK_DOWN: case 'j': if (*sel + 1 < n) (*sel)++; break;
  case SK_PGUP: *sel = *sel > (size_t)page() ? *sel - (size_t)page() : 0; break;
  case SK_PGDN: *sel += (size_t)page(); if (n && *sel >= n) *sel = n - 1; break;
  case SK_HOME: case 'g': *sel = 0; break;
  case SK_END: case 'G': *sel = n ? n - 1 : 0; break;
  default: break;
  }
}

static void k_panel(struct app *a, int key)
{
  a->detail = 0;
  if (key == SK_TAB || key == SK_RIGHT)
    a->ui.panel = (a->ui.panel + 1) % P_COUNT;
  else if (key == SK_BTAB || key == SK_LEFT)
    a->ui.panel = (a->ui.panel + P_COUNT - 1) % P_COUNT;
  else if (key >= '1' && key < '1' + P_COUNT)
    a->ui.panel = (enum panel_id)(key - '1');
}

static void k_detail(struct app *a, int key)
{
  (void)key;
  if (!panels[a->ui.panel]->detail || rows_of(a) == 0)
    return;
  if (a->ui.panel == P_LOG && !a->ui.paused) {   /* hold the row still while it is looked at */
    a->ui.paused = 1;
    a->ui.pause_seq = a->d.ev_seq;
  }
  a->detail = 1;
}

static void k_sort(struct app *a, int key)
{
  (void)key;
  const char *const *s = panels[a->ui.panel]->sorts;
  if (!s) {
    say(a, SR_WARN, "the %s panel is not sortable", _(panels[a->ui.panel]->name));
    return;
  }
  int n = 0;
  while (s[n])
    n++;
  a->ui.sort[a->ui.panel] = (a->ui.sort[a->ui.panel] + 1) % n;
  say(a, SR_STATUS, "sorted by %s", s[a->ui.sort[a->ui.panel]]);
}

static void k_pause(struct app *a, int key)
{
  (void)key;
  a->ui.paused = !a->ui.paused;
  a->ui.pause_seq = a->d.ev_seq;
  a->ui.sel[P_LOG] = a->ui.top[P_LOG] = 0;
  say(a, SR_STATUS, "%s", a->ui.paused ? _("live log paused (space resumes)") : _("live log resumed"));
}

static void k_window(struct app *a, int key)
{
  (void)key;
  a->ui.window = (int)((size_t)(a->ui.window + 1) % ui_nwindows);
  say(a, SR_STATUS, "window: last %s", ui_window_names[a->ui.window]);
}

/* The selected channel's name (or id) for gwctl, or NULL with a message. */
static const char *chan_ref(struct app *a, const struct gw_channel **out)
{
  static char ref[GW_NAME];
  const struct gw_channel *c = channels_selected(&a->d, &a->ui);
  if (!c) {
    say(a, SR_WARN, "no channel selected");
    return NULL;
  }
  if (c->name[0])
    snprintf(ref, sizeof ref, "%s", c->name);
  else
    snprintf(ref, sizeof ref, "%lld", (long long)c->id);
  if (out)
    *out = c;
  return ref;
}

static void k_ch_enable(struct app *a, int key)
{
  (void)key;
  const char *ref = chan_ref(a, NULL);
  if (ref) {
    pending(a, 1, "channel", "enable", ref, (const char *)NULL);
    run_pending(a);
  }
}

static void k_ch_disable(struct app *a, int key)
{
  (void)key;
  const char *ref = chan_ref(a, NULL);
  if (!ref)
    return;
  pending(a, 1, "channel", "disable", ref, "--yes", (const char *)NULL);
  ask_confirm(a, "disable channel %s? relayd stops using it [y/N] ", ref);
}

static void k_ch_test(struct app *a, int key)
{
  (void)key;
  const char *ref = chan_ref(a, NULL);
  if (ref) {
    pending(a, 1, "channel", "test", ref, (const char *)NULL);
    run_pending(a);
  }
}

static void k_ch_number(struct app *a, int key)
{
  const struct gw_channel *c;
  const char *ref = chan_ref(a, &c);
  if (!ref)
    return;
  const char *what = key == 'p' ? "priority" : "weight";
  pending(a, 1, "channel", "edit", ref, key == 'p' ? "--priority" : "--weight", "", (const char *)NULL);
  snprintf(a->label, sizeof a->label, "%s of channel %s: ", what, ref);
  snprintf(a->input, sizeof a->input, "%lld", (long long)(key == 'p' ? c->priority : c->weight));
  a->prompt = PR_NUMBER;
}

static void k_tok_disable(struct app *a, int key)
{
  (void)key;
  struct gw_top_row t;
  if (tokens_selected(&a->d, &a->ui, &t) != 0 || !t.key[0]) {
    say(a, SR_WARN, "no token selected");
    return;
  }
  if (!t.user[0] && t.key[0] == '(') {     /* data_top's row of requests refused without a valid key */
    say(a, SR_WARN, "these requests had no valid key: there is no token to disable");
    return;
  }
  if (t.user[0])
    pending(a, 1, "token", "disable", t.key, "--user", t.user, (const char *)NULL);
  else
    pending(a, 1, "token", "disable", t.key, (const char *)NULL);
  ask_confirm(a, "disable token %s of user %s? its key stops working [y/N] ", t.key,
              t.user[0] ? t.user : "?");
}

static void k_reload(struct app *a, int key)
{
  (void)key;
  pending(a, 1, "reload", (const char *)NULL);
  run_pending(a);
}

static void k_drain(struct app *a, int key)
{
  (void)key;
  pending(a, 0, "drain", (const char *)NULL);
  ask_confirm(a, "drain relayd? new requests get 503 until undrain (U) [y/N] ");
}

static void k_undrain(struct app *a, int key)
{
  (void)key;
  pending(a, 0, "undrain", (const char *)NULL);
  run_pending(a);
}

#define ALL 0u
#define CH PANEL_BIT(P_CHANNELS)
#define TOPS (PANEL_BIT(P_MODELS) | PANEL_BIT(P_USERS) | PANEL_BIT(P_TOKENS))

/* THE key table: the loop dispatches from it and the help overlay lists it. */
static const struct binding {
  int keys[3];                  /* 0 ends the list */
  unsigned panels;              /* PANEL_BIT()s where the key works; ALL: everywhere */
  key_fn *fn;
  const char *help;
} bindings[] = {
  { { 'q' }, ALL, k_quit, N_("quit (closes an overlay first)") },
  { { '?' }, ALL, k_help, N_("this help") },
  { { SK_TAB, SK_RIGHT }, ALL, k_panel, N_("next panel") },
  { { SK_BTAB, SK_LEFT }, ALL, k_panel, N_("previous panel") },
  { { '1', '2', '3' }, ALL, k_panel, N_("Overview, Channels, Models") },
  { { '4', '5', '6' }, ALL, k_panel, N_("Users, Tokens, Log") },
  { { SK_UP, 'k' }, ALL, k_move, N_("select the row above") },
  { { SK_DOWN, 'j' }, ALL, k_move, N_("select the row below") },
  { { SK_PGUP, SK_PGDN }, ALL, k_move, N_("a page up / down") },
  { { SK_HOME, 'g' }, ALL, k_move, N_("first row") },
  { { SK_END, 'G' }, ALL, k_move, N_("last row") },
  { { SK_ENTER }, CH | PANEL_BIT(P_LOG), k_detail, N_("details of the selected row (Esc, q close)") },
  { { '/' }, ALL, k_filter, N_("filter rows by text (Enter keeps, Esc clears)") },
  { { 's' }, CH | TOPS, k_sort, N_("next sort column") },
  { { ' ' }, PANEL_BIT(P_LOG), k_pause, N_("pause / resume the live log") },
  { { 'w' }, TOPS, k_window, N_("window: 1m, 5m, 15m, 1h") },
  { { 'e' }, CH, k_ch_enable, N_("enable the channel (gwctl channel enable)") },
  { { 'd' }, CH, k_ch_disable, N_("disable channel, asks first (gwctl channel disable)") },
  { { 't' }, CH, k_ch_test, N_("test the channel upstream (gwctl channel test)") },
  { { 'p' }, CH, k_ch_number, N_("set the channel priority (gwctl channel edit)") },
  { { 'w' }, CH, k_ch_number, N_("set the channel weight (gwctl channel edit)") },
  { { 'd' }, PANEL_BIT(P_TOKENS), k_tok_disable, N_("disable the token, asks first (gwctl token disable)") },
  { { 'R' }, ALL, k_reload, N_("relayd reloads the database (gwctl reload)") },
  { { 'D' }, ALL, k_drain, N_("drain relayd, asks first (gwctl drain)") },
  { { 'U' }, ALL, k_undrain, N_("end a drain (gwctl undrain)") },
};
#define NBINDINGS (sizeof bindings / sizeof bindings[0])

static const struct binding *find_binding(enum panel_id p, int key)
{
  for (size_t i = 0; i < NBINDINGS; i++) {
    if (bindings[i].panels != ALL && !(bindings[i].panels & PANEL_BIT(p)))
      continue;
    for (int k = 0; k < 3 && bindings[i].keys[k]; k++)
      if (bindings[i].keys[k] == key)
        return &bindings[i];
  }
  return NULL;
}

static void binding_keys(const struct binding *b, char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (int k = 0; k < 3 && b->keys[k]; k++) {
    char name[16];
    int n = snprintf(buf + used, len - used, "%s%s", k ? " " : "", scr_key_name(b->keys[k], name, sizeof name));
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

static void binding_where(const struct binding *b, char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  if (b->panels == ALL) {
    snprintf(buf, len, "all");
    return;
  }
  for (int p = 0; p < P_COUNT; p++) {
    if (!(b->panels & PANEL_BIT(p)))
      continue;
    int n = snprintf(buf + used, len - used, "%s%d", used ? "," : "", p + 1);
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

/* ---- keys ----------------------------------------------------------------------------------------- */

static void prompt_key(struct app *a, int key)
{
  size_t len = strlen(a->input);
  if (a->prompt == PR_CONFIRM) {
    a->prompt = PR_NONE;
    if (key == 'y' || key == 'Y')
      run_pending(a);
    else
      say(a, SR_STATUS, "cancelled: nothing changed");
    return;
  }
  if (key == SK_ESC) {
    if (a->prompt == PR_FILTER)
      a->ui.filter[a->ui.panel][0] = '\0';
    else
      say(a, SR_STATUS, "cancelled: nothing changed");
    a->prompt = PR_NONE;
    return;
  }
  if (key == SK_ENTER) {
    enum prompt_kind k = a->prompt;
    a->prompt = PR_NONE;
    if (k == PR_NUMBER) {
      if (!len) {
        say(a, SR_STATUS, "cancelled: nothing changed");
        return;
      }
      snprintf(a->args[a->nargs - 1], sizeof a->args[0], "%s", a->input);
      run_pending(a);
    }
    return;
  }
  if (key == SK_BACKSPACE) {
    if (len)
      a->input[len - 1] = '\0';
  } else if (key >= 0x20 && key < 0x7f && len + 1 < sizeof a->input) {
    if (a->prompt == PR_NUMBER && !(key >= '0' && key <= '9') && !(key == '-' && len == 0))
      return;
    a->input[len] = (char)key;
    a->input[len + 1] = '\0';
  }
  if (a->prompt == PR_FILTER) {            /* the filter applies while it is typed */
    snprintf(a->ui.filter[a->ui.panel], sizeof a->ui.filter[0], "%s", a->input);
    a->ui.sel[a->ui.panel] = a->ui.top[a->ui.panel] = 0;
  }
}

static void on_key(struct app *a, int key)
{
  if (a->prompt != PR_NONE) {
    prompt_key(a, key);
    return;
  }
  if (a->help || a->detail) {
    if (key == SK_ESC || key == 'q' || key == SK_ENTER || (a->help && key == '?')) {
      a->help = a->detail = 0;
      return;
    }
    if (a->help && key != SK_UP && key != SK_DOWN && key != 'j' && key != 'k' && key != SK_PGUP &&
        key != SK_PGDN && key != SK_HOME && key != SK_END && key != 'g' && key != 'G')
      return;
  }
  if (key == SK_ESC) {
    return;
  }
  const struct binding *b = find_binding(a->ui.panel, key);
  if (b)
    b->fn(a, key);
  else if (key != SK_RESIZE) {
    char name[16];
    if (find_binding(P_CHANNELS, key) || find_binding(P_TOKENS, key) || find_binding(P_LOG, key))
      say(a, SR_WARN, "'%s' does nothing on the %s panel (? lists the keys)",
          scr_key_name(key, name, sizeof name), _(panels[a->ui.panel]->name));
  }
}

/* ---- drawing -------------------------------------------------------------------------------------- */

static void draw_header(struct app *a)
{
  int w = scr_cols();
  char clock[16], left[160], right[160];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(clock, sizeof clock, "%H:%M:%S", &tm);
  scr_fill(0, 0, w, SR_HEADER);
  snprintf(left, sizeof left, " relay gwtui %s", RELAY_VERSION);
  int x = scr_text(0, 0, w, SR_HEADER, left);
  if (a->d.connected)
    snprintf(right, sizeof right, _(" | relayd %s | connected%s "), a->d.version,
             a->d.draining ? _(" | DRAINING") : "");
  else
    snprintf(right, sizeof right, "%s", _(" | disconnected "));
  scr_text(0, x, w - x - 10, a->d.connected && !a->d.draining ? SR_HEADER : SR_BAD, right);
  scr_text(0, w - 9, 9, SR_HEADER, clock);
}

static void draw_tabs(struct app *a)
{
  int w = scr_cols(), x = 0;
  for (int p = 0; p < P_COUNT && x < w; p++) {
    char t[32];
    snprintf(t, sizeof t, " %d %s ", p + 1, _(panels[p]->name));
    x += scr_text(1, x, w - x, p == (int)a->ui.panel ? SR_TAB_ON : SR_TAB, t);
  }
  char flags[160] = "";
  const char *f = a->ui.filter[a->ui.panel];
  if (*f)
    snprintf(flags, sizeof flags, " /%s", f);
  if (a->ui.paused)
    snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "%s", _(" [paused]"));
  if (*flags && x + 2 < w)
    scr_text(1, x + 1, w - x - 1, SR_WARN, flags);
}

static void draw_status(struct app *a)
{
  int w = scr_cols(), y = scr_rows() - 1;
  scr_fill(y, 0, w, SR_STATUS);
  if (a->prompt != PR_NONE) {
    int x = scr_text(y, 0, w, SR_STATUS, a->label);
    if (a->prompt != PR_CONFIRM) {
      x += scr_text(y, x, w - x, SR_STATUS, a->input);
      scr_text(y, x, w - x, SR_SELECT, " ");
    }
    return;
  }
  if (action_running(&a->act)) {
    scr_printf(y, 0, w, SR_STATUS, _("running: gwctl %s ..."), a->act.what);
    return;
  }
  if (a->msg[0] && mono_now() - a->msg_at < 15) {
    scr_text(y, 0, w, a->msg_role == SR_BAD ? SR_BAD : SR_STATUS, a->msg);
    return;
  }
  const char *hint = a->ui.panel == P_CHANNELS ? _("e enable  d disable  t test  p prio  w weight  ")
                     : a->ui.panel == P_TOKENS ? _("d disable token  w window  s sort  ")
                     : a->ui.panel == P_LOG ? _("space pause  Enter detail  ") : "";
  scr_printf(y, 0, w, SR_STATUS, _("q quit  ? help  / filter  Tab panel  %sR reload  D drain"), hint);
}

static void draw_help(struct app *a, int y, int h)
{
  int w = scr_cols(), bw = w - 4 > 96 ? 96 : w - 4, bx = (w - bw) / 2;
  scr_box(y, bx, h, bw, SR_NORMAL);
  scr_text(y, bx + 2, bw - 4, SR_TITLE, _(" gwtui keys (from the key table; ? or Esc closes) "));
  char legend[160];
  size_t used = 0;
  legend[0] = '\0';
  for (int p = 0; p < P_COUNT; p++) {
    int n = snprintf(legend + used, sizeof legend - used, "%s%d %s", p ? "  " : _("panels: "), p + 1,
                     _(panels[p]->name));
    if (n > 0 && (size_t)n < sizeof legend - used)
      used += (size_t)n;
  }
  scr_text(y + 1, bx + 2, bw - 4, SR_DIM, legend);
  y++;
  h--;
  int rows = h - 2;
  if ((size_t)rows < NBINDINGS)   /* too short for all: the last line says where and how to scroll */
    rows = h - 3;
  if (rows < 1)
    rows = 1;
  if (a->help_top + (size_t)rows > NBINDINGS)
    a->help_top = NBINDINGS > (size_t)rows ? NBINDINGS - (size_t)rows : 0;
  size_t last = a->help_top + (size_t)rows < NBINDINGS ? a->help_top + (size_t)rows : NBINDINGS;
  if (a->help_top > 0 || last < NBINDINGS)
    scr_printf(y + h - 2, bx + 2, bw - 4, SR_WARN, _("keys %zu-%zu of %zu%s%s   j/k line  PgUp/PgDn page  g/G ends"),
               a->help_top + 1, last, (size_t)NBINDINGS, a->help_top > 0 ? _("  ^ more above") : "",
               last < NBINDINGS ? _("  v more below") : "");
  for (int r = 0; r < rows && a->help_top + (size_t)r < NBINDINGS; r++) {
    const struct binding *b = &bindings[a->help_top + (size_t)r];
    char keys[48], where[64];
    binding_keys(b, keys, sizeof keys);
    binding_where(b, where, sizeof where);
    scr_printf(y + 1 + r, bx + 2, bw - 4, SR_NORMAL, "%-11s %-8s %s", keys, where, _(b->help));
  }
}

static void draw(struct app *a)
{
  int w = scr_cols(), h = scr_rows();
  scr_frame_begin();
  if (w < 40 || h < 10) {
    scr_printf(0, 0, w, SR_BAD, _("gwtui needs 40x10 at least (this is %dx%d)"), w, h);
    scr_frame_end();
    return;
  }
  draw_header(a);
  draw_tabs(a);
  int py = 2, ph = h - 3;
  panels[a->ui.panel]->draw(&a->d, &a->ui, py, ph);
  if (a->detail && panels[a->ui.panel]->detail)
    panels[a->ui.panel]->detail(&a->d, &a->ui, py + 1, ph - 1);
  if (a->help)
    draw_help(a, 1, h - 2);
  draw_status(a);
  scr_frame_end();
}

/* ---- main ----------------------------------------------------------------------------------------- */

/* Tab-separated "keys<TAB>panels<TAB>help" lines: the key table for gwtui(1) and the tests. */
static void list_keys(void)
{
  for (size_t i = 0; i < NBINDINGS; i++) {
    char keys[48], where[64];
    binding_keys(&bindings[i], keys, sizeof keys);
    binding_where(&bindings[i], where, sizeof where);
    printf("%s\t%s\t%s\n", keys, where, bindings[i].help);
  }
}

static void usage(FILE *f)
{
  fprintf(f,
          _("usage: gwtui [--socket PATH] [--db URL] [--refresh-ms N]\n"
            "live dashboard of relayd: overview, channels, top models/users/tokens, request log\n"
            "  --socket PATH     relayd's admin socket (default: $RELAY_SOCKET; unset: the installed\n"
            "                    relayd's %s when it exists)\n"
            "  --db URL          the database, read only, for channel status/priority/weight/tests\n"
            "                    (default: $RELAY_DB; unset: %s when it exists)\n"
            "  --refresh-ms N    how often to ask relayd for status and stats (100..60000, default 1000)\n"
            "  --list-keys       print the key table (keys, panels, what they do) and exit\n"
            "  --help, --version\n"
            "actions run gwctl (next to gwtui, else on PATH) with --db/--socket passed through.\n"
            "keys: press ? in gwtui; see gwtui(1)\n"),
          /* i18n: not translated: the install paths */
          RELAY_RUNDIR "/admin.sock", RELAY_STATEDIR "/relay.db");
}

int main(int argc, char **argv)
{
  static const struct option lo[] = {
    { "socket", required_argument, NULL, 's' },
    { "db", required_argument, NULL, 'd' },
    { "refresh-ms", required_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "list-keys", no_argument, NULL, 'L' },
    { 0, 0, 0, 0 },
  };
  /* RELAY_DB / RELAY_SOCKET, else the installed relayd's files when they exist: gwctl's rule
   * (common/installed.h); --socket / --db override */
  struct relay_paths paths;
  relay_paths_default(&paths);
  const char *sock = paths.socket, *db = paths.db_url;
  long refresh = 1000;
  int c;
  i18n_init();                  /* LC_CTYPE (wide characters) and LC_MESSAGES; LC_NUMERIC stays C */
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
    switch (c) {
    case 's': sock = optarg; break;
    case 'd': db = optarg; break;
    case 'r': {
      char *end;
      errno = 0;
      refresh = strtol(optarg, &end, 10);
      if (errno || *end || end == optarg || refresh < 100 || refresh > 60000) {
        fprintf(stderr, _("gwtui: --refresh-ms must be a number from 100 to 60000, not '%s'\n"), optarg);
        return 2;
      }
      break;
    }
    case 'h': usage(stdout); return 0;
    case 'V': printf("gwtui %s\n", RELAY_VERSION); return 0;
    case 'L': list_keys(); return 0;
    case ':':
      fprintf(stderr, _("gwtui: option '%s' needs a value (see gwtui --help)\n"), argv[optind - 1]);
      return 2;
    default:
      fprintf(stderr, _("gwtui: unknown option '%s' (see gwtui --help)\n"), argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, _("gwtui: unexpected argument '%s' (see gwtui --help)\n"), argv[optind]);
    return 2;
  }

  static struct app app;        /* big (event ring pointers, history): not on the stack */
  struct app *a = &app;
  data_init(&a->d, sock && *sock ? sock : NULL, db, (int)refresh);
  if (!a->d.ev) {
    fprintf(stderr, _("gwtui: out of memory\n"));
    return 1;
  }
  action_init(&a->act, db, sock);

  struct sigaction sa = { .sa_handler = on_signal };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  const char *nc = getenv("NO_COLOR");
  if (screen_open(nc && *nc) != 0) {
    data_free(&a->d);
    return 1;
  }
  data_tick(&a->d);
  draw(a);
  while (!a->quit && !got_signal) {
    struct pollfd pfd[4];
    int n = 0;
    pfd[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
    int nd = data_pollfds(&a->d, pfd + n);
    n += nd;
    int na = action_pollfd(&a->act, pfd + n);
    n += na;
    int rc = poll(pfd, (nfds_t)n, data_timeout_ms(&a->d));
    if (rc < 0 && errno != EINTR)
      break;
    if (rc > 0) {
      if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
        break;                          /* the terminal went away (ssh dropped) */
      data_handle(&a->d, pfd + 1, nd);
      char msg[512];
      int ok;
      if (na && action_handle(&a->act, &pfd[1 + nd], msg, sizeof msg, &ok)) {
        say(a, ok ? SR_STATUS : SR_BAD, "%s", msg);
        if (a->act.changes)
          data_db_refresh(&a->d);
      }
    }
    /* keys (and KEY_RESIZE after SIGWINCH interrupted poll) */
    int key;
    while ((key = scr_key()) != SK_NONE && !a->quit)
      on_key(a, key);
    data_tick(&a->d);
    draw(a);
  }
  screen_close();
  action_cancel(&a->act);
  data_free(&a->d);
  return 0;
}
