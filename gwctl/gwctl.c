/*
 * gwctl library: the gw_* helpers of gwctl.h (arguments, errors, transactions, the manage log,
 * input checks, lookups, the runtime options' check, relayd's admin socket). See gwctl.h.
 * Callers: main.c and the command files. Never: calls a command file (cmd_*.c).
 */
#include "gwctl.h"
#include "db_mysql.h"
#include "i18n.h"
#include "admin_client.h"
#include "options.h"
#include "quota.h"
#include "output.h"
#include "util.h"
#include "when.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------------------------------- */

int gw_err(int code, const char *fmt, ...)
{
  va_list ap;
  fputs("gwctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, _(fmt), ap);     /* the message in the user's language (i18n.h) */
  va_end(ap);
  fputc('\n', stderr);
  return code;
}

int gw_usage(struct gwctl *g, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, _(fmt), ap);
  va_end(ap);
  if (g->cmd) {
    const char *sp = *g->cmd->verb ? " " : "";
    return gw_err(GW_USAGE, "%s%s%s: %s (see 'gwctl %s%s%s --help')", g->cmd->noun, sp,
                  g->cmd->verb, msg, g->cmd->noun, sp, g->cmd->verb);
  }
  return gw_err(GW_USAGE, "%s (see 'gwctl help')", msg);
}

int gw_dberr(struct gwctl *g, const char *what)
{
  return gw_err(GW_FAIL, "%s: %s", what, db_errmsg(g->db));
}

/* ---- arguments ---------------------------------------------------------------------------------- */

/* getopt codes of a command's own options: OPT_CMD + their index */
enum { OPT_CMD = GW_OPT_END };

void gw_set_global(struct gwctl *g, int code, const char *arg)
{
  if (code == GW_OPT_DB)
    g->db_url = arg;
  else if (code == GW_OPT_SOCKET) {
    g->socket = *arg ? arg : NULL;
    g->socket_given = 1;
  }
  else if (code == GW_OPT_JSON)
    g->json = 1;
  else if (code == GW_OPT_WIDE)
    out_set_flags(out_flags() | OUT_WIDE);
  else if (code == GW_OPT_NO_HEADERS)
    out_set_flags(out_flags() | OUT_NO_HEADERS);
  else if (code == GW_OPT_TSV)
    out_set_flags(out_flags() | OUT_TSV);
  else if (code == GW_OPT_NO_PAGER)
    out_set_flags(out_flags() | OUT_NO_PAGER);
}

void gw_option_text(int argc, char **argv, char *buf, size_t len)
{
  const char *s = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "?";
  if (optopt && optopt < 256 && strncmp(s, "--", 2) != 0)
    snprintf(buf, len, "-%c", optopt);
  else
    snprintf(buf, len, "%.*s", (int)strcspn(s, "="), s);
}

void gw_print_usage(const struct gw_cmd *c)
{
  printf(_("usage: gwctl %s%s%s%s%s\n%s\n"), c->noun, *c->verb ? " " : "", c->verb,
         *c->usage ? " " : "", c->usage, _(c->summary));
}

int gw_args(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, const char *posname,
            const char **pos)
{
  return gw_argv(g, argc, argv, opts, posname ? 1 : 0, posname ? 1 : 0, &posname, pos);
}

int gw_argv(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, int nreq, int nmax,
            const char *const *names, const char **pos)
{
  static const struct option output_lo[] = { GW_OUTPUT_OPTIONS };
  struct option lo[48];
  size_t n = 0;
  for (const struct gw_opt *o = opts; o && o->name; o++) {
    if (n + 9 >= sizeof lo / sizeof lo[0])
      return gw_err(GW_FAIL, "internal error: too many options for %s %s", g->cmd->noun,
                    g->cmd->verb);
    lo[n] = (struct option){ o->name, o->value ? required_argument : no_argument, NULL,
                             OPT_CMD + (int)(o - opts) };
    n++;
  }
  lo[n++] = (struct option){ "db", required_argument, NULL, GW_OPT_DB };
  lo[n++] = (struct option){ "socket", required_argument, NULL, GW_OPT_SOCKET };
  lo[n++] = (struct option){ "json", no_argument, NULL, GW_OPT_JSON };
  lo[n++] = (struct option){ "help", no_argument, NULL, GW_OPT_HELP };
  for (size_t i = 0; i < sizeof output_lo / sizeof output_lo[0]; i++)
    lo[n++] = output_lo[i];
  lo[n] = (struct option){ 0, 0, 0, 0 };

  /* one-letter options (apply's -f) are also short options */
  char shortopts[64] = "-:h";
  size_t ns = strlen(shortopts);
  for (const struct gw_opt *o = opts; o && o->name; o++)
    if (o->name[0] && !o->name[1] && ns + 3 < sizeof shortopts) {
      shortopts[ns++] = o->name[0];
      if (o->value)
        shortopts[ns++] = ':';
      shortopts[ns] = '\0';
    }
  int npos = 0, c;
  char opt[128];
  optind = 0;                   /* glibc: start over, forgetting the global parse */
  opterr = 0;
  /* "-": positional arguments come back in order as code 1; ":": a missing value is ':' */
  while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
    switch (c) {
    case 1:
      if (npos >= nmax)
        return gw_usage(g, "unexpected argument '%s'", optarg);
      pos[npos++] = optarg;
      break;
    case 'h':
    case GW_OPT_HELP:
      gw_print_usage(g->cmd);
      return GW_HELP;
    case ':':
      gw_option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "option '%s' needs a value", opt);
    case '?': {
      /* "-3" where a positional number goes: say so rather than "unknown option" */
      const char *a = optind < argc && argv[optind][0] == '-' && isdigit((unsigned char)argv[optind][1])
                      ? argv[optind] : optind > 0 ? argv[optind - 1] : "";
      if (a[0] == '-' && isdigit((unsigned char)a[1]) && nmax > 0)
        return gw_usage(g, "'%s': negative numbers are not accepted here", a);
      gw_option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "unknown option '%s'", opt);
    }
    case GW_OPT_DB:
    case GW_OPT_SOCKET:
    case GW_OPT_JSON:
    case GW_OPT_WIDE:
    case GW_OPT_NO_HEADERS:
    case GW_OPT_TSV:
    case GW_OPT_NO_PAGER:
      gw_set_global(g, c, optarg);
      break;
    default: {
      const struct gw_opt *o = c >= OPT_CMD ? &opts[c - OPT_CMD] : NULL;
      for (const struct gw_opt *p = opts; !o && p && p->name; p++)
        if (p->name[0] == c && !p->name[1])
          o = p;
      if (!o)
        return gw_usage(g, "unknown option '-%c'", c);
      if (o->value)
        *o->value = optarg;
      else
        (*o->flag)++;
    }
    }
  }
  /* "--" ends the options: what follows is positional, even when it starts with '-' */
  for (; optind < argc; optind++) {
    if (npos >= nmax)
      return gw_usage(g, "unexpected argument '%s'", argv[optind]);
    pos[npos++] = argv[optind];
  }
  if (npos < nreq)
    return gw_usage(g, "missing %s", names[npos]);
  return 0;
}

/* ---- database ----------------------------------------------------------------------------------- */

/* The database as messages name it: a SQLite path made absolute (a relative RELAY_DB is relative to
 * the current directory, the usual surprise), a PostgreSQL URL without its password. */
static void db_display(const char *url, char *out, size_t len)
{
  char cwd[4096];
  const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : NULL;
  if (path && path[0] != '/' && getcwd(cwd, sizeof cwd))
    snprintf(out, len, "sqlite:%s (%s/%s)", path, strcmp(cwd, "/") == 0 ? "" : cwd, path);
  else if (path)
    snprintf(out, len, "%s", url);
  else
    db_url_redact(url, out, len);
}

/* A database exists and has relay's schema (schema_migrations), checked without creating anything:
 * gwctl never makes a database by accident (a mistyped RELAY_DB must not print an empty table). */
static int check_exists(struct gwctl *g)
{
  char shown[4400], err[512];
  struct stat sb;
  db_display(g->db_url, shown, sizeof shown);
  if (mysql_url_is(g->db_url))
    return 0;                   /* db_open refuses it, saying why (a source to import from only) */
  if (!db_url_is_postgres(g->db_url) && strncmp(g->db_url, "sqlite:", 7) == 0
      && stat(g->db_url + 7, &sb) != 0 && errno == ENOENT)
    return gw_err(GW_NOTFOUND, "no database at %s: check --db / RELAY_DB, or create it with "
                  "'gwctl init' (relayd also creates it at its first start)", shown);
  struct db *d = db_open_existing(g->db_url, err, sizeof err);
  if (!d)
    return gw_err(GW_FAIL, "%s", err);
  /* (PostgreSQL prepares when the statement first runs: step it) */
  struct db_stmt *st = db_prepare(d, "SELECT 1 FROM schema_migrations");
  int ok = st && db_step(st) != DB_ERROR;
  db_finalize(st);
  db_close(d);
  if (!ok)
    return gw_err(GW_FAIL, "%s is not a relay database (it has no relay schema): check --db / "
                  "RELAY_DB, or create the schema with 'gwctl init'", shown);
  return 0;
}

int gw_open(struct gwctl *g)
{
  char err[512];
  if (g->db)
    return 0;
  if (!g->db_url || !*g->db_url)
    return gw_err(GW_USAGE, "no database: give --db URL or set RELAY_DB (e.g. sqlite:data/relay.db)");
  int rc = g->may_create ? 0 : check_exists(g);
  if (rc != 0)
    return rc;
  g->db = db_open(g->db_url, err, sizeof err);
  if (!g->db)
    return gw_err(GW_FAIL, "%s", err);
  return 0;
}

static void gw_make_live(struct gwctl *g);

int gw_begin(struct gwctl *g)
{
  int rc = gw_open(g);
  if (rc != 0)
    return rc;
  if (db_begin(g->db) != 0)
    return gw_dberr(g, "cannot start a transaction");
  return 0;
}

int gw_end(struct gwctl *g, int rc)
{
  if (rc != 0) {
    db_rollback(g->db);
    return rc;
  }
  /* PostgreSQL: every relayd LISTENs on relay_reload; the notification is delivered when (and only
   * if) this transaction commits. The payload says what changed. SQLite: nothing to do. */
  char what[96];
  snprintf(what, sizeof what, "%s %s", g->cmd ? g->cmd->noun : "", g->cmd ? g->cmd->verb : "");
  if (db_notify(g->db, RELAY_RELOAD_CHANNEL, what) != 0) {
    rc = gw_dberr(g, "cannot notify the relays");
    db_rollback(g->db);
    return rc;
  }
  if (db_commit(g->db) != 0) {
    rc = gw_dberr(g, "cannot commit");
    db_rollback(g->db);
    return rc;
  }
  gw_make_live(g);
  return GW_OK;
}

/* How long a node lease's heartbeat stays fresh: relayd/lease.h LEASE_STALE_S (relayd beats every
 * 5 s and deletes its row when it stops). */
#define GW_LEASE_STALE_S 30

/* The relayds running on this database (fresh rows of node_leases; a row of this host whose pid is
 * gone is a relayd killed without cleanup), described in desc ("pid 123 on host/node"). */
static int running_relayds(struct gwctl *g, char *desc, size_t len)
{
  char host[256] = "";
  desc[0] = '\0';
  if (gethostname(host, sizeof host) != 0)
    host[0] = '\0';
  host[sizeof host - 1] = '\0';
  struct db_stmt *st = db_prepare(g->db, "SELECT pid, host, node FROM node_leases "
                                  "WHERE heartbeat_at >= ?1 ORDER BY node");
  if (!st || db_bind_int64(st, 1, (int64_t)time(NULL) - GW_LEASE_STALE_S) != 0) {
    db_finalize(st);
    return 0;
  }
  int n = 0;
  while (db_step(st) == DB_ROW) {
    int64_t pid = db_col_int64(st, 0);
    if (strcmp(db_col_text(st, 1), host) == 0 && pid > 0 && kill((pid_t)pid, 0) != 0
        && errno == ESRCH)
      continue;
    if (n++ == 0)
      snprintf(desc, len, "pid %" PRId64 " on %s, node %s", pid, db_col_text(st, 1),
               db_col_text(st, 2));
  }
  db_finalize(st);
  return n;
}

__attribute__((format(printf, 3, 4)))
static void not_live(struct gwctl *g, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->late_msg, sizeof g->late_msg, _(fmt), ap);   /* i18n.h: printed by main() */
  va_end(ap);
  g->late_rc = code;
}

static void gw_make_live(struct gwctl *g)
{
  char err[512], theirs[80], ours[80], shown[4400], desc[600];
  db_display(g->db_url, shown, sizeof shown);
  db_identity(g->db, ours, sizeof ours);
  const char *sock = g->socket ? g->socket : "(none)";
  int r = admin_reload_db(g->socket, theirs, sizeof theirs, err, sizeof err);
  if (r == 0 && *theirs && *ours && strcmp(theirs, ours) != 0) {
    not_live(g, GW_NOT_LIVE, "the change is saved in %s (database id %s), but the relayd at %s "
             "serves another database (id %s) and did not see it: give --db / RELAY_DB and "
             "--socket / RELAY_SOCKET of the same relayd", shown, ours, sock, theirs);
    return;
  }
  if (r == 0) {
    if (!*theirs)
      gw_err(GW_OK, "warning: relayd at %s reloaded but does not report its database: cannot "
             "check that it serves %s", sock, shown);
    return;
  }
  if (r < 0) {
    not_live(g, GW_NOT_LIVE, "the change is saved, but relayd at %s did not reload: %s", sock, err);
    return;
  }
  /* nobody answers at the socket: is a relayd running on this database anyway? */
  int n = running_relayds(g, desc, sizeof desc);
  if (n > 0 && db_url_is_postgres(g->db_url)) {
    /* the NOTIFY committed with the change reaches every relayd listening on the database */
    if (g->socket_given && g->socket)
      gw_err(GW_OK, "note: no relayd answers at %s (%s); the %d relayd(s) running on this "
             "database (%s) reload through PostgreSQL notifications", sock, err, n, desc);
  } else if (n > 0 && !g->socket) {
    not_live(g, GW_NOT_LIVE, "the change is saved in %s, but it is not live: relayd (%s) serves "
             "this database and gwctl has no admin socket to tell it; give it with --socket PATH "
             "or RELAY_SOCKET, then run 'gwctl reload'", shown, desc);
  } else if (n > 0) {
    not_live(g, GW_NOT_LIVE, "the change is saved in %s, but it is not live: relayd (%s) serves "
             "this database and no relayd answers at admin socket %s (%s); give its admin socket "
             "with --socket or RELAY_SOCKET, then run 'gwctl reload'", shown, desc, sock, err);
  } else if (isatty(STDERR_FILENO)) {
    gw_err(GW_OK, "note: relayd is not running on %s; the change will be read at its start", shown);
  }
}

int gw_log_manage(struct gwctl *g, const struct gw_subject *s, const char *fmt, ...)
{
  char content[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(content, sizeof content, fmt, ap);
  va_end(ap);
  struct db_stmt *st = db_prepare(g->db,
      "INSERT INTO logs(created_at, type, content, user_id, username, token_id, token_name, "
      "channel_id) VALUES (?1, " CODE_STR(LOGT_MANAGE) ", ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st)
    return gw_dberr(g, "cannot write the log");
  int ok = db_bind_int64(st, 1, (int64_t)time(NULL)) == 0 && db_bind_text(st, 2, content) == 0
           && db_bind_int64(st, 3, s->user_id) == 0
           && db_bind_text(st, 4, s->username ? s->username : "") == 0
           && db_bind_int64(st, 5, s->token_id) == 0
           && db_bind_text(st, 6, s->token_name ? s->token_name : "") == 0
           && db_bind_int64(st, 7, s->channel_id) == 0 && db_step(st) == DB_DONE;
  db_finalize(st);
  return ok ? 0 : gw_dberr(g, "cannot write the log");
}

/* ---- input checks ------------------------------------------------------------------------------- */

int gw_is_id(const char *s)
{
  if (!*s || strlen(s) > 18)
    return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return 0;
  return 1;
}

int gw_parse_int(struct gwctl *g, const char *opt, const char *s, int64_t min, int64_t max,
                 int64_t *out)
{
  const char *p = s;
  if (*p == '-')
    p++;
  int digits = *p != '\0';
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9')
      digits = 0;
  errno = 0;
  long long v = digits ? strtoll(s, NULL, 10) : 0;
  if (!digits || (min == 0 && *s == '-'))
    return gw_usage(g, "%s must be %s, not '%s'", opt,
                    min == 0 ? "a non-negative integer" : "an integer", s);
  if (errno == ERANGE || v < min || v > max)
    return gw_usage(g, "%s must be from %" PRId64 " to %" PRId64 ", not %s", opt, min, max, s);
  *out = v;
  return 0;
}

/* A name or list item: printable, no blanks or commas, not starting with '-'. */
const char *gw_name_problem(const char *s, size_t max)
{
  size_t n = strlen(s);
  if (n == 0)
    return "is empty";
  if (n > max)
    return "is too long";
  if (s[0] == '-')
    return "may not start with '-'";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p <= ' ' || *p == 0x7f)
      return "may not contain blanks or control characters";
    if (*p == ',')
      return "may not contain ','";
  }
  return NULL;
}

int gw_check_name(struct gwctl *g, const char *what, const char *s)
{
  const char *why = gw_name_problem(s, GW_NAME_MAX);
  if (why && strcmp(why, "is too long") == 0)
    return gw_usage(g, "%s '%.*s...' is longer than %d bytes", what, 20, s, GW_NAME_MAX);
  if (why)
    return gw_usage(g, "%s '%s' %s", what, s, why);
  if (gw_is_id(s))
    return gw_usage(g, "%s '%s' is all digits, which reads as an id; pick a name with a letter",
                    what, s);
  return 0;
}

int gw_norm_list(struct gwctl *g, const char *opt, const char *in, size_t maxitem, char *out,
                 size_t outlen, int *count)
{
  size_t used = 0;
  *count = 0;
  out[0] = '\0';
  while (*in) {
    size_t len = strcspn(in, ",");
    const char *b = in, *e = in + len;
    in = *e ? e + 1 : e;
    while (b < e && (*b == ' ' || *b == '\t'))
      b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if (b == e)
      continue;
    char item[512];
    if ((size_t)(e - b) >= sizeof item || (size_t)(e - b) > maxitem)
      return gw_usage(g, "%s: '%.*s...' is longer than %zu bytes", opt, 20, b, maxitem);
    snprintf(item, sizeof item, "%.*s", (int)(e - b), b);
    const char *why = gw_name_problem(item, maxitem);
    if (why)
      return gw_usage(g, "%s: '%s' %s", opt, item, why);
    int n = snprintf(out + used, outlen - used, "%s%s", used ? "," : "", item);
    if (n < 0 || (size_t)n >= outlen - used)
      return gw_usage(g, "%s is longer than %zu bytes", opt, outlen - 1);
    used += (size_t)n;
    (*count)++;
  }
  return 0;
}

int gw_parse_double(struct gwctl *g, const char *opt, const char *s, double min, double max,
                    double *out)
{
  char *end = NULL;
  errno = 0;
  double v = *s ? strtod(s, &end) : 0;
  if (!*s || !end || *end || errno == ERANGE || !isfinite(v) || isspace((unsigned char)s[0]))
    return gw_usage(g, "%s must be a number, not '%s'", opt, s);
  if (v < min || v > max)
    return gw_usage(g, "%s must be from %g to %g, not %s", opt, min, max, s);
  *out = v;
  return 0;
}

int gw_parse_quota(struct gwctl *g, const char *opt, const char *s, int64_t min, int64_t max,
                   int64_t *out)
{
  char why[200];
  if (quota_parse(s, min, max, out, why, sizeof why) != 0)
    return gw_usage(g, "%s: '%s' %s", opt, s, why);
  return 0;
}

int gw_parse_time(struct gwctl *g, const char *opt, const char *s, int64_t *out)
{
  char why[160];
  if (when_parse(s, (int64_t)time(NULL), WHEN_PAST, out, why, sizeof why) != 0)
    return gw_usage(g, "%s: '%s' %s; %s", opt, s, why, _(when_forms));
  return 0;
}

int gw_parse_expires(struct gwctl *g, const char *opt, const char *s, int64_t *out)
{
  if (strcmp(s, "never") == 0) {
    *out = -1;
    return 0;
  }
  char why[160];
  int64_t now = (int64_t)time(NULL);
  if (when_parse(s, now, WHEN_FUTURE, out, why, sizeof why) != 0)
    return gw_usage(g, "%s: '%s' %s; give never or a time: %s", opt, s, why, _(when_forms));
  if (*out <= now)
    return gw_usage(g, "%s %s is in the past", opt, s);
  return 0;
}

int gw_parse_bool(struct gwctl *g, const char *opt, const char *s, int *out)
{
  if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "on"))
    *out = 1;
  else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "off"))
    *out = 0;
  else
    return gw_usage(g, "%s must be yes or no, not '%s'", opt, s);
  return 0;
}

int gw_confirm(struct gwctl *g, int yes, const char *what)
{
  if (yes)
    return 0;
  if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
    return gw_usage(g, "refusing to %s without --yes (stdin is not a terminal to ask on)", what);
  fprintf(stderr, _("gwctl: %s? [y/N] "), what);
  fflush(stderr);
  char line[64];
  if (!fgets(line, sizeof line, stdin))
    line[0] = '\0';
  line[strcspn(line, "\r\n")] = '\0';
  if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0)
    return 0;
  return gw_err(GW_FAIL, "cancelled: nothing changed");
}

static int bind_va(struct db_stmt *st, const char *types, va_list ap)
{
  for (int i = 0; types && types[i]; i++) {
    int rc;
    switch (types[i]) {
    case 'i': rc = db_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
    case 'd': rc = db_bind_double(st, i + 1, va_arg(ap, double)); break;
    case 's': rc = db_bind_text(st, i + 1, va_arg(ap, const char *)); break;
    default: rc = db_bind_null(st, i + 1); break;
    }
    if (rc != 0)
      return -1;
  }
  return 0;
}

/* What gw_prepare, gw_exec, gw_insert and gw_scalar do first: sql prepared and its parameters bound.
 * 0 with *out, or gw_dberr's code (what and the database's message said) with *out NULL. */
static int prepare_va(struct gwctl *g, const char *what, const char *sql, const char *types, va_list ap,
                      struct db_stmt **out)
{
  *out = NULL;
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st)
    return gw_dberr(g, what);
  if (bind_va(st, types, ap) != 0) {
    int rc = gw_dberr(g, what);
    db_finalize(st);
    return rc;
  }
  *out = st;
  return 0;
}

struct db_stmt *gw_prepare(struct gwctl *g, const char *what, const char *sql, const char *types,
                           ...)
{
  struct db_stmt *st;
  va_list ap;
  va_start(ap, types);
  prepare_va(g, what, sql, types, ap, &st);
  va_end(ap);
  return st;
}

int gw_exec(struct gwctl *g, const char *what, const char *sql, const char *types, ...)
{
  struct db_stmt *st;
  va_list ap;
  va_start(ap, types);
  int rc = prepare_va(g, what, sql, types, ap, &st);
  va_end(ap);
  if (rc != 0)
    return rc;
  enum db_step_result r;
  while ((r = db_step(st)) == DB_ROW)
    ;
  db_finalize(st);
  return r == DB_DONE ? 0 : gw_dberr(g, what);
}

int gw_insert(struct gwctl *g, const char *what, const char *sql, int64_t *id, const char *types,
              ...)
{
  struct db_stmt *st;
  va_list ap;
  va_start(ap, types);
  int rc = prepare_va(g, what, sql, types, ap, &st);
  va_end(ap);
  if (rc != 0)
    return rc;
  bool ok = db_step(st) == DB_ROW;
  if (ok)
    *id = db_col_int64(st, 0);
  ok = ok && db_step(st) == DB_DONE;
  db_finalize(st);
  return ok ? 0 : gw_dberr(g, what);
}

int gw_scalar(struct gwctl *g, const char *what, const char *sql, int64_t *out, const char *types,
              ...)
{
  struct db_stmt *st;
  va_list ap;
  va_start(ap, types);
  int rc = prepare_va(g, what, sql, types, ap, &st);
  va_end(ap);
  if (rc != 0)
    return -1;
  enum db_step_result r = db_step(st);
  if (r == DB_ROW)
    *out = db_col_int64(st, 0);
  db_finalize(st);
  if (r == DB_ERROR) {
    gw_dberr(g, what);
    return -1;
  }
  return r == DB_ROW;
}

cJSON *gw_csv_array(const char *csv)
{
  cJSON *a = cJSON_CreateArray();
  while (a && *csv) {
    size_t len = strcspn(csv, ",");
    if (len > 0) {
      char item[512];
      snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), csv);
      if (!cJSON_AddItemToArray(a, cJSON_CreateString(item))) {
        cJSON_Delete(a);
        return NULL;
      }
    }
    csv += len;
    if (*csv == ',')
      csv++;
  }
  return a;
}

cJSON *gw_row(struct db_stmt *st, const void *arg)
{
  const struct gw_field *fields = arg;
  cJSON *o = cJSON_CreateObject();
  int n = 0;
  for (const struct gw_field *f = fields; o && f->name; f++, n++) {
    switch (f->as) {
    case GW_TEXT:
      cJSON_AddStringToObject(o, f->name, db_col_text(st, f->col));
      break;
    case GW_INT:
      cJSON_AddNumberToObject(o, f->name, (double)db_col_int64(st, f->col));
      break;
    case GW_REAL:
      cJSON_AddNumberToObject(o, f->name, db_col_double(st, f->col));
      break;
    case GW_BOOL:
      cJSON_AddBoolToObject(o, f->name, db_col_int64(st, f->col) != 0);
      break;
    }
  }
  if (o && cJSON_GetArraySize(o) != n) {
    cJSON_Delete(o);
    o = NULL;
  }
  return o;
}

cJSON *gw_rows(struct gwctl *g, struct db_stmt *st, const char *what, gw_row_fn *row, const void *arg,
               int *rc)
{
  if (!st) {
    *rc = GW_FAIL;
    return NULL;
  }
  cJSON *rows = cJSON_CreateArray();
  enum db_step_result r = DB_DONE;
  while (rows && (r = db_step(st)) == DB_ROW) {
    cJSON *o = row(st, arg);
    if (!o || !cJSON_AddItemToArray(rows, o)) {
      cJSON_Delete(o);
      cJSON_Delete(rows);
      rows = NULL;
    }
  }
  db_finalize(st);
  if (r == DB_ERROR) {
    cJSON_Delete(rows);
    *rc = gw_dberr(g, what);
    return NULL;
  }
  if (!rows)
    *rc = gw_err(GW_FAIL, "out of memory");
  return rows;
}

int gw_list(struct gwctl *g, struct db_stmt *st, const char *what, gw_row_fn *row, const void *arg,
            const struct out_col *cols)
{
  int rc = 0;
  cJSON *rows = gw_rows(g, st, what, row, arg, &rc);
  if (rows && out_list(g->json, rows, cols) != 0)
    rc = gw_err(GW_FAIL, "out of memory");
  cJSON_Delete(rows);
  return rc;
}

/* The terminal settings to restore if ^C arrives while echo is off. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void restore_tty_and_die(int sig)
{
  if (tty_saved)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
  signal(sig, SIG_DFL);
  raise(sig);
}

int gw_read_secret(FILE *f, const char *prompt, const char *what, char *out, size_t outlen)
{
  int fd = fileno(f);
  int tty = isatty(fd) && fd == STDIN_FILENO;
  struct sigaction sa = { .sa_handler = restore_tty_and_die }, old_int, old_term;
  if (tty) {
    struct termios t;
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcgetattr(fd, &saved_tty) == 0) {
      t = saved_tty;
      t.c_lflag &= ~(tcflag_t)ECHO;
      tty_saved = 1;
      sigaction(SIGINT, &sa, &old_int);
      sigaction(SIGTERM, &sa, &old_term);
      tcsetattr(fd, TCSAFLUSH, &t);
    }
  }
  size_t n = 0;
  int c, toolong = 0;
  while ((c = getc(f)) != EOF && c != '\n') {
    if (n + 1 < outlen)
      out[n++] = (char)c;
    else
      toolong = 1;
  }
  int ioerr = ferror(f);
  out[n] = '\0';
  if (tty && tty_saved) {
    tcsetattr(fd, TCSAFLUSH, &saved_tty);
    tty_saved = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    fputc('\n', stderr);
  }
  if (ioerr)
    return gw_err(GW_FAIL, "cannot read %s: %s", what, strerror(errno));
  if (toolong)
    return gw_err(GW_USAGE, "%s is longer than %zu bytes", what, outlen - 1);
  while (n > 0 && (out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
    out[--n] = '\0';
  size_t lead = strspn(out, " \t");
  memmove(out, out + lead, n - lead + 1);
  for (const unsigned char *p = (const unsigned char *)out; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return gw_err(GW_USAGE, "%s contains a control character", what);
  return 0;
}

/* ---- lookups shared by the commands ---------------------------------------------------------------- */

/* Looks a user up by name, then by id when ref is all digits. */
int gw_user_find(struct gwctl *g, const char *ref, int64_t *id, char *name, size_t namelen)
{
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && !gw_is_id(ref))
      break;
    struct db_stmt *st = db_prepare(g->db, pass == 0
        ? "SELECT id, username FROM users WHERE username = ?1"
        : "SELECT id, username FROM users WHERE id = ?1");
    if (!st)
      return gw_dberr(g, "cannot look up the user");
    int bound = pass == 0 ? db_bind_text(st, 1, ref) : db_bind_int64(st, 1, strtoll(ref, NULL, 10));
    enum db_step_result r = bound == 0 ? db_step(st) : DB_ERROR;
    if (r == DB_ROW) {
      *id = db_col_int64(st, 0);
      snprintf(name, namelen, "%s", db_col_text(st, 1));
    }
    db_finalize(st);
    if (r == DB_ERROR)
      return gw_dberr(g, "cannot look up the user");
    if (r == DB_ROW)
      return 0;
  }
  return gw_err(GW_NOTFOUND, gw_is_id(ref) ? "no user with name or id '%s'" : N_("no user named '%s'"),
                ref);
}

int gw_token_find(struct gwctl *g, const char *ref, const char *user, int64_t *id, char *name,
                  size_t namelen)
{
  char uname[GW_NAME_MAX + 1] = "";
  int64_t uid = 0;
  int rc = 0;
  if (user && (rc = gw_user_find(g, user, &uid, uname, sizeof uname)) != 0)
    return rc;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && !gw_is_id(ref))
      break;
    struct db_stmt *st = pass == 0
        ? gw_prepare(g, "cannot look up the token",
                     "SELECT t.id, t.name, COALESCE(u.username, '?') FROM tokens t LEFT JOIN users u "
                     "ON u.id = t.user_id WHERE t.name = ?1 AND (?2 = 0 OR t.user_id = ?2) "
                     "ORDER BY t.id", "si", ref, uid)
        : gw_prepare(g, "cannot look up the token",
                     "SELECT t.id, t.name, '' FROM tokens t WHERE t.id = ?1 "
                     "AND (?2 = 0 OR t.user_id = ?2)", "ii", (int64_t)strtoll(ref, NULL, 10), uid);
    if (!st)
      return GW_FAIL;
    char owners[512] = "";
    size_t used = 0;
    int n = 0;
    enum db_step_result r;
    while ((r = db_step(st)) == DB_ROW) {
      if (n++ == 0) {
        *id = db_col_int64(st, 0);
        snprintf(name, namelen, "%s", db_col_text(st, 1));
      }
      int w = snprintf(owners + used, sizeof owners - used, "%s%s", used ? ", " : "",
                       db_col_text(st, 2));
      if (w > 0 && (size_t)w < sizeof owners - used)
        used += (size_t)w;
    }
    db_finalize(st);
    if (r == DB_ERROR)
      return gw_dberr(g, "cannot look up the token");
    if (n > 1)
      return gw_usage(g, "%d users have a token named '%s' (%s): give --user NAME", n, ref, owners);
    if (n == 1)
      return 0;
  }
  return *uname ? gw_err(GW_NOTFOUND, "user '%s' has no token named '%s'", uname, ref)
                : gw_err(GW_NOTFOUND, gw_is_id(ref) ? "no token with name or id '%s'"
                                                    : N_("no token named '%s'"), ref);
}

/* Looks a channel up by name, then by id when ref is all digits. */
int gw_channel_find(struct gwctl *g, const char *ref, int64_t *id, char *name, size_t namelen)
{
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && !gw_is_id(ref))
      break;
    struct db_stmt *st = db_prepare(g->db, pass == 0 ? "SELECT id, name FROM channels WHERE name = ?1"
                                                     : "SELECT id, name FROM channels WHERE id = ?1");
    if (!st)
      return gw_dberr(g, "cannot look up the channel");
    int bound = pass == 0 ? db_bind_text(st, 1, ref)
                          : db_bind_int64(st, 1, strtoll(ref, NULL, 10));
    enum db_step_result r = bound == 0 ? db_step(st) : DB_ERROR;
    if (r == DB_ROW) {
      *id = db_col_int64(st, 0);
      if (name)
        snprintf(name, namelen, "%s", db_col_text(st, 1));
    }
    db_finalize(st);
    if (r == DB_ERROR)
      return gw_dberr(g, "cannot look up the channel");
    if (r == DB_ROW)
      return 0;
  }
  return gw_err(GW_NOTFOUND, gw_is_id(ref) ? "no channel with name or id '%s'"
                                           : N_("no channel named '%s'"), ref);
}

int gw_group_check(struct gwctl *g, const char *opt, const char *name)
{
  int64_t one = 0;
  int r = gw_scalar(g, "cannot look up the group", "SELECT 1 FROM groups WHERE name = ?1", &one,
                    "s", name);
  if (r < 0)
    return GW_FAIL;
  if (r == 0)
    return gw_err(GW_NOTFOUND, "%s: no group named '%s' (create it with: gwctl group set %s "
                  "--ratio R)", opt, name, name);
  return 0;
}

int gw_subject_forget(struct gwctl *g, const char *scope, int64_t id)
{
  int rc = gw_exec(g, "cannot delete the rate limits", "DELETE FROM rate_limits WHERE scope = ?1 AND "
                   "subject_id = ?2", "si", scope, id);
  if (rc == 0)
    rc = gw_exec(g, "cannot delete the budget alerts", "DELETE FROM budget_alerts WHERE scope = ?1 AND "
                 "subject_id = ?2", "si", scope, id);
  if (rc == 0 && strcmp(scope, "token") == 0)     /* its model fallback chains (cmd_fallback.c) */
    rc = gw_exec(g, "cannot delete the fallback chains", "DELETE FROM fallbacks WHERE scope = 'token' AND "
                 "subject = CAST(?1 AS TEXT)", "i", id);
  if (rc == 0 && strcmp(scope, "user") == 0)
    rc = gw_exec(g, "cannot delete the quota reminder", "DELETE FROM quota_reminders WHERE user_id = ?1",
                 "i", id);
  return rc;
}

/* ---- relayd's admin socket ------------------------------------------------------------------------ */

int gw_admin(struct gwctl *g, const char *verb, cJSON **out)
{
  return gw_admin_args(g, verb, NULL, out);
}

int gw_admin_args(struct gwctl *g, const char *verb, const cJSON *args, cJSON **out)
{
  char err[512];
  int rc = 0;
  *out = NULL;
  if (!g->socket)
    return gw_err(GW_UNAVAILABLE, "no admin socket: give --socket PATH or set RELAY_SOCKET");
  int fd = admin_connect(g->socket, err, sizeof err);
  if (fd < 0) {
    if (errno == EACCES)          /* relayd refused us (admin_group): the message is translated */
      return gw_err(GW_NOPERM, "%s", err);
    return gw_err(GW_UNAVAILABLE, "%s", err);
  }
  cJSON *q = args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
  char *line = NULL;
  if (q && cJSON_AddStringToObject(q, "cmd", verb))
    line = cJSON_PrintUnformatted(q);      /* owned here, freed below */
  cJSON_Delete(q);
  if (!line) {
    admin_close(fd);
    return gw_err(GW_FAIL, "out of memory");
  }
  cJSON *r = admin_call(fd, line, err, sizeof err);
  free(line);
  admin_close(fd);
  if (!r)
    return gw_err(GW_UNAVAILABLE, "relayd at %s did not answer '%s': %s", g->socket, verb, err);
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
    if (code && strcmp(code, "unknown_command") == 0)
      rc = gw_err(GW_FAIL, "this relayd does not support '%s' yet (%s)", verb,
                  msg ? msg : "unknown_command");
    else
      rc = gw_err(code && strcmp(code, "forbidden") == 0 ? GW_NOPERM : GW_FAIL,
                  "relayd: %s failed: %s%s%s", verb, code ? code : "error", msg ? ": " : "",
                  msg ? msg : "");
    cJSON_Delete(r);
    return rc;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(r, "ok");
  cJSON_DeleteItemFromObjectCaseSensitive(r, "id");
  *out = r;
  return 0;
}

/* ---- runtime options (common/options.c's table) -------------------------------------------------- */

const char *gw_config_key(size_t i)
{
  return i < option_nkeys ? option_keys[i].name : NULL;
}

int gw_config_check(const char *key, const char *value, char *out, size_t outlen, char *why,
                    size_t whylen)
{
  const struct option_key *k = option_find(key);
  if (!k) {
    snprintf(why, whylen, "unknown option");
    return -1;
  }
  return option_check(k, value, out, outlen, why, whylen);
}

const char *gw_json_type(const cJSON *v)
{
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "something else";
}
