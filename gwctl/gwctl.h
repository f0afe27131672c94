/*
 * gwctl: declarations shared by the admin CLI's files.
 *
 * Owns: the CLI context (struct gwctl), the command table entry type, exit codes, and the library
 * every command file uses (gwctl.c: option parsing, errors, transactions, the manage log, input
 * checks, lookups of users, tokens, channels and groups, relayd's admin socket).
 * Callers: gwctl/main.c and the gwctl/cmd_*.c files; nothing outside gwctl/ includes it. A command
 * file calls this library (and channels.h, common/ modules), never another command file: main.c's table
 * is the only place that names the commands (cmd_<noun>.h).
 * Never: declares anything that touches relayd's memory; gwctl talks to relayd only over the admin socket.
 */
#ifndef RELAY_GWCTL_H
#define RELAY_GWCTL_H

#include "codes.h"
#include "db.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes; gwctl(1) documents them. */
enum gw_exit {
  GW_OK = 0,
  GW_FAIL = 1,          /* runtime failure: database, I/O */
  GW_USAGE = 2,         /* unknown command or option, bad value */
  GW_NOTFOUND = 3,      /* no user / token / channel by that name */
  GW_CONFLICT = 4,      /* the name is taken, or the object is in use / in the wrong state */
  GW_UPSTREAM = 5,      /* channel test / models: the upstream failed or answered an error */
  GW_NOT_LIVE = 6,      /* the change is saved, but the relayd serving the database did not take it:
                         * no relayd answers on the socket while one runs on the database (SQLite),
                         * the one there serves another database, or it refused the reload */
  GW_UNAVAILABLE = 69,  /* EX_UNAVAILABLE: relayd is not reachable on the admin socket */
  GW_NOPERM = 77,       /* EX_NOPERM: relayd refused us (peer credentials) */
};
#define GW_HELP (-1)    /* gw_args() printed --help: the command returns GW_OK */

#define GW_QUOTA_MAX INT64_C(1000000000000000)     /* 2e9 USD; keeps JSON numbers exact */
#define GW_NAME_MAX 64
#define GW_LIST_MAX 4096                           /* a comma list (models, groups) once normalized */

struct gwctl;

struct gw_cmd {
  const char *noun;
  const char *verb;
  int (*run)(struct gwctl *g, int argc, char **argv);   /* argv[0] is the verb */
  /* what follows "gwctl NOUN VERB"; verb "" is a one-word command ("gwctl status") */
  const char *usage;
  const char *summary;
};

struct gwctl {
  const char *db_url;           /* --db or $RELAY_DB */
  const char *socket;           /* --socket or $RELAY_SOCKET; NULL: do not notify relayd */
  int json;                     /* --json */
  struct db *db;                /* opened by gw_open() */
  const struct gw_cmd *cmd;     /* the command running */
  int socket_given;             /* socket came from --socket or $RELAY_SOCKET (not the default) */
  int may_create;               /* gwctl init: gw_open may create the database */
  int late_rc;                  /* gw_end: the exit code main() returns after a successful command */
  char late_msg[1024];          /* ... and the message it prints then (the change is saved, not live) */
};

/* One option of a command: a value option when value is set, else a flag counted in *flag. */
struct gw_opt {
  const char *name;             /* long name without "--" */
  const char **value;
  int *flag;
};

/* The global options' getopt codes: main.c's parser and gw_argv both accept them and hand them to
 * gw_set_global. Codes from GW_OPT_END on are free for the parsers' own options. */
enum gw_global_opt { GW_OPT_DB = 1000, GW_OPT_SOCKET, GW_OPT_JSON, GW_OPT_HELP, GW_OPT_WIDE,
                     GW_OPT_NO_HEADERS, GW_OPT_TSV, GW_OPT_NO_PAGER, GW_OPT_END };
/* The output options (output.h), which both parsers accept like --json. */
#define GW_OUTPUT_OPTIONS                                               \
  { "wide", no_argument, NULL, GW_OPT_WIDE },                           \
  { "no-headers", no_argument, NULL, GW_OPT_NO_HEADERS },               \
  { "tsv", no_argument, NULL, GW_OPT_TSV },                             \
  { "no-pager", no_argument, NULL, GW_OPT_NO_PAGER }
void gw_set_global(struct gwctl *g, int code, const char *arg);
/* The option getopt just stopped at as the user wrote it, for messages: argv[optind - 1] without
 * any "=value". */
void gw_option_text(int argc, char **argv, char *buf, size_t len);
/* "usage: gwctl NOUN VERB USAGE" and the summary, on stdout. */
void gw_print_usage(const struct gw_cmd *c);

/* Parses a command's arguments (argv[0] is the verb). Accepts the options in opts (ended by a zero
 * entry), the global options, and --help. posname names the one positional argument the command
 * requires (stored in *pos), or is NULL when it takes none. Returns 0, GW_HELP after printing the
 * command's usage, or GW_USAGE after printing the error. */
int gw_args(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, const char *posname,
            const char **pos);
/* gw_args with nreq required and up to nmax positional arguments, named names[i] in messages;
 * pos[] gets them (unset ones stay NULL). */
int gw_argv(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, int nreq, int nmax,
            const char *const *names, const char **pos);

/* Prints "gwctl: MESSAGE" on stderr and returns code. */
__attribute__((format(printf, 2, 3)))
int gw_err(int code, const char *fmt, ...);
/* Prints "gwctl: NOUN VERB: MESSAGE (usage: ...)" on stderr and returns GW_USAGE. */
__attribute__((format(printf, 2, 3)))
int gw_usage(struct gwctl *g, const char *fmt, ...);
/* Prints "gwctl: WHAT: <database error>" and returns GW_FAIL. */
int gw_dberr(struct gwctl *g, const char *what);

/* Opens the database (once). Only gwctl init (may_create) creates one: otherwise a missing SQLite
 * file is GW_NOTFOUND and a database without relay's schema GW_FAIL, both naming the database (an
 * absolute path) and 'gwctl init'. Returns 0 or an exit code after printing the error. */
int gw_open(struct gwctl *g);
/* gw_begin starts a write transaction. gw_end commits when rc is 0 and rolls back otherwise; it
 * returns rc, or GW_FAIL when the commit fails. After a commit it makes the change live: it asks the
 * relayd on the socket to reload and compares the database id it reports with this database's;
 * when nobody answers there it looks for relayds running on the database (node_leases). A change
 * that is saved but not live sets late_rc = GW_NOT_LIVE and late_msg (main() prints it after the
 * command's output and exits with it); see gwctl(1) EXIT STATUS. */
int gw_begin(struct gwctl *g);
int gw_end(struct gwctl *g, int rc);

/* What a manage log row is about; unknown fields stay 0 / NULL. */
struct gw_subject {
  int64_t user_id;
  const char *username;
  int64_t token_id;
  const char *token_name;
  int64_t channel_id;
};
/* Writes a logs row of type 3 (manage) inside the current transaction. The content must hold no
 * secret. Returns 0 or GW_FAIL after printing. */
__attribute__((format(printf, 3, 4)))
int gw_log_manage(struct gwctl *g, const struct gw_subject *s, const char *fmt, ...);

/* Input checks. Each returns 0, or GW_USAGE after printing a message naming opt. */
int gw_parse_int(struct gwctl *g, const char *opt, const char *s, int64_t min, int64_t max,
                 int64_t *out);
int gw_check_name(struct gwctl *g, const char *what, const char *s);
/* Normalizes a comma list into out ("a, b,,c" -> "a,b,c"), checking each item like a name of at most
 * maxitem bytes. *count gets the number of items. */
int gw_norm_list(struct gwctl *g, const char *opt, const char *in, size_t maxitem, char *out,
                 size_t outlen, int *count);
int gw_is_id(const char *s);                    /* all digits: may be an id */
/* Why s is not a valid name or list item of at most max bytes ("is empty", "may not contain ','",
 * ...), or NULL when it is. Prints nothing. */
const char *gw_name_problem(const char *s, size_t max);
/* Reads one line from f into out (newline stripped, surrounding blanks trimmed). When f is a terminal,
 * prompts on stderr without echo. Returns 0, or an exit code after printing an error about what. */
int gw_read_secret(FILE *f, const char *prompt, const char *what, char *out, size_t outlen);

/* Parses a finite number in [min, max]. */
int gw_parse_double(struct gwctl *g, const char *opt, const char *s, double min, double max,
                    double *out);
/* Parses an amount of money (common/quota.h quota_parse): quota units (500000) or US dollars (10usd,
 * $10, "10 USD", $0.50), in [min, max] quota units. */
int gw_parse_quota(struct gwctl *g, const char *opt, const char *s, int64_t min, int64_t max,
                   int64_t *out);
/* Parses a point in time (common/when.h: "1h" or "2 days ago" back from now, ISO 8601 dates and times,
 * Unix seconds, today, ...); a bare span counts back. */
int gw_parse_time(struct gwctl *g, const char *opt, const char *s, int64_t *out);
/* An expiry: "never" (-1) or a time (when.h) that must be in the future; a bare span counts forward
 * ("30d" is 30 days from now). */
int gw_parse_expires(struct gwctl *g, const char *opt, const char *s, int64_t *out);
/* yes|no, true|false, 1|0, on|off. */
int gw_parse_bool(struct gwctl *g, const char *opt, const char *s, int *out);
/* Destructive commands: 0 when yes is set or the user answers y on a terminal; otherwise GW_USAGE
 * (not a terminal: "--yes needed") or GW_FAIL (declined) after printing. what: "delete user x". */
int gw_confirm(struct gwctl *g, int yes, const char *what);

/* Statements in one call. types has one letter per parameter: i (int64_t), d (double), s (const
 * char *, NULL binds NULL), n (NULL, no argument). gw_exec runs a statement without results;
 * returns 0, or GW_FAIL after printing "WHAT: <database error>". */
int gw_exec(struct gwctl *g, const char *what, const char *sql, const char *types, ...);
/* Reads the first column of the first row as an integer into *out (untouched when no row).
 * Returns 1 (row), 0 (no row) or -1 after printing the error. */
int gw_scalar(struct gwctl *g, const char *what, const char *sql, int64_t *out, const char *types,
              ...);
/* Runs an "INSERT ... RETURNING id" (portable: no last-insert-id) and stores the id in *id.
 * Returns 0, or GW_FAIL after printing "WHAT: <database error>". */
int gw_insert(struct gwctl *g, const char *what, const char *sql, int64_t *id, const char *types,
              ...);
/* Prepares sql and binds like gw_exec; NULL after printing. */
struct db_stmt *gw_prepare(struct gwctl *g, const char *what, const char *sql, const char *types,
                           ...);

/* A comma list as a JSON array of strings ("" -> []). NULL when out of memory. */
cJSON *gw_csv_array(const char *csv);
/* What kind of JSON value v is, for messages ("a string", "an object", ...). Callers: cmd_channel.c
 * (--model-map) and the apply modules (a file field of the wrong type). */
const char *gw_json_type(const cJSON *v);

/* Listing commands. A row's fields read from a SELECT's columns, in the order of the list, which a
 * NULL name ends: text, integer, real, or boolean (not 0). */
enum gw_field_as { GW_TEXT, GW_INT, GW_REAL, GW_BOOL };
struct gw_field {
  const char *name;
  int col;
  enum gw_field_as as;
};
/* Builds one row of a list: NULL when out of memory. arg is the command's own. */
typedef cJSON *gw_row_fn(struct db_stmt *st, const void *arg);
/* A row of fields (arg: a struct gw_field list). */
gw_row_fn gw_row;
/* Steps st (from gw_prepare: NULL is GW_FAIL) to its end and builds each row with row(st, arg) into
 * a JSON array. Finalizes st. Returns the array, or NULL with *rc GW_FAIL after printing "WHAT:
 * <database error>" or "out of memory". */
cJSON *gw_rows(struct gwctl *g, struct db_stmt *st, const char *what, gw_row_fn *row, const void *arg,
               int *rc);
/* gw_rows, then prints them (output.h: a table of cols, or a JSON array with --json). Returns 0, or
 * GW_FAIL after printing. */
struct out_col;
int gw_list(struct gwctl *g, struct db_stmt *st, const char *what, gw_row_fn *row, const void *arg,
            const struct out_col *cols);

/* Lookups shared by the command files. Each returns 0, GW_NOTFOUND or GW_FAIL after printing. */
int gw_user_find(struct gwctl *g, const char *ref, int64_t *id, char *name, size_t namelen);
int gw_channel_find(struct gwctl *g, const char *ref, int64_t *id, char *name, size_t namelen);
/* Token by name (unique per user; user narrows it, may be NULL) or id. Ambiguity is GW_USAGE. */
int gw_token_find(struct gwctl *g, const char *ref, const char *user, int64_t *id, char *name,
                  size_t namelen);
/* Fails with GW_NOTFOUND unless group name exists. */
int gw_group_check(struct gwctl *g, const char *opt, const char *name);

/* Deletes the rate limits, budget alerts and reminder state of a token or user ("token"/"user")
 * inside the current transaction (user rm, token rm). Returns 0 or GW_FAIL after printing. */
int gw_subject_forget(struct gwctl *g, const char *scope, int64_t id);

/* Runtime options (common/options.c's option_keys[]): the i-th known key (NULL past the end), and
 * the check of a value: 0 with the stored form in out, or -1 with the reason in why ("unknown
 * option" for a key the table lacks). */
const char *gw_config_key(size_t i);
int gw_config_check(const char *key, const char *value, char *out, size_t outlen, char *why,
                    size_t whylen);

/* One verb on relayd's admin socket: 0 with *out the answer (without "ok"; caller frees), or the
 * exit code (69 unreachable, 77 refused, 1 failed) after printing the error. */
int gw_admin(struct gwctl *g, const char *verb, cJSON **out);
/* The same with the request's other members (args, may be NULL: copied, not kept). */
int gw_admin_args(struct gwctl *g, const char *verb, const cJSON *args, cJSON **out);

#endif
