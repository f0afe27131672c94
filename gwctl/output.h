/*
 * output: how gwctl prints results: an aligned table (lists) or "field value" lines (one object) for
 * people, tab-separated values for scripts (--tsv), or one line of JSON with --json.
 *
 * Owns: rendering of cJSON rows; a command builds its rows once as JSON and this module draws them,
 * so the table and --json always carry the same data. Tables fit the terminal: the width comes from
 * $COLUMNS, else the terminal on stdout (TIOCGWINSZ), else it is unlimited (a pipe); cells are
 * measured in columns (wcwidth, so CJK names take two) and the widest text columns are cut with an
 * ellipsis until the table fits (numbers never are); --wide never cuts. Long output on a terminal
 * goes through a pager ($GWCTL_PAGER, else $PAGER, else "less -FRX"; never when stdout is not a
 * terminal, or with --no-pager).
 * Callers: gwctl/cmd_*.c; gwctl.c (gw_set_global sets the flags).
 * Never: prints to stderr, decides what a command outputs, or prints control characters from the
 * database to a terminal (they become '?'; --tsv escapes them).
 */
#ifndef RELAY_GWCTL_OUTPUT_H
#define RELAY_GWCTL_OUTPUT_H

#include <cjson/cJSON.h>
#include <stddef.h>

enum out_fmt {
  OUT_PLAIN = 0,        /* numbers, strings, arrays joined by ",", bools yes/no, "" as "-" */
  OUT_TIME,             /* Unix seconds as local "YYYY-MM-DD HH:MM:SS"; 0 "-", -1 "never" */
  OUT_QUOTA,            /* quota units and their USD: "5000000 ($10.00)"; --tsv: the number */
};

/* Output modes, set once from the global options. */
enum out_flag {
  OUT_WIDE = 1,         /* --wide: never cut a cell */
  OUT_NO_HEADERS = 2,   /* --no-headers: tables without their header line */
  OUT_TSV = 4,          /* --tsv: tab-separated cells, \t \n \r \\ escaped, nothing cut */
  OUT_NO_PAGER = 8,     /* --no-pager (and streams such as log tail -f) */
  OUT_STREAM = 16,      /* successive out_list calls are one table (log tail -f): column widths
                           carry over and only grow, so the rows stay aligned */
};
void out_set_flags(int flags);
int out_flags(void);

/* One column of a table (or a hint for one field of an object). */
struct out_col {
  const char *field;    /* JSON field of the row */
  const char *header;   /* table header */
  enum out_fmt fmt;
  int max;              /* widest cell in columns before it is cut with an ellipsis, 0 = no limit */
  /* Optional: renders the cell from the whole row instead of field. */
  void (*render)(const cJSON *row, char *buf, size_t len);
};

/* Prints v as one line of JSON. Returns 0, -1 when out of memory. */
int out_json(const cJSON *v);
/* Prints rows (an array of objects): JSON when json, else a table of cols (ended by a zero entry).
 * Returns 0 or -1. */
int out_list(int json, const cJSON *rows, const struct out_col *cols);
/* Prints one object: JSON when json, else one "field  value" line per field; cols (may be NULL) gives
 * the format of some fields. Returns 0 or -1. */
int out_object(int json, const cJSON *obj, const struct out_col *cols);

/* Display columns of a UTF-8 string under the current LC_CTYPE (wcwidth; a character it cannot
 * measure counts 1). Exposed for the unit test. */
size_t out_width(const char *s);
/* The width tables must fit: $COLUMNS, else the terminal on stdout, else 0 (unlimited). */
int out_term_width(void);

#endif
