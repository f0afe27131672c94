/*
 * screen: the only file of gwtui that includes curses.h (see screen.h for the contract).
 *
 * Owns: initscr/endwin, the colour scheme, clipping text to columns (UTF-8 aware through the
 * locale), sparklines (block characters on a UTF-8 terminal, ASCII otherwise), key translation.
 * Callers: gwtui/main.c and gwtui/panel_*.c through screen.h.
 * Never: calls refresh() or wrefresh() (one doupdate per frame, so nothing flickers), blocks on
 * input, or knows what the text means.
 */
#include "screen.h"
#include "i18n.h"

#include <curses.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wchar.h>

static int started;
static int mono;
static int utf8;
static attr_t role_attr[SR_NROLES];

static void scheme(void)
{
  /* monochrome: attributes only, readable on any terminal */
  static const attr_t plain[SR_NROLES] = {
    [SR_NORMAL] = A_NORMAL, [SR_HEADER] = A_REVERSE, [SR_TAB] = A_NORMAL,
    [SR_TAB_ON] = A_REVERSE | A_BOLD, [SR_TITLE] = A_BOLD | A_UNDERLINE, [SR_OK] = A_NORMAL,
    [SR_WARN] = A_BOLD, [SR_BAD] = A_BOLD | A_REVERSE, [SR_DIM] = A_DIM,
    [SR_SELECT] = A_REVERSE, [SR_STATUS] = A_REVERSE, [SR_SPARK] = A_NORMAL,
  };
  memcpy(role_attr, plain, sizeof role_attr);
  if (mono)
    return;
  use_default_colors();
  struct { enum scr_role r; short fg, bg; attr_t extra; } c[] = {
    { SR_HEADER, COLOR_BLACK, COLOR_CYAN, 0 },
    { SR_TAB, COLOR_CYAN, -1, 0 },
    { SR_TAB_ON, COLOR_BLACK, COLOR_GREEN, A_BOLD },
    { SR_TITLE, COLOR_BLACK, COLOR_GREEN, 0 },
    { SR_OK, COLOR_GREEN, -1, 0 },
    { SR_WARN, COLOR_YELLOW, -1, A_BOLD },
    { SR_BAD, COLOR_RED, -1, A_BOLD },
    { SR_SELECT, COLOR_BLACK, COLOR_CYAN, 0 },
    { SR_STATUS, COLOR_BLACK, COLOR_WHITE, 0 },
    { SR_SPARK, COLOR_CYAN, -1, 0 },
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    short pair = (short)(i + 1);
    if (init_pair(pair, c[i].fg, c[i].bg) == OK)
      role_attr[c[i].r] = COLOR_PAIR(pair) | c[i].extra;
  }
}

int screen_open(int want_mono)
{
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    fprintf(stderr, _("gwtui: standard input and output must be a terminal\n"));
    return -1;
  }
  const char *cs = nl_langinfo(CODESET);
  utf8 = cs && strcasecmp(cs, "UTF-8") == 0;
  if (!getenv("ESCDELAY"))
    set_escdelay(25);
  if (!initscr()) {
    fprintf(stderr, _("gwtui: cannot start curses on this terminal (TERM=%s)\n"),
            getenv("TERM") ? getenv("TERM") : "");
    return -1;
  }
  started = 1;
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  curs_set(0);
  mono = want_mono || !has_colors();
  if (!mono && start_color() != OK)
    mono = 1;
  scheme();
  return 0;
}

void screen_close(void)
{
  if (!started)
    return;
  curs_set(1);
  endwin();
  started = 0;
}

int scr_cols(void) { return COLS; }
int scr_rows(void) { return LINES; }
int scr_is_mono(void) { return mono; }

void scr_frame_begin(void)
{
  erase();
}

void scr_frame_end(void)
{
  wnoutrefresh(stdscr);
  doupdate();
}

/* Bytes of s that fit in w columns; *cols gets the columns they take. */
static size_t fit(const char *s, int w, int *cols)
{
  mbstate_t st;
  size_t i = 0, len = strlen(s);
  int used = 0;
  memset(&st, 0, sizeof st);
  while (i < len) {
    wchar_t wc;
    size_t n = mbrtowc(&wc, s + i, len - i, &st);
    int cw;
    if (n == (size_t)-1 || n == (size_t)-2) {  /* not valid here: count the byte as one column */
      memset(&st, 0, sizeof st);
      n = 1;
      cw = 1;
    } else {
      if (n == 0)
        break;
      cw = wcwidth(wc);
      if (cw < 0)
        cw = 1;
    }
    if (used + cw > w)
      break;
    used += cw;
    i += n;
  }
  *cols = used;
  return i;
}

int scr_text(int y, int x, int w, enum scr_role r, const char *s)
{
  if (y < 0 || y >= LINES || x < 0 || x >= COLS || w <= 0)
    return 0;
  if (w > COLS - x)
    w = COLS - x;
  int cols;
  size_t n = fit(s, w, &cols);
  char tmp[1024];
  if (n >= sizeof tmp)
    n = sizeof tmp - 1;
  /* control characters would move the cursor: show them as '?' */
  for (size_t i = 0; i < n; i++)
    tmp[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
  tmp[n] = '\0';
  attrset(role_attr[r]);
  mvaddstr(y, x, tmp);
  attrset(A_NORMAL);
  return cols;
}

int scr_printf(int y, int x, int w, enum scr_role r, const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return scr_text(y, x, w, r, buf);
}

void scr_fill(int y, int x, int w, enum scr_role r)
{
  if (y < 0 || y >= LINES || x < 0 || x >= COLS)
    return;
  if (w > COLS - x)
    w = COLS - x;
  attrset(role_attr[r]);
  mvhline(y, x, ' ', w);
  attrset(A_NORMAL);
}

void scr_spark(int y, int x, int w, enum scr_role r, const double *v, size_t n)
{
  static const char *const blocks[8] = { "\u2581", "\u2582", "\u2583", "\u2584",
                                          "\u2585", "\u2586", "\u2587", "\u2588" };
  static const char ascii[8] = { '_', '.', ',', '-', '=', '+', '*', '#' };
  if (w <= 0 || y < 0 || y >= LINES || x < 0 || x >= COLS)
    return;
  if (w > COLS - x)
    w = COLS - x;
  size_t k = n < (size_t)w ? n : (size_t)w;
  const double *p = v + (n - k);
  double max = 0;
  for (size_t i = 0; i < k; i++)
    if (p[i] > max)
      max = p[i];
  attrset(role_attr[r]);
  move(y, x + (int)((size_t)w - k));     /* right-aligned: the newest value at the right edge */
  for (size_t i = 0; i < k; i++) {
    int lvl = max > 0 ? (int)(p[i] / max * 7.0 + 0.5) : 0;
    if (lvl < 0)
      lvl = 0;
    if (lvl > 7)
      lvl = 7;
    if (p[i] > 0 && lvl == 0)
      lvl = 1;                          /* any traffic shows */
    if (utf8)
      addstr(blocks[lvl]);
    else
      addch((chtype)(unsigned char)ascii[lvl]);
  }
  attrset(A_NORMAL);
}

void scr_box(int y, int x, int h, int w, enum scr_role r)
{
  if (h < 2 || w < 2)
    return;
  for (int i = 0; i < h; i++)
    scr_fill(y + i, x, w, r);
  if (y < 0 || x < 0 || y + h > LINES || x + w > COLS)
    return;
  attrset(role_attr[r]);
  mvaddch(y, x, ACS_ULCORNER);
  mvhline(y, x + 1, ACS_HLINE, w - 2);
  mvaddch(y, x + w - 1, ACS_URCORNER);
  mvvline(y + 1, x, ACS_VLINE, h - 2);
  mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
  mvaddch(y + h - 1, x, ACS_LLCORNER);
  mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
  mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
  attrset(A_NORMAL);
}

int scr_key(void)
{
  int c = getch();
  switch (c) {
  case ERR: return SK_NONE;
  case KEY_UP: return SK_UP;
  case KEY_DOWN: return SK_DOWN;
  case KEY_LEFT: return SK_LEFT;
  case KEY_RIGHT: return SK_RIGHT;
  case KEY_PPAGE: return SK_PGUP;
  case KEY_NPAGE: return SK_PGDN;
  case KEY_HOME: return SK_HOME;
  case KEY_END: return SK_END;
  case KEY_ENTER: case '\r': case '\n': return SK_ENTER;
  case 27: return SK_ESC;
  case KEY_BACKSPACE: case 127: case 8: return SK_BACKSPACE;
  case '\t': return SK_TAB;
  case KEY_BTAB: return SK_BTAB;
  case KEY_RESIZE: return SK_RESIZE;
  default:
    if (c >= KEY_MIN)
      return SK_NONE;                   /* a function key we have no use for */
    return c;
  }
}

const char *scr_key_name(int key, char *buf, size_t len)
{
  static const struct { int key; const char *name; } names[] = {
    { SK_UP, "Up" }, { SK_DOWN, "Down" }, { SK_LEFT, "Left" }, { SK_RIGHT, "Right" },
    { SK_PGUP, "PgUp" }, { SK_PGDN, "PgDn" }, { SK_HOME, "Home" }, { SK_END, "End" },
    { SK_ENTER, "Enter" }, { SK_ESC, "Esc" }, { SK_BACKSPACE, "Backspace" }, { SK_TAB, "Tab" },
    { SK_BTAB, "S-Tab" }, { ' ', "space" },
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].key == key) {
      snprintf(buf, len, "%s", names[i].name);
      return buf;
    }
  if (key > 0 && key < 32)
    snprintf(buf, len, "^%c", key + '@');
  else
    snprintf(buf, len, "%c", key);
  return buf;
}
