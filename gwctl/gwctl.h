/*
 * gwctl: declarations shared by the admin CLI's files.
 *
 * Owns: the CLI context (struct gwctl), the command table entry type, exit codes, and the helpers
 * main.c gives every command file (option parsing, errors, transactions, the manage log, input checks).
 * Callers: gwctl/main.c and the gwctl/cmd_*.c files; nothing outside gwctl/ includes it.
 * Never: declares anything that touches relayd's memory; gwctl talks to relayd only over the admin socket.
 */
#ifndef RELAY_GWCTL_H
#define RELAY_GWCTL_H

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
  GW_CONFLICT = 4,      /* the name is taken */
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
  const char *usage;                                    /* what follows "gwctl NOUN VERB" */
  const char *summary;
};

struct gwctl {
  const char *db_url;           /* --db or $RELAY_DB */
  const char *socket;           /* --socket or $RELAY_SOCKET; NULL: do not notify relayd */
  int json;                     /* --json */
  struct db *db;                /* opened by gw_open() */
  const struct gw_cmd *cmd;     /* the command running */
};

/* One option of a command: a value option when value is set, else a flag counted in *flag. */
struct gw_opt {
  const char *name;             /* long name without "--" */
  const char **value;
  int *flag;
};

/* Parses a command's arguments (argv[0] is the verb). Accepts the options in opts (ended by a zero
 * entry), the global options, and --help. posname names the one positional argument the command
 * requires (stored in *pos), or is NULL when it takes none. Returns 0, GW_HELP after printing the
 * command's usage, or GW_USAGE after printing the error. */
int gw_args(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, const char *posname,
            const char **pos);

/* Prints "gwctl: MESSAGE" on stderr and returns code. */
__attribute__((format(printf, 2, 3)))
int gw_err(int code, const char *fmt, ...);
/* Prints "gwctl: NOUN VERB: MESSAGE (usage: ...)" on stderr and returns GW_USAGE. */
__attribute__((format(printf, 2, 3)))
int gw_usage(struct gwctl *g, const char *fmt, ...);
/* Prints "gwctl: WHAT: <database error>" and returns GW_FAIL. */
int gw_dberr(struct gwctl *g, const char *what);

/* Opens the database (once). Returns 0 or an exit code after printing the error. */
int gw_open(struct gwctl *g);
/* gw_begin starts a write transaction. gw_end commits when rc is 0 (then asks relayd to reload) and
 * rolls back otherwise; it returns rc, or GW_FAIL when the commit fails. */
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
/* Reads one line from f into out (newline stripped, surrounding blanks trimmed). When f is a terminal,
 * prompts on stderr without echo. Returns 0, or an exit code after printing an error about what. */
int gw_read_secret(FILE *f, const char *prompt, const char *what, char *out, size_t outlen);

/* A comma list as a JSON array of strings ("" -> []). NULL when out of memory. */
cJSON *gw_csv_array(const char *csv);

/* Lookups shared by the command files. Each returns 0, GW_NOTFOUND or GW_FAIL after printing. */
int gw_user_find(struct gwctl *g, const char *ref, int64_t *id, char *name, size_t namelen);

/* Command handlers: gwctl/cmd_<noun>.c. */
int cmd_user_add(struct gwctl *g, int argc, char **argv);
int cmd_user_list(struct gwctl *g, int argc, char **argv);
int cmd_user_show(struct gwctl *g, int argc, char **argv);
int cmd_channel_add(struct gwctl *g, int argc, char **argv);
int cmd_channel_list(struct gwctl *g, int argc, char **argv);
int cmd_channel_show(struct gwctl *g, int argc, char **argv);
int cmd_token_create(struct gwctl *g, int argc, char **argv);
int cmd_token_list(struct gwctl *g, int argc, char **argv);
int cmd_token_show(struct gwctl *g, int argc, char **argv);
int cmd_log_list(struct gwctl *g, int argc, char **argv);

#endif
