/*
 * gwtui: what main.c and the panels share: the UI state and the panel interface.
 *
 * Owns: struct ui (current panel, selection, sort, filter, pause, window, overlays) and
 * struct panel (the functions each gwtui/panel_*.c file provides).
 * Callers: gwtui/main.c and gwtui/panel_*.c.
 * Never: declares curses types (screen.h is the only door to the terminal) or anything that
 * changes relayd (action.h runs gwctl for that).
 */
#ifndef GWTUI_H
#define GWTUI_H

#include "data.h"
#include "i18n.h"

#include <stddef.h>
#include <stdint.h>

enum panel_id { P_OVERVIEW, P_CHANNELS, P_MODELS, P_USERS, P_TOKENS, P_LOG, P_COUNT };
#define PANEL_BIT(p) (1u << (p))

struct ui {
  enum panel_id panel;
  size_t sel[P_COUNT];          /* selected row of each panel */
  size_t top[P_COUNT];          /* first row shown */
  int sort[P_COUNT];            /* index into the panel's sort keys */
  char filter[P_COUNT][64];     /* rows must contain this (case-insensitive); "" = all */
  int paused;                   /* live log frozen at pause_seq */
  uint64_t pause_seq;
  int window;                   /* index into ui_windows[] (top consumers) */
};

extern const int ui_windows[];         /* seconds */
extern const char *const ui_window_names[];
extern const size_t ui_nwindows;

struct panel {
  const char *name;
  const char *const *sorts;     /* names of the sort keys, NULL-terminated; NULL: not sortable */
  /* rows that can be selected (after the filter) */
  size_t (*count)(const struct gw_data *d, const struct ui *ui);
  /* draws into lines y .. y+h-1, the whole width */
  void (*draw)(const struct gw_data *d, struct ui *ui, int y, int h);
  /* draws the selected row's details in a box inside lines y .. y+h-1; NULL: no detail view */
  void (*detail)(const struct gw_data *d, const struct ui *ui, int y, int h);
};

extern const struct panel panel_overview, panel_channels, panel_models, panel_users, panel_tokens,
    panel_log;

/* Selections the actions need (panel_channels.c, panel_top.c). NULL / -1 when nothing is selected. */
const struct gw_channel *channels_selected(const struct gw_data *d, const struct ui *ui);
int tokens_selected(const struct gw_data *d, const struct ui *ui, struct gw_top_row *out);

/* Helpers for the panels (panel_overview.c). */
int ui_match(const char *filter, const char *s);                   /* case-insensitive substring */
void ui_fmt_count(char *buf, size_t len, double v);                /* 1234 -> 1.2k */
void ui_fmt_ms(char *buf, size_t len, double ms);                  /* 12ms, 1.2s */
void ui_fmt_age(char *buf, size_t len, int64_t unix_s);            /* 3m ago, never */
/* Keeps sel inside [0, n) and top such that sel is one of the h rows shown. */
void ui_scroll(size_t *sel, size_t *top, size_t n, int h);

#endif
