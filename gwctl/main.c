/*
 * gwctl main: global options, THE command table, help and usage errors generated from it, and the
 * helpers every command uses (argument parsing, errors, transactions, the manage log, input checks).
 *
 * Callers: the shell. The command files (cmd_*.c) call the gw_* helpers declared in gwctl.h.
 * Never: writes usage text by hand outside commands[] (help, usage errors, --list-commands and the
 * bash completion all come from it), takes a secret from argv, or leaves a transaction open.
 */
#include "gwctl.h"
#include "admin_client.h"
#include "output.h"
#include "paths.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef RELAY_VERSION
#define RELAY_VERSION "unknown"
#endif

static const struct gw_cmd commands[] = {
  { "user", "add", cmd_user_add,
    "NAME --quota Q [--group G] [--role admin|common]",
    "create a user with Q quota units (500000 = 1 USD)" },
  { "user", "list", cmd_user_list, "[--status enabled|disabled] [--group G] [--json]", "list users" },
  { "user", "show", cmd_user_show, "NAME|ID [--json]", "show one user" },
  { "user", "edit", cmd_user_edit,
    "NAME|ID [--quota Q] [--group G] [--status enabled|disabled] [--role admin|common]",
    "change a user (--quota sets the balance)" },
  { "user", "enable", cmd_user_enable, "NAME|ID", "let a user's keys work again" },
  { "user", "disable", cmd_user_disable, "NAME|ID", "refuse every key of a user" },
  { "user", "topup", cmd_user_topup, "NAME|ID AMOUNT [--json]",
    "add AMOUNT quota units to a user's balance (logged as a topup)" },
  { "user", "rm", cmd_user_rm, "NAME|ID [--cascade] [--yes]",
    "delete a user (refused while it has tokens, unless --cascade deletes them too)" },
  { "group", "list", cmd_group_list, "[--json]",
    "list groups with their ratio and how many users, tokens and channels use them" },
  { "group", "set", cmd_group_set, "NAME [--ratio R] [--selectable yes|no]",
    "create a group or change its price ratio / whether users may pick it" },
  { "group", "rm", cmd_group_rm, "NAME [--yes]", "delete a group nobody uses" },
  { "token", "create", cmd_token_create,
    "--user NAME --name N (--quota Q | --unlimited) [--expires DATE|never] [--models M1,M2] "
    "[--ips IP/CIDR,...] [--group G] [--count N] [--key-file F|-]",
    "create an API key for a user and print it, once (--count N: N keys)" },
  { "token", "list", cmd_token_list,
    "[--user NAME] [--status enabled|disabled|expired|exhausted] [--json]", "list tokens" },
  { "token", "show", cmd_token_show, "NAME|ID [--user NAME] [--json]", "show one token" },
  { "token", "edit", cmd_token_edit,
    "NAME|ID [--user NAME] [--name N] [--quota Q | --unlimited] [--expires DATE|never] "
    "[--models M1,M2] [--ips IP/CIDR,...] [--group G]",
    "change a token (\"\" clears --models, --ips, --group)" },
  { "token", "enable", cmd_token_enable, "NAME|ID [--user NAME]", "let a token work again" },
  { "token", "disable", cmd_token_disable, "NAME|ID [--user NAME]", "refuse a token" },
  { "token", "rotate", cmd_token_rotate, "NAME|ID [--user NAME] [--yes] [--json]",
    "give a token a new key (printed once); the old key stops working" },
  { "token", "rm", cmd_token_rm, "NAME|ID [--user NAME] [--yes]", "delete a token" },
  { "channel", "add", cmd_channel_add,
    "--name N --type TYPE [--base-url URL] --models M1,M2 [--priority P] [--weight W] "
    "[--group G1,G2] [--model-map JSON] [--tag T] [--api-version V] [--no-key]",
    "add an upstream channel; its API key is read from stdin" },
  { "channel", "list", cmd_channel_list,
    "[--tag T] [--status enabled|disabled|auto-disabled] [--reveal] [--json]",
    "list channels (their upstream keys only with --reveal); auto-disabled ones with the reason" },
  { "channel", "show", cmd_channel_show, "NAME|ID [--reveal] [--json]",
    "show one channel (its upstream key only with --reveal)" },
  { "channel", "edit", cmd_channel_edit,
    "(NAME|ID | --tag T) [--name N] [--type TYPE] [--base-url URL] [--models M1,M2] "
    "[--priority P] [--weight W] [--group G1,G2] [--model-map JSON] [--tag T] [--new-tag T] "
    "[--api-version V] [--key-stdin] [--max-concurrency N] [--auto-disable yes|no] [--test-model M]",
    "change one channel, or every channel tagged T (--max-concurrency 0: no limit)" },
  { "channel", "enable", cmd_channel_enable, "NAME|ID | --tag T",
    "enable one channel, or every channel tagged T" },
  { "channel", "disable", cmd_channel_disable, "NAME|ID | --tag T [--yes]",
    "disable one channel, or every channel tagged T (needs --yes)" },
  { "channel", "rm", cmd_channel_rm, "NAME|ID [--yes]", "delete a channel" },
  { "channel", "test", cmd_channel_test, "NAME|ID [--model M] [--timeout S] [--json]",
    "send a tiny request in the channel's API (chat; rerank for cohere/jina); record its latency" },
  { "channel", "models", cmd_channel_models, "NAME|ID [--timeout S] [--json]",
    "list the models the upstream offers (GET /v1/models)" },
  { "limit", "set", cmd_limit_set,
    "(--token NAME|ID [--user NAME] | --user NAME|ID) [--model M] [--rpm N] [--tpm N]",
    "limit requests / tokens per window (option rate_limit_window_s, 60 s) of a token or user, "
    "on one model or all (0 removes)" },
  { "limit", "list", cmd_limit_list, "[--token NAME|ID [--user NAME] | --user NAME|ID] [--json]",
    "list rate limits" },
  { "limit", "rm", cmd_limit_rm, "(--token NAME|ID [--user NAME] | --user NAME|ID) [--model M]",
    "remove a rate limit" },
  { "alert", "set", cmd_alert_set,
    "(--token NAME|ID [--user NAME] | --user NAME|ID) (--percent P | --remain Q)",
    "alert once (log row + webhook_url) when P% of the quota is used or at most Q is left; "
    "re-armed by a top-up" },
  { "alert", "list", cmd_alert_list, "[--token NAME|ID [--user NAME] | --user NAME|ID] [--json]",
    "list budget alerts and when they fired" },
  { "alert", "rm", cmd_alert_rm, "ID", "remove a budget alert" },
  { "redeem", "create", cmd_redeem_create, "--count N --quota Q [--name NAME] [--csv FILE] [--json]",
    "make N redemption codes worth Q quota units each and print them" },
  { "redeem", "list", cmd_redeem_list, "[--status enabled|disabled|used] [--name NAME] [--json]",
    "list redemption codes" },
  { "redeem", "export", cmd_redeem_export, "[--status enabled|disabled|used] [--name NAME]",
    "print redemption codes as CSV (name,code,quota,created,status)" },
  { "redeem", "disable", cmd_redeem_disable, "CODE|ID", "make an unused code unusable" },
  { "redeem", "rm", cmd_redeem_rm, "CODE|ID [--yes]", "delete a redemption code" },
  { "redeem", "use", cmd_redeem_use, "CODE --user NAME [--json]",
    "redeem a code for a user: adds its quota, once" },
  { "price", "list", cmd_price_list, "[--json]", "list model prices" },
  { "price", "set", cmd_price_set,
    "MODEL (--ratio R [--completion-ratio C] [--cache-ratio K] [--cache-write-ratio W] "
    "[--cache-write-1h-ratio H] | --price USD [--per call|image|second|search]) "
    "[--max-output-tokens N]",
    "set a model's price: token ratios (1 = 2 USD per 1M prompt tokens) or USD per call, image, "
    "second or search; and its maximum output" },
  { "price", "unset", cmd_price_unset, "MODEL", "remove a model's price (relayd then refuses it)" },
  { "price", "import", cmd_price_import, "FILE|- [--replace]",
    "set prices from a JSON file, all or nothing (--replace: drop models not in it)" },
  { "price", "export", cmd_price_export, "", "print every price as JSON (the import format)" },
  { "log", "list", cmd_log_list,
    "[--limit N] [--user NAME] [--token NAME] [--model M] [--channel NAME|ID] [--type T] "
    "[--status CODE] [--since DATE] [--until DATE] [--request-id ID] [--json]",
    "list log rows, newest first (default 100)" },
  { "log", "stats", cmd_log_stats,
    "[--by model|user|channel|day] [--user NAME] [--token NAME] [--model M] [--channel NAME|ID] "
    "[--type T] [--status CODE] [--since DATE] [--until DATE] [--json]",
    "requests, tokens and quota summed by model, user, channel or day" },
  { "log", "export", cmd_log_export,
    "[--format csv|json] [--limit N] [--user NAME] [--token NAME] [--model M] [--channel NAME|ID] "
    "[--type T] [--status CODE] [--since DATE] [--until DATE] [--request-id ID]",
    "print matching log rows as CSV or JSON lines, oldest first" },
  { "log", "explain", cmd_log_explain, "REQUEST_ID [--json]",
    "how a request's charge was computed: tokens by kind, every ratio, reserved and charged, "
    "re-computed and checked against the logged quota" },
  { "log", "prune", cmd_log_prune, "--before DATE [--type T] [--yes]",
    "delete log rows older than DATE" },
  { "config", "list", cmd_config_list, "[--json]", "list runtime options with their values" },
  { "config", "get", cmd_config_get, "KEY [--json]", "print one runtime option" },
  { "config", "set", cmd_config_set, "KEY VALUE", "set a runtime option" },
  { "config", "unset", cmd_config_unset, "KEY", "return a runtime option to its default" },
  { "config", "show", cmd_config_show, "[--json]",
    "relayd's start-up settings in force: value, source (default, file, env, cli), reload or restart" },
  { "export", "", cmd_export, "[--kinds channels,groups,prices,users,tokens,options] "
    "[--key-refs none|env|file:DIR]",
    "print the configuration as one JSON document (the apply format; no secrets)" },
  { "apply", "", cmd_apply, "-f FILE|- [--dry-run] [--prune] [--set-balances] [--json]",
    "make the database match a JSON document: create, update (and with --prune delete); "
    "--dry-run prints the plan and exits 2 when there are changes" },
  { "import", "oneapi", cmd_import_oneapi,
    "--from sqlite:PATH|postgres://... [--flavor auto|oneapi|newapi] [--dry-run] [--json]",
    "import users, groups, prices, tokens (keys keep working), channels and redemption codes "
    "from a One API or New API database, with a report" },
  { "status", "", cmd_daemon_status, "[--json]", "ask relayd how it is (admin socket)" },
  { "stats", "", cmd_daemon_stats, "[--json]", "relayd's live counters (admin socket)" },
  { "reload", "", cmd_daemon_reload, "[--json]", "make relayd reload the database now" },
  { "drain", "", cmd_daemon_drain, "[--json]",
    "make relayd answer new requests with 503 while the running ones finish" },
  { "undrain", "", cmd_daemon_undrain, "[--json]", "make relayd take requests again after drain" },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char global_usage[] = "gwctl [--db URL] [--socket PATH] [--json] NOUN VERB [ARGS]";

/* ---- errors ------------------------------------------------------------------------------------- */

int gw_err(int code, const char *fmt, ...)
{
  va_list ap;
  fputs("gwctl: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return code;
}

int gw_usage(struct gwctl *g, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
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

/* ---- help --------------------------------------------------------------------------------------- */

static void print_command(FILE *f, const struct gw_cmd *c)
{
  fprintf(f, "  gwctl %s%s%s%s%s\n      %s\n", c->noun, *c->verb ? " " : "", c->verb,
          *c->usage ? " " : "", c->usage, c->summary);
}

static void print_help(FILE *f, const char *noun)
{
  fprintf(f, "usage: %s\n\ncommands:\n", global_usage);
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!noun || strcmp(noun, commands[i].noun) == 0)
      print_command(f, &commands[i]);
  if (noun)
    return;
  fputs("\nglobal options (also accepted after NOUN VERB):\n"
        "  --db URL        the database, sqlite:PATH or postgres://... (default: $RELAY_DB)\n"
        "  --socket PATH   relayd's admin socket, told to reload after a change\n"
        "                  (default: $RELAY_SOCKET; unset: relayd is not told)\n"
        "  --json          print JSON instead of a table\n"
        "  --help          this text (also: gwctl help [NOUN [VERB]])\n"
        "  --version       gwctl's version\n"
        "\nexit status: 0 ok, 1 failure, 2 usage error, 3 not found, 4 conflict (exists, in use,\n"
        "  used), 5 upstream error (channel test/models), 69 relayd unreachable, 77 refused by relayd\n"
        "  apply --dry-run: 0 nothing to do, 2 changes to apply (drift), 1 invalid document\n"
        "see gwctl(1)\n", f);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Tab-separated "noun verb usage" lines, read by completions/gwctl.bash and _gwctl. */
static void list_commands(void)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    printf("%s\t%s\t%s\n", commands[i].noun, commands[i].verb, commands[i].usage);
}

/* --list-names KIND: the names the shell completions offer, one a line, sorted; nothing and exit 1
 * when the database is unreachable (a completion must stay quiet and never create a file). */
static int list_names(struct gwctl *g, const char *kind)
{
  static const struct { const char *kind, *sql; } q[] = {
    { "user", "SELECT username FROM users ORDER BY 1" },
    { "token", "SELECT DISTINCT name FROM tokens ORDER BY 1" },
    { "channel", "SELECT name FROM channels ORDER BY 1" },
    { "group", "SELECT name FROM groups ORDER BY 1" },
    { "tag", "SELECT DISTINCT tag FROM channels WHERE tag IS NOT NULL AND tag != '' ORDER BY 1" },
    { "model", "SELECT model FROM prices UNION SELECT models FROM channels" },
    /* the most recent request ids (the primary key's order: no scan of a large log) */
    { "request", "SELECT request_id FROM logs WHERE request_id <> '' ORDER BY id DESC LIMIT 200" },
  };
  if (strcmp(kind, "option") == 0) {
    config_key_names(stdout);
    return GW_OK;
  }
  const char *sql = NULL;
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
    if (strcmp(kind, q[i].kind) == 0)
      sql = q[i].sql;
  if (!sql)
    return GW_USAGE;
  const char *url = g->db_url;
  if (!url || !*url || (strncmp(url, "sqlite:", 7) == 0 && access(url + 7, R_OK) != 0))
    return GW_FAIL;
  char err[256];
  g->db = db_open(url, err, sizeof err);
  struct db_stmt *st = g->db ? db_prepare(g->db, sql) : NULL;
  if (!st)
    return GW_FAIL;
  /* models: prices rows are single names, channel rows comma lists; print each once */
  struct strmap seen;
  strmap_init(&seen, 64);
  struct arena a = { 0 };
  char *names[4096];
  size_t n = 0;
  while (db_step(st) == DB_ROW && n < sizeof names / sizeof names[0]) {
    const char *v = db_col_text(st, 0);
    while (v && *v && n < sizeof names / sizeof names[0]) {
      size_t len = strcspn(v, ",");
      if (len && !strmap_getn(&seen, v, len)) {
        names[n] = arena_strndup(&a, v, len);
        strmap_put(&seen, names[n], names[n]);
        n++;
      }
      v += len + (v[len] == ',');
    }
  }
  db_finalize(st);
  qsort(names, n, sizeof names[0], cmp_str);
  for (size_t i = 0; i < n; i++)
    printf("%s\n", names[i]);
  strmap_free(&seen);
  arena_free(&a);
  return GW_OK;
}

static int known_noun(const char *noun)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].noun, noun) == 0)
      return 1;
  return 0;
}

/* "add, list, show" */
static void verbs_of(const char *noun, char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (strcmp(commands[i].noun, noun) != 0)
      continue;
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", commands[i].verb);
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

static void nouns(char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (i > 0 && strcmp(commands[i - 1].noun, commands[i].noun) == 0)
      continue;
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", commands[i].noun);
    if (n < 0 || (size_t)n >= len - used)
      break;
    used += (size_t)n;
  }
}

/* ---- arguments ---------------------------------------------------------------------------------- */

enum { OPT_DB = 1000, OPT_SOCKET, OPT_JSON, OPT_HELP, OPT_VERSION, OPT_LIST, OPT_NAMES, OPT_CMD };

/* Sets a global option; shared by the global parser and gw_args. */
static void set_global(struct gwctl *g, int code, const char *arg)
{
  if (code == OPT_DB)
    g->db_url = arg;
  else if (code == OPT_SOCKET)
    g->socket = *arg ? arg : NULL;
  else if (code == OPT_JSON)
    g->json = 1;
}

/* The option as the user wrote it, for messages: argv[optind - 1] without any "=value". */
static void option_text(int argc, char **argv, char *buf, size_t len)
{
  const char *s = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "?";
  if (optopt && optopt < 256 && strncmp(s, "--", 2) != 0)
    snprintf(buf, len, "-%c", optopt);
  else
    snprintf(buf, len, "%.*s", (int)strcspn(s, "="), s);
}

static void print_cmd_usage(const struct gw_cmd *c)
{
  printf("usage: gwctl %s%s%s%s%s\n%s\n", c->noun, *c->verb ? " " : "", c->verb,
         *c->usage ? " " : "", c->usage, c->summary);
}

int gw_args(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, const char *posname,
            const char **pos)
{
  return gw_argv(g, argc, argv, opts, posname ? 1 : 0, posname ? 1 : 0, &posname, pos);
}

int gw_argv(struct gwctl *g, int argc, char **argv, const struct gw_opt *opts, int nreq, int nmax,
            const char *const *names, const char **pos)
{
  struct option lo[40];
  size_t n = 0;
  for (const struct gw_opt *o = opts; o && o->name; o++) {
    if (n + 5 >= sizeof lo / sizeof lo[0])
      return gw_err(GW_FAIL, "internal error: too many options for %s %s", g->cmd->noun,
                    g->cmd->verb);
    lo[n] = (struct option){ o->name, o->value ? required_argument : no_argument, NULL,
                             OPT_CMD + (int)(o - opts) };
    n++;
  }
  lo[n++] = (struct option){ "db", required_argument, NULL, OPT_DB };
  lo[n++] = (struct option){ "socket", required_argument, NULL, OPT_SOCKET };
  lo[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
  lo[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
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
    case OPT_HELP:
      print_cmd_usage(g->cmd);
      return GW_HELP;
    case ':':
      option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "option '%s' needs a value", opt);
    case '?': {
      /* "-3" where a positional number goes: say so rather than "unknown option" */
      const char *a = optind < argc && argv[optind][0] == '-' && isdigit((unsigned char)argv[optind][1])
                      ? argv[optind] : optind > 0 ? argv[optind - 1] : "";
      if (a[0] == '-' && isdigit((unsigned char)a[1]) && nmax > 0)
        return gw_usage(g, "'%s': negative numbers are not accepted here", a);
      option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "unknown option '%s'", opt);
    }
    case OPT_DB:
    case OPT_SOCKET:
    case OPT_JSON:
      set_global(g, c, optarg);
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
  if (npos < nreq)
    return gw_usage(g, "missing %s", names[npos]);
  return 0;
}

/* ---- database ----------------------------------------------------------------------------------- */

int gw_open(struct gwctl *g)
{
  char err[512];
  if (g->db)
    return 0;
  if (!g->db_url || !*g->db_url)
    return gw_err(GW_USAGE, "no database: give --db URL or set RELAY_DB (e.g. sqlite:data/relay.db)");
  g->db = db_open(g->db_url, err, sizeof err);
  if (!g->db)
    return gw_err(GW_FAIL, "%s", err);
  return 0;
}

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
  /* The change is saved whatever relayd says; a refused reload is reported but not a failure. */
  char err[512];
  if (admin_reload(g->socket, err, sizeof err) < 0)
    gw_err(GW_OK, "warning: the change is saved, but relayd at %s did not reload: %s", g->socket,
           err);
  return GW_OK;
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

/* Reads exactly n digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
  *v = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (**p < '0' || **p > '9')
      return -1;
    *v = *v * 10 + (**p - '0');
  }
  return 0;
}

int gw_parse_time(struct gwctl *g, const char *opt, const char *s, int64_t *out)
{
  if (gw_is_id(s)) {
    *out = strtoll(s, NULL, 10);
    return 0;
  }
  struct tm tm = { 0 };
  const char *p = s;
  int y, mo, d, h = 0, mi = 0, sec = 0, zone = 0, off = 0;
  if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
    goto bad;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
      goto bad;
    if (*p == ':') {
      p++;
      if (digits(&p, 2, &sec))
        goto bad;
    }
    if (*p == 'Z' || *p == 'z') {
      zone = 1;
      p++;
    } else if (*p == '+' || *p == '-') {
      int sign = *p++ == '-' ? -1 : 1, oh, om;
      if (digits(&p, 2, &oh))
        goto bad;
      if (*p == ':')
        p++;
      if (digits(&p, 2, &om) || oh > 23 || om > 59)
        goto bad;
      zone = 1;
      off = sign * (oh * 3600 + om * 60);
    }
  }
  if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
    goto bad;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  time_t t = zone ? timegm(&tm) : mktime(&tm);
  if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)   /* 2025-02-30 */
    goto bad;
  *out = (int64_t)t - off;
  return 0;
bad:
  return gw_usage(g, "%s: '%s' is not a time: give Unix seconds or an ISO 8601 date "
                  "(2026-01-31, 2026-01-31T12:00:00, 2026-01-31T12:00:00Z, ...+02:00)", opt, s);
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
  fprintf(stderr, "gwctl: %s? [y/N] ", what);
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

struct db_stmt *gw_prepare(struct gwctl *g, const char *what, const char *sql, const char *types,
                           ...)
{
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st) {
    gw_dberr(g, what);
    return NULL;
  }
  va_list ap;
  va_start(ap, types);
  int rc = bind_va(st, types, ap);
  va_end(ap);
  if (rc != 0) {
    gw_dberr(g, what);
    db_finalize(st);
    return NULL;
  }
  return st;
}

int gw_exec(struct gwctl *g, const char *what, const char *sql, const char *types, ...)
{
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st)
    return gw_dberr(g, what);
  va_list ap;
  va_start(ap, types);
  int ok = bind_va(st, types, ap) == 0;
  va_end(ap);
  enum db_step_result r = DB_ERROR;
  while (ok && (r = db_step(st)) == DB_ROW)
    ;
  db_finalize(st);
  return ok && r == DB_DONE ? 0 : gw_dberr(g, what);
}

int gw_insert(struct gwctl *g, const char *what, const char *sql, int64_t *id, const char *types,
              ...)
{
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st)
    return gw_dberr(g, what);
  va_list ap;
  va_start(ap, types);
  int ok = bind_va(st, types, ap) == 0;
  va_end(ap);
  ok = ok && db_step(st) == DB_ROW;
  if (ok)
    *id = db_col_int64(st, 0);
  ok = ok && db_step(st) == DB_DONE;
  db_finalize(st);
  return ok ? 0 : gw_dberr(g, what);
}

int gw_scalar(struct gwctl *g, const char *what, const char *sql, int64_t *out, const char *types,
              ...)
{
  struct db_stmt *st = db_prepare(g->db, sql);
  if (!st) {
    gw_dberr(g, what);
    return -1;
  }
  va_list ap;
  va_start(ap, types);
  int ok = bind_va(st, types, ap) == 0;
  va_end(ap);
  enum db_step_result r = ok ? db_step(st) : DB_ERROR;
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

int gw_list(struct gwctl *g, struct db_stmt *st, const char *what, gw_row_fn *row, const void *arg,
            const struct out_col *cols)
{
  if (!st)
    return GW_FAIL;
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
  int rc = 0;
  if (r == DB_ERROR)
    rc = gw_dberr(g, what);
  else if (!rows || out_list(g->json, rows, cols) != 0)
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

/* ---- main --------------------------------------------------------------------------------------- */

/* Plural and One API spellings of the nouns. */
static const char *noun_alias(const char *noun)
{
  static const char *const alias[][2] = {
    { "users", "user" }, { "groups", "group" }, { "tokens", "token" }, { "keys", "token" },
    { "channels", "channel" }, { "redemption", "redeem" }, { "redemptions", "redeem" },
    { "prices", "price" }, { "pricing", "price" }, { "logs", "log" }, { "options", "config" },
  };
  for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
    if (strcmp(noun, alias[i][0]) == 0)
      return alias[i][1];
  return noun;
}

static const struct gw_cmd *find_command(const char *noun, const char *verb)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].noun, noun) == 0 && strcmp(commands[i].verb, verb) == 0)
      return &commands[i];
  return NULL;
}

static int run(struct gwctl *g, int argc, char **argv)
{
  static const struct option lo[] = {
    { "db", required_argument, NULL, OPT_DB },
    { "socket", required_argument, NULL, OPT_SOCKET },
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, OPT_HELP },
    { "version", no_argument, NULL, OPT_VERSION },
    { "list-commands", no_argument, NULL, OPT_LIST },
    { "list-names", required_argument, NULL, OPT_NAMES },
    { 0, 0, 0, 0 },
  };
  const char *names_kind = NULL;
  char opt[128], list[256];
  int c;
  opterr = 0;
  /* "+": stop at NOUN; what follows belongs to the command */
  while ((c = getopt_long(argc, argv, "+:h", lo, NULL)) != -1) {
    switch (c) {
    case 'h':
    case OPT_HELP:
      print_help(stdout, NULL);
      return GW_OK;
    case OPT_VERSION:
      printf("gwctl %s\n", RELAY_VERSION);
      return GW_OK;
    case OPT_LIST:
      list_commands();
      return GW_OK;
    case OPT_NAMES:
      names_kind = optarg;
      break;
    case ':':
      option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "option '%s' needs a value", opt);
    case '?':
      option_text(argc, argv, opt, sizeof opt);
      return gw_usage(g, "unknown option '%s'", opt);
    default:
      set_global(g, c, optarg);
    }
  }
  if (names_kind)               /* after the loop: --db may come later */
    return list_names(g, names_kind);
  argc -= optind;
  argv += optind;
  if (argc == 0) {
    print_help(stderr, NULL);
    return GW_USAGE;
  }
  argv[0] = (char *)noun_alias(argv[0]);
  if (argc >= 2 && strcmp(argv[0], "help") == 0)
    argv[1] = (char *)noun_alias(argv[1]);
  if (strcmp(argv[0], "help") == 0) {
    if (argc >= 2 && !known_noun(argv[1])) {
      nouns(list, sizeof list);
      return gw_usage(g, "help: unknown command '%s'; commands: %s", argv[1], list);
    }
    if (argc >= 3) {
      const struct gw_cmd *cmd = find_command(argv[1], argv[2]);
      if (cmd) {
        print_cmd_usage(cmd);
        return GW_OK;
      }
    }
    if (argc == 2 && find_command(argv[1], "")) {
      print_cmd_usage(find_command(argv[1], ""));
      return GW_OK;
    }
    print_help(stdout, argc >= 2 ? argv[1] : NULL);
    return GW_OK;
  }
  if (!known_noun(argv[0])) {
    nouns(list, sizeof list);
    return gw_usage(g, "unknown command '%s'; commands: %s, help", argv[0], list);
  }
  g->cmd = find_command(argv[0], "");
  if (g->cmd) {                 /* a one-word command: argv[0] stands where a verb would */
    int rc = g->cmd->run(g, argc, argv);
    return rc == GW_HELP ? GW_OK : rc;
  }
  verbs_of(argv[0], list, sizeof list);
  if (argc < 2)
    return gw_usage(g, "%s: missing verb; verbs: %s", argv[0], list);
  g->cmd = find_command(argv[0], argv[1]);
  if (!g->cmd)
    return gw_usage(g, "%s: unknown verb '%s'; verbs: %s", argv[0], argv[1], list);
  int rc = g->cmd->run(g, argc - 1, argv + 1);
  return rc == GW_HELP ? GW_OK : rc;
}

int main(int argc, char **argv)
{
  struct gwctl g = { 0 };
  const char *env;
  /* Unset variables fall back to an installed relayd's files (relayd.conf(5) defaults), but only
     when they exist: gwctl never creates the system database or expects a daemon that is not there. */
  static const char installed_db[] = RELAY_STATEDIR "/relay.db", installed_sock[] = RELAY_RUNDIR "/admin.sock";
  if ((env = getenv("RELAY_DB")) && *env)
    g.db_url = env;
  else if (!env && access(installed_db, F_OK) == 0)
    g.db_url = "sqlite:" RELAY_STATEDIR "/relay.db";
  if ((env = getenv("RELAY_SOCKET")) && *env)
    g.socket = env;
  else if (!env && access(installed_sock, F_OK) == 0)
    g.socket = installed_sock;

  int rc = run(&g, argc, argv);
  db_close(g.db);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    gw_err(GW_FAIL, "cannot write the output: %s", strerror(errno));
    if (rc == GW_OK)
      rc = GW_FAIL;
  }
  return rc;
}
