/* config: see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

/* One line per key. RELOAD: a SIGHUP applies a change; RESTART: a change needs a restart. */
#define RELOAD true
#define RESTART false
#define F(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define STR(k, f, def, rl, h) {k, CONFIG_STR, F(f), 0, 0, NULL, def, rl, h}
#define ADDR(k, f, off_ok, def, rl, h) {k, CONFIG_ADDR, F(f), off_ok, 0, NULL, def, rl, h}
#define INT(k, f, lo, hi, def, rl, h) {k, CONFIG_INT, F(f), lo, hi, NULL, def, rl, h}
#define BOOL(k, f, def, rl, h) {k, CONFIG_BOOL, F(f), 0, 1, NULL, def, rl, h}
#define ENUM(k, f, choices, def, rl, h) {k, CONFIG_ENUM, F(f), 0, 0, choices, def, rl, h}

const struct config_key config_keys[] = {
    ADDR("listen", listen, 0, "127.0.0.1:8080", RESTART, "HOST:PORT to serve the HTTP API on"),
    STR("db", db, "sqlite:" RELAY_STATEDIR "/relay.db", RESTART,
        "database URL: sqlite:PATH, postgres://USER@HOST/DB or a libpq key=value string"),
    STR("admin_socket", admin_socket, RELAY_RUNDIR "/admin.sock", RESTART,
        "path of the admin Unix socket (mode 0600)"),
    INT("workers", workers, 0, 256, "0", RESTART, "worker threads, 0 = one per core"),
    INT("max_body_bytes", max_body_bytes, 1024, 1LL << 30, "33554432", RELOAD,
        "largest request body accepted (a gzip or deflate body: once inflated)"),
    INT("max_connections", max_connections, 16, 1000000, "65536", RESTART,
        "client connections at once, for the whole daemon (one budget, whichever worker takes a "
        "connection); a request on a connection over it is answered 503 (logged). A request holds two "
        "descriptors (client and upstream): relayd lowers this to (open file limit - D - 12 per worker "
        "- 16) / 2, D being the descriptors it has open at start (about 16; 6 more with "
        "metrics_listen), when the limit in force (LimitNOFILE, ulimit -n) is lower, and says so"),
    INT("max_header_bytes", max_header_bytes, 4096, 1 << 20, "8192", RESTART,
        "bytes the request line and headers may take, in at most this / 64 fields; more is a 431 in "
        "the client's error format (libmicrohttpd's buffer is twice this size)"),
    INT("stream_small_pool_from", stream_small_pool_from, 0, 1000000, "256", RELOAD,
        "open client connections (every worker's together) from which a connection whose first "
        "request is a stream with a small header (at most 1,024 bytes, 18 fields) is served from a "
        "2.5 KiB buffer instead of twice max_header_bytes and closed after its stream (Connection: "
        "close): about 13 KB less a held stream, a reconnect for the client's next request; 0: from "
        "the first connection, 1000000: never"),
    INT("client_header_timeout_s", client_header_timeout_s, 1, 3600, "60", RELOAD,
        "a client must send a whole request header within this many seconds of opening the "
        "connection or of its previous answer (also bounds idle kept-alive connections)"),
    INT("client_body_timeout_s", client_body_timeout_s, 1, 3600, "120", RELOAD,
        "a client must send a whole request body within this many seconds of its header"),
    INT("connect_timeout_ms", connect_timeout_ms, 1, 600000, "10000", RELOAD,
        "upstream connect timeout in milliseconds"),
    INT("request_timeout_s", request_timeout_s, 0, 86400, "600", RELOAD,
        "whole non-streaming upstream call in seconds, 0 = no limit"),
    INT("first_byte_timeout_s", first_byte_timeout_s, 0, 86400, "120", RELOAD,
        "stream: longest wait in seconds for the upstream's first byte, 0 = no limit"),
    INT("stream_idle_timeout_s", stream_idle_timeout_s, 1, 86400, "120", RELOAD,
        "longest silence in seconds of an upstream stream after its first byte"),
    INT("stream_timeout_s", stream_timeout_s, 0, 604800, "3600", RELOAD,
        "whole streaming upstream call in seconds, 0 = no limit"),
    INT("shutdown_grace_s", shutdown_grace_s, 0, 3600, "30", RELOAD,
        "on SIGTERM, how long in-flight requests may finish (keep below systemd's TimeoutStopSec)"),
    STR("node_name", node_name, "auto", RESTART,
        "names this relayd's open reservations and its lease in the database; one live relayd per "
        "name (another exits 75); auto = HOSTNAME/LISTEN"),
    ENUM("unsettled_reservations", unsettled_reservations, "refund|charge", "refund", RESTART,
         "at start-up, what to do with reservations a crash of this node left open"),
    ENUM("log_level", log_level, "error|warn|info|debug", "info", RELOAD,
         "least important level logged"),
    ENUM("log_format", log_format, "logfmt|json", "logfmt", RELOAD,
         "stderr log lines as logfmt (key=value) or one JSON object each"),
    BOOL("access_log", access_log, "yes", RELOAD,
         "one log line per request (request id, model, channel, status, tokens, times), written by "
         "the writer thread"),
    ADDR("metrics_listen", metrics_listen, 1, "127.0.0.1:8079", RESTART,
         "HOST:PORT of the Prometheus /metrics listener (port 0: any free port), or off; why 8079: "
         "relayd(8), METRICS"),
    STR("master_key_file", master_key_file, "auto", RESTART,
        "32-byte key file that encrypts channel keys, created 0600 when missing; auto: "
        "$RELAY_MASTER_KEY_FILE, else master.key beside the SQLite database"),
    STR("admin_group", admin_group, "none", RESTART,
        "group whose members may use the admin socket, which is then mode 0660; none: 0600"),
    INT("writer_buffer_max", writer_buffer_max, 1000, 100000000, "100000", RESTART,
        "log records (about 1 KB each) held in memory while the database is unreachable; when that "
        "many wait, new requests get 503 log_buffer_full until the writer catches up"),
    STR("tokenizer_dir", tokenizer_dir, RELAY_DATADIR "/tokenizer", RESTART,
        "directory of the BPE ranks (o200k_base.json, cl100k_base.json from the tiktoken npm package, "
        "installed by make install) that count an OpenAI model's tokens when the upstream reports no "
        "usage; missing: characters/4, and relayd says so at start"),
    INT("image_fetch_max_bytes", image_fetch_max_bytes, 1024, 1LL << 30, "20971520", RESTART,
        "largest image relayd fetches by URL to inline it for a channel that cannot fetch it (Gemini: "
        "any http(s) URL but its Files API); the request waits for the fetch, its worker serves others"),
    INT("image_fetch_timeout_ms", image_fetch_timeout_ms, 100, 600000, "10000", RESTART,
        "the whole fetch of one such image, in milliseconds (the request waits for it)"),
    BOOL("image_fetch_allow_private", image_fetch_allow_private, "no", RESTART,
         "also fetch images from loopback, private (RFC 1918, fc00::/7) and link-local addresses; no: "
         "refused, checked on the address connected to"),
};
const size_t config_nkeys = sizeof config_keys / sizeof config_keys[0];
_Static_assert(sizeof config_keys / sizeof config_keys[0] <= CONFIG_MAX_KEYS,
               "raise CONFIG_MAX_KEYS");

const char config_default_file[] = RELAY_SYSCONFDIR "/relayd.conf";

int config_find(const char *key)
{
  char norm[64];
  size_t i;
  for (i = 0; key[i] && i < sizeof norm - 1; i++)
    norm[i] = key[i] == '-' ? '_' : key[i];
  norm[i] = '\0';
  if (key[i])
    return -1;
  for (size_t k = 0; k < config_nkeys; k++)
    if (strcmp(config_keys[k].name, norm) == 0)
      return (int)k;
  return -1;
}

static bool parse_bool(const char *s, int64_t *out)
{
  static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) {
      *out = 1;
      return true;
    }
    if (strcasecmp(s, no[i]) == 0) {
      *out = 0;
      return true;
    }
  }
  return false;
}

static bool enum_has(const char *choices, const char *v)
{
  size_t n = strlen(v);
  for (const char *p = choices; *p;) {
    size_t len = strcspn(p, "|");
    if (len == n && strncmp(p, v, n) == 0)
      return true;
    p += len;
    if (*p == '|')
      p++;
  }
  return false;
}

/* HOST:PORT with a numeric port 1..65535 (port 0 = any free port), [v6]:PORT allowed. */
static bool addr_ok(const char *v)
{
  const char *colon = strrchr(v, ':');
  if (!colon || colon == v || !colon[1])
    return false;
  if (v[0] == '[' && colon[-1] != ']')
    return false;
  for (const char *p = v; p < colon; p++)
    if (isspace((unsigned char)*p))
      return false;
  int64_t port;
  return parse_int64(colon + 1, &port) == 0 && port >= 0 && port <= 65535;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
  return config_set_from(c, key, value, CONFIG_SRC_CLI, err, errlen);
}

int config_set_from(struct config *c, const char *key, const char *value, enum config_source src,
                    char *err, size_t errlen)
{
  int i = config_find(key);
  if (i < 0) {
    snprintf(err, errlen, "unknown setting '%s'", key);
    return -1;
  }
  const struct config_key *e = &config_keys[i];
  char *field = (char *)c + e->off;
  int64_t v;
  switch (e->type) {
  case CONFIG_ADDR:
    if (!(e->min && strcmp(value, "off") == 0) && !addr_ok(value)) {
      snprintf(err, errlen, "%s: '%s' is not HOST:PORT%s", e->name, value, e->min ? " or off" : "");
      return -1;
    }
    /* fall through */
  case CONFIG_STR:
  case CONFIG_ENUM:
    if (strlen(value) >= e->size) {
      snprintf(err, errlen, "%s: value longer than %zu characters", e->name, e->size - 1);
      return -1;
    }
    if (e->type == CONFIG_STR && !*value) {
      snprintf(err, errlen, "%s: empty value", e->name);
      return -1;
    }
    if (e->type == CONFIG_ENUM && !enum_has(e->choices, value)) {
      snprintf(err, errlen, "%s: '%s' is not one of %s", e->name, value, e->choices);
      return -1;
    }
    memset(field, 0, e->size);   /* no bytes of an older value after the NUL (reload compares) */
    memcpy(field, value, strlen(value));
    break;
  case CONFIG_INT:
    if (parse_int64(value, &v) < 0 || v < e->min || v > e->max) {
      snprintf(err, errlen, "%s: '%s' is not an integer from %lld to %lld", e->name, value,
               (long long)e->min, (long long)e->max);
      return -1;
    }
    *(int64_t *)field = v;
    break;
  case CONFIG_BOOL:
    if (!parse_bool(value, &v)) {
      snprintf(err, errlen, "%s: '%s' is not yes or no", e->name, value);
      return -1;
    }
    *(int64_t *)field = v;
    break;
  }
  c->source[i] = (unsigned char)src;
  return 0;
}

void config_defaults(struct config *c)
{
  char err[256];
  memset(c, 0, sizeof *c);
  for (size_t k = 0; k < config_nkeys; k++)
    if (config_set_from(c, config_keys[k].name, config_keys[k].def, CONFIG_SRC_DEFAULT, err, sizeof err) < 0)
      abort();                  /* a default that fails its own checks: a bug in the table */
}

static char *trim(char *s)
{
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

/* Where a build's errors go: every one is reported, and counted. */
struct reporter {
  config_report_fn fn;
  void *arg;
  int n;
};

static void report(struct reporter *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct reporter *r, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  r->n++;
  if (r->fn)
    r->fn(r->arg, msg);
}

/* Every line of the file is read; each bad one is reported with FILE:LINE. */
static void load_file(struct config *c, const char *path, struct reporter *r)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    report(r, "%s: cannot open: %s", path, strerror(errno));
    return;
  }
  char line[2048];
  int lineno = 0;
  bool skipping = false;         /* the rest of a line too long */
  while (fgets(line, sizeof line, f)) {
    bool whole = strchr(line, '\n') || feof(f);
    if (skipping) {
      skipping = !whole;
      continue;
    }
    lineno++;
    if (!whole) {
      report(r, "%s:%d: line too long (at most %zu bytes)", path, lineno, sizeof line - 2);
      skipping = true;
      continue;
    }
    char *s = trim(line);
    if (!*s || *s == '#' || *s == ';')
      continue;
    if (*s == '[') {
      report(r, "%s:%d: '%s': sections are not supported; relayd.conf is flat 'key = value' lines "
             "(relayd.conf(5))", path, lineno, s);
      continue;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
      report(r, "%s:%d: expected 'key = value'", path, lineno);
      continue;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    size_t vl = strlen(val);
    if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
      val[vl - 1] = '\0';
      val++;
    }
    char e2[512];
    if (config_set_from(c, key, val, CONFIG_SRC_FILE, e2, sizeof e2) < 0)
      report(r, "%s:%d: %s", path, lineno, e2);
    else if (config_find(key) >= 0)
      c->line[config_find(key)] = (unsigned)lineno;
  }
  if (ferror(f))
    report(r, "%s: read error", path);
  fclose(f);
  snprintf(c->file, sizeof c->file, "%s", path);
}

static void load_env(struct config *c, struct reporter *r)
{
  for (size_t k = 0; k < config_nkeys; k++) {
    char var[80];
    config_env_name(config_keys[k].name, var, sizeof var);
    const char *v = getenv(var);
    if (!v)
      continue;
    char e2[512];
    if (config_set_from(c, config_keys[k].name, v, CONFIG_SRC_ENV, e2, sizeof e2) < 0)
      report(r, "environment %s: %s", var, e2);
  }
}

/* The first error into err, and how many followed it. */
struct first_error {
  char *err;
  size_t errlen;
  int n;
};

static void keep_first(void *arg, const char *msg)
{
  struct first_error *fe = arg;
  if (fe->n++ == 0)
    snprintf(fe->err, fe->errlen, "%s", msg);
}

static int first_error_done(struct first_error *fe)
{
  if (fe->n > 1) {
    size_t len = strlen(fe->err);
    snprintf(fe->err + len, fe->errlen - len, " (and %d more: relayd --check-config lists them)",
             fe->n - 1);
  }
  return fe->n ? -1 : 0;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
  struct first_error fe = {err, errlen, 0};
  struct reporter r = {keep_first, &fe, 0};
  load_file(c, path, &r);
  return first_error_done(&fe);
}

int config_load_env(struct config *c, char *err, size_t errlen)
{
  struct first_error fe = {err, errlen, 0};
  struct reporter r = {keep_first, &fe, 0};
  load_env(c, &r);
  return first_error_done(&fe);
}

int config_build_all(struct config *c, const char *path, const struct config_arg *args, size_t nargs,
                     config_report_fn fn, void *arg)
{
  struct reporter r = {fn, arg, 0};
  config_defaults(c);
  if (!path && access(config_default_file, F_OK) == 0)
    path = config_default_file;
  if (path)
    load_file(c, path, &r);
  load_env(c, &r);
  for (size_t i = 0; i < nargs; i++) {
    char e2[512];
    if (config_set_from(c, args[i].key, args[i].value, CONFIG_SRC_CLI, e2, sizeof e2) < 0)
      report(&r, "command line: %s", e2);
  }
  return r.n;
}

int config_build(struct config *c, const char *path, const struct config_arg *args, size_t nargs,
                 char *err, size_t errlen)
{
  struct first_error fe = {err, errlen, 0};
  config_build_all(c, path, args, nargs, keep_first, &fe);
  return first_error_done(&fe);
}

/* A password in a URL ("scheme://user:PASSWORD@host") or a conninfo ("password=PASSWORD") is
 * replaced by "***". */
static void redact(char *s)
{
  char *p = strstr(s, "://");
  if (p) {
    char *at = strchr(p + 3, '@'), *colon = strchr(p + 3, ':');
    if (at && colon && colon < at && at - colon > 1)
      memmove(colon + 4, at, strlen(at) + 1), memcpy(colon + 1, "***", 3);
  }
  for (p = s; (p = strstr(p, "password=")) != NULL;) {
    p += 9;
    size_t n = strcspn(p, " &");
    if (n > 3 || (n && strncmp(p, "***", n) != 0)) {
      memmove(p + 3, p + n, strlen(p + n) + 1);
      memcpy(p, "***", 3);
    }
    p += 3;
  }
}

void config_format(const struct config *c, size_t i, char *buf, size_t len)
{
  const struct config_key *e = &config_keys[i];
  const char *field = (const char *)c + e->off;
  switch (e->type) {
  case CONFIG_INT:
    snprintf(buf, len, "%lld", (long long)*(const int64_t *)field);
    break;
  case CONFIG_BOOL:
    snprintf(buf, len, "%s", *(const int64_t *)field ? "yes" : "no");
    break;
  default:
    snprintf(buf, len, "%s", field);
    redact(buf);
  }
}

const char *config_source_name(enum config_source s)
{
  static const char *const names[] = {"default", "file", "env", "cli"};
  return (unsigned)s < 4 ? names[s] : "?";
}

const char *config_type_name(const struct config_key *k)
{
  switch (k->type) {
  case CONFIG_INT: return "integer";
  case CONFIG_BOOL: return "yes|no";
  case CONFIG_ENUM: return k->choices;
  case CONFIG_ADDR: return k->min ? "HOST:PORT|off" : "HOST:PORT";
  default: return "string";
  }
}

void config_env_name(const char *key, char *var, size_t len)
{
  size_t n = (size_t)snprintf(var, len, "RELAY_");
  for (const char *p = key; *p && n + 1 < len; p++)
    var[n++] = (char)toupper((unsigned char)*p);
  var[n < len ? n : len - 1] = '\0';
}

static void option_name(const char *key, char *opt, size_t len)
{
  size_t i;
  for (i = 0; key[i] && i < len - 1; i++)
    opt[i] = key[i] == '_' ? '-' : key[i];
  opt[i] = '\0';
}

void config_show(FILE *f, const struct config *c)
{
  fprintf(f, "# relayd -T: the effective configuration (file: %s); passwords are shown as ***\n"
             "# precedence: argument > environment > file > default\n",
          c->file[0] ? c->file : "none");
  for (size_t k = 0; k < config_nkeys; k++) {
    char val[1100], line[1200], from[700];
    config_format(c, k, val, sizeof val);
    snprintf(line, sizeof line, "%s = %s", config_keys[k].name, val);
    switch ((enum config_source)c->source[k]) {
    case CONFIG_SRC_FILE:
      snprintf(from, sizeof from, "file %s:%u", c->file, c->line[k]);
      break;
    case CONFIG_SRC_ENV:
      snprintf(from, sizeof from, "environment ");
      config_env_name(config_keys[k].name, from + 12, sizeof from - 12);
      break;
    case CONFIG_SRC_CLI: {
      char opt[64];
      option_name(config_keys[k].name, opt, sizeof opt);
      snprintf(from, sizeof from, "argument --%s", opt);
      break;
    }
    default:
      snprintf(from, sizeof from, "default");
    }
    fprintf(f, "%-48s # %s\n", line, from);
  }
}

void config_usage(FILE *f)
{
  for (size_t k = 0; k < config_nkeys; k++) {
    char opt[64];
    option_name(config_keys[k].name, opt, sizeof opt);
    fprintf(f, "  --%-24s %s (%s)\n", opt, config_keys[k].help, config_keys[k].def);
  }
}

/* s with roff's special characters escaped ('-' as \-, '\' as \e, a leading '.' or '\'' guarded). */
static void roff(FILE *f, const char *s)
{
  if (*s == '.' || *s == '\'')
    fputs("\\&", f);
  for (; *s; s++) {
    if (*s == '-')
      fputs("\\-", f);
    else if (*s == '\\')
      fputs("\\e", f);
    else
      fputc(*s, f);
  }
}

static void json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      fprintf(f, "\\u%04x", *s);
    else
      fputc(*s, f);
  }
  fputc('"', f);
}

int config_dump(FILE *f, const char *format)
{
  if (strcmp(format, "man") == 0) {
    for (size_t k = 0; k < config_nkeys; k++) {
      const struct config_key *e = &config_keys[k];
      char up[80] = "RELAY_";
      size_t n = strlen(up);
      for (const char *p = e->name; *p && n < sizeof up - 1; p++)
        up[n++] = (char)toupper((unsigned char)*p);
      up[n] = '\0';
      fputs(".TP\n.BR ", f);
      roff(f, e->name);
      fputs(" \" = \" \\fI", f);
      roff(f, config_type_name(e));
      fputs("\\fR\n", f);
      roff(f, e->help);
      fputs(". Default: \\fB", f);
      roff(f, e->def);
      fputs("\\fR", f);
      if (e->type == CONFIG_INT)
        fprintf(f, "; from %lld to %lld", (long long)e->min, (long long)e->max);
      fputs(e->reload ? "; applied by a reload.\n" : "; a change needs a restart.\n", f);
      fputs("Environment: \\fB", f);
      roff(f, up);
      fputs("\\fR; option: \\fB\\-\\-", f);
      char opt[64];
      option_name(e->name, opt, sizeof opt);
      roff(f, opt);
      fputs("\\fR.\n", f);
    }
    return 0;
  }
  if (strcmp(format, "ini") == 0) {
    fputs("# relayd.conf: settings of relayd(8); every key is described in relayd.conf(5).\n"
          "# Lines are 'key = value'; '#' or ';' start a comment. Each key below is commented out\n"
          "# and shows its default. Precedence: command line (--key value) > environment\n"
          "# (RELAY_KEY) > this file > default. `relayd --check-config` checks the file;\n"
          "# `systemctl reload relayd` (SIGHUP) applies the keys marked \"reload\".\n", f);
    for (size_t k = 0; k < config_nkeys; k++) {
      const struct config_key *e = &config_keys[k];
      fprintf(f, "\n# %s (%s; %s)\n#%s = %s\n", e->help, config_type_name(e),
              e->reload ? "reload" : "restart", e->name, e->def);
    }
    return 0;
  }
  if (strcmp(format, "json") == 0) {
    fputs("[", f);
    for (size_t k = 0; k < config_nkeys; k++) {
      const struct config_key *e = &config_keys[k];
      fputs(k ? ",\n{\"name\":" : "\n{\"name\":", f);
      json_str(f, e->name);
      fputs(",\"type\":", f);
      json_str(f, config_type_name(e));
      fputs(",\"default\":", f);
      json_str(f, e->def);
      fprintf(f, ",\"reload\":%s", e->reload ? "true" : "false");
      if (e->type == CONFIG_INT)
        fprintf(f, ",\"min\":%lld,\"max\":%lld", (long long)e->min, (long long)e->max);
      fputs(",\"help\":", f);
      json_str(f, e->help);
      fputs("}", f);
    }
    fputs("\n]\n", f);
    return 0;
  }
  return -1;
}
