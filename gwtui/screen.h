/*
 * screen: the only part of gwtui that talks to curses.
 *
 * Owns: terminal setup and teardown, the colour scheme (roles mapped to colour pairs, or to plain
 * attributes when NO_COLOR is set or the terminal has no colours), clipped text output, sparklines,
 * boxes, key reading (curses key codes translated to SK_* so nobody else needs curses.h), and the
 * flicker-free frame protocol: scr_frame_begin() erases, scr_frame_end() does noutrefresh + doupdate.
 * Callers: gwtui/main.c (setup, frames, keys) and the panels (drawing between begin and end).
 * Never: reads data, blocks (keys are read without delay, after poll() said stdin is readable),
 * or writes to the terminal outside a frame.
 */
#ifndef GWTUI_SCREEN_H
#define GWTUI_SCREEN_H

#include <stddef.h>

/* What a piece of text is; the scheme maps each role to an attribute. */
enum scr_role {
  SR_NORMAL,
  SR_HEADER,      /* the top line */
  SR_TAB,         /* panel tabs */
  SR_TAB_ON,      /* the current panel's tab */
  SR_TITLE,       /* column headings */
  SR_OK,
  SR_WARN,
  SR_BAD,
  SR_DIM,
  SR_SELECT,      /* the selected row */
  SR_STATUS,      /* the bottom line */
  SR_SPARK,
  SR_NROLES
};

/* Keys: printable characters are themselves; the rest come as these codes. */
enum scr_key {
  SK_NONE = -1,
  SK_UP = 0x10000,
  SK_DOWN,
  SK_LEFT,
  SK_RIGHT,
  SK_PGUP,
  SK_PGDN,
  SK_HOME,
  SK_END,
  SK_ENTER,
  SK_ESC,
  SK_BACKSPACE,
  SK_TAB,
  SK_BTAB,
  SK_RESIZE,
};

/* Starts curses on the terminal. mono: no colours whatever the terminal can do. Returns 0, or -1
 * (message on stderr) when stdin/stdout is not a terminal curses can drive. */
int screen_open(int mono);
void screen_close(void);

int scr_cols(void);
int scr_rows(void);
int scr_is_mono(void);

void scr_frame_begin(void);
void scr_frame_end(void);

/* Writes s at (y, x), at most w columns (and never past the right edge); returns columns written. */
int scr_text(int y, int x, int w, enum scr_role r, const char *s);
int scr_printf(int y, int x, int w, enum scr_role r, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Paints w blank columns at (y, x) in role r (for bars and selected rows). */
void scr_fill(int y, int x, int w, enum scr_role r);
/* A sparkline of the last w values of v[0..n) (oldest first), scaled to their maximum. */
void scr_spark(int y, int x, int w, enum scr_role r, const double *v, size_t n);
/* A framed, cleared box (for overlays). */
void scr_box(int y, int x, int h, int w, enum scr_role r);

/* The next key, or SK_NONE when none is waiting. Never blocks. */
int scr_key(void);
/* The name of a key for help texts ("q", "Enter", "Up", "space"). */
const char *scr_key_name(int key, char *buf, size_t len);

#endif
