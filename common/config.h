/*
 * config: relayd's start-up settings, described by ONE table (config_keys[] in config.c): name,
 * type, default, bounds, whether a reload applies it, and help. From that table work the ini
 * parser, the RELAY_<KEY> environment overrides, the command line parser, --help, --check-config
 * (every error, not the first), -T (the effective configuration and where each value came from),
 * --dump-config (relayd.conf(5)'s key list and the example relayd.conf are generated from it), the
 * admin verb `config` (gwctl config show) and the SIGHUP reload rules.
 *
 * Precedence, highest first: command line (--key value) > environment (RELAY_KEY) > file (-c FILE,
 * or the default file when it exists) > the table's default. An ini file uses the same key names as
 * the long options (listen = 127.0.0.1:8080); '-' and '_' are interchangeable; lines starting with
 * # or ; are comments; a [section] line is an error (the file is flat), never silently ignored.
 * Runtime options that an administrator changes while relayd runs (retry_times, ...) are not here:
 * they live in the database's options table and arrive by reload.
 *
 * Adding a key: a field in struct config, one line in config_keys[] (keep one line per key, so
 * parallel additions merge cleanly). relayd.conf(5), the example file and the docs check follow.
 * Callers: relayd (main, admin reload). Never: touches the database; prints a value marked secret.
 */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_KEYS 128

enum config_source { CONFIG_SRC_DEFAULT, CONFIG_SRC_FILE, CONFIG_SRC_ENV, CONFIG_SRC_CLI };

struct config {
  char listen[128];            /* HOST:PORT */
  char db[1024];               /* sqlite:PATH, postgres://... or a libpq key=value string */
  char admin_socket[512];
  int64_t workers;             /* 0 = one per core */
  int64_t max_body_bytes;
  int64_t max_connections;
  int64_t connect_timeout_ms;
  int64_t request_timeout_s;   /* whole non-streaming upstream call, 0 = none */
  int64_t first_byte_timeout_s;   /* stream: request sent -> first byte of the answer, 0 = none */
  int64_t stream_idle_timeout_s;  /* stream: longest silence between two upstream reads */
  int64_t stream_timeout_s;    /* whole streaming upstream call, 0 = none */
  int64_t client_header_timeout_s; /* connection open / previous response -> whole request header */
  int64_t client_body_timeout_s;   /* request header -> whole request body */
  int64_t max_header_bytes;    /* per-connection buffer that the request header must fit in */
  int64_t stream_small_pool_from; /* a worker's open connections from which small streams get the 4 KiB pool */
  int64_t shutdown_grace_s;
  char node_name[128];         /* names this relayd's reservations; auto = HOSTNAME/listen */
  char unsettled_reservations[16]; /* at start-up, reservations a crash left open: refund|charge */
  char log_level[16];          /* error|warn|info|debug */
  char log_format[16];         /* logfmt|json */
  char metrics_listen[128];    /* HOST:PORT of /metrics, or off */
  int64_t access_log;          /* yes/no: one log line per request (written by the writer) */
  char master_key_file[512];   /* "auto" = secret_key_path()'s rule (beside the SQLite database) */
  char admin_group[64];        /* members may use the admin socket (then mode 0660); "none" */
  int64_t writer_buffer_max;   /* log records held while the database is unreachable */
  char tokenizer_dir[512];     /* BPE data (o200k_base.json, cl100k_base.json) for local counts */
  int64_t image_fetch_max_bytes;   /* an image by URL inlined for a channel that needs inline data */
  int64_t image_fetch_timeout_ms;
  int64_t image_fetch_allow_private; /* yes/no: also loopback, private and link-local addresses */

  /* not keys: where the values came from */
  char file[512];              /* the config file read ("" when none) */
  unsigned char source[CONFIG_MAX_KEYS];   /* enum config_source, by table index */
  unsigned line[CONFIG_MAX_KEYS];          /* source file: the line that set the key */
};

enum config_type { CONFIG_STR, CONFIG_INT, CONFIG_BOOL, CONFIG_ENUM, CONFIG_ADDR };

struct config_key {
  const char *name;
  enum config_type type;
  size_t off;
  size_t size;                 /* strings: buffer size */
  int64_t min, max;            /* integers; CONFIG_ADDR: min 1 = "off" is accepted */
  const char *choices;         /* CONFIG_ENUM: "a|b|c" */
  const char *def;             /* the default, as written in a file */
  bool reload;                 /* a reload (SIGHUP) applies a change; else it needs a restart */
  const char *help;
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;
/* The file read when no -c is given (only if it exists), e.g. /etc/relay/relayd.conf. */
extern const char config_default_file[];

/* One --key value pair of the command line (pointers into argv). */
struct config_arg {
  const char *key, *value;
};

/* Defaults of every key (source: default). */
void config_defaults(struct config *c);
/* Sets one key from a string, recording where it came from. Returns 0, or -1 with a message
 * "KEY: ..." in err. config_set is the same with source "cli". */
int config_set_from(struct config *c, const char *key, const char *value, enum config_source src,
                    char *err, size_t errlen);
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);
/* Loads an ini file over c. Returns 0, or -1 with a message "FILE:LINE: ..." in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Applies RELAY_<KEY> variables of the environment. Returns 0, or -1 with err. */
int config_load_env(struct config *c, char *err, size_t errlen);
/* The whole build: defaults, then the file (path, or the default file if it exists when path is
 * NULL), the environment, then args. Returns 0, or -1 with the first error in err (followed by
 * "(and N more ...)" when there were more). */
int config_build(struct config *c, const char *path, const struct config_arg *args, size_t nargs,
                 char *err, size_t errlen);
/* The same build, every error reported to fn (one message each: FILE:LINE: ..., environment
 * RELAY_KEY: ..., command line: ...), none skipped. Returns the number of errors. */
typedef void (*config_report_fn)(void *arg, const char *msg);
int config_build_all(struct config *c, const char *path, const struct config_arg *args, size_t nargs,
                     config_report_fn fn, void *arg);
/* RELAY_<KEY> for key, into var. */
void config_env_name(const char *key, char *var, size_t len);
/* `relayd -T`: every key as "key = value  # source" (default, file FILE:LINE, environment
 * RELAY_KEY, argument --key), passwords redacted as in config_format. */
void config_show(FILE *f, const struct config *c);

/* The index of a key ('-' or '_'), or -1. */
int config_find(const char *key);
/* Key i's value in c, as written in a file. */
void config_format(const struct config *c, size_t i, char *buf, size_t len);
const char *config_source_name(enum config_source s);
const char *config_type_name(const struct config_key *k);

/* The option list (for --help). */
void config_usage(FILE *f);
/* Prints the key list as "man" (roff .TP entries for relayd.conf(5)), "ini" (a commented
 * relayd.conf) or "json" (array of {name,type,default,reload,min,max,choices,help}).
 * Returns -1 for an unknown format. */
int config_dump(FILE *f, const char *format);

#endif
