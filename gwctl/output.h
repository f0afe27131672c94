/*
 * output: how gwctl prints results: an aligned table (lists) or "field value" lines (one object) for
 * people, or one line of JSON with --json.
 *
 * Owns: rendering of cJSON rows; a command builds its rows once as JSON and this module draws them,
 * so the table and --json always carry the same data.
 * Callers: gwctl/cmd_*.c.
 * Never: prints to stderr, decides what a command outputs, or prints control characters from the
 * database to a terminal (they become '?').
 */
#ifndef RELAY_GWCTL_OUTPUT_H
#define RELAY_GWCTL_OUTPUT_H

#include <cjson/cJSON.h>
#include <stddef.h>

enum out_fmt {
  OUT_PLAIN = 0,        /* numbers, strings, arrays joined by ",", bools yes/no, "" as "-" */
  OUT_TIME,             /* Unix seconds as local "YYYY-MM-DD HH:MM:SS"; 0 "-", -1 "never" */
};

/* One column of a table (or a hint for one field of an object). */
struct out_col {
  const char *field;    /* JSON field of the row */
  const char *header;   /* table header */
  enum out_fmt fmt;
  int max;              /* widest cell in bytes before it is cut with "...", 0 = no limit */
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

#endif
